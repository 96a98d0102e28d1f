//! The `net-io` thread: a mio event loop that accepts connections, drains its inbox, retries
//! held oneway jobs and flushes what each wake-up queued. What happens to one connection (read,
//! split, route, answer inline, write) is in `conn_state.rs`; its bytes go through the
//! `Transport` of `transport.rs` (plain TCP today, TLS next).
//!
//! **Invariants:** the loop never blocks except in `Poll::poll`. A connection's bytes are read
//! until `WouldBlock` (mio is edge-triggered) or until its read budget for this turn is used,
//! in which case it is listed in `unread` and read again next turn (so a flooding peer cannot
//! keep the thread from the others). Every reply queued during one wakeup is written
//! with as few `write` calls as possible, from one coalesced buffer per connection. A frame that
//! is too large or does not decode closes only its own connection. Every connection is
//! registered for READABLE | WRITABLE once; a writable edge flushes what a `WouldBlock` left.
//!
//! **Back-pressure for oneway requests.** A full pool answers a normal request with SYSTEM_BUSY,
//! but a oneway request cannot be answered, so it is *held* on its connection instead (at most
//! one per connection) and that connection is not read any more (its readable edges are
//! ignored; later frames stay in its `FrameBuf`). Held jobs are retried on every loop iteration,
//! and the loop polls with a 1 ms timeout while any is held; once the job is queued, the frames
//! already buffered are dispatched and the socket is read again. Other connections are served
//! meanwhile. Frames a peer sent before closing its side are still processed (the FIN is seen
//! once reading resumes); a reset, the idle timeout or `Connection::close` drops the held job.
//!
//! **Admission and clean-up.** Connections over `connections_max` or over
//! `connections_per_address_max` from one address are closed at accept (`limits.rs`: counted by
//! address, warned about once a second). Every [`IDLE_SCAN_INTERVAL`] the loop closes the
//! connections past a timeout (`ConnState::timed_out`), frees the buffers of connections idle
//! for [`BUFFER_RELEASE_AFTER`], gives back the connection table's spare room after a flood and
//! publishes [`ServerStats`]. None of it runs per request.

use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TrySendError};
use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Poll, Token};
use parking_lot::Mutex;

use crate::panic_policy;

use super::conn::{Connection, ConnectionId, IoHandle, IoMsg};
use super::conn_state::{CloseReason, ConnState, HeldJob, ReadOutcome, Timeouts};
use super::limits::{self, ConnLimits, Refusal};
use super::pool::PoolQueue;
use super::processor::Processor;
use super::transport::Transport;
use super::{ServerConfig, ServerStats};

pub(crate) const LISTENER: Token = Token(0);
pub(crate) const WAKER: Token = Token(1);
const FIRST_CONN_ID: u64 = 2;

/// Largest number of jobs per loop iteration after which the I/O thread polls for replies.
const LONE_JOBS_MAX: usize = 2;
/// How long the I/O thread polls for a lone request's reply.
const LONE_REPLY_SPIN: Duration = Duration::from_micros(30);
/// How often idle connections are looked for.
const IDLE_SCAN_INTERVAL: Duration = Duration::from_millis(500);
/// A connection with no frame read and nothing written for this long gives its buffers back.
const BUFFER_RELEASE_AFTER: Duration = Duration::from_secs(1);
/// Poll timeout while a oneway job waits for room in its pool.
const HELD_RETRY_INTERVAL: Duration = Duration::from_millis(1);
/// At most one "pool full" warning per pool per this interval.
const REJECT_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Called once for every connection that closes.
pub(crate) type CloseHook = Arc<dyn Fn(&Connection) + Send + Sync>;

/// A request code's processor and the pool it runs on.
#[derive(Clone)]
pub(crate) struct Route {
    pub pool: usize,
    pub processor: Arc<dyn Processor>,
    /// Offered to `Processor::process_inline` on this thread before the pool.
    pub inline: bool,
}

/// Maps request codes to pools.
pub(crate) struct Router {
    pub pools: Vec<PoolQueue>,
    pub routes: HashMap<i32, Route>,
    pub default_route: Option<Route>,
    /// Jobs handed to pools during the current loop iteration.
    pub dispatched: Cell<usize>,
    /// Requests answered SYSTEM_BUSY because their pool was full, since the start.
    pub rejected_total: Arc<AtomicU64>,
    /// Some pool's `rejected_recent` is not zero (a warning is due).
    pub rejections_pending: Cell<bool>,
}

/// The I/O thread's state.
pub(crate) struct Reactor {
    poll: Poll,
    listener: Option<TcpListener>,
    inbox: Receiver<IoMsg>,
    io: Arc<IoHandle>,
    config: ServerConfig,
    router: Option<Router>,
    on_close: Vec<CloseHook>,
    conns: HashMap<Token, ConnState>,
    dirty: Vec<Token>,
    next_id: u64,
    now: Instant,
    next_idle_scan: Instant,
    finish_deadline: Option<Instant>,
    /// Connections holding a oneway job their full pool refused (see the module doc).
    held: Vec<Token>,
    /// Connections that used up their read budget with data possibly left (read next turn).
    unread: Vec<Token>,
    /// `StopAccepting` was received: read no more; the pools are dropped once `held` is empty.
    stopping: bool,
    /// When the current "pool full" warning window started.
    reject_window: Option<Instant>,
    /// The connection caps and the refusal counts.
    admission: ConnLimits,
    timeouts: Timeouts,
    /// Published every scan, read by `Server::stats`.
    stats: Arc<Mutex<ServerStats>>,
}

/// What `net-io` shares with the `Server` handle.
pub(crate) struct Shared {
    pub(crate) refusals: Arc<Mutex<limits::RefusalBook>>,
    pub(crate) stats: Arc<Mutex<ServerStats>>,
}

impl Reactor {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        poll: Poll,
        listener: TcpListener,
        inbox: Receiver<IoMsg>,
        io: Arc<IoHandle>,
        config: ServerConfig,
        router: Router,
        on_close: Vec<CloseHook>,
        shared: Shared,
    ) -> Self {
        let now = Instant::now();
        let admission = ConnLimits::new(
            config.connections_max,
            config.connections_per_address_max,
            shared.refusals,
        );
        Self {
            admission,
            timeouts: Timeouts::of(&config),
            stats: shared.stats,
            poll,
            listener: Some(listener),
            inbox,
            io,
            config,
            router: Some(router),
            on_close,
            conns: HashMap::new(),
            dirty: Vec::new(),
            next_id: FIRST_CONN_ID,
            now,
            next_idle_scan: now + IDLE_SCAN_INTERVAL,
            finish_deadline: None,
            held: Vec::new(),
            unread: Vec::new(),
            stopping: false,
            reject_window: None,
        }
    }

    /// Runs until [`IoMsg::Finish`] has been handled.
    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let busy_poll = Duration::from_micros(self.config.busy_poll_us);
        let mut busy_until = self.now;
        self.io.enter_io_thread();
        loop {
            let more_queued = !self.inbox.is_empty() || IoHandle::has_self_posted();
            let timeout = if !self.unread.is_empty() || more_queued {
                Duration::ZERO
            } else if Instant::now() < busy_until {
                // Busy polling: let other threads of this CPU run, but do not sleep.
                std::thread::yield_now();
                Duration::ZERO
            } else {
                self.poll_timeout()
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("net-io poll failed, closing every connection: {e}");
                break;
            }
            self.now = Instant::now();
            if !events.is_empty() {
                busy_until = self.now + busy_poll;
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    WAKER => {}
                    token => self.conn_event(token, event),
                }
            }
            self.read_unread();
            self.drain_inbox();
            self.retry_held();
            self.flush_dirty();
            self.await_lone_reply();
            self.report_rejections();
            self.scan_idle();
            if self.finished() {
                break;
            }
        }
        self.close_all();
    }

    /// After dispatching one or two jobs and nothing else, polls the inbox for the replies for
    /// a few tens of microseconds (yielding the CPU) before going back to `epoll_wait`: a lone
    /// request is then answered without a `Waker` round trip. Bigger batches skip this, so a
    /// loaded server never spins.
    fn await_lone_reply(&mut self) {
        let Some(router) = &self.router else { return };
        let dispatched = router.dispatched.replace(0);
        if dispatched == 0 || dispatched > LONE_JOBS_MAX {
            return;
        }
        // Workers skip waking us while the flag is set; `drain_inbox` clears it again.
        self.io.suppress_wake();
        let start = Instant::now();
        while self.inbox.is_empty() && start.elapsed() < LONE_REPLY_SPIN {
            std::thread::yield_now();
        }
        self.now = Instant::now();
        self.drain_inbox();
        self.flush_dirty();
    }

    fn poll_timeout(&self) -> Duration {
        if !self.held.is_empty() {
            return HELD_RETRY_INTERVAL;
        }
        match self.finish_deadline {
            Some(_) => Duration::from_millis(10),
            None => IDLE_SCAN_INTERVAL,
        }
    }

    /// Offers every held oneway job to its pool again; a connection whose job is accepted
    /// dispatches the frames it had buffered and, unless the server is stopping, reads again.
    fn retry_held(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let mut held = std::mem::take(&mut self.held);
        held.retain(|&token| self.resume(token));
        // Start with another connection next time, so none waits behind the others forever.
        if held.len() > 1 {
            held.rotate_left(1);
        }
        self.held = held;
        if self.stopping && self.held.is_empty() {
            // Every held job is queued: the pools may now drain and exit.
            self.router = None;
        }
    }

    /// Retries `token`'s held job; `true` if the connection still holds one.
    fn resume(&mut self, token: Token) -> bool {
        let Some(conn) = self.conns.get_mut(&token) else { return false };
        let Some(HeldJob { pool, job }) = conn.held.take() else { return false };
        let Some(router) = self.router.as_ref() else { return false };
        match router.pools[pool].tx.try_send(job) {
            Ok(()) => router.dispatched.set(router.dispatched.get() + 1),
            Err(TrySendError::Full(job)) => {
                conn.held = Some(HeldJob { pool, job });
                return true;
            }
            Err(TrySendError::Disconnected(_)) => {
                warn!("pool '{}' is shut down; dropping a oneway request", router.pools[pool].name);
            }
        }
        conn.last_active = self.now;
        let mut outcome = match conn.handle_frames(Some(router)) {
            Ok(frames) => {
                conn.note_progress(frames, self.now);
                ReadOutcome::Open
            }
            Err(e) => ReadOutcome::Close(CloseReason::BadFrame(e)),
        };
        if conn.held.is_none() && !self.stopping {
            if let ReadOutcome::Open = outcome {
                // The readable edges ignored while held are lost: read until drained.
                outcome = conn.read_all(self.now, Some(router));
            }
        }
        match outcome {
            ReadOutcome::Close(reason) => {
                self.close(token, reason);
                return false;
            }
            ReadOutcome::MoreToRead => list_unread(&mut self.unread, token),
            ReadOutcome::Open => {}
        }
        list_dirty(&mut self.dirty, token, conn);
        conn.held.is_some()
    }

    /// Reads again from connections that used up their read budget in an earlier turn, so
    /// that one busy peer cannot keep this thread from the others.
    fn read_unread(&mut self) {
        if self.unread.is_empty() {
            return;
        }
        let tokens = std::mem::take(&mut self.unread);
        for token in tokens {
            let Some(conn) = self.conns.get_mut(&token) else { continue };
            if self.stopping || self.router.is_none() || conn.held.is_some() {
                continue;
            }
            let outcome = conn.read_all(self.now, self.router.as_ref());
            if let Some(reason) = book_read(outcome, token, conn, &mut self.unread, &mut self.held)
            {
                self.close(token, reason);
                continue;
            }
            list_dirty(&mut self.dirty, token, conn);
        }
    }

    /// Logs, at most once per [`REJECT_LOG_INTERVAL`], how many requests each pool refused.
    fn report_rejections(&mut self) {
        let Some(router) = &self.router else { return };
        if !router.rejections_pending.get() {
            return;
        }
        let start = *self.reject_window.get_or_insert(self.now);
        if self.now.duration_since(start) < REJECT_LOG_INTERVAL {
            return;
        }
        for pool in &router.pools {
            let n = pool.rejected_recent.replace(0);
            if n > 0 {
                warn!("pool '{}' full: {n} requests rejected in the last second", pool.name);
            }
        }
        router.rejections_pending.set(false);
        self.reject_window = None;
    }

    fn accept_all(&mut self) {
        loop {
            let Some(listener) = &self.listener else { return };
            match listener.accept() {
                Ok((stream, peer)) => self.add_conn(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Typically EMFILE; the next readiness edge retries.
                    warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    /// Registers an accepted connection, or closes it at once (by dropping `stream`) if a
    /// connection cap refuses it.
    fn add_conn(&mut self, stream: TcpStream, peer: SocketAddr) {
        if let Err(refusal) = self.admission.admit(peer.ip(), self.conns.len()) {
            match refusal {
                Refusal::ServerFull => debug!("refusing {peer}: the server is full"),
                Refusal::AddressFull => debug!("refusing {peer}: its address is at its limit"),
            }
            return;
        }
        if !self.register_conn(stream, peer) {
            self.admission.release(peer.ip());
        }
    }

    /// Registers an admitted connection; `false` if it could not be.
    fn register_conn(&mut self, stream: TcpStream, peer: SocketAddr) -> bool {
        let mut transport = Transport::Plain(stream);
        if let Err(e) = transport.set_nodelay() {
            debug!("set_nodelay on {peer}: {e}");
        }
        let id = self.next_id;
        self.next_id += 1;
        let Ok(token) = usize::try_from(id).map(Token) else {
            warn!("refusing {peer}: connection ids exhausted");
            return false;
        };
        if let Err(e) = transport.register(self.poll.registry(), token) {
            warn!("cannot register {peer}: {e}");
            return false;
        }
        debug!("accepted {peer} as connection {id}");
        assert!(id >= FIRST_CONN_ID && !self.conns.contains_key(&token), "token {id} reused");
        let handle = Connection::new(ConnectionId(id), peer, Arc::clone(&self.io));
        self.conns.insert(token, ConnState::new(transport, handle, self.now, &self.config));
        true
    }

    fn conn_event(&mut self, token: Token, event: &mio::event::Event) {
        let (readable, writable) = (event.is_readable(), event.is_writable());
        let Some(conn) = self.conns.get_mut(&token) else { return };
        if conn.held.is_some() && event.is_error() {
            // Reset while paused: nothing more will be read; drop the held job with it.
            let error = conn.transport.take_error().ok().flatten();
            let error = error.unwrap_or_else(|| io::ErrorKind::ConnectionReset.into());
            self.close(token, CloseReason::Io(error));
            return;
        }
        // A connection holding a job is not read until the job is queued (`resume`).
        if readable && !self.stopping && self.router.is_some() && conn.held.is_none() {
            let outcome = conn.read_all(self.now, self.router.as_ref());
            if let Some(reason) = book_read(outcome, token, conn, &mut self.unread, &mut self.held)
            {
                self.close(token, reason);
                return;
            }
        }
        if writable {
            conn.write_blocked = false;
            if let Err(e) = conn.flush(self.now) {
                self.close(token, CloseReason::Io(e));
                return;
            }
        }
        list_dirty(&mut self.dirty, token, conn);
    }

    fn drain_inbox(&mut self) {
        self.io.clear_wake();
        // Bounded: what others posted before this pass, plus what handling it posted here.
        let mut budget = self.config.reply_queue_max.max(1);
        while budget > 0 {
            let Ok(msg) = self.inbox.try_recv() else { break };
            self.handle_msg(msg);
            budget -= 1;
        }
        // Messages this thread posted to itself (hooks, inline processors); handling one may
        // post more, which the next loop turn takes (its poll timeout is zero then).
        for msg in IoHandle::take_self_posted() {
            self.handle_msg(msg);
        }
    }

    fn handle_msg(&mut self, msg: IoMsg) {
        match msg {
            IoMsg::Write { conn, frame } => self.queue_frame(conn, &frame),
            IoMsg::Close { conn } => self.close(token_of(conn), CloseReason::Requested),
            IoMsg::StopAccepting => self.stop_accepting(),
            IoMsg::Finish { deadline } => {
                self.stop_accepting();
                self.drop_held();
                self.finish_deadline = Some(deadline);
            }
        }
    }

    fn queue_frame(&mut self, conn: ConnectionId, frame: &[u8]) {
        let token = token_of(conn);
        let Some(state) = self.conns.get_mut(&token) else { return };
        let pending = state.queue(frame);
        if pending > self.config.write_queue_max_bytes {
            self.close(token, CloseReason::WriteQueueFull(pending));
            return;
        }
        list_dirty(&mut self.dirty, token, state);
    }

    fn flush_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for &token in &dirty {
            let Some(conn) = self.conns.get_mut(&token) else { continue };
            assert!(conn.dirty, "a listed connection carries the dirty mark");
            conn.dirty = false;
            if conn.write_blocked {
                continue;
            }
            if let Err(e) = conn.flush(self.now) {
                self.close(token, CloseReason::Io(e));
            }
        }
        self.dirty = dirty;
        self.dirty.clear();
    }

    fn stop_accepting(&mut self) {
        if let Some(mut listener) = self.listener.take() {
            if let Err(e) = self.poll.registry().deregister(&mut listener) {
                debug!("deregister listener: {e}");
            }
            info!("stopped accepting connections");
        }
        self.stopping = true;
        // Dropping the pool senders lets workers finish their queues and exit; held oneway jobs
        // are queued first (`retry_held` drops the pools once none is left).
        if self.held.is_empty() {
            self.router = None;
        }
    }

    /// Shutdown deadline passed with oneway jobs still held (workers stuck): drop them.
    fn drop_held(&mut self) {
        let mut dropped = 0;
        for token in std::mem::take(&mut self.held) {
            if let Some(conn) = self.conns.get_mut(&token) {
                dropped += usize::from(conn.held.take().is_some());
            }
        }
        if dropped > 0 {
            warn!("shutdown: dropping {dropped} oneway requests still waiting for a full pool");
        }
        self.router = None;
    }

    /// Every [`IDLE_SCAN_INTERVAL`]: closes connections past a timeout, frees idle buffers,
    /// shrinks the tables after a flood, warns about refusals and publishes the stats.
    fn scan_idle(&mut self) {
        if self.now < self.next_idle_scan {
            return;
        }
        self.next_idle_scan = self.now + IDLE_SCAN_INTERVAL;
        let now = self.now;
        let mut expired = Vec::new();
        for (token, conn) in &mut self.conns {
            if let Some(reason) = conn.timed_out(now, &self.timeouts) {
                expired.push((*token, reason));
            } else if now.duration_since(conn.last_active) >= BUFFER_RELEASE_AFTER {
                conn.release_buffers();
            }
        }
        for (token, reason) in expired {
            self.close(token, reason);
        }
        limits::shrink_map(&mut self.conns);
        self.admission.shrink();
        self.admission.report(now);
        self.publish_stats();
    }

    fn publish_stats(&self) {
        let stats = ServerStats {
            connections: self.conns.len(),
            connection_table_capacity: self.conns.capacity(),
            buffer_bytes: self.conns.values().map(ConnState::buffer_bytes).sum(),
        };
        *self.stats.lock() = stats;
    }

    fn finished(&self) -> bool {
        let Some(deadline) = self.finish_deadline else { return false };
        self.now >= deadline || self.conns.values().all(|c| !c.has_unsent())
    }

    fn close_all(&mut self) {
        let tokens: Vec<Token> = self.conns.keys().copied().collect();
        for token in tokens {
            self.close(token, CloseReason::Shutdown);
        }
    }

    fn close(&mut self, token: Token, reason: CloseReason) {
        let Some(mut conn) = self.conns.remove(&token) else { return };
        if let Err(e) = conn.transport.deregister(self.poll.registry()) {
            debug!("deregister: {e}");
        }
        let peer = conn.handle.peer_addr();
        self.admission.release(peer.ip());
        match &reason {
            CloseReason::BadFrame(_) | CloseReason::WriteQueueFull(_) => {
                warn!("closing {peer}: {reason}")
            }
            _ => debug!("closing {peer}: {reason}"),
        }
        conn.handle.mark_closed();
        for hook in &self.on_close {
            if let Err(panic) = panic_policy::catch(|| hook(&conn.handle)) {
                conn.handle.count_panic();
                let message = panic_policy::describe(&*panic);
                log::error!("on_close hook panicked for {peer}: {message}");
            }
        }
    }
}

/// Lists `token` for another read next turn, once (an edge can come while it is listed).
fn list_unread(unread: &mut Vec<Token>, token: Token) {
    if !unread.contains(&token) {
        unread.push(token);
    }
}

/// Books a read of `token`: lists it for another read if its budget ran out, and for the
/// held-job retries if the read left a job held. Returns why to close it, if it must be.
fn book_read(
    outcome: ReadOutcome,
    token: Token,
    conn: &ConnState,
    unread: &mut Vec<Token>,
    held: &mut Vec<Token>,
) -> Option<CloseReason> {
    match outcome {
        ReadOutcome::Close(reason) => return Some(reason),
        ReadOutcome::MoreToRead => list_unread(unread, token),
        ReadOutcome::Open => {}
    }
    if conn.held.is_some() {
        held.push(token);
    }
    None
}

/// Lists `token` for the write pass if it has bytes queued and is not listed yet.
fn list_dirty(dirty: &mut Vec<Token>, token: Token, conn: &mut ConnState) {
    if conn.has_unsent() && !conn.dirty {
        conn.dirty = true;
        dirty.push(token);
    }
}

fn token_of(conn: ConnectionId) -> Token {
    Token(usize::try_from(conn.0).unwrap_or(usize::MAX))
}
