//! `govstream normalize`: raw files in, canonical events and rejections out.

use crate::input::for_each_line;
use crate::sources::SourceOptions;
use anyhow::{Context, Result};
use govstream_normalize::{CaseEvent, CompiledSource, Deduplicator, Reason, Rejection, Seen};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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

/// Counts of one source's records.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SourceStats {
    /// Non-empty lines read.
    pub read: u64,
    /// Accepted records, first copies only.
    pub normalized: u64,
    /// Accepted copies of an already accepted record id, identical after normalization.
    pub duplicates: u64,
    /// Accepted copies of an already accepted record id whose content differs (first wins).
    pub conflicts: u64,
    /// Rejected lines by reason code.
    pub rejected: BTreeMap<&'static str, u64>,
    /// Well-formed records of cases that retention retired (`replay --retention-days`): in
    /// rejected.ndjson with reason `retired_case`, not in `rejected`.
    pub retired: u64,
}

impl SourceStats {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// One line of `rejected.ndjson`. Carries no field values, so no personal data.
#[derive(Serialize)]
struct RejectedLine<'a> {
    source: &'a str,
    line: u64,
    reason: &'static str,
    detail: &'a str,
}

/// Reads every source file in order and normalizes each line. `on_event` sees every accepted
/// record and says whether it is a first copy, a duplicate or a conflict (the `normalize`
/// command asks a [`Deduplicator`], `replay` the engine); `on_reject` sees every rejected line.
pub fn normalize_files(
    sources: &[(CompiledSource, PathBuf)],
    mut on_event: impl FnMut(CaseEvent) -> Result<Seen>,
    mut on_reject: impl FnMut(&str, u64, &Rejection) -> Result<()>,
) -> Result<Vec<(String, SourceStats)>> {
    let mut all = Vec::new();
    for (src, path) in sources {
        let mut st = SourceStats::default();
        for r in Reason::ALL {
            st.rejected.insert(r.code(), 0);
        }
        for_each_line(path, |line, bytes| {
            st.read += 1;
            match src.normalize(bytes) {
                Ok(ev) => match on_event(ev)? {
                    Seen::First => st.normalized += 1,
                    Seen::Duplicate => st.duplicates += 1,
                    Seen::Conflict => st.conflicts += 1,
                    Seen::Retired => {
                        st.retired += 1;
                        on_reject(src.name(), line, &retired_rejection())?;
                    }
                },
                Err(rej) => {
                    *st.rejected.entry(rej.reason.code()).or_default() += 1;
                    on_reject(src.name(), line, &rej)?;
                }
            }
            Ok(())
        })?;
        all.push((src.name().to_owned(), st));
    }
    Ok(all)
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

pub fn print_summary(stats: &[(String, SourceStats)]) {
    println!(
        "{:<12} {:>12} {:>12} {:>12} {:>10} {:>12}",
        "source", "read", "normalized", "duplicates", "conflicts", "rejected"
    );
    let mut total = SourceStats::default();
    for (name, s) in stats {
        println!(
            "{:<12} {:>12} {:>12} {:>12} {:>10} {:>12}",
            name,
            s.read,
            s.normalized,
            s.duplicates,
            s.conflicts,
            s.rejected_total()
        );
        total.read += s.read;
        total.normalized += s.normalized;
        total.duplicates += s.duplicates;
        total.conflicts += s.conflicts;
        for (r, n) in &s.rejected {
            *total.rejected.entry(r).or_default() += n;
        }
    }
    println!(
        "{:<12} {:>12} {:>12} {:>12} {:>10} {:>12}",
        "total",
        total.read,
        total.normalized,
        total.duplicates,
        total.conflicts,
        total.rejected_total()
    );
    let reasons: Vec<String> = total
        .rejected
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{r}={n}"))
        .collect();
    if !reasons.is_empty() {
        println!("rejected by reason: {}", reasons.join(" "));
    }
    let retired: u64 = stats.iter().map(|(_, s)| s.retired).sum();
    if retired > 0 {
        println!("records of retired cases (retired_case, in rejected.ndjson): {retired}");
    }
}

pub fn write_summary(dir: &Path, stats: &[(String, SourceStats)]) -> Result<()> {
    let mut w = create_out(dir, "summary.json")?;
    let map: BTreeMap<&str, &SourceStats> = stats.iter().map(|(n, s)| (n.as_str(), s)).collect();
    serde_json::to_writer_pretty(&mut w, &serde_json::json!({ "sources": map }))?;
    w.write_all(b"\n")?;
    w.flush()?;
    Ok(())
}

pub fn run(args: Args) -> Result<()> {
    let sources = args.sources.compile()?;
    let mut normalized = create_out(&args.out, "normalized.ndjson")?;
    let mut rejected = create_out(&args.out, "rejected.ndjson")?;
    let mut dedupe = Deduplicator::default();
    let stats = normalize_files(
        &sources,
        |ev| {
            let seen = dedupe.observe(&ev);
            if seen == Seen::First {
                serde_json::to_writer(&mut normalized, &ev)?;
                normalized.write_all(b"\n")?;
            }
            Ok(seen)
        },
        |src, line, rej| write_rejected(&mut rejected, src, line, rej),
    )?;
    normalized.flush()?;
    rejected.flush()?;
    write_summary(&args.out, &stats)?;
    print_summary(&stats);
    Ok(())
}
