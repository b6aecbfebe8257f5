//! End to end on a real broker: generated records (duplicated, shuffled) produced by an
//! independent client → `govstream run` → the aggregates topic's final values, read by the
//! independent client, equal `govstream replay` on the same records — also after SIGKILL and
//! restart, and with two instances where one leaves midway. Every record sent is accounted for.

use govstream_e2e::kafka::{produce_file, pyclient, write_config, write_config_with, Broker};
use govstream_e2e::{govstream_bin, run, scratch};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SOURCES: [(&str, &str); 3] = [
    ("hotline", "hotline.ndjson"),
    ("onenet", "onenet.ndjson"),
    ("bdc", "bdc.txt"),
];

/// Generates a workload, then shuffles every file and repeats every 7th line.
fn workload(dir: &Path, records: &str, seed: &str) {
    let gen = dir.join("gen");
    let o = run(&[
        "generate",
        "--records",
        records,
        "--seed",
        seed,
        "--out",
        gen.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (_, f) in SOURCES {
        let bytes = std::fs::read(gen.join(f)).unwrap();
        let mut lines: Vec<&[u8]> = bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let dups: Vec<&[u8]> = lines.iter().step_by(7).copied().collect();
        lines.extend(dups);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for i in (1..lines.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            lines.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut out = Vec::new();
        for l in lines {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        std::fs::write(dir.join(f), out).unwrap();
    }
}

fn replay_lines(dir: &Path) -> Vec<String> {
    let out = dir.join("replay");
    let mut args = vec!["replay".to_owned()];
    for (name, f) in SOURCES {
        args.push("--source".into());
        args.push(format!("{name}={}", dir.join(f).display()));
    }
    args.extend(["--out".into(), out.display().to_string()]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&a);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut v: Vec<String> = std::fs::read_to_string(out.join("aggregates.ndjson"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

fn produce_all(broker: &Broker, dir: &Path) -> u64 {
    SOURCES
        .iter()
        .map(|(name, f)| produce_file(broker, &format!("raw.{name}"), &dir.join(f)))
        .sum()
}

fn start(config: &Path, idle_exit: &str) -> Child {
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
        .env("GOVSTREAM_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("govstream run starts")
}

fn finish(child: Child) -> String {
    let o = child.wait_with_output().expect("govstream run ends");
    assert!(
        o.status.success(),
        "govstream run failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn final_aggregates(broker: &Broker) -> Vec<String> {
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

fn assert_same(got: &[String], want: &[String]) {
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
fn assert_accounted(broker: &Broker, sent: u64) {
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

#[test]
fn pipeline_on_a_real_broker_equals_replay() {
    let dir = scratch("kafka-basic");
    workload(&dir, "4000", "5");
    let want = replay_lines(&dir);
    let broker = Broker::start();
    // With Kafka transactions in the normalize stage (Apache Kafka implements them).
    let config = write_config_with(&dir, &broker, "e2e-basic", true);
    let sent = produce_all(&broker, &dir);
    let stdout = finish(start(&config, "10"));
    assert!(stdout.contains("events applied"), "{stdout}");
    assert_same(&final_aggregates(&broker), &want);
    assert_accounted(&broker, sent);
    // The protobuf topic, read back by `govstream inspect`, holds the same records.
    let o = run(&[
        "inspect",
        "--brokers",
        &broker.addr,
        "--topic",
        "govstream.aggregates.v1",
        "--kind",
        "aggregates",
        "--final",
        "--idle",
        "3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut got: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    got.sort();
    assert_same(&got, &want);
    // The dead-letter topic holds every rejected record, with its reason.
    let o = run(&[
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
    let dlq: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rejected = std::fs::read_to_string(dir.join("replay/rejected.ndjson"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(dlq.len(), rejected);
    assert!(dlq
        .iter()
        .all(|r| r["reason"].as_str().is_some_and(|s| !s.is_empty())));
}

#[test]
fn sigkill_in_the_middle_and_restart() {
    let dir = scratch("kafka-kill");
    workload(&dir, "6000", "6");
    let want = replay_lines(&dir);
    let broker = Broker::start();
    let config = write_config(&dir, &broker, "e2e-kill");
    let sent = produce_all(&broker, &dir);
    let mut first = start(&config, "60");
    // Let it join its groups and do part of the work, then kill it without warning.
    std::thread::sleep(Duration::from_secs(6));
    first.kill().expect("SIGKILL");
    let _ = first.wait();
    finish(start(&config, "10"));
    assert_same(&final_aggregates(&broker), &want);
    assert_accounted(&broker, sent);
}

#[test]
fn two_instances_one_leaves_midway() {
    let dir = scratch("kafka-two");
    workload(&dir, "6000", "8");
    let want = replay_lines(&dir);
    let broker = Broker::start();
    let config = write_config(&dir, &broker, "e2e-two");
    let sent = produce_all(&broker, &dir);
    let a = start(&config, "12");
    let mut b = start(&config, "60");
    std::thread::sleep(Duration::from_secs(6));
    // B leaves gracefully (SIGTERM); A takes over its partitions.
    let pid = b.id().to_string();
    let ok = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(ok.success());
    let _ = b.wait();
    finish(a);
    assert_same(&final_aggregates(&broker), &want);
    assert_accounted(&broker, sent);
}
