//! The admin pool: client management, offsets and queries (delegated to their modules), and the
//! admin calls mqadmin and dashboards use: topics, subscription groups, stats, connections,
//! broker config and runtime info, reset offset by time. Unbuilt codes answer
//! REQUEST_CODE_NOT_SUPPORTED naming the code.

use std::collections::BTreeMap;
use std::sync::Arc;

use rocketmq_net::{Processor, RemotingCommand, RequestCode, RequestContext};
use rocketmq_store::{QueueId, QueueOffset};

use super::{client_manage, consumer_offset, header, lock, query, Handled};
use crate::broker::error::{persist, response, AdminError, BrokerError, MetadataFile};
use crate::broker::BrokerCtx;
use crate::protocol::body::admin::{
    GroupList, KvTable, ProducerConnection, SubscriptionGroupConfig,
};
use crate::protocol::body::queue::{
    ConsumeStats, MessageQueue, OffsetWrapper, ResetOffsetBody, TopicOffset, TopicStatsTable,
};
use crate::protocol::body::register::TopicConfig;
use crate::protocol::body::{from_json, to_json};
use crate::protocol::constants::{self, perm};
use crate::protocol::header::admin::*;
use crate::protocol::header::client::{ConsumerGroupRequestHeader, ProducerGroupRequestHeader};
use crate::protocol::header::offset::ResetOffsetRequestHeader;
use crate::remoting::{now_ms, success, success_with};

/// The admin pool's processor.
#[derive(Debug)]
pub struct AdminProcessor {
    ctx: Arc<BrokerCtx>,
}

impl AdminProcessor {
    pub fn new(ctx: Arc<BrokerCtx>) -> Self {
        Self { ctx }
    }
}

impl Processor for AdminProcessor {
    fn process(&self, rc: &RequestContext, req: RemotingCommand) -> Option<RemotingCommand> {
        let ctx = &*self.ctx;
        let result = match req.request_code() {
            RequestCode::HeartBeat
            | RequestCode::UnregisterClient
            | RequestCode::GetConsumerListByGroup
            | RequestCode::GetConsumerRunningInfo
            | RequestCode::CheckClientConfig => client_call(ctx, rc, &req).map_err(into),
            RequestCode::QueryConsumerOffset
            | RequestCode::UpdateConsumerOffset
            | RequestCode::GetMaxOffset
            | RequestCode::GetMinOffset
            | RequestCode::SearchOffsetByTimestamp
            | RequestCode::GetEarliestMsgStoretime => offset_call(ctx, &req).map_err(into),
            RequestCode::LockBatchMq | RequestCode::UnlockBatchMq => {
                lock::call(ctx, rc, &req).map_err(into)
            }
            RequestCode::QueryMessage => query::query_message(ctx, &req).map_err(into),
            RequestCode::ViewMessageById => query::view_by_id(ctx, &req).map_err(into),
            code => admin_call(ctx, code, &req).map_err(into),
        };
        Some(result.unwrap_or_else(response))
    }
}

fn into<E: Into<BrokerError>>(e: E) -> BrokerError {
    e.into()
}

fn client_call(
    ctx: &BrokerCtx,
    rc: &RequestContext,
    req: &RemotingCommand,
) -> Handled<crate::broker::error::ClientManageError> {
    match req.request_code() {
        RequestCode::HeartBeat => client_manage::heartbeat(ctx, rc, req),
        RequestCode::UnregisterClient => client_manage::unregister(ctx, req),
        RequestCode::GetConsumerRunningInfo => client_manage::running_info(ctx, req),
        RequestCode::CheckClientConfig => client_manage::check_client_config(ctx, req),
        _ => client_manage::consumer_list(ctx, req),
    }
}

fn offset_call(
    ctx: &BrokerCtx,
    req: &RemotingCommand,
) -> Handled<crate::broker::error::OffsetError> {
    match req.request_code() {
        RequestCode::QueryConsumerOffset => consumer_offset::query(ctx, req),
        RequestCode::UpdateConsumerOffset => consumer_offset::update(ctx, req),
        RequestCode::GetMaxOffset => consumer_offset::max(ctx, req),
        RequestCode::GetMinOffset => consumer_offset::min(ctx, req),
        RequestCode::SearchOffsetByTimestamp => consumer_offset::search(ctx, req),
        _ => consumer_offset::earliest(ctx, req),
    }
}

/// The admin calls proper; an unknown code is REQUEST_CODE_NOT_SUPPORTED.
fn admin_call(
    ctx: &BrokerCtx,
    code: RequestCode,
    req: &RemotingCommand,
) -> Result<RemotingCommand, BrokerError> {
    let result = match code {
        RequestCode::UpdateAndCreateTopic => create_topic(ctx, req),
        RequestCode::DeleteTopicInBroker => delete_topic(ctx, req),
        RequestCode::GetAllTopicConfig => Ok(success().with_body(to_json(&ctx.topics.wrapper()))),
        RequestCode::GetTopicConfig => topic_config(ctx, req),
        RequestCode::UpdateAndCreateSubscriptionGroup => create_group(ctx, req),
        RequestCode::DeleteSubscriptionGroup => delete_group(ctx, req),
        RequestCode::GetAllSubscriptionGroupConfig => {
            Ok(success().with_body(to_json(&ctx.groups.wrapper())))
        }
        RequestCode::GetBrokerRuntimeInfo => Ok(runtime_info(ctx)),
        RequestCode::GetTopicStatsInfo => topic_stats(ctx, req),
        RequestCode::GetConsumeStats => consume_stats(ctx, req),
        RequestCode::GetConsumerConnectionList => consumer_connections(ctx, req),
        RequestCode::GetProducerConnectionList => producer_connections(ctx, req),
        RequestCode::QueryTopicConsumeByWho => consumed_by(ctx, req),
        RequestCode::GetBrokerConfig => Ok(broker_config(ctx)),
        RequestCode::UpdateBrokerConfig => update_broker_config(ctx, req),
        RequestCode::InvokeBrokerToResetOffset => reset_offset(ctx, req),
        _ => return Err(BrokerError::RequestNotSupported { code: req.code }),
    };
    result.map_err(BrokerError::from)
}

fn create_topic(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<AdminError> {
    let h: CreateTopicRequestHeader = header(req)?;
    constants::validate_topic(&h.topic)
        .map_err(|reason| AdminError::InvalidTopic { topic: h.topic.clone(), reason })?;
    if h.topic == ctx.config.cluster_name || h.topic == constants::AUTO_CREATE_TOPIC_KEY {
        return Err(AdminError::TopicConflictsWithSystem { topic: h.topic });
    }
    let queues_ok = |n: i32| (1..=1024).contains(&n);
    if !queues_ok(h.read_queue_nums) || !queues_ok(h.write_queue_nums) {
        return Err(AdminError::QueueNumsOutOfRange {
            read: h.read_queue_nums,
            write: h.write_queue_nums,
        });
    }
    let config = TopicConfig {
        topic_name: h.topic.clone(),
        read_queue_nums: h.read_queue_nums,
        write_queue_nums: h.write_queue_nums,
        perm: h.perm & (perm::READ | perm::WRITE | perm::INHERIT | perm::PRIORITY),
        topic_filter_type: h.topic_filter_type.unwrap_or_else(|| "SINGLE_TAG".into()),
        topic_sys_flag: h.topic_sys_flag.unwrap_or(0),
        order: h.order.unwrap_or(false),
        attributes: BTreeMap::new(),
    };
    ctx.topics.put(config).map_err(persist(MetadataFile::Topics))?;
    ctx.topics_changed();
    log::info!("topic {} created/updated by {}", h.topic, req.language.name());
    Ok(success())
}

fn delete_topic(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<AdminError> {
    let h: TopicRequestHeader = header(req)?;
    ctx.topics.delete(&h.topic).map_err(persist(MetadataFile::Topics))?;
    ctx.store.delete_topic(&h.topic);
    ctx.offsets.remove_topic(&h.topic);
    ctx.topics_changed();
    Ok(success())
}

fn topic_config(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<AdminError> {
    let h: TopicRequestHeader = header(req)?;
    let t = ctx
        .topics
        .get(&h.topic)
        .ok_or_else(|| AdminError::TopicNotInBroker { topic: h.topic.clone() })?;
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct TopicConfigAndQueueMapping<'a> {
        topic_config: &'a TopicConfig,
    }
    Ok(success().with_body(to_json(&TopicConfigAndQueueMapping { topic_config: &t })))
}

fn create_group(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<AdminError> {
    let config: SubscriptionGroupConfig =
        from_json(&req.body).map_err(AdminError::BadGroupConfig)?;
    if config.group_name.is_empty() {
        return Err(AdminError::EmptyGroupName);
    }
    ctx.groups.put(config).map_err(persist(MetadataFile::Groups))?;
    Ok(success())
}

fn delete_group(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<AdminError> {
    let h: DeleteSubscriptionGroupRequestHeader = header(req)?;
    ctx.groups.delete(&h.group_name).map_err(persist(MetadataFile::Groups))?;
    if h.clean_offset == Some(true) {
        ctx.offsets.remove_group(&h.group_name);
    }
    Ok(success())
}

/// The topic's queues; counts are validated positive on creation, a negative one is none.
fn queue_ids(t: &TopicConfig) -> impl Iterator<Item = (i32, QueueId)> {
    let n = u32::try_from(t.read_queue_nums.max(t.write_queue_nums)).unwrap_or(0);
    (0..n).filter_map(|q| Some((i32::try_from(q).ok()?, QueueId(q))))
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn topic_stats(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<AdminError> {
    let h: TopicRequestHeader = header(req)?;
    let t = ctx
        .topics
        .get(&h.topic)
        .ok_or_else(|| AdminError::TopicNotExist { topic: h.topic.clone() })?;
    let mut stats = TopicStatsTable::default();
    for (id, queue) in queue_ids(&t) {
        let max = ctx.store.max_offset(&h.topic, queue).0;
        let last = if max > 0 {
            ctx.store.store_time_at(&h.topic, queue, QueueOffset(max - 1))
        } else {
            None
        };
        stats.offset_table.insert(
            MessageQueue::new(&h.topic, &ctx.config.broker_name, id),
            TopicOffset {
                min_offset: to_i64(ctx.store.min_offset(&h.topic, queue).0),
                max_offset: to_i64(max),
                last_update_timestamp: last.unwrap_or(0),
            },
        );
    }
    Ok(success().with_body(stats.to_json()))
}

fn consume_stats(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<AdminError> {
    let h: GetConsumeStatsRequestHeader = header(req)?;
    let group = &h.consumer_group;
    let topics: Vec<String> = match h.topic.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => vec![t.to_string()],
        None => {
            let mut ts = ctx.offsets.topics_of_group(group);
            ts.extend(ctx.clients.topics_of_group(group));
            ts.sort();
            ts.dedup();
            ts
        }
    };
    let mut stats = ConsumeStats::default();
    for topic in topics {
        let Some(t) = ctx.topics.get(&topic) else { continue };
        for (id, queue) in queue_ids(&t) {
            let broker_offset = to_i64(ctx.store.max_offset(&topic, queue).0);
            let committed = ctx.offsets.query(group, &topic, queue).unwrap_or_default();
            let consumer_offset = to_i64(committed.0);
            let last_timestamp = committed
                .0
                .checked_sub(1)
                .and_then(|last| ctx.store.store_time_at(&topic, queue, QueueOffset(last)))
                .unwrap_or(0);
            stats.offset_table.insert(
                MessageQueue::new(&topic, &ctx.config.broker_name, id),
                OffsetWrapper {
                    broker_offset,
                    consumer_offset,
                    last_timestamp,
                    pull_offset: consumer_offset,
                },
            );
        }
    }
    Ok(success().with_body(stats.to_json()))
}

fn consumer_connections(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<AdminError> {
    let h: ConsumerGroupRequestHeader = header(req)?;
    match ctx.clients.consumer_connection(&h.consumer_group) {
        Some(c) => Ok(success().with_body(to_json(&c))),
        None => Err(AdminError::ConsumerNotOnline { group: h.consumer_group }),
    }
}

fn producer_connections(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<AdminError> {
    let h: ProducerGroupRequestHeader = header(req)?;
    let connection_set = ctx.clients.producer_connections(&h.producer_group);
    if connection_set.is_empty() {
        return Err(AdminError::ProducerGroupNotExist { group: h.producer_group });
    }
    Ok(success().with_body(to_json(&ProducerConnection { connection_set })))
}

fn consumed_by(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<AdminError> {
    let h: TopicRequestHeader = header(req)?;
    let mut group_list: std::collections::BTreeSet<String> =
        ctx.clients.groups_of_topic(&h.topic).into_iter().collect();
    group_list.extend(ctx.offsets.groups_of_topic(&h.topic));
    Ok(success().with_body(to_json(&GroupList { group_list })))
}

fn runtime_info(ctx: &BrokerCtx) -> RemotingCommand {
    use std::sync::atomic::Ordering::Relaxed;
    let s = ctx.store.runtime_stats();
    let (consumer_groups, producer_groups) = ctx.clients.counts();
    let mut table = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        table.insert(k.to_string(), v);
    };
    put("brokerVersionDesc", "V5_3_3".into());
    put("brokerVersion", rocketmq_net::protocol::DEFAULT_VERSION.to_string());
    put("brokerActive", "true".into());
    put("msgPutTotalTodayNow", ctx.stats.msg_put_total.load(Relaxed).to_string());
    put("msgGetTotalTodayNow", ctx.stats.msg_get_total.load(Relaxed).to_string());
    put("putMessageFailedTimes", ctx.stats.put_failures.load(Relaxed).to_string());
    put("commitLogMinOffset", s.commitlog_min_offset.to_string());
    put("commitLogMaxOffset", s.commitlog_max_offset.to_string());
    put("commitLogDiskRatio", format!("{:.4}", f64::from(s.disk_used_percent) / 100.0));
    put("pullHoldCount", ctx.hold.len().to_string());
    // For readiness checks (`broker -check ready`): sends would be accepted.
    let writable = !s.disk_full && !s.store_failed && ctx.role.get().accepts_writes();
    put("storeWritable", writable.to_string());
    // Why not, when not (issue #23): the disk, a store opened on a full disk, the allocator.
    let cause = match s.disk_full_cause {
        Some(rocketmq_store::DiskFullCause::Watermark) => "watermark",
        Some(rocketmq_store::DiskFullCause::NoSpace) => "no_space",
        Some(_) => "other",
        None => "",
    };
    put("storeDiskFullCause", cause.to_string());
    put("storeOpenedReadOnly", s.opened_read_only.to_string());
    put("storeSegmentAllocFailed", s.segment_alloc_failed.to_string());
    put("storeFailed", s.store_failed.to_string());
    if let Some(server) = ctx.server.get() {
        let net = server.stats();
        put("connectionsOpen", net.connections.to_string());
        put("connectionBufferBytes", net.buffer_bytes.to_string());
        put("connectionsRefusedTotal", server.refused_connections_total().to_string());
        let top: Vec<String> = server
            .refused_connections()
            .iter()
            .take(10)
            .map(|(ip, n)| format!("{ip}:{n}"))
            .collect();
        put("connectionsRefusedByAddress", top.join(","));
        put("requestsRejectedBusy", server.rejected_requests().to_string());
    }
    put("consumerGroupsOnline", consumer_groups.to_string());
    put("producerGroupsOnline", producer_groups.to_string());
    put("flushDiskType", ctx.config.flush_disk_type_name.clone());
    put("brokerRole", ctx.role.get().as_str().to_string());
    put("bootTimestamp", ctx.stats.start_ms.load(Relaxed).to_string());
    let (put_tps, get_tps) = ctx.stats.rates(now_ms());
    put("putTps", put_tps);
    put("getTransferredTps", get_tps);
    put("sendThreadPoolQueueCapacity", ctx.config.pools.send_queue_capacity.to_string());
    put("pullThreadPoolQueueCapacity", ctx.config.pools.pull_queue_capacity.to_string());
    let t = &ctx.timer;
    put("timerPending", t.pending.load(std::sync::atomic::Ordering::Relaxed).to_string());
    put(
        "timerDequeueBehindMs",
        t.dequeue_behind_ms.load(std::sync::atomic::Ordering::Relaxed).to_string(),
    );
    put(
        "timerOffsetBehind",
        t.enqueue_behind.load(std::sync::atomic::Ordering::Relaxed).to_string(),
    );
    put("timerDelivered", t.delivered.load(std::sync::atomic::Ordering::Relaxed).to_string());
    put("timerCancelled", t.cancelled.load(std::sync::atomic::Ordering::Relaxed).to_string());
    put("now", now_ms().to_string());
    success().with_body(to_json(&KvTable { table }))
}

/// UPDATE_BROKER_CONFIG: properties text in Java's keys. Live keys switch now; the others are
/// stored for the next start, and the remark names them (runtime_conf.rs).
fn update_broker_config(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<AdminError> {
    let body = String::from_utf8_lossy(&req.body);
    let updated = ctx.runtime.update(&body).map_err(AdminError::Config)?;
    ctx.groups.set_auto_create(ctx.runtime.auto_create_group());
    log::info!(
        "updateBrokerConfig: {} (now: {:?}, at the next start: {:?})",
        body.trim().replace('\n', ", "),
        updated.live,
        updated.at_restart
    );
    let mut resp = success();
    if !updated.at_restart.is_empty() {
        let keys = updated.at_restart.join(", ");
        resp.remark = Some(format!("stored; takes effect when the broker restarts: {keys}"));
    }
    Ok(resp)
}

fn broker_config(ctx: &BrokerCtx) -> RemotingCommand {
    let text: String = crate::broker::java_conf::java_properties(&ctx.runtime.raw())
        .into_iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    success_with(&GetBrokerConfigResponseHeader { version: "V5_3_3".into() })
        .with_body(text.into_bytes())
}

fn reset_offset(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<AdminError> {
    let h: ResetOffsetRequestHeader = header(req)?;
    let t = ctx
        .topics
        .get(&h.topic)
        .ok_or_else(|| AdminError::TopicNotExist { topic: h.topic.clone() })?;
    let mut body = ResetOffsetBody::default();
    // queueId -1 (or absent) means every queue (PROTOCOL.md §5.7); offset < 0 means "by
    // timestamp".
    let wanted = |id: i32| h.queue_id.is_none_or(|want| want < 0 || want == id);
    for (id, queue) in queue_ids(&t).filter(|(id, _)| wanted(*id)) {
        let target = match h.offset.and_then(|o| u64::try_from(o).ok()) {
            Some(o) => QueueOffset(o),
            None if h.timestamp < 0 => ctx.store.max_offset(&h.topic, queue),
            None => ctx.store.offset_by_timestamp(&h.topic, queue, h.timestamp),
        };
        let current = ctx.offsets.query(&h.group, &h.topic, queue);
        if h.is_force || current.is_none_or(|c| target < c) {
            ctx.offsets.commit(&h.group, &h.topic, queue, target);
        }
        let queue_key = MessageQueue::new(&h.topic, &ctx.config.broker_name, id);
        body.offset_table.insert(queue_key, to_i64(target.0));
    }
    let notify = RemotingCommand::request(RequestCode::ResetConsumerClientOffset.to_i32())
        .with_header(&h)
        .with_body(body.to_json());
    for conn in ctx.clients.consumer_channels(&h.group) {
        if let Err(e) = conn.send_oneway(notify.clone()) {
            log::debug!("cannot send reset offset to {}: {e}", conn.peer_addr());
        }
    }
    Ok(success().with_body(body.to_json()))
}
