//! `broker`: the RocketMQ-compatible broker.
//!
//! ```text
//! broker [-c conf/broker.ron] [-port 10911] [-name broker-a] [-cluster DefaultCluster]
//!        [-nameserver 127.0.0.1:9876] [-store DIR] [-ip ADVERTISED_IP] [-flush sync|async]
//! ```
//! NAMESRV_ADDR is used when neither the file nor -nameserver names a nameserver.

use std::process::ExitCode;

use rocketmq::broker::{Broker, BrokerConfig, RawBrokerConfig};
use rocketmq::config::ConfigError;

#[path = "common.rs"]
mod common;

const USAGE: &str = "usage: broker [-c FILE] [-p | -m | -check live|ready] [-port PORT] [-name NAME] [-cluster CLUSTER]
              [-nameserver HOST:PORT[;HOST:PORT]] [-store DIR] [-ip IP] [-flush sync|async]
              [-autoCreateTopic true|false]
  -check live|ready  health check of the broker this config describes, then exit: live =
                   it answers; ready = it also accepts writes and a nameserver routes to it
  -p               print every setting (Java key=value) and exit; -m: the important ones
  -c FILE          config file: RON if it ends in .ron (conf/broker.ron), else a Java
                   broker.conf (conf/broker.conf, docs/CONFIG.md); flags override it
  -port PORT       listen port (default 10911)
  -name NAME       broker name (default broker-a)
  -cluster NAME    cluster name (default DefaultCluster)
  -nameserver LIST nameserver addresses, ';'-separated (default: $NAMESRV_ADDR)
  -store DIR       store directory (default ~/store)
  -ip IP           IPv4 address clients should use (advertised in routes and message ids)
  -flush MODE      sync (group commit before acknowledging) or async (default)";

/// What `-m` prints: the settings Java marks `@ImportantField`, that we have.
const IMPORTANT: &[&str] = &[
    "brokerClusterName",
    "brokerName",
    "brokerId",
    "namesrvAddr",
    "listenPort",
    "brokerIP1",
    "storePathRootDir",
    "flushDiskType",
    "brokerRole",
    "autoCreateTopicEnable",
    "autoCreateSubscriptionGroup",
    "deleteWhen",
    "fileReservedTime",
    "maxMessageSize",
];

fn broker_java_properties(raw: &RawBrokerConfig) -> Vec<(String, String)> {
    rocketmq::broker::java_properties(raw)
}

/// Like the file's `namesrv_addr`, but falling back to NAMESRV_ADDR.
fn validate(mut raw: RawBrokerConfig) -> Result<BrokerConfig, ConfigError> {
    if raw.namesrv_addr.is_none() {
        raw.namesrv_addr = std::env::var("NAMESRV_ADDR").ok().filter(|s| !s.is_empty());
    }
    raw.validate()
}

/// mimalloc: a third less CPU per message than glibc malloc under our cross-thread
/// allocation pattern (docs/ARCHITECTURE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `broker -check live|ready [-c FILE] [flags]`: a health check for scripts, load balancers and
/// service managers, against the broker the same config describes. `live`: it answers
/// requests. `ready`: it answers, its store accepts writes, and a nameserver routes to it.
/// Exit 0 when the check holds, 1 (with the reason on stderr) when not, 2 on a bad command line.
fn check(kind: &str, args: &[String]) -> ExitCode {
    let config = match rocketmq::config::load_raw::<RawBrokerConfig>(args) {
        Ok(Some(raw)) => match validate(raw) {
            Ok(c) => c,
            Err(e) => return check_usage(&e.to_string()),
        },
        Ok(None) => return check_usage("-check takes live or ready"),
        Err(e) => return check_usage(&e.to_string()),
    };
    let addr = config.advertised_addr.to_string();
    let namesrv = config.namesrv_addrs.join(";");
    let admin = rocketmq::client::Admin::builder()
        .name_server(if namesrv.is_empty() { "127.0.0.1:9876" } else { &namesrv })
        .timeout(std::time::Duration::from_secs(3))
        .build();
    let admin = match admin {
        Ok(a) => a,
        Err(e) => return check_failed(&format!("cannot build a client: {e}")),
    };
    let info = match admin.broker_runtime_info(&addr) {
        Ok(info) => info,
        Err(e) => return check_failed(&format!("broker {addr} does not answer: {e}")),
    };
    if kind == "live" {
        println!("live: broker {addr} answers");
        return ExitCode::SUCCESS;
    }
    if info.get("storeWritable").map(String::as_str) != Some("true") {
        return check_failed(&format!("broker {addr} answers but its store refuses writes"));
    }
    let routed = admin.cluster_info().ok().is_some_and(|c| {
        c.broker_addr_table.values().any(|b| b.broker_addrs.values().any(|a| *a == addr))
    });
    if !routed {
        return check_failed(&format!("broker {addr} is not registered with {namesrv:?}"));
    }
    println!("ready: broker {addr} answers, accepts writes and is registered");
    ExitCode::SUCCESS
}

fn check_failed(why: &str) -> ExitCode {
    eprintln!("broker -check: {why}");
    ExitCode::FAILURE
}

fn check_usage(why: &str) -> ExitCode {
    eprintln!("broker -check: {why}\n{USAGE}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "-check" || a == "--check") {
        let kind = args.get(i + 1).map(String::as_str).unwrap_or_default();
        if !matches!(kind, "live" | "ready") {
            return check_usage("-check takes live or ready");
        }
        let rest: Vec<String> = args
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i && *j != i + 1)
            .map(|(_, a)| a.clone())
            .collect();
        return check(kind, &rest);
    }
    let print = common::PrintConfig { pairs: broker_java_properties, important: IMPORTANT };
    let (config, stop) = match common::start("broker", USAGE, print, validate) {
        Ok(started) => started,
        Err(code) => return code,
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
        // Only ports that listen: there is no HA port until replication exists.
        "The broker[{}] boot success. listen={} store={} registered_as={} nameserver={}",
        broker.name(),
        broker.local_addr(),
        store_path.display(),
        broker.advertised_addr(),
        if namesrv.is_empty() { "(none)" } else { &namesrv },
    );
    common::notify_service("READY=1");
    let _ = stop.recv();
    common::notify_service("STOPPING=1");
    log::info!("shutting down: finishing in-flight requests, flushing, unregistering");
    broker.shutdown();
    println!("The broker shut down cleanly.");
    ExitCode::SUCCESS
}

fn is_loopback(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
