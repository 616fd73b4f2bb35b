//! The log's tamper-evident chain. Every record appended carries a SHA-256 hash over the hash of
//! the record before it and its own canonical form ([`canonical_form`]: JSON anyone can rebuild
//! from an export), stored right after its envelope ([`crate::encode_chained`]). Changing a
//! stored record, removing one or reordering them breaks the chain from there on, which
//! [`verify_chain`] finds; [`chain_head`] is its last link, and [`export_chain`] writes a range
//! of records with their hashes as JSON lines an outsider can check.
//!
//! A record written before the chain existed carries no hash: the chain of a log upgraded in
//! place starts at its first record written after, linked to [`ChainHash::GENESIS`]. Whoever
//! can rewrite the storage can also rewrite every hash after a change, so a consistent chain
//! proves nothing about a log by itself: a rewrite shows against a hash noted before it (the
//! head the console shows, an export kept elsewhere).

use crate::codec::decode_chained;
use crate::error::StoreError;
use crate::log::EventLog;
use pacer_domain::Recorded;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;

/// Records per chunk while checking or exporting.
const CHUNK: usize = 1_024;

/// A record's chain hash: SHA-256 of the previous record's hash and its own canonical form.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// What the chain's first record links to: 32 zero bytes.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    /// The hash of a record of canonical form `canonical` that follows the record of this hash.
    pub fn next(&self, canonical: &[u8]) -> ChainHash {
        let mut hasher = Sha256::new();
        hasher.update(self.0);
        hasher.update(canonical);
        ChainHash(hasher.finalize().into())
    }
}

/// Lower-case hex.
impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({self})")
    }
}

/// A record's place in the chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainLink {
    /// Its seq (0: before the log's first record).
    pub seq: u64,
    /// Its hash; `None` for a record written before the chain existed, and for seq 0.
    pub hash: Option<ChainHash>,
}

/// The bytes a record's hash covers: the JSON object of its `seq`, `at` (milliseconds since the
/// epoch), `actor` (as serde writes it: `"System"`, `"GitHub"`, `{"User":"…"}`,
/// `{"Runner":"…"}`, `{"Replica":{"id":"…","term":…}}`), `action` (the event name),
/// `request_id` (or null) and `payload` (the event's fields, as the audit view shows them),
/// without whitespace, the keys of every object sorted by their UTF-8 bytes, strings escaped
/// only where JSON requires it (control characters without a short escape as lower-case
/// `\u00xx`) and integers in decimal: what Python's `json.dumps(fields, sort_keys=True,
/// separators=(",", ":"), ensure_ascii=False)` writes. A payload holding a number that is not
/// an integer has no canonical form (no event holds one).
pub fn canonical_form(record: &Recorded) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(256);
    write_canonical(&Value::Object(fields(record)?), &mut out)
        .map_err(|reason| encode_error(record, reason))?;
    Ok(out)
}

fn encode_error(record: &Recorded, reason: impl fmt::Display) -> StoreError {
    StoreError::Encode { seq: record.seq, reason: format!("canonical form: {reason}") }
}

/// The fields of a record's canonical form.
fn fields(record: &Recorded) -> Result<Map<String, Value>, StoreError> {
    let json = |value: Result<Value, serde_json::Error>| value.map_err(|e| encode_error(record, e));
    // An event serializes as `{"Variant": payload}`.
    let payload = match json(serde_json::to_value(&record.event))? {
        Value::Object(variant) if variant.len() == 1 => {
            variant.into_iter().map(|(_, payload)| payload).next()
        }
        _ => None,
    };
    let payload =
        payload.ok_or_else(|| encode_error(record, "the event is not one variant of one payload"))?;
    let mut fields = Map::new();
    fields.insert("seq".into(), record.seq.into());
    fields.insert("at".into(), record.at.millis().into());
    fields.insert("actor".into(), json(serde_json::to_value(&record.actor))?);
    fields.insert("action".into(), record.event.name().as_str().into());
    fields.insert("request_id".into(), record.request_id.clone().into());
    fields.insert("payload".into(), payload);
    Ok(fields)
}

/// Writes `value` in canonical form (see [`canonical_form`]).
fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    match value {
        Value::Object(fields) => {
            let mut sorted: Vec<(&String, &Value)> = fields.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, value)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(key, out)?;
                out.push(b':');
                write_canonical(value, out)?;
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Number(number) if !(number.is_i64() || number.is_u64()) => {
            return Err(format!("{number} is not an integer"));
        }
        other => write_json(other, out)?,
    }
    Ok(())
}

/// Writes a string or another scalar as serde_json does.
fn write_json(value: &impl serde::Serialize, out: &mut Vec<u8>) -> Result<(), String> {
    serde_json::to_writer(out, value).map_err(|e| e.to_string())
}

/// The link of the record at `seq` (seq 0: before the first record).
pub(crate) fn link_at(log: &dyn EventLog, seq: u64) -> Result<ChainLink, StoreError> {
    let base = log.base().link;
    if seq == base.seq {
        return Ok(base);
    }
    if seq < base.seq {
        return Err(StoreError::Pruned { through: base.seq });
    }
    let mut link = None;
    log.scan(seq, 1, &mut |chunk| {
        link = chunk
            .stored()
            .next()
            .filter(|(first, _)| *first == seq)
            .map(|(seq, stored)| Ok(ChainLink { seq, hash: decode_chained(seq, stored)?.1 }));
        false
    })?;
    link.unwrap_or_else(|| Err(StoreError::Corrupt { seq, reason: "missing from the log".into() }))
}

/// The last durable record's link: where the chain ends now.
pub fn chain_head(log: &dyn EventLog) -> Result<ChainLink, StoreError> {
    link_at(log, log.last_seq())
}

/// What [`verify_chain`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainReport {
    /// The first record the chain covers: the first checked that carries a hash (1 on a log
    /// written since the chain exists); `None` when none does.
    pub starts_at: Option<u64>,
    /// The last record that keeps the chain whole, with its hash: the chain's head when it is
    /// whole, which is worth comparing with a head noted before.
    pub head: ChainLink,
    /// The first record that breaks the chain; `None` when it is whole.
    pub broken: Option<ChainBreak>,
}

/// Where and why the chain breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    /// The record's seq.
    pub seq: u64,
    /// Why.
    pub reason: String,
}

/// Checks the chain of every record after `from` to the log's end: `ChainLink::default()` for
/// the whole log, or the link of a record whose predecessors need no check (the seq and hash a
/// verified snapshot records, once the log before it is pruned). Once a record carries a hash,
/// every later one must, and each must be the hash of its own canonical form after the hash
/// before (the chain's first links to [`ChainHash::GENESIS`]); a record that is missing or does
/// not decode breaks it too. Fails only when the log cannot be read.
pub fn verify_chain(log: &dyn EventLog, from: ChainLink) -> Result<ChainReport, StoreError> {
    verify_chain_through(log, from, u64::MAX)
}

/// [`verify_chain`] up to the record at `through` (or the log's end).
pub(crate) fn verify_chain_through(
    log: &dyn EventLog,
    from: ChainLink,
    through: u64,
) -> Result<ChainReport, StoreError> {
    let base = log.base().link.seq;
    if from.seq < base {
        return Err(StoreError::Pruned { through: base });
    }
    let mut report = ChainReport { starts_at: None, head: from, broken: None };
    let mut failed = None;
    let scanned = log.scan(from.seq + 1, CHUNK, &mut |chunk| {
        for (seq, stored) in chunk.stored() {
            if seq > through {
                return false;
            }
            match follow(&report.head, seq, stored) {
                Ok(Ok(hash)) => {
                    if hash.is_some() && report.starts_at.is_none() {
                        report.starts_at = Some(seq);
                    }
                    report.head = ChainLink { seq, hash };
                }
                Ok(Err(reason)) => {
                    report.broken = Some(ChainBreak { seq, reason });
                    return false;
                }
                Err(error) => {
                    failed = Some(error);
                    return false;
                }
            }
        }
        true
    });
    match failed.map_or(scanned, Err) {
        Ok(()) => Ok(report),
        Err(StoreError::Corrupt { seq, reason }) => {
            Ok(ChainReport { broken: Some(ChainBreak { seq, reason }), ..report })
        }
        Err(error) => Err(error),
    }
}

/// The hash of the record stored at `seq` as `stored` if it follows `prev` in the chain, or why
/// it does not.
fn follow(
    prev: &ChainLink,
    seq: u64,
    stored: &[u8],
) -> Result<Result<Option<ChainHash>, String>, StoreError> {
    let (record, hash) = match decode_chained(seq, stored) {
        Ok(decoded) => decoded,
        Err(StoreError::Corrupt { reason, .. }) => return Ok(Err(reason)),
        Err(error) => return Err(error),
    };
    Ok(match hash {
        None if prev.hash.is_some() => Err("it carries no chain hash, but the record before does".into()),
        None => Ok(None),
        Some(hash) => {
            let expected = prev.hash.unwrap_or(ChainHash::GENESIS).next(&canonical_form(&record)?);
            match hash == expected {
                true => Ok(Some(hash)),
                false => Err(format!(
                    "its chain hash {hash} is not that of its content after the record before ({expected})"
                )),
            }
        }
    })
}

/// Hands the records from `from_seq` through `to_seq` (at most to the log's end) to `line`, one
/// JSON line each (with its newline), until `line` returns false; answers the lines handed. A
/// line holds the fields of the record's [`canonical_form`] and `hash`, its chain hash, and
/// `prev`, the hash it follows (the record before's, or [`ChainHash::GENESIS`] for the chain's
/// first), both in lower-case hex, or null for a record written before the chain existed; the
/// line itself is in canonical form. To check a line: drop `hash` and `prev`, write the rest in
/// canonical form, and SHA-256 of `prev`'s 32 bytes followed by that must be `hash`; `prev`
/// must be the line before's `hash`.
pub fn export_chain(
    log: &dyn EventLog,
    from_seq: u64,
    to_seq: u64,
    line: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<u64, StoreError> {
    let from = from_seq.max(log.base().link.seq + 1);
    let to = to_seq.min(log.last_seq());
    if from > to {
        return Ok(0);
    }
    let mut before = link_at(log, from - 1)?.hash;
    let mut written = 0;
    let mut failed = None;
    let mut out = Vec::new();
    let chunk = usize::try_from(to - from + 1).unwrap_or(CHUNK).min(CHUNK);
    log.scan(from, chunk, &mut |chunk| {
        for (seq, stored) in chunk.stored() {
            if seq > to {
                return false;
            }
            out.clear();
            if let Err(error) = export_line(seq, stored, &mut before, &mut out) {
                failed = Some(error);
                return false;
            }
            written += 1;
            if !line(&out) {
                return false;
            }
        }
        true
    })?;
    failed.map_or(Ok(written), Err)
}

/// Writes the export line of the record stored at `seq` as `stored`, after a record of hash
/// `before`, which becomes its own.
fn export_line(
    seq: u64,
    stored: &[u8],
    before: &mut Option<ChainHash>,
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    let (record, hash) = decode_chained(seq, stored)?;
    let hex = |hash: Option<ChainHash>| hash.map_or(Value::Null, |hash| hash.to_string().into());
    let prev = hash.map(|_| before.unwrap_or(ChainHash::GENESIS));
    let mut fields = fields(&record)?;
    fields.insert("prev".into(), hex(prev));
    fields.insert("hash".into(), hex(hash));
    write_canonical(&Value::Object(fields), out).map_err(|reason| encode_error(&record, reason))?;
    out.push(b'\n');
    *before = hash;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_domain::{Actor, Event, HealthChanged, Timestamp};

    #[test]
    fn a_canonical_form_is_compact_json_with_sorted_keys() {
        let record = Recorded {
            seq: 7,
            at: Timestamp::from_millis(1_700_000_000_000),
            actor: Actor::Replica { id: "b".into(), term: 3 },
            request_id: None,
            event: Event::HealthChanged(HealthChanged {
                component: "é\t\u{1}".into(),
                ok: true,
                message: "".into(),
            }),
        };
        let canonical = String::from_utf8(canonical_form(&record).expect("canonical")).expect("UTF-8");
        assert_eq!(
            canonical,
            r#"{"action":"health.changed","actor":{"Replica":{"id":"b","term":3}},"at":1700000000000,"payload":{"component":"é\t\u0001","message":"","ok":true},"request_id":null,"seq":7}"#
        );
        let hash = ChainHash::GENESIS.next(canonical.as_bytes());
        assert_eq!(hash.to_string().len(), 64);
        assert_ne!(hash, ChainHash::GENESIS.next(b"{}"));
    }
}
