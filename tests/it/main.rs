//! The root crate's integration tests, built as one binary (one link instead of four): each
//! module is a scenario family against the real `nameserver` and `broker` binaries, or against
//! a fake peer.
//!
//! Run one family with `cargo test --test it client_e2e::`.

mod acl;
mod broker_e2e;
mod client_compat;
mod client_e2e;
mod config_files;
mod multihost;
mod orderly;
mod request_reply;
mod route_recovery;
mod service;
mod sql92;
mod stock_bodies;
mod support;
mod timers;
mod tools_e2e;
mod transactions;
