//! Fault injection for tests: makes the store's msync, fsync and consume-queue writes fail
//! on demand, so tests can drive the sticky-failure path without a broken disk.
//!
//! Production builds (neither `cfg(test)` nor the `testing` feature) get a zero-sized
//! [`Faults`] whose [`Faults::check`] is an inlined `Ok(())`: the seam costs nothing there.
//! Test builds count down per [`FaultPoint`]: once the given number of operations has
//! succeeded, every later one fails, like a disk that died (redb's I/O countdown).

use std::io;

/// A place on the durable path where a test can make I/O fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultPoint {
    /// The `msync` of the commitlog (flush thread, group commit, final flush).
    CommitlogMsync,
    /// The flush of consume queues and index files and the checkpoint's `fdatasync`.
    LogicsFsync,
    /// Writing a consume-queue or index entry (dispatch).
    ConsumeQueueWrite,
}

impl FaultPoint {
    /// Every fault point.
    #[cfg(any(test, feature = "testing"))]
    pub const ALL: [FaultPoint; 3] =
        [FaultPoint::CommitlogMsync, FaultPoint::LogicsFsync, FaultPoint::ConsumeQueueWrite];

    #[cfg(any(test, feature = "testing"))]
    fn index(self) -> usize {
        match self {
            FaultPoint::CommitlogMsync => 0,
            FaultPoint::LogicsFsync => 1,
            FaultPoint::ConsumeQueueWrite => 2,
        }
    }
}

#[cfg(any(test, feature = "testing"))]
pub use armed::Faults;
#[cfg(not(any(test, feature = "testing")))]
pub use disarmed::Faults;

#[cfg(not(any(test, feature = "testing")))]
mod disarmed {
    use super::*;

    /// Production stand-in: no state, never fails.
    #[derive(Debug, Default)]
    pub struct Faults;

    impl Faults {
        /// Always succeeds.
        #[inline(always)]
        pub(crate) fn check(&self, _point: FaultPoint) -> io::Result<()> {
            Ok(())
        }
    }
}

#[cfg(any(test, feature = "testing"))]
mod armed {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// Marks a point that is not armed.
    const DISARMED: u64 = u64::MAX;

    /// Per-point countdowns of operations that still succeed.
    #[derive(Debug)]
    pub struct Faults {
        countdown: [AtomicU64; FaultPoint::ALL.len()],
    }

    impl Default for Faults {
        fn default() -> Self {
            Faults { countdown: std::array::from_fn(|_| AtomicU64::new(DISARMED)) }
        }
    }

    impl Faults {
        /// Lets `successes` more operations at `point` succeed, then fails every later one.
        pub fn fail_after(&self, point: FaultPoint, successes: u64) {
            assert!(successes < DISARMED, "countdown too large");
            self.countdown[point.index()].store(successes, Ordering::SeqCst);
        }

        /// Stops failing operations at `point`.
        pub fn clear(&self, point: FaultPoint) {
            self.countdown[point.index()].store(DISARMED, Ordering::SeqCst);
        }

        /// Fails if `point` is armed and its countdown has run out; counts down otherwise.
        pub(crate) fn check(&self, point: FaultPoint) -> io::Result<()> {
            let c = &self.countdown[point.index()];
            let mut left = c.load(Ordering::SeqCst);
            loop {
                if left == DISARMED {
                    return Ok(());
                }
                if left == 0 {
                    return Err(io::Error::other(format!("injected {point:?} fault")));
                }
                match c.compare_exchange(left, left - 1, Ordering::SeqCst, Ordering::SeqCst) {
                    Ok(_) => return Ok(()),
                    Err(now) => left = now,
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn countdown_then_fail_forever_until_cleared() {
            let f = Faults::default();
            assert!(f.check(FaultPoint::CommitlogMsync).is_ok());
            f.fail_after(FaultPoint::CommitlogMsync, 2);
            assert!(f.check(FaultPoint::CommitlogMsync).is_ok());
            assert!(f.check(FaultPoint::LogicsFsync).is_ok());
            assert!(f.check(FaultPoint::CommitlogMsync).is_ok());
            assert!(f.check(FaultPoint::CommitlogMsync).is_err());
            assert!(f.check(FaultPoint::CommitlogMsync).is_err());
            f.clear(FaultPoint::CommitlogMsync);
            assert!(f.check(FaultPoint::CommitlogMsync).is_ok());
        }
    }
}
