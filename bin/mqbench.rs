//! `mqbench`: load generator for RocketMQ-compatible brokers.
//!
//! Usage: `mqbench [-n host:9876] produce|consume [options] [--json]`; `mqbench help produce`.
//! Exit codes: 0 done, 1 the run failed or lost track of messages, 2 usage error.

/// mimalloc: a third less CPU per message than glibc malloc under our cross-thread
/// allocation pattern (docs/ARCHITECTURE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    rocketmq::tools::bench::main()
}
