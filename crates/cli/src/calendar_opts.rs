//! Working-day calendar options shared by commands that compute timeliness.

use anyhow::Result;
use govstream_calendar::Calendar;
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

impl CalendarOptions {
    pub fn load(&self) -> Result<Arc<Calendar>> {
        Ok(govstream_harness::setup::calendar(
            &self.extra,
            &self.overlays,
            &self.utc_offset,
        )?)
    }
}
