//! Prints generated records, one per line as `<source>\t<record>` (bdc lines decoded from GB18030
//! for display), and the generation rate on stderr.
//!
//! `cargo run --release -p govstream-generate --example sample -- [records] [seed] [shown]`

use govstream_generate::{GenConfig, Generator, SourceKind};
use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let records = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(2020);
    let shown: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(usize::MAX);
    let cfg = GenConfig {
        seed,
        records,
        ..GenConfig::default()
    };
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let start = std::time::Instant::now();
    let mut n = 0u64;
    let mut bytes = 0u64;
    for r in Generator::new(cfg) {
        n += 1;
        bytes += r.bytes.len() as u64;
        if (n as usize) <= shown {
            let text = match r.source {
                SourceKind::Bdc => encoding_rs::GB18030.decode(&r.bytes).0.into_owned(),
                _ => String::from_utf8_lossy(&r.bytes).into_owned(),
            };
            writeln!(out, "{}\t{}", r.source, text).expect("stdout");
        }
    }
    out.flush().expect("stdout");
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{n} records, {:.1} MB in {secs:.2} s ({:.2} M records/s)",
        bytes as f64 / 1e6,
        n as f64 / secs / 1e6
    );
}
