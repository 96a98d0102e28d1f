//! The send pool: SEND_MESSAGE (V1 header), SEND_MESSAGE_V2, SEND_BATCH_MESSAGE and
//! CONSUMER_SEND_MSG_BACK (retry / dead letter). Delayed messages are diverted to
//! SCHEDULE_TOPIC_XXXX here; the `schedule` thread delivers them when due.

use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use rocketmq_net::{
    Inline, Processor, RemotingCommand, RequestCode, RequestContext, Responder, ResponseCode,
};
use rocketmq_store::record::{self, MessageToStore, RecordView};
use rocketmq_store::{PendingPut, PhysOffset, PutError, PutResult, QueueId};

use super::{header, Handled};
use crate::broker::error::{io_response, put_error_response};
use crate::broker::topics::QueueCounts;
use crate::broker::{ipv4_of, BrokerCtx};
use crate::protocol::body::register::TopicConfig;
use crate::protocol::constants::{self, perm};
use crate::protocol::header::send::{
    decode_send_header, raw_send_properties, raw_send_topic, ConsumerSendMsgBackRequestHeader,
    SendMessageRequestHeader, SendMessageResponseHeader, MSG_REGION, TRACE_ON,
};
use crate::protocol::message::{append_property, decode_batch, sys_flag};
use crate::remoting::{bad_header, error, not_supported, now_ms, success};

/// The Java client version (V3_4_9) from which `maxReconsumeTimes` in a request is honoured.
const VERSION_HONOURS_MAX_RECONSUME: i32 = 121;

/// Owned properties of one message, in their original order.
pub(crate) type Props = Vec<(String, String)>;

pub(crate) fn prop<'a>(props: &'a Props, key: &str) -> Option<&'a str> {
    props.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

pub(crate) fn set_prop(props: &mut Props, key: &str, value: impl Into<String>) {
    let value = value.into();
    match props.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => props.push((key.to_string(), value)),
    }
}

pub(crate) fn remove_prop(props: &mut Props, key: &str) {
    props.retain(|(k, _)| k != key);
}

/// The send pool's processor.
#[derive(Debug)]
pub struct SendProcessor {
    ctx: Arc<BrokerCtx>,
    next_queue: AtomicU32,
}

impl Processor for SendProcessor {
    fn process(&self, rc: &RequestContext, req: RemotingCommand) -> Option<RemotingCommand> {
        let result = match req.request_code() {
            RequestCode::SendMessage | RequestCode::SendMessageV2 => self.send_one(rc, req, None),
            RequestCode::SendBatchMessage => self.send_batch(rc, &req, None),
            RequestCode::ConsumerSendMsgBack => self.send_back(rc, &req).map(Some),
            _ => Ok(Some(not_supported(req.code))),
        };
        // `Ok(None)`: the reply is written later by the flush-reply thread (sync flush).
        result.unwrap_or_else(Some)
    }

    /// On `net-io` (async flush only, see `start_server`): plain sends to an existing topic.
    /// Anything that may touch the disk or the network besides the append (topic
    /// auto-creation, retry topics and their DLQ decision, send-back) goes to the pool.
    fn process_inline(&self, rc: &RequestContext, req: RemotingCommand) -> Inline {
        let Some(counts) = self.inline_topic(&req) else { return Inline::ToPool(req) };
        let result = match req.request_code() {
            RequestCode::SendMessage | RequestCode::SendMessageV2 => {
                self.send_one(rc, req, Some(counts))
            }
            RequestCode::SendBatchMessage => self.send_batch(rc, &req, Some(counts)),
            _ => return Inline::ToPool(req),
        };
        Inline::Done(result.unwrap_or_else(Some))
    }
}

impl SendProcessor {
    pub fn new(ctx: Arc<BrokerCtx>) -> Self {
        Self { ctx, next_queue: AtomicU32::new(0) }
    }

    /// The queue counts of `req`'s topic if the send may run inline; `None` if it needs slow
    /// work: its topic is unknown (auto-creation writes topics.json and registers with the
    /// nameservers), is a retry topic (may create a group or a DLQ), the append would wait for
    /// the next commitlog segment, or the header is too broken to name a topic (the pool
    /// answers with the decode error).
    fn inline_topic(&self, req: &RemotingCommand) -> Option<QueueCounts> {
        let topic = raw_send_topic(req.code, &req.ext_fields)?;
        if topic.starts_with(constants::RETRY_GROUP_TOPIC_PREFIX) {
            return None;
        }
        let counts = self.ctx.topics.counts(topic)?;
        (!self.ctx.store.put_may_wait(record_bytes_upper_bound(req))).then_some(counts)
    }

    /// `known`: the topic's counts, already looked up by the inline path.
    fn send_one(
        &self,
        rc: &RequestContext,
        req: RemotingCommand,
        known: Option<QueueCounts>,
    ) -> Deferred {
        let mut h = decode_send_header(req.code, &req.ext_fields).map_err(|e| bad_header(&e))?;
        let counts = self.writable_topic(&h, known)?;
        let mut queue_id = self.pick_queue(&h, counts)?;
        let mut props = h.properties.take().unwrap_or_default();
        let mut scan = PropScan::of(&props);
        if scan.is_transaction_prepared()
            || h.sys_flag & sys_flag::TRANSACTION_MASK == sys_flag::TRANSACTION_PREPARED
        {
            return Err(error(
                ResponseCode::NoPermission,
                "transactional messages are not supported by this broker yet",
            ));
        }
        let reconsume_times = h.reconsume_times.unwrap_or(0);
        let mut topic = h.topic.clone();
        if topic.starts_with(constants::RETRY_GROUP_TOPIC_PREFIX) {
            if let Some(dlq) = self.retry_to_dlq(&h, req.version, reconsume_times)? {
                let mut pairs = record::decode_properties(&props);
                set_prop(&mut pairs, record::PROPERTY_DELAY_TIME_LEVEL, "-1");
                props = record::encode_properties(&pairs);
                scan = PropScan::of(&props);
                topic = dlq.topic_name;
                queue_id = 0;
            }
        }
        let delayed = scan.delay.is_some();
        let stamps = scan.stamps();
        let uniq = Some(self.stamp(&mut props, stamps));
        let mut msg = MessageToStore {
            topic,
            queue_id: QueueId(queue_id),
            flag: h.flag,
            body: req.body,
            properties: props,
            sys_flag: h.sys_flag,
            born_timestamp_ms: h.born_timestamp,
            born_host: ipv4_of(rc.conn().peer_addr()),
            store_host: self.ctx.store_host(),
            reconsume_times,
            prepared_transaction_offset: 0,
        };
        if delayed {
            let mut pairs = record::decode_properties(&msg.properties);
            divert_delayed(&self.ctx, &mut msg, &mut pairs);
            msg.properties = record::encode_properties(&pairs);
        }
        self.put_and_reply(rc, &[msg], queue_id, uniq)
    }

    fn send_batch(
        &self,
        rc: &RequestContext,
        req: &RemotingCommand,
        known: Option<QueueCounts>,
    ) -> Deferred {
        let h = decode_send_header(req.code, &req.ext_fields).map_err(|e| bad_header(&e))?;
        if h.topic.starts_with(constants::RETRY_GROUP_TOPIC_PREFIX) {
            return Err(error(
                ResponseCode::MessageIllegal,
                "batch sends to retry topics are not allowed",
            ));
        }
        if h.topic.len() > constants::TOPIC_MAX_LENGTH {
            return Err(error(
                ResponseCode::MessageIllegal,
                "batch topic longer than 127 characters",
            ));
        }
        let counts = self.writable_topic(&h, known)?;
        let queue_id = self.pick_queue(&h, counts)?;
        let entries = decode_batch(&req.body)
            .map_err(|e| error(ResponseCode::MessageIllegal, format!("bad batch body: {e}")))?;
        if entries.is_empty() {
            return Err(error(ResponseCode::MessageIllegal, "the batch is empty"));
        }
        let born_host = ipv4_of(rc.conn().peer_addr());
        let mut msgs = Vec::with_capacity(entries.len());
        for entry in entries {
            let mut props = entry.properties;
            let scan = PropScan::of(&props);
            if scan.delay.is_some_and(|d| d != "0") {
                return Err(error(
                    ResponseCode::MessageIllegal,
                    "batched messages cannot be delayed",
                ));
            }
            let stamps = scan.stamps();
            self.stamp(&mut props, stamps);
            msgs.push(MessageToStore {
                topic: h.topic.clone(),
                queue_id: QueueId(queue_id),
                flag: entry.flag,
                body: entry.body,
                properties: props,
                sys_flag: h.sys_flag & !sys_flag::COMPRESSED,
                born_timestamp_ms: h.born_timestamp,
                born_host,
                store_host: self.ctx.store_host(),
                reconsume_times: 0,
                prepared_transaction_offset: 0,
            });
        }
        self.put_and_reply(rc, &msgs, queue_id, None)
    }

    /// Appends, then answers: at once under async flush; under sync flush the reply waits for
    /// the group commit on the flush-reply thread, so this worker goes on appending and many
    /// sends share one fdatasync. If that thread's queue is full, this worker waits itself.
    fn put_and_reply(
        &self,
        rc: &RequestContext,
        msgs: &[MessageToStore],
        queue_id: u32,
        transaction_id: Option<String>,
    ) -> Deferred {
        let store = &self.ctx.store;
        let pending = match store.put_messages_deferred(msgs) {
            Ok(p) => p,
            Err(e) => {
                let res = Err(e);
                store.count_deferred(&res);
                return send_response(&self.ctx, &res, queue_id, transaction_id).map(Some);
            }
        };
        let mut wait = FlushWait { pending, responder: rc.responder(), queue_id, transaction_id };
        if wait.pending.needs_flush() && !rc.is_oneway() {
            match self.ctx.flush_waits.try_send(wait) {
                Ok(()) => return Ok(None),
                Err(
                    crossbeam_channel::TrySendError::Full(w)
                    | crossbeam_channel::TrySendError::Disconnected(w),
                ) => wait = w,
            }
        }
        Ok(Some(finish_put(&self.ctx, wait)))
    }

    /// Resolves the topic (`known`, or looked up and auto-created when allowed) and checks it
    /// may be written.
    fn writable_topic(
        &self,
        h: &SendMessageRequestHeader,
        known: Option<QueueCounts>,
    ) -> Result<QueueCounts, RemotingCommand> {
        constants::validate_topic(&h.topic).map_err(|e| {
            error(ResponseCode::InvalidParameter, format!("topic[{}]: {e}", h.topic))
        })?;
        if constants::NOT_ALLOWED_SEND_TOPICS.contains(&h.topic.as_str()) {
            return Err(error(
                ResponseCode::NoPermission,
                format!("Sending message to topic[{}] is forbidden.", h.topic),
            ));
        }
        let topic = match known.or_else(|| self.ctx.topics.counts(&h.topic)) {
            Some(t) => t,
            None => QueueCounts::from(&self.auto_create(h)?),
        };
        if !perm::is_writeable(topic.perm) {
            return Err(error(
                ResponseCode::NoPermission,
                format!("the topic[{}] sending is forbidden", h.topic),
            ));
        }
        Ok(topic)
    }

    fn auto_create(&self, h: &SendMessageRequestHeader) -> Result<TopicConfig, RemotingCommand> {
        let created = if h.topic.starts_with(constants::RETRY_GROUP_TOPIC_PREFIX) {
            let group = &h.topic[constants::RETRY_GROUP_TOPIC_PREFIX.len()..];
            let queues = self.ctx.groups.get(group).map_or(1, |g| g.retry_queue_nums);
            Some(
                self.ctx
                    .topics
                    .retry_topic(group, queues)
                    .map_err(|e| io_response("topics", &e))?,
            )
        } else if self.ctx.config.auto_create_topic_enable && !h.default_topic.is_empty() {
            self.ctx
                .topics
                .create_from_template(&h.topic, &h.default_topic, h.default_topic_queue_nums)
                .map_err(|e| io_response("topics", &e))?
        } else {
            None
        };
        match created {
            Some(t) => {
                self.ctx.topics_changed();
                Ok(t)
            }
            None => Err(error(
                ResponseCode::TopicNotExist,
                format!("topic[{}] not exist, apply first please!", h.topic),
            )),
        }
    }

    fn pick_queue(
        &self,
        h: &SendMessageRequestHeader,
        topic: QueueCounts,
    ) -> Result<u32, RemotingCommand> {
        let queues = u32::try_from(topic.write_queue_nums.max(1)).unwrap_or(1);
        match u32::try_from(h.queue_id) {
            Err(_) => Ok(self.next_queue.fetch_add(1, Ordering::Relaxed) % queues),
            Ok(q)
                if i64::from(q) < i64::from(topic.read_queue_nums.max(topic.write_queue_nums)) =>
            {
                Ok(q)
            }
            Ok(q) => Err(error(
                ResponseCode::InvalidParameter,
                format!(
                    "request queueId[{q}] is illegal, topic {} has {} write queues",
                    h.topic, topic.write_queue_nums
                ),
            )),
        }
    }

    /// A client re-sending to `%RETRY%group` past its max retries goes to the DLQ.
    fn retry_to_dlq(
        &self,
        h: &SendMessageRequestHeader,
        version: i32,
        reconsume_times: i32,
    ) -> Result<Option<TopicConfig>, RemotingCommand> {
        let group = &h.topic[constants::RETRY_GROUP_TOPIC_PREFIX.len()..];
        let config = self.ctx.groups.get_or_create(group).map_err(|e| io_response("groups", &e))?;
        let Some(config) = config else {
            return Err(error(
                ResponseCode::SubscriptionGroupNotExist,
                format!("subscription group [{group}] not exist"),
            ));
        };
        let max = match h.max_reconsume_times {
            Some(m) if version >= VERSION_HONOURS_MAX_RECONSUME => m,
            _ => config.retry_max_times,
        };
        if reconsume_times <= max {
            return Ok(None);
        }
        let dlq = self.ctx.topics.dlq_topic(group).map_err(|e| io_response("topics", &e))?;
        self.ctx.topics_changed();
        Ok(Some(dlq))
    }

    /// Adds the broker-side properties to an encoded properties string: UNIQ_KEY when missing,
    /// CLUSTER when absent (`stamps` says which are there). Appends in place. Returns the
    /// message's UNIQ_KEY.
    fn stamp(&self, props: &mut String, stamps: Stamps) -> String {
        if !props.is_empty() && !props.ends_with(record::PROPERTY_SEPARATOR) {
            props.push(record::PROPERTY_SEPARATOR);
        }
        let uniq = match stamps.uniq_key {
            Some(uniq) => uniq,
            None => {
                let uniq = new_uniq_key(self.ctx.store_host());
                append_property(props, record::PROPERTY_UNIQ_KEY, &uniq);
                uniq
            }
        };
        if !stamps.cluster {
            append_property(props, "CLUSTER", &self.ctx.config.cluster_name);
        }
        uniq
    }

    fn send_back(&self, rc: &RequestContext, req: &RemotingCommand) -> Handled {
        let h: ConsumerSendMsgBackRequestHeader = header(req)?;
        let _ = rc;
        let group =
            self.ctx.groups.get_or_create(&h.group).map_err(|e| io_response("groups", &e))?;
        let Some(group) = group else {
            return Err(error(
                ResponseCode::SubscriptionGroupNotExist,
                format!("subscription group [{}] not exist", h.group),
            ));
        };
        let phys = u64::try_from(h.offset).map(PhysOffset).map_err(|_| {
            error(ResponseCode::SystemError, format!("look message by offset failed, {}", h.offset))
        })?;
        let raw = self.ctx.store.message_by_phys_offset(phys).ok_or_else(|| {
            error(ResponseCode::SystemError, format!("look message by offset failed, {}", h.offset))
        })?;
        let view = RecordView::parse(&raw).map_err(|e| {
            error(
                ResponseCode::SystemError,
                format!("stored message at {} is unreadable: {e}", h.offset),
            )
        })?;
        let mut props = record::decode_properties(view.properties);
        if prop(&props, record::PROPERTY_RETRY_TOPIC).is_none() {
            set_prop(&mut props, record::PROPERTY_RETRY_TOPIC, view.topic);
        }
        if prop(&props, record::PROPERTY_ORIGIN_MESSAGE_ID).is_none() {
            let origin = h.origin_msg_id.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| {
                prop(&props, record::PROPERTY_UNIQ_KEY).map_or_else(
                    || record::offset_msg_id(view.store_host, view.phys_offset),
                    str::to_string,
                )
            });
            set_prop(&mut props, record::PROPERTY_ORIGIN_MESSAGE_ID, origin);
        }
        let max = match h.max_reconsume_times {
            Some(m) if req.version >= VERSION_HONOURS_MAX_RECONSUME => m,
            _ => group.retry_max_times,
        };
        let to_dlq = view.reconsume_times >= max || h.delay_level < 0;
        let (topic, queue_id) = if to_dlq {
            remove_prop(&mut props, record::PROPERTY_DELAY_TIME_LEVEL);
            let dlq = self.ctx.topics.dlq_topic(&h.group).map_err(|e| io_response("topics", &e))?;
            (dlq.topic_name, 0)
        } else {
            let level = if h.delay_level == 0 { 3 + view.reconsume_times } else { h.delay_level };
            set_prop(&mut props, record::PROPERTY_DELAY_TIME_LEVEL, level.to_string());
            let retry = self
                .ctx
                .topics
                .retry_topic(&h.group, group.retry_queue_nums)
                .map_err(|e| io_response("topics", &e))?;
            let queues = u32::try_from(retry.write_queue_nums.max(1)).unwrap_or(1);
            (retry.topic_name, self.next_queue.fetch_add(1, Ordering::Relaxed) % queues)
        };
        self.ctx.topics_changed();
        let mut msg = MessageToStore {
            topic,
            queue_id: QueueId(queue_id),
            flag: view.flag,
            body: view.body.to_vec(),
            properties: String::new(),
            sys_flag: view.sys_flag,
            born_timestamp_ms: view.born_timestamp_ms,
            born_host: view.born_host,
            store_host: self.ctx.store_host(),
            reconsume_times: view.reconsume_times + 1,
            prepared_transaction_offset: 0,
        };
        divert_delayed(&self.ctx, &mut msg, &mut props);
        msg.properties = record::encode_properties(&props);
        match self.ctx.store.put_message(msg) {
            Ok(r) => {
                self.ctx.stats.put(u64::from(r.msg_count));
                Ok(success())
            }
            Err(e) => {
                self.ctx.stats.put_failed();
                Err(put_error_response(&e))
            }
        }
    }
}

/// A generous bound on the commitlog bytes `req` becomes: each record adds a fixed header,
/// the topic and the broker's properties to its body (a batch entry's own header is smaller),
/// so twice the body and properties plus 4 KiB covers one message or a batch of small ones.
fn record_bytes_upper_bound(req: &RemotingCommand) -> usize {
    let props = raw_send_properties(req.code, &req.ext_fields).map_or(0, str::len);
    2 * (req.body.len() + props) + 4096
}

/// The properties the send path looks at, found in one pass over the encoded string (the
/// first occurrence of a key wins, as in `record::property_value`).
#[derive(Debug, Default)]
struct PropScan<'a> {
    uniq_key: Option<&'a str>,
    cluster: bool,
    delay: Option<&'a str>,
    transaction_prepared: Option<bool>,
}

/// Which broker-side properties a message already has.
#[derive(Debug)]
struct Stamps {
    uniq_key: Option<String>,
    cluster: bool,
}

impl<'a> PropScan<'a> {
    fn of(props: &'a str) -> Self {
        let mut scan = Self::default();
        for (key, value) in record::property_pairs(props) {
            match key {
                record::PROPERTY_UNIQ_KEY => {
                    scan.uniq_key.get_or_insert(value);
                }
                "CLUSTER" => scan.cluster = true,
                record::PROPERTY_DELAY_TIME_LEVEL => {
                    scan.delay.get_or_insert(value);
                }
                record::PROPERTY_TRANSACTION_PREPARED => {
                    scan.transaction_prepared.get_or_insert(value == "true");
                }
                _ => {}
            }
        }
        scan
    }

    fn is_transaction_prepared(&self) -> bool {
        self.transaction_prepared == Some(true)
    }

    fn stamps(&self) -> Stamps {
        Stamps { uniq_key: self.uniq_key.map(str::to_string), cluster: self.cluster }
    }
}

/// A handler that may answer later: `Ok(None)` means the reply is deferred.
type Deferred = Result<Option<RemotingCommand>, RemotingCommand>;

/// A sync-flush send waiting for its group commit before the reply is written.
#[derive(Debug)]
pub(crate) struct FlushWait {
    pending: PendingPut,
    responder: Responder,
    queue_id: u32,
    transaction_id: Option<String>,
}

/// Waits for the put to be durable and builds its reply.
fn finish_put(ctx: &BrokerCtx, wait: FlushWait) -> RemotingCommand {
    match ctx.store.wait_durable(&wait.pending) {
        Err(PutError::FlushDiskTimeout) => {
            // Stored but not confirmed durable: Java clients expect the full send header with
            // code FLUSH_DISK_TIMEOUT (their SendStatus.FLUSH_DISK_TIMEOUT).
            ctx.store.count_deferred(&Err(PutError::FlushDiskTimeout));
            let r = &wait.pending.result;
            send_ok(ctx, ResponseCode::FlushDiskTimeout, r, wait.queue_id, wait.transaction_id)
        }
        done => {
            let res = done.map(|()| wait.pending.result);
            ctx.store.count_deferred(&res);
            send_response(ctx, &res, wait.queue_id, wait.transaction_id).unwrap_or_else(|e| e)
        }
    }
}

/// The `flush-reply` thread: answers deferred sync-flush sends in append order (flushes are
/// monotonic, so waiting in order costs nothing extra), until stopped.
pub(crate) fn run_flush_replies(
    ctx: &BrokerCtx,
    waits: &crossbeam_channel::Receiver<FlushWait>,
    stop: &crossbeam_channel::Receiver<()>,
) {
    loop {
        crossbeam_channel::select! {
            recv(waits) -> w => match w {
                Ok(w) => reply_when_durable(ctx, w),
                Err(_) => return,
            },
            recv(stop) -> _ => break,
        }
    }
    // Shutdown: the store is still open; answer what is queued.
    while let Ok(w) = waits.try_recv() {
        reply_when_durable(ctx, w);
    }
}

fn reply_when_durable(ctx: &BrokerCtx, wait: FlushWait) {
    let responder = wait.responder.clone();
    responder.respond(finish_put(ctx, wait));
}

/// The send response: the header Java clients require (msgId, queueId, queueOffset) plus
/// MSG_REGION and TRACE_ON; FLUSH_DISK_TIMEOUT carries the header too (the message is stored).
fn send_response(
    ctx: &BrokerCtx,
    result: &Result<PutResult, PutError>,
    queue_id: u32,
    transaction_id: Option<String>,
) -> Handled {
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            ctx.stats.put_failed();
            return Err(put_error_response(e));
        }
    };
    ctx.stats.put(u64::from(result.msg_count));
    Ok(send_ok(ctx, ResponseCode::Success, result, queue_id, transaction_id))
}

fn send_ok(
    ctx: &BrokerCtx,
    code: ResponseCode,
    result: &PutResult,
    queue_id: u32,
    transaction_id: Option<String>,
) -> RemotingCommand {
    let mut resp =
        RemotingCommand::response(code.to_i32(), None).with_header(&SendMessageResponseHeader {
            msg_id: result.msg_ids.join(","),
            queue_id: i32::try_from(queue_id).unwrap_or(0),
            queue_offset: i64::try_from(result.queue_offset.0).unwrap_or(i64::MAX),
            transaction_id,
            batch_uniq_id: None,
        });
    resp.ext_fields.insert(MSG_REGION, ctx.config.region_id.clone());
    resp.ext_fields.insert(TRACE_ON, if ctx.config.trace_on { "true" } else { "false" });
    resp
}

/// A message with `DELAY` > 0 is parked in SCHEDULE_TOPIC_XXXX (queue = level − 1, level
/// clamped to the configured maximum) with its real topic and queue in properties.
pub(crate) fn divert_delayed(ctx: &BrokerCtx, msg: &mut MessageToStore, props: &mut Props) {
    let Some(level) =
        prop(props, record::PROPERTY_DELAY_TIME_LEVEL).and_then(|d| d.parse::<i64>().ok())
    else {
        return;
    };
    if level <= 0 || msg.topic == constants::SCHEDULE_TOPIC {
        return;
    }
    let max_level = ctx.config.store.delay_levels_ms.len();
    let level = usize::try_from(level).unwrap_or(max_level).min(max_level);
    set_prop(props, record::PROPERTY_DELAY_TIME_LEVEL, level.to_string());
    set_prop(props, record::PROPERTY_REAL_TOPIC, msg.topic.clone());
    set_prop(props, record::PROPERTY_REAL_QUEUE_ID, msg.queue_id.0.to_string());
    msg.topic = constants::SCHEDULE_TOPIC.to_string();
    msg.queue_id = QueueId(u32::try_from(level - 1).unwrap_or(0));
}

/// A broker-generated UNIQ_KEY: 32 uppercase hex digits of store IP, pid, start time and a
/// counter, the same shape as the Java client's ids.
pub(crate) fn new_uniq_key(store_host: SocketAddrV4) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let ip = u32::from(*store_host.ip());
    let pid = std::process::id() & 0xFFFF;
    let ms = now_ms() & 0xFFFF_FFFF;
    format!("{ip:08X}{pid:04X}{ms:08X}{:012X}", n & 0xFFFF_FFFF_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniq_keys_are_32_hex_and_distinct() {
        let host = SocketAddrV4::new([10, 0, 0, 1].into(), 10911);
        let a = new_uniq_key(host);
        let b = new_uniq_key(host);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn props_helpers() {
        let mut p: Props = vec![("A".into(), "1".into())];
        set_prop(&mut p, "A", "2");
        set_prop(&mut p, "B", "3");
        assert_eq!(prop(&p, "A"), Some("2"));
        remove_prop(&mut p, "A");
        assert_eq!(p, vec![("B".to_string(), "3".to_string())]);
    }
}
