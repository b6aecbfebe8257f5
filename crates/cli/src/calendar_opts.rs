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
    /// A named IANA time zone of local time instead of --utc-offset, with its daylight saving
    /// time (e.g. America/New_York, for a deployment whose users live there).
    #[arg(long, value_name = "ZONE", conflicts_with = "utc_offset")]
    pub time_zone: Option<String>,
}

impl CalendarOptions {
    pub fn load(&self) -> Result<Arc<Calendar>> {
        Ok(govstream_harness::setup::calendar(
            &self.extra,
            &self.overlays,
            self.zone_name(),
        )?)
    }

    /// `--time-zone`, else `--utc-offset`.
    pub fn zone_name(&self) -> &str {
        self.time_zone.as_deref().unwrap_or(&self.utc_offset)
    }
}
