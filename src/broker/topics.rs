//! The broker's topic table: configured topics, auto-created ones, retry and DLQ topics, and the
//! system topics a RocketMQ broker always has. Persisted to `config/topics.json`; every change
//! bumps the data version so the nameserver registration carries it.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use super::persist;
use crate::protocol::body::register::{DataVersion, TopicConfig, TopicConfigSerializeWrapper};
use crate::protocol::constants::{self, perm};
use crate::remoting::now_ms;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Inner {
    data_version: DataVersion,
    topic_config_table: BTreeMap<String, TopicConfig>,
}

/// Topics known to this broker.
#[derive(Debug)]
pub struct TopicTable {
    inner: RwLock<Inner>,
    path: PathBuf,
    /// Serializes writers of topics.json, so the last snapshot taken is the last written. The
    /// file is written outside `inner`'s lock: `net-io` reads the table for every inline send
    /// and must not wait for an fsync behind a queued writer.
    persisting: parking_lot::Mutex<()>,
}

/// The part of a topic's config the send and pull paths check, without cloning the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCounts {
    pub perm: i32,
    pub read_queue_nums: i32,
    pub write_queue_nums: i32,
}

impl From<&TopicConfig> for QueueCounts {
    fn from(t: &TopicConfig) -> Self {
        Self {
            perm: t.perm,
            read_queue_nums: t.read_queue_nums,
            write_queue_nums: t.write_queue_nums,
        }
    }
}

/// Settings the table needs from the broker config.
#[derive(Debug, Clone)]
pub struct TopicDefaults {
    pub cluster_name: String,
    pub broker_name: String,
    pub auto_create_topic_enable: bool,
    pub default_topic_queue_nums: i32,
    pub delay_level_count: i32,
}

impl TopicTable {
    /// Loads `topics.json` and adds the system topics.
    pub fn open(path: PathBuf, defaults: &TopicDefaults) -> io::Result<Self> {
        let mut inner: Inner = persist::load(&path)?.unwrap_or_default();
        for t in system_topics(defaults) {
            inner.topic_config_table.entry(t.topic_name.clone()).or_insert(t);
        }
        if !defaults.auto_create_topic_enable {
            inner.topic_config_table.remove(constants::AUTO_CREATE_TOPIC_KEY);
        }
        inner.data_version.counter += 1;
        inner.data_version.timestamp = now_ms() as i64;
        let table =
            Self { inner: RwLock::new(inner), path, persisting: parking_lot::Mutex::new(()) };
        table.persist()?;
        Ok(table)
    }

    /// One topic's config.
    pub fn get(&self, topic: &str) -> Option<TopicConfig> {
        self.inner.read().topic_config_table.get(topic).cloned()
    }

    /// Permission and queue counts of a topic (the hot paths' lookup).
    pub fn counts(&self, topic: &str) -> Option<QueueCounts> {
        self.inner.read().topic_config_table.get(topic).map(QueueCounts::from)
    }

    /// Creates or replaces a topic.
    pub fn put(&self, config: TopicConfig) -> io::Result<()> {
        {
            let mut inner = self.inner.write();
            inner.topic_config_table.insert(config.topic_name.clone(), config);
            bump(&mut inner.data_version);
        }
        self.persist()
    }

    /// Deletes a topic; returns whether it existed.
    pub fn delete(&self, topic: &str) -> io::Result<bool> {
        let existed = {
            let mut inner = self.inner.write();
            let existed = inner.topic_config_table.remove(topic).is_some();
            if existed {
                bump(&mut inner.data_version);
            }
            existed
        };
        if existed {
            self.persist()?;
        }
        Ok(existed)
    }

    /// The send path's auto-creation: creates `topic` from template `default_topic` when the
    /// template allows it (INHERIT). Returns the new config, or `None` if not allowed.
    pub fn create_from_template(
        &self,
        topic: &str,
        default_topic: &str,
        queue_nums: i32,
    ) -> io::Result<Option<TopicConfig>> {
        let Some(template) = self.get(default_topic) else { return Ok(None) };
        if !perm::is_inherited(template.perm) {
            return Ok(None);
        }
        let queues = queue_nums.clamp(1, template.write_queue_nums.max(1));
        let mut config = TopicConfig::new(topic, queues);
        config.perm = template.perm & !perm::INHERIT;
        self.create_if_absent(config)
    }

    /// Creates `config` unless the topic exists; returns what is in the table afterwards.
    pub fn create_if_absent(&self, config: TopicConfig) -> io::Result<Option<TopicConfig>> {
        {
            let mut inner = self.inner.write();
            if let Some(existing) = inner.topic_config_table.get(&config.topic_name) {
                return Ok(Some(existing.clone()));
            }
            log::info!(
                "creating topic {} with {} queues",
                config.topic_name,
                config.write_queue_nums
            );
            inner.topic_config_table.insert(config.topic_name.clone(), config.clone());
            bump(&mut inner.data_version);
        }
        self.persist()?;
        Ok(Some(config))
    }

    /// The `%RETRY%<group>` topic, created on first use.
    pub fn retry_topic(&self, group: &str, queues: i32) -> io::Result<TopicConfig> {
        let config = TopicConfig::new(&constants::retry_topic(group), queues.max(1));
        Ok(self.create_if_absent(config)?.unwrap_or_default())
    }

    /// The `%DLQ%<group>` topic, created on first use.
    pub fn dlq_topic(&self, group: &str) -> io::Result<TopicConfig> {
        let config = TopicConfig::new(&constants::dlq_topic(group), 1);
        Ok(self.create_if_absent(config)?.unwrap_or_default())
    }

    /// The whole table with its version (registration and GET_ALL_TOPIC_CONFIG).
    pub fn wrapper(&self) -> TopicConfigSerializeWrapper {
        let inner = self.inner.read();
        TopicConfigSerializeWrapper {
            data_version: inner.data_version,
            topic_config_table: inner.topic_config_table.clone(),
        }
    }

    /// The table's data version counter; it grows with every change.
    pub fn version(&self) -> i64 {
        self.inner.read().data_version.counter
    }

    /// Topic names.
    pub fn names(&self) -> Vec<String> {
        self.inner.read().topic_config_table.keys().cloned().collect()
    }

    fn persist(&self) -> io::Result<()> {
        let _writing = self.persisting.lock();
        let bytes = persist::to_json(&*self.inner.read())?;
        persist::write(&self.path, &bytes)
    }
}

fn bump(v: &mut DataVersion) {
    v.counter += 1;
    v.timestamp = now_ms() as i64;
}

fn system_topics(d: &TopicDefaults) -> Vec<TopicConfig> {
    let mut topics = Vec::new();
    if d.auto_create_topic_enable {
        let mut tbw =
            TopicConfig::new(constants::AUTO_CREATE_TOPIC_KEY, d.default_topic_queue_nums);
        tbw.perm = perm::READ | perm::WRITE | perm::INHERIT;
        topics.push(tbw);
    }
    let mut schedule = TopicConfig::new(constants::SCHEDULE_TOPIC, d.delay_level_count);
    schedule.perm = perm::READ_WRITE;
    topics.push(schedule);
    let mut timer = TopicConfig::new(constants::TIMER_TOPIC, 1);
    timer.perm = perm::READ_WRITE;
    topics.push(timer);
    topics.push(TopicConfig::new("SELF_TEST_TOPIC", 1));
    topics.push(TopicConfig::new("OFFSET_MOVED_EVENT", 1));
    // Java brokers route their cluster and broker names as topics so admin tools can find them.
    let mut cluster = TopicConfig::new(&d.cluster_name, 16);
    cluster.perm = perm::READ_WRITE;
    topics.push(cluster);
    topics.push(TopicConfig::new(&d.broker_name, 1));
    topics
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(auto: bool) -> TopicDefaults {
        TopicDefaults {
            cluster_name: "DefaultCluster".into(),
            broker_name: "broker-a".into(),
            auto_create_topic_enable: auto,
            default_topic_queue_nums: 8,
            delay_level_count: 18,
        }
    }

    #[test]
    fn persists_and_auto_creates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("topics.json");
        let t = TopicTable::open(path.clone(), &defaults(true)).unwrap();
        assert_eq!(t.get("TBW102").unwrap().perm, 7);
        let created = t.create_from_template("New", "TBW102", 4).unwrap().unwrap();
        assert_eq!((created.write_queue_nums, created.perm), (4, 6));
        t.put(TopicConfig::new("Mine", 2)).unwrap();
        let v1 = t.wrapper().data_version.counter;
        drop(t);
        let t = TopicTable::open(path, &defaults(false)).unwrap();
        assert!(t.get("New").is_some() && t.get("Mine").is_some());
        assert!(t.get("TBW102").is_none());
        assert!(t.wrapper().data_version.counter > v1);
        assert!(t.create_from_template("Other", "TBW102", 4).unwrap().is_none());
        assert!(t.delete("Mine").unwrap());
        assert!(t.get("Mine").is_none());
    }
}
