//! The service-item catalogue of the generated prefecture (spec: sources.md §4): one record
//! per version of each implementation's listing, as the province's list publishes them.
//!
//! Most implementations are listed from before the generated span starts; during the span a
//! share is revised the way the seed report describes the reform (fewer visits, shorter
//! promised limits, deeper online handling); a few are suspended or cancelled; about one in
//! ten is never listed (the seed's first problem: items handled outside the platform). bdc
//! items (`BDC-…`) are not in the list.

use crate::data::COUNTIES;
use crate::rng::Rng;
use crate::time::{days_from_civil, push_onenet, DAY, HOUR};
use crate::world::World;
use crate::GenConfig;

/// The catalogue's records (UTF-8 JSON lines, without terminators), in a deterministic order
/// by implementation and version. Depends on the seed, the start date and the span only.
pub fn catalogue(cfg: &GenConfig) -> Vec<Vec<u8>> {
    let world = World::new();
    let mut rng = Rng::new(cfg.seed ^ 0xca7a_109e_5eed_0001);
    let (y, m, d) = cfg.start_date;
    let first = days_from_civil(y, m, d);
    let span = i64::from(cfg.days.max(1));
    let mut out = Vec::new();
    for (county, c) in COUNTIES.iter().enumerate() {
        for (ix, it) in world.item_types.iter().enumerate() {
            if rng.chance(0.1) {
                continue;
            }
            let taskcode = world.taskcode(county, ix);
            let dept = &world.dept(county, it.dtype).code;
            let mut l = Version {
                version: 1,
                // Listed from before the span: up to a year ahead of it, at midnight as lists do.
                at: (first - 1 - rng.range(0, 365)) * DAY,
                status: 1,
                max_visits: if it.immediate {
                    *rng.pick(&[0, 0, 1])
                } else {
                    *rng.pick(&[0, 1, 1, 1, 2, 2, 3])
                },
                online_depth: *rng.pick(&[2, 3, 3, 4, 4]),
                legal_days: it.legal_days,
                promise_days: it.promise_days.max(1),
            };
            let area = if rng.chance(0.3) {
                format!("{}000000", c.code)
            } else {
                c.code.to_owned()
            };
            let write = |l: &Version, rng: &mut Rng, out: &mut Vec<Vec<u8>>| {
                out.push(record(taskcode, &area, dept, it.name, it.immediate, l, rng));
            };
            write(&l, &mut rng, &mut out);
            // The reform: a revision during the span for two items in five.
            if rng.chance(0.4) {
                l.version += 1;
                l.at =
                    (first + rng.range(0, span)) * DAY + if rng.chance(0.8) { 0 } else { 9 * HOUR };
                l.max_visits = l.max_visits.saturating_sub(1);
                l.online_depth = (l.online_depth + 1).min(4);
                l.promise_days = (l.promise_days * 7).div_ceil(10).max(1);
                write(&l, &mut rng, &mut out);
            }
            // Now and then suspended or cancelled.
            if rng.chance(0.03) {
                l.version += 1;
                l.at = (first + rng.range(0, span)) * DAY;
                l.status = *rng.pick(&[2, 3]);
                write(&l, &mut rng, &mut out);
            }
        }
    }
    out
}

struct Version {
    version: u32,
    /// Local seconds (Beijing time).
    at: i64,
    status: u32,
    max_visits: u32,
    online_depth: u32,
    legal_days: u32,
    promise_days: u32,
}

fn record(
    taskcode: &str,
    area: &str,
    dept: &str,
    name: &str,
    immediate: bool,
    l: &Version,
    rng: &mut Rng,
) -> Vec<u8> {
    let mut b = Vec::with_capacity(320);
    b.extend_from_slice(b"{\"TASKCODE\":\"");
    b.extend_from_slice(taskcode.as_bytes());
    // VERSION: a JSON integer, sometimes a string (both are allowed).
    if rng.chance(0.8) {
        b.extend_from_slice(format!("\",\"VERSION\":{}", l.version).as_bytes());
    } else {
        b.extend_from_slice(format!("\",\"VERSION\":\"{}\"", l.version).as_bytes());
    }
    b.extend_from_slice(b",\"UPDATETIME\":\"");
    push_onenet(&mut b, l.at);
    b.extend_from_slice(format!("\",\"STATUS\":\"{}\",\"TASKNAME\":\"", l.status).as_bytes());
    b.extend_from_slice(name.as_bytes());
    b.extend_from_slice(b"\",\"AREACODE\":\"");
    b.extend_from_slice(area.as_bytes());
    b.extend_from_slice(b"\",\"DEPTCODE\":\"");
    b.extend_from_slice(dept.as_bytes());
    if immediate {
        // Real lists write 即办 in the limits of an immediate item.
        b.extend_from_slice(
            "\",\"ITEMTYPE\":\"JB\",\"LEGALDAYS\":\"即办\",\"PROMISEDAYS\":\"即办\"".as_bytes(),
        );
    } else {
        b.extend_from_slice(
            format!(
                "\",\"ITEMTYPE\":\"CN\",\"LEGALDAYS\":\"{}\",\"PROMISEDAYS\":\"{}\"",
                l.legal_days.max(l.promise_days),
                l.promise_days
            )
            .as_bytes(),
        );
    }
    b.extend_from_slice(
        format!(
            ",\"MAXVISITS\":\"{}\",\"ONLINEDEPTH\":\"{}\"}}",
            l.max_visits, l.online_depth
        )
        .as_bytes(),
    );
    b
}
