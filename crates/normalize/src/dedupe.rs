//! Recognises repeated upstream records (same source, same record id).

use govstream_proto::v1::CaseEvent;
use std::collections::HashMap;

/// What a record is, relative to the records seen before it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// The first accepted copy of its record id.
    First,
    /// Another copy, identical after normalization.
    Duplicate,
    /// Another copy whose normalized content differs: the first copy wins; counted apart so
    /// operators can chase the upstream system.
    Conflict,
    /// A record of a case that retention retired (metrics.md rule 17): changes nothing, goes to
    /// the dead-letter output with reason `retired_case`. Only the engine says this.
    Retired,
}

/// In-memory set of accepted record ids with a fingerprint of their normalized content.
/// Only accepted records are observed: a rejected copy does not reserve its id.
#[derive(Default, Debug)]
pub struct Deduplicator {
    seen: HashMap<(String, String), u64>,
}

impl Deduplicator {
    pub fn observe(&mut self, ev: &CaseEvent) -> Seen {
        let fp = govstream_proto::hash::event_fingerprint(ev);
        match self.seen.entry((ev.source.clone(), ev.record_id.clone())) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(fp);
                Seen::First
            }
            std::collections::hash_map::Entry::Occupied(o) if *o.get() == fp => Seen::Duplicate,
            std::collections::hash_map::Entry::Occupied(_) => Seen::Conflict,
        }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}
