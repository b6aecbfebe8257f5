//! Where a normalized event goes and where it came from: the key of the normalized topic (all
//! events of a case in one partition) and the upstream position carried with every output.

use crate::Rejection;
use govstream_proto::v1 as pb;
use govstream_proto::v1::CaseEvent;
use std::fmt;

/// Header naming the source of a normalized event or dead-letter envelope.
pub const SOURCE_HEADER: &str = "govstream-source";
/// Header holding the upstream position ([`Origin`]) of a normalized event or envelope.
pub const ORIGIN_HEADER: &str = "govstream-origin";
/// Header holding a dead-letter envelope's reason code.
pub const REASON_HEADER: &str = "govstream-reason";

/// Key of a normalized event: `<source>|<case id>`, so that a keyed partitioner puts every
/// event of a case in one partition, and so one engine.
pub fn event_key(ev: &CaseEvent) -> Vec<u8> {
    let mut k = Vec::with_capacity(ev.source.len() + 1 + ev.case_id.len());
    k.extend_from_slice(ev.source.as_bytes());
    k.push(b'|');
    k.extend_from_slice(ev.case_id.as_bytes());
    k
}

/// The upstream position of a record: `topic:partition:offset` in the `govstream-origin`
/// header of every normalized event and dead-letter envelope (and the key of the latter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

impl<'a> Origin<'a> {
    /// Parses `topic:partition:offset` (topic names may not hold `:` in Kafka, but the split is
    /// from the right anyway). `None` for anything else.
    pub fn parse(text: &'a str) -> Option<Origin<'a>> {
        let mut parts = text.rsplitn(3, ':');
        let offset = parts.next()?.parse().ok()?;
        let partition = parts.next()?.parse().ok()?;
        let topic = parts.next()?;
        Some(Origin {
            topic,
            partition,
            offset,
        })
    }
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.topic, self.partition, self.offset)
    }
}

/// The dead-letter envelope of a record of `source` at upstream position `at`: the rejection,
/// and at most `max_original` bytes of `original` (flagged when cut).
pub fn dead_letter(
    rej: &Rejection,
    source: &str,
    at: &Origin<'_>,
    original: &[u8],
    max_original: usize,
) -> pb::Rejection {
    let keep = original.len().min(max_original);
    pb::Rejection {
        reason: rej.reason.to_proto() as i32,
        reason_code: rej.reason.code().to_owned(),
        detail: rej.detail.clone(),
        source: source.to_owned(),
        topic: at.topic.to_owned(),
        partition: at.partition,
        offset: at.offset,
        original: original[..keep].to_vec(),
        original_size: original.len() as u64,
        original_truncated: keep < original.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_round_trip() {
        let o = Origin {
            topic: "raw.hotline",
            partition: 2,
            offset: 1234,
        };
        let text = o.to_string();
        assert_eq!(text, "raw.hotline:2:1234");
        assert_eq!(Origin::parse(&text), Some(o));
        assert_eq!(Origin::parse("raw:x:1"), None);
        assert_eq!(Origin::parse("12"), None);
    }

    #[test]
    fn dead_letter_envelopes_keep_the_position_and_cut_the_original() {
        let rej = Rejection::new(crate::Reason::MalformedJson, "not JSON");
        let at = Origin {
            topic: "raw.onenet",
            partition: 1,
            offset: 7,
        };
        let env = dead_letter(&rej, "onenet", &at, b"abcdef", 4);
        assert_eq!(env.reason_code, "malformed_json");
        assert_eq!(
            (env.topic.as_str(), env.partition, env.offset),
            ("raw.onenet", 1, 7)
        );
        assert_eq!(env.original, b"abcd");
        assert_eq!(env.original_size, 6);
        assert!(env.original_truncated);
        let whole = dead_letter(&rej, "onenet", &at, b"abcdef", usize::MAX);
        assert_eq!(whole.original, b"abcdef");
        assert!(!whole.original_truncated);
    }

    #[test]
    fn events_of_a_case_share_a_key() {
        let ev = CaseEvent {
            source: "onenet".into(),
            case_id: "A-1".into(),
            ..Default::default()
        };
        assert_eq!(event_key(&ev), b"onenet|A-1".to_vec());
    }
}
