//! One client connection: a blocking `TcpStream`, a write-combining writer, the table of calls
//! waiting for responses, and the reader thread that completes them.
//!
//! **Writes:** a caller encodes its frame into a shared buffer; if nobody is writing it becomes
//! the writer and writes everything queued, including frames other threads append meanwhile, so
//! that concurrent calls share `write` syscalls without a writer thread. The reader thread holds
//! the writer role while it runs the callbacks of one batch of responses, so requests issued
//! from those callbacks leave in one `write` too.
//!
//! **Invariant:** once `open` is false the pending table is empty and stays empty: `close` clears
//! `open` before draining the table, and `register` re-checks `open` after inserting.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;
use log::{debug, error, warn};
use parking_lot::{Mutex, MutexGuard};

use crate::error::NetError;
use crate::frame_buf::FrameBuf;
use crate::opaque_map::OpaqueMap;
use crate::panic_policy;
use crate::protocol::RemotingCommand;

use super::transport::Transport;

/// How a connection's reader thread reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadConfig {
    pub frame_max_bytes: usize,
    /// How long to poll without sleeping after data arrived (zero: never).
    pub busy_poll: std::time::Duration,
}

/// What a finished call delivers.
pub(crate) type CallResult = Result<RemotingCommand, NetError>;
/// An `invoke_async` callback.
pub(crate) type Callback = Box<dyn FnOnce(CallResult) + Send>;

/// How a waiting call is completed.
pub(crate) enum Completion {
    Sync(Sender<CallResult>),
    Async(Callback),
}

impl Completion {
    /// Delivers `result`. Callbacks run on the calling thread; a panicking one is logged.
    pub(crate) fn complete(self, result: CallResult) {
        match self {
            Self::Sync(tx) => {
                // The caller may have timed out and left; nothing to do then.
                let _ = tx.send(result);
            }
            Self::Async(callback) => {
                if let Err(panic) = panic_policy::catch(|| callback(result)) {
                    let message = panic_policy::describe(&*panic);
                    error!("an invoke_async callback panicked: {message}");
                }
            }
        }
    }
}

/// A call waiting for its response.
pub(crate) struct Pending {
    pub deadline: Instant,
    pub timeout_ms: u64,
    pub completion: Completion,
}

struct WriteState {
    queued: Vec<u8>,
    spare: Vec<u8>,
    writing: bool,
    /// The reader thread is busy polling and flushes queued frames on each turn, so senders
    /// only queue: frames sent meanwhile leave together in one `write`.
    reader_polling: bool,
}

/// Handles a request the server sent us (on the reader thread: hand it off, do not block).
pub(crate) type InboundSink = dyn Fn(&Arc<Channel>, RemotingCommand) + Send + Sync;

pub(crate) struct Channel {
    pub addr: String,
    transport: Transport,
    open: AtomicBool,
    write: Mutex<WriteState>,
    write_queue_max_bytes: usize,
    pending: Mutex<OpaqueMap<Pending>>,
}

impl Channel {
    pub(crate) fn new(addr: String, transport: Transport, write_queue_max_bytes: usize) -> Self {
        let write = WriteState {
            queued: Vec::new(),
            spare: Vec::new(),
            writing: false,
            reader_polling: false,
        };
        Self {
            addr,
            transport,
            open: AtomicBool::new(true),
            write: Mutex::new(write),
            write_queue_max_bytes,
            pending: Mutex::new(OpaqueMap::default()),
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    fn closed_error(&self) -> NetError {
        NetError::ConnectionClosed { addr: self.addr.clone() }
    }

    /// Adds a waiting call; fails (returning its completion) if the channel is closed.
    pub(crate) fn register(&self, opaque: i32, pending: Pending) -> Result<(), Pending> {
        let previous = self.pending.lock().insert(opaque, pending);
        // Opaques come from one process-wide counter: two live calls never share one.
        assert!(previous.is_none(), "opaque {opaque} is already pending on {}", self.addr);
        if self.is_open() {
            return Ok(());
        }
        match self.pending.lock().remove(&opaque) {
            Some(pending) => Err(pending),
            // `close` drained it and already completed it.
            None => Ok(()),
        }
    }

    /// Removes a waiting call (timeout or failed send); `None` if it was already completed.
    pub(crate) fn unregister(&self, opaque: i32) -> Option<Pending> {
        self.pending.lock().remove(&opaque)
    }

    /// How many calls are waiting.
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.lock().len()
    }

    /// Whether any call is waiting.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.lock().is_empty()
    }

    /// Removes the async calls whose deadline has passed.
    pub(crate) fn take_expired(&self, now: Instant) -> Vec<Pending> {
        let mut pending = self.pending.lock();
        let expired: Vec<i32> = pending
            .iter()
            .filter(|(_, p)| p.deadline <= now && matches!(p.completion, Completion::Async(_)))
            .map(|(opaque, _)| *opaque)
            .collect();
        expired.iter().filter_map(|opaque| pending.remove(opaque)).collect()
    }

    /// Encodes one frame (with `encode`) straight into the write queue and writes it, together
    /// with anything else queued, unless another thread holds the writer role (it will write
    /// ours too).
    pub(crate) fn write_frame(
        &self,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), NetError>,
    ) -> Result<(), NetError> {
        let mut state = self.write.lock();
        if !self.is_open() {
            return Err(self.closed_error());
        }
        if state.queued.len() > self.write_queue_max_bytes {
            let max_bytes = self.write_queue_max_bytes;
            return Err(NetError::WriteQueueFull { addr: self.addr.clone(), max_bytes });
        }
        let before = state.queued.len();
        encode(&mut state.queued)?;
        let frame = &state.queued[before..];
        let declared = crate::protocol::frame_len(frame, usize::MAX);
        assert!(matches!(declared, Ok(Some(len)) if len == frame.len()), "one whole frame");
        if state.writing || state.reader_polling {
            return Ok(());
        }
        state.writing = true;
        self.flush_as_writer(state)
    }

    /// Takes the writer role if it is free, so that frames queued meanwhile (by callbacks run
    /// on the reader thread, or by other threads) go out in one write at [`Self::release_writes`].
    fn hold_writes(&self) -> bool {
        let mut state = self.write.lock();
        !std::mem::replace(&mut state.writing, true)
    }

    /// Writes what was queued while the writer role was held, and gives the role up.
    fn release_writes(&self) -> Result<(), NetError> {
        self.flush_as_writer(self.write.lock())
    }

    /// Writes queued bytes until the queue is empty, then gives up the writer role. The lock is
    /// released during each `write`, so other threads keep queueing.
    fn flush_as_writer<'a>(
        &'a self,
        mut state: MutexGuard<'a, WriteState>,
    ) -> Result<(), NetError> {
        assert!(state.writing, "only the holder of the writer role writes");
        loop {
            if state.queued.is_empty() {
                state.writing = false;
                return Ok(());
            }
            let spare = std::mem::take(&mut state.spare);
            let mut batch = std::mem::replace(&mut state.queued, spare);
            drop(state);
            let result = self.transport.write_all(&batch);
            state = self.write.lock();
            batch.clear();
            state.spare = batch;
            if let Err(source) = result {
                state.writing = false;
                state.queued.clear();
                drop(state);
                warn!("write to {} failed: {source}", self.addr);
                self.close(|| NetError::ConnectionClosed { addr: self.addr.clone() });
                return Err(NetError::Send { addr: self.addr.clone(), source });
            }
        }
    }

    /// Closes the socket and fails every waiting call with `error()`. Idempotent.
    pub(crate) fn close(&self, error: impl Fn() -> NetError) {
        if !self.open.swap(false, Ordering::AcqRel) {
            return;
        }
        if let Err(e) = self.transport.shutdown() {
            debug!("shutdown of {}: {e}", self.addr);
        }
        let drained: Vec<Pending> = {
            let mut pending = self.pending.lock();
            let drained = pending.drain().map(|(_, p)| p).collect();
            assert!(pending.is_empty(), "a closed channel has no pending calls");
            drained
        };
        for pending in drained {
            pending.completion.complete(Err(error()));
        }
    }

    /// Completes the call waiting for `resp`; drops unmatched responses (timed-out calls).
    fn complete(&self, resp: RemotingCommand) {
        let Some(pending) = self.unregister(resp.opaque) else {
            debug!("dropping an unmatched response (opaque {}) from {}", resp.opaque, self.addr);
            return;
        };
        pending.completion.complete(Ok(resp));
    }

    /// The reader thread's body: reads frames until the connection fails, then closes it.
    pub(crate) fn read_loop(self: Arc<Self>, config: ReadConfig, inbound: Arc<InboundSink>) {
        match self.read_frames(config, &*inbound) {
            Ok(()) => debug!("connection to {} closed by the peer", self.addr),
            // After our own `close` the read fails as expected; only report real failures.
            Err(reason) if self.is_open() => warn!("connection to {} failed: {reason}", self.addr),
            Err(_) => {}
        }
        self.close(|| NetError::ConnectionClosed { addr: self.addr.clone() });
    }

    fn read_frames(
        self: &Arc<Self>,
        config: ReadConfig,
        inbound: &InboundSink,
    ) -> Result<(), String> {
        let mut frames = FrameBuf::new(config.frame_max_bytes);
        let mut busy_until = None;
        loop {
            let spare = frames.spare().map_err(|e| e.to_string())?;
            let n = match self.read_some(spare, busy_until) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.to_string()),
            };
            if !config.busy_poll.is_zero() {
                busy_until = Some(Instant::now() + config.busy_poll);
            }
            frames.filled(n);
            let held = self.hold_writes();
            let dispatched = self.dispatch_all(&mut frames, inbound);
            if held {
                self.release_writes().map_err(|e| e.to_string())?;
            }
            dispatched?;
        }
    }

    /// Reads into `buf`: until `busy_until` passes without blocking, flushing frames senders
    /// queued meanwhile and yielding the CPU between tries but never sleeping; then blocking.
    fn read_some(&self, buf: &mut [u8], busy_until: Option<Instant>) -> io::Result<usize> {
        #[cfg(unix)]
        if let Some(until) = busy_until {
            self.write.lock().reader_polling = true;
            let polled = self.poll_read(buf, until);
            // From here on senders write themselves again; flush what they left us.
            let mut state = self.write.lock();
            state.reader_polling = false;
            let flushed = self.flush_queued(state);
            if let Some(read) = polled {
                return read;
            }
            flushed.map_err(|e| io::Error::other(e.to_string()))?;
        }
        #[cfg(not(unix))]
        let _ = busy_until;
        self.transport.read(buf)
    }

    /// Non-blocking reads until data, an error or `until`; `None` when time ran out.
    #[cfg(unix)]
    fn poll_read(&self, buf: &mut [u8], until: Instant) -> Option<io::Result<usize>> {
        loop {
            match self.transport.try_read(buf) {
                Ok(n) => return Some(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(Err(e)),
            }
            if let Err(e) = self.flush_queued(self.write.lock()) {
                return Some(Err(io::Error::other(e.to_string())));
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::yield_now();
        }
    }

    /// Writes queued frames unless another thread holds the writer role (it writes them).
    fn flush_queued<'a>(&'a self, mut state: MutexGuard<'a, WriteState>) -> Result<(), NetError> {
        if state.writing || state.queued.is_empty() {
            return Ok(());
        }
        state.writing = true;
        self.flush_as_writer(state)
    }

    /// Completes or hands off every whole frame in `frames`.
    fn dispatch_all(
        self: &Arc<Self>,
        frames: &mut FrameBuf,
        inbound: &InboundSink,
    ) -> Result<(), String> {
        while let Some(frame) = frames.next_frame().map_err(|e| e.to_string())? {
            let (cmd, _) = RemotingCommand::decode(frame).map_err(|e| e.to_string())?;
            if cmd.is_response() {
                self.complete(cmd);
            } else {
                inbound(self, cmd);
            }
        }
        Ok(())
    }
}
