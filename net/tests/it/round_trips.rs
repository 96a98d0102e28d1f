//! Sync, async and oneway calls through a real server, pipelining, timeouts and reconnects.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use crossbeam_channel::bounded;
use rocketmq_net::{
    ClientConfig, NetError, RemotingClient, RemotingCommand, ResponseCode, SerializeType,
    ServerBuilder, ServerConfig,
};

use crate::support::*;

#[test]
fn sync_round_trip_echoes_everything() {
    let server = echo_server(ServerConfig::default());
    let client = client();
    let req = echo_request("hello").with_remark("note");
    let resp = client.invoke_sync(&addr(&server), req, TIMEOUT).unwrap();
    assert_eq!(resp.response_code(), ResponseCode::Success);
    assert!(resp.is_response());
    assert_eq!(resp.ext_fields.get("text"), Some("hello"));
    assert_eq!(resp.remark.as_deref(), Some("note"));
    assert_eq!(resp.body, b"hello");
}

#[test]
fn binary_requests_get_json_or_binary_responses_as_configured() {
    let config = ClientConfig { request_serialize: SerializeType::RocketMq, ..Default::default() };
    for response_serialize in [SerializeType::Json, SerializeType::RocketMq] {
        let server = echo_server(ServerConfig { response_serialize, ..ServerConfig::default() });
        let client = RemotingClient::new(config.clone());
        let resp = client.invoke_sync(&addr(&server), echo_request("bin"), TIMEOUT).unwrap();
        assert_eq!(resp.body, b"bin");
        // And on a raw socket we can see the response's actual type byte.
        let mut raw = raw_connect(&server);
        let frame = echo_request("raw").encode_to_vec(SerializeType::RocketMq);
        std::io::Write::write_all(&mut raw, &frame).unwrap();
        let mut head = [0u8; 8];
        std::io::Read::read_exact(&mut raw, &mut head).unwrap();
        assert_eq!(head[4], response_serialize.code());
    }
}

#[test]
fn async_calls_complete_exactly_once() {
    let server = echo_server(ServerConfig::default());
    let client = client();
    let (tx, rx) = bounded(100);
    for i in 0..100 {
        let tx = tx.clone();
        let req = echo_request(&i.to_string());
        let callback = Box::new(move |r: Result<RemotingCommand, NetError>| {
            tx.send((i, r.map(|c| c.body))).unwrap();
        });
        client.invoke_async(&addr(&server), req, TIMEOUT, callback).unwrap();
    }
    drop(tx);
    let mut seen: Vec<_> = rx.iter().collect();
    seen.sort_by_key(|(i, _)| *i);
    assert_eq!(seen.len(), 100);
    for (i, body) in seen {
        assert_eq!(body.unwrap(), i.to_string().into_bytes());
    }
}

#[test]
fn oneway_is_processed_and_never_answered() {
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("p", 1, 16);
    let (tx, rx) = bounded(4);
    builder.register(
        15,
        pool,
        Arc::new(move |ctx: &rocketmq_net::RequestContext, req: RemotingCommand| {
            tx.send((ctx.is_oneway(), req.ext_fields.get("offset").map(str::to_owned))).unwrap();
            Some(RemotingCommand::response(0, Some("must not be sent".into())))
        }),
    );
    builder.register(ECHO, pool, Arc::new(echo));
    let server = builder.start().unwrap();
    let mut raw = raw_connect(&server);
    let mut oneway = RemotingCommand::request(15).with_ext("offset", "42");
    oneway.mark_oneway();
    raw_send(&mut raw, &oneway, SerializeType::Json);
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), (true, Some("42".into())));
    // The next frame on the wire is the echo's response, not one for the oneway request.
    let echo_req = echo_request("next");
    raw_send(&mut raw, &echo_req, SerializeType::Json);
    let resp = raw_read(&mut raw);
    assert_eq!(resp.opaque, echo_req.opaque);
    // And through the client API.
    let client = client();
    let req = RemotingCommand::request(15).with_ext("offset", "7");
    client.invoke_oneway(&addr(&server), req).unwrap();
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), (true, Some("7".into())));
}

#[test]
fn unknown_code_gets_request_code_not_supported() {
    let server = echo_server(ServerConfig::default());
    let resp = client().invoke_sync(&addr(&server), RemotingCommand::request(4242), TIMEOUT);
    let resp = resp.unwrap();
    assert_eq!(resp.response_code(), ResponseCode::RequestCodeNotSupported);
    assert_eq!(resp.remark.as_deref(), Some(" request type 4242 not supported"));
}

#[test]
fn default_processor_handles_unregistered_codes() {
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("default", 1, 16);
    builder.default_processor(
        pool,
        Arc::new(|_: &rocketmq_net::RequestContext, req: RemotingCommand| {
            Some(RemotingCommand::response(0, Some(format!("default saw {}", req.code))))
        }),
    );
    let server = builder.start().unwrap();
    let resp = client().invoke_sync(&addr(&server), RemotingCommand::request(777), TIMEOUT);
    assert_eq!(resp.unwrap().remark.as_deref(), Some("default saw 777"));
}

#[test]
fn pipelined_calls_from_many_threads_share_one_connection() {
    let server = echo_server(ServerConfig::default());
    let client = Arc::new(client());
    let server_addr = addr(&server);
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let client = Arc::clone(&client);
            let server_addr = server_addr.clone();
            thread::spawn(move || {
                for i in 0..100 {
                    let text = format!("{t}-{i}");
                    let resp = client.invoke_sync(&server_addr, echo_request(&text), TIMEOUT);
                    assert_eq!(resp.unwrap().body, text.as_bytes());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// A server whose code 99 processor holds requests until released.
/// A server whose code 99 answers after `delay`; the counter counts the answers given.
fn slow_server(delay: Duration) -> (rocketmq_net::Server, Arc<std::sync::atomic::AtomicUsize>) {
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("slow", 2, 64);
    let counter = Arc::clone(&answered);
    builder.register(
        99,
        pool,
        Arc::new(move |_: &rocketmq_net::RequestContext, _req: RemotingCommand| {
            thread::sleep(delay);
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Some(RemotingCommand::response(0, None))
        }),
    );
    builder.register(ECHO, pool, Arc::new(echo));
    (builder.start().unwrap(), answered)
}

#[test]
fn timeouts_fail_sync_and_async_calls_and_leave_the_connection_usable() {
    let (server, answered) = slow_server(Duration::from_millis(300));
    let client = client();
    let short = Duration::from_millis(50);
    let err = client.invoke_sync(&addr(&server), RemotingCommand::request(99), short).unwrap_err();
    assert!(err.is_timeout(), "got {err:?}");
    let (tx, rx) = bounded(1);
    let callback = Box::new(move |r: Result<RemotingCommand, NetError>| tx.send(r).unwrap());
    client.invoke_async(&addr(&server), RemotingCommand::request(99), short, callback).unwrap();
    let result = rx.recv_timeout(TIMEOUT).unwrap();
    assert!(matches!(result, Err(NetError::Timeout { timeout_ms: 50, .. })), "{result:?}");
    // The late responses are sent (and dropped by the client); the connection keeps working.
    let deadline = std::time::Instant::now() + TIMEOUT;
    while answered.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        assert!(std::time::Instant::now() < deadline, "the slow answers never came");
        thread::yield_now();
    }
    let resp = client.invoke_sync(&addr(&server), echo_request("still"), TIMEOUT).unwrap();
    assert_eq!(resp.body, b"still");
}

#[test]
fn a_closed_connection_fails_all_pending_calls_at_once_and_reconnects() {
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("hold", 1, 64);
    let held = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&held);
    builder.register(
        98,
        pool,
        Arc::new(move |ctx: &rocketmq_net::RequestContext, _req: RemotingCommand| {
            // Never answers; the fourth request closes the connection from the server side.
            if counter.fetch_add(1, Ordering::SeqCst) == 3 {
                ctx.conn().close();
            }
            None
        }),
    );
    builder.register(ECHO, pool, Arc::new(echo));
    let server = builder.start().unwrap();
    let client = Arc::new(client());
    let barrier = Arc::new(Barrier::new(4));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (client, server_addr, barrier) =
                (Arc::clone(&client), addr(&server), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                let start = std::time::Instant::now();
                let r = client.invoke_sync(&server_addr, RemotingCommand::request(98), TIMEOUT);
                (r, start.elapsed())
            })
        })
        .collect();
    for caller in callers {
        let (result, elapsed) = caller.join().unwrap();
        assert!(matches!(result, Err(NetError::ConnectionClosed { .. })), "{result:?}");
        assert!(elapsed < TIMEOUT, "failed by the close, not by the timeout");
    }
    let resp = client.invoke_sync(&addr(&server), echo_request("again"), TIMEOUT).unwrap();
    assert_eq!(resp.body, b"again");
}

#[test]
fn connect_failure_and_shutdown_are_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let client = client();
    let err = client.invoke_sync(&dead_addr, echo_request("x"), TIMEOUT).unwrap_err();
    assert!(matches!(err, NetError::Connect { .. }), "{err:?}");
    let err = client.invoke_sync("no-such-host.invalid:1", echo_request("x"), TIMEOUT);
    assert!(matches!(err, Err(NetError::Connect { .. })));
    client.shutdown();
    let err = client.invoke_sync(&dead_addr, echo_request("x"), TIMEOUT).unwrap_err();
    assert!(matches!(err, NetError::Shutdown));
}

#[test]
fn oversize_request_is_refused_before_sending() {
    let server = echo_server(ServerConfig::default());
    let config = ClientConfig { frame_max_bytes: 256, ..Default::default() };
    let client = RemotingClient::new(config);
    let big = RemotingCommand::request(ECHO).with_body(vec![0; 300]);
    let err = client.invoke_sync(&addr(&server), big, TIMEOUT).unwrap_err();
    assert!(matches!(err, NetError::Encode(_)), "{err:?}");
    let resp = client.invoke_sync(&addr(&server), echo_request("ok"), TIMEOUT).unwrap();
    assert_eq!(resp.body, b"ok");
}
