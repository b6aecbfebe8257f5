//! `govstream normalize`: raw files in, canonical events and rejections out.

use crate::input::for_each_record;
use crate::sources::SourceOptions;
use anyhow::{Context, Result};
use govstream_harness::{Accounts, Outcome, SourceCounts};
use govstream_normalize::{CaseEvent, CompiledSource, Deduplicator, Reason, Rejection, Seen};
use serde::Serialize;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;

/// Normalize upstream files into canonical events (proto3 JSON) and reasoned rejections.
///
/// Writes DIR/normalized.ndjson (one canonical event per line, first copy of each record id),
/// DIR/rejected.ndjson (one object per rejected line: source, line, reason, detail) and
/// DIR/summary.json, and prints a summary.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub sources: SourceOptions,
    /// Output directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// One line of `rejected.ndjson`. Carries no field values, so no personal data.
#[derive(Serialize)]
struct RejectedLine<'a> {
    source: &'a str,
    line: u64,
    reason: &'static str,
    detail: &'a str,
}

/// One record (a line, or a CSV row), normalized on the reader thread: its events are the
/// next `Ok(n)` of its batch's `events`.
struct Line {
    source: usize,
    line: u64,
    result: Result<u32, Rejection>,
}

/// Records normalized together, handed from the reader thread to the caller's.
#[derive(Default)]
struct Batch {
    lines: Vec<Line>,
    events: Vec<CaseEvent>,
}

/// Records per message between the reader thread and the caller's.
const BATCH: usize = 2048;

/// Reads every source file in order and normalizes each record, accounting for every one.
/// `on_event` sees every event of an accepted record and says what became of it (the
/// `normalize` command asks a [`Deduplicator`], `replay` the engine); `on_reject` sees every
/// record or event that goes to the dead-letter output (rejected, or, from `replay` with
/// retention, retired).
///
/// A CSV source's file starts with its header row, which binds the mapping's column names
/// (a column the mapping uses and the header lacks stops the command with its name).
///
/// Two threads: one reads and normalizes, the caller's thread counts and runs the callbacks,
/// in the files' order (batches over a bounded channel, so memory stays flat).
pub fn normalize_files(
    sources: &[(CompiledSource, PathBuf)],
    mut on_event: impl FnMut(&CaseEvent) -> Result<Outcome>,
    mut on_reject: impl FnMut(&str, u64, &Rejection) -> Result<()>,
) -> Result<Accounts> {
    let mut counts = vec![SourceCounts::default(); sources.len()];
    let total: u64 = sources
        .iter()
        .filter_map(|(_, p)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let read_bytes = &std::sync::atomic::AtomicU64::new(0);
    let mut progress = crate::progress::FileProgress::new("reading", total);
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(8);
    // Used batches go back to the reader, which frees the events it allocated (freeing them
    // on this thread costs glibc's allocator more than the second thread gains).
    let (back_tx, back_rx) = std::sync::mpsc::channel::<Batch>();
    std::thread::scope(|scope| -> Result<()> {
        let reader = std::thread::Builder::new()
            .name("normalize".into())
            .spawn_scoped(scope, move || -> Result<()> {
                let next = |back_rx: &std::sync::mpsc::Receiver<Batch>| {
                    let mut b = back_rx.try_recv().unwrap_or_default();
                    b.lines.clear();
                    b.events.clear();
                    b.lines.reserve(BATCH);
                    b
                };
                let mut batch = next(&back_rx);
                for (i, (src, path)) in sources.iter().enumerate() {
                    let csv = src.csv_separator();
                    let mut bound: Option<CompiledSource> = None;
                    for_each_record(path, csv, src.max_record_bytes(), |line, bytes| {
                        read_bytes.fetch_add(bytes.len() as u64 + 1, Relaxed);
                        let src = if csv.is_some() {
                            match &bound {
                                Some(b) => b,
                                None => {
                                    let b = src.bind_header(bytes).with_context(|| {
                                        format!("{}, line {line}", path.display())
                                    })?;
                                    bound = Some(b);
                                    return Ok(());
                                }
                            }
                        } else {
                            src
                        };
                        let before = batch.events.len();
                        let result = src
                            .normalize_into(bytes, &mut batch.events)
                            .map(|()| (batch.events.len() - before) as u32);
                        batch.lines.push(Line {
                            source: i,
                            line,
                            result,
                        });
                        if batch.lines.len() == BATCH {
                            let full = std::mem::replace(&mut batch, next(&back_rx));
                            // A closed channel: the consumer failed and says why.
                            if tx.send(full).is_err() {
                                anyhow::bail!("stopped");
                            }
                        }
                        Ok(())
                    })?;
                }
                let _ = tx.send(batch);
                Ok(())
            })
            .context("starting the reader thread")?;
        let consumed = (|| -> Result<()> {
            for batch in rx.iter() {
                progress.tick(read_bytes.load(Relaxed), batch.lines.len() as u64);
                let mut events = batch.events.iter();
                for Line {
                    source,
                    line,
                    result,
                } in &batch.lines
                {
                    let (source, line) = (*source, *line);
                    let name = sources[source].0.name();
                    let counts = &mut counts[source];
                    counts.read();
                    match result {
                        Ok(n) => {
                            counts.record(Outcome::Accepted);
                            for ev in events.by_ref().take(*n as usize) {
                                counts.record(Outcome::Normalized);
                                counts.saw_instant(ev.event_time_us);
                                let outcome = on_event(ev)?;
                                counts.record(outcome);
                                if outcome == Outcome::Retired {
                                    on_reject(name, line, &retired_rejection())?;
                                }
                            }
                        }
                        Err(rej) => {
                            counts.record(Outcome::Rejected(rej.reason));
                            on_reject(name, line, rej)?;
                        }
                    }
                }
                let _ = back_tx.send(batch);
            }
            Ok(())
        })();
        drop(rx);
        let read = reader
            .join()
            .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?;
        // The consumer's error first (a reader stopped by it only says "stopped").
        consumed?;
        read
    })?;
    progress.finish();
    let mut accounts = Accounts::default();
    for ((src, _), c) in sources.iter().zip(&counts) {
        accounts.source(src.name()).add(c);
    }
    Ok(accounts)
}

/// The dead-letter entry of a record whose case retention retired.
pub fn retired_rejection() -> Rejection {
    Rejection::new(
        Reason::RetiredCase,
        "its case is finished and was retired by retention (metrics.md rule 17); the record changes nothing",
    )
}

pub fn create_out(dir: &Path, name: &str) -> Result<BufWriter<std::fs::File>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let p = dir.join(name);
    let f = std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))?;
    Ok(BufWriter::with_capacity(1 << 20, f))
}

pub fn write_rejected(w: &mut impl Write, source: &str, line: u64, rej: &Rejection) -> Result<()> {
    serde_json::to_writer(
        &mut *w,
        &RejectedLine {
            source,
            line,
            reason: rej.reason.code(),
            detail: &rej.detail,
        },
    )?;
    w.write_all(b"\n")?;
    Ok(())
}

pub fn write_summary(dir: &Path, accounts: &Accounts) -> Result<()> {
    let mut w = create_out(dir, "summary.json")?;
    w.write_all(accounts.summary_json().as_bytes())?;
    w.flush()?;
    Ok(())
}

pub fn run(args: Args) -> Result<()> {
    let sources = args.sources.compile()?;
    let mut normalized = create_out(&args.out, "normalized.ndjson")?;
    let mut rejected = create_out(&args.out, "rejected.ndjson")?;
    let mut dedupe = Deduplicator::default();
    let accounts = normalize_files(
        &sources,
        |ev| {
            let seen = dedupe.observe(ev);
            if seen == Seen::First {
                serde_json::to_writer(&mut normalized, &ev)?;
                normalized.write_all(b"\n")?;
            }
            Ok(seen.into())
        },
        |src, line, rej| write_rejected(&mut rejected, src, line, rej),
    )?;
    normalized.flush()?;
    rejected.flush()?;
    write_summary(&args.out, &accounts)?;
    print!("{}", accounts.table());
    Ok(())
}
