//! Request hooks: a server-side hook around every request (pool and inline codes) that can
//! reject with its own response, and a client-side RPC hook that signs requests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rocketmq_net::{
    response_code, Admission, Connection, Inline, Processor, RemotingCommand, RequestContext,
    RequestHook, RequestOutcome, ResponseCode, RpcHook, Server, ServerBuilder, ServerConfig,
};

use crate::support::*;

const INLINE_ECHO: i32 = 11;
const ONEWAY_SINK: i32 = 12;

/// Admits requests that carry the access key, rejects the others with NO_PERMISSION, and
/// records every outcome.
#[derive(Default)]
struct Acl {
    seen: Mutex<Vec<RequestOutcome>>,
}

impl RequestHook for Acl {
    fn before(&self, _ctx: &RequestContext, request: &RemotingCommand) -> Admission {
        if request.ext_fields.get("AccessKey") == Some("ak") {
            return Admission::Proceed;
        }
        let remark = Some("no AccessKey".to_owned());
        Admission::Reject(RemotingCommand::response(response_code::NO_PERMISSION, remark))
    }

    fn after(&self, _conn: &Connection, outcome: &RequestOutcome) {
        self.seen.lock().push(*outcome);
    }
}

impl Acl {
    /// The outcomes seen (sorted), once there are `n` of them. An after-hook on a pool runs just after
    /// the response is queued, so the client may hold the response first: wait, with a deadline.
    fn outcomes(&self, n: usize) -> Vec<(i32, Option<i32>)> {
        let deadline = std::time::Instant::now() + TIMEOUT;
        while self.seen.lock().len() < n {
            assert!(std::time::Instant::now() < deadline, "after-hooks ran {:?}", self.seen);
            std::thread::yield_now();
        }
        // Sorted: hooks on different threads may finish in either order.
        let mut seen: Vec<_> =
            self.seen.lock().iter().map(|o| (o.request_code, o.response_code)).collect();
        seen.sort_unstable();
        seen
    }
}

/// Adds the access key and a toy signature to every request.
struct Signer;

impl RpcHook for Signer {
    fn before_request(&self, _addr: &str, request: &mut RemotingCommand) {
        request.ext_fields.insert("AccessKey", "ak");
        request.ext_fields.insert("Signature", format!("sig-{}", request.code));
    }
}

/// Echoes, counting how often it ran (inline or on the pool).
#[derive(Default)]
struct Counting {
    runs: AtomicUsize,
}

impl Processor for Counting {
    fn process(&self, ctx: &RequestContext, req: RemotingCommand) -> Option<RemotingCommand> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        echo(ctx, req)
    }

    fn process_inline(&self, ctx: &RequestContext, req: RemotingCommand) -> Inline {
        if req.ext_fields.contains("slow") {
            return Inline::ToPool(req);
        }
        Inline::Done(self.process(ctx, req))
    }
}

fn acl_server(acl: &Arc<Acl>, processor: &Arc<Counting>) -> Server {
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("work", 2, 64);
    builder.register(ECHO, pool, Arc::clone(processor) as Arc<dyn Processor>);
    builder.register_inline(INLINE_ECHO, pool, Arc::clone(processor) as Arc<dyn Processor>);
    builder.register(ONEWAY_SINK, pool, Arc::clone(processor) as Arc<dyn Processor>);
    builder.hook(Arc::clone(acl) as Arc<dyn RequestHook>);
    builder.start().expect("start server")
}

#[test]
fn a_rejecting_hook_answers_no_permission_and_the_processor_never_runs() {
    let (acl, processor) = (Arc::new(Acl::default()), Arc::new(Counting::default()));
    let server = acl_server(&acl, &processor);
    let client = client();
    for code in [ECHO, INLINE_ECHO] {
        let resp = client.invoke_sync(&addr(&server), RemotingCommand::request(code), TIMEOUT);
        let resp = resp.expect("answered");
        assert_eq!(resp.response_code(), ResponseCode::NoPermission, "code {code}");
        assert_eq!(resp.remark.as_deref(), Some("no AccessKey"));
    }
    assert_eq!(processor.runs.load(Ordering::SeqCst), 0);
    assert_eq!(acl.outcomes(2), [(ECHO, Some(16)), (INLINE_ECHO, Some(16))]);
}

#[test]
fn a_signing_client_hook_passes_the_server_hook_on_pool_and_inline_codes() {
    let (acl, processor) = (Arc::new(Acl::default()), Arc::new(Counting::default()));
    let server = acl_server(&acl, &processor);
    let client = client();
    assert!(client.set_rpc_hook(Arc::new(Signer)).is_ok());
    assert!(client.set_rpc_hook(Arc::new(Signer)).is_err(), "one hook per client");
    let requests = [
        RemotingCommand::request(ECHO),
        RemotingCommand::request(INLINE_ECHO),
        RemotingCommand::request(INLINE_ECHO).with_ext("slow", "1"),
    ];
    for req in requests {
        let code = req.code;
        let resp = client.invoke_sync(&addr(&server), req, TIMEOUT).expect("answered");
        assert_eq!(resp.response_code(), ResponseCode::Success, "code {code}");
        // The echo shows what the server received: the fields the hook added.
        assert_eq!(resp.ext_fields.get("AccessKey"), Some("ak"));
        assert_eq!(resp.ext_fields.get("Signature"), Some(format!("sig-{code}").as_str()));
    }
    assert_eq!(processor.runs.load(Ordering::SeqCst), 3);
    let expected = [(ECHO, Some(0)), (INLINE_ECHO, Some(0)), (INLINE_ECHO, Some(0))];
    assert_eq!(acl.outcomes(3), expected);
}

#[test]
fn the_after_hook_sees_oneway_requests_without_a_response_code() {
    let (acl, processor) = (Arc::new(Acl::default()), Arc::new(Counting::default()));
    let server = acl_server(&acl, &processor);
    let client = client();
    assert!(client.set_rpc_hook(Arc::new(Signer)).is_ok());
    client.invoke_oneway(&addr(&server), RemotingCommand::request(ONEWAY_SINK)).unwrap();
    // A oneway request has no answer to wait for: wait for the hook's record.
    assert_eq!(acl.outcomes(1), [(ONEWAY_SINK, None)]);
}

/// Panics in its `before` on requests carrying `boom`.
struct Fragile;

impl RequestHook for Fragile {
    fn before(&self, _ctx: &RequestContext, request: &RemotingCommand) -> Admission {
        assert!(!request.ext_fields.contains("boom"), "hook boom");
        Admission::Proceed
    }
}

#[test]
fn a_panicking_hook_answers_system_error_and_is_counted() {
    let processor = Arc::new(Counting::default());
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("work", 1, 16);
    builder.register(ECHO, pool, Arc::clone(&processor) as Arc<dyn Processor>);
    builder.register_inline(INLINE_ECHO, pool, Arc::clone(&processor) as Arc<dyn Processor>);
    builder.hook(Arc::new(Fragile));
    let server = builder.start().expect("start server");
    let client = client();
    for code in [ECHO, INLINE_ECHO] {
        let boom = RemotingCommand::request(code).with_ext("boom", "1");
        let resp = client.invoke_sync(&addr(&server), boom, TIMEOUT).expect("answered");
        assert_eq!(resp.response_code(), ResponseCode::SystemError, "code {code}");
        assert!(resp.remark.unwrap_or_default().contains("hook boom"));
        let fine = client.invoke_sync(&addr(&server), RemotingCommand::request(code), TIMEOUT);
        assert_eq!(fine.expect("answered").response_code(), ResponseCode::Success);
    }
    assert_eq!(server.processor_panics(), 2);
    assert_eq!(processor.runs.load(Ordering::SeqCst), 2, "only the requests that passed");
}

/// Answers later, from another thread, through the request's `Responder`.
fn answers_later(ctx: &RequestContext, _req: RemotingCommand) -> Option<RemotingCommand> {
    let responder = ctx.responder();
    std::thread::spawn(move || responder.respond(RemotingCommand::response(7, None)));
    None
}

#[test]
fn the_after_hook_of_a_request_answered_later_runs_when_the_responder_answers() {
    let acl = Arc::new(Acl::default());
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("hold", 1, 16);
    builder.register(ECHO, pool, Arc::new(answers_later));
    builder.hook(Arc::clone(&acl) as Arc<dyn RequestHook>);
    let server = builder.start().expect("start server");
    let client = client();
    assert!(client.set_rpc_hook(Arc::new(Signer)).is_ok());
    let resp = client.invoke_sync(&addr(&server), RemotingCommand::request(ECHO), TIMEOUT);
    assert_eq!(resp.expect("answered").code, 7);
    assert_eq!(acl.outcomes(1), [(ECHO, Some(7))]);
}
