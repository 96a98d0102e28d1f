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
