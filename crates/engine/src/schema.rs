//! The aggregate vocabulary, in one place: the families, the names of their dimensions, their
//! counters in canonical order (metrics.md's tables, rule 12), and the conversions between the
//! engine's arrays of counters and the protobuf records.
//!
//! Everything that names a family, a dimension or a counter reads it here: the engine's
//! contribution rules (through the index constants), rendering, the totals stage, metrics,
//! config validation and `inspect`. Adding a counter is one line in [`counters!`]'s invocation
//! below (plus its field in `proto/govstream/v1/aggregate.proto` and the rule that counts it).

use crate::intern::Sym;
use govstream_proto::v1 as pb;

/// Counters of a cell: room for the larger family's counters (`overdue_open`, a snapshot, is
/// kept apart); a family uses the first `family.counter_names().len()`. Also the width of the
/// counter arrays in checkpoints and partials (shorter arrays read back zero-padded).
pub const COUNTERS: usize = 14;
const _: () = assert!(COUNTERS >= max(app::NAMES.len(), max(hot::NAMES.len(), item::NAMES.len())));

/// The snapshot counter every family ends with (rule 12: last).
pub const OVERDUE_OPEN: &str = "overdue_open";

/// Every dimension name of any family (the labels a metric may carry).
pub const DIMENSION_NAMES: [&str; 5] = ["region", "dept", "item", "category", "channel"];

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// Defines a family's counters: an index constant per counter (its position in the canonical
/// order), `NAMES` in that order, and the conversions to and from its protobuf message.
macro_rules! counters {
    ($(#[$doc:meta])* $module:ident, $message:ident, { $($konst:ident => $field:ident),+ $(,)? }) => {
        counters!(@family $(#[$doc])* $module, $message, [overdue_open], { $($konst => $field),+ });
    };
    ($(#[$doc:meta])* $module:ident, $message:ident, snapshots, { $($konst:ident => $field:ident),+ $(,)? }) => {
        counters!(@family $(#[$doc])* $module, $message, [], { $($konst => $field),+ });
    };
    (@family $(#[$doc:meta])* $module:ident, $message:ident, [$($overdue:ident)?], { $($konst:ident => $field:ident),+ }) => {
        $(#[$doc])*
        pub mod $module {
            use super::{pb, COUNTERS};

            counters!(@index 0u8, $($konst)+);

            /// Counter names in canonical order (`overdue_open` excluded).
            pub const NAMES: &[&str] = &[$(stringify!($field)),+];

            /// The protobuf counters: `c` in canonical order, negative values (a retraction
            /// not yet matched) shown as 0.
            #[allow(unused_variables)]
            pub fn to_pb(c: &[i64; COUNTERS], overdue_open: i64) -> pb::$message {
                pb::$message {
                    $($field: c[$konst as usize].max(0) as u64,)+
                    $($overdue: overdue_open.max(0) as u64,)?
                }
            }

            /// Canonical order and `overdue_open` (0 for a family without it) of protobuf
            /// counters.
            pub fn from_pb(p: &pb::$message) -> ([u64; COUNTERS], u64) {
                let mut c = [0u64; COUNTERS];
                $(c[$konst as usize] = p.$field;)+
                (c, 0 $(+ p.$overdue)?)
            }
        }
    };
    (@index $i:expr, $k:ident $($rest:ident)*) => {
        pub const $k: u8 = $i;
        counters!(@index $i + 1, $($rest)*);
    };
    (@index $i:expr,) => {};
}

counters!(
    /// Counters of family `application` (metrics.md), by index.
    app, ApplicationCounters, {
        SUBMITTED => submitted,
        ACCEPTED => accepted,
        COMPLETED => completed,
        ON_TIME => on_time,
        AT_MOST_ONE_TRIP => at_most_one_trip,
        ZERO_TRIP => zero_trip,
        WITHDRAWN => withdrawn,
        REVIEWS => reviews,
        BAD_REVIEWS => bad_reviews,
        DECLARED_ONE_TRIP => declared_one_trip,
        DECLARED_ONE_TRIP_KEPT => declared_one_trip_kept,
        DECLARED_ZERO_TRIP => declared_zero_trip,
        DECLARED_ZERO_TRIP_KEPT => declared_zero_trip_kept,
        UNLISTED => unlisted,
    }
);

counters!(
    /// Counters of family `hotline` (metrics.md), by index.
    hot, HotlineCounters, {
        RECEIVED => received,
        ANSWERED_DIRECTLY => answered_directly,
        DISPATCHED => dispatched,
        SIGNED => signed,
        SIGNED_ON_TIME => signed_on_time,
        RETURNED => returned,
        URGED => urged,
        CLOSED => closed,
        CLOSED_ON_TIME => closed_on_time,
        CALLBACKS => callbacks,
        SATISFIED => satisfied,
        UNREACHABLE => unreachable,
        REOPENED => reopened,
    }
);

counters!(
    /// Counters of family `item` (metrics.md): snapshots of the listings in force at the end of
    /// the window, by index. No `overdue_open`, no duration.
    item, ItemCounters, snapshots, {
        ITEMS => items,
        ONE_TRIP_ITEMS => one_trip_items,
        ZERO_TRIP_ITEMS => zero_trip_items,
        FULLY_ONLINE_ITEMS => fully_online_items,
        IMMEDIATE_ITEMS => immediate_items,
        LEGAL_DAYS => legal_days,
        PROMISE_DAYS => promise_days,
    }
);

/// A rate of metrics.md: a numerator over a denominator, both from one family's counters.
/// Rates are never stored; consumers derive them from the counters.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    pub family: Family,
    /// `<name>_ratio` in metrics, e.g. `at_most_one_trip`.
    pub name: &'static str,
    /// (numerator, denominator) of a cell's counters.
    pub parts: fn(&[i64; COUNTERS]) -> (i64, i64),
}

impl Rate {
    /// The rate, or `None` when the denominator is not positive (no cases: no rate, never 0).
    pub fn value(&self, c: &[i64; COUNTERS]) -> Option<f64> {
        let (n, d) = (self.parts)(c);
        (d > 0).then(|| n as f64 / d as f64)
    }
}

const fn at(c: &[i64; COUNTERS], i: u8) -> i64 {
    c[i as usize]
}

/// Every rate of metrics.md, by family.
pub const RATES: &[Rate] = &[
    Rate {
        family: Family::Application,
        name: "at_most_one_trip",
        parts: |c| (at(c, app::AT_MOST_ONE_TRIP), at(c, app::COMPLETED)),
    },
    Rate {
        family: Family::Application,
        name: "zero_trip",
        parts: |c| (at(c, app::ZERO_TRIP), at(c, app::COMPLETED)),
    },
    Rate {
        family: Family::Application,
        name: "on_time",
        parts: |c| (at(c, app::ON_TIME), at(c, app::COMPLETED)),
    },
    Rate {
        family: Family::Application,
        name: "bad_review",
        parts: |c| (at(c, app::BAD_REVIEWS), at(c, app::REVIEWS)),
    },
    Rate {
        family: Family::Application,
        name: "declared_one_trip_kept",
        parts: |c| {
            (
                at(c, app::DECLARED_ONE_TRIP_KEPT),
                at(c, app::DECLARED_ONE_TRIP),
            )
        },
    },
    Rate {
        family: Family::Application,
        name: "declared_zero_trip_kept",
        parts: |c| {
            (
                at(c, app::DECLARED_ZERO_TRIP_KEPT),
                at(c, app::DECLARED_ZERO_TRIP),
            )
        },
    },
    Rate {
        family: Family::Hotline,
        name: "closed_on_time",
        parts: |c| (at(c, hot::CLOSED_ON_TIME), at(c, hot::CLOSED)),
    },
    Rate {
        family: Family::Hotline,
        name: "satisfaction",
        parts: |c| {
            (
                at(c, hot::SATISFIED),
                at(c, hot::CALLBACKS) - at(c, hot::UNREACHABLE),
            )
        },
    },
    Rate {
        family: Family::Hotline,
        name: "signed_on_time",
        parts: |c| (at(c, hot::SIGNED_ON_TIME), at(c, hot::SIGNED)),
    },
    Rate {
        family: Family::Hotline,
        name: "answered_directly",
        parts: |c| (at(c, hot::ANSWERED_DIRECTLY), at(c, hot::RECEIVED)),
    },
    // The seed report's item-level figures: "70 % of items at most one trip", "77 % whole
    // process online", and how much shorter the promised limits are than the statutory ones.
    Rate {
        family: Family::Item,
        name: "one_trip",
        parts: |c| (at(c, item::ONE_TRIP_ITEMS), at(c, item::ITEMS)),
    },
    Rate {
        family: Family::Item,
        name: "fully_online",
        parts: |c| (at(c, item::FULLY_ONLINE_ITEMS), at(c, item::ITEMS)),
    },
    Rate {
        family: Family::Item,
        name: "time_limit_compression",
        parts: |c| {
            (
                at(c, item::LEGAL_DAYS) - at(c, item::PROMISE_DAYS),
                at(c, item::LEGAL_DAYS),
            )
        },
    },
];

/// The rate of `family` called `name`. Panics on a name that is not in [`RATES`] (a
/// programming error, caught by the tests of its callers).
pub fn rate(family: Family, name: &str) -> &'static Rate {
    RATES
        .iter()
        .find(|r| r.family == family && r.name == name)
        .unwrap_or_else(|| panic!("no rate {name} in family {}", family.name()))
}

/// An aggregate family. Its discriminant indexes per-family arrays.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Application = 0,
    Hotline = 1,
    /// The service-item catalogue: listings in force, by the listing's region and department.
    Item = 2,
}

impl Family {
    /// Every family, in rendering order (rule 12).
    pub const ALL: [Family; 3] = [Family::Application, Family::Hotline, Family::Item];

    /// The families of cases (with `overdue_open` and a duration histogram).
    pub const CASES: [Family; 2] = [Family::Application, Family::Hotline];

    /// The name in JSON, metrics and configuration.
    pub const fn name(self) -> &'static str {
        match self {
            Family::Application => "application",
            Family::Hotline => "hotline",
            Family::Item => "item",
        }
    }

    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Names of the key's dimensions, in key order (the values of a key follow this order;
    /// `item` keys have two).
    pub const fn dimension_names(self) -> &'static [&'static str] {
        match self {
            Family::Application => &["region", "dept", "item", "channel"],
            Family::Hotline => &["region", "dept", "category", "channel"],
            Family::Item => &["region", "dept"],
        }
    }

    /// Whether records have `overdue_open` (last among the counters) and a duration histogram.
    pub const fn of_cases(self) -> bool {
        !matches!(self, Family::Item)
    }

    /// Counter names in canonical order, `overdue_open` excluded (it comes last).
    pub const fn counter_names(self) -> &'static [&'static str] {
        match self {
            Family::Application => app::NAMES,
            Family::Hotline => hot::NAMES,
            Family::Item => item::NAMES,
        }
    }

    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn to_pb(self) -> pb::Family {
        match self {
            Family::Application => pb::Family::Application,
            Family::Hotline => pb::Family::Hotline,
            Family::Item => pb::Family::Item,
        }
    }

    pub fn from_pb(f: pb::Family) -> Option<Family> {
        match f {
            pb::Family::Application => Some(Family::Application),
            pb::Family::Hotline => Some(Family::Hotline),
            pb::Family::Item => Some(Family::Item),
            pb::Family::Unspecified => None,
        }
    }

    /// The family of protobuf counters.
    pub fn of_counters(c: &pb::aggregate_record::Counters) -> Family {
        match c {
            pb::aggregate_record::Counters::Application(_) => Family::Application,
            pb::aggregate_record::Counters::Hotline(_) => Family::Hotline,
            pb::aggregate_record::Counters::Item(_) => Family::Item,
        }
    }

    /// Protobuf counters of this family from the canonical array and the overdue snapshot.
    pub fn counters_to_pb(
        self,
        c: &[i64; COUNTERS],
        overdue_open: i64,
    ) -> pb::aggregate_record::Counters {
        match self {
            Family::Application => {
                pb::aggregate_record::Counters::Application(app::to_pb(c, overdue_open))
            }
            Family::Hotline => pb::aggregate_record::Counters::Hotline(hot::to_pb(c, overdue_open)),
            Family::Item => pb::aggregate_record::Counters::Item(item::to_pb(c, overdue_open)),
        }
    }
}

/// Family, canonical counter array and `overdue_open` of protobuf counters.
pub fn counters_from_pb(c: &pb::aggregate_record::Counters) -> (Family, [u64; COUNTERS], u64) {
    match c {
        pb::aggregate_record::Counters::Application(a) => {
            let (c, o) = app::from_pb(a);
            (Family::Application, c, o)
        }
        pb::aggregate_record::Counters::Hotline(h) => {
            let (c, o) = hot::from_pb(h);
            (Family::Hotline, c, o)
        }
        pb::aggregate_record::Counters::Item(i) => {
            let (c, o) = item::from_pb(i);
            (Family::Item, c, o)
        }
    }
}

/// The name of a granularity in JSON ("" when unspecified).
pub fn granularity_name(g: pb::Granularity) -> &'static str {
    match g {
        pb::Granularity::Day => "DAY",
        pb::Granularity::Month => "MONTH",
        pb::Granularity::Unspecified => "",
    }
}

/// An aggregate key from its parts; `dims` in the family's key order.
pub fn aggregate_key(
    family: Family,
    granularity: pb::Granularity,
    window: String,
    [region, dept, third, channel]: [String; 4],
) -> pb::AggregateKey {
    let (item, category) = match family {
        Family::Application => (third, String::new()),
        Family::Hotline => (String::new(), third),
        Family::Item => (String::new(), String::new()),
    };
    pb::AggregateKey {
        family: family.to_pb() as i32,
        granularity: granularity as i32,
        window,
        region,
        dept,
        item,
        category,
        channel,
    }
}

/// The family (application when unspecified) and dimension values of an aggregate key, in
/// the family's key order.
pub fn key_dimensions(key: &pb::AggregateKey) -> (Family, [&str; 4]) {
    let family = Family::from_pb(key.family()).unwrap_or(Family::Application);
    let third = match family {
        Family::Application => &key.item,
        Family::Hotline => &key.category,
        Family::Item => "",
    };
    (family, [&key.region, &key.dept, third, &key.channel])
}

/// One aggregate record, borrowed: what the canonical JSON rendering and the protobuf record
/// are both made from (`render::write_json`, [`Row::to_pb`]), so the two cannot drift apart.
#[derive(Clone, Debug, PartialEq)]
pub struct Row<'a> {
    pub family: Family,
    pub granularity: pb::Granularity,
    /// `yyyy-MM-dd` (DAY) or `yyyy-MM` (MONTH).
    pub window: &'a str,
    /// In the family's key order (an `item` key uses the first two).
    pub dims: [&'a str; 4],
    /// Canonical order; a family uses the first `counter_names().len()`.
    pub counters: [u64; COUNTERS],
    pub overdue_open: u64,
    /// Cumulative bucket counts (Prometheus `le`), one per bound and +Inf (none for `item`).
    pub buckets: &'a [u64],
    /// Total duration in working days.
    pub sum: f64,
    pub count: u64,
}

impl Row<'_> {
    pub fn to_pb(&self) -> pb::AggregateRecord {
        let c: [i64; COUNTERS] = self.counters.map(|v| v.min(i64::MAX as u64) as i64);
        let overdue = self.overdue_open.min(i64::MAX as u64) as i64;
        pb::AggregateRecord {
            key: Some(aggregate_key(
                self.family,
                self.granularity,
                self.window.to_owned(),
                self.dims.map(str::to_owned),
            )),
            counters: Some(self.family.counters_to_pb(&c, overdue)),
            duration: self.family.of_cases().then(|| pb::DurationHistogram {
                cumulative_counts: self.buckets.to_vec(),
                sum: self.sum,
                count: self.count,
            }),
        }
    }

    /// The row of a protobuf record. A record without counters (govstream writes none) shows
    /// its key's family with zero counters.
    pub fn from_pb(r: &pb::AggregateRecord) -> Row<'_> {
        static NO_KEY: std::sync::OnceLock<pb::AggregateKey> = std::sync::OnceLock::new();
        let key = r
            .key
            .as_ref()
            .unwrap_or_else(|| NO_KEY.get_or_init(pb::AggregateKey::default));
        let (family, counters, overdue_open) = match &r.counters {
            Some(c) => counters_from_pb(c),
            None => (key_dimensions(key).0, [0; COUNTERS], 0),
        };
        let third = match family {
            Family::Application => key.item.as_str(),
            Family::Hotline => key.category.as_str(),
            Family::Item => "",
        };
        let dims = [
            key.region.as_str(),
            key.dept.as_str(),
            third,
            key.channel.as_str(),
        ];
        let (buckets, sum, count) = match &r.duration {
            Some(h) => (h.cumulative_counts.as_slice(), h.sum, h.count),
            None => (&[][..], 0.0, 0),
        };
        Row {
            family,
            granularity: key.granularity(),
            window: &key.window,
            dims,
            counters,
            overdue_open,
            buckets,
            sum,
            count,
        }
    }
}

/// The dimension values of a case or a cell, interned: region, dept, the family's third
/// dimension (`item` for applications, `category` for the hotline), channel.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dims {
    pub region: Sym,
    pub dept: Sym,
    /// `item` (applications) or `category` (hotline).
    pub subject: Sym,
    pub channel: Sym,
}

impl Dims {
    /// In key order.
    pub fn parts(self) -> [Sym; 4] {
        [self.region, self.dept, self.subject, self.channel]
    }

    /// Whether no record gave any dimension.
    pub fn is_empty(self) -> bool {
        self == Dims::default()
    }

    /// The values, in key order.
    pub(crate) fn strs(self, interner: &crate::intern::Interner) -> [&str; 4] {
        self.parts().map(|s| interner.get(s))
    }

    pub fn from_parts([region, dept, subject, channel]: [Sym; 4]) -> Dims {
        Dims {
            region,
            dept,
            subject,
            channel,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_round_trip_through_protobuf_in_canonical_order() {
        for fam in Family::ALL {
            let n = fam.counter_names().len();
            let mut c = [0i64; COUNTERS];
            for (i, v) in c.iter_mut().enumerate().take(n) {
                *v = i as i64 + 1;
            }
            let p = fam.counters_to_pb(&c, 99);
            assert_eq!(Family::of_counters(&p), fam);
            let (f, back, o) = counters_from_pb(&p);
            assert_eq!(f, fam);
            assert_eq!(o, if fam.of_cases() { 99 } else { 0 });
            for (i, v) in back.iter().enumerate() {
                let want = if i < n { i as u64 + 1 } else { 0 };
                assert_eq!(*v, want, "{fam:?} counter {i}");
            }
        }
    }

    #[test]
    fn names_follow_the_spec_tables() {
        assert_eq!(app::NAMES[app::ON_TIME as usize], "on_time");
        assert_eq!(hot::NAMES[hot::REOPENED as usize], "reopened");
        assert_eq!(hot::NAMES.len(), 13);
        assert_eq!(app::NAMES.len(), 14);
        assert_eq!(item::NAMES.len(), 7);
        for f in Family::ALL {
            assert_eq!(Family::from_name(f.name()), Some(f));
            assert_eq!(Family::from_pb(f.to_pb()), Some(f));
            for d in f.dimension_names() {
                assert!(DIMENSION_NAMES.contains(d));
            }
        }
    }

    #[test]
    fn rates_have_no_value_without_cases() {
        let mut c = [0i64; COUNTERS];
        for r in RATES {
            assert_eq!(r.value(&c), None, "{}", r.name);
        }
        c[app::COMPLETED as usize] = 4;
        c[app::ON_TIME as usize] = 3;
        assert_eq!(rate(Family::Application, "on_time").value(&c), Some(0.75));
        c[hot::CALLBACKS as usize] = 5;
        c[hot::UNREACHABLE as usize] = 1;
        c[hot::SATISFIED as usize] = 2;
        assert_eq!(rate(Family::Hotline, "satisfaction").value(&c), Some(0.5));
        let mut i = [0i64; COUNTERS];
        i[item::LEGAL_DAYS as usize] = 20;
        i[item::PROMISE_DAYS as usize] = 5;
        assert_eq!(
            rate(Family::Item, "time_limit_compression").value(&i),
            Some(0.75)
        );
    }

    #[test]
    fn keys_put_the_third_dimension_in_the_family_field() {
        let parts = || ["652801", "D", "X", "PHONE"].map(String::from);
        let k = aggregate_key(
            Family::Hotline,
            pb::Granularity::Day,
            "2020-07-15".into(),
            parts(),
        );
        assert_eq!((k.item.as_str(), k.category.as_str()), ("", "X"));
        assert_eq!(
            key_dimensions(&k),
            (Family::Hotline, ["652801", "D", "X", "PHONE"])
        );
        let k = aggregate_key(
            Family::Application,
            pb::Granularity::Month,
            "2020-07".into(),
            parts(),
        );
        assert_eq!((k.item.as_str(), k.category.as_str()), ("X", ""));
        assert_eq!(key_dimensions(&k).0, Family::Application);
    }
}
