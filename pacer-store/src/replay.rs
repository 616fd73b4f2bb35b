//! Starting from the log: load the newest usable snapshot and fold the tail, or fold from seq
//! 0. A snapshot that does not fit (other format, checksum, ahead of the log) is reported and
//! ignored; a record that does not decode stops the start with its seq and reason.

use crate::codec::{SnapshotRejected, decode_snapshot, encode_snapshot, read_snapshot};
use crate::error::StoreError;
use crate::log::EventLog;
use pacer_domain::{Recorded, State};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Records folded per read while replaying.
const CHUNK: usize = 8_192;

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

/// Folds every record after `state.last_seq` into `state`. One thread reads and decodes the
/// next chunks while this one folds them (and frees them: reading and decoding is the larger
/// half of a replay), so a long replay uses two cores. Emptied chunk buffers go back to the
/// reader, so no chunk needs fresh memory.
pub fn fold_tail(log: &dyn EventLog, state: &mut State) -> Result<u64, StoreError> {
    /// Chunks decoded ahead of the fold.
    const AHEAD: usize = 2;
    let (chunks_tx, chunks) = mpsc::sync_channel::<Result<Vec<Recorded>, StoreError>>(AHEAD);
    let (spent, spare) = mpsc::channel::<Vec<Recorded>>();
    let from = state.last_seq + 1;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let scanned = log.scan(from, CHUNK, &mut |records| {
                let empty = spare.try_recv().unwrap_or_default();
                chunks_tx.send(Ok(std::mem::replace(records, empty))).is_ok()
            });
            if let Err(e) = scanned {
                let _ = chunks_tx.send(Err(e));
            }
        });
        let mut folded = 0;
        for chunk in chunks {
            let mut records = chunk?;
            for record in &records {
                state.evolve(record);
            }
            folded += records.len() as u64;
            records.clear();
            // The reader may have finished already; then the buffer is dropped here.
            let _ = spent.send(records);
        }
        Ok(folded)
    })
}

/// Loads the newest usable snapshot and folds the tail of the log.
pub fn load_state(log: &dyn EventLog) -> Result<(State, StartReport), StoreError> {
    let started = Instant::now();
    let mut rejected = None;
    let mut state = match log.open_snapshot()? {
        Some((seq, _)) if seq > log.last_seq() => {
            rejected = Some(format!("snapshot at {seq} is ahead of the log at {}", log.last_seq()));
            State::default()
        }
        Some((_, reader)) => match read_snapshot(reader) {
            Ok(state) => state,
            Err(why) => {
                rejected = Some(why.to_string());
                State::default()
            }
        },
        None => State::default(),
    };
    if let Some(why) = &rejected {
        tracing::warn!(reason = %why, "snapshot not used; rebuilding from the log");
    }
    let snapshot_seq = state.last_seq;
    let replayed = fold_tail(log, &mut state)?;
    let report =
        StartReport { snapshot_seq, snapshot_rejected: rejected, replayed, elapsed: started.elapsed() };
    tracing::info!(snapshot_seq, replayed, elapsed_ms = report.elapsed.as_millis() as u64, "state loaded");
    Ok((state, report))
}

/// Writes a snapshot of `state`.
pub fn save_state(log: &dyn EventLog, state: &State) -> Result<(), StoreError> {
    log.save_snapshot(state.last_seq, &encode_snapshot(state)?)
}

/// What `pacer replay` found.
#[derive(Clone, Debug)]
pub struct Verification {
    /// The state rebuilt from seq 0.
    pub rebuilt: State,
    /// Time to rebuild.
    pub elapsed: Duration,
    /// The snapshot's seq, if one was usable.
    pub snapshot_seq: Option<u64>,
    /// Why the snapshot was not usable.
    pub snapshot_rejected: Option<SnapshotRejected>,
    /// Whether the rebuilt state, folded up to the snapshot's seq, equals the snapshot.
    pub matches_snapshot: Option<bool>,
}

/// Rebuilds every projection from seq 0 and compares it with the snapshot.
pub fn verify(log: &dyn EventLog) -> Result<Verification, StoreError> {
    let snapshot = log.load_snapshot()?;
    let started = Instant::now();
    let mut rebuilt = State::default();
    let mut snapshot_seq = None;
    let mut snapshot_rejected = None;
    let mut matches_snapshot = None;
    let decoded = snapshot.map(|(seq, bytes)| (seq, decode_snapshot(&bytes)));
    match decoded {
        Some((seq, Ok(snapshot))) => {
            snapshot_seq = Some(seq);
            // Fold up to the snapshot's seq, compare, then fold the rest.
            while rebuilt.last_seq < seq {
                let want = (seq - rebuilt.last_seq) as usize;
                let records = log.read(rebuilt.last_seq + 1, want.min(CHUNK))?;
                if records.is_empty() {
                    break;
                }
                for record in &records {
                    rebuilt.evolve(record);
                }
            }
            matches_snapshot = Some(rebuilt == snapshot);
        }
        Some((_, Err(why))) => snapshot_rejected = Some(why),
        None => {}
    }
    fold_tail(log, &mut rebuilt)?;
    Ok(Verification {
        rebuilt,
        elapsed: started.elapsed(),
        snapshot_seq,
        snapshot_rejected,
        matches_snapshot,
    })
}
