//! pacer-store's integration tests: one conformance suite over both logs, the event catalogue
//! and encoding, and durability (reopen, corruption, poisoning, SIGKILL).

mod catalogue;
mod conformance;
mod durability;
mod fixtures;
