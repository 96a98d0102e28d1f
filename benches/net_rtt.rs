//! Round trips through the remoting server with an echo processor, next to the raw loopback TCP
//! round trip measured in the same run.
//!
//! * raw: a blocking ping-pong of a frame-sized message over std `TcpStream`s;
//! * 1 in flight: `invoke_sync` in a loop, p50 / p99 / p99.9;
//! * 64 in flight: ops/s, (a) one closed loop of `invoke_async` keeping 64 calls in flight,
//!   (b) 64 threads calling `invoke_sync`.
//!
//! Run: `cargo bench --bench net_rtt`
//!
//! The source lives in `net/benches/net_rtt.rs` so that it also builds with `-p rocketmq-net`.

include!("../net/benches/net_rtt.rs");
