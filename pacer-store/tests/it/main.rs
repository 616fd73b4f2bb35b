//! pacer-store's integration tests: one conformance suite over both logs, the event catalogue
//! and encoding, durability (reopen, corruption, poisoning, SIGKILL) and chunked snapshots.

mod catalogue;
mod conformance;
mod durability;
mod fixtures;
mod snapshot;
#[path = "../../examples/synthetic/mod.rs"]
mod synthetic;
