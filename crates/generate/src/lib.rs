//! A deterministic, realistic workload of **raw upstream records** for govstream's three
//! sources — `hotline` (12345 hotline, UTF-8 JSON), `onenet` (online government-services
//! platform, UTF-8 JSON) and `bdc` (real-estate registration, GB18030 `|`-delimited text) —
//! exactly in the formats of `spec/sources.md`.
//!
//! Pure: no I/O, no clock, no global state. The same [`GenConfig`] always gives the same
//! byte-identical sequence; a different seed gives a different one. The randomness is a
//! built-in xoshiro256** seeded by splitmix64, and only exactly rounded floating-point
//! operations are used, so sequences are also the same across platforms.
//!
//! ```
//! use govstream_generate::{GenConfig, Generator};
//! let cfg = GenConfig { seed: 7, records: 1_000, ..GenConfig::default() };
//! for rec in Generator::new(cfg).take(3) {
//!     assert!(!rec.bytes.is_empty());
//!     let _topic = rec.source.name(); // "hotline", "onenet" or "bdc"
//! }
//! ```
//!
//! # The model
//!
//! **The region** is the one of the seed report, 巴音郭楞蒙古自治州 (Xinjiang): its nine counties
//! with their GB/T 2260 codes (652801 库尔勒市 … 652829 博湖县), weighted by population; 24
//! departments per county (plus utilities and the county government office that only the hotline
//! dispatches to), each with an 18-character unified social credit code and a hotline code such
//! as `652801-ZJJ`; 136 service items, instantiated per county into 1,224 implementation codes
//! (`TASKCODE` = department code + 13-digit catalogue code), each with its own item type
//! (即办件 `JB` / 承诺件 `CN`), promised days (1–20), statutory days and sometimes natural-day
//! promises (`PROMISETYPE` 2). The region does not depend on the seed.
//!
//! **Demand.** Cases start over `days` days from `start_date`, following a weekly and daily
//! profile: mostly office hours (09:00–18:00 Beijing time) of working days — the State
//! Council's holidays and make-up working days (2020–2026) and Xinjiang's 肉孜节/古尔邦节 where
//! known — fewer in evenings, nights, weekends and holidays. The mix is about 40% `onenet`, 35%
//! `hotline` and 25% `bdc` *records*.
//!
//! **A case** is generated whole, in event-time order, with durations measured in working days so
//! that most cases meet their limits and some do not:
//! - *onenet application*: `SB` (submission: online 48%, mobile 30%, window 17%, kiosk 5%;
//!   missing for 3% of cases) → `SL` (acceptance: minutes at a window, hours to two working days
//!   online) → 0–3 `GC` steps (some `ONSITE` 1; 7% with a `SUSPEND`…`RESUME` pair of 1–10
//!   working days, 0.8% suspended and never resumed) → `BJ` (approved 90%, refused 5%, withdrawn
//!   3%, none yet 2%; `DELIVERY` 1/2/3 by channel) → `PJ` evaluations for 45% of results, with bad
//!   reviews more likely after a late or refused case. About 10% of promised items and 6% of
//!   immediate items finish late. Some departments write codes as JSON integers
//!   (`"APPLYTYPE":1`), some omit optional fields.
//! - *hotline work order*: `REGISTER` (category, channel, caller name and phone — 12% from a pool
//!   of repeat callers — and Chinese free text) → `ANSWER` at first contact (about 30%, mostly
//!   consultations) or `DISPATCH` to the county department the matter belongs to (`limitDays` by
//!   category, `signLimitHours` on 30%) → `SIGN` (sometimes late, 3% never) → `RETURN` and
//!   re-`DISPATCH` (8%, sometimes twice) → `EXTEND` (6%) → `URGE` (mostly for late orders) →
//!   `REPLY` → `CLOSE` → `CALLBACK` (75%; all five satisfaction values including `UNREACHABLE`) → after a
//!   dissatisfied callback, half the time `REOPEN` → `REPLY` → `CLOSE` (→ `CALLBACK`). About 9% of
//!   dispatched orders are handled late; a few are never replied to or never closed.
//! - *bdc registration* (types 100–500): `01` at a window (twice for 3%, not exported for 2%) →
//!   `02` → `03` → `04` within 5 working days for about 88% → `05` → `06` collected for most,
//!   no certificate for cancellations (400), `99` withdrawn for 3%. Right holders are people
//!   (sometimes two, sometimes with 珅 in the name, whose GB18030 encoding ends in the byte
//!   `|`) or developers.
//!
//! Personal data is fake but realistic: Han, Uyghur and Mongol names, 18-character ID numbers
//! with valid check characters, 11-digit mobile numbers, Korla landlines, company names and
//! credit codes. Record ids: hotline `eventId` (UUID-like, unique per run), `orderNo` like
//! `BZ2020071500123`; onenet `RECORDID` like `SL-652801-2020-0000123` (unique per run) and a
//! 20-digit `PROJID`; bdc has none (`SLBH|ZT|CZSJ` is unique).
//!
//! **The stream.** Each record has an *arrival* time: seconds after its event for real-time
//! systems, the next hour for the bdc export, the next night for departments that sync in batches
//! (one bdc county, 15% of onenet departments). Records pass through four bounded stages:
//! 1. an arrival-order buffer (at most 32,768 records) that releases records as the case-start
//!    frontier passes their arrival time; when it is full, the earliest record leaves early. Small
//!    or sparse workloads therefore come out in arrival order; dense ones in approximately that
//!    order (each case's near-term events may come out a little ahead of the frontier);
//! 2. a hold-back buffer (at most 32,768 records): `late_rate` of the records are delayed by
//!    2 hours to 5 days of stream time, and 1.5% of the onenet acceptances (`SL`) are held until
//!    after their case's result (`BJ`) has passed;
//! 3. duplicates: `duplicate_rate` of the records are re-emitted byte-identically, mostly soon,
//!    sometimes hundreds of thousands of records later (at most 8,192 pending);
//! 4. a reorder window of `shuffle_window` records (each record leaves at a random later point).
//!
//! `invalid_rate` of the records are replaced by a deliberately bad copy, spread evenly over
//! `bad_encoding` (GB18030 bytes in a UTF-8 source, a byte GB18030 lacks), `malformed_json`
//! (truncated, trailing comma, two objects; for bdc a wrong field count, which is
//! `missing_field`), `missing_field`, `unknown_code`, `bad_timestamp` and `time_out_of_range`,
//! each with exactly that rejection reason under the spec's precedence. None is oversize.
//!
//! **Memory** is flat: apart from the buffers above (bounded by constants and by
//! `shuffle_window`) the generator keeps only per-day serial counters (bounded by `days`) and the
//! region's reference data, whatever `records` is.
//!
//! Limits: `PROJID` stays 20 digits while a day has fewer than a million applications and
//! `orderNo` keeps its 5-digit serial below 100,000 orders a day; beyond that the serials widen
//! (ids stay unique).

mod bdc;
mod catalogue;
mod data;
mod gen;
mod hotline;
mod invalid;
mod json;
mod onenet;
mod rng;
#[cfg(test)]
mod tests;
mod time;
mod world;

pub use catalogue::catalogue;
use gen::{Env, Gen};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::sync::Arc;
use time::{days_from_civil, days_in_month, Calendar, Profile, DAY, HOUR};

/// What to generate. Rates are fractions of records (clamped to `[0, 1]`).
#[derive(Clone, Debug, PartialEq)]
pub struct GenConfig {
    pub seed: u64,
    /// Approximate total number of raw records to emit (duplicates included).
    pub records: u64,
    /// First day of case starts, `(year, month, day)`; default 2020-01-01.
    pub start_date: (i32, u32, u32),
    /// Span of case starts in days; default 366.
    pub days: u32,
    /// Fraction of records re-emitted as byte-identical duplicates; default 0.02.
    pub duplicate_rate: f64,
    /// Fraction of records delayed by hours to days; default 0.02.
    pub late_rate: f64,
    /// Size of the out-of-order reorder buffer; default 64 (0 or 1: no reordering).
    pub shuffle_window: usize,
    /// Fraction of deliberately bad records; default 0.001.
    pub invalid_rate: f64,
}

impl Default for GenConfig {
    fn default() -> GenConfig {
        GenConfig {
            seed: 2020,
            records: 1_000_000,
            start_date: (2020, 1, 1),
            days: 366,
            duplicate_rate: 0.02,
            late_rate: 0.02,
            shuffle_window: 64,
            invalid_rate: 0.001,
        }
    }
}

/// The upstream source of a record.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    Hotline,
    Onenet,
    Bdc,
}

impl SourceKind {
    pub const ALL: [SourceKind; 3] = [SourceKind::Hotline, SourceKind::Onenet, SourceKind::Bdc];

    /// The source's name as in the mappings: `hotline`, `onenet`, `bdc`.
    pub fn name(&self) -> &'static str {
        match self {
            SourceKind::Hotline => "hotline",
            SourceKind::Onenet => "onenet",
            SourceKind::Bdc => "bdc",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One raw upstream record: the message value (file mode: the line without its terminator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRecord {
    pub source: SourceKind,
    pub bytes: Vec<u8>,
}

/// Capacity of the arrival-order buffer.
const ORDER_CAP: usize = 32_768;
/// Capacity of the hold-back buffer for late records.
const LATE_CAP: usize = 32_768;
/// Capacity of the pending-duplicates buffer.
const DUP_CAP: usize = 8_192;
/// Target shares of records: onenet, hotline, bdc.
const SHARES: [(SourceKind, f64); 3] = [
    (SourceKind::Onenet, 0.40),
    (SourceKind::Hotline, 0.35),
    (SourceKind::Bdc, 0.25),
];

/// A record waiting for the frontier to pass its arrival time (min-heap on arrival, then order
/// of generation).
struct Ordered {
    arrival: i64,
    seq: u64,
    hold: u64,
    rec: RawRecord,
}

impl PartialEq for Ordered {
    fn eq(&self, o: &Self) -> bool {
        (self.arrival, self.seq) == (o.arrival, o.seq)
    }
}
impl Eq for Ordered {}
impl PartialOrd for Ordered {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ordered {
    fn cmp(&self, o: &Self) -> Ordering {
        (o.arrival, o.seq).cmp(&(self.arrival, self.seq))
    }
}

/// A record waiting for a stream position (min-heap on position).
struct Due {
    due: u64,
    seq: u64,
    rec: RawRecord,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.due, self.seq) == (o.due, o.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    fn cmp(&self, o: &Self) -> Ordering {
        (o.due, o.seq).cmp(&(self.due, self.seq))
    }
}

/// The record stream: an iterator of [`RawRecord`]s, generated case by case on demand.
pub struct Generator {
    cfg: GenConfig,
    gen: Gen,
    /// Records to generate before duplicates.
    target: u64,
    generated: u64,
    per_source: [u64; 3],
    order: BinaryHeap<Ordered>,
    late: BinaryHeap<Due>,
    dups: BinaryHeap<Due>,
    window: Vec<RawRecord>,
    out: VecDeque<RawRecord>,
    /// Stream position: records released from the arrival-order buffer so far.
    pos: u64,
    seq: u64,
    generating: bool,
}

impl Generator {
    /// # Panics
    /// If `start_date` is not a date, or the span does not lie within 2000-01-01..2098-12-31
    /// (every generated time must stay inside the spec's accepted range).
    pub fn new(mut cfg: GenConfig) -> Generator {
        let (y, m, d) = cfg.start_date;
        assert!(
            (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m),
            "start_date {y}-{m}-{d} is not a date"
        );
        cfg.days = cfg.days.max(1);
        let first = days_from_civil(y, m, d);
        assert!(
            first >= days_from_civil(2000, 1, 1)
                && first + cfg.days as i64 <= days_from_civil(2098, 12, 31),
            "the span must lie within 2000-01-01..2098-12-31"
        );
        let rate = |x: f64| if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) };
        cfg.duplicate_rate = rate(cfg.duplicate_rate).min(0.9);
        cfg.late_rate = rate(cfg.late_rate);
        cfg.invalid_rate = rate(cfg.invalid_rate);

        let cal = Calendar::new(first - 30, cfg.days as usize + 1000);
        let profile = Profile::new(&cal, first, cfg.days);
        let env = Arc::new(Env {
            world: world::World::new(),
            cal,
            profile,
        });
        let target = (cfg.records as f64 / (1.0 + cfg.duplicate_rate)).round() as u64;
        let pos_per_sec = target as f64 / (cfg.days as f64 * DAY as f64);
        let gen = Gen::new(
            env,
            cfg.seed,
            cfg.invalid_rate,
            first,
            cfg.days,
            pos_per_sec,
        );
        Generator {
            window: Vec::with_capacity(cfg.shuffle_window.min(1 << 16)),
            cfg,
            gen,
            target,
            generated: 0,
            per_source: [0; 3],
            order: BinaryHeap::new(),
            late: BinaryHeap::new(),
            dups: BinaryHeap::new(),
            out: VecDeque::new(),
            pos: 0,
            seq: 0,
            generating: target > 0,
        }
    }

    /// The configuration in effect (rates clamped).
    pub fn config(&self) -> &GenConfig {
        &self.cfg
    }

    fn pick_source(&mut self) -> SourceKind {
        let rng = &mut self.gen.rng;
        if rng.chance(0.25) {
            let r = rng.f64();
            return if r < SHARES[0].1 {
                SHARES[0].0
            } else if r < SHARES[0].1 + SHARES[1].1 {
                SHARES[1].0
            } else {
                SHARES[2].0
            };
        }
        // Otherwise the source furthest behind its share of the records.
        let total = (self.generated + 1) as f64;
        let mut best = SHARES[0].0;
        let mut best_deficit = f64::MIN;
        for (s, share) in SHARES {
            let deficit = share * total - self.per_source[s.index()] as f64;
            if deficit > best_deficit {
                best = s;
                best_deficit = deficit;
            }
        }
        best
    }

    fn generate_case(&mut self) {
        let env = Arc::clone(&self.gen.env);
        let u = self.generated as f64 / self.target as f64;
        let frontier = env.profile.at(&env.cal, u);
        let t0 = frontier + self.gen.rng.range(0, 600);
        match self.pick_source() {
            SourceKind::Hotline => self.gen.hotline_case(t0),
            SourceKind::Onenet => self.gen.onenet_case(t0),
            SourceKind::Bdc => self.gen.bdc_case(t0),
        }
        for e in self.gen.out.drain(..) {
            self.seq += 1;
            self.generated += 1;
            self.per_source[e.source.index()] += 1;
            self.order.push(Ordered {
                arrival: e.arrival,
                seq: self.seq,
                hold: e.hold,
                rec: RawRecord {
                    source: e.source,
                    bytes: e.bytes,
                },
            });
        }
        if self.generated >= self.target {
            self.generating = false;
        }
        while self.order.peek().is_some_and(|o| o.arrival <= frontier) {
            let o = self.order.pop().expect("peeked");
            self.released(o.rec, o.hold);
        }
        while self.order.len() > ORDER_CAP {
            let o = self.order.pop().expect("non-empty");
            self.released(o.rec, o.hold);
        }
    }

    /// A record leaves the arrival-order buffer: it takes the next stream position, and is
    /// either held back (late) or goes on.
    fn released(&mut self, rec: RawRecord, hold: u64) {
        self.pos += 1;
        while self.late.peek().is_some_and(|d| d.due <= self.pos) {
            let d = self.late.pop().expect("peeked");
            self.onward(d.rec, true);
        }
        while self.dups.peek().is_some_and(|d| d.due <= self.pos) {
            let d = self.dups.pop().expect("peeked");
            self.onward(d.rec, false);
        }
        let mut delay = hold;
        if delay == 0 && self.cfg.late_rate > 0.0 && self.gen.rng.chance(self.cfg.late_rate) {
            // 2 hours to about 5 days.
            let secs = self.gen.rng.log_uniform(2.0 * HOUR as f64, 5);
            delay = self.gen.hold_for(secs as i64);
        }
        if delay == 0 {
            self.onward(rec, true);
            return;
        }
        self.seq += 1;
        self.late.push(Due {
            due: self.pos + delay,
            seq: self.seq,
            rec,
        });
        while self.late.len() > LATE_CAP {
            let d = self.late.pop().expect("non-empty");
            self.onward(d.rec, true);
        }
    }

    /// Maybe schedules a duplicate, then enters the reorder window.
    fn onward(&mut self, rec: RawRecord, may_duplicate: bool) {
        if may_duplicate
            && self.cfg.duplicate_rate > 0.0
            && self.gen.rng.chance(self.cfg.duplicate_rate)
        {
            let rng = &mut self.gen.rng;
            let delay = match rng.below(10) {
                0..=5 => rng.range(1, 200),
                6..=8 => rng.range(200, 20_000),
                _ => rng.range(20_000, 2_000_000),
            } as u64
                + self.cfg.shuffle_window as u64;
            self.seq += 1;
            self.dups.push(Due {
                due: self.pos + delay,
                seq: self.seq,
                rec: rec.clone(),
            });
            while self.dups.len() > DUP_CAP {
                let d = self.dups.pop().expect("non-empty");
                self.shuffle_in(d.rec);
            }
        }
        self.shuffle_in(rec);
    }

    fn shuffle_in(&mut self, rec: RawRecord) {
        let w = self.cfg.shuffle_window;
        if w <= 1 {
            self.out.push_back(rec);
        } else if self.window.len() < w {
            self.window.push(rec);
        } else {
            let i = self.gen.rng.index(w);
            let old = std::mem::replace(&mut self.window[i], rec);
            self.out.push_back(old);
        }
    }

    /// After the last case: empties the buffers in order. Returns false when all is out.
    fn drain_step(&mut self) -> bool {
        if let Some(o) = self.order.pop() {
            self.released(o.rec, o.hold);
            return true;
        }
        let late_due = self.late.peek().map(|d| d.due);
        let dup_due = self.dups.peek().map(|d| d.due);
        match (late_due, dup_due) {
            (Some(l), d) if d.is_none_or(|d| l <= d) => {
                let x = self.late.pop().expect("peeked");
                self.pos = self.pos.max(x.due);
                self.onward(x.rec, true);
                true
            }
            (_, Some(_)) => {
                let x = self.dups.pop().expect("peeked");
                self.pos = self.pos.max(x.due);
                self.shuffle_in(x.rec);
                true
            }
            (None, None) => {
                if self.window.is_empty() {
                    return false;
                }
                let i = self.gen.rng.index(self.window.len());
                let rec = self.window.swap_remove(i);
                self.out.push_back(rec);
                true
            }
            _ => unreachable!(),
        }
    }

    /// Records held in the generator's buffers right now (bounded; for tests).
    #[cfg(test)]
    fn buffered(&self) -> [usize; 5] {
        [
            self.order.len(),
            self.late.len(),
            self.dups.len(),
            self.window.len(),
            self.out.len(),
        ]
    }
}

impl Iterator for Generator {
    type Item = RawRecord;

    fn next(&mut self) -> Option<RawRecord> {
        loop {
            if let Some(r) = self.out.pop_front() {
                return Some(r);
            }
            if self.generating {
                self.generate_case();
            } else if !self.drain_step() {
                return None;
            }
        }
    }
}

impl std::iter::FusedIterator for Generator {}
