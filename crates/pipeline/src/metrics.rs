//! What `/metrics` returns (Prometheus text format); `crate::http` serves it, with `/healthz`
//! and `/readyz`.
//!
//! Pipeline-health metrics go through the `metrics` facade and `metrics-exporter-prometheus`.
//! Timeliness metrics and consumer lag are label sets that come and go (a rebalance moves a
//! totals partition, or a partition to another instance), so they are rendered from a snapshot
//! at every scrape: series of partitions this instance no longer owns disappear at once.
//! Every name and label is documented in docs/metrics.md, which a test checks against a live
//! scrape.

use crate::progress::Progress;
use govstream_engine::schema::{self, Family};
use govstream_engine::{Totals, BUCKETS, BUCKET_BOUNDS, COUNTERS};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Mutex, OnceLock};

/// Which labels timeliness metrics carry (a bounded, configured subset of the dimensions).
#[derive(Clone, Debug)]
pub struct LabelSet {
    /// Per family (by index): (label name, dimension index) in the family's key order.
    pub by_family: [Vec<(&'static str, usize)>; 3],
    pub max_series: usize,
}

impl LabelSet {
    pub fn new(labels: &[String], max_series: usize) -> LabelSet {
        let has = |l: &str| labels.iter().any(|x| x == l);
        let pick = |dims: &'static [&'static str]| {
            dims.iter()
                .enumerate()
                .filter(|(_, n)| has(n))
                .map(|(i, n)| (*n, i))
                .collect()
        };
        LabelSet {
            by_family: Family::ALL.map(|f| pick(f.dimension_names())),
            max_series,
        }
    }
}

type Labels = Vec<String>;

/// Timeliness figures of one instance's totals partitions, projected on the configured labels.
#[derive(Clone, Debug, Default)]
pub struct TimelinessSnapshot {
    pub counters: [BTreeMap<Labels, [i64; COUNTERS]>; 2],
    pub histograms: [BTreeMap<Labels, ([i64; BUCKETS], i128)>; 2],
    pub overdue: [BTreeMap<Labels, i64>; 2],
    /// (region, "day" | "month") → counters of the current day / month.
    pub current: [BTreeMap<(String, &'static str), [i64; COUNTERS]>; 2],
    /// Family `item` at the end of the watermark's day, projected on the configured labels
    /// (region, dept).
    pub items: BTreeMap<Labels, [i64; COUNTERS]>,
}

/// Shared between the totals stage (writer) and the HTTP endpoint (reader).
#[derive(Default)]
pub struct Timeliness {
    pub snapshot: Mutex<TimelinessSnapshot>,
    dropped: Mutex<HashSet<(usize, Labels)>>,
}

impl Timeliness {
    /// Rebuilds the snapshot from the totals this instance owns.
    pub fn update<'a>(&self, totals: impl Iterator<Item = &'a Totals>, labels: &LabelSet) {
        let mut s = TimelinessSnapshot::default();
        let mut series = BTreeSet::new();
        let mut dropped = Vec::new();
        let project = |fam: Family, d: [&str; 4]| -> Labels {
            labels.by_family[fam.index()]
                .iter()
                .map(|(_, i)| d[*i].to_owned())
                .collect()
        };
        for t in totals {
            let wm_day = t.watermark_day();
            let month = |day: i32| {
                let (y, m, _) = govstream_calendar::Day(day).ymd();
                (y, m)
            };
            t.for_each_cell(|fam, day, d, counters, buckets, sum_us| {
                let f = fam as usize;
                let l = project(fam, d);
                if !series.contains(&(f, l.clone())) {
                    if series.len() >= labels.max_series {
                        dropped.push((f, l));
                        return;
                    }
                    series.insert((f, l.clone()));
                }
                let c = s.counters[f].entry(l.clone()).or_insert([0; COUNTERS]);
                add_to(c, counters);
                let h = s.histograms[f].entry(l).or_insert(([0; BUCKETS], 0));
                add_to(&mut h.0, buckets);
                h.1 += sum_us;
                if let Some(w) = wm_day {
                    let mut add = |window: &'static str| {
                        let e = s.current[f]
                            .entry((d[0].to_owned(), window))
                            .or_insert([0; COUNTERS]);
                        add_to(e, counters);
                    };
                    if day == w {
                        add("day");
                    }
                    if month(day) == month(w) {
                        add("month");
                    }
                }
            });
            for (d, c) in t.items_now() {
                let f = Family::Item.index();
                let l: Labels = labels.by_family[f]
                    .iter()
                    .map(|(_, i)| d[*i].to_owned())
                    .collect();
                if !series.contains(&(f, l.clone())) && series.len() >= labels.max_series {
                    dropped.push((f, l));
                    continue;
                }
                series.insert((f, l.clone()));
                add_to(s.items.entry(l).or_insert([0; COUNTERS]), &c);
            }
            for (fam, d, v) in t.overdue_now() {
                let f = fam as usize;
                let l = project(fam, d);
                if !series.contains(&(f, l.clone())) && series.len() >= labels.max_series {
                    dropped.push((f, l));
                    continue;
                }
                series.insert((f, l.clone()));
                *s.overdue[f].entry(l).or_insert(0) += v;
            }
        }
        let mut all = self.dropped.lock().unwrap_or_else(|e| e.into_inner());
        all.extend(dropped);
        metrics::counter!("govstream_metric_series_dropped_total").absolute(all.len() as u64);
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = s;
    }
}

fn add_to(to: &mut [i64], from: &[i64]) {
    for (a, b) in to.iter_mut().zip(from) {
        *a += b;
    }
}

fn label_str(names: &[(&str, usize)], values: &[String], extra: Option<(&str, &str)>) -> String {
    let mut out = String::from("{");
    let mut first = true;
    for ((n, _), v) in names.iter().zip(values) {
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(out, "{n}=\"{}\"", escape(v));
    }
    if let Some((n, v)) = extra {
        if !first {
            out.push(',');
        }
        let _ = write!(out, "{n}=\"{}\"", escape(v));
    }
    out.push('}');
    out
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The timeliness part of `/metrics`, rendered from the snapshot.
pub fn render_timeliness(s: &TimelinessSnapshot, labels: &LabelSet, out: &mut String) {
    for family in Family::CASES {
        let (f, fam, names) = (
            family.index(),
            family.name(),
            &labels.by_family[family.index()],
        );
        for (idx, name) in family.counter_names().iter().enumerate() {
            let _ = writeln!(out, "# TYPE govstream_{fam}_{name}_total counter");
            for (l, c) in &s.counters[f] {
                let _ = writeln!(
                    out,
                    "govstream_{fam}_{name}_total{} {}",
                    label_str(names, l, None),
                    c[idx].max(0)
                );
            }
        }
        let _ = writeln!(out, "# TYPE govstream_{fam}_duration_seconds histogram");
        for (l, (b, sum_us)) in &s.histograms[f] {
            let mut acc = 0i64;
            for (i, n) in b.iter().enumerate() {
                acc += n;
                let le = match BUCKET_BOUNDS.get(i) {
                    Some(days) => format!("{}", days * 86_400.0),
                    None => "+Inf".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "govstream_{fam}_duration_seconds_bucket{} {}",
                    label_str(names, l, Some(("le", &le))),
                    acc.max(0)
                );
            }
            let _ = writeln!(
                out,
                "govstream_{fam}_duration_seconds_sum{} {}",
                label_str(names, l, None),
                *sum_us as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "govstream_{fam}_duration_seconds_count{} {}",
                label_str(names, l, None),
                acc.max(0)
            );
        }
        let _ = writeln!(out, "# TYPE govstream_{fam}_overdue_open gauge");
        for (l, v) in &s.overdue[f] {
            let _ = writeln!(
                out,
                "govstream_{fam}_overdue_open{} {}",
                label_str(names, l, None),
                v.max(&0)
            );
        }
    }
    let region = [("region", 0usize)];
    // Family `item`: the current snapshot, and its shares.
    let item_labels = &labels.by_family[Family::Item.index()];
    for (idx, name) in Family::Item.counter_names().iter().enumerate() {
        let _ = writeln!(out, "# TYPE govstream_item_{name} gauge");
        for (l, c) in &s.items {
            let _ = writeln!(
                out,
                "govstream_item_{name}{} {}",
                label_str(item_labels, l, None),
                c[idx].max(0)
            );
        }
    }
    for r in schema::RATES.iter().filter(|r| r.family == Family::Item) {
        let name = format!("govstream_item_{}_ratio", r.name);
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (l, c) in &s.items {
            if let Some(v) = r.value(c) {
                let _ = writeln!(out, "{name}{} {v}", label_str(item_labels, l, None));
            }
        }
    }
    for r in schema::RATES.iter().filter(|r| r.family.of_cases()) {
        let name = format!("govstream_{}_{}_ratio", r.family.name(), r.name);
        let _ = writeln!(out, "# TYPE {name} gauge");
        for ((reg, window), c) in &s.current[r.family.index()] {
            if let Some(v) = r.value(c) {
                let _ = writeln!(
                    out,
                    "{name}{} {v}",
                    label_str(&region, std::slice::from_ref(reg), Some(("window", window)))
                );
            }
        }
    }
}

/// Consumer lag per owned partition, from librdkafka's statistics.
pub fn render_lag(p: &Progress, out: &mut String) {
    let _ = writeln!(out, "# TYPE govstream_consumer_lag_records gauge");
    for ((topic, part), lag) in p.lag.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let _ = writeln!(
            out,
            "govstream_consumer_lag_records{{topic=\"{}\",partition=\"{part}\"}} {lag}",
            escape(topic)
        );
    }
}

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder behind the `metrics` facade (once per process).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let latency = [
                0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("govstream_processing_latency_seconds".into()),
                    &latency,
                )
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full("govstream_stage_flush_seconds".into()),
                    &latency,
                )
                .ok()?
                .build_recorder();
            let h = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(h)
        })
        .as_ref()
}

/// Copies the pipeline's progress counters into the facade (absolute values).
pub fn publish_progress(p: &Progress) {
    for (source, s) in p.snapshot_sources() {
        let l = [("source", source.clone())];
        metrics::counter!("govstream_records_consumed_total", &l).absolute(s.read);
        metrics::counter!("govstream_records_accepted_total", &l).absolute(s.accepted);
        metrics::counter!("govstream_records_normalized_total", &l).absolute(s.normalized);
        metrics::counter!("govstream_records_applied_total", &l).absolute(s.events);
        metrics::counter!("govstream_records_duplicate_total", &l).absolute(s.duplicates);
        metrics::counter!("govstream_records_conflict_total", &l).absolute(s.conflicts);
        metrics::counter!("govstream_records_ignored_total", &l).absolute(s.ignored);
        metrics::counter!("govstream_records_retired_total", &l).absolute(s.retired);
        metrics::counter!("govstream_records_superseded_total", &l).absolute(s.superseded);
        metrics::counter!("govstream_records_undecodable_total", &l).absolute(s.undecodable);
        for r in govstream_normalize::Reason::ALL {
            let n = s.rejected.get(r.code()).copied().unwrap_or(0);
            metrics::counter!("govstream_records_rejected_total", "source" => source.clone(), "reason" => r.code()).absolute(n);
        }
        if let Some(w) = s.watermark_us {
            metrics::gauge!("govstream_watermark_timestamp_seconds", &l).set(w as f64 / 1e6);
        }
    }
    metrics::gauge!("govstream_state_cases").set(p.engine_cases.load(Relaxed) as f64);
    metrics::gauge!("govstream_state_bytes").set(p.engine_bytes.load(Relaxed) as f64);
    metrics::counter!("govstream_rebalances_total", "kind" => "assign")
        .absolute(p.rebalances_assign.load(Relaxed));
    metrics::counter!("govstream_rebalances_total", "kind" => "revoke")
        .absolute(p.rebalances_revoke.load(Relaxed));
    metrics::counter!("govstream_offset_commits_total", "outcome" => "ok")
        .absolute(p.commits_ok.load(Relaxed));
    metrics::counter!("govstream_offset_commits_total", "outcome" => "failed")
        .absolute(p.commits_failed.load(Relaxed));
    metrics::counter!("govstream_calendar_fallback_lookups_total")
        .absolute(p.calendar_fallbacks.load(Relaxed));
    metrics::counter!("govstream_engine_records_total").absolute(p.engine_records.load(Relaxed));
    metrics::counter!("govstream_checkpoints_written_total")
        .absolute(p.checkpoints_written.load(Relaxed));
    metrics::counter!("govstream_checkpoint_bytes_total")
        .absolute(p.checkpoint_bytes.load(Relaxed));
    metrics::gauge!("govstream_checkpoint_last_timestamp_seconds")
        .set(p.checkpoint_last_ms.load(Relaxed) as f64 / 1e3);
    metrics::gauge!("govstream_checkpoint_last_duration_seconds")
        .set(p.checkpoint_last_us.load(Relaxed) as f64 / 1e6);
    let restores = p
        .checkpoint_restores
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for o in crate::checkpoint::RestoreOutcome::ALL {
        metrics::counter!("govstream_checkpoint_restores_total", "outcome" => o.code())
            .absolute(restores.get(o.code()).copied().unwrap_or(0));
    }
    metrics::gauge!("govstream_ready").set(if p.ready() { 1.0 } else { 0.0 });
}

/// Everything `/metrics` returns.
pub fn render(p: &Progress, t: &Timeliness, labels: &LabelSet) -> String {
    publish_progress(p);
    let mut out = handle().map(|h| h.render()).unwrap_or_default();
    if !out.ends_with('\n') && !out.is_empty() {
        out.push('\n');
    }
    render_lag(p, &mut out);
    let s = t.snapshot.lock().unwrap_or_else(|e| e.into_inner()).clone();
    render_timeliness(&s, labels, &mut out);
    out
}
