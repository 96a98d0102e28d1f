//! Broker registration bodies: RegisterBrokerBody, TopicConfigSerializeWrapper, TopicConfig,
//! DataVersion.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A version stamp for a broker's topic table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataVersion {
    /// Bumped on every change of the table.
    pub counter: i64,
    /// The broker's state version (5.x).
    pub state_version: i64,
    /// When the version was made (ms).
    pub timestamp: i64,
}

/// One topic's configuration on a broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfig {
    /// Topic attributes (5.x), such as `+message.type`.
    pub attributes: BTreeMap<String, String>,
    /// Whether the topic is ordered.
    pub order: bool,
    /// PermName bits (2 write, 4 read, 6 both).
    pub perm: i32,
    /// Queues consumers read.
    pub read_queue_nums: i32,
    /// `SINGLE_TAG` or `MULTI_TAG`.
    pub topic_filter_type: String,
    /// The topic.
    pub topic_name: String,
    /// System flag bits.
    pub topic_sys_flag: i32,
    /// Queues producers write.
    pub write_queue_nums: i32,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            attributes: BTreeMap::new(),
            order: false,
            perm: crate::protocol::constants::perm::READ_WRITE,
            read_queue_nums: 16,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_name: String::new(),
            topic_sys_flag: 0,
            write_queue_nums: 16,
        }
    }
}

impl TopicConfig {
    /// A read-write topic with `queues` read and write queues.
    pub fn new(name: &str, queues: i32) -> Self {
        Self {
            topic_name: name.to_string(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            ..Default::default()
        }
    }
}

/// A broker's topic table with its version (GET_ALL_TOPIC_CONFIG, REGISTER_BROKER).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigSerializeWrapper {
    /// The version of the table.
    pub data_version: DataVersion,
    /// Topic name to config.
    pub topic_config_table: BTreeMap<String, TopicConfig>,
}

/// REGISTER_BROKER body (uncompressed form).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterBrokerBody {
    /// Filter servers of the broker (unused; empty).
    pub filter_server_list: Vec<String>,
    /// The broker's topics.
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_java_register_body() {
        let s = r#"{"filterServerList":[],
 "topicConfigSerializeWrapper":{
    "dataVersion":{"counter":5,"stateVersion":0,"timestamp":1700000000000},
    "mappingDataVersion":{"counter":0,"stateVersion":0,"timestamp":0},
    "topicConfigTable":{"TopicTest":{"attributes":{},"order":false,"perm":6,"readQueueNums":4,
                                     "topicFilterType":"SINGLE_TAG","topicName":"TopicTest",
                                     "topicSysFlag":0,"writeQueueNums":4}},
    "topicQueueMappingDetailMap":{},"topicQueueMappingInfoMap":{}}}"#;
        let b: RegisterBrokerBody = serde_json::from_str(s).unwrap();
        let w = &b.topic_config_serialize_wrapper;
        assert_eq!(w.data_version.counter, 5);
        assert_eq!(w.topic_config_table["TopicTest"].write_queue_nums, 4);
    }
}
