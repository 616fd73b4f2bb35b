//! Runner callbacks as engine operations; the HTTP layer maps their errors to status
//! codes. Bootstrap trades the pool's bootstrap token for a per-instance callback token (once
//! per instance; a warm instance bootstraps before any job takes it); register mints the JIT
//! config from GitHub for the instance's job (once per instance, never after its job or runner
//! is done, one call in flight, held as a long poll while no job has taken a warm instance yet;
//! every refusal is a 410, recorded once per instance and reason); complete and error record the outcome (the first report only). A callback token dies
//! with its instance: once the instance ended, every callback gets 410.

use super::Engine;
use super::reaper::runner_scope;
use crate::app::{AppError, Meta};
use crate::github::JitRequest;
use crate::metrics::GitHubCall;
use pacer_domain::{
    Actor, BootstrapRefusal, Command, Event, MINUTE_MS, PoolId, RegisterRefusal, RejectionCode,
    RunnerBootstrapRefused, Timestamp, register_refusal, runner_name,
};

/// How long a registration waits for a job to take its instance before it answers retry: under
/// the user data's 30-second request timeout.
pub(crate) const REGISTER_WAIT: std::time::Duration = std::time::Duration::from_secs(20);
/// How often a waiting registration looks for its job.
const REGISTER_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// What an instance presents at bootstrap besides its pool's token.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct IdentityProof {
    /// The instance it says it is; only checked against the document's.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// Its identity document (IMDS `dynamic/instance-identity/document`), base64.
    pub document: String,
    /// AWS's RSA-SHA256 signature of it (IMDS `dynamic/instance-identity/signature`), base64.
    pub signature: String,
}

/// Why a callback was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// Bad, expired or missing token (401).
    #[error("unauthorized")]
    Unauthorized,
    /// The instance is not known yet or has no job yet: try again (409).
    #[error("{0}")]
    Retry(String),
    /// Already done once (410).
    #[error("{0}")]
    Gone(String),
    /// GitHub is temporarily unavailable: try again (503).
    #[error("{0}")]
    GitHubTemporary(String),
    /// GitHub refused (424).
    #[error("{0}")]
    GitHubRefused(String),
    /// Unknown instance or job (404).
    #[error("{0}")]
    NotFound(String),
    /// Pacer cannot record right now (503).
    #[error("{0}")]
    Unavailable(String),
    /// Bad request body (400).
    #[error("{0}")]
    BadRequest(String),
    /// A valid credential used where it does not reach (403); the refusal is recorded.
    #[error("{0}")]
    Forbidden(String),
}

impl From<AppError> for CallbackError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Rejected(r) => match r.code {
                RejectionCode::TryLater => CallbackError::Retry(r.message),
                RejectionCode::Gone => CallbackError::Gone(r.message),
                RejectionCode::NotFound => CallbackError::NotFound(r.message),
                _ => CallbackError::BadRequest(r.message),
            },
            AppError::Duplicate(key) => CallbackError::Gone(format!("already recorded: {key}")),
            AppError::Unavailable(reason) => CallbackError::Unavailable(reason),
            AppError::Busy => CallbackError::Unavailable("busy".into()),
            deposed @ AppError::Deposed { .. } => CallbackError::Unavailable(deposed.to_string()),
        }
    }
}

/// What a bootstrapped instance learns.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Bootstrap {
    /// The job it will serve first; 0 for a warm instance no job has taken yet.
    pub job_id: u64,
    /// Its callback token.
    pub callback_token: String,
    /// Its GitHub runner name.
    pub runner_name: String,
}

/// What a registration call gets.
pub enum RegisterAnswer {
    /// The runner's registration, for the job that took the instance.
    Runner(Registration),
    /// The instance is stopped capacity whose runner is ready: Pacer stops it (and starts it
    /// when a job takes it); it stands by (HTTP 204).
    StandBy,
}

/// What a registering runner gets.
#[derive(Clone, serde::Serialize)]
pub struct Registration {
    /// GitHub's runner id.
    pub runner_id: u64,
    /// The JIT config (a secret).
    pub encoded_jit_config: String,
}

impl Engine {
    /// `POST /api/runner/bootstrap`: the token must be the current (or, in its grace, the
    /// previous) token of the pool the instance was launched from, and the instance must prove
    /// who it is with its AWS-signed identity document; the request's instance id is only
    /// checked against the document's. Every refusal is a 403, recorded once per instance (per
    /// pool for documents that do not verify) while tokens that could repeat it are valid.
    pub async fn runner_bootstrap(
        &self,
        bootstrap_token: &str,
        proof: &IdentityProof,
    ) -> Result<Bootstrap, CallbackError> {
        let now = self.app.now();
        let pool =
            self.secrets.check_pool_bootstrap(bootstrap_token, now).ok_or(CallbackError::Unauthorized)?;
        let pool = PoolId(pool);
        let claimed = proof.instance_id.clone().unwrap_or_default();
        let refusal = |instance: String, reason| RunnerBootstrapRefused { instance, pool, reason };
        let identity = match self.identity.verify(&proof.document, &proof.signature) {
            Ok(identity) => identity,
            // A forger names whatever instance it likes: one record per pool.
            Err(error) => {
                let refused = refusal(claimed, BootstrapRefusal::BadIdentity);
                return Err(self.refuse_bootstrap(&pool.to_string(), refused, &error.to_string()).await);
            }
        };
        let instance = identity.instance_id;
        if proof.instance_id.as_ref().is_some_and(|claimed| *claimed != instance) {
            let refused = refusal(instance.clone(), BootstrapRefusal::InstanceMismatch);
            let why = format!("the identity document is of {instance}, not {claimed}");
            return Err(self.refuse_bootstrap(&instance, refused, &why).await);
        }
        let Some(launched_at) = Timestamp::parse_rfc3339(&identity.pending_time) else {
            let refused = refusal(instance.clone(), BootstrapRefusal::BadIdentity);
            return Err(self
                .refuse_bootstrap(&instance, refused, "the document's pendingTime is not a time")
                .await);
        };
        let command = Command::RunnerBootstrap { instance: instance.clone(), pool, launched_at };
        // A refusal the state decides (another pool's token, another launch, an instance never
        // launched, a replay) is recorded once, so the rules are asked first without recording.
        let peek = pacer_domain::decide(&self.app.state(), command.clone(), now);
        match peek.as_deref() {
            Ok([Event::RunnerBootstrapRefused(refused)]) => {
                let why = format!("{instance} may not bootstrap with {pool}'s token");
                return Err(self.refuse_bootstrap(&instance, refused.clone(), &why).await);
            }
            Err(rejection) if rejection.code == RejectionCode::Gone => {
                let refused = refusal(instance.clone(), BootstrapRefusal::Replayed);
                self.record_bootstrap_refusal(&instance, refused).await;
                return Err(CallbackError::Gone(rejection.message.clone()));
            }
            _ => {}
        }
        // The account in the document must be the one EC2 says owns the instance (asked only
        // when the state would let it bootstrap, so replays cost no EC2 call).
        let described = self.compute.describe(std::slice::from_ref(&instance)).await.map_err(|e| {
            CallbackError::Unavailable(format!("cannot describe {instance} to check its account: {e}"))
        })?;
        let owner = described.into_iter().find(|s| s.instance_id == instance).and_then(|s| s.owner);
        if owner.is_some_and(|owner| owner != identity.account_id) {
            let refused = refusal(instance.clone(), BootstrapRefusal::WrongAccount);
            let why = format!("{instance} is not in account {}", identity.account_id);
            return Err(self.refuse_bootstrap(&instance, refused, &why).await);
        }
        let records = self.app.execute(command, Meta::by(Actor::Runner(instance.clone()))).await?;
        // A warm instance has no job yet (0): its token is the instance's.
        let job = records.iter().find_map(|r| match &r.event {
            Event::RunnerBootstrapped(b) => Some(Ok(b.job)),
            Event::WarmBootstrapped(_) => Some(Ok(pacer_domain::JobId(0))),
            Event::RunnerBootstrapRefused(refused) => Some(Err(CallbackError::Forbidden(format!(
                "{instance} may not bootstrap with {pool}'s token: {}",
                refused.reason.as_str()
            )))),
            _ => None,
        });
        let job = job.ok_or_else(|| CallbackError::Retry("not bootstrapped".into()))??;
        let expires = now.plus_millis(self.callback_lifetime_ms());
        let callback_token = self
            .secrets
            .issue_callback(job.0, &instance, expires)
            .await
            .map_err(|e| CallbackError::Unavailable(format!("cannot store the callback token: {e}")))?;
        Ok(Bootstrap { job_id: job.0, callback_token, runner_name: runner_name(&instance) })
    }

    /// Records a refused bootstrap (once per `key` and reason while tokens that could repeat it
    /// are valid) and answers 403.
    async fn refuse_bootstrap(&self, key: &str, refused: RunnerBootstrapRefused, why: &str) -> CallbackError {
        let answer = CallbackError::Forbidden(format!("{why}: {}", refused.reason.as_str()));
        self.record_bootstrap_refusal(key, refused).await;
        answer
    }

    /// Records a refused bootstrap once per `key` and reason while tokens that could repeat it
    /// are valid.
    async fn record_bootstrap_refusal(&self, key: &str, refused: RunnerBootstrapRefused) {
        if self.first_refusal(key, refused.reason.as_str()) {
            let actor = Meta::by(Actor::Runner(refused.instance.clone()));
            if let Err(error) = self.app.execute(Command::RefuseBootstrap(refused), actor).await {
                tracing::warn!(%error, "could not record a refused bootstrap");
            }
        }
    }

    /// How long a callback token is valid: as long as the longest pool may run, plus an hour
    /// to report.
    fn callback_lifetime_ms(&self) -> i64 {
        self.longest_runtime_ms() + 60 * MINUTE_MS
    }

    /// The instance a valid callback token belongs to, live or not.
    fn token_instance(&self, token: &str) -> Result<String, CallbackError> {
        let claims =
            self.secrets.check_callback(token, self.app.now()).map_err(|_| CallbackError::Unauthorized)?;
        Ok(claims.instance)
    }

    /// The instance a valid callback token belongs to, while that instance is live.
    pub(super) fn check_callback(&self, token: &str) -> Result<String, CallbackError> {
        let instance = self.token_instance(token)?;
        if self.app.state().instances.get(&instance).is_none() {
            return Err(CallbackError::Gone(format!("instance {instance} has ended")));
        }
        Ok(instance)
    }

    /// Whether this is the first refusal of `instance` for `reason` while tokens that could
    /// repeat it are valid (only the first is recorded).
    fn first_refusal(&self, instance: &str, reason: &'static str) -> bool {
        let now = self.app.now();
        self.refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((instance.to_owned(), reason), now)
            .is_none()
    }

    /// Records a refused registration (once per instance and reason while its token is valid)
    /// and answers 410.
    async fn refuse_register(&self, instance: String, reason: RegisterRefusal) -> CallbackError {
        let refused =
            CallbackError::Gone(format!("no runner registration for {instance}: {}", reason.as_str()));
        if self.first_refusal(&instance, reason.as_str()) {
            let actor = Meta::by(Actor::Runner(instance.clone()));
            if let Err(error) = self.app.execute(Command::RefuseRegister { instance, reason }, actor).await {
                tracing::warn!(%error, "could not record a refused runner registration");
            }
        }
        refused
    }

    /// Forgets recorded refusals once every token that could repeat them has expired.
    pub(super) fn forget_refusals(&self) {
        let now = self.app.now();
        let lifetime = self.callback_lifetime_ms();
        self.refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, at| now.millis_since(*at) < lifetime);
    }

    /// Waits up to [`REGISTER_WAIT`] for a job to take `instance` (a warm instance waits for
    /// one; any other has one already, or lost it and may be handed another): a long poll, so
    /// a hot runner registers moments after a job takes it. Answers retry (409) when none did.
    async fn wait_for_job(&self, instance: &str) -> Result<(), CallbackError> {
        let deadline = tokio::time::Instant::now() + REGISTER_WAIT;
        loop {
            match self.app.state().instances.get(instance).map(|live| live.job.is_some()) {
                Some(true) => return Ok(()),
                Some(false) => {}
                None => return Err(CallbackError::Gone(format!("instance {instance} has ended"))),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(CallbackError::Retry("no job has taken this instance yet; ask again".into()));
            }
            tokio::time::sleep(REGISTER_POLL).await;
        }
    }

    /// `POST /api/runner/register`: for an instance without a job yet (warm), held until a job
    /// takes it or [`REGISTER_WAIT`] passes; an instance of stopped capacity whose runner is
    /// ready is stopped instead ([`RegisterAnswer::StandBy`]).
    pub async fn runner_register(&self, callback_token: &str) -> Result<RegisterAnswer, CallbackError> {
        let instance = self.token_instance(callback_token)?;
        let refusal = {
            let state = self.app.state();
            match state.instances.get(&instance) {
                Some(live) => register_refusal(&state, live),
                None => Some(RegisterRefusal::InstanceEnded),
            }
        };
        if let Some(reason) = refusal {
            return Err(self.refuse_register(instance, reason).await);
        }
        let Some(_registering) = InFlight::enter(&self.registering, &instance) else {
            return Err(self.refuse_register(instance, RegisterRefusal::InFlight).await);
        };
        if self.park(&instance).await? {
            return Ok(RegisterAnswer::StandBy);
        }
        self.mark_ready(&instance).await;
        self.wait_for_job(&instance).await?;
        let request = {
            let state = self.app.state();
            let live = state
                .instances
                .get(&instance)
                .ok_or_else(|| CallbackError::Gone(format!("instance {instance} has ended")))?;
            let job_id =
                live.job.ok_or_else(|| CallbackError::Retry("the instance has no job right now".into()))?;
            let job =
                state.jobs.get(job_id).ok_or_else(|| CallbackError::NotFound(format!("{job_id} is gone")))?;
            let pool = state
                .config
                .pool(job.pool)
                .ok_or_else(|| CallbackError::NotFound("the pool is gone".into()))?;
            let project = state
                .config
                .project(job.project)
                .ok_or_else(|| CallbackError::NotFound("the project is gone".into()))?;
            let installation_id = job.installation.ok_or_else(|| {
                CallbackError::GitHubRefused("the job came without a GitHub App installation".into())
            })?;
            let scope = runner_scope(&state, job)
                .ok_or_else(|| CallbackError::NotFound("the job's repo is malformed".into()))?;
            let runner_group_id = match project.spec.scope {
                pacer_domain::Scope::Org => project.spec.effective_runner_group(),
                pacer_domain::Scope::Repo => 1,
            };
            JitRequest {
                installation_id,
                scope,
                name: runner_name(&instance),
                labels: state.config.runner_labels(pool, state.repo_name(job)),
                runner_group_id,
            }
        };
        let actor = Meta::by(Actor::Runner(instance.clone()));
        match self.github.jit_config(&request).await {
            Ok(config) => {
                let command =
                    Command::RunnerRegistered { instance: instance.clone(), runner_id: config.runner_id };
                if let Err(error) = self.app.execute(command, actor).await {
                    // The job or runner ended while GitHub minted it: the runner must not live.
                    if let Err(e) = self
                        .github
                        .delete_runner(request.installation_id, &request.scope, config.runner_id)
                        .await
                    {
                        self.metrics.github_error(GitHubCall::DeleteRunner, e.status);
                        tracing::warn!(%instance, error = %e, "could not delete a runner minted too late");
                    }
                    return Err(error.into());
                }
                Ok(RegisterAnswer::Runner(Registration {
                    runner_id: config.runner_id,
                    encoded_jit_config: config.encoded,
                }))
            }
            Err(error) if error.is_temporary() => {
                self.metrics.github_error(GitHubCall::GenerateJitconfig, error.status);
                Err(CallbackError::GitHubTemporary(error.to_string()))
            }
            Err(error) => {
                self.metrics.github_error(GitHubCall::GenerateJitconfig, error.status);
                let command = Command::RunnerRegisterFailed {
                    instance,
                    status: error.status,
                    message: error.message.clone(),
                };
                self.app.execute(command, actor).await?;
                Err(CallbackError::GitHubRefused(error.to_string()))
            }
        }
    }

    /// `POST /api/runner/complete`.
    pub async fn runner_complete(&self, callback_token: &str, exit_code: i32) -> Result<(), CallbackError> {
        let instance = self.check_callback(callback_token)?;
        let actor = Meta::by(Actor::Runner(instance.clone()));
        self.app.execute(Command::RunnerCompleted { instance, exit_code }, actor).await.map_err(ended)?;
        Ok(())
    }

    /// `POST /api/runner/error`.
    pub async fn runner_error(
        &self,
        callback_token: &str,
        stage: String,
        exit_code: i32,
        line: u32,
        log_tail: String,
    ) -> Result<(), CallbackError> {
        let instance = self.check_callback(callback_token)?;
        let mut meta = Meta::by(Actor::Runner(instance.clone()));
        let stage: String =
            stage.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(40).collect();
        // The log goes to the vault beside the record (see `crate::failure_logs`); a report the
        // decider refuses writes neither.
        let job = self.app.state().instances.get(&instance).and_then(|i| i.job);
        if let Some(job) = job {
            meta.vault.push(crate::failure_logs::write(job, &instance, log_tail, self.app.now()));
        }
        let log_tail = String::new();
        self.app
            .execute(Command::RunnerErrored { instance, stage, exit_code, line, log_tail }, meta)
            .await
            .map_err(ended)?;
        Ok(())
    }
}

/// A report whose callback token checked out but whose instance the state no longer holds came
/// in while the instance was torn down: GONE, like every late report (never 404).
fn ended(error: crate::app::AppError) -> CallbackError {
    match CallbackError::from(error) {
        CallbackError::NotFound(message) => CallbackError::Gone(message),
        other => other,
    }
}

/// An instance's registration under way; leaving the set when dropped.
struct InFlight<'a> {
    set: &'a std::sync::Mutex<std::collections::HashSet<String>>,
    instance: String,
}

impl<'a> InFlight<'a> {
    /// Enters `instance` into `set`; `None` when it is already there.
    fn enter(set: &'a std::sync::Mutex<std::collections::HashSet<String>>, instance: &str) -> Option<Self> {
        let entered = set.lock().unwrap_or_else(|p| p.into_inner()).insert(instance.to_owned());
        entered.then(|| InFlight { set, instance: instance.to_owned() })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.set.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.instance);
    }
}
