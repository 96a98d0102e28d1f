//! Connected clients: consumer groups (members, subscriptions, channels) and producer groups,
//! learned from HEART_BEAT. The broker sends NOTIFY_CONSUMER_IDS_CHANGED to a group's members
//! when membership changes, and drops clients that stop heartbeating or whose connection closes.

use std::collections::{BTreeMap, HashMap};

use parking_lot::RwLock;
use rocketmq_net::{Connection, ConnectionId};

use crate::protocol::body::admin::{ConnectionInfo, ConsumerConnection};
use crate::protocol::body::heartbeat::{ConsumerData, SubscriptionData};

/// One client's channel.
#[derive(Debug, Clone)]
pub struct ClientChannel {
    pub client_id: String,
    pub conn: Connection,
    pub language: String,
    pub version: i32,
    pub last_update_ms: u64,
}

impl ClientChannel {
    fn info(&self) -> ConnectionInfo {
        ConnectionInfo {
            client_addr: self.conn.peer_addr().to_string(),
            client_id: self.client_id.clone(),
            language: self.language.clone(),
            version: self.version,
        }
    }
}

#[derive(Debug, Default)]
struct ConsumerGroup {
    clients: BTreeMap<String, ClientChannel>,
    subscriptions: BTreeMap<String, SubscriptionData>,
    consume_type: String,
    message_model: String,
    consume_from_where: String,
}

/// Consumer and producer groups.
#[derive(Debug, Default)]
pub struct ClientTable {
    consumers: RwLock<HashMap<String, ConsumerGroup>>,
    producers: RwLock<HashMap<String, BTreeMap<String, ClientChannel>>>,
}

impl ClientTable {
    /// Registers a consumer heartbeat. Returns true when the group's membership changed.
    pub fn register_consumer(&self, channel: ClientChannel, data: &ConsumerData) -> bool {
        let mut groups = self.consumers.write();
        let group = groups.entry(data.group_name.clone()).or_default();
        let is_new = !group.clients.contains_key(&channel.client_id);
        group.clients.insert(channel.client_id.clone(), channel);
        group.consume_type.clone_from(&data.consume_type);
        group.message_model.clone_from(&data.message_model);
        group.consume_from_where.clone_from(&data.consume_from_where);
        for sub in &data.subscription_data_set {
            let keep = group
                .subscriptions
                .get(&sub.topic)
                .is_some_and(|old| old.sub_version > sub.sub_version && old.sub_version != 0);
            if !keep {
                group.subscriptions.insert(sub.topic.clone(), sub.clone());
            }
        }
        is_new
    }

    /// Registers a producer heartbeat.
    pub fn register_producer(&self, group: &str, channel: ClientChannel) {
        self.producers
            .write()
            .entry(group.to_string())
            .or_default()
            .insert(channel.client_id.clone(), channel);
    }

    /// The connection of a registered producer client, whatever its group
    /// (`ProducerManager.findChannel`): where a request-reply reply is pushed.
    pub fn producer_connection(&self, client_id: &str) -> Option<Connection> {
        let producers = self.producers.read();
        producers.values().find_map(|g| g.get(client_id)).map(|c| c.conn.clone())
    }

    /// UNREGISTER_CLIENT for a consumer group. Returns true if a member left.
    pub fn unregister_consumer(&self, group: &str, client_id: &str) -> bool {
        let mut groups = self.consumers.write();
        let Some(g) = groups.get_mut(group) else { return false };
        let removed = g.clients.remove(client_id).is_some();
        if g.clients.is_empty() {
            groups.remove(group);
        }
        removed
    }

    /// UNREGISTER_CLIENT for a producer group.
    pub fn unregister_producer(&self, group: &str, client_id: &str) {
        let mut producers = self.producers.write();
        if let Some(g) = producers.get_mut(group) {
            g.remove(client_id);
            if g.is_empty() {
                producers.remove(group);
            }
        }
    }

    /// Drops every client on `conn`; returns the consumer groups whose membership changed.
    pub fn connection_closed(&self, conn: ConnectionId) -> Vec<String> {
        self.remove_where(|c| c.conn.id() == conn)
    }

    /// Drops clients silent for longer than `expire_ms`; returns the changed consumer groups.
    pub fn expire(&self, now_ms: u64, expire_ms: u64) -> Vec<String> {
        self.remove_where(|c| now_ms.saturating_sub(c.last_update_ms) > expire_ms)
    }

    fn remove_where(&self, gone: impl Fn(&ClientChannel) -> bool) -> Vec<String> {
        let mut changed = Vec::new();
        {
            let mut groups = self.consumers.write();
            for (name, g) in groups.iter_mut() {
                let before = g.clients.len();
                g.clients.retain(|_, c| !gone(c));
                if g.clients.len() != before {
                    changed.push(name.clone());
                }
            }
            groups.retain(|_, g| !g.clients.is_empty());
        }
        let mut producers = self.producers.write();
        for g in producers.values_mut() {
            g.retain(|_, c| !gone(c));
        }
        producers.retain(|_, g| !g.is_empty());
        changed
    }

    /// Client ids of a consumer group, sorted.
    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        self.consumers
            .read()
            .get(group)
            .map(|g| g.clients.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Channels of a consumer group (to notify them).
    pub fn consumer_channels(&self, group: &str) -> Vec<Connection> {
        self.consumers
            .read()
            .get(group)
            .map(|g| g.clients.values().map(|c| c.conn.clone()).collect())
            .unwrap_or_default()
    }

    /// The channel of one member of a consumer group, if it is connected.
    pub fn consumer_channel(&self, group: &str, client_id: &str) -> Option<Connection> {
        self.consumers.read().get(group)?.clients.get(client_id).map(|c| c.conn.clone())
    }

    /// A group's subscription to `topic` as learned from heartbeats.
    pub fn subscription(&self, group: &str, topic: &str) -> Option<SubscriptionData> {
        self.consumers.read().get(group)?.subscriptions.get(topic).cloned()
    }

    /// Whether the group has live members.
    pub fn group_online(&self, group: &str) -> bool {
        self.consumers.read().contains_key(group)
    }

    /// Consumer groups subscribed to `topic`.
    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        self.consumers
            .read()
            .iter()
            .filter(|(_, g)| g.subscriptions.contains_key(topic))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Topics a consumer group subscribes to.
    pub fn topics_of_group(&self, group: &str) -> Vec<String> {
        self.consumers
            .read()
            .get(group)
            .map(|g| g.subscriptions.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// GET_CONSUMER_CONNECTION_LIST body, or `None` if nobody is online.
    pub fn consumer_connection(&self, group: &str) -> Option<ConsumerConnection> {
        let groups = self.consumers.read();
        let g = groups.get(group)?;
        Some(ConsumerConnection {
            connection_set: g.clients.values().map(ClientChannel::info).collect(),
            consume_from_where: g.consume_from_where.clone(),
            consume_type: g.consume_type.clone(),
            message_model: g.message_model.clone(),
            subscription_table: g.subscriptions.clone(),
        })
    }

    /// Connections of a producer group.
    pub fn producer_connections(&self, group: &str) -> Vec<ConnectionInfo> {
        self.producers
            .read()
            .get(group)
            .map(|g| g.values().map(ClientChannel::info).collect())
            .unwrap_or_default()
    }

    /// One live channel of a producer group (the most recently heard from), for
    /// CHECK_TRANSACTION_STATE.
    pub fn producer_channel(&self, group: &str) -> Option<Connection> {
        let producers = self.producers.read();
        let g = producers.get(group)?;
        g.values()
            .filter(|c| c.conn.is_open())
            .max_by_key(|c| c.last_update_ms)
            .map(|c| c.conn.clone())
    }

    /// Number of (consumer groups, producer groups) online.
    pub fn counts(&self) -> (usize, usize) {
        (self.consumers.read().len(), self.producers.read().len())
    }
}
