//! Flushing: the drivers of the `rmq-store-flush` thread (async interval flush or sync
//! group commit) and of the `rmq-store-flush-cq` thread (consume queues, index, checkpoint),
//! the final flush at shutdown, and the group-commit rendezvous between sync-flush writers
//! and the flush thread.
//!
//! Group commit: a writer records the end offset it needs (`requested`), wakes the flusher
//! and sleeps on `done`. The flusher wakes on a request (or every 10 ms), flushes every
//! published byte once, then wakes all waiters; each one whose end is now durable returns.
//! The notify happens under the mutex after the flushed offset is stored, and waiters check
//! the offset under the same mutex, so no wake-up is lost.
//!
//! Invariant: every failed flush is sticky ([`Shared::fail`]); no flush is retried after it.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::config::FlushDiskType;
use crate::error::{PutError, StoreFailure};
use crate::fault::FaultPoint;
use crate::state::{Phase, Shared};

/// Longest nap of the group-commit flusher between requests.
const GROUP_COMMIT_IDLE: Duration = Duration::from_millis(10);

/// Body of the `rmq-store-flush` thread.
pub(crate) fn run_thread(s: &Shared) {
    match s.config.flush_disk_type {
        FlushDiskType::Async => run_async(s),
        FlushDiskType::Sync => run_group_commit(s),
    }
}

/// msyncs the published commitlog and advances the flushed store time.
pub(crate) fn flush_commitlog(s: &Shared) -> io::Result<()> {
    s.faults.check(FaultPoint::CommitlogMsync)?;
    let ts = s.commit_log.last_store_ts();
    s.commit_log.flush()?;
    s.progress.flushed_physic_ts.fetch_max(ts, Ordering::AcqRel);
    Ok(())
}

fn commitlog_failed(e: io::Error) -> StoreFailure {
    StoreFailure::CommitlogFlush { source: Arc::new(e) }
}

/// Async flush: every `flush_interval_ms`, when enough pages are dirty or a thorough flush
/// is due.
fn run_async(s: &Shared) {
    let interval = Duration::from_millis(s.config.flush_interval_ms);
    let thorough = Duration::from_millis(s.config.flush_thorough_interval_ms);
    let least = u64::from(s.config.flush_least_pages);
    let mut last_thorough = Instant::now();
    while !s.lifecycle.sleep(interval) {
        // Saturating: a flush may pass the end read first while an append is publishing.
        let dirty = s.commit_log.max_offset().saturating_sub(s.commit_log.flushed_offset());
        let is_thorough = last_thorough.elapsed() >= thorough;
        if dirty == 0 || (dirty / 4096 < least && !is_thorough) {
            continue;
        }
        if is_thorough {
            last_thorough = Instant::now();
        }
        if let Err(e) = flush_commitlog(s) {
            s.fail(commitlog_failed(e));
            return;
        }
    }
}

/// Sync flush: one msync per batch of waiting writers.
fn run_group_commit(s: &Shared) {
    while s.lifecycle.is_running() {
        let flushed = s.commit_log.flushed_offset();
        s.group_commit.wait_for_request(flushed, GROUP_COMMIT_IDLE);
        if s.failure.is_set() {
            s.group_commit.notify_all();
            s.lifecycle.sleep(GROUP_COMMIT_IDLE);
            continue;
        }
        if s.commit_log.max_offset() > s.commit_log.flushed_offset() {
            if let Err(e) = flush_commitlog(s) {
                s.fail(commitlog_failed(e));
            }
            s.group_commit.notify_all();
            s.dispatch.wake_now();
        }
    }
}

/// Waits until the commitlog is durable up to `end` (a sync-flush put).
pub(crate) fn wait_flushed(s: &Shared, end: u64) -> Result<(), PutError> {
    let timeout = Duration::from_millis(s.config.sync_flush_timeout_ms);
    let outcome = s.group_commit.wait(
        end,
        timeout,
        || s.commit_log.flushed_offset(),
        // A simulated crash ends waits at once; a clean stop lets the final flush end them.
        || s.failure.is_set() || s.lifecycle.phase() == Phase::Aborting,
    );
    match outcome {
        WaitOutcome::Flushed => Ok(()),
        WaitOutcome::TimedOut => Err(PutError::FlushDiskTimeout),
        WaitOutcome::Failed => match s.failure.get() {
            Some(f) => Err(PutError::StoreFailed { reason: f.clone() }),
            None => Err(PutError::NotWritable),
        },
    }
}

/// Body of the `rmq-store-flush-cq` thread.
pub(crate) fn run_logics_thread(s: &Shared) {
    let interval = Duration::from_millis(s.config.flush_consume_queue_interval_ms);
    while !s.lifecycle.sleep(interval) {
        if let Err(e) = flush_logics(s, None) {
            s.fail(StoreFailure::LogicsFlush { source: Arc::new(e) });
            return;
        }
    }
}

/// Flushes consume queues and index, then writes the checkpoint (with `clean_end` only at a
/// clean shutdown).
fn flush_logics(s: &Shared, clean_end: Option<u64>) -> io::Result<()> {
    s.faults.check(FaultPoint::LogicsFsync)?;
    let ts = s.progress.dispatched_ts.load(Ordering::Acquire);
    for q in s.queues.all() {
        q.flush()?;
    }
    if let Some(index) = &s.index {
        index.flush()?;
    }
    let mut cp = s.checkpoint.lock();
    cp.data.physic_ts = s.progress.flushed_physic_ts.load(Ordering::Acquire);
    cp.data.logics_ts = ts;
    cp.data.index_ts = ts;
    cp.data.clean_cl_end = clean_end;
    cp.persist()
}

/// Final flush at shutdown, after the threads stopped; returns whether the shutdown is
/// clean (only then may the abort file go).
pub(crate) fn final_flush(s: &Shared) -> bool {
    if s.failure.is_set() {
        return false;
    }
    if let Err(e) = flush_commitlog(s) {
        s.fail(commitlog_failed(e));
        return false;
    }
    let end = s.commit_log.max_offset();
    assert!(s.commit_log.flushed_offset() >= end, "a final flush leaves nothing unflushed");
    if let Err(f) = crate::dispatch::dispatch_rest(s, end) {
        s.fail(f);
        return false;
    }
    if s.progress.dispatched.load(Ordering::Acquire) < end {
        log::warn!("dispatch did not catch up before shutdown; next start will recover");
        return false;
    }
    if let Err(e) = flush_logics(s, Some(end)) {
        s.fail(StoreFailure::LogicsFlush { source: Arc::new(e) });
        return false;
    }
    true
}

/// Outcome of waiting for a flush.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitOutcome {
    /// The bytes are durable.
    Flushed,
    /// The deadline passed first.
    TimedOut,
    /// The store failed or stopped.
    Failed,
}

/// The group-commit rendezvous.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    requested: Mutex<u64>,
    wake_flusher: Condvar,
    done: Condvar,
}

impl GroupCommit {
    /// Waits until `flushed() >= end`, `failed()` or `timeout`.
    pub(crate) fn wait(
        &self,
        end: u64,
        timeout: Duration,
        flushed: impl Fn() -> u64,
        failed: impl Fn() -> bool,
    ) -> WaitOutcome {
        if flushed() >= end {
            return WaitOutcome::Flushed;
        }
        let deadline = Instant::now() + timeout;
        let mut requested = self.requested.lock();
        if *requested < end {
            *requested = end;
        }
        self.wake_flusher.notify_one();
        loop {
            if flushed() >= end {
                return WaitOutcome::Flushed;
            }
            if failed() {
                return WaitOutcome::Failed;
            }
            if self.done.wait_until(&mut requested, deadline).timed_out() {
                return if flushed() >= end { WaitOutcome::Flushed } else { WaitOutcome::TimedOut };
            }
        }
    }

    /// Flusher side: waits until some writer needs more than `flushed`, or `idle` passes.
    pub(crate) fn wait_for_request(&self, flushed: u64, idle: Duration) {
        let mut requested = self.requested.lock();
        if *requested <= flushed {
            self.wake_flusher.wait_for(&mut requested, idle);
        }
    }

    /// Flusher side: wakes every waiter after the flushed offset moved (or on failure).
    pub(crate) fn notify_all(&self) {
        let _guard = self.requested.lock();
        self.done.notify_all();
        self.wake_flusher.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    #[test]
    fn waiters_complete_after_flush_and_time_out_without() {
        let gc = Arc::new(GroupCommit::default());
        let flushed = Arc::new(AtomicU64::new(0));
        let out =
            gc.wait(10, Duration::from_millis(20), || flushed.load(Ordering::Acquire), || false);
        assert_eq!(out, WaitOutcome::TimedOut);
        let (gc2, f2) = (Arc::clone(&gc), Arc::clone(&flushed));
        let flusher = std::thread::spawn(move || {
            gc2.wait_for_request(0, Duration::from_secs(5));
            f2.store(100, Ordering::Release);
            gc2.notify_all();
        });
        let out = gc.wait(50, Duration::from_secs(5), || flushed.load(Ordering::Acquire), || false);
        assert_eq!(out, WaitOutcome::Flushed);
        flusher.join().unwrap();
    }
}
