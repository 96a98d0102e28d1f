//! Admin headers: topics, subscription groups, stats (PROTOCOL.md §5.7).

use crate::ext_header;

ext_header! {
    /// UPDATE_AND_CREATE_TOPIC (17).
    pub struct CreateTopicRequestHeader {
        topic: String = "topic",
        default_topic: Option<String> = "defaultTopic",
        read_queue_nums: i32 = "readQueueNums",
        write_queue_nums: i32 = "writeQueueNums",
        perm: i32 = "perm",
        topic_filter_type: Option<String> = "topicFilterType",
        topic_sys_flag: Option<i32> = "topicSysFlag",
        order: Option<bool> = "order",
        attributes: Option<String> = "attributes",
    }
}

ext_header! {
    /// A request naming one topic: DELETE_TOPIC_IN_BROKER (215), GET_TOPIC_STATS_INFO (202),
    /// GET_TOPIC_CONFIG (351), QUERY_TOPIC_CONSUME_BY_WHO (300).
    pub struct TopicRequestHeader {
        topic: String = "topic",
    }
}

ext_header! {
    /// GET_CONSUME_STATS (208).
    pub struct GetConsumeStatsRequestHeader {
        consumer_group: String = "consumerGroup",
        topic: Option<String> = "topic",
    }
}

ext_header! {
    /// DELETE_SUBSCRIPTIONGROUP (207).
    pub struct DeleteSubscriptionGroupRequestHeader {
        group_name: String = "groupName",
        clean_offset: Option<bool> = "cleanOffset",
    }
}

ext_header! {
    /// GET_BROKER_CONFIG (26) response.
    pub struct GetBrokerConfigResponseHeader {
        version: String = "version",
    }
}
