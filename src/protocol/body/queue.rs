//! MessageQueue and the MessageQueue-keyed bodies (ConsumeStats, TopicStatsTable,
//! ResetOffsetBody, lock bodies).
//!
//! fastjson writes `Map<MessageQueue, _>` with whole objects as keys; Go's ResetOffsetBody parser
//! requires that form, so we write it by hand. Reading accepts it through `json::normalize`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::lenient::{de, Lenient};

use crate::protocol::json::write_json_string;

/// A queue of a topic on one broker.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MessageQueue {
    /// The broker group holding the queue.
    #[serde(deserialize_with = "de")]
    pub broker_name: String,
    /// The queue's index within the topic on that broker.
    #[serde(deserialize_with = "de")]
    pub queue_id: i32,
    /// The topic.
    #[serde(deserialize_with = "de")]
    pub topic: String,
}

impl MessageQueue {
    /// A queue of `topic` on `broker_name`.
    pub fn new(topic: &str, broker_name: &str, queue_id: i32) -> Self {
        Self { broker_name: broker_name.to_string(), queue_id, topic: topic.to_string() }
    }

    fn key_json(&self) -> String {
        let mut s = String::from("{\"brokerName\":");
        write_json_string(&mut s, &self.broker_name);
        s.push_str(&format!(",\"queueId\":{},\"topic\":", self.queue_id));
        write_json_string(&mut s, &self.topic);
        s.push('}');
        s
    }
}

impl std::fmt::Display for MessageQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}#{}", self.topic, self.broker_name, self.queue_id)
    }
}

/// Writes `{"<name>":{{mq}:value,…}` + `rest` + `}`: fastjson's object-key form.
fn write_mq_map<V: Serialize>(
    name: &str,
    table: &BTreeMap<MessageQueue, V>,
    rest: &[(&str, String)],
) -> Vec<u8> {
    let mut s = String::from("{");
    for (key, value) in rest {
        write_json_string(&mut s, key);
        s.push(':');
        s.push_str(value);
        s.push(',');
    }
    write_json_string(&mut s, name);
    s.push_str(":{");
    for (i, (mq, v)) in table.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&mq.key_json());
        s.push(':');
        s.push_str(&serde_json::to_string(v).unwrap_or_else(|_| "null".into()));
    }
    s.push_str("}}");
    s.into_bytes()
}

/// Reads the `name` map of a body in either object-key or string-key form.
fn read_mq_map<V: Lenient>(
    bytes: &[u8],
    name: &str,
) -> Result<(BTreeMap<MessageQueue, V>, serde_json::Value), Box<dyn std::error::Error + Send + Sync>>
{
    let normalized = crate::protocol::json::normalize(bytes)?;
    let mut value: serde_json::Value = serde_json::from_str(&normalized)?;
    crate::protocol::json::drop_null_members(&mut value);
    let mut table = BTreeMap::new();
    if let Some(serde_json::Value::Object(map)) = value.get_mut(name).map(serde_json::Value::take) {
        for (k, v) in map {
            let mq =
                MessageQueue::deserialize_lenient(&mut serde_json::Deserializer::from_str(&k))?;
            table.insert(mq, V::deserialize_lenient(v)?);
        }
    }
    Ok((table, value))
}

/// Per-queue offsets of a consumer group (GET_CONSUME_STATS entry).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OffsetWrapper {
    /// One past the last message in the queue.
    #[serde(deserialize_with = "de")]
    pub broker_offset: i64,
    /// The group's committed offset.
    #[serde(deserialize_with = "de")]
    pub consumer_offset: i64,
    /// Store time of the last consumed message (ms).
    #[serde(deserialize_with = "de")]
    pub last_timestamp: i64,
    /// Where the group's next pull starts.
    #[serde(deserialize_with = "de")]
    pub pull_offset: i64,
}

/// GET_CONSUME_STATS body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumeStats {
    /// Messages the group consumes per second.
    pub consume_tps: f64,
    /// Per-queue offsets.
    pub offset_table: BTreeMap<MessageQueue, OffsetWrapper>,
}

impl ConsumeStats {
    /// fastjson object-key JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let tps = serde_json::to_string(&self.consume_tps).unwrap_or_else(|_| "0.0".into());
        write_mq_map("offsetTable", &self.offset_table, &[("consumeTps", tps)])
    }

    /// Parses either key form.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let (offset_table, rest) = read_mq_map(bytes, "offsetTable")?;
        let consume_tps = match rest.get("consumeTps") {
            Some(tps) => f64::deserialize_lenient(tps)?,
            None => 0.0,
        };
        Ok(Self { consume_tps, offset_table })
    }
}

/// Min/max offsets of one queue (GET_TOPIC_STATS_INFO entry).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicOffset {
    /// Store time of the newest message (ms), 0 if unknown.
    #[serde(deserialize_with = "de")]
    pub last_update_timestamp: i64,
    /// One past the last message.
    #[serde(deserialize_with = "de")]
    pub max_offset: i64,
    /// The first message still stored.
    #[serde(deserialize_with = "de")]
    pub min_offset: i64,
}

/// GET_TOPIC_STATS_INFO body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicStatsTable {
    /// Min/max offsets per queue.
    pub offset_table: BTreeMap<MessageQueue, TopicOffset>,
}

impl TopicStatsTable {
    /// fastjson object-key JSON.
    pub fn to_json(&self) -> Vec<u8> {
        write_mq_map("offsetTable", &self.offset_table, &[("topicPutTps", "0.0".into())])
    }

    /// Parses either key form.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self { offset_table: read_mq_map(bytes, "offsetTable")?.0 })
    }
}

/// ResetOffsetBody: the new offset of each queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResetOffsetBody {
    /// The offset each queue moves to.
    pub offset_table: BTreeMap<MessageQueue, i64>,
}

/// One entry of Java's `ResetOffsetBodyForC` (a MessageQueue with its offset inline).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct MessageQueueForC {
    #[serde(deserialize_with = "de")]
    broker_name: String,
    #[serde(deserialize_with = "de")]
    offset: i64,
    #[serde(deserialize_with = "de")]
    queue_id: i32,
    #[serde(deserialize_with = "de")]
    topic: String,
}

lenient_struct!(MessageQueueForC);

impl ResetOffsetBody {
    /// fastjson object-key JSON (what Go's parser requires).
    pub fn to_json(&self) -> Vec<u8> {
        write_mq_map("offsetTable", &self.offset_table, &[])
    }

    /// Parses either key form, or the list form Java's broker sends C++ clients
    /// (`ResetOffsetBodyForC`: `{"offsetTable":[{"brokerName":…,"offset":42,…}]}`).
    pub fn from_json(bytes: &[u8]) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let list: Option<Vec<MessageQueueForC>> =
            crate::protocol::json::from_slice_lenient::<serde_json::Value>(bytes).ok().and_then(
                |mut v| match v.get_mut("offsetTable").map(serde_json::Value::take) {
                    Some(list @ serde_json::Value::Array(_)) => Vec::deserialize_lenient(list).ok(),
                    _ => None,
                },
            );
        if let Some(list) = list {
            let offset_table = list
                .into_iter()
                .map(|q| (MessageQueue::new(&q.topic, &q.broker_name, q.queue_id), q.offset))
                .collect();
            return Ok(Self { offset_table });
        }
        Ok(Self { offset_table: read_mq_map(bytes, "offsetTable")?.0 })
    }
}

/// LOCK_BATCH_MQ / UNLOCK_BATCH_MQ request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchRequestBody {
    /// The client asking.
    #[serde(deserialize_with = "de")]
    pub client_id: String,
    /// Its consumer group.
    #[serde(deserialize_with = "de")]
    pub consumer_group: String,
    /// The queues to lock or unlock.
    #[serde(deserialize_with = "de")]
    pub mq_set: Vec<MessageQueue>,
    /// Whether to lock on the receiving broker only.
    #[serde(deserialize_with = "de")]
    pub only_this_broker: bool,
}

/// LOCK_BATCH_MQ response body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LockBatchResponseBody {
    #[serde(rename = "lockOKMQSet")]
    /// The queues now locked by the client.
    #[serde(deserialize_with = "de")]
    pub lock_ok_mq_set: Vec<MessageQueue>,
}

lenient_struct!(
    MessageQueue,
    OffsetWrapper,
    TopicOffset,
    LockBatchRequestBody,
    LockBatchResponseBody
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consume_stats_object_keys_roundtrip() {
        let mut s = ConsumeStats { consume_tps: 1.5, ..Default::default() };
        s.offset_table.insert(
            MessageQueue::new("TopicTest", "broker-a", 0),
            OffsetWrapper {
                broker_offset: 100,
                consumer_offset: 90,
                last_timestamp: 1_700_000_000_000,
                pull_offset: 95,
            },
        );
        let json = String::from_utf8(s.to_json()).unwrap();
        assert_eq!(
            json,
            r#"{"consumeTps":1.5,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"TopicTest"}:{"brokerOffset":100,"consumerOffset":90,"lastTimestamp":1700000000000,"pullOffset":95}}}"#
        );
        assert_eq!(ConsumeStats::from_json(json.as_bytes()).unwrap(), s);
    }

    #[test]
    fn reset_offset_body_for_c_is_read_too() {
        let s =
            r#"{"offsetTable":[{"brokerName":"broker-a","offset":42,"queueId":1,"topic":"T"}]}"#;
        let b = ResetOffsetBody::from_json(s.as_bytes()).unwrap();
        assert_eq!(b.offset_table[&MessageQueue::new("T", "broker-a", 1)], 42);
    }

    #[test]
    fn reset_offset_body_matches_fastjson() {
        let mut b = ResetOffsetBody::default();
        b.offset_table.insert(MessageQueue::new("TopicTest", "broker-a", 0), 42);
        let json = String::from_utf8(b.to_json()).unwrap();
        assert_eq!(
            json,
            r#"{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"TopicTest"}:42}}"#
        );
        assert_eq!(ResetOffsetBody::from_json(json.as_bytes()).unwrap(), b);
    }
}
