//! Civil time and the working-day calendar of govstream.
//!
//! Pure: calendars are built from data handed in (the bundled State Council data, or files an
//! operator adds), never from the clock or the file system. See `docs/decisions.md` for the
//! counting rules and `../../data/calendar/` for the data.

pub mod civil;
mod workday;
pub mod zone;

pub use civil::{Day, Instant, Timestamp};
pub use workday::{
    Calendar, CalendarError, CalendarFile, Deadline, LimitUnit, RegionCalendar, BUNDLED_NATIONAL,
    BUNDLED_XINJIANG,
};
pub use zone::Zone;
