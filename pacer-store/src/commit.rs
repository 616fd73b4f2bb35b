//! Group commit shared by every backend: appenders get their seqs in order under a short lock
//! and hand their batch to one writer thread, which drains whatever is queued, writes it all in
//! one atomic, fsynced write (timed, for the log's [`WriteObserver`]), publishes it to
//! subscribers (and its vault changes to the in-memory vault) and answers every appender. The first failed write poisons the log: every later
//! append is refused, so the process never runs on with state it could not save, until the
//! backend has reopened its storage and [`Committer::recover`] resets the sequence to it.

use crate::codec::encode_record;
use crate::error::StoreError;
use crate::log::{Batch, Receipt, VaultWrite};
use pacer_domain::{Recorded, Timestamp};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Most records one physical write takes.
const MAX_GROUP_RECORDS: usize = 16_384;
/// Batches buffered for subscribers before a slow one must catch up from the log.
const BROADCAST_CAPACITY: usize = 4_096;

/// Where the writer puts records: one atomic, durable write of encoded records and keys.
pub(crate) trait Sink: Send + Sync + 'static {
    /// Writes `records` (with their encodings), `keys` → seq and the `vault` changes
    /// atomically, synced to disk.
    fn write(
        &self,
        records: &[&Recorded],
        encoded: &[Vec<u8>],
        keys: &[(String, u64)],
        vault: &[&VaultWrite],
    ) -> Result<(), String>;
    /// Whether `key` is recorded.
    fn key_exists(&self, key: &str) -> Result<bool, StoreError>;
}

/// Told how long each group write took (the write and its sync, failed ones included), on the
/// log's writer thread, before the group's appenders are answered: how slow the disk is, as the
/// appenders wait for it. Set when the log is opened; it should return at once.
pub type WriteObserver = Box<dyn Fn(Duration) + Send>;

struct Request {
    records: Vec<Recorded>,
    keys: Vec<String>,
    vault: Vec<VaultWrite>,
    reply: SyncSender<Result<Receipt, StoreError>>,
}

struct Sequencer {
    next_seq: u64,
    last_at: Timestamp,
    in_flight: HashSet<String>,
    /// Requests handed to the writer and not yet answered.
    queued: usize,
    queue: Option<SyncSender<Request>>,
}

/// State shared by appenders, the writer thread and readers.
pub(crate) struct Shared {
    durable: AtomicU64,
    poisoned: Mutex<Option<String>>,
    sequencer: Mutex<Sequencer>,
    published: broadcast::Sender<Arc<[Recorded]>>,
    /// The vault's durable entries, changed by the writer only, after each successful write.
    vault: RwLock<BTreeMap<String, Vec<u8>>>,
}

impl Shared {
    pub(crate) fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    pub(crate) fn poisoned(&self) -> Option<String> {
        lock(&self.poisoned).clone()
    }

    pub(crate) fn listen(&self) -> broadcast::Receiver<Arc<[Recorded]>> {
        self.published.subscribe()
    }

    pub(crate) fn vault_get(&self, key: &str) -> Option<Vec<u8>> {
        self.vault.read().unwrap_or_else(PoisonError::into_inner).get(key).cloned()
    }

    pub(crate) fn vault_scan(&self, prefix: &str) -> Vec<(String, Vec<u8>)> {
        let vault = self.vault.read().unwrap_or_else(PoisonError::into_inner);
        vault
            .range(prefix.to_owned()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }
}

/// Where a log whose last record is `last` goes on: that record's seq and time (0 and the epoch
/// for an empty log).
pub(crate) fn end_of(last: Option<&Recorded>) -> (u64, Timestamp) {
    last.map_or((0, Timestamp::default()), |r| (r.seq, r.at))
}

/// The group committer of one log.
pub(crate) struct Committer {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Committer {
    /// Starts the writer over `sink`, whose last durable record is `last_seq` at `last_at` and
    /// whose vault holds `vault`, telling `observer` each group write's duration.
    pub(crate) fn start<S: Sink>(
        sink: Arc<S>,
        last_seq: u64,
        last_at: Timestamp,
        vault: BTreeMap<String, Vec<u8>>,
        observer: WriteObserver,
    ) -> Self {
        let (tx, rx) = sync_channel(1_024);
        let (published, _) = broadcast::channel(BROADCAST_CAPACITY);
        let shared = Arc::new(Shared {
            durable: AtomicU64::new(last_seq),
            poisoned: Mutex::new(None),
            sequencer: Mutex::new(Sequencer {
                next_seq: last_seq + 1,
                last_at,
                in_flight: HashSet::new(),
                queued: 0,
                queue: Some(tx),
            }),
            published,
            vault: RwLock::new(vault),
        });
        let writer_shared = shared.clone();
        let writer = std::thread::Builder::new()
            .name("pacer-log-writer".into())
            .spawn(move || write_loop(sink, writer_shared, rx, observer))
            .ok();
        Self { shared, writer }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Appends `batch` and waits until it is durable.
    pub(crate) fn append<S: Sink>(&self, sink: &S, batch: Batch) -> Result<Receipt, StoreError> {
        if let Some(reason) = self.shared.poisoned() {
            return Err(StoreError::Poisoned(reason));
        }
        let (reply, answer) = sync_channel(1);
        {
            let mut seq = lock(&self.shared.sequencer);
            if let Some(expected) = batch.expected_first_seq
                && expected != seq.next_seq
            {
                return Err(StoreError::SeqConflict { expected, actual: seq.next_seq });
            }
            if batch.records.is_empty() && batch.vault.is_empty() {
                return Ok(Vec::new());
            }
            let mut batch_keys = HashSet::new();
            for key in &batch.keys {
                if !batch_keys.insert(key.as_str()) || seq.in_flight.contains(key) || sink.key_exists(key)? {
                    return Err(StoreError::Duplicate(key.clone()));
                }
            }
            let mut records = Vec::with_capacity(batch.records.len());
            for new in batch.records {
                seq.last_at = seq.last_at.max(new.at);
                records.push(Recorded {
                    seq: seq.next_seq,
                    at: seq.last_at,
                    actor: new.actor,
                    request_id: new.request_id,
                    event: new.event,
                });
                seq.next_seq += 1;
            }
            seq.in_flight.extend(batch.keys.iter().cloned());
            let queue = seq.queue.as_ref().ok_or(StoreError::Closed)?;
            let request = Request { records, keys: batch.keys, vault: batch.vault, reply };
            queue.send(request).map_err(|_| StoreError::Closed)?;
            seq.queued += 1;
        }
        answer.recv().map_err(|_| StoreError::Closed)?
    }
}

impl Committer {
    /// Accepts appends again after a failed write, from `last_seq` at `last_at` (what the
    /// storage holds once reopened). Refused while a request of before the failure is still
    /// queued: its seq would be given twice.
    pub(crate) fn recover(
        &self,
        last_seq: u64,
        last_at: Timestamp,
        vault: BTreeMap<String, Vec<u8>>,
    ) -> Result<(), StoreError> {
        let mut seq = lock(&self.shared.sequencer);
        if seq.queued > 0 {
            return Err(StoreError::Write("writes from before the failure are still being refused".into()));
        }
        seq.next_seq = last_seq + 1;
        seq.last_at = last_at;
        self.shared.durable.store(last_seq, Ordering::Release);
        *self.shared.vault.write().unwrap_or_else(PoisonError::into_inner) = vault;
        *lock(&self.shared.poisoned) = None;
        Ok(())
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        lock(&self.shared.sequencer).queue = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn write_loop<S: Sink>(sink: Arc<S>, shared: Arc<Shared>, queue: Receiver<Request>, observer: WriteObserver) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        let mut count = group[0].records.len();
        while count < MAX_GROUP_RECORDS {
            match queue.try_recv() {
                Ok(request) => {
                    count += request.records.len();
                    group.push(request);
                }
                Err(_) => break,
            }
        }
        let outcome = write_group(&*sink, &shared, &group, &observer);
        {
            let mut seq = lock(&shared.sequencer);
            seq.queued -= group.len();
            for request in &group {
                for key in &request.keys {
                    seq.in_flight.remove(key);
                }
            }
        }
        match outcome {
            Ok(()) => {
                if let Some(last) = group.iter().rev().find_map(|r| r.records.last()) {
                    shared.durable.store(last.seq, Ordering::Release);
                }
                if group.iter().any(|r| !r.vault.is_empty()) {
                    let mut vault = shared.vault.write().unwrap_or_else(PoisonError::into_inner);
                    for write in group.iter().flat_map(|r| &r.vault) {
                        write.apply_to(&mut vault);
                    }
                }
                // Copies for subscribers only when there are any. A subscriber that registers
                // after this check finds the group durable already and reads it from the log
                // (registering and counting take the same lock, after `durable` is stored).
                if shared.published.receiver_count() > 0 {
                    let all: Arc<[Recorded]> = group.iter().flat_map(|r| r.records.iter().cloned()).collect();
                    let _ = shared.published.send(all);
                }
                for request in group {
                    let _ = request.reply.send(Ok(request.records));
                }
            }
            Err(error) => {
                for request in group {
                    let _ = request.reply.send(Err(error.clone()));
                }
            }
        }
    }
}

fn write_group<S: Sink>(
    sink: &S,
    shared: &Shared,
    group: &[Request],
    observer: &WriteObserver,
) -> Result<(), StoreError> {
    if let Some(reason) = shared.poisoned() {
        return Err(StoreError::Poisoned(reason));
    }
    let poison = |reason: String| {
        tracing::error!(%reason, "log write failed; refusing further writes");
        *lock(&shared.poisoned) = Some(reason.clone());
        StoreError::Write(reason)
    };
    let records: Vec<&Recorded> = group.iter().flat_map(|r| &r.records).collect();
    let encoded = records
        .iter()
        .map(|record| encode_record(record))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| poison(e.to_string()))?;
    let keys: Vec<(String, u64)> = group
        .iter()
        .flat_map(|r| {
            let seq = r.records.first().map_or(0, |rec| rec.seq);
            r.keys.iter().map(move |k| (k.clone(), seq))
        })
        .collect();
    let vault: Vec<&VaultWrite> = group.iter().flat_map(|r| &r.vault).collect();
    let started = Instant::now();
    let written = sink.write(&records, &encoded, &keys, &vault);
    observer(started.elapsed());
    written.map_err(poison)
}
