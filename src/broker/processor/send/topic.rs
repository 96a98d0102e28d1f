//! The checks every send shares, in the Java broker's order: role, topic name, forbidden
//! system topics, existence (with auto-creation), write permission, then the queue.

use rocketmq_store::QueueId;

use super::SendProcessor;
use crate::broker::error::{persist, MetadataFile, SendError};
use crate::broker::topics::QueueCounts;
use crate::protocol::body::register::TopicConfig;
use crate::protocol::constants::{self, perm};
use crate::protocol::header::send::SendMessageRequestHeader;

impl SendProcessor {
    /// Resolves the topic (`known`, or looked up and auto-created when allowed) and checks it
    /// may be written.
    pub(super) fn writable_topic(
        &self,
        h: &SendMessageRequestHeader,
        known: Option<QueueCounts>,
    ) -> Result<QueueCounts, SendError> {
        self.check_role()?;
        constants::validate_topic(&h.topic)
            .map_err(|reason| SendError::InvalidTopic { topic: h.topic.clone(), reason })?;
        if constants::NOT_ALLOWED_SEND_TOPICS.contains(&h.topic.as_str()) {
            return Err(SendError::TopicForbidden { topic: h.topic.clone() });
        }
        let topic = match known.or_else(|| self.ctx.topics.counts(&h.topic)) {
            Some(t) => t,
            None => QueueCounts::from(&self.auto_create(h)?),
        };
        if !perm::is_writeable(topic.perm) {
            return Err(SendError::TopicNotWritable { topic: h.topic.clone() });
        }
        Ok(topic)
    }

    /// A slave refuses writes, as the Java store does (SERVICE_NOT_AVAILABLE). One atomic byte
    /// load (a plain load on x86) of a cache line nobody writes while the role stays put; no
    /// lock, no allocation.
    pub(super) fn check_role(&self) -> Result<(), SendError> {
        let role = self.ctx.role.get();
        if role.accepts_writes() {
            Ok(())
        } else {
            Err(SendError::NotWritableRole { role })
        }
    }

    fn auto_create(&self, h: &SendMessageRequestHeader) -> Result<TopicConfig, SendError> {
        let created = if h.topic.starts_with(constants::RETRY_GROUP_TOPIC_PREFIX) {
            let group = &h.topic[constants::RETRY_GROUP_TOPIC_PREFIX.len()..];
            let queues = self.ctx.groups.get(group).map_or(1, |g| g.retry_queue_nums);
            Some(
                self.ctx
                    .topics
                    .retry_topic(group, queues)
                    .map_err(persist(MetadataFile::Topics))?,
            )
        } else if self.ctx.runtime.auto_create_topic() && !h.default_topic.is_empty() {
            self.ctx
                .topics
                .create_from_template(&h.topic, &h.default_topic, h.default_topic_queue_nums)
                .map_err(persist(MetadataFile::Topics))?
        } else {
            None
        };
        match created {
            Some(t) => {
                self.ctx.topics_changed();
                Ok(t)
            }
            None => Err(SendError::TopicNotExist { topic: h.topic.clone() }),
        }
    }

    /// The queue to store in: the one asked for, or round-robin when the header's queueId is
    /// negative (PROTOCOL.md §5.3: "< 0 ⇒ broker picks"; legal from stock clients).
    pub(super) fn pick_queue(
        &self,
        h: &SendMessageRequestHeader,
        topic: QueueCounts,
    ) -> Result<QueueId, SendError> {
        let Ok(q) = u32::try_from(h.queue_id) else {
            return Ok(QueueId(self.round_robin(topic.write_queue_nums)));
        };
        if i64::from(q) < i64::from(topic.read_queue_nums.max(topic.write_queue_nums)) {
            Ok(QueueId(q))
        } else {
            Err(SendError::QueueIdIllegal {
                topic: h.topic.clone(),
                queue_id: q,
                write_queue_nums: topic.write_queue_nums,
            })
        }
    }
}
