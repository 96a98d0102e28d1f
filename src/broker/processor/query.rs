//! Message lookup: QUERY_MESSAGE (by KEYS token or UNIQ_KEY) and VIEW_MESSAGE_BY_ID (by
//! commitlog offset).

use rocketmq_net::{RemotingCommand, ResponseCode};
use rocketmq_store::PhysOffset;

use super::{header, Handled};
use crate::broker::BrokerCtx;
use crate::protocol::header::query::*;
use crate::remoting::{error, success, success_with};

/// Keeps query bodies far below the 16 MiB frame limit.
const QUERY_BODY_MAX_BYTES: usize = 8 * 1024 * 1024;
const QUERY_MAX_NUM: usize = 64;

pub(super) fn query_message(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled {
    let h: QueryMessageRequestHeader = header(req)?;
    let max = usize::try_from(h.max_num).unwrap_or(0).clamp(1, QUERY_MAX_NUM);
    let end = if h.end_timestamp <= 0 { i64::MAX } else { h.end_timestamp };
    let records = ctx.store.query_by_key(&h.topic, &h.key, max, h.begin_timestamp, end);
    let mut body = Vec::new();
    for r in records {
        if body.len() + r.len() > QUERY_BODY_MAX_BYTES {
            break;
        }
        body.extend_from_slice(&r);
    }
    if body.is_empty() {
        return Err(error(
            ResponseCode::QueryNotFound,
            format!("can not find message, maybe time range not correct (key {})", h.key),
        ));
    }
    let stats = ctx.store.runtime_stats();
    Ok(success_with(&QueryMessageResponseHeader {
        index_last_update_timestamp: crate::remoting::now_ms() as i64,
        index_last_update_phyoffset: i64::try_from(stats.commitlog_max_offset.0).unwrap_or(0),
    })
    .with_body(body))
}

pub(super) fn view_by_id(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled {
    let h: ViewMessageRequestHeader = header(req)?;
    let record = u64::try_from(h.offset)
        .ok()
        .and_then(|o| ctx.store.message_by_phys_offset(PhysOffset(o)))
        .ok_or_else(|| {
            error(
                ResponseCode::SystemError,
                format!("can not find message by the offset, {}", h.offset),
            )
        })?;
    Ok(success().with_body(record))
}
