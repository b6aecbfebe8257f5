//! Stage 2, engine: one [`Engine`] per normalized partition, restored from its checkpoint (or
//! rebuilt from the partition's start) when assigned. Publishes *absolute* partial aggregates,
//! partitioned by (family, dimensions), to the compacted partials topic; writes checkpoints
//! once everything they hold is published. Offsets are never committed: the checkpoint holds
//! the position.

use crate::checkpoint::EngineCheckpoints;
use crate::config::Config;
use crate::driver::{
    BatchEnd, InRecord, OutRecord, Outbox, Positions, Stage, StageError, TopicPartition,
};
use crate::progress::{Outcome, Progress, SourceCounts};
use govstream_calendar::Calendar;
use govstream_engine::keys::{partial_key, partial_targets};
use govstream_engine::{Applied, Engine, Retention};
use govstream_normalize::lineage::{
    dead_letter, Origin, ORIGIN_HEADER, REASON_HEADER, SOURCE_HEADER,
};
use govstream_proto::v1 as pb;
use prost::Message as _;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One engine partition this instance owns.
struct EnginePart {
    engine: Engine,
    /// The next normalized offset to apply: the engine covers everything before it.
    next_offset: i64,
    /// Records applied since the last checkpoint, and when it was written (or restored).
    since_checkpoint: u64,
    checkpointed_at: Instant,
}

pub struct EngineStage {
    cfg: Config,
    cal: Arc<Calendar>,
    /// Partitions of the partials topic.
    partials_partitions: i32,
    checkpoints: Option<EngineCheckpoints>,
    engines: BTreeMap<i32, EnginePart>,
    last_size: Instant,
    // Counts since the last report.
    counts: BTreeMap<String, SourceCounts>,
    records: u64,
    applied: u64,
    partials: u64,
    value: Vec<u8>,
    /// A catalogue source is configured.
    catalogue: bool,
}

impl EngineStage {
    pub fn new(
        cfg: &Config,
        cal: Arc<Calendar>,
        partials_partitions: i32,
        checkpoints: Option<EngineCheckpoints>,
        catalogue: bool,
    ) -> EngineStage {
        EngineStage {
            cfg: cfg.clone(),
            cal,
            partials_partitions,
            checkpoints,
            engines: BTreeMap::new(),
            last_size: Instant::now() - Duration::from_secs(60),
            counts: BTreeMap::new(),
            records: 0,
            applied: 0,
            partials: 0,
            value: Vec::new(),
            catalogue,
        }
    }

    fn due(&self, st: &EnginePart) -> bool {
        st.since_checkpoint > 0
            && (st.since_checkpoint >= self.cfg.checkpoint.interval_records
                || st.checkpointed_at.elapsed()
                    >= Duration::from_millis(self.cfg.checkpoint.interval_ms))
    }

    fn count(&mut self, source: &str) -> &mut SourceCounts {
        if !self.counts.contains_key(source) {
            self.counts
                .insert(source.to_owned(), SourceCounts::default());
        }
        self.counts.get_mut(source).expect("inserted above")
    }

    /// The state of a newly assigned partition: its latest usable checkpoint, else empty
    /// (rebuilt from the partition's first retained offset).
    fn restore(&mut self, out: &mut dyn Outbox, p: i32, low: i64) -> EnginePart {
        let retention = self.cfg.engine.retention_days.map(Retention::days);
        let restored = match self.checkpoints.as_mut() {
            Some(ck) => ck.load(out, p, &self.cal, low).0,
            None => None,
        };
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
                let e = Engine::with_retention(self.cal.clone(), retention);
                (
                    if self.catalogue {
                        e.with_catalogue()
                    } else {
                        e
                    },
                    low,
                )
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
}

fn checkpoint(ck: &mut EngineCheckpoints, out: &mut dyn Outbox, p: i32, st: &mut EnginePart) {
    match ck.write(out, p, &st.engine, st.next_offset) {
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

/// The dead-letter envelope of a record whose case retention retired (rule 17). Its position
/// is the raw record's (from the `govstream-origin` header); `original` holds the normalized
/// event, which carries no personal data.
pub(crate) fn retired_envelope(
    ev: &pb::CaseEvent,
    origin: &str,
    normalized: &[u8],
) -> pb::Rejection {
    let rej = govstream_normalize::Rejection::new(
        govstream_normalize::Reason::RetiredCase,
        "its case is finished and was retired by retention (metrics.md rule 17); the record changes nothing; original holds the normalized event (govstream.v1.CaseEvent)",
    );
    let at = Origin::parse(origin).unwrap_or(Origin {
        topic: "",
        partition: -1,
        offset: -1,
    });
    dead_letter(&rej, &ev.source, &at, normalized, usize::MAX)
}

impl Stage for EngineStage {
    const NAME: &'static str = "engine";
    const INDEX: u32 = 1;
    const COMMITS: bool = false;

    fn assign(
        &mut self,
        parts: &[TopicPartition],
        input: &dyn Positions,
        out: &mut dyn Outbox,
    ) -> Result<Vec<(TopicPartition, i64)>, StageError> {
        let mut seeks = Vec::new();
        for tp in parts {
            let low = input.low_watermark(tp);
            let st = self.restore(out, tp.1, low);
            if st.next_offset > low {
                // Continue after what the checkpoint covers.
                seeks.push((tp.clone(), st.next_offset));
            }
            self.engines.insert(tp.1, st);
        }
        Ok(seeks)
    }

    /// A partition given up: checkpointed when everything it changed is published (publishing
    /// is no longer allowed after the revocation), then dropped.
    fn revoke(&mut self, parts: &[TopicPartition], out: &mut dyn Outbox) {
        for (_, p) in parts {
            let Some(mut st) = self.engines.remove(p) else {
                continue;
            };
            if let Some(ck) = self.checkpoints.as_mut() {
                if st.since_checkpoint > 0 && !st.engine.has_unpublished() {
                    checkpoint(ck, out, *p, &mut st);
                }
                ck.forget(*p);
            }
            tracing::info!(partition = p, "engine partition revoked; state dropped");
        }
    }

    fn record(&mut self, rec: &InRecord<'_>, out: &mut dyn Outbox) -> Result<(), StageError> {
        let Some(st) = self.engines.get_mut(&rec.partition) else {
            tracing::warn!(
                partition = rec.partition,
                offset = rec.offset,
                "record of a partition not assigned; skipped"
            );
            return Ok(());
        };
        if rec.offset < st.next_offset {
            // Already in the state (restored from a checkpoint; fetched before the seek).
            return Ok(());
        }
        st.next_offset = rec.offset + 1;
        st.since_checkpoint += 1;
        self.records += 1;
        let ev = match pb::CaseEvent::decode(rec.payload) {
            Ok(ev) => ev,
            Err(err) => {
                tracing::error!(partition = rec.partition, offset = rec.offset, error = %err, "undecodable normalized event skipped");
                let source = rec
                    .header(SOURCE_HEADER)
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .unwrap_or("");
                self.count(source).record(Outcome::Undecodable);
                return Ok(());
            }
        };
        // The payload is the event's canonical encoding (the normalize stage wrote it with
        // prost): its hash is the event's fingerprint, without encoding it again.
        let applied = st
            .engine
            .apply_fingerprinted(&ev, xxhash_rust::xxh3::xxh3_64(rec.payload));
        // Duplicates include copies a restarted normalize stage wrote again (at-least-once);
        // exact accounting uses the `govstream-origin` header. A listing is in every
        // partition (broadcast): counted once, where it is in partition 0.
        let counted = ev.case_kind() != pb::CaseKind::Listing || rec.partition == 0;
        if counted {
            self.count(&ev.source).record(applied.into());
        }
        match applied {
            Applied::New => self.applied += u64::from(counted),
            Applied::Duplicate | Applied::Conflict | Applied::Ignored | Applied::Superseded => {}
            Applied::Retired => {
                let origin = rec
                    .header(ORIGIN_HEADER)
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .unwrap_or("");
                let env = retired_envelope(&ev, origin, rec.payload);
                self.value.clear();
                env.encode_raw(&mut self.value);
                out.send(OutRecord {
                    topic: &self.cfg.topics.dead_letter,
                    partition: None,
                    key: origin.as_bytes(),
                    value: Some(&self.value),
                    headers: &[
                        (SOURCE_HEADER, ev.source.as_bytes()),
                        (ORIGIN_HEADER, origin.as_bytes()),
                        (REASON_HEADER, b"retired_case"),
                    ],
                })?;
            }
        }
        Ok(())
    }

    /// Publishes every partial whose value changed since the last flush (coalesced: a cell
    /// changed by many records of the batch is published once).
    fn flush(&mut self, out: &mut dyn Outbox, _end: BatchEnd) -> Result<(), StageError> {
        let topic = &self.cfg.topics.partials;
        for (p, st) in self.engines.iter_mut() {
            for partial in st.engine.take_partials(*p) {
                let key = partial_key(&partial);
                self.value.clear();
                partial.encode_raw(&mut self.value);
                for t in partial_targets(&partial, self.partials_partitions) {
                    out.send(OutRecord {
                        topic,
                        partition: Some(t),
                        key: &key,
                        value: Some(&self.value),
                        headers: &[],
                    })?;
                    self.partials += 1;
                }
            }
        }
        Ok(())
    }

    /// Every change is published and acknowledged: the states can be checkpointed.
    fn acknowledged(&mut self, out: &mut dyn Outbox, end: BatchEnd) -> Result<(), StageError> {
        let due: Vec<i32> = self
            .engines
            .iter()
            .filter(|(_, st)| self.due(st) || (end.stopping && st.since_checkpoint > 0))
            .map(|(p, _)| *p)
            .collect();
        if let Some(ck) = self.checkpoints.as_mut() {
            for p in due {
                if let Some(st) = self.engines.get_mut(&p) {
                    checkpoint(ck, out, p, st);
                }
            }
        }
        Ok(())
    }

    fn report(&mut self, progress: &Progress, end: BatchEnd) {
        for (source, c) in std::mem::take(&mut self.counts) {
            progress.with_source(&source, |s| s.add(&c));
        }
        progress
            .engine_records
            .fetch_add(std::mem::take(&mut self.records), Relaxed);
        progress
            .events_applied
            .fetch_add(std::mem::take(&mut self.applied), Relaxed);
        let n = std::mem::take(&mut self.partials);
        if n > 0 {
            progress.touch();
            progress.partials_published.fetch_add(n, Relaxed);
        }
        progress.engine_cases.store(
            self.engines
                .values()
                .map(|st| st.engine.cases() as u64)
                .sum(),
            Relaxed,
        );
        if self.last_size.elapsed() >= Duration::from_secs(10) || end.stopping {
            self.last_size = Instant::now();
            progress.engine_bytes.store(
                self.engines
                    .values()
                    .map(|st| st.engine.approx_state_bytes())
                    .sum(),
                Relaxed,
            );
        }
        progress
            .engine_partitions
            .store(self.engines.len() as u64, Relaxed);
        progress
            .calendar_fallbacks
            .store(self.cal.fallback_lookups(), Relaxed);
    }
}
