//! `pacer replay`: rebuild every projection from seq 0 (from the base snapshot once the log is
//! pruned), compare with the newest snapshot, and
//! report counts, time and anomalies; and `pacer migrate`, which copies a RocksDB log into a
//! new DynamoDB one and verifies the copy.

use crate::config::{Config, StorageBackend};
use crate::serve::Storage;
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
    report(&log, out)
}

/// Replays the log of `config`'s storage (RocksDB or DynamoDB), as [`run`] does.
pub(crate) async fn run_configured(config: &Config, out: &mut dyn Write) -> anyhow::Result<bool> {
    let (log, _) = Storage::of(config).open(&config.storage.path, Box::new(|_| {})).await?;
    tokio::task::block_in_place(|| report(&*log, out))
}

/// `pacer migrate --from rocksdb --to dynamodb`: copies the RocksDB log in `storage.path`
/// into the (new, empty) DynamoDB log `storage.dynamodb.*` names, then compares the two.
pub(crate) async fn migrate(config: &Config, out: &mut dyn Write) -> anyhow::Result<()> {
    let data = &config.storage.path;
    anyhow::ensure!(
        config.storage.backend == StorageBackend::DynamoDb,
        "set storage.backend to dynamodb (with storage.dynamodb.table and bucket): the log is copied there"
    );
    anyhow::ensure!(
        data.join("db").exists(),
        "no RocksDB log in {} (expected {}/db)",
        data.display(),
        data.display()
    );
    let from = RocksLog::open(data)
        .with_context(|| format!("opening {} (is pacer running? stop it first)", data.display()))?;
    let (to, _) = Storage::of(config).open(data, Box::new(|_| {})).await?;
    let last = from.last_seq();
    writeln!(
        out,
        "copying {last} records from {} to DynamoDB table {}",
        data.display(),
        config.storage.dynamodb.table
    )?;
    let started = std::time::Instant::now();
    let mut reported = 0;
    let copied = tokio::task::block_in_place(|| {
        pacer_store::copy_log(&from, &*to, &mut |seq| {
            if seq >= reported + 10_000 || seq == last {
                reported = seq;
                eprintln!("  {seq} / {last}");
            }
        })
    })?;
    writeln!(
        out,
        "copied and verified {} records, {} idempotency keys and {} vault entries in {:.1} s",
        copied.records,
        copied.keys,
        copied.vault_entries,
        started.elapsed().as_secs_f64()
    )?;
    // The replicas then start from a snapshot instead of folding the whole copied log.
    let written = tokio::task::block_in_place(|| pacer_store::write_snapshot(&*to))
        .context("writing a snapshot of the copied log")?;
    if let Some(written) = written {
        writeln!(out, "wrote a snapshot at seq {} ({} bytes)", written.seq, written.bytes)?;
    }
    Ok(())
}

/// The replay report of `log`.
fn report(log: &dyn EventLog, out: &mut dyn Write) -> anyhow::Result<bool> {
    let report = verify(log).context("replaying the log")?;
    let state = &report.rebuilt;
    let seconds = report.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 { state.last_seq as f64 / seconds } else { 0.0 };
    writeln!(out, "records     {}", log.last_seq())?;
    if let Some(base) = report.base_seq {
        let pruned = log.base().link.seq;
        writeln!(
            out,
            "base        records 1 to {pruned} pruned; replayed from the base snapshot at seq {base}"
        )?;
    }
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
