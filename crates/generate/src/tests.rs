//! Tests of the whole generator: determinism, volume, mix, formats (checked against the real
//! normalizer), duplicates, bounded memory and the realism of the workload.

use crate::invalid::{corrupt, Defect};
use crate::{GenConfig, Generator, RawRecord, SourceKind, DUP_CAP, LATE_CAP, ORDER_CAP};
use govstream_normalize::{preset, CompiledSource, PseudonymKey};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

fn cfg(seed: u64, records: u64) -> GenConfig {
    GenConfig {
        seed,
        records,
        ..GenConfig::default()
    }
}

fn clean(seed: u64, records: u64) -> GenConfig {
    GenConfig {
        invalid_rate: 0.0,
        ..cfg(seed, records)
    }
}

fn sources() -> HashMap<SourceKind, CompiledSource> {
    let key = Arc::new(PseudonymKey::new("test-secret"));
    SourceKind::ALL
        .into_iter()
        .map(|s| (s, preset(s.name(), key.clone()).unwrap().unwrap()))
        .collect()
}

fn hash(b: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

fn json(r: &RawRecord) -> Option<serde_json::Map<String, Value>> {
    match serde_json::from_slice::<Value>(&r.bytes) {
        Ok(Value::Object(o)) => Some(o),
        _ => None,
    }
}

fn bdc_fields(r: &RawRecord) -> Option<Vec<String>> {
    let text =
        encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(&r.bytes)?;
    Some(text.split('|').map(str::to_owned).collect())
}

fn s<'a>(o: &'a serde_json::Map<String, Value>, k: &str) -> &'a str {
    o.get(k).and_then(Value::as_str).unwrap_or("")
}

/// A code that may be written as a string or a JSON integer.
fn code(o: &serde_json::Map<String, Value>, k: &str) -> String {
    match o.get(k) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a: Vec<RawRecord> = Generator::new(cfg(1, 20_000)).collect();
    let b: Vec<RawRecord> = Generator::new(cfg(1, 20_000)).collect();
    let c: Vec<RawRecord> = Generator::new(cfg(2, 20_000)).collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
    let differing = a.iter().zip(&c).filter(|(x, y)| x != y).count();
    assert!(differing > a.len() * 9 / 10, "{differing} of {}", a.len());
}

#[test]
fn volume_and_mix() {
    for n in [0u64, 1, 10, 1_000, 60_000] {
        let recs: Vec<RawRecord> = Generator::new(cfg(5, n)).collect();
        let got = recs.len() as f64;
        if n == 0 {
            assert!(recs.is_empty());
        } else if n < 1000 {
            assert!(got >= 1.0 && got <= n as f64 + 40.0, "{n}: {got}");
        } else {
            assert!((got / n as f64 - 1.0).abs() < 0.02, "{n}: {got}");
        }
        if n == 60_000 {
            let share = |k: SourceKind| recs.iter().filter(|r| r.source == k).count() as f64 / got;
            assert!((share(SourceKind::Onenet) - 0.40).abs() < 0.02);
            assert!((share(SourceKind::Hotline) - 0.35).abs() < 0.02);
            assert!((share(SourceKind::Bdc) - 0.25).abs() < 0.02);
        }
    }
    assert_eq!(SourceKind::Bdc.name(), "bdc");
    assert_eq!(SourceKind::Onenet.to_string(), "onenet");
}

#[test]
fn every_clean_record_normalizes_and_ids_are_unique() {
    let srcs = sources();
    let mut ids: HashMap<(SourceKind, String), u64> = HashMap::new();
    let mut distinct = 0usize;
    let mut copies = 0usize;
    let mut n = 0usize;
    let mut watermark = 0i64;
    for r in Generator::new(clean(11, 150_000)) {
        n += 1;
        let ev = srcs[&r.source]
            .normalize(&r.bytes)
            .unwrap_or_else(|e| panic!("{}: {e}: {}", r.source, String::from_utf8_lossy(&r.bytes)));
        assert!(
            ev.region.is_empty() || (ev.region.starts_with("6528") && ev.region.len() == 6),
            "{}",
            ev.region
        );
        watermark = watermark.max(ev.event_time_us);
        // Same record id ⇒ same bytes: ids are unique, duplicates are exact copies.
        match ids.entry((r.source, ev.record_id.clone())) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(hash(&r.bytes));
                distinct += 1;
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                assert_eq!(*o.get(), hash(&r.bytes), "id {} reused", ev.record_id);
                copies += 1;
            }
        }
    }
    assert!(n > 140_000);
    let dup = copies as f64 / distinct as f64;
    assert!((0.01..0.03).contains(&dup), "duplicate rate {dup}");
    // Events stay within a sane distance of the span (2020 plus some months).
    assert!(watermark < 1_625_097_600_000_000, "{watermark}"); // 2021-07-01
}

#[test]
fn formats_parse_and_bad_records_are_few() {
    let mut bad = 0usize;
    let mut n = 0usize;
    let mut shen = 0usize;
    for r in Generator::new(cfg(3, 100_000)) {
        n += 1;
        let ok = match r.source {
            SourceKind::Bdc => {
                if r.bytes.windows(2).any(|w| w == [0xAB, 0x7C]) {
                    shen += 1;
                }
                bdc_fields(&r).is_some_and(|f| f.len() == 9)
            }
            _ => json(&r).is_some(),
        };
        bad += usize::from(!ok);
        assert!(r.bytes.len() < 4096);
        assert!(!r.bytes.contains(&b'\n') && !r.bytes.is_empty());
    }
    // invalid_rate 0.001: some are unparseable (the others parse but are rejected later).
    assert!(bad > 0 && bad < n / 200, "{bad} of {n}");
    assert!(shen > 20, "{shen}");
    // With no invalid records, every record parses.
    for r in Generator::new(clean(3, 30_000)) {
        match r.source {
            SourceKind::Bdc => assert_eq!(bdc_fields(&r).map(|f| f.len()), Some(9)),
            _ => assert!(json(&r).is_some()),
        }
    }
}

#[test]
fn each_defect_gets_its_rejection_reason() {
    let srcs = sources();
    let mut rng = crate::rng::Rng::new(99);
    let mut seen: HashSet<(SourceKind, &str)> = HashSet::new();
    for r in Generator::new(clean(21, 20_000)) {
        for d in Defect::ALL {
            let bad = corrupt(r.source, &r.bytes, d, &mut rng);
            assert!(bad.len() < 1_048_576);
            let got = match srcs[&r.source].normalize(&bad) {
                Ok(_) => panic!(
                    "{d:?} accepted: {}\nfrom {}",
                    String::from_utf8_lossy(&bad),
                    String::from_utf8_lossy(&r.bytes)
                ),
                Err(e) => e.reason.code(),
            };
            assert_eq!(
                got,
                d.reason(r.source),
                "{d:?}: {}\nfrom {}",
                String::from_utf8_lossy(&bad),
                String::from_utf8_lossy(&r.bytes)
            );
            seen.insert((r.source, got));
        }
    }
    assert_eq!(seen.len(), 6 + 6 + 5);
    // In a stream, about invalid_rate of the records are rejected.
    let rejected = Generator::new(GenConfig {
        invalid_rate: 0.05,
        ..cfg(4, 40_000)
    })
    .filter(|r| srcs[&r.source].normalize(&r.bytes).is_err())
    .count();
    assert!((1_600..2_400).contains(&rejected), "{rejected}");
}

#[test]
fn duplicates_are_exact_and_sometimes_far_apart() {
    let recs: Vec<RawRecord> = Generator::new(cfg(8, 100_000)).collect();
    let mut first: HashMap<u64, usize> = HashMap::new();
    let mut dups = 0usize;
    let mut far = 0usize;
    for (i, r) in recs.iter().enumerate() {
        match first.get(&hash(&r.bytes)) {
            Some(&j) => {
                assert_eq!(recs[j], *r);
                dups += 1;
                if i - j > 10_000 {
                    far += 1;
                }
            }
            None => {
                first.insert(hash(&r.bytes), i);
            }
        }
    }
    let rate = dups as f64 / recs.len() as f64;
    assert!((0.015..0.025).contains(&rate), "{rate}");
    assert!(far > 50, "{far}");
    // No duplicates when the rate is 0.
    let mut seen = HashSet::new();
    for r in Generator::new(GenConfig {
        duplicate_rate: 0.0,
        ..cfg(8, 20_000)
    }) {
        assert!(seen.insert(hash(&r.bytes)));
    }
}

#[test]
fn buffers_stay_bounded() {
    // Dense: 200k records in two days saturates the arrival-order buffer.
    for (records, days) in [(200_000u64, 2u32), (200_000, 366)] {
        let mut g = Generator::new(GenConfig {
            days,
            late_rate: 0.2,
            duplicate_rate: 0.2,
            ..cfg(13, records)
        });
        let mut n = 0u64;
        let mut peak = [0usize; 5];
        while g.next().is_some() {
            n += 1;
            let b = g.buffered();
            for (p, x) in peak.iter_mut().zip(b) {
                *p = (*p).max(x);
            }
        }
        assert!(peak[0] <= ORDER_CAP + 64, "{peak:?}");
        assert!(peak[1] <= LATE_CAP, "{peak:?}");
        assert!(peak[2] <= DUP_CAP, "{peak:?}");
        assert!(peak[3] <= 64 && peak[4] <= 256, "{peak:?}");
        assert!((n as f64 / records as f64 - 1.0).abs() < 0.05, "{n}");
        // The per-day counters are bounded by the span.
        assert_eq!(g.gen.day_slots(), days as usize + 64);
    }
}

/// Counts of interesting values over a clean workload.
#[derive(Default)]
struct Census {
    values: HashMap<String, usize>,
}

impl Census {
    fn add(&mut self, k: impl Into<String>) {
        *self.values.entry(k.into()).or_default() += 1;
    }
    fn get(&self, k: &str) -> usize {
        self.values.get(k).copied().unwrap_or(0)
    }
}

#[test]
fn the_workload_is_realistic() {
    let mut c = Census::default();
    let mut office = 0usize;
    let mut timed = 0usize;
    let mut sl_seen: HashSet<String> = HashSet::new();
    let mut bj_before_sl = 0usize;
    let mut bj_seen: HashSet<String> = HashSet::new();
    for r in Generator::new(clean(17, 200_000)) {
        match r.source {
            SourceKind::Hotline => {
                let o = json(&r).unwrap();
                let action = s(&o, "action");
                c.add(format!("action {action}"));
                let id = s(&o, "eventId");
                assert_eq!(id.len(), 36);
                let order = s(&o, "orderNo");
                assert!(order.starts_with("BZ202") && order.len() == 15, "{order}");
                if action == "REGISTER" {
                    let caller = o["caller"].as_object().unwrap();
                    let phone = caller["phone"].as_str().unwrap();
                    assert!(phone.len() == 11 && phone.starts_with('1'), "{phone}");
                    if let Some(name) = caller.get("name") {
                        assert!(name.as_str().unwrap().chars().all(|ch| !ch.is_ascii()));
                    }
                    assert!(s(&o, "content").chars().count() > 5);
                    c.add(format!("category {}", s(&o, "category")));
                    c.add(format!("channel {}", s(&o, "channel")));
                    c.add(format!("area {}", s(&o, "areaCode").len()));
                }
                if action == "DISPATCH" && o.contains_key("signLimitHours") {
                    c.add("signLimitHours");
                }
                if action == "CALLBACK" {
                    c.add(format!("satisfaction {}", s(&o, "satisfaction")));
                }
            }
            SourceKind::Onenet => {
                let o = json(&r).unwrap();
                let info = s(&o, "INFOTYPE");
                c.add(format!("info {info}"));
                let proj = s(&o, "PROJID").to_owned();
                assert_eq!(proj.len(), 20);
                assert!(proj.bytes().all(|b| b.is_ascii_digit()));
                match info {
                    "SB" => {
                        c.add(format!("applytype {}", code(&o, "APPLYTYPE")));
                        c.add(format!("area {}", s(&o, "AREACODE").len()));
                        assert_eq!(s(&o, "CERTNO").len(), 18);
                        assert!(!s(&o, "APPLICANT").is_empty());
                        assert_eq!(s(&o, "TASKCODE").len(), 31);
                    }
                    "SL" => {
                        c.add(format!("itemtype {}", s(&o, "ITEMTYPE")));
                        c.add(format!("promisetype {}", code(&o, "PROMISETYPE")));
                        let days: u32 = code(&o, "PROMISEDAYS").parse().unwrap();
                        assert!(days <= 20);
                        let t = s(&o, "ACCEPTTIME");
                        let h: u32 = t[11..13].parse().unwrap();
                        timed += 1;
                        office += usize::from((9..18).contains(&h));
                        if bj_seen.contains(&proj) {
                            bj_before_sl += 1;
                        }
                        sl_seen.insert(proj);
                    }
                    "GC" => {
                        c.add(format!("step {}", s(&o, "STEPTYPE")));
                        c.add(format!("onsite {}", code(&o, "ONSITE")));
                    }
                    "BJ" => {
                        c.add(format!("result {}", code(&o, "RESULT")));
                        c.add(format!("delivery {}", code(&o, "DELIVERY")));
                        bj_seen.insert(proj);
                    }
                    _ => c.add(format!("eval {}", code(&o, "EVALLEVEL"))),
                }
            }
            SourceKind::Bdc => {
                let f = bdc_fields(&r).unwrap();
                c.add(format!("zt {}", f[2]));
                c.add(format!("djlx {}", f[1]));
                assert_eq!(f[3].len(), 14);
                assert!(f[5].contains("不动产登记"), "{}", f[5]);
            }
        }
    }
    let all = |prefix: &str, values: &[&str]| {
        for v in values {
            assert!(c.get(&format!("{prefix} {v}")) > 0, "no {prefix} {v}");
        }
    };
    all(
        "action",
        &[
            "REGISTER", "ANSWER", "DISPATCH", "SIGN", "RETURN", "URGE", "EXTEND", "REPLY", "CLOSE",
            "CALLBACK", "REOPEN",
        ],
    );
    all(
        "category",
        &[
            "CONSULT",
            "HELP",
            "COMPLAINT",
            "REPORT",
            "SUGGESTION",
            "PRAISE",
        ],
    );
    all("channel", &["PHONE", "WEB", "APP", "WECHAT", "SMS"]);
    all(
        "satisfaction",
        &[
            "VERY_SATISFIED",
            "SATISFIED",
            "BASICALLY_SATISFIED",
            "DISSATISFIED",
            "UNREACHABLE",
        ],
    );
    all("info", &["SB", "SL", "GC", "BJ", "PJ"]);
    all("applytype", &["1", "2", "3", "4"]);
    all("itemtype", &["JB", "CN"]);
    all("promisetype", &["1", "2", ""]);
    all("step", &["NORMAL", "SUSPEND", "RESUME"]);
    all("onsite", &["0", "1"]);
    all("result", &["1", "2", "3"]);
    all("delivery", &["1", "2", "3", ""]);
    all("eval", &["1", "2", "3", "4", "5"]);
    all("zt", &["01", "02", "03", "04", "05", "06", "99"]);
    all("djlx", &["100", "200", "300", "400", "500"]);
    all("area", &["6", "12"]);
    assert!(c.get("signLimitHours") > 0);
    // About 30% of the orders are answered directly.
    let direct = c.get("action ANSWER") as f64 / c.get("action REGISTER") as f64;
    assert!((0.25..0.40).contains(&direct), "{direct}");
    // Some SUSPEND never resumed.
    assert!(c.get("step SUSPEND") > c.get("step RESUME"));
    // Some orders are not closed (yet); some callbacks are unsatisfied.
    assert!(c.get("action CLOSE") < c.get("action REGISTER"));
    // Acceptances are mostly in office hours.
    assert!(office as f64 > 0.8 * timed as f64, "{office} of {timed}");
    // Some results arrive before their acceptance.
    assert!(bj_before_sl > 10, "{bj_before_sl}");
    // Some SB records are missing.
    assert!(c.get("info SB") < c.get("info SL"));
}

#[test]
fn clean_stream_is_roughly_in_arrival_order() {
    // At low density (200k records a year) the arrival-order buffer never fills: apart from the
    // deliberate late records, duplicates and the reorder window, event times rise with the
    // stream.
    let mut backwards = 0usize;
    let mut n = 0usize;
    let mut last_day = String::new();
    for r in Generator::new(GenConfig {
        late_rate: 0.0,
        duplicate_rate: 0.0,
        shuffle_window: 0,
        ..clean(23, 50_000)
    }) {
        if r.source != SourceKind::Hotline {
            continue;
        }
        let o = json(&r).unwrap();
        let t = s(&o, "time");
        if t.ends_with('Z') {
            continue;
        }
        let day = t[..10].to_owned();
        n += 1;
        if day < last_day {
            backwards += 1;
        }
        last_day = day;
    }
    assert!(backwards < n / 20, "{backwards} of {n}");
}

#[test]
#[ignore = "timing; run with --release -- --ignored --nocapture"]
fn throughput() {
    let n = 3_000_000u64;
    let start = std::time::Instant::now();
    let mut bytes = 0usize;
    let mut count = 0u64;
    for r in Generator::new(cfg(1, n)) {
        bytes += r.bytes.len();
        count += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{count} records, {:.1} MB in {secs:.2} s: {:.2} M records/s, {:.0} MB/s",
        bytes as f64 / 1e6,
        count as f64 / secs / 1e6,
        bytes as f64 / 1e6 / secs
    );
}

#[test]
fn reference_data_needs_no_escaping() {
    use crate::data::*;
    let mut all: Vec<&str> = Vec::new();
    for c in COUNTIES {
        all.extend([c.code, c.name, c.short]);
        all.extend(c.places);
    }
    for d in DEPTS {
        all.extend([d.abbr, d.pattern]);
        all.extend(d.items);
    }
    for t in HOTLINE_TEMPLATES {
        all.push(t.2);
    }
    // (HOTLINE_TAILS deliberately contain characters that need escaping.)
    for list in [
        TOWNSHIP_SUFFIXES,
        COMMUNITIES,
        REPLY_TEXTS,
        RETURN_REASONS,
        EXTEND_REASONS,
        URGE_REASONS,
        STEP_NORMAL,
        STEP_ONSITE,
        STEP_SUSPEND,
        STEP_RESUME,
        EVAL_GOOD,
        EVAL_BAD,
        BDC_OFFICES,
        KORLA_EXTRA_OFFICES,
        SURNAMES,
        GIVEN,
        UYGHUR_MALE,
        UYGHUR_FEMALE,
        MONGOL,
        COMPANY_WORDS,
        COMPANY_TRADES,
        ORIGIN_CODES,
        MOBILE_PREFIXES,
    ] {
        all.extend(list);
    }
    for s in all {
        assert!(
            !s.chars()
                .any(|c| c == '"' || c == '\\' || c == '|' || c.is_control()),
            "{s}"
        );
    }
}
