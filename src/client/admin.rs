//! `Admin`: the calls `mqadmin` and dashboards need: topics, routes and stats, clusters, broker
//! runtime info, consumer progress and connections, message lookup, offset reset and
//! subscription groups.
//!
//! Cluster-wide operations go to every master of the cluster (from GET_BROKER_CLUSTER_INFO);
//! topic-wide reads go to every master in the topic's route and merge the answers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rocketmq_net::{CommandHeader, RemotingCommand, RequestCode, ResponseCode};

use super::api::{self, PullOutcome, PullSpec};
use super::config::ClientConfig;
use super::consumer::unix_ms;
use super::error::{ClientError, Result};
use super::instance::ClientInstance;
use crate::protocol::body::admin::{
    ConsumerConnection, GroupList, KvTable, SubscriptionGroupConfig, TopicList,
};
use crate::protocol::body::heartbeat::SubscriptionData;
use crate::protocol::body::queue::{
    ConsumeStats, MessageQueue, ResetOffsetBody, TopicOffset, TopicStatsTable,
};
use crate::protocol::body::route::{ClusterInfo, TopicRouteData};
use crate::protocol::body::{from_json, to_json};
use crate::protocol::constants::{perm, retry_topic, AUTO_CREATE_TOPIC_KEY};
use crate::protocol::header::admin::{
    CreateTopicRequestHeader, DeleteSubscriptionGroupRequestHeader, GetConsumeStatsRequestHeader,
    TopicRequestHeader,
};
use crate::protocol::header::client::ConsumerGroupRequestHeader;
use crate::protocol::header::namesrv::DeleteTopicFromNamesrvRequestHeader;
use crate::protocol::header::offset::ResetOffsetRequestHeader;
use crate::protocol::header::query::{QueryMessageRequestHeader, ViewMessageRequestHeader};
use crate::protocol::message::{decode_messages, decode_offset_msg_id, MessageExt};

/// The consumer group admin lookups pull with.
const TOOLS_CONSUMER_GROUP: &str = "TOOLS_CONSUMER";

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// The topic name.
    pub topic: String,
    /// Queues consumers read from.
    pub read_queue_nums: i32,
    /// Queues producers write to.
    pub write_queue_nums: i32,
    /// PermName bits (6 = read + write).
    pub perm: i32,
    /// Whether the topic is marked ordered (`TopicConfig.order`).
    pub order: bool,
}

impl TopicSpec {
    /// `topic` with 8 read and write queues, read-write.
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            read_queue_nums: 8,
            write_queue_nums: 8,
            perm: perm::READ_WRITE,
            order: false,
        }
    }

    /// Sets both queue counts.
    pub fn queues(mut self, n: i32) -> Self {
        self.read_queue_nums = n;
        self.write_queue_nums = n;
        self
    }

    /// Sets the permission bits.
    pub fn perm(mut self, perm: i32) -> Self {
        self.perm = perm;
        self
    }

    /// Marks the topic ordered.
    pub fn order(mut self, order: bool) -> Self {
        self.order = order;
        self
    }
}

/// One queue's consumption progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueProgress {
    /// The queue.
    pub queue: MessageQueue,
    /// One past the last message in the queue.
    pub broker_offset: i64,
    /// The group's committed offset.
    pub consumer_offset: i64,
    /// `broker_offset - consumer_offset` (never negative).
    pub lag: i64,
    /// Store time of the last consumed message (ms), when the broker reports it.
    pub last_timestamp: i64,
}

/// A consumer group's progress over its queues.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerProgress {
    /// The consumer group.
    pub group: String,
    /// Messages consumed per second, as the brokers report it.
    pub consume_tps: f64,
    /// Every queue the group has an offset on.
    pub queues: Vec<QueueProgress>,
}

impl ConsumerProgress {
    /// Messages not consumed yet, over every queue ("Diff Total").
    pub fn total_lag(&self) -> i64 {
        self.queues.iter().map(|q| q.lag).sum()
    }
}

/// Configures and starts an [`Admin`].
#[derive(Debug, Clone, Default)]
pub struct AdminBuilder {
    config: ClientConfig,
}

impl AdminBuilder {
    /// Nameserver addresses, `;`-separated (default: `NAMESRV_ADDR`).
    pub fn name_server(mut self, addrs: &str) -> Self {
        self.config = self.config.with_name_server(addrs);
        self
    }

    /// Signs every request with these ACL 1.0 credentials (`AccessKey` / `SecretKey` of an
    /// account in the broker's `plain_acl.yml`).
    pub fn credentials(mut self, access_key: &str, secret_key: &str) -> Self {
        self.config.credentials = Some(crate::acl::SessionCredentials::new(access_key, secret_key));
        self
    }

    /// Timeout of each admin call (default 3 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.rpc_timeout = timeout;
        self
    }

    /// Replaces the whole client configuration.
    pub fn client_config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// Starts the admin client.
    pub fn build(self) -> Result<Admin> {
        Ok(Admin { instance: ClientInstance::start(self.config)? })
    }
}

/// An admin client; closes its connections on drop.
#[derive(Debug)]
pub struct Admin {
    instance: Arc<ClientInstance>,
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.instance.shutdown();
    }
}

impl Admin {
    /// A builder with defaults.
    pub fn builder() -> AdminBuilder {
        AdminBuilder::default()
    }

    // ---- clusters and brokers ----

    /// Brokers and clusters known to the nameserver.
    pub fn cluster_info(&self) -> Result<ClusterInfo> {
        let cmd = RemotingCommand::request(RequestCode::GetBrokerClusterInfo.to_i32());
        let (addr, resp) = self.namesrv_ok(&cmd)?;
        from_json(&resp.body).map_err(|e| ClientError::bad_response(&addr, e))
    }

    /// The master addresses of `cluster`.
    pub fn master_addrs(&self, cluster: &str) -> Result<Vec<String>> {
        let info = self.cluster_info()?;
        let names = info
            .cluster_addr_table
            .get(cluster)
            .ok_or_else(|| ClientError::invalid(format!("no cluster named {cluster}")))?;
        Ok(names
            .iter()
            .filter_map(|name| info.broker_addr_table.get(name))
            .filter_map(|bd| bd.master_addr().map(str::to_string))
            .collect())
    }

    fn all_master_addrs(&self) -> Result<Vec<String>> {
        let info = self.cluster_info()?;
        Ok(info
            .broker_addr_table
            .values()
            .filter_map(|bd| bd.master_addr().map(str::to_string))
            .collect())
    }

    /// A broker's runtime statistics (GET_BROKER_RUNTIME_INFO).
    pub fn broker_runtime_info(&self, broker_addr: &str) -> Result<BTreeMap<String, String>> {
        let cmd = RemotingCommand::request(RequestCode::GetBrokerRuntimeInfo.to_i32());
        let resp = self.instance.call_ok(broker_addr, cmd)?;
        let table: KvTable =
            from_json(&resp.body).map_err(|e| ClientError::bad_response(broker_addr, e))?;
        Ok(table.table)
    }

    // ---- topics ----

    /// Every topic the nameserver knows.
    pub fn topic_list(&self) -> Result<BTreeSet<String>> {
        let cmd = RemotingCommand::request(RequestCode::GetAllTopicListFromNameserver.to_i32());
        let (addr, resp) = self.namesrv_ok(&cmd)?;
        let list: TopicList =
            from_json(&resp.body).map_err(|e| ClientError::bad_response(&addr, e))?;
        Ok(list.topic_list)
    }

    /// The route of `topic`.
    pub fn topic_route(&self, topic: &str) -> Result<TopicRouteData> {
        self.instance.fetch_route(topic)
    }

    /// Creates (or updates) `spec` on every master of `cluster`; returns the brokers updated.
    pub fn create_topic(&self, cluster: &str, spec: &TopicSpec) -> Result<Vec<String>> {
        let masters = self.master_addrs(cluster)?;
        for addr in &masters {
            self.create_topic_on_broker(addr, spec)?;
        }
        Ok(masters)
    }

    /// Creates (or updates) `spec` on one broker.
    pub fn create_topic_on_broker(&self, broker_addr: &str, spec: &TopicSpec) -> Result<()> {
        crate::protocol::constants::validate_topic(&spec.topic)
            .map_err(|e| ClientError::invalid(e.to_string()))?;
        let header = CreateTopicRequestHeader {
            topic: spec.topic.clone(),
            default_topic: Some(AUTO_CREATE_TOPIC_KEY.into()),
            read_queue_nums: spec.read_queue_nums,
            write_queue_nums: spec.write_queue_nums,
            perm: spec.perm,
            topic_filter_type: Some("SINGLE_TAG".into()),
            topic_sys_flag: Some(0),
            order: Some(spec.order),
            attributes: None,
        };
        self.broker_ok(broker_addr, RequestCode::UpdateAndCreateTopic, &header).map(drop)
    }

    /// Deletes `topic` from every master of `cluster` and from every nameserver.
    pub fn delete_topic(&self, cluster: &str, topic: &str) -> Result<()> {
        let header = TopicRequestHeader { topic: topic.into() };
        for addr in self.master_addrs(cluster)? {
            self.broker_ok(&addr, RequestCode::DeleteTopicInBroker, &header)?;
        }
        let header = DeleteTopicFromNamesrvRequestHeader {
            topic: topic.into(),
            cluster_name: Some(cluster.into()),
        };
        for addr in &self.instance.config.name_servers {
            self.broker_ok(addr, RequestCode::DeleteTopicInNamesrv, &header)?;
        }
        Ok(())
    }

    /// Min/max offsets of every queue of `topic`, merged over its brokers.
    pub fn topic_stats(&self, topic: &str) -> Result<BTreeMap<MessageQueue, TopicOffset>> {
        let header = TopicRequestHeader { topic: topic.into() };
        let mut merged = BTreeMap::new();
        for addr in self.topic_masters(topic)? {
            let resp = self.broker_ok(&addr, RequestCode::GetTopicStatsInfo, &header)?;
            let stats = TopicStatsTable::from_json(&resp.body)
                .map_err(|e| ClientError::bad_response(&addr, e))?;
            merged.extend(stats.offset_table);
        }
        Ok(merged)
    }

    fn topic_masters(&self, topic: &str) -> Result<Vec<String>> {
        let route = self.topic_route(topic)?;
        Ok(route
            .broker_datas
            .iter()
            .filter_map(|bd| bd.master_addr().map(str::to_string))
            .collect())
    }

    // ---- consumers ----

    /// Per-queue broker offset, consumer offset and lag of `group` (optionally one topic).
    pub fn consumer_progress(&self, group: &str, topic: Option<&str>) -> Result<ConsumerProgress> {
        let header = GetConsumeStatsRequestHeader {
            consumer_group: group.into(),
            topic: topic.map(str::to_string),
        };
        let mut progress =
            ConsumerProgress { group: group.into(), consume_tps: 0.0, queues: Vec::new() };
        let mut answered = false;
        let mut last_err = None;
        for addr in self.all_master_addrs()? {
            match self.broker_ok(&addr, RequestCode::GetConsumeStats, &header) {
                Ok(resp) => {
                    let stats = ConsumeStats::from_json(&resp.body)
                        .map_err(|e| ClientError::bad_response(&addr, e))?;
                    answered = true;
                    progress.consume_tps += stats.consume_tps;
                    progress.queues.extend(stats.offset_table.into_iter().map(|(queue, o)| {
                        QueueProgress {
                            queue,
                            broker_offset: o.broker_offset,
                            consumer_offset: o.consumer_offset,
                            lag: (o.broker_offset - o.consumer_offset).max(0),
                            last_timestamp: o.last_timestamp,
                        }
                    }));
                }
                Err(e) => last_err = Some(e),
            }
        }
        match (answered, last_err) {
            (false, Some(e)) => Err(e),
            _ => {
                progress.queues.sort_by(|a, b| a.queue.cmp(&b.queue));
                Ok(progress)
            }
        }
    }

    /// The live connections of `group` and its subscriptions.
    pub fn consumer_connections(&self, group: &str) -> Result<ConsumerConnection> {
        let header = ConsumerGroupRequestHeader { consumer_group: group.into() };
        let mut last_err = ClientError::invalid("no broker in the cluster");
        for addr in self.all_master_addrs()? {
            match self.broker_ok(&addr, RequestCode::GetConsumerConnectionList, &header) {
                Ok(resp) => {
                    return from_json(&resp.body).map_err(|e| ClientError::bad_response(&addr, e))
                }
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    /// Moves `group`'s offsets on `topic` to the first message stored at or after `timestamp`.
    /// Live consumers are told by the broker; with none online the offsets are written
    /// directly. Returns the new offset of each queue.
    pub fn reset_offset_by_time(
        &self,
        group: &str,
        topic: &str,
        timestamp: SystemTime,
        force: bool,
    ) -> Result<BTreeMap<MessageQueue, i64>> {
        let header = ResetOffsetRequestHeader {
            topic: topic.into(),
            group: group.into(),
            queue_id: Some(-1),
            offset: None,
            timestamp: unix_ms(timestamp),
            is_force: force,
        };
        let mut merged = BTreeMap::new();
        for addr in self.topic_masters(topic)? {
            let cmd = RemotingCommand::request(RequestCode::InvokeBrokerToResetOffset.to_i32())
                .with_header(&header);
            let resp = self.instance.call(&addr, cmd, self.instance.config.rpc_timeout)?;
            match ResponseCode::from_i32(resp.code) {
                ResponseCode::Success => {
                    let body = ResetOffsetBody::from_json(&resp.body)
                        .map_err(|e| ClientError::bad_response(&addr, e))?;
                    merged.extend(body.offset_table);
                }
                ResponseCode::ConsumerNotOnline => {
                    merged.extend(self.reset_offline(group, topic, header.timestamp, &addr)?);
                }
                _ => return Err(ClientError::from_response(&addr, &resp, Some(topic))),
            }
        }
        Ok(merged)
    }

    /// The group has no live consumer: compute and store the offsets ourselves.
    fn reset_offline(
        &self,
        group: &str,
        topic: &str,
        timestamp_ms: i64,
        broker_addr: &str,
    ) -> Result<BTreeMap<MessageQueue, i64>> {
        let route = self.instance.refresh_route(topic)?;
        let mut out = BTreeMap::new();
        for mq in super::route::subscribe_queues(topic, &route) {
            if self.instance.master_addr(&mq.broker_name).as_deref() != Some(broker_addr) {
                continue;
            }
            let offset = api::search_offset(&self.instance, &mq, timestamp_ms)?;
            api::update_consumer_offset(&self.instance, group, &mq, offset)?;
            out.insert(mq, offset);
        }
        Ok(out)
    }

    // ---- subscription groups ----

    /// Creates (or updates) a consumer group on every master of `cluster`.
    pub fn create_subscription_group(
        &self,
        cluster: &str,
        config: &SubscriptionGroupConfig,
    ) -> Result<()> {
        for addr in self.master_addrs(cluster)? {
            self.create_subscription_group_on_broker(&addr, config)?;
        }
        Ok(())
    }

    /// Creates (or updates) a consumer group on one broker.
    pub fn create_subscription_group_on_broker(
        &self,
        broker_addr: &str,
        config: &SubscriptionGroupConfig,
    ) -> Result<()> {
        let cmd = RemotingCommand::request(RequestCode::UpdateAndCreateSubscriptionGroup.to_i32())
            .with_body(to_json(config));
        self.instance.call_ok(broker_addr, cmd).map(drop)
    }

    /// Deletes a consumer group from every master of `cluster` (and its offsets with
    /// `clean_offset`).
    pub fn delete_subscription_group(
        &self,
        cluster: &str,
        group: &str,
        clean_offset: bool,
    ) -> Result<()> {
        let header = DeleteSubscriptionGroupRequestHeader {
            group_name: group.into(),
            clean_offset: Some(clean_offset),
        };
        for addr in self.master_addrs(cluster)? {
            self.broker_ok(&addr, RequestCode::DeleteSubscriptionGroup, &header)?;
        }
        Ok(())
    }

    // ---- messages ----

    /// A message by id: an offset message id (store address + commitlog offset) is looked up
    /// on that broker; anything else is taken as a client id (UNIQ_KEY) and queried on the
    /// topic's brokers.
    pub fn view_message(&self, topic: &str, msg_id: &str) -> Result<MessageExt> {
        if let Some((addr, offset)) = decode_offset_msg_id(msg_id) {
            let addr = addr.to_string();
            if self.is_known_broker(topic, &addr) {
                return self.view_message_at(&addr, offset, topic);
            }
        }
        let found = self.query(topic, msg_id, 32, 0, i64::MAX, true)?;
        found
            .into_iter()
            .find(|m| m.property("UNIQ_KEY") == Some(msg_id))
            .ok_or_else(|| ClientError::invalid(format!("no message {msg_id} in topic {topic}")))
    }

    fn is_known_broker(&self, topic: &str, addr: &str) -> bool {
        let in_route = self.topic_route(topic).is_ok_and(|r| {
            r.broker_datas.iter().any(|bd| bd.broker_addrs.values().any(|a| a == addr))
        });
        in_route || self.all_master_addrs().is_ok_and(|all| all.iter().any(|a| a == addr))
    }

    fn view_message_at(&self, addr: &str, offset: i64, topic: &str) -> Result<MessageExt> {
        let header = ViewMessageRequestHeader { offset, topic: Some(topic.into()) };
        let resp = self.broker_ok(addr, RequestCode::ViewMessageById, &header)?;
        let mut msgs =
            decode_messages(&resp.body).map_err(|e| ClientError::bad_response(addr, e))?;
        if msgs.is_empty() {
            return Err(ClientError::bad_response(addr, "empty VIEW_MESSAGE_BY_ID body"));
        }
        Ok(msgs.swap_remove(0))
    }

    /// Messages of `topic` whose KEYS contain `key`, stored between `begin` and `end`.
    pub fn query_messages_by_key(
        &self,
        topic: &str,
        key: &str,
        max: i32,
        begin: SystemTime,
        end: SystemTime,
    ) -> Result<Vec<MessageExt>> {
        let found = self.query(topic, key, max, unix_ms(begin), unix_ms(end), false)?;
        Ok(found
            .into_iter()
            .filter(|m| m.keys().is_some_and(|keys| keys.split(' ').any(|k| k == key)))
            .collect())
    }

    fn query(
        &self,
        topic: &str,
        key: &str,
        max: i32,
        begin_ms: i64,
        end_ms: i64,
        unique: bool,
    ) -> Result<Vec<MessageExt>> {
        let header = QueryMessageRequestHeader {
            topic: topic.into(),
            key: key.into(),
            max_num: max,
            begin_timestamp: begin_ms,
            end_timestamp: end_ms,
            unique_key_query: Some(unique),
        };
        let mut out = Vec::new();
        for addr in self.topic_masters(topic)? {
            let cmd =
                RemotingCommand::request(RequestCode::QueryMessage.to_i32()).with_header(&header);
            let resp = self.instance.call(&addr, cmd, self.instance.config.rpc_timeout)?;
            match ResponseCode::from_i32(resp.code) {
                ResponseCode::Success => out.extend(
                    decode_messages(&resp.body).map_err(|e| ClientError::bad_response(&addr, e))?,
                ),
                ResponseCode::QueryNotFound => {}
                _ => return Err(ClientError::from_response(&addr, &resp, Some(topic))),
            }
        }
        Ok(out)
    }

    /// The message at `offset` of `mq`, if it is still stored.
    pub fn query_message_by_offset(
        &self,
        mq: &MessageQueue,
        offset: i64,
    ) -> Result<Option<MessageExt>> {
        self.instance.route(&mq.topic)?;
        let addr = api::master_of(&self.instance, mq)?;
        let sub = SubscriptionData::from_tag_expression(&mq.topic, "*", 0);
        let spec = PullSpec {
            group: TOOLS_CONSUMER_GROUP,
            mq,
            offset,
            max_msg_nums: 1,
            commit_offset: None,
            subscription: &sub,
            suspend: false,
        };
        let resp = self.instance.call(
            &addr,
            api::pull_command(&spec),
            self.instance.config.rpc_timeout,
        )?;
        match api::pull_outcome(&addr, &spec, &resp)? {
            PullOutcome::Found { messages, .. } => {
                Ok(messages.into_iter().find(|m| m.queue_offset == offset))
            }
            _ => Ok(None),
        }
    }

    /// The queues of the group's retry topic (`%RETRY%<group>`).
    pub fn retry_queues(&self, group: &str) -> Result<Vec<MessageQueue>> {
        let topic = retry_topic(group);
        let route = self.topic_route(&topic)?;
        Ok(super::route::subscribe_queues(&topic, &route))
    }

    // ---- calls added for the mqadmin tool ----

    /// A broker's configuration (GET_BROKER_CONFIG): the `key=value` lines of its
    /// Java-properties body.
    pub fn broker_config(&self, broker_addr: &str) -> Result<BTreeMap<String, String>> {
        let cmd = RemotingCommand::request(RequestCode::GetBrokerConfig.to_i32());
        let resp = self.instance.call_ok(broker_addr, cmd)?;
        Ok(parse_properties_text(&String::from_utf8_lossy(&resp.body)))
    }

    /// Changes broker settings (UPDATE_BROKER_CONFIG) given in Java's key names. The answer's
    /// remark, when there is one, names keys that take effect only when the broker restarts.
    pub fn update_broker_config(
        &self,
        broker_addr: &str,
        settings: &BTreeMap<String, String>,
    ) -> Result<Option<String>> {
        let body: String = settings.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        let cmd = RemotingCommand::request(RequestCode::UpdateBrokerConfig.to_i32())
            .with_body(body.into_bytes());
        let resp = self.instance.call_ok(broker_addr, cmd)?;
        Ok(resp.remark.filter(|r| !r.is_empty()))
    }

    /// The consumer groups that consume `topic` or hold offsets on it, over its brokers
    /// (QUERY_TOPIC_CONSUME_BY_WHO).
    pub fn topic_consumer_groups(&self, topic: &str) -> Result<BTreeSet<String>> {
        let header = TopicRequestHeader { topic: topic.into() };
        let mut groups = BTreeSet::new();
        for addr in self.topic_masters(topic)? {
            let resp = self.broker_ok(&addr, RequestCode::QueryTopicConsumeByWho, &header)?;
            let list: GroupList =
                from_json(&resp.body).map_err(|e| ClientError::bad_response(&addr, e))?;
            groups.extend(list.group_list);
        }
        Ok(groups)
    }

    /// Deletes a consumer group from one broker (and its offsets with `clean_offset`).
    pub fn delete_subscription_group_on_broker(
        &self,
        broker_addr: &str,
        group: &str,
        clean_offset: bool,
    ) -> Result<()> {
        let header = DeleteSubscriptionGroupRequestHeader {
            group_name: group.into(),
            clean_offset: Some(clean_offset),
        };
        self.broker_ok(broker_addr, RequestCode::DeleteSubscriptionGroup, &header).map(drop)
    }

    /// One pull of up to `max` messages of `mq` from `offset` whose tag matches `expression`
    /// (`*`, `TagA || TagB`), without long polling or committing anything. Returns the
    /// messages (possibly none) and the offset to continue from.
    pub fn pull_messages(
        &self,
        mq: &MessageQueue,
        offset: i64,
        max: i32,
        expression: &str,
    ) -> Result<(Vec<MessageExt>, i64)> {
        self.instance.route(&mq.topic)?;
        let addr = api::master_of(&self.instance, mq)?;
        let sub = SubscriptionData::from_tag_expression(&mq.topic, expression, 0);
        let spec = PullSpec {
            group: TOOLS_CONSUMER_GROUP,
            mq,
            offset,
            max_msg_nums: max,
            commit_offset: None,
            subscription: &sub,
            suspend: false,
        };
        let cmd = api::pull_command(&spec);
        let resp = self.instance.call(&addr, cmd, self.instance.config.rpc_timeout)?;
        Ok(match api::pull_outcome(&addr, &spec, &resp)? {
            PullOutcome::Found { messages, next_offset } => (messages, next_offset),
            PullOutcome::NoNewMessage { next_offset }
            | PullOutcome::OffsetMoved { next_offset } => (Vec::new(), next_offset),
        })
    }

    /// The first offset of `mq` stored at or after `timestamp`.
    pub fn search_offset(&self, mq: &MessageQueue, timestamp: SystemTime) -> Result<i64> {
        self.instance.route(&mq.topic)?;
        api::search_offset(&self.instance, mq, unix_ms(timestamp))
    }

    // ---- plumbing ----

    fn namesrv_ok(&self, cmd: &RemotingCommand) -> Result<(String, RemotingCommand)> {
        let (addr, resp) = self.instance.call_namesrv(cmd)?;
        if resp.code == ResponseCode::Success.to_i32() {
            Ok((addr, resp))
        } else {
            Err(ClientError::from_response(&addr, &resp, None))
        }
    }

    fn broker_ok<H: CommandHeader>(
        &self,
        addr: &str,
        code: RequestCode,
        header: &H,
    ) -> Result<RemotingCommand> {
        let cmd = RemotingCommand::request(code.to_i32()).with_header(header);
        self.instance.call_ok(addr, cmd)
    }
}

/// Parses Java-properties text (`key=value` or `key: value` lines; `#`/`!` comments).
fn parse_properties_text(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let at = l.find(['=', ':'])?;
            Some((l[..at].trim().to_string(), l[at + 1..].trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_spec_builder() {
        let spec = TopicSpec::new("T").queues(4).perm(perm::READ).order(true);
        assert_eq!(
            (spec.read_queue_nums, spec.write_queue_nums, spec.perm, spec.order),
            (4, 4, 4, true)
        );
    }

    #[test]
    fn total_lag_sums_queues() {
        let q = |id, b, c| QueueProgress {
            queue: MessageQueue::new("T", "b", id),
            broker_offset: b,
            consumer_offset: c,
            lag: b - c,
            last_timestamp: 0,
        };
        let p = ConsumerProgress {
            group: "g".into(),
            consume_tps: 0.0,
            queues: vec![q(0, 10, 4), q(1, 5, 5)],
        };
        assert_eq!(p.total_lag(), 6);
    }

    #[test]
    fn properties_text_parses_like_java() {
        let p = parse_properties_text(
            "# c\nbrokerName=broker-a\n  flushDiskType = ASYNC_FLUSH\nk:v\n\nempty=\n",
        );
        assert_eq!(p["brokerName"], "broker-a");
        assert_eq!(p["flushDiskType"], "ASYNC_FLUSH");
        assert_eq!(p["k"], "v");
        assert_eq!(p["empty"], "");
        assert_eq!(p.len(), 4);
    }
}
