//! End-to-end test support: moto (from pacer-aws's test peers), a fake GitHub checking request
//! bodies against GitHub's real schemas, and the real `pacer` binary started on port 0 with a
//! configuration file, driven over HTTP, and read back through its event log once stopped.

pub mod faults;
pub mod github;
pub mod instance;
pub mod node;
pub mod oidc;
pub mod pacer;
pub mod schema;
pub mod world;

#[path = "../../../../pacer-aws/tests/it/peers.rs"]
#[allow(dead_code)]
pub mod peers;

use std::path::PathBuf;

/// This package's directory, read at run time: a test binary reused from another checkout of
/// the same target directory keeps its build-time `env!` path.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
}

/// The repository's root, which holds the test data (`testdata/`) and test tools (`tools/`).
pub fn repo_dir() -> PathBuf {
    manifest_dir().join("..")
}

/// GitHub's example of a queued job, as job `id` of `octo/hello` (the default backup's repo)
/// with the `self-hosted` label.
pub fn queued_job(id: u64) -> serde_json::Value {
    webhook_example("workflow_job.05.queued.json", "queued", id, "octo/hello", &["self-hosted"])
}

/// A real GitHub webhook example, re-addressed to `repo` with `labels`, new ids and `action`.
pub fn webhook_example(
    file: &str,
    action: &str,
    job_id: u64,
    repo: &str,
    labels: &[&str],
) -> serde_json::Value {
    let path = repo_dir().join("testdata/webhooks").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut body: serde_json::Value = serde_json::from_str(&text).expect("example JSON");
    body["action"] = action.into();
    body["workflow_job"]["id"] = job_id.into();
    body["workflow_job"]["run_id"] = (job_id + 1_000_000).into();
    body["workflow_job"]["labels"] = labels.iter().map(|l| serde_json::Value::from(*l)).collect();
    body["workflow_job"]["runner_name"] = serde_json::Value::Null;
    body["workflow_job"]["conclusion"] = serde_json::Value::Null;
    body["repository"]["full_name"] = repo.into();
    body["installation"] = serde_json::json!({"id": 4242});
    body
}
