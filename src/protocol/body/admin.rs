//! Small admin and client bodies: TopicList, KVTable, GroupList, consumer lists and connections,
//! SubscriptionGroupConfig.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::lenient::{de, enum_name, ConsumeFromWhere, ConsumeType, LanguageCode, MessageModel};

use super::heartbeat::SubscriptionData;

/// `{"topicList":[…]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicList {
    /// The topic names.
    #[serde(deserialize_with = "de")]
    pub topic_list: BTreeSet<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The broker that answered, when it says.
    #[serde(deserialize_with = "de")]
    pub broker_addr: Option<String>,
}

/// `{"table":{…}}` with string values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KvTable {
    /// Key to value.
    #[serde(deserialize_with = "de")]
    pub table: BTreeMap<String, String>,
}

/// `{"groupList":[…]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupList {
    /// The group names.
    #[serde(deserialize_with = "de")]
    pub group_list: BTreeSet<String>,
}

/// GET_CONSUMER_LIST_BY_GROUP body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerIdList {
    /// The client ids of the group's live members.
    #[serde(deserialize_with = "de")]
    pub consumer_id_list: Vec<String>,
}

/// One client connection as admin tools show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConnectionInfo {
    /// The client's `host:port` as the broker sees it.
    #[serde(deserialize_with = "de")]
    pub client_addr: String,
    /// The client id it sent.
    #[serde(deserialize_with = "de")]
    pub client_id: String,
    /// Its language (`JAVA`, `CPP`, `GO`, `RUST`, …).
    #[serde(deserialize_with = "enum_name::<_, LanguageCode>")]
    pub language: String,
    /// Its RocketMQ version code.
    #[serde(deserialize_with = "de")]
    pub version: i32,
}

/// GET_CONSUMER_CONNECTION_LIST body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerConnection {
    /// The group's connected clients.
    #[serde(deserialize_with = "de")]
    pub connection_set: Vec<ConnectionInfo>,
    /// The Java `ConsumeFromWhere` name.
    #[serde(deserialize_with = "enum_name::<_, ConsumeFromWhere>")]
    pub consume_from_where: String,
    /// `CONSUME_PASSIVELY` (push) or `CONSUME_ACTIVELY` (pull).
    #[serde(deserialize_with = "enum_name::<_, ConsumeType>")]
    pub consume_type: String,
    /// `CLUSTERING` or `BROADCASTING`.
    #[serde(deserialize_with = "enum_name::<_, MessageModel>")]
    pub message_model: String,
    /// Topic to subscription.
    #[serde(deserialize_with = "de")]
    pub subscription_table: BTreeMap<String, SubscriptionData>,
}

/// GET_PRODUCER_CONNECTION_LIST body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerConnection {
    /// The group's connected clients.
    #[serde(deserialize_with = "de")]
    pub connection_set: Vec<ConnectionInfo>,
}

/// A consumer group's settings (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupConfig {
    /// The consumer group.
    #[serde(deserialize_with = "de")]
    pub group_name: String,
    /// Whether the group may consume.
    #[serde(deserialize_with = "de")]
    pub consume_enable: bool,
    /// Whether a new group starts at the minimum offset.
    #[serde(deserialize_with = "de")]
    pub consume_from_min_enable: bool,
    /// Whether broadcasting consumption is allowed.
    #[serde(deserialize_with = "de")]
    pub consume_broadcast_enable: bool,
    /// Whether the group consumes orderly.
    #[serde(deserialize_with = "de")]
    pub consume_message_orderly: bool,
    /// Queues of the group's retry topic.
    #[serde(deserialize_with = "de")]
    pub retry_queue_nums: i32,
    /// Re-deliveries before the dead-letter queue.
    #[serde(deserialize_with = "de")]
    pub retry_max_times: i32,
    /// The broker id the group prefers to consume from.
    #[serde(deserialize_with = "de")]
    pub broker_id: i64,
    /// The broker id to switch to when consumption lags.
    #[serde(deserialize_with = "de")]
    pub which_broker_when_consume_slowly: i64,
    /// Whether members are told when the group changes.
    #[serde(deserialize_with = "de")]
    pub notify_consumer_ids_changed_enable: bool,
    /// System flag bits.
    #[serde(deserialize_with = "de")]
    pub group_sys_flag: i32,
    /// The consume timeout, in minutes.
    #[serde(deserialize_with = "de")]
    pub consume_timeout_minute: i32,
    /// Group attributes (5.x).
    #[serde(deserialize_with = "de")]
    pub attributes: BTreeMap<String, String>,
}

impl Default for SubscriptionGroupConfig {
    fn default() -> Self {
        Self {
            group_name: String::new(),
            consume_enable: true,
            consume_from_min_enable: true,
            consume_broadcast_enable: true,
            consume_message_orderly: false,
            retry_queue_nums: 1,
            retry_max_times: 16,
            broker_id: 0,
            which_broker_when_consume_slowly: 1,
            notify_consumer_ids_changed_enable: true,
            group_sys_flag: 0,
            consume_timeout_minute: 15,
            attributes: BTreeMap::new(),
        }
    }
}

impl SubscriptionGroupConfig {
    /// Defaults for `group`.
    pub fn new(group: &str) -> Self {
        Self { group_name: group.to_string(), ..Default::default() }
    }
}

/// GET_ALL_SUBSCRIPTIONGROUP_CONFIG body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupWrapper {
    /// Group name to config.
    #[serde(deserialize_with = "de")]
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
    /// The version of the table.
    #[serde(deserialize_with = "de")]
    pub data_version: super::register::DataVersion,
}

lenient_struct!(
    TopicList,
    KvTable,
    GroupList,
    ConsumerIdList,
    ConnectionInfo,
    ConsumerConnection,
    ProducerConnection,
    SubscriptionGroupConfig,
    SubscriptionGroupWrapper
);
