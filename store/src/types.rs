//! Plain result types of the public store API.

use crate::offset::{PhysOffset, QueueOffset};

/// Result of a successful put.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutResult {
    /// Commitlog offset of the first record.
    pub phys_offset: PhysOffset,
    /// Queue offset of the first record (0 for prepared/rollback transaction messages).
    pub queue_offset: QueueOffset,
    /// Number of messages stored.
    pub msg_count: u32,
    /// Bytes written to the commitlog.
    pub wrote_bytes: u32,
    /// Offset message id of each message.
    pub msg_ids: Vec<String>,
    /// Store timestamp of the message(s).
    pub store_timestamp_ms: i64,
}

/// Status of a read from a queue (PROTOCOL.md §8.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GetStatus {
    /// Messages were returned.
    Found,
    /// The queue exists but holds no entries (`max_offset == 0`).
    NoMessageInQueue,
    /// `offset < min_offset`; next = min offset.
    OffsetTooSmall,
    /// `offset == max_offset`: nothing new yet (long-poll candidate); next = offset.
    OffsetOverflowOne,
    /// `offset > max_offset`; next = max offset.
    OffsetOverflowBadly,
    /// Entries exist but nothing readable (commitlog data gone); next = past them.
    OffsetFoundNull,
    /// Entries were read but none matched the filter; next = past the scanned entries.
    NoMatchedMessage,
    /// The topic-queue is unknown; next = 0.
    NoMatchedLogicQueue,
}

/// Per-message details of a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageInfo {
    /// Logical offset in the queue.
    pub queue_offset: QueueOffset,
    /// Commitlog offset.
    pub phys_offset: PhysOffset,
    /// Record size.
    pub size: u32,
    /// Consume-queue tag code.
    pub tags_code: i64,
    /// Store timestamp.
    pub store_timestamp_ms: i64,
}

/// Result of [`crate::MessageStore::get_messages`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetResult {
    /// What happened.
    pub status: GetStatus,
    /// The raw stored records, concatenated exactly as in the commitlog.
    pub messages: Vec<u8>,
    /// Number of records in `messages`.
    pub message_count: u32,
    /// Where the consumer should read next.
    pub next_begin_offset: QueueOffset,
    /// Smallest readable offset of the queue.
    pub min_offset: QueueOffset,
    /// Next offset to be written in the queue.
    pub max_offset: QueueOffset,
    /// One entry per returned record, in order.
    pub message_infos: Vec<MessageInfo>,
}

impl GetResult {
    /// Store timestamp of the first returned message.
    pub fn first_store_timestamp_ms(&self) -> Option<i64> {
        self.message_infos.first().map(|m| m.store_timestamp_ms)
    }
}

/// Counters and gauges for monitoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Messages stored since open.
    pub put_message_count: u64,
    /// Commitlog bytes written since open.
    pub put_message_bytes: u64,
    /// Puts that failed.
    pub put_failure_count: u64,
    /// Sync-flush puts that timed out.
    pub flush_timeout_count: u64,
    /// Oldest commitlog offset.
    pub commitlog_min_offset: PhysOffset,
    /// End of the commitlog.
    pub commitlog_max_offset: PhysOffset,
    /// Durable end of the commitlog.
    pub flushed_offset: PhysOffset,
    /// Commitlog offset up to which consume queues and index are built.
    pub dispatched_offset: PhysOffset,
    /// Commitlog offset below which flushed bytes were evicted from the page cache
    /// (`commitlog_cache_window_bytes`); reads below it may go to disk.
    pub cache_evicted_offset: PhysOffset,
    /// Disk usage at the last check.
    pub disk_used_percent: u8,
    /// Writes are refused because the disk is full.
    pub disk_full: bool,
    /// Why writes are refused for disk space (`None` while they are accepted).
    pub disk_full_cause: Option<DiskFullCause>,
    /// The store opened on a full disk and has refused writes since (cleared once space is
    /// freed and writes are accepted again).
    pub opened_read_only: bool,
    /// The allocator thread's last pre-creation of the next commitlog segment failed (the
    /// writer retries at the roll; a put that cannot roll gets `DiskFull`).
    pub segment_alloc_failed: bool,
    /// Writes are refused because a flush or write failed.
    pub store_failed: bool,
    /// Number of consume queues.
    pub consume_queue_count: u64,
}

/// Why the store refuses writes for disk space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiskFullCause {
    /// Usage is above `disk_hard_limit_ratio_percent` (cleared at or below the warning
    /// ratio).
    Watermark,
    /// Creating or reserving a file failed with `ENOSPC` (segment roll, consume-queue or
    /// index file, or reserving the last segment at open).
    NoSpace,
}

/// What one cleanup run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Commitlog segments deleted.
    pub commitlog_files_deleted: usize,
    /// Consume-queue files deleted.
    pub consume_queue_files_deleted: usize,
    /// Index files deleted.
    pub index_files_deleted: usize,
    /// Whether writes are refused for disk space after this run.
    pub disk_full: bool,
}

/// What recovery found at open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The previous run shut down cleanly (no commitlog scan was needed).
    pub clean_shutdown: bool,
    /// Commitlog bytes checked record by record.
    pub scanned_bytes: u64,
    /// Records dispatched again into consume queues and index.
    pub redispatched_records: u64,
    /// End of the recovered commitlog.
    pub commitlog_end: PhysOffset,
    /// Damaged commitlog ranges the scan skipped (each copied to a quarantine file next to
    /// its segment and zeroed in place); the records after each were kept.
    pub quarantined_ranges: u64,
    /// Bytes in those ranges.
    pub quarantined_bytes: u64,
}
