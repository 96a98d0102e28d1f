//! Request-reply, RPC over RocketMQ (ADVANCED.md §9): [`Producer::request`] and
//! [`Producer::request_async`] on the requester's side, [`create_reply`] and
//! [`Producer::send_reply`] on the responder's.
//!
//! A request is a normal message carrying CORRELATION_ID (a fresh id), REPLY_TO_CLIENT (this
//! producer's client id) and TTL (the timeout in ms); the broker stamps CLUSTER on it. The
//! responder builds the reply with [`create_reply`] (topic `<CLUSTER>_REPLY_TOPIC`, the three
//! properties copied, MSG_TYPE=reply) and sends it with SEND_REPLY_MESSAGE_V2; the broker pushes
//! it to the requester's connection as PUSH_REPLY_MESSAGE_TO_CLIENT, which [`Requests::on_push`]
//! matches to the waiting request by CORRELATION_ID.
//!
//! Invariant: each request is answered exactly once: by its reply, by
//! [`ClientError::RequestTimeout`] (the waiter's own deadline, or the `rmq-request-sweep` thread
//! for async requests), or by [`ClientError::NotRunning`] when the producer goes away. Whoever
//! removes the entry from the table answers it. Async callbacks run on the client's request
//! thread (a reply) or the sweep thread (a timeout): keep them short.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use log::{debug, warn};
use parking_lot::Mutex;
use rocketmq_net::{RemotingCommand, RequestCode, ResponseCode};

use super::error::{ClientError, Result};
use super::message::{new_uniq_id, Message, SendResult};
use super::producer::Producer;
use crate::protocol::constants::reply;
use crate::protocol::message::{parse_properties, sys_flag, MessageExt};

/// How often the sweep thread looks for expired async requests.
const SWEEP_EVERY: Duration = Duration::from_millis(20);
/// A pushed reply body inflates to at most this many bytes.
const INFLATE_MAX_BYTES: usize = 8 << 20;

/// Called once with the reply, or with why there is none.
pub type ReplyCallback = Box<dyn FnOnce(Result<MessageExt>) + Send>;

/// Builds the reply to `request` (a message a consumer received): topic
/// `<CLUSTER>_REPLY_TOPIC`, CORRELATION_ID, REPLY_TO_CLIENT and TTL copied, MSG_TYPE=reply.
/// Send it with [`Producer::send_reply`]. Fails when `request` is not a request (no CLUSTER or
/// CORRELATION_ID), as Java's `MessageUtil.createReplyMessage` does.
pub fn create_reply(request: &MessageExt, body: impl Into<Vec<u8>>) -> Result<Message> {
    let missing = |what: &str| ClientError::InvalidArgument {
        what: format!("not a request message: no {what} property"),
    };
    let cluster = request.property(reply::CLUSTER).ok_or_else(|| missing(reply::CLUSTER))?;
    let correlation =
        request.property(reply::CORRELATION_ID).ok_or_else(|| missing(reply::CORRELATION_ID))?;
    let mut msg = Message::new(reply::topic(cluster), body)
        .with_property(reply::CORRELATION_ID, correlation)
        .with_property(reply::MSG_TYPE, reply::MSG_TYPE_REPLY);
    for key in [reply::REPLY_TO_CLIENT, reply::TTL] {
        if let Some(value) = request.property(key) {
            msg = msg.with_property(key, value);
        }
    }
    Ok(msg)
}

impl Producer {
    /// Sends `msg` as a request and waits up to `timeout` for its reply. A reply that does not
    /// come in time is [`ClientError::RequestTimeout`]; a failed send is that send's error.
    pub fn request(&self, msg: &Message, timeout: Duration) -> Result<MessageExt> {
        let deadline = Instant::now() + timeout;
        let requests = self.requests();
        let (tx, rx) = bounded(1);
        let (msg, id) = requests.register(msg, timeout, Waiter::Sync(tx), self.client_id())?;
        self.send_request(&requests, &msg, &id)?;
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(result) => result,
            Err(_) => match requests.take(&id) {
                Some(_) => Err(ClientError::RequestTimeout { correlation_id: id, timeout }),
                // The reply won the race for the entry: it is in the channel now.
                None => rx.try_recv().unwrap_or(Err(ClientError::NotRunning)),
            },
        }
    }

    /// Sends `msg` as a request without waiting; `callback` runs exactly once with the reply,
    /// [`ClientError::RequestTimeout`] after `timeout`, or the send's error.
    pub fn request_async<F>(&self, msg: &Message, timeout: Duration, callback: F) -> Result<()>
    where
        F: FnOnce(Result<MessageExt>) + Send + 'static,
    {
        let requests = self.requests();
        requests.start_sweeper()?;
        let waiter = Waiter::Async(Box::new(callback));
        let (msg, id) = requests.register(msg, timeout, waiter, self.client_id())?;
        self.send_request(&requests, &msg, &id)
    }

    /// Sends a reply made by [`create_reply`] with SEND_REPLY_MESSAGE_V2, so the broker pushes
    /// it to the requester. Fails with the broker's SYSTEM_ERROR when the requester is gone.
    pub fn send_reply(&self, reply: &Message) -> Result<SendResult> {
        if reply.property(reply::MSG_TYPE) != Some(reply::MSG_TYPE_REPLY) {
            return Err(ClientError::invalid("a reply needs MSG_TYPE=reply (use create_reply)"));
        }
        self.send_with_code(reply, RequestCode::SendReplyMessageV2)
    }

    /// Sends the request; on failure the entry is withdrawn and the error returned (the
    /// waiter is not called).
    fn send_request(&self, requests: &Requests, msg: &Message, id: &str) -> Result<()> {
        requests.ensure_registered_with(self, msg.topic());
        match self.send(msg) {
            Ok(_) => Ok(()),
            Err(e) => {
                requests.take(id);
                Err(e)
            }
        }
    }
}

/// Who waits for a reply.
enum Waiter {
    Sync(Sender<Result<MessageExt>>),
    Async(ReplyCallback),
}

impl Waiter {
    fn answer(self, result: Result<MessageExt>) {
        match self {
            // The waiter may have timed out and left; nobody to tell then.
            Self::Sync(tx) => drop(tx.try_send(result)),
            Self::Async(callback) => callback(result),
        }
    }
}

struct Pending {
    waiter: Waiter,
    deadline: Instant,
    timeout: Duration,
}

/// A producer's requests waiting for replies, keyed by CORRELATION_ID.
pub(crate) struct Requests {
    pending: Mutex<HashMap<String, Pending>>,
    /// Topics whose brokers have had a heartbeat since this producer first requested on them.
    registered: Mutex<std::collections::HashSet<String>>,
    sweeper: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
}

impl std::fmt::Debug for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requests").field("pending", &self.pending.lock().len()).finish()
    }
}

impl Requests {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            pending: Mutex::new(HashMap::new()),
            registered: Mutex::new(std::collections::HashSet::new()),
            sweeper: Mutex::new(None),
        })
    }

    /// Stamps the request properties on a copy of `msg` and files its waiter.
    fn register(
        &self,
        msg: &Message,
        timeout: Duration,
        waiter: Waiter,
        reply_to: &str,
    ) -> Result<(Message, String)> {
        if timeout.is_zero() {
            return Err(ClientError::invalid("a request needs a timeout above zero"));
        }
        let id = new_uniq_id();
        let ttl_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let msg = msg
            .clone()
            .with_property(reply::CORRELATION_ID, id.as_str())
            .with_property(reply::REPLY_TO_CLIENT, reply_to)
            .with_property(reply::TTL, ttl_ms.to_string());
        let pending = Pending { waiter, deadline: Instant::now() + timeout, timeout };
        let previous = self.pending.lock().insert(id.clone(), pending);
        assert!(previous.is_none(), "correlation id {id} issued twice");
        Ok((msg, id))
    }

    fn take(&self, id: &str) -> Option<Pending> {
        self.pending.lock().remove(id)
    }

    /// The broker pushes a reply only to a producer it knows from a heartbeat: the first
    /// request on a topic makes sure its brokers have had one (Java does the same).
    fn ensure_registered_with(&self, producer: &Producer, topic: &str) {
        if self.registered.lock().contains(topic) {
            return;
        }
        if producer.fetch_publish_queues(topic).is_ok() && producer.heartbeat_now() > 0 {
            self.registered.lock().insert(topic.to_string());
        }
    }

    /// PUSH_REPLY_MESSAGE_TO_CLIENT: completes the matching request; always answers SUCCESS
    /// (an unknown or late reply is logged and dropped, as Java does).
    pub(crate) fn on_push(&self, broker: &str, cmd: &RemotingCommand) -> RemotingCommand {
        match decode_push(cmd) {
            Ok(msg) => {
                let id = msg.property(reply::CORRELATION_ID).unwrap_or_default().to_string();
                match self.take(&id) {
                    Some(p) => p.waiter.answer(Ok(msg)),
                    None => debug!("reply {id} from {broker} matches no waiting request"),
                }
            }
            Err(what) => warn!("undecodable reply pushed by {broker}: {what}"),
        }
        RemotingCommand::response(ResponseCode::Success.to_i32(), None)
    }

    /// Starts `rmq-request-sweep`, which times out async requests, unless it runs.
    fn start_sweeper(self: &Arc<Self>) -> Result<()> {
        let mut sweeper = self.sweeper.lock();
        if sweeper.is_some() {
            return Ok(());
        }
        let (stop_tx, stop_rx) = bounded::<()>(1);
        let weak = Arc::downgrade(self);
        let handle = std::thread::Builder::new()
            .name("rmq-request-sweep".into())
            .spawn(move || sweep_until_stopped(&weak, &stop_rx))
            .map_err(|e| ClientError::invalid(format!("cannot spawn a thread: {e}")))?;
        *sweeper = Some((stop_tx, handle));
        Ok(())
    }

    /// Removes the expired requests and answers them with a timeout.
    fn sweep(&self, now: Instant) {
        let expired: Vec<(String, Pending)> = {
            let mut pending = self.pending.lock();
            let ids: Vec<String> = pending
                .iter()
                .filter(|(_, p)| p.deadline <= now)
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter().filter_map(|id| pending.remove(&id).map(|p| (id, p))).collect()
        };
        for (id, p) in expired {
            let timeout = p.timeout;
            p.waiter.answer(Err(ClientError::RequestTimeout { correlation_id: id, timeout }));
        }
    }
}

impl Drop for Requests {
    /// The producer is gone: every waiting request learns so, and the sweeper stops.
    fn drop(&mut self) {
        if let Some((stop, _handle)) = self.sweeper.lock().take() {
            // The thread holds only a weak reference and exits on the disconnect; it is not
            // joined because this drop may run on it.
            drop(stop);
        }
        for (_, p) in self.pending.lock().drain() {
            p.waiter.answer(Err(ClientError::NotRunning));
        }
    }
}

fn sweep_until_stopped(requests: &Weak<Requests>, stop: &Receiver<()>) {
    loop {
        match stop.recv_timeout(SWEEP_EVERY) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let Some(requests) = requests.upgrade() else { return };
        requests.sweep(Instant::now());
    }
}

/// The reply as the broker pushed it: ReplyMessageRequestHeader fields and the body.
fn decode_push(cmd: &RemotingCommand) -> std::result::Result<MessageExt, String> {
    let f = &cmd.ext_fields;
    let int = |key: &str| f.get(key).and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(0);
    let int32 = |key: &str| i32::try_from(int(key)).map_err(|_| format!("{key} out of range"));
    let host = |key: &str| {
        f.get(key)
            .and_then(|v| v.parse::<SocketAddr>().ok())
            .unwrap_or(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)))
    };
    let topic = f.get("topic").ok_or("no topic")?.to_string();
    let mut properties = parse_properties(f.get("properties").unwrap_or_default());
    properties.insert(reply::ARRIVE_TIME.into(), super::message::now_unix_ms().to_string());
    let mut sys = int32("sysFlag")?;
    let mut body = cmd.body.clone();
    if sys & sys_flag::COMPRESSED != 0 {
        body = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&body, INFLATE_MAX_BYTES)
            .map_err(|_| "compressed reply body does not inflate as zlib")?;
        sys &= !sys_flag::COMPRESSED;
    }
    Ok(MessageExt {
        topic,
        queue_id: int32("queueId")?,
        flag: int32("flag")?,
        queue_offset: 0,
        commit_log_offset: 0,
        sys_flag: sys,
        born_timestamp: int("bornTimestamp"),
        born_host: host("bornHost"),
        store_timestamp: int("storeTimestamp"),
        store_host: host("storeHost"),
        reconsume_times: int32("reconsumeTimes")?,
        prepared_transaction_offset: 0,
        body_crc: 0,
        body,
        properties,
        offset_msg_id: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_ext(props: &[(&str, &str)]) -> MessageExt {
        let host = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1));
        MessageExt {
            topic: "T".into(),
            queue_id: 0,
            flag: 0,
            queue_offset: 0,
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
            properties: props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            offset_msg_id: String::new(),
        }
    }

    #[test]
    fn reply_goes_to_the_cluster_reply_topic_with_the_request_properties() {
        let req = request_ext(&[
            ("CLUSTER", "DefaultCluster"),
            ("CORRELATION_ID", "c1"),
            ("REPLY_TO_CLIENT", "10.0.0.1@x"),
            ("TTL", "3000"),
        ]);
        let r = create_reply(&req, "pong").unwrap();
        assert_eq!(r.topic(), "DefaultCluster_REPLY_TOPIC");
        assert_eq!(r.property("CORRELATION_ID"), Some("c1"));
        assert_eq!(r.property("REPLY_TO_CLIENT"), Some("10.0.0.1@x"));
        assert_eq!(r.property("TTL"), Some("3000"));
        assert_eq!(r.property("MSG_TYPE"), Some("reply"));
        assert!(create_reply(&request_ext(&[("CORRELATION_ID", "c1")]), "x").is_err());
    }

    #[test]
    fn a_push_completes_its_request_once_and_unknown_ones_are_dropped() {
        let requests = Requests::new();
        let (tx, rx) = bounded(1);
        let msg = Message::new("T", "ping");
        let (sent, id) =
            requests.register(&msg, Duration::from_secs(5), Waiter::Sync(tx), "me").unwrap();
        assert_eq!(sent.property("REPLY_TO_CLIENT"), Some("me"));
        let mut push = RemotingCommand::request(RequestCode::PushReplyMessageToClient.to_i32())
            .with_body(b"pong".to_vec());
        push.ext_fields.insert("topic", "C_REPLY_TOPIC");
        push.ext_fields.insert("properties", format!("CORRELATION_ID\u{1}{id}\u{2}"));
        assert_eq!(requests.on_push("b", &push).code, 0);
        let reply = rx.try_recv().unwrap().unwrap();
        assert_eq!(reply.body, b"pong");
        assert!(reply.property("ARRIVE_TIME").is_some());
        // A second push of the same reply finds nobody waiting.
        assert_eq!(requests.on_push("b", &push).code, 0);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn the_sweep_times_out_only_expired_requests() {
        let requests = Requests::new();
        let (tx, rx) = bounded(1);
        let (_, id) = requests
            .register(&Message::new("T", "x"), Duration::from_millis(1), Waiter::Sync(tx), "me")
            .unwrap();
        let (tx2, rx2) = bounded(1);
        requests
            .register(&Message::new("T", "y"), Duration::from_secs(60), Waiter::Sync(tx2), "me")
            .unwrap();
        requests.sweep(Instant::now() + Duration::from_secs(1));
        match rx.try_recv().unwrap() {
            Err(ClientError::RequestTimeout { correlation_id, .. }) => {
                assert_eq!(correlation_id, id)
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert!(rx2.try_recv().is_err(), "the live request was answered");
        drop(requests);
        assert!(matches!(rx2.try_recv().unwrap(), Err(ClientError::NotRunning)));
    }
}
