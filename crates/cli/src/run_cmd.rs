//! `govstream run`: the long-running Kafka pipeline.

use crate::status::Status;
use anyhow::{Context, Result};
use govstream_pipeline::{Config, Progress, RunOptions};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Run the pipeline on Kafka: consume the raw topics of every configured source, normalize,
/// follow every case, publish aggregates; until SIGTERM/SIGINT (graceful: flushes and commits).
///
/// Example configurations: deploy/config/*.toml.
#[derive(clap::Args)]
pub struct Args {
    /// Configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Stop once nothing was consumed or published for this many seconds (backfills, tests).
    #[arg(long, value_name = "SECONDS")]
    pub idle_exit: Option<f64>,
    /// Print a progress line every this many seconds (0 = never).
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub status_every: f64,
    /// Only check the configuration and exit: sources, mapping files, calendar files, and the
    /// Kafka clients built from `[kafka]` (an unknown property or a feature missing from the
    /// build fails here). Prints the effective settings, every default filled in and secrets
    /// masked.
    #[arg(long)]
    pub check: bool,
    /// With --check: also connect to the brokers and fetch the cluster's metadata; says which
    /// broker failed and why (unreachable, authentication, TLS).
    #[arg(long, requires = "check")]
    pub connect: bool,
    /// A stable identity of this instance, kept across restarts (e.g. a StatefulSet's pod name;
    /// default: $GOVSTREAM_INSTANCE_ID). With `[kafka] transactions = true` a restarted instance
    /// then aborts the transaction its predecessor left open at once, instead of read-committed
    /// readers waiting for the broker's transaction timeout (60 s). Two running instances must
    /// never share one.
    #[arg(long, value_name = "ID")]
    pub instance_id: Option<String>,
    /// With --check --connect: how long to wait for the brokers.
    #[arg(
        long,
        default_value_t = 10.0,
        value_name = "SECONDS",
        requires = "connect"
    )]
    pub timeout: f64,
    /// When the run stops, write its accounting of every record to FILE, in the shape of
    /// `replay`'s summary.json (this instance's share, when several run).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let cfg = Config::load(&a.config)?;
    if a.check {
        use govstream_harness::setup;
        let key = setup::pseudonym_key(cfg.pseudonym.key_file.as_deref())?;
        let mut sources = Vec::new();
        for s in &cfg.sources {
            sources.push(setup::compile_source(
                &s.name,
                s.mapping.as_deref(),
                key.clone(),
            )?);
        }
        let cal = setup::calendar(
            &cfg.calendar.extra,
            &cfg.calendar.overlays,
            cfg.calendar.zone_name(),
        )?;
        setup::with_source_calendars(cal, &sources.iter().collect::<Vec<_>>())?;
        govstream_pipeline::kafka::check_clients(&cfg)?;
        println!("# effective configuration (defaults filled in, secrets masked)");
        println!("{}", cfg.effective_toml());
        if a.connect {
            let timeout = Duration::from_secs_f64(a.timeout.max(0.1));
            let n = govstream_pipeline::kafka::probe(&cfg, timeout)?;
            println!(
                "connected: {n} broker(s) in the cluster of {}",
                cfg.kafka.brokers
            );
        }
        println!(
            "{}: configuration is valid ({} sources, mappings, calendar and Kafka clients built)",
            a.config.display(),
            cfg.sources.len()
        );
        return Ok(());
    }
    let rt = crate::runtime()?;
    rt.block_on(async {
        let progress = Arc::new(Progress::default());
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let status = Status::spawn(progress.clone(), a.status_every, false);
        let opts = RunOptions {
            idle_exit: a.idle_exit.map(Duration::from_secs_f64),
            linger: None,
            skip_topic_creation: false,
            instance_id: a
                .instance_id
                .clone()
                .or_else(|| std::env::var("GOVSTREAM_INSTANCE_ID").ok())
                .filter(|i| !i.is_empty()),
        };
        let r = govstream_pipeline::run(cfg, opts, progress.clone(), rx).await;
        status.stop();
        Status::print_final(&progress);
        if let Some(path) = &a.summary {
            std::fs::write(path, progress.accounts().summary_json())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        r.map_err(anyhow::Error::from)
    })
}
