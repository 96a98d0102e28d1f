//! Pure text renderers for mqadmin: the column layouts and `toString` dumps of RocketMQ's
//! `mqadmin` (same `#Header` names, same printf widths), and the JSON shapes of `--json`.
//! Nothing here does I/O, so every layout is unit-tested.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::super::text::{front, human_ms, human_secs, java_map, one_line, perm_string};
use crate::client::{MessageExt, MessageQueue, SendStatus, SubscriptionGroupConfig, TopicSpec};
use crate::protocol::body::queue::TopicOffset;
use crate::protocol::body::route::TopicRouteData;

/// Bodies longer than this are cut in the one-line `Message Body:` field.
const BODY_PREVIEW_BYTES: usize = 512;

/// Java's `TopicConfig.toString()`.
pub fn topic_config(spec: &TopicSpec) -> String {
    format!(
        "TopicConfig [topicName={}, readQueueNums={}, writeQueueNums={}, perm={}, \
         topicFilterType=SINGLE_TAG, topicSysFlag=0, order={}, attributes={{}}]",
        spec.topic,
        spec.read_queue_nums,
        spec.write_queue_nums,
        perm_string(spec.perm),
        spec.order
    )
}

/// The `--json` form of a topic config.
pub fn topic_config_json(spec: &TopicSpec) -> Value {
    json!({
        "topicName": spec.topic,
        "readQueueNums": spec.read_queue_nums,
        "writeQueueNums": spec.write_queue_nums,
        "perm": spec.perm,
        "order": spec.order,
    })
}

/// Java's `SubscriptionGroupConfig.toString()` (fields this broker knows).
pub fn sub_group_config(c: &SubscriptionGroupConfig) -> String {
    format!(
        "SubscriptionGroupConfig [groupName={}, consumeEnable={}, consumeFromMinEnable={}, \
         consumeBroadcastEnable={}, consumeMessageOrderly={}, retryQueueNums={}, \
         retryMaxTimes={}, brokerId={}, whichBrokerWhenConsumeSlowly={}, \
         notifyConsumerIdsChangedEnable={}, groupSysFlag={}, consumeTimeoutMinute={}, \
         attributes={}]",
        c.group_name,
        c.consume_enable,
        c.consume_from_min_enable,
        c.consume_broadcast_enable,
        c.consume_message_orderly,
        c.retry_queue_nums,
        c.retry_max_times,
        c.broker_id,
        c.which_broker_when_consume_slowly,
        c.notify_consumer_ids_changed_enable,
        c.group_sys_flag,
        c.consume_timeout_minute,
        java_map(&c.attributes)
    )
}

const ROUTE_FORMAT_DASHES: usize = 158;

/// `topicRoute -l`: `#ClusterName #BrokerName #BrokerAddrs #ReadQueue #WriteQueue #Perm`, then
/// a rule and the totals.
pub fn topic_route_table(route: &TopicRouteData) -> String {
    let row = |a: &str, b: &str, c: &str, d: &str, e: &str, f: &str| {
        format!("{a:<45} {b:<32} {c:<50} {d:<10} {e:<11} {f:<5}\n")
    };
    let mut s =
        row("#ClusterName", "#BrokerName", "#BrokerAddrs", "#ReadQueue", "#WriteQueue", "#Perm");
    let mut brokers: Vec<_> = route.broker_datas.iter().collect();
    brokers.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
    let (mut read, mut write, mut counted) = (0, 0, 0);
    for bd in brokers {
        let Some(qd) = route.queue_datas.iter().find(|q| q.broker_name == bd.broker_name) else {
            continue;
        };
        read += qd.read_queue_nums;
        write += qd.write_queue_nums;
        counted += 1;
        let addrs = java_map(&bd.broker_addrs);
        s += &row(
            &bd.cluster,
            &bd.broker_name,
            &addrs,
            &qd.read_queue_nums.to_string(),
            &qd.write_queue_nums.to_string(),
            &qd.perm.to_string(),
        );
    }
    s += &"-".repeat(ROUTE_FORMAT_DASHES);
    s.push('\n');
    s += &row("Total:", &counted.to_string(), "", &read.to_string(), &write.to_string(), "");
    s
}

/// `topicStatus`: `#Broker Name #QID #Min Offset #Max Offset #Last Updated`.
pub fn topic_status_table(stats: &BTreeMap<MessageQueue, TopicOffset>) -> String {
    let mut s = format!(
        "{:<32}  {:<4}  {:<20}  {:<20}    {}\n",
        "#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated"
    );
    for (mq, o) in sorted_queues(stats) {
        let updated = if o.last_update_timestamp > 0 {
            human_ms(o.last_update_timestamp)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "{:<32}  {:<4}  {:<20}  {:<20}    {}",
            front(&mq.broker_name, 32),
            mq.queue_id,
            o.min_offset,
            o.max_offset,
            updated
        );
    }
    s
}

/// `topicStatus --json`.
pub fn topic_status_json(topic: &str, stats: &BTreeMap<MessageQueue, TopicOffset>) -> Value {
    let queues: Vec<Value> = sorted_queues(stats)
        .into_iter()
        .map(|(mq, o)| {
            json!({
                "brokerName": mq.broker_name,
                "queueId": mq.queue_id,
                "minOffset": o.min_offset,
                "maxOffset": o.max_offset,
                "lastUpdateTimestamp": o.last_update_timestamp,
            })
        })
        .collect();
    json!({ "topic": topic, "queues": queues })
}

/// Map entries ordered like Java's `MessageQueue.compareTo`: topic, broker name, queue id.
pub fn sorted_queues<V>(map: &BTreeMap<MessageQueue, V>) -> Vec<(&MessageQueue, &V)> {
    let mut v: Vec<_> = map.iter().collect();
    v.sort_by(|(a, _), (b, _)| {
        (&a.topic, &a.broker_name, a.queue_id).cmp(&(&b.topic, &b.broker_name, b.queue_id))
    });
    v
}

/// One row of `consumerProgress -g`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressRow {
    pub queue: MessageQueue,
    pub broker_offset: i64,
    pub consumer_offset: i64,
    /// The client the queue is allocated to (`-s true`), if known.
    pub client_ip: Option<String>,
    pub inflight: i64,
    pub last_timestamp: i64,
}

/// `consumerProgress -g`: per-queue offsets, then `Consume TPS`, `Consume Diff Total` and
/// `Consume Inflight Total` (RocketMQ 5 layout; `#Client IP` only with `-s true`).
pub fn consumer_progress_table(rows: &[ProgressRow], tps: f64, show_ip: bool) -> String {
    let mut s = if show_ip {
        format!(
            "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20} {:<20}{}\n",
            "#Topic",
            "#Broker Name",
            "#QID",
            "#Broker Offset",
            "#Consumer Offset",
            "#Client IP",
            "#Diff",
            "#Inflight",
            "#LastTime"
        )
    } else {
        format!(
            "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20} {:<20}{}\n",
            "#Topic",
            "#Broker Name",
            "#QID",
            "#Broker Offset",
            "#Consumer Offset",
            "#Diff",
            "#Inflight",
            "#LastTime"
        )
    };
    let (mut diff_total, mut inflight_total) = (0i64, 0i64);
    for r in rows {
        let diff = r.broker_offset - r.consumer_offset;
        diff_total += diff;
        inflight_total += r.inflight;
        let last =
            if r.last_timestamp == 0 { "N/A".to_string() } else { human_secs(r.last_timestamp) };
        let (topic, broker) = (front(&r.queue.topic, 64), front(&r.queue.broker_name, 32));
        if show_ip {
            let ip = r.client_ip.as_deref().unwrap_or("N/A");
            let _ = writeln!(
                s,
                "{topic:<64}  {broker:<32}  {:<4}  {:<20}  {:<20}  {ip:<20} {diff:<20} {:<20} {last}",
                r.queue.queue_id, r.broker_offset, r.consumer_offset, r.inflight
            );
        } else {
            let _ = writeln!(
                s,
                "{topic:<64}  {broker:<32}  {:<4}  {:<20}  {:<20}  {diff:<20} {:<20} {last}",
                r.queue.queue_id, r.broker_offset, r.consumer_offset, r.inflight
            );
        }
    }
    let _ = write!(
        s,
        "\nConsume TPS: {tps:.2}\nConsume Diff Total: {diff_total}\nConsume Inflight Total: \
         {inflight_total}\n"
    );
    s
}

/// `consumerProgress -g --json`.
pub fn consumer_progress_json(group: &str, rows: &[ProgressRow], tps: f64) -> Value {
    let queues: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "topic": r.queue.topic,
                "brokerName": r.queue.broker_name,
                "queueId": r.queue.queue_id,
                "brokerOffset": r.broker_offset,
                "consumerOffset": r.consumer_offset,
                "diff": r.broker_offset - r.consumer_offset,
                "inflight": r.inflight,
                "clientIp": r.client_ip,
                "lastTimestamp": r.last_timestamp,
            })
        })
        .collect();
    let diff_total: i64 = rows.iter().map(|r| r.broker_offset - r.consumer_offset).sum();
    let inflight_total: i64 = rows.iter().map(|r| r.inflight).sum();
    json!({
        "group": group,
        "consumeTps": tps,
        "diffTotal": diff_total,
        "inflightTotal": inflight_total,
        "queues": queues,
    })
}

/// One row of `consumerProgress` without `-g`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    pub group: String,
    pub count: usize,
    pub version: String,
    pub consume_type: String,
    pub message_model: String,
    pub tps: i64,
    pub diff_total: i64,
}

/// `consumerProgress` without `-g`: `#Group #Count #Version #Type #Model #TPS #Diff Total`.
pub fn group_summary_table(rows: &[GroupSummary]) -> String {
    let mut s = format!(
        "{:<64}  {:<6}  {:<24} {:<5}  {:<14}  {:<7}  {}\n",
        "#Group", "#Count", "#Version", "#Type", "#Model", "#TPS", "#Diff Total"
    );
    for r in rows {
        let (version, ty, model) = if r.count > 0 {
            let ty = if r.consume_type == "CONSUME_ACTIVELY" { "PULL" } else { "PUSH" };
            let model = if ty == "PUSH" { r.message_model.as_str() } else { "" };
            (r.version.as_str(), ty, model)
        } else {
            ("OFFLINE", "", "")
        };
        let _ = writeln!(
            s,
            "{:<64}  {:<6}  {version:<24} {ty:<5}  {model:<14}  {:<7}  {}",
            front(&r.group, 64),
            r.count,
            r.tps,
            r.diff_total
        );
    }
    s
}

/// Java's `MQVersion.getVersionDesc` for the versions this project speaks; others by number.
pub fn version_desc(version: i32) -> String {
    if version == rocketmq_net::protocol::DEFAULT_VERSION {
        "V5_3_3".to_string()
    } else {
        format!("V#{version}")
    }
}

/// A consumer group's handling of one message (Java `MessageTrack`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub group: String,
    /// CONSUMED, CONSUMED_BUT_FILTERED, NOT_CONSUME_YET, NOT_ONLINE, PULL,
    /// CONSUME_BROADCASTING or UNKNOWN.
    pub track_type: &'static str,
    pub exception: Option<String>,
}

/// The detail block of `queryMsgById` / `queryMsgByOffset`, then the per-group tracks.
pub fn message_detail(msg: &MessageExt, body_path: &str, tracks: &[Track]) -> String {
    let mut s = String::new();
    let mut field = |name: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(s, "{name:<20} {value}");
    };
    field("OffsetID:", &msg.offset_msg_id);
    field("Topic:", &msg.topic);
    field("Tags:", &format!("[{}]", msg.tags().unwrap_or("null")));
    field("Keys:", &format!("[{}]", msg.keys().unwrap_or("null")));
    field("Queue ID:", &msg.queue_id);
    field("Queue Offset:", &msg.queue_offset);
    field("CommitLog Offset:", &msg.commit_log_offset);
    field("Reconsume Times:", &msg.reconsume_times);
    field("Born Timestamp:", &human_ms(msg.born_timestamp));
    field("Store Timestamp:", &human_ms(msg.store_timestamp));
    field("Born Host:", &msg.born_host);
    field("Store Host:", &msg.store_host);
    field("System Flag:", &msg.sys_flag);
    field("Properties:", &java_map(&msg.properties));
    field("Message Body Path:", &body_path);
    field("Message Body:", &body_preview(&msg.body));
    if tracks.is_empty() {
        s.push_str("\n\nWARN: No Consumer\n");
    } else {
        s.push_str("\n\n");
        for t in tracks {
            let _ = writeln!(
                s,
                "MessageTrack [consumerGroup={}, trackType={}, exceptionDesc={}]",
                t.group,
                t.track_type,
                t.exception.as_deref().unwrap_or("null")
            );
        }
    }
    s
}

fn body_preview(body: &[u8]) -> String {
    if body.len() <= BODY_PREVIEW_BYTES {
        return one_line(body);
    }
    format!("{}… ({} bytes)", one_line(&body[..BODY_PREVIEW_BYTES]), body.len())
}

/// A message for `--json`.
pub fn message_json(msg: &MessageExt, tracks: &[Track]) -> Value {
    let tracks: Vec<Value> = tracks
        .iter()
        .map(|t| {
            json!({"consumerGroup": t.group, "trackType": t.track_type, "exceptionDesc": t.exception})
        })
        .collect();
    json!({
        "msgId": msg.msg_id(),
        "offsetMsgId": msg.offset_msg_id,
        "topic": msg.topic,
        "tags": msg.tags(),
        "keys": msg.keys(),
        "queueId": msg.queue_id,
        "queueOffset": msg.queue_offset,
        "commitLogOffset": msg.commit_log_offset,
        "reconsumeTimes": msg.reconsume_times,
        "bornTimestamp": msg.born_timestamp,
        "storeTimestamp": msg.store_timestamp,
        "bornHost": msg.born_host.to_string(),
        "storeHost": msg.store_host.to_string(),
        "sysFlag": msg.sys_flag,
        "properties": msg.properties,
        "body": String::from_utf8_lossy(&msg.body),
        "tracks": tracks,
    })
}

/// One message of `printMsg` / `consumeMessage`: `MSGID: <id> MessageExt [...] BODY: <body>`.
pub fn message_line(msg: &MessageExt, print_body: bool) -> String {
    let body = if print_body { one_line(&msg.body) } else { "NOT PRINT BODY".to_string() };
    format!(
        "MSGID: {} MessageExt [queueId={}, storeSize={}, queueOffset={}, sysFlag={}, \
         bornTimestamp={}, bornHost=/{}, storeTimestamp={}, storeHost=/{}, msgId={}, \
         commitLogOffset={}, bodyCRC={}, reconsumeTimes={}, preparedTransactionOffset={}, \
         toString()=Message{{topic='{}', flag={}, properties={}, body=[{} bytes], \
         transactionId='null'}}] BODY: {body}",
        msg.msg_id(),
        msg.queue_id,
        msg.body.len(),
        msg.queue_offset,
        msg.sys_flag,
        msg.born_timestamp,
        msg.born_host,
        msg.store_timestamp,
        msg.store_host,
        msg.offset_msg_id,
        msg.commit_log_offset,
        msg.body_crc,
        msg.reconsume_times,
        msg.prepared_transaction_offset,
        msg.topic,
        msg.flag,
        java_map(&msg.properties),
        msg.body.len(),
    )
}

/// Java's `MessageQueue.toString()`.
pub fn queue_string(mq: &MessageQueue) -> String {
    format!(
        "MessageQueue [topic={}, brokerName={}, queueId={}]",
        mq.topic, mq.broker_name, mq.queue_id
    )
}

/// Java's `SendStatus` names.
pub fn send_status(status: SendStatus) -> &'static str {
    match status {
        SendStatus::SendOk => "SEND_OK",
        SendStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
        SendStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
        SendStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
    }
}

/// `sendMessage`: `#Broker Name #QID #Send Result #MsgId`.
pub fn send_result_table(broker: &str, queue_id: i32, status: &str, msg_id: &str) -> String {
    let row = |a: &str, b: &str, c: &str, d: &str| format!("{a:<32}  {b:<4}  {c:<20}    {d}\n");
    row("#Broker Name", "#QID", "#Send Result", "#MsgId")
        + &row(broker, &queue_id.to_string(), status, msg_id)
}

/// `queryMsgByKey`: `#Message ID #QID #Offset`.
pub fn msg_key_table(msgs: &[MessageExt]) -> String {
    let mut s = format!("{:<50} {:>4} {:>40}\n", "#Message ID", "#QID", "#Offset");
    for m in msgs {
        let _ = writeln!(s, "{:<50} {:>4} {:>40}", m.msg_id(), m.queue_id, m.queue_offset);
    }
    s
}

/// `resetOffsetByTime`: the summary line and `#brokerName #queueId #offset`.
pub fn reset_offset_table(
    group: &str,
    topic: &str,
    force: bool,
    timestamp_arg: &str,
    timestamp: i64,
    offsets: &BTreeMap<MessageQueue, i64>,
) -> String {
    let mut s = format!(
        "rollback consumer offset by specified group[{group}], topic[{topic}], force[{force}], \
         timestamp(string)[{timestamp_arg}], timestamp(long)[{timestamp}]\n"
    );
    let _ = writeln!(s, "{:<40}  {:<40}  {:<40}", "#brokerName", "#queueId", "#offset");
    for (mq, offset) in sorted_queues(offsets) {
        let _ =
            writeln!(s, "{:<40}  {:<40}  {:<40}", front(&mq.broker_name, 32), mq.queue_id, offset);
    }
    s
}

/// One broker line of `clusterList` (RocketMQ 5 layout), from its runtime table.
pub fn cluster_list_header() -> String {
    format!(
        "{:<22}  {:<22}  {:<4}  {:<22} {:<16}  {:>16}  {:>16}  {:<22}  {:<11}  {:<12}  {:<8}  \
         {:<10}\n",
        "#Cluster Name",
        "#Broker Name",
        "#BID",
        "#Addr",
        "#Version",
        "#InTPS(LOAD)",
        "#OutTPS(LOAD)",
        "#Timer(Progress)",
        "#PCWait(ms)",
        "#Hour",
        "#SPACE",
        "#ACTIVATED"
    )
}

/// One broker row of `clusterList`. Values the broker does not report print as `N/A`.
pub fn cluster_list_row(
    cluster: &str,
    broker: &str,
    id: i64,
    addr: &str,
    kv: &BTreeMap<String, String>,
    now: i64,
) -> String {
    let get = |k: &str| kv.get(k).map_or("N/A", String::as_str);
    let first_f64 = |k: &str| {
        kv.get(k)
            .and_then(|v| v.split(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let num = |k: &str| kv.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let in_tps = format!(
        "{:9.2}({},{}ms)",
        first_f64("putTps"),
        get("sendThreadPoolQueueSize"),
        get("sendThreadPoolQueueHeadWaitTimeMills")
    );
    let out_tps = format!(
        "{:9.2}({},{}ms | {},{}ms)",
        first_f64("getTransferredTps"),
        get("pullThreadPoolQueueSize"),
        get("pullThreadPoolQueueHeadWaitTimeMills"),
        get("ackThreadPoolQueueSize"),
        get("ackThreadPoolQueueHeadWaitTimeMills")
    );
    let timer = format!(
        "{}-{}({:.1}w, {:.1}, {:.1})",
        num("timerReadBehind"),
        num("timerOffsetBehind"),
        num("timerCongestNum") / 10_000.0,
        num("timerEnqueueTps"),
        num("timerDequeueTps")
    );
    let hour = kv
        .get("earliestMessageTimeStamp")
        .and_then(|v| v.parse::<i64>().ok())
        .map_or(0.0, |t| (now - t) as f64 / 3_600_000.0);
    format!(
        "{cluster:<22}  {broker:<22}  {id:<4}  {addr:<22} {:<16}  {in_tps:>16}  {out_tps:>24}  \
         {timer:<22}  {:>11}  {:<12}  {:<8}  {:>10}\n",
        get("brokerVersionDesc"),
        get("pageCacheLockTimeMills"),
        format!("{hour:2.2}"),
        format!("{:.4}", num("commitLogDiskRatio")),
        kv.get("brokerActive").is_some_and(|v| v == "true"),
    )
}

/// `clusterList -m`: `#Cluster Name #Broker Name #InTotalYest #OutTotalYest #InTotalToday
/// #OutTotalToday`; all zero unless the broker reports every counter (as Java does).
pub fn cluster_more_stats_row(
    cluster: &str,
    broker: &str,
    kv: &BTreeMap<String, String>,
) -> String {
    let get = |k: &str| kv.get(k).and_then(|v| v.parse::<i64>().ok());
    let totals = (|| {
        let (put_yest, put_morning, put_now) = (
            get("msgPutTotalYesterdayMorning")?,
            get("msgPutTotalTodayMorning")?,
            get("msgPutTotalTodayNow")?,
        );
        let (get_yest, get_morning, get_now) = (
            get("msgGetTotalYesterdayMorning")?,
            get("msgGetTotalTodayMorning")?,
            get("msgGetTotalTodayNow")?,
        );
        Some([
            put_morning - put_yest,
            get_morning - get_yest,
            put_now - put_morning,
            get_now - get_morning,
        ])
    })()
    .unwrap_or([0; 4]);
    format!(
        "{cluster:<16}  {broker:<32} {:>14} {:>14} {:>14} {:>14}\n",
        totals[0], totals[1], totals[2], totals[3]
    )
}

/// The header of [`cluster_more_stats_row`].
pub fn cluster_more_stats_header() -> String {
    format!(
        "{:<16}  {:<32} {:>14} {:>14} {:>14} {:>14}\n",
        "#Cluster Name",
        "#Broker Name",
        "#InTotalYest",
        "#OutTotalYest",
        "#InTotalToday",
        "#OutTotalToday"
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;

    use super::*;
    use crate::protocol::body::route::{BrokerData, QueueData};

    fn msg() -> MessageExt {
        let addr: SocketAddr = "127.0.0.1:10911".parse().unwrap();
        let mut properties = BTreeMap::new();
        properties.insert("TAGS".to_string(), "TagA".to_string());
        properties.insert("KEYS".to_string(), "k1".to_string());
        properties.insert("UNIQ_KEY".to_string(), "ID1".to_string());
        MessageExt {
            topic: "T".into(),
            queue_id: 3,
            flag: 0,
            queue_offset: 7,
            commit_log_offset: 1234,
            sys_flag: 0,
            born_timestamp: 1_709_210_096_789,
            born_host: addr,
            store_timestamp: 1_709_210_096_790,
            store_host: addr,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body_crc: 1,
            body: b"hello\nworld".to_vec(),
            properties,
            offset_msg_id: "OFFSETID".into(),
        }
    }

    #[test]
    fn topic_config_matches_java_to_string() {
        let spec = TopicSpec::new("T").queues(4);
        assert_eq!(
            topic_config(&spec),
            "TopicConfig [topicName=T, readQueueNums=4, writeQueueNums=4, perm=RW-, \
             topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false, attributes={}]"
        );
    }

    #[test]
    fn topic_status_has_java_header_and_widths() {
        let mut stats = BTreeMap::new();
        let o = TopicOffset { last_update_timestamp: 0, max_offset: 10, min_offset: 0 };
        stats.insert(MessageQueue::new("T", "broker-a", 1), o);
        stats.insert(MessageQueue::new("T", "broker-a", 0), o);
        let t = topic_status_table(&stats);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("#Broker Name                      #QID  #Min Offset"));
        assert!(lines[1]
            .starts_with("broker-a                          0     0                     10"));
        assert!(lines[2].starts_with("broker-a                          1 "));
        let j = topic_status_json("T", &stats);
        assert_eq!(j["queues"][1]["maxOffset"], 10);
    }

    #[test]
    fn consumer_progress_totals_and_columns() {
        let rows = vec![
            ProgressRow {
                queue: MessageQueue::new("T", "broker-a", 0),
                broker_offset: 10,
                consumer_offset: 4,
                client_ip: Some("10.0.0.1".into()),
                inflight: 0,
                last_timestamp: 0,
            },
            ProgressRow {
                queue: MessageQueue::new("T", "broker-a", 1),
                broker_offset: 5,
                consumer_offset: 5,
                client_ip: None,
                inflight: 0,
                last_timestamp: 1_709_210_096_789,
            },
        ];
        let t = consumer_progress_table(&rows, 1.5, false);
        assert!(t.starts_with("#Topic"));
        assert!(t.contains("#Broker Offset        #Consumer Offset      #Diff"));
        assert!(t.contains("N/A"));
        assert!(t.contains("2024-02-29 12:34:56"));
        assert!(
            t.ends_with("Consume TPS: 1.50\nConsume Diff Total: 6\nConsume Inflight Total: 0\n")
        );
        let with_ip = consumer_progress_table(&rows, 0.0, true);
        assert!(with_ip.contains("#Client IP") && with_ip.contains("10.0.0.1"));
        let j = consumer_progress_json("g", &rows, 1.5);
        assert_eq!(j["diffTotal"], 6);
        assert_eq!(j["queues"][0]["diff"], 6);
    }

    #[test]
    fn group_summary_marks_offline_groups() {
        let rows = vec![GroupSummary {
            group: "g".into(),
            count: 0,
            version: String::new(),
            consume_type: String::new(),
            message_model: String::new(),
            tps: 0,
            diff_total: 3,
        }];
        let t = group_summary_table(&rows);
        assert!(t.lines().next().unwrap().starts_with("#Group"));
        assert!(t.contains("OFFLINE"));
        assert!(t.trim_end().ends_with('3'));
    }

    #[test]
    fn route_table_lists_brokers_and_totals() {
        let mut addrs = BTreeMap::new();
        addrs.insert(0, "127.0.0.1:10911".to_string());
        let route = TopicRouteData {
            broker_datas: vec![BrokerData {
                broker_addrs: addrs,
                broker_name: "broker-a".into(),
                cluster: "DefaultCluster".into(),
                ..Default::default()
            }],
            queue_datas: vec![QueueData {
                broker_name: "broker-a".into(),
                perm: 6,
                read_queue_nums: 4,
                topic_sys_flag: 0,
                write_queue_nums: 4,
            }],
            ..Default::default()
        };
        let t = topic_route_table(&route);
        assert!(t.starts_with("#ClusterName"));
        assert!(t.contains("{0=127.0.0.1:10911}"));
        assert!(t.lines().last().unwrap().starts_with("Total:"));
    }

    #[test]
    fn message_detail_has_java_fields_and_tracks() {
        let m = msg();
        let d = message_detail(&m, "/tmp/x", &[]);
        assert!(d.contains("OffsetID:            OFFSETID\n"));
        assert!(d.contains("Tags:                [TagA]\n"));
        assert!(d.contains("Keys:                [k1]\n"));
        assert!(d.contains("Queue Offset:        7\n"));
        assert!(d.contains("Born Timestamp:      2024-02-29 12:34:56,789\n"));
        assert!(d.contains("Message Body:        hello\\nworld\n"));
        assert!(d.contains("WARN: No Consumer"));
        let track = Track { group: "g".into(), track_type: "CONSUMED", exception: None };
        let d = message_detail(&m, "/tmp/x", std::slice::from_ref(&track));
        assert!(
            d.contains("MessageTrack [consumerGroup=g, trackType=CONSUMED, exceptionDesc=null]")
        );
        let j = message_json(&m, &[track]);
        assert_eq!(j["msgId"], "ID1");
        assert_eq!(j["tracks"][0]["trackType"], "CONSUMED");
        let line = message_line(&m, true);
        assert!(line.starts_with("MSGID: ID1 MessageExt [queueId=3"));
        assert!(line.ends_with("BODY: hello\\nworld"));
        assert!(message_line(&m, false).ends_with("BODY: NOT PRINT BODY"));
        let keys = msg_key_table(&[m]);
        assert!(keys.lines().nth(1).unwrap().starts_with("ID1"));
    }

    #[test]
    fn send_and_reset_tables() {
        let t = send_result_table("broker-a", 2, "SEND_OK", "ID");
        assert_eq!(t.lines().count(), 2);
        assert!(t.lines().nth(1).unwrap().contains("SEND_OK"));
        let mut offsets = BTreeMap::new();
        offsets.insert(MessageQueue::new("T", "broker-a", 0), 5);
        let r = reset_offset_table("g", "T", true, "now", 42, &offsets);
        assert!(
            r.starts_with("rollback consumer offset by specified group[g], topic[T], force[true]")
        );
        assert!(r.contains("#brokerName"));
        assert!(r.lines().nth(2).unwrap().starts_with("broker-a"));
    }

    #[test]
    fn cluster_rows_tolerate_missing_stats() {
        let mut kv = BTreeMap::new();
        kv.insert("brokerVersionDesc".to_string(), "V5_3_3".to_string());
        kv.insert("brokerActive".to_string(), "true".to_string());
        kv.insert("putTps".to_string(), "12.5 10.0 9.0".to_string());
        let row = cluster_list_row("DefaultCluster", "broker-a", 0, "127.0.0.1:10911", &kv, 0);
        assert!(row.contains("V5_3_3") && row.contains("12.50(N/A,N/Ams)") && row.contains("true"));
        assert!(cluster_list_header().starts_with("#Cluster Name"));
        let more = cluster_more_stats_row("c", "b", &kv);
        assert!(more.trim_end().ends_with('0'));
        let cfg = SubscriptionGroupConfig::new("g");
        assert!(sub_group_config(&cfg).starts_with("SubscriptionGroupConfig [groupName=g, "));
    }
}
