//! `pacer replay`: rebuild every projection from seq 0, compare with the newest snapshot, and
//! report counts, time and anomalies.

use anyhow::Context;
use pacer_domain::{JobStatus, State};
use pacer_store::{EventLog, RocksLog, verify};
use std::io::Write;
use std::path::Path;

/// Replays the log in `data`, writing a report to `out`. `Ok(false)` when the snapshot does
/// not match the rebuilt state or the fold recorded anomalies.
pub(crate) fn run(data: &Path, out: &mut dyn Write) -> anyhow::Result<bool> {
    anyhow::ensure!(
        data.join("db").exists(),
        "no pacer data in {} (expected {}/db)",
        data.display(),
        data.display()
    );
    let log = RocksLog::open(data).with_context(|| format!("opening {}", data.display()))?;
    let report = verify(&log).context("replaying the log")?;
    let state = &report.rebuilt;
    let seconds = report.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 { state.last_seq as f64 / seconds } else { 0.0 };
    writeln!(out, "records     {}", log.last_seq())?;
    writeln!(out, "replayed in {seconds:.3} s ({rate:.0} records/s)")?;
    write_counts(state, out)?;
    let mut ok = true;
    match (report.snapshot_seq, report.matches_snapshot, &report.snapshot_rejected) {
        (Some(seq), Some(true), _) => writeln!(out, "snapshot    at seq {seq}: matches the rebuilt state")?,
        (Some(seq), _, _) => {
            ok = false;
            writeln!(out, "snapshot    at seq {seq}: DIFFERS from the rebuilt state")?;
        }
        (None, _, Some(why)) => writeln!(out, "snapshot    unusable ({why}); the next start rebuilds it")?,
        (None, _, None) => writeln!(out, "snapshot    none yet")?,
    }
    writeln!(out, "anomalies   {}", state.anomaly_count)?;
    for anomaly in &state.anomalies {
        writeln!(out, "  seq {}: {}", anomaly.seq, anomaly.message)?;
    }
    Ok(ok && state.anomaly_count == 0)
}

fn write_counts(state: &State, out: &mut dyn Write) -> std::io::Result<()> {
    let config = &state.config;
    writeln!(
        out,
        "config      {} projects, {} pools, {} repos",
        config.projects.len(),
        config.pools.len(),
        config.repos.len()
    )?;
    let by_status: Vec<String> =
        JobStatus::ALL.iter().map(|s| format!("{} {}", state.jobs.count(*s), s.as_str())).collect();
    writeln!(out, "jobs        {} retained: {}", state.jobs.len(), by_status.join(", "))?;
    writeln!(out, "instances   {} live", state.instances.len())?;
    writeln!(out, "users       {}", state.users.len())?;
    Ok(())
}
