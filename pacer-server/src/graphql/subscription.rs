//! Subscriptions, fed by the event log: every record after a seq exactly once and in order
//! (`events`), a job whenever it changes (`jobChanged`), the overview tiles whenever they change
//! (`overviewChanged`). Each subscriber has a bounded queue; one that cannot keep up is ended
//! with a `RESYNC` error (it resubscribes from its last seq) instead of silently missing
//! records. A subscriber whose session is revoked is ended with `UNAUTHENTICATED` within a
//! second.

use super::query::{Overview, overview};
use super::scalars::{BigInt, DateTime};
use super::summary::payload;
use super::types::JobView;
use super::{ErrorCode, engine, error, parse_id, principal};
use crate::auth::{Auth, Principal};
use crate::engine::Engine;
use async_graphql::{Context, ID, MergedSubscription, Object, Result, Subscription as SubscriptionMacro};
use futures::{Stream, StreamExt};
use pacer_domain::{EventName, JobId, Recorded, Subject};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{self, error::TrySendError};

/// Records a subscriber may have queued before it is told to resync.
pub const QUEUE: usize = 1_024;

/// Every subscription, over the `graphql-transport-ws` WebSocket at `/graphql`. Each needs a
/// session (cookie, or `authorization: Bearer <session>` in `connection_init`) unless auth is
/// disabled; a stream ends with an error whose `extensions.code` is RESYNC (the subscriber fell
/// behind), UNAUTHENTICATED (the session ended) or UNAVAILABLE (the log failed).
#[derive(MergedSubscription, Default)]
pub struct Subscription(LiveSubscription);

/// A record as the `events` subscription sends it. Fields are rendered only when selected: a
/// subscriber asking for `seq` and `at` does not pay for the payload's JSON.
pub(super) struct EventMessage(Recorded);

/// One record of the log, as `events` sends it; fields are rendered only when selected.
#[Object]
impl EventMessage {
    /// Position in the log (from 1, without gaps); resume with it as `afterSeq`.
    async fn seq(&self) -> BigInt {
        self.0.seq.into()
    }

    /// When it was recorded.
    async fn at(&self) -> DateTime {
        self.0.at.into()
    }

    /// Event name, `noun.past_participle` (e.g. `job.claimed`).
    async fn action(&self) -> &'static str {
        self.0.event.name().as_str()
    }

    /// Who caused it: `system`, `github`, an operator's email, or `runner:<instance-id>`.
    async fn actor(&self) -> String {
        self.0.actor.to_string()
    }

    /// The first thing it is about (`job/12`, `pool/7`, …); null when it is about none.
    async fn target(&self) -> Option<String> {
        self.0.event.subjects().first().map(ToString::to_string)
    }

    /// The event's full payload as JSON (never secrets).
    async fn payload(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(payload(&self.0.event))
    }
}

type Item = std::result::Result<Recorded, async_graphql::Error>;

/// Follows the log after `after` into a bounded queue, ending it with an error when the
/// subscriber falls behind, the session is revoked or the log fails.
fn feed(engine: Arc<Engine>, auth: Arc<Auth>, principal: Principal, after: u64) -> mpsc::Receiver<Item> {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(async move {
        let mut records = engine.app.log().subscribe(after);
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                next = records.next() => match next {
                    Ok(record) => match tx.try_send(Ok(record)) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_)) => {
                            let last = records.position().saturating_sub(QUEUE as u64 + 1);
                            let message = format!("subscriber fell behind; resubscribe with afterSeq {last} or later");
                            let _ = tx.send(Err(error(ErrorCode::Resync, message))).await;
                            return;
                        }
                        Err(TrySendError::Closed(_)) => return,
                    },
                    Err(e) => {
                        let _ = tx.send(Err(error(ErrorCode::Unavailable, e.to_string()))).await;
                        return;
                    }
                },
                _ = ticker.tick() => {
                    if tx.is_closed() {
                        return;
                    }
                    if !auth.still_valid(&engine, &principal) {
                        let _ = tx.send(Err(error(ErrorCode::Unauthenticated, "the session ended"))).await;
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// A stream over a receiver that ends after the first error.
fn until_error<T: Send + 'static>(rx: mpsc::Receiver<Result<T>>) -> impl Stream<Item = Result<T>> {
    futures::stream::unfold((rx, false), |(mut rx, done)| async move {
        if done {
            return None;
        }
        let item = rx.recv().await?;
        let done = item.is_err();
        Some((item, (rx, done)))
    })
}

fn context(ctx: &Context<'_>) -> Result<(Arc<Engine>, Arc<Auth>, Principal)> {
    Ok((engine(ctx)?.clone(), ctx.data::<Arc<Auth>>()?.clone(), principal(ctx)?.clone()))
}

/// Live data from the log: records, job changes, overview tiles.
#[derive(Default)]
pub(super) struct LiveSubscription;

#[SubscriptionMacro]
impl LiveSubscription {
    /// Every record after `afterSeq` (default: from now), in order, exactly once; with `actions`,
    /// only records of these event names (see `actions`). INVALID_INPUT for an unknown action or a
    /// negative `afterSeq`. A subscriber that lets 1,024 records queue up unread gets RESYNC and
    /// resubscribes from the last seq it handled.
    async fn events(
        &self,
        ctx: &Context<'_>,
        after_seq: Option<BigInt>,
        actions: Option<Vec<String>>,
    ) -> Result<impl Stream<Item = Result<EventMessage>> + use<>> {
        let (engine, auth, principal) = context(ctx)?;
        let actions: Option<Vec<EventName>> = match actions {
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| {
                        EventName::parse(n)
                            .ok_or_else(|| error(ErrorCode::InvalidInput, format!("unknown action {n}")))
                    })
                    .collect::<Result<_>>()?,
            ),
            None => None,
        };
        let after = match after_seq {
            Some(BigInt(seq)) => u64::try_from(seq)
                .map_err(|_| error(ErrorCode::InvalidInput, "afterSeq must not be negative"))?,
            None => engine.app.log().last_seq(),
        };
        let source = until_error(feed(engine, auth, principal, after));
        Ok(source.filter_map(move |item| {
            let wanted = match (&item, &actions) {
                (Ok(record), Some(actions)) => actions.contains(&record.event.name()),
                _ => true,
            };
            std::future::ready(wanted.then(|| item.map(EventMessage)))
        }))
    }

    /// A job each time a record about it is written: the one with `id`, or every retained job
    /// without it; from now on, no current value first. INVALID_INPUT for a non-numeric id.
    async fn job_changed(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<JobView>> + use<>> {
        let (engine, auth, principal) = context(ctx)?;
        let wanted = match id {
            Some(id) => Some(JobId(parse_id("id", &id)?)),
            None => None,
        };
        let after = engine.app.log().last_seq();
        let source = until_error(feed(engine.clone(), auth, principal, after));
        Ok(source.flat_map(move |item| {
            let views = match item {
                Ok(record) => {
                    let jobs: Vec<JobId> = record
                        .event
                        .subjects()
                        .into_iter()
                        .filter_map(|s| match s {
                            Subject::Job(j) if wanted.is_none_or(|w| w == j) => Some(j),
                            _ => None,
                        })
                        .collect();
                    if jobs.is_empty() {
                        Vec::new() // no state lock for records about no job
                    } else {
                        let state = engine.app.state();
                        let (now, slots) = (engine.app.now(), engine.launch_slots());
                        jobs.into_iter()
                            .filter_map(|job| state.jobs.get(job))
                            .map(|job| Ok(JobView::of(&state, job, now, slots)))
                            .collect()
                    }
                }
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(views)
        }))
    }

    /// The overview tiles at once, then whenever they change, checked every second; `windowDays`
    /// as in the `overview` query.
    async fn overview_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 30)] window_days: i32,
    ) -> Result<impl Stream<Item = Result<Overview>> + use<>> {
        let (engine, auth, principal) = context(ctx)?;
        let after = engine.app.log().last_seq();
        let mut source = feed(engine.clone(), auth, principal, after);
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let current = || overview(&engine.app.state(), engine.app.now(), window_days);
            let mut last = current();
            if tx.send(Ok(last.clone())).await.is_err() {
                return;
            }
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    item = source.recv() => match item {
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => {
                            let _ = tx.send(Err(e)).await;
                            return;
                        }
                        None => return,
                    },
                    _ = tick.tick() => {
                        let now = current();
                        if now != last {
                            if tx.send(Ok(now.clone())).await.is_err() {
                                return;
                            }
                            last = now;
                        }
                    }
                }
            }
        });
        Ok(until_error(rx))
    }
}
