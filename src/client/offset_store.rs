//! Consumer offsets: the in-memory table the consumers update as messages are consumed, and
//! where it is persisted: on the broker (clustering, UPDATE_CONSUMER_OFFSET) or in a local file
//! (broadcasting, `<dir>/<client id>/<group>/offsets.json` in Java's OffsetSerializeWrapper
//! format, written to a temporary file and renamed so a crash never leaves half a file).
//!
//! An offset here is always "the next message to consume" (the lowest not yet consumed).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use log::{debug, warn};
use parking_lot::Mutex;

use super::api;
use super::error::{ClientError, Result};
use super::instance::ClientInstance;
use crate::protocol::body::queue::{MessageQueue, ResetOffsetBody};

/// Where offsets are persisted.
#[derive(Debug)]
enum Backend {
    Broker(Arc<ClientInstance>),
    File(PathBuf),
}

/// A consumer group's offsets.
#[derive(Debug)]
pub(crate) struct OffsetStore {
    group: String,
    table: Mutex<HashMap<MessageQueue, i64>>,
    backend: Backend,
}

impl OffsetStore {
    /// Offsets kept on the brokers.
    pub(crate) fn remote(instance: Arc<ClientInstance>, group: &str) -> Self {
        Self { group: group.into(), table: Mutex::default(), backend: Backend::Broker(instance) }
    }

    /// Offsets kept in `dir/<client id>/<group>/offsets.json`; loads the file if present.
    pub(crate) fn local(dir: &Path, client_id: &str, group: &str) -> Result<Self> {
        let path = dir.join(sanitize(client_id)).join(sanitize(group)).join("offsets.json");
        let table = load_file(&path)?;
        Ok(Self { group: group.into(), table: Mutex::new(table), backend: Backend::File(path) })
    }

    /// Sets the in-memory offset; with `increase_only`, never moves it backwards.
    pub(crate) fn update(&self, mq: &MessageQueue, offset: i64, increase_only: bool) {
        let mut table = self.table.lock();
        let entry = table.entry(mq.clone()).or_insert(offset);
        if !increase_only || offset > *entry {
            *entry = offset;
        }
    }

    /// The in-memory offset.
    pub(crate) fn read_memory(&self, mq: &MessageQueue) -> Option<i64> {
        self.table.lock().get(mq).copied()
    }

    /// The persisted offset (broker query, or the loaded file), cached in memory.
    pub(crate) fn read_store(&self, mq: &MessageQueue) -> Result<Option<i64>> {
        match &self.backend {
            Backend::Broker(instance) => {
                let offset = api::query_consumer_offset(instance, &self.group, mq)?;
                if let Some(offset) = offset {
                    self.update(mq, offset, false);
                }
                Ok(offset)
            }
            Backend::File(_) => Ok(self.read_memory(mq)),
        }
    }

    /// Forgets `mq` (it was reassigned).
    pub(crate) fn remove(&self, mq: &MessageQueue) {
        self.table.lock().remove(mq);
    }

    /// Persists the offsets of `mqs` (all known offsets for a file store). Returns the first
    /// failure after trying everything.
    pub(crate) fn persist(&self, mqs: &[MessageQueue]) -> Result<()> {
        match &self.backend {
            Backend::Broker(instance) => {
                let mut first_err = None;
                for mq in mqs {
                    let Some(offset) = self.read_memory(mq) else { continue };
                    if let Err(e) = api::update_consumer_offset(instance, &self.group, mq, offset) {
                        debug!("cannot commit offset {offset} of {mq}: {e}");
                        first_err.get_or_insert(e);
                    }
                }
                first_err.map_or(Ok(()), Err)
            }
            Backend::File(path) => {
                let body = ResetOffsetBody {
                    offset_table: self.table.lock().iter().map(|(k, v)| (k.clone(), *v)).collect(),
                };
                write_file(path, &body.to_json())
            }
        }
    }
}

/// Keeps path components to one directory level.
fn sanitize(name: &str) -> String {
    name.chars().map(|c| if matches!(c, '/' | '\\' | ':') { '_' } else { c }).collect()
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> ClientError {
    ClientError::invalid(format!("offset file {}: {e}", path.display()))
}

fn load_file(path: &Path) -> Result<HashMap<MessageQueue, i64>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match std::fs::read(path.with_extension("json.bak")) {
                Ok(bytes) => bytes,
                Err(_) => return Ok(HashMap::new()),
            }
        }
        Err(e) => return Err(io_error(path, e)),
    };
    match ResetOffsetBody::from_json(&bytes) {
        Ok(body) => Ok(body.offset_table.into_iter().collect()),
        Err(e) => {
            warn!("ignoring unreadable offset file {}: {e}", path.display());
            Ok(HashMap::new())
        }
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().ok_or_else(|| io_error(path, "no parent directory"))?;
    std::fs::create_dir_all(dir).map_err(|e| io_error(path, e))?;
    if path.exists() {
        let _ = std::fs::copy(path, path.with_extension("json.bak"));
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes).map_err(|e| io_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_store_roundtrips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mq = MessageQueue::new("T", "b", 1);
        let store = OffsetStore::local(dir.path(), "127.0.0.1@x", "g").unwrap();
        assert_eq!(store.read_store(&mq).unwrap(), None);
        store.update(&mq, 10, true);
        store.update(&mq, 7, true);
        assert_eq!(store.read_memory(&mq), Some(10), "increase-only keeps the larger");
        store.update(&mq, 7, false);
        assert_eq!(store.read_memory(&mq), Some(7));
        store.persist(&[]).unwrap();
        store.update(&mq, 8, false);
        store.persist(&[]).unwrap();
        let again = OffsetStore::local(dir.path(), "127.0.0.1@x", "g").unwrap();
        assert_eq!(again.read_store(&mq).unwrap(), Some(8));
        let file = dir.path().join("127.0.0.1@x").join("g").join("offsets.json");
        let text = std::fs::read_to_string(file).unwrap();
        assert_eq!(text, r#"{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"T"}:8}}"#);
        again.remove(&mq);
        assert_eq!(again.read_memory(&mq), None);
    }
}
