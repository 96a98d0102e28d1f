//! Registration with every nameserver: at start, every `register_interval_ms` (30 s), and soon
//! after a topic change; UNREGISTER_BROKER at shutdown.

use std::time::Duration;

use std::sync::atomic::Ordering;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use rocketmq_net::{RemotingCommand, RequestCode, ResponseCode};

use super::BrokerCtx;
use crate::protocol::body::register::RegisterBrokerBody;
use crate::protocol::body::to_json;
use crate::protocol::header::namesrv::{
    RegisterBrokerRequestHeader, UnregisterBrokerRequestHeader,
};

const NAMESRV_TIMEOUT: Duration = Duration::from_secs(3);

/// The `register` thread: registers at start and every `register_interval_ms`.
pub fn run(ctx: &BrokerCtx, stop: &Receiver<()>) {
    let interval = Duration::from_millis(ctx.config.register_interval_ms);
    register_all(ctx);
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(interval) {
        register_all(ctx);
    }
}

/// Registers with every nameserver and records the topic-table version they now have.
pub fn register_all(ctx: &BrokerCtx) {
    let wrapper = ctx.topics.wrapper();
    let version = wrapper.data_version.counter;
    if ctx.config.namesrv_addrs.is_empty() {
        ctx.registered_version.fetch_max(version, Ordering::AcqRel);
        return;
    }
    let client = &ctx.client;
    let cfg = &ctx.config;
    let body = to_json(&RegisterBrokerBody {
        filter_server_list: Vec::new(),
        topic_config_serialize_wrapper: wrapper,
    });
    let mut all_ok = true;
    let header = RegisterBrokerRequestHeader {
        broker_name: cfg.broker_name.clone(),
        broker_addr: cfg.advertised_addr.to_string(),
        cluster_name: cfg.cluster_name.clone(),
        ha_server_addr: format!("{}:{}", cfg.advertised_addr.ip(), cfg.advertised_addr.port() + 1),
        broker_id: cfg.broker_id,
        heartbeat_timeout_millis: None,
        enable_acting_master: Some(false),
        compressed: Some(false),
        body_crc32: Some((crc32fast::hash(&body) & 0x7FFF_FFFF) as i32),
    };
    for addr in &cfg.namesrv_addrs {
        let cmd = RemotingCommand::request(RequestCode::RegisterBroker.to_i32())
            .with_header(&header)
            .with_body(body.clone());
        match client.invoke_sync(addr, cmd, NAMESRV_TIMEOUT) {
            Ok(r) if r.code == ResponseCode::Success.to_i32() => {
                log::debug!("registered with nameserver {addr}");
            }
            Ok(r) => {
                all_ok = false;
                log::warn!(
                    "nameserver {addr} refused registration: code {} {}",
                    r.code,
                    r.remark.unwrap_or_default()
                );
            }
            Err(e) => {
                all_ok = false;
                log::warn!("cannot register with nameserver {addr}: {e}");
            }
        }
    }
    // Recorded even after a failure: the periodic registration retries, and requests must not
    // each wait for a dead nameserver.
    ctx.registered_version.fetch_max(version, Ordering::AcqRel);
    if !all_ok {
        log::debug!("topic table version {version} not accepted by every nameserver yet");
    }
}

/// Tells every nameserver we are leaving (shutdown).
pub fn unregister_all(ctx: &BrokerCtx) {
    let client = &ctx.client;
    let cfg = &ctx.config;
    let header = UnregisterBrokerRequestHeader {
        broker_name: cfg.broker_name.clone(),
        broker_addr: cfg.advertised_addr.to_string(),
        cluster_name: cfg.cluster_name.clone(),
        broker_id: cfg.broker_id,
    };
    for addr in &cfg.namesrv_addrs {
        let cmd =
            RemotingCommand::request(RequestCode::UnregisterBroker.to_i32()).with_header(&header);
        if let Err(e) = client.invoke_sync(addr, cmd, NAMESRV_TIMEOUT) {
            log::warn!("cannot unregister from nameserver {addr}: {e}");
        }
    }
}
