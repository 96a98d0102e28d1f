//! Property tests of every body decoder: what we write reads back the same (standard JSON, and
//! fastjson's object-key and bare-number-key forms), every field rewritten in another form
//! fastjson accepts (numeric strings, string and 0/1 booleans, enum ordinals, unknown and null
//! members) still decodes to the same value, and arbitrary or mutated bytes from a peer give an
//! error, never a panic.

use std::collections::{BTreeMap, BTreeSet};

use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::protocol::testing::mutate;

use super::admin::{
    ConnectionInfo, ConsumerConnection, ConsumerIdList, GroupList, KvTable, ProducerConnection,
    SubscriptionGroupConfig, SubscriptionGroupWrapper, TopicList,
};
use super::heartbeat::{ConsumerData, HeartbeatData, ProducerData, SubscriptionData};
use super::lenient::{
    ConsumeFromWhere as Cfw, ConsumeType, JavaEnum, LanguageCode, MessageModel, TopicFilterType,
};
use super::queue::{
    ConsumeStats, LockBatchRequestBody, LockBatchResponseBody, MessageQueue, OffsetWrapper,
    ResetOffsetBody, TopicOffset, TopicStatsTable,
};
use super::register::{DataVersion, RegisterBrokerBody, TopicConfig, TopicConfigSerializeWrapper};
use super::route::{BrokerData, ClusterInfo, QueueData, TopicRouteData};
use super::{from_json, to_json};
use crate::protocol::json::write_json_string;

/// Any characters, control characters, quotes and backslashes included.
fn text() -> impl Strategy<Value = String> {
    "(?s).{0,10}"
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    vec(text(), 0..4)
}

/// A Java enum field: one of its names, or a non-numeric name we do not know (kept as it is).
fn enum_text<E: JavaEnum>() -> impl Strategy<Value = String> {
    prop_oneof![prop::sample::select(E::NAMES).prop_map(str::to_string), "[A-Z_]{0,12}"]
}

fn text_set() -> impl Strategy<Value = BTreeSet<String>> {
    btree_set(text(), 0..4)
}

fn text_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(text(), text(), 0..4)
}

/// Numbers that survive a trip through serde_json's default float parser exactly.
fn exact_f64() -> impl Strategy<Value = f64> {
    any::<i32>().prop_map(|q| f64::from(q) / 4.0)
}

fn message_queue() -> impl Strategy<Value = MessageQueue> {
    (text(), any::<i32>(), text()).prop_map(|(broker_name, queue_id, topic)| MessageQueue {
        broker_name,
        queue_id,
        topic,
    })
}

fn subscription() -> impl Strategy<Value = SubscriptionData> {
    let a = (any::<bool>(), vec(any::<i32>(), 0..4), proptest::option::of(text()));
    let b = (text(), any::<i64>(), texts(), text());
    (a, b).prop_map(|((class_filter_mode, code_set, expression_type), b)| SubscriptionData {
        class_filter_mode,
        code_set,
        expression_type,
        sub_string: b.0,
        sub_version: b.1,
        tags_set: b.2,
        topic: b.3,
    })
}

fn consumer_data() -> impl Strategy<Value = ConsumerData> {
    let enums = (enum_text::<Cfw>(), enum_text::<ConsumeType>(), enum_text::<MessageModel>());
    (enums, text(), vec(subscription(), 0..3), any::<bool>()).prop_map(
        |((from, kind, model), group, subs, unit_mode)| ConsumerData {
            consume_from_where: from,
            consume_type: kind,
            group_name: group,
            message_model: model,
            subscription_data_set: subs,
            unit_mode,
        },
    )
}

fn heartbeat() -> impl Strategy<Value = HeartbeatData> {
    let producers = vec(text().prop_map(|group_name| ProducerData { group_name }), 0..3);
    let options = (proptest::option::of(any::<i32>()), proptest::option::of(any::<bool>()));
    (text(), vec(consumer_data(), 0..3), producers, options).prop_map(
        |(client_id, consumers, producers, (fingerprint, without_sub))| HeartbeatData {
            client_id,
            consumer_data_set: consumers,
            producer_data_set: producers,
            heartbeat_fingerprint: fingerprint,
            without_sub,
        },
    )
}

fn data_version() -> impl Strategy<Value = DataVersion> {
    (any::<i64>(), any::<i64>(), any::<i64>()).prop_map(|(counter, state_version, timestamp)| {
        DataVersion { counter, state_version, timestamp }
    })
}

fn topic_config() -> impl Strategy<Value = TopicConfig> {
    let a = (text_map(), any::<bool>(), any::<i32>(), any::<i32>());
    let b = (enum_text::<TopicFilterType>(), text(), any::<i32>(), any::<i32>());
    (a, b).prop_map(|((attributes, order, perm, read_queue_nums), b)| TopicConfig {
        attributes,
        order,
        perm,
        read_queue_nums,
        topic_filter_type: b.0,
        topic_name: b.1,
        topic_sys_flag: b.2,
        write_queue_nums: b.3,
    })
}

fn register_body() -> impl Strategy<Value = RegisterBrokerBody> {
    (texts(), data_version(), btree_map(text(), topic_config(), 0..3)).prop_map(
        |(filter_server_list, data_version, topic_config_table)| RegisterBrokerBody {
            filter_server_list,
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                data_version,
                topic_config_table,
            },
        },
    )
}

fn broker_data() -> impl Strategy<Value = BrokerData> {
    let addrs = btree_map(any::<i64>(), text(), 0..3);
    (addrs, text(), text(), any::<bool>(), proptest::option::of(text())).prop_map(
        |(broker_addrs, broker_name, cluster, enable_acting_master, zone_name)| BrokerData {
            broker_addrs,
            broker_name,
            cluster,
            enable_acting_master,
            zone_name,
        },
    )
}

fn queue_data() -> impl Strategy<Value = QueueData> {
    (text(), any::<i32>(), any::<i32>(), any::<i32>(), any::<i32>()).prop_map(
        |(broker_name, perm, read_queue_nums, topic_sys_flag, write_queue_nums)| QueueData {
            broker_name,
            perm,
            read_queue_nums,
            topic_sys_flag,
            write_queue_nums,
        },
    )
}

fn route() -> impl Strategy<Value = TopicRouteData> {
    let filters = btree_map(text(), texts(), 0..3);
    (vec(broker_data(), 0..3), filters, vec(queue_data(), 0..3), proptest::option::of(text()))
        .prop_map(|(broker_datas, filter_server_table, queue_datas, order_topic_conf)| {
            TopicRouteData { broker_datas, filter_server_table, queue_datas, order_topic_conf }
        })
}

fn cluster_info() -> impl Strategy<Value = ClusterInfo> {
    (btree_map(text(), broker_data(), 0..3), btree_map(text(), text_set(), 0..3)).prop_map(
        |(broker_addr_table, cluster_addr_table)| ClusterInfo {
            broker_addr_table,
            cluster_addr_table,
        },
    )
}

fn connection() -> impl Strategy<Value = ConnectionInfo> {
    (text(), text(), enum_text::<LanguageCode>(), any::<i32>()).prop_map(
        |(client_addr, client_id, language, version)| ConnectionInfo {
            client_addr,
            client_id,
            language,
            version,
        },
    )
}

fn consumer_connection() -> impl Strategy<Value = ConsumerConnection> {
    let subs = btree_map(text(), subscription(), 0..3);
    let enums = (enum_text::<Cfw>(), enum_text::<ConsumeType>(), enum_text::<MessageModel>());
    (vec(connection(), 0..3), enums, subs).prop_map(
        |(
            connection_set,
            (consume_from_where, consume_type, message_model),
            subscription_table,
        )| {
            ConsumerConnection {
                connection_set,
                consume_from_where,
                consume_type,
                message_model,
                subscription_table,
            }
        },
    )
}

fn group_config() -> impl Strategy<Value = SubscriptionGroupConfig> {
    let flags = (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>());
    let numbers = (any::<i32>(), any::<i32>(), any::<i64>(), any::<i64>(), any::<i32>());
    (text(), flags, numbers, any::<i32>(), text_map()).prop_map(
        |(group_name, f, n, consume_timeout_minute, attributes)| SubscriptionGroupConfig {
            group_name,
            consume_enable: f.0,
            consume_from_min_enable: f.1,
            consume_broadcast_enable: f.2,
            consume_message_orderly: f.3,
            notify_consumer_ids_changed_enable: f.4,
            retry_queue_nums: n.0,
            retry_max_times: n.1,
            broker_id: n.2,
            which_broker_when_consume_slowly: n.3,
            group_sys_flag: n.4,
            consume_timeout_minute,
            attributes,
        },
    )
}

fn offset_wrapper() -> impl Strategy<Value = OffsetWrapper> {
    (any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>()).prop_map(|(b, c, t, p)| {
        OffsetWrapper { broker_offset: b, consumer_offset: c, last_timestamp: t, pull_offset: p }
    })
}

fn topic_offset() -> impl Strategy<Value = TopicOffset> {
    (any::<i64>(), any::<i64>(), any::<i64>()).prop_map(|(t, max, min)| TopicOffset {
        last_update_timestamp: t,
        max_offset: max,
        min_offset: min,
    })
}

/// Writes `value` as fastjson does for `Map<Long, _>` fields: the keys of every object found
/// under a key named `bare_under` come out as bare numbers.
fn write_fastjson(out: &mut String, value: &Value, bare_under: &str, bare: bool) {
    match value {
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if bare {
                    out.push_str(k);
                } else {
                    write_json_string(out, k);
                }
                out.push(':');
                write_fastjson(out, v, bare_under, k == bare_under);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_fastjson(out, v, bare_under, false);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn fastjson_bare_keys(json: &[u8], bare_under: &str) -> String {
    let value: Value = serde_json::from_slice(json).unwrap();
    let mut out = String::new();
    write_fastjson(&mut out, &value, bare_under, false);
    out
}

/// The members that hold a Java enum's name, with the enum's names in declaration order.
const ENUM_MEMBERS: &[(&str, &[&str])] = &[
    ("consumeFromWhere", Cfw::NAMES),
    ("consumeType", ConsumeType::NAMES),
    ("messageModel", MessageModel::NAMES),
    ("topicFilterType", TopicFilterType::NAMES),
    ("language", LanguageCode::NAMES),
];

/// The members whose objects are maps (arbitrary keys), not bodies with named fields.
const MAP_MEMBERS: &[&str] = &[
    "attributes",
    "table",
    "topicConfigTable",
    "brokerAddrs",
    "filterServerTable",
    "brokerAddrTable",
    "clusterAddrTable",
    "subscriptionTable",
    "subscriptionGroupTable",
    "offsetTable",
];

/// Rewrites our strict JSON of a body into forms fastjson accepts as the same value, choosing
/// the form of each scalar from `choices`: a number as a numeric string, a boolean as a string
/// or as 0/1, an enum name as its ordinal; each body object also gains unknown members and a
/// `null` one. `key` is the member holding `value`.
fn fastjson_forms(
    value: &Value,
    choices: &mut impl Iterator<Item = u8>,
    key: Option<&str>,
) -> Value {
    let mut pick = |n: u8| choices.next().unwrap_or(0) % n;
    match value {
        Value::Number(n) => match pick(2) {
            0 => Value::Number(n.clone()),
            _ => Value::String(n.to_string()),
        },
        Value::Bool(b) => match pick(5) {
            0 => Value::Bool(*b),
            1 => Value::String(b.to_string()),
            2 => Value::from(u8::from(*b)),
            3 => Value::String(u8::from(*b).to_string()),
            _ => Value::String(b.to_string().to_uppercase()),
        },
        Value::String(name) => {
            let names = ENUM_MEMBERS.iter().find(|(k, _)| Some(*k) == key).map(|(_, n)| *n);
            match names.and_then(|n| n.iter().position(|x| x == name)) {
                Some(ordinal) if pick(3) == 1 => Value::from(ordinal),
                Some(ordinal) if pick(2) == 1 => Value::String(ordinal.to_string()),
                _ => value.clone(),
            }
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| fastjson_forms(v, choices, None)).collect())
        }
        Value::Object(map) => {
            let is_map = key.is_some_and(|k| MAP_MEMBERS.contains(&k));
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let inner_key = if is_map { None } else { Some(k.as_str()) };
                out.insert(k.clone(), fastjson_forms(v, choices, inner_key));
            }
            if !is_map && choices.next().unwrap_or(0) % 2 == 1 {
                out.insert("zzUnknownObject".into(), serde_json::json!({"a": [1, "x", null]}));
                out.insert("zzUnknownNumber".into(), Value::from(7));
                out.insert("zzUnknownNull".into(), Value::Null);
            }
            Value::Object(out)
        }
        Value::Null => Value::Null,
    }
}

/// `json` (our strict encoding of `body`) rewritten by [`fastjson_forms`] still decodes to
/// `body`.
fn assert_fastjson_forms<T>(body: &T, json: &[u8], choices: &[u8])
where
    T: DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let strict: Value = serde_json::from_slice(json).unwrap();
    let loose =
        serde_json::to_vec(&fastjson_forms(&strict, &mut choices.iter().copied().cycle(), None))
            .unwrap();
    let back: T =
        from_json(&loose).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&loose)));
    assert_eq!(&back, body, "{}", String::from_utf8_lossy(&loose));
}

/// The same for a MessageQueue-keyed body: its values are rewritten, its keys kept.
fn mq_keyed_forms(json: &[u8], choices: &[u8]) -> Vec<u8> {
    let strict: Value =
        serde_json::from_str(&crate::protocol::json::normalize(json).unwrap()).unwrap();
    serde_json::to_vec(&fastjson_forms(&strict, &mut choices.iter().copied().cycle(), None))
        .unwrap()
}

/// JSON punctuation and a few others, so mutations hit the structure often.
fn mutation_bytes() -> impl Strategy<Value = u8> {
    prop_oneof![prop::sample::select(b"{}[]:,\"\\ 0-9etn".to_vec()), any::<u8>()]
}

fn mutations() -> impl Strategy<Value = (Vec<(usize, u8)>, Option<usize>)> {
    (vec((any::<usize>(), mutation_bytes()), 1..6), proptest::option::of(any::<usize>()))
}

/// Feeds `bytes` to every body decoder; each may fail but none may panic.
fn decode_everything(bytes: &[u8]) {
    fn lenient<T: DeserializeOwned>(bytes: &[u8]) {
        let _ = from_json::<T>(bytes);
    }
    lenient::<HeartbeatData>(bytes);
    lenient::<RegisterBrokerBody>(bytes);
    lenient::<TopicConfigSerializeWrapper>(bytes);
    lenient::<TopicRouteData>(bytes);
    lenient::<ClusterInfo>(bytes);
    lenient::<TopicList>(bytes);
    lenient::<KvTable>(bytes);
    lenient::<GroupList>(bytes);
    lenient::<ConsumerIdList>(bytes);
    lenient::<ConsumerConnection>(bytes);
    lenient::<ProducerConnection>(bytes);
    lenient::<SubscriptionGroupWrapper>(bytes);
    lenient::<LockBatchRequestBody>(bytes);
    lenient::<LockBatchResponseBody>(bytes);
    let _ = ConsumeStats::from_json(bytes);
    let _ = TopicStatsTable::from_json(bytes);
    let _ = ResetOffsetBody::from_json(bytes);
}

/// One encoded body of each kind, for mutation.
fn any_encoded_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        heartbeat().prop_map(|b| to_json(&b)),
        register_body().prop_map(|b| to_json(&b)),
        route().prop_map(|r| fastjson_bare_keys(&r.to_wire_json(), "brokerAddrs").into_bytes()),
        cluster_info().prop_map(|c| to_json(&c)),
        consumer_connection().prop_map(|c| to_json(&c)),
        btree_map(message_queue(), any::<i64>(), 0..4)
            .prop_map(|offset_table| ResetOffsetBody { offset_table }.to_json()),
    ]
}

fn assert_serde_round_trip<T>(body: &T)
where
    T: serde::Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let back: T = from_json(&to_json(body)).unwrap();
    assert_eq!(&back, body);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn heartbeat_and_registration_bodies_round_trip(
        heartbeat in heartbeat(),
        register in register_body(),
        config in topic_config(),
    ) {
        assert_serde_round_trip(&heartbeat);
        assert_serde_round_trip(&register);
        assert_serde_round_trip(&config);
    }

    #[test]
    fn heartbeat_and_registration_bodies_decode_in_every_fastjson_form(
        heartbeat in heartbeat(),
        register in register_body(),
        config in topic_config(),
        choices in vec(any::<u8>(), 1..64),
    ) {
        assert_fastjson_forms(&heartbeat, &to_json(&heartbeat), &choices);
        assert_fastjson_forms(&register, &to_json(&register), &choices);
        assert_fastjson_forms(&config, &to_json(&config), &choices);
    }

    #[test]
    fn route_and_admin_bodies_decode_in_every_fastjson_form(
        (route, cluster) in (route(), cluster_info()),
        (topics, broker_addr, table) in (text_set(), proptest::option::of(text()), text_map()),
        (groups, ids) in (text_set(), texts()),
        (consumers, producers) in (consumer_connection(), vec(connection(), 0..3)),
        (configs, version) in (btree_map(text(), group_config(), 0..3), data_version()),
        choices in vec(any::<u8>(), 1..64),
    ) {
        assert_fastjson_forms(&route, &route.to_wire_json(), &choices);
        assert_fastjson_forms(&cluster, &to_json(&cluster), &choices);
        let topics = TopicList { topic_list: topics, broker_addr };
        assert_fastjson_forms(&topics, &to_json(&topics), &choices);
        let table = KvTable { table };
        assert_fastjson_forms(&table, &to_json(&table), &choices);
        let groups = GroupList { group_list: groups };
        assert_fastjson_forms(&groups, &to_json(&groups), &choices);
        let ids = ConsumerIdList { consumer_id_list: ids };
        assert_fastjson_forms(&ids, &to_json(&ids), &choices);
        assert_fastjson_forms(&consumers, &to_json(&consumers), &choices);
        let producers = ProducerConnection { connection_set: producers };
        assert_fastjson_forms(&producers, &to_json(&producers), &choices);
        let wrapper =
            SubscriptionGroupWrapper { subscription_group_table: configs, data_version: version };
        assert_fastjson_forms(&wrapper, &to_json(&wrapper), &choices);
    }

    #[test]
    fn queue_bodies_decode_in_every_fastjson_form(
        offsets in btree_map(message_queue(), offset_wrapper(), 0..4),
        tps in exact_f64(),
        stats in btree_map(message_queue(), topic_offset(), 0..4),
        resets in btree_map(message_queue(), any::<i64>(), 0..4),
        (client_id, group, mqs, only) in (text(), text(), vec(message_queue(), 0..4), any::<bool>()),
        choices in vec(any::<u8>(), 1..64),
    ) {
        let consume = ConsumeStats { consume_tps: tps, offset_table: offsets };
        let loose = mq_keyed_forms(&consume.to_json(), &choices);
        prop_assert_eq!(&ConsumeStats::from_json(&loose).unwrap(), &consume);
        let topic = TopicStatsTable { offset_table: stats };
        let loose = mq_keyed_forms(&topic.to_json(), &choices);
        prop_assert_eq!(&TopicStatsTable::from_json(&loose).unwrap(), &topic);
        let reset = ResetOffsetBody { offset_table: resets };
        let loose = mq_keyed_forms(&reset.to_json(), &choices);
        prop_assert_eq!(&ResetOffsetBody::from_json(&loose).unwrap(), &reset);
        let lock = LockBatchRequestBody {
            client_id,
            consumer_group: group,
            mq_set: mqs.clone(),
            only_this_broker: only,
        };
        assert_fastjson_forms(&lock, &to_json(&lock), &choices);
        let locked = LockBatchResponseBody { lock_ok_mq_set: mqs };
        assert_fastjson_forms(&locked, &to_json(&locked), &choices);
    }

    #[test]
    fn route_bodies_round_trip_in_both_key_forms(route in route(), cluster in cluster_info()) {
        let wire = route.to_wire_json();
        prop_assert_eq!(&from_json::<TopicRouteData>(&wire).unwrap(), &route);
        let fastjson = fastjson_bare_keys(&wire, "brokerAddrs");
        if route.broker_datas.iter().any(|b| !b.broker_addrs.is_empty()) {
            prop_assert!(serde_json::from_str::<Value>(&fastjson).is_err(), "not standard JSON");
        }
        prop_assert_eq!(&from_json::<TopicRouteData>(fastjson.as_bytes()).unwrap(), &route);
        assert_serde_round_trip(&cluster);
        let fastjson = fastjson_bare_keys(&to_json(&cluster), "brokerAddrs");
        prop_assert_eq!(&from_json::<ClusterInfo>(fastjson.as_bytes()).unwrap(), &cluster);
    }

    #[test]
    fn admin_bodies_round_trip(
        (topics, broker_addr) in (text_set(), proptest::option::of(text())),
        table in text_map(),
        (groups, ids) in (text_set(), texts()),
        consumers in consumer_connection(),
        producers in vec(connection(), 0..3),
        (configs, version) in (btree_map(text(), group_config(), 0..3), data_version()),
    ) {
        assert_serde_round_trip(&TopicList { topic_list: topics, broker_addr });
        assert_serde_round_trip(&KvTable { table });
        assert_serde_round_trip(&GroupList { group_list: groups });
        assert_serde_round_trip(&ConsumerIdList { consumer_id_list: ids });
        assert_serde_round_trip(&consumers);
        assert_serde_round_trip(&ProducerConnection { connection_set: producers });
        let wrapper =
            SubscriptionGroupWrapper { subscription_group_table: configs, data_version: version };
        assert_serde_round_trip(&wrapper);
    }

    #[test]
    fn message_queue_keyed_bodies_round_trip(
        offsets in btree_map(message_queue(), offset_wrapper(), 0..4),
        tps in exact_f64(),
        stats in btree_map(message_queue(), topic_offset(), 0..4),
        resets in btree_map(message_queue(), any::<i64>(), 0..4),
        (client_id, group, mqs, only) in (text(), text(), vec(message_queue(), 0..4), any::<bool>()),
    ) {
        let consume = ConsumeStats { consume_tps: tps, offset_table: offsets };
        prop_assert_eq!(&ConsumeStats::from_json(&consume.to_json()).unwrap(), &consume);
        let topic = TopicStatsTable { offset_table: stats };
        prop_assert_eq!(&TopicStatsTable::from_json(&topic.to_json()).unwrap(), &topic);
        let reset = ResetOffsetBody { offset_table: resets };
        prop_assert_eq!(&ResetOffsetBody::from_json(&reset.to_json()).unwrap(), &reset);
        let lock = LockBatchRequestBody {
            client_id,
            consumer_group: group,
            mq_set: mqs.clone(),
            only_this_broker: only,
        };
        assert_serde_round_trip(&lock);
        assert_serde_round_trip(&LockBatchResponseBody { lock_ok_mq_set: mqs });
    }

    #[test]
    fn mutated_bodies_never_panic(body in any_encoded_body(), (flips, cut) in mutations()) {
        decode_everything(&mutate(body, &flips, cut));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..256)) {
        decode_everything(&bytes);
    }
}
