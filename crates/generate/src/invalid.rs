//! Deliberately bad records: a valid record turned into one that the normalizer must reject with
//! one specific reason (sources.md, "Rejection rules"). Never oversize. Rare, so this path may
//! allocate and search freely.

use crate::rng::Rng;
use crate::world::gb18030;
use crate::SourceKind;

/// The rejection reason a corrupted record is built to get.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Defect {
    BadEncoding,
    /// bdc has no JSON: its records get a wrong field count instead (→ `missing_field`).
    MalformedJson,
    MissingField,
    UnknownCode,
    BadTimestamp,
    TimeOutOfRange,
}

impl Defect {
    pub(crate) const ALL: [Defect; 6] = [
        Defect::BadEncoding,
        Defect::MalformedJson,
        Defect::MissingField,
        Defect::UnknownCode,
        Defect::BadTimestamp,
        Defect::TimeOutOfRange,
    ];

    /// The reason code the normalizer gives for this defect on `source`.
    #[cfg(test)]
    pub(crate) fn reason(self, source: SourceKind) -> &'static str {
        match self {
            Defect::BadEncoding => "bad_encoding",
            Defect::MalformedJson if source == SourceKind::Bdc => "missing_field",
            Defect::MalformedJson => "malformed_json",
            Defect::MissingField => "missing_field",
            Defect::UnknownCode => "unknown_code",
            Defect::BadTimestamp => "bad_timestamp",
            Defect::TimeOutOfRange => "time_out_of_range",
        }
    }
}

/// A copy of the valid record `rec` with the defect.
pub(crate) fn corrupt(source: SourceKind, rec: &[u8], defect: Defect, rng: &mut Rng) -> Vec<u8> {
    match source {
        SourceKind::Bdc => corrupt_bdc(rec, defect, rng),
        _ => corrupt_json(source, rec, defect, rng),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The byte range of the value of top-level `"key":` (a string with its quotes, or a bare
/// number), for the simple values the generator writes.
fn value_range(rec: &[u8], key: &str) -> Option<(usize, usize)> {
    let pat = format!("\"{key}\":");
    let start = find(rec, pat.as_bytes())? + pat.len();
    let end = if rec.get(start) == Some(&b'{') {
        start + rec[start..].iter().position(|&c| c == b'}')? + 1
    } else if rec.get(start) == Some(&b'"') {
        let mut i = start + 1;
        while i < rec.len() && rec[i] != b'"' {
            if rec[i] == b'\\' {
                i += 1;
            }
            i += 1;
        }
        i + 1
    } else {
        start
            + rec[start..]
                .iter()
                .position(|&c| c == b',' || c == b'}')
                .unwrap_or(rec.len() - start)
    };
    Some((start, end.min(rec.len())))
}

fn replace_value(rec: &[u8], key: &str, raw: &[u8]) -> Option<Vec<u8>> {
    let (s, e) = value_range(rec, key)?;
    let mut out = Vec::with_capacity(rec.len() + raw.len());
    out.extend_from_slice(&rec[..s]);
    out.extend_from_slice(raw);
    out.extend_from_slice(&rec[e..]);
    Some(out)
}

/// Removes `"key":value` and its separating comma.
fn remove_key(rec: &[u8], key: &str) -> Option<Vec<u8>> {
    let pat = format!("\"{key}\":");
    let ks = find(rec, pat.as_bytes())?;
    let (_, e) = value_range(rec, key)?;
    let mut out = rec[..ks].to_vec();
    if rec.get(e) == Some(&b',') {
        out.extend_from_slice(&rec[e + 1..]);
    } else {
        // The last key: drop the comma before it.
        if out.last() == Some(&b',') {
            out.pop();
        }
        out.extend_from_slice(&rec[e..]);
    }
    Some(out)
}

fn string_value<'a>(rec: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let (s, e) = value_range(rec, key)?;
    (rec.get(s) == Some(&b'"')).then(|| &rec[s + 1..e - 1])
}

/// The key of the stage's own time field.
fn time_key(source: SourceKind, rec: &[u8]) -> &'static str {
    if source == SourceKind::Hotline {
        return "time";
    }
    match string_value(rec, "INFOTYPE") {
        Some(b"SB") => "APPLYTIME",
        Some(b"SL") => "ACCEPTTIME",
        Some(b"GC") => "STEPTIME",
        Some(b"BJ") => "FINISHTIME",
        _ => "EVALTIME",
    }
}

fn quoted(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 2);
    v.push(b'"');
    v.extend_from_slice(s.as_bytes());
    v.push(b'"');
    v
}

fn corrupt_json(source: SourceKind, rec: &[u8], defect: Defect, rng: &mut Rng) -> Vec<u8> {
    let hotline = source == SourceKind::Hotline;
    let tkey = time_key(source, rec);
    let attempt = match defect {
        Defect::BadEncoding => {
            // The whole record sent in GB18030 instead of UTF-8 (a misconfigured department
            // system), or a GBK-encoded remark in an otherwise UTF-8 record.
            let text = std::str::from_utf8(rec).unwrap_or_default();
            let gb = gb18030(text);
            if rng.chance(0.7) && std::str::from_utf8(&gb).is_err() {
                Some(gb)
            } else {
                let mut out = rec[..rec.len() - 1].to_vec();
                out.extend_from_slice(b",\"remark\":\"");
                out.extend_from_slice(&gb18030("测试数据"));
                out.extend_from_slice(b"\"}");
                Some(out)
            }
        }
        Defect::MalformedJson => match rng.below(3) {
            0 => {
                // Cut off mid-record (on a character boundary, so still valid UTF-8).
                let text = std::str::from_utf8(rec).unwrap_or_default();
                let mut cut = 1 + rng.index(text.len() - 2);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                Some(rec[..cut].to_vec())
            }
            1 => {
                // A trailing comma before the closing brace.
                let mut out = rec[..rec.len() - 1].to_vec();
                out.extend_from_slice(b",}");
                Some(out)
            }
            _ => {
                // Two records written into one message.
                let mut out = rec.to_vec();
                out.extend_from_slice(rec);
                Some(out)
            }
        },
        Defect::MissingField => {
            let common: &[&str] = if hotline {
                &["eventId", "orderNo", "action", "time"]
            } else {
                &["RECORDID", "PROJID", "INFOTYPE"]
            };
            let key = if rng.chance(0.5) {
                *rng.pick(common)
            } else if hotline {
                match string_value(rec, "action") {
                    Some(b"REGISTER") => *rng.pick(&["areaCode", "category", "channel"]),
                    Some(b"DISPATCH") => *rng.pick(&["dept", "limitDays"]),
                    Some(b"EXTEND") => "extraDays",
                    Some(b"CALLBACK") => "satisfaction",
                    _ => "time",
                }
            } else {
                match string_value(rec, "INFOTYPE") {
                    Some(b"SB") => *rng.pick(&["TASKCODE", "AREACODE", "DEPTCODE", "APPLYTYPE"]),
                    Some(b"SL") => *rng.pick(&[
                        "TASKCODE",
                        "AREACODE",
                        "DEPTCODE",
                        "ITEMTYPE",
                        "PROMISEDAYS",
                    ]),
                    Some(b"GC") => "STEPTYPE",
                    Some(b"BJ") => "RESULT",
                    Some(b"PJ") => "EVALLEVEL",
                    _ => tkey,
                }
            };
            if key == "limitDays" && rng.chance(0.5) {
                // The wrong JSON type: a string where an integer is required.
                let (s, e) = value_range(rec, key).unwrap_or((0, 0));
                let mut raw = b"\"".to_vec();
                raw.extend_from_slice(&rec[s..e]);
                raw.push(b'"');
                replace_value(rec, key, &raw)
            } else if key == "dept" {
                remove_key(rec, key)
            } else {
                match rng.below(3) {
                    0 => remove_key(rec, key),
                    1 => replace_value(rec, key, b"\"\""),
                    _ => replace_value(rec, key, b"null"),
                }
            }
        }
        Defect::UnknownCode => {
            let stage_key = if hotline { "action" } else { "INFOTYPE" };
            if rng.chance(0.6) {
                let v = string_value(rec, stage_key)
                    .unwrap_or(b"X")
                    .to_ascii_lowercase();
                let raw = if rng.chance(0.5) {
                    let mut q = b"\"".to_vec();
                    q.extend_from_slice(&v);
                    q.push(b'"');
                    q
                } else if hotline {
                    quoted(rng.pick::<&str>(&["TRANSFER", "FORWARD", "ASSIGN"]))
                } else {
                    quoted(rng.pick::<&str>(&["XX", "SP", "BJ2"]))
                };
                replace_value(rec, stage_key, &raw)
            } else if hotline {
                match string_value(rec, "action") {
                    Some(b"REGISTER") => match rng.below(3) {
                        0 => replace_value(rec, "category", b"\"OTHER\""),
                        1 => replace_value(rec, "channel", b"\"FAX\""),
                        _ => replace_value(rec, "areaCode", b"\"65280\""),
                    },
                    Some(b"DISPATCH") => replace_value(rec, "limitDays", b"-1"),
                    Some(b"CALLBACK") => replace_value(rec, "satisfaction", b"\"OK\""),
                    _ => replace_value(rec, "action", b"\"Close\""),
                }
            } else {
                match string_value(rec, "INFOTYPE") {
                    Some(b"SB") => replace_value(rec, "APPLYTYPE", b"\"5\""),
                    // PROMISEDAYS of a JB item is ignored, so only a CN item can carry a bad one.
                    Some(b"SL")
                        if rng.chance(0.5) && string_value(rec, "ITEMTYPE") == Some(b"CN") =>
                    {
                        replace_value(rec, "PROMISEDAYS", "\"5天\"".as_bytes())
                    }
                    Some(b"SL") => replace_value(rec, "ITEMTYPE", b"\"ZB\""),
                    Some(b"GC") => replace_value(rec, "STEPTYPE", b"\"PAUSE\""),
                    Some(b"BJ") => replace_value(rec, "RESULT", b"\"4\""),
                    Some(b"PJ") => replace_value(rec, "EVALLEVEL", b"\"6\""),
                    _ => None,
                }
            }
        }
        Defect::BadTimestamp => {
            let (s, e) = value_range(rec, tkey).unwrap_or((0, 0));
            let old = std::str::from_utf8(&rec[s + 1..e.max(s + 2) - 1]).unwrap_or("");
            let new = if hotline {
                // No offset, or a space separator.
                let base = &old[..19.min(old.len())];
                if rng.chance(0.5) {
                    base.to_owned()
                } else {
                    format!("{}+08:00", base.replacen('T', " ", 1))
                }
            } else {
                match rng.below(3) {
                    0 => old.replace('-', "/"),
                    1 => old.replacen(' ', "T", 1),
                    _ => old[..16.min(old.len())].to_owned(),
                }
            };
            replace_value(rec, tkey, &quoted(&new))
        }
        Defect::TimeOutOfRange => {
            let new = match (hotline, rng.below(3)) {
                (true, 0) => "1970-01-01T08:00:00+08:00",
                (true, 1) => "1900-01-01T00:00:00+08:00",
                (true, _) => "2100-01-01T00:00:00+08:00",
                (false, 0) => "1900-01-01 00:00:00",
                (false, 1) => "1970-01-01 08:00:00",
                (false, _) => "2100-01-01 00:00:00",
            };
            replace_value(rec, tkey, &quoted(new))
        }
    };
    attempt.unwrap_or_else(|| {
        // Fallback (should not happen): a record that is not an object.
        b"[]".to_vec()
    })
}

fn corrupt_bdc(rec: &[u8], defect: Defect, rng: &mut Rng) -> Vec<u8> {
    let (text, _, bad) = encoding_rs::GB18030.decode(rec);
    debug_assert!(!bad);
    let mut cols: Vec<String> = text.split('|').map(str::to_owned).collect();
    let encode = |cols: &[String]| gb18030(&cols.join("|"));
    match defect {
        Defect::BadEncoding => {
            // Exported as UTF-8 by mistake, or a stray byte that GB18030 does not have.
            let utf8 = text.as_bytes().to_vec();
            let decodes = encoding_rs::GB18030
                .decode_without_bom_handling_and_without_replacement(&utf8)
                .is_some();
            if rng.chance(0.5) && !decodes {
                utf8
            } else {
                let mut out = rec.to_vec();
                let at = rng.index(out.len() + 1);
                // Only at a column boundary or the end, so no character is split.
                let at = rec[..at].iter().rposition(|&b| b == b'|').unwrap_or(0);
                out.insert(at, 0xFF);
                out
            }
        }
        Defect::MalformedJson => {
            // A wrong field count: a column lost or an extra separator.
            if rng.chance(0.5) {
                cols.pop();
            } else {
                cols.push(String::new());
            }
            encode(&cols)
        }
        Defect::MissingField => {
            let i = *rng.pick(&[0usize, 1, 2, 3, 4]);
            cols[i] = if rng.chance(0.7) {
                String::new()
            } else {
                " ".to_owned()
            };
            encode(&cols)
        }
        Defect::UnknownCode => {
            match rng.below(3) {
                0 => cols[2] = rng.pick(&["07", "1", "2"]).to_string(),
                1 => cols[1] = rng.pick(&["600", "000", "10"]).to_string(),
                _ => cols[4] = rng.pick(&["65280", "6528011", "BZ"]).to_string(),
            }
            encode(&cols)
        }
        Defect::BadTimestamp => {
            let t = cols[3].clone();
            cols[3] = match rng.below(3) {
                0 => format!(
                    "{}-{}-{} {}:{}:{}",
                    &t[0..4],
                    &t[4..6],
                    &t[6..8],
                    &t[8..10],
                    &t[10..12],
                    &t[12..14]
                ),
                1 => t[..12].to_owned(),
                _ => format!("{}240000", &t[..8]),
            };
            encode(&cols)
        }
        Defect::TimeOutOfRange => {
            cols[3] = rng
                .pick(&["19000101000000", "19991231235959", "21000101000000"])
                .to_string();
            encode(&cols)
        }
    }
}
