//! End to end: a city's snapshot export (CSV with a header, one row = several events, local
//! times of a zone with daylight saving time) through `normalize` and `replay`, with the
//! shipped NYC 311 mapping (deploy/mappings/nyc311.toml) and the fixtures in
//! tests/fixtures/nyc311 (export-2.csv is a re-export of export-1.csv: columns reordered,
//! request 45000003 closed late, request 45000002 reopened).

use govstream_e2e::{read_ndjson, run, scratch};
use serde_json::Value;
use std::path::Path;

const MAPPING: &str = "deploy/mappings/nyc311.toml";
const EXPORT_1: &str = "tests/fixtures/nyc311/export-1.csv";
const EXPORT_2: &str = "tests/fixtures/nyc311/export-2.csv";

fn replay(name: &str, exports: &[&str]) -> (std::path::PathBuf, Vec<Value>) {
    let out = scratch(name);
    let mut args = vec![
        "replay",
        "--mapping",
        MAPPING,
        "--time-zone",
        "America/New_York",
    ];
    let sources: Vec<String> = exports.iter().map(|e| format!("nyc311={e}")).collect();
    for s in &sources {
        args.extend(["--source", s.as_str()]);
    }
    args.extend(["--out", out.to_str().unwrap()]);
    let o = run(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let recs = read_ndjson(&out.join("aggregates.ndjson"));
    (out, recs)
}

/// The sum of a hotline counter over the MONTH records (every window, or one).
fn month_total(recs: &[Value], counter: &str, window: Option<&str>) -> u64 {
    recs.iter()
        .filter(|r| r["family"] == "hotline" && r["granularity"] == "MONTH")
        .filter(|r| window.is_none_or(|w| r["window"] == w))
        .map(|r| r["counters"][counter].as_u64().unwrap())
        .sum()
}

fn day_counter(recs: &[Value], day: &str, region: &str, counter: &str) -> u64 {
    recs.iter()
        .filter(|r| r["family"] == "hotline" && r["granularity"] == "DAY")
        .filter(|r| r["window"] == day && r["region"] == region)
        .map(|r| r["counters"][counter].as_u64().unwrap())
        .sum()
}

#[test]
fn a_311_export_gives_hotline_aggregates_against_its_due_dates() {
    let (_, recs) = replay("export-1", &[EXPORT_1]);
    // 9 requests accepted (a row repeated in the export is a duplicate).
    assert_eq!(month_total(&recs, "received", None), 9);
    assert_eq!(month_total(&recs, "dispatched", None), 9);
    // Closed: 45000001 (after its due date), 45000002 (03:30 on the night of the spring
    // change, on time), 45000004 (no due date: on time), 45000005 (due before it was even
    // created: late), 45000006 (in the repeated hour of the autumn change, on time). Not:
    // 45000009, Closed without a Closed Date; 45000003 Open; 45000007 Pending.
    assert_eq!(month_total(&recs, "closed", None), 5);
    assert_eq!(month_total(&recs, "closed_on_time", None), 3);
    // Durations on a Monday-Friday calendar in New York time: 45000001 from Monday 09:15 to
    // Tuesday 16:30 = 31.25 h; 45000004 and 45000005 one hour each; the weekend ones 0.
    let (count, sum) = recs
        .iter()
        .filter(|r| r["family"] == "hotline" && r["granularity"] == "MONTH")
        .fold((0, 0.0), |(c, s), r| {
            (
                c + r["duration"]["count"].as_u64().unwrap(),
                s + r["duration"]["sum"].as_f64().unwrap(),
            )
        });
    assert_eq!(count, 5);
    let want = (31.25 + 1.0 + 1.0) / 24.0;
    assert!((sum - want).abs() < 1e-9, "{sum} != {want}");
    // Overdue at the end of March: 45000003 (due 03/06), 45000007 (due 03/09) and 45000009
    // (due 03/18); 45000012 has no due date and is never overdue.
    assert_eq!(month_total(&recs, "overdue_open", Some("2020-03")), 3);
    // 45000003 (Bronx) is overdue from the end of its due day on, not before.
    assert_eq!(day_counter(&recs, "2020-03-05", "BX", "overdue_open"), 0);
    assert_eq!(day_counter(&recs, "2020-03-06", "BX", "overdue_open"), 1);
    // Daylight saving time: 02:30 on 2020-03-08 does not exist in New York and is read as
    // 03:30 EDT, the same day; windows are New York days.
    assert_eq!(day_counter(&recs, "2020-03-08", "QN", "received"), 1);
    assert_eq!(day_counter(&recs, "2020-03-07", "BK", "received"), 1);
    assert_eq!(day_counter(&recs, "2020-11-01", "MN", "received"), 1);
    // Own region codes (boroughs) and `Unspecified` values.
    let regions: std::collections::BTreeSet<&str> =
        recs.iter().filter_map(|r| r["region"].as_str()).collect();
    assert_eq!(
        regions.into_iter().collect::<Vec<_>>(),
        ["BK", "BX", "MN", "QN", "SI", "unspecified"]
    );
}

#[test]
fn normalize_reports_every_unusable_row_with_its_line_and_reason() {
    let out = scratch("export-normalize");
    let o = run(&[
        "normalize",
        "--mapping",
        MAPPING,
        "--source",
        &format!("nyc311={EXPORT_1}"),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rejected = read_ndjson(&out.join("rejected.ndjson"));
    let got: Vec<(u64, &str)> = rejected
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    // Line 10: an ISO date in a 12-hour column; line 12: a truncated row; line 15: a quote
    // never closed (the row runs to the end of the file). Lines 3-4 are one row (a quoted
    // line break).
    assert_eq!(
        got,
        [
            (10, "bad_timestamp"),
            (12, "missing_field"),
            (15, "missing_field")
        ]
    );
    let details: Vec<&str> = rejected
        .iter()
        .map(|r| r["detail"].as_str().unwrap())
        .collect();
    assert!(details[0].contains("`Created Date`"), "{details:?}");
    assert!(details[1].contains("header has 19"), "{details:?}");
    assert!(details[2].contains("never closed"), "{details:?}");
    let events = read_ndjson(&out.join("normalized.ndjson"));
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let s = &summary["sources"]["nyc311"];
    // 13 records (16 lines: the header, a row over two lines, one to the end), 10 accepted,
    // giving 26 events (2 or 3 per row), 3 of them copies of the repeated row.
    assert_eq!(
        (s["read"].as_u64(), s["accepted"].as_u64()),
        (Some(13), Some(10))
    );
    assert_eq!(
        (s["normalized"].as_u64(), s["duplicates"].as_u64()),
        (Some(26), Some(3))
    );
    assert_eq!(events.len(), 23);
    // The repeated hour of 2020-11-01: 01:30 is read as its first occurrence (EDT).
    let created = events
        .iter()
        .find(|e| e["caseId"] == "45000006" && e["stage"] == "STAGE_REGISTER")
        .unwrap();
    assert_eq!(created["eventTimeUs"], "1604208600000000");
    assert_eq!(created["utcOffsetS"], -14400);
    // Derived ids: the row id, its version and the stage key; no personal or free text.
    assert!(created["recordId"]
        .as_str()
        .unwrap()
        .starts_with("45000006@"));
    let text = std::fs::read_to_string(out.join("normalized.ndjson")).unwrap();
    for free_text in [
        "MAIN STREET",
        "took action",
        "Loud Music",
        "Department of Sanitation",
    ] {
        assert!(!text.contains(free_text), "{free_text} leaked");
    }
}

#[test]
fn a_re_export_gives_the_same_aggregates_after_before_or_alone() {
    let (_, after) = replay("export-after", &[EXPORT_1, EXPORT_2]);
    let (out, before) = replay("export-before", &[EXPORT_2, EXPORT_1]);
    let (_, alone) = replay("export-alone", &[EXPORT_2]);
    assert_eq!(after, alone, "re-export replayed after the first export");
    assert_eq!(before, alone, "re-export replayed before the first export");
    // And what changed did change: 45000003 closed late, 45000002's closure retracted.
    assert_eq!(month_total(&alone, "closed", None), 5);
    assert_eq!(month_total(&alone, "closed_on_time", None), 2);
    assert_eq!(day_counter(&alone, "2020-03-09", "BX", "overdue_open"), 0);
    assert_eq!(day_counter(&alone, "2020-03-08", "BX", "overdue_open"), 1);
    assert_eq!(day_counter(&alone, "2020-03-15", "BK", "overdue_open"), 1);
    assert_eq!(day_counter(&alone, "2020-03-18", "BK", "overdue_open"), 2);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    // The older rows of the two changed requests arrived second: their events were superseded.
    assert_eq!(summary["sources"]["nyc311"]["superseded"], 5);
}

#[test]
fn a_header_without_a_column_the_mapping_uses_is_an_error_naming_it() {
    let dir = scratch("export-bad-header");
    let csv = dir.join("export.csv");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(EXPORT_1),
    )
    .unwrap()
    .replacen("Due Date", "Due", 1);
    std::fs::write(&csv, text).unwrap();
    let o = run(&[
        "normalize",
        "--mapping",
        MAPPING,
        "--source",
        &format!("nyc311={}", csv.display()),
        "--out",
        dir.join("out").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no column `Due Date`"), "{err}");
    assert!(err.contains("line 1"), "{err}");
}

/// A 12345 platform's nightly export (deploy/mappings/hotline-export.toml): GB18030 CSV with a
/// quoted line break in the complaint text, unpadded Beijing times, the caller's number, GB/T
/// 2260 regions and the national calendar.
#[test]
fn a_12345_export_in_gb18030_with_unpadded_times() {
    let mapping = "deploy/mappings/hotline-export.toml";
    let export = "tests/fixtures/hotline-export/export.csv";
    let out = scratch("hotline-export");
    let o = run(&[
        "replay",
        "--mapping",
        mapping,
        "--source",
        &format!("hotline_export={export}"),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let recs = read_ndjson(&out.join("aggregates.ndjson"));
    let month = |c: &str| month_total(&recs, c, Some("2020-07"));
    // Four orders accepted; three dispatched; two closed, both within their limits (GD1: 5
    // working days from Sunday 7/5, closed Wednesday; GD4: 10 from 7/7, closed 7/20).
    assert_eq!(month("received"), 4);
    assert_eq!(month("dispatched"), 3);
    assert_eq!((month("closed"), month("closed_on_time")), (2, 2));
    // GD3 (3 working days from Monday 7/6: due by the end of 7/9) is still open.
    assert_eq!(month("overdue_open"), 1);
    let day = |d: &str| day_counter(&recs, d, "652801", "overdue_open");
    assert_eq!((day("2020-07-09"), day("2020-07-10")), (0, 1));
    // GD1's duration on the national calendar: Sunday counts nothing, Monday and Tuesday 24 h
    // each, Wednesday until 16:00.
    let gd1 = recs
        .iter()
        .find(|r| {
            r["granularity"] == "DAY" && r["window"] == "2020-07-08" && r["dept"] == "652801-ZJJ"
        })
        .unwrap();
    let sum = gd1["duration"]["sum"].as_f64().unwrap();
    assert!((sum - 64.0 / 24.0).abs() < 1e-9, "{sum}");
    // The order in a time format the mapping does not know, on line 7 (GD1's row spans 2-3).
    let rejected = read_ndjson(&out.join("rejected.ndjson"));
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        (rejected[0]["line"].as_u64(), rejected[0]["reason"].as_str()),
        (Some(7), Some("bad_timestamp"))
    );

    // Normalized events: the caller's number only as the keyed pseudonym; no name, no text.
    let ev_dir = scratch("hotline-export-events");
    let o = run(&[
        "normalize",
        "--mapping",
        mapping,
        "--source",
        &format!("hotline_export={export}"),
        "--out",
        ev_dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(ev_dir.join("normalized.ndjson")).unwrap();
    for personal in ["13912345678", "张伟", "噪音", "人民东路"] {
        assert!(!text.contains(personal), "{personal} leaked");
    }
    let events = read_ndjson(&ev_dir.join("normalized.ndjson"));
    let reg = events
        .iter()
        .find(|e| e["caseId"] == "GD2020070500001" && e["stage"] == "STAGE_REGISTER")
        .unwrap();
    assert_eq!(reg["callerPseudonym"].as_str().map(str::len), Some(64));
    assert_eq!(reg["utcOffsetS"], 28800);
}
