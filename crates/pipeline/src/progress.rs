//! Live counters shared by the stages: what the terminal summary, `--idle-exit` and the
//! metrics endpoint read. Plain atomics; no locks on the hot path except per-source maps.

use govstream_engine::COUNTERS;
pub use govstream_harness::{Accounts, Outcome, SourceCounts};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
pub struct Progress {
    started: Instant,
    last_activity_ms: AtomicU64,
    /// The accounting of every record, per source (`govstream_harness::accounts`).
    pub sources: Mutex<Accounts>,
    /// Events folded into engines (first copies).
    pub events_applied: AtomicU64,
    pub partials_published: AtomicU64,
    pub aggregates_published: AtomicU64,
    pub engine_cases: AtomicU64,
    pub engine_partitions: AtomicU64,
    pub totals_partitions: AtomicU64,
    /// Latest watermark seen by the totals stage (UTC microseconds), or i64::MIN.
    pub watermark_us: AtomicI64,
    pub rebalances_assign: AtomicU64,
    pub rebalances_revoke: AtomicU64,
    pub calendar_fallbacks: AtomicU64,
    /// Counter totals over all windows per family, from the totals stage (applications,
    /// hotline; metrics.md order), summed over this instance's totals partitions.
    pub family_totals: Mutex<[[i64; COUNTERS]; 2]>,
    /// Family `item` at the end of the watermark's day, over every key (only the instance
    /// owning totals partition 0 has it).
    pub items: Mutex<[i64; COUNTERS]>,
    /// Consumer lag of every partition this instance owns, from librdkafka statistics.
    pub lag: Mutex<BTreeMap<(String, i32), i64>>,
    /// Approximate bytes of engine state.
    pub engine_bytes: AtomicU64,
    pub commits_ok: AtomicU64,
    pub commits_failed: AtomicU64,
    /// Stages that have joined their group and restored their state (bit per stage).
    pub stages_ready: AtomicU64,
    /// Why the brokers cannot be used right now (unreachable, authentication failed, ...),
    /// as librdkafka reported it; `None` once a broker answered again.
    pub broker_problem: Mutex<Option<String>>,
    /// Normalized records the engine stage consumed (re-reads after an assignment included).
    pub engine_records: AtomicU64,
    pub checkpoints_written: AtomicU64,
    pub checkpoint_bytes: AtomicU64,
    /// Wall-clock time of the last checkpoint written (ms since the epoch; 0: none).
    pub checkpoint_last_ms: AtomicU64,
    /// How long the last checkpoint took to write, microseconds.
    pub checkpoint_last_us: AtomicU64,
    /// Engine partition assignments by what the checkpoint topic gave (outcome code → count).
    pub checkpoint_restores: Mutex<BTreeMap<&'static str, u64>>,
    /// Stages in the middle of a flush (publishing, computing updates): not idle.
    busy: AtomicU64,
}

/// Marks a stage busy while it lives (a flush runs every few hundred milliseconds even without
/// work, so the end of one is not activity: publishing is).
pub struct Busy<'a>(&'a Progress);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Relaxed);
    }
}

impl Default for Progress {
    fn default() -> Progress {
        Progress {
            started: Instant::now(),
            last_activity_ms: AtomicU64::new(0),
            sources: Mutex::new(Accounts::default()),
            events_applied: AtomicU64::new(0),
            partials_published: AtomicU64::new(0),
            aggregates_published: AtomicU64::new(0),
            engine_cases: AtomicU64::new(0),
            engine_partitions: AtomicU64::new(0),
            totals_partitions: AtomicU64::new(0),
            watermark_us: AtomicI64::new(i64::MIN),
            rebalances_assign: AtomicU64::new(0),
            rebalances_revoke: AtomicU64::new(0),
            engine_records: AtomicU64::new(0),
            checkpoints_written: AtomicU64::new(0),
            checkpoint_bytes: AtomicU64::new(0),
            checkpoint_last_ms: AtomicU64::new(0),
            checkpoint_last_us: AtomicU64::new(0),
            checkpoint_restores: Mutex::new(BTreeMap::new()),
            calendar_fallbacks: AtomicU64::new(0),
            family_totals: Mutex::new([[0; COUNTERS]; 2]),
            items: Mutex::new([0; COUNTERS]),
            lag: Mutex::new(BTreeMap::new()),
            engine_bytes: AtomicU64::new(0),
            commits_ok: AtomicU64::new(0),
            commits_failed: AtomicU64::new(0),
            stages_ready: AtomicU64::new(0),
            broker_problem: Mutex::new(None),
            busy: AtomicU64::new(0),
        }
    }
}

impl Progress {
    /// Counts an engine partition assignment by the outcome code of its checkpoint restore
    /// (`RestoreOutcome::code`).
    pub fn checkpoint_restored(&self, outcome: &'static str) {
        *self
            .checkpoint_restores
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(outcome)
            .or_default() += 1;
    }

    pub fn checkpoint_written(&self, bytes: u64, at_ms: u64, took: std::time::Duration) {
        self.checkpoint_last_us
            .store(took.as_micros() as u64, Relaxed);
        self.checkpoints_written.fetch_add(1, Relaxed);
        self.checkpoint_bytes.fetch_add(bytes, Relaxed);
        self.checkpoint_last_ms.store(at_ms, Relaxed);
    }

    /// Something was consumed or published.
    pub fn touch(&self) {
        self.last_activity_ms
            .store(self.started.elapsed().as_millis().max(1) as u64, Relaxed);
    }

    /// Marks a stage busy until the guard is dropped (a flush can compute for seconds without
    /// consuming or publishing anything).
    pub fn busy(&self) -> Busy<'_> {
        self.busy.fetch_add(1, Relaxed);
        Busy(self)
    }

    /// No stage is busy and no owned partition reports consumer lag: with `idle_ms`, what
    /// `--idle-exit` needs before it stops the run.
    pub fn quiet(&self) -> bool {
        self.busy.load(Relaxed) == 0
            && self
                .lag
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .all(|l| *l <= 0)
    }

    /// Whether anything was consumed or published yet.
    pub fn active(&self) -> bool {
        self.last_activity_ms.load(Relaxed) > 0
    }

    /// Milliseconds since the last activity (or since the start).
    pub fn idle_ms(&self) -> u64 {
        (self.started.elapsed().as_millis() as u64)
            .saturating_sub(self.last_activity_ms.load(Relaxed))
    }

    pub fn with_source<R>(&self, name: &str, f: impl FnOnce(&mut SourceCounts) -> R) -> R {
        let mut a = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        f(a.source(name))
    }

    /// The accounting so far.
    pub fn accounts(&self) -> Accounts {
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn snapshot_sources(&self) -> BTreeMap<String, SourceCounts> {
        self.accounts().sources
    }

    /// Marks a stage (0 normalize, 1 engine, 2 totals) as ready.
    pub fn stage_ready(&self, stage: u32) {
        self.stages_ready.fetch_or(1 << stage, Relaxed);
    }

    /// Ready once every stage has joined its group and caught up once.
    pub fn ready(&self) -> bool {
        self.stages_ready.load(Relaxed) == 0b111
    }

    /// `Ok` when ready; else what `/readyz` and the log say is missing.
    pub fn readiness(&self) -> Result<(), String> {
        if let Some(p) = self.broker_problem() {
            return Err(format!("kafka: {p}"));
        }
        if self.ready() {
            Ok(())
        } else {
            Err("joining consumer groups and restoring state".into())
        }
    }

    /// The current broker problem, if any.
    pub fn broker_problem(&self) -> Option<String> {
        self.broker_problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records (or, with `None`, clears) a broker problem; returns whether it changed.
    pub fn set_broker_problem(&self, problem: Option<String>) -> bool {
        let mut g = self
            .broker_problem
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let changed = *g != problem;
        *g = problem;
        changed
    }

    pub fn watermark(&self) -> Option<i64> {
        Some(self.watermark_us.load(Relaxed)).filter(|w| *w != i64::MIN)
    }
}
