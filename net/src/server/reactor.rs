//! The `net-io` thread: a mio event loop that accepts connections, reads and splits frames,
//! routes requests to worker pools, and writes replies.
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

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TrySendError};
use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use crate::frame_buf::{FrameBuf, FRAME_BUF_BYTES};
use crate::panic_policy;
use crate::protocol::{response_code, DecodeError, RemotingCommand, SerializeType};

use super::conn::{Connection, ConnectionId, IoHandle, IoMsg};
use super::pool::{Job, PoolQueue};
use super::processor::{Admission, Inline, Processor, RequestContext};
use super::ServerConfig;

pub(crate) const LISTENER: Token = Token(0);
pub(crate) const WAKER: Token = Token(1);
const FIRST_CONN_ID: u64 = 2;

/// Largest number of jobs per loop iteration after which the I/O thread polls for replies.
const LONE_JOBS_MAX: usize = 2;
/// How long the I/O thread polls for a lone request's reply.
const LONE_REPLY_SPIN: Duration = Duration::from_micros(30);
/// Bytes one connection may have read per loop turn before the others get theirs.
const READ_BUDGET_BYTES: usize = 1 << 20;
/// How often idle connections are looked for.
const IDLE_SCAN_INTERVAL: Duration = Duration::from_millis(500);
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
}

/// A oneway request waiting for room in pool `pool`.
struct HeldJob {
    pool: usize,
    job: Job,
}

/// One connection as the I/O thread sees it.
struct ConnState {
    stream: TcpStream,
    handle: Connection,
    frames: FrameBuf,
    write_buf: Vec<u8>,
    write_pos: usize,
    /// Listed in `Reactor::dirty` for the end-of-wakeup flush.
    dirty: bool,
    /// The last write hit `WouldBlock`; wait for a writable edge.
    write_blocked: bool,
    last_active: Instant,
    /// A oneway job its full pool refused; while set, the socket is not read.
    held: Option<HeldJob>,
    /// Unsent bytes beyond which the peer is closed as a slow reader.
    write_max_bytes: usize,
}

/// Why a connection is being closed (for the log line).
enum CloseReason {
    PeerClosed,
    Io(io::Error),
    BadFrame(DecodeError),
    WriteQueueFull(usize),
    Idle,
    Requested,
    Shutdown,
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PeerClosed => f.write_str("peer closed"),
            Self::Io(e) => write!(f, "i/o error: {e}"),
            Self::BadFrame(e) => write!(f, "bad frame: {e}"),
            Self::WriteQueueFull(n) => write!(f, "write queue over its cap ({n} bytes pending)"),
            Self::Idle => f.write_str("idle timeout"),
            Self::Requested => f.write_str("closed by the application"),
            Self::Shutdown => f.write_str("server shutdown"),
        }
    }
}

/// Result of reading from a connection.
enum ReadOutcome {
    Open,
    /// The read budget ran out with data possibly left in the socket: read again next turn.
    MoreToRead,
    Close(CloseReason),
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
    ) -> Self {
        let now = Instant::now();
        Self {
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
            Ok(()) => ReadOutcome::Open,
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

    fn add_conn(&mut self, mut stream: TcpStream, peer: std::net::SocketAddr) {
        if self.conns.len() >= self.config.connections_max {
            warn!("refusing {peer}: {} connections already open", self.conns.len());
            return;
        }
        if let Err(e) = stream.set_nodelay(true) {
            debug!("set_nodelay on {peer}: {e}");
        }
        let id = self.next_id;
        self.next_id += 1;
        let Ok(token) = usize::try_from(id).map(Token) else {
            warn!("refusing {peer}: connection ids exhausted");
            return;
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self.poll.registry().register(&mut stream, token, interest) {
            warn!("cannot register {peer}: {e}");
            return;
        }
        debug!("accepted {peer} as connection {id}");
        let handle = Connection::new(ConnectionId(id), peer, Arc::clone(&self.io));
        self.conns.insert(token, ConnState::new(stream, handle, self.now, &self.config));
    }

    fn conn_event(&mut self, token: Token, event: &mio::event::Event) {
        let (readable, writable) = (event.is_readable(), event.is_writable());
        let Some(conn) = self.conns.get_mut(&token) else { return };
        if conn.held.is_some() && event.is_error() {
            // Reset while paused: nothing more will be read; drop the held job with it.
            let error = conn.stream.take_error().ok().flatten();
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
        state.write_buf.extend_from_slice(frame);
        let pending = state.write_buf.len() - state.write_pos;
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

    fn scan_idle(&mut self) {
        if self.now < self.next_idle_scan {
            return;
        }
        self.next_idle_scan = self.now + IDLE_SCAN_INTERVAL;
        let idle_max = Duration::from_millis(self.config.idle_timeout_ms);
        let idle: Vec<Token> = self
            .conns
            .iter()
            .filter(|(_, c)| self.now.duration_since(c.last_active) >= idle_max)
            .map(|(t, _)| *t)
            .collect();
        for token in idle {
            self.close(token, CloseReason::Idle);
        }
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
        if let Err(e) = self.poll.registry().deregister(&mut conn.stream) {
            debug!("deregister: {e}");
        }
        let peer = conn.handle.peer_addr();
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

impl ConnState {
    fn new(stream: TcpStream, handle: Connection, now: Instant, config: &ServerConfig) -> Self {
        Self {
            stream,
            handle,
            frames: FrameBuf::new(config.frame_max_bytes),
            write_buf: Vec::new(),
            write_pos: 0,
            dirty: false,
            write_blocked: false,
            last_active: now,
            held: None,
            write_max_bytes: config.write_queue_max_bytes,
        }
    }

    fn has_unsent(&self) -> bool {
        self.write_pos < self.write_buf.len()
    }

    /// Reads until `WouldBlock`, handling every complete frame as it arrives.
    fn read_all(&mut self, now: Instant, router: Option<&Router>) -> ReadOutcome {
        let mut budget = READ_BUDGET_BYTES;
        loop {
            let spare = match self.frames.spare() {
                Ok(spare) => spare,
                Err(e) => return ReadOutcome::Close(CloseReason::BadFrame(e)),
            };
            let spare_len = spare.len();
            match self.stream.read(spare) {
                Ok(0) => return ReadOutcome::Close(CloseReason::PeerClosed),
                Ok(n) => {
                    self.frames.filled(n);
                    self.last_active = now;
                    if let Err(e) = self.handle_frames(router) {
                        return ReadOutcome::Close(CloseReason::BadFrame(e));
                    }
                    if self.held.is_some() {
                        // Back-pressure: leave the rest in the socket until the job is queued.
                        return ReadOutcome::Open;
                    }
                    // Inline replies pile up here if the peer sends without reading.
                    let unsent = self.write_buf.len() - self.write_pos;
                    if unsent > self.write_max_bytes {
                        return ReadOutcome::Close(CloseReason::WriteQueueFull(unsent));
                    }
                    // A short read drained the socket. On Linux epoll (edge-triggered) any
                    // later data or FIN raises a new event, so skip the read that would only
                    // return WouldBlock.
                    if cfg!(target_os = "linux") && n < spare_len {
                        return ReadOutcome::Open;
                    }
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        return ReadOutcome::MoreToRead;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadOutcome::Open,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return ReadOutcome::Close(CloseReason::Io(e)),
            }
        }
    }

    /// Decodes and dispatches every complete frame in the read buffer, stopping early when a
    /// oneway job is held (the later frames stay buffered).
    fn handle_frames(&mut self, router: Option<&Router>) -> Result<(), DecodeError> {
        while self.held.is_none() {
            let Some(frame) = self.frames.next_frame()? else { break };
            let (cmd, _) = RemotingCommand::decode(frame)?;
            self.dispatch(cmd, router);
        }
        Ok(())
    }

    fn dispatch(&mut self, cmd: RemotingCommand, router: Option<&Router>) {
        if cmd.is_response() {
            if !self.handle.complete_invoke(cmd) {
                debug!("dropping an unmatched response from {}", self.handle.peer_addr());
            }
            return;
        }
        let Some(router) = router else { return };
        let route = router.routes.get(&cmd.code).or(router.default_route.as_ref());
        let Some(route) = route else {
            let remark = format!(" request type {} not supported", cmd.code);
            self.reply_now(&cmd, response_code::REQUEST_CODE_NOT_SUPPORTED, remark);
            return;
        };
        let cmd = if route.inline {
            match self.run_inline(&route.processor, cmd) {
                Some(cmd) => cmd,
                None => return,
            }
        } else {
            cmd
        };
        let pool = &router.pools[route.pool];
        let job = Job {
            processor: Arc::clone(&route.processor),
            conn: self.handle.clone(),
            request: cmd,
            admitted: route.inline,
        };
        match pool.tx.try_send(job) {
            Ok(()) => router.dispatched.set(router.dispatched.get() + 1),
            Err(TrySendError::Full(job)) if job.request.is_oneway() => {
                self.held = Some(HeldJob { pool: route.pool, job });
            }
            Err(TrySendError::Full(job)) => {
                pool.rejected_recent.set(pool.rejected_recent.get() + 1);
                router.rejected_total.fetch_add(1, Ordering::Relaxed);
                router.rejections_pending.set(true);
                let remark = format!(
                    "[TIMEOUT_CLEAN_QUEUE] broker busy, pool '{}' is full (capacity {})",
                    pool.name, pool.capacity
                );
                self.reply_now(&job.request, response_code::SYSTEM_BUSY, remark);
            }
            Err(TrySendError::Disconnected(job)) => {
                let remark = format!("pool '{}' is shut down", pool.name);
                self.reply_now(&job.request, response_code::SYSTEM_BUSY, remark);
            }
        }
    }

    /// Offers `cmd` to its processor on this thread; returns it if the processor hands it to
    /// the pool. A response is encoded straight into this connection's write buffer.
    fn run_inline(
        &mut self,
        processor: &Arc<dyn Processor>,
        cmd: RemotingCommand,
    ) -> Option<RemotingCommand> {
        let ctx = RequestContext::new(self.handle.clone(), &cmd);
        let code = cmd.code;
        let outcome = panic_policy::catch(|| {
            if let Admission::Reject(response) = ctx.admit(&cmd) {
                return Inline::Done(Some(response));
            }
            processor.process_inline(&ctx, cmd)
        });
        let mut response = match outcome {
            // Admitted already: the worker does not run the `before` hooks again.
            Ok(Inline::ToPool(cmd)) => return Some(cmd),
            Ok(Inline::Done(None)) => {
                ctx.finish_unanswered();
                return None;
            }
            Ok(Inline::Done(Some(response))) => response,
            Err(panic) => super::pool::panic_response(ctx.conn(), code, &*panic),
        };
        if ctx.is_oneway() {
            ctx.finish_unanswered();
        } else {
            response.opaque = ctx.opaque();
            response.mark_response();
            self.handle.encode_response(&response, &mut self.write_buf);
            ctx.finish_answered(response.code);
        }
        None
    }

    /// Answers `request` from the I/O thread itself (never a oneway request).
    fn reply_now(&mut self, request: &RemotingCommand, code: i32, remark: String) {
        if request.is_oneway() {
            return;
        }
        let mut resp = RemotingCommand::response(code, Some(remark));
        resp.opaque = request.opaque;
        resp.encode(SerializeType::Json, &mut self.write_buf);
    }

    /// Writes queued bytes until done or `WouldBlock`.
    fn flush(&mut self, now: Instant) -> io::Result<()> {
        while self.write_pos < self.write_buf.len() {
            match self.stream.write(&self.write_buf[self.write_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.write_pos += n;
                    self.last_active = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.write_blocked = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.write_pos == self.write_buf.len() {
            self.write_pos = 0;
            self.write_buf.clear();
            if self.write_buf.capacity() > FRAME_BUF_BYTES * 16 {
                self.write_buf.shrink_to(FRAME_BUF_BYTES);
            }
        } else if self.write_pos > self.write_buf.len() / 2 {
            self.write_buf.drain(..self.write_pos);
            self.write_pos = 0;
        }
        Ok(())
    }
}
