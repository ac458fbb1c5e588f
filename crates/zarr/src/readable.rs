//! Which frames a live view can read back: the longest prefix of frames (arrival
//! order) whose write units are all in their files.
//!
//! A unit that received frames since it was last stored holds a *token*: the first
//! of those frames (its `pending` seq). A token is taken when the unit gets its first
//! such frame (on the writer thread) and given back once the unit is in its file (by
//! the writer thread for raw units, by the encoder thread that stored it otherwise);
//! a unit that failed keeps its token for good. Every frame before the smallest token
//! is then in stored units: the readable prefix. Tokens are only ever taken for the
//! newest frame, so the prefix never decreases; it costs one short lock per unit and
//! per query, no I/O.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// The tokens of units not yet stored (shared by the writer and encoder threads).
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Token seq -> how many units hold it (a frame spanning several Y/X units).
    tokens: Mutex<BTreeMap<u64, u32>>,
    /// The largest prefix reported (the prefix never decreases, even after errors).
    reported: AtomicU64,
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, u32>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A unit received frame `seq` as its first frame since it was stored.
    pub(crate) fn take(&self, seq: u64) {
        *self.lock().entry(seq).or_insert(0) += 1;
    }

    /// The unit holding token `seq` is in its file.
    pub(crate) fn give_back(&self, seq: Option<u64>) {
        let Some(seq) = seq else {
            return;
        };
        let mut tokens = self.lock();
        if let Some(n) = tokens.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                tokens.remove(&seq);
            }
        }
    }

    /// The readable prefix, given the frames that arrived and the first frame known
    /// not stored.
    pub(crate) fn prefix(&self, arrived: u64, failed: Option<u64>) -> u64 {
        let first = self.lock().first_key_value().map(|(&s, _)| s);
        let p = [first, failed]
            .into_iter()
            .flatten()
            .fold(arrived, u64::min);
        self.reported.fetch_max(p, Ordering::Relaxed).max(p)
    }
}

#[cfg(test)]
mod tests {
    use super::Pending;

    #[test]
    fn the_prefix_stops_at_the_first_unit_not_stored() {
        let p = Pending::default();
        assert_eq!(p.prefix(0, None), 0);
        p.take(0);
        p.take(0);
        p.take(2);
        assert_eq!(p.prefix(4, None), 0);
        p.give_back(Some(0));
        assert_eq!(p.prefix(4, None), 0);
        p.give_back(Some(0));
        assert_eq!(p.prefix(4, None), 2);
        assert_eq!(p.prefix(4, Some(1)), 2, "never decreases");
        p.give_back(Some(2));
        p.give_back(None);
        assert_eq!(p.prefix(4, None), 4);
        assert_eq!(p.prefix(6, Some(5)), 5);
    }
}
