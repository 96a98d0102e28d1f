//! Broker registration bodies: RegisterBrokerBody, TopicConfigSerializeWrapper, TopicConfig,
//! DataVersion.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::lenient::{de, enum_name, TopicFilterType};

/// A version stamp for a broker's topic table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataVersion {
    /// Bumped on every change of the table.
    #[serde(deserialize_with = "de")]
    pub counter: i64,
    /// The broker's state version (5.x).
    #[serde(deserialize_with = "de")]
    pub state_version: i64,
    /// When the version was made (ms).
    #[serde(deserialize_with = "de")]
    pub timestamp: i64,
}

/// One topic's configuration on a broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfig {
    /// Topic attributes (5.x), such as `+message.type`.
    #[serde(deserialize_with = "de")]
    pub attributes: BTreeMap<String, String>,
    /// Whether the topic is ordered.
    #[serde(deserialize_with = "de")]
    pub order: bool,
    /// PermName bits (2 write, 4 read, 6 both).
    #[serde(deserialize_with = "de")]
    pub perm: i32,
    /// Queues consumers read.
    #[serde(deserialize_with = "de")]
    pub read_queue_nums: i32,
    /// `SINGLE_TAG` or `MULTI_TAG`.
    #[serde(deserialize_with = "enum_name::<_, TopicFilterType>")]
    pub topic_filter_type: String,
    /// The topic.
    #[serde(deserialize_with = "de")]
    pub topic_name: String,
    /// System flag bits.
    #[serde(deserialize_with = "de")]
    pub topic_sys_flag: i32,
    /// Queues producers write.
    #[serde(deserialize_with = "de")]
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
    #[serde(deserialize_with = "de")]
    pub data_version: DataVersion,
    /// Topic name to config.
    #[serde(deserialize_with = "de")]
    pub topic_config_table: BTreeMap<String, TopicConfig>,
}

/// REGISTER_BROKER body (uncompressed form).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterBrokerBody {
    /// Filter servers of the broker (unused; empty).
    #[serde(deserialize_with = "de")]
    pub filter_server_list: Vec<String>,
    /// The broker's topics.
    #[serde(deserialize_with = "de")]
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
}

lenient_struct!(DataVersion, TopicConfig, TopicConfigSerializeWrapper, RegisterBrokerBody);

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
