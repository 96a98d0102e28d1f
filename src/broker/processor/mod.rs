//! Request processors, one per worker pool: sends (and send-backs), pulls, and everything else
//! (client management, offsets, queries, admin). Each turns typed headers into calls on the
//! broker's components and answers every failure with a specific code and remark.

// Handlers return `Result<response, error response>`: both sides are a RemotingCommand that is
// written to the wire as is, so boxing the error side would only add an allocation per failure.
#![allow(clippy::result_large_err)]

mod admin;
mod client_manage;
mod consumer_offset;
pub mod pull;
mod query;
pub(crate) mod send;

use rocketmq_net::{CommandHeader, RemotingCommand};

pub use admin::AdminProcessor;
pub use pull::PullProcessor;
pub use send::SendProcessor;

use crate::remoting::bad_header;

/// A handler's result: the error side is also a complete response.
pub(crate) type Handled = Result<RemotingCommand, RemotingCommand>;

/// Decodes a typed header, or the SYSTEM_ERROR response naming the bad field.
pub(crate) fn header<H: CommandHeader>(req: &RemotingCommand) -> Result<H, RemotingCommand> {
    req.decode_header::<H>().map_err(|e| bad_header(&e))
}
