//! `broker.conf`: the Java broker's properties keys (BrokerConfig, MessageStoreConfig,
//! NettyServerConfig field names) mapped onto [`RawBrokerConfig`], with Java's units converted.
//!
//! Every key of STORAGE.md §16 is here: mapped, or ignored with the reason shown in the
//! warning. Switches whose `true` would promise a guarantee we do not keep (ACL, property
//! filters, controller mode, DLedger) refuse to start when set to `true` instead of running
//! without it. docs/CONFIG.md lists the same table for operators.

use serde_json::Value;

use super::config::{DeleteWhen, RawBrokerConfig};
use crate::config::properties::{self, parse_int, JavaKey, JavaKind};
use crate::config::JavaKeys;

use JavaKind::{Bool, Convert, Int, Str};

impl JavaKeys for RawBrokerConfig {
    const JAVA_KEYS: &'static [JavaKey] = BROKER_KEYS;
}

/// The broker's Java keys, in the order of STORAGE.md §16.
pub const BROKER_KEYS: &[JavaKey] = &[
    JavaKey::mapped("brokerClusterName", "broker_cluster_name", Str),
    JavaKey::mapped("brokerName", "broker_name", Str),
    JavaKey::mapped("brokerId", "broker_id", Int),
    JavaKey::mapped("namesrvAddr", "namesrv_addr", Str),
    JavaKey::mapped("listenPort", "listen_port", Int),
    JavaKey::mapped("bindAddress", "bind_address", Str),
    JavaKey::mapped("brokerIP1", "broker_ip", Str),
    JavaKey::mapped("storePathRootDir", "store_path", Str),
    JavaKey::mapped("flushDiskType", "flush_disk_type", Str),
    JavaKey::mapped("brokerRole", "broker_role", Str),
    JavaKey::mapped("autoCreateTopicEnable", "auto_create_topic_enable", Bool),
    JavaKey::mapped("autoCreateSubscriptionGroup", "auto_create_subscription_group", Bool),
    JavaKey::mapped("defaultTopicQueueNums", "default_topic_queue_nums", Int),
    JavaKey::mapped("sendMessageThreadPoolNums", "send_threads", Int),
    JavaKey::mapped("sendThreadPoolQueueCapacity", "send_queue_capacity", Int),
    JavaKey::mapped("pullMessageThreadPoolNums", "pull_threads", Int),
    JavaKey::mapped("pullThreadPoolQueueCapacity", "pull_queue_capacity", Int),
    JavaKey::mapped("adminBrokerThreadPoolNums", "admin_threads", Int),
    JavaKey::mapped("maxMessageSize", "max_message_size_bytes", Int),
    JavaKey::mapped("mappedFileSizeCommitLog", "commitlog_file_size_bytes", Int),
    JavaKey::mapped(
        "mappedFileSizeConsumeQueue",
        "consume_queue_entries_per_file",
        Convert(cq_file_size),
    ),
    JavaKey::mapped("fileReservedTime", "file_reserved_time_hours", Int),
    JavaKey::mapped("deleteWhen", "delete_when", Convert(delete_when)),
    JavaKey::mapped("diskMaxUsedSpaceRatio", "disk_max_used_space_ratio_percent", Int),
    JavaKey::mapped("flushIntervalCommitLog", "flush_interval_ms", Int),
    JavaKey::mapped("syncFlushTimeout", "sync_flush_timeout_ms", Int),
    JavaKey::mapped("messageDelayLevel", "message_delay_level", Str),
    JavaKey::mapped("registerNameServerPeriod", "register_interval_ms", Int),
    JavaKey::mapped("longPollingEnable", "long_polling_enable", Bool),
    JavaKey::mapped("shortPollingTimeMills", "short_polling_time_ms", Int),
    JavaKey::mapped("flushConsumerOffsetInterval", "consumer_offset_flush_interval_ms", Int),
    JavaKey::mapped("channelExpiredTimeout", "client_channel_expire_ms", Int),
    JavaKey::mapped("serverChannelMaxIdleTimeSeconds", "idle_timeout_ms", Convert(seconds_to_ms)),
    // Ours (Java has no per-address limit), spelled as a Java key so broker.conf can set it.
    JavaKey::mapped("connectionsPerAddressMax", "connections_per_address_max", Int),
    JavaKey::mapped("maxTransferCountOnMessageInMemory", "max_transfer_count", Int),
    JavaKey::mapped("maxTransferBytesOnMessageInMemory", "max_transfer_bytes", Int),
    JavaKey::mapped("regionId", "region_id", Str),
    JavaKey::mapped("traceOn", "trace_on", Bool),
    JavaKey::mapped("enablePropertyFilter", "enable_property_filter", Bool),
    JavaKey::mapped("transactionTimeOut", "transaction_timeout_ms", Int),
    JavaKey::mapped("transactionCheckMax", "transaction_check_max", Int),
    JavaKey::mapped("transactionCheckInterval", "transaction_check_interval_ms", Int),
    // Known and not (yet) supported: they load with a warning.
    JavaKey::ignored("rocketmqHome", "the broker needs no installation directory"),
    JavaKey::ignored(
        "storePathCommitLog",
        "the commitlog always lives in storePathRootDir/commitlog",
    ),
    JavaKey::ignored(
        "storePathConsumeQueue",
        "consume queues always live in storePathRootDir/consumequeue",
    ),
    JavaKey::ignored("storePathIndex", "index files always live in storePathRootDir/index"),
    JavaKey::ignored(
        "storeCheckpoint",
        "the checkpoint always lives in storePathRootDir/checkpoint",
    ),
    JavaKey::ignored("abortFile", "the abort marker always lives in storePathRootDir/abort"),
    JavaKey::ignored("haListenPort", "master/slave replication is not built yet"),
    JavaKey::ignored("brokerIP2", "master/slave replication is not built yet"),
    JavaKey::ignored("haSendHeartbeatInterval", "master/slave replication is not built yet"),
    JavaKey::ignored("haHousekeepingInterval", "master/slave replication is not built yet"),
    JavaKey::ignored("haTransferBatchSize", "master/slave replication is not built yet"),
    JavaKey::ignored("haMaxGapNotInSync", "master/slave replication is not built yet"),
    JavaKey::ignored("slaveReadEnable", "master/slave replication is not built yet"),
    JavaKey::ignored("slaveTimeout", "master/slave replication is not built yet"),
    JavaKey::ignored("totalReplicas", "master/slave replication is not built yet"),
    JavaKey::ignored("inSyncReplicas", "master/slave replication is not built yet"),
    JavaKey::ignored("minInSyncReplicas", "master/slave replication is not built yet"),
    JavaKey::ignored("queryMessageThreadPoolNums", "queries run on the admin pool"),
    JavaKey::ignored("endTransactionThreadPoolNums", "END_TRANSACTION runs on the send pool"),
    JavaKey::ignored("flushCommitLogLeastPages", "the flush thread writes whatever is dirty"),
    JavaKey::ignored("flushCommitLogThoroughInterval", "the flush thread writes whatever is dirty"),
    JavaKey::ignored("commitIntervalCommitLog", "there is no transient store pool"),
    JavaKey::ignored("commitCommitLogLeastPages", "there is no transient store pool"),
    JavaKey::ignored("transientStorePoolEnable", "there is no transient store pool"),
    JavaKey::ignored("transientStorePoolSize", "there is no transient store pool"),
    JavaKey::ignored("flushIntervalConsumeQueue", "consume queues flush with the commitlog"),
    JavaKey::ignored("flushConsumeQueueLeastPages", "consume queues flush with the commitlog"),
    JavaKey::ignored(
        "flushConsumeQueueThoroughInterval",
        "consume queues flush with the commitlog",
    ),
    JavaKey::ignored("putMessageTimeout", "appends do not wait on a lock timeout"),
    JavaKey::ignored("osPageCacheBusyTimeOutMills", "appends do not wait on a lock timeout"),
    JavaKey::ignored("useReentrantLockWhenPutMessage", "the append lock is fixed"),
    JavaKey::ignored("messageIndexEnable", "the index is always built"),
    JavaKey::ignored("messageIndexSafe", "the index is always built"),
    JavaKey::ignored("maxHashSlotNum", "index file sizes are fixed at Java's defaults"),
    JavaKey::ignored("maxIndexNum", "index file sizes are fixed at Java's defaults"),
    JavaKey::ignored("maxMsgsNumBatch", "query limits are fixed"),
    JavaKey::ignored("defaultQueryMaxNum", "query limits are fixed"),
    JavaKey::ignored(
        "flushDelayOffsetInterval",
        "delay progress is written after each delivery round",
    ),
    JavaKey::ignored(
        "accessMessageInMemoryMaxRatio",
        "the page-cache window is commitlog_cache_window_bytes in broker.ron",
    ),
    JavaKey::ignored("checkCRCOnRecover", "recovery always checks CRCs"),
    JavaKey::ignored(
        "maxTransferBytesOnMessageInDisk",
        "one transfer limit applies (maxTransferBytesOnMessageInMemory)",
    ),
    JavaKey::ignored(
        "maxTransferCountOnMessageInDisk",
        "one transfer limit applies (maxTransferCountOnMessageInMemory)",
    ),
    JavaKey::ignored("brokerFastFailureEnable", "full queues answer SYSTEM_BUSY at once"),
    JavaKey::ignored("waitTimeMillsInSendQueue", "full queues answer SYSTEM_BUSY at once"),
    JavaKey::ignored("waitTimeMillsInPullQueue", "full queues answer SYSTEM_BUSY at once"),
    JavaKey::ignored(
        "enableCalcFilterBitMap",
        "SQL92 filters evaluate every record read; the bloom-filter bitmap is not built",
    ),
    JavaKey::ignored(
        "enableConsumeQueueExt",
        "SQL92 filters evaluate every record read; ConsumeQueueExt is not built",
    ),
    JavaKey::ignored(
        "filterSupportRetry",
        "retry topics are subscribed by TAG, where Java's retry filter passes every message too",
    ),
    JavaKey::mapped("timerWheelEnable", "timer_wheel_enable", Bool),
    JavaKey::mapped("timerMaxDelaySec", "timer_max_delay_sec", Int),
    JavaKey::mapped("timerPrecisionMs", "timer_precision_ms", Int),
    JavaKey::ignored("clusterTopicEnable", "cluster-name topics are not created"),
    JavaKey::ignored("brokerTopicEnable", "broker-name topics are not created"),
    JavaKey::ignored(
        "serverWorkerThreads",
        "net-io is one thread; worker pools are sized per family",
    ),
    JavaKey::ignored(
        "serverSelectorThreads",
        "net-io is one thread; worker pools are sized per family",
    ),
    JavaKey::ignored(
        "serverCallbackExecutorThreads",
        "net-io is one thread; worker pools are sized per family",
    ),
    // Switches whose `true` would promise what this broker does not do.
    JavaKey::mapped("aclEnable", "acl_enable", Bool),
    JavaKey::mapped("aclFile", "acl_file", Str),
    JavaKey::checked("enableControllerMode", controller_mode),
    JavaKey::checked("enableDLegerCommitLog", dledger),
];

/// The raw config as Java's `key=value` pairs, in Java's units (GET_BROKER_CONFIG, `broker -p`).
pub fn java_properties(raw: &RawBrokerConfig) -> Vec<(String, String)> {
    properties::java_properties(raw, BROKER_KEYS, to_java_units)
}

/// One of our values in the unit its Java key uses, where that differs.
fn to_java_units(ours: &str, value: &Value) -> Option<String> {
    if ours == "delete_when" {
        let hours: DeleteWhen = serde_json::from_value(value.clone()).ok()?;
        return Some(hours.to_java());
    }
    let n = value.as_u64()?;
    match ours {
        "consume_queue_entries_per_file" => Some((n * 20).to_string()),
        "idle_timeout_ms" => Some((n / 1000).to_string()),
        _ => None,
    }
}

/// Java gives the consume-queue file size in bytes (entries × 20).
fn cq_file_size(value: &str) -> Result<Value, String> {
    let bytes = parse_int(value)?.as_u64().ok_or("expected a positive number of bytes")?;
    if bytes == 0 || bytes % 20 != 0 {
        return Err("expected a positive multiple of 20 bytes (one entry is 20 bytes)".into());
    }
    Ok(Value::from(bytes / 20))
}

/// Java's `deleteWhen` is one or more hours joined by `;` ("04", "04;16").
fn delete_when(value: &str) -> Result<Value, String> {
    let hours = DeleteWhen::parse_java(value)?;
    serde_json::to_value(&hours).map_err(|e| e.to_string())
}

fn seconds_to_ms(value: &str) -> Result<Value, String> {
    let secs = parse_int(value)?.as_u64().ok_or("expected a positive number of seconds")?;
    Ok(Value::from(secs.saturating_mul(1000)))
}

/// A switch we only accept off.
fn only_off(value: &str, why: &str) -> Result<Value, String> {
    match value.to_ascii_lowercase().as_str() {
        "false" => Ok(Value::Null),
        "true" => Err(format!("{why}; set it to false or remove it")),
        _ => Err("expected true or false".into()),
    }
}

fn controller_mode(value: &str) -> Result<Value, String> {
    only_off(value, "controller mode is not built yet")
}

fn dledger(value: &str) -> Result<Value, String> {
    only_off(value, "the DLedger commitlog is not supported")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::{into_raw, map_properties, parse};

    fn load(text: &str) -> Result<RawBrokerConfig, String> {
        let props = parse(text)?;
        let mapped =
            map_properties("broker.conf", &props, BROKER_KEYS).map_err(|e| e.to_string())?;
        into_raw("broker.conf", mapped.fields).map_err(|e| e.to_string())
    }

    #[test]
    fn java_sample_broker_conf_loads() {
        // distribution/conf/broker.conf of Apache RocketMQ, plus common operator additions.
        let text = "brokerClusterName = DefaultCluster\nbrokerName = broker-a\nbrokerId = 0\n\
                    deleteWhen = 04\nfileReservedTime = 48\nbrokerRole = ASYNC_MASTER\n\
                    flushDiskType = ASYNC_FLUSH\nnamesrvAddr=10.0.0.1:9876;10.0.0.2:9876\n\
                    brokerIP1=192.0.2.10\nstorePathRootDir=/data/rocketmq/store\n\
                    listenPort=10921\nmappedFileSizeCommitLog=1073741824\n\
                    mappedFileSizeConsumeQueue=6000000\nautoCreateTopicEnable=false\n\
                    serverChannelMaxIdleTimeSeconds=120\naclEnable=false\n\
                    haListenPort=10922\ntransientStorePoolEnable=false\n";
        let raw = load(text).unwrap();
        assert_eq!(raw.broker_cluster_name, "DefaultCluster");
        assert_eq!(raw.broker_name, "broker-a");
        assert_eq!(raw.file_reserved_time_hours, 48);
        assert_eq!(raw.delete_when.0, vec![4]);
        assert_eq!(raw.namesrv_addr.as_deref(), Some("10.0.0.1:9876;10.0.0.2:9876"));
        assert_eq!(raw.broker_ip.as_deref(), Some("192.0.2.10"));
        assert_eq!(raw.store_path, std::path::PathBuf::from("/data/rocketmq/store"));
        assert_eq!(raw.listen_port, 10921);
        assert_eq!(raw.commitlog_file_size_bytes, 1 << 30);
        assert_eq!(raw.consume_queue_entries_per_file, 300_000);
        assert!(!raw.auto_create_topic_enable);
        assert_eq!(raw.idle_timeout_ms, 120_000);
    }

    #[test]
    fn transaction_keys_map_to_the_check_back_settings() {
        let text =
            "transactionTimeOut=3000\ntransactionCheckMax=5\ntransactionCheckInterval=10000\n";
        let config = load(text).unwrap().validate().unwrap();
        assert_eq!(config.txn.timeout_ms, 3_000);
        assert_eq!(config.txn.check_max, 5);
        assert_eq!(config.txn.check_interval_ms, 10_000);
    }

    #[test]
    fn every_mapped_key_names_a_field_of_the_raw_config() {
        let fields = serde_json::to_value(RawBrokerConfig::default()).unwrap();
        for key in BROKER_KEYS {
            if let Some(ours) = key.ours {
                assert!(fields.get(ours).is_some(), "{} maps to unknown field {ours}", key.java);
            }
        }
    }

    #[test]
    fn bad_values_and_refused_switches_name_the_key() {
        let err = load("listenPort=abc").unwrap_err();
        assert!(err.contains("`listenPort`") && err.contains("integer"), "{err}");
        let err = load("aclEnable=yes").unwrap_err();
        assert!(err.contains("`aclEnable`") && err.contains("true or false"), "{err}");
        let err = load("mappedFileSizeConsumeQueue=30").unwrap_err();
        assert!(err.contains("multiple of 20"), "{err}");
        let err = load("deleteWhen=04;25").unwrap_err();
        assert!(err.contains("`deleteWhen`") && err.contains("00-23"), "{err}");
        let err = load("brokerNmae=x").unwrap_err();
        assert!(err.contains("unknown key `brokerNmae`"), "{err}");
    }

    #[test]
    fn several_deletion_hours_load_and_print_back_as_java_does() {
        let raw = load("deleteWhen=04;16\n").unwrap();
        assert_eq!(raw.delete_when.0, vec![4, 16]);
        let props = java_properties(&raw);
        let get = |k: &str| props.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(get("deleteWhen").as_deref(), Some("04;16"));
        let store = raw.validate().unwrap().store_config();
        assert_eq!(store.delete_when_hours, vec![4, 16]);
    }

    #[test]
    fn java_properties_use_java_keys_and_units_and_load_back() {
        let raw = load("mappedFileSizeConsumeQueue=6000000\nserverChannelMaxIdleTimeSeconds=90\n")
            .unwrap();
        let props = java_properties(&raw);
        let get = |k: &str| props.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("brokerClusterName"), Some("DefaultCluster"));
        assert_eq!(get("fileReservedTime"), Some("72"));
        assert_eq!(get("mappedFileSizeConsumeQueue"), Some("6000000"));
        assert_eq!(get("serverChannelMaxIdleTimeSeconds"), Some("90"));
        assert_eq!(get("deleteWhen"), Some("04"));
        assert_eq!(get("netBusyPollUs"), Some("50"));
        assert_eq!(get("fileReservedTimeHours"), None);
        // What we print in Java's keys loads back to the same config.
        let text: String = props
            .iter()
            .filter(|(k, v)| {
                BROKER_KEYS.iter().any(|j| j.java == k && j.ours.is_some()) && !v.is_empty()
            })
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        let again = load(&text).unwrap();
        assert_eq!(serde_json::to_value(&again).unwrap(), serde_json::to_value(&raw).unwrap());
    }

    #[test]
    fn every_key_is_in_the_operators_table() {
        let doc = include_str!("../../docs/CONFIG.md");
        for key in BROKER_KEYS {
            assert!(doc.contains(&format!("| `{}` |", key.java)), "{} missing", key.java);
        }
    }
}
