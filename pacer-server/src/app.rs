//! The application core: the folded [`State`] behind a lock, the event log, and the single
//! decider thread through which every command passes. A command is decided against the state,
//! its events are folded and appended together with the other commands queued at that moment
//! (one durable write), and only then does its caller get an answer. Nothing leaves the
//! process (an HTTP answer, a subscription message, an AWS or GitHub call) before the events
//! that justify it are on disk.

use crate::clock::Clock;
use pacer_domain::{Actor, Command, Event, Recorded, Rejection, State, Timestamp, decide};
use pacer_store::{Batch, EventLog, NewRecord, StoreError};
use std::collections::HashSet;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::{Notify, oneshot};

/// Commands decided per durable write at most.
const MAX_GROUP: usize = 4_096;
/// Commands waiting for the decider before callers are told to come back later.
const QUEUE_DEPTH: usize = 65_536;

/// Who asks, under which request id, and which idempotency keys come with the command.
#[derive(Clone, Debug)]
pub struct Meta {
    /// The actor recorded on every event.
    pub actor: Actor,
    /// The request id recorded on every event.
    pub request_id: Option<String>,
    /// Idempotency keys written with the events (a command producing no events writes none).
    pub keys: Vec<String>,
}

impl Meta {
    /// A command by `actor` without request id or keys.
    pub fn by(actor: Actor) -> Self {
        Self { actor, request_id: None, keys: Vec::new() }
    }
}

/// Why a command did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// `decide` refused it; nothing changed.
    #[error("{0}")]
    Rejected(Rejection),
    /// One of its idempotency keys is already recorded.
    #[error("already recorded: {0}")]
    Duplicate(String),
    /// Storage refuses writes (after a failed write) or is shut down.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Too many commands are waiting.
    #[error("busy; retry")]
    Busy,
}

struct Request {
    command: Command,
    meta: Meta,
    reply: oneshot::Sender<Result<Vec<Recorded>, AppError>>,
}

/// What the decider does after each durable write (wake the dispatcher, count metrics).
pub(crate) type AfterCommit = Box<dyn Fn(&[Recorded], &State) + Send + Sync>;

/// The shared core of a running Pacer.
pub struct App {
    state: Arc<RwLock<State>>,
    log: Arc<dyn EventLog>,
    clock: Arc<dyn Clock>,
    queue: Mutex<Option<SyncSender<Request>>>,
    decider: Mutex<Option<std::thread::JoinHandle<()>>>,
    failure: Arc<Mutex<Option<String>>>,
    /// Woken after every write that may let the dispatcher claim something.
    pub dispatch_wake: Arc<Notify>,
    /// Woken after every write that ends a job or a runner's work, so the reaper tears the
    /// instance down at once ([`pacer_domain::Event::ends_instance_work`]).
    pub work_done: Arc<Notify>,
}

impl App {
    /// Starts the decider over `state` (already folded from `log`).
    pub fn start(
        state: State,
        log: Arc<dyn EventLog>,
        clock: Arc<dyn Clock>,
        after_commit: AfterCommit,
    ) -> Arc<App> {
        let state = Arc::new(RwLock::new(state));
        let (tx, rx) = sync_channel(QUEUE_DEPTH);
        let failure = Arc::new(Mutex::new(None));
        let dispatch_wake = Arc::new(Notify::new());
        let work_done = Arc::new(Notify::new());
        let decider = {
            let (state, log, clock, failure) = (state.clone(), log.clone(), clock.clone(), failure.clone());
            let wakes = Wakes { dispatch: dispatch_wake.clone(), work_done: work_done.clone() };
            std::thread::Builder::new()
                .name("pacer-decider".into())
                .spawn(move || decide_loop(rx, &state, &*log, &*clock, &failure, &wakes, &after_commit))
                .ok()
        };
        Arc::new(App {
            state,
            log,
            clock,
            queue: Mutex::new(Some(tx)),
            decider: Mutex::new(decider),
            failure,
            dispatch_wake,
            work_done,
        })
    }

    /// Decides, folds and durably records `command`; the records it produced.
    pub async fn execute(&self, command: Command, meta: Meta) -> Result<Vec<Recorded>, AppError> {
        if let Some(reason) = self.failure() {
            return Err(AppError::Unavailable(reason));
        }
        let (reply, answer) = oneshot::channel();
        {
            let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            let queue = queue.as_ref().ok_or_else(|| AppError::Unavailable("shutting down".into()))?;
            match queue.try_send(Request { command, meta, reply }) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => return Err(AppError::Busy),
                Err(TrySendError::Disconnected(_)) => {
                    return Err(AppError::Unavailable("shutting down".into()));
                }
            }
        }
        answer.await.map_err(|_| AppError::Unavailable("the decider stopped".into()))?
    }

    /// The folded state, for reading.
    pub fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The event log.
    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// Now, by the app's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Why the app refuses writes, if it does.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner()).clone().or_else(|| self.log.poisoned())
    }

    /// Stops taking commands, lets the decider finish what is queued, and joins it.
    pub fn stop(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(decider) = self.decider.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = decider.join();
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Idempotency keys implied by the events themselves: one per queued GitHub job.
fn implied_keys(events: &[Event]) -> impl Iterator<Item = String> + '_ {
    events.iter().filter_map(|e| match e {
        Event::JobQueued(q) => Some(format!("ghjob:{}", q.github_job_id)),
        _ => None,
    })
}

fn write_state(state: &RwLock<State>) -> RwLockWriteGuard<'_, State> {
    state.write().unwrap_or_else(|p| p.into_inner())
}

struct Decided {
    reply: oneshot::Sender<Result<Vec<Recorded>, AppError>>,
    /// How many of the batch's records are this command's (they follow the previous command's).
    outcome: Result<usize, AppError>,
}

/// Who the decider wakes after a durable write.
struct Wakes {
    dispatch: Arc<Notify>,
    work_done: Arc<Notify>,
}

fn decide_loop(
    queue: Receiver<Request>,
    state: &RwLock<State>,
    log: &dyn EventLog,
    clock: &dyn Clock,
    failure: &Mutex<Option<String>>,
    wakes: &Wakes,
    after_commit: &AfterCommit,
) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        if let Some(reason) = failure.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            for request in group {
                let _ = request.reply.send(Err(AppError::Unavailable(reason.clone())));
            }
            continue;
        }
        let mut records: Vec<Recorded> = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        let mut seen_keys: HashSet<String> = HashSet::new();
        let mut decided: Vec<Decided> = Vec::with_capacity(group.len());
        let first_seq;
        {
            let mut state = write_state(state);
            first_seq = state.last_seq + 1;
            for Request { command, meta, reply } in group {
                let now = clock.now().max(state.last_at);
                let outcome = match decide(&state, command, now) {
                    Err(rejection) => Err(AppError::Rejected(rejection)),
                    Ok(events) if events.is_empty() => Ok(0),
                    Ok(events) => {
                        let mut command_keys: Vec<String> = meta.keys;
                        command_keys.extend(implied_keys(&events));
                        match command_keys
                            .iter()
                            .find(|k| seen_keys.contains(*k) || log.has_key(k).unwrap_or(false))
                        {
                            Some(key) => Err(AppError::Duplicate(key.clone())),
                            None => {
                                let start = records.len();
                                for event in events {
                                    let record = Recorded {
                                        seq: state.last_seq + 1,
                                        at: now,
                                        actor: meta.actor.clone(),
                                        request_id: meta.request_id.clone(),
                                        event,
                                    };
                                    state.evolve(&record);
                                    records.push(record);
                                }
                                seen_keys.extend(command_keys.iter().cloned());
                                keys.extend(command_keys);
                                Ok(records.len() - start)
                            }
                        }
                    }
                };
                decided.push(Decided { reply, outcome });
            }
        }
        // The records move into the batch and come back from the log as its receipt: the same
        // seqs (`expected_first_seq`) and times, so no copy is made for the write.
        let written = if records.is_empty() {
            Ok(records)
        } else {
            let batch = Batch {
                records: records
                    .into_iter()
                    .map(|r| NewRecord { at: r.at, actor: r.actor, request_id: r.request_id, event: r.event })
                    .collect(),
                expected_first_seq: Some(first_seq),
                keys,
            };
            log.append(batch)
        };
        match written {
            Ok(records) => {
                debug_assert!(
                    records.first().is_none_or(|r| r.seq == first_seq),
                    "the log renumbered a batch"
                );
                if !records.is_empty() {
                    after_commit(&records, &state.read().unwrap_or_else(|p| p.into_inner()));
                    wakes.dispatch.notify_one();
                    if records.iter().any(|r| r.event.ends_instance_work()) {
                        wakes.work_done.notify_one();
                    }
                }
                // Each command's records move to its caller, uncopied.
                let mut rest = records.into_iter();
                for Decided { reply, outcome } in decided {
                    let _ = reply.send(outcome.map(|count| rest.by_ref().take(count).collect()));
                }
            }
            Err(error) => {
                let reason = match &error {
                    StoreError::Poisoned(r) | StoreError::Write(r) => r.clone(),
                    other => other.to_string(),
                };
                tracing::error!(%reason, "the event log refused a write; Pacer stops accepting commands");
                *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
                for Decided { reply, .. } in decided {
                    let _ = reply.send(Err(AppError::Unavailable(reason.clone())));
                }
            }
        }
    }
}
