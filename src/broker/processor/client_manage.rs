//! Client management: HEART_BEAT (producer and consumer groups, subscriptions, channels),
//! UNREGISTER_CLIENT, GET_CONSUMER_LIST_BY_GROUP, and GET_CONSUMER_RUNNING_INFO, which is
//! forwarded to the consumer named (its answer says, among other things, whether it consumes
//! orderly: PROP_CONSUMEORDERLY), and CHECK_CLIENT_CONFIG, which compiles a consumer's SQL92
//! subscription before it starts.

use rocketmq_net::{RemotingCommand, RequestContext};

use super::{header, Handled};
use crate::broker::clients::ClientChannel;
use crate::broker::error::{persist, ClientManageError, MetadataFile};
use crate::broker::BrokerCtx;
use crate::protocol::body::admin::ConsumerIdList;
use crate::protocol::body::heartbeat::{CheckClientRequestBody, HeartbeatData};
use crate::protocol::body::{from_json, to_json};
use crate::protocol::header::client::{
    ConsumerGroupRequestHeader, GetConsumerRunningInfoRequestHeader, UnregisterClientRequestHeader,
};
use crate::remoting::{now_ms, success};

/// CHECK_CLIENT_CONFIG (Java's `ClientManageProcessor.checkClientConfig`): a TAG
/// subscription passes; a SQL92 one passes if it compiles and the filter is on.
pub(super) fn check_client_config(
    ctx: &BrokerCtx,
    req: &RemotingCommand,
) -> Handled<ClientManageError> {
    let body: CheckClientRequestBody =
        from_json(&req.body).map_err(ClientManageError::BadCheckClientBody)?;
    let sub = &body.subscription_data;
    if !sub.is_sql92() {
        return Ok(success());
    }
    if !ctx.config.enable_property_filter {
        return Err(ClientManageError::PropertyFilterDisabled);
    }
    ctx.selectors
        .compile(&sub.sub_string)
        .map_err(|error| ClientManageError::SubscriptionParseFailed { error })?;
    Ok(success())
}

pub(super) fn heartbeat(
    ctx: &BrokerCtx,
    rc: &RequestContext,
    req: &RemotingCommand,
) -> Handled<ClientManageError> {
    let data: HeartbeatData = from_json(&req.body).map_err(ClientManageError::BadHeartbeat)?;
    let channel = ClientChannel {
        client_id: data.client_id.clone(),
        conn: rc.conn().clone(),
        language: req.language.name().to_string(),
        version: req.version,
        last_update_ms: now_ms(),
    };
    for consumer in &data.consumer_data_set {
        let Some(group) = ctx
            .groups
            .get_or_create(&consumer.group_name)
            .map_err(persist(MetadataFile::Groups))?
        else {
            log::warn!(
                "heartbeat from unknown group {} ignored (auto-create off)",
                consumer.group_name
            );
            continue;
        };
        ctx.topics
            .retry_topic(&consumer.group_name, group.retry_queue_nums)
            .map_err(persist(MetadataFile::Topics))?;
        // A new %RETRY% topic must be routable before the client asks the nameserver for it.
        ctx.topics_changed();
        if ctx.clients.register_consumer(channel.clone(), consumer) {
            log::info!("consumer {} joined group {}", data.client_id, consumer.group_name);
            ctx.notify_consumer_ids_changed(&consumer.group_name);
        }
    }
    for producer in &data.producer_data_set {
        ctx.clients.register_producer(&producer.group_name, channel.clone());
    }
    Ok(success())
}

pub(super) fn unregister(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<ClientManageError> {
    let h: UnregisterClientRequestHeader = header(req)?;
    if let Some(group) = h.consumer_group.as_deref().filter(|g| !g.is_empty()) {
        if ctx.clients.unregister_consumer(group, &h.client_id) {
            log::info!("consumer {} left group {group}", h.client_id);
            ctx.notify_consumer_ids_changed(group);
        }
    }
    if let Some(group) = h.producer_group.as_deref().filter(|g| !g.is_empty()) {
        ctx.clients.unregister_producer(group, &h.client_id);
    }
    Ok(success())
}

pub(super) fn consumer_list(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<ClientManageError> {
    let h: ConsumerGroupRequestHeader = header(req)?;
    let ids = ctx.clients.consumer_ids(&h.consumer_group);
    if ids.is_empty() {
        return Err(ClientManageError::NoConsumer { group: h.consumer_group });
    }
    Ok(success().with_body(to_json(&ConsumerIdList { consumer_id_list: ids })))
}

/// How long a consumer may take to answer a forwarded request (Java: 10 s in `callClient`).
const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// GET_CONSUMER_RUNNING_INFO: forwards the request to the consumer and answers with its
/// response as it is.
pub(super) fn running_info(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<ClientManageError> {
    let h: GetConsumerRunningInfoRequestHeader = header(req)?;
    let conn = ctx
        .clients
        .consumer_channel(&h.consumer_group, &h.client_id)
        .ok_or_else(|| ClientManageError::ConsumerNotOnline { client_id: h.client_id.clone() })?;
    let forward = RemotingCommand::request(req.code).with_header(&h).with_body(req.body.clone());
    conn.invoke(forward, FORWARD_TIMEOUT)
        .map_err(|source| ClientManageError::ConsumerUnreachable { client_id: h.client_id, source })
}
