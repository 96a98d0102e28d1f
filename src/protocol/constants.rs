//! Protocol constants shared by broker, nameserver and client (PROTOCOL.md Appendix B).

/// Permission bits of a topic or broker (PermName).
pub mod perm {
    /// Priority (unused by us, kept for round-tripping).
    pub const PRIORITY: i32 = 0x8;
    /// Consumers may read.
    pub const READ: i32 = 0x4;
    /// Producers may write.
    pub const WRITE: i32 = 0x2;
    /// New topics may be created from this one (TBW102).
    pub const INHERIT: i32 = 0x1;
    /// Read and write: the usual value.
    pub const READ_WRITE: i32 = READ | WRITE;

    /// Whether `perm` allows reading.
    pub fn is_readable(perm: i32) -> bool {
        perm & READ == READ
    }

    /// Whether `perm` allows writing.
    pub fn is_writeable(perm: i32) -> bool {
        perm & WRITE == WRITE
    }

    /// Whether `perm` allows topic auto-creation.
    pub fn is_inherited(perm: i32) -> bool {
        perm & INHERIT == INHERIT
    }
}

/// The template topic producers ask for when their topic has no route (auto-creation).
pub const AUTO_CREATE_TOPIC_KEY: &str = "TBW102";
/// Where delayed messages wait.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
/// Where timer messages (TIMER_DELIVER_MS …) wait, queue 0.
pub const TIMER_TOPIC: &str = "rmq_sys_wheel_timer";
/// Transaction half messages.
pub const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
/// Transaction operation records.
pub const TRANS_OP_HALF_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
/// Prefix of per-group retry topics.
pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";
/// Prefix of per-group dead-letter topics.
pub const DLQ_GROUP_TOPIC_PREFIX: &str = "%DLQ%";
/// The id of a master in `brokerAddrs`.
pub const MASTER_ID: i64 = 0;
/// Default region reported in send responses.
pub const DEFAULT_REGION: &str = "DefaultRegion";
/// The producer group the client uses for its own re-sends.
pub const CLIENT_INNER_PRODUCER_GROUP: &str = "CLIENT_INNER_PRODUCER";
/// Longest ordinary topic name.
pub const TOPIC_MAX_LENGTH: usize = 127;
/// Longest retry or DLQ topic name.
pub const RETRY_TOPIC_MAX_LENGTH: usize = 255;

/// Topics producers may not send to directly.
pub const NOT_ALLOWED_SEND_TOPICS: &[&str] = &[
    SCHEDULE_TOPIC,
    TIMER_TOPIC,
    TRANS_HALF_TOPIC,
    TRANS_OP_HALF_TOPIC,
    "TRANS_CHECK_MAX_TIME_TOPIC",
    "SELF_TEST_TOPIC",
    "OFFSET_MOVED_EVENT",
];

/// `%RETRY%<group>`.
pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_GROUP_TOPIC_PREFIX}{group}")
}

/// `%DLQ%<group>`.
pub fn dlq_topic(group: &str) -> String {
    format!("{DLQ_GROUP_TOPIC_PREFIX}{group}")
}

/// Request-reply (ADVANCED.md §9): the reply topic and the properties requests and replies
/// carry.
pub mod reply {
    /// Ties a reply to its request: the requester's random id, copied into the reply.
    pub const CORRELATION_ID: &str = "CORRELATION_ID";
    /// The requester's client id; the broker pushes the reply on its connection.
    pub const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
    /// The request's timeout in milliseconds (a decimal string).
    pub const TTL: &str = "TTL";
    /// `reply` on a reply message.
    pub const MSG_TYPE: &str = "MSG_TYPE";
    /// The value of [`MSG_TYPE`] on a reply.
    pub const MSG_TYPE_REPLY: &str = "reply";
    /// The cluster the broker that stored the request belongs to (the broker stamps it).
    pub const CLUSTER: &str = "CLUSTER";
    /// When the broker pushed the reply (ms), added by the broker.
    pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
    /// When the requester received the reply (ms), added by the requester.
    pub const ARRIVE_TIME: &str = "ARRIVE_TIME";

    /// `<cluster>_REPLY_TOPIC`, where replies are stored (`MixAll.getReplyTopic`).
    pub fn topic(cluster: &str) -> String {
        format!("{cluster}_REPLY_TOPIC")
    }
}

/// Why a topic name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicNameError {
    /// Empty name.
    Empty,
    /// Longer than the limit for its kind.
    TooLong {
        /// Length in bytes.
        len: usize,
        /// The limit that applies.
        max: usize,
    },
    /// A character outside `[%|a-zA-Z0-9_-]`.
    IllegalCharacter(char),
}

impl std::fmt::Display for TopicNameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => write!(f, "the topic name is empty"),
            Self::TooLong { len, max } => {
                write!(f, "the topic name is {len} characters long, longer than {max}")
            }
            Self::IllegalCharacter(c) => write!(
                f,
                "the topic name contains illegal character {c:?}; allowed are ^[%|a-zA-Z0-9_-]+$"
            ),
        }
    }
}

/// Checks a topic name the way the Java broker does (`^[%|a-zA-Z0-9_-]+$`, ≤ 127, or ≤ 255 for
/// retry and DLQ topics).
pub fn validate_topic(topic: &str) -> Result<(), TopicNameError> {
    if topic.is_empty() {
        return Err(TopicNameError::Empty);
    }
    let max = if topic.starts_with(RETRY_GROUP_TOPIC_PREFIX)
        || topic.starts_with(DLQ_GROUP_TOPIC_PREFIX)
    {
        RETRY_TOPIC_MAX_LENGTH
    } else {
        TOPIC_MAX_LENGTH
    };
    if topic.len() > max {
        return Err(TopicNameError::TooLong { len: topic.len(), max });
    }
    match topic.chars().find(|c| !(c.is_ascii_alphanumeric() || "%|_-".contains(*c))) {
        Some(c) => Err(TopicNameError::IllegalCharacter(c)),
        None => Ok(()),
    }
}

/// Starts the nameserver's refusal of a registration whose broker name and id a live broker at
/// another address holds (our nameserver's; Java's lets the newcomer take the route over). The
/// broker looks for it to refuse to start.
pub const BROKER_NAME_TAKEN: &str = "broker name taken";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert!(validate_topic("TopicTest").is_ok());
        assert!(validate_topic("%RETRY%cg").is_ok());
        assert_eq!(validate_topic(""), Err(TopicNameError::Empty));
        assert_eq!(validate_topic("a b"), Err(TopicNameError::IllegalCharacter(' ')));
        let long = "t".repeat(128);
        assert_eq!(validate_topic(&long), Err(TopicNameError::TooLong { len: 128, max: 127 }));
        assert!(validate_topic(&format!("%RETRY%{long}")).is_ok());
    }
}

/// Timer-message properties (ADVANCED.md §5.1, §5.2).
pub mod timer {
    /// Absolute delivery time, epoch ms.
    pub const DELIVER_MS: &str = "TIMER_DELIVER_MS";
    /// Relative delay in seconds from the broker's receipt.
    pub const DELAY_SEC: &str = "TIMER_DELAY_SEC";
    /// Relative delay in ms from the broker's receipt.
    pub const DELAY_MS: &str = "TIMER_DELAY_MS";
    /// Cancels the timer message with this UNIQ_KEY.
    pub const DEL_UNIQKEY: &str = "TIMER_DEL_UNIQKEY";
    /// The delivery time the broker settled on (rounded down to the precision).
    pub const OUT_MS: &str = "TIMER_OUT_MS";
    /// When the timer service took the message in.
    pub const ENQUEUE_MS: &str = "TIMER_ENQUEUE_MS";
    /// When it was delivered to its real topic.
    pub const DEQUEUE_MS: &str = "TIMER_DEQUEUE_MS";
    /// How many times it was put back for a later round.
    pub const ROLL_TIMES: &str = "TIMER_ROLL_TIMES";
}
