//! `govstream run`: start the three stages, report progress, stop gracefully.

use crate::config::Config;
use crate::driver::StageError;
use crate::kafka::{check_clients, create_topics, probe, producer};
use crate::metrics::{LabelSet, Timeliness};
use crate::progress::Progress;
use crate::stages::{engine_stage, normalize_stage, totals_stage, StageEnv};
use govstream_harness::setup::{calendar, compile_source, pseudonym_key, SetupError};
use rdkafka::error::KafkaError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("kafka: {0}")]
    Connect(#[from] crate::kafka::ConnectError),
    #[error("{0}")]
    Stage(#[from] StageError),
    #[error("a stage stopped unexpectedly: {0}")]
    Join(String),
}

/// How a run ends and reports.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Stop once nothing was consumed or published for this long (tests, backfills, the demo);
    /// before the first record, after at least 60 s.
    pub idle_exit: Option<Duration>,
    /// After going idle, keep serving (metrics, health) this long before stopping.
    pub linger: Option<Duration>,
    /// Do not create topics (the mock cluster has no CreateTopics; its topics are made apart).
    pub skip_topic_creation: bool,
    /// A stable identity of this instance (e.g. a StatefulSet's pod name), kept across
    /// restarts; see [`crate::kafka::transactional_producer`].
    pub instance_id: Option<String>,
}

/// Runs until SIGINT/SIGTERM, `shutdown`, or idleness; then flushes, commits and returns.
pub async fn run(
    cfg: Config,
    opts: RunOptions,
    progress: Arc<Progress>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), RunError> {
    let key = pseudonym_key(cfg.pseudonym.key_file.as_deref())?;
    let mut sources = Vec::new();
    for s in &cfg.sources {
        sources.push(compile_source(&s.name, s.mapping.as_deref(), key.clone())?);
    }
    let catalogue = sources
        .iter()
        .any(|s: &govstream_normalize::CompiledSource| {
            s.case_kind() == govstream_proto::v1::CaseKind::Listing
        });
    let cal = calendar(
        &cfg.calendar.extra,
        &cfg.calendar.overlays,
        cfg.calendar.zone_name(),
    )?;
    let cal =
        govstream_harness::setup::with_source_calendars(cal, &sources.iter().collect::<Vec<_>>())?;
    check_clients(&cfg)?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| RunError::Join(format!("cannot listen for SIGTERM: {e}")))?;
    // The endpoint comes first, so that /readyz can say what is missing while brokers are away.
    let timeliness = Arc::new(Timeliness::default());
    crate::metrics::handle();
    // The alert rules compare promise-kept rates with this level (deploy/prometheus/alerts.yml).
    metrics::gauge!("govstream_promise_kept_alert_threshold_ratio")
        .set(cfg.metrics.promise_kept_alert_ratio);
    let server = if cfg.metrics.listen.is_empty() {
        None
    } else {
        let labels = LabelSet::new(&cfg.metrics.labels, cfg.metrics.max_series);
        let (listen, p2, t2) = (
            cfg.metrics.listen.clone(),
            progress.clone(),
            timeliness.clone(),
        );
        Some(tokio::spawn(async move {
            if let Err(e) = crate::http::serve(listen.clone(), p2, t2, labels).await {
                tracing::error!(address = %listen, error = %e, "metrics endpoint failed");
            }
        }))
    };
    if !wait_for_brokers(&cfg, &progress, &mut sigterm, &mut shutdown).await? {
        if let Some(s) = server {
            s.abort();
        }
        return Ok(());
    }
    if cfg.topics.create && !opts.skip_topic_creation {
        create_topics(&cfg).await?;
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let p = producer(&cfg, Some(progress.clone()))?;
    let zone = cal.zone().clone();
    let mut tasks = tokio::task::JoinSet::new();
    let normalize_producer = if cfg.kafka.transactions {
        let (c, id, pr) = (cfg.clone(), opts.instance_id.clone(), progress.clone());
        tokio::task::spawn_blocking(move || {
            crate::kafka::transactional_producer(&c, id.as_deref(), Some(pr))
        })
        .await
        .map_err(|e| RunError::Join(e.to_string()))??
    } else {
        p.clone()
    };
    // Each stage runs the driver on a thread of its own (blocking calls only).
    let env = |producer: &crate::kafka::StageProducer| StageEnv {
        cfg: cfg.clone(),
        producer: producer.clone(),
        progress: progress.clone(),
        instance_id: opts.instance_id.clone(),
        stop: stop_rx.clone(),
    };
    let e = env(&normalize_producer);
    spawn_stage(&mut tasks, "normalize", move || normalize_stage(e, sources))?;
    let (e, c) = (env(&p), cal.clone());
    spawn_stage(&mut tasks, "engine", move || engine_stage(e, c, catalogue))?;
    let (e, t) = (env(&p), timeliness.clone());
    spawn_stage(&mut tasks, "totals", move || totals_stage(e, zone, t))?;
    tracing::info!(brokers = %cfg.kafka.brokers, sources = cfg.sources.len(), "pipeline started");

    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut first_error = None;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => { tracing::info!("interrupted: stopping"); break; }
            _ = sigterm.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            _ = shutdown.changed() => { break; }
            r = tasks.join_next() => {
                // A stage returned before shutdown: an error; stop the others.
                match r {
                    Some(Ok(Err(e))) => first_error = Some(RunError::Stage(e)),
                    Some(Err(e)) => first_error = Some(RunError::Join(e.to_string())),
                    _ => {}
                }
                break;
            }
            _ = tick.tick() => {
                // Waiting for brokers that went away is not idleness: the work is still there.
                if progress.broker_problem().is_some() {
                    progress.touch();
                }
                if let Some(idle) = opts.idle_exit {
                    // Before the first record, allow for group joins and a dead member's session
                    // timeout (a restart after SIGKILL) before calling the pipeline idle.
                    let limit = if progress.active() { idle } else { idle.max(Duration::from_secs(60)) };
                    if progress.idle_ms() >= limit.as_millis() as u64 && progress.quiet() {
                        if let Some(l) = opts.linger {
                            tracing::info!(linger_s = l.as_secs_f64(), "idle: lingering before stopping");
                            tokio::select! {
                                _ = tokio::time::sleep(l) => {}
                                _ = tokio::signal::ctrl_c() => {}
                                _ = sigterm.recv() => {}
                            }
                        }
                        tracing::info!(idle_ms = progress.idle_ms(), "idle: stopping");
                        break;
                    }
                }
            }
        }
    }
    let _ = stop_tx.send(true);
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Err(e)) if first_error.is_none() => first_error = Some(RunError::Stage(e)),
            Err(e) if first_error.is_none() => first_error = Some(RunError::Join(e.to_string())),
            _ => {}
        }
    }
    if let Some(s) = server {
        s.abort();
    }
    tracing::info!("pipeline stopped");
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Runs a stage on a thread named `stage-<name>` (as `top -H` and profilers show it); its
/// result joins `tasks`.
fn spawn_stage(
    tasks: &mut tokio::task::JoinSet<Result<(), StageError>>,
    name: &'static str,
    stage: impl FnOnce() -> Result<(), StageError> + Send + 'static,
) -> Result<(), RunError> {
    let thread = std::thread::Builder::new()
        .name(format!("stage-{name}"))
        .spawn(stage)
        .map_err(|e| RunError::Join(format!("cannot start the {name} stage: {e}")))?;
    tasks.spawn_blocking(move || {
        thread
            .join()
            .unwrap_or_else(|_| Err(StageError::Thread(format!("the {name} stage panicked"))))
    });
    Ok(())
}

/// Connects to the brokers before the stages start. Unreachable brokers are logged (once per
/// change) and shown by `/readyz`, and the connection is retried until they answer or the run
/// is stopped (`Ok(false)`); a refusal (credentials, TLS) is an error: retrying cannot help.
async fn wait_for_brokers(
    cfg: &Config,
    progress: &Progress,
    sigterm: &mut tokio::signal::unix::Signal,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<bool, RunError> {
    const ATTEMPT: Duration = Duration::from_secs(5);
    loop {
        let c = cfg.clone();
        let r = tokio::task::spawn_blocking(move || probe(&c, ATTEMPT))
            .await
            .map_err(|e| RunError::Join(e.to_string()))?;
        match r {
            Ok(brokers) => {
                progress.set_broker_problem(None);
                tracing::info!(brokers, "kafka: connected");
                return Ok(true);
            }
            Err(e) if e.is_transient() => {
                if progress.set_broker_problem(Some(e.to_string())) {
                    tracing::error!(problem = %e, "kafka: waiting for the brokers");
                }
            }
            Err(e) => return Err(e.into()),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(false),
            _ = sigterm.recv() => return Ok(false),
            _ = shutdown.changed() => return Ok(false),
        }
    }
}
