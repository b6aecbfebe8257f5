//! The figures of a period, computed from final aggregates (canonical JSON lines).
//!
//! Sums over a period come from the `MONTH` records of its months; snapshots (`overdue_open`,
//! family `item`) are those of the period's last month (taken at its end, or at the end of the
//! watermark's day for the current month). Every rate keeps its numerator and denominator; a
//! rate without cases has no value (`None`), never 0 or 1.

use govstream_engine::schema::{self, Family, RATES};
use govstream_engine::{BUCKETS, COUNTERS};
use serde::Serialize;
use std::collections::BTreeMap;

/// A line that is not an aggregate record in the canonical JSON rendering.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {what}")]
pub struct InputError {
    pub line: u64,
    pub what: String,
}

/// One aggregate record, as the report needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub family: Family,
    pub month: bool,
    /// `yyyy-MM-dd` or `yyyy-MM`.
    pub window: String,
    pub region: String,
    pub dept: String,
    /// Canonical order (`schema`), `overdue_open` apart.
    pub counters: [i64; COUNTERS],
    pub overdue_open: i64,
    /// Cumulative bucket counts.
    pub buckets: Vec<u64>,
}

impl Record {
    /// Parses one canonical JSON line (`line` numbers errors).
    pub fn parse(text: &str, line: u64) -> Result<Record, InputError> {
        let bad = |what: &str| InputError {
            line,
            what: what.to_owned(),
        };
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(&format!("not JSON: {e}")))?;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str());
        let family = s("family")
            .and_then(Family::from_name)
            .ok_or_else(|| bad("no known `family`"))?;
        let month = match s("granularity") {
            Some("MONTH") => true,
            Some("DAY") => false,
            _ => return Err(bad("no `granularity` DAY or MONTH")),
        };
        let window = s("window").ok_or_else(|| bad("no `window`"))?.to_owned();
        let counters_v = v
            .get("counters")
            .and_then(|c| c.as_object())
            .ok_or_else(|| bad("no `counters`"))?;
        let mut counters = [0i64; COUNTERS];
        for (i, name) in family.counter_names().iter().enumerate() {
            counters[i] = counters_v.get(*name).and_then(|x| x.as_i64()).unwrap_or(0);
        }
        let overdue_open = counters_v
            .get(schema::OVERDUE_OPEN)
            .and_then(|x| x.as_i64())
            .unwrap_or(0);
        let buckets = v
            .pointer("/duration/buckets")
            .and_then(|b| b.as_array())
            .map(|b| b.iter().filter_map(|x| x.as_u64()).collect())
            .unwrap_or_default();
        Ok(Record {
            family,
            month,
            window,
            region: s("region").unwrap_or_default().to_owned(),
            dept: s("dept").unwrap_or_default().to_owned(),
            counters,
            overdue_open,
            buckets,
        })
    }
}

/// A calendar period: a month, a quarter or a year.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Period {
    Month { year: i32, month: u32 },
    Quarter { year: i32, quarter: u32 },
    Year { year: i32 },
}

impl Period {
    /// `2020-07`, `2020-Q3` or `2020`.
    pub fn parse(s: &str) -> Option<Period> {
        let year = |y: &str| {
            (y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
                .then(|| y.parse().ok())
                .flatten()
        };
        if let Some((y, q)) = s.split_once("-Q") {
            let quarter: u32 = q.parse().ok().filter(|q| (1..=4).contains(q))?;
            return Some(Period::Quarter {
                year: year(y)?,
                quarter,
            });
        }
        if let Some((y, m)) = s.split_once('-') {
            let month: u32 = (m.len() == 2)
                .then(|| m.parse().ok())
                .flatten()
                .filter(|m| (1..=12).contains(m))?;
            return Some(Period::Month {
                year: year(y)?,
                month,
            });
        }
        Some(Period::Year { year: year(s)? })
    }

    /// Its months as `yyyy-MM`, in order.
    pub fn months(self) -> Vec<String> {
        let (y, first, n) = match self {
            Period::Month { year, month } => (year, month, 1),
            Period::Quarter { year, quarter } => (year, (quarter - 1) * 3 + 1, 3),
            Period::Year { year } => (year, 1, 12),
        };
        (first..first + n)
            .map(|m| format!("{y:04}-{m:02}"))
            .collect()
    }

    /// The period just before (same length).
    pub fn previous(self) -> Period {
        match self {
            Period::Month { year, month: 1 } => Period::Month {
                year: year - 1,
                month: 12,
            },
            Period::Month { year, month } => Period::Month {
                year,
                month: month - 1,
            },
            Period::Quarter { year, quarter: 1 } => Period::Quarter {
                year: year - 1,
                quarter: 4,
            },
            Period::Quarter { year, quarter } => Period::Quarter {
                year,
                quarter: quarter - 1,
            },
            Period::Year { year } => Period::Year { year: year - 1 },
        }
    }

    /// As written on the command line.
    pub fn name(self) -> String {
        match self {
            Period::Month { year, month } => format!("{year:04}-{month:02}"),
            Period::Quarter { year, quarter } => format!("{year:04}-Q{quarter}"),
            Period::Year { year } => format!("{year:04}"),
        }
    }
}

/// A rate with what it is made of; `value` is `None` when the denominator is not positive.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RateFigure {
    pub numerator: i64,
    pub denominator: i64,
    pub value: Option<f64>,
}

fn rate(family: Family, name: &str, c: &[i64; COUNTERS]) -> RateFigure {
    let r = schema::rate(family, name);
    let (numerator, denominator) = (r.parts)(c);
    RateFigure {
        numerator,
        denominator,
        value: r.value(c),
    }
}

/// Counter sums (or snapshots) of one family, by counter name, and its rates by name.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FamilyFigures {
    pub counters: BTreeMap<&'static str, i64>,
    pub rates: BTreeMap<&'static str, RateFigure>,
}

impl FamilyFigures {
    fn of(family: Family, c: &[i64; COUNTERS], overdue: Option<i64>) -> FamilyFigures {
        let mut counters: BTreeMap<&'static str, i64> = family
            .counter_names()
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, c[i]))
            .collect();
        if let Some(o) = overdue {
            counters.insert(schema::OVERDUE_OPEN, o);
        }
        let rates = RATES
            .iter()
            .filter(|r| r.family == family)
            .map(|r| (r.name, rate(family, r.name, c)))
            .collect();
        FamilyFigures { counters, rates }
    }
}

/// The headline figures of a period: per family, sums over its months (snapshots at its end).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Headline {
    pub application: FamilyFigures,
    pub hotline: FamilyFigures,
    pub item: FamilyFigures,
    /// Whether any record of the family falls in the period.
    pub has_application: bool,
    pub has_hotline: bool,
    pub has_item: bool,
}

/// One county or department of a ranking, with the counts behind its rates.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RankRow {
    pub region: String,
    /// Empty in the county ranking.
    pub dept: String,
    pub application: FamilyFigures,
    pub hotline: FamilyFigures,
}

/// One month of the trends.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MonthPoint {
    pub month: String,
    pub application: FamilyFigures,
    pub hotline: FamilyFigures,
}

/// Everything the report shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figures {
    pub period: String,
    pub previous_period: String,
    pub headline: Headline,
    pub previous: Headline,
    /// Counties, worst on-time completion first (then worst on-time closure); rows with fewer
    /// than [`MIN_RANKED_CASES`] cases after the others.
    pub counties: Vec<RankRow>,
    /// Departments (region, dept), worst first, as counties.
    pub departments: Vec<RankRow>,
    /// The period's months, and as many before, for the trend charts.
    pub trend: Vec<MonthPoint>,
    /// Completed applications by duration (non-cumulative counts per bucket: ≤ 0.5, ≤ 1, ≤ 2,
    /// ≤ 3, ≤ 5, ≤ 10, ≤ 20, ≤ 60, ≤ 120 working days, more).
    pub application_durations: [u64; BUCKETS],
    pub hotline_durations: [u64; BUCKETS],
    /// The working-day calendar the aggregates were computed with, as the report's reader
    /// should know it (set by the caller: the aggregates do not carry it).
    pub calendar: CalendarNote,
}

/// The calendar behind the figures: national years with data, regional overlays, the offset.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CalendarNote {
    pub national_years: Vec<i32>,
    /// (region prefix, calendar name).
    pub overlays: Vec<(String, String)>,
    /// `±hh:mm` of local time (windows, working days).
    pub utc_offset: String,
}

#[derive(Default)]
struct Acc {
    counters: [[i64; COUNTERS]; 3],
    /// Snapshots of the last month seen, per family.
    overdue: [i64; 3],
    has: [bool; 3],
}

impl Acc {
    fn add(&mut self, r: &Record, last_month: bool) {
        let f = r.family.index();
        self.has[f] = true;
        if r.family.of_cases() {
            for (a, b) in self.counters[f].iter_mut().zip(r.counters) {
                *a += b;
            }
            if last_month {
                self.overdue[f] += r.overdue_open;
            }
        } else if last_month {
            // Family `item`: snapshots, at the period's end.
            for (a, b) in self.counters[f].iter_mut().zip(r.counters) {
                *a += b;
            }
        }
    }

    fn headline(&self) -> Headline {
        Headline {
            application: FamilyFigures::of(
                Family::Application,
                &self.counters[0],
                Some(self.overdue[0]),
            ),
            hotline: FamilyFigures::of(Family::Hotline, &self.counters[1], Some(self.overdue[1])),
            item: FamilyFigures::of(Family::Item, &self.counters[2], None),
            has_application: self.has[0],
            has_hotline: self.has[1],
            has_item: self.has[2],
        }
    }
}

/// Below this many completed applications plus closed work orders, a row's rates say little:
/// such rows are ranked after the others.
pub const MIN_RANKED_CASES: i64 = 10;

fn worst_first(rows: &mut [RankRow]) {
    let key = |r: &RankRow| {
        let v = |f: &FamilyFigures, n: &str| f.rates.get(n).and_then(|r| r.value);
        let c = |f: &FamilyFigures, n: &str| f.counters.get(n).copied().unwrap_or(0);
        let few = c(&r.application, "completed") + c(&r.hotline, "closed") < MIN_RANKED_CASES;
        (
            if few { 1.0 } else { 0.0 },
            v(&r.application, "on_time").unwrap_or(f64::INFINITY),
            v(&r.hotline, "closed_on_time").unwrap_or(f64::INFINITY),
        )
    };
    rows.sort_by(|a, b| {
        key(a)
            .partial_cmp(&key(b))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| (&a.region, &a.dept).cmp(&(&b.region, &b.dept)))
    });
}

/// The figures of `period` from aggregate records (DAY records are not needed and ignored).
pub fn figures(records: &[Record], period: Period) -> Figures {
    let months = period.months();
    let last = months.last().cloned().unwrap_or_default();
    let prev = period.previous();
    let prev_months = prev.months();
    let prev_last = prev_months.last().cloned().unwrap_or_default();
    let mut now = Acc::default();
    let mut before = Acc::default();
    let mut counties: BTreeMap<String, Acc> = BTreeMap::new();
    let mut departments: BTreeMap<(String, String), Acc> = BTreeMap::new();
    // The trend: the period's months and as many before it.
    let mut trend_months = prev_months.clone();
    trend_months.extend(months.iter().cloned());
    let mut trend: BTreeMap<String, Acc> = trend_months
        .iter()
        .map(|m| (m.clone(), Acc::default()))
        .collect();
    let mut durations = [[0u64; BUCKETS]; 2];
    for r in records.iter().filter(|r| r.month) {
        if let Some(t) = trend.get_mut(&r.window) {
            t.add(r, true);
        }
        if prev_months.contains(&r.window) {
            before.add(r, r.window == prev_last);
        }
        if !months.contains(&r.window) {
            continue;
        }
        let is_last = r.window == last;
        now.add(r, is_last);
        if r.family.of_cases() {
            counties
                .entry(r.region.clone())
                .or_default()
                .add(r, is_last);
            departments
                .entry((r.region.clone(), r.dept.clone()))
                .or_default()
                .add(r, is_last);
            let d = &mut durations[r.family.index()];
            let mut prev_cum = 0u64;
            for (i, c) in r.buckets.iter().take(BUCKETS).enumerate() {
                d[i] += c.saturating_sub(prev_cum);
                prev_cum = *c;
            }
        }
    }
    let row = |region: String, dept: String, a: &Acc| {
        let h = a.headline();
        RankRow {
            region,
            dept,
            application: h.application,
            hotline: h.hotline,
        }
    };
    let mut counties: Vec<RankRow> = counties
        .iter()
        .map(|(r, a)| row(r.clone(), String::new(), a))
        .collect();
    worst_first(&mut counties);
    let mut departments: Vec<RankRow> = departments
        .iter()
        .map(|((r, d), a)| row(r.clone(), d.clone(), a))
        .collect();
    worst_first(&mut departments);
    Figures {
        period: period.name(),
        previous_period: prev.name(),
        headline: now.headline(),
        previous: before.headline(),
        counties,
        departments,
        trend: trend
            .iter()
            .map(|(m, a)| {
                let h = a.headline();
                MonthPoint {
                    month: m.clone(),
                    application: h.application,
                    hotline: h.hotline,
                }
            })
            .collect(),
        application_durations: durations[0],
        hotline_durations: durations[1],
        calendar: CalendarNote::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = r#"{"family":"application","granularity":"MONTH","window":"2020-07","region":"652801","dept":"D1","item":"T1","channel":"ONLINE","counters":{"submitted":3,"accepted":3,"completed":4,"on_time":3,"at_most_one_trip":2,"zero_trip":1,"withdrawn":0,"reviews":1,"bad_reviews":0,"declared_one_trip":2,"declared_one_trip_kept":2,"declared_zero_trip":1,"declared_zero_trip_kept":1,"unlisted":0,"overdue_open":5},"duration":{"buckets":[0,1,2,2,2,2,3,4,4,4],"sum":1.75,"count":4}}"#;

    #[test]
    fn rankings_put_the_worst_first_and_rows_with_few_cases_last() {
        let rec = |region: &str, completed: i64, on_time: i64| {
            let mut r = Record::parse(APP, 1).unwrap();
            r.region = region.into();
            r.counters = [0; COUNTERS];
            r.counters[schema::app::COMPLETED as usize] = completed;
            r.counters[schema::app::ON_TIME as usize] = on_time;
            r
        };
        let recs = [
            rec("652801", 1, 0),
            rec("652802", 20, 10),
            rec("652803", 20, 18),
        ];
        let f = figures(&recs, Period::parse("2020-07").unwrap());
        let order: Vec<&str> = f.counties.iter().map(|r| r.region.as_str()).collect();
        assert_eq!(order, ["652802", "652803", "652801"]);
    }

    #[test]
    fn periods() {
        assert_eq!(
            Period::parse("2020-07"),
            Some(Period::Month {
                year: 2020,
                month: 7
            })
        );
        assert_eq!(
            Period::parse("2020-Q3").unwrap().months(),
            ["2020-07", "2020-08", "2020-09"]
        );
        assert_eq!(Period::parse("2020").unwrap().months().len(), 12);
        assert_eq!(
            Period::parse("2020-Q1").unwrap().previous().name(),
            "2019-Q4"
        );
        assert_eq!(
            Period::parse("2020-01").unwrap().previous().name(),
            "2019-12"
        );
        for bad in ["20", "2020-13", "2020-7", "2020-Q5", "x", "2020-Q"] {
            assert_eq!(Period::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn rates_keep_their_counts_and_have_no_value_without_cases() {
        let r = Record::parse(APP, 1).unwrap();
        let f = figures(&[r], Period::parse("2020-07").unwrap());
        let on_time = &f.headline.application.rates["on_time"];
        assert_eq!((on_time.numerator, on_time.denominator), (3, 4));
        assert_eq!(on_time.value, Some(0.75));
        assert_eq!(f.headline.application.counters["overdue_open"], 5);
        // No hotline data: rates without a value.
        assert!(!f.headline.has_hotline);
        assert_eq!(f.headline.hotline.rates["closed_on_time"].value, None);
        // Durations: cumulative buckets back to counts.
        assert_eq!(f.application_durations, [0, 1, 1, 0, 0, 0, 1, 1, 0, 0]);
        assert_eq!(f.counties.len(), 1);
        // An empty period.
        let e = figures(&[], Period::parse("2019").unwrap());
        assert!(!e.headline.has_application && e.counties.is_empty());
        assert!(Record::parse("{}", 3).is_err());
    }
}
