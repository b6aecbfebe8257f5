//! End to end on a real broker: generated records (duplicated, shuffled) produced by an
//! independent client → `govstream run` → the aggregates topic's final values, read by the
//! independent client, equal `govstream replay` on the same records — also after SIGKILL and
//! restart, and with two instances where one leaves midway. Every record sent is accounted for.

use govstream_e2e::kafka::{
    assert_accounted, assert_same, dlq_records, final_aggregates, finish, produce_all,
    produce_file, start, start_with, write_config, write_config_with, Broker,
};
use govstream_e2e::workload::{replay_lines, replay_lines_with, workload};
use govstream_e2e::{run, scratch};
use std::process::Command;
use std::time::Duration;

#[test]
fn pipeline_on_a_real_broker_equals_replay() {
    let dir = scratch("kafka-basic");
    workload(&dir, "4000", "5");
    let want = replay_lines(&dir);
    let broker = Broker::start();
    // With Kafka transactions in the normalize stage (Apache Kafka implements them).
    let config = write_config_with(&dir, &broker, "e2e-basic", true);
    let sent = produce_all(&broker, &dir);
    let summary = dir.join("run-summary.json");
    let run_summary = ["--summary", summary.to_str().unwrap()];
    let stdout = finish(start_with(&config, "10", "warn", &run_summary));
    assert!(stdout.contains("events applied"), "{stdout}");
    assert_same(&final_aggregates(&broker), &want);
    assert_accounted(&broker, sent);
    // One accounting: the pipeline's equals replay's summary.json on the same records
    // (read, normalized, applied, duplicates, conflicts, ignored, rejected by reason).
    let read = |p: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let (got, want_summary) = (read(&summary), read(&dir.join("replay/summary.json")));
    assert_eq!(got, want_summary, "run's accounting differs from replay's");
    assert!(got["sources"]["hotline"]["duplicates"].as_u64() > Some(0));
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
    let dlq = dlq_records(&broker);
    let rejected = std::fs::read_to_string(dir.join("replay/rejected.ndjson"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(dlq.len(), rejected);
    assert!(dlq
        .iter()
        .all(|r| r["reason"].as_str().is_some_and(|s| !s.is_empty())));
}

/// The catalogue on a real broker: listings produced after the events they govern are
/// broadcast to every engine partition and joined exactly; totals partition 0 publishes family
/// `item`; the result and the accounting equal `replay` with the same catalogue.
#[test]
fn the_catalogue_joins_on_a_real_broker_as_in_replay() {
    let dir = scratch("kafka-catalogue");
    workload(&dir, "3000", "9");
    let catalogue = dir.join("gen/catalogue.ndjson");
    let want = replay_lines_with(&dir, &[("catalogue", catalogue.as_path())]);
    assert!(want.iter().any(|l| l.contains(r#""family":"item""#)));
    let broker = Broker::start();
    let config = write_config(&dir, &broker, "e2e-catalogue");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[[sources]]\nname = \"catalogue\"\ntopic = \"raw.catalogue\"\n");
    std::fs::write(&config, text).unwrap();
    let sent = produce_all(&broker, &dir) + produce_file(&broker, "raw.catalogue", &catalogue);
    let summary = dir.join("run-summary.json");
    let run_summary = ["--summary", summary.to_str().unwrap()];
    finish(start_with(&config, "10", "warn", &run_summary));
    assert_same(&final_aggregates(&broker), &want);
    assert_accounted(&broker, sent);
    let read = |p: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    assert_eq!(read(&summary), read(&dir.join("replay/summary.json")));
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
