//! Dispatching rules: claiming queued jobs for launch (within caps, see `schedule`), returning
//! stale claims, and recording what EC2 answered: an instance, a retry (throttled, or out of
//! capacity with backoff, or at once on-demand where the pool falls back), or the job's failure.
//! A spot pool that fell back launches its jobs on-demand for [`SPOT_COOLDOWN_MS`] after, then
//! tries spot again.

use super::events::*;
use super::table::{Job, JobStatus};
use crate::event::Event;
use crate::launch::{ErrorClass, LaunchError, LaunchedInstance, Market, RetryPolicy};
use crate::money::{Micros, PriceQuote};
use crate::schedule::{Pending, claimable, stale_claims, waiting_job_for};
use crate::state::State;
use crate::time::Timestamp;
use crate::warm::{take, warm_instance_for};
use std::collections::BTreeSet;

/// How long a spot pool launches on-demand after a spot launch of it fell back for capacity.
pub const SPOT_COOLDOWN_MS: i64 = 10 * crate::time::MINUTE_MS;

/// How a launch call ended, as the host reports it in [`crate::Command::RecordLaunch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaunchOutcome {
    /// EC2 started an instance.
    Launched {
        /// What EC2 started: id, type, zone, subnet, market.
        instance: LaunchedInstance,
        /// Its price per hour; `None` when no quote could be had (the job is unpriced).
        price: Option<PriceQuote>,
    },
    /// EC2 refused; `throttle_retry_at` is when to retry a throttled call (the host adds jitter).
    Failed {
        /// AWS's error code and message, with its class deciding what happens next.
        error: LaunchError,
        /// For throttling: when to retry, jitter included (ignored for other classes).
        throttle_retry_at: Timestamp,
        /// How capacity failures are retried (backoff and attempt limit).
        policy: RetryPolicy,
    },
}

/// For each of `ids` still claimable, in order: `warm.taken` when an idle warm instance of its
/// pool is free, else `job.claimed` (to launch one); the others are skipped.
pub(crate) fn claim(state: &State, ids: &[JobId], now: Timestamp) -> Vec<Event> {
    let mut pending = Pending::for_state(state);
    let mut events = Vec::new();
    let mut claimed = BTreeSet::new();
    let mut taken = Vec::new();
    for id in ids {
        let Some(job) = state.jobs.get(*id).filter(|j| j.status == JobStatus::Queued) else { continue };
        if claimable(state, job, now, &pending).is_err() || !claimed.insert(*id) {
            continue;
        }
        pending.add(job);
        if let Some(instance) = warm_instance_for(state, job.pool, &taken) {
            taken.push(instance.id.to_string());
            events.push(take(job.id, instance, now));
            continue;
        }
        let cooling = state.spot_cooldowns.get(&job.pool).is_some_and(|until| now < *until);
        let market = if job.market == Market::Spot && cooling { Market::OnDemand } else { job.market };
        events.push(Event::JobClaimed(JobClaimed { job: job.id, attempt: job.attempts + 1, market }));
    }
    events
}

/// `job.claim_expired` for every claim whose launch outcome never arrived in time.
pub(crate) fn expire_claims(state: &State, now: Timestamp) -> Vec<Event> {
    stale_claims(state, now)
        .into_iter()
        .filter_map(|id| state.jobs.get(id))
        .map(|job| Event::JobClaimExpired(JobClaimExpired { job: job.id, attempt: job.attempts + 1 }))
        .collect()
}

pub(crate) fn record_launch(
    state: &State,
    id: JobId,
    attempt: u32,
    outcome: LaunchOutcome,
    now: Timestamp,
) -> Vec<Event> {
    let Some(job) = state.jobs.get(id) else { return vec![] };
    let current = job.status == JobStatus::Claimed && job.attempts + 1 == attempt;
    match outcome {
        // The same instance reported twice (a retried call answered with it again by its client
        // token, or a late duplicate): it is recorded already and stays with its job.
        LaunchOutcome::Launched { instance, .. } if state.instances.get(&instance.instance_id).is_some() => {
            vec![]
        }
        LaunchOutcome::Launched { instance, price } => {
            // An instance exists whatever happened to the claim: record it, and when the job no
            // longer wants it, hand it to a waiting job (or leave it to the reaper as surplus).
            let mut events = vec![Event::JobSpawnLaunched(JobSpawnLaunched {
                job: id,
                attempt,
                instance: instance.clone(),
                price,
            })];
            if !current {
                // Its own job takes it when it is back in the queue (its claim expired while the
                // launch was priced and recorded), else another job waiting for the pool.
                let repo = state.audience_repo(job.project, job.repo);
                let own = (job.status == JobStatus::Queued).then_some(id);
                events.extend(own.or_else(|| waiting_job_for(state, job.pool, repo, &[id])).map(|taker| {
                    Event::JobInstanceReassigned(JobInstanceReassigned {
                        job: taker,
                        instance: Some(instance.instance_id.clone()),
                    })
                }));
            }
            events
        }
        LaunchOutcome::Failed { .. } if !current => vec![],
        LaunchOutcome::Failed { error, throttle_retry_at, policy } => match error.class {
            ErrorClass::Throttling => vec![Event::JobSpawnRetry(JobSpawnRetry {
                job: id,
                attempt,
                error,
                next_retry_at: throttle_retry_at,
                next_market: job.market,
                burns_attempt: false,
            })],
            ErrorClass::Capacity if attempt < policy.max_attempts => {
                let fallback = job.market == Market::Spot
                    && state.config.pool(job.pool).is_some_and(|p| p.spec.on_demand_fallback);
                // Falling back to on-demand, the next attempt goes at once: the backoff is
                // for waiting on the same market's capacity.
                vec![Event::JobSpawnRetry(JobSpawnRetry {
                    job: id,
                    attempt,
                    error,
                    next_retry_at: if fallback { now } else { now.plus_millis(policy.delay_ms(attempt)) },
                    next_market: if fallback { Market::OnDemand } else { job.market },
                    burns_attempt: true,
                })]
            }
            class => {
                let message = if class == ErrorClass::Capacity {
                    format!("no capacity after {attempt} attempts: {error}")
                } else {
                    error.to_string()
                };
                vec![
                    Event::JobSpawnFailed(JobSpawnFailed { job: id, attempt, error }),
                    Event::JobFailed(JobFailed {
                        end: job_end(job, now, None, None),
                        stage: FailureStage::Spawn,
                        message,
                    }),
                ]
            }
        },
    }
}

/// The end of `job` at `now` with no webhook involved.
pub(crate) fn job_end(
    job: &Job,
    now: Timestamp,
    conclusion: Option<String>,
    delivery_id: Option<String>,
) -> JobEnd {
    JobEnd {
        job: job.id,
        conclusion,
        delivery_id,
        runner_name: job.runner.as_deref().map(str::to_owned),
        instance: job.instance.as_deref().map(str::to_owned),
        cost: job_end_cost(job.price, job.launched_at, now),
        runner_ms: job.started_at.map_or(0, |s| now.millis_since(s)),
    }
}

/// What an instance cost from its launch to `now` at its quoted price; `None` when unpriced
/// or never launched.
pub(crate) fn job_end_cost(
    price: Option<PriceQuote>,
    launched_at: Option<Timestamp>,
    now: Timestamp,
) -> Option<Micros> {
    let (quote, from) = (price?, launched_at?);
    Some(Micros::for_duration(quote.per_hour, now.millis_since(from)))
}
