//! Server policies: back-pressure, panics, many connections, idle timeout, write-queue cap,
//! deferred responses and graceful shutdown.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use rocketmq_net::{
    Connection, NetError, RemotingCommand, RequestContext, ResponseCode, SerializeType,
    ServerBuilder, ServerConfig,
};

use crate::support::*;

#[test]
fn a_full_pool_answers_system_busy_naming_the_pool() {
    let (started_tx, started_rx) = bounded::<()>(8);
    let (release_tx, release_rx) = bounded::<()>(8);
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("send", 1, 2);
    builder.register(
        10,
        pool,
        Arc::new(move |_: &RequestContext, _req: RemotingCommand| {
            let _ = started_tx.send(());
            let _ = release_rx.recv_timeout(TIMEOUT);
            Some(RemotingCommand::response(0, None))
        }),
    );
    let server = builder.start().unwrap();
    let mut raw = raw_connect(&server);
    // The first request occupies the only worker; of the next seven, two fit in the queue and
    // five must be refused at once.
    let requests: Vec<_> = (0..8).map(|_| RemotingCommand::request(10)).collect();
    raw_send(&mut raw, &requests[0], SerializeType::Json);
    started_rx.recv_timeout(TIMEOUT).unwrap();
    for req in &requests[1..] {
        raw_send(&mut raw, req, SerializeType::Json);
    }
    let mut busy = Vec::new();
    for _ in 0..5 {
        let resp = raw_read(&mut raw);
        assert_eq!(resp.response_code(), ResponseCode::SystemBusy);
        let remark = resp.remark.unwrap_or_default();
        assert!(remark.contains("pool 'send' is full (capacity 2)"), "{remark}");
        busy.push(resp.opaque);
    }
    for _ in 0..3 {
        release_tx.send(()).unwrap();
    }
    let mut ok = Vec::new();
    for _ in 0..3 {
        let resp = raw_read(&mut raw);
        assert_eq!(resp.response_code(), ResponseCode::Success);
        ok.push(resp.opaque);
    }
    let mut all: Vec<i32> = busy.into_iter().chain(ok).collect();
    all.sort_unstable();
    let mut sent: Vec<i32> = requests.iter().map(|r| r.opaque).collect();
    sent.sort_unstable();
    assert_eq!(all, sent, "every request answered exactly once");
    assert_eq!(server.rejected_requests(), 5);
}

#[test]
fn a_panicking_processor_answers_system_error_and_the_worker_survives() {
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("fragile", 1, 16);
    builder.register(
        66,
        pool,
        Arc::new(|_: &RequestContext, req: RemotingCommand| {
            if req.ext_fields.contains("boom") {
                panic!("kaboom {}", req.opaque);
            }
            Some(RemotingCommand::response(0, None))
        }),
    );
    let server = builder.start().unwrap();
    let client = client();
    for _ in 0..3 {
        let req = RemotingCommand::request(66).with_ext("boom", "1");
        let resp = client.invoke_sync(&addr(&server), req, TIMEOUT).unwrap();
        assert_eq!(resp.response_code(), ResponseCode::SystemError);
        assert!(resp.remark.unwrap().contains("kaboom"));
    }
    let resp = client.invoke_sync(&addr(&server), RemotingCommand::request(66), TIMEOUT);
    assert_eq!(resp.unwrap().response_code(), ResponseCode::Success);
}

#[test]
fn two_hundred_concurrent_connections_are_served() {
    let closed = Arc::new(AtomicUsize::new(0));
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("echo", 2, 4096);
    builder.register(ECHO, pool, Arc::new(echo));
    let counter = Arc::clone(&closed);
    builder.on_close(Arc::new(move |_: &Connection| {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    let server = builder.start().unwrap();
    // All 200 sockets are open at the same time; 8 threads drive 25 each.
    let mut sockets: Vec<_> = (0..200).map(|_| raw_connect(&server)).collect();
    let groups: Vec<Vec<_>> = (0..8).map(|_| sockets.drain(..25).collect()).collect();
    let threads: Vec<_> = groups
        .into_iter()
        .enumerate()
        .map(|(g, mut group)| {
            thread::spawn(move || {
                for round in 0..5 {
                    let reqs: Vec<_> = (0..group.len())
                        .map(|i| echo_request(&format!("{g}/{i}/{round}")))
                        .collect();
                    for (socket, req) in group.iter_mut().zip(&reqs) {
                        raw_send(socket, req, SerializeType::Json);
                    }
                    for (socket, req) in group.iter_mut().zip(&reqs) {
                        let resp = raw_read(socket);
                        assert_eq!((resp.opaque, &resp.body), (req.opaque, &req.body));
                    }
                }
                group.len()
            })
        })
        .collect();
    let served: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(served, 200);
    let deadline = Instant::now() + TIMEOUT;
    while closed.load(Ordering::SeqCst) < 200 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(closed.load(Ordering::SeqCst), 200, "on_close once per connection");
}

#[test]
fn idle_connections_are_closed() {
    let (tx, rx) = bounded(1);
    let mut builder =
        ServerBuilder::new(ServerConfig { idle_timeout_ms: 200, ..Default::default() });
    let pool = builder.pool("echo", 1, 16);
    builder.register(ECHO, pool, Arc::new(echo));
    builder.on_close(Arc::new(move |conn: &Connection| {
        let _ = tx.try_send(conn.peer_addr());
    }));
    let server = builder.start().unwrap();
    let mut raw = raw_connect(&server);
    let local = raw.local_addr().unwrap();
    let start = Instant::now();
    assert!(closed_by_server(&mut raw));
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), local, "on_close knows the peer address");
}

#[test]
fn connections_over_the_limit_are_refused() {
    let config = ServerConfig { connections_max: 1, ..Default::default() };
    let server = echo_server(config);
    let mut first = raw_connect(&server);
    raw_send(&mut first, &echo_request("1"), SerializeType::Json);
    assert_eq!(raw_read(&mut first).body, b"1");
    let mut second = raw_connect(&server);
    assert!(closed_by_server(&mut second));
    raw_send(&mut first, &echo_request("2"), SerializeType::Json);
    assert_eq!(raw_read(&mut first).body, b"2");
}

#[test]
fn a_reader_that_stops_reading_is_cut_off_at_the_write_queue_cap() {
    let (tx, rx) = bounded(1);
    let config = ServerConfig { write_queue_max_bytes: 1 << 20, ..Default::default() };
    let mut builder = ServerBuilder::new(config);
    let pool = builder.pool("echo", 1, 1024);
    builder.register(ECHO, pool, Arc::new(echo));
    builder.on_close(Arc::new(move |_: &Connection| {
        let _ = tx.try_send(());
    }));
    let server = builder.start().unwrap();
    let mut raw = raw_connect(&server);
    raw.set_write_timeout(Some(Duration::from_millis(200))).unwrap();
    let req = RemotingCommand::request(ECHO).with_body(vec![7; 256 * 1024]);
    let frame = req.encode_to_vec(SerializeType::Json);
    // Never read: 64 MiB of echoes cannot all sit in socket buffers plus a 1 MiB queue.
    for _ in 0..256 {
        if raw.write_all(&frame).is_err() {
            break;
        }
    }
    rx.recv_timeout(TIMEOUT).expect("the server closes the slow reader");
    let mut sink = vec![0u8; 1 << 16];
    let mut drained = 0usize;
    loop {
        match raw.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    assert!(drained < 64 << 20, "the connection ended before every echo was delivered");
}

#[test]
fn responder_answers_later_from_another_thread() {
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("pull", 1, 16);
    builder.register(
        11,
        pool,
        Arc::new(|ctx: &RequestContext, req: RemotingCommand| {
            let responder = ctx.responder();
            let body = req.body;
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                responder.respond(RemotingCommand::response(0, None).with_body(body));
            });
            None
        }),
    );
    let server = builder.start().unwrap();
    let req = RemotingCommand::request(11).with_body(b"later".to_vec());
    let resp = client().invoke_sync(&addr(&server), req, TIMEOUT).unwrap();
    assert_eq!(resp.body, b"later");
    assert!(resp.is_response());
}

#[test]
fn graceful_shutdown_finishes_in_flight_work() {
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("slow", 1, 16);
    let (started_tx, started_rx) = bounded(4);
    builder.register(
        50,
        pool,
        Arc::new(move |_: &RequestContext, req: RemotingCommand| {
            let _ = started_tx.send(());
            thread::sleep(Duration::from_millis(150));
            Some(RemotingCommand::response(0, None).with_body(req.body))
        }),
    );
    let server = builder.start().unwrap();
    let server_addr = addr(&server);
    let client = client();
    let (tx, rx) = bounded(2);
    for body in [b"first".to_vec(), b"queued".to_vec()] {
        let tx = tx.clone();
        let req = RemotingCommand::request(50).with_body(body);
        let cb = Box::new(move |r: Result<RemotingCommand, NetError>| tx.send(r).unwrap());
        client.invoke_async(&server_addr, req, TIMEOUT, cb).unwrap();
    }
    started_rx.recv_timeout(TIMEOUT).unwrap();
    // The first job now sleeps 150 ms; give net-io time to read the second frame off the socket
    // and queue it, so both are in flight when shutdown stops reading (a frame still in the
    // socket buffer at that point is not in flight and is not served).
    thread::sleep(Duration::from_millis(50));
    server.shutdown();
    let mut bodies: Vec<Vec<u8>> =
        (0..2).map(|_| rx.recv_timeout(TIMEOUT).unwrap().unwrap().body).collect();
    bodies.sort();
    assert_eq!(bodies, [b"first".to_vec(), b"queued".to_vec()]);
    // Nothing listens any more.
    assert!(std::net::TcpStream::connect(&server_addr).is_err());
}

#[test]
fn builder_rejects_bad_pools() {
    let mut builder = ServerBuilder::new(ServerConfig::default());
    builder.pool("empty", 0, 10);
    assert!(builder.start().is_err());
}

#[test]
fn server_drop_shuts_down() {
    let server = echo_server(ServerConfig::default());
    let server_addr = server.local_addr();
    let mut raw = raw_connect(&server);
    drop(server);
    assert!(closed_by_server(&mut raw));
    let _ = raw.write_all(b"x");
    assert!(std::net::TcpStream::connect(server_addr).is_err());
}
