//! pacer-store's integration tests: one conformance suite over every log, the event catalogue
//! and encoding, durability (reopen, corruption, poisoning, SIGKILL), chunked snapshots, and
//! the DynamoDB log shared by several writers (on moto).

mod catalogue;
mod conformance;
mod durability;
mod dynamo;
mod fixtures;
mod moto;
mod peer;
mod prune;
mod snapshot;
#[path = "../../examples/synthetic/mod.rs"]
mod synthetic;
