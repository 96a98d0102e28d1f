//! Transactional messages (issue #14) against the real `nameserver` and `broker` binaries:
//! commit, rollback and check-back through `TransactionProducer`, duplicate and malformed
//! END_TRANSACTION, the check-max give-up, and kill -9 of the broker mid-transaction.

use crate::support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rocketmq::client::{
    Admin, LocalTransactionState, Message, MessageExt, Producer, TopicSpec, TransactionListener,
    TransactionProducer,
};
use rocketmq::net::{CommandHeader, RemotingClient, RemotingCommand, RequestCode};
use rocketmq::protocol::header::send::{EndTransactionRequestHeader, SendMessageResponseHeader};
use rocketmq::protocol::message::decode_offset_msg_id;
use support::Proc;

const WAIT: Duration = Duration::from_secs(30);
const TOPIC: &str = "TxnOrders";
const GROUP: &str = "txn_pg";
/// Fast check-back, so tests see checks within a second or two.
const FAST_CHECKS: &str =
    "transaction_check_interval_ms: 300, transaction_timeout_ms: 300, transaction_check_max: 3, ";

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Fields drop in order: the admin client before the servers it talks to.
struct Cluster {
    admin: Admin,
    broker: Proc,
    namesrv: Proc,
    store: tempfile::TempDir,
    conf: String,
}

impl Cluster {
    fn start(conf: &str) -> Self {
        let store = tempfile::tempdir().unwrap();
        let namesrv = support::nameserver();
        let port = support::free_port();
        let broker = support::broker_with(port, &namesrv.addr, store.path(), "broker-a", conf, &[]);
        let admin = Admin::builder().name_server(&namesrv.addr).build().unwrap();
        // Create the topic only once the broker's first registration is done, or that
        // registration may overwrite the topic's route until the next one, 30 s later.
        wait_until("the broker registers", || {
            admin.cluster_info().is_ok_and(|c| !c.broker_addr_table.is_empty())
        });
        let c = Self { broker, namesrv, store, admin, conf: conf.to_string() };
        c.admin.create_topic_on_broker(&c.broker.addr, &TopicSpec::new(TOPIC).queues(1)).unwrap();
        wait_until("the topic route", || c.admin.topic_route(TOPIC).is_ok());
        c
    }

    /// kill -9, then the same broker (port, store) again.
    fn kill9_and_restart(&mut self) {
        self.broker.kill9();
        // The nameserver drops the dead broker when its connection closes; restarting before
        // that could see the new registration dropped in its place.
        wait_until("the nameserver drops the killed broker", || {
            self.admin.topic_route(TOPIC).is_err()
        });
        let port: u16 = self.broker.addr.rsplit(':').next().unwrap().parse().unwrap();
        self.broker = support::broker_with(
            port,
            &self.namesrv.addr,
            self.store.path(),
            "broker-a",
            &self.conf,
            &[],
        );
        wait_until("the restarted broker's route", || self.admin.topic_route(TOPIC).is_ok());
    }

    fn producer(&self, listener: impl TransactionListener) -> TransactionProducer {
        let builder = Producer::builder().name_server(&self.namesrv.addr).group(GROUP);
        TransactionProducer::start(builder, listener).unwrap()
    }

    /// Every visible message of the topic, by body.
    fn visible(&self) -> BTreeMap<String, usize> {
        let c = support::client();
        let mut seen = BTreeMap::new();
        for m in support::pull_all(&c, &self.broker.addr, "txn_cg", TOPIC, 0, 0) {
            *seen.entry(String::from_utf8_lossy(&m.body).into_owned()).or_default() += 1;
        }
        c.shutdown();
        seen
    }

    /// Every message of the topic once all that was stored before this call is pullable: a
    /// marker sent now is visible (the store dispatches in order), and markers are left out.
    fn settled_messages(&self) -> Vec<MessageExt> {
        static MARKERS: AtomicUsize = AtomicUsize::new(0);
        let marker = format!("marker-{}", MARKERS.fetch_add(1, Ordering::Relaxed));
        let c = support::client();
        assert_eq!(
            support::send_v2(&c, &self.broker.addr, TOPIC, 0, marker.as_bytes(), &[]).code,
            0
        );
        c.shutdown();
        let mut msgs = Vec::new();
        wait_until("the marker", || {
            msgs = self.topic_messages(TOPIC);
            msgs.iter().any(|m| m.body == marker.as_bytes())
        });
        msgs.retain(|m| !m.body.starts_with(b"marker-"));
        msgs
    }

    /// [`Self::visible`] once everything stored before the call is pullable.
    fn settled_visible(&self) -> BTreeMap<String, usize> {
        let mut seen = BTreeMap::new();
        for m in self.settled_messages() {
            *seen.entry(String::from_utf8_lossy(&m.body).into_owned()).or_default() += 1;
        }
        seen
    }

    fn topic_messages(&self, topic: &str) -> Vec<MessageExt> {
        let c = support::client();
        let msgs = support::pull_all(&c, &self.broker.addr, "txn_cg", topic, 0, 0);
        c.shutdown();
        msgs
    }
}

/// Decides by body prefix; answers checks from `check_answer`, counting checks per body.
struct ByBody {
    checks: Arc<Mutex<BTreeMap<String, usize>>>,
    check_answer: LocalTransactionState,
}

impl TransactionListener for ByBody {
    fn execute_local_transaction(&self, msg: &Message, _id: &str) -> LocalTransactionState {
        let body = String::from_utf8_lossy(msg.body());
        if body.starts_with("commit") {
            LocalTransactionState::Commit
        } else if body.starts_with("rollback") {
            LocalTransactionState::Rollback
        } else if body.starts_with("panic") {
            panic!("the local transaction failed");
        } else {
            LocalTransactionState::Unknown
        }
    }

    fn check_local_transaction(&self, msg: &MessageExt) -> LocalTransactionState {
        let body = String::from_utf8_lossy(&msg.body).into_owned();
        *self.checks.lock().unwrap().entry(body).or_default() += 1;
        self.check_answer
    }
}

fn listener(check_answer: LocalTransactionState) -> (ByBody, Arc<Mutex<BTreeMap<String, usize>>>) {
    let checks = Arc::default();
    (ByBody { checks: Arc::clone(&checks), check_answer }, checks)
}

/// An END_TRANSACTION the test builds itself, answered (not oneway) so it can see refusals.
fn end(
    c: &RemotingClient,
    broker: &str,
    group: &str,
    commit_log_offset: i64,
    queue_offset: i64,
    what: i32,
) -> RemotingCommand {
    let h = EndTransactionRequestHeader {
        producer_group: group.into(),
        tran_state_table_offset: queue_offset,
        commit_log_offset,
        commit_or_rollback: what,
        from_transaction_check: Some(false),
        msg_id: "X".into(),
        transaction_id: None,
    };
    support::call(
        c,
        broker,
        RemotingCommand::request(RequestCode::EndTransaction.to_i32()).with_header(&h),
    )
}

/// A raw half message; returns (commitlog offset, queue offset).
fn raw_half(c: &RemotingClient, broker: &str, body: &str) -> (i64, i64) {
    raw_half_with(c, broker, body, &[], 0)
}

/// [`raw_half`] with extra properties, born `age_ms` ago.
fn raw_half_with(
    c: &RemotingClient,
    broker: &str,
    body: &str,
    extra: &[(&str, &str)],
    age_ms: i64,
) -> (i64, i64) {
    let mut props = vec![("TRAN_MSG", "true"), ("PGROUP", GROUP), ("UNIQ_KEY", body)];
    props.extend_from_slice(extra);
    let mut h = support::send_header(TOPIC, 0, &props);
    // Born now (or `age_ms` ago): the check service gives up on half messages older than the
    // retention time.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    h.born_timestamp = now - age_ms;
    let mut cmd = RemotingCommand::request(RequestCode::SendMessageV2.to_i32())
        .with_body(body.as_bytes().to_vec());
    cmd.ext_fields = h.to_v2();
    let r = support::call(c, broker, cmd);
    assert_eq!(r.code, 0, "half send: {:?}", r.remark);
    let h = SendMessageResponseHeader::from_ext_fields(&r.ext_fields).unwrap();
    assert_eq!(h.transaction_id.as_deref(), Some(body), "the reply names the transaction");
    (decode_offset_msg_id(&h.msg_id).unwrap().1, h.queue_offset)
}

#[test]
fn commit_is_visible_once_rollback_never_and_unknown_after_its_check() {
    let cluster = Cluster::start(FAST_CHECKS);
    let (l, checks) = listener(LocalTransactionState::Commit);
    let producer = cluster.producer(l);
    let mut results = BTreeMap::new();
    for body in ["commit-1", "rollback-1", "unknown-1", "commit-2", "panic-1"] {
        let r = producer.send_in_transaction(&Message::new(TOPIC, body)).unwrap();
        results.insert(body, r);
    }
    assert_eq!(results["panic-1"].state, LocalTransactionState::Unknown);
    wait_until("unknown transactions committed by their check", || cluster.visible().len() == 4);
    let seen = cluster.settled_visible();
    let want: BTreeMap<String, usize> = ["commit-1", "commit-2", "panic-1", "unknown-1"]
        .iter()
        .map(|b| (b.to_string(), 1))
        .collect();
    assert_eq!(seen, want);
    let checks = checks.lock().unwrap().clone();
    assert!(checks.contains_key("unknown-1") && checks.contains_key("panic-1"), "{checks:?}");
    assert!(!checks.contains_key("commit-1"), "a committed transaction was checked: {checks:?}");

    // Ending again (commit twice, commit after rollback) shows nothing new.
    let c = support::client();
    for body in ["commit-1", "rollback-1"] {
        let s = &results[body].send;
        let phys = decode_offset_msg_id(&s.offset_msg_id).unwrap().1;
        let r = end(&c, &cluster.broker.addr, GROUP, phys, s.queue_offset, 8);
        assert_eq!(r.code, 0, "{body}: {:?}", r.remark);
    }
    let committed = cluster.settled_messages();
    assert_eq!(committed.len(), 4, "a second END made a second message");
    let m = committed.iter().find(|m| m.body == b"commit-1").unwrap();
    assert_eq!(m.property("TRAN_MSG"), None, "TRAN_MSG left on the committed message");
    assert_eq!(m.property("PGROUP"), Some(GROUP));
    assert_eq!(m.sys_flag & 0xC, 0x8, "committed messages carry the COMMIT type");
    let half_phys = decode_offset_msg_id(&results["commit-1"].send.offset_msg_id).unwrap().1;
    assert_eq!(m.prepared_transaction_offset, half_phys, "preparedTransactionOffset = the half");
    c.shutdown();
    producer.shutdown();
}

#[test]
fn a_restarted_producer_of_the_group_answers_the_check() {
    let cluster = Cluster::start(FAST_CHECKS);
    // The first producer leaves the transaction unknown and goes away without answering.
    let (first, _) = listener(LocalTransactionState::Unknown);
    let first = cluster.producer(first);
    first.send_in_transaction(&Message::new(TOPIC, "unknown-restart")).unwrap();
    first.shutdown();
    drop(first);
    assert!(cluster.visible().is_empty());
    let (second, checks) = listener(LocalTransactionState::Commit);
    let second = cluster.producer(second);
    // A restarted producer announces itself to the brokers of the topics it will send to.
    second.producer().fetch_publish_queues(TOPIC).unwrap();
    wait_until("the new producer commits on the check", || !cluster.visible().is_empty());
    assert_eq!(cluster.settled_visible().get("unknown-restart"), Some(&1));
    assert!(checks.lock().unwrap().contains_key("unknown-restart"));
    second.shutdown();
}

#[test]
fn checks_give_up_after_the_max_into_trans_check_max_time_topic() {
    let cluster = Cluster::start(FAST_CHECKS);
    let (l, checks) = listener(LocalTransactionState::Unknown);
    let producer = cluster.producer(l);
    producer.send_in_transaction(&Message::new(TOPIC, "never-known")).unwrap();
    wait_until("the give-up", || !cluster.topic_messages("TRANS_CHECK_MAX_TIME_TOPIC").is_empty());
    let given_up = cluster.topic_messages("TRANS_CHECK_MAX_TIME_TOPIC");
    assert_eq!(given_up.len(), 1);
    assert_eq!(given_up[0].body, b"never-known");
    assert_eq!(given_up[0].property("TRANSACTION_CHECK_TIMES"), Some("3"));
    assert_eq!(given_up[0].property("REAL_TOPIC"), Some(TOPIC));
    assert_eq!(checks.lock().unwrap().get("never-known"), Some(&3));
    assert!(cluster.settled_visible().is_empty());
    // Admin tools see the transaction topics, and the check progress as the system group's.
    let topics = cluster.admin.topic_list().unwrap();
    for t in
        ["RMQ_SYS_TRANS_HALF_TOPIC", "RMQ_SYS_TRANS_OP_HALF_TOPIC", "TRANS_CHECK_MAX_TIME_TOPIC"]
    {
        assert!(topics.contains(t), "{t} not listed: {topics:?}");
    }
    let progress =
        cluster.admin.consumer_progress("CID_RMQ_SYS_TRANS", Some("RMQ_SYS_TRANS_HALF_TOPIC"));
    let progress = progress.unwrap();
    assert_eq!(progress.queues.len(), 1, "{progress:?}");
    // The first half and its three copies were all passed.
    assert_eq!(progress.queues[0].consumer_offset, 4, "{progress:?}");
    producer.shutdown();
}

#[test]
fn malformed_end_transactions_are_refused_naming_the_field_and_the_broker_keeps_serving() {
    // Slow checks: nothing but this test resolves the half message.
    let cluster = Cluster::start("");
    let c = support::client();
    let b = &cluster.broker.addr;
    let (phys, queue_offset) = raw_half(&c, b, "malformed");
    let cases = [
        (end(&c, b, GROUP, phys + 1_000_000, queue_offset, 8), "no message at"),
        (end(&c, b, "other_pg", phys, queue_offset, 8), "producerGroup"),
        (end(&c, b, GROUP, phys, queue_offset + 5, 8), "tranStateTableOffset"),
        (end(&c, b, GROUP, -1, queue_offset, 8), "commitLogOffset[-1]"),
        (end(&c, b, GROUP, phys, queue_offset, 5), "commitOrRollback[5]"),
    ];
    for (r, needle) in &cases {
        assert_ne!(r.code, 0, "{needle}: accepted");
        assert!(r.remark.as_deref().unwrap_or_default().contains(needle), "{needle}: {r:?}");
    }
    // The offset of a message that is not a half message.
    let plain = support::send_v2(&c, b, TOPIC, 0, b"plain", &[]);
    let h = SendMessageResponseHeader::from_ext_fields(&plain.ext_fields).unwrap();
    let plain_phys = decode_offset_msg_id(&h.msg_id).unwrap().1;
    let r = end(&c, b, GROUP, plain_phys, h.queue_offset, 8);
    assert!(r.remark.as_deref().unwrap_or_default().contains("not a prepared"), "{r:?}");
    // A oneway refusal is only logged; the broker goes on serving and committing.
    let h = EndTransactionRequestHeader {
        producer_group: "wrong".into(),
        tran_state_table_offset: queue_offset,
        commit_log_offset: phys,
        commit_or_rollback: 8,
        from_transaction_check: None,
        msg_id: "X".into(),
        transaction_id: None,
    };
    let cmd = RemotingCommand::request(RequestCode::EndTransaction.to_i32()).with_header(&h);
    c.invoke_oneway(b, cmd).unwrap();
    assert_eq!(end(&c, b, GROUP, phys, queue_offset, 8).code, 0);
    let bodies: Vec<_> = cluster.settled_messages().into_iter().map(|m| m.body).collect();
    assert_eq!(bodies, vec![b"plain".to_vec(), b"malformed".to_vec()]);
    // Batched and delayed transactional sends are refused.
    let r = support::send_v2(
        &c,
        b,
        TOPIC,
        0,
        b"d",
        &[("TRAN_MSG", "true"), ("PGROUP", GROUP), ("DELAY", "2")],
    );
    assert!(r.remark.as_deref().unwrap_or_default().contains("cannot be delayed"), "{r:?}");
    c.shutdown();
}

#[test]
fn kill9_mid_transaction_loses_no_commit_shows_no_rollback_and_never_duplicates() {
    let mut cluster = Cluster::start("");
    let c = support::client();
    let b = cluster.broker.addr.clone();
    let pending = raw_half(&c, &b, "prepared-before-kill");
    let committed = raw_half(&c, &b, "committed-before-kill");
    let rolled_back = raw_half(&c, &b, "rolled-back-before-kill");
    assert_eq!(end(&c, &b, GROUP, committed.0, committed.1, 8).code, 0);
    assert_eq!(end(&c, &b, GROUP, rolled_back.0, rolled_back.1, 12).code, 0);
    wait_until("the commit is visible", || cluster.visible().len() == 1);
    c.shutdown();

    cluster.kill9_and_restart();
    let c = support::client();
    let b = cluster.broker.addr.clone();
    // The END that the crash interrupted arrives now; the resolved ones arrive again.
    for (half, what) in [(pending, 8), (committed, 8), (rolled_back, 8), (pending, 8)] {
        assert_eq!(end(&c, &b, GROUP, half.0, half.1, what).code, 0);
    }
    let want: BTreeMap<String, usize> = ["committed-before-kill", "prepared-before-kill"]
        .iter()
        .map(|s| (s.to_string(), 1))
        .collect();
    wait_until("both commits visible", || cluster.visible().len() == 2);
    assert_eq!(cluster.settled_visible(), want);
    c.shutdown();
}

#[test]
fn mqbench_transaction_mode_commits_every_message() {
    let cluster = Cluster::start("");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mqbench"))
        .args(["-n", &cluster.namesrv.addr, "-q", "--json", "produce", "-t", "TxnBench"])
        .args(["-m", "transaction", "-c", "300", "-w", "4", "--warmup", "8", "-g", "txn_bench"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "mqbench: {stderr}");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["mode"], "transaction", "{r}");
    assert_eq!((r["sent"].as_u64(), r["succeeded"].as_u64()), (Some(300), Some(300)), "{r}");
    assert_eq!(r["accounting"]["lost"], 0, "{r}");
    assert_eq!(r["accounting"]["broker_stored"], 300, "every commit stored once: {r}");
}

/// A raw "committed" message: what END_TRANSACTION writes before its op entry.
fn raw_commit_without_op(c: &RemotingClient, broker: &str, uniq: &str) {
    let props = [("PGROUP", GROUP), ("UNIQ_KEY", uniq)];
    let mut h = support::send_header(TOPIC, 0, &props);
    h.sys_flag = 0x8;
    let mut cmd = RemotingCommand::request(RequestCode::SendMessageV2.to_i32())
        .with_body(uniq.as_bytes().to_vec());
    cmd.ext_fields = h.to_v2();
    assert_eq!(support::call(c, broker, cmd).code, 0);
}

#[test]
fn kill9_between_the_committed_message_and_its_op_entry_commits_once() {
    let mut cluster = Cluster::start("");
    let c = support::client();
    let b = cluster.broker.addr.clone();
    let half = raw_half(&c, &b, "crash-window");
    // The broker died right after writing the committed message, before the op entry.
    raw_commit_without_op(&c, &b, "crash-window");
    wait_until("the commit is visible", || !cluster.visible().is_empty());
    c.shutdown();

    cluster.kill9_and_restart();
    let c = support::client();
    // The producer, which never heard back, commits again.
    assert_eq!(end(&c, &cluster.broker.addr, GROUP, half.0, half.1, 8).code, 0);
    assert_eq!(end(&c, &cluster.broker.addr, GROUP, half.0, half.1, 12).code, 0);
    let want: BTreeMap<String, usize> = [("crash-window".to_string(), 1)].into();
    assert_eq!(cluster.settled_visible(), want);
    c.shutdown();
}

#[test]
fn an_unknown_transaction_is_still_checked_after_kill9_and_committed_once() {
    // Checks every 300 ms with nobody to answer them, and no give-up.
    let conf = "transaction_check_interval_ms: 300, transaction_timeout_ms: 300, \
                transaction_check_max: 1000, consumer_offset_flush_interval_ms: 100, ";
    let mut cluster = Cluster::start(conf);
    let c = support::client();
    let first = raw_half(&c, &cluster.broker.addr, "unknown-across-kill");
    wait_until("a few unanswered checks", || {
        cluster
            .admin
            .consumer_progress("CID_RMQ_SYS_TRANS", Some("RMQ_SYS_TRANS_HALF_TOPIC"))
            .is_ok_and(|p| p.queues.first().is_some_and(|q| q.consumer_offset >= 3))
    });
    c.shutdown();

    cluster.kill9_and_restart();
    let (l, checks) = listener(LocalTransactionState::Commit);
    let producer = cluster.producer(l);
    producer.producer().fetch_publish_queues(TOPIC).unwrap();
    wait_until("the check after the restart commits", || !cluster.visible().is_empty());
    assert!(checks.lock().unwrap().contains_key("unknown-across-kill"));
    // A late END for the first half message (an older copy) commits nothing more.
    let c = support::client();
    assert_eq!(end(&c, &cluster.broker.addr, GROUP, first.0, first.1, 8).code, 0);
    c.shutdown();
    let want: BTreeMap<String, usize> = [("unknown-across-kill".to_string(), 1)].into();
    assert_eq!(cluster.settled_visible(), want);
    producer.shutdown();
}

#[test]
fn a_producer_end_after_the_check_immunity_time_is_illegal_but_a_check_answer_is_taken() {
    let cluster = Cluster::start("");
    let c = support::client();
    let b = &cluster.broker.addr;
    let immune = [("CHECK_IMMUNITY_TIME_IN_SECONDS", "2")];
    let (phys, queue_offset) = raw_half_with(&c, b, "immune", &immune, 5_000);
    let r = end(&c, b, GROUP, phys, queue_offset, 8);
    assert_eq!(r.code, 604, "{r:?}");
    assert!(r.remark.as_deref().unwrap_or_default().contains("immunity"), "{r:?}");
    let h = EndTransactionRequestHeader {
        producer_group: GROUP.into(),
        tran_state_table_offset: queue_offset,
        commit_log_offset: phys,
        commit_or_rollback: 8,
        from_transaction_check: Some(true),
        msg_id: "immune".into(),
        transaction_id: None,
    };
    let cmd = |h: &EndTransactionRequestHeader| {
        RemotingCommand::request(RequestCode::EndTransaction.to_i32()).with_header(h)
    };
    assert_eq!(support::call(&c, b, cmd(&h)).code, 0);
    let want: BTreeMap<String, usize> = [("immune".to_string(), 1)].into();
    assert_eq!(cluster.settled_visible(), want);
    c.shutdown();
}
