//! Long polling: pulls that found nothing wait here, keyed by (topic, queue), until a message
//! arrives for that queue or their hold time ends; then the pull runs again and its response is
//! written with the original opaque.
//!
//! The store's dispatch thread calls [`PullHold::notify_arrival`]; it only looks up the key and
//! posts a wake-up, so the dispatch path stays cheap. The `pull-hold` thread re-runs pulls.
//! Invariant: a parked pull is answered exactly once (woken, expired, or dropped with its
//! connection).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{bounded, select, Receiver, Sender};
use parking_lot::Mutex;
use rocketmq_net::{ConnectionId, RemotingCommand, Responder};
use rocketmq_store::{QueueId, QueueOffset};

use super::processor::pull;
use super::BrokerCtx;
use crate::remoting::now_ms;

/// A parked pull.
#[derive(Debug)]
pub struct Held {
    pub request: RemotingCommand,
    pub responder: Responder,
    /// The offset the pull asked for: it is answered once the queue's max passes it.
    pub offset: QueueOffset,
    pub deadline_ms: u64,
}

type Key = (String, QueueId);

/// The table of parked pulls.
#[derive(Debug)]
pub struct PullHold {
    table: Mutex<HashMap<Key, Vec<Held>>>,
    wake: Sender<Key>,
    /// Set when a wake-up could not be queued; the hold thread then re-checks every key.
    rescan: AtomicBool,
}

const WAKE_QUEUE: usize = 65_536;
const CHECK_INTERVAL: Duration = Duration::from_millis(100);

impl PullHold {
    /// The table and the receiver the hold thread drains.
    pub fn new() -> (Self, Receiver<Key>) {
        let (wake, rx) = bounded(WAKE_QUEUE);
        let hold = Self { table: Mutex::new(HashMap::new()), wake, rescan: AtomicBool::new(false) };
        (hold, rx)
    }

    /// Parks a pull. `current_max` is re-read after parking to close the race with a message
    /// that arrived between the store read and now.
    pub fn park(
        &self,
        topic: &str,
        queue: QueueId,
        held: Held,
        current_max: impl Fn() -> QueueOffset,
    ) {
        let offset = held.offset;
        let key = (topic.to_string(), queue);
        self.table.lock().entry(key.clone()).or_default().push(held);
        if current_max() > offset {
            self.post(key);
        }
    }

    /// Called when a queue grew to `max_offset`.
    pub fn notify_arrival(&self, topic: &str, queue: QueueId, max: QueueOffset) {
        let key = (topic.to_string(), queue);
        let waiting = self.table.lock().get(&key).is_some_and(|v| v.iter().any(|h| h.offset < max));
        if waiting {
            self.post(key);
        }
    }

    fn post(&self, key: Key) {
        if self.wake.try_send(key).is_err() {
            self.rescan.store(true, Ordering::Release);
        }
    }

    /// Forgets the pulls of a closed connection.
    pub fn connection_closed(&self, conn: ConnectionId) {
        let mut table = self.table.lock();
        for v in table.values_mut() {
            v.retain(|h| h.responder.conn().id() != conn);
        }
        table.retain(|_, v| !v.is_empty());
    }

    /// Takes the pulls of `key` that can be answered now: new data, or expired.
    fn take_ready(&self, key: &Key, max: QueueOffset, now: u64) -> Vec<Held> {
        let mut table = self.table.lock();
        let Some(v) = table.get_mut(key) else { return Vec::new() };
        let (ready, keep): (Vec<Held>, Vec<Held>) =
            v.drain(..).partition(|h| h.offset < max || h.deadline_ms <= now);
        if keep.is_empty() {
            table.remove(key);
        } else {
            *v = keep;
        }
        ready
    }

    fn keys(&self) -> Vec<Key> {
        self.table.lock().keys().cloned().collect()
    }

    /// Number of parked pulls (runtime info).
    pub fn len(&self) -> usize {
        self.table.lock().values().map(Vec::len).sum()
    }
}

/// The `pull-hold` thread.
pub fn run(ctx: &BrokerCtx, wake: &Receiver<Key>, stop: &Receiver<()>) {
    let mut last_scan = std::time::Instant::now();
    loop {
        select! {
            recv(wake) -> key => match key {
                Ok(key) => answer_ready(ctx, &key),
                Err(_) => return,
            },
            recv(stop) -> _ => break,
            default(CHECK_INTERVAL) => {}
        }
        // Expiry and lost wake-ups are handled by a periodic sweep, not on every wake-up.
        let due = last_scan.elapsed() >= CHECK_INTERVAL;
        if ctx.hold.rescan.swap(false, Ordering::AcqRel) || due {
            last_scan = std::time::Instant::now();
            for key in ctx.hold.keys() {
                answer_ready(ctx, &key);
            }
        }
    }
    // Shutdown: answer everything still parked so clients are not left waiting.
    for key in ctx.hold.keys() {
        for held in ctx.hold.take_ready(&key, QueueOffset(u64::MAX), u64::MAX) {
            answer(ctx, held);
        }
    }
}

fn answer_ready(ctx: &BrokerCtx, key: &Key) {
    let max = ctx.store.max_offset(&key.0, key.1);
    for held in ctx.hold.take_ready(key, max, now_ms()) {
        answer(ctx, held);
    }
}

fn answer(ctx: &BrokerCtx, held: Held) {
    if !held.responder.conn().is_open() {
        return;
    }
    if let Some(resp) = pull::execute(ctx, &held.request, false).into_response() {
        held.responder.respond(resp);
    }
}
