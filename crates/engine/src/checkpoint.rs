//! Checkpoints of the whole engine state as protobuf chunks (`proto/govstream/v1/
//! checkpoint.proto`, message `EngineChunk`), so the Kafka pipeline can store a partition's
//! state with the offsets it covers and recover from it instead of re-reading all history.
//!
//! The state is written as a sequence of chunks of bounded size (no message exceeds the broker's
//! limit); each chunk is one `EngineChunk`. Restoring applies the chunks in order and succeeds
//! only when every chunk decodes and the whole is consistent, so a damaged checkpoint is refused
//! as a whole (the edge then rebuilds from the partition's start).

use crate::case::{
    AcceptA, Application, ApplicationMore, Case, Dims, DispatchA, Facts, OrderEvent, Pick,
    RegisterA, SubmitA, WorkOrder, WorkOrderMore,
};
use crate::catalogue::{Added, Listing};
use crate::intern::{Interner, Sym};
use crate::schema::{Family, COUNTERS};
use crate::store::Cell;
use crate::totals::{DAYS, MAX_COUNT, WATERMARKS};
use crate::{Engine, Retention};
use govstream_calendar::Calendar;
use govstream_proto::v1 as pb;
use prost::Message;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The chunk format this build writes and reads (`CheckpointManifest.format`). 2: a case's
/// `seen` entries carry the low bits of `event_fingerprint` (the hash of the canonical
/// encoding); format 1 held a hash of selected fields, so its entries would call a repeated
/// copy a conflict.
pub const CHECKPOINT_FORMAT: u32 = 2;

/// Why a checkpoint could not be restored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("checkpoint chunk {index} does not decode as an EngineChunk: {detail}")]
    Decode { index: usize, detail: String },
    #[error("checkpoint chunk {index} is inconsistent: {what}")]
    Corrupt { index: usize, what: &'static str },
    #[error("checkpoint has no chunks")]
    Empty,
}

/// Builds chunks of at most about `max` encoded bytes.
struct Chunker<'a> {
    cur: pb::EngineChunk,
    size: usize,
    max: usize,
    emit: &'a mut dyn FnMut(Vec<u8>),
}

impl Chunker<'_> {
    fn grew(&mut self, item_len: usize) {
        self.size += item_len + 5;
        if self.size >= self.max {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.size > 0 || self.cur.header.is_some() {
            let chunk = std::mem::take(&mut self.cur);
            (self.emit)(chunk.encode_to_vec());
            self.size = 0;
        }
    }
}

fn dims_pb(d: &Dims) -> Vec<u32> {
    d.parts().iter().map(|s| s.0).collect()
}

fn family_pb(f: Family) -> i32 {
    f.to_pb() as i32
}

const EVENTS: [(OrderEvent, pb::OrderEventKind); 7] = [
    (OrderEvent::Return, pb::OrderEventKind::Return),
    (OrderEvent::Urge, pb::OrderEventKind::Urge),
    (
        OrderEvent::CallbackSatisfied,
        pb::OrderEventKind::CallbackSatisfied,
    ),
    (
        OrderEvent::CallbackDissatisfied,
        pb::OrderEventKind::CallbackDissatisfied,
    ),
    (
        OrderEvent::CallbackUnreachable,
        pb::OrderEventKind::CallbackUnreachable,
    ),
    (OrderEvent::CallbackOther, pb::OrderEventKind::CallbackOther),
    (OrderEvent::Reopen, pb::OrderEventKind::Reopen),
];

fn pick_pb<A>(p: &Option<Pick<A>>, attrs: impl FnOnce(&A, &mut pb::Pick)) -> Option<pb::Pick> {
    p.as_ref().map(|p| {
        let mut out = pb::Pick {
            at_us: p.at,
            record_id: p.rid.to_string(),
            ..Default::default()
        };
        attrs(&p.a, &mut out);
        out
    })
}

fn case_pb(key: u128, c: &Case) -> pb::CaseState {
    let facts = match &c.facts {
        Facts::Application(a) => {
            let m = a.more();
            pb::case_state::Facts::Application(pb::ApplicationFacts {
                submit: pick_pb(&a.submit, |s, p| {
                    p.dims = dims_pb(&s.dims);
                    p.visit = s.visit;
                }),
                accept: pick_pb(&a.accept, |s, p| {
                    p.dims = dims_pb(&s.dims);
                    p.limit = s.limit;
                    p.natural_days = s.natural_days;
                }),
                complete: pick_pb(&a.complete, |w, p| p.at_window = *w),
                withdrawn_us: m.withdrawn,
                other: pick_pb(&m.other, |d, p| p.dims = dims_pb(d)),
                step_at_us: m.steps.iter().map(|s| s.0).collect(),
                step_suspend: m.steps.iter().map(|s| s.1).collect(),
                onsite_steps: m.onsite_steps,
                collected: m.collected,
                review_at_us: m.reviews.iter().map(|r| r.0).collect(),
                review_bad: m.reviews.iter().map(|r| r.1).collect(),
            })
        }
        Facts::WorkOrder(o) => {
            let m = o.more();
            pb::case_state::Facts::WorkOrder(pb::WorkOrderFacts {
                register: pick_pb(&o.register, |r, p| {
                    p.dims = vec![r.region.0, r.category.0, r.channel.0];
                }),
                first_dispatch: pick_pb(&o.first_dispatch, |d, p| {
                    p.limit = d.limit;
                    p.sign_limit_hours = d.sign_limit_hours;
                    p.due_us = d.due;
                }),
                last_dispatch: pick_pb(&o.last_dispatch, |d, p| p.dims = vec![d.0]),
                last_close_us: o.last_close,
                answer_us: m.answer,
                sign_us: m.signs.clone(),
                last_reopen_us: m.last_reopen,
                extra_days: m.extra_days,
                event_at_us: m.events.iter().map(|e| e.0).collect(),
                event_kind: m
                    .events
                    .iter()
                    .map(|e| {
                        EVENTS
                            .iter()
                            .find(|(k, _)| *k == e.1)
                            .map_or(0, |(_, p)| *p as i32)
                    })
                    .collect(),
            })
        }
    };
    pb::CaseState {
        key_hi: (key >> 64) as u64,
        key_lo: key as u64,
        latest_us: c.latest,
        source: c.source.0,
        seen: c.seen.clone(),
        facts: Some(facts),
        row_version: c.version,
    }
}

pub(crate) fn cell_pb(fam: Family, day: i32, dims: &Dims, c: &Cell) -> pb::CellState {
    pb::CellState {
        family: family_pb(fam),
        day,
        dims: dims_pb(dims),
        counters: c.counters.to_vec(),
        buckets: c.buckets.to_vec(),
        sum_us_hi: (c.sum_us >> 64) as i64,
        sum_us_lo: c.sum_us as u64,
    }
}

/// One overdue step (a spilled day of a step function).
pub(crate) fn step_pb(fam: Family, dims: &Dims, day: i32, delta: i64) -> pb::OverdueState {
    pb::OverdueState {
        family: family_pb(fam),
        dims: dims_pb(dims),
        days: vec![day],
        deltas: vec![delta],
    }
}

pub(crate) fn step_from_pb(s: &pb::OverdueState, symbols: u32) -> Option<(i32, Dims, i64)> {
    match (s.days.as_slice(), s.deltas.as_slice(), s.dims.as_slice()) {
        ([day], [delta], [a, b, c, d]) if [a, b, c, d].iter().all(|x| **x < symbols) => Some((
            *day,
            Dims::from_parts([Sym(*a), Sym(*b), Sym(*c), Sym(*d)]),
            *delta,
        )),
        _ => None,
    }
}

/// A cell back from its protobuf form, if it is consistent with `symbols` symbols.
pub(crate) fn cell_from_pb(c: &pb::CellState, symbols: u32) -> Option<(Family, i32, Dims, Cell)> {
    let family = match pb::Family::try_from(c.family) {
        Ok(pb::Family::Application) => Family::Application,
        Ok(pb::Family::Hotline) => Family::Hotline,
        _ => return None,
    };
    if c.counters.len() != COUNTERS
        || c.buckets.len() != crate::contrib::BUCKETS
        || c.dims.len() != 4
        || c.dims.iter().any(|d| *d >= symbols)
    {
        return None;
    }
    let mut cell = Cell::default();
    cell.counters.copy_from_slice(&c.counters);
    cell.buckets.copy_from_slice(&c.buckets);
    cell.sum_us = ((c.sum_us_hi as i128) << 64) | c.sum_us_lo as i128;
    let dims = Dims::from_parts([
        Sym(c.dims[0]),
        Sym(c.dims[1]),
        Sym(c.dims[2]),
        Sym(c.dims[3]),
    ]);
    Some((family, c.day, dims, cell))
}

impl Engine {
    /// Writes the whole state as `EngineChunk` messages of about `max_chunk_bytes` each (at
    /// least one chunk; the first carries the header). Deterministic for a given state.
    pub fn checkpoint(&self, max_chunk_bytes: usize, mut emit: impl FnMut(Vec<u8>)) {
        let mut ch = Chunker {
            cur: pb::EngineChunk::default(),
            size: 0,
            max: max_chunk_bytes.max(1024),
            emit: &mut emit,
        };
        let mut source_watermarks: Vec<_> = self
            .source_wm
            .iter()
            .map(|(s, w)| pb::SourceWatermark {
                source: s.0,
                watermark_us: *w,
            })
            .collect();
        source_watermarks.sort_by_key(|s| s.source);
        let header = pb::EngineHeader {
            watermark_us: self.watermark,
            applied: self.stats.applied,
            duplicates: self.stats.duplicates,
            conflicts: self.stats.conflicts,
            ignored: self.stats.ignored,
            retired_records: self.stats.retired_records,
            retired_cases: self.stats.retired_cases,
            source_watermarks,
            catalogue: self.catalogue.configured,
        };
        let len = header.encoded_len();
        ch.cur.header = Some(header);
        ch.grew(len);
        for s in self.interner.strings().iter().skip(1) {
            ch.cur.symbols.push(s.to_string());
            ch.grew(s.len());
        }
        let mut keys: Vec<u128> = self.cases.keys().copied().collect();
        keys.sort_unstable();
        for k in keys {
            if let Some(c) = self.cases.get(&k) {
                let c = case_pb(k, c);
                let len = c.encoded_len();
                ch.cur.cases.push(c);
                ch.grew(len);
            }
        }
        let mut cells: Vec<_> = self
            .store
            .cells
            .iter()
            .filter(|(_, c)| !c.is_zero())
            .collect();
        cells.sort_unstable_by_key(|(k, _)| **k);
        for ((fam, day, dims), c) in cells {
            let c = cell_pb(*fam, *day, dims, c);
            let len = c.encoded_len();
            ch.cur.cells.push(c);
            ch.grew(len);
        }
        let mut overdue: Vec<_> = self.store.overdue.iter().collect();
        overdue.sort_unstable_by_key(|(k, _)| **k);
        for ((fam, dims), steps) in overdue {
            let o = pb::OverdueState {
                family: family_pb(*fam),
                dims: dims_pb(dims),
                days: steps.keys().copied().collect(),
                deltas: steps.values().copied().collect(),
            };
            let len = o.encoded_len();
            ch.cur.overdue.push(o);
            ch.grew(len);
        }
        let mut retired: Vec<_> = self.retired.iter().collect();
        retired.sort_unstable_by_key(|(k, _)| **k);
        for (k, (src, latest)) in retired {
            ch.cur.retired.push(pb::RetiredCase {
                key_hi: (*k >> 64) as u64,
                key_lo: *k as u64,
                source: src.0,
                latest_us: *latest,
            });
            ch.grew(30);
        }
        let mut items: Vec<_> = self.catalogue.items.iter().collect();
        items.sort_unstable_by_key(|(k, _)| **k);
        for (item, listings) in items {
            for l in &listings.versions {
                ch.cur.listings.push(pb::ListingState {
                    item: item.0,
                    version: l.version,
                    at_us: l.at,
                    in_force: l.in_force,
                    max_visits: l.max_visits,
                    online_depth: l.online_depth,
                    immediate: l.immediate,
                    legal_days: l.legal_days,
                    promise_days: l.promise_days,
                    region: l.region.0,
                    dept: l.dept.0,
                    fingerprint: l.fingerprint,
                });
                ch.grew(60);
            }
        }
        ch.flush();
    }
}

/// Rebuilds an engine from the chunks of [`Engine::checkpoint`], one chunk at a time.
pub struct EngineRestore {
    engine: Engine,
    interner: Interner,
    chunks: usize,
}

type Res<T> = Result<T, CheckpointError>;

impl EngineRestore {
    pub fn new(cal: Arc<Calendar>, retention: Option<Retention>) -> EngineRestore {
        EngineRestore {
            engine: Engine::with_retention(cal, retention),
            interner: Interner::default(),
            chunks: 0,
        }
    }

    /// Restores into an engine with a catalogue source configured ([`Engine::with_catalogue`]);
    /// a checkpoint written by an engine configured otherwise is refused.
    pub fn with_catalogue(mut self) -> EngineRestore {
        self.engine.catalogue.configured = true;
        self
    }

    fn corrupt(&self, what: &'static str) -> CheckpointError {
        CheckpointError::Corrupt {
            index: self.chunks,
            what,
        }
    }

    fn sym(&self, v: u32) -> Res<Sym> {
        if (v as usize) < self.interner.strings().len() {
            Ok(Sym(v))
        } else {
            Err(self.corrupt("symbol out of range"))
        }
    }

    fn dims(&self, v: &[u32]) -> Res<Dims> {
        if v.len() != 4 {
            return Err(self.corrupt("dimensions are not four symbols"));
        }
        Ok(Dims::from_parts([
            self.sym(v[0])?,
            self.sym(v[1])?,
            self.sym(v[2])?,
            self.sym(v[3])?,
        ]))
    }

    fn family(&self, v: i32) -> Res<Family> {
        match pb::Family::try_from(v) {
            Ok(pb::Family::Application) => Ok(Family::Application),
            Ok(pb::Family::Hotline) => Ok(Family::Hotline),
            _ => Err(self.corrupt("unknown family")),
        }
    }

    fn pick<A>(
        &self,
        p: &Option<pb::Pick>,
        attrs: impl FnOnce(&pb::Pick) -> Res<A>,
    ) -> Res<Option<Pick<A>>> {
        p.as_ref()
            .map(|p| {
                Ok(Pick {
                    at: p.at_us,
                    rid: p.record_id.as_str().into(),
                    a: attrs(p)?,
                })
            })
            .transpose()
    }

    fn case(&self, c: &pb::CaseState) -> Res<Case> {
        let facts = match &c.facts {
            Some(pb::case_state::Facts::Application(a)) => {
                if a.step_at_us.len() != a.step_suspend.len()
                    || a.review_at_us.len() != a.review_bad.len()
                {
                    return Err(self.corrupt("application lists differ in length"));
                }
                let more = ApplicationMore {
                    withdrawn: a.withdrawn_us,
                    other: self.pick(&a.other, |p| self.dims(&p.dims))?,
                    steps: a
                        .step_at_us
                        .iter()
                        .copied()
                        .zip(a.step_suspend.iter().copied())
                        .collect(),
                    onsite_steps: a.onsite_steps,
                    collected: a.collected,
                    reviews: a
                        .review_at_us
                        .iter()
                        .copied()
                        .zip(a.review_bad.iter().copied())
                        .collect(),
                };
                Facts::Application(Application {
                    submit: self.pick(&a.submit, |p| {
                        Ok(SubmitA {
                            dims: self.dims(&p.dims)?,
                            visit: p.visit,
                        })
                    })?,
                    accept: self.pick(&a.accept, |p| {
                        Ok(AcceptA {
                            dims: self.dims(&p.dims)?,
                            limit: p.limit,
                            natural_days: p.natural_days,
                        })
                    })?,
                    complete: self.pick(&a.complete, |p| Ok(p.at_window))?,
                    more: (more != ApplicationMore::default()).then(|| Box::new(more)),
                })
            }
            Some(pb::case_state::Facts::WorkOrder(o)) => {
                if o.event_at_us.len() != o.event_kind.len() {
                    return Err(self.corrupt("work order lists differ in length"));
                }
                let mut events = Vec::with_capacity(o.event_at_us.len());
                for (t, k) in o.event_at_us.iter().zip(&o.event_kind) {
                    let e = EVENTS
                        .iter()
                        .find(|(_, p)| *p as i32 == *k)
                        .ok_or_else(|| self.corrupt("unknown order event"))?;
                    events.push((*t, e.0));
                }
                let more = WorkOrderMore {
                    answer: o.answer_us,
                    signs: o.sign_us.clone(),
                    last_reopen: o.last_reopen_us,
                    extra_days: o.extra_days,
                    events,
                };
                Facts::WorkOrder(WorkOrder {
                    register: self.pick(&o.register, |p| {
                        if p.dims.len() != 3 {
                            return Err(self.corrupt("registration dimensions"));
                        }
                        Ok(RegisterA {
                            region: self.sym(p.dims[0])?,
                            category: self.sym(p.dims[1])?,
                            channel: self.sym(p.dims[2])?,
                        })
                    })?,
                    first_dispatch: self.pick(&o.first_dispatch, |p| {
                        Ok(DispatchA {
                            limit: p.limit,
                            sign_limit_hours: p.sign_limit_hours,
                            due: p.due_us,
                        })
                    })?,
                    last_dispatch: self.pick(&o.last_dispatch, |p| match p.dims.as_slice() {
                        [d] => self.sym(*d),
                        _ => Err(self.corrupt("dispatch department")),
                    })?,
                    last_close: o.last_close_us,
                    more: (more != WorkOrderMore::default()).then(|| Box::new(more)),
                })
            }
            None => return Err(self.corrupt("case without facts")),
        };
        Ok(Case {
            facts,
            seen: c.seen.clone(),
            latest: c.latest_us,
            source: self.sym(c.source)?,
            version: c.row_version,
        })
    }

    /// Applies the next chunk.
    pub fn chunk(&mut self, bytes: &[u8]) -> Res<()> {
        let ch = pb::EngineChunk::decode(bytes).map_err(|e| CheckpointError::Decode {
            index: self.chunks,
            detail: e.to_string(),
        })?;
        match (&ch.header, self.chunks) {
            (Some(h), 0) => {
                // Instants and days outside what any engine reports could overflow the date
                // arithmetic of rendering or make it walk millennia of days (found by fuzzing).
                if h.watermark_us.is_some_and(|w| !WATERMARKS.contains(&w))
                    || h.source_watermarks
                        .iter()
                        .any(|w| !WATERMARKS.contains(&w.watermark_us))
                {
                    return Err(self.corrupt("a watermark out of range"));
                }
                if h.catalogue != self.engine.catalogue.configured {
                    return Err(self.corrupt(
                        "written with another catalogue configuration (a catalogue source added or removed)",
                    ));
                }
                let e = &mut self.engine;
                e.watermark = h.watermark_us;
                e.stats.applied = h.applied;
                e.stats.duplicates = h.duplicates;
                e.stats.conflicts = h.conflicts;
                e.stats.ignored = h.ignored;
                e.stats.retired_records = h.retired_records;
                e.stats.retired_cases = h.retired_cases;
            }
            (None, 0) => return Err(self.corrupt("the first chunk has no header")),
            (Some(_), _) => return Err(self.corrupt("a header after the first chunk")),
            (None, _) => {}
        }
        for s in &ch.symbols {
            let next = self.interner.strings().len() as u32;
            if s.is_empty() || self.interner.intern(s).0 != next {
                return Err(self.corrupt("symbols repeat"));
            }
        }
        if let Some(h) = &ch.header {
            for w in &h.source_watermarks {
                let s = self.sym(w.source)?;
                self.engine.source_wm.insert(s, w.watermark_us);
            }
        }
        for c in &ch.cases {
            let case = self.case(c)?;
            let key = ((c.key_hi as u128) << 64) | c.key_lo as u128;
            if self.engine.cases.insert(key, Box::new(case)).is_some() {
                return Err(self.corrupt("a case repeats"));
            }
        }
        for c in &ch.cells {
            if c.counters.len() != COUNTERS || c.buckets.len() != crate::contrib::BUCKETS {
                return Err(self.corrupt("cell counter or bucket count"));
            }
            // Counts no engine can hold: summing them could overflow (found by fuzzing).
            if !c
                .counters
                .iter()
                .chain(&c.buckets)
                .all(|v| (-MAX_COUNT..=MAX_COUNT).contains(v))
            {
                return Err(self.corrupt("a count out of range"));
            }
            let mut cell = Cell::default();
            cell.counters.copy_from_slice(&c.counters);
            cell.buckets.copy_from_slice(&c.buckets);
            cell.sum_us = ((c.sum_us_hi as i128) << 64) | c.sum_us_lo as i128;
            if !DAYS.contains(&c.day) {
                return Err(self.corrupt("a cell day out of range"));
            }
            let key = (self.family(c.family)?, c.day, self.dims(&c.dims)?);
            if self.engine.store.cells.insert(key, cell).is_some() {
                return Err(self.corrupt("a cell repeats"));
            }
        }
        for o in &ch.overdue {
            if o.days.len() != o.deltas.len() {
                return Err(self.corrupt("overdue lists differ in length"));
            }
            if !o.days.iter().all(|d| DAYS.contains(d)) {
                return Err(self.corrupt("an overdue day out of range"));
            }
            if !o
                .deltas
                .iter()
                .all(|v| (-MAX_COUNT..=MAX_COUNT).contains(v))
            {
                return Err(self.corrupt("an overdue change out of range"));
            }
            let steps: BTreeMap<i32, i64> = o
                .days
                .iter()
                .copied()
                .zip(o.deltas.iter().copied())
                .collect();
            let key = (self.family(o.family)?, self.dims(&o.dims)?);
            if self.engine.store.overdue.insert(key, steps).is_some() {
                return Err(self.corrupt("an overdue function repeats"));
            }
        }
        for r in &ch.retired {
            let key = ((r.key_hi as u128) << 64) | r.key_lo as u128;
            let src = self.sym(r.source)?;
            if self
                .engine
                .retired
                .insert(key, (src, r.latest_us))
                .is_some()
            {
                return Err(self.corrupt("a retired case repeats"));
            }
        }
        for l in &ch.listings {
            if !WATERMARKS.contains(&l.at_us) {
                return Err(self.corrupt("a listing instant out of range"));
            }
            let listing = Listing {
                version: l.version,
                at: l.at_us,
                in_force: l.in_force,
                max_visits: l.max_visits,
                online_depth: l.online_depth,
                immediate: l.immediate,
                legal_days: l.legal_days,
                promise_days: l.promise_days,
                region: self.sym(l.region)?,
                dept: self.sym(l.dept)?,
                fingerprint: l.fingerprint,
            };
            let item = self.sym(l.item)?;
            if self.engine.catalogue.add(item, listing) != Added::New {
                return Err(self.corrupt("a listing repeats"));
            }
        }
        self.chunks += 1;
        Ok(())
    }

    /// The restored engine, once every chunk is applied.
    pub fn finish(self) -> Res<Engine> {
        if self.chunks == 0 {
            return Err(CheckpointError::Empty);
        }
        let mut e = self.engine;
        e.interner = self.interner;
        e.sym_12345 = e.interner.intern("12345");
        let (channels, categories) = crate::enum_syms(&mut e.interner);
        e.channel_syms = channels;
        e.category_syms = categories;
        e.swept_at.clone_from(&e.source_wm);
        // Which cases join on which item is derived from the cases.
        if e.catalogue.configured {
            let mut joins = Vec::new();
            for (key, case) in &e.cases {
                if let Facts::Application(a) = &case.facts {
                    joins.push((crate::contrib::application_dims(a).subject, *key));
                }
            }
            joins.sort_unstable();
            for (item, key) in joins {
                e.catalogue.join(item, key);
            }
        }
        Ok(e)
    }
}
