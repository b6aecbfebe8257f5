//! The aggregate store: DAY cells of counters and histograms, and overdue step functions.
//! MONTH records and `overdue_open` snapshots are derived when records are produced.

use crate::case::Dims;
use crate::contrib::{bucket_of, Item, BUCKETS};
use crate::fasthash::FastMap;
use crate::schema::{Family, COUNTERS};
use std::collections::BTreeMap;

/// Counters and histogram of one (family, DAY window, dimensions) key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    /// Counter values by index (`contrib::app` / `contrib::hot`); overdue is not kept here.
    pub counters: [i64; COUNTERS],
    /// Non-cumulative bucket counts.
    pub buckets: [i64; BUCKETS],
    /// Total duration, microseconds of working time (exact, so sums are order-independent).
    pub sum_us: i128,
}

impl Cell {
    pub fn count(&self) -> i64 {
        self.buckets.iter().sum()
    }

    /// No counter, bucket or duration. (A whole cell with no count has no duration either; a
    /// delta cell — a change to a spilled day — can change the duration sum alone.)
    pub fn is_zero(&self) -> bool {
        self.counters.iter().all(|&c| c == 0)
            && self.buckets.iter().all(|&b| b == 0)
            && self.sum_us == 0
    }
}

#[derive(Clone, Debug, Default)]
pub struct Store {
    pub cells: FastMap<(Family, i32, Dims), Cell>,
    /// Per (family, dims): day → change of the overdue count at the end of that day.
    pub overdue: FastMap<(Family, Dims), BTreeMap<i32, i64>>,
    /// When set, the keys changed since the last `take_dirty` (for publishing updates).
    pub dirty: Option<Dirty>,
}

/// Keys of the store changed since they were last taken.
#[derive(Clone, Debug, Default)]
pub struct Dirty {
    pub cells: std::collections::HashSet<(Family, i32, Dims)>,
    pub overdue: std::collections::HashSet<(Family, Dims)>,
}

impl Cell {
    pub fn add(&mut self, other: &Cell, sign: i64) {
        for i in 0..self.counters.len() {
            self.counters[i] += sign * other.counters[i];
        }
        for i in 0..BUCKETS {
            self.buckets[i] += sign * other.buckets[i];
        }
        self.sum_us += sign as i128 * other.sum_us;
    }
}

impl Store {
    pub fn apply(&mut self, family: Family, items: &[Item], sign: i64) {
        for it in items {
            if let Some(d) = &mut self.dirty {
                match *it {
                    Item::Count { day, dims, .. } | Item::Duration { day, dims, .. } => {
                        d.cells.insert((family, day, dims));
                    }
                    Item::Overdue { dims, .. } => {
                        d.overdue.insert((family, dims));
                    }
                }
            }
            match *it {
                Item::Count { day, dims, counter } => {
                    self.cells.entry((family, day, dims)).or_default().counters
                        [counter as usize] += sign;
                }
                Item::Duration { day, dims, us } => {
                    let c = self.cells.entry((family, day, dims)).or_default();
                    c.buckets[bucket_of(us)] += sign;
                    c.sum_us += sign as i128 * us as i128;
                }
                Item::Overdue { dims, from, to } => {
                    let steps = self.overdue.entry((family, dims)).or_default();
                    bump(steps, from, sign);
                    if let Some(to) = to {
                        bump(steps, to + 1, -sign);
                    }
                }
            }
        }
    }
}

/// Adds `sign` times a step function to another.
pub fn add_steps(to: &mut BTreeMap<i32, i64>, from: &BTreeMap<i32, i64>, sign: i64) {
    for (&d, &v) in from {
        bump(to, d, sign * v);
    }
}

fn bump(steps: &mut BTreeMap<i32, i64>, day: i32, by: i64) {
    let v = steps.entry(day).or_insert(0);
    *v += by;
    if *v == 0 {
        steps.remove(&day);
    }
}
