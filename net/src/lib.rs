//! Rust-RocketMQ remoting: the pure frame codec ([`protocol`]), the mio server ([`server`]) and
//! the blocking client ([`client`]).
//!
//! See `net/README.md` for how the pieces fit together.

pub mod protocol;

pub use protocol::{
    request_code, response_code, CommandHeader, DecodeError, EncodeError, ExtFields, HeaderError,
    LanguageCode, RemotingCommand, RequestCode, ResponseCode, SerializeType,
};
