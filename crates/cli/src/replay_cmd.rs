//! `govstream replay`: the whole pure pipeline over files (normalize → engine), for backfills
//! and as the reference result the Kafka pipeline must equal.

use crate::calendar_opts::CalendarOptions;
use crate::normalize_cmd::{create_out, normalize_files, write_rejected, write_summary};
use crate::sources::SourceOptions;
use anyhow::Context;
use anyhow::Result;
use govstream_engine::render::write_json;
use govstream_engine::{Engine, RecordPart, Retention, Spilled};
use govstream_proto::v1 as pb;
use prost::Message;
use std::io::BufWriter;
use std::io::Write;
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
    let cal = govstream_harness::setup::with_source_calendars(
        args.calendar.load()?,
        &sources.iter().map(|(s, _)| s).collect::<Vec<_>>(),
    )?;
    let mut engine = Engine::with_retention(cal.clone(), args.retention_days.map(Retention::days));
    if sources
        .iter()
        .any(|(s, _)| s.case_kind() == govstream_proto::v1::CaseKind::Listing)
    {
        // A catalogue source, even an empty file: applications without a listing count as
        // `unlisted`.
        engine = engine.with_catalogue();
    }
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
    let accounts = normalize_files(
        &sources,
        |ev| {
            let outcome = engine.apply(ev).into();
            since_spill += 1;
            if since_spill >= 100_000 {
                since_spill = 0;
                if let Some(s) = spill.as_mut() {
                    s.spill(&mut engine)?;
                }
                if std::env::var_os("GOVSTREAM_DEBUG_MEMORY").is_some() {
                    let (c, k, st) = engine.store_sizes();
                    eprintln!(
                        "memory: rss {:?} MiB, cases {}, fingerprints {}, cells {c}, overdue keys {k}, steps {st}",
                        rss_mib(),
                        engine.cases(),
                        engine.retired_fingerprints()
                    );
                }
            }
            Ok(outcome)
        },
        |src, line, rej| write_rejected(&mut rejected, src, line, rej),
    )?;
    rejected.flush()?;
    let applied_in = started.elapsed();
    let peak_applying = peak_rss_mib();
    let cases = engine.cases();
    let mut out = create_out(&args.out, "aggregates.ndjson")?;
    let records = match spill.take() {
        // Without spill files the four parts of the output are rendered on two threads.
        None => write_parallel(&engine, &mut out)?,
        Some(s) => {
            let mut readers = s.finish()?;
            let mut records = 0u64;
            let mut failed = None;
            let mut buf: Vec<u8> = Vec::with_capacity(2 << 20);
            engine.for_each_row_with(&mut readers, |row| {
                if failed.is_none() {
                    write_json(row, &mut buf);
                    buf.push(b'\n');
                    records += 1;
                    if buf.len() >= CHUNK {
                        failed = out.write_all(&buf).err();
                        buf.clear();
                    }
                }
            });
            if failed.is_none() {
                failed = out.write_all(&buf).err();
            }
            if let Some(e) = failed {
                return Err(e.into());
            }
            readers.remove()?;
            records
        }
    };
    out.flush()?;
    let elapsed = started.elapsed();
    let rendered_in = elapsed - applied_in;
    write_summary(&args.out, &accounts)?;
    print!("{}", accounts.table());
    let events = accounts.total().events;
    println!(
        "engine: {} events applied, {} cases held, {} aggregate records, watermark {}",
        engine.stats().applied,
        cases,
        records,
        engine
            .watermark()
            .map(|w| govstream_calendar::civil::format_rfc3339(w, cal.zone().offset_at(w)))
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
    // The process ends here: the OS takes the engine's memory back at once, which freeing
    // millions of cases one by one would not.
    std::mem::forget(engine);
    if let (Some(a), Some(b)) = (peak_applying, peak_rss_mib()) {
        println!("memory: peak {b} MiB ({a} MiB while reading and applying)");
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

/// Bytes of aggregate lines handed to the file at a time.
const CHUNK: usize = 1 << 20;

/// Writes the engine's final records (canonical JSON lines, straight from its rows: no protobuf
/// records, no per-line strings) to `out`, rendering DAY parts on one thread and MONTH parts
/// on another (each part is a walk over the days), and writing on this one, in the order of
/// `RecordPart::ALL`. Returns the
/// number of records.
fn write_parallel(engine: &Engine, out: &mut impl Write) -> Result<u64> {
    use std::sync::mpsc;
    // A part's lines come in chunks; `None` ends the part.
    type Chunk = Option<(Vec<u8>, u64)>;
    let render = |parts: [RecordPart; 3], tx: mpsc::SyncSender<Chunk>| {
        for part in parts {
            let mut buf = Vec::with_capacity(CHUNK + 4096);
            let mut n = 0u64;
            let mut open = true;
            engine.for_each_row_of(part, |row| {
                if !open {
                    return;
                }
                write_json(row, &mut buf);
                buf.push(b'\n');
                n += 1;
                if buf.len() >= CHUNK {
                    let full = std::mem::replace(&mut buf, Vec::with_capacity(CHUNK + 4096));
                    // A closed channel: the writer failed and says why.
                    open = tx.send(Some((full, std::mem::take(&mut n)))).is_ok();
                }
            });
            if !open || tx.send(Some((buf, n))).is_err() || tx.send(None).is_err() {
                return;
            }
        }
    };
    let [app_day, app_month, hot_day, hot_month, item_day, item_month] = RecordPart::ALL;
    // DAY parts are most of the output: a short queue keeps memory flat. MONTH parts wait
    // in their queue while the DAY part before them is written (a few % of the output).
    let (day_tx, day_rx) = mpsc::sync_channel::<Chunk>(4);
    let (month_tx, month_rx) = mpsc::sync_channel::<Chunk>(1 << 16);
    std::thread::scope(|scope| -> Result<u64> {
        std::thread::Builder::new()
            .name("render-day".into())
            .spawn_scoped(scope, move || render([app_day, hot_day, item_day], day_tx))?;
        std::thread::Builder::new()
            .name("render-month".into())
            .spawn_scoped(scope, move || {
                render([app_month, hot_month, item_month], month_tx)
            })?;
        let mut records = 0u64;
        for rx in [&day_rx, &month_rx, &day_rx, &month_rx, &day_rx, &month_rx] {
            loop {
                match rx.recv() {
                    Ok(Some((bytes, n))) => {
                        out.write_all(&bytes)?;
                        records += n;
                    }
                    Ok(None) => break,
                    Err(_) => anyhow::bail!("a rendering thread stopped early"),
                }
            }
        }
        Ok(records)
    })
}

/// Spill files of DAY cells and overdue steps, one per family and kind, in the output
/// directory while `replay` runs (removed at the end). Each spill appends a *run* — framed
/// (u32 length + bytes) `govstream.v1.CellState` / `OverdueState` messages in day order — and
/// reading back merges the runs by day: sources replayed one after another revisit old days.
struct Spill {
    days: i32,
    paths: Vec<PathBuf>,
    files: Vec<BufWriter<std::fs::File>>,
    /// Per file: (start, end) byte offsets of its runs.
    runs: Vec<Vec<(u64, u64)>>,
    /// Per file: bytes written.
    written: Vec<u64>,
}

/// The file of (family, kind): application cells, hotline cells, application steps, hotline
/// steps.
fn spill_index(f: pb::Family, step: bool) -> usize {
    usize::from(f == pb::Family::Hotline) + if step { 2 } else { 0 }
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
            // Days kept in memory: the retention, at most 30 (older days rarely change, and a
            // change is kept as a delta until the next spill).
            days: days.min(30) as i32,
            paths,
            files,
            runs: vec![Vec::new(); 4],
            written: vec![0; 4],
        })
    }

    fn write_run<M: Message>(&mut self, i: usize, items: impl Iterator<Item = M>) -> Result<()> {
        let start = self.written[i];
        for m in items {
            let bytes = m.encode_to_vec();
            self.files[i].write_all(&(bytes.len() as u32).to_le_bytes())?;
            self.files[i].write_all(&bytes)?;
            self.written[i] += 4 + bytes.len() as u64;
        }
        if self.written[i] > start {
            self.runs[i].push((start, self.written[i]));
        }
        Ok(())
    }

    /// Moves the state of days more than `days` behind the watermark to the files.
    fn spill(&mut self, engine: &mut Engine) -> Result<()> {
        let Some(wm_day) = engine.watermark_day() else {
            return Ok(());
        };
        let (cells, steps) = engine.spill_before(wm_day.saturating_sub(self.days));
        for f in [pb::Family::Application, pb::Family::Hotline] {
            let c = cells.iter().filter(|c| c.family() == f).cloned();
            self.write_run(spill_index(f, false), c)?;
            let st = steps.iter().filter(|s| s.family() == f).cloned();
            self.write_run(spill_index(f, true), st)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<SpillReaders> {
        let mut merged = Vec::new();
        for ((mut w, p), runs) in self.files.into_iter().zip(&self.paths).zip(self.runs) {
            w.flush()?;
            drop(w);
            let f = std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
            let file = std::sync::Arc::new(f);
            let runs = runs
                .into_iter()
                .map(|(start, end)| Run {
                    file: file.clone(),
                    start,
                    pos: start,
                    end,
                    buf: Vec::new(),
                    at: 0,
                })
                .collect();
            merged.push(Merge {
                runs,
                heads: Vec::new(),
                started: false,
            });
        }
        Ok(SpillReaders {
            paths: self.paths,
            merged,
            failed: None,
        })
    }
}

/// One run of a spill file, read with positioned reads through a small buffer (many runs share
/// one file handle).
struct Run {
    file: std::sync::Arc<std::fs::File>,
    start: u64,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    at: usize,
}

impl Run {
    /// Makes `n` bytes available at `at` (false at the end of the run).
    fn fill(&mut self, n: usize) -> std::io::Result<bool> {
        use std::os::unix::fs::FileExt;
        if self.buf.len() - self.at >= n {
            return Ok(true);
        }
        self.buf.drain(..self.at);
        self.at = 0;
        while self.buf.len() < n {
            let want = (n - self.buf.len())
                .max(64 * 1024)
                .min((self.end - self.pos) as usize);
            if want == 0 {
                return Ok(false);
            }
            let old = self.buf.len();
            self.buf.resize(old + want, 0);
            self.file.read_exact_at(&mut self.buf[old..], self.pos)?;
            self.pos += want as u64;
        }
        Ok(true)
    }

    fn next_frame(&mut self) -> std::io::Result<Option<&[u8]>> {
        if !self.fill(4)? {
            return Ok(None);
        }
        let len = u32::from_le_bytes([
            self.buf[self.at],
            self.buf[self.at + 1],
            self.buf[self.at + 2],
            self.buf[self.at + 3],
        ]) as usize;
        self.at += 4;
        if !self.fill(len)? {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let frame = &self.buf[self.at..self.at + len];
        self.at += len;
        Ok(Some(frame))
    }
}

/// The runs of one spill file merged by day: `heads[i]` is run i's next message and its day.
struct Merge {
    runs: Vec<Run>,
    heads: Vec<Option<(i32, Vec<u8>)>>,
    started: bool,
}

impl Merge {
    fn rewind(&mut self) {
        for r in &mut self.runs {
            r.pos = r.start;
            r.buf.clear();
            r.at = 0;
        }
        self.started = false;
    }

    fn advance(&mut self, i: usize, day: fn(&[u8]) -> Option<i32>) -> Result<()> {
        self.heads[i] = match self.runs[i].next_frame()? {
            Some(f) => Some((
                day(f).ok_or_else(|| anyhow::anyhow!("a spilled record does not decode"))?,
                f.to_vec(),
            )),
            None => None,
        };
        Ok(())
    }

    /// The next message in day order (ties: the earlier run first).
    fn next(&mut self, day: fn(&[u8]) -> Option<i32>) -> Result<Option<Vec<u8>>> {
        if !self.started {
            self.started = true;
            self.heads = vec![None; self.runs.len()];
            for i in 0..self.runs.len() {
                self.advance(i, day)?;
            }
        }
        let Some(i) = (0..self.heads.len())
            .filter(|&i| self.heads[i].is_some())
            .min_by_key(|&i| self.heads[i].as_ref().map(|h| h.0))
        else {
            return Ok(None);
        };
        let bytes = self.heads[i].take().map(|h| h.1);
        self.advance(i, day)?;
        Ok(bytes)
    }
}

struct SpillReaders {
    paths: Vec<PathBuf>,
    merged: Vec<Merge>,
    /// The first read error (reading stops there and the command fails).
    failed: Option<anyhow::Error>,
}

impl SpillReaders {
    fn next<M: Message + Default>(&mut self, i: usize, day: fn(&[u8]) -> Option<i32>) -> Option<M> {
        if self.failed.is_some() {
            return None;
        }
        let read = self.merged[i].next(day).and_then(|b| match b {
            Some(b) => Ok(Some(M::decode(&b[..])?)),
            None => Ok(None),
        });
        match read {
            Ok(m) => m,
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

fn cell_day(b: &[u8]) -> Option<i32> {
    pb::CellState::decode(b).ok().map(|c| c.day)
}

fn step_day(b: &[u8]) -> Option<i32> {
    pb::OverdueState::decode(b).ok()?.days.first().copied()
}

impl Spilled for SpillReaders {
    fn next_cell(&mut self, f: pb::Family) -> Option<pb::CellState> {
        self.next(spill_index(f, false), cell_day)
    }
    fn next_step(&mut self, f: pb::Family) -> Option<pb::OverdueState> {
        self.next(spill_index(f, true), step_day)
    }
    fn rewind(&mut self, f: pb::Family) {
        self.merged[spill_index(f, false)].rewind();
        self.merged[spill_index(f, true)].rewind();
    }
}

/// The process's peak resident memory so far (Linux `VmHWM`), MiB.
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

fn rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}
