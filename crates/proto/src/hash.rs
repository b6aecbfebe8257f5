//! The two hashes whose values outlive a process, in one place:
//!
//! - [`StableHasher`] (FNV-1a, 64 bits): placements and snapshots that must not change between
//!   versions — the partials partition of an aggregate key, the fingerprint of a published
//!   aggregate, the small key maps of the JSON field index.
//! - [`event_fingerprint`]: what an event says, hashed from its canonical protobuf encoding, so
//!   every field — including one added to the schema later — tells an identical copy of a
//!   record from a conflicting one. Both the file dedupe and the engine use it.

use crate::v1::CaseEvent;
use prost::Message;
use std::cell::RefCell;
use std::hash::Hasher;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over the bytes written: the same value in every process and every version.
#[derive(Clone, Copy, Debug)]
pub struct StableHasher(u64);

impl Default for StableHasher {
    fn default() -> StableHasher {
        StableHasher(FNV_OFFSET)
    }
}

impl Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The stable hash of `bytes`.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h = StableHasher::default();
    h.write(bytes);
    h.finish()
}

/// A fingerprint of everything an event says: XXH3 of its canonical encoding (prost writes
/// fields in field-number order and leaves defaults out, so equal events encode equally).
/// Stable across processes and versions of the schema that do not change the event.
pub fn event_fingerprint(ev: &CaseEvent) -> u64 {
    thread_local! {
        static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    BUF.with(|b| {
        let mut buf = b.borrow_mut();
        buf.clear();
        // Encoding into a Vec cannot fail (it grows as needed).
        let _ = ev.encode(&mut *buf);
        xxhash_rust::xxh3::xxh3_64(&buf)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_hash_is_fnv1a() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn every_field_counts_in_the_fingerprint() {
        let ev = CaseEvent {
            record_id: "r1".into(),
            region: "652801".into(),
            ..Default::default()
        };
        let fp = event_fingerprint(&ev);
        assert_eq!(fp, event_fingerprint(&ev.clone()));
        let mut other = ev.clone();
        other.legal_days = Some(1);
        assert_ne!(fp, event_fingerprint(&other));
        let mut other = ev;
        other.caller_pseudonym = "p".into();
        assert_ne!(fp, event_fingerprint(&other));
    }
}
