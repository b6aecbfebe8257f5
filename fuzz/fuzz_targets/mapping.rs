//! Arbitrary text as a mapping file: the loader and `CompiledSource::compile` return an error or
//! a source, never panic. Input: the mapping's TOML, then optionally a NUL byte and one record
//! (TOML text cannot contain a NUL), which a compiled mapping then normalizes and checks.
#![no_main]

use govstream_fuzz::Source;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (toml, record) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(text) = std::str::from_utf8(toml) else {
        return;
    };
    if let Some(source) = Source::from_text(text) {
        if let Some(record) = record {
            source.check(record);
        }
    }
});
