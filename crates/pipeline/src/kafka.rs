//! Kafka clients, topic creation, and an in-process mock cluster for the embedded demo.

use crate::config::Config;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer, ThreadedProducer};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// A client configuration with the deployment's brokers and extra properties.
pub fn client_config(cfg: &Config) -> ClientConfig {
    configured(cfg, &[])
}

/// The brokers, then `defaults`, then `[kafka.properties]` (which override the defaults).
fn configured(cfg: &Config, defaults: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.kafka.brokers);
    for (k, v) in defaults {
        c.set(*k, *v);
    }
    for (k, v) in cfg.kafka.properties.iter() {
        c.set(k, v);
    }
    c
}

/// How the brokers answered a connection attempt.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// librdkafka refused the configuration (unknown property, a feature not built in, ...).
    #[error("the Kafka client cannot be built from this configuration: {0}")]
    Client(String),
    /// No broker answered in time: down, unreachable, wrong address or listener.
    #[error("no broker of `{brokers}` answered within {timeout_s} s: {reason}")]
    Unreachable {
        brokers: String,
        timeout_s: u64,
        reason: String,
    },
    /// A broker answered but the connection was refused: authentication or TLS. Retrying with
    /// the same configuration cannot succeed.
    #[error("the brokers refused the connection: {reason}")]
    Refused { reason: String },
}

impl ConnectError {
    /// Whether waiting can help (the broker may come up), as opposed to a configuration error.
    pub fn is_transient(&self) -> bool {
        matches!(self, ConnectError::Unreachable { .. })
    }
}

/// Whether a librdkafka error means the configuration is refused (credentials, TLS), not that
/// a broker is down.
pub fn is_refusal(e: &KafkaError, reason: &str) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL)
    ) || reason.contains("SSL handshake failed")
        || reason.contains("SASL authentication error")
}

/// A global librdkafka error seen by a running client: logged when the problem changes (not
/// once per retry), and kept in `progress` for `/readyz`. Messages name the broker and never
/// carry secrets (librdkafka does not print credentials).
pub fn report_broker_error(progress: &crate::progress::Progress, error: &KafkaError, reason: &str) {
    let what = if is_refusal(error, reason) {
        format!("connection refused by the broker (check credentials and TLS settings): {reason}")
    } else {
        format!("{reason} ({error})")
    };
    if progress.set_broker_problem(Some(what.clone())) {
        tracing::error!(problem = %what, "kafka");
    }
}

/// Clears the broker problem once a client's statistics show a broker up (logged once).
pub fn clear_broker_problem(progress: &crate::progress::Progress, stats: &rdkafka::Statistics) {
    if stats.brokers.values().any(|b| b.state == "UP") && progress.set_broker_problem(None) {
        tracing::info!("kafka: brokers reachable again");
    }
}

/// librdkafka's log lines, forwarded to `tracing` (warnings and worse only).
pub fn log_librdkafka(level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
    use rdkafka::config::RDKafkaLogLevel as L;
    if fac == "FAIL" {
        // Connection failures also reach the error callback, which logs each change once.
        tracing::debug!(facility = fac, "librdkafka: {message}");
        return;
    }
    match level {
        L::Emerg | L::Alert | L::Critical | L::Error => {
            tracing::error!(facility = fac, "librdkafka: {message}")
        }
        L::Warning => tracing::warn!(facility = fac, "librdkafka: {message}"),
        _ => tracing::debug!(facility = fac, "librdkafka: {message}"),
    }
}

/// Collects the errors librdkafka reports while a probe connects.
#[derive(Default)]
struct ProbeContext {
    errors: std::sync::Mutex<Vec<(bool, String)>>,
}

impl rdkafka::ClientContext for ProbeContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let refused = is_refusal(&error, reason);
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((refused, reason.to_owned()));
    }
    fn log(&self, _: rdkafka::config::RDKafkaLogLevel, _: &str, _: &str) {}
}

impl rdkafka::producer::ProducerContext for ProbeContext {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: ()) {}
}

/// Builds every client `run` builds (producers, the transactional settings, each stage's
/// consumer) without connecting: catches unknown properties and features missing from the
/// build (e.g. TLS) before anything starts.
pub fn check_clients(cfg: &Config) -> Result<(), ConnectError> {
    let client = |e: KafkaError| ConnectError::Client(e.to_string());
    let _: BaseProducer = producer_config(cfg).create().map_err(client)?;
    if cfg.kafka.transactions {
        let _: BaseProducer = producer_config(cfg)
            .set("transactional.id", "govstream-check")
            .create()
            .map_err(client)?;
    }
    for stage in ["normalize", "engine", "totals"] {
        let _: rdkafka::consumer::BaseConsumer =
            consumer_config(cfg, stage, None).create().map_err(client)?;
    }
    Ok(())
}

/// Connects to the brokers and fetches the cluster's metadata within `timeout`: the number of
/// brokers that answered, or which broker failed and why. A refusal (credentials, TLS) is
/// returned as soon as librdkafka reports it.
pub fn probe(cfg: &Config, timeout: Duration) -> Result<usize, ConnectError> {
    const SLICE: Duration = Duration::from_millis(500);
    let p: BaseProducer<ProbeContext> = producer_config(cfg)
        .create_with_context(ProbeContext::default())
        .map_err(|e| ConnectError::Client(e.to_string()))?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let mut last = match p.client().fetch_metadata(None, SLICE.min(timeout)) {
            Ok(md) if !md.brokers().is_empty() => return Ok(md.brokers().len()),
            Ok(_) => "the cluster's metadata lists no broker".to_owned(),
            Err(e) => e.to_string(),
        };
        // librdkafka delivers its error events when the client is polled.
        p.poll(Duration::ZERO);
        let errors =
            std::mem::take(&mut *p.context().errors.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some((_, reason)) = errors.iter().find(|(refused, _)| *refused) {
            return Err(ConnectError::Refused {
                reason: reason.clone(),
            });
        }
        if let Some((_, reason)) = errors.last() {
            last = reason.clone();
        }
        if std::time::Instant::now() >= deadline {
            return Err(ConnectError::Unreachable {
                brokers: cfg.kafka.brokers.clone(),
                timeout_s: timeout.as_secs(),
                reason: last,
            });
        }
    }
}

/// Settings of govstream's producers: idempotent, and batching for throughput (records
/// linger up to 10 ms to fill batches of up to 1 MB; the local queue holds up to a million
/// records, so a stage rarely waits for room). `[kafka.properties]` overrides any of them.
fn producer_config(cfg: &Config) -> ClientConfig {
    configured(
        cfg,
        &[
            ("enable.idempotence", "true"),
            ("linger.ms", "10"),
            ("batch.size", "1000000"),
            ("queue.buffering.max.messages", "1000000"),
            ("compression.type", "lz4"),
            ("message.max.bytes", "10000000"),
        ],
    )
}

/// govstream's producers. librdkafka's callbacks are served by the producer's own thread, so a
/// broker problem is reported (log, `/readyz`) even while every stage waits for deliveries,
/// and deliveries are counted per [`Lane`] without a future per record.
pub type StageProducer = ThreadedProducer<BrokerWatch>;

/// The lanes of a producer: each stage counts and waits for its own deliveries.
pub const LANES: usize = 3;

/// Deliveries of one stage: how many records are in flight, and the first failure since the
/// last [`Lane::take_failure`].
#[derive(Default)]
pub struct Lane {
    in_flight: AtomicU64,
    failure: Mutex<Option<KafkaError>>,
    settled: Condvar,
    lock: Mutex<()>,
}

impl Lane {
    /// A record was handed to librdkafka.
    pub fn sent(&self) {
        self.in_flight.fetch_add(1, SeqCst);
    }

    /// A record counted by [`Lane::sent`] was refused before librdkafka took it.
    pub fn unsent(&self) {
        self.in_flight.fetch_sub(1, SeqCst);
    }

    fn delivered(&self, result: Result<(), KafkaError>) {
        if let Err(e) = result {
            let mut f = self.failure.lock().unwrap_or_else(|e| e.into_inner());
            if f.is_none() {
                *f = Some(e);
            }
        }
        if self.in_flight.fetch_sub(1, SeqCst) == 1 {
            let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.settled.notify_all();
        }
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(SeqCst)
    }

    /// Waits until nothing is in flight, calling `tick` about every 100 ms; then returns the
    /// first failure, if any.
    pub fn wait(&self, mut tick: impl FnMut()) -> Result<(), KafkaError> {
        let mut since = std::time::Instant::now();
        let mut g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        while self.in_flight() > 0 {
            g = self
                .settled
                .wait_timeout(g, Duration::from_millis(5))
                .unwrap_or_else(|e| e.into_inner())
                .0;
            if since.elapsed() >= Duration::from_millis(100) {
                tick();
                since = std::time::Instant::now();
            }
        }
        drop(g);
        self.take_failure().map_or(Ok(()), Err)
    }

    pub fn take_failure(&self) -> Option<KafkaError> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// Reports a client's broker problems into `Progress` (see [`report_broker_error`]) and clears
/// them when its statistics show a broker up again; counts deliveries per lane.
pub struct BrokerWatch {
    progress: Option<std::sync::Arc<crate::progress::Progress>>,
    pub lanes: [Lane; LANES],
}

impl BrokerWatch {
    pub fn new(progress: Option<std::sync::Arc<crate::progress::Progress>>) -> BrokerWatch {
        BrokerWatch {
            progress,
            lanes: Default::default(),
        }
    }
}

impl rdkafka::ClientContext for BrokerWatch {
    fn error(&self, error: KafkaError, reason: &str) {
        match &self.progress {
            Some(p) => report_broker_error(p, &error, reason),
            None => tracing::warn!(error = %error, "kafka: {reason}"),
        }
    }
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        log_librdkafka(level, fac, message);
    }
    fn stats(&self, stats: rdkafka::Statistics) {
        if let Some(p) = &self.progress {
            clear_broker_problem(p, &stats);
        }
    }
}

impl rdkafka::producer::ProducerContext for BrokerWatch {
    /// The lane of the record.
    type DeliveryOpaque = usize;
    fn delivery(&self, r: &rdkafka::message::DeliveryResult<'_>, lane: usize) {
        if let Some(l) = self.lanes.get(lane) {
            l.delivered(r.as_ref().map(|_| ()).map_err(|(e, _)| e.clone()));
        }
    }
}

pub fn producer(
    cfg: &Config,
    progress: Option<std::sync::Arc<crate::progress::Progress>>,
) -> Result<StageProducer, KafkaError> {
    producer_config(cfg)
        .set("statistics.interval.ms", "5000")
        .create_with_context(BrokerWatch::new(progress))
}

/// A transactional producer for the normalize stage, initialized (blocking call).
///
/// With a stable `instance_id` the transactional id is `<group_prefix>-normalize-<instance_id>`:
/// a restarted instance fences its predecessor and aborts the transaction it left open at once.
/// Without one the id is unique per process, and a crashed process's open transaction is
/// aborted by the broker after `transaction.timeout.ms` (read-committed readers wait until then).
pub fn transactional_producer(
    cfg: &Config,
    instance_id: Option<&str>,
    progress: Option<std::sync::Arc<crate::progress::Progress>>,
) -> Result<StageProducer, KafkaError> {
    let id = match instance_id {
        Some(i) => format!("{}-normalize-{i}", cfg.kafka.group_prefix),
        None => format!(
            "{}-normalize-{}-{}",
            cfg.kafka.group_prefix,
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ),
    };
    let p: StageProducer = producer_config(cfg)
        .set("transactional.id", id)
        .set("transaction.timeout.ms", "60000")
        .set("statistics.interval.ms", "5000")
        .create_with_context(BrokerWatch::new(progress))?;
    p.init_transactions(Duration::from_secs(30))?;
    p.begin_transaction()?;
    Ok(p)
}

/// Consumer settings shared by every stage: manual commits, earliest offsets, cooperative
/// rebalancing, large fetches (the stages drain librdkafka's prefetch queue in batches), and
/// with an instance id static membership (`group.instance.id` = `<id>-<stage>`): a restarted
/// instance takes its partitions back without a rebalance of the group. The fetch sizes, session
/// timeout and heartbeat can be overridden in `[kafka.properties]`; the group id, commit,
/// offset-reset and assignment settings cannot.
pub fn consumer_config(cfg: &Config, stage: &str, instance_id: Option<&str>) -> ClientConfig {
    let mut c = configured(
        cfg,
        &[
            ("fetch.max.bytes", "52428800"),
            ("max.partition.fetch.bytes", "4194304"),
            ("queued.min.messages", "200000"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
            ("statistics.interval.ms", "5000"),
        ],
    );
    c.set("group.id", format!("{}-{stage}", cfg.kafka.group_prefix))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.partition.eof", "false");
    if let Some(id) = instance_id {
        c.set("group.instance.id", format!("{id}-{stage}"));
    }
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
    if let Some(j) = t.json_mirror() {
        topics.push(NewTopic::new(j, t.partitions, rf()).set("cleanup.policy", "compact"));
    }
    if cfg.checkpoint.enabled {
        // Chunks are at most checkpoint.max_chunk_bytes; the manifest is small.
        topics.push(
            NewTopic::new(&t.checkpoints, t.partitions, rf()).set("cleanup.policy", "compact"),
        );
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
pub fn partition_count(producer: &StageProducer, topic: &str) -> Result<i32, KafkaError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(properties: &[(&str, &str)]) -> Config {
        let mut text = String::from(
            "[kafka]\nbrokers = \"127.0.0.1:1\"\n[[sources]]\nname = \"hotline\"\ntopic = \"raw\"\n[kafka.properties]\n",
        );
        for (k, v) in properties {
            text.push_str(&format!("\"{k}\" = \"{v}\"\n"));
        }
        toml::from_str(&text).unwrap()
    }

    /// `run --check` builds every client: an unknown property is named before anything runs,
    /// and what this build must support (TLS, SASL/SCRAM, every codec) is accepted.
    #[test]
    fn clients_are_built_from_the_configuration() {
        let e = check_clients(&config(&[("no.such.property", "1")])).unwrap_err();
        assert!(matches!(e, ConnectError::Client(_)), "{e}");
        assert!(e.to_string().contains("no.such.property"), "{e}");
        check_clients(&config(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", "u"),
            ("sasl.password", "p"),
            ("compression.type", "zstd"),
        ]))
        .unwrap();
        for codec in ["gzip", "snappy", "lz4", "zstd"] {
            check_clients(&config(&[("compression.type", codec)])).unwrap();
        }
    }

    /// Nothing listens on port 1: unreachable, said within the timeout, and transient.
    #[test]
    fn an_unreachable_broker_is_named() {
        let e = probe(&config(&[]), Duration::from_secs(1)).unwrap_err();
        assert!(e.is_transient(), "{e}");
        assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
    }
}
