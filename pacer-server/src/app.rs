//! The application core: the folded [`State`] behind a lock, the event log, and the single
//! decider thread through which every command passes. A command is decided against the state,
//! its events are folded and appended together with the other commands queued at that moment
//! (one durable write), and only then does its caller get an answer. Nothing leaves the
//! process (an HTTP answer, a subscription message, an AWS or GitHub call) before the events
//! that justify it are on disk, and no reader sees a record before it is durable (see
//! [`Decider`]).

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
        let decider = Decider {
            queue: rx,
            state: state.clone(),
            log: log.clone(),
            clock: clock.clone(),
            failure: failure.clone(),
            wakes: Wakes { dispatch: dispatch_wake.clone(), work_done: work_done.clone() },
            after_commit,
        };
        let decider =
            std::thread::Builder::new().name("pacer-decider".into()).spawn(move || decider.run()).ok();
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

    /// The folded state, for reading: every record in it is durable. Blocks while the decider
    /// writes a group (one fsync, usually under a millisecond); hold it briefly.
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

    /// After a failed write: once the log takes writes again ([`EventLog::recover`]), rebuilds
    /// the state from it and accepts commands again. Does nothing when no write failed; fails
    /// with the reason while the fault lasts.
    pub fn recover(&self) -> Result<(), String> {
        if self.failure().is_none() {
            return Ok(());
        }
        self.log.recover().map_err(|e| e.to_string())?;
        let mut state = write_state(&self.state);
        let (durable, _) = pacer_store::load_state(&*self.log).map_err(|e| e.to_string())?;
        *state = durable;
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = None;
        tracing::info!(seq = state.last_seq, "storage recovered; accepting commands again");
        Ok(())
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

/// Who the decider wakes after a durable write.
struct Wakes {
    dispatch: Arc<Notify>,
    work_done: Arc<Notify>,
}

/// One command's answer, waiting for its group's write.
struct Decided {
    reply: oneshot::Sender<Result<Vec<Recorded>, AppError>>,
    /// How many of the group's records are this command's (they follow the previous command's).
    outcome: Result<usize, AppError>,
}

/// A group of commands decided against the state, its records folded and not yet written.
struct Group {
    first_seq: u64,
    records: Vec<Recorded>,
    keys: Vec<String>,
    decided: Vec<Decided>,
}

/// The one thread through which every command passes, in four steps: collect what is queued
/// (up to [`MAX_GROUP`] commands), decide each against the state and fold its events, commit
/// the group in one durable append, and publish (answer the callers, wake the engine).
///
/// Invariants:
/// - Readers never see a record that is not durable: the state's write lock is held from the
///   first decision of a group until its append returns, and when the append fails the state
///   is rebuilt from the log before the lock is released. A reader waits at most one group.
/// - A caller is answered only after its group is durable, or refused with the reason.
/// - Commands of one group are decided in order, each against the effects of those before it,
///   and an idempotency key is taken once across the group and the log.
/// - After a failed write every command is refused ([`AppError::Unavailable`]) until the log
///   takes writes again and [`App::recover`] has rebuilt the state from it.
struct Decider {
    queue: Receiver<Request>,
    state: Arc<RwLock<State>>,
    log: Arc<dyn EventLog>,
    clock: Arc<dyn Clock>,
    failure: Arc<Mutex<Option<String>>>,
    wakes: Wakes,
    after_commit: AfterCommit,
}

impl Decider {
    fn run(self) {
        while let Some(requests) = self.collect() {
            if let Some(reason) = self.failure() {
                for request in requests {
                    let _ = request.reply.send(Err(AppError::Unavailable(reason.clone())));
                }
                continue;
            }
            let mut state = write_state(&self.state);
            let group = self.decide(&mut state, requests);
            self.commit(&mut state, group);
        }
    }

    /// Waits for a command, then takes whatever else is queued; `None` once the app stops.
    fn collect(&self) -> Option<Vec<Request>> {
        let mut requests = vec![self.queue.recv().ok()?];
        while requests.len() < MAX_GROUP {
            match self.queue.try_recv() {
                Ok(request) => requests.push(request),
                Err(_) => break,
            }
        }
        Some(requests)
    }

    fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Decides each command in order and folds its events into `state`.
    fn decide(&self, state: &mut State, requests: Vec<Request>) -> Group {
        let mut group = Group {
            first_seq: state.last_seq + 1,
            records: Vec::new(),
            keys: Vec::new(),
            decided: Vec::with_capacity(requests.len()),
        };
        let mut seen_keys: HashSet<String> = HashSet::new();
        for Request { command, meta, reply } in requests {
            let now = self.clock.now().max(state.last_at);
            let outcome = match decide(state, command, now) {
                Err(rejection) => Err(AppError::Rejected(rejection)),
                Ok(events) if events.is_empty() => Ok(0),
                Ok(events) => {
                    let mut keys = meta.keys;
                    keys.extend(implied_keys(&events));
                    match keys.iter().find(|k| seen_keys.contains(*k) || self.log.has_key(k).unwrap_or(false))
                    {
                        Some(key) => Err(AppError::Duplicate(key.clone())),
                        None => {
                            let start = group.records.len();
                            for event in events {
                                let record = Recorded {
                                    seq: state.last_seq + 1,
                                    at: now,
                                    actor: meta.actor.clone(),
                                    request_id: meta.request_id.clone(),
                                    event,
                                };
                                state.evolve(&record);
                                group.records.push(record);
                            }
                            seen_keys.extend(keys.iter().cloned());
                            group.keys.extend(keys);
                            Ok(group.records.len() - start)
                        }
                    }
                }
            };
            group.decided.push(Decided { reply, outcome });
        }
        group
    }

    /// Appends the group's records in one durable write, then publishes them; after a failed
    /// write, rebuilds `state` from the log and refuses the group.
    fn commit(&self, state: &mut State, group: Group) {
        let Group { first_seq, records, keys, decided } = group;
        if records.is_empty() {
            return publish(decided, Vec::new());
        }
        // The records move into the batch and come back from the log as its receipt: the same
        // seqs (`expected_first_seq`) and times, so no copy is made for the write.
        let batch = Batch {
            records: records
                .into_iter()
                .map(|r| NewRecord { at: r.at, actor: r.actor, request_id: r.request_id, event: r.event })
                .collect(),
            expected_first_seq: Some(first_seq),
            keys,
            vault: Vec::new(),
        };
        match self.log.append(batch) {
            Ok(records) => {
                debug_assert!(
                    records.first().is_none_or(|r| r.seq == first_seq),
                    "the log renumbered a batch"
                );
                (self.after_commit)(&records, state);
                self.wakes.dispatch.notify_one();
                if records.iter().any(|r| r.event.ends_instance_work()) {
                    self.wakes.work_done.notify_one();
                }
                publish(decided, records);
            }
            Err(error) => {
                let reason = match &error {
                    StoreError::Poisoned(r) | StoreError::Write(r) => r.clone(),
                    other => other.to_string(),
                };
                tracing::error!(%reason, "the event log refused a write; Pacer stops accepting commands");
                *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
                self.rebuild(state);
                for Decided { reply, .. } in decided {
                    let _ = reply.send(Err(AppError::Unavailable(reason.clone())));
                }
            }
        }
    }

    /// Replaces `state`, which holds records the log refused, by what the log holds.
    fn rebuild(&self, state: &mut State) {
        match pacer_store::load_state(&*self.log) {
            Ok((durable, _)) => *state = durable,
            Err(error) => {
                // Serving state that was never written would be worse than stopping.
                tracing::error!(%error, "cannot read the event log back after a failed write; exiting");
                std::process::exit(70);
            }
        }
    }
}

/// Moves each command's records to its caller, uncopied.
fn publish(decided: Vec<Decided>, records: Vec<Recorded>) {
    let mut rest = records.into_iter();
    for Decided { reply, outcome } in decided {
        let _ = reply.send(outcome.map(|count| rest.by_ref().take(count).collect()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use pacer_domain::ProjectSpec;
    use pacer_store::MemoryLog;
    use std::sync::atomic::Ordering;

    fn create(i: usize) -> Command {
        Command::CreateProject(ProjectSpec { name: format!("p{i}"), ..ProjectSpec::default() })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failed_write_answers_no_one_and_readers_never_see_its_records() {
        let log = Arc::new(MemoryLog::new());
        let app = App::start(State::default(), log.clone(), Arc::new(SystemClock), Box::new(|_, _| {}));
        // Readers poll throughout: every state they see is a prefix the log holds.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (app, log, stop) = (app.clone(), log.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = 0;
                while !stop.load(Ordering::SeqCst) {
                    let state = app.state();
                    assert!(
                        state.last_seq <= log.last_seq(),
                        "a reader saw seq {} before it was durable",
                        state.last_seq
                    );
                    seen += 1;
                }
                seen
            })
        };
        // Eight waves of 50 concurrent commands, each at least one group write; the disk fails
        // from the fifth on.
        let mut answered = Vec::new();
        for wave in 0..8 {
            log.fail_writes(wave >= 4);
            let burst: Vec<_> = (0..50)
                .map(|i| {
                    let app = app.clone();
                    tokio::spawn(
                        async move { app.execute(create(wave * 50 + i), Meta::by(Actor::System)).await },
                    )
                })
                .collect();
            for task in burst {
                answered.push(task.await.expect("join"));
            }
        }
        stop.store(true, Ordering::SeqCst);
        assert!(reader.join().expect("reader") > 0);

        let ok: Vec<u64> = answered.iter().filter_map(|a| a.as_ref().ok()).flatten().map(|r| r.seq).collect();
        let refused = answered.iter().filter(|a| matches!(a, Err(AppError::Unavailable(_)))).count();
        assert_eq!(
            (ok.len(), refused),
            (200, 200),
            "every command is either durable or refused as unavailable"
        );
        assert_eq!(
            ok.len() as u64,
            log.last_seq(),
            "every acknowledged record, and only those, is in the log"
        );
        let durable = State::fold(&log.read(1, 1_000).expect("read"));
        assert_eq!(*app.state(), durable, "after the failure the state is what the log holds");
        let reason = app.failure().expect("failed");
        assert!(reason.contains("injected write failure"), "{reason}");
        let later = app.execute(create(1_000), Meta::by(Actor::System)).await;
        assert!(matches!(later, Err(AppError::Unavailable(_))), "{later:?}");
        assert!(pacer_store::write_snapshot(&*log).is_err(), "a poisoned log takes no snapshot");

        // The fault clears: the app takes commands again, over the state the log holds.
        assert!(app.recover().is_err(), "no recovery while the disk still fails");
        assert!(app.failure().is_some());
        log.fail_writes(false);
        app.recover().expect("recover");
        assert_eq!(app.failure(), None);
        let resumed = app.execute(create(1_001), Meta::by(Actor::System)).await.expect("accepted again");
        assert_eq!(resumed[0].seq, ok.len() as u64 + 1, "no gap, no seq given twice");
        assert_eq!(*app.state(), State::fold(&log.read(1, 1_000).expect("read")));
        app.stop();
    }
}
