//! Store errors.

/// What can go wrong in the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A previous write failed; the store refuses writes until restarted.
    #[error("storage refuses writes after an earlier failure: {0}")]
    Poisoned(String),
    /// The write itself failed (the store is now poisoned).
    #[error("write failed: {0}")]
    Write(String),
    /// A read failed.
    #[error("read failed: {0}")]
    Read(String),
    /// A stored record does not decode.
    #[error("record {seq} is corrupt: {reason}")]
    Corrupt {
        /// Its seq.
        seq: u64,
        /// Why.
        reason: String,
    },
    /// A record does not encode.
    #[error("record {seq} does not encode: {reason}")]
    Encode {
        /// Its seq.
        seq: u64,
        /// Why.
        reason: String,
    },
    /// The batch expected another next seq (someone else appended).
    #[error("expected next seq {expected}, the log is at {actual}")]
    SeqConflict {
        /// What the caller expected.
        expected: u64,
        /// The actual next seq.
        actual: u64,
    },
    /// An idempotency key of the batch is already recorded.
    #[error("idempotency key {0} already recorded")]
    Duplicate(String),
    /// The batch cannot be written as one atomic append to this log (on DynamoDB: too many
    /// idempotency keys and vault changes for one transaction, or a key or value too large);
    /// nothing of it was written, and the log takes other appends.
    #[error("batch refused: {0}")]
    TooLarge(String),
    /// The data directory cannot be opened.
    #[error("cannot open {path}: {reason}")]
    Open {
        /// The directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// A snapshot could not be written or read.
    #[error("snapshot: {0}")]
    Snapshot(String),
    /// The store is shut down.
    #[error("the store is closed")]
    Closed,
    /// The records asked for were pruned: the log begins after `through`.
    #[error("records through seq {through} were pruned; start from the snapshot the log was pruned under")]
    Pruned {
        /// The last pruned seq.
        through: u64,
    },
    /// This log cannot do that.
    #[error("not supported: {0}")]
    Unsupported(String),
}
