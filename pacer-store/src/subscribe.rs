//! Subscriptions: follow the log from any seq. A subscriber first replays history from the
//! log, then takes live batches from the writer's broadcast; it registers for live batches
//! before reading history and skips what it already has, so it sees every record exactly once
//! and in order. Batches the broadcast already holds are taken before the log is read, so a
//! subscriber a batch or two behind (the usual case for a busy one) never decodes from disk;
//! one too slow for the broadcast buffer catches up from the log instead of skipping.

use crate::commit::Shared;
use crate::error::StoreError;
use pacer_domain::Recorded;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

/// Reads durable records for catching up.
pub(crate) trait History: Send + Sync {
    fn read(&self, from_seq: u64, limit: usize) -> Result<Vec<Recorded>, StoreError>;
}

const CATCH_UP_CHUNK: usize = 1_024;

/// A live view of the log from some seq on.
pub struct Subscription {
    history: Arc<dyn History>,
    shared: Arc<Shared>,
    live: broadcast::Receiver<Arc<[Recorded]>>,
    next: u64,
    buffered: VecDeque<Recorded>,
}

impl Subscription {
    pub(crate) fn new(history: Arc<dyn History>, shared: Arc<Shared>, after_seq: u64) -> Self {
        let live = shared.listen();
        Self { history, shared, live, next: after_seq + 1, buffered: VecDeque::new() }
    }

    /// The seq of the next record this subscription yields.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// The next record, waiting for it to be appended if need be.
    pub async fn next(&mut self) -> Result<Recorded, StoreError> {
        loop {
            if let Some(record) = self.take_buffered() {
                return Ok(record);
            }
            if self.shared.durable() >= self.next {
                if self.take_published() {
                    continue;
                }
                self.catch_up()?;
                if self.buffered.is_empty() {
                    return Err(StoreError::Read(format!("record {} missing from the log", self.next)));
                }
                continue;
            }
            match self.live.recv().await {
                Ok(batch) => self.buffer(&batch),
                Err(RecvError::Lagged(_)) => continue, // catch up from the log
                Err(RecvError::Closed) => return Err(StoreError::Closed),
            }
        }
    }

    /// The next record if one is already durable, without waiting.
    pub fn try_next(&mut self) -> Result<Option<Recorded>, StoreError> {
        loop {
            if let Some(record) = self.take_buffered() {
                return Ok(Some(record));
            }
            if self.shared.durable() < self.next {
                return Ok(None);
            }
            if !self.take_published() {
                self.catch_up()?;
                return Ok(self.take_buffered());
            }
        }
    }

    /// Buffers the next batch the broadcast already holds, if it starts no later than the next
    /// record; false when there is none (or it lagged, or starts later), so the log must be read.
    fn take_published(&mut self) -> bool {
        loop {
            match self.live.try_recv() {
                Ok(batch) => {
                    let Some(first) = batch.first() else { continue };
                    if batch.last().is_some_and(|last| last.seq < self.next) {
                        continue; // already had it from the log
                    }
                    if first.seq > self.next {
                        return false;
                    }
                    self.buffer(&batch);
                    return true;
                }
                Err(TryRecvError::Empty | TryRecvError::Lagged(_) | TryRecvError::Closed) => return false,
            }
        }
    }

    /// Buffers the next records from the log; refused when the next one was pruned (the log
    /// begins after it).
    fn catch_up(&mut self) -> Result<(), StoreError> {
        let records = self.history.read(self.next, CATCH_UP_CHUNK)?;
        if let Some(first) = records.first().filter(|first| first.seq > self.next) {
            return Err(StoreError::Pruned { through: first.seq - 1 });
        }
        self.buffered.extend(records);
        Ok(())
    }

    fn buffer(&mut self, batch: &[Recorded]) {
        self.buffered.extend(batch.iter().filter(|r| r.seq >= self.next).cloned());
    }

    fn take_buffered(&mut self) -> Option<Recorded> {
        while let Some(record) = self.buffered.pop_front() {
            if record.seq == self.next {
                self.next += 1;
                return Some(record);
            }
            if record.seq > self.next {
                // A gap in what was buffered: drop it and re-read from the log.
                self.buffered.clear();
                return None;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::{Committer, Sink, Staged, WriteError};
    use crate::log::Batch;
    use pacer_domain::{Actor, Event, HealthChanged, Timestamp};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A sink that keeps records in memory and counts the reads subscribers make of it.
    #[derive(Default)]
    struct Counting {
        records: Mutex<Vec<Recorded>>,
        reads: AtomicUsize,
    }

    impl Sink for Counting {
        fn write(&self, _: u64, group: &[Staged<'_>]) -> Result<(), WriteError> {
            let records = group.iter().flat_map(|s| s.records).cloned();
            self.records.lock().expect("lock").extend(records);
            Ok(())
        }
        fn key_exists(&self, _: &str) -> Result<bool, StoreError> {
            Ok(false)
        }
    }

    impl History for Counting {
        fn read(&self, from_seq: u64, limit: usize) -> Result<Vec<Recorded>, StoreError> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            let records = self.records.lock().expect("lock");
            Ok(records.iter().filter(|r| r.seq >= from_seq).take(limit).cloned().collect())
        }
    }

    fn health(i: u64) -> Event {
        Event::HealthChanged(HealthChanged { component: format!("c{i}"), ok: true, message: String::new() })
    }

    #[test]
    fn batches_the_broadcast_holds_are_not_read_from_the_log() {
        let sink = Arc::new(Counting::default());
        let committer =
            Committer::start(sink.clone(), Default::default(), Default::default(), Box::new(|_| {}));
        let append = |i| {
            committer.append(&*sink, Batch::of(Timestamp(1), Actor::System, [health(i)])).expect("append")
        };
        let mut behind = Subscription::new(sink.clone(), committer.shared().clone(), 0);
        for i in 0..3 {
            append(i);
        }
        // Three batches are durable and queued for `behind`: it takes them from memory.
        let seqs: Vec<u64> = (0..3).map(|_| behind.try_next().expect("next").expect("record").seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(sink.reads.load(Ordering::Relaxed), 0, "read from the log");
        assert_eq!(behind.try_next().expect("next"), None);
        // A subscriber that registers after the records were published has to read them.
        let mut late = Subscription::new(sink.clone(), committer.shared().clone(), 1);
        append(3);
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let seqs: Vec<u64> = runtime
            .block_on(async { vec![late.next().await.expect("2").seq, late.next().await.expect("3").seq] });
        assert_eq!(seqs, [2, 3]);
        assert_eq!(sink.reads.load(Ordering::Relaxed), 1, "one catch-up read");
        assert_eq!(runtime.block_on(late.next()).expect("4").seq, 4);
        assert_eq!(runtime.block_on(behind.next()).expect("4").seq, 4);
        assert_eq!(sink.reads.load(Ordering::Relaxed), 1, "the new record came from memory");
    }
}
