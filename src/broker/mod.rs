//! The broker: accepts sends, serves pulls (with long polling), keeps consumer offsets, topics,
//! subscription groups and client channels, retries and dead letters, delay levels and
//! transactional messages (`txn/`), and registers with every nameserver.
//!
//! Threads (all named): the net server's `net-io` and its `send-N`, `pull-N`, `admin-N` pools;
//! `pull-hold` (wakes parked long polls); `schedule` (delay levels); `register` (nameserver
//! registration every 30 s and after topic changes); `broker-housekeeping` (offset flush, client
//! expiry); `txn-check` (transaction check-back). The store runs its own flush, dispatch and
//! cleanup threads.

pub mod acl;
pub mod clients;
pub mod config;
mod error;
pub mod groups;
mod hold;
pub(crate) mod java_conf;
pub mod lock;
pub mod offsets;
mod persist;
mod processor;
mod register;
pub mod role;
mod runtime_conf;
mod schedule;
mod sql_filter;
mod stats;
mod timer;
pub mod topics;
mod txn;

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender};
use rocketmq_net::{Connection, RemotingClient, RequestCode, Server, ServerBuilder, ServerConfig};
use rocketmq_store::MessageStore;

pub use config::{BrokerConfig, RawBrokerConfig};
pub use java_conf::java_properties;

use clients::ClientTable;
use groups::GroupTable;
use hold::PullHold;
use lock::LockTable;
use offsets::OffsetTable;
use register::Registrar;
use role::RoleState;
use stats::BrokerStats;
use topics::{TopicDefaults, TopicTable};

/// Sync-flush sends that may wait for a group commit at once; beyond this the send worker
/// waits itself (back-pressure).
const FLUSH_WAITS_MAX: usize = 65_536;

/// Why the broker could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The store could not be opened or recovered.
    Store(rocketmq_store::OpenError),
    /// Broker metadata (topics, groups, offsets) could not be loaded.
    Metadata(std::io::Error),
    /// The port could not be bound or a thread not spawned.
    Io(std::io::Error),
    /// A nameserver refused the registration: another live broker holds this name and id.
    NameTaken(String),
    /// The settings stored by UPDATE_BROKER_CONFIG do not apply over this config.
    Config(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Store(e) => write!(f, "cannot open the store: {e}"),
            Self::Metadata(e) => write!(f, "cannot load broker metadata: {e}"),
            Self::Io(e) => write!(f, "cannot start: {e}"),
            Self::NameTaken(why) => write!(f, "refusing to start: {why}"),
            Self::Config(why) => write!(f, "invalid runtime settings: {why}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Everything the request processors share. Each piece owns its own state and lock; the
/// pieces a background thread needs are `Arc`s so that thread gets only those, never the
/// whole context (which would also tie the context's lifetime to the store's listener).
#[derive(Debug)]
pub(crate) struct BrokerCtx {
    pub config: BrokerConfig,
    pub store: Arc<MessageStore>,
    pub topics: Arc<TopicTable>,
    pub groups: Arc<GroupTable>,
    pub offsets: Arc<OffsetTable>,
    pub clients: Arc<ClientTable>,
    pub hold: Arc<PullHold>,
    /// Queue locks of orderly consumers.
    pub locks: LockTable,
    pub stats: Arc<BrokerStats>,
    /// The role now (the config holds only the starting role).
    pub role: RoleState,
    /// Registration with the nameservers.
    pub registrar: Arc<Registrar>,
    /// Sync-flush sends waiting for their group commit (answered by `flush-reply`).
    pub flush_waits: Sender<processor::send::FlushWait>,
    /// Which transactions are resolved.
    pub txn: Arc<txn::TxnLog>,
    /// What the `timer` thread reports.
    pub timer: Arc<timer::TimerStats>,
    /// The net server's counters (connections, refusals), once it runs.
    pub server: std::sync::OnceLock<rocketmq_net::ServerObserver>,
    /// Settings as configured, UPDATE_BROKER_CONFIG's overrides included, and the live ones.
    pub runtime: runtime_conf::RuntimeConf,
    /// Compiled SQL92 selectors of subscriptions, by expression text.
    pub selectors: sql_filter::SelectorCache,
}

impl BrokerCtx {
    /// Store host written into records and offset message ids.
    pub fn store_host(&self) -> SocketAddrV4 {
        self.config.advertised_addr
    }

    /// Registers with the nameservers now if the topic table changed since the last
    /// registration. Called before replying to a request that created or deleted a topic, so a
    /// client that asks the nameserver for the route right after our reply finds it (the Java
    /// broker does the same).
    pub fn topics_changed(&self) {
        self.registrar.register_if_changed(&self.topics);
    }

    /// Tells a consumer group's members that membership changed, so they rebalance.
    pub fn notify_consumer_ids_changed(&self, group: &str) {
        notify_consumer_ids_changed(&self.groups, &self.clients, group);
    }
}

/// `config` with the settings an earlier UPDATE_BROKER_CONFIG stored in `path` applied over it
/// (they win over the config file and flags), each logged at INFO.
fn with_runtime_overrides(config: BrokerConfig, path: &Path) -> Result<BrokerConfig, StartError> {
    let (raw, applied) = runtime_conf::with_overrides(config.raw.clone(), path)
        .map_err(|e| StartError::Config(e.to_string()))?;
    if applied.is_empty() {
        return Ok(config);
    }
    for p in &applied {
        log::info!("{}: {}={} (set by updateBrokerConfig)", path.display(), p.key, p.value);
    }
    raw.validate().map_err(|e| StartError::Config(format!("{}: {e}", path.display())))
}

/// Sends NOTIFY_CONSUMER_IDS_CHANGED to every member of `group` (unless the group turned it
/// off), so they rebalance.
fn notify_consumer_ids_changed(groups: &GroupTable, clients: &ClientTable, group: &str) {
    let enabled = groups.get(group).is_none_or(|g| g.notify_consumer_ids_changed_enable);
    if !enabled {
        return;
    }
    for conn in clients.consumer_channels(group) {
        let header = crate::protocol::header::client::ConsumerGroupRequestHeader {
            consumer_group: group.to_string(),
        };
        let cmd =
            rocketmq_net::RemotingCommand::request(RequestCode::NotifyConsumerIdsChanged.to_i32())
                .with_header(&header);
        if let Err(e) = conn.send_oneway(cmd) {
            log::debug!("cannot notify {} of group {group} change: {e}", conn.peer_addr());
        }
    }
}

/// A running broker.
#[derive(Debug)]
pub struct Broker {
    ctx: Arc<BrokerCtx>,
    server: Option<Server>,
    stop: Option<Sender<()>>,
    threads: Vec<JoinHandle<()>>,
    client: Arc<RemotingClient>,
}

impl Broker {
    /// Opens the store, loads metadata, binds the port and starts every thread.
    pub fn start(config: BrokerConfig) -> Result<Self, StartError> {
        let runtime_file = config.store.store_path.join("config").join(runtime_conf::RUNTIME_FILE);
        let config = with_runtime_overrides(config, &runtime_file)?;
        let store = Arc::new(MessageStore::open(config.store_config()).map_err(StartError::Store)?);
        let config_dir = store.config_dir();
        let topic_defaults = TopicDefaults {
            cluster_name: config.cluster_name.clone(),
            broker_name: config.broker_name.clone(),
            auto_create_topic_enable: config.auto_create_topic_enable,
            default_topic_queue_nums: config.default_topic_queue_nums,
            delay_level_count: i32::try_from(config.store.delay_levels_ms.len()).unwrap_or(18),
        };
        let topics = TopicTable::open(config_dir.join("topics.json"), &topic_defaults)
            .map_err(StartError::Metadata)?;
        // Request-reply: repliers look up the route of the cluster's reply topic, so it exists
        // from the start, with one queue as Java's TopicConfigManager makes it.
        let reply_topic = crate::protocol::constants::reply::topic(&config.cluster_name);
        topics
            .create_if_absent(crate::protocol::body::register::TopicConfig::new(&reply_topic, 1))
            .map_err(StartError::Metadata)?;
        let groups = GroupTable::open(
            config_dir.join("subscriptionGroup.json"),
            config.auto_create_subscription_group,
        )
        .map_err(StartError::Metadata)?;
        let offsets = OffsetTable::open(config_dir.join("consumerOffset.json"))
            .map_err(StartError::Metadata)?;
        txn::ensure_topics(&topics).map_err(StartError::Metadata)?;
        let txn_log = Arc::new(txn::TxnLog::open(&store));
        let (hold, wake_rx) = PullHold::new();
        let hold = Arc::new(hold);
        let (flush_tx, flush_rx) = bounded(FLUSH_WAITS_MAX);
        let client = Arc::new(RemotingClient::new(rocketmq_net::ClientConfig::default()));
        let locks = LockTable::new(config.rebalance_lock_max_live_ms);
        let ctx = Arc::new(BrokerCtx {
            runtime: runtime_conf::RuntimeConf::new(&config, runtime_file),
            timer: Arc::default(),
            server: std::sync::OnceLock::new(),
            role: RoleState::new(config.broker_role),
            registrar: Arc::new(Registrar::new(&config, client.clone())),
            config,
            store,
            topics: Arc::new(topics),
            groups: Arc::new(groups),
            offsets: Arc::new(offsets),
            clients: Arc::default(),
            hold: hold.clone(),
            locks,
            stats: Arc::default(),
            flush_waits: flush_tx,
            txn: txn_log,
            selectors: sql_filter::SelectorCache::default(),
        });
        ctx.stats.start_ms.store(crate::remoting::now_ms(), Ordering::Relaxed);
        // The listener holds only the pull hold: holding the context here would make
        // context -> store -> listener -> context a cycle that is never freed.
        ctx.store.set_arrival_listener(Arc::new(move |topic, queue, max| {
            hold.notify_arrival(topic, queue, max);
        }));
        let (stop_tx, stop_rx) = bounded::<()>(0);
        let mut threads = Vec::new();
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new().name(name.into()).spawn(f).map_err(StartError::Io)
        };
        {
            let (c, s) = (ctx.clone(), stop_rx.clone());
            threads.push(spawn("pull-hold", Box::new(move || hold::run(&c, &wake_rx, &s)))?);
        }
        {
            let schedule = schedule::Schedule {
                store: ctx.store.clone(),
                delay_levels_ms: ctx.config.store.delay_levels_ms.clone(),
            };
            let s = stop_rx.clone();
            threads.push(spawn("schedule", Box::new(move || schedule::run(&schedule, &s)))?);
        }
        {
            let svc = timer::TimerService { store: ctx.store.clone(), stats: ctx.timer.clone() };
            let s = stop_rx.clone();
            threads.push(spawn("timer", Box::new(move || timer::run(&svc, &s)))?);
        }
        {
            let (c, s) = (ctx.clone(), stop_rx.clone());
            threads.push(spawn(
                "flush-reply",
                Box::new(move || processor::send::run_flush_replies(&c, &flush_rx, &s)),
            )?);
        }
        {
            let h = Housekeeping::of(&ctx);
            let s = stop_rx.clone();
            threads.push(spawn("broker-housekeeping", Box::new(move || h.run(&s)))?);
        }
        {
            let checker = txn::Checker {
                store: ctx.store.clone(),
                offsets: ctx.offsets.clone(),
                clients: ctx.clients.clone(),
                txn: ctx.txn.clone(),
                config: ctx.config.txn,
                retention_ms: u64::from(ctx.config.store.file_reserved_hours) * 3_600_000,
                store_host: ctx.store_host(),
            };
            let s = stop_rx.clone();
            threads.push(spawn("txn-check", Box::new(move || txn::run_check(&checker, &s)))?);
        }
        let acl = match &ctx.config.acl {
            Some(files) => {
                let loaded = files.load().map_err(|e| StartError::Config(format!("ACL: {e}")))?;
                log::info!(
                    "ACL enabled: {} account(s), {} global white address pattern(s) from {}",
                    loaded.accounts.len(),
                    loaded.global_white.len(),
                    files.main.display()
                );
                let hook = Arc::new(acl::AclHook::new(loaded));
                let (h, f, s) = (hook.clone(), files.clone(), stop_rx.clone());
                threads.push(spawn("acl-watch", Box::new(move || acl::run_watch(&h, &f, &s)))?);
                Some(hook)
            }
            None => None,
        };
        let server = start_server(&ctx, acl).map_err(StartError::Io)?;
        let _ = ctx.server.set(server.observer());
        // The first registration, before `boot success` (as Java's broker does): a nameserver
        // that says another live broker holds our name and id makes the start fail instead of
        // taking its route over.
        if let Err(refusal) = ctx.registrar.register_all_checked(&ctx.topics) {
            let broker = Self { ctx, server: Some(server), stop: Some(stop_tx), threads, client };
            // Unregistering our own address is harmless: the nameservers never took it.
            broker.shutdown();
            return Err(StartError::NameTaken(refusal));
        }
        {
            let (r, t, s) = (ctx.registrar.clone(), ctx.topics.clone(), stop_rx.clone());
            let interval = Duration::from_millis(ctx.config.register_interval_ms);
            threads.push(spawn("register", Box::new(move || register::run(&r, &t, interval, &s)))?);
        }
        Ok(Self { ctx, server: Some(server), stop: Some(stop_tx), threads, client })
    }

    /// The address the broker listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.as_ref().map_or(self.ctx.config.listen_addr, Server::local_addr)
    }

    /// The broker name.
    pub fn name(&self) -> &str {
        &self.ctx.config.broker_name
    }

    /// The address registered with nameservers.
    pub fn advertised_addr(&self) -> SocketAddrV4 {
        self.ctx.config.advertised_addr
    }

    /// Stops accepting, finishes in-flight requests, unregisters, persists offsets and closes
    /// the store cleanly (flush, checkpoint, abort file removed).
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        let Some(server) = self.server.take() else { return };
        server.shutdown();
        drop(self.stop.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.ctx.registrar.unregister_all();
        self.client.shutdown();
        if let Err(e) = self.ctx.offsets.persist_if_dirty() {
            log::error!("cannot persist consumer offsets at shutdown: {e}");
        }
        self.ctx.store.shutdown();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Threads of the `reply` pool (request-reply replies, each waiting on one push).
const REPLY_THREADS: usize = 2;
/// Replies queued for the `reply` pool before it answers SYSTEM_BUSY.
const REPLY_QUEUE_CAPACITY: usize = 4096;

fn start_server(ctx: &Arc<BrokerCtx>, acl: Option<Arc<acl::AclHook>>) -> std::io::Result<Server> {
    let cfg = &ctx.config;
    let mut server_cfg = ServerConfig::new(cfg.listen_addr);
    server_cfg.idle_timeout_ms = cfg.idle_timeout_ms;
    server_cfg.connections_per_address_max = cfg.connections_per_address_max;
    server_cfg.busy_poll_us = cfg.net_busy_poll_us;
    let mut b = ServerBuilder::new(server_cfg);
    if let Some(hook) = acl {
        // Before every processor, inline sends included (ADVANCED.md §1.2).
        b.hook(hook);
    }
    let p = cfg.pools;
    let send = b.pool("send", p.send_threads, p.send_queue_capacity);
    let pull = b.pool("pull", p.pull_threads, p.pull_queue_capacity);
    let admin = b.pool("admin", p.admin_threads, p.admin_queue_capacity);
    let send_proc = Arc::new(processor::SendProcessor::new(ctx.clone()));
    // Under async flush a plain send is a memcpy into the mapped commitlog: cheaper than the
    // two thread hops to a send worker and back, so `net-io` runs it (ARCHITECTURE.md).
    let inline = p.send_inline && cfg.store.flush_disk_type == rocketmq_store::FlushDiskType::Async;
    for code in
        [RequestCode::SendMessage, RequestCode::SendMessageV2, RequestCode::SendBatchMessage]
    {
        if inline {
            b.register_inline(code.to_i32(), send, send_proc.clone());
        } else {
            b.register(code.to_i32(), send, send_proc.clone());
        }
    }
    b.register(RequestCode::ConsumerSendMsgBack.to_i32(), send, send_proc.clone());
    // A reply waits for the requester to take its push, so replies have their own pool and
    // never hold a send worker (Java's replyMessageExecutor).
    let reply = b.pool("reply", REPLY_THREADS, REPLY_QUEUE_CAPACITY);
    for code in [RequestCode::SendReplyMessage, RequestCode::SendReplyMessageV2] {
        b.register(code.to_i32(), reply, send_proc.clone());
    }
    let end_proc = Arc::new(txn::EndTransactionProcessor::new(ctx.clone()));
    b.register(RequestCode::EndTransaction.to_i32(), send, end_proc);
    let pull_proc = Arc::new(processor::PullProcessor::new(ctx.clone()));
    for code in [RequestCode::PullMessage, RequestCode::LitePullMessage] {
        b.register(code.to_i32(), pull, pull_proc.clone());
    }
    b.default_processor(admin, Arc::new(processor::AdminProcessor::new(ctx.clone())));
    let close_ctx = ctx.clone();
    b.on_close(Arc::new(move |conn: &Connection| {
        close_ctx.hold.connection_closed(conn.id());
        close_ctx.locks.connection_closed(conn.id());
        for group in close_ctx.clients.connection_closed(conn.id()) {
            close_ctx.notify_consumer_ids_changed(&group);
        }
    }));
    b.start()
}

/// What the `broker-housekeeping` thread uses: stats, offsets and the client tables.
#[derive(Debug)]
struct Housekeeping {
    stats: Arc<BrokerStats>,
    offsets: Arc<OffsetTable>,
    clients: Arc<ClientTable>,
    groups: Arc<GroupTable>,
    flush_every: Duration,
    client_channel_expire_ms: u64,
}

impl Housekeeping {
    fn of(ctx: &BrokerCtx) -> Self {
        Self {
            stats: ctx.stats.clone(),
            offsets: ctx.offsets.clone(),
            clients: ctx.clients.clone(),
            groups: ctx.groups.clone(),
            flush_every: Duration::from_millis(ctx.config.consumer_offset_flush_interval_ms),
            client_channel_expire_ms: ctx.config.client_channel_expire_ms,
        }
    }

    /// Samples the stats every second; flushes dirty consumer offsets and expires silent
    /// clients every `consumer_offset_flush_interval_ms`; until stopped.
    fn run(&self, stop: &Receiver<()>) {
        let tick = Duration::from_secs(1);
        let mut last_flush = std::time::Instant::now();
        self.stats.sample(crate::remoting::now_ms());
        while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
            stop.recv_timeout(tick.min(self.flush_every))
        {
            let now = crate::remoting::now_ms();
            self.stats.sample(now);
            if last_flush.elapsed() < self.flush_every {
                continue;
            }
            last_flush = std::time::Instant::now();
            if let Err(e) = self.offsets.persist_if_dirty() {
                log::error!("cannot persist consumer offsets: {e}");
            }
            for group in self.clients.expire(now, self.client_channel_expire_ms) {
                log::info!("consumer group {group}: a client stopped heartbeating");
                notify_consumer_ids_changed(&self.groups, &self.clients, &group);
            }
        }
    }
}

/// The IPv4 form of a peer address (IPv4-mapped IPv6 included); other IPv6 peers become
/// 0.0.0.0 because stock clients only parse 4-byte hosts in records.
pub(crate) fn ipv4_of(addr: SocketAddr) -> SocketAddrV4 {
    match addr.ip() {
        IpAddr::V4(ip) => SocketAddrV4::new(ip, addr.port()),
        IpAddr::V6(ip) => SocketAddrV4::new(
            ip.to_ipv4_mapped().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            addr.port(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rocketmq_net::{ClientConfig, RemotingClient, RemotingCommand, RequestCode, ResponseCode};

    use super::role::BrokerRole;
    use super::*;
    use crate::protocol::header::admin::CreateTopicRequestHeader;
    use crate::protocol::header::send::{
        ConsumerSendMsgBackRequestHeader, SendMessageRequestHeader,
    };

    const TIMEOUT: Duration = Duration::from_secs(5);

    fn send(client: &RemotingClient, addr: &str, topic: &str) -> RemotingCommand {
        let h = SendMessageRequestHeader {
            producer_group: "pg".into(),
            topic: topic.into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 0,
            born_timestamp: 1,
            ..Default::default()
        };
        let mut cmd = RemotingCommand::request(RequestCode::SendMessageV2.to_i32())
            .with_body(b"role".to_vec());
        cmd.ext_fields = h.to_v2();
        client.invoke_sync(addr, cmd, TIMEOUT).unwrap()
    }

    fn test_config(dir: &std::path::Path) -> BrokerConfig {
        let raw = RawBrokerConfig {
            store_path: dir.to_path_buf(),
            listen_port: 0,
            bind_address: "127.0.0.1".into(),
            broker_ip: Some("127.0.0.1".into()),
            commitlog_file_size_bytes: 16 * 1024 * 1024,
            ..Default::default()
        };
        raw.validate().unwrap()
    }

    /// Issue #12: the store's arrival listener used to hold the context, which owns the store:
    /// a cycle that kept the context (tables, store, channels) alive after shutdown.
    #[test]
    fn issue_12_shutdown_frees_the_context() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::start(test_config(dir.path())).unwrap();
        let ctx = Arc::downgrade(&broker.ctx);
        let store = Arc::downgrade(&broker.ctx.store);
        broker.shutdown();
        assert!(ctx.upgrade().is_none(), "something still holds the broker context");
        assert!(store.upgrade().is_none(), "something still holds the store");
    }

    /// The role is runtime state: a broker turned SLAVE refuses sends (inline and pool paths)
    /// and send-backs with SERVICE_NOT_AVAILABLE, as Java's store does, and takes them again
    /// once it is master.
    #[test]
    fn a_slave_refuses_writes_until_it_is_master_again() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::start(test_config(dir.path())).unwrap();
        let addr = broker.local_addr().to_string();
        let client = RemotingClient::new(ClientConfig::default());
        let create = CreateTopicRequestHeader {
            topic: "ROLE".into(),
            read_queue_nums: 1,
            write_queue_nums: 1,
            perm: 6,
            ..Default::default()
        };
        let cmd = RemotingCommand::request(RequestCode::UpdateAndCreateTopic.to_i32())
            .with_header(&create);
        assert_eq!(client.invoke_sync(&addr, cmd, TIMEOUT).unwrap().code, 0);
        assert_eq!(send(&client, &addr, "ROLE").code, 0);

        broker.ctx.role.set(BrokerRole::Slave);
        for topic in ["ROLE", "NEW_TOPIC"] {
            let r = send(&client, &addr, topic);
            assert_eq!(r.code, ResponseCode::ServiceNotAvailable.to_i32(), "{topic}: {r:?}");
            assert!(r.remark.as_deref().unwrap_or_default().contains("SLAVE"), "{r:?}");
        }
        let back = ConsumerSendMsgBackRequestHeader {
            offset: 0,
            group: "cg".into(),
            delay_level: 0,
            ..Default::default()
        };
        let cmd =
            RemotingCommand::request(RequestCode::ConsumerSendMsgBack.to_i32()).with_header(&back);
        let r = client.invoke_sync(&addr, cmd, TIMEOUT).unwrap();
        assert_eq!(r.code, ResponseCode::ServiceNotAvailable.to_i32(), "{r:?}");
        assert!(broker.ctx.topics.get("NEW_TOPIC").is_none(), "a slave auto-created a topic");
        let cmd = RemotingCommand::request(RequestCode::GetBrokerRuntimeInfo.to_i32());
        let info = client.invoke_sync(&addr, cmd, TIMEOUT).unwrap();
        let body = String::from_utf8(info.body).unwrap();
        assert!(body.contains(r#""brokerRole":"SLAVE""#), "{body}");

        broker.ctx.role.set(BrokerRole::AsyncMaster);
        assert_eq!(send(&client, &addr, "ROLE").code, 0);
        client.shutdown();
        broker.shutdown();
    }
}
