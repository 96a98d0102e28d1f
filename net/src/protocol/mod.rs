//! The pure remoting codec: frames, both header encodings, codes, extFields and typed headers.
//!
//! **Invariant:** nothing in here does I/O or imports mio or `std::net`; every function works on
//! byte slices, so the whole module can be fuzzed and run under miri. Every length read from the
//! wire is checked against the bytes actually present (and the configured frame limit) before
//! anything is allocated, and no input can make these functions panic.
//!
//! Wire layout (PROTOCOL.md §1), all integers big-endian:
//!
//! ```text
//! [len: i32 = 4 + hlen + blen][type: u8 | hlen: u24][header: hlen bytes][body: blen bytes]
//! ```

mod binary;
mod codes;
mod command;
mod error;
mod ext_fields;
mod frame;
mod json;
mod language;
#[cfg(test)]
mod proptests;

pub use codes::{request_code, response_code, RequestCode, ResponseCode};
pub use command::{next_opaque, RemotingCommand, DEFAULT_VERSION, FLAG_ONEWAY, FLAG_RESPONSE};
pub use error::{DecodeError, EncodeError};
pub use ext_fields::{CommandHeader, ExtFields, HeaderError};
pub use frame::{frame_len, SerializeType, FRAME_MAX_BYTES_DEFAULT, HEADER_MAX_BYTES};
pub use language::LanguageCode;
