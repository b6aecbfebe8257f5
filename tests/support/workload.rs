//! Generated workloads (shuffled, with repeated lines) and the reference result: `replay`.

use crate::run;
use std::path::Path;

pub const SOURCES: [(&str, &str); 3] = [
    ("hotline", "hotline.ndjson"),
    ("onenet", "onenet.ndjson"),
    ("bdc", "bdc.txt"),
];

/// `govstream generate` (`records`, `seed`) into `dir/gen`, which it returns.
pub fn generate(dir: &Path, records: &str, seed: &str) -> std::path::PathBuf {
    let gen = dir.join("gen");
    let o = run(&[
        "generate",
        "--records",
        records,
        "--seed",
        seed,
        "--out",
        gen.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    gen
}

/// Generates a workload, then shuffles every file and repeats every 7th line.
pub fn workload(dir: &Path, records: &str, seed: &str) {
    let gen = generate(dir, records, seed);
    for (_, f) in SOURCES {
        let bytes = std::fs::read(gen.join(f)).unwrap();
        let mut lines: Vec<&[u8]> = bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let dups: Vec<&[u8]> = lines.iter().step_by(7).copied().collect();
        lines.extend(dups);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for i in (1..lines.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            lines.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut out = Vec::new();
        for l in lines {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        std::fs::write(dir.join(f), out).unwrap();
    }
}

pub fn replay_lines(dir: &Path) -> Vec<String> {
    replay_lines_with(dir, &[])
}

/// [`replay_lines`] with more sources (name, file), e.g. a catalogue.
pub fn replay_lines_with(dir: &Path, more: &[(&str, &Path)]) -> Vec<String> {
    let out = dir.join("replay");
    let mut args = vec!["replay".to_owned()];
    for (name, f) in SOURCES {
        args.push("--source".into());
        args.push(format!("{name}={}", dir.join(f).display()));
    }
    for (name, f) in more {
        args.push("--source".into());
        args.push(format!("{name}={}", f.display()));
    }
    args.extend(["--out".into(), out.display().to_string()]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&a);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    crate::sorted_lines(&out.join("aggregates.ndjson"))
}

/// `generate` (`records`, `seed`) into `dir/gen`, then `replay` of its four files, the
/// catalogue included, into `dir/out`; returns the aggregates file.
pub fn generated_aggregates(dir: &Path, records: &str, seed: &str) -> std::path::PathBuf {
    let gen = generate(dir, records, seed);
    let out = dir.join("out");
    let src = |n: &str, f: &str| format!("{n}={}", gen.join(f).display());
    let sources = [
        src("hotline", "hotline.ndjson"),
        src("onenet", "onenet.ndjson"),
        src("bdc", "bdc.txt"),
        src("catalogue", "catalogue.ndjson"),
    ];
    let mut args = vec!["replay"];
    for s in &sources {
        args.extend(["--source", s.as_str()]);
    }
    args.extend(["--out", out.to_str().unwrap()]);
    let o = run(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out.join("aggregates.ndjson")
}
