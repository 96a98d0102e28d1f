//! Stock clients' JSON bodies (issue #13): golden HEART_BEAT bodies as the Java, Go, C++ and
//! Node clients send them decode to the same heartbeat, and a raw-frame consumer that registers
//! with the C++ and Go forms (enum ordinals, `subVersion` as a string, `codeSet` as strings)
//! receives exactly its tag-filtered messages from a real broker.

use std::time::{Duration, Instant};

use rocketmq::net::{RemotingCommand, RequestCode};
use rocketmq::protocol::body::admin::ConsumerIdList;
use rocketmq::protocol::body::from_json;
use rocketmq::protocol::body::heartbeat::HeartbeatData;
use rocketmq::protocol::header::pull::{sys_flag, PullMessageRequestHeader};
use rocketmq::protocol::message::MessageExt;

use crate::support::{broker, call, client, create_topic, nameserver, pull, send_v2, TIMEOUT};

/// Java 4.9/5.x (fastjson; PROTOCOL.md §5.5): enums by name, numbers as numbers.
const JAVA: &str = r#"{"clientID":"10.0.0.1@12345","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"cg","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000001,"tagsSet":[],"topic":"%RETRY%cg"},{"classFilterMode":false,"codeSet":[2598919,2598920],"expressionType":"TAG","subString":"TagA || TagB","subVersion":1700000000000,"tagsSet":["TagA","TagB"],"topic":"TopicTest"}],"unitMode":false}],"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}],"withoutSub":false}"#;

/// rocketmq-client-go v2 (`internal/model.go`): `utils.Set` writes every code as a JSON string,
/// and there are no 5.x fields.
const GO: &str = r#"{"clientID":"10.0.0.1@12345","producerDataSet":[],"consumerDataSet":[{"groupName":"cg","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","subscriptionDataSet":[{"classFilterMode":false,"topic":"TopicTest","subString":"TagA || TagB","tagsSet":["TagA","TagB"],"codeSet":["2598919","2598920"],"subVersion":0,"expressionType":"TAG"}],"unitMode":false}]}"#;

/// The C++ client 2.x (librocketmq bundled in PyPI `rocketmq` 0.4.4), captured from the wire:
/// enums as ordinals, `subVersion` as a string, no `classFilterMode`/`expressionType`, and a
/// `codeSet` of zeros (its pulls carry the expression, so the broker rebuilds the codes).
const CPP: &str = r#"{"clientID":"4856-127.0.0.1@DEFAULT","consumerDataSet":[{"consumeFromWhere":0,"consumeType":1,"groupName":"cg","messageModel":1,"subscriptionDataSet":[{"subString":"*","subVersion":"1796360030535","topic":"%RETRY%cg"},{"codeSet":[0,0],"subString":"TagA || TagB","subVersion":"1796360030535","tagsSet":["TagA","TagB"],"topic":"TopicTest"}]}]}"#;

/// ali-ons 3.12 (`lib/mq_client.js`, `buildSubscriptionData`): names, no `unitMode` or
/// `expressionType` for TAG subscriptions.
const NODE: &str = r#"{"clientID":"10.0.0.1@12345","consumerDataSet":[{"groupName":"cg","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","subscriptionDataSet":[{"topic":"TopicTest","subString":"TagA || TagB","classFilterMode":false,"tagsSet":["TagA","TagB"],"codeSet":[2598919,2598920],"subVersion":1700000000000}]}],"producerDataSet":[]}"#;

/// What every client's heartbeat says about group `cg`, whatever its spelling.
fn assert_cg_consumer(client: &str, body: &str, from_where: &str) -> HeartbeatData {
    let h: HeartbeatData =
        from_json(body.as_bytes()).unwrap_or_else(|e| panic!("{client} heartbeat: {e}"));
    let c = &h.consumer_data_set[0];
    assert_eq!(c.group_name, "cg", "{client}");
    assert_eq!(c.consume_from_where, from_where, "{client}");
    assert_eq!(c.consume_type, "CONSUME_PASSIVELY", "{client}");
    assert_eq!(c.message_model, "CLUSTERING", "{client}");
    let sub = c.subscription_data_set.iter().find(|s| s.topic == "TopicTest").unwrap();
    assert_eq!(sub.sub_string, "TagA || TagB", "{client}");
    assert_eq!(sub.tags_set, ["TagA", "TagB"], "{client}");
    assert!(!sub.is_sql92(), "{client}");
    h
}

#[test]
fn java_heartbeat_decodes() {
    let h = assert_cg_consumer("java", JAVA, "CONSUME_FROM_FIRST_OFFSET");
    let sub = &h.consumer_data_set[0].subscription_data_set[1];
    assert_eq!(sub.code_set, [2598919, 2598920]);
    assert_eq!(sub.sub_version, 1_700_000_000_000);
    assert_eq!(h.producer_data_set[0].group_name, "CLIENT_INNER_PRODUCER");
    assert_eq!(h.without_sub, Some(false));
}

#[test]
fn go_heartbeat_with_string_codes_decodes() {
    let h = assert_cg_consumer("go", GO, "CONSUME_FROM_FIRST_OFFSET");
    let sub = &h.consumer_data_set[0].subscription_data_set[0];
    assert_eq!(sub.code_set, [2598919, 2598920]);
    assert!(sub.matches_tag_code(2598919));
    assert_eq!(h.heartbeat_fingerprint, None);
}

#[test]
fn cpp_heartbeat_with_ordinals_and_string_version_decodes() {
    let h = assert_cg_consumer("cpp", CPP, "CONSUME_FROM_LAST_OFFSET");
    let subs = &h.consumer_data_set[0].subscription_data_set;
    assert_eq!(subs[0].topic, "%RETRY%cg");
    assert!(subs[0].is_all());
    assert_eq!(subs[1].sub_version, 1_796_360_030_535);
    assert!(!subs[1].class_filter_mode);
    assert_eq!(subs[1].expression_type, None);
}

#[test]
fn node_heartbeat_decodes() {
    let h = assert_cg_consumer("node", NODE, "CONSUME_FROM_FIRST_OFFSET");
    assert_eq!(h.consumer_data_set[0].subscription_data_set[0].code_set, [2598919, 2598920]);
    assert!(!h.consumer_data_set[0].unit_mode);
}

/// A C++-shaped heartbeat with Go's string codes and our own group, topic and client id.
fn mixed_stock_heartbeat(client_id: &str, group: &str, topic: &str) -> Vec<u8> {
    format!(
        r#"{{"clientID":"{client_id}","consumerDataSet":[{{"consumeFromWhere":4,"consumeType":"1","groupName":"{group}","messageModel":1,"unitMode":"false","subscriptionDataSet":[{{"subString":"TagA || TagB","subVersion":"1700000000000","tagsSet":["TagA","TagB"],"codeSet":["2598919","2598920"],"classFilterMode":0,"expressionType":null,"topic":"{topic}"}}]}}],"producerDataSet":null}}"#
    )
    .into_bytes()
}

/// A long poll that carries no subscription, so the broker filters with the heartbeat's.
fn pull_with_heartbeat_subscription(
    group: &str,
    topic: &str,
    offset: i64,
) -> PullMessageRequestHeader {
    PullMessageRequestHeader {
        consumer_group: group.into(),
        topic: topic.into(),
        queue_id: 0,
        queue_offset: offset,
        max_msg_nums: 32,
        sys_flag: sys_flag::SUSPEND,
        commit_offset: 0,
        suspend_timeout_millis: 1000,
        subscription: None,
        sub_version: 0,
        expression_type: None,
        max_msg_bytes: None,
    }
}

#[test]
fn raw_consumer_with_ordinal_and_string_forms_gets_its_tags() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let b = broker(&ns.addr, dir.path(), &[]);
    let c = client();
    let (topic, group, client_id) = ("StockForms", "stock_forms_cg", "10.0.0.9@stock");
    create_topic(&c, &b.addr, topic, 1);
    let tags = ["TagA", "TagB", "TagC"];
    for i in 0..30 {
        let body = format!("m{i}");
        let r = send_v2(&c, &b.addr, topic, 0, body.as_bytes(), &[("TAGS", tags[i % 3])]);
        assert_eq!(r.code, 0, "send {i}: {:?}", r.remark);
    }

    let hb = RemotingCommand::request(RequestCode::HeartBeat.to_i32())
        .with_body(mixed_stock_heartbeat(client_id, group, topic));
    let r = call(&c, &b.addr, hb);
    assert_eq!(r.code, 0, "heartbeat refused: {:?}", r.remark);

    let mut ids = RemotingCommand::request(RequestCode::GetConsumerListByGroup.to_i32());
    ids.ext_fields.insert("consumerGroup", group);
    let r = call(&c, &b.addr, ids);
    assert_eq!(r.code, 0, "consumer list: {:?}", r.remark);
    let list: ConsumerIdList = from_json(&r.body).unwrap();
    assert_eq!(list.consumer_id_list, [client_id]);

    let got = pull_until(&c, &b.addr, group, topic, 20);
    let bodies: Vec<String> =
        got.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()).collect();
    let expected: Vec<String> = (0..30).filter(|i| i % 3 != 2).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, expected);
    assert!(got.iter().all(|m| m.tags().is_some_and(|t| t != "TagC")));
}

/// Long-polls with the heartbeat's subscription until `n` messages came (dispatch runs
/// slightly behind acknowledged sends), failing after 10 s.
fn pull_until(
    c: &rocketmq::net::RemotingClient,
    broker: &str,
    group: &str,
    topic: &str,
    n: usize,
) -> Vec<MessageExt> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut out, mut offset) = (Vec::new(), 0);
    while out.len() < n {
        assert!(Instant::now() < deadline, "only {} of {n} messages arrived", out.len());
        let h = pull_with_heartbeat_subscription(group, topic, offset);
        let (code, next, msgs) = pull(c, broker, &h, TIMEOUT);
        match code {
            0 | 20 => offset = next,
            // A long poll that found nothing within its suspend time.
            19 => {}
            other => panic!("pull returned code {other}"),
        }
        out.extend(msgs);
    }
    out
}
