//! LOCK_BATCH_MQ (41) and UNLOCK_BATCH_MQ (42): orderly consumers lock the queues they consume
//! on each broker holding them, renew the locks every 20 s and unlock a queue after handing it
//! over (PROTOCOL.md §5.5, STORAGE.md §12). The table is `broker::lock::LockTable`.

use rocketmq_net::{RemotingCommand, RequestCode, RequestContext};

use super::Handled;
use crate::broker::error::LockError;
use crate::broker::lock::Locker;
use crate::broker::BrokerCtx;
use crate::protocol::body::queue::{LockBatchRequestBody, LockBatchResponseBody};
use crate::protocol::body::{from_json, to_json};
use crate::remoting::{now_ms, success};

/// Dispatches a lock or unlock request.
pub(super) fn call(
    ctx: &BrokerCtx,
    rc: &RequestContext,
    req: &RemotingCommand,
) -> Handled<LockError> {
    let body: LockBatchRequestBody = from_json(&req.body).map_err(LockError::BadBody)?;
    if body.consumer_group.is_empty() || body.client_id.is_empty() {
        return Err(LockError::MissingField {
            field: if body.client_id.is_empty() { "clientId" } else { "consumerGroup" },
        });
    }
    match req.request_code() {
        RequestCode::LockBatchMq => Ok(lock(ctx, rc, &body)),
        _ => Ok(unlock(ctx, &body)),
    }
}

/// Answers the queues the client holds now: free, already its own, or expired.
fn lock(ctx: &BrokerCtx, rc: &RequestContext, body: &LockBatchRequestBody) -> RemotingCommand {
    let who = Locker {
        group: &body.consumer_group,
        client_id: &body.client_id,
        conn: rc.conn().id(),
        now_ms: now_ms(),
    };
    let granted = ctx.locks.lock(who, &body.mq_set);
    if granted.len() < body.mq_set.len() {
        log::debug!(
            "{} of group {}: {} of {} queues are locked by others",
            body.client_id,
            body.consumer_group,
            body.mq_set.len() - granted.len(),
            body.mq_set.len()
        );
    }
    success().with_body(to_json(&LockBatchResponseBody { lock_ok_mq_set: granted }))
}

/// Releases the caller's own locks among the queues named.
fn unlock(ctx: &BrokerCtx, body: &LockBatchRequestBody) -> RemotingCommand {
    ctx.locks.unlock(&body.consumer_group, &body.client_id, &body.mq_set);
    success()
}
