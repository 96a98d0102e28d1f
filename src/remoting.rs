//! Small helpers for building success responses, shared by the nameserver and broker
//! processors. Error responses are built only by each side's error module
//! (`broker::error`, `nameserver::error`).

use rocketmq_net::{CommandHeader, RemotingCommand, ResponseCode};

/// A SUCCESS response with no header and no body.
pub fn success() -> RemotingCommand {
    RemotingCommand::response(ResponseCode::Success.to_i32(), None)
}

/// A SUCCESS response carrying a typed header.
pub fn success_with<H: CommandHeader>(header: &H) -> RemotingCommand {
    success().with_header(header)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
