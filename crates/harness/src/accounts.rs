//! One accounting of every record, for every harness.
//!
//! Each record read gets outcomes, recorded here and nowhere else: normalization says
//! [`Outcome::Accepted`] or [`Outcome::Rejected`], and [`Outcome::Normalized`] once for each
//! event an accepted record gives (one, or for a snapshot row of an export one per filled
//! stage); each normalized event then becomes exactly one of [`Outcome::Event`],
//! [`Outcome::Duplicate`], [`Outcome::Conflict`], [`Outcome::Ignored`], [`Outcome::Retired`],
//! [`Outcome::Superseded`] or [`Outcome::Undecodable`]. So, once every record has gone through:
//!
//! ```text
//! read       = accepted + rejected
//! normalized = events + duplicates + conflicts + ignored + retired + superseded + undecodable
//! ```
//!
//! `normalize` and `replay` record both outcomes of a line at once; in `run` the normalize
//! stage records the first and the engine stage the second, so while records are in flight the
//! second equation runs behind, and an at-least-once redelivery after a crash shows up as
//! extra reads and duplicates. [`Accounts`] renders `summary.json` and the terminal table;
//! `run`'s metrics read the same [`SourceCounts`].

use govstream_engine::Applied;
use govstream_normalize::{Reason, Seen};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What became of a record, at one step.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Normalization accepted the record (every copy counts).
    Accepted,
    /// One event of an accepted record (every copy counts).
    Normalized,
    /// Normalization refused it, for this reason (it goes to the dead-letter output).
    Rejected(Reason),
    /// The first copy of its record id: written out (`normalize`) or folded into its case.
    Event,
    /// A later copy, identical after normalization: dropped.
    Duplicate,
    /// A later copy with different content: dropped, the first copy wins.
    Conflict,
    /// A stage the engine has no use for in its case kind (e.g. an unspecified stage).
    Ignored,
    /// A record of a case that retention retired (rule 17): to the dead-letter output.
    Retired,
    /// An event of an export row that a newer version of the row replaced.
    Superseded,
    /// A normalized event that did not decode (`run` only: the normalized topic had a record
    /// no govstream wrote).
    Undecodable,
}

impl From<Applied> for Outcome {
    fn from(a: Applied) -> Outcome {
        match a {
            Applied::New => Outcome::Event,
            Applied::Duplicate => Outcome::Duplicate,
            Applied::Conflict => Outcome::Conflict,
            Applied::Ignored => Outcome::Ignored,
            Applied::Retired => Outcome::Retired,
            Applied::Superseded => Outcome::Superseded,
        }
    }
}

impl From<Seen> for Outcome {
    fn from(s: Seen) -> Outcome {
        match s {
            Seen::First => Outcome::Event,
            Seen::Duplicate => Outcome::Duplicate,
            Seen::Conflict => Outcome::Conflict,
            Seen::Retired => Outcome::Retired,
        }
    }
}

/// The counts of one source. Serialized as one entry of `summary.json`'s `sources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceCounts {
    /// Records read: non-empty file lines (CSV: rows after the header row), or messages
    /// consumed from the source's topic.
    pub read: u64,
    /// Records normalization accepted, every copy (`read − rejected`).
    pub accepted: u64,
    /// Events the accepted records gave, every copy (= `accepted`, except for snapshot rows
    /// of an export, which give one event per filled stage).
    pub normalized: u64,
    /// First copies of their record id: written out, or folded into their case.
    pub events: u64,
    /// Later identical copies, dropped.
    pub duplicates: u64,
    /// Later copies with different content, dropped (first wins).
    pub conflicts: u64,
    /// Normalized records the engine has no use for.
    pub ignored: u64,
    /// Records of cases retention retired (`retired_case` in the dead-letter output).
    pub retired: u64,
    /// Events of export rows that a newer version of the row replaced.
    pub superseded: u64,
    /// Normalized events that did not decode (`run` only).
    pub undecodable: u64,
    /// Rejected records by reason code (every code present, zeros included).
    pub rejected: BTreeMap<&'static str, u64>,
    /// Latest event instant of the source's normalized records (UTC microseconds).
    #[serde(skip)]
    pub watermark_us: Option<i64>,
}

impl Default for SourceCounts {
    fn default() -> SourceCounts {
        SourceCounts {
            read: 0,
            accepted: 0,
            normalized: 0,
            events: 0,
            duplicates: 0,
            conflicts: 0,
            ignored: 0,
            retired: 0,
            superseded: 0,
            undecodable: 0,
            rejected: Reason::ALL.iter().map(|r| (r.code(), 0)).collect(),
            watermark_us: None,
        }
    }
}

impl SourceCounts {
    /// One record read.
    pub fn read(&mut self) {
        self.read += 1;
    }

    /// One outcome of a record: the one place where outcomes are counted.
    pub fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Accepted => self.accepted += 1,
            Outcome::Normalized => self.normalized += 1,
            Outcome::Rejected(r) => *self.rejected.entry(r.code()).or_default() += 1,
            Outcome::Event => self.events += 1,
            Outcome::Duplicate => self.duplicates += 1,
            Outcome::Conflict => self.conflicts += 1,
            Outcome::Ignored => self.ignored += 1,
            Outcome::Retired => self.retired += 1,
            Outcome::Superseded => self.superseded += 1,
            Outcome::Undecodable => self.undecodable += 1,
        }
    }

    /// A normalized record's event instant (moves the source's watermark).
    pub fn saw_instant(&mut self, t: i64) {
        self.watermark_us = Some(self.watermark_us.map_or(t, |w| w.max(t)));
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// What became of the normalized records so far.
    pub fn settled(&self) -> u64 {
        self.events
            + self.duplicates
            + self.conflicts
            + self.ignored
            + self.retired
            + self.superseded
            + self.undecodable
    }

    /// Whether there is nothing counted.
    pub fn is_empty(&self) -> bool {
        *self == SourceCounts::default()
    }

    /// Adds counts gathered apart (a stage's counts since its last report, another source's).
    pub fn add(&mut self, other: &SourceCounts) {
        self.read += other.read;
        self.accepted += other.accepted;
        self.normalized += other.normalized;
        self.events += other.events;
        self.duplicates += other.duplicates;
        self.conflicts += other.conflicts;
        self.ignored += other.ignored;
        self.retired += other.retired;
        self.superseded += other.superseded;
        self.undecodable += other.undecodable;
        for (k, v) in &other.rejected {
            *self.rejected.entry(k).or_default() += v;
        }
        if let Some(w) = other.watermark_us {
            self.saw_instant(w);
        }
    }
}

/// The counts of every source, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Accounts {
    pub sources: BTreeMap<String, SourceCounts>,
}

impl Accounts {
    /// The counts of `source` (created empty on first use).
    pub fn source(&mut self, source: &str) -> &mut SourceCounts {
        if !self.sources.contains_key(source) {
            self.sources
                .insert(source.to_owned(), SourceCounts::default());
        }
        self.sources
            .get_mut(source)
            .expect("the source was inserted above")
    }

    /// The counts of every source added up.
    pub fn total(&self) -> SourceCounts {
        let mut t = SourceCounts::default();
        for s in self.sources.values() {
            t.add(s);
        }
        t
    }

    /// `summary.json`: `{"sources": {name: counts}}`, pretty-printed, ending in a newline.
    pub fn summary_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The terminal table: one line per source and a total, then the rejections by reason
    /// and the columns that are not always zero.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let row = |out: &mut String, name: &str, s: &SourceCounts| {
            let _ = writeln!(
                out,
                "{:<12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>10} {:>12}",
                name,
                s.read,
                s.accepted,
                s.normalized,
                s.events,
                s.duplicates,
                s.conflicts,
                s.rejected_total()
            );
        };
        let _ = writeln!(
            out,
            "{:<12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>10} {:>12}",
            "source",
            "read",
            "accepted",
            "normalized",
            "events",
            "duplicates",
            "conflicts",
            "rejected"
        );
        for (name, s) in &self.sources {
            row(&mut out, name, s);
        }
        let total = self.total();
        row(&mut out, "total", &total);
        let reasons: Vec<String> = total
            .rejected
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| format!("{r}={n}"))
            .collect();
        if !reasons.is_empty() {
            let _ = writeln!(out, "rejected by reason: {}", reasons.join(" "));
        }
        for (n, what) in [
            (
                total.ignored,
                "normalized records the engine has no use for (ignored)",
            ),
            (
                total.retired,
                "records of retired cases (retired_case, in the dead-letter output)",
            ),
            (
                total.superseded,
                "events of export rows a newer version replaced (superseded)",
            ),
            (total.undecodable, "normalized events that did not decode"),
        ] {
            if n > 0 {
                let _ = writeln!(out, "{what}: {n}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_lands_in_one_count_and_the_equations_hold() {
        let mut a = Accounts::default();
        let outcomes = [
            Outcome::Event,
            Outcome::Duplicate,
            Outcome::Conflict,
            Outcome::Ignored,
            Outcome::Retired,
            Outcome::Superseded,
            Outcome::Undecodable,
        ];
        for o in outcomes {
            let s = a.source("onenet");
            s.read();
            s.record(Outcome::Accepted);
            s.record(Outcome::Normalized);
            s.record(o);
        }
        // A snapshot row of an export: one record, two events.
        let s = a.source("nyc311");
        s.read();
        s.record(Outcome::Accepted);
        for o in [Outcome::Event, Outcome::Superseded] {
            s.record(Outcome::Normalized);
            s.record(o);
        }
        let s = a.source("hotline");
        s.read();
        s.record(Outcome::Rejected(Reason::BadTimestamp));
        let t = a.total();
        assert_eq!(t.read, 9);
        assert_eq!(t.read, t.accepted + t.rejected_total());
        assert_eq!(t.normalized, t.settled());
        assert_eq!((t.normalized, t.superseded), (9, 2));
        assert_eq!(t.rejected["bad_timestamp"], 1);
        assert_eq!(t.rejected.len(), Reason::ALL.len());
        let json: serde_json::Value = serde_json::from_str(&a.summary_json()).unwrap();
        assert_eq!(json["sources"]["onenet"]["ignored"], 1);
        assert_eq!(json["sources"]["hotline"]["rejected"]["bad_timestamp"], 1);
        assert!(json["sources"]["onenet"].get("watermark_us").is_none());
        let table = a.table();
        assert!(
            table.contains("rejected by reason: bad_timestamp=1"),
            "{table}"
        );
        assert!(table.contains("ignored): 1"), "{table}");
    }

    #[test]
    fn counts_gathered_apart_add_up() {
        let mut a = SourceCounts::default();
        let mut b = SourceCounts::default();
        a.read();
        a.saw_instant(5);
        b.record(Outcome::Event);
        b.saw_instant(3);
        a.add(&b);
        assert_eq!((a.read, a.events, a.watermark_us), (1, 1, Some(5)));
        assert!(!a.is_empty());
        assert!(SourceCounts::default().is_empty());
    }
}
