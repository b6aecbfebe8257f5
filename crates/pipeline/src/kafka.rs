//! Kafka clients, topic creation, and an in-process mock cluster for the embedded demo.

use crate::config::Config;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, FutureProducer, Producer};
use std::time::Duration;

/// A client configuration with the deployment's brokers and extra properties.
pub fn client_config(cfg: &Config) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.kafka.brokers);
    for (k, v) in &cfg.kafka.properties {
        c.set(k, v);
    }
    c
}

pub fn producer(cfg: &Config) -> Result<FutureProducer, KafkaError> {
    client_config(cfg)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("compression.type", "none")
        .set("message.max.bytes", "10000000")
        .create()
}

/// A transactional producer for the normalize stage, initialized (blocking call).
pub fn transactional_producer(cfg: &Config) -> Result<FutureProducer, KafkaError> {
    let id = format!(
        "{}-normalize-{}-{}",
        cfg.kafka.group_prefix,
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let p: FutureProducer = client_config(cfg)
        .set("enable.idempotence", "true")
        .set("transactional.id", id)
        .set("transaction.timeout.ms", "60000")
        .set("linger.ms", "5")
        .set("message.max.bytes", "10000000")
        .create()?;
    p.init_transactions(Duration::from_secs(30))?;
    p.begin_transaction()?;
    Ok(p)
}

/// Consumer settings shared by every stage: manual commits, earliest offsets, cooperative
/// rebalancing.
pub fn consumer_config(cfg: &Config, stage: &str) -> ClientConfig {
    let mut c = client_config(cfg);
    c.set("group.id", format!("{}-{stage}", cfg.kafka.group_prefix))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.partition.eof", "false")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("statistics.interval.ms", "5000");
    c
}

/// Creates govstream's topics if they are missing (compaction for partials and aggregates).
pub async fn create_topics(cfg: &Config) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = client_config(cfg).create()?;
    let t = &cfg.topics;
    let rf = || TopicReplication::Fixed(t.replication_factor);
    let mut topics = vec![
        // Engines rebuild from the start of their partition: keep the history.
        NewTopic::new(&t.normalized, t.partitions, rf()).set("retention.ms", "-1"),
        NewTopic::new(&t.dead_letter, t.partitions, rf()),
        NewTopic::new(&t.partials, t.partitions, rf()).set("cleanup.policy", "compact"),
        NewTopic::new(&t.aggregates, t.partitions, rf()).set("cleanup.policy", "compact"),
    ];
    if let Some(j) = &t.aggregates_json {
        topics.push(NewTopic::new(j, t.partitions, rf()).set("cleanup.policy", "compact"));
    }
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for r in admin.create_topics(&topics, &opts).await? {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(KafkaError::AdminOp(code)).inspect_err(
                    |_| tracing::error!(topic = %name, error = %code, "cannot create topic"),
                )
            }
        }
    }
    Ok(())
}

/// Number of partitions of a topic, from the cluster's metadata.
pub fn partition_count(producer: &FutureProducer, topic: &str) -> Result<i32, KafkaError> {
    let md = producer
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let n = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map_or(0, |t| t.partitions().len() as i32);
    if n == 0 {
        return Err(KafkaError::MetadataFetch(
            RDKafkaErrorCode::UnknownTopicOrPartition,
        ));
    }
    Ok(n)
}

/// librdkafka's in-process mock cluster (no network, no disk), for the embedded demo and fast
/// tests. Created through `rdkafka-sys` so that the group rebalance delay can be set to 0.
pub struct MockKafka {
    ptr: *mut rdkafka_sys::rd_kafka_mock_cluster_t,
    // The mock cluster lives inside this client handle; it must outlive the cluster.
    _handle: BaseProducer,
}

// SAFETY: librdkafka's mock cluster API is thread-safe (it runs its own broker threads and
// takes its own locks); the pointer is only used through that API.
unsafe impl Send for MockKafka {}
// SAFETY: as above.
unsafe impl Sync for MockKafka {}

impl MockKafka {
    pub fn new(brokers: i32) -> Result<MockKafka, KafkaError> {
        let handle: BaseProducer = ClientConfig::new().create()?;
        // SAFETY: `handle` is a live rd_kafka_t; the cluster is destroyed in Drop before it.
        let ptr = unsafe {
            rdkafka_sys::rd_kafka_mock_cluster_new(handle.client().native_ptr(), brokers)
        };
        if ptr.is_null() {
            return Err(KafkaError::ClientCreation(
                "cannot create the mock cluster".into(),
            ));
        }
        // SAFETY: `ptr` is the cluster just created.
        unsafe { rdkafka_sys::rd_kafka_mock_group_initial_rebalance_delay_ms(ptr, 0) };
        Ok(MockKafka {
            ptr,
            _handle: handle,
        })
    }

    /// `bootstrap.servers` of the mock brokers.
    pub fn bootstrap(&self) -> String {
        // SAFETY: returns a string owned by the cluster, valid while it lives; copied at once.
        unsafe { std::ffi::CStr::from_ptr(rdkafka_sys::rd_kafka_mock_cluster_bootstraps(self.ptr)) }
            .to_string_lossy()
            .into_owned()
    }

    /// The mock has no CreateTopics API: topics are made here.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), KafkaError> {
        let c = std::ffi::CString::new(name)
            .map_err(|_| KafkaError::ClientCreation("topic name has a NUL byte".into()))?;
        // SAFETY: valid cluster and NUL-terminated name.
        let e =
            unsafe { rdkafka_sys::rd_kafka_mock_topic_create(self.ptr, c.as_ptr(), partitions, 1) };
        if e != rdkafka_sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(KafkaError::AdminOp(e.into()));
        }
        Ok(())
    }
}

impl Drop for MockKafka {
    fn drop(&mut self) {
        // SAFETY: created in `new`, destroyed once.
        unsafe { rdkafka_sys::rd_kafka_mock_cluster_destroy(self.ptr) }
    }
}
