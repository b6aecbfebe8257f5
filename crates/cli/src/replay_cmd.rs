//! `govstream replay`: the whole pure pipeline over files (normalize → engine), for backfills
//! and as the reference result the Kafka pipeline must equal.

use crate::calendar_opts::CalendarOptions;
use crate::normalize_cmd::{
    create_out, normalize_files, print_summary, write_rejected, write_summary,
};
use crate::sources::SourceOptions;
use anyhow::Context;
use anyhow::Result;
use govstream_engine::{canonical_json, Applied, Engine, Retention, Spilled};
use govstream_normalize::Seen;
use govstream_proto::v1 as pb;
use prost::Message;
use std::io::Write;
use std::io::{BufReader, BufWriter, Read};
use std::path::Path;
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
    // With retention, DAY cells older than the retention move to spill files as the
    // watermark advances (added back when the output is written), so memory follows the cases
    // that can still change, not the length of history.
    let mut spill = match args.retention_days {
        Some(days) => Some(Spill::create(&args.out, days)?),
        None => None,
    };
    let mut since_spill = 0u64;
    let stats = normalize_files(
        &sources,
        |ev| {
            let seen = match engine.apply(&ev) {
                Applied::New | Applied::Ignored => Seen::First,
                Applied::Duplicate => Seen::Duplicate,
                Applied::Conflict => Seen::Conflict,
                Applied::Retired => Seen::Retired,
            };
            since_spill += 1;
            if since_spill >= 100_000 {
                since_spill = 0;
                if let Some(s) = spill.as_mut() {
                    s.spill(&mut engine)?;
                }
            }
            Ok(seen)
        },
        |src, line, rej| write_rejected(&mut rejected, src, line, rej),
    )?;
    rejected.flush()?;
    let applied_in = started.elapsed();
    let cases = engine.cases();
    let mut out = create_out(&args.out, "aggregates.ndjson")?;
    let mut records = 0u64;
    let mut failed = None;
    let mut readers = match spill.take() {
        Some(s) => Some(s.finish()?),
        None => None,
    };
    let mut nothing = NoSpill;
    let source: &mut dyn Spilled = match readers.as_mut() {
        Some(r) => r,
        None => &mut nothing,
    };
    engine.for_each_record_with(source, |r| {
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
    if let Some(r) = readers {
        r.remove()?;
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

/// Spill files of DAY cells and overdue steps (one per family and kind, length-prefixed
/// `govstream.v1.CellState` / `OverdueState`, in day order), in the output directory while
/// `replay` runs; removed at the end.
struct Spill {
    days: i32,
    paths: Vec<PathBuf>,
    files: Vec<BufWriter<std::fs::File>>,
}

/// The file of (family, kind): application cells, hotline cells, application steps, hotline
/// steps.
fn spill_index(f: pb::Family, step: bool) -> usize {
    usize::from(f == pb::Family::Hotline) + if step { 2 } else { 0 }
}

fn write_framed(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(&(bytes.len() as u32).to_le_bytes())?;
    w.write_all(bytes)
}

impl Spill {
    fn create(dir: &Path, days: u32) -> Result<Spill> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let paths: Vec<PathBuf> = [
            ".spill-application-cells.bin",
            ".spill-hotline-cells.bin",
            ".spill-application-overdue.bin",
            ".spill-hotline-overdue.bin",
        ]
        .iter()
        .map(|n| dir.join(n))
        .collect();
        let mut files = Vec::new();
        for p in &paths {
            let f =
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
            files.push(BufWriter::with_capacity(1 << 20, f));
        }
        Ok(Spill {
            days: days as i32,
            paths,
            files,
        })
    }

    /// Moves the state of days more than the retention behind the watermark to the files.
    fn spill(&mut self, engine: &mut Engine) -> Result<()> {
        let Some(wm_day) = engine.watermark_day() else {
            return Ok(());
        };
        let (cells, steps) = engine.spill_before(wm_day.saturating_sub(self.days));
        for c in cells {
            write_framed(
                &mut self.files[spill_index(c.family(), false)],
                &c.encode_to_vec(),
            )?;
        }
        for st in steps {
            write_framed(
                &mut self.files[spill_index(st.family(), true)],
                &st.encode_to_vec(),
            )?;
        }
        Ok(())
    }

    fn finish(self) -> Result<SpillReaders> {
        let mut readers = Vec::new();
        for (mut w, p) in self.files.into_iter().zip(&self.paths) {
            w.flush()?;
            drop(w);
            let f = std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
            readers.push(BufReader::with_capacity(1 << 20, f));
        }
        Ok(SpillReaders {
            paths: self.paths,
            readers,
            failed: None,
        })
    }
}

struct SpillReaders {
    paths: Vec<PathBuf>,
    readers: Vec<BufReader<std::fs::File>>,
    /// The first read error (reading stops there and the command fails).
    failed: Option<anyhow::Error>,
}

impl SpillReaders {
    fn next<M: Message + Default>(&mut self, i: usize) -> Option<M> {
        if self.failed.is_some() {
            return None;
        }
        let r = &mut self.readers[i];
        let mut len = [0u8; 4];
        match r.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
            Err(e) => {
                self.failed = Some(e.into());
                return None;
            }
        }
        let mut buf = vec![0u8; u32::from_le_bytes(len) as usize];
        let read = r
            .read_exact(&mut buf)
            .map_err(anyhow::Error::from)
            .and_then(|()| M::decode(&buf[..]).map_err(anyhow::Error::from));
        match read {
            Ok(m) => Some(m),
            Err(e) => {
                self.failed = Some(e);
                None
            }
        }
    }

    fn remove(self) -> Result<()> {
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
        }
        match self.failed {
            Some(e) => Err(e.context("reading back the spill files")),
            None => Ok(()),
        }
    }
}

impl Spilled for SpillReaders {
    fn next_cell(&mut self, f: pb::Family) -> Option<pb::CellState> {
        self.next(spill_index(f, false))
    }
    fn next_step(&mut self, f: pb::Family) -> Option<pb::OverdueState> {
        self.next(spill_index(f, true))
    }
}

/// No spill files (replay without retention).
struct NoSpill;

impl Spilled for NoSpill {
    fn next_cell(&mut self, _: pb::Family) -> Option<pb::CellState> {
        None
    }
    fn next_step(&mut self, _: pb::Family) -> Option<pb::OverdueState> {
        None
    }
}
