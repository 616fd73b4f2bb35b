//! The `pacer` server as a library: configuration, the application core (the decider in front of
//! the event log), the engine (dispatcher, reaper, redelivery, runner callbacks, pool edits that
//! reach EC2), the GitHub App client, the HTTP surface and the command line. Embedders can run
//! the whole engine in their own process with [`serve::start`].

pub mod app;
pub mod auth;
pub mod backup_cli;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod engine;
pub mod github;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod replay;
pub mod secrets;
pub mod serve;
pub mod userdata;

/// This package's directory, read at run time: a test binary reused from another checkout of
/// the same target directory keeps its build-time `env!` path.
#[cfg(test)]
pub(crate) fn manifest_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
    )
}

/// The shared test data directory (`../shared/testdata` beside the repository).
#[cfg(test)]
pub(crate) fn testdata_dir() -> std::path::PathBuf {
    match std::env::var_os("PACER_SHARED_DIR") {
        Some(dir) => std::path::PathBuf::from(dir).join("testdata"),
        None => manifest_dir().join("../../shared/testdata"),
    }
}
