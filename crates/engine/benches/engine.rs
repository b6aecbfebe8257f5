//! Engine throughput on a generated workload (events already normalized), and
//! normalize + engine together.
//!
//! `cargo bench -p govstream-engine --bench engine`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use govstream_calendar::Calendar;
use govstream_engine::Engine;
use govstream_generate::{GenConfig, Generator};
use govstream_normalize::{preset, CompiledSource, PseudonymKey};
use std::hint::black_box;
use std::sync::Arc;

fn workload(n: u64) -> (Vec<CompiledSource>, Vec<(usize, Vec<u8>)>) {
    let key = Arc::new(PseudonymKey::new("bench-key"));
    let srcs: Vec<CompiledSource> = ["hotline", "onenet", "bdc"]
        .iter()
        .map(|n| preset(n, key.clone()).unwrap().unwrap())
        .collect();
    let raw = Generator::new(GenConfig {
        records: n,
        seed: 42,
        ..GenConfig::default()
    })
    .map(|r| {
        let i = srcs
            .iter()
            .position(|s| s.name() == r.source.name())
            .unwrap();
        (i, r.bytes)
    })
    .collect();
    (srcs, raw)
}

fn bench(c: &mut Criterion) {
    let cal = Arc::new(Calendar::bundled());
    let (srcs, raw) = workload(200_000);
    let events: Vec<_> = raw
        .iter()
        .filter_map(|(i, b)| srcs[*i].normalize(b).ok())
        .collect();
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("apply_200k_events", |b| {
        b.iter_batched(
            || Engine::new(cal.clone()),
            |mut e| {
                for ev in &events {
                    black_box(e.apply(ev));
                }
                e
            },
            BatchSize::PerIteration,
        )
    });
    g.throughput(Throughput::Elements(raw.len() as u64));
    g.bench_function("normalize_and_apply_200k_records", |b| {
        b.iter_batched(
            || Engine::new(cal.clone()),
            |mut e| {
                for (i, bytes) in &raw {
                    if let Ok(ev) = srcs[*i].normalize(bytes) {
                        black_box(e.apply(&ev));
                    }
                }
                e
            },
            BatchSize::PerIteration,
        )
    });
    let mut e = Engine::new(cal.clone());
    for ev in &events {
        e.apply(ev);
    }
    g.throughput(Throughput::Elements(1));
    g.bench_function("final_records", |b| b.iter(|| black_box(e.records())));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
