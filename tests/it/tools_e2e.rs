//! End-to-end tests of the `mqadmin` and `mqbench` binaries against the real `nameserver` and
//! `broker` (issue #7). Each test starts its own servers on free ports with a temp store.

use crate::support;

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketmq::client::{Admin, ConsumeFrom, ConsumeStatus, PushConsumer};
use serde_json::Value;
use support::Proc;

const WAIT: Duration = Duration::from_secs(30);

struct Cluster {
    broker: Proc,
    namesrv: Proc,
    _store: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Self {
        let store = tempfile::tempdir().unwrap();
        let namesrv = support::nameserver();
        let broker = support::broker(&namesrv.addr, store.path(), &[]);
        let admin = Admin::builder().name_server(&namesrv.addr).build().unwrap();
        wait_until("the broker registers", || {
            admin.cluster_info().is_ok_and(|c| !c.broker_addr_table.is_empty())
        });
        Self { broker, namesrv, _store: store }
    }

    /// Runs `mqadmin -n <namesrv> args…`.
    fn admin(&self, args: &[&str]) -> Output {
        mqadmin(&[&["-n", self.namesrv.addr.as_str()], args].concat())
    }

    /// Runs an mqadmin command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.admin(args);
        assert_eq!(out.status.code(), Some(0), "mqadmin {args:?}: {}", stderr(&out));
        stdout(&out)
    }

    /// Runs an mqadmin command with `--json`; returns the parsed document.
    fn json(&self, args: &[&str]) -> Value {
        let text = self.ok(&[args, &["--json"]].concat());
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
    }
}

fn mqadmin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sum(v: &Value, list: &str, field: &str) -> i64 {
    v[list].as_array().unwrap().iter().map(|q| q[field].as_i64().unwrap()).sum()
}

#[test]
fn mqadmin_topics_messages_consumer_progress_and_reset() {
    let c = Cluster::start();
    let broker = c.broker.addr.as_str();

    // updateTopic → topicList / topicRoute / topicStatus
    let out = c.ok(&["updateTopic", "-t", "ToolsT", "-c", "DefaultCluster", "-r", "4", "-w", "4"]);
    assert!(out.contains(&format!("create topic to {broker} success.")), "{out}");
    assert!(
        out.contains("TopicConfig [topicName=ToolsT, readQueueNums=4, writeQueueNums=4, perm=RW-")
    );
    wait_until("the route", || c.admin(&["topicRoute", "-t", "ToolsT"]).status.success());
    assert!(c.ok(&["topicList"]).lines().any(|l| l == "ToolsT"));
    let list = c.json(&["topicList"]);
    assert!(list["topicList"].as_array().unwrap().iter().any(|t| t == "ToolsT"));
    let route = c.json(&["topicRoute", "-t", "ToolsT"]);
    assert_eq!(route["queueDatas"][0]["readQueueNums"], 4);
    assert_eq!(route["brokerDatas"][0]["brokerAddrs"]["0"], broker);
    let table = c.ok(&["topicRoute", "-t", "ToolsT", "-l"]);
    assert!(table.starts_with("#ClusterName") && table.contains("broker-a"), "{table}");
    let status = c.ok(&["topicStatus", "-t", "ToolsT"]);
    assert!(status.starts_with("#Broker Name"), "{status}");
    assert_eq!(status.lines().filter(|l| l.starts_with("broker-a")).count(), 4, "{status}");

    // sendMessage → queryMsgById / queryMsgByKey / queryMsgByOffset
    let mut sent = Vec::new();
    for i in 0..3 {
        let body = format!("hello-{i}");
        let r = c.json(&["sendMessage", "-t", "ToolsT", "-p", &body, "-k", "key1", "-c", "TagA"]);
        assert_eq!(r["sendStatus"], "SEND_OK");
        sent.push(r);
    }
    let text = c.ok(&["sendMessage", "-t", "ToolsT", "-p", "plain"]);
    assert!(text.starts_with("#Broker Name") && text.contains("SEND_OK"), "{text}");
    let first = &sent[0];
    let id = first["msgId"].as_str().unwrap();
    let detail = c.ok(&["queryMsgById", "-t", "ToolsT", "-i", id]);
    assert!(detail.contains("Keys:                [key1]"), "{detail}");
    assert!(detail.contains("Tags:                [TagA]"), "{detail}");
    assert!(detail.contains("Message Body:        hello-0"), "{detail}");
    let by_offset_id =
        c.json(&["queryMsgById", "-t", "ToolsT", "-i", first["offsetMsgId"].as_str().unwrap()]);
    assert_eq!(by_offset_id["messages"][0]["msgId"], id);
    let keys = c.ok(&["queryMsgByKey", "-t", "ToolsT", "-k", "key1"]);
    assert!(keys.starts_with("#Message ID"), "{keys}");
    for r in &sent {
        assert!(keys.contains(r["msgId"].as_str().unwrap()), "{keys}");
    }
    let (qid, offset) = (first["queueId"].to_string(), first["queueOffset"].to_string());
    let m =
        c.json(&["queryMsgByOffset", "-t", "ToolsT", "-b", "broker-a", "-i", &qid, "-o", &offset]);
    assert_eq!(m["msgId"], id);
    assert_eq!(sum(&c.json(&["topicStatus", "-t", "ToolsT"]), "queues", "maxOffset"), 4);
    let printed = c.ok(&["printMsg", "-t", "ToolsT"]);
    assert_eq!(printed.lines().filter(|l| l.starts_with("MSGID: ")).count(), 4, "{printed}");
    let tagged = c.ok(&["printMsg", "-t", "ToolsT", "-s", "TagA", "-d", "false"]);
    assert_eq!(tagged.lines().filter(|l| l.ends_with("BODY: NOT PRINT BODY")).count(), 3);
    let two = c.ok(&["consumeMessage", "-t", "ToolsT", "-c", "2"]);
    assert_eq!(two.lines().filter(|l| l.starts_with("MSGID: ")).count(), 2, "{two}");

    // consume everything, then consumerProgress shows no lag
    let consumed = Arc::new(AtomicUsize::new(0));
    let consumer = PushConsumer::builder()
        .name_server(&c.namesrv.addr)
        .group("ToolsGroup")
        .consume_from(ConsumeFrom::FirstOffset)
        .build()
        .unwrap();
    consumer.subscribe("ToolsT", "*").unwrap();
    let n = Arc::clone(&consumed);
    consumer
        .start(move |msgs, _| {
            n.fetch_add(msgs.len(), Ordering::SeqCst);
            ConsumeStatus::Success
        })
        .unwrap();
    wait_until("4 messages consumed", || consumed.load(Ordering::SeqCst) >= 4);
    let detail = c.ok(&["queryMsgById", "-t", "ToolsT", "-i", id]);
    assert!(detail.contains("consumerGroup=ToolsGroup"), "{detail}");
    consumer.shutdown();
    let progress = c.json(&["consumerProgress", "-g", "ToolsGroup", "-t", "ToolsT"]);
    assert_eq!(progress["diffTotal"], 0, "{progress}");
    assert_eq!(sum(&progress, "queues", "consumerOffset"), 4);
    let text = c.ok(&["consumerProgress", "-g", "ToolsGroup", "-t", "ToolsT"]);
    assert!(text.starts_with("#Topic") && text.contains("Consume Diff Total: 0"), "{text}");
    let all = c.ok(&["consumerProgress"]);
    assert!(all.starts_with("#Group") && all.contains("ToolsGroup"), "{all}");

    // resetOffsetByTime back to the beginning: the lag is every message again
    let reset = c.ok(&["resetOffsetByTime", "-g", "ToolsGroup", "-t", "ToolsT", "-s", "0"]);
    assert!(reset.contains("#brokerName") && reset.contains("timestamp(long)[0]"), "{reset}");
    let progress = c.json(&["consumerProgress", "-g", "ToolsGroup", "-t", "ToolsT"]);
    assert_eq!(progress["diffTotal"], 4, "{progress}");
    let now = c.json(&["resetOffsetByTime", "-g", "ToolsGroup", "-t", "ToolsT", "-s", "now"]);
    assert_eq!(sum(&now, "offsets", "offset"), 4, "{now}");

    // cluster and broker views
    let clusters = c.ok(&["clusterList"]);
    assert!(clusters.starts_with("#Cluster Name") && clusters.contains(broker), "{clusters}");
    let status = c.ok(&["brokerStatus", "-b", broker]);
    assert!(status.contains("brokerVersionDesc"), "{status}");
    let config = c.ok(&["getBrokerConfig", "-b", broker]);
    assert!(config.starts_with(&format!("============{broker}============")), "{config}");
    assert!(config.contains("broker-a"), "{config}");

    // subscription groups and topic deletion
    let sub = c.ok(&["updateSubGroup", "-g", "ToolsGroup2", "-c", "DefaultCluster", "-r", "3"]);
    assert!(
        sub.contains("create subscription group to") && sub.contains("retryMaxTimes=3"),
        "{sub}"
    );
    let del = c.ok(&["deleteSubGroup", "-g", "ToolsGroup2", "-c", "DefaultCluster"]);
    assert!(del.contains("delete subscription group [ToolsGroup2]"), "{del}");
    c.ok(&["deleteTopic", "-t", "ToolsT", "-c", "DefaultCluster"]);
    wait_until("the route to go", || {
        c.admin(&["topicRoute", "-t", "ToolsT"]).status.code() == Some(1)
    });
}

#[test]
fn mqadmin_update_broker_config_switches_live_keys_and_keeps_every_change_across_a_restart() {
    let mut c = Cluster::start();
    let addr = c.broker.addr.clone();
    let config = |c: &Cluster| c.json(&["getBrokerConfig", "-b", &addr]);
    let before = config(&c);
    assert_eq!(before[&addr]["autoCreateTopicEnable"], "true");
    let ratio = before[&addr]["diskMaxUsedSpaceRatio"].clone();
    assert_ne!(ratio, "99");
    let producer = rocketmq::client::Producer::builder()
        .name_server(&c.namesrv.addr)
        .group("update_conf_pg")
        .build()
        .unwrap();
    producer.send(&rocketmq::client::Message::new("AutoMadeBefore", "x")).unwrap();

    let out =
        c.ok(&["updateBrokerConfig", "-b", &addr, "-k", "autoCreateTopicEnable", "-v", "false"]);
    assert_eq!(out.trim(), format!("update broker config success, {addr}"));
    assert_eq!(config(&c)[&addr]["autoCreateTopicEnable"], "false");
    // In effect at once: a send to a topic nobody created is refused.
    let err = producer.send(&rocketmq::client::Message::new("AutoMadeAfter", "x")).unwrap_err();
    assert!(err.to_string().contains("AutoMadeAfter"), "{err}");

    // A key that needs a restart is stored, and the answer says so.
    let out =
        c.ok(&["updateBrokerConfig", "-c", "DefaultCluster", "-k", "deleteWhen", "-v", "03;15"]);
    assert!(out.contains(&format!("update broker config success, {addr}")), "{out}");
    assert!(out.contains("takes effect when the broker restarts: deleteWhen"), "{out}");
    // Refusals name the key and change nothing.
    for (key, value, why) in [
        ("autoCreateTopicEnabel", "true", "unknown broker config key `autoCreateTopicEnabel`"),
        ("brokerName", "other", "black list"),
        ("diskMaxUsedSpaceRatio", "99", "disk_max_used_space_ratio"),
    ] {
        let out = c.admin(&["updateBrokerConfig", "-b", &addr, "-k", key, "-v", value]);
        assert_eq!(out.status.code(), Some(1), "{key}: {}", stdout(&out));
        assert!(stderr(&out).contains(why), "{key}: {}", stderr(&out));
    }

    // Every change survives a restart: the broker applies its stored overrides at start.
    c.broker.terminate();
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    c.broker = support::broker_on(port, &c.namesrv.addr, c._store.path(), "broker-a", &[]);
    let after = config(&c);
    assert_eq!(after[&addr]["autoCreateTopicEnable"], "false");
    assert_eq!(after[&addr]["deleteWhen"], "03;15");
    assert_eq!(after[&addr]["diskMaxUsedSpaceRatio"], ratio, "a refused value is not stored");
    producer.shutdown();
}

#[test]
fn mqadmin_exit_codes() {
    // Usage errors: 2, with the reason on stderr.
    for args in [
        &[][..],
        &["noSuchCommand"],
        &["updateTopic", "-t", "T"],
        &["updateTopic", "-t", "T", "-c", "C", "-o", "maybe"],
    ] {
        let out = mqadmin(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let out = mqadmin(&["topicList"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("NAMESRV_ADDR"), "{}", stderr(&out));
    let help = mqadmin(&["help", "resetOffsetByTime"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("--timestamp"));

    // Failures: 1, with exactly one line on stderr.
    let closed = format!("127.0.0.1:{}", support::free_port());
    let out = mqadmin(&["-n", &closed, "topicList"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    let ns = support::nameserver();
    let out = mqadmin(&["-n", &ns.addr, "topicRoute", "-t", "NoSuchTopic"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("topicRoute failed") && err.contains("NoSuchTopic"), "{err}");
    let out =
        mqadmin(&["-n", &ns.addr, "resetOffsetByTime", "-g", "G", "-t", "T", "-s", "yesterday"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // A health check: clusterList fails while no broker is live.
    let out = mqadmin(&["-n", &ns.addr, "clusterList"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("no broker is registered"), "{}", stderr(&out));
    // Success: 0.
    let out = mqadmin(&["-n", &ns.addr, "topicList"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

fn mqbench(ns: &str, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_mqbench"))
        .args(["-n", ns, "-q", "--json"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "mqbench {args:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&out)))
}

#[test]
fn mqbench_produce_accounts_for_every_message_in_every_mode() {
    let c = Cluster::start();
    let ns = c.namesrv.addr.as_str();
    let count = 400;
    for mode in ["sync", "async", "oneway", "batch"] {
        let r = mqbench(
            ns,
            &[
                "produce",
                "-t",
                "BenchT",
                "-m",
                mode,
                "-c",
                "400",
                "-w",
                "2",
                "--warmup",
                "10",
                "--in-flight",
                "16",
                "-b",
                "32",
                "--tags",
                "--keys",
            ],
        );
        assert_eq!(r["mode"], mode);
        assert_eq!(r["sent"], count, "{mode}: {r}");
        assert_eq!(r["succeeded"], count, "{mode}: {r}");
        assert_eq!(r["failed"], 0, "{mode}: {r}");
        assert_eq!(r["accounting"]["lost"], 0, "{mode}: {r}");
        assert_eq!(r["accounting"]["broker_stored"], count, "{mode}: {r}");
        assert!(r["latency"]["p50_us"].as_f64().unwrap() > 0.0, "{mode}: {r}");
        if mode == "async" {
            assert_eq!(r["accounting"]["callbacks_expected"], count);
            assert_eq!(r["accounting"]["callbacks_received"], count);
        }
        if mode == "batch" {
            // 2 threads × 200 messages in batches of 32: 7 requests each.
            assert_eq!(r["latency"]["count"], 14, "{r}");
        }
    }
    // 4 runs × (400 measured + 10 warm-up) messages are waiting.
    let r =
        mqbench(ns, &["consume", "-t", "BenchT", "-g", "BenchG", "--from", "first", "-c", "1640"]);
    assert_eq!(r["stopped_by"], "count", "{r}");
    assert_eq!(r["received"], 1640, "{r}");
    assert!(r["store_to_receipt"]["count"].as_u64().unwrap() >= 1640, "{r}");
}
