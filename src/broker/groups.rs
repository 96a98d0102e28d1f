//! Subscription groups (consumer group settings: retry queues, max retries, consume enable),
//! auto-created on first use when enabled. Persisted to `config/subscriptionGroup.json`.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use super::persist;
use crate::protocol::body::admin::{SubscriptionGroupConfig, SubscriptionGroupWrapper};
use crate::protocol::body::register::DataVersion;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Inner {
    data_version: DataVersion,
    subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
}

/// Consumer group settings known to this broker.
#[derive(Debug)]
pub struct GroupTable {
    inner: RwLock<Inner>,
    path: PathBuf,
    /// Changed at run time by UPDATE_BROKER_CONFIG (`autoCreateSubscriptionGroup`).
    auto_create: AtomicBool,
}

impl GroupTable {
    /// Loads the file if present.
    pub fn open(path: PathBuf, auto_create: bool) -> io::Result<Self> {
        let inner = persist::load(&path)?.unwrap_or_default();
        Ok(Self { inner: RwLock::new(inner), path, auto_create: AtomicBool::new(auto_create) })
    }

    /// Turns auto-creation of unknown groups on or off from now on.
    pub fn set_auto_create(&self, on: bool) {
        self.auto_create.store(on, Ordering::Release);
    }

    /// A group's config, auto-created with defaults when allowed. `None`: unknown and
    /// auto-creation is off.
    pub fn get_or_create(&self, group: &str) -> io::Result<Option<SubscriptionGroupConfig>> {
        if let Some(c) = self.inner.read().subscription_group_table.get(group) {
            return Ok(Some(c.clone()));
        }
        if !self.auto_create.load(Ordering::Acquire) {
            return Ok(None);
        }
        let config = SubscriptionGroupConfig::new(group);
        {
            let mut inner = self.inner.write();
            if let Some(c) = inner.subscription_group_table.get(group) {
                return Ok(Some(c.clone()));
            }
            inner.subscription_group_table.insert(group.to_string(), config.clone());
            inner.data_version.counter += 1;
        }
        self.persist()?;
        Ok(Some(config))
    }

    /// A group's config without creating it.
    pub fn get(&self, group: &str) -> Option<SubscriptionGroupConfig> {
        self.inner.read().subscription_group_table.get(group).cloned()
    }

    /// Creates or replaces a group.
    pub fn put(&self, config: SubscriptionGroupConfig) -> io::Result<()> {
        {
            let mut inner = self.inner.write();
            inner.subscription_group_table.insert(config.group_name.clone(), config);
            inner.data_version.counter += 1;
        }
        self.persist()
    }

    /// Deletes a group; returns whether it existed.
    pub fn delete(&self, group: &str) -> io::Result<bool> {
        let existed = {
            let mut inner = self.inner.write();
            let existed = inner.subscription_group_table.remove(group).is_some();
            inner.data_version.counter += 1;
            existed
        };
        self.persist()?;
        Ok(existed)
    }

    /// Every group (GET_ALL_SUBSCRIPTIONGROUP_CONFIG).
    pub fn wrapper(&self) -> SubscriptionGroupWrapper {
        let inner = self.inner.read();
        SubscriptionGroupWrapper {
            subscription_group_table: inner.subscription_group_table.clone(),
            data_version: inner.data_version,
        }
    }

    fn persist(&self) -> io::Result<()> {
        persist::save(&self.path, &*self.inner.read())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_create_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("subscriptionGroup.json");
        let g = GroupTable::open(path.clone(), true).unwrap();
        assert_eq!(g.get_or_create("cg").unwrap().unwrap().retry_max_times, 16);
        let mut c = SubscriptionGroupConfig::new("cg2");
        c.retry_max_times = 3;
        g.put(c).unwrap();
        let g = GroupTable::open(path, false).unwrap();
        assert_eq!(g.get("cg2").unwrap().retry_max_times, 3);
        assert!(g.get_or_create("new").unwrap().is_none());
        assert!(g.delete("cg").unwrap());
    }
}
