//! One connection as `net-io` sees it ([`ConnState`]): its [`Transport`], read buffer, write
//! buffer and held oneway job, and the per-connection half of the request path (read, split,
//! route, answer inline, write).
//!
//! **Invariants:** `write_pos <= write_buf.len()`; unsent bytes are `write_buf[write_pos..]`.
//! A connection holding a oneway job (`held`) is not read until the job is queued. Frames are
//! handled in arrival order, and a frame that does not decode closes only this connection.
//!
//! **Timeouts count whole frames, not bytes** (so a byte a second keeps nothing alive): a
//! connection must complete its first frame within `handshake_timeout_ms` of its accept; bytes
//! of an unfinished frame must become a whole frame within `frame_timeout_ms` (`partial_since`
//! is reset by every completed frame); and a connection with no frame read and no byte written
//! for `idle_timeout_ms` is idle (a frame being received counts from its first byte). Idle
//! connections give their buffers back
//! ([`ConnState::release_buffers`]).

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::TrySendError;
use log::debug;

use crate::frame_buf::{FrameBuf, FRAME_BUF_BYTES};
use crate::panic_policy;
use crate::protocol::{frame_len, response_code, DecodeError, RemotingCommand, SerializeType};

use super::conn::Connection;
use super::pool::Job;
use super::processor::{Admission, Inline, Processor, RequestContext};
use super::reactor::Router;
use super::transport::Transport;
use super::ServerConfig;

/// Bytes one connection may have read per loop turn before the others get theirs.
const READ_BUDGET_BYTES: usize = 1 << 20;

/// A oneway request waiting for room in pool `pool`.
pub(super) struct HeldJob {
    pub(super) pool: usize,
    pub(super) job: Job,
}

/// One connection as the I/O thread sees it.
pub(super) struct ConnState {
    pub(super) transport: Transport,
    pub(super) handle: Connection,
    frames: FrameBuf,
    write_buf: Vec<u8>,
    write_pos: usize,
    /// Listed in `Reactor::dirty` for the end-of-wakeup flush.
    pub(super) dirty: bool,
    /// The last write hit `WouldBlock`; wait for a writable edge.
    pub(super) write_blocked: bool,
    /// The last whole frame read, or bytes written (the accept, before either).
    pub(super) last_active: Instant,
    accepted_at: Instant,
    /// A whole frame has been read.
    framed: bool,
    /// Since when the buffered bytes have made no whole-frame progress (`None`: none buffered).
    partial_since: Option<Instant>,
    /// A oneway job its full pool refused; while set, the socket is not read.
    pub(super) held: Option<HeldJob>,
    /// Unsent bytes beyond which the peer is closed as a slow reader.
    write_max_bytes: usize,
}

/// Why a connection is being closed (for the log line).
pub(super) enum CloseReason {
    PeerClosed,
    Io(io::Error),
    BadFrame(DecodeError),
    WriteQueueFull(usize),
    Idle,
    /// No whole frame within `handshake_timeout_ms` of the accept.
    Handshake,
    /// An unfinished frame made no progress for `frame_timeout_ms`.
    StalledFrame,
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
            Self::Handshake => f.write_str("no whole frame within the handshake timeout"),
            Self::StalledFrame => f.write_str("a partial frame stalled past the frame timeout"),
            Self::Requested => f.write_str("closed by the application"),
            Self::Shutdown => f.write_str("server shutdown"),
        }
    }
}

/// The frame-counting timeouts of [`ConnState::timed_out`], from the `ServerConfig`.
pub(super) struct Timeouts {
    pub(super) handshake: Duration,
    pub(super) frame: Duration,
    pub(super) idle: Duration,
}

impl Timeouts {
    pub(super) fn of(config: &ServerConfig) -> Self {
        Self {
            handshake: Duration::from_millis(config.handshake_timeout_ms),
            frame: Duration::from_millis(config.frame_timeout_ms),
            idle: Duration::from_millis(config.idle_timeout_ms),
        }
    }
}

/// Result of reading from a connection.
pub(super) enum ReadOutcome {
    Open,
    /// The read budget ran out with data possibly left in the socket: read again next turn.
    MoreToRead,
    Close(CloseReason),
}

impl ConnState {
    pub(super) fn new(
        transport: Transport,
        handle: Connection,
        now: Instant,
        config: &ServerConfig,
    ) -> Self {
        Self {
            transport,
            handle,
            frames: FrameBuf::new(config.frame_max_bytes),
            write_buf: Vec::new(),
            write_pos: 0,
            dirty: false,
            write_blocked: false,
            last_active: now,
            accepted_at: now,
            framed: false,
            partial_since: None,
            held: None,
            write_max_bytes: config.write_queue_max_bytes,
        }
    }

    pub(super) fn has_unsent(&self) -> bool {
        self.unsent() > 0
    }

    /// Bytes queued and not written yet.
    fn unsent(&self) -> usize {
        assert!(self.write_pos <= self.write_buf.len(), "write position past the buffer");
        self.write_buf.len() - self.write_pos
    }

    /// Appends an encoded frame to the write buffer; returns the unsent bytes now queued.
    pub(super) fn queue(&mut self, frame: &[u8]) -> usize {
        assert!(is_one_frame(frame), "queued bytes are one whole frame");
        self.write_buf.extend_from_slice(frame);
        self.unsent()
    }

    /// Reads until `WouldBlock`, handling every complete frame as it arrives.
    pub(super) fn read_all(&mut self, now: Instant, router: Option<&Router>) -> ReadOutcome {
        let mut budget = READ_BUDGET_BYTES;
        loop {
            let spare = match self.frames.spare() {
                Ok(spare) => spare,
                Err(e) => return ReadOutcome::Close(CloseReason::BadFrame(e)),
            };
            let spare_len = spare.len();
            match self.transport.read(spare) {
                Ok(0) => return ReadOutcome::Close(CloseReason::PeerClosed),
                Ok(n) => {
                    self.frames.filled(n);
                    match self.handle_frames(router) {
                        Ok(frames) => self.note_progress(frames, now),
                        Err(e) => return ReadOutcome::Close(CloseReason::BadFrame(e)),
                    }
                    if self.held.is_some() {
                        // Back-pressure: leave the rest in the socket until the job is queued.
                        return ReadOutcome::Open;
                    }
                    // Inline replies pile up here if the peer sends without reading.
                    let unsent = self.unsent();
                    if unsent > self.write_max_bytes {
                        return ReadOutcome::Close(CloseReason::WriteQueueFull(unsent));
                    }
                    // Skip the read that would only return WouldBlock (see `drained_by`).
                    if self.transport.drained_by(n, spare_len) {
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
    /// oneway job is held (the later frames stay buffered). Returns how many it handled.
    pub(super) fn handle_frames(&mut self, router: Option<&Router>) -> Result<usize, DecodeError> {
        let mut handled = 0;
        while self.held.is_none() {
            let Some(frame) = self.frames.next_frame()? else { break };
            let (cmd, _) = RemotingCommand::decode(frame)?;
            self.dispatch(cmd, router);
            handled += 1;
        }
        Ok(handled)
    }

    /// Books `frames` whole frames handled at `now` for the timeouts (see the module doc).
    pub(super) fn note_progress(&mut self, frames: usize, now: Instant) {
        if frames > 0 {
            self.last_active = now;
            self.framed = true;
            self.partial_since = None;
        }
        if self.frames.is_drained() {
            self.partial_since = None;
        } else if self.partial_since.is_none() {
            self.partial_since = Some(now);
        }
    }

    /// Which timeout, if any, this connection has run past at `now`. A connection holding a
    /// oneway job is paused by the server, so only the idle timeout applies to it.
    pub(super) fn timed_out(&self, now: Instant, limits: &Timeouts) -> Option<CloseReason> {
        if !self.framed && now.duration_since(self.accepted_at) >= limits.handshake {
            return Some(CloseReason::Handshake);
        }
        if self.held.is_none()
            && self.partial_since.is_some_and(|t| now.duration_since(t) >= limits.frame)
        {
            return Some(CloseReason::StalledFrame);
        }
        // A frame being received counts from its start (the frame timeout governs it), so a
        // connection quiet for a while may still send a large frame.
        let quiet_since = self.partial_since.map_or(self.last_active, |t| t.max(self.last_active));
        if now.duration_since(quiet_since) >= limits.idle {
            return Some(CloseReason::Idle);
        }
        None
    }

    /// Frees the read and write buffers if nothing is buffered in them (an idle connection);
    /// the next read or reply allocates again.
    pub(super) fn release_buffers(&mut self) {
        if self.held.is_some() {
            return;
        }
        self.frames.release();
        if self.unsent() == 0 {
            self.write_buf = Vec::new();
            self.write_pos = 0;
        }
    }

    /// Bytes of memory held by this connection's read and write buffers.
    pub(super) fn buffer_bytes(&self) -> usize {
        self.frames.capacity() + self.write_buf.capacity()
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
            let before = self.write_buf.len();
            self.handle.encode_response(&response, &mut self.write_buf);
            assert!(self.write_buf.len() > before, "an inline answer was encoded");
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
        let before = self.write_buf.len();
        resp.encode(SerializeType::Json, &mut self.write_buf);
        assert!(self.write_buf.len() > before, "the server's own answer was encoded");
    }

    /// Writes queued bytes until done or `WouldBlock`.
    pub(super) fn flush(&mut self, now: Instant) -> io::Result<()> {
        while self.write_pos < self.write_buf.len() {
            match self.transport.write(&self.write_buf[self.write_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    assert!(n <= self.unsent(), "wrote {n} bytes, more than were queued");
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

/// Whether `bytes` are exactly one frame as its length prefix declares it: the pair, on the
/// write path, of the reader's frame checks.
pub(super) fn is_one_frame(bytes: &[u8]) -> bool {
    matches!(frame_len(bytes, usize::MAX), Ok(Some(len)) if len == bytes.len())
}
