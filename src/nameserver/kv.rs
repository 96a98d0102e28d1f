//! KV config: namespaced string settings (PUT/GET/DELETE_KV_CONFIG), optionally persisted to a
//! JSON file so they survive a restart, as `kvConfig.json` does for the Java nameserver.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Namespace → key → value, plus where to persist it.
#[derive(Debug, Default)]
pub struct KvConfig {
    table: BTreeMap<String, BTreeMap<String, String>>,
    path: Option<PathBuf>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct KvFile {
    config_table: BTreeMap<String, BTreeMap<String, String>>,
}

impl KvConfig {
    /// Loads `path` if it exists; `None` keeps everything in memory.
    pub fn open(path: Option<PathBuf>) -> io::Result<Self> {
        let mut table = BTreeMap::new();
        if let Some(p) = &path {
            match std::fs::read(p) {
                Ok(bytes) => {
                    let file: KvFile = serde_json::from_slice(&bytes)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    table = file.config_table;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Self { table, path })
    }

    /// Sets a value and persists.
    pub fn put(&mut self, namespace: &str, key: &str, value: &str) -> io::Result<()> {
        self.table.entry(namespace.into()).or_default().insert(key.into(), value.into());
        self.persist()
    }

    /// Reads a value.
    pub fn get(&self, namespace: &str, key: &str) -> Option<&str> {
        self.table.get(namespace)?.get(key).map(String::as_str)
    }

    /// Deletes a value and persists.
    pub fn delete(&mut self, namespace: &str, key: &str) -> io::Result<()> {
        if let Some(ns) = self.table.get_mut(namespace) {
            ns.remove(key);
            if ns.is_empty() {
                self.table.remove(namespace);
            }
        }
        self.persist()
    }

    /// Every key of a namespace.
    pub fn namespace(&self, namespace: &str) -> Option<&BTreeMap<String, String>> {
        self.table.get(namespace)
    }

    fn persist(&self) -> io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let body = serde_json::to_vec_pretty(&KvFile { config_table: self.table.clone() })
            .map_err(io::Error::other)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_across_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.json");
        let mut kv = KvConfig::open(Some(path.clone())).unwrap();
        kv.put("ORDER_TOPIC_CONFIG", "T", "broker-a:4").unwrap();
        kv.put("ns", "k", "v").unwrap();
        kv.delete("ns", "k").unwrap();
        let kv = KvConfig::open(Some(path)).unwrap();
        assert_eq!(kv.get("ORDER_TOPIC_CONFIG", "T"), Some("broker-a:4"));
        assert_eq!(kv.get("ns", "k"), None);
        assert!(kv.namespace("ns").is_none());
    }
}
