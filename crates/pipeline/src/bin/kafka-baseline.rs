//! The broker's own limits on this machine, for `scripts/bench-kafka.sh`: a plain librdkafka
//! producer and a plain librdkafka consumer that do nothing but move records.
//!
//! ```text
//! kafka-baseline produce BROKERS TOPIC FILE [PARTITIONS]   # one record per non-empty line
//! kafka-baseline consume BROKERS TOPIC[,TOPIC...]          # count every record to the end
//! kafka-baseline last-write BROKERS TOPIC                  # latest record timestamp (ms)
//! ```
//!
//! Each prints one line: `<verb> <records> records <bytes> bytes <seconds> s <records/s> records/s`.
//! The settings are those a throughput-minded user would pick (large batches and fetches,
//! lz4 off, acks=all with idempotence like govstream's own producers).

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::io::BufRead;
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["produce", brokers, topic, file] => produce(brokers, topic, file, 3),
        ["produce", brokers, topic, file, parts] => produce(brokers, topic, file, parts.parse()?),
        ["consume", brokers, topics] => consume(brokers, topics),
        ["last-write", brokers, topic] => last_write(brokers, topic),
        _ => {
            eprintln!("usage: kafka-baseline produce BROKERS TOPIC FILE [PARTITIONS]\n       kafka-baseline consume BROKERS TOPIC[,TOPIC...]\n       kafka-baseline last-write BROKERS TOPIC");
            std::process::exit(2)
        }
    }
}

fn report(verb: &str, n: u64, bytes: u64, t: Duration) {
    let s = t.as_secs_f64();
    println!(
        "{verb} {n} records {bytes} bytes {s:.3} s {:.0} records/s",
        n as f64 / s.max(1e-9)
    );
}

fn produce(brokers: &str, topic: &str, file: &str, partitions: i32) -> Result<()> {
    create_topic(brokers, topic, partitions)?;
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(file)?);
    let lines: Vec<Vec<u8>> = f
        .split(b'\n')
        .filter_map(|l| l.ok())
        .map(|mut l| {
            if l.last() == Some(&b'\r') {
                l.pop();
            }
            l
        })
        .filter(|l| !l.is_empty())
        .collect();
    let started = Instant::now();
    let mut bytes = 0u64;
    for l in &lines {
        let mut rec = BaseRecord::<(), [u8]>::to(topic).payload(&l[..]);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    rec = r;
                    p.poll(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        bytes += l.len() as u64;
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(120))?;
    report("produce", lines.len() as u64, bytes, started.elapsed());
    Ok(())
}

fn create_topic(brokers: &str, topic: &str, partitions: i32) -> Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let t = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for r in rt.block_on(admin.create_topics(&[t], &AdminOptions::new()))? {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(format!("cannot create {name}: {code}").into()),
        }
    }
    Ok(())
}

/// Reads `topics` from the beginning to the high watermarks taken now; calls `each` per record.
fn read_all(
    brokers: &str,
    topics: &str,
    mut each: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) -> Result<()> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "kafka-baseline")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.max.bytes", "67108864")
        .set("max.partition.fetch.bytes", "8388608")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    let mut ends = std::collections::HashMap::new();
    for topic in topics.split(',') {
        let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        for t in md.topics() {
            for p in t.partitions() {
                let (low, high) = c.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
                if high > low {
                    ends.insert((topic.to_owned(), p.id()), high);
                    tpl.add_partition_offset(topic, p.id(), Offset::Beginning)?;
                }
            }
        }
    }
    c.assign(&tpl)?;
    let mut last = Instant::now();
    while !ends.is_empty() {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                each(&m);
                last = Instant::now();
                let k = (m.topic().to_owned(), m.partition());
                if ends.get(&k).is_some_and(|end| m.offset() + 1 >= *end) {
                    ends.remove(&k);
                }
            }
            Some(Err(e)) => eprintln!("consume error: {e}"),
            None if last.elapsed() > Duration::from_secs(30) => {
                return Err("no record for 30 s before the end".into())
            }
            None => {}
        }
    }
    Ok(())
}

fn consume(brokers: &str, topics: &str) -> Result<()> {
    let started = Instant::now();
    let (mut n, mut bytes) = (0u64, 0u64);
    read_all(brokers, topics, |m| {
        n += 1;
        bytes += m.payload_len() as u64;
    })?;
    report("consume", n, bytes, started.elapsed());
    Ok(())
}

/// The latest timestamp (milliseconds since the epoch) of a record of `topic`.
fn last_write(brokers: &str, topic: &str) -> Result<()> {
    let mut latest = 0i64;
    read_all(brokers, topic, |m| {
        latest = latest.max(m.timestamp().to_millis().unwrap_or(0))
    })?;
    println!("{latest}");
    Ok(())
}
