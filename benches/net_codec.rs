//! Header encode/decode cost per operation, JSON and ROCKETMQ binary, for a SEND_MESSAGE_V2
//! request (14 ext fields, 128 B body) and a typical send response.
//!
//! Run: `cargo bench --bench net_codec`
//!
//! The source lives in `net/benches/net_codec.rs` so that it also builds with `-p rocketmq-net`.

include!("../net/benches/net_codec.rs");
