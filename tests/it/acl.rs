//! ACL 1.0 against the real broker binary (issue #19): accounts from a `plain_acl.yml`, signed
//! requests from our client, refusals with Java's texts, the PUB-only and admin rules, and a
//! hot reload of the file while the broker runs.

use crate::support;
use crate::support::wait_until;

use std::sync::Arc;
use std::time::Duration;

use rocketmq::acl::{AclRpcHook, SessionCredentials};
use rocketmq::client::{Admin, Message, Producer, TopicSpec};
use rocketmq::protocol::header::pull::{sys_flag, PullMessageRequestHeader};
use rocketmq_net::{RemotingClient, RemotingCommand, RequestCode, ResponseCode};

const TOPIC: &str = "AclTopic";

/// `app_user` may only produce to AclTopic; `admin_user` may do anything.
fn acl_file(app_topic_perm: &str) -> String {
    format!(
        "globalWhiteRemoteAddresses:\n\
         accounts:\n\
         \x20 - accessKey: app_user\n\
         \x20   secretKey: app_secret_1\n\
         \x20   admin: false\n\
         \x20   defaultTopicPerm: DENY\n\
         \x20   defaultGroupPerm: SUB\n\
         \x20   topicPerms:\n\
         \x20     - {TOPIC}={app_topic_perm}\n\
         \x20 - accessKey: admin_user\n\
         \x20   secretKey: admin_secret_1\n\
         \x20   admin: true\n"
    )
}

fn signed_client(ak: &str, sk: &str) -> RemotingClient {
    let c = support::client();
    let hook = Arc::new(AclRpcHook::new(SessionCredentials::new(ak, sk)));
    assert!(c.set_rpc_hook(hook).is_ok(), "a new client has no hook");
    c
}

fn pull(c: &RemotingClient, broker: &str) -> RemotingCommand {
    let h = PullMessageRequestHeader {
        consumer_group: "acl_cg".into(),
        topic: TOPIC.into(),
        queue_id: 0,
        queue_offset: 0,
        max_msg_nums: 32,
        sys_flag: sys_flag::SUSPEND | sys_flag::SUBSCRIPTION,
        commit_offset: 0,
        suspend_timeout_millis: 100,
        subscription: Some("*".into()),
        sub_version: 0,
        expression_type: None,
        max_msg_bytes: None,
    };
    let cmd = RemotingCommand::request(RequestCode::PullMessage.to_i32()).with_header(&h);
    support::call(c, broker, cmd)
}

#[test]
fn signed_requests_pass_wrong_ones_are_refused_and_an_edited_file_applies_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain_acl.yml");
    std::fs::write(&file, acl_file("PUB")).unwrap();
    let ns = support::nameserver();
    let conf = format!("acl_enable: true, acl_file: Some({:?}), ", file.to_str().unwrap());
    let port = support::free_port();
    let store = dir.path().join("store");
    let broker = support::broker_with(port, &ns.addr, &store, "broker-a", &conf, &[]);

    // Admin calls need an admin account; unsigned ones are refused with Java's text.
    let anonymous = Admin::builder().name_server(&ns.addr).build().unwrap();
    let err = anonymous.create_topic_on_broker(&broker.addr, &TopicSpec::new(TOPIC)).unwrap_err();
    assert!(err.to_string().contains("No accessKey is configured"), "{err}");
    let app_admin = Admin::builder()
        .name_server(&ns.addr)
        .credentials("app_user", "app_secret_1")
        .build()
        .unwrap();
    let err = app_admin.create_topic_on_broker(&broker.addr, &TopicSpec::new(TOPIC)).unwrap_err();
    assert!(err.to_string().contains("Need admin permission for request code=17"), "{err}");
    let admin = Admin::builder()
        .name_server(&ns.addr)
        .credentials("admin_user", "admin_secret_1")
        .build()
        .unwrap();
    admin.create_topic_on_broker(&broker.addr, &TopicSpec::new(TOPIC).queues(1)).unwrap();
    wait_until("the topic route", Duration::from_secs(30), || admin.topic_route(TOPIC).is_ok());

    // The PUB-only account produces; a wrong secret is refused.
    let producer = Producer::builder()
        .name_server(&ns.addr)
        .group("acl_pg")
        .credentials("app_user", "app_secret_1")
        .build()
        .unwrap();
    producer.send(&Message::new(TOPIC, "signed")).unwrap();
    let forger = Producer::builder()
        .name_server(&ns.addr)
        .group("acl_pg2")
        .credentials("app_user", "not_the_secret")
        .retries(0)
        .build()
        .unwrap();
    let err = forger.send(&Message::new(TOPIC, "forged")).unwrap_err();
    assert!(err.to_string().contains("Check signature failed for accessKey=app_user"), "{err}");

    // It cannot consume: a pull is refused naming the topic.
    let app = signed_client("app_user", "app_secret_1");
    let resp = pull(&app, &broker.addr);
    assert_eq!(resp.code, ResponseCode::SystemError.to_i32());
    let remark = resp.remark.clone().unwrap_or_default();
    assert!(
        remark.starts_with(
            "org.apache.rocketmq.acl.common.AclException: No permission for topic:AclTopic"
        ),
        "{remark}"
    );

    // Granting SUB in the file applies without a restart, within the 5 s the issue allows.
    std::fs::write(&file, acl_file("PUB|SUB")).unwrap();
    wait_until("the edited ACL file to apply", Duration::from_secs(5), || {
        pull(&app, &broker.addr).code != ResponseCode::SystemError.to_i32()
    });
    let resp = pull(&app, &broker.addr);
    assert_eq!(resp.code, ResponseCode::Success.to_i32(), "{:?}", resp.remark);
    let msgs = rocketmq::protocol::message::decode_messages(&resp.body).unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].body, b"signed");

    // mqadmin signs with --accessKey/--secretKey; mqbench with --access-key/--secret-key.
    let mqadmin = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mqadmin"))
            .args([&["-n", ns.addr.as_str()], args].concat())
            .env_remove("ROCKETMQ_HOME")
            .output()
            .unwrap()
    };
    let create = ["updateTopic", "-b", broker.addr.as_str(), "-t", "AclByTool"];
    let out = mqadmin(&create);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No accessKey is configured"));
    let signed =
        [&create[..], &["--accessKey", "admin_user", "--secretKey", "admin_secret_1"]].concat();
    let out = mqadmin(&signed);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mqbench"))
        .args(["-n", ns.addr.as_str(), "--access-key", "app_user", "--secret-key", "app_secret_1"])
        .args(["produce", "-t", TOPIC, "-m", "sync", "-c", "200", "-q", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["accounting"]["lost"], 0, "{report}");
    assert_eq!(report["accounting"]["broker_stored"], 200, "{report}");
    producer.shutdown();
    forger.shutdown();
}
