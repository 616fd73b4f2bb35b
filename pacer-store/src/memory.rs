//! An in-memory log with the same semantics as the RocksDB one (same codec, group commit,
//! keys, indexes by scanning, snapshots, subscriptions). For tests and embedders that need no
//! durability; it also lets tests inject a failing write to prove poisoning.

use crate::codec::{StoredChunk, decode_record};
use crate::commit::{Committer, End, Sink, Staged, WriteError, WriteObserver, end_of};
use crate::error::StoreError;
use crate::log::{AuditQuery, Batch, EventLog, LogBase, Receipt, SnapshotReader, SnapshotSink};
use crate::subscribe::{History, Subscription};
use pacer_domain::{Recorded, Subject};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

#[derive(Default)]
struct Data {
    /// The records after `base` (the first holds seq `base.link.seq + 1`).
    records: Vec<Vec<u8>>,
    base: LogBase,
    base_snapshot: Option<(u64, Vec<u8>)>,
    keys: HashMap<String, u64>,
    snapshot: Option<(u64, Vec<u8>)>,
    vault: BTreeMap<String, Vec<u8>>,
    fail_writes: bool,
}

#[derive(Default)]
struct MemorySink {
    data: Mutex<Data>,
}

impl MemorySink {
    fn data(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where the log ends.
    fn end(&self) -> Result<End, StoreError> {
        let data = self.data();
        let last_seq = data.base.link.seq + data.records.len() as u64;
        end_of(data.records.last().map(|last| (last_seq, last.as_slice())))
    }
}

impl Sink for MemorySink {
    fn write(&self, _last_seq: u64, group: &[Staged<'_>]) -> Result<(), WriteError> {
        let mut data = self.data();
        if data.fail_writes {
            return Err(WriteError::Failed { written: 0, reason: "injected write failure".into() });
        }
        for staged in group {
            data.records.extend(staged.encoded.iter().cloned());
            data.keys.extend(staged.keys.iter().map(|key| (key.clone(), staged.key_seq())));
            for write in staged.vault {
                write.apply_to(&mut data.vault);
            }
        }
        Ok(())
    }

    fn key_exists(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.data().keys.contains_key(key))
    }
}

impl History for MemorySink {
    fn read(&self, from_seq: u64, limit: usize) -> Result<Vec<Recorded>, StoreError> {
        let data = self.data();
        let pruned = data.base.link.seq;
        let start = from_seq.saturating_sub(pruned + 1) as usize;
        data.records
            .iter()
            .enumerate()
            .skip(start)
            .take(limit)
            .map(|(i, bytes)| decode_record(pruned + i as u64 + 1, bytes))
            .collect()
    }
}

/// A snapshot being stored in memory: kept once committed.
struct MemorySnapshot {
    sink: Arc<MemorySink>,
    seq: u64,
    bytes: Vec<u8>,
}

impl std::io::Write for MemorySnapshot {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SnapshotSink for MemorySnapshot {
    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let MemorySnapshot { sink, seq, bytes } = *self;
        sink.data().snapshot = Some((seq, bytes));
        Ok(())
    }
}

/// The in-memory log.
pub struct MemoryLog {
    sink: Arc<MemorySink>,
    committer: Committer,
    shared: bool,
}

impl Default for MemoryLog {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::observed(Box::new(|_| {}))
    }

    /// An empty log that tells `observer` how long each group write took.
    pub fn observed(observer: WriteObserver) -> Self {
        let sink = Arc::new(MemorySink::default());
        let committer = Committer::start(sink.clone(), End::default(), BTreeMap::new(), observer);
        Self { sink, committer, shared: false }
    }

    /// An empty log that says it is [`EventLog::shared`]: several `App`s of one test appending
    /// to it behave as replicas sharing a log (each refused with a conflict when another
    /// appended first).
    pub fn shared() -> Self {
        Self { shared: true, ..Self::new() }
    }

    /// Makes every later physical write fail, as a full disk would (tests of poisoning), or
    /// lets them succeed again (tests of recovery).
    pub fn fail_writes(&self, fail: bool) {
        self.sink.data().fail_writes = fail;
    }

    fn all(&self) -> Result<Vec<Recorded>, StoreError> {
        self.sink.read(1, usize::MAX)
    }
}

impl EventLog for MemoryLog {
    fn shared(&self) -> bool {
        self.shared
    }

    fn append(&self, batch: Batch) -> Result<Receipt, StoreError> {
        self.committer.append(&*self.sink, batch)
    }

    fn last_seq(&self) -> u64 {
        self.committer.shared().durable()
    }

    fn read(&self, from_seq: u64, limit: usize) -> Result<Vec<Recorded>, StoreError> {
        self.sink.read(from_seq, limit)
    }

    fn scan(
        &self,
        from_seq: u64,
        chunk: usize,
        sink: &mut dyn FnMut(&mut StoredChunk) -> bool,
    ) -> Result<(), StoreError> {
        let last = self.last_seq();
        let mut next = from_seq.max(self.base().link.seq + 1);
        let mut stored = StoredChunk::default();
        while next <= last {
            stored.restart(next);
            {
                let data = self.sink.data();
                let pruned = data.base.link.seq;
                let records =
                    data.records.iter().take((last - pruned) as usize).skip((next - pruned) as usize - 1);
                for bytes in records.take(chunk.max(1)) {
                    stored.push(bytes);
                }
            }
            next += stored.len() as u64;
            if stored.is_empty() || !sink(&mut stored) {
                break;
            }
        }
        Ok(())
    }

    fn audit(&self, query: &AuditQuery) -> Result<Vec<Recorded>, StoreError> {
        Ok(self
            .all()?
            .into_iter()
            .rev()
            .filter(|r| query.before_seq.is_none_or(|b| r.seq < b))
            .filter(|r| query.action.is_none_or(|a| r.event.name() == a))
            .filter(|r| query.from.is_none_or(|f| r.at >= f) && query.to.is_none_or(|t| r.at < t))
            .take(query.limit)
            .collect())
    }

    fn subject(&self, subject: &Subject, after_seq: u64, limit: usize) -> Result<Vec<Recorded>, StoreError> {
        Ok(self
            .all()?
            .into_iter()
            .filter(|r| r.seq > after_seq && r.event.subjects().contains(subject))
            .take(limit)
            .collect())
    }

    fn has_key(&self, key: &str) -> Result<bool, StoreError> {
        self.sink.key_exists(key)
    }

    fn create_snapshot(&self, seq: u64) -> Result<Box<dyn SnapshotSink>, StoreError> {
        Ok(Box::new(MemorySnapshot { sink: self.sink.clone(), seq, bytes: Vec::new() }))
    }

    fn remove_snapshot(&self, seq: u64) -> Result<(), StoreError> {
        let snapshot = &mut self.sink.data().snapshot;
        if snapshot.as_ref().is_some_and(|(at, _)| *at == seq) {
            *snapshot = None;
        }
        Ok(())
    }

    fn load_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        Ok(self.sink.data().snapshot.clone())
    }

    fn subscribe(&self, after_seq: u64) -> Subscription {
        Subscription::new(self.sink.clone(), self.committer.shared().clone(), after_seq)
    }

    fn base(&self) -> LogBase {
        self.sink.data().base
    }

    fn truncate(&self, base: LogBase) -> Result<(), StoreError> {
        let last_seq = self.last_seq();
        let mut data = self.sink.data();
        let through = base.link.seq;
        base.check_next(data.base, last_seq)?;
        let snapshot = data.snapshot.clone().filter(|(seq, _)| *seq == base.snapshot_seq);
        let Some(snapshot) = snapshot else {
            return Err(StoreError::Snapshot(format!("no snapshot at seq {}", base.snapshot_seq)));
        };
        let deleted = (through - data.base.link.seq) as usize;
        data.records.drain(..deleted);
        data.keys.retain(|_, seq| *seq > through);
        data.base = base;
        data.base_snapshot = Some(snapshot);
        Ok(())
    }

    fn open_base_snapshot(&self) -> Result<Option<(u64, SnapshotReader)>, StoreError> {
        let base = self.sink.data().base_snapshot.clone();
        Ok(base.map(|(seq, bytes)| (seq, Box::new(std::io::Cursor::new(bytes)) as SnapshotReader)))
    }

    fn vault_get(&self, key: &str) -> Option<Vec<u8>> {
        self.committer.shared().vault_get(key)
    }

    fn vault_scan(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        self.committer.shared().vault_scan(prefix)
    }

    fn poisoned(&self) -> Option<String> {
        self.committer.shared().poisoned()
    }

    fn recover(&self) -> Result<(), StoreError> {
        if self.poisoned().is_none() {
            return Ok(());
        }
        if self.sink.data().fail_writes {
            return Err(StoreError::Write("injected write failure".into()));
        }
        let end = self.sink.end()?;
        let vault = self.sink.data().vault.clone();
        self.committer.recover(end, vault)
    }
}
