//! Subscriptions, fed by the event log: every record after a seq exactly once and in order
//! (`events`), a job whenever it changes (`jobChanged`), the overview tiles whenever they change
//! (`overviewChanged`). Each subscriber has a bounded queue; one that cannot keep up is ended
//! with a `RESYNC` error (it resubscribes from its last seq) instead of silently missing
//! records. A subscriber whose session is revoked is ended with `UNAUTHENTICATED` within a
//! second. One session holds at most [`MAX_SUBSCRIPTIONS_PER_SESSION`] live subscriptions, and
//! each subscription's task ends within a second of its client leaving.

use super::query::{Overview, overview};
use super::scalars::{BigInt, DateTime};
use super::summary::payload;
use super::types::JobView;
use super::{ErrorCode, bounded, engine, error, parse_id, principal};
use crate::auth::{Auth, Principal};
use crate::engine::Engine;
use async_graphql::{Context, ID, MergedSubscription, Object, Result, Subscription as SubscriptionMacro};
use futures::{Stream, StreamExt};
use pacer_domain::{EventName, JobId, ProjectId, Recorded, Subject};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::{self, error::TrySendError};

/// Records a subscriber may have queued before it is told to resync.
pub const QUEUE: usize = 1_024;

/// Live subscriptions one session may hold: the console opens at most two per tab, so this
/// serves a dozen tabs and an integrator's tools. With auth disabled, every client shares it.
pub(crate) const MAX_SUBSCRIPTIONS_PER_SESSION: usize = 32;

/// The live subscriptions per session, and their total as the `pacer_graphql_subscriptions`
/// gauge.
pub(crate) struct Subscribers {
    live: Mutex<HashMap<String, usize>>,
    gauge: metrics::Gauge,
}

impl Subscribers {
    /// No subscriptions yet; `gauge` follows their total.
    pub(crate) fn new(gauge: metrics::Gauge) -> Self {
        Self { live: Mutex::new(HashMap::new()), gauge }
    }

    /// A slot for one more subscription of `principal`, or TRY_LATER at the cap.
    fn take(self: &Arc<Self>, principal: &Principal) -> Result<Slot> {
        let key = match principal {
            Principal::User { session, .. } => session.clone(),
            _ => String::new(),
        };
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let held = live.entry(key.clone()).or_default();
        if *held >= MAX_SUBSCRIPTIONS_PER_SESSION {
            let message = format!(
                "at most {MAX_SUBSCRIPTIONS_PER_SESSION} live subscriptions per session; end one first"
            );
            return Err(error(ErrorCode::TryLater, message));
        }
        *held += 1;
        self.gauge.increment(1);
        Ok(Slot { subscribers: self.clone(), key })
    }
}

/// One live subscription's place under its session's cap, given back when dropped (with the
/// task that feeds it).
struct Slot {
    subscribers: Arc<Subscribers>,
    key: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut live = self.subscribers.live.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = live.get_mut(&self.key) {
            *held -= 1;
            if *held == 0 {
                live.remove(&self.key);
            }
        }
        self.subscribers.gauge.decrement(1);
    }
}

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
/// subscriber falls behind, the session is revoked or the log fails. The task holds `slot` and
/// ends within a second of the receiver being dropped.
fn feed(live: Live, after: u64) -> mpsc::Receiver<Item> {
    let Live { engine, auth, principal, slot } = live;
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(async move {
        let _slot = slot;
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

/// What a receiver gets, as a stream.
fn received<T>(rx: mpsc::Receiver<T>) -> impl Stream<Item = T> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

/// `stream` up to and including its first error.
fn until_error<T>(stream: impl Stream<Item = Result<T>>) -> impl Stream<Item = Result<T>> {
    stream.scan(false, |ended, item| {
        let next = (!*ended).then(|| {
            *ended = item.is_err();
            item
        });
        std::future::ready(next)
    })
}

/// What a new subscription runs with: its slot under the session's cap, taken first.
struct Live {
    engine: Arc<Engine>,
    auth: Arc<Auth>,
    principal: Principal,
    slot: Slot,
}

fn live(ctx: &Context<'_>) -> Result<Live> {
    let principal = principal(ctx)?.clone();
    let slot = ctx.data::<Arc<Subscribers>>()?.take(&principal)?;
    Ok(Live { engine: engine(ctx)?.clone(), auth: ctx.data::<Arc<Auth>>()?.clone(), principal, slot })
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
        let actions: Option<Vec<EventName>> = match actions {
            Some(names) => Some(
                bounded("actions", names, EventName::ALL.len())?
                    .iter()
                    .map(|n| {
                        EventName::parse(n)
                            .ok_or_else(|| error(ErrorCode::InvalidInput, format!("unknown action {n}")))
                    })
                    .collect::<Result<_>>()?,
            ),
            None => None,
        };
        let live = live(ctx)?;
        let after = match after_seq {
            Some(BigInt(seq)) => u64::try_from(seq)
                .map_err(|_| error(ErrorCode::InvalidInput, "afterSeq must not be negative"))?,
            None => live.engine.app.log().last_seq(),
        };
        let source = until_error(received(feed(live, after)));
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
        let wanted = match id {
            Some(id) => Some(JobId(parse_id("id", &id)?)),
            None => None,
        };
        let live = live(ctx)?;
        let engine = live.engine.clone();
        let after = engine.app.log().last_seq();
        let source = until_error(received(feed(live, after)));
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

    /// The overview tiles at once, then whenever they change, checked every second;
    /// `windowDays` and `projectId` as in the `overview` query.
    async fn overview_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 30)] window_days: i32,
        project_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<Overview>> + use<>> {
        let project = project_id.map(|id| parse_id("projectId", &id).map(ProjectId)).transpose()?;
        let live = live(ctx)?;
        let engine = live.engine.clone();
        let records = feed(live, engine.app.log().last_seq());
        let current = move || overview(&engine.app.state(), engine.app.now(), window_days, project);
        let tick = tokio::time::interval(Duration::from_secs(1));
        // No task of its own: the stream is the loop, so it ends with its client.
        let changes = futures::stream::unfold(
            (records, tick, None::<Overview>),
            move |(mut records, mut tick, last)| {
                let current = current.clone();
                async move {
                    let Some(last) = last else {
                        let first = current();
                        return Some((Ok(first.clone()), (records, tick, Some(first))));
                    };
                    loop {
                        tokio::select! {
                            item = records.recv() => match item? {
                                Ok(_) => continue,
                                Err(e) => return Some((Err(e), (records, tick, Some(last)))),
                            },
                            _ = tick.tick() => {
                                let now = current();
                                if now != last {
                                    return Some((Ok(now.clone()), (records, tick, Some(now))));
                                }
                            }
                        }
                    }
                }
            },
        );
        Ok(until_error(changes))
    }
}
