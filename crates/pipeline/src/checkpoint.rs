//! Engine checkpoints in Kafka: a partition's state together with the offsets it covers, so an
//! assigned partition recovers in time proportional to what arrived since its last checkpoint
//! instead of re-reading its whole history (docs/checkpoints.md).
//!
//! Protocol, per engine partition `p`, in partition `p % N` of the compacted checkpoint topic:
//! 1. chunks `engine/<p>/<seq>/<i>` (protobuf `EngineChunk`, each below the broker's limit),
//!    written and acknowledged;
//! 2. then the manifest `engine/<p>/manifest` (`CheckpointManifest`: the input offsets, the
//!    XXH3 hash of every chunk), acknowledged;
//! 3. then tombstones for the chunks of the checkpoint it replaced.
//!
//! A crash before 2 leaves the previous manifest and its chunks intact; a reader restores only a
//! manifest whose chunks are all present with matching hashes, and restores all of it or
//! nothing. So a checkpoint is never half-applied. Whatever cannot be used (no checkpoint, an
//! unknown format, other retention settings, a damaged chunk, offsets the topic no longer
//! holds) makes the partition rebuild from its start, said in a log line and
//! `govstream_checkpoint_restores_total{outcome}`.

use crate::config::Config;
use crate::driver::{Compacted, OutRecord, Outbox, StageError};
use crate::progress::Progress;
use govstream_calendar::Calendar;
use govstream_engine::{Engine, EngineRestore, Retention, CHECKPOINT_FORMAT};
use govstream_proto::v1 as pb;
use prost::Message as _;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

const STAGE: &str = "engine";

fn manifest_key(p: i32) -> String {
    format!("{STAGE}/{p}/manifest")
}

fn chunk_key(p: i32, seq: u64, i: usize) -> String {
    format!("{STAGE}/{p}/{seq}/{i}")
}

/// (sequence, index) of a chunk key of partition `p`.
fn parse_chunk_key(p: i32, key: &[u8]) -> Option<(u64, usize)> {
    let key = std::str::from_utf8(key).ok()?;
    let rest = key.strip_prefix(&format!("{STAGE}/{p}/"))?;
    let (seq, i) = rest.split_once('/')?;
    Some((seq.parse().ok()?, i.parse().ok()?))
}

/// What an assignment found in the checkpoint topic.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RestoreOutcome {
    Restored,
    /// No checkpoint for this partition yet.
    None,
    /// A manifest of a format this build does not read.
    RefusedFormat,
    /// Written under another `engine.retention_days`.
    RefusedRetention,
    /// A chunk missing, with a wrong hash, or not decoding.
    Corrupt,
    /// The checkpoint's offsets are older than what the normalized topic still holds.
    OffsetsGone,
    /// The checkpoint topic could not be read.
    ReadFailed,
}

impl RestoreOutcome {
    pub const ALL: [RestoreOutcome; 7] = [
        RestoreOutcome::Restored,
        RestoreOutcome::None,
        RestoreOutcome::RefusedFormat,
        RestoreOutcome::RefusedRetention,
        RestoreOutcome::Corrupt,
        RestoreOutcome::OffsetsGone,
        RestoreOutcome::ReadFailed,
    ];

    /// The `outcome` label value.
    pub fn code(self) -> &'static str {
        match self {
            RestoreOutcome::Restored => "restored",
            RestoreOutcome::None => "none",
            RestoreOutcome::RefusedFormat => "refused_format",
            RestoreOutcome::RefusedRetention => "refused_retention",
            RestoreOutcome::Corrupt => "corrupt",
            RestoreOutcome::OffsetsGone => "offsets_gone",
            RestoreOutcome::ReadFailed => "read_failed",
        }
    }
}

/// A restored engine and where to continue.
pub struct Restored {
    pub engine: Engine,
    /// The next normalized offset to apply: the state covers everything before it.
    pub next_offset: i64,
    pub sequence: u64,
}

/// Writes and reads the checkpoints of this instance's engine partitions.
pub struct EngineCheckpoints {
    cfg: Config,
    reader: Box<dyn Compacted + Send>,
    progress: Arc<Progress>,
    /// Partitions of the checkpoint topic.
    partitions: i32,
    /// Per engine partition: (sequence, chunk count) of the checkpoint last written or restored.
    last: BTreeMap<i32, (u64, usize)>,
    /// Engines have a catalogue source configured (a checkpoint of other engines is refused).
    catalogue: bool,
}

impl EngineCheckpoints {
    /// `partitions`: of the checkpoint topic; `reader` reads it back.
    pub fn new(
        cfg: &Config,
        partitions: i32,
        reader: Box<dyn Compacted + Send>,
        progress: Arc<Progress>,
        catalogue: bool,
    ) -> EngineCheckpoints {
        EngineCheckpoints {
            cfg: cfg.clone(),
            reader,
            progress,
            partitions,
            last: BTreeMap::new(),
            catalogue,
        }
    }

    fn target(&self, p: i32) -> i32 {
        p.rem_euclid(self.partitions.max(1))
    }

    fn retention(&self) -> Option<Retention> {
        self.cfg.engine.retention_days.map(Retention::days)
    }

    /// The latest usable checkpoint of engine partition `p` (blocking: reads the checkpoint
    /// partition to its end). `low` is the first offset the normalized partition still holds.
    pub fn load(
        &mut self,
        out: &mut dyn Outbox,
        p: i32,
        cal: &Arc<Calendar>,
        low: i64,
    ) -> (Option<Restored>, RestoreOutcome) {
        let started = Instant::now();
        let topic = self.cfg.topics.checkpoints.clone();
        let target = self.target(p);
        let values = match self.reader.latest(&topic, &[target]) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(partition = p, error = %e, "cannot read the checkpoint topic; rebuilding the engine partition from its start");
                return self.outcome(p, None, RestoreOutcome::ReadFailed);
            }
        };
        let get = |k: &str| {
            values
                .get(&(target, k.as_bytes().to_vec()))
                .and_then(|v| v.as_deref())
        };
        let Some(bytes) = get(&manifest_key(p)) else {
            tracing::info!(
                partition = p,
                "no checkpoint yet; rebuilding the engine partition from its start"
            );
            return self.outcome(p, None, RestoreOutcome::None);
        };
        let m = match pb::CheckpointManifest::decode(bytes) {
            Ok(m) if m.stage == STAGE && m.partition == p => m,
            Ok(_) | Err(_) => {
                tracing::warn!(partition = p, "the checkpoint manifest does not decode or names another partition; rebuilding from the start");
                return self.outcome(p, None, RestoreOutcome::Corrupt);
            }
        };
        if m.format != CHECKPOINT_FORMAT {
            tracing::warn!(partition = p, format = m.format, reads = CHECKPOINT_FORMAT, "checkpoint written in a format this build does not read; rebuilding from the start");
            return self.outcome(p, None, RestoreOutcome::RefusedFormat);
        }
        let retention_days = self.cfg.engine.retention_days.unwrap_or(0);
        if m.retention_days != retention_days {
            tracing::warn!(partition = p, checkpoint = m.retention_days, configured = retention_days, "checkpoint written under another engine.retention_days (0 = none); rebuilding from the start");
            return self.outcome(p, None, RestoreOutcome::RefusedRetention);
        }
        let next = m
            .offsets
            .iter()
            .find(|o| o.topic == self.cfg.topics.normalized && o.partition == p)
            .map(|o| o.next_offset);
        let Some(next) = next else {
            tracing::warn!(
                partition = p,
                "checkpoint without an offset for its partition; rebuilding from the start"
            );
            return self.outcome(p, None, RestoreOutcome::Corrupt);
        };
        if next < low {
            tracing::warn!(partition = p, checkpoint_offset = next, first_retained = low, "the normalized topic no longer holds the records after the checkpoint (its retention is shorter than the checkpoint interval?); rebuilding from the first retained offset: records before it are missing from the aggregates");
            return self.outcome(p, None, RestoreOutcome::OffsetsGone);
        }
        let mut r = EngineRestore::new(cal.clone(), self.retention());
        if self.catalogue {
            r = r.with_catalogue();
        }
        for (i, h) in m.chunk_hashes.iter().enumerate() {
            let chunk = get(&chunk_key(p, m.sequence, i));
            let ok = match chunk {
                Some(c) if xxhash_rust::xxh3::xxh3_64(c) == *h => {
                    r.chunk(c).map_err(|e| e.to_string())
                }
                Some(_) => Err(format!("chunk {i} does not match its hash")),
                None => Err(format!("chunk {i} is missing")),
            };
            if let Err(e) = ok {
                tracing::warn!(partition = p, sequence = m.sequence, error = %e, "damaged checkpoint; rebuilding the engine partition from its start");
                return self.outcome(p, None, RestoreOutcome::Corrupt);
            }
        }
        let engine = match r.finish() {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(partition = p, error = %e, "damaged checkpoint; rebuilding from the start");
                return self.outcome(p, None, RestoreOutcome::Corrupt);
            }
        };
        // Chunks of older checkpoints left by a crash between manifest and tombstones.
        let stale: Vec<String> = values
            .iter()
            .filter(|((q, _), v)| *q == target && v.is_some())
            .filter_map(|((_, k), _)| parse_chunk_key(p, k))
            .filter(|(seq, _)| *seq < m.sequence)
            .map(|(seq, i)| chunk_key(p, seq, i))
            .collect();
        for k in &stale {
            self.tombstone(out, target, k);
        }
        tracing::info!(
            partition = p,
            sequence = m.sequence,
            next_offset = next,
            cases = engine.cases(),
            bytes = m.state_bytes,
            took_ms = started.elapsed().as_millis() as u64,
            "engine partition restored from its checkpoint; reading on from the checkpoint's offset"
        );
        self.last.insert(p, (m.sequence, m.chunk_hashes.len()));
        self.outcome(
            p,
            Some(Restored {
                engine,
                next_offset: next,
                sequence: m.sequence,
            }),
            RestoreOutcome::Restored,
        )
    }

    fn outcome(
        &mut self,
        p: i32,
        r: Option<Restored>,
        o: RestoreOutcome,
    ) -> (Option<Restored>, RestoreOutcome) {
        if r.is_none() {
            self.last.remove(&p);
        }
        self.progress.checkpoint_restored(o.code());
        (r, o)
    }

    fn tombstone(&self, out: &mut dyn Outbox, target: i32, key: &str) {
        let rec = OutRecord {
            topic: &self.cfg.topics.checkpoints,
            partition: Some(target),
            key: key.as_bytes(),
            value: None,
            headers: &[],
        };
        if let Err(e) = out.send(rec) {
            tracing::debug!(key, error = %e, "checkpoint tombstone not sent");
        }
    }

    fn send(
        &self,
        out: &mut dyn Outbox,
        target: i32,
        key: &str,
        value: &[u8],
    ) -> Result<(), StageError> {
        out.send(OutRecord {
            topic: &self.cfg.topics.checkpoints,
            partition: Some(target),
            key: key.as_bytes(),
            value: Some(value),
            headers: &[],
        })
    }

    /// Writes a checkpoint of `engine` covering the normalized offsets before `next_offset`.
    /// The engine's changes must all be published (partials acknowledged) before: a checkpoint
    /// does not carry unpublished changes. Returns the bytes written.
    pub fn write(
        &mut self,
        out: &mut dyn Outbox,
        p: i32,
        engine: &Engine,
        next_offset: i64,
    ) -> Result<u64, StageError> {
        let started = Instant::now();
        let target = self.target(p);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let prev = self.last.get(&p).copied();
        let seq = prev.map_or(0, |(s, _)| s + 1).max(now_ms);
        let max = self.cfg.checkpoint.max_chunk_bytes;
        let mut hashes = Vec::new();
        let mut bytes = 0u64;
        let mut failed = None;
        engine.checkpoint(max, |chunk| {
            if failed.is_some() {
                return;
            }
            let key = chunk_key(p, seq, hashes.len());
            hashes.push(xxhash_rust::xxh3::xxh3_64(&chunk));
            bytes += chunk.len() as u64;
            if let Err(e) = self.send(out, target, &key, &chunk) {
                failed = Some(e);
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        out.flush()?;
        let manifest = pb::CheckpointManifest {
            format: CHECKPOINT_FORMAT,
            stage: STAGE.to_owned(),
            partition: p,
            sequence: seq,
            offsets: vec![pb::InputOffset {
                topic: self.cfg.topics.normalized.clone(),
                partition: p,
                next_offset,
            }],
            chunk_hashes: hashes.clone(),
            state_bytes: bytes,
            retention_days: self.cfg.engine.retention_days.unwrap_or(0),
            written_at_ms: now_ms as i64,
        };
        self.send(out, target, &manifest_key(p), &manifest.encode_to_vec())?;
        out.flush()?;
        if let Some((old, n)) = prev {
            for i in 0..n {
                self.tombstone(out, target, &chunk_key(p, old, i));
            }
        }
        self.last.insert(p, (seq, hashes.len()));
        let took = started.elapsed();
        self.progress.checkpoint_written(bytes, now_ms, took);
        tracing::debug!(
            partition = p,
            sequence = seq,
            next_offset,
            chunks = hashes.len(),
            bytes,
            took_ms = took.as_millis() as u64,
            "checkpoint written"
        );
        Ok(bytes)
    }

    /// Forgets a partition given up (its checkpoint stays for the next owner).
    pub fn forget(&mut self, p: i32) {
        self.last.remove(&p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_keys_round_trip() {
        assert_eq!(
            parse_chunk_key(3, chunk_key(3, 17, 2).as_bytes()),
            Some((17, 2))
        );
        assert_eq!(parse_chunk_key(3, chunk_key(31, 17, 2).as_bytes()), None);
        assert_eq!(parse_chunk_key(3, manifest_key(3).as_bytes()), None);
        assert_eq!(parse_chunk_key(3, b"engine/3/x/1"), None);
    }
}
