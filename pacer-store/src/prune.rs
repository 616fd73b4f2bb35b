//! Pruning: deleting the log's records older than a cutoff, only below a verified snapshot that
//! covers them, so a start (and `pacer replay`) begins from that snapshot instead of seq 1.
//!
//! [`prune`] reads the newest snapshot whole and checks it against the log (it decodes, its
//! seq and anchor match the record there), picks the last record older than the cutoff and
//! below that snapshot, checks the chain of the records it will delete, optionally archives
//! them first (gzip JSON lines in [`crate::export_chain`]'s format, so an outsider can check
//! their hashes, fsynced before anything is deleted), and then has the log truncate itself
//! ([`EventLog::truncate`]), which keeps that snapshot as its base. The caller records the
//! prune (`audit.pruned`) after; a crash before that leaves a base the state does not know
//! yet, which the next prune run finds and records.

use crate::chain::{export_chain, link_at, verify_chain_through};
use crate::codec::read_snapshot;
use crate::error::StoreError;
use crate::log::{AuditQuery, EventLog, LogBase};
use crate::replay::check;
use flate2::Compression;
use flate2::write::GzEncoder;
use pacer_domain::Timestamp;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a prune deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pruned {
    /// The first deleted record.
    pub first_seq: u64,
    /// The last deleted record (the log now begins after it).
    pub last_seq: u64,
    /// The time of the last deleted record.
    pub through: Timestamp,
    /// The archive the records were written to first, if asked for.
    pub archive: Option<PathBuf>,
}

/// Deletes the records recorded before `before` that the newest snapshot covers, archiving them
/// to a new file in `archive_dir` first when given. `None` when there is nothing to delete
/// (every such record is pruned already, or the newest snapshot covers none of them). Refused
/// when the log is poisoned, when the newest snapshot does not check out against the log, and
/// when the chain of the records to delete is broken (pruning would erase the evidence).
pub fn prune(
    log: &dyn EventLog,
    before: Timestamp,
    archive_dir: Option<&Path>,
) -> Result<Option<Pruned>, StoreError> {
    if let Some(reason) = log.poisoned() {
        return Err(StoreError::Poisoned(reason));
    }
    let base = log.base();
    let Some((snapshot_seq, reader)) = log.open_snapshot()? else {
        return Err(StoreError::Snapshot("no snapshot yet; a prune needs one covering the records".into()));
    };
    check(log, snapshot_seq, read_snapshot(reader)).map_err(|why| {
        StoreError::Snapshot(format!("the snapshot at seq {snapshot_seq} {why}; not pruning"))
    })?;
    let older = log.audit(&AuditQuery { to: Some(before), limit: 1, ..AuditQuery::default() })?;
    let Some(last_older) = older.first().map(|r| r.seq) else { return Ok(None) };
    // The snapshot's own record stays: its anchor is checked against it at every start.
    let last_seq = last_older.min(snapshot_seq.saturating_sub(1));
    if last_seq <= base.link.seq {
        return Ok(None);
    }
    let first_seq = base.link.seq + 1;
    let report = verify_chain_through(log, base.link, last_seq)?;
    if let Some(broken) = report.broken {
        return Err(StoreError::Corrupt {
            seq: broken.seq,
            reason: format!("{}; the chain of the records to prune is broken, not pruning", broken.reason),
        });
    }
    let through = log
        .read(last_seq, 1)?
        .into_iter()
        .next()
        .filter(|r| r.seq == last_seq)
        .ok_or_else(|| StoreError::Corrupt { seq: last_seq, reason: "missing from the log".into() })?
        .at;
    let archive = match archive_dir {
        Some(dir) => Some(archive(log, dir, first_seq, last_seq)?),
        None => None,
    };
    log.truncate(LogBase { link: link_at(log, last_seq)?, at: through, snapshot_seq })?;
    tracing::info!(first_seq, last_seq, through = %through, archive = ?archive, "log pruned");
    Ok(Some(Pruned { first_seq, last_seq, through, archive }))
}

/// Writes records `first_seq..=last_seq` to `pacer-log-<first>-<last>.jsonl.gz` in `dir`
/// (through a temporary file, fsynced with the directory), answering its path.
fn archive(log: &dyn EventLog, dir: &Path, first_seq: u64, last_seq: u64) -> Result<PathBuf, StoreError> {
    let err = |what: &str, e: std::io::Error| {
        StoreError::Write(format!("archive in {}: {what}: {e}", dir.display()))
    };
    fs::create_dir_all(dir).map_err(|e| err("create the directory", e))?;
    let path = dir.join(format!("pacer-log-{first_seq:020}-{last_seq:020}.jsonl.gz"));
    let tmp = path.with_extension("gz.tmp");
    let file = fs::File::create(&tmp).map_err(|e| err("create", e))?;
    let mut gzip = GzEncoder::new(std::io::BufWriter::new(file), Compression::default());
    let mut failed = None;
    let written = export_chain(log, first_seq, last_seq, &mut |line| match gzip.write_all(line) {
        Ok(()) => true,
        Err(e) => {
            failed = Some(e);
            false
        }
    })?;
    if let Some(e) = failed {
        return Err(err("write", e));
    }
    if written != last_seq - first_seq + 1 {
        return Err(StoreError::Corrupt {
            seq: first_seq + written,
            reason: format!("archived {written} of {} records", last_seq - first_seq + 1),
        });
    }
    let file = gzip
        .finish()
        .and_then(|buffered| buffered.into_inner().map_err(std::io::IntoInnerError::into_error))
        .map_err(|e| err("finish", e))?;
    file.sync_all().map_err(|e| err("fsync", e))?;
    fs::rename(&tmp, &path).map_err(|e| err("rename", e))?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| err("fsync the directory", e))?;
    Ok(path)
}
