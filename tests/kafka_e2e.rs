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

/// A city's CSV export on a real broker: one row per message (as a connector forwarding the
/// export sends them), a re-export of two changed requests arriving *before* the rows it
/// supersedes, windows in New York time. The final aggregates equal `replay` of the same rows,
/// and every message is read and accepted or rejected.
#[test]
fn export_rows_on_a_real_broker_equal_replay() {
    let dir = scratch("kafka-export");
    let repo = govstream_e2e::repo();
    let export = repo.join("tests/fixtures/nyc311/export-1.csv");
    let text = std::fs::read_to_string(&export).unwrap();
    let header = text.lines().next().unwrap();
    // The re-export: 45000003 closed (late), 45000002 reopened, in the same layout.
    let changes = dir.join("changes.csv");
    std::fs::write(
        &changes,
        format!(
            "{header}\r\n\
45000003,03/05/2020 10:00:00 AM,03/09/2020 10:00:00 AM,HPD,Department of Housing Preservation and Development,HEAT/HOT WATER,ENTIRE BUILDING,Residential Building,10451,10 GRAND CONCOURSE,Closed,03/06/2020 10:00:00 AM,\"Heat restored, per tenant.\",03/09/2020 10:00:00 AM,04 BRONX,BRONX,MOBILE,,\r\n\
45000002,03/07/2020 11:00:00 PM,03/08/2020 03:30:00 AM,DSNY,Department of Sanitation,Dirty Conditions,Trash,Street,11201,\"45 COURT ST, BROOKLYN\",Open,03/14/2020 11:00:00 PM,\"Reopened.\",03/10/2020 08:00:00 AM,02 BROOKLYN,BROOKLYN,ONLINE,40.69,-73.99\r\n"
        ),
    )
    .unwrap();
    // The shipped mapping with the export's header declared (a message has no header row).
    let cols: Vec<String> = header.split(',').map(|c| format!("{c:?}")).collect();
    let mapping = dir.join("nyc311.toml");
    std::fs::write(
        &mapping,
        std::fs::read_to_string(repo.join("deploy/mappings/nyc311.toml"))
            .unwrap()
            .replace(
                "format = { kind = \"csv\" }",
                &format!(
                    "format = {{ kind = \"csv\", columns = [{}] }}",
                    cols.join(", ")
                ),
            ),
    )
    .unwrap();
    let out = dir.join("replay");
    let o = run(&[
        "replay",
        "--mapping",
        mapping.to_str().unwrap(),
        "--time-zone",
        "America/New_York",
        "--source",
        &format!("nyc311={}", changes.display()),
        "--source",
        &format!("nyc311={}", export.display()),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = govstream_e2e::sorted_lines(&out.join("aggregates.ndjson"));
    assert!(want.iter().any(|l| l.contains(r#""region":"BX""#)));

    let broker = Broker::start();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"[kafka]
brokers = "{}"
group_prefix = "e2e-export"

[topics]
partitions = 3

[[sources]]
name = "nyc311"
topic = "raw.nyc311"
mapping = "{}"

[calendar]
time_zone = "America/New_York"

[pipeline]
flush_interval_ms = 200

[metrics]
listen = ""
labels = ["region"]
"#,
            broker.addr,
            mapping.display()
        ),
    )
    .unwrap();
    let sent: u64 = [&changes, &export]
        .iter()
        .map(|f| {
            govstream_e2e::kafka::pyclient(&[
                "produce-rows",
                &broker.addr,
                "raw.nyc311",
                f.to_str().unwrap(),
            ])
            .trim()
            .parse::<u64>()
            .unwrap()
        })
        .sum();
    assert_eq!(sent, 15, "2 changed rows and the export's 13 rows");
    let summary = dir.join("run-summary.json");
    finish(start_with(
        &config,
        "10",
        "warn",
        &["--summary", summary.to_str().unwrap()],
    ));
    assert_same(&final_aggregates(&broker), &want);
    let got: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let s = &got["sources"]["nyc311"];
    let n = |k: &str| s[k].as_u64().unwrap();
    let rejected: u64 = s["rejected"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!((n("read"), n("accepted"), rejected), (15, 12, 3), "{s}");
    // 12 accepted rows give 31 events: 23 new ones, 3 copies of the repeated row, and the 5
    // events of the two rows the re-export replaced (superseded, or applied and then replaced
    // when the old row came first: the raw topic's partitions interleave).
    assert_eq!(n("normalized"), 31, "{s}");
    assert_eq!(n("events") + n("duplicates") + n("superseded"), 31, "{s}");
    assert_eq!(dlq_records(&broker).len(), 3);
}
