//! The canonical JSON rendering of aggregate records (metrics.md, "Canonical JSON rendering").

use govstream_proto::v1::{aggregate_record::Counters, AggregateRecord, Family, Granularity};
use std::fmt::Write;

fn push_str(out: &mut String, s: &str) {
    // serde_json writes raw UTF-8 and escapes only what JSON requires.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned()));
}

/// One line, without the trailing newline: compact, raw UTF-8, keys in the spec's order.
pub fn canonical_json(r: &AggregateRecord) -> String {
    let mut out = String::with_capacity(400);
    let key = r.key.clone().unwrap_or_default();
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
    let h = r.duration.clone().unwrap_or_default();
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
