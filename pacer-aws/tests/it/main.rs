//! pacer-aws integration tests: the EC2 implementation against a real moto server (with
//! capacity faults) and the pricing stub, each started per test on a loopback port; and the
//! in-memory fake on a paused tokio clock. The pool editor's listings run against both.

mod fake;
mod fixture;
mod instances;
mod inventory;
mod launch;
mod peers;
mod pricing;
mod templates;
mod validation;
