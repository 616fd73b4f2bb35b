//! The log on RocksDB. Column families: `log` (big-endian seq → encoded record), `index`
//! (action, subject and per-second time keys pointing at seqs), `keys` (idempotency key → seq),
//! `vault` (the key-value entries beside the log, loaded at open except the cold ones, which are
//! read from here when asked) and `meta` (format; where a pruned log begins). Every append is
//! one `WriteBatch` covering the records and every index
//! and key it touches, written with `sync`, so a crash can never leave an index ahead of the
//! log. Snapshots are files beside the database, written to a temporary name, fsynced and
//! renamed into place. What a restart must replay from RocksDB's write-ahead log is bounded:
//! RocksDB flushes the families holding the oldest WAL file once the WAL passes
//! `MAX_WAL_BYTES`, and `flush` (on a clean shutdown) leaves nothing to replay.
//!
//! Truncating a prefix ([`EventLog::truncate`]) copies the snapshot it is made under to
//! `base-<seq>.snap` (snapshot files are recycled, the base must stay), deletes the index
//! entries and idempotency keys of the records, then writes the new base and deletes the
//! records in one synced write, removes the older snapshots and compacts the freed ranges. A
//! crash in between leaves every record (and at worst some of their index entries gone); the
//! next prune does it again.

use crate::chain::{ChainHash, ChainLink};
use crate::codec::{StoredChunk, decode_record};
use crate::commit::{Committer, End, Sink, Staged, WriteError, WriteObserver, end_of};
use crate::error::StoreError;
use crate::log::{
    AuditQuery, Batch, COLD_PREFIX, EventLog, LogBase, Receipt, SNAPSHOTS_KEPT, SnapshotReader, SnapshotSink,
};
use crate::subscribe::{History, Subscription};
use pacer_domain::{Recorded, Subject, Timestamp};
use rocksdb::{
    BlockBasedOptions, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Direction, IteratorMode,
    Options, ReadOptions, WriteBatch, WriteOptions,
};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};

const CF_LOG: &str = "log";
const CF_INDEX: &str = "index";
const CF_KEYS: &str = "keys";
const CF_META: &str = "meta";
const CF_VAULT: &str = "vault";
const FORMAT_KEY: &[u8] = b"format";
/// Where a pruned log begins ([`LogBase`], see [`encode_base`]); absent until the first prune.
const BASE_KEY: &[u8] = b"base";
/// Records whose index entries are deleted per write while truncating.
const TRUNCATE_CHUNK: usize = 4_096;
const FORMAT: u32 = 1;
/// Written (empty, synced) to prove the disk takes writes again after a failed write.
const PROBE_KEY: &[u8] = b"probe";
/// How much of a snapshot is written (or, when an old one is removed, freed) between two
/// flushes to disk: a group commit's fsync queued behind one slice waits a millisecond or so.
const SNAPSHOT_FLUSH_SLICE: usize = 256 << 10;
/// How long a snapshot rests after each flush, as a multiple of the time the flush took: the
/// snapshot keeps the disk busy at most a tenth of the time.
const SNAPSHOT_REST_FACTOR: u32 = 9;
/// The most write-ahead log RocksDB keeps before flushing the column families that hold its
/// oldest file. Opening the database replays the WAL (about 30 MB/s on the reference machine,
/// see BENCHMARKS.md), so this bounds a start after a crash to about a second; RocksDB's
/// default (four times all memtables, ~2 GiB here) let it grow to a minute's replay, because
/// the small `keys` and `index` families took millions of webhooks to fill a memtable.
const MAX_WAL_BYTES: u64 = 32 << 20;

const ACTION: u8 = b'a';
const SUBJECT: u8 = b's';
const TIME: u8 = b't';

struct RocksSink {
    /// `None` only while [`EventLog::recover`] reopens it.
    db: RwLock<Option<DB>>,
    snapshots: PathBuf,
    last_second: Mutex<Option<i64>>,
    /// Where the log begins.
    base: RwLock<LogBase>,
}

/// Whether this group write fails as an injected fsync failure: the first one holding record
/// `PACER_STORE_FAIL_SYNC_AT_SEQ`, once per process (feature `fault-injection`, test builds only).
#[cfg(feature = "fault-injection")]
fn injected_sync_failure(group: &[Staged<'_>]) -> bool {
    static FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let Some(at) = std::env::var("PACER_STORE_FAIL_SYNC_AT_SEQ").ok().and_then(|s| s.parse::<u64>().ok())
    else {
        return false;
    };
    let first = group.iter().find_map(|s| s.records.first());
    let last = group.iter().rev().find_map(|s| s.records.last());
    let holds = first.is_some_and(|r| r.seq <= at) && last.is_some_and(|r| r.seq >= at);
    holds && !FAILED.swap(true, std::sync::atomic::Ordering::Relaxed)
}

/// The open database, read-locked: reads and writes run beside each other; only a reopen after
/// a failed write waits for them.
struct OpenDb<'a>(RwLockReadGuard<'a, Option<DB>>);

impl Deref for OpenDb<'_> {
    type Target = DB;

    fn deref(&self) -> &DB {
        // `RocksSink::db` builds an `OpenDb` only over `Some`, and holds the lock that keeps it.
        self.0.as_ref().expect("an OpenDb holds an open database")
    }
}

fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily, StoreError> {
    db.cf_handle(name).ok_or_else(|| StoreError::Read(format!("column family {name} missing")))
}

fn read_err(e: rocksdb::Error) -> StoreError {
    StoreError::Read(e.to_string())
}

fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn seq_of(bytes: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = bytes.get(bytes.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

fn prefixed(kind: u8, name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 10);
    key.push(kind);
    key.extend_from_slice(name.as_bytes());
    key.push(0);
    key
}

fn with_seq(mut prefix: Vec<u8>, seq: u64) -> Vec<u8> {
    prefix.extend_from_slice(&seq_key(seq));
    prefix
}

/// The second a time falls in: the time index's unit.
fn second_of(at: Timestamp) -> i64 {
    at.millis().div_euclid(1_000)
}

fn time_key(second: i64) -> [u8; 9] {
    let mut key = [TIME; 9];
    key[1..].copy_from_slice(&(second.max(0) as u64).to_be_bytes());
    key
}

impl Sink for RocksSink {
    fn write(&self, _last_seq: u64, group: &[Staged<'_>]) -> Result<(), WriteError> {
        self.write_all(group).map_err(|reason| WriteError::Failed { written: 0, reason })
    }

    fn key_exists(&self, key: &str) -> Result<bool, StoreError> {
        let db = self.db()?;
        Ok(db.get_pinned_cf(cf(&db, CF_KEYS)?, key.as_bytes()).map_err(read_err)?.is_some())
    }
}

impl RocksSink {
    /// Writes a group in one synced `WriteBatch`.
    fn write_all(&self, group: &[Staged<'_>]) -> Result<(), String> {
        let db = self.db().map_err(|e| e.to_string())?;
        let families = (cf(&db, CF_LOG), cf(&db, CF_INDEX), cf(&db, CF_KEYS), cf(&db, CF_VAULT));
        let (Ok(log), Ok(index), Ok(key_cf), Ok(vault_cf)) = families else {
            return Err("column family missing".into());
        };
        let mut batch = WriteBatch::default();
        let mut last_second = self.last_second.lock().unwrap_or_else(PoisonError::into_inner);
        let mut second = *last_second;
        let records = group.iter().flat_map(|s| s.records.iter().zip(s.encoded));
        for (record, bytes) in records {
            batch.put_cf(log, seq_key(record.seq), bytes);
            batch.put_cf(index, with_seq(prefixed(ACTION, record.event.name().as_str()), record.seq), []);
            for subject in record.event.subjects() {
                batch.put_cf(index, with_seq(prefixed(SUBJECT, &subject.to_string()), record.seq), []);
            }
            let at_second = second_of(record.at);
            if second != Some(at_second) {
                batch.put_cf(index, time_key(at_second), seq_key(record.seq));
                second = Some(at_second);
            }
        }
        for staged in group {
            for key in staged.keys {
                batch.put_cf(key_cf, key.as_bytes(), seq_key(staged.key_seq()));
            }
        }
        for write in group.iter().flat_map(|s| s.vault) {
            match &write.value {
                Some(value) => batch.put_cf(vault_cf, write.key.as_bytes(), value),
                None => batch.delete_cf(vault_cf, write.key.as_bytes()),
            }
        }
        #[cfg(feature = "fault-injection")]
        if injected_sync_failure(group) {
            return Err("injected fault: the group's fsync failed".into());
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        db.write_opt(batch, &options).map_err(|e| e.to_string())?;
        *last_second = second;
        Ok(())
    }
}

impl History for RocksSink {
    fn read(&self, from_seq: u64, limit: usize) -> Result<Vec<Recorded>, StoreError> {
        let from = from_seq.max(1);
        let mut out = Vec::new();
        let mut decoded = Ok(());
        self.scan(from, from.saturating_add(limit as u64).saturating_sub(1), limit, &mut |stored| {
            decoded = stored.decode_into(&mut out);
            false
        })?;
        decoded.map(|()| out)
    }
}

impl RocksSink {
    /// Reads the stored records from `from_seq` through `last` (or to the end of the log) with
    /// one iterator, handing them to `sink` in order in chunks of up to `chunk`, until `sink`
    /// returns false.
    fn scan(
        &self,
        from_seq: u64,
        last: u64,
        chunk: usize,
        sink: &mut dyn FnMut(&mut StoredChunk) -> bool,
    ) -> Result<(), StoreError> {
        let db = self.db()?;
        let log = cf(&db, CF_LOG)?;
        let mut expected = from_seq.max(self.base().link.seq + 1);
        let wanted = last.saturating_add(1).saturating_sub(expected);
        let chunk = chunk.max(1);
        let mut options = ReadOptions::default();
        if wanted > 1_000 {
            // A long sequential scan: read ahead, and keep it out of the block cache.
            options.set_readahead_size(4 << 20);
            options.fill_cache(false);
        }
        let mut iter = db.raw_iterator_cf_opt(log, options);
        iter.seek(seq_key(expected));
        let mut out = StoredChunk::default();
        out.restart(expected);
        while expected <= last && iter.valid() {
            let (Some(key), Some(value)) = (iter.key(), iter.value()) else { break };
            let seq = seq_of(key).unwrap_or(0);
            if seq != expected {
                return Err(StoreError::Corrupt {
                    seq: expected,
                    reason: format!("missing; the log jumps to {seq}"),
                });
            }
            out.push(value);
            expected += 1;
            iter.next();
            if out.len() == chunk {
                if !sink(&mut out) {
                    return Ok(());
                }
                out.restart(expected);
            }
        }
        iter.status().map_err(read_err)?;
        if !out.is_empty() {
            sink(&mut out);
        }
        Ok(())
    }
}

/// The record at `seq`, which an index names.
fn get(db: &DB, seq: u64) -> Result<Recorded, StoreError> {
    let bytes = db
        .get_pinned_cf(cf(db, CF_LOG)?, seq_key(seq))
        .map_err(read_err)?
        .ok_or_else(|| StoreError::Corrupt { seq, reason: "indexed but missing".into() })?;
    decode_record(seq, &bytes)
}

impl RocksSink {
    fn base(&self) -> LogBase {
        *self.base.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn db(&self) -> Result<OpenDb<'_>, StoreError> {
        let guard = self.db.read().unwrap_or_else(PoisonError::into_inner);
        match *guard {
            Some(_) => Ok(OpenDb(guard)),
            None => Err(StoreError::Closed),
        }
    }

    /// The first seq recorded at or after `at`'s second (`end` when none).
    fn seq_at(&self, at: Timestamp, round_up: bool, end: u64) -> Result<u64, StoreError> {
        let mut second = second_of(at);
        if round_up && at.millis().rem_euclid(1_000) != 0 {
            second += 1;
        }
        let db = self.db()?;
        let index = cf(&db, CF_INDEX)?;
        let key = time_key(second);
        let mut iter = db.iterator_cf(index, IteratorMode::From(&key, Direction::Forward));
        match iter.next() {
            Some(Ok((k, v))) if k.first() == Some(&TIME) => Ok(seq_of(&v).unwrap_or(end)),
            Some(Err(e)) => Err(read_err(e)),
            _ => Ok(end),
        }
    }
}

/// The RocksDB log in a data directory.
pub struct RocksLog {
    sink: Arc<RocksSink>,
    committer: Committer,
    dir: PathBuf,
}

impl RocksLog {
    /// Opens (creating when missing) the log in `dir`. Fails on an unknown format or when the
    /// last record does not decode.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_observed(dir, Box::new(|_| {}))
    }

    /// Opens the log in `dir` as [`RocksLog::open`] does, telling `observer` how long each
    /// group write (the write and its sync) took.
    pub fn open_observed(dir: &Path, observer: WriteObserver) -> Result<Self, StoreError> {
        let open_err = |reason: String| StoreError::Open { path: dir.display().to_string(), reason };
        fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        let snapshots = dir.join("snapshots");
        fs::create_dir_all(&snapshots).map_err(|e| open_err(e.to_string()))?;
        let db = open_db(dir).map_err(open_err)?;
        let end = end_of_log(&db)?;
        let vault = vault_entries(&db)?;
        let base = stored_base(&db)?;
        let sink = Arc::new(RocksSink {
            db: RwLock::new(Some(db)),
            snapshots,
            last_second: Mutex::new(last_second(&end)),
            base: RwLock::new(base),
        });
        let committer = Committer::start(sink.clone(), end, vault, observer);
        committer.keep_cold_on_disk();
        tracing::info!(dir = %dir.display(), last_seq = end.seq, "event log open");
        Ok(Self { sink, committer, dir: dir.to_path_buf() })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every idempotency key with the seq it was written with (the first of its batch), in key
    /// order: what [`crate::copy_log`] carries over to another log.
    pub fn keys(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let db = self.sink.db()?;
        let mut keys = Vec::new();
        for entry in db.iterator_cf(cf(&db, CF_KEYS)?, IteratorMode::Start) {
            let (key, seq) = entry.map_err(read_err)?;
            let key = String::from_utf8(key.into_vec())
                .map_err(|_| StoreError::Read("an idempotency key is not UTF-8".into()))?;
            keys.push((key, seq_of(&seq).unwrap_or(0)));
        }
        Ok(keys)
    }
}

impl EventLog for RocksLog {
    fn append(&self, batch: Batch) -> Result<Receipt, StoreError> {
        self.committer.append(&*self.sink, batch)
    }

    fn last_seq(&self) -> u64 {
        self.committer.shared().durable()
    }

    fn read(&self, from_seq: u64, limit: usize) -> Result<Vec<Recorded>, StoreError> {
        let end = self.last_seq();
        if from_seq > end {
            return Ok(Vec::new());
        }
        let limit = limit.min((end - from_seq.max(1) + 1) as usize);
        self.sink.read(from_seq, limit)
    }

    fn scan(
        &self,
        from_seq: u64,
        chunk: usize,
        sink: &mut dyn FnMut(&mut StoredChunk) -> bool,
    ) -> Result<(), StoreError> {
        self.sink.scan(from_seq, self.last_seq(), chunk, sink)
    }

    fn audit(&self, query: &AuditQuery) -> Result<Vec<Recorded>, StoreError> {
        let end = self.last_seq() + 1;
        let low = match query.from {
            Some(from) => self.sink.seq_at(from, false, end)?,
            None => 1,
        }
        .max(self.base().link.seq + 1);
        let mut high = match query.to {
            Some(to) => self.sink.seq_at(to, true, end)?,
            None => end,
        };
        if let Some(before) = query.before_seq {
            high = high.min(before);
        }
        let in_time =
            |r: &Recorded| query.from.is_none_or(|f| r.at >= f) && query.to.is_none_or(|t| r.at < t);
        let mut out = Vec::with_capacity(query.limit.min(1_000));
        if low >= high || query.limit == 0 {
            return Ok(out);
        }
        let db = self.sink.db()?;
        match query.action {
            None => {
                let mut iter = db.raw_iterator_cf(cf(&db, CF_LOG)?);
                iter.seek_for_prev(seq_key(high - 1));
                while out.len() < query.limit && iter.valid() {
                    let (Some(key), Some(value)) = (iter.key(), iter.value()) else { break };
                    let seq = seq_of(key).unwrap_or(0);
                    if seq < low {
                        break;
                    }
                    let record = decode_record(seq, value)?;
                    if in_time(&record) {
                        out.push(record);
                    }
                    iter.prev();
                }
                iter.status().map_err(read_err)?;
            }
            Some(action) => {
                let prefix = prefixed(ACTION, action.as_str());
                let mut iter = db.raw_iterator_cf(cf(&db, CF_INDEX)?);
                iter.seek_for_prev(with_seq(prefix.clone(), high - 1));
                while out.len() < query.limit && iter.valid() {
                    let Some(key) = iter.key() else { break };
                    if !key.starts_with(&prefix) || key.len() != prefix.len() + 8 {
                        break;
                    }
                    let seq = seq_of(key).unwrap_or(0);
                    if seq < low {
                        break;
                    }
                    let record = get(&db, seq)?;
                    if in_time(&record) {
                        out.push(record);
                    }
                    iter.prev();
                }
                iter.status().map_err(read_err)?;
            }
        }
        Ok(out)
    }

    fn subject(&self, subject: &Subject, after_seq: u64, limit: usize) -> Result<Vec<Recorded>, StoreError> {
        let prefix = prefixed(SUBJECT, &subject.to_string());
        let db = self.sink.db()?;
        let mut iter = db.raw_iterator_cf(cf(&db, CF_INDEX)?);
        iter.seek(with_seq(prefix.clone(), after_seq.saturating_add(1)));
        let mut seqs = Vec::new();
        while seqs.len() < limit && iter.valid() {
            let Some(key) = iter.key() else { break };
            if !key.starts_with(&prefix) || key.len() != prefix.len() + 8 {
                break;
            }
            seqs.extend(seq_of(key));
            iter.next();
        }
        iter.status().map_err(read_err)?;
        seqs.into_iter().map(|seq| get(&db, seq)).collect()
    }

    fn has_key(&self, key: &str) -> Result<bool, StoreError> {
        self.sink.key_exists(key)
    }

    fn create_snapshot(&self, seq: u64) -> Result<Box<dyn SnapshotSink>, StoreError> {
        let dir = self.sink.snapshots.clone();
        let tmp = dir.join(format!("state-{seq:020}.tmp"));
        let file = recycled_or_new(&dir, &tmp).map_err(|e| StoreError::Snapshot(e.to_string()))?;
        Ok(Box::new(SnapshotFile { dir, seq, tmp, file, written: 0, unflushed: 0, committed: false }))
    }

    fn remove_snapshot(&self, seq: u64) -> Result<(), StoreError> {
        let dir = &self.sink.snapshots;
        match fs::remove_file(dir.join(snapshot_name(seq))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Snapshot(e.to_string())),
            _ => fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| StoreError::Snapshot(e.to_string())),
        }
    }

    fn load_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let err = |e: std::io::Error| StoreError::Snapshot(e.to_string());
        let newest = snapshot_files(&self.sink.snapshots).map_err(err)?.pop();
        match newest {
            Some((seq, path)) => Ok(Some((seq, fs::read(path).map_err(err)?))),
            None => Ok(None),
        }
    }

    fn open_snapshot(&self) -> Result<Option<(u64, SnapshotReader)>, StoreError> {
        let err = |e: std::io::Error| StoreError::Snapshot(e.to_string());
        let newest = snapshot_files(&self.sink.snapshots).map_err(err)?.pop();
        match newest {
            Some((seq, path)) => Ok(Some((seq, Box::new(fs::File::open(path).map_err(err)?)))),
            None => Ok(None),
        }
    }

    fn subscribe(&self, after_seq: u64) -> Subscription {
        Subscription::new(self.sink.clone(), self.committer.shared().clone(), after_seq)
    }

    fn vault_get(&self, key: &str) -> Option<Vec<u8>> {
        if !key.starts_with(COLD_PREFIX) {
            return self.committer.shared().vault_get(key);
        }
        let read = || {
            let db = self.sink.db()?;
            db.get_cf(cf(&db, CF_VAULT)?, key.as_bytes()).map_err(read_err)
        };
        read().unwrap_or_else(|error| {
            tracing::warn!(key, %error, "cold vault entry unreadable");
            None
        })
    }

    fn vault_scan(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        if !prefix.starts_with(COLD_PREFIX) {
            return self.committer.shared().vault_scan(prefix);
        }
        let read = || {
            let db = self.sink.db()?;
            let mut out = Vec::new();
            let entries =
                db.iterator_cf(cf(&db, CF_VAULT)?, IteratorMode::From(prefix.as_bytes(), Direction::Forward));
            for entry in entries {
                let (key, value) = entry.map_err(read_err)?;
                let Ok(key) = String::from_utf8(key.into_vec()) else { continue };
                if !key.starts_with(prefix) {
                    break;
                }
                out.push((key, value.into_vec()));
            }
            Ok::<_, StoreError>(out)
        };
        read().unwrap_or_else(|error| {
            tracing::warn!(prefix, %error, "cold vault entries unreadable");
            Vec::new()
        })
    }

    fn base(&self) -> LogBase {
        self.sink.base()
    }

    fn truncate(&self, base: LogBase) -> Result<(), StoreError> {
        let current = self.sink.base();
        let through = base.link.seq;
        base.check_next(current, self.last_seq())?;
        let dir = &self.sink.snapshots;
        let snapshot_err = |e: std::io::Error| StoreError::Snapshot(e.to_string());
        let kept = dir.join(base_snapshot_name(base.snapshot_seq));
        copy_synced(&dir.join(snapshot_name(base.snapshot_seq)), &kept).map_err(snapshot_err)?;
        self.sink.delete_entries_of(current.link.seq + 1, through)?;
        self.sink.cut(base)?;
        for (seq, path) in snapshot_files(dir).map_err(snapshot_err)? {
            if seq < base.snapshot_seq {
                remove_gradually(&path).map_err(snapshot_err)?;
            }
        }
        for entry in fs::read_dir(dir).map_err(snapshot_err)? {
            let path = entry.map_err(snapshot_err)?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with("base-") && path != kept {
                remove_gradually(&path).map_err(snapshot_err)?;
            }
        }
        self.sink.compact(through)
    }

    fn open_base_snapshot(&self) -> Result<Option<(u64, SnapshotReader)>, StoreError> {
        let base = self.sink.base();
        if base.link.seq == 0 {
            return Ok(None);
        }
        let path = self.sink.snapshots.join(base_snapshot_name(base.snapshot_seq));
        match fs::File::open(path) {
            Ok(file) => Ok(Some((base.snapshot_seq, Box::new(file)))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Snapshot(e.to_string())),
        }
    }

    fn poisoned(&self) -> Option<String> {
        self.committer.shared().poisoned()
    }

    fn recover(&self) -> Result<(), StoreError> {
        if self.poisoned().is_none() {
            return Ok(());
        }
        let reopen_err = |reason: String| StoreError::Open { path: self.dir.display().to_string(), reason };
        let mut slot = self.sink.db.write().unwrap_or_else(PoisonError::into_inner);
        // A write error leaves RocksDB refusing writes until it is reopened; closing it first
        // releases its lock file. Until the reopen succeeds reads fail as `Closed`.
        slot.take();
        let db = open_db(&self.dir).map_err(reopen_err)?;
        // A synced write proves the disk takes writes again before any append is let through.
        let probe = (|| {
            let mut write = WriteOptions::default();
            write.set_sync(true);
            db.put_cf_opt(cf(&db, CF_META)?, PROBE_KEY, [], &write)
                .map_err(|e| StoreError::Write(e.to_string()))
        })();
        let end = end_of_log(&db);
        let vault = vault_entries(&db);
        let base = stored_base(&db);
        *slot = Some(db);
        probe?;
        let (end, vault, base) = (end?, vault?, base?);
        *self.sink.base.write().unwrap_or_else(PoisonError::into_inner) = base;
        *self.sink.last_second.lock().unwrap_or_else(PoisonError::into_inner) = last_second(&end);
        self.committer.recover(end, vault)?;
        tracing::info!(last_seq = end.seq, "event log reopened; appends accepted again");
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        let db = self.sink.db()?;
        let families = [CF_LOG, CF_INDEX, CF_KEYS, CF_META, CF_VAULT].map(|name| cf(&db, name));
        let families = families.into_iter().collect::<Result<Vec<_>, _>>()?;
        db.flush_cfs_opt(&families, &rocksdb::FlushOptions::default())
            .map_err(|e| StoreError::Write(e.to_string()))
    }
}

/// Opens the database under `dir` with Pacer's options and column families, and checks (or
/// writes, on a new database) its format.
fn open_db(dir: &Path) -> Result<DB, String> {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    options.set_max_background_jobs(2);
    options.set_keep_log_file_num(5);
    options.set_max_total_wal_size(MAX_WAL_BYTES);
    let mut log_options = Options::default();
    log_options.set_compression_type(DBCompressionType::Lz4);
    // Larger blocks than the 4 KiB default: the log is read in long sequential scans
    // (replay, audit pages), where per-block overhead dominated.
    let mut log_blocks = BlockBasedOptions::default();
    log_blocks.set_block_size(32 << 10);
    log_options.set_block_based_table_factory(&log_blocks);
    // Almost every idempotency-key lookup is a miss (a new delivery): bloom filters in the
    // tables and the memtable answer it without reading a block per level.
    let mut key_options = Options::default();
    let mut key_blocks = BlockBasedOptions::default();
    key_blocks.set_bloom_filter(10.0, false);
    key_options.set_block_based_table_factory(&key_blocks);
    key_options.set_memtable_prefix_bloom_ratio(0.05);
    key_options.set_memtable_whole_key_filtering(true);
    let families = vec![
        ColumnFamilyDescriptor::new(CF_LOG, log_options),
        ColumnFamilyDescriptor::new(CF_INDEX, Options::default()),
        ColumnFamilyDescriptor::new(CF_KEYS, key_options),
        ColumnFamilyDescriptor::new(CF_META, Options::default()),
        ColumnFamilyDescriptor::new(CF_VAULT, Options::default()),
    ];
    let db = DB::open_cf_descriptors(&options, dir.join("db"), families).map_err(|e| e.to_string())?;
    let meta = cf(&db, CF_META).map_err(|e| e.to_string())?;
    match db.get_cf(meta, FORMAT_KEY).map_err(|e| e.to_string())? {
        Some(bytes) if bytes.as_slice() == FORMAT.to_be_bytes() => {}
        Some(bytes) => return Err(format!("unknown storage format {bytes:?}")),
        None => {
            let mut write = WriteOptions::default();
            write.set_sync(true);
            db.put_cf_opt(meta, FORMAT_KEY, FORMAT.to_be_bytes(), &write).map_err(|e| e.to_string())?;
        }
    }
    Ok(db)
}

/// Every vault entry but the cold ones.
fn vault_entries(db: &DB) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
    let mut entries = BTreeMap::new();
    for entry in db.iterator_cf(cf(db, CF_VAULT)?, IteratorMode::Start) {
        let (key, value) = entry.map_err(read_err)?;
        let key = String::from_utf8(key.into_vec())
            .map_err(|_| StoreError::Read("a vault key is not UTF-8".into()))?;
        if !key.starts_with(COLD_PREFIX) {
            entries.insert(key, value.into_vec());
        }
    }
    Ok(entries)
}

/// Where the log begins, as stored.
fn stored_base(db: &DB) -> Result<LogBase, StoreError> {
    match db.get_cf(cf(db, CF_META)?, BASE_KEY).map_err(read_err)? {
        None => Ok(LogBase::default()),
        Some(bytes) => decode_base(&bytes).ok_or_else(|| {
            StoreError::Read(format!("the stored log base ({} bytes) does not decode", bytes.len()))
        }),
    }
}

/// A base as stored: the last deleted seq, its time in milliseconds and the base snapshot's
/// seq (8 bytes each, big-endian), then its chain hash (32 bytes) when it has one.
fn encode_base(base: &LogBase) -> Vec<u8> {
    let mut out = Vec::with_capacity(56);
    out.extend_from_slice(&base.link.seq.to_be_bytes());
    out.extend_from_slice(&base.at.millis().to_be_bytes());
    out.extend_from_slice(&base.snapshot_seq.to_be_bytes());
    if let Some(hash) = base.link.hash {
        out.extend_from_slice(&hash.0);
    }
    out
}

/// The base [`encode_base`] stored as `bytes`.
fn decode_base(bytes: &[u8]) -> Option<LogBase> {
    let word = |i: usize| Some(u64::from_be_bytes(bytes.get(i * 8..i * 8 + 8)?.try_into().ok()?));
    let hash = match bytes.len() {
        24 => None,
        56 => Some(ChainHash(bytes[24..56].try_into().ok()?)),
        _ => return None,
    };
    Some(LogBase {
        link: ChainLink { seq: word(0)?, hash },
        at: Timestamp::from_millis(word(1)? as i64),
        snapshot_seq: word(2)?,
    })
}

impl RocksSink {
    /// Deletes the index entries of records `first..=last` (a chunk per write) and the
    /// idempotency keys written with records up to `last`.
    fn delete_entries_of(&self, first: u64, last: u64) -> Result<(), StoreError> {
        let write_err = |e: rocksdb::Error| StoreError::Write(e.to_string());
        let mut failed = None;
        {
            let db = self.db()?;
            let index = cf(&db, CF_INDEX)?;
            self.scan(first, last, TRUNCATE_CHUNK, &mut |chunk| {
                let mut batch = WriteBatch::default();
                for (seq, stored) in chunk.stored() {
                    let record = match decode_record(seq, stored) {
                        Ok(record) => record,
                        Err(error) => {
                            failed = Some(error);
                            return false;
                        }
                    };
                    batch.delete_cf(index, with_seq(prefixed(ACTION, record.event.name().as_str()), seq));
                    for subject in record.event.subjects() {
                        batch.delete_cf(index, with_seq(prefixed(SUBJECT, &subject.to_string()), seq));
                    }
                }
                if let Err(error) = db.write(batch) {
                    failed = Some(write_err(error));
                    return false;
                }
                true
            })?;
        }
        if let Some(error) = failed {
            return Err(error);
        }
        let db = self.db()?;
        let keys = cf(&db, CF_KEYS)?;
        let mut batch = WriteBatch::default();
        for entry in db.iterator_cf(keys, IteratorMode::Start) {
            let (key, seq) = entry.map_err(read_err)?;
            if seq_of(&seq).is_some_and(|seq| seq > 0 && seq <= last) {
                batch.delete_cf(keys, key);
            }
            if batch.len() >= TRUNCATE_CHUNK {
                db.write(std::mem::take(&mut batch)).map_err(write_err)?;
            }
        }
        db.write(batch).map_err(write_err)
    }

    /// Stores `base` and deletes the records through it (with the time index's seconds before
    /// the first record kept) in one synced write.
    fn cut(&self, base: LogBase) -> Result<(), StoreError> {
        let through = base.link.seq;
        let first_kept = self.read(through + 1, 1)?;
        let Some(first_kept) = first_kept.first().filter(|r| r.seq == through + 1) else {
            return Err(StoreError::Corrupt { seq: through + 1, reason: "missing from the log".into() });
        };
        let db = self.db()?;
        let mut batch = WriteBatch::default();
        batch.put_cf(cf(&db, CF_META)?, BASE_KEY, encode_base(&base));
        batch.delete_range_cf(cf(&db, CF_LOG)?, seq_key(0), seq_key(through + 1));
        batch.delete_range_cf(cf(&db, CF_INDEX)?, time_key(0), time_key(second_of(first_kept.at)));
        let mut options = WriteOptions::default();
        options.set_sync(true);
        db.write_opt(batch, &options).map_err(|e| StoreError::Write(e.to_string()))?;
        *self.base.write().unwrap_or_else(PoisonError::into_inner) = base;
        Ok(())
    }

    /// Compacts what truncating through `through` freed, so the disk gets it back.
    fn compact(&self, through: u64) -> Result<(), StoreError> {
        let db = self.db()?;
        db.compact_range_cf(cf(&db, CF_LOG)?, None::<&[u8]>, Some(seq_key(through + 1)));
        db.compact_range_cf(cf(&db, CF_INDEX)?, None::<&[u8]>, None::<&[u8]>);
        db.compact_range_cf(cf(&db, CF_KEYS)?, None::<&[u8]>, None::<&[u8]>);
        Ok(())
    }
}

/// A snapshot's file name.
fn snapshot_name(seq: u64) -> String {
    format!("state-{seq:020}.snap")
}

/// The base snapshot's file name.
fn base_snapshot_name(seq: u64) -> String {
    format!("base-{seq:020}.snap")
}

/// Copies `from` to `to` through a temporary file, fsynced with the directory.
fn copy_synced(from: &Path, to: &Path) -> std::io::Result<()> {
    let tmp = to.with_extension("copy");
    fs::copy(from, &tmp)?;
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, to)?;
    match to.parent() {
        Some(dir) => fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Where the log ends.
fn end_of_log(db: &DB) -> Result<End, StoreError> {
    let mut iter = db.raw_iterator_cf(cf(db, CF_LOG)?);
    iter.seek_to_last();
    end_of(iter.key().zip(iter.value()).map(|(key, value)| (seq_of(key).unwrap_or(0), value)))
}

/// The second of the log's last record, for the time index (`None` for an empty log).
fn last_second(end: &End) -> Option<i64> {
    (end.seq > 0).then(|| second_of(end.at))
}

/// A snapshot file being written as `state-<seq>.tmp` (over a recycled one, see
/// [`recycled_or_new`]), flushed to disk a slice at a time and paced (see [`flush_paced`]):
/// hundreds of MiB of dirty pages pushed out by one final fsync would saturate the disk while
/// the log's group commits queue behind them. Committed, it is cut to the length written,
/// renamed `state-<seq>.snap`, and the snapshots beyond [`SNAPSHOTS_KEPT`] are removed
/// (gradually, see [`remove_gradually`]); dropped uncommitted, the temporary file goes.
struct SnapshotFile {
    dir: PathBuf,
    seq: u64,
    tmp: PathBuf,
    file: fs::File,
    written: u64,
    unflushed: usize,
    committed: bool,
}

/// Opens `tmp` for a new snapshot, recycling a file that would be removed anyway: a temporary
/// file left by a crash, or else the oldest snapshot when [`SNAPSHOTS_KEPT`] exist already
/// (the newest stays untouched until the new one is committed). Overwriting blocks the file
/// already holds allocates and frees nothing, so the filesystem's journal commits (which the
/// log's fsyncs wait for) carry no block allocations, and a filesystem mounted with `discard`
/// issues no discards for the old snapshot.
fn recycled_or_new(dir: &Path, tmp: &Path) -> std::io::Result<fs::File> {
    let mut leftovers = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            leftovers.push(path);
        }
    }
    let mut snapshots = snapshot_files(dir)?;
    let recycled = match leftovers.pop() {
        Some(leftover) => Some(leftover),
        None if snapshots.len() >= SNAPSHOTS_KEPT => Some(snapshots.remove(0).1),
        None => None,
    };
    for leftover in leftovers {
        fs::remove_file(leftover)?;
    }
    if let Some(old) = recycled {
        fs::rename(old, tmp)?;
    }
    fs::OpenOptions::new().write(true).create(true).truncate(false).open(tmp)
}

impl Write for SnapshotFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.file.write(buf)?;
        self.written += written as u64;
        self.unflushed += written;
        if self.unflushed >= SNAPSHOT_FLUSH_SLICE {
            flush_paced(&self.file)?;
            self.unflushed = 0;
        }
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl SnapshotSink for SnapshotFile {
    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        let err = |e: std::io::Error| StoreError::Snapshot(e.to_string());
        self.file.set_len(self.written).map_err(err)?;
        self.file.sync_all().map_err(err)?;
        fs::rename(&self.tmp, self.dir.join(snapshot_name(self.seq))).map_err(err)?;
        self.committed = true;
        fs::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(err)?;
        let mut all = snapshot_files(&self.dir).map_err(err)?;
        while all.len() > SNAPSHOTS_KEPT {
            let (_, oldest) = all.remove(0);
            remove_gradually(&oldest).map_err(err)?;
        }
        Ok(())
    }
}

impl Drop for SnapshotFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Deletes a (large) file by shrinking it a slice at a time first: on a filesystem mounted
/// with `discard`, freeing a whole snapshot's blocks in one journal commit stalls the log's
/// fsyncs behind the device's discards.
fn remove_gradually(path: &Path) -> std::io::Result<()> {
    let file = fs::OpenOptions::new().write(true).open(path)?;
    let mut len = file.metadata()?.len();
    while len > SNAPSHOT_FLUSH_SLICE as u64 {
        len -= SNAPSHOT_FLUSH_SLICE as u64;
        file.set_len(len)?;
        flush_paced(&file)?;
    }
    drop(file);
    fs::remove_file(path)
}

/// Flushes `file`'s data to disk, then rests [`SNAPSHOT_REST_FACTOR`] times as long as the
/// flush took, so the log's fsyncs find the disk free between the slices.
fn flush_paced(file: &fs::File) -> std::io::Result<()> {
    let started = std::time::Instant::now();
    file.sync_data()?;
    std::thread::sleep(started.elapsed() * SNAPSHOT_REST_FACTOR);
    Ok(())
}

/// Snapshot files by seq, oldest first.
fn snapshot_files(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let seq = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("state-")?.strip_suffix(".snap")?.parse::<u64>().ok());
        if let Some(seq) = seq {
            out.push((seq, path));
        }
    }
    out.sort();
    Ok(out)
}
