//! Every event variant: its stored name, its fixture, and its round trip through the stored
//! encoding; plus the committed fixture log of format 1, which must keep folding and keep the
//! canonical forms its records' chain hashes cover.

use crate::fixtures::{Seeds, fixture};
use pacer_domain::*;
use pacer_store::{ChainHash, canonical_form, decode_record, encode_record};
use proptest::prelude::*;

fn record(seq: u64, event: Event) -> Recorded {
    Recorded {
        seq,
        at: Timestamp(1_790_000_000_000 + seq as i64),
        actor: Actor::GitHub,
        request_id: None,
        event,
    }
}

#[test]
fn names_are_noun_dot_past_participle_and_tie_to_variants() {
    let mut seen = std::collections::BTreeSet::new();
    for name in EventName::ALL {
        let event = fixture(*name, &Seeds::default());
        assert_eq!(event.name(), *name, "fixture of {name:?}");
        let text = name.as_str();
        assert_eq!(EventName::parse(text), Some(*name));
        assert!(seen.insert(text), "{text} used twice");
        let (noun, rest) = text.split_once('.').expect("noun.verb");
        assert!(!noun.is_empty() && !rest.is_empty(), "{text}");
        assert!(text.bytes().all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'), "{text}");
        // The Rust variant is the same words in UpperCamel.
        let camel: String = text
            .split(['.', '_'])
            .map(|w| {
                let mut c = w.chars();
                c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
            })
            .collect();
        assert_eq!(format!("{name:?}"), camel, "{text}");
    }
    assert!(EventName::ALL.len() >= 48);
}

#[test]
fn every_variant_round_trips() {
    for (i, name) in EventName::ALL.iter().enumerate() {
        let original = record(i as u64 + 1, fixture(*name, &Seeds::default()));
        let bytes = encode_record(&original).expect("encode");
        assert_eq!(decode_record(original.seq, &bytes).expect("decode"), original, "{name:?}");
    }
}

proptest! {
    #[test]
    fn random_events_round_trip(
        which in 0..EventName::ALL.len(),
        text in "\\PC{0,40}",
        number in any::<u64>(),
        flag in any::<bool>(),
        small in any::<u32>(),
        actor in prop_oneof![Just(Actor::System), Just(Actor::GitHub), "[a-z@.]{1,20}".prop_map(Actor::User), "i-[0-9a-f]{8}".prop_map(Actor::Runner)],
        request_id in proptest::option::of("[a-f0-9-]{1,36}"),
    ) {
        let seeds = Seeds { text, number, flag, small };
        let mut original = record(number.max(1), fixture(EventName::ALL[which], &seeds));
        original.actor = actor;
        original.request_id = request_id;
        let bytes = encode_record(&original).expect("encode");
        prop_assert_eq!(decode_record(original.seq, &bytes).expect("decode"), original);
    }
}

/// The fixture's path, from the run-time variable: a test binary reused from another checkout
/// keeps its build-time path.
fn fixture_log() -> std::path::PathBuf {
    std::path::Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/log-format-1.bin")
}

/// The fixture log: every variant once, length-prefixed encoded records.
fn fixture_records() -> Vec<Recorded> {
    EventName::ALL
        .iter()
        .enumerate()
        .map(|(i, name)| record(i as u64 + 1, fixture(*name, &Seeds::default())))
        .collect()
}

#[test]
fn the_format_1_fixture_log_still_decodes_and_folds() {
    if std::env::var_os("PACER_BLESS").is_some() {
        let mut out = Vec::new();
        for record in fixture_records() {
            let bytes = encode_record(&record).expect("encode");
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(&bytes);
        }
        std::fs::write(fixture_log(), out).expect("write fixture");
    }
    let decoded = committed_records();
    // Events released in format 1 must keep their encoding; new ones are appended at the end.
    let current = fixture_records();
    assert!(decoded.len() <= current.len());
    assert_eq!(decoded[..], current[..decoded.len()]);
    let state = State::fold(&decoded);
    assert_eq!(state.last_seq, decoded.len() as u64);
}

/// The records of the committed fixture log.
fn committed_records() -> Vec<Recorded> {
    let bytes = std::fs::read(fixture_log()).expect("fixture log present (PACER_BLESS=1 writes it)");
    let mut rest = bytes.as_slice();
    let mut decoded = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_at(4);
        let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
        let (body, tail) = tail.split_at(len);
        decoded.push(decode_record(decoded.len() as u64 + 1, body).expect("decodes"));
        rest = tail;
    }
    decoded
}

/// A chain hash covers its record's canonical form, rebuilt from the stored record whenever the
/// chain is checked: once released, what an event reads as must keep its JSON (no renamed field,
/// no upcaster changing an old record's fields), or every chain holding one breaks. Pinned here
/// over the first records of the committed fixture log (later events are appended after them).
#[test]
fn released_records_keep_their_canonical_form() {
    const PINNED: usize = 48;
    let records = committed_records();
    let mut chain = ChainHash::GENESIS;
    for record in &records[..PINNED] {
        chain = chain.next(&canonical_form(record).expect("a canonical form"));
    }
    assert_eq!(chain.to_string(), "a36f5ce2dc5d6e8b4d1a83304bdea9fc3ed4da9b0debebed0ac05fef1efa078e");
    for record in fixture_records() {
        assert!(canonical_form(&record).is_ok(), "{:?} has a canonical form", record.event.name());
    }
}
