//! `Producer`: sends messages synchronously, asynchronously (callback), one-way, in batches, and
//! to a chosen queue (selector or sharding key, for per-key order).
//!
//! Queue choice is round-robin over the writable queues, skipping brokers that recently failed
//! or were slow ([`FaultTolerance`]); a failed send is retried (default twice) on another broker
//! when the error is retriable. Async sends hold a permit from a bounded semaphore until their
//! callback has run, so at most `max_async_in_flight` messages are ever in flight and every one
//! is accounted for: the callback runs exactly once, with the result or the final error.
//!
//! Threads: the instance's `rmq-client-timer`, and `rmq-send-cb`, which runs async callbacks and
//! retries (so no user code ever runs on a connection's reader thread).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use log::{debug, warn};
use parking_lot::{Mutex, RwLock};
use rocketmq_net::{RemotingCommand, RequestCode, ResponseCode};

use super::config::ClientConfig;
use super::error::{ClientError, Result};
use super::instance::{response_header, ClientInstance};
use super::message::{
    new_uniq_id, property, push_uniq_id, Message, SendResult, SendStatus, UNIQ_ID_LEN,
};
use super::request::Requests;
use super::route::{
    publish_queues, queue_index_for_key, select_queue, template_publish_queues, FaultTolerance,
};
use super::sync::{Permit, Semaphore};
use crate::protocol::body::heartbeat::{HeartbeatData, ProducerData};
use crate::protocol::body::queue::MessageQueue;
use crate::protocol::body::route::TopicRouteData;
use crate::protocol::constants::{
    validate_topic, AUTO_CREATE_TOPIC_KEY, NOT_ALLOWED_SEND_TOPICS, RETRY_GROUP_TOPIC_PREFIX,
};
use crate::protocol::header::send::{
    SendMessageRequestHeader, SendMessageResponseHeader, MSG_REGION,
};
use crate::protocol::message::{append_property, encode_batch_entry, format_properties};

/// Default producer group.
pub const DEFAULT_PRODUCER_GROUP: &str = "DEFAULT_PRODUCER";
/// Default largest body (and batch) size: 4 MiB, the stock broker's limit.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;
/// Default cap on async sends in flight.
pub const DEFAULT_MAX_ASYNC_IN_FLIGHT: usize = 10_000;
/// Queues per broker asked for when a topic is auto-created.
const DEFAULT_TOPIC_QUEUE_NUMS: i32 = 4;

/// A send callback: runs exactly once with the outcome.
pub type SendCallback = Box<dyn FnOnce(Result<SendResult>) + Send>;

/// Configures and starts a [`Producer`].
#[derive(Debug, Clone)]
pub struct ProducerBuilder {
    config: ClientConfig,
    group: String,
    send_timeout: Duration,
    retries: u32,
    max_message_size: usize,
    max_async_in_flight: usize,
}

impl Default for ProducerBuilder {
    fn default() -> Self {
        Self {
            config: ClientConfig::default(),
            group: DEFAULT_PRODUCER_GROUP.into(),
            send_timeout: Duration::from_secs(3),
            retries: 2,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_async_in_flight: DEFAULT_MAX_ASYNC_IN_FLIGHT,
        }
    }
}

impl ProducerBuilder {
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

    /// The producer group (default `DEFAULT_PRODUCER`).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// The instance name, part of the client id.
    pub fn instance_name(mut self, name: impl Into<String>) -> Self {
        self.config.instance_name = name.into();
        self
    }

    /// Timeout of one send attempt (default 3 s).
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Extra attempts on another broker after a retriable failure (default 2).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Largest body (or batch body) accepted (default 4 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Most async sends in flight; `send_async` waits (up to the send timeout) for a slot.
    pub fn max_async_in_flight(mut self, n: usize) -> Self {
        self.max_async_in_flight = n.max(1);
        self
    }

    /// Replaces the whole client configuration.
    pub fn client_config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// Starts the producer.
    pub fn build(self) -> Result<Producer> {
        Producer::start(self)
    }
}

/// The queues a topic may be sent to, and the round-robin position.
#[derive(Debug)]
struct PublishInfo {
    queues: Vec<MessageQueue>,
    next: AtomicUsize,
}

/// A running producer. Cheap to share by reference between threads; shut down on drop.
#[derive(Debug)]
pub struct Producer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    instance: Arc<ClientInstance>,
    opts: ProducerBuilder,
    publish: RwLock<HashMap<String, Arc<PublishInfo>>>,
    faults: FaultTolerance,
    in_flight: Arc<Semaphore>,
    running: AtomicBool,
    events: Mutex<Option<Sender<AsyncEvent>>>,
    callback_thread: Mutex<Option<JoinHandle<()>>>,
    /// Requests waiting for their replies (request-reply, `request.rs`).
    requests: Arc<Requests>,
}

/// An async send on its way.
struct AsyncJob {
    msg: Message,
    attempt: u32,
    last_failed: Option<String>,
    callback: SendCallback,
    _permit: Permit,
}

/// A finished attempt, handled by the `rmq-send-cb` thread.
struct AsyncEvent {
    job: AsyncJob,
    mq: MessageQueue,
    addr: String,
    started: Instant,
    result: Result<RemotingCommand>,
}

impl Producer {
    /// A builder with defaults.
    pub fn builder() -> ProducerBuilder {
        ProducerBuilder::default()
    }

    fn start(opts: ProducerBuilder) -> Result<Self> {
        let instance = ClientInstance::start(opts.config.clone())?;
        let (tx, rx) = bounded::<AsyncEvent>(opts.max_async_in_flight + 16);
        let inner = Arc::new(Inner {
            in_flight: Semaphore::new(opts.max_async_in_flight),
            instance,
            opts,
            publish: RwLock::new(HashMap::new()),
            faults: FaultTolerance::default(),
            running: AtomicBool::new(true),
            events: Mutex::new(Some(tx)),
            callback_thread: Mutex::new(None),
            requests: Requests::new(),
        });
        // Brokers push request-reply replies to producers (PUSH_REPLY_MESSAGE_TO_CLIENT).
        let requests = Arc::downgrade(&inner.requests);
        inner.instance.set_request_handler(Arc::new(move |addr, cmd| {
            Some(match (RequestCode::from_i32(cmd.code), requests.upgrade()) {
                (RequestCode::PushReplyMessageToClient, Some(r)) => r.on_push(addr, &cmd),
                _ => RemotingCommand::response(
                    ResponseCode::RequestCodeNotSupported.to_i32(),
                    Some(format!("request type {} not supported by a producer", cmd.code)),
                ),
            })
        }));
        let group = inner.opts.group.clone();
        inner.instance.set_heartbeat(Arc::new(move || HeartbeatData {
            producer_data_set: vec![ProducerData { group_name: group.clone() }],
            ..HeartbeatData::default()
        }));
        let weak = Arc::downgrade(&inner);
        inner.instance.add_route_listener(Arc::new(move |topic, route| {
            if let Some(inner) = weak.upgrade() {
                inner.route_changed(topic, route);
            }
        }));
        let thread_inner = Arc::clone(&inner);
        let handle = std::thread::Builder::new()
            .name("rmq-send-cb".into())
            .spawn(move || thread_inner.callback_loop(&rx))
            .map_err(|e| ClientError::invalid(format!("cannot spawn a thread: {e}")))?;
        *inner.callback_thread.lock() = Some(handle);
        Ok(Self { inner })
    }

    /// The producer group.
    pub fn group(&self) -> &str {
        &self.inner.opts.group
    }

    /// The client runtime (for the transaction producer's check handler).
    pub(crate) fn instance(&self) -> &Arc<ClientInstance> {
        &self.inner.instance
    }

    /// The client id brokers know this producer by.
    pub fn client_id(&self) -> &str {
        &self.inner.instance.client_id
    }

    /// The table of requests waiting for replies.
    pub(crate) fn requests(&self) -> Arc<Requests> {
        Arc::clone(&self.inner.requests)
    }

    /// Sends a heartbeat to every known broker now; returns how many took it.
    pub(crate) fn heartbeat_now(&self) -> usize {
        self.inner.instance.send_heartbeat()
    }

    /// One synchronous send with request code `code` instead of SEND_MESSAGE_V2 (replies).
    pub(crate) fn send_with_code(&self, msg: &Message, code: RequestCode) -> Result<SendResult> {
        let msg = self.inner.prepare(msg)?;
        let info = self.inner.publish_info(msg.topic())?;
        let start = info.next.fetch_add(1, Ordering::Relaxed);
        let mq = select_queue(&info.queues, start, None, &self.inner.faults)
            .cloned()
            .ok_or_else(|| ClientError::NoQueueAvailable { topic: msg.topic().into() })?;
        let (addr, mut cmd) = self.inner.request_for(&msg, &mq, false)?;
        cmd.code = code.to_i32();
        let resp = self.inner.instance.call(&addr, cmd, self.inner.opts.send_timeout)?;
        send_result(&addr, &mq, &msg, &resp)
    }

    /// Sends and waits for the broker's answer, retrying on another broker after a retriable
    /// failure.
    pub fn send(&self, msg: &Message) -> Result<SendResult> {
        let msg = self.inner.prepare(msg)?;
        self.inner.send_with_retries(&msg)
    }

    /// Sends without waiting; `callback` runs exactly once (on the producer's callback thread)
    /// with the result. Waits up to the send timeout for an in-flight slot.
    pub fn send_async<F>(&self, msg: Message, callback: F) -> Result<()>
    where
        F: FnOnce(Result<SendResult>) + Send + 'static,
    {
        let msg = self.inner.prepare_owned(msg)?;
        let permit =
            self.inner.in_flight.acquire(self.inner.opts.send_timeout).ok_or(
                ClientError::TooManyInFlight { limit: self.inner.opts.max_async_in_flight },
            )?;
        let job = AsyncJob {
            msg,
            attempt: 0,
            last_failed: None,
            callback: Box::new(callback),
            _permit: permit,
        };
        self.inner.dispatch(job);
        Ok(())
    }

    /// Sends without waiting for (or getting) an answer; no retries.
    pub fn send_oneway(&self, msg: &Message) -> Result<()> {
        let msg = self.inner.prepare(msg)?;
        let info = self.inner.publish_info(msg.topic())?;
        let start = info.next.fetch_add(1, Ordering::Relaxed);
        let mq = select_queue(&info.queues, start, None, &self.inner.faults)
            .cloned()
            .ok_or_else(|| ClientError::NoQueueAvailable { topic: msg.topic().into() })?;
        let (addr, cmd) = self.inner.request_for(&msg, &mq, false)?;
        self.inner
            .instance
            .remoting
            .invoke_oneway(&addr, cmd)
            .map_err(|e| ClientError::from_net(&addr, e))
    }

    /// Sends to the queue `selector` picks from the topic's publish queues (e.g. by a business
    /// key, for per-key order). One attempt: retrying elsewhere would break the order.
    pub fn send_with_selector<F>(&self, msg: &Message, selector: F) -> Result<SendResult>
    where
        F: FnOnce(&[MessageQueue], &Message) -> MessageQueue,
    {
        let msg = self.inner.prepare(msg)?;
        let info = self.inner.publish_info(msg.topic())?;
        if info.queues.is_empty() {
            return Err(ClientError::NoQueueAvailable { topic: msg.topic().into() });
        }
        let mq = selector(&info.queues, &msg);
        self.inner.send_once(&msg, &mq, false)
    }

    /// Sends to the queue the sharding `key` hashes to (Java's `SelectMessageQueueByHash`), so
    /// messages with one key keep their order.
    pub fn send_orderly(&self, msg: &Message, key: &str) -> Result<SendResult> {
        let msg = msg.clone().with_property(property::SHARDING_KEY, key);
        self.send_with_selector(&msg, |queues, _| {
            queues[queue_index_for_key(key, queues.len())].clone()
        })
    }

    /// Sends to one given queue.
    pub fn send_to_queue(&self, msg: &Message, mq: &MessageQueue) -> Result<SendResult> {
        let msg = self.inner.prepare(msg)?;
        if mq.topic != msg.topic() {
            return Err(ClientError::invalid(format!(
                "queue {mq} is not a queue of topic {}",
                msg.topic()
            )));
        }
        self.inner.send_once(&msg, mq, false)
    }

    /// Sends several messages of one topic in one request (SEND_BATCH_MESSAGE). They land in one
    /// queue with consecutive offsets; `msg_id` lists their ids, comma-separated.
    pub fn send_batch(&self, msgs: &[Message]) -> Result<SendResult> {
        let batch = self.inner.prepare_batch(msgs)?;
        self.inner.send_with_retries(&batch)
    }

    /// The queues messages of `topic` can go to.
    pub fn fetch_publish_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        Ok(self.inner.publish_info(topic)?.queues.clone())
    }

    /// Async sends whose callback has not run yet.
    pub fn async_in_flight(&self) -> usize {
        self.inner.in_flight.in_use()
    }

    /// Waits until every async send has completed (or `timeout` passes); returns whether all did.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.inner.in_flight.wait_idle(timeout)
    }

    /// Waits for in-flight async sends (up to the send timeout times the attempts), unregisters
    /// and closes every connection. Idempotent; also run on drop.
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.inner.shutdown();
    }
}

/// Marks the internal message that carries a prepared batch (its body is the §7 encoding).
/// Transient: never sent.
const BATCH_MARKER: &str = "__RMQ.TRANSIENT.BATCH";

impl Inner {
    fn ensure_running(&self) -> Result<()> {
        if self.running.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(ClientError::NotRunning)
        }
    }

    /// Validates a message and gives it a client id.
    fn prepare(&self, msg: &Message) -> Result<Message> {
        // Check before copying, so a refused message costs no copy.
        self.check_sendable(msg)?;
        Ok(with_uniq_key(msg.clone()))
    }

    /// [`Self::prepare`] for a message the caller gave away (no copy).
    fn prepare_owned(&self, msg: Message) -> Result<Message> {
        self.check_sendable(&msg)?;
        Ok(with_uniq_key(msg))
    }

    fn check_sendable(&self, msg: &Message) -> Result<()> {
        self.ensure_running()?;
        check_message(msg, self.opts.max_message_size)
    }

    fn prepare_batch(&self, msgs: &[Message]) -> Result<Message> {
        self.ensure_running()?;
        let first = msgs.first().ok_or_else(|| ClientError::invalid("the batch is empty"))?;
        let mut body = Vec::with_capacity(msgs.iter().map(|m| m.body().len() + 128).sum());
        // The ids joined by commas, built in place; one properties buffer serves every entry.
        let mut ids = String::with_capacity(msgs.len() * (UNIQ_ID_LEN + 1));
        let mut properties = String::new();
        for msg in msgs {
            check_message(msg, self.opts.max_message_size)?;
            if msg.topic() != first.topic() {
                return Err(ClientError::invalid("every message of a batch needs the same topic"));
            }
            if msg.delay_level().is_some_and(|l| l > 0) {
                return Err(ClientError::invalid("batched messages cannot have a delay level"));
            }
            if msg.topic().starts_with(RETRY_GROUP_TOPIC_PREFIX) {
                return Err(ClientError::invalid("batches cannot go to a retry topic"));
            }
            // The entry's properties with a UNIQ_KEY, without copying the message.
            properties.clear();
            msg.write_properties(&mut properties);
            if !ids.is_empty() {
                ids.push(',');
            }
            match msg.property(property::UNIQ_KEY) {
                Some(id) => ids.push_str(id),
                None => {
                    let at = ids.len();
                    push_uniq_id(&mut ids);
                    append_property(&mut properties, property::UNIQ_KEY, &ids[at..]);
                }
            }
            encode_batch_entry(&mut body, msg.flag(), msg.body(), &properties);
        }
        if body.len() > self.opts.max_message_size {
            return Err(ClientError::MessageTooLarge {
                size: body.len(),
                limit: self.opts.max_message_size,
            });
        }
        let wait = first.property(property::WAIT).unwrap_or("true").to_string();
        let mut batch = Message::new(first.topic(), body).with_property(property::WAIT, wait);
        batch.set_property(property::UNIQ_KEY, ids);
        batch.set_property(BATCH_MARKER, "true".into());
        Ok(batch)
    }

    /// The publish queues of `topic`, from the cache, the route, or the auto-create template.
    fn publish_info(&self, topic: &str) -> Result<Arc<PublishInfo>> {
        if let Some(info) = self.publish.read().get(topic) {
            return Ok(Arc::clone(info));
        }
        let queues = match self.instance.route(topic) {
            Ok(route) => publish_queues(topic, &route),
            Err(ClientError::TopicNotFound { .. }) => self.template_queues(topic)?,
            Err(e) => return Err(e),
        };
        if queues.is_empty() {
            return Err(ClientError::NoQueueAvailable { topic: topic.into() });
        }
        let info = Arc::new(PublishInfo { queues, next: AtomicUsize::new(rand_start()) });
        self.publish.write().insert(topic.to_string(), Arc::clone(&info));
        Ok(info)
    }

    /// Queues of `TBW102` for a topic the nameserver does not know: the broker auto-creates it.
    fn template_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        let template = match self.instance.refresh_route(AUTO_CREATE_TOPIC_KEY) {
            Ok(route) => route,
            Err(ClientError::TopicNotFound { .. }) => {
                return Err(ClientError::TopicNotFound { topic: topic.into() })
            }
            Err(e) => return Err(e),
        };
        let queues = template_publish_queues(topic, &template, DEFAULT_TOPIC_QUEUE_NUMS);
        if queues.is_empty() {
            return Err(ClientError::TopicNotFound { topic: topic.into() });
        }
        debug!("topic {topic} has no route yet; sending via {AUTO_CREATE_TOPIC_KEY}");
        Ok(queues)
    }

    fn route_changed(&self, topic: &str, route: &TopicRouteData) {
        let queues = publish_queues(topic, route);
        let mut publish = self.publish.write();
        if queues.is_empty() {
            publish.remove(topic);
            return;
        }
        let same = publish.get(topic).is_some_and(|info| info.queues == queues);
        if !same {
            let next =
                publish.get(topic).map_or_else(rand_start, |i| i.next.load(Ordering::Relaxed));
            publish.insert(topic.to_string(), Arc::new(PublishInfo { queues, next: next.into() }));
        }
    }

    /// The broker address and the request for sending `msg` to `mq`.
    fn request_for(
        &self,
        msg: &Message,
        mq: &MessageQueue,
        refresh: bool,
    ) -> Result<(String, RemotingCommand)> {
        let addr = if refresh {
            self.instance.master_addr_or_refresh(&mq.broker_name, &mq.topic)?
        } else {
            match self.instance.master_addr(&mq.broker_name) {
                Some(addr) => addr,
                None => self.instance.master_addr_or_refresh(&mq.broker_name, &mq.topic)?,
            }
        };
        let is_batch = msg.property(BATCH_MARKER).is_some();
        let properties = if is_batch {
            // A batch's own properties carry only WAIT; the ids live in the entries.
            let wait = msg.property(property::WAIT).unwrap_or("true");
            format_properties([(property::WAIT, wait)])
        } else {
            msg.encoded_properties()
        };
        let header = SendMessageRequestHeader {
            producer_group: self.opts.group.clone(),
            topic: msg.topic().to_string(),
            default_topic: AUTO_CREATE_TOPIC_KEY.to_string(),
            default_topic_queue_nums: DEFAULT_TOPIC_QUEUE_NUMS,
            queue_id: mq.queue_id,
            sys_flag: 0,
            born_timestamp: i64::try_from(super::message::now_unix_ms()).unwrap_or(0),
            flag: msg.flag(),
            properties: Some(properties),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            max_reconsume_times: None,
            batch: Some(is_batch),
            broker_name: Some(mq.broker_name.clone()),
        };
        let code =
            if is_batch { RequestCode::SendBatchMessage } else { RequestCode::SendMessageV2 };
        let mut cmd = RemotingCommand::request(code.to_i32()).with_body(msg.body().to_vec());
        cmd.ext_fields = header.to_v2();
        Ok((addr, cmd))
    }

    /// One attempt to `mq`, synchronously.
    fn send_once(&self, msg: &Message, mq: &MessageQueue, refresh: bool) -> Result<SendResult> {
        let (addr, cmd) = self.request_for(msg, mq, refresh)?;
        let started = Instant::now();
        let result = self.instance.call(&addr, cmd, self.opts.send_timeout);
        let outcome = result.and_then(|resp| send_result(&addr, mq, msg, &resp));
        self.record(mq, started, &outcome);
        outcome
    }

    fn record<T>(&self, mq: &MessageQueue, started: Instant, outcome: &Result<T>) {
        let failed = outcome.as_ref().err().is_some_and(ClientError::is_retriable);
        self.faults.update(&mq.broker_name, started.elapsed(), failed);
    }

    fn send_with_retries(&self, msg: &Message) -> Result<SendResult> {
        let info = self.publish_info(msg.topic())?;
        let mut last_failed: Option<String> = None;
        let mut attempt = 0;
        loop {
            let start = info.next.fetch_add(1, Ordering::Relaxed);
            let mq = select_queue(&info.queues, start, last_failed.as_deref(), &self.faults)
                .cloned()
                .ok_or_else(|| ClientError::NoQueueAvailable { topic: msg.topic().into() })?;
            match self.send_once(msg, &mq, attempt > 0) {
                Ok(result) => return Ok(result),
                Err(e) if e.is_retriable() && attempt < self.opts.retries && self.is_running() => {
                    debug!("send to {mq} failed ({e}); retrying on another broker");
                    self.instance.refresh_route_after_failure(msg.topic());
                    last_failed = Some(mq.broker_name.clone());
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    // ---- async ----

    /// Starts one attempt of an async job; any outcome comes back as an [`AsyncEvent`].
    fn dispatch(self: &Arc<Self>, job: AsyncJob) {
        let Some(events) = self.events.lock().clone() else {
            (job.callback)(Err(ClientError::NotRunning));
            return;
        };
        let picked = self.publish_info(job.msg.topic()).and_then(|info| {
            let start = info.next.fetch_add(1, Ordering::Relaxed);
            select_queue(&info.queues, start, job.last_failed.as_deref(), &self.faults)
                .cloned()
                .ok_or_else(|| ClientError::NoQueueAvailable { topic: job.msg.topic().into() })
        });
        let mq = match picked {
            Ok(mq) => mq,
            Err(e) => return self.finish_or_retry(job, None, Err(e)),
        };
        let (addr, cmd) = match self.request_for(&job.msg, &mq, job.attempt > 0) {
            Ok(pair) => pair,
            Err(e) => return self.finish_or_retry(job, Some(&mq), Err(e)),
        };
        // The job moves into the callback, but must come back if the call is refused at once.
        let slot = Arc::new(Mutex::new(Some(job)));
        let callback_slot = Arc::clone(&slot);
        let (cb_mq, cb_addr, started) = (mq.clone(), addr.clone(), Instant::now());
        let callback = Box::new(move |result: std::result::Result<RemotingCommand, _>| {
            let Some(job) = callback_slot.lock().take() else { return };
            let result = result.map_err(|e| ClientError::from_net(&cb_addr, e));
            let event = AsyncEvent { job, mq: cb_mq, addr: cb_addr, started, result };
            // Capacity exceeds the permits, so this never blocks for long.
            if let Err(e) = events.send(event) {
                (e.into_inner().job.callback)(Err(ClientError::NotRunning));
            }
        });
        let sent =
            self.instance.remoting.invoke_async(&addr, cmd, self.opts.send_timeout, callback);
        if let Err(e) = sent {
            if let Some(job) = slot.lock().take() {
                self.faults.update(&mq.broker_name, Duration::ZERO, true);
                self.finish_or_retry(job, Some(&mq), Err(ClientError::from_net(&addr, e)));
            }
        }
    }

    /// The `rmq-send-cb` thread: completes async sends and retries failed ones.
    fn callback_loop(self: &Arc<Self>, events: &Receiver<AsyncEvent>) {
        for event in events.iter() {
            let AsyncEvent { job, mq, addr, started, result } = event;
            let outcome = result.and_then(|resp| send_result(&addr, &mq, &job.msg, &resp));
            self.record(&mq, started, &outcome);
            self.finish_or_retry(job, Some(&mq), outcome);
        }
    }

    fn finish_or_retry(
        self: &Arc<Self>,
        mut job: AsyncJob,
        mq: Option<&MessageQueue>,
        outcome: Result<SendResult>,
    ) {
        match outcome {
            Err(e) if e.is_retriable() && job.attempt < self.opts.retries && self.is_running() => {
                debug!("async send failed ({e}); retrying on another broker");
                self.instance.refresh_route_after_failure(job.msg.topic());
                job.attempt += 1;
                job.last_failed = mq.map(|q| q.broker_name.clone());
                self.dispatch(job);
            }
            outcome => {
                let callback = job.callback;
                let call = std::panic::AssertUnwindSafe(move || callback(outcome));
                if std::panic::catch_unwind(call).is_err() {
                    warn!("a send_async callback panicked");
                }
            }
        }
    }

    fn shutdown(&self) {
        if !self.running.swap(false, Ordering::AcqRel) {
            return;
        }
        let patience = self.opts.send_timeout * (self.opts.retries + 1) + Duration::from_secs(1);
        let on_callback_thread = self
            .callback_thread
            .lock()
            .as_ref()
            .is_some_and(|h| h.thread().id() == std::thread::current().id());
        if !on_callback_thread && !self.in_flight.wait_idle(patience) {
            warn!("shutting down with {} async sends still in flight", self.in_flight.in_use());
        }
        self.instance.unregister(Some(&self.opts.group), None);
        self.instance.shutdown();
        self.events.lock().take();
        let handle = self.callback_thread.lock().take();
        if let Some(handle) = handle.filter(|_| !on_callback_thread) {
            if handle.join().is_err() {
                warn!("the send callback thread panicked");
            }
        }
    }
}

/// Java's `Validators.checkMessage`.
fn check_message(msg: &Message, max_size: usize) -> Result<()> {
    validate_topic(msg.topic()).map_err(|e| ClientError::invalid(e.to_string()))?;
    if NOT_ALLOWED_SEND_TOPICS.contains(&msg.topic()) {
        return Err(ClientError::invalid(format!("sending to topic {} is forbidden", msg.topic())));
    }
    if msg.body().is_empty() {
        return Err(ClientError::invalid("the message body is empty"));
    }
    if msg.body().len() > max_size {
        return Err(ClientError::MessageTooLarge { size: msg.body().len(), limit: max_size });
    }
    Ok(())
}

/// Reads a send response into a [`SendResult`] (or the error it carries).
fn send_result(
    addr: &str,
    mq: &MessageQueue,
    msg: &Message,
    resp: &RemotingCommand,
) -> Result<SendResult> {
    let status = SendStatus::from_code(resp.code)
        .ok_or_else(|| ClientError::from_response(addr, resp, Some(&mq.topic)))?;
    let header: SendMessageResponseHeader = response_header(addr, resp)?;
    Ok(SendResult {
        status,
        msg_id: msg.property(property::UNIQ_KEY).unwrap_or_default().to_string(),
        offset_msg_id: header.msg_id,
        queue: MessageQueue::new(&mq.topic, &mq.broker_name, header.queue_id),
        queue_offset: header.queue_offset,
        region_id: resp.ext_fields.get(MSG_REGION).map(str::to_string),
    })
}

/// A random round-robin start, so producers do not all begin on queue 0.
fn rand_start() -> usize {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish() as usize % 1024
}

/// `msg` with a UNIQ_KEY (a new one unless the caller set it).
fn with_uniq_key(mut msg: Message) -> Message {
    if msg.property(property::UNIQ_KEY).is_none() {
        msg.set_property(property::UNIQ_KEY, new_uniq_id());
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_validated_like_java() {
        let ok = Message::new("TopicTest", "x");
        assert!(check_message(&ok, 10).is_ok());
        let empty = Message::new("TopicTest", Vec::<u8>::new());
        assert!(matches!(check_message(&empty, 10), Err(ClientError::InvalidArgument { .. })));
        let big = Message::new("TopicTest", vec![0; 11]);
        assert!(matches!(
            check_message(&big, 10),
            Err(ClientError::MessageTooLarge { size: 11, limit: 10 })
        ));
        let bad = Message::new("bad topic", "x");
        assert!(check_message(&bad, 10).is_err());
        let system = Message::new("SCHEDULE_TOPIC_XXXX", "x");
        assert!(check_message(&system, 10).is_err());
    }

    #[test]
    fn send_responses_map_to_results_or_errors() {
        let mq = MessageQueue::new("T", "b", 0);
        let msg = Message::new("T", "x").with_property(property::UNIQ_KEY, "ID");
        let ok = RemotingCommand::response(0, None)
            .with_ext("msgId", "OFFSETID")
            .with_ext("queueId", "3")
            .with_ext("queueOffset", "42")
            .with_ext(MSG_REGION, "DefaultRegion");
        let r = send_result("a:1", &mq, &msg, &ok).unwrap();
        assert_eq!(r.status, SendStatus::SendOk);
        assert_eq!((r.msg_id.as_str(), r.offset_msg_id.as_str()), ("ID", "OFFSETID"));
        assert_eq!((r.queue.queue_id, r.queue_offset), (3, 42));
        assert_eq!(r.region_id.as_deref(), Some("DefaultRegion"));
        let busy = RemotingCommand::response(2, Some("[PCBUSY_CLEAN_QUEUE]".into()));
        assert!(matches!(
            send_result("a:1", &mq, &msg, &busy),
            Err(ClientError::BrokerBusy { .. })
        ));
        let missing = RemotingCommand::response(0, None);
        assert!(matches!(
            send_result("a:1", &mq, &msg, &missing),
            Err(ClientError::BadResponse { .. })
        ));
        let flush = RemotingCommand::response(10, None)
            .with_ext("msgId", "X")
            .with_ext("queueId", "0")
            .with_ext("queueOffset", "0");
        assert_eq!(
            send_result("a:1", &mq, &msg, &flush).unwrap().status,
            SendStatus::FlushDiskTimeout
        );
    }
}
