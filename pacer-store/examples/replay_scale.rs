//! Replay at scale (BENCHMARKS.md, issue 2): N synthetic job events (6 per job, 3 projects × 2
//! pools, 40 repos, 80 days) written into a RocksDB log, then each step measured in its own
//! process so that its peak RSS (`VmHWM`) is its own:
//!
//! 1. `write`    — the log, in batches of 10,000 records (not a measured goal);
//! 2. `replay`   — fold every record from seq 0 (`fold_tail` on an empty `State`, the path a
//!    start without a usable snapshot takes): time, records/s, peak RSS, retained jobs;
//! 3. `snapshot` — replay again, then `save_state`: snapshot size and write time;
//! 4. `start`    — `load_state` as `pacer serve` starts: the snapshot, then a tail of 0.
//!
//! The page cache is warm (the log was just written); nothing drops caches, since the machine
//! is shared. Goals: 10 M events replayed in < 10 s; start from a snapshot in < 1 s.
//! With `PACER_SYNTHETIC_RECENT=1` the jobs span the 20 days up to now instead, so a `pacer
//! serve` started on the log keeps all of them under its default 30-day retention (the
//! `durable` step of scripts/bench.sh snapshots that state while it takes webhooks).
//! Run: `bash scripts/bench.sh store`, or after `cargo build --release --workspace --locked --bins
//! --examples`: `$CARGO_TARGET_DIR/release/examples/replay_scale 10000000 [DIR]` (an existing DIR
//! with a log is reused; without DIR a temporary directory is used).

use pacer_domain::{Actor, State};
use pacer_store::{Batch, EventLog, NewRecord, RocksLog, fold_tail, load_state, save_state};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The allocator of the `pacer` binary, so the numbers are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "synthetic/mod.rs"]
mod synthetic;

/// A field of `/proc/self/status` in KiB (`VmHWM:`, `VmRSS:`).
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

fn peak_mib() -> u64 {
    status_kib("VmHWM:") / 1024
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn write(dir: &Path, events: u64) {
    let log = RocksLog::open(dir).expect("open the log");
    if log.last_seq() > 0 {
        println!("write: reusing the log in {} ({} records)", dir.display(), log.last_seq());
        return;
    }
    let started = Instant::now();
    let mut pending = Vec::with_capacity(10_000);
    let jobs = events / 6;
    let lifecycles: Box<dyn Iterator<Item = _>> = if std::env::var_os("PACER_SYNTHETIC_RECENT").is_some() {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("a clock after 1970");
        let days = 20;
        let start = pacer_domain::Timestamp(now.as_millis() as i64 - days * 86_400_000);
        Box::new(synthetic::job_events_within(jobs, start, days))
    } else {
        Box::new(synthetic::job_events(jobs))
    };
    for (at, event) in lifecycles {
        pending.push(NewRecord { at, actor: Actor::System, request_id: None, event });
        if pending.len() == 10_000 {
            let records = std::mem::take(&mut pending);
            log.append(Batch { records, ..Batch::default() }).expect("append");
        }
    }
    log.append(Batch { records: pending, ..Batch::default() }).expect("append");
    println!(
        "write: {} records in {:.1} s; log on disk {} MiB",
        log.last_seq(),
        started.elapsed().as_secs_f64(),
        dir_bytes(dir) >> 20
    );
}

fn replay(dir: &Path) -> State {
    let log = RocksLog::open(dir).expect("open the log");
    let rss_before = status_kib("VmRSS:");
    let started = Instant::now();
    let mut state = State::default();
    let folded = fold_tail(&log, &mut state).expect("replay");
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "replay: {folded} records from seq 0 in {elapsed:.2} s = {:.2} M records/s; peak RSS {} MiB \
         (RSS {} → {} MiB); {} retained jobs, {} anomalies",
        folded as f64 / elapsed / 1e6,
        peak_mib(),
        rss_before / 1024,
        status_kib("VmRSS:") / 1024,
        state.jobs.len(),
        state.anomaly_count
    );
    assert_eq!(state.anomaly_count, 0, "the synthetic log folds cleanly");
    state
}

fn snapshot(dir: &Path) {
    let state = replay(dir);
    let log = RocksLog::open(dir).expect("open the log");
    let started = Instant::now();
    save_state(&log, &state).expect("write the snapshot");
    let elapsed = started.elapsed().as_secs_f64();
    let size = log.load_snapshot().expect("read the snapshot").map_or(0, |(_, bytes)| bytes.len());
    println!(
        "snapshot: {:.1} MiB ({:.0} bytes per retained job) written in {elapsed:.2} s",
        size as f64 / (1 << 20) as f64,
        size as f64 / state.jobs.len().max(1) as f64
    );
}

fn start(dir: &Path) {
    let started = Instant::now();
    let log = RocksLog::open(dir).expect("open the log");
    let opened = started.elapsed().as_secs_f64();
    let (state, report) = load_state(&log).expect("start from the snapshot");
    println!(
        "start: {:.3} s (open {opened:.3} s + load_state {:.3} s; snapshot at seq {}, {} records folded \
         after it); peak RSS {} MiB; {} retained jobs",
        started.elapsed().as_secs_f64(),
        report.elapsed.as_secs_f64(),
        report.snapshot_seq,
        report.replayed,
        peak_mib(),
        state.jobs.len()
    );
    assert_eq!(report.snapshot_seq, log.last_seq(), "the start used the snapshot");
}

/// Runs `step` on `dir` in a child process of this same example.
fn child(step: &str, dir: &Path) {
    let exe = std::env::current_exe().expect("this example's path");
    let status = Command::new(exe).arg(step).arg(dir).status().expect("run a step");
    assert!(status.success(), "step {step} failed: {status}");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("write") => write(Path::new(&args[2]), args[1].parse().expect("an event count")),
        Some("replay") => drop(replay(Path::new(&args[1]))),
        Some("snapshot") => snapshot(Path::new(&args[1])),
        Some("start") => start(Path::new(&args[1])),
        // `cargo bench`/`cargo test` never run examples; anything else is the event count.
        count => {
            let events: u64 = count.and_then(|c| c.parse().ok()).unwrap_or(1_000_000);
            let temp = tempfile::tempdir().expect("tempdir");
            let dir = args.get(1).map(PathBuf::from).unwrap_or_else(|| temp.path().to_path_buf());
            let exe = std::env::current_exe().expect("this example's path");
            let status = Command::new(exe)
                .args(["write", &events.to_string()])
                .arg(&dir)
                .status()
                .expect("run the write step");
            assert!(status.success(), "write failed: {status}");
            child("replay", &dir);
            child("snapshot", &dir);
            child("start", &dir);
        }
    }
}
