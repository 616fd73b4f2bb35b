//! Pacer's GitHub App as the server holds it: from the configuration (`github.app_id`,
//! `private_key_path`, `webhook_secret`), or created from its manifest in the console and kept
//! in the vault. The manifest flow: a signed-in operator asks for a creation
//! ([`AppSetup::begin`]: a one-time `state`, kept in memory for an hour); the browser posts the
//! manifest to GitHub, which sends it back to `/setup/github-app?code=…&state=…`; the code is
//! exchanged once (`POST /app-manifests/{code}/conversions`) for the App's id, key and webhook
//! secret, which go to the vault, and the App is used from then on without a restart.
//! [`manifest`] is also what `pacer github-app manifest` prints.

use crate::clock::Clock;
use crate::config::Secret;
use crate::github::{Delivery, GitHub, GitHubApp, GitHubError, JitConfig, JitRequest, RunnerScope};
use async_trait::async_trait;
use pacer_domain::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// How long a started creation may take to come back from GitHub.
const FLOW_TTL_MS: i64 = 60 * 60 * 1_000;
/// Creations waiting at once (the oldest is dropped beyond it).
const MAX_PENDING: usize = 16;

/// The permissions Pacer uses: administration for repository runners, organisation
/// self-hosted runners for org runners, actions and metadata read.
pub(crate) const PERMISSIONS: [(&str, &str); 4] = [
    ("administration", "write"),
    ("organization_self_hosted_runners", "write"),
    ("actions", "read"),
    ("metadata", "read"),
];

/// The App's manifest: webhook URL = `public_url` + `/api/webhook`, the `workflow_job` event,
/// and exactly the permissions Pacer uses (administration for repository runners, organisation
/// self-hosted runners for org runners, actions and metadata read).
pub(crate) fn manifest(public_url: &str, name: &str) -> Value {
    let base = public_url.trim_end_matches('/');
    json!({
        "name": name,
        "url": base,
        "description": "Pacer: short-lived EC2 runners for GitHub Actions",
        "hook_attributes": {"url": format!("{base}/api/webhook"), "active": true},
        "redirect_url": format!("{base}/setup/github-app"),
        "public": false,
        "default_permissions": PERMISSIONS.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "default_events": ["workflow_job"]
    })
}

/// GitHub's web address for its API address: `https://api.github.com` → `https://github.com`,
/// GitHub Enterprise Server's `https://HOST/api/v3` → `https://HOST`, anything else as it is.
#[cfg(feature = "standalone")]
pub(crate) fn web_url_of(api_url: &str) -> String {
    let api = api_url.trim_end_matches('/');
    if let Some(rest) = api.strip_prefix("https://api.") {
        return format!("https://{rest}");
    }
    api.strip_suffix("/api/v3").unwrap_or(api).to_owned()
}

/// What the manifest conversion answers and the vault keeps.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct AppCredentials {
    /// The App's id.
    pub id: u64,
    /// Its URL name.
    pub slug: String,
    /// Its owner's login.
    pub owner: String,
    /// Its page.
    pub html_url: String,
    /// Its private key (PEM).
    pub pem: String,
    /// Its webhook secret.
    pub webhook_secret: String,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCredentials")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Conversion {
    id: u64,
    slug: Option<String>,
    owner: Option<Owner>,
    html_url: String,
    pem: String,
    webhook_secret: Option<String>,
}

#[derive(Deserialize)]
struct Owner {
    login: Option<String>,
}

/// A creation waiting for GitHub's redirect.
struct Pending {
    state: String,
    started_by: String,
    expires_at: Timestamp,
}

/// A creation handed to the browser.
#[derive(Clone, Debug)]
pub(crate) struct Creation {
    /// Where the browser posts the manifest (`…/settings/apps/new?state=…`).
    pub url: String,
    /// The manifest, as JSON text.
    pub manifest: String,
}

/// Why a creation could not finish.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    /// Not started here, already used or expired.
    #[error("this GitHub App creation is unknown or expired; start it again from Settings")]
    UnknownState,
    /// The App comes from the configuration.
    #[error("the GitHub App is set in the configuration (github.app_id); remove it there to create one here")]
    Configured,
    /// An App was created already.
    #[error("a GitHub App is already set up")]
    AlreadySetUp,
    /// GitHub refused the code or could not be reached.
    #[error("GitHub did not convert the manifest: {0}")]
    GitHub(GitHubError),
    /// The key GitHub returned is unusable, or the vault could not be written.
    #[error("{0}")]
    Failed(String),
}

/// The App the server uses, and its creation from the manifest.
pub struct AppSetup {
    webhook_secret: RwLock<Secret>,
    github: Arc<GitHubSlot>,
    from_config: bool,
    api_url: String,
    web_url: String,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    pending: Mutex<Vec<Pending>>,
    created: RwLock<Option<AppCredentials>>,
}

impl AppSetup {
    /// An App set in the configuration (or a GitHub peer of your own): its webhook secret; no
    /// creation is offered.
    pub fn configured(webhook_secret: Secret) -> AppSetup {
        let clock = Arc::new(crate::clock::SystemClock);
        AppSetup::new(webhook_secret, true, String::new(), String::new(), Duration::from_secs(30), clock)
    }

    /// No App yet: one is created from the manifest against GitHub at `api_url` (web pages at
    /// `web_url`), each call cut off after `timeout`; the engine reaches it through
    /// [`AppSetup::github`].
    pub fn by_manifest(api_url: &str, web_url: &str, timeout: Duration, clock: Arc<dyn Clock>) -> AppSetup {
        AppSetup::new(Secret::default(), false, api_url.to_owned(), web_url.to_owned(), timeout, clock)
    }

    fn new(
        webhook_secret: Secret,
        from_config: bool,
        api_url: String,
        web_url: String,
        timeout: Duration,
        clock: Arc<dyn Clock>,
    ) -> AppSetup {
        AppSetup {
            webhook_secret: RwLock::new(webhook_secret),
            github: Arc::new(GitHubSlot::default()),
            from_config,
            api_url: api_url.trim_end_matches('/').to_owned(),
            web_url: web_url.trim_end_matches('/').to_owned(),
            timeout,
            clock,
            pending: Mutex::new(Vec::new()),
            created: RwLock::new(None),
        }
    }

    /// GitHub as the App created here reaches it (answers "no GitHub App" until then).
    pub fn github(&self) -> Arc<dyn GitHub> {
        self.github.clone()
    }

    /// The webhook secret; empty while no App is set up.
    pub(crate) fn webhook_secret(&self) -> Secret {
        self.webhook_secret.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// The App created here, if any.
    pub(crate) fn created(&self) -> Option<AppCredentials> {
        self.created.read().ok().and_then(|c| c.clone())
    }

    /// GitHub's web origin while an App may still be created here: the console's forms post the
    /// manifest there.
    pub(crate) fn form_target(&self) -> Option<String> {
        if self.from_config {
            return None;
        }
        url::Url::parse(&self.web_url).ok().map(|url| url.origin().ascii_serialization())
    }

    /// Whether the App comes from the configuration.
    pub(crate) fn is_configured(&self) -> bool {
        self.from_config
    }

    /// Starts using `credentials` (at start, from the vault; after a creation).
    pub(crate) fn install(&self, credentials: AppCredentials) -> anyhow::Result<()> {
        let app = GitHubApp::new(
            &self.api_url,
            credentials.id,
            credentials.pem.as_bytes(),
            self.timeout,
            self.clock.clone(),
        )?;
        self.github.set(Arc::new(app));
        if let Ok(mut secret) = self.webhook_secret.write() {
            *secret = Secret::new(credentials.webhook_secret.clone());
        }
        if let Ok(mut created) = self.created.write() {
            *created = Some(credentials);
        }
        Ok(())
    }

    /// Starts a creation for `email`: the URL the browser posts `manifest` to, for an App owned
    /// by `organization` (or the signed-in GitHub user without one).
    pub(crate) fn begin(
        &self,
        email: &str,
        public_url: &str,
        name: &str,
        organization: Option<&str>,
    ) -> Result<Creation, SetupError> {
        self.ready_to_create()?;
        let state = crate::secrets::random_token();
        let now = self.clock.now();
        if let Ok(mut pending) = self.pending.lock() {
            pending.retain(|p| p.expires_at > now);
            if pending.len() >= MAX_PENDING {
                pending.remove(0);
            }
            pending.push(Pending {
                state: state.clone(),
                started_by: email.to_owned(),
                expires_at: now.plus_millis(FLOW_TTL_MS),
            });
        }
        let page = match organization {
            Some(org) => format!("{}/organizations/{org}/settings/apps/new", self.web_url),
            None => format!("{}/settings/apps/new", self.web_url),
        };
        Ok(Creation {
            url: format!("{page}?state={state}"),
            manifest: manifest(public_url, name).to_string(),
        })
    }

    fn ready_to_create(&self) -> Result<(), SetupError> {
        if self.from_config {
            return Err(SetupError::Configured);
        }
        if self.created().is_some() {
            return Err(SetupError::AlreadySetUp);
        }
        Ok(())
    }

    /// Takes a creation's `state` (one use): who started it.
    pub(crate) fn take(&self, state: &str) -> Result<String, SetupError> {
        let now = self.clock.now();
        let mut pending = self.pending.lock().map_err(|_| SetupError::UnknownState)?;
        let index = pending
            .iter()
            .position(|p| p.expires_at > now && crate::secrets::equal(&p.state, state))
            .ok_or(SetupError::UnknownState)?;
        Ok(pending.remove(index).started_by)
    }

    /// Exchanges GitHub's one-time `code` for the App's credentials.
    pub(crate) async fn convert(&self, code: &str) -> Result<AppCredentials, SetupError> {
        self.ready_to_create()?;
        if code.is_empty()
            || code.len() > 100
            || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(SetupError::GitHub(GitHubError { status: 422, message: "malformed code".into() }));
        }
        let http = crate::github::api_client(self.timeout).map_err(|e| SetupError::Failed(e.to_string()))?;
        let response = http
            .post(format!("{}/app-manifests/{code}/conversions", self.api_url))
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .send()
            .await
            .map_err(|e| {
                SetupError::GitHub(GitHubError { status: 0, message: e.without_url().to_string() })
            })?;
        let conversion: Conversion =
            crate::github::json_or_error(response).await.map_err(SetupError::GitHub)?;
        let credentials = AppCredentials {
            id: conversion.id,
            slug: conversion.slug.unwrap_or_default(),
            owner: conversion.owner.and_then(|o| o.login).unwrap_or_default(),
            html_url: conversion.html_url,
            pem: conversion.pem,
            webhook_secret: conversion.webhook_secret.unwrap_or_default(),
        };
        if credentials.webhook_secret.len() < 16 {
            return Err(SetupError::Failed("GitHub returned no usable webhook secret".into()));
        }
        // The key must work before it is kept: a stored App is used at every start.
        GitHubApp::new(
            &self.api_url,
            credentials.id,
            credentials.pem.as_bytes(),
            self.timeout,
            self.clock.clone(),
        )
        .map_err(|e| SetupError::Failed(format!("GitHub returned an unusable key: {e}")))?;
        Ok(credentials)
    }
}

/// GitHub through the App once there is one.
#[derive(Default)]
struct GitHubSlot {
    current: RwLock<Option<Arc<dyn GitHub>>>,
}

impl GitHubSlot {
    fn set(&self, github: Arc<dyn GitHub>) {
        if let Ok(mut current) = self.current.write() {
            *current = Some(github);
        }
    }

    fn get(&self) -> Result<Arc<dyn GitHub>, GitHubError> {
        self.current.read().ok().and_then(|c| c.clone()).ok_or_else(|| GitHubError {
            status: 503,
            message: "no GitHub App is set up yet (Settings → Create GitHub App)".into(),
        })
    }
}

#[async_trait]
impl GitHub for GitHubSlot {
    async fn jit_config(&self, request: &JitRequest) -> Result<JitConfig, GitHubError> {
        self.get()?.jit_config(request).await
    }

    async fn delete_runner(
        &self,
        installation_id: u64,
        scope: &RunnerScope,
        runner_id: u64,
    ) -> Result<(), GitHubError> {
        self.get()?.delete_runner(installation_id, scope, runner_id).await
    }

    async fn deliveries(&self, since: Timestamp) -> Result<Vec<Delivery>, GitHubError> {
        self.get()?.deliveries(since).await
    }

    async fn redeliver(&self, delivery_id: u64) -> Result<(), GitHubError> {
        self.get()?.redeliver(delivery_id).await
    }

    async fn app(&self) -> Result<crate::github::AppInfo, GitHubError> {
        self.get()?.app().await
    }

    async fn webhook_url(&self) -> Result<String, GitHubError> {
        self.get()?.webhook_url().await
    }

    async fn installation(&self, scope: &RunnerScope) -> Result<u64, GitHubError> {
        self.get()?.installation(scope).await
    }

    async fn job_steps(
        &self,
        installation_id: u64,
        repo: &str,
        github_job_id: u64,
    ) -> Result<Vec<crate::github::JobStep>, GitHubError> {
        self.get()?.job_steps(installation_id, repo, github_job_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    #[test]
    fn the_manifest_asks_for_exactly_what_pacer_uses() {
        let manifest = manifest("https://pacer.example.com/", "pacer-example");
        assert_eq!(manifest["hook_attributes"]["url"], "https://pacer.example.com/api/webhook");
        assert_eq!(manifest["redirect_url"], "https://pacer.example.com/setup/github-app");
        assert_eq!(manifest["default_events"], json!(["workflow_job"]));
        let permissions = manifest["default_permissions"].as_object().unwrap();
        let mut names: Vec<&str> = permissions.keys().map(String::as_str).collect();
        names.sort();
        assert_eq!(names, ["actions", "administration", "metadata", "organization_self_hosted_runners"]);
    }

    #[cfg(feature = "standalone")]
    #[test]
    fn web_urls_of_github_and_enterprise_server() {
        assert_eq!(web_url_of("https://api.github.com"), "https://github.com");
        assert_eq!(web_url_of("https://ghe.example.com/api/v3/"), "https://ghe.example.com");
        assert_eq!(web_url_of("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
    }

    #[test]
    fn a_creation_state_is_used_once() {
        let setup = AppSetup::by_manifest(
            "http://127.0.0.1:1",
            "http://127.0.0.1:1",
            Duration::from_secs(1),
            Arc::new(SystemClock),
        );
        let creation = setup.begin("ops@example.test", "https://p.example", "pacer", Some("octo")).unwrap();
        assert!(creation.url.starts_with("http://127.0.0.1:1/organizations/octo/settings/apps/new?state="));
        let state = creation.url.split("state=").nth(1).unwrap();
        assert!(matches!(setup.take("forged"), Err(SetupError::UnknownState)));
        assert_eq!(setup.take(state).unwrap(), "ops@example.test");
        assert!(matches!(setup.take(state), Err(SetupError::UnknownState)));
        let configured = AppSetup::configured(Secret::new("s"));
        assert!(matches!(configured.begin("a@b.c", "https://p", "n", None), Err(SetupError::Configured)));
    }
}
