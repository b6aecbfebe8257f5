//! The Kafka side of the stage driver: a consumer-group member as an [`Input`], a producer lane
//! as an [`Outbox`], compacted topics read back as [`Compacted`].

use crate::config::Config;
use crate::driver::{
    AsRecord, Compacted, InRecord, Input, LatestValues, Offsets, OutRecord, Outbox, Rebalanced,
    StageError, TopicPartition,
};
use crate::kafka::{consumer_config, StageProducer};
use crate::progress::Progress;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The consumer's context: forwards rebalances to the driver over a channel, reports broker
/// problems and consumer lag.
pub struct StageContext {
    rebalances: mpsc::Sender<Rebalanced>,
    progress: Arc<Progress>,
    /// The stage's producer: flushed when partitions are revoked, so that everything this
    /// instance wrote for them lands before the next owner writes (partition order).
    producer: StageProducer,
    /// Positions the stage moved to itself (a restored checkpoint's offset): librdkafka's
    /// `app_offset` only follows delivered messages, so after a seek past the end it would
    /// show lag that is not there.
    positions: Mutex<HashMap<TopicPartition, i64>>,
    /// Partitions assigned to this member now: statistics can still list a partition for a
    /// while after it was revoked, and its stale lag must not count (it would keep
    /// `--idle-exit` from ever seeing the pipeline quiet).
    owned: Mutex<HashSet<TopicPartition>>,
}

fn partitions(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl ClientContext for StageContext {
    /// librdkafka's global errors (all brokers down, authentication, TLS): logged once per
    /// change and shown by `/readyz` until a broker answers again.
    fn error(&self, error: KafkaError, reason: &str) {
        crate::kafka::report_broker_error(&self.progress, &error, reason);
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        crate::kafka::log_librdkafka(level, fac, message);
    }

    /// librdkafka statistics (every `statistics.interval.ms`): consumer lag per partition.
    fn stats(&self, stats: rdkafka::Statistics) {
        crate::kafka::clear_broker_problem(&self.progress, &stats);
        let mut lag = self.progress.lag.lock().unwrap_or_else(|e| e.into_inner());
        let own = self.positions.lock().unwrap_or_else(|e| e.into_inner());
        let owned = self.owned.lock().unwrap_or_else(|e| e.into_inner());
        for (topic, t) in &stats.topics {
            for (id, p) in &t.partitions {
                if *id < 0 || p.fetch_state == "none" || !owned.contains(&(topic.clone(), *id)) {
                    continue;
                }
                // From what this consumer has read (engine and totals never commit, and offsets
                // committed through a transaction do not reach the consumer's own figures):
                // the last stable offset (read-committed) minus the next offset to deliver.
                let end = if p.ls_offset >= 0 {
                    p.ls_offset
                } else {
                    p.hi_offset
                };
                let mine = own.get(&(topic.clone(), *id)).copied().unwrap_or(-1);
                let app_offset = p.app_offset.max(mine);
                let l = if app_offset >= 0 && end >= 0 {
                    (end - app_offset).max(0)
                } else {
                    p.consumer_lag
                };
                if l >= 0 {
                    lag.insert((topic.clone(), *id), l);
                }
            }
        }
    }
}

impl ConsumerContext for StageContext {
    fn pre_rebalance(&self, _c: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        match r {
            Rebalance::Revoke(tpl) => {
                self.progress.rebalances_revoke.fetch_add(1, Relaxed);
                if let Err(e) = self.producer.flush(Duration::from_secs(30)) {
                    tracing::warn!(error = %e, "flushing before giving up partitions");
                }
                let parts = partitions(tpl);
                let mut lag = self.progress.lag.lock().unwrap_or_else(|e| e.into_inner());
                let mut own = self.positions.lock().unwrap_or_else(|e| e.into_inner());
                let mut owned = self.owned.lock().unwrap_or_else(|e| e.into_inner());
                for tp in &parts {
                    owned.remove(tp);
                    own.remove(tp);
                    // Series of partitions no longer owned disappear.
                    lag.remove(tp);
                }
                let _ = self.rebalances.send(Rebalanced::Revoked(parts));
            }
            Rebalance::Assign(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }

    fn post_rebalance(&self, _c: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = r {
            self.progress.rebalances_assign.fetch_add(1, Relaxed);
            let parts = partitions(tpl);
            self.owned
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(parts.iter().cloned());
            let _ = self.rebalances.send(Rebalanced::Assigned(parts));
        }
    }
}

/// A stage's consumer-group member.
pub struct KafkaInput {
    consumer: BaseConsumer<StageContext>,
    rebalances: mpsc::Receiver<Rebalanced>,
    /// The normalize stage's transactional producer: offsets are committed in its transaction.
    transactional: Option<StageProducer>,
    progress: Arc<Progress>,
    stage: &'static str,
}

impl KafkaInput {
    /// A member of `<group_prefix>-<stage>` reading `topics`. With `transactional`, commits go
    /// through `producer`'s open transaction (the normalize stage with `[kafka] transactions`).
    pub fn new(
        cfg: &Config,
        stage: &'static str,
        topics: &[&str],
        producer: &StageProducer,
        transactional: bool,
        progress: &Arc<Progress>,
        instance_id: Option<&str>,
    ) -> Result<KafkaInput, KafkaError> {
        let (tx, rx) = mpsc::channel();
        let consumer: BaseConsumer<StageContext> = consumer_config(cfg, stage, instance_id)
            .create_with_context(StageContext {
                rebalances: tx,
                progress: progress.clone(),
                producer: producer.clone(),
                positions: Mutex::new(HashMap::new()),
                owned: Mutex::new(HashSet::new()),
            })?;
        consumer.subscribe(topics)?;
        Ok(KafkaInput {
            consumer,
            rebalances: rx,
            transactional: transactional.then(|| producer.clone()),
            progress: progress.clone(),
            stage,
        })
    }

    /// Commits the open transaction with the consumed offsets, then opens the next one.
    fn commit_transaction(
        &self,
        producer: &StageProducer,
        tpl: &TopicPartitionList,
    ) -> Result<(), KafkaError> {
        let meta = self
            .consumer
            .group_metadata()
            .ok_or(KafkaError::MetadataFetch(RDKafkaErrorCode::InvalidGroupId))?;
        let t = Duration::from_secs(30);
        producer.send_offsets_to_transaction(tpl, &meta, t)?;
        producer.commit_transaction(t)?;
        producer.begin_transaction()
    }

    /// Aborts the open transaction and moves the consumer back to its committed offsets, so
    /// that the aborted records are produced again in the next transaction.
    fn abort_and_rewind(&self, producer: &StageProducer) -> Result<(), KafkaError> {
        let t = Duration::from_secs(30);
        producer.abort_transaction(t)?;
        let committed = self.consumer.committed(t)?;
        for e in committed.elements() {
            let offset = match e.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            self.consumer.seek(e.topic(), e.partition(), offset, t)?;
        }
        producer.begin_transaction()
    }
}

impl AsRecord for BorrowedMessage<'_> {
    fn record(&self) -> InRecord<'_> {
        InRecord {
            topic: self.topic(),
            partition: self.partition(),
            offset: self.offset(),
            payload: self.payload().unwrap_or(&[]),
            headers: self.headers(),
        }
    }
}

impl Input for KafkaInput {
    type Msg<'a> = BorrowedMessage<'a>;

    fn poll(&self, timeout: Duration) -> Option<BorrowedMessage<'_>> {
        match self.consumer.poll(timeout) {
            Some(Ok(m)) => Some(m),
            Some(Err(e)) => {
                tracing::warn!(stage = self.stage, error = %e, "consume error");
                None
            }
            None => None,
        }
    }

    fn rebalances(&self) -> Vec<Rebalanced> {
        self.rebalances.try_iter().collect()
    }

    fn seek(&self, tp: &TopicPartition, offset: i64) {
        self.consumer
            .context()
            .positions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tp.clone(), offset);
        if let Err(e) =
            self.consumer
                .seek(&tp.0, tp.1, Offset::Offset(offset), Duration::from_secs(10))
        {
            tracing::warn!(stage = self.stage, topic = %tp.0, partition = tp.1, error = %e, "seek failed; the stage skips the records it already holds instead");
        }
    }

    fn low_watermark(&self, tp: &TopicPartition) -> i64 {
        self.consumer
            .fetch_watermarks(&tp.0, tp.1, Duration::from_secs(30))
            .map_or(0, |(low, _)| low)
    }

    fn commit(&self, offsets: &Offsets) -> Result<(), StageError> {
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in offsets {
            tpl.add_partition_offset(t, *p, Offset::Offset(*o))?;
        }
        let result = match &self.transactional {
            Some(producer) => self.commit_transaction(producer, &tpl),
            None => self
                .consumer
                .commit(&tpl, rdkafka::consumer::CommitMode::Sync),
        };
        match result {
            Ok(()) => {
                self.progress.commits_ok.fetch_add(1, Relaxed);
            }
            Err(e) => {
                self.progress.commits_failed.fetch_add(1, Relaxed);
                match &self.transactional {
                    Some(producer) => {
                        tracing::warn!(stage = self.stage, error = %e, "transaction failed; aborting and re-reading from the committed offsets");
                        self.abort_and_rewind(producer)?;
                    }
                    None => {
                        tracing::warn!(stage = self.stage, error = %e, "commit failed; records will be redelivered")
                    }
                }
            }
        }
        Ok(())
    }

    fn has_partitions(&self) -> bool {
        self.consumer.assignment().is_ok_and(|tpl| tpl.count() > 0)
    }

    /// From the consumer's positions and the high watermarks of its last fetch responses
    /// (cached by librdkafka; no request to the broker). A partition not fetched yet counts as
    /// not caught up. On a topic written in transactions the high watermark lies past the last
    /// commit marker, so a reader never looks caught up there; only the totals stage asks,
    /// and the partials topic is not written in transactions.
    fn caught_up(&self) -> bool {
        let Ok(positions) = self.consumer.position() else {
            return false;
        };
        positions.elements().iter().all(|e| {
            let Some((low, high)) = cached_watermarks(&self.consumer, e.topic(), e.partition())
            else {
                return false;
            };
            match e.offset() {
                Offset::Offset(at) => at >= high,
                // Nothing read yet: caught up only if there is nothing to read.
                _ => high <= low,
            }
        })
    }
}

/// librdkafka's cached low and high watermarks of a partition (`rd_kafka_get_watermark_offsets`:
/// from the last fetch response, no network), or `None` while they are not known.
fn cached_watermarks(
    c: &BaseConsumer<StageContext>,
    topic: &str,
    partition: i32,
) -> Option<(i64, i64)> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: a live client handle, a NUL-terminated topic name and two valid out-pointers;
    // the call only reads librdkafka's cached partition state.
    let err = unsafe {
        rdkafka_sys::rd_kafka_get_watermark_offsets(
            c.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka_sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some((low.max(0), high))
}

/// A stage's lane of a producer.
pub struct KafkaOutbox {
    producer: StageProducer,
    lane: usize,
    progress: Arc<Progress>,
    stage: &'static str,
}

impl KafkaOutbox {
    pub fn new(
        producer: StageProducer,
        lane: usize,
        progress: &Arc<Progress>,
        stage: &'static str,
    ) -> KafkaOutbox {
        KafkaOutbox {
            producer,
            lane,
            progress: progress.clone(),
            stage,
        }
    }
}

impl Outbox for KafkaOutbox {
    fn send(&mut self, rec: OutRecord<'_>) -> Result<(), StageError> {
        let mut r = BaseRecord::with_opaque_to(rec.topic, self.lane).key(rec.key);
        if let Some(v) = rec.value {
            r = r.payload(v);
        }
        if let Some(p) = rec.partition {
            r = r.partition(p);
        }
        if !rec.headers.is_empty() {
            let mut h = OwnedHeaders::new_with_capacity(rec.headers.len());
            for (key, value) in rec.headers {
                h = h.insert(Header {
                    key,
                    value: Some(*value),
                });
            }
            r = r.headers(h);
        }
        let lane = &self.producer.context().lanes[self.lane];
        loop {
            lane.sent();
            match self.producer.send(r) {
                Ok(()) => return Ok(()),
                Err((e, back)) => {
                    // Not handed over: not in flight. (A failure of the callback cannot be
                    // the last one in flight: this one was counted before.)
                    lane.unsent();
                    match e {
                        KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => {
                            // The producer's thread drains the queue; give it a moment.
                            std::thread::sleep(Duration::from_millis(1));
                            r = back;
                        }
                        e => return Err(e.into()),
                    }
                }
            }
        }
    }

    fn flush(&mut self) -> Result<(), StageError> {
        let progress = &self.progress;
        self.producer.context().lanes[self.lane]
            .wait(|| progress.touch())
            .map_err(|e| StageError::Delivery {
                stage: self.stage,
                error: e.to_string(),
            })
    }
}

/// Compacted topics read with a fresh, group-less consumer.
pub struct KafkaCompacted {
    cfg: Config,
    purpose: &'static str,
}

impl KafkaCompacted {
    pub fn new(cfg: &Config, purpose: &'static str) -> KafkaCompacted {
        KafkaCompacted {
            cfg: cfg.clone(),
            purpose,
        }
    }
}

impl Compacted for KafkaCompacted {
    fn latest(&self, topic: &str, partitions: &[i32]) -> Result<LatestValues, StageError> {
        read_to_end(&self.cfg, topic, partitions, self.purpose)
    }
}

/// The latest value per key of `partitions` of `topic`, read to the high watermarks taken now.
pub(crate) fn read_to_end(
    cfg: &Config,
    topic: &str,
    partitions: &[i32],
    purpose: &str,
) -> Result<LatestValues, StageError> {
    const STALL: Duration = Duration::from_secs(60);
    let c: BaseConsumer = crate::kafka::client_config(cfg)
        .set("group.id", format!("{}-{purpose}", cfg.kafka.group_prefix))
        .set("enable.auto.commit", "false")
        .create()?;
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for q in partitions {
        let (low, high) = c.fetch_watermarks(topic, *q, Duration::from_secs(30))?;
        if high > low {
            ends.insert(*q, high);
            tpl.add_partition_offset(topic, *q, Offset::Beginning)?;
        }
    }
    c.assign(&tpl)?;
    drop(tpl);
    let mut latest = BTreeMap::new();
    let mut progress_at = Instant::now();
    while !ends.is_empty() {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                progress_at = Instant::now();
                if ends
                    .get(&m.partition())
                    .is_some_and(|end| m.offset() + 1 >= *end)
                {
                    ends.remove(&m.partition());
                }
                latest.insert(
                    (m.partition(), m.key().unwrap_or_default().to_vec()),
                    m.payload().map(<[u8]>::to_vec),
                );
            }
            Some(Err(e)) => tracing::warn!(topic, error = %e, "reading back a compacted topic"),
            None => {
                // Compaction may have removed the last records: the position tells.
                if let Ok(pos) = c.position() {
                    for e in pos.elements() {
                        if let (Offset::Offset(o), Some(end)) =
                            (e.offset(), ends.get(&e.partition()))
                        {
                            if o >= *end {
                                ends.remove(&e.partition());
                            }
                        }
                    }
                }
                if progress_at.elapsed() > STALL {
                    return Err(StageError::ReadBackStalled {
                        topic: topic.to_owned(),
                        seconds: STALL.as_secs(),
                        partitions: ends.keys().copied().collect(),
                    });
                }
            }
        }
    }
    Ok(latest)
}
