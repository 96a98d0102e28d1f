//! Vocabulary shared by the push and pull consumers: message model, where a new group starts,
//! consume results (concurrent and orderly), and the start-offset rule (a stored offset wins; `ConsumeFrom` applies only
//! when the group has none for a queue).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::api;
use super::error::Result;
use super::instance::ClientInstance;
use crate::protocol::body::heartbeat::{ConsumerData, SubscriptionData};
use crate::protocol::body::queue::MessageQueue;
use crate::protocol::constants::RETRY_GROUP_TOPIC_PREFIX;

/// Default consumer group.
pub const DEFAULT_CONSUMER_GROUP: &str = "DEFAULT_CONSUMER";

/// How a group's members share messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MessageModel {
    /// Each message goes to one member; queues are divided among members (default).
    #[default]
    Clustering,
    /// Every member gets every message; offsets are kept locally.
    Broadcasting,
}

impl MessageModel {
    /// The Java enum name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Clustering => "CLUSTERING",
            Self::Broadcasting => "BROADCASTING",
        }
    }
}

/// Where a group starts on a queue for which it has no stored offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConsumeFrom {
    /// Only messages arriving from now on (default).
    #[default]
    LastOffset,
    /// Everything still stored.
    FirstOffset,
    /// Messages stored at or after this time.
    Timestamp(SystemTime),
}

impl ConsumeFrom {
    /// The Java enum name.
    pub fn name(self) -> &'static str {
        match self {
            Self::LastOffset => "CONSUME_FROM_LAST_OFFSET",
            Self::FirstOffset => "CONSUME_FROM_FIRST_OFFSET",
            Self::Timestamp(_) => "CONSUME_FROM_TIMESTAMP",
        }
    }

    /// The offset to start `mq` at (no stored offset). Retry topics start at 0 for "last", as
    /// in Java, so retries parked before the group started are not lost.
    pub(crate) fn start_offset(self, instance: &ClientInstance, mq: &MessageQueue) -> Result<i64> {
        let retry = mq.topic.starts_with(RETRY_GROUP_TOPIC_PREFIX);
        match self {
            Self::LastOffset if retry => Ok(0),
            Self::LastOffset => api::max_offset(instance, mq),
            Self::FirstOffset => Ok(0),
            Self::Timestamp(_) if retry => api::max_offset(instance, mq),
            Self::Timestamp(t) => api::search_offset(instance, mq, unix_ms(t)),
        }
    }
}

/// What the listener decided about a batch of messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeStatus {
    /// Consumed; the offset may move past them.
    Success,
    /// Not consumed; the broker re-delivers them later (clustering), with a delay set by
    /// [`ConsumeContext::set_delay_level`].
    ReconsumeLater,
}

/// Details of one listener call.
#[derive(Debug, Clone)]
pub struct ConsumeContext {
    queue: MessageQueue,
    delay_level: i32,
}

impl ConsumeContext {
    pub(crate) fn new(queue: MessageQueue) -> Self {
        Self { queue, delay_level: 0 }
    }

    /// The queue the messages came from.
    pub fn queue(&self) -> &MessageQueue {
        &self.queue
    }

    /// The delay level of the re-delivery after `ReconsumeLater` (1 = 1 s, 2 = 5 s, 3 = 10 s,
    /// …); 0 (default) lets the broker choose (3 + times already re-consumed).
    pub fn set_delay_level(&mut self, level: i32) {
        self.delay_level = level;
    }

    /// The delay level requested.
    pub fn delay_level(&self) -> i32 {
        self.delay_level
    }
}

/// What an orderly listener decided about a batch of messages of one queue (Java
/// `ConsumeOrderlyStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeOrderlyStatus {
    /// Consumed; the queue's offset moves past them and its next messages follow.
    Success,
    /// Not consumed: the same messages are delivered again after the suspend time, and the
    /// queue delivers nothing else meanwhile (other queues go on). Once a message has been
    /// re-delivered `max_reconsume_times` times it goes to the dead-letter queue instead and
    /// the queue moves on.
    SuspendCurrentQueueAMoment,
}

/// Details of one orderly listener call.
#[derive(Debug, Clone)]
pub struct ConsumeOrderlyContext {
    queue: MessageQueue,
    suspend_ms: u64,
}

impl ConsumeOrderlyContext {
    pub(crate) fn new(queue: MessageQueue, suspend_ms: u64) -> Self {
        Self { queue, suspend_ms }
    }

    /// The queue the messages came from.
    pub fn queue(&self) -> &MessageQueue {
        &self.queue
    }

    /// How long the queue waits after [`ConsumeOrderlyStatus::SuspendCurrentQueueAMoment`]
    /// before the messages are delivered again (default: the consumer's
    /// `suspend_current_queue_time`, 1000 ms).
    pub fn set_suspend_current_queue_time_ms(&mut self, ms: u64) {
        self.suspend_ms = ms;
    }

    /// The suspend time in effect for this call.
    pub fn suspend_current_queue_time_ms(&self) -> u64 {
        self.suspend_ms
    }
}

/// The heartbeat entry of a consumer group.
pub(crate) fn consumer_data(
    group: &str,
    consume_type: &str,
    model: MessageModel,
    from: ConsumeFrom,
    subscriptions: Vec<SubscriptionData>,
) -> ConsumerData {
    ConsumerData {
        consume_from_where: from.name().into(),
        consume_type: consume_type.into(),
        group_name: group.into(),
        message_model: model.name().into(),
        subscription_data_set: subscriptions,
        unit_mode: false,
    }
}

/// Milliseconds since the epoch of `t` (0 before the epoch).
pub(crate) fn unix_ms(t: SystemTime) -> i64 {
    let ms = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis();
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// Where broadcasting consumers keep offsets unless told otherwise:
/// `$ROCKETMQ_OFFSET_STORE_DIR`, else `~/.rocketmq_offsets` (Java's default), else a temp dir.
pub(crate) fn default_offset_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("ROCKETMQ_OFFSET_STORE_DIR") {
        return dir.into();
    }
    match std::env::var_os("HOME") {
        Some(home) => std::path::Path::new(&home).join(".rocketmq_offsets"),
        None => std::env::temp_dir().join(".rocketmq_offsets"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_java_enums() {
        assert_eq!(MessageModel::Broadcasting.name(), "BROADCASTING");
        assert_eq!(ConsumeFrom::FirstOffset.name(), "CONSUME_FROM_FIRST_OFFSET");
        assert_eq!(ConsumeFrom::Timestamp(UNIX_EPOCH).name(), "CONSUME_FROM_TIMESTAMP");
        let data = consumer_data(
            "g",
            "CONSUME_PASSIVELY",
            MessageModel::Clustering,
            ConsumeFrom::LastOffset,
            vec![],
        );
        assert_eq!(data.message_model, "CLUSTERING");
        assert_eq!(data.consume_from_where, "CONSUME_FROM_LAST_OFFSET");
    }

    #[test]
    fn context_delay_level() {
        let mut ctx = ConsumeContext::new(MessageQueue::new("T", "b", 0));
        assert_eq!(ctx.delay_level(), 0);
        ctx.set_delay_level(2);
        assert_eq!(ctx.delay_level(), 2);
        assert_eq!(ctx.queue().queue_id, 0);
        assert_eq!(unix_ms(UNIX_EPOCH + Duration::from_millis(5)), 5);
        let mut octx = ConsumeOrderlyContext::new(MessageQueue::new("T", "b", 1), 1000);
        assert_eq!(octx.suspend_current_queue_time_ms(), 1000);
        octx.set_suspend_current_queue_time_ms(20);
        assert_eq!((octx.suspend_current_queue_time_ms(), octx.queue().queue_id), (20, 1));
    }
}
