//! A real Kafka-compatible broker (tansu, installed by scripts/install-tansu.sh) started per
//! test on a free loopback port, and the independent Python client (scripts/install-pyclient.sh).

use crate::repo;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A tansu broker process; killed when dropped.
pub struct Broker {
    child: Child,
    pub addr: String,
}

impl Broker {
    pub fn start() -> Broker {
        let bin = repo().join(".tools/bin/tansu");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/install-tansu.sh (make test does)",
            bin.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker { child, addr }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    let o = Command::new(python())
        .arg(repo().join("tests/tools/kafka_client.py"))
        .args(args)
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
normalized = "govstream.normalized.v1"
dead_letter = "govstream.dlq.v1"
partials = "govstream.partials.v1"
aggregates = "govstream.aggregates.v1"
aggregates_json = "govstream.aggregates.json.v1"
partitions = 3
replication_factor = 1
create = true

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
