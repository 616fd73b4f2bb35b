//! The log shared by replicas: records in one DynamoDB table, snapshots in S3
//! ([`snapshots`]). Several Pacer processes open the same table and append to it; each sees
//! the others' records at the log's end, in the same order.
//!
//! The table has a string partition key `pk` and a string sort key `sk` (seqs as 20 zero-padded
//! digits, so string order is seq order), is billed on demand, and holds:
//! - `pk="head", sk="0"`: `last_seq`, `last_at` (ms), `last_hash` (the last record's chain hash:
//!   a writer that lost a race chains its records to the winner's from the head the refusal
//!   returns) and `vault_version`, where the log ends; once pruned, `base_seq`, `base_at`,
//!   `base_hash` and `base_snapshot`, where it begins ([`crate::LogBase`]).
//!   Every commit updates it on condition that it is still where the writer saw it, so two
//!   writers can never both write seq N: the loser's transaction is cancelled (returning the
//!   head), writes nothing, and its writer tries again after the winner's records, reading
//!   them right after (see [`crate::commit`]). A writer that keeps winning pauses a little
//!   before each new write while another writer is active, so the loser's retries get in.
//! - `pk="log", sk=<seq>`: a record: `rec` (its [`crate::encode_chained`] bytes), `at` (ms) and
//!   `action` (its event name). One whose bytes pass 350 KiB keeps the first 350 KiB there,
//!   the count of the rest in `parts`, and the rest in `pk="part#<seq>", sk=<i:010>` (`rec`).
//!   The first record of a batch with idempotency keys names them in `idem` (taking their
//!   room from its first part), so a prune deletes them with it.
//! - the global secondary index `by_action` (`action`, `sk`, keys only) of the log's items, for
//!   the audit view by action. It is eventually consistent on DynamoDB: what it names is read
//!   back and checked, but the newest records may be missing from it for a moment.
//! - `pk="subj#<subject>", sk=<seq>`: a record is about that subject ([`crate::EventLog::subject`],
//!   strongly consistent: written in the record's transaction).
//! - `pk="key#<key>", sk="0"`: `seq`, an idempotency key, put only if absent in the commit
//!   that writes its batch: a key another writer recorded first cancels it, and the batch is
//!   answered [`StoreError::Duplicate`].
//! - `pk="vault", sk=<key>`: `value`, a vault entry (one partition, so opening loads the vault
//!   with one consistent query). A commit changing the vault also bumps the head's
//!   `vault_version` and puts `pk="vchange", sk=<vault_version>` with `keys`, the keys it
//!   changed (never the values), from which the other replicas reload them.
//!   [`EventLog::tidy`] deletes all but the newest [`DynamoSettings::vault_changes_kept`]; a
//!   replica that finds notices of the versions it missed gone reloads the whole vault.
//!
//! A group write becomes one transaction (`TransactWriteItems`) per commit of whole batches:
//! at most 100 items and 4 MB each (and 400 KB an item). A batch too large for one
//! transaction still commits atomically: the transaction that moves the head (with its keys,
//! vault changes and whatever records fit) goes last, after transactions writing the rest of
//! its records on condition that the head has not moved. Nothing reads past the head, and a
//! writer that lost the race overwrites what it left there, so records are only ever seen
//! committed; a subject entry left behind that way is told apart by reading the record. The
//! items written ahead carry their writer and the seq their commit follows (`staged_by`,
//! `staged_after`), and no writer overwrites another's items staged after the same seq: the
//! second of two writers staging at once is refused, waits a moment and tries again after
//! the first's records, so the transaction that moves the head never commits another
//! writer's records. (Items a writer staged before it died hold up other large batches only
//! until any commit moves the head.) A
//! batch whose keys and vault changes alone do not fit in one transaction is refused
//! ([`StoreError::TooLarge`]). Every write is one partition (`log`) and one item (the head):
//! DynamoDB takes about 1,000 write units a second on each, so a log takes appends at about
//! half a megabyte a second.
//!
//! The writer thread polls the head ([`DynamoSettings::poll_interval`]) and publishes what
//! others appended, and reloads the vault entries their notices name (as they are when read, so
//! a replica's vault may run a moment ahead of its records). Reads are strongly
//! consistent (but the audit view by action) and never go past the last record published:
//! [`crate::EventLog::last_seq`] moves on with the polls. Times for the audit view are turned
//! into seqs by a binary search over the records' times, which never decrease with seqs.
//!
//! Pruning ([`EventLog::truncate`]) copies the snapshot it is made under to the base snapshot in
//! S3, then moves the base in the head (only forward): from then on no read of this process
//! goes below it, and the other replicas learn it with their next poll. After
//! [`DynamoSettings::sweep_delay`] (a minute), on a thread of its own, it deletes the items
//! below the base (records, parts, subject entries, the keys they name) with `BatchWriteItem`,
//! each record's own item after the rest, so a prune cut short leaves only items the next one
//! finds and deletes; last it removes the snapshots below the base. A replica that had not
//! read up to the base by then cannot follow the log any more: its log refuses writes
//! (poisoned, `/readyz` says why) until [`EventLog::recover`] starts it over from the log's
//! end (its state rebuilt from the snapshots by the caller).

mod io;
mod lease;
mod snapshots;
mod table;

use crate::codec::StoredChunk;
use crate::commit::{Committer, Sink, WriteObserver};
use crate::error::StoreError;
use crate::log::{AuditQuery, Batch, EventLog, LogBase, Receipt, SnapshotReader, SnapshotSink};
use crate::subscribe::{History, Subscription};
use io::Io;
use pacer_domain::{Recorded, Subject};
use snapshots::Snapshots;
use std::sync::Arc;
use std::time::Duration;
use table::DynamoSink;

/// The vault change notices [`EventLog::tidy`] keeps by default: far more than a live replica
/// falls behind between two polls.
pub const VAULT_CHANGES_KEPT: u64 = 1_000;

/// How long after moving the log's base a prune deletes the items below it, by default.
pub const SWEEP_DELAY: Duration = Duration::from_secs(60);

/// Static AWS credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Where a [`DynamoLog`] keeps its records and snapshots, and how it reaches them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamoSettings {
    /// The DynamoDB table (see [`DynamoLog::ensure_storage`]).
    pub table: String,
    /// The S3 bucket for snapshots.
    pub bucket: String,
    /// Prepended to the snapshots' object keys (`<prefix>snapshots/state-<seq>.snap`), e.g.
    /// `pacer/`; may be empty.
    pub prefix: String,
    /// The AWS region of both.
    pub region: String,
    /// Another endpoint for both services (an emulator); AWS's own when `None`.
    pub endpoint_url: Option<String>,
    /// Credentials to use; AWS's default chain (environment, profile, instance role) when
    /// `None`.
    pub credentials: Option<StaticCredentials>,
    /// The named profile of the shared AWS config and credentials files that default chain
    /// reads; the SDK's own choice (`AWS_PROFILE`, else `default`) when `None`.
    pub profile: Option<String>,
    /// How often the log looks for records other replicas appended.
    pub poll_interval: Duration,
    /// How many of the vault's newest change notices [`EventLog::tidy`] keeps: a replica that
    /// falls further behind reloads the whole vault.
    pub vault_changes_kept: u64,
    /// How long after moving the log's base a prune deletes the items below it (at least two
    /// polls): every replica learns the base meanwhile, and reads begun before it end. A
    /// replica still behind the base then refuses writes until it recovers
    /// ([`EventLog::recover`] starts it over from the log's end).
    pub sweep_delay: Duration,
}

impl DynamoSettings {
    /// Settings for `table` and `bucket` in `region`, with the defaults: no key prefix, AWS's
    /// endpoints and credential chain, polling every 200 ms, keeping the newest
    /// [`VAULT_CHANGES_KEPT`] vault change notices, sweeping a prune's items [`SWEEP_DELAY`]
    /// after it.
    pub fn new(table: impl Into<String>, bucket: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            table: table.into(),
            bucket: bucket.into(),
            prefix: String::new(),
            region: region.into(),
            endpoint_url: None,
            credentials: None,
            profile: None,
            poll_interval: Duration::from_millis(200),
            vault_changes_kept: VAULT_CHANGES_KEPT,
            sweep_delay: SWEEP_DELAY,
        }
    }
}

/// The log in a DynamoDB table, with snapshots in S3, shared by the processes that open it.
pub struct DynamoLog {
    /// First: dropping it stops the writer thread before the clients go.
    committer: Committer,
    sink: Arc<DynamoSink>,
    snapshots: Snapshots,
    table: String,
    vault_changes_kept: u64,
    sweep_delay: Duration,
}

impl DynamoLog {
    /// Opens the log in `settings.table` (which [`DynamoLog::ensure_storage`] creates), telling
    /// `observer` how long each group write (its transactions) took.
    pub fn open(settings: &DynamoSettings, observer: WriteObserver) -> Result<Self, StoreError> {
        let open_err = |reason: String| StoreError::Open { path: location(settings), reason };
        let io = Arc::new(Io::new().map_err(open_err)?);
        let (dynamo, s3) = io.clients(settings).map_err(open_err)?;
        let sink =
            Arc::new(DynamoSink::new(io.clone(), dynamo, settings.table.clone(), settings.poll_interval));
        sink.create_head().map_err(open_err)?;
        let head = sink.head().map_err(open_err)?;
        sink.learn_base(&head);
        // Changes after the head was read have notices past its vault version: the writer
        // reloads them.
        let vault = sink.load_vault().map_err(open_err)?;
        sink.set_vault_version(head.vault_version);
        let committer = Committer::start(sink.clone(), head.end(), vault, observer);
        let snapshots = Snapshots::new(io, s3, settings.bucket.clone(), &settings.prefix);
        tracing::info!(table = %settings.table, last_seq = head.last_seq, "event log open on DynamoDB");
        let (table, vault_changes_kept, sweep_delay) =
            (settings.table.clone(), settings.vault_changes_kept, settings.sweep_delay);
        Ok(Self { committer, sink, snapshots, table, vault_changes_kept, sweep_delay })
    }

    /// Creates the table (with its index) and the bucket when missing, and waits until the
    /// table is active.
    pub fn ensure_storage(settings: &DynamoSettings) -> Result<(), StoreError> {
        let open_err = |reason: String| StoreError::Open { path: location(settings), reason };
        let io = Io::new().map_err(open_err)?;
        let (dynamo, s3) = io.clients(settings).map_err(open_err)?;
        storage::ensure_table(&io, &dynamo, &settings.table).map_err(open_err)?;
        storage::ensure_bucket(&io, &s3, &settings.bucket, &settings.region).map_err(open_err)
    }

    /// The table.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The effects lease's row in this log's table (`pk="lease"`), for replicas to contend
    /// for it.
    pub fn lease_table(&self) -> Arc<dyn crate::LeaseTable> {
        Arc::new(self.sink.lease_table())
    }

    fn history(&self) -> Arc<Durable> {
        Arc::new(Durable { sink: self.sink.clone(), shared: self.committer.shared().clone() })
    }
}

fn location(settings: &DynamoSettings) -> String {
    format!("dynamodb table {} (snapshots in s3://{}/{})", settings.table, settings.bucket, settings.prefix)
}

/// The log's history for subscribers: never past the last record published (what lies beyond
/// the head may be a commit's records that never committed).
struct Durable {
    sink: Arc<DynamoSink>,
    shared: Arc<crate::commit::Shared>,
}

impl History for Durable {
    fn read(&self, from_seq: u64, limit: usize) -> Result<Vec<Recorded>, StoreError> {
        read_durable(&self.sink, self.shared.durable(), from_seq, limit)
    }
}

fn read_durable(
    sink: &DynamoSink,
    end: u64,
    from_seq: u64,
    limit: usize,
) -> Result<Vec<Recorded>, StoreError> {
    let first = from_seq.max(sink.base().link.seq + 1);
    if first > end || limit == 0 {
        return Ok(Vec::new());
    }
    sink.read(first, end.min(first.saturating_add(limit as u64 - 1)))
}

impl EventLog for DynamoLog {
    fn append(&self, batch: Batch) -> Result<Receipt, StoreError> {
        self.committer.append(&*self.sink, batch)
    }

    fn last_seq(&self) -> u64 {
        self.committer.shared().durable()
    }

    fn read(&self, from_seq: u64, limit: usize) -> Result<Vec<Recorded>, StoreError> {
        read_durable(&self.sink, self.last_seq(), from_seq, limit)
    }

    fn scan(
        &self,
        from_seq: u64,
        chunk: usize,
        sink: &mut dyn FnMut(&mut StoredChunk) -> bool,
    ) -> Result<(), StoreError> {
        self.sink.scan(from_seq.max(self.base().link.seq + 1), self.last_seq(), chunk, sink)
    }

    fn audit(&self, query: &AuditQuery) -> Result<Vec<Recorded>, StoreError> {
        self.sink.audit(query, self.last_seq())
    }

    fn subject(&self, subject: &Subject, after_seq: u64, limit: usize) -> Result<Vec<Recorded>, StoreError> {
        self.sink.subject(subject, after_seq, limit, self.last_seq())
    }

    fn has_key(&self, key: &str) -> Result<bool, StoreError> {
        crate::commit::Sink::key_exists(&*self.sink, key)
    }

    fn create_snapshot(&self, seq: u64) -> Result<Box<dyn SnapshotSink>, StoreError> {
        self.snapshots.create(seq)
    }

    fn remove_snapshot(&self, seq: u64) -> Result<(), StoreError> {
        self.snapshots.remove(seq)
    }

    fn load_snapshot(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.snapshots.load()
    }

    fn open_snapshot(&self) -> Result<Option<(u64, SnapshotReader)>, StoreError> {
        self.snapshots.open()
    }

    fn subscribe(&self, after_seq: u64) -> Subscription {
        Subscription::new(self.history(), self.committer.shared().clone(), after_seq)
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

    /// Proves the table answers again, then accepts appends from the last record published:
    /// what the failed write committed after all comes back with the next poll, as other
    /// writers' records do.
    fn recover(&self) -> Result<(), StoreError> {
        if self.poisoned().is_none() {
            return Ok(());
        }
        let head = self.sink.head().map_err(StoreError::Read)?;
        if self.committer.shared().durable() < head.base.link.seq {
            // Behind a pruned base: what it missed is gone, so it starts over from the log's
            // end as an open does (the caller rebuilds its state from the snapshots).
            self.sink.learn_base(&head);
            let vault = self.sink.load_vault().map_err(StoreError::Read)?;
            self.sink.set_vault_version(head.vault_version);
            self.committer.recover(head.end(), vault)?;
            tracing::info!(table = %self.table, seq = head.last_seq, "event log on DynamoDB starts over from its end, past the pruned base");
        } else {
            self.committer.recover_in_place()?;
        }
        tracing::info!(table = %self.table, "event log on DynamoDB takes appends again");
        Ok(())
    }

    fn shared(&self) -> bool {
        true
    }

    fn base(&self) -> LogBase {
        self.sink.base()
    }

    fn truncate(&self, base: LogBase) -> Result<(), StoreError> {
        let through = base.link.seq;
        base.check_next(self.sink.base(), self.last_seq())?;
        self.snapshots.keep_as_base(base.snapshot_seq)?;
        self.sink.move_base(base)?;
        // Replicas that have not polled the head since, and reads begun before, still read
        // from the old base: the items go later, on a thread of their own.
        let delay = self.sweep_delay.max(2 * self.sink.poll_interval().unwrap_or_default());
        let (sink, snapshots, table) = (self.sink.clone(), self.snapshots.clone(), self.table.clone());
        let sweep = move || {
            std::thread::sleep(delay);
            let swept = sink.sweep(through).and_then(|deleted| {
                snapshots.remove_below_base(base.snapshot_seq)?;
                Ok(deleted)
            });
            match swept {
                Ok(deleted) => {
                    tracing::info!(%table, through, deleted, "records below the log's base deleted")
                }
                // The next prune sweeps from the log's first item again.
                Err(error) => {
                    tracing::warn!(%table, through, %error, "could not delete what lies below the log's base")
                }
            }
        };
        std::thread::Builder::new()
            .name("pacer-log-sweep".into())
            .spawn(sweep)
            .map_err(|e| StoreError::Write(format!("cannot start the sweep below the base: {e}")))?;
        Ok(())
    }

    fn tidy(&self) -> Result<u64, StoreError> {
        self.sink.prune_vault_changes(self.vault_changes_kept)
    }

    fn open_base_snapshot(&self) -> Result<Option<(u64, SnapshotReader)>, StoreError> {
        let base = self.sink.base();
        if base.link.seq == 0 {
            return Ok(None);
        }
        self.snapshots.open_base(base.snapshot_seq)
    }
}

/// Creating the table and the bucket.
mod storage {
    use super::io::{Io, describe};
    use super::table::{ACTION, BY_ACTION, PK, SK};
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
        ProjectionType, ScalarAttributeType, TableStatus,
    };
    use std::time::{Duration, Instant};

    /// How long a new table may take to become active.
    const TABLE_ACTIVE_WITHIN: Duration = Duration::from_secs(300);

    fn key_element(name: &str, kind: KeyType) -> Result<KeySchemaElement, String> {
        KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(|e| e.to_string())
    }

    fn string_attribute(name: &str) -> Result<AttributeDefinition, String> {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| e.to_string())
    }

    /// The table's status; `None` when there is no such table.
    fn status(
        io: &Io,
        client: &aws_sdk_dynamodb::Client,
        table: &str,
    ) -> Result<Option<TableStatus>, String> {
        match io.block(client.describe_table().table_name(table).send())? {
            Ok(described) => {
                Ok(Some(described.table.and_then(|t| t.table_status).unwrap_or(TableStatus::Active)))
            }
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(None),
            Err(e) => Err(describe(e)),
        }
    }

    pub(super) fn ensure_table(
        io: &Io,
        client: &aws_sdk_dynamodb::Client,
        table: &str,
    ) -> Result<(), String> {
        if status(io, client, table)?.is_none() {
            let index = GlobalSecondaryIndex::builder()
                .index_name(BY_ACTION)
                .key_schema(key_element(ACTION, KeyType::Hash)?)
                .key_schema(key_element(SK, KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
                .build()
                .map_err(|e| e.to_string())?;
            let call = client
                .create_table()
                .table_name(table)
                .key_schema(key_element(PK, KeyType::Hash)?)
                .key_schema(key_element(SK, KeyType::Range)?)
                .attribute_definitions(string_attribute(PK)?)
                .attribute_definitions(string_attribute(SK)?)
                .attribute_definitions(string_attribute(ACTION)?)
                .global_secondary_indexes(index)
                .billing_mode(BillingMode::PayPerRequest)
                .send();
            match io.block(call)? {
                Ok(_) => tracing::info!(table, "DynamoDB table created"),
                // Another process created it meanwhile.
                Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {}
                Err(e) => return Err(describe(e)),
            }
        }
        let deadline = Instant::now() + TABLE_ACTIVE_WITHIN;
        loop {
            match status(io, client, table)? {
                Some(TableStatus::Active) => return Ok(()),
                _ if Instant::now() > deadline => return Err(format!("table {table} is not active yet")),
                _ => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    }

    pub(super) fn ensure_bucket(
        io: &Io,
        client: &aws_sdk_s3::Client,
        bucket: &str,
        region: &str,
    ) -> Result<(), String> {
        match io.block(client.head_bucket().bucket(bucket).send())? {
            Ok(_) => return Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => {}
            Err(e) => return Err(describe(e)),
        }
        let mut call = client.create_bucket().bucket(bucket);
        if region != "us-east-1" {
            let constraint = aws_sdk_s3::types::BucketLocationConstraint::from(region);
            call = call.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(constraint)
                    .build(),
            );
        }
        match io.block(call.send())? {
            Ok(_) => {
                tracing::info!(bucket, "S3 bucket created");
                Ok(())
            }
            Err(e) if e.as_service_error().is_some_and(|e| e.is_bucket_already_owned_by_you()) => Ok(()),
            Err(e) => Err(describe(e)),
        }
    }
}
