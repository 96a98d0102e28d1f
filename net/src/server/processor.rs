//! What the application plugs into the server: [`Processor`]s, the [`RequestContext`] they get,
//! the [`Responder`] that answers later from any thread (long polling), and the
//! [`RequestHook`]s that see every request before its processor and after its response.
//!
//! **Hook invariant:** with no hook installed, a request costs one branch on an empty slice:
//! no clock read, no allocation, no lock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::panic_policy;
use crate::protocol::RemotingCommand;

use super::conn::Connection;

/// Handles requests of the codes it is registered for, on a worker of its pool.
pub trait Processor: Send + Sync + 'static {
    /// Returns the response to send now, or `None` to answer later through
    /// [`RequestContext::responder`] (or never, for oneway requests). The server sets the
    /// response's opaque and response flag, and never answers a oneway request.
    fn process(&self, ctx: &RequestContext, request: RemotingCommand) -> Option<RemotingCommand>;

    /// For codes registered with [`crate::ServerBuilder::register_inline`]: called on the
    /// `net-io` thread itself, so it must never block (no disk sync, no network call, no lock
    /// held for long). It answers like [`Processor::process`], or hands the request to its pool
    /// with [`Inline::ToPool`] when this one needs slow work. The default always hands off.
    fn process_inline(&self, ctx: &RequestContext, request: RemotingCommand) -> Inline {
        let _ = ctx;
        Inline::ToPool(request)
    }
}

/// What [`Processor::process_inline`] decided.
#[derive(Debug)]
pub enum Inline {
    /// Handled on the I/O thread: the response to write now, or `None` (answered later
    /// through a [`Responder`], or a oneway request).
    Done(Option<RemotingCommand>),
    /// Needs slow work: run [`Processor::process`] on the code's pool instead.
    ToPool(RemotingCommand),
}

/// Runs around every request that has a processor, on the thread that runs the processor
/// (a pool worker, or `net-io` for codes registered with
/// [`crate::ServerBuilder::register_inline`], where it must not block either): ACL checks,
/// per-code latency metrics, audit. Installed with [`crate::ServerBuilder::hook`]; hooks run in
/// the order they were installed. A panicking hook is contained like a panicking processor.
pub trait RequestHook: Send + Sync + 'static {
    /// Called before the processor. [`Admission::Reject`] answers the request with the given
    /// response (its opaque and response flag are set by the server) and the processor never
    /// runs; later hooks' `before` are skipped. The default admits everything.
    fn before(&self, ctx: &RequestContext, request: &RemotingCommand) -> Admission {
        let _ = (ctx, request);
        Admission::Proceed
    }

    /// Called once the response has been handed to the I/O thread. For a oneway request:
    /// when the processor returns. For a request answered later: when its [`Responder`]
    /// answers (never, if it never does).
    fn after(&self, conn: &Connection, outcome: &RequestOutcome) {
        let _ = (conn, outcome);
    }
}

/// What [`RequestHook::before`] decided.
#[derive(Debug)]
pub enum Admission {
    /// Run the next hook, then the processor.
    Proceed,
    /// Answer with this response instead (e.g. NO_PERMISSION); the processor never runs.
    Reject(RemotingCommand),
}

/// What [`RequestHook::after`] sees of a finished request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestOutcome {
    /// The request's code.
    pub request_code: i32,
    /// The response's code; `None` for a oneway request (never answered).
    pub response_code: Option<i32>,
    /// From just before the first `before` hook to the response being queued, on the thread
    /// that ran the processor (a request handed from `net-io` to a pool is timed from its
    /// worker taking it).
    pub elapsed: Duration,
}

impl<F> Processor for F
where
    F: Fn(&RequestContext, RemotingCommand) -> Option<RemotingCommand> + Send + Sync + 'static,
{
    fn process(&self, ctx: &RequestContext, request: RemotingCommand) -> Option<RemotingCommand> {
        self(ctx, request)
    }
}

/// Where a request came from.
#[derive(Debug, Clone)]
pub struct RequestContext {
    responder: Responder,
}

impl RequestContext {
    pub(crate) fn new(conn: Connection, request: &RemotingCommand) -> Self {
        // The clock is read only when some hook will want the elapsed time.
        let started = if conn.hooks().is_empty() { None } else { Some(Instant::now()) };
        let responder = Responder {
            conn,
            opaque: request.opaque,
            oneway: request.is_oneway(),
            code: request.code,
            started,
        };
        Self { responder }
    }

    /// Runs every hook's `before` on `request`; the first rejection wins.
    pub(crate) fn admit(&self, request: &RemotingCommand) -> Admission {
        for hook in self.responder.conn.hooks() {
            if let Admission::Reject(response) = hook.before(self, request) {
                return Admission::Reject(response);
            }
        }
        Admission::Proceed
    }

    /// The processor returned without a response: for a oneway request that is its end, so
    /// the `after` hooks run now; otherwise they run when the [`Responder`] answers.
    pub(crate) fn finish_unanswered(&self) {
        if self.responder.oneway {
            self.responder.after(None);
        }
    }

    /// The response was written by the caller itself (the inline path): runs the `after`
    /// hooks.
    pub(crate) fn finish_answered(&self, response_code: i32) {
        self.responder.after(Some(response_code));
    }

    /// The connection the request arrived on.
    pub fn conn(&self) -> &Connection {
        &self.responder.conn
    }

    /// The request's opaque.
    pub fn opaque(&self) -> i32 {
        self.responder.opaque
    }

    /// Whether the request was oneway (it must not be answered).
    pub fn is_oneway(&self) -> bool {
        self.responder.oneway
    }

    /// A handle that answers this request later, from any thread.
    pub fn responder(&self) -> Responder {
        self.responder.clone()
    }

    /// Answers now (the worker's path; no handle clone). A oneway request is not answered,
    /// but this is its end for the `after` hooks.
    pub(crate) fn respond(&self, cmd: RemotingCommand) {
        if self.responder.oneway {
            self.responder.after(None);
        } else {
            self.responder.respond(cmd);
        }
    }
}

/// Answers one request later. Cloneable and `Send`; a no-op for oneway requests and for
/// connections that have closed meanwhile.
#[derive(Debug, Clone)]
pub struct Responder {
    conn: Connection,
    opaque: i32,
    oneway: bool,
    /// The request's code, for the `after` hooks.
    code: i32,
    /// When the request started, if any hook is installed.
    started: Option<Instant>,
}

impl Responder {
    /// Sends `cmd` as the response: its opaque and response flag are set here.
    pub fn respond(&self, mut cmd: RemotingCommand) {
        if self.oneway {
            return;
        }
        cmd.opaque = self.opaque;
        cmd.mark_response();
        assert!(cmd.is_response(), "a response carries the response flag");
        self.conn.write_response(&cmd);
        self.after(Some(cmd.code));
    }

    /// Runs the `after` hooks, containing their panics (this may run on any thread).
    fn after(&self, response_code: Option<i32>) {
        let Some(started) = self.started else { return };
        let outcome =
            RequestOutcome { request_code: self.code, response_code, elapsed: started.elapsed() };
        run_after_hooks(&self.conn, &outcome);
    }

    /// The connection the request arrived on.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The request's opaque.
    pub fn opaque(&self) -> i32 {
        self.opaque
    }
}

fn run_after_hooks(conn: &Connection, outcome: &RequestOutcome) {
    let hooks: &[Arc<dyn RequestHook>] = conn.hooks();
    for hook in hooks {
        if let Err(panic) = panic_policy::catch(|| hook.after(conn, outcome)) {
            conn.count_panic();
            let message = panic_policy::describe(&*panic);
            log::error!("after-hook for request code {} panicked: {message}", outcome.request_code);
        }
    }
}
