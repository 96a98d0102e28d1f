//! Offset headers: consumer offsets, queue min/max, search by time (PROTOCOL.md §5.6).

use crate::ext_header;

ext_header! {
    /// QUERY_CONSUMER_OFFSET (14).
    pub struct QueryConsumerOffsetRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        set_zero_if_not_found: Option<bool> = "setZeroIfNotFound",
    }
}

ext_header! {
    /// UPDATE_CONSUMER_OFFSET (15).
    pub struct UpdateConsumerOffsetRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: String = "topic",
        queue_id: i32 = "queueId",
        commit_offset: i64 = "commitOffset",
    }
}

ext_header! {
    /// GET_MAX_OFFSET (30), GET_MIN_OFFSET (31), GET_EARLIEST_MSG_STORETIME (32).
    pub struct QueueRequestHeader {
        topic: String = "topic",
        queue_id: i32 = "queueId",
        committed: Option<bool> = "committed",
    }
}

ext_header! {
    /// SEARCH_OFFSET_BY_TIMESTAMP (29).
    pub struct SearchOffsetRequestHeader {
        topic: String = "topic",
        queue_id: i32 = "queueId",
        timestamp: i64 = "timestamp",
        /// `lower` (default) or `upper`, case-insensitive.
        boundary_type: Option<String> = "boundaryType",
    }
}

ext_header! {
    /// Response carrying one `offset` (codes 14, 29, 30, 31).
    pub struct OffsetResponseHeader {
        offset: i64 = "offset",
    }
}

ext_header! {
    /// GET_EARLIEST_MSG_STORETIME (32) response.
    pub struct TimestampResponseHeader {
        timestamp: i64 = "timestamp",
    }
}

ext_header! {
    /// INVOKE_BROKER_TO_RESET_OFFSET (222) and RESET_CONSUMER_CLIENT_OFFSET (220).
    pub struct ResetOffsetRequestHeader {
        topic: String = "topic",
        group: String = "group",
        queue_id: Option<i32> = "queueId",
        offset: Option<i64> = "offset",
        timestamp: i64 = "timestamp",
        is_force: bool = "isForce",
    }
}
