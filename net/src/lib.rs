//! Rust-RocketMQ remoting: the pure frame codec ([`protocol`]), the mio server ([`server`]) and
//! the blocking client ([`client`]).
//!
//! See `net/README.md` for the codemap, the request path and the threads.

#![warn(missing_docs)]

pub mod client;
pub mod error;
mod frame_buf;
mod opaque_map;
pub mod panic_policy;
pub mod protocol;
pub mod server;

pub use client::{ClientConfig, RemotingClient, RequestHandler, RpcHook};
pub use error::NetError;
pub use protocol::{
    request_code, response_code, CommandHeader, DecodeError, EncodeError, ExtFields, HeaderError,
    LanguageCode, RemotingCommand, RequestCode, ResponseCode, SerializeType,
};
pub use server::{
    Admission, Connection, ConnectionId, Inline, PoolId, Processor, RequestContext, RequestHook,
    RequestOutcome, Responder, Server, ServerBuilder, ServerConfig, ServerObserver, ServerStats,
};
