//! The orderly consume service (Java `ConsumeMessageOrderlyService`): each queue's messages
//! reach the listener in offset order, one batch at a time, on one thread at a time.
//!
//! Pulled messages wait in their queue's [`OrderlyBuffer`]; at most one consume request exists
//! per queue (the buffer's `scheduled` flag), and the worker running it holds the queue's
//! consume lock for each batch, so two batches of one queue never run at once, and a rebalance
//! that takes the queue away waits for the batch in flight before committing and unlocking.
//! In clustering mode a queue is consumed only while its broker lock is valid
//! ([`ProcessQueue::is_lock_valid`]); otherwise its request waits and looks again.
//!
//! Results: `Success` commits the batch. `SuspendCurrentQueueAMoment` puts the batch back
//! (re-consume count + 1) and blocks the queue for the suspend time; once every message of
//! the batch has been re-consumed `max_reconsume_times` times they are sent back to the broker,
//! which puts them in the dead-letter queue because the group holds locks, and the queue moves
//! on (broadcasting drops them with a warning: there is nothing to send back to).
//!
//! Threads: `rmq-orderly-<n>` (the listener pool, fed by a bounded channel) and
//! `rmq-orderly-later` (re-submits suspended queues when due). Both channels hold at most one
//! entry per queue (at most [`READY_CAPACITY`] queues), so posting never finds them full.
//!
//! [`OrderlyBuffer`]: crate::client::process_queue::OrderlyBuffer

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use log::{debug, warn};
use parking_lot::Mutex;

use super::consume_service::{ConsumeService, Outstanding};
use super::pull_service::READY_CAPACITY;
use super::{OrderlyListener, Shared};
use crate::client::api;
use crate::client::consumer::{ConsumeOrderlyContext, ConsumeOrderlyStatus};
use crate::client::error::{ClientError, Result};
use crate::client::message::now_unix_ms;
use crate::client::process_queue::ProcessQueue;
use crate::client::sync::Stopper;
use crate::protocol::message::MessageExt;

/// A worker gives its thread up after consuming one queue this long without a break (Java
/// `rocketmq.client.maxTimeConsumeContinuously`), so one busy queue cannot starve the others.
const MAX_CONSUME_CONTINUOUSLY: Duration = Duration::from_secs(60);
/// How soon a queue whose broker lock is not (or no longer) valid looks again.
const LOCK_RETRY_DELAY: Duration = Duration::from_millis(100);
/// How long the later thread sleeps with nothing waiting.
const LATER_IDLE_WAIT: Duration = Duration::from_secs(3600);

/// A suspended queue and when it is due again.
type Suspended = (Instant, Arc<ProcessQueue>);

/// Settings of the orderly service.
#[derive(Debug, Clone, Copy)]
pub(super) struct OrderlyOptions {
    /// Listener threads.
    pub threads: usize,
    /// Messages per listener call.
    pub batch_size: usize,
    /// Suspensions of a message before it goes to the dead-letter queue.
    pub max_reconsume_times: i32,
    /// Default wait after `SuspendCurrentQueueAMoment`.
    pub suspend: Duration,
}

/// The orderly listener pool.
pub(super) struct OrderlyConsumeService {
    core: Arc<OrderlyCore>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// What the pool threads share.
struct OrderlyCore {
    shared: Arc<Shared>,
    listener: Arc<OrderlyListener>,
    opts: OrderlyOptions,
    /// `None` once shut down: the pool threads end when the last sender is gone.
    consume_tx: Mutex<Option<Sender<Arc<ProcessQueue>>>>,
    later_tx: Mutex<Option<Sender<Suspended>>>,
    /// Consume requests queued or running (not those waiting out a suspension).
    outstanding: Outstanding,
}

/// What a consume request does after a worker ran it.
enum Next {
    /// Nothing waits (or the queue was dropped): the request ends.
    Done,
    /// Run again after this delay (suspended, lock not valid, or yielding the thread).
    Later(Duration),
}

impl OrderlyConsumeService {
    /// Starts `opts.threads` listener threads and the later thread.
    pub(super) fn start(
        shared: Arc<Shared>,
        listener: Arc<OrderlyListener>,
        opts: OrderlyOptions,
    ) -> Result<Self> {
        assert!(opts.threads > 0 && opts.batch_size > 0, "the builder enforces at least 1");
        let (consume_tx, consume_rx) = bounded(READY_CAPACITY);
        let (later_tx, later_rx) = bounded(READY_CAPACITY);
        let core = Arc::new(OrderlyCore {
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
        consume_rx: &Receiver<Arc<ProcessQueue>>,
        later_rx: &Receiver<Suspended>,
    ) -> Result<()> {
        let spawn_err = |e: std::io::Error| ClientError::invalid(format!("cannot spawn: {e}"));
        let mut workers = self.workers.lock();
        for i in 0..self.core.opts.threads {
            let (core, rx) = (Arc::clone(&self.core), consume_rx.clone());
            let handle = std::thread::Builder::new()
                .name(format!("rmq-orderly-{i}"))
                .spawn(move || core.consume_loop(&rx))
                .map_err(spawn_err)?;
            workers.push(handle);
        }
        let (core, rx) = (Arc::clone(&self.core), later_rx.clone());
        let handle = std::thread::Builder::new()
            .name("rmq-orderly-later".into())
            .spawn(move || core.later_loop(&rx))
            .map_err(spawn_err)?;
        workers.push(handle);
        Ok(())
    }
}

impl ConsumeService for OrderlyConsumeService {
    fn submit(&self, pq: &Arc<ProcessQueue>, messages: Vec<MessageExt>, _: &Stopper) -> bool {
        if self.core.consume_tx.lock().is_none() {
            return false;
        }
        if pq.orderly().put(messages) {
            self.core.schedule(Arc::clone(pq));
        }
        true
    }

    fn drain(&self, timeout: Duration) {
        if let Err(left) = self.core.outstanding.wait_idle(timeout) {
            warn!("shutdown: {left} orderly consume requests still running");
        }
    }

    fn shutdown(&self) {
        self.core.consume_tx.lock().take();
        self.core.later_tx.lock().take();
        let me = std::thread::current().id();
        for handle in self.workers.lock().drain(..).filter(|h| h.thread().id() != me) {
            if handle.join().is_err() {
                warn!("an orderly consume thread of {} panicked", self.core.shared.group);
            }
        }
    }

    fn is_orderly(&self) -> bool {
        true
    }

    fn thread_count(&self) -> usize {
        self.core.opts.threads
    }
}

impl OrderlyCore {
    /// Queues the consume request of `pq` (its buffer marked it scheduled).
    fn schedule(&self, pq: Arc<ProcessQueue>) {
        self.outstanding.add();
        let sent = self.consume_tx.lock().as_ref().map(|tx| tx.try_send(Arc::clone(&pq)));
        if !matches!(sent, Some(Ok(()))) {
            // Shut down, or (unreachable while each queue has at most one request and there
            // are at most READY_CAPACITY queues) full: the request ends here.
            debug_assert!(!matches!(sent, Some(Err(ref e)) if e.is_full()), "orderly pool full");
            pq.orderly().unschedule();
            self.outstanding.done();
        }
    }

    /// A `rmq-orderly-<n>` thread.
    fn consume_loop(&self, rx: &Receiver<Arc<ProcessQueue>>) {
        for pq in rx.iter() {
            let next = self.consume_queue(&pq);
            if let Next::Later(delay) = next {
                self.later(pq, delay);
            }
            self.outstanding.done();
        }
    }

    /// Consumes `pq`'s waiting messages in order, one batch at a time under its consume lock.
    fn consume_queue(&self, pq: &Arc<ProcessQueue>) -> Next {
        let started = Instant::now();
        let _consuming = pq.consume_guard();
        loop {
            if pq.is_dropped() {
                pq.orderly().unschedule();
                return Next::Done;
            }
            if self.shared.is_clustering() && !pq.is_lock_valid(now_unix_ms()) {
                return Next::Later(LOCK_RETRY_DELAY);
            }
            if started.elapsed() >= MAX_CONSUME_CONTINUOUSLY {
                return Next::Later(Duration::ZERO);
            }
            let Some(batch) = pq.orderly().take(self.opts.batch_size) else { return Next::Done };
            if let Some(delay) = self.consume_batch(pq, batch) {
                return Next::Later(delay);
            }
        }
    }

    /// One listener call; `Some(delay)` if the queue is suspended.
    fn consume_batch(&self, pq: &ProcessQueue, batch: Vec<MessageExt>) -> Option<Duration> {
        let suspend_ms = u64::try_from(self.opts.suspend.as_millis()).unwrap_or(u64::MAX);
        let mut ctx = ConsumeOrderlyContext::new(pq.mq.clone(), suspend_ms);
        let listener = Arc::clone(&self.listener);
        let status =
            catch_unwind(AssertUnwindSafe(|| listener(&batch, &mut ctx))).unwrap_or_else(|_| {
                warn!("the orderly listener panicked on {}; suspending the queue", pq.mq);
                ConsumeOrderlyStatus::SuspendCurrentQueueAMoment
            });
        match status {
            ConsumeOrderlyStatus::Success => {
                self.commit(pq, &batch);
                None
            }
            // A dropped queue is not consumed again here: its next owner starts from the
            // committed offset, which still holds these messages back.
            ConsumeOrderlyStatus::SuspendCurrentQueueAMoment if pq.is_dropped() => None,
            ConsumeOrderlyStatus::SuspendCurrentQueueAMoment => self.suspend(pq, batch, &ctx),
        }
    }

    /// Moves the queue's offset past a consumed batch. This runs under the queue's consume
    /// lock, even when the queue was dropped meanwhile: a rebalance handing the queue over
    /// commits its offset only once it holds that lock, so the batch just consumed is
    /// included and the next owner does not consume it again.
    fn commit(&self, pq: &ProcessQueue, batch: &[MessageExt]) {
        if let Some(offset) = pq.remove(batch.iter().map(|m| m.queue_offset)) {
            self.shared.offsets.update(&pq.mq, offset, true);
        }
    }

    /// Puts a refused batch back for later, or past the re-consume limit hands it to the
    /// broker's dead-letter queue and moves on.
    fn suspend(
        &self,
        pq: &ProcessQueue,
        mut batch: Vec<MessageExt>,
        ctx: &ConsumeOrderlyContext,
    ) -> Option<Duration> {
        let max = self.opts.max_reconsume_times;
        if batch.iter().all(|m| m.reconsume_times >= max) && self.give_up(pq, &batch) {
            self.commit(pq, &batch);
            return None;
        }
        for m in &mut batch {
            m.reconsume_times = m.reconsume_times.saturating_add(1);
        }
        pq.orderly().put_back(batch);
        Some(Duration::from_millis(ctx.suspend_current_queue_time_ms()))
    }

    /// Sends every message of `batch` back (to the DLQ: the group holds locks); false if one
    /// could not be sent, so the batch stays and is tried again after the suspension.
    fn give_up(&self, pq: &ProcessQueue, batch: &[MessageExt]) -> bool {
        if !self.shared.is_clustering() {
            warn!("broadcasting: dropping {} messages the orderly listener refused", batch.len());
            return true;
        }
        let instance = &self.shared.instance;
        let addr = match api::master_of(instance, &pq.mq) {
            Ok(addr) => addr,
            Err(e) => {
                debug!("cannot send back to {}: {e}", pq.mq.broker_name);
                return false;
            }
        };
        let (group, max) = (&self.shared.group, self.opts.max_reconsume_times);
        batch.iter().all(|m| match api::send_message_back(instance, &addr, group, m, 0, max) {
            Ok(()) => true,
            Err(e) => {
                debug!("send back of {} failed: {e}", m.msg_id());
                false
            }
        })
    }

    /// Hands `pq` to the later thread to run again after `delay`.
    fn later(&self, pq: Arc<ProcessQueue>, delay: Duration) {
        let sent = self
            .later_tx
            .lock()
            .as_ref()
            .map(|tx| tx.try_send((Instant::now() + delay, Arc::clone(&pq))));
        if !matches!(sent, Some(Ok(()))) {
            pq.orderly().unschedule();
        }
    }

    /// The `rmq-orderly-later` thread: holds suspended queues until due, then re-queues them.
    fn later_loop(&self, rx: &Receiver<Suspended>) {
        let mut waiting: Vec<Suspended> = Vec::new();
        loop {
            let next_due = waiting.iter().map(|(due, _)| *due).min();
            let wait =
                next_due.map_or(LATER_IDLE_WAIT, |d| d.saturating_duration_since(Instant::now()));
            match rx.recv_timeout(wait) {
                Ok(entry) => waiting.push(entry),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let now = Instant::now();
            let (due, not_due): (Vec<_>, Vec<_>) =
                waiting.into_iter().partition(|(d, _)| *d <= now);
            waiting = not_due;
            for (_, pq) in due {
                self.schedule(pq);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::client::config::ClientConfig;
    use crate::client::consumer::MessageModel;
    use crate::client::instance::ClientInstance;
    use crate::client::offset_store::OffsetStore;
    use crate::client::sync::stop_pair;
    use crate::protocol::body::queue::MessageQueue;

    const QUEUES: usize = 4;
    const PER_QUEUE: i64 = 300;

    /// A broadcasting context (no broker locks, no send-back) with a local offset file.
    fn shared(dir: &std::path::Path) -> Arc<Shared> {
        let config = ClientConfig::default().with_name_server("127.0.0.1:1");
        let instance = ClientInstance::start(config).unwrap();
        let offsets = OffsetStore::local(dir, &instance.client_id, "g").unwrap();
        let model = MessageModel::Broadcasting;
        Arc::new(Shared {
            group: "g".into(),
            model,
            instance,
            offsets,
            subscriptions: Arc::default(),
        })
    }

    fn msg(queue_id: i32, offset: i64) -> MessageExt {
        let host: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
        MessageExt {
            topic: "T".into(),
            queue_id,
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

    /// Four queues fed concurrently to eight threads: each queue's messages arrive in offset
    /// order, never two calls of one queue at once, and every queue commits its last offset.
    #[test]
    fn one_queue_is_consumed_in_order_by_one_thread_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let shared = shared(dir.path());
        let running: Arc<Vec<AtomicUsize>> =
            Arc::new((0..QUEUES).map(|_| AtomicUsize::new(0)).collect());
        let seen: Arc<Mutex<Vec<Vec<i64>>>> = Arc::new(Mutex::new(vec![Vec::new(); QUEUES]));
        let overlaps = Arc::new(AtomicUsize::new(0));
        let listener: Arc<OrderlyListener> = {
            let (running, seen, overlaps) =
                (Arc::clone(&running), Arc::clone(&seen), Arc::clone(&overlaps));
            Arc::new(move |msgs: &[MessageExt], ctx: &mut ConsumeOrderlyContext| {
                let q = usize::try_from(ctx.queue().queue_id).unwrap();
                if running[q].fetch_add(1, Ordering::AcqRel) != 0 {
                    overlaps.fetch_add(1, Ordering::AcqRel);
                }
                // Widens the window in which a second call of this queue would overlap.
                std::thread::yield_now();
                seen.lock()[q].extend(msgs.iter().map(|m| m.queue_offset));
                running[q].fetch_sub(1, Ordering::AcqRel);
                ConsumeOrderlyStatus::Success
            })
        };
        let opts = OrderlyOptions {
            threads: 8,
            batch_size: 3,
            max_reconsume_times: i32::MAX,
            suspend: Duration::from_millis(10),
        };
        let service =
            Arc::new(OrderlyConsumeService::start(Arc::clone(&shared), listener, opts).unwrap());
        let pqs: Vec<Arc<ProcessQueue>> = (0..QUEUES)
            .map(|q| {
                Arc::new(ProcessQueue::new(MessageQueue::new("T", "b", i32::try_from(q).unwrap())))
            })
            .collect();
        let (_stop, stopper) = stop_pair();
        let feeders: Vec<_> = pqs
            .iter()
            .map(|pq| {
                let (pq, service, stopper) =
                    (Arc::clone(pq), Arc::clone(&service), stopper.clone());
                std::thread::spawn(move || {
                    let mut next = 0;
                    while next < PER_QUEUE {
                        let chunk: Vec<MessageExt> = (next..(next + 7).min(PER_QUEUE))
                            .map(|o| msg(pq.mq.queue_id, o))
                            .collect();
                        next += i64::try_from(chunk.len()).unwrap();
                        pq.put(chunk.iter().map(|m| (m.queue_offset, 0)));
                        assert!(service.submit(&pq, chunk, &stopper));
                    }
                })
            })
            .collect();
        for f in feeders {
            f.join().unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while seen.lock().iter().map(Vec::len).sum::<usize>()
            < QUEUES * usize::try_from(PER_QUEUE).unwrap()
        {
            assert!(Instant::now() < deadline, "not everything was consumed");
            service.drain(Duration::from_millis(100));
        }
        service.shutdown();
        assert_eq!(overlaps.load(Ordering::Acquire), 0, "two calls of one queue overlapped");
        for (q, offsets) in seen.lock().iter().enumerate() {
            assert_eq!(*offsets, (0..PER_QUEUE).collect::<Vec<_>>(), "queue {q} in offset order");
            assert_eq!(shared.offsets.read_memory(&pqs[q].mq), Some(PER_QUEUE), "queue {q} commit");
        }
        shared.instance.shutdown();
    }
}
