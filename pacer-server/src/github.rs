//! GitHub: the small [`GitHub`] trait the engine uses (JIT runner configs, runner
//! deletion, the App's failed deliveries and redelivery), [`GitHubApp`] over the REST API with
//! a GitHub App's RS256 JWT and cached installation tokens, and [`SimulatedGitHub`] for demo
//! mode. Encoded JIT configs and tokens are secrets: never logged, never recorded.

use async_trait::async_trait;
use pacer_domain::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// Where a runner is registered.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RunnerScope {
    /// A repository (`owner/repo`).
    Repo {
        /// The repository's owner login (user or org).
        owner: String,
        /// The repository's name, without the owner.
        repo: String,
    },
    /// An organisation.
    Org {
        /// The organisation's login, as in `github.com/<org>`.
        org: String,
    },
}

impl RunnerScope {
    fn path(&self) -> String {
        match self {
            RunnerScope::Repo { owner, repo } => format!("repos/{owner}/{repo}"),
            RunnerScope::Org { org } => format!("orgs/{org}"),
        }
    }
}

/// A JIT runner to mint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JitRequest {
    /// The App installation acting.
    pub installation_id: u64,
    /// Where to register.
    pub scope: RunnerScope,
    /// Runner name (`pacer-<instance-id>`).
    pub name: String,
    /// Every label the runner registers with (`self-hosted`, the project's and pool's labels,
    /// extra labels), as `runs-on` matches them.
    pub labels: Vec<String>,
    /// Runner group (1 = default).
    pub runner_group_id: u64,
}

/// A minted JIT config.
#[derive(Clone, PartialEq, Eq)]
pub struct JitConfig {
    /// GitHub's runner id.
    pub runner_id: u64,
    /// The encoded config for `run.sh --jitconfig` (a secret).
    pub encoded: String,
}

impl std::fmt::Debug for JitConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitConfig").field("runner_id", &self.runner_id).field("encoded", &"***").finish()
    }
}

/// A webhook delivery as the App's delivery log lists it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct Delivery {
    /// Delivery id (for redelivery).
    pub id: u64,
    /// The `X-GitHub-Delivery` guid.
    pub guid: String,
    /// When it was delivered.
    #[serde(default)]
    pub delivered_at: String,
    /// Whether it is itself a redelivery.
    #[serde(default)]
    pub redelivery: bool,
    /// HTTP status Pacer (or nobody) answered.
    #[serde(default)]
    pub status_code: u16,
    /// `X-GitHub-Event` of the delivery (`workflow_job`, `ping`, …).
    #[serde(default)]
    pub event: String,
    /// The payload's `action` (`queued`, `completed`, …), when it has one.
    #[serde(default)]
    pub action: Option<String>,
}

impl Delivery {
    /// Whether GitHub saw it fail.
    pub fn failed(&self) -> bool {
        !(200..300).contains(&self.status_code)
    }
}

/// A failed GitHub call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("GitHub {status}: {message}")]
pub struct GitHubError {
    /// HTTP status (0 when GitHub could not be reached).
    pub status: u16,
    /// GitHub's message.
    pub message: String,
}

impl GitHubError {
    /// 429, 408, 5xx and unreachable: worth retrying.
    pub fn is_temporary(&self) -> bool {
        matches!(self.status, 0 | 408 | 429) || self.status >= 500
    }
}

/// The App as GitHub describes it (`GET /app`), for `pacer doctor`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct AppInfo {
    /// The App's URL name.
    #[serde(default)]
    pub slug: String,
    /// Events it is subscribed to.
    #[serde(default)]
    pub events: Vec<String>,
    /// Permission → `read` / `write`.
    #[serde(default)]
    pub permissions: std::collections::BTreeMap<String, String>,
    /// GitHub's clock when it answered (its `Date` header), for the skew check.
    #[serde(skip)]
    pub server_time: Option<Timestamp>,
}

/// One step of a job as GitHub reports it (`GET /repos/{owner}/{repo}/actions/jobs/{job_id}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobStep {
    /// Its number, from 1.
    pub number: u32,
    /// Its name (`Set up job`, `Run actions/checkout@v4`, …).
    pub name: String,
    /// `queued`, `in_progress` or `completed`.
    pub status: String,
    /// How it ended (`success`, `failure`, `skipped`, `cancelled`); `None` until it has.
    pub conclusion: Option<String>,
    /// When it started; `None` until it has.
    pub started_at: Option<Timestamp>,
    /// When it ended; `None` until it has.
    pub completed_at: Option<Timestamp>,
}

#[derive(Deserialize)]
struct JobAnswer {
    #[serde(default)]
    steps: Vec<StepAnswer>,
}

#[derive(Deserialize)]
struct StepAnswer {
    number: u32,
    name: String,
    status: String,
    #[serde(default)]
    conclusion: Option<String>,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    completed_at: Option<String>,
}

impl From<StepAnswer> for JobStep {
    fn from(step: StepAnswer) -> Self {
        let time = |text: Option<String>| text.as_deref().and_then(Timestamp::parse_rfc3339);
        JobStep {
            number: step.number,
            name: step.name,
            status: step.status,
            conclusion: step.conclusion,
            started_at: time(step.started_at),
            completed_at: time(step.completed_at),
        }
    }
}

/// What Pacer asks of GitHub.
#[async_trait]
pub trait GitHub: Send + Sync {
    /// Mints a JIT runner config.
    async fn jit_config(&self, request: &JitRequest) -> Result<JitConfig, GitHubError>;
    /// Removes a runner (404 counts as done).
    async fn delete_runner(
        &self,
        installation_id: u64,
        scope: &RunnerScope,
        runner_id: u64,
    ) -> Result<(), GitHubError>;
    /// The App's recent deliveries, newest first, back to about `since`.
    async fn deliveries(&self, since: Timestamp) -> Result<Vec<Delivery>, GitHubError>;
    /// Asks GitHub to deliver a delivery again.
    async fn redeliver(&self, delivery_id: u64) -> Result<(), GitHubError>;
    /// The App itself, with the App's JWT (`GET /app`).
    async fn app(&self) -> Result<AppInfo, GitHubError>;
    /// The URL the App's webhooks go to (`GET /app/hook/config`).
    async fn webhook_url(&self) -> Result<String, GitHubError>;
    /// The App's installation covering `scope` (`GET /repos/{o}/{r}/installation` or
    /// `GET /orgs/{org}/installation`): its id; 404 when the App is not installed there.
    async fn installation(&self, scope: &RunnerScope) -> Result<u64, GitHubError>;
    /// A job's steps (`GET /repos/{owner}/{repo}/actions/jobs/{job_id}`), with an installation
    /// token of `installation_id`; `repo` is `owner/repo`.
    async fn job_steps(
        &self,
        installation_id: u64,
        repo: &str,
        github_job_id: u64,
    ) -> Result<Vec<JobStep>, GitHubError>;
}

#[derive(Clone)]
struct InstallationToken {
    token: String,
    expires_at: Timestamp,
}

/// The GitHub REST API as a GitHub App.
pub struct GitHubApp {
    http: reqwest::Client,
    api: String,
    app_id: u64,
    key: jsonwebtoken::EncodingKey,
    clock: Arc<dyn crate::clock::Clock>,
    tokens: Mutex<HashMap<u64, Arc<Mutex<Option<InstallationToken>>>>>,
}

#[derive(Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    token: String,
    expires_at: String,
}

#[derive(Deserialize)]
struct JitResponse {
    runner: JitRunner,
    encoded_jit_config: String,
}

#[derive(Deserialize)]
struct JitRunner {
    id: u64,
}

#[derive(Serialize)]
struct JitBody<'a> {
    name: &'a str,
    runner_group_id: u64,
    labels: &'a [String],
    work_folder: &'a str,
}

/// Installation tokens are refreshed this long before they expire.
const TOKEN_MARGIN_MS: i64 = 5 * 60 * 1_000;

impl GitHubApp {
    /// A client for App `app_id` with its PEM private key, against `api` (`https://api.github.com`),
    /// each request cut off after `timeout`.
    pub fn new(
        api: &str,
        app_id: u64,
        private_key_pem: &[u8],
        timeout: Duration,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> anyhow::Result<Self> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem)
            .map_err(|e| anyhow::anyhow!("github.private_key_path: not an RSA private key: {e}"))?;
        let http = api_client(timeout)?;
        Ok(Self {
            http,
            api: api.trim_end_matches('/').to_owned(),
            app_id,
            key,
            clock,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// The App's JWT: RS256, issued 30 s in the past, valid 9 minutes.
    pub fn app_jwt(&self) -> Result<String, GitHubError> {
        let now = self.clock.now().millis() / 1_000;
        let claims = Claims { iat: now - 30, exp: now + 9 * 60, iss: self.app_id.to_string() };
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), &claims, &self.key)
            .map_err(|e| GitHubError { status: 0, message: format!("cannot sign the app JWT: {e}") })
    }

    /// An installation token, cached until 5 minutes before expiry; concurrent callers share
    /// one refresh.
    pub async fn installation_token(&self, installation_id: u64) -> Result<String, GitHubError> {
        let slot = self.tokens.lock().await.entry(installation_id).or_default().clone();
        let mut slot = slot.lock().await;
        if let Some(token) = slot.as_ref()
            && token.expires_at.millis() - TOKEN_MARGIN_MS > self.clock.now().millis()
        {
            return Ok(token.token.clone());
        }
        let url = format!("{}/app/installations/{installation_id}/access_tokens", self.api);
        let response =
            self.request(reqwest::Method::POST, &url, &self.app_jwt()?).send().await.map_err(unreachable)?;
        let body: TokenResponse = json_or_error(response).await?;
        let expires_at = Timestamp::parse_rfc3339(&body.expires_at)
            .unwrap_or_else(|| self.clock.now().plus_millis(55 * 60 * 1_000));
        *slot = Some(InstallationToken { token: body.token.clone(), expires_at });
        Ok(body.token)
    }

    fn request(&self, method: reqwest::Method, url: &str, bearer: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(bearer)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
    }
}

/// An HTTP client for GitHub's API: Pacer's user agent, each request cut off after `timeout`.
pub(crate) fn api_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("pacer/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .build()
}

fn unreachable(error: reqwest::Error) -> GitHubError {
    GitHubError { status: error.status().map_or(0, |s| s.as_u16()), message: error.without_url().to_string() }
}

async fn error_of(response: reqwest::Response) -> GitHubError {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| text.chars().take(300).collect());
    GitHubError { status, message }
}

pub(crate) async fn json_or_error<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, GitHubError> {
    if !response.status().is_success() {
        return Err(error_of(response).await);
    }
    let status = response.status().as_u16();
    response.json().await.map_err(|e| GitHubError { status, message: format!("unexpected answer: {e}") })
}

#[async_trait]
impl GitHub for GitHubApp {
    async fn jit_config(&self, request: &JitRequest) -> Result<JitConfig, GitHubError> {
        let token = self.installation_token(request.installation_id).await?;
        let url = format!("{}/{}/actions/runners/generate-jitconfig", self.api, request.scope.path());
        let body = JitBody {
            name: &request.name,
            runner_group_id: request.runner_group_id,
            labels: &request.labels,
            work_folder: "_work",
        };
        let response = self
            .request(reqwest::Method::POST, &url, &token)
            .json(&body)
            .send()
            .await
            .map_err(unreachable)?;
        let answer: JitResponse = json_or_error(response).await?;
        Ok(JitConfig { runner_id: answer.runner.id, encoded: answer.encoded_jit_config })
    }

    async fn delete_runner(
        &self,
        installation_id: u64,
        scope: &RunnerScope,
        runner_id: u64,
    ) -> Result<(), GitHubError> {
        let token = self.installation_token(installation_id).await?;
        let url = format!("{}/{}/actions/runners/{runner_id}", self.api, scope.path());
        let response =
            self.request(reqwest::Method::DELETE, &url, &token).send().await.map_err(unreachable)?;
        if response.status().is_success() || response.status().as_u16() == 404 {
            Ok(())
        } else {
            Err(error_of(response).await)
        }
    }

    async fn deliveries(&self, since: Timestamp) -> Result<Vec<Delivery>, GitHubError> {
        let jwt = self.app_jwt()?;
        let mut url = format!("{}/app/hook/deliveries?per_page=100", self.api);
        let mut out = Vec::new();
        for _ in 0..20 {
            let response =
                self.request(reqwest::Method::GET, &url, &jwt).send().await.map_err(unreachable)?;
            let next = response
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(next_link)
                .map(str::to_owned);
            let page: Vec<Delivery> = json_or_error(response).await?;
            let reached_since =
                page.iter().any(|d| Timestamp::parse_rfc3339(&d.delivered_at).is_some_and(|t| t < since));
            out.extend(page);
            match next {
                Some(next) if !reached_since => url = next,
                _ => break,
            }
        }
        Ok(out)
    }

    async fn app(&self) -> Result<AppInfo, GitHubError> {
        let url = format!("{}/app", self.api);
        let response =
            self.request(reqwest::Method::GET, &url, &self.app_jwt()?).send().await.map_err(unreachable)?;
        let server_time = response
            .headers()
            .get("date")
            .and_then(|d| d.to_str().ok())
            .and_then(|d| httpdate::parse_http_date(d).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| Timestamp::from_millis(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
        let mut info: AppInfo = json_or_error(response).await?;
        info.server_time = server_time;
        Ok(info)
    }

    async fn webhook_url(&self) -> Result<String, GitHubError> {
        #[derive(Deserialize)]
        struct HookConfig {
            #[serde(default)]
            url: String,
        }
        let url = format!("{}/app/hook/config", self.api);
        let response =
            self.request(reqwest::Method::GET, &url, &self.app_jwt()?).send().await.map_err(unreachable)?;
        Ok(json_or_error::<HookConfig>(response).await?.url)
    }

    async fn installation(&self, scope: &RunnerScope) -> Result<u64, GitHubError> {
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        let url = format!("{}/{}/installation", self.api, scope.path());
        let response =
            self.request(reqwest::Method::GET, &url, &self.app_jwt()?).send().await.map_err(unreachable)?;
        Ok(json_or_error::<Installation>(response).await?.id)
    }

    async fn job_steps(
        &self,
        installation_id: u64,
        repo: &str,
        github_job_id: u64,
    ) -> Result<Vec<JobStep>, GitHubError> {
        let Some((owner, name)) = repo.split_once('/') else {
            return Err(GitHubError { status: 0, message: format!("{repo} is not owner/repo") });
        };
        let token = self.installation_token(installation_id).await?;
        let url = format!("{}/repos/{owner}/{name}/actions/jobs/{github_job_id}", self.api);
        let response = self.request(reqwest::Method::GET, &url, &token).send().await.map_err(unreachable)?;
        let answer: JobAnswer = json_or_error(response).await?;
        Ok(answer.steps.into_iter().map(JobStep::from).collect())
    }

    async fn redeliver(&self, delivery_id: u64) -> Result<(), GitHubError> {
        let url = format!("{}/app/hook/deliveries/{delivery_id}/attempts", self.api);
        let response =
            self.request(reqwest::Method::POST, &url, &self.app_jwt()?).send().await.map_err(unreachable)?;
        if response.status().is_success() { Ok(()) } else { Err(error_of(response).await) }
    }
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(header: &str) -> Option<&str> {
    header.split(',').find(|part| part.contains("rel=\"next\"")).and_then(|part| {
        let start = part.find('<')? + 1;
        let end = part.find('>')?;
        part.get(start..end)
    })
}

/// GitHub for demo mode: mints JIT configs that name the runner, its labels and id; keeps no
/// deliveries to redeliver; its App is installed everywhere; serves the steps of the jobs the
/// demo's world told it about ([`SimulatedGitHub::job_ran`]).
#[derive(Default)]
pub struct SimulatedGitHub {
    next_runner: std::sync::atomic::AtomicU64,
    webhook_url: String,
    runs: std::sync::Mutex<HashMap<u64, SimulatedRun>>,
}

/// What the simulated GitHub knows of a job's run.
#[derive(Clone, Copy, Debug, Default)]
struct SimulatedRun {
    started_at: Option<Timestamp>,
    completed_at: Option<Timestamp>,
    failed: bool,
    now: Timestamp,
}

/// The steps every simulated job runs, with their share of its run time.
const SIMULATED_STEPS: [(&str, f64); 6] = [
    ("Set up job", 0.05),
    ("Run actions/checkout@v4", 0.1),
    ("Run actions/cache@v4", 0.1),
    ("Build", 0.35),
    ("Test", 0.35),
    ("Complete job", 0.05),
];

impl SimulatedGitHub {
    /// A simulated GitHub whose App sends its webhooks to `url`.
    pub fn sending_webhooks_to(url: impl Into<String>) -> SimulatedGitHub {
        SimulatedGitHub { webhook_url: url.into(), ..SimulatedGitHub::default() }
    }

    /// Tells it a job started (and ended, failing or not) at these times, as of `now`.
    pub fn job_ran(
        &self,
        github_job_id: u64,
        started_at: Option<Timestamp>,
        completed_at: Option<Timestamp>,
        failed: bool,
        now: Timestamp,
    ) {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        if runs.len() >= 10_000 {
            runs.clear();
        }
        runs.insert(github_job_id, SimulatedRun { started_at, completed_at, failed, now });
    }

    /// The steps of a run: each takes its share of the run, the one under way at `now` is in
    /// progress, the last one done fails when the job failed.
    fn steps(run: SimulatedRun, now: Timestamp) -> Vec<JobStep> {
        let Some(start) = run.started_at else { return Vec::new() };
        // A job under way is assumed to take half a minute (or as long as it has run, and more).
        let end = run.completed_at.unwrap_or_else(|| {
            let ran = now.max(run.now).millis_since(start);
            start.plus_millis((ran + 5_000).max(30_000))
        });
        let total = end.millis_since(start).max(1_000) as f64;
        let mut at = start;
        let mut steps = Vec::new();
        let mut failed_one = false;
        for (index, (name, share)) in SIMULATED_STEPS.iter().enumerate() {
            let step_end = at.plus_millis((total * share) as i64);
            let done = run.completed_at.is_some() || step_end <= now;
            let begun = at <= now || run.completed_at.is_some();
            let fails = run.failed && !failed_one && index == SIMULATED_STEPS.len() - 2;
            failed_one |= fails;
            let (status, conclusion) = match (begun, done) {
                (_, true) if failed_one && !fails => ("completed", Some("skipped")),
                (_, true) if fails => ("completed", Some("failure")),
                (_, true) => ("completed", Some("success")),
                (true, false) => ("in_progress", None),
                (false, false) => ("queued", None),
            };
            steps.push(JobStep {
                number: index as u32 + 1,
                name: (*name).into(),
                status: status.into(),
                conclusion: conclusion.map(str::to_owned),
                started_at: begun.then_some(at),
                completed_at: done.then_some(step_end),
            });
            at = step_end;
        }
        steps
    }
}

#[async_trait]
impl GitHub for SimulatedGitHub {
    async fn jit_config(&self, request: &JitRequest) -> Result<JitConfig, GitHubError> {
        let runner_id = 1_000 + self.next_runner.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let payload =
            serde_json::json!({"name": request.name, "labels": request.labels, "runner_id": runner_id});
        use base64::Engine;
        Ok(JitConfig {
            runner_id,
            encoded: base64::engine::general_purpose::STANDARD.encode(payload.to_string()),
        })
    }

    async fn delete_runner(&self, _: u64, _: &RunnerScope, _: u64) -> Result<(), GitHubError> {
        Ok(())
    }

    async fn deliveries(&self, _: Timestamp) -> Result<Vec<Delivery>, GitHubError> {
        Ok(Vec::new())
    }

    async fn app(&self) -> Result<AppInfo, GitHubError> {
        Ok(AppInfo {
            slug: "pacer-demo".into(),
            events: vec!["workflow_job".into()],
            permissions: crate::app_setup::PERMISSIONS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            server_time: None,
        })
    }

    async fn webhook_url(&self) -> Result<String, GitHubError> {
        Ok(self.webhook_url.clone())
    }

    async fn installation(&self, _: &RunnerScope) -> Result<u64, GitHubError> {
        Ok(1)
    }

    async fn job_steps(&self, _: u64, _: &str, github_job_id: u64) -> Result<Vec<JobStep>, GitHubError> {
        let run = self.runs.lock().unwrap_or_else(|p| p.into_inner()).get(&github_job_id).copied();
        match run {
            Some(run) => Ok(SimulatedGitHub::steps(run, Timestamp::from_millis(now_millis()))),
            None => Ok(Vec::new()),
        }
    }

    async fn redeliver(&self, _: u64) -> Result<(), GitHubError> {
        Ok(())
    }
}

/// The wall clock, for the simulated GitHub's steps under way.
fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_steps_follow_the_run() {
        let start = Timestamp::from_millis(1_000_000);
        let end = start.plus_millis(100_000);
        let done = SimulatedRun { started_at: Some(start), completed_at: Some(end), failed: true, now: end };
        let steps = SimulatedGitHub::steps(done, end);
        let conclusions: Vec<_> = steps.iter().map(|s| s.conclusion.as_deref().unwrap_or("-")).collect();
        assert_eq!(conclusions, ["success", "success", "success", "success", "failure", "skipped"]);
        assert_eq!(steps.last().and_then(|s| s.completed_at), Some(end));
        let running = SimulatedRun { started_at: Some(start), completed_at: None, failed: false, now: start };
        let steps = SimulatedGitHub::steps(running, start.plus_millis(1));
        assert_eq!(steps[0].status, "in_progress");
        assert_eq!(steps[1].status, "queued");
        assert!(SimulatedGitHub::steps(SimulatedRun::default(), start).is_empty());
    }

    #[test]
    fn finds_the_next_page() {
        let link =
            r#"<https://api.github.com/app/hook/deliveries?cursor=a>; rel="next", <https://x>; rel="prev""#;
        assert_eq!(next_link(link), Some("https://api.github.com/app/hook/deliveries?cursor=a"));
        assert_eq!(next_link(r#"<https://x>; rel="prev""#), None);
    }

    #[test]
    fn temporary_errors() {
        for status in [0, 408, 429, 500, 502] {
            assert!(GitHubError { status, message: String::new() }.is_temporary());
        }
        for status in [401, 403, 404, 422] {
            assert!(!GitHubError { status, message: String::new() }.is_temporary());
        }
    }
}
