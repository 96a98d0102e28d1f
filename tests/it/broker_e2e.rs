//! End-to-end tests of the real `nameserver` and `broker` binaries (issue: nameserver and broker
//! binaries). Each test starts its own servers on free ports with temp stores.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rocketmq::net::{RemotingCommand, RequestCode, SerializeType};
use rocketmq::protocol::body::from_json;
use rocketmq::protocol::body::route::ClusterInfo;
use rocketmq::protocol::header::namesrv::GetRouteInfoRequestHeader;
use rocketmq::protocol::header::offset::{
    QueryConsumerOffsetRequestHeader, QueueRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use rocketmq::protocol::header::query::ViewMessageRequestHeader;
use rocketmq::protocol::header::send::ConsumerSendMsgBackRequestHeader;
use rocketmq::protocol::message::{encode_batch_entry, format_properties};
use support::*;

/// Sends one frame in the given header encoding over a raw socket and reads the reply.
fn raw_call(addr: &str, cmd: &RemotingCommand, ser: SerializeType) -> RemotingCommand {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(&cmd.encode_to_vec(ser)).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut frame = len.to_vec();
    frame.resize(4 + u32::from_be_bytes(len) as usize, 0);
    s.read_exact(&mut frame[4..]).unwrap();
    RemotingCommand::decode(&frame).unwrap().0
}

#[test]
fn send_10000_in_v1_v2_batch_and_both_encodings_then_pull_back_identical() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let b = broker(&ns.addr, dir.path(), &[]);
    let c = client();
    create_topic(&c, &b.addr, "E2E", 1);
    let r = wait_for("route", Duration::from_secs(10), || route(&c, &ns.addr, "E2E"));
    assert_eq!(r.broker_datas[0].master_addr(), Some(b.addr.as_str()));

    let mut expected: Vec<Vec<u8>> = Vec::new();
    let encodings = [SerializeType::Json, SerializeType::RocketMq];
    let mut i = 0usize;
    while expected.len() < 10_000 {
        let ser = encodings[i % 2];
        let body = format!("message-{i}-{}", "x".repeat(i % 97)).into_bytes();
        let props = format_properties([("TAGS", "T"), ("KEYS", &format!("k{i}")[..])]);
        let cmd = match i % 3 {
            0 => {
                let mut cmd = RemotingCommand::request(RequestCode::SendMessage.to_i32())
                    .with_body(body.clone());
                cmd.ext_fields = send_header("E2E", 0, &[("TAGS", "T")]).to_v1();
                cmd.ext_fields.insert("properties", props);
                expected.push(body);
                cmd
            }
            1 => {
                let mut cmd = RemotingCommand::request(RequestCode::SendMessageV2.to_i32())
                    .with_body(body.clone());
                cmd.ext_fields = send_header("E2E", 0, &[]).to_v2();
                cmd.ext_fields.insert("i", props);
                expected.push(body);
                cmd
            }
            _ => {
                let mut batch = Vec::new();
                for j in 0..10 {
                    let b = format!("{}-batch-{j}", String::from_utf8_lossy(&body)).into_bytes();
                    encode_batch_entry(&mut batch, 0, &b, &format_properties([("TAGS", "B")]));
                    expected.push(b);
                }
                let mut cmd = RemotingCommand::request(RequestCode::SendBatchMessage.to_i32())
                    .with_body(batch);
                cmd.ext_fields = send_header("E2E", 0, &[]).to_v2();
                cmd
            }
        };
        let resp = if i % 50 == 0 { raw_call(&b.addr, &cmd, ser) } else { call(&c, &b.addr, cmd) };
        assert_eq!(resp.code, 0, "send {i}: {:?}", resp.remark);
        for key in ["msgId", "queueId", "queueOffset", "MSG_REGION", "TRACE_ON"] {
            assert!(resp.ext_fields.get(key).is_some(), "send response lacks {key}");
        }
        i += 1;
    }
    let got = pull_n(&c, &b.addr, "cg", "E2E", 0, 0, expected.len());
    assert_eq!(got.len(), expected.len());
    for (n, (m, body)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(m.queue_offset, n as i64, "queue order");
        assert_eq!(&m.body, body, "body {n}");
        assert!(m.properties.contains_key("UNIQ_KEY"));
    }
}

/// A parked pull is answered by the arrival of a message, not by its hold expiring: the pull is
/// held for 25 s (the broker's longest hold) while the client waits only 20 s, so a pull the
/// arrival did not wake fails with a client timeout.
#[test]
fn long_poll_is_answered_by_the_arrival_of_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let b = broker(&ns.addr, dir.path(), &[]);
    let c = client();
    create_topic(&c, &b.addr, "LP", 1);
    let admin = rocketmq::client::Admin::builder().name_server(&ns.addr).build().unwrap();
    let parked = |want: &str| {
        let info = admin.broker_runtime_info(&b.addr).ok()?;
        (info.get("pullHoldCount").map(String::as_str) == Some(want)).then_some(())
    };
    for round in 0..5i64 {
        let addr = b.addr.clone();
        let puller = std::thread::spawn(move || {
            let c = client();
            let h = pull_header("cg", "LP", 0, round, 25_000);
            pull(&c, &addr, &h, Duration::from_secs(20))
        });
        wait_for("the pull to be parked", TIMEOUT, || parked("1"));
        assert_eq!(send_v2(&c, &b.addr, "LP", 0, b"wake", &[]).code, 0);
        let (code, _, msgs) = puller.join().unwrap();
        assert_eq!(code, 0);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].queue_offset, round);
        wait_for("the hold to empty", TIMEOUT, || parked("0"));
    }
}

#[test]
fn long_poll_times_out_with_pull_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let b = broker(&ns.addr, dir.path(), &[]);
    let c = client();
    create_topic(&c, &b.addr, "LPT", 1);
    let started = Instant::now();
    let (code, next, _) =
        pull(&c, &b.addr, &pull_header("cg", "LPT", 0, 0, 500), Duration::from_secs(5));
    assert_eq!((code, next), (19, 0));
    assert!(started.elapsed() >= Duration::from_millis(400), "held only {:?}", started.elapsed());
}

fn commit_offset(c: &rocketmq::net::RemotingClient, b: &str, offset: i64) {
    let h = UpdateConsumerOffsetRequestHeader {
        consumer_group: "cg".into(),
        topic: "DUR".into(),
        queue_id: 0,
        commit_offset: offset,
    };
    let r = call(
        c,
        b,
        RemotingCommand::request(RequestCode::UpdateConsumerOffset.to_i32()).with_header(&h),
    );
    assert_eq!(r.code, 0);
}

fn query_offset(c: &rocketmq::net::RemotingClient, b: &str) -> i64 {
    let h = QueryConsumerOffsetRequestHeader {
        consumer_group: "cg".into(),
        topic: "DUR".into(),
        queue_id: 0,
        set_zero_if_not_found: Some(false),
    };
    let r = call(
        c,
        b,
        RemotingCommand::request(RequestCode::QueryConsumerOffset.to_i32()).with_header(&h),
    );
    assert_eq!(r.code, 0, "{:?}", r.remark);
    r.ext_fields.get("offset").unwrap().parse().unwrap()
}

#[test]
fn offsets_and_messages_survive_restart_and_kill9() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let port = free_port();
    let extra = ["-offsetFlushMs", "100"];
    let mut b = broker_on(port, &ns.addr, dir.path(), "broker-a", &extra);
    let c = client();
    create_topic(&c, &b.addr, "DUR", 1);
    for i in 0..100 {
        assert_eq!(send_v2(&c, &b.addr, "DUR", 0, format!("m{i}").as_bytes(), &[]).code, 0);
    }
    commit_offset(&c, &b.addr, 40);
    assert!(b.terminate().success(), "clean shutdown exits 0");
    assert!(!dir.path().join("abort").exists(), "clean shutdown removes the abort file");

    let mut b = broker_on(port, &ns.addr, dir.path(), "broker-a", &extra);
    let c = client();
    assert_eq!(query_offset(&c, &b.addr), 40);
    assert_eq!(pull_n(&c, &b.addr, "cg", "DUR", 0, 0, 100).len(), 100);
    for i in 100..150 {
        assert_eq!(send_v2(&c, &b.addr, "DUR", 0, format!("m{i}").as_bytes(), &[]).code, 0);
    }
    commit_offset(&c, &b.addr, 120);
    // The offset table is written by the housekeeping thread; kill -9 once it is on disk.
    let offsets_file = dir.path().join("config").join("consumerOffset.json");
    wait_for("offset 120 on disk", TIMEOUT, || {
        std::fs::read_to_string(&offsets_file).ok().filter(|t| t.contains("120")).map(|_| ())
    });
    b.kill9();

    let b = broker_on(port, &ns.addr, dir.path(), "broker-a", &extra);
    let c = client();
    assert_eq!(query_offset(&c, &b.addr), 120);
    let msgs = pull_n(&c, &b.addr, "cg", "DUR", 0, 0, 150);
    assert_eq!(msgs.len(), 150);
    assert_eq!(msgs[149].body, b"m149");
}

#[test]
fn nameserver_drops_a_killed_broker_and_lists_two_brokers() {
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let b1 = broker_on(free_port(), &ns.addr, d1.path(), "broker-a", &[]);
    let mut b2 = broker_on(free_port(), &ns.addr, d2.path(), "broker-b", &[]);
    let c = client();
    create_topic(&c, &b1.addr, "TWO", 2);
    create_topic(&c, &b2.addr, "TWO", 2);
    let r = wait_for("two brokers in the route", Duration::from_secs(10), || {
        route(&c, &ns.addr, "TWO").filter(|r| r.broker_datas.len() == 2)
    });
    assert_eq!(r.queue_datas.len(), 2);
    let info: ClusterInfo = from_json(
        &call(&c, &ns.addr, RemotingCommand::request(RequestCode::GetBrokerClusterInfo.to_i32()))
            .body,
    )
    .unwrap();
    assert_eq!(info.cluster_addr_table["DefaultCluster"].len(), 2);

    b2.kill9();
    let r = wait_for("killed broker dropped", Duration::from_secs(10), || {
        route(&c, &ns.addr, "TWO").filter(|r| r.broker_datas.len() == 1)
    });
    assert_eq!(r.broker_datas[0].broker_name, "broker-a");
}

/// A second broker started with a live broker's name and id refuses to start, naming the live
/// one, instead of taking its route over (issue #21); the first keeps its route.
#[test]
fn a_second_broker_with_a_live_brokers_name_refuses_to_start() {
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let b1 = broker_on(free_port(), &ns.addr, d1.path(), "broker-a", &[]);
    let c = client();
    create_topic(&c, &b1.addr, "OWNED", 1);
    wait_for("the first broker's route", Duration::from_secs(10), || route(&c, &ns.addr, "OWNED"));
    let port = free_port().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_broker"))
        .env("RMQ_LOG_DIR", "-")
        .args(["-port", &port, "-ip", "127.0.0.1", "-bind", "127.0.0.1", "-nameserver", &ns.addr])
        .args(["-store", d2.path().to_str().unwrap(), "-name", "broker-a"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the second broker started: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broker name taken") && stderr.contains(&b1.addr), "{stderr}");
    let r = route(&c, &ns.addr, "OWNED").expect("the first broker's route");
    assert_eq!(r.broker_datas[0].master_addr(), Some(b1.addr.as_str()));
}

#[test]
fn unknown_topic_without_auto_create_is_topic_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let b = broker(&ns.addr, dir.path(), &["-autoCreateTopic", "false"]);
    let c = client();
    let r = send_v2(&c, &b.addr, "Nope", -1, b"x", &[]);
    assert_eq!(r.code, 17);
    assert!(r.remark.unwrap().contains("Nope"));
    let h = GetRouteInfoRequestHeader { topic: "Nope".into(), accept_standard_json_only: None };
    let r = call(
        &c,
        &ns.addr,
        RemotingCommand::request(RequestCode::GetRouteInfoByTopic.to_i32()).with_header(&h),
    );
    assert_eq!(r.code, 17);
    assert!(r.remark.unwrap().contains("Nope"));
}

#[test]
fn oversize_body_is_message_illegal_with_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let store = dir.path().join("store");
    let b =
        broker_with(free_port(), &ns.addr, &store, "broker-a", "max_message_size_bytes: 1024", &[]);
    let c = client();
    create_topic(&c, &b.addr, "BIG", 1);
    let r = send_v2(&c, &b.addr, "BIG", 0, &vec![7u8; 2048], &[]);
    assert_eq!(r.code, 13);
    assert!(r.remark.unwrap().contains("1024"));
}

#[test]
fn delayed_messages_wait_for_their_level() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let store = dir.path().join("store");
    let conf = "message_delay_level: \"1s 2s 3s\"";
    let b = broker_with(free_port(), &ns.addr, &store, "broker-a", conf, &[]);
    let c = client();
    create_topic(&c, &b.addr, "DLY", 2);
    for (queue, level, delay_ms) in [(0, "1", 1000u128), (1, "2", 2000)] {
        let sent = Instant::now();
        assert_eq!(send_v2(&c, &b.addr, "DLY", queue, b"later", &[("DELAY", level)]).code, 0);
        let seen = loop {
            let (code, _, msgs) =
                pull(&c, &b.addr, &pull_header("cg", "DLY", queue, 0, 0), TIMEOUT);
            if code == 0 {
                assert_eq!(msgs[0].body, b"later");
                assert!(!msgs[0].properties.contains_key("DELAY"));
                break sent.elapsed();
            }
            assert!(sent.elapsed() < Duration::from_secs(10), "never delivered");
            std::thread::sleep(Duration::from_millis(5));
        };
        println!("level {level}: delivered after {seen:?}");
        // Never before its delay, by the broker's own clocks: the real message is stored when
        // due. (How late it may come is a benchmark's question, not this test's.)
        let msg = &pull(&c, &b.addr, &pull_header("cg", "DLY", queue, 0, 0), TIMEOUT).2[0];
        let waited_ms = msg.store_timestamp - msg.born_timestamp;
        assert!(waited_ms >= delay_ms as i64 - 20, "level {level} stored after {waited_ms} ms");
    }
}

#[test]
fn sent_back_17_times_lands_in_the_dlq_intact() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let levels = vec!["50ms"; 18].join(" ");
    let conf = format!("message_delay_level: \"{levels}\"");
    let store = dir.path().join("store");
    let b = broker_with(free_port(), &ns.addr, &store, "broker-a", &conf, &[]);
    let c = client();
    create_topic(&c, &b.addr, "RT", 1);
    let props = [("TAGS", "tagA"), ("KEYS", "key1"), ("color", "blue")];
    assert_eq!(send_v2(&c, &b.addr, "RT", 0, b"payload", &props).code, 0);
    let mut msg = pull_n(&c, &b.addr, "cg", "RT", 0, 0, 1).remove(0);
    let mut retry_offset = 0;
    for round in 0..17 {
        let h = ConsumerSendMsgBackRequestHeader {
            offset: msg.commit_log_offset,
            group: "cg".into(),
            delay_level: 0,
            origin_msg_id: Some(msg.msg_id().to_string()),
            origin_topic: Some("RT".into()),
            unit_mode: Some(false),
            max_reconsume_times: None,
        };
        let r = call(
            &c,
            &b.addr,
            RemotingCommand::request(RequestCode::ConsumerSendMsgBack.to_i32()).with_header(&h),
        );
        assert_eq!(r.code, 0, "send back {round}: {:?}", r.remark);
        if round == 16 {
            break;
        }
        msg = wait_for("retry delivery", Duration::from_secs(10), || {
            let got = pull_all(&c, &b.addr, "cg", "%RETRY%cg", 0, retry_offset);
            got.into_iter().next()
        });
        retry_offset = msg.queue_offset + 1;
        assert_eq!(msg.reconsume_times, round + 1);
    }
    let dlq = wait_for("dead letter", Duration::from_secs(10), || {
        let topic_exists = call(&c, &b.addr, {
            let h =
                rocketmq::protocol::header::admin::TopicRequestHeader { topic: "%DLQ%cg".into() };
            RemotingCommand::request(RequestCode::GetTopicStatsInfo.to_i32()).with_header(&h)
        });
        if topic_exists.code != 0 {
            return None;
        }
        pull_all(&c, &b.addr, "cg", "%DLQ%cg", 0, 0).into_iter().next()
    });
    assert_eq!(dlq.body, b"payload");
    assert_eq!(dlq.reconsume_times, 17);
    for (k, v) in props {
        assert_eq!(dlq.properties.get(k).map(String::as_str), Some(v), "property {k}");
    }
    assert_eq!(dlq.properties.get("RETRY_TOPIC").map(String::as_str), Some("RT"));
}

#[test]
fn malformed_frames_do_not_disturb_other_clients() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let b = broker(&ns.addr, dir.path(), &[]);
    let c = client();
    create_topic(&c, &b.addr, "MAL", 1);
    let garbage: [&[u8]; 5] = [
        &[0xFF, 0xFF, 0xFF, 0xFF],
        &[0x7F, 0, 0, 0, 0, 0, 0, 1],
        &[0, 0, 0, 8, 0x05, 0, 0, 2, b'{', b'}'],
        &[0, 0, 0, 12, 0, 0, 0, 8, b'{', b'x', b'x', b'x', b'}', 0, 0, 0],
        &[0, 0, 0, 6, 0, 0, 0x10, 0, b'{', b'}'],
    ];
    for server in [&ns.addr, &b.addr] {
        for g in garbage {
            let mut s = TcpStream::connect(server.as_str()).unwrap();
            s.write_all(g).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf);
        }
    }
    assert_eq!(send_v2(&c, &b.addr, "MAL", 0, b"still fine", &[]).code, 0);
    assert!(route(&c, &ns.addr, "MAL").is_some() || route(&c, &ns.addr, "TBW102").is_some());
    let unknown = call(&c, &b.addr, RemotingCommand::request(9999));
    assert_eq!(unknown.code, 3);
    assert!(unknown.remark.unwrap().contains("9999"));
}

#[test]
fn sync_flush_pipelined_sends_are_acknowledged_and_survive_kill9() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let port = free_port();
    let mut b = broker_on(port, &ns.addr, dir.path(), "broker-a", &["-flush", "sync"]);
    let c = std::sync::Arc::new(client());
    create_topic(&c, &b.addr, "SF", 1);
    let (tx, rx) = std::sync::mpsc::channel();
    let total = 2_000;
    for i in 0..total {
        let mut cmd = RemotingCommand::request(RequestCode::SendMessageV2.to_i32())
            .with_body(format!("sync-{i}").into_bytes());
        cmd.ext_fields = send_header("SF", 0, &[]).to_v2();
        let tx = tx.clone();
        c.invoke_async(
            &b.addr,
            cmd,
            Duration::from_secs(10),
            Box::new(move |r| {
                let _ = tx.send(r.map(|r| r.code));
            }),
        )
        .unwrap();
        if i % 64 == 63 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let codes: Vec<i32> = (0..total).map(|_| rx.recv().unwrap().expect("send")).collect();
    assert!(codes.iter().all(|c| *c == 0), "every sync-flush send acknowledged: {codes:?}");
    b.kill9();
    let b = broker_on(port, &ns.addr, dir.path(), "broker-a", &["-flush", "sync"]);
    let c = client();
    let msgs = pull_n(&c, &b.addr, "cg", "SF", 0, 0, total);
    assert_eq!(msgs.len(), total);
}

/// Asserts INVALID_PARAMETER (29) whose remark names `field` as `field[value]`.
fn assert_invalid_field(r: &RemotingCommand, field: &str, what: &str) {
    assert_eq!(r.code, 29, "{what}: {:?}", r.remark);
    let remark = r.remark.as_deref().unwrap_or_default();
    assert!(remark.contains(&format!("{field}[")), "{what}: remark {remark:?} names {field}");
}

/// Issue #12: wire numbers are converted once at the edge; a negative value where a real
/// queue or offset is needed is INVALID_PARAMETER naming the field, never an answer about
/// queue 0 or offset 0. queueId -1 on a send stays legal ("broker picks").
#[test]
fn issue_12_negative_wire_numbers_are_invalid_parameter_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let b = broker(&ns.addr, dir.path(), &[]);
    let c = client();
    create_topic(&c, &b.addr, "NEG", 2);

    let sent = send_v2(&c, &b.addr, "NEG", -1, b"any queue", &[]);
    assert_eq!(sent.code, 0, "queueId -1 on SEND means the broker picks: {:?}", sent.remark);
    let queue: i32 = sent.ext_fields.get("queueId").unwrap().parse().unwrap();
    assert!((0..2).contains(&queue), "picked queue {queue}");

    let pull = |h: &rocketmq::protocol::header::pull::PullMessageRequestHeader| {
        let cmd = RemotingCommand::request(RequestCode::PullMessage.to_i32()).with_header(h);
        call(&c, &b.addr, cmd)
    };
    assert_invalid_field(&pull(&pull_header("cg", "NEG", 0, -1, 0)), "queueOffset", "pull");
    assert_invalid_field(&pull(&pull_header("cg", "NEG", -1, 0, 0)), "queueId", "pull");

    let back = ConsumerSendMsgBackRequestHeader {
        offset: -1,
        group: "cg".into(),
        delay_level: 0,
        origin_msg_id: None,
        origin_topic: Some("NEG".into()),
        unit_mode: Some(false),
        max_reconsume_times: None,
    };
    let cmd =
        RemotingCommand::request(RequestCode::ConsumerSendMsgBack.to_i32()).with_header(&back);
    assert_invalid_field(&call(&c, &b.addr, cmd), "offset", "send back");

    let view = ViewMessageRequestHeader { offset: -1, topic: None };
    let cmd = RemotingCommand::request(RequestCode::ViewMessageById.to_i32()).with_header(&view);
    assert_invalid_field(&call(&c, &b.addr, cmd), "offset", "view by id");

    let max = QueueRequestHeader { topic: "NEG".into(), queue_id: -1, committed: Some(true) };
    let cmd = RemotingCommand::request(RequestCode::GetMaxOffset.to_i32()).with_header(&max);
    assert_invalid_field(&call(&c, &b.addr, cmd), "queueId", "max offset");

    let query = QueryConsumerOffsetRequestHeader {
        consumer_group: "cg".into(),
        topic: "NEG".into(),
        queue_id: -1,
        set_zero_if_not_found: None,
    };
    let cmd =
        RemotingCommand::request(RequestCode::QueryConsumerOffset.to_i32()).with_header(&query);
    assert_invalid_field(&call(&c, &b.addr, cmd), "queueId", "query offset");

    // The valid form still answers normally (pull_n waits for dispatch with a deadline).
    let msgs = pull_n(&c, &b.addr, "cg", "NEG", queue, 0, 1);
    assert_eq!(msgs[0].body, b"any queue");
}
