//! Per-queue consumption state: which pulled messages are still being consumed, and therefore
//! which offset may be committed.
//!
//! **Invariant:** the committed offset is the lowest offset still in flight, or one past the
//! highest offset seen when nothing is in flight (Java `ProcessQueue.removeMessage`). One slow
//! message holds the commit back, so a restart re-delivers (never skips) what was not finished.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, MutexGuard};

use crate::protocol::body::queue::MessageQueue;

/// Messages of one queue that were pulled but not yet consumed. Pure data.
#[derive(Debug, Default, Clone)]
pub struct OffsetTracker {
    in_flight: BTreeMap<i64, usize>,
    bytes: usize,
    max_offset: Option<i64>,
}

impl OffsetTracker {
    /// Records pulled messages as `(queue offset, body size)`; duplicates are ignored.
    pub fn put(&mut self, messages: impl IntoIterator<Item = (i64, usize)>) {
        for (offset, size) in messages {
            if let std::collections::btree_map::Entry::Vacant(e) = self.in_flight.entry(offset) {
                e.insert(size);
                self.bytes += size;
            }
            self.max_offset = Some(self.max_offset.map_or(offset, |m| m.max(offset)));
        }
    }

    /// Marks messages consumed and returns the offset that may now be committed; `None` when
    /// nothing was ever pulled.
    pub fn remove(&mut self, offsets: impl IntoIterator<Item = i64>) -> Option<i64> {
        for offset in offsets {
            if let Some(size) = self.in_flight.remove(&offset) {
                self.bytes -= size;
            }
        }
        self.committable()
    }

    /// The lowest offset in flight, else one past the highest offset seen.
    pub fn committable(&self) -> Option<i64> {
        match self.in_flight.keys().next() {
            Some(first) => Some(*first),
            None => self.max_offset.map(|m| m + 1),
        }
    }

    /// Messages in flight.
    pub fn count(&self) -> usize {
        self.in_flight.len()
    }

    /// Body bytes in flight.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Distance between the highest and lowest offsets in flight (0 when empty).
    pub fn span(&self) -> i64 {
        match (self.in_flight.keys().next(), self.in_flight.keys().next_back()) {
            (Some(first), Some(last)) => last - first,
            _ => 0,
        }
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }
}

/// A queue assigned to this consumer: its tracker plus the dropped flag that tells the pull loop
/// and the consume workers to stop touching it.
#[derive(Debug)]
pub(crate) struct ProcessQueue {
    pub mq: MessageQueue,
    tracker: Mutex<OffsetTracker>,
    dropped: AtomicBool,
    /// Held by a push consumer's pull thread while it handles a pull answer of this queue (it
    /// may move the queue's offset); [`ProcessQueue::release`] waits for it.
    pull_lock: Mutex<()>,
}

impl ProcessQueue {
    pub(crate) fn new(mq: MessageQueue) -> Self {
        Self {
            mq,
            tracker: Mutex::new(OffsetTracker::default()),
            dropped: AtomicBool::new(false),
            pull_lock: Mutex::new(()),
        }
    }

    /// Taken while handling a pull answer; check [`ProcessQueue::is_dropped`] under it.
    pub(crate) fn pull_guard(&self) -> MutexGuard<'_, ()> {
        self.pull_lock.lock()
    }

    /// Marks the queue dropped and waits until no pull answer of it is being handled: after
    /// this returns, the pull side never moves the queue's offset again.
    pub(crate) fn release(&self) {
        self.mark_dropped();
        drop(self.pull_guard());
        assert!(self.is_dropped());
    }

    pub(crate) fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::Acquire)
    }

    pub(crate) fn mark_dropped(&self) {
        self.dropped.store(true, Ordering::Release);
    }

    pub(crate) fn put(&self, messages: impl IntoIterator<Item = (i64, usize)>) {
        self.tracker.lock().put(messages);
    }

    pub(crate) fn remove(&self, offsets: impl IntoIterator<Item = i64>) -> Option<i64> {
        self.tracker.lock().remove(offsets)
    }

    /// `(count, bytes, span)` for flow control.
    pub(crate) fn load(&self) -> (usize, usize, i64) {
        let t = self.tracker.lock();
        (t.count(), t.bytes(), t.span())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tracker.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_is_lowest_unconsumed() {
        let mut t = OffsetTracker::default();
        assert_eq!(t.committable(), None);
        t.put([(10, 1), (11, 2), (12, 3)]);
        assert_eq!((t.count(), t.bytes(), t.span()), (3, 6, 2));
        assert_eq!(t.remove([11]), Some(10), "10 still in flight");
        assert_eq!(t.remove([10]), Some(12));
        assert_eq!(t.remove([12]), Some(13), "empty: one past the highest");
        assert_eq!(t.bytes(), 0);
        assert!(t.is_empty());
    }

    #[test]
    fn duplicates_and_unknown_offsets_are_harmless() {
        let mut t = OffsetTracker::default();
        t.put([(5, 10), (5, 10)]);
        assert_eq!((t.count(), t.bytes()), (1, 10));
        assert_eq!(t.remove([99]), Some(5));
        assert_eq!(t.remove([5, 5]), Some(6));
        t.put([(3, 1)]);
        assert_eq!(t.committable(), Some(3), "a re-pulled lower offset holds the commit back");
    }

    #[test]
    fn process_queue_drop_flag() {
        let pq = ProcessQueue::new(MessageQueue::new("T", "b", 0));
        assert!(!pq.is_dropped() && pq.is_empty());
        pq.put([(0, 4)]);
        assert_eq!(pq.load(), (1, 4, 0));
        pq.mark_dropped();
        assert!(pq.is_dropped());
        assert_eq!(pq.remove([0]), Some(1));
    }

    #[test]
    fn release_waits_for_a_pull_answer_being_handled() {
        let pq = std::sync::Arc::new(ProcessQueue::new(MessageQueue::new("T", "b", 0)));
        let (held_tx, held_rx) = crossbeam_channel::bounded(0);
        let (go_tx, go_rx) = crossbeam_channel::bounded::<()>(0);
        let holder = {
            let pq = std::sync::Arc::clone(&pq);
            std::thread::spawn(move || {
                let _guard = pq.pull_guard();
                held_tx.send(()).unwrap();
                let _ = go_rx.recv();
            })
        };
        held_rx.recv().unwrap();
        let (released_tx, released_rx) = crossbeam_channel::bounded(1);
        let releaser = {
            let pq = std::sync::Arc::clone(&pq);
            std::thread::spawn(move || {
                pq.release();
                released_tx.send(()).unwrap();
            })
        };
        // While the guard is held, release cannot have returned (this can only pass wrongly,
        // never fail wrongly).
        assert!(released_rx.recv_timeout(std::time::Duration::from_millis(20)).is_err());
        drop(go_tx);
        holder.join().unwrap();
        released_rx.recv().unwrap();
        releaser.join().unwrap();
        assert!(pq.is_dropped());
    }
}
