//! The log's DynamoDB table (its layout is described in [`super`]): the transactions a group
//! write becomes, what another writer appended (the tail), and the reads.

use super::io::{Io, describe};
use crate::chain::ChainHash;
use crate::chain::ChainLink;
use crate::codec::{StoredChunk, decode_chained, decode_record};
use crate::commit::{End, Sink, Staged, Tail, WriteError};
use crate::error::StoreError;
use crate::log::{AuditQuery, Batch, LogBase, VaultWrite};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, DeleteRequest, KeysAndAttributes, Put,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update, WriteRequest,
};
use pacer_domain::{EventName, Recorded, Subject, Timestamp};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Debug;
use std::future::Future;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

type Item = HashMap<String, AttributeValue>;

pub(crate) const PK: &str = "pk";
pub(crate) const SK: &str = "sk";
pub(crate) const ACTION: &str = "action";
/// The global secondary index on (`action`, `sk`) of the log's items.
pub(crate) const BY_ACTION: &str = "by_action";
const HEAD: &str = "head";
const LOG: &str = "log";
const VAULT: &str = "vault";
const VAULT_CHANGE: &str = "vchange";
/// The sort key of items alone in their partition (the head, idempotency keys).
const ONLY: &str = "0";
const REC: &str = "rec";
const AT: &str = "at";
const PARTS: &str = "parts";
const SEQ: &str = "seq";
const VALUE: &str = "value";
const KEYS: &str = "keys";
const LAST_SEQ: &str = "last_seq";
const LAST_AT: &str = "last_at";
const LAST_HASH: &str = "last_hash";
const VAULT_VERSION: &str = "vault_version";
/// The head's attributes for where a pruned log begins ([`LogBase`]).
const BASE_SEQ: &str = "base_seq";
const BASE_AT: &str = "base_at";
const BASE_HASH: &str = "base_hash";
const BASE_SNAPSHOT: &str = "base_snapshot";
/// A record item's attribute naming its batch's idempotency keys (on the batch's first record),
/// so pruning the record deletes them too.
const IDEM: &str = "idem";
/// The attributes of an item written ahead of the head's move (see [`DynamoSink::staged`]):
/// the writer that staged it and the seq its commit follows.
const STAGED_BY: &str = "staged_by";
const STAGED_AFTER: &str = "staged_after";

/// A record's stored bytes per item: an item holds at most 400 KB, names and numbers included.
const PART_BYTES: usize = 350 * 1024;
/// Most items one transaction takes.
const TRANSACTION_ITEMS: usize = 100;
/// Most bytes (as estimated here) one transaction takes: DynamoDB's limit is 4 MB.
const TRANSACTION_BYTES: usize = 3_500_000;
/// Estimated bytes of an item's key and attribute names, beyond its values.
const ITEM_OVERHEAD: usize = 64;
/// Longest partition key (bytes).
const MAX_PARTITION_KEY: usize = 2_048;
/// Longest sort key (bytes): a vault key.
const MAX_SORT_KEY: usize = 1_024;
/// Records one step of the tail reads.
const TAIL_RECORDS: u64 = 1_024;
/// Keys known to be recorded that are remembered (then forgotten, all at once).
const KNOWN_KEYS: usize = 65_536;
/// Items one `Query` page asks for, when the caller wants "as many as there are".
const PAGE_ITEMS: i32 = 1_000;
/// Record items a prune's sweep reads (and deletes, with their other items) at a time.
const SWEEP_PAGE: i32 = 100;

/// The sort key of a seq: zero-padded, so string order is seq order.
fn seq_key(seq: u64) -> String {
    format!("{seq:020}")
}

fn part_pk(seq: u64) -> String {
    format!("part#{}", seq_key(seq))
}

fn subject_pk(subject: &Subject) -> String {
    format!("subj#{subject}")
}

fn key_pk(key: &str) -> String {
    format!("key#{key}")
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn take_b(item: &mut Item, name: &str) -> Option<Vec<u8>> {
    match item.remove(name)? {
        AttributeValue::B(blob) => Some(blob.into_inner()),
        _ => None,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The head item: where the log ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) last_seq: u64,
    pub(crate) last_at: Timestamp,
    /// The last record's chain hash (GENESIS when it has none: written before the chain).
    pub(crate) last_chain: ChainHash,
    pub(crate) vault_version: u64,
    /// Where the log begins (the default until it is pruned).
    pub(crate) base: LogBase,
}

/// The chain hash held in attribute `name`, if any.
fn get_hash(item: &Item, name: &str) -> Option<ChainHash> {
    match item.get(name) {
        Some(AttributeValue::B(hash)) => hash.as_ref().try_into().map(ChainHash).ok(),
        _ => None,
    }
}

impl Head {
    fn of(item: &Item) -> Head {
        Head {
            last_seq: get_n(item, LAST_SEQ).unwrap_or(0),
            last_at: Timestamp::from_millis(get_n(item, LAST_AT).unwrap_or(0)),
            last_chain: get_hash(item, LAST_HASH).unwrap_or(ChainHash::GENESIS),
            vault_version: get_n(item, VAULT_VERSION).unwrap_or(0),
            base: LogBase {
                link: ChainLink { seq: get_n(item, BASE_SEQ).unwrap_or(0), hash: get_hash(item, BASE_HASH) },
                at: Timestamp::from_millis(get_n(item, BASE_AT).unwrap_or(0)),
                snapshot_seq: get_n(item, BASE_SNAPSHOT).unwrap_or(0),
            },
        }
    }

    /// Where the log ends.
    pub(crate) fn end(&self) -> End {
        End { seq: self.last_seq, at: self.last_at, chain: self.last_chain }
    }
}

/// Vault versions (each change to the vault makes one, see [`super`]).
#[derive(Clone, Copy, Debug, Default)]
struct VaultVersions {
    /// The head's, as last seen: a commit is conditioned on it.
    head: u64,
    /// The last whose changes are in the in-memory vault.
    read: u64,
}

/// What an item of a transaction is, for reading its cancellation reason.
enum Role {
    /// The head's update or condition check: failing, another writer moved the log on.
    Head,
    /// An idempotency key of the batch at this index in the group: failing, it was recorded.
    Key {
        batch: usize,
        key: String,
    },
    /// A record's item written ahead of the head's move: failing, another writer is staging
    /// its own commit after the same seq.
    Staged,
    Other,
}

/// One item of a transaction, with its estimated size.
struct Op {
    item: TransactWriteItem,
    role: Role,
    bytes: usize,
}

/// Why a transaction did not write.
enum Refusal {
    Failed(String),
    /// See [`WriteError::Refused`]; `head`: the head's item when the refusal returned it.
    Refused {
        behind: bool,
        head: Option<Box<Head>>,
        duplicates: Vec<(usize, String)>,
        /// Refused for contention a retry gets past only after a moment: an item another writer
        /// staged after the same seq, a transaction conflict, throttling.
        contended: bool,
    },
}

/// The log's table.
pub(crate) struct DynamoSink {
    io: Arc<Io>,
    client: Client,
    table: String,
    poll: Duration,
    vault_version: Mutex<VaultVersions>,
    /// Idempotency keys known to be recorded.
    known_keys: Mutex<HashSet<String>>,
    /// Where the log begins, as the head last said: reads never go below it.
    base: RwLock<LogBase>,
    /// Who this writer is, on the items it stages (random, per process).
    writer: String,
}

impl DynamoSink {
    pub(crate) fn new(io: Arc<Io>, client: Client, table: String, poll: Duration) -> Self {
        let vault_version = Mutex::new(VaultVersions::default());
        let known_keys = Mutex::new(HashSet::new());
        let writer = format!("{:016x}", crate::commit::random());
        let base = RwLock::new(LogBase::default());
        Self { io, client, table, poll, vault_version, known_keys, base, writer }
    }

    /// Where the log begins.
    pub(crate) fn base(&self) -> LogBase {
        *self.base.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the base `head` holds, unless this process knows a later one.
    pub(crate) fn learn_base(&self, head: &Head) {
        let mut base = self.base.write().unwrap_or_else(PoisonError::into_inner);
        if head.base.link.seq > base.link.seq {
            *base = head.base;
        }
    }

    /// The effects lease's row in this table.
    pub(crate) fn lease_table(&self) -> super::lease::DynamoLeaseTable {
        super::lease::DynamoLeaseTable::new(self.io.clone(), self.client.clone(), self.table.clone())
    }

    /// Runs an SDK call on the log's runtime.
    fn send<T: Send + 'static, E: std::error::Error + Send + 'static>(
        &self,
        call: impl Future<Output = Result<T, E>> + Send + 'static,
    ) -> Result<T, String> {
        self.io.block(call)?.map_err(describe)
    }

    /// The head, read consistently.
    pub(crate) fn head(&self) -> Result<Head, String> {
        let call = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(HEAD, ONLY)))
            .consistent_read(true);
        Ok(Head::of(&self.send(call.send())?.item.unwrap_or_default()))
    }

    /// Writes the head of an empty log, unless there is one.
    pub(crate) fn create_head(&self) -> Result<(), String> {
        let mut item = key(HEAD, ONLY);
        item.extend([(LAST_SEQ.into(), n(0)), (LAST_AT.into(), n(0)), (VAULT_VERSION.into(), n(0))]);
        let call = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send();
        match self.io.block(call)? {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(())
            }
            Err(e) => Err(describe(e)),
        }
    }

    /// Starts from `version`, the vault version of the head the vault was loaded after.
    pub(crate) fn set_vault_version(&self, version: u64) {
        *lock(&self.vault_version) = VaultVersions { head: version, read: version };
    }

    /// Every vault entry.
    pub(crate) fn load_vault(&self) -> Result<BTreeMap<String, Vec<u8>>, String> {
        let mut vault = BTreeMap::new();
        for mut item in query_partition(&self.io, &self.client, &self.table, VAULT)? {
            if let (Some(key), Some(value)) = (get_s(&item, SK).map(str::to_owned), take_b(&mut item, VALUE))
            {
                vault.insert(key, value);
            }
        }
        Ok(vault)
    }
}

/// Every item of partition `pk` of `table`, read consistently page by page.
pub(crate) fn query_partition(io: &Io, client: &Client, table: &str, pk: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let call = client
            .query()
            .table_name(table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(true)
            .set_exclusive_start_key(start.take());
        let output = io.block(call.send())?.map_err(describe)?;
        items.extend(output.items.unwrap_or_default());
        match output.last_evaluated_key {
            Some(next) if !next.is_empty() => start = Some(next),
            _ => return Ok(items),
        }
    }
}

/// The items a batch writes, before they are put into transactions.
struct BatchOps {
    /// Its records' items (parts and subject index entries too): they may go in an earlier
    /// transaction than the one that moves the head.
    records: Vec<Op>,
    /// Its idempotency keys: in the transaction that moves the head.
    keys: Vec<Op>,
    /// Estimated items and bytes of its vault changes (and their notice).
    vault_items: usize,
    vault_bytes: usize,
}

impl BatchOps {
    fn items(&self) -> usize {
        self.records.len() + self.keys.len() + self.vault_items
    }

    fn bytes(&self) -> usize {
        self.records.iter().chain(&self.keys).map(|op| op.bytes).sum::<usize>() + self.vault_bytes
    }
}

impl DynamoSink {
    fn put_op(&self, item: Item, bytes: usize) -> Result<Op, String> {
        let put =
            Put::builder().table_name(&self.table).set_item(Some(item)).build().map_err(|e| e.to_string())?;
        Ok(Op { item: TransactWriteItem::builder().put(put).build(), role: Role::Other, bytes })
    }

    /// The items of a record: the record (its first part, with `keys`, the idempotency keys
    /// its batch records, when it is the batch's first), its other parts, its subjects.
    fn record_ops(
        &self,
        record: &Recorded,
        encoded: &[u8],
        keys: &[String],
        out: &mut Vec<Op>,
    ) -> Result<(), String> {
        let sk = seq_key(record.seq);
        // The keys take room from the first part (`admit` bounds them well below an item).
        let key_bytes: usize = keys.iter().map(|k| k.len() + 4).sum();
        let (first, rest) = encoded.split_at(encoded.len().min(PART_BYTES.saturating_sub(key_bytes)));
        let parts = rest.chunks(PART_BYTES);
        let action = record.event.name().as_str();
        let mut item = key(LOG, sk.clone());
        item.insert(REC.into(), AttributeValue::B(Blob::new(first)));
        item.insert(AT.into(), n(record.at.millis()));
        item.insert(ACTION.into(), s(action));
        if parts.len() > 0 {
            item.insert(PARTS.into(), n(parts.len()));
        }
        if !keys.is_empty() {
            item.insert(IDEM.into(), AttributeValue::L(keys.iter().map(|k| s(k.as_str())).collect()));
        }
        out.push(self.put_op(item, ITEM_OVERHEAD + first.len() + action.len() + key_bytes)?);
        for (i, part) in (1..).zip(parts) {
            let mut item = key(part_pk(record.seq), format!("{i:010}"));
            item.insert(REC.into(), AttributeValue::B(Blob::new(part)));
            out.push(self.put_op(item, ITEM_OVERHEAD + part.len())?);
        }
        let subjects: BTreeSet<String> = record.event.subjects().iter().map(subject_pk).collect();
        for subject in subjects {
            let bytes = ITEM_OVERHEAD + subject.len();
            out.push(self.put_op(key(subject, sk.clone()), bytes)?);
        }
        Ok(())
    }

    /// An idempotency key's item, written only when the key is not recorded yet.
    fn key_op(&self, recorded: &str, seq: u64, batch: usize) -> Result<Op, String> {
        let mut item = key(key_pk(recorded), ONLY);
        item.insert(SEQ.into(), n(seq));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Op {
            item: TransactWriteItem::builder().put(put).build(),
            role: Role::Key { batch, key: recorded.to_owned() },
            bytes: ITEM_OVERHEAD + recorded.len(),
        })
    }

    fn batch_ops(&self, staged: &Staged<'_>, batch: usize) -> Result<BatchOps, String> {
        let mut records = Vec::new();
        for (i, (record, encoded)) in staged.records.iter().zip(staged.encoded).enumerate() {
            let keys = if i == 0 { staged.keys } else { &[] };
            self.record_ops(record, encoded, keys, &mut records)?;
        }
        let keys =
            staged.keys.iter().map(|k| self.key_op(k, staged.key_seq(), batch)).collect::<Result<_, _>>()?;
        let vault_bytes = staged
            .vault
            .iter()
            .map(|w| 2 * ITEM_OVERHEAD + 2 * w.key.len() + w.value.as_ref().map_or(0, Vec::len))
            .sum();
        let vault_items = if staged.vault.is_empty() { 0 } else { staged.vault.len() + 1 };
        Ok(BatchOps { records, keys, vault_items, vault_bytes })
    }

    /// The head's update: from `prev` (the seq the commit follows) and `version` (the vault
    /// version this process has seen) to the commit's end, its last record with its chain hash.
    fn head_op(
        &self,
        prev: u64,
        version: u64,
        last: Option<(&Recorded, &ChainHash)>,
        new_version: u64,
    ) -> Result<Op, String> {
        let mut set = vec!["#s = :s", "#v = :v"];
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(HEAD, ONLY)))
            .condition_expression("#s = :ps AND #v = :pv")
            .expression_attribute_names("#s", LAST_SEQ)
            .expression_attribute_names("#v", VAULT_VERSION)
            .expression_attribute_values(":s", n(last.map_or(prev, |(r, _)| r.seq)))
            .expression_attribute_values(":v", n(new_version))
            .expression_attribute_values(":ps", n(prev))
            .expression_attribute_values(":pv", n(version))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some((last, chain)) = last {
            set.extend(["#a = :a", "#h = :h"]);
            update = update
                .expression_attribute_names("#a", LAST_AT)
                .expression_attribute_values(":a", n(last.at.millis()))
                .expression_attribute_names("#h", LAST_HASH)
                .expression_attribute_values(":h", AttributeValue::B(Blob::new(chain.0)));
        }
        let update =
            update.update_expression(format!("SET {}", set.join(", "))).build().map_err(|e| e.to_string())?;
        Ok(Op {
            item: TransactWriteItem::builder().update(update).build(),
            role: Role::Head,
            bytes: 2 * ITEM_OVERHEAD,
        })
    }

    /// A check that the head is still at `prev` and `version`, for a transaction that writes
    /// record items ahead of the one that moves the head.
    fn guard_op(&self, prev: u64, version: u64) -> Result<Op, String> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(HEAD, ONLY)))
            .condition_expression("#s = :ps AND #v = :pv")
            .expression_attribute_names("#s", LAST_SEQ)
            .expression_attribute_names("#v", VAULT_VERSION)
            .expression_attribute_values(":ps", n(prev))
            .expression_attribute_values(":pv", n(version))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Op {
            item: TransactWriteItem::builder().condition_check(check).build(),
            role: Role::Head,
            bytes: 2 * ITEM_OVERHEAD,
        })
    }

    /// The vault's items for a commit's changes (the last change to a key wins) and the notice
    /// naming the keys changed at `version`.
    fn vault_ops(&self, changes: &BTreeMap<&str, Option<&[u8]>>, version: u64) -> Result<Vec<Op>, String> {
        let mut ops = Vec::with_capacity(changes.len() + 1);
        for (&entry, value) in changes {
            match value {
                Some(value) => {
                    let mut item = key(VAULT, entry);
                    item.insert(VALUE.into(), AttributeValue::B(Blob::new(*value)));
                    ops.push(self.put_op(item, ITEM_OVERHEAD + entry.len() + value.len())?);
                }
                None => {
                    let delete = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(VAULT, entry)))
                        .build()
                        .map_err(|e| e.to_string())?;
                    let item = TransactWriteItem::builder().delete(delete).build();
                    ops.push(Op { item, role: Role::Other, bytes: ITEM_OVERHEAD + entry.len() });
                }
            }
        }
        let mut notice = key(VAULT_CHANGE, seq_key(version));
        let names = changes.keys().map(|k| s(*k)).collect();
        notice.insert(KEYS.into(), AttributeValue::L(names));
        let bytes = ITEM_OVERHEAD + changes.keys().map(|k| k.len() + 4).sum::<usize>();
        ops.push(self.put_op(notice, bytes)?);
        Ok(ops)
    }

    /// Writes `staged` batches (their items: `batches`) after `prev` as one atomic commit: one
    /// transaction moves the head, holding the keys, the vault changes and as many record items
    /// as fit; records that do not fit are written first, by transactions that check the head
    /// has not moved (beyond the head, nothing reads them until that last one commits).
    fn commit(&self, prev: u64, batches: Vec<BatchOps>, staged: &[Staged<'_>]) -> Result<(), Refusal> {
        let version = lock(&self.vault_version).head;
        let mut changes: BTreeMap<&str, Option<&[u8]>> = BTreeMap::new();
        for write in staged.iter().flat_map(|s| s.vault) {
            changes.insert(&write.key, write.value.as_deref());
        }
        let new_version = if changes.is_empty() { version } else { version + 1 };
        let last = staged.iter().rev().find_map(|s| s.records.last().zip(s.chain.last()));
        let mut last_ops = vec![self.head_op(prev, version, last, new_version).map_err(Refusal::Failed)?];
        let mut records = Vec::new();
        for batch in batches {
            last_ops.extend(batch.keys);
            records.extend(batch.records);
        }
        if !changes.is_empty() {
            last_ops.extend(self.vault_ops(&changes, new_version).map_err(Refusal::Failed)?);
        }
        let mut bytes: usize = last_ops.iter().map(|op| op.bytes).sum();
        while let Some(op) =
            records.pop_if(|op| last_ops.len() < TRANSACTION_ITEMS && bytes + op.bytes <= TRANSACTION_BYTES)
        {
            bytes += op.bytes;
            last_ops.push(op);
        }
        let guard_bytes = 2 * ITEM_OVERHEAD;
        let mut ahead: Vec<Op> = Vec::new();
        let mut ahead_bytes = guard_bytes;
        for op in records {
            let op = self.staged(op, prev).map_err(Refusal::Failed)?;
            if ahead.len() + 1 >= TRANSACTION_ITEMS || ahead_bytes + op.bytes > TRANSACTION_BYTES {
                self.transact_guarded(prev, version, std::mem::take(&mut ahead))?;
                ahead_bytes = guard_bytes;
            }
            ahead_bytes += op.bytes;
            ahead.push(op);
        }
        if !ahead.is_empty() {
            self.transact_guarded(prev, version, ahead)?;
        }
        self.transact(last_ops)?;
        if !changes.is_empty() {
            let mut versions = lock(&self.vault_version);
            // With other writers' changes still unread, their notices and this one are read
            // back together (the in-memory vault takes this commit's changes at once).
            if versions.read == versions.head {
                versions.read = new_version;
            }
            versions.head = new_version;
        }
        Ok(())
    }

    /// `op`, a record's item, to be written ahead of the head's move after `prev`: tagged with
    /// this writer and `prev`, and written only over no item, an item staged after another seq
    /// (left by a writer that lost a race: beyond the head, nothing reads it), or one of its
    /// own. So two writers staging commits after the same seq cannot overwrite each other's
    /// items (the one that moves the head would commit the other's records): the second is
    /// refused, waits a moment and tries again after the first's records.
    fn staged(&self, op: Op, prev: u64) -> Result<Op, String> {
        let Some(put) = op.item.put else { return Ok(op) };
        let mut item = put.item;
        item.insert(STAGED_BY.into(), s(self.writer.as_str()));
        item.insert(STAGED_AFTER.into(), n(prev));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #sa <> :sa OR #sb = :sb")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sa", STAGED_AFTER)
            .expression_attribute_names("#sb", STAGED_BY)
            .expression_attribute_values(":sa", n(prev))
            .expression_attribute_values(":sb", s(self.writer.as_str()))
            .build()
            .map_err(|e| e.to_string())?;
        let bytes = op.bytes + STAGED_BY.len() + STAGED_AFTER.len() + self.writer.len() + 20;
        Ok(Op { item: TransactWriteItem::builder().put(put).build(), role: Role::Staged, bytes })
    }

    fn transact_guarded(&self, prev: u64, version: u64, ops: Vec<Op>) -> Result<(), Refusal> {
        let mut all = vec![self.guard_op(prev, version).map_err(Refusal::Failed)?];
        all.extend(ops);
        self.transact(all)
    }

    /// Writes `ops` in one transaction. Refused for contention (another writer staging after
    /// the same seq, whose commit ends in a few transactions; a conflict; throttling), it waits
    /// 10–50 ms first, so the writer's retry does not come straight back to it.
    fn transact(&self, ops: Vec<Op>) -> Result<(), Refusal> {
        let (items, roles): (Vec<_>, Vec<_>) = ops.into_iter().map(|op| (op.item, op.role)).unzip();
        let call = self.client.transact_write_items().set_transact_items(Some(items)).send();
        let refused = match self.io.block(call) {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(error)) => refusal(error, &roles),
            Err(closed) => Refusal::Failed(closed),
        };
        if let Refusal::Refused { contended: true, .. } = refused {
            std::thread::sleep(Duration::from_millis(10 + crate::commit::random() % 40));
        }
        Err(refused)
    }

    fn remember_keys(&self, staged: &[Staged<'_>]) {
        let mut known = lock(&self.known_keys);
        if known.len() > KNOWN_KEYS {
            known.clear();
        }
        known.extend(staged.iter().flat_map(|s| s.keys.iter().cloned()));
    }
}

/// Why a transaction was cancelled: the head's condition failed (another writer moved the log
/// on), idempotency keys were recorded already, or contention that a retry may get past; any
/// other cancellation or error is a failed write.
fn refusal<R: Debug>(error: SdkError<TransactWriteItemsError, R>, roles: &[Role]) -> Refusal {
    let reasons = match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
            cancelled.cancellation_reasons()
        }
        _ => return Refusal::Failed(describe(error)),
    };
    let mut behind = false;
    let mut contended = false;
    let mut head = None;
    let mut duplicates = Vec::new();
    let mut unexpected = reasons.is_empty();
    for (reason, role) in reasons.iter().zip(roles) {
        match (reason.code(), role) {
            (None | Some("None"), _) => {}
            (Some("ConditionalCheckFailed"), Role::Head) => {
                behind = true;
                head = reason.item().map(|item| Box::new(Head::of(item)));
            }
            (Some("ConditionalCheckFailed"), Role::Key { batch, key }) => {
                duplicates.push((*batch, key.clone()))
            }
            (Some("ConditionalCheckFailed"), Role::Staged) => (behind, contended) = (true, true),
            (Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"), _) => {
                (behind, contended) = (true, true)
            }
            _ => unexpected = true,
        }
    }
    if unexpected || (!behind && duplicates.is_empty()) {
        return Refusal::Failed(describe(error));
    }
    Refusal::Refused { behind, head, duplicates, contended }
}

/// Splits a group into commits at batch boundaries: as many batches as fit in one transaction
/// (with the head's item), a batch that fits in none alone.
fn plan(batches: &[BatchOps]) -> Vec<Range<usize>> {
    let head = (1, 2 * ITEM_OVERHEAD);
    let mut commits = Vec::new();
    let (mut start, mut items, mut bytes) = (0, head.0, head.1);
    for (i, batch) in batches.iter().enumerate() {
        if i > start
            && (items + batch.items() > TRANSACTION_ITEMS || bytes + batch.bytes() > TRANSACTION_BYTES)
        {
            commits.push(start..i);
            (start, items, bytes) = (i, head.0, head.1);
        }
        items += batch.items();
        bytes += batch.bytes();
    }
    if start < batches.len() {
        commits.push(start..batches.len());
    }
    commits
}

impl Sink for DynamoSink {
    fn write(&self, last_seq: u64, group: &[Staged<'_>]) -> Result<(), WriteError> {
        let failed = |written, reason| WriteError::Failed { written, reason };
        let mut ops = Vec::with_capacity(group.len());
        for (i, staged) in group.iter().enumerate() {
            ops.push(self.batch_ops(staged, i).map_err(|reason| failed(0, reason))?);
        }
        let commits = plan(&ops);
        let mut ops = ops.into_iter();
        let mut prev = last_seq;
        let mut written = 0;
        for commit in commits {
            let staged = &group[commit.clone()];
            let batches = ops.by_ref().take(commit.len()).collect();
            match self.commit(prev, batches, staged) {
                Ok(()) => {
                    written = commit.end;
                    prev = staged.iter().rev().find_map(|s| s.records.last()).map_or(prev, |r| r.seq);
                    self.remember_keys(staged);
                }
                Err(Refusal::Failed(reason)) => return Err(failed(written, reason)),
                Err(Refusal::Refused { behind, head, duplicates, .. }) => {
                    // Where the log ends now: from the refusal, else read.
                    let head = match head {
                        Some(head) => Some(*head),
                        None if behind => self.head().ok(),
                        None => None,
                    };
                    if let Some(head) = head {
                        let mut versions = lock(&self.vault_version);
                        versions.head = versions.head.max(head.vault_version);
                    }
                    let head = head.map(|h| h.end());
                    return Err(WriteError::Refused { written, behind, head, duplicates });
                }
            }
        }
        Ok(())
    }

    fn key_exists(&self, recorded: &str) -> Result<bool, StoreError> {
        if lock(&self.known_keys).contains(recorded) {
            return Ok(true);
        }
        let call = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(key_pk(recorded), ONLY)))
            .projection_expression("#pk, #seq")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#seq", SEQ)
            .consistent_read(true);
        let item = self.send(call.send()).map_err(StoreError::Read)?.item;
        // A key of a pruned record is gone with it, though a prune's sweep deletes its item
        // a moment later (and must not find it remembered then).
        let pruned = |item: &Item| get_n::<u64>(item, SEQ).is_some_and(|seq| seq <= self.base().link.seq);
        let exists = item.is_some_and(|item| !pruned(&item));
        if exists {
            let mut known = lock(&self.known_keys);
            if known.len() > KNOWN_KEYS {
                known.clear();
            }
            known.insert(recorded.to_owned());
        }
        Ok(exists)
    }

    fn write_checks_keys(&self) -> bool {
        true
    }

    fn admit(&self, batch: &Batch) -> Result<(), StoreError> {
        let refuse = |why: String| Err(StoreError::TooLarge(why));
        if let Some(key) = batch.keys.iter().find(|k| key_pk(k).len() > MAX_PARTITION_KEY) {
            return refuse(format!("idempotency key {key:?} is longer than DynamoDB keeps"));
        }
        let mut vault: BTreeMap<&str, usize> = BTreeMap::new();
        for write in &batch.vault {
            if write.key.is_empty() || write.key.len() > MAX_SORT_KEY {
                return refuse(format!(
                    "a vault key must be 1 to {MAX_SORT_KEY} bytes, not {}",
                    write.key.len()
                ));
            }
            let value = write.value.as_ref().map_or(0, Vec::len);
            if value > PART_BYTES {
                return refuse(format!("vault entry {:?} holds {value} bytes, over {PART_BYTES}", write.key));
            }
            vault.insert(&write.key, value);
        }
        for record in &batch.records {
            if let Some(subject) =
                record.event.subjects().iter().find(|s| subject_pk(s).len() > MAX_PARTITION_KEY)
            {
                return refuse(format!("subject {subject} is longer than DynamoDB keeps"));
            }
        }
        let notice = usize::from(!vault.is_empty());
        let items = 1 + batch.keys.len() + vault.len() + notice;
        if items > TRANSACTION_ITEMS {
            return refuse(format!(
                "{} idempotency keys and {} vault entries do not fit in one DynamoDB transaction ({TRANSACTION_ITEMS} items)",
                batch.keys.len(),
                vault.len()
            ));
        }
        let notice_bytes: usize = vault.keys().map(|k| k.len() + 4).sum();
        let bytes = batch.keys.iter().map(|k| ITEM_OVERHEAD + k.len()).sum::<usize>()
            + vault.iter().map(|(k, v)| ITEM_OVERHEAD + k.len() + v).sum::<usize>()
            + notice_bytes;
        if bytes > TRANSACTION_BYTES || notice_bytes > PART_BYTES {
            return refuse(format!(
                "{bytes} bytes of keys and vault entries do not fit in one DynamoDB transaction"
            ));
        }
        Ok(())
    }

    fn poll_interval(&self) -> Option<Duration> {
        Some(self.poll)
    }

    fn tail(&self, last_seq: u64) -> Result<Tail, StoreError> {
        let head = self.head().map_err(StoreError::Read)?;
        self.learn_base(&head);
        if last_seq < head.base.link.seq {
            return Err(StoreError::Pruned { through: head.base.link.seq });
        }
        let mut tail = Tail::default();
        if head.last_seq > last_seq {
            let last = head.last_seq.min(last_seq + TAIL_RECORDS);
            (tail.records, tail.chain) = self.read_chained(last_seq + 1, last)?;
            tail.more = last < head.last_seq;
        }
        let mut versions = lock(&self.vault_version);
        if head.vault_version > versions.read {
            match self.vault_changes(versions.read, head.vault_version).map_err(StoreError::Read)? {
                Some(changes) => tail.vault = changes,
                None => tail.whole_vault = Some(self.load_vault().map_err(StoreError::Read)?),
            }
            versions.read = head.vault_version;
        }
        versions.head = versions.head.max(head.vault_version);
        Ok(tail)
    }
}

impl DynamoSink {
    /// A strongly consistent query of partition `pk` for sort keys `lo` to `hi`, both included.
    fn range_query(
        &self,
        pk: impl Into<String>,
        lo: impl Into<String>,
        hi: impl Into<String>,
    ) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":lo", s(lo))
            .expression_attribute_values(":hi", s(hi))
            .consistent_read(true)
    }

    /// The vault entries changed after `seen` up to `version`, as they are now; `None` when
    /// some of those changes' notices are pruned already ([`Self::prune_vault_changes`]), so
    /// only the whole vault tells what changed.
    fn vault_changes(&self, seen: u64, version: u64) -> Result<Option<Vec<VaultWrite>>, String> {
        let mut changed = BTreeSet::new();
        let mut notices = 0;
        let mut start = None;
        loop {
            let call = self
                .range_query(VAULT_CHANGE, seq_key(seen + 1), seq_key(version))
                .set_exclusive_start_key(start.take());
            let output = self.send(call.send())?;
            for item in output.items.unwrap_or_default() {
                notices += 1;
                let names = item.get(KEYS).and_then(|v| v.as_l().ok()).map(Vec::as_slice).unwrap_or_default();
                changed.extend(names.iter().filter_map(|v| v.as_s().ok().cloned()));
            }
            match output.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => break,
            }
        }
        if notices != version - seen {
            return Ok(None);
        }
        let keys = changed.iter().map(|k| key(VAULT, k.clone())).collect();
        let mut values: HashMap<String, Vec<u8>> = HashMap::new();
        for mut item in self.get_many(keys)? {
            if let (Some(key), Some(value)) = (get_s(&item, SK).map(str::to_owned), take_b(&mut item, VALUE))
            {
                values.insert(key, value);
            }
        }
        Ok(Some(changed.into_iter().map(|key| VaultWrite { value: values.remove(&key), key }).collect()))
    }

    /// The items under `keys` (in no particular order), read consistently.
    fn get_many(&self, keys: Vec<Item>) -> Result<Vec<Item>, String> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            until_processed(chunk.to_vec(), "keys unread", |pending| {
                let wanted = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| e.to_string())?;
                let call = self.client.batch_get_item().request_items(&self.table, wanted).send();
                let output = self.send(call)?;
                out.extend(output.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default());
                Ok(output.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys))
            })?;
        }
        Ok(out)
    }

    /// A record's stored bytes from its item (and its other parts' items).
    fn stored(&self, mut item: Item) -> Result<(u64, Vec<u8>), StoreError> {
        let seq = get_s(&item, SK).and_then(|k| k.parse().ok()).unwrap_or(0);
        let corrupt = |reason: &str| StoreError::Corrupt { seq, reason: reason.into() };
        let mut bytes = take_b(&mut item, REC).ok_or_else(|| corrupt("its item holds no record"))?;
        let parts: u64 = get_n(&item, PARTS).unwrap_or(0);
        if parts > 0 {
            let mut start = None;
            let mut read = 0;
            loop {
                let call = self
                    .range_query(part_pk(seq), format!("{:010}", 1), format!("{parts:010}"))
                    .set_exclusive_start_key(start.take());
                let output = self.send(call.send()).map_err(StoreError::Read)?;
                for mut part in output.items.unwrap_or_default() {
                    bytes.extend(take_b(&mut part, REC).ok_or_else(|| corrupt("a part of it is empty"))?);
                    read += 1;
                }
                match output.last_evaluated_key {
                    Some(next) if !next.is_empty() => start = Some(next),
                    _ => break,
                }
            }
            if read != parts {
                return Err(corrupt(&format!("{read} of its {parts} other parts found")));
            }
        }
        Ok((seq, bytes))
    }

    /// The stored records from `first` through `last`, oldest first (newest first when
    /// `newest_first`), handed to `visit` until it returns false; `page` items per request.
    fn visit(
        &self,
        first: u64,
        last: u64,
        newest_first: bool,
        page: i32,
        visit: &mut dyn FnMut(u64, Vec<u8>) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        if first > last {
            return Ok(());
        }
        let mut start = None;
        loop {
            let call = self
                .range_query(LOG, seq_key(first), seq_key(last))
                .scan_index_forward(!newest_first)
                .limit(page)
                .set_exclusive_start_key(start.take());
            let output = self.send(call.send()).map_err(StoreError::Read)?;
            for item in output.items.unwrap_or_default() {
                let (seq, bytes) = self.stored(item)?;
                if !visit(seq, bytes)? {
                    return Ok(());
                }
            }
            match output.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(()),
            }
        }
    }

    /// The records from `first` through `last` (all durable), in order.
    pub(crate) fn read(&self, first: u64, last: u64) -> Result<Vec<Recorded>, StoreError> {
        Ok(self.read_chained(first, last)?.0)
    }

    /// The records from `first` through `last` (all durable), in order, and the last one's
    /// chain hash (GENESIS when it has none).
    fn read_chained(&self, first: u64, last: u64) -> Result<(Vec<Recorded>, ChainHash), StoreError> {
        let mut out = Vec::with_capacity(last.saturating_sub(first).saturating_add(1).min(4_096) as usize);
        let mut chain = ChainHash::GENESIS;
        let mut expected = first;
        self.visit(first, last, false, PAGE_ITEMS, &mut |seq, bytes| {
            follows(expected, seq)?;
            let (record, hash) = decode_chained(seq, &bytes)?;
            out.push(record);
            chain = hash.unwrap_or(ChainHash::GENESIS);
            expected += 1;
            Ok(true)
        })?;
        if expected <= last {
            return Err(StoreError::Corrupt { seq: expected, reason: "missing from the log".into() });
        }
        Ok((out, chain))
    }

    /// [`crate::EventLog::scan`] from `first` through `last`.
    pub(crate) fn scan(
        &self,
        first: u64,
        last: u64,
        chunk: usize,
        sink: &mut dyn FnMut(&mut StoredChunk) -> bool,
    ) -> Result<(), StoreError> {
        let chunk = chunk.max(1);
        let mut out = StoredChunk::default();
        out.restart(first);
        let mut expected = first;
        let mut stopped = false;
        self.visit(first, last, false, PAGE_ITEMS, &mut |seq, bytes| {
            follows(expected, seq)?;
            out.push(&bytes);
            expected += 1;
            if out.len() == chunk {
                if !sink(&mut out) {
                    stopped = true;
                    return Ok(false);
                }
                out.restart(expected);
            }
            Ok(true)
        })?;
        if !stopped && !out.is_empty() {
            sink(&mut out);
        }
        Ok(())
    }

    /// The durable records at `seqs`, in that order.
    fn records_at(&self, seqs: &[u64]) -> Result<Vec<Recorded>, StoreError> {
        let keys = seqs.iter().map(|&seq| key(LOG, seq_key(seq))).collect();
        let mut stored = HashMap::new();
        for item in self.get_many(keys).map_err(StoreError::Read)? {
            let (seq, bytes) = self.stored(item)?;
            stored.insert(seq, bytes);
        }
        seqs.iter()
            .map(|&seq| match stored.get(&seq) {
                Some(bytes) => decode_record(seq, bytes),
                None => Err(StoreError::Corrupt { seq, reason: "indexed but missing".into() }),
            })
            .collect()
    }

    /// The time of the durable record at `seq`.
    fn at_of(&self, seq: u64) -> Result<Timestamp, StoreError> {
        let call = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(LOG, seq_key(seq))))
            .projection_expression("#at")
            .expression_attribute_names("#at", AT)
            .consistent_read(true);
        let item = self.send(call.send()).map_err(StoreError::Read)?.item;
        let at = item.as_ref().and_then(|item| get_n(item, AT));
        at.map(Timestamp::from_millis)
            .ok_or_else(|| StoreError::Corrupt { seq, reason: "missing from the log".into() })
    }

    /// The first seq before `end` recorded at or after `at` (`end` when none): times never
    /// decrease with seqs, so a binary search over the records' times finds it.
    fn seq_at(&self, at: Timestamp, end: u64) -> Result<u64, StoreError> {
        let (mut low, mut high) = (self.base().link.seq + 1, end);
        while low < high {
            let mid = low + (high - low) / 2;
            if self.at_of(mid)? >= at {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        Ok(low)
    }

    /// A page of the audit view of a log whose last durable record is `last_seq`.
    pub(crate) fn audit(&self, query: &AuditQuery, last_seq: u64) -> Result<Vec<Recorded>, StoreError> {
        let end = last_seq + 1;
        let low = match query.from {
            Some(from) => self.seq_at(from, end)?,
            None => self.base().link.seq + 1,
        };
        let mut high = match query.to {
            Some(to) => self.seq_at(to, end)?,
            None => end,
        };
        if let Some(before) = query.before_seq {
            high = high.min(before);
        }
        let mut out = Vec::with_capacity(query.limit.min(1_000));
        if low >= high || query.limit == 0 {
            return Ok(out);
        }
        let page = |wanted: usize| wanted.min(PAGE_ITEMS as usize) as i32;
        match query.action {
            None => self.visit(low, high - 1, true, page(query.limit), &mut |seq, bytes| {
                out.push(decode_record(seq, &bytes)?);
                Ok(out.len() < query.limit)
            })?,
            Some(action) => self.audit_action(action, low, high - 1, query.limit, &mut out)?,
        }
        Ok(out)
    }

    /// Records of `action` from `last` down to `first`, newest first, until `out` holds `limit`.
    fn audit_action(
        &self,
        action: EventName,
        first: u64,
        last: u64,
        limit: usize,
        out: &mut Vec<Recorded>,
    ) -> Result<(), StoreError> {
        let query = || {
            self.client
                .query()
                .table_name(&self.table)
                .index_name(BY_ACTION)
                .key_condition_expression("#act = :act AND #sk BETWEEN :lo AND :hi")
                .expression_attribute_names("#act", ACTION)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":act", s(action.as_str()))
                .expression_attribute_values(":lo", s(seq_key(first)))
                .expression_attribute_values(":hi", s(seq_key(last)))
                .scan_index_forward(false)
        };
        // The index is eventually consistent: what it names is checked against the record.
        self.records_named(query, |record| record.event.name() == action, limit, out)
    }

    /// Records about `subject` after `after_seq` up to `last_seq`, oldest first, at most `limit`.
    pub(crate) fn subject(
        &self,
        subject: &Subject,
        after_seq: u64,
        limit: usize,
        last_seq: u64,
    ) -> Result<Vec<Recorded>, StoreError> {
        let mut out = Vec::new();
        // Entries below the base may outlive their records while a prune sweeps them.
        let after_seq = after_seq.max(self.base().link.seq);
        if after_seq >= last_seq {
            return Ok(out);
        }
        let query = || self.range_query(subject_pk(subject), seq_key(after_seq + 1), seq_key(last_seq));
        // An entry written ahead of a commit that then lost its race may name a seq that
        // another writer's record took: only the records about the subject count.
        self.records_named(query, |record| record.event.subjects().contains(subject), limit, &mut out)?;
        Ok(out)
    }

    /// Pages through `query`, whose items name seqs in their sort key, reads each named record
    /// and keeps those `wanted` says, until `out` holds `limit`.
    fn records_named(
        &self,
        query: impl Fn() -> QueryFluentBuilder,
        wanted: impl Fn(&Recorded) -> bool,
        limit: usize,
        out: &mut Vec<Recorded>,
    ) -> Result<(), StoreError> {
        let mut start = None;
        while out.len() < limit {
            let call = query()
                .limit((limit - out.len()).min(PAGE_ITEMS as usize) as i32)
                .set_exclusive_start_key(start.take());
            let output = self.send(call.send()).map_err(StoreError::Read)?;
            let seqs: Vec<u64> = output
                .items
                .unwrap_or_default()
                .iter()
                .filter_map(|item| get_s(item, SK)?.parse().ok())
                .collect();
            for record in self.records_at(&seqs)? {
                if out.len() < limit && wanted(&record) {
                    out.push(record);
                }
            }
            match output.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => break,
            }
        }
        Ok(())
    }
}

/// Pruning: the base moves in the head first (from then on no reader goes below it), then the
/// items below it are deleted (see [`super`]).
impl DynamoSink {
    /// Moves the base to `base`, on condition that it only moves forward and stays below the
    /// log's end.
    pub(crate) fn move_base(&self, base: LogBase) -> Result<(), StoreError> {
        let mut set = vec!["#bs = :bs", "#ba = :ba", "#bn = :bn"];
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(HEAD, ONLY)))
            .condition_expression("(attribute_not_exists(#bs) OR #bs < :bs) AND #s >= :bn")
            .expression_attribute_names("#s", LAST_SEQ)
            .expression_attribute_names("#bs", BASE_SEQ)
            .expression_attribute_names("#ba", BASE_AT)
            .expression_attribute_names("#bn", BASE_SNAPSHOT)
            .expression_attribute_names("#bh", BASE_HASH)
            .expression_attribute_values(":bs", n(base.link.seq))
            .expression_attribute_values(":ba", n(base.at.millis()))
            .expression_attribute_values(":bn", n(base.snapshot_seq));
        let mut remove = "";
        match base.link.hash {
            Some(hash) => {
                set.push("#bh = :bh");
                update = update.expression_attribute_values(":bh", AttributeValue::B(Blob::new(hash.0)));
            }
            None => remove = " REMOVE #bh",
        }
        let call = update.update_expression(format!("SET {}{remove}", set.join(", "))).send();
        match self.io.block(call).map_err(StoreError::Write)? {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                return Err(StoreError::Write(format!(
                    "cannot move the log's base to seq {}: another process moved it past that first",
                    base.link.seq
                )));
            }
            Err(e) => return Err(StoreError::Write(describe(e))),
        }
        *self.base.write().unwrap_or_else(PoisonError::into_inner) = base;
        Ok(())
    }

    /// Deletes every record item through `through` (all below the base) with its subject
    /// entries, idempotency keys and other parts, a page at a time and in that order: subject
    /// entries and keys first, then parts, each record's own item last. A sweep cut short leaves
    /// only records the next one finds again, and one whose parts are gone (so it cannot be
    /// read for its subjects) had its subject entries deleted before.
    pub(crate) fn sweep(&self, through: u64) -> Result<u64, StoreError> {
        let mut deleted = 0;
        loop {
            let call = self.range_query(LOG, seq_key(1), seq_key(through)).limit(SWEEP_PAGE).send();
            let items = self.send(call).map_err(StoreError::Read)?.items.unwrap_or_default();
            if items.is_empty() {
                return Ok(deleted);
            }
            let (mut entries, mut parts, mut records) = (Vec::new(), Vec::new(), Vec::new());
            for item in items {
                let sk = get_s(&item, SK).unwrap_or_default().to_owned();
                let seq: u64 = sk.parse().unwrap_or(0);
                let keys = item.get(IDEM).and_then(|v| v.as_l().ok()).map(Vec::as_slice).unwrap_or_default();
                let keys: Vec<&String> = keys.iter().filter_map(|k| k.as_s().ok()).collect();
                let mut known = lock(&self.known_keys);
                for k in &keys {
                    known.remove(*k);
                }
                drop(known);
                entries.extend(keys.into_iter().map(|k| key(key_pk(k), ONLY)));
                let count: u64 = get_n(&item, PARTS).unwrap_or(0);
                parts.extend((1..=count).map(|i| key(part_pk(seq), format!("{i:010}"))));
                match self.stored(item) {
                    Ok((seq, bytes)) => {
                        let subjects: BTreeSet<String> =
                            decode_record(seq, &bytes)?.event.subjects().iter().map(subject_pk).collect();
                        entries.extend(subjects.into_iter().map(|subject| key(subject, sk.clone())));
                    }
                    Err(StoreError::Corrupt { .. }) if count > 0 => {}
                    Err(error) => return Err(error),
                }
                records.push(key(LOG, sk));
            }
            deleted += records.len() as u64;
            self.delete_items(entries)?;
            self.delete_items(parts)?;
            self.delete_items(records)?;
        }
    }

    /// Deletes the vault's change notices but the newest `kept`, oldest first, a page at a
    /// time; returns how many. A replica further behind than that finds notices missing and
    /// reloads the whole vault instead ([`Self::vault_changes`]).
    pub(crate) fn prune_vault_changes(&self, kept: u64) -> Result<u64, StoreError> {
        let through = self.head().map_err(StoreError::Read)?.vault_version.saturating_sub(kept);
        if through == 0 {
            return Ok(0);
        }
        let mut deleted = 0;
        loop {
            let call = self
                .range_query(VAULT_CHANGE, seq_key(1), seq_key(through))
                .projection_expression("#pk, #sk")
                .limit(SWEEP_PAGE)
                .send();
            let items = self.send(call).map_err(StoreError::Read)?.items.unwrap_or_default();
            if items.is_empty() {
                return Ok(deleted);
            }
            deleted += items.len() as u64;
            let keys = items.iter().filter_map(|i| Some(key(VAULT_CHANGE, get_s(i, SK)?))).collect();
            self.delete_items(keys)?;
        }
    }

    /// Deletes the items under `keys`, 25 to a request.
    fn delete_items(&self, keys: Vec<Item>) -> Result<(), StoreError> {
        let request = |key: Item| {
            let delete = DeleteRequest::builder().set_key(Some(key)).build().map_err(|e| e.to_string())?;
            Ok::<_, String>(WriteRequest::builder().delete_request(delete).build())
        };
        let requests =
            keys.into_iter().map(request).collect::<Result<Vec<_>, _>>().map_err(StoreError::Write)?;
        for chunk in requests.chunks(25) {
            until_processed(chunk.to_vec(), "deletes undone", |pending| {
                let call = self.client.batch_write_item().request_items(&self.table, pending).send();
                Ok(self.send(call)?.unprocessed_items.and_then(|mut u| u.remove(&self.table)))
            })
            .map_err(StoreError::Write)?;
        }
        Ok(())
    }
}

/// Runs a batch request (`call`, answering what DynamoDB left unprocessed) until nothing is
/// left, backing off between tries; after ten, fails naming how many are `left` as what.
fn until_processed<T>(
    mut pending: Vec<T>,
    left: &str,
    mut call: impl FnMut(Vec<T>) -> Result<Option<Vec<T>>, String>,
) -> Result<(), String> {
    for attempt in 0.. {
        pending = call(pending)?.unwrap_or_default();
        if pending.is_empty() {
            return Ok(());
        }
        if attempt == 10 {
            return Err(format!("DynamoDB left {} {left} after {attempt} tries", pending.len()));
        }
        std::thread::sleep(Duration::from_millis(20 << attempt.min(5)));
    }
    Ok(())
}

/// Refuses a stored record that is not the next one expected.
fn follows(expected: u64, seq: u64) -> Result<(), StoreError> {
    if seq == expected {
        return Ok(());
    }
    Err(StoreError::Corrupt { seq: expected, reason: format!("missing; the log jumps to {seq}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(items: usize, bytes: usize) -> BatchOps {
        BatchOps { records: Vec::new(), keys: Vec::new(), vault_items: items, vault_bytes: bytes }
    }

    #[test]
    fn groups_split_into_commits_at_batch_boundaries() {
        let plan_of = |batches: Vec<BatchOps>| plan(&batches);
        assert_eq!(plan_of(vec![cost(40, 10), cost(40, 10), cost(40, 10)]), [0..2, 2..3]);
        assert_eq!(plan_of(vec![cost(300, 10), cost(1, 10)]), [0..1, 1..2], "a huge batch commits alone");
        assert_eq!(plan_of(vec![cost(1, 2_000_000), cost(1, 2_000_000)]), [0..1, 1..2]);
        let whole = plan_of((0..99).map(|_| cost(1, 10)).collect());
        assert_eq!((whole.len(), whole[0].clone()), (1, 0..99), "99 items and the head's: one transaction");
        assert_eq!(plan_of((0..100).map(|_| cost(1, 10)).collect()), [0..99, 99..100]);
    }

    #[test]
    fn seq_keys_sort_as_seqs() {
        assert!(seq_key(9) < seq_key(10));
        assert!(seq_key(99_999) < seq_key(100_000));
        assert_eq!(seq_key(u64::MAX).len(), 20);
    }
}
