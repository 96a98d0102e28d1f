//! Timer messages (5.x `TIMER_DELIVER_MS` and friends): the `timer` thread delivers what the send
//! path parked in `rmq_sys_wheel_timer` queue 0 (`processor::send::timer`) to its real topic and
//! queue once its `TIMER_OUT_MS` is reached.
//!
//! Layout (docs/STORE_FORMAT.md, "Timer messages"): the timer queue itself is the durable timer
//! log: every timer message is an ordinary commitlog record indexed by that consume queue, so it
//! survives kill -9 like any acknowledged message. The only other state is a checkpoint,
//! `config/timercheck.json`: the lowest timer-queue offset not yet delivered. At start the
//! thread re-reads the queue from the checkpoint and rebuilds, in memory, a min-heap of
//! (delivery time, queue offset): about 50 bytes per pending timer. Java keeps a 7-day wheel
//! and a timerlog on disk instead; the heap needs no roll-over for long delays.
//!
//! Delivery is at least once: a message delivered after the last checkpoint write is
//! delivered again after a crash (the checkpoint is written at most every 500 ms and at
//! shutdown). Never early: due times were rounded down at send by at most one precision.
//! `TIMER_DEL_UNIQKEY` cancels the pending timer with that UNIQ_KEY, as Java does.
//!
//! This module owns the heap, the cancel table and the checkpoint; [`TimerStats`] is what
//! operators see (runtime info `timerPending`, `timerDequeueBehindMs`, …).

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use rocketmq_store::record::{self, MessageToStore, RecordView};
use rocketmq_store::{GetStatus, MessageStore, QueueId, QueueOffset};
use serde::{Deserialize, Serialize};

use super::persist;
use crate::protocol::constants::{timer, TIMER_TOPIC};
use crate::protocol::properties::{prop, remove_prop, set_prop};
use crate::remoting::now_ms;

const READ_BATCH: u32 = 256;
const READ_BATCH_BYTES: u32 = 8 * 1024 * 1024;
const MAX_SLEEP_MS: u64 = 50;
const RETRY_AFTER_FAILURE_MS: u64 = 1_000;
const CHECKPOINT_EVERY_MS: u64 = 500;

/// What operators see of the timer service (GET_BROKER_RUNTIME_INFO).
#[derive(Debug, Default)]
pub struct TimerStats {
    /// Timers taken in and not yet delivered (or cancelled).
    pub pending: AtomicU64,
    /// How late the oldest due timer is, ms (0 when nothing is due).
    pub dequeue_behind_ms: AtomicU64,
    /// Timer-queue messages not yet read into the heap.
    pub enqueue_behind: AtomicU64,
    /// Delivered since start.
    pub delivered: AtomicU64,
    /// Cancelled by TIMER_DEL_UNIQKEY since start.
    pub cancelled: AtomicU64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Checkpoint {
    /// The lowest timer-queue offset not yet delivered.
    queue_offset: u64,
}

/// The heap and everything needed to advance the checkpoint.
#[derive(Debug, Default)]
struct Wheel {
    /// (due ms, queue offset), soonest first.
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    /// Queue offsets read and not yet done: the checkpoint is the first of them.
    undone: BTreeSet<u64>,
    /// UNIQ_KEY of a cancelled timer → queue offset of the delete message.
    cancels: HashMap<String, u64>,
    /// Next timer-queue offset to read.
    read_offset: u64,
}

impl Wheel {
    fn checkpoint(&self) -> u64 {
        let first = self.undone.first().copied().unwrap_or(self.read_offset);
        assert!(first <= self.read_offset, "nothing past the read position is undone");
        first
    }

    fn done(&mut self, queue_offset: u64) {
        self.undone.remove(&queue_offset);
    }
}

/// What the `timer` thread uses.
#[derive(Debug)]
pub struct TimerService {
    pub store: Arc<MessageStore>,
    pub stats: Arc<TimerStats>,
}

/// The `timer` thread: read, deliver, checkpoint, until `stop`.
pub fn run(svc: &TimerService, stop: &Receiver<()>) {
    let path = svc.store.config_dir().join("timercheck.json");
    let start: Checkpoint = match persist::load(&path) {
        Ok(c) => c.unwrap_or_default(),
        Err(e) => {
            log::error!("cannot read {}: {e}; timer messages are not delivered", path.display());
            return;
        }
    };
    let mut wheel = Wheel { read_offset: start.queue_offset, ..Wheel::default() };
    let mut saved = start.queue_offset;
    let mut saved_at = 0;
    loop {
        read_new(svc, &mut wheel);
        let next_due = deliver_due(svc, &mut wheel);
        publish_stats(svc, &wheel);
        let now = now_ms();
        let checkpoint = wheel.checkpoint();
        if checkpoint != saved && now.saturating_sub(saved_at) >= CHECKPOINT_EVERY_MS {
            match persist::save(&path, &Checkpoint { queue_offset: checkpoint }) {
                Ok(()) => (saved, saved_at) = (checkpoint, now),
                Err(e) => log::error!("cannot persist the timer checkpoint: {e}"),
            }
        }
        let sleep = next_due.map_or(MAX_SLEEP_MS, |d| d.saturating_sub(now)).clamp(1, MAX_SLEEP_MS);
        match stop.recv_timeout(Duration::from_millis(sleep)) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            _ => break,
        }
    }
    if let Err(e) = persist::save(&path, &Checkpoint { queue_offset: wheel.checkpoint() }) {
        log::error!("cannot persist the timer checkpoint at shutdown: {e}");
    }
}

/// Takes every new timer-queue message into the heap (delete messages register their cancel).
fn read_new(svc: &TimerService, wheel: &mut Wheel) {
    loop {
        let r = svc.store.get_messages(
            TIMER_TOPIC,
            QueueId(0),
            QueueOffset(wheel.read_offset),
            READ_BATCH,
            READ_BATCH_BYTES,
            None,
        );
        match r.status {
            GetStatus::Found => {}
            GetStatus::OffsetTooSmall | GetStatus::OffsetOverflowBadly => {
                log::warn!(
                    "timer queue offset {} is gone; resuming at {}",
                    wheel.read_offset,
                    r.next_begin_offset.0
                );
                wheel.read_offset = r.next_begin_offset.0;
                continue;
            }
            _ => return,
        }
        let mut at = 0;
        while at < r.messages.len() {
            let Ok(view) = RecordView::parse(&r.messages[at..]) else {
                log::error!(
                    "unreadable timer message at queue offset {}; skipped",
                    wheel.read_offset
                );
                wheel.read_offset += 1;
                return;
            };
            at += usize::try_from(view.total_size).unwrap_or(usize::MAX);
            take_in(wheel, &view);
        }
    }
}

fn take_in(wheel: &mut Wheel, view: &RecordView<'_>) {
    let qo = view.queue_offset;
    let due = record::property_value(view.properties, timer::OUT_MS)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if let Some(target) = record::property_value(view.properties, timer::DEL_UNIQKEY) {
        wheel.cancels.insert(target.to_string(), qo);
    }
    wheel.heap.push(Reverse((due, qo)));
    wheel.undone.insert(qo);
    wheel.read_offset = qo + 1;
}

/// Delivers every due timer; returns when the next one is due.
fn deliver_due(svc: &TimerService, wheel: &mut Wheel) -> Option<u64> {
    loop {
        let &Reverse((due, qo)) = wheel.heap.peek()?;
        let now = now_ms();
        if due > now {
            return Some(due);
        }
        wheel.heap.pop();
        match deliver_one(svc, wheel, qo) {
            Ok(()) => wheel.done(qo),
            Err(()) => {
                wheel.heap.push(Reverse((now + RETRY_AFTER_FAILURE_MS, qo)));
                return Some(now + RETRY_AFTER_FAILURE_MS);
            }
        }
    }
}

/// One due timer: a delete message ends its cancel; a cancelled message is dropped; anything
/// else goes to its real topic and queue. `Err` when the store refused the put (retried).
fn deliver_one(svc: &TimerService, wheel: &mut Wheel, qo: u64) -> Result<(), ()> {
    let r =
        svc.store.get_messages(TIMER_TOPIC, QueueId(0), QueueOffset(qo), 1, READ_BATCH_BYTES, None);
    if r.status != GetStatus::Found {
        log::warn!("timer message at queue offset {qo} is no longer stored; skipped");
        return Ok(());
    }
    let Ok(view) = RecordView::parse(&r.messages) else {
        log::error!("unreadable timer message at queue offset {qo}; skipped");
        return Ok(());
    };
    if let Some(target) = record::property_value(view.properties, timer::DEL_UNIQKEY) {
        if wheel.cancels.get(target) == Some(&qo) {
            wheel.cancels.remove(target);
        }
        return Ok(());
    }
    if let Some(uniq) = record::property_value(view.properties, record::PROPERTY_UNIQ_KEY) {
        if wheel.cancels.remove(uniq).is_some() {
            svc.stats.cancelled.fetch_add(1, Ordering::Relaxed);
            log::info!("timer message {uniq} cancelled by TIMER_DEL_UNIQKEY");
            return Ok(());
        }
    }
    let Some(msg) = real_message(&view) else {
        log::error!("timer message at queue offset {qo} has no REAL_TOPIC; dropped");
        return Ok(());
    };
    match svc.store.put_message(msg) {
        Ok(_) => {
            svc.stats.delivered.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            log::warn!("cannot deliver timer message at queue offset {qo}: {e}; will retry");
            Err(())
        }
    }
}

/// The message as its consumers get it: real topic and queue, TIMER_ENQUEUE_MS (when the
/// broker took it in) and TIMER_DEQUEUE_MS (now), TIMER_OUT_MS kept, REAL_* removed.
fn real_message(view: &RecordView<'_>) -> Option<MessageToStore> {
    let mut props = record::decode_properties(view.properties);
    let topic = prop(&props, record::PROPERTY_REAL_TOPIC)?.to_string();
    let queue_id =
        prop(&props, record::PROPERTY_REAL_QUEUE_ID).and_then(|q| q.parse().ok()).unwrap_or(0);
    remove_prop(&mut props, record::PROPERTY_REAL_TOPIC);
    remove_prop(&mut props, record::PROPERTY_REAL_QUEUE_ID);
    set_prop(&mut props, timer::ENQUEUE_MS, view.store_timestamp_ms.to_string());
    set_prop(&mut props, timer::DEQUEUE_MS, now_ms().to_string());
    Some(view.to_message(topic, QueueId(queue_id), record::encode_properties(&props)))
}

fn publish_stats(svc: &TimerService, wheel: &Wheel) {
    let now = now_ms();
    let behind = wheel.heap.peek().map_or(0, |Reverse((due, _))| now.saturating_sub(*due));
    let max = svc.store.max_offset(TIMER_TOPIC, QueueId(0)).0;
    let s = &svc.stats;
    s.pending.store(u64::try_from(wheel.heap.len()).unwrap_or(u64::MAX), Ordering::Relaxed);
    s.dequeue_behind_ms.store(behind, Ordering::Relaxed);
    s.enqueue_behind.store(max.saturating_sub(wheel.read_offset), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpoint_is_the_first_undone_offset() {
        let mut w = Wheel::default();
        for qo in 0..4 {
            w.heap.push(Reverse((100 - qo, qo)));
            w.undone.insert(qo);
            w.read_offset = qo + 1;
        }
        assert_eq!(w.checkpoint(), 0);
        w.done(3);
        w.done(1);
        assert_eq!(w.checkpoint(), 0, "offset 0 is still pending");
        w.done(0);
        assert_eq!(w.checkpoint(), 2);
        w.done(2);
        assert_eq!(w.checkpoint(), 4, "all done: the read position");
    }
}
