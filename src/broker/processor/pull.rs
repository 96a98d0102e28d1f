//! PULL_MESSAGE and LITE_PULL_MESSAGE: checks in the stock order (group, topic, queue,
//! subscription), a store read with the tag filter, then for SQL92 subscriptions the
//! property filter over the records read (`broker::sql_filter`), the status-to-code table of PROTOCOL.md
//! §8.3, the commit-offset flag, and long polling (a pull that finds nothing is parked in
//! `hold` and answered later with its original opaque).

use std::sync::Arc;

use rocketmq_net::{Processor, RemotingCommand, RequestContext, ResponseCode};
use rocketmq_store::{GetResult, GetStatus, QueueId, QueueOffset};

use super::header;
use crate::broker::error::{persist, response, MetadataFile, PullError};
use crate::broker::hold::Held;
use crate::broker::sql_filter::filter_records;
use crate::broker::BrokerCtx;
use crate::filter::{Selector, EXPRESSION_TYPE_SQL92};
use crate::protocol::body::heartbeat::SubscriptionData;
use crate::protocol::constants::perm;
use crate::protocol::header::pull::{
    sys_flag, PullMessageRequestHeader, PullMessageResponseHeader,
};
use crate::remoting::now_ms;

/// Longest hold we honour, below every client's RPC timeout for suspended pulls (30 s).
const MAX_SUSPEND_MS: u64 = 25_000;

/// The pull pool's processor.
#[derive(Debug)]
pub struct PullProcessor {
    ctx: Arc<BrokerCtx>,
}

impl PullProcessor {
    pub fn new(ctx: Arc<BrokerCtx>) -> Self {
        Self { ctx }
    }
}

/// What a pull led to.
#[derive(Debug)]
pub enum PullOutcome {
    /// Answer now.
    Respond(RemotingCommand),
    /// Nothing yet; park until `deadline_ms` or new data at or past `offset`.
    Park { topic: String, queue: QueueId, offset: QueueOffset, deadline_ms: u64 },
}

impl PullOutcome {
    /// The response, if this outcome has one.
    pub fn into_response(self) -> Option<RemotingCommand> {
        match self {
            Self::Respond(r) => Some(r),
            Self::Park { .. } => None,
        }
    }
}

impl Processor for PullProcessor {
    fn process(&self, rc: &RequestContext, req: RemotingCommand) -> Option<RemotingCommand> {
        match execute(&self.ctx, &req, true) {
            PullOutcome::Respond(resp) => Some(resp),
            PullOutcome::Park { topic, queue, offset, deadline_ms } => {
                let store = &self.ctx.store;
                let held = Held { request: req, responder: rc.responder(), offset, deadline_ms };
                self.ctx.hold.park(&topic, queue, held, || store.max_offset(&topic, queue));
                None
            }
        }
    }
}

/// Runs a pull. `first_time` is false when a parked pull is re-run: then it never parks again
/// and never commits the offset (PROTOCOL.md §8.4).
pub fn execute(ctx: &BrokerCtx, req: &RemotingCommand, first_time: bool) -> PullOutcome {
    match pull(ctx, req, first_time) {
        Ok(outcome) => outcome,
        Err(e) => PullOutcome::Respond(response(e)),
    }
}

fn pull(
    ctx: &BrokerCtx,
    req: &RemotingCommand,
    first_time: bool,
) -> Result<PullOutcome, PullError> {
    let h: PullMessageRequestHeader = header(req)?;
    let (queue, subscription) = check(ctx, &h)?;
    let selector = sql92_selector(ctx, &h, &subscription)?;
    // Converted once here: a negative offset is refused, never read as offset 0 (stock
    // clients never send one; they resolve "no offset" before pulling).
    let offset = u64::try_from(h.queue_offset)
        .map(QueueOffset)
        .map_err(|_| PullError::QueueOffsetIllegal { queue_offset: h.queue_offset })?;
    let max_count =
        u32::try_from(h.max_msg_nums).unwrap_or(1).clamp(1, ctx.config.max_transfer_count);
    let max_bytes = h
        .max_msg_bytes
        .and_then(|b| u32::try_from(b).ok())
        .unwrap_or(u32::MAX)
        .clamp(1, ctx.config.max_transfer_bytes);
    let filter = |code: i64| subscription.matches_tag_code(code);
    // A SQL92 subscription has no tag stage (its tag set is empty): every entry reaches the
    // commit-log stage.
    let filter: Option<&dyn Fn(i64) -> bool> =
        if subscription.is_all() || selector.is_some() { None } else { Some(&filter) };
    let mut result = ctx.store.get_messages(&h.topic, queue, offset, max_count, max_bytes, filter);
    if let Some(selector) = &selector {
        filter_records(&mut result, selector);
    }
    // A negative commitOffset means the client has none to commit (it sends -1 then).
    let commit = u64::try_from(h.commit_offset).ok().map(QueueOffset);
    if let Some(commit) = commit.filter(|_| first_time && h.sys_flag & sys_flag::COMMIT_OFFSET != 0)
    {
        ctx.offsets.commit(&h.consumer_group, &h.topic, queue, commit);
    }
    let (code, remark) = status_code(&result, offset);
    if code == ResponseCode::PullNotFound && first_time && h.sys_flag & sys_flag::SUSPEND != 0 {
        let hold_ms = if ctx.config.long_polling_enable {
            u64::try_from(h.suspend_timeout_millis).unwrap_or(0).min(MAX_SUSPEND_MS)
        } else {
            ctx.config.short_polling_time_ms
        };
        if hold_ms > 0 {
            return Ok(PullOutcome::Park {
                topic: h.topic,
                queue,
                offset,
                deadline_ms: now_ms() + hold_ms,
            });
        }
    }
    ctx.stats.got(u64::from(result.message_count));
    let to_i64 = |o: QueueOffset| i64::try_from(o.0).unwrap_or(i64::MAX);
    let header = PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset: to_i64(result.next_begin_offset),
        min_offset: to_i64(result.min_offset),
        max_offset: to_i64(result.max_offset),
        ..Default::default()
    };
    let mut resp =
        RemotingCommand::response(code.to_i32(), Some(remark.to_string())).with_header(&header);
    if code == ResponseCode::Success {
        resp.body = result.messages;
    }
    Ok(PullOutcome::Respond(resp))
}

/// Group, topic, queue and subscription checks in the stock order (PROTOCOL.md §8.1).
fn check(
    ctx: &BrokerCtx,
    h: &PullMessageRequestHeader,
) -> Result<(QueueId, SubscriptionData), PullError> {
    let group = ctx
        .groups
        .get_or_create(&h.consumer_group)
        .map_err(persist(MetadataFile::Groups))?
        .ok_or_else(|| PullError::GroupNotExist { group: h.consumer_group.clone() })?;
    if !group.consume_enable {
        return Err(PullError::GroupConsumeDisabled { group: h.consumer_group.clone() });
    }
    let topic = ctx
        .topics
        .counts(&h.topic)
        .ok_or_else(|| PullError::TopicNotExist { topic: h.topic.clone() })?;
    if !perm::is_readable(topic.perm) {
        return Err(PullError::TopicNotReadable { topic: h.topic.clone() });
    }
    let queue = u32::try_from(h.queue_id)
        .ok()
        .filter(|q| i64::from(*q) < i64::from(topic.read_queue_nums))
        .ok_or_else(|| PullError::QueueIdIllegal {
            topic: h.topic.clone(),
            queue_id: h.queue_id,
            read_queue_nums: topic.read_queue_nums,
        })?;
    Ok((QueueId(queue), subscription(ctx, h)?))
}

fn subscription(
    ctx: &BrokerCtx,
    h: &PullMessageRequestHeader,
) -> Result<SubscriptionData, PullError> {
    let sub = if h.sys_flag & sys_flag::SUBSCRIPTION != 0 {
        let expression = h.subscription.as_deref().unwrap_or("*");
        let sql92 = h
            .expression_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(EXPRESSION_TYPE_SQL92));
        if sql92 {
            SubscriptionData {
                topic: h.topic.clone(),
                sub_string: expression.to_string(),
                sub_version: h.sub_version,
                expression_type: h.expression_type.clone(),
                ..Default::default()
            }
        } else {
            let mut s = SubscriptionData::from_tag_expression(&h.topic, expression, h.sub_version);
            s.expression_type.clone_from(&h.expression_type);
            s
        }
    } else {
        let s = ctx.clients.subscription(&h.consumer_group, &h.topic).ok_or_else(|| {
            PullError::SubscriptionNotExist {
                group: h.consumer_group.clone(),
                topic: h.topic.clone(),
            }
        })?;
        if s.sub_version < h.sub_version {
            return Err(PullError::SubscriptionNotLatest { group: h.consumer_group.clone() });
        }
        s
    };
    Ok(sub)
}

/// The compiled selector of a SQL92 subscription (`None` for TAG), in Java's order: an
/// expression sent with the pull that does not compile is SUBSCRIPTION_PARSE_FAILED, a
/// registered one FILTER_DATA_NOT_EXIST; then SQL92 while switched off is SYSTEM_ERROR.
fn sql92_selector(
    ctx: &BrokerCtx,
    h: &PullMessageRequestHeader,
    sub: &SubscriptionData,
) -> Result<Option<Arc<Selector>>, PullError> {
    if !sub.is_sql92() {
        return Ok(None);
    }
    let selector = ctx.selectors.compile(&sub.sub_string).map_err(|error| {
        if h.sys_flag & sys_flag::SUBSCRIPTION != 0 {
            PullError::SubscriptionParseFailed { error }
        } else {
            PullError::FilterDataNotExist {
                group: h.consumer_group.clone(),
                topic: h.topic.clone(),
            }
        }
    })?;
    if !ctx.config.enable_property_filter {
        return Err(PullError::PropertyFilterDisabled);
    }
    Ok(Some(selector))
}

/// PROTOCOL.md §8.3.
fn status_code(result: &GetResult, requested: QueueOffset) -> (ResponseCode, &'static str) {
    let moved_or_not_found = if requested != QueueOffset(0) {
        ResponseCode::PullOffsetMoved
    } else {
        ResponseCode::PullNotFound
    };
    match result.status {
        GetStatus::Found => (ResponseCode::Success, "FOUND"),
        GetStatus::NoMatchedLogicQueue => (moved_or_not_found, "NO_MATCHED_LOGIC_QUEUE"),
        GetStatus::NoMessageInQueue => (moved_or_not_found, "NO_MESSAGE_IN_QUEUE"),
        GetStatus::OffsetTooSmall => (ResponseCode::PullOffsetMoved, "OFFSET_TOO_SMALL"),
        GetStatus::OffsetOverflowOne => (ResponseCode::PullNotFound, "OFFSET_OVERFLOW_ONE"),
        GetStatus::OffsetOverflowBadly => (ResponseCode::PullOffsetMoved, "OFFSET_OVERFLOW_BADLY"),
        GetStatus::OffsetFoundNull => (ResponseCode::PullNotFound, "OFFSET_FOUND_NULL"),
        GetStatus::NoMatchedMessage => (ResponseCode::PullRetryImmediately, "NO_MATCHED_MESSAGE"),
        #[allow(unreachable_patterns)]
        _ => (ResponseCode::PullRetryImmediately, "MESSAGE_WAS_REMOVING"),
    }
}
