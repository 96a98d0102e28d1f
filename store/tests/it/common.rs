//! Shared helpers: small configurations and message builders.

use std::path::Path;
use std::time::Duration;

use rocketmq_store::record::{PROPERTY_KEYS, PROPERTY_TAGS, PROPERTY_UNIQ_KEY};
use rocketmq_store::{
    encode_properties, GetResult, MessageStore, MessageToStore, QueueId, QueueOffset, StoreConfig,
};

/// A configuration with tiny files so tests cross segment boundaries.
pub fn small_config(dir: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.commitlog_file_size_bytes = 64 * 1024;
    c.consume_queue_entries_per_file = 100;
    c.index_hash_slots = 64;
    c.index_max_entries = 256;
    c.flush_interval_ms = 10;
    c.flush_consume_queue_interval_ms = 20;
    c.max_message_size_bytes = 16 * 1024;
    c.clean_interval_ms = 3_600_000;
    // Evict flushed bytes early, so every test also reads evicted data back from the files.
    c.commitlog_cache_window_bytes = Some(16 * 1024);
    c
}

/// A message with optional tags and keys.
pub fn msg(
    topic: &str,
    qid: u32,
    body: &[u8],
    tags: Option<&str>,
    keys: Option<&str>,
) -> MessageToStore {
    let mut props = Vec::new();
    if let Some(t) = tags {
        props.push((PROPERTY_TAGS.to_owned(), t.to_owned()));
    }
    if let Some(k) = keys {
        props.push((PROPERTY_KEYS.to_owned(), k.to_owned()));
    }
    props.push((PROPERTY_UNIQ_KEY.to_owned(), format!("U-{}", String::from_utf8_lossy(body))));
    MessageToStore {
        topic: topic.to_owned(),
        queue_id: QueueId(qid),
        flag: 0,
        body: body.to_vec(),
        properties: encode_properties(&props),
        sys_flag: 0,
        born_timestamp_ms: 1,
        born_host: "127.0.0.1:5000".parse().unwrap(),
        store_host: "127.0.0.1:10911".parse().unwrap(),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

/// Waits for dispatch and reads everything from `offset`.
pub fn read_all(store: &MessageStore, topic: &str, qid: u32, offset: u64) -> GetResult {
    assert!(store.wait_dispatched(Duration::from_secs(10)));
    store.get_messages(topic, QueueId(qid), QueueOffset(offset), 100_000, u32::MAX, None)
}

/// Bodies of the records in a get result.
pub fn bodies(r: &GetResult) -> Vec<Vec<u8>> {
    rocketmq_store::record::split_records(&r.messages).map(|v| v.unwrap().body.to_vec()).collect()
}
