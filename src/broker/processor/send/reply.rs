//! The append and the send reply. Under async flush the reply is built at once; under sync
//! flush it waits for the group commit on the `flush-reply` thread, so the send worker goes on
//! appending and many sends share one fdatasync.

use rocketmq_net::{RemotingCommand, RequestContext, Responder, ResponseCode};
use rocketmq_store::record::MessageToStore;
use rocketmq_store::{PendingPut, PutError, PutResult, QueueId};

use super::{Deferred, SendProcessor};
use crate::broker::error::{response, SendError};
use crate::broker::BrokerCtx;
use crate::protocol::header::send::{SendMessageResponseHeader, MSG_REGION, TRACE_ON};

/// A sync-flush send waiting for its group commit before the reply is written.
#[derive(Debug)]
pub(crate) struct FlushWait {
    pending: PendingPut,
    responder: Responder,
    queue_id: QueueId,
    transaction_id: Option<String>,
}

impl SendProcessor {
    /// Appends, then answers: at once under async flush; under sync flush the reply waits for
    /// the group commit on the flush-reply thread. If that thread's queue is full, this worker
    /// waits itself (back-pressure).
    pub(super) fn put_and_reply(
        &self,
        rc: &RequestContext,
        msgs: &[MessageToStore],
        queue_id: QueueId,
        transaction_id: Option<String>,
    ) -> Deferred {
        let store = &self.ctx.store;
        let pending = match store.put_messages_deferred(msgs) {
            Ok(p) => p,
            Err(e) => {
                let res = Err(e);
                store.count_deferred(&res);
                return send_response(&self.ctx, res, queue_id, transaction_id).map(Some);
            }
        };
        let mut wait = FlushWait { pending, responder: rc.responder(), queue_id, transaction_id };
        if wait.pending.needs_flush() && !rc.is_oneway() {
            match self.ctx.flush_waits.try_send(wait) {
                Ok(()) => return Ok(None),
                Err(
                    crossbeam_channel::TrySendError::Full(w)
                    | crossbeam_channel::TrySendError::Disconnected(w),
                ) => wait = w,
            }
        }
        Ok(Some(finish_put(&self.ctx, wait)))
    }
}

/// Waits for the put to be durable and builds its reply.
fn finish_put(ctx: &BrokerCtx, wait: FlushWait) -> RemotingCommand {
    match ctx.store.wait_durable(&wait.pending) {
        Err(PutError::FlushDiskTimeout) => {
            // Stored but not confirmed durable: Java clients expect the full send header with
            // code FLUSH_DISK_TIMEOUT (their SendStatus.FLUSH_DISK_TIMEOUT).
            ctx.store.count_deferred(&Err(PutError::FlushDiskTimeout));
            let r = &wait.pending.result;
            send_ok(ctx, ResponseCode::FlushDiskTimeout, r, wait.queue_id, wait.transaction_id)
        }
        done => {
            let res = done.map(|()| wait.pending.result);
            ctx.store.count_deferred(&res);
            send_response(ctx, res, wait.queue_id, wait.transaction_id).unwrap_or_else(response)
        }
    }
}

/// The `flush-reply` thread: answers deferred sync-flush sends in append order (flushes are
/// monotonic, so waiting in order costs nothing extra), until stopped.
pub(crate) fn run_flush_replies(
    ctx: &BrokerCtx,
    waits: &crossbeam_channel::Receiver<FlushWait>,
    stop: &crossbeam_channel::Receiver<()>,
) {
    loop {
        crossbeam_channel::select! {
            recv(waits) -> w => match w {
                Ok(w) => reply_when_durable(ctx, w),
                Err(_) => return,
            },
            recv(stop) -> _ => break,
        }
    }
    // Shutdown: the store is still open; answer what is queued.
    while let Ok(w) = waits.try_recv() {
        reply_when_durable(ctx, w);
    }
}

fn reply_when_durable(ctx: &BrokerCtx, wait: FlushWait) {
    let responder = wait.responder.clone();
    responder.respond(finish_put(ctx, wait));
}

/// The send response: the header Java clients require (msgId, queueId, queueOffset) plus
/// MSG_REGION and TRACE_ON; FLUSH_DISK_TIMEOUT carries the header too (the message is stored).
fn send_response(
    ctx: &BrokerCtx,
    result: Result<PutResult, PutError>,
    queue_id: QueueId,
    transaction_id: Option<String>,
) -> Result<RemotingCommand, SendError> {
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            ctx.stats.put_failed();
            return Err(SendError::Put(e));
        }
    };
    ctx.stats.put(u64::from(result.msg_count));
    Ok(send_ok(ctx, ResponseCode::Success, &result, queue_id, transaction_id))
}

fn send_ok(
    ctx: &BrokerCtx,
    code: ResponseCode,
    result: &PutResult,
    queue_id: QueueId,
    transaction_id: Option<String>,
) -> RemotingCommand {
    let mut resp =
        RemotingCommand::response(code.to_i32(), None).with_header(&SendMessageResponseHeader {
            msg_id: result.msg_ids.join(","),
            queue_id: i32::try_from(queue_id.0).unwrap_or(0),
            queue_offset: i64::try_from(result.queue_offset.0).unwrap_or(i64::MAX),
            transaction_id,
            batch_uniq_id: None,
        });
    resp.ext_fields.insert(MSG_REGION, ctx.config.region_id.clone());
    resp.ext_fields.insert(TRACE_ON, if ctx.config.trace_on { "true" } else { "false" });
    resp
}
