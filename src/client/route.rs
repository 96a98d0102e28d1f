//! Turning a topic route into queues, and choosing a queue for each send.
//!
//! * Publish queues: `writeQueueNums` queues of every writable QueueData whose broker has a
//!   master, or the `orderTopicConf` list when the route carries one (as Java does).
//! * Subscribe queues: `readQueueNums` queues of every readable QueueData.
//! * [`FaultTolerance`] remembers brokers that failed or answered slowly and keeps them out of
//!   the rotation for a while; [`select_queue`] goes round-robin over the rest, never picks the
//!   broker that just failed when another is available, and falls back to any queue when every
//!   broker is marked (a marked broker may have recovered; trying is better than failing).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::protocol::body::queue::MessageQueue;
use crate::protocol::body::route::TopicRouteData;
use crate::protocol::constants::perm;

/// The queues a producer may write to, in route order (sorted by broker name).
pub fn publish_queues(topic: &str, route: &TopicRouteData) -> Vec<MessageQueue> {
    if let Some(conf) = route.order_topic_conf.as_deref().filter(|c| !c.trim().is_empty()) {
        return order_conf_queues(topic, conf);
    }
    let mut datas: Vec<_> = route.queue_datas.iter().collect();
    datas.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
    let mut queues = Vec::new();
    for qd in datas.into_iter().filter(|qd| perm::is_writeable(qd.perm)) {
        let has_master = route
            .broker_datas
            .iter()
            .any(|bd| bd.broker_name == qd.broker_name && bd.master_addr().is_some());
        if has_master {
            queues.extend(
                (0..qd.write_queue_nums).map(|id| MessageQueue::new(topic, &qd.broker_name, id)),
            );
        }
    }
    queues
}

/// `"broker-a:4;broker-b:4"` to queues.
fn order_conf_queues(topic: &str, conf: &str) -> Vec<MessageQueue> {
    let mut queues = Vec::new();
    for item in conf.split(';') {
        let Some((broker, nums)) = item.split_once(':') else { continue };
        let Ok(nums) = nums.trim().parse::<i32>() else { continue };
        queues.extend((0..nums).map(|id| MessageQueue::new(topic, broker.trim(), id)));
    }
    queues
}

/// The queues a consumer may read, sorted by (topic, broker, queue id) for rebalancing.
pub fn subscribe_queues(topic: &str, route: &TopicRouteData) -> Vec<MessageQueue> {
    let mut queues: Vec<MessageQueue> = route
        .queue_datas
        .iter()
        .filter(|qd| perm::is_readable(qd.perm))
        .flat_map(|qd| {
            (0..qd.read_queue_nums).map(|id| MessageQueue::new(topic, &qd.broker_name, id))
        })
        .collect();
    queues.sort();
    queues
}

/// The publish queues of the auto-create template (`TBW102`) for a topic the nameserver does not
/// know yet: at most `default_queue_nums` queues per broker whose template perm allows
/// inheriting. The broker creates the topic on the first send.
pub fn template_publish_queues(
    topic: &str,
    template: &TopicRouteData,
    default_queue_nums: i32,
) -> Vec<MessageQueue> {
    let mut route = template.clone();
    route.order_topic_conf = None;
    route.queue_datas.retain(|qd| perm::is_inherited(qd.perm));
    for qd in &mut route.queue_datas {
        qd.write_queue_nums = qd.write_queue_nums.min(default_queue_nums);
        qd.read_queue_nums = qd.read_queue_nums.min(default_queue_nums);
    }
    publish_queues(topic, &route)
}

/// Latency-based fault tolerance: brokers that failed or were slow are avoided for a while.
#[derive(Debug, Default)]
pub struct FaultTolerance {
    /// Broker name → when it may be used again.
    unavailable_until: Mutex<HashMap<String, Instant>>,
}

/// How long a broker that failed outright is avoided.
pub const FAILURE_ISOLATION: Duration = Duration::from_secs(30);

/// Java's latency → avoidance steps (`MQFaultStrategy`), capped at [`FAILURE_ISOLATION`].
const LATENCY_STEPS_MS: [(u64, u64); 5] =
    [(15_000, 30_000), (3_000, 30_000), (2_000, 20_000), (1_000, 10_000), (550, 5_000)];

impl FaultTolerance {
    /// Records the outcome of a call to `broker`: `failed` isolates it, otherwise a slow
    /// `latency` avoids it for a time that grows with the latency.
    pub fn update(&self, broker: &str, latency: Duration, failed: bool) {
        let avoid = if failed { FAILURE_ISOLATION } else { avoidance_for(latency) };
        let mut items = self.unavailable_until.lock();
        if avoid.is_zero() {
            items.remove(broker);
        } else {
            items.insert(broker.to_string(), Instant::now() + avoid);
        }
    }

    /// Whether `broker` is currently in rotation.
    pub fn is_available(&self, broker: &str, now: Instant) -> bool {
        !matches!(self.unavailable_until.lock().get(broker), Some(until) if *until > now)
    }
}

fn avoidance_for(latency: Duration) -> Duration {
    let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    LATENCY_STEPS_MS
        .iter()
        .find(|(min_latency, _)| ms >= *min_latency)
        .map_or(Duration::ZERO, |(_, avoid)| Duration::from_millis(*avoid))
}

/// Chooses a queue round-robin starting at `start`: first one on an available broker other than
/// `last_failed`, else any not on `last_failed`, else any.
pub fn select_queue<'a>(
    queues: &'a [MessageQueue],
    start: usize,
    last_failed: Option<&str>,
    faults: &FaultTolerance,
) -> Option<&'a MessageQueue> {
    let n = queues.len();
    let rotation = || (0..n).map(move |i| &queues[(start.wrapping_add(i)) % n]);
    let not_last = |q: &&MessageQueue| Some(q.broker_name.as_str()) != last_failed;
    let now = Instant::now();
    rotation()
        .filter(not_last)
        .find(|q| faults.is_available(&q.broker_name, now))
        .or_else(|| rotation().find(not_last))
        .or_else(|| rotation().next())
}

/// The queue for a sharding key: Java's `SelectMessageQueueByHash` (String hashCode modulo the
/// queue count), so Java and Rust producers put a key on the same queue.
pub fn queue_index_for_key(key: &str, queue_count: usize) -> usize {
    let Ok(count) = i32::try_from(queue_count) else { return 0 };
    if count == 0 {
        return 0;
    }
    let value = crate::protocol::message::java_string_hash(key) % count;
    usize::try_from(value.unsigned_abs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::protocol::body::route::{BrokerData, QueueData};

    fn route(brokers: &[(&str, bool, i32)]) -> TopicRouteData {
        let mut r = TopicRouteData::default();
        for (name, master, perm) in brokers {
            let mut addrs = BTreeMap::new();
            addrs.insert(if *master { 0 } else { 1 }, format!("{name}:10911"));
            r.broker_datas.push(BrokerData {
                broker_addrs: addrs,
                broker_name: name.to_string(),
                cluster: "c".into(),
                ..Default::default()
            });
            r.queue_datas.push(QueueData {
                broker_name: name.to_string(),
                perm: *perm,
                read_queue_nums: 2,
                topic_sys_flag: 0,
                write_queue_nums: 3,
            });
        }
        r
    }

    #[test]
    fn publish_queues_need_write_perm_and_a_master() {
        let r = route(&[("b", true, 6), ("a", true, 6), ("s", false, 6), ("ro", true, 4)]);
        let qs = publish_queues("T", &r);
        let names: Vec<_> = qs.iter().map(|q| format!("{}{}", q.broker_name, q.queue_id)).collect();
        assert_eq!(names, ["a0", "a1", "a2", "b0", "b1", "b2"]);
        let subs = subscribe_queues("T", &r);
        assert_eq!(subs.len(), 8, "every readable broker, masterless too");
        assert!(subs.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn order_topic_conf_wins() {
        let mut r = route(&[("a", true, 6)]);
        r.order_topic_conf = Some("a:2;b:1".into());
        let qs = publish_queues("T", &r);
        assert_eq!(qs.len(), 3);
        assert_eq!(qs[2], MessageQueue::new("T", "b", 0));
    }

    #[test]
    fn template_queues_are_capped_and_need_inherit() {
        let mut r = route(&[("a", true, 7), ("b", true, 6)]);
        r.queue_datas[0].write_queue_nums = 8;
        let qs = template_publish_queues("New", &r, 4);
        assert_eq!(qs.len(), 4);
        assert!(qs.iter().all(|q| q.topic == "New" && q.broker_name == "a"));
    }

    #[test]
    fn round_robin_skips_faulty_and_last_failed_brokers() {
        let r = route(&[("a", true, 6), ("b", true, 6)]);
        let qs = publish_queues("T", &r);
        let faults = FaultTolerance::default();
        let picks: Vec<_> =
            (0..6).map(|i| select_queue(&qs, i, None, &faults).unwrap().queue_id).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        assert_eq!(select_queue(&qs, 0, Some("a"), &faults).unwrap().broker_name, "b");
        faults.update("b", Duration::from_millis(1), true);
        for i in 0..6 {
            assert_eq!(select_queue(&qs, i, None, &faults).unwrap().broker_name, "a");
        }
        // Every broker faulty: still not the one that just failed.
        faults.update("a", Duration::ZERO, true);
        assert_eq!(select_queue(&qs, 0, Some("a"), &faults).unwrap().broker_name, "b");
        // A fast success puts it back.
        faults.update("a", Duration::from_millis(3), false);
        assert!(faults.is_available("a", Instant::now()));
        assert!(select_queue(&[], 0, None, &faults).is_none());
    }

    #[test]
    fn slow_brokers_are_avoided_briefly() {
        assert_eq!(avoidance_for(Duration::from_millis(100)), Duration::ZERO);
        assert_eq!(avoidance_for(Duration::from_millis(600)), Duration::from_secs(5));
        assert_eq!(avoidance_for(Duration::from_secs(20)), Duration::from_secs(30));
    }

    #[test]
    fn sharding_key_matches_java_hash_selector() {
        // "order-1".hashCode() = -1207111310 in Java; -1207111310 % 8 = -6 -> 6.
        assert_eq!(crate::protocol::message::java_string_hash("order-1"), -1_207_111_310);
        assert_eq!(queue_index_for_key("order-1", 8), 6);
        assert_eq!(queue_index_for_key("x", 0), 0);
        for k in ["a", "bb", "order-99"] {
            assert!(queue_index_for_key(k, 5) < 5);
        }
    }
}
