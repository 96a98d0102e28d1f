//! The one place where broker-side failures become response codes and remarks.

use rocketmq_net::{RemotingCommand, ResponseCode};
use rocketmq_store::PutError;

use crate::remoting::error;

/// Maps a store put failure to the response a RocketMQ client understands.
pub fn put_error_response(e: &PutError) -> RemotingCommand {
    match e {
        PutError::MessageTooLarge { size_bytes, max_bytes } => error(
            ResponseCode::MessageIllegal,
            format!("the message body size {size_bytes} is over the limit {max_bytes}"),
        ),
        PutError::PropertiesTooLarge { size_bytes, max_bytes } => error(
            ResponseCode::MessageIllegal,
            format!("the message properties size {size_bytes} is over the limit {max_bytes}"),
        ),
        PutError::TopicTooLong { size_bytes, max_bytes } => error(
            ResponseCode::MessageIllegal,
            format!("the topic length {size_bytes} is over the limit {max_bytes}"),
        ),
        PutError::InvalidBatch { reason } => {
            error(ResponseCode::MessageIllegal, format!("invalid batch: {reason}"))
        }
        PutError::DiskFull { used_percent } => error(
            ResponseCode::ServiceNotAvailable,
            format!(
                "service not available now: the disk is full ({used_percent}% used); \
                 writes are refused until space is freed, reads continue"
            ),
        ),
        PutError::StoreFailed { reason } => error(
            ResponseCode::ServiceNotAvailable,
            format!("service not available now: the store failed ({reason}); restart the broker"),
        ),
        PutError::NotWritable => error(
            ResponseCode::ServiceNotAvailable,
            "service not available now: the broker is shutting down",
        ),
        PutError::FlushDiskTimeout => {
            // Java answers FLUSH_DISK_TIMEOUT with the send result header; callers add it.
            error(ResponseCode::FlushDiskTimeout, "flush disk timeout: the message is stored")
        }
        PutError::Io(io) => {
            error(ResponseCode::SystemError, format!("store I/O error while appending: {io}"))
        }
        other => error(ResponseCode::SystemError, format!("store error: {other}")),
    }
}

/// A failure to persist broker metadata (topics, groups).
pub fn io_response(what: &str, e: &std::io::Error) -> RemotingCommand {
    error(ResponseCode::SystemError, format!("cannot persist {what}: {e}"))
}
