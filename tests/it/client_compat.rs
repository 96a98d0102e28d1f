//! Wire compatibility of `rocketmq::client` with a stock (Java) cluster, checked against a fake
//! server that answers like an old 4.x nameserver and broker: fastjson route bodies with bare
//! numeric keys and the pre-4.9 `topicSynFlag` spelling. It also checks that our requests look
//! like the Java client's (JSON header with `language: JAVA` and `serializeTypeCurrentRPC`,
//! string-valued ext fields, V2 send header, `WAIT=true` and a `UNIQ_KEY` property).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rocketmq::client::{Message, Producer, SendStatus};
use rocketmq::net::{RemotingCommand, RequestCode, SerializeType};
use rocketmq::protocol::message::parse_properties;

/// A request as it arrived: the raw JSON header text and the decoded command.
type Seen = Arc<Mutex<Vec<(String, RemotingCommand)>>>;

fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).ok()?;
    let mut frame = len.to_vec();
    frame.resize(4 + usize::try_from(u32::from_be_bytes(len)).ok()?, 0);
    stream.read_exact(&mut frame[4..]).ok()?;
    Some(frame)
}

/// Answers like a 4.x nameserver and broker in one process.
fn answer(req: &RemotingCommand, port: u16) -> RemotingCommand {
    let ok = |body: Vec<u8>| RemotingCommand::response(0, None).with_body(body);
    match RequestCode::from_i32(req.code) {
        RequestCode::GetRouteInfoByTopic => ok(format!(
            r#"{{"brokerDatas":[{{"brokerAddrs":{{0:"127.0.0.1:{port}"}},"brokerName":"broker-a","cluster":"DefaultCluster"}}],"filterServerTable":{{}},"queueDatas":[{{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSynFlag":0,"writeQueueNums":4}}]}}"#
        )
        .into_bytes()),
        RequestCode::SendMessageV2 => ok(Vec::new())
            .with_ext("msgId", "7F0000010000271F0000000000000000")
            .with_ext("queueId", req.ext_fields.get("e").unwrap_or("0"))
            .with_ext("queueOffset", "41")
            .with_ext("MSG_REGION", "DefaultRegion")
            .with_ext("TRACE_ON", "true"),
        _ => ok(Vec::new()),
    }
}

fn serve(listener: TcpListener, seen: Seen) {
    let port = listener.local_addr().unwrap().port();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { return };
        let seen = Arc::clone(&seen);
        std::thread::spawn(move || {
            while let Some(frame) = read_frame(&mut stream) {
                let header_len = usize::try_from(
                    u32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]) & 0xFF_FFFF,
                )
                .unwrap();
                let header = String::from_utf8_lossy(&frame[8..8 + header_len]).into_owned();
                let (req, _) = RemotingCommand::decode(&frame).unwrap();
                let mut resp = answer(&req, port);
                resp.opaque = req.opaque;
                seen.lock().unwrap().push((header, req.clone()));
                if req.is_oneway() {
                    continue;
                }
                if stream.write_all(&resp.encode_to_vec(SerializeType::Json)).is_err() {
                    return;
                }
            }
        });
    }
}

#[test]
fn producer_speaks_java_to_an_old_style_cluster() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen: Seen = Arc::default();
    let server_seen = Arc::clone(&seen);
    std::thread::spawn(move || serve(listener, server_seen));

    let producer = Producer::builder()
        .name_server(&addr)
        .group("compat_pg")
        .send_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let queues = producer.fetch_publish_queues("CompatTopic").unwrap();
    assert_eq!(queues.len(), 4, "bare numeric brokerAddrs keys parse");
    let msg = Message::new("CompatTopic", "hi").with_tags("TagA").with_keys(["k1", "k2"]);
    let r = producer.send(&msg).unwrap();
    assert_eq!(r.status, SendStatus::SendOk);
    assert_eq!(
        (r.queue_offset, r.offset_msg_id.as_str()),
        (41, "7F0000010000271F0000000000000000")
    );
    assert_eq!(r.msg_id.len(), 32);
    assert_eq!(r.region_id.as_deref(), Some("DefaultRegion"));
    producer.shutdown();

    let seen = seen.lock().unwrap();
    let (header, send) = seen
        .iter()
        .find(|(_, c)| c.code == RequestCode::SendMessageV2.to_i32())
        .expect("a SEND_MESSAGE_V2 request");
    for needle in [r#""language":"JAVA""#, r#""serializeTypeCurrentRPC":"JSON""#, r#""code":310"#] {
        assert!(header.contains(needle), "{needle} missing from {header}");
    }
    assert!(
        !header.contains(":true") && !header.contains(":false"),
        "ext values are strings: {header}"
    );
    let ext = &send.ext_fields;
    assert_eq!(ext.get("a"), Some("compat_pg"));
    assert_eq!(ext.get("b"), Some("CompatTopic"));
    assert_eq!(ext.get("c"), Some("TBW102"));
    assert_eq!(ext.get("d"), Some("4"));
    assert_eq!(ext.get("f"), Some("0"), "never compressed");
    assert_eq!(ext.get("m"), Some("false"));
    assert_eq!(ext.get("n"), Some("broker-a"));
    let props = parse_properties(ext.get("i").unwrap());
    assert_eq!(props.get("WAIT").map(String::as_str), Some("true"));
    assert_eq!(props.get("TAGS").map(String::as_str), Some("TagA"));
    assert_eq!(props.get("KEYS").map(String::as_str), Some("k1 k2"));
    assert_eq!(props.get("UNIQ_KEY"), Some(&r.msg_id));
    assert_eq!(send.body, b"hi");

    let (_, route_req) = seen.iter().find(|(_, c)| c.code == 105).expect("a route request");
    assert_eq!(route_req.ext_fields.get("topic"), Some("CompatTopic"));
    let unregister = seen.iter().find(|(_, c)| c.code == RequestCode::UnregisterClient.to_i32());
    let (_, unregister) = unregister.expect("shutdown unregisters");
    assert_eq!(unregister.ext_fields.get("producerGroup"), Some("compat_pg"));
    assert!(unregister.ext_fields.get("clientID").is_some_and(|id| id.contains('@')));
}

#[test]
fn a_dead_nameserver_in_the_list_is_skipped() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen: Seen = Arc::default();
    let server_seen = Arc::clone(&seen);
    std::thread::spawn(move || serve(listener, server_seen));
    let dead = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let producer =
        Producer::builder().name_server(&format!("{dead};{addr}")).group("pg").build().unwrap();
    assert_eq!(producer.fetch_publish_queues("CompatTopic").unwrap().len(), 4);
    assert!(producer.send(&Message::new("CompatTopic", "x")).is_ok());
}
