//! End to end: `govstream report` over `replay`'s aggregates. The figures are recomputed here,
//! independently, from the JSON lines.

use govstream_e2e::workload::generated_aggregates;
use govstream_e2e::{run, scratch};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn replayed(dir: &Path) -> std::path::PathBuf {
    generated_aggregates(dir, "20000", "5")
}

fn report(aggs: &Path, period: &str, format: &str, lang: &str) -> String {
    let o = run(&[
        "report",
        "--aggregates",
        aggs.to_str().unwrap(),
        "--period",
        period,
        "--format",
        format,
        "--lang",
        lang,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// Sums of the MONTH records of `months` per (family, counter); snapshots of the last month.
fn sums(aggs: &Path, months: &[&str]) -> BTreeMap<(String, String), i64> {
    let mut out = BTreeMap::new();
    for l in std::fs::read_to_string(aggs).unwrap().lines() {
        let r: Value = serde_json::from_str(l).unwrap();
        if r["granularity"] != "MONTH" {
            continue;
        }
        let w = r["window"].as_str().unwrap();
        if !months.contains(&w) {
            continue;
        }
        let fam = r["family"].as_str().unwrap().to_owned();
        let last = w == *months.last().unwrap();
        for (k, v) in r["counters"].as_object().unwrap() {
            let snapshot = k == "overdue_open" || fam == "item";
            if snapshot && !last {
                continue;
            }
            *out.entry((fam.clone(), k.clone())).or_insert(0) += v.as_i64().unwrap();
        }
    }
    out
}

#[test]
fn the_report_figures_equal_the_aggregates() {
    let dir = scratch("report");
    let aggs = replayed(&dir);
    let f: Value = serde_json::from_str(&report(&aggs, "2020-Q3", "json", "zh")).unwrap();
    let s = sums(&aggs, &["2020-07", "2020-08", "2020-09"]);
    let c = |fam: &str, k: &str| s.get(&(fam.into(), k.into())).copied().unwrap_or(0);
    let rate = |fam: &str, name: &str| {
        let r = &f["headline"][fam]["rates"][name];
        (
            r["numerator"].as_i64().unwrap(),
            r["denominator"].as_i64().unwrap(),
        )
    };
    assert_eq!(
        rate("application", "on_time"),
        (c("application", "on_time"), c("application", "completed"))
    );
    assert_eq!(
        rate("application", "at_most_one_trip"),
        (
            c("application", "at_most_one_trip"),
            c("application", "completed")
        )
    );
    assert_eq!(
        rate("application", "declared_one_trip_kept"),
        (
            c("application", "declared_one_trip_kept"),
            c("application", "declared_one_trip")
        )
    );
    assert_eq!(
        rate("hotline", "closed_on_time"),
        (c("hotline", "closed_on_time"), c("hotline", "closed"))
    );
    assert_eq!(
        rate("hotline", "satisfaction"),
        (
            c("hotline", "satisfied"),
            c("hotline", "callbacks") - c("hotline", "unreachable")
        )
    );
    assert_eq!(
        rate("item", "one_trip"),
        (c("item", "one_trip_items"), c("item", "items"))
    );
    assert_eq!(
        f["headline"]["application"]["counters"]["overdue_open"]
            .as_i64()
            .unwrap(),
        c("application", "overdue_open")
    );
    assert!(c("application", "completed") > 100 && c("item", "items") > 100);
    // Rankings carry the counts; the county ranking's completions add up to the headline.
    let counties = f["counties"].as_array().unwrap();
    let total: i64 = counties
        .iter()
        .map(|r| r["application"]["counters"]["completed"].as_i64().unwrap())
        .sum();
    assert_eq!(total, c("application", "completed"));

    // The page: both languages, the headline figures as rendered text.
    let page = report(&aggs, "2020-Q3", "html", "zh");
    assert!(page.contains("政务服务时效报告") && page.contains("2020-Q3"));
    // The definitions name the calendar in force: the bundled years and the Xinjiang overlay.
    assert!(
        page.contains("2020–2026") && page.contains("CN-65"),
        "calendar in the definitions"
    );
    let (n, d) = rate("application", "on_time");
    assert!(page.contains(&format!("{:.1}%", 100.0 * n as f64 / d as f64)));
    assert!(page.contains(&format!("{n}/{d}")));
    assert!(report(&aggs, "2020-07", "html", "en").contains("Timeliness of public services"));
}

#[test]
fn an_empty_period_and_a_period_without_hotline_data_render() {
    let dir = scratch("report-empty");
    let aggs = replayed(&dir);
    let page = report(&aggs, "1999", "html", "en");
    assert!(page.contains("No data in this period"));
    assert!(!page.contains("NaN"));
    // Application records only.
    let only = dir.join("applications.ndjson");
    let text: String = std::fs::read_to_string(&aggs)
        .unwrap()
        .lines()
        .filter(|l| l.contains(r#""family":"application""#))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&only, text).unwrap();
    let page = report(&only, "2020-07", "html", "zh");
    assert!(
        page.contains("本期无数据"),
        "the hotline section says there is no data"
    );
    let f: Value = serde_json::from_str(&report(&only, "2020-07", "json", "zh")).unwrap();
    assert!(f["headline"]["hotline"]["rates"]["closed_on_time"]["value"].is_null());
    // Bad input: a clear error.
    let bad = dir.join("bad.ndjson");
    std::fs::write(&bad, "not json\n").unwrap();
    let o = run(&[
        "report",
        "--aggregates",
        bad.to_str().unwrap(),
        "--period",
        "2020",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("line 1"));
    let o = run(&[
        "report",
        "--aggregates",
        bad.to_str().unwrap(),
        "--period",
        "2020-13",
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a month"));
}
