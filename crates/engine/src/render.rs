//! The canonical JSON rendering of aggregate records (metrics.md, "Canonical JSON rendering").

use govstream_proto::v1::{
    aggregate_record::Counters, AggregateKey, AggregateRecord, DurationHistogram, Family,
    Granularity,
};
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
    let family = match key.family() {
        Family::Application => "application",
        Family::Hotline => "hotline",
        Family::Unspecified => "",
    };
    let gran = match key.granularity() {
        Granularity::Day => "DAY",
        Granularity::Month => "MONTH",
        Granularity::Unspecified => "",
    };
    out.push_str("{\"family\":");
    push_str(&mut out, family);
    out.push_str(",\"granularity\":");
    push_str(&mut out, gran);
    out.push_str(",\"window\":");
    push_str(&mut out, &key.window);
    out.push_str(",\"region\":");
    push_str(&mut out, &key.region);
    out.push_str(",\"dept\":");
    push_str(&mut out, &key.dept);
    let counters: Vec<(&str, u64)> = match &r.counters {
        Some(Counters::Application(c)) => {
            out.push_str(",\"item\":");
            push_str(&mut out, &key.item);
            vec![
                ("submitted", c.submitted),
                ("accepted", c.accepted),
                ("completed", c.completed),
                ("on_time", c.on_time),
                ("at_most_one_trip", c.at_most_one_trip),
                ("zero_trip", c.zero_trip),
                ("withdrawn", c.withdrawn),
                ("reviews", c.reviews),
                ("bad_reviews", c.bad_reviews),
                ("overdue_open", c.overdue_open),
            ]
        }
        Some(Counters::Hotline(c)) => {
            out.push_str(",\"category\":");
            push_str(&mut out, &key.category);
            vec![
                ("received", c.received),
                ("answered_directly", c.answered_directly),
                ("dispatched", c.dispatched),
                ("signed", c.signed),
                ("signed_on_time", c.signed_on_time),
                ("returned", c.returned),
                ("urged", c.urged),
                ("closed", c.closed),
                ("closed_on_time", c.closed_on_time),
                ("callbacks", c.callbacks),
                ("satisfied", c.satisfied),
                ("unreachable", c.unreachable),
                ("reopened", c.reopened),
                ("overdue_open", c.overdue_open),
            ]
        }
        None => Vec::new(),
    };
    out.push_str(",\"channel\":");
    push_str(&mut out, &key.channel);
    out.push_str(",\"counters\":{");
    for (i, (name, v)) in counters.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{name}\":{v}");
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
