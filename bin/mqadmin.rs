//! `mqadmin`: administer a RocketMQ-compatible cluster with RocketMQ's command names and flags.
//!
//! Usage: `mqadmin <command> [-n host:9876] [options] [--json]`; `mqadmin help <command>`.
//! Exit codes: 0 success, 1 the command failed, 2 usage error.

fn main() -> std::process::ExitCode {
    rocketmq::tools::mqadmin::main()
}
