//! Snapshot and restore of the whole engine state in a compact binary form (varints), so the
//! Kafka pipeline can checkpoint it. The format is versioned by its first byte.

use crate::case::{
    AcceptA, Application, ApplicationMore, Case, Dims, DispatchA, Facts, OrderEvent, Pick,
    RegisterA, SubmitA, WorkOrder, WorkOrderMore,
};
use crate::contrib::Family;
use crate::fasthash::FastMap;
use crate::intern::{Interner, Sym};
use crate::store::{Cell, Store};
use crate::{Engine, EngineStats};
use std::collections::BTreeMap;

const VERSION: u8 = 4;

/// Why a snapshot could not be restored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("snapshot is truncated")]
    Truncated,
    #[error("snapshot has version {0}, this build reads version {VERSION}")]
    Version(u8),
    #[error("snapshot is corrupt: {0}")]
    Corrupt(&'static str),
}

#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn u(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn i(&mut self, v: i64) {
        self.u(((v << 1) ^ (v >> 63)) as u64);
    }
    fn s(&mut self, v: &str) {
        self.u(v.len() as u64);
        self.0.extend_from_slice(v.as_bytes());
    }
    fn sym(&mut self, v: Sym) {
        self.u(v.0 as u64);
    }
    fn dims(&mut self, d: &Dims) {
        for s in d {
            self.sym(*s);
        }
    }
    fn opt_i(&mut self, v: Option<i64>) {
        match v {
            None => self.u(0),
            Some(x) => {
                self.u(1);
                self.i(x);
            }
        }
    }
    fn pick<A>(&mut self, p: &Option<Pick<A>>, mut a: impl FnMut(&mut W, &A)) {
        match p {
            None => self.u(0),
            Some(p) => {
                self.u(1);
                self.i(p.at);
                self.s(&p.rid);
                a(self, &p.a);
            }
        }
    }
}

struct R<'a>(&'a [u8]);

type Res<T> = Result<T, SnapshotError>;

impl R<'_> {
    fn u(&mut self) -> Res<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first().ok_or(SnapshotError::Truncated)?;
            self.0 = rest;
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(SnapshotError::Corrupt("varint too long"))
    }
    fn u32(&mut self) -> Res<u32> {
        u32::try_from(self.u()?).map_err(|_| SnapshotError::Corrupt("value too large"))
    }
    fn i(&mut self) -> Res<i64> {
        let v = self.u()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }
    fn b(&mut self) -> Res<bool> {
        Ok(self.u()? != 0)
    }
    fn len(&mut self) -> Res<usize> {
        let n = self.u()? as usize;
        if n > self.0.len() {
            return Err(SnapshotError::Truncated);
        }
        Ok(n)
    }
    fn s(&mut self) -> Res<String> {
        let n = self.len()?;
        let (a, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8(a.to_vec()).map_err(|_| SnapshotError::Corrupt("string is not UTF-8"))
    }
    fn sym(&mut self, n: usize) -> Res<Sym> {
        let s = self.u32()?;
        if s as usize >= n {
            return Err(SnapshotError::Corrupt("unknown symbol"));
        }
        Ok(Sym(s))
    }
    fn dims(&mut self, n: usize) -> Res<Dims> {
        Ok([self.sym(n)?, self.sym(n)?, self.sym(n)?, self.sym(n)?])
    }
    fn opt_i(&mut self) -> Res<Option<i64>> {
        Ok(if self.b()? { Some(self.i()?) } else { None })
    }
    fn pick<A>(&mut self, mut a: impl FnMut(&mut Self) -> Res<A>) -> Res<Option<Pick<A>>> {
        if !self.b()? {
            return Ok(None);
        }
        let at = self.i()?;
        let rid = self.s()?.into_boxed_str();
        Ok(Some(Pick {
            at,
            rid,
            a: a(self)?,
        }))
    }
}

const EVENTS: [OrderEvent; 7] = [
    OrderEvent::Return,
    OrderEvent::Urge,
    OrderEvent::CallbackSatisfied,
    OrderEvent::CallbackDissatisfied,
    OrderEvent::CallbackUnreachable,
    OrderEvent::CallbackOther,
    OrderEvent::Reopen,
];

fn write_case(w: &mut W, c: &Case) {
    w.u(c.seen.len() as u64);
    for s in &c.seen {
        w.u(*s);
    }
    match &c.facts {
        Facts::Application(a) => {
            w.u(0);
            w.pick(&a.submit, |w, s| {
                w.dims(&s.dims);
                w.u(s.visit as u64);
            });
            w.pick(&a.accept, |w, s| {
                w.dims(&s.dims);
                w.u(s.limit as u64);
                w.u(s.natural_days as u64);
            });
            w.pick(&a.complete, |w, s| w.u(*s as u64));
            let m = a.more();
            w.opt_i(m.withdrawn);
            w.pick(&m.other, |w, d| w.dims(d));
            w.u(m.steps.len() as u64);
            for (t, s) in &m.steps {
                w.i(*t);
                w.u(*s as u64);
            }
            w.u(m.onsite_steps as u64);
            w.u(m.collected as u64);
            w.u(m.reviews.len() as u64);
            for (t, b) in &m.reviews {
                w.i(*t);
                w.u(*b as u64);
            }
        }
        Facts::WorkOrder(o) => {
            w.u(1);
            w.pick(&o.register, |w, r| {
                w.sym(r.region);
                w.sym(r.category);
                w.sym(r.channel);
            });
            w.pick(&o.first_dispatch, |w, d| {
                w.u(d.limit as u64);
                w.u(d.sign_limit_hours as u64);
            });
            w.pick(&o.last_dispatch, |w, d| w.sym(*d));
            w.opt_i(o.last_close);
            let m = o.more();
            w.opt_i(m.answer);
            w.u(m.signs.len() as u64);
            for t in &m.signs {
                w.i(*t);
            }
            w.opt_i(m.last_reopen);
            w.u(m.extra_days as u64);
            w.u(m.events.len() as u64);
            for (t, e) in &m.events {
                w.i(*t);
                w.u(EVENTS.iter().position(|x| x == e).unwrap_or(0) as u64);
            }
        }
    }
}

fn read_case(r: &mut R, n: usize) -> Res<Case> {
    let k = r.len()?;
    let mut seen = Vec::with_capacity(k);
    for _ in 0..k {
        seen.push(r.u()?);
    }
    let facts = match r.u()? {
        0 => {
            let submit = r.pick(|r| {
                Ok(SubmitA {
                    dims: r.dims(n)?,
                    visit: r.b()?,
                })
            })?;
            let accept = r.pick(|r| {
                Ok(AcceptA {
                    dims: r.dims(n)?,
                    limit: r.u32()?,
                    natural_days: r.b()?,
                })
            })?;
            let complete = r.pick(|r| r.b())?;
            let withdrawn = r.opt_i()?;
            let other = r.pick(|r| r.dims(n))?;
            let k = r.len()?;
            let mut steps = Vec::with_capacity(k);
            for _ in 0..k {
                steps.push((r.i()?, r.b()?));
            }
            let onsite_steps = r.u32()?;
            let collected = r.b()?;
            let k = r.len()?;
            let mut reviews = Vec::with_capacity(k);
            for _ in 0..k {
                reviews.push((r.i()?, r.b()?));
            }
            let more = ApplicationMore {
                withdrawn,
                other,
                steps,
                onsite_steps,
                collected,
                reviews,
            };
            Facts::Application(Application {
                submit,
                accept,
                complete,
                more: (more != ApplicationMore::default()).then(|| Box::new(more)),
            })
        }
        1 => {
            let register = r.pick(|r| {
                Ok(RegisterA {
                    region: r.sym(n)?,
                    category: r.sym(n)?,
                    channel: r.sym(n)?,
                })
            })?;
            let first_dispatch = r.pick(|r| {
                Ok(DispatchA {
                    limit: r.u32()?,
                    sign_limit_hours: r.u32()?,
                })
            })?;
            let last_dispatch = r.pick(|r| r.sym(n))?;
            let last_close = r.opt_i()?;
            let answer = r.opt_i()?;
            let k = r.len()?;
            let mut signs = Vec::with_capacity(k);
            for _ in 0..k {
                signs.push(r.i()?);
            }
            let last_reopen = r.opt_i()?;
            let extra_days = r.u32()?;
            let k = r.len()?;
            let mut events = Vec::with_capacity(k);
            for _ in 0..k {
                let t = r.i()?;
                let e = *EVENTS
                    .get(r.u()? as usize)
                    .ok_or(SnapshotError::Corrupt("unknown order event"))?;
                events.push((t, e));
            }
            let more = WorkOrderMore {
                answer,
                signs,
                last_reopen,
                extra_days,
                events,
            };
            Facts::WorkOrder(WorkOrder {
                register,
                first_dispatch,
                last_dispatch,
                last_close,
                more: (more != WorkOrderMore::default()).then(|| Box::new(more)),
            })
        }
        _ => return Err(SnapshotError::Corrupt("unknown case kind")),
    };
    Ok(Case { facts, seen })
}

fn family(v: u64) -> Res<Family> {
    match v {
        0 => Ok(Family::Application),
        1 => Ok(Family::Hotline),
        _ => Err(SnapshotError::Corrupt("unknown family")),
    }
}

impl Engine {
    /// The whole state as bytes. Deterministic for a given state (maps are written sorted).
    pub fn snapshot(&self) -> Vec<u8> {
        let mut w = W::default();
        w.0.push(VERSION);
        w.opt_i(self.watermark);
        for v in [
            self.stats.applied,
            self.stats.duplicates,
            self.stats.conflicts,
            self.stats.ignored,
        ] {
            w.u(v);
        }
        let strings = self.interner.strings();
        w.u(strings.len() as u64);
        for s in strings {
            w.s(s);
        }
        let mut cases: Vec<_> = self.cases.iter().collect();
        cases.sort_unstable_by_key(|(k, _)| **k);
        w.u(cases.len() as u64);
        for (k, c) in cases {
            w.u((*k >> 64) as u64);
            w.u(*k as u64);
            write_case(&mut w, c);
        }
        let mut cells: Vec<_> = self
            .store
            .cells
            .iter()
            .filter(|(_, c)| !c.is_zero())
            .collect();
        cells.sort_by_key(|(k, _)| **k);
        w.u(cells.len() as u64);
        for ((fam, day, dims), c) in cells {
            w.u(*fam as u64);
            w.i(*day as i64);
            w.dims(dims);
            for v in c.counters {
                w.i(v);
            }
            for v in c.buckets {
                w.i(v);
            }
            w.i((c.sum_us >> 64) as i64);
            w.u(c.sum_us as u64);
        }
        let mut overdue: Vec<_> = self.store.overdue.iter().collect();
        overdue.sort_by_key(|(k, _)| **k);
        w.u(overdue.len() as u64);
        for ((fam, dims), steps) in overdue {
            w.u(*fam as u64);
            w.dims(dims);
            w.u(steps.len() as u64);
            for (d, v) in steps {
                w.i(*d as i64);
                w.i(*v);
            }
        }
        w.0
    }

    /// Rebuilds an engine from [`Engine::snapshot`] bytes.
    pub fn restore(
        cal: std::sync::Arc<govstream_calendar::Calendar>,
        bytes: &[u8],
    ) -> Result<Engine, SnapshotError> {
        let (&v, rest) = bytes.split_first().ok_or(SnapshotError::Truncated)?;
        if v != VERSION {
            return Err(SnapshotError::Version(v));
        }
        let mut r = R(rest);
        let watermark = r.opt_i()?;
        let stats = EngineStats {
            applied: r.u()?,
            duplicates: r.u()?,
            conflicts: r.u()?,
            ignored: r.u()?,
        };
        let mut interner = Interner::default();
        let n = r.len()?;
        for i in 0..n {
            let s = r.s()?;
            if interner.intern(&s).0 as usize != i {
                return Err(SnapshotError::Corrupt("interned strings repeat"));
            }
        }
        let n = interner.strings().len();
        let k = r.len()?;
        let mut cases: FastMap<u128, Case> = FastMap::default();
        cases.reserve(k);
        for _ in 0..k {
            let key = ((r.u()? as u128) << 64) | r.u()? as u128;
            cases.insert(key, read_case(&mut r, n)?);
        }
        let mut store = Store::default();
        for _ in 0..r.len()? {
            let fam = family(r.u()?)?;
            let day = r.i()? as i32;
            let dims = r.dims(n)?;
            let mut c = Cell::default();
            for v in c.counters.iter_mut() {
                *v = r.i()?;
            }
            for v in c.buckets.iter_mut() {
                *v = r.i()?;
            }
            let hi = r.i()? as i128;
            let lo = r.u()? as i128;
            c.sum_us = (hi << 64) | lo;
            store.cells.insert((fam, day, dims), c);
        }
        for _ in 0..r.len()? {
            let fam = family(r.u()?)?;
            let dims = r.dims(n)?;
            let mut steps = BTreeMap::new();
            for _ in 0..r.len()? {
                steps.insert(r.i()? as i32, r.i()?);
            }
            store.overdue.insert((fam, dims), steps);
        }
        if !r.0.is_empty() {
            return Err(SnapshotError::Corrupt("trailing bytes"));
        }
        let mut e = Engine::new(cal);
        e.interner = interner;
        e.sym_12345 = e.interner.intern("12345");
        let (channels, categories) = crate::enum_syms(&mut e.interner);
        e.channel_syms = channels;
        e.category_syms = categories;
        e.cases = cases;
        e.store = store;
        e.watermark = watermark;
        e.stats = stats;
        Ok(e)
    }
}
