//! Stage 3, totals: one [`Totals`] per partials partition, rebuilt from the partition's start
//! when assigned (after reading back what earlier owners published). Publishes only changed
//! aggregate records (and tombstones), at `publish_interval_ms`, to partition q of the
//! compacted aggregates topic and its JSON mirror. Offsets are never committed.

use crate::config::Config;
use crate::driver::{
    BatchEnd, Compacted, InRecord, OutRecord, Outbox, Positions, Stage, StageError, TopicPartition,
};
use crate::metrics::{LabelSet, Timeliness};
use crate::progress::Progress;
use govstream_engine::keys::{aggregate_key_from_json, aggregate_key_json};
use govstream_engine::{canonical_json, Totals, Update, COUNTERS};
use govstream_proto::v1 as pb;
use prost::Message as _;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct TotalsStage {
    cfg: Config,
    zone: govstream_calendar::Zone,
    reader: Box<dyn Compacted + Send>,
    totals: BTreeMap<i32, Totals>,
    timeliness: Arc<Timeliness>,
    labels: LabelSet,
    publish_every: Duration,
    last_publish: Instant,
    /// When the publication in progress started (until it is acknowledged), and how long the
    /// last one took from rendering to acknowledgement.
    publishing: Option<Instant>,
    last_publish_took: Duration,
    last_snapshot: Instant,
    /// Something changed since the last snapshot for the terminal and `/metrics`.
    changed: bool,
    published: u64,
    key: Vec<u8>,
    value: Vec<u8>,
}

impl TotalsStage {
    pub fn new(
        cfg: &Config,
        zone: govstream_calendar::Zone,
        reader: Box<dyn Compacted + Send>,
        timeliness: Arc<Timeliness>,
    ) -> TotalsStage {
        TotalsStage {
            cfg: cfg.clone(),
            zone,
            reader,
            totals: BTreeMap::new(),
            timeliness,
            labels: LabelSet::new(&cfg.metrics.labels, cfg.metrics.max_series),
            publish_every: Duration::from_millis(cfg.pipeline.publish_interval_ms),
            last_publish: Instant::now(),
            publishing: None,
            last_publish_took: Duration::ZERO,
            last_snapshot: Instant::now() - Duration::from_secs(60),
            changed: false,
            published: 0,
            key: Vec::new(),
            value: Vec::new(),
        }
    }

    /// Restores what earlier owners published to the newly assigned partitions: the aggregates
    /// topic and its JSON mirror, each read to the high watermarks taken now (every earlier
    /// owner flushed before giving a partition up). A key is taken as published only if both
    /// topics hold the same value; a key on which they disagree (a crash between the two
    /// writes) is restored as stale, so that it is published again (or tombstoned) in both.
    /// Stopping early would leave keys this owner never tombstones, so an incomplete read is an
    /// error, not a shortcut.
    fn read_back(&self, totals: &mut BTreeMap<i32, Totals>) -> Result<u64, StageError> {
        let parts: Vec<i32> = totals.keys().copied().collect();
        let proto = self.reader.latest(&self.cfg.topics.aggregates, &parts)?;
        let json = match self.cfg.topics.json_mirror() {
            Some(t) => Some(self.reader.latest(t, &parts)?),
            None => None,
        };
        let mut n = 0;
        let mut agreed: HashSet<(i32, String)> = HashSet::new();
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
            let jk = aggregate_key_json(key);
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
        // Values only the JSON mirror still holds (its tombstone was lost): replaced or
        // tombstoned.
        for ((q, jk), value) in json.into_iter().flatten() {
            let (Some(t), Some(_), Ok(jk)) = (totals.get_mut(&q), value, String::from_utf8(jk))
            else {
                continue;
            };
            if !agreed.contains(&(q, jk.clone())) {
                if let Some(key) = aggregate_key_from_json(&jk) {
                    t.restore_stale(&key);
                }
            }
        }
        Ok(n)
    }

    /// Whether this flush publishes. Publishing re-renders every changed key, so it runs at its
    /// own, slower pace than flushes: every `publish_interval_ms` when the stage has caught up
    /// with its input. While it works through a backlog (a backfill, a rebuild), a key changes
    /// in every batch and a publication can take seconds (rendering, then hundreds of
    /// thousands of records to acknowledge): then it waits at least four times as long as the
    /// last publication took, which keeps publishing below a fifth of the stage's time and
    /// publishes each key fewer times on the way. Once caught up it publishes at once.
    fn publish_due(&self, end: BatchEnd) -> bool {
        let since = self.last_publish.elapsed();
        end.stopping
            || (since >= self.publish_every
                && (end.caught_up || since >= self.last_publish_took * 4))
    }

    fn publish(&mut self, out: &mut dyn Outbox, q: i32, u: &Update) -> Result<(), StageError> {
        let none = pb::AggregateKey::default();
        let (key, record) = match u {
            Update::Upsert(r) => (r.key.as_ref().unwrap_or(&none), Some(r)),
            Update::Delete(k) => (k, None),
        };
        self.key.clear();
        key.encode_raw(&mut self.key);
        self.value.clear();
        if let Some(r) = record {
            r.encode_raw(&mut self.value);
        }
        out.send(OutRecord {
            topic: &self.cfg.topics.aggregates,
            partition: Some(q),
            key: &self.key,
            value: record.map(|_| &self.value[..]),
            headers: &[],
        })?;
        if let Some(topic) = self.cfg.topics.json_mirror() {
            let json = record.map(canonical_json);
            out.send(OutRecord {
                topic,
                partition: Some(q),
                key: aggregate_key_json(key).as_bytes(),
                value: json.as_ref().map(|j| j.as_bytes()),
                headers: &[],
            })?;
        }
        Ok(())
    }
}

impl Stage for TotalsStage {
    const NAME: &'static str = "totals";
    const INDEX: u32 = 2;
    const COMMITS: bool = false;

    fn assign(
        &mut self,
        parts: &[TopicPartition],
        _input: &dyn Positions,
        _out: &mut dyn Outbox,
    ) -> Result<Vec<(TopicPartition, i64)>, StageError> {
        // Every newly assigned partition in one pass (one silence window).
        let mut fresh: BTreeMap<i32, Totals> = parts
            .iter()
            .map(|(_, q)| *q)
            .filter(|q| !self.totals.contains_key(q))
            .map(|q| (q, Totals::new(self.zone.clone())))
            .collect();
        if fresh.is_empty() {
            return Ok(Vec::new());
        }
        let n = self.read_back(&mut fresh)?;
        tracing::info!(
            partitions = ?fresh.keys().collect::<Vec<_>>(),
            restored = n,
            "totals partitions assigned; rebuilding from the partials topic"
        );
        self.totals.extend(fresh);
        self.changed = true;
        // Every partials partition is read from its start.
        Ok(Vec::new())
    }

    fn revoke(&mut self, parts: &[TopicPartition], _out: &mut dyn Outbox) {
        for (_, q) in parts {
            if self.totals.remove(q).is_some() {
                self.changed = true;
            }
        }
    }

    fn record(&mut self, rec: &InRecord<'_>, _out: &mut dyn Outbox) -> Result<(), StageError> {
        let Some(t) = self.totals.get_mut(&rec.partition) else {
            return Ok(());
        };
        match pb::Partial::decode(rec.payload) {
            Ok(p) => {
                if let Err(e) = t.apply(&p) {
                    tracing::error!(offset = rec.offset, error = %e, "bad partial skipped");
                }
            }
            Err(e) => {
                tracing::error!(offset = rec.offset, error = %e, "undecodable partial skipped")
            }
        }
        self.changed = true;
        Ok(())
    }

    fn flush(&mut self, out: &mut dyn Outbox, end: BatchEnd) -> Result<(), StageError> {
        if !self.publish_due(end) {
            return Ok(());
        }
        self.last_publish = Instant::now();
        self.publishing = Some(self.last_publish);
        let qs: Vec<i32> = self.totals.keys().copied().collect();
        for q in qs {
            let updates = match self.totals.get_mut(&q) {
                Some(t) => t.take_updates(),
                None => continue,
            };
            for u in &updates {
                self.publish(out, q, u)?;
                self.published += 1;
            }
        }
        Ok(())
    }

    fn acknowledged(&mut self, _out: &mut dyn Outbox, _end: BatchEnd) -> Result<(), StageError> {
        if let Some(t) = self.publishing.take() {
            self.last_publish_took = t.elapsed();
        }
        Ok(())
    }

    fn report(&mut self, progress: &Progress, end: BatchEnd) {
        for t in self.totals.values() {
            if let Some(w) = t.watermark() {
                progress.watermark_us.fetch_max(w, Relaxed);
            }
        }
        let n = std::mem::take(&mut self.published);
        if n > 0 {
            progress.touch();
            progress.aggregates_published.fetch_add(n, Relaxed);
        }
        progress
            .totals_partitions
            .store(self.totals.len() as u64, Relaxed);
        // Figures for the terminal and /metrics: a walk over all cells, so not every flush
        // (every 2 s; every 10 s while working through a backlog, where it took a fifth of
        // the stage's time).
        let every = Duration::from_secs(if end.caught_up { 2 } else { 10 });
        if self.changed && (self.last_snapshot.elapsed() >= every || end.stopping) {
            self.timeliness.update(self.totals.values(), &self.labels);
            let mut sums = [[0i64; COUNTERS]; 2];
            for t in self.totals.values() {
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
            let mut items = [0i64; COUNTERS];
            for t in self.totals.values() {
                for (_, c) in t.items_now() {
                    for (x, y) in items.iter_mut().zip(c) {
                        *x += y;
                    }
                }
            }
            *progress.items.lock().unwrap_or_else(|e| e.into_inner()) = items;
            self.last_snapshot = Instant::now();
            self.changed = false;
        }
    }
}
