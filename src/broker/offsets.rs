//! Consumer offsets: `topic@group` → queue → next offset to consume. Updated by pulls (commit
//! flag) and UPDATE_CONSUMER_OFFSET; persisted atomically to `config/consumerOffset.json` by the
//! broker's offset-flush thread when dirty, and once more at shutdown.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;
use rocketmq_store::{QueueId, QueueOffset};
use serde::{Deserialize, Serialize};

use super::persist;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct OffsetFile {
    offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
}

/// Committed consumer offsets. The file keeps Java's shape (`i32` queue ids, `i64` offsets);
/// the API takes and returns domain types, so callers convert wire numbers once, at the edge.
#[derive(Debug)]
pub struct OffsetTable {
    table: RwLock<HashMap<String, BTreeMap<i32, i64>>>,
    dirty: AtomicBool,
    path: PathBuf,
}

fn key(topic: &str, group: &str) -> String {
    format!("{topic}@{group}")
}

/// Queue ids come from `i32` wire values or topic queue counts (≤ 1024), so they fit.
fn file_queue(queue: QueueId) -> i32 {
    i32::try_from(queue.0).expect("queue ids are converted from i32 wire values")
}

impl OffsetTable {
    /// Loads the file if present.
    pub fn open(path: PathBuf) -> io::Result<Self> {
        let file: OffsetFile = persist::load(&path)?.unwrap_or_default();
        Ok(Self {
            table: RwLock::new(file.offset_table.into_iter().collect()),
            dirty: AtomicBool::new(false),
            path,
        })
    }

    /// The committed offset, if any (a negative one in a hand-edited or foreign file is none,
    /// which is what Java clients read -1 as).
    pub fn query(&self, group: &str, topic: &str, queue: QueueId) -> Option<QueueOffset> {
        let offset = *self.table.read().get(&key(topic, group))?.get(&file_queue(queue))?;
        u64::try_from(offset).ok().map(QueueOffset)
    }

    /// Records a commit.
    pub fn commit(&self, group: &str, topic: &str, queue: QueueId, offset: QueueOffset) {
        let offset = i64::try_from(offset.0).unwrap_or(i64::MAX);
        let mut table = self.table.write();
        table.entry(key(topic, group)).or_default().insert(file_queue(queue), offset);
        self.dirty.store(true, Ordering::Release);
    }

    /// Every queue offset of a group for a topic.
    pub fn offsets_of(&self, group: &str, topic: &str) -> BTreeMap<i32, i64> {
        self.table.read().get(&key(topic, group)).cloned().unwrap_or_default()
    }

    /// Topics a group has offsets for.
    pub fn topics_of_group(&self, group: &str) -> Vec<String> {
        let suffix = format!("@{group}");
        self.table.read().keys().filter_map(|k| k.strip_suffix(&suffix)).map(String::from).collect()
    }

    /// Groups that have offsets for a topic.
    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        let prefix = format!("{topic}@");
        self.table.read().keys().filter_map(|k| k.strip_prefix(&prefix)).map(String::from).collect()
    }

    /// Drops a group's offsets (all topics).
    pub fn remove_group(&self, group: &str) {
        let suffix = format!("@{group}");
        self.table.write().retain(|k, _| !k.ends_with(&suffix));
        self.dirty.store(true, Ordering::Release);
    }

    /// Drops a topic's offsets (all groups).
    pub fn remove_topic(&self, topic: &str) {
        let prefix = format!("{topic}@");
        self.table.write().retain(|k, _| !k.starts_with(&prefix));
        self.dirty.store(true, Ordering::Release);
    }

    /// Writes the file if anything changed since the last write.
    pub fn persist_if_dirty(&self) -> io::Result<()> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let file = OffsetFile {
            offset_table: self.table.read().iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        };
        persist::save(&self.path, &file).inspect_err(|_| {
            self.dirty.store(true, Ordering::Release);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_persist_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consumerOffset.json");
        let t = OffsetTable::open(path.clone()).unwrap();
        assert_eq!(t.query("g", "T", QueueId(0)), None);
        t.commit("g", "T", QueueId(0), QueueOffset(42));
        t.commit("g", "T", QueueId(3), QueueOffset(7));
        t.persist_if_dirty().unwrap();
        let t = OffsetTable::open(path).unwrap();
        assert_eq!(t.query("g", "T", QueueId(0)), Some(QueueOffset(42)));
        assert_eq!(t.offsets_of("g", "T").len(), 2);
        assert_eq!(t.topics_of_group("g"), vec!["T".to_string()]);
        assert_eq!(t.groups_of_topic("T"), vec!["g".to_string()]);
    }
}
