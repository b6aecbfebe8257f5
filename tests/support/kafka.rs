//! A real Apache Kafka broker (single node, KRaft; installed from Maven Central by
//! scripts/install-kafka.sh and run by scripts/kafka-broker.sh) started per test on free
//! loopback ports, and the independent Python client (scripts/install-pyclient.sh).

use crate::workload::SOURCES;
use crate::{free_port, govstream_bin, repo};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How a test broker is set up beyond the plain listener.
#[derive(Default, Clone)]
pub struct BrokerOptions {
    /// Extra `server.properties` lines (later keys win). `{PORT}` and `{CONTROLLER_PORT}` are
    /// replaced by the broker's ports, `{SECURE_PORT}` by one more free port, reachable as
    /// [`Broker::secure_addr`].
    pub extra_properties: String,
    /// Extra arguments of the storage tool's `format` (e.g. `--add-scram`, one per item).
    pub format_args: Vec<String>,
}

/// An Apache Kafka process; killed when dropped. Its log directory survives [`Broker::kill9`]
/// and [`Broker::restart`], like a real node's disk.
pub struct Broker {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
    controller_port: u16,
    secure_port: Option<u16>,
    options: BrokerOptions,
    /// `bootstrap.servers` of the PLAINTEXT listener.
    pub addr: String,
}

impl Broker {
    /// A plain broker, in a fresh directory.
    pub fn start() -> Broker {
        Broker::start_with(BrokerOptions::default())
    }

    pub fn start_with(options: BrokerOptions) -> Broker {
        let libs = repo().join(".tools/kafka/libs");
        assert!(
            libs.is_dir(),
            "{} is missing: run scripts/install-kafka.sh (make test does)",
            libs.display()
        );
        let port = free_port();
        let dir = crate::scratch(&format!("kafka-broker-{port}"));
        let secure_port = options
            .extra_properties
            .contains("{SECURE_PORT}")
            .then(free_port);
        let mut b = Broker {
            child: None,
            dir,
            port,
            controller_port: free_port(),
            secure_port,
            options,
            addr: format!("127.0.0.1:{port}"),
        };
        b.spawn();
        b
    }

    /// `bootstrap.servers` of the secured listener (`{SECURE_PORT}` in the options).
    pub fn secure_addr(&self) -> String {
        format!(
            "127.0.0.1:{}",
            self.secure_port
                .expect("the broker has a {SECURE_PORT} listener")
        )
    }

    /// Where the broker's files are (server.properties, data/, broker.log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(repo().join("scripts/kafka-broker.sh"));
        cmd.arg(&self.dir)
            .arg(self.port.to_string())
            .arg(self.controller_port.to_string());
        if !self.options.extra_properties.is_empty() {
            let text = self
                .options
                .extra_properties
                .replace(
                    "{SECURE_PORT}",
                    &self.secure_port.unwrap_or_default().to_string(),
                )
                .replace("{CONTROLLER_PORT}", &self.controller_port.to_string())
                .replace("{PORT}", &self.port.to_string());
            let extra = self.dir.join("extra.properties");
            std::fs::write(&extra, text).expect("extra properties written");
            cmd.arg(extra);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("broker.log"))
            .expect("broker log");
        let child = cmd
            .env("KAFKA_FORMAT_ARGS", self.options.format_args.join("\n"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("kafka-broker.sh starts");
        self.child = Some(child);
        // The client port opens only once the broker is unfenced: a connect is a readiness probe.
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut ports = vec![self.port];
        ports.extend(self.secure_port);
        for p in ports {
            while std::net::TcpStream::connect(("127.0.0.1", p)).is_err() {
                if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                    panic!(
                        "Apache Kafka exited ({status}) during startup:\n{}",
                        self.log_tail()
                    );
                }
                assert!(
                    Instant::now() < deadline,
                    "Apache Kafka did not listen on 127.0.0.1:{p} within 90 s:\n{}",
                    self.log_tail()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// The last lines of the broker's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("broker.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// SIGKILL, as a crash: no clean shutdown, the log directory stays as it is.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the broker again on the same ports and log directory.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill9();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(self.dir.join("data"));
        }
    }
}

fn python() -> PathBuf {
    let p = repo().join(".tools/pyvenv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/install-pyclient.sh (make test does)",
        p.display()
    );
    p
}

/// Runs the independent client (tests/tools/kafka_client.py) and returns its stdout.
pub fn pyclient(args: &[&str]) -> String {
    pyclient_with(args, None)
}

/// [`pyclient`] with kafka-python security settings (JSON keyword arguments).
pub fn pyclient_with(args: &[&str], security: Option<&str>) -> String {
    let o = Command::new(python())
        .arg(repo().join("tests/tools/kafka_client.py"))
        .args(args)
        .env("KAFKA_CLIENT_SECURITY", security.unwrap_or(""))
        .output()
        .expect("python runs");
    assert!(
        o.status.success(),
        "kafka_client.py {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("UTF-8 output")
}

/// Produces every line of `file` to `topic` with the independent client; returns the count.
pub fn produce_file(broker: &Broker, topic: &str, file: &Path) -> u64 {
    pyclient(&[
        "produce",
        &broker.addr,
        topic,
        file.to_str().unwrap_or_default(),
    ])
    .trim()
    .parse()
    .expect("a count")
}

/// A govstream configuration for `broker`, written to `dir/config.toml`.
pub fn write_config(dir: &Path, broker: &Broker, group: &str) -> PathBuf {
    write_config_with(dir, broker, group, false)
}

/// [`write_config`], with Kafka transactions in the normalize stage on or off.
pub fn write_config_with(dir: &Path, broker: &Broker, group: &str, transactions: bool) -> PathBuf {
    let text = format!(
        r#"[kafka]
brokers = "{}"
group_prefix = "{group}"
transactions = {transactions}

[topics]
partitions = 3

[[sources]]
name = "hotline"
topic = "raw.hotline"

[[sources]]
name = "onenet"
topic = "raw.onenet"

[[sources]]
name = "bdc"
topic = "raw.bdc"

[pipeline]
flush_interval_ms = 200
max_batch = 2000

[metrics]
listen = ""
labels = ["region"]
max_series = 1000
"#,
        broker.addr
    );
    let p = dir.join("config.toml");
    std::fs::write(&p, text).expect("config written");
    p
}

pub fn produce_all(broker: &Broker, dir: &Path) -> u64 {
    SOURCES
        .iter()
        .map(|(name, f)| produce_file(broker, &format!("raw.{name}"), &dir.join(f)))
        .sum()
}

pub fn start(config: &Path, idle_exit: &str) -> Child {
    start_logged(config, idle_exit, "warn")
}

/// [`start`] with another `GOVSTREAM_LOG` level (`info` shows restores and rebuilds).
pub fn start_logged(config: &Path, idle_exit: &str, log: &str) -> Child {
    start_with(config, idle_exit, log, &[])
}

/// [`start_logged`] with more arguments for `govstream run`.
pub fn start_with(config: &Path, idle_exit: &str, log: &str, more: &[&str]) -> Child {
    Command::new(govstream_bin())
        .args([
            "run",
            "--config",
            config.to_str().unwrap(),
            "--idle-exit",
            idle_exit,
            "--status-every",
            "0",
        ])
        .args(more)
        .env("GOVSTREAM_LOG", log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("govstream run starts")
}

pub fn finish(child: Child) -> String {
    let o = child.wait_with_output().expect("govstream run ends");
    assert!(
        o.status.success(),
        "govstream run failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn final_aggregates(broker: &Broker) -> Vec<String> {
    let mut v: Vec<String> = pyclient(&[
        "final-json",
        &broker.addr,
        "govstream.aggregates.json.v1",
        "4",
    ])
    .lines()
    .map(str::to_owned)
    .collect();
    v.sort();
    v
}

pub fn assert_same(got: &[String], want: &[String]) {
    assert!(!want.is_empty());
    if got != want {
        let missing = want
            .iter()
            .filter(|l| !got.contains(l))
            .take(3)
            .collect::<Vec<_>>();
        let extra = got
            .iter()
            .filter(|l| !want.contains(l))
            .take(3)
            .collect::<Vec<_>>();
        panic!(
            "aggregates topic ({} records) differs from replay ({} records)\nmissing: {missing:#?}\nextra: {extra:#?}",
            got.len(),
            want.len()
        );
    }
}

/// Every raw record appears once, by its source position, in the normalized topic or the DLQ.
pub fn assert_accounted(broker: &Broker, sent: u64) {
    let n: u64 = pyclient(&[
        "origins",
        &broker.addr,
        "govstream.normalized.v1",
        "govstream.dlq.v1",
        "3",
    ])
    .trim()
    .parse()
    .unwrap();
    assert_eq!(n, sent, "distinct source positions in normalized + DLQ");
}

/// The dead-letter topic as `govstream inspect --kind dlq` prints it (original bytes left out).
pub fn dlq_records(broker: &Broker) -> Vec<serde_json::Value> {
    let o = crate::run(&[
        "inspect",
        "--brokers",
        &broker.addr,
        "--topic",
        "govstream.dlq.v1",
        "--kind",
        "dlq",
        "--idle",
        "3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}
