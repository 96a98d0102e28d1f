//! Store configuration: plain data with RocketMQ's defaults, validated once in
//! `MessageStore::open` (see [`StoreConfig::validate`]).

use std::fmt;
use std::path::PathBuf;

use crate::mmap::PAGE_SIZE;
use crate::record::RECORD_OVERHEAD_V1;

/// How appends become durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushDiskType {
    /// A background thread flushes every `flush_interval_ms`; puts return at once.
    Async,
    /// Puts wait until their bytes are flushed (group commit).
    Sync,
}

/// Everything the store needs to know. Build with [`StoreConfig::new`] and adjust fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Root directory (`commitlog/`, `consumequeue/`, `index/`, `config/`, `checkpoint`, ...).
    pub store_path: PathBuf,
    /// Size of each commitlog segment (multiple of 4096; default 1 GiB).
    pub commitlog_file_size_bytes: u64,
    /// Entries per consume-queue file (default 300,000 → 6,000,000 bytes).
    pub consume_queue_entries_per_file: u64,
    /// Hash slots per index file (default 5,000,000).
    pub index_hash_slots: u32,
    /// Entries per index file (default 20,000,000).
    pub index_max_entries: u32,
    /// Async or sync (group commit) flushing.
    pub flush_disk_type: FlushDiskType,
    /// Async flush period (default 500 ms).
    pub flush_interval_ms: u64,
    /// Async flush only when at least this many 4 KiB pages are dirty (default 4).
    pub flush_least_pages: u32,
    /// Async flush flushes everything at least this often (default 10 s).
    pub flush_thorough_interval_ms: u64,
    /// Consume-queue and index flush period (default 1 s).
    pub flush_consume_queue_interval_ms: u64,
    /// How long a sync-flush put waits before `FlushDiskTimeout` (default 5 s).
    pub sync_flush_timeout_ms: u64,
    /// Largest accepted body (default 4 MiB).
    pub max_message_size_bytes: u32,
    /// Commitlog files older than this are deleted by cleanup (default 72 h).
    pub file_reserved_hours: u32,
    /// Hours of the day (local time, each 0..=23) when expired files are deleted (default
    /// `[4]`; Java's `deleteWhen=04;16` is `[4, 16]`).
    pub delete_when_hours: Vec<u8>,
    /// Above this disk usage expired files are deleted at any hour (default 75 %).
    pub disk_max_used_ratio_percent: u8,
    /// Above this usage files are deleted even if not expired; writes are allowed again
    /// once usage drops to it (default 85 %).
    pub disk_warning_ratio_percent: u8,
    /// Above this usage writes are refused with `DiskFull` (default 90 %).
    pub disk_hard_limit_ratio_percent: u8,
    /// Period of the cleanup thread (default 10 s).
    pub clean_interval_ms: u64,
    /// At most this many commitlog files are deleted per cleanup run (default 10).
    pub delete_file_batch_max: u32,
    /// Delay per level for `SCHEDULE_TOPIC_XXXX` (level 1 = index 0).
    pub delay_levels_ms: Vec<u64>,
    /// Build index files for KEYS and UNIQ_KEY (default true).
    pub index_enable: bool,
    /// Fault commitlog pages in just ahead of the writer, so appends do not page-fault
    /// (default true).
    pub warm_mapped_file: bool,
    /// Flushed commitlog bytes more than this far behind the write position are evicted from
    /// the page cache, so their pages are reused by new writes (default 1 GiB). Consumers
    /// further behind read from disk. `None` leaves eviction to the kernel.
    pub commitlog_cache_window_bytes: Option<u64>,
}

/// A configuration value that cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A field has a value outside its allowed range.
    Invalid {
        /// Field name.
        field: &'static str,
        /// What is required.
        requirement: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid { field, requirement } => {
                write!(f, "invalid store config: {field} must be {requirement}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// The default delay levels: 1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h.
pub fn default_delay_levels_ms() -> Vec<u64> {
    const S: u64 = 1000;
    const M: u64 = 60 * S;
    vec![
        S,
        5 * S,
        10 * S,
        30 * S,
        M,
        2 * M,
        3 * M,
        4 * M,
        5 * M,
        6 * M,
        7 * M,
        8 * M,
        9 * M,
        10 * M,
        20 * M,
        30 * M,
        60 * M,
        120 * M,
    ]
}

impl StoreConfig {
    /// A configuration with RocketMQ's defaults rooted at `store_path`.
    pub fn new(store_path: impl Into<PathBuf>) -> StoreConfig {
        StoreConfig {
            store_path: store_path.into(),
            commitlog_file_size_bytes: 1 << 30,
            consume_queue_entries_per_file: 300_000,
            index_hash_slots: 5_000_000,
            index_max_entries: 20_000_000,
            flush_disk_type: FlushDiskType::Async,
            flush_interval_ms: 500,
            flush_least_pages: 4,
            flush_thorough_interval_ms: 10_000,
            flush_consume_queue_interval_ms: 1000,
            sync_flush_timeout_ms: 5000,
            max_message_size_bytes: 4 << 20,
            file_reserved_hours: 72,
            delete_when_hours: vec![4],
            disk_max_used_ratio_percent: 75,
            disk_warning_ratio_percent: 85,
            disk_hard_limit_ratio_percent: 90,
            clean_interval_ms: 10_000,
            delete_file_batch_max: 10,
            delay_levels_ms: default_delay_levels_ms(),
            index_enable: true,
            warm_mapped_file: true,
            commitlog_cache_window_bytes: Some(1 << 30),
        }
    }

    /// Checks that the values can work together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, requirement| Err(ConfigError::Invalid { field, requirement });
        let size = self.commitlog_file_size_bytes;
        if size == 0 || size % PAGE_SIZE as u64 != 0 {
            return invalid("commitlog_file_size_bytes", "a non-zero multiple of 4096");
        }
        if size > u64::from(u32::MAX) || usize::try_from(size).is_err() {
            return invalid("commitlog_file_size_bytes", "at most 4 GiB - 4 KiB");
        }
        if size < (RECORD_OVERHEAD_V1 as u64 + 1024) * 4 {
            return invalid("commitlog_file_size_bytes", "large enough for a few records");
        }
        let cq = self.consume_queue_entries_per_file;
        if cq == 0 || cq.saturating_mul(20) > u64::from(u32::MAX) {
            return invalid("consume_queue_entries_per_file", "between 1 and 200 million");
        }
        if self.index_hash_slots == 0 || self.index_max_entries < 2 {
            return invalid("index_hash_slots/index_max_entries", "at least 1 slot and 2 entries");
        }
        let index_bytes =
            40u64 + u64::from(self.index_hash_slots) * 4 + u64::from(self.index_max_entries) * 20;
        if index_bytes > i32::MAX as u64 * 4 {
            return invalid("index_max_entries", "small enough for one index file");
        }
        if self.delete_when_hours.is_empty() || self.delete_when_hours.iter().any(|&h| h > 23) {
            return invalid("delete_when_hours", "one or more hours, each 0..=23");
        }
        let (max, warn, hard) = (
            self.disk_max_used_ratio_percent,
            self.disk_warning_ratio_percent,
            self.disk_hard_limit_ratio_percent,
        );
        if !(10..=95).contains(&max) || warn > 100 || hard > 100 || warn > hard {
            return invalid("disk ratios", "max in 10..=95 and warning <= hard limit <= 100");
        }
        if self.delay_levels_ms.is_empty() {
            return invalid("delay_levels_ms", "non-empty");
        }
        if self.flush_interval_ms == 0 || self.flush_consume_queue_interval_ms == 0 {
            return invalid("flush intervals", "at least 1 ms");
        }
        if self.clean_interval_ms == 0 || self.delete_file_batch_max == 0 {
            return invalid("clean_interval_ms/delete_file_batch_max", "at least 1");
        }
        Ok(())
    }

    /// Commitlog segment size as usize (validated).
    pub(crate) fn commitlog_file_size(&self) -> usize {
        usize::try_from(self.commitlog_file_size_bytes).unwrap_or(usize::MAX)
    }

    /// Consume-queue file size in bytes (validated).
    pub(crate) fn consume_queue_file_size(&self) -> usize {
        usize::try_from(self.consume_queue_entries_per_file * 20).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = StoreConfig::new("/tmp/x");
        c.validate().unwrap();
        assert_eq!(c.delay_levels_ms.len(), 18);
        assert_eq!(c.delay_levels_ms[17], 7_200_000);
    }

    #[test]
    fn odd_file_size_rejected() {
        let mut c = StoreConfig::new("/tmp/x");
        c.commitlog_file_size_bytes = 65_537;
        assert!(c.validate().is_err());
    }
}
