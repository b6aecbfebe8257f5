//! Local (Beijing) civil time as seconds, the working-day calendar used to place events in office
//! hours, and the three sources' time syntaxes.
//!
//! A time here is "local seconds": seconds since 1970-01-01T00:00 *Beijing time*, so a date is
//! `t / 86400` and the time of day is `t % 86400` with no offset arithmetic.

use crate::rng::Rng;

pub(crate) const MIN: i64 = 60;
pub(crate) const HOUR: i64 = 3600;
pub(crate) const DAY: i64 = 86_400;
/// Office hours, local: 09:00–18:00.
pub(crate) const OPEN: i64 = 9 * HOUR;
pub(crate) const CLOSE: i64 = 18 * HOUR;

/// Days since 1970-01-01 of a civil date (the calendar crate's arithmetic, in this crate's i64).
pub(crate) fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    govstream_calendar::civil::days_from_civil(y, m, d) as i64
}

/// The civil date of a day count.
pub(crate) fn civil_from_days(z: i64) -> (i32, u32, u32) {
    govstream_calendar::civil::civil_from_days(z as i32)
}

pub(crate) fn days_in_month(y: i32, m: u32) -> u32 {
    govstream_calendar::civil::days_in_month(y, m)
}

#[inline]
pub(crate) fn day_of(t: i64) -> i64 {
    t.div_euclid(DAY)
}

#[inline]
pub(crate) fn time_of_day(t: i64) -> i64 {
    t.rem_euclid(DAY)
}

/// Working days: a bitmap over the generator's span, the rule (Mon–Fri, holidays, make-up days)
/// outside it.
#[derive(Clone, Debug)]
pub(crate) struct Calendar {
    first: i64,
    work: Vec<bool>,
    bundled: std::sync::Arc<govstream_calendar::Calendar>,
}

impl Calendar {
    pub(crate) fn new(first: i64, len: usize) -> Calendar {
        // The project's bundled calendar, with the Xinjiang overlay: the generated prefecture is
        // in Xinjiang (65xxxx).
        let bundled = std::sync::Arc::new(govstream_calendar::Calendar::bundled());
        let mut c = Calendar {
            first,
            work: Vec::new(),
            bundled,
        };
        c.work = (0..len as i64).map(|i| c.rule(first + i)).collect();
        c
    }

    fn rule(&self, day: i64) -> bool {
        self.bundled
            .for_region("652800")
            .is_working(govstream_calendar::Day(day as i32))
    }

    #[inline]
    pub(crate) fn is_workday(&self, day: i64) -> bool {
        let i = day - self.first;
        if i >= 0 && (i as usize) < self.work.len() {
            self.work[i as usize]
        } else {
            self.rule(day)
        }
    }

    /// The first working day strictly after `day`.
    #[inline]
    pub(crate) fn next_workday(&self, day: i64) -> i64 {
        let mut d = day + 1;
        while !self.is_workday(d) {
            d += 1;
        }
        d
    }

    /// The `n`-th working day after `day` (`n = 0`: `day` itself).
    #[inline]
    pub(crate) fn nth_workday(&self, day: i64, n: u32) -> i64 {
        let mut d = day;
        for _ in 0..n {
            d = self.next_workday(d);
        }
        d
    }

    /// Is `t` inside office hours of a working day?
    #[inline]
    pub(crate) fn in_office(&self, t: i64) -> bool {
        let s = time_of_day(t);
        (OPEN..CLOSE).contains(&s) && self.is_workday(day_of(t))
    }

    /// `t` if it is in office hours, else a moment early in the next office hours.
    #[inline]
    pub(crate) fn office(&self, t: i64, rng: &mut Rng) -> i64 {
        if self.in_office(t) {
            return t;
        }
        let d = day_of(t);
        if time_of_day(t) < OPEN && self.is_workday(d) {
            return d * DAY + OPEN + rng.range(0, 90 * MIN);
        }
        self.next_workday(d) * DAY + OPEN + rng.range(0, 2 * HOUR)
    }

    /// `t + U(lo, hi)`, moved into office hours with probability `p_office`.
    #[inline]
    pub(crate) fn after(&self, t: i64, lo: i64, hi: i64, p_office: f64, rng: &mut Rng) -> i64 {
        let x = t + rng.range(lo, hi);
        if rng.chance(p_office) {
            self.office(x, rng)
        } else {
            x
        }
    }

    /// A random office-hours moment of the `n`-th working day after the date of `t`; `n = 0`:
    /// later the same working day if there is time left, else early the next working day.
    #[inline]
    pub(crate) fn workdays_later(&self, t: i64, n: u32, rng: &mut Rng) -> i64 {
        let d = day_of(t);
        if n == 0 {
            let from = t.max(d * DAY + OPEN) + 10 * MIN;
            let end = d * DAY + CLOSE;
            if from < end && self.is_workday(d) {
                return rng.range(from, end - 1);
            }
            return self.next_workday(d) * DAY + OPEN + rng.range(0, 3 * HOUR);
        }
        let target = self.nth_workday(d, n);
        target * DAY + OPEN + rng.range(0, 9 * HOUR - 1)
    }
}

/// The diurnal and weekly shape of demand: maps a fraction `u ∈ [0, 1)` of the workload to a
/// moment of the span so that cases start mostly in office hours of working days, fewer at
/// evenings, nights, weekends and holidays.
#[derive(Clone, Debug)]
pub(crate) struct Profile {
    first: i64,
    day_cum: Vec<f64>,
    /// Per hour, cumulative, for a working day (0) and a day off (1).
    hour_cum: [[f64; 24]; 2],
}

const WORKDAY_HOURS: [f64; 24] = [
    0.10, 0.06, 0.04, 0.03, 0.03, 0.05, 0.10, 0.30, 0.80, 2.6, 3.2, 3.3, 2.8, 1.8, 1.6, 2.4, 3.0,
    3.0, 2.2, 1.2, 0.9, 0.7, 0.45, 0.2,
];
const DAYOFF_HOURS: [f64; 24] = [
    0.10, 0.06, 0.04, 0.03, 0.03, 0.05, 0.10, 0.20, 0.40, 0.8, 1.0, 1.1, 1.0, 0.9, 0.8, 0.9, 1.0,
    1.0, 0.9, 0.8, 0.7, 0.6, 0.35, 0.2,
];

impl Profile {
    pub(crate) fn new(cal: &Calendar, first: i64, days: u32) -> Profile {
        let sum = |h: &[f64; 24]| h.iter().sum::<f64>();
        let (ws, os) = (sum(&WORKDAY_HOURS), sum(&DAYOFF_HOURS));
        let mut total = 0.0;
        let day_cum = (0..days as i64)
            .map(|i| {
                let d = first + i;
                // A mild seasonal swell: busier in spring and autumn.
                let (_, m, _) = civil_from_days(d);
                let season = match m {
                    3..=5 | 9..=11 => 1.1,
                    1 | 2 => 0.85,
                    _ => 1.0,
                };
                total += season * if cal.is_workday(d) { ws } else { os };
                total
            })
            .collect();
        let cum = |h: &[f64; 24]| {
            let mut acc = 0.0;
            let mut out = [0.0; 24];
            for (o, x) in out.iter_mut().zip(h) {
                acc += x;
                *o = acc;
            }
            out
        };
        Profile {
            first,
            day_cum,
            hour_cum: [cum(&WORKDAY_HOURS), cum(&DAYOFF_HOURS)],
        }
    }

    /// The moment (local seconds) at fraction `u` of the workload.
    pub(crate) fn at(&self, cal: &Calendar, u: f64) -> i64 {
        let total = *self.day_cum.last().unwrap_or(&1.0);
        let target = u.clamp(0.0, 1.0) * total;
        let i = self
            .day_cum
            .partition_point(|&c| c <= target)
            .min(self.day_cum.len() - 1);
        let before = if i == 0 { 0.0 } else { self.day_cum[i - 1] };
        let width = self.day_cum[i] - before;
        let day = self.first + i as i64;
        let hours = &self.hour_cum[usize::from(!cal.is_workday(day))];
        let within = ((target - before) / width).clamp(0.0, 1.0) * hours[23];
        let h = hours.partition_point(|&c| c <= within).min(23);
        let hb = if h == 0 { 0.0 } else { hours[h - 1] };
        let frac = ((within - hb) / (hours[h] - hb)).clamp(0.0, 0.999_999);
        day * DAY + h as i64 * HOUR + (frac * HOUR as f64) as i64
    }
}

#[inline]
fn push2(b: &mut Vec<u8>, n: u32) {
    b.push(b'0' + (n / 10) as u8);
    b.push(b'0' + (n % 10) as u8);
}

#[inline]
fn push4(b: &mut Vec<u8>, n: i32) {
    let n = n.clamp(0, 9999) as u32;
    push2(b, n / 100);
    push2(b, n % 100);
}

/// Broken-down local time.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Civil {
    pub y: i32,
    pub mo: u32,
    pub d: u32,
    pub h: u32,
    pub mi: u32,
    pub s: u32,
}

#[inline]
pub(crate) fn civil(t: i64) -> Civil {
    let (y, mo, d) = civil_from_days(day_of(t));
    let sod = time_of_day(t) as u32;
    Civil {
        y,
        mo,
        d,
        h: sod / 3600,
        mi: sod / 60 % 60,
        s: sod % 60,
    }
}

/// `yyyyMMdd`
#[inline]
pub(crate) fn push_ymd(b: &mut Vec<u8>, t: i64) {
    let c = civil(t);
    push4(b, c.y);
    push2(b, c.mo);
    push2(b, c.d);
}

/// onenet: `yyyy-MM-dd HH:mm:ss`
#[inline]
pub(crate) fn push_onenet(b: &mut Vec<u8>, t: i64) {
    let c = civil(t);
    push4(b, c.y);
    b.push(b'-');
    push2(b, c.mo);
    b.push(b'-');
    push2(b, c.d);
    b.push(b' ');
    push2(b, c.h);
    b.push(b':');
    push2(b, c.mi);
    b.push(b':');
    push2(b, c.s);
}

/// bdc: `yyyyMMddHHmmss`
#[inline]
pub(crate) fn push_bdc(b: &mut Vec<u8>, t: i64) {
    let c = civil(t);
    push4(b, c.y);
    push2(b, c.mo);
    push2(b, c.d);
    push2(b, c.h);
    push2(b, c.mi);
    push2(b, c.s);
}

/// How a hotline time is written (all valid RFC 3339 with an offset).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Rfc {
    /// `2020-07-15T10:21:33+08:00`
    Beijing,
    /// `2020-07-15T02:21:33Z`
    Utc,
    /// `2020-07-15T10:21:33.250+08:00`
    Millis(u32),
}

#[inline]
pub(crate) fn push_rfc3339(b: &mut Vec<u8>, t: i64, style: Rfc) {
    let c = civil(if style == Rfc::Utc { t - 8 * HOUR } else { t });
    push4(b, c.y);
    b.push(b'-');
    push2(b, c.mo);
    b.push(b'-');
    push2(b, c.d);
    b.push(b'T');
    push2(b, c.h);
    b.push(b':');
    push2(b, c.mi);
    b.push(b':');
    push2(b, c.s);
    match style {
        Rfc::Beijing => b.extend_from_slice(b"+08:00"),
        Rfc::Utc => b.push(b'Z'),
        Rfc::Millis(ms) => {
            b.push(b'.');
            b.push(b'0' + (ms / 100 % 10) as u8);
            push2(b, ms % 100);
            b.extend_from_slice(b"+08:00");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_formats() {
        for z in [-1000i64, 0, 10_957, 18_262, 18_458, 47_482] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(2020, 1, 1), 18_262);
        assert_eq!(
            govstream_calendar::Day(days_from_civil(2020, 7, 15) as i32).weekday(),
            2
        ); // a Wednesday
        let t = days_from_civil(2020, 7, 15) * DAY + 10 * HOUR + 21 * MIN + 33;
        let mut b = Vec::new();
        push_onenet(&mut b, t);
        b.push(b' ');
        push_bdc(&mut b, t);
        b.push(b' ');
        push_rfc3339(&mut b, t, Rfc::Beijing);
        b.push(b' ');
        push_rfc3339(&mut b, t, Rfc::Utc);
        b.push(b' ');
        push_rfc3339(&mut b, t, Rfc::Millis(7));
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "2020-07-15 10:21:33 20200715102133 2020-07-15T10:21:33+08:00 \
             2020-07-15T02:21:33Z 2020-07-15T10:21:33.007+08:00"
        );
        assert_eq!(days_in_month(2020, 2), 29);
        assert_eq!(days_in_month(2021, 2), 28);
    }

    #[test]
    fn calendar_knows_holidays_and_makeup_days() {
        let first = days_from_civil(2020, 1, 1);
        let cal = Calendar::new(first, 400);
        assert!(!cal.is_workday(first)); // New Year's Day
        assert!(cal.is_workday(days_from_civil(2020, 1, 19))); // a make-up Sunday
        assert!(!cal.is_workday(days_from_civil(2020, 10, 8)));
        assert!(!cal.is_workday(days_from_civil(2022, 7, 11))); // 古尔邦节, outside the bitmap
        assert!(cal.is_workday(days_from_civil(2030, 7, 10))); // a Wednesday, rule only
        assert_eq!(
            cal.next_workday(days_from_civil(2020, 9, 30)),
            days_from_civil(2020, 10, 9)
        );
        let mut rng = Rng::new(1);
        let fri_night = days_from_civil(2020, 7, 17) * DAY + 20 * HOUR;
        let t = cal.office(fri_night, &mut rng);
        assert_eq!(day_of(t), days_from_civil(2020, 7, 20));
        assert!(cal.in_office(t));
        let p = Profile::new(&cal, first, 366);
        let mut last = i64::MIN;
        for i in 0..1000 {
            let x = p.at(&cal, i as f64 / 1000.0);
            assert!(x >= last && day_of(x) >= first && day_of(x) < first + 366);
            last = x;
        }
    }
}
