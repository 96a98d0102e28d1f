//! Registration with every nameserver: at start, every `register_interval_ms` (30 s), and soon
//! after a topic change; UNREGISTER_BROKER at shutdown.
//!
//! **Fast route recovery.** A nameserver that was not reached, refused us, or whose connection
//! closed (it stopped or restarted) is registered with again every [`RETRY_INTERVAL`] (1 s)
//! until it accepts, instead of at the next 30 s round: a restarted nameserver has this
//! broker's routes about a second after it is back. Only that nameserver is retried; the
//! warning for a nameserver that stays unreachable is repeated once every
//! [`FAILURE_LOG_EVERY`] attempts.
//!
//! [`Registrar`] owns what registration needs (the broker's identity, the nameserver client
//! and the topic-table version last sent) and nothing else; the `register` thread gets it and
//! the topic table, not the whole broker.

use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
/// How soon a nameserver that failed a registration, or whose connection closed, is
/// registered with again.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// A failing nameserver's warning is logged on its first failure and every this many after.
const FAILURE_LOG_EVERY: u32 = 30;

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
    /// Failed registrations in a row, one counter per entry of `namesrv_addrs`.
    failures: Vec<AtomicU32>,
    /// Whether nameserver `i` ever took a registration: the first success is logged at INFO.
    announced: Vec<AtomicBool>,
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
            failures: config.namesrv_addrs.iter().map(|_| AtomicU32::new(0)).collect(),
            announced: config.namesrv_addrs.iter().map(|_| AtomicBool::new(false)).collect(),
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
        self.register(topics, None)
    }

    /// The nameservers (indexes into `namesrv_addrs`) to register with again now: those whose
    /// last registration failed and those whose connection closed since.
    fn lost(&self) -> Vec<usize> {
        (0..self.namesrv_addrs.len())
            .filter(|&i| {
                self.failures[i].load(Ordering::Relaxed) > 0
                    || !self.client.is_connected(&self.namesrv_addrs[i])
            })
            .collect()
    }

    /// Registers with the nameservers listed in `only` (every one if `None`). The topic-table
    /// version is recorded only for a registration with every nameserver.
    fn register(&self, topics: &TopicTable, only: Option<&[usize]>) -> Result<(), String> {
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
        for (i, namesrv) in self.namesrv_addrs.iter().enumerate() {
            if only.is_some_and(|only| !only.contains(&i)) {
                continue;
            }
            let cmd = RemotingCommand::request(RequestCode::RegisterBroker.to_i32())
                .with_header(&header)
                .with_body(body.clone());
            match self.register_one(i, cmd) {
                Ok(()) => {}
                Err(Some(remark)) if remark.starts_with(BROKER_NAME_TAKEN) => {
                    all_ok = false;
                    taken = Some(format!("nameserver {namesrv}: {remark}"));
                }
                Err(_) => all_ok = false,
            }
        }
        // Recorded even after a failure: the `register` thread retries the failed nameservers,
        // and requests must not each wait for a dead one.
        if only.is_none() {
            self.registered_version.fetch_max(version, Ordering::AcqRel);
        }
        if !all_ok {
            log::debug!("topic table version {version} not accepted by every nameserver yet");
        }
        taken.map_or(Ok(()), Err)
    }

    /// One registration with nameserver `i`; a refusal carries the nameserver's remark, a
    /// failure to reach it none.
    fn register_one(&self, i: usize, cmd: RemotingCommand) -> Result<(), Option<String>> {
        let namesrv = &self.namesrv_addrs[i];
        let result = match self.client.invoke_sync(namesrv, cmd, NAMESRV_TIMEOUT) {
            Ok(r) if r.code == ResponseCode::Success.to_i32() => Ok(()),
            Ok(r) => Err((Some(r.remark.unwrap_or_default()), format!("code {}", r.code))),
            Err(e) => Err((None, e.to_string())),
        };
        match result {
            Ok(()) => {
                let failed = self.failures[i].swap(0, Ordering::Relaxed);
                let first = !self.announced[i].swap(true, Ordering::Relaxed);
                if first {
                    let (name, addr) = (&self.broker_name, self.advertised_addr);
                    log::info!("registered with nameserver {namesrv} as {name} ({addr})");
                } else if failed > 0 {
                    log::info!("registered with nameserver {namesrv} after {failed} failure(s)");
                } else {
                    log::debug!("registered with nameserver {namesrv}");
                }
                Ok(())
            }
            Err((remark, why)) => {
                let failed = self.failures[i].fetch_add(1, Ordering::Relaxed);
                let level = if failed % FAILURE_LOG_EVERY == 0 {
                    log::Level::Warn
                } else {
                    log::Level::Debug
                };
                let retry = RETRY_INTERVAL.as_secs();
                match &remark {
                    Some(remark) => log::log!(
                        level,
                        "nameserver {namesrv} refused registration: {why} {remark} \
                         (failure {}, retrying every {retry} s)",
                        failed + 1
                    ),
                    None => log::log!(
                        level,
                        "cannot register with nameserver {namesrv}: {why} \
                         (failure {}, retrying every {retry} s)",
                        failed + 1
                    ),
                }
                Err(remark)
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

/// The `register` thread, until stopped: registers with every nameserver every `interval`
/// (the first registration is the start's), and every [`RETRY_INTERVAL`] with the nameservers
/// that failed or whose connection closed (see the module doc).
pub fn run(registrar: &Registrar, topics: &TopicTable, interval: Duration, stop: &Receiver<()>) {
    let tick = RETRY_INTERVAL.min(interval);
    let mut next_round = Instant::now() + interval;
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(tick) {
        let now = Instant::now();
        if now >= next_round {
            next_round = now + interval;
            registrar.register_all(topics);
            continue;
        }
        let lost = registrar.lost();
        if !lost.is_empty() {
            let _ = registrar.register(topics, Some(&lost));
        }
    }
}
