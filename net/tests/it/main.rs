//! Integration tests for rocketmq-net: one binary, one module per scenario. Every server here
//! listens on 127.0.0.1:0.

mod support;

mod connection_limits;
mod golden_frames;
mod hooks;
mod inline;
mod malformed_input;
mod oneway_backpressure;
mod panic_policy;
mod reply_channel;
mod restart_in_place;
mod round_trips;
mod server_behaviour;
mod server_requests;
mod timeouts;
