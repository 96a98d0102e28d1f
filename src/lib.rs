//! Rust-RocketMQ: a message queue that speaks Apache RocketMQ's remoting protocol.
//!
//! This crate holds the blocking client and the typed protocol headers and bodies, and, behind
//! cargo features, the nameserver, the broker and the tools. Storage lives in `rocketmq-store`,
//! networking in `rocketmq-net`.
//!
//! # Features
//!
//! - `server`: the nameserver and the broker (pulls in `rocketmq-store` and `ron`).
//! - `tools`: mqadmin and mqbench as library code (pulls in `clap` and `hdrhistogram`).
//! - `binaries` (default): both of the above plus what `bin/` needs (logging, signals,
//!   the global allocator).
//!
//! An application that only produces and consumes depends on this crate with
//! `default-features = false` and compiles only [`client`], [`protocol`], [`filter`] (SQL92
//! selectors) and `rocketmq-net`.

pub use rocketmq_net as net;
#[cfg(feature = "server")]
pub use rocketmq_store as store;

pub mod acl;
#[cfg(feature = "server")]
pub mod broker;
pub mod client;
#[cfg(feature = "server")]
pub mod config;
pub mod filter;
#[cfg(feature = "binaries")]
pub mod logging;
#[cfg(feature = "server")]
pub mod nameserver;
pub mod protocol;
#[cfg(feature = "server")]
pub mod remoting;
#[cfg(feature = "binaries")]
pub mod service;
#[cfg(feature = "tools")]
pub mod tools;
