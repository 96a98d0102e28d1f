//! Inline processors: requests answered on the I/O thread, handed to the pool on request,
//! panics contained, oneway requests never answered.

use std::sync::Arc;

use rocketmq_net::{
    Inline, Processor, RemotingCommand, RequestContext, ResponseCode, SerializeType, ServerBuilder,
    ServerConfig,
};

use crate::support::*;

/// Answers inline unless the request carries `slow`; reports the thread that answered.
struct Split;

impl Processor for Split {
    fn process(&self, _ctx: &RequestContext, _req: RemotingCommand) -> Option<RemotingCommand> {
        let thread = std::thread::current().name().unwrap_or_default().to_owned();
        Some(RemotingCommand::response(0, Some(thread)))
    }

    fn process_inline(&self, ctx: &RequestContext, req: RemotingCommand) -> Inline {
        if req.ext_fields.get("panic").is_some() {
            panic!("inline boom");
        }
        if req.ext_fields.get("slow").is_some() {
            return Inline::ToPool(req);
        }
        Inline::Done(self.process(ctx, req))
    }
}

fn split_server() -> rocketmq_net::Server {
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("work", 1, 16);
    builder.register_inline(ECHO, pool, Arc::new(Split));
    builder.start().expect("start server")
}

#[test]
fn inline_requests_are_answered_on_the_io_thread_and_slow_ones_on_the_pool() {
    let server = split_server();
    let client = client();
    let fast = client.invoke_sync(&addr(&server), RemotingCommand::request(ECHO), TIMEOUT);
    assert_eq!(fast.unwrap().remark.as_deref(), Some("net-io"));
    let slow = RemotingCommand::request(ECHO).with_ext("slow", "1");
    let slow = client.invoke_sync(&addr(&server), slow, TIMEOUT).unwrap();
    assert_eq!(slow.remark.as_deref(), Some("work-0"));
    client.shutdown();
}

#[test]
fn pipelined_inline_requests_each_get_their_own_answer() {
    let server = split_server();
    let mut raw = raw_connect(&server);
    let requests: Vec<_> = (0..200)
        .map(|i| {
            let req = RemotingCommand::request(ECHO);
            if i % 3 == 0 {
                req.with_ext("slow", "1")
            } else {
                req
            }
        })
        .collect();
    let frames: Vec<u8> =
        requests.iter().flat_map(|r| r.encode_to_vec(SerializeType::Json)).collect();
    std::io::Write::write_all(&mut raw, &frames).unwrap();
    let mut opaques: Vec<i32> = (0..200).map(|_| raw_read(&mut raw).opaque).collect();
    opaques.sort_unstable();
    let mut sent: Vec<i32> = requests.iter().map(|r| r.opaque).collect();
    sent.sort_unstable();
    assert_eq!(opaques, sent, "every request answered exactly once");
}

#[test]
fn a_panicking_inline_processor_answers_system_error_and_the_server_goes_on() {
    let server = split_server();
    let client = client();
    let boom = RemotingCommand::request(ECHO).with_ext("panic", "1");
    let resp = client.invoke_sync(&addr(&server), boom, TIMEOUT).unwrap();
    assert_eq!(resp.response_code(), ResponseCode::SystemError);
    assert!(resp.remark.unwrap_or_default().contains("inline boom"));
    let ok = client.invoke_sync(&addr(&server), RemotingCommand::request(ECHO), TIMEOUT);
    assert_eq!(ok.unwrap().response_code(), ResponseCode::Success);
    client.shutdown();
}

#[test]
fn oneway_inline_requests_are_not_answered() {
    let server = split_server();
    let mut raw = raw_connect(&server);
    let mut oneway = RemotingCommand::request(ECHO);
    oneway.mark_oneway();
    raw_send(&mut raw, &oneway, SerializeType::Json);
    let normal = RemotingCommand::request(ECHO);
    raw_send(&mut raw, &normal, SerializeType::Json);
    // The first frame back answers the second request: the oneway one got nothing.
    assert_eq!(raw_read(&mut raw).opaque, normal.opaque);
}

#[test]
fn a_peer_flooding_inline_oneway_requests_does_not_starve_another_connection() {
    let server = split_server();
    let addr = server.local_addr();
    let mut oneway = RemotingCommand::request(ECHO).with_body(vec![b'x'; 1024]);
    oneway.mark_oneway();
    let frame = oneway.encode_to_vec(SerializeType::Json);
    let flood: Vec<u8> = frame.iter().copied().cycle().take(frame.len() * 2048).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (started_tx, started) = crossbeam_channel::bounded(1);
    let flooding = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut raw = std::net::TcpStream::connect(addr).unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if std::io::Write::write_all(&mut raw, &flood).is_err() {
                    break;
                }
                let _ = started_tx.try_send(());
            }
        })
    };
    // The flood is under way (2 MiB written, more than the server reads per turn) before the
    // other connection asks anything.
    started.recv_timeout(TIMEOUT).expect("the flood started");
    let client = client();
    for _ in 0..20 {
        let resp = client.invoke_sync(&addr.to_string(), RemotingCommand::request(ECHO), TIMEOUT);
        assert_eq!(resp.unwrap().response_code(), ResponseCode::Success);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    client.shutdown();
    drop(server);
    flooding.join().unwrap();
}
