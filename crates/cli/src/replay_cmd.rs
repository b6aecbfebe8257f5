//! `govstream replay`: the whole pure pipeline over files (normalize → engine), for backfills
//! and as the reference result the Kafka pipeline must equal.

use crate::calendar_opts::CalendarOptions;
use crate::normalize_cmd::{
    create_out, normalize_files, print_summary, write_rejected, write_summary,
};
use crate::sources::SourceOptions;
use anyhow::Result;
use govstream_engine::{canonical_json, Applied, Engine, Retention};
use govstream_normalize::Seen;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Replay upstream files through normalization and the timeliness engine.
///
/// Writes DIR/aggregates.ndjson (the final aggregates in the canonical JSON rendering, sorted
/// by family, granularity, window and dimensions), DIR/rejected.ndjson (as `normalize`) and
/// DIR/summary.json, and prints a summary.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub sources: SourceOptions,
    #[command(flatten)]
    pub calendar: CalendarOptions,
    /// Output directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Retire finished cases whose latest record is more than N days behind their source's
    /// watermark (metrics.md rule 17): memory stays bounded by the cases that can still
    /// change. A later record of a retired case changes nothing and goes to rejected.ndjson
    /// with reason `retired_case`. Default: keep every case (exact for any lateness).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub retention_days: Option<u32>,
}

pub fn run(args: Args) -> Result<()> {
    let sources = args.sources.compile()?;
    let cal = args.calendar.load()?;
    let mut engine = Engine::with_retention(cal.clone(), args.retention_days.map(Retention::days));
    let mut rejected = create_out(&args.out, "rejected.ndjson")?;
    let started = Instant::now();
    let stats = normalize_files(
        &sources,
        |ev| {
            Ok(match engine.apply(&ev) {
                Applied::New | Applied::Ignored => Seen::First,
                Applied::Duplicate => Seen::Duplicate,
                Applied::Conflict => Seen::Conflict,
                Applied::Retired => Seen::Retired,
            })
        },
        |src, line, rej| write_rejected(&mut rejected, src, line, rej),
    )?;
    rejected.flush()?;
    let applied_in = started.elapsed();
    let cases = engine.cases();
    let mut out = create_out(&args.out, "aggregates.ndjson")?;
    let mut records = 0u64;
    let mut failed = None;
    engine.for_each_record(|r| {
        if failed.is_none() {
            let line = canonical_json(&r);
            failed = out
                .write_all(line.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .err();
            records += 1;
        }
    });
    if let Some(e) = failed {
        return Err(e.into());
    }
    out.flush()?;
    let elapsed = started.elapsed();
    let rendered_in = elapsed - applied_in;
    write_summary(&args.out, &stats)?;
    print_summary(&stats);
    let events: u64 = stats.iter().map(|(_, s)| s.normalized).sum();
    println!(
        "engine: {} events applied, {} cases held, {} aggregate records, watermark {}",
        engine.stats().applied,
        cases,
        records,
        engine
            .watermark()
            .map(|w| govstream_calendar::civil::format_rfc3339(w, cal.offset_s()))
            .unwrap_or_else(|| "none".to_owned()),
    );
    if cal.fallback_lookups() > 0 {
        println!(
            "calendar: {} look-ups fell outside the calendar data and used Monday-Friday",
            cal.fallback_lookups()
        );
    }
    if let Some(days) = args.retention_days {
        println!(
            "retention: {days} days; {} cases retired, {} records of retired cases refused (retired_case), {} retired cases still recognised",
            engine.stats().retired_cases,
            engine.stats().retired_records,
            engine.retired_fingerprints(),
        );
    }
    println!(
        "took {:.2}s ({:.0} events/s): read+normalize+apply {:.2}s, render+write aggregates {:.2}s",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64().max(1e-9),
        applied_in.as_secs_f64(),
        rendered_in.as_secs_f64(),
    );
    Ok(())
}
