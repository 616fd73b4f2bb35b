//! Subscriptions: follow the log from any seq. A subscriber first replays history from the
//! log, then takes live batches from the writer's broadcast; it registers for live batches
//! before reading history and skips what it already has, so it sees every record exactly once
//! and in order. A subscriber too slow for the broadcast buffer catches up from the log instead
//! of skipping.

use crate::commit::Shared;
use crate::error::StoreError;
use pacer_domain::Recorded;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};

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
                self.buffered.extend(self.history.read(self.next, CATCH_UP_CHUNK)?);
                if self.buffered.is_empty() {
                    return Err(StoreError::Read(format!("record {} missing from the log", self.next)));
                }
                continue;
            }
            match self.live.recv().await {
                Ok(batch) => self.buffered.extend(batch.iter().filter(|r| r.seq >= self.next).cloned()),
                Err(RecvError::Lagged(_)) => continue, // catch up from the log
                Err(RecvError::Closed) => return Err(StoreError::Closed),
            }
        }
    }

    /// The next record if one is already durable, without waiting.
    pub fn try_next(&mut self) -> Result<Option<Recorded>, StoreError> {
        if let Some(record) = self.take_buffered() {
            return Ok(Some(record));
        }
        if self.shared.durable() >= self.next {
            self.buffered.extend(self.history.read(self.next, CATCH_UP_CHUNK)?);
        }
        Ok(self.take_buffered())
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
