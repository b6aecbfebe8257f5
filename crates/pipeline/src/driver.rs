//! The stage driver: the one loop that consumes, batches, flushes, waits for acknowledgements,
//! commits offsets, hands assignments and revocations to a stage, and marks it ready.
//!
//! A stage ([`Stage`]) only says what a record changes and what a flush publishes; it never
//! touches a consumer or a producer. The driver runs it against an [`Input`] (a Kafka consumer,
//! or an in-memory log in tests) and an [`Outbox`] (a Kafka producer lane, or the same
//! in-memory log), so each stage's logic — batching, revocation in the middle of a batch, a
//! failed flush, shutdown — is tested without a broker (`crate::memory`).
//!
//! One pass of the loop:
//!
//! ```text
//! poll → rebalances? → stage.assign / stage.revoke (seeks after assignment)
//!      → record?     → stage.record (outputs handed to the outbox at once)
//! batch full, flush interval over, or stopping:
//!      stage.flush → outbox.flush (every output acknowledged) → commit offsets
//!      → stage.acknowledged (e.g. checkpoints: nothing unpublished remains)
//! ```
//!
//! Records are drained from the input without waiting while the batch fills; the driver
//! blocks only when the input is empty (up to the flush deadline) and when a flush waits for
//! acknowledgements. Delivery guarantee: ARCHITECTURE.md, "Delivery guarantee".

use crate::progress::Progress;
use rdkafka::message::{BorrowedHeaders, Headers};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A partition of an input topic.
pub type TopicPartition = (String, i32);

/// Next offsets to read, per partition.
pub type Offsets = BTreeMap<TopicPartition, i64>;

/// Failures that stop a stage. Kafka's own errors keep their type; the others say what broke.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A produced record was not acknowledged: the batch is not published, offsets are not
    /// committed, and the stage stops (its input is read again by the next owner).
    #[error("{stage}: a produced record was not acknowledged: {error}")]
    Delivery { stage: &'static str, error: String },
    #[error("topic {topic} has {have} partitions; it needs at least {need} (as many as {of})")]
    TooFewPartitions {
        topic: String,
        have: i32,
        need: i32,
        of: String,
    },
    #[error("reading back {topic} made no progress for {seconds} s (partitions {partitions:?})")]
    ReadBackStalled {
        topic: String,
        seconds: u64,
        partitions: Vec<i32>,
    },
    #[error("a stage thread stopped: {0}")]
    Thread(String),
}

/// A consumed record, as a stage sees it.
pub struct InRecord<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub payload: &'a [u8],
    pub headers: Option<&'a BorrowedHeaders>,
}

impl<'a> InRecord<'a> {
    /// The value of header `name` (the first one), if any.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        let h = self.headers?;
        h.iter().find(|x| x.key == name).and_then(|x| x.value)
    }
}

/// Something an [`Input`] returns that can be viewed as a record.
pub trait AsRecord {
    fn record(&self) -> InRecord<'_>;
}

/// A record to publish. Borrowed: the outbox copies what it keeps.
pub struct OutRecord<'a> {
    pub topic: &'a str,
    /// `None`: the producer's partitioner decides from the key.
    pub partition: Option<i32>,
    pub key: &'a [u8],
    /// `None`: a tombstone.
    pub value: Option<&'a [u8]>,
    pub headers: &'a [(&'a str, &'a [u8])],
}

/// Where a stage's outputs go.
pub trait Outbox {
    /// Hands a record over (it is sent in the background).
    fn send(&mut self, rec: OutRecord<'_>) -> Result<(), StageError>;
    /// Waits until every record sent so far is acknowledged; the first failure if one was not.
    fn flush(&mut self) -> Result<(), StageError>;
}

/// The latest value (None: a tombstone) per (partition, key) of a compacted topic.
pub type LatestValues = BTreeMap<(i32, Vec<u8>), Option<Vec<u8>>>;

/// Reads compacted topics back (a totals partition's published aggregates, checkpoints).
pub trait Compacted {
    /// The latest value per key of `partitions` of `topic`, up to the end offsets taken now.
    fn latest(&self, topic: &str, partitions: &[i32]) -> Result<LatestValues, StageError>;
}

/// A rebalance, as the input saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rebalanced {
    Assigned(Vec<TopicPartition>),
    Revoked(Vec<TopicPartition>),
}

/// A stage's input: a consumer-group member.
pub trait Input {
    type Msg<'a>: AsRecord
    where
        Self: 'a;
    /// The next record, waiting at most `timeout`; `None` when none came.
    fn poll(&self, timeout: Duration) -> Option<Self::Msg<'_>>;
    /// Rebalances since the last call, in order. Called after every poll, before its record.
    fn rebalances(&self) -> Vec<Rebalanced>;
    /// Continues partition `tp` at `offset` (records before it may still arrive once).
    fn seek(&self, tp: &TopicPartition, offset: i64);
    /// The first offset partition `tp` still holds.
    fn low_watermark(&self, tp: &TopicPartition) -> i64;
    /// Commits the next offsets to read, after their outputs were acknowledged.
    fn commit(&self, offsets: &Offsets) -> Result<(), StageError>;
    /// Whether the member holds partitions.
    fn has_partitions(&self) -> bool;
    /// Whether every assigned partition has been read to its end, as far as the member knows
    /// without asking the broker (at a flush: is there a backlog?).
    fn caught_up(&self) -> bool;
}

/// The logic of one stage.
pub trait Stage {
    /// Name in logs and metric labels.
    const NAME: &'static str;
    /// Bit of the stage in `Progress::stages_ready`.
    const INDEX: u32;
    /// Whether the driver commits consumed offsets after each acknowledged flush. Stages that
    /// restore their state from elsewhere (checkpoints, compacted topics) do not.
    const COMMITS: bool;

    /// Partitions newly assigned (before any of their records). Returns where to continue
    /// reading partitions that do not start at their committed (or earliest) offset.
    fn assign(
        &mut self,
        parts: &[TopicPartition],
        input: &dyn Positions,
        out: &mut dyn Outbox,
    ) -> Result<Vec<(TopicPartition, i64)>, StageError>;
    /// Partitions given up: nothing may be published for them any more.
    fn revoke(&mut self, parts: &[TopicPartition], out: &mut dyn Outbox);
    /// One record (in offset order per partition).
    fn record(&mut self, rec: &InRecord<'_>, out: &mut dyn Outbox) -> Result<(), StageError>;
    /// End of a batch: publish what it changed.
    fn flush(&mut self, out: &mut dyn Outbox, end: BatchEnd) -> Result<(), StageError>;
    /// Everything sent so far is acknowledged and the offsets are committed.
    fn acknowledged(&mut self, _out: &mut dyn Outbox, _end: BatchEnd) -> Result<(), StageError> {
        Ok(())
    }
    /// After each flush: figures for the terminal and `/metrics`.
    fn report(&mut self, _progress: &Progress, _end: BatchEnd) {}
}

/// How a batch ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchEnd {
    /// The stage is stopping: this is its last flush.
    pub stopping: bool,
    /// Every assigned partition was read to its end: no backlog, for now.
    pub caught_up: bool,
}

/// What a stage may ask of its input at assignment.
pub trait Positions {
    fn low_watermark(&self, tp: &TopicPartition) -> i64;
}

impl<I: Input> Positions for I {
    fn low_watermark(&self, tp: &TopicPartition) -> i64 {
        Input::low_watermark(self, tp)
    }
}

/// How the driver batches.
#[derive(Clone, Copy, Debug)]
pub struct Batching {
    /// Most records between two flushes.
    pub max_batch: usize,
    /// Longest time between two flushes.
    pub flush_every: Duration,
}

/// Runs `stage` until `stop()` says so (then flushes, commits and returns) or an error.
pub fn drive<S: Stage, I: Input, O: Outbox>(
    stage: &mut S,
    input: &I,
    out: &mut O,
    batching: Batching,
    progress: &Progress,
    stop: &dyn Fn() -> bool,
) -> Result<(), StageError> {
    let mut offsets = Offsets::new();
    let mut batch = 0usize;
    let mut batch_started: Option<Instant> = None;
    let mut last_flush = Instant::now();
    loop {
        let stopping = stop();
        if !stopping {
            // A poll returns as soon as a record is there: waiting costs nothing while records
            // flow, and an empty input does not spin (up to the flush deadline, at most 100 ms
            // so that a stop is seen).
            let left = batching.flush_every.saturating_sub(last_flush.elapsed());
            let msg = input.poll(left.min(Duration::from_millis(100)));
            let changes = input.rebalances();
            for change in changes {
                rebalance(stage, input, out, &mut offsets, change, progress)?;
            }
            if let Some(m) = msg {
                let rec = m.record();
                stage.record(&rec, out)?;
                if S::COMMITS {
                    // A handful of partitions: a scan, and no allocation per record.
                    let next = rec.offset + 1;
                    match offsets
                        .iter_mut()
                        .find(|((t, p), _)| *p == rec.partition && t == rec.topic)
                    {
                        Some((_, o)) => *o = next,
                        None => {
                            offsets.insert((rec.topic.to_owned(), rec.partition), next);
                        }
                    }
                }
                batch += 1;
                batch_started.get_or_insert_with(Instant::now);
                if batch % 1024 == 1 {
                    progress.touch();
                }
                // The clock is read every 256 records only (it showed in profiles).
                if batch < batching.max_batch
                    && (batch % 256 != 0 || last_flush.elapsed() < batching.flush_every)
                {
                    continue;
                }
            } else if last_flush.elapsed() < batching.flush_every {
                continue;
            }
        }
        // Flush: publish, wait for acknowledgements, commit, then let the stage follow up.
        {
            let _busy = progress.busy();
            let flush_started = Instant::now();
            let end = BatchEnd {
                stopping,
                caught_up: input.caught_up(),
            };
            stage.flush(out, end)?;
            out.flush()?;
            if S::COMMITS && !offsets.is_empty() {
                input.commit(&offsets)?;
                offsets.clear();
            }
            stage.acknowledged(out, end)?;
            stage.report(progress, end);
            metrics::histogram!("govstream_stage_flush_seconds", "stage" => S::NAME)
                .record(flush_started.elapsed().as_secs_f64());
            metrics::counter!("govstream_stage_records_total", "stage" => S::NAME)
                .increment(batch as u64);
        }
        if let Some(t) = batch_started.take() {
            metrics::histogram!("govstream_processing_latency_seconds", "stage" => S::NAME)
                .record(t.elapsed().as_secs_f64());
            progress.touch();
        }
        // Ready once it holds partitions and keeps up (a batch smaller than the maximum: the
        // state of its partitions is restored and their backlog read).
        if input.has_partitions() && batch < batching.max_batch {
            progress.stage_ready(S::INDEX);
        }
        batch = 0;
        last_flush = Instant::now();
        if stopping {
            return Ok(());
        }
    }
}

fn rebalance<S: Stage, I: Input, O: Outbox>(
    stage: &mut S,
    input: &I,
    out: &mut O,
    offsets: &mut Offsets,
    change: Rebalanced,
    progress: &Progress,
) -> Result<(), StageError> {
    match change {
        Rebalanced::Assigned(parts) => {
            let _busy = progress.busy();
            for (tp, offset) in stage.assign(&parts, input, out)? {
                input.seek(&tp, offset);
            }
        }
        Rebalanced::Revoked(parts) => {
            // Revoked partitions are no longer ours to commit (their records are read again by
            // the next owner: at-least-once).
            for tp in &parts {
                offsets.remove(tp);
            }
            stage.revoke(&parts, out);
        }
    }
    Ok(())
}
