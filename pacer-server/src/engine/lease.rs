//! The effects lease, for replicas sharing a log: the dispatcher, reaper, redelivery,
//! template sync, preflight and snapshots (the effects) run only on the replica holding it.
//!
//! Taking and keeping it ([`Contender`]) goes by observation, never by comparing clocks: the
//! holder bumps the row's version every [`renew_interval`]; a contender that sees one version
//! unchanged for a whole lease duration on its own monotonic clock replaces the row (one
//! conditional write) with itself as holder under the next term. The holder counts its lease
//! valid until a lease duration after the start of its last successful renewal (less a
//! tenth, for clocks that run at different rates): any contender's wait began after that
//! renewal was written, so the two never act at once.
//!
//! A new holder records `lease.acquired` with its term before its first effect; every command
//! its effects send carries that term ([`crate::app::Meta::fence`]), and the decider refuses a
//! term older than the recorded one, so a deposed holder's late writes never land after its
//! successor's. The dispatcher also asks [`Leadership::holds`] right before each EC2 launch: a
//! holder paused past its lease (SIGSTOP, a stalled VM) wakes up no longer holding it.
//!
//! Beside the lease, every replica writes a heartbeat each renewal period ([`beat`]): how far
//! it has folded the log, its replication lag and whether it holds the lease. Each reads all
//! of them back, so any replica's console and API can list the replicas.

use crate::engine::Engine;
use pacer_store::{Heartbeat, LeaseRow, LeaseTable, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the lease row is read (renewed by its holder): a fifth of the lease duration.
pub(crate) fn renew_interval(duration: Duration) -> Duration {
    duration / 5
}

/// This replica's part in the lease: who it is, the table, and what it holds now.
pub struct Leadership {
    /// This replica's id.
    pub me: String,
    /// How long a silent holder keeps the lease.
    pub duration: Duration,
    table: Arc<dyn LeaseTable>,
    /// The term of the last lease this replica took (0: never), sent with its effects.
    term: AtomicU64,
    /// Until when the lease is surely still this replica's (`None`: not held).
    valid_until: Mutex<Option<Instant>>,
    /// The row as last read, for metrics and the console.
    seen: Mutex<Option<LeaseRow>>,
    /// Every replica's heartbeat as last read.
    replicas: Mutex<Vec<Heartbeat>>,
}

impl Leadership {
    /// This replica's part in the lease kept in `table`.
    pub fn new(me: String, duration: Duration, table: Arc<dyn LeaseTable>) -> Leadership {
        Leadership {
            me,
            duration,
            table,
            term: AtomicU64::new(0),
            valid_until: Mutex::new(None),
            seen: Mutex::new(None),
            replicas: Mutex::new(Vec::new()),
        }
    }

    /// Whether this replica holds the lease now (by its own monotonic clock).
    pub fn holds(&self) -> bool {
        lock(&self.valid_until).is_some_and(|until| Instant::now() < until)
    }

    /// The term this replica's effects are sent under (0 before it ever held the lease).
    pub fn term(&self) -> u64 {
        self.term.load(Ordering::Acquire)
    }

    /// The lease row as last read: the holder and its term.
    pub fn seen(&self) -> Option<LeaseRow> {
        lock(&self.seen).clone()
    }

    /// Every replica's heartbeat as last read (this one's included once it has beaten).
    pub fn replicas(&self) -> Vec<Heartbeat> {
        lock(&self.replicas).clone()
    }

    fn lose(&self) {
        *lock(&self.valid_until) = None;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One replica's view while it waits for, takes and keeps the lease.
#[derive(Debug)]
pub(crate) struct Contender {
    me: String,
    duration: Duration,
    /// Another holder's version and when this replica first saw it.
    watching: Option<(u64, Instant)>,
    /// The term and version this replica holds.
    held: Option<(u64, u64)>,
}

/// What a [`Contender::round`] ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Round {
    /// This replica holds the lease under `term`, surely until `valid_until`.
    Holds { term: u64, valid_until: Instant },
    /// Another replica holds it (or won the race for it).
    Waits,
}

impl Contender {
    pub(crate) fn new(me: String, duration: Duration) -> Contender {
        Contender { me, duration, watching: None, held: None }
    }

    /// Reads the row and renews, takes or keeps watching it; `started` is when this round
    /// began (before the read), `recorded` the highest term the log holds: a new term is
    /// always above both it and the row's, so a lease table that lost its row (or was
    /// replaced) never hands out a term the log would refuse.
    pub(crate) fn round(
        &mut self,
        table: &dyn LeaseTable,
        started: Instant,
        recorded: u64,
    ) -> Result<(Round, Option<LeaseRow>), StoreError> {
        let row = table.read()?;
        let take = |row: Option<&LeaseRow>| LeaseRow {
            holder: self.me.clone(),
            term: row.map_or(0, |r| r.term).max(recorded) + 1,
            version: row.map_or(0, |r| r.version) + 1,
        };
        let next = match &row {
            None => Some(take(None)),
            Some(row)
                if self.held == Some((row.term, row.version))
                    && row.holder == self.me
                    && row.term >= recorded =>
            {
                Some(LeaseRow { version: row.version + 1, ..row.clone() })
            }
            Some(row) if row.holder.is_empty() || row.term < recorded => Some(take(Some(row))),
            Some(row) => {
                self.held = None;
                match self.watching {
                    Some((version, since))
                        if version == row.version && started.duration_since(since) >= self.duration =>
                    {
                        Some(take(Some(row)))
                    }
                    Some((version, _)) if version == row.version => None,
                    _ => {
                        self.watching = Some((row.version, started));
                        None
                    }
                }
            }
        };
        let Some(next) = next else {
            return Ok((Round::Waits, row));
        };
        if !table.replace(row.as_ref().map(|r| r.version), &next)? {
            self.held = None;
            self.watching = None;
            return Ok((Round::Waits, table.read()?));
        }
        self.held = Some((next.term, next.version));
        self.watching = None;
        let valid_until = started + self.duration - self.duration / 10;
        Ok((Round::Holds { term: next.term, valid_until }, Some(next)))
    }

    /// Gives the lease up (a clean shutdown): the next contender takes it at once.
    pub(crate) fn release(&mut self, table: &dyn LeaseTable) -> Result<(), StoreError> {
        if let Some((term, version)) = self.held.take() {
            let released = LeaseRow { holder: String::new(), term, version: version + 1 };
            table.replace(Some(version), &released)?;
        }
        Ok(())
    }
}

/// The effects running under one term: stopped when the lease is lost or Pacer stops.
struct Session {
    term: u64,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Session {
    async fn end(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Contends for the lease until shutdown; while it holds it, the effects run.
pub(crate) async fn run(
    engine: Arc<Engine>,
    leadership: Arc<Leadership>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut contender = Contender::new(leadership.me.clone(), leadership.duration);
    let mut session: Option<Session> = None;
    loop {
        let started = Instant::now();
        let table = leadership.table.clone();
        let recorded = engine.app.state().lease_term();
        let round = tokio::task::spawn_blocking(move || {
            let outcome = contender.round(&*table, started, recorded);
            (contender, outcome)
        })
        .await;
        if started.elapsed() > renew_interval(leadership.duration) {
            tracing::warn!(
                took_ms = started.elapsed().as_millis() as u64,
                "a round of the effects lease was slow"
            );
        }
        let outcome = match round {
            Ok((back, outcome)) => {
                contender = back;
                outcome
            }
            Err(error) => {
                tracing::error!(%error, "the lease round panicked");
                contender = Contender::new(leadership.me.clone(), leadership.duration);
                Err(StoreError::Read(error.to_string()))
            }
        };
        match outcome {
            Ok((round, row)) => {
                *lock(&leadership.seen) = row;
                match round {
                    Round::Holds { term, valid_until } => {
                        *lock(&leadership.valid_until) = Some(valid_until);
                        if session.as_ref().is_none_or(|s| s.term != term) {
                            if let Some(old) = session.take() {
                                old.end().await;
                            }
                            session = begin(&engine, &leadership, term).await;
                        }
                    }
                    Round::Waits => {
                        leadership.lose();
                        if let Some(old) = session.take() {
                            tracing::warn!(term = old.term, "lost the effects lease; effects stop");
                            old.end().await;
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read the effects lease"),
        }
        // Effects stop once the lease may have passed to another replica, even when the
        // lease table cannot be reached to say so.
        if session.is_some() && !leadership.holds() {
            tracing::warn!("the effects lease ran out without a renewal; effects stop");
            if let Some(old) = session.take() {
                old.end().await;
            }
        }
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep(renew_interval(leadership.duration)) => {}
        }
    }
    if let Some(old) = session.take() {
        old.end().await;
    }
    leadership.lose();
    let table = leadership.table.clone();
    let released = tokio::task::spawn_blocking(move || contender.release(&*table)).await;
    if let Ok(Err(error)) = released {
        tracing::warn!(%error, "could not release the effects lease; another replica takes it when it runs out");
    }
}

/// How long a silent replica's heartbeat is kept (a replica killed without a clean stop).
const FORGET_SILENT_AFTER: Duration = Duration::from_secs(24 * 3_600);

/// Writes this replica's heartbeat every renewal period and reads every replica's, until
/// shutdown; then removes its own, so a replica stopped cleanly leaves the list at once.
pub(crate) async fn beat(
    engine: Arc<Engine>,
    leadership: Arc<Leadership>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let now = engine.app.now();
        let beat = Heartbeat {
            replica: leadership.me.clone(),
            at_ms: now.millis(),
            seq: engine.app.state().last_seq,
            lag_ms: engine.app.replication_lag().as_millis() as u64,
            term: if leadership.holds() { leadership.term() } else { 0 },
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let table = leadership.table.clone();
        let read = tokio::task::spawn_blocking(move || {
            table.beat(&beat)?;
            let mut beats = table.heartbeats()?;
            let forget = now.millis() - FORGET_SILENT_AFTER.as_millis() as i64;
            for silent in beats.iter().filter(|b| b.at_ms < forget) {
                table.forget(&silent.replica)?;
            }
            beats.retain(|b| b.at_ms >= forget);
            Ok::<_, StoreError>(beats)
        })
        .await;
        match read {
            Ok(Ok(beats)) => *lock(&leadership.replicas) = beats,
            Ok(Err(error)) => tracing::warn!(%error, "cannot exchange heartbeats with the other replicas"),
            Err(error) => tracing::error!(%error, "the heartbeat panicked"),
        }
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep(renew_interval(leadership.duration)) => {}
        }
    }
    let (table, me) = (leadership.table.clone(), leadership.me.clone());
    if let Ok(Err(error)) = tokio::task::spawn_blocking(move || table.forget(&me)).await {
        tracing::warn!(%error, "could not remove this replica's heartbeat; it shows as silent");
    }
}

/// Records `lease.acquired` under `term`, then starts the effects and brings the launch
/// templates up to date; `None` (the lease stays unused until the next round) when the record
/// is refused.
async fn begin(engine: &Arc<Engine>, leadership: &Leadership, term: u64) -> Option<Session> {
    let command = pacer_domain::Command::AcquireLease { holder: leadership.me.clone(), term };
    match engine.app.execute(command, crate::app::Meta::by(pacer_domain::Actor::System)).await {
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(term, %error, "could not record the effects lease");
            leadership.lose();
            return None;
        }
    }
    leadership.term.store(term, Ordering::Release);
    tracing::info!(term, replica = %leadership.me, "holding the effects lease; effects start");
    let (stop, _) = watch::channel(false);
    let mut tasks = engine.spawn_effects(&stop);
    // Beside the loops, not before them: the lease must go on being renewed meanwhile, and
    // a sync of many pools against a slow EC2 can take longer than a lease.
    let syncing = engine.clone();
    tasks.push(tokio::spawn(async move { syncing.sync_templates_recording_health().await }));
    Some(Session { term, stop, tasks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_store::MemoryLeaseTable;

    const D: Duration = Duration::from_secs(10);

    fn holds(round: (Round, Option<LeaseRow>)) -> Option<u64> {
        match round.0 {
            Round::Holds { term, .. } => Some(term),
            Round::Waits => None,
        }
    }

    #[test]
    fn a_silent_holder_is_replaced_after_a_whole_lease_and_a_renewing_one_never() {
        let table = MemoryLeaseTable::default();
        let t0 = Instant::now();
        let (mut a, mut b) = (Contender::new("a".into(), D), Contender::new("b".into(), D));
        assert_eq!(holds(a.round(&table, t0, 0).expect("round")), Some(1), "the first takes it");
        assert_eq!(holds(b.round(&table, t0, 0).expect("round")), None);
        // a renews every round: b never sees one version for a whole lease.
        for i in 1..=10 {
            let now = t0 + D / 5 * i;
            assert_eq!(holds(a.round(&table, now, 0).expect("round")), Some(1));
            assert_eq!(holds(b.round(&table, now, 0).expect("round")), None);
        }
        // a falls silent: b has seen its last version since its last round (t1), and takes
        // the lease one whole lease duration later, not before.
        let t1 = t0 + D / 5 * 10;
        assert_eq!(holds(b.round(&table, t1 + D / 2, 0).expect("round")), None);
        assert_eq!(holds(b.round(&table, t1 + D - Duration::from_millis(1), 0).expect("round")), None);
        assert_eq!(holds(b.round(&table, t1 + D, 0).expect("round")), Some(2), "next term");
        // a wakes: it holds nothing, and waits like any other contender.
        assert_eq!(holds(a.round(&table, t1 + D * 2, 0).expect("round")), None);
    }

    #[test]
    fn a_holder_counts_its_lease_from_before_the_renewal_less_a_tenth() {
        let table = MemoryLeaseTable::default();
        let started = Instant::now();
        let (round, _) = Contender::new("a".into(), D).round(&table, started, 0).expect("round");
        assert_eq!(round, Round::Holds { term: 1, valid_until: started + D - D / 10 });
    }

    #[test]
    fn a_released_lease_is_taken_at_once_by_the_first_contender() {
        let table = MemoryLeaseTable::default();
        let now = Instant::now();
        let mut a = Contender::new("a".into(), D);
        assert_eq!(holds(a.round(&table, now, 0).expect("round")), Some(1));
        a.release(&table).expect("release");
        let (mut b, mut c) = (Contender::new("b".into(), D), Contender::new("c".into(), D));
        // b takes the released row at once; c then finds it held.
        let won =
            [holds(b.round(&table, now, 0).expect("round")), holds(c.round(&table, now, 0).expect("round"))];
        assert_eq!(won, [Some(2), None]);
        assert_eq!(table.read().expect("read").map(|r| (r.holder, r.term)), Some(("b".into(), 2)));
    }
    #[test]
    fn new_terms_are_always_above_the_terms_the_log_recorded() {
        // The table lost its row (or is a new one) while the log holds term 5.
        let table = MemoryLeaseTable::default();
        let now = Instant::now();
        let mut a = Contender::new("a".into(), D);
        assert_eq!(holds(a.round(&table, now, 5).expect("round")), Some(6));
        // A row left at a term the log has passed is taken over at once, above it.
        let stale = MemoryLeaseTable::default();
        stale.replace(None, &LeaseRow { holder: "gone".into(), term: 2, version: 9 }).expect("write");
        assert_eq!(holds(a.round(&stale, now, 5).expect("round")), Some(6));
        assert_eq!(
            stale.read().expect("read").map(|r| (r.holder, r.term, r.version)),
            Some(("a".into(), 6, 10))
        );
    }
}
