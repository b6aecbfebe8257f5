//! End to end: `govstream generate` and `govstream replay`.

use govstream_e2e::{read_ndjson, run, scratch};
use std::path::Path;

fn replay(dir: &Path, out: &Path) -> String {
    let o = run(&[
        "replay",
        "--source",
        &format!("hotline={}", dir.join("hotline.ndjson").display()),
        "--source",
        &format!("onenet={}", dir.join("onenet.ndjson").display()),
        "--source",
        &format!("bdc={}", dir.join("bdc.txt").display()),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(out.join("aggregates.ndjson")).unwrap()
}

/// A deterministic permutation of the lines of a file, with every 10th line repeated.
fn shuffle_and_duplicate(from: &Path, to: &Path, salt: u64) {
    let bytes = std::fs::read(from).unwrap();
    let mut lines: Vec<&[u8]> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let dups: Vec<&[u8]> = lines.iter().step_by(10).copied().collect();
    lines.extend(dups);
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ salt;
    for i in (1..lines.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        lines.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    std::fs::write(to, out).unwrap();
}

#[test]
fn replay_of_the_samples() {
    let out = scratch("replay-samples");
    let aggs = replay(Path::new("data/samples"), &out);
    let recs: Vec<serde_json::Value> = aggs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!recs.is_empty());
    // Sorted by family, granularity, window, dimensions (byte-wise) — the canonical order.
    let keys: Vec<String> = recs
        .iter()
        .map(|r| {
            let dims = if r["family"] == "hotline" {
                ["region", "dept", "category", "channel"]
            } else {
                ["region", "dept", "item", "channel"]
            };
            let mut k = format!(
                "{}\u{0}{}\u{0}{}",
                r["family"].as_str().unwrap(),
                r["granularity"].as_str().unwrap(),
                r["window"].as_str().unwrap()
            );
            for d in dims {
                k.push('\u{0}');
                k.push_str(r[d].as_str().unwrap());
            }
            k
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // The sample's onenet case 0000124 (window submission, on-site step, collected at a window)
    // is completed on 2020-07-22 and is not an at-most-one-trip case.
    let d = recs
        .iter()
        .find(|r| {
            r["family"] == "application"
                && r["window"] == "2020-07-22"
                && r["channel"] == "WINDOW"
                && r["dept"] == "11652800010145678X"
        })
        .expect("completion record");
    assert_eq!(d["counters"]["completed"], 1);
    assert_eq!(d["counters"]["at_most_one_trip"], 0);
    let rejected = read_ndjson(&out.join("rejected.ndjson"));
    assert_eq!(rejected.len(), 7);
    // No personal data in the aggregates.
    for pii in ["张伟", "孙珅", "13912345678"] {
        assert!(!aggs.contains(pii));
    }
}

#[test]
fn shuffled_and_duplicated_input_gives_byte_identical_aggregates() {
    let root = scratch("replay-shuffle");
    let gen = root.join("gen");
    let o = run(&[
        "generate",
        "--records",
        "20000",
        "--seed",
        "7",
        "--days",
        "60",
        "--out",
        gen.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reference = replay(&gen, &root.join("a"));
    assert!(reference.lines().count() > 100);
    let shuffled = root.join("shuffled");
    std::fs::create_dir_all(&shuffled).unwrap();
    for (i, f) in ["hotline.ndjson", "onenet.ndjson", "bdc.txt"]
        .iter()
        .enumerate()
    {
        shuffle_and_duplicate(&gen.join(f), &shuffled.join(f), i as u64 + 1);
    }
    let again = replay(&shuffled, &root.join("b"));
    assert!(
        again == reference,
        "aggregates differ after shuffling and duplicating the input"
    );
}

#[test]
fn generate_is_deterministic() {
    let root = scratch("generate-determinism");
    for d in ["x", "y"] {
        let o = run(&[
            "generate",
            "--records",
            "3000",
            "--seed",
            "11",
            "--out",
            root.join(d).to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for f in ["hotline.ndjson", "onenet.ndjson", "bdc.txt"] {
        let a = std::fs::read(root.join("x").join(f)).unwrap();
        assert!(!a.is_empty(), "{f}");
        assert!(
            a == std::fs::read(root.join("y").join(f)).unwrap(),
            "{f} differs"
        );
    }
}
