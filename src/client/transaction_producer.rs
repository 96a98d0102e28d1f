//! `TransactionProducer`: RocketMQ's transactional messages, as Java's TransactionMQProducer.
//!
//! [`TransactionProducer::send_in_transaction`] sends a half message (invisible to consumers),
//! runs the local transaction ([`TransactionListener::execute_local_transaction`]) and tells the
//! broker the outcome with a oneway END_TRANSACTION: commit makes the message visible, rollback
//! drops it, unknown leaves it to the broker's check-back. A local transaction that panics is
//! unknown. When the broker checks back (CHECK_TRANSACTION_STATE), the producer answers with
//! [`TransactionListener::check_local_transaction`].
//!
//! The check handler runs on the client's `net-client-req` thread, any time after the send,
//! possibly several times for one transaction and possibly for a transaction already resolved
//! (a producer of the same group in another process may be asked about this one's
//! transactions): it must be idempotent and answer from durable local state.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};

use log::{debug, warn};
use rocketmq_net::{RemotingCommand, RequestCode, ResponseCode};

use super::error::{ClientError, Result};
use super::instance::ClientInstance;
use super::message::{property, Message, SendResult, SendStatus};
use super::producer::{Producer, ProducerBuilder};
use crate::protocol::header::client::CheckTransactionStateRequestHeader;
use crate::protocol::header::send::EndTransactionRequestHeader;
use crate::protocol::message::{decode_messages, decode_offset_msg_id, MessageExt};

/// Marks a message as a transaction's half message.
const TRAN_MSG: &str = "TRAN_MSG";
/// The producer group of a half message (the broker checks back with that group).
const PGROUP: &str = "PGROUP";

/// The state of a local transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocalTransactionState {
    /// Done: make the message visible.
    Commit,
    /// Undone: drop the message.
    Rollback,
    /// Not known yet: the broker will ask again.
    Unknown,
}

impl LocalTransactionState {
    /// The END_TRANSACTION `commitOrRollback` value.
    fn wire(self) -> i32 {
        match self {
            Self::Commit => 0x8,
            Self::Rollback => 0xC,
            Self::Unknown => 0,
        }
    }
}

/// The application's side of a transaction, as Java's `TransactionListener`.
pub trait TransactionListener: Send + Sync + 'static {
    /// Runs the local transaction after the half message was stored.
    fn execute_local_transaction(
        &self,
        msg: &Message,
        transaction_id: &str,
    ) -> LocalTransactionState;

    /// Answers a check-back for a transaction left unknown (or whose outcome the broker
    /// never got). Runs on a client thread, possibly more than once for one transaction and
    /// for transactions already resolved: it must be idempotent.
    fn check_local_transaction(&self, msg: &MessageExt) -> LocalTransactionState;
}

/// What [`TransactionProducer::send_in_transaction`] did.
#[derive(Debug, Clone)]
pub struct TransactionSendResult {
    /// The half message's send result.
    pub send: SendResult,
    /// The transaction id (the message's UNIQ_KEY).
    pub transaction_id: String,
    /// The state sent to the broker.
    pub state: LocalTransactionState,
}

/// A producer of transactional messages. Shut down on drop.
pub struct TransactionProducer {
    producer: Producer,
    listener: Arc<dyn TransactionListener>,
}

impl std::fmt::Debug for TransactionProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionProducer")
            .field("producer", &self.producer)
            .finish_non_exhaustive()
    }
}

impl TransactionProducer {
    /// Starts a producer from `builder` (set its group: the broker checks back with it) that
    /// runs and answers for transactions with `listener`.
    ///
    /// A broker checks back only with producers it heard a heartbeat from; this producer
    /// heartbeats to a broker as soon as it learns a route through it (its first send to a
    /// topic, or `producer().fetch_publish_queues(topic)`), and every 30 s after that.
    pub fn start(builder: ProducerBuilder, listener: impl TransactionListener) -> Result<Self> {
        let producer = builder.build()?;
        let listener: Arc<dyn TransactionListener> = Arc::new(listener);
        let group = producer.group().to_string();
        let weak: Weak<dyn TransactionListener> = Arc::downgrade(&listener);
        let instance = Arc::downgrade(producer.instance());
        // Brokers check back on channels they know from heartbeats: announce the group to a
        // broker as soon as a route names it, not only on the 30 s heartbeat timer.
        let beat = Weak::clone(&instance);
        producer.instance().add_route_listener(Arc::new(move |_, _| {
            if let Some(i) = beat.upgrade() {
                i.send_heartbeat();
            }
        }));
        producer.instance().set_request_handler(Arc::new(move |addr, cmd| {
            match (weak.upgrade(), instance.upgrade()) {
                (Some(l), Some(i)) => handle_request(&i, &*l, &group, addr, cmd),
                _ => None,
            }
        }));
        Ok(Self { producer, listener })
    }

    /// The underlying producer (for plain sends of the same group).
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Sends `msg` as a half message, runs the local transaction and sends its outcome. A
    /// half message that was not stored (`SendStatus` other than OK) is rolled back without
    /// running the local transaction, as Java does.
    pub fn send_in_transaction(&self, msg: &Message) -> Result<TransactionSendResult> {
        if msg.delay_level().is_some_and(|l| l > 0) {
            return Err(ClientError::invalid("a transactional message cannot be delayed"));
        }
        let group = self.producer.group().to_string();
        let half = msg.clone().with_property(TRAN_MSG, "true").with_property(PGROUP, &group);
        let send = self.producer.send(&half)?;
        let transaction_id = send.msg_id.clone();
        let state = if send.status == SendStatus::SendOk {
            let listener = &self.listener;
            catch_unwind(AssertUnwindSafe(|| {
                listener.execute_local_transaction(msg, &transaction_id)
            }))
            .unwrap_or_else(|_| {
                warn!("local transaction {transaction_id} panicked; its state is unknown");
                LocalTransactionState::Unknown
            })
        } else {
            LocalTransactionState::Rollback
        };
        self.end(&send, &transaction_id, state)?;
        Ok(TransactionSendResult { send, transaction_id, state })
    }

    /// END_TRANSACTION (oneway) for a half message this producer sent.
    fn end(
        &self,
        send: &SendResult,
        transaction_id: &str,
        state: LocalTransactionState,
    ) -> Result<()> {
        let instance = self.producer.instance();
        let addr = instance.master_addr(&send.queue.broker_name).ok_or_else(|| {
            ClientError::invalid(format!("no address for broker {}", send.queue.broker_name))
        })?;
        let (_, commit_log_offset) =
            decode_offset_msg_id(&send.offset_msg_id).ok_or_else(|| {
                ClientError::invalid(format!("bad offset message id {:?}", send.offset_msg_id))
            })?;
        let header = EndTransactionRequestHeader {
            producer_group: self.producer.group().to_string(),
            tran_state_table_offset: send.queue_offset,
            commit_log_offset,
            commit_or_rollback: state.wire(),
            from_transaction_check: Some(false),
            msg_id: send.msg_id.clone(),
            transaction_id: Some(transaction_id.to_string()),
        };
        send_end(instance, &addr, &header)
    }

    /// Stops the producer.
    pub fn shutdown(&self) {
        self.producer.shutdown();
    }
}

fn send_end(instance: &ClientInstance, addr: &str, h: &EndTransactionRequestHeader) -> Result<()> {
    let cmd = RemotingCommand::request(RequestCode::EndTransaction.to_i32()).with_header(h);
    instance.remoting.invoke_oneway(addr, cmd).map_err(|e| ClientError::from_net(addr, e))
}

/// Requests brokers send a transaction producer: only CHECK_TRANSACTION_STATE.
fn handle_request(
    instance: &ClientInstance,
    listener: &dyn TransactionListener,
    group: &str,
    addr: &str,
    cmd: RemotingCommand,
) -> Option<RemotingCommand> {
    if cmd.code != RequestCode::CheckTransactionState.to_i32() {
        return Some(RemotingCommand::response(
            ResponseCode::RequestCodeNotSupported.to_i32(),
            Some(format!(" request type {} not supported", cmd.code)),
        ));
    }
    if let Err(e) = answer_check(instance, listener, group, addr, &cmd) {
        warn!("cannot answer a transaction check from {addr}: {e}");
    }
    None
}

/// Runs the check listener and answers with END_TRANSACTION (`fromTransactionCheck`).
fn answer_check(
    instance: &ClientInstance,
    listener: &dyn TransactionListener,
    group: &str,
    addr: &str,
    cmd: &RemotingCommand,
) -> Result<()> {
    let h: CheckTransactionStateRequestHeader = cmd
        .decode_header()
        .map_err(|e| ClientError::invalid(format!("bad CHECK_TRANSACTION_STATE header: {e}")))?;
    let msg = decode_messages(&cmd.body)
        .ok()
        .and_then(|mut m| (!m.is_empty()).then(|| m.swap_remove(0)))
        .ok_or_else(|| ClientError::invalid("CHECK_TRANSACTION_STATE without a message"))?;
    let state = catch_unwind(AssertUnwindSafe(|| listener.check_local_transaction(&msg)))
        .unwrap_or_else(|_| {
            warn!("the transaction check of {} panicked; answering unknown", msg.msg_id());
            LocalTransactionState::Unknown
        });
    debug!("check of {} from {addr}: {state:?}", msg.msg_id());
    let uniq = msg.property(property::UNIQ_KEY).map(str::to_string);
    let header = EndTransactionRequestHeader {
        producer_group: msg.property(PGROUP).unwrap_or(group).to_string(),
        tran_state_table_offset: h.tran_state_table_offset,
        commit_log_offset: h.commit_log_offset,
        commit_or_rollback: state.wire(),
        from_transaction_check: Some(true),
        msg_id: uniq.clone().or(h.msg_id).unwrap_or_default(),
        transaction_id: h.transaction_id.or(uniq),
    };
    send_end(instance, addr, &header)
}
