//! PULL_MESSAGE / LITE_PULL_MESSAGE headers (PROTOCOL.md §5.6, §8).

use crate::ext_header;

/// PullSysFlag bits.
pub mod sys_flag {
    /// Store `commitOffset` as the group's offset (first handling only).
    pub const COMMIT_OFFSET: i32 = 0x1;
    /// The broker may hold the request (long polling).
    pub const SUSPEND: i32 = 0x2;
    /// `subscription` in this request is authoritative.
    pub const SUBSCRIPTION: i32 = 0x4;
    /// Legacy class filter; ignored.
    pub const CLASS_FILTER: i32 = 0x8;
    /// Set by lite-pull consumers.
    pub const LITE_PULL: i32 = 0x10;
}

ext_header! {
    /// PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361) request.
    pub struct PullMessageRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        queue_offset: i64 = "queueOffset",
        max_msg_nums: i32 = "maxMsgNums",
        sys_flag: i32 = "sysFlag",
        commit_offset: i64 = "commitOffset",
        suspend_timeout_millis: i64 = "suspendTimeoutMillis",
        subscription: Option<String> = "subscription",
        sub_version: i64 = "subVersion",
        expression_type: Option<String> = "expressionType",
        max_msg_bytes: Option<i32> = "maxMsgBytes",
    }
}

ext_header! {
    /// Pull response. All four offsets are required by Java clients on codes 0, 19, 20 and 21.
    pub struct PullMessageResponseHeader {
        suggest_which_broker_id: i64 = "suggestWhichBrokerId",
        next_begin_offset: i64 = "nextBeginOffset",
        min_offset: i64 = "minOffset",
        max_offset: i64 = "maxOffset",
        offset_delta: Option<i64> = "offsetDelta",
        topic_sys_flag: Option<i32> = "topicSysFlag",
        group_sys_flag: Option<i32> = "groupSysFlag",
    }
}
