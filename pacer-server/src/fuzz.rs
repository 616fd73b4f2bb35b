//! Entry points for the fuzz targets in `fuzz/` (hidden, not a supported API): the real HTTP
//! routes of an in-memory Pacer (`MemoryLog`, `FakeCompute`, a simulated GitHub, secrets in a
//! temporary directory, auth off), driven request by request through `warp::test`, and the
//! configuration loader. Each call answers with the HTTP status; a panic is the finding.

use crate::app::App;
use crate::auth::Auth;
use crate::clock::{Clock, SystemClock};
use crate::engine::{Engine, EngineSettings};
use crate::github::SimulatedGitHub;
use crate::http::Http;
use crate::metrics::Metrics;
use crate::secrets::Secrets;
use pacer_aws::{FakeCompute, FakeSettings, IdentityVerifier};
use pacer_domain::{JobId, Timestamp};
use pacer_store::{EventLog, MemoryLog};
use std::sync::Arc;
use std::time::Duration;

/// The webhook secret of the fuzzed Pacer.
const SECRET: &str = "fuzz";

/// An in-memory Pacer whose doors take one request at a time.
pub struct Doors {
    runtime: tokio::runtime::Runtime,
    http: Arc<Http>,
    pool_token: String,
    callback_token: String,
    _dir: tempfile::TempDir,
}

impl Doors {
    /// A fresh Pacer with one pool's bootstrap token and one callback token to knock with.
    pub fn new() -> Doors {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let http = runtime.block_on(async {
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let log: Arc<dyn EventLog> = Arc::new(MemoryLog::new());
            let secrets = Arc::new(Secrets::open(log.clone(), dir.path()).expect("secrets"));
            let app = App::start(pacer_domain::State::default(), log, clock, Box::new(|_, _| {}));
            let settings = EngineSettings {
                public_url: "http://127.0.0.1:3000".into(),
                runner_download_url: "http://127.0.0.1:3000/runner".into(),
                max_concurrent_launches: 4,
                sweep: Duration::from_secs(3600),
                reaper_interval: Duration::from_secs(3600),
                orphan_grace: Duration::from_secs(3600),
                redelivery_interval: Duration::ZERO,
                snapshot_every: u64::MAX,
                retry_policy: pacer_domain::RetryPolicy::default(),
                public_key_pin: None,
                data_dir: std::path::PathBuf::new(),
                retention: crate::config::RetentionConfig::default(),
            };
            let engine = Engine::new(
                app,
                Arc::new(FakeCompute::new(FakeSettings::new(7))),
                Arc::new(SimulatedGitHub::default()),
                Arc::new(IdentityVerifier::trusting("us-east-1", Vec::new())),
                secrets,
                Metrics::new(),
                settings,
            );
            let auth = Arc::new(Auth::new(true, "admin@pacer.local".into(), 12, false, None));
            let github_app =
                Arc::new(crate::app_setup::AppSetup::configured(crate::config::Secret::new(SECRET)));
            Arc::new(Http {
                schema: crate::graphql::schema(engine.clone(), auth.clone(), github_app.clone()),
                engine,
                github_app,
                ready: true.into(),
                auth,
                trusted_proxies: Vec::new(),
                allowed_origins: Vec::new(),
                allowed_hosts: None,
            })
        });
        let pool_token = http.engine.secrets.pool_bootstrap_token(1);
        let expires = Timestamp::from_millis(i64::MAX / 2);
        let callback_token = runtime
            .block_on(http.engine.secrets.issue_callback(JobId(1).0, "i-0123456789abcdef0", expires))
            .expect("a token");
        Doors { runtime, http, pool_token, callback_token, _dir: dir }
    }

    fn answer(&self, request: warp::test::RequestBuilder) -> u16 {
        let routes = crate::http::routes(self.http.clone());
        self.runtime.block_on(request.reply(&routes)).status().as_u16()
    }

    /// `POST /api/webhook` of a GitHub `event` with `body`, correctly signed (so the payload
    /// parser is reached).
    pub fn webhook(&self, event: &str, delivery: &str, body: &[u8]) -> u16 {
        let signature = crate::http::webhook_signature(SECRET.as_bytes(), body);
        self.answer(
            warp::test::request()
                .method("POST")
                .path("/api/webhook")
                .header("content-type", "application/json")
                .header("x-github-event", event)
                .header("x-github-delivery", delivery)
                .header("x-hub-signature-256", signature)
                .body(body.to_vec()),
        )
    }

    /// `POST /api/runner/{path}` with `body` and a token that passes (the pool's bootstrap
    /// token for `bootstrap`, a callback token otherwise), so the body parser is reached.
    pub fn runner(&self, path: &str, body: &[u8]) -> u16 {
        let token = if path == "bootstrap" { &self.pool_token } else { &self.callback_token };
        self.answer(
            warp::test::request()
                .method("POST")
                .path(&format!("/api/runner/{path}"))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {token}"))
                .body(body.to_vec()),
        )
    }

    /// `POST /graphql` with `query` and `variables` (raw JSON text, however broken).
    pub fn graphql(&self, query: &str, variables: &[u8]) -> u16 {
        let variables = String::from_utf8_lossy(variables);
        let query = serde_json::to_string(query).unwrap_or_default();
        let body = format!("{{\"query\":{query},\"variables\":{variables}}}");
        self.answer(
            warp::test::request()
                .method("POST")
                .path("/graphql")
                .header("content-type", "application/json")
                .header("x-pacer-request", "1")
                .body(body),
        )
    }
}

impl Default for Doors {
    fn default() -> Self {
        Doors::new()
    }
}

/// Loads a configuration from `yaml` (written to a file, as `--config` reads it) and the
/// `PACER_*` variables in `env`; `Ok` or the list of errors, never a panic.
pub fn config(yaml: &[u8], env: &[(String, String)]) -> Result<(), String> {
    let file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    std::fs::write(file.path(), yaml).map_err(|e| e.to_string())?;
    let lookup = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    crate::config::Config::load(Some(file.path()), lookup).map(|_| ()).map_err(|e| e.to_string())
}
