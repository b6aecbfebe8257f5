//! Checks shared by the fuzz targets (`fuzz_targets/*.rs`). See docs/fuzzing.md.
//!
//! Nothing here is fuzzing-specific: the functions panic when an invariant of the crates under
//! test is broken, and libFuzzer reports a panic as a crash.

use govstream_normalize::mapping::{Assign, FormatSpec, SourceMapping};
use govstream_normalize::{CompiledSource, PseudonymKey};
use govstream_proto::v1 as pb;
use prost::Message;
use std::sync::Arc;

/// The key every target pseudonymizes with.
pub fn key() -> Arc<PseudonymKey> {
    Arc::new(PseudonymKey::new("fuzz-key"))
}

/// A compiled source with what the personal-data check needs to know about its mapping.
pub struct Source {
    pub compiled: CompiledSource,
    mapping: SourceMapping,
    /// The mapping's text: codes, constants and prefixes may legitimately appear in events.
    mapping_text: String,
    /// Fields whose values are copied into event strings on purpose (record id, case id, and
    /// region / department / service item read without a code table), with their prefix.
    copied: Vec<(String, String)>,
}

impl Source {
    /// A built-in preset (`hotline`, `onenet`, `bdc`, `catalogue`).
    pub fn preset(name: &str) -> Source {
        let text = govstream_normalize::mapping::PRESETS
            .iter()
            .find(|(n, _)| *n == name)
            .expect("preset exists")
            .1;
        Source::from_text(text).expect("preset compiles")
    }

    /// A mapping file's text, loaded and compiled like `--mapping` does.
    pub fn from_text(text: &str) -> Option<Source> {
        let compiled = govstream_normalize::from_mapping_file(text, key()).ok()?;
        let mapping = SourceMapping::from_toml(text).expect("compiled, so it parses");
        let mut copied: Vec<(String, String)> = (mapping.record_id.iter())
            .chain([&mapping.case_id])
            .map(|f| (f.clone(), String::new()))
            .collect();
        let text_targets = ["region", "department", "service_item"];
        let stage_sets = mapping.stages.values().flat_map(|s| s.set.iter());
        for (target, a) in mapping.common.iter().chain(stage_sets) {
            if let Assign {
                field: Some(f),
                table: None,
                prefix,
                ..
            } = a
            {
                if text_targets.contains(&target.as_str()) {
                    copied.push((f.clone(), prefix.clone().unwrap_or_default()));
                }
            }
        }
        Some(Source {
            compiled,
            mapping,
            mapping_text: text.to_owned(),
            copied,
        })
    }

    /// Normalizes `bytes` (a panic is the crash libFuzzer looks for) and checks the result:
    /// an event survives a protobuf round trip and carries no phone-like digit run of the input
    /// except inside values the mapping copies on purpose; a rejection's detail echoes none.
    pub fn check(&self, bytes: &[u8]) {
        let mut events = Vec::new();
        match self.compiled.normalize_into(bytes, &mut events) {
            Ok(()) => {
                assert!(!events.is_empty(), "an accepted record gives an event");
                for ev in &events {
                    self.check_event(bytes, ev);
                }
            }
            Err(rej) => {
                assert!(events.is_empty(), "a rejected record gives no event");
                for r in phone_like_runs(bytes) {
                    assert!(
                        !rej.detail.contains(r.as_str()) || self.mapping_text.contains(r.as_str()),
                        "rejection detail echoes input digits {r}: {}",
                        rej.detail
                    );
                }
            }
        }
    }

    fn check_event(&self, bytes: &[u8], ev: &pb::CaseEvent) {
        {
            {
                let bin = ev.encode_to_vec();
                let back = pb::CaseEvent::decode(bin.as_slice()).expect("event decodes");
                assert_eq!(&back, ev, "event survives a protobuf round trip");
                let p = &ev.caller_pseudonym;
                assert!(
                    p.is_empty()
                        || (p.len() == 64
                            && p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))),
                    "caller pseudonym is not a hex HMAC: {p:?}"
                );
                let runs = phone_like_runs(bytes);
                if runs.is_empty() {
                    return;
                }
                let mut allowed = self.copied_values(bytes);
                // A snapshot row's record id carries its version: a number the row's version
                // column gave (an instant in microseconds for a time), not input text.
                if ev.row_version > 0 {
                    allowed.push(ev.row_version.to_string());
                }
                // Each string field separately (a run across two fields is not a leak).
                for (name, s) in [
                    ("source", &ev.source),
                    ("record_id", &ev.record_id),
                    ("case_id", &ev.case_id),
                    ("region", &ev.region),
                    ("department", &ev.department),
                    ("service_item", &ev.service_item),
                ] {
                    for r in &runs {
                        if s.contains(r.as_str())
                            && !allowed.iter().any(|a| a.contains(r.as_str()))
                            && !self.mapping_text.contains(r.as_str())
                        {
                            panic!(
                                "phone-like input digits {r} leaked into event field {name}: {s:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// The values of the copied fields in this record, with their prefixes, read independently
    /// of normalization's slot reader (JSON: the member reader; delimited: a plain split).
    fn copied_values(&self, bytes: &[u8]) -> Vec<String> {
        let enc = encoding_rs::Encoding::for_label(self.mapping.encoding.as_bytes())
            .unwrap_or(encoding_rs::UTF_8);
        let Some(text) = enc.decode_without_bom_handling_and_without_replacement(bytes) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match &self.mapping.format {
            FormatSpec::Json => {
                let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
                let Ok(Some(obj)) = govstream_normalize::json::parse_object(text) else {
                    return out;
                };
                use govstream_normalize::json::JsonValue;
                for (f, prefix) in &self.copied {
                    let path: Vec<String> = f.split('.').map(str::to_owned).collect();
                    match obj.get(&path) {
                        Some(JsonValue::Str(s)) => out.push(format!("{prefix}{s}")),
                        Some(JsonValue::Int(n)) => out.push(format!("{prefix}{n}")),
                        _ => {}
                    }
                }
            }
            FormatSpec::Csv {
                separator,
                columns: Some(columns),
            } => {
                let row = text.strip_suffix('\n').unwrap_or(&text);
                let row = row.strip_suffix('\r').unwrap_or(row);
                if let Ok(cols) = govstream_normalize::csv::split_row(row, *separator) {
                    for (f, prefix) in &self.copied {
                        if let Some(i) = columns.iter().position(|c| c == f) {
                            if let Some(v) = cols.get(i) {
                                out.push(format!("{prefix}{v}"));
                            }
                        }
                    }
                }
            }
            FormatSpec::Csv { columns: None, .. } => {}
            FormatSpec::Delimited { separator, columns } => {
                let line = text.strip_suffix('\r').unwrap_or(&text);
                let cols: Vec<&str> = line.split(*separator).collect();
                for (f, prefix) in &self.copied {
                    if let Some(i) = columns.iter().position(|c| c == f) {
                        if let Some(v) = cols.get(i) {
                            out.push(format!("{prefix}{v}"));
                        }
                    }
                }
            }
        }
        out
    }
}

/// Every window of 11 consecutive ASCII digits in the input (a mainland mobile number's length),
/// also inside longer runs. Escaped digits (`\u0031`) are not seen; the property tests cover
/// decoded values.
pub fn phone_like_runs(bytes: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut start = None;
    for (i, &b) in bytes.iter().chain([&b' ']).enumerate() {
        match (b.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                for w in bytes[s..i].windows(11) {
                    let w = std::str::from_utf8(w).expect("ASCII digits");
                    if !out.iter().any(|o| o == w) {
                        out.push(w.to_owned());
                    }
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs() {
        assert!(phone_like_runs(b"1234567890").is_empty());
        assert_eq!(phone_like_runs(b"a13912345678b"), ["13912345678"]);
        assert_eq!(phone_like_runs(b"123456789012").len(), 2);
    }
}
