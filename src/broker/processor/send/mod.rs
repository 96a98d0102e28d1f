//! The send pool: SEND_MESSAGE (V1 header), SEND_MESSAGE_V2, SEND_BATCH_MESSAGE and
//! CONSUMER_SEND_MSG_BACK (retry / dead letter), one file per flavour:
//!
//! - `inline.rs`: which sends `net-io` runs itself (async flush, existing topic);
//! - `single.rs`: one message, including re-sends to `%RETRY%` topics and their DLQ decision;
//! - `batch.rs`: SEND_BATCH_MESSAGE;
//! - `half.rs`: transactional prepares, stored as half messages (`broker::txn` resolves them);
//! - `retry.rs`: CONSUMER_SEND_MSG_BACK (retry topic or DLQ);
//! - `timer.rs`: timer messages (TIMER_DELIVER_MS …) are diverted to rmq_sys_wheel_timer (the
//!   `timer` thread puts them back when due).
//! - `delay.rs`: delayed messages are diverted to SCHEDULE_TOPIC_XXXX (the `schedule` thread
//!   delivers them when due);
//! - `topic.rs`: the checks every send shares (role, topic, permission, auto-creation, queue);
//! - `reply.rs`: the append, the reply, and sync-flush replies deferred to `flush-reply`;
//! - `request_reply.rs`: SEND_REPLY_MESSAGE(_V2), a request-reply reply pushed to its
//!   requester (on the `reply` pool, since the push waits for the requester).
//!
//! Every failure is a `SendError`; `process` and `process_inline` turn it into the response at
//! the end, so the success path does no error work.

mod batch;
mod delay;
mod half;
mod inline;
mod reply;
mod request_reply;
mod retry;
mod single;
mod timer;
mod topic;

use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use rocketmq_net::{Inline, Processor, RemotingCommand, RequestCode, RequestContext};
use rocketmq_store::record;

use crate::broker::error::{response, BrokerError, SendError};
use crate::broker::BrokerCtx;
use crate::protocol::message::append_property;
use crate::remoting::now_ms;

pub(crate) use delay::divert_delayed;
pub(crate) use reply::{run_flush_replies, FlushWait};

/// The Java client version (V3_4_9) from which `maxReconsumeTimes` in a request is honoured.
const VERSION_HONOURS_MAX_RECONSUME: i32 = 121;

/// A handler that may answer later: `Ok(None)` means the reply is deferred.
type Deferred = Result<Option<RemotingCommand>, SendError>;

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
            RequestCode::ConsumerSendMsgBack => self.send_back(&req).map(Some),
            RequestCode::SendReplyMessage | RequestCode::SendReplyMessageV2 => {
                return self.send_reply(rc, req).unwrap_or_else(|e| Some(response(e)));
            }
            _ => return Some(response(BrokerError::RequestNotSupported { code: req.code })),
        };
        // `Ok(None)`: the reply is written later by the flush-reply thread (sync flush).
        result.unwrap_or_else(|e| Some(response(e)))
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
        Inline::Done(result.unwrap_or_else(|e| Some(response(e))))
    }
}

impl SendProcessor {
    pub fn new(ctx: Arc<BrokerCtx>) -> Self {
        Self { ctx, next_queue: AtomicU32::new(0) }
    }

    /// The next queue of a round-robin over `queues` (at least 1).
    fn round_robin(&self, queues: i32) -> u32 {
        let queues = u32::try_from(queues.max(1)).unwrap_or(1);
        self.next_queue.fetch_add(1, Ordering::Relaxed) % queues
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
}

/// The properties the send path looks at, found in one pass over the encoded string (the
/// first occurrence of a key wins, as in `record::property_value`).
#[derive(Debug, Default)]
struct PropScan<'a> {
    uniq_key: Option<&'a str>,
    cluster: bool,
    delay: Option<&'a str>,
    transaction_prepared: Option<bool>,
    /// Any timer property (TIMER_DELIVER_MS …) is present.
    timer: bool,
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
                k if timer::has_timer_property(k) => scan.timer = true,
                _ => {}
            }
        }
        scan
    }

    fn is_transaction_prepared(&self) -> bool {
        self.transaction_prepared == Some(true)
    }

    /// A positive DELAY level (0 and junk mean no delay, as in `divert_delayed`).
    fn is_delayed(&self) -> bool {
        self.delay.and_then(|d| d.parse::<i64>().ok()).is_some_and(|l| l > 0)
    }

    fn stamps(&self) -> Stamps {
        Stamps { uniq_key: self.uniq_key.map(str::to_string), cluster: self.cluster }
    }
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
    fn prop_scan_keeps_the_first_occurrence() {
        let props = "UNIQ_KEY\u{1}A\u{2}DELAY\u{1}3\u{2}UNIQ_KEY\u{1}B\u{2}CLUSTER\u{1}c\u{2}";
        let scan = PropScan::of(props);
        assert_eq!(scan.uniq_key, Some("A"));
        assert_eq!(scan.delay, Some("3"));
        assert!(scan.cluster);
        assert!(!scan.is_transaction_prepared());
    }
}
