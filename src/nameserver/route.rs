//! RouteTable: which brokers are alive and which topics they serve. Pure data with `&mut self`
//! methods; the nameserver wraps it in one lock and drives expiry from its own thread.
//!
//! Invariants: every broker in `topics` has an entry in `brokers`; a broker group with no
//! addresses left is removed everywhere (topics, clusters) at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rocketmq_net::ConnectionId;

use super::error::RouteError;
use crate::protocol::body::register::{DataVersion, TopicConfig};
use crate::protocol::body::route::{BrokerData, ClusterInfo, QueueData, TopicRouteData};
use crate::protocol::constants::{perm, MASTER_ID};

/// What a broker tells us when it registers.
#[derive(Debug, Clone)]
pub struct Registration {
    pub cluster: String,
    pub broker_name: String,
    pub broker_addr: String,
    pub broker_id: i64,
    pub ha_server_addr: String,
    /// How long without a new registration before the broker is dropped.
    pub timeout_ms: u64,
    pub data_version: DataVersion,
    /// The broker's whole topic table (only a master's is used for routes).
    pub topics: Vec<TopicConfig>,
    /// The connection the registration came on; when it closes the broker is dropped.
    pub conn: Option<ConnectionId>,
}

/// What the broker learns back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterOutcome {
    pub master_addr: Option<String>,
    pub ha_server_addr: Option<String>,
    /// The address was not live before this registration (first one, or back after expiry).
    pub new_broker: bool,
    /// The address was registered under another broker id before (a role change).
    pub previous_id: Option<i64>,
}

#[derive(Debug, Clone)]
struct LiveBroker {
    cluster: String,
    broker_name: String,
    broker_id: i64,
    ha_server_addr: String,
    last_update_ms: u64,
    timeout_ms: u64,
    conn: Option<ConnectionId>,
}

/// The nameserver's routing state.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// topic → broker name → queues.
    topics: BTreeMap<String, BTreeMap<String, QueueData>>,
    /// broker name → group.
    brokers: BTreeMap<String, BrokerData>,
    /// cluster → broker names.
    clusters: BTreeMap<String, BTreeSet<String>>,
    /// broker address → liveness.
    live: HashMap<String, LiveBroker>,
}

impl RouteTable {
    /// Adds or refreshes a broker and, for a master, replaces its topic queues.
    pub fn register(
        &mut self,
        reg: Registration,
        now_ms: u64,
    ) -> Result<RegisterOutcome, RouteError> {
        if let Some(live_addr) = self.live_holder(&reg, now_ms) {
            return Err(RouteError::BrokerNameTaken {
                broker_name: reg.broker_name,
                broker_id: reg.broker_id,
                live_addr,
            });
        }
        self.clusters.entry(reg.cluster.clone()).or_default().insert(reg.broker_name.clone());
        let group = self.brokers.entry(reg.broker_name.clone()).or_insert_with(|| BrokerData {
            broker_name: reg.broker_name.clone(),
            cluster: reg.cluster.clone(),
            ..Default::default()
        });
        group.cluster = reg.cluster.clone();
        // The same address under another id means the broker changed role: forget the old id.
        let previous_id = group
            .broker_addrs
            .iter()
            .find(|(id, addr)| **addr == reg.broker_addr && **id != reg.broker_id)
            .map(|(id, _)| *id);
        group.broker_addrs.retain(|id, addr| *addr != reg.broker_addr || *id == reg.broker_id);
        group.broker_addrs.insert(reg.broker_id, reg.broker_addr.clone());
        let master_addr = group.master_addr().map(str::to_string);

        if reg.broker_id == MASTER_ID {
            self.replace_topics_of(&reg.broker_name, &reg.topics);
        }
        let new_broker = self
            .live
            .insert(
                reg.broker_addr.clone(),
                LiveBroker {
                    cluster: reg.cluster,
                    broker_name: reg.broker_name,
                    broker_id: reg.broker_id,
                    ha_server_addr: reg.ha_server_addr,
                    last_update_ms: now_ms,
                    timeout_ms: reg.timeout_ms,
                    conn: reg.conn,
                },
            )
            .is_none();
        if reg.broker_id == MASTER_ID {
            return Ok(RegisterOutcome { new_broker, previous_id, ..Default::default() });
        }
        let ha_server_addr =
            master_addr.as_ref().and_then(|m| self.live.get(m)).map(|l| l.ha_server_addr.clone());
        Ok(RegisterOutcome { master_addr, ha_server_addr, new_broker, previous_id })
    }

    /// Another address that holds `reg`'s broker name and id and is still live (registered
    /// within its timeout): a second broker started with a live broker's name must not take
    /// over its route silently.
    fn live_holder(&self, reg: &Registration, now_ms: u64) -> Option<String> {
        let addr = self.brokers.get(&reg.broker_name)?.broker_addrs.get(&reg.broker_id)?;
        let live = self.live.get(addr)?;
        let fresh = now_ms.saturating_sub(live.last_update_ms) < live.timeout_ms;
        (*addr != reg.broker_addr && fresh).then(|| addr.clone())
    }

    fn replace_topics_of(&mut self, broker_name: &str, topics: &[TopicConfig]) {
        let wanted: BTreeSet<&str> = topics.iter().map(|t| t.topic_name.as_str()).collect();
        self.topics.retain(|topic, queues| {
            if !wanted.contains(topic.as_str()) {
                queues.remove(broker_name);
            }
            !queues.is_empty()
        });
        for t in topics {
            let qd = QueueData {
                broker_name: broker_name.to_string(),
                perm: t.perm,
                read_queue_nums: t.read_queue_nums,
                topic_sys_flag: t.topic_sys_flag,
                write_queue_nums: t.write_queue_nums,
            };
            self.topics.entry(t.topic_name.clone()).or_default().insert(broker_name.into(), qd);
        }
    }

    /// Removes one broker address (explicit unregister, expiry or closed connection).
    pub fn unregister(&mut self, broker_addr: &str) -> bool {
        let Some(live) = self.live.remove(broker_addr) else {
            return false;
        };
        let name = live.broker_name;
        let group_empty = match self.brokers.get_mut(&name) {
            Some(group) => {
                group
                    .broker_addrs
                    .retain(|id, addr| !(addr == broker_addr && *id == live.broker_id));
                group.broker_addrs.is_empty()
            }
            None => true,
        };
        if group_empty {
            self.remove_group(&live.cluster, &name);
        } else if live.broker_id == MASTER_ID {
            // Without a master nobody can write; keep routes for reading from slaves.
            log::info!("master {broker_addr} of {name} left; slaves remain");
        }
        true
    }

    fn remove_group(&mut self, cluster: &str, broker_name: &str) {
        self.brokers.remove(broker_name);
        if let Some(names) = self.clusters.get_mut(cluster) {
            names.remove(broker_name);
            if names.is_empty() {
                self.clusters.remove(cluster);
            }
        }
        self.topics.retain(|_, queues| {
            queues.remove(broker_name);
            !queues.is_empty()
        });
    }

    /// Drops every broker that registered on `conn`. Returns their addresses.
    pub fn connection_closed(&mut self, conn: ConnectionId) -> Vec<String> {
        let gone: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| l.conn == Some(conn))
            .map(|(addr, _)| addr.clone())
            .collect();
        for addr in &gone {
            self.unregister(addr);
        }
        gone
    }

    /// Drops brokers whose last registration is older than their timeout. Returns them.
    pub fn expire(&mut self, now_ms: u64) -> Vec<String> {
        let gone: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| now_ms.saturating_sub(l.last_update_ms) > l.timeout_ms)
            .map(|(addr, _)| addr.clone())
            .collect();
        for addr in &gone {
            self.unregister(addr);
        }
        gone
    }

    /// The route of `topic`, or `None` if no live broker serves it.
    pub fn route(&self, topic: &str) -> Option<TopicRouteData> {
        let queues = self.topics.get(topic)?;
        let broker_datas: Vec<BrokerData> =
            queues.keys().filter_map(|name| self.brokers.get(name)).cloned().collect();
        if broker_datas.is_empty() {
            return None;
        }
        Some(TopicRouteData {
            broker_datas,
            queue_datas: queues.values().cloned().collect(),
            ..Default::default()
        })
    }

    /// GET_BROKER_CLUSTER_INFO.
    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            broker_addr_table: self.brokers.clone(),
            cluster_addr_table: self.clusters.clone(),
        }
    }

    /// Every topic with a route.
    pub fn topic_names(&self) -> BTreeSet<String> {
        self.topics.keys().cloned().collect()
    }

    /// Topics served by the brokers of `cluster`.
    pub fn topics_of_cluster(&self, cluster: &str) -> BTreeSet<String> {
        let Some(names) = self.clusters.get(cluster) else {
            return BTreeSet::new();
        };
        self.topics
            .iter()
            .filter(|(_, q)| q.keys().any(|b| names.contains(b)))
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// DELETE_TOPIC_IN_NAMESRV: the whole topic, or only its queues in `cluster`.
    pub fn delete_topic(&mut self, topic: &str, cluster: Option<&str>) -> bool {
        let Some(cluster) = cluster.filter(|c| !c.is_empty()) else {
            return self.topics.remove(topic).is_some();
        };
        let names = self.clusters.get(cluster).cloned().unwrap_or_default();
        let Some(queues) = self.topics.get_mut(topic) else {
            return false;
        };
        queues.retain(|b, _| !names.contains(b));
        if queues.is_empty() {
            self.topics.remove(topic);
        }
        true
    }

    /// Removes (wipe) or restores (add) the write permission of a broker's topics. Returns
    /// how many topics changed.
    pub fn set_write_perm(&mut self, broker_name: &str, writable: bool) -> usize {
        let mut changed = 0;
        for queues in self.topics.values_mut() {
            if let Some(q) = queues.get_mut(broker_name) {
                q.perm = if writable { q.perm | perm::WRITE } else { q.perm & !perm::WRITE };
                changed += 1;
            }
        }
        changed
    }

    /// Addresses of live brokers (for logs and tests).
    pub fn live_brokers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.live.keys().cloned().collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(name: &str, addr: &str, id: i64, topics: &[&str]) -> Registration {
        Registration {
            cluster: "DefaultCluster".into(),
            broker_name: name.into(),
            broker_addr: addr.into(),
            broker_id: id,
            ha_server_addr: format!("{addr}-ha"),
            timeout_ms: 120_000,
            data_version: DataVersion::default(),
            topics: topics.iter().map(|t| TopicConfig::new(t, 4)).collect(),
            conn: Some(ConnectionId(id as u64 + 1)),
        }
    }

    #[test]
    fn outcome_tells_a_new_broker_and_a_role_change() {
        let mut t = RouteTable::default();
        let first = t.register(reg("a", "1.1.1.1:10911", 0, &["T"]), 0).unwrap();
        assert!(first.new_broker && first.previous_id.is_none());
        let again = t.register(reg("a", "1.1.1.1:10911", 0, &["T"]), 1).unwrap();
        assert!(!again.new_broker && again.previous_id.is_none());
        let demoted = t.register(reg("a", "1.1.1.1:10911", 1, &["T"]), 2).unwrap();
        assert_eq!(demoted.previous_id, Some(0));
        assert!(!demoted.new_broker);
        t.expire(1_000_000);
        assert!(t.register(reg("a", "1.1.1.1:10911", 1, &["T"]), 1_000_001).unwrap().new_broker);
    }

    #[test]
    fn register_route_and_expire() {
        let mut t = RouteTable::default();
        t.register(reg("a", "1.1.1.1:10911", 0, &["T"]), 0).unwrap();
        t.register(reg("b", "2.2.2.2:10911", 0, &["T", "U"]), 0).unwrap();
        let r = t.route("T").unwrap();
        assert_eq!(r.broker_datas.len(), 2);
        assert_eq!(r.queue_datas.len(), 2);
        assert!(t.route("nope").is_none());
        assert_eq!(t.cluster_info().cluster_addr_table["DefaultCluster"].len(), 2);

        t.register(reg("a", "1.1.1.1:10911", 0, &["T"]), 100_000).unwrap();
        let gone = t.expire(130_000);
        assert_eq!(gone, vec!["2.2.2.2:10911".to_string()]);
        assert!(t.route("U").is_none());
        assert_eq!(t.route("T").unwrap().broker_datas.len(), 1);
    }

    #[test]
    fn slave_learns_master_and_closed_connection_drops_broker() {
        let mut t = RouteTable::default();
        t.register(reg("a", "m:1", 0, &["T"]), 0).unwrap();
        let out = t.register(reg("a", "s:1", 1, &[]), 0).unwrap();
        assert_eq!(out.master_addr.as_deref(), Some("m:1"));
        assert_eq!(out.ha_server_addr.as_deref(), Some("m:1-ha"));
        assert_eq!(t.connection_closed(ConnectionId(1)), vec!["m:1".to_string()]);
        let r = t.route("T").unwrap();
        assert_eq!(r.broker_datas[0].master_addr(), None);
        t.unregister("s:1");
        assert!(t.route("T").is_none());
        assert!(t.cluster_info().broker_addr_table.is_empty());
    }

    #[test]
    fn reregistration_replaces_topics_and_delete_topic() {
        let mut t = RouteTable::default();
        t.register(reg("a", "m:1", 0, &["T", "U"]), 0).unwrap();
        t.register(reg("a", "m:1", 0, &["T"]), 1).unwrap();
        assert!(t.route("U").is_none());
        assert!(t.delete_topic("T", None));
        assert!(t.route("T").is_none());
        assert!(t.topic_names().is_empty());
    }

    #[test]
    fn a_live_brokers_name_and_id_are_not_taken_over() {
        let mut t = RouteTable::default();
        t.register(reg("a", "m:1", 0, &["T"]), 0).unwrap();
        let err = t.register(reg("a", "other:1", 0, &["T"]), 1_000).unwrap_err();
        assert!(
            matches!(&err, RouteError::BrokerNameTaken { live_addr, broker_id: 0, .. } if live_addr == "m:1"),
            "{err:?}"
        );
        assert_eq!(t.route("T").unwrap().broker_datas[0].master_addr(), Some("m:1"));
        // The same address re-registers; once the holder expired, another address may take over.
        t.register(reg("a", "m:1", 0, &["T"]), 2_000).unwrap();
        t.register(reg("a", "other:1", 0, &["T"]), 2_000 + 120_000).unwrap();
        assert_eq!(t.route("T").unwrap().broker_datas[0].master_addr(), Some("other:1"));
    }

    #[test]
    fn wipe_and_add_write_perm() {
        let mut t = RouteTable::default();
        t.register(reg("a", "m:1", 0, &["T", "U"]), 0).unwrap();
        assert_eq!(t.set_write_perm("a", false), 2);
        assert_eq!(t.route("T").unwrap().queue_datas[0].perm, perm::READ);
        t.set_write_perm("a", true);
        assert_eq!(t.route("T").unwrap().queue_datas[0].perm, perm::READ_WRITE);
    }
}
