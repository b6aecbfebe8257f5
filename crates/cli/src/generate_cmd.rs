//! `govstream generate`: a deterministic, realistic workload of raw upstream records.

use anyhow::{bail, Context, Result};
use govstream_generate::{GenConfig, Generator, SourceKind};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Generate raw upstream records for the hotline, onenet and bdc sources.
///
/// Deterministic for a given seed and options. Streams: memory stays flat from a thousand to a
/// hundred million records. Writes DIR/hotline.ndjson, DIR/onenet.ndjson, DIR/bdc.txt
/// (GB18030) and DIR/catalogue.ndjson (the service-item listings, versioned), or with --stdout
/// one line per record prefixed by its source name and a tab (no catalogue).
/// The records contain realistic fake personal data, late, out-of-order, duplicated and a few
/// deliberately invalid records.
#[derive(clap::Args)]
pub struct Args {
    /// Approximate number of raw records to emit.
    #[arg(long, default_value_t = 100_000)]
    pub records: u64,
    /// Seed of the pseudo-random generator.
    #[arg(long, default_value_t = 2020)]
    pub seed: u64,
    /// First day of case starts, yyyy-MM-dd.
    #[arg(long, default_value = "2020-01-01")]
    pub start: String,
    /// Number of days over which cases start.
    #[arg(long, default_value_t = 366)]
    pub days: u32,
    /// Fraction of records emitted twice.
    #[arg(long, default_value_t = 0.02)]
    pub duplicate_rate: f64,
    /// Fraction of records delayed by hours to days.
    #[arg(long, default_value_t = 0.02)]
    pub late_rate: f64,
    /// Fraction of deliberately invalid records.
    #[arg(long, default_value_t = 0.001)]
    pub invalid_rate: f64,
    /// Output directory.
    #[arg(long, value_name = "DIR", required_unless_present = "stdout")]
    pub out: Option<PathBuf>,
    /// Write to standard output instead of files.
    #[arg(long, conflicts_with = "out")]
    pub stdout: bool,
}

pub fn config(a: &Args) -> Result<GenConfig> {
    let d = govstream_calendar::Day::parse_iso(&a.start)
        .with_context(|| format!("--start `{}` is not a yyyy-MM-dd date", a.start))?;
    for (name, v) in [
        ("--duplicate-rate", a.duplicate_rate),
        ("--late-rate", a.late_rate),
        ("--invalid-rate", a.invalid_rate),
    ] {
        if !(0.0..=1.0).contains(&v) {
            bail!("{name} must be between 0 and 1, got {v}");
        }
    }
    if a.days == 0 {
        bail!("--days must be at least 1");
    }
    let last = govstream_calendar::Day(d.0.saturating_add(a.days as i32));
    if d.year() < 2000 || last.year() > 2098 {
        bail!("--start and --days must keep case starts between 2000-01-01 and 2098-12-31 (the spec's accepted time range)");
    }
    Ok(GenConfig {
        seed: a.seed,
        records: a.records,
        start_date: d.ymd(),
        days: a.days,
        duplicate_rate: a.duplicate_rate,
        late_rate: a.late_rate,
        invalid_rate: a.invalid_rate,
        ..GenConfig::default()
    })
}

pub fn run(a: Args) -> Result<()> {
    let cfg = config(&a)?;
    let gen = Generator::new(cfg.clone());
    let mut counts = [0u64; 3];
    let idx = |s: &SourceKind| match s {
        SourceKind::Hotline => 0,
        SourceKind::Onenet => 1,
        SourceKind::Bdc => 2,
    };
    if a.stdout {
        let stdout = std::io::stdout();
        let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
        for r in gen {
            w.write_all(r.source.name().as_bytes())?;
            w.write_all(b"\t")?;
            w.write_all(&r.bytes)?;
            w.write_all(b"\n")?;
            counts[idx(&r.source)] += 1;
        }
        w.flush()?;
        return Ok(());
    }
    let dir = a.out.clone().unwrap_or_default();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut files = Vec::new();
    for name in ["hotline.ndjson", "onenet.ndjson", "bdc.txt"] {
        let p = dir.join(name);
        let f = std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))?;
        files.push(BufWriter::with_capacity(1 << 20, f));
    }
    // Progress by records (the target count stands for the input size).
    let mut progress = crate::progress::FileProgress::new("generating", cfg.records);
    let mut n = 0u64;
    for r in gen {
        let i = idx(&r.source);
        files[i].write_all(&r.bytes)?;
        files[i].write_all(b"\n")?;
        n += 1;
        if n % 4096 == 0 {
            progress.tick(n, 4096);
        }
        counts[i] += 1;
    }
    progress.finish();
    for f in &mut files {
        f.flush()?;
    }
    // The service-item catalogue the applications are measured against (not counted in
    // --records: a few thousand listings).
    let listings = govstream_generate::catalogue(&cfg);
    let p = dir.join("catalogue.ndjson");
    let mut w = BufWriter::new(
        std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))?,
    );
    for l in &listings {
        w.write_all(l)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    println!(
        "wrote {} hotline, {} onenet, {} bdc records and {} catalogue listings to {}",
        counts[0],
        counts[1],
        counts[2],
        listings.len(),
        dir.display()
    );
    Ok(())
}
