//! The broker's error model: one enum per operation family (send, pull, offsets, client
//! management, queries, admin, queue locks), each variant with the structured fields of the failure, and
//! the one function, [`code_and_remark`], that turns any of them into the response code and
//! remark a client sees.
//!
//! Invariants: no processor builds an error response itself; it returns a family error and the
//! processor's dispatch calls [`response`]. Errors are built only on the failure path, so the
//! success path never allocates or formats for them. The codes and remark texts are the ones
//! stock clients and our tests match on; change them only to fix a bug.

use std::fmt::Display;

use rocketmq_net::{HeaderError, RemotingCommand, ResponseCode};
use rocketmq_store::record::RecordError;
use rocketmq_store::{PhysOffset, PutError};

use super::role::BrokerRole;
use super::runtime_conf::UpdateError;
use crate::protocol::constants::TopicNameError;
use crate::protocol::message::MessageDecodeError;

/// A JSON body that did not decode (the decoder's own error).
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A broker metadata file that could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataFile {
    /// topics.json.
    Topics,
    /// subscriptionGroup.json.
    Groups,
}

impl MetadataFile {
    fn name(self) -> &'static str {
        match self {
            Self::Topics => "topics",
            Self::Groups => "groups",
        }
    }
}

/// Writing a metadata file failed; the table change was not made durable.
#[derive(Debug)]
pub struct PersistError {
    /// Which file.
    pub file: MetadataFile,
    /// The I/O error.
    pub source: std::io::Error,
}

/// Wraps a table's I/O error: `.map_err(persist(MetadataFile::Topics))`.
pub fn persist(file: MetadataFile) -> impl FnOnce(std::io::Error) -> PersistError {
    move |source| PersistError { file, source }
}

/// SEND_MESSAGE(_V2), SEND_BATCH_MESSAGE and CONSUMER_SEND_MSG_BACK failures.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// The request header does not decode.
    BadHeader(HeaderError),
    /// Creating a topic, retry topic, DLQ or group could not be persisted.
    Persist(PersistError),
    /// The store refused the append.
    Put(PutError),
    /// This broker does not take writes in its current role.
    NotWritableRole {
        /// The role now.
        role: BrokerRole,
    },
    /// The topic name is not valid.
    InvalidTopic {
        /// The name as sent.
        topic: String,
        /// What is wrong with it.
        reason: TopicNameError,
    },
    /// A system topic clients may not send to.
    TopicForbidden {
        /// The topic.
        topic: String,
    },
    /// The topic's permission has no write bit.
    TopicNotWritable {
        /// The topic.
        topic: String,
    },
    /// The topic is unknown and may not be auto-created.
    TopicNotExist {
        /// The topic.
        topic: String,
    },
    /// The requested queue is past the topic's queues.
    QueueIdIllegal {
        /// The topic.
        topic: String,
        /// The queue asked for.
        queue_id: u32,
        /// The topic's write queue count.
        write_queue_nums: i32,
    },
    /// A transactional message that is also delayed or batched (Java refuses both).
    TransactionNotAllowed {
        /// What else the message asked for: "delayed" or "batched".
        what: &'static str,
    },
    /// The consumer group of a retry topic or send-back is unknown.
    GroupNotExist {
        /// The group.
        group: String,
    },
    /// A timer message refused (ADVANCED.md §5.2).
    Timer(TimerRefusal),
    /// A batch to a `%RETRY%` topic.
    BatchToRetryTopic,
    /// A batch topic longer than 127 characters.
    // The fields are for logs (Debug); the stock remark does not name them.
    #[allow(dead_code)]
    BatchTopicTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The batch body does not decode.
    BadBatchBody(MessageDecodeError),
    /// The batch holds no message.
    EmptyBatch,
    /// A batched message asks for a delay level.
    DelayedInBatch,
    /// A wire number that must not be negative is (field named as on the wire).
    NegativeField {
        /// The wire name of the field.
        field: &'static str,
        /// The value sent.
        value: i64,
    },
    /// No message at the commitlog offset of a send-back.
    MessageNotFound {
        /// The offset asked for.
        phys_offset: PhysOffset,
    },
    /// The message at a send-back's offset does not parse.
    StoredMessageUnreadable {
        /// Its offset.
        phys_offset: PhysOffset,
        /// Why.
        reason: RecordError,
    },
}

/// PULL_MESSAGE and LITE_PULL_MESSAGE failures (before the store read).
#[derive(Debug)]
#[non_exhaustive]
pub enum PullError {
    /// The request header does not decode.
    BadHeader(HeaderError),
    /// Auto-creating the group could not be persisted.
    Persist(PersistError),
    /// The consumer group is unknown and may not be auto-created.
    GroupNotExist {
        /// The group.
        group: String,
    },
    /// The group may not consume.
    GroupConsumeDisabled {
        /// The group.
        group: String,
    },
    /// The topic is unknown.
    TopicNotExist {
        /// The topic.
        topic: String,
    },
    /// The topic's permission has no read bit.
    TopicNotReadable {
        /// The topic.
        topic: String,
    },
    /// `queueId` is negative or past the topic's read queues.
    QueueIdIllegal {
        /// The topic.
        topic: String,
        /// The queue asked for, as sent.
        queue_id: i32,
        /// The topic's read queue count.
        read_queue_nums: i32,
    },
    /// `queueOffset` is negative.
    QueueOffsetIllegal {
        /// The value sent.
        queue_offset: i64,
    },
    /// No subscription from a heartbeat and none in the request.
    SubscriptionNotExist {
        /// The group.
        group: String,
        /// The topic.
        topic: String,
    },
    /// The heartbeat's subscription is older than the request's.
    SubscriptionNotLatest {
        /// The group.
        group: String,
    },
    /// The SQL92 expression sent with the pull does not compile.
    SubscriptionParseFailed {
        /// Why, with the place.
        error: crate::filter::ParseError,
    },
    /// The registered SQL92 expression of (group, topic) does not compile, so there is no
    /// filter for it.
    FilterDataNotExist {
        /// The group.
        group: String,
        /// The topic.
        topic: String,
    },
    /// A SQL92 subscription while `enable_property_filter` is off.
    PropertyFilterDisabled,
}

/// Consumer offset and queue offset calls (QUERY/UPDATE_CONSUMER_OFFSET, GET_MAX/MIN_OFFSET,
/// SEARCH_OFFSET_BY_TIMESTAMP, GET_EARLIEST_MSG_STORETIME).
#[derive(Debug)]
#[non_exhaustive]
pub enum OffsetError {
    /// The request header does not decode.
    BadHeader(HeaderError),
    /// `queueId` is negative.
    QueueIdIllegal {
        /// The value sent.
        queue_id: i32,
    },
    /// The group has no committed offset for the queue.
    NotFound,
}

/// HEART_BEAT, UNREGISTER_CLIENT and GET_CONSUMER_LIST_BY_GROUP failures.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientManageError {
    /// The request header does not decode.
    BadHeader(HeaderError),
    /// Creating a group or its retry topic could not be persisted.
    Persist(PersistError),
    /// The HeartbeatData body does not decode.
    BadHeartbeat(BodyError),
    /// No consumer of the group is connected.
    NoConsumer {
        /// The group.
        group: String,
    },
    /// The consumer a request is to be forwarded to is not connected.
    ConsumerNotOnline {
        /// Its client id.
        client_id: String,
    },
    /// The consumer did not answer a forwarded request.
    ConsumerUnreachable {
        /// Its client id.
        client_id: String,
        /// The transport error.
        source: rocketmq_net::NetError,
    },
    /// The CheckClientRequestBody does not decode.
    BadCheckClientBody(BodyError),
    /// CHECK_CLIENT_CONFIG with a SQL92 subscription while `enable_property_filter` is off.
    PropertyFilterDisabled,
    /// CHECK_CLIENT_CONFIG with a SQL92 expression that does not compile.
    SubscriptionParseFailed {
        /// Why, with the place.
        error: crate::filter::ParseError,
    },
}

/// QUERY_MESSAGE and VIEW_MESSAGE_BY_ID failures.
#[derive(Debug)]
#[non_exhaustive]
pub enum QueryError {
    /// The request header does not decode.
    BadHeader(HeaderError),
    /// No message has the key in the time range.
    KeyNotFound {
        /// The key asked for.
        key: String,
    },
    /// `offset` is negative.
    OffsetIllegal {
        /// The value sent.
        offset: i64,
    },
    /// No message at the commitlog offset.
    OffsetNotFound {
        /// The offset asked for.
        phys_offset: PhysOffset,
    },
}

/// Admin calls (topics, groups, stats, connections, reset offset).
#[derive(Debug)]
#[non_exhaustive]
pub enum AdminError {
    /// The request header does not decode.
    BadHeader(HeaderError),
    /// The change could not be persisted.
    Persist(PersistError),
    /// The topic name is not valid.
    InvalidTopic {
        /// The name as sent.
        topic: String,
        /// What is wrong with it.
        reason: TopicNameError,
    },
    /// The topic would shadow the cluster name or the auto-create template.
    TopicConflictsWithSystem {
        /// The topic.
        topic: String,
    },
    /// A queue count outside 1..=1024.
    // The fields are for logs (Debug); the stock remark does not name them.
    #[allow(dead_code)]
    QueueNumsOutOfRange {
        /// readQueueNums as sent.
        read: i32,
        /// writeQueueNums as sent.
        write: i32,
    },
    /// The SubscriptionGroupConfig body does not decode.
    BadGroupConfig(BodyError),
    /// The group config has no name.
    EmptyGroupName,
    /// GET_TOPIC_CONFIG for a topic this broker does not have.
    TopicNotInBroker {
        /// The topic.
        topic: String,
    },
    /// The topic is unknown.
    TopicNotExist {
        /// The topic.
        topic: String,
    },
    /// No consumer of the group is connected.
    ConsumerNotOnline {
        /// The group.
        group: String,
    },
    /// No producer of the group is connected.
    ProducerGroupNotExist {
        /// The group.
        group: String,
    },
    /// UPDATE_BROKER_CONFIG refused.
    Config(UpdateError),
}

/// Why a timer message is refused, as Java's `HookUtils.handleScheduleMessage` decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerRefusal {
    /// `timerWheelEnable` is off.
    NotEnabled,
    /// Further out than `timerMaxDelaySec`, a property that is not a number, or a timer
    /// delete in the past.
    Illegal {
        /// `timerMaxDelaySec` in ms, for the remark.
        max_delay_ms: u64,
    },
}

/// LOCK_BATCH_MQ and UNLOCK_BATCH_MQ failures.
#[derive(Debug)]
#[non_exhaustive]
pub enum LockError {
    /// The LockBatchRequestBody does not decode.
    BadBody(BodyError),
    /// The body lacks a field the lock table needs (wire name).
    MissingField {
        /// `clientId` or `consumerGroup`.
        field: &'static str,
    },
}

/// Failures of SEND_REPLY_MESSAGE(_V2) (request-reply, ADVANCED.md §9).
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplyError {
    /// The reply failed a send check (header, topic, store) before it was pushed.
    Send(SendError),
    /// The reply has no REPLY_TO_CLIENT property, so nobody can receive it.
    NoReplyTo,
    /// No producer connection of the requester is registered here (it is gone, or it never
    /// sent a heartbeat to this broker).
    RequesterGone {
        /// The REPLY_TO_CLIENT client id.
        client_id: String,
    },
    /// PUSH_REPLY_MESSAGE_TO_CLIENT failed or was refused.
    PushFailed {
        /// The REPLY_TO_CLIENT client id.
        client_id: String,
        /// The transport error or the client's answer.
        reason: String,
    },
}

impl From<HeaderError> for ReplyError {
    fn from(e: HeaderError) -> Self {
        Self::Send(SendError::BadHeader(e))
    }
}

impl From<SendError> for ReplyError {
    fn from(e: SendError) -> Self {
        Self::Send(e)
    }
}

impl From<ReplyError> for BrokerError {
    fn from(e: ReplyError) -> Self {
        Self::Reply(e)
    }
}

/// END_TRANSACTION failures. The request is oneway from stock clients, so most of these are
/// only logged; a client that asks for an answer gets the remark.
#[derive(Debug)]
#[non_exhaustive]
pub enum TxnError {
    /// The request header does not decode.
    BadHeader(HeaderError),
    /// This broker does not take writes in its current role.
    NotWritableRole {
        /// The role now.
        role: BrokerRole,
    },
    /// A wire number that must not be negative is (field named as on the wire).
    NegativeField {
        /// The wire name of the field.
        field: &'static str,
        /// The value sent.
        value: i64,
    },
    /// `commitOrRollback` is none of 0, 8 and 12.
    UnknownResolution {
        /// The value sent.
        value: i32,
    },
    /// No message starts at `commitLogOffset`.
    HalfNotFound {
        /// The offset sent.
        phys_offset: PhysOffset,
    },
    /// The message at `commitLogOffset` does not parse.
    HalfUnreadable {
        /// The offset sent.
        phys_offset: PhysOffset,
        /// Why.
        reason: RecordError,
    },
    /// The message at `commitLogOffset` is not a half message.
    NotHalfMessage {
        /// The offset sent.
        phys_offset: PhysOffset,
        /// The topic the message is stored in.
        topic: String,
    },
    /// A field of the request differs from the half message.
    Mismatch {
        /// The wire name of the field.
        field: &'static str,
        /// The half message's value.
        stored: String,
        /// The request's value.
        sent: String,
    },
    /// The half message has no REAL_TOPIC or REAL_QID.
    HalfWithoutRealTopic {
        /// Its offset.
        phys_offset: PhysOffset,
    },
    /// A non-check END after the message's check-immunity window.
    ImmunityExpired {
        /// The window in seconds.
        seconds: i64,
    },
    /// The store refused the committed message or the op entry.
    Put(PutError),
}

/// Any failure a broker processor answers.
#[derive(Debug)]
#[non_exhaustive]
pub enum BrokerError {
    /// Replies of request-reply.
    Reply(ReplyError),
    /// Sends and send-backs.
    Send(SendError),
    /// Pulls.
    Pull(PullError),
    /// Offsets.
    Offset(OffsetError),
    /// Client management.
    ClientManage(ClientManageError),
    /// Message queries.
    Query(QueryError),
    /// Admin calls.
    Admin(AdminError),
    /// Queue locks of orderly consumers.
    Lock(LockError),
    /// END_TRANSACTION.
    Txn(TxnError),
    /// A request code no processor handles.
    RequestNotSupported {
        /// The code.
        code: i32,
    },
}

macro_rules! family_conversions {
    ($($family:ident => $variant:ident),* $(,)?) => {$(
        impl From<$family> for BrokerError {
            fn from(e: $family) -> Self {
                Self::$variant(e)
            }
        }
        impl From<HeaderError> for $family {
            fn from(e: HeaderError) -> Self {
                Self::BadHeader(e)
            }
        }
    )*};
}

family_conversions!(
    SendError => Send,
    PullError => Pull,
    OffsetError => Offset,
    ClientManageError => ClientManage,
    QueryError => Query,
    AdminError => Admin,
    TxnError => Txn,
);

macro_rules! persist_conversions {
    ($($family:ident),*) => {$(
        impl From<PersistError> for $family {
            fn from(e: PersistError) -> Self {
                Self::Persist(e)
            }
        }
    )*};
}

persist_conversions!(SendError, PullError, ClientManageError, AdminError);

impl From<LockError> for BrokerError {
    fn from(e: LockError) -> Self {
        Self::Lock(e)
    }
}

impl From<PutError> for SendError {
    fn from(e: PutError) -> Self {
        Self::Put(e)
    }
}

/// The error response for `e`: its code and remark, no header.
pub fn response(e: impl Into<BrokerError>) -> RemotingCommand {
    let (code, remark) = code_and_remark(&e.into());
    RemotingCommand::response(code.to_i32(), Some(remark))
}

/// The one mapping from a broker failure to what the client sees.
pub fn code_and_remark(e: &BrokerError) -> (ResponseCode, String) {
    match e {
        BrokerError::Send(e) => send(e),
        BrokerError::Pull(e) => pull(e),
        BrokerError::Offset(e) => offset(e),
        BrokerError::ClientManage(e) => client_manage(e),
        BrokerError::Query(e) => query(e),
        BrokerError::Admin(e) => admin(e),
        BrokerError::Lock(e) => lock(e),
        BrokerError::Reply(e) => reply(e),
        BrokerError::Txn(e) => txn(e),
        BrokerError::RequestNotSupported { code } => {
            (ResponseCode::RequestCodeNotSupported, format!(" request type {code} not supported"))
        }
    }
}

/// Java's ReplyMessageProcessor answers a failed push with SYSTEM_ERROR
/// `push reply message to <clientId>fail.`; we keep its start and say why.
fn reply(e: &ReplyError) -> (ResponseCode, String) {
    match e {
        ReplyError::Send(e) => send(e),
        ReplyError::NoReplyTo => {
            with(ResponseCode::MessageIllegal, "reply message without REPLY_TO_CLIENT property")
        }
        ReplyError::RequesterGone { client_id } => with(
            ResponseCode::SystemError,
            format_args!(
                "push reply message to {client_id}fail. the requester is not connected to this \
                 broker"
            ),
        ),
        ReplyError::PushFailed { client_id, reason } => with(
            ResponseCode::SystemError,
            format_args!("push reply message to {client_id}fail. {reason}"),
        ),
    }
}

/// The Java broker answers an undecodable header with SYSTEM_ERROR naming the field.
fn bad_header(e: &HeaderError) -> (ResponseCode, String) {
    (ResponseCode::SystemError, e.to_string())
}

fn persist_failed(e: &PersistError) -> (ResponseCode, String) {
    (ResponseCode::SystemError, format!("cannot persist {}: {}", e.file.name(), e.source))
}

fn with(code: ResponseCode, remark: impl Display) -> (ResponseCode, String) {
    (code, remark.to_string())
}

fn send(e: &SendError) -> (ResponseCode, String) {
    use ResponseCode::*;
    match e {
        SendError::BadHeader(h) => bad_header(h),
        SendError::Persist(p) => persist_failed(p),
        SendError::Put(p) => put(p),
        SendError::NotWritableRole { role } => with(
            ServiceNotAvailable,
            format_args!("service not available now: the broker is a {role}; send to its master"),
        ),
        SendError::InvalidTopic { topic, reason } => {
            with(InvalidParameter, format_args!("topic[{topic}]: {reason}"))
        }
        SendError::TopicForbidden { topic } => {
            with(NoPermission, format_args!("Sending message to topic[{topic}] is forbidden."))
        }
        SendError::TopicNotWritable { topic } => {
            with(NoPermission, format_args!("the topic[{topic}] sending is forbidden"))
        }
        SendError::TopicNotExist { topic } => {
            with(TopicNotExist, format_args!("topic[{topic}] not exist, apply first please!"))
        }
        SendError::QueueIdIllegal { topic, queue_id, write_queue_nums } => with(
            InvalidParameter,
            format_args!(
                "request queueId[{queue_id}] is illegal, topic {topic} has {write_queue_nums} \
                 write queues"
            ),
        ),
        SendError::TransactionNotAllowed { what } => with(
            MessageIllegal,
            format_args!("a transactional message cannot be {what}; send it without that"),
        ),
        SendError::GroupNotExist { group } => {
            with(SubscriptionGroupNotExist, format_args!("subscription group [{group}] not exist"))
        }
        SendError::Timer(TimerRefusal::NotEnabled) => {
            with(SystemError, "accurate timer message is not enabled, timerWheelEnable is false")
        }
        SendError::Timer(TimerRefusal::Illegal { max_delay_ms }) => with(
            MessageIllegal,
            format_args!(
                "timer message illegal, the delay time should not be bigger than the max delay \
                 {max_delay_ms}ms; or if set del msg, the delay time should be bigger than the \
                 current time"
            ),
        ),
        SendError::BatchToRetryTopic => {
            with(MessageIllegal, "batch sends to retry topics are not allowed")
        }
        SendError::BatchTopicTooLong { .. } => {
            with(MessageIllegal, "batch topic longer than 127 characters")
        }
        SendError::BadBatchBody(d) => with(MessageIllegal, format_args!("bad batch body: {d}")),
        SendError::EmptyBatch => with(MessageIllegal, "the batch is empty"),
        SendError::DelayedInBatch => with(MessageIllegal, "batched messages cannot be delayed"),
        SendError::NegativeField { field, value } => negative(field, *value),
        SendError::MessageNotFound { phys_offset } => {
            with(SystemError, format_args!("look message by offset failed, {}", phys_offset.0))
        }
        SendError::StoredMessageUnreadable { phys_offset, reason } => with(
            SystemError,
            format_args!("stored message at {} is unreadable: {reason}", phys_offset.0),
        ),
    }
}

/// INVALID_PARAMETER naming the wire field, in the Java broker's `name[value]` style.
fn negative(field: &str, value: i64) -> (ResponseCode, String) {
    with(
        ResponseCode::InvalidParameter,
        format_args!("{field}[{value}] is illegal: it must not be negative"),
    )
}

/// A store put failure, as a RocketMQ client understands it.
fn put(e: &PutError) -> (ResponseCode, String) {
    use ResponseCode::*;
    match e {
        PutError::MessageTooLarge { size_bytes, max_bytes } => with(
            MessageIllegal,
            format_args!("the message body size {size_bytes} is over the limit {max_bytes}"),
        ),
        PutError::PropertiesTooLarge { size_bytes, max_bytes } => with(
            MessageIllegal,
            format_args!("the message properties size {size_bytes} is over the limit {max_bytes}"),
        ),
        PutError::TopicTooLong { size_bytes, max_bytes } => with(
            MessageIllegal,
            format_args!("the topic length {size_bytes} is over the limit {max_bytes}"),
        ),
        PutError::InvalidBatch { reason } => {
            with(MessageIllegal, format_args!("invalid batch: {reason}"))
        }
        PutError::DiskFull { used_percent } => with(
            ServiceNotAvailable,
            format_args!(
                "service not available now: the disk is full ({used_percent}% used); \
                 writes are refused until space is freed, reads continue"
            ),
        ),
        PutError::StoreFailed { reason } => with(
            ServiceNotAvailable,
            format_args!(
                "service not available now: the store failed ({reason}); restart the broker"
            ),
        ),
        PutError::NotWritable => {
            with(ServiceNotAvailable, "service not available now: the broker is shutting down")
        }
        // Java answers FLUSH_DISK_TIMEOUT with the send result header; the send path adds it.
        PutError::FlushDiskTimeout => {
            with(FlushDiskTimeout, "flush disk timeout: the message is stored")
        }
        PutError::Io(io) => {
            with(SystemError, format_args!("store I/O error while appending: {io}"))
        }
        other => with(SystemError, format_args!("store error: {other}")),
    }
}

/// Java's remark when SQL92 filtering is switched off.
const PROPERTY_FILTER_DISABLED: &str =
    "The broker does not support consumer to filter message by SQL92";

fn pull(e: &PullError) -> (ResponseCode, String) {
    use ResponseCode::*;
    match e {
        PullError::BadHeader(h) => bad_header(h),
        PullError::Persist(p) => persist_failed(p),
        PullError::GroupNotExist { group } => with(
            SubscriptionGroupNotExist,
            format_args!("subscription group [{group}] does not exist"),
        ),
        PullError::GroupConsumeDisabled { group } => {
            with(NoPermission, format_args!("subscription group no permission, {group}"))
        }
        PullError::TopicNotExist { topic } => {
            with(TopicNotExist, format_args!("topic[{topic}] not exist, apply first please!"))
        }
        PullError::TopicNotReadable { topic } => {
            with(NoPermission, format_args!("the topic[{topic}] pulling message is forbidden"))
        }
        PullError::QueueIdIllegal { topic, queue_id, read_queue_nums } => with(
            InvalidParameter,
            format_args!(
                "queueId[{queue_id}] is illegal, topic:[{topic}] topicConfig.readQueueNums:\
                 [{read_queue_nums}]"
            ),
        ),
        PullError::QueueOffsetIllegal { queue_offset } => negative("queueOffset", *queue_offset),
        PullError::SubscriptionNotExist { group, topic } => with(
            SubscriptionNotExist,
            format_args!("the consumer's subscription not exist, group: {group} topic: {topic}"),
        ),
        PullError::SubscriptionNotLatest { group } => with(
            SubscriptionNotLatest,
            format_args!("the consumer's subscription not latest, group: {group}"),
        ),
        PullError::SubscriptionParseFailed { error } => with(
            SubscriptionParseFailed,
            format_args!("parse the consumer's subscription failed: {error}"),
        ),
        PullError::FilterDataNotExist { group, topic } => with(
            FilterDataNotExist,
            format_args!(
                "The broker's consumer filter data is not exist!Your expression may be wrong! \
                 group: {group} topic: {topic}"
            ),
        ),
        PullError::PropertyFilterDisabled => with(SystemError, PROPERTY_FILTER_DISABLED),
    }
}

fn offset(e: &OffsetError) -> (ResponseCode, String) {
    match e {
        OffsetError::BadHeader(h) => bad_header(h),
        OffsetError::QueueIdIllegal { queue_id } => {
            with(ResponseCode::InvalidParameter, format_args!("queueId[{queue_id}] is illegal"))
        }
        OffsetError::NotFound => with(
            ResponseCode::QueryNotFound,
            "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
        ),
    }
}

fn client_manage(e: &ClientManageError) -> (ResponseCode, String) {
    match e {
        ClientManageError::BadHeader(h) => bad_header(h),
        ClientManageError::Persist(p) => persist_failed(p),
        ClientManageError::BadCheckClientBody(b) => {
            with(ResponseCode::SystemError, format_args!("bad CheckClientRequestBody: {b}"))
        }
        ClientManageError::PropertyFilterDisabled => {
            with(ResponseCode::SystemError, PROPERTY_FILTER_DISABLED)
        }
        ClientManageError::SubscriptionParseFailed { error } => {
            with(ResponseCode::SubscriptionParseFailed, format_args!("{error}"))
        }
        ClientManageError::BadHeartbeat(b) => {
            with(ResponseCode::SystemError, format_args!("bad HeartbeatData body: {b}"))
        }
        ClientManageError::NoConsumer { group } => {
            with(ResponseCode::SystemError, format_args!("no consumer for this group, {group}"))
        }
        ClientManageError::ConsumerNotOnline { client_id } => {
            with(ResponseCode::SystemError, format_args!("The Consumer <{client_id}> Not Online"))
        }
        ClientManageError::ConsumerUnreachable { client_id, source } => with(
            ResponseCode::SystemError,
            format_args!("invoke consumer <{client_id}> exception: {source}"),
        ),
    }
}

fn query(e: &QueryError) -> (ResponseCode, String) {
    match e {
        QueryError::BadHeader(h) => bad_header(h),
        QueryError::KeyNotFound { key } => with(
            ResponseCode::QueryNotFound,
            format_args!("can not find message, maybe time range not correct (key {key})"),
        ),
        QueryError::OffsetIllegal { offset } => negative("offset", *offset),
        QueryError::OffsetNotFound { phys_offset } => with(
            ResponseCode::SystemError,
            format_args!("can not find message by the offset, {}", phys_offset.0),
        ),
    }
}

fn lock(e: &LockError) -> (ResponseCode, String) {
    match e {
        LockError::BadBody(b) => {
            with(ResponseCode::SystemError, format_args!("bad LockBatchRequestBody: {b}"))
        }
        LockError::MissingField { field } => {
            with(ResponseCode::InvalidParameter, format_args!("{field} is empty"))
        }
    }
}

fn admin(e: &AdminError) -> (ResponseCode, String) {
    use ResponseCode::*;
    match e {
        AdminError::BadHeader(h) => bad_header(h),
        AdminError::Persist(p) => persist_failed(p),
        AdminError::InvalidTopic { topic, reason } => {
            with(InvalidParameter, format_args!("topic[{topic}]: {reason}"))
        }
        AdminError::TopicConflictsWithSystem { topic } => {
            with(InvalidParameter, format_args!("the topic[{topic}] is conflict with system topic"))
        }
        AdminError::QueueNumsOutOfRange { .. } => {
            with(InvalidParameter, "queue numbers must be between 1 and 1024")
        }
        AdminError::BadGroupConfig(b) => {
            with(SystemError, format_args!("bad SubscriptionGroupConfig body: {b}"))
        }
        AdminError::EmptyGroupName => with(InvalidParameter, "groupName is empty"),
        AdminError::TopicNotInBroker { topic } => {
            with(TopicNotExist, format_args!("No topic in this broker. topic: {topic}"))
        }
        AdminError::TopicNotExist { topic } => {
            with(TopicNotExist, format_args!("topic[{topic}] not exist"))
        }
        AdminError::ConsumerNotOnline { group } => {
            with(ConsumerNotOnline, format_args!("the consumer group[{group}] not online"))
        }
        AdminError::ProducerGroupNotExist { group } => {
            with(SystemError, format_args!("the producer group[{group}] not exist"))
        }
        AdminError::Config(u) => {
            let code = match u {
                UpdateError::Refused(_) => NoPermission,
                UpdateError::Body(_) | UpdateError::Persist(_) => SystemError,
                _ => InvalidParameter,
            };
            with(code, u)
        }
    }
}

fn txn(e: &TxnError) -> (ResponseCode, String) {
    use ResponseCode::*;
    match e {
        TxnError::BadHeader(h) => bad_header(h),
        TxnError::NotWritableRole { role } => with(
            SlaveNotAvailable,
            format_args!("the broker is a {role}; end the transaction on its master"),
        ),
        TxnError::NegativeField { field, value } => negative(field, *value),
        TxnError::UnknownResolution { value } => with(
            InvalidParameter,
            format_args!("commitOrRollback[{value}] is illegal: use 0, 8 (commit) or 12"),
        ),
        TxnError::HalfNotFound { phys_offset } => with(
            SystemError,
            format_args!(
                "find prepared transaction message failed: no message at {}",
                phys_offset.0
            ),
        ),
        TxnError::HalfUnreadable { phys_offset, reason } => with(
            SystemError,
            format_args!("the message at {} is unreadable: {reason}", phys_offset.0),
        ),
        TxnError::NotHalfMessage { phys_offset, topic } => with(
            SystemError,
            format_args!(
                "the message at {} is not a prepared transaction message (topic {topic})",
                phys_offset.0
            ),
        ),
        TxnError::Mismatch { field, stored, sent } => with(
            SystemError,
            format_args!("the {field} of the half message is {stored}, the request says {sent}"),
        ),
        TxnError::HalfWithoutRealTopic { phys_offset } => with(
            SystemError,
            format_args!("the half message at {} has no REAL_TOPIC/REAL_QID", phys_offset.0),
        ),
        TxnError::ImmunityExpired { seconds } => with(
            IllegalOperation,
            format_args!("the check immunity time of {seconds}s has passed; wait for the check"),
        ),
        TxnError::Put(p) => put(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ResponseCode::*;

    fn code(e: impl Into<BrokerError>) -> ResponseCode {
        code_and_remark(&e.into()).0
    }

    fn remark(e: impl Into<BrokerError>) -> String {
        code_and_remark(&e.into()).1
    }

    fn io() -> PersistError {
        persist(MetadataFile::Topics)(std::io::Error::other("disk gone"))
    }

    fn header() -> HeaderError {
        HeaderError::Missing { field: "topic" }
    }

    fn t() -> String {
        "T".to_string()
    }

    #[test]
    fn send_variants_map_to_their_codes() {
        let name = TopicNameError::Empty;
        let bad_batch = crate::protocol::message::decode_batch(&[0, 0]).unwrap_err();
        let cases: Vec<(SendError, ResponseCode)> = vec![
            (SendError::BadHeader(header()), SystemError),
            (SendError::Persist(io()), SystemError),
            (SendError::Put(PutError::NotWritable), ServiceNotAvailable),
            (SendError::NotWritableRole { role: BrokerRole::Slave }, ServiceNotAvailable),
            (SendError::InvalidTopic { topic: t(), reason: name }, InvalidParameter),
            (SendError::TopicForbidden { topic: t() }, NoPermission),
            (SendError::TopicNotWritable { topic: t() }, NoPermission),
            (SendError::TopicNotExist { topic: t() }, TopicNotExist),
            (
                SendError::QueueIdIllegal { topic: t(), queue_id: 9, write_queue_nums: 4 },
                InvalidParameter,
            ),
            (SendError::TransactionNotAllowed { what: "delayed" }, MessageIllegal),
            (SendError::Timer(TimerRefusal::NotEnabled), SystemError),
            (SendError::Timer(TimerRefusal::Illegal { max_delay_ms: 1 }), MessageIllegal),
            (SendError::GroupNotExist { group: "g".into() }, SubscriptionGroupNotExist),
            (SendError::BatchToRetryTopic, MessageIllegal),
            (SendError::BatchTopicTooLong { len: 200 }, MessageIllegal),
            (SendError::BadBatchBody(bad_batch), MessageIllegal),
            (SendError::EmptyBatch, MessageIllegal),
            (SendError::DelayedInBatch, MessageIllegal),
            (SendError::NegativeField { field: "offset", value: -1 }, InvalidParameter),
            (SendError::MessageNotFound { phys_offset: PhysOffset(7) }, SystemError),
            (
                SendError::StoredMessageUnreadable {
                    phys_offset: PhysOffset(7),
                    reason: RecordError::Blank,
                },
                SystemError,
            ),
        ];
        for (e, want) in cases {
            let shown = format!("{e:?}");
            assert_eq!(code(e), want, "{shown}");
        }
    }

    #[test]
    fn put_errors_map_to_their_codes() {
        let cases = [
            (PutError::MessageTooLarge { size_bytes: 5, max_bytes: 4 }, MessageIllegal),
            (PutError::PropertiesTooLarge { size_bytes: 5, max_bytes: 4 }, MessageIllegal),
            (PutError::TopicTooLong { size_bytes: 5, max_bytes: 4 }, MessageIllegal),
            (PutError::InvalidBatch { reason: "mixed" }, MessageIllegal),
            (PutError::DiskFull { used_percent: 96 }, ServiceNotAvailable),
            (
                PutError::StoreFailed {
                    reason: rocketmq_store::StoreFailure::CommitlogFlush {
                        source: std::sync::Arc::new(std::io::Error::other("eio")),
                    },
                },
                ServiceNotAvailable,
            ),
            (PutError::NotWritable, ServiceNotAvailable),
            (PutError::FlushDiskTimeout, FlushDiskTimeout),
            (PutError::Io(std::io::Error::other("eio")), SystemError),
        ];
        for (e, want) in cases {
            let shown = format!("{e:?}");
            assert_eq!(code(SendError::Put(e)), want, "{shown}");
        }
    }

    #[test]
    fn pull_variants_map_to_their_codes() {
        let g = || "cg".to_string();
        let cases: Vec<(PullError, ResponseCode)> = vec![
            (PullError::BadHeader(header()), SystemError),
            (PullError::Persist(io()), SystemError),
            (PullError::GroupNotExist { group: g() }, SubscriptionGroupNotExist),
            (PullError::GroupConsumeDisabled { group: g() }, NoPermission),
            (PullError::TopicNotExist { topic: t() }, TopicNotExist),
            (PullError::TopicNotReadable { topic: t() }, NoPermission),
            (
                PullError::QueueIdIllegal { topic: t(), queue_id: -1, read_queue_nums: 4 },
                InvalidParameter,
            ),
            (PullError::QueueOffsetIllegal { queue_offset: -1 }, InvalidParameter),
            (PullError::SubscriptionNotExist { group: g(), topic: t() }, SubscriptionNotExist),
            (PullError::SubscriptionNotLatest { group: g() }, SubscriptionNotLatest),
            (PullError::PropertyFilterDisabled, SystemError),
            (PullError::FilterDataNotExist { group: g(), topic: t() }, FilterDataNotExist),
            (
                PullError::SubscriptionParseFailed {
                    error: crate::filter::Selector::parse("a >").unwrap_err(),
                },
                SubscriptionParseFailed,
            ),
        ];
        for (e, want) in cases {
            let shown = format!("{e:?}");
            assert_eq!(code(e), want, "{shown}");
        }
    }

    #[test]
    fn offset_client_query_and_admin_variants_map_to_their_codes() {
        let g = || "cg".to_string();
        assert_eq!(code(OffsetError::BadHeader(header())), SystemError);
        assert_eq!(code(OffsetError::QueueIdIllegal { queue_id: -1 }), InvalidParameter);
        assert_eq!(code(OffsetError::NotFound), QueryNotFound);
        assert_eq!(code(ClientManageError::BadHeader(header())), SystemError);
        assert_eq!(code(ClientManageError::Persist(io())), SystemError);
        assert_eq!(code(ClientManageError::BadHeartbeat("eof".into())), SystemError);
        assert_eq!(code(ClientManageError::PropertyFilterDisabled), SystemError);
        let error = crate::filter::Selector::parse("a >").unwrap_err();
        assert_eq!(
            code(ClientManageError::SubscriptionParseFailed { error }),
            SubscriptionParseFailed
        );
        assert_eq!(code(ClientManageError::NoConsumer { group: g() }), SystemError);
        let client_id = "c1".to_string();
        assert_eq!(code(ClientManageError::ConsumerNotOnline { client_id }), SystemError);
        assert_eq!(code(QueryError::BadHeader(header())), SystemError);
        assert_eq!(code(QueryError::KeyNotFound { key: "k".into() }), QueryNotFound);
        assert_eq!(code(QueryError::OffsetIllegal { offset: -1 }), InvalidParameter);
        assert_eq!(code(QueryError::OffsetNotFound { phys_offset: PhysOffset(1) }), SystemError);
        let admin: Vec<(AdminError, ResponseCode)> = vec![
            (AdminError::BadHeader(header()), SystemError),
            (AdminError::Persist(io()), SystemError),
            (
                AdminError::InvalidTopic { topic: t(), reason: TopicNameError::Empty },
                InvalidParameter,
            ),
            (AdminError::TopicConflictsWithSystem { topic: t() }, InvalidParameter),
            (AdminError::QueueNumsOutOfRange { read: 0, write: 1 }, InvalidParameter),
            (AdminError::BadGroupConfig("eof".into()), SystemError),
            (AdminError::EmptyGroupName, InvalidParameter),
            (AdminError::TopicNotInBroker { topic: t() }, TopicNotExist),
            (AdminError::TopicNotExist { topic: t() }, TopicNotExist),
            (AdminError::ConsumerNotOnline { group: g() }, ConsumerNotOnline),
            (AdminError::ProducerGroupNotExist { group: g() }, SystemError),
            (AdminError::Config(UpdateError::Refused("brokerName".into())), NoPermission),
            (AdminError::Config(UpdateError::UnknownKey("x".into())), InvalidParameter),
            (AdminError::Config(UpdateError::Invalid("x".into())), InvalidParameter),
            (AdminError::Config(UpdateError::Body("x".into())), SystemError),
        ];
        for (e, want) in admin {
            let shown = format!("{e:?}");
            assert_eq!(code(e), want, "{shown}");
        }
        assert_eq!(code(BrokerError::RequestNotSupported { code: 9999 }), RequestCodeNotSupported);
        assert_eq!(code(LockError::BadBody("eof".into())), SystemError);
        assert_eq!(code(LockError::MissingField { field: "clientId" }), InvalidParameter);
        assert_eq!(remark(LockError::MissingField { field: "clientId" }), "clientId is empty");
    }

    #[test]
    fn remarks_keep_the_stock_texts() {
        assert_eq!(
            remark(SendError::TopicNotExist { topic: t() }),
            "topic[T] not exist, apply first please!"
        );
        assert_eq!(
            remark(PullError::QueueIdIllegal { topic: t(), queue_id: -1, read_queue_nums: 4 }),
            "queueId[-1] is illegal, topic:[T] topicConfig.readQueueNums:[4]"
        );
        assert_eq!(remark(OffsetError::QueueIdIllegal { queue_id: -1 }), "queueId[-1] is illegal");
        assert_eq!(remark(io_err_groups()), "cannot persist groups: disk gone");
        assert_eq!(
            remark(BrokerError::RequestNotSupported { code: 9999 }),
            " request type 9999 not supported"
        );
    }

    #[test]
    fn new_invalid_parameter_remarks_name_the_field() {
        let r = remark(PullError::QueueOffsetIllegal { queue_offset: -5 });
        assert!(r.starts_with("queueOffset[-5]"), "{r}");
        let r = remark(SendError::NegativeField { field: "offset", value: -1 });
        assert!(r.starts_with("offset[-1]"), "{r}");
        let r = remark(QueryError::OffsetIllegal { offset: -2 });
        assert!(r.starts_with("offset[-2]"), "{r}");
    }

    fn io_err_groups() -> ClientManageError {
        ClientManageError::Persist(persist(MetadataFile::Groups)(std::io::Error::other(
            "disk gone",
        )))
    }
}
