//! End to end: `govstream normalize` over the bundled sample files.

use govstream_e2e::{read_ndjson, run, scratch};
use serde_json::json;

#[test]
fn normalizes_the_samples_and_accounts_for_every_line() {
    let out = scratch("normalize-samples");
    let o = run(&[
        "normalize",
        "--source",
        "hotline=data/samples/hotline.ndjson",
        "--source",
        "onenet=data/samples/onenet.ndjson",
        "--source",
        "bdc=data/samples/bdc.txt",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("total"), "{stdout}");

    let events = read_ndjson(&out.join("normalized.ndjson"));
    let rejected = read_ndjson(&out.join("rejected.ndjson"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    // Every line is accounted for: read = normalized + rejected, and every normalized record
    // is a first copy (written out), a duplicate or a conflict.
    for src in ["hotline", "onenet", "bdc"] {
        let s = &summary["sources"][src];
        let rej: u64 = s["rejected"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        let n = |k: &str| s[k].as_u64().unwrap();
        assert_eq!(n("accepted") + rej, n("read"), "{src}: {s}");
        assert_eq!(
            n("accepted"),
            n("normalized"),
            "{src}: one event per record"
        );
        assert_eq!(
            n("events") + n("duplicates") + n("conflicts"),
            n("normalized"),
            "{src}: {s}"
        );
        assert_eq!(
            events.iter().filter(|e| e["source"] == src).count() as u64,
            n("events")
        );
        assert_eq!(
            rejected.iter().filter(|e| e["source"] == src).count() as u64,
            rej
        );
    }
    assert_eq!(events.len(), 40);
    assert_eq!(summary["sources"]["bdc"]["duplicates"], 1);

    // Rejections name the line, the spec's reason code and a detail.
    assert!(rejected.contains(&json!({
        "source": "hotline", "line": 17, "reason": "bad_timestamp",
        "detail": "`time` is not RFC 3339 with an offset"
    })));
    let reasons: Vec<&str> = rejected
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    for r in [
        "bad_timestamp",
        "missing_field",
        "malformed_json",
        "unknown_code",
    ] {
        assert!(reasons.contains(&r), "{r} in {reasons:?}");
    }

    // Canonical events use the proto3 JSON mapping; the bdc case keys come from GB18030 text.
    let first_bdc = events.iter().find(|e| e["source"] == "bdc").unwrap();
    assert_eq!(first_bdc["recordId"], "BDC2020071500001|01|20200715093000");
    assert_eq!(first_bdc["stage"], "STAGE_SUBMIT");
    assert_eq!(first_bdc["channel"], "CHANNEL_WINDOW");
    assert_eq!(first_bdc["department"], "BDC-652801");

    // No personal data in any output file.
    for f in ["normalized.ndjson", "rejected.ndjson", "summary.json"] {
        let text = std::fs::read_to_string(out.join(f)).unwrap();
        for pii in [
            "张伟",
            "13912345678",
            "孙珅",
            "652801198003033456",
            "赵敏",
            "噪音",
            "1380000",
        ] {
            assert!(!text.contains(pii), "{pii} in {f}");
        }
    }
}

#[test]
fn a_mapping_file_onboards_a_new_system() {
    let out = scratch("normalize-mapping");
    let data = out.join("socsec.csv");
    let (bytes, _, _) = encoding_rs::GBK.encode(
        "SS001,A,2020/07/15 10:21,652801000000,养老金领取,窗口,赵六\nSS001,B,2020/07/16 09:00,652801,养老金领取,,\nSS002,Q,2020/07/16 09:00,652801,x,,\n",
    );
    std::fs::write(&data, bytes).unwrap();
    let o = run(&[
        "normalize",
        "--mapping",
        "tests/fixtures/socsec.toml",
        "--source",
        &format!("socsec={}", data.display()),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let events = read_ndjson(&out.join("normalized.ndjson"));
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["channel"], "CHANNEL_WINDOW");
    assert_eq!(events[1]["limit"]["value"], 3);
    let rejected = read_ndjson(&out.join("rejected.ndjson"));
    assert_eq!(rejected[0]["line"], 3);
    assert_eq!(rejected[0]["reason"], "unknown_code");
}

#[test]
fn bad_invocations_fail_with_a_clear_message() {
    let o = run(&["normalize", "--source", "nosuch=x", "--out", "target/x"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown source `nosuch`"));
    let o = run(&["normalize", "--source", "hotline", "--out", "target/x"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("NAME=PATH"));
    let o = run(&[
        "normalize",
        "--source",
        "hotline=/nonexistent/file",
        "--out",
        "target/x",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/file"));
    let o = run(&["--help"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("normalize"));
}

#[test]
fn the_kafka_variant_of_the_nyc_mapping_differs_only_in_its_columns() {
    let read = |p: &str| std::fs::read_to_string(govstream_e2e::repo().join(p)).unwrap();
    let strip = |s: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut in_format = false;
        for l in s.lines() {
            if l.starts_with("format = ") {
                in_format = !l.ends_with('}') && !l.contains("# the header");
                continue;
            }
            if in_format {
                in_format = !l.starts_with("] }");
                continue;
            }
            if !l.starts_with('#') {
                out.push(l.to_owned());
            }
        }
        out
    };
    assert_eq!(
        strip(&read("deploy/mappings/nyc311-kafka.toml")),
        strip(&read("deploy/mappings/nyc311.toml"))
    );
}

#[test]
fn example_configs_check_out() {
    for f in [
        "deploy/config/local.toml",
        "deploy/config/custom-source.toml",
        "deploy/config/new-york.toml",
    ] {
        let o = run(&["run", "--config", f, "--check"]);
        assert!(
            o.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(String::from_utf8_lossy(&o.stdout).contains("configuration is valid"));
    }
    let dir = scratch("bad-config");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[kafka]\nbrokers = \"x\"\n[[sources]]\nname = \"nosuch\"\ntopic = \"t\"\n",
    )
    .unwrap();
    let o = run(&["run", "--config", bad.to_str().unwrap(), "--check"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown source `nosuch`"));
}
