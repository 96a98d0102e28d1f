//! Message lookup: QUERY_MESSAGE (by KEYS token or UNIQ_KEY) and VIEW_MESSAGE_BY_ID (by
//! commitlog offset).

use rocketmq_net::RemotingCommand;
use rocketmq_store::PhysOffset;

use super::{header, Handled};
use crate::broker::error::QueryError;
use crate::broker::BrokerCtx;
use crate::protocol::header::query::*;
use crate::remoting::{success, success_with};

/// Keeps query bodies far below the 16 MiB frame limit.
const QUERY_BODY_MAX_BYTES: usize = 8 * 1024 * 1024;
const QUERY_MAX_NUM: usize = 64;

pub(super) fn query_message(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<QueryError> {
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
        return Err(QueryError::KeyNotFound { key: h.key });
    }
    let stats = ctx.store.runtime_stats();
    Ok(success_with(&QueryMessageResponseHeader {
        index_last_update_timestamp: crate::remoting::now_ms() as i64,
        index_last_update_phyoffset: i64::try_from(stats.commitlog_max_offset.0).unwrap_or(0),
    })
    .with_body(body))
}

pub(super) fn view_by_id(ctx: &BrokerCtx, req: &RemotingCommand) -> Handled<QueryError> {
    let h: ViewMessageRequestHeader = header(req)?;
    // A commitlog offset is never negative: refuse it rather than answer "not found".
    let phys_offset = u64::try_from(h.offset)
        .map(PhysOffset)
        .map_err(|_| QueryError::OffsetIllegal { offset: h.offset })?;
    let record = ctx
        .store
        .message_by_phys_offset(phys_offset)
        .ok_or(QueryError::OffsetNotFound { phys_offset })?;
    Ok(success().with_body(record))
}
