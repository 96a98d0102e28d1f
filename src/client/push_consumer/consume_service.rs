//! How a push consumer hands pulled messages to its listener: the [`ConsumeService`] trait, and
//! the concurrent service ([`ConcurrentConsumeService`]); the orderly one is in
//! `orderly_service.rs`.
//!
//! The pull service records pulled messages in their queue's [`ProcessQueue`] and then submits
//! them here; a service owns its threads and reports consumed offsets to the shared offset
//! table. The orderly service (one queue consumed by at most one thread at a time, in offset
//! order) implements the same trait next to the concurrent one.
//!
//! Threads of the concurrent service (all named):
//! * `rmq-consume-<n>`: the fixed listener pool, fed by a bounded channel.
//! * `rmq-consume-later`: re-submits messages that could not be sent back after
//!   `ReconsumeLater`.
//!
//! **Ownership:** a worker neither calls the listener for, nor commits the offsets of, a queue
//! marked dropped, so the queue's new owner may see duplicates but never a gap.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender};
use log::{debug, warn};
use parking_lot::{Condvar, Mutex};

use super::{MessageListener, Shared};
use crate::client::api;
use crate::client::consumer::{ConsumeContext, ConsumeStatus};
use crate::client::error::{ClientError, Result};
use crate::client::process_queue::ProcessQueue;
use crate::client::sync::Stopper;
use crate::protocol::message::MessageExt;

/// Consume requests waiting for a listener thread.
const CONSUME_QUEUE_CAPACITY: usize = 1024;
/// Delay before re-consuming locally a message that could not be sent back (Java: 5 s).
const CONSUME_LATER_DELAY: Duration = Duration::from_secs(5);
/// While the pool is full, how often a blocked hand-over looks whether its queue was dropped.
const HAND_OVER_RECHECK: Duration = Duration::from_millis(50);
/// How long the consume-later thread sleeps with nothing waiting.
const LATER_IDLE_WAIT: Duration = Duration::from_secs(3600);

/// Hands pulled messages to the listener.
pub(super) trait ConsumeService: Send + Sync {
    /// Takes `messages` of `pq` (already recorded in its tracker), blocking while the service
    /// is full. False if `stopper` fired or the queue was dropped before all were taken; those
    /// not taken stay in flight, holding the queue's offset back.
    fn submit(&self, pq: &Arc<ProcessQueue>, messages: Vec<MessageExt>, stopper: &Stopper) -> bool;

    /// Waits up to `timeout` until everything submitted has been consumed.
    fn drain(&self, timeout: Duration);

    /// Stops the service's threads, never joining the calling thread (a listener may shut its
    /// own consumer down). Idempotent.
    fn shutdown(&self);

    /// Whether queues are consumed in order (PROP_CONSUMEORDERLY of the running info).
    fn is_orderly(&self) -> bool;

    /// Listener threads (PROP_THREADPOOL_CORE_SIZE of the running info).
    fn thread_count(&self) -> usize;
}

/// Settings of the concurrent service.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConcurrentOptions {
    /// Listener threads.
    pub threads: usize,
    /// Messages per listener call.
    pub batch_size: usize,
    /// Re-deliveries before the broker moves a message to the dead-letter queue.
    pub max_reconsume_times: i32,
}

/// The listener pool: any thread may consume any queue's messages, several batches of one queue
/// at once (Java `ConsumeMessageConcurrentlyService`).
pub(super) struct ConcurrentConsumeService {
    core: Arc<ConsumeCore>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// What the pool threads share.
struct ConsumeCore {
    shared: Arc<Shared>,
    listener: Arc<MessageListener>,
    opts: ConcurrentOptions,
    /// `None` once shut down: the pool threads end when the last sender is gone.
    consume_tx: Mutex<Option<Sender<ConsumeRequest>>>,
    later_tx: Mutex<Option<Sender<ConsumeRequest>>>,
    outstanding: Outstanding,
}

/// Consume requests handed to the pool and not finished yet.
#[derive(Default)]
pub(super) struct Outstanding {
    count: AtomicUsize,
    idle_lock: Mutex<()>,
    idle: Condvar,
}

/// Messages of one queue for one listener call.
struct ConsumeRequest {
    pq: Arc<ProcessQueue>,
    msgs: Vec<MessageExt>,
    due: Instant,
}

impl ConcurrentConsumeService {
    /// Starts `opts.threads` listener threads and the consume-later thread.
    pub(super) fn start(
        shared: Arc<Shared>,
        listener: Arc<MessageListener>,
        opts: ConcurrentOptions,
    ) -> Result<Self> {
        assert!(opts.threads > 0 && opts.batch_size > 0, "the builder enforces at least 1");
        let (consume_tx, consume_rx) = bounded(CONSUME_QUEUE_CAPACITY);
        let (later_tx, later_rx) = bounded(CONSUME_QUEUE_CAPACITY);
        let core = Arc::new(ConsumeCore {
            shared,
            listener,
            opts,
            consume_tx: Mutex::new(Some(consume_tx)),
            later_tx: Mutex::new(Some(later_tx)),
            outstanding: Outstanding::default(),
        });
        let service = Self { core, workers: Mutex::new(Vec::new()) };
        if let Err(e) = service.spawn_threads(&consume_rx, &later_rx) {
            service.shutdown();
            return Err(e);
        }
        Ok(service)
    }

    fn spawn_threads(
        &self,
        consume_rx: &Receiver<ConsumeRequest>,
        later_rx: &Receiver<ConsumeRequest>,
    ) -> Result<()> {
        let spawn_err = |e: std::io::Error| ClientError::invalid(format!("cannot spawn: {e}"));
        let mut workers = self.workers.lock();
        for i in 0..self.core.opts.threads {
            let (core, rx) = (Arc::clone(&self.core), consume_rx.clone());
            let handle = std::thread::Builder::new()
                .name(format!("rmq-consume-{i}"))
                .spawn(move || core.consume_loop(&rx))
                .map_err(spawn_err)?;
            workers.push(handle);
        }
        let (core, rx) = (Arc::clone(&self.core), later_rx.clone());
        let handle = std::thread::Builder::new()
            .name("rmq-consume-later".into())
            .spawn(move || core.later_loop(&rx))
            .map_err(spawn_err)?;
        workers.push(handle);
        Ok(())
    }
}

impl ConsumeService for ConcurrentConsumeService {
    fn submit(&self, pq: &Arc<ProcessQueue>, messages: Vec<MessageExt>, stopper: &Stopper) -> bool {
        let core = &self.core;
        let Some(consume_tx) = core.consume_tx.lock().clone() else { return false };
        let mut messages = messages.into_iter().peekable();
        while messages.peek().is_some() {
            let msgs: Vec<MessageExt> = messages.by_ref().take(core.opts.batch_size).collect();
            let req = ConsumeRequest { pq: Arc::clone(pq), msgs, due: Instant::now() };
            core.outstanding.add();
            if !hand_over(&consume_tx, req, stopper) {
                core.outstanding.done();
                return false;
            }
        }
        true
    }

    fn drain(&self, timeout: Duration) {
        if let Err(left) = self.core.outstanding.wait_idle(timeout) {
            warn!("shutdown: {left} consume requests still running");
        }
    }

    fn shutdown(&self) {
        self.core.consume_tx.lock().take();
        self.core.later_tx.lock().take();
        let me = std::thread::current().id();
        for handle in self.workers.lock().drain(..).filter(|h| h.thread().id() != me) {
            if handle.join().is_err() {
                warn!("a consume thread of {} panicked", self.core.shared.group);
            }
        }
    }

    fn is_orderly(&self) -> bool {
        false
    }

    fn thread_count(&self) -> usize {
        self.core.opts.threads
    }
}

/// Sends `req` to the pool, waiting while it is full; false if stopped, the queue was dropped
/// meanwhile, or the pool is gone.
fn hand_over(tx: &Sender<ConsumeRequest>, mut req: ConsumeRequest, stopper: &Stopper) -> bool {
    loop {
        match tx.send_timeout(req, HAND_OVER_RECHECK) {
            Ok(()) => return true,
            Err(SendTimeoutError::Disconnected(_)) => return false,
            Err(SendTimeoutError::Timeout(back)) => {
                if stopper.is_stopped() || back.pq.is_dropped() {
                    return false;
                }
                req = back;
            }
        }
    }
}

impl Outstanding {
    pub(super) fn add(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
    }

    pub(super) fn done(&self) {
        let before = self.count.fetch_sub(1, Ordering::AcqRel);
        assert!(before > 0, "a consume request finished that was never added");
        if before == 1 {
            // Notifying under the lock orders this wake-up after a waiter's check of the
            // count, so a waiter never sleeps through the last request finishing.
            let _guard = self.idle_lock.lock();
            self.idle.notify_all();
        }
    }

    /// Waits up to `timeout` until nothing is outstanding; `Err` with the number left.
    pub(super) fn wait_idle(&self, timeout: Duration) -> std::result::Result<(), usize> {
        let deadline = Instant::now() + timeout;
        let mut guard = self.idle_lock.lock();
        loop {
            let left = self.count.load(Ordering::Acquire);
            if left == 0 {
                return Ok(());
            }
            if self.idle.wait_until(&mut guard, deadline).timed_out() {
                let left = self.count.load(Ordering::Acquire);
                return if left == 0 { Ok(()) } else { Err(left) };
            }
        }
    }
}

impl ConsumeCore {
    /// A `rmq-consume-<n>` thread.
    fn consume_loop(&self, rx: &Receiver<ConsumeRequest>) {
        for req in rx.iter() {
            self.consume(req);
            self.outstanding.done();
        }
    }

    fn consume(&self, req: ConsumeRequest) {
        if req.pq.is_dropped() {
            return;
        }
        let mut ctx = ConsumeContext::new(req.pq.mq.clone());
        let listener = Arc::clone(&self.listener);
        let status = catch_unwind(AssertUnwindSafe(|| listener(&req.msgs, &mut ctx)))
            .unwrap_or_else(|_| {
                warn!("the listener panicked on {}; reconsuming later", req.pq.mq);
                ConsumeStatus::ReconsumeLater
            });
        if req.pq.is_dropped() {
            return;
        }
        let pq = Arc::clone(&req.pq);
        let done: Vec<i64> = match status {
            ConsumeStatus::Success => req.msgs.iter().map(|m| m.queue_offset).collect(),
            ConsumeStatus::ReconsumeLater if self.shared.is_clustering() => {
                self.send_back(req, &ctx)
            }
            ConsumeStatus::ReconsumeLater => {
                warn!("broadcasting: dropping {} messages the listener refused", req.msgs.len());
                req.msgs.iter().map(|m| m.queue_offset).collect()
            }
        };
        if let Some(offset) = pq.remove(done) {
            if !pq.is_dropped() {
                self.shared.offsets.update(&pq.mq, offset, true);
            }
        }
    }

    /// Sends refused messages back to the broker for re-delivery; those that cannot be sent are
    /// consumed again locally later. Returns the offsets that are done with.
    fn send_back(&self, req: ConsumeRequest, ctx: &ConsumeContext) -> Vec<i64> {
        let instance = &self.shared.instance;
        let addr = match api::master_of(instance, &req.pq.mq) {
            Ok(addr) => addr,
            Err(e) => {
                debug!("cannot send back to {}: {e}", req.pq.mq.broker_name);
                self.consume_later(req);
                return Vec::new();
            }
        };
        let (group, max) = (&self.shared.group, self.opts.max_reconsume_times);
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for msg in req.msgs {
            match api::send_message_back(instance, &addr, group, &msg, ctx.delay_level(), max) {
                Ok(()) => done.push(msg.queue_offset),
                Err(e) => {
                    debug!("send back of {} failed: {e}", msg.msg_id());
                    failed.push(msg);
                }
            }
        }
        if !failed.is_empty() {
            self.consume_later(ConsumeRequest { pq: req.pq, msgs: failed, due: req.due });
        }
        done
    }

    fn consume_later(&self, mut req: ConsumeRequest) {
        req.due = Instant::now() + CONSUME_LATER_DELAY;
        let Some(tx) = self.later_tx.lock().clone() else { return };
        if tx.try_send(req).is_err() {
            warn!("the consume-later queue is full; the message will be pulled again later");
        }
    }

    /// The `rmq-consume-later` thread: holds requests until due, then re-submits them.
    fn later_loop(&self, rx: &Receiver<ConsumeRequest>) {
        let mut waiting: Vec<ConsumeRequest> = Vec::new();
        loop {
            let next_due = waiting.iter().map(|r| r.due).min();
            let wait =
                next_due.map_or(LATER_IDLE_WAIT, |d| d.saturating_duration_since(Instant::now()));
            match rx.recv_timeout(wait) {
                Ok(req) => waiting.push(req),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let now = Instant::now();
            let (due, not_due): (Vec<_>, Vec<_>) = waiting.into_iter().partition(|r| r.due <= now);
            waiting = not_due;
            let Some(tx) = self.consume_tx.lock().clone() else { return };
            for req in due {
                self.outstanding.add();
                if tx.send(req).is_err() {
                    self.outstanding.done();
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_idle_returns_once_the_last_request_is_done() {
        let outstanding = Arc::new(Outstanding::default());
        assert_eq!(outstanding.wait_idle(Duration::ZERO), Ok(()));
        outstanding.add();
        outstanding.add();
        assert_eq!(outstanding.wait_idle(Duration::ZERO), Err(2));
        let (go_tx, go_rx) = bounded::<()>(0);
        let worker = {
            let outstanding = Arc::clone(&outstanding);
            std::thread::spawn(move || {
                let _ = go_rx.recv();
                outstanding.done();
                outstanding.done();
            })
        };
        drop(go_tx);
        assert_eq!(outstanding.wait_idle(Duration::from_secs(30)), Ok(()));
        worker.join().unwrap();
    }
}
