//! The shareable side of a server connection: [`Connection`] handles (id, peer address,
//! open flag, server-initiated requests) and the [`IoHandle`] through which any thread hands
//! bytes to the I/O thread.
//!
//! **Invariant:** only the I/O thread touches sockets. Other threads encode frames themselves and
//! send them as [`IoMsg::Write`]; the I/O thread is woken through one `mio::Waker`, at most once
//! per batch thanks to the `wake_pending` flag.
//!
//! **The inbox is bounded** (`ServerConfig::reply_queue_max` messages). A thread that finds it
//! full wakes the I/O thread and then blocks until there is room: a full inbox slows the
//! workers down, which fills their pool queues, which `net-io` answers with SYSTEM_BUSY. This
//! cannot deadlock because the I/O thread never blocks on anything but `epoll_wait` (pools are
//! fed with `try_send`), and what it posts to itself (an inline processor or an `on_close` hook
//! calling [`Connection::close`] or a [`crate::Responder`]) goes to a thread-local queue
//! instead of the bounded inbox. The one rule left to users: never post to a connection while
//! holding a lock that code running on `net-io` (inline processors, `on_close` hooks) takes.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender, TrySendError};
use log::debug;
use parking_lot::Mutex;

use crate::error::NetError;
use crate::opaque_map::OpaqueMap;
use crate::protocol::{next_opaque, RemotingCommand, SerializeType, FLAG_RESPONSE};

use super::processor::RequestHook;

/// Identifies one accepted connection for the lifetime of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// What other threads ask of the I/O thread.
#[derive(Debug)]
pub(crate) enum IoMsg {
    /// Queue an encoded frame on a connection.
    Write { conn: ConnectionId, frame: Vec<u8> },
    /// Close a connection.
    Close { conn: ConnectionId },
    /// Stop accepting and reading, and drop the worker queues so that workers drain and exit.
    StopAccepting,
    /// Flush what is queued (until the deadline), close everything and exit.
    Finish { deadline: Instant },
}

/// The sending side of the I/O thread's inbox plus its waker, and what every connection of
/// the server shares (response format, frame limit, request hooks, panic count).
pub(crate) struct IoHandle {
    /// Distinguishes servers, so that a `net-io` thread recognizes its own handle.
    id: u64,
    tx: Sender<IoMsg>,
    waker: mio::Waker,
    wake_pending: AtomicBool,
    pub(crate) response_serialize: SerializeType,
    pub(crate) frame_max_bytes: usize,
    /// Run around every request; empty means no hook cost at all.
    pub(crate) hooks: Vec<Arc<dyn RequestHook>>,
    /// Panics caught in processors and hooks, since the start.
    pub(crate) panics: AtomicU64,
}

impl std::fmt::Debug for IoHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoHandle")
            .field("id", &self.id)
            .field("hooks", &self.hooks.len())
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// The id of the server whose `net-io` thread this is (0: not a `net-io` thread).
    static NET_IO_OF: Cell<u64> = const { Cell::new(0) };
    /// Messages a `net-io` thread posted to itself; drained by its own loop, never blocking.
    static SELF_INBOX: RefCell<Vec<IoMsg>> = const { RefCell::new(Vec::new()) };
}

impl IoHandle {
    pub(crate) fn new(
        tx: Sender<IoMsg>,
        waker: mio::Waker,
        response_serialize: SerializeType,
        frame_max_bytes: usize,
        hooks: Vec<Arc<dyn RequestHook>>,
    ) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tx,
            waker,
            wake_pending: AtomicBool::new(false),
            response_serialize,
            frame_max_bytes,
            hooks,
            panics: AtomicU64::new(0),
        }
    }

    /// Marks the calling thread as this server's `net-io` thread (see [`Self::post`]).
    pub(crate) fn enter_io_thread(&self) {
        NET_IO_OF.with(|t| t.set(self.id));
    }

    /// Takes what this `net-io` thread posted to itself since the last call.
    pub(crate) fn take_self_posted() -> Vec<IoMsg> {
        SELF_INBOX.with(|q| std::mem::take(&mut *q.borrow_mut()))
    }

    /// Whether this `net-io` thread has posted to itself since the last take.
    pub(crate) fn has_self_posted() -> bool {
        SELF_INBOX.with(|q| !q.borrow().is_empty())
    }

    /// Hands `msg` to the I/O thread and wakes it; `false` once the I/O thread has exited.
    pub(crate) fn send(&self, msg: IoMsg) -> bool {
        if !self.post(msg) {
            return false;
        }
        self.wake();
        true
    }

    /// Like [`Self::send`], but inside a worker's [`WakeBatch`] the wake-up is left to the end
    /// of the batch. Only for responses: a server-initiated request must leave at once, since
    /// the worker may block waiting for its answer.
    pub(crate) fn send_reply(self: &Arc<Self>, msg: IoMsg) -> bool {
        if !self.post(msg) {
            return false;
        }
        if !WakeBatch::defer(self) {
            self.wake();
        }
        true
    }

    /// Queues `msg` for the I/O thread without waking it. The I/O thread itself never blocks
    /// here (its messages go to its own queue); any other thread that finds the bounded inbox
    /// full wakes the I/O thread, which drains it, and waits for room. `false` once the I/O
    /// thread has exited.
    fn post(&self, msg: IoMsg) -> bool {
        if NET_IO_OF.with(Cell::get) == self.id {
            SELF_INBOX.with(|q| q.borrow_mut().push(msg));
            return true;
        }
        match self.tx.try_send(msg) {
            Ok(()) => true,
            Err(TrySendError::Full(msg)) => {
                // Replies deferred by a `WakeBatch` may fill the inbox while the I/O thread
                // sleeps: wake it before waiting, or nobody would.
                self.wake();
                self.tx.send(msg).is_ok()
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    fn wake(&self) {
        // The I/O thread clears the flag before draining its inbox, so a message sent after
        // the clear either sees `false` here and wakes it, or is drained in that same pass.
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            if let Err(e) = self.waker.wake() {
                debug!("cannot wake the net-io thread: {e}");
            }
        }
    }

    /// Called by the I/O thread while it polls its inbox itself: senders need not wake it.
    pub(crate) fn suppress_wake(&self) {
        self.wake_pending.store(true, Ordering::Release);
    }

    /// Called by the I/O thread before it drains its inbox.
    pub(crate) fn clear_wake(&self) {
        self.wake_pending.store(false, Ordering::Release);
    }
}

thread_local! {
    /// I/O threads a worker owes a wake-up, while it runs a batch of jobs.
    static DEFERRED_WAKES: RefCell<Option<Vec<Arc<IoHandle>>>> = const { RefCell::new(None) };
}

/// While alive on a worker thread, replies are queued at once but the I/O thread is woken only
/// when the batch ends, so that it finds them all and writes them together. Workers end a batch
/// when their queue is empty, after a few jobs, or after a few tens of microseconds.
#[derive(Debug)]
pub(crate) struct WakeBatch(());

impl WakeBatch {
    pub(crate) fn begin() -> Self {
        DEFERRED_WAKES.with(|d| {
            let mut owed = d.borrow_mut();
            assert!(owed.is_none(), "wake batches do not nest");
            *owed = Some(Vec::new());
        });
        Self(())
    }

    /// Records `io` as owed a wake-up; `false` when no batch is open on this thread.
    fn defer(io: &Arc<IoHandle>) -> bool {
        DEFERRED_WAKES.with(|d| match d.borrow_mut().as_mut() {
            Some(owed) => {
                if !owed.iter().any(|o| Arc::ptr_eq(o, io)) {
                    owed.push(Arc::clone(io));
                }
                true
            }
            None => false,
        })
    }
}

impl Drop for WakeBatch {
    fn drop(&mut self) {
        let owed = DEFERRED_WAKES.with(|d| d.borrow_mut().take()).unwrap_or_default();
        for io in owed {
            io.wake();
        }
    }
}

/// A cheap, cloneable handle to one accepted connection, usable from any thread.
#[derive(Clone, Debug)]
pub struct Connection {
    inner: Arc<ConnInner>,
}

#[derive(Debug)]
struct ConnInner {
    id: ConnectionId,
    peer_addr: SocketAddr,
    open: AtomicBool,
    io: Arc<IoHandle>,
    /// Server-initiated requests waiting for the client's response, by opaque.
    invokes: Mutex<OpaqueMap<Sender<RemotingCommand>>>,
}

impl Connection {
    pub(crate) fn new(id: ConnectionId, peer_addr: SocketAddr, io: Arc<IoHandle>) -> Self {
        let inner = ConnInner {
            id,
            peer_addr,
            open: AtomicBool::new(true),
            io,
            invokes: Mutex::new(OpaqueMap::default()),
        };
        Self { inner: Arc::new(inner) }
    }

    /// The connection's id, unique for the server's lifetime.
    pub fn id(&self) -> ConnectionId {
        self.inner.id
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.peer_addr
    }

    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        self.inner.open.load(Ordering::Acquire)
    }

    /// Asks the I/O thread to close the connection (replies already queued may be dropped).
    pub fn close(&self) {
        self.inner.io.send(IoMsg::Close { conn: self.id() });
    }

    /// Sends a server-initiated request with the oneway flag set, encoded as JSON.
    pub fn send_oneway(&self, mut cmd: RemotingCommand) -> Result<(), NetError> {
        cmd.flag &= !FLAG_RESPONSE;
        cmd.mark_oneway();
        self.write_json(&cmd)
    }

    /// Sends a server-initiated request (JSON, with a fresh opaque) and waits for the client's
    /// response, matched by opaque.
    pub fn invoke(
        &self,
        mut cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, NetError> {
        cmd.flag &= !FLAG_RESPONSE;
        cmd.opaque = next_opaque();
        let (tx, rx) = crossbeam_channel::bounded(1);
        let previous = self.inner.invokes.lock().insert(cmd.opaque, tx);
        assert!(previous.is_none(), "opaque {} is already awaited", cmd.opaque);
        // Checked after inserting: `mark_closed` clears the table after clearing `open`, so
        // either it drops our sender or we see the connection closed here.
        let sent = if self.is_open() { self.write_json(&cmd) } else { Err(self.closed()) };
        if let Err(e) = sent {
            self.inner.invokes.lock().remove(&cmd.opaque);
            return Err(e);
        }
        match rx.recv_timeout(timeout) {
            Ok(resp) => Ok(resp),
            Err(RecvTimeoutError::Disconnected) => Err(self.closed()),
            Err(RecvTimeoutError::Timeout) => {
                self.inner.invokes.lock().remove(&cmd.opaque);
                // The response may have landed between the timeout and the removal.
                rx.try_recv().map_err(|_| NetError::Timeout {
                    addr: self.peer_addr().to_string(),
                    timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                })
            }
        }
    }

    /// Encodes `cmd` as a response in the server's response format and queues it. No-op if
    /// the connection is gone.
    pub(crate) fn write_response(&self, cmd: &RemotingCommand) {
        if !self.is_open() {
            return;
        }
        let mut frame = Vec::with_capacity(128 + cmd.body.len());
        self.encode_response(cmd, &mut frame);
        self.inner.io.send_reply(IoMsg::Write { conn: self.id(), frame });
    }

    /// Appends `cmd` to `out` in the server's response format; a response too large to send
    /// is replaced by a SYSTEM_ERROR saying so.
    pub(crate) fn encode_response(&self, cmd: &RemotingCommand, out: &mut Vec<u8>) {
        let io = &self.inner.io;
        let start = out.len();
        if let Err(e) = cmd.try_encode(io.response_serialize, out, io.frame_max_bytes) {
            log::error!("response {} to {} cannot be sent: {e}", cmd.code, self.peer_addr());
            let mut error = RemotingCommand::response(1, Some(format!("response too large: {e}")));
            error.opaque = cmd.opaque;
            out.truncate(start);
            error.encode(io.response_serialize, out);
        }
        assert!(super::conn_state::is_one_frame(&out[start..]), "a response is one frame");
    }

    fn write_json(&self, cmd: &RemotingCommand) -> Result<(), NetError> {
        if !self.is_open() {
            return Err(self.closed());
        }
        let io = &self.inner.io;
        let mut frame = Vec::with_capacity(128 + cmd.body.len());
        cmd.try_encode(SerializeType::Json, &mut frame, io.frame_max_bytes)?;
        if io.send(IoMsg::Write { conn: self.id(), frame }) {
            Ok(())
        } else {
            Err(NetError::Shutdown)
        }
    }

    fn closed(&self) -> NetError {
        NetError::ConnectionClosed { addr: self.peer_addr().to_string() }
    }

    /// Delivers a client's response to a waiting [`Connection::invoke`]; `false` if nobody
    /// waits for that opaque any more.
    pub(crate) fn complete_invoke(&self, resp: RemotingCommand) -> bool {
        let waiter = self.inner.invokes.lock().remove(&resp.opaque);
        waiter.is_some_and(|tx| tx.send(resp).is_ok())
    }

    /// The request hooks of the server this connection belongs to.
    pub(crate) fn hooks(&self) -> &[Arc<dyn RequestHook>] {
        &self.inner.io.hooks
    }

    /// Counts a panic caught in a processor or hook of this connection's server.
    pub(crate) fn count_panic(&self) {
        self.inner.io.panics.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks the connection closed and fails every waiting invoke.
    pub(crate) fn mark_closed(&self) {
        self.inner.open.store(false, Ordering::Release);
        let mut invokes = self.inner.invokes.lock();
        invokes.clear();
        assert!(invokes.is_empty(), "a closed connection has no waiting invokes");
    }
}
