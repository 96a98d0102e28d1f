//! JSON files in the store's `config/` directory (topics.json, subscriptionGroup.json,
//! consumerOffset.json, delayOffset.json): load at start, replace atomically on change.

use std::io;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Loads `path`, or returns `None` if it does not exist. A corrupt file is an error: starting
/// with empty tables would silently reset every consumer.
pub fn load<T: DeserializeOwned>(path: &Path) -> io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `value` to `path` atomically (temp file, fsync, rename).
pub fn save<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    write(path, &to_json(value)?)
}

/// The file contents for `value` (so that a caller can serialize under its lock and write
/// after releasing it).
pub fn to_json<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    serde_json::to_vec_pretty(value).map_err(io::Error::other)
}

/// Replaces `path` with `bytes` atomically (temp file, fsync, rename).
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    rocketmq_store::write_file_atomically(path, bytes)
}
