//! Copying a RocksDB log into another, empty log (`pacer migrate`, e.g. to DynamoDB): every
//! record with its seq, time, actor and request id, every idempotency key with the records it
//! came with, and the vault; then a verification that reads both logs back and compares them
//! record by record, key by key and entry by entry.

use crate::error::StoreError;
use crate::log::{Batch, COLD_PREFIX, EventLog, NewRecord, VaultWrite};
use crate::rocks::RocksLog;
use std::collections::HashMap;

/// Records per appended batch.
const RECORDS_PER_BATCH: usize = 200;
/// Idempotency keys per appended batch at most (a DynamoDB transaction holds 100 items).
const KEYS_PER_BATCH: usize = 80;
/// Vault entries per appended batch.
const VAULT_PER_BATCH: usize = 50;
/// Records compared per read.
const VERIFY_CHUNK: usize = 10_000;

/// What [`copy_log`] copied and checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    /// Records copied.
    pub records: u64,
    /// Idempotency keys copied.
    pub keys: u64,
    /// Vault entries copied.
    pub vault_entries: u64,
}

/// Copies `from` into `to`, which must be empty, and verifies the copy; `progress` is told the
/// last seq copied after each batch. Refused, writing nothing, when `to` holds records.
pub fn copy_log(
    from: &RocksLog,
    to: &dyn EventLog,
    progress: &mut dyn FnMut(u64),
) -> Result<Copied, StoreError> {
    if to.last_seq() != 0 {
        return Err(StoreError::Write(format!(
            "the target log is not empty (it ends at seq {}); migrate only into a new log",
            to.last_seq()
        )));
    }
    let pruned = from.base().link.seq;
    if pruned > 0 {
        return Err(StoreError::Unsupported(format!(
            "the log is pruned through seq {pruned}; only a log that begins at seq 1 can be migrated"
        )));
    }
    let keys = from.keys()?;
    let mut keys_at: HashMap<u64, Vec<String>> = HashMap::new();
    for (key, seq) in &keys {
        keys_at.entry(*seq).or_default().push(key.clone());
    }
    let last = from.last_seq();
    let mut next = 1;
    while next <= last {
        let records = from.read(next, RECORDS_PER_BATCH)?;
        let Some(first) = records.first().map(|r| r.seq) else { break };
        let mut batch = Batch { expected_first_seq: Some(first), ..Batch::default() };
        for record in records {
            let keys = keys_at.get(&record.seq).map_or(0, Vec::len);
            if !batch.records.is_empty() && batch.keys.len() + keys > KEYS_PER_BATCH {
                break;
            }
            batch.keys.extend(keys_at.remove(&record.seq).unwrap_or_default());
            batch.records.push(NewRecord {
                at: record.at,
                actor: record.actor,
                request_id: record.request_id,
                event: record.event,
            });
        }
        let count = batch.records.len() as u64;
        let written = to.append(batch)?;
        if written.len() as u64 != count || written.first().map(|r| r.seq) != Some(first) {
            return Err(StoreError::Write(format!(
                "the target log wrote {} records from seq {:?} for {count} from seq {first}",
                written.len(),
                written.first().map(|r| r.seq)
            )));
        }
        next = first + count;
        progress(next - 1);
    }
    if let Some(seq) = keys_at.keys().min() {
        return Err(StoreError::Read(format!(
            "idempotency keys name seq {seq}, which the log does not hold"
        )));
    }
    // The hot entries and the cold ones, which the RocksDB log reads from disk only.
    let mut entries = from.vault_scan("");
    entries.extend(from.vault_scan(COLD_PREFIX));
    entries.sort();
    entries.dedup_by(|a, b| a.0 == b.0);
    for chunk in entries.chunks(VAULT_PER_BATCH) {
        let vault = chunk
            .iter()
            .map(|(key, value)| VaultWrite { key: key.clone(), value: Some(value.clone()) })
            .collect();
        to.append(Batch { vault, ..Batch::default() })?;
    }
    verify_copy(from, to, &keys, &entries)?;
    Ok(Copied { records: last, keys: keys.len() as u64, vault_entries: entries.len() as u64 })
}

/// Reads both logs back and compares them.
fn verify_copy(
    from: &RocksLog,
    to: &dyn EventLog,
    keys: &[(String, u64)],
    entries: &[(String, Vec<u8>)],
) -> Result<(), StoreError> {
    let differ = |what: String| Err(StoreError::Read(format!("the copy differs from the original: {what}")));
    if to.last_seq() != from.last_seq() {
        return differ(format!("it ends at seq {}, the original at {}", to.last_seq(), from.last_seq()));
    }
    let mut next = 1;
    while next <= from.last_seq() {
        let (original, copy) = (from.read(next, VERIFY_CHUNK)?, to.read(next, VERIFY_CHUNK)?);
        if let Some((a, b)) = original.iter().zip(&copy).find(|(a, b)| a != b) {
            return differ(format!("record {} is {b:?}, the original {a:?}", a.seq));
        }
        if copy.len() != original.len() || original.is_empty() {
            return differ(format!(
                "from seq {next} it holds {} records, the original {}",
                copy.len(),
                original.len()
            ));
        }
        next += original.len() as u64;
    }
    for (key, _) in keys {
        if !to.has_key(key)? {
            return differ(format!("idempotency key {key} is missing"));
        }
    }
    let mut copied = to.vault_scan("");
    copied.extend(to.vault_scan(COLD_PREFIX));
    copied.sort();
    copied.dedup_by(|a, b| a.0 == b.0);
    if copied != entries {
        return differ("the vault".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryLog;
    use pacer_domain::{Actor, Event, HealthChanged, Timestamp};

    fn health(i: u64) -> Event {
        Event::HealthChanged(HealthChanged {
            component: format!("c{i}"),
            ok: i.is_multiple_of(2),
            message: String::new(),
        })
    }

    #[test]
    fn a_log_is_copied_with_its_keys_and_vault_and_only_into_an_empty_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let from = RocksLog::open(dir.path()).expect("open");
        for i in 0..500u64 {
            let mut batch =
                Batch::of(Timestamp(1_790_000_000_000 + i as i64), Actor::GitHub, [health(i), health(i + 1)]);
            batch.records[0].request_id = Some(format!("delivery-{i}"));
            batch.keys = vec![format!("delivery:{i}"), format!("ghjob:{i}")];
            from.append(batch).expect("append");
        }
        let vault =
            (0..120).map(|i| VaultWrite { key: format!("session:{i:03}"), value: Some(vec![i as u8; 8]) });
        from.append(Batch { vault: vault.collect(), ..Batch::default() }).expect("vault");

        let to = MemoryLog::new();
        let mut seen = Vec::new();
        let copied = copy_log(&from, &to, &mut |seq| seen.push(seq)).expect("copy");
        assert_eq!(copied, Copied { records: 1_000, keys: 1_000, vault_entries: 120 });
        assert_eq!(seen.last(), Some(&1_000));
        assert_eq!(to.read(1, 2_000).expect("read"), from.read(1, 2_000).expect("read"));
        assert!(to.has_key("ghjob:499").expect("key") && to.has_key("delivery:0").expect("key"));
        assert_eq!(to.vault_get("session:042"), Some(vec![42; 8]));

        let refused = copy_log(&from, &to, &mut |_| {}).expect_err("not empty");
        assert!(refused.to_string().contains("not empty"), "{refused}");
        assert_eq!(to.last_seq(), 1_000, "a refused copy writes nothing");
    }
}
