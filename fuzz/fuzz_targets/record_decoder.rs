//! The event log's decoders fed corrupted bytes: a stored record and a snapshot must decode or
//! be refused with an error, never panic or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pacer_store::decode_record(1, data);
    let _ = pacer_store::decode_snapshot(data);
});
