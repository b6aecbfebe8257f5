//! Rejections: every record that cannot be normalized gets exactly one stable reason code.

use govstream_proto::v1::RejectReason;
use std::fmt;

/// The spec's stable reason codes (sources.md, "Rejection rules"), in precedence order.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    Oversize,
    BadEncoding,
    MalformedJson,
    MissingField,
    UnknownCode,
    BadTimestamp,
    TimeOutOfRange,
    /// Not a normalization rejection: a well-formed record of a case that retention retired
    /// (metrics.md rule 17). The engine decides it; it is not in [`Reason::ALL`].
    RetiredCase,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::Oversize,
        Reason::BadEncoding,
        Reason::MalformedJson,
        Reason::MissingField,
        Reason::UnknownCode,
        Reason::BadTimestamp,
        Reason::TimeOutOfRange,
    ];

    /// The stable snake_case code used in files, the dead-letter topic and metric labels.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Oversize => "oversize",
            Reason::BadEncoding => "bad_encoding",
            Reason::MalformedJson => "malformed_json",
            Reason::MissingField => "missing_field",
            Reason::UnknownCode => "unknown_code",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::TimeOutOfRange => "time_out_of_range",
            Reason::RetiredCase => "retired_case",
        }
    }

    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL
            .into_iter()
            .chain([Reason::RetiredCase])
            .find(|r| r.code() == code)
    }

    pub fn to_proto(self) -> RejectReason {
        match self {
            Reason::Oversize => RejectReason::Oversize,
            Reason::BadEncoding => RejectReason::BadEncoding,
            Reason::MalformedJson => RejectReason::MalformedJson,
            Reason::MissingField => RejectReason::MissingField,
            Reason::UnknownCode => RejectReason::UnknownCode,
            Reason::BadTimestamp => RejectReason::BadTimestamp,
            Reason::TimeOutOfRange => RejectReason::TimeOutOfRange,
            Reason::RetiredCase => RejectReason::RetiredCase,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why one record was rejected. `detail` names fields and code tables but never echoes field
/// values, so it cannot leak personal data into files, topics or logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Rejection {
    pub reason: Reason,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Rejection {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }
}
