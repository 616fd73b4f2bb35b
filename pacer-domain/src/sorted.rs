//! [`SortedDeque`]: a set of small copyable keys kept sorted in one deque, for the job indexes.
//! Job ids are handed out in sequence and jobs leave roughly oldest first, so almost every
//! insert lands at the back and almost every removal near the front: both O(1) in practice
//! (an element in the middle costs a shift of the shorter side), with 8 bytes per job id and
//! none of a B-tree's node descents.

use std::collections::VecDeque;

/// A sorted set in a deque.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SortedDeque<T>(VecDeque<T>);

impl<T> Default for SortedDeque<T> {
    fn default() -> Self {
        SortedDeque(VecDeque::new())
    }
}

impl<T: Ord + Copy> SortedDeque<T> {
    /// The set of `keys`, which are sorted (duplicates are dropped).
    pub(crate) fn from_sorted(mut keys: Vec<T>) -> Self {
        debug_assert!(keys.is_sorted());
        keys.dedup();
        SortedDeque(VecDeque::from(keys))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `key`; false when it was present.
    pub(crate) fn insert(&mut self, key: T) -> bool {
        if self.0.back().is_none_or(|last| *last < key) {
            self.0.push_back(key);
            return true;
        }
        match self.0.binary_search(&key) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, key);
                true
            }
        }
    }

    /// Removes `key`; false when it was absent.
    pub(crate) fn remove(&mut self, key: &T) -> bool {
        if self.0.front() == Some(key) {
            self.0.pop_front();
            return true;
        }
        match self.0.binary_search(key) {
            Ok(at) => self.0.remove(at).is_some(),
            Err(_) => false,
        }
    }

    /// The smallest key.
    pub(crate) fn first(&self) -> Option<&T> {
        self.0.front()
    }

    /// Every key, ascending.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.0.iter()
    }

    /// The keys below `upper` (all without it), ascending.
    pub(crate) fn below(&self, upper: Option<T>) -> impl DoubleEndedIterator<Item = &T> {
        let end = upper.map_or(self.0.len(), |upper| self.0.partition_point(|key| *key < upper));
        self.0.range(..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn behaves_as_a_btree_set_under_any_order_of_changes() {
        // A deterministic mix of appends, inserts in the middle and removals anywhere.
        let mut set = SortedDeque::default();
        let mut model = BTreeSet::new();
        let mut x: u64 = 7;
        for step in 0..5_000u64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let key = if step % 3 == 0 { step } else { (x >> 33) % 600 };
            if x % 5 < 3 {
                assert_eq!(set.insert(key), model.insert(key));
            } else {
                assert_eq!(set.remove(&key), model.remove(&key));
            }
            assert_eq!(set.len(), model.len());
            assert_eq!(set.first(), model.first());
        }
        assert!(set.iter().eq(model.iter()));
        for upper in [None, Some(0), Some(300), Some(4_000), Some(10_000)] {
            let expected: Vec<_> = model.iter().filter(|k| upper.is_none_or(|u| **k < u)).rev().collect();
            assert_eq!(set.below(upper).rev().collect::<Vec<_>>(), expected);
        }
        assert_eq!(SortedDeque::from_sorted(vec![1, 2, 2, 5]), {
            let mut s = SortedDeque::default();
            for key in [5, 1, 2] {
                s.insert(key);
            }
            s
        });
        assert!(SortedDeque::<u64>::default().is_empty());
    }
}
