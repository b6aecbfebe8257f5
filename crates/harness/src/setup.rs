//! Turning options and configuration into the pure core's inputs: compiled sources, the
//! calendar and the pseudonym key. Shared by `govstream run` and the file commands.

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

/// Compiles a mapping file (it defines one source, named inside it).
pub fn load_mapping(path: &Path, key: Arc<PseudonymKey>) -> Result<CompiledSource, SetupError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SetupError(format!("reading mapping file {}: {e}", path.display())))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    govstream_normalize::from_mapping_file(&text, key)
        .map(|c| c.with_calendar_dir(dir))
        .map_err(|e| SetupError(format!("mapping file {}: {e}", path.display())))
}

/// The source called `name`: the one of `mappings` with that name (a mapping named like a
/// preset replaces the preset), else the built-in preset.
pub fn source_named(
    name: &str,
    mappings: &[CompiledSource],
    key: Arc<PseudonymKey>,
) -> Result<CompiledSource, SetupError> {
    if let Some(c) = mappings.iter().find(|c| c.name() == name) {
        return Ok(c.clone());
    }
    match govstream_normalize::preset(name, key) {
        Some(c) => c.map_err(|e| SetupError(format!("preset {name}: {e}"))),
        None => Err(SetupError(format!(
            "unknown source `{name}`: use a preset (hotline, onenet, bdc, catalogue) or give a mapping file defining it"
        ))),
    }
}

/// Compiles a configured source of `run`: its mapping file if given (which must define
/// `name`), else the built-in preset of that name. Its records are Kafka messages, so a CSV
/// source must declare its columns (a message is one row, without the header).
pub fn compile_source(
    name: &str,
    mapping: Option<&Path>,
    key: Arc<PseudonymKey>,
) -> Result<CompiledSource, SetupError> {
    let Some(p) = mapping else {
        return source_named(name, &[], key);
    };
    let c = load_mapping(p, key)?;
    if c.name() != name {
        return Err(SetupError(format!(
            "mapping file {} defines source `{}`, not `{name}`",
            p.display(),
            c.name()
        )));
    }
    if !c.has_columns() {
        return Err(SetupError(format!(
            "mapping file {}: source `{name}` is CSV without `format.columns`; from Kafka each message is one row without the header, so list the export's header in `format.columns`",
            p.display()
        )));
    }
    Ok(c)
}

/// Parses `±hh:mm`.
pub fn parse_offset(s: &str) -> Result<i32, SetupError> {
    govstream_calendar::civil::parse_utc_offset(s)
        .ok_or_else(|| SetupError(format!("UTC offset `{s}` is not ±hh:mm")))
}

fn read_calendar(p: &PathBuf) -> Result<CalendarFile, SetupError> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| SetupError(format!("reading calendar file {}: {e}", p.display())))?;
    CalendarFile::parse(&text)
        .map_err(|e| SetupError(format!("calendar file {}: {e}", p.display())))
}

/// The bundled calendars plus an operator's extra national files and overlays, in `zone`
/// (`±hh:mm` or an IANA name): the zone of windows and working days.
pub fn calendar(
    extra: &[PathBuf],
    overlays: &[PathBuf],
    zone: &str,
) -> Result<Arc<Calendar>, SetupError> {
    let zone = govstream_calendar::Zone::parse(zone).ok_or_else(|| {
        SetupError(format!(
            "time zone `{zone}` is neither ±hh:mm nor a zone of the IANA database (e.g. `Asia/Shanghai`, `America/New_York`)"
        ))
    })?;
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
    Calendar::from_files(&national, &ov, zone)
        .map(Arc::new)
        .map_err(|e| SetupError(e.to_string()))
}

/// `cal` with the calendars of the sources whose mapping names one (`weekdays`, or a file),
/// in the same zone.
pub fn with_source_calendars(
    cal: Arc<Calendar>,
    sources: &[&CompiledSource],
) -> Result<Arc<Calendar>, SetupError> {
    use govstream_normalize::CalendarChoice;
    if sources
        .iter()
        .all(|s| *s.calendar() == CalendarChoice::National)
    {
        return Ok(cal);
    }
    let zone = cal.zone().clone();
    let mut out = Arc::unwrap_or_clone(cal);
    for s in sources {
        let own = match s.calendar() {
            CalendarChoice::National => continue,
            CalendarChoice::Weekdays => Calendar::weekdays(zone.clone()),
            CalendarChoice::File(p) => {
                Calendar::from_files(&[read_calendar(&p.to_path_buf())?], &[], zone.clone())
                    .map_err(|e| {
                        SetupError(format!(
                            "source `{}`: calendar {}: {e}",
                            s.name(),
                            p.display()
                        ))
                    })?
            }
        };
        out = out.with_source(s.name(), own);
    }
    Ok(Arc::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use govstream_calendar::Day;

    fn source(calendar: &str) -> CompiledSource {
        let text = format!(
            r#"
name = "export"
case_kind = "work_order"
format = {{ kind = "csv", columns = ["id", "t"] }}
calendar = "{calendar}"
record_id = ["id"]
case_id = "id"
[stages.open]
stage = "REGISTER"
time = {{ field = "t", format = "yyyy-MM-dd HH:mm" }}
"#
        );
        govstream_normalize::from_mapping_file(&text, pseudonym_key(None).unwrap()).unwrap()
    }

    #[test]
    fn a_source_may_have_its_own_working_days() {
        let national_day = Day::from_ymd(2020, 10, 1).unwrap(); // a Thursday, a holiday in China
        let monday = Day::from_ymd(2020, 10, 12).unwrap();
        let cal = calendar(&[], &[], "+08:00").unwrap();
        // The national calendar only: nothing changes.
        let same = with_source_calendars(cal.clone(), &[&source("national")]).unwrap();
        assert!(!same.has_source_calendars());
        let weekdays = with_source_calendars(cal.clone(), &[&source("weekdays")]).unwrap();
        assert!(!weekdays.national().is_working(national_day));
        assert!(weekdays
            .for_source("export")
            .national()
            .is_working(national_day));
        assert!(!weekdays
            .for_source("onenet")
            .national()
            .is_working(national_day));
        // An operator's file (relative to the mapping's directory): its holidays, Mon-Fri else.
        let dir = std::env::temp_dir().join(format!("gs-setup-cal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("city.json"),
            r#"{"calendar":"CITY","years":{"2020":{"holidays":[{"date":"2020-10-12","name":"Columbus Day"}],"makeup_workdays":[]}}}"#,
        )
        .unwrap();
        let src = source("city.json").with_calendar_dir(&dir);
        let city = with_source_calendars(cal.clone(), &[&src]).unwrap();
        let own = city.for_source("export").national();
        assert!(!own.is_working(monday) && own.is_working(national_day));
        // A missing file is an error naming the source.
        let gone = source("gone.json").with_calendar_dir(&dir);
        let e = with_source_calendars(cal, &[&gone])
            .unwrap_err()
            .to_string();
        assert!(e.contains("gone.json"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
