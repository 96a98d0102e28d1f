//! `PushConsumer`: subscribes to topics and calls a listener with the messages, pulling them in
//! the background.
//!
//! Threads (all named):
//! * `rmq-rebalance`: rebalances at start, on NOTIFY_CONSUMER_IDS_CHANGED and every 20 s, and
//!   commits offsets every 5 s.
//! * `rmq-pull-<queue>`: one long-polling pull loop per assigned queue. It stops pulling while
//!   its queue holds more than `pull_threshold_for_queue` messages or
//!   `pull_threshold_size_for_queue` bytes (or spans more than `consume_max_span` offsets).
//! * `rmq-consume-<n>`: the fixed listener pool, fed by a bounded channel.
//! * `rmq-consume-later`: re-submits messages that could not be sent back after
//!   `ReconsumeLater`.
//!
//! **Offsets:** the committed offset of a queue is its lowest message not yet consumed
//! ([`ProcessQueue`]); it is committed to the broker (clustering) or a local file
//! (broadcasting). Shutdown stops pulling, lets the pool finish what was handed to it, then
//! commits and unregisters, so the group's other members take over from exactly there.
//!
//! **Ownership:** a queue taken away by a rebalance is marked dropped before its offset is
//! committed; the workers neither consume nor commit for dropped queues afterwards, so the new
//! owner may see duplicates but never a gap.

use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, Sender};
use log::{debug, info, warn};
use parking_lot::{Mutex, RwLock};
use rocketmq_net::{RemotingCommand, RequestCode, ResponseCode};

use super::api::{self, PullOutcome, PullSpec, PULL_RPC_TIMEOUT};
use super::config::ClientConfig;
use super::consumer::{
    consumer_data, default_offset_dir, ConsumeContext, ConsumeFrom, ConsumeStatus, MessageModel,
    DEFAULT_CONSUMER_GROUP,
};
use super::error::{ClientError, Result};
use super::instance::ClientInstance;
use super::offset_store::OffsetStore;
use super::process_queue::ProcessQueue;
use super::rebalance::AllocateStrategy;
use super::route::subscribe_queues;
use super::sync::{stop_pair, StopHandle, Stopper};
use crate::protocol::body::heartbeat::{HeartbeatData, SubscriptionData};
use crate::protocol::body::queue::{MessageQueue, ResetOffsetBody};
use crate::protocol::constants::retry_topic;
use crate::protocol::header::offset::ResetOffsetRequestHeader;
use crate::protocol::message::MessageExt;

/// The listener: called with a batch of messages of one queue.
pub type MessageListener =
    dyn Fn(&[MessageExt], &mut ConsumeContext) -> ConsumeStatus + Send + Sync;

/// Pause after a failed pull (Java: 1 s in 5.x).
const PULL_ERROR_DELAY: Duration = Duration::from_secs(1);
/// Pause while a queue is over its flow-control limits (Java: 50 ms).
const FLOW_CONTROL_DELAY: Duration = Duration::from_millis(50);
/// Delay before re-consuming locally a message that could not be sent back (Java: 5 s).
const CONSUME_LATER_DELAY: Duration = Duration::from_secs(5);
/// Consume requests waiting for a listener thread.
const CONSUME_QUEUE_CAPACITY: usize = 1024;

/// Configures a [`PushConsumer`].
#[derive(Debug, Clone)]
pub struct PushConsumerBuilder {
    config: ClientConfig,
    group: String,
    model: MessageModel,
    consume_from: ConsumeFrom,
    threads: usize,
    batch_size: usize,
    pull_batch_size: i32,
    pull_threshold_for_queue: usize,
    pull_threshold_size_for_queue: usize,
    consume_max_span: i64,
    max_reconsume_times: i32,
    allocate: AllocateStrategy,
    offset_store_dir: Option<PathBuf>,
    rebalance_interval: Duration,
    shutdown_timeout: Duration,
}

impl Default for PushConsumerBuilder {
    fn default() -> Self {
        Self {
            config: ClientConfig::default(),
            group: DEFAULT_CONSUMER_GROUP.into(),
            model: MessageModel::Clustering,
            consume_from: ConsumeFrom::LastOffset,
            threads: 20,
            batch_size: 1,
            pull_batch_size: 32,
            pull_threshold_for_queue: 1000,
            pull_threshold_size_for_queue: 100 * 1024 * 1024,
            consume_max_span: 2000,
            max_reconsume_times: 16,
            allocate: AllocateStrategy::Averagely,
            offset_store_dir: None,
            rebalance_interval: Duration::from_secs(20),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

impl PushConsumerBuilder {
    /// Nameserver addresses, `;`-separated (default: `NAMESRV_ADDR`).
    pub fn name_server(mut self, addrs: &str) -> Self {
        self.config = self.config.with_name_server(addrs);
        self
    }

    /// The consumer group.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// The instance name, part of the client id (and of the broadcasting offset file path).
    pub fn instance_name(mut self, name: impl Into<String>) -> Self {
        self.config.instance_name = name.into();
        self
    }

    /// Clustering (default) or broadcasting.
    pub fn message_model(mut self, model: MessageModel) -> Self {
        self.model = model;
        self
    }

    /// Where to start on queues the group has no offset for.
    pub fn consume_from(mut self, from: ConsumeFrom) -> Self {
        self.consume_from = from;
        self
    }

    /// Listener threads (default 20).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// Messages per listener call (default 1).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Messages per pull (default 32).
    pub fn pull_batch_size(mut self, n: i32) -> Self {
        self.pull_batch_size = n.clamp(1, 1024);
        self
    }

    /// Pull pauses while a queue holds this many unconsumed messages (default 1000).
    pub fn pull_threshold_for_queue(mut self, n: usize) -> Self {
        self.pull_threshold_for_queue = n.max(1);
        self
    }

    /// Pull pauses while a queue holds this many unconsumed body bytes (default 100 MiB).
    pub fn pull_threshold_size_for_queue(mut self, bytes: usize) -> Self {
        self.pull_threshold_size_for_queue = bytes.max(1);
        self
    }

    /// Re-deliveries before a message goes to the dead-letter queue (default 16).
    pub fn max_reconsume_times(mut self, n: i32) -> Self {
        self.max_reconsume_times = n;
        self
    }

    /// How queues are divided among the group (default averagely).
    pub fn allocate_strategy(mut self, strategy: AllocateStrategy) -> Self {
        self.allocate = strategy;
        self
    }

    /// Directory of broadcasting offset files (default `~/.rocketmq_offsets`).
    pub fn offset_store_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.offset_store_dir = Some(dir.into());
        self
    }

    /// Period of the routine rebalance (default 20 s).
    pub fn rebalance_interval(mut self, interval: Duration) -> Self {
        self.rebalance_interval = interval.max(Duration::from_millis(100));
        self
    }

    /// How often consumed offsets are committed (default 5 s).
    pub fn persist_offset_interval(mut self, interval: Duration) -> Self {
        self.config.persist_offset_interval = interval.max(Duration::from_millis(100));
        self
    }

    /// How long `shutdown` waits for in-flight messages (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Replaces the whole client configuration.
    pub fn client_config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// A consumer ready for `subscribe` and `start`.
    pub fn build(self) -> Result<PushConsumer> {
        self.config.validate()?;
        if self.group.is_empty() {
            return Err(ClientError::invalid("the consumer group is empty"));
        }
        let inner = Arc::new(Inner {
            opts: self,
            subscriptions: RwLock::new(BTreeMap::new()),
            runtime: OnceLock::new(),
            state: Mutex::new(State::Created),
        });
        Ok(PushConsumer { inner })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Created,
    Running,
    Stopped,
}

/// A push consumer. Subscribe, then start with a listener; shut down on drop.
#[derive(Debug)]
pub struct PushConsumer {
    inner: Arc<Inner>,
}

struct Inner {
    opts: PushConsumerBuilder,
    /// Topic → subscription, the retry topic included once started (clustering).
    subscriptions: RwLock<BTreeMap<String, SubscriptionData>>,
    runtime: OnceLock<Runtime>,
    state: Mutex<State>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushConsumer")
            .field("group", &self.opts.group)
            .field("model", &self.opts.model)
            .field("topics", &self.subscriptions.read().keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Everything that exists only once started.
struct Runtime {
    instance: Arc<ClientInstance>,
    offsets: OffsetStore,
    listener: Arc<MessageListener>,
    queues: Mutex<HashMap<MessageQueue, QueueWorker>>,
    consume_tx: Mutex<Option<Sender<ConsumeRequest>>>,
    later_tx: Mutex<Option<Sender<ConsumeRequest>>>,
    rebalance_tx: Sender<()>,
    /// Consume requests handed to the pool and not finished yet.
    outstanding: AtomicUsize,
    paused: AtomicBool,
    timer: Mutex<Option<(StopHandle, JoinHandle<()>)>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// An assigned queue and its pull thread.
struct QueueWorker {
    pq: Arc<ProcessQueue>,
    stop: StopHandle,
    thread: JoinHandle<()>,
}

/// Messages of one queue for one listener call.
struct ConsumeRequest {
    pq: Arc<ProcessQueue>,
    msgs: Vec<MessageExt>,
    due: Instant,
}

impl PushConsumer {
    /// A builder with defaults.
    pub fn builder() -> PushConsumerBuilder {
        PushConsumerBuilder::default()
    }

    /// Subscribes to `topic` with a tag expression: `"*"`, `"TagA"` or `"TagA || TagB"`. May be
    /// called before or after `start`.
    pub fn subscribe(&self, topic: &str, expression: &str) -> Result<()> {
        crate::protocol::constants::validate_topic(topic)
            .map_err(|e| ClientError::invalid(e.to_string()))?;
        let version = i64::try_from(super::message::now_unix_ms()).unwrap_or(0);
        let data = SubscriptionData::from_tag_expression(topic, expression, version);
        self.inner.subscriptions.write().insert(topic.to_string(), data);
        if let Some(rt) = self.inner.runtime.get() {
            rt.instance.send_heartbeat();
            let _ = rt.rebalance_tx.try_send(());
        }
        Ok(())
    }

    /// Stops consuming `topic`.
    pub fn unsubscribe(&self, topic: &str) {
        self.inner.subscriptions.write().remove(topic);
        if let Some(rt) = self.inner.runtime.get() {
            rt.instance.forget_topic(topic);
            rt.instance.send_heartbeat();
            let _ = rt.rebalance_tx.try_send(());
        }
    }

    /// Starts consuming: `listener` is called concurrently from the listener threads, with up to
    /// `batch_size` messages of one queue at a time.
    pub fn start<F>(&self, listener: F) -> Result<()>
    where
        F: Fn(&[MessageExt], &mut ConsumeContext) -> ConsumeStatus + Send + Sync + 'static,
    {
        self.inner.start(Arc::new(listener))
    }

    /// Same as [`PushConsumer::start`] (the Java name of the concurrent listener).
    pub fn start_concurrently<F>(&self, listener: F) -> Result<()>
    where
        F: Fn(&[MessageExt], &mut ConsumeContext) -> ConsumeStatus + Send + Sync + 'static,
    {
        self.start(listener)
    }

    /// The client id brokers know this consumer by (once started).
    pub fn client_id(&self) -> Option<String> {
        self.inner.runtime.get().map(|rt| rt.instance.client_id.clone())
    }

    /// The queues currently assigned to this consumer.
    pub fn assignment(&self) -> Vec<MessageQueue> {
        let Some(rt) = self.inner.runtime.get() else { return Vec::new() };
        let mut queues: Vec<MessageQueue> = rt.queues.lock().keys().cloned().collect();
        queues.sort();
        queues
    }

    /// Stops pulling (messages already pulled are still consumed).
    pub fn suspend(&self) {
        if let Some(rt) = self.inner.runtime.get() {
            rt.paused.store(true, Ordering::Release);
        }
    }

    /// Resumes pulling after [`PushConsumer::suspend`].
    pub fn resume(&self) {
        if let Some(rt) = self.inner.runtime.get() {
            rt.paused.store(false, Ordering::Release);
        }
    }

    /// Rebalances now instead of waiting for the next period.
    pub fn rebalance_now(&self) {
        if let Some(rt) = self.inner.runtime.get() {
            let _ = rt.rebalance_tx.try_send(());
        }
    }

    /// Stops pulling, waits up to the configured shutdown timeout for messages already handed to
    /// the listener, commits offsets and leaves the group. Idempotent; also run on drop.
    pub fn shutdown(&self) {
        self.inner.shutdown(self.inner.opts.shutdown_timeout);
    }

    /// [`PushConsumer::shutdown`] with an explicit wait for in-flight messages.
    pub fn shutdown_timeout(&self, timeout: Duration) {
        self.inner.shutdown(timeout);
    }
}

impl Drop for PushConsumer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Inner {
    fn rt(&self) -> &Runtime {
        self.runtime.get().expect("runtime exists once started")
    }

    fn is_clustering(&self) -> bool {
        self.opts.model == MessageModel::Clustering
    }

    fn start(self: &Arc<Self>, listener: Arc<MessageListener>) -> Result<()> {
        let mut state = self.state.lock();
        if *state != State::Created {
            return Err(ClientError::invalid("the consumer was already started"));
        }
        if self.subscriptions.read().is_empty() {
            return Err(ClientError::invalid("subscribe to at least one topic before start"));
        }
        let instance = ClientInstance::start(self.opts.config.clone())?;
        let offsets = match self.opts.model {
            MessageModel::Clustering => {
                OffsetStore::remote(Arc::clone(&instance), &self.opts.group)
            }
            MessageModel::Broadcasting => {
                let dir = self.opts.offset_store_dir.clone().unwrap_or_else(default_offset_dir);
                OffsetStore::local(&dir, &instance.client_id, &self.opts.group)?
            }
        };
        if self.is_clustering() {
            let retry = retry_topic(&self.opts.group);
            let version = i64::try_from(super::message::now_unix_ms()).unwrap_or(0);
            let data = SubscriptionData::from_tag_expression(&retry, "*", version);
            self.subscriptions.write().insert(retry, data);
        }
        let (consume_tx, consume_rx) = bounded(CONSUME_QUEUE_CAPACITY);
        let (later_tx, later_rx) = bounded(CONSUME_QUEUE_CAPACITY);
        let (rebalance_tx, rebalance_rx) = bounded(1);
        let rt = Runtime {
            instance: Arc::clone(&instance),
            offsets,
            listener,
            queues: Mutex::new(HashMap::new()),
            consume_tx: Mutex::new(Some(consume_tx)),
            later_tx: Mutex::new(Some(later_tx)),
            rebalance_tx,
            outstanding: AtomicUsize::new(0),
            paused: AtomicBool::new(false),
            timer: Mutex::new(None),
            workers: Mutex::new(Vec::new()),
        };
        if self.runtime.set(rt).is_err() {
            instance.shutdown();
            return Err(ClientError::invalid("the consumer was already started"));
        }
        self.install_hooks(&instance);
        for topic in self.subscriptions.read().keys() {
            if let Err(e) = instance.route(topic) {
                info!("no route for {topic} yet ({e}); will retry");
            }
        }
        instance.send_heartbeat();
        self.spawn_threads(&consume_rx, &later_rx, rebalance_rx)?;
        *state = State::Running;
        info!("push consumer {} of group {} started", instance.client_id, self.opts.group);
        Ok(())
    }

    fn install_hooks(self: &Arc<Self>, instance: &ClientInstance) {
        let weak = Arc::downgrade(self);
        instance.set_heartbeat(Arc::new(move || {
            weak.upgrade().map_or_else(HeartbeatData::default, |inner| inner.heartbeat_data())
        }));
        let weak = Arc::downgrade(self);
        instance.set_request_handler(Arc::new(move |addr, cmd| handle_request(&weak, addr, cmd)));
    }

    fn heartbeat_data(&self) -> HeartbeatData {
        let subs: Vec<SubscriptionData> = self.subscriptions.read().values().cloned().collect();
        let data = consumer_data(
            &self.opts.group,
            "CONSUME_PASSIVELY",
            self.opts.model,
            self.opts.consume_from,
            subs,
        );
        HeartbeatData {
            client_id: self
                .runtime
                .get()
                .map(|rt| rt.instance.client_id.clone())
                .unwrap_or_default(),
            consumer_data_set: vec![data],
            ..HeartbeatData::default()
        }
    }

    fn spawn_threads(
        self: &Arc<Self>,
        consume_rx: &Receiver<ConsumeRequest>,
        later_rx: &Receiver<ConsumeRequest>,
        rebalance_rx: Receiver<()>,
    ) -> Result<()> {
        let spawn_err = |e: std::io::Error| ClientError::invalid(format!("cannot spawn: {e}"));
        let rt = self.rt();
        let mut workers = rt.workers.lock();
        for i in 0..self.opts.threads {
            let (inner, rx) = (Arc::clone(self), consume_rx.clone());
            let handle = std::thread::Builder::new()
                .name(format!("rmq-consume-{i}"))
                .spawn(move || inner.consume_loop(&rx))
                .map_err(spawn_err)?;
            workers.push(handle);
        }
        let (inner, rx) = (Arc::clone(self), later_rx.clone());
        let handle = std::thread::Builder::new()
            .name("rmq-consume-later".into())
            .spawn(move || inner.later_loop(&rx))
            .map_err(spawn_err)?;
        workers.push(handle);
        let (stop, stopper) = stop_pair();
        let inner = Arc::clone(self);
        let handle = std::thread::Builder::new()
            .name("rmq-rebalance".into())
            .spawn(move || inner.timer_loop(&rebalance_rx, &stopper))
            .map_err(spawn_err)?;
        *rt.timer.lock() = Some((stop, handle));
        Ok(())
    }

    // ---- rebalance and offsets (rmq-rebalance thread) ----

    fn timer_loop(self: &Arc<Self>, trigger: &Receiver<()>, stopper: &Stopper) {
        let rt = self.rt();
        let persist_every = self.opts.config.persist_offset_interval;
        let mut next_rebalance = Instant::now();
        let mut next_persist = Instant::now() + persist_every;
        let mut backoff = Duration::from_secs(1);
        loop {
            let wait = next_rebalance.min(next_persist).saturating_duration_since(Instant::now());
            select! {
                recv(trigger) -> _ => next_rebalance = Instant::now(),
                recv(stopper.receiver()) -> _ => return,
                default(wait) => {}
            }
            if Instant::now() >= next_rebalance {
                let complete = self.rebalance();
                let delay = if complete { self.opts.rebalance_interval } else { backoff };
                backoff = if complete {
                    Duration::from_secs(1)
                } else {
                    (backoff * 2).min(self.opts.rebalance_interval)
                };
                next_rebalance = Instant::now() + delay;
            }
            if Instant::now() >= next_persist {
                let assigned: Vec<MessageQueue> = rt.queues.lock().keys().cloned().collect();
                self.persist_offsets(&assigned);
                next_persist = Instant::now() + persist_every;
            }
        }
    }

    fn persist_offsets(&self, mqs: &[MessageQueue]) {
        if let Err(e) = self.rt().offsets.persist(mqs) {
            debug!("committing offsets failed: {e}");
        }
    }

    /// One rebalance round over every subscribed topic; false if some topic could not be
    /// balanced (no route yet, broker unreachable), so the caller retries sooner.
    fn rebalance(self: &Arc<Self>) -> bool {
        let topics: Vec<String> = self.subscriptions.read().keys().cloned().collect();
        let mut complete = true;
        for topic in &topics {
            match self.allocated_queues(topic) {
                Ok(mine) => complete &= self.update_queues(topic, &mine),
                Err(e) => {
                    debug!("rebalance of {topic} for {} skipped: {e}", self.opts.group);
                    complete = false;
                }
            }
        }
        let gone: Vec<MessageQueue> = self
            .rt()
            .queues
            .lock()
            .keys()
            .filter(|mq| !topics.contains(&mq.topic))
            .cloned()
            .collect();
        self.release_queues(&gone);
        complete
    }

    fn allocated_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        let rt = self.rt();
        let route = rt.instance.route(topic)?;
        let all = subscribe_queues(topic, &route);
        match self.opts.model {
            MessageModel::Broadcasting => Ok(all),
            MessageModel::Clustering => {
                let cids = api::group_members(&rt.instance, &self.opts.group, topic)?;
                Ok(self.opts.allocate.allocate(&rt.instance.client_id, &all, &cids))
            }
        }
    }

    /// Applies a topic's new assignment; false if some new queue could not start.
    fn update_queues(self: &Arc<Self>, topic: &str, mine: &[MessageQueue]) -> bool {
        let rt = self.rt();
        let (removed, added): (Vec<MessageQueue>, Vec<MessageQueue>) = {
            let queues = rt.queues.lock();
            let removed = queues
                .keys()
                .filter(|mq| mq.topic == topic && !mine.contains(mq))
                .cloned()
                .collect();
            let added = mine.iter().filter(|mq| !queues.contains_key(mq)).cloned().collect();
            (removed, added)
        };
        self.release_queues(&removed);
        let mut complete = true;
        for mq in added {
            match self.start_offset(&mq) {
                Ok(offset) => self.assign_queue(mq, offset),
                Err(e) => {
                    info!("cannot start {mq}: {e}");
                    complete = false;
                }
            }
        }
        complete
    }

    /// Stops consuming `mqs`: dropped first, then their offsets are committed and forgotten.
    fn release_queues(&self, mqs: &[MessageQueue]) {
        let rt = self.rt();
        let workers: Vec<QueueWorker> = {
            let mut queues = rt.queues.lock();
            mqs.iter().filter_map(|mq| queues.remove(mq)).collect()
        };
        for mut worker in workers {
            worker.pq.mark_dropped();
            worker.stop.stop();
            if worker.thread.join().is_err() {
                warn!("the pull thread of {} panicked", worker.pq.mq);
            }
            if self.is_clustering() {
                self.persist_offsets(std::slice::from_ref(&worker.pq.mq));
                rt.offsets.remove(&worker.pq.mq);
            }
            info!("{} released {}", self.opts.group, worker.pq.mq);
        }
    }

    /// The stored offset of `mq`, or the `consume_from` position when there is none.
    fn start_offset(&self, mq: &MessageQueue) -> Result<i64> {
        let rt = self.rt();
        let stored = match self.opts.model {
            MessageModel::Clustering => {
                rt.offsets.remove(mq);
                rt.offsets.read_store(mq)?
            }
            MessageModel::Broadcasting => rt.offsets.read_store(mq)?,
        };
        match stored {
            Some(offset) => Ok(offset),
            None => self.opts.consume_from.start_offset(&rt.instance, mq),
        }
    }

    fn assign_queue(self: &Arc<Self>, mq: MessageQueue, offset: i64) {
        let rt = self.rt();
        let pq = Arc::new(ProcessQueue::new(mq.clone()));
        let (stop, stopper) = stop_pair();
        let inner = Arc::clone(self);
        let thread_pq = Arc::clone(&pq);
        let name = format!("rmq-pull-{}-{}", mq.broker_name, mq.queue_id);
        let spawned = std::thread::Builder::new()
            .name(name)
            .spawn(move || inner.pull_loop(&thread_pq, &stopper, offset));
        match spawned {
            Ok(thread) => {
                info!("{} took {mq} from offset {offset}", self.opts.group);
                rt.queues.lock().insert(mq, QueueWorker { pq, stop, thread });
            }
            Err(e) => warn!("cannot spawn the pull thread of {mq}: {e}"),
        }
    }

    // ---- pulling (rmq-pull-* threads) ----

    /// Whether `pq` is over a flow-control limit.
    fn flow_controlled(&self, pq: &ProcessQueue) -> bool {
        let (count, bytes, span) = pq.load();
        count > self.opts.pull_threshold_for_queue
            || bytes > self.opts.pull_threshold_size_for_queue
            || span > self.opts.consume_max_span
    }

    fn subscription(&self, topic: &str) -> Option<SubscriptionData> {
        self.subscriptions.read().get(topic).cloned()
    }

    /// The long-polling loop of one queue, from `offset` until stopped.
    fn pull_loop(&self, pq: &Arc<ProcessQueue>, stopper: &Stopper, mut offset: i64) {
        let rt = self.rt();
        let (tx, rx) = bounded::<Result<RemotingCommand>>(1);
        while !stopper.is_stopped() && !pq.is_dropped() {
            if rt.paused.load(Ordering::Acquire) || self.flow_controlled(pq) {
                if stopper.sleep(FLOW_CONTROL_DELAY) {
                    return;
                }
                continue;
            }
            let Some(sub) = self.subscription(&pq.mq.topic) else {
                if stopper.sleep(PULL_ERROR_DELAY) {
                    return;
                }
                continue;
            };
            let commit_offset =
                if self.is_clustering() { rt.offsets.read_memory(&pq.mq) } else { None };
            let spec = PullSpec {
                group: &self.opts.group,
                mq: &pq.mq,
                offset,
                max_msg_nums: self.opts.pull_batch_size,
                commit_offset,
                subscription: &sub,
                suspend: true,
            };
            let outcome = match self.pull_once(&spec, &tx, &rx, stopper) {
                Some(outcome) => outcome,
                None => return,
            };
            match outcome {
                Ok(PullOutcome::Found { next_offset, messages }) => {
                    offset = next_offset;
                    if !messages.is_empty() && !self.deliver(pq, messages, stopper) {
                        return;
                    }
                    self.commit_if_idle(pq, offset);
                }
                Ok(PullOutcome::NoNewMessage { next_offset }) => {
                    offset = next_offset;
                    self.commit_if_idle(pq, offset);
                }
                Ok(PullOutcome::OffsetMoved { next_offset }) => {
                    warn!(
                        "{}: offset {offset} of {} is invalid; moving to {next_offset}",
                        self.opts.group, pq.mq
                    );
                    offset = next_offset;
                    rt.offsets.update(&pq.mq, offset, false);
                    self.persist_offsets(std::slice::from_ref(&pq.mq));
                }
                Err(e) => {
                    debug!("pull of {} failed: {e}", pq.mq);
                    rt.instance.refresh_route_after_failure(&pq.mq.topic);
                    if stopper.sleep(PULL_ERROR_DELAY) {
                        return;
                    }
                }
            }
        }
    }

    /// Sends one pull and waits for its answer; `None` when stopped meanwhile.
    fn pull_once(
        &self,
        spec: &PullSpec<'_>,
        tx: &Sender<Result<RemotingCommand>>,
        rx: &Receiver<Result<RemotingCommand>>,
        stopper: &Stopper,
    ) -> Option<Result<PullOutcome>> {
        let rt = self.rt();
        let addr = match api::master_of(&rt.instance, spec.mq) {
            Ok(addr) => addr,
            Err(e) => return Some(Err(e)),
        };
        let (cb_tx, cb_addr) = (tx.clone(), addr.clone());
        let callback = Box::new(move |r: std::result::Result<RemotingCommand, _>| {
            let _ = cb_tx.try_send(r.map_err(|e| ClientError::from_net(&cb_addr, e)));
        });
        let cmd = api::pull_command(spec);
        if let Err(e) = rt.instance.remoting.invoke_async(&addr, cmd, PULL_RPC_TIMEOUT, callback) {
            return Some(Err(ClientError::from_net(&addr, e)));
        }
        select! {
            recv(rx) -> r => r.ok().map(|r| r.and_then(|resp| api::pull_outcome(&addr, spec, &resp))),
            recv(stopper.receiver()) -> _ => None,
        }
    }

    /// With nothing in flight, the queue's position is where the next pull starts (filtered
    /// or no messages still move the committed offset forward).
    fn commit_if_idle(&self, pq: &ProcessQueue, next_offset: i64) {
        if pq.is_empty() && !pq.is_dropped() {
            self.rt().offsets.update(&pq.mq, next_offset, true);
        }
    }

    /// Records pulled messages as in flight and hands them to the pool in listener-sized
    /// batches; false if stopped before all were handed over (they stay in flight, holding
    /// the offset back, and are pulled again later).
    fn deliver(
        &self,
        pq: &Arc<ProcessQueue>,
        messages: Vec<MessageExt>,
        stopper: &Stopper,
    ) -> bool {
        let rt = self.rt();
        pq.put(messages.iter().map(|m| (m.queue_offset, m.body.len())));
        let Some(consume_tx) = rt.consume_tx.lock().clone() else { return false };
        let mut messages = messages.into_iter().peekable();
        while messages.peek().is_some() {
            let msgs: Vec<MessageExt> = messages.by_ref().take(self.opts.batch_size).collect();
            let req = ConsumeRequest { pq: Arc::clone(pq), msgs, due: Instant::now() };
            rt.outstanding.fetch_add(1, Ordering::AcqRel);
            select! {
                send(consume_tx, req) -> sent => if sent.is_err() {
                    rt.outstanding.fetch_sub(1, Ordering::AcqRel);
                    return false;
                },
                recv(stopper.receiver()) -> _ => {
                    rt.outstanding.fetch_sub(1, Ordering::AcqRel);
                    return false;
                }
            }
        }
        true
    }

    // ---- consuming (rmq-consume-* threads) ----

    fn consume_loop(&self, rx: &Receiver<ConsumeRequest>) {
        let rt = self.rt();
        for req in rx.iter() {
            self.consume(req);
            rt.outstanding.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn consume(&self, req: ConsumeRequest) {
        let rt = self.rt();
        if req.pq.is_dropped() {
            return;
        }
        let mut ctx = ConsumeContext::new(req.pq.mq.clone());
        let listener = Arc::clone(&rt.listener);
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
            ConsumeStatus::ReconsumeLater if self.is_clustering() => self.send_back(req, &ctx),
            ConsumeStatus::ReconsumeLater => {
                warn!("broadcasting: dropping {} messages the listener refused", req.msgs.len());
                req.msgs.iter().map(|m| m.queue_offset).collect()
            }
        };
        if let Some(offset) = pq.remove(done) {
            if !pq.is_dropped() {
                rt.offsets.update(&pq.mq, offset, true);
            }
        }
    }

    /// Sends refused messages back to the broker for re-delivery; those that cannot be sent are
    /// consumed again locally later. Returns the offsets that are done with.
    fn send_back(&self, req: ConsumeRequest, ctx: &ConsumeContext) -> Vec<i64> {
        let rt = self.rt();
        let addr = match api::master_of(&rt.instance, &req.pq.mq) {
            Ok(addr) => addr,
            Err(e) => {
                debug!("cannot send back to {}: {e}", req.pq.mq.broker_name);
                self.consume_later(req);
                return Vec::new();
            }
        };
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for msg in req.msgs {
            let max = self.opts.max_reconsume_times;
            let level = ctx.delay_level();
            match api::send_message_back(&rt.instance, &addr, &self.opts.group, &msg, level, max) {
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
        let rt = self.rt();
        req.due = Instant::now() + CONSUME_LATER_DELAY;
        let Some(tx) = rt.later_tx.lock().clone() else { return };
        if tx.try_send(req).is_err() {
            warn!("the consume-later queue is full; the message will be pulled again later");
        }
    }

    /// The `rmq-consume-later` thread: holds requests until due, then re-submits them.
    fn later_loop(&self, rx: &Receiver<ConsumeRequest>) {
        let rt = self.rt();
        let mut waiting: Vec<ConsumeRequest> = Vec::new();
        loop {
            let next_due = waiting.iter().map(|r| r.due).min();
            let wait = next_due
                .map_or(Duration::from_secs(3600), |d| d.saturating_duration_since(Instant::now()));
            match rx.recv_timeout(wait) {
                Ok(req) => waiting.push(req),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
            }
            let now = Instant::now();
            let (due, not_due): (Vec<_>, Vec<_>) = waiting.into_iter().partition(|r| r.due <= now);
            waiting = not_due;
            let Some(tx) = rt.consume_tx.lock().clone() else { return };
            for req in due {
                rt.outstanding.fetch_add(1, Ordering::AcqRel);
                if tx.send(req).is_err() {
                    rt.outstanding.fetch_sub(1, Ordering::AcqRel);
                    return;
                }
            }
        }
    }

    // ---- broker requests ----

    /// RESET_CONSUMER_CLIENT_OFFSET: release the queues, store the new offsets, rebalance (which
    /// takes the queues again from the new offsets).
    fn reset_offsets(&self, header: &ResetOffsetRequestHeader, body: &ResetOffsetBody) {
        let Some(rt) = self.runtime.get() else { return };
        let mqs: Vec<MessageQueue> =
            body.offset_table.keys().filter(|mq| mq.topic == header.topic).cloned().collect();
        let workers: Vec<QueueWorker> = {
            let mut queues = rt.queues.lock();
            mqs.iter().filter_map(|mq| queues.remove(mq)).collect()
        };
        for mut worker in workers {
            worker.pq.mark_dropped();
            worker.stop.stop();
            let _ = worker.thread.join();
        }
        for (mq, offset) in body.offset_table.iter().filter(|(mq, _)| mq.topic == header.topic) {
            rt.offsets.update(mq, *offset, false);
            info!("{}: offset of {mq} reset to {offset}", self.opts.group);
        }
        self.persist_offsets(&mqs);
        let _ = rt.rebalance_tx.try_send(());
    }

    /// GET_CONSUMER_RUNNING_INFO: what `mqadmin consumerStatus` shows (ConsumerRunningInfo
    /// JSON, MessageQueue-keyed maps in fastjson's object-key form).
    fn running_info(&self) -> RemotingCommand {
        let mut props = BTreeMap::new();
        props.insert("PROP_CONSUME_TYPE", "CONSUME_PASSIVELY".to_string());
        props.insert("PROP_CONSUMEORDERLY", "false".to_string());
        props.insert("PROP_CLIENT_VERSION", "V5_3_3".to_string());
        props.insert("PROP_THREADPOOL_CORE_SIZE", self.opts.threads.to_string());
        props.insert("PROP_NAMESERVER_ADDR", self.opts.config.name_servers.join(";"));
        props.insert("messageModel", self.opts.model.name().to_string());
        props.insert("consumeFromWhere", self.opts.consume_from.name().to_string());
        let subs: Vec<SubscriptionData> = self.subscriptions.read().values().cloned().collect();
        let mut mq_table = String::from("{");
        if let Some(rt) = self.runtime.get() {
            let queues = rt.queues.lock();
            for (i, (mq, worker)) in queues.iter().enumerate() {
                let (count, bytes, _) = worker.pq.load();
                let commit = rt.offsets.read_memory(mq).unwrap_or(-1);
                if i > 0 {
                    mq_table.push(',');
                }
                mq_table.push_str(&serde_json::to_string(mq).unwrap_or_default());
                mq_table.push_str(&format!(
                    ":{{\"cachedMsgCount\":{count},\"cachedMsgSizeInMiB\":{},\"commitOffset\":{commit},\"droped\":false,\"locked\":false}}",
                    bytes / (1024 * 1024)
                ));
            }
        }
        mq_table.push('}');
        let body = format!(
            "{{\"mqPopTable\":{{}},\"mqTable\":{mq_table},\"properties\":{},\"statusTable\":{{}},\"subscriptionSet\":{},\"userConsumerInfo\":{{}}}}",
            serde_json::to_string(&props).unwrap_or_else(|_| "{}".into()),
            serde_json::to_string(&subs).unwrap_or_else(|_| "[]".into()),
        );
        RemotingCommand::response(ResponseCode::Success.to_i32(), None).with_body(body.into_bytes())
    }

    // ---- shutdown ----

    fn shutdown(&self, timeout: Duration) {
        {
            let mut state = self.state.lock();
            if *state != State::Running {
                *state = State::Stopped;
                return;
            }
            *state = State::Stopped;
        }
        let rt = self.rt();
        let timer = rt.timer.lock().take();
        if let Some((mut stop, handle)) = timer {
            stop.stop();
            let _ = handle.join();
        }
        // Stop pulling but keep the queues (not dropped) so that in-flight work still commits.
        let workers: Vec<QueueWorker> = rt.queues.lock().drain().map(|(_, w)| w).collect();
        let mut assigned = Vec::with_capacity(workers.len());
        for mut worker in workers {
            worker.stop.stop();
            let _ = worker.thread.join();
            assigned.push(worker.pq.mq.clone());
        }
        self.drain(timeout);
        rt.consume_tx.lock().take();
        rt.later_tx.lock().take();
        // A listener may shut its own consumer down: never join the calling thread.
        let me = std::thread::current().id();
        for handle in rt.workers.lock().drain(..).filter(|h| h.thread().id() != me) {
            let _ = handle.join();
        }
        self.persist_offsets(&assigned);
        rt.instance.unregister(None, Some(&self.opts.group));
        rt.instance.shutdown();
        info!("push consumer of group {} stopped", self.opts.group);
    }

    /// Waits until the pool has finished everything handed to it, or `timeout`.
    fn drain(&self, timeout: Duration) {
        let rt = self.rt();
        let deadline = Instant::now() + timeout;
        while rt.outstanding.load(Ordering::Acquire) > 0 {
            if Instant::now() >= deadline {
                warn!(
                    "shutdown: {} consume requests still running",
                    rt.outstanding.load(Ordering::Acquire)
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Answers the requests brokers send to consumers.
fn handle_request(
    inner: &Weak<Inner>,
    addr: &str,
    cmd: RemotingCommand,
) -> Option<RemotingCommand> {
    let ok = || RemotingCommand::response(ResponseCode::Success.to_i32(), None);
    let Some(inner) = inner.upgrade() else { return Some(ok()) };
    match RequestCode::from_i32(cmd.code) {
        RequestCode::NotifyConsumerIdsChanged => {
            debug!("{addr}: consumers of {} changed", inner.opts.group);
            if let Some(rt) = inner.runtime.get() {
                let _ = rt.rebalance_tx.try_send(());
            }
            Some(ok())
        }
        RequestCode::ResetConsumerClientOffset => {
            let header = cmd.decode_header::<ResetOffsetRequestHeader>();
            let body = ResetOffsetBody::from_json(&cmd.body);
            match (header, body) {
                (Ok(h), Ok(b)) if h.group == inner.opts.group => inner.reset_offsets(&h, &b),
                (Ok(_), Ok(_)) => {}
                _ => warn!("{addr} sent an unreadable RESET_CONSUMER_CLIENT_OFFSET"),
            }
            Some(ok())
        }
        RequestCode::GetConsumerRunningInfo => Some(inner.running_info()),
        _ => Some(RemotingCommand::response(
            ResponseCode::RequestCodeNotSupported.to_i32(),
            Some(format!(" request type {} not supported", cmd.code)),
        )),
    }
}
