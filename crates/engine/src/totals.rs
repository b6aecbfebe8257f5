//! The totals stage: sums the partial aggregates of every engine partition and turns them into
//! aggregate records, publishing only what changed. Pure: partials in, updates out.

use crate::case::Dims;
use crate::catalogue::{Added, Catalogue, Listing};
use crate::contrib::BUCKETS;
use crate::fasthash::FastMap;
use crate::intern::Interner;
use crate::output::{month_key, render, render_items, Only, MIN_DAY};
use crate::schema::{self, Family, COUNTERS};
use crate::store::{add_steps, Cell, Store};
use govstream_calendar::civil::Day;
use govstream_calendar::Zone;
use govstream_proto::v1 as pb;
use prost::Message;
use std::collections::BTreeMap;

/// A change to publish on the aggregates topic.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    /// The new value of a key.
    Upsert(pb::AggregateRecord),
    /// The key has no record any more (all its counters went back to zero): a tombstone.
    Delete(pb::AggregateKey),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PartialError {
    #[error("partial record has no key")]
    NoKey,
    #[error("partial record has {0} dimensions, expected 4")]
    Dims(usize),
    #[error("partial record has an unknown family")]
    Family,
    #[error("partial cell has {0} counters or {1} buckets")]
    Shape(usize, usize),
    #[error("partial overdue has {0} days and {1} deltas")]
    Steps(usize, usize),
    #[error("partial record has no value")]
    NoValue,
    /// A day, watermark, count or overdue change no engine can report: summing it could
    /// overflow, and rendering it could take a DAY record per day for millennia.
    #[error("partial record has a {0} outside the supported range")]
    Range(&'static str),
    #[error("partial listing is not a catalogue listing")]
    Listing,
}

// What partials may carry. Engines see events from 2000-01-01 to 2100-01-01 (normalization's
// accepted range), deadlines can be centuries later, counts stay far below 2^40. The bounds are
// generous; they keep every sum in i64 and the days rendered per key bounded.
/// Local days (since 1970-01-01) of cells and overdue steps: 1970-01-01 ..= 9999-12-31.
pub(crate) const DAYS: std::ops::RangeInclusive<i32> = 0..=2_932_896;
/// Watermarks, UTC microseconds: 1970-01-01 .. 2200-01-01.
pub(crate) const WATERMARKS: std::ops::Range<i64> = 0..7_258_118_400_000_000;
/// Largest counter, bucket count or overdue change (absolute value).
pub(crate) const MAX_COUNT: i64 = 1 << 40;

/// Where a record of one (family, dims) sits: whether it is a MONTH record, and its window's
/// first local day (so DAY records come first, in day order, as rendered).
type Slot = (bool, i32);

/// The slot of an aggregate key, from its window (`YYYY-MM-DD` or `YYYY-MM`).
fn slot(key: &pb::AggregateKey) -> Option<Slot> {
    if key.granularity() == pb::Granularity::Month {
        let d = Day::parse_iso(&format!("{}-01", key.window))?;
        Some((true, d.0))
    } else {
        Some((false, Day::parse_iso(&key.window)?.0))
    }
}

/// Whether a rendering from day `from` (see [`Only`]) covers `slot`.
fn covers(from: i32, (month, day): Slot) -> bool {
    if month {
        month_key(day) >= month_key(from.max(MIN_DAY))
    } else {
        day >= from
    }
}

/// Sum of all engine partitions' partials, and what was last published.
pub struct Totals {
    interner: Interner,
    zone: Zone,
    sum: Store,
    cells: FastMap<(i32, Family, i32, Dims), Cell>,
    steps: FastMap<(i32, Family, Dims), BTreeMap<i32, i64>>,
    watermarks: FastMap<i32, i64>,
    /// Keys to render again at the next `take_updates`, from the first day that changed.
    dirty: Only,
    published_wm_day: Option<i32>,
    /// Last published fingerprint per record, grouped by (family, dims).
    published: FastMap<(Family, Dims), BTreeMap<Slot, u64>>,
    /// The catalogue (partition 0 only: listings are sent there), for family `item`.
    catalogue: Catalogue,
}

fn fingerprint(r: &pb::AggregateRecord) -> u64 {
    // STALE is reserved for keys that must be published again.
    govstream_proto::hash::stable_hash(&r.encode_to_vec()).max(1)
}

/// The fingerprint of a published key whose value must be replaced.
const STALE: u64 = 0;

impl Totals {
    pub fn new(zone: Zone) -> Totals {
        Totals {
            interner: Interner::default(),
            zone,
            sum: Store::default(),
            cells: FastMap::default(),
            steps: FastMap::default(),
            watermarks: FastMap::default(),
            dirty: Only::default(),
            published_wm_day: None,
            published: FastMap::default(),
            catalogue: Catalogue::default(),
        }
    }

    /// The `item` keys of every listing version.
    fn item_keys(&self) -> Vec<Dims> {
        let mut keys: Vec<Dims> = self
            .catalogue
            .items
            .values()
            .flat_map(|i| i.versions.iter())
            .map(|l| Dims {
                region: l.region,
                dept: l.dept,
                ..Dims::default()
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// Adds a catalogue listing and marks the `item` records it can change.
    fn add_listing(&mut self, ev: &pb::CaseEvent) -> Result<(), PartialError> {
        if ev.case_kind() != pb::CaseKind::Listing || ev.stage() != pb::Stage::Listing {
            return Err(PartialError::Listing);
        }
        if !WATERMARKS.contains(&ev.event_time_us) {
            return Err(PartialError::Range("listing instant"));
        }
        let item = self.interner.intern(&ev.service_item);
        let region = self.interner.intern(&ev.region);
        let dept = self.interner.intern(&ev.department);
        let fp = govstream_proto::hash::event_fingerprint(ev);
        let earliest = self.catalogue.earliest();
        if self
            .catalogue
            .add(item, Listing::of_event(ev, region, dept, fp))
            != Added::New
        {
            return Ok(());
        }
        let first = self.catalogue.earliest().unwrap_or(ev.event_time_us);
        if earliest.is_none_or(|e| first < e) {
            // The windows now start earlier, for every key.
            for k in self.item_keys() {
                self.mark(Family::Item, k, MIN_DAY);
            }
            return Ok(());
        }
        // The item's versions: the in-force one changes from this listing's day on.
        let d = self.zone.day_of(ev.event_time_us);
        let from = if self.zone.day_start(d) == ev.event_time_us {
            d.0 - 1
        } else {
            d.0
        };
        let keys: Vec<Dims> = self.catalogue.items[&item]
            .versions
            .iter()
            .map(|l| Dims {
                region: l.region,
                dept: l.dept,
                ..Dims::default()
            })
            .collect();
        for k in keys {
            self.mark(Family::Item, k, from);
        }
        Ok(())
    }

    /// Marks the records of (family, dims) from local day `from` on as changed.
    fn mark(&mut self, fam: Family, dims: Dims, from: i32) {
        let e = self.dirty.entry((fam, dims)).or_insert(from);
        *e = (*e).min(from);
    }

    /// The global watermark: the latest of all engine partitions' watermarks.
    pub fn watermark(&self) -> Option<i64> {
        self.watermarks.values().copied().max()
    }

    fn key(&mut self, k: Option<&pb::PartialKey>) -> Result<(Family, Dims), PartialError> {
        let k = k.ok_or(PartialError::NoKey)?;
        // Engines send cells and overdue steps of the case families only (`item` comes from
        // listings).
        let fam = Family::from_pb(k.family())
            .filter(|f| f.of_cases())
            .ok_or(PartialError::Family)?;
        if k.dims.len() != 4 {
            return Err(PartialError::Dims(k.dims.len()));
        }
        let d = Dims::from_parts([
            self.interner.intern(&k.dims[0]),
            self.interner.intern(&k.dims[1]),
            self.interner.intern(&k.dims[2]),
            self.interner.intern(&k.dims[3]),
        ]);
        Ok((fam, d))
    }

    /// The family and interned dimensions of an aggregate key.
    fn family_dims(&mut self, key: &pb::AggregateKey) -> (Family, Dims) {
        let (fam, parts) = schema::key_dimensions(key);
        (
            fam,
            Dims::from_parts(parts.map(|p| self.interner.intern(p))),
        )
    }

    /// Folds one partial in (replacing the previous value from the same partition).
    pub fn apply(&mut self, p: &pb::Partial) -> Result<(), PartialError> {
        let part = p.source_partition;
        match &p.value {
            Some(pb::partial::Value::WatermarkUs(w)) => {
                if !WATERMARKS.contains(w) {
                    return Err(PartialError::Range("watermark"));
                }
                let e = self.watermarks.entry(part).or_insert(*w);
                *e = (*e).max(*w);
            }
            Some(pb::partial::Value::Cell(c)) => {
                if c.counters.len() > COUNTERS || c.buckets.len() != BUCKETS {
                    return Err(PartialError::Shape(c.counters.len(), c.buckets.len()));
                }
                if !DAYS.contains(&c.day) {
                    return Err(PartialError::Range("day"));
                }
                if !c
                    .counters
                    .iter()
                    .chain(&c.buckets)
                    .all(|v| (0..=MAX_COUNT).contains(v))
                {
                    return Err(PartialError::Range("count"));
                }
                let (fam, dims) = self.key(p.key.as_ref())?;
                let mut cell = Cell::default();
                cell.counters[..c.counters.len()].copy_from_slice(&c.counters);
                cell.buckets.copy_from_slice(&c.buckets);
                cell.sum_us = c.sum_us as i128;
                let k = (fam, c.day, dims);
                let total = self.sum.cells.entry(k).or_default();
                if let Some(old) = self.cells.get(&(part, fam, c.day, dims)) {
                    total.add(old, -1);
                }
                total.add(&cell, 1);
                self.cells.insert((part, fam, c.day, dims), cell);
                self.mark(fam, dims, c.day);
            }
            Some(pb::partial::Value::Overdue(o)) => {
                if o.days.len() != o.deltas.len() {
                    return Err(PartialError::Steps(o.days.len(), o.deltas.len()));
                }
                if !o.days.iter().all(|d| DAYS.contains(d)) {
                    return Err(PartialError::Range("day"));
                }
                if !o
                    .deltas
                    .iter()
                    .all(|v| (-MAX_COUNT..=MAX_COUNT).contains(v))
                {
                    return Err(PartialError::Range("overdue change"));
                }
                let (fam, dims) = self.key(p.key.as_ref())?;
                let new: BTreeMap<i32, i64> = o
                    .days
                    .iter()
                    .copied()
                    .zip(o.deltas.iter().copied())
                    .collect();
                let total = self.sum.overdue.entry((fam, dims)).or_default();
                let old = self.steps.get(&(part, fam, dims));
                if let Some(old) = old {
                    add_steps(total, old, -1);
                }
                add_steps(total, &new, 1);
                // Overdue counts change from the first day where the steps differ on.
                let first = match old {
                    Some(old) => old
                        .iter()
                        .chain(new.iter())
                        .filter(|(d, v)| old.get(d) != Some(v) || new.get(d) != Some(v))
                        .map(|(d, _)| *d)
                        .min(),
                    None => new.keys().next().copied(),
                };
                self.steps.insert((part, fam, dims), new);
                if let Some(first) = first {
                    self.mark(fam, dims, first);
                }
            }
            Some(pb::partial::Value::Listing(ev)) => self.add_listing(ev)?,
            None => return Err(PartialError::NoValue),
        }
        Ok(())
    }

    /// Tells the totals what its aggregates partition already holds (read back on assignment):
    /// a later `take_updates` then replaces or deletes those records as needed, so a restarted
    /// stage also removes keys that a previous incarnation published and that no longer exist.
    /// Records that `key` is published with a value this stage must replace: the aggregates
    /// topic and its JSON mirror disagree on it (a crash between the two writes). The next
    /// [`Totals::take_updates`] publishes its current value, or a tombstone if it has none.
    pub fn restore_stale(&mut self, key: &pb::AggregateKey) {
        self.restore(key, STALE);
    }

    pub fn restore_published(&mut self, record: &pb::AggregateRecord) {
        if let Some(key) = record.key.as_ref() {
            self.restore(key, fingerprint(record));
        }
    }

    fn restore(&mut self, key: &pb::AggregateKey, fp: u64) {
        // A window that is no date cannot come from a totals stage: nothing to replace.
        let Some(at) = slot(key) else {
            return;
        };
        let (fam, dims) = self.family_dims(key);
        self.published
            .entry((fam, dims))
            .or_default()
            .insert(at, fp);
        self.mark(fam, dims, at.1);
    }

    /// The aggregate key of a published record.
    fn key_at(&self, fam: Family, dims: Dims, (month, day): Slot) -> pb::AggregateKey {
        let (y, m, _) = Day(day).ymd();
        let (granularity, window) = if month {
            (pb::Granularity::Month, format!("{y:04}-{m:02}"))
        } else {
            (pb::Granularity::Day, Day(day).to_string())
        };
        let parts = dims.strs(&self.interner).map(str::to_owned);
        schema::aggregate_key(fam, granularity, window, parts)
    }

    /// The changes to publish since the last call: the records of every changed key from the
    /// first day that changed on (a cell changes its DAY record and its month's; an overdue
    /// change, the days from it to the watermark's). A new watermark day re-renders the keys
    /// with overdue cases from the previous watermark day on (their snapshots extend to the
    /// new day). So a backfill renders each record a few times, not every day of every key at
    /// every publication.
    pub fn take_updates(&mut self) -> Vec<Update> {
        let Some(wm) = self.watermark() else {
            return Vec::new();
        };
        let wm_day = self.zone.day_of(wm).0;
        if self.published_wm_day != Some(wm_day) {
            let from = match self.published_wm_day {
                Some(prev) => prev.min(wm_day).saturating_add(1),
                None => MIN_DAY,
            };
            self.published_wm_day = Some(wm_day);
            let keys: Vec<_> = self.sum.overdue.keys().copied().collect();
            for (fam, dims) in keys {
                self.mark(fam, dims, from);
            }
            // Item snapshots extend to the new day too.
            for k in self.item_keys() {
                self.mark(Family::Item, k, from);
            }
        }
        if self.dirty.is_empty() {
            return Vec::new();
        }
        let dirty = std::mem::take(&mut self.dirty);
        let mut records = render(
            &self.sum,
            &self.interner,
            Some(wm),
            &self.zone,
            Some(&dirty),
        );
        for gran in [pb::Granularity::Day, pb::Granularity::Month] {
            render_items(
                &self.catalogue,
                &self.interner,
                Some(wm),
                &self.zone,
                Some(&dirty),
                gran,
                |r| records.push(r.to_pb()),
            );
        }
        let mut fresh: FastMap<(Family, Dims), BTreeMap<Slot, (u64, pb::AggregateRecord)>> =
            FastMap::default();
        for r in records {
            let Some(key) = r.key.as_ref() else {
                continue;
            };
            let Some(at) = slot(key) else {
                continue;
            };
            let fd = self.family_dims(key);
            fresh
                .entry(fd)
                .or_default()
                .insert(at, (fingerprint(&r), r));
        }
        let mut out = Vec::new();
        let mut order: Vec<_> = dirty.into_iter().collect();
        order.sort_unstable();
        for (fd, from) in order {
            let now = fresh.remove(&fd).unwrap_or_default();
            let mut before = self.published.remove(&fd).unwrap_or_default();
            // Published records in the re-rendered range that are no longer there: deleted.
            let gone: Vec<Slot> = before
                .keys()
                .filter(|at| covers(from, **at) && !now.contains_key(at))
                .copied()
                .collect();
            for at in gone {
                before.remove(&at);
                out.push(Update::Delete(self.key_at(fd.0, fd.1, at)));
            }
            for (at, (fp, r)) in now {
                if before.get(&at) != Some(&fp) {
                    out.push(Update::Upsert(r));
                }
                before.insert(at, fp);
            }
            if !before.is_empty() {
                self.published.insert(fd, before);
            }
        }
        out
    }

    /// Counter totals over all windows and keys, per family (application, hotline), in the
    /// order of metrics.md's tables (overdue excluded).
    pub fn family_totals(&self) -> [[i64; COUNTERS]; 2] {
        let mut out = [[0i64; COUNTERS]; 2];
        for ((fam, _, _), c) in &self.sum.cells {
            for (t, v) in out[*fam as usize].iter_mut().zip(c.counters) {
                *t += v;
            }
        }
        out
    }

    /// Visits every DAY cell of the sum: family, local day, dimension values (region, dept,
    /// item or category, channel), counters (metrics.md order), non-cumulative buckets and the
    /// duration sum in microseconds. For exporting metrics.
    pub fn for_each_cell(
        &self,
        mut f: impl FnMut(Family, i32, [&str; 4], &[i64; COUNTERS], &[i64; BUCKETS], i128),
    ) {
        for ((fam, day, dims), c) in &self.sum.cells {
            f(
                *fam,
                *day,
                dims.strs(&self.interner),
                &c.counters,
                &c.buckets,
                c.sum_us,
            );
        }
    }

    /// Overdue open cases at the end of the watermark's day, per family and dimension values.
    pub fn overdue_now(&self) -> Vec<(Family, [&str; 4], i64)> {
        let Some(wm) = self.watermark() else {
            return Vec::new();
        };
        let wm_day = self.zone.day_of(wm).0;
        let mut out = Vec::new();
        for ((fam, dims), steps) in &self.sum.overdue {
            let v: i64 = steps.range(..=wm_day).map(|(_, d)| d).sum();
            if v != 0 {
                out.push((*fam, dims.strs(&self.interner), v));
            }
        }
        out
    }

    /// Family `item` at the end of the watermark's day (the current snapshot): region, dept
    /// and counters of every key with a listing in force. Empty on every totals partition but
    /// the one that computes the family (0), and before the first event.
    pub fn items_now(&self) -> Vec<([&str; 2], [i64; COUNTERS])> {
        let Some(wm) = self.watermark() else {
            return Vec::new();
        };
        let end = self.zone.day_start(Day(self.zone.day_of(wm).0 + 1));
        let mut out: Vec<_> = self
            .catalogue
            .snapshot_at(end)
            .into_iter()
            .map(|((r, d), c)| ([self.interner.get(r), self.interner.get(d)], c))
            .collect();
        out.sort_unstable();
        out
    }

    /// The local day of the watermark.
    pub fn watermark_day(&self) -> Option<i32> {
        self.watermark().map(|w| self.zone.day_of(w).0)
    }

    /// All current records, in canonical order.
    pub fn records(&self) -> Vec<pb::AggregateRecord> {
        let mut records = render(
            &self.sum,
            &self.interner,
            self.watermark(),
            &self.zone,
            None,
        );
        for gran in [pb::Granularity::Day, pb::Granularity::Month] {
            render_items(
                &self.catalogue,
                &self.interner,
                self.watermark(),
                &self.zone,
                None,
                gran,
                |r| records.push(r.to_pb()),
            );
        }
        records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_of_family_item_are_refused() {
        // Found by the fuzzer: an `item` cell made `family_totals` index past its two families.
        let mut t = Totals::new(Zone::Fixed(8 * 3600));
        let p = pb::Partial {
            source_partition: 0,
            key: Some(pb::PartialKey {
                family: pb::Family::Item as i32,
                dims: vec!["652801".into(), "D".into(), String::new(), String::new()],
            }),
            value: Some(pb::partial::Value::Cell(pb::PartialCell {
                day: 18_000,
                counters: vec![1; COUNTERS],
                buckets: vec![0; BUCKETS],
                sum_us: 0,
            })),
        };
        assert!(matches!(t.apply(&p), Err(PartialError::Family)));
        assert_eq!(t.family_totals(), [[0; COUNTERS]; 2]);
    }

    fn key() -> Option<pb::PartialKey> {
        Some(pb::PartialKey {
            family: pb::Family::Hotline as i32,
            dims: ["652801", "D", "COMPLAINT", "PHONE"]
                .map(str::to_owned)
                .to_vec(),
        })
    }

    fn cell(partition: i32, day: i32, counter: i64) -> pb::Partial {
        pb::Partial {
            source_partition: partition,
            key: key(),
            value: Some(pb::partial::Value::Cell(pb::PartialCell {
                day,
                counters: vec![counter],
                buckets: vec![0; BUCKETS],
                sum_us: 0,
            })),
        }
    }

    fn overdue(days: Vec<i32>, deltas: Vec<i64>) -> pb::Partial {
        pb::Partial {
            source_partition: 0,
            key: key(),
            value: Some(pb::partial::Value::Overdue(pb::PartialOverdue {
                days,
                deltas,
            })),
        }
    }

    fn watermark(w: i64) -> pb::Partial {
        pb::Partial {
            source_partition: 0,
            key: None,
            value: Some(pb::partial::Value::WatermarkUs(w)),
        }
    }

    /// 2020-07-15T00:00Z.
    const WM_2020: i64 = 1_594_771_200_000_000;
    const DAY_2020: i32 = 18_458;

    /// Found with the `partials` fuzz target (hand-made boundary inputs, now its `regress-*`
    /// seeds): partials no engine can produce made the totals stage panic on overflow (debug
    /// builds; garbage in release ones) or render a DAY record per day for thousands of years.
    /// They are refused now, and the totals stay as they were.
    #[test]
    fn out_of_range_partials_are_refused() {
        let mut t = Totals::new(Zone::Fixed(8 * 3600));
        // A far-future watermark: the local day of it overflowed.
        assert_eq!(
            t.apply(&watermark(i64::MAX)),
            Err(PartialError::Range("watermark"))
        );
        assert_eq!(
            t.apply(&watermark(-1)),
            Err(PartialError::Range("watermark"))
        );
        assert_eq!(t.watermark(), None);
        assert!(t.take_updates().is_empty());
        // Counters of two partitions summing past i64::MAX; a negative count.
        assert_eq!(
            t.apply(&cell(0, DAY_2020, i64::MAX)),
            Err(PartialError::Range("count"))
        );
        assert_eq!(
            t.apply(&cell(0, DAY_2020, i64::MIN)),
            Err(PartialError::Range("count"))
        );
        // A cell before 1970.
        assert_eq!(t.apply(&cell(0, -1, 1)), Err(PartialError::Range("day")));
        // An overdue step 2700 years before the watermark (did not finish), and steps summing
        // past i64::MAX.
        assert_eq!(
            t.apply(&overdue(vec![-1_000_000], vec![1])),
            Err(PartialError::Range("day"))
        );
        assert_eq!(
            t.apply(&overdue(
                vec![DAY_2020, DAY_2020 + 1],
                vec![i64::MAX, i64::MAX]
            )),
            Err(PartialError::Range("overdue change"))
        );
        assert_eq!(t.family_totals(), [[0; COUNTERS]; 2]);
        // What engines do publish still goes through.
        assert_eq!(t.apply(&cell(0, DAY_2020, 3)), Ok(()));
        assert_eq!(t.apply(&cell(1, DAY_2020, 1 << 40)), Ok(()));
        assert_eq!(
            t.apply(&overdue(vec![DAY_2020, DAY_2020 + 3], vec![2, -2])),
            Ok(())
        );
        assert_eq!(t.apply(&watermark(WM_2020)), Ok(()));
        assert_eq!(t.family_totals()[1][0], 3 + (1 << 40));
        assert!(!t.take_updates().is_empty());
        assert_eq!(t.overdue_now().len(), 1);
    }

    /// A key the two aggregates topics disagree on is published again: as a value when the
    /// totals hold one, as a tombstone when they do not.
    #[test]
    fn stale_keys_are_published_again() {
        let mut t = Totals::new(Zone::Fixed(8 * 3600));
        t.apply(&cell(0, DAY_2020, 3)).unwrap();
        t.apply(&watermark(WM_2020)).unwrap();
        let first = t.take_updates();
        let Some(Update::Upsert(r)) = first.first().cloned() else {
            panic!("{first:?}");
        };
        let key = r.key.clone().unwrap();
        // Published and mirrored: nothing to do.
        let mut again = Totals::new(Zone::Fixed(8 * 3600));
        again.restore_published(&r);
        again.apply(&cell(0, DAY_2020, 3)).unwrap();
        again.apply(&watermark(WM_2020)).unwrap();
        assert!(!again
            .take_updates()
            .iter()
            .any(|u| matches!(u, Update::Upsert(x) if x.key == r.key)));
        // Stale: the same value is published again.
        let mut again = Totals::new(Zone::Fixed(8 * 3600));
        again.restore_stale(&key);
        again.apply(&cell(0, DAY_2020, 3)).unwrap();
        again.apply(&watermark(WM_2020)).unwrap();
        assert!(again.take_updates().contains(&Update::Upsert(r.clone())));
        // Stale and gone: a tombstone.
        let mut gone = Totals::new(Zone::Fixed(8 * 3600));
        gone.restore_stale(&key);
        gone.apply(&cell(0, DAY_2020 - 1, 3)).unwrap();
        gone.apply(&watermark(WM_2020)).unwrap();
        assert!(gone.take_updates().contains(&Update::Delete(key)));
    }
}
