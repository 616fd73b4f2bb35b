//! The stored encoding: every record is an envelope (seq, time, actor, request id, event name,
//! payload version, payload bytes) encoded with bincode; the payload is the event's own struct,
//! also bincode. Keeping name + version + bytes (never a tagged enum) means adding an event
//! never breaks old records, and old versions can be upcast on read. Snapshots of the folded
//! state use the same codec behind a header that pins their format.

use crate::error::StoreError;
use bincode::config::{Configuration, standard};
use pacer_domain::{Actor, Event, PayloadCodec, Recorded, State, Timestamp};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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

impl PayloadCodec for BincodeCodec {
    type Error = CodecError;

    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        Ok(bincode::serde::encode_to_vec(value, CONFIG)?)
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        whole(bincode::serde::decode_from_slice(bytes, CONFIG)?, bytes.len())
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

/// Encodes a record for the log.
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

/// Decodes a record stored under `seq`.
pub fn decode_record(seq: u64, bytes: &[u8]) -> Result<Recorded, StoreError> {
    let codec = BincodeCodec;
    let corrupt = |reason: String| StoreError::Corrupt { seq, reason };
    let envelope: Envelope = bincode::serde::borrow_decode_from_slice(bytes, CONFIG)
        .map_err(CodecError::from)
        .and_then(|decoded| whole(decoded, bytes.len()))
        .map_err(|e| corrupt(format!("envelope: {e}")))?;
    if envelope.seq != seq {
        return Err(corrupt(format!("envelope says seq {}", envelope.seq)));
    }
    let event = Event::decode_payload(&codec, envelope.name, envelope.version, envelope.payload)
        .map_err(|e| corrupt(e.to_string()))?;
    Ok(Recorded {
        seq,
        at: Timestamp::from_millis(envelope.at),
        actor: envelope.actor,
        request_id: envelope.request_id,
        event,
    })
}

/// Snapshot header magic.
const SNAPSHOT_MAGIC: &[u8; 8] = b"PACERSNP";
/// Bump whenever `State`'s serialized shape changes; a snapshot of another format (or another
/// crate version) is ignored and the state is rebuilt from the log.
pub const SNAPSHOT_FORMAT: u32 = 2;

/// Encodes a folded state as a snapshot covering `state.last_seq`.
pub fn encode_snapshot(state: &State) -> Result<Vec<u8>, StoreError> {
    let body = BincodeCodec.encode(state).map_err(|e| StoreError::Snapshot(e.to_string()))?;
    let version = env!("CARGO_PKG_VERSION").as_bytes();
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(SNAPSHOT_MAGIC);
    out.extend_from_slice(&SNAPSHOT_FORMAT.to_be_bytes());
    out.push(version.len() as u8);
    out.extend_from_slice(version);
    out.extend_from_slice(&state.last_seq.to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
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
}

/// Decodes a snapshot written by this format and version.
pub fn decode_snapshot(bytes: &[u8]) -> Result<State, SnapshotRejected> {
    let rest = bytes.strip_prefix(SNAPSHOT_MAGIC).ok_or(SnapshotRejected::Malformed)?;
    let (format, rest) = split_u32(rest)?;
    let (&len, rest) = rest.split_first().ok_or(SnapshotRejected::Malformed)?;
    let (version, rest) = rest.split_at_checked(len as usize).ok_or(SnapshotRejected::Malformed)?;
    let version = String::from_utf8_lossy(version).into_owned();
    if format != SNAPSHOT_FORMAT || version != env!("CARGO_PKG_VERSION") {
        return Err(SnapshotRejected::OtherFormat { format, version });
    }
    let (seq, rest) = rest.split_at_checked(8).ok_or(SnapshotRejected::Malformed)?;
    let (crc, body) = split_u32(rest)?;
    if crc32fast::hash(body) != crc {
        return Err(SnapshotRejected::Checksum);
    }
    let state: State = BincodeCodec.decode(body).map_err(|e| SnapshotRejected::Decode(e.to_string()))?;
    let seq = u64::from_be_bytes(seq.try_into().map_err(|_| SnapshotRejected::Malformed)?);
    if state.last_seq != seq {
        return Err(SnapshotRejected::Decode(format!("header seq {seq} but state at {}", state.last_seq)));
    }
    Ok(state)
}

fn split_u32(bytes: &[u8]) -> Result<(u32, &[u8]), SnapshotRejected> {
    let (head, rest) = bytes.split_at_checked(4).ok_or(SnapshotRejected::Malformed)?;
    let head: [u8; 4] = head.try_into().map_err(|_| SnapshotRejected::Malformed)?;
    Ok((u32::from_be_bytes(head), rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_domain::{HealthChanged, Recorded};

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
        let bytes = encode_snapshot(&state).expect("encode");
        assert_eq!(decode_snapshot(&bytes), Ok(state));
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
