//! `pacer demo` runs on its own: simulated EC2 and GitHub, real HTTP to its own endpoints, and
//! within a little over a minute jobs reach every status, take hot instances and have stopped
//! ones started for them.

use crate::support::pacer::read_log;
use pacer_domain::Event;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_demo_reaches_every_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_pacer"))
        .args(["demo", "--addr", "127.0.0.1:0", "--duration", "90", "--job-interval", "1.0", "--data"])
        .arg(&data)
        .stdin(Stdio::null())
        .output()
        .expect("run pacer demo");
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "demo failed:\n{logs}");
    assert!(started.elapsed() < Duration::from_secs(135), "the demo stops when asked");
    assert!(logs.contains("pacer: listening on http://127.0.0.1:"), "{logs}");
    assert!(logs.contains("pacer demo: jobs:"), "prints a live summary");
    let records = read_log(&data);
    let reached: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::JobQueued(_) => Some("queued"),
            Event::JobClaimed(_) => Some("claimed"),
            Event::JobSpawnLaunched(_) => Some("starting"),
            Event::JobStarted(_) => Some("running"),
            Event::JobCompleted(_) => Some("completed"),
            Event::JobFailed(_) => Some("failed"),
            Event::JobCancelled(_) => Some("cancelled"),
            Event::JobReaped(_) => Some("reaped"),
            _ => None,
        })
        .collect();
    let every: BTreeSet<&str> =
        ["queued", "claimed", "starting", "running", "completed", "failed", "cancelled", "reaped"].into();
    assert_eq!(reached, every, "statuses reached; log tail:\n{logs}");
    let config = pacer_domain::State::fold(&records).config;
    assert_eq!((config.projects.len(), config.pools.len(), config.repos.len()), (3, 5, 4));
    assert!(config.pools.values().all(|p| p.template.is_some()), "every pool has its launch template");
    // Warm capacity: jobs take hot instances, and stopped ones started for them.
    let hot: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::WarmLaunched(l) if !l.stopped => Some(l.instance.instance_id.as_str()),
            _ => None,
        })
        .collect();
    let took_hot =
        records.iter().any(|r| matches!(&r.event, Event::WarmTaken(t) if hot.contains(t.instance.as_str())));
    let started = records.iter().any(|r| matches!(r.event, Event::WarmStarted(_)));
    assert!(
        took_hot && started,
        "a hot instance taken ({took_hot}), a stopped one started ({started}):\n{logs}"
    );
}
