//! `ClientInstance`: the machinery one producer or consumer runs on (Java's MQClientInstance):
//! one [`RemotingClient`], the topic-route cache and broker address table, and the
//! `rmq-client-timer` thread that refreshes routes (every 30 s) and heartbeats every broker
//! (every 30 s).
//!
//! Its owner supplies what goes into the heartbeat and how to answer requests brokers send us;
//! both are plain closures so the instance knows nothing about producers or consumers.
//!
//! **Invariant:** routes and broker addresses change only through [`ClientInstance::set_route`],
//! so the address table always covers every cached route.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use log::{debug, info, warn};
use parking_lot::{Mutex, RwLock};
use rocketmq_net::{
    CommandHeader, RemotingClient, RemotingCommand, RequestCode, RequestHandler, ResponseCode,
};

use super::config::ClientConfig;
use super::error::{ClientError, Result};
use crate::protocol::body::heartbeat::HeartbeatData;
use crate::protocol::body::route::TopicRouteData;
use crate::protocol::body::{from_json, to_json};
use crate::protocol::constants::MASTER_ID;
use crate::protocol::header::client::UnregisterClientRequestHeader;
use crate::protocol::header::namesrv::GetRouteInfoRequestHeader;

/// Least time between two failure-driven refreshes of one topic's route.
const FAILURE_REFRESH_GAP: Duration = Duration::from_secs(1);

/// Builds the heartbeat body on demand (it reflects the owner's current subscriptions).
pub(crate) type HeartbeatFn = Arc<dyn Fn() -> HeartbeatData + Send + Sync>;
/// Told about every route that changed (topic, new route).
pub(crate) type RouteListener = Arc<dyn Fn(&str, &TopicRouteData) + Send + Sync>;

/// The shared client runtime. Create with [`ClientInstance::start`], stop with `shutdown`.
pub(crate) struct ClientInstance {
    pub config: ClientConfig,
    pub client_id: String,
    pub remoting: RemotingClient,
    routes: RwLock<HashMap<String, TopicRouteData>>,
    /// Broker name → (broker id → address).
    brokers: RwLock<HashMap<String, BTreeMap<i64, String>>>,
    /// Topics whose routes the timer refreshes.
    topics: Mutex<BTreeSet<String>>,
    heartbeat: RwLock<Option<HeartbeatFn>>,
    route_listeners: RwLock<Vec<RouteListener>>,
    /// When each topic was last refreshed after a failure (see `refresh_route_after_failure`).
    failure_refreshes: Mutex<HashMap<String, Instant>>,
    next_namesrv: AtomicUsize,
    timer: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
}

impl std::fmt::Debug for ClientInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientInstance")
            .field("client_id", &self.client_id)
            .field("name_servers", &self.config.name_servers)
            .finish_non_exhaustive()
    }
}

impl ClientInstance {
    /// Validates the config and starts the remoting client and the timer thread.
    pub(crate) fn start(config: ClientConfig) -> Result<Arc<Self>> {
        config.validate()?;
        let instance = Arc::new(Self {
            client_id: config.client_id(),
            remoting: RemotingClient::new(rocketmq_net::ClientConfig {
                busy_poll_us: config.busy_poll_us,
                ..rocketmq_net::ClientConfig::default()
            }),
            config,
            routes: RwLock::new(HashMap::new()),
            brokers: RwLock::new(HashMap::new()),
            topics: Mutex::new(BTreeSet::new()),
            heartbeat: RwLock::new(None),
            route_listeners: RwLock::new(Vec::new()),
            failure_refreshes: Mutex::new(HashMap::new()),
            next_namesrv: AtomicUsize::new(0),
            timer: Mutex::new(None),
        });
        if let Some(c) = &instance.config.credentials {
            let hook = Arc::new(crate::acl::AclRpcHook::new(c.clone()));
            // A fresh remoting client has no hook yet, so this cannot fail.
            let _ = instance.remoting.set_rpc_hook(hook);
        }
        let (stop_tx, stop_rx) = bounded::<()>(1);
        let weak = Arc::downgrade(&instance);
        let handle = std::thread::Builder::new()
            .name("rmq-client-timer".into())
            .spawn(move || {
                let mut ticker = Ticker::new(weak.upgrade().map(|i| i.config.clone()));
                loop {
                    match stop_rx.recv_timeout(ticker.wait()) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    let Some(instance) = weak.upgrade() else { return };
                    ticker.run_due(&instance);
                }
            })
            .map_err(|e| ClientError::invalid(format!("cannot spawn the timer thread: {e}")))?;
        *instance.timer.lock() = Some((stop_tx, handle));
        Ok(instance)
    }

    /// Sets what the periodic heartbeat carries.
    pub(crate) fn set_heartbeat(&self, f: HeartbeatFn) {
        *self.heartbeat.write() = Some(f);
    }

    /// Adds a listener told about every changed route.
    pub(crate) fn add_route_listener(&self, f: RouteListener) {
        self.route_listeners.write().push(f);
    }

    /// Sets the handler of requests brokers send us (NOTIFY_CONSUMER_IDS_CHANGED, …).
    pub(crate) fn set_request_handler(&self, handler: RequestHandler) {
        self.remoting.set_request_handler(handler);
    }

    /// Stops the timer and closes every connection. Idempotent.
    pub(crate) fn shutdown(&self) {
        let timer = self.timer.lock().take();
        if let Some((stop, handle)) = timer {
            drop(stop);
            if handle.thread().id() != std::thread::current().id() && handle.join().is_err() {
                warn!("the client timer thread panicked");
            }
        }
        self.remoting.shutdown();
    }

    // ---- calls ----

    /// A call to `addr`; transport failures become [`ClientError`]s, any response is returned.
    pub(crate) fn call(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        self.remoting.invoke_sync(addr, cmd, timeout).map_err(|e| ClientError::from_net(addr, e))
    }

    /// A call that must answer SUCCESS, with the default timeout.
    pub(crate) fn call_ok(&self, addr: &str, cmd: RemotingCommand) -> Result<RemotingCommand> {
        let resp = self.call(addr, cmd, self.config.rpc_timeout)?;
        if resp.code == ResponseCode::Success.to_i32() {
            Ok(resp)
        } else {
            Err(ClientError::from_response(addr, &resp, None))
        }
    }

    /// Sends `cmd` to the nameservers in turn until one answers; returns the answer and who gave
    /// it.
    pub(crate) fn call_namesrv(&self, cmd: &RemotingCommand) -> Result<(String, RemotingCommand)> {
        let addrs = &self.config.name_servers;
        let start = self.next_namesrv.load(Ordering::Relaxed);
        for i in 0..addrs.len() {
            let index = (start + i) % addrs.len();
            let addr = &addrs[index];
            match self.remoting.invoke_sync(addr, cmd.clone(), self.config.rpc_timeout) {
                Ok(resp) => {
                    self.next_namesrv.store(index, Ordering::Relaxed);
                    return Ok((addr.clone(), resp));
                }
                Err(rocketmq_net::NetError::Shutdown) => return Err(ClientError::NotRunning),
                Err(e) => debug!("nameserver {addr} failed: {e}"),
            }
        }
        Err(ClientError::NameserverUnreachable { addrs: addrs.clone() })
    }

    // ---- routes ----

    /// The route of `topic`, from the cache or the nameserver; the topic is refreshed every
    /// 30 s from then on.
    pub(crate) fn route(&self, topic: &str) -> Result<TopicRouteData> {
        self.topics.lock().insert(topic.to_string());
        if let Some(route) = self.routes.read().get(topic) {
            return Ok(route.clone());
        }
        self.refresh_route(topic)
    }

    /// Fetches the route of `topic` from the nameserver and caches it.
    pub(crate) fn refresh_route(&self, topic: &str) -> Result<TopicRouteData> {
        let route = self.fetch_route(topic)?;
        self.set_route(topic, route.clone());
        Ok(route)
    }

    /// Refreshes `topic` after a failed call, at most once per [`FAILURE_REFRESH_GAP`], so a
    /// burst of failures does not become a burst of nameserver requests. Errors are ignored:
    /// the caller already has one to report.
    pub(crate) fn refresh_route_after_failure(&self, topic: &str) {
        {
            let mut last = self.failure_refreshes.lock();
            let now = Instant::now();
            if last.get(topic).is_some_and(|t| now.duration_since(*t) < FAILURE_REFRESH_GAP) {
                return;
            }
            last.insert(topic.to_string(), now);
        }
        if let Err(e) = self.refresh_route(topic) {
            debug!("refreshing the route of {topic} after a failure: {e}");
        }
    }

    /// Asks the nameserver for a route without touching the cache.
    pub(crate) fn fetch_route(&self, topic: &str) -> Result<TopicRouteData> {
        let header =
            GetRouteInfoRequestHeader { topic: topic.to_string(), accept_standard_json_only: None };
        let cmd = RemotingCommand::request(RequestCode::GetRouteInfoByTopic.to_i32())
            .with_header(&header);
        let (addr, resp) = self.call_namesrv(&cmd)?;
        match ResponseCode::from_i32(resp.code) {
            ResponseCode::Success => from_json::<TopicRouteData>(&resp.body)
                .map_err(|e| ClientError::bad_response(&addr, e)),
            ResponseCode::TopicNotExist => Err(ClientError::TopicNotFound { topic: topic.into() }),
            _ => Err(ClientError::from_response(&addr, &resp, Some(topic))),
        }
    }

    /// Stores a route and the addresses of its brokers.
    pub(crate) fn set_route(&self, topic: &str, route: TopicRouteData) {
        {
            let mut brokers = self.brokers.write();
            for bd in &route.broker_datas {
                brokers.insert(bd.broker_name.clone(), bd.broker_addrs.clone());
            }
        }
        let changed = self.routes.read().get(topic) != Some(&route);
        if changed {
            debug!("route of {topic} is now {route:?}");
            self.routes.write().insert(topic.to_string(), route.clone());
            let listeners = self.route_listeners.read().clone();
            for listener in listeners {
                listener(topic, &route);
            }
        }
    }

    /// Stops refreshing `topic`.
    pub(crate) fn forget_topic(&self, topic: &str) {
        self.topics.lock().remove(topic);
    }

    fn refresh_all_routes(&self) {
        let topics: Vec<String> = self.topics.lock().iter().cloned().collect();
        for topic in topics {
            if let Err(e) = self.refresh_route(&topic) {
                debug!("cannot refresh the route of {topic}: {e}");
            }
        }
    }

    /// The master address of `broker_name`.
    pub(crate) fn master_addr(&self, broker_name: &str) -> Option<String> {
        self.brokers.read().get(broker_name).and_then(|a| a.get(&MASTER_ID).cloned())
    }

    /// The master address of `broker_name`, refreshing `topic`'s route once if unknown.
    pub(crate) fn master_addr_or_refresh(&self, broker_name: &str, topic: &str) -> Result<String> {
        if let Some(addr) = self.master_addr(broker_name) {
            return Ok(addr);
        }
        self.refresh_route(topic)?;
        self.master_addr(broker_name).ok_or_else(|| ClientError::NoBrokerReachable {
            addr: broker_name.to_string(),
            reason: "the broker has no master in the route".into(),
        })
    }

    /// Addresses of the brokers serving `topic`, masters first.
    pub(crate) fn broker_addrs_of_topic(&self, topic: &str) -> Vec<String> {
        let Some(route) = self.routes.read().get(topic).cloned() else { return Vec::new() };
        let mut addrs: Vec<String> = route
            .broker_datas
            .iter()
            .filter_map(|bd| bd.master_addr().map(str::to_string))
            .collect();
        for bd in &route.broker_datas {
            for addr in bd.broker_addrs.values() {
                if !addrs.contains(addr) {
                    addrs.push(addr.clone());
                }
            }
        }
        addrs
    }

    /// Every known broker address (`masters_only`: id 0 only).
    pub(crate) fn all_broker_addrs(&self, masters_only: bool) -> Vec<String> {
        let brokers = self.brokers.read();
        let mut addrs: Vec<String> = brokers
            .values()
            .flat_map(|a| a.iter())
            .filter(|(id, _)| !masters_only || **id == MASTER_ID)
            .map(|(_, addr)| addr.clone())
            .collect();
        addrs.sort();
        addrs.dedup();
        addrs
    }

    // ---- heartbeat ----

    /// Sends the heartbeat to every broker (masters only for a producer-only client). Returns
    /// how many brokers accepted it.
    pub(crate) fn send_heartbeat(&self) -> usize {
        let Some(make) = self.heartbeat.read().clone() else { return 0 };
        let mut data = make();
        data.client_id.clone_from(&self.client_id);
        if data.consumer_data_set.is_empty() && data.producer_data_set.is_empty() {
            return 0;
        }
        let masters_only = data.consumer_data_set.is_empty();
        let body = to_json(&data);
        let mut ok = 0;
        for addr in self.all_broker_addrs(masters_only) {
            let cmd =
                RemotingCommand::request(RequestCode::HeartBeat.to_i32()).with_body(body.clone());
            match self.call_ok(&addr, cmd) {
                Ok(_) => ok += 1,
                Err(e) => info!("heartbeat to {addr} failed: {e}"),
            }
        }
        ok
    }

    /// Tells every broker this client left `producer_group` / `consumer_group`.
    pub(crate) fn unregister(&self, producer_group: Option<&str>, consumer_group: Option<&str>) {
        let header = UnregisterClientRequestHeader {
            client_id: self.client_id.clone(),
            producer_group: producer_group.map(str::to_string),
            consumer_group: consumer_group.map(str::to_string),
        };
        for addr in self.all_broker_addrs(false) {
            let cmd = RemotingCommand::request(RequestCode::UnregisterClient.to_i32())
                .with_header(&header);
            if let Err(e) = self.call_ok(&addr, cmd) {
                debug!("unregister from {addr} failed: {e}");
            }
        }
    }
}

/// When the timer's two periodic jobs are next due.
struct Ticker {
    route_every: Duration,
    heartbeat_every: Duration,
    next_route: Instant,
    next_heartbeat: Instant,
}

impl Ticker {
    fn new(config: Option<ClientConfig>) -> Self {
        let config = config.unwrap_or_default();
        let now = Instant::now();
        Self {
            route_every: config.poll_name_server_interval,
            heartbeat_every: config.heartbeat_interval,
            next_route: now + config.poll_name_server_interval,
            next_heartbeat: now + config.heartbeat_interval,
        }
    }

    fn wait(&self) -> Duration {
        self.next_route.min(self.next_heartbeat).saturating_duration_since(Instant::now())
    }

    fn run_due(&mut self, instance: &ClientInstance) {
        let now = Instant::now();
        if now >= self.next_route {
            instance.refresh_all_routes();
            self.next_route = Instant::now() + self.route_every;
        }
        if now >= self.next_heartbeat {
            instance.send_heartbeat();
            self.next_heartbeat = Instant::now() + self.heartbeat_every;
        }
    }
}

/// Reads a typed response header, naming the peer on failure.
pub(crate) fn response_header<H: CommandHeader>(addr: &str, resp: &RemotingCommand) -> Result<H> {
    resp.decode_header::<H>().map_err(|e| ClientError::bad_response(addr, e))
}
