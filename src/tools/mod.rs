//! Command-line tools over the client library: `mqadmin` (RocketMQ's admin CLI: same command
//! names, flags and `#Header` column layouts, plus `--json` and stable exit codes) and `mqbench`
//! (a load generator reporting HDR-histogram latencies and checking that every message is
//! accounted for). The binaries in `bin/` only call [`mqadmin::main`] and [`bench::main`];
//! parsing, running and formatting live here so that they are unit-tested.

pub mod bench;
pub mod mqadmin;
pub mod text;
