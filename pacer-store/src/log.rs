//! The log's interface: append a batch durably (with idempotency keys), read by seq, query the
//! audit view newest-first by action and time without scanning, follow a subject's history,
//! keep snapshots, and subscribe to appended records from any seq.

use crate::chain::ChainLink;
use crate::codec::StoredChunk;
use crate::error::StoreError;
use crate::subscribe::Subscription;
use pacer_domain::{Actor, Event, EventName, Recorded, Subject, Timestamp};

/// Snapshots a log keeps: the newest, and the one before in case the newest proves unusable.
#[cfg_attr(not(any(feature = "rocksdb", feature = "dynamodb")), allow(dead_code))]
pub(crate) const SNAPSHOTS_KEPT: usize = 2;

/// Vault keys under this prefix are cold: large and rarely read (raw webhook payloads, failure
/// logs). A log may keep them on disk only and read them when asked (the RocksDB log does), so
/// [`EventLog::vault_scan`] finds them only with a prefix that starts with this one.
pub const COLD_PREFIX: &str = "cold/";

/// Where a pruned log begins (see [`crate::prune`]): the last deleted record's link and time,
/// and the snapshot the log was pruned under, kept as the base a replay starts from until the
/// next prune. The default (seq 0) is a log never pruned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogBase {
    /// The last deleted record: its seq and chain hash.
    pub link: ChainLink,
    /// Its time.
    pub at: Timestamp,
    /// The seq of the base snapshot (above `link.seq`).
    pub snapshot_seq: u64,
}

impl LogBase {
    /// Refuses this as the next base of a log that begins after `current` and ends at `last`:
    /// a base only moves forward, leaves a record, and sits under a snapshot of the log.
    pub(crate) fn check_next(&self, current: LogBase, last: u64) -> Result<(), StoreError> {
        let through = self.link.seq;
        if through <= current.link.seq
            || through >= last
            || self.snapshot_seq <= through
            || self.snapshot_seq > last
        {
            return Err(StoreError::Write(format!(
                "cannot truncate through seq {through} under the snapshot at {} (the log holds {} to {last})",
                self.snapshot_seq,
                current.link.seq + 1
            )));
        }
        Ok(())
    }
}

/// A record to append; the log assigns its seq.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRecord {
    /// When (the log keeps times non-decreasing, raising an earlier time to the last one).
    pub at: Timestamp,
    /// Who.
    pub actor: Actor,
    /// The causing request, if any.
    pub request_id: Option<String>,
    /// The fact.
    pub event: Event,
}

/// A change to the vault: `value` stored under `key`, or the key deleted when `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultWrite {
    /// The entry's key.
    pub key: String,
    /// Its new value; `None` deletes it.
    pub value: Option<Vec<u8>>,
}

impl VaultWrite {
    /// Makes this change to `vault`.
    pub(crate) fn apply_to(&self, vault: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        match &self.value {
            Some(value) => vault.insert(self.key.clone(), value.clone()),
            None => vault.remove(&self.key),
        };
    }
}

/// One atomic append.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Records, in order.
    pub records: Vec<NewRecord>,
    /// When set, the append fails unless the first record gets exactly this seq.
    pub expected_first_seq: Option<u64>,
    /// Idempotency keys written with the records; the append fails if any is already recorded
    /// (or repeated in the batch), and then nothing is written.
    pub keys: Vec<String>,
    /// Vault changes written with the records, in order (a later write to a key wins). A
    /// batch may hold vault changes only.
    pub vault: Vec<VaultWrite>,
}

impl Batch {
    /// A batch of records by `actor` at `at`.
    pub fn of(at: Timestamp, actor: Actor, events: impl IntoIterator<Item = Event>) -> Self {
        let records = events
            .into_iter()
            .map(|event| NewRecord { at, actor: actor.clone(), request_id: None, event })
            .collect();
        Batch { records, ..Batch::default() }
    }
}

/// The records an append wrote, with their seqs and times.
pub type Receipt = Vec<Recorded>;

/// The audit view's filter; results come newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this action.
    pub action: Option<EventName>,
    /// Recorded at or after.
    pub from: Option<Timestamp>,
    /// Recorded before.
    pub to: Option<Timestamp>,
    /// Only records with a seq below (the paging cursor).
    pub before_seq: Option<u64>,
    /// Page size.
    pub limit: usize,
}

/// A snapshot being read, with the seq it covers (see [`EventLog::open_snapshot`]).
pub type SnapshotReader = Box<dyn std::io::Read + Send>;

/// A snapshot being stored: its bytes go in through [`std::io::Write`], and
/// [`SnapshotSink::commit`] makes it durable and the newest. Dropped uncommitted, it leaves
/// nothing a start could load.
pub trait SnapshotSink: std::io::Write + Send {
    /// Makes the snapshot durable and the newest.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// The append-only event log.
pub trait EventLog: Send + Sync {
    /// Appends a batch atomically and durably (fsynced before this returns). Concurrent
    /// appends share one sync (group commit).
    fn append(&self, batch: Batch) -> Result<Receipt, StoreError>;

    /// The seq of the last durable record (0 when empty).
    fn last_seq(&self) -> u64;

    /// Up to `limit` records from `from_seq` on, in order.
    fn read(&self, from_seq: u64, limit: usize) -> Result<Vec<Recorded>, StoreError>;

    /// Every record from `from_seq` to the last durable one, in order and undecoded, handed to
    /// `sink` in chunks of up to `chunk` records until `sink` returns false. A long replay uses
    /// this: the RocksDB log reads the whole range with one iterator, and the replay decodes
    /// each chunk on whichever thread has time. The sink may swap the chunk for another (a
    /// spent one, to recycle its buffers); the scan empties it before filling it again.
    fn scan(
        &self,
        from_seq: u64,
        chunk: usize,
        sink: &mut dyn FnMut(&mut StoredChunk) -> bool,
    ) -> Result<(), StoreError>;

    /// A page of the audit view, newest first.
    fn audit(&self, query: &AuditQuery) -> Result<Vec<Recorded>, StoreError>;

    /// Records about `subject` after `after_seq`, oldest first, at most `limit`.
    fn subject(&self, subject: &Subject, after_seq: u64, limit: usize) -> Result<Vec<Recorded>, StoreError>;

    /// Whether an idempotency key is recorded.
    fn has_key(&self, key: &str) -> Result<bool, StoreError>;

    /// Starts storing a snapshot covering `seq` (see [`crate::write_snapshot_to`]), streamed.
    fn create_snapshot(&self, seq: u64) -> Result<Box<dyn SnapshotSink>, StoreError>;

    /// Stores a snapshot (see [`crate::encode_snapshot`]) covering `seq` whole.
    fn save_snapshot(&self, seq: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let mut sink = self.create_snapshot(seq)?;
        sink.write_all(bytes).map_err(|e| StoreError::Snapshot(e.to_string()))?;
        sink.commit()
    }

    /// Deletes the snapshot covering `seq`, if there is one.
    fn remove_snapshot(&self, seq: u64) -> Result<(), StoreError>;

    /// The newest snapshot and the seq it covers.
    fn load_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError>;

    /// The newest snapshot as a stream, for [`crate::read_snapshot`] (by default over
    /// [`EventLog::load_snapshot`]); a file-backed log streams the file instead of reading it
    /// into memory first.
    fn open_snapshot(&self) -> Result<Option<(u64, SnapshotReader)>, StoreError> {
        Ok(self.load_snapshot()?.map(|(seq, bytes)| (seq, Box::new(std::io::Cursor::new(bytes)) as _)))
    }

    /// Follows the log from `after_seq` on: every later record exactly once, in order, with
    /// no gap between history and live appends.
    fn subscribe(&self, after_seq: u64) -> Subscription;

    /// The vault entry under `key`. The vault is a key-value table beside the log for what
    /// must never be in it (secrets, sessions): written in the same group commit as the
    /// records, never subscribed to, snapshotted or exported, and held in memory whole. Reads
    /// see only durable changes, in the order they were written.
    fn vault_get(&self, key: &str) -> Option<Vec<u8>>;

    /// Every vault entry whose key starts with `prefix`, in key order.
    fn vault_scan(&self, prefix: &str) -> Vec<(String, Vec<u8>)>;

    /// Why writes are refused, once a write failed.
    fn poisoned(&self) -> Option<String>;

    /// After a failed write: reopens the storage and, once it proves to take writes again,
    /// accepts appends from its last durable record on (a record of the failed write that did
    /// reach the disk counts as durable then). Does nothing on a healthy log; fails, leaving
    /// the log poisoned, while the fault lasts.
    fn recover(&self) -> Result<(), StoreError>;

    /// Whether other processes append to this log too (replicas sharing it): then an append
    /// may be refused with [`StoreError::SeqConflict`] or [`StoreError::Duplicate`] because
    /// another writer got there first, and records this process did not write appear at its
    /// end ([`EventLog::last_seq`] moves on by itself). A log only this process writes answers
    /// false.
    fn shared(&self) -> bool {
        false
    }

    /// Where the log begins: the default until it is pruned.
    fn base(&self) -> LogBase {
        LogBase::default()
    }

    /// Deletes every record through `base.link.seq` (with their index entries and idempotency
    /// keys), keeps the snapshot at `base.snapshot_seq` as the base snapshot (until the next
    /// truncation) and deletes every snapshot below it. [`crate::prune`] checks what this
    /// trusts: that the snapshot is sound and covers the records, and that their chain is whole.
    fn truncate(&self, base: LogBase) -> Result<(), StoreError> {
        Err(StoreError::Unsupported(format!(
            "this log cannot be pruned (asked through seq {})",
            base.link.seq
        )))
    }

    /// Deletes the log's own bookkeeping that no reader needs any more (on the shared log: the
    /// vault's older change notices, see [`crate::DynamoSettings::vault_changes_kept`]);
    /// returns how many items went. Nothing a record or the vault holds is touched.
    fn tidy(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// The base snapshot of a pruned log, with the seq it covers; `None` when never pruned.
    fn open_base_snapshot(&self) -> Result<Option<(u64, SnapshotReader)>, StoreError> {
        Ok(None)
    }

    /// Moves what only the write-ahead log holds into the log's tables, so the next open has
    /// nothing to replay. For a clean shutdown, after the last append; appends stay durable
    /// without it.
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
