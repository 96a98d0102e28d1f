//! Typed broker calls shared by the consumers and the admin client: offsets, consumer lists,
//! pulls and send-back. Each function is one request and its response mapping; none keeps
//! state.

use std::time::Duration;

use rocketmq_net::{RemotingCommand, RequestCode, ResponseCode};

use super::error::{ClientError, Result};
use super::instance::{response_header, ClientInstance};
use super::message::property;
use crate::protocol::body::admin::ConsumerIdList;
use crate::protocol::body::from_json;
use crate::protocol::body::heartbeat::SubscriptionData;
use crate::protocol::body::queue::MessageQueue;
use crate::protocol::constants::RETRY_GROUP_TOPIC_PREFIX;
use crate::protocol::header::client::ConsumerGroupRequestHeader;
use crate::protocol::header::offset::{
    OffsetResponseHeader, QueryConsumerOffsetRequestHeader, QueueRequestHeader,
    SearchOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use crate::protocol::header::pull::{
    sys_flag, PullMessageRequestHeader, PullMessageResponseHeader,
};
use crate::protocol::header::send::ConsumerSendMsgBackRequestHeader;
use crate::protocol::message::{decode_messages, MessageExt};

/// How long the broker may hold a pull with no new message (Java: 15 s).
pub(crate) const PULL_SUSPEND: Duration = Duration::from_secs(15);
/// RPC timeout of a long-polling pull (Java: 30 s); must exceed [`PULL_SUSPEND`].
pub(crate) const PULL_RPC_TIMEOUT: Duration = Duration::from_secs(30);

/// The master address of the broker holding `mq`.
pub(crate) fn master_of(instance: &ClientInstance, mq: &MessageQueue) -> Result<String> {
    instance.master_addr_or_refresh(&mq.broker_name, &mq.topic)
}

/// The group's committed offset of `mq`; `None` when the broker has none (QUERY_NOT_FOUND).
pub(crate) fn query_consumer_offset(
    instance: &ClientInstance,
    group: &str,
    mq: &MessageQueue,
) -> Result<Option<i64>> {
    let addr = master_of(instance, mq)?;
    let header = QueryConsumerOffsetRequestHeader {
        consumer_group: group.to_string(),
        topic: mq.topic.clone(),
        queue_id: mq.queue_id,
        set_zero_if_not_found: None,
    };
    let cmd =
        RemotingCommand::request(RequestCode::QueryConsumerOffset.to_i32()).with_header(&header);
    let resp = instance.call(&addr, cmd, instance.config.rpc_timeout)?;
    match ResponseCode::from_i32(resp.code) {
        ResponseCode::Success => {
            let h: OffsetResponseHeader = response_header(&addr, &resp)?;
            Ok((h.offset >= 0).then_some(h.offset))
        }
        ResponseCode::QueryNotFound => Ok(None),
        _ => Err(ClientError::from_response(&addr, &resp, Some(&mq.topic))),
    }
}

/// Stores the group's offset of `mq` on its broker.
pub(crate) fn update_consumer_offset(
    instance: &ClientInstance,
    group: &str,
    mq: &MessageQueue,
    offset: i64,
) -> Result<()> {
    let addr = master_of(instance, mq)?;
    let header = UpdateConsumerOffsetRequestHeader {
        consumer_group: group.to_string(),
        topic: mq.topic.clone(),
        queue_id: mq.queue_id,
        commit_offset: offset,
    };
    let cmd =
        RemotingCommand::request(RequestCode::UpdateConsumerOffset.to_i32()).with_header(&header);
    instance.call_ok(&addr, cmd).map(drop)
}

/// A call to `mq`'s master answered with an `offset` header.
fn offset_call(instance: &ClientInstance, mq: &MessageQueue, cmd: RemotingCommand) -> Result<i64> {
    let addr = master_of(instance, mq)?;
    let resp = instance.call_ok(&addr, cmd)?;
    let h: OffsetResponseHeader = response_header(&addr, &resp)?;
    Ok(h.offset)
}

/// One past the last message of `mq` (GET_MAX_OFFSET).
pub(crate) fn max_offset(instance: &ClientInstance, mq: &MessageQueue) -> Result<i64> {
    let header = QueueRequestHeader {
        topic: mq.topic.clone(),
        queue_id: mq.queue_id,
        committed: Some(true),
    };
    let cmd = RemotingCommand::request(RequestCode::GetMaxOffset.to_i32()).with_header(&header);
    offset_call(instance, mq, cmd)
}

/// The first offset still stored in `mq` (GET_MIN_OFFSET).
pub(crate) fn min_offset(instance: &ClientInstance, mq: &MessageQueue) -> Result<i64> {
    let header =
        QueueRequestHeader { topic: mq.topic.clone(), queue_id: mq.queue_id, committed: None };
    let cmd = RemotingCommand::request(RequestCode::GetMinOffset.to_i32()).with_header(&header);
    offset_call(instance, mq, cmd)
}

/// The first offset of `mq` stored at or after `timestamp_ms` (SEARCH_OFFSET_BY_TIMESTAMP).
pub(crate) fn search_offset(
    instance: &ClientInstance,
    mq: &MessageQueue,
    timestamp_ms: i64,
) -> Result<i64> {
    let header = SearchOffsetRequestHeader {
        topic: mq.topic.clone(),
        queue_id: mq.queue_id,
        timestamp: timestamp_ms,
        boundary_type: Some("LOWER".into()),
    };
    let cmd = RemotingCommand::request(RequestCode::SearchOffsetByTimestamp.to_i32())
        .with_header(&header);
    offset_call(instance, mq, cmd)
}

/// The client ids of `group`, sorted, from the first broker of `topic` that answers. Fails
/// with [`ClientError::NotInGroup`] (after re-sending the heartbeat) when this client is not
/// among them: allocating from such a list would drop every queue.
pub(crate) fn group_members(
    instance: &ClientInstance,
    group: &str,
    topic: &str,
) -> Result<Vec<String>> {
    let ids = consumer_ids(instance, group, topic)?;
    if ids.contains(&instance.client_id) {
        return Ok(ids);
    }
    instance.send_heartbeat();
    Err(ClientError::NotInGroup { group: group.to_string() })
}

/// The client ids of `group`, sorted, from the first broker of `topic` that answers.
pub(crate) fn consumer_ids(
    instance: &ClientInstance,
    group: &str,
    topic: &str,
) -> Result<Vec<String>> {
    let header = ConsumerGroupRequestHeader { consumer_group: group.to_string() };
    let mut last_err = ClientError::NoQueueAvailable { topic: topic.to_string() };
    for addr in instance.broker_addrs_of_topic(topic) {
        let cmd = RemotingCommand::request(RequestCode::GetConsumerListByGroup.to_i32())
            .with_header(&header);
        match instance.call_ok(&addr, cmd) {
            Ok(resp) => {
                let list: ConsumerIdList =
                    from_json(&resp.body).map_err(|e| ClientError::bad_response(&addr, e))?;
                let mut ids = list.consumer_id_list;
                ids.sort();
                ids.dedup();
                return Ok(ids);
            }
            Err(e) => last_err = e,
        }
    }
    Err(last_err)
}

/// What one pull returned.
#[derive(Debug)]
pub(crate) enum PullOutcome {
    /// Messages (already filtered by tag and restored from retry topics; possibly none left).
    Found { next_offset: i64, messages: Vec<MessageExt> },
    /// Nothing new (19) or nothing matching (20); continue from `next_offset`.
    NoNewMessage { next_offset: i64 },
    /// The offset was out of range (21); adopt `next_offset`.
    OffsetMoved { next_offset: i64 },
}

/// The parameters of one pull.
#[derive(Debug)]
pub(crate) struct PullSpec<'a> {
    pub group: &'a str,
    pub mq: &'a MessageQueue,
    pub offset: i64,
    pub max_msg_nums: i32,
    pub commit_offset: Option<i64>,
    pub subscription: &'a SubscriptionData,
    pub suspend: bool,
}

/// The PULL_MESSAGE request for `spec`.
pub(crate) fn pull_command(spec: &PullSpec<'_>) -> RemotingCommand {
    let mut flag = sys_flag::SUBSCRIPTION;
    if spec.suspend {
        flag |= sys_flag::SUSPEND;
    }
    if spec.commit_offset.is_some() {
        flag |= sys_flag::COMMIT_OFFSET;
    }
    let header = PullMessageRequestHeader {
        consumer_group: spec.group.to_string(),
        topic: spec.mq.topic.clone(),
        queue_id: spec.mq.queue_id,
        queue_offset: spec.offset,
        max_msg_nums: spec.max_msg_nums,
        sys_flag: flag,
        commit_offset: spec.commit_offset.unwrap_or(0),
        suspend_timeout_millis: i64::try_from(PULL_SUSPEND.as_millis()).unwrap_or(15_000),
        subscription: Some(spec.subscription.sub_string.clone()),
        sub_version: spec.subscription.sub_version,
        expression_type: Some(
            spec.subscription.expression_type.clone().unwrap_or_else(|| "TAG".into()),
        ),
        max_msg_bytes: None,
    };
    RemotingCommand::request(RequestCode::PullMessage.to_i32()).with_header(&header)
}

/// Reads a pull response (PROTOCOL.md §8.3).
pub(crate) fn pull_outcome(
    addr: &str,
    spec: &PullSpec<'_>,
    resp: &RemotingCommand,
) -> Result<PullOutcome> {
    let code = ResponseCode::from_i32(resp.code);
    let is_pull_code = matches!(
        code,
        ResponseCode::Success
            | ResponseCode::PullNotFound
            | ResponseCode::PullRetryImmediately
            | ResponseCode::PullOffsetMoved
    );
    if !is_pull_code {
        return Err(ClientError::from_response(addr, resp, Some(&spec.mq.topic)));
    }
    let header: PullMessageResponseHeader = response_header(addr, resp)?;
    let next_offset = header.next_begin_offset;
    Ok(match code {
        ResponseCode::Success => {
            let decoded =
                decode_messages(&resp.body).map_err(|e| ClientError::bad_response(addr, e))?;
            let messages = prepare_messages(decoded, spec, &header);
            PullOutcome::Found { next_offset, messages }
        }
        ResponseCode::PullOffsetMoved => PullOutcome::OffsetMoved { next_offset },
        _ => PullOutcome::NoNewMessage { next_offset },
    })
}

/// Filters by exact tag, restores retry messages' original topic, and adds the queue's
/// min/max offsets, as the Java client does before delivery.
fn prepare_messages(
    messages: Vec<MessageExt>,
    spec: &PullSpec<'_>,
    header: &PullMessageResponseHeader,
) -> Vec<MessageExt> {
    let sub = spec.subscription;
    let retry_topic = format!("{RETRY_GROUP_TOPIC_PREFIX}{}", spec.group);
    messages
        .into_iter()
        // The broker filtered SQL92 already; tags are re-checked exactly (the broker compares
        // hashes), as the Java client does.
        .filter(|m| {
            sub.is_sql92()
                || sub.is_all()
                || m.tags().is_some_and(|t| sub.tags_set.iter().any(|s| s == t))
        })
        .map(|mut m| {
            m.queue_id = spec.mq.queue_id;
            m.properties.insert(property::MIN_OFFSET.into(), header.min_offset.to_string());
            m.properties.insert(property::MAX_OFFSET.into(), header.max_offset.to_string());
            if m.topic == retry_topic {
                if let Some(origin) = m.properties.get(property::RETRY_TOPIC) {
                    m.topic = origin.clone();
                }
            }
            m
        })
        .collect()
}

/// Hands a message the listener could not consume back to the broker, which re-delivers it
/// through `%RETRY%<group>` after `delay_level` (0: broker decides; -1: dead-letter now).
pub(crate) fn send_message_back(
    instance: &ClientInstance,
    addr: &str,
    group: &str,
    msg: &MessageExt,
    delay_level: i32,
    max_reconsume_times: i32,
) -> Result<()> {
    let header = ConsumerSendMsgBackRequestHeader {
        offset: msg.commit_log_offset,
        group: group.to_string(),
        delay_level,
        origin_msg_id: Some(msg.msg_id().to_string()),
        origin_topic: Some(msg.topic.clone()),
        unit_mode: Some(false),
        max_reconsume_times: Some(max_reconsume_times),
    };
    let cmd =
        RemotingCommand::request(RequestCode::ConsumerSendMsgBack.to_i32()).with_header(&header);
    instance.call_ok(addr, cmd).map(drop)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;

    use super::*;

    fn msg(topic: &str, tags: Option<&str>, props: &[(&str, &str)]) -> MessageExt {
        let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
        let mut properties: BTreeMap<String, String> =
            props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if let Some(t) = tags {
            properties.insert("TAGS".into(), t.into());
        }
        MessageExt {
            topic: topic.into(),
            queue_id: 9,
            flag: 0,
            queue_offset: 0,
            commit_log_offset: 0,
            sys_flag: 0,
            born_timestamp: 0,
            born_host: host,
            store_timestamp: 0,
            store_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body_crc: 0,
            body: b"x".to_vec(),
            properties,
            offset_msg_id: String::new(),
        }
    }

    #[test]
    fn pull_request_flags_and_fields() {
        let mq = MessageQueue::new("T", "b", 2);
        let sub = SubscriptionData::from_tag_expression("T", "TagA", 7);
        let spec = PullSpec {
            group: "g",
            mq: &mq,
            offset: 5,
            max_msg_nums: 32,
            commit_offset: Some(3),
            subscription: &sub,
            suspend: true,
        };
        let cmd = pull_command(&spec);
        let h: PullMessageRequestHeader = cmd.decode_header().unwrap();
        assert_eq!(
            h.sys_flag,
            sys_flag::COMMIT_OFFSET | sys_flag::SUSPEND | sys_flag::SUBSCRIPTION
        );
        assert_eq!((h.queue_offset, h.commit_offset, h.sub_version), (5, 3, 7));
        assert_eq!(h.subscription.as_deref(), Some("TagA"));
        assert_eq!(cmd.code, 11);
    }

    #[test]
    fn pull_responses_map_per_code() {
        let mq = MessageQueue::new("T", "b", 0);
        let sub = SubscriptionData::from_tag_expression("T", "*", 0);
        let spec = PullSpec {
            group: "g",
            mq: &mq,
            offset: 0,
            max_msg_nums: 32,
            commit_offset: None,
            subscription: &sub,
            suspend: false,
        };
        let with_offsets = |code| {
            RemotingCommand::response(code, None)
                .with_ext("suggestWhichBrokerId", "0")
                .with_ext("nextBeginOffset", "8")
                .with_ext("minOffset", "0")
                .with_ext("maxOffset", "8")
        };
        assert!(matches!(
            pull_outcome("a", &spec, &with_offsets(19)).unwrap(),
            PullOutcome::NoNewMessage { next_offset: 8 }
        ));
        assert!(matches!(
            pull_outcome("a", &spec, &with_offsets(21)).unwrap(),
            PullOutcome::OffsetMoved { next_offset: 8 }
        ));
        assert!(matches!(
            pull_outcome("a", &spec, &with_offsets(0)).unwrap(),
            PullOutcome::Found { next_offset: 8, ref messages } if messages.is_empty()
        ));
        let err = pull_outcome("a", &spec, &RemotingCommand::response(24, None)).unwrap_err();
        assert_eq!(err.response_code(), Some(24));
        let no_header = pull_outcome("a", &spec, &RemotingCommand::response(19, None));
        assert!(matches!(no_header, Err(ClientError::BadResponse { .. })));
    }

    #[test]
    fn messages_are_filtered_and_restored() {
        let mq = MessageQueue::new("%RETRY%g", "b", 0);
        let sub = SubscriptionData::from_tag_expression("T", "TagA || TagB", 0);
        let spec = PullSpec {
            group: "g",
            mq: &mq,
            offset: 0,
            max_msg_nums: 32,
            commit_offset: None,
            subscription: &sub,
            suspend: false,
        };
        let header =
            PullMessageResponseHeader { min_offset: 1, max_offset: 9, ..Default::default() };
        let msgs = vec![
            msg("%RETRY%g", Some("TagA"), &[("RETRY_TOPIC", "T")]),
            msg("%RETRY%g", Some("TagC"), &[]),
            msg("%RETRY%g", None, &[]),
            msg("Other", Some("TagB"), &[]),
        ];
        let out = prepare_messages(msgs, &spec, &header);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].topic, "T");
        assert_eq!(out[0].queue_id, 0);
        assert_eq!(out[0].property("MAX_OFFSET"), Some("9"));
        assert_eq!(out[1].topic, "Other");
    }
}
