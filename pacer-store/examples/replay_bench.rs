//! Replay benchmark (BENCHMARKS.md): writes N synthetic job events into a RocksDB log, then
//! measures replay from seq 0 (time, peak RSS), snapshot size and start from snapshot, and
//! memory per retained job.
//! Run: `cargo run --release -p pacer-store --example replay_bench -- 10000000 [DIR]`.

use pacer_domain::{Actor, State};
use pacer_store::{Batch, EventLog, NewRecord, RocksLog, load_state, save_state};
use std::time::Instant;

mod synthetic;

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let events: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let keep = args.next();
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = keep.as_deref().map(std::path::PathBuf::from).unwrap_or_else(|| temp.path().to_path_buf());
    let jobs = events / 6;
    {
        let log = RocksLog::open(&dir).expect("open");
        if log.last_seq() == 0 {
            let started = Instant::now();
            let mut pending = Vec::with_capacity(10_000);
            for (at, event) in synthetic::job_events(jobs) {
                pending.push(NewRecord { at, actor: Actor::System, request_id: None, event });
                if pending.len() == 10_000 {
                    log.append(Batch { records: std::mem::take(&mut pending), ..Batch::default() })
                        .expect("append");
                }
            }
            log.append(Batch { records: pending, ..Batch::default() }).expect("append");
            println!("wrote {} records in {:.1} s", log.last_seq(), started.elapsed().as_secs_f64());
        }
    }
    let rss_before = status_kib("VmRSS:");
    let log = RocksLog::open(&dir).expect("open");
    let started = Instant::now();
    let (state, _) = load_state(&log).expect("replay");
    let replay = started.elapsed();
    let rss_after = status_kib("VmRSS:");
    println!(
        "replay: {} records in {:.2} s = {:.0} records/s; peak RSS {} MiB",
        state.last_seq,
        replay.as_secs_f64(),
        state.last_seq as f64 / replay.as_secs_f64(),
        status_kib("VmHWM:") / 1024
    );
    println!(
        "memory: {} retained jobs, {} live instances; RSS grew {} MiB = {:.0} bytes per retained job",
        state.jobs.len(),
        state.instances.len(),
        (rss_after.saturating_sub(rss_before)) / 1024,
        (rss_after.saturating_sub(rss_before) * 1024) as f64 / state.jobs.len().max(1) as f64
    );
    let started = Instant::now();
    save_state(&log, &state).expect("snapshot");
    let size = log.load_snapshot().expect("load").map_or(0, |(_, b)| b.len());
    println!("snapshot: {} MiB written in {:.2} s", size / (1 << 20), started.elapsed().as_secs_f64());
    drop(state);
    let started = Instant::now();
    let (resumed, report) = load_state(&log).expect("start from snapshot");
    println!(
        "start from snapshot: {:.3} s (snapshot at {}, {} records folded after it)",
        started.elapsed().as_secs_f64(),
        report.snapshot_seq,
        report.replayed
    );
    assert_eq!(resumed.last_seq, log.last_seq());
    let _ = State::default();
}
