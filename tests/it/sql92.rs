//! SQL92 property filters end to end (issue #16, broker side) against the real binaries:
//! 20 messages with properties a=1..20 and b in {x, y}, pulled raw with a SQL92 subscription
//! sent with the pull (the subscription flag) and with one registered by heartbeat;
//! CHECK_CLIENT_CONFIG answers; the subscription and filter-data codes.

use crate::support;

use std::collections::BTreeSet;

use rocketmq::net::{RemotingClient, RemotingCommand, RequestCode};
use rocketmq::protocol::body::heartbeat::{
    CheckClientRequestBody, ConsumerData, HeartbeatData, SubscriptionData,
};
use rocketmq::protocol::body::to_json;
use rocketmq::protocol::header::pull::PullMessageRequestHeader;
use support::*;

const TOPIC: &str = "SqlTopic";

/// Sends the 20 messages, a=1..20, b=x for odd a and y for even, tag TagA for a <= 5.
fn send_twenty(c: &RemotingClient, broker: &str) {
    create_topic(c, broker, TOPIC, 1);
    for a in 1..=20 {
        let a_text = a.to_string();
        let b = if a % 2 == 1 { "x" } else { "y" };
        let tag = if a <= 5 { "TagA" } else { "TagB" };
        let r = send_v2(c, broker, TOPIC, 0, b"body", &[("a", &a_text), ("b", b), ("TAGS", tag)]);
        assert_eq!(r.code, 0, "send a={a}: {:?}", r.remark);
    }
}

fn sql_header(group: &str, sql: &str) -> PullMessageRequestHeader {
    let mut h = pull_header(group, TOPIC, 0, 0, 0);
    h.subscription = Some(sql.into());
    h.expression_type = Some("SQL92".into());
    h
}

/// Pulls the whole queue with `h` (from offset 0), following NO_MATCHED_MESSAGE retries, and
/// returns the `a` values received, waiting for dispatch of all 20 first.
fn pulled_a(c: &RemotingClient, broker: &str, h: &PullMessageRequestHeader) -> BTreeSet<i64> {
    let _ = pull_n(c, broker, "all_reader", TOPIC, 0, 0, 20);
    let mut got = BTreeSet::new();
    let mut h = h.clone();
    loop {
        let (code, next, msgs) = pull(c, broker, &h, TIMEOUT);
        match code {
            0 | 20 => {
                for m in msgs {
                    got.insert(m.property("a").and_then(|a| a.parse().ok()).expect("a"));
                }
                assert!(next > h.queue_offset, "a pull moves on");
                h.queue_offset = next;
            }
            19 => return got,
            other => panic!("pull returned code {other}"),
        }
    }
}

/// One pull that is expected to fail: its code and remark (error answers carry no header).
fn pull_code(c: &RemotingClient, broker: &str, h: &PullMessageRequestHeader) -> (i32, String) {
    let r =
        call(c, broker, RemotingCommand::request(RequestCode::PullMessage.to_i32()).with_header(h));
    (r.code, r.remark.unwrap_or_default())
}

fn set(values: impl IntoIterator<Item = i64>) -> BTreeSet<i64> {
    values.into_iter().collect()
}

#[test]
fn sql92_subscriptions_sent_with_the_pull_receive_exactly_their_messages() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let b = broker(&ns.addr, dir.path(), &[]);
    let c = client();
    send_twenty(&c, &b.addr);
    let cases: [(&str, BTreeSet<i64>); 6] = [
        ("a > 15", set(16..=20)),
        ("a BETWEEN 3 AND 5 AND b = 'x'", set([3, 5])),
        ("b IN ('y')", set((2..=20).step_by(2))),
        ("c IS NULL", set(1..=20)),
        ("TAGS = 'TagA'", set(1..=5)),
        ("c = 1 OR a < 0", set([])),
    ];
    for (sql, want) in cases {
        // A small batch size makes the selective filters cross several pulls.
        let mut h = sql_header("sql_cg", sql);
        h.max_msg_nums = 4;
        assert_eq!(pulled_a(&c, &b.addr, &h), want, "{sql}");
    }

    let (code, remark) = pull_code(&c, &b.addr, &sql_header("sql_cg", "a >"));
    assert_eq!(code, 23, "a bad expression with the pull is SUBSCRIPTION_PARSE_FAILED: {remark}");
}

fn heartbeat(c: &RemotingClient, broker: &str, group: &str, sql: &str, sub_version: i64) {
    let sub = SubscriptionData {
        topic: TOPIC.into(),
        sub_string: sql.into(),
        sub_version,
        expression_type: Some("SQL92".into()),
        ..Default::default()
    };
    let data = HeartbeatData {
        client_id: "127.0.0.1@sql92".into(),
        consumer_data_set: vec![ConsumerData {
            consume_from_where: "CONSUME_FROM_FIRST_OFFSET".into(),
            consume_type: "CONSUME_ACTIVELY".into(),
            group_name: group.into(),
            message_model: "CLUSTERING".into(),
            subscription_data_set: vec![sub],
            unit_mode: false,
        }],
        ..Default::default()
    };
    let cmd = RemotingCommand::request(RequestCode::HeartBeat.to_i32()).with_body(to_json(&data));
    let r = call(c, broker, cmd);
    assert_eq!(r.code, 0, "heartbeat: {:?}", r.remark);
}

#[test]
fn sql92_subscriptions_registered_by_heartbeat_filter_pulls_without_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let b = broker(&ns.addr, dir.path(), &[]);
    let c = client();
    send_twenty(&c, &b.addr);

    heartbeat(&c, &b.addr, "reg_cg", "a > 15", 100);
    let mut h = sql_header("reg_cg", "ignored without the flag");
    h.sys_flag = 0;
    h.sub_version = 100;
    assert_eq!(pulled_a(&c, &b.addr, &h), set(16..=20));

    // A newer version in the pull than the broker holds: SUBSCRIPTION_NOT_LATEST.
    h.sub_version = 101;
    assert_eq!(pull_code(&c, &b.addr, &h).0, 25);

    // A registered expression that does not compile has no filter data.
    heartbeat(&c, &b.addr, "bad_cg", "a >", 100);
    let mut bad = sql_header("bad_cg", "");
    bad.sys_flag = 0;
    bad.sub_version = 100;
    assert_eq!(pull_code(&c, &b.addr, &bad).0, 27, "FILTER_DATA_NOT_EXIST");
}

fn check_client_config(c: &RemotingClient, broker: &str, sql: &str, kind: &str) -> RemotingCommand {
    let body = CheckClientRequestBody {
        client_id: "127.0.0.1@sql92".into(),
        group: "check_cg".into(),
        subscription_data: SubscriptionData {
            topic: TOPIC.into(),
            sub_string: sql.into(),
            expression_type: Some(kind.into()),
            ..Default::default()
        },
        namespace: None,
    };
    let cmd =
        RemotingCommand::request(RequestCode::CheckClientConfig.to_i32()).with_body(to_json(&body));
    call(c, broker, cmd)
}

#[test]
fn check_client_config_compiles_sql92_and_honours_the_switch() {
    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let b = broker(&ns.addr, dir.path(), &[]);
    let c = client();
    assert_eq!(check_client_config(&c, &b.addr, "a > 5 AND b = 'x'", "SQL92").code, 0);
    assert_eq!(check_client_config(&c, &b.addr, "TagA || TagB", "TAG").code, 0);
    let r = check_client_config(&c, &b.addr, "a = 1\n b", "SQL92");
    assert_eq!(r.code, 23, "SUBSCRIPTION_PARSE_FAILED");
    let remark = r.remark.unwrap_or_default();
    assert!(remark.contains("line 2, column 2") && remark.contains("\"b\""), "{remark}");

    let off_dir = tempfile::tempdir().unwrap();
    let off = broker_with(
        free_port(),
        &ns.addr,
        off_dir.path(),
        "broker-off",
        "enable_property_filter: false, ",
        &[],
    );
    let r = check_client_config(&c, &off.addr, "a > 5", "SQL92");
    assert_eq!(r.code, 1, "SYSTEM_ERROR when SQL92 is off");
    assert_eq!(
        r.remark.as_deref(),
        Some("The broker does not support consumer to filter message by SQL92")
    );
    assert_eq!(check_client_config(&c, &off.addr, "*", "TAG").code, 0);
    send_twenty(&c, &off.addr);
    let (code, remark) = pull_code(&c, &off.addr, &sql_header("sql_cg", "a > 15"));
    assert_eq!((code, remark.as_str()), (1, r.remark.as_deref().unwrap_or_default()));
}

/// The `a` values a consumer received, by body-independent property.
fn a_values(msgs: &[rocketmq::client::MessageExt]) -> BTreeSet<i64> {
    msgs.iter().filter_map(|m| m.property("a").and_then(|a| a.parse().ok())).collect()
}

#[test]
fn push_and_lite_pull_consumers_subscribe_with_sql92_and_a_refused_selector_fails_the_start() {
    use rocketmq::client::{
        ConsumeFrom, ConsumeStatus, MessageSelector, PullConsumer, PushConsumer,
    };
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let ns = nameserver();
    let b = broker(&ns.addr, dir.path(), &[]);
    let c = client();
    send_twenty(&c, &b.addr);
    let wait =
        |what: &str, cond: &dyn Fn() -> bool| wait_until(what, Duration::from_secs(60), cond);
    let admin = rocketmq::client::Admin::builder().name_server(&ns.addr).build().unwrap();
    wait("the route", &|| admin.topic_route(TOPIC).is_ok());

    // Push: a > 15 gets 16..=20 and nothing else (the probe a=21 arrives after them).
    let push = PushConsumer::builder()
        .name_server(&ns.addr)
        .group("sql_push_cg")
        .consume_from(ConsumeFrom::FirstOffset)
        .build()
        .unwrap();
    push.subscribe_with(TOPIC, &MessageSelector::sql92("a > 15")).unwrap();
    let got: Arc<Mutex<BTreeSet<i64>>> = Arc::default();
    let g = got.clone();
    push.start(move |msgs, _| {
        g.lock().unwrap().extend(a_values(msgs));
        ConsumeStatus::Success
    })
    .unwrap();
    wait("a = 16..=20", &|| got.lock().unwrap().len() >= 5);
    let r = send_v2(&c, &b.addr, TOPIC, 0, b"probe", &[("a", "21"), ("b", "x")]);
    assert_eq!(r.code, 0);
    wait("the probe", &|| got.lock().unwrap().contains(&21));
    assert_eq!(*got.lock().unwrap(), set(16..=21));
    push.shutdown();

    // Lite pull: b IN ('y') gets the even ones.
    let lite = PullConsumer::builder()
        .name_server(&ns.addr)
        .group("sql_lite_cg")
        .consume_from(ConsumeFrom::FirstOffset)
        .build()
        .unwrap();
    lite.subscribe_with(TOPIC, &MessageSelector::sql92("b IN ('y')")).unwrap();
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 10 {
        assert!(Instant::now() < deadline, "lite pull got only {seen:?}");
        seen.extend(a_values(&lite.poll(Duration::from_millis(500)).unwrap()));
    }
    assert_eq!(seen, set((2..=20).step_by(2)));
    lite.shutdown();

    // A selector that does not parse is refused by subscribe; one the broker refuses (the
    // filter switched off) fails the start with the broker's remark.
    let bad = PushConsumer::builder().name_server(&ns.addr).group("sql_bad_cg").build().unwrap();
    let err = bad.subscribe_with(TOPIC, &MessageSelector::sql92("a >")).unwrap_err();
    assert!(err.to_string().contains("SQL92 selector"), "{err}");
    let off_dir = tempfile::tempdir().unwrap();
    let off_ns = nameserver();
    let off = broker_with(
        free_port(),
        &off_ns.addr,
        off_dir.path(),
        "broker-off",
        "enable_property_filter: false, ",
        &[],
    );
    create_topic(&c, &off.addr, TOPIC, 1);
    let off_admin = rocketmq::client::Admin::builder().name_server(&off_ns.addr).build().unwrap();
    wait("the route on the second cluster", &|| off_admin.topic_route(TOPIC).is_ok());
    let refused =
        PushConsumer::builder().name_server(&off_ns.addr).group("sql_off_cg").build().unwrap();
    refused.subscribe_with(TOPIC, &MessageSelector::sql92("a > 5")).unwrap();
    let err = refused.start(|_, _| ConsumeStatus::Success).unwrap_err();
    assert!(
        err.to_string().contains("does not support consumer to filter message by SQL92"),
        "{err}"
    );
}
