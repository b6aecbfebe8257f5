//! An in-memory log for driving stages without a broker: topics of partitions of records at
//! offsets, a group member whose assignments a test scripts, an outbox that can be told to
//! fail, and compacted reads (latest value per key). Only what the stages rely on: partition
//! order, offsets, commits, tombstones. Used by the stages' tests (`crate::stages::tests`).

use crate::driver::{
    AsRecord, Compacted, InRecord, Input, LatestValues, Offsets, OutRecord, Outbox, Rebalanced,
    StageError, TopicPartition,
};
use rdkafka::message::{Header, OwnedHeaders};
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One stored record.
#[derive(Clone, Debug)]
pub struct MemRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    pub headers: OwnedHeaders,
}

impl MemRecord {
    /// The value of header `name`, as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.record()
            .header(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

impl AsRecord for MemRecord {
    fn record(&self) -> InRecord<'_> {
        InRecord {
            topic: &self.topic,
            partition: self.partition,
            offset: self.offset,
            payload: self.value.as_deref().unwrap_or(&[]),
            headers: Some(self.headers.as_borrowed()),
        }
    }
}

/// Topics → partitions → records. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct MemoryLog(Arc<Mutex<BTreeMap<String, Vec<Vec<MemRecord>>>>>);

impl MemoryLog {
    pub fn new() -> MemoryLog {
        MemoryLog::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, Vec<Vec<MemRecord>>>) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn create(&self, topic: &str, partitions: i32) {
        self.with(|t| {
            t.entry(topic.to_owned())
                .or_insert_with(|| vec![Vec::new(); partitions.max(1) as usize]);
        });
    }

    pub fn partitions(&self, topic: &str) -> i32 {
        self.with(|t| t.get(topic).map_or(0, |p| p.len() as i32))
    }

    /// Appends a record (to the partition the key hashes to when `partition` is `None`);
    /// returns its offset.
    pub fn append(&self, rec: &OutRecord<'_>) -> i64 {
        self.with(|t| {
            let parts = t
                .entry(rec.topic.to_owned())
                .or_insert_with(|| vec![Vec::new()]);
            let n = parts.len() as i32;
            let p = rec
                .partition
                .unwrap_or_else(|| (xxhash_rust::xxh3::xxh3_64(rec.key) % n as u64) as i32);
            let Some(part) = parts.get_mut(p as usize) else {
                return -1;
            };
            let mut headers = OwnedHeaders::new_with_capacity(rec.headers.len());
            for (key, value) in rec.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(*value),
                });
            }
            let offset = part.len() as i64;
            part.push(MemRecord {
                topic: rec.topic.to_owned(),
                partition: p,
                offset,
                key: rec.key.to_vec(),
                value: rec.value.map(<[u8]>::to_vec),
                headers,
            });
            offset
        })
    }

    /// Every record of `topic`, partition by partition.
    pub fn records(&self, topic: &str) -> Vec<MemRecord> {
        self.with(|t| t.get(topic).map(|p| p.concat()).unwrap_or_default())
    }

    fn get(&self, tp: &TopicPartition, offset: i64) -> Option<MemRecord> {
        self.with(|t| {
            t.get(&tp.0)?
                .get(tp.1 as usize)?
                .get(usize::try_from(offset).ok()?)
                .cloned()
        })
    }

    fn end(&self, tp: &TopicPartition) -> i64 {
        self.with(|t| {
            t.get(&tp.0)
                .and_then(|p| p.get(tp.1 as usize))
                .map_or(0, |p| p.len() as i64)
        })
    }
}

impl Compacted for MemoryLog {
    fn latest(&self, topic: &str, partitions: &[i32]) -> Result<LatestValues, StageError> {
        let mut latest = LatestValues::new();
        for r in self.records(topic) {
            if partitions.contains(&r.partition) {
                latest.insert((r.partition, r.key), r.value);
            }
        }
        Ok(latest)
    }
}

/// A group member reading `topics` of a [`MemoryLog`]; the test decides what it is assigned
/// and when it loses it.
pub struct MemoryInput {
    log: MemoryLog,
    positions: RefCell<BTreeMap<TopicPartition, i64>>,
    events: RefCell<VecDeque<Rebalanced>>,
    committed: Arc<Mutex<Offsets>>,
    /// Rebalances to deliver after that many more polls.
    scripted: RefCell<VecDeque<(usize, Rebalanced)>>,
    polls: RefCell<usize>,
}

impl MemoryInput {
    /// A member sharing `committed` (the group's committed offsets) with other members.
    pub fn new(log: &MemoryLog, committed: &Arc<Mutex<Offsets>>) -> MemoryInput {
        MemoryInput {
            log: log.clone(),
            positions: RefCell::new(BTreeMap::new()),
            events: RefCell::new(VecDeque::new()),
            committed: committed.clone(),
            scripted: RefCell::new(VecDeque::new()),
            polls: RefCell::new(0),
        }
    }

    /// Every partition of `topics`, assigned now.
    pub fn assign_all(&self, topics: &[&str]) {
        let parts: Vec<TopicPartition> = topics
            .iter()
            .flat_map(|t| (0..self.log.partitions(t)).map(|p| (t.to_string(), p)))
            .collect();
        self.assign(parts);
    }

    pub fn assign(&self, parts: Vec<TopicPartition>) {
        let committed = self.committed.lock().unwrap_or_else(|e| e.into_inner());
        for tp in &parts {
            let at = committed.get(tp).copied().unwrap_or(0);
            self.positions.borrow_mut().insert(tp.clone(), at);
        }
        self.events
            .borrow_mut()
            .push_back(Rebalanced::Assigned(parts));
    }

    /// Revokes `parts` after `polls` more polls (0: at the next one).
    pub fn revoke_after(&self, polls: usize, parts: Vec<TopicPartition>) {
        let at = *self.polls.borrow() + polls;
        self.scripted
            .borrow_mut()
            .push_back((at, Rebalanced::Revoked(parts)));
    }

    /// Nothing left to read in the assigned partitions, and no scripted rebalance pending.
    pub fn drained(&self) -> bool {
        self.scripted.borrow().is_empty()
            && self
                .positions
                .borrow()
                .iter()
                .all(|(tp, at)| *at >= self.log.end(tp))
    }
}

impl Input for MemoryInput {
    type Msg<'a> = MemRecord;

    fn poll(&self, _timeout: Duration) -> Option<MemRecord> {
        *self.polls.borrow_mut() += 1;
        let now = *self.polls.borrow();
        while self
            .scripted
            .borrow()
            .front()
            .is_some_and(|(at, _)| *at <= now)
        {
            if let Some((_, e)) = self.scripted.borrow_mut().pop_front() {
                if let Rebalanced::Revoked(parts) = &e {
                    for tp in parts {
                        self.positions.borrow_mut().remove(tp);
                    }
                }
                self.events.borrow_mut().push_back(e);
            }
        }
        // The first partition with a record, so that tests see whole partitions in order.
        let mut positions = self.positions.borrow_mut();
        for (tp, at) in positions.iter_mut() {
            if let Some(r) = self.log.get(tp, *at) {
                *at += 1;
                return Some(r);
            }
        }
        None
    }

    fn rebalances(&self) -> Vec<Rebalanced> {
        self.events.borrow_mut().drain(..).collect()
    }

    fn seek(&self, tp: &TopicPartition, offset: i64) {
        if let Some(at) = self.positions.borrow_mut().get_mut(tp) {
            *at = offset;
        }
    }

    fn low_watermark(&self, _tp: &TopicPartition) -> i64 {
        0
    }

    fn commit(&self, offsets: &Offsets) -> Result<(), StageError> {
        let mut c = self.committed.lock().unwrap_or_else(|e| e.into_inner());
        for (tp, o) in offsets {
            c.insert(tp.clone(), *o);
        }
        Ok(())
    }

    fn has_partitions(&self) -> bool {
        !self.positions.borrow().is_empty()
    }

    fn caught_up(&self) -> bool {
        self.positions
            .borrow()
            .iter()
            .all(|(tp, at)| *at >= self.log.end(tp))
    }
}

/// Writes to a [`MemoryLog`] when flushed (records sent but not flushed are in flight). A flush
/// can be told to fail: its records are lost, as when the broker refused them.
pub struct MemoryOutbox {
    log: MemoryLog,
    pending: Vec<Pending>,
    /// Fail the flush after this many successful ones.
    fail_after: Option<usize>,
    pub flushes: usize,
}

struct Pending {
    topic: String,
    partition: Option<i32>,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
}

impl MemoryOutbox {
    pub fn new(log: &MemoryLog) -> MemoryOutbox {
        MemoryOutbox {
            log: log.clone(),
            pending: Vec::new(),
            fail_after: None,
            flushes: 0,
        }
    }

    /// The flush after `n` successful ones fails.
    pub fn fail_after(&mut self, n: usize) {
        self.fail_after = Some(self.flushes + n);
    }
}

impl Outbox for MemoryOutbox {
    fn send(&mut self, rec: OutRecord<'_>) -> Result<(), StageError> {
        self.pending.push(Pending {
            topic: rec.topic.to_owned(),
            partition: rec.partition,
            key: rec.key.to_vec(),
            value: rec.value.map(<[u8]>::to_vec),
            headers: rec
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect(),
        });
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StageError> {
        if self.fail_after == Some(self.flushes) {
            self.fail_after = None;
            self.pending.clear();
            return Err(StageError::Delivery {
                stage: "memory",
                error: "refused by the test".into(),
            });
        }
        for p in self.pending.drain(..) {
            let headers: Vec<(&str, &[u8])> = p
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_slice()))
                .collect();
            self.log.append(&OutRecord {
                topic: &p.topic,
                partition: p.partition,
                key: &p.key,
                value: p.value.as_deref(),
                headers: &headers,
            });
        }
        self.flushes += 1;
        Ok(())
    }
}
