//! The timeliness report: what operations teams read. From final aggregates (the canonical
//! JSON lines of `replay`, or an aggregates topic read to its end) the figures of a period — a
//! month, a quarter or a year — with the previous period's for comparison, rankings of counties
//! and departments (worst first), month-by-month trends and the duration distribution
//! ([`figures`]), rendered as JSON or as one self-contained HTML page ([`html`]).
//!
//! Pure: records in, text out; the CLI (`govstream report`) reads and writes the files.

pub mod figures;
pub mod html;

pub use figures::{figures, CalendarNote, Figures, InputError, Period, Record};
pub use html::{html, Lang};
