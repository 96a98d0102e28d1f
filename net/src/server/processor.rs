//! What the application plugs into the server: [`Processor`]s, the [`RequestContext`] they get,
//! and the [`Responder`] that answers later from any thread (long polling).

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
        Self { responder: Responder { conn, opaque: request.opaque, oneway: request.is_oneway() } }
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

    /// Answers now (the worker's path; no handle clone).
    pub(crate) fn respond(&self, cmd: RemotingCommand) {
        self.responder.respond(cmd);
    }
}

/// Answers one request later. Cloneable and `Send`; a no-op for oneway requests and for
/// connections that have closed meanwhile.
#[derive(Debug, Clone)]
pub struct Responder {
    conn: Connection,
    opaque: i32,
    oneway: bool,
}

impl Responder {
    /// Sends `cmd` as the response: its opaque and response flag are set here.
    pub fn respond(&self, mut cmd: RemotingCommand) {
        if self.oneway {
            return;
        }
        cmd.opaque = self.opaque;
        cmd.mark_response();
        self.conn.write_response(&cmd);
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
