//! Normalization: raw upstream records in, canonical [`CaseEvent`]s or [`Rejection`]s out.
//!
//! Pure: bytes and a compiled mapping in, a value out. No I/O, no clock, no global state.
//! Personal data (names, phone numbers, ID numbers, free text) never leaves this crate except as
//! the keyed caller pseudonym.

pub mod csv;
mod dedupe;
pub mod json;
pub mod lineage;
pub mod mapping;
mod pseudonym;
mod reject;
mod source;
#[cfg(test)]
mod tests;

pub use dedupe::{Deduplicator, Seen};
pub use govstream_proto::v1::CaseEvent;
pub use mapping::SourceMapping;
pub use pseudonym::{normalize_phone, PseudonymKey};
pub use reject::{Reason, Rejection};
pub use source::{
    CalendarChoice, CompiledSource, MappingError, MAX_INSTANT_EXCLUSIVE, MIN_INSTANT,
};

use std::sync::Arc;

/// Compiles a built-in preset (`hotline`, `onenet`, `bdc`).
pub fn preset(name: &str, key: Arc<PseudonymKey>) -> Option<Result<CompiledSource, MappingError>> {
    SourceMapping::preset(name).map(|m| CompiledSource::compile(&m, key))
}

/// Compiles a mapping file's text (TOML).
pub fn from_mapping_file(
    text: &str,
    key: Arc<PseudonymKey>,
) -> Result<CompiledSource, MappingError> {
    let m = SourceMapping::from_toml(text)?;
    CompiledSource::compile(&m, key)
}
