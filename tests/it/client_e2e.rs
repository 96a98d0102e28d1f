//! End-to-end tests of `rocketmq::client` against the real `nameserver` and `broker` binaries
//! (issue #5). Each test starts its own nameserver and broker on free ports with a temp store.

use crate::support;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rocketmq::client::{
    Admin, ClientError, ConsumeFrom, ConsumeStatus, Message, MessageExt, MessageModel,
    MessageQueue, Producer, PullConsumer, PushConsumer, SubscriptionGroupConfig, TopicSpec,
};
use support::Proc;

const WAIT: Duration = Duration::from_secs(30);

/// A nameserver and one broker (`broker-a` in `DefaultCluster`).
struct Cluster {
    broker: Proc,
    namesrv: Proc,
    _store: tempfile::TempDir,
    admin: Admin,
}

impl Cluster {
    fn start(extra: &[&str]) -> Self {
        let store = tempfile::tempdir().unwrap();
        let namesrv = support::nameserver();
        let broker = support::broker(&namesrv.addr, store.path(), extra);
        let admin = Admin::builder().name_server(&namesrv.addr).build().unwrap();
        wait_until("the broker registers", || {
            admin.cluster_info().is_ok_and(|c| !c.broker_addr_table.is_empty())
        });
        Self { broker, namesrv, _store: store, admin }
    }

    fn ns(&self) -> &str {
        &self.namesrv.addr
    }

    /// Creates `topic` with `queues` queues and waits until the nameserver routes it.
    fn topic(&self, topic: &str, queues: i32) {
        self.admin
            .create_topic_on_broker(&self.broker.addr, &TopicSpec::new(topic).queues(queues))
            .unwrap();
        wait_until("the topic route", || {
            self.admin
                .topic_route(topic)
                .is_ok_and(|r| r.queue_datas.iter().any(|q| q.write_queue_nums == queues))
        });
    }

    fn producer(&self) -> Producer {
        Producer::builder().name_server(self.ns()).group("test_producer").build().unwrap()
    }

    fn push(&self, group: &str) -> rocketmq::client::PushConsumerBuilder {
        PushConsumer::builder()
            .name_server(self.ns())
            .group(group)
            .consume_from(ConsumeFrom::FirstOffset)
            .threads(4)
            .shutdown_timeout(Duration::from_secs(10))
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Per body: (topic seen by the listener, reconsume times) of each delivery.
type Deliveries = Arc<Mutex<BTreeMap<String, Vec<(String, i32)>>>>;

/// Bodies received per consumer, counted.
type Received = Arc<Mutex<HashMap<String, usize>>>;

fn body(m: &MessageExt) -> String {
    String::from_utf8_lossy(&m.body).into_owned()
}

/// Starts `consumer` on `topic`, counting bodies into the returned map.
fn collect(consumer: &PushConsumer, topic: &str) -> Received {
    collect_counted(consumer, topic, &Arc::default())
}

/// [`collect`], also adding every delivery to `deliveries` (shared between consumers).
fn collect_counted(
    consumer: &PushConsumer,
    topic: &str,
    deliveries: &Arc<AtomicUsize>,
) -> Received {
    let received: Received = Arc::default();
    let (sink, deliveries) = (Arc::clone(&received), Arc::clone(deliveries));
    consumer.subscribe(topic, "*").unwrap();
    consumer
        .start(move |msgs, _| {
            let mut seen = sink.lock().unwrap();
            for m in msgs {
                *seen.entry(body(m)).or_default() += 1;
            }
            deliveries.fetch_add(msgs.len(), Ordering::AcqRel);
            ConsumeStatus::Success
        })
        .unwrap();
    received
}

fn keys(received: &Received) -> BTreeSet<String> {
    received.lock().unwrap().keys().cloned().collect()
}

fn all_queues(topic: &str, n: i32) -> BTreeSet<MessageQueue> {
    (0..n).map(|i| MessageQueue::new(topic, "broker-a", i)).collect()
}

#[test]
fn every_send_mode_delivers_every_message_exactly_once() {
    let cluster = Cluster::start(&[]);
    cluster.topic("ModesTopic", 4);
    let consumer = cluster.push("modes_group").build().unwrap();
    let received = collect(&consumer, "ModesTopic");
    let producer = cluster.producer();
    let mut expected = BTreeSet::new();
    let mut msg = |mode: &str, i: usize| {
        let body = format!("{mode}-{i}");
        expected.insert(body.clone());
        Message::new("ModesTopic", body).with_tags("TagA").with_keys([format!("{mode}{i}")])
    };
    for i in 0..10 {
        producer.send(&msg("sync", i)).unwrap();
    }
    let async_ok = Arc::new(AtomicUsize::new(0));
    for i in 0..10 {
        let ok = Arc::clone(&async_ok);
        producer
            .send_async(msg("async", i), move |r| {
                r.unwrap();
                ok.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
    }
    for i in 0..10 {
        producer.send_oneway(&msg("oneway", i)).unwrap();
    }
    let batch: Vec<Message> = (0..10).map(|i| msg("batch", i)).collect();
    let r = producer.send_batch(&batch).unwrap();
    assert_eq!(r.msg_id.split(',').count(), 10);
    for i in 0..10 {
        producer.send_orderly(&msg("orderly", i), &format!("key-{}", i % 3)).unwrap();
    }
    let mq = MessageQueue::new("ModesTopic", "broker-a", 2);
    for i in 0..5 {
        let r = producer.send_to_queue(&msg("queue", i), &mq).unwrap();
        assert_eq!(r.queue, mq);
    }
    for i in 0..5 {
        let r = producer.send_with_selector(&msg("selector", i), |qs, _| qs[1].clone()).unwrap();
        assert_eq!(r.queue.queue_id, 1);
    }
    assert!(producer.flush(WAIT));
    assert_eq!(async_ok.load(Ordering::SeqCst), 10);
    wait_until("every message", || keys(&received) == expected);
    // Shutdown lets the listeners finish everything already pulled, so any duplicate that was
    // on its way has arrived when it returns.
    consumer.shutdown();
    let dups: Vec<_> = received
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, n)| **n != 1)
        .map(|(b, n)| (b.clone(), *n))
        .collect();
    assert!(dups.is_empty(), "delivered more than once: {dups:?}");
    producer.shutdown();
}

#[test]
fn ten_thousand_async_sends_are_all_accounted_for() {
    let cluster = Cluster::start(&[]);
    cluster.topic("AsyncTopic", 4);
    let producer = Producer::builder()
        .name_server(cluster.ns())
        .group("async_producer")
        .max_async_in_flight(512)
        .send_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let ids = Arc::new(Mutex::new(HashSet::new()));
    for i in 0..10_000 {
        let (ok, failed, ids) = (Arc::clone(&ok), Arc::clone(&failed), Arc::clone(&ids));
        let msg = Message::new("AsyncTopic", format!("async-{i}"));
        producer
            .send_async(msg, move |r| match r {
                Ok(r) => {
                    ids.lock().unwrap().insert(r.msg_id);
                    ok.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => {
                    eprintln!("async send failed: {e}");
                    failed.fetch_add(1, Ordering::SeqCst);
                }
            })
            .unwrap();
        assert!(producer.async_in_flight() <= 512);
    }
    assert!(producer.flush(Duration::from_secs(60)), "async sends still in flight");
    assert_eq!((ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst)), (10_000, 0));
    assert_eq!(ids.lock().unwrap().len(), 10_000, "every message has its own id");
    wait_until("the broker counts 10,000 messages", || {
        let stats = cluster.admin.topic_stats("AsyncTopic").unwrap();
        stats.values().map(|o| o.max_offset - o.min_offset).sum::<i64>() == 10_000
    });
    producer.shutdown();
}

#[test]
fn two_consumers_in_one_group_split_the_queues_and_get_everything() {
    let cluster = Cluster::start(&[]);
    cluster.topic("SplitTopic", 4);
    let a = cluster.push("split_group").build().unwrap();
    let b = cluster.push("split_group").build().unwrap();
    let got_a = collect(&a, "SplitTopic");
    let got_b = collect(&b, "SplitTopic");
    let owned = |c: &PushConsumer| -> BTreeSet<MessageQueue> {
        c.assignment().into_iter().filter(|q| q.topic == "SplitTopic").collect()
    };
    wait_until("a disjoint split of all queues", || {
        let (qa, qb) = (owned(&a), owned(&b));
        qa.len() == 2
            && qb.len() == 2
            && qa.union(&qb).cloned().collect::<BTreeSet<_>>() == all_queues("SplitTopic", 4)
    });
    let producer = cluster.producer();
    let expected: BTreeSet<String> = (0..100).map(|i| format!("split-{i}")).collect();
    for b in &expected {
        producer.send(&Message::new("SplitTopic", b.as_str())).unwrap();
    }
    wait_until("everything across the two", || {
        keys(&got_a).union(&keys(&got_b)).cloned().collect::<BTreeSet<_>>() == expected
    });
    assert!(!keys(&got_a).is_empty() && !keys(&got_b).is_empty(), "both consumers got a share");
    assert!(keys(&got_a).is_disjoint(&keys(&got_b)), "no message went to both");
}

/// Upper bound of the rebalance test's sender, which normally stops when told.
const SENDS_MAX: usize = 100_000;
/// How far the rebalance test's sender may run ahead of the deliveries.
const BACKLOG_MAX: usize = 100;

#[test]
fn a_consumer_joining_or_leaving_rebalances_without_loss() {
    let cluster = Cluster::start(&[]);
    cluster.topic("RebalanceTopic", 4);
    let a = cluster.push("rebalance_group").build().unwrap();
    let delivered = Arc::new(AtomicUsize::new(0));
    let got_a = collect_counted(&a, "RebalanceTopic", &delivered);
    wait_until("a owns every queue", || {
        a.assignment().iter().filter(|q| q.topic == "RebalanceTopic").count() == 4
    });
    // Messages keep flowing through every step: a alone, a and b, b alone. The sender stays
    // at most BACKLOG_MAX deliveries ahead of the consumers, so the backlog stays small.
    let producer = Arc::new(cluster.producer());
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (producer, stop) = (Arc::clone(&producer), Arc::clone(&stop));
        let delivered = Arc::clone(&delivered);
        std::thread::spawn(move || {
            let mut sent = BTreeSet::new();
            for i in 0..SENDS_MAX {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                let b = format!("rebalance-{i}");
                producer.send(&Message::new("RebalanceTopic", b.as_str())).unwrap();
                sent.insert(b);
                wait_until("the consumers to catch up", || {
                    delivered.load(Ordering::Acquire) + BACKLOG_MAX > sent.len()
                });
            }
            sent
        })
    };
    let count = |got: &Received| got.lock().unwrap().len();
    wait_until("a consumes while alone", || count(&got_a) >= 20);
    let b = cluster.push("rebalance_group").build().unwrap();
    let got_b = collect_counted(&b, "RebalanceTopic", &delivered);
    wait_until("b joins and takes half", || {
        b.assignment().iter().filter(|q| q.topic == "RebalanceTopic").count() == 2
    });
    assert_eq!(a.assignment().iter().filter(|q| q.topic == "RebalanceTopic").count(), 2);
    let a_at_split = count(&got_a);
    wait_until("both consume after the split", || {
        count(&got_b) >= 10 && count(&got_a) >= a_at_split + 10
    });
    a.shutdown();
    wait_until("b takes over every queue", || {
        b.assignment().iter().filter(|q| q.topic == "RebalanceTopic").count() == 4
    });
    let b_alone = count(&got_b);
    wait_until("b consumes alone", || count(&got_b) >= b_alone + 20);
    stop.store(true, Ordering::Release);
    let sent = sender.join().unwrap();
    wait_until("every message, across both consumers", || {
        keys(&got_a).union(&keys(&got_b)).cloned().collect::<BTreeSet<_>>() == sent
    });
}

/// One pull thread serves sixteen queues: each queue's long poll waits on the broker, not on
/// the thread, so a message on any queue is delivered while the others are parked.
#[test]
fn one_pull_thread_serves_many_long_polling_queues() {
    let cluster = Cluster::start(&[]);
    cluster.topic("ManyQueuesTopic", 16);
    let consumer = cluster.push("many_queues_group").pull_threads(1).build().unwrap();
    let got = collect(&consumer, "ManyQueuesTopic");
    wait_until("all sixteen queues assigned", || {
        consumer.assignment().iter().filter(|q| q.topic == "ManyQueuesTopic").count() == 16
    });
    let producer = cluster.producer();
    let mut expected = BTreeSet::new();
    for round in 0..3 {
        for q in (0..16).rev() {
            let b = format!("many-{round}-{q}");
            let mq = MessageQueue::new("ManyQueuesTopic", "broker-a", q);
            producer.send_to_queue(&Message::new("ManyQueuesTopic", b.as_str()), &mq).unwrap();
            expected.insert(b);
        }
        wait_until("every message of the round", || keys(&got).is_superset(&expected));
    }
    consumer.shutdown();
    assert_eq!(keys(&got), expected);
    let progress =
        cluster.admin.consumer_progress("many_queues_group", Some("ManyQueuesTopic")).unwrap();
    assert_eq!(progress.total_lag(), 0, "shutdown committed everything: {progress:?}");
}

#[test]
fn ordered_send_keeps_per_key_order() {
    let cluster = Cluster::start(&[]);
    cluster.topic("OrderTopic", 4);
    let producer = cluster.producer();
    let mut queue_of_key: HashMap<String, MessageQueue> = HashMap::new();
    for step in 0..20 {
        for k in 0..5 {
            let key = format!("order-{k}");
            let r = producer
                .send_orderly(&Message::new("OrderTopic", format!("{key}:{step}")), &key)
                .unwrap();
            let q = queue_of_key.entry(key).or_insert_with(|| r.queue.clone());
            assert_eq!(*q, r.queue, "one key, one queue");
        }
    }
    let consumer = PullConsumer::builder()
        .name_server(cluster.ns())
        .group("order_reader")
        .consume_from(ConsumeFrom::FirstOffset)
        .build()
        .unwrap();
    consumer.assign(&all_queues("OrderTopic", 4).into_iter().collect::<Vec<_>>()).unwrap();
    let mut next: HashMap<String, usize> = HashMap::new();
    let mut seen = 0;
    let deadline = Instant::now() + WAIT;
    while seen < 100 {
        assert!(Instant::now() < deadline, "read only {seen} of 100");
        for m in consumer.poll(Duration::from_millis(500)).unwrap() {
            let text = body(&m);
            let (key, step) = text.rsplit_once(':').unwrap();
            let expected = next.entry(key.to_string()).or_insert(0);
            assert_eq!(step.parse::<usize>().unwrap(), *expected, "order of {key}");
            *expected += 1;
            seen += 1;
        }
    }
}

#[test]
fn broadcasting_delivers_every_message_to_each_consumer() {
    let cluster = Cluster::start(&[]);
    cluster.topic("BroadcastTopic", 2);
    let offsets = tempfile::tempdir().unwrap();
    let consumer = |name: &str| {
        cluster
            .push("broadcast_group")
            .instance_name(name)
            .message_model(MessageModel::Broadcasting)
            .offset_store_dir(offsets.path())
            .build()
            .unwrap()
    };
    let (a, b) = (consumer("bc-a"), consumer("bc-b"));
    let (got_a, got_b) = (collect(&a, "BroadcastTopic"), collect(&b, "BroadcastTopic"));
    wait_until("both own both queues", || a.assignment().len() == 2 && b.assignment().len() == 2);
    let producer = cluster.producer();
    let expected: BTreeSet<String> = (0..20).map(|i| format!("bc-{i}")).collect();
    for m in &expected {
        producer.send(&Message::new("BroadcastTopic", m.as_str())).unwrap();
    }
    wait_until("each consumer gets everything", || {
        keys(&got_a) == expected && keys(&got_b) == expected
    });
    a.shutdown();
    let files: Vec<_> =
        walk(offsets.path()).into_iter().filter(|p| p.ends_with("offsets.json")).collect();
    assert!(!files.is_empty(), "broadcasting offsets are kept in a local file");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn offsets_resume_after_a_consumer_restart() {
    let cluster = Cluster::start(&[]);
    cluster.topic("ResumeTopic", 2);
    let producer = cluster.producer();
    let first: BTreeSet<String> = (0..20).map(|i| format!("first-{i}")).collect();
    for m in &first {
        producer.send(&Message::new("ResumeTopic", m.as_str())).unwrap();
    }
    let c1 = cluster.push("resume_group").build().unwrap();
    let got1 = collect(&c1, "ResumeTopic");
    wait_until("the first batch", || keys(&got1) == first);
    c1.shutdown();
    let progress = cluster.admin.consumer_progress("resume_group", Some("ResumeTopic")).unwrap();
    assert_eq!(progress.total_lag(), 0, "shutdown committed everything: {progress:?}");
    let second: BTreeSet<String> = (0..10).map(|i| format!("second-{i}")).collect();
    for m in &second {
        producer.send(&Message::new("ResumeTopic", m.as_str())).unwrap();
    }
    let c2 = cluster.push("resume_group").build().unwrap();
    let got2 = collect(&c2, "ResumeTopic");
    wait_until("the second batch", || keys(&got2).is_superset(&second));
    // Shutdown drains what was pulled: a re-delivery of the first batch would be in by now.
    c2.shutdown();
    assert!(keys(&got2).is_disjoint(&first), "nothing consumed before the restart came again");
    assert_eq!(keys(&got2), second);
}

/// An admin offset reset reaches the live consumer (RESET_CONSUMER_CLIENT_OFFSET): it releases
/// the queues, adopts the new offsets and consumes everything again from there.
#[test]
fn a_live_push_consumer_follows_an_offset_reset() {
    let cluster = Cluster::start(&[]);
    cluster.topic("ResetTopic", 2);
    let producer = cluster.producer();
    let sent: BTreeSet<String> = (0..10).map(|i| format!("reset-{i}")).collect();
    for m in &sent {
        producer.send(&Message::new("ResetTopic", m.as_str())).unwrap();
    }
    let consumer = cluster.push("reset_group").build().unwrap();
    let got = collect(&consumer, "ResetTopic");
    wait_until("the first pass", || keys(&got) == sent);
    let reset =
        cluster.admin.reset_offset_by_time("reset_group", "ResetTopic", UNIX_EPOCH, true).unwrap();
    assert!(!reset.is_empty() && reset.values().all(|o| *o == 0), "{reset:?}");
    wait_until("every message a second time", || {
        let seen = got.lock().unwrap();
        seen.len() == sent.len() && seen.values().all(|n| *n >= 2)
    });
    wait_until("both queues assigned again", || {
        consumer.assignment().iter().filter(|q| q.topic == "ResetTopic").count() == 2
    });
    consumer.shutdown();
    assert_eq!(keys(&got), sent);
}

#[test]
fn reconsume_later_redelivers_through_the_retry_topic() {
    let cluster = Cluster::start(&[]);
    cluster.topic("RetryTopic", 2);
    let consumer = cluster.push("retry_group").build().unwrap();
    let deliveries: Deliveries = Arc::default();
    let sink = Arc::clone(&deliveries);
    consumer.subscribe("RetryTopic", "*").unwrap();
    consumer
        .start(move |msgs, ctx| {
            let mut seen = sink.lock().unwrap();
            let mut status = ConsumeStatus::Success;
            for m in msgs {
                let history = seen.entry(body(m)).or_default();
                history.push((m.topic.clone(), m.reconsume_times));
                if history.len() == 1 {
                    ctx.set_delay_level(1);
                    status = ConsumeStatus::ReconsumeLater;
                }
            }
            status
        })
        .unwrap();
    let producer = cluster.producer();
    for i in 0..5 {
        producer.send(&Message::new("RetryTopic", format!("retry-{i}"))).unwrap();
    }
    wait_until("every message twice", || {
        let seen = deliveries.lock().unwrap();
        seen.len() == 5 && seen.values().all(|h| h.len() >= 2)
    });
    for (body, history) in deliveries.lock().unwrap().iter() {
        assert_eq!(history[0], ("RetryTopic".to_string(), 0), "{body}");
        assert_eq!(
            history[1],
            ("RetryTopic".to_string(), 1),
            "{body}: the retry keeps the original topic"
        );
    }
}

#[test]
fn lite_pull_consumer_polls_commits_seeks_and_pauses() {
    let cluster = Cluster::start(&[]);
    cluster.topic("LiteTopic", 2);
    let producer = cluster.producer();
    for i in 0..20 {
        let mq = MessageQueue::new("LiteTopic", "broker-a", i % 2);
        producer.send_to_queue(&Message::new("LiteTopic", format!("lite-{i}")), &mq).unwrap();
    }
    let consumer = PullConsumer::builder()
        .name_server(cluster.ns())
        .group("lite_group")
        .consume_from(ConsumeFrom::FirstOffset)
        .auto_commit(false)
        .build()
        .unwrap();
    consumer.subscribe("LiteTopic", "*").unwrap();
    let poll_n = |n: usize| {
        let mut got = Vec::new();
        let deadline = Instant::now() + WAIT;
        while got.len() < n {
            assert!(Instant::now() < deadline, "polled only {} of {n}", got.len());
            got.extend(consumer.poll(Duration::from_millis(200)).unwrap());
        }
        got
    };
    assert_eq!(poll_n(20).len(), 20);
    let (q0, q1) = (
        MessageQueue::new("LiteTopic", "broker-a", 0),
        MessageQueue::new("LiteTopic", "broker-a", 1),
    );
    // A young queue reads as 0 (the broker's rule for groups without an offset), or none.
    let before = consumer.committed(&q0).unwrap();
    assert!(matches!(before, None | Some(0)), "nothing committed before commit(): {before:?}");
    consumer.commit().unwrap();
    assert_eq!(
        (consumer.committed(&q0).unwrap(), consumer.committed(&q1).unwrap()),
        (Some(10), Some(10))
    );

    consumer.seek(&q0, 7).unwrap();
    let again = poll_n(3);
    assert_eq!(
        again.iter().map(|m| (m.queue_id, m.queue_offset)).collect::<Vec<_>>(),
        [(0, 7), (0, 8), (0, 9)]
    );

    consumer.pause(std::slice::from_ref(&q1));
    producer.send_to_queue(&Message::new("LiteTopic", "while-paused"), &q1).unwrap();
    assert!(
        consumer.poll(Duration::from_millis(700)).unwrap().is_empty(),
        "a paused queue yields nothing"
    );
    consumer.resume(std::slice::from_ref(&q1));
    assert_eq!(body(&poll_n(1)[0]), "while-paused");
    let ts =
        consumer.offset_for_timestamp(&q0, SystemTime::now() + Duration::from_secs(3600)).unwrap();
    assert_eq!(ts, 10, "a future timestamp is past the last message");
    assert_eq!(consumer.fetch_message_queues("LiteTopic").unwrap(), vec![q0, q1]);
}

/// Stalls every log call that the lite pull consumer's rebalance thread makes about
/// [`STALLED_GROUP`], as if the scheduler took the CPU away from it at that point.
struct StallRebalanceLogger;

const STALLED_GROUP: &str = "lite_race_group";
const REBALANCE_STALL: Duration = Duration::from_millis(300);

impl log::Log for StallRebalanceLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if std::thread::current().name() == Some("rmq-lite-rebalance")
            && record.args().to_string().contains(STALLED_GROUP)
        {
            std::thread::sleep(REBALANCE_STALL);
        }
    }

    fn flush(&self) {}
}

/// Regression: the rebalance thread started a queue's puller before registering the queue, and
/// `poll` drops batches of queues it does not know while the puller had already moved past
/// them. A rebalance thread descheduled in between (a busy machine) lost those messages until
/// the next restart: the queue stayed silent and its committed offset never moved.
#[test]
fn lite_pull_queue_is_registered_before_its_puller_starts() {
    static LOGGER: StallRebalanceLogger = StallRebalanceLogger;
    // The only logger of this test binary; the stall matches this test's group only.
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    let cluster = Cluster::start(&[]);
    cluster.topic("LiteRaceTopic", 4);
    let producer = cluster.producer();
    for i in 0..12 {
        let mq = MessageQueue::new("LiteRaceTopic", "broker-a", i % 4);
        producer.send_to_queue(&Message::new("LiteRaceTopic", format!("race-{i}")), &mq).unwrap();
    }
    let consumer = PullConsumer::builder()
        .name_server(cluster.ns())
        .group(STALLED_GROUP)
        .consume_from(ConsumeFrom::FirstOffset)
        .auto_commit(false)
        .build()
        .unwrap();
    consumer.subscribe("LiteRaceTopic", "*").unwrap();
    let mut per_queue: BTreeMap<i32, usize> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while per_queue.values().sum::<usize>() < 12 && Instant::now() < deadline {
        for m in consumer.poll(Duration::from_millis(200)).unwrap() {
            *per_queue.entry(m.queue_id).or_default() += 1;
        }
    }
    assert_eq!(
        per_queue,
        BTreeMap::from([(0, 3), (1, 3), (2, 3), (3, 3)]),
        "every queue delivers its messages even when the rebalance thread stalls"
    );
    consumer.commit().unwrap();
    for mq in all_queues("LiteRaceTopic", 4) {
        assert_eq!(consumer.committed(&mq).unwrap(), Some(3), "{mq}");
    }
}

#[test]
fn admin_api_covers_what_mqadmin_needs() {
    let cluster = Cluster::start(&[]);
    let admin = &cluster.admin;
    let info = admin.cluster_info().unwrap();
    assert!(info.cluster_addr_table["DefaultCluster"].contains("broker-a"));
    assert_eq!(admin.master_addrs("DefaultCluster").unwrap(), vec![cluster.broker.addr.clone()]);
    assert_eq!(
        admin
            .create_topic("DefaultCluster", &TopicSpec::new("AdminTopic").queues(2))
            .unwrap()
            .len(),
        1
    );
    wait_until("the topic is listed", || {
        admin.topic_list().is_ok_and(|t| t.contains("AdminTopic"))
    });
    let route = admin.topic_route("AdminTopic").unwrap();
    assert_eq!(route.queue_datas[0].read_queue_nums, 2);
    assert!(!admin.broker_runtime_info(&cluster.broker.addr).unwrap().is_empty());

    let producer = cluster.producer();
    let sent: Vec<_> = (0..6)
        .map(|i| {
            producer
                .send(
                    &Message::new("AdminTopic", format!("admin-{i}")).with_keys([format!("k{i}")]),
                )
                .unwrap()
        })
        .collect();
    // The broker indexes asynchronously: wait until the consume queues and index caught up.
    wait_until("the stats count every message", || {
        let stats = admin.topic_stats("AdminTopic").unwrap();
        stats.values().map(|o| o.max_offset).sum::<i64>() == 6
    });

    let by_offset_id = admin.view_message("AdminTopic", &sent[0].offset_msg_id).unwrap();
    assert_eq!(body(&by_offset_id), "admin-0");
    wait_until("lookup by client id", || {
        admin.view_message("AdminTopic", &sent[1].msg_id).is_ok_and(|m| body(&m) == "admin-1")
    });
    let until = SystemTime::now() + Duration::from_secs(60);
    wait_until("lookup by key", || {
        let found = admin.query_messages_by_key("AdminTopic", "k2", 32, UNIX_EPOCH, until).unwrap();
        found.iter().map(body).collect::<Vec<_>>() == ["admin-2"]
    });
    let at = admin.query_message_by_offset(&sent[3].queue, sent[3].queue_offset).unwrap().unwrap();
    assert_eq!(body(&at), "admin-3");

    let consumer = cluster
        .push("admin_group")
        .persist_offset_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let got = collect(&consumer, "AdminTopic");
    wait_until("consumption", || got.lock().unwrap().len() == 6);
    let conns = admin.consumer_connections("admin_group").unwrap();
    assert_eq!(conns.connection_set.len(), 1);
    assert_eq!(conns.connection_set[0].client_id, consumer.client_id().unwrap());
    wait_until("progress shows no lag", || {
        admin.consumer_progress("admin_group", Some("AdminTopic")).is_ok_and(|p| {
            p.queues
                .iter()
                .filter(|q| q.queue.topic == "AdminTopic")
                .map(|q| q.broker_offset)
                .sum::<i64>()
                == 6
                && p.total_lag() == 0
        })
    });
    consumer.shutdown();

    let reset = admin.reset_offset_by_time("admin_group", "AdminTopic", UNIX_EPOCH, true).unwrap();
    assert!(reset.values().all(|o| *o == 0), "{reset:?}");
    let progress = admin.consumer_progress("admin_group", Some("AdminTopic")).unwrap();
    assert_eq!(
        progress
            .queues
            .iter()
            .filter(|q| q.queue.topic == "AdminTopic")
            .map(|q| q.lag)
            .sum::<i64>(),
        6
    );

    admin
        .create_subscription_group("DefaultCluster", &SubscriptionGroupConfig::new("made_by_admin"))
        .unwrap();
    admin.delete_subscription_group("DefaultCluster", "made_by_admin", true).unwrap();
    admin.delete_topic("DefaultCluster", "AdminTopic").unwrap();
    wait_until("the topic is gone", || admin.topic_route("AdminTopic").is_err());
}

#[test]
fn errors_say_what_happened() {
    let mut cluster = Cluster::start(&["-autoCreateTopic", "false"]);
    cluster.topic("ErrTopic", 2);
    let producer = Producer::builder()
        .name_server(cluster.ns())
        .group("err_producer")
        .max_message_size(1024)
        .send_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let e = producer.send(&Message::new("NoSuchTopic", "x")).unwrap_err();
    assert!(matches!(e, ClientError::TopicNotFound { ref topic } if topic == "NoSuchTopic"), "{e}");
    let e = producer.send(&Message::new("ErrTopic", vec![b'x'; 2048])).unwrap_err();
    assert!(matches!(e, ClientError::MessageTooLarge { size: 2048, limit: 1024 }), "{e}");
    assert!(e.to_string().contains("message too large"));
    let big_batch: Vec<Message> =
        (0..4).map(|_| Message::new("ErrTopic", vec![b'x'; 500])).collect();
    assert!(matches!(
        producer.send_batch(&big_batch),
        Err(ClientError::MessageTooLarge { limit: 1024, .. })
    ));
    producer.send(&Message::new("ErrTopic", "fine")).unwrap();

    let nowhere = Producer::builder().name_server("127.0.0.1:1").group("lost").build().unwrap();
    let e = nowhere.send(&Message::new("ErrTopic", "x")).unwrap_err();
    assert!(matches!(e, ClientError::NameserverUnreachable { .. }), "{e}");
    assert!(e.to_string().contains("127.0.0.1:1"));

    let broker_addr = cluster.broker.addr.clone();
    cluster.broker.kill9();
    let e = producer.send(&Message::new("ErrTopic", "x")).unwrap_err();
    assert!(e.is_retriable(), "{e}");
    assert!(e.to_string().contains(&broker_addr), "the error names the broker: {e}");
}

#[test]
fn producer_and_consumer_survive_a_broker_restart() {
    let mut cluster = Cluster::start(&[]);
    cluster.topic("RestartTopic", 2);
    let consumer = cluster.push("restart_group").build().unwrap();
    let got = collect(&consumer, "RestartTopic");
    let producer = cluster.producer();
    let before: BTreeSet<String> = (0..10).map(|i| format!("before-{i}")).collect();
    for m in &before {
        producer.send(&Message::new("RestartTopic", m.as_str())).unwrap();
    }
    wait_until("messages before the restart", || keys(&got) == before);

    let port: u16 = cluster.broker.addr.rsplit(':').next().unwrap().parse().unwrap();
    cluster.broker.kill9();
    cluster.broker = support::broker_on(port, cluster.ns(), cluster._store.path(), "broker-a", &[]);
    let after: BTreeSet<String> = (0..10).map(|i| format!("after-{i}")).collect();
    for m in &after {
        wait_until("the restarted broker takes a send", || {
            match producer.send(&Message::new("RestartTopic", m.as_str())) {
                Ok(_) => true,
                Err(e) => {
                    assert!(e.is_retriable(), "{e}");
                    false
                }
            }
        });
    }
    let all: BTreeSet<String> = before.union(&after).cloned().collect();
    wait_until("messages after the restart", || keys(&got) == all);
}

#[test]
fn message_fields_and_delay_levels_round_trip() {
    let cluster = Cluster::start(&[]);
    cluster.topic("FieldsTopic", 1);
    let consumer = cluster.push("fields_group").build().unwrap();
    let received: Arc<Mutex<Vec<MessageExt>>> = Arc::default();
    let sink = Arc::clone(&received);
    consumer.subscribe("FieldsTopic", "TagA || TagB").unwrap();
    consumer
        .start(move |msgs, _| {
            sink.lock().unwrap().extend(msgs.iter().cloned());
            ConsumeStatus::Success
        })
        .unwrap();
    let producer = cluster.producer();
    let plain = Message::new("FieldsTopic", "plain")
        .with_tags("TagA")
        .with_keys(["k1", "k2"])
        .with_property("color", "blue")
        .with_flag(42);
    let sent = producer.send(&plain).unwrap();
    producer.send(&Message::new("FieldsTopic", "filtered-out").with_tags("TagC")).unwrap();
    // One queue: the sentinel comes after the TagC message, so once it and the delayed one are
    // in and shutdown has drained the listeners, a TagC delivery would have been seen.
    producer.send(&Message::new("FieldsTopic", "sentinel").with_tags("TagA")).unwrap();
    let delayed = producer
        .send(&Message::new("FieldsTopic", "delayed").with_tags("TagB").with_delay_level(1))
        .unwrap();
    let bodies = || received.lock().unwrap().iter().map(body).collect::<BTreeSet<_>>();
    wait_until("the three messages", || {
        ["plain", "sentinel", "delayed"].iter().all(|b| bodies().contains(*b))
    });
    consumer.shutdown();
    let got = received.lock().unwrap();
    assert_eq!(got.len(), 3, "TagC is filtered out");
    let m = got.iter().find(|m| body(m) == "plain").unwrap();
    assert_eq!(m.msg_id(), sent.msg_id);
    assert_eq!(
        (m.tags(), m.keys(), m.property("color"), m.flag),
        (Some("TagA"), Some("k1 k2"), Some("blue"), 42)
    );
    assert_eq!((m.queue_id, m.queue_offset), (sent.queue.queue_id, sent.queue_offset));
    let d = got.iter().find(|m| body(m) == "delayed").unwrap();
    assert_eq!(d.msg_id(), delayed.msg_id);
    // The broker re-stores a delayed message once due: its store time is at least the level-1
    // delay (1 s) after its birth.
    assert!(d.store_timestamp - d.born_timestamp >= 1000, "delay level 1 is 1 s: {d:?}");
}
