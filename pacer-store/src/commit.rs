//! Group commit shared by every backend: appenders get their seqs in order under a short lock
//! and hand their batch to one writer thread, which drains whatever is queued, writes it all in
//! one atomic, durable write (timed, for the log's [`WriteObserver`]), publishes it to
//! subscribers (and its vault changes to the in-memory vault) and answers every appender. The
//! first failed write poisons the log: every later append is refused, so the process never runs
//! on with state it could not save, until the backend has reopened its storage and
//! [`Committer::recover`] resets the sequence to it. The writer chains each record it writes to
//! the last one before it ([`crate::chain`]): records get their hashes when they are encoded
//! for a write, so a batch given new seqs after losing a race is hashed again after the
//! winner's records.
//!
//! A backend shared with other writers (other processes appending to the same log) may refuse
//! a write without failing: another writer appended first, or recorded one of the group's
//! idempotency keys first ([`WriteError::Refused`]). Then the writer answers the batches holding
//! a recorded key [`StoreError::Duplicate`] and gives every batch not yet written new seqs after
//! the log's new end (the refusal tells where it is): one that expected its first seq
//! ([`Batch::expected_first_seq`]) is answered [`StoreError::SeqConflict`] instead, once what the
//! others appended is published ([`Sink::tail`]: its author decided against state that missed
//! their records and must catch up before deciding again); the others are written again at
//! once, and the others' records are read and published, in order, right after, before the
//! writer's own. Reading them first would lose every race to a writer that keeps appending.
//! Such a backend is also polled, while the writer is idle, for what the others appended,
//! published the same way as local writes.

use crate::chain::ChainHash;
use crate::codec::{decode_chained, encode_chained};
use crate::error::StoreError;
use crate::log::{Batch, COLD_PREFIX, Receipt, VaultWrite};
use pacer_domain::{Recorded, Timestamp};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Most records one physical write takes.
const MAX_GROUP_RECORDS: usize = 16_384;
/// Batches buffered for subscribers before a slow one must catch up from the log.
const BROADCAST_CAPACITY: usize = 4_096;
/// How many times in a row a batch may lose the race to append to other writers (and be given
/// new seqs and written again) before it is refused ([`StoreError::SeqConflict`]).
const MAX_RETRIES: u32 = 32;
/// How long after it last lost a race or read another writer's records a writer yields to
/// others (see `Writer::yield_to_others`).
const CONTENTION_MEMORY: Duration = Duration::from_secs(1);
/// The longest write time a yield to other writers is measured by.
const YIELD_WRITE_MAX: Duration = Duration::from_millis(100);

/// One batch as the writer hands it to a [`Sink`]: its records (with their seqs), their
/// encodings and chain hashes, its idempotency keys and its vault changes.
pub(crate) struct Staged<'a> {
    pub(crate) records: &'a [Recorded],
    pub(crate) encoded: &'a [Vec<u8>],
    /// Read by the shared log, which stores the last one in its head.
    #[cfg_attr(not(feature = "dynamodb"), allow(dead_code))]
    pub(crate) chain: &'a [ChainHash],
    pub(crate) keys: &'a [String],
    pub(crate) vault: &'a [VaultWrite],
}

impl Staged<'_> {
    /// The seq its keys are recorded against: its first record's (0 for vault changes only).
    pub(crate) fn key_seq(&self) -> u64 {
        self.records.first().map_or(0, |r| r.seq)
    }
}

/// Why a [`Sink::write`] did not write (all of) a group.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// The write failed (the log is poisoned); only the first `written` batches are durable.
    Failed { written: usize, reason: String },
    /// Nothing from batch `written` on was written, and that is no failure: another writer
    /// appended first (`behind`: the group's seqs may be taken; `head`, when known, is where the
    /// log ends now), and/or the listed batches (by index in the group) hold an idempotency key
    /// another writer recorded. Only a shared log's sink refuses.
    #[cfg_attr(not(feature = "dynamodb"), allow(dead_code))]
    Refused { written: usize, behind: bool, head: Option<End>, duplicates: Vec<(usize, String)> },
}

/// What other writers appended after a seq (see [`Sink::tail`]).
#[derive(Default)]
pub(crate) struct Tail {
    /// Their records, from the seq after on, in order.
    pub(crate) records: Vec<Recorded>,
    /// The chain hash of the last of `records`.
    pub(crate) chain: ChainHash,
    /// Their vault changes, in order.
    pub(crate) vault: Vec<VaultWrite>,
    /// The whole vault as it is now, when their changes can no longer be told one by one
    /// (`vault` is empty then).
    pub(crate) whole_vault: Option<BTreeMap<String, Vec<u8>>>,
    /// Whether they appended more than `records` holds (the next call reads on).
    pub(crate) more: bool,
}

/// Where the writer puts records: atomic, durable writes of encoded records, keys and vault
/// changes.
pub(crate) trait Sink: Send + Sync + 'static {
    /// Writes `group` (batches whose records follow `last_seq`, in order) durably, each batch
    /// atomically; a log only this process writes writes the whole group in one write.
    fn write(&self, last_seq: u64, group: &[Staged<'_>]) -> Result<(), WriteError>;

    /// Whether `key` is recorded.
    fn key_exists(&self, key: &str) -> Result<bool, StoreError>;

    /// Whether [`Sink::write`] itself refuses a key recorded already ([`WriteError::Refused`]),
    /// as a log shared with other writers must: then appenders look their keys up before taking
    /// the sequencer lock (a slow lookup holds up no other appender), not under it.
    fn write_checks_keys(&self) -> bool {
        false
    }

    /// Refuses a batch this sink could never write atomically, before it is given seqs.
    fn admit(&self, _batch: &Batch) -> Result<(), StoreError> {
        Ok(())
    }

    /// How often the idle writer looks for what other writers appended (`None`: there are no
    /// other writers).
    fn poll_interval(&self) -> Option<Duration> {
        None
    }

    /// What other writers appended after `last_seq` (records in bounded steps, see
    /// [`Tail::more`]) and the vault changes they made since the last call;
    /// [`StoreError::Pruned`] when the log was pruned past `last_seq`.
    fn tail(&self, _last_seq: u64) -> Result<Tail, StoreError> {
        Ok(Tail::default())
    }
}

/// Told how long each group write took (the write and its sync, failed ones included), on the
/// log's writer thread, before the group's appenders are answered: how slow the disk is, as the
/// appenders wait for it. Set when the log is opened; it should return at once.
pub type WriteObserver = Box<dyn Fn(Duration) + Send>;

struct Request {
    records: Vec<Recorded>,
    keys: Vec<String>,
    vault: Vec<VaultWrite>,
    expected_first_seq: Option<u64>,
    /// The chain hashes of its records, as last written.
    chain: Vec<ChainHash>,
    /// Times its write lost the race to other writers.
    retries: u32,
    reply: SyncSender<Result<Receipt, StoreError>>,
}

impl Request {
    fn first_seq(&self) -> Option<u64> {
        self.records.first().map(|r| r.seq)
    }
}

struct Sequencer {
    next_seq: u64,
    last_at: Timestamp,
    /// The record the next write follows: the last durable one as far as the writer knows (on a
    /// shared log, ahead of the last one published while other writers' records are unread).
    base: End,
    in_flight: HashSet<String>,
    /// Requests handed to the writer and not yet answered.
    queued: usize,
    /// To the writer. Unbounded: each appender waits for its own answer, so it holds at most
    /// one request per appending thread, and sending (under this lock, which the writer needs
    /// too) never blocks.
    queue: Option<Sender<Request>>,
}

impl Sequencer {
    /// Forgets an answered request.
    fn release(&mut self, request: &Request) {
        self.queued -= 1;
        for key in &request.keys {
            self.in_flight.remove(key);
        }
    }
}

/// State shared by appenders, the writer thread and readers.
pub(crate) struct Shared {
    durable: AtomicU64,
    poisoned: Mutex<Option<String>>,
    sequencer: Mutex<Sequencer>,
    published: broadcast::Sender<Arc<[Recorded]>>,
    /// The vault's durable entries, changed by the writer only, after each successful write.
    vault: RwLock<BTreeMap<String, Vec<u8>>>,
    /// Whether cold entries ([`crate::COLD_PREFIX`]) stay out of `vault` (the log reads them
    /// from disk).
    cold_on_disk: AtomicBool,
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

    /// Replaces the in-memory vault with `whole` (its cold entries stay on disk when they live
    /// there).
    fn replace_vault(&self, mut whole: BTreeMap<String, Vec<u8>>) {
        if self.cold_on_disk.load(Ordering::Relaxed) {
            whole.retain(|key, _| !key.starts_with(COLD_PREFIX));
        }
        *self.vault.write().unwrap_or_else(PoisonError::into_inner) = whole;
    }

    /// Makes durable `records` (in order, right after the last durable one) and vault changes
    /// visible: the durable watermark, the in-memory vault, then subscribers.
    fn publish<'a>(
        &self,
        records: impl Iterator<Item = &'a Recorded> + Clone,
        vault: impl Iterator<Item = &'a VaultWrite>,
    ) {
        if let Some(last) = records.clone().last() {
            self.durable.store(last.seq, Ordering::Release);
        }
        let mut vault = vault.peekable();
        if vault.peek().is_some() {
            let cold_on_disk = self.cold_on_disk.load(Ordering::Relaxed);
            let mut entries = self.vault.write().unwrap_or_else(PoisonError::into_inner);
            for write in vault.filter(|w| !(cold_on_disk && w.key.starts_with(COLD_PREFIX))) {
                write.apply_to(&mut entries);
            }
        }
        // Copies for subscribers only when there are any. A subscriber that registers after
        // this check finds the records durable already and reads them from the log
        // (registering and counting take the same lock, after `durable` is stored).
        if self.published.receiver_count() > 0 {
            let all: Arc<[Recorded]> = records.cloned().collect();
            if !all.is_empty() {
                let _ = self.published.send(all);
            }
        }
    }
}

/// Where a log ends: its last record's seq, time and chain hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct End {
    pub(crate) seq: u64,
    pub(crate) at: Timestamp,
    /// What the next record links to: the last record's hash, or [`ChainHash::GENESIS`] for an
    /// empty log and after a record written before the chain existed (the next starts it).
    pub(crate) chain: ChainHash,
}

/// Where a log ends whose last record is `last` (its seq and stored bytes).
pub(crate) fn end_of(last: Option<(u64, &[u8])>) -> Result<End, StoreError> {
    let Some((seq, stored)) = last else { return Ok(End::default()) };
    let (record, hash) = decode_chained(seq, stored)?;
    Ok(End { seq, at: record.at, chain: hash.unwrap_or(ChainHash::GENESIS) })
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
    /// Starts the writer over `sink`, which ends at `end` and whose vault holds `vault`,
    /// telling `observer` each group write's duration.
    pub(crate) fn start<S: Sink>(
        sink: Arc<S>,
        end: End,
        vault: BTreeMap<String, Vec<u8>>,
        observer: WriteObserver,
    ) -> Self {
        let (tx, rx) = channel();
        let (published, _) = broadcast::channel(BROADCAST_CAPACITY);
        let shared = Arc::new(Shared {
            durable: AtomicU64::new(end.seq),
            poisoned: Mutex::new(None),
            sequencer: Mutex::new(Sequencer {
                next_seq: end.seq + 1,
                last_at: end.at,
                base: end,
                in_flight: HashSet::new(),
                queued: 0,
                queue: Some(tx),
            }),
            published,
            vault: RwLock::new(vault),
            cold_on_disk: AtomicBool::new(false),
        });
        let writer_shared = shared.clone();
        let writer = std::thread::Builder::new()
            .name("pacer-log-writer".into())
            .spawn(move || {
                let writer = Writer {
                    sink,
                    shared: writer_shared,
                    queue: rx,
                    observer,
                    pending: VecDeque::new(),
                    polled: Instant::now(),
                    contended_until: None,
                    last_write: Duration::ZERO,
                };
                writer.run()
            })
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
        sink.admit(&batch)?;
        let keys_checked_by_write = sink.write_checks_keys();
        if keys_checked_by_write && !(batch.records.is_empty() && batch.vault.is_empty()) {
            for key in &batch.keys {
                if sink.key_exists(key)? {
                    return Err(StoreError::Duplicate(key.clone()));
                }
            }
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
                if !batch_keys.insert(key.as_str())
                    || seq.in_flight.contains(key)
                    || (!keys_checked_by_write && sink.key_exists(key)?)
                {
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
            let request = Request {
                records,
                keys: batch.keys,
                vault: batch.vault,
                expected_first_seq: batch.expected_first_seq,
                chain: Vec::new(),
                retries: 0,
                reply,
            };
            queue.send(request).map_err(|_| StoreError::Closed)?;
            seq.queued += 1;
        }
        answer.recv().map_err(|_| StoreError::Closed)?
    }
}

impl Committer {
    /// Keeps cold vault entries out of memory from now on: the log reads them from disk (call
    /// before the first append, with a vault loaded without them).
    #[cfg_attr(not(feature = "rocksdb"), allow(dead_code))]
    pub(crate) fn keep_cold_on_disk(&self) {
        self.shared.cold_on_disk.store(true, Ordering::Relaxed);
    }

    /// Accepts appends again after a failed write, from `end` (where the storage ends once
    /// reopened). Refused while a request of before the failure is still queued: its seq would
    /// be given twice.
    pub(crate) fn recover(&self, end: End, vault: BTreeMap<String, Vec<u8>>) -> Result<(), StoreError> {
        let mut seq = lock(&self.shared.sequencer);
        if seq.queued > 0 {
            return Err(StoreError::Write("writes from before the failure are still being refused".into()));
        }
        seq.next_seq = end.seq + 1;
        seq.last_at = end.at;
        seq.base = end;
        self.shared.durable.store(end.seq, Ordering::Release);
        *self.shared.vault.write().unwrap_or_else(PoisonError::into_inner) = vault;
        *lock(&self.shared.poisoned) = None;
        Ok(())
    }

    /// Accepts appends again after a failed write, from the last record written as far as the
    /// writer knows (a shared log's writer learns where the log ends from its next write, and
    /// publishes what the failed write did store as it finds it, like what other writers
    /// appended). Refused while a request of before the failure is still queued.
    #[cfg_attr(not(feature = "dynamodb"), allow(dead_code))]
    pub(crate) fn recover_in_place(&self) -> Result<(), StoreError> {
        let mut seq = lock(&self.shared.sequencer);
        if seq.queued > 0 {
            return Err(StoreError::Write("writes from before the failure are still being refused".into()));
        }
        seq.next_seq = seq.base.seq + 1;
        seq.last_at = seq.base.at;
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

/// How a group write went.
enum Outcome {
    Written,
    /// Only the first `written` requests are durable; the rest failed with `error`.
    Failed {
        written: usize,
        error: StoreError,
    },
    /// See [`WriteError::Refused`].
    Refused {
        written: usize,
        behind: bool,
        head: Option<End>,
        duplicates: Vec<(usize, String)>,
    },
}

/// The writer thread's state.
struct Writer<S> {
    sink: Arc<S>,
    shared: Arc<Shared>,
    queue: Receiver<Request>,
    observer: WriteObserver,
    /// Requests taken from the queue (with their seqs) and not yet written: given new seqs
    /// after a refused write, they go before whatever is still queued.
    pending: VecDeque<Request>,
    /// When the sink was last asked what other writers appended.
    polled: Instant,
    /// Until when another writer counts as appending too (see [`Writer::yield_to_others`]).
    contended_until: Option<Instant>,
    /// How long the last group write took.
    last_write: Duration,
}

impl<S: Sink> Writer<S> {
    fn run(mut self) {
        loop {
            let first = match self.pending.pop_front() {
                Some(request) => request,
                None => match self.wait() {
                    Some(request) => request,
                    None => return,
                },
            };
            let mut group = vec![first];
            let mut count = group[0].records.len();
            while count < MAX_GROUP_RECORDS {
                match self.pending.pop_front().or_else(|| self.queue.try_recv().ok()) {
                    Some(request) => {
                        count += request.records.len();
                        group.push(request);
                    }
                    None => break,
                }
            }
            if group.iter().all(|r| r.retries == 0) {
                self.yield_to_others();
            }
            let base = lock(&self.shared.sequencer).base;
            let started = Instant::now();
            let outcome = write_group(&*self.sink, &self.shared, base, &mut group, &self.observer);
            self.last_write = started.elapsed();
            self.settle(group, base.seq, outcome);
            if self.sink.poll_interval().is_some_and(|every| self.polled.elapsed() >= every) {
                self.poll();
            }
        }
    }

    /// The next queued request; while none comes, polls for what other writers appended.
    /// `None` once the log is closed. A poll that learns of other writers' records gives the
    /// requests queued meanwhile new seqs and moves them to `pending`: the first of those is
    /// the next request then.
    fn wait(&mut self) -> Option<Request> {
        loop {
            let Some(every) = self.sink.poll_interval() else {
                return self.queue.recv().ok();
            };
            match self.queue.recv_timeout(every.saturating_sub(self.polled.elapsed())) {
                Ok(request) => return Some(request),
                Err(RecvTimeoutError::Timeout) => {
                    self.poll();
                    if let Some(request) = self.pending.pop_front() {
                        return Some(request);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// While another writer appends too, waits a random time of up to two writes before writing
    /// anything new. A writer that lost a race writes again as soon as it learns so, but
    /// the winner's next write is on its way by then: without this pause a writer that keeps
    /// appending would win every race, and the other's batches would run out of tries.
    fn yield_to_others(&self) {
        if self.contended_until.is_some_and(|until| Instant::now() < until) {
            let random = random();
            // Up to two writes' time: the loser learns it lost about one write after the winner
            // learns it won (its write was taken after the winner's). A slow write (one that
            // failed after the SDK's retries, say) does not make the next wait long.
            let write = self.last_write.min(YIELD_WRITE_MAX);
            std::thread::sleep(write.mul_f64((random % 2_048) as f64 / 1_024.0));
        }
    }

    /// Remembers that another writer appends too.
    fn contended(&mut self) {
        self.contended_until = Some(Instant::now() + CONTENTION_MEMORY);
    }

    /// Publishes what other writers appended; requests already given seqs get new ones after
    /// theirs.
    fn poll(&mut self) {
        if self.catch_up() {
            let conflicts = self.resequence(Vec::new());
            self.answer(conflicts);
        }
    }

    /// Answers the requests of a group written after `base`.
    fn settle(&mut self, mut group: Vec<Request>, base: u64, outcome: Outcome) {
        match outcome {
            Outcome::Written => self.succeed(group, base),
            Outcome::Failed { written, error } => {
                let rest = group.split_off(written);
                self.succeed(group, base);
                self.answer(rest.into_iter().map(|request| (request, Err(error.clone()))).collect());
            }
            Outcome::Refused { written, behind, head, duplicates } => {
                if behind {
                    self.contended();
                }
                let rest = group.split_off(written);
                self.succeed(group, base);
                let mut answers = Vec::new();
                let mut retry = Vec::new();
                let mut exhausted = Vec::new();
                for (i, mut request) in (written..).zip(rest) {
                    if let Some((_, key)) = duplicates.iter().find(|(at, _)| *at == i) {
                        answers.push((request, Err(StoreError::Duplicate(key.clone()))));
                        continue;
                    }
                    request.retries += u32::from(behind);
                    match request.retries > MAX_RETRIES {
                        true => exhausted.push(request),
                        false => retry.push(request),
                    }
                }
                let actual = {
                    let mut seq = lock(&self.shared.sequencer);
                    if let Some(head) = head
                        && head.seq > seq.base.seq
                    {
                        seq.base = End { at: seq.base.at.max(head.at), ..head };
                    }
                    seq.base.seq + 1
                };
                for request in exhausted {
                    let expected = request.first_seq().unwrap_or(actual);
                    answers.push((request, Err(StoreError::SeqConflict { expected, actual })));
                }
                answers.extend(self.resequence(retry));
                // Those told to decide again must find the others' records in the log first;
                // the rest is written again right away (the others' records are read after).
                if answers.iter().any(|(_, answer)| matches!(answer, Err(StoreError::SeqConflict { .. })))
                    && self.catch_up()
                {
                    answers.extend(self.resequence(Vec::new()));
                }
                self.answer(answers);
            }
        }
    }

    /// Publishes requests written after `base` (after what other writers appended before, when
    /// that is not published yet) and answers them.
    fn succeed(&mut self, group: Vec<Request>, base: u64) {
        if group.is_empty() {
            return;
        }
        {
            let mut seq = lock(&self.shared.sequencer);
            for request in &group {
                seq.release(request);
            }
            if let Some((last, &chain)) =
                group.iter().rev().find_map(|r| r.records.last().zip(r.chain.last()))
            {
                seq.base = End { seq: last.seq, at: last.at, chain };
            }
        }
        let vault = group.iter().flat_map(|r| &r.vault);
        if self.shared.durable() == base {
            self.shared.publish(group.iter().flat_map(|r| &r.records), vault);
        } else {
            // Records of other writers come first: read from the log with these after them.
            // (Vault reads see values as they are now, so this group's changes apply at once.)
            self.shared.publish([].iter(), vault);
            if self.catch_up() {
                let conflicts = self.resequence(Vec::new());
                self.answer(conflicts);
            }
        }
        for request in group {
            let _ = request.reply.send(Ok(request.records));
        }
    }

    /// Answers requests that will not be written.
    fn answer(&self, answers: Vec<(Request, Result<Receipt, StoreError>)>) {
        if answers.is_empty() {
            return;
        }
        let mut seq = lock(&self.shared.sequencer);
        for (request, _) in &answers {
            seq.release(request);
        }
        drop(seq);
        for (request, answer) in answers {
            let _ = request.reply.send(answer);
        }
    }

    /// Publishes what is in the log past the last record published (other writers' records,
    /// and this one's written after them); true when that moved the log's end beyond what the
    /// writer knew.
    fn catch_up(&mut self) -> bool {
        self.polled = Instant::now();
        let mut moved = false;
        loop {
            let after = self.shared.durable();
            let mut tail = match self.sink.tail(after) {
                Ok(tail) => tail,
                Err(StoreError::Pruned { through }) => {
                    // What it missed is gone: its state can no longer follow the log.
                    let reason = format!(
                        "this process fell behind the shared log's base (records through seq {through} were pruned before it read them); it starts over from the snapshots when it recovers"
                    );
                    tracing::error!(%reason, "refusing further writes");
                    *lock(&self.shared.poisoned) = Some(reason);
                    return moved;
                }
                Err(error) => {
                    tracing::warn!(%error, "could not read what other writers appended");
                    return moved;
                }
            };
            if let Some(first) = tail.records.first()
                && first.seq != after + 1
            {
                tracing::warn!(after, first = first.seq, "the records read do not follow the log's end");
                return moved;
            }
            if let Some(last) = tail.records.last() {
                let mut seq = lock(&self.shared.sequencer);
                if last.seq > seq.base.seq {
                    seq.base = End { seq: last.seq, at: last.at, chain: tail.chain };
                    moved = true;
                }
            }
            if !tail.records.is_empty() {
                self.contended();
            }
            if let Some(whole) = tail.whole_vault.take() {
                self.shared.replace_vault(whole);
            }
            self.shared.publish(tail.records.iter(), tail.vault.iter());
            if !tail.more {
                return moved;
            }
        }
    }

    /// Gives every request not yet written (`retry`, then those pending, then those still
    /// queued, in that order) new seqs after the last record written; those that expected
    /// another first seq are returned, answered, instead.
    fn resequence(&mut self, retry: Vec<Request>) -> Vec<(Request, Result<Receipt, StoreError>)> {
        let mut answers = Vec::new();
        let mut seq = lock(&self.shared.sequencer);
        let mut waiting: Vec<Request> = retry;
        waiting.extend(self.pending.drain(..));
        // Appenders send under the sequencer lock: nothing is added while it is held.
        waiting.extend(self.queue.try_iter());
        let mut next = seq.base.seq + 1;
        let mut last_at = seq.base.at;
        for mut request in waiting {
            if let Some(expected) = request.expected_first_seq
                && expected != next
            {
                answers.push((request, Err(StoreError::SeqConflict { expected, actual: next })));
                continue;
            }
            for record in &mut request.records {
                record.seq = next;
                record.at = record.at.max(last_at);
                last_at = record.at;
                next += 1;
            }
            self.pending.push_back(request);
        }
        seq.next_seq = next;
        seq.last_at = last_at;
        answers
    }
}

/// A random number (from the standard library's randomly keyed hasher), for jitter and ids.
pub(crate) fn random() -> u64 {
    std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), (std::process::id(), Instant::now()))
}

/// Encodes `group` chained after `base` and writes it.
fn write_group<S: Sink>(
    sink: &S,
    shared: &Shared,
    base: End,
    group: &mut [Request],
    observer: &WriteObserver,
) -> Outcome {
    if let Some(reason) = shared.poisoned() {
        return Outcome::Failed { written: 0, error: StoreError::Poisoned(reason) };
    }
    let poison = |reason: String| {
        tracing::error!(%reason, "log write failed; refusing further writes");
        *lock(&shared.poisoned) = Some(reason.clone());
        StoreError::Write(reason)
    };
    let encoded = match encode_group(group, base.chain) {
        Ok(encoded) => encoded,
        Err(e) => return Outcome::Failed { written: 0, error: poison(e.to_string()) },
    };
    let staged: Vec<Staged> = group
        .iter()
        .zip(&encoded)
        .map(|(r, encoded)| Staged {
            records: &r.records,
            encoded,
            chain: &r.chain,
            keys: &r.keys,
            vault: &r.vault,
        })
        .collect();
    let started = Instant::now();
    let written = sink.write(base.seq, &staged);
    observer(started.elapsed());
    match written {
        Ok(()) => Outcome::Written,
        Err(WriteError::Failed { written, reason }) => Outcome::Failed { written, error: poison(reason) },
        Err(WriteError::Refused { written, behind, head, duplicates }) => {
            Outcome::Refused { written, behind, head, duplicates }
        }
    }
}

/// The stored bytes of each request's records, chained one after the other from `chain`; each
/// request keeps its records' hashes.
fn encode_group(group: &mut [Request], mut chain: ChainHash) -> Result<Vec<Vec<Vec<u8>>>, StoreError> {
    let mut encoded = Vec::with_capacity(group.len());
    for request in group {
        request.chain.clear();
        let mut stored = Vec::with_capacity(request.records.len());
        for record in &request.records {
            let (bytes, hash) = encode_chained(record, &chain)?;
            stored.push(bytes);
            request.chain.push(hash);
            chain = hash;
        }
        encoded.push(stored);
    }
    Ok(encoded)
}
