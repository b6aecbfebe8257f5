//! The canonical JSON rendering of aggregate records (metrics.md, "Canonical JSON rendering").

use crate::schema::{self, Row};
use govstream_proto::v1::AggregateRecord;

/// A JSON string literal: raw UTF-8, escaping only what JSON requires (as serde_json does).
pub(crate) fn push_str(out: &mut String, s: &str) {
    // Only ASCII bytes are escaped or added, so the bytes stay UTF-8.
    let mut bytes = std::mem::take(out).into_bytes();
    push_json_str(&mut bytes, s);
    *out = String::from_utf8(bytes).unwrap_or_default();
}

fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    if bytes.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.extend_from_slice(bytes);
    } else {
        for &b in bytes {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                b if b < 0x20 => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(b >> 4) as usize]);
                    out.push(HEX[(b & 0xf) as usize]);
                }
                b => out.push(b),
            }
        }
    }
    out.push(b'"');
}

fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends the canonical JSON line of `row`, without the trailing newline: compact, raw UTF-8,
/// keys in the spec's order (metrics.md, rule 12).
pub fn write_json(row: &Row, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"family\":");
    push_json_str(out, row.family.name());
    out.extend_from_slice(b",\"granularity\":");
    push_json_str(out, schema::granularity_name(row.granularity));
    out.extend_from_slice(b",\"window\":");
    push_json_str(out, row.window);
    for (name, value) in row.family.dimension_names().iter().zip(row.dims) {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        push_json_str(out, value);
    }
    out.extend_from_slice(b",\"counters\":{");
    for (name, v) in row.family.counter_names().iter().zip(row.counters) {
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        push_u64(out, v);
        out.push(b',');
    }
    if !row.family.of_cases() {
        // `item`: snapshots only, no `overdue_open`, no duration (rule 12).
        out.pop();
        out.extend_from_slice(b"}}");
        return;
    }
    out.push(b'"');
    out.extend_from_slice(schema::OVERDUE_OPEN.as_bytes());
    out.extend_from_slice(b"\":");
    push_u64(out, row.overdue_open);
    out.extend_from_slice(b"},\"duration\":{\"buckets\":[");
    for (i, b) in row.buckets.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_u64(out, *b);
    }
    out.extend_from_slice(b"],\"sum\":");
    // serde_json's own float formatting (shortest round-trip, `null` if not finite).
    if serde_json::to_writer(&mut *out, &row.sum).is_err() {
        out.push(b'0');
    }
    out.extend_from_slice(b",\"count\":");
    push_u64(out, row.count);
    out.extend_from_slice(b"}}");
}

/// One line, without the trailing newline: compact, raw UTF-8, keys in the spec's order.
pub fn canonical_json(r: &AggregateRecord) -> String {
    let mut out = Vec::with_capacity(400);
    write_json(&Row::from_pb(r), &mut out);
    // Every byte written is ASCII or comes from a `&str`.
    String::from_utf8(out).unwrap_or_default()
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
