//! Arbitrary bytes as one row of a CSV export (the shipped NYC 311 mapping, its header
//! declared as a Kafka source needs): quoting, 12-hour clocks in a zone with daylight saving
//! time, snapshot rows giving several events, row versions. Events or a rejection, never a
//! panic; no phone-like input digits in an event (except copied ids) or a rejection detail.
#![no_main]

use govstream_fuzz::Source;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static SOURCE: LazyLock<Source> = LazyLock::new(|| {
    let mapping = include_str!("../../deploy/mappings/nyc311.toml");
    let header = include_str!("../../tests/fixtures/nyc311/export-1.csv")
        .lines()
        .next()
        .expect("the fixture has a header");
    let cols: Vec<String> = header.split(',').map(|c| format!("{c:?}")).collect();
    let text = mapping.replace(
        "format = { kind = \"csv\" }",
        &format!("format = {{ kind = \"csv\", columns = [{}] }}", cols.join(", ")),
    );
    Source::from_text(&text).expect("the NYC 311 mapping compiles")
});

fuzz_target!(|data: &[u8]| SOURCE.check(data));
