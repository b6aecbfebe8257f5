//! Stage 1, normalize: raw records → canonical events (normalized topic, keyed by source and
//! case id so that every event of a case lands in one partition) or dead-letter envelopes.
//! Offsets are committed by the driver after the outputs are acknowledged (at-least-once; in
//! one transaction with them when `[kafka] transactions = true`).
//!
//! A catalogue listing is not a case event: it is *broadcast* — written to every partition of
//! the normalized topic (each engine needs the whole catalogue, in order with its cases, and
//! its checkpoint then covers what it has applied) and, as a partial, to partition 0 of the
//! partials topic (where one totals partition computes family `item`).

use crate::config::Config;
use crate::driver::{BatchEnd, InRecord, OutRecord, Outbox, Stage, StageError, TopicPartition};
use crate::progress::{Outcome, Progress, SourceCounts};
use govstream_engine::keys::partial_key;
use govstream_normalize::lineage::{
    dead_letter, event_key, Origin, ORIGIN_HEADER, REASON_HEADER, SOURCE_HEADER,
};
use govstream_normalize::CompiledSource;
use govstream_proto::v1 as pb;
use prost::Message as _;
use std::collections::HashMap;
use std::fmt::Write as _;

pub struct NormalizeStage {
    sources: Vec<CompiledSource>,
    /// Raw topic → index in `sources`.
    by_topic: HashMap<String, usize>,
    normalized: String,
    /// Partitions of the normalized topic (listings go to each).
    normalized_partitions: i32,
    partials: String,
    dead_letter: String,
    dlq_original_max_bytes: usize,
    /// Counts since the last report, per source (merged into `Progress` at each flush, so the
    /// hot path takes no lock).
    counts: Vec<SourceCounts>,
    // Buffers reused from record to record.
    value: Vec<u8>,
    events: Vec<pb::CaseEvent>,
    origin: String,
}

impl NormalizeStage {
    pub fn new(
        cfg: &Config,
        sources: Vec<CompiledSource>,
        normalized_partitions: i32,
    ) -> NormalizeStage {
        let by_topic = cfg
            .sources
            .iter()
            .filter_map(|s| {
                let i = sources.iter().position(|c| c.name() == s.name)?;
                Some((s.topic.clone(), i))
            })
            .collect();
        NormalizeStage {
            counts: vec![SourceCounts::default(); sources.len()],
            sources,
            by_topic,
            normalized: cfg.topics.normalized.clone(),
            normalized_partitions: normalized_partitions.max(1),
            partials: cfg.topics.partials.clone(),
            dead_letter: cfg.topics.dead_letter.clone(),
            dlq_original_max_bytes: cfg.pipeline.dlq_original_max_bytes,
            value: Vec::new(),
            events: Vec::new(),
            origin: String::new(),
        }
    }

    /// The raw topics this stage reads.
    pub fn topics(cfg: &Config) -> Vec<&str> {
        cfg.sources.iter().map(|s| s.topic.as_str()).collect()
    }
}

impl Stage for NormalizeStage {
    const NAME: &'static str = "normalize";
    const INDEX: u32 = 0;
    const COMMITS: bool = true;

    fn assign(
        &mut self,
        _parts: &[TopicPartition],
        _input: &dyn crate::driver::Positions,
        _out: &mut dyn Outbox,
    ) -> Result<Vec<(TopicPartition, i64)>, StageError> {
        // Continues at the committed offsets.
        Ok(Vec::new())
    }

    fn revoke(&mut self, _parts: &[TopicPartition], _out: &mut dyn Outbox) {}

    fn record(&mut self, rec: &InRecord<'_>, out: &mut dyn Outbox) -> Result<(), StageError> {
        let Some(&i) = self.by_topic.get(rec.topic) else {
            return Ok(());
        };
        let src = &self.sources[i];
        let counts = &mut self.counts[i];
        counts.read();
        self.origin.clear();
        let at = Origin {
            topic: rec.topic,
            partition: rec.partition,
            offset: rec.offset,
        };
        let _ = write!(self.origin, "{at}");
        let lineage = [
            (SOURCE_HEADER, src.name().as_bytes()),
            (ORIGIN_HEADER, self.origin.as_bytes()),
        ];
        self.events.clear();
        match src.normalize_into(rec.payload, &mut self.events) {
            Ok(()) => {
                counts.record(Outcome::Accepted);
                for ev in &self.events {
                    self.value.clear();
                    ev.encode_raw(&mut self.value);
                    if ev.case_kind() == pb::CaseKind::Listing {
                        let key = event_key(ev);
                        for p in 0..self.normalized_partitions {
                            out.send(OutRecord {
                                topic: &self.normalized,
                                partition: Some(p),
                                key: &key,
                                value: Some(&self.value),
                                headers: &lineage,
                            })?;
                        }
                        let partial = pb::Partial {
                            source_partition: -1,
                            key: None,
                            value: Some(pb::partial::Value::Listing(ev.clone())),
                        };
                        self.value.clear();
                        partial.encode_raw(&mut self.value);
                        out.send(OutRecord {
                            topic: &self.partials,
                            partition: Some(0),
                            key: &partial_key(&partial),
                            value: Some(&self.value),
                            headers: &[],
                        })?;
                    } else {
                        // Listings do not move a source's watermark (rule 16).
                        counts.saw_instant(ev.event_time_us);
                        out.send(OutRecord {
                            topic: &self.normalized,
                            partition: None,
                            key: &event_key(ev),
                            value: Some(&self.value),
                            headers: &lineage,
                        })?;
                    }
                    counts.record(Outcome::Normalized);
                }
            }
            Err(rej) => {
                self.value.clear();
                dead_letter(
                    &rej,
                    src.name(),
                    &at,
                    rec.payload,
                    self.dlq_original_max_bytes,
                )
                .encode_raw(&mut self.value);
                out.send(OutRecord {
                    topic: &self.dead_letter,
                    partition: None,
                    key: self.origin.as_bytes(),
                    value: Some(&self.value),
                    headers: &[
                        lineage[0],
                        lineage[1],
                        (REASON_HEADER, rej.reason.code().as_bytes()),
                    ],
                })?;
                counts.record(Outcome::Rejected(rej.reason));
            }
        }
        Ok(())
    }

    fn flush(&mut self, _out: &mut dyn Outbox, _end: BatchEnd) -> Result<(), StageError> {
        // Every output was handed over as its record was read.
        Ok(())
    }

    fn report(&mut self, progress: &Progress, _end: BatchEnd) {
        for (src, counts) in self.sources.iter().zip(self.counts.iter_mut()) {
            if !counts.is_empty() {
                let delta = std::mem::take(counts);
                progress.with_source(src.name(), |s| s.add(&delta));
            }
        }
    }
}
