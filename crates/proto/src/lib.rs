//! Generated Rust types for govstream's canonical protobuf schemas (`proto/govstream/v1`).
//!
//! Binary encoding comes from `prost`; the JSON rendering (`serde`) follows the proto3 JSON
//! mapping (camelCase names, enum names as strings, 64-bit integers as strings).

#[allow(clippy::all, missing_docs)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/govstream.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/govstream.v1.serde.rs"));
}

pub mod hash;

pub use prost::Message;
