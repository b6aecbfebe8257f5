//! `govstream run`: the long-running Kafka pipeline.

use crate::status::Status;
use anyhow::Result;
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
    /// Only check the configuration (sources, mapping files, calendar files) and exit.
    #[arg(long)]
    pub check: bool,
}

pub fn run(a: Args) -> Result<()> {
    let cfg = Config::load(&a.config)?;
    if a.check {
        use govstream_pipeline::setup;
        let key = setup::pseudonym_key(cfg.pseudonym.key_file.as_deref())?;
        for s in &cfg.sources {
            setup::compile_source(&s.name, s.mapping.as_deref(), key.clone())?;
        }
        setup::calendar(
            &cfg.calendar.extra,
            &cfg.calendar.overlays,
            &cfg.calendar.utc_offset,
        )?;
        println!(
            "{}: configuration is valid ({} sources, mappings and calendar loaded)",
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
        };
        let r = govstream_pipeline::run(cfg, opts, progress.clone(), rx).await;
        status.stop();
        Status::print_final(&progress);
        r.map_err(anyhow::Error::from)
    })
}
