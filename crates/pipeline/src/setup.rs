//! Turning configuration into the pure core's inputs: compiled sources, the calendar and the
//! pseudonym key. Shared by `govstream run` and the file commands.

use govstream_calendar::{Calendar, CalendarFile};
use govstream_normalize::{CompiledSource, PseudonymKey};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A setup problem, said plainly.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

/// The key that pseudonymizes phone numbers: a file, else $GOVSTREAM_PSEUDONYM_KEY, else the
/// public demo key (with a warning).
pub fn pseudonym_key(file: Option<&Path>) -> Result<Arc<PseudonymKey>, SetupError> {
    if let Some(p) = file {
        let k = std::fs::read(p)
            .map_err(|e| SetupError(format!("reading pseudonym key file {}: {e}", p.display())))?;
        let k = k.trim_ascii().to_vec();
        if k.len() < 16 {
            return Err(SetupError(format!(
                "pseudonym key in {} is shorter than 16 bytes",
                p.display()
            )));
        }
        return Ok(Arc::new(PseudonymKey::new(k)));
    }
    if let Ok(k) = std::env::var("GOVSTREAM_PSEUDONYM_KEY") {
        if k.len() < 16 {
            return Err(SetupError(
                "GOVSTREAM_PSEUDONYM_KEY is shorter than 16 bytes".into(),
            ));
        }
        return Ok(Arc::new(PseudonymKey::new(k)));
    }
    tracing::warn!("no pseudonym key configured: using the public demo key; set a key file or GOVSTREAM_PSEUDONYM_KEY in production");
    Ok(Arc::new(PseudonymKey::new("govstream-demo-key-not-secret")))
}

/// Compiles a source: a mapping file if given, else the built-in preset of that name.
pub fn compile_source(
    name: &str,
    mapping: Option<&Path>,
    key: Arc<PseudonymKey>,
) -> Result<CompiledSource, SetupError> {
    match mapping {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| SetupError(format!("reading mapping file {}: {e}", p.display())))?;
            let c = govstream_normalize::from_mapping_file(&text, key)
                .map_err(|e| SetupError(format!("mapping file {}: {e}", p.display())))?;
            if c.name() != name {
                return Err(SetupError(format!(
                    "mapping file {} defines source `{}`, not `{name}`",
                    p.display(),
                    c.name()
                )));
            }
            Ok(c)
        }
        None => match govstream_normalize::preset(name, key) {
            Some(c) => c.map_err(|e| SetupError(format!("preset {name}: {e}"))),
            None => Err(SetupError(format!(
                "unknown source `{name}`: use a preset (hotline, onenet, bdc) or give a mapping file defining it"
            ))),
        },
    }
}

/// Parses `±hh:mm`.
pub fn parse_offset(s: &str) -> Result<i32, SetupError> {
    let b = s.as_bytes();
    let ok = b.len() == 6
        && (b[0] == b'+' || b[0] == b'-')
        && b[3] == b':'
        && [1, 2, 4, 5].iter().all(|&i| b[i].is_ascii_digit());
    let bad = || SetupError(format!("UTC offset `{s}` is not ±hh:mm"));
    if !ok {
        return Err(bad());
    }
    let h: i32 = s[1..3].parse().map_err(|_| bad())?;
    let m: i32 = s[4..6].parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(if b[0] == b'-' { -1 } else { 1 } * (h * 3600 + m * 60))
}

fn read_calendar(p: &PathBuf) -> Result<CalendarFile, SetupError> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| SetupError(format!("reading calendar file {}: {e}", p.display())))?;
    CalendarFile::parse(&text)
        .map_err(|e| SetupError(format!("calendar file {}: {e}", p.display())))
}

/// The bundled calendars plus an operator's extra national files and overlays.
pub fn calendar(
    extra: &[PathBuf],
    overlays: &[PathBuf],
    utc_offset: &str,
) -> Result<Arc<Calendar>, SetupError> {
    let offset = parse_offset(utc_offset)?;
    let bundled =
        |s: &str| CalendarFile::parse(s).map_err(|e| SetupError(format!("bundled calendar: {e}")));
    let mut national = vec![bundled(govstream_calendar::BUNDLED_NATIONAL)?];
    for p in extra {
        national.push(read_calendar(p)?);
    }
    let mut ov = vec![bundled(govstream_calendar::BUNDLED_XINJIANG)?];
    for p in overlays {
        ov.push(read_calendar(p)?);
    }
    Calendar::from_files(&national, &ov, offset)
        .map(Arc::new)
        .map_err(|e| SetupError(e.to_string()))
}
