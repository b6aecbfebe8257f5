//! Working days, working time and deadlines (metrics.md "Time").

use crate::civil::{Day, Instant, MICROS_PER_DAY};
use crate::zone::Zone;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The bundled national calendar (2020–2026).
pub const BUNDLED_NATIONAL: &str = include_str!("../../../data/calendar/cn.json");
/// The bundled Xinjiang overlay (region codes 65xxxx).
pub const BUNDLED_XINJIANG: &str = include_str!("../../../data/calendar/cn-65-xinjiang.json");

#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("calendar file is not valid: {0}")]
    Json(#[from] serde_json::Error),
    #[error("calendar {calendar}: `{value}` is not a year")]
    BadYear { calendar: String, value: String },
    #[error("calendar {calendar}: `{value}` is not a date (yyyy-MM-dd)")]
    BadDate { calendar: String, value: String },
    #[error("calendar {calendar}: {date} is listed under year {year}")]
    WrongYear {
        calendar: String,
        date: String,
        year: i32,
    },
    #[error("calendar {calendar}: {date} is both a holiday and a make-up working day")]
    Conflict { calendar: String, date: String },
    #[error("overlay {calendar} has no `region_prefix`")]
    NoPrefix { calendar: String },
    #[error("overlay {calendar}: region prefix `{prefix}` must be 1 to 6 digits")]
    BadPrefix { calendar: String, prefix: String },
}

/// The on-disk format of `data/calendar/*.json` (national calendars and regional overlays).
#[derive(Debug, Deserialize)]
pub struct CalendarFile {
    pub calendar: String,
    #[serde(default)]
    pub description: String,
    /// Only for overlays: the region-code prefix the overlay applies to.
    #[serde(default)]
    pub region_prefix: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    pub years: BTreeMap<String, YearEntry>,
}

#[derive(Debug, Deserialize)]
pub struct YearEntry {
    #[serde(default)]
    pub holidays: Vec<DateEntry>,
    #[serde(default)]
    pub makeup_workdays: Vec<DateEntry>,
}

#[derive(Debug, Deserialize)]
pub struct DateEntry {
    pub date: String,
    #[serde(default)]
    pub name: String,
}

/// Holidays and make-up days of the years a file covers.
#[derive(Debug, Default, Clone)]
struct DayRules {
    years: BTreeSet<i32>,
    holidays: BTreeSet<Day>,
    makeup: BTreeSet<Day>,
}

impl CalendarFile {
    pub fn parse(json: &str) -> Result<CalendarFile, CalendarError> {
        Ok(serde_json::from_str(json)?)
    }

    fn rules(&self) -> Result<DayRules, CalendarError> {
        let mut r = DayRules::default();
        for (y, entry) in &self.years {
            let year: i32 = y
                .parse()
                .ok()
                .filter(|y| (1900..=9999).contains(y))
                .ok_or_else(|| CalendarError::BadYear {
                    calendar: self.calendar.clone(),
                    value: y.clone(),
                })?;
            r.years.insert(year);
            for (list, set) in [
                (&entry.holidays, &mut r.holidays),
                (&entry.makeup_workdays, &mut r.makeup),
            ] {
                for d in list {
                    let day = Day::parse_iso(&d.date).ok_or_else(|| CalendarError::BadDate {
                        calendar: self.calendar.clone(),
                        value: d.date.clone(),
                    })?;
                    if day.year() != year {
                        return Err(CalendarError::WrongYear {
                            calendar: self.calendar.clone(),
                            date: d.date.clone(),
                            year,
                        });
                    }
                    set.insert(day);
                }
            }
        }
        if let Some(d) = r.holidays.intersection(&r.makeup).next() {
            return Err(CalendarError::Conflict {
                calendar: self.calendar.clone(),
                date: d.to_string(),
            });
        }
        Ok(r)
    }
}

/// Unit of a limit.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum LimitUnit {
    WorkingDays,
    NaturalDays,
}

/// A resolved deadline: the instant (end of the last allowed local day).
pub type Deadline = Instant;

/// Working-day table over the years a calendar covers, with prefix sums so that counting working
/// days between two dates is O(1). Dates outside the table follow Monday–Friday.
#[derive(Debug, Clone)]
pub struct RegionCalendar {
    first: i32,
    /// `cum[i]` = working days in `[first, first + i)`; one longer than the table.
    cum: Vec<u32>,
    /// The working days of the table, in order (for "N-th working day after").
    work_days: Vec<i32>,
    zone: Zone,
    fallbacks: Arc<AtomicU64>,
}

impl RegionCalendar {
    fn build(rules: &DayRules, zone: Zone, fallbacks: Arc<AtomicU64>) -> RegionCalendar {
        let (Some(&lo), Some(&hi)) = (rules.years.first(), rules.years.last()) else {
            return RegionCalendar {
                first: 0,
                cum: vec![0],
                work_days: Vec::new(),
                zone,
                fallbacks,
            };
        };
        let first = Day::from_ymd(lo, 1, 1).map_or(0, |d| d.0);
        let end = Day::from_ymd(hi + 1, 1, 1).map_or(first, |d| d.0);
        let mut cum = Vec::with_capacity((end - first + 1) as usize);
        let mut work_days = Vec::new();
        cum.push(0u32);
        for z in first..end {
            let d = Day(z);
            let working = if rules.years.contains(&d.year()) {
                rules.makeup.contains(&d) || (!d.is_weekend() && !rules.holidays.contains(&d))
            } else {
                // A gap year inside the covered range: Monday-Friday, counted as a fallback.
                !d.is_weekend()
            };
            if working {
                work_days.push(z);
            }
            cum.push(cum[cum.len() - 1] + working as u32);
        }
        RegionCalendar {
            first,
            cum,
            work_days,
            zone,
            fallbacks,
        }
    }

    fn end(&self) -> i32 {
        self.first + self.cum.len() as i32 - 1
    }

    fn in_table(&self, z: i32) -> bool {
        z >= self.first && z < self.end()
    }

    /// The zone local dates are taken in.
    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// The local date of an instant.
    pub fn local_day(&self, t: Instant) -> Day {
        self.zone.day_of(t)
    }

    /// Whether `d` is a working day. Dates outside the data follow Monday–Friday and are counted
    /// in [`Calendar::fallback_lookups`].
    pub fn is_working(&self, d: Day) -> bool {
        if self.in_table(d.0) {
            let i = (d.0 - self.first) as usize;
            self.cum[i + 1] > self.cum[i]
        } else {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            !d.is_weekend()
        }
    }

    /// Number of working days in `[a, b)` (0 if `b <= a`).
    pub fn working_days_between(&self, a: Day, b: Day) -> i64 {
        if b.0 <= a.0 {
            return 0;
        }
        let (a, b) = (a.0, b.0);
        let (lo, hi) = (self.first, self.end());
        let mut n = 0i64;
        if a < lo {
            n += weekdays_between(a, b.min(lo));
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        let (ia, ib) = (a.max(lo), b.min(hi));
        if ia < ib {
            n += (self.cum[(ib - lo) as usize] - self.cum[(ia - lo) as usize]) as i64;
        }
        if b > hi {
            n += weekdays_between(a.max(hi), b);
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        n
    }

    /// Working time between two instants, in microseconds: only the parts that fall on working
    /// days count, 24 hours per working day. Negative when `b < a`.
    pub fn working_time(&self, a: Instant, b: Instant) -> i64 {
        if b < a {
            return -self.working_time(b, a);
        }
        let (da, db) = (self.zone.day_of(a), self.zone.day_of(b));
        if da == db {
            return if self.is_working(da) { b - a } else { 0 };
        }
        let mut t = 0;
        if self.is_working(da) {
            t += self.zone.day_start(da.succ()) - a;
        }
        t += self.working_days_between(da.succ(), db) * MICROS_PER_DAY;
        if self.is_working(db) {
            t += b - self.zone.day_start(db);
        }
        t
    }

    /// The N-th working day strictly after `d` (`d` itself for N = 0).
    pub fn nth_working_day_after(&self, d: Day, n: u32) -> Day {
        if n == 0 {
            return d;
        }
        let mut z = d.0 + 1;
        let mut left = n;
        if z < self.first {
            // Step through the days before the table one by one (rare: data before 2020).
            while left > 0 && z < self.first {
                if self.is_working(Day(z)) {
                    left -= 1;
                    if left == 0 {
                        return Day(z);
                    }
                }
                z += 1;
            }
        }
        if self.in_table(z) {
            let pos = self.cum[(z - self.first) as usize] as usize + left as usize - 1;
            if let Some(&w) = self.work_days.get(pos) {
                return Day(w);
            }
            left -= (self.work_days.len() - self.cum[(z - self.first) as usize] as usize) as u32;
            z = self.end();
        }
        // After the table: Monday-Friday.
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        loop {
            if !Day(z).is_weekend() {
                left -= 1;
                if left == 0 {
                    return Day(z);
                }
            }
            z += 1;
        }
    }

    /// The deadline of a limit of `n` units counted from instant `t`: the end (24:00 local) of the
    /// n-th working (or natural) day after the local date of `t`; the date of `t` is not counted.
    pub fn deadline(&self, t: Instant, n: u32, unit: LimitUnit) -> Deadline {
        let d = self.local_day(t);
        let last = match unit {
            LimitUnit::WorkingDays => self.nth_working_day_after(d, n),
            LimitUnit::NaturalDays => Day(d.0.saturating_add(n.min(1_000_000) as i32)),
        };
        self.zone.day_start(last.succ())
    }
}

/// Mon–Fri count in `[a, b)` by whole weeks plus a remainder.
fn weekdays_between(a: i32, b: i32) -> i64 {
    if b <= a {
        return 0;
    }
    let span = (b - a) as i64;
    let weeks = span / 7;
    let mut n = weeks * 5;
    let mut z = a as i64 + weeks * 7;
    while z < b as i64 {
        if !Day(z as i32).is_weekend() {
            n += 1;
        }
        z += 1;
    }
    n
}

/// The national calendar plus regional overlays, in one fixed zone offset.
#[derive(Debug, Clone)]
pub struct Calendar {
    national: RegionCalendar,
    /// Overlays, longest prefix first.
    overlays: Vec<(String, RegionCalendar)>,
    fallbacks: Arc<AtomicU64>,
    /// The years with national data and the overlays (prefix, calendar name), for people.
    national_years: Vec<i32>,
    overlay_names: Vec<(String, String)>,
    /// Sources with a calendar of their own (a mapping's `calendar`): source name → calendar.
    sources: Vec<(String, Arc<Calendar>)>,
}

impl Calendar {
    /// The bundled calendars (national 2020–2026 and the Xinjiang overlay), Beijing time.
    pub fn bundled() -> Calendar {
        // The bundled data is checked by the tests below; a failure here is a build defect.
        Calendar::from_json(
            BUNDLED_NATIONAL,
            &[BUNDLED_XINJIANG],
            crate::civil::BEIJING_OFFSET_S,
        )
        .expect("bundled calendar data is valid")
    }

    /// Builds a calendar from a national file, any number of extra national files (e.g. an
    /// operator's file for a newly announced year) merged into it, and overlays.
    pub fn from_files(
        national: &[CalendarFile],
        overlays: &[CalendarFile],
        zone: Zone,
    ) -> Result<Calendar, CalendarError> {
        let mut base = DayRules::default();
        for f in national {
            let r = f.rules()?;
            for y in &r.years {
                // A later file replaces a year entirely (an operator's correction).
                base.holidays.retain(|d| d.year() != *y);
                base.makeup.retain(|d| d.year() != *y);
            }
            base.years.extend(r.years);
            base.holidays.extend(r.holidays);
            base.makeup.extend(r.makeup);
        }
        let fallbacks = Arc::new(AtomicU64::new(0));
        let national_cal = RegionCalendar::build(&base, zone.clone(), fallbacks.clone());
        let mut regional = Vec::new();
        for f in overlays {
            let prefix = f
                .region_prefix
                .clone()
                .ok_or_else(|| CalendarError::NoPrefix {
                    calendar: f.calendar.clone(),
                })?;
            if prefix.is_empty() || prefix.len() > 6 || !prefix.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(CalendarError::BadPrefix {
                    calendar: f.calendar.clone(),
                    prefix,
                });
            }
            let o = f.rules()?;
            let mut merged = base.clone();
            for d in &o.holidays {
                if base.years.contains(&d.year()) {
                    merged.makeup.remove(d);
                    merged.holidays.insert(*d);
                }
            }
            for d in &o.makeup {
                if base.years.contains(&d.year()) {
                    merged.holidays.remove(d);
                    merged.makeup.insert(*d);
                }
            }
            regional.push((
                prefix,
                RegionCalendar::build(&merged, zone.clone(), fallbacks.clone()),
            ));
        }
        regional.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        let mut overlay_names: Vec<(String, String)> = overlays
            .iter()
            .filter_map(|f| Some((f.region_prefix.clone()?, f.calendar.clone())))
            .collect();
        overlay_names.sort();
        Ok(Calendar {
            national: national_cal,
            overlays: regional,
            fallbacks,
            national_years: base.years.iter().copied().collect(),
            overlay_names,
            sources: Vec::new(),
        })
    }

    /// [`Calendar::from_files`] over JSON texts.
    pub fn from_json(
        national: &str,
        overlays: &[&str],
        offset_s: i32,
    ) -> Result<Calendar, CalendarError> {
        let n = CalendarFile::parse(national)?;
        let o = overlays
            .iter()
            .map(|s| CalendarFile::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        Calendar::from_files(&[n], &o, Zone::Fixed(offset_s))
    }

    /// Monday to Friday, no holidays: the plain calendar of a source outside China.
    pub fn weekdays(zone: Zone) -> Calendar {
        Calendar {
            national: RegionCalendar::build(
                &DayRules::default(),
                zone,
                Arc::new(AtomicU64::new(0)),
            ),
            overlays: Vec::new(),
            fallbacks: Arc::new(AtomicU64::new(0)),
            national_years: Vec::new(),
            overlay_names: Vec::new(),
            sources: Vec::new(),
        }
    }

    /// This calendar with `cal` for the cases of `source` (same zone expected: windows are the
    /// deployment's).
    pub fn with_source(mut self, source: &str, cal: Calendar) -> Calendar {
        self.sources.retain(|(s, _)| s != source);
        self.sources.push((source.to_owned(), Arc::new(cal)));
        self
    }

    /// Whether some source has a calendar of its own.
    pub fn has_source_calendars(&self) -> bool {
        !self.sources.is_empty()
    }

    /// The calendar of `source`'s cases: its own, else this one.
    pub fn for_source(&self, source: &str) -> &Calendar {
        self.sources
            .iter()
            .find(|(s, _)| s == source)
            .map_or(self, |(_, c)| c)
    }

    /// The sources with a calendar of their own, and what it is (for people).
    pub fn source_calendars(&self) -> Vec<(String, Vec<i32>)> {
        self.sources
            .iter()
            .map(|(s, c)| (s.clone(), c.national_years.clone()))
            .collect()
    }

    /// The calendar that applies to cases of `region` (a 6-digit code; "" = national).
    pub fn for_region(&self, region: &str) -> &RegionCalendar {
        // Overlays are for GB/T 2260 counties (6 digits): a source's own codes (a borough, a
        // ZIP code like `65201`) never match one.
        if region.len() != 6 || !region.bytes().all(|b| b.is_ascii_digit()) {
            return &self.national;
        }
        self.overlays
            .iter()
            .find(|(p, _)| region.starts_with(p.as_str()))
            .map_or(&self.national, |(_, c)| c)
    }

    pub fn national(&self) -> &RegionCalendar {
        &self.national
    }

    /// The zone of local dates: windows (days, months) and working days.
    pub fn zone(&self) -> &Zone {
        &self.national.zone
    }

    /// What the calendar holds, said plainly: the years with national data (others fall back
    /// to Monday–Friday) and the regional overlays (region prefix and calendar name).
    pub fn describe(&self) -> (Vec<i32>, Vec<(String, String)>) {
        (self.national_years.clone(), self.overlay_names.clone())
    }

    /// How many look-ups fell outside the calendar data and used Monday–Friday.
    pub fn fallback_lookups(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlays_apply_to_gb2260_counties_only() {
        let c = Calendar::bundled();
        let national = c.national() as *const RegionCalendar;
        assert!(!std::ptr::eq(c.for_region("652801"), national));
        // A source's own codes that happen to start like a Xinjiang county.
        for own in ["65201", "6528011", "65-QN", "MN"] {
            assert!(std::ptr::eq(c.for_region(own), national), "{own}");
        }
    }
    use crate::civil::{format_rfc3339, LocalPattern, BEIJING_OFFSET_S};

    fn day(s: &str) -> Day {
        Day::parse_iso(s).unwrap()
    }
    fn at(s: &str) -> Instant {
        LocalPattern::new("yyyy-MM-dd HH:mm:ss")
            .unwrap()
            .parse(s, BEIJING_OFFSET_S)
            .unwrap()
            .instant
    }
    fn show(t: Instant) -> String {
        format_rfc3339(t, BEIJING_OFFSET_S)
    }

    #[test]
    fn bundled_data_loads() {
        let c = Calendar::bundled();
        assert_eq!(c.fallback_lookups(), 0);
        // Extended 2020 Spring Festival: 24 Jan - 2 Feb off, Sunday 19 Jan worked.
        let n = c.national();
        assert!(n.is_working(day("2020-01-19")));
        for d in ["2020-01-24", "2020-01-31", "2020-02-02"] {
            assert!(!n.is_working(day(d)), "{d}");
        }
        assert!(n.is_working(day("2020-02-03")));
        assert_eq!(c.fallback_lookups(), 0);
    }

    #[test]
    fn deadlines_follow_the_day_counting_rule() {
        let c = Calendar::bundled();
        let n = c.national();
        let w = LimitUnit::WorkingDays;
        // Wednesday 2020-07-15, 5 working days: Thu 16, Fri 17, Mon 20, Tue 21, Wed 22.
        assert_eq!(
            show(n.deadline(at("2020-07-15 10:21:33"), 5, w)),
            "2020-07-23T00:00:00+08:00"
        );
        // N = 0: the end of the same date.
        assert_eq!(
            show(n.deadline(at("2020-07-15 10:21:33"), 0, w)),
            "2020-07-16T00:00:00+08:00"
        );
        // Across National Day 2020 (1-8 Oct off, Sun 27 Sep and Sat 10 Oct worked).
        // From Wed 30 Sep: 1 working day = Fri 9 Oct; 2 = Sat 10 Oct (make-up day).
        assert_eq!(
            show(n.deadline(at("2020-09-30 09:00:00"), 1, w)),
            "2020-10-10T00:00:00+08:00"
        );
        assert_eq!(
            show(n.deadline(at("2020-09-30 09:00:00"), 2, w)),
            "2020-10-11T00:00:00+08:00"
        );
        // Accepted on a holiday: counting starts the next working day.
        assert_eq!(
            show(n.deadline(at("2020-10-03 12:00:00"), 1, w)),
            "2020-10-10T00:00:00+08:00"
        );
        // Natural days count calendar days.
        assert_eq!(
            show(n.deadline(at("2020-09-30 09:00:00"), 2, LimitUnit::NaturalDays)),
            "2020-10-03T00:00:00+08:00"
        );
        // Extended Spring Festival: from Thu 23 Jan 2020, 1 working day is Mon 3 Feb.
        assert_eq!(
            show(n.deadline(at("2020-01-23 18:00:00"), 1, w)),
            "2020-02-04T00:00:00+08:00"
        );
    }

    #[test]
    fn working_time_counts_only_working_days() {
        let c = Calendar::bundled();
        let n = c.national();
        let h = 3_600_000_000i64;
        // Friday 17:00 to Monday 09:00: 7 h on Friday + 9 h on Monday.
        assert_eq!(
            n.working_time(at("2020-07-17 17:00:00"), at("2020-07-20 09:00:00")),
            16 * h
        );
        // Entirely inside a holiday.
        assert_eq!(
            n.working_time(at("2020-10-02 00:00:00"), at("2020-10-05 00:00:00")),
            0
        );
        // A make-up Sunday counts: Sat 26 Sep 12:00 to Mon 28 Sep 00:00 = all of Sun 27.
        assert_eq!(
            n.working_time(at("2020-09-26 12:00:00"), at("2020-09-28 00:00:00")),
            24 * h
        );
        assert_eq!(
            n.working_time(at("2020-07-20 09:00:00"), at("2020-07-17 17:00:00")),
            -16 * h
        );
        // A whole year: 2021 had 250 working days.
        assert_eq!(
            n.working_days_between(day("2021-01-01"), day("2022-01-01")),
            250
        );
    }

    #[test]
    fn xinjiang_overlay_applies_to_65_regions_only() {
        let c = Calendar::bundled();
        let d = day("2023-06-28"); // 古尔邦节, a Wednesday
        assert!(c.for_region("110101").is_working(d));
        assert!(!c.for_region("652801").is_working(d));
        assert!(std::ptr::eq(c.for_region(""), c.national()));
    }

    #[test]
    fn years_outside_the_data_fall_back_to_monday_friday_and_are_counted() {
        let c = Calendar::bundled();
        let n = c.national();
        assert_eq!(c.fallback_lookups(), 0);
        assert!(n.is_working(day("2027-10-01"))); // a Friday: no data for 2027
        assert!(!n.is_working(day("2027-10-02")));
        assert!(c.fallback_lookups() >= 2);
        // Deadline crossing from 2026 into 2027.
        assert_eq!(
            show(n.deadline(at("2026-12-30 10:00:00"), 3, LimitUnit::WorkingDays)),
            "2027-01-05T00:00:00+08:00"
        );
        assert_eq!(
            n.working_days_between(day("2019-12-30"), day("2020-01-03")),
            3 // Mon 30, Tue 31 (fallback), Thu 2 (1 Jan is a holiday)
        );
    }

    #[test]
    fn an_operator_can_add_a_year() {
        let extra = r#"{"calendar":"CN-2027","years":{"2027":{"holidays":[{"date":"2027-01-01"}],"makeup_workdays":[]}}}"#;
        let c = Calendar::from_files(
            &[
                CalendarFile::parse(BUNDLED_NATIONAL).unwrap(),
                CalendarFile::parse(extra).unwrap(),
            ],
            &[],
            Zone::Fixed(BEIJING_OFFSET_S),
        )
        .unwrap();
        assert!(!c.national().is_working(day("2027-01-01")));
        assert_eq!(c.fallback_lookups(), 0);
    }

    #[test]
    fn bad_files_are_rejected_with_clear_errors() {
        let bad = r#"{"calendar":"X","years":{"2020":{"holidays":[{"date":"2021-01-01"}]}}}"#;
        let e = Calendar::from_json(bad, &[], 0).unwrap_err();
        assert!(e.to_string().contains("listed under year 2020"), "{e}");
        let bad = r#"{"calendar":"X","years":{"20x0":{}}}"#;
        assert!(Calendar::from_json(bad, &[], 0).is_err());
        let bad = r#"{"calendar":"X","years":{"2020":{"holidays":[{"date":"2020-02-30"}]}}}"#;
        assert!(Calendar::from_json(bad, &[], 0).is_err());
    }
}
