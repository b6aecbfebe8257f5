//! `Engine::restore` on arbitrary bytes: a `SnapshotError` or an engine, never a panic; an engine
//! it accepts snapshots to bytes that restore to the same snapshot.
#![no_main]

use govstream_calendar::Calendar;
use govstream_engine::Engine;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, LazyLock};

static CAL: LazyLock<Arc<Calendar>> = LazyLock::new(|| Arc::new(Calendar::bundled()));

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = Engine::restore(CAL.clone(), data) {
        let snap = e.snapshot();
        let again = Engine::restore(CAL.clone(), &snap).expect("a fresh snapshot restores");
        assert_eq!(
            again.snapshot(),
            snap,
            "snapshot → restore → snapshot is stable"
        );
    }
});
