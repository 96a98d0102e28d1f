//! The rebalance service of a push consumer: the `rmq-rebalance` thread and the table of
//! assigned queues.
//!
//! The thread rebalances at start, on NOTIFY_CONSUMER_IDS_CHANGED (through
//! [`RebalanceService::trigger`]) and every `interval`, retrying sooner with a doubling backoff
//! while a round is incomplete; it also commits the assigned queues' offsets every
//! `persist_every`.
//!
//! **Ownership:** a queue taken away is marked dropped and quiesced
//! ([`ProcessQueue::release`]) before its offset is committed and forgotten; the pull and
//! consume services touch no dropped queue afterwards, so the new owner may see duplicates but
//! never a gap.
//!
//! **Orderly (clustering):** a new queue is taken only once its broker granted this client the
//! queue's lock (otherwise it is skipped this round and the round retried sooner); every
//! assigned queue's lock is renewed every [`LOCK_INTERVAL`]. A queue taken away is unlocked
//! only after its batch in flight finished (its consume lock) and its offset was committed, or
//! after [`HAND_OVER_WAIT`], so its next owner, which must lock it first, never consumes it at
//! the same time.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, Sender};
use log::{debug, info, warn};
use parking_lot::Mutex;

use super::pull_service::PullService;
use super::queue_lock;
use super::Shared;
use crate::client::api;
use crate::client::consumer::{ConsumeFrom, MessageModel};
use crate::client::error::{ClientError, Result};
use crate::client::message::now_unix_ms;
use crate::client::process_queue::ProcessQueue;
use crate::client::rebalance::AllocateStrategy;
use crate::client::route::subscribe_queues;
use crate::client::sync::{stop_pair, StopHandle, Stopper};
use crate::protocol::body::queue::{MessageQueue, ResetOffsetBody};

/// The first retry delay of an incomplete rebalance.
const BACKOFF_START: Duration = Duration::from_secs(1);
/// Period of the lock renewal of an orderly consumer (Java
/// `rocketmq.client.rebalance.lockInterval`).
pub(super) const LOCK_INTERVAL: Duration = Duration::from_secs(20);
/// Longest wait for the batch in flight of a queue being handed over; then it is unlocked
/// anyway (Java `rocketmq.client.unlockDelayTimeMills`).
pub(super) const HAND_OVER_WAIT: Duration = Duration::from_secs(20);

/// Settings of the rebalance service.
#[derive(Debug, Clone, Copy)]
pub(super) struct RebalanceOptions {
    /// How queues are divided among the group.
    pub allocate: AllocateStrategy,
    /// Where to start on queues the group has no offset for.
    pub consume_from: ConsumeFrom,
    /// Period of the routine rebalance.
    pub interval: Duration,
    /// Period of the offset commit.
    pub persist_every: Duration,
    /// The listener is orderly: queues are locked on their brokers (clustering only).
    pub orderly: bool,
}

/// The `rmq-rebalance` thread and the queues it assigned.
pub(super) struct RebalanceService {
    balancer: Arc<Rebalancer>,
    trigger: Sender<()>,
    thread: Mutex<Option<(StopHandle, JoinHandle<()>)>>,
}

/// The rebalance logic and the assignment table.
struct Rebalancer {
    shared: Arc<Shared>,
    pull: Arc<PullService>,
    opts: RebalanceOptions,
    queues: Mutex<HashMap<MessageQueue, Arc<ProcessQueue>>>,
}

impl RebalanceService {
    /// Starts the thread; its first round runs at once.
    pub(super) fn start(
        shared: Arc<Shared>,
        pull: Arc<PullService>,
        opts: RebalanceOptions,
    ) -> Result<Self> {
        let balancer = Arc::new(Rebalancer { shared, pull, opts, queues: Mutex::default() });
        let (trigger, trigger_rx) = bounded(1);
        let (stop, stopper) = stop_pair();
        let thread_balancer = Arc::clone(&balancer);
        let handle = std::thread::Builder::new()
            .name("rmq-rebalance".into())
            .spawn(move || thread_balancer.run(&trigger_rx, &stopper))
            .map_err(|e| ClientError::invalid(format!("cannot spawn: {e}")))?;
        Ok(Self { balancer, trigger, thread: Mutex::new(Some((stop, handle))) })
    }

    /// Asks for a rebalance now (coalesced with one already asked for).
    pub(super) fn trigger(&self) {
        let _ = self.trigger.try_send(());
    }

    /// The assigned queues, sorted.
    pub(super) fn assignment(&self) -> Vec<MessageQueue> {
        let mut queues: Vec<MessageQueue> = self.balancer.queues.lock().keys().cloned().collect();
        queues.sort();
        queues
    }

    /// The assigned queues with their consumption state.
    pub(super) fn process_queues(&self) -> Vec<Arc<ProcessQueue>> {
        self.balancer.queues.lock().values().cloned().collect()
    }

    /// RESET_CONSUMER_CLIENT_OFFSET: releases the topic's queues named in `body`, stores their
    /// new offsets and rebalances, which takes the queues again from there.
    pub(super) fn reset_offsets(&self, topic: &str, body: &ResetOffsetBody) {
        let balancer = &self.balancer;
        let mqs: Vec<MessageQueue> =
            body.offset_table.keys().filter(|mq| mq.topic == topic).cloned().collect();
        let released = balancer.take_queues(&mqs);
        for pq in &released {
            pq.release();
        }
        // An orderly batch in flight commits under its queue's consume lock even once the
        // queue is dropped: hold those locks, so that commit lands before the reset, not after.
        let _consuming: Vec<_> = if balancer.opts.orderly {
            released.iter().filter_map(|pq| pq.try_consume_guard_for(HAND_OVER_WAIT)).collect()
        } else {
            Vec::new()
        };
        for (mq, offset) in body.offset_table.iter().filter(|(mq, _)| mq.topic == topic) {
            balancer.shared.offsets.update(mq, *offset, false);
            info!("{}: offset of {mq} reset to {offset}", balancer.shared.group);
        }
        balancer.shared.persist_offsets(&mqs);
        self.trigger();
    }

    /// Orderly: releases the broker locks of every assigned queue (at shutdown, after the last
    /// offset commit), so the members taking them over need not wait for the locks to expire.
    pub(super) fn unlock_all(&self) {
        let balancer = &self.balancer;
        if !balancer.needs_locks() {
            return;
        }
        let mqs = self.assignment();
        for (broker, mqs) in queue_lock::by_broker(&mqs) {
            let shared = &balancer.shared;
            if let Err(e) = queue_lock::unlock_batch(&shared.instance, &shared.group, &mqs) {
                debug!("cannot unlock {} queues on {broker}: {e}", mqs.len());
            }
        }
    }

    /// Stops the thread and waits for it; the assignment is kept (queues are not dropped) so
    /// that messages already pulled still commit. Idempotent.
    pub(super) fn stop(&self) {
        let thread = self.thread.lock().take();
        if let Some((mut stop, handle)) = thread {
            stop.stop();
            if handle.join().is_err() {
                warn!("the rebalance thread of {} panicked", self.balancer.shared.group);
            }
        }
    }
}

impl Rebalancer {
    /// The `rmq-rebalance` thread.
    fn run(&self, trigger: &Receiver<()>, stopper: &Stopper) {
        let mut next_rebalance = Instant::now();
        let mut next_persist = Instant::now() + self.opts.persist_every;
        let mut next_lock = Instant::now() + LOCK_INTERVAL;
        let mut backoff = BACKOFF_START;
        loop {
            let next = next_rebalance.min(next_persist);
            let next = if self.needs_locks() { next.min(next_lock) } else { next };
            let wait = next.saturating_duration_since(Instant::now());
            select! {
                recv(trigger) -> _ => next_rebalance = Instant::now(),
                recv(stopper.receiver()) -> _ => return,
                default(wait) => {}
            }
            if Instant::now() >= next_rebalance {
                let complete = self.rebalance();
                let delay = if complete { self.opts.interval } else { backoff };
                backoff =
                    if complete { BACKOFF_START } else { (backoff * 2).min(self.opts.interval) };
                next_rebalance = Instant::now() + delay;
            }
            if Instant::now() >= next_persist {
                let assigned: Vec<MessageQueue> = self.queues.lock().keys().cloned().collect();
                self.shared.persist_offsets(&assigned);
                next_persist = Instant::now() + self.opts.persist_every;
            }
            if self.needs_locks() && Instant::now() >= next_lock {
                self.renew_locks();
                next_lock = Instant::now() + LOCK_INTERVAL;
            }
        }
    }

    /// Whether queues must be locked on their brokers: orderly clustering consumers only.
    fn needs_locks(&self) -> bool {
        self.opts.orderly && self.shared.is_clustering()
    }

    /// Locks `mqs` on their brokers; returns those granted (all of them when no locks are
    /// needed). A broker that cannot be reached grants nothing.
    fn lock_queues(&self, mqs: &[MessageQueue]) -> Vec<MessageQueue> {
        if !self.needs_locks() || mqs.is_empty() {
            return mqs.to_vec();
        }
        let mut granted = Vec::with_capacity(mqs.len());
        for (broker, asked) in queue_lock::by_broker(mqs) {
            match queue_lock::lock_batch(&self.shared.instance, &self.shared.group, &asked) {
                Ok(got) => granted.extend(got.into_iter().filter(|mq| asked.contains(mq))),
                Err(e) => debug!("cannot lock {} queues on {broker}: {e}", asked.len()),
            }
        }
        granted
    }

    /// Renews the locks of every assigned queue; a queue refused stops being consumed until
    /// a later renewal gets it back. A broker that does not answer leaves its queues' locks to
    /// run out ([`crate::client::process_queue::LOCK_VALID_MS`]).
    fn renew_locks(&self) {
        let pqs: Vec<Arc<ProcessQueue>> = self.queues.lock().values().cloned().collect();
        let mqs: Vec<MessageQueue> = pqs.iter().map(|pq| pq.mq.clone()).collect();
        // The clock is read before asking, so a lock never counts as newer than it is.
        let now = now_unix_ms();
        for (broker, asked) in queue_lock::by_broker(&mqs) {
            match queue_lock::lock_batch(&self.shared.instance, &self.shared.group, &asked) {
                Ok(granted) => {
                    for pq in pqs.iter().filter(|pq| pq.mq.broker_name == broker) {
                        let held = granted.contains(&pq.mq);
                        if !held && pq.is_locked() {
                            warn!(
                                "{}: the lock of {} was refused on renewal",
                                self.shared.group, pq.mq
                            );
                        }
                        pq.set_locked(held, now);
                    }
                }
                Err(e) => debug!("cannot renew {} locks on {broker}: {e}", asked.len()),
            }
        }
    }

    /// One rebalance round over every subscribed topic; false if some topic could not be
    /// balanced (no route yet, broker unreachable, too many queues), so the caller retries
    /// sooner.
    fn rebalance(&self) -> bool {
        let topics: Vec<String> = self.shared.subscriptions.read().keys().cloned().collect();
        let mut complete = true;
        for topic in &topics {
            match self.allocated_queues(topic) {
                Ok(mine) => complete &= self.update_queues(topic, &mine),
                Err(e) => {
                    debug!("rebalance of {topic} for {} skipped: {e}", self.shared.group);
                    complete = false;
                }
            }
        }
        let gone: Vec<MessageQueue> =
            self.queues.lock().keys().filter(|mq| !topics.contains(&mq.topic)).cloned().collect();
        self.release_queues(&gone);
        complete
    }

    fn allocated_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        let instance = &self.shared.instance;
        let route = instance.route(topic)?;
        let all = subscribe_queues(topic, &route);
        match self.shared.model {
            MessageModel::Broadcasting => Ok(all),
            MessageModel::Clustering => {
                let cids = api::group_members(instance, &self.shared.group, topic)?;
                Ok(self.opts.allocate.allocate(&instance.client_id, &all, &cids))
            }
        }
    }

    /// Applies a topic's new assignment; false if some new queue could not start.
    fn update_queues(&self, topic: &str, mine: &[MessageQueue]) -> bool {
        let (removed, added): (Vec<MessageQueue>, Vec<MessageQueue>) = {
            let queues = self.queues.lock();
            let removed = queues
                .keys()
                .filter(|mq| mq.topic == topic && !mine.contains(mq))
                .cloned()
                .collect();
            let added = mine.iter().filter(|mq| !queues.contains_key(mq)).cloned().collect();
            (removed, added)
        };
        self.release_queues(&removed);
        // The clock is read before asking, so a lock never counts as newer than it is.
        let locked_at = now_unix_ms();
        let granted = self.lock_queues(&added);
        let mut complete = granted.len() == added.len();
        if !complete {
            info!(
                "{}: {} new queues of {topic} are still locked by their previous owner",
                self.shared.group,
                added.len() - granted.len()
            );
        }
        for mq in granted {
            match self.start_offset(&mq) {
                Ok(offset) => complete &= self.assign_queue(mq, offset, locked_at),
                Err(e) => {
                    info!("cannot start {mq}: {e}");
                    complete = false;
                }
            }
        }
        complete
    }

    /// Removes `mqs` from the assignment and returns their process queues.
    fn take_queues(&self, mqs: &[MessageQueue]) -> Vec<Arc<ProcessQueue>> {
        let mut queues = self.queues.lock();
        mqs.iter().filter_map(|mq| queues.remove(mq)).collect()
    }

    /// Stops consuming `mqs`: dropped and quiesced first (orderly: its batch in flight
    /// finished too), then their offsets are committed and forgotten, and (orderly) their
    /// broker locks released.
    fn release_queues(&self, mqs: &[MessageQueue]) {
        let released = self.take_queues(mqs);
        // All are dropped first, so their batches in flight finish while this waits for each.
        for pq in &released {
            pq.release();
        }
        for pq in released {
            let consuming = self.needs_locks().then(|| pq.try_consume_guard_for(HAND_OVER_WAIT));
            if matches!(consuming, Some(None)) {
                warn!(
                    "{}: a batch of {} still runs after {HAND_OVER_WAIT:?}; unlocking anyway",
                    self.shared.group, pq.mq
                );
            }
            if self.shared.is_clustering() {
                self.shared.persist_offsets(std::slice::from_ref(&pq.mq));
                self.shared.offsets.remove(&pq.mq);
            }
            if self.needs_locks() {
                let mq = std::slice::from_ref(&pq.mq);
                let shared = &self.shared;
                if let Err(e) = queue_lock::unlock_batch(&shared.instance, &shared.group, mq) {
                    debug!("cannot unlock {}: {e}; it expires on the broker", pq.mq);
                }
            }
            drop(consuming);
            info!("{} released {}", self.shared.group, pq.mq);
        }
    }

    /// The stored offset of `mq`, or the `consume_from` position when there is none.
    fn start_offset(&self, mq: &MessageQueue) -> Result<i64> {
        let offsets = &self.shared.offsets;
        if self.shared.is_clustering() {
            // Another member may have moved the offset since this client last owned the
            // queue: the broker's value wins over a stale one in memory.
            offsets.remove(mq);
        }
        match offsets.read_store(mq)? {
            Some(offset) => Ok(offset),
            None => self.opts.consume_from.start_offset(&self.shared.instance, mq),
        }
    }

    /// Starts pulling `mq` from `offset` (orderly: its lock granted at `locked_at`); false if
    /// the pull service refused it.
    fn assign_queue(&self, mq: MessageQueue, offset: i64, locked_at: u64) -> bool {
        let pq = Arc::new(ProcessQueue::new(mq.clone()));
        if self.needs_locks() {
            pq.set_locked(true, locked_at);
        }
        if !self.pull.add(Arc::clone(&pq), offset) {
            return false;
        }
        info!("{} took {mq} from offset {offset}", self.shared.group);
        self.queues.lock().insert(mq, pq);
        true
    }
}
