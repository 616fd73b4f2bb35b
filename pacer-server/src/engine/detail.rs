//! What the job detail shows beside the log: the job's steps as GitHub reports them (fetched
//! when asked, cached in memory: a finished job's for as long as the bounded cache keeps them,
//! a running job's and a failed fetch's for [`STEPS_FRESH`]), and each instance's last runner
//! heartbeat (`POST /api/runner/heartbeat`). Heartbeats are not events: they are kept in memory
//! and written to the vault at most once per [`PERSIST_EVERY`] per instance, so after a restart
//! the last-seen time is at most that old, and right again with the runner's next heartbeat
//! (every [`HEARTBEAT_INTERVAL`]). The reaper's pass prunes the heartbeats of ended instances at
//! most once per [`PRUNE_EVERY`] (the raw webhook payloads go with the retention pass, see
//! `super::prune`).

use super::{CallbackError, Engine};
use crate::github::JobStep;
use pacer_domain::{JobId, MINUTE_MS, SECOND_MS, Timestamp};
use pacer_store::{Batch, VaultWrite};
use std::collections::HashMap;
use std::sync::Mutex;

/// How often the user data's runner heartbeats.
pub(crate) const HEARTBEAT_INTERVAL_SECONDS: i64 = 30;
/// A heartbeat is written to the vault at most this often per instance.
const PERSIST_EVERY: i64 = 60 * SECOND_MS;
/// How long a running job's steps (or a failed fetch) are served from the cache.
const STEPS_FRESH: i64 = 10 * SECOND_MS;
/// Most jobs whose steps are cached.
const MAX_CACHED_STEPS: usize = 1_024;
/// The reaper's pass prunes at most this often.
const PRUNE_EVERY: i64 = 60 * MINUTE_MS;
/// Vault key prefix of persisted heartbeats.
const HEARTBEAT_PREFIX: &str = "heartbeat:";

/// A job's steps as the detail shows them: GitHub's, or none with the reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Steps {
    /// GitHub's steps, in order; empty when unknown.
    pub steps: Vec<JobStep>,
    /// Why there are none from GitHub (no installation, GitHub refused or is unreachable);
    /// `None` when GitHub answered.
    pub unavailable: Option<String>,
}

#[derive(Clone)]
struct CachedSteps {
    fetched_at: Timestamp,
    /// Fetched after the job finished, and GitHub answered: kept while the cache has room.
    settled: bool,
    /// Whether the job had finished when they were fetched (its end makes them stale).
    finished: bool,
    steps: Steps,
}

/// An instance's last heartbeat, and the last one written to the vault.
#[derive(Clone, Copy)]
struct Beat {
    seen: Timestamp,
    persisted: Option<Timestamp>,
}

/// The engine's job-detail state.
#[derive(Default)]
pub(crate) struct Detail {
    steps: Mutex<HashMap<JobId, CachedSteps>>,
    beats: Mutex<HashMap<String, Beat>>,
    pruned_at: Mutex<Option<Timestamp>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn heartbeat_key(instance: &str) -> String {
    format!("{HEARTBEAT_PREFIX}{instance}")
}

impl Engine {
    /// `POST /api/runner/heartbeat`: the runner of a live instance is alive. Nothing is written
    /// unless the callback token checks out (401, or 410 once the instance ended).
    pub async fn runner_heartbeat(&self, callback_token: &str) -> Result<(), CallbackError> {
        let instance = self.check_callback(callback_token)?;
        let now = self.app.now();
        let persist = {
            let mut beats = lock(&self.detail.beats);
            let beat = beats.entry(instance.clone()).or_insert(Beat { seen: now, persisted: None });
            beat.seen = beat.seen.max(now);
            let due = beat.persisted.is_none_or(|at| now.millis_since(at) >= PERSIST_EVERY);
            if due {
                beat.persisted = Some(now);
            }
            due
        };
        if persist {
            let write = VaultWrite {
                key: heartbeat_key(&instance),
                value: Some(now.millis().to_be_bytes().to_vec()),
            };
            let log = self.app.log().clone();
            let written = tokio::task::spawn_blocking(move || {
                log.append(Batch { vault: vec![write], ..Batch::default() })
            })
            .await;
            if !matches!(written, Ok(Ok(_))) {
                // Kept in memory all the same; the next heartbeat tries again.
                if let Some(beat) = lock(&self.detail.beats).get_mut(&instance) {
                    beat.persisted = None;
                }
                tracing::warn!(%instance, "could not write a runner heartbeat to the vault");
            }
        }
        Ok(())
    }

    /// When `instance`'s runner last sent a heartbeat (from memory, else from the vault after
    /// a restart); `None` when it never has.
    pub fn last_seen(&self, instance: &str) -> Option<Timestamp> {
        let seen = lock(&self.detail.beats).get(instance).map(|b| b.seen);
        // Another replica may have heard it since: its vault write reaches every replica.
        let persisted = self.app.log().vault_get(&heartbeat_key(instance)).and_then(|bytes| {
            Some(Timestamp::from_millis(i64::from_be_bytes(bytes.as_slice().try_into().ok()?)))
        });
        seen.max(persisted)
    }

    /// `job`'s steps: from the cache while fresh, else from GitHub with an installation token
    /// (the client's timeout bounds the wait). GitHub's errors become the reason, never an
    /// error of the query.
    pub async fn job_steps(&self, job: JobId) -> Steps {
        let now = self.app.now();
        let (installation, repo, github_job_id, finished) = {
            let state = self.app.state();
            let Some(row) = state.jobs.get(job) else {
                return Steps { steps: Vec::new(), unavailable: Some(format!("{job} is not retained")) };
            };
            (row.installation, state.repo_name(row).to_owned(), row.github_job_id, row.finished_at.is_some())
        };
        if let Some(cached) = lock(&self.detail.steps).get(&job)
            && (cached.settled
                || (cached.finished == finished && now.millis_since(cached.fetched_at) < STEPS_FRESH))
        {
            return cached.steps.clone();
        }
        let Some(installation) = installation else {
            return Steps {
                steps: Vec::new(),
                unavailable: Some("the job came without a GitHub App installation".into()),
            };
        };
        let steps = match self.github.job_steps(installation, &repo, github_job_id).await {
            Ok(steps) => Steps { steps, unavailable: None },
            Err(error) => {
                self.metrics.github_error(crate::metrics::GitHubCall::GetJob, error.status);
                tracing::debug!(%job, %error, "could not fetch the job's steps");
                Steps {
                    steps: Vec::new(),
                    unavailable: Some(format!("GitHub did not answer with the steps: {error}")),
                }
            }
        };
        let settled = finished && steps.unavailable.is_none();
        let mut cache = lock(&self.detail.steps);
        if cache.len() >= MAX_CACHED_STEPS && !cache.contains_key(&job) {
            let oldest = cache.iter().min_by_key(|(_, c)| (c.settled, c.fetched_at)).map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                cache.remove(&oldest);
            }
        }
        cache.insert(job, CachedSteps { fetched_at: now, settled, finished, steps: steps.clone() });
        steps
    }

    /// The reaper's part: at most once per [`PRUNE_EVERY`], drops the heartbeats of instances
    /// that ended.
    pub(crate) async fn prune_job_detail(&self) {
        let now = self.app.now();
        {
            let mut pruned_at = lock(&self.detail.pruned_at);
            if pruned_at.is_some_and(|at| now.millis_since(at) < PRUNE_EVERY) {
                return;
            }
            *pruned_at = Some(now);
        }
        // The vault first, then the state: an entry scanned belongs to a write the state holds.
        let persisted = self.app.log().vault_scan(HEARTBEAT_PREFIX);
        let gone: Vec<VaultWrite> = {
            let state = self.app.state();
            lock(&self.detail.beats).retain(|instance, _| state.instances.get(instance).is_some());
            persisted
                .into_iter()
                .filter(|(key, _)| {
                    key.strip_prefix(HEARTBEAT_PREFIX).is_some_and(|id| state.instances.get(id).is_none())
                })
                .map(|(key, _)| VaultWrite { key, value: None })
                .collect()
        };
        if !gone.is_empty() {
            let log = self.app.log().clone();
            let written =
                tokio::task::spawn_blocking(move || log.append(Batch { vault: gone, ..Batch::default() }))
                    .await;
            if !matches!(written, Ok(Ok(_))) {
                tracing::warn!("could not prune runner heartbeats");
            }
        }
    }
}
