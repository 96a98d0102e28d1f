//! Per-queue consumption state: which pulled messages are still being consumed, and therefore
//! which offset may be committed.
//!
//! **Invariant:** the committed offset is the lowest offset still in flight, or one past the
//! highest offset seen when nothing is in flight (Java `ProcessQueue.removeMessage`). One slow
//! message holds the commit back, so a restart re-delivers (never skips) what was not finished.
//!
//! **Orderly consumption** adds, per queue: the pulled messages waiting in offset order
//! ([`OrderlyBuffer`]), a flag saying a consume request of the queue exists (so at most one
//! does), the consume lock a worker holds while its batch runs (a rebalance waits for it before
//! handing the queue over), and the broker lock's state (granted, and when).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

use crate::protocol::body::queue::MessageQueue;
use crate::protocol::message::MessageExt;

/// A broker lock counts as held this long after it was last granted (Java
/// `rocketmq.client.rebalance.lockMaxLiveTime`); the broker keeps it for 60 s.
pub(crate) const LOCK_VALID_MS: u64 = 30_000;

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

/// Pulled messages of one queue waiting for an orderly listener, in offset order. Pure data.
#[derive(Debug, Default)]
pub(crate) struct OrderlyBuffer {
    waiting: BTreeMap<i64, MessageExt>,
    /// A consume request of this queue exists (queued, running or waiting out a suspend).
    scheduled: bool,
}

impl OrderlyBuffer {
    /// Adds pulled messages; true if the caller must schedule a consume request (none exists
    /// and there is something to consume).
    pub(crate) fn put(&mut self, messages: Vec<MessageExt>) -> bool {
        for m in messages {
            self.waiting.insert(m.queue_offset, m);
        }
        let dispatch = !self.scheduled && !self.waiting.is_empty();
        self.scheduled |= dispatch;
        dispatch
    }

    /// The next `n` messages in offset order; `None` (and no request scheduled any more) when
    /// nothing waits.
    pub(crate) fn take(&mut self, n: usize) -> Option<Vec<MessageExt>> {
        assert!(self.scheduled, "only the queue's one consume request takes messages");
        if self.waiting.is_empty() {
            self.scheduled = false;
            return None;
        }
        let mut batch = Vec::with_capacity(n.min(self.waiting.len()));
        while batch.len() < n {
            let Some((_, m)) = self.waiting.pop_first() else { break };
            batch.push(m);
        }
        Some(batch)
    }

    /// Puts a batch back to be delivered again first.
    pub(crate) fn put_back(&mut self, batch: Vec<MessageExt>) {
        for m in batch {
            self.waiting.insert(m.queue_offset, m);
        }
    }

    /// The queue's consume request is gone (queue dropped or consumer stopping).
    pub(crate) fn unschedule(&mut self) {
        self.scheduled = false;
    }

    /// Messages waiting.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
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
    /// Orderly consumption: messages waiting in offset order.
    orderly: Mutex<OrderlyBuffer>,
    /// Orderly consumption: held by the worker running a batch of this queue (listener call
    /// and offset update); a rebalance takes it before handing the queue over.
    consume_lock: Mutex<()>,
    /// Orderly consumption: whether the broker granted this client the queue's lock.
    locked: AtomicBool,
    /// When the broker lock was last granted (ms since the epoch).
    last_lock_ms: AtomicU64,
}

impl ProcessQueue {
    pub(crate) fn new(mq: MessageQueue) -> Self {
        Self {
            mq,
            tracker: Mutex::new(OffsetTracker::default()),
            dropped: AtomicBool::new(false),
            pull_lock: Mutex::new(()),
            orderly: Mutex::default(),
            consume_lock: Mutex::new(()),
            locked: AtomicBool::new(false),
            last_lock_ms: AtomicU64::new(0),
        }
    }

    /// The orderly buffer (see [`OrderlyBuffer`]).
    pub(crate) fn orderly(&self) -> MutexGuard<'_, OrderlyBuffer> {
        self.orderly.lock()
    }

    /// Taken by the worker consuming a batch of this queue in order.
    pub(crate) fn consume_guard(&self) -> MutexGuard<'_, ()> {
        self.consume_lock.lock()
    }

    /// [`ProcessQueue::consume_guard`], waiting at most `wait`.
    pub(crate) fn try_consume_guard_for(&self, wait: Duration) -> Option<MutexGuard<'_, ()>> {
        self.consume_lock.try_lock_for(wait)
    }

    /// Records the broker's answer to a lock request made at `now_ms`.
    pub(crate) fn set_locked(&self, locked: bool, now_ms: u64) {
        if locked {
            self.last_lock_ms.store(now_ms, Ordering::Release);
        }
        self.locked.store(locked, Ordering::Release);
    }

    /// Whether the broker lock was granted (the running info's `locked`).
    pub(crate) fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Acquire)
    }

    /// Whether the broker lock is granted and recent enough to consume under.
    pub(crate) fn is_lock_valid(&self, now_ms: u64) -> bool {
        let last = self.last_lock_ms.load(Ordering::Acquire);
        self.is_locked() && now_ms.saturating_sub(last) <= LOCK_VALID_MS
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

    fn msg(offset: i64) -> MessageExt {
        let host: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
        MessageExt {
            topic: "T".into(),
            queue_id: 0,
            flag: 0,
            queue_offset: offset,
            commit_log_offset: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: host,
            store_timestamp: 0,
            store_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body_crc: 0,
            body: Vec::new(),
            properties: BTreeMap::new(),
            offset_msg_id: String::new(),
        }
    }

    fn offsets(batch: &[MessageExt]) -> Vec<i64> {
        batch.iter().map(|m| m.queue_offset).collect()
    }

    #[test]
    fn orderly_buffer_schedules_one_request_and_hands_out_offset_order() {
        let mut b = OrderlyBuffer::default();
        assert!(!b.put(Vec::new()), "nothing to consume");
        assert!(b.put(vec![msg(5), msg(3)]), "the first put schedules");
        assert!(!b.put(vec![msg(4)]), "one request per queue");
        assert_eq!(offsets(&b.take(2).unwrap()), vec![3, 4]);
        let last = b.take(2).unwrap();
        assert_eq!(offsets(&last), vec![5]);
        b.put_back(last);
        assert_eq!(b.len(), 1);
        assert_eq!(offsets(&b.take(2).unwrap()), vec![5], "a suspended batch comes back first");
        assert!(b.take(2).is_none(), "empty: the request ends");
        assert!(b.put(vec![msg(6)]), "so the next put schedules again");
        b.unschedule();
        assert!(b.put(vec![msg(7)]), "unscheduled: the next put schedules again");
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn a_lock_is_valid_for_thirty_seconds_after_it_was_granted() {
        let pq = ProcessQueue::new(MessageQueue::new("T", "b", 0));
        assert!(!pq.is_lock_valid(0), "never granted");
        pq.set_locked(true, 1_000);
        assert!(pq.is_locked() && pq.is_lock_valid(1_000 + LOCK_VALID_MS));
        assert!(!pq.is_lock_valid(1_001 + LOCK_VALID_MS), "expired");
        pq.set_locked(false, 2_000);
        assert!(!pq.is_lock_valid(2_000), "refused on renewal");
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
