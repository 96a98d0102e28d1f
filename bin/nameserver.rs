//! `nameserver`: the RocketMQ-compatible name server.
//!
//! Usage: `nameserver [-c conf/nameserver.ron] [-port 9876] [-bind 0.0.0.0] [-expire 120000]`

use std::process::ExitCode;

use rocketmq::nameserver::{NameServer, RawNamesrvConfig};

#[path = "common.rs"]
mod common;

const USAGE: &str =
    "usage: nameserver [-c FILE] [-p | -m] [-port PORT] [-bind IP] [-expire MS] [-kv FILE]
  -p          print every setting (Java key=value) and exit; -m: the important ones
  -c FILE     config file: RON if it ends in .ron (conf/nameserver.ron), else Java
              properties (conf/namesrv.properties, docs/CONFIG.md); flags override it
  -port PORT  listen port (default 9876)
  -bind IP    bind address (default 0.0.0.0)
  -expire MS  drop brokers silent for this long (default 120000)
  -kv FILE    persist KV config to FILE";

/// mimalloc: a third less CPU per message than glibc malloc under our cross-thread
/// allocation pattern (docs/ARCHITECTURE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn namesrv_java_properties(raw: &RawNamesrvConfig) -> Vec<(String, String)> {
    rocketmq::nameserver::java_properties(raw)
}

fn main() -> ExitCode {
    let print = common::PrintConfig { pairs: namesrv_java_properties, important: &["listenPort"] };
    let (config, stop) = match common::start("nameserver", USAGE, print, RawNamesrvConfig::validate)
    {
        Ok(started) => started,
        Err(code) => return code,
    };
    let server = match NameServer::start(config.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("nameserver: cannot start on {}: {e}", config.listen_addr);
            return ExitCode::FAILURE;
        }
    };
    println!("The Name Server boot success. serializeType=JSON, address {}", server.local_addr());
    common::notify_service("READY=1");
    let _ = stop.recv();
    common::notify_service("STOPPING=1");
    log::info!("shutting down");
    server.shutdown();
    println!("The Name Server shut down.");
    ExitCode::SUCCESS
}
