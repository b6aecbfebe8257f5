//! The one typed configuration of `govstream run` (TOML, unknown keys rejected).
//! Examples: `deploy/config/*.toml`.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub topics: TopicsConfig,
    /// Upstream sources: which raw topic carries which system's records.
    pub sources: Vec<SourceConfig>,
    #[serde(default)]
    pub pseudonym: PseudonymConfig,
    #[serde(default)]
    pub calendar: CalendarConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub pipeline: PipelineConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Consumer groups are `<group_prefix>-normalize`, `-engine` and `-totals`.
    #[serde(default = "default_group_prefix")]
    pub group_prefix: String,
    /// Extra librdkafka properties for every client (security, timeouts, ...).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Write normalized events, rejections and the consumed offsets of the normalize stage in
    /// Kafka transactions (exactly-once into those topics on brokers that support them). Off by
    /// default: the final aggregates are exact either way (see ARCHITECTURE.md).
    #[serde(default)]
    pub transactions: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    /// Canonical events (protobuf `govstream.v1.CaseEvent`), keyed by source and case id.
    pub normalized: String,
    /// Rejected records (protobuf `govstream.v1.Rejection`, original bytes inside).
    pub dead_letter: String,
    /// Internal: partial aggregates per engine partition (protobuf `govstream.v1.Partial`).
    pub partials: String,
    /// Aggregates (protobuf `govstream.v1.AggregateRecord`), compacted, keyed by
    /// `govstream.v1.AggregateKey`.
    pub aggregates: String,
    /// Optional mirror of the aggregates in the canonical JSON rendering.
    #[serde(default)]
    pub aggregates_json: Option<String>,
    /// Partitions of the topics govstream creates (normalized, partials, aggregates, DLQ).
    pub partitions: i32,
    pub replication_factor: i32,
    /// Create missing topics at start (with compaction where it belongs).
    pub create: bool,
}

impl Default for TopicsConfig {
    fn default() -> TopicsConfig {
        TopicsConfig {
            normalized: "govstream.normalized.v1".into(),
            dead_letter: "govstream.dlq.v1".into(),
            partials: "govstream.partials.v1".into(),
            aggregates: "govstream.aggregates.v1".into(),
            aggregates_json: Some("govstream.aggregates.json.v1".into()),
            partitions: 6,
            replication_factor: 1,
            create: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A preset (`hotline`, `onenet`, `bdc`) or the `name` of the mapping file.
    pub name: String,
    /// Raw topic of this source.
    pub topic: String,
    /// Mapping file (TOML) for systems that are not presets.
    #[serde(default)]
    pub mapping: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PseudonymConfig {
    /// File holding the HMAC key of caller pseudonyms. Else $GOVSTREAM_PSEUDONYM_KEY, else a
    /// public demo key (with a warning).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// Extra national calendar files merged over the bundled data.
    #[serde(default)]
    pub extra: Vec<PathBuf>,
    /// Extra regional overlays.
    #[serde(default)]
    pub overlays: Vec<PathBuf>,
    #[serde(default = "default_offset")]
    pub utc_offset: String,
}

impl Default for CalendarConfig {
    fn default() -> CalendarConfig {
        CalendarConfig {
            extra: Vec::new(),
            overlays: Vec::new(),
            utc_offset: default_offset(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the HTTP endpoint (`/metrics`, `/healthz`, `/readyz`); empty = off.
    pub listen: String,
    /// Labels of timeliness metrics, from `region`, `dept`, `channel`, `category`, `item`.
    pub labels: Vec<String>,
    /// Cap on timeliness series; label sets beyond it are dropped and counted.
    pub max_series: usize,
}

impl Default for MetricsConfig {
    fn default() -> MetricsConfig {
        MetricsConfig {
            listen: "0.0.0.0:9464".into(),
            labels: vec![
                "region".into(),
                "dept".into(),
                "channel".into(),
                "category".into(),
            ],
            max_series: 20_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// How often each stage flushes its output and commits (milliseconds).
    pub flush_interval_ms: u64,
    /// Largest batch of records a stage handles between flushes.
    pub max_batch: usize,
    /// How often the totals stage publishes changed aggregates (milliseconds). Each publication
    /// re-renders the keys that changed, so it is paced apart from the flushes.
    pub publish_interval_ms: u64,
}

impl Default for PipelineConfig {
    fn default() -> PipelineConfig {
        PipelineConfig {
            flush_interval_ms: 500,
            max_batch: 10_000,
            publish_interval_ms: 2_000,
        }
    }
}

fn default_group_prefix() -> String {
    "govstream".into()
}
fn default_offset() -> String {
    "+08:00".into()
}

/// A configuration that cannot be used, said plainly.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let c: Config = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
        c.validate()?;
        Ok(c)
    }

    /// Checks what serde cannot: every problem is named with the key it concerns.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.kafka.brokers.trim().is_empty() {
            return bad("kafka.brokers is empty".into());
        }
        if self.sources.is_empty() {
            return bad("no [[sources]]: configure at least one raw topic".into());
        }
        let mut names = std::collections::BTreeSet::new();
        let mut topics = std::collections::BTreeSet::new();
        for s in &self.sources {
            if !names.insert(&s.name) {
                return bad(format!("source `{}` is configured twice", s.name));
            }
            if !topics.insert(&s.topic) {
                return bad(format!("topic `{}` is used by two sources", s.topic));
            }
        }
        let t = &self.topics;
        let ours = [&t.normalized, &t.dead_letter, &t.partials, &t.aggregates];
        for (i, a) in ours.iter().enumerate() {
            if a.is_empty() {
                return bad("a topic name in [topics] is empty".into());
            }
            if ours[i + 1..].contains(a) || topics.contains(a) {
                return bad(format!("topic `{a}` is used twice"));
            }
        }
        if t.partitions < 1 || t.replication_factor < 1 {
            return bad(
                "topics.partitions and topics.replication_factor must be at least 1".into(),
            );
        }
        for l in &self.metrics.labels {
            if !["region", "dept", "channel", "category", "item"].contains(&l.as_str()) {
                return bad(format!(
                    "metrics.labels: `{l}` is not one of region, dept, channel, category, item"
                ));
            }
        }
        if self.pipeline.max_batch == 0 || self.pipeline.flush_interval_ms == 0 {
            return bad(
                "pipeline.max_batch and pipeline.flush_interval_ms must be positive".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }

    const MINIMAL: &str = r#"
[kafka]
brokers = "127.0.0.1:9092"
[[sources]]
name = "hotline"
topic = "raw.hotline"
"#;

    #[test]
    fn a_minimal_config_gets_the_documented_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.topics.normalized, "govstream.normalized.v1");
        assert_eq!(c.topics.partitions, 6);
        assert_eq!(c.metrics.listen, "0.0.0.0:9464");
        assert_eq!(c.kafka.group_prefix, "govstream");
        // A partial section keeps the other defaults.
        let c = parse(&format!("{MINIMAL}\n[metrics]\nmax_series = 10\n")).unwrap();
        assert_eq!(c.metrics.max_series, 10);
        assert_eq!(c.metrics.listen, "0.0.0.0:9464");
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (
                MINIMAL.replace("brokers", "broker"),
                "unknown field `broker`",
            ),
            (
                MINIMAL.replace("127.0.0.1:9092", " "),
                "kafka.brokers is empty",
            ),
            (
                format!("{MINIMAL}[[sources]]\nname = \"hotline\"\ntopic = \"x\"\n"),
                "source `hotline` is configured twice",
            ),
            (
                format!("{MINIMAL}[[sources]]\nname = \"onenet\"\ntopic = \"raw.hotline\"\n"),
                "topic `raw.hotline` is used by two sources",
            ),
            (format!("{MINIMAL}[topics]\npartitions = 0\n"), "at least 1"),
            (
                format!("{MINIMAL}[metrics]\nlabels = [\"case_id\"]\n"),
                "`case_id` is not one of",
            ),
            (
                format!("{MINIMAL}[topics]\nnormalized = \"raw.hotline\"\n"),
                "used twice",
            ),
            (
                "sources = []\n[kafka]\nbrokers = \"x\"\n".to_owned(),
                "no [[sources]]",
            ),
        ];
        for (text, want) in cases {
            let e = parse(&text).unwrap_err();
            assert!(e.contains(want), "{want}: got {e}");
        }
    }

    #[test]
    fn every_example_config_is_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/config");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                Config::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                n += 1;
            }
        }
        assert!(n >= 3);
    }
}
