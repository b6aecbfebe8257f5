//! The live summary on the terminal: progress, rates, and the current timeliness rates.

use govstream_engine::schema::{self, app, hot, item, Family};
use govstream_engine::COUNTERS;
use govstream_pipeline::Progress;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Status {
    handle: Option<tokio::task::JoinHandle<()>>,
}

/// A rate as a percentage, "-" without cases.
fn pct1(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", 100.0 * v))
}

/// A rate of `totals` (per family, metrics.md order) as a percentage, "-" without cases.
fn pct(totals: &[[i64; COUNTERS]; 2], family: Family, rate: &str) -> String {
    match schema::rate(family, rate).value(&totals[family.index()]) {
        None => "  -  ".to_owned(),
        Some(v) => format!("{:5.1}%", 100.0 * v),
    }
}

fn line(p: &Progress, elapsed: f64, last: &mut (u64, f64)) -> String {
    let sources = p.snapshot_sources();
    let consumed: u64 = sources.values().map(|s| s.read).sum();
    let normalized: u64 = sources.values().map(|s| s.normalized).sum();
    let rejected: u64 = sources
        .values()
        .map(|s| s.rejected.values().sum::<u64>())
        .sum();
    let dups: u64 = sources.values().map(|s| s.duplicates).sum();
    let rate = (consumed - last.0) as f64 / (elapsed - last.1).max(1e-3);
    *last = (consumed, elapsed);
    let t = *p.family_totals.lock().unwrap_or_else(|e| e.into_inner());
    let wm = p
        .watermark()
        .map(|w| govstream_calendar::civil::format_rfc3339(w, 8 * 3600)[..16].to_owned())
        .unwrap_or_else(|| "-".to_owned());
    format!(
        "{elapsed:6.1}s consumed {consumed:>9} ({rate:>8.0}/s) normalized {normalized:>9} rejected {rejected:>6} dup {dups:>6} | cases {:>8} aggregates {:>8} | wm {wm} | one-trip {} online {} on-time {} | hotline on-time {} satisfied {}",
        p.engine_cases.load(Relaxed),
        p.aggregates_published.load(Relaxed),
        pct(&t, Family::Application, "at_most_one_trip"),
        pct(&t, Family::Application, "zero_trip"),
        pct(&t, Family::Application, "on_time"),
        pct(&t, Family::Hotline, "closed_on_time"),
        pct(&t, Family::Hotline, "satisfaction"),
    )
}

impl Status {
    /// Prints a status line every `every_s` seconds (0 = never).
    pub fn spawn(p: Arc<Progress>, every_s: f64, _tty: bool) -> Status {
        if every_s <= 0.0 {
            return Status { handle: None };
        }
        let handle = tokio::spawn(async move {
            let start = Instant::now();
            let mut last = (0u64, 0.0f64);
            let mut tick = tokio::time::interval(Duration::from_secs_f64(every_s));
            tick.tick().await;
            loop {
                tick.tick().await;
                println!("{}", line(&p, start.elapsed().as_secs_f64(), &mut last));
            }
        });
        Status {
            handle: Some(handle),
        }
    }

    pub fn stop(self) {
        if let Some(h) = self.handle {
            h.abort();
        }
    }

    /// The final accounting, per source.
    pub fn print_final(p: &Progress) {
        print!("{}", p.accounts().table());
        let t = *p.family_totals.lock().unwrap_or_else(|e| e.into_inner());
        println!(
            "events applied {}, cases {}, aggregate updates published {}; applications completed {}: at most one trip {}, fully online {}, on time {}; hotline closed {}: on time {}",
            p.events_applied.load(Relaxed),
            p.engine_cases.load(Relaxed),
            p.aggregates_published.load(Relaxed),
            t[0][app::COMPLETED as usize],
            pct(&t, Family::Application, "at_most_one_trip").trim(),
            pct(&t, Family::Application, "zero_trip").trim(),
            pct(&t, Family::Application, "on_time").trim(),
            t[1][hot::CLOSED as usize],
            pct(&t, Family::Hotline, "closed_on_time").trim(),
        );
        let items = *p.items.lock().unwrap_or_else(|e| e.into_inner());
        if items[item::ITEMS as usize] > 0 || t[0][app::DECLARED_ONE_TRIP as usize] > 0 {
            let r = |f: Family, name: &str, c: &[i64; COUNTERS]| {
                let (n, d) = (schema::rate(f, name).parts)(c);
                format!("{} ({n}/{d})", pct1(schema::rate(f, name).value(c)))
            };
            println!(
                "service items listed {}: at most one trip {}, wholly online {} | promises kept by completed applications: at most one trip {}, no trip {}; unlisted {}",
                items[item::ITEMS as usize],
                r(Family::Item, "one_trip", &items),
                r(Family::Item, "fully_online", &items),
                r(Family::Application, "declared_one_trip_kept", &t[0]),
                r(Family::Application, "declared_zero_trip_kept", &t[0]),
                t[0][app::UNLISTED as usize],
            );
        }
        let restores = p
            .checkpoint_restores
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "engine records read {}; checkpoints written {} ({} bytes); partition restores: {}",
            p.engine_records.load(Relaxed),
            p.checkpoints_written.load(Relaxed),
            p.checkpoint_bytes.load(Relaxed),
            if restores.is_empty() {
                "none"
            } else {
                &restores
            },
        );
    }
}
