//! The one typed configuration of `govstream run` (TOML, unknown keys rejected).
//! Examples: `deploy/config/*.toml`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
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
    #[serde(default)]
    pub engine: EngineConfig,
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Retire finished cases whose latest record is more than this many days behind their
    /// source's watermark (metrics.md rule 17); their later records go to the dead-letter topic
    /// with reason `retired_case`. Unset: keep every case (exact for any lateness).
    pub retention_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// Write engine checkpoints (state + the offsets it covers) and restore from them on
    /// assignment. Off: every assignment rebuilds from the partition's start.
    pub enabled: bool,
    /// A partition is checkpointed after this many records since its last checkpoint...
    pub interval_records: u64,
    /// ...or this many milliseconds, whichever comes first (only if records arrived).
    pub interval_ms: u64,
    /// Largest chunk value; must stay below the broker's `message.max.bytes` (1 MiB default).
    pub max_chunk_bytes: usize,
}

impl Default for CheckpointConfig {
    fn default() -> CheckpointConfig {
        CheckpointConfig {
            enabled: true,
            interval_records: 1_000_000,
            interval_ms: 60_000,
            max_chunk_bytes: 512 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Consumer groups are `<group_prefix>-normalize`, `-engine` and `-totals`.
    #[serde(default = "default_group_prefix")]
    pub group_prefix: String,
    /// Extra librdkafka properties for every client (security, timeouts, ...). A value may be
    /// a reference to a secret instead of the secret: `${env:NAME}` (an environment variable)
    /// or `${file:PATH}` (a file's content, trailing newline removed); resolved at load time.
    /// Secret values are never printed (see [`Properties`]).
    #[serde(default)]
    pub properties: Properties,
    /// Write normalized events, rejections and the consumed offsets of the normalize stage in
    /// Kafka transactions (exactly-once into those topics on brokers that support them). Off by
    /// default: the final aggregates are exact either way (see ARCHITECTURE.md).
    #[serde(default)]
    pub transactions: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
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
    /// Mirror of the aggregates in the canonical JSON rendering; `""` turns it off. (No
    /// field-level serde default here: it would override the section's default.)
    pub aggregates_json: String,
    /// Partitions of the topics govstream creates (normalized, partials, aggregates, DLQ).
    pub partitions: i32,
    pub replication_factor: i32,
    /// Engine checkpoints (protobuf `govstream.v1.CheckpointManifest` and `EngineChunk`),
    /// compacted, keyed by stage, partition and sequence (docs/checkpoints.md).
    pub checkpoints: String,
    /// Create missing topics at start (with compaction where it belongs).
    pub create: bool,
}

impl TopicsConfig {
    /// The JSON mirror topic, unless turned off with `aggregates_json = ""`.
    pub fn json_mirror(&self) -> Option<&str> {
        Some(self.aggregates_json.as_str()).filter(|t| !t.is_empty())
    }
}

impl Default for TopicsConfig {
    fn default() -> TopicsConfig {
        TopicsConfig {
            normalized: "govstream.normalized.v1".into(),
            dead_letter: "govstream.dlq.v1".into(),
            partials: "govstream.partials.v1".into(),
            aggregates: "govstream.aggregates.v1".into(),
            aggregates_json: "govstream.aggregates.json.v1".into(),
            checkpoints: "govstream.checkpoints.v1".into(),
            partitions: 6,
            replication_factor: 1,
            create: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
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

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PseudonymConfig {
    /// File holding the HMAC key of caller pseudonyms. Else $GOVSTREAM_PSEUDONYM_KEY, else a
    /// public demo key (with a warning).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
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
    /// A named IANA zone for windows and working days (`America/New_York`), with its daylight
    /// saving time; when given it replaces `utc_offset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl CalendarConfig {
    /// The zone of windows and working days: `time_zone`, else `utc_offset`.
    pub fn zone_name(&self) -> &str {
        self.time_zone.as_deref().unwrap_or(&self.utc_offset)
    }
}

impl Default for CalendarConfig {
    fn default() -> CalendarConfig {
        CalendarConfig {
            extra: Vec::new(),
            overlays: Vec::new(),
            utc_offset: default_offset(),
            time_zone: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the HTTP endpoint (`/metrics`, `/healthz`, `/readyz`); empty = off.
    pub listen: String,
    /// Labels of timeliness metrics, from `region`, `dept`, `channel`, `category`, `item`.
    pub labels: Vec<String>,
    /// Cap on timeliness series; label sets beyond it are dropped and counted.
    pub max_series: usize,
    /// The one-trip promise-kept rate (0..1) below which a department's 30 days alert
    /// (`GovstreamOneTripPromiseKeptLow`): exported as
    /// `govstream_promise_kept_alert_threshold_ratio` for the rule to compare with.
    pub promise_kept_alert_ratio: f64,
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
            promise_kept_alert_ratio: 0.9,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// How often each stage flushes its output and commits (milliseconds).
    pub flush_interval_ms: u64,
    /// Largest batch of records a stage handles between flushes.
    pub max_batch: usize,
    /// How often the totals stage publishes changed aggregates (milliseconds). Each publication
    /// re-renders the keys that changed, so it is paced apart from the flushes; while the stage
    /// works through a backlog it waits at least four times as long as the last publication
    /// took (docs/decisions.md, 35).
    pub publish_interval_ms: u64,
    /// Most bytes of a rejected record's original value copied into its dead-letter envelope.
    /// Longer values (`oversize` records) keep their first bytes, flagged `original_truncated`,
    /// so that the envelope always fits a broker's default 1 MiB message limit; the whole value
    /// stays in the raw topic at the envelope's position.
    pub dlq_original_max_bytes: usize,
}

impl Default for PipelineConfig {
    fn default() -> PipelineConfig {
        PipelineConfig {
            flush_interval_ms: 500,
            max_batch: 10_000,
            publish_interval_ms: 2_000,
            dlq_original_max_bytes: 1_000_000,
        }
    }
}

/// librdkafka properties. Values may be `${env:NAME}` or `${file:PATH}` references, resolved by
/// [`Config::load`]. `Debug` and [`Properties::masked`] never show a secret: the value of a
/// secret-looking key (password, secret, private key, credentials) or of a resolved reference.
#[derive(Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Properties {
    values: BTreeMap<String, String>,
    /// Keys whose value came from a reference (a secret by declaration).
    #[serde(skip)]
    referenced: std::collections::BTreeSet<String>,
}

impl Properties {
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn insert(&mut self, key: &str, value: &str) {
        self.values.insert(key.to_owned(), value.to_owned());
    }

    /// Whether the value of `key` must never be shown.
    pub fn is_secret(&self, key: &str) -> bool {
        const WORDS: [&str; 5] = ["password", "secret", "key.pem", "credential", "jaas"];
        self.referenced.contains(key) || WORDS.iter().any(|w| key.contains(w))
    }

    /// The properties with every secret value replaced by `****`: what may be printed.
    pub fn masked(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| {
                let v = if self.is_secret(k) { "****" } else { v };
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    /// Replaces `${env:NAME}` and `${file:PATH}` values with what they refer to.
    pub fn resolve(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for (k, v) in self.values.iter_mut() {
            let Some(reference) = v.strip_prefix("${").and_then(|r| r.strip_suffix('}')) else {
                continue;
            };
            let resolved = if let Some(name) = reference.strip_prefix("env:") {
                env(name).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "kafka.properties.\"{k}\": environment variable {name} is not set"
                    ))
                })?
            } else if let Some(path) = reference.strip_prefix("file:") {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::Invalid(format!(
                        "kafka.properties.\"{k}\": cannot read secret file {path}: {e}"
                    ))
                })?;
                text.trim_end_matches(['\n', '\r']).to_owned()
            } else {
                return Err(ConfigError::Invalid(format!(
                    "kafka.properties.\"{k}\": a value in ${{...}} must be ${{env:NAME}} or ${{file:PATH}}"
                )));
            };
            *v = resolved;
            self.referenced.insert(k.clone());
        }
        Ok(())
    }
}

impl std::fmt::Debug for Properties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.masked()).finish()
    }
}

impl<const N: usize> From<[(&str, &str); N]> for Properties {
    fn from(pairs: [(&str, &str); N]) -> Properties {
        let mut p = Properties::default();
        for (k, v) in pairs {
            p.insert(k, v);
        }
        p
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
        let mut c: Config = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
        c.validate()?;
        c.kafka
            .properties
            .resolve(|name| std::env::var(name).ok())?;
        Ok(c)
    }

    /// The effective configuration as TOML, every default filled in and secrets masked: what
    /// `run --check` prints.
    pub fn effective_toml(&self) -> String {
        let mut shown = self.clone();
        shown.kafka.properties = Properties {
            values: self.kafka.properties.masked(),
            referenced: Default::default(),
        };
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
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
        let ours = [
            &t.normalized,
            &t.dead_letter,
            &t.partials,
            &t.aggregates,
            &t.aggregates_json,
            &t.checkpoints,
        ];
        for (i, a) in ours.iter().enumerate() {
            if a.is_empty() {
                if *a == &t.aggregates_json {
                    continue; // the JSON mirror is off
                }
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
            let names = govstream_engine::schema::DIMENSION_NAMES;
            if !names.contains(&l.as_str()) {
                return bad(format!(
                    "metrics.labels: `{l}` is not one of {}",
                    names.join(", ")
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.metrics.promise_kept_alert_ratio) {
            return bad(format!(
                "metrics.promise_kept_alert_ratio is {}: a rate from 0 to 1",
                self.metrics.promise_kept_alert_ratio
            ));
        }
        if self.engine.retention_days == Some(0) {
            return bad(
                "engine.retention_days must be at least 1 (leave it out to keep every case)".into(),
            );
        }
        let c = &self.checkpoint;
        if c.enabled && (c.interval_records == 0 || c.interval_ms == 0) {
            return bad(
                "checkpoint.interval_records and checkpoint.interval_ms must be positive".into(),
            );
        }
        if !(4096..=8 * 1024 * 1024).contains(&c.max_chunk_bytes) {
            return bad(format!(
                "checkpoint.max_chunk_bytes is {}: use 4096..=8388608 (and below the broker's message.max.bytes)",
                c.max_chunk_bytes
            ));
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

    /// Every key of every section, set alone, leaves every other key at the section's default
    /// (a field-level serde default would silently override the section's): the bug where a
    /// `[topics]` table with only `partitions` lost the JSON mirror topic.
    #[test]
    fn each_key_set_alone_keeps_the_other_defaults() {
        fn check<T>(section: &str, pick: impl Fn(&Config) -> T)
        where
            T: serde::Serialize + PartialEq + std::fmt::Debug,
        {
            let base = parse(MINIMAL).unwrap();
            let default = toml::Table::try_from(pick(&base)).unwrap();
            assert!(!default.is_empty(), "{section}");
            for (key, value) in &default {
                let mut one = toml::Table::new();
                one.insert(key.clone(), value.clone());
                let text = format!("{MINIMAL}\n[{section}]\n{}", toml::to_string(&one).unwrap());
                let c = parse(&text).unwrap_or_else(|e| panic!("{section}.{key}: {e}"));
                assert_eq!(pick(&c), pick(&base), "[{section}] with only `{key}`");
            }
            // An empty table is the default too.
            let c = parse(&format!("{MINIMAL}\n[{section}]\n")).unwrap();
            assert_eq!(pick(&c), pick(&base), "empty [{section}]");
        }
        check("topics", |c| c.topics.clone());
        check("metrics", |c| c.metrics.clone());
        check("pipeline", |c| c.pipeline.clone());
        check("calendar", |c| c.calendar.clone());
    }

    /// The documented defaults, key by key (README, docs/operations).
    #[test]
    fn documented_defaults() {
        let c = parse(MINIMAL).unwrap();
        let t = &c.topics;
        assert_eq!(
            (
                t.normalized.as_str(),
                t.dead_letter.as_str(),
                t.partials.as_str(),
                t.aggregates.as_str(),
                t.json_mirror(),
            ),
            (
                "govstream.normalized.v1",
                "govstream.dlq.v1",
                "govstream.partials.v1",
                "govstream.aggregates.v1",
                Some("govstream.aggregates.json.v1"),
            )
        );
        assert_eq!((t.partitions, t.replication_factor, t.create), (6, 1, true));
        let p = &c.pipeline;
        assert_eq!(
            (
                p.flush_interval_ms,
                p.max_batch,
                p.publish_interval_ms,
                p.dlq_original_max_bytes
            ),
            (500, 10_000, 2_000, 1_000_000)
        );
        assert_eq!(c.metrics.listen, "0.0.0.0:9464");
        assert_eq!(c.metrics.labels, ["region", "dept", "channel", "category"]);
        assert_eq!(c.metrics.max_series, 20_000);
        assert_eq!(c.calendar.utc_offset, "+08:00");
        assert_eq!(c.kafka.group_prefix, "govstream");
        assert!(!c.kafka.transactions);
        assert!(c.kafka.properties.iter().next().is_none());
        // The JSON mirror is turned off with an empty name, and only then.
        let off = parse(&format!("{MINIMAL}[topics]\naggregates_json = \"\"\n")).unwrap();
        assert_eq!(off.topics.json_mirror(), None);
    }

    #[test]
    fn secrets_come_from_references_and_are_never_shown() {
        let dir = std::env::temp_dir().join(format!("govstream-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("password");
        std::fs::write(&file, "s3cret-from-file\n").unwrap();
        let mut p = Properties::from([
            ("sasl.username", "govstream"),
            ("sasl.password", "${env:GS_TEST_PASSWORD}"),
            ("ssl.key.password", "${file:PATH}"),
            ("client.id", "plain"),
        ]);
        p.insert("ssl.key.password", &format!("${{file:{}}}", file.display()));
        p.resolve(|n| (n == "GS_TEST_PASSWORD").then(|| "s3cret-from-env".to_owned()))
            .unwrap();
        assert_eq!(p.get("sasl.password"), Some("s3cret-from-env"));
        assert_eq!(p.get("ssl.key.password"), Some("s3cret-from-file"));
        let shown = format!("{p:?} {:?}", p.masked());
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("govstream") && shown.contains("plain"),
            "{shown}"
        );
        // A plain value under a secret-looking key is masked too.
        let p = Properties::from([("sasl.password", "literal")]);
        assert!(!format!("{p:?}").contains("literal"));
        // Unresolvable references are named errors, without the value.
        let mut p = Properties::from([("sasl.password", "${env:GS_TEST_MISSING}")]);
        let e = p.resolve(|_| None).unwrap_err().to_string();
        assert!(
            e.contains("sasl.password") && e.contains("GS_TEST_MISSING"),
            "{e}"
        );
        let mut p = Properties::from([("sasl.password", "${vault:x}")]);
        assert!(p.resolve(|_| None).is_err());
        let mut p = Properties::from([("sasl.password", "${file:/nonexistent/x}")]);
        assert!(p
            .resolve(|_| None)
            .unwrap_err()
            .to_string()
            .contains("cannot read"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn every_example_config_is_valid() {
        // The production example takes its SASL password from the environment.
        std::env::set_var("GOVSTREAM_KAFKA_PASSWORD", "example");
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
