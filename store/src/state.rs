//! The state the store's threads share, split by owner instead of one bag of atomics:
//!
//! * [`Lifecycle`]: the one shutdown state (running, stopping, aborting) every thread
//!   watches and sleeps on; written only by `MessageStore::shutdown` and the crash helpers.
//! * [`Failure`]: the sticky failure, a typed [`StoreFailure`] set once by whichever thread
//!   fails first; puts read it to refuse writes.
//! * [`Counters`]: put statistics, written by putting threads.
//! * [`Progress`]: how far dispatch and flush got, written by their threads.
//! * [`DiskState`]: disk usage and the disk-full refusal, written by the cleanup thread, by
//!   putting threads every few MiB written and on a segment allocation that found no space.
//!
//! Invariants: the phase only moves away from `Running`, once; the failure is set at most
//! once; `progress.dispatched` never exceeds the commitlog end.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::checkpoint::Checkpoint;
use crate::commit_log::CommitLog;
use crate::config::{FlushDiskType, StoreConfig};
use crate::consume_queue::ConsumeQueueTable;
use crate::dispatch::{DispatchTargets, DispatchWake};
use crate::error::StoreFailure;
use crate::fault::Faults;
use crate::flush::GroupCommit;
use crate::index::IndexService;
use crate::offset::{QueueId, QueueOffset};
use crate::replication::ConfirmWatermark;
use crate::types::DiskFullCause;

/// Called by the dispatch thread with (topic, queue, new max offset) after a queue grew.
pub type ArrivalListener = Arc<dyn Fn(&str, QueueId, QueueOffset) + Send + Sync>;

/// Everything the store's threads share. Each field has one writer (see the module docs).
pub(crate) struct Shared {
    pub config: StoreConfig,
    pub commit_log: CommitLog,
    pub queues: ConsumeQueueTable,
    pub index: Option<IndexService>,
    pub checkpoint: Mutex<Checkpoint>,
    pub lifecycle: Lifecycle,
    pub failure: Failure,
    pub counters: Counters,
    pub progress: Progress,
    pub disk: DiskState,
    /// Written by the page-cache keeper: commitlog bytes below this were evicted.
    pub cache_evicted: AtomicU64,
    pub group_commit: GroupCommit,
    pub dispatch: DispatchWake,
    pub listener: RwLock<Option<ArrivalListener>>,
    pub confirm: ConfirmWatermark,
    pub faults: Faults,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("store_path", &self.config.store_path).finish()
    }
}

impl Shared {
    /// Marks the store failed (sticky) and wakes every waiter.
    pub(crate) fn fail(&self, failure: StoreFailure) {
        self.failure.set(failure);
        self.group_commit.notify_all();
    }

    /// End of what readers and dispatch may see: the written end (the flushed end under sync
    /// flush), capped by the replication confirm watermark when one is set.
    pub(crate) fn confirm_offset(&self) -> u64 {
        let end = match self.config.flush_disk_type {
            FlushDiskType::Async => self.commit_log.max_offset(),
            FlushDiskType::Sync => self.commit_log.flushed_offset(),
        };
        end.min(self.confirm.limit())
    }

    /// What dispatch writes to.
    pub(crate) fn targets(&self) -> DispatchTargets<'_> {
        DispatchTargets {
            commit_log: &self.commit_log,
            queues: &self.queues,
            index: self.index.as_ref(),
            delay_levels_ms: &self.config.delay_levels_ms,
            faults: &self.faults,
        }
    }
}

/// Where the store is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Serving.
    Running,
    /// Clean shutdown: threads finish their work (dispatch catches up) and exit.
    Stopping,
    /// Simulated crash: threads exit at once, nothing more is written.
    Aborting,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Running,
            1 => Phase::Stopping,
            _ => Phase::Aborting,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            Phase::Running => 0,
            Phase::Stopping => 1,
            Phase::Aborting => 2,
        }
    }
}

/// The one shutdown state, with a condition variable sleeping threads wait on.
#[derive(Debug, Default)]
pub(crate) struct Lifecycle {
    phase: AtomicU8,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Lifecycle {
    /// The current phase.
    pub(crate) fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    /// Whether the store still serves.
    pub(crate) fn is_running(&self) -> bool {
        self.phase() == Phase::Running
    }

    /// Leaves `Running` for `to` and wakes sleepers. Returns false if the store had already
    /// left it, so exactly one caller shuts the store down.
    pub(crate) fn stop(&self, to: Phase) -> bool {
        assert!(to != Phase::Running, "a store never restarts");
        let _guard = self.lock.lock();
        let first =
            self.phase.compare_exchange(0, to.as_u8(), Ordering::AcqRel, Ordering::Acquire).is_ok();
        self.cv.notify_all();
        first
    }

    /// Sleeps up to `d`; returns true if the store no longer runs.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        let mut guard = self.lock.lock();
        if self.is_running() {
            self.cv.wait_for(&mut guard, d);
        }
        !self.is_running()
    }
}

/// The sticky failure: set once, read by every put.
#[derive(Debug, Default)]
pub(crate) struct Failure {
    first: OnceLock<StoreFailure>,
}

impl Failure {
    /// Records `failure` unless an earlier one is recorded; logs it either way.
    pub(crate) fn set(&self, failure: StoreFailure) {
        let shown = failure.to_string();
        if self.first.set(failure).is_ok() {
            log::error!("{shown}; the store refuses writes until restarted");
        } else {
            log::warn!("{shown} (the store had already failed)");
        }
    }

    /// The first failure, if any.
    pub(crate) fn get(&self) -> Option<&StoreFailure> {
        self.first.get()
    }

    /// Whether the store failed.
    pub(crate) fn is_set(&self) -> bool {
        self.first.get().is_some()
    }
}

/// Put statistics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub puts: AtomicU64,
    pub put_bytes: AtomicU64,
    pub put_failures: AtomicU64,
    pub flush_timeouts: AtomicU64,
}

/// How far dispatch and the commitlog flush got.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Commitlog offset below which consume queues and index are built.
    pub dispatched: AtomicU64,
    /// Store time of the last dispatched record.
    pub dispatched_ts: AtomicI64,
    /// Store time of the last record known flushed in the commitlog.
    pub flushed_physic_ts: AtomicI64,
}

impl Progress {
    /// Progress as recovery left it.
    pub(crate) fn new(dispatched: u64, dispatched_ts: i64) -> Progress {
        Progress {
            dispatched: AtomicU64::new(dispatched),
            dispatched_ts: AtomicI64::new(dispatched_ts),
            flushed_physic_ts: AtomicI64::new(dispatched_ts),
        }
    }
}

/// Disk usage as last measured (by the cleanup thread, by a putting thread every
/// `check_every` bytes written, at segment allocation) and whether writes are refused for it.
#[derive(Debug, Default)]
pub(crate) struct DiskState {
    pub full: AtomicBool,
    pub used_percent: AtomicU8,
    /// Why `full` is set: 0 not full, else a `DiskFullCause` code.
    cause: AtomicU8,
    /// Commitlog offset at which a putting thread measures the disk next.
    pub next_check: AtomicU64,
    /// Bytes written between two measurements by putting threads.
    pub check_every: u64,
    /// The allocator thread's last segment pre-creation failed.
    pub alloc_failed: AtomicBool,
    /// The store opened on a full disk (read-only until space is freed).
    pub opened_full: AtomicBool,
}

impl DiskState {
    /// A state measured at open: `used` percent, full if above `hard_limit`.
    pub(crate) fn at_open(used: u8, hard_limit: u8, written: u64, check_every: u64) -> Self {
        assert!(check_every > 0, "the disk is measured at some write volume");
        let d = DiskState {
            used_percent: AtomicU8::new(used),
            next_check: AtomicU64::new(written.saturating_add(check_every)),
            check_every,
            ..DiskState::default()
        };
        if used > hard_limit {
            d.set_full(used, DiskFullCause::Watermark);
        }
        d
    }

    /// Refuses writes from now on for `cause`, with the disk at `used` percent. Logs when
    /// writes were accepted until now.
    pub(crate) fn set_full(&self, used: u8, cause: DiskFullCause) {
        self.used_percent.store(used, Ordering::Relaxed);
        self.cause.store(cause_code(cause), Ordering::Relaxed);
        if !self.full.swap(true, Ordering::AcqRel) {
            match cause {
                DiskFullCause::Watermark => log::error!("disk {used}% full: refusing writes"),
                DiskFullCause::NoSpace => {
                    log::error!("no space left on the store's disk ({used}% used): refusing writes")
                }
            }
        }
    }

    /// Accepts writes again (usage dropped to `used` percent). Logs if they were refused.
    pub(crate) fn clear(&self, used: u8) {
        self.used_percent.store(used, Ordering::Relaxed);
        if self.full.swap(false, Ordering::AcqRel) {
            self.cause.store(0, Ordering::Relaxed);
            self.opened_full.store(false, Ordering::Relaxed);
            log::warn!("disk {used}% full: accepting writes again");
        }
    }

    /// Why writes are refused, if they are.
    pub(crate) fn cause(&self) -> Option<DiskFullCause> {
        if !self.full.load(Ordering::Acquire) {
            return None;
        }
        match self.cause.load(Ordering::Relaxed) {
            2 => Some(DiskFullCause::NoSpace),
            _ => Some(DiskFullCause::Watermark),
        }
    }
}

fn cause_code(cause: DiskFullCause) -> u8 {
    match cause {
        DiskFullCause::Watermark => 1,
        DiskFullCause::NoSpace => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_stops_once() {
        let l = Lifecycle::default();
        assert!(l.is_running());
        assert!(!l.sleep(Duration::from_millis(1)));
        assert!(l.stop(Phase::Stopping));
        assert!(!l.stop(Phase::Aborting), "the first stop wins");
        assert_eq!(l.phase(), Phase::Stopping);
        assert!(l.sleep(Duration::from_secs(60)), "a stopped lifecycle does not sleep");
    }
}
