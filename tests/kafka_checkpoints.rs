//! Checkpoints on a real broker (docs/checkpoints.md): a restart restores each engine
//! partition's checkpoint and re-reads only what came after it; a damaged checkpoint is
//! refused and its partition rebuilt from the start; a kill -9 while checkpoints are being
//! written loses nothing. Every run's final aggregates equal `replay` (independent reader).

use govstream_e2e::kafka::{
    assert_accounted, assert_same, final_aggregates, finish, produce_all, produce_file, pyclient,
    start, start_logged, write_config, Broker,
};
use govstream_e2e::scratch;
use govstream_e2e::workload::{replay_lines, workload, SOURCES};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// Frequent checkpoints in many small chunks.
fn config(dir: &Path, broker: &Broker, group: &str, interval_records: u64) -> PathBuf {
    let p = write_config(dir, broker, group);
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str(&format!(
        "\n[checkpoint]\ninterval_records = {interval_records}\ninterval_ms = 1000\nmax_chunk_bytes = 4096\n"
    ));
    std::fs::write(&p, text).unwrap();
    p
}

/// Splits every workload file into a first and a second half (`a/`, `b/`).
fn halves(dir: &Path) -> (PathBuf, PathBuf) {
    let (a, b) = (dir.join("a"), dir.join("b"));
    for d in [&a, &b] {
        std::fs::create_dir_all(d).unwrap();
    }
    for (_, f) in SOURCES {
        // bdc.txt is GB18030: lines as bytes.
        let bytes = std::fs::read(dir.join(f)).unwrap();
        let lines: Vec<&[u8]> = bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let (x, y) = lines.split_at(lines.len() / 2);
        for (to, part) in [(&a, x), (&b, y)] {
            let mut out = Vec::new();
            for l in part {
                out.extend_from_slice(l);
                out.push(b'\n');
            }
            std::fs::write(to.join(f), out).unwrap();
        }
    }
    (a, b)
}

fn produce_dir(broker: &Broker, dir: &Path) -> u64 {
    SOURCES
        .iter()
        .map(|(name, f)| produce_file(broker, &format!("raw.{name}"), &dir.join(f)))
        .sum()
}

fn count(broker: &Broker, topic: &str) -> u64 {
    pyclient(&["count", &broker.addr, topic, "5"])
        .trim()
        .parse()
        .expect("a count")
}

/// The run's log and its "engine records read N" figure.
fn outcome(o: Output) -> (String, u64) {
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "govstream run failed: {stderr}");
    let read = stdout
        .lines()
        .find_map(|l| l.strip_prefix("engine records read "))
        .and_then(|l| l.split(';').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no engine record count in {stdout}"));
    (stdout + &stderr, read)
}

#[test]
fn restart_reads_only_the_tail_and_a_damaged_checkpoint_is_rebuilt() {
    let dir = scratch("kafka-checkpoints");
    workload(&dir, "20000", "11");
    let want = replay_lines(&dir);
    let (a, b) = halves(&dir);
    let broker = Broker::start();
    let config = config(&dir, &broker, "e2e-ckpt", 1000);

    // First half; a graceful stop checkpoints every partition.
    let mut sent = produce_dir(&broker, &a);
    let (log, read1) = outcome(
        start_logged(&config, "5", "info")
            .wait_with_output()
            .unwrap(),
    );
    let n1 = count(&broker, "govstream.normalized.v1");
    assert_eq!(read1, n1, "a first run reads every normalized record once");
    assert!(log.contains("no checkpoint yet"), "{log}");

    // Second half: each partition restores and reads only what came after its checkpoint.
    sent += produce_dir(&broker, &b);
    let (log, read2) = outcome(
        start_logged(&config, "5", "info")
            .wait_with_output()
            .unwrap(),
    );
    let n2 = count(&broker, "govstream.normalized.v1");
    assert_eq!(
        log.matches("restored from its checkpoint").count(),
        3,
        "every partition restored: {log}"
    );
    assert_eq!(read2, n2 - n1, "only the tail is re-read");
    assert_same(&final_aggregates(&broker), &want);
    assert_accounted(&broker, sent);

    // Damage one chunk of partition 0's checkpoint: that partition rebuilds from its start, the
    // others restore, and the result is the same.
    let keys = pyclient(&["keys", &broker.addr, "govstream.checkpoints.v1", "5"]);
    let chunk = keys
        .lines()
        .find(|k| k.starts_with("engine/0/") && !k.ends_with("/manifest"))
        .unwrap_or_else(|| panic!("a chunk of partition 0 in {keys}"))
        .to_owned();
    pyclient(&[
        "put",
        &broker.addr,
        "govstream.checkpoints.v1",
        "0",
        &chunk,
        "0a0bdeadbeef",
    ]);
    let (log, read3) = outcome(
        start_logged(&config, "5", "info")
            .wait_with_output()
            .unwrap(),
    );
    assert!(log.contains("damaged checkpoint"), "{log}");
    assert_eq!(
        log.matches("restored from its checkpoint").count(),
        2,
        "{log}"
    );
    assert!(
        read3 > 0 && read3 < n2,
        "partition 0 alone is re-read: {read3} of {n2}"
    );
    assert_same(&final_aggregates(&broker), &want);

    // A manifest of another format (1, the format before fingerprints of the canonical
    // encoding; stage "engine", partition 1) is refused with a clear message, and that
    // partition is rebuilt.
    let manifest = "0801".to_owned() + "1206" + "656e67696e65" + "1801";
    pyclient(&[
        "put",
        &broker.addr,
        "govstream.checkpoints.v1",
        "1",
        "engine/1/manifest",
        &manifest,
    ]);
    let (log, _) = outcome(
        start_logged(&config, "5", "info")
            .wait_with_output()
            .unwrap(),
    );
    assert!(
        log.contains("checkpoint written in a format this build does not read"),
        "{log}"
    );
    assert_same(&final_aggregates(&broker), &want);
}

#[test]
fn kill9_while_checkpoints_are_written() {
    let dir = scratch("kafka-ckpt-kill");
    workload(&dir, "30000", "12");
    let want = replay_lines(&dir);
    let broker = Broker::start();
    // A checkpoint every 300 records, in chunks of 4 KiB: the kill lands in or near one.
    let config = config(&dir, &broker, "e2e-ckpt-kill", 300);
    let sent = produce_all(&broker, &dir);
    let mut first = start(&config, "60");
    std::thread::sleep(Duration::from_secs(7));
    first.kill().expect("SIGKILL");
    let _ = first.wait();
    let (log, _) = outcome(
        start_logged(&config, "8", "info")
            .wait_with_output()
            .unwrap(),
    );
    assert!(!log.contains("damaged checkpoint"), "{log}");
    assert_same(&final_aggregates(&broker), &want);
    assert_accounted(&broker, sent);
    // The last run's checkpoints restore cleanly too.
    finish(start(&config, "5"));
    assert_same(&final_aggregates(&broker), &want);
}

/// Retention in the pipeline (rule 17): a record of a case retired in its engine partition goes
/// to the dead-letter topic as `retired_case` and changes nothing; the result equals `replay
/// --retention-days` on the same records in the same order.
#[test]
fn records_of_retired_cases_go_to_the_dead_letter_topic() {
    let dir = scratch("kafka-retention");
    let sl = |p: &str, t: &str| {
        format!(
            r#"{{"RECORDID":"SL-{p}","PROJID":"{p}","INFOTYPE":"SL","TASKCODE":"T1","AREACODE":"652801","DEPTCODE":"D1","ITEMTYPE":"CN","ACCEPTTIME":"{t}","PROMISEDAYS":"5"}}"#
        )
    };
    let bj = |p: &str, t: &str| {
        format!(
            r#"{{"RECORDID":"BJ-{p}","PROJID":"{p}","INFOTYPE":"BJ","RESULT":"1","FINISHTIME":"{t}","DELIVERY":"1"}}"#
        )
    };
    // Early cases, finished in January; then enough June cases that every partition's onenet
    // watermark reaches June. Each phase is produced and processed before the next (the raw
    // topic's partitions are read in parallel, so a phase's own order is not kept).
    let jan: Vec<String> = (0..20)
        .flat_map(|i| {
            [
                sl(&format!("JAN{i}"), "2020-01-06 10:00:00"),
                bj(&format!("JAN{i}"), "2020-01-08 10:00:00"),
            ]
        })
        .collect();
    let jun: Vec<String> = (0..60)
        .map(|i| sl(&format!("JUN{i}"), "2020-06-15 10:00:00"))
        .collect();
    // Later: evaluations of the January cases: retired, 159 days behind with R = 100 (and not
    // yet forgotten, which takes 2R).
    let late: Vec<String> = (0..20)
        .map(|i| {
            format!(
                r#"{{"RECORDID":"PJ-JAN{i}","PROJID":"JAN{i}","INFOTYPE":"PJ","EVALLEVEL":"1","EVALTIME":"2020-01-09 10:00:00"}}"#
            )
        })
        .collect();
    let phases = [("jan", &jan), ("jun", &jun), ("late", &late)];
    for (name, lines) in phases {
        std::fs::write(dir.join(format!("{name}.ndjson")), lines.join("\n") + "\n").unwrap();
    }
    let all: Vec<String> = phases.iter().flat_map(|(_, l)| l.iter().cloned()).collect();
    std::fs::write(dir.join("all.ndjson"), all.join("\n") + "\n").unwrap();

    let out = dir.join("replay");
    let o = govstream_e2e::run(&[
        "replay",
        "--source",
        &format!("onenet={}", dir.join("all.ndjson").display()),
        "--retention-days",
        "100",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = govstream_e2e::sorted_lines(&out.join("aggregates.ndjson"));
    let retired_in_replay = std::fs::read_to_string(out.join("rejected.ndjson"))
        .unwrap()
        .matches("retired_case")
        .count();
    assert_eq!(retired_in_replay, 20);

    let broker = Broker::start();
    let config = config(&dir, &broker, "e2e-retention", 1000);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[engine]\nretention_days = 100\n");
    std::fs::write(&config, text).unwrap();
    for (name, _) in phases {
        produce_file(&broker, "raw.onenet", &dir.join(format!("{name}.ndjson")));
        finish(start(&config, "4"));
    }
    assert_same(&final_aggregates(&broker), &want);
    let dlq = govstream_e2e::kafka::dlq_records(&broker);
    let retired = dlq.iter().filter(|r| r["reason"] == "retired_case").count();
    assert_eq!(retired, 20, "{dlq:?}");
}
