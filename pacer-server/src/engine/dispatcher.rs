//! The dispatcher: woken at once by every commit that may free or create work (and
//! when the earliest retry falls due), with a periodic sweep as a safety net. Each pass returns
//! stale claims, plans claims with the domain's policy, records them, and launches each claimed
//! job concurrently (bounded), recording launched / retry / failed. A slow AWS call holds only
//! its own launch permit, never the queue.
//!
//! Launch exactly once: right before the call the claim is checked again (a claim that expired
//! or was taken again while its launch waited for a permit launches nothing), and the call is
//! cut off [`LAUNCH_MARGIN`] before the claim would expire, so no claim expires while its launch
//! is in flight. A call cut off is retried with the same attempt, hence the same client token:
//! if EC2 did start an instance, the retry is answered with it, and the domain never records
//! one instance twice.

use super::Engine;
use crate::app::AppError;
use crate::metrics::AwsCall;
use pacer_aws::PRICING_TIMEOUT;
use pacer_domain::{
    CLAIM_TIMEOUT_MS, Command, ErrorClass, Event, JobId, JobStatus, LaunchError, LaunchOf, LaunchOutcome,
    LaunchSpec, Market, Recorded, SECOND_MS, Timestamp, next_retry, plan_claims,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long before its claim expires a launch call is cut off: room for the price lookup and
/// for recording the outcome.
const LAUNCH_MARGIN: Duration = Duration::from_secs(PRICING_TIMEOUT.as_secs() + 10);

/// One recorded claim: its job, attempt and market, and when it was recorded (which tells it
/// from a later claim of the same attempt after this one expired).
#[derive(Clone, Copy, Debug)]
struct Claim {
    job: JobId,
    attempt: u32,
    market: Market,
    at: Timestamp,
}

pub(super) async fn run(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    let wake = engine.app.dispatch_wake.clone();
    loop {
        pass(&engine).await;
        let now = engine.app.now();
        let sweep = engine.settings.sweep;
        let until_retry = {
            let state = engine.app.state();
            next_retry(&state, now).map(|at| Duration::from_millis(at.millis_since(now).max(1) as u64))
        };
        let sleep = until_retry.map_or(sweep, |d| d.min(sweep));
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

async fn pass(engine: &Arc<Engine>) {
    let now = engine.app.now();
    let has_stale = !pacer_domain::stale_claims(&engine.app.state(), now).is_empty();
    if has_stale && let Err(error) = engine.system(Command::ExpireClaims).await {
        tracing::warn!(%error, "could not return stale claims");
    }
    let free = engine.launches.available_permits();
    if free == 0 {
        return;
    }
    let plan = plan_claims(&engine.app.state(), now, free);
    if plan.is_empty() {
        return;
    }
    match engine.system(Command::ClaimJobs(plan)).await {
        Ok(records) => {
            for record in records {
                if let Event::JobClaimed(claim) = record.event {
                    let claim =
                        Claim { job: claim.job, attempt: claim.attempt, market: claim.market, at: record.at };
                    spawn_launch(engine, claim);
                }
            }
            engine.health("dispatcher", Ok(())).await;
        }
        Err(error) => {
            tracing::error!(%error, "could not record claims");
            engine.health("dispatcher", Err(format!("could not record claims: {error}"))).await;
        }
    }
}

fn spawn_launch(engine: &Arc<Engine>, claim: Claim) {
    let engine = engine.clone();
    tokio::spawn(async move {
        let Ok(permit) = engine.launches.clone().acquire_owned().await else { return };
        let Some(outcome) = launch(&engine, claim).await else {
            drop(permit);
            return engine.app.dispatch_wake.notify_one();
        };
        let (job, attempt) = (claim.job, claim.attempt);
        let recorded = engine.system(Command::RecordLaunch { job, attempt, outcome }).await;
        drop(permit);
        match recorded {
            Ok(records) => log_outcome(&records),
            Err(AppError::Unavailable(reason)) => {
                tracing::error!(job = job.0, %reason, "launch outcome not recorded; the claim returns to the queue after restart");
            }
            Err(error) => tracing::error!(job = job.0, %error, "launch outcome not recorded"),
        }
        engine.app.dispatch_wake.notify_one();
    });
}

fn log_outcome(records: &[Recorded]) {
    for record in records {
        match &record.event {
            Event::JobSpawnLaunched(e) => {
                tracing::info!(job = e.job.0, instance = %e.instance.instance_id, instance_type = %e.instance.instance_type, "launched")
            }
            Event::JobSpawnRetry(e) => {
                tracing::info!(job = e.job.0, code = %e.error.code, retry_at = %e.next_retry_at, "launch retry scheduled")
            }
            Event::JobSpawnFailed(e) => tracing::warn!(job = e.job.0, error = %e.error, "launch failed"),
            _ => {}
        }
    }
}

/// Launches `claim`'s job, or nothing when the claim is no longer current or too close to
/// expiring for a call to finish.
async fn launch(engine: &Engine, claim: Claim) -> Option<LaunchOutcome> {
    let Claim { job, attempt, market, at } = claim;
    let (spec, left) = {
        let state = engine.app.state();
        let Some(record) = state.jobs.get(job) else {
            return Some(failed(
                engine,
                LaunchError::new("PacerJobGone", "the job is no longer known"),
                attempt,
            ));
        };
        let current = record.status == JobStatus::Claimed
            && record.attempts + 1 == attempt
            && record.claimed_at == Some(at);
        let left = at.plus_millis(CLAIM_TIMEOUT_MS).millis_since(engine.app.now())
            - LAUNCH_MARGIN.as_millis() as i64;
        if !current || left <= 0 {
            tracing::info!(
                job = job.0,
                attempt,
                current,
                "claim not launched: superseded or about to expire"
            );
            return None;
        }
        let Some(pool) = state.config.pool(record.pool) else {
            return Some(failed(
                engine,
                LaunchError::new("PacerPoolGone", "the job's pool was deleted"),
                attempt,
            ));
        };
        if pool.template.is_none() {
            return Some(failed(
                engine,
                LaunchError::new(
                    "PacerNoLaunchTemplate",
                    "the pool has no launch template; save the pool again",
                ),
                attempt,
            ));
        }
        let of = LaunchOf { job_id: job.0, generation: record.generation, attempt };
        (LaunchSpec::new(&state.config, pool, state.repo_name(record), of, market), left)
    };
    if !engine.may_act() {
        // A replica that lost the effects lease (or was paused past it) launches nothing: the
        // claim runs out and the holder claims the job again.
        tracing::info!(
            job = job.0,
            attempt,
            "claim not launched: this replica no longer holds the effects lease"
        );
        return None;
    }
    let started = Instant::now();
    let cut_off = || {
        let message = "no answer before the claim's deadline; retried with the same client token";
        Err(LaunchError {
            class: ErrorClass::Throttling,
            code: "PacerLaunchDeadline".into(),
            message: message.into(),
        })
    };
    let result = tokio::time::timeout(Duration::from_millis(left as u64), engine.compute.launch(&spec))
        .await
        .unwrap_or_else(|_| cut_off());
    engine.metrics.launch_latency(started.elapsed());
    Some(match result {
        Ok(instance) => {
            let price = tokio::time::timeout(
                PRICING_TIMEOUT,
                engine.compute.price(&instance.instance_type, &instance.availability_zone, instance.market),
            )
            .await
            .ok()
            .flatten();
            LaunchOutcome::Launched { instance, price }
        }
        Err(error) => {
            engine.metrics.aws_error(AwsCall::Launch, &error.code);
            failed(engine, error, attempt)
        }
    })
}

fn failed(engine: &Engine, error: LaunchError, attempt: u32) -> LaunchOutcome {
    let now = engine.app.now();
    LaunchOutcome::Failed {
        throttle_retry_at: throttle_retry_at(now, &error, attempt),
        error,
        policy: engine.settings.retry_policy.clone(),
    }
}

/// Throttled calls retry after 1–8 s with jitter; the attempt is not burned.
fn throttle_retry_at(now: Timestamp, error: &LaunchError, attempt: u32) -> Timestamp {
    if error.class != ErrorClass::Throttling {
        return now;
    }
    let base = (SECOND_MS << attempt.min(3)).min(8 * SECOND_MS);
    let jitter = (now.millis().unsigned_abs() % 997) as i64 * base / 997;
    now.plus_millis(base / 2 + jitter / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_waits_a_jittered_while() {
        let error = LaunchError::new("RequestLimitExceeded", "slow down");
        for ms in [0, 1, 123_456, 999_999] {
            let now = Timestamp(ms);
            let at = throttle_retry_at(now, &error, 1);
            let waited = at.millis() - ms;
            assert!((SECOND_MS..=2 * SECOND_MS).contains(&waited), "{waited}");
        }
        let capacity = LaunchError::new("InsufficientInstanceCapacity", "none");
        assert_eq!(throttle_retry_at(Timestamp(5), &capacity, 1), Timestamp(5));
    }
}
