//! Criterion benchmarks of the event log and the fold: durable appends with 1 and 64
//! concurrent appenders (group commit), folding throughput, and snapshot encode/decode.
//! Run: `cargo bench -p pacer-store --bench log`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pacer_domain::{Actor, Event, HealthChanged, State, Timestamp};
use pacer_store::{Batch, EventLog, RocksLog, decode_snapshot, encode_snapshot};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../examples/synthetic/mod.rs"]
mod synthetic;

fn event(i: u64) -> Event {
    Event::HealthChanged(HealthChanged {
        component: format!("bench-{}", i % 8),
        ok: i.is_multiple_of(2),
        message: String::new(),
    })
}

fn durable_appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_append");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    for appenders in [1usize, 64] {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Arc::new(RocksLog::open(dir.path()).expect("open"));
        let per_appender = if appenders == 1 { 200 } else { 100 };
        group.throughput(Throughput::Elements((appenders * per_appender) as u64));
        group.bench_with_input(BenchmarkId::from_parameter(appenders), &appenders, |b, &n| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let start = Instant::now();
                    std::thread::scope(|scope| {
                        for t in 0..n {
                            let log = log.clone();
                            scope.spawn(move || {
                                for i in 0..per_appender {
                                    let batch = Batch::of(
                                        Timestamp(0),
                                        Actor::GitHub,
                                        [event((t * per_appender + i) as u64)],
                                    );
                                    log.append(batch).expect("append");
                                }
                            });
                        }
                    });
                    total += start.elapsed();
                }
                total
            });
        });
    }
    group.finish();
}

fn fold(c: &mut Criterion) {
    let records = synthetic::job_lifecycles(20_000);
    let mut group = c.benchmark_group("fold");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("job_lifecycles", |b| b.iter(|| State::fold(&records)));
    group.finish();
}

fn snapshots(c: &mut Criterion) {
    let state = State::fold(&synthetic::job_lifecycles(20_000));
    let bytes = encode_snapshot(&state, 0).expect("encode");
    let mut group = c.benchmark_group("snapshot");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| b.iter(|| encode_snapshot(&state, 0).expect("encode")));
    group.bench_function("decode", |b| b.iter(|| decode_snapshot(&bytes).expect("decode")));
    group.finish();
}

criterion_group!(benches, durable_appends, fold, snapshots);
criterion_main!(benches);
