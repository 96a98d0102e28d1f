//! The bounded reply channel (workers → `net-io`): a worker that finds it full waits, a
//! stalled `net-io` loses nothing once it runs again, and nobody deadlocks.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rocketmq_net::{
    Inline, Processor, RemotingCommand, RequestContext, SerializeType, ServerBuilder, ServerConfig,
};

use crate::support::*;

const FLOOD: i32 = 20;
const STALL: i32 = 21;
const PUSHED: i32 = 22;
const REPLY_QUEUE_MAX: usize = 4;
const PUSHES: usize = 100;

/// FLOOD (on the pool) sends `PUSHES` server-initiated oneway requests through the reply
/// channel; STALL (inline, on `net-io`) keeps `net-io` from draining the channel until the
/// flood has filled it.
#[derive(Default)]
struct Flood {
    pushed: AtomicUsize,
    pushed_when_released: AtomicUsize,
}

impl Processor for Flood {
    fn process(&self, ctx: &RequestContext, _req: RemotingCommand) -> Option<RemotingCommand> {
        for seq in 0..PUSHES {
            let push = RemotingCommand::request(PUSHED).with_ext("seq", seq.to_string());
            ctx.conn().send_oneway(push).expect("connection open");
            self.pushed.fetch_add(1, Ordering::SeqCst);
        }
        Some(RemotingCommand::response(0, Some("flooded".into())))
    }

    fn process_inline(&self, _ctx: &RequestContext, _req: RemotingCommand) -> Inline {
        // A deliberately slow net-io (never do this in a real processor): wait until the
        // worker has filled the channel, so that its next send must wait for room.
        let deadline = Instant::now() + TIMEOUT;
        while self.pushed.load(Ordering::SeqCst) < REPLY_QUEUE_MAX && Instant::now() < deadline {
            std::thread::yield_now();
        }
        let pushed = self.pushed.load(Ordering::SeqCst);
        self.pushed_when_released.store(pushed, Ordering::SeqCst);
        Inline::Done(Some(RemotingCommand::response(0, Some("stalled".into()))))
    }
}

#[test]
fn a_full_reply_channel_with_a_stalled_net_io_neither_loses_nor_deadlocks() {
    let flood = Arc::new(Flood::default());
    let config = ServerConfig { reply_queue_max: REPLY_QUEUE_MAX, ..ServerConfig::default() };
    let mut builder = ServerBuilder::new(config);
    let pool = builder.pool("flood", 1, 16);
    builder.register(FLOOD, pool, Arc::clone(&flood) as Arc<dyn Processor>);
    builder.register_inline(STALL, pool, Arc::clone(&flood) as Arc<dyn Processor>);
    let server = builder.start().expect("start server");

    // FLOOD precedes STALL in the byte stream, so it is on the pool before net-io stalls.
    let mut raw = raw_connect(&server);
    let (flood_req, stall_req) = (RemotingCommand::request(FLOOD), RemotingCommand::request(STALL));
    let mut bytes = flood_req.encode_to_vec(SerializeType::Json);
    bytes.extend(stall_req.encode_to_vec(SerializeType::Json));
    raw.write_all(&bytes).expect("write");

    let mut seqs = Vec::new();
    let mut answers = Vec::new();
    while seqs.len() < PUSHES || answers.len() < 2 {
        let frame = raw_read(&mut raw);
        if frame.is_response() {
            answers.push((frame.opaque, frame.remark));
        } else {
            assert_eq!(frame.code, PUSHED);
            seqs.push(frame.ext_fields.get("seq").expect("seq").parse::<usize>().unwrap());
        }
    }
    // The channel held exactly its bound while net-io was stalled: the worker waited.
    assert_eq!(flood.pushed_when_released.load(Ordering::SeqCst), REPLY_QUEUE_MAX);
    assert_eq!(seqs, (0..PUSHES).collect::<Vec<_>>(), "every push, in order");
    answers.sort_unstable();
    let mut expected = vec![
        (flood_req.opaque, Some("flooded".to_owned())),
        (stall_req.opaque, Some("stalled".to_owned())),
    ];
    expected.sort_unstable();
    assert_eq!(answers, expected);
}

/// Posts `PUSHES` oneway requests to its own connection from `net-io` itself.
struct SelfPoster;

impl Processor for SelfPoster {
    fn process(&self, _ctx: &RequestContext, _req: RemotingCommand) -> Option<RemotingCommand> {
        Some(RemotingCommand::response(0, None))
    }

    fn process_inline(&self, ctx: &RequestContext, _req: RemotingCommand) -> Inline {
        for seq in 0..PUSHES {
            let push = RemotingCommand::request(PUSHED).with_ext("seq", seq.to_string());
            ctx.conn().send_oneway(push).expect("connection open");
        }
        Inline::Done(Some(RemotingCommand::response(0, Some("posted".into()))))
    }
}

/// `net-io` posting far more than the channel holds to itself must not wait for itself.
#[test]
fn net_io_posting_to_itself_never_waits_on_the_bounded_channel() {
    let config = ServerConfig { reply_queue_max: REPLY_QUEUE_MAX, ..ServerConfig::default() };
    let mut builder = ServerBuilder::new(config);
    let pool = builder.pool("unused", 1, 16);
    builder.register_inline(STALL, pool, Arc::new(SelfPoster));
    let server = builder.start().expect("start server");
    let mut raw = raw_connect(&server);
    let request = RemotingCommand::request(STALL);
    raw.write_all(&request.encode_to_vec(SerializeType::Json)).expect("write");
    let mut seqs = Vec::new();
    let mut answered = false;
    while seqs.len() < PUSHES || !answered {
        let frame = raw_read(&mut raw);
        if frame.is_response() {
            assert_eq!(frame.opaque, request.opaque);
            answered = true;
        } else {
            seqs.push(frame.ext_fields.get("seq").expect("seq").parse::<usize>().unwrap());
        }
    }
    assert_eq!(seqs, (0..PUSHES).collect::<Vec<_>>(), "every push, in order");
}
