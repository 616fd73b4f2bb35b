//! Starting from the log: load the newest usable snapshot and fold the tail, or fold from seq
//! 0. A snapshot that does not fit (damaged, another format, not folded from this log's
//! records: see [`crate::anchor_of`]) is reported and ignored, and deleted unless another
//! version could use it; a record that does not decode stops the start with its seq and reason.
//! Snapshots are written from the log alone ([`Snapshotter`]), never from a live state.

use crate::codec::{
    Snapshot, SnapshotRejected, StoredChunk, anchor_of, decode_snapshot, read_snapshot, write_snapshot_to,
};
use crate::error::StoreError;
use crate::log::EventLog;
use pacer_domain::{Recorded, State};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Records per chunk while replaying: small enough that a chunk's records are still in the
/// cache when the other thread folds them.
const CHUNK: usize = 1_024;

/// How a start went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartReport {
    /// The seq the snapshot covered (0 without one).
    pub snapshot_seq: u64,
    /// Why a snapshot was present but not used.
    pub snapshot_rejected: Option<String>,
    /// Records folded after the snapshot.
    pub replayed: u64,
    /// Time taken.
    pub elapsed: Duration,
}

/// A chunk on its way from the reading thread to the folding one.
enum Chunk {
    Decoded(Vec<Recorded>),
    Stored(StoredChunk),
}

/// Folds every record after `state.last_seq` into `state`, on two threads. One reads the log
/// while this one folds. Decoding costs about as much as reading or folding, so it goes to
/// whichever thread has time: the reader decodes a chunk while the folder has others waiting,
/// and otherwise sends it undecoded for the folder to decode. Folded records are freed here,
/// and spent buffers of both kinds go back to the reader, so no chunk needs fresh memory.
pub fn fold_tail(log: &dyn EventLog, state: &mut State) -> Result<u64, StoreError> {
    fold_tail_checking(log, state, None)
}

/// A seq and what to call with the state right after the record at that seq is folded.
type Check<'a> = (u64, &'a mut dyn FnMut(&State));

/// [`fold_tail`] with an optional [`Check`].
fn fold_tail_checking(
    log: &dyn EventLog,
    state: &mut State,
    mut check: Option<Check>,
) -> Result<u64, StoreError> {
    /// Chunks in flight to the folder.
    const AHEAD: usize = 8;
    let (chunks_tx, chunks) = mpsc::sync_channel::<Result<Chunk, StoreError>>(AHEAD);
    let (spent, spare) = mpsc::channel::<Chunk>();
    // Chunks sent and not yet taken by the folder (a hint for the split, so relaxed).
    let waiting = &AtomicUsize::new(0);
    let from = state.last_seq + 1;
    let base = log.base().link.seq;
    if from <= base {
        return Err(StoreError::Pruned { through: base });
    }
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut spare_records = Vec::new();
            let mut spare_stored = Vec::new();
            let mut failed = None;
            let scanned = log.scan(from, CHUNK, &mut |stored| {
                for chunk in spare.try_iter() {
                    match chunk {
                        Chunk::Decoded(records) => spare_records.push(records),
                        Chunk::Stored(stored) => spare_stored.push(stored),
                    }
                }
                let chunk = if waiting.load(Ordering::Relaxed) == 0 {
                    Chunk::Stored(std::mem::replace(stored, spare_stored.pop().unwrap_or_default()))
                } else {
                    let mut records = spare_records.pop().unwrap_or_default();
                    if let Err(e) = stored.decode_into(&mut records) {
                        failed = Some(e);
                        return false;
                    }
                    Chunk::Decoded(records)
                };
                waiting.fetch_add(1, Ordering::Relaxed);
                chunks_tx.send(Ok(chunk)).is_ok()
            });
            if let Err(e) = failed.map_or(scanned, Err) {
                let _ = chunks_tx.send(Err(e));
            }
        });
        let mut folded = 0;
        let mut decoded = Vec::new();
        for chunk in chunks {
            let mut chunk = chunk?;
            waiting.fetch_sub(1, Ordering::Relaxed);
            let records = match &mut chunk {
                Chunk::Decoded(records) => records,
                Chunk::Stored(stored) => {
                    stored.decode_into(&mut decoded)?;
                    &mut decoded
                }
            };
            for record in records.iter() {
                state.evolve(record);
                if let Some((at, check)) = &mut check
                    && record.seq == *at
                {
                    check(state);
                }
            }
            folded += records.len() as u64;
            records.clear();
            // The reader may have finished already; then the buffer is dropped here.
            let _ = spent.send(chunk);
        }
        Ok(folded)
    })
}

/// The anchor of the durable record at `seq` (0 for seq 0), or `None` past the log's end.
fn anchor_at(log: &dyn EventLog, seq: u64) -> Result<Option<u64>, StoreError> {
    if seq == 0 {
        return Ok(Some(0));
    }
    if seq > log.last_seq() {
        return Ok(None);
    }
    let mut anchor = None;
    log.scan(seq, 1, &mut |chunk| {
        anchor = chunk.first().map(anchor_of);
        false
    })?;
    Ok(anchor)
}

/// The state of a snapshot filed under `seq`, if it was folded from this log's records.
pub(crate) fn check(
    log: &dyn EventLog,
    seq: u64,
    read: Result<Snapshot, SnapshotRejected>,
) -> Result<State, SnapshotRejected> {
    let Snapshot { state, anchor } = read?;
    let not_this_log = |why: String| Err(SnapshotRejected::NotThisLog(why));
    if state.last_seq != seq {
        return not_this_log(format!("filed under seq {seq} but covers seq {}", state.last_seq));
    }
    match anchor_at(log, seq).map_err(|e| SnapshotRejected::Unreadable(e.to_string()))? {
        None => not_this_log(format!("covers seq {seq} but the log ends at {}", log.last_seq())),
        Some(actual) if actual != anchor => {
            not_this_log(format!("the record at seq {seq} is not the one it was folded from"))
        }
        Some(_) => Ok(state),
    }
}

/// Loads the newest usable snapshot and folds the tail of the log. Snapshots that do not fit
/// are skipped newest first, and deleted when no version of Pacer could use them.
pub fn load_state(log: &dyn EventLog) -> Result<(State, StartReport), StoreError> {
    let (state, report) = load(log)?;
    let StartReport { snapshot_seq, replayed, elapsed, .. } = report;
    tracing::info!(snapshot_seq, replayed, elapsed_ms = elapsed.as_millis() as u64, "state loaded");
    Ok((state, report))
}

/// [`load_state`], quietly.
fn load(log: &dyn EventLog) -> Result<(State, StartReport), StoreError> {
    let started = Instant::now();
    let mut rejected: Vec<String> = Vec::new();
    let mut state = State::default();
    while let Some((seq, reader)) = log.open_snapshot()? {
        let why = match check(log, seq, read_snapshot(reader)) {
            Ok(loaded) => {
                state = loaded;
                break;
            }
            Err(why) => why,
        };
        tracing::warn!(seq, reason = %why, "snapshot not used");
        rejected.push(format!("snapshot at seq {seq} {why}"));
        if !why.is_useless() {
            break;
        }
        if let Err(error) = log.remove_snapshot(seq) {
            tracing::warn!(seq, %error, "could not delete the unusable snapshot");
            break;
        }
        tracing::warn!(seq, "unusable snapshot deleted");
    }
    if state.last_seq < log.base().link.seq {
        state = base_state(log)?;
    }
    let snapshot_seq = state.last_seq;
    let replayed = fold_tail(log, &mut state)?;
    let snapshot_rejected = (!rejected.is_empty()).then(|| rejected.join("; "));
    Ok((state, StartReport { snapshot_seq, snapshot_rejected, replayed, elapsed: started.elapsed() }))
}

/// The state of a pruned log's base snapshot, checked against the log.
fn base_state(log: &dyn EventLog) -> Result<State, StoreError> {
    let through = log.base().link.seq;
    let Some((seq, reader)) = log.open_base_snapshot()? else {
        return Err(StoreError::Snapshot(format!(
            "the log is pruned through seq {through} but its base snapshot is missing"
        )));
    };
    check(log, seq, read_snapshot(reader)).map_err(|why| {
        StoreError::Snapshot(format!(
            "the log is pruned through seq {through} and its base snapshot at seq {seq} {why}"
        ))
    })
}

/// Checks a pruned log's base snapshot against the log (it decodes, covers its seq, and is
/// anchored to the record there): its seq, or `None` for a log never pruned.
pub fn verify_base(log: &dyn EventLog) -> Result<Option<u64>, StoreError> {
    if log.base().link.seq == 0 {
        return Ok(None);
    }
    base_state(log).map(|state| Some(state.last_seq))
}

/// Writes a snapshot of `state`, bound to the log's record at its seq. Refused when the log is
/// poisoned or does not hold that record durably: a snapshot only ever holds what the log does.
pub fn save_state(log: &dyn EventLog, state: &State) -> Result<(), StoreError> {
    save(log, state).map(drop)
}

/// [`save_state`], answering the snapshot's size.
fn save(log: &dyn EventLog, state: &State) -> Result<u64, StoreError> {
    if let Some(reason) = log.poisoned() {
        return Err(StoreError::Poisoned(reason));
    }
    let seq = state.last_seq;
    let anchor = anchor_at(log, seq)?.ok_or_else(|| {
        StoreError::Snapshot(format!("state at seq {seq} is ahead of the log at {}", log.last_seq()))
    })?;
    let mut sink = log.create_snapshot(seq)?;
    let bytes = write_snapshot_to(state, anchor, &mut sink)?;
    sink.commit()?;
    Ok(bytes)
}

/// Writes a snapshot of everything durable in `log` (see [`Snapshotter`]) with a state folded
/// for this one snapshot and dropped after it: costs what a start costs, in time and in
/// memory for a second state, while it runs. What was written, or `None` when the newest
/// snapshot covers the log already.
pub fn write_snapshot(log: &dyn EventLog) -> Result<Option<SnapshotWritten>, StoreError> {
    Snapshotter::default().write(log)
}

/// Writes snapshots of a log from a state of its own, folded from the log alone, so a running
/// Pacer's state is neither locked nor copied and nothing the log does not hold can be saved.
/// That state is folded once (from the newest usable snapshot plus the tail, what a start
/// costs, unless it is handed over with [`Snapshotter::following`]) and then kept, following
/// the log: each snapshot folds only the records since the one before and encodes straight to
/// the store, with no second state built and dropped each time (which, at millions of jobs,
/// stalls every other thread of the process on page faults). The price is that state, held in
/// memory between snapshots.
#[derive(Default)]
pub struct Snapshotter {
    /// The kept state and the seq of the newest usable snapshot (0 for none).
    kept: Option<(State, u64)>,
}

impl Snapshotter {
    /// A snapshotter whose state starts as `state`, folded from the log alone (as
    /// [`load_state`] answers it), with the newest usable snapshot at `snapshot_seq`: its first
    /// snapshot folds only the records since, like every later one.
    pub fn following(state: State, snapshot_seq: u64) -> Snapshotter {
        Snapshotter { kept: Some((state, snapshot_seq)) }
    }

    /// Writes a snapshot of everything durable in `log`. What was written, or `None` when the
    /// newest snapshot covers the log already. A failure drops the kept state (the next
    /// snapshot folds it afresh).
    pub fn write(&mut self, log: &dyn EventLog) -> Result<Option<SnapshotWritten>, StoreError> {
        if let Some(reason) = log.poisoned() {
            return Err(StoreError::Poisoned(reason));
        }
        let folding = Instant::now();
        let (state, covered) = match self.kept.take() {
            Some((mut state, covered)) => {
                fold_tail(log, &mut state)?;
                (state, covered)
            }
            None => {
                let (state, report) = load(log)?;
                (state, report.snapshot_seq)
            }
        };
        let folded_in = folding.elapsed();
        if state.last_seq == covered {
            self.kept = Some((state, covered));
            return Ok(None);
        }
        let saving = Instant::now();
        let bytes = save(log, &state)?;
        let written = SnapshotWritten { seq: state.last_seq, bytes, folded_in, saved_in: saving.elapsed() };
        self.kept = Some((state, written.seq));
        Ok(Some(written))
    }
}

/// A snapshot [`Snapshotter::write`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotWritten {
    /// The last seq it covers.
    pub seq: u64,
    /// Its size.
    pub bytes: u64,
    /// Time to fold the state it holds (the records since the snapshot before).
    pub folded_in: Duration,
    /// Time to encode, write and fsync it.
    pub saved_in: Duration,
}

/// What `pacer replay` found.
#[derive(Clone, Debug)]
pub struct Verification {
    /// The state rebuilt from seq 0, or from the base snapshot of a pruned log.
    pub rebuilt: State,
    /// The base snapshot's seq when the log is pruned (the rebuild started there).
    pub base_seq: Option<u64>,
    /// Time to rebuild.
    pub elapsed: Duration,
    /// The snapshot's seq, if one was usable.
    pub snapshot_seq: Option<u64>,
    /// Why the snapshot was not usable.
    pub snapshot_rejected: Option<SnapshotRejected>,
    /// Whether the rebuilt state, folded up to the snapshot's seq, equals the snapshot.
    pub matches_snapshot: Option<bool>,
}

/// Rebuilds every projection from seq 0 (from the base snapshot once the log is pruned) and
/// compares it with the newest snapshot.
pub fn verify(log: &dyn EventLog) -> Result<Verification, StoreError> {
    let snapshot = log.load_snapshot()?;
    let started = Instant::now();
    let pruned = log.base().link.seq > 0;
    let mut rebuilt = if pruned { base_state(log)? } else { State::default() };
    let base_seq = pruned.then_some(rebuilt.last_seq);
    let mut snapshot_seq = None;
    let mut snapshot_rejected = None;
    let mut matches_snapshot = None;
    match snapshot.map(|(seq, bytes)| (seq, check(log, seq, decode_snapshot(&bytes)))) {
        Some((seq, Ok(snapshot))) => {
            snapshot_seq = Some(seq);
            // Compare when the fold passes the snapshot's seq (a snapshot of the empty log, or
            // the base itself: now), folding on to the end; the log holds that seq (the
            // snapshot's anchor says so).
            let mut matched = (seq == rebuilt.last_seq).then(|| rebuilt == snapshot);
            let mut compare = |state: &State| matched = Some(*state == snapshot);
            fold_tail_checking(log, &mut rebuilt, Some((seq, &mut compare)))?;
            matches_snapshot = Some(matched.unwrap_or(false));
        }
        Some((_, Err(why))) => {
            snapshot_rejected = Some(why);
            fold_tail(log, &mut rebuilt)?;
        }
        None => {
            fold_tail(log, &mut rebuilt)?;
        }
    }
    Ok(Verification {
        rebuilt,
        base_seq,
        elapsed: started.elapsed(),
        snapshot_seq,
        snapshot_rejected,
        matches_snapshot,
    })
}
