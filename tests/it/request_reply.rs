//! Request-reply (issue #13, ADVANCED.md §9) against the real broker: a Rust responder answers
//! with `create_reply` + `send_reply`, and requesters get their own replies through
//! PUSH_REPLY_MESSAGE_TO_CLIENT. A requester process killed with replies in flight leaves the
//! responder a clear error and the broker serving; a request nobody answers times out as such.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;
use rocketmq::client::{
    create_reply, ClientError, ConsumeFrom, ConsumeStatus, Message, Producer, PushConsumer,
};

use rocketmq::net::RequestCode;

use crate::support::{
    broker, call, client, create_topic, nameserver, pull_n, send_header, send_v2,
};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Env var naming the nameserver for the child requester (`child_requester_process`).
const CHILD_NAMESRV: &str = "RMQ_IT_RPC_CHILD_NAMESRV";
const CHILD_TOPIC: &str = "RMQ_IT_RPC_CHILD_TOPIC";
/// How many requests the child leaves in flight before it is killed.
const CHILD_REQUESTS: usize = 5;

fn producer(namesrv: &str, group: &str) -> Producer {
    Producer::builder().name_server(namesrv).group(group).build().unwrap()
}

/// A responder on `topic`: each request is handed to `answer`, whose body (if any) is sent
/// back as the reply; every send_reply error is recorded.
struct Responder {
    consumer: PushConsumer,
    errors: Arc<Mutex<Vec<ClientError>>>,
}

fn responder<F>(namesrv: &str, topic: &str, group: &str, answer: F) -> Responder
where
    F: Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
{
    let replier = Arc::new(producer(namesrv, &format!("{group}_pg")));
    let consumer = PushConsumer::builder()
        .name_server(namesrv)
        .group(group)
        .consume_from(ConsumeFrom::FirstOffset)
        .build()
        .unwrap();
    consumer.subscribe(topic, "*").unwrap();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let errs = Arc::clone(&errors);
    consumer
        .start(move |msgs, _ctx| {
            for m in msgs {
                let Some(body) = answer(&m.body) else { continue };
                let sent = create_reply(m, body).and_then(|r| replier.send_reply(&r));
                if let Err(e) = sent {
                    errs.lock().unwrap().push(e);
                }
            }
            ConsumeStatus::Success
        })
        .unwrap();
    Responder { consumer, errors }
}

/// Requests until the responder answers (it joins its group asynchronously), for up to 30 s.
fn warm_up(p: &Producer, topic: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match p.request(&Message::new(topic, "warm-up"), Duration::from_secs(2)) {
            Ok(_) => return,
            Err(ClientError::RequestTimeout { .. }) if Instant::now() < deadline => {}
            Err(e) => panic!("warm-up request failed: {e}"),
        }
    }
}

fn echo(body: &[u8]) -> Option<Vec<u8>> {
    if body == b"hold" {
        return None;
    }
    Some([b"reply:".as_slice(), body].concat())
}

#[test]
fn a_thousand_requests_each_get_their_own_reply() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let b = broker(&ns.addr, dir.path(), &[]);
    create_topic(&client(), &b.addr, "RpcEcho", 4);
    let _responder = responder(&ns.addr, "RpcEcho", "rpc_echo", echo);
    let requester = Arc::new(producer(&ns.addr, "rpc_echo_requester"));
    warm_up(&requester, "RpcEcho");

    // 4 threads of 200 sync requests, and 200 async ones.
    let correlation_ids = Arc::new(Mutex::new(HashSet::new()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (p, ids) = (Arc::clone(&requester), Arc::clone(&correlation_ids));
            std::thread::spawn(move || {
                for i in 0..200 {
                    let body = format!("sync-{t}-{i}");
                    let reply = p.request(&Message::new("RpcEcho", body.clone()), REQUEST_TIMEOUT);
                    let reply = reply.unwrap_or_else(|e| panic!("{body}: {e}"));
                    assert_eq!(reply.body, format!("reply:{body}").into_bytes());
                    assert_eq!(reply.topic, "DefaultCluster_REPLY_TOPIC");
                    let id = reply.property("CORRELATION_ID").unwrap().to_string();
                    assert!(ids.lock().unwrap().insert(id), "{body}: a correlation id came twice");
                }
            })
        })
        .collect();
    let (tx, rx) = bounded(200);
    for i in 0..200 {
        let body = format!("async-{i}");
        let tx = tx.clone();
        let expected = format!("reply:{body}").into_bytes();
        requester
            .request_async(&Message::new("RpcEcho", body), REQUEST_TIMEOUT, move |r| {
                let ok =
                    r.map(|m| (m.body == expected, m.property("CORRELATION_ID").map(String::from)));
                tx.send(ok.map_err(|e| e.to_string())).unwrap();
            })
            .unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    for _ in 0..200 {
        let (body_ok, id) = rx.recv_timeout(Duration::from_secs(30)).unwrap().unwrap();
        assert!(body_ok, "an async request got another request's reply");
        assert!(correlation_ids.lock().unwrap().insert(id.unwrap()), "a correlation id came twice");
    }
    assert_eq!(correlation_ids.lock().unwrap().len(), 1000);
}

#[test]
fn a_request_nobody_answers_times_out_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let b = broker(&ns.addr, dir.path(), &[]);
    create_topic(&client(), &b.addr, "RpcNobody", 1);
    let requester = producer(&ns.addr, "rpc_nobody_requester");
    let timeout = Duration::from_millis(300);
    match requester.request(&Message::new("RpcNobody", "anyone?"), timeout) {
        Err(ClientError::RequestTimeout { timeout: t, .. }) => assert_eq!(t, timeout),
        other => panic!("expected a request timeout, got {other:?}"),
    }
    let (tx, rx) = bounded(1);
    requester
        .request_async(&Message::new("RpcNobody", "anyone?"), timeout, move |r| {
            tx.send(r.map(|_| ())).unwrap();
        })
        .unwrap();
    match rx.recv_timeout(Duration::from_secs(10)).unwrap() {
        Err(ClientError::RequestTimeout { .. }) => {}
        other => panic!("expected an async request timeout, got {other:?}"),
    }
}

#[test]
fn a_requester_killed_mid_flight_gets_a_clear_error_and_the_broker_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let b = broker(&ns.addr, dir.path(), &[]);
    create_topic(&client(), &b.addr, "RpcHeld", 1);
    // The held responder answers only when released (the sender dropped), so the child's
    // requests stay in flight.
    let (release_tx, release_rx) = bounded::<()>(0);
    let seen = Arc::new(Mutex::new(0usize));
    let (rx_seen, rx_release) = (Arc::clone(&seen), release_rx);
    let held = responder(&ns.addr, "RpcHeld", "rpc_held", move |body| {
        if body == b"warm-up" {
            return Some(b"up".to_vec());
        }
        *rx_seen.lock().unwrap() += 1;
        // Waits for the test's release (or gives up after 30 s so a failed test cannot hang).
        let _ = rx_release.recv_timeout(Duration::from_secs(30));
        Some(b"too late".to_vec())
    });
    warm_up(&producer(&ns.addr, "rpc_held_warmup"), "RpcHeld");

    let mut child = spawn_child_requester(&ns.addr, "RpcHeld");
    let deadline = Instant::now() + Duration::from_secs(20);
    while *seen.lock().unwrap() == 0 {
        assert!(Instant::now() < deadline, "the child's requests never reached the responder");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Release every held request: each reply now has nobody to go to.
    drop(release_tx);
    let deadline = Instant::now() + Duration::from_secs(20);
    while held.errors.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the responder was never told the requester is gone");
        std::thread::sleep(Duration::from_millis(10));
    }
    for e in held.errors.lock().unwrap().iter() {
        match e {
            ClientError::Broker { code: 1, remark, .. } => {
                assert!(remark.contains("push reply message to"), "{remark}")
            }
            other => panic!("expected SYSTEM_ERROR naming the push, got {other}"),
        }
    }
    drop(held.consumer);

    // The broker still serves requests and replies.
    let _echo = responder(&ns.addr, "RpcHeld", "rpc_after_kill", echo);
    let requester = producer(&ns.addr, "rpc_after_kill_requester");
    warm_up(&requester, "RpcHeld");
    let reply = requester.request(&Message::new("RpcHeld", "still there?"), REQUEST_TIMEOUT);
    assert_eq!(reply.unwrap().body, b"reply:still there?");
}

/// The exchange as stock Java clients make it, in raw frames: a requester that heartbeats as
/// a producer and sends a plain SEND_MESSAGE_V2 with the request properties, a responder that
/// pulls it (the broker stamped CLUSTER) and answers with SEND_REPLY_MESSAGE and its V1 header.
/// The push carries ReplyMessageRequestHeader's fields, and the reply is also stored.
#[test]
fn raw_frame_reply_with_the_v1_header_is_pushed_with_java_fields_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let b = broker(&ns.addr, dir.path(), &[]);
    let responder = client();
    create_topic(&responder, &b.addr, "RpcRaw", 1);

    let requester = client();
    let (push_tx, push_rx) = bounded(4);
    requester.set_request_handler(Arc::new(move |_addr, cmd| {
        let _ = push_tx.try_send(cmd);
        Some(rocketmq::net::RemotingCommand::response(0, None))
    }));
    let client_id = "10.0.0.7@raw-requester";
    let heartbeat = format!(
        r#"{{"clientID":"{client_id}","producerDataSet":[{{"groupName":"raw_pg"}}],"consumerDataSet":[]}}"#
    );
    let hb = rocketmq::net::RemotingCommand::request(RequestCode::HeartBeat.to_i32())
        .with_body(heartbeat.into_bytes());
    assert_eq!(call(&requester, &b.addr, hb).code, 0);
    let props = [("CORRELATION_ID", "corr-1"), ("REPLY_TO_CLIENT", client_id), ("TTL", "3000")];
    assert_eq!(send_v2(&requester, &b.addr, "RpcRaw", 0, b"ping", &props).code, 0);

    let request = pull_n(&responder, &b.addr, "raw_responder", "RpcRaw", 0, 0, 1).remove(0);
    assert_eq!(request.property("CLUSTER"), Some("DefaultCluster"));
    let reply_props = [
        ("CORRELATION_ID", "corr-1"),
        ("REPLY_TO_CLIENT", client_id),
        ("TTL", "3000"),
        ("MSG_TYPE", "reply"),
    ];
    let mut reply = rocketmq::net::RemotingCommand::request(RequestCode::SendReplyMessage.to_i32())
        .with_body(b"pong".to_vec());
    reply.ext_fields = send_header("DefaultCluster_REPLY_TOPIC", 0, &reply_props).to_v1();
    let answer = call(&responder, &b.addr, reply);
    assert_eq!(answer.code, 0, "{:?}", answer.remark);

    let push = push_rx.recv_timeout(Duration::from_secs(5)).expect("no reply was pushed");
    assert_eq!(push.code, RequestCode::PushReplyMessageToClient.to_i32());
    assert_eq!(push.body, b"pong");
    let f = &push.ext_fields;
    assert_eq!(f.get("topic"), Some("DefaultCluster_REPLY_TOPIC"));
    assert_eq!(f.get("queueId"), Some("0"));
    assert_eq!(f.get("producerGroup"), Some("test_pg"));
    for key in ["bornHost", "storeHost"] {
        let host = f.get(key).unwrap_or_default();
        assert!(host.parse::<std::net::SocketAddr>().is_ok(), "{key} = {host:?}");
    }
    let pushed = rocketmq::protocol::message::parse_properties(f.get("properties").unwrap());
    assert_eq!(pushed.get("CORRELATION_ID").map(String::as_str), Some("corr-1"));
    assert!(pushed.contains_key("PUSH_REPLY_TIME"));

    let stored =
        pull_n(&responder, &b.addr, "raw_reply_reader", "DefaultCluster_REPLY_TOPIC", 0, 0, 1);
    assert_eq!(stored[0].body, b"pong");
    assert_eq!(stored[0].property("CORRELATION_ID"), Some("corr-1"));
}

/// Runs `child_requester_process` of this very test binary in a child process and waits
/// until it says its requests are sent.
fn spawn_child_requester(namesrv: &str, topic: &str) -> std::process::Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "request_reply::child_requester_process", "--ignored", "--nocapture"])
        .env(CHILD_NAMESRV, namesrv)
        .env(CHILD_TOPIC, topic)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("RPC_CHILD_SENT") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30)).expect("the child requester did not start");
    child
}

/// Not a test of its own: the requester process that
/// `a_requester_killed_mid_flight_gets_a_clear_error_and_the_broker_goes_on` starts and kills.
/// Without its environment it does nothing.
#[test]
#[ignore = "run as a child process by a_requester_killed_mid_flight_..."]
fn child_requester_process() {
    let (Ok(namesrv), Ok(topic)) = (std::env::var(CHILD_NAMESRV), std::env::var(CHILD_TOPIC))
    else {
        return;
    };
    let p = producer(&namesrv, "rpc_child_requester");
    for i in 0..CHILD_REQUESTS {
        let msg = Message::new(topic.as_str(), format!("child-{i}"));
        p.request_async(&msg, Duration::from_secs(60), |_| {}).unwrap();
    }
    println!("RPC_CHILD_SENT");
    // Stay alive, requests in flight, until the parent kills this process.
    loop {
        std::thread::park();
    }
}
