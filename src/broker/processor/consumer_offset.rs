//! Offsets: QUERY/UPDATE_CONSUMER_OFFSET, GET_MAX/MIN_OFFSET, SEARCH_OFFSET_BY_TIMESTAMP,
//! GET_EARLIEST_MSG_STORETIME. Every call names a real queue, so a negative queueId is
//! INVALID_PARAMETER (never queue 0).

use rocketmq_net::RemotingCommand;
use rocketmq_store::{QueueId, QueueOffset};

use super::{header, Handled};
use crate::broker::error::OffsetError;
use crate::broker::BrokerCtx;
use crate::protocol::header::offset::*;
use crate::remoting::{success, success_with};

/// The wire queueId as a queue: negative is refused.
fn queue(queue_id: i32) -> Result<QueueId, OffsetError> {
    u32::try_from(queue_id).map(QueueId).map_err(|_| OffsetError::QueueIdIllegal { queue_id })
}

fn offset_response(offset: u64) -> Handled<OffsetError> {
    Ok(success_with(&OffsetResponseHeader { offset: i64::try_from(offset).unwrap_or(i64::MAX) }))
}

pub(super) fn query(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<OffsetError> {
    let h: QueryConsumerOffsetRequestHeader = header(req)?;
    let q = queue(h.queue_id)?;
    if let Some(offset) = ctx.offsets.query(&h.consumer_group, &h.topic, q) {
        return offset_response(offset.0);
    }
    // Stock rule: a group new to a young queue (nothing deleted yet) starts at 0.
    if h.set_zero_if_not_found != Some(false) && ctx.store.min_offset(&h.topic, q).0 == 0 {
        return offset_response(0);
    }
    Err(OffsetError::NotFound)
}

pub(super) fn update(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<OffsetError> {
    let h: UpdateConsumerOffsetRequestHeader = header(req)?;
    let q = queue(h.queue_id)?;
    // Some clients (ali-ons) commit -1 for "nothing consumed yet": keep "no offset" instead.
    if let Ok(offset) = u64::try_from(h.commit_offset) {
        ctx.offsets.commit(&h.consumer_group, &h.topic, q, QueueOffset(offset));
    }
    Ok(success())
}

pub(super) fn max(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<OffsetError> {
    let h: QueueRequestHeader = header(req)?;
    offset_response(ctx.store.max_offset(&h.topic, queue(h.queue_id)?).0)
}

pub(super) fn min(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<OffsetError> {
    let h: QueueRequestHeader = header(req)?;
    offset_response(ctx.store.min_offset(&h.topic, queue(h.queue_id)?).0)
}

pub(super) fn search(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<OffsetError> {
    let h: SearchOffsetRequestHeader = header(req)?;
    offset_response(ctx.store.offset_by_timestamp(&h.topic, queue(h.queue_id)?, h.timestamp).0)
}

pub(super) fn earliest(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<OffsetError> {
    let h: QueueRequestHeader = header(req)?;
    let ts = ctx.store.earliest_store_time(&h.topic, queue(h.queue_id)?).unwrap_or(-1);
    Ok(success_with(&TimestampResponseHeader { timestamp: ts }))
}
