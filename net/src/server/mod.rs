//! The remoting server: one `net-io` thread (mio) plus fixed-size worker pools chosen by
//! request code.
//!
//! Request path: `net-io` reads and decodes a frame, looks up the code's [`Processor`] and pool,
//! and `try_send`s a job on the pool's bounded queue (full ⇒ SYSTEM_BUSY at once, or for a oneway
//! request, the job is held and the connection paused until the pool has room). A worker runs
//! the processor, encodes the response itself and hands the bytes back to `net-io` through a
//! channel plus a `mio::Waker`; `net-io` coalesces everything queued for a connection into one
//! `write`. Long-polling processors return `None` and answer later through a [`Responder`].
//!
//! Codes registered with [`ServerBuilder::register_inline`] are first offered to the processor
//! on `net-io` itself, whose response is encoded straight into the connection's write buffer:
//! no hop, no wake-up. The processor hands back (to the pool) anything that could block.

mod conn;
mod conn_state;
mod limits;
mod pool;
mod processor;
mod reactor;
mod transport;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log::warn;
use mio::{Poll, Waker};
use parking_lot::Mutex;

use crate::protocol::{SerializeType, FRAME_MAX_BYTES_DEFAULT};

pub use conn::{Connection, ConnectionId};
pub use processor::{
    Admission, Inline, Processor, RequestContext, RequestHook, RequestOutcome, Responder,
};

use conn::{IoHandle, IoMsg};
use reactor::{CloseHook, Reactor, Route, Router, Shared};

/// Server settings. Build with [`ServerConfig::new`] or `Default` (127.0.0.1, any port).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind_addr: SocketAddr,
    /// Largest frame accepted or sent, 4-byte prefix included (16 MiB, as Java).
    pub frame_max_bytes: usize,
    /// Connections with no whole frame read and no byte written for this long are closed
    /// (Java: 120 s). Bytes of an unfinished frame do not count as traffic.
    pub idle_timeout_ms: u64,
    /// A connection that has not sent one whole frame this long after its accept is closed
    /// (Java has none; RocketMQ clients send their first request at once).
    pub handshake_timeout_ms: u64,
    /// Bytes of an unfinished frame must become a whole frame within this long, or the
    /// connection is closed: a peer sending a byte a second (slowloris) cannot hold it open.
    /// At the default, a 16 MiB frame must arrive at 0.5 MiB/s at least.
    pub frame_timeout_ms: u64,
    /// Unsent bytes one connection may hold before it is closed as a slow reader.
    pub write_queue_max_bytes: usize,
    /// Header encoding of responses. JSON is the only one every client reads.
    pub response_serialize: SerializeType,
    /// Connections beyond this are accepted and closed at once.
    pub connections_max: usize,
    /// Connections from one client IP address beyond this are accepted and closed at once, so
    /// that one client cannot fill `connections_max` and lock everyone else out. Java has no
    /// such limit; a RocketMQ client opens one connection per broker and nameserver, so the
    /// default (1000) leaves room for many clients behind one address (NAT, a host of
    /// processes) while one runaway client is stopped at a tenth of `connections_max`.
    pub connections_per_address_max: usize,
    /// How long a graceful shutdown waits for workers and for replies to be written.
    pub shutdown_timeout_ms: u64,
    /// After a wake-up with work, `net-io` polls without sleeping for this long, so that a
    /// request arriving meanwhile is read without waking a sleeping CPU (on VMs that wake-up
    /// costs tens of microseconds). 0 turns busy polling off.
    pub busy_poll_us: u64,
    /// Messages (encoded replies, server-initiated requests, closes) other threads may have
    /// queued for `net-io` before they wait for room: the bound of the reply channel. A full
    /// channel slows the workers down, which fills their pool queues, which `net-io` answers
    /// with SYSTEM_BUSY.
    pub reply_queue_max: usize,
}

impl ServerConfig {
    /// Defaults, listening on `bind_addr`.
    pub fn new(bind_addr: SocketAddr) -> Self {
        Self { bind_addr, ..Self::default() }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            frame_max_bytes: FRAME_MAX_BYTES_DEFAULT,
            idle_timeout_ms: 120_000,
            handshake_timeout_ms: 10_000,
            frame_timeout_ms: 30_000,
            write_queue_max_bytes: 64 * 1024 * 1024,
            response_serialize: SerializeType::Json,
            connections_max: 10_000,
            connections_per_address_max: 1_000,
            shutdown_timeout_ms: 5_000,
            busy_poll_us: 0,
            reply_queue_max: 4096,
        }
    }
}

/// A snapshot of the server's connection table, published by `net-io` every 500 ms (so it
/// may lag by that much). See [`Server::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Open connections.
    pub connections: usize,
    /// Connections the table has room for without growing (it shrinks after a flood).
    pub connection_table_capacity: usize,
    /// Bytes held by every connection's read and write buffers (idle ones hold none).
    pub buffer_bytes: usize,
}

/// Names a pool declared with [`ServerBuilder::pool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolId(usize);

#[derive(Debug)]
struct PoolSpec {
    name: String,
    threads: usize,
    capacity: usize,
}

/// Declares pools and processors, then starts the server.
pub struct ServerBuilder {
    config: ServerConfig,
    pools: Vec<PoolSpec>,
    routes: HashMap<i32, Route>,
    default_route: Option<Route>,
    on_close: Vec<CloseHook>,
    hooks: Vec<Arc<dyn RequestHook>>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("pools", &self.pools)
            .field("codes", &self.routes.keys().collect::<Vec<_>>())
            .field("hooks", &self.hooks.len())
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// A builder with no pools and no processors.
    pub fn new(config: ServerConfig) -> Self {
        Self {
            config,
            pools: Vec::new(),
            routes: HashMap::new(),
            default_route: None,
            on_close: Vec::new(),
            hooks: Vec::new(),
        }
    }

    /// Declares a pool of `threads` workers named `<name>-<n>`, fed by a queue of
    /// `queue_capacity` jobs.
    pub fn pool(&mut self, name: &str, threads: usize, queue_capacity: usize) -> PoolId {
        self.pools.push(PoolSpec { name: name.to_owned(), threads, capacity: queue_capacity });
        PoolId(self.pools.len() - 1)
    }

    /// Runs `processor` on `pool` for requests with `code`.
    pub fn register(
        &mut self,
        code: i32,
        pool: PoolId,
        processor: Arc<dyn Processor>,
    ) -> &mut Self {
        self.route(code, pool, processor, false)
    }

    /// Like [`Self::register`], but the `net-io` thread first offers each request to
    /// [`Processor::process_inline`]; only requests it hands back run on `pool`. Saves the two
    /// thread hops of the pool path for short, non-blocking work (a send under async flush).
    pub fn register_inline(
        &mut self,
        code: i32,
        pool: PoolId,
        processor: Arc<dyn Processor>,
    ) -> &mut Self {
        self.route(code, pool, processor, true)
    }

    fn route(
        &mut self,
        code: i32,
        pool: PoolId,
        processor: Arc<dyn Processor>,
        inline: bool,
    ) -> &mut Self {
        self.routes.insert(code, Route { pool: pool.0, processor, inline });
        self
    }

    /// Runs `processor` on `pool` for every code without its own processor. Without one, the
    /// server answers REQUEST_CODE_NOT_SUPPORTED itself.
    pub fn default_processor(&mut self, pool: PoolId, processor: Arc<dyn Processor>) -> &mut Self {
        self.default_route = Some(Route { pool: pool.0, processor, inline: false });
        self
    }

    /// Calls `hook` (on the I/O thread; keep it short) once for each connection that closes.
    pub fn on_close(&mut self, hook: Arc<dyn Fn(&Connection) + Send + Sync>) -> &mut Self {
        self.on_close.push(hook);
        self
    }

    /// Adds `hook` around every request that has a processor, inline codes included (see
    /// [`RequestHook`]). Hooks run in the order they were added.
    pub fn hook(&mut self, hook: Arc<dyn RequestHook>) -> &mut Self {
        self.hooks.push(hook);
        self
    }

    /// Binds, spawns the workers and the `net-io` thread.
    pub fn start(self) -> io::Result<Server> {
        self.validate()?;
        // mio sets SO_REUSEADDR before binding on Unix (mio 1.x `TcpListener::bind`), so a
        // restart binds the port while the old connections linger (test `restart_in_place`).
        let mut listener = mio::net::TcpListener::bind(self.config.bind_addr)?;
        let local_addr = listener.local_addr()?;
        let poll = Poll::new()?;
        poll.registry().register(&mut listener, reactor::LISTENER, mio::Interest::READABLE)?;
        let waker = Waker::new(poll.registry(), reactor::WAKER)?;
        let (io_tx, io_rx) = crossbeam_channel::bounded(self.config.reply_queue_max);
        let io = Arc::new(IoHandle::new(
            io_tx,
            waker,
            self.config.response_serialize,
            self.config.frame_max_bytes,
            self.hooks,
        ));
        let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(0);
        let mut queues = Vec::with_capacity(self.pools.len());
        let mut workers = Vec::new();
        for spec in &self.pools {
            let (queue, handles) =
                pool::spawn_pool(&spec.name, spec.threads, spec.capacity, &done_tx)?;
            queues.push(queue);
            workers.extend(handles);
        }
        drop(done_tx);
        let refusals = Arc::new(Mutex::new(limits::RefusalBook::default()));
        let stats = Arc::new(Mutex::new(ServerStats::default()));
        let shared = Shared { refusals: Arc::clone(&refusals), stats: Arc::clone(&stats) };
        let rejected = Arc::new(AtomicU64::new(0));
        let router = Router {
            pools: queues,
            routes: self.routes,
            default_route: self.default_route,
            dispatched: std::cell::Cell::new(0),
            rejected_total: Arc::clone(&rejected),
            rejections_pending: std::cell::Cell::new(false),
        };
        let shutdown_timeout = Duration::from_millis(self.config.shutdown_timeout_ms);
        let reactor = Reactor::new(
            poll,
            listener,
            io_rx,
            Arc::clone(&io),
            self.config,
            router,
            self.on_close,
            shared,
        );
        let io_thread =
            thread::Builder::new().name("net-io".into()).spawn(move || reactor.run())?;
        Ok(Server {
            local_addr,
            io,
            io_thread: Some(io_thread),
            workers,
            workers_done: done_rx,
            shutdown_timeout,
            counters: ServerObserver { rejected, refusals, stats },
        })
    }

    fn validate(&self) -> io::Result<()> {
        let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        if self.config.reply_queue_max == 0 {
            return invalid("reply_queue_max must be at least 1".to_owned());
        }
        if self.config.connections_per_address_max == 0 {
            return invalid("connections_per_address_max must be at least 1".to_owned());
        }
        if let Some(p) = self.pools.iter().find(|p| p.threads == 0 || p.capacity == 0) {
            return invalid(format!("pool '{}' needs at least one thread and queue slot", p.name));
        }
        let routes = self.routes.values().chain(self.default_route.iter());
        if let Some(r) = routes.into_iter().find(|r| r.pool >= self.pools.len()) {
            return invalid(format!("processor registered on unknown pool {}", r.pool));
        }
        Ok(())
    }
}

/// A running server. [`Server::shutdown`] (or drop) stops it gracefully.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    io: Arc<IoHandle>,
    io_thread: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
    workers_done: Receiver<()>,
    shutdown_timeout: Duration,
    /// The counters, shared with every [`ServerObserver`].
    counters: ServerObserver,
}

/// A read-only view of a running server's counters that outlives no one: it can be handed to
/// processors (an admin call reporting them) before or after the [`Server`] itself is stored.
#[derive(Clone, Debug)]
pub struct ServerObserver {
    rejected: Arc<AtomicU64>,
    refusals: Arc<Mutex<limits::RefusalBook>>,
    stats: Arc<Mutex<ServerStats>>,
}

impl ServerObserver {
    /// Requests answered SYSTEM_BUSY because their pool's queue was full, since the start.
    /// (Oneway requests are never refused: their connection is paused until the pool has room.)
    pub fn rejected_requests(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Connections closed at accept because `connections_max` or
    /// `connections_per_address_max` was reached, since the start.
    pub fn refused_connections_total(&self) -> u64 {
        self.refusals.lock().total()
    }

    /// Connections closed at accept since the start, by client address, most refused first.
    /// At most 4096 addresses are listed; refusals of further ones count only in
    /// [`ServerObserver::refused_connections_total`].
    pub fn refused_connections(&self) -> Vec<(IpAddr, u64)> {
        self.refusals.lock().by_addr()
    }

    /// The connection table as last published by `net-io` (at most 500 ms old).
    pub fn stats(&self) -> ServerStats {
        *self.stats.lock()
    }
}

impl Server {
    /// A view of the counters for code that cannot hold the server.
    pub fn observer(&self) -> ServerObserver {
        self.counters.clone()
    }

    /// See [`ServerObserver::rejected_requests`].
    pub fn rejected_requests(&self) -> u64 {
        self.counters.rejected_requests()
    }

    /// See [`ServerObserver::refused_connections_total`].
    pub fn refused_connections_total(&self) -> u64 {
        self.counters.refused_connections_total()
    }

    /// See [`ServerObserver::refused_connections`].
    pub fn refused_connections(&self) -> Vec<(IpAddr, u64)> {
        self.counters.refused_connections()
    }

    /// See [`ServerObserver::stats`].
    pub fn stats(&self) -> ServerStats {
        self.counters.stats()
    }

    /// Panics caught in processors and hooks (each answered SYSTEM_ERROR), since the start.
    pub fn processor_panics(&self) -> u64 {
        self.io.panics.load(Ordering::Relaxed)
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets workers finish queued and in-flight jobs and their replies be
    /// written (each step bounded by `shutdown_timeout_ms`), closes every connection and joins
    /// the threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(io_thread) = self.io_thread.take() else { return };
        let deadline = Instant::now() + self.shutdown_timeout;
        self.io.send(IoMsg::StopAccepting);
        self.join_workers(deadline);
        let flush_deadline = Instant::now() + self.shutdown_timeout;
        self.io.send(IoMsg::Finish { deadline: flush_deadline });
        if io_thread.join().is_err() {
            log::error!("net-io thread panicked");
        }
    }

    fn join_workers(&mut self, deadline: Instant) {
        // Every worker holds a sender of `workers_done`; all gone ⇒ all exited.
        let timeout = deadline.saturating_duration_since(Instant::now());
        match self.workers_done.recv_timeout(timeout) {
            Err(RecvTimeoutError::Disconnected) | Ok(()) => {
                for worker in self.workers.drain(..) {
                    if worker.join().is_err() {
                        log::error!("a worker thread panicked");
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                warn!("workers still busy after {:?}; not waiting for them", self.shutdown_timeout);
                self.workers.clear();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
