//! Flush coordination: the stop signal used by every background thread and the group
//! commit rendezvous between sync-flush writers and the flush thread.
//!
//! Group commit: a writer records the end offset it needs (`requested`), wakes the flusher
//! and sleeps on `done`. The flusher wakes on a request (or every 10 ms), flushes every
//! published byte once, then wakes all waiters; each one whose end is now durable returns.
//! The notify happens under the mutex after the flushed offset is stored, and waiters check
//! the offset under the same mutex, so no wake-up is lost.

use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// A stop flag that sleeping threads can wait on.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl Signal {
    /// Sleeps up to `d`; returns true if stop was requested.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        let mut stopped = self.stopped.lock();
        if !*stopped {
            self.cv.wait_for(&mut stopped, d);
        }
        *stopped
    }

    /// Requests stop and wakes sleepers.
    pub(crate) fn stop(&self) {
        *self.stopped.lock() = true;
        self.cv.notify_all();
    }
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
