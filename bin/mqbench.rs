//! `mqbench`: load generator for RocketMQ-compatible brokers.
//!
//! Usage: mqbench [-n host:9876] produce|consume [options] [--json]; `mqbench help produce`.
//! Exit codes: 0 done, 1 the run failed or lost track of messages, 2 usage error.

fn main() -> std::process::ExitCode {
    rocketmq::tools::bench::main()
}
