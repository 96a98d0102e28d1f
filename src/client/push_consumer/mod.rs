//! `PushConsumer`: subscribes to topics and calls a listener with the messages, pulling them in
//! the background.
//!
//! A started consumer is three services over one shared context ([`Shared`]: group, client
//! instance, offset table, subscriptions):
//! * `rebalance_service`: the `rmq-rebalance` thread (at start, on NOTIFY_CONSUMER_IDS_CHANGED
//!   and every 20 s) and the table of assigned queues; it also commits offsets every 5 s.
//! * `pull_service`: a fixed set of `rmq-pull-<n>` threads (default 2) serving every assigned
//!   queue, one long poll in flight per queue on the remoting client's callback API. A queue
//!   is not pulled while it holds more than `pull_threshold_for_queue` messages or
//!   `pull_threshold_size_for_queue` bytes (or spans more than `consume_max_span` offsets).
//! * `consume_service`: the `ConsumeService` trait and the concurrent listener pool
//!   (`rmq-consume-<n>`, fed by a bounded channel, plus `rmq-consume-later`); beside it
//!   `orderly_service`, the orderly pool (`rmq-orderly-<n>` plus `rmq-orderly-later`), which
//!   consumes each queue in offset order on one thread at a time.
//!
//! **Orderly consumption** ([`PushConsumer::start_orderly`], clustering): a queue is consumed
//! only while this client holds its broker lock (`queue_lock`: LOCK_BATCH_MQ when the queue is
//! assigned, renewed every 20 s); a queue taken away is unlocked only after its batch in flight
//! finished and its offset was committed (or 20 s passed), so its next owner never overlaps.
//! Broadcasting takes no locks.
//!
//! **Offsets:** the committed offset of a queue is its lowest message not yet consumed
//! ([`ProcessQueue`]); it is committed to the broker (clustering) or a local file
//! (broadcasting). Shutdown stops rebalancing and pulling, lets the listeners finish what was
//! handed to them, then commits and unregisters, so the group's other members take over from
//! exactly there.
//!
//! **Ownership:** a queue taken away by a rebalance is marked dropped and quiesced before its
//! offset is committed; the services neither consume nor commit for dropped queues afterwards,
//! so the new owner may see duplicates but never a gap. (Orderly: the batch in flight when the
//! queue is dropped still commits, under the consume lock the hand-over waits for, so the next
//! owner sees no duplicate either.)
//!
//! [`ProcessQueue`]: crate::client::process_queue::ProcessQueue

mod consume_service;
mod orderly_service;
mod pull_service;
mod queue_lock;
mod rebalance_service;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use log::{debug, info, warn};
use parking_lot::{Mutex, RwLock};
use rocketmq_net::{RemotingCommand, RequestCode, ResponseCode};

use self::consume_service::{ConcurrentConsumeService, ConcurrentOptions, ConsumeService};
use self::orderly_service::{OrderlyConsumeService, OrderlyOptions};
use self::pull_service::{PullOptions, PullService};
use self::rebalance_service::{RebalanceOptions, RebalanceService};
use super::config::ClientConfig;
use super::consumer::{
    consumer_data, default_offset_dir, ConsumeContext, ConsumeFrom, ConsumeOrderlyContext,
    ConsumeOrderlyStatus, ConsumeStatus, MessageModel, DEFAULT_CONSUMER_GROUP,
};
use super::error::{ClientError, Result};
use super::instance::ClientInstance;
use super::offset_store::OffsetStore;
use super::rebalance::AllocateStrategy;
use crate::protocol::body::heartbeat::{HeartbeatData, SubscriptionData};
use crate::protocol::body::queue::{MessageQueue, ResetOffsetBody};
use crate::protocol::constants::retry_topic;
use crate::protocol::header::offset::ResetOffsetRequestHeader;
use crate::protocol::message::MessageExt;

/// The listener: called with a batch of messages of one queue.
pub type MessageListener =
    dyn Fn(&[MessageExt], &mut ConsumeContext) -> ConsumeStatus + Send + Sync;

/// The orderly listener: called with a batch of messages of one queue, in offset order, never
/// for two batches of one queue at once.
pub type OrderlyListener =
    dyn Fn(&[MessageExt], &mut ConsumeOrderlyContext) -> ConsumeOrderlyStatus + Send + Sync;

/// Which listener a consumer was started with.
#[derive(Clone)]
enum Listener {
    Concurrent(Arc<MessageListener>),
    Orderly(Arc<OrderlyListener>),
}

/// Re-deliveries before the dead-letter queue of a concurrent listener (Java's default).
const DEFAULT_MAX_RECONSUME_CONCURRENT: i32 = 16;
/// Suspensions before the dead-letter queue of an orderly listener: Java's default,
/// `Integer.MAX_VALUE`, i.e. never.
const DEFAULT_MAX_RECONSUME_ORDERLY: i32 = i32::MAX;

/// Pull threads unless configured otherwise (DESIGN.md: a small fixed set).
const DEFAULT_PULL_THREADS: usize = 2;

/// Configures a [`PushConsumer`].
#[derive(Debug, Clone)]
pub struct PushConsumerBuilder {
    config: ClientConfig,
    group: String,
    model: MessageModel,
    consume_from: ConsumeFrom,
    threads: usize,
    pull_threads: usize,
    batch_size: usize,
    pull_batch_size: i32,
    pull_threshold_for_queue: usize,
    pull_threshold_size_for_queue: usize,
    consume_max_span: i64,
    max_reconsume_times: Option<i32>,
    suspend_current_queue_time: Duration,
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
            pull_threads: DEFAULT_PULL_THREADS,
            batch_size: 1,
            pull_batch_size: 32,
            pull_threshold_for_queue: 1000,
            pull_threshold_size_for_queue: 100 * 1024 * 1024,
            consume_max_span: 2000,
            max_reconsume_times: None,
            suspend_current_queue_time: Duration::from_millis(1000),
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

    /// Pull threads serving all assigned queues (default 2). Long polls wait on the broker,
    /// not on these threads, so a few serve many queues; more help only when decoding pulled
    /// messages is the bottleneck.
    pub fn pull_threads(mut self, n: usize) -> Self {
        self.pull_threads = n.max(1);
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

    /// Re-deliveries before a message goes to the dead-letter queue (default 16; orderly:
    /// never, as in Java).
    pub fn max_reconsume_times(mut self, n: i32) -> Self {
        self.max_reconsume_times = Some(n);
        self
    }

    /// How long an orderly queue waits after `SuspendCurrentQueueAMoment` before the same
    /// messages are delivered again (default 1000 ms).
    pub fn suspend_current_queue_time(mut self, wait: Duration) -> Self {
        self.suspend_current_queue_time = wait;
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
            subscriptions: Arc::default(),
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

/// Topic → subscription, the retry topic included once started (clustering).
type Subscriptions = Arc<RwLock<BTreeMap<String, SubscriptionData>>>;

struct Inner {
    opts: PushConsumerBuilder,
    subscriptions: Subscriptions,
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

/// What the services of a started consumer share.
struct Shared {
    group: String,
    model: MessageModel,
    instance: Arc<ClientInstance>,
    offsets: OffsetStore,
    subscriptions: Subscriptions,
}

impl Shared {
    fn is_clustering(&self) -> bool {
        self.model == MessageModel::Clustering
    }

    fn subscription(&self, topic: &str) -> Option<SubscriptionData> {
        self.subscriptions.read().get(topic).cloned()
    }

    fn persist_offsets(&self, mqs: &[MessageQueue]) {
        if let Err(e) = self.offsets.persist(mqs) {
            debug!("committing offsets failed: {e}");
        }
    }
}

/// Everything that exists only once started.
struct Runtime {
    shared: Arc<Shared>,
    consume: Arc<dyn ConsumeService>,
    pull: Arc<PullService>,
    rebalance: RebalanceService,
}

impl PushConsumer {
    /// A builder with defaults.
    pub fn builder() -> PushConsumerBuilder {
        PushConsumerBuilder::default()
    }

    /// Subscribes to `topic` with a tag expression: `"*"`, `"TagA"` or `"TagA || TagB"`. May be
    /// called before or after `start`.
    pub fn subscribe(&self, topic: &str, expression: &str) -> Result<()> {
        self.subscribe_with(topic, &super::MessageSelector::tag(expression))
    }

    /// Subscribes to `topic` with a tag expression or a SQL92 selector
    /// ([`super::MessageSelector`]); a SQL92 selector that does not parse is refused here, one
    /// the broker refuses fails [`PushConsumer::start`].
    pub fn subscribe_with(&self, topic: &str, selector: &super::MessageSelector) -> Result<()> {
        crate::protocol::constants::validate_topic(topic)
            .map_err(|e| ClientError::invalid(e.to_string()))?;
        let version = i64::try_from(super::message::now_unix_ms()).unwrap_or(0);
        let data = selector.subscription(topic, version)?;
        self.inner.subscriptions.write().insert(topic.to_string(), data);
        if let Some(rt) = self.inner.runtime.get() {
            rt.shared.instance.send_heartbeat();
            rt.rebalance.trigger();
        }
        Ok(())
    }

    /// Stops consuming `topic`.
    pub fn unsubscribe(&self, topic: &str) {
        self.inner.subscriptions.write().remove(topic);
        if let Some(rt) = self.inner.runtime.get() {
            rt.shared.instance.forget_topic(topic);
            rt.shared.instance.send_heartbeat();
            rt.rebalance.trigger();
        }
    }

    /// Starts consuming: `listener` is called concurrently from the listener threads, with up to
    /// `batch_size` messages of one queue at a time.
    pub fn start<F>(&self, listener: F) -> Result<()>
    where
        F: Fn(&[MessageExt], &mut ConsumeContext) -> ConsumeStatus + Send + Sync + 'static,
    {
        self.inner.start(Listener::Concurrent(Arc::new(listener)))
    }

    /// Starts consuming in order (Java `MessageListenerOrderly`): for each queue, `listener`
    /// gets its messages in offset order, up to `batch_size` at a time, on one thread at a
    /// time. In clustering mode a queue is consumed only while this client holds its broker
    /// lock, so two members of the group never consume one queue at once.
    pub fn start_orderly<F>(&self, listener: F) -> Result<()>
    where
        F: Fn(&[MessageExt], &mut ConsumeOrderlyContext) -> ConsumeOrderlyStatus
            + Send
            + Sync
            + 'static,
    {
        self.inner.start(Listener::Orderly(Arc::new(listener)))
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
        self.inner.runtime.get().map(|rt| rt.shared.instance.client_id.clone())
    }

    /// The queues currently assigned to this consumer.
    pub fn assignment(&self) -> Vec<MessageQueue> {
        self.inner.runtime.get().map_or_else(Vec::new, |rt| rt.rebalance.assignment())
    }

    /// Stops pulling (messages already pulled are still consumed).
    pub fn suspend(&self) {
        if let Some(rt) = self.inner.runtime.get() {
            rt.pull.set_paused(true);
        }
    }

    /// Resumes pulling after [`PushConsumer::suspend`].
    pub fn resume(&self) {
        if let Some(rt) = self.inner.runtime.get() {
            rt.pull.set_paused(false);
        }
    }

    /// Rebalances now instead of waiting for the next period.
    pub fn rebalance_now(&self) {
        if let Some(rt) = self.inner.runtime.get() {
            rt.rebalance.trigger();
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

    fn start(self: &Arc<Self>, listener: Listener) -> Result<()> {
        let mut state = self.state.lock();
        if *state != State::Created {
            return Err(ClientError::invalid("the consumer was already started"));
        }
        if self.subscriptions.read().is_empty() {
            return Err(ClientError::invalid("subscribe to at least one topic before start"));
        }
        let instance = ClientInstance::start(self.opts.config.clone())?;
        let shared = match self.shared(&instance) {
            Ok(shared) => shared,
            Err(e) => {
                instance.shutdown();
                return Err(e);
            }
        };
        if shared.is_clustering() {
            let retry = retry_topic(&self.opts.group);
            let version = i64::try_from(super::message::now_unix_ms()).unwrap_or(0);
            let data = SubscriptionData::from_tag_expression(&retry, "*", version);
            self.subscriptions.write().insert(retry, data);
        }
        self.install_hooks(&instance);
        for topic in self.subscriptions.read().keys() {
            if let Err(e) = instance.route(topic) {
                info!("no route for {topic} yet ({e}); will retry");
            }
        }
        if let Err(e) = self.check_in_brokers(&instance) {
            instance.shutdown();
            return Err(e);
        }
        instance.send_heartbeat();
        let rt = match self.start_services(shared, listener) {
            Ok(rt) => rt,
            Err(e) => {
                instance.shutdown();
                return Err(e);
            }
        };
        if self.runtime.set(rt).is_err() {
            instance.shutdown();
            return Err(ClientError::invalid("the consumer was already started"));
        }
        *state = State::Running;
        info!("push consumer {} of group {} started", instance.client_id, self.opts.group);
        Ok(())
    }

    /// CHECK_CLIENT_CONFIG for every SQL92 subscription, at one broker of its topic (Java's
    /// `checkClientInBroker`): a broker that refuses the selector fails the start with its
    /// remark. A topic without a route yet is checked by nobody (its pulls will tell).
    fn check_in_brokers(&self, instance: &Arc<ClientInstance>) -> Result<()> {
        use crate::protocol::body::heartbeat::CheckClientRequestBody;
        let subs: Vec<SubscriptionData> =
            self.subscriptions.read().values().filter(|s| s.is_sql92()).cloned().collect();
        for sub in subs {
            let Some(addr) = instance.broker_addrs_of_topic(&sub.topic).into_iter().next() else {
                continue;
            };
            let body = CheckClientRequestBody {
                client_id: instance.client_id.clone(),
                group: self.opts.group.clone(),
                subscription_data: sub,
                namespace: None,
            };
            let cmd = rocketmq_net::RemotingCommand::request(
                rocketmq_net::RequestCode::CheckClientConfig.to_i32(),
            )
            .with_body(crate::protocol::body::to_json(&body));
            instance.call_ok(&addr, cmd)?;
        }
        Ok(())
    }

    /// The shared context: the offset table lives on the broker (clustering) or in a file.
    fn shared(&self, instance: &Arc<ClientInstance>) -> Result<Arc<Shared>> {
        let offsets = match self.opts.model {
            MessageModel::Clustering => OffsetStore::remote(Arc::clone(instance), &self.opts.group),
            MessageModel::Broadcasting => {
                let dir = self.opts.offset_store_dir.clone().unwrap_or_else(default_offset_dir);
                OffsetStore::local(&dir, &instance.client_id, &self.opts.group)?
            }
        };
        Ok(Arc::new(Shared {
            group: self.opts.group.clone(),
            model: self.opts.model,
            instance: Arc::clone(instance),
            offsets,
            subscriptions: Arc::clone(&self.subscriptions),
        }))
    }

    /// Starts the consume, pull and rebalance services, in that order (each feeds the one
    /// before); on failure the ones already started are stopped again.
    fn start_services(&self, shared: Arc<Shared>, listener: Listener) -> Result<Runtime> {
        let opts = &self.opts;
        let orderly = matches!(listener, Listener::Orderly(_));
        let consume = self.consume_service(&shared, listener)?;
        let pull_opts = PullOptions {
            threads: opts.pull_threads,
            batch_size: opts.pull_batch_size,
            threshold_count: opts.pull_threshold_for_queue,
            threshold_bytes: opts.pull_threshold_size_for_queue,
            max_span: opts.consume_max_span,
        };
        let pull = match PullService::start(Arc::clone(&shared), Arc::clone(&consume), pull_opts) {
            Ok(pull) => Arc::new(pull),
            Err(e) => {
                consume.shutdown();
                return Err(e);
            }
        };
        let rebalance_opts = RebalanceOptions {
            allocate: opts.allocate,
            consume_from: opts.consume_from,
            interval: opts.rebalance_interval,
            persist_every: opts.config.persist_offset_interval,
            orderly,
        };
        match RebalanceService::start(Arc::clone(&shared), Arc::clone(&pull), rebalance_opts) {
            Ok(rebalance) => Ok(Runtime { shared, consume, pull, rebalance }),
            Err(e) => {
                pull.shutdown();
                consume.shutdown();
                Err(e)
            }
        }
    }

    /// The listener pool for `listener`.
    fn consume_service(
        &self,
        shared: &Arc<Shared>,
        listener: Listener,
    ) -> Result<Arc<dyn ConsumeService>> {
        let opts = &self.opts;
        Ok(match listener {
            Listener::Concurrent(listener) => {
                let concurrent = ConcurrentOptions {
                    threads: opts.threads,
                    batch_size: opts.batch_size,
                    max_reconsume_times: opts
                        .max_reconsume_times
                        .unwrap_or(DEFAULT_MAX_RECONSUME_CONCURRENT),
                };
                Arc::new(ConcurrentConsumeService::start(Arc::clone(shared), listener, concurrent)?)
            }
            Listener::Orderly(listener) => {
                let orderly = OrderlyOptions {
                    threads: opts.threads,
                    batch_size: opts.batch_size,
                    max_reconsume_times: opts
                        .max_reconsume_times
                        .unwrap_or(DEFAULT_MAX_RECONSUME_ORDERLY),
                    suspend: opts.suspend_current_queue_time,
                };
                Arc::new(OrderlyConsumeService::start(Arc::clone(shared), listener, orderly)?)
            }
        })
    }

    fn install_hooks(self: &Arc<Self>, instance: &ClientInstance) {
        // The first heartbeat goes out before the runtime exists: take the id from here.
        let (weak, client_id) = (Arc::downgrade(self), instance.client_id.clone());
        instance.set_heartbeat(Arc::new(move || {
            weak.upgrade()
                .map_or_else(HeartbeatData::default, |inner| inner.heartbeat_data(&client_id))
        }));
        let weak = Arc::downgrade(self);
        instance.set_request_handler(Arc::new(move |addr, cmd| handle_request(&weak, addr, cmd)));
    }

    fn heartbeat_data(&self, client_id: &str) -> HeartbeatData {
        let subs: Vec<SubscriptionData> = self.subscriptions.read().values().cloned().collect();
        let data = consumer_data(
            &self.opts.group,
            "CONSUME_PASSIVELY",
            self.opts.model,
            self.opts.consume_from,
            subs,
        );
        HeartbeatData {
            client_id: client_id.to_string(),
            consumer_data_set: vec![data],
            ..HeartbeatData::default()
        }
    }

    // ---- broker requests ----

    /// GET_CONSUMER_RUNNING_INFO: what `mqadmin consumerStatus` shows (ConsumerRunningInfo
    /// JSON, MessageQueue-keyed maps in fastjson's object-key form).
    fn running_info(&self) -> RemotingCommand {
        let rt = self.runtime.get();
        let orderly = rt.is_some_and(|rt| rt.consume.is_orderly());
        let threads = rt.map_or(self.opts.threads, |rt| rt.consume.thread_count());
        let mut props = BTreeMap::new();
        props.insert("PROP_CONSUME_TYPE", "CONSUME_PASSIVELY".to_string());
        props.insert("PROP_CONSUMEORDERLY", orderly.to_string());
        props.insert("PROP_CLIENT_VERSION", "V5_3_3".to_string());
        props.insert("PROP_THREADPOOL_CORE_SIZE", threads.to_string());
        props.insert("PROP_NAMESERVER_ADDR", self.opts.config.name_servers.join(";"));
        props.insert("messageModel", self.opts.model.name().to_string());
        props.insert("consumeFromWhere", self.opts.consume_from.name().to_string());
        let subs: Vec<SubscriptionData> = self.subscriptions.read().values().cloned().collect();
        let mq_table = rt.map_or_else(|| "{}".to_string(), mq_table_json);
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
        // Stop rebalancing and pulling but keep the queues (not dropped) so that in-flight
        // work still commits.
        rt.rebalance.stop();
        rt.pull.shutdown();
        rt.consume.drain(timeout);
        rt.consume.shutdown();
        rt.shared.persist_offsets(&rt.rebalance.assignment());
        // After the commit, so the members taking the queues over start where this one ended.
        rt.rebalance.unlock_all();
        rt.shared.instance.unregister(None, Some(&self.opts.group));
        rt.shared.instance.shutdown();
        info!("push consumer of group {} stopped", self.opts.group);
    }
}

/// The `mqTable` of the running info: each assigned queue's cached messages and commit offset.
fn mq_table_json(rt: &Runtime) -> String {
    let mut mq_table = String::from("{");
    for (i, pq) in rt.rebalance.process_queues().iter().enumerate() {
        let (count, bytes, _) = pq.load();
        let commit = rt.shared.offsets.read_memory(&pq.mq).unwrap_or(-1);
        if i > 0 {
            mq_table.push(',');
        }
        mq_table.push_str(&serde_json::to_string(&pq.mq).unwrap_or_default());
        mq_table.push_str(&format!(
            ":{{\"cachedMsgCount\":{count},\"cachedMsgSizeInMiB\":{},\"commitOffset\":{commit},\"droped\":false,\"locked\":{}}}",
            bytes / (1024 * 1024),
            pq.is_locked()
        ));
    }
    mq_table.push('}');
    mq_table
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
                rt.rebalance.trigger();
            }
            Some(ok())
        }
        RequestCode::ResetConsumerClientOffset => {
            let header = cmd.decode_header::<ResetOffsetRequestHeader>();
            let body = ResetOffsetBody::from_json(&cmd.body);
            match (header, body, inner.runtime.get()) {
                (Ok(h), Ok(b), Some(rt)) if h.group == inner.opts.group => {
                    rt.rebalance.reset_offsets(&h.topic, &b);
                }
                (Ok(_), Ok(_), _) => {}
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
