//! The stages' logic through the driver, on the in-memory log (`crate::memory`): batching,
//! revocation in the middle of a batch, a failed flush, shutdown, and the three stages chained
//! against the pure engine.

use super::engine::EngineStage;
use super::normalize::NormalizeStage;
use super::totals::TotalsStage;
use crate::checkpoint::EngineCheckpoints;
use crate::config::Config;
use crate::driver::{drive, Batching, Offsets, StageError};
use crate::memory::{MemoryInput, MemoryLog, MemoryOutbox};
use crate::metrics::Timeliness;
use crate::progress::Progress;
use govstream_calendar::Calendar;
use govstream_engine::{canonical_json, Engine};
use govstream_generate::{GenConfig, Generator, SourceKind};
use govstream_proto::v1 as pb;
use prost::Message as _;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const RAW: [&str; 4] = ["raw.hotline", "raw.onenet", "raw.bdc", "raw.catalogue"];

fn config() -> Config {
    let mut cfg: Config = toml::from_str(
        r#"
[kafka]
brokers = "unused:9092"
[[sources]]
name = "hotline"
topic = "raw.hotline"
[[sources]]
name = "onenet"
topic = "raw.onenet"
[[sources]]
name = "bdc"
topic = "raw.bdc"
[[sources]]
name = "catalogue"
topic = "raw.catalogue"
"#,
    )
    .expect("test config");
    cfg.pipeline.publish_interval_ms = 0;
    cfg
}

fn batching(max_batch: usize) -> Batching {
    Batching {
        max_batch,
        // Long: in these tests batches end by size, by a rebalance or by stopping.
        flush_every: Duration::from_secs(3600),
    }
}

fn normalize_stage(cfg: &Config) -> NormalizeStage {
    let key = govstream_harness::setup::pseudonym_key(None).expect("demo key");
    let sources = ["hotline", "onenet", "bdc", "catalogue"]
        .iter()
        .map(|s| govstream_harness::setup::compile_source(s, None, key.clone()).expect("preset"))
        .collect();
    NormalizeStage::new(cfg, sources, 3)
}

fn calendar() -> Arc<Calendar> {
    govstream_harness::setup::calendar(&[], &[], "+08:00").expect("bundled calendars")
}

/// A log with `n` generated raw records (bad ones and duplicates included) in two partitions
/// per raw topic, and the output topics.
fn raw_log(n: u64) -> MemoryLog {
    let log = MemoryLog::new();
    let cfg = config();
    for t in RAW {
        log.create(t, 2);
    }
    for t in [&cfg.topics.normalized, &cfg.topics.dead_letter] {
        log.create(t, 3);
    }
    for t in [
        &cfg.topics.partials,
        &cfg.topics.aggregates,
        &cfg.topics.aggregates_json,
        &cfg.topics.checkpoints,
    ] {
        log.create(t, 2);
    }
    let gen_cfg = GenConfig {
        records: n,
        days: 60,
        invalid_rate: 0.02,
        ..GenConfig::default()
    };
    let gen = Generator::new(gen_cfg);
    for (i, r) in gen.enumerate() {
        let topic = match r.source {
            SourceKind::Hotline => RAW[0],
            SourceKind::Onenet => RAW[1],
            SourceKind::Bdc => RAW[2],
        };
        log.append(&crate::driver::OutRecord {
            topic,
            partition: Some((i % 2) as i32),
            key: b"",
            value: Some(&r.bytes),
            headers: &[],
        });
    }
    log
}

/// [`raw_log`] and the generated catalogue in `raw.catalogue`.
fn raw_log_with_catalogue(n: u64) -> MemoryLog {
    let log = raw_log(n);
    let listings = govstream_generate::catalogue(&GenConfig {
        records: n,
        days: 60,
        ..GenConfig::default()
    });
    for (i, l) in listings.iter().enumerate() {
        log.append(&crate::driver::OutRecord {
            topic: RAW[3],
            partition: Some((i % 2) as i32),
            key: b"",
            value: Some(l),
            headers: &[],
        });
    }
    log
}

fn raw_count(log: &MemoryLog) -> usize {
    RAW.iter().map(|t| log.records(t).len()).sum()
}

/// Distinct upstream positions in the normalized and dead-letter topics, and the total count.
fn origins(log: &MemoryLog, cfg: &Config) -> (usize, usize) {
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for t in [&cfg.topics.normalized, &cfg.topics.dead_letter] {
        for r in log.records(t) {
            seen.insert(r.header("govstream-origin").expect("origin header"));
            total += 1;
        }
    }
    (seen.len(), total)
}

/// Runs a stage on `input` until everything assigned is read.
fn run_to_end<S: crate::driver::Stage>(
    stage: &mut S,
    input: &MemoryInput,
    out: &mut MemoryOutbox,
    max_batch: usize,
) -> Result<Progress, StageError> {
    let progress = Progress::default();
    drive(stage, input, out, batching(max_batch), &progress, &|| {
        input.drained()
    })?;
    Ok(progress)
}

#[test]
fn normalize_accounts_for_every_record_in_batches() {
    let cfg = config();
    let log = raw_log(3_000);
    let n = raw_count(&log);
    let committed = Arc::new(Mutex::new(Offsets::new()));
    let input = MemoryInput::new(&log, &committed);
    input.assign_all(&RAW);
    let mut out = MemoryOutbox::new(&log);
    run_to_end(&mut normalize_stage(&cfg), &input, &mut out, 100).unwrap();
    assert_eq!(origins(&log, &cfg), (n, n), "each record once");
    assert!(!log.records(&cfg.topics.dead_letter).is_empty());
    // A flush per full batch, and one at the end.
    assert_eq!(out.flushes, n / 100 + 1);
    let committed: i64 = committed.lock().unwrap().values().sum();
    assert_eq!(committed as usize, n, "every offset committed");
}

/// A partition revoked in the middle of a batch: its records of the open batch are not
/// committed, so the next owner reads them again; nothing is lost.
#[test]
fn revocation_in_the_middle_of_a_batch_loses_nothing() {
    let cfg = config();
    let log = raw_log(2_000);
    let n = raw_count(&log);
    let committed = Arc::new(Mutex::new(Offsets::new()));
    let first = MemoryInput::new(&log, &committed);
    first.assign_all(&RAW);
    let moved = vec![("raw.hotline".to_owned(), 0)];
    // The first member reads raw.bdc's partitions first (partition order), then raw.hotline:0:
    // revoked 30 records into it, in the middle of a batch of 100.
    let bdc = log.records("raw.bdc").len();
    first.revoke_after(bdc + 30, moved.clone());
    let mut out = MemoryOutbox::new(&log);
    run_to_end(&mut normalize_stage(&cfg), &first, &mut out, 100).unwrap();
    let at_revocation = committed
        .lock()
        .unwrap()
        .get(&moved[0])
        .copied()
        .unwrap_or(0);
    // 29 records of raw.hotline:0 were read; those in batches flushed before the revocation
    // are committed, the others are not (the old owner no longer commits them).
    let flushed_before = ((bdc + 29) / 100 * 100) as i64;
    assert_eq!(at_revocation, (flushed_before - bdc as i64).max(0));
    let hotline0 = log
        .records("raw.hotline")
        .iter()
        .filter(|r| r.partition == 0)
        .count() as i64;
    assert!(at_revocation < hotline0, "revoked before its end");
    let (distinct, _) = origins(&log, &cfg);
    assert!(distinct < n, "the moved partition is not finished yet");

    let second = MemoryInput::new(&log, &committed);
    second.assign(moved.clone());
    let mut out2 = MemoryOutbox::new(&log);
    run_to_end(&mut normalize_stage(&cfg), &second, &mut out2, 100).unwrap();
    let (distinct, total) = origins(&log, &cfg);
    assert_eq!(distinct, n, "every record accounted for");
    // Read twice at most: the uncommitted part of the open batch.
    assert!(total - n <= 100, "{} records twice", total - n);
    assert_eq!(committed.lock().unwrap()[&moved[0]], hotline0);
}

/// A flush whose records the broker refused stops the stage with a delivery error and
/// commits nothing of that batch; the next member reads it again.
#[test]
fn a_failed_flush_commits_nothing_and_the_next_owner_recovers() {
    let cfg = config();
    let log = raw_log(1_000);
    let n = raw_count(&log);
    let committed = Arc::new(Mutex::new(Offsets::new()));
    let input = MemoryInput::new(&log, &committed);
    input.assign_all(&RAW);
    let mut out = MemoryOutbox::new(&log);
    out.fail_after(2);
    let e = run_to_end(&mut normalize_stage(&cfg), &input, &mut out, 100).unwrap_err();
    assert!(matches!(e, StageError::Delivery { .. }), "{e}");
    let done: i64 = committed.lock().unwrap().values().sum();
    assert_eq!(done, 200, "the two acknowledged batches only");
    assert_eq!(origins(&log, &cfg).1, 200);

    let again = MemoryInput::new(&log, &committed);
    again.assign_all(&RAW);
    let mut out = MemoryOutbox::new(&log);
    run_to_end(&mut normalize_stage(&cfg), &again, &mut out, 100).unwrap();
    assert_eq!(origins(&log, &cfg), (n, n));
}

/// Stopping in the middle: the open batch is flushed and committed before the stage returns.
#[test]
fn shutdown_flushes_and_commits_the_open_batch() {
    let cfg = config();
    let log = raw_log(1_000);
    let committed = Arc::new(Mutex::new(Offsets::new()));
    let input = MemoryInput::new(&log, &committed);
    input.assign_all(&RAW);
    let mut out = MemoryOutbox::new(&log);
    let progress = Progress::default();
    let polls = std::cell::Cell::new(0);
    drive(
        &mut normalize_stage(&cfg),
        &input,
        &mut out,
        batching(100),
        &progress,
        &|| {
            polls.set(polls.get() + 1);
            polls.get() > 250
        },
    )
    .unwrap();
    let done: i64 = committed.lock().unwrap().values().sum();
    assert_eq!(done, 250);
    assert_eq!(origins(&log, &cfg), (250, 250));
    assert_eq!(out.flushes, 3, "two full batches and the open one");
    let counted: u64 = progress.snapshot_sources().values().map(|s| s.read).sum();
    assert_eq!(counted, 250, "counts reported at the flushes");
}

fn engine_stage(cfg: &Config, log: &MemoryLog, checkpoints: bool) -> EngineStage {
    let ck = checkpoints.then(|| {
        EngineCheckpoints::new(
            cfg,
            log.partitions(&cfg.topics.checkpoints),
            Box::new(log.clone()),
            Arc::new(Progress::default()),
            true,
        )
    });
    EngineStage::new(
        cfg,
        calendar(),
        log.partitions(&cfg.topics.partials),
        ck,
        true,
    )
}

/// [`raw_log`] (with the catalogue, or without) with its `n` records normalized (the normalize
/// stage run to the end).
fn normalized_log(cfg: &Config, n: u64, catalogue: bool) -> MemoryLog {
    let log = if catalogue {
        raw_log_with_catalogue(n)
    } else {
        raw_log(n)
    };
    let input = MemoryInput::new(&log, &Arc::new(Mutex::new(Offsets::new())));
    input.assign_all(&RAW);
    run_to_end(
        &mut normalize_stage(cfg),
        &input,
        &mut MemoryOutbox::new(&log),
        500,
    )
    .unwrap();
    log
}

/// The JSON mirror's latest values, sorted.
fn published_json(log: &MemoryLog, cfg: &Config) -> Vec<String> {
    use crate::driver::Compacted;
    let parts: Vec<i32> = (0..log.partitions(&cfg.topics.aggregates_json)).collect();
    let mut v: Vec<String> = log
        .latest(&cfg.topics.aggregates_json, &parts)
        .unwrap()
        .into_values()
        .flatten()
        .map(|b| String::from_utf8(b).unwrap())
        .collect();
    v.sort();
    v
}

/// The pure engine over the same normalized events: what the pipeline must publish.
fn expected(log: &MemoryLog, cfg: &Config) -> Vec<String> {
    let mut e = Engine::new(calendar()).with_catalogue();
    for r in log.records(&cfg.topics.normalized) {
        let ev = pb::CaseEvent::decode(r.value.as_deref().unwrap_or_default()).unwrap();
        e.apply(&ev);
    }
    let mut v = Vec::new();
    e.for_each_record(|r| v.push(canonical_json(&r)));
    v.sort();
    v
}

/// Normalize → engine → totals on the in-memory log publish what the pure engine computes;
/// an engine stopped in the middle (checkpoint at shutdown) and restored by a new owner, and
/// a totals partition moved to a new owner (read back), change nothing.
#[test]
fn the_three_stages_publish_what_the_engine_computes_across_restarts() {
    let cfg = config();
    let log = normalized_log(&cfg, 4_000, true);

    // Engine: stopped after 1,000 records, then a new owner restores its checkpoints.
    let normalized = [cfg.topics.normalized.as_str()];
    let none = Arc::new(Mutex::new(Offsets::new()));
    let first = MemoryInput::new(&log, &none);
    first.assign_all(&normalized);
    let polls = std::cell::Cell::new(0);
    let progress = Progress::default();
    drive(
        &mut engine_stage(&cfg, &log, true),
        &first,
        &mut MemoryOutbox::new(&log),
        batching(300),
        &progress,
        &|| {
            polls.set(polls.get() + 1);
            polls.get() > 1_000
        },
    )
    .unwrap();
    assert!(!log.records(&cfg.topics.checkpoints).is_empty());
    let second = MemoryInput::new(&log, &none);
    second.assign_all(&normalized);
    let p = run_to_end(
        &mut engine_stage(&cfg, &log, true),
        &second,
        &mut MemoryOutbox::new(&log),
        300,
    )
    .unwrap();
    let tail = log.records(&cfg.topics.normalized).len() as u64 - 1_000;
    assert_eq!(
        p.engine_records.load(std::sync::atomic::Ordering::Relaxed),
        tail,
        "the new owner reads only what the checkpoints do not cover"
    );

    // Totals: one owner for partition 0, then both partitions by a second owner that reads
    // back what the first published.
    let partials = [cfg.topics.partials.as_str()];
    let t1 = MemoryInput::new(&log, &none);
    t1.assign(vec![(cfg.topics.partials.clone(), 0)]);
    let totals = |log: &MemoryLog| {
        TotalsStage::new(
            &cfg,
            govstream_calendar::Zone::Fixed(8 * 3600),
            Box::new(log.clone()),
            Arc::new(Timeliness::default()),
        )
    };
    run_to_end(&mut totals(&log), &t1, &mut MemoryOutbox::new(&log), 200).unwrap();
    let t2 = MemoryInput::new(&log, &none);
    t2.assign_all(&partials);
    run_to_end(&mut totals(&log), &t2, &mut MemoryOutbox::new(&log), 200).unwrap();

    let want = expected(&log, &cfg);
    // The catalogue joined in the engines and family `item` from totals partition 0 included.
    assert!(want.iter().any(|l| l.contains(r#""family":"item""#)));
    assert!(want
        .iter()
        .any(|l| l.contains(r#""declared_one_trip_kept":1"#)));
    assert!(want.len() > 100);
    assert_eq!(published_json(&log, &cfg), want);
}

/// An engine partition revoked in the middle of a batch holds changes not yet published: it is
/// not checkpointed (a checkpoint never carries unpublished changes), so its next owner
/// rebuilds it from the partition's start; the published aggregates are still exact.
#[test]
fn an_engine_partition_revoked_mid_batch_is_rebuilt_by_its_next_owner() {
    let cfg = config();
    // Without listings: they make no unpublished change, so a revocation amid them would
    // checkpoint.
    let log = normalized_log(&cfg, 3_000, false);

    let normalized = [cfg.topics.normalized.as_str()];
    let none = Arc::new(Mutex::new(Offsets::new()));
    let first = MemoryInput::new(&log, &none);
    first.assign_all(&normalized);
    let moved = vec![(cfg.topics.normalized.clone(), 0)];
    // Partition 0 is read first: revoked 700 records in, in the middle of a batch of 300.
    first.revoke_after(700, moved.clone());
    run_to_end(
        &mut engine_stage(&cfg, &log, true),
        &first,
        &mut MemoryOutbox::new(&log),
        300,
    )
    .unwrap();
    let second = MemoryInput::new(&log, &none);
    second.assign(moved);
    let p = run_to_end(
        &mut engine_stage(&cfg, &log, true),
        &second,
        &mut MemoryOutbox::new(&log),
        300,
    )
    .unwrap();
    let partition0 = log
        .records(&cfg.topics.normalized)
        .iter()
        .filter(|r| r.partition == 0)
        .count() as u64;
    assert_eq!(
        p.engine_records.load(std::sync::atomic::Ordering::Relaxed),
        partition0,
        "no checkpoint at the revocation: the next owner reads the partition from its start"
    );

    let totals = MemoryInput::new(&log, &none);
    totals.assign_all(&[cfg.topics.partials.as_str()]);
    run_to_end(
        &mut TotalsStage::new(
            &cfg,
            govstream_calendar::Zone::Fixed(8 * 3600),
            Box::new(log.clone()),
            Arc::new(Timeliness::default()),
        ),
        &totals,
        &mut MemoryOutbox::new(&log),
        200,
    )
    .unwrap();
    assert_eq!(published_json(&log, &cfg), expected(&log, &cfg));
}

/// The NYC 311 export mapping, with the export's header declared (a Kafka message is one row).
fn nyc311_mapping(dir: &std::path::Path, with_columns: bool) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut text = std::fs::read_to_string(root.join("deploy/mappings/nyc311.toml")).unwrap();
    if with_columns {
        let csv = std::fs::read_to_string(root.join("tests/fixtures/nyc311/export-1.csv")).unwrap();
        let header = csv.lines().next().unwrap();
        let cols: Vec<String> = header.split(',').map(|c| format!("{c:?}")).collect();
        text = text.replace(
            "format = { kind = \"csv\" }",
            &format!(
                "format = {{ kind = \"csv\", columns = [{}] }}",
                cols.join(", ")
            ),
        );
    }
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(format!("nyc311-{with_columns}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// A CSV export from Kafka: one row per message (no header), each row giving its events to
/// the normalized topic, the unusable rows to the dead-letter topic.
#[test]
fn csv_rows_from_kafka_give_several_events_each() {
    let dir = std::env::temp_dir().join(format!("gs-stage-csv-{}", std::process::id()));
    let key = govstream_harness::setup::pseudonym_key(None).expect("demo key");
    // Without the header declared, `run` refuses the source and says what to add.
    let e = govstream_harness::setup::compile_source(
        "nyc311",
        Some(&nyc311_mapping(&dir, false)),
        key.clone(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("format.columns"), "{e}");
    let src =
        govstream_harness::setup::compile_source("nyc311", Some(&nyc311_mapping(&dir, true)), key)
            .unwrap();
    let mut cfg: Config = toml::from_str(
        "[kafka]\nbrokers = \"unused:9092\"\n[[sources]]\nname = \"nyc311\"\ntopic = \"raw.nyc311\"\n",
    )
    .unwrap();
    cfg.pipeline.publish_interval_ms = 0;
    let log = MemoryLog::new();
    log.create("raw.nyc311", 1);
    for t in [
        &cfg.topics.normalized,
        &cfg.topics.dead_letter,
        &cfg.topics.partials,
    ] {
        log.create(t, 3);
    }
    // The rows of the fixture, one per message (a quoted line break stays in its row).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let csv = std::fs::read(root.join("tests/fixtures/nyc311/export-1.csv")).unwrap();
    let mut rows = Vec::new();
    let mut splitter = govstream_normalize::csv::RecordSplitter::default();
    let mut row = Vec::new();
    for line in csv.split_inclusive(|b| *b == b'\n') {
        row.extend_from_slice(line);
        if splitter.line_ends_record(line) {
            rows.push(std::mem::take(&mut row));
        }
    }
    if !row.is_empty() {
        rows.push(row);
    }
    for r in &rows[1..] {
        log.append(&crate::driver::OutRecord {
            topic: "raw.nyc311",
            partition: Some(0),
            key: b"",
            value: Some(r),
            headers: &[],
        });
    }
    let committed = Arc::new(Mutex::new(Offsets::new()));
    let input = MemoryInput::new(&log, &committed);
    input.assign_all(&["raw.nyc311"]);
    let mut out = MemoryOutbox::new(&log);
    let progress = run_to_end(
        &mut NormalizeStage::new(&cfg, vec![src], 3),
        &input,
        &mut out,
        4,
    )
    .unwrap();
    let counts = progress.snapshot_sources()["nyc311"].clone();
    // 13 rows: 10 accepted giving 26 events (the repeated row's included), 3 rejected.
    assert_eq!(
        (counts.read, counts.accepted, counts.normalized),
        (13, 10, 26)
    );
    assert_eq!(counts.rejected_total(), 3);
    assert_eq!(log.records(&cfg.topics.normalized).len(), 26);
    assert_eq!(log.records(&cfg.topics.dead_letter).len(), 3);
    assert_eq!(
        origins(&log, &cfg),
        (13, 29),
        "each row once, its events together"
    );
    std::fs::remove_dir_all(&dir).ok();
}
