//! The effects lease's row, for replicas sharing a log: which replica runs the effects, under
//! which fencing term, and a version its holder bumps on every renewal. Beside it, each
//! replica's [`Heartbeat`], so any replica can say which others are up and how far behind. The row is only ever
//! replaced conditionally on the version read, so two contenders cannot both take it. Who may
//! take it is decided by observation, not by clocks (pacer-server's engine): a contender that
//! sees one version unchanged for a whole lease duration on its own monotonic clock takes
//! over, so replicas need no synchronised clocks.

use crate::error::StoreError;
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// The lease as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseRow {
    /// The holding replica's id; empty once its holder released it.
    pub holder: String,
    /// The fencing term: raised by one on every change of holder.
    pub term: u64,
    /// Bumped on every write (each renewal too).
    pub version: u64,
}

/// What one replica last said of itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Heartbeat {
    /// The replica's id.
    pub replica: String,
    /// When it said so, by its own wall clock (Unix milliseconds): shown to operators, never
    /// compared across replicas to decide anything.
    pub at_ms: i64,
    /// The last record folded into its state.
    pub seq: u64,
    /// How long the last record another replica appended took to reach its state.
    pub lag_ms: u64,
    /// The term under which it holds the effects lease (0: it does not).
    pub term: u64,
    /// Its Pacer version.
    pub version: String,
}

/// Where the lease row and the replicas' heartbeats are kept.
pub trait LeaseTable: Send + Sync {
    /// The row, strongly consistent; `None` before any replica took the lease.
    fn read(&self) -> Result<Option<LeaseRow>, StoreError>;

    /// Writes `row` if the stored row's version is `expected` (`None`: no row yet). Whether it
    /// was written; `false` means another replica wrote first.
    fn replace(&self, expected: Option<u64>, row: &LeaseRow) -> Result<bool, StoreError>;

    /// Stores `beat` in place of its replica's last one.
    fn beat(&self, beat: &Heartbeat) -> Result<(), StoreError>;

    /// Every replica's last heartbeat, by replica id.
    fn heartbeats(&self) -> Result<Vec<Heartbeat>, StoreError>;

    /// Removes `replica`'s heartbeat (it stopped, or has been silent too long).
    fn forget(&self, replica: &str) -> Result<(), StoreError>;
}

/// A lease row and heartbeats in memory, for tests and for replicas in one process.
#[derive(Debug, Default)]
pub struct MemoryLeaseTable {
    row: Mutex<Option<LeaseRow>>,
    beats: Mutex<BTreeMap<String, Heartbeat>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LeaseTable for MemoryLeaseTable {
    fn read(&self) -> Result<Option<LeaseRow>, StoreError> {
        Ok(lock(&self.row).clone())
    }

    fn replace(&self, expected: Option<u64>, row: &LeaseRow) -> Result<bool, StoreError> {
        let mut stored = lock(&self.row);
        if stored.as_ref().map(|r| r.version) != expected {
            return Ok(false);
        }
        *stored = Some(row.clone());
        Ok(true)
    }

    fn beat(&self, beat: &Heartbeat) -> Result<(), StoreError> {
        lock(&self.beats).insert(beat.replica.clone(), beat.clone());
        Ok(())
    }

    fn heartbeats(&self) -> Result<Vec<Heartbeat>, StoreError> {
        Ok(lock(&self.beats).values().cloned().collect())
    }

    fn forget(&self, replica: &str) -> Result<(), StoreError> {
        lock(&self.beats).remove(replica);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_replaced_only_from_the_version_read() {
        let table = MemoryLeaseTable::default();
        let first = LeaseRow { holder: "a".into(), term: 1, version: 1 };
        assert!(table.replace(None, &first).expect("write"));
        assert!(!table.replace(None, &first).expect("write"), "a second first writer loses");
        let renewed = LeaseRow { version: 2, ..first.clone() };
        assert!(table.replace(Some(1), &renewed).expect("write"));
        assert!(
            !table.replace(Some(1), &LeaseRow { holder: "b".into(), term: 2, version: 2 }).expect("write")
        );
        assert_eq!(table.read().expect("read"), Some(renewed));
    }

    #[test]
    fn a_beat_replaces_its_replicas_last_and_forget_removes_it() {
        let table = MemoryLeaseTable::default();
        let beat = |replica: &str, seq| Heartbeat { replica: replica.into(), seq, ..Heartbeat::default() };
        for b in [beat("b", 1), beat("a", 2), beat("b", 3)] {
            table.beat(&b).expect("beat");
        }
        assert_eq!(table.heartbeats().expect("beats"), vec![beat("a", 2), beat("b", 3)]);
        table.forget("a").expect("forget");
        assert_eq!(table.heartbeats().expect("beats"), vec![beat("b", 3)]);
    }
}
