//! Unit tests per source: every field, code table, time format and reason code of sources.md.

use crate::{preset, CompiledSource, PseudonymKey, Reason};
use govstream_calendar::civil::format_rfc3339;
use govstream_proto::v1 as pb;
use std::sync::Arc;

fn key() -> Arc<PseudonymKey> {
    Arc::new(PseudonymKey::new("test-secret"))
}
fn src(name: &str) -> CompiledSource {
    preset(name, key()).unwrap().unwrap()
}
fn ok(s: &CompiledSource, rec: &str) -> pb::CaseEvent {
    s.normalize(rec.as_bytes())
        .unwrap_or_else(|e| panic!("{rec}: {e}"))
}
fn reason(s: &CompiledSource, rec: &[u8]) -> Reason {
    match s.normalize(rec) {
        Ok(ev) => panic!("{}: accepted as {ev:?}", String::from_utf8_lossy(rec)),
        Err(e) => e.reason,
    }
}
fn at(ev: &pb::CaseEvent) -> String {
    format_rfc3339(ev.event_time_us, ev.utc_offset_s)
}
/// Replaces (or removes, with `None`) a top-level key of a JSON object.
fn with(base: &str, k: &str, v: Option<&str>) -> String {
    let mut o: serde_json::Map<String, serde_json::Value> = serde_json::from_str(base).unwrap();
    match v {
        Some(v) => {
            o.insert(k.to_owned(), serde_json::from_str(v).unwrap());
        }
        None => {
            o.remove(k);
        }
    }
    serde_json::to_string(&o).unwrap()
}

const REGISTER: &str = r#"{"eventId":"e1","orderNo":"BZ1","action":"REGISTER","time":"2020-07-15T10:21:33+08:00","areaCode":"652801","category":"COMPLAINT","channel":"WECHAT","caller":{"name":"张三","phone":"13912345678"},"content":"楼上噪音扰民"}"#;
const DISPATCH: &str = r#"{"eventId":"e2","orderNo":"BZ1","action":"DISPATCH","time":"2020-07-15T10:21:33+08:00","dept":{"code":"652801-ZJJ","name":"库尔勒市住房和城乡建设局"},"limitDays":5}"#;

#[test]
fn hotline_register_keeps_codes_and_drops_personal_data() {
    let ev = ok(&src("hotline"), REGISTER);
    assert_eq!(ev.source, "hotline");
    assert_eq!(ev.record_id, "e1");
    assert_eq!(ev.case_id, "BZ1");
    assert_eq!(ev.case_kind(), pb::CaseKind::WorkOrder);
    assert_eq!(ev.stage(), pb::Stage::Register);
    assert_eq!(at(&ev), "2020-07-15T10:21:33+08:00");
    assert_eq!(ev.region, "652801");
    assert_eq!(ev.category(), pb::Category::Complaint);
    assert_eq!(ev.channel(), pb::Channel::Wechat);
    assert_eq!(ev.caller_pseudonym, key().pseudonym("13912345678").unwrap());
    let json = serde_json::to_string(&ev).unwrap();
    for pii in ["张三", "13912345678", "噪音"] {
        assert!(!json.contains(pii), "{json}");
    }
}

#[test]
fn hotline_every_action_and_its_fields() {
    let s = src("hotline");
    let ev = ok(&s, DISPATCH);
    assert_eq!(ev.stage(), pb::Stage::Dispatch);
    assert_eq!(ev.department, "652801-ZJJ");
    let l = ev.limit.unwrap();
    assert_eq!((l.value, l.unit()), (5, pb::LimitUnit::WorkingDays));
    assert_eq!(ev.sign_limit_hours, Some(24));
    let ev = ok(&s, &with(DISPATCH, "signLimitHours", Some("2")));
    assert_eq!(ev.sign_limit_hours, Some(2));
    let ev = ok(&s, &with(DISPATCH, "signLimitHours", Some("\"48\"")));
    assert_eq!(ev.sign_limit_hours, Some(48));
    let base = r#"{"eventId":"e3","orderNo":"BZ1","time":"2020-07-15T10:21:33Z"}"#;
    for (action, stage) in [
        ("ANSWER", pb::Stage::Answer),
        ("SIGN", pb::Stage::Sign),
        ("RETURN", pb::Stage::Return),
        ("URGE", pb::Stage::Urge),
        ("REPLY", pb::Stage::Reply),
        ("CLOSE", pb::Stage::Close),
        ("REOPEN", pb::Stage::Reopen),
    ] {
        let ev = ok(&s, &with(base, "action", Some(&format!("\"{action}\""))));
        assert_eq!(ev.stage(), stage);
        assert_eq!(ev.utc_offset_s, 0);
    }
    let sign = with(
        &with(base, "action", Some("\"SIGN\"")),
        "dept",
        Some(r#"{"code":"D9"}"#),
    );
    assert_eq!(ok(&s, &sign).department, "D9");
    let ext = with(
        &with(base, "action", Some("\"EXTEND\"")),
        "extraDays",
        Some("3"),
    );
    assert_eq!(ok(&s, &ext).extra_days, 3);
    let cb = with(base, "action", Some("\"CALLBACK\""));
    for (code, sat) in [
        ("VERY_SATISFIED", pb::Satisfaction::VerySatisfied),
        ("SATISFIED", pb::Satisfaction::Satisfied),
        ("BASICALLY_SATISFIED", pb::Satisfaction::BasicallySatisfied),
        ("DISSATISFIED", pb::Satisfaction::Dissatisfied),
        ("UNREACHABLE", pb::Satisfaction::Unreachable),
    ] {
        let ev = ok(&s, &with(&cb, "satisfaction", Some(&format!("\"{code}\""))));
        assert_eq!(ev.satisfaction(), sat);
    }
    for (code, c) in [
        ("CONSULT", pb::Category::Consult),
        ("HELP", pb::Category::Help),
        ("REPORT", pb::Category::Report),
        ("SUGGESTION", pb::Category::Suggestion),
        ("PRAISE", pb::Category::Praise),
    ] {
        let ev = ok(
            &s,
            &with(REGISTER, "category", Some(&format!("\"{code}\""))),
        );
        assert_eq!(ev.category(), c);
    }
    for (code, c) in [
        ("PHONE", pb::Channel::Phone),
        ("WEB", pb::Channel::Web),
        ("APP", pb::Channel::App),
        ("SMS", pb::Channel::Sms),
    ] {
        let ev = ok(&s, &with(REGISTER, "channel", Some(&format!("\"{code}\""))));
        assert_eq!(ev.channel(), c);
    }
    // 12-digit area codes become the county.
    let ev = ok(&s, &with(REGISTER, "areaCode", Some("\"652801000000\"")));
    assert_eq!(ev.region, "652801");
    let ev = ok(&s, &with(REGISTER, "areaCode", Some("652801")));
    assert_eq!(ev.region, "652801");
    // Fields of other actions are ignored.
    let ev = ok(&s, &with(REGISTER, "limitDays", Some("\"x\"")));
    assert!(ev.limit.is_none());
}

#[test]
fn hotline_rejections() {
    let s = src("hotline");
    let r = |rec: String| reason(&s, rec.as_bytes());
    use Reason::*;
    assert_eq!(r(with(REGISTER, "eventId", None)), MissingField);
    assert_eq!(r(with(REGISTER, "orderNo", Some("null"))), MissingField);
    assert_eq!(r(with(REGISTER, "orderNo", Some("\"  \""))), MissingField);
    assert_eq!(r(with(REGISTER, "orderNo", Some("12"))), MissingField);
    assert_eq!(
        r(with(REGISTER, "action", Some("\"register\""))),
        UnknownCode
    );
    assert_eq!(r(with(REGISTER, "action", Some("\"FOO\""))), UnknownCode);
    assert_eq!(r(with(REGISTER, "areaCode", None)), MissingField);
    assert_eq!(r(with(REGISTER, "category", Some("\"\""))), MissingField);
    assert_eq!(
        r(with(REGISTER, "category", Some("\"OTHER\""))),
        UnknownCode
    );
    assert_eq!(r(with(REGISTER, "channel", Some("\"FAX\""))), UnknownCode);
    assert_eq!(
        r(with(REGISTER, "areaCode", Some("\"65280\""))),
        UnknownCode
    );
    assert_eq!(
        r(with(REGISTER, "areaCode", Some("\"65280100000\""))),
        UnknownCode
    );
    assert_eq!(r(with(DISPATCH, "limitDays", Some("\"5\""))), MissingField);
    assert_eq!(r(with(DISPATCH, "limitDays", Some("5.5"))), MissingField);
    assert_eq!(r(with(DISPATCH, "limitDays", Some("-1"))), UnknownCode);
    assert_eq!(r(with(DISPATCH, "dept", None)), MissingField);
    assert_eq!(
        r(with(DISPATCH, "dept", Some(r#"{"name":"x"}"#))),
        MissingField
    );
    assert_eq!(r(with(DISPATCH, "signLimitHours", Some("0"))), UnknownCode);
    assert_eq!(
        r(with(DISPATCH, "signLimitHours", Some("\"soon\""))),
        UnknownCode
    );
    assert_eq!(r(with(DISPATCH, "signLimitHours", Some("-3"))), UnknownCode);
    let ext = with(
        &with(DISPATCH, "action", Some("\"EXTEND\"")),
        "extraDays",
        Some("-2"),
    );
    assert_eq!(r(ext.clone()), UnknownCode);
    assert_eq!(r(with(&ext, "extraDays", None)), MissingField);
    let cb = with(DISPATCH, "action", Some("\"CALLBACK\""));
    assert_eq!(r(cb.clone()), MissingField);
    assert_eq!(r(with(&cb, "satisfaction", Some("\"OK\""))), UnknownCode);
    for t in [
        "2020-07-15T10:21:33",
        "2020-07-15 10:21:33+08:00",
        "2020-07-15T10:21:60+08:00",
        "2020-07-15T24:00:00+08:00",
        "yesterday",
    ] {
        assert_eq!(
            r(with(REGISTER, "time", Some(&format!("\"{t}\"")))),
            BadTimestamp,
            "{t}"
        );
    }
    assert_eq!(r(with(REGISTER, "time", Some("1594779693"))), MissingField);
    assert_eq!(
        r(with(
            REGISTER,
            "time",
            Some("\"1999-12-31T23:59:59+08:00\"")
        )),
        TimeOutOfRange
    );
    // The range is [2000-01-01T00:00+08:00, 2100-01-01T00:00+08:00).
    let s2 = src("hotline");
    ok(
        &s2,
        &with(REGISTER, "time", Some("\"1999-12-31T16:00:00Z\"")),
    );
    ok(
        &s2,
        &with(REGISTER, "time", Some("\"2099-12-31T23:59:59.999+08:00\"")),
    );
    assert_eq!(
        r(with(
            REGISTER,
            "time",
            Some("\"2100-01-01T00:00:00+08:00\"")
        )),
        TimeOutOfRange
    );
}

#[test]
fn hotline_precedence_follows_the_spec() {
    let s = src("hotline");
    use Reason::*;
    // Several defects: the earliest class in the precedence list wins.
    let big = format!(r#"{{"x":"{}"}}"#, "a".repeat(1_048_576));
    assert_eq!(reason(&s, big.as_bytes()), Oversize);
    let mut bad = b"{\"eventId\":\"".to_vec();
    bad.extend_from_slice(&[0xff, 0xfe]);
    bad.extend_from_slice(b"\"");
    assert_eq!(reason(&s, &bad), BadEncoding);
    assert_eq!(reason(&s, b"{\"eventId\":"), MalformedJson);
    assert_eq!(reason(&s, b"[1,2]"), MalformedJson);
    assert_eq!(reason(&s, b"{\"a\":NaN}"), MalformedJson);
    assert_eq!(reason(&s, b"{\"a\":Infinity}"), MalformedJson);
    assert_eq!(reason(&s, b""), MalformedJson);
    // Missing common field beats unknown action.
    let rec = with(&with(REGISTER, "action", Some("\"FOO\"")), "orderNo", None);
    assert_eq!(reason(&s, rec.as_bytes()), MissingField);
    // Unknown action beats a bad time.
    let rec = with(
        &with(REGISTER, "action", Some("\"FOO\"")),
        "time",
        Some("\"x\""),
    );
    assert_eq!(reason(&s, rec.as_bytes()), UnknownCode);
    // A field the stage needs beats a bad time.
    let rec = with(&with(REGISTER, "category", None), "time", Some("\"x\""));
    assert_eq!(reason(&s, rec.as_bytes()), MissingField);
    // Bad time beats other unknown codes; out-of-range time too.
    let rec = with(
        &with(REGISTER, "category", Some("\"X\"")),
        "time",
        Some("\"x\""),
    );
    assert_eq!(reason(&s, rec.as_bytes()), BadTimestamp);
    let rec = with(
        &with(REGISTER, "category", Some("\"X\"")),
        "time",
        Some("\"1990-01-01T00:00:00Z\""),
    );
    assert_eq!(reason(&s, rec.as_bytes()), TimeOutOfRange);
    // Duplicate keys: the last wins.
    let dup = REGISTER.replacen("{", r#"{"category":"NOPE","#, 1);
    assert_eq!(ok(&s, &dup).category(), pb::Category::Complaint);
    let dup = format!(r#"{},"category":"NOPE"}}"#, &REGISTER[..REGISTER.len() - 1]);
    assert!(s.normalize(dup.as_bytes()).is_err());
}

const SB: &str = r#"{"RECORDID":"SB-1","PROJID":"P1","INFOTYPE":"SB","TASKCODE":"T1","TASKNAME":"公共场所卫生许可","AREACODE":"652801000000","DEPTCODE":"D1","DEPTNAME":"巴州卫生健康委员会","APPLYTYPE":"1","APPLYTIME":"2020-07-15 10:21:33","APPLICANT":"李四","CERTNO":"652801199001011234","PHONE":"13800001111"}"#;
const SL: &str = r#"{"RECORDID":"SL-1","PROJID":"P1","INFOTYPE":"SL","TASKCODE":"T1","AREACODE":"652801","DEPTCODE":"D1","ITEMTYPE":"CN","ACCEPTTIME":"2020-07-15 10:21:33","PROMISEDAYS":"5","LEGALDAYS":"20"}"#;

#[test]
fn onenet_stages_and_fields() {
    let s = src("onenet");
    let ev = ok(&s, SB);
    assert_eq!(ev.case_kind(), pb::CaseKind::Application);
    assert_eq!(ev.stage(), pb::Stage::Submit);
    assert_eq!((ev.record_id.as_str(), ev.case_id.as_str()), ("SB-1", "P1"));
    assert_eq!(at(&ev), "2020-07-15T10:21:33+08:00");
    assert_eq!(ev.region, "652801");
    assert_eq!(ev.department, "D1");
    assert_eq!(ev.service_item, "T1");
    assert_eq!(ev.channel(), pb::Channel::Online);
    let json = serde_json::to_string(&ev).unwrap();
    for pii in ["李四", "652801199001011234", "13800001111", "卫生"] {
        assert!(!json.contains(pii), "{json}");
    }
    for (code, ch) in [
        ("\"2\"", pb::Channel::Window),
        ("3", pb::Channel::Mobile),
        ("\"4\"", pb::Channel::Kiosk),
    ] {
        assert_eq!(ok(&s, &with(SB, "APPLYTYPE", Some(code))).channel(), ch);
    }

    let ev = ok(&s, SL);
    assert_eq!(ev.stage(), pb::Stage::Accept);
    assert_eq!(ev.item_type(), pb::ItemType::Promised);
    let l = ev.limit.unwrap();
    assert_eq!((l.value, l.unit()), (5, pb::LimitUnit::WorkingDays));
    assert_eq!(ev.legal_days, Some(20));
    let ev = ok(&s, &with(SL, "PROMISETYPE", Some("\"2\"")));
    assert_eq!(ev.limit.unwrap().unit(), pb::LimitUnit::NaturalDays);
    let ev = ok(&s, &with(SL, "PROMISEDAYS", Some("7")));
    assert_eq!(ev.limit.unwrap().value, 7);
    // JB: the limit is 0 whatever PROMISEDAYS says.
    let jb = with(SL, "ITEMTYPE", Some("\"JB\""));
    assert_eq!(ok(&s, &jb).item_type(), pb::ItemType::Immediate);
    assert_eq!(ok(&s, &jb).limit.unwrap().value, 0);
    assert_eq!(
        ok(&s, &with(&jb, "PROMISEDAYS", Some("\"n/a\"")))
            .limit
            .unwrap()
            .value,
        0
    );

    let gc = r#"{"RECORDID":"GC-1","PROJID":"P1","INFOTYPE":"GC","STEPTYPE":"SUSPEND","STEPTIME":"2020-07-16 09:00:00","ONSITE":"1"}"#;
    let ev = ok(&s, gc);
    assert_eq!(ev.stage(), pb::Stage::Process);
    assert_eq!(ev.step_type(), pb::StepType::Suspend);
    assert!(ev.onsite);
    assert!(!ok(&s, &with(gc, "ONSITE", None)).onsite);
    assert!(!ok(&s, &with(gc, "ONSITE", Some("0"))).onsite);
    for (c, st) in [
        ("NORMAL", pb::StepType::Normal),
        ("RESUME", pb::StepType::Resume),
    ] {
        assert_eq!(
            ok(&s, &with(gc, "STEPTYPE", Some(&format!("\"{c}\"")))).step_type(),
            st
        );
    }

    let bj = r#"{"RECORDID":"BJ-1","PROJID":"P1","INFOTYPE":"BJ","RESULT":"1","FINISHTIME":"2020-07-20 16:00:00","DELIVERY":"3"}"#;
    let ev = ok(&s, bj);
    assert_eq!(ev.stage(), pb::Stage::Complete);
    assert_eq!(ev.result(), pb::Result::Approved);
    assert_eq!(ev.delivery(), pb::Delivery::Window);
    assert_eq!(
        ok(&s, &with(bj, "DELIVERY", None)).delivery(),
        pb::Delivery::Unspecified
    );
    for (c, r) in [("2", pb::Result::Refused), ("3", pb::Result::Withdrawn)] {
        assert_eq!(ok(&s, &with(bj, "RESULT", Some(c))).result(), r);
    }
    for (c, d) in [
        ("\"1\"", pb::Delivery::Electronic),
        ("2", pb::Delivery::Post),
    ] {
        assert_eq!(ok(&s, &with(bj, "DELIVERY", Some(c))).delivery(), d);
    }

    let pj = r#"{"RECORDID":"PJ-1","PROJID":"P1","INFOTYPE":"PJ","EVALLEVEL":"2","EVALTIME":"2020-07-21 08:00:00"}"#;
    let ev = ok(&s, pj);
    assert_eq!(ev.stage(), pb::Stage::Evaluate);
    assert_eq!(ev.evaluation_level, 2);
    assert_eq!(
        ok(&s, &with(pj, "EVALLEVEL", Some("5"))).evaluation_level,
        5
    );
}

#[test]
fn onenet_rejections() {
    let s = src("onenet");
    let r = |rec: String| reason(&s, rec.as_bytes());
    use Reason::*;
    assert_eq!(r(with(SB, "RECORDID", None)), MissingField);
    assert_eq!(r(with(SB, "INFOTYPE", Some("\"XX\""))), UnknownCode);
    assert_eq!(r(with(SB, "INFOTYPE", Some("\"sb\""))), UnknownCode);
    // The stage's time field is needed by that stage only.
    assert_eq!(r(with(SB, "APPLYTIME", None)), MissingField);
    assert_eq!(
        r(with(
            &with(SB, "APPLYTIME", None),
            "INFOTYPE",
            Some("\"XX\"")
        )),
        UnknownCode
    );
    ok(&s, &with(SB, "ACCEPTTIME", Some("\"garbage\"")));
    for f in ["TASKCODE", "AREACODE", "DEPTCODE", "APPLYTYPE"] {
        assert_eq!(r(with(SB, f, None)), MissingField, "{f}");
    }
    for f in [
        "TASKCODE",
        "AREACODE",
        "DEPTCODE",
        "ITEMTYPE",
        "PROMISEDAYS",
    ] {
        assert_eq!(r(with(SL, f, Some("\"\""))), MissingField, "{f}");
    }
    assert_eq!(r(with(SB, "APPLYTYPE", Some("\"5\""))), UnknownCode);
    assert_eq!(r(with(SB, "APPLYTYPE", Some("1.0"))), MissingField);
    assert_eq!(r(with(SB, "AREACODE", Some("\"6528010000\""))), UnknownCode);
    assert_eq!(r(with(SL, "ITEMTYPE", Some("\"XX\""))), UnknownCode);
    assert_eq!(r(with(SL, "PROMISEDAYS", Some("\"5天\""))), UnknownCode);
    assert_eq!(r(with(SL, "PROMISEDAYS", Some("-5"))), UnknownCode);
    assert_eq!(r(with(SL, "PROMISETYPE", Some("\"3\""))), UnknownCode);
    assert_eq!(r(with(SL, "LEGALDAYS", Some("\"x\""))), UnknownCode);
    for t in [
        "2020-07-15T10:21:33",
        "2020-07-15 10:21",
        "2020/07/15 10:21:33",
        "2020-07-15 10:21:33+08:00",
        "2020-02-30 10:21:33",
        " 2020-07-15 10:21:33",
    ] {
        assert_eq!(
            r(with(SB, "APPLYTIME", Some(&format!("\"{t}\"")))),
            BadTimestamp,
            "{t}"
        );
    }
    assert_eq!(
        r(with(SB, "APPLYTIME", Some("\"1999-12-31 23:59:59\""))),
        TimeOutOfRange
    );
    ok(&s, &with(SB, "APPLYTIME", Some("\"2000-01-01 00:00:00\"")));
    assert_eq!(
        r(with(SB, "APPLYTIME", Some("\"2100-01-01 00:00:00\""))),
        TimeOutOfRange
    );
    let gc =
        r#"{"RECORDID":"GC-1","PROJID":"P1","INFOTYPE":"GC","STEPTIME":"2020-07-16 09:00:00"}"#;
    assert_eq!(r(gc.to_owned()), MissingField);
    assert_eq!(r(with(gc, "STEPTYPE", Some("\"PAUSE\""))), UnknownCode);
    let gc = with(gc, "STEPTYPE", Some("\"NORMAL\""));
    assert_eq!(r(with(&gc, "ONSITE", Some("\"2\""))), UnknownCode);
    let bj =
        r#"{"RECORDID":"BJ-1","PROJID":"P1","INFOTYPE":"BJ","FINISHTIME":"2020-07-20 16:00:00"}"#;
    assert_eq!(r(bj.to_owned()), MissingField);
    assert_eq!(r(with(bj, "RESULT", Some("\"4\""))), UnknownCode);
    assert_eq!(
        r(with(
            &with(bj, "RESULT", Some("1")),
            "DELIVERY",
            Some("\"4\"")
        )),
        UnknownCode
    );
    let pj =
        r#"{"RECORDID":"PJ-1","PROJID":"P1","INFOTYPE":"PJ","EVALTIME":"2020-07-21 08:00:00"}"#;
    assert_eq!(r(pj.to_owned()), MissingField);
    assert_eq!(r(with(pj, "EVALLEVEL", Some("6"))), UnknownCode);
    assert_eq!(r(with(pj, "EVALLEVEL", Some("\"0\""))), UnknownCode);
}

fn gb(s: &str) -> Vec<u8> {
    let (b, _, bad) = encoding_rs::GB18030.encode(s);
    assert!(!bad);
    b.into_owned()
}

#[test]
fn bdc_records_in_gb18030_with_chinese_names() {
    let s = src("bdc");
    let line = gb("BDC2020001|200|02|20200715102133|652801|库尔勒市不动产登记中心|王珅|652801199001011234|13912345678");
    // 珅 ends in the byte 0x7C, which must not split the field.
    assert!(line.windows(2).any(|w| w == [0xAB, 0x7C]));
    let ev = s.normalize(&line).unwrap();
    assert_eq!(ev.source, "bdc");
    assert_eq!(ev.record_id, "BDC2020001|02|20200715102133");
    assert_eq!(ev.case_id, "BDC2020001");
    assert_eq!(ev.stage(), pb::Stage::Accept);
    assert_eq!(at(&ev), "2020-07-15T10:21:33+08:00");
    assert_eq!(ev.region, "652801");
    assert_eq!(ev.department, "BDC-652801");
    assert_eq!(ev.service_item, "BDC-200");
    assert_eq!(ev.channel(), pb::Channel::Window);
    let l = ev.limit.unwrap();
    assert_eq!((l.value, l.unit()), (5, pb::LimitUnit::WorkingDays));
    let json = serde_json::to_string(&ev).unwrap();
    for pii in ["王珅", "652801199001011234", "13912345678", "登记中心"] {
        assert!(!json.contains(pii), "{json}");
    }
    // A trailing CR is dropped.
    let mut crlf = line.clone();
    crlf.push(b'\r');
    assert_eq!(s.normalize(&crlf).unwrap(), ev);

    let status = |zt: &str| {
        s.normalize(&gb(&format!(
            "B1|100|{zt}|20200715102133|652801|中心|张三|1|2"
        )))
    };
    let st = |zt: &str| status(zt).unwrap();
    assert_eq!(st("01").stage(), pb::Stage::Submit);
    assert_eq!(st("01").channel(), pb::Channel::Window);
    assert_eq!(st("03").stage(), pb::Stage::Process);
    assert_eq!(st("04").stage(), pb::Stage::Complete);
    assert_eq!(st("04").result(), pb::Result::Approved);
    assert_eq!(st("05").stage(), pb::Stage::Process);
    assert_eq!(st("06").stage(), pb::Stage::Collect);
    assert_eq!(st("06").delivery(), pb::Delivery::Window);
    assert_eq!(st("99").stage(), pb::Stage::Complete);
    assert_eq!(st("99").result(), pb::Result::Withdrawn);
    for djlx in ["100", "200", "300", "400", "500"] {
        let ev = s
            .normalize(&gb(&format!("B1|{djlx}|02|20200715102133|652801||||")))
            .unwrap();
        assert_eq!(ev.service_item, format!("BDC-{djlx}"));
    }
    assert_eq!(status("07").unwrap_err().reason, Reason::UnknownCode);
    assert_eq!(status("1").unwrap_err().reason, Reason::UnknownCode);
}

#[test]
fn bdc_rejections() {
    let s = src("bdc");
    let r = |line: &str| reason(&s, &gb(line));
    use Reason::*;
    assert_eq!(
        r("B1|100|02|20200715102133|652801|中心|张三|1"),
        MissingField
    );
    assert_eq!(
        r("B1|100|02|20200715102133|652801|中心|张三|1|2|3"),
        MissingField
    );
    assert_eq!(r(""), MissingField);
    assert_eq!(r("|100|02|20200715102133|652801|||"), MissingField);
    assert_eq!(r("B1| |02|20200715102133|652801||||"), MissingField);
    assert_eq!(r("B1|100|02|20200715102133|||||"), MissingField);
    assert_eq!(r("B1|600|02|20200715102133|652801||||"), UnknownCode);
    assert_eq!(r("B1|100|02|20200715102133|65280||||"), UnknownCode);
    assert_eq!(r("B1|100|02|20200715102133| 652801||||"), UnknownCode);
    assert_eq!(r("B1|100|02|2020-07-15 10:21|652801||||"), BadTimestamp);
    assert_eq!(r("B1|100|02|20200715242133|652801||||"), BadTimestamp);
    assert_eq!(r("B1|100|02|202007151021330|652801||||"), BadTimestamp);
    assert_eq!(r("B1|100|02|19991231235959|652801||||"), TimeOutOfRange);
    // Precedence: unknown status beats a bad time; a bad time beats an unknown DJLX.
    assert_eq!(r("B1|100|77|x|652801||||"), UnknownCode);
    assert_eq!(r("B1|600|02|x|652801||||"), BadTimestamp);
    // Not GB18030: a lone lead byte.
    let mut bad = gb("B1|100|02|20200715102133|652801||||");
    bad.push(0x81);
    assert_eq!(reason(&s, &bad), BadEncoding);
    // UTF-8 text with Chinese is not valid GB18030 in general; Latin-1 bytes are not either.
    assert_eq!(
        reason(&s, b"B1|100|02|20200715102133|652801|\xff\xff|||"),
        BadEncoding
    );
}

#[test]
fn a_fourth_system_is_onboarded_from_a_mapping_file_alone() {
    // A social-security office exporting GBK CSV with its own status codes and time format.
    let mapping = r#"
        name = "socsec"
        case_kind = "application"
        encoding = "gbk"
        format = { kind = "delimited", separator = ",", columns = ["ywbh", "zt", "sj", "qh", "sx", "qd", "xm", "sfz"] }
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
        set.channel = { field = "qd", table = "qd" }

        [stages.B]
        stage = "ACCEPT"
        time = { field = "sj", format = "yyyy/MM/dd HH:mm" }
        set.limit_days = { value = "3" }

        [stages.C]
        stage = "COMPLETE"
        time = { field = "sj", format = "yyyy/MM/dd HH:mm" }
        set.result = { value = "APPROVED" }

        [tables.qd]
        "网上" = "ONLINE"
        "窗口" = "WINDOW"
    "#;
    let s = crate::from_mapping_file(mapping, key()).unwrap();
    let (line, _, _) = encoding_rs::GBK
        .encode("SS001,A,2020/07/15 10:21,652801000000,养老金领取,窗口,赵六,652801195001011234");
    let ev = s.normalize(&line).unwrap();
    assert_eq!(ev.source, "socsec");
    assert_eq!(ev.stage(), pb::Stage::Submit);
    assert_eq!(ev.record_id, "SS001|A|2020/07/15 10:21");
    assert_eq!(ev.channel(), pb::Channel::Window);
    assert_eq!(ev.region, "652801");
    assert_eq!(ev.department, "RSJ");
    assert_eq!(ev.service_item, "SB-养老金领取");
    assert_eq!(at(&ev), "2020-07-15T10:21:00+08:00");
    let json = serde_json::to_string(&ev).unwrap();
    assert!(!json.contains("赵六") && !json.contains("652801195001011234"));
    let (line, _, _) = encoding_rs::GBK.encode("SS001,B,2020/07/16 09:00,652801,养老金领取,,,");
    assert_eq!(s.normalize(&line).unwrap().limit.unwrap().value, 3);
    let (line, _, _) = encoding_rs::GBK.encode("SS001,A,2020/07/15 10:21,652801,养老金领取,邮寄,,");
    assert_eq!(s.normalize(&line).unwrap_err().reason, Reason::UnknownCode);
    let (line, _, _) = encoding_rs::GBK.encode("SS001,Z,2020/07/15 10:21,652801,x,,,");
    assert_eq!(s.normalize(&line).unwrap_err().reason, Reason::UnknownCode);
    let (line, _, _) = encoding_rs::GBK.encode("SS001,B,2020-07-15 10:21,652801,x,,,");
    assert_eq!(s.normalize(&line).unwrap_err().reason, Reason::BadTimestamp);
}

#[test]
fn mapping_mistakes_are_reported_before_any_record() {
    let base = crate::mapping::PRESETS[0].1;
    let check = |from: &str, to: &str, expect: &str| {
        let text = base.replacen(from, to, 1);
        assert_ne!(text, base, "{from}");
        let e = crate::from_mapping_file(&text, key())
            .unwrap_err()
            .to_string();
        assert!(e.contains(expect), "{e}");
    };
    check(
        "encoding = \"utf-8\"",
        "encoding = \"utf-9\"",
        "unknown encoding",
    );
    check(
        "table = \"category\"",
        "table = \"nope\"",
        "no table named `nope`",
    );
    check(
        "stage = \"REGISTER\"",
        "stage = \"REGISTRATION\"",
        "not a canonical stage",
    );
    check("format = \"rfc3339\"", "format = \"HH:mm\"", "time format");
    check("set.region", "set.county", "not a canonical field");
    check(
        "CONSULT = \"CONSULT\"",
        "CONSULT = \"ASK\"",
        "table `category` value `ASK`",
    );
    check(
        "case_id = \"orderNo\"",
        "case_id = \"orderNo\"\ncolour = 1",
        "unknown",
    );
    check(
        "set.limit_unit = { value = \"WORKING_DAYS\" }",
        "set.limit_unit = { value = \"WEEKS\" }",
        "value `WEEKS`",
    );
}

#[test]
fn presets_compile() {
    for (name, _) in crate::mapping::PRESETS {
        let s = src(name);
        assert_eq!(s.name(), name);
    }
}

#[test]
fn duplicates_and_conflicts() {
    let s = src("hotline");
    let mut d = crate::Deduplicator::default();
    let a = ok(&s, REGISTER);
    assert_eq!(d.observe(&a), crate::Seen::First);
    assert_eq!(d.observe(&a), crate::Seen::Duplicate);
    // Same id, different personal data only: still the same record after normalization? No:
    // the pseudonym differs, so it is a conflict; the first copy wins.
    let b = ok(&s, &with(REGISTER, "category", Some("\"HELP\"")));
    assert_eq!(d.observe(&b), crate::Seen::Conflict);
    let c = ok(&s, &with(REGISTER, "eventId", Some("\"e9\"")));
    assert_eq!(d.observe(&c), crate::Seen::First);
    assert_eq!(d.len(), 2);
}

const LISTING: &str = r#"{"TASKCODE":"11652800010145678X4000111009000","VERSION":3,"UPDATETIME":"2020-06-01 00:00:00","STATUS":"1","TASKNAME":"公共场所卫生许可","AREACODE":"652801","DEPTCODE":"11652800010145678X","ITEMTYPE":"CN","LEGALDAYS":"20","PROMISEDAYS":"5","MAXVISITS":"1","ONLINEDEPTH":"4"}"#;

#[test]
fn catalogue_listings_become_listing_events() {
    let s = src("catalogue");
    let ev = ok(&s, LISTING);
    assert_eq!(ev.case_kind(), pb::CaseKind::Listing);
    assert_eq!(ev.stage(), pb::Stage::Listing);
    assert_eq!(ev.source, "catalogue");
    assert_eq!(
        ev.record_id,
        "11652800010145678X4000111009000|3|2020-06-01 00:00:00"
    );
    assert_eq!(ev.case_id, "11652800010145678X4000111009000");
    assert_eq!(ev.service_item, ev.case_id);
    assert_eq!(at(&ev), "2020-06-01T00:00:00+08:00");
    assert_eq!(
        (ev.region.as_str(), ev.department.as_str()),
        ("652801", "11652800010145678X")
    );
    assert_eq!(ev.listing_version, 3);
    assert_eq!(ev.listing_status(), pb::ListingStatus::InForce);
    assert_eq!((ev.max_visits, ev.online_depth), (1, 4));
    assert_eq!(ev.item_type(), pb::ItemType::Promised);
    assert_eq!(
        (ev.legal_days, ev.limit.map(|l| l.value)),
        (Some(20), Some(5))
    );
    // The free-text name is never copied.
    assert!(!format!("{ev:?}").contains("卫生"));
    // 3, "3" and "03" are one version; the record id writes it in decimal.
    for v in ["\"3\"", "\"03\""] {
        let e = ok(&s, &with(LISTING, "VERSION", Some(v)));
        assert_eq!(e.listing_version, 3);
        assert_eq!(e.record_id, ev.record_id);
    }
    // A 12-digit region becomes 6 digits; MAXVISITS as an integer.
    let e = ok(
        &s,
        &with(
            &with(LISTING, "AREACODE", Some("\"652801000000\"")),
            "MAXVISITS",
            Some("0"),
        ),
    );
    assert_eq!((e.region.as_str(), e.max_visits), ("652801", 0));
    // JB: LEGALDAYS and PROMISEDAYS are neither required nor read.
    let jb = with(
        &with(
            &with(LISTING, "ITEMTYPE", Some("\"JB\"")),
            "LEGALDAYS",
            Some("\"即办\""),
        ),
        "PROMISEDAYS",
        None,
    );
    let e = ok(&s, &jb);
    assert_eq!(e.item_type(), pb::ItemType::Immediate);
    assert_eq!((e.legal_days, e.limit), (None, None));
    // STATUS 2 and 3 are accepted (in force, counting nowhere: the engine's business).
    let e = ok(&s, &with(LISTING, "STATUS", Some("3")));
    assert_eq!(e.listing_status(), pb::ListingStatus::Cancelled);
}

#[test]
fn catalogue_rejections() {
    let s = src("catalogue");
    let r = |k: &str, v: Option<&str>| reason(&s, with(LISTING, k, v).as_bytes());
    for k in [
        "TASKCODE",
        "VERSION",
        "UPDATETIME",
        "STATUS",
        "AREACODE",
        "DEPTCODE",
        "ITEMTYPE",
        "MAXVISITS",
        "ONLINEDEPTH",
    ] {
        assert_eq!(r(k, None), Reason::MissingField, "{k} absent");
        assert_eq!(r(k, Some("\"\"")), Reason::MissingField, "{k} empty");
    }
    // CN needs its limits; JB does not.
    assert_eq!(r("PROMISEDAYS", None), Reason::MissingField);
    assert_eq!(r("LEGALDAYS", None), Reason::MissingField);
    // VERSION: a non-integer number is the wrong type; 0 or a non-digit string an unknown code.
    assert_eq!(r("VERSION", Some("3.5")), Reason::MissingField);
    assert_eq!(r("VERSION", Some("0")), Reason::UnknownCode);
    assert_eq!(r("VERSION", Some("\"0\"")), Reason::UnknownCode);
    assert_eq!(r("VERSION", Some("\"v3\"")), Reason::UnknownCode);
    assert_eq!(r("VERSION", Some("-3")), Reason::UnknownCode);
    // Exact codes.
    assert_eq!(r("STATUS", Some("\"4\"")), Reason::UnknownCode);
    assert_eq!(r("ONLINEDEPTH", Some("\"04\"")), Reason::UnknownCode);
    assert_eq!(r("ONLINEDEPTH", Some("\"5\"")), Reason::UnknownCode);
    assert_eq!(r("ITEMTYPE", Some("\"XX\"")), Reason::UnknownCode);
    assert_eq!(r("MAXVISITS", Some("\"one\"")), Reason::UnknownCode);
    assert_eq!(r("PROMISEDAYS", Some("\"五\"")), Reason::UnknownCode);
    assert_eq!(r("AREACODE", Some("\"6528\"")), Reason::UnknownCode);
    assert_eq!(
        r("UPDATETIME", Some("\"2020-06-01T00:00:00\"")),
        Reason::BadTimestamp
    );
    assert_eq!(
        r("UPDATETIME", Some("\"1999-06-01 00:00:00\"")),
        Reason::TimeOutOfRange
    );
    // Precedence: a missing field every record needs before an unknown ITEMTYPE; an unknown
    // ITEMTYPE before a field the stage needs; a bad time before another unknown code.
    let both = with(&with(LISTING, "ITEMTYPE", Some("\"XX\"")), "STATUS", None);
    assert_eq!(reason(&s, both.as_bytes()), Reason::MissingField);
    let both = with(
        &with(LISTING, "ITEMTYPE", Some("\"XX\"")),
        "PROMISEDAYS",
        None,
    );
    assert_eq!(reason(&s, both.as_bytes()), Reason::UnknownCode);
    let both = with(
        &with(LISTING, "UPDATETIME", Some("\"2020-06-01\"")),
        "STATUS",
        Some("\"9\""),
    );
    assert_eq!(reason(&s, both.as_bytes()), Reason::BadTimestamp);
}

/// A small export mapping (snapshot rows) for the tests below.
const EXPORT: &str = r#"
name = "export"
case_kind = "work_order"
format = { kind = "csv", columns = ["id", "opened", "closed", "status", "due", "updated", "area"] }
time_zone = "America/New_York"
regions = "own"
record_id = ["id"]
case_id = "id"
version = { field = "updated" }
common.region = { field = "area" }
[stages.open]
stage = "REGISTER"
time = { field = "opened", format = "M/d/yyyy h:mm a" }
[stages.sent]
stage = "DISPATCH"
time = { field = "opened", format = "M/d/yyyy h:mm a" }
due = { field = "due", format = "M/d/yyyy h:mm a" }
[stages.done]
stage = "CLOSE"
time = { field = "closed", format = "M/d/yyyy h:mm a" }
when = { field = "status", in = ["Closed"] }
"#;

#[test]
fn export_mapping_mistakes_name_the_key() {
    let check = |from: &str, to: &str, expect: &str| {
        let text = EXPORT.replacen(from, to, 1);
        assert_ne!(text, EXPORT, "{from}");
        let e = crate::from_mapping_file(&text, key())
            .unwrap_err()
            .to_string();
        assert!(e.contains(expect), "{expect}: {e}");
    };
    crate::from_mapping_file(EXPORT, key()).unwrap();
    check(
        "[stages.sent]\nstage = \"DISPATCH\"",
        "[stages.sent]\nstage = \"SIGN\"",
        "stages.sent.due: the deadline is carried by a DISPATCH stage",
    );
    check(
        "case_kind = \"work_order\"",
        "case_kind = \"work_order\"\nencoding = \"utf-16le\"",
        "needs an encoding where quotes",
    );
    check(
        "kind = \"csv\",",
        "kind = \"csv\", separator = '；',",
        "must be an ASCII character",
    );
    check(
        "time_zone = \"America/New_York\"",
        "time_zone = \"America/Gotham\"",
        "time_zone `America/Gotham`",
    );
    check(
        "time_zone = \"America/New_York\"",
        "time_zone = \"America/New_York\"\nutc_offset = \"-05:00\"",
        "`utc_offset` or `time_zone`",
    );
    check(
        "case_id = \"id\"",
        "case_id = \"id\"\nstage_field = \"status\"",
        "`version` is for snapshot rows",
    );
    check(
        "version = { field = \"updated\" }",
        "stage_field = \"status\"",
        "stages.done.when is for snapshot rows",
    );
    check(
        "when = { field = \"status\", in = [\"Closed\"] }",
        "when = { field = \"status\" }",
        "stages.done.when needs exactly one",
    );
    check(
        "\"area\"]",
        "\"zone\"]",
        "field `area` is not one of `format.columns`",
    );
    check(
        "common.region = { field = \"area\" }",
        "common.department = { field = \"area\", fallback = \"x\" }",
        "`fallback` needs a `table`",
    );
    check(
        "regions = \"own\"",
        "regions = \"own\"\ncalendar = \"lunar\"",
        "calendar `lunar`",
    );
    check(
        "case_kind = \"work_order\"",
        "case_kind = \"application\"",
        "stages.sent.due: an explicit deadline is for work orders",
    );
    check(
        "format = \"M/d/yyyy h:mm a\" }\n[stages.sent]",
        "format = \"M/d/yyyy hh:mm\" }\n[stages.sent]",
        "stages.open.time: time format",
    );
    check(
        "kind = \"csv\",",
        "kind = \"csv\", separator = '\"',",
        "must be an ASCII character",
    );
}

#[test]
fn a_snapshot_row_gives_one_event_per_filled_stage() {
    let s = crate::from_mapping_file(EXPORT, key()).unwrap();
    let events = |row: &str| {
        let mut out = Vec::new();
        s.normalize_into(row.as_bytes(), &mut out).map(|()| out)
    };
    let evs = events("7,3/2/2020 9:05 AM,3/3/2020 4:30 PM,Closed,3/2/2020 5:00 PM,12,QN").unwrap();
    let ids: Vec<&str> = evs.iter().map(|e| e.record_id.as_str()).collect();
    assert_eq!(ids, ["7@12#done", "7@12#open", "7@12#sent"]);
    assert!(evs
        .iter()
        .all(|e| e.row_version == 12 && e.region == "QN" && e.case_id == "7"));
    assert_eq!(at(&evs[1]), "2020-03-02T09:05:00-05:00");
    assert_eq!(
        evs[2].due_us,
        Some(evs[1].event_time_us + (7 * 60 + 55) * 60 * 1_000_000)
    );
    // An open row has no closure, whatever its closed column says; a blank due date means no
    // deadline; a blank version is the lowest.
    let evs = events("7,3/2/2020 9:05 AM,3/3/2020 4:30 PM,Open,,,QN").unwrap();
    let ids: Vec<&str> = evs.iter().map(|e| e.record_id.as_str()).collect();
    assert_eq!(ids, ["7#open", "7#sent"]);
    assert_eq!(evs[0].row_version, 0, "a blank version is the lowest");
    assert!(evs[1].no_deadline && evs[1].due_us.is_none());
    // Quoted fields; a bad time anywhere rejects the whole row and gives no event.
    let evs = events("\"7\",\"3/2/2020 9:05 AM\",,\"Open, pending\",,3,\"Q\"\"N\"").unwrap();
    assert_eq!(evs[0].region, "Q\"N");
    let mut out = Vec::new();
    let e = s
        .normalize_into(b"7,3/2/2020 9:05 AM,3/3/2020 16:30,Closed,,3,QN", &mut out)
        .unwrap_err();
    assert_eq!((e.reason, out.len()), (Reason::BadTimestamp, 0));
    assert_eq!(reason(&s, b"7,,,Open,,3,QN"), Reason::MissingField);
    assert_eq!(
        reason(&s, b"7,3/2/2020 9:05 AM,,Open,,x3,QN"),
        Reason::UnknownCode
    );
    assert_eq!(
        reason(&s, b"7,3/2/2020 9:05 AM,,Open,,3"),
        Reason::MissingField
    );
    assert_eq!(
        reason(&s, b"7,\"3/2/2020 9:05 AM,,Open,,3,QN"),
        Reason::MissingField
    );
}

#[test]
fn a_header_binds_columns_by_name_in_any_order() {
    let text = EXPORT.replace(
        "format = { kind = \"csv\", columns = [\"id\", \"opened\", \"closed\", \"status\", \"due\", \"updated\", \"area\"] }",
        "format = { kind = \"csv\" }",
    );
    let s = crate::from_mapping_file(&text, key()).unwrap();
    assert!(s.is_csv() && !s.has_columns());
    // Without a header, rows cannot be read.
    assert_eq!(
        reason(&s, b"7,3/2/2020 9:05 AM,,Open,,3,QN"),
        Reason::MissingField
    );
    let bound = s
        .bind_header("\u{feff}area,extra,updated,due,status,closed,opened,id".as_bytes())
        .unwrap();
    let ev = ok(&bound, "QN,x,3,,Open,,3/2/2020 9:05 AM,7");
    assert_eq!(
        (ev.region.as_str(), ev.record_id.as_str()),
        ("QN", "7@3#open")
    );
    let e = s
        .bind_header(b"area,updated,due,status,closed,id")
        .unwrap_err()
        .to_string();
    assert!(e.contains("no column `opened`"), "{e}");
    let e = s
        .bind_header(b"area,updated,due,status,closed,opened,id,status")
        .unwrap_err()
        .to_string();
    assert!(e.contains("column `status` twice"), "{e}");
}
