//! Where the engine's outputs go on a partitioned, compacted log: the partition of a partial,
//! the compaction key of a partial, the JSON key of an aggregate. Pure functions, so that the
//! Kafka edge only moves bytes and every harness (Kafka, the in-memory test driver) places
//! records the same way.

use crate::schema::{self, Family};
use govstream_proto::v1 as pb;

/// Partition of the partials topic for a (family, dimensions) key: a stable hash (FNV-1a with
/// a separator after each part), so that all partials of a key meet in one totals partition.
pub fn partials_partition(key: &pb::PartialKey, partitions: i32) -> i32 {
    use std::hash::Hasher;
    let mut h = govstream_proto::hash::StableHasher::default();
    let mut eat = |b: &[u8]| {
        h.write(b);
        h.write(&[0xff]);
    };
    eat(&key.family.to_le_bytes());
    for d in &key.dims {
        eat(d.as_bytes());
    }
    (h.finish() % partitions.max(1) as u64) as i32
}

/// The partitions of the partials topic a partial goes to: its key's one, or every partition
/// for a watermark (every totals partition needs it).
pub fn partial_targets(p: &pb::Partial, partitions: i32) -> std::ops::Range<i32> {
    match (&p.key, &p.value) {
        (Some(k), _) => {
            let t = partials_partition(k, partitions);
            t..t + 1
        }
        // Family `item` is computed once, by totals partition 0.
        (None, Some(pb::partial::Value::Listing(_))) => 0..1,
        (None, _) => 0..partitions.max(1),
    }
}

/// The compaction key of a partial: one per (engine partition, family, dims, day | overdue |
/// watermark), so that the partials topic keeps the latest absolute value of each.
pub fn partial_key(p: &pb::Partial) -> Vec<u8> {
    use std::fmt::Write as _;
    let mut k = p.source_partition.to_string();
    match &p.value {
        Some(pb::partial::Value::WatermarkUs(_)) => k.push_str("|W"),
        Some(pb::partial::Value::Cell(c)) => {
            let _ = write!(k, "|C{}", c.day);
        }
        Some(pb::partial::Value::Overdue(_)) => k.push_str("|O"),
        // Every version of every listing is kept: one key per record id.
        Some(pb::partial::Value::Listing(ev)) => {
            let _ = write!(k, "|L|{}", ev.record_id);
        }
        None => {}
    }
    if let Some(key) = &p.key {
        let _ = write!(k, "|{}", key.family);
        for d in &key.dims {
            k.push('\u{1f}');
            k.push_str(d);
        }
    }
    k.into_bytes()
}

/// Canonical JSON of an aggregate key: the key of the JSON mirror topic. Compact, keys in
/// alphabetical order (as `serde_json` writes an object), strings escaped as JSON requires.
pub fn aggregate_key_json(k: &pb::AggregateKey) -> String {
    use crate::render::push_str;
    let (family, dims) = schema::key_dimensions(k);
    let gran = if k.granularity() == pb::Granularity::Month {
        "MONTH"
    } else {
        "DAY"
    };
    let mut fields: Vec<(&str, &str)> = vec![
        ("family", family.name()),
        ("granularity", gran),
        ("window", &k.window),
    ];
    fields.extend(family.dimension_names().iter().copied().zip(dims));
    fields.sort_unstable_by_key(|(name, _)| *name);
    let mut out = String::with_capacity(160);
    for (name, value) in fields {
        out.push(if out.is_empty() { '{' } else { ',' });
        out.push('"');
        out.push_str(name);
        out.push_str("\":");
        push_str(&mut out, value);
    }
    out.push('}');
    out
}

/// The inverse of [`aggregate_key_json`]; `None` for text that is not such a key.
pub fn aggregate_key_from_json(text: &str) -> Option<pb::AggregateKey> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let family = Family::from_name(&s("family")?)?;
    let granularity = if s("granularity")? == "MONTH" {
        pb::Granularity::Month
    } else {
        pb::Granularity::Day
    };
    let mut dims: [String; 4] = Default::default();
    for (d, name) in dims.iter_mut().zip(family.dimension_names()) {
        *d = s(name)?;
    }
    Some(schema::aggregate_key(
        family,
        granularity,
        s("window")?,
        dims,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keys_read_back_into_aggregate_keys() {
        let keys = [
            pb::AggregateKey {
                family: pb::Family::Application as i32,
                granularity: pb::Granularity::Day as i32,
                window: "2020-01-01".into(),
                region: "652827".into(),
                dept: "116528274748031040".into(),
                item: "1165282747480310400100108104000".into(),
                category: String::new(),
                channel: "MOBILE".into(),
            },
            pb::AggregateKey {
                family: pb::Family::Hotline as i32,
                granularity: pb::Granularity::Month as i32,
                window: "2020-01".into(),
                region: String::new(),
                dept: "12345".into(),
                item: String::new(),
                category: "COMPLAINT".into(),
                channel: String::new(),
            },
        ];
        for mut k in keys {
            assert_eq!(
                aggregate_key_from_json(&aggregate_key_json(&k)),
                Some(k.clone())
            );
            // The same text as serde_json writes the object (the mirror's keys so far), also
            // with characters JSON escapes.
            k.dept.push_str("\"q\\\n\u{1}é");
            let hotline = k.family() == pb::Family::Hotline;
            let d3 = if hotline {
                ("category", &k.category)
            } else {
                ("item", &k.item)
            };
            let want = serde_json::json!({
                "family": if hotline { "hotline" } else { "application" },
                "granularity": if k.granularity() == pb::Granularity::Month { "MONTH" } else { "DAY" },
                "window": k.window, "region": k.region, "dept": k.dept, d3.0: d3.1,
                "channel": k.channel,
            })
            .to_string();
            assert_eq!(aggregate_key_json(&k), want);
        }
        assert_eq!(
            aggregate_key_from_json("{\"family\":\"application\"}"),
            None
        );
        assert_eq!(aggregate_key_from_json("not json"), None);
    }

    /// The partition of a key is stable across releases: changing it would split a key's
    /// partials between two totals partitions after an upgrade.
    #[test]
    fn partials_partitions_are_stable() {
        let key = pb::PartialKey {
            family: 1,
            dims: vec![
                "652827".into(),
                "dept".into(),
                "item".into(),
                "MOBILE".into(),
            ],
        };
        let got: Vec<i32> = [1, 3, 6, 12].map(|n| partials_partition(&key, n)).to_vec();
        assert_eq!(got, vec![0, GOLDEN[0], GOLDEN[1], GOLDEN[2]]);
        let watermark = pb::Partial {
            source_partition: 2,
            key: None,
            value: Some(pb::partial::Value::WatermarkUs(5)),
        };
        assert_eq!(partial_targets(&watermark, 3), 0..3);
        assert_eq!(partial_key(&watermark), b"2|W".to_vec());
    }
    const GOLDEN: [i32; 3] = [1, 1, 1];
}
