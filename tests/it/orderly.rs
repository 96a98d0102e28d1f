//! Orderly consumption (issue #15) against the real `nameserver` and `broker` binaries: the
//! broker's queue locks in raw LOCK_BATCH_MQ / UNLOCK_BATCH_MQ frames, and the push consumer's
//! orderly listener (per-queue order, one consumer per queue at a time across rebalances,
//! suspend, dead letters, a killed consumer's queues taken over).

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq::client::{
    Admin, ConsumeFrom, ConsumeOrderlyStatus, Message, MessageExt, Producer, PushConsumer,
    PushConsumerBuilder, TopicSpec,
};
use rocketmq::net::{RemotingClient, RemotingCommand, RequestCode};
use rocketmq::protocol::body::queue::{LockBatchRequestBody, LockBatchResponseBody, MessageQueue};
use support::Proc;

const WAIT: Duration = Duration::from_secs(60);

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A nameserver and one broker with `conf` (extra RON fields).
struct Raw {
    broker: Proc,
    namesrv: Proc,
    _store: tempfile::TempDir,
}

impl Raw {
    fn start(conf: &str) -> Self {
        let store = tempfile::tempdir().unwrap();
        let namesrv = support::nameserver();
        let port = support::free_port();
        let broker = support::broker_with(port, &namesrv.addr, store.path(), "broker-a", conf, &[]);
        Self { broker, namesrv, _store: store }
    }
}

fn mqs(ids: &[i32]) -> Vec<MessageQueue> {
    ids.iter().map(|i| MessageQueue::new("LockTopic", "broker-a", *i)).collect()
}

fn lock_body(client_id: &str, ids: &[i32]) -> Vec<u8> {
    let body = LockBatchRequestBody {
        client_id: client_id.into(),
        consumer_group: "lock_group".into(),
        mq_set: mqs(ids),
        only_this_broker: false,
    };
    serde_json::to_vec(&body).unwrap()
}

/// LOCK_BATCH_MQ over `c`'s connection; the queue ids granted, sorted.
fn lock(c: &RemotingClient, broker: &str, client_id: &str, ids: &[i32]) -> Vec<i32> {
    let cmd = RemotingCommand::request(RequestCode::LockBatchMq.to_i32())
        .with_body(lock_body(client_id, ids));
    let r = support::call(c, broker, cmd);
    assert_eq!(r.code, 0, "lock: {:?}", r.remark);
    let body: LockBatchResponseBody = serde_json::from_slice(&r.body).unwrap();
    let mut got: Vec<i32> = body.lock_ok_mq_set.iter().map(|mq| mq.queue_id).collect();
    got.sort_unstable();
    got
}

fn unlock(c: &RemotingClient, broker: &str, client_id: &str, ids: &[i32]) {
    let cmd = RemotingCommand::request(RequestCode::UnlockBatchMq.to_i32())
        .with_body(lock_body(client_id, ids));
    let r = support::call(c, broker, cmd);
    assert_eq!(r.code, 0, "unlock: {:?}", r.remark);
}

/// Two clients on their own connections: the second gets exactly the queues the first does
/// not hold; unlock frees only the caller's own; a closed connection frees all of its locks.
#[test]
fn raw_lock_frames_grant_exactly_the_queues_another_client_does_not_hold() {
    let raw = Raw::start("");
    let addr = &raw.broker.addr;
    let (a, b) = (support::client(), support::client());
    assert_eq!(lock(&a, addr, "client-a", &[0, 1, 2]), vec![0, 1, 2]);
    assert_eq!(lock(&b, addr, "client-b", &[0, 1, 2, 3, 4, 5, 6, 7]), vec![3, 4, 5, 6, 7]);
    assert_eq!(lock(&a, addr, "client-a", &[0, 1, 2, 3]), vec![0, 1, 2], "renewal; 3 is b's");
    unlock(&b, addr, "client-b", &[0, 1]);
    assert_eq!(lock(&b, addr, "client-b", &[0, 1]), Vec::<i32>::new(), "b cannot unlock a's");
    unlock(&a, addr, "client-a", &[0]);
    assert_eq!(lock(&b, addr, "client-b", &[0, 1]), vec![0]);
    // a's connection closes: its remaining locks (1 and 2) are free at once.
    a.shutdown();
    wait_until("a's locks to be released", || lock(&b, addr, "client-b", &[1, 2]) == vec![1, 2]);
    let bad = RemotingCommand::request(RequestCode::LockBatchMq.to_i32()).with_body(b"{".to_vec());
    assert_ne!(support::call(&b, addr, bad).code, 0, "an unreadable body is refused");
}

/// A lock that is not renewed expires (here after 3 s): another client gets it then.
#[test]
fn an_unrenewed_lock_expires_and_goes_to_another_client() {
    let raw = Raw::start("rebalance_lock_max_live_ms: 3000, ");
    let addr = &raw.broker.addr;
    let (a, b) = (support::client(), support::client());
    assert_eq!(lock(&a, addr, "client-a", &[0]), vec![0]);
    assert_eq!(lock(&b, addr, "client-b", &[0]), Vec::<i32>::new(), "a's lock is live");
    wait_until("a's lock to expire", || lock(&b, addr, "client-b", &[0]) == vec![0]);
    assert_eq!(lock(&a, addr, "client-a", &[0]), Vec::<i32>::new(), "b holds it now");
}

/// A re-send to `%RETRY%<group>` of a group holding live queue locks (Java's orderly consumer
/// giving up on a message) goes straight to the DLQ; without locks it is a normal retry.
#[test]
fn a_retry_send_of_a_group_holding_locks_goes_to_the_dlq() {
    let raw = Raw::start("");
    let addr = &raw.broker.addr;
    let c = support::client();
    assert_eq!(lock(&c, addr, "client-a", &[0]), vec![0]);
    let r = support::send_v2(&c, addr, "%RETRY%lock_group", 0, b"gave-up", &[]);
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let dead = support::pull_n(&c, addr, "reader", "%DLQ%lock_group", 0, 0, 1);
    assert_eq!(dead[0].body, b"gave-up");
    unlock(&c, addr, "client-a", &[0]);
    let r = support::send_v2(&c, addr, "%RETRY%lock_group", 0, b"retry", &[]);
    assert_eq!(r.code, 0, "{:?}", r.remark);
    let retried = support::pull_n(&c, addr, "reader", "%RETRY%lock_group", 0, 0, 1);
    assert_eq!(retried[0].body, b"retry");
    let dead = support::pull_all(&c, addr, "reader", "%DLQ%lock_group", 0, 0);
    assert_eq!(dead.len(), 1, "without locks the DLQ gets nothing more");
}

// ---- the orderly push consumer ----

/// A nameserver and one broker, with an admin client.
struct Cluster {
    raw: Raw,
    admin: Admin,
}

impl Cluster {
    fn start() -> Self {
        let raw = Raw::start("");
        let admin = Admin::builder().name_server(&raw.namesrv.addr).build().unwrap();
        wait_until("the broker registers", || {
            admin.cluster_info().is_ok_and(|c| !c.broker_addr_table.is_empty())
        });
        Self { raw, admin }
    }

    fn ns(&self) -> &str {
        &self.raw.namesrv.addr
    }

    /// Creates `topic` with `queues` queues and waits until the nameserver routes it.
    fn topic(&self, topic: &str, queues: i32) {
        let spec = TopicSpec::new(topic).queues(queues).order(true);
        self.admin.create_topic_on_broker(&self.raw.broker.addr, &spec).unwrap();
        wait_until("the topic route", || {
            self.admin
                .topic_route(topic)
                .is_ok_and(|r| r.queue_datas.iter().any(|q| q.write_queue_nums == queues))
        });
    }

    fn producer(&self) -> Producer {
        Producer::builder().name_server(self.ns()).group("orderly_producer").build().unwrap()
    }

    fn push(&self, group: &str, instance: &str) -> PushConsumerBuilder {
        PushConsumer::builder()
            .name_server(self.ns())
            .group(group)
            .instance_name(instance)
            .consume_from(ConsumeFrom::FirstOffset)
            .threads(4)
            .shutdown_timeout(Duration::from_secs(10))
    }
}

fn body(m: &MessageExt) -> String {
    String::from_utf8_lossy(&m.body).into_owned()
}

/// `key:step` bodies.
fn key_step(text: &str) -> (String, usize) {
    let (key, step) = text.rsplit_once(':').unwrap();
    (key.to_string(), step.parse().unwrap())
}

/// One listener call's message, as the test saw it.
#[derive(Debug, Clone)]
struct Delivery {
    consumer: usize,
    queue_id: i32,
    key: String,
    step: usize,
    start: Instant,
    end: Instant,
}

type Deliveries = Arc<Mutex<Vec<Delivery>>>;

/// Starts `consumer` (number `id`) orderly on `topic`, recording every delivery.
fn record(consumer: &PushConsumer, id: usize, topic: &str, log: &Deliveries) {
    let log = Arc::clone(log);
    consumer.subscribe(topic, "*").unwrap();
    consumer
        .start_orderly(move |msgs, _ctx| {
            let start = Instant::now();
            let seen: Vec<(i32, String, usize)> = msgs
                .iter()
                .map(|m| {
                    let (key, step) = key_step(&body(m));
                    (m.queue_id, key, step)
                })
                .collect();
            // Simulated work, so that two calls of one queue overlapping would show in the
            // recorded intervals (this orders nothing).
            std::thread::sleep(Duration::from_millis(5));
            let end = Instant::now();
            let mut log = log.lock().unwrap();
            for (queue_id, key, step) in seen {
                log.push(Delivery { consumer: id, queue_id, key, step, start, end });
            }
            ConsumeOrderlyStatus::Success
        })
        .unwrap();
}

fn owned(c: &PushConsumer, topic: &str) -> usize {
    c.assignment().iter().filter(|q| q.topic == topic).count()
}

const KEYS: usize = 16;
const STEPS: usize = 40;
/// How far the sender may run ahead of the consumers.
const BACKLOG_MAX: usize = 40;

/// Checks the recorded deliveries: every key's steps, in the order they were consumed, go
/// 0, 1, 2, … with no gap, inversion or repeat, whichever consumer had the queue; and no two
/// listener calls of one queue overlapped in time, within or across consumers.
fn check_order_and_exclusion(log: &[Delivery]) {
    let mut by_key: BTreeMap<&str, Vec<&Delivery>> = BTreeMap::new();
    let mut by_queue: BTreeMap<i32, Vec<&Delivery>> = BTreeMap::new();
    for d in log {
        by_key.entry(&d.key).or_default().push(d);
        by_queue.entry(d.queue_id).or_default().push(d);
    }
    assert_eq!(by_key.len(), KEYS, "every key was consumed");
    for (key, ds) in &mut by_key {
        ds.sort_by_key(|d| (d.start, d.step));
        let steps: Vec<(usize, usize)> = ds.iter().map(|d| (d.consumer, d.step)).collect();
        let want: Vec<usize> = (0..STEPS).collect();
        let got: Vec<usize> = steps.iter().map(|(_, s)| *s).collect();
        assert_eq!(got, want, "{key}: (consumer, step) in consume order: {steps:?}");
    }
    for (queue, ds) in &mut by_queue {
        ds.sort_by_key(|d| d.start);
        for pair in ds.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let same_call = a.consumer == b.consumer && a.start == b.start && a.end == b.end;
            assert!(
                same_call || a.end <= b.start,
                "queue {queue}: consumer {} ran {}:{} while consumer {} ran {}:{}",
                a.consumer,
                a.key,
                a.step,
                b.consumer,
                b.key,
                b.step
            );
        }
    }
}

/// Three consumers of one group consume orderly while a fourth joins and one leaves
/// mid-stream: each key's messages are consumed in send order with no gap or repeat, and a
/// queue is never consumed by two consumers at the same moment.
#[test]
fn per_key_order_holds_across_three_consumers_while_one_joins_and_one_leaves() {
    let cluster = Cluster::start();
    let topic = "OrderlyTopic";
    cluster.topic(topic, 8);
    let log: Deliveries = Arc::default();
    let group = "orderly_group";
    let consumers: Vec<PushConsumer> = (0..3)
        .map(|i| {
            let c = cluster.push(group, &format!("c{i}")).build().unwrap();
            record(&c, i, topic, &log);
            c
        })
        .collect();
    wait_until("three consumers own all eight queues", || {
        consumers.iter().map(|c| owned(c, topic)).sum::<usize>() == 8
            && consumers.iter().all(|c| owned(c, topic) >= 2)
    });
    let delivered = || log.lock().unwrap().len();
    let producer = Arc::new(cluster.producer());
    let sender = {
        let (producer, log) = (Arc::clone(&producer), Arc::clone(&log));
        std::thread::spawn(move || {
            for step in 0..STEPS {
                for k in 0..KEYS {
                    let key = format!("key{k}");
                    let msg = Message::new(topic, format!("{key}:{step}"));
                    producer.send_orderly(&msg, &key).unwrap();
                    let sent = step * KEYS + k + 1;
                    wait_until("the consumers to catch up", || {
                        log.lock().unwrap().len() + BACKLOG_MAX > sent
                    });
                }
            }
        })
    };
    let total = KEYS * STEPS;
    wait_until("a quarter consumed", || delivered() >= total / 4);
    let joiner = cluster.push(group, "c3").build().unwrap();
    record(&joiner, 3, topic, &log);
    wait_until("the joiner takes its share", || owned(&joiner, topic) == 2);
    let at_join = delivered();
    wait_until("consumption goes on after the join", || delivered() >= at_join + total / 8);
    consumers[0].shutdown();
    let rest = [&consumers[1], &consumers[2], &joiner];
    wait_until("the others take the leaver's queues", || {
        rest.iter().map(|c| owned(c, topic)).sum::<usize>() == 8
    });
    sender.join().unwrap();
    wait_until("every message consumed", || delivered() >= total);
    let log = log.lock().unwrap().clone();
    check_order_and_exclusion(&log);
    let by: BTreeSet<usize> = log.iter().map(|d| d.consumer).collect();
    assert_eq!(by, BTreeSet::from([0, 1, 2, 3]), "every consumer took part");
}

/// What a listener saw of one message: body, re-consume count, when.
type Seen = Arc<Mutex<Vec<(String, i32, Instant)>>>;

fn seen_of(seen: &Seen, text: &str) -> Vec<(i32, Instant)> {
    seen.lock().unwrap().iter().filter(|(b, _, _)| b == text).map(|(_, r, t)| (*r, *t)).collect()
}

/// SuspendCurrentQueueAMoment re-delivers the same message after the suspend time and holds
/// back the later messages of its queue only: the other queue is consumed meanwhile.
#[test]
fn suspend_redelivers_the_same_message_and_blocks_only_its_queue() {
    let cluster = Cluster::start();
    let topic = "SuspendTopic";
    cluster.topic(topic, 2);
    let producer = cluster.producer();
    let q = |id| rocketmq::client::MessageQueue::new(topic, "broker-a", id);
    for text in ["q0:0", "q0:1"] {
        producer.send_to_queue(&Message::new(topic, text), &q(0)).unwrap();
    }
    for i in 0..5 {
        producer.send_to_queue(&Message::new(topic, format!("q1:{i}")), &q(1)).unwrap();
    }
    let suspend = Duration::from_millis(300);
    let consumer =
        cluster.push("suspend_group", "s0").suspend_current_queue_time(suspend).build().unwrap();
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    consumer.subscribe(topic, "*").unwrap();
    consumer
        .start_orderly(move |msgs, _ctx| {
            let mut seen = sink.lock().unwrap();
            let other_queue_done = seen.iter().filter(|(b, _, _)| b.starts_with("q1:")).count();
            for m in msgs {
                seen.push((body(m), m.reconsume_times, Instant::now()));
            }
            // q0:0 is refused until all of q1 was consumed: q1 must not wait for q0.
            if msgs.iter().any(|m| body(m) == "q0:0") && other_queue_done < 5 {
                return ConsumeOrderlyStatus::SuspendCurrentQueueAMoment;
            }
            ConsumeOrderlyStatus::Success
        })
        .unwrap();
    wait_until("q0:1 consumed", || !seen_of(&seen, "q0:1").is_empty());
    let first = seen_of(&seen, "q0:0");
    assert!(first.len() >= 2, "q0:0 was suspended at least once: {first:?}");
    let counts: Vec<i32> = first.iter().map(|(r, _)| *r).collect();
    assert_eq!(counts, (0..).take(first.len()).collect::<Vec<i32>>(), "re-consume counts");
    for pair in first.windows(2) {
        assert!(pair[1].1 - pair[0].1 >= suspend, "redelivered before the suspend time");
    }
    let last_q0_0 = first.last().unwrap().1;
    let next = seen_of(&seen, "q0:1");
    assert_eq!(next.len(), 1, "q0:1 once");
    assert!(next[0].1 > last_q0_0, "q0:1 waited for q0:0");
    for i in 0..5 {
        let other = seen_of(&seen, &format!("q1:{i}"));
        assert_eq!(other.len(), 1, "q1:{i} once");
        assert!(other[0].1 < last_q0_0, "q1:{i} was consumed while q0 was suspended");
    }
}

/// Past `max_reconsume_times` suspensions a message goes to the group's DLQ (the broker's
/// rule for groups holding locks) and the queue moves on.
#[test]
fn a_message_suspended_past_max_reconsume_times_goes_to_the_dlq() {
    let cluster = Cluster::start();
    let topic = "OrderlyDlqTopic";
    cluster.topic(topic, 1);
    let producer = cluster.producer();
    for text in ["poison", "after"] {
        producer.send(&Message::new(topic, text)).unwrap();
    }
    let group = "orderly_dlq_group";
    let consumer = cluster
        .push(group, "d0")
        .max_reconsume_times(2)
        .suspend_current_queue_time(Duration::from_millis(50))
        .build()
        .unwrap();
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    consumer.subscribe(topic, "*").unwrap();
    consumer
        .start_orderly(move |msgs, _ctx| {
            let mut seen = sink.lock().unwrap();
            for m in msgs {
                seen.push((body(m), m.reconsume_times, Instant::now()));
            }
            if msgs.iter().any(|m| body(m) == "poison") {
                return ConsumeOrderlyStatus::SuspendCurrentQueueAMoment;
            }
            ConsumeOrderlyStatus::Success
        })
        .unwrap();
    wait_until("the message after the poison", || !seen_of(&seen, "after").is_empty());
    let counts: Vec<i32> = seen_of(&seen, "poison").iter().map(|(r, _)| *r).collect();
    assert_eq!(counts, vec![0, 1, 2], "delivered until max_reconsume_times, then given up");
    let c = support::client();
    let dlq = format!("%DLQ%{group}");
    let dead = support::pull_n(&c, &cluster.raw.broker.addr, "dlq_reader", &dlq, 0, 0, 1);
    assert_eq!(dead.iter().map(body).collect::<Vec<_>>(), vec!["poison"]);
    let retry = format!("%RETRY%{group}");
    let retried = support::pull_all(&c, &cluster.raw.broker.addr, "dlq_reader", &retry, 0, 0);
    assert!(retried.is_empty(), "an orderly group's give-up skips the retry topic");
}

/// Set (to the nameserver address) in the child process of the kill -9 test.
const CHILD_ENV: &str = "RMQ_ORDERLY_CHILD_NAMESRV";
const KILL_TOPIC: &str = "KillTopic";
const KILL_GROUP: &str = "orderly_kill_group";

/// The consumer the kill -9 test kills: it does nothing unless run as that test's child
/// process, where it consumes orderly, prints each body it consumed and `boot success` once it
/// holds every queue, and then waits to be killed.
#[test]
fn orderly_kill9_child() {
    let Ok(namesrv) = std::env::var(CHILD_ENV) else { return };
    let consumer = PushConsumer::builder()
        .name_server(&namesrv)
        .group(KILL_GROUP)
        .instance_name("victim")
        .consume_from(ConsumeFrom::FirstOffset)
        .build()
        .unwrap();
    consumer.subscribe(KILL_TOPIC, "*").unwrap();
    consumer
        .start_orderly(|msgs, _ctx| {
            for m in msgs {
                println!("consumed {}", body(m));
            }
            ConsumeOrderlyStatus::Success
        })
        .unwrap();
    wait_until("the victim owns every queue", || owned(&consumer, KILL_TOPIC) == 4);
    println!("boot success");
    loop {
        std::thread::park();
    }
}

/// A consumer killed with kill -9 while holding queue locks: its broker connection closes,
/// the broker frees its locks, and the surviving member takes its queues; nothing is lost,
/// and the survivor still consumes each key in order.
#[test]
fn a_killed_consumers_queues_are_taken_over_without_loss() {
    let cluster = Cluster::start();
    cluster.topic(KILL_TOPIC, 4);
    let exe = std::env::current_exe().unwrap();
    let args: Vec<String> = ["orderly::orderly_kill9_child", "--exact", "--nocapture"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut victim = support::spawn_with_env(
        exe.to_str().unwrap(),
        &args,
        String::new(),
        &[(CHILD_ENV, cluster.ns())],
    );
    let log: Deliveries = Arc::default();
    let survivor = cluster.push(KILL_GROUP, "survivor").build().unwrap();
    record(&survivor, 1, KILL_TOPIC, &log);
    wait_until("the survivor gets half the queues", || owned(&survivor, KILL_TOPIC) == 2);
    let producer = cluster.producer();
    let mut sent = BTreeSet::new();
    for step in 0..STEPS {
        for k in 0..KEYS {
            let key = format!("key{k}");
            let text = format!("{key}:{step}");
            producer.send_orderly(&Message::new(KILL_TOPIC, text.as_str()), &key).unwrap();
            sent.insert(text);
        }
    }
    let mut by_victim = BTreeSet::new();
    let drain = |victim: &Proc, into: &mut BTreeSet<String>| {
        while let Ok(line) = victim.lines.try_recv() {
            if let Some(text) = line.strip_prefix("consumed ") {
                into.insert(text.to_string());
            }
        }
    };
    wait_until("the victim consumes", || {
        drain(&victim, &mut by_victim);
        by_victim.len() >= 20
    });
    victim.kill9();
    drain(&victim, &mut by_victim);
    wait_until("the survivor takes every queue", || owned(&survivor, KILL_TOPIC) == 4);
    wait_until("every message consumed by one of them", || {
        let log = log.lock().unwrap();
        let mut all: BTreeSet<String> = by_victim.clone();
        all.extend(log.iter().map(|d| format!("{}:{}", d.key, d.step)));
        sent.is_subset(&all)
    });
    let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut log = log.lock().unwrap().clone();
    log.sort_by_key(|d| d.start);
    for d in &log {
        by_key.entry(d.key.clone()).or_default().push(d.step);
    }
    for (key, steps) in by_key {
        assert!(steps.windows(2).all(|w| w[0] < w[1]), "{key}: the survivor's order {steps:?}");
    }
}

/// Broadcasting + orderly takes no broker locks: the consumer gets every message in order,
/// and a raw client of the same group is then granted every queue.
#[test]
fn broadcasting_orderly_consumes_in_order_without_taking_locks() {
    let cluster = Cluster::start();
    let topic = "BroadcastOrderlyTopic";
    cluster.topic(topic, 2);
    let producer = cluster.producer();
    for step in 0..10 {
        for k in 0..2 {
            let key = format!("key{k}");
            producer.send_orderly(&Message::new(topic, format!("{key}:{step}")), &key).unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let group = "broadcast_orderly_group";
    let consumer = cluster
        .push(group, "b0")
        .message_model(rocketmq::client::MessageModel::Broadcasting)
        .offset_store_dir(dir.path())
        .build()
        .unwrap();
    let log: Deliveries = Arc::default();
    record(&consumer, 0, topic, &log);
    wait_until("every message", || log.lock().unwrap().len() >= 20);
    let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for d in log.lock().unwrap().iter() {
        by_key.entry(d.key.clone()).or_default().push(d.step);
    }
    for (key, steps) in by_key {
        assert_eq!(steps, (0..10).collect::<Vec<_>>(), "{key}");
    }
    let c = support::client();
    let body = LockBatchRequestBody {
        client_id: "raw".into(),
        consumer_group: group.into(),
        mq_set: (0..2).map(|i| MessageQueue::new(topic, "broker-a", i)).collect(),
        only_this_broker: false,
    };
    let cmd = RemotingCommand::request(RequestCode::LockBatchMq.to_i32())
        .with_body(serde_json::to_vec(&body).unwrap());
    let r = support::call(&c, &cluster.raw.broker.addr, cmd);
    let granted: LockBatchResponseBody = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(granted.lock_ok_mq_set.len(), 2, "the broadcasting consumer held no lock");
}

/// GET_CONSUMER_RUNNING_INFO sent to the broker reaches the consumer named: an orderly one
/// reports PROP_CONSUMEORDERLY true and its queues locked, a concurrent one false.
#[test]
fn running_info_through_the_broker_shows_the_group_as_orderly() {
    use rocketmq::protocol::header::client::GetConsumerRunningInfoRequestHeader;
    let cluster = Cluster::start();
    let topic = "InfoTopic";
    cluster.topic(topic, 2);
    let orderly = cluster.push("info_orderly", "o0").build().unwrap();
    record(&orderly, 0, topic, &Deliveries::default());
    let concurrent = cluster.push("info_concurrent", "c0").build().unwrap();
    concurrent.subscribe(topic, "*").unwrap();
    concurrent.start(|_, _| rocketmq::client::ConsumeStatus::Success).unwrap();
    wait_until("both own the queues", || {
        owned(&orderly, topic) == 2 && owned(&concurrent, topic) == 2
    });
    let c = support::client();
    let info = |group: &str, consumer: &PushConsumer| {
        let h = GetConsumerRunningInfoRequestHeader {
            consumer_group: group.into(),
            client_id: consumer.client_id().unwrap(),
            jstack_enable: Some(false),
        };
        let cmd =
            RemotingCommand::request(RequestCode::GetConsumerRunningInfo.to_i32()).with_header(&h);
        let r = support::call(&c, &cluster.raw.broker.addr, cmd);
        assert_eq!(r.code, 0, "{:?}", r.remark);
        String::from_utf8(r.body).unwrap()
    };
    let body = info("info_orderly", &orderly);
    assert!(body.contains(r#""PROP_CONSUMEORDERLY":"true""#), "{body}");
    assert!(body.contains(r#""locked":true"#) && !body.contains(r#""locked":false"#), "{body}");
    let body = info("info_concurrent", &concurrent);
    assert!(body.contains(r#""PROP_CONSUMEORDERLY":"false""#), "{body}");
    let h = GetConsumerRunningInfoRequestHeader {
        consumer_group: "info_orderly".into(),
        client_id: "nobody".into(),
        jstack_enable: None,
    };
    let cmd =
        RemotingCommand::request(RequestCode::GetConsumerRunningInfo.to_i32()).with_header(&h);
    let r = support::call(&c, &cluster.raw.broker.addr, cmd);
    assert_ne!(r.code, 0, "an unknown client id is refused");
}
