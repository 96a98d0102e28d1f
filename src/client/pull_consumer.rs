//! `PullConsumer`: the lite pull consumer. The application calls [`PullConsumer::poll`] and
//! decides when offsets are committed (or lets auto-commit do it); background threads keep a
//! bounded buffer of pulled messages per assigned queue.
//!
//! Queues come from `subscribe` (the group rebalances them, like the push consumer) or from
//! `assign` (fixed). Each queue has a *generation*: `seek` and `pause` bump it and move the
//! pull position, and `poll` discards buffered batches of an older generation, so after a seek
//! the next messages of that queue are exactly the ones from the new offset.
//!
//! **Offsets:** polling a batch marks it consumed; the committable offset of a queue is the
//! next offset after the last polled batch. `commit` (or auto-commit every 5 s, checked in
//! `poll`, and at shutdown) stores it.
//!
//! Threads: `rmq-lite-rebalance` (rebalance every 20 s and on membership change) and one
//! `rmq-lpull-<broker>-<queue>` long-polling loop per assigned queue.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{bounded, select, Receiver, Sender};
use log::{debug, info, warn};
use parking_lot::{Mutex, RwLock};
use rocketmq_net::{RemotingCommand, RequestCode, ResponseCode};

use super::api::{self, PullOutcome, PullSpec, PULL_RPC_TIMEOUT};
use super::config::ClientConfig;
use super::consumer::{
    consumer_data, default_offset_dir, unix_ms, ConsumeFrom, MessageModel, DEFAULT_CONSUMER_GROUP,
};
use super::error::{ClientError, Result};
use super::instance::ClientInstance;
use super::offset_store::OffsetStore;
use super::rebalance::AllocateStrategy;
use super::route::subscribe_queues;
use super::sync::{stop_pair, StopHandle, Stopper};
use crate::protocol::body::heartbeat::{HeartbeatData, SubscriptionData};
use crate::protocol::body::queue::MessageQueue;
use crate::protocol::message::MessageExt;

/// Pause after a failed pull.
const PULL_ERROR_DELAY: Duration = Duration::from_secs(1);
/// Pause while a queue is paused or its buffer is full.
const IDLE_DELAY: Duration = Duration::from_millis(50);
/// Batches buffered for `poll` across all queues.
const BUFFER_BATCHES: usize = 256;

/// Configures and starts a [`PullConsumer`].
#[derive(Debug, Clone)]
pub struct PullConsumerBuilder {
    config: ClientConfig,
    group: String,
    model: MessageModel,
    consume_from: ConsumeFrom,
    auto_commit: bool,
    auto_commit_interval: Duration,
    pull_batch_size: i32,
    pull_threshold_for_queue: usize,
    allocate: AllocateStrategy,
    offset_store_dir: Option<PathBuf>,
    rebalance_interval: Duration,
}

impl Default for PullConsumerBuilder {
    fn default() -> Self {
        Self {
            config: ClientConfig::default(),
            group: DEFAULT_CONSUMER_GROUP.into(),
            model: MessageModel::Clustering,
            consume_from: ConsumeFrom::LastOffset,
            auto_commit: true,
            auto_commit_interval: Duration::from_secs(5),
            pull_batch_size: 32,
            pull_threshold_for_queue: 1000,
            allocate: AllocateStrategy::Averagely,
            offset_store_dir: None,
            rebalance_interval: Duration::from_secs(20),
        }
    }
}

impl PullConsumerBuilder {
    /// Nameserver addresses, `;`-separated (default: `NAMESRV_ADDR`).
    pub fn name_server(mut self, addrs: &str) -> Self {
        self.config = self.config.with_name_server(addrs);
        self
    }

    /// Signs every request with these ACL 1.0 credentials (`AccessKey` / `SecretKey` of an
    /// account in the broker's `plain_acl.yml`).
    pub fn credentials(mut self, access_key: &str, secret_key: &str) -> Self {
        self.config.credentials = Some(crate::acl::SessionCredentials::new(access_key, secret_key));
        self
    }

    /// The consumer group.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// The instance name, part of the client id.
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

    /// Commit polled offsets automatically (default true).
    pub fn auto_commit(mut self, on: bool) -> Self {
        self.auto_commit = on;
        self
    }

    /// Period of auto-commit (default 5 s).
    pub fn auto_commit_interval(mut self, interval: Duration) -> Self {
        self.auto_commit_interval = interval;
        self
    }

    /// Messages per pull, and at most per `poll` (default 32).
    pub fn pull_batch_size(mut self, n: i32) -> Self {
        self.pull_batch_size = n.clamp(1, 1024);
        self
    }

    /// Buffered (unpolled) messages per queue before its pulling pauses (default 1000).
    pub fn pull_threshold_for_queue(mut self, n: usize) -> Self {
        self.pull_threshold_for_queue = n.max(1);
        self
    }

    /// How subscribed queues are divided among the group (default averagely).
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

    /// Replaces the whole client configuration.
    pub fn client_config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// Starts the consumer (no queues until `subscribe` or `assign`).
    pub fn build(self) -> Result<PullConsumer> {
        PullConsumer::start(self)
    }
}

/// A lite pull consumer; shut down on drop.
#[derive(Debug)]
pub struct PullConsumer {
    inner: Arc<Inner>,
}

/// How the consumer got its queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    None,
    Subscribe,
    Assign,
}

struct Inner {
    opts: PullConsumerBuilder,
    instance: Arc<ClientInstance>,
    offsets: OffsetStore,
    mode: Mutex<Mode>,
    subscriptions: RwLock<BTreeMap<String, SubscriptionData>>,
    queues: Mutex<HashMap<MessageQueue, Arc<LiteQueue>>>,
    buffer_tx: Sender<Batch>,
    buffer_rx: Receiver<Batch>,
    rebalance_tx: Sender<()>,
    next_auto_commit: Mutex<Instant>,
    running: AtomicBool,
    timer: Mutex<Option<(StopHandle, JoinHandle<()>)>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullConsumer")
            .field("group", &self.opts.group)
            .field("client_id", &self.instance.client_id)
            .finish_non_exhaustive()
    }
}

/// One assigned queue.
struct LiteQueue {
    mq: MessageQueue,
    generation: AtomicU64,
    /// Where the next pull starts; changed only with `generation` checked, under this lock.
    next_pull: Mutex<i64>,
    /// The offset after the last polled batch: what a commit stores.
    consumed: Mutex<i64>,
    paused: AtomicBool,
    /// Messages of this queue in the buffer.
    buffered: AtomicUsize,
    /// Wakes the pull loop out of a long poll after a seek or pause.
    kick_tx: Sender<()>,
    kick_rx: Receiver<()>,
    worker: Mutex<Option<(StopHandle, JoinHandle<()>)>>,
}

/// Pulled messages waiting for `poll`.
struct Batch {
    /// The assignment that pulled them: a batch of a released (or released and re-added) queue
    /// is stale even if the queue id is assigned again.
    queue: Arc<LiteQueue>,
    generation: u64,
    next_offset: i64,
    msgs: Vec<MessageExt>,
}

impl PullConsumer {
    /// A builder with defaults.
    pub fn builder() -> PullConsumerBuilder {
        PullConsumerBuilder::default()
    }

    fn start(opts: PullConsumerBuilder) -> Result<Self> {
        if opts.group.is_empty() {
            return Err(ClientError::invalid("the consumer group is empty"));
        }
        let instance = ClientInstance::start(opts.config.clone())?;
        let offsets = match opts.model {
            MessageModel::Clustering => OffsetStore::remote(Arc::clone(&instance), &opts.group),
            MessageModel::Broadcasting => {
                let dir = opts.offset_store_dir.clone().unwrap_or_else(default_offset_dir);
                match OffsetStore::local(&dir, &instance.client_id, &opts.group) {
                    Ok(store) => store,
                    Err(e) => {
                        instance.shutdown();
                        return Err(e);
                    }
                }
            }
        };
        let (buffer_tx, buffer_rx) = bounded(BUFFER_BATCHES);
        let (rebalance_tx, rebalance_rx) = bounded(1);
        let inner = Arc::new(Inner {
            next_auto_commit: Mutex::new(Instant::now() + opts.auto_commit_interval),
            opts,
            instance: Arc::clone(&instance),
            offsets,
            mode: Mutex::new(Mode::None),
            subscriptions: RwLock::new(BTreeMap::new()),
            queues: Mutex::new(HashMap::new()),
            buffer_tx,
            buffer_rx,
            rebalance_tx,
            running: AtomicBool::new(true),
            timer: Mutex::new(None),
        });
        let weak = Arc::downgrade(&inner);
        instance.set_heartbeat(Arc::new(move || {
            weak.upgrade().map_or_else(HeartbeatData::default, |inner| inner.heartbeat_data())
        }));
        let weak = Arc::downgrade(&inner);
        instance.set_request_handler(Arc::new(move |_addr, cmd| handle_request(&weak, &cmd)));
        let (stop, stopper) = stop_pair();
        let thread_inner = Arc::clone(&inner);
        let handle = std::thread::Builder::new()
            .name("rmq-lite-rebalance".into())
            .spawn(move || thread_inner.timer_loop(&rebalance_rx, &stopper))
            .map_err(|e| ClientError::invalid(format!("cannot spawn: {e}")))?;
        *inner.timer.lock() = Some((stop, handle));
        Ok(Self { inner })
    }

    /// The client id brokers know this consumer by.
    pub fn client_id(&self) -> &str {
        &self.inner.instance.client_id
    }

    /// Subscribes to `topic` with a tag expression; the group divides the queues.
    pub fn subscribe(&self, topic: &str, expression: &str) -> Result<()> {
        self.subscribe_with(topic, &super::MessageSelector::tag(expression))
    }

    /// Subscribes with a tag expression or a SQL92 selector ([`super::MessageSelector`]).
    pub fn subscribe_with(&self, topic: &str, selector: &super::MessageSelector) -> Result<()> {
        self.inner.ensure_running()?;
        self.inner.set_mode(Mode::Subscribe)?;
        crate::protocol::constants::validate_topic(topic)
            .map_err(|e| ClientError::invalid(e.to_string()))?;
        let version = i64::try_from(super::message::now_unix_ms()).unwrap_or(0);
        let data = selector.subscription(topic, version)?;
        self.inner.subscriptions.write().insert(topic.to_string(), data);
        if let Err(e) = self.inner.instance.route(topic) {
            info!("no route for {topic} yet ({e}); will retry");
        }
        self.inner.instance.send_heartbeat();
        let _ = self.inner.rebalance_tx.try_send(());
        Ok(())
    }

    /// Stops consuming `topic` (subscribe mode).
    pub fn unsubscribe(&self, topic: &str) {
        self.inner.subscriptions.write().remove(topic);
        self.inner.instance.forget_topic(topic);
        let _ = self.inner.rebalance_tx.try_send(());
    }

    /// Consumes exactly `queues` (no group rebalancing); replaces any earlier assignment.
    pub fn assign(&self, queues: &[MessageQueue]) -> Result<()> {
        self.inner.ensure_running()?;
        self.inner.set_mode(Mode::Assign)?;
        let mut by_topic: BTreeMap<&str, Vec<MessageQueue>> = BTreeMap::new();
        for mq in queues {
            by_topic.entry(&mq.topic).or_default().push(mq.clone());
            if let Err(e) = self.inner.instance.route(&mq.topic) {
                info!("no route for {} yet ({e})", mq.topic);
            }
        }
        let current: BTreeSet<String> =
            self.inner.queues.lock().keys().map(|mq| mq.topic.clone()).collect();
        for topic in current.iter().filter(|t| !by_topic.contains_key(t.as_str())) {
            let _ = self.inner.update_queues(topic, &[]);
        }
        let mut first_err = None;
        for (topic, mine) in by_topic {
            if let Err(e) = self.inner.update_queues(topic, &mine) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// The queues currently assigned.
    pub fn assignment(&self) -> Vec<MessageQueue> {
        let mut queues: Vec<MessageQueue> = self.inner.queues.lock().keys().cloned().collect();
        queues.sort();
        queues
    }

    /// The readable queues of `topic`.
    pub fn fetch_message_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        let route = self.inner.instance.route(topic)?;
        Ok(subscribe_queues(topic, &route))
    }

    /// Waits up to `timeout` for messages; returns an empty vector on timeout. The returned
    /// messages count as consumed for the next commit.
    pub fn poll(&self, timeout: Duration) -> Result<Vec<MessageExt>> {
        self.inner.ensure_running()?;
        let deadline = Instant::now() + timeout;
        loop {
            let batch = match self.inner.buffer_rx.recv_deadline(deadline) {
                Ok(batch) => batch,
                Err(_) => {
                    self.inner.maybe_auto_commit();
                    return Ok(Vec::new());
                }
            };
            if let Some(msgs) = self.inner.accept(batch) {
                self.inner.maybe_auto_commit();
                return Ok(msgs);
            }
        }
    }

    /// Commits the polled position of every assigned queue, synchronously.
    pub fn commit(&self) -> Result<()> {
        self.inner.commit_all()
    }

    /// Same as [`PullConsumer::commit`] (Java's name).
    pub fn commit_sync(&self) -> Result<()> {
        self.commit()
    }

    /// Commits explicit offsets (the next offset to consume, per queue).
    pub fn commit_offsets(&self, offsets: &BTreeMap<MessageQueue, i64>) -> Result<()> {
        for (mq, offset) in offsets {
            self.inner.offsets.update(mq, *offset, false);
        }
        let mqs: Vec<MessageQueue> = offsets.keys().cloned().collect();
        self.inner.offsets.persist(&mqs)
    }

    /// The group's committed offset of `mq` as stored (broker or file); `None` if none.
    pub fn committed(&self, mq: &MessageQueue) -> Result<Option<i64>> {
        match self.inner.opts.model {
            MessageModel::Clustering => {
                api::query_consumer_offset(&self.inner.instance, &self.inner.opts.group, mq)
            }
            MessageModel::Broadcasting => self.inner.offsets.read_store(mq),
        }
    }

    /// Continues `mq` from `offset` (discarding anything buffered for it).
    pub fn seek(&self, mq: &MessageQueue, offset: i64) -> Result<()> {
        let queue = self.inner.queue(mq)?;
        let min = api::min_offset(&self.inner.instance, mq)?;
        let max = api::max_offset(&self.inner.instance, mq)?;
        if offset < min || offset > max {
            return Err(ClientError::invalid(format!(
                "offset {offset} of {mq} is outside [{min}, {max}]"
            )));
        }
        queue.reposition(offset);
        Ok(())
    }

    /// Continues `mq` from its first stored message.
    pub fn seek_to_begin(&self, mq: &MessageQueue) -> Result<()> {
        let queue = self.inner.queue(mq)?;
        queue.reposition(api::min_offset(&self.inner.instance, mq)?);
        Ok(())
    }

    /// Continues `mq` after its last stored message.
    pub fn seek_to_end(&self, mq: &MessageQueue) -> Result<()> {
        let queue = self.inner.queue(mq)?;
        queue.reposition(api::max_offset(&self.inner.instance, mq)?);
        Ok(())
    }

    /// The first offset of `mq` stored at or after `timestamp`.
    pub fn offset_for_timestamp(&self, mq: &MessageQueue, timestamp: SystemTime) -> Result<i64> {
        api::search_offset(&self.inner.instance, mq, unix_ms(timestamp))
    }

    /// Stops returning (and pulling) messages of `mqs` until resumed.
    pub fn pause(&self, mqs: &[MessageQueue]) {
        for mq in mqs {
            if let Ok(queue) = self.inner.queue(mq) {
                queue.paused.store(true, Ordering::Release);
                let consumed = *queue.consumed.lock();
                queue.reposition_pull(consumed);
            }
        }
    }

    /// Resumes `mqs` after [`PullConsumer::pause`].
    pub fn resume(&self, mqs: &[MessageQueue]) {
        for mq in mqs {
            if let Ok(queue) = self.inner.queue(mq) {
                queue.paused.store(false, Ordering::Release);
            }
        }
    }

    /// Stops pulling, commits (with auto-commit), leaves the group and closes connections.
    /// Idempotent; also run on drop.
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }
}

impl Drop for PullConsumer {
    fn drop(&mut self) {
        self.inner.shutdown();
    }
}

impl LiteQueue {
    /// Moves both the pull and the polled position (seek).
    fn reposition(&self, offset: i64) {
        *self.consumed.lock() = offset;
        self.reposition_pull(offset);
    }

    /// Starts a new generation pulling from `offset`; older buffered batches become stale.
    fn reposition_pull(&self, offset: i64) {
        let mut next = self.next_pull.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        *next = offset;
        let _ = self.kick_tx.try_send(());
    }

    /// Sets the pull position if no seek happened since `generation`.
    fn advance(&self, generation: u64, offset: i64) -> bool {
        let mut next = self.next_pull.lock();
        if self.generation.load(Ordering::Acquire) != generation {
            return false;
        }
        *next = offset;
        true
    }
}

impl Inner {
    fn ensure_running(&self) -> Result<()> {
        if self.running.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(ClientError::NotRunning)
        }
    }

    fn set_mode(&self, wanted: Mode) -> Result<()> {
        let mut mode = self.mode.lock();
        match *mode {
            Mode::None => {
                *mode = wanted;
                Ok(())
            }
            m if m == wanted => Ok(()),
            _ => Err(ClientError::invalid("subscribe and assign cannot be mixed")),
        }
    }

    fn queue(&self, mq: &MessageQueue) -> Result<Arc<LiteQueue>> {
        self.queues
            .lock()
            .get(mq)
            .cloned()
            .ok_or_else(|| ClientError::invalid(format!("{mq} is not assigned to this consumer")))
    }

    fn heartbeat_data(&self) -> HeartbeatData {
        let subs: Vec<SubscriptionData> = self.subscriptions.read().values().cloned().collect();
        let data = consumer_data(
            &self.opts.group,
            "CONSUME_ACTIVELY",
            self.opts.model,
            self.opts.consume_from,
            subs,
        );
        HeartbeatData {
            client_id: self.instance.client_id.clone(),
            consumer_data_set: vec![data],
            ..HeartbeatData::default()
        }
    }

    /// A polled batch's messages, or `None` if the batch is stale (seek, pause, reassigned).
    fn accept(&self, batch: Batch) -> Option<Vec<MessageExt>> {
        let queue = &batch.queue;
        queue.buffered.fetch_sub(batch.msgs.len(), Ordering::AcqRel);
        let assigned = self.queues.lock().get(&queue.mq).is_some_and(|q| Arc::ptr_eq(q, queue));
        if !assigned || queue.paused.load(Ordering::Acquire) {
            return None;
        }
        let mut consumed = queue.consumed.lock();
        if queue.generation.load(Ordering::Acquire) != batch.generation {
            return None;
        }
        *consumed = batch.next_offset;
        Some(batch.msgs)
    }

    fn maybe_auto_commit(&self) {
        if !self.opts.auto_commit {
            return;
        }
        let mut next = self.next_auto_commit.lock();
        if Instant::now() < *next {
            return;
        }
        *next = Instant::now() + self.opts.auto_commit_interval;
        drop(next);
        if let Err(e) = self.commit_all() {
            debug!("auto-commit failed: {e}");
        }
    }

    fn commit_all(&self) -> Result<()> {
        let queues: Vec<Arc<LiteQueue>> = self.queues.lock().values().cloned().collect();
        for queue in &queues {
            self.offsets.update(&queue.mq, *queue.consumed.lock(), false);
        }
        let mqs: Vec<MessageQueue> = queues.iter().map(|q| q.mq.clone()).collect();
        self.offsets.persist(&mqs)
    }

    // ---- rebalance (rmq-lite-rebalance thread) ----

    fn timer_loop(self: &Arc<Self>, trigger: &Receiver<()>, stopper: &Stopper) {
        let mut backoff = Duration::from_secs(1);
        let mut wait = self.opts.rebalance_interval;
        loop {
            select! {
                recv(trigger) -> _ => {}
                recv(stopper.receiver()) -> _ => return,
                default(wait) => {}
            }
            if *self.mode.lock() != Mode::Subscribe {
                wait = self.opts.rebalance_interval;
                continue;
            }
            if self.rebalance() {
                backoff = Duration::from_secs(1);
                wait = self.opts.rebalance_interval;
            } else {
                wait = backoff;
                backoff = (backoff * 2).min(self.opts.rebalance_interval);
            }
        }
    }

    fn rebalance(self: &Arc<Self>) -> bool {
        let topics: Vec<String> = self.subscriptions.read().keys().cloned().collect();
        let mut complete = true;
        for topic in &topics {
            let mine = self.instance.route(topic).and_then(|route| {
                let all = subscribe_queues(topic, &route);
                match self.opts.model {
                    MessageModel::Broadcasting => Ok(all),
                    MessageModel::Clustering => {
                        let cids = api::group_members(&self.instance, &self.opts.group, topic)?;
                        Ok(self.opts.allocate.allocate(&self.instance.client_id, &all, &cids))
                    }
                }
            });
            match mine {
                Ok(mine) => complete &= self.update_queues(topic, &mine).is_ok(),
                Err(e) => {
                    debug!("rebalance of {topic} skipped: {e}");
                    complete = false;
                }
            }
        }
        let gone: BTreeSet<String> = self
            .queues
            .lock()
            .keys()
            .filter(|mq| !topics.contains(&mq.topic))
            .map(|mq| mq.topic.clone())
            .collect();
        for topic in gone {
            let _ = self.update_queues(&topic, &[]);
        }
        complete
    }

    /// Makes `mine` the assigned queues of `topic`.
    fn update_queues(self: &Arc<Self>, topic: &str, mine: &[MessageQueue]) -> Result<()> {
        let (removed, added): (Vec<Arc<LiteQueue>>, Vec<MessageQueue>) = {
            let mut queues = self.queues.lock();
            let gone: Vec<MessageQueue> = queues
                .keys()
                .filter(|mq| mq.topic == topic && !mine.contains(mq))
                .cloned()
                .collect();
            let removed = gone.iter().filter_map(|mq| queues.remove(mq)).collect();
            let added = mine.iter().filter(|mq| !queues.contains_key(mq)).cloned().collect();
            (removed, added)
        };
        for queue in removed {
            self.release(&queue);
        }
        let mut first_err = None;
        for mq in added {
            match self.start_offset(&mq) {
                Ok(offset) => self.add_queue(mq, offset),
                Err(e) => {
                    info!("cannot start {mq}: {e}");
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn release(&self, queue: &LiteQueue) {
        if let Some((mut stop, handle)) = queue.worker.lock().take() {
            stop.stop();
            let _ = handle.join();
        }
        if self.opts.auto_commit {
            self.offsets.update(&queue.mq, *queue.consumed.lock(), false);
        }
        if let Err(e) = self.offsets.persist(std::slice::from_ref(&queue.mq)) {
            debug!("cannot commit {}: {e}", queue.mq);
        }
        self.offsets.remove(&queue.mq);
        info!("{} released {}", self.opts.group, queue.mq);
    }

    fn start_offset(&self, mq: &MessageQueue) -> Result<i64> {
        if self.opts.model == MessageModel::Clustering {
            self.offsets.remove(mq);
        }
        match self.offsets.read_store(mq)? {
            Some(offset) => Ok(offset),
            None => self.opts.consume_from.start_offset(&self.instance, mq),
        }
    }

    /// Registers `mq` and starts its puller. The queue is registered first: the puller moves
    /// the pull position past every batch it buffers, and `accept` drops batches of queues it
    /// does not know, so a batch polled before the registration would be lost for good (the
    /// queue then sits at its end, and its committed offset never moves).
    fn add_queue(self: &Arc<Self>, mq: MessageQueue, offset: i64) {
        let (kick_tx, kick_rx) = bounded(1);
        let queue = Arc::new(LiteQueue {
            mq: mq.clone(),
            generation: AtomicU64::new(0),
            next_pull: Mutex::new(offset),
            consumed: Mutex::new(offset),
            paused: AtomicBool::new(false),
            buffered: AtomicUsize::new(0),
            kick_tx,
            kick_rx,
            worker: Mutex::new(None),
        });
        // Held until the handle is stored, so that a `release` meanwhile waits for it.
        let mut worker = queue.worker.lock();
        self.queues.lock().insert(mq.clone(), Arc::clone(&queue));
        let (stop, stopper) = stop_pair();
        let (inner, thread_queue) = (Arc::downgrade(self), Arc::clone(&queue));
        let spawned = std::thread::Builder::new()
            .name(format!("rmq-lpull-{}-{}", mq.broker_name, mq.queue_id))
            .spawn(move || pull_loop(&inner, &thread_queue, &stopper));
        match spawned {
            Ok(handle) => {
                *worker = Some((stop, handle));
                info!("{} took {mq} from offset {offset}", self.opts.group);
            }
            Err(e) => {
                drop(worker);
                let mut queues = self.queues.lock();
                if queues.get(&mq).is_some_and(|q| Arc::ptr_eq(q, &queue)) {
                    queues.remove(&mq);
                }
                warn!("cannot spawn the pull thread of {mq}: {e}");
            }
        }
    }

    fn shutdown(&self) {
        if !self.running.swap(false, Ordering::AcqRel) {
            return;
        }
        if let Some((mut stop, handle)) = self.timer.lock().take() {
            stop.stop();
            let _ = handle.join();
        }
        let queues: Vec<Arc<LiteQueue>> = self.queues.lock().values().cloned().collect();
        for queue in &queues {
            if let Some((mut stop, handle)) = queue.worker.lock().take() {
                stop.stop();
                let _ = handle.join();
            }
        }
        if self.opts.auto_commit {
            if let Err(e) = self.commit_all() {
                warn!("final commit failed: {e}");
            }
        }
        self.queues.lock().clear();
        self.instance.unregister(None, Some(&self.opts.group));
        self.instance.shutdown();
    }
}

/// The long-polling loop of one queue.
fn pull_loop(inner: &Weak<Inner>, queue: &Arc<LiteQueue>, stopper: &Stopper) {
    let (tx, rx) = bounded::<(u64, Result<RemotingCommand>)>(4);
    let mut seq = 0u64;
    while !stopper.is_stopped() {
        let Some(inner) = inner.upgrade() else { return };
        let full = queue.buffered.load(Ordering::Acquire) >= inner.opts.pull_threshold_for_queue;
        if queue.paused.load(Ordering::Acquire) || full {
            drop(inner);
            if stopper.sleep(IDLE_DELAY) {
                return;
            }
            continue;
        }
        let Some(sub) = inner.pull_subscription(&queue.mq.topic) else {
            drop(inner);
            if stopper.sleep(PULL_ERROR_DELAY) {
                return;
            }
            continue;
        };
        let generation = queue.generation.load(Ordering::Acquire);
        let offset = *queue.next_pull.lock();
        let spec = PullSpec {
            group: &inner.opts.group,
            mq: &queue.mq,
            offset,
            max_msg_nums: inner.opts.pull_batch_size,
            commit_offset: None,
            subscription: &sub,
            suspend: true,
        };
        seq += 1;
        let outcome = match pull_once(&inner, &spec, seq, &tx, &rx, queue, stopper) {
            Pulled::Done(outcome) => outcome,
            Pulled::Kicked => continue,
            Pulled::Stopped => return,
        };
        if !handle_outcome(&inner, queue, generation, outcome, stopper) {
            return;
        }
    }
}

/// How a pull attempt ended.
enum Pulled {
    Done(Result<PullOutcome>),
    Kicked,
    Stopped,
}

fn pull_once(
    inner: &Inner,
    spec: &PullSpec<'_>,
    seq: u64,
    tx: &Sender<(u64, Result<RemotingCommand>)>,
    rx: &Receiver<(u64, Result<RemotingCommand>)>,
    queue: &LiteQueue,
    stopper: &Stopper,
) -> Pulled {
    let addr = match api::master_of(&inner.instance, spec.mq) {
        Ok(addr) => addr,
        Err(e) => return Pulled::Done(Err(e)),
    };
    let (cb_tx, cb_addr) = (tx.clone(), addr.clone());
    let callback = Box::new(move |r: std::result::Result<RemotingCommand, _>| {
        let _ = cb_tx.try_send((seq, r.map_err(|e| ClientError::from_net(&cb_addr, e))));
    });
    let cmd = api::pull_command(spec);
    if let Err(e) = inner.instance.remoting.invoke_async(&addr, cmd, PULL_RPC_TIMEOUT, callback) {
        return Pulled::Done(Err(ClientError::from_net(&addr, e)));
    }
    loop {
        select! {
            recv(rx) -> r => match r {
                Ok((got, result)) if got == seq => {
                    return Pulled::Done(result.and_then(|resp| api::pull_outcome(&addr, spec, &resp)));
                }
                Ok(_) => continue,
                Err(_) => return Pulled::Stopped,
            },
            recv(queue.kick_rx) -> _ => return Pulled::Kicked,
            recv(stopper.receiver()) -> _ => return Pulled::Stopped,
        }
    }
}

/// Buffers found messages and moves the pull position; false when stopped.
fn handle_outcome(
    inner: &Inner,
    queue: &Arc<LiteQueue>,
    generation: u64,
    outcome: Result<PullOutcome>,
    stopper: &Stopper,
) -> bool {
    match outcome {
        Ok(PullOutcome::Found { next_offset, messages }) => {
            if !queue.advance(generation, next_offset) || messages.is_empty() {
                return true;
            }
            queue.buffered.fetch_add(messages.len(), Ordering::AcqRel);
            let batch = Batch { queue: Arc::clone(queue), generation, next_offset, msgs: messages };
            select! {
                send(inner.buffer_tx, batch) -> _ => true,
                recv(stopper.receiver()) -> _ => false,
            }
        }
        Ok(PullOutcome::NoNewMessage { next_offset }) => {
            queue.advance(generation, next_offset);
            true
        }
        Ok(PullOutcome::OffsetMoved { next_offset }) => {
            warn!("offset of {} is invalid; moving to {next_offset}", queue.mq);
            if queue.advance(generation, next_offset) {
                *queue.consumed.lock() = next_offset;
            }
            true
        }
        Err(e) => {
            debug!("pull of {} failed: {e}", queue.mq);
            inner.instance.refresh_route_after_failure(&queue.mq.topic);
            !stopper.sleep(PULL_ERROR_DELAY)
        }
    }
}

impl Inner {
    /// The subscription a pull of `topic` carries (everything in assign mode).
    fn pull_subscription(&self, topic: &str) -> Option<SubscriptionData> {
        match *self.mode.lock() {
            Mode::Assign => Some(SubscriptionData::from_tag_expression(topic, "*", 0)),
            _ => self.subscriptions.read().get(topic).cloned(),
        }
    }
}

/// NOTIFY_CONSUMER_IDS_CHANGED triggers a rebalance; other requests are not supported.
fn handle_request(inner: &Weak<Inner>, cmd: &RemotingCommand) -> Option<RemotingCommand> {
    if RequestCode::from_i32(cmd.code) == RequestCode::NotifyConsumerIdsChanged {
        if let Some(inner) = inner.upgrade() {
            let _ = inner.rebalance_tx.try_send(());
        }
        return Some(RemotingCommand::response(ResponseCode::Success.to_i32(), None));
    }
    Some(RemotingCommand::response(
        ResponseCode::RequestCodeNotSupported.to_i32(),
        Some(format!(" request type {} not supported", cmd.code)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> LiteQueue {
        let (kick_tx, kick_rx) = bounded(1);
        LiteQueue {
            mq: MessageQueue::new("T", "b", 0),
            generation: AtomicU64::new(0),
            next_pull: Mutex::new(10),
            consumed: Mutex::new(10),
            paused: AtomicBool::new(false),
            buffered: AtomicUsize::new(0),
            kick_tx,
            kick_rx,
            worker: Mutex::new(None),
        }
    }

    #[test]
    fn seek_starts_a_new_generation_and_kicks_the_puller() {
        let q = queue();
        assert!(q.advance(0, 20));
        assert_eq!(*q.next_pull.lock(), 20);
        q.reposition(5);
        assert_eq!((*q.next_pull.lock(), *q.consumed.lock()), (5, 5));
        assert_eq!(q.generation.load(Ordering::Acquire), 1);
        assert!(q.kick_rx.try_recv().is_ok());
        assert!(!q.advance(0, 99), "a pull started before the seek must not move the position");
        assert_eq!(*q.next_pull.lock(), 5);
    }

    /// A consumer without rebalance or pull threads; its client instance never connects.
    fn inner() -> Inner {
        let opts = PullConsumerBuilder::default().name_server("127.0.0.1:1");
        let instance = ClientInstance::start(opts.config.clone()).unwrap();
        let (buffer_tx, buffer_rx) = bounded(1);
        let (rebalance_tx, _) = bounded(1);
        Inner {
            offsets: OffsetStore::remote(Arc::clone(&instance), &opts.group),
            next_auto_commit: Mutex::new(Instant::now()),
            opts,
            instance,
            mode: Mutex::new(Mode::Subscribe),
            subscriptions: RwLock::new(BTreeMap::new()),
            queues: Mutex::new(HashMap::new()),
            buffer_tx,
            buffer_rx,
            rebalance_tx,
            running: AtomicBool::new(true),
            timer: Mutex::new(None),
        }
    }

    #[test]
    fn only_batches_of_the_registered_assignment_are_accepted() {
        let inner = inner();
        let batch = |queue: &Arc<LiteQueue>| Batch {
            queue: Arc::clone(queue),
            generation: 0,
            next_offset: 12,
            msgs: Vec::new(),
        };
        let old = Arc::new(queue());
        assert!(inner.accept(batch(&old)).is_none(), "a queue not (yet) registered");
        inner.queues.lock().insert(old.mq.clone(), Arc::clone(&old));
        assert!(inner.accept(batch(&old)).is_some());
        assert_eq!(*old.consumed.lock(), 12);
        // Released and taken again: same queue id, new assignment (from the committed offset).
        let new = Arc::new(queue());
        inner.queues.lock().insert(new.mq.clone(), Arc::clone(&new));
        assert!(inner.accept(batch(&old)).is_none(), "a batch of the released assignment");
        assert_eq!(*new.consumed.lock(), 10);
        inner.instance.shutdown();
    }

    #[test]
    fn pause_keeps_the_consumed_position() {
        let q = queue();
        *q.consumed.lock() = 12;
        q.advance(0, 40);
        let consumed = *q.consumed.lock();
        q.reposition_pull(consumed);
        assert_eq!((*q.next_pull.lock(), *q.consumed.lock()), (12, 12));
    }
}
