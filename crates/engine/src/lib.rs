//! The timeliness engine: canonical case events in, timeliness aggregates out.
//!
//! Pure and deterministic: no I/O, no clock. Time arrives as event instants; the watermark is
//! the latest instant seen. Each case keeps compact facts (`case`); whenever a record of a case
//! arrives, the case's old contribution to the aggregates is retracted and the new one added
//! (`contrib`), so the final aggregates depend only on the set of records — not on arrival
//! order, not on duplicates.

mod case;
mod catalogue;
mod checkpoint;
mod contrib;
mod fasthash;
mod intern;
pub mod keys;
mod output;
pub mod render;
pub mod schema;
mod store;
mod totals;

pub use checkpoint::{CheckpointError, EngineRestore, CHECKPOINT_FORMAT};
pub use contrib::{BUCKETS, BUCKET_BOUNDS};
pub use output::RecordPart;
pub use render::canonical_json;
pub use schema::{Family, COUNTERS};
pub use totals::{PartialError, Totals, Update};

use case::{
    max_opt, min_opt, seen_entry, take_earliest, take_latest, AcceptA, Application, Case, Dims,
    DispatchA, Facts, OrderEvent, RegisterA, SubmitA, WorkOrder,
};
use catalogue::{Added, Catalogue, Listing};
use contrib::Item;
use fasthash::FastMap;
use govstream_calendar::Calendar;
use govstream_proto::v1 as pb;
use intern::{Interner, Sym};
use std::sync::Arc;
use store::Store;

/// State moved out by [`Engine::spill_before`], handed back to
/// [`Engine::for_each_record_with`]: per family, each stream in the order it was spilled.
pub trait Spilled {
    fn next_cell(&mut self, family: pb::Family) -> Option<pb::CellState>;
    /// An overdue step: `days` and `deltas` hold one value each.
    fn next_step(&mut self, family: pb::Family) -> Option<pb::OverdueState>;
    /// Starts both streams of `family` again from their beginning (they are read twice).
    fn rewind(&mut self, family: pb::Family);
}

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
    /// A record of a case that retention has retired (rule 17): changes nothing; the harness
    /// sends it to the dead-letter output with reason `retired_case`.
    Retired,
    /// An event of an export row older than the case's current row version: replaced by the
    /// newer row's events, changes nothing (docs/mappings.md "Versions").
    Superseded,
}

/// Counts of what the engine has seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub applied: u64,
    pub duplicates: u64,
    pub conflicts: u64,
    pub ignored: u64,
    /// Records refused because their case was retired (rule 17).
    pub retired_records: u64,
    /// Cases whose state retention released.
    pub retired_cases: u64,
    /// Events of a row version older than their case's.
    pub superseded: u64,
}

/// Rule 17's retention: how long finished cases are kept, and how long a retired case is still
/// recognised afterwards.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    /// R × 86 400 s in microseconds: a finished case whose latest record is more than this
    /// behind its source's watermark is retired.
    pub keep_us: i64,
}

impl Retention {
    /// Retention of `days` days (at least 1).
    pub fn days(days: u32) -> Retention {
        Retention {
            keep_us: i64::from(days.max(1)) * govstream_calendar::civil::MICROS_PER_DAY,
        }
    }

    /// A retired case is recognised (its later records refused) until its latest record is
    /// more than twice the retention behind the watermark; then its fingerprint expires and a
    /// later record starts a new case.
    pub fn forget_us(self) -> i64 {
        self.keep_us.saturating_mul(2)
    }

    /// How far a source watermark moves between two sweeps that release retired state.
    fn sweep_step_us(self) -> i64 {
        (self.keep_us / 16).max(govstream_calendar::civil::MICROS_PER_DAY)
    }
}

/// Where a record's case stands under retention.
enum CaseStatus {
    /// Held (or new): apply as without retention.
    Live,
    /// Retired and still recognised: refuse the record.
    Retired,
    /// Retired so long ago that it is forgotten: drop what is left, start a new case.
    Forgotten,
}

/// The engine: case facts, aggregates and the watermark.
pub struct Engine {
    cal: Arc<Calendar>,
    interner: Interner,
    /// Cases by a 128-bit hash of (source, case id): no key strings are kept.
    /// Boxed: a map bucket is then 24 bytes, so the empty buckets of a half-full table cost
    /// little (the `state_size` bench: an inline case made them cost ~200 bytes each).
    cases: FastMap<u128, Box<Case>>,
    store: Store,
    watermark: Option<i64>,
    published_watermark: Option<i64>,
    stats: EngineStats,
    old: Vec<Item>,
    new: Vec<Item>,
    sym_12345: Sym,
    /// Symbols of channel and category names, by enum value.
    channel_syms: Vec<Sym>,
    category_syms: Vec<Sym>,
    retention: Option<Retention>,
    /// Latest applied instant per source (rule 17's source watermark; only with retention).
    source_wm: FastMap<Sym, i64>,
    /// Retired cases still recognised: case key → (source, latest instant).
    retired: FastMap<u128, (Sym, i64)>,
    /// Source watermarks at the last sweep.
    swept_at: FastMap<Sym, i64>,
    /// Every accepted listing version, and which application cases join on each item.
    catalogue: Catalogue,
}

fn enum_name(full: &str, prefix: &str) -> String {
    full.strip_prefix(prefix).unwrap_or(full).to_owned()
}

/// Interned names of every channel and category value, indexed by enum value.
fn enum_syms(interner: &mut Interner) -> (Vec<Sym>, Vec<Sym>) {
    let mut channels = Vec::new();
    for v in 0..64 {
        channels.push(match pb::Channel::try_from(v) {
            Ok(pb::Channel::Unspecified) | Err(_) => Sym::EMPTY,
            Ok(c) => interner.intern(&enum_name(c.as_str_name(), "CHANNEL_")),
        });
    }
    let mut categories = Vec::new();
    for v in 0..64 {
        categories.push(match pb::Category::try_from(v) {
            Ok(pb::Category::Unspecified) | Err(_) => Sym::EMPTY,
            Ok(c) => interner.intern(&enum_name(c.as_str_name(), "CATEGORY_")),
        });
    }
    (channels, categories)
}

impl Engine {
    pub fn new(cal: Arc<Calendar>) -> Engine {
        let mut interner = Interner::default();
        let sym_12345 = interner.intern("12345");
        let (channel_syms, category_syms) = enum_syms(&mut interner);
        Engine {
            cal,
            interner,
            cases: FastMap::default(),
            store: Store::default(),
            watermark: None,
            published_watermark: None,
            stats: EngineStats::default(),
            old: Vec::new(),
            new: Vec::new(),
            sym_12345,
            channel_syms,
            category_syms,
            retention: None,
            source_wm: FastMap::default(),
            retired: FastMap::default(),
            swept_at: FastMap::default(),
            catalogue: Catalogue::default(),
        }
    }

    /// Says that a catalogue source is configured (even one that never sends a record): then
    /// applications with no listing in force at acceptance count as `unlisted` (metrics.md).
    /// Call before applying events.
    pub fn with_catalogue(mut self) -> Engine {
        self.catalogue.configured = true;
        self
    }

    /// Listing versions accepted (every item).
    pub fn listings(&self) -> usize {
        self.catalogue.listings()
    }

    /// An engine that retires finished cases (rule 17). `None`: keep every case.
    pub fn with_retention(cal: Arc<Calendar>, retention: Option<Retention>) -> Engine {
        let mut e = Engine::new(cal);
        e.retention = retention;
        e
    }

    pub fn retention(&self) -> Option<Retention> {
        self.retention
    }

    /// Retired cases still recognised (fingerprints).
    pub fn retired_fingerprints(&self) -> usize {
        self.retired.len()
    }

    /// Where the case `key` of source `src` stands, given the source watermark.
    fn case_status(&self, key: u128, src: Sym, r: Retention) -> CaseStatus {
        let Some(&wm) = self.source_wm.get(&src) else {
            return CaseStatus::Live;
        };
        let latest = match self.cases.get(&key) {
            Some(c) if c.finished() => c.latest,
            Some(_) => return CaseStatus::Live,
            None => match self.retired.get(&key) {
                Some(&(_, latest)) => latest,
                None => return CaseStatus::Live,
            },
        };
        let behind = wm.saturating_sub(latest);
        if behind > r.forget_us() {
            CaseStatus::Forgotten
        } else if behind > r.keep_us {
            CaseStatus::Retired
        } else {
            CaseStatus::Live
        }
    }

    /// Releases the state of retired cases and forgets old fingerprints. Results do not depend
    /// on when this runs: `case_status` decides from instants alone.
    fn sweep(&mut self, r: Retention) {
        let wms = &self.source_wm;
        let retired = &mut self.retired;
        let mut released = 0u64;
        self.cases.retain(|key, c| {
            let wm = wms.get(&c.source).copied().unwrap_or(i64::MIN);
            if c.finished() && wm.saturating_sub(c.latest) > r.keep_us {
                retired.insert(*key, (c.source, c.latest));
                released += 1;
                false
            } else {
                true
            }
        });
        self.stats.retired_cases += released;
        self.retired.retain(|_, (src, latest)| {
            let wm = wms.get(src).copied().unwrap_or(i64::MIN);
            wm.saturating_sub(*latest) <= r.forget_us()
        });
        self.cases.shrink_to(self.cases.len() * 5 / 4);
        self.swept_at.clone_from(&self.source_wm);
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

    /// Approximate heap bytes of the case state (walks every case: call it now and then).
    pub fn approx_state_bytes(&self) -> u64 {
        use std::mem::size_of;
        let mut n = self.cases.capacity() * (size_of::<(u128, Box<Case>)>() + 1);
        for c in self.cases.values() {
            n += size_of::<Case>();
            n += c.seen.capacity() * 8;
            let rid = |p: Option<usize>| p.unwrap_or(0);
            n += match &c.facts {
                Facts::Application(a) => {
                    rid(a.submit.as_ref().map(|p| p.rid.len()))
                        + rid(a.accept.as_ref().map(|p| p.rid.len()))
                        + rid(a.complete.as_ref().map(|p| p.rid.len()))
                        + a.more.as_ref().map_or(0, |m| {
                            size_of::<case::ApplicationMore>()
                                + m.steps.capacity() * 16
                                + m.reviews.capacity() * 16
                                + rid(m.other.as_ref().map(|p| p.rid.len()))
                        })
                }
                Facts::WorkOrder(o) => {
                    rid(o.register.as_ref().map(|p| p.rid.len()))
                        + rid(o.first_dispatch.as_ref().map(|p| p.rid.len()))
                        + rid(o.last_dispatch.as_ref().map(|p| p.rid.len()))
                        + o.more.as_ref().map_or(0, |m| {
                            size_of::<case::WorkOrderMore>()
                                + m.signs.capacity() * 8
                                + m.events.capacity() * 16
                        })
                }
            };
        }
        n as u64
    }

    /// Sizes of the aggregate store: DAY cells, overdue keys, overdue steps.
    pub fn store_sizes(&self) -> (usize, usize, usize) {
        (
            self.store.cells.len(),
            self.store.overdue.len(),
            self.store.overdue.values().map(|s| s.len()).sum(),
        )
    }

    /// Number of cases held.
    pub fn cases(&self) -> usize {
        self.cases.len()
    }

    fn enum_sym(syms: &[Sym], v: i32) -> Sym {
        usize::try_from(v)
            .ok()
            .and_then(|i| syms.get(i))
            .copied()
            .unwrap_or(Sym::EMPTY)
    }

    /// Folds one canonical event in.
    pub fn apply(&mut self, ev: &pb::CaseEvent) -> Applied {
        self.apply_fingerprinted(ev, govstream_proto::hash::event_fingerprint(ev))
    }

    /// [`Engine::apply`] with the event's fingerprint already taken: `fingerprint` must be
    /// `event_fingerprint(ev)` (or the XXH3 of the bytes it was decoded from, when they are its
    /// canonical encoding, as on the normalized topic) — a harness takes it where it is
    /// cheapest, e.g. on the thread that normalized the event.
    pub fn apply_fingerprinted(&mut self, ev: &pb::CaseEvent, fingerprint: u64) -> Applied {
        if ev.case_kind() == pb::CaseKind::Listing {
            return self.apply_listing(ev, fingerprint);
        }
        let t = ev.event_time_us;
        let key = case_key(&ev.source, &ev.case_id);
        let mut source = Sym::EMPTY;
        if self.cal.has_source_calendars() {
            // Its calendar is chosen by its source.
            source = self.interner.intern(&ev.source);
        }
        if let Some(r) = self.retention {
            source = self.interner.intern(&ev.source);
            match self.case_status(key, source, r) {
                CaseStatus::Live => {}
                CaseStatus::Retired => {
                    self.stats.retired_records += 1;
                    return Applied::Retired;
                }
                CaseStatus::Forgotten => {
                    self.cases.remove(&key);
                    self.retired.remove(&key);
                }
            }
            let wm = self.source_wm.entry(source).or_insert(t);
            *wm = (*wm).max(t);
            let wm = *wm;
            let applied = self.fold_event(ev, key, source, fingerprint);
            let swept = *self.swept_at.entry(source).or_insert(wm);
            if wm.saturating_sub(swept) >= r.sweep_step_us() {
                self.sweep(r);
            }
            return applied;
        }
        self.fold_event(ev, key, source, fingerprint)
    }

    /// Adds a catalogue listing, and recomputes the contributions of the (live) application
    /// cases joined on its item: their declared counters may change (rule 15). A listing does
    /// not move the watermark (rule 16) and is not subject to retention.
    fn apply_listing(&mut self, ev: &pb::CaseEvent, fingerprint: u64) -> Applied {
        if ev.stage() != pb::Stage::Listing {
            self.stats.ignored += 1;
            return Applied::Ignored;
        }
        let item = self.interner.intern(&ev.service_item);
        let region = self.interner.intern(&ev.region);
        let dept = self.interner.intern(&ev.department);
        let listing = Listing::of_event(ev, region, dept, fingerprint);
        // The joined cases' contributions before the listing is added.
        let mut keys = self
            .catalogue
            .items
            .get(&item)
            .map(|i| i.cases.clone())
            .unwrap_or_default();
        keys.sort_unstable();
        keys.dedup();
        let mut before = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(case) = self.cases.get(&key) else {
                continue;
            };
            let Facts::Application(a) = &case.facts else {
                continue;
            };
            if contrib::application_dims(a).subject != item {
                continue;
            }
            let mut old = Vec::new();
            contribution(
                &case.facts,
                &Rules {
                    cal: cal_of(&self.cal, &self.interner, case.source),
                    interner: &self.interner,
                    catalogue: &self.catalogue,
                    sym_12345: self.sym_12345,
                },
                &mut old,
            );
            before.push((key, old));
        }
        match self.catalogue.add(item, listing) {
            Added::Duplicate => {
                self.stats.duplicates += 1;
                return Applied::Duplicate;
            }
            Added::Conflict => {
                self.stats.conflicts += 1;
                return Applied::Conflict;
            }
            Added::New => {}
        }
        for (key, mut old) in before {
            let Some(case) = self.cases.get(&key) else {
                continue;
            };
            self.new.clear();
            contribution(
                &case.facts,
                &Rules {
                    cal: cal_of(&self.cal, &self.interner, case.source),
                    interner: &self.interner,
                    catalogue: &self.catalogue,
                    sym_12345: self.sym_12345,
                },
                &mut self.new,
            );
            if old != self.new {
                cancel_common(&mut old, &mut self.new);
                self.store.apply(Family::Application, &old, -1);
                self.store.apply(Family::Application, &self.new, 1);
            }
        }
        self.stats.applied += 1;
        Applied::New
    }

    /// Folds an event into its case (retention already decided it may).
    fn fold_event(&mut self, ev: &pb::CaseEvent, key: u128, source: Sym, fp: u64) -> Applied {
        let t = ev.event_time_us;
        self.watermark = Some(self.watermark.map_or(t, |w| w.max(t)));
        let rid = rid_hash(&ev.record_id);
        let kind = ev.case_kind();
        let is_app = match kind {
            pb::CaseKind::Application => true,
            pb::CaseKind::WorkOrder => false,
            pb::CaseKind::Unspecified | pb::CaseKind::Listing => {
                self.stats.ignored += 1;
                return Applied::Ignored;
            }
        };
        // Dimension symbols are interned before the case is borrowed.
        let region = self.interner.intern(&ev.region);
        let dept = self.interner.intern(&ev.department);
        let item = self.interner.intern(&ev.service_item);
        let channel = Engine::enum_sym(&self.channel_syms, ev.channel);
        let category = Engine::enum_sym(&self.category_syms, ev.category);
        let case = self.cases.entry(key).or_insert_with(|| {
            Box::new(Case {
                facts: if is_app {
                    Facts::Application(Application::default())
                } else {
                    Facts::WorkOrder(WorkOrder::default())
                },
                seen: Vec::new(),
                latest: t,
                source,
                version: 0,
            })
        });
        // Snapshot rows: the events of the case's highest row version are its only records.
        let replace = match ev.row_version.cmp(&case.version) {
            std::cmp::Ordering::Less => {
                self.stats.superseded += 1;
                return Applied::Superseded;
            }
            std::cmp::Ordering::Equal => false,
            std::cmp::Ordering::Greater => true,
        };
        if let Some(&s) = case
            .seen
            .iter()
            .find(|s| *s >> 16 == rid >> 16)
            .filter(|_| !replace)
        {
            if s == seen_entry(rid, fp) {
                self.stats.duplicates += 1;
                return Applied::Duplicate;
            }
            self.stats.conflicts += 1;
            return Applied::Conflict;
        }
        self.old.clear();
        contribution(
            &case.facts,
            &Rules {
                cal: cal_of(&self.cal, &self.interner, case.source),
                interner: &self.interner,
                catalogue: &self.catalogue,
                sym_12345: self.sym_12345,
            },
            &mut self.old,
        );
        let item_before = match &case.facts {
            Facts::Application(a) if self.catalogue.configured => {
                Some(contrib::application_dims(a).subject)
            }
            _ => None,
        };
        let dims_app = Dims {
            region,
            dept,
            subject: item,
            channel,
        };
        if replace {
            // A newer version of the row: what the older one said is retracted (the old
            // contribution above leaves the store below), stages it no longer has included.
            case.facts = if is_app {
                Facts::Application(Application::default())
            } else {
                Facts::WorkOrder(WorkOrder::default())
            };
            case.seen.clear();
            case.version = ev.row_version;
            // Retention judges a case by its latest record: the current version's only.
            case.latest = t;
        }
        let changed = match &mut case.facts {
            Facts::Application(a) if is_app => fold_application(a, ev, dims_app),
            Facts::WorkOrder(o) if !is_app => {
                fold_work_order(o, ev, region, dept, category, channel)
            }
            _ => false,
        };
        if !changed && !replace {
            self.stats.ignored += 1;
            return Applied::Ignored;
        }
        if changed || replace {
            // (A replacing event the facts have no use for is still this version's record:
            // a copy of it is a duplicate, whichever comes first.)
            case.seen.push(seen_entry(rid, fp));
        }
        case.latest = case.latest.max(t);
        self.new.clear();
        contribution(
            &case.facts,
            &Rules {
                cal: cal_of(&self.cal, &self.interner, case.source),
                interner: &self.interner,
                catalogue: &self.catalogue,
                sym_12345: self.sym_12345,
            },
            &mut self.new,
        );
        if let (Some(before), Facts::Application(a)) = (item_before, &case.facts) {
            // Index the case under its (new) item, for listings that arrive later.
            let now = contrib::application_dims(a).subject;
            if now != before {
                self.catalogue.join(now, key);
            }
        }
        let family = if is_app {
            Family::Application
        } else {
            Family::Hotline
        };
        if self.old != self.new {
            // Only what changed touches the store: most items of a case survive an update.
            cancel_common(&mut self.old, &mut self.new);
            self.store.apply(family, &self.old, -1);
            self.store.apply(family, &self.new, 1);
        }
        self.stats.applied += 1;
        Applied::New
    }

    /// Whether changes since the last [`Engine::take_partials`] are waiting to be published.
    pub fn has_unpublished(&self) -> bool {
        self.store
            .dirty
            .as_ref()
            .is_some_and(|d| !d.cells.is_empty() || !d.overdue.is_empty())
            || (self.watermark.is_some() && self.published_watermark != self.watermark)
    }

    /// Starts recording which aggregate keys change, for [`Engine::take_partials`].
    pub fn track_changes(&mut self) {
        self.store.dirty.get_or_insert_with(Default::default);
    }

    /// The partial aggregates changed since the last call (absolute values, so publishing them
    /// again is harmless), plus this engine's watermark if it moved. `partition` is the normalized
    /// topic partition this engine owns. Requires [`Engine::track_changes`].
    pub fn take_partials(&mut self, partition: i32) -> Vec<pb::Partial> {
        let Some(dirty) = self.store.dirty.as_mut().map(std::mem::take) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(dirty.cells.len() + dirty.overdue.len() + 1);
        let key = |fam: Family, dims: &Dims, i: &Interner| pb::PartialKey {
            family: fam.to_pb() as i32,
            dims: dims.parts().iter().map(|s| i.get(*s).to_owned()).collect(),
        };
        let mut cells: Vec<_> = dirty.cells.into_iter().collect();
        cells.sort_unstable();
        for k in cells {
            let c = self.store.cells.get(&k).cloned().unwrap_or_default();
            out.push(pb::Partial {
                source_partition: partition,
                key: Some(key(k.0, &k.2, &self.interner)),
                value: Some(pb::partial::Value::Cell(pb::PartialCell {
                    day: k.1,
                    counters: c.counters.to_vec(),
                    buckets: c.buckets.to_vec(),
                    sum_us: c.sum_us as i64,
                })),
            });
        }
        let mut steps: Vec<_> = dirty.overdue.into_iter().collect();
        steps.sort_unstable();
        for k in steps {
            let s = self.store.overdue.get(&k).cloned().unwrap_or_default();
            out.push(pb::Partial {
                source_partition: partition,
                key: Some(key(k.0, &k.1, &self.interner)),
                value: Some(pb::partial::Value::Overdue(pb::PartialOverdue {
                    days: s.keys().copied().collect(),
                    deltas: s.values().copied().collect(),
                })),
            });
        }
        if let Some(w) = self.watermark {
            if self.published_watermark != Some(w) {
                self.published_watermark = Some(w);
                out.push(pb::Partial {
                    source_partition: partition,
                    key: None,
                    value: Some(pb::partial::Value::WatermarkUs(w)),
                });
            }
        }
        out
    }

    /// The final aggregate records as of the current watermark, in canonical order (family,
    /// granularity, window, then dimension values, byte-wise).
    pub fn records(&self) -> Vec<pb::AggregateRecord> {
        let mut out = Vec::new();
        self.for_each_record(|r| out.push(r));
        out
    }

    /// [`Engine::records`] as a stream, one record at a time in canonical order, without
    /// holding the whole output.
    pub fn for_each_record(&self, emit: impl FnMut(pb::AggregateRecord)) {
        struct Nothing;
        impl Spilled for Nothing {
            fn next_cell(&mut self, _: pb::Family) -> Option<pb::CellState> {
                None
            }
            fn next_step(&mut self, _: pb::Family) -> Option<pb::OverdueState> {
                None
            }
            fn rewind(&mut self, _: pb::Family) {}
        }
        self.for_each_record_with(&mut Nothing, emit)
    }

    /// The local day of the watermark.
    pub fn watermark_day(&self) -> Option<i32> {
        self.watermark.map(|w| self.cal.zone().day_of(w).0)
    }

    /// Moves the DAY cells and overdue steps of days before `before` out of memory, each list
    /// in (family, day) order — a *run* — so that a long replay holds only recent days. Later
    /// changes to those days accumulate in memory again as deltas, moved out by a later call;
    /// [`Engine::for_each_record_with`] adds every run back (values of a key are summed).
    /// Symbols are this engine's: spilled state is only meaningful to the same engine, and an
    /// engine that spilled publishes no partials.
    pub fn spill_before(&mut self, before: i32) -> (Vec<pb::CellState>, Vec<pb::OverdueState>) {
        let mut cells: Vec<pb::CellState> = Vec::new();
        self.store.cells.retain(|(fam, day, dims), c| {
            if *day >= before {
                return true;
            }
            if !c.is_zero() {
                cells.push(checkpoint::cell_pb(*fam, *day, dims, c));
            }
            false
        });
        cells.sort_unstable_by_key(|c| (c.family, c.day));
        self.store.cells.shrink_to(self.store.cells.len() * 5 / 4);
        let mut steps: Vec<pb::OverdueState> = Vec::new();
        for ((fam, dims), s) in self.store.overdue.iter_mut() {
            let later = s.split_off(&before);
            let moved = std::mem::replace(s, later);
            for (day, delta) in moved {
                if delta != 0 {
                    steps.push(checkpoint::step_pb(*fam, dims, day, delta));
                }
            }
        }
        self.store.overdue.retain(|_, s| !s.is_empty());
        steps.sort_unstable_by_key(|s| (s.family, s.days.first().copied()));
        (cells, steps)
    }

    /// [`Engine::for_each_record`], adding back what [`Engine::spill_before`] moved out, in the
    /// order it produced it.
    pub fn for_each_record_with(
        &self,
        spilled: &mut dyn Spilled,
        mut emit: impl FnMut(pb::AggregateRecord),
    ) {
        self.for_each_row_with(spilled, |row| emit(row.to_pb()))
    }

    /// The records of one part of the canonical order (a family's DAY or MONTH records) as
    /// borrowed rows, when nothing was spilled: the parts are independent, so a harness can
    /// render them on several threads (`&Engine` is `Sync`) and concatenate them in the order
    /// of [`RecordPart::ALL`].
    pub fn for_each_row_of(&self, part: RecordPart, emit: impl FnMut(&schema::Row)) {
        if part.family == Family::Item {
            return output::render_items(
                &self.catalogue,
                &self.interner,
                self.watermark,
                self.cal.zone(),
                None,
                part.granularity,
                emit,
            );
        }
        output::render_part(
            &self.store,
            &self.interner,
            self.watermark,
            self.cal.zone(),
            None,
            &mut output::NoSpill,
            part,
            emit,
        )
    }

    /// [`Engine::for_each_record_with`] as borrowed rows (`schema::Row`): what a writer of the
    /// canonical JSON needs, without building protobuf records (`render::write_json`).
    pub fn for_each_row_with(&self, spilled: &mut dyn Spilled, emit: impl FnMut(&schema::Row)) {
        struct Back<'a> {
            inner: &'a mut dyn Spilled,
            symbols: u32,
        }
        impl output::SpillSource for Back<'_> {
            fn next_cell(&mut self, fam: Family) -> Option<(i32, Dims, store::Cell)> {
                let c = self.inner.next_cell(fam.to_pb())?;
                checkpoint::cell_from_pb(&c, self.symbols).map(|(_, d, dims, cell)| (d, dims, cell))
            }
            fn next_step(&mut self, fam: Family) -> Option<(i32, Dims, i64)> {
                let s = self.inner.next_step(fam.to_pb())?;
                checkpoint::step_from_pb(&s, self.symbols)
            }
            fn rewind(&mut self, fam: Family) {
                self.inner.rewind(fam.to_pb())
            }
        }
        let mut back = Back {
            inner: spilled,
            symbols: self.interner.strings().len() as u32,
        };
        let mut emit = emit;
        output::render_each(
            &self.store,
            &self.interner,
            self.watermark,
            self.cal.zone(),
            None,
            &mut back,
            &mut emit,
        );
        for gran in [pb::Granularity::Day, pb::Granularity::Month] {
            output::render_items(
                &self.catalogue,
                &self.interner,
                self.watermark,
                self.cal.zone(),
                None,
                gran,
                &mut emit,
            );
        }
    }
}

/// The key of a case: XXH3-128 of its source and case id. The identity of a case must not
/// collide: an earlier multiply-rotate hash (two seeds) merged cases whose ids differed in a
/// few digits (e.g. bdc `…2709` and `…2784`), so one case's records were folded into another.
/// XXH3 mixes every input bit into every output bit; among 10^10 cases a collision has a
/// probability below 10^-18.
fn case_key(source: &str, case_id: &str) -> u128 {
    let mut buf = Vec::with_capacity(source.len() + 1 + case_id.len());
    buf.extend_from_slice(source.as_bytes());
    buf.push(0xff);
    buf.extend_from_slice(case_id.as_bytes());
    xxhash_rust::xxh3::xxh3_128(&buf)
}

/// A record id's hash for deduplication (XXH3-64: stable across processes, kept in snapshots).
fn rid_hash(record_id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(record_id.as_bytes())
}

/// Removes the items present in both lists (as multisets).
fn cancel_common(old: &mut Vec<Item>, new: &mut Vec<Item>) {
    let mut i = 0;
    while i < old.len() {
        if let Some(j) = new.iter().position(|n| *n == old[i]) {
            new.swap_remove(j);
            old.swap_remove(i);
        } else {
            i += 1;
        }
    }
}

/// The calendar of a case of `source`: the source's own, if its mapping names one.
fn cal_of<'a>(cal: &'a Calendar, interner: &Interner, source: Sym) -> &'a Calendar {
    if cal.has_source_calendars() {
        cal.for_source(interner.get(source))
    } else {
        cal
    }
}

/// What a case's contribution is computed with, besides its facts.
struct Rules<'a> {
    cal: &'a Calendar,
    interner: &'a Interner,
    catalogue: &'a Catalogue,
    /// The department of a work order never dispatched.
    sym_12345: Sym,
}

/// The contribution of a case, from its facts (and, for an application, the catalogue).
fn contribution(f: &Facts, r: &Rules, out: &mut Vec<Item>) {
    let Rules {
        cal,
        interner,
        catalogue,
        sym_12345,
    } = *r;
    match f {
        Facts::Application(a) => {
            let dims = contrib::application_dims(a);
            contrib::application(a, cal, catalogue, dims, interner.get(dims.region), out)
        }
        Facts::WorkOrder(o) => {
            let reg = o.register.as_ref();
            let dims = Dims {
                region: reg.map_or(Sym::EMPTY, |r| r.a.region),
                dept: o.last_dispatch.as_ref().map_or(sym_12345, |d| d.a),
                subject: reg.map_or(Sym::EMPTY, |r| r.a.category),
                channel: reg.map_or(Sym::EMPTY, |r| r.a.channel),
            };
            contrib::work_order(o, cal, dims, interner.get(dims.region), out)
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
                pb::StepType::Suspend => a.more_mut().steps.push((t, true)),
                pb::StepType::Resume => a.more_mut().steps.push((t, false)),
                _ => {}
            }
            if ev.onsite {
                a.more_mut().onsite_steps += 1;
            }
        }
        pb::Stage::Complete => match ev.result() {
            pb::Result::Approved | pb::Result::Refused => take_latest(
                &mut a.complete,
                t,
                rid,
                ev.delivery() == pb::Delivery::Window,
            ),
            pb::Result::Withdrawn => max_opt(&mut a.more_mut().withdrawn, t),
            pb::Result::Unspecified => {}
        },
        pb::Stage::Evaluate => a
            .more_mut()
            .reviews
            .push((t, (1..=2).contains(&ev.evaluation_level))),
        pb::Stage::Collect => a.more_mut().collected = true,
        _ => return false,
    }
    if !dims.is_empty() {
        take_earliest(&mut a.more_mut().other, t, rid, dims);
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
            min_opt(&mut o.more_mut().answer, t);
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
                    due: if ev.no_deadline {
                        Some(case::NO_DEADLINE)
                    } else {
                        // Bounded like any instant the engine computes days from (a
                        // normalized record not written by govstream could hold anything).
                        ev.due_us.map(|d| d.clamp(-(1 << 56), 1 << 56))
                    },
                },
            );
            take_latest(&mut o.last_dispatch, t, rid, dept);
        }
        pb::Stage::Sign => o.more_mut().signs.push(t),
        pb::Stage::Return => o.more_mut().events.push((t, OrderEvent::Return)),
        pb::Stage::Urge => o.more_mut().events.push((t, OrderEvent::Urge)),
        pb::Stage::Extend => {
            let m = o.more_mut();
            m.extra_days = m.extra_days.saturating_add(ev.extra_days);
        }
        pb::Stage::Reply => {}
        pb::Stage::Close => max_opt(&mut o.last_close, t),
        pb::Stage::Callback => o.more_mut().events.push((
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
            let m = o.more_mut();
            m.events.push((t, OrderEvent::Reopen));
            max_opt(&mut m.last_reopen, t);
        }
        _ => return false,
    }
    true
}

#[cfg(test)]
mod tests;
