//! Transactional prepare: a send with `TRAN_MSG=true` (or the PREPARED sys flag) is stored as
//! a half message in RMQ_SYS_TRANS_HALF_TOPIC queue 0, its real topic and queue kept in
//! REAL_TOPIC / REAL_QID and `__transactionId__` = UNIQ_KEY, the transaction bits of its sys
//! flag reset so it enters the half queue. No consumer subscribes there; END_TRANSACTION
//! (`broker::txn`) writes the real message. Delayed transactional messages are refused.

use rocketmq_net::RequestContext;
use rocketmq_store::record::{self, MessageToStore};
use rocketmq_store::QueueId;

use super::{Deferred, SendProcessor, Stamps};
use crate::broker::error::SendError;
use crate::broker::ipv4_of;
use crate::broker::txn::HALF_QUEUE;
use crate::protocol::constants::TRANS_HALF_TOPIC;
use crate::protocol::header::send::SendMessageRequestHeader;
use crate::protocol::message::{append_property, sys_flag};

/// The parts of a transactional send the half message is built from.
pub(super) struct Prepared {
    pub header: SendMessageRequestHeader,
    pub body: Vec<u8>,
    pub properties: String,
    pub stamps: Stamps,
    pub delayed: bool,
    pub queue_id: QueueId,
}

impl SendProcessor {
    /// Stores the half message; the reply carries the real queue id, the half queue offset
    /// and the transaction id, as Java's does.
    pub(super) fn send_half(&self, rc: &RequestContext, p: Prepared) -> Deferred {
        if p.delayed {
            return Err(SendError::TransactionNotAllowed { what: "delayed" });
        }
        let mut props = p.properties;
        let uniq = self.stamp(&mut props, p.stamps);
        append_property(&mut props, record::PROPERTY_REAL_TOPIC, &p.header.topic);
        append_property(&mut props, record::PROPERTY_REAL_QUEUE_ID, &p.queue_id.0.to_string());
        append_property(&mut props, record::PROPERTY_TRANSACTION_ID, &uniq);
        let msg = MessageToStore {
            topic: TRANS_HALF_TOPIC.to_string(),
            queue_id: HALF_QUEUE,
            flag: p.header.flag,
            body: p.body,
            properties: props,
            sys_flag: p.header.sys_flag & !sys_flag::TRANSACTION_MASK,
            born_timestamp_ms: p.header.born_timestamp,
            born_host: ipv4_of(rc.conn().peer_addr()),
            store_host: self.ctx.store_host(),
            reconsume_times: p.header.reconsume_times.unwrap_or(0),
            prepared_transaction_offset: 0,
        };
        self.put_and_reply(rc, &[msg], p.queue_id, Some(uniq))
    }
}

/// Whether a send is transactional: the property or the PREPARED sys flag.
pub(super) fn is_prepared(property: bool, flag: i32) -> bool {
    property || flag & sys_flag::TRANSACTION_MASK == sys_flag::TRANSACTION_PREPARED
}
