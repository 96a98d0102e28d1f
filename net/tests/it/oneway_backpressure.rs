//! Oneway requests that find their pool full are held (the connection stops being read) and
//! retried, never dropped; other requests still get SYSTEM_BUSY and other connections are served.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use rocketmq_net::{
    RemotingCommand, RequestContext, ResponseCode, SerializeType, ServerBuilder, ServerConfig,
};

use crate::support::*;

const SLOW: i32 = 60;

fn oneway(seq: usize) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(SLOW).with_ext("seq", seq.to_string());
    cmd.mark_oneway();
    cmd
}

fn wait_for(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn oneway_requests_on_a_full_pool_are_held_not_dropped() {
    // Oneway sequence numbers in the order the processor saw them; sync requests counted apart.
    let seen = Arc::new(Mutex::new(Vec::<usize>::new()));
    let sync_done = Arc::new(AtomicUsize::new(0));
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("send", 1, 1);
    let (seen2, sync_done2) = (Arc::clone(&seen), Arc::clone(&sync_done));
    builder.register(
        SLOW,
        pool,
        Arc::new(move |_: &RequestContext, req: RemotingCommand| {
            thread::sleep(Duration::from_micros(300));
            if req.is_oneway() {
                let seq = req.ext_fields.get("seq").unwrap().parse().unwrap();
                seen2.lock().unwrap().push(seq);
                None
            } else {
                sync_done2.fetch_add(1, Ordering::SeqCst);
                Some(RemotingCommand::response(0, None))
            }
        }),
    );
    let echo_pool = builder.pool("echo", 1, 64);
    builder.register(ECHO, echo_pool, Arc::new(echo));
    let server = builder.start().unwrap();
    let server_addr = addr(&server);

    let oneway_client = client();
    let sync_client = client();
    let echo_client = client();
    let sender = {
        let server_addr = server_addr.clone();
        thread::spawn(move || {
            for seq in 0..200 {
                oneway_client.invoke_oneway(&server_addr, oneway(seq)).unwrap();
            }
            oneway_client
        })
    };
    // Meanwhile another connection's sync requests to the same pool are answered (SUCCESS or
    // SYSTEM_BUSY), and a third connection on another pool is served normally.
    let (mut ok, mut busy) = (0u64, 0u64);
    for i in 0..50 {
        let resp = sync_client.invoke_sync(&server_addr, RemotingCommand::request(SLOW), TIMEOUT);
        match resp.unwrap().response_code() {
            ResponseCode::Success => ok += 1,
            ResponseCode::SystemBusy => busy += 1,
            other => panic!("unexpected {other:?}"),
        }
        let text = format!("echo {i}");
        let resp = echo_client.invoke_sync(&server_addr, echo_request(&text), TIMEOUT).unwrap();
        assert_eq!(resp.body, text.as_bytes());
    }
    let _oneway_client = sender.join().unwrap();
    wait_for("200 oneway requests", TIMEOUT, || seen.lock().unwrap().len() >= 200);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, (0..200).collect::<Vec<_>>(), "every oneway request, once, in order");
    assert_eq!(sync_done.load(Ordering::SeqCst) as u64, ok);
    assert_eq!(server.rejected_requests(), busy, "only sync requests are ever rejected");
    // Still healthy afterwards.
    let resp = sync_client.invoke_sync(&server_addr, RemotingCommand::request(SLOW), TIMEOUT);
    assert_eq!(resp.unwrap().response_code(), ResponseCode::Success);
}

/// A processor on a 1-thread, 1-slot pool that blocks until released; counts what it ran.
fn blocking_server(
    config: ServerConfig,
) -> (rocketmq_net::Server, Arc<AtomicUsize>, crossbeam_channel::Sender<()>) {
    let ran = Arc::new(AtomicUsize::new(0));
    let (release_tx, release_rx) = bounded::<()>(64);
    let mut builder = ServerBuilder::new(config);
    let pool = builder.pool("send", 1, 1);
    let ran2 = Arc::clone(&ran);
    builder.register(
        SLOW,
        pool,
        Arc::new(move |_: &RequestContext, _req: RemotingCommand| {
            let _ = release_rx.recv_timeout(TIMEOUT);
            ran2.fetch_add(1, Ordering::SeqCst);
            None
        }),
    );
    let echo_pool = builder.pool("echo", 1, 64);
    builder.register(ECHO, echo_pool, Arc::new(echo));
    (builder.start().unwrap(), ran, release_tx)
}

#[test]
fn oneway_requests_sent_before_a_peer_close_are_still_processed() {
    let (server, ran, release) = blocking_server(ServerConfig::default());
    let mut raw = raw_connect(&server);
    // One runs, one waits in the queue, one is held; the rest stay unread in the socket.
    for seq in 0..10 {
        raw_send(&mut raw, &oneway(seq), SerializeType::Json);
    }
    thread::sleep(Duration::from_millis(50));
    raw.shutdown(std::net::Shutdown::Both).unwrap();
    drop(raw);
    let echo_client = client();
    let resp = echo_client.invoke_sync(&addr(&server), echo_request("hi"), TIMEOUT).unwrap();
    assert_eq!(resp.body, b"hi");
    for _ in 0..10 {
        release.send(()).unwrap();
    }
    wait_for("all ten jobs", TIMEOUT, || ran.load(Ordering::SeqCst) == 10);
}

#[test]
fn a_connection_closed_while_holding_a_job_drops_it_and_the_server_goes_on() {
    let config = ServerConfig { idle_timeout_ms: 100, ..ServerConfig::default() };
    let (server, ran, release) = blocking_server(config);
    let mut raw = raw_connect(&server);
    for seq in 0..10 {
        raw_send(&mut raw, &oneway(seq), SerializeType::Json);
    }
    // Paused connections are not read, so the idle timeout closes this one with its held job.
    assert!(closed_by_server(&mut raw));
    for _ in 0..10 {
        let _ = release.try_send(());
    }
    // The running and the queued job finish; the held one and the unread ones are gone.
    wait_for("the running jobs", TIMEOUT, || ran.load(Ordering::SeqCst) >= 2);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(ran.load(Ordering::SeqCst), 2);
    let echo_client = client();
    let resp = echo_client.invoke_sync(&addr(&server), echo_request("again"), TIMEOUT).unwrap();
    assert_eq!(resp.body, b"again");
}

#[test]
fn shutdown_queues_held_and_buffered_oneway_jobs() {
    let (server, ran, release) = blocking_server(ServerConfig::default());
    let mut raw = raw_connect(&server);
    // All three frames in one write, so they are read together: one runs, one is queued, one
    // is held.
    let mut bytes = Vec::new();
    for seq in 0..3 {
        bytes.extend(oneway(seq).encode_to_vec(SerializeType::Json));
    }
    raw.write_all(&bytes).unwrap();
    thread::sleep(Duration::from_millis(50));
    let releaser = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        for _ in 0..3 {
            release.send(()).unwrap();
        }
    });
    server.shutdown();
    releaser.join().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 3, "the held job ran before the workers exited");
}
