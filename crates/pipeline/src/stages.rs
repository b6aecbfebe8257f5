//! The three stages of `govstream run`. Each is a consumer-group member of its own group, so
//! each scales out by running more instances.
//!
//! 1. **normalize**: raw topics → normalized topic (keyed by source and case id, so every event
//!    of a case lands in one partition) or dead-letter topic. At-least-once: offsets are
//!    committed after the produced records are acknowledged.
//! 2. **engine**: one [`Engine`] per normalized partition, rebuilt from the partition's start
//!    when assigned (offsets are never committed). Publishes *absolute* partial aggregates,
//!    partitioned by (family, dimensions), to the compacted partials topic.
//! 3. **totals**: one [`Totals`] per partials partition, rebuilt from the partition's start;
//!    publishes only changed aggregate records (and tombstones) to the compacted aggregates
//!    topic and its JSON mirror.
//!
//! Re-deliveries and rebuilds only ever republish values already derived from the same input,
//! and the engine drops repeated record ids, so restarts, crashes and rebalances do not change
//! the final aggregates (see ARCHITECTURE.md, "Delivery guarantee").

use crate::checkpoint::EngineCheckpoints;
use crate::config::Config;
use crate::kafka::StageProducer;
use crate::kafka::{consumer_config, partition_count};
use crate::metrics::{LabelSet, Timeliness};
use crate::progress::Progress;
use govstream_calendar::Calendar;
use govstream_engine::{canonical_json, Applied, Engine, Retention, Totals, Update};
use govstream_normalize::CompiledSource;
use govstream_proto::v1 as pb;
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureRecord};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Records partitions revoked by a rebalance, for the stage loop to drop their state.
pub struct StageContext {
    revoked: Mutex<Vec<(String, i32)>>,
    progress: Arc<Progress>,
    assigned: std::sync::atomic::AtomicBool,
    /// The stage's producer: flushed when partitions are revoked, so that everything this
    /// instance wrote for them lands before the next owner writes (partition order).
    producer: StageProducer,
    /// Positions the stage moved to itself (a restored checkpoint's offset): librdkafka's
    /// `app_offset` only follows delivered messages, so after a seek past the end it would
    /// show lag that is not there.
    positions: Mutex<HashMap<(String, i32), i64>>,
}

impl ClientContext for StageContext {
    /// librdkafka's global errors (all brokers down, authentication, TLS): logged once per
    /// change and shown by `/readyz` until a broker answers again.
    fn error(&self, error: KafkaError, reason: &str) {
        crate::kafka::report_broker_error(&self.progress, &error, reason);
    }

    /// librdkafka's own log lines: warnings and errors only, at the matching level.
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        crate::kafka::log_librdkafka(level, fac, message);
    }

    /// librdkafka statistics (every `statistics.interval.ms`): consumer lag per partition.
    fn stats(&self, stats: rdkafka::Statistics) {
        crate::kafka::clear_broker_problem(&self.progress, &stats);
        let mut lag = self.progress.lag.lock().unwrap_or_else(|e| e.into_inner());
        for (topic, t) in &stats.topics {
            for (id, p) in &t.partitions {
                if *id < 0 || p.fetch_state == "none" {
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
                let own = self
                    .positions
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&(topic.clone(), *id))
                    .copied()
                    .unwrap_or(-1);
                let app_offset = p.app_offset.max(own);
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
                use rdkafka::producer::Producer;
                self.progress.rebalances_revoke.fetch_add(1, Relaxed);
                if let Err(e) = self.producer.flush(Duration::from_secs(30)) {
                    tracing::warn!(error = %e, "flushing before giving up partitions");
                }
                let mut v = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
                let mut lag = self.progress.lag.lock().unwrap_or_else(|e| e.into_inner());
                let mut own = self.positions.lock().unwrap_or_else(|e| e.into_inner());
                for e in tpl.elements() {
                    own.remove(&(e.topic().to_owned(), e.partition()));
                    v.push((e.topic().to_owned(), e.partition()));
                    // Series of partitions no longer owned disappear.
                    lag.remove(&(e.topic().to_owned(), e.partition()));
                }
            }
            Rebalance::Assign(_) => {
                self.progress.rebalances_assign.fetch_add(1, Relaxed);
                self.assigned.store(true, Relaxed);
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }
}

impl StageContext {
    fn take_revoked(&self) -> Vec<(String, i32)> {
        std::mem::take(&mut *self.revoked.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

fn consumer(
    cfg: &Config,
    stage: &str,
    topics: &[&str],
    progress: &Arc<Progress>,
    producer: &StageProducer,
) -> Result<StreamConsumer<StageContext>, KafkaError> {
    let c: StreamConsumer<StageContext> =
        consumer_config(cfg, stage).create_with_context(StageContext {
            revoked: Mutex::new(Vec::new()),
            progress: progress.clone(),
            assigned: std::sync::atomic::AtomicBool::new(false),
            producer: producer.clone(),
            positions: Mutex::new(HashMap::new()),
        })?;
    c.subscribe(topics)?;
    Ok(c)
}

/// Produced records not yet acknowledged.
struct Pending {
    producer: StageProducer,
    futures: Vec<DeliveryFuture>,
    progress: Arc<Progress>,
}

impl Pending {
    fn new(producer: StageProducer, progress: &Arc<Progress>) -> Pending {
        Pending {
            producer,
            futures: Vec::new(),
            progress: progress.clone(),
        }
    }

    /// Enqueues a record, waiting for acknowledgements when the local queue is full.
    async fn send(&mut self, mut rec: FutureRecord<'_, [u8], [u8]>) -> Result<(), KafkaError> {
        loop {
            match self.producer.send_result(rec) {
                Ok(f) => {
                    self.futures.push(f);
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    rec = r;
                    self.flush().await?;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Waits until every enqueued record is acknowledged by the broker.
    async fn flush(&mut self) -> Result<(), KafkaError> {
        for (i, f) in self.futures.drain(..).enumerate() {
            if i % 1000 == 999 {
                // Waiting for acknowledgements is work in progress, not idleness.
                self.progress.touch();
            }
            match f.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(e),
                Err(_) => return Err(KafkaError::Canceled),
            }
        }
        Ok(())
    }
}

/// Receives one message, or None when shutting down or when nothing came within `wait`.
async fn next<'a>(
    c: &'a StreamConsumer<StageContext>,
    shutdown: &mut watch::Receiver<bool>,
    wait: Duration,
) -> Option<Result<BorrowedMessage<'a>, KafkaError>> {
    tokio::select! {
        m = c.recv() => Some(m),
        _ = shutdown.changed() => None,
        _ = tokio::time::sleep(wait) => None,
    }
}

fn stopping(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow()
}

/// After a flush: records the batch's processing time and marks the stage ready once it has
/// partitions and keeps up (a batch smaller than the maximum: its state is restored).
fn flushed(
    c: &StreamConsumer<StageContext>,
    progress: &Progress,
    stage: u32,
    batch: usize,
    max_batch: usize,
    started: &mut Option<Instant>,
) {
    const NAMES: [&str; 3] = ["normalize", "engine", "totals"];
    if let Some(t) = started.take() {
        metrics::histogram!("govstream_processing_latency_seconds", "stage" => NAMES[stage as usize])
            .record(t.elapsed().as_secs_f64());
    }
    if c.context().assigned.load(Relaxed) && batch < max_batch {
        progress.stage_ready(stage);
    }
}

// ------------------------------------------------------------------------------------------
// Stage 1: normalize

pub async fn normalize_stage(
    cfg: Config,
    sources: Vec<CompiledSource>,
    producer: StageProducer,
    progress: Arc<Progress>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), KafkaError> {
    let transactional = cfg.kafka.transactions;
    let by_topic: HashMap<String, usize> = cfg
        .sources
        .iter()
        .map(|s| {
            let i = sources.iter().position(|c| c.name() == s.name).unwrap_or(0);
            (s.topic.clone(), i)
        })
        .collect();
    let topics: Vec<&str> = cfg.sources.iter().map(|s| s.topic.as_str()).collect();
    let c = consumer(&cfg, "normalize", &topics, &progress, &producer)?;
    let mut out = Pending::new(producer, &progress);
    let mut offsets: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let flush_every = Duration::from_millis(cfg.pipeline.flush_interval_ms);
    let mut last_flush = Instant::now();
    let mut batch = 0usize;
    let mut batch_started: Option<Instant> = None;
    loop {
        let msg = next(&c, &mut shutdown, flush_every).await;
        if let Some(Ok(m)) = &msg {
            let Some(&i) = by_topic.get(m.topic()) else {
                continue;
            };
            let src = &sources[i];
            progress.touch();
            batch_started.get_or_insert_with(Instant::now);
            let payload = m.payload().unwrap_or(&[]);
            let origin = format!("{}:{}:{}", m.topic(), m.partition(), m.offset());
            progress.with_source(src.name(), |s| s.consumed += 1);
            match src.normalize(payload) {
                Ok(ev) => {
                    let t = ev.event_time_us;
                    progress.with_source(src.name(), |s| {
                        s.watermark_us = Some(s.watermark_us.map_or(t, |w| w.max(t)))
                    });
                    let key = format!("{}|{}", ev.source, ev.case_id);
                    let value = ev.encode_to_vec();
                    let headers = lineage(src.name(), &origin);
                    out.send(
                        FutureRecord::to(&cfg.topics.normalized)
                            .key(key.as_bytes())
                            .payload(&value[..])
                            .headers(headers),
                    )
                    .await?;
                    progress.with_source(src.name(), |s| s.normalized += 1);
                }
                Err(rej) => {
                    let keep = payload.len().min(cfg.pipeline.dlq_original_max_bytes);
                    let env = pb::Rejection {
                        reason: rej.reason.to_proto() as i32,
                        reason_code: rej.reason.code().to_owned(),
                        detail: rej.detail.clone(),
                        source: src.name().to_owned(),
                        topic: m.topic().to_owned(),
                        partition: m.partition(),
                        offset: m.offset(),
                        original: payload[..keep].to_vec(),
                        original_size: payload.len() as u64,
                        original_truncated: keep < payload.len(),
                    };
                    let value = env.encode_to_vec();
                    let headers = lineage(src.name(), &origin).insert(Header {
                        key: "govstream-reason",
                        value: Some(rej.reason.code()),
                    });
                    out.send(
                        FutureRecord::to(&cfg.topics.dead_letter)
                            .key(origin.as_bytes())
                            .payload(&value[..])
                            .headers(headers),
                    )
                    .await?;
                    progress.with_source(src.name(), |s| {
                        *s.rejected.entry(rej.reason.code()).or_default() += 1
                    });
                }
            }
            offsets.insert((m.topic().to_owned(), m.partition()), m.offset());
            batch += 1;
        } else if let Some(Err(e)) = &msg {
            tracing::warn!(stage = "normalize", error = %e, "consume error");
        }
        let stop = stopping(&shutdown);
        if stop || batch >= cfg.pipeline.max_batch || last_flush.elapsed() >= flush_every {
            let _busy = progress.busy();
            out.flush().await?;
            // Revoked partitions are no longer ours to commit.
            for (t, p) in c.context().take_revoked() {
                offsets.remove(&(t, p));
            }
            if !offsets.is_empty() {
                let mut tpl = TopicPartitionList::new();
                for ((t, p), o) in &offsets {
                    tpl.add_partition_offset(t, *p, Offset::Offset(o + 1))?;
                }
                // Blocking calls leave the async worker to the other stages meanwhile.
                let result = tokio::task::block_in_place(|| {
                    if transactional {
                        commit_transaction(&c, &out.producer, &tpl)
                    } else {
                        c.commit(&tpl, rdkafka::consumer::CommitMode::Sync)
                    }
                });
                match result {
                    Ok(()) => {
                        progress.commits_ok.fetch_add(1, Relaxed);
                    }
                    Err(e) if transactional => {
                        progress.commits_failed.fetch_add(1, Relaxed);
                        tracing::warn!(stage = "normalize", error = %e, "transaction failed; aborting and re-reading from the committed offsets");
                        tokio::task::block_in_place(|| abort_and_rewind(&c, &out.producer))?;
                    }
                    Err(e) => {
                        progress.commits_failed.fetch_add(1, Relaxed);
                        tracing::warn!(stage = "normalize", error = %e, "commit failed; records will be redelivered");
                    }
                }
                offsets.clear();
            }
            flushed(
                &c,
                &progress,
                0,
                batch,
                cfg.pipeline.max_batch,
                &mut batch_started,
            );
            batch = 0;
            last_flush = Instant::now();
        }
        if stop {
            return Ok(());
        }
    }
}

/// The headers every normalize-stage output carries: its source and upstream position.
fn lineage(source: &str, origin: &str) -> OwnedHeaders {
    OwnedHeaders::new()
        .insert(Header {
            key: "govstream-source",
            value: Some(source),
        })
        .insert(Header {
            key: "govstream-origin",
            value: Some(origin),
        })
}

/// Commits the open transaction with the consumed offsets, then opens the next one.
fn commit_transaction(
    c: &StreamConsumer<StageContext>,
    producer: &StageProducer,
    offsets: &TopicPartitionList,
) -> Result<(), KafkaError> {
    use rdkafka::producer::Producer;
    let meta = c
        .group_metadata()
        .ok_or(KafkaError::MetadataFetch(RDKafkaErrorCode::InvalidGroupId))?;
    let t = Duration::from_secs(30);
    producer.send_offsets_to_transaction(offsets, &meta, t)?;
    producer.commit_transaction(t)?;
    producer.begin_transaction()
}

/// Aborts the open transaction and moves the consumer back to its committed offsets, so that
/// the aborted records are produced again in the next transaction.
fn abort_and_rewind(
    c: &StreamConsumer<StageContext>,
    producer: &StageProducer,
) -> Result<(), KafkaError> {
    use rdkafka::producer::Producer;
    let t = Duration::from_secs(30);
    producer.abort_transaction(t)?;
    let committed = c.committed(t)?;
    for e in committed.elements() {
        let offset = match e.offset() {
            Offset::Offset(o) => Offset::Offset(o),
            _ => Offset::Beginning,
        };
        c.seek(e.topic(), e.partition(), offset, t)?;
    }
    drop(committed);
    producer.begin_transaction()
}

// ------------------------------------------------------------------------------------------
// Stage 2: engine per normalized partition

/// Partition of the partials topic for a (family, dimensions) key: a stable hash, so that all
/// partials of a key meet in one totals instance.
pub fn partials_partition(key: &pb::PartialKey, partitions: i32) -> i32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for &x in b {
            h ^= x as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    eat(&key.family.to_le_bytes());
    for d in &key.dims {
        eat(d.as_bytes());
    }
    (h % partitions.max(1) as u64) as i32
}

/// The compaction key of a partial: one per (engine partition, family, dims, day | overdue).
fn partial_key(p: &pb::Partial) -> Vec<u8> {
    let mut k = format!("{}", p.source_partition);
    match &p.value {
        Some(pb::partial::Value::WatermarkUs(_)) => k.push_str("|W"),
        Some(pb::partial::Value::Cell(c)) => k.push_str(&format!("|C{}", c.day)),
        Some(pb::partial::Value::Overdue(_)) => k.push_str("|O"),
        None => {}
    }
    if let Some(key) = &p.key {
        k.push_str(&format!("|{}", key.family));
        for d in &key.dims {
            k.push('\u{1f}');
            k.push_str(d);
        }
    }
    k.into_bytes()
}

/// One engine partition this instance owns.
struct EnginePart {
    engine: Engine,
    /// The next normalized offset to apply: the engine covers everything before it.
    next_offset: i64,
    /// Records applied since the last checkpoint, and when it was written (or restored).
    since_checkpoint: u64,
    checkpointed_at: Instant,
}

impl EnginePart {
    fn due(&self, cfg: &Config) -> bool {
        self.since_checkpoint > 0
            && (self.since_checkpoint >= cfg.checkpoint.interval_records
                || self.checkpointed_at.elapsed()
                    >= Duration::from_millis(cfg.checkpoint.interval_ms))
    }
}

/// The state of a newly assigned engine partition: its latest usable checkpoint, else empty
/// (rebuilt from the partition's first retained offset).
fn assign_engine(
    cfg: &Config,
    c: &StreamConsumer<StageContext>,
    checkpoints: Option<&mut EngineCheckpoints>,
    cal: &Arc<Calendar>,
    p: i32,
) -> EnginePart {
    let retention = cfg.engine.retention_days.map(Retention::days);
    let low = c
        .fetch_watermarks(&cfg.topics.normalized, p, Duration::from_secs(30))
        .map_or(0, |(low, _)| low);
    let restored = checkpoints.map(|ck| ck.load(p, cal, low).0).unwrap_or(None);
    let (mut engine, next_offset) = match restored {
        Some(r) => (r.engine, r.next_offset),
        None => {
            if low > 0 {
                tracing::warn!(partition = p, first_retained = low, "the normalized topic no longer holds this partition's first records and no checkpoint covers them: the aggregates miss them");
            }
            tracing::info!(
                partition = p,
                "engine partition assigned; rebuilding from its start"
            );
            (Engine::with_retention(cal.clone(), retention), low)
        }
    };
    engine.track_changes();
    EnginePart {
        engine,
        next_offset,
        since_checkpoint: 0,
        checkpointed_at: Instant::now(),
    }
}

/// The dead-letter envelope of a record whose case retention retired (rule 17). Its position
/// is the raw record's (from the `govstream-origin` header); `original` holds the normalized
/// event, which carries no personal data.
fn retired_envelope(ev: &pb::CaseEvent, origin: &str, normalized: &[u8]) -> pb::Rejection {
    let rej = govstream_normalize::Rejection::new(
        govstream_normalize::Reason::RetiredCase,
        "its case is finished and was retired by retention (metrics.md rule 17); the record changes nothing; original holds the normalized event (govstream.v1.CaseEvent)",
    );
    let mut parts = origin.rsplitn(3, ':');
    let offset = parts.next().and_then(|o| o.parse().ok()).unwrap_or(-1);
    let partition = parts.next().and_then(|o| o.parse().ok()).unwrap_or(-1);
    let topic = parts.next().unwrap_or_default().to_owned();
    pb::Rejection {
        reason: rej.reason.to_proto() as i32,
        reason_code: rej.reason.code().to_owned(),
        detail: rej.detail,
        source: ev.source.clone(),
        topic,
        partition,
        offset,
        original: normalized.to_vec(),
        original_size: normalized.len() as u64,
        original_truncated: false,
    }
}

pub async fn engine_stage(
    cfg: Config,
    cal: Arc<Calendar>,
    producer: StageProducer,
    progress: Arc<Progress>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), KafkaError> {
    let c = consumer(
        &cfg,
        "engine",
        &[&cfg.topics.normalized],
        &progress,
        &producer,
    )?;
    let parts = partition_count(&producer, &cfg.topics.partials)?;
    let mut checkpoints = if cfg.checkpoint.enabled {
        Some(EngineCheckpoints::new(
            &cfg,
            producer.clone(),
            progress.clone(),
        )?)
    } else {
        None
    };
    let mut out = Pending::new(producer, &progress);
    let mut engines: BTreeMap<i32, EnginePart> = BTreeMap::new();
    let mut last_size = Instant::now() - Duration::from_secs(60);
    let flush_every = Duration::from_millis(cfg.pipeline.flush_interval_ms);
    let mut last_flush = Instant::now();
    let mut batch = 0usize;
    let mut batch_started: Option<Instant> = None;
    loop {
        let msg = next(&c, &mut shutdown, flush_every).await;
        for (_, p) in c.context().take_revoked() {
            if let Some(st) = engines.remove(&p) {
                revoked_engine(&mut checkpoints, p, st).await;
            }
        }
        if let Some(Ok(m)) = &msg {
            progress.touch();
            batch_started.get_or_insert_with(Instant::now);
            let p = m.partition();
            let st = match engines.entry(p) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    let st = tokio::task::block_in_place(|| {
                        assign_engine(&cfg, &c, checkpoints.as_mut(), &cal, p)
                    });
                    c.context()
                        .positions
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert((cfg.topics.normalized.clone(), p), st.next_offset);
                    if m.offset() < st.next_offset {
                        // Continue after what the checkpoint covers (messages fetched before
                        // the seek are skipped below).
                        if let Err(e) = c.seek(
                            &cfg.topics.normalized,
                            p,
                            Offset::Offset(st.next_offset),
                            Duration::from_secs(10),
                        ) {
                            tracing::warn!(partition = p, error = %e, "seek to the checkpoint's offset failed; skipping the covered records instead");
                        }
                    }
                    v.insert(st)
                }
            };
            if m.offset() < st.next_offset {
                // Already in the state (restored from a checkpoint).
                continue;
            }
            st.next_offset = m.offset() + 1;
            st.since_checkpoint += 1;
            progress.engine_records.fetch_add(1, Relaxed);
            let payload = m.payload().unwrap_or(&[]);
            match pb::CaseEvent::decode(payload) {
                Ok(ev) => match st.engine.apply(&ev) {
                    Applied::New => {
                        progress.events_applied.fetch_add(1, Relaxed);
                    }
                    // Also counts copies a restarted normalize stage wrote again (at-least-once);
                    // exact accounting uses the `govstream-origin` header.
                    Applied::Duplicate => progress.with_source(&ev.source, |s| s.duplicates += 1),
                    Applied::Conflict => progress.with_source(&ev.source, |s| s.conflicts += 1),
                    Applied::Ignored => {}
                    Applied::Retired => {
                        let hs = headers(m);
                        let origin = hs
                            .iter()
                            .find(|(k, _)| k == "govstream-origin")
                            .map_or("", |(_, v)| v.as_str());
                        let env = retired_envelope(&ev, origin, payload);
                        let value = env.encode_to_vec();
                        let headers = lineage(&ev.source, origin).insert(Header {
                            key: "govstream-reason",
                            value: Some("retired_case"),
                        });
                        out.send(
                            FutureRecord::to(&cfg.topics.dead_letter)
                                .key(origin.as_bytes())
                                .payload(&value[..])
                                .headers(headers),
                        )
                        .await?;
                        progress.with_source(&ev.source, |s| s.retired += 1);
                    }
                },
                Err(err) => {
                    tracing::error!(partition = p, offset = m.offset(), error = %err, "undecodable normalized event skipped")
                }
            }
            batch += 1;
        } else if let Some(Err(e)) = &msg {
            tracing::warn!(stage = "engine", error = %e, "consume error");
        }
        let stop = stopping(&shutdown);
        if stop || batch >= cfg.pipeline.max_batch || last_flush.elapsed() >= flush_every {
            let _busy = progress.busy();
            // Never publish for partitions given up since the last look.
            for (_, p) in c.context().take_revoked() {
                if let Some(st) = engines.remove(&p) {
                    revoked_engine(&mut checkpoints, p, st).await;
                }
            }
            let mut n = 0u64;
            for (p, st) in engines.iter_mut() {
                for partial in st.engine.take_partials(*p) {
                    let key = partial_key(&partial);
                    let value = partial.encode_to_vec();
                    let targets: Vec<i32> = match &partial.key {
                        Some(k) => vec![partials_partition(k, parts)],
                        // A watermark goes to every totals partition.
                        None => (0..parts).collect(),
                    };
                    for t in targets {
                        out.send(
                            FutureRecord::to(&cfg.topics.partials)
                                .partition(t)
                                .key(&key[..])
                                .payload(&value[..]),
                        )
                        .await?;
                        n += 1;
                    }
                }
            }
            out.flush().await?;
            if n > 0 {
                progress.touch();
                progress.partials_published.fetch_add(n, Relaxed);
            }
            // Every change is published and acknowledged: the states can be checkpointed.
            if let Some(ck) = checkpoints.as_mut() {
                for (p, st) in engines.iter_mut() {
                    if st.due(&cfg) || (stop && st.since_checkpoint > 0) {
                        checkpoint_engine(ck, *p, st).await;
                        progress.touch();
                    }
                }
            }
            progress.engine_cases.store(
                engines.values().map(|st| st.engine.cases() as u64).sum(),
                Relaxed,
            );
            if last_size.elapsed() >= Duration::from_secs(10) || stop {
                last_size = Instant::now();
                progress.engine_bytes.store(
                    engines
                        .values()
                        .map(|st| st.engine.approx_state_bytes())
                        .sum(),
                    Relaxed,
                );
            }
            progress
                .engine_partitions
                .store(engines.len() as u64, Relaxed);
            progress
                .calendar_fallbacks
                .store(cal.fallback_lookups(), Relaxed);
            flushed(
                &c,
                &progress,
                1,
                batch,
                cfg.pipeline.max_batch,
                &mut batch_started,
            );
            batch = 0;
            last_flush = Instant::now();
        }
        if stop {
            return Ok(());
        }
    }
}

async fn checkpoint_engine(ck: &mut EngineCheckpoints, p: i32, st: &mut EnginePart) {
    match ck.write(p, &st.engine, st.next_offset).await {
        Ok(_) => {
            st.since_checkpoint = 0;
            st.checkpointed_at = Instant::now();
        }
        Err(e) => {
            // Not fatal: the previous checkpoint stays valid; the next flush tries again.
            tracing::warn!(partition = p, error = %e, "checkpoint not written; keeping the previous one");
        }
    }
}

/// A partition given up: checkpointed when everything it changed is published (publishing is
/// no longer allowed after the revocation), then dropped.
async fn revoked_engine(checkpoints: &mut Option<EngineCheckpoints>, p: i32, mut st: EnginePart) {
    if let Some(ck) = checkpoints.as_mut() {
        if st.since_checkpoint > 0 && !st.engine.has_unpublished() {
            checkpoint_engine(ck, p, &mut st).await;
        }
        ck.forget(p);
    }
    tracing::info!(partition = p, "engine partition revoked; state dropped");
}

// ------------------------------------------------------------------------------------------
// Stage 3: totals per partials partition

pub async fn totals_stage(
    cfg: Config,
    offset_s: i32,
    producer: StageProducer,
    progress: Arc<Progress>,
    timeliness: Arc<Timeliness>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), KafkaError> {
    let labels = LabelSet::new(&cfg.metrics.labels, cfg.metrics.max_series);
    let publish_every = Duration::from_millis(cfg.pipeline.publish_interval_ms);
    let mut last_publish = Instant::now();
    let mut last_snapshot = Instant::now() - Duration::from_secs(60);
    let mut changed = false;
    let c = consumer(
        &cfg,
        "totals",
        &[&cfg.topics.partials],
        &progress,
        &producer,
    )?;
    // Totals partition q publishes to partition q of the aggregates topics, so that a restarted
    // stage can read back exactly what it owns.
    let parts = partition_count(&producer, &cfg.topics.partials)?;
    for t in std::iter::once(cfg.topics.aggregates.as_str()).chain(cfg.topics.json_mirror()) {
        let n = partition_count(&producer, t)?;
        if n < parts {
            tracing::error!(topic = %t, partitions = n, needed = parts, "the aggregates topic needs at least as many partitions as the partials topic");
            return Err(KafkaError::MetadataFetch(
                RDKafkaErrorCode::InvalidPartitions,
            ));
        }
    }
    let mut out = Pending::new(producer, &progress);
    let mut totals: BTreeMap<i32, Totals> = BTreeMap::new();
    let flush_every = Duration::from_millis(cfg.pipeline.flush_interval_ms);
    let mut last_flush = Instant::now();
    let mut batch = 0usize;
    let mut batch_started: Option<Instant> = None;
    loop {
        let msg = next(&c, &mut shutdown, flush_every).await;
        for (_, p) in c.context().take_revoked() {
            if totals.remove(&p).is_some() {
                changed = true;
            }
        }
        if let Some(Ok(m)) = &msg {
            progress.touch();
            batch_started.get_or_insert_with(Instant::now);
            let q = m.partition();
            if !totals.contains_key(&q) {
                // Restore every newly assigned partition in one pass (one silence window).
                let mut new: Vec<i32> = match c.assignment() {
                    Ok(tpl) => tpl
                        .elements()
                        .iter()
                        .map(|e| e.partition())
                        .filter(|p| !totals.contains_key(p))
                        .collect(),
                    Err(_) => Vec::new(),
                };
                if !new.contains(&q) {
                    new.push(q);
                }
                let mut fresh: BTreeMap<i32, Totals> =
                    new.iter().map(|p| (*p, Totals::new(offset_s))).collect();
                let n = tokio::task::block_in_place(|| read_back(&cfg, &mut fresh))?;
                tracing::info!(
                    partitions = ?new,
                    restored = n,
                    "totals partitions assigned; rebuilding from the partials topic"
                );
                totals.extend(fresh);
            }
            let Some(t) = totals.get_mut(&q) else {
                continue;
            };
            match pb::Partial::decode(m.payload().unwrap_or(&[])) {
                Ok(p) => {
                    if let Err(e) = t.apply(&p) {
                        tracing::error!(offset = m.offset(), error = %e, "bad partial skipped");
                    }
                }
                Err(e) => {
                    tracing::error!(offset = m.offset(), error = %e, "undecodable partial skipped")
                }
            }
            batch += 1;
        } else if let Some(Err(e)) = &msg {
            tracing::warn!(stage = "totals", error = %e, "consume error");
        }
        let stop = stopping(&shutdown);
        if stop || batch >= cfg.pipeline.max_batch || last_flush.elapsed() >= flush_every {
            let _busy = progress.busy();
            // Never publish for partitions given up since the last look.
            for (_, p) in c.context().take_revoked() {
                totals.remove(&p);
                changed = true;
            }
            let mut n = 0u64;
            // Publishing re-renders every changed key: done at its own, slower pace.
            let publish_now = stop || last_publish.elapsed() >= publish_every;
            for (q, t) in totals.iter_mut() {
                if let Some(w) = t.watermark() {
                    progress.watermark_us.fetch_max(w, Relaxed);
                }
                if !publish_now {
                    continue;
                }
                let updates = t.take_updates();
                for u in updates {
                    publish(&cfg, &mut out, *q, &u).await?;
                    n += 1;
                }
            }
            if publish_now {
                last_publish = Instant::now();
            }
            out.flush().await?;
            if n > 0 {
                progress.touch();
                progress.aggregates_published.fetch_add(n, Relaxed);
            }
            progress
                .totals_partitions
                .store(totals.len() as u64, Relaxed);
            changed |= n > 0 || batch > 0;
            // Figures for the terminal and /metrics: a walk over all cells, so not every flush.
            if changed && (last_snapshot.elapsed() >= Duration::from_secs(2) || stop) {
                timeliness.update(totals.values(), &labels);
                let mut sums = [[0i64; 14]; 2];
                for t in totals.values() {
                    for (a, b) in sums.iter_mut().zip(t.family_totals().iter()) {
                        for (x, y) in a.iter_mut().zip(b) {
                            *x += y;
                        }
                    }
                }
                *progress
                    .family_totals
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = sums;
                last_snapshot = Instant::now();
                changed = false;
            }
            flushed(
                &c,
                &progress,
                2,
                batch,
                cfg.pipeline.max_batch,
                &mut batch_started,
            );
            batch = 0;
            last_flush = Instant::now();
        }
        if stop {
            return Ok(());
        }
    }
}

/// Canonical JSON of an aggregate key, the key of the JSON mirror.
pub fn key_json(k: &pb::AggregateKey) -> String {
    let fam = if k.family() == pb::Family::Hotline {
        "hotline"
    } else {
        "application"
    };
    let gran = if k.granularity() == pb::Granularity::Month {
        "MONTH"
    } else {
        "DAY"
    };
    let d3 = if fam == "hotline" {
        ("category", &k.category)
    } else {
        ("item", &k.item)
    };
    serde_json::json!({
        "family": fam, "granularity": gran, "window": k.window, "region": k.region,
        "dept": k.dept, d3.0: d3.1, "channel": k.channel,
    })
    .to_string()
}

/// Restores what earlier owners published to the newly assigned partitions: the aggregates
/// topic and its JSON mirror, each read to the high watermarks taken now (every earlier owner
/// flushed before giving a partition up). A key is taken as published only if both topics hold
/// the same value; a key on which they disagree (a crash between the two writes) is restored as
/// stale, so that it is published again (or tombstoned) in both. Stopping early would leave keys
/// this owner never tombstones, so an incomplete read is an error, not a shortcut.
fn read_back(cfg: &Config, totals: &mut BTreeMap<i32, Totals>) -> Result<u64, KafkaError> {
    let parts: Vec<i32> = totals.keys().copied().collect();
    let proto = read_to_end(cfg, &cfg.topics.aggregates, &parts, "totals-readback")?;
    let json = match cfg.topics.json_mirror() {
        Some(t) => Some(read_to_end(cfg, t, &parts, "totals-readback")?),
        None => None,
    };
    let mut n = 0;
    let mut agreed: std::collections::HashSet<(i32, String)> = Default::default();
    for ((q, _), value) in proto {
        let (Some(t), Some(bytes)) = (totals.get_mut(&q), value) else {
            continue;
        };
        let Ok(r) = pb::AggregateRecord::decode(&bytes[..]) else {
            continue;
        };
        let Some(key) = r.key.as_ref() else {
            continue;
        };
        let jk = key_json(key);
        let mirrored = json.as_ref().is_none_or(|j| {
            j.get(&(q, jk.clone().into_bytes()))
                .is_some_and(|v| v.as_deref() == Some(canonical_json(&r).as_bytes()))
        });
        if mirrored {
            t.restore_published(&r);
            agreed.insert((q, jk));
        } else {
            t.restore_stale(key);
        }
        n += 1;
    }
    // Values only the JSON mirror still holds (its tombstone was lost): replaced or tombstoned.
    for ((q, jk), value) in json.into_iter().flatten() {
        let (Some(t), Some(_), Ok(jk)) = (totals.get_mut(&q), value, String::from_utf8(jk)) else {
            continue;
        };
        if !agreed.contains(&(q, jk.clone())) {
            if let Some(key) = key_from_json(&jk) {
                t.restore_stale(&key);
            }
        }
    }
    Ok(n)
}

/// The inverse of [`key_json`].
fn key_from_json(text: &str) -> Option<pb::AggregateKey> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let hotline = s("family")? == "hotline";
    Some(pb::AggregateKey {
        family: if hotline {
            pb::Family::Hotline
        } else {
            pb::Family::Application
        } as i32,
        granularity: if s("granularity")? == "MONTH" {
            pb::Granularity::Month
        } else {
            pb::Granularity::Day
        } as i32,
        window: s("window")?,
        region: s("region")?,
        dept: s("dept")?,
        item: if hotline { String::new() } else { s("item")? },
        category: if hotline {
            s("category")?
        } else {
            String::new()
        },
        channel: s("channel")?,
    })
}

/// The latest value (None: a tombstone) per (partition, key) of a compacted topic.
pub(crate) type LatestValues = BTreeMap<(i32, Vec<u8>), Option<Vec<u8>>>;

/// The latest value per key of `partitions` of `topic`, read to the high watermarks taken now.
pub(crate) fn read_to_end(
    cfg: &Config,
    topic: &str,
    partitions: &[i32],
    purpose: &str,
) -> Result<LatestValues, KafkaError> {
    use rdkafka::consumer::BaseConsumer;
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
            Some(Err(e)) => tracing::warn!(topic, error = %e, "reading back an aggregates topic"),
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
                    tracing::error!(topic, partitions = ?ends.keys().collect::<Vec<_>>(), "reading back made no progress");
                    return Err(KafkaError::MetadataFetch(
                        RDKafkaErrorCode::OperationTimedOut,
                    ));
                }
            }
        }
    }
    Ok(latest)
}

async fn publish(cfg: &Config, out: &mut Pending, q: i32, u: &Update) -> Result<(), KafkaError> {
    let (key, value, json) = match u {
        Update::Upsert(r) => {
            let k = r.key.clone().unwrap_or_default();
            (
                k.encode_to_vec(),
                Some(r.encode_to_vec()),
                (key_json(&k), Some(canonical_json(r))),
            )
        }
        Update::Delete(k) => (k.encode_to_vec(), None, (key_json(k), None)),
    };
    let mut rec = FutureRecord::to(&cfg.topics.aggregates)
        .partition(q)
        .key(&key[..]);
    if let Some(v) = &value {
        rec = rec.payload(&v[..]);
    }
    out.send(rec).await?;
    if let Some(topic) = cfg.topics.json_mirror() {
        let mut rec = FutureRecord::to(topic).partition(q).key(json.0.as_bytes());
        if let Some(v) = &json.1 {
            rec = rec.payload(v.as_bytes());
        }
        out.send(rec).await?;
    }
    Ok(())
}

/// Headers of a message as (key, UTF-8 value) pairs.
pub fn headers(m: &impl Message) -> Vec<(String, String)> {
    m.headers()
        .map(|h| {
            h.iter()
                .map(|x| {
                    (
                        x.key.to_owned(),
                        x.value
                            .map(|v| String::from_utf8_lossy(v).into_owned())
                            .unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keys_read_back_into_aggregate_keys() {
        let keys = [
            pb::AggregateKey {
                family: pb::Family::Application as i32,
                granularity: pb::Granularity::Day as i32,
                window: "2020-01-01".into(),
                region: "652827".into(),
                dept: "116528274748031040".into(),
                item: "1165282747480310400100108104000".into(),
                category: String::new(),
                channel: "MOBILE".into(),
            },
            pb::AggregateKey {
                family: pb::Family::Hotline as i32,
                granularity: pb::Granularity::Month as i32,
                window: "2020-01".into(),
                region: String::new(),
                dept: "12345".into(),
                item: String::new(),
                category: "COMPLAINT".into(),
                channel: String::new(),
            },
        ];
        for k in keys {
            assert_eq!(key_from_json(&key_json(&k)), Some(k));
        }
        assert_eq!(key_from_json("{\"family\":\"application\"}"), None);
        assert_eq!(key_from_json("not json"), None);
    }
}
