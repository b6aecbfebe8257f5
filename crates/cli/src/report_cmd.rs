//! `govstream report`: the timeliness report of a period, from final aggregates.

use anyhow::{bail, Context, Result};
use govstream_report::{figures, html, Lang, Period, Record};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

/// Write the timeliness report of a period: headline figures against the previous period,
/// counties and departments ranked worst first (with the counts behind every rate),
/// month-by-month trends, overdue cases over time, the duration distribution, and the
/// definitions used. One self-contained HTML page (inline SVG charts, no scripts, no network;
/// prints cleanly to PDF), or the same figures as JSON.
///
/// Input: final aggregates in the canonical JSON rendering, one per line — `replay`'s
/// DIR/aggregates.ndjson, or an aggregates topic read to its end (`govstream inspect --topic
/// ... --kind aggregates --final > aggregates.ndjson`). Only MONTH records are read: sums
/// over the period's months, snapshots (overdue cases, service items) at its end.
///
/// Example: govstream report --aggregates out/aggregates.ndjson --period 2020-07 --out report.html
#[derive(clap::Args)]
pub struct Args {
    /// Aggregates file (canonical JSON lines); `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub aggregates: PathBuf,
    /// The period: a month `2020-07`, a quarter `2020-Q3` or a year `2020` (local calendar).
    /// The previous period of the same length is shown for comparison.
    #[arg(long, value_name = "PERIOD")]
    pub period: String,
    /// Output file; standard output when absent.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// `html` (the page) or `json` (the figures alone, for other tools).
    #[arg(long, default_value = "html", value_name = "FORMAT")]
    pub format: String,
    /// Language of the page: `zh` (Chinese, the default) or `en`.
    #[arg(long, default_value = "zh", value_name = "LANG")]
    pub lang: String,
    /// The calendar the aggregates were computed with (as given to `replay` or `run`): the
    /// report names it under its definitions.
    #[command(flatten)]
    pub calendar: crate::calendar_opts::CalendarOptions,
}

pub fn run(a: Args) -> Result<()> {
    let Some(period) = Period::parse(&a.period) else {
        bail!(
            "--period `{}` is not a month (2020-07), a quarter (2020-Q3) or a year (2020)",
            a.period
        );
    };
    let Some(lang) = Lang::parse(&a.lang) else {
        bail!("--lang `{}`: use zh or en", a.lang);
    };
    if a.format != "html" && a.format != "json" {
        bail!("--format `{}`: use html or json", a.format);
    }
    let input: Box<dyn Read> = if a.aggregates.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&a.aggregates)
                .with_context(|| format!("opening {}", a.aggregates.display()))?,
        )
    };
    let mut records = Vec::new();
    for (i, line) in BufReader::with_capacity(1 << 20, input).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", a.aggregates.display()))?;
        // DAY records are not needed: skip them without parsing.
        if line.is_empty() || line.contains(r#""granularity":"DAY""#) {
            continue;
        }
        records.push(Record::parse(&line, i as u64 + 1)?);
    }
    let mut f = figures(&records, period);
    let (national_years, overlays) = a.calendar.load()?.describe();
    f.calendar = govstream_report::CalendarNote {
        national_years,
        overlays,
        utc_offset: a.calendar.zone_name().to_owned(),
    };
    let text = if a.format == "json" {
        let mut s = serde_json::to_string_pretty(&f)?;
        s.push('\n');
        s
    } else {
        html(&f, lang)
    };
    match &a.out {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
            eprintln!("report of {} written to {}", f.period, p.display());
        }
        None => {
            use std::io::Write;
            match std::io::stdout().lock().write_all(text.as_bytes()) {
                // A reader that stopped early (`| head`) is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                r => r.context("writing to standard output")?,
            }
        }
    }
    Ok(())
}
