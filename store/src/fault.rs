//! Fault injection for tests: makes the store's msync, fsync and consume-queue writes fail
//! on demand, so tests can drive the sticky-failure path without a broken disk, and
//! simulates a full disk under a store directory (`simulate_disk`: the usage the
//! watermark checks read, and `ENOSPC` from file creation).
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
pub use armed::{simulate_disk, Faults, SimulatedDisk};
#[cfg(any(test, feature = "testing"))]
pub(crate) use armed::{simulated_no_space, simulated_used_percent};
#[cfg(not(any(test, feature = "testing")))]
pub use disarmed::Faults;
#[cfg(not(any(test, feature = "testing")))]
pub(crate) use disarmed::{simulated_no_space, simulated_used_percent};

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

    /// Production stand-in: the disk is what `statvfs` says.
    #[inline(always)]
    pub(crate) fn simulated_used_percent(_path: &std::path::Path) -> Option<u8> {
        None
    }

    /// Production stand-in: file creation is never refused here.
    #[inline(always)]
    pub(crate) fn simulated_no_space(_path: &std::path::Path) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(any(test, feature = "testing"))]
mod armed {
    use std::path::{Path, PathBuf};
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

    /// A simulated file system under a store directory (see [`simulate_disk`]).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct SimulatedDisk {
        /// What disk-usage checks read instead of `statvfs`.
        pub used_percent: u8,
        /// Creating or reserving a file fails with `ENOSPC`, as on a full file system.
        pub no_space: bool,
    }

    /// Simulated disks by directory. Process-wide (file creation has no store at hand), so
    /// each entry is keyed by the store directory it applies to.
    static DISKS: parking_lot::Mutex<Vec<(PathBuf, SimulatedDisk)>> =
        parking_lot::const_mutex(Vec::new());

    /// Makes every file under `root` live on a simulated disk (`None`: the real one again).
    /// Applies to stores opened later too, so a test can open a store on a "full disk".
    pub fn simulate_disk(root: &Path, disk: Option<SimulatedDisk>) {
        let mut disks = DISKS.lock();
        disks.retain(|(p, _)| p != root);
        if let Some(d) = disk {
            disks.push((root.to_path_buf(), d));
        }
    }

    fn simulated(path: &Path) -> Option<SimulatedDisk> {
        DISKS.lock().iter().find(|(root, _)| path.starts_with(root)).map(|(_, d)| *d)
    }

    /// The simulated usage of the disk holding `path`, if one is simulated.
    pub(crate) fn simulated_used_percent(path: &Path) -> Option<u8> {
        simulated(path).map(|d| d.used_percent)
    }

    /// `ENOSPC` if `path` lies on a simulated full disk.
    pub(crate) fn simulated_no_space(path: &Path) -> io::Result<()> {
        match simulated(path) {
            Some(d) if d.no_space => Err(io::Error::from_raw_os_error(libc::ENOSPC)),
            _ => Ok(()),
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
