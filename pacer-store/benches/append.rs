//! Durable appends shaped like webhook ingestion (BENCHMARKS.md, issue 2): each append is one
//! `job.queued` record (a real payload of about 600 bytes) with the two idempotency keys a
//! webhook writes (`delivery:<id>` and `ghjob:<id>`), preceded by the `has_key` check the
//! webhook handler makes, from 1, 64 and 256 concurrent appenders on RocksDB with fsync (group
//! commit). `log.rs` measures the same with small unkeyed records; this is the shape the
//! server writes. Goal: ≥ 20,000 events/s at 64 appenders.
//! Run: `cargo bench --workspace --locked --bench append`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pacer_domain::{Actor, Event, JobId, JobQueued, PoolId, ProjectId, Timestamp};
use pacer_store::{Batch, EventLog, NewRecord, RocksLog};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn queued(n: u64) -> Event {
    let repo = n % 40;
    Event::JobQueued(JobQueued {
        job: JobId(n),
        delivery_id: format!("{n:08x}-5e2f-11f0-9b1a-0242ac120002"),
        github_job_id: 20_000_000_000 + n,
        run_id: 9_000_000_000 + n / 3,
        run_attempt: 1,
        installation_id: Some(4242),
        repo: format!("acme/repo-{repo}"),
        workflow: "CI".into(),
        job_name: format!("test ({})", n % 5),
        branch: "main".into(),
        sha: "d6fde92930d4715a2b49857d24b940956b26d2d3".into(),
        sender: format!("dev-{}", n % 200),
        labels: vec!["self-hosted".into(), "linux".into()],
        html_url: format!("https://github.com/acme/repo-{repo}/actions/runs/{n}/job/{n}"),
        project: ProjectId(1),
        pool: PoolId(1),
        recovered: false,
    })
}

/// One webhook's write: dedupe check, then the record and its keys in one durable append.
fn ingest(log: &RocksLog, n: u64) {
    let delivery = format!("delivery:{n:08x}-5e2f-11f0-9b1a-0242ac120002");
    assert!(!log.has_key(&delivery).expect("has_key"), "a fresh delivery");
    let record = NewRecord { at: Timestamp(0), actor: Actor::GitHub, request_id: None, event: queued(n) };
    let batch = Batch {
        records: vec![record],
        keys: vec![delivery, format!("ghjob:{}", 20_000_000_000 + n)],
        ..Batch::default()
    };
    log.append(batch).expect("append");
}

fn keyed_appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("webhook_append");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    for appenders in [1u64, 64, 256] {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Arc::new(RocksLog::open(dir.path()).expect("open"));
        let next = Arc::new(AtomicU64::new(1));
        let per_appender = if appenders == 1 { 200 } else { 50 };
        group.throughput(Throughput::Elements(appenders * per_appender));
        group.bench_with_input(BenchmarkId::from_parameter(appenders), &appenders, |b, &n| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let start = Instant::now();
                    std::thread::scope(|scope| {
                        for _ in 0..n {
                            let (log, next) = (log.clone(), next.clone());
                            scope.spawn(move || {
                                for _ in 0..per_appender {
                                    ingest(&log, next.fetch_add(1, Ordering::Relaxed));
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

criterion_group!(benches, keyed_appends);
criterion_main!(benches);
