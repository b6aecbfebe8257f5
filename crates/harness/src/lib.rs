//! What both harnesses around the pure core need — the file commands (`normalize`, `replay`)
//! and the Kafka stages (`run`) — and nothing of Kafka, so the file commands build and link
//! without librdkafka:
//!
//! - [`setup`]: options and configuration turned into the core's inputs (compiled sources,
//!   the working-day calendar, the pseudonym key), with plain errors;
//! - [`accounts`]: one accounting of every record ([`Outcome`], [`SourceCounts`],
//!   [`Accounts`]), recorded in one place and rendered the same way as `summary.json`, the
//!   terminal table and (in `run`) metrics.

pub mod accounts;
pub mod setup;

pub use accounts::{Accounts, Outcome, SourceCounts};
pub use setup::SetupError;
