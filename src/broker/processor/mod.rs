//! Request processors, one per worker pool: sends (and send-backs), pulls, and everything else
//! (client management, offsets, queries, admin). Each turns typed headers into calls on the
//! broker's components and returns a typed result: the response, or its family's error from
//! `broker::error`, which the pool's dispatch turns into the error response (the only place
//! that does).

mod admin;
mod client_manage;
mod consumer_offset;
mod lock;
pub mod pull;
mod query;
pub(crate) mod send;

use rocketmq_net::{CommandHeader, HeaderError, RemotingCommand};

pub use admin::AdminProcessor;
pub use pull::PullProcessor;
pub use send::SendProcessor;

/// A handler's result: the response, or the family error `E` it failed with.
pub(crate) type Handled<E> = Result<RemotingCommand, E>;

/// Decodes a typed header; the error names the bad field (the family error wraps it).
pub(crate) fn header<H: CommandHeader>(req: &RemotingCommand) -> Result<H, HeaderError> {
    req.decode_header::<H>()
}
