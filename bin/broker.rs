//! `broker`: the RocketMQ-compatible broker.
//!
//! Usage: broker [-c conf/broker.ron] [-port 10911] [-name broker-a] [-cluster DefaultCluster]
//!               [-nameserver 127.0.0.1:9876] [-store DIR] [-ip ADVERTISED_IP] [-flush sync|async]
//! NAMESRV_ADDR is used when neither the file nor -nameserver names a nameserver.

use std::path::PathBuf;
use std::process::ExitCode;

use rocketmq::broker::{Broker, BrokerConfig, RawBrokerConfig};
use rocketmq::config::{load_ron, parse_flags, ConfigError};

#[path = "signals.rs"]
mod signals;

const USAGE: &str = "usage: broker [-c FILE.ron] [-port PORT] [-name NAME] [-cluster CLUSTER]
              [-nameserver HOST:PORT[;HOST:PORT]] [-store DIR] [-ip IP] [-flush sync|async]
              [-autoCreateTopic true|false]
  -c FILE          RON config file (see conf/broker.ron); flags override it
  -port PORT       listen port (default 10911)
  -name NAME       broker name (default broker-a)
  -cluster NAME    cluster name (default DefaultCluster)
  -nameserver LIST nameserver addresses, ';'-separated (default: $NAMESRV_ADDR)
  -store DIR       store directory (default ~/store)
  -ip IP           IPv4 address clients should use (advertised in routes and message ids)
  -flush MODE      sync (group commit before acknowledging) or async (default)";

fn load(args: &[String]) -> Result<Option<BrokerConfig>, ConfigError> {
    let flags = parse_flags(args)?;
    if flags.iter().any(|(k, _)| k == "help") {
        return Ok(None);
    }
    let mut raw = match flags.iter().find(|(k, _)| k == "c" || k == "config") {
        Some((_, path)) => load_ron::<RawBrokerConfig>(&PathBuf::from(path))?,
        None => RawBrokerConfig::default(),
    };
    for (k, v) in flags.iter().filter(|(k, _)| k != "c" && k != "config") {
        raw.apply_flag(k, v)?;
    }
    if raw.namesrv_addr.is_none() {
        raw.namesrv_addr = std::env::var("NAMESRV_ADDR").ok().filter(|s| !s.is_empty());
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
            eprintln!("broker: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let stop = match signals::install() {
        Ok(rx) => rx,
        Err(e) => {
            eprintln!("broker: cannot install signal handler: {e}");
            return ExitCode::FAILURE;
        }
    };
    if config.namesrv_addrs.is_empty() {
        log::warn!(
            "no nameserver configured (-nameserver or NAMESRV_ADDR): clients cannot find us"
        );
    }
    let remote_namesrv = config.namesrv_addrs.iter().any(|a| !is_loopback(a));
    if config.advertised_addr.ip().is_loopback() && remote_namesrv {
        log::warn!(
            "advertising loopback address {} to remote nameservers: remote clients cannot reach \
             it; set broker_ip / -ip",
            config.advertised_addr
        );
    }
    let store_path = config.store.store_path.clone();
    let namesrv = config.namesrv_addrs.join(";");
    let broker = match Broker::start(config) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("broker: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "The broker[{}] boot success. listen={} ha_port={} store={} registered_as={} nameserver={}",
        broker.name(),
        broker.local_addr(),
        broker.local_addr().port() + 1,
        store_path.display(),
        broker.advertised_addr(),
        if namesrv.is_empty() { "(none)" } else { &namesrv },
    );
    let _ = stop.recv();
    log::info!("shutting down: finishing in-flight requests, flushing, unregistering");
    broker.shutdown();
    println!("The broker shut down cleanly.");
    ExitCode::SUCCESS
}

fn is_loopback(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
