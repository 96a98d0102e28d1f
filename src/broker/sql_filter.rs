//! SQL92 subscriptions on the broker (ADVANCED.md §6.4): compiled selectors cached by their
//! text, so a pull never re-parses and a message is only evaluated, and the commit-log stage
//! of a pull, which keeps the records whose properties match.
//!
//! The cache plays the part of Java's `ConsumerFilterManager` data: a (group, topic)'s
//! registered subscription (from its heartbeat, with its subVersion) names the text, and the
//! text names the compiled selector. Failures are cached too, as Java's parser does.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rocketmq_store::record::RecordView;
use rocketmq_store::{GetResult, GetStatus};

use crate::filter::{ParseError, Properties, Selector};

/// Most distinct expressions kept compiled (Java's parse cache holds 100).
const CACHE_CAPACITY: usize = 100;

/// Compiled selectors by expression text.
#[derive(Debug, Default)]
pub(crate) struct SelectorCache {
    entries: Mutex<HashMap<String, Result<Arc<Selector>, ParseError>>>,
}

impl SelectorCache {
    /// The compiled `sql`, from the cache or compiled now.
    pub fn compile(&self, sql: &str) -> Result<Arc<Selector>, ParseError> {
        let mut entries = self.entries.lock();
        if let Some(found) = entries.get(sql) {
            return found.clone();
        }
        let compiled = Selector::parse(sql).map(Arc::new);
        // Full: start over rather than track recency; real brokers see a handful of
        // expressions, and a miss only costs one parse.
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        entries.insert(sql.to_string(), compiled.clone());
        assert!(entries.len() <= CACHE_CAPACITY, "the selector cache stays bounded");
        compiled
    }
}

/// A record's encoded properties, read in place. With a repeated name the last counts, as in
/// the map Java decodes them into.
struct EncodedProperties<'a>(&'a str);

impl Properties for EncodedProperties<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        rocketmq_store::record::property_pairs(self.0)
            .filter(|(k, _)| *k == name)
            .last()
            .map(|(_, v)| v)
    }
}

/// Keeps the records of `result` that `selector` matches. The scan stays the one the store
/// did (bounded by the pull's count and bytes), and `next_begin_offset` stays where it ended,
/// so a selective filter over a backlog answers with the offset reached; when nothing
/// matched the status becomes NO_MATCHED_MESSAGE (answered PULL_RETRY_IMMEDIATELY).
pub(crate) fn filter_records(result: &mut GetResult, selector: &Selector) {
    if result.status != GetStatus::Found {
        return;
    }
    let mut kept = Vec::with_capacity(result.messages.len());
    let mut kept_infos = Vec::with_capacity(result.message_infos.len());
    let mut start = 0usize;
    for info in &result.message_infos {
        let end = start.saturating_add(usize::try_from(info.size).unwrap_or(usize::MAX));
        let Some(record) = result.messages.get(start..end) else {
            log::warn!("pull result shorter than its message infos; filter stops at {start}");
            break;
        };
        start = end;
        match RecordView::parse(record) {
            Ok(view) if selector.matches(&EncodedProperties(view.properties)) => {
                kept.extend_from_slice(record);
                kept_infos.push(*info);
            }
            Ok(_) => {}
            // Java's filter throws on an undecodable record, which counts as no match.
            Err(e) => {
                log::warn!("record at {:?} does not decode for filtering: {e}", info.phys_offset)
            }
        }
    }
    result.messages = kept;
    result.message_count = u32::try_from(kept_infos.len()).unwrap_or(u32::MAX);
    result.message_infos = kept_infos;
    if result.message_count == 0 {
        result.status = GetStatus::NoMatchedMessage;
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use rocketmq_store::record::{encode_properties, encode_record, MessageToStore};
    use rocketmq_store::{MessageInfo, PhysOffset, QueueId, QueueOffset};

    use super::*;

    fn record(a: &str) -> Vec<u8> {
        let host = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 10911);
        let props = vec![("a".to_string(), "0".to_string()), ("a".to_string(), a.to_string())];
        let msg = MessageToStore {
            topic: "T".into(),
            queue_id: QueueId(0),
            flag: 0,
            body: b"body".to_vec(),
            properties: encode_properties(&props),
            sys_flag: 0,
            born_timestamp_ms: 1,
            born_host: host,
            store_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        };
        let mut out = Vec::new();
        encode_record(&msg, &mut out).expect("encodes");
        out
    }

    fn result_of(values: &[&str]) -> GetResult {
        let mut messages = Vec::new();
        let mut message_infos = Vec::new();
        for (i, a) in values.iter().enumerate() {
            let rec = record(a);
            message_infos.push(MessageInfo {
                queue_offset: QueueOffset(i as u64),
                phys_offset: PhysOffset(messages.len() as u64),
                size: rec.len() as u32,
                tags_code: 0,
                store_timestamp_ms: 0,
            });
            messages.extend_from_slice(&rec);
        }
        GetResult {
            status: GetStatus::Found,
            message_count: values.len() as u32,
            messages,
            next_begin_offset: QueueOffset(values.len() as u64),
            min_offset: QueueOffset(0),
            max_offset: QueueOffset(values.len() as u64),
            message_infos,
        }
    }

    #[test]
    fn filter_keeps_matching_records_and_the_offset_reached() {
        let selector = Selector::parse("a > 1").unwrap();
        let mut result = result_of(&["1", "2", "abc", "3"]);
        filter_records(&mut result, &selector);
        assert_eq!(result.status, GetStatus::Found);
        assert_eq!(result.message_count, 2, "the last duplicate counts; 'abc' fails to convert");
        let offsets: Vec<u64> = result.message_infos.iter().map(|i| i.queue_offset.0).collect();
        assert_eq!(offsets, [1, 3]);
        assert_eq!(result.messages.len(), 2 * record("2").len());
        assert_eq!(result.next_begin_offset, QueueOffset(4));

        let mut none = result_of(&["0", "1"]);
        filter_records(&mut none, &selector);
        assert_eq!(none.status, GetStatus::NoMatchedMessage);
        assert_eq!((none.message_count, none.messages.len()), (0, 0));
        assert_eq!(none.next_begin_offset, QueueOffset(2));
    }

    #[test]
    fn cache_compiles_once_keeps_failures_and_stays_bounded() {
        let cache = SelectorCache::default();
        let first = cache.compile("a = 1").unwrap();
        assert!(Arc::ptr_eq(&first, &cache.compile("a = 1").unwrap()));
        assert!(cache.compile("a =").is_err());
        assert!(cache.compile("a =").is_err());
        for i in 0..3 * CACHE_CAPACITY {
            cache.compile(&format!("a = {i}")).unwrap();
        }
        assert!(cache.entries.lock().len() <= CACHE_CAPACITY);
    }
}
