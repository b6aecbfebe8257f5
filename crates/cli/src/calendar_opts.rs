//! Working-day calendar options shared by commands that compute timeliness.

use anyhow::{bail, Context, Result};
use govstream_calendar::{Calendar, CalendarFile};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args, Clone, Debug)]
pub struct CalendarOptions {
    /// Extra national calendar file (JSON, same format as data/calendar/cn.json), e.g. a newly
    /// announced year. Merged over the bundled 2020-2026 data; a year it lists replaces that
    /// year. Repeatable.
    #[arg(long = "calendar", value_name = "FILE")]
    pub extra: Vec<PathBuf>,
    /// Extra regional overlay file (JSON, with `region_prefix`, like
    /// data/calendar/cn-65-xinjiang.json). Repeatable.
    #[arg(long = "calendar-overlay", value_name = "FILE")]
    pub overlays: Vec<PathBuf>,
    /// UTC offset of local time (windows, working days), ±hh:mm.
    #[arg(long, default_value = "+08:00", value_name = "OFFSET")]
    pub utc_offset: String,
}

fn read(p: &PathBuf) -> Result<CalendarFile> {
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    CalendarFile::parse(&text).with_context(|| format!("calendar file {}", p.display()))
}

pub fn parse_offset(s: &str) -> Result<i32> {
    let b = s.as_bytes();
    let ok = b.len() == 6
        && (b[0] == b'+' || b[0] == b'-')
        && b[3] == b':'
        && [1, 2, 4, 5].iter().all(|&i| b[i].is_ascii_digit());
    if !ok {
        bail!("UTC offset `{s}` is not ±hh:mm");
    }
    let h: i32 = s[1..3].parse()?;
    let m: i32 = s[4..6].parse()?;
    if h > 23 || m > 59 {
        bail!("UTC offset `{s}` is out of range");
    }
    Ok(if b[0] == b'-' { -1 } else { 1 } * (h * 3600 + m * 60))
}

impl CalendarOptions {
    pub fn load(&self) -> Result<Arc<Calendar>> {
        let offset = parse_offset(&self.utc_offset)?;
        let mut national = vec![CalendarFile::parse(govstream_calendar::BUNDLED_NATIONAL)?];
        for p in &self.extra {
            national.push(read(p)?);
        }
        let mut overlays = vec![CalendarFile::parse(govstream_calendar::BUNDLED_XINJIANG)?];
        for p in &self.overlays {
            overlays.push(read(p)?);
        }
        Ok(Arc::new(Calendar::from_files(
            &national, &overlays, offset,
        )?))
    }
}
