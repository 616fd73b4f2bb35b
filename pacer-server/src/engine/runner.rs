//! Runner callbacks (SPEC §7) as engine operations; the HTTP layer maps their errors to status
//! codes. Bootstrap trades the pool's bootstrap token for a per-job callback token (once per
//! instance); register mints the JIT config from GitHub; complete and error record the outcome.

use super::Engine;
use super::reaper::runner_scope;
use crate::app::{AppError, Meta};
use crate::github::JitRequest;
use crate::metrics::GitHubCall;
use pacer_domain::{Actor, Command, MINUTE_MS, RejectionCode, runner_name};

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
        }
    }
}

/// What a bootstrapped instance learns.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Bootstrap {
    /// The job it will serve first.
    pub job_id: u64,
    /// Its callback token.
    pub callback_token: String,
    /// Its GitHub runner name.
    pub runner_name: String,
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
    /// `POST /api/runner/bootstrap`.
    pub async fn runner_bootstrap(
        &self,
        bootstrap_token: &str,
        instance: &str,
    ) -> Result<Bootstrap, CallbackError> {
        let now = self.app.now();
        if !self.secrets.check_bootstrap(bootstrap_token, now) {
            return Err(CallbackError::Unauthorized);
        }
        let records = self
            .app
            .execute(
                Command::RunnerBootstrap { instance: instance.to_owned() },
                Meta::by(Actor::Runner(instance.to_owned())),
            )
            .await?;
        let job = records
            .iter()
            .find_map(|r| match &r.event {
                pacer_domain::Event::RunnerBootstrapped(b) => Some(b.job),
                _ => None,
            })
            .ok_or_else(|| CallbackError::Retry("not bootstrapped".into()))?;
        // Valid as long as the longest pool may run, plus an hour to report.
        let expires = now.plus_millis(self.longest_runtime_ms() + 60 * MINUTE_MS);
        let callback_token = self
            .secrets
            .issue_callback(job.0, instance, expires)
            .map_err(|e| CallbackError::Unavailable(format!("cannot store the callback token: {e}")))?;
        Ok(Bootstrap { job_id: job.0, callback_token, runner_name: runner_name(instance) })
    }

    fn check_callback(&self, token: &str) -> Result<String, CallbackError> {
        let claims =
            self.secrets.check_callback(token, self.app.now()).map_err(|_| CallbackError::Unauthorized)?;
        Ok(claims.instance)
    }

    /// `POST /api/runner/register`.
    pub async fn runner_register(&self, callback_token: &str) -> Result<Registration, CallbackError> {
        let instance = self.check_callback(callback_token)?;
        let request = {
            let state = self.app.state();
            let live = state
                .instances
                .get(&instance)
                .ok_or_else(|| CallbackError::NotFound(format!("instance {instance} is gone")))?;
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
                self.app
                    .execute(Command::RunnerRegistered { instance, runner_id: config.runner_id }, actor)
                    .await?;
                Ok(Registration { runner_id: config.runner_id, encoded_jit_config: config.encoded })
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
        self.app.execute(Command::RunnerCompleted { instance, exit_code }, actor).await?;
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
        let actor = Meta::by(Actor::Runner(instance.clone()));
        let stage: String =
            stage.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(40).collect();
        self.app
            .execute(Command::RunnerErrored { instance, stage, exit_code, line, log_tail }, actor)
            .await?;
        Ok(())
    }
}
