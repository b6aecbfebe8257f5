//! Civil (proleptic Gregorian) dates, instants and the timestamp syntaxes of the upstream sources.
//!
//! Everything here is integer arithmetic: an [`Instant`] is microseconds since the Unix epoch (UTC),
//! a [`Day`] is a count of days since 1970-01-01. Windows and working days use a fixed offset
//! (Beijing time by default); sources in a zone with daylight saving time read their local
//! times through a [`crate::zone::Zone`].

use std::fmt;

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Instant = i64;

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const SECONDS_PER_DAY: i64 = 86_400;
pub const MICROS_PER_DAY: i64 = SECONDS_PER_DAY * MICROS_PER_SECOND;
/// UTC+08:00, Beijing time.
pub const BEIJING_OFFSET_S: i32 = 8 * 3600;

/// A calendar date as a count of days since 1970-01-01 (negative before).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i32);

impl Day {
    /// The date `y-m-d`, or `None` if it does not exist (e.g. 2021-02-29).
    pub fn from_ymd(y: i32, m: u32, d: u32) -> Option<Day> {
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        Some(Day(days_from_civil(y, m, d)))
    }

    /// Parses `yyyy-MM-dd`.
    pub fn parse_iso(s: &str) -> Option<Day> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        Day::from_ymd(
            digits(&b[0..4])? as i32,
            digits(&b[5..7])?,
            digits(&b[8..10])?,
        )
    }

    pub fn ymd(self) -> (i32, u32, u32) {
        civil_from_days(self.0)
    }

    /// Monday = 0 … Sunday = 6.
    pub fn weekday(self) -> u32 {
        // 1970-01-01 was a Thursday (3).
        (self.0 as i64 + 3).rem_euclid(7) as u32
    }

    pub fn is_weekend(self) -> bool {
        self.weekday() >= 5
    }

    pub fn year(self) -> i32 {
        self.ymd().0
    }

    pub fn succ(self) -> Day {
        Day(self.0 + 1)
    }

    /// The first instant of this date in a zone `offset_s` east of UTC.
    pub fn start(self, offset_s: i32) -> Instant {
        self.0 as i64 * MICROS_PER_DAY - offset_s as i64 * MICROS_PER_SECOND
    }

    /// The local date of `t` in a zone `offset_s` east of UTC.
    pub fn of_instant(t: Instant, offset_s: i32) -> Day {
        let local = t + offset_s as i64 * MICROS_PER_SECOND;
        Day(local.div_euclid(MICROS_PER_DAY) as i32)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

pub fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a valid civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) as i32
}

/// The civil date of a day count (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i32) -> (i32, u32, u32) {
    let z = z as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// A parsed timestamp: the instant and the UTC offset it was written in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Timestamp {
    pub instant: Instant,
    pub offset_s: i32,
}

fn local_to_instant(
    date: (i32, u32, u32),
    hms: (u32, u32, u32),
    micros: i64,
    offset_s: i32,
) -> Option<Timestamp> {
    let (h, mi, s) = hms;
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let day = Day::from_ymd(date.0, date.1, date.2)?;
    let secs = (h * 3600 + mi * 60 + s) as i64;
    Some(Timestamp {
        instant: day.start(offset_s) + secs * MICROS_PER_SECOND + micros,
        offset_s,
    })
}

/// Parses an RFC 3339 §5.6 `date-time` with a mandatory offset: `T`/`t` separator, optional
/// fraction (truncated to microseconds), `Z`/`z` or `±hh:mm`. Rejects a space separator, `:60`
/// leap seconds and `24:00`.
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let sep_ok = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(sep_ok(4, b'-') && sep_ok(7, b'-') && sep_ok(13, b':') && sep_ok(16, b':')) {
        return None;
    }
    if !(b[10] == b'T' || b[10] == b't') {
        return None;
    }
    let date = (
        digits(&b[0..4])? as i32,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
    );
    let hms = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let mut i = 19;
    let mut micros = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                micros = micros * 10 + (b[i] - b'0') as i64;
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..6 {
            micros *= 10;
        }
    }
    let rest = &b[i..];
    let offset_s = match rest {
        [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2])?;
            let m = digits(&[*m1, *m2])?;
            if h > 23 || m > 59 {
                return None;
            }
            let v = (h * 3600 + m * 60) as i32;
            if *sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    local_to_instant(date, hms, micros, offset_s)
}

/// A local timestamp pattern. Tokens:
///
/// - `yyyy` four digits; `MM`, `dd`, `HH`, `hh`, `mm`, `ss` exactly two digits;
/// - `M`, `d`, `H`, `h`, `m`, `s` one or two digits (unpadded: `2020/7/5 9:03`);
/// - `a` the half of the day, `AM` or `PM` in any case, with the 12-hour `hh`/`h`
///   (`06/26/2018 10:58:54 AM`; 12 AM is midnight, 12 PM noon);
/// - any other character is a literal that must be there as it is.
///
/// A pattern of two-digit tokens and literals only (`yyyy-MM-dd HH:mm:ss`, `yyyyMMddHHmmss`) is
/// fixed-width: a value matches only with exactly the pattern's length (the fast path of the
/// built-in sources). `yyyy`, a month and a day are required; a time without seconds reads them
/// as 0. A one- or two-digit token takes as many digits as there are (at most two), so it must
/// be followed by a non-digit or the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalPattern {
    pattern: String,
    toks: Vec<Tok>,
    /// All tokens fixed-width: the value's length is known.
    fixed_len: Option<usize>,
    /// For a fixed-width pattern, where each field and literal is (the fast path of the
    /// built-in sources): (field, position, width) and (position, byte).
    fixed_fields: Vec<(PatternField, usize, usize)>,
    fixed_literals: Vec<(usize, u8)>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum PatternField {
    Year,
    Month,
    Day,
    Hour,
    Hour12,
    Minute,
    Second,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Tok {
    /// A number of `min..=max` digits.
    Num {
        field: PatternField,
        min: usize,
        max: usize,
    },
    AmPm,
    Lit(u8),
}

/// Civil fields read by a [`LocalPattern`], not yet checked against the calendar.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct LocalDateTime {
    pub date: (i32, u32, u32),
    pub hms: (u32, u32, u32),
}

impl LocalDateTime {
    /// Sets the field a pattern token reads (the hour as written, 12-hour or not).
    fn set(&mut self, f: PatternField, v: u32) {
        match f {
            PatternField::Year => self.date.0 = v as i32,
            PatternField::Month => self.date.1 = v,
            PatternField::Day => self.date.2 = v,
            PatternField::Hour | PatternField::Hour12 => self.hms.0 = v,
            PatternField::Minute => self.hms.1 = v,
            PatternField::Second => self.hms.2 = v,
        }
    }
}

impl LocalPattern {
    /// Compiles a pattern; `None` if it is not ASCII, lacks one of the date tokens, repeats a
    /// field, or mixes the 12-hour clock (`hh`, `h`, needing `a`) with the 24-hour one.
    pub fn new(pattern: &str) -> Option<LocalPattern> {
        if !pattern.is_ascii() {
            return None;
        }
        const TOKENS: [(&str, PatternField, usize, usize); 13] = [
            ("yyyy", PatternField::Year, 4, 4),
            ("MM", PatternField::Month, 2, 2),
            ("dd", PatternField::Day, 2, 2),
            ("HH", PatternField::Hour, 2, 2),
            ("hh", PatternField::Hour12, 2, 2),
            ("mm", PatternField::Minute, 2, 2),
            ("ss", PatternField::Second, 2, 2),
            ("M", PatternField::Month, 1, 2),
            ("d", PatternField::Day, 1, 2),
            ("H", PatternField::Hour, 1, 2),
            ("h", PatternField::Hour12, 1, 2),
            ("m", PatternField::Minute, 1, 2),
            ("s", PatternField::Second, 1, 2),
        ];
        let b = pattern.as_bytes();
        let mut toks = Vec::new();
        let mut seen = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let rest = &pattern[i..];
            if let Some(&(t, field, min, max)) = TOKENS.iter().find(|(t, ..)| rest.starts_with(t)) {
                if seen.contains(&field) {
                    return None;
                }
                seen.push(field);
                toks.push(Tok::Num { field, min, max });
                i += t.len();
            } else if b[i] == b'a' {
                if toks.contains(&Tok::AmPm) {
                    return None;
                }
                toks.push(Tok::AmPm);
                i += 1;
            } else {
                toks.push(Tok::Lit(b[i]));
                i += 1;
            }
        }
        let has = |f| seen.contains(&f);
        if !(has(PatternField::Year) && has(PatternField::Month) && has(PatternField::Day)) {
            return None;
        }
        let twelve = has(PatternField::Hour12);
        if twelve != toks.contains(&Tok::AmPm) || (twelve && has(PatternField::Hour)) {
            return None;
        }
        let fixed_len = toks.iter().try_fold(0, |n, t| match *t {
            Tok::Num { min, max, .. } if min == max => Some(n + max),
            Tok::Lit(_) => Some(n + 1),
            _ => None,
        });
        let (mut fixed_fields, mut fixed_literals, mut at) = (Vec::new(), Vec::new(), 0);
        if fixed_len.is_some() {
            for t in &toks {
                match *t {
                    Tok::Num { field, max, .. } => {
                        fixed_fields.push((field, at, max));
                        at += max;
                    }
                    Tok::Lit(c) => {
                        fixed_literals.push((at, c));
                        at += 1;
                    }
                    Tok::AmPm => {}
                }
            }
        }
        Some(LocalPattern {
            pattern: pattern.to_owned(),
            toks,
            fixed_len,
            fixed_fields,
            fixed_literals,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether a value must have exactly the pattern's length (two-digit tokens only).
    pub fn is_fixed_width(&self) -> bool {
        self.fixed_len.is_some()
    }

    /// Reads the civil fields of `s` (the whole of it), or `None`.
    pub fn parse_local(&self, s: &str) -> Option<LocalDateTime> {
        let b = s.as_bytes();
        if let Some(n) = self.fixed_len {
            if n != b.len() || self.fixed_literals.iter().any(|&(i, c)| b[i] != c) {
                return None;
            }
            let mut l = LocalDateTime::default();
            for &(f, i, _) in &self.fixed_fields {
                // Constant widths (4 for the year, 2 for the rest) let the digit loop unroll.
                let v = match f {
                    PatternField::Year => digits(&b[i..i + 4])?,
                    _ => digits(&b[i..i + 2])?,
                };
                l.set(f, v);
            }
            return Some(l);
        }
        let mut l = LocalDateTime::default();
        let mut pm = None;
        let mut i = 0;
        for t in &self.toks {
            match *t {
                Tok::Lit(c) => {
                    if b.get(i) != Some(&c) {
                        return None;
                    }
                    i += 1;
                }
                Tok::AmPm => {
                    let two = b.get(i..i + 2)?;
                    pm = Some(
                        match [two[0].to_ascii_uppercase(), two[1].to_ascii_uppercase()] {
                            [b'A', b'M'] => false,
                            [b'P', b'M'] => true,
                            _ => return None,
                        },
                    );
                    i += 2;
                }
                Tok::Num { field, min, max } => {
                    let n = b[i.min(b.len())..]
                        .iter()
                        .take(max)
                        .take_while(|c| c.is_ascii_digit())
                        .count();
                    if n < min {
                        return None;
                    }
                    let v = digits(&b[i..i + n])?;
                    i += n;
                    l.set(field, v);
                }
            }
        }
        if i != b.len() {
            return None;
        }
        if let Some(pm) = pm {
            let h = l.hms.0;
            if !(1..=12).contains(&h) {
                return None;
            }
            l.hms.0 = match (h, pm) {
                (12, false) => 0,
                (12, true) => 12,
                (h, false) => h,
                (h, true) => h + 12,
            };
        }
        Some(l)
    }

    /// Parses `s` as a local time in a zone `offset_s` east of UTC.
    #[inline]
    pub fn parse(&self, s: &str, offset_s: i32) -> Option<Timestamp> {
        let l = self.parse_local(s)?;
        local_to_instant(l.date, l.hms, 0, offset_s)
    }
}

/// The instant of a civil date and time at a fixed offset, `None` if it is not a real date
/// and time (hours 0–23, minutes and seconds 0–59).
pub fn local_at_offset(l: LocalDateTime, offset_s: i32) -> Option<Timestamp> {
    local_to_instant(l.date, l.hms, 0, offset_s)
}

/// A UTC offset `±hh:mm` in seconds (hours 0–23, minutes 0–59).
pub fn parse_utc_offset(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 6 || b[3] != b':' || !(b[0] == b'+' || b[0] == b'-') {
        return None;
    }
    let two = |i: usize| -> Option<i32> {
        let (x, y) = (b[i], b[i + 1]);
        (x.is_ascii_digit() && y.is_ascii_digit()).then(|| ((x - b'0') * 10 + (y - b'0')) as i32)
    };
    let (h, m) = (two(1)?, two(4)?);
    if h > 23 || m > 59 {
        return None;
    }
    Some(if b[0] == b'-' { -1 } else { 1 } * (h * 3600 + m * 60))
}

/// Formats an instant as RFC 3339 in the given offset, with microseconds only when non-zero.
pub fn format_rfc3339(t: Instant, offset_s: i32) -> String {
    let local = t + offset_s as i64 * MICROS_PER_SECOND;
    let day = Day(local.div_euclid(MICROS_PER_DAY) as i32);
    let in_day = local.rem_euclid(MICROS_PER_DAY);
    let secs = in_day / MICROS_PER_SECOND;
    let micros = in_day % MICROS_PER_SECOND;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let frac = if micros == 0 {
        String::new()
    } else {
        format!(".{micros:06}")
    };
    let off = if offset_s == 0 {
        "Z".to_owned()
    } else {
        let sign = if offset_s < 0 { '-' } else { '+' };
        let a = offset_s.unsigned_abs();
        format!("{sign}{:02}:{:02}", a / 3600, a / 60 % 60)
    };
    format!("{day}T{h:02}:{m:02}:{s:02}{frac}{off}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_offsets() {
        assert_eq!(parse_utc_offset("+08:00"), Some(28_800));
        assert_eq!(parse_utc_offset("-03:30"), Some(-12_600));
        assert_eq!(parse_utc_offset("+00:00"), Some(0));
        for bad in [
            "+8:00", "08:00", "+24:00", "+08:60", "+0a:00", "+08-00", "+08:000", "＋08:00",
        ] {
            assert_eq!(parse_utc_offset(bad), None, "{bad}");
        }
    }

    #[test]
    fn civil_round_trip_and_weekday() {
        for z in -800_000..800_000 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(Day::parse_iso("1970-01-01"), Some(Day(0)));
        assert_eq!(Day::parse_iso("2020-07-15").unwrap().weekday(), 2); // Wednesday
        assert_eq!(
            Day::parse_iso("2020-02-29").unwrap().to_string(),
            "2020-02-29"
        );
        assert_eq!(Day::parse_iso("2021-02-29"), None);
        assert_eq!(Day::parse_iso("2020-13-01"), None);
    }

    #[test]
    fn rfc3339_accepts_the_rfc_syntax() {
        let t = parse_rfc3339("2020-07-15T10:21:33+08:00").unwrap();
        assert_eq!(t.offset_s, 8 * 3600);
        assert_eq!(format_rfc3339(t.instant, 0), "2020-07-15T02:21:33Z");
        assert_eq!(
            parse_rfc3339("2020-07-15t02:21:33z").unwrap().instant,
            t.instant
        );
        let f = parse_rfc3339("2020-07-15T02:21:33.1234567Z").unwrap();
        assert_eq!(f.instant - t.instant, 123_456);
        assert_eq!(
            parse_rfc3339("2020-07-14T21:21:33-05:00").unwrap().instant,
            t.instant
        );
    }

    #[test]
    fn rfc3339_rejects_what_the_spec_rejects() {
        for bad in [
            "2020-07-15 10:21:33+08:00",
            "2020-07-15T10:21:33",
            "2020-07-15T10:21:60+08:00",
            "2020-07-15T24:00:00+08:00",
            "2020-07-15T10:21:33.+08:00",
            "2020-07-15T10:21:33+0800",
            "2020-02-30T10:21:33Z",
            "2020-7-15T10:21:33Z",
            "",
            "2020-07-15T10:21:33+08:00 ",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn local_patterns() {
        let p = LocalPattern::new("yyyy-MM-dd HH:mm:ss").unwrap();
        let t = p.parse("2020-07-15 10:21:33", BEIJING_OFFSET_S).unwrap();
        assert_eq!(
            format_rfc3339(t.instant, BEIJING_OFFSET_S),
            "2020-07-15T10:21:33+08:00"
        );
        for bad in [
            "2020-07-15T10:21:33",
            "2020-07-15 10:21:3",
            "2020-07-15 10:21:330",
            "2020-07-15 24:00:00",
            "2020-02-30 10:00:00",
            "2020-07-15 10:21:60",
            "２020-07-15 10:21:33",
        ] {
            assert_eq!(p.parse(bad, BEIJING_OFFSET_S), None, "{bad}");
        }
        let q = LocalPattern::new("yyyyMMddHHmmss").unwrap();
        assert_eq!(q.parse("20200715102133", BEIJING_OFFSET_S), Some(t));
        assert_eq!(q.parse("2020071510213", BEIJING_OFFSET_S), None);
        assert_eq!(q.parse("+0200715102133", BEIJING_OFFSET_S), None);
        let d = LocalPattern::new("dd/MM/yyyy").unwrap();
        assert_eq!(
            d.parse("15/07/2020", 0).unwrap().instant,
            Day::parse_iso("2020-07-15").unwrap().start(0)
        );
        assert_eq!(LocalPattern::new("HH:mm"), None);
    }
}
