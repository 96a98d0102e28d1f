//! Registration with every nameserver: at start, every `register_interval_ms` (30 s), and soon
//! after a topic change; UNREGISTER_BROKER at shutdown.
//!
//! [`Registrar`] owns what registration needs (the broker's identity, the nameserver client
//! and the topic-table version last sent) and nothing else; the `register` thread gets it and
//! the topic table, not the whole broker.

use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use rocketmq_net::{RemotingClient, RemotingCommand, RequestCode, ResponseCode};

use super::config::BrokerConfig;
use super::topics::TopicTable;
use crate::protocol::body::register::RegisterBrokerBody;
use crate::protocol::body::to_json;
use crate::protocol::constants::BROKER_NAME_TAKEN;
use crate::protocol::header::namesrv::{
    RegisterBrokerRequestHeader, UnregisterBrokerRequestHeader,
};

const NAMESRV_TIMEOUT: Duration = Duration::from_secs(3);

/// Registers this broker with the nameservers.
#[derive(Debug)]
pub struct Registrar {
    broker_name: String,
    cluster_name: String,
    broker_id: i64,
    advertised_addr: SocketAddrV4,
    namesrv_addrs: Vec<String>,
    client: Arc<RemotingClient>,
    /// The topic-table version last sent to the nameservers.
    registered_version: AtomicI64,
    /// Nameservers whose last registration succeeded: a change either way is logged at INFO
    /// (WARN when lost), the periodic repeats only at DEBUG.
    registered_with: parking_lot::Mutex<std::collections::HashSet<String>>,
}

impl Registrar {
    /// Takes the identity fields of `config`; `client` talks to the nameservers.
    pub fn new(config: &BrokerConfig, client: Arc<RemotingClient>) -> Self {
        Self {
            broker_name: config.broker_name.clone(),
            cluster_name: config.cluster_name.clone(),
            broker_id: config.broker_id,
            advertised_addr: config.advertised_addr,
            namesrv_addrs: config.namesrv_addrs.clone(),
            client,
            registered_version: AtomicI64::new(i64::MIN),
            registered_with: parking_lot::Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// Registers now if the topic table changed since the last registration.
    pub fn register_if_changed(&self, topics: &TopicTable) {
        if topics.version() > self.registered_version.load(Ordering::Acquire) {
            self.register_all(topics);
        }
    }

    /// Registers with every nameserver and records the topic-table version they now have.
    pub fn register_all(&self, topics: &TopicTable) {
        let _ = self.register_all_checked(topics);
    }

    /// [`Registrar::register_all`], failing when a nameserver refused us because another live
    /// broker holds our name and id (the broker then refuses to start).
    pub fn register_all_checked(&self, topics: &TopicTable) -> Result<(), String> {
        let wrapper = topics.wrapper();
        let version = wrapper.data_version.counter;
        if self.namesrv_addrs.is_empty() {
            self.registered_version.fetch_max(version, Ordering::AcqRel);
            return Ok(());
        }
        let body = to_json(&RegisterBrokerBody {
            filter_server_list: Vec::new(),
            topic_config_serialize_wrapper: wrapper,
        });
        let addr = self.advertised_addr;
        let header = RegisterBrokerRequestHeader {
            broker_name: self.broker_name.clone(),
            broker_addr: addr.to_string(),
            cluster_name: self.cluster_name.clone(),
            ha_server_addr: format!("{}:{}", addr.ip(), addr.port() + 1),
            broker_id: self.broker_id,
            heartbeat_timeout_millis: None,
            enable_acting_master: Some(false),
            compressed: Some(false),
            body_crc32: Some((crc32fast::hash(&body) & 0x7FFF_FFFF) as i32),
        };
        let mut all_ok = true;
        let mut taken = None;
        for namesrv in &self.namesrv_addrs {
            let cmd = RemotingCommand::request(RequestCode::RegisterBroker.to_i32())
                .with_header(&header)
                .with_body(body.clone());
            match self.register_one(namesrv, cmd) {
                Ok(()) => {}
                Err(Some(remark)) if remark.starts_with(BROKER_NAME_TAKEN) => {
                    all_ok = false;
                    taken = Some(format!("nameserver {namesrv}: {remark}"));
                }
                Err(_) => all_ok = false,
            }
        }
        // Recorded even after a failure: the periodic registration retries, and requests must
        // not each wait for a dead nameserver.
        self.registered_version.fetch_max(version, Ordering::AcqRel);
        if !all_ok {
            log::debug!("topic table version {version} not accepted by every nameserver yet");
        }
        taken.map_or(Ok(()), Err)
    }

    /// One registration; a refusal carries the nameserver's remark, a failure to reach it none.
    fn register_one(&self, namesrv: &str, cmd: RemotingCommand) -> Result<(), Option<String>> {
        match self.client.invoke_sync(namesrv, cmd, NAMESRV_TIMEOUT) {
            Ok(r) if r.code == ResponseCode::Success.to_i32() => {
                if self.registered_with.lock().insert(namesrv.to_string()) {
                    let (name, addr) = (&self.broker_name, self.advertised_addr);
                    log::info!("registered with nameserver {namesrv} as {name} ({addr})");
                } else {
                    log::debug!("registered with nameserver {namesrv}");
                }
                Ok(())
            }
            Ok(r) => {
                self.registered_with.lock().remove(namesrv);
                let remark = r.remark.unwrap_or_default();
                log::warn!("nameserver {namesrv} refused registration: code {} {remark}", r.code);
                Err(Some(remark))
            }
            Err(e) => {
                self.registered_with.lock().remove(namesrv);
                log::warn!("cannot register with nameserver {namesrv}: {e}");
                Err(None)
            }
        }
    }

    /// Tells every nameserver we are leaving (shutdown).
    pub fn unregister_all(&self) {
        let header = UnregisterBrokerRequestHeader {
            broker_name: self.broker_name.clone(),
            broker_addr: self.advertised_addr.to_string(),
            cluster_name: self.cluster_name.clone(),
            broker_id: self.broker_id,
        };
        for namesrv in &self.namesrv_addrs {
            let cmd = RemotingCommand::request(RequestCode::UnregisterBroker.to_i32())
                .with_header(&header);
            if let Err(e) = self.client.invoke_sync(namesrv, cmd, NAMESRV_TIMEOUT) {
                log::warn!("cannot unregister from nameserver {namesrv}: {e}");
            }
        }
    }
}

/// The `register` thread: registers every `interval` (the first registration is the start's),
/// until stopped.
pub fn run(registrar: &Registrar, topics: &TopicTable, interval: Duration, stop: &Receiver<()>) {
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(interval) {
        registrar.register_all(topics);
    }
}
