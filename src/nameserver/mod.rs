//! The nameserver: broker registration, liveness, topic routes, cluster info and KV config.
//!
//! Stateless apart from the optional KV file: several nameservers run side by side and share
//! nothing; brokers register with each. Threads: the net server's io thread, a small worker pool
//! for every request code, and `namesrv-scan`, which expires brokers that stopped registering.

mod config;
mod error;
mod java_conf;
pub mod kv;
mod processor;
pub mod route;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Sender};
use parking_lot::RwLock;
use rocketmq_net::{Connection, Server, ServerBuilder, ServerConfig};

pub use config::{NamesrvConfig, RawNamesrvConfig};
pub use java_conf::java_properties;
use kv::KvConfig;
use processor::NamesrvProcessor;
use route::RouteTable;

/// State shared by the request workers and the scan thread.
#[derive(Debug)]
struct State {
    routes: RwLock<RouteTable>,
    kv: RwLock<KvConfig>,
    config: NamesrvConfig,
}

/// A running nameserver.
#[derive(Debug)]
pub struct NameServer {
    server: Option<Server>,
    stop_scan: Option<Sender<()>>,
    scan: Option<JoinHandle<()>>,
}

impl NameServer {
    /// Binds the port and starts serving.
    pub fn start(config: NamesrvConfig) -> std::io::Result<Self> {
        let kv = KvConfig::open(config.kv_config_path.clone())?;
        let state = Arc::new(State {
            routes: RwLock::new(RouteTable::default()),
            kv: RwLock::new(kv),
            config: config.clone(),
        });
        let mut server_cfg = ServerConfig::new(config.listen_addr);
        server_cfg.idle_timeout_ms = config.idle_timeout_ms;
        server_cfg.connections_per_address_max = config.connections_per_address_max;
        let mut builder = ServerBuilder::new(server_cfg);
        let pool = builder.pool("namesrv", config.worker_threads, config.worker_queue_capacity);
        builder.default_processor(pool, Arc::new(NamesrvProcessor::new(state.clone())));
        let on_close_state = state.clone();
        builder.on_close(Arc::new(move |conn: &Connection| {
            let gone = on_close_state.routes.write().connection_closed(conn.id());
            for addr in gone {
                log::info!("broker {addr} removed: its connection closed");
            }
        }));
        let server = builder.start()?;
        let (stop_tx, stop_rx) = bounded::<()>(1);
        let scan = std::thread::Builder::new().name("namesrv-scan".into()).spawn(move || {
            let interval = Duration::from_millis(state.config.scan_interval_ms);
            while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                stop_rx.recv_timeout(interval)
            {
                let gone = state.routes.write().expire(crate::remoting::now_ms());
                for addr in gone {
                    log::warn!("broker {addr} expired: no registration for too long");
                }
            }
        })?;
        Ok(Self { server: Some(server), stop_scan: Some(stop_tx), scan: Some(scan) })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        match &self.server {
            Some(s) => s.local_addr(),
            None => std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }

    /// Stops accepting, finishes in-flight requests and stops the scan thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
        drop(self.stop_scan.take());
        if let Some(scan) = self.scan.take() {
            let _ = scan.join();
        }
    }
}

impl Drop for NameServer {
    fn drop(&mut self) {
        self.stop();
    }
}
