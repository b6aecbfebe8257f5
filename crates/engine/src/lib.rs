//! The timeliness engine: canonical case events in, timeliness aggregates out.
//!
//! Pure and deterministic: no I/O, no clock. Time arrives as event instants; the watermark is
//! the latest instant seen. Each case keeps compact facts (`case`); whenever a record of a case
//! arrives, the case's old contribution to the aggregates is retracted and the new one added
//! (`contrib`), so the final aggregates depend only on the set of records — not on arrival
//! order, not on duplicates.

mod case;
mod contrib;
mod intern;
pub mod render;
mod snapshot;
mod store;

pub use contrib::{Family, BUCKET_BOUNDS};
pub use render::canonical_json;
pub use snapshot::SnapshotError;

use case::{
    max_opt, min_opt, take_earliest, take_latest, AcceptA, Application, Case, Dims, DispatchA,
    Facts, OrderEvent, RegisterA, SubmitA, WorkOrder,
};
use contrib::{Item, BUCKETS};
use govstream_calendar::civil::{Day, MICROS_PER_DAY};
use govstream_calendar::Calendar;
use govstream_proto::v1 as pb;
use intern::{Interner, Sym};
use prost::Message;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use store::{Cell, Store};

/// What the engine did with an event.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A new record: folded into its case.
    New,
    /// A copy of a record already applied, identical.
    Duplicate,
    /// A copy of a record already applied with different content: ignored (first wins).
    Conflict,
    /// Not a stage the engine knows for its case kind (e.g. STAGE_UNSPECIFIED).
    Ignored,
}

/// Counts of what the engine has seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub applied: u64,
    pub duplicates: u64,
    pub conflicts: u64,
    pub ignored: u64,
}

/// The engine: case facts, aggregates and the watermark.
pub struct Engine {
    cal: Arc<Calendar>,
    interner: Interner,
    cases: HashMap<Sym, HashMap<Box<str>, Case>>,
    store: Store,
    watermark: Option<i64>,
    stats: EngineStats,
    old: Vec<Item>,
    new: Vec<Item>,
    buf: Vec<u8>,
    sym_12345: Sym,
}

/// A stable 64-bit hash (FNV-1a): the same in every process, so snapshots stay valid.
fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn enum_name(full: &str, prefix: &str) -> String {
    full.strip_prefix(prefix).unwrap_or(full).to_owned()
}

impl Engine {
    pub fn new(cal: Arc<Calendar>) -> Engine {
        let mut interner = Interner::default();
        let sym_12345 = interner.intern("12345");
        Engine {
            cal,
            interner,
            cases: HashMap::new(),
            store: Store::default(),
            watermark: None,
            stats: EngineStats::default(),
            old: Vec::new(),
            new: Vec::new(),
            buf: Vec::new(),
            sym_12345,
        }
    }

    pub fn calendar(&self) -> &Calendar {
        &self.cal
    }

    /// The latest event instant seen (UTC microseconds).
    pub fn watermark(&self) -> Option<i64> {
        self.watermark
    }

    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Number of cases held.
    pub fn cases(&self) -> usize {
        self.cases.values().map(HashMap::len).sum()
    }

    fn channel_sym(&mut self, ev: &pb::CaseEvent) -> Sym {
        match ev.channel() {
            pb::Channel::Unspecified => Sym::EMPTY,
            c => {
                let name = enum_name(c.as_str_name(), "CHANNEL_");
                self.interner.intern(&name)
            }
        }
    }

    /// Folds one canonical event in.
    pub fn apply(&mut self, ev: &pb::CaseEvent) -> Applied {
        let t = ev.event_time_us;
        self.watermark = Some(self.watermark.map_or(t, |w| w.max(t)));
        let rid = stable_hash(ev.record_id.as_bytes());
        self.buf.clear();
        ev.encode(&mut self.buf).unwrap_or(());
        let fp = stable_hash(&self.buf) as u32;
        let source = self.interner.intern(&ev.source);
        let kind = ev.case_kind();
        let is_app = match kind {
            pb::CaseKind::Application => true,
            pb::CaseKind::WorkOrder => false,
            pb::CaseKind::Unspecified => {
                self.stats.ignored += 1;
                return Applied::Ignored;
            }
        };
        // Dimension symbols are interned before the case is borrowed.
        let region = self.interner.intern(&ev.region);
        let dept = self.interner.intern(&ev.department);
        let item = self.interner.intern(&ev.service_item);
        let channel = self.channel_sym(ev);
        let category = match ev.category() {
            pb::Category::Unspecified => Sym::EMPTY,
            c => {
                let name = enum_name(c.as_str_name(), "CATEGORY_");
                self.interner.intern(&name)
            }
        };
        let by_source = self.cases.entry(source).or_default();
        let case = match by_source.get_mut(ev.case_id.as_str()) {
            Some(c) => c,
            None => by_source.entry(ev.case_id.as_str().into()).or_insert(Case {
                facts: if is_app {
                    Facts::Application(Application::default())
                } else {
                    Facts::WorkOrder(WorkOrder::default())
                },
                seen: Vec::new(),
            }),
        };
        if let Some(&(_, f)) = case.seen.iter().find(|(r, _)| *r == rid) {
            if f == fp {
                self.stats.duplicates += 1;
                return Applied::Duplicate;
            }
            self.stats.conflicts += 1;
            return Applied::Conflict;
        }
        self.old.clear();
        contribution(
            &case.facts,
            &self.cal,
            &self.interner,
            self.sym_12345,
            &mut self.old,
        );
        let dims_app: Dims = [region, dept, item, channel];
        let changed = match &mut case.facts {
            Facts::Application(a) if is_app => fold_application(a, ev, dims_app),
            Facts::WorkOrder(o) if !is_app => {
                fold_work_order(o, ev, region, dept, category, channel)
            }
            _ => false,
        };
        if !changed {
            self.stats.ignored += 1;
            return Applied::Ignored;
        }
        case.seen.push((rid, fp));
        self.new.clear();
        contribution(
            &case.facts,
            &self.cal,
            &self.interner,
            self.sym_12345,
            &mut self.new,
        );
        let family = if is_app {
            Family::Application
        } else {
            Family::Hotline
        };
        if self.old != self.new {
            self.store.apply(family, &self.old, -1);
            self.store.apply(family, &self.new, 1);
        }
        self.stats.applied += 1;
        Applied::New
    }

    /// The final aggregate records as of the current watermark, in canonical order (family,
    /// granularity, window, then dimension values, byte-wise).
    pub fn records(&self) -> Vec<pb::AggregateRecord> {
        let Some(wm) = self.watermark else {
            return Vec::new();
        };
        let offset = self.cal.offset_s();
        let wm_day = Day::of_instant(wm, offset).0;
        // DAY cells with overdue values merged in.
        let mut days: BTreeMap<(Family, i32, Dims), (Cell, i64)> = BTreeMap::new();
        for (k, c) in &self.store.cells {
            if !c.is_zero() {
                days.insert(*k, (c.clone(), 0));
            }
        }
        let mut month_overdue: BTreeMap<(Family, i32, Dims), i64> = BTreeMap::new();
        for ((fam, dims), steps) in &self.store.overdue {
            let mut value = 0i64;
            let entries: Vec<(i32, i64)> = steps.iter().map(|(d, v)| (*d, *v)).collect();
            for (i, &(d, delta)) in entries.iter().enumerate() {
                value += delta;
                if d > wm_day {
                    break;
                }
                let next = entries
                    .get(i + 1)
                    .map_or(wm_day + 1, |e| e.0.min(wm_day + 1));
                if value != 0 {
                    for day in d..next {
                        days.entry((*fam, day, *dims)).or_default().1 = value;
                    }
                }
                // Month snapshots: the value at the end of every month in [d, next), and at the
                // watermark's day for the watermark's month.
                let mut day = d;
                while day < next {
                    let (y, m, _) = Day(day).ymd();
                    let month_end = Day::from_ymd(
                        if m == 12 { y + 1 } else { y },
                        if m == 12 { 1 } else { m + 1 },
                        1,
                    )
                    .map_or(day, |x| x.0 - 1);
                    let snap = month_end.min(wm_day);
                    if snap < next {
                        month_overdue.insert((*fam, month_key(day), *dims), value);
                    }
                    day = month_end + 1;
                }
            }
        }
        let mut months: BTreeMap<(Family, i32, Dims), (Cell, i64)> = BTreeMap::new();
        for ((fam, day, dims), (cell, _)) in &days {
            let m = months.entry((*fam, month_key(*day), *dims)).or_default();
            for i in 0..14 {
                m.0.counters[i] += cell.counters[i];
            }
            for i in 0..BUCKETS {
                m.0.buckets[i] += cell.buckets[i];
            }
            m.0.sum_us += cell.sum_us;
        }
        for (k, v) in month_overdue {
            months.entry(k).or_default().1 = v;
        }
        let mut out = Vec::with_capacity(days.len() + months.len());
        for ((fam, day, dims), (cell, overdue)) in days {
            out.push(self.record(
                fam,
                pb::Granularity::Day,
                Day(day).to_string(),
                dims,
                &cell,
                overdue,
            ));
        }
        for ((fam, mk, dims), (cell, overdue)) in months {
            out.push(self.record(
                fam,
                pb::Granularity::Month,
                month_string(mk),
                dims,
                &cell,
                overdue,
            ));
        }
        out.retain(|r| has_nonzero(r));
        out.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
        out
    }

    fn record(
        &self,
        fam: Family,
        gran: pb::Granularity,
        window: String,
        dims: Dims,
        cell: &Cell,
        overdue: i64,
    ) -> pb::AggregateRecord {
        let s = |sym: Sym| self.interner.get(sym).to_owned();
        let c = |i: u8| cell.counters[i as usize].max(0) as u64;
        let mut cum = Vec::with_capacity(BUCKETS);
        let mut acc = 0i64;
        for b in cell.buckets {
            acc += b;
            cum.push(acc.max(0) as u64);
        }
        let duration = pb::DurationHistogram {
            cumulative_counts: cum,
            sum: cell.sum_us as f64 / MICROS_PER_DAY as f64,
            count: cell.count().max(0) as u64,
        };
        let overdue = overdue.max(0) as u64;
        let (key, counters) = match fam {
            Family::Application => {
                use contrib::app::*;
                (
                    pb::AggregateKey {
                        family: pb::Family::Application as i32,
                        granularity: gran as i32,
                        window,
                        region: s(dims[0]),
                        dept: s(dims[1]),
                        item: s(dims[2]),
                        category: String::new(),
                        channel: s(dims[3]),
                    },
                    pb::aggregate_record::Counters::Application(pb::ApplicationCounters {
                        submitted: c(SUBMITTED),
                        accepted: c(ACCEPTED),
                        completed: c(COMPLETED),
                        on_time: c(ON_TIME),
                        at_most_one_trip: c(AT_MOST_ONE_TRIP),
                        zero_trip: c(ZERO_TRIP),
                        withdrawn: c(WITHDRAWN),
                        reviews: c(REVIEWS),
                        bad_reviews: c(BAD_REVIEWS),
                        overdue_open: overdue,
                    }),
                )
            }
            Family::Hotline => {
                use contrib::hot::*;
                (
                    pb::AggregateKey {
                        family: pb::Family::Hotline as i32,
                        granularity: gran as i32,
                        window,
                        region: s(dims[0]),
                        dept: s(dims[1]),
                        item: String::new(),
                        category: s(dims[2]),
                        channel: s(dims[3]),
                    },
                    pb::aggregate_record::Counters::Hotline(pb::HotlineCounters {
                        received: c(RECEIVED),
                        answered_directly: c(ANSWERED_DIRECTLY),
                        dispatched: c(DISPATCHED),
                        signed: c(SIGNED),
                        signed_on_time: c(SIGNED_ON_TIME),
                        returned: c(RETURNED),
                        urged: c(URGED),
                        closed: c(CLOSED),
                        closed_on_time: c(CLOSED_ON_TIME),
                        callbacks: c(CALLBACKS),
                        satisfied: c(SATISFIED),
                        unreachable: c(UNREACHABLE),
                        reopened: c(REOPENED),
                        overdue_open: overdue,
                    }),
                )
            }
        };
        pb::AggregateRecord {
            key: Some(key),
            counters: Some(counters),
            duration: Some(duration),
        }
    }
}

fn month_key(day: i32) -> i32 {
    let (y, m, _) = Day(day).ymd();
    y * 12 + (m as i32 - 1)
}

fn month_string(mk: i32) -> String {
    format!("{:04}-{:02}", mk.div_euclid(12), mk.rem_euclid(12) + 1)
}

fn has_nonzero(r: &pb::AggregateRecord) -> bool {
    let hist = r.duration.as_ref().is_some_and(|d| d.count > 0);
    hist || match &r.counters {
        Some(pb::aggregate_record::Counters::Application(c)) => {
            c.submitted
                | c.accepted
                | c.completed
                | c.on_time
                | c.at_most_one_trip
                | c.zero_trip
                | c.withdrawn
                | c.reviews
                | c.bad_reviews
                | c.overdue_open
                != 0
        }
        Some(pb::aggregate_record::Counters::Hotline(c)) => {
            c.received
                | c.answered_directly
                | c.dispatched
                | c.signed
                | c.signed_on_time
                | c.returned
                | c.urged
                | c.closed
                | c.closed_on_time
                | c.callbacks
                | c.satisfied
                | c.unreachable
                | c.reopened
                | c.overdue_open
                != 0
        }
        None => false,
    }
}

/// Sort key of the canonical order: family name, granularity name, window, dimension values.
fn sort_key(r: &pb::AggregateRecord) -> (&'static str, &'static str, &str, [&str; 4]) {
    let k = r.key.as_ref();
    let fam = match k.map(|k| k.family()) {
        Some(pb::Family::Application) => "application",
        Some(pb::Family::Hotline) => "hotline",
        _ => "",
    };
    let gran = match k.map(|k| k.granularity()) {
        Some(pb::Granularity::Day) => "DAY",
        Some(pb::Granularity::Month) => "MONTH",
        _ => "",
    };
    match k {
        Some(k) if fam == "hotline" => (
            fam,
            gran,
            &k.window,
            [&k.region, &k.dept, &k.category, &k.channel],
        ),
        Some(k) => (
            fam,
            gran,
            &k.window,
            [&k.region, &k.dept, &k.item, &k.channel],
        ),
        None => (fam, gran, "", [""; 4]),
    }
}

/// The contribution of a case, from its facts.
fn contribution(
    f: &Facts,
    cal: &Calendar,
    interner: &Interner,
    sym_12345: Sym,
    out: &mut Vec<Item>,
) {
    match f {
        Facts::Application(a) => {
            let dims = contrib::application_dims(a);
            contrib::application(a, cal, interner.get(dims[0]), out)
        }
        Facts::WorkOrder(o) => {
            let reg = o.register.as_ref();
            let dims = [
                reg.map_or(Sym::EMPTY, |r| r.a.region),
                o.last_dispatch.as_ref().map_or(sym_12345, |d| d.a),
                reg.map_or(Sym::EMPTY, |r| r.a.category),
                reg.map_or(Sym::EMPTY, |r| r.a.channel),
            ];
            contrib::work_order(o, cal, dims, out, interner.get(dims[0]))
        }
    }
}

fn fold_application(a: &mut Application, ev: &pb::CaseEvent, dims: Dims) -> bool {
    let t = ev.event_time_us;
    let rid = ev.record_id.as_str();
    let stage = ev.stage();
    match stage {
        pb::Stage::Submit => {
            let visit = matches!(ev.channel(), pb::Channel::Window | pb::Channel::Kiosk);
            take_earliest(&mut a.submit, t, rid, SubmitA { dims, visit });
            return true;
        }
        pb::Stage::Accept => {
            let (limit, natural) = match (&ev.limit, ev.item_type()) {
                (_, pb::ItemType::Immediate) | (None, _) => (0, false),
                (Some(l), _) => (l.value, l.unit() == pb::LimitUnit::NaturalDays),
            };
            take_earliest(
                &mut a.accept,
                t,
                rid,
                AcceptA {
                    dims,
                    limit,
                    natural_days: natural,
                },
            );
            return true;
        }
        pb::Stage::Process => {
            match ev.step_type() {
                pb::StepType::Suspend => a.steps.push((t, true)),
                pb::StepType::Resume => a.steps.push((t, false)),
                _ => {}
            }
            if ev.onsite {
                a.onsite_steps += 1;
            }
        }
        pb::Stage::Complete => match ev.result() {
            pb::Result::Approved | pb::Result::Refused => take_latest(
                &mut a.complete,
                t,
                rid,
                ev.delivery() == pb::Delivery::Window,
            ),
            pb::Result::Withdrawn => max_opt(&mut a.withdrawn, t),
            pb::Result::Unspecified => {}
        },
        pb::Stage::Evaluate => a.reviews.push((t, (1..=2).contains(&ev.evaluation_level))),
        pb::Stage::Collect => a.collected = true,
        _ => return false,
    }
    if dims.iter().any(|s| *s != Sym::EMPTY) {
        take_earliest(&mut a.other, t, rid, dims);
    }
    true
}

fn fold_work_order(
    o: &mut WorkOrder,
    ev: &pb::CaseEvent,
    region: Sym,
    dept: Sym,
    category: Sym,
    channel: Sym,
) -> bool {
    let t = ev.event_time_us;
    let rid = ev.record_id.as_str();
    match ev.stage() {
        pb::Stage::Register => take_earliest(
            &mut o.register,
            t,
            rid,
            RegisterA {
                region,
                category,
                channel,
            },
        ),
        pb::Stage::Answer => {
            min_opt(&mut o.answer, t);
            max_opt(&mut o.last_close, t);
        }
        pb::Stage::Dispatch => {
            let limit = ev.limit.as_ref().map_or(0, |l| l.value);
            let sign_limit_hours = ev.sign_limit_hours.unwrap_or(24);
            take_earliest(
                &mut o.first_dispatch,
                t,
                rid,
                DispatchA {
                    limit,
                    sign_limit_hours,
                },
            );
            take_latest(&mut o.last_dispatch, t, rid, dept);
        }
        pb::Stage::Sign => o.signs.push(t),
        pb::Stage::Return => o.events.push((t, OrderEvent::Return)),
        pb::Stage::Urge => o.events.push((t, OrderEvent::Urge)),
        pb::Stage::Extend => o.extra_days = o.extra_days.saturating_add(ev.extra_days),
        pb::Stage::Reply => {}
        pb::Stage::Close => max_opt(&mut o.last_close, t),
        pb::Stage::Callback => o.events.push((
            t,
            match ev.satisfaction() {
                pb::Satisfaction::VerySatisfied
                | pb::Satisfaction::Satisfied
                | pb::Satisfaction::BasicallySatisfied => OrderEvent::CallbackSatisfied,
                pb::Satisfaction::Dissatisfied => OrderEvent::CallbackDissatisfied,
                pb::Satisfaction::Unreachable => OrderEvent::CallbackUnreachable,
                pb::Satisfaction::Unspecified => OrderEvent::CallbackOther,
            },
        )),
        pb::Stage::Reopen => {
            o.events.push((t, OrderEvent::Reopen));
            max_opt(&mut o.last_reopen, t);
        }
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests;
