//! Bytes of memory per retained job (BENCHMARKS.md, issue 2; goal ≤ 1 KiB): folds synthetic job
//! lifecycles one record at a time (the records are generated on the fly and dropped, so only
//! the `State` grows) and reads the process's resident set from `/proc/self/statm` before,
//! after `JOBS` jobs and after `2 × JOBS` jobs. Everything the projections hold counts: the job
//! rows, their seven indexes, interned strings, stats roll-ups and allocator slack.
//!
//! Its own bench target so it runs in a fresh process (Linux only).
//! Run: `cargo bench --workspace --locked --bench memory [-- JOBS]` (default 500000).

use pacer_domain::{Actor, Event, Recorded, State};

#[path = "../../pacer-store/examples/synthetic/mod.rs"]
mod synthetic;

/// Resident bytes of this process.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm (Linux)");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).expect("resident pages");
    pages * 4096
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let default = if bench { 500_000 } else { 2_000 };
    let jobs: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(default);
    let before = rss_bytes();
    let mut state = State::default();
    let mut at_half = None;
    for (i, (at, event)) in synthetic::job_events(2 * jobs).enumerate() {
        let last_of_job = matches!(event, Event::InstanceTerminated(_));
        let record = Recorded { seq: i as u64 + 1, at, actor: Actor::System, request_id: None, event };
        state.evolve(&record);
        if last_of_job && at_half.is_none() && state.jobs.len() as u64 == jobs {
            at_half = Some(rss_bytes());
        }
    }
    let after = rss_bytes();
    let half = at_half.expect("the fold passed the midpoint");
    assert_eq!(state.jobs.len() as u64, 2 * jobs, "every synthetic job is retained (80 days < 90)");
    let kib = |bytes: u64| bytes as f64 / 1024.0;
    println!(
        "memory/{jobs}_jobs: RSS grew {:.1} MiB = {:.0} bytes per retained job",
        kib(half - before) / 1024.0,
        (half - before) as f64 / jobs as f64
    );
    println!(
        "memory/{}_jobs: RSS grew {:.1} MiB = {:.0} bytes per retained job (the second {jobs}: {:.0} bytes each)",
        2 * jobs,
        kib(after - before) / 1024.0,
        (after - before) as f64 / (2 * jobs) as f64,
        after.saturating_sub(half) as f64 / jobs as f64
    );
    println!(
        "memory: {} retained jobs, {} live instances, {} interned strings, last seq {}",
        state.jobs.len(),
        state.instances.len(),
        state.strings.len(),
        state.last_seq
    );
}
