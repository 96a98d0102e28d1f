//! Queue locks of orderly consumers (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ; STORAGE.md §12): for each
//! consumer group, which client holds which queue, and when it last renewed the lock.
//!
//! A lock request gets back the subset of its queues it now holds: those that were free,
//! already its own, or whose holder has not renewed for `max_live_ms` (60 s by default). A queue
//! held by another live client is refused. Unlock releases only the caller's own locks, and a
//! client whose connection closes loses its locks at once. Locks are per broker: each master of
//! a topic locks its own queues.
//!
//! **Invariant:** a queue has at most one holder per group; a holder is replaced only when it
//! asks to unlock, its connection closes, or its lock expired.

use std::collections::HashMap;

use parking_lot::Mutex;
use rocketmq_net::ConnectionId;

use crate::protocol::body::queue::MessageQueue;

/// Default lock lifetime without renewal (Java `rocketmq.broker.rebalance.lockMaxLiveTime`).
pub const DEFAULT_LOCK_MAX_LIVE_MS: u64 = 60_000;

/// Who holds a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Holder {
    client_id: String,
    /// The connection the last lock came in on; its closing releases the lock.
    conn: ConnectionId,
    last_update_ms: u64,
}

impl Holder {
    fn is_live(&self, now_ms: u64, max_live_ms: u64) -> bool {
        now_ms.saturating_sub(self.last_update_ms) <= max_live_ms
    }
}

/// The lock table proper: plain data, the clock passed in.
#[derive(Debug, Default)]
struct Locks {
    groups: HashMap<String, HashMap<MessageQueue, Holder>>,
}

/// One lock request: who asks, from which connection, when.
#[derive(Debug, Clone, Copy)]
pub struct Locker<'a> {
    /// The consumer group.
    pub group: &'a str,
    /// The client id of the consumer.
    pub client_id: &'a str,
    /// The connection the request came in on.
    pub conn: ConnectionId,
    /// The broker's clock, in ms.
    pub now_ms: u64,
}

impl Locks {
    fn lock(
        &mut self,
        who: Locker<'_>,
        mqs: &[MessageQueue],
        max_live_ms: u64,
    ) -> Vec<MessageQueue> {
        let table = self.groups.entry(who.group.to_string()).or_default();
        // Expired holders of other queues are forgotten here, so the table stays bounded by
        // the queues that live clients hold.
        table.retain(|_, h| h.is_live(who.now_ms, max_live_ms));
        let mut granted = Vec::with_capacity(mqs.len());
        for mq in mqs {
            let free = table.get(mq).is_none_or(|h| {
                h.client_id == who.client_id || !h.is_live(who.now_ms, max_live_ms)
            });
            if free {
                let holder = Holder {
                    client_id: who.client_id.to_string(),
                    conn: who.conn,
                    last_update_ms: who.now_ms,
                };
                table.insert(mq.clone(), holder);
                granted.push(mq.clone());
            }
        }
        assert!(granted
            .iter()
            .all(|mq| table.get(mq).is_some_and(|h| h.client_id == who.client_id)));
        if table.is_empty() {
            self.groups.remove(who.group);
        }
        granted
    }

    fn unlock(&mut self, group: &str, client_id: &str, mqs: &[MessageQueue]) {
        let Some(table) = self.groups.get_mut(group) else { return };
        for mq in mqs {
            if table.get(mq).is_some_and(|h| h.client_id == client_id) {
                table.remove(mq);
            }
        }
        if table.is_empty() {
            self.groups.remove(group);
        }
    }

    fn connection_closed(&mut self, conn: ConnectionId) -> usize {
        let mut released = 0;
        for table in self.groups.values_mut() {
            let before = table.len();
            table.retain(|_, h| h.conn != conn);
            released += before - table.len();
        }
        self.groups.retain(|_, table| !table.is_empty());
        released
    }

    fn has_live_lock(&self, group: &str, now_ms: u64, max_live_ms: u64) -> bool {
        self.groups
            .get(group)
            .is_some_and(|table| table.values().any(|h| h.is_live(now_ms, max_live_ms)))
    }

    fn holder(
        &self,
        group: &str,
        mq: &MessageQueue,
        now_ms: u64,
        max_live_ms: u64,
    ) -> Option<&str> {
        let h = self.groups.get(group)?.get(mq)?;
        h.is_live(now_ms, max_live_ms).then_some(h.client_id.as_str())
    }
}

/// The broker's queue locks, behind one short lock (taken only by lock requests, connection
/// close and the orderly DLQ rule, never on the plain send path).
#[derive(Debug)]
pub struct LockTable {
    max_live_ms: u64,
    locks: Mutex<Locks>,
}

impl LockTable {
    /// An empty table whose locks expire `max_live_ms` after their last renewal.
    pub fn new(max_live_ms: u64) -> Self {
        assert!(max_live_ms > 0, "a lock must live for some time");
        Self { max_live_ms, locks: Mutex::default() }
    }

    /// Locks (or renews) `mqs` for the caller; returns those it now holds, in request order.
    pub fn lock(&self, who: Locker<'_>, mqs: &[MessageQueue]) -> Vec<MessageQueue> {
        self.locks.lock().lock(who, mqs, self.max_live_ms)
    }

    /// Releases those of `mqs` that `client_id` holds in `group`; others are left alone.
    pub fn unlock(&self, group: &str, client_id: &str, mqs: &[MessageQueue]) {
        self.locks.lock().unlock(group, client_id, mqs);
    }

    /// Releases every lock taken over `conn`; returns how many.
    pub fn connection_closed(&self, conn: ConnectionId) -> usize {
        self.locks.lock().connection_closed(conn)
    }

    /// Whether some member of `group` holds an unexpired lock: the group consumes orderly
    /// (Java `isLockAllExpired`, negated).
    pub fn has_live_lock(&self, group: &str, now_ms: u64) -> bool {
        self.locks.lock().has_live_lock(group, now_ms, self.max_live_ms)
    }

    /// The client holding `mq` in `group` now, if any.
    pub fn holder(&self, group: &str, mq: &MessageQueue, now_ms: u64) -> Option<String> {
        self.locks.lock().holder(group, mq, now_ms, self.max_live_ms).map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: u64 = 60_000;

    fn mq(id: i32) -> MessageQueue {
        MessageQueue::new("T", "broker-a", id)
    }

    fn who(client_id: &str, conn: u64, now_ms: u64) -> Locker<'_> {
        Locker { group: "g", client_id, conn: ConnectionId(conn), now_ms }
    }

    #[test]
    fn a_second_client_gets_exactly_the_free_queues() {
        let t = LockTable::new(LIVE);
        assert_eq!(t.lock(who("a", 1, 0), &[mq(0), mq(1)]), vec![mq(0), mq(1)]);
        assert_eq!(t.lock(who("b", 2, 10), &[mq(0), mq(1), mq(2), mq(3)]), vec![mq(2), mq(3)]);
        assert_eq!(t.lock(who("a", 1, 20), &[mq(1), mq(2)]), vec![mq(1)], "renewal of its own");
        assert_eq!(t.holder("g", &mq(2), 30).as_deref(), Some("b"));
        assert!(t.holder("other", &mq(2), 30).is_none(), "locks are per group");
    }

    #[test]
    fn an_expired_lock_goes_to_the_next_client() {
        let t = LockTable::new(LIVE);
        t.lock(who("a", 1, 0), &[mq(0)]);
        assert!(t.lock(who("b", 2, LIVE), &[mq(0)]).is_empty(), "still live at the limit");
        assert!(t.has_live_lock("g", LIVE));
        assert_eq!(t.lock(who("b", 2, LIVE + 1), &[mq(0)]), vec![mq(0)]);
        assert_eq!(t.holder("g", &mq(0), LIVE + 1).as_deref(), Some("b"));
        assert!(!t.has_live_lock("g", 3 * LIVE), "b's lock expired too");
    }

    #[test]
    fn unlock_releases_only_the_callers_own_locks() {
        let t = LockTable::new(LIVE);
        t.lock(who("a", 1, 0), &[mq(0)]);
        t.lock(who("b", 2, 0), &[mq(1)]);
        t.unlock("g", "a", &[mq(0), mq(1)]);
        assert!(t.holder("g", &mq(0), 1).is_none());
        assert_eq!(t.holder("g", &mq(1), 1).as_deref(), Some("b"), "b's lock survives a's unlock");
        t.unlock("g", "b", &[mq(1)]);
        assert!(!t.has_live_lock("g", 1));
    }

    #[test]
    fn a_closed_connection_loses_its_locks_at_once() {
        let t = LockTable::new(LIVE);
        t.lock(who("a", 1, 0), &[mq(0), mq(1)]);
        t.lock(who("b", 2, 0), &[mq(2)]);
        assert_eq!(t.connection_closed(ConnectionId(1)), 2);
        assert_eq!(t.lock(who("b", 2, 1), &[mq(0), mq(1), mq(2)]), vec![mq(0), mq(1), mq(2)]);
        assert_eq!(t.connection_closed(ConnectionId(9)), 0);
    }

    #[test]
    fn a_renewal_over_a_new_connection_moves_the_lock_to_it() {
        let t = LockTable::new(LIVE);
        t.lock(who("a", 1, 0), &[mq(0)]);
        t.lock(who("a", 3, 5), &[mq(0)]);
        assert_eq!(t.connection_closed(ConnectionId(1)), 0, "the old connection");
        assert_eq!(t.holder("g", &mq(0), 6).as_deref(), Some("a"));
        assert_eq!(t.connection_closed(ConnectionId(3)), 1);
    }
}
