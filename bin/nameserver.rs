//! `nameserver`: the RocketMQ-compatible name server.
//!
//! Usage: nameserver [-c conf/nameserver.ron] [-port 9876] [-bind 0.0.0.0] [-expire 120000]

use std::path::PathBuf;
use std::process::ExitCode;

use rocketmq::config::{load_ron, parse_flags, ConfigError};
use rocketmq::nameserver::{NameServer, NamesrvConfig, RawNamesrvConfig};

#[path = "signals.rs"]
mod signals;

const USAGE: &str =
    "usage: nameserver [-c FILE.ron] [-port PORT] [-bind IP] [-expire MS] [-kv FILE]
  -c FILE     RON config file (see conf/nameserver.ron); flags override it
  -port PORT  listen port (default 9876)
  -bind IP    bind address (default 0.0.0.0)
  -expire MS  drop brokers silent for this long (default 120000)
  -kv FILE    persist KV config to FILE";

fn load(args: &[String]) -> Result<Option<NamesrvConfig>, ConfigError> {
    let flags = parse_flags(args)?;
    if flags.iter().any(|(k, _)| k == "help") {
        return Ok(None);
    }
    let mut raw = match flags.iter().find(|(k, _)| k == "c" || k == "config") {
        Some((_, path)) => load_ron::<RawNamesrvConfig>(&PathBuf::from(path))?,
        None => RawNamesrvConfig::default(),
    };
    for (k, v) in flags.iter().filter(|(k, _)| k != "c" && k != "config") {
        raw.apply_flag(k, v)?;
    }
    raw.validate().map(Some)
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match load(&args) {
        Ok(Some(c)) => c,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("nameserver: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let stop = match signals::install() {
        Ok(rx) => rx,
        Err(e) => {
            eprintln!("nameserver: cannot install signal handler: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = match NameServer::start(config.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("nameserver: cannot start on {}: {e}", config.listen_addr);
            return ExitCode::FAILURE;
        }
    };
    println!("The Name Server boot success. serializeType=JSON, address {}", server.local_addr());
    let _ = stop.recv();
    log::info!("shutting down");
    server.shutdown();
    println!("The Name Server shut down.");
    ExitCode::SUCCESS
}
