//! Writes the committed seed corpora (`fuzz/corpus/<target>/`) from the sample files in
//! `data/samples/` and the built-in presets. Deterministic; run from the repository root:
//!
//!     cargo +nightly run --manifest-path fuzz/Cargo.toml --example make_seeds
//!
//! Existing seeds of the same name are overwritten; others (e.g. minimized crash inputs added
//! by hand) are kept.

use govstream_calendar::Calendar;
use govstream_engine::Engine;
use govstream_normalize::mapping::PRESETS;
use govstream_normalize::{preset, PseudonymKey};
use govstream_proto::v1 as pb;
use prost::Message;
use std::fs;
use std::path::Path;
use std::sync::Arc;

fn put(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("fuzz/corpus").join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

/// The sample file's records (lines without terminator), as bytes in the source's encoding.
fn records(file: &str) -> Vec<Vec<u8>> {
    let raw = fs::read(Path::new("data/samples").join(file))
        .unwrap_or_else(|e| panic!("data/samples/{file}: {e} (run from the repository root)"));
    raw.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .collect()
}

fn main() {
    let key = Arc::new(PseudonymKey::new("fuzz-key"));
    let cal = Arc::new(Calendar::bundled());
    let mut engine = Engine::new(cal);
    engine.track_changes();
    for (source, file) in [
        ("hotline", "hotline.ndjson"),
        ("onenet", "onenet.ndjson"),
        ("bdc", "bdc.txt"),
    ] {
        let compiled = preset(source, key.clone()).unwrap().unwrap();
        let recs = records(file);
        for (i, r) in recs.iter().enumerate() {
            put(source, &format!("sample-{i:02}"), r);
            if source != "bdc" {
                put("json_reader", &format!("{source}-{i:02}"), r);
            }
            if let Ok(ev) = compiled.normalize(r) {
                engine.apply(&ev);
            }
        }
        let mapping = PRESETS.iter().find(|(n, _)| *n == source).unwrap().1;
        let mut with_record = mapping.as_bytes().to_vec();
        with_record.push(0);
        with_record.extend_from_slice(&recs[0]);
        put("mapping", &format!("{source}-preset"), &with_record);
    }
    for (i, text) in [
        "{}",
        "[]",
        "{\"a\":{\"code\":\"C\\u00e9\\ud83d\\ude00\",\"name\":null},\"b\":[1,-0,1.5e3,true]}",
        "{\"a\":18446744073709551615,\"a\":-9223372036854775808,\"b\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
    ]
    .iter()
    .enumerate()
    {
        put("json_reader", &format!("edge-{i:02}"), text.as_bytes());
    }
    // A mapping of its own (as in docs/mappings.md): GBK, comma-separated, a local pattern, an
    // offset west of UTC, a record size limit, typed and prefixed fields.
    let socsec = r#"name = "socsec"
case_kind = "application"
encoding = "gbk"
format = { kind = "delimited", separator = ",", columns = ["ywbh", "zt", "sj", "qh", "sx", "qd", "ts"] }
max_record_bytes = 300
utc_offset = "-03:30"
record_id = ["ywbh", "zt", "sj"]
case_id = "ywbh"
stage_field = "zt"
required = ["ywbh", "zt", "sj", "qh"]

[common]
region = { field = "qh" }
department = { value = "RSJ" }
service_item = { field = "sx", prefix = "SB-" }

[stages.A]
stage = "SUBMIT"
time = { field = "sj", format = "yyyy/MM/dd HH:mm" }
set.channel = { field = "qd", table = "qd", default = "ONLINE" }

[stages.B]
stage = "ACCEPT"
time = { field = "sj", format = "dd.MM.yyyy" }
set.limit_days = { field = "ts", ignore_when = { field = "qd", equals = "JB", value = "0" } }

[tables.qd]
"网上" = "ONLINE"
"窗口" = "WINDOW"
"#;
    let mut with_record = socsec.as_bytes().to_vec();
    with_record.push(0);
    let (line, _, _) =
        encoding_rs::GBK.encode("SS001,A,2020/07/15 10:21,652801000000,养老金,窗口,3");
    with_record.extend_from_slice(&line);
    let socsec_source = govstream_normalize::from_mapping_file(socsec, key.clone()).unwrap();
    socsec_source.normalize(&line).unwrap();
    put("mapping", "socsec", &with_record);
    // At serde_json's nesting limit (127), where the readers once disagreed.
    let deep_arrays = "[".repeat(127) + &"]".repeat(127);
    put("json_reader", "edge-deep-arrays", deep_arrays.as_bytes());
    let deep_objects = "{\"a\":".repeat(127) + "1" + &"}".repeat(127);
    put("json_reader", "edge-deep-objects", deep_objects.as_bytes());
    // A checkpoint in small chunks, framed as the target reads it (u16 length + bytes).
    let mut framed = Vec::new();
    engine.checkpoint(1024, |c| {
        framed.extend_from_slice(&(c.len() as u16).to_le_bytes());
        framed.extend_from_slice(&c);
    });
    put("checkpoint", "samples", &framed);
    // Partials: a few per seed (each seed ends with the watermark, which makes the totals render),
    // so the fuzzer starts from short inputs.
    let partials = engine.take_partials(0);
    let (wm, rest) = partials.split_last().unwrap();
    assert!(matches!(wm.value, Some(pb::partial::Value::WatermarkUs(_))));
    let cells: Vec<_> = rest
        .iter()
        .filter(|p| matches!(p.value, Some(pb::partial::Value::Cell(_))))
        .collect();
    let steps: Vec<_> = rest
        .iter()
        .filter(|p| matches!(p.value, Some(pb::partial::Value::Overdue(_))))
        .collect();
    for (name, group) in [
        ("cells-a", &cells[..cells.len().min(3)]),
        ("cells-b", &cells[cells.len().saturating_sub(3)..]),
        ("overdue", &steps[..steps.len().min(3)]),
    ] {
        let mut stream = Vec::new();
        for p in group.iter().copied().chain([wm]) {
            p.encode_length_delimited(&mut stream).unwrap();
        }
        put("partials", name, &stream);
    }
}
