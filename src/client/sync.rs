//! Small blocking primitives the client threads share: a counting [`Semaphore`] with RAII
//! permits (bounds async sends in flight) and a channel-based stop signal ([`stop_pair`]) that
//! wakes sleeping or selecting loops at shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TryRecvError};
use parking_lot::{Condvar, Mutex};

/// How often a waiter looks for a free permit without being woken.
const RECHECK: Duration = Duration::from_millis(1);

/// A counting semaphore.
#[derive(Debug)]
pub(crate) struct Semaphore {
    available: Mutex<usize>,
    max: usize,
    /// Free permits at which waiters are woken (a quarter of `max`, at least 1).
    wake_at: usize,
    changed: Condvar,
}

/// One acquired unit; released on drop.
#[derive(Debug)]
pub(crate) struct Permit(Arc<Semaphore>);

impl Drop for Permit {
    fn drop(&mut self) {
        let sem = &self.0;
        let mut available = sem.available.lock();
        *available += 1;
        // A waiter is woken once a few permits are free, not for each: it then takes them
        // back to back (and its sends share a `write`) instead of waking once per completion.
        if *available >= sem.wake_at || *available == sem.max {
            sem.changed.notify_all();
        }
    }
}

impl Semaphore {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        let wake_at = (max / 4).max(1);
        Arc::new(Self { available: Mutex::new(max), max, wake_at, changed: Condvar::new() })
    }

    /// Waits up to `timeout` for a permit.
    pub(crate) fn acquire(self: &Arc<Self>, timeout: Duration) -> Option<Permit> {
        let deadline = Instant::now() + timeout;
        let mut available = self.available.lock();
        while *available == 0 {
            // Releases wake waiters only once `wake_at` permits are free; if fewer ever come
            // back (most sends stuck on a dead broker), look again every millisecond.
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let _ = self.changed.wait_until(&mut available, deadline.min(now + RECHECK));
        }
        *available -= 1;
        Some(Permit(Arc::clone(self)))
    }

    /// Waits up to `timeout` until every permit is back; returns whether they are.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut available = self.available.lock();
        while *available < self.max {
            if self.changed.wait_until(&mut available, deadline).timed_out() {
                return *available == self.max;
            }
        }
        true
    }

    /// Permits currently taken.
    pub(crate) fn in_use(&self) -> usize {
        self.max - *self.available.lock()
    }
}

/// The receiving half of a stop signal: dropping the matching [`StopHandle`] stops every loop
/// holding a clone, at once, even one blocked in `select!` on [`Stopper::receiver`].
#[derive(Debug, Clone)]
pub(crate) struct Stopper(Receiver<()>);

/// Stops the [`Stopper`]s made with it when dropped (or on [`StopHandle::stop`]).
#[derive(Debug)]
pub(crate) struct StopHandle(Option<Sender<()>>);

/// A connected pair.
pub(crate) fn stop_pair() -> (StopHandle, Stopper) {
    let (tx, rx) = bounded(0);
    (StopHandle(Some(tx)), Stopper(rx))
}

impl StopHandle {
    pub(crate) fn stop(&mut self) {
        self.0.take();
    }
}

impl Stopper {
    /// Whether the handle is gone.
    pub(crate) fn is_stopped(&self) -> bool {
        matches!(self.0.try_recv(), Err(TryRecvError::Disconnected))
    }

    /// Sleeps up to `d`; returns true if stopped (now or while sleeping).
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        matches!(self.0.recv_timeout(d), Err(RecvTimeoutError::Disconnected))
    }

    /// For `select!`: becomes ready (with an error) once stopped.
    pub(crate) fn receiver(&self) -> &Receiver<()> {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_bound_and_return() {
        let sem = Semaphore::new(2);
        let a = sem.acquire(Duration::ZERO).unwrap();
        let _b = sem.acquire(Duration::ZERO).unwrap();
        assert!(sem.acquire(Duration::from_millis(10)).is_none());
        assert_eq!(sem.in_use(), 2);
        assert!(!sem.wait_idle(Duration::from_millis(5)));
        drop(a);
        assert!(sem.acquire(Duration::ZERO).is_some());
        let sem2 = Arc::clone(&sem);
        let t = std::thread::spawn(move || sem2.acquire(Duration::from_secs(5)).is_some());
        drop(_b);
        assert!(t.join().unwrap());
        assert!(sem.wait_idle(Duration::from_secs(1)));
    }

    #[test]
    fn stop_wakes_sleepers() {
        let (mut handle, stopper) = stop_pair();
        assert!(!stopper.is_stopped());
        assert!(!stopper.sleep(Duration::from_millis(1)));
        let s2 = stopper.clone();
        let start = Instant::now();
        let t = std::thread::spawn(move || s2.sleep(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        handle.stop();
        assert!(t.join().unwrap());
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(stopper.sleep(Duration::from_secs(30)), "already stopped: returns at once");
        assert!(stopper.is_stopped());
    }
}
