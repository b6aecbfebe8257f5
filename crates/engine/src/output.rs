//! From the aggregate store to aggregate records: DAY cells, overdue snapshots (from the step
//! functions, up to the watermark), MONTH sums, in the canonical order.

use crate::case::Dims;
use crate::catalogue::{Catalogue, Listing};
use crate::contrib::BUCKETS;
use crate::fasthash::FastMap;
use crate::intern::Interner;
use crate::schema::{Family, Row, COUNTERS};
use crate::store::{Cell, Store};
use govstream_calendar::civil::{Day, MICROS_PER_DAY};
use govstream_calendar::Zone;
use govstream_proto::v1 as pb;
use std::collections::BTreeMap;

/// A month as `year * 12 + month - 1` (ordered like its `yyyy-MM` string).
/// Below and above any day a store holds (1970-01-01 ..= 9999-12-31; `month_key` of
/// `i32::MIN` would overflow).
pub(crate) const MIN_DAY: i32 = -1_000_000;
const MAX_DAY: i32 = 3_000_000;

pub(crate) fn month_key(day: i32) -> i32 {
    let (y, m, _) = Day(day).ymd();
    y * 12 + (m as i32 - 1)
}

fn month_end(mk: i32) -> i32 {
    let (y, m) = (mk.div_euclid(12), mk.rem_euclid(12) as u32 + 1);
    let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    Day::from_ymd(next.0, next.1, 1).map_or(i32::MAX, |d| d.0 - 1)
}

const ZERO: Cell = Cell {
    counters: [0; COUNTERS],
    buckets: [0; BUCKETS],
    sum_us: 0,
};

/// Renders the records of `store` as of `watermark`. With `only`, just the records of those
/// (family, dimensions) keys (used when publishing updates).
/// What to render of a store: per (family, dims), the first local day whose records are wanted
/// (DAY records of that day on, MONTH records of its month on); `None` renders everything.
pub type Only = FastMap<(Family, Dims), i32>;

pub fn render(
    store: &Store,
    interner: &Interner,
    watermark: Option<i64>,
    zone: &Zone,
    only: Option<&Only>,
) -> Vec<pb::AggregateRecord> {
    let mut out = Vec::new();
    render_each(store, interner, watermark, zone, only, &mut NoSpill, |r| {
        out.push(r.to_pb())
    });
    out
}

/// The first day rendered of a key: everything without `only`; with it, the key's first
/// changed day, or nothing (a day after any store's) when the key is not listed.
fn rendered_from(only: Option<&Only>, fam: Family, dims: &Dims) -> i32 {
    only.map_or(MIN_DAY, |o| {
        o.get(&(fam, *dims))
            .copied()
            .unwrap_or(MAX_DAY)
            .clamp(MIN_DAY, MAX_DAY)
    })
}

/// What was moved out of the store (`Engine::spill_before`), handed back at rendering: per
/// family, two streams in ascending day order, each read twice (DAY records, then MONTH
/// records).
pub trait SpillSource {
    /// The next spilled DAY cell (day, dimensions, cell).
    fn next_cell(&mut self, fam: Family) -> Option<(i32, Dims, Cell)>;
    /// The next spilled overdue step (day, dimensions, delta).
    fn next_step(&mut self, fam: Family) -> Option<(i32, Dims, i64)>;
    /// Starts both streams of `fam` again from their beginning.
    fn rewind(&mut self, fam: Family);
}

pub struct NoSpill;

impl SpillSource for NoSpill {
    fn next_cell(&mut self, _: Family) -> Option<(i32, Dims, Cell)> {
        None
    }
    fn next_step(&mut self, _: Family) -> Option<(i32, Dims, i64)> {
        None
    }
    fn rewind(&mut self, _: Family) {}
}

/// Visits, in ascending order, every day of family `fam` that has a DAY cell or (up to the
/// watermark's day) a non-zero overdue count: `visit(day, cells, overdue)` gets the day's
/// cells (store and spilled, summed by dimensions) and the overdue counts (empty after
/// `wm_day`).
fn walk_days(
    store: &Store,
    fam: Family,
    wm_day: i32,
    wanted: &dyn Fn(Family, &Dims) -> bool,
    spilled: &mut dyn SpillSource,
    mut visit: impl FnMut(i32, &[(Dims, Cell)], &[(Dims, i64)]),
) {
    // DAY cells of this family in memory, by day.
    let mut cells: BTreeMap<i32, Vec<(Dims, &Cell)>> = BTreeMap::new();
    for ((f, day, dims), c) in &store.cells {
        if *f == fam && !c.is_zero() && wanted(fam, dims) {
            cells.entry(*day).or_default().push((*dims, c));
        }
    }
    // Overdue step functions in memory, as (day, key, delta) changes up to wm_day.
    let mut keys: Vec<Dims> = Vec::new();
    let mut changes: Vec<(i32, u32, i64)> = Vec::new();
    for ((f, dims), steps) in &store.overdue {
        if *f != fam || !wanted(fam, dims) {
            continue;
        }
        let k = keys.len() as u32;
        keys.push(*dims);
        for (&d, &delta) in steps.range(..=wm_day) {
            changes.push((d, k, delta));
        }
    }
    changes.sort_unstable();
    let mut key_of: FastMap<Dims, u32> = keys
        .iter()
        .enumerate()
        .map(|(i, d)| (*d, i as u32))
        .collect();
    let mut value = vec![0i64; keys.len()];
    let mut nonzero: BTreeMap<u32, ()> = BTreeMap::new();
    let mut next_step = spilled.next_step(fam).filter(|s| s.0 <= wm_day);
    let first_change = match (
        changes.first().map(|c| c.0),
        next_step.as_ref().map(|s| s.0),
    ) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let mut next_change = 0usize;
    // Days to visit: every cell day, and every day from the first overdue change to wm_day.
    let mut days: Vec<i32> = cells.keys().copied().collect();
    if let Some(first) = first_change {
        days.extend(first..=wm_day);
        days.sort_unstable();
        days.dedup();
    }
    let mut today: Vec<(Dims, Cell)> = Vec::new();
    let mut overdue: Vec<(Dims, i64)> = Vec::new();
    let mut next_spilled = spilled.next_cell(fam);
    let mut di = 0usize;
    loop {
        let day = match (days.get(di).copied(), next_spilled.as_ref().map(|s| s.0)) {
            (None, None) => break,
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (Some(a), Some(b)) => a.min(b),
        };
        if days.get(di) == Some(&day) {
            di += 1;
        }
        today.clear();
        // Several runs may hold the same key: values are summed.
        let mut at: FastMap<Dims, usize> = FastMap::default();
        let mut add = |today: &mut Vec<(Dims, Cell)>, dims: Dims, c: &Cell| match at.get(&dims) {
            Some(&i) => today[i].1.add(c, 1),
            None => {
                at.insert(dims, today.len());
                today.push((dims, c.clone()));
            }
        };
        while next_spilled.as_ref().is_some_and(|s| s.0 == day) {
            if let Some((_, dims, cell)) = next_spilled.take() {
                if wanted(fam, &dims) {
                    add(&mut today, dims, &cell);
                }
            }
            next_spilled = spilled.next_cell(fam);
        }
        for (dims, c) in cells.get(&day).map_or(&[][..], |v| v.as_slice()) {
            add(&mut today, *dims, c);
        }
        today.retain(|t| !t.1.is_zero());
        let mut step = |k: u32, delta: i64, value: &mut Vec<i64>| {
            let v = &mut value[k as usize];
            *v += delta;
            if *v == 0 {
                nonzero.remove(&k);
            } else {
                nonzero.insert(k, ());
            }
        };
        while next_change < changes.len() && changes[next_change].0 <= day {
            let (_, k, delta) = changes[next_change];
            step(k, delta, &mut value);
            next_change += 1;
        }
        while next_step.as_ref().is_some_and(|s| s.0 <= day) {
            if let Some((_, dims, delta)) = next_step.take() {
                if wanted(fam, &dims) {
                    let k = *key_of.entry(dims).or_insert_with(|| {
                        keys.push(dims);
                        value.push(0);
                        (keys.len() - 1) as u32
                    });
                    step(k, delta, &mut value);
                }
            }
            next_step = spilled.next_step(fam).filter(|s| s.0 <= wm_day);
        }
        overdue.clear();
        if day <= wm_day {
            overdue.extend(
                nonzero
                    .keys()
                    .map(|&k| (keys[k as usize], value[k as usize])),
            );
        }
        visit(day, &today, &overdue);
    }
}

/// [`render`] as a stream, in canonical order: records are made one window at a time — DAY
/// records in a first walk over the days, MONTH records in a second — so the memory used beyond
/// the store is one day's or one month's rows, never the whole output.
pub fn render_each(
    store: &Store,
    interner: &Interner,
    watermark: Option<i64>,
    zone: &Zone,
    only: Option<&Only>,
    spilled: &mut dyn SpillSource,
    mut emit: impl FnMut(&Row),
) {
    // The families of cases; `item` records come from the catalogue (`render_items`).
    for fam in Family::CASES {
        for gran in [pb::Granularity::Day, pb::Granularity::Month] {
            let part = RecordPart {
                family: fam,
                granularity: gran,
            };
            render_part(
                store, interner, watermark, zone, only, spilled, part, &mut emit,
            );
        }
    }
}

/// One family's records of one granularity: a contiguous part of the canonical order
/// (application DAY, application MONTH, hotline DAY, hotline MONTH, item DAY, item MONTH).
/// Parts are independent, so a harness may render them on several threads and concatenate
/// them in this order.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RecordPart {
    pub family: Family,
    pub granularity: pb::Granularity,
}

impl RecordPart {
    /// Every part, in canonical order.
    pub const ALL: [RecordPart; 6] = [
        RecordPart {
            family: Family::Application,
            granularity: pb::Granularity::Day,
        },
        RecordPart {
            family: Family::Application,
            granularity: pb::Granularity::Month,
        },
        RecordPart {
            family: Family::Hotline,
            granularity: pb::Granularity::Day,
        },
        RecordPart {
            family: Family::Hotline,
            granularity: pb::Granularity::Month,
        },
        RecordPart {
            family: Family::Item,
            granularity: pb::Granularity::Day,
        },
        RecordPart {
            family: Family::Item,
            granularity: pb::Granularity::Month,
        },
    ];
}

/// The records of family `item` of one granularity, in canonical order: per (region, dept) of
/// the listings, snapshots of the listings in force at the end of each window (rule 14: a
/// listing is in force at the end E of a day when its instant is ≤ E), from the window of the
/// earliest listing to the watermark's (the current window's snapshot at the end of the
/// watermark's day). None before the first event (rule 16).
/// With `only`, just the keys listed there, from their first day on (as [`render`]).
pub fn render_items(
    catalogue: &Catalogue,
    interner: &Interner,
    watermark: Option<i64>,
    zone: &Zone,
    only: Option<&Only>,
    granularity: pb::Granularity,
    mut emit: impl FnMut(&Row),
) {
    let (Some(wm), Some(earliest)) = (watermark, catalogue.earliest()) else {
        return;
    };
    let wm_day = zone.day_of(wm).0;
    let first_day = zone.day_of(earliest).0;
    if first_day > wm_day {
        return;
    }
    // Per key, the changes of its counters at the end of each day.
    let mut steps: BTreeMap<i32, Vec<(Dims, [i64; COUNTERS])>> = BTreeMap::new();
    for listings in catalogue.items.values() {
        let mut current: Option<&Listing> = None;
        for l in &listings.versions {
            if current.is_some_and(|c| (c.version, c.at) >= (l.version, l.at)) {
                continue;
            }
            // The first day whose end is at or after the listing's instant.
            let d = zone.day_of(l.at);
            let day = if zone.day_start(d) == l.at {
                d.0 - 1
            } else {
                d.0
            };
            let day = day.max(first_day);
            let changes = steps.entry(day).or_default();
            if let Some(c) = current {
                changes.push((item_key(c), c.item_counters().map(|v| -v)));
            }
            changes.push((item_key(l), l.item_counters()));
            current = Some(l);
        }
    }
    let rank = interner.ranks();
    let order = |d: &Dims| (rank[d.region.0 as usize], rank[d.dept.0 as usize]);
    let mut now: FastMap<Dims, [i64; COUNTERS]> = FastMap::default();
    let from = |dims: &Dims| rendered_from(only, Family::Item, dims);
    let month = granularity == pb::Granularity::Month;
    let mut snapshot = |day: i32, window: &str, now: &FastMap<Dims, [i64; COUNTERS]>| {
        let mut rows: Vec<(&Dims, &[i64; COUNTERS])> = now
            .iter()
            .filter(|(_, c)| c.iter().any(|v| *v != 0))
            .filter(|(d, _)| {
                if month {
                    month_key(from(d)) <= month_key(day)
                } else {
                    from(d) <= day
                }
            })
            .collect();
        rows.sort_unstable_by_key(|(d, _)| order(d));
        for (dims, c) in rows {
            emit(&Row {
                family: Family::Item,
                granularity,
                window,
                dims: dims.strs(interner),
                counters: c.map(|v| v.max(0) as u64),
                overdue_open: 0,
                buckets: &[],
                sum: 0.0,
                count: 0,
            });
        }
    };
    if let Some(o) = only {
        // Only the listed keys' changes matter.
        for list in steps.values_mut() {
            list.retain(|(d, _)| o.contains_key(&(Family::Item, *d)));
        }
    }
    let mut changes = steps.range(..=wm_day).peekable();
    let mut apply_through = |day: i32, now: &mut FastMap<Dims, [i64; COUNTERS]>| {
        while let Some((_, list)) = changes.next_if(|(d, _)| **d <= day) {
            for (dims, delta) in list {
                let c = now.entry(*dims).or_insert([0; COUNTERS]);
                for (a, b) in c.iter_mut().zip(delta) {
                    *a += b;
                }
            }
        }
    };
    if granularity == pb::Granularity::Day {
        for day in first_day..=wm_day {
            apply_through(day, &mut now);
            snapshot(day, &Day(day).to_string(), &now);
        }
    } else {
        let (mut m, last) = (month_key(first_day), month_key(wm_day));
        while m <= last {
            let end = month_end(m).min(wm_day);
            apply_through(end, &mut now);
            let window = format!("{:04}-{:02}", m.div_euclid(12), m.rem_euclid(12) + 1);
            snapshot(end, &window, &now);
            m += 1;
        }
    }
}

/// The `item` key of a listing: its region and department.
fn item_key(l: &Listing) -> Dims {
    Dims {
        region: l.region,
        dept: l.dept,
        ..Dims::default()
    }
}

/// The records of one [`RecordPart`], in canonical order; `spilled` is read once from its start
/// (rewound after).
#[allow(clippy::too_many_arguments)]
pub fn render_part(
    store: &Store,
    interner: &Interner,
    watermark: Option<i64>,
    zone: &Zone,
    only: Option<&Only>,
    spilled: &mut dyn SpillSource,
    part: RecordPart,
    mut emit: impl FnMut(&Row),
) {
    let Some(wm) = watermark else {
        return;
    };
    let fam = part.family;
    if !fam.of_cases() {
        // The store holds no `item` cells: see `render_items`.
        return;
    }
    let wm_day = zone.day_of(wm).0;
    let wanted = |fam: Family, dims: &Dims| only.is_none_or(|o| o.contains_key(&(fam, *dims)));
    // Every key is visited from its first day (the overdue counts and the month sums need the
    // days before); it is rendered from `rendered_from` on.
    let from = |fam: Family, dims: &Dims| rendered_from(only, fam, dims);
    // Canonical order without string comparisons: symbols ranked by their strings.
    let rank = interner.ranks();
    let dims_order = |d: &Dims| {
        (
            rank[d.region.0 as usize],
            rank[d.dept.0 as usize],
            rank[d.subject.0 as usize],
            rank[d.channel.0 as usize],
        )
    };
    if part.granularity == pb::Granularity::Day {
        walk_days(
            store,
            fam,
            wm_day,
            &wanted,
            spilled,
            |day, today, overdue| {
                // One row per key: its cell (or none) and its overdue count (or 0).
                let mut rows: Vec<(Dims, &Cell, i64)> = today
                    .iter()
                    .filter(|(d, _)| from(fam, d) <= day)
                    .map(|(d, c)| (*d, c, 0))
                    .collect();
                rows.extend(
                    overdue
                        .iter()
                        .filter(|(d, _)| from(fam, d) <= day)
                        .map(|(d, v)| (*d, &ZERO, *v)),
                );
                if rows.is_empty() {
                    return;
                }
                rows.sort_unstable_by_key(|r| dims_order(&r.0));
                let window = Day(day).to_string();
                let mut i = 0;
                while i < rows.len() {
                    let (dims, mut cell, mut od) = rows[i];
                    let mut j = i + 1;
                    while j < rows.len() && rows[j].0 == dims {
                        if rows[j].1.is_zero() {
                            od = rows[j].2;
                        } else {
                            cell = rows[j].1;
                        }
                        j += 1;
                    }
                    emit_row(
                        &mut emit,
                        interner,
                        fam,
                        pb::Granularity::Day,
                        &window,
                        dims,
                        cell,
                        od,
                    );
                    i = j;
                }
            },
        );
        spilled.rewind(fam);
    } else {
        // MONTH records: counters summed over the month's days, overdue as at the month's end
        // (or the watermark's day), one month at a time.
        let mut month: Option<i32> = None;
        let mut sums: FastMap<Dims, (Cell, i64)> = FastMap::default();
        let mut flush = |m: i32, sums: &mut FastMap<Dims, (Cell, i64)>| {
            let mut rows: Vec<_> = sums
                .drain()
                .filter(|(_, (c, o))| *o != 0 || !c.is_zero())
                .filter(|(dims, _)| month_key(from(fam, dims)) <= m)
                .collect();
            rows.sort_unstable_by_key(|(dims, _)| dims_order(dims));
            let window = format!("{:04}-{:02}", m.div_euclid(12), m.rem_euclid(12) + 1);
            for (dims, (cell, od)) in rows {
                emit_row(
                    &mut emit,
                    interner,
                    fam,
                    pb::Granularity::Month,
                    &window,
                    dims,
                    &cell,
                    od,
                );
            }
        };
        walk_days(
            store,
            fam,
            wm_day,
            &wanted,
            spilled,
            |day, today, overdue| {
                let m = month_key(day);
                if month != Some(m) {
                    if let Some(prev) = month {
                        flush(prev, &mut sums);
                    }
                    month = Some(m);
                }
                for (dims, c) in today {
                    sums.entry(*dims).or_insert((ZERO, 0)).0.add(c, 1);
                }
                if month_end(m).min(wm_day) == day {
                    for (dims, v) in overdue {
                        sums.entry(*dims).or_insert((ZERO, 0)).1 = *v;
                    }
                }
            },
        );
        if let Some(m) = month {
            flush(m, &mut sums);
        }
        spilled.rewind(fam);
    }
}

#[allow(clippy::too_many_arguments)]
fn emit_row(
    emit: &mut impl FnMut(&Row),
    interner: &Interner,
    family: Family,
    granularity: pb::Granularity,
    window: &str,
    dims: Dims,
    cell: &Cell,
    overdue: i64,
) {
    let mut buckets = [0u64; BUCKETS];
    let mut acc = 0i64;
    for (b, n) in buckets.iter_mut().zip(cell.buckets) {
        acc += n;
        *b = acc.max(0) as u64;
    }
    emit(&Row {
        family,
        granularity,
        window,
        dims: dims.strs(interner),
        counters: cell.counters.map(|c| c.max(0) as u64),
        overdue_open: overdue.max(0) as u64,
        buckets: &buckets,
        sum: cell.sum_us as f64 / MICROS_PER_DAY as f64,
        count: cell.count().max(0) as u64,
    });
}
