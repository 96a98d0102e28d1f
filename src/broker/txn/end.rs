//! END_TRANSACTION (37): commit or roll back a half message. Stock clients send it oneway, so
//! a refusal is logged (and answered only to a caller that asked for an answer).
//!
//! The half message is read at `commitLogOffset` and must be a half message whose producer
//! group and queue offset are the request's. COMMIT writes the committed message, then the op
//! entry; ROLLBACK only the op entry; 0 (unknown) does nothing. A transaction already resolved
//! (twice committed, committed after a rollback, a late answer to an old check) is ignored.

use std::sync::Arc;

use rocketmq_net::{Processor, RemotingCommand, RequestContext};
use rocketmq_store::record::{self, RecordView};
use rocketmq_store::PhysOffset;

use super::{committed_message, write_op, Half};
use crate::broker::error::{response, TxnError};
use crate::broker::role::BrokerRole;
use crate::broker::BrokerCtx;
use crate::protocol::constants::TRANS_HALF_TOPIC;
use crate::protocol::header::send::EndTransactionRequestHeader;
use crate::remoting::{now_ms, success};

/// commitOrRollback: the local transaction's state is not known yet.
const NOT_TYPE: i32 = 0;
/// commitOrRollback: commit.
const COMMIT: i32 = record::SYS_FLAG_TRANSACTION_COMMIT;
/// commitOrRollback: roll back.
const ROLLBACK: i32 = record::SYS_FLAG_TRANSACTION_ROLLBACK;

/// What an END_TRANSACTION did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The real message and the op entry were written.
    Committed,
    /// The op entry was written.
    RolledBack,
    /// The producer does not know yet; the check service will ask again.
    Unknown,
    /// Someone resolved the transaction before; nothing was written.
    AlreadyResolved,
}

/// The END_TRANSACTION processor (on the send pool: it appends).
#[derive(Debug)]
pub struct EndTransactionProcessor {
    ctx: Arc<BrokerCtx>,
}

impl EndTransactionProcessor {
    pub fn new(ctx: Arc<BrokerCtx>) -> Self {
        Self { ctx }
    }
}

impl Processor for EndTransactionProcessor {
    fn process(&self, rc: &RequestContext, req: RemotingCommand) -> Option<RemotingCommand> {
        let result = end_transaction(&self.ctx, &req);
        if let Err(e) = &result {
            // Oneway from every stock client: the log is the only place a refusal shows.
            log::warn!("END_TRANSACTION from {} refused: {e:?}", rc.conn().peer_addr());
        }
        if rc.is_oneway() {
            return None;
        }
        Some(result.map_or_else(response, |_| success()))
    }
}

/// Validates and applies one END_TRANSACTION.
pub(crate) fn end_transaction(ctx: &BrokerCtx, req: &RemotingCommand) -> Result<Outcome, TxnError> {
    let h: EndTransactionRequestHeader = req.decode_header()?;
    let role = ctx.role.get();
    if role == BrokerRole::Slave {
        return Err(TxnError::NotWritableRole { role });
    }
    let resolution = match h.commit_or_rollback {
        NOT_TYPE => return Ok(Outcome::Unknown),
        r @ (COMMIT | ROLLBACK) => r,
        value => return Err(TxnError::UnknownResolution { value }),
    };
    let phys = non_negative("commitLogOffset", h.commit_log_offset)?;
    let queue_offset = non_negative("tranStateTableOffset", h.tran_state_table_offset)?;
    let phys = PhysOffset(phys);
    let raw = ctx
        .store
        .message_by_phys_offset(phys)
        .ok_or(TxnError::HalfNotFound { phys_offset: phys })?;
    let view = RecordView::parse(&raw)
        .map_err(|reason| TxnError::HalfUnreadable { phys_offset: phys, reason })?;
    let half = validate(&view, &h, queue_offset)?;
    if let Some(seconds) = half.immunity_s {
        let age_ms = i64::try_from(now_ms()).unwrap_or(i64::MAX) - half.born_timestamp_ms;
        if h.from_transaction_check != Some(true) && age_ms > seconds.saturating_mul(1000) {
            return Err(TxnError::ImmunityExpired { seconds });
        }
    }
    resolve(ctx, &view, &half, resolution)
}

fn non_negative(field: &'static str, value: i64) -> Result<u64, TxnError> {
    u64::try_from(value).map_err(|_| TxnError::NegativeField { field, value })
}

/// The half message at the request's offset, if it is one and matches the request.
fn validate(
    view: &RecordView<'_>,
    h: &EndTransactionRequestHeader,
    queue_offset: u64,
) -> Result<Half, TxnError> {
    if view.topic != TRANS_HALF_TOPIC {
        return Err(TxnError::NotHalfMessage {
            phys_offset: view.phys_offset,
            topic: view.topic.to_string(),
        });
    }
    let half = Half::of(view);
    let stored_group = half.producer_group.as_deref().unwrap_or_default();
    if stored_group != h.producer_group {
        return Err(mismatch("producerGroup", stored_group, &h.producer_group));
    }
    if half.queue_offset != queue_offset {
        return Err(mismatch("tranStateTableOffset", half.queue_offset, queue_offset));
    }
    if half.real.is_none() {
        return Err(TxnError::HalfWithoutRealTopic { phys_offset: view.phys_offset });
    }
    Ok(half)
}

fn mismatch(field: &'static str, stored: impl ToString, sent: impl ToString) -> TxnError {
    TxnError::Mismatch { field, stored: stored.to_string(), sent: sent.to_string() }
}

/// Writes the resolution unless the transaction was resolved before.
fn resolve(
    ctx: &BrokerCtx,
    view: &RecordView<'_>,
    half: &Half,
    resolution: i32,
) -> Result<Outcome, TxnError> {
    if !ctx.txn.claim(&ctx.store, half) {
        log::debug!("transaction {} was resolved before; ignored", half.transaction_id);
        return Ok(Outcome::AlreadyResolved);
    }
    let written = write_resolution(ctx, view, half, resolution);
    if written.is_err() {
        ctx.txn.unclaim(half);
    }
    written
}

fn write_resolution(
    ctx: &BrokerCtx,
    view: &RecordView<'_>,
    half: &Half,
    resolution: i32,
) -> Result<Outcome, TxnError> {
    let real = half
        .real
        .clone()
        .ok_or(TxnError::HalfWithoutRealTopic { phys_offset: half.phys_offset })?;
    let outcome = if resolution == COMMIT {
        let msg = committed_message(view, half, real);
        super::append(&ctx.store, msg).map_err(TxnError::Put)?;
        ctx.stats.put(1);
        Outcome::Committed
    } else {
        Outcome::RolledBack
    };
    // The committed message is in the log before its op entry; a crash between the two
    // leaves a commit that `TxnLog::claim` finds in the index.
    write_op(&ctx.store, half, ctx.store_host()).map_err(TxnError::Put)?;
    Ok(outcome)
}
