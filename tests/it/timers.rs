//! Timer messages (issue #16) against the real binaries: TIMER_DELIVER_MS and TIMER_DELAY_MS
//! spread over several seconds, a kill -9 of the broker in the middle, TIMER_DEL_UNIQKEY, and
//! the refusals Java gives.

use crate::support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rocketmq::client::{
    Admin, ConsumeFrom, ConsumeStatus, Message, Producer, PushConsumer, TopicSpec,
};

const WAIT: Duration = Duration::from_secs(60);
/// The broker's default `timerPrecisionMs`.
const PRECISION_MS: u64 = 1_000;

fn now_ms() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    support::wait_until(what, WAIT, cond);
}

/// Body → (times received, earliest arrival ms).
type Arrivals = Arc<Mutex<BTreeMap<String, (usize, u64)>>>;

fn consumer(ns: &str, topic: &str, group: &str) -> (PushConsumer, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let c = PushConsumer::builder()
        .name_server(ns)
        .group(group)
        .consume_from(ConsumeFrom::FirstOffset)
        .build()
        .unwrap();
    c.subscribe(topic, "*").unwrap();
    let a = arrivals.clone();
    c.start(move |msgs, _| {
        let now = now_ms();
        let mut a = a.lock().unwrap();
        for m in msgs {
            let e = a.entry(String::from_utf8_lossy(&m.body).into_owned()).or_insert((0, now));
            e.0 += 1;
            e.1 = e.1.min(now);
        }
        ConsumeStatus::Success
    })
    .unwrap();
    (c, arrivals)
}

#[test]
fn timers_arrive_never_early_and_none_is_lost_to_a_kill9() {
    let dir = tempfile::tempdir().unwrap();
    let ns = support::nameserver();
    let port = support::free_port();
    let store = dir.path().join("store");
    let mut broker = support::broker_with(port, &ns.addr, &store, "broker-a", "", &[]);
    let admin = Admin::builder().name_server(&ns.addr).build().unwrap();
    let topic = "TimerTopic";
    admin.create_topic_on_broker(&broker.addr, &TopicSpec::new(topic).queues(4)).unwrap();
    wait_until("the topic route", || admin.topic_route(topic).is_ok());
    let producer = Producer::builder().name_server(&ns.addr).group("timer_pg").build().unwrap();

    // 2,000 timers due 2..12 s from now: half absolute, half relative.
    let n = 2_000u64;
    let start = now_ms();
    let mut due = BTreeMap::new();
    for i in 0..n {
        let offset_ms = 2_000 + i * 10_000 / n;
        let body = format!("timer-{i}");
        let msg = Message::new(topic, body.as_str());
        let sent_at = now_ms();
        let msg = if i % 2 == 0 {
            msg.with_deliver_time_ms(start + offset_ms)
        } else {
            msg.with_delay(Duration::from_millis(start + offset_ms - sent_at))
        };
        producer.send(&msg).unwrap();
        due.insert(body, start + offset_ms);
    }
    let (c, arrivals) = consumer(&ns.addr, topic, "timer_cg");
    // Nothing is delivered before its time: the first is due 2 s after the start.
    let info = admin.broker_runtime_info(&broker.addr).unwrap();
    let pending: u64 = info["timerPending"].parse().unwrap();
    assert!(pending > 0, "the broker reports its pending timers: {info:?}");

    // kill -9 in the middle of the deliveries, then the same broker again.
    wait_until("some timers delivered", || arrivals.lock().unwrap().len() as u64 > n / 4);
    broker.kill9();
    // The nameserver drops the dead broker when its connection closes; a restart before that
    // could see its new registration dropped in its place.
    wait_until("the nameserver drops the killed broker", || admin.topic_route(topic).is_err());
    broker = support::broker_with(port, &ns.addr, &store, "broker-a", "", &[]);
    wait_until("every timer delivered", || arrivals.lock().unwrap().len() as u64 == n);

    let arrivals = arrivals.lock().unwrap();
    for (body, at) in &due {
        let (times, first) = arrivals[body];
        assert!(times >= 1);
        assert!(
            first + PRECISION_MS >= *at,
            "{body} arrived {} ms before its time (more than one precision)",
            at - first
        );
    }
    let twice = arrivals.values().filter(|(t, _)| *t > 1).count();
    eprintln!("timers: {n} delivered, {twice} twice (at-least-once across the kill -9)");
    c.shutdown();
    producer.shutdown();
    drop(broker);
}

#[test]
fn a_timer_is_cancelled_by_its_uniq_key_and_bad_timers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ns = support::nameserver();
    let broker = support::broker(&ns.addr, dir.path(), &[]);
    let admin = Admin::builder().name_server(&ns.addr).build().unwrap();
    let topic = "TimerCancel";
    admin.create_topic_on_broker(&broker.addr, &TopicSpec::new(topic).queues(1)).unwrap();
    wait_until("the topic route", || admin.topic_route(topic).is_ok());
    let producer =
        Producer::builder().name_server(&ns.addr).group("timer_cancel_pg").build().unwrap();
    let at = now_ms() + 2_500;
    let doomed = producer.send(&Message::new(topic, "doomed").with_deliver_time_ms(at)).unwrap();
    let cancel = Message::new(topic, "cancel")
        .with_deliver_time_ms(at)
        .with_property("TIMER_DEL_UNIQKEY", doomed.msg_id.as_str());
    producer.send(&cancel).unwrap();
    producer.send(&Message::new(topic, "survivor").with_deliver_time_ms(at + 1_000)).unwrap();
    let (c, arrivals) = consumer(&ns.addr, topic, "timer_cancel_cg");
    // The survivor is due after the doomed one: once it is here, the doomed one would be too.
    wait_until("the survivor", || arrivals.lock().unwrap().contains_key("survivor"));
    let got = arrivals.lock().unwrap().clone();
    assert!(!got.contains_key("doomed") && !got.contains_key("cancel"), "{got:?}");
    let info = admin.broker_runtime_info(&broker.addr).unwrap();
    assert_eq!(info["timerCancelled"], "1", "{info:?}");
    // The store and connection states operators look at (issue #23).
    assert_eq!(info["storeOpenedReadOnly"], "false", "{info:?}");
    assert_eq!(info["storeDiskFullCause"], "", "{info:?}");
    assert!(info["connectionsOpen"].parse::<u64>().unwrap() >= 2, "{info:?}");
    assert_eq!(info["connectionsRefusedTotal"], "0", "{info:?}");

    // Further than timerMaxDelaySec (3 days), or not a number: MESSAGE_ILLEGAL, Java's remark.
    let far = Message::new(topic, "far").with_delay(Duration::from_secs(4 * 24 * 3600));
    let err = producer.send(&far).unwrap_err().to_string();
    assert!(err.contains("timer message illegal, the delay time should not be bigger than the max delay 259200000ms"), "{err}");
    let junk = Message::new(topic, "junk").with_property("TIMER_DELIVER_MS", "tomorrow");
    assert!(producer.send(&junk).unwrap_err().to_string().contains("timer message illegal"));
    // A time in the past delivers at once.
    producer.send(&Message::new(topic, "past").with_deliver_time_ms(1)).unwrap();
    wait_until("the past-due message", || arrivals.lock().unwrap().contains_key("past"));
    c.shutdown();
    producer.shutdown();
}
