//! Typed RocketMQ protocol: request/response headers and JSON bodies.
//!
//! `rocketmq-net` owns the frame and the untyped `ExtFields` map; this module turns those maps into
//! typed structs at the edge (one file per header family in `header/`) and owns the JSON bodies
//! that clients parse (`body/`). Nothing here does I/O.
//!
//! Invariant: every header we *send* writes all fields stock clients treat as required (see
//! PROTOCOL.md §9.7), and every header we *receive* is decoded leniently.

pub mod body;
pub mod constants;
pub mod header;
pub mod json;
pub mod message;
pub mod properties;
#[cfg(test)]
pub(crate) mod testing;
