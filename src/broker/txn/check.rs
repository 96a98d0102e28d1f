//! The `txn-check` thread: every `transactionCheckInterval` it walks the half queue from the
//! progress of group `CID_RMQ_SYS_TRANS` and, for each half message nobody resolved:
//!
//! - after `transactionCheckMax` checks, or past the store's retention time, moves it to
//!   TRANS_CHECK_MAX_TIME_TOPIC (given up);
//! - younger than `transactionTimeOut` (or its CHECK_IMMUNITY_TIME_IN_SECONDS) ends the round:
//!   the queue is in arrival order, so what follows is younger still, give or take the
//!   producers' clocks;
//! - otherwise re-appends a copy with TRANSACTION_CHECK_TIMES + 1 (so progress can move past
//!   it) and sends CHECK_TRANSACTION_STATE for the copy to one channel of its producer group.
//!
//! Only messages present when the round starts are visited, so a round never meets its own
//! copies. Progress on the half and op topics is committed to the offset table (persisted
//! with the other consumer offsets), after the copies of the round are stored: a crash may
//! re-check a transaction, never skip one.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use rocketmq_net::{RemotingCommand, RequestCode};
use rocketmq_store::record::{self, MessageToStore, RecordView};
use rocketmq_store::{GetStatus, MessageStore, PutResult, QueueId, QueueOffset};

use super::{Half, TxnLog, CHECK_GROUP, CHECK_MAX_TIME_TOPIC, HALF_QUEUE, PROPERTY_ORIGIN_OFFSET};
use crate::broker::clients::ClientTable;
use crate::broker::config::TxnConfig;
use crate::broker::offsets::OffsetTable;
use crate::protocol::constants::{TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC};
use crate::protocol::header::client::CheckTransactionStateRequestHeader;
use crate::protocol::properties::set_prop;
use crate::remoting::now_ms;

/// Half messages read per store call.
const BATCH: u32 = 32;
/// Bytes read per store call.
const BATCH_BYTES: u32 = 4 * 1024 * 1024;

/// What the `txn-check` thread uses.
#[derive(Debug)]
pub(crate) struct Checker {
    pub store: Arc<MessageStore>,
    pub offsets: Arc<OffsetTable>,
    pub clients: Arc<ClientTable>,
    pub txn: Arc<TxnLog>,
    pub config: TxnConfig,
    pub retention_ms: u64,
    pub store_host: SocketAddrV4,
}

/// What to do with one half message.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Resolved: move past it.
    Skip,
    /// Checked too often or too old: give it up.
    Discard,
    /// Too young: end the round here.
    Wait,
    /// Ask its producer.
    Check,
}

/// The `txn-check` thread, until stopped.
pub(crate) fn run(checker: &Checker, stop: &Receiver<()>) {
    let interval = Duration::from_millis(checker.config.check_interval_ms);
    let mut previous_progress = None;
    while let Err(crossbeam_channel::RecvTimeoutError::Timeout) = stop.recv_timeout(interval) {
        let progress = checker.round();
        // In-memory resolutions are kept one more round, so the op entries of what was
        // resolved just now are indexed before the log forgets them.
        if let Some(p) = previous_progress {
            checker.txn.prune(p);
        }
        previous_progress = Some(progress);
    }
}

impl Checker {
    /// One scan of the half queue; returns the new progress offset.
    pub(crate) fn round(&self) -> u64 {
        let op_end = self.store.max_offset(TRANS_OP_HALF_TOPIC, HALF_QUEUE);
        let end = self.store.max_offset(TRANS_HALF_TOPIC, HALF_QUEUE).0;
        let committed = self.offsets.query(CHECK_GROUP, TRANS_HALF_TOPIC, HALF_QUEUE);
        let min = self.store.min_offset(TRANS_HALF_TOPIC, HALF_QUEUE).0;
        let mut offset = committed.map_or(min, |o| o.0.max(min));
        let now = i64::try_from(now_ms()).unwrap_or(i64::MAX);
        'scan: while offset < end {
            let r = self.store.get_messages(
                TRANS_HALF_TOPIC,
                HALF_QUEUE,
                QueueOffset(offset),
                BATCH,
                BATCH_BYTES,
                None,
            );
            if r.status != GetStatus::Found {
                if r.next_begin_offset.0 > offset && r.next_begin_offset.0 <= end {
                    offset = r.next_begin_offset.0;
                    continue;
                }
                break;
            }
            let mut at = 0;
            while at < r.messages.len() && offset < end {
                let Ok(view) = RecordView::parse(&r.messages[at..]) else {
                    log::error!("unreadable half message at queue offset {offset}; skipped");
                    offset += 1;
                    continue 'scan;
                };
                at += usize::try_from(view.total_size).unwrap_or(usize::MAX);
                let half = Half::of(&view);
                match self.step(&half, now) {
                    Step::Wait => break 'scan,
                    Step::Skip => {}
                    Step::Discard => {
                        if !self.discard(&view, &half) {
                            break 'scan;
                        }
                    }
                    Step::Check => {
                        if !self.check(&view, &half) {
                            break 'scan;
                        }
                    }
                }
                offset = view.queue_offset + 1;
            }
        }
        self.offsets.commit(CHECK_GROUP, TRANS_HALF_TOPIC, HALF_QUEUE, QueueOffset(offset));
        self.offsets.commit(CHECK_GROUP, TRANS_OP_HALF_TOPIC, HALF_QUEUE, op_end);
        offset
    }

    fn step(&self, half: &Half, now_ms: i64) -> Step {
        if self.txn.is_resolved(&self.store, half) {
            return Step::Skip;
        }
        let age_ms = now_ms.saturating_sub(half.born_timestamp_ms);
        let too_old = u64::try_from(age_ms).is_ok_and(|a| a > self.retention_ms);
        if half.check_times >= self.config.check_max || too_old {
            return Step::Discard;
        }
        let wait_ms = match half.immunity_s {
            Some(s) => s.saturating_mul(1000),
            None => i64::try_from(self.config.timeout_ms).unwrap_or(i64::MAX),
        };
        if age_ms < wait_ms {
            return Step::Wait;
        }
        Step::Check
    }

    /// Moves a half message to TRANS_CHECK_MAX_TIME_TOPIC. False if the store refused.
    fn discard(&self, view: &RecordView<'_>, half: &Half) -> bool {
        let msg = copy_of(view, half, CHECK_MAX_TIME_TOPIC, half.check_times);
        match self.store.put_message(msg) {
            Ok(_) => {
                log::warn!(
                    "transaction {} checked {} times without an answer; moved to {}",
                    half.transaction_id,
                    half.check_times,
                    CHECK_MAX_TIME_TOPIC
                );
                true
            }
            Err(e) => {
                log::warn!("cannot give up transaction {}: {e}", half.transaction_id);
                false
            }
        }
    }

    /// Re-appends a copy with one more check and asks the producer group about the copy.
    /// False if the store refused the copy.
    fn check(&self, view: &RecordView<'_>, half: &Half) -> bool {
        let copy = copy_of(view, half, TRANS_HALF_TOPIC, half.check_times + 1);
        let put = match self.store.put_message(copy.clone()) {
            Ok(p) => p,
            Err(e) => {
                log::warn!("cannot re-append half message {}: {e}", half.transaction_id);
                return false;
            }
        };
        let group = half.producer_group.as_deref().unwrap_or_default();
        let Some(conn) = self.clients.producer_channel(group) else {
            log::info!("no producer of group {group} online to check {}", half.transaction_id);
            return true;
        };
        let cmd = check_request(half, copy, &put, self.store_host);
        if let Err(e) = conn.send_oneway(cmd) {
            log::info!("cannot send a transaction check to {}: {e}", conn.peer_addr());
        }
        true
    }
}

/// A copy of a half message for `topic` with TRANSACTION_CHECK_TIMES = `check_times`,
/// naming the transaction's origin.
fn copy_of(view: &RecordView<'_>, half: &Half, topic: &str, check_times: u32) -> MessageToStore {
    let mut props = half.props.clone();
    set_prop(&mut props, record::PROPERTY_TRANSACTION_CHECK_TIMES, check_times.to_string());
    set_prop(&mut props, PROPERTY_ORIGIN_OFFSET, half.origin.to_string());
    view.to_message(topic.to_string(), HALF_QUEUE, record::encode_properties(&props))
}

/// CHECK_TRANSACTION_STATE for the stored copy `put`: the header names the copy, the body is
/// the copy encoded as a record with its real topic and queue (PROTOCOL.md §5.4).
fn check_request(
    half: &Half,
    mut copy: MessageToStore,
    put: &PutResult,
    store_host: SocketAddrV4,
) -> RemotingCommand {
    if let Some((topic, queue)) = &half.real {
        copy.topic.clone_from(topic);
        copy.queue_id = QueueId(queue.0);
    }
    let mut body = Vec::new();
    if record::encode_record(&copy, &mut body).is_ok() {
        record::patch_record(
            &mut body,
            put.queue_offset.0,
            put.phys_offset,
            put.store_timestamp_ms,
        );
    }
    let header = CheckTransactionStateRequestHeader {
        topic: Some(TRANS_HALF_TOPIC.to_string()),
        tran_state_table_offset: i64::try_from(put.queue_offset.0).unwrap_or(i64::MAX),
        commit_log_offset: i64::try_from(put.phys_offset.0).unwrap_or(i64::MAX),
        msg_id: Some(half.transaction_id.clone()),
        transaction_id: Some(half.transaction_id.clone()),
        offset_msg_id: Some(record::offset_msg_id(store_host, put.phys_offset)),
    };
    RemotingCommand::request(RequestCode::CheckTransactionState.to_i32())
        .with_header(&header)
        .with_body(body)
}
