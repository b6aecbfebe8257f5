//! Property tests: normalization never panics, and personal data never survives it.

use govstream_normalize::{preset, CompiledSource, PseudonymKey};
use proptest::prelude::*;
use std::sync::Arc;

fn src(name: &str) -> CompiledSource {
    preset(name, Arc::new(PseudonymKey::new("property-test-key")))
        .unwrap()
        .unwrap()
}

fn chinese_name() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            '张', '王', '李', '赵', '珅', '钱', '孙', '周', '吴', '郑', '伟', '芳', '娜', '敏',
            '静',
        ]),
        2..4,
    )
    .prop_map(|v| v.into_iter().collect())
}
fn phone() -> impl Strategy<Value = String> {
    "1[3-9][0-9]{9}"
}
fn id_number() -> impl Strategy<Value = String> {
    "65[0-9]{15}[0-9X]"
}
fn free_text() -> impl Strategy<Value = String> {
    "[\\u4e00-\\u9fa5]{6,20}"
}
fn time_local() -> impl Strategy<Value = String> {
    (
        2000i32..2099,
        1u32..13,
        1u32..29,
        0u32..24,
        0u32..60,
        0u32..60,
    )
        .prop_map(|(y, mo, d, h, mi, s)| format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"))
}

/// A JSON string literal.
fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// Asserts the record normalizes and none of the personal-data values appear in the event.
fn check(s: &CompiledSource, rec: &[u8], pii: &[&str]) -> Result<(), TestCaseError> {
    let ev = s
        .normalize(rec)
        .map_err(|e| TestCaseError::fail(format!("rejected: {e}")))?;
    let json = serde_json::to_string(&ev).unwrap();
    let bin = prost::Message::encode_to_vec(&ev);
    for p in pii {
        prop_assert!(!json.contains(p), "{p} leaked into {json}");
        prop_assert!(
            !bin.windows(p.len()).any(|w| w == p.as_bytes()),
            "{p} leaked into the binary encoding"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn hotline_register_never_leaks(name in chinese_name(), ph in phone(), text in free_text(),
                                    cat in prop::sample::select(vec!["CONSULT","HELP","COMPLAINT","REPORT","SUGGESTION","PRAISE"]),
                                    ch in prop::sample::select(vec!["PHONE","WEB","APP","WECHAT","SMS"]),
                                    sec in 0u32..60) {
        let rec = format!(
            r#"{{"eventId":"e-{sec}","orderNo":"BZ1","action":"REGISTER","time":"2020-07-15T10:21:{sec:02}+08:00","areaCode":"652801","category":"{cat}","channel":"{ch}","caller":{{"name":{},"phone":{}}},"content":{}}}"#,
            js(&name), js(&ph), js(&text)
        );
        check(&src("hotline"), rec.as_bytes(), &[&name, &ph, &text])?;
    }

    #[test]
    fn hotline_reply_never_leaks(text in free_text(), dept in "[\\u4e00-\\u9fa5]{4,10}") {
        let rec = format!(
            r#"{{"eventId":"e","orderNo":"BZ1","action":"REPLY","time":"2020-07-15T10:21:00Z","dept":{{"code":"D1","name":{}}},"content":{}}}"#,
            js(&dept), js(&text)
        );
        check(&src("hotline"), rec.as_bytes(), &[&text, &dept])?;
    }

    #[test]
    fn onenet_submission_never_leaks(name in chinese_name(), cert in id_number(), ph in phone(),
                                     t in time_local(), apply in 1u32..5, task in free_text()) {
        let rec = format!(
            r#"{{"RECORDID":"SB-1","PROJID":"P1","INFOTYPE":"SB","TASKCODE":"T1","TASKNAME":{},"AREACODE":"652801000000","DEPTCODE":"D1","APPLYTYPE":"{apply}","APPLYTIME":"{t}","APPLICANT":{},"CERTNO":"{cert}","PHONE":"{ph}"}}"#,
            js(&task), js(&name)
        );
        check(&src("onenet"), rec.as_bytes(), &[&name, &cert, &ph, &task])?;
    }

    #[test]
    fn bdc_never_leaks(name in chinese_name(), cert in id_number(), ph in phone(),
                       zt in prop::sample::select(vec!["01","02","03","04","05","06","99"]),
                       djlx in prop::sample::select(vec!["100","200","300","400","500"]),
                       office in free_text()) {
        let line = format!("BDC1|{djlx}|{zt}|20200715102133|652801|{office}|{name}|{cert}|{ph}");
        let (bytes, _, _) = encoding_rs::GB18030.encode(&line);
        check(&src("bdc"), &bytes, &[&name, &cert, &ph, &office])?;
    }

    #[test]
    fn arbitrary_bytes_give_an_event_or_a_rejection(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        for name in ["hotline", "onenet", "bdc"] {
            let _ = src(name).normalize(&bytes);
        }
    }

    #[test]
    fn arbitrary_json_values_in_known_fields_never_panic(
        field in prop::sample::select(vec!["eventId","orderNo","action","time","areaCode","category","channel","caller","dept","limitDays","signLimitHours","extraDays","satisfaction"]),
        action in prop::sample::select(vec!["REGISTER","DISPATCH","EXTEND","CALLBACK","SIGN"]),
        value in prop_oneof![
            Just("null".to_owned()), Just("true".to_owned()), Just("[]".to_owned()), Just("{}".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()), any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:e}")),
            ".{0,30}".prop_map(|s| js(&s)),
        ],
    ) {
        let mut o: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            &format!(r#"{{"eventId":"e","orderNo":"o","action":"{action}","time":"2020-07-15T10:21:00Z","areaCode":"652801","category":"HELP","channel":"SMS","dept":{{"code":"D"}},"limitDays":1,"extraDays":1,"satisfaction":"SATISFIED"}}"#)).unwrap();
        o.insert(field.to_owned(), serde_json::from_str(&value).unwrap());
        let rec = serde_json::to_string(&o).unwrap();
        let _ = src("hotline").normalize(rec.as_bytes());
    }

    #[test]
    fn arbitrary_unicode_lines_never_panic_bdc(line in "\\PC{0,120}") {
        let (bytes, _, _) = encoding_rs::GB18030.encode(&line);
        let _ = src("bdc").normalize(&bytes);
    }
}

/// JSON-ish text: valid fragments glued with occasional damage.
fn jsonish() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        Just("NaN".to_owned()),
        Just("-0".to_owned()),
        Just("01".to_owned()),
        Just("1.5e3".to_owned()),
        Just("1.".to_owned()),
        Just("18446744073709551616".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        "\\PC{0,8}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just("\"\\ud83d\\ude00\"".to_owned()),
        Just("\"\\ud83d\"".to_owned()),
        Just("\"a\\u0000b\"".to_owned()),
        Just("\"tab\there\"".to_owned()),
        Just("[1,[2,{}]]".to_owned()),
        Just("[1,]".to_owned()),
    ];
    let member = (
        prop::sample::select(vec!["a", "b", "dept", "caller", "code"]),
        atom.clone(),
        prop::bool::ANY,
    )
        .prop_map(|(k, v, nest)| {
            if nest {
                format!("\"{k}\":{{\"code\":{v},\"name\":{v}}}")
            } else {
                format!("\"{k}\":{v}")
            }
        });
    (
        prop::collection::vec(member, 0..6),
        prop::sample::select(vec!["", " ", ",", "}", "\n"]),
        0usize..3,
    )
        .prop_map(|(ms, junk, where_)| {
            let body = ms.join(",");
            match where_ {
                0 => format!("{{{body}}}"),
                1 => format!("{{{body}}}{junk}"),
                _ => format!("{{{body}{junk}}}"),
            }
        })
}

fn classify(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "null".into(),
        serde_json::Value::String(s) => format!("s:{s}"),
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => format!("i:{n}"),
        serde_json::Value::Object(_) => "obj".into(),
        _ => "other".into(),
    }
}

fn classify_ours(v: &govstream_normalize::json::JsonValue) -> String {
    use govstream_normalize::json::JsonValue;
    match v {
        JsonValue::Null => "null".into(),
        JsonValue::Str(s) => format!("s:{s}"),
        JsonValue::Int(n) => format!("i:{n}"),
        JsonValue::Object => "obj".into(),
        JsonValue::Other => "other".into(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The hand-written reader accepts exactly what serde_json accepts, and reads the same
    /// values (duplicate keys: the last wins).
    #[test]
    fn json_reader_agrees_with_serde_json(text in jsonish()) {
        let theirs = serde_json::from_str::<serde_json::Value>(&text);
        let ours = govstream_normalize::json::parse_object(&text);
        prop_assert_eq!(theirs.is_ok(), ours.is_ok(), "{}: serde {:?} ours {:?}", text, theirs.as_ref().err(), ours.as_ref().err());
        // The slot reader (what normalization uses) agrees with the member reader.
        let mut ix = govstream_normalize::json::FieldIndex::default();
        let paths: Vec<Vec<String>> = ["a", "b", "dept", "caller", "code", "dept.code", "dept.name", "caller.code", "a.code"]
            .iter()
            .map(|p| p.split('.').map(str::to_owned).collect())
            .collect();
        let slots: Vec<u16> = paths.iter().map(|p| ix.add(p).unwrap()).collect();
        let fields = govstream_normalize::json::parse_fields(&text, &ix);
        prop_assert_eq!(fields.is_ok(), ours.is_ok());
        if let (Ok(Some(f)), Ok(Some(o))) = (&fields, &ours) {
            for (p, s) in paths.iter().zip(&slots) {
                prop_assert_eq!(f[*s as usize].as_ref(), o.get(p), "{:?} in {}", p, text);
            }
        }
        if let (Ok(serde_json::Value::Object(m)), Ok(Some(o))) = (&theirs, &ours) {
            for (k, v) in m {
                let p = vec![k.clone()];
                prop_assert_eq!(classify(v), classify_ours(o.get(&p).unwrap()), "{} in {}", k, text);
                if let serde_json::Value::Object(inner) = v {
                    for (k2, v2) in inner {
                        let p = vec![k.clone(), k2.clone()];
                        prop_assert_eq!(classify(v2), classify_ours(o.get(&p).unwrap()));
                    }
                }
            }
        }
    }
}
