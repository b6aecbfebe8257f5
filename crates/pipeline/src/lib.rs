//! The Kafka edges of govstream (see ARCHITECTURE.md): configuration, clients, the three
//! pipeline stages and their orchestration. The pure core (normalize, calendar, engine) does
//! the thinking; this crate moves bytes.

pub mod checkpoint;
pub mod config;
pub mod driver;
pub mod http;
pub mod kafka;
pub mod kafka_io;
#[cfg(test)]
mod memory;
pub mod metrics;
pub mod progress;
pub mod run;
pub mod stages;
pub mod status_page;

pub use config::Config;
pub use progress::Progress;
pub use run::{run, RunError, RunOptions};
