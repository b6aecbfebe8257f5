//! The fault suite, on a real Apache Kafka: each test runs a generated workload of 200,000
//! records (shuffled, every 7th line repeated), injects one fault while records flow, and checks
//! with the independent client (kafka-python) that
//! - the final aggregates equal `govstream replay` on the same input, record for record;
//! - every upstream record is accounted for, per source: consumed = normalized + rejected,
//!   by distinct upstream position, and no position is both;
//! - no name, phone number or ID number of the input appears in any output (topics, dead-letter
//!   details, logs, `/metrics`) — only the dead-letter topic's original bytes may hold them.
//!
//! Faults: `kill -9` of an instance mid-batch; `kill -9` of the broker, restarted on the same log
//! directory; three instances with one added and one removed; transactions across a `kill -9`
//! (a read-committed reader sees every record exactly once); poison records in every source.

use govstream_e2e::kafka::{
    assert_same, dlq_records, final_aggregates, pyclient, write_config_with, Broker, BrokerOptions,
};
use govstream_e2e::workload::{replay_lines, workload, SOURCES};
use govstream_e2e::{free_port, govstream_bin, http_get, repo, scratch};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RECORDS: &str = "200000";

/// One test's world: a scratch dir with the workload, a broker, and what was sent per source.
struct Fault {
    dir: PathBuf,
    broker: Broker,
    want: Vec<String>,
    sent: BTreeMap<&'static str, u64>,
    logs: Vec<PathBuf>,
    metrics: Option<String>,
    started: Instant,
}

impl Fault {
    fn new(name: &str, seed: &str) -> Fault {
        let dir = scratch(name);
        workload(&dir, RECORDS, seed);
        Fault::with_dir(dir)
    }

    fn with_dir(dir: PathBuf) -> Fault {
        let want = replay_lines(&dir);
        Fault {
            dir,
            broker: Broker::start_with(BrokerOptions::default()),
            want,
            sent: BTreeMap::new(),
            logs: Vec::new(),
            metrics: None,
            started: Instant::now(),
        }
    }

    /// Produces lines `part` (0 = first half, 1 = second half, None = all) of every source.
    fn produce(&mut self, part: Option<usize>) {
        for (name, file) in SOURCES {
            let mut path = self.dir.join(file);
            if let Some(half) = part {
                let bytes = std::fs::read(&path).unwrap();
                let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
                let mid = lines.len() / 2;
                let chosen = if half == 0 {
                    &lines[..mid]
                } else {
                    &lines[mid..]
                };
                path = self.dir.join(format!("{file}.part{half}"));
                std::fs::write(&path, chosen.join(&b'\n')).unwrap();
            }
            let n: u64 = pyclient(&[
                "produce",
                &self.broker.addr,
                &format!("raw.{name}"),
                path.to_str().unwrap(),
            ])
            .trim()
            .parse()
            .unwrap();
            *self.sent.entry(name).or_default() += n;
        }
    }

    fn config(&self, transactions: bool) -> PathBuf {
        write_config_with(&self.dir, &self.broker, "faults", transactions)
    }

    /// Starts `govstream run`; its log goes to a file of the scratch dir.
    fn start(&mut self, config: &Path, idle_exit: &str, extra: &[&str]) -> Instance {
        let log = self.dir.join(format!("run-{}.log", self.logs.len()));
        self.logs.push(log.clone());
        Instance::start(config, idle_exit, extra, &log)
    }

    /// After the runs ended: the aggregates, the accounting and the personal-data scan.
    fn check(&mut self) {
        let ran = self.started.elapsed();
        assert_same(&final_aggregates(&self.broker), &self.want);
        self.check_accounting();
        self.check_no_personal_data();
        eprintln!(
            "{}: pipeline and fault {:.0} s, checks {:.0} s",
            self.dir.display(),
            ran.as_secs_f64(),
            (self.started.elapsed() - ran).as_secs_f64()
        );
    }

    fn check_accounting(&self) {
        let json = pyclient(&[
            "accounting",
            &self.broker.addr,
            "govstream.normalized.v1",
            "govstream.dlq.v1",
            "4",
        ]);
        let got: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
        for (source, sent) in &self.sent {
            let s = &got[*source];
            let (n, r, both) = (
                s["normalized"].as_u64().unwrap_or(0),
                s["rejected"].as_u64().unwrap_or(0),
                s["both"].as_u64().unwrap_or(0),
            );
            assert_eq!(
                n + r,
                *sent,
                "{source}: consumed {sent} != normalized {n} + rejected {r}"
            );
            assert_eq!(both, 0, "{source}: positions both normalized and rejected");
            assert!(n > 0, "{source}: nothing normalized");
        }
    }

    /// Dumps every topic govstream writes (the DLQ through `inspect`, which leaves out the
    /// original bytes) and scans them, the logs and the last `/metrics` scrape.
    fn check_no_personal_data(&self) {
        let mut outputs = self.logs.clone();
        for topic in [
            "govstream.normalized.v1",
            "govstream.partials.v1",
            "govstream.aggregates.v1",
            "govstream.aggregates.json.v1",
        ] {
            let p = self.dir.join(format!("{topic}.dump"));
            pyclient(&["dump", &self.broker.addr, topic, "4", p.to_str().unwrap()]);
            outputs.push(p);
        }
        let p = self.dir.join("dlq.inspect");
        let lines: Vec<String> = dlq_records(&self.broker)
            .iter()
            .map(|r| r.to_string())
            .collect();
        std::fs::write(&p, lines.join("\n")).unwrap();
        outputs.push(p);
        if let Some(m) = &self.metrics {
            let p = self.dir.join("metrics.txt");
            std::fs::write(&p, m).unwrap();
            outputs.push(p);
        }
        let python = repo().join(".tools/pyvenv/bin/python");
        let o = Command::new(python)
            .arg(repo().join("tests/tools/pii_scan.py"))
            .arg(&self.dir)
            .args(&outputs)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "personal data in the outputs:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// A running `govstream run`, whose status lines are read to know how far it got.
struct Instance {
    child: Child,
    consumed: Arc<AtomicU64>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Instance {
    fn start(config: &Path, idle_exit: &str, extra: &[&str], log: &Path) -> Instance {
        let mut child = Command::new(govstream_bin())
            .args(["run", "--config", config.to_str().unwrap()])
            .args(["--idle-exit", idle_exit, "--status-every", "0.5"])
            .args(extra)
            .env("GOVSTREAM_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("govstream run starts");
        let consumed = Arc::new(AtomicU64::new(0));
        let (c, out) = (consumed.clone(), child.stdout.take().unwrap());
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let mut words = line.split_whitespace();
                if words.nth(1) == Some("consumed") {
                    if let Some(n) = words.next().and_then(|w| w.parse().ok()) {
                        c.store(n, Relaxed);
                    }
                }
            }
        });
        Instance {
            child,
            consumed,
            reader: Some(reader),
        }
    }

    fn consumed(&self) -> u64 {
        self.consumed.load(Relaxed)
    }

    fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        assert!(
            self.child.wait().unwrap().success(),
            "SIGTERM is a clean stop"
        );
    }

    fn finish(mut self) {
        let status = self.child.wait().expect("govstream run ends");
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        assert!(status.success(), "govstream run failed ({status})");
    }
}

/// Waits until `f` is true (polling), at most `limit`.
fn wait_until(what: &str, limit: Duration, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const LONG: Duration = Duration::from_secs(300);

#[test]
fn kill9_of_an_instance_mid_batch_then_restart() {
    let mut f = Fault::new("fault-kill9", "21");
    f.produce(None);
    let config = f.config(false);
    let first = f.start(&config, "60", &[]);
    // Records are flowing and batches are in flight: kill it without warning.
    wait_until("60k records consumed", LONG, || first.consumed() >= 60_000);
    first.kill9();
    f.start(&config, "10", &[]).finish();
    f.check();
}

#[test]
fn broker_kill9_and_restart_on_the_same_log_dir() {
    let mut f = Fault::new("fault-broker", "22");
    f.produce(Some(0));
    let config = f.config(false);
    let listen = format!("127.0.0.1:{}", free_port());
    let cfg_text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("listen = \"\"", &format!("listen = \"{listen}\""));
    std::fs::write(&config, cfg_text).unwrap();
    let inst = f.start(&config, "20", &[]);
    wait_until("40k records consumed", LONG, || inst.consumed() >= 40_000);
    f.broker.kill9();
    // While the broker is down the instance says so.
    wait_until(
        "/readyz to name the broker problem",
        Duration::from_secs(60),
        || {
            http_get(&listen, "/readyz")
                .is_some_and(|(code, body)| code == 503 && body.contains("kafka:"))
        },
    );
    f.broker.restart();
    f.produce(Some(1));
    let total: u64 = f.sent.values().sum();
    wait_until("every record consumed", LONG, || inst.consumed() >= total);
    f.metrics = http_get(&listen, "/metrics").map(|(_, body)| body);
    inst.finish();
    f.check();
}

#[test]
fn three_instances_one_added_one_removed_while_records_flow() {
    let mut f = Fault::new("fault-scale", "23");
    f.produce(Some(0));
    let config = f.config(false);
    let a = f.start(&config, "15", &[]);
    let b = f.start(&config, "120", &[]);
    wait_until("30k records consumed", LONG, || {
        a.consumed() + b.consumed() >= 30_000
    });
    // One instance joins (a rebalance that takes partitions away from A and B) ...
    let c = f.start(&config, "15", &[]);
    f.produce(Some(1));
    wait_until("C to take work", LONG, || c.consumed() > 0);
    // ... and one leaves (a rebalance that hands its partitions back).
    b.terminate();
    a.finish();
    c.finish();
    f.check();
}

#[test]
fn transactions_exactly_once_into_the_normalized_topic_across_kill9() {
    let mut f = Fault::new("fault-txn", "24");
    f.produce(None);
    let config = f.config(true);
    let id = ["--instance-id", "txn-a"];
    let first = f.start(&config, "60", &id);
    wait_until("60k records consumed", LONG, || first.consumed() >= 60_000);
    first.kill9();
    // The same instance identity fences the killed producer and aborts its open transaction.
    f.start(&config, "10", &id).finish();
    f.check();
    let sent: u64 = f.sent.values().sum();
    let seen = pyclient(&[
        "committed-origins",
        &f.broker.addr,
        "govstream.normalized.v1",
        "govstream.dlq.v1",
        "4",
    ]);
    let counts: Vec<u64> = seen
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(
        counts,
        [sent, sent],
        "a read-committed reader must see every upstream record exactly once (records, distinct)"
    );
}

/// Lines that no source can use, each a known rejection: invalid bytes, 2 MB, truncated
/// GB18030 text.
fn poison(source: &str) -> Vec<(Vec<u8>, &'static str)> {
    let (gb, _, _) = encoding_rs::GB18030.encode("热孜婉古丽");
    let truncated = gb[..gb.len() - 1].to_vec();
    let big = match source {
        "bdc" => {
            let mut v = b"20206528010099999|100|01|20200102091307|652801|".to_vec();
            v.resize(2 << 20, b'a');
            v
        }
        _ => {
            let mut v = br#"{"pad":""#.to_vec();
            v.resize(2 << 20, b'a');
            v.extend_from_slice(br#""}"#);
            v
        }
    };
    let truncated_line = if source == "bdc" {
        let mut v = b"20206528010099998|100|01|20200102091307|652801|".to_vec();
        v.extend_from_slice(&truncated);
        v
    } else {
        let mut v = br#"{"orderNo":""#.to_vec();
        v.extend_from_slice(&truncated);
        v.extend_from_slice(br#""}"#);
        v
    };
    vec![
        (
            vec![0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0xa0, 0xa1],
            "bad_encoding",
        ),
        (big, "oversize"),
        (truncated_line, "bad_encoding"),
    ]
}

#[test]
fn poison_records_in_every_source_land_in_the_dlq_and_the_partition_keeps_flowing() {
    let dir = scratch("fault-poison");
    workload(&dir, RECORDS, "25");
    // Poison at the start, the middle and the end of every source's stream.
    let mut expected = BTreeMap::new();
    for (name, file) in SOURCES {
        let p = dir.join(file);
        let bytes = std::fs::read(&p).unwrap();
        let mut lines: Vec<Vec<u8>> = bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        for (i, (line, reason)) in poison(name).into_iter().enumerate() {
            let at = i * lines.len() / 2;
            lines.insert(at, line);
            *expected.entry((name, reason)).or_insert(0u64) += 1;
        }
        std::fs::write(&p, lines.join(&b'\n')).unwrap();
    }
    let mut f = Fault::with_dir(dir);
    let listen = format!("127.0.0.1:{}", free_port());
    f.produce(None);
    let config = f.config(false);
    let cfg_text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("listen = \"\"", &format!("listen = \"{listen}\""));
    std::fs::write(&config, cfg_text).unwrap();
    let inst = f.start(&config, "10", &[]);
    let total: u64 = f.sent.values().sum();
    wait_until("every record consumed", LONG, || inst.consumed() >= total);
    f.metrics = http_get(&listen, "/metrics").map(|(_, body)| body);
    inst.finish();
    f.check();
    // Every poison record is in the DLQ with its reason and upstream position.
    let dlq = dlq_records(&f.broker);
    let oversize: Vec<&serde_json::Value> =
        dlq.iter().filter(|r| r["reason"] == "oversize").collect();
    assert_eq!(oversize.len(), 3, "one 2 MB record per source");
    for r in &oversize {
        assert!(r["bytes"].as_u64().is_some_and(|n| n >= 2 << 20), "{r}");
        assert_eq!(r["truncated"], true);
        assert!(r["topic"].as_str().is_some_and(|t| t.starts_with("raw.")));
        assert!(r["offset"].as_i64().is_some_and(|o| o >= 0));
    }
    for ((source, reason), n) in expected {
        let got = dlq
            .iter()
            .filter(|r| r["source"] == source && r["reason"] == reason)
            .count() as u64;
        assert!(
            got >= n,
            "{source}: {got} `{reason}` rejections, want at least {n}"
        );
    }
    let metrics = f.metrics.clone().unwrap_or_default();
    assert!(
        metrics.contains("reason=\"oversize\""),
        "the rejections are counted by reason in /metrics"
    );
}
