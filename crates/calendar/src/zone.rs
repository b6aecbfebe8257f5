//! The time zone a source writes its local times in: a fixed UTC offset (`+08:00`, Beijing
//! time, the default) or a named IANA zone with daylight saving time (`America/New_York`).
//!
//! The tz database is compiled into the binary (`jiff`'s bundled copy), so reading a zone is
//! pure: no file of the machine is consulted and every machine reads a local time the same way.
//!
//! Local times that a daylight-saving change makes ambiguous or impossible follow one rule,
//! the "compatible" disambiguation of RFC 5545 and JavaScript's Temporal:
//! - **ambiguous** (the clock is set back, the hour repeats): the earlier instant, i.e. the
//!   local time read with the offset in force before the change (`2020-11-01 01:30` in New York
//!   is 05:30Z, EDT);
//! - **non-existent** (the clock jumps forward, the hour is skipped): the local time read with
//!   the offset in force before the gap, i.e. moved forward by the gap's length
//!   (`2020-03-08 02:30` in New York is 07:30Z = 03:30 EDT).

use crate::civil::{local_at_offset, Day, Instant, LocalDateTime, Timestamp, MICROS_PER_SECOND};
use std::sync::Arc;

/// A fixed offset or a named IANA zone.
#[derive(Clone, Debug)]
pub enum Zone {
    /// Seconds east of UTC.
    Fixed(i32),
    Named {
        name: Arc<str>,
        tz: jiff::tz::TimeZone,
    },
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        match (self, other) {
            (Zone::Fixed(a), Zone::Fixed(b)) => a == b,
            (Zone::Named { name: a, .. }, Zone::Named { name: b, .. }) => a == b,
            _ => false,
        }
    }
}

impl Zone {
    /// `±hh:mm`, or an IANA zone name (`Asia/Shanghai`, `America/New_York`, `UTC`).
    pub fn parse(s: &str) -> Option<Zone> {
        if let Some(off) = crate::civil::parse_utc_offset(s) {
            return Some(Zone::Fixed(off));
        }
        // Only names: a POSIX TZ string or a path is not a zone here.
        if s.is_empty() || s.starts_with(['+', '-', ':', '/']) || s.contains("..") {
            return None;
        }
        let tz = jiff::tz::TimeZone::get(s).ok()?;
        Some(Zone::Named { name: s.into(), tz })
    }

    /// The name as configured (`+08:00` or the IANA name).
    pub fn name(&self) -> String {
        match self {
            Zone::Fixed(off) => {
                let sign = if *off < 0 { '-' } else { '+' };
                let a = off.unsigned_abs();
                format!("{sign}{:02}:{:02}", a / 3600, a / 60 % 60)
            }
            Zone::Named { name, .. } => name.to_string(),
        }
    }

    /// The offset in force at `t`, seconds east of UTC.
    pub fn offset_at(&self, t: Instant) -> i32 {
        match self {
            Zone::Fixed(off) => *off,
            Zone::Named { tz, .. } => jiff::Timestamp::from_microsecond(t)
                .map(|ts| tz.to_offset(ts).seconds())
                .unwrap_or(0),
        }
    }

    /// The local date of `t`.
    pub fn day_of(&self, t: Instant) -> Day {
        Day::of_instant(t, self.offset_at(t))
    }

    /// The instant a local date begins (its first instant: midnight, or where a daylight-saving
    /// change at midnight moves it).
    pub fn day_start(&self, d: Day) -> Instant {
        match self {
            Zone::Fixed(off) => d.start(*off),
            Zone::Named { .. } => {
                let l = LocalDateTime {
                    date: d.ymd(),
                    hms: (0, 0, 0),
                };
                self.local_to_instant(l)
                    .map_or_else(|| d.start(0), |t| t.instant)
            }
        }
    }

    /// The instant of a local date and time in this zone, with the offset in force then;
    /// `None` if it is not a real date and time. Daylight-saving gaps and overlaps follow the
    /// module's rule.
    pub fn local_to_instant(&self, l: LocalDateTime) -> Option<Timestamp> {
        match self {
            Zone::Fixed(off) => local_at_offset(l, *off),
            Zone::Named { tz, .. } => {
                // Validated as a civil date and time first (same errors as a fixed offset).
                local_at_offset(l, 0)?;
                let (y, mo, d) = l.date;
                let (h, mi, s) = l.hms;
                let dt = jiff::civil::DateTime::new(
                    i16::try_from(y).ok()?,
                    mo as i8,
                    d as i8,
                    h as i8,
                    mi as i8,
                    s as i8,
                    0,
                )
                .ok()?;
                let ts = tz.to_ambiguous_timestamp(dt).compatible().ok()?;
                let offset_s = tz.to_offset(ts).seconds();
                Some(Timestamp {
                    instant: ts.as_second() * MICROS_PER_SECOND,
                    offset_s,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::civil::{format_rfc3339, LocalPattern};

    fn read(zone: &str, pattern: &str, s: &str) -> Option<String> {
        let z = Zone::parse(zone).unwrap();
        let l = LocalPattern::new(pattern).unwrap().parse_local(s)?;
        let t = z.local_to_instant(l)?;
        Some(format_rfc3339(t.instant, t.offset_s))
    }

    #[test]
    fn new_york_daylight_saving_changes() {
        let p = "MM/dd/yyyy hh:mm:ss a";
        let ny = "America/New_York";
        // Winter and summer.
        assert_eq!(
            read(ny, p, "01/15/2020 09:00:00 AM").unwrap(),
            "2020-01-15T09:00:00-05:00"
        );
        assert_eq!(
            read(ny, p, "07/15/2020 09:00:00 PM").unwrap(),
            "2020-07-15T21:00:00-04:00"
        );
        // Spring forward (2020-03-08 02:00 EST -> 03:00 EDT): 02:30 does not exist and is
        // read with the offset before the gap, i.e. 03:30 EDT.
        assert_eq!(
            read(ny, p, "03/08/2020 02:30:00 AM").unwrap(),
            "2020-03-08T03:30:00-04:00"
        );
        assert_eq!(
            read(ny, p, "03/08/2020 01:59:59 AM").unwrap(),
            "2020-03-08T01:59:59-05:00"
        );
        assert_eq!(
            read(ny, p, "03/08/2020 03:00:00 AM").unwrap(),
            "2020-03-08T03:00:00-04:00"
        );
        // Fall back (2020-11-01 02:00 EDT -> 01:00 EST): 01:30 happens twice; the earlier.
        assert_eq!(
            read(ny, p, "11/01/2020 01:30:00 AM").unwrap(),
            "2020-11-01T01:30:00-04:00"
        );
        assert_eq!(
            read(ny, p, "11/01/2020 02:00:00 AM").unwrap(),
            "2020-11-01T02:00:00-05:00"
        );
    }

    #[test]
    fn days_of_a_zone_with_daylight_saving_time() {
        let ny = Zone::parse("America/New_York").unwrap();
        let d = Day::from_ymd(2020, 3, 8).unwrap();
        // The day of the spring change is 23 hours long, the autumn one 25.
        assert_eq!(ny.day_start(d.succ()) - ny.day_start(d), 23 * 3_600_000_000);
        let n = Day::from_ymd(2020, 11, 1).unwrap();
        assert_eq!(ny.day_start(n.succ()) - ny.day_start(n), 25 * 3_600_000_000);
        assert_eq!(ny.day_of(ny.day_start(d)), d);
        assert_eq!(ny.day_of(ny.day_start(d.succ()) - 1), d);
        let bj = Zone::Fixed(28_800);
        assert_eq!(bj.day_start(d), d.start(28_800));
        assert_eq!(bj.day_of(d.start(28_800)), d);
    }

    #[test]
    fn fixed_offsets_and_names() {
        assert_eq!(Zone::parse("+08:00"), Some(Zone::Fixed(28_800)));
        assert_eq!(Zone::parse("-05:00").unwrap().name(), "-05:00");
        assert_eq!(
            Zone::parse("Asia/Shanghai").unwrap().name(),
            "Asia/Shanghai"
        );
        for bad in [
            "",
            "Mars/Olympus",
            "/etc/localtime",
            "../x",
            "+8",
            "EST5EDT,M3.2.0,M11.1.0",
        ] {
            assert_eq!(Zone::parse(bad), None, "{bad}");
        }
        assert_eq!(
            read("Asia/Shanghai", "yyyy/M/d H:mm", "2020/7/5 9:03").unwrap(),
            "2020-07-05T09:03:00+08:00"
        );
    }

    #[test]
    fn twelve_hour_clock_and_unpadded_fields() {
        let p = LocalPattern::new("MM/dd/yyyy hh:mm:ss a").unwrap();
        let hms = |s| p.parse_local(s).map(|l| l.hms);
        assert_eq!(hms("06/26/2018 10:58:54 AM"), Some((10, 58, 54)));
        assert_eq!(hms("06/26/2018 12:00:00 AM"), Some((0, 0, 0)));
        assert_eq!(hms("06/26/2018 12:30:00 PM"), Some((12, 30, 0)));
        assert_eq!(hms("06/26/2018 01:00:00 pm"), Some((13, 0, 0)));
        for bad in [
            "06/26/2018 13:00:00 PM",
            "06/26/2018 00:10:00 AM",
            "06/26/2018 10:58:54",
            "06/26/2018 10:58:54 XM",
            "6/26/2018 10:58:54 AM",
        ] {
            assert_eq!(p.parse_local(bad), None, "{bad}");
        }
        let u = LocalPattern::new("yyyy/M/d H:mm").unwrap();
        assert_eq!(
            u.parse_local("2020/7/5 9:03").map(|l| (l.date, l.hms)),
            Some(((2020, 7, 5), (9, 3, 0)))
        );
        assert_eq!(
            u.parse_local("2020/12/25 23:59").map(|l| l.date),
            Some((2020, 12, 25))
        );
        for bad in [
            "2020/7/5 9:3",
            "2020/123/5 9:03",
            "2020/7/5 9:03 ",
            "2020//5 9:03",
        ] {
            assert_eq!(u.parse_local(bad), None, "{bad}");
        }
        // Patterns that cannot be right.
        for bad in [
            "MM/dd/yyyy hh:mm",
            "MM/dd/yyyy HH:mm a",
            "MM/dd/yyyy HH:mm:ss hh a",
            "M/d HH",
        ] {
            assert_eq!(LocalPattern::new(bad), None, "{bad}");
        }
    }
}
