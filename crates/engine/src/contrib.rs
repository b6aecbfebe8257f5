//! What a case contributes to the aggregates, computed from its facts alone
//! (metrics.md "Aggregate counters" and "Precise rules").
//!
//! The engine retracts a case's old contribution and adds the new one whenever a record of the
//! case arrives, so late and out-of-order records are folded in exactly.

use crate::case::{Application, OrderEvent, WorkOrder};
use crate::catalogue::{Catalogue, Declared};
use crate::intern::Sym;
use crate::schema::{app, hot, Dims};
use govstream_calendar::civil::MICROS_PER_DAY;
use govstream_calendar::{Calendar, LimitUnit, RegionCalendar};

/// Histogram bucket upper bounds in working days (the last is +Inf).
pub const BUCKET_BOUNDS: [f64; 9] = [0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 60.0, 120.0];
pub const BUCKETS: usize = 10;

/// The (non-cumulative) bucket of a duration in microseconds of working time.
pub fn bucket_of(d_us: i64) -> usize {
    const HALF: i64 = MICROS_PER_DAY / 2;
    let bounds_us = [
        HALF,
        MICROS_PER_DAY,
        2 * MICROS_PER_DAY,
        3 * MICROS_PER_DAY,
        5 * MICROS_PER_DAY,
        10 * MICROS_PER_DAY,
        20 * MICROS_PER_DAY,
        60 * MICROS_PER_DAY,
        120 * MICROS_PER_DAY,
    ];
    bounds_us.iter().position(|&b| d_us <= b).unwrap_or(9)
}

/// One piece of a case's contribution.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// +1 on `counter` in the DAY window `day`.
    Count { day: i32, dims: Dims, counter: u8 },
    /// A duration observation (working time, microseconds) in the DAY window `day`.
    Duration { day: i32, dims: Dims, us: i64 },
    /// Overdue at the end of every day in `from..=to` (`to` = None: open-ended).
    Overdue {
        dims: Dims,
        from: i32,
        to: Option<i32>,
    },
}

/// The last local day `d` whose end is strictly before `t` (i.e. `start(d + 1) < t`).
fn last_day_ending_before(cal: &RegionCalendar, t: i64) -> i32 {
    let d = cal.local_day(t);
    if cal.zone().day_start(d) == t {
        d.0 - 2
    } else {
        d.0 - 1
    }
}

fn day(cal: &RegionCalendar, t: i64) -> i32 {
    cal.local_day(t).0
}

/// Suspension intervals of an application: closed intervals and the start of a never-resumed
/// one (precise rule 4).
fn suspensions(steps: &[(i64, bool)]) -> (Vec<(i64, i64)>, Option<i64>) {
    let mut s: Vec<(i64, bool)> = steps.to_vec();
    // SUSPEND before RESUME at equal instants.
    s.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut open = None;
    let mut closed = Vec::new();
    for (t, suspend) in s {
        match (suspend, open) {
            (true, None) => open = Some(t),
            (false, Some(o)) => {
                closed.push((o, t));
                open = None;
            }
            _ => {}
        }
    }
    (closed, open)
}

/// The resolved dimensions of an application: per component, the acceptance's, else the
/// submission's, else another record's.
pub fn application_dims(a: &Application) -> Dims {
    let accept = a.accept.as_ref().map(|p| p.a.dims.parts());
    let submit = a.submit.as_ref().map(|p| p.a.dims.parts());
    let other = a.more().other.as_ref().map(|p| p.a.parts());
    let mut out = [Sym::EMPTY; 4];
    for (i, o) in out.iter_mut().enumerate() {
        let candidates = [
            accept.map(|d| d[i]),
            submit.map(|d| d[i]),
            other.map(|d| d[i]),
        ];
        *o = candidates
            .into_iter()
            .flatten()
            .find(|s| *s != Sym::EMPTY)
            .unwrap_or(Sym::EMPTY);
    }
    Dims::from_parts(out)
}

/// Pushes +1 on a counter in the DAY window of an instant, for one case's dimensions.
fn counter(rc: &RegionCalendar, dims: Dims) -> impl Fn(&mut Vec<Item>, i64, u8) + '_ {
    move |out, t, counter| {
        out.push(Item::Count {
            day: day(rc, t),
            dims,
            counter,
        })
    }
}

/// An application's contribution; `dims` are its resolved dimensions ([`application_dims`]) and
/// `region` the string of `dims.region`, which selects the calendar.
pub fn application(
    a: &Application,
    cal: &Calendar,
    catalogue: &Catalogue,
    dims: Dims,
    region: &str,
    out: &mut Vec<Item>,
) {
    let rc = cal.for_region(region);
    let count = counter(rc, dims);
    if let Some(s) = &a.submit {
        count(out, s.at, app::SUBMITTED);
    }
    let more = a.more();
    if let Some(w) = more.withdrawn {
        count(out, w, app::WITHDRAWN);
    }
    for &(t, bad) in &more.reviews {
        count(out, t, app::REVIEWS);
        if bad {
            count(out, t, app::BAD_REVIEWS);
        }
    }
    let Some(acc) = &a.accept else {
        return;
    };
    count(out, acc.at, app::ACCEPTED);
    let (closed, open) = suspensions(&more.steps);
    let completed_at = a.complete.as_ref().map(|c| c.at);
    let mut extra_days: u64 = 0;
    let mut suspended_us: i64 = 0;
    for &(s, r) in &closed {
        let wt = rc.working_time(s, r).max(0);
        suspended_us += wt;
        extra_days += (wt as u64).div_ceil(MICROS_PER_DAY as u64);
    }
    // A SUSPEND never resumed lasts until completion; without completion the deadline is never
    // reached.
    let deadline = match (open, completed_at) {
        (Some(_), None) => None,
        (Some(s), Some(c)) => {
            let wt = rc.working_time(s, c).max(0);
            suspended_us += wt;
            extra_days += (wt as u64).div_ceil(MICROS_PER_DAY as u64);
            Some(())
        }
        (None, _) => Some(()),
    }
    .map(|()| {
        let unit = if acc.a.natural_days {
            LimitUnit::NaturalDays
        } else {
            LimitUnit::WorkingDays
        };
        let n = (acc.a.limit as u64 + extra_days).min(1_000_000) as u32;
        rc.deadline(acc.at, n, unit)
    });
    if let (Some(c), Some(done)) = (&a.complete, deadline) {
        let t = c.at;
        count(out, t, app::COMPLETED);
        if t <= done {
            count(out, t, app::ON_TIME);
        }
        let visits = a.submit.as_ref().is_some_and(|s| s.a.visit) as u32
            + more.onsite_steps
            + c.a as u32
            + more.collected as u32;
        if visits <= 1 {
            count(out, t, app::AT_MOST_ONE_TRIP);
        }
        if visits == 0 {
            count(out, t, app::ZERO_TRIP);
        }
        // Against the listing in force at acceptance (rules 14-15).
        match catalogue.declared(dims.subject, acc.at) {
            None => {}
            Some(Declared::Unlisted) => count(out, t, app::UNLISTED),
            Some(Declared::Listed { max_visits }) => {
                if max_visits <= 1 {
                    count(out, t, app::DECLARED_ONE_TRIP);
                    if visits <= 1 {
                        count(out, t, app::DECLARED_ONE_TRIP_KEPT);
                    }
                }
                if max_visits == 0 {
                    count(out, t, app::DECLARED_ZERO_TRIP);
                    if visits == 0 {
                        count(out, t, app::DECLARED_ZERO_TRIP_KEPT);
                    }
                }
            }
        }
        let d = (rc.working_time(acc.at, t) - suspended_us).max(0);
        out.push(Item::Duration {
            day: day(rc, t),
            dims,
            us: d,
        });
    }
    if let Some(dl) = deadline {
        // Overdue at the end E of day d when deadline < E, until the first of completion,
        // withdrawal and a never-resumed suspension (precise rule 2).
        let from = day(rc, dl);
        let end = [completed_at, more.withdrawn, open]
            .into_iter()
            .flatten()
            .min();
        let to = end.map(|e| last_day_ending_before(rc, e));
        let from = from.max(day(rc, acc.at));
        if to.is_none_or(|to| to >= from) {
            out.push(Item::Overdue { dims, from, to });
        }
    }
}

/// A work order's contribution; `region` is the string of `dims.region`, which selects the calendar.
pub fn work_order(o: &WorkOrder, cal: &Calendar, dims: Dims, region: &str, out: &mut Vec<Item>) {
    let rc = cal.for_region(region);
    let count = counter(rc, dims);
    if let Some(r) = &o.register {
        count(out, r.at, hot::RECEIVED);
    }
    let more = o.more();
    if let (Some(a), None) = (more.answer, &o.first_dispatch) {
        count(out, a, hot::ANSWERED_DIRECTLY);
    }
    for &(t, e) in &more.events {
        match e {
            OrderEvent::Return => count(out, t, hot::RETURNED),
            OrderEvent::Urge => count(out, t, hot::URGED),
            OrderEvent::Reopen => count(out, t, hot::REOPENED),
            OrderEvent::CallbackSatisfied => {
                count(out, t, hot::CALLBACKS);
                count(out, t, hot::SATISFIED);
            }
            OrderEvent::CallbackUnreachable => {
                count(out, t, hot::CALLBACKS);
                count(out, t, hot::UNREACHABLE);
            }
            OrderEvent::CallbackDissatisfied | OrderEvent::CallbackOther => {
                count(out, t, hot::CALLBACKS)
            }
        }
    }
    let closed_at = o.closed_at();
    let deadline = o.first_dispatch.as_ref().and_then(|d| match d.a.due {
        Some(crate::case::NO_DEADLINE) => None,
        // An explicit due instant is the deadline; extensions move it by working days.
        Some(due) if more.extra_days == 0 => Some(due),
        Some(due) => Some(rc.deadline(due, more.extra_days.min(1_000_000), LimitUnit::WorkingDays)),
        None => {
            let n = (d.a.limit as u64 + more.extra_days as u64).min(1_000_000) as u32;
            Some(rc.deadline(d.at, n, LimitUnit::WorkingDays))
        }
    });
    if let Some(d) = &o.first_dispatch {
        count(out, d.at, hot::DISPATCHED);
        if let Some(&s) = more.signs.iter().filter(|&&s| s >= d.at).min() {
            count(out, s, hot::SIGNED);
            if s - d.at <= d.a.sign_limit_hours as i64 * 3_600_000_000 {
                count(out, s, hot::SIGNED_ON_TIME);
            }
        }
    }
    if let Some(c) = closed_at {
        count(out, c, hot::CLOSED);
        if deadline.is_none_or(|dl| c <= dl) {
            count(out, c, hot::CLOSED_ON_TIME);
        }
        if let Some(r) = &o.register {
            out.push(Item::Duration {
                day: day(rc, c),
                dims,
                us: rc.working_time(r.at, c).max(0),
            });
        }
    }
    if let (Some(dl), Some(d)) = (deadline, &o.first_dispatch) {
        let from = day(rc, dl).max(day(rc, d.at));
        let to = closed_at.map(|c| last_day_ending_before(rc, c));
        if to.is_none_or(|to| to >= from) {
            out.push(Item::Overdue { dims, from, to });
        }
    }
}
