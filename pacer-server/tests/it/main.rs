//! pacer-server's end-to-end tests: the real `pacer` binary on port 0 against moto (EC2), the
//! pricing stub and a fake GitHub checked against GitHub's schemas, driven over HTTP with real
//! webhook payloads, and read back through its event log.

mod api;
mod auth;
mod backup;
mod bursts;
mod capacity;
mod chain;
mod config_keys;
mod connections;
mod console;
mod crash;
mod demo;
mod doctor;
mod faults;
mod github_app;
mod github_calls;
mod hosts;
mod iam;
mod intake;
mod inventory;
mod job_detail;
mod lifecycle;
mod rate_limits;
mod reaper;
mod rebound;
mod replicas;
mod retention;
mod sessions;
mod support;
mod tls;
mod trust;
mod userdata;
mod warm;
