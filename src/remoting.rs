//! Small helpers for building responses, shared by the nameserver and broker processors.

use rocketmq_net::{CommandHeader, HeaderError, RemotingCommand, ResponseCode};

/// A SUCCESS response with no header and no body.
pub fn success() -> RemotingCommand {
    RemotingCommand::response(ResponseCode::Success.to_i32(), None)
}

/// A SUCCESS response carrying a typed header.
pub fn success_with<H: CommandHeader>(header: &H) -> RemotingCommand {
    success().with_header(header)
}

/// An error response with a remark.
pub fn error(code: ResponseCode, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::response(code.to_i32(), Some(remark.into()))
}

/// The response to a request whose header does not decode: SYSTEM_ERROR naming the field, as the
/// Java broker answers.
pub fn bad_header(err: &HeaderError) -> RemotingCommand {
    error(ResponseCode::SystemError, err.to_string())
}

/// The response for a request code nobody handles.
pub fn not_supported(code: i32) -> RemotingCommand {
    error(ResponseCode::RequestCodeNotSupported, format!(" request type {code} not supported"))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
