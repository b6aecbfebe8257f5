//! The service-item catalogue: every accepted version of every item's listing, and the
//! event-time join of applications with it (metrics.md rules 14–16).
//!
//! The join is exact and independent of arrival order: an application uses the listing in
//! force at its acceptance instant, whatever arrived when. A listing that arrives after the
//! applications it governs (or a version with an earlier `UPDATETIME` than cases already
//! counted) makes the engine retract and re-add the contributions of the cases joined on its
//! item (`Engine::apply_listing`); this is stricter than a stream–table join that uses whatever
//! the table holds when the event arrives.

use crate::fasthash::FastMap;
use crate::intern::Sym;
use crate::schema::{item, COUNTERS};
use govstream_proto::v1 as pb;

/// One accepted version of an item's listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    pub version: u32,
    /// In force from this instant (`UPDATETIME`).
    pub at: i64,
    /// `STATUS` 1: counts; 2 and 3 are in force but count nowhere (rule 14).
    pub in_force: bool,
    pub max_visits: u32,
    pub online_depth: u32,
    pub immediate: bool,
    /// `LEGALDAYS` / `PROMISEDAYS` of a `CN` listing (0 for `JB`).
    pub legal_days: u32,
    pub promise_days: u32,
    /// The listing's own region (6 digits) and department.
    pub region: Sym,
    pub dept: Sym,
    /// `event_fingerprint` of the record: tells a repeated copy from a conflicting one.
    pub fingerprint: u64,
}

impl Listing {
    /// The listing of a normalized catalogue record (dimension symbols interned by the caller).
    pub fn of_event(ev: &pb::CaseEvent, region: Sym, dept: Sym, fingerprint: u64) -> Listing {
        let immediate = ev.item_type() == pb::ItemType::Immediate;
        Listing {
            version: ev.listing_version,
            at: ev.event_time_us,
            in_force: ev.listing_status() == pb::ListingStatus::InForce,
            max_visits: ev.max_visits,
            online_depth: ev.online_depth,
            immediate,
            legal_days: if immediate {
                0
            } else {
                ev.legal_days.unwrap_or(0)
            },
            promise_days: if immediate {
                0
            } else {
                ev.limit.as_ref().map_or(0, |l| l.value)
            },
            region,
            dept,
            fingerprint,
        }
    }

    /// What the listing adds to its (region, dept) key of family `item` while it is in force:
    /// nothing unless `STATUS` is 1.
    pub fn item_counters(&self) -> [i64; COUNTERS] {
        let mut c = [0i64; COUNTERS];
        if !self.in_force {
            return c;
        }
        c[item::ITEMS as usize] = 1;
        c[item::ONE_TRIP_ITEMS as usize] = i64::from(self.max_visits <= 1);
        c[item::ZERO_TRIP_ITEMS as usize] = i64::from(self.max_visits == 0);
        c[item::FULLY_ONLINE_ITEMS as usize] = i64::from(self.online_depth == 4);
        c[item::IMMEDIATE_ITEMS as usize] = i64::from(self.immediate);
        c[item::LEGAL_DAYS as usize] = i64::from(self.legal_days);
        c[item::PROMISE_DAYS as usize] = i64::from(self.promise_days);
        c
    }
}

/// What an application's listing promises, as the declared counters need it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Declared {
    /// A listing with `STATUS` 1 is in force: it promises at most `max_visits` visits.
    Listed { max_visits: u32 },
    /// No listing is in force, or one with `STATUS` 2 or 3.
    Unlisted,
}

/// The versions of one item, and the application cases joined on it.
#[derive(Clone, Debug, Default)]
pub struct ItemListings {
    /// Sorted by (`at`, `version`).
    pub versions: Vec<Listing>,
    /// Keys of application cases whose item this is (or was: a case whose item changed stays
    /// listed here; the engine checks before it recomputes).
    pub cases: Vec<u128>,
}

impl ItemListings {
    /// The listing in force at `t`: among versions with `at ≤ t`, the highest (version, at).
    pub fn in_force(&self, t: i64) -> Option<&Listing> {
        let n = self.versions.partition_point(|l| l.at <= t);
        self.versions[..n].iter().max_by_key(|l| (l.version, l.at))
    }
}

/// What became of a catalogue record.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Added {
    New,
    Duplicate,
    Conflict,
}

/// Every listing accepted so far, by item symbol.
#[derive(Clone, Debug, Default)]
pub struct Catalogue {
    /// A catalogue source is configured (even an empty one): applications without a listing
    /// count as `unlisted` (rule 15's table).
    pub configured: bool,
    pub items: FastMap<Sym, ItemListings>,
}

impl Catalogue {
    /// Adds a version of `item`'s listing. The record id is (TASKCODE, VERSION, UPDATETIME):
    /// a second record with the same version and instant is a duplicate when identical, else a
    /// conflict (the first wins).
    pub fn add(&mut self, item: Sym, l: Listing) -> Added {
        let e = self.items.entry(item).or_default();
        if let Some(old) = e
            .versions
            .iter()
            .find(|o| o.version == l.version && o.at == l.at)
        {
            return if old.fingerprint == l.fingerprint {
                Added::Duplicate
            } else {
                Added::Conflict
            };
        }
        let at = e
            .versions
            .partition_point(|o| (o.at, o.version) <= (l.at, l.version));
        e.versions.insert(at, l);
        Added::New
    }

    /// What the listing in force for `item` at `t` declares; `None` when no catalogue source
    /// is configured (the declared counters and `unlisted` stay 0).
    pub fn declared(&self, item: Sym, t: i64) -> Option<Declared> {
        if !self.configured {
            return None;
        }
        Some(match self.items.get(&item).and_then(|i| i.in_force(t)) {
            Some(l) if l.in_force => Declared::Listed {
                max_visits: l.max_visits,
            },
            _ => Declared::Unlisted,
        })
    }

    /// Records that application case `key` joins on `item`.
    pub fn join(&mut self, item: Sym, key: u128) {
        if self.configured {
            self.items.entry(item).or_default().cases.push(key);
        }
    }

    /// The earliest instant of any accepted listing (any status).
    pub fn earliest(&self) -> Option<i64> {
        self.items
            .values()
            .filter_map(|i| i.versions.first().map(|l| l.at))
            .min()
    }

    /// Family `item` as of instant `t` (a window's end): per (region, dept) of the listings
    /// in force, their counters.
    pub fn snapshot_at(&self, t: i64) -> FastMap<(Sym, Sym), [i64; COUNTERS]> {
        let mut out: FastMap<(Sym, Sym), [i64; COUNTERS]> = FastMap::default();
        for i in self.items.values() {
            if let Some(l) = i.in_force(t) {
                let c = l.item_counters();
                if c.iter().any(|v| *v != 0) {
                    let e = out.entry((l.region, l.dept)).or_insert([0; COUNTERS]);
                    for (a, b) in e.iter_mut().zip(c) {
                        *a += b;
                    }
                }
            }
        }
        out
    }

    pub fn listings(&self) -> usize {
        self.items.values().map(|i| i.versions.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(version: u32, at: i64, status_in_force: bool, max_visits: u32) -> Listing {
        Listing {
            version,
            at,
            in_force: status_in_force,
            max_visits,
            online_depth: 4,
            immediate: false,
            legal_days: 20,
            promise_days: 5,
            region: Sym::EMPTY,
            dept: Sym::EMPTY,
            fingerprint: u64::from(version) * 1000 + at as u64,
        }
    }

    #[test]
    fn the_highest_version_among_those_already_updated_is_in_force() {
        let mut c = Catalogue {
            configured: true,
            ..Default::default()
        };
        let x = Sym(7);
        // Version 3 published before version 2 took effect: at 250 version 3 wins.
        assert_eq!(c.add(x, listing(2, 200, true, 2)), Added::New);
        assert_eq!(c.add(x, listing(3, 150, true, 1)), Added::New);
        assert_eq!(c.add(x, listing(1, 100, true, 0)), Added::New);
        assert_eq!(c.add(x, listing(1, 100, true, 0)), Added::Duplicate);
        let mut other = listing(1, 100, true, 0);
        other.fingerprint = 1;
        assert_eq!(c.add(x, other), Added::Conflict);
        let at = |t| c.items[&x].in_force(t).map(|l| l.version);
        assert_eq!(at(99), None);
        assert_eq!(at(100), Some(1));
        assert_eq!(at(150), Some(3));
        assert_eq!(at(250), Some(3));
        assert_eq!(c.declared(x, 99), Some(Declared::Unlisted));
        assert_eq!(c.declared(x, 120), Some(Declared::Listed { max_visits: 0 }));
        assert_eq!(c.declared(Sym(8), 120), Some(Declared::Unlisted));
        c.add(x, listing(4, 300, false, 0));
        assert_eq!(c.declared(x, 300), Some(Declared::Unlisted));
        assert_eq!(c.earliest(), Some(100));
        c.configured = false;
        assert_eq!(c.declared(x, 120), None);
    }

    #[test]
    fn only_listings_with_status_1_count_in_family_item() {
        let mut l = listing(1, 0, true, 1);
        let c = l.item_counters();
        assert_eq!(c[item::ITEMS as usize], 1);
        assert_eq!(c[item::ONE_TRIP_ITEMS as usize], 1);
        assert_eq!(c[item::ZERO_TRIP_ITEMS as usize], 0);
        assert_eq!(c[item::FULLY_ONLINE_ITEMS as usize], 1);
        assert_eq!(c[item::PROMISE_DAYS as usize], 5);
        l.in_force = false;
        assert_eq!(l.item_counters(), [0; COUNTERS]);
    }
}
