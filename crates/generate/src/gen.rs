//! Case generation: the state shared by the three source models and the hand-off of rendered
//! records (with their arrival time and any extra hold-back) to the stream pipeline.

use crate::invalid::{corrupt, Defect};
use crate::json::push_padded;
use crate::rng::{mix64, Rng};
use crate::time::{day_of, Calendar, Profile, DAY, HOUR};
use crate::world::World;
use crate::SourceKind;
use std::sync::Arc;

/// Everything read-only during generation.
#[derive(Debug)]
pub(crate) struct Env {
    pub world: World,
    pub cal: Calendar,
    pub profile: Profile,
}

/// A rendered record on its way into the stream.
#[derive(Debug)]
pub(crate) struct Emit {
    /// When the record reaches the platform (local seconds): the stream is ordered by this.
    pub arrival: i64,
    /// Extra hold-back in stream positions (a record deliberately sent late by its system).
    pub hold: u64,
    pub source: SourceKind,
    pub bytes: Vec<u8>,
}

pub(crate) struct Gen {
    pub env: Arc<Env>,
    pub rng: Rng,
    pub invalid_rate: f64,
    first_day: i64,
    /// Per-day sequence numbers of hotline orders and onenet applications (bounded by the
    /// span in days, not by the number of records).
    hot_seq: Vec<u32>,
    one_seq: Vec<u32>,
    pub bdc_seq: u64,
    event_seq: u64,
    record_seq: u64,
    salt: u64,
    /// Stream positions per second of event time (for hold-backs expressed in time).
    pub pos_per_sec: f64,
    /// The record being rendered.
    pub buf: Vec<u8>,
    /// The current case's id (orderNo / PROJID / SLBH).
    pub case_id: Vec<u8>,
    /// Per-case constant tail of records (onenet applicant part, bdc columns 5–9).
    pub tail: Vec<u8>,
    /// Records of the current case.
    pub out: Vec<Emit>,
}

impl Gen {
    pub(crate) fn new(
        env: Arc<Env>,
        seed: u64,
        invalid_rate: f64,
        first_day: i64,
        days: u32,
        pos_per_sec: f64,
    ) -> Gen {
        let slots = days as usize + 64;
        Gen {
            env,
            rng: Rng::new(seed),
            invalid_rate,
            first_day,
            hot_seq: vec![0; slots],
            one_seq: vec![0; slots],
            bdc_seq: 0,
            event_seq: 0,
            record_seq: 0,
            salt: mix64(seed ^ 0x1234_5ABC_DEF0_9876),
            pos_per_sec,
            buf: Vec::with_capacity(1024),
            case_id: Vec::with_capacity(32),
            tail: Vec::with_capacity(256),
            out: Vec::with_capacity(64),
        }
    }

    /// The next sequence number of the day of `t` (1-based).
    pub(crate) fn day_seq(&mut self, hotline: bool, t: i64) -> u32 {
        let v = if hotline {
            &mut self.hot_seq
        } else {
            &mut self.one_seq
        };
        // Out-of-span days share the edge slots; ids stay unique because the date is part of
        // the id and each slot only counts up.
        let i = (day_of(t) - self.first_day).clamp(0, v.len() as i64 - 1) as usize;
        v[i] += 1;
        v[i]
    }

    #[cfg(test)]
    pub(crate) fn day_slots(&self) -> usize {
        self.hot_seq.len().max(self.one_seq.len())
    }

    /// A UUID-like, run-unique hex id: the low 64 bits are a bijection of a counter.
    pub(crate) fn push_event_id(&mut self) {
        self.event_seq += 1;
        let lo = mix64(self.event_seq.wrapping_add(self.salt));
        let hi = mix64(lo ^ self.salt.rotate_left(17));
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let b = &mut self.buf;
        let x = ((hi as u128) << 64) | lo as u128;
        for i in 0..32 {
            if matches!(i, 8 | 12 | 16 | 20) {
                b.push(b'-');
            }
            let nib = if i == 12 {
                4
            } else {
                ((x >> (124 - 4 * i)) & 15) as usize
            };
            b.push(HEX[nib]);
        }
    }

    /// The next onenet record serial.
    pub(crate) fn push_record_serial(&mut self) {
        self.record_seq += 1;
        push_padded(&mut self.buf, self.record_seq, 7);
    }

    /// Finishes the record in `buf`: maybe makes it deliberately invalid, then queues it.
    pub(crate) fn emit(&mut self, source: SourceKind, arrival: i64, hold: u64) {
        let bytes = if self.invalid_rate > 0.0 && self.rng.chance(self.invalid_rate) {
            let defect = Defect::ALL[self.rng.index(Defect::ALL.len())];
            corrupt(source, &self.buf, defect, &mut self.rng)
        } else {
            self.buf.as_slice().to_vec()
        };
        self.buf.clear();
        self.out.push(Emit {
            arrival,
            hold,
            source,
            bytes,
        });
    }

    /// Arrival of a record written at `t` by a system that syncs in real time (seconds) or in a
    /// nightly batch.
    #[inline]
    pub(crate) fn arrival(&mut self, t: i64, batch: bool) -> i64 {
        if batch {
            (day_of(t) + 1) * DAY + HOUR + self.rng.range(0, 3 * HOUR)
        } else {
            t + self.rng.range(1, 120)
        }
    }

    /// Hold-back (in stream positions) for a record that must arrive about `secs` later.
    #[inline]
    pub(crate) fn hold_for(&self, secs: i64) -> u64 {
        ((secs.max(0) as f64 * self.pos_per_sec) as u64).max(1)
    }
}
