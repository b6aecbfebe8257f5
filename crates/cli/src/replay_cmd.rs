//! `govstream replay`: the whole pure pipeline over files (normalize → engine), for backfills
//! and as the reference result the Kafka pipeline must equal.

use crate::calendar_opts::CalendarOptions;
use crate::normalize_cmd::{
    create_out, normalize_files, print_summary, write_rejected, write_summary,
};
use crate::sources::SourceOptions;
use anyhow::Result;
use govstream_engine::{canonical_json, Applied, Engine};
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
}

pub fn run(args: Args) -> Result<()> {
    let sources = args.sources.compile()?;
    let cal = args.calendar.load()?;
    let mut engine = Engine::new(cal.clone());
    let mut rejected = create_out(&args.out, "rejected.ndjson")?;
    let started = Instant::now();
    let stats = normalize_files(
        &sources,
        |ev| {
            Ok(match engine.apply(&ev) {
                Applied::New | Applied::Ignored => Seen::First,
                Applied::Duplicate => Seen::Duplicate,
                Applied::Conflict => Seen::Conflict,
            })
        },
        |src, line, rej| write_rejected(&mut rejected, src, line, rej),
    )?;
    rejected.flush()?;
    let applied_in = started.elapsed();
    let records = engine.records();
    let rendered_in = started.elapsed() - applied_in;
    let mut out = create_out(&args.out, "aggregates.ndjson")?;
    for r in &records {
        out.write_all(canonical_json(r).as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    let elapsed = started.elapsed();
    write_summary(&args.out, &stats)?;
    print_summary(&stats);
    let events: u64 = stats.iter().map(|(_, s)| s.normalized).sum();
    println!(
        "engine: {} events applied, {} cases, {} aggregate records, watermark {}",
        engine.stats().applied,
        engine.cases(),
        records.len(),
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
    println!(
        "took {:.2}s ({:.0} events/s): read+normalize+apply {:.2}s, aggregate records {:.2}s, write {:.2}s",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64().max(1e-9),
        applied_in.as_secs_f64(),
        rendered_in.as_secs_f64(),
        (elapsed - applied_in - rendered_in).as_secs_f64(),
    );
    Ok(())
}
