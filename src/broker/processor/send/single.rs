//! SEND_MESSAGE and SEND_MESSAGE_V2: one message. A re-send to `%RETRY%<group>` past the
//! group's max reconsume times goes to `%DLQ%<group>` instead (PROTOCOL.md §5.3).

use rocketmq_net::{RemotingCommand, RequestContext};
use rocketmq_store::record::{self, MessageToStore};
use rocketmq_store::QueueId;

use super::{half, Deferred, PropScan, SendProcessor, VERSION_HONOURS_MAX_RECONSUME};
use crate::broker::error::{persist, MetadataFile, SendError};
use crate::broker::ipv4_of;
use crate::broker::topics::QueueCounts;
use crate::protocol::body::register::TopicConfig;
use crate::protocol::constants;
use crate::protocol::header::send::{decode_send_header, SendMessageRequestHeader};
use crate::protocol::properties::set_prop;

impl SendProcessor {
    /// `known`: the topic's counts, already looked up by the inline path.
    pub(super) fn send_one(
        &self,
        rc: &RequestContext,
        req: RemotingCommand,
        known: Option<QueueCounts>,
    ) -> Deferred {
        let mut h = decode_send_header(req.code, &req.ext_fields)?;
        let counts = self.writable_topic(&h, known)?;
        let mut queue_id = self.pick_queue(&h, counts)?;
        let mut props = h.properties.take().unwrap_or_default();
        let mut scan = PropScan::of(&props);
        if half::is_prepared(scan.is_transaction_prepared(), h.sys_flag) {
            let (stamps, delayed) = (scan.stamps(), scan.is_delayed());
            let prepared = half::Prepared {
                header: h,
                body: req.body,
                properties: props,
                stamps,
                delayed,
                queue_id,
            };
            return self.send_half(rc, prepared);
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
                queue_id = QueueId(0);
            }
        }
        let delayed = scan.delay.is_some();
        let timed = scan.timer;
        let stamps = scan.stamps();
        let uniq = Some(self.stamp(&mut props, stamps));
        let mut msg = MessageToStore {
            topic,
            queue_id,
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
            super::divert_delayed(&self.ctx, &mut msg, &mut pairs);
            msg.properties = record::encode_properties(&pairs);
        }
        if timed {
            let mut pairs = record::decode_properties(&msg.properties);
            let now = crate::remoting::now_ms();
            super::timer::divert_timer(&self.ctx.config.timer, now, &mut msg, &mut pairs)
                .map_err(SendError::Timer)?;
            msg.properties = record::encode_properties(&pairs);
        }
        self.put_and_reply(rc, &[msg], queue_id, uniq)
    }

    /// A client re-sending to `%RETRY%group` past its max retries goes to the DLQ, and so does
    /// any re-send of a group holding queue locks: an orderly consumer re-sends only a message
    /// it gave up on (Java `handleRetryAndDLQ`).
    fn retry_to_dlq(
        &self,
        h: &SendMessageRequestHeader,
        version: i32,
        reconsume_times: i32,
    ) -> Result<Option<TopicConfig>, SendError> {
        let group = &h.topic[constants::RETRY_GROUP_TOPIC_PREFIX.len()..];
        let config = self.ctx.groups.get_or_create(group).map_err(persist(MetadataFile::Groups))?;
        let Some(config) = config else {
            return Err(SendError::GroupNotExist { group: group.to_string() });
        };
        let max = match h.max_reconsume_times {
            Some(m) if version >= VERSION_HONOURS_MAX_RECONSUME => m,
            _ => config.retry_max_times,
        };
        let orderly = self.ctx.locks.has_live_lock(group, crate::remoting::now_ms());
        if reconsume_times <= max && !orderly {
            return Ok(None);
        }
        let dlq = self.ctx.topics.dlq_topic(group).map_err(persist(MetadataFile::Topics))?;
        self.ctx.topics_changed();
        Ok(Some(dlq))
    }
}
