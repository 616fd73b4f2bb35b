//! The dispatcher: woken at once by every commit that may free or create work (and
//! when the earliest retry falls due), with a periodic sweep as a safety net. Each pass returns
//! stale claims, plans claims with the domain's policy, records them, and launches every
//! current claim it does not have in hand yet (the new ones, and after a restart the ones
//! recorded before it), recording launched / retry / failed. A slow AWS call holds only its own
//! launch permit, never the queue. Jobs that can take an idle warm instance of their pool are
//! claimed whatever the free permits (the claim takes the instance, `warm.taken`; nothing is
//! launched).
//!
//! Batches: the claims of one pool, market and repo from one planning round launch in one call
//! for as many instances ([`launch_batches`], at most [`pacer_domain::LAUNCH_BATCH_MAX`]), so a
//! burst takes one permit and one EC2 request per batch, not per job. The instances are handed
//! to the batch's jobs in instance-id order; jobs EC2 started nothing for get the reason (and
//! are retried by its class). The batches are a pure function of the recorded claims, so a
//! restart finds the same batches with the same client tokens, and the launch finds the
//! instances the interrupted call started instead of starting more.
//!
//! Launch exactly once: right before the call the claims are checked again (a claim that
//! expired or was taken again while its launch waited for a permit launches nothing), the call
//! is dropped if this replica loses the effects lease while it waits (for rate-limit tokens),
//! and it is cut off [`LAUNCH_MARGIN`] before the claims would expire, so no claim expires while
//! its launch is in flight. A call cut off is retried with the same attempt, hence the same
//! client token: if EC2 did start instances, the retry is answered with them, and the domain
//! never records one instance twice.

use super::Engine;
use crate::app::AppError;
use crate::metrics::AwsCall;
use pacer_aws::{Launched, PRICING_TIMEOUT};
use pacer_domain::{
    CLAIM_TIMEOUT_MS, Command, ErrorClass, Event, JobId, JobStatus, LAUNCH_BATCH_MAX, LaunchError, LaunchOf,
    LaunchOutcome, LaunchSpec, LaunchedInstance, Market, PriceQuote, Recorded, SECOND_MS, Timestamp,
    launch_batches, next_retry, plan_claims, plan_warm_takes,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long before its claim expires a launch call is cut off: room for the price lookup and
/// for recording the outcome.
const LAUNCH_MARGIN: Duration = Duration::from_secs(PRICING_TIMEOUT.as_secs() + 10);

/// How often a launch in hand checks that this replica still holds the effects lease.
const LEASE_CHECK: Duration = Duration::from_millis(250);

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
    let plan = {
        let state = engine.app.state();
        // Jobs taking idle warm instances launch nothing: they go whatever the free slots.
        let mut plan: BTreeSet<JobId> = plan_warm_takes(&state, now).into_iter().collect();
        if free > 0 {
            plan.extend(plan_claims(&state, now, free * LAUNCH_BATCH_MAX));
        }
        plan.into_iter().collect::<Vec<_>>()
    };
    if !plan.is_empty() {
        match engine.system(Command::ClaimJobs(plan)).await {
            Ok(_) => engine.health("dispatcher", Ok(())).await,
            Err(error) => {
                tracing::error!(%error, "could not record claims");
                engine.health("dispatcher", Err(format!("could not record claims: {error}"))).await;
            }
        }
    }
    let batches = {
        let state = engine.app.state();
        let mut launching = engine.launching.lock().unwrap_or_else(PoisonError::into_inner);
        let waiting: Vec<JobId> = state
            .jobs
            .in_status(JobStatus::Claimed)
            .map(|j| j.id)
            .filter(|id| !launching.contains(id))
            .collect();
        let batches: Vec<Vec<Claim>> = launch_batches(&state, &waiting)
            .into_iter()
            .map(|batch| {
                batch
                    .into_iter()
                    .filter_map(|id| state.jobs.get(id))
                    .map(|job| Claim {
                        job: job.id,
                        attempt: job.attempts + 1,
                        market: job.market,
                        at: job.claimed_at.unwrap_or_default(),
                    })
                    .collect()
            })
            .collect();
        launching.extend(batches.iter().flatten().map(|c| c.job));
        batches
    };
    for batch in batches {
        spawn_launch(engine, batch);
    }
    super::warm::act(engine);
}

/// Launches `batch` (its jobs marked as in hand) on a permit of its own and records the
/// outcome of each of its jobs.
fn spawn_launch(engine: &Arc<Engine>, batch: Vec<Claim>) {
    let engine = engine.clone();
    tokio::spawn(async move {
        let release = |engine: &Engine| {
            let mut launching = engine.launching.lock().unwrap_or_else(PoisonError::into_inner);
            for claim in &batch {
                launching.remove(&claim.job);
            }
        };
        let Ok(permit) = engine.launches.clone().acquire_owned().await else { return release(&engine) };
        let (outcomes, token) = launch(&engine, &batch).await;
        // Claims left alone (superseded, or too close to expiring) wait for the next pass.
        let recorded_any = !outcomes.is_empty();
        // Recorded together: the commits share their fsyncs.
        let records = outcomes.into_iter().map(|(claim, outcome)| {
            let engine = engine.clone();
            async move {
                let (job, attempt) = (claim.job, claim.attempt);
                match engine.system(Command::RecordLaunch { job, attempt, outcome }).await {
                    Ok(records) => log_outcome(&records),
                    Err(AppError::Unavailable(reason)) => {
                        tracing::error!(job = job.0, %reason, "launch outcome not recorded; the launch is repeated with the same token");
                    }
                    Err(error) => tracing::error!(job = job.0, %error, "launch outcome not recorded"),
                }
            }
        });
        futures::future::join_all(records).await;
        if let Some(token) = token {
            engine.launch_tokens.lock().unwrap_or_else(PoisonError::into_inner).remove(&token);
        }
        drop(permit);
        release(&engine);
        if recorded_any {
            engine.app.dispatch_wake.notify_one();
        }
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

/// Launches the current claims of `batch` in one call: the outcome of each (none for a claim
/// no longer current or too close to expiring for a call to finish), and the call's client
/// token, entered in `Engine::launch_tokens`, when there was a call.
async fn launch(engine: &Engine, batch: &[Claim]) -> (Vec<(Claim, LaunchOutcome)>, Option<String>) {
    let mut outcomes = Vec::new();
    // A batch's claims were recorded together: they expire together.
    let Some(first) = batch.first() else { return (outcomes, None) };
    let left = first.at.plus_millis(CLAIM_TIMEOUT_MS).millis_since(engine.app.now())
        - LAUNCH_MARGIN.as_millis() as i64;
    let (spec, members) = {
        let state = engine.app.state();
        let mut members: Vec<Claim> = Vec::with_capacity(batch.len());
        let mut of = Vec::with_capacity(batch.len());
        let mut pool_and_repo = None;
        for &claim in batch {
            let Some(record) = state.jobs.get(claim.job) else {
                let gone = LaunchError::new("PacerJobGone", "the job is no longer known");
                outcomes.push((claim, failed(engine, gone, claim.attempt)));
                continue;
            };
            let current = record.status == JobStatus::Claimed
                && record.attempts + 1 == claim.attempt
                && record.claimed_at == Some(claim.at);
            if !current || left <= 0 {
                tracing::info!(
                    job = claim.job.0,
                    attempt = claim.attempt,
                    current,
                    "claim not launched: superseded or about to expire"
                );
                continue;
            }
            let Some(pool) = state.config.pool(record.pool) else {
                let gone = LaunchError::new("PacerPoolGone", "the job's pool was deleted");
                outcomes.push((claim, failed(engine, gone, claim.attempt)));
                continue;
            };
            if pool.template.is_none() {
                let missing = LaunchError::new(
                    "PacerNoLaunchTemplate",
                    "the pool has no launch template; save the pool again",
                );
                outcomes.push((claim, failed(engine, missing, claim.attempt)));
                continue;
            }
            pool_and_repo = Some((pool, state.repo_name(record).to_owned()));
            of.push(LaunchOf { job_id: claim.job.0, generation: record.generation, attempt: claim.attempt });
            members.push(claim);
        }
        let Some((pool, repo)) = pool_and_repo else { return (outcomes, None) };
        let market = members[0].market;
        (LaunchSpec::batch(&state.config, pool, &repo, &of, market), members)
    };
    if !engine.may_act() {
        // A replica that lost the effects lease (or was paused past it) launches nothing: the
        // claims run out and the holder claims the jobs again.
        tracing::info!(
            job = spec.job_id,
            count = spec.count,
            "claims not launched: this replica no longer holds the effects lease"
        );
        return (outcomes, None);
    }
    // Its instances are not orphans until their outcomes are recorded (`spawn_launch`).
    engine.launch_tokens.lock().unwrap_or_else(PoisonError::into_inner).insert(spec.client_token.clone());
    let started = Instant::now();
    let cut_off = || {
        let message = "no answer before the claim's deadline; retried with the same client token";
        Launched::failed(LaunchError {
            class: ErrorClass::Throttling,
            code: "PacerLaunchDeadline".into(),
            message: message.into(),
        })
    };
    let call = tokio::time::timeout(Duration::from_millis(left as u64), engine.compute.launch_batch(&spec));
    // The call may wait for rate-limit tokens: a replica that loses the lease meanwhile drops
    // it (the next holder claims the jobs again, under the same client token).
    let lease_lost = async {
        while engine.may_act() {
            tokio::time::sleep(LEASE_CHECK).await;
        }
    };
    let mut launched = tokio::select! {
        answer = call => answer.unwrap_or_else(|_| cut_off()),
        () = lease_lost => {
            tracing::info!(job = spec.job_id, count = spec.count, "launch dropped: this replica lost the effects lease while it waited");
            return (outcomes, Some(spec.client_token));
        }
    };
    engine.metrics.launch_latency(started.elapsed());
    if let Some(error) = &launched.shortfall {
        engine.metrics.aws_error(AwsCall::Launch, &error.code);
    }
    if spec.count > 1 {
        tracing::info!(
            first_job = spec.job_id,
            count = spec.count,
            launched = launched.instances.len(),
            "batch launched"
        );
    }
    launched.instances.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
    let mut instances = priced(engine, launched.instances).await.into_iter();
    let shortfall = launched
        .shortfall
        .unwrap_or_else(|| LaunchError::new("EmptyResponse", "EC2 started fewer instances than asked"));
    for claim in members {
        let outcome = match instances.next() {
            Some((instance, price)) => LaunchOutcome::Launched { price, instance },
            None => failed(engine, shortfall.clone(), claim.attempt),
        };
        outcomes.push((claim, outcome));
    }
    (outcomes, Some(spec.client_token))
}

/// `instances`, in order, each with its price per hour (one lookup per type, zone and market;
/// `None` when no quote came in time).
pub(super) async fn priced(
    engine: &Engine,
    instances: Vec<LaunchedInstance>,
) -> Vec<(LaunchedInstance, Option<PriceQuote>)> {
    let mut prices: HashMap<(String, String, Market), Option<PriceQuote>> = HashMap::new();
    let mut priced = Vec::with_capacity(instances.len());
    for instance in instances {
        let key = (instance.instance_type.clone(), instance.availability_zone.clone(), instance.market);
        if !prices.contains_key(&key) {
            let quote = engine.compute.price(&key.0, &key.1, key.2);
            prices.insert(key.clone(), tokio::time::timeout(PRICING_TIMEOUT, quote).await.ok().flatten());
        }
        priced.push((instance, prices.get(&key).cloned().flatten()));
    }
    priced
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
