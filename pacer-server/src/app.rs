//! The application core: the folded [`State`] behind a lock, the event log, and the single
//! decider thread through which every command passes. A command is decided against the state,
//! its events are folded and appended together with the other commands queued at that moment
//! (one durable write), and only then does its caller get an answer. Nothing leaves the
//! process (an HTTP answer, a subscription message, an AWS or GitHub call) before the events
//! that justify it are on disk, and no reader sees a record before it is durable (see
//! [`Decider`]).

use crate::clock::Clock;
use pacer_domain::{Actor, Command, Event, Recorded, Rejection, State, Timestamp, decide};
use pacer_store::{Batch, EventLog, NewRecord, StoreError, VaultWrite};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::{Notify, oneshot};

/// Commands decided per durable write at most.
const MAX_GROUP: usize = 4_096;
/// Commands waiting for the decider before callers are told to come back later.
const QUEUE_DEPTH: usize = 65_536;
/// On a shared log: how long the decider waits for a command before it folds what other
/// replicas appended meanwhile (it also does before every group).
const CATCH_UP_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);
/// Records folded per read while catching up.
const CATCH_UP_CHUNK: usize = 4_096;
/// Times a group is decided again after losing the race to append before its callers are
/// told to retry ([`AppError::Busy`]).
const MAX_RACES: usize = 16;
/// How long a group that lost a race waits for the winner's records to become visible.
const RACE_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Who asks, under which request id, and which idempotency keys come with the command.
#[derive(Clone, Debug)]
pub struct Meta {
    /// The actor recorded on every event.
    pub actor: Actor,
    /// The request id recorded on every event.
    pub request_id: Option<String>,
    /// Idempotency keys written with the events (a command producing no events writes none).
    pub keys: Vec<String>,
    /// The effects lease term the command was sent under (the engine's effects on replicas):
    /// refused ([`AppError::Deposed`]) once the log records a later term.
    pub fence: Option<u64>,
    /// A webhook's raw payload, kept in the vault in the same write as the records, when they
    /// are about a job ([`crate::payloads`]).
    pub raw_payload: Option<Arc<crate::payloads::RawPayload>>,
    /// Vault changes written in the same batch as the records, when the command records any.
    pub vault: Vec<VaultWrite>,
}

impl Meta {
    /// A command by `actor` without request id or keys.
    pub fn by(actor: Actor) -> Self {
        Self { actor, request_id: None, keys: Vec::new(), fence: None, raw_payload: None, vault: Vec::new() }
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
    /// Sent under an effects lease term the log has moved past: another replica holds the
    /// lease now. Nothing changed.
    #[error("deposed: sent under lease term {term}, the log is at term {current}")]
    Deposed {
        /// The command's term.
        term: u64,
        /// The recorded term.
        current: u64,
    },
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
    /// On a shared log: how long the last record another replica appended took to be folded
    /// here (milliseconds, by this process's clock against the record's time).
    lag_ms: Arc<AtomicU64>,
    /// On a shared log: groups decided again because another replica appended first.
    races: Arc<AtomicU64>,
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
        let durable = log.shared().then(|| state.clone());
        let state = Arc::new(RwLock::new(state));
        let (tx, rx) = sync_channel(QUEUE_DEPTH);
        let failure = Arc::new(Mutex::new(None));
        let dispatch_wake = Arc::new(Notify::new());
        let work_done = Arc::new(Notify::new());
        let lag_ms = Arc::new(AtomicU64::new(0));
        let races = Arc::new(AtomicU64::new(0));
        let decider = Decider {
            durable: Mutex::new(durable),
            lag_ms: lag_ms.clone(),
            races: races.clone(),
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
            lag_ms,
            races,
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

    /// On a shared log: how long the last record another replica appended took to be folded
    /// here (zero on a log only this process writes).
    pub fn replication_lag(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.lag_ms.load(Ordering::Relaxed))
    }

    /// On a shared log: how many groups were decided again because another replica appended
    /// first.
    pub fn races(&self) -> u64 {
        self.races.load(Ordering::Relaxed)
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

/// Refuses a command sent under an effects lease term older than the recorded one.
fn fenced(state: &State, meta: &Meta) -> Result<(), AppError> {
    match meta.fence {
        Some(term) if term < state.lease_term() => {
            Err(AppError::Deposed { term, current: state.lease_term() })
        }
        _ => Ok(()),
    }
}

/// Idempotency keys implied by the events themselves: one per queued GitHub job.
fn implied_keys(events: &[Event]) -> impl Iterator<Item = String> + '_ {
    events.iter().filter_map(|e| match e {
        Event::JobQueued(q) => Some(format!("ghjob:{}", q.github_job_id)),
        _ => None,
    })
}

/// The job a command's events are about, if any (the first one named).
fn about_job(events: &[Event]) -> Option<pacer_domain::JobId> {
    events.iter().flat_map(Event::subjects).find_map(|s| match s {
        pacer_domain::Subject::Job(job) => Some(job),
        _ => None,
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
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
    /// The command, kept on a shared log to be decided again if the group loses a race.
    kept: Option<(Command, Meta)>,
}

/// What [`Decider::collect`] found.
enum Collected {
    Requests(Vec<Request>),
    Idle,
    Closed,
}

/// A group of commands decided against the state, its records folded and not yet written.
struct Group {
    first_seq: u64,
    records: Vec<Recorded>,
    keys: Vec<String>,
    vault: Vec<VaultWrite>,
    decided: Vec<Decided>,
}

/// The one thread through which every command passes, in four steps: collect what is queued
/// (up to [`MAX_GROUP`] commands), decide each against the state and fold its events, commit
/// the group in one durable append, and publish (answer the callers, wake the engine).
///
/// On a log other replicas append to as well ([`EventLog::shared`]) two more steps: before
/// each group, and whenever it has been idle for [`CATCH_UP_INTERVAL`], it catches up (folds
/// the records the others appended, and tells the engine as if it had written them); and a
/// group the log refuses because another writer got there first (a seq taken, an idempotency
/// key taken) is not a failure: the state goes back to a copy that holds only durable records
/// (kept beside it on a shared log, at the price of a second state in memory), is caught up,
/// and the group is decided again, up to [`MAX_RACES`] times before its callers are told to
/// retry.
///
/// Invariants:
/// - Readers never see a record that is not durable: the state's write lock is held from the
///   first decision of a group until its append returns, and when the append fails the state
///   is rebuilt from the log before the lock is released. A reader waits at most one group.
/// - A caller is answered only after its group is durable, or refused with the reason.
/// - Commands of one group are decided in order, each against the effects of those before it,
///   and an idempotency key is taken once across the group and the log.
/// - The state is always a prefix of the log: a replica's own groups are appended right after
///   the last record it folded (`expected_first_seq`), or not at all.
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
    lag_ms: Arc<AtomicU64>,
    races: Arc<AtomicU64>,
    /// On a shared log: a copy of the state holding only durable records (folded after each
    /// write and catch-up), which a group that lost a race is undone to.
    durable: Mutex<Option<State>>,
}

/// How a group's append went.
enum Committed {
    /// Written and published, or refused for good (its callers are answered).
    Done,
    /// Another writer appended first: the callers' commands, to decide again.
    Raced(Vec<Request>),
}

impl Decider {
    fn run(self) {
        loop {
            let requests = match self.collect() {
                Collected::Requests(requests) => requests,
                Collected::Idle => {
                    if self.failure().is_none() && self.log.last_seq() > self.state_seq() {
                        self.catch_up(&mut write_state(&self.state));
                    }
                    continue;
                }
                Collected::Closed => return,
            };
            if let Some(reason) = self.failure() {
                for request in requests {
                    let _ = request.reply.send(Err(AppError::Unavailable(reason.clone())));
                }
                continue;
            }
            let mut state = write_state(&self.state);
            let mut requests = requests;
            for race in 0.. {
                self.catch_up(&mut state);
                let group = self.decide(&mut state, requests);
                match self.commit(&mut state, group) {
                    Committed::Done => break,
                    Committed::Raced(again) if race < MAX_RACES => {
                        self.races.fetch_add(1, Ordering::Relaxed);
                        self.await_the_winner(state.last_seq, race);
                        tracing::debug!(race, "another replica appended first; deciding again");
                        requests = again;
                    }
                    Committed::Raced(again) => {
                        tracing::warn!(
                            races = race + 1,
                            "lost every race to append; callers are asked to retry"
                        );
                        for request in again {
                            let _ = request.reply.send(Err(AppError::Busy));
                        }
                        break;
                    }
                }
            }
        }
    }

    /// After a lost race: waits (briefly, with the state locked, as any group holds it) until
    /// the record that won seq `folded + 1` is visible, and backs off a little longer each
    /// race, so the group is not decided again against the same state.
    fn await_the_winner(&self, folded: u64, race: usize) {
        let deadline = std::time::Instant::now() + RACE_WAIT;
        while self.log.last_seq() <= folded && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        std::thread::sleep(std::time::Duration::from_millis(1 << race.min(5)));
    }

    fn state_seq(&self) -> u64 {
        self.state.read().unwrap_or_else(|p| p.into_inner()).last_seq
    }

    /// Waits for a command, then takes whatever else is queued. On a shared log the wait ends
    /// after [`CATCH_UP_INTERVAL`] without one ([`Collected::Idle`]).
    fn collect(&self) -> Collected {
        let first = if self.log.shared() {
            match self.queue.recv_timeout(CATCH_UP_INTERVAL) {
                Ok(request) => request,
                Err(RecvTimeoutError::Timeout) => return Collected::Idle,
                Err(RecvTimeoutError::Disconnected) => return Collected::Closed,
            }
        } else {
            match self.queue.recv() {
                Ok(request) => request,
                Err(_) => return Collected::Closed,
            }
        };
        let mut requests = vec![first];
        while requests.len() < MAX_GROUP {
            match self.queue.try_recv() {
                Ok(request) => requests.push(request),
                Err(_) => break,
            }
        }
        Collected::Requests(requests)
    }

    fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Folds what other writers appended after `state` (nothing, on a log only this process
    /// writes), telling the engine as after its own writes.
    fn catch_up(&self, state: &mut State) {
        while self.log.last_seq() > state.last_seq {
            let records = match self.log.read(state.last_seq + 1, CATCH_UP_CHUNK) {
                Ok(records) if !records.is_empty() => records,
                Ok(_) => return,
                Err(error) => {
                    tracing::warn!(%error, "cannot read other replicas' records; deciding on what is folded");
                    return;
                }
            };
            for record in &records {
                state.evolve(record);
            }
            self.fold_durable(&records);
            if let Some(last) = records.last() {
                let lag = self.clock.now().millis_since(last.at).max(0) as u64;
                self.lag_ms.store(lag, Ordering::Relaxed);
            }
            self.after_write(&records, state);
        }
    }

    /// Decides each command in order and folds its events into `state`. On a shared log each
    /// command is kept (cloned) with its answer, to be decided again if the append loses a race.
    fn decide(&self, state: &mut State, requests: Vec<Request>) -> Group {
        let keep = self.log.shared();
        let mut group = Group {
            first_seq: state.last_seq + 1,
            records: Vec::new(),
            keys: Vec::new(),
            vault: Vec::new(),
            decided: Vec::with_capacity(requests.len()),
        };
        let mut seen_keys: HashSet<String> = HashSet::new();
        for Request { command, meta, reply } in requests {
            let kept = keep.then(|| (command.clone(), meta.clone()));
            let now = self.clock.now().max(state.last_at);
            let outcome = match fenced(state, &meta).map(|()| decide(state, command, now)) {
                Err(deposed) => Err(deposed),
                Ok(Err(rejection)) => Err(AppError::Rejected(rejection)),
                Ok(Ok(events)) if events.is_empty() => Ok(0),
                Ok(Ok(events)) => {
                    let mut keys = meta.keys;
                    keys.extend(implied_keys(&events));
                    match keys.iter().find(|k| seen_keys.contains(*k) || self.log.has_key(k).unwrap_or(false))
                    {
                        Some(key) => Err(AppError::Duplicate(key.clone())),
                        None => {
                            let start = group.records.len();
                            if let Some(raw) = &meta.raw_payload
                                && let Some(job) = about_job(&events)
                            {
                                group.vault.push(crate::payloads::write(job, raw, now));
                            }
                            group.vault.extend(meta.vault);
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
            group.decided.push(Decided { reply, outcome, kept });
        }
        group
    }

    /// Appends the group's records in one durable write, then publishes them; after a failed
    /// write, rebuilds `state` from the log and refuses the group; after a lost race (shared
    /// logs), rebuilds `state` from the log and hands the commands back.
    fn commit(&self, state: &mut State, group: Group) -> Committed {
        let Group { first_seq, records, keys, vault, decided } = group;
        if records.is_empty() {
            publish(decided, Vec::new());
            return Committed::Done;
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
            vault,
        };
        match self.log.append(batch) {
            Ok(records) => {
                debug_assert!(
                    records.first().is_none_or(|r| r.seq == first_seq),
                    "the log renumbered a batch"
                );
                self.fold_durable(&records);
                self.after_write(&records, state);
                publish(decided, records);
                Committed::Done
            }
            Err(StoreError::SeqConflict { .. } | StoreError::Duplicate(_)) if self.log.shared() => {
                match &*lock(&self.durable) {
                    Some(durable) => *state = durable.clone(),
                    None => self.rebuild(state),
                }
                let again = decided
                    .into_iter()
                    .filter_map(|Decided { reply, kept, .. }| {
                        kept.map(|(command, meta)| Request { command, meta, reply })
                    })
                    .collect();
                Committed::Raced(again)
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
                Committed::Done
            }
        }
    }

    /// Tells the engine about durable `records` now folded into `state`.
    fn after_write(&self, records: &[Recorded], state: &State) {
        (self.after_commit)(records, state);
        self.wakes.dispatch.notify_one();
        if records.iter().any(|r| r.event.ends_instance_work()) {
            self.wakes.work_done.notify_one();
        }
    }

    /// Folds durable `records` into the copy of the state kept on a shared log.
    fn fold_durable(&self, records: &[Recorded]) {
        if let Some(durable) = &mut *lock(&self.durable) {
            for record in records {
                durable.evolve(record);
            }
        }
    }

    /// Replaces `state`, which holds records the log refused, by what the log holds.
    fn rebuild(&self, state: &mut State) {
        match pacer_store::load_state(&*self.log) {
            Ok((durable, _)) => {
                if let Some(kept) = &mut *lock(&self.durable) {
                    *kept = durable.clone();
                }
                *state = durable;
            }
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
    for Decided { reply, outcome, .. } in decided {
        let _ = reply.send(outcome.map(|count| rest.by_ref().take(count).collect()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use pacer_domain::ProjectSpec;
    use pacer_store::MemoryLog;

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
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn replicas_on_a_shared_log_decide_again_after_losing_a_race_and_follow_each_other() {
        let log = Arc::new(MemoryLog::shared());
        let replicas: Vec<Arc<App>> = (0..3)
            .map(|_| App::start(State::default(), log.clone(), Arc::new(SystemClock), Box::new(|_, _| {})))
            .collect();
        // 300 commands, round-robin over the replicas, all at once: the replicas race for
        // every seq; each command is decided once per race it loses and written exactly once.
        let burst: Vec<_> = (0..300)
            .map(|i| {
                let app = replicas[i % 3].clone();
                tokio::spawn(async move { app.execute(create(i), Meta::by(Actor::System)).await })
            })
            .collect();
        let mut acknowledged = Vec::new();
        for task in burst {
            let records = task.await.expect("join").expect("every command goes through");
            acknowledged.extend(records.into_iter().map(|r| r.seq));
        }
        acknowledged.sort_unstable();
        let logged = log.read(1, 1_000).expect("read");
        assert_eq!(acknowledged, logged.iter().map(|r| r.seq).collect::<Vec<_>>(), "each exactly once");
        let projects: Vec<_> = logged
            .iter()
            .filter_map(|r| match &r.event {
                Event::ProjectCreated(p) => Some((p.id, p.spec.name.clone())),
                _ => None,
            })
            .collect();
        let names: HashSet<_> = projects.iter().map(|(_, name)| name).collect();
        let ids: HashSet<_> = projects.iter().map(|(id, _)| id).collect();
        assert_eq!((projects.len(), names.len()), (300, 300), "no command lost or doubled");
        assert_eq!(ids.len(), 300, "every id decided against the log as it was, none given twice");

        // The same idempotency key sent to two replicas at once: one records it.
        let keyed = |app: &Arc<App>, i: usize| {
            let app = app.clone();
            let meta = Meta { keys: vec!["delivery:42".into()], ..Meta::by(Actor::System) };
            tokio::spawn(async move { app.execute(create(1_000 + i), meta).await })
        };
        let (a, b) = (keyed(&replicas[0], 0), keyed(&replicas[1], 1));
        let answers = [a.await.expect("join"), b.await.expect("join")];
        assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 1, "{answers:?}");
        assert!(answers.iter().any(|a| matches!(a, Err(AppError::Duplicate(k)) if k == "delivery:42")));

        // Without commands of its own, each replica folds what the others wrote.
        let durable = State::fold(&log.read(1, 1_000).expect("read"));
        for app in &replicas {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while app.state().last_seq < durable.last_seq {
                assert!(std::time::Instant::now() < deadline, "a replica did not catch up");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            assert_eq!(*app.state(), durable);
            app.stop();
        }
    }
    #[tokio::test]
    async fn a_command_sent_under_an_older_lease_term_is_refused_and_changes_nothing() {
        let log = Arc::new(MemoryLog::shared());
        let app = App::start(State::default(), log.clone(), Arc::new(SystemClock), Box::new(|_, _| {}));
        let lease = |holder: &str, term| Command::AcquireLease { holder: holder.into(), term };
        let under = |term| Meta { fence: Some(term), ..Meta::by(Actor::System) };
        app.execute(lease("a", 1), Meta::by(Actor::System)).await.expect("a takes the lease");
        app.execute(create(1), under(1)).await.expect("a's effect under its term");
        app.execute(lease("b", 2), Meta::by(Actor::System)).await.expect("b takes over");
        let before = log.last_seq();
        let late = app.execute(create(2), under(1)).await;
        assert_eq!(late, Err(AppError::Deposed { term: 1, current: 2 }));
        assert_eq!(log.last_seq(), before, "a deposed holder's late write is not recorded");
        app.execute(create(3), under(2)).await.expect("b's effect under its term");
        let stale = app.execute(lease("a", 2), Meta::by(Actor::System)).await;
        assert!(matches!(stale, Err(AppError::Rejected(_))), "a term is taken once: {stale:?}");
        assert_eq!(app.state().lease_term(), 2);
        app.stop();
    }
}
