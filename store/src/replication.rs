//! Seams replication will use (there is no replication yet): the confirm watermark that
//! caps what dispatch and readers see, raw reads of commitlog bytes, and appending bytes
//! replicated from a master at an expected offset.
//!
//! The watermark is unset on a master without replication: [`ConfirmWatermark::limit`] is
//! then `u64::MAX`, one atomic load that the dispatcher does per batch (never per put).
//!
//! Invariants: the watermark only moves forward while set; replicated bytes are appended
//! only at the current end of the log, as whole CRC-checked records whose own offsets match
//! where they land.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::offset::PhysOffset;
use crate::store::MessageStore;

/// Value of an unset watermark.
const UNSET: u64 = u64::MAX;

/// The replication confirm offset: commitlog bytes below it are confirmed (by enough
/// replicas), and only those are dispatched and readable. Writers of the watermark wake
/// waiters the way the group commit wakes sync-flush writers.
#[derive(Debug)]
pub(crate) struct ConfirmWatermark {
    value: AtomicU64,
    lock: Mutex<()>,
    advanced: Condvar,
}

impl Default for ConfirmWatermark {
    fn default() -> Self {
        ConfirmWatermark {
            value: AtomicU64::new(UNSET),
            lock: Mutex::new(()),
            advanced: Condvar::new(),
        }
    }
}

impl ConfirmWatermark {
    /// The cap on visible bytes (`u64::MAX` when unset).
    pub(crate) fn limit(&self) -> u64 {
        self.value.load(Ordering::Acquire)
    }

    /// The watermark, if set.
    pub(crate) fn get(&self) -> Option<u64> {
        Some(self.limit()).filter(|v| *v != UNSET)
    }

    /// Sets the watermark (`None` unsets it). A set watermark never moves back: a lower value
    /// is ignored and `false` returned. Wakes every waiter.
    pub(crate) fn set(&self, to: Option<u64>) -> bool {
        let to = to.unwrap_or(UNSET);
        let _guard = self.lock.lock();
        let cur = self.value.load(Ordering::Acquire);
        let moved = cur == UNSET || to == UNSET || to >= cur;
        if moved {
            self.value.store(to, Ordering::Release);
        }
        self.advanced.notify_all();
        moved
    }

    /// Waits until the watermark is at least `end` (or unset) or `timeout` passes; returns
    /// whether it got there.
    pub(crate) fn wait(&self, end: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.lock.lock();
        loop {
            if self.limit() >= end {
                return true;
            }
            if self.advanced.wait_until(&mut guard, deadline).timed_out() {
                return self.limit() >= end;
            }
        }
    }
}

impl MessageStore {
    /// Sets the replication confirm watermark: dispatch (and so every queue read) and lookups
    /// by offset stop at it. `None` removes it (a master without replication, the default).
    /// A set watermark only moves forward; returns false (and changes nothing) for a lower
    /// value. Set it before the first put it must hold back.
    pub fn set_confirm_offset(&self, offset: Option<PhysOffset>) -> bool {
        let s = self.shared();
        let moved = s.confirm.set(offset.map(|o| o.0));
        s.dispatch.wake_now();
        moved
    }

    /// The replication confirm watermark, if set.
    pub fn confirm_offset(&self) -> Option<PhysOffset> {
        self.shared().confirm.get().map(PhysOffset)
    }

    /// Waits until the confirm watermark reaches `end` (immediately true when unset), at most
    /// `timeout`; like a sync-flush put waits for its group commit.
    pub fn wait_confirmed(&self, end: PhysOffset, timeout: Duration) -> bool {
        self.shared().confirm.wait(end.0, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn watermark_moves_forward_and_wakes_waiters() {
        let w = Arc::new(ConfirmWatermark::default());
        assert_eq!(w.get(), None);
        assert!(w.wait(10, Duration::ZERO), "an unset watermark caps nothing");
        assert!(w.set(Some(100)));
        assert!(!w.set(Some(50)), "a set watermark never moves back");
        assert_eq!(w.limit(), 100);
        assert!(!w.wait(200, Duration::from_millis(1)));
        let w2 = Arc::clone(&w);
        let waiter = std::thread::spawn(move || w2.wait(200, Duration::from_secs(30)));
        assert!(w.set(Some(250)));
        assert!(waiter.join().unwrap());
        assert!(w.set(None));
        assert_eq!(w.get(), None);
    }
}
