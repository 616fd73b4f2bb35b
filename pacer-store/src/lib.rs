//! Pacer's append-only event log, our own on RocksDB: bincode envelopes under big-endian seq
//! keys, durable group-committed appends with idempotency keys written in the same batch,
//! indexes for the audit view (action, time) and for subjects (a job's timeline), snapshot
//! files tagged with the seq they cover, and subscriptions that resume from any seq.
//!
//! Main types: [`EventLog`] (the trait), [`RocksLog`], [`DynamoLog`] (shared by replicas, in
//! DynamoDB with snapshots in S3) and [`MemoryLog`] (its implementations, held to one
//! conformance suite), [`Subscription`], [`WriteObserver`] (told
//! each durable write's duration), and [`load_state`] to start from the newest snapshot plus
//! the tail. The log never rewrites a record and deletes only a prefix of them, below a verified
//! snapshot that becomes the base a start folds from ([`prune`]); it
//! never acknowledges an append before it is fsynced, and after a failed write refuses every
//! later one (poisoned) instead of running on, until [`EventLog::recover`] has reopened it and
//! proved it takes writes again. Snapshots are bound to the log by an anchor ([`anchor_of`])
//! and written from the log alone ([`write_snapshot`]). Every record carries a hash chained to
//! the one before ([`ChainHash`]), which [`verify_chain`] checks and [`export_chain`] hands out.

mod chain;
mod codec;
mod commit;
#[cfg(feature = "dynamodb")]
mod dynamo;
mod error;
mod lease;
mod log;
mod memory;
#[cfg(feature = "rocksdb")]
mod migrate;
mod prune;
mod replay;
#[cfg(feature = "rocksdb")]
mod rocks;
mod subscribe;

pub use chain::{
    ChainBreak, ChainHash, ChainLink, ChainReport, canonical_form, chain_head, export_chain, verify_chain,
};
pub use codec::{
    BincodeCodec, SNAPSHOT_FORMAT, Snapshot, SnapshotRejected, StoredChunk, anchor_of, decode_chained,
    decode_record, decode_snapshot, encode_chained, encode_record, encode_snapshot, read_snapshot,
    write_snapshot_to,
};
pub use commit::WriteObserver;
#[cfg(feature = "dynamodb")]
pub use dynamo::{DynamoLog, DynamoSettings, SWEEP_DELAY, StaticCredentials, VAULT_CHANGES_KEPT};
pub use error::StoreError;
pub use lease::{Heartbeat, LeaseRow, LeaseTable, MemoryLeaseTable};
pub use log::{
    AuditQuery, Batch, COLD_PREFIX, EventLog, LogBase, NewRecord, Receipt, SnapshotReader, SnapshotSink,
    VaultWrite,
};
pub use memory::MemoryLog;
#[cfg(feature = "rocksdb")]
pub use migrate::{Copied, copy_log};
pub use prune::{Pruned, prune};
pub use replay::{
    SnapshotWritten, Snapshotter, StartReport, Verification, fold_tail, load_state, save_state, verify,
    verify_base, write_snapshot,
};
#[cfg(feature = "rocksdb")]
pub use rocks::RocksLog;
pub use subscribe::Subscription;
