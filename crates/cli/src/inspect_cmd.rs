//! `govstream inspect`: read a govstream topic and print its records as JSON.

use anyhow::{bail, Context, Result};
use govstream_engine::{canonical_json, Family};
use govstream_proto::v1 as pb;
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Kind {
    /// Aggregate records (protobuf AggregateRecord), printed in the canonical JSON rendering.
    Aggregates,
    /// Dead-letter records (protobuf Rejection): source position, reason and detail (the
    /// original bytes are not printed: they may hold personal data).
    Dlq,
    /// Canonical events (protobuf CaseEvent), in the proto3 JSON mapping.
    Normalized,
}

/// Read a topic from its beginning and print every record as one JSON line.
#[derive(clap::Args)]
pub struct Args {
    /// `bootstrap.servers`.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub brokers: String,
    #[arg(long)]
    pub topic: String,
    /// What the topic holds.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// Aggregates only: print the final value of every key (latest record, tombstones removed)
    /// in the canonical order, like `govstream replay`'s aggregates.ndjson.
    #[arg(long = "final")]
    pub final_values: bool,
    /// Stop after this many seconds without a new record.
    #[arg(long, default_value_t = 3.0)]
    pub idle: f64,
}

pub fn run(a: Args) -> Result<()> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &a.brokers)
        .set("group.id", "govstream-inspect")
        .set("enable.auto.commit", "false")
        .create()
        .context("creating the Kafka consumer")?;
    let md = c
        .fetch_metadata(Some(&a.topic), Duration::from_secs(10))
        .context("fetching topic metadata")?;
    let parts: Vec<i32> = md
        .topics()
        .iter()
        .filter(|t| t.name() == a.topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if parts.is_empty() {
        bail!("topic `{}` does not exist", a.topic);
    }
    let mut tpl = TopicPartitionList::new();
    for p in &parts {
        tpl.add_partition_offset(&a.topic, *p, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    let mut finals: BTreeMap<Vec<u8>, Option<pb::AggregateRecord>> = BTreeMap::new();
    let mut last = Instant::now();
    let idle = Duration::from_secs_f64(a.idle);
    while last.elapsed() < idle {
        let Some(m) = c.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m.context("reading the topic")?;
        last = Instant::now();
        let payload = m.payload();
        match a.kind {
            Kind::Aggregates => {
                let key = m.key().unwrap_or_default().to_vec();
                let rec = match payload {
                    Some(p) => Some(pb::AggregateRecord::decode(p).with_context(|| {
                        format!(
                            "partition {} offset {}: not an AggregateRecord",
                            m.partition(),
                            m.offset()
                        )
                    })?),
                    None => None,
                };
                if a.final_values {
                    finals.insert(key, rec);
                } else {
                    match rec {
                        Some(r) => println!("{}", canonical_json(&r)),
                        None => println!(
                            "{{\"tombstone\":true,\"partition\":{},\"offset\":{}}}",
                            m.partition(),
                            m.offset()
                        ),
                    }
                }
            }
            Kind::Dlq => {
                let r = pb::Rejection::decode(payload.unwrap_or_default())
                    .context("not a Rejection")?;
                println!(
                    "{}",
                    serde_json::json!({
                        "source": r.source, "topic": r.topic, "partition": r.partition,
                        "offset": r.offset, "reason": r.reason_code, "detail": r.detail,
                        "bytes": r.original_size, "truncated": r.original_truncated,
                    })
                );
            }
            Kind::Normalized => {
                let e = pb::CaseEvent::decode(payload.unwrap_or_default())
                    .context("not a CaseEvent")?;
                println!("{}", serde_json::to_string(&e)?);
            }
        }
    }
    if a.final_values {
        let mut recs: Vec<String> = finals
            .into_values()
            .flatten()
            .map(|r| canonical_json(&r))
            .collect();
        // Canonical order = byte order of (family, granularity, window, dims): sort by them.
        recs.sort_by_cached_key(|l| sort_key(l));
        for l in recs {
            println!("{l}");
        }
    }
    Ok(())
}

fn sort_key(line: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
    let family = v["family"].as_str().and_then(Family::from_name);
    let dims = family.unwrap_or(Family::Application).dimension_names();
    ["family", "granularity", "window"]
        .into_iter()
        .chain(dims.iter().copied())
        .map(|k| v[k].as_str().unwrap_or_default().to_owned())
        .collect()
}
