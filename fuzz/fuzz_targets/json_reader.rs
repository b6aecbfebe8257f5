//! The hand-written JSON reader of govstream-normalize against serde_json: the same verdict
//! (valid or not) on any text, the same values for the members it records, and the slot reader
//! normalization uses agrees with the member reader.
#![no_main]

use govstream_normalize::json::{parse_fields, parse_object, FieldIndex, JsonValue};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

const PATHS: [&str; 9] = [
    "a",
    "b",
    "dept",
    "caller",
    "code",
    "dept.code",
    "dept.name",
    "caller.code",
    "a.code",
];

/// The field index over `PATHS`, and each path with its slot.
type Index = (FieldIndex, Vec<(Vec<String>, u16)>);

static INDEX: LazyLock<Index> = LazyLock::new(|| {
    let mut ix = FieldIndex::default();
    let slots = PATHS
        .iter()
        .map(|p| {
            let path: Vec<String> = p.split('.').map(str::to_owned).collect();
            let slot = ix.add(&path).expect("one or two keys");
            (path, slot)
        })
        .collect();
    (ix, slots)
});

fn classify(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "null".into(),
        serde_json::Value::String(s) => format!("s:{s}"),
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => format!("i:{n}"),
        serde_json::Value::Object(_) => "obj".into(),
        _ => "other".into(),
    }
}

fn classify_ours(v: &JsonValue) -> String {
    match v {
        JsonValue::Null => "null".into(),
        JsonValue::Str(s) => format!("s:{s}"),
        JsonValue::Int(n) => format!("i:{n}"),
        JsonValue::Object => "obj".into(),
        JsonValue::Other => "other".into(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = parse_object(text);
    let theirs = serde_json::from_str::<serde_json::Value>(text);
    assert_eq!(
        ours.is_ok(),
        theirs.is_ok(),
        "verdicts differ on {text:?}: ours {:?}, serde_json {:?}",
        ours.as_ref().err(),
        theirs.as_ref().err()
    );
    let (ix, slots) = &*INDEX;
    let fields = parse_fields(text, ix);
    assert_eq!(
        fields.is_ok(),
        ours.is_ok(),
        "slot reader verdict on {text:?}"
    );
    if let (Ok(Some(f)), Ok(Some(o))) = (&fields, &ours) {
        for (p, s) in slots {
            assert_eq!(f[*s as usize].as_ref(), o.get(p), "{p:?} in {text:?}");
        }
    }
    if let (Ok(serde_json::Value::Object(m)), Ok(Some(o))) = (&theirs, &ours) {
        for (k, v) in m {
            let got = o.get(std::slice::from_ref(k)).expect("member recorded");
            assert_eq!(classify(v), classify_ours(got), "{k:?} in {text:?}");
            if let serde_json::Value::Object(inner) = v {
                for (k2, v2) in inner {
                    let got = o
                        .get(&[k.clone(), k2.clone()])
                        .expect("nested member recorded");
                    assert_eq!(classify(v2), classify_ours(got), "{k:?}.{k2:?} in {text:?}");
                }
            }
        }
    }
});
