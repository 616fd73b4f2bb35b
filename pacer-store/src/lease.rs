//! The effects lease's row, for replicas sharing a log: which replica runs the effects, under
//! which fencing term, and a version its holder bumps on every renewal. The row is only ever
//! replaced conditionally on the version read, so two contenders cannot both take it. Who may
//! take it is decided by observation, not by clocks (pacer-server's engine): a contender that
//! sees one version unchanged for a whole lease duration on its own monotonic clock takes
//! over, so replicas need no synchronised clocks.

use crate::error::StoreError;
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

/// Where the lease row is kept.
pub trait LeaseTable: Send + Sync {
    /// The row, strongly consistent; `None` before any replica took the lease.
    fn read(&self) -> Result<Option<LeaseRow>, StoreError>;

    /// Writes `row` if the stored row's version is `expected` (`None`: no row yet). Whether it
    /// was written; `false` means another replica wrote first.
    fn replace(&self, expected: Option<u64>, row: &LeaseRow) -> Result<bool, StoreError>;
}

/// A lease row in memory, for tests and for replicas in one process.
#[derive(Debug, Default)]
pub struct MemoryLeaseTable(Mutex<Option<LeaseRow>>);

impl LeaseTable for MemoryLeaseTable {
    fn read(&self) -> Result<Option<LeaseRow>, StoreError> {
        Ok(self.0.lock().unwrap_or_else(PoisonError::into_inner).clone())
    }

    fn replace(&self, expected: Option<u64>, row: &LeaseRow) -> Result<bool, StoreError> {
        let mut stored = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if stored.as_ref().map(|r| r.version) != expected {
            return Ok(false);
        }
        *stored = Some(row.clone());
        Ok(true)
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
}
