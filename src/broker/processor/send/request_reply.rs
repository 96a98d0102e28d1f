//! SEND_REPLY_MESSAGE (324, V1 header) and SEND_REPLY_MESSAGE_V2 (325): the reply of a
//! request-reply exchange (ADVANCED.md §9). The reply passes the usual send checks, is pushed
//! to the requester with PUSH_REPLY_MESSAGE_TO_CLIENT (326) on the connection its
//! REPLY_TO_CLIENT producer registered by heartbeat, and is then stored in its topic (normally
//! `<cluster>_REPLY_TOPIC`), as Java does with `storeReplyMessageEnable` on.
//!
//! Invariant: a reply that could not be pushed is not stored and is answered SYSTEM_ERROR
//! (`push reply message to <clientId>fail.`), so the replier learns the requester is gone. The
//! push waits for the requester's answer, which is why these codes run on their own pool.

use std::time::Duration;

use rocketmq_net::{RemotingCommand, RequestCode, RequestContext};
use rocketmq_store::record::{self, MessageToStore};
use rocketmq_store::QueueId;

use super::{PropScan, SendProcessor};
use crate::broker::error::ReplyError;
use crate::broker::ipv4_of;
use crate::protocol::constants::reply;
use crate::protocol::header::send::{decode_send_header, SendMessageRequestHeader};
use crate::protocol::message::append_property;
use crate::remoting::now_ms;

/// How long the requester may take to acknowledge a pushed reply (Java waits 3 s).
const PUSH_TIMEOUT: Duration = Duration::from_secs(3);

impl SendProcessor {
    /// Checks, pushes, then stores one reply. `Ok(None)`: the answer waits for a group commit.
    pub(super) fn send_reply(
        &self,
        rc: &RequestContext,
        req: RemotingCommand,
    ) -> Result<Option<RemotingCommand>, ReplyError> {
        // The reply codes carry the header of the matching send code.
        let send_code = if req.code == RequestCode::SendReplyMessage.to_i32() {
            RequestCode::SendMessage
        } else {
            RequestCode::SendMessageV2
        };
        let mut h = decode_send_header(send_code.to_i32(), &req.ext_fields)?;
        let counts = self.writable_topic(&h, None)?;
        let queue_id = self.pick_queue(&h, counts)?;
        let mut props = h.properties.take().unwrap_or_default();
        let client_id = record::property_value(&props, reply::REPLY_TO_CLIENT)
            .ok_or(ReplyError::NoReplyTo)?
            .to_string();
        let stamps = PropScan::of(&props).stamps();
        let uniq = self.stamp(&mut props, stamps);
        let pushed_ms = now_ms();
        append_property(&mut props, reply::PUSH_REPLY_TIME, &pushed_ms.to_string());
        let msg = MessageToStore {
            topic: h.topic.clone(),
            queue_id,
            flag: h.flag,
            body: req.body,
            properties: props,
            sys_flag: h.sys_flag,
            born_timestamp_ms: h.born_timestamp,
            born_host: ipv4_of(rc.conn().peer_addr()),
            store_host: self.ctx.store_host(),
            reconsume_times: h.reconsume_times.unwrap_or(0),
            prepared_transaction_offset: 0,
        };
        self.push_to_requester(&client_id, &h, &msg, pushed_ms)?;
        Ok(self.put_and_reply(rc, &[msg], queue_id, Some(uniq))?)
    }

    /// PUSH_REPLY_MESSAGE_TO_CLIENT on the requester's connection, waiting for its answer.
    fn push_to_requester(
        &self,
        client_id: &str,
        h: &SendMessageRequestHeader,
        msg: &MessageToStore,
        pushed_ms: u64,
    ) -> Result<(), ReplyError> {
        let conn = self
            .ctx
            .clients
            .producer_connection(client_id)
            .ok_or_else(|| ReplyError::RequesterGone { client_id: client_id.to_string() })?;
        let push = push_command(h, msg, pushed_ms);
        let failed =
            |reason: String| ReplyError::PushFailed { client_id: client_id.into(), reason };
        match conn.invoke(push, PUSH_TIMEOUT) {
            Ok(resp) if resp.code == 0 => Ok(()),
            Ok(resp) => Err(failed(format!(
                "the requester answered code {}: {}",
                resp.code,
                resp.remark.unwrap_or_default()
            ))),
            Err(e) => Err(failed(e.to_string())),
        }
    }
}

/// The push: ReplyMessageRequestHeader's fields (all as strings) and the reply's body, still
/// compressed when its sysFlag says so (the requester inflates it).
fn push_command(
    h: &SendMessageRequestHeader,
    msg: &MessageToStore,
    pushed_ms: u64,
) -> RemotingCommand {
    let QueueId(queue_id) = msg.queue_id;
    let mut cmd = RemotingCommand::request(RequestCode::PushReplyMessageToClient.to_i32())
        .with_body(msg.body.clone());
    let fields = [
        ("producerGroup", h.producer_group.clone()),
        ("topic", msg.topic.clone()),
        ("defaultTopic", h.default_topic.clone()),
        ("defaultTopicQueueNums", h.default_topic_queue_nums.to_string()),
        ("queueId", queue_id.to_string()),
        ("sysFlag", msg.sys_flag.to_string()),
        ("bornTimestamp", msg.born_timestamp_ms.to_string()),
        ("flag", msg.flag.to_string()),
        ("properties", msg.properties.clone()),
        ("reconsumeTimes", msg.reconsume_times.to_string()),
        ("unitMode", h.unit_mode.unwrap_or(false).to_string()),
        ("bornHost", msg.born_host.to_string()),
        ("storeHost", msg.store_host.to_string()),
        ("storeTimestamp", pushed_ms.to_string()),
    ];
    for (key, value) in fields {
        cmd.ext_fields.insert(key, value);
    }
    cmd
}
