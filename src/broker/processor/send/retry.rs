//! CONSUMER_SEND_MSG_BACK: a consumer failed a message; the broker re-puts the stored copy to
//! `%RETRY%<group>` with the next delay level, or to `%DLQ%<group>` once it has been retried
//! enough (PROTOCOL.md §5.6), or at once when the group consumes orderly (it holds queue locks):
//! an orderly consumer retries locally and sends a message back only once it gave up on it, so
//! a retry topic would re-deliver it out of order (Java's rule for groups holding locks).

use rocketmq_net::RemotingCommand;
use rocketmq_store::record::{self, MessageToStore, RecordView};
use rocketmq_store::{PhysOffset, QueueId};

use super::{SendProcessor, VERSION_HONOURS_MAX_RECONSUME};
use crate::broker::error::{persist, MetadataFile, SendError};
use crate::broker::processor::{header, Handled};
use crate::protocol::body::admin::SubscriptionGroupConfig;
use crate::protocol::header::send::ConsumerSendMsgBackRequestHeader;
use crate::protocol::properties::{prop, remove_prop, set_prop, Props};
use crate::remoting::{now_ms, success};

impl SendProcessor {
    pub(super) fn send_back(&self, req: &RemotingCommand) -> Handled<SendError> {
        let h: ConsumerSendMsgBackRequestHeader = header(req)?;
        self.check_role()?;
        let group =
            self.ctx.groups.get_or_create(&h.group).map_err(persist(MetadataFile::Groups))?;
        let Some(group) = group else {
            return Err(SendError::GroupNotExist { group: h.group.clone() });
        };
        // A commitlog offset is never negative: refuse it rather than look up offset 0.
        let phys_offset = u64::try_from(h.offset)
            .map(PhysOffset)
            .map_err(|_| SendError::NegativeField { field: "offset", value: h.offset })?;
        let raw = self
            .ctx
            .store
            .message_by_phys_offset(phys_offset)
            .ok_or(SendError::MessageNotFound { phys_offset })?;
        let view = RecordView::parse(&raw)
            .map_err(|reason| SendError::StoredMessageUnreadable { phys_offset, reason })?;
        let mut props = record::decode_properties(view.properties);
        keep_origin(&mut props, &view, h.origin_msg_id.as_deref());
        let max = match h.max_reconsume_times {
            Some(m) if req.version >= VERSION_HONOURS_MAX_RECONSUME => m,
            _ => group.retry_max_times,
        };
        let orderly = self.ctx.locks.has_live_lock(&h.group, now_ms());
        let to_dlq = view.reconsume_times >= max || h.delay_level < 0 || orderly;
        let (topic, queue_id) = if to_dlq {
            remove_prop(&mut props, record::PROPERTY_DELAY_TIME_LEVEL);
            let dlq = self.ctx.topics.dlq_topic(&h.group).map_err(persist(MetadataFile::Topics))?;
            (dlq.topic_name, QueueId(0))
        } else {
            self.retry_destination(&h, &group, view.reconsume_times, &mut props)?
        };
        self.ctx.topics_changed();
        let mut msg = MessageToStore {
            topic,
            queue_id,
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
        super::divert_delayed(&self.ctx, &mut msg, &mut props);
        msg.properties = record::encode_properties(&props);
        match self.ctx.store.put_message(msg) {
            Ok(r) => {
                self.ctx.stats.put(u64::from(r.msg_count));
                Ok(success())
            }
            Err(e) => {
                self.ctx.stats.put_failed();
                Err(SendError::Put(e))
            }
        }
    }

    /// The retry topic and queue, with the delay level set: 0 asks the broker to choose
    /// (3 + reconsume times), a positive level is kept.
    fn retry_destination(
        &self,
        h: &ConsumerSendMsgBackRequestHeader,
        group: &SubscriptionGroupConfig,
        reconsume_times: i32,
        props: &mut Props,
    ) -> Result<(String, QueueId), SendError> {
        let level = if h.delay_level == 0 { 3 + reconsume_times } else { h.delay_level };
        set_prop(props, record::PROPERTY_DELAY_TIME_LEVEL, level.to_string());
        let retry = self
            .ctx
            .topics
            .retry_topic(&h.group, group.retry_queue_nums)
            .map_err(persist(MetadataFile::Topics))?;
        let queue = self.round_robin(retry.write_queue_nums);
        Ok((retry.topic_name, QueueId(queue)))
    }
}

/// RETRY_TOPIC and ORIGIN_MESSAGE_ID survive every retry: set only the first time.
fn keep_origin(props: &mut Props, view: &RecordView<'_>, origin_msg_id: Option<&str>) {
    if prop(props, record::PROPERTY_RETRY_TOPIC).is_none() {
        set_prop(props, record::PROPERTY_RETRY_TOPIC, view.topic);
    }
    if prop(props, record::PROPERTY_ORIGIN_MESSAGE_ID).is_none() {
        let origin = origin_msg_id.filter(|s| !s.is_empty()).map_or_else(
            || {
                prop(props, record::PROPERTY_UNIQ_KEY).map_or_else(
                    || record::offset_msg_id(view.store_host, view.phys_offset),
                    str::to_string,
                )
            },
            str::to_string,
        );
        set_prop(props, record::PROPERTY_ORIGIN_MESSAGE_ID, origin);
    }
}
