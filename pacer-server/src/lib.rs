//! The `pacer` server as a library: configuration, the application core (the decider in front
//! of the event log), the engine (dispatcher, reaper, redelivery, runner callbacks, pool edits
//! that reach EC2), the GitHub App client, the HTTP and GraphQL surface and the command line.
//!
//! The modules are private; embedders use the small API re-exported here. [`serve`] runs a
//! Pacer from a [`Config`] until SIGINT/SIGTERM, as `pacer serve` does. [`start`] runs one on a
//! listener you bound, with the peers you choose (EC2 through `pacer_aws`, GitHub, a clock), and
//! hands back a [`Running`] to drive and stop; tests and benchmarks run it on port 0 with fakes:
//!
//! ```no_run
//! use pacer_aws::{FakeCompute, FakeSettings};
//! use pacer_server::{AppSetup, Auth, EngineSettings, Peers, Secret, ServerOptions, SimulatedGitHub, SystemClock};
//! use std::sync::Arc;
//!
//! # async fn run(data_dir: &std::path::Path, settings: EngineSettings) -> anyhow::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let options = ServerOptions {
//!     github_app: Arc::new(AppSetup::configured(Secret::new("the GitHub App's webhook secret"))),
//!     auth: Arc::new(Auth::new(false, "admin@example.com".into(), 12, false, None)),
//!     trusted_proxies: Vec::new(),
//!     allowed_origins: Vec::new(),
//!     allowed_hosts: Vec::new(),
//!     tls: pacer_server::TlsConfig::default(),
//!     limits: pacer_server::ConnectionLimits::default(),
//! };
//! let peers = Peers {
//!     compute: Arc::new(FakeCompute::new(FakeSettings::new(7))),
//!     github: Arc::new(SimulatedGitHub::default()),
//!     clock: Arc::new(SystemClock),
//!     // AWS's signing certificate for the region: instances prove who they are with it.
//!     identity: Arc::new(pacer_aws::IdentityVerifier::for_region("us-east-1", "")?),
//! };
//! let running = pacer_server::start(data_dir, settings, options, peers, listener).await?;
//! println!("listening on {}", running.addr);
//! running.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! [`start_demo`] runs the demo (simulated EC2 and GitHub, a seeded configuration and a stream
//! of jobs) as `pacer demo` does, and [`run_cli`] is the whole `pacer` command line.

// Only what this file re-exports is public; everything else says `pub(crate)`.
#![warn(unreachable_pub)]

mod app;
mod app_setup;
mod auth;
mod background;
#[cfg(feature = "standalone")]
mod backup_cli;
#[cfg(feature = "standalone")]
mod cli;
mod clock;
mod config;
#[cfg(feature = "standalone")]
mod demo;
mod doctor;
mod engine;
mod failure_logs;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
mod github;
mod graphql;
mod http;
mod metrics;
mod payloads;
#[cfg(feature = "standalone")]
mod replay;
mod retention;
mod secrets;
#[cfg(feature = "standalone")]
mod serve;
#[cfg(feature = "standalone")]
mod tls;
#[cfg(feature = "standalone")]
mod user_cli;
mod userdata;
#[cfg(feature = "standalone")]
mod verify_cli;

pub use app::Meta;
pub use app_setup::AppSetup;
pub use auth::{Auth, Principal};
#[cfg(feature = "standalone")]
pub use cli::main as run_cli;
pub use clock::{Clock, SystemClock};
pub use config::{Config, RetentionConfig, Secret, TlsConfig, TlsMode};
#[cfg(feature = "standalone")]
pub use demo::{DemoOptions, start_demo};
pub use engine::{Engine, EngineSettings};
pub use github::{GitHub, GitHubApp, SimulatedGitHub};
pub use graphql::{PacerSchema, SUBSCRIBER_QUEUE, schema};
pub use http::ConnectionLimits;
pub use http::webhook_signature;
#[cfg(feature = "standalone")]
pub use serve::{Peers, Running, ServerOptions, Storage, serve, start, start_on};

/// This package's directory, read at run time: a test binary reused from another checkout of
/// the same target directory keeps its build-time `env!` path.
#[cfg(test)]
pub(crate) fn manifest_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
    )
}

/// The repository's test data (`testdata/` at its root).
#[cfg(test)]
pub(crate) fn testdata_dir() -> std::path::PathBuf {
    manifest_dir().join("../testdata")
}
