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

fn replay_with(dir: &Path, out: &Path, extra: &[&str]) -> (String, String) {
    let h = format!("hotline={}", dir.join("hotline.ndjson").display());
    let o = format!("onenet={}", dir.join("onenet.ndjson").display());
    let b = format!("bdc={}", dir.join("bdc.txt").display());
    let mut args = vec![
        "replay",
        "--source",
        &h,
        "--source",
        &o,
        "--source",
        &b,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (
        std::fs::read_to_string(out.join("aggregates.ndjson")).unwrap(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// Rule 17 from the command line: in arrival order (late records hours to days behind, repeated
/// copies up to months behind) a retention whose fingerprint horizon (2R) covers every delay
/// leaves the aggregates byte-identical while releasing cases; the late copies of retired cases
/// land in rejected.ndjson as `retired_case`, counted in summary.json. Shuffled over the whole
/// year with a short retention, records beyond it change the result.
#[test]
fn retention_days_bounds_the_state_and_refuses_records_of_retired_cases() {
    let dir = scratch("replay-retention");
    let gen = dir.join("gen");
    let o = run(&[
        "generate",
        "--records",
        "40000",
        "--seed",
        "17",
        "--days",
        "400",
        "--out",
        gen.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let (plain, _) = replay_with(&gen, &dir.join("plain"), &[]);
    let (kept, stdout) = replay_with(&gen, &dir.join("kept"), &["--retention-days", "250"]);
    assert!(plain == kept, "in arrival order, retention changes nothing");
    let retired_cases: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("retention: 250 days; "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no retention line in {stdout}"));
    assert!(retired_cases > 1000, "cases retired: {retired_cases}");
    let retired_in = |out: &str| {
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(out).join("summary.json")).unwrap(),
        )
        .unwrap();
        let n: u64 = ["hotline", "onenet", "bdc"]
            .iter()
            .map(|s| summary["sources"][s]["retired"].as_u64().unwrap())
            .sum();
        let in_file = read_ndjson(&dir.join(out).join("rejected.ndjson"))
            .iter()
            .filter(|r| r["reason"] == "retired_case")
            .count() as u64;
        assert_eq!(in_file, n, "{out}: rejected.ndjson and summary.json agree");
        n
    };
    assert!(
        retired_in("kept") > 0,
        "late copies of retired cases are refused"
    );
    assert_eq!(retired_in("plain"), 0);

    // The same records in random order, with a short retention.
    let shuffled = dir.join("shuffled");
    std::fs::create_dir_all(&shuffled).unwrap();
    for (i, f) in ["hotline.ndjson", "onenet.ndjson", "bdc.txt"]
        .iter()
        .enumerate()
    {
        shuffle_and_duplicate(&gen.join(f), &shuffled.join(f), i as u64);
    }
    let (short, _) = replay_with(&shuffled, &dir.join("short"), &["--retention-days", "30"]);
    assert!(
        short != plain,
        "records beyond the retention change the result"
    );
    assert!(retired_in("short") > 1000);
}

/// The catalogue join is exact whatever the order: listings read before every event (sorted
/// input) and listings shuffled, duplicated and split around the events (half of them before,
/// half after the applications they govern) give byte-identical aggregates.
#[test]
fn a_catalogue_anywhere_in_the_input_gives_the_same_aggregates() {
    let dir = scratch("replay-catalogue");
    let gen = dir.join("gen");
    let o = run(&[
        "generate",
        "--records",
        "30000",
        "--seed",
        "14",
        "--out",
        gen.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let replay_with = |args: &[String], out: &str| -> String {
        let out = dir.join(out);
        let mut a: Vec<String> = vec!["replay".into()];
        a.extend(args.iter().cloned());
        a.extend(["--out".into(), out.display().to_string()]);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = run(&a);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(out.join("aggregates.ndjson")).unwrap()
    };
    let src = |name: &str, p: &Path| format!("--source={name}={}", p.display());
    let events = |d: &Path| {
        vec![
            src("hotline", &d.join("hotline.ndjson")),
            src("onenet", &d.join("onenet.ndjson")),
            src("bdc", &d.join("bdc.txt")),
        ]
    };
    let mut sorted = vec![src("catalogue", &gen.join("catalogue.ndjson"))];
    sorted.extend(events(&gen));
    let want = replay_with(&sorted, "sorted");
    assert!(want.contains(r#""family":"item""#));
    assert!(want.contains(r#""declared_one_trip_kept":1"#));

    let mixed = dir.join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    for (f, salt) in [("hotline.ndjson", 1), ("onenet.ndjson", 2), ("bdc.txt", 3)] {
        shuffle_and_duplicate(&gen.join(f), &mixed.join(f), salt);
    }
    shuffle_and_duplicate(
        &gen.join("catalogue.ndjson"),
        &dir.join("catalogue.ndjson"),
        4,
    );
    let listings = std::fs::read_to_string(dir.join("catalogue.ndjson")).unwrap();
    let lines: Vec<&str> = listings.lines().collect();
    let (early, late) = lines.split_at(lines.len() / 2);
    std::fs::write(dir.join("early.ndjson"), early.join("\n")).unwrap();
    std::fs::write(dir.join("late.ndjson"), late.join("\n")).unwrap();
    let mut around = vec![src("catalogue", &dir.join("early.ndjson"))];
    around.extend(events(&mixed));
    around.push(src("catalogue", &dir.join("late.ndjson")));
    assert!(
        replay_with(&around, "around") == want,
        "listings around the events"
    );
    let mut last = events(&mixed);
    last.push(src("catalogue", &dir.join("catalogue.ndjson")));
    assert!(
        replay_with(&last, "last") == want,
        "listings after every event"
    );
    // Without a catalogue nothing is unlisted and there is no family `item`.
    let none = replay_with(&events(&gen), "none");
    assert!(!none.contains(r#""family":"item""#));
    assert!(!none.contains(r#""unlisted":1"#));
}
