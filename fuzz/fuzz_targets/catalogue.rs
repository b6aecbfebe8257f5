//! Arbitrary bytes through the `catalogue` preset: an event or a rejection, never a panic; no
//! phone-like input digits in an event or a rejection detail (see govstream_fuzz::Source::check).
#![no_main]

use govstream_fuzz::Source;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static SOURCE: LazyLock<Source> = LazyLock::new(|| Source::preset("catalogue"));

fuzz_target!(|data: &[u8]| SOURCE.check(data));
