//! `govstream demo`: the whole pipeline with no external services — an in-process Kafka
//! (librdkafka's mock cluster) fed by the workload generator, the three stages, and a live
//! summary on the terminal.

use crate::status::Status;
use anyhow::{Context, Result};
use govstream_generate::{GenConfig, Generator};
use govstream_pipeline::config::{
    CalendarConfig, Config, KafkaConfig, MetricsConfig, PipelineConfig, PseudonymConfig,
    SourceConfig, TopicsConfig,
};
use govstream_pipeline::kafka::MockKafka;
use govstream_pipeline::{Progress, RunOptions};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Run the whole pipeline on an embedded Kafka with generated records: no external services.
///
/// Starts librdkafka's in-process mock cluster, produces a generated workload of the three
/// upstream systems to their raw topics, runs normalize → engine → totals on it and prints a
/// live summary (progress, rates, at-most-one-trip and on-time rates) until the pipeline is
/// idle. Then prints the final accounting.
#[derive(clap::Args)]
pub struct Args {
    /// Records to generate. The in-process mock cluster keeps only 5 MB per partition (older
    /// records are dropped), so large runs need more --partitions (roughly 30,000 records each).
    #[arg(long, default_value_t = 100_000)]
    pub records: u64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 2020)]
    pub seed: u64,
    /// Partitions of every topic.
    #[arg(long, default_value_t = 12)]
    pub partitions: i32,
    /// Seconds between status lines (0 = none).
    #[arg(long, default_value_t = 1.0)]
    pub status_every: f64,
    /// Address of the metrics endpoint (/metrics, /healthz, /readyz); empty = none.
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub metrics_listen: String,
    /// Keep serving metrics this many seconds after the pipeline went idle (e.g. for a
    /// Prometheus server to scrape the final values).
    #[arg(long, default_value_t = 0.0)]
    pub linger: f64,
}

pub fn run(a: Args) -> Result<()> {
    let rt = crate::runtime()?;
    rt.block_on(async {
        let mock = MockKafka::new(1).context("starting the in-process Kafka")?;
        let brokers = mock.bootstrap();
        let sources = [
            ("hotline", "raw.hotline"),
            ("onenet", "raw.onenet"),
            ("bdc", "raw.bdc"),
            ("catalogue", "raw.catalogue"),
        ];
        let topics = TopicsConfig {
            partitions: a.partitions,
            ..TopicsConfig::default()
        };
        for (_, t) in sources {
            mock.create_topic(t, a.partitions)?;
        }
        for t in [
            &topics.normalized,
            &topics.dead_letter,
            &topics.partials,
            &topics.aggregates,
            &topics.checkpoints,
        ] {
            mock.create_topic(t, a.partitions)?;
        }
        if let Some(j) = topics.json_mirror() {
            mock.create_topic(j, a.partitions)?;
        }
        let cfg = Config {
            kafka: KafkaConfig {
                brokers: brokers.clone(),
                group_prefix: "govstream-demo".into(),
                properties: Default::default(),
                // The mock cluster keeps no transactional offsets.
                transactions: false,
            },
            topics,
            sources: sources
                .iter()
                .map(|(n, t)| SourceConfig {
                    name: (*n).into(),
                    topic: (*t).into(),
                    mapping: None,
                })
                .collect(),
            pseudonym: PseudonymConfig::default(),
            calendar: CalendarConfig::default(),
            engine: Default::default(),
            checkpoint: Default::default(),
            metrics: MetricsConfig {
                listen: a.metrics_listen.clone(),
                ..MetricsConfig::default()
            },
            pipeline: PipelineConfig::default(),
        };
        cfg.validate()?;
        println!(
            "govstream demo: in-process Kafka at {brokers}; producing {} generated records (seed {}) to raw.hotline, raw.onenet, raw.bdc, and the service-item catalogue to raw.catalogue",
            a.records, a.seed
        );
        let progress = Arc::new(Progress::default());
        progress.touch();
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("linger.ms", "5")
            .set("queue.buffering.max.messages", "1000000")
            .create()?;
        let gen_cfg = GenConfig {
            seed: a.seed,
            records: a.records,
            ..GenConfig::default()
        };
        let feeder_progress = progress.clone();
        let listings = govstream_generate::catalogue(&gen_cfg);
        let feeder = tokio::spawn(async move {
            let started = Instant::now();
            let mut n = 0u64;
            // The catalogue first, then the cases (the join does not depend on the order).
            let records = listings
                .into_iter()
                .map(|bytes| ("raw.catalogue".to_owned(), bytes))
                .chain(
                    Generator::new(gen_cfg).map(|r| (format!("raw.{}", r.source.name()), r.bytes)),
                );
            for (topic, bytes) in records {
                let mut rec = FutureRecord::<[u8], [u8]>::to(&topic).payload(&bytes[..]);
                loop {
                    match producer.send_result(rec) {
                        Ok(_) => break,
                        Err((_, back)) => {
                            rec = back;
                            producer.poll(Duration::from_millis(10));
                            tokio::task::yield_now().await;
                        }
                    }
                }
                n += 1;
                if n % 10_000 == 0 {
                    feeder_progress.touch();
                    tokio::task::yield_now().await;
                }
            }
            let _ = producer.flush(Duration::from_secs(30));
            (n, started.elapsed())
        });
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let status = Status::spawn(progress.clone(), a.status_every, true);
        let opts = RunOptions {
            idle_exit: Some(Duration::from_secs(4)),
            linger: (a.linger > 0.0).then(|| Duration::from_secs_f64(a.linger)),
            skip_topic_creation: true,
            instance_id: None,
        };
        if !a.metrics_listen.is_empty() {
            println!(
                "live status page: http://{0}/ (English: http://{0}/?lang=en); metrics: http://{0}/metrics (also /status.json, /healthz, /readyz)",
                a.metrics_listen
            );
        }
        let started = Instant::now();
        let r = govstream_pipeline::run(cfg, opts, progress.clone(), rx).await;
        status.stop();
        let (sent, took) = feeder.await.context("generator task")?;
        println!(
            "\nproduced {sent} raw records in {:.1}s; pipeline ran {:.1}s",
            took.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        Status::print_final(&progress);
        let t = progress.accounts().total();
        if t.settled() < t.normalized {
            println!(
                "warning: {} normalized events were not applied: the mock cluster keeps only 5 MB per partition; use fewer --records or more --partitions",
                t.normalized - t.settled()
            );
        } else {
            println!(
                "every record accounted for: {} read = {} normalized ({} applied, {} duplicates, {} conflicts, {} ignored) + {} rejected",
                t.read, t.normalized, t.events, t.duplicates, t.conflicts, t.ignored, t.rejected_total()
            );
        }
        drop(mock);
        r.map_err(anyhow::Error::from)
    })
}
