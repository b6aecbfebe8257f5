//! `EngineRestore` on arbitrary chunks: a `CheckpointError` or an engine, never a panic; an
//! engine it accepts checkpoints to chunks that restore to the same chunks.
//!
//! Input framing: a sequence of chunks, each a little-endian u16 length and that many bytes
//! (a short last chunk takes what is left).
#![no_main]

use govstream_calendar::Calendar;
use govstream_engine::{Engine, EngineRestore};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, LazyLock};

static CAL: LazyLock<Arc<Calendar>> = LazyLock::new(|| Arc::new(Calendar::bundled()));

fn chunks(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let n = u16::from_le_bytes([data[0], data[1]]) as usize;
        let rest = &data[2..];
        let take = n.min(rest.len());
        out.push(&rest[..take]);
        data = &rest[take..];
    }
    out
}

fn restore(chunks: &[&[u8]]) -> Option<Engine> {
    let mut r = EngineRestore::new(CAL.clone(), None);
    for c in chunks {
        r.chunk(c).ok()?;
    }
    r.finish().ok()
}

fn checkpoint(e: &Engine) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    e.checkpoint(1024, |c| out.push(c));
    out
}

fuzz_target!(|data: &[u8]| {
    if let Some(e) = restore(&chunks(data)) {
        let first = checkpoint(&e);
        let refs: Vec<&[u8]> = first.iter().map(Vec::as_slice).collect();
        let again = restore(&refs).expect("a fresh checkpoint restores");
        assert_eq!(checkpoint(&again), first, "checkpoint → restore → checkpoint is stable");
        let _ = again.records();
    }
});
