//! From the aggregate store to aggregate records: DAY cells, overdue snapshots (from the step
//! functions, up to the watermark), MONTH sums, in the canonical order.

use crate::case::Dims;
use crate::contrib::{app, hot, Family, BUCKETS};
use crate::fasthash::FastMap;
use crate::intern::{Interner, Sym};
use crate::store::{Cell, Store};
use govstream_calendar::civil::{Day, MICROS_PER_DAY};
use govstream_proto::v1 as pb;
use std::collections::HashSet;

/// A month as `year * 12 + month - 1` (ordered like its `yyyy-MM` string).
fn month_key(day: i32) -> i32 {
    let (y, m, _) = Day(day).ymd();
    y * 12 + (m as i32 - 1)
}

fn month_end(mk: i32) -> i32 {
    let (y, m) = (mk.div_euclid(12), mk.rem_euclid(12) as u32 + 1);
    let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    Day::from_ymd(next.0, next.1, 1).map_or(i32::MAX, |d| d.0 - 1)
}

const ZERO: Cell = Cell {
    counters: [0; 14],
    buckets: [0; BUCKETS],
    sum_us: 0,
};

/// Renders the records of `store` as of `watermark`. With `only`, just the records of those
/// (family, dimensions) keys (used when publishing updates).
pub fn render(
    store: &Store,
    interner: &Interner,
    watermark: Option<i64>,
    offset_s: i32,
    only: Option<&HashSet<(Family, Dims)>>,
) -> Vec<pb::AggregateRecord> {
    let Some(wm) = watermark else {
        return Vec::new();
    };
    let wm_day = Day::of_instant(wm, offset_s).0;
    let wanted = |fam: Family, dims: &Dims| only.is_none_or(|o| o.contains(&(fam, *dims)));
    // DAY rows: (family, day, dims) → (cell, overdue).
    let mut days: FastMap<(Family, i32, Dims), (&Cell, i64)> = FastMap::default();
    for (k, c) in &store.cells {
        if !c.is_zero() && wanted(k.0, &k.2) {
            days.insert(*k, (c, 0));
        }
    }
    let mut month_overdue: FastMap<(Family, i32, Dims), i64> = FastMap::default();
    for ((fam, dims), steps) in &store.overdue {
        if !wanted(*fam, dims) {
            continue;
        }
        let mut value = 0i64;
        let mut it = steps.iter().peekable();
        while let Some((&d, &delta)) = it.next() {
            value += delta;
            if d > wm_day {
                break;
            }
            let next = it.peek().map_or(wm_day + 1, |(&n, _)| n.min(wm_day + 1));
            if value != 0 {
                for day in d..next {
                    days.entry((*fam, day, *dims)).or_insert((&ZERO, 0)).1 = value;
                }
            }
            // Month snapshots: at the end of each month in [d, next), or at the watermark's day.
            let mut day = d;
            while day < next {
                let mk = month_key(day);
                let snap = month_end(mk).min(wm_day);
                if snap < next {
                    month_overdue.insert((*fam, mk, *dims), value);
                }
                day = month_end(mk).saturating_add(1);
            }
        }
    }
    let mut months: FastMap<(Family, i32, Dims), (Cell, i64)> = FastMap::default();
    for ((fam, day, dims), (cell, _)) in &days {
        let m = &mut months
            .entry((*fam, month_key(*day), *dims))
            .or_insert((ZERO, 0))
            .0;
        for i in 0..14 {
            m.counters[i] += cell.counters[i];
        }
        for i in 0..BUCKETS {
            m.buckets[i] += cell.buckets[i];
        }
        m.sum_us += cell.sum_us;
    }
    for (k, v) in month_overdue {
        months.entry(k).or_insert((ZERO, 0)).1 = v;
    }
    // Canonical order without string comparisons: symbols ranked by their strings.
    let rank = interner.ranks();
    let order = |fam: Family, gran: u8, w: i32, d: &Dims| {
        (
            fam,
            gran,
            w,
            rank[d[0].0 as usize],
            rank[d[1].0 as usize],
            rank[d[2].0 as usize],
            rank[d[3].0 as usize],
        )
    };
    let mut rows: Vec<_> = days
        .iter()
        .map(|((f, d, dims), (c, o))| (order(*f, 0, *d, dims), *f, *d, *dims, *c, *o))
        .chain(
            months
                .iter()
                .map(|((f, m, dims), (c, o))| (order(*f, 1, *m, dims), *f, *m, *dims, c, *o)),
        )
        .filter(|r| r.5 != 0 || !r.4.is_zero())
        .collect();
    rows.sort_unstable_by_key(|r| r.0);
    rows.into_iter()
        .map(|(o, fam, w, dims, cell, overdue)| {
            let (gran, window) = if o.1 == 0 {
                (pb::Granularity::Day, Day(w).to_string())
            } else {
                (
                    pb::Granularity::Month,
                    format!("{:04}-{:02}", w.div_euclid(12), w.rem_euclid(12) + 1),
                )
            };
            record(interner, fam, gran, window, dims, cell, overdue)
        })
        .collect()
}

fn record(
    interner: &Interner,
    fam: Family,
    gran: pb::Granularity,
    window: String,
    dims: Dims,
    cell: &Cell,
    overdue: i64,
) -> pb::AggregateRecord {
    let s = |sym: Sym| interner.get(sym).to_owned();
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
        Family::Application => (
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
                submitted: c(app::SUBMITTED),
                accepted: c(app::ACCEPTED),
                completed: c(app::COMPLETED),
                on_time: c(app::ON_TIME),
                at_most_one_trip: c(app::AT_MOST_ONE_TRIP),
                zero_trip: c(app::ZERO_TRIP),
                withdrawn: c(app::WITHDRAWN),
                reviews: c(app::REVIEWS),
                bad_reviews: c(app::BAD_REVIEWS),
                overdue_open: overdue,
            }),
        ),
        Family::Hotline => (
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
                received: c(hot::RECEIVED),
                answered_directly: c(hot::ANSWERED_DIRECTLY),
                dispatched: c(hot::DISPATCHED),
                signed: c(hot::SIGNED),
                signed_on_time: c(hot::SIGNED_ON_TIME),
                returned: c(hot::RETURNED),
                urged: c(hot::URGED),
                closed: c(hot::CLOSED),
                closed_on_time: c(hot::CLOSED_ON_TIME),
                callbacks: c(hot::CALLBACKS),
                satisfied: c(hot::SATISFIED),
                unreachable: c(hot::UNREACHABLE),
                reopened: c(hot::REOPENED),
                overdue_open: overdue,
            }),
        ),
    };
    pb::AggregateRecord {
        key: Some(key),
        counters: Some(counters),
        duration: Some(duration),
    }
}
