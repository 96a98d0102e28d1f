//! Rust-RocketMQ: a message queue that speaks Apache RocketMQ's remoting protocol.
//!
//! This crate holds the nameserver, the broker, the blocking client and the typed protocol
//! headers and bodies. Storage lives in `rocketmq-store`, networking in `rocketmq-net`.

pub use rocketmq_net as net;
pub use rocketmq_store as store;

pub mod broker;
pub mod client;
pub mod config;
pub mod nameserver;
pub mod protocol;
pub mod remoting;
pub mod tools;
