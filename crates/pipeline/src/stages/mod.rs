//! The three stages of `govstream run`, each a consumer-group member of its own group (so each
//! scales out by running more instances), each a small [`Stage`](crate::driver::Stage) run by
//! the one driver (`crate::driver`) on its own thread:
//!
//! 1. [`normalize`]: raw topics → normalized topic or dead-letter topic (commits offsets);
//! 2. [`engine`]: one engine per normalized partition → partials topic (checkpoints);
//! 3. [`totals`]: one sum per partials partition → aggregates topic and its JSON mirror.
//!
//! Re-deliveries and rebuilds only ever republish values already derived from the same input,
//! and the engine drops repeated record ids, so restarts, crashes and rebalances do not change
//! the final aggregates (see ARCHITECTURE.md, "Delivery guarantee").

pub mod engine;
pub mod normalize;
pub mod totals;

#[cfg(test)]
mod tests;

use crate::checkpoint::EngineCheckpoints;
use crate::config::Config;
use crate::driver::{drive, Batching, Stage, StageError};
use crate::kafka::{partition_count, StageProducer};
use crate::kafka_io::{KafkaCompacted, KafkaInput, KafkaOutbox};
use crate::metrics::Timeliness;
use crate::progress::Progress;
use govstream_calendar::Calendar;
use govstream_normalize::CompiledSource;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What every stage thread needs from `run`.
pub struct StageEnv {
    pub cfg: Config,
    pub producer: StageProducer,
    pub progress: Arc<Progress>,
    pub instance_id: Option<String>,
    pub stop: watch::Receiver<bool>,
}

impl StageEnv {
    fn batching(&self) -> Batching {
        Batching {
            max_batch: self.cfg.pipeline.max_batch,
            flush_every: Duration::from_millis(self.cfg.pipeline.flush_interval_ms),
        }
    }

    /// Drives `stage` over `topics` until stopped (blocking: run it on its own thread).
    fn run<S: Stage>(&self, stage: &mut S, topics: &[&str]) -> Result<(), StageError> {
        let input = KafkaInput::new(
            &self.cfg,
            S::NAME,
            topics,
            &self.producer,
            S::COMMITS && self.cfg.kafka.transactions,
            &self.progress,
            self.instance_id.as_deref(),
        )?;
        let mut out = KafkaOutbox::new(
            self.producer.clone(),
            S::INDEX as usize,
            &self.progress,
            S::NAME,
        );
        let stop = self.stop.clone();
        drive(
            stage,
            &input,
            &mut out,
            self.batching(),
            &self.progress,
            &move || *stop.borrow(),
        )
    }
}

/// Stage 1 (blocking).
pub fn normalize_stage(env: StageEnv, sources: Vec<CompiledSource>) -> Result<(), StageError> {
    let normalized = partition_count(&env.producer, &env.cfg.topics.normalized)?;
    let mut stage = normalize::NormalizeStage::new(&env.cfg, sources, normalized);
    let topics = normalize::NormalizeStage::topics(&env.cfg);
    env.run(&mut stage, &topics)
}

/// Stage 2 (blocking).
/// `catalogue`: a catalogue source is configured (applications without a listing count as
/// `unlisted`).
pub fn engine_stage(env: StageEnv, cal: Arc<Calendar>, catalogue: bool) -> Result<(), StageError> {
    let cfg = &env.cfg;
    let parts = partition_count(&env.producer, &cfg.topics.partials)?;
    let checkpoints = if cfg.checkpoint.enabled {
        Some(EngineCheckpoints::new(
            cfg,
            partition_count(&env.producer, &cfg.topics.checkpoints)?,
            Box::new(KafkaCompacted::new(cfg, "checkpoint-restore")),
            env.progress.clone(),
            catalogue,
        ))
    } else {
        None
    };
    let mut stage = engine::EngineStage::new(cfg, cal, parts, checkpoints, catalogue);
    env.run(&mut stage, &[&cfg.topics.normalized])
}

/// Stage 3 (blocking).
pub fn totals_stage(
    env: StageEnv,
    zone: govstream_calendar::Zone,
    timeliness: Arc<Timeliness>,
) -> Result<(), StageError> {
    let cfg = &env.cfg;
    // Totals partition q publishes to partition q of the aggregates topics, so that a restarted
    // stage can read back exactly what it owns.
    let parts = partition_count(&env.producer, &cfg.topics.partials)?;
    for t in std::iter::once(cfg.topics.aggregates.as_str()).chain(cfg.topics.json_mirror()) {
        let n = partition_count(&env.producer, t)?;
        if n < parts {
            return Err(StageError::TooFewPartitions {
                topic: t.to_owned(),
                have: n,
                need: parts,
                of: cfg.topics.partials.clone(),
            });
        }
    }
    let mut stage = totals::TotalsStage::new(
        cfg,
        zone,
        Box::new(KafkaCompacted::new(cfg, "totals-readback")),
        timeliness,
    );
    env.run(&mut stage, &[&cfg.topics.partials])
}
