//! The stored encoding: every record is an envelope (seq, time, actor, request id, event name,
//! payload version, payload bytes) encoded with bincode, followed by its 32-byte chain hash
//! (see [`crate::chain`]; a record written before the chain existed ends with its envelope);
//! the payload is the event's own struct, also bincode. Keeping name + version + bytes (never a
//! tagged enum) means adding an event never breaks old records, and old versions can be upcast
//! on read. Snapshots of the folded state use the same codec behind a header that pins their
//! format.

use crate::chain::{ChainHash, canonical_form};
use crate::error::StoreError;
use bincode::config::{Configuration, Limit, LittleEndian, Varint, standard};
use pacer_domain::{Actor, Event, Job, JobsLoader, PayloadCodec, Recorded, State, Timestamp};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// Bincode with the standard configuration, behind the domain's [`PayloadCodec`].
#[derive(Clone, Copy, Debug, Default)]
pub struct BincodeCodec;

/// A bincode failure.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Encoding failed.
    #[error("encode: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    /// Decoding failed.
    #[error("decode: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    /// Bytes were left over after decoding.
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

const CONFIG: Configuration = standard();
/// The most a decode may allocate, whatever a (corrupted) length prefix claims: a record or a
/// snapshot section is far smaller, so a damaged length is refused instead of aborting the
/// process on a huge allocation (found by the `record_decoder` fuzz target).
const DECODE: Configuration<LittleEndian, Varint, Limit<{ 1 << 30 }>> =
    standard().with_limit::<{ 1 << 30 }>();

impl PayloadCodec for BincodeCodec {
    type Error = CodecError;

    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        Ok(bincode::serde::encode_to_vec(value, CONFIG)?)
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        whole(bincode::serde::decode_from_slice(bytes, DECODE)?, bytes.len())
    }
}

/// The decoded value, if it took all `len` bytes.
fn whole<T>((value, read): (T, usize), len: usize) -> Result<T, CodecError> {
    if read != len {
        return Err(CodecError::Trailing(len - read));
    }
    Ok(value)
}

/// The stored envelope. Decoding borrows the name and payload from the stored bytes (bincode
/// writes a byte slice and a `Vec<u8>` alike: a length, then the bytes).
#[derive(Serialize, Deserialize)]
struct Envelope<'a> {
    seq: u64,
    at: i64,
    actor: Actor,
    request_id: Option<String>,
    name: &'a str,
    version: u16,
    #[serde(with = "bytes")]
    payload: &'a [u8],
}

/// `&[u8]` as one length-prefixed run of bytes rather than a sequence of `u8`s: the same
/// encoding in bincode, without a visitor call per byte on decode.
mod bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<&'de [u8], D::Error> {
        <&[u8]>::deserialize(deserializer)
    }
}

/// Encodes a record's envelope: a record as stored before the chain existed.
pub fn encode_record(record: &Recorded) -> Result<Vec<u8>, StoreError> {
    let codec = BincodeCodec;
    let payload = record
        .event
        .encode_payload(&codec)
        .map_err(|e| StoreError::Encode { seq: record.seq, reason: e.to_string() })?;
    let envelope = Envelope {
        seq: record.seq,
        at: record.at.millis(),
        actor: record.actor.clone(),
        request_id: record.request_id.clone(),
        name: record.event.name().as_str(),
        version: pacer_domain::EVENT_VERSION,
        payload: &payload,
    };
    codec.encode(&envelope).map_err(|e| StoreError::Encode { seq: record.seq, reason: e.to_string() })
}

/// Encodes a record for the log as the one after a record of chain hash `prev`: its envelope,
/// then its own chain hash, which it answers too.
pub fn encode_chained(record: &Recorded, prev: &ChainHash) -> Result<(Vec<u8>, ChainHash), StoreError> {
    let hash = prev.next(&canonical_form(record)?);
    let mut stored = encode_record(record)?;
    stored.extend_from_slice(&hash.0);
    Ok((stored, hash))
}

/// Decodes a record stored under `seq`.
pub fn decode_record(seq: u64, bytes: &[u8]) -> Result<Recorded, StoreError> {
    decode_chained(seq, bytes).map(|(record, _)| record)
}

/// Decodes a record stored under `seq`, with its chain hash (`None` when it was written before
/// the chain existed).
pub fn decode_chained(seq: u64, bytes: &[u8]) -> Result<(Recorded, Option<ChainHash>), StoreError> {
    let codec = BincodeCodec;
    let corrupt = |reason: String| StoreError::Corrupt { seq, reason };
    let (envelope, read): (Envelope, usize) = bincode::serde::borrow_decode_from_slice(bytes, DECODE)
        .map_err(|e| corrupt(format!("envelope: {}", CodecError::from(e))))?;
    let hash = match &bytes[read..] {
        [] => None,
        rest => Some(ChainHash(
            rest.try_into()
                .map_err(|_| corrupt(format!("envelope: {}", CodecError::Trailing(rest.len()))))?,
        )),
    };
    if envelope.seq != seq {
        return Err(corrupt(format!("envelope says seq {}", envelope.seq)));
    }
    let event = Event::decode_payload(&codec, envelope.name, envelope.version, envelope.payload)
        .map_err(|e| corrupt(e.to_string()))?;
    let record = Recorded {
        seq,
        at: Timestamp::from_millis(envelope.at),
        actor: envelope.actor,
        request_id: envelope.request_id,
        event,
    };
    Ok((record, hash))
}

/// Consecutive stored records, not yet decoded: what a long scan hands over, so that whichever
/// thread has time can decode them. The bytes of every record sit end to end in one buffer.
#[derive(Clone, Debug, Default)]
pub struct StoredChunk {
    first_seq: u64,
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl StoredChunk {
    /// Empties the chunk for records from `first_seq` on, keeping its buffers.
    pub(crate) fn restart(&mut self, first_seq: u64) {
        self.first_seq = first_seq;
        self.bytes.clear();
        self.ends.clear();
    }

    /// Adds the next record's stored bytes.
    pub(crate) fn push(&mut self, stored: &[u8]) {
        self.bytes.extend_from_slice(stored);
        self.ends.push(self.bytes.len());
    }

    /// The stored bytes of the first record.
    pub(crate) fn first(&self) -> Option<&[u8]> {
        self.ends.first().map(|&end| &self.bytes[..end])
    }

    /// The seq of the first record.
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Each record's seq and stored bytes, in order.
    pub fn stored(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        (self.first_seq..)
            .zip(starts.zip(&self.ends))
            .map(|(seq, (start, &end))| (seq, &self.bytes[start..end]))
    }

    /// Decodes every record onto the end of `out`; the first that does not decode stops it
    /// with its seq and the reason.
    pub fn decode_into(&self, out: &mut Vec<Recorded>) -> Result<(), StoreError> {
        out.reserve(self.len());
        for (seq, stored) in self.stored() {
            out.push(decode_record(seq, stored)?);
        }
        Ok(())
    }
}

/// Snapshot header magic.
const SNAPSHOT_MAGIC: &[u8; 8] = b"PACERSNP";
/// Bump whenever the snapshot layout or `State`'s serialized shape changes; a snapshot of another
/// format (or another crate version) is ignored and the state is rebuilt from the log.
pub const SNAPSHOT_FORMAT: u32 = 10;
/// Job rows per snapshot chunk (about 5 MiB).
const ROWS_PER_CHUNK: usize = 32_768;

/// What binds a snapshot to the log it was folded from: a digest of the stored bytes of the
/// record at the snapshot's seq (0 for the empty log). A snapshot whose anchor differs from
/// the log's record at that seq came from another log (a restored or replaced data directory,
/// a write that was never durable) and is not used.
pub fn anchor_of(stored: &[u8]) -> u64 {
    (stored.len() as u64) << 32 | u64::from(crc32fast::hash(stored))
}

/// A decoded snapshot: the state and the [`anchor_of`] the record at its seq.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The folded state, covering `state.last_seq`.
    pub state: State,
    /// The anchor of the record at `state.last_seq`.
    pub anchor: u64,
}

/// Encodes a folded state as a snapshot covering `state.last_seq`, whose record in the log has
/// `anchor` (see [`write_snapshot_to`]).
pub fn encode_snapshot(state: &State, anchor: u64) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    write_snapshot_to(state, anchor, &mut out)?;
    Ok(out)
}

/// Writes a folded state as a snapshot covering `state.last_seq`, whose record in the log has
/// `anchor`, to `out`: a header (magic, format, version, seq, anchor), then sections, each a
/// big-endian length, a CRC-32 and bincode bytes: the state without its jobs, the job table's
/// id counter and row count, then the job rows in chunks of [`ROWS_PER_CHUNK`], which
/// [`read_snapshot`] decodes on a second thread while the first indexes them. Only one section
/// is in memory at a time. Answers the bytes written.
pub fn write_snapshot_to(state: &State, anchor: u64, out: &mut dyn Write) -> Result<u64, StoreError> {
    let encode_err = |e: CodecError| StoreError::Snapshot(e.to_string());
    let io_err = |e: std::io::Error| StoreError::Snapshot(e.to_string());
    let version = env!("CARGO_PKG_VERSION").as_bytes();
    let mut head = Vec::new();
    head.extend_from_slice(SNAPSHOT_MAGIC);
    head.extend_from_slice(&SNAPSHOT_FORMAT.to_be_bytes());
    head.push(version.len() as u8);
    head.extend_from_slice(version);
    head.extend_from_slice(&state.last_seq.to_be_bytes());
    head.extend_from_slice(&anchor.to_be_bytes());
    out.write_all(&head).map_err(io_err)?;
    let mut written = head.len() as u64;
    let mut section = |bytes: Vec<u8>| -> Result<(), StoreError> {
        out.write_all(&(bytes.len() as u64).to_be_bytes()).map_err(io_err)?;
        out.write_all(&crc32fast::hash(&bytes).to_be_bytes()).map_err(io_err)?;
        out.write_all(&bytes).map_err(io_err)?;
        written += 12 + bytes.len() as u64;
        Ok(())
    };
    section(BincodeCodec.encode(state).map_err(encode_err)?)?;
    let jobs = &state.jobs;
    section(BincodeCodec.encode(&(jobs.id_counter(), jobs.len() as u64)).map_err(encode_err)?)?;
    let mut rows = jobs.iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<&Job> = rows.by_ref().take(ROWS_PER_CHUNK).collect();
        section(BincodeCodec.encode(&chunk).map_err(encode_err)?)?;
    }
    Ok(written)
}

/// Why a snapshot was not used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotRejected {
    /// Not a snapshot, or truncated.
    #[error("not a snapshot or truncated")]
    Malformed,
    /// Written by another format or version.
    #[error("written by format {format} of pacer {version}")]
    OtherFormat {
        /// Its format.
        format: u32,
        /// Its crate version.
        version: String,
    },
    /// The checksum does not match.
    #[error("checksum mismatch")]
    Checksum,
    /// The body does not decode.
    #[error("does not decode: {0}")]
    Decode(String),
    /// Reading it failed.
    #[error("unreadable: {0}")]
    Unreadable(String),
    /// It does not match the log (see [`anchor_of`]).
    #[error("does not match the log: {0}")]
    NotThisLog(String),
}

impl SnapshotRejected {
    /// Whether the snapshot can never be used and is best deleted: damaged or from another
    /// log. One of another format may serve the version that wrote it, and an unreadable one
    /// may be readable later, so those are kept.
    pub fn is_useless(&self) -> bool {
        !matches!(self, Self::OtherFormat { .. } | Self::Unreadable(_))
    }
}

/// Decodes a snapshot written by this format and version.
pub fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, SnapshotRejected> {
    read_snapshot(bytes)
}

/// Reads a snapshot written by this format and version from a stream. A second thread reads and
/// decodes the job rows chunk by chunk (through one reused buffer) while this one decodes the
/// rest of the state and builds the job indexes from the chunks before.
pub fn read_snapshot(mut reader: impl Read + Send) -> Result<Snapshot, SnapshotRejected> {
    let mut fixed = [0u8; SNAPSHOT_MAGIC.len() + 5];
    read_exact(&mut reader, &mut fixed)?;
    let (magic, rest) = fixed.split_at(SNAPSHOT_MAGIC.len());
    if magic != SNAPSHOT_MAGIC {
        return Err(SnapshotRejected::Malformed);
    }
    let (format, len) = split_u32(rest)?;
    let mut version = vec![0u8; usize::from(len[0])];
    read_exact(&mut reader, &mut version)?;
    let version = String::from_utf8_lossy(&version).into_owned();
    if format != SNAPSHOT_FORMAT || version != env!("CARGO_PKG_VERSION") {
        return Err(SnapshotRejected::OtherFormat { format, version });
    }
    let mut seq_anchor = [0u8; 16];
    read_exact(&mut reader, &mut seq_anchor)?;
    let (seq, anchor) = split_u64(&seq_anchor)?;
    let (anchor, _) = split_u64(anchor)?;
    let (mut head, mut table) = (Vec::new(), Vec::new());
    if !read_section(&mut reader, &mut head)? || !read_section(&mut reader, &mut table)? {
        return Err(SnapshotRejected::Malformed);
    }
    let decode_err = |e: CodecError| SnapshotRejected::Decode(e.to_string());
    std::thread::scope(|scope| {
        let (rows_tx, rows) = std::sync::mpsc::sync_channel(2);
        scope.spawn(move || {
            let mut buffer = Vec::new();
            loop {
                let chunk = match read_section(&mut reader, &mut buffer) {
                    Ok(false) => return,
                    Ok(true) => BincodeCodec.decode::<Vec<Box<Job>>>(&buffer).map_err(decode_err),
                    Err(rejected) => Err(rejected),
                };
                let failed = chunk.is_err();
                if rows_tx.send(chunk).is_err() || failed {
                    return;
                }
            }
        });
        let mut state: State = BincodeCodec.decode(&head).map_err(decode_err)?;
        drop(head);
        if state.last_seq != seq {
            return Err(SnapshotRejected::Decode(format!(
                "header seq {seq} but state at {}",
                state.last_seq
            )));
        }
        let (next_id, count): (u64, u64) = BincodeCodec.decode(&table).map_err(decode_err)?;
        let mut loader = JobsLoader::with_capacity(usize::try_from(count).unwrap_or(0).min(1 << 24));
        let mut loaded = 0;
        for chunk in rows {
            let chunk = chunk?;
            loaded += chunk.len() as u64;
            loader.extend(chunk);
        }
        if loaded != count {
            return Err(SnapshotRejected::Decode(format!("{loaded} job rows but {count} announced")));
        }
        state.jobs = loader.finish(next_id);
        Ok(Snapshot { state, anchor })
    })
}

/// Reads the next section into `buffer` and checks its CRC; false at the end of the stream.
fn read_section(reader: &mut impl Read, buffer: &mut Vec<u8>) -> Result<bool, SnapshotRejected> {
    let mut header = [0u8; 12];
    let mut filled = 0;
    while filled < header.len() {
        match reader.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(SnapshotRejected::Malformed),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(SnapshotRejected::Unreadable(e.to_string())),
        }
    }
    let (len, rest) = split_u64(&header)?;
    let (crc, _) = split_u32(rest)?;
    buffer.clear();
    // Grows with what arrives: a damaged length cannot make it allocate more than the file has.
    let read =
        reader.take(len).read_to_end(buffer).map_err(|e| SnapshotRejected::Unreadable(e.to_string()))?;
    if read as u64 != len {
        return Err(SnapshotRejected::Malformed);
    }
    if crc32fast::hash(buffer) != crc {
        return Err(SnapshotRejected::Checksum);
    }
    Ok(true)
}

fn read_exact(reader: &mut impl Read, buffer: &mut [u8]) -> Result<(), SnapshotRejected> {
    reader.read_exact(buffer).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => SnapshotRejected::Malformed,
        _ => SnapshotRejected::Unreadable(e.to_string()),
    })
}

fn split_u32(bytes: &[u8]) -> Result<(u32, &[u8]), SnapshotRejected> {
    let (head, rest) = bytes.split_first_chunk::<4>().ok_or(SnapshotRejected::Malformed)?;
    Ok((u32::from_be_bytes(*head), rest))
}

fn split_u64(bytes: &[u8]) -> Result<(u64, &[u8]), SnapshotRejected> {
    let (head, rest) = bytes.split_first_chunk::<8>().ok_or(SnapshotRejected::Malformed)?;
    Ok((u64::from_be_bytes(*head), rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_domain::{HealthChanged, Recorded};

    /// Found by the `record_decoder` fuzz target (its crash file is in `fuzz/corpus`): a
    /// corrupted length prefix claiming ~100 TB aborted the process on allocation; it is now a
    /// decode error.
    #[test]
    fn a_corrupted_length_is_an_error_not_an_abort() {
        let crash =
            [0x02, 0x02, 0x02, 0xfd, 0x02, 0x04, 0x5b, 0x00, 0x00, 0x5b, 0x00, 0x00, 0x00, 0x00, 0xfd];
        assert!(decode_record(1, &crash).is_err());
        assert!(decode_snapshot(&crash).is_err());
    }

    fn record(seq: u64) -> Recorded {
        Recorded {
            seq,
            at: Timestamp::from_millis(1_700_000_000_000),
            actor: Actor::User("ops@example.com".into()),
            request_id: Some("req-1".into()),
            event: Event::HealthChanged(HealthChanged {
                component: "reaper".into(),
                ok: false,
                message: "x".into(),
            }),
        }
    }

    #[test]
    fn records_round_trip_and_check_their_seq() {
        let bytes = encode_record(&record(7)).expect("encode");
        assert_eq!(decode_record(7, &bytes).expect("decode"), record(7));
        assert!(matches!(decode_record(8, &bytes), Err(StoreError::Corrupt { seq: 8, .. })));
        assert!(matches!(decode_record(7, &bytes[..bytes.len() - 1]), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn the_borrowed_envelope_reads_records_written_with_owned_fields() {
        #[derive(Serialize)]
        struct Owned {
            seq: u64,
            at: i64,
            actor: Actor,
            request_id: Option<String>,
            name: String,
            version: u16,
            payload: Vec<u8>,
        }
        let original = record(7);
        let owned = Owned {
            seq: 7,
            at: original.at.millis(),
            actor: original.actor.clone(),
            request_id: original.request_id.clone(),
            name: original.event.name().as_str().to_owned(),
            version: pacer_domain::EVENT_VERSION,
            payload: original.event.encode_payload(&BincodeCodec).expect("payload"),
        };
        let bytes = BincodeCodec.encode(&owned).expect("encode");
        assert_eq!(bytes, encode_record(&original).expect("encode"));
        assert_eq!(decode_record(7, &bytes).expect("decode"), original);
    }

    #[test]
    fn snapshots_pin_format_and_checksum() {
        let mut state = State::default();
        state.evolve(&record(1));
        let bytes = encode_snapshot(&state, 42).expect("encode");
        assert_eq!(decode_snapshot(&bytes), Ok(Snapshot { state, anchor: 42 }));
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(decode_snapshot(&flipped), Err(SnapshotRejected::Checksum));
        let mut other = bytes;
        other[11] = 99; // format
        assert!(matches!(decode_snapshot(&other), Err(SnapshotRejected::OtherFormat { .. })));
        assert_eq!(decode_snapshot(b"nope"), Err(SnapshotRejected::Malformed));
    }
}
