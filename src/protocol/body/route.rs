//! Route data served by the nameserver: TopicRouteData, BrokerData, QueueData, ClusterInfo.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::lenient::de;

/// GET_ROUTEINFO_BY_TOPIC body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicRouteData {
    /// The broker groups serving the topic.
    #[serde(deserialize_with = "de")]
    pub broker_datas: Vec<BrokerData>,
    /// Broker address to filter servers (unused; empty).
    #[serde(deserialize_with = "de")]
    pub filter_server_table: BTreeMap<String, Vec<String>>,
    /// The topic's queues per broker.
    #[serde(deserialize_with = "de")]
    pub queue_datas: Vec<QueueData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `broker:queues;…` of an ordered topic, from the nameserver's KV config.
    #[serde(deserialize_with = "de")]
    pub order_topic_conf: Option<String>,
}

/// One broker group (master plus slaves) of a cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BrokerData {
    /// Broker id → "ip:port". Id 0 is the master. serde writes the keys quoted ("0"), which is
    /// the standard form every client parses.
    #[serde(deserialize_with = "de")]
    pub broker_addrs: BTreeMap<i64, String>,
    /// The broker group's name.
    #[serde(deserialize_with = "de")]
    pub broker_name: String,
    /// The cluster it belongs to.
    #[serde(deserialize_with = "de")]
    pub cluster: String,
    /// Whether a slave may act as master (5.x).
    #[serde(deserialize_with = "de")]
    pub enable_acting_master: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The zone, when configured.
    #[serde(deserialize_with = "de")]
    pub zone_name: Option<String>,
}

impl BrokerData {
    /// The master's address, if the group has a master.
    pub fn master_addr(&self) -> Option<&str> {
        self.broker_addrs.get(&crate::protocol::constants::MASTER_ID).map(String::as_str)
    }
}

/// A topic's queues on one broker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "QueueDataWire")]
pub struct QueueData {
    /// The broker group.
    pub broker_name: String,
    /// PermName bits (2 write, 4 read, 6 both).
    pub perm: i32,
    /// Queues consumers read.
    pub read_queue_nums: i32,
    /// Spelled `topicSynFlag` before 4.9.0; the Go client still reads that name, so we write both
    /// and accept either.
    pub topic_sys_flag: i32,
    /// Queues producers write.
    pub write_queue_nums: i32,
}

/// QueueData as it may arrive: with `topicSysFlag`, `topicSynFlag`, both or neither.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct QueueDataWire {
    #[serde(deserialize_with = "de")]
    broker_name: String,
    #[serde(deserialize_with = "de")]
    perm: i32,
    #[serde(deserialize_with = "de")]
    read_queue_nums: i32,
    #[serde(deserialize_with = "de")]
    topic_sys_flag: Option<i32>,
    #[serde(deserialize_with = "de")]
    topic_syn_flag: Option<i32>,
    #[serde(deserialize_with = "de")]
    write_queue_nums: i32,
}

impl From<QueueDataWire> for QueueData {
    fn from(w: QueueDataWire) -> Self {
        Self {
            broker_name: w.broker_name,
            perm: w.perm,
            read_queue_nums: w.read_queue_nums,
            topic_sys_flag: w.topic_sys_flag.or(w.topic_syn_flag).unwrap_or(0),
            write_queue_nums: w.write_queue_nums,
        }
    }
}

impl Serialize for QueueDataCompat<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let q = self.0;
        let mut st = s.serialize_struct("QueueData", 6)?;
        st.serialize_field("brokerName", &q.broker_name)?;
        st.serialize_field("perm", &q.perm)?;
        st.serialize_field("readQueueNums", &q.read_queue_nums)?;
        st.serialize_field("topicSysFlag", &q.topic_sys_flag)?;
        st.serialize_field("topicSynFlag", &q.topic_sys_flag)?;
        st.serialize_field("writeQueueNums", &q.write_queue_nums)?;
        st.end()
    }
}

/// Writes a QueueData with both spellings of the sys-flag key.
struct QueueDataCompat<'a>(&'a QueueData);

impl TopicRouteData {
    /// The route JSON we send: standard JSON, `topicSynFlag` written beside `topicSysFlag`.
    pub fn to_wire_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire<'a> {
            broker_datas: &'a [BrokerData],
            filter_server_table: &'a BTreeMap<String, Vec<String>>,
            queue_datas: Vec<QueueDataCompat<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            order_topic_conf: &'a Option<String>,
        }
        let wire = Wire {
            broker_datas: &self.broker_datas,
            filter_server_table: &self.filter_server_table,
            queue_datas: self.queue_datas.iter().map(QueueDataCompat).collect(),
            order_topic_conf: &self.order_topic_conf,
        };
        super::to_json(&wire)
    }
}

/// GET_BROKER_CLUSTER_INFO body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterInfo {
    /// Broker name to its group.
    #[serde(deserialize_with = "de")]
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// Cluster name to its broker names.
    #[serde(deserialize_with = "de")]
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

lenient_struct!(TopicRouteData, BrokerData, QueueData, ClusterInfo);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::body::from_json;

    #[test]
    fn parses_fastjson_route_with_bare_keys() {
        let s = r#"{"brokerDatas":[{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10921"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;
        let r: TopicRouteData = from_json(s.as_bytes()).unwrap();
        assert_eq!(r.broker_datas[0].master_addr(), Some("127.0.0.1:10911"));
        assert_eq!(r.broker_datas[0].broker_addrs[&1], "127.0.0.1:10921");
        assert_eq!(r.queue_datas[0].write_queue_nums, 4);
    }

    #[test]
    fn wire_json_is_standard_and_has_both_flag_spellings() {
        let mut addrs = BTreeMap::new();
        addrs.insert(0, "127.0.0.1:10911".to_string());
        let r = TopicRouteData {
            broker_datas: vec![BrokerData {
                broker_addrs: addrs,
                broker_name: "b".into(),
                cluster: "c".into(),
                ..Default::default()
            }],
            queue_datas: vec![QueueData {
                broker_name: "b".into(),
                perm: 6,
                read_queue_nums: 4,
                topic_sys_flag: 0,
                write_queue_nums: 4,
            }],
            ..Default::default()
        };
        let json = String::from_utf8(r.to_wire_json()).unwrap();
        assert!(json.contains(r#""brokerAddrs":{"0":"127.0.0.1:10911"}"#), "{json}");
        assert!(json.contains(r#""topicSynFlag":0"#), "{json}");
        let back: TopicRouteData = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }
}
