//! The canonical JSON rendering of aggregate records (metrics.md, "Canonical JSON rendering").

use crate::schema::{self, Family};
use govstream_proto::v1::{AggregateKey, AggregateRecord, DurationHistogram};
use std::fmt::Write;

/// A JSON string literal: raw UTF-8, escaping only what JSON requires (as serde_json does).
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push_str(s);
    } else {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// One line, without the trailing newline: compact, raw UTF-8, keys in the spec's order.
pub fn canonical_json(r: &AggregateRecord) -> String {
    let mut out = String::with_capacity(400);
    let no_key = AggregateKey::default();
    let key = r.key.as_ref().unwrap_or(&no_key);
    // The counters decide the family (and so the third dimension); a record without counters
    // shows its key's.
    let counters = r.counters.as_ref().map(schema::counters_from_pb);
    let family = match &counters {
        Some((f, _, _)) => Some(*f),
        None => Family::from_pb(key.family()),
    };
    out.push_str("{\"family\":");
    push_str(&mut out, family.map_or("", Family::name));
    out.push_str(",\"granularity\":");
    push_str(&mut out, schema::granularity_name(key.granularity()));
    out.push_str(",\"window\":");
    push_str(&mut out, &key.window);
    // Without counters (never produced) the family's own dimension is left out.
    let names = family.map(Family::dimension_names);
    let values = schema::key_dimensions(key).1;
    for i in 0..4 {
        let name = match names {
            Some(n) => n[i],
            None if i == 2 => continue,
            None => ["region", "dept", "", "channel"][i],
        };
        let _ = write!(out, ",\"{name}\":");
        push_str(&mut out, values[i]);
    }
    out.push_str(",\"counters\":{");
    if let Some((f, c, overdue)) = counters {
        for (i, name) in f.counter_names().iter().enumerate() {
            let _ = write!(out, "\"{name}\":{},", c[i]);
        }
        let _ = write!(out, "\"{}\":{overdue}", schema::OVERDUE_OPEN);
    }
    out.push_str("},\"duration\":{\"buckets\":[");
    let no_hist = DurationHistogram::default();
    let h = r.duration.as_ref().unwrap_or(&no_hist);
    for (i, b) in h.cumulative_counts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{b}");
    }
    out.push_str("],\"sum\":");
    out.push_str(&serde_json::to_string(&h.sum).unwrap_or_else(|_| "0".to_owned()));
    let _ = write!(out, ",\"count\":{}}}}}", h.count);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn strings_are_escaped_like_serde_json() {
        for s in [
            "",
            "plain",
            "库尔勒市",
            "a\"b",
            "back\\slash",
            "nl\ncr\rtab\t",
            "\u{1}\u{1f}\u{8}\u{c}",
            "\u{7f}é",
        ] {
            let mut out = String::new();
            super::push_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }
}
