//! Error types of the public store operations. No wire codes here: the broker maps these to
//! response codes in one place.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::ConfigError;
use crate::record::RecordError;

/// Why a put failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum PutError {
    /// The body is larger than `max_message_size_bytes` (or the record cannot fit a segment).
    MessageTooLarge {
        /// Size of the body (or record) in bytes.
        size_bytes: u64,
        /// Allowed maximum.
        max_bytes: u64,
    },
    /// The properties are longer than 32,767 bytes.
    PropertiesTooLarge {
        /// Properties size in bytes.
        size_bytes: u64,
        /// Allowed maximum.
        max_bytes: u64,
    },
    /// The topic is empty or longer than 255 bytes.
    TopicTooLong {
        /// Topic size in bytes.
        size_bytes: u64,
        /// Allowed maximum.
        max_bytes: u64,
    },
    /// A batch was empty or mixed topics/queues.
    InvalidBatch {
        /// What is wrong.
        reason: &'static str,
    },
    /// Disk usage is above the hard limit; reads still work.
    DiskFull {
        /// Current usage.
        used_percent: u8,
    },
    /// An earlier flush or write failed; the store refuses writes until restarted.
    StoreFailed {
        /// The first failure.
        reason: StoreFailure,
    },
    /// The store is shutting down.
    NotWritable,
    /// Sync flush: the data is written but was not confirmed durable in time.
    FlushDiskTimeout,
    /// An I/O error while preparing a segment.
    Io(io::Error),
}

impl fmt::Display for PutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::MessageTooLarge { size_bytes, max_bytes } => {
                write!(f, "message of {size_bytes} bytes exceeds the limit of {max_bytes}")
            }
            PutError::PropertiesTooLarge { size_bytes, max_bytes } => {
                write!(f, "properties of {size_bytes} bytes exceed the limit of {max_bytes}")
            }
            PutError::TopicTooLong { size_bytes, max_bytes } => {
                write!(f, "topic of {size_bytes} bytes is empty or exceeds {max_bytes}")
            }
            PutError::InvalidBatch { reason } => write!(f, "invalid batch: {reason}"),
            PutError::DiskFull { used_percent } => {
                write!(f, "disk is {used_percent}% full; writes are refused")
            }
            PutError::StoreFailed { reason } => write!(f, "store failed: {reason}"),
            PutError::NotWritable => write!(f, "store is shutting down"),
            PutError::FlushDiskTimeout => write!(f, "stored, but flush to disk timed out"),
            PutError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for PutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PutError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// The first failure on the durable path, after which the store refuses writes until it
/// is restarted (reads go on). Set once; later failures are only logged.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum StoreFailure {
    /// `msync` of the commitlog failed: acknowledged-later data may not be durable.
    CommitlogFlush {
        /// The error of the failed flush.
        source: Arc<io::Error>,
    },
    /// Writing a consume-queue or index entry failed (dispatch).
    ConsumeQueueWrite {
        /// The error of the failed write.
        source: Arc<io::Error>,
    },
    /// Flushing consume queues or index files, or writing the checkpoint, failed.
    LogicsFlush {
        /// The error of the failed flush.
        source: Arc<io::Error>,
    },
}

impl StoreFailure {
    /// The I/O error behind the failure.
    pub fn io_error(&self) -> &io::Error {
        match self {
            StoreFailure::CommitlogFlush { source }
            | StoreFailure::ConsumeQueueWrite { source }
            | StoreFailure::LogicsFlush { source } => source,
        }
    }
}

impl fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreFailure::CommitlogFlush { source } => {
                write!(f, "commitlog flush (msync) failed: {source}")
            }
            StoreFailure::ConsumeQueueWrite { source } => {
                write!(f, "consume queue or index write failed: {source}")
            }
            StoreFailure::LogicsFlush { source } => {
                write!(f, "consume queue, index or checkpoint flush failed: {source}")
            }
        }
    }
}

impl std::error::Error for StoreFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.io_error())
    }
}

/// Why raw commitlog bytes could not be read ([`crate::MessageStore::read_commitlog`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplicaReadError {
    /// The offset is below the oldest segment (deleted by cleanup).
    BelowStart {
        /// The requested offset.
        offset: u64,
        /// The commitlog start.
        start: u64,
    },
    /// The offset is past the end of the log.
    PastEnd {
        /// The requested offset.
        offset: u64,
        /// The commitlog end.
        end: u64,
    },
    /// The bytes at the offset are not a record (not a boundary, or damaged).
    NotARecord {
        /// The requested offset.
        offset: u64,
        /// What is wrong with the bytes.
        error: RecordError,
    },
}

impl fmt::Display for ReplicaReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplicaReadError::BelowStart { offset, start } => {
                write!(f, "commitlog offset {offset} is below the start {start}")
            }
            ReplicaReadError::PastEnd { offset, end } => {
                write!(f, "commitlog offset {offset} is past the end {end}")
            }
            ReplicaReadError::NotARecord { offset, error } => {
                write!(f, "no record at commitlog offset {offset}: {error}")
            }
        }
    }
}

impl std::error::Error for ReplicaReadError {}

/// Why replicated bytes were refused ([`crate::MessageStore::append_replicated`]). Nothing
/// is appended when any check fails.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplicaAppendError {
    /// The bytes do not start at the end of the log.
    Discontinuous {
        /// Where the bytes claim to start.
        offset: u64,
        /// The end of the log, where they must start.
        expected: u64,
    },
    /// A record is invalid (structure, CRC, or its own offset differs from where it lands)
    /// or cut off at the end of the bytes.
    BadRecord {
        /// Commitlog offset of the record.
        offset: u64,
        /// What is wrong.
        error: RecordError,
    },
    /// The bytes run past the end of their segment, a record leaves no room for the
    /// trailer, or the trailer is wrong or followed by more bytes.
    SegmentBoundary {
        /// Commitlog offset of the offending bytes.
        offset: u64,
    },
    /// The store refuses writes (an earlier failure).
    StoreFailed {
        /// The first failure.
        reason: StoreFailure,
    },
    /// Disk usage is above the hard limit.
    DiskFull {
        /// Current usage.
        used_percent: u8,
    },
    /// The store is shutting down.
    NotWritable,
    /// The next segment could not be created.
    Io(io::Error),
}

impl fmt::Display for ReplicaAppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplicaAppendError::Discontinuous { offset, expected } => {
                write!(f, "replicated bytes start at {offset}, the log ends at {expected}")
            }
            ReplicaAppendError::BadRecord { offset, error } => {
                write!(f, "bad replicated record at {offset}: {error}")
            }
            ReplicaAppendError::SegmentBoundary { offset } => {
                write!(f, "replicated bytes at {offset} do not respect the segment boundary")
            }
            ReplicaAppendError::StoreFailed { reason } => write!(f, "store failed: {reason}"),
            ReplicaAppendError::DiskFull { used_percent } => {
                write!(f, "disk is {used_percent}% full; writes are refused")
            }
            ReplicaAppendError::NotWritable => write!(f, "store is shutting down"),
            ReplicaAppendError::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for ReplicaAppendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReplicaAppendError::Io(e) => Some(e),
            ReplicaAppendError::StoreFailed { reason } => Some(reason),
            _ => None,
        }
    }
}

/// Why the store could not open.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// The configuration is invalid.
    Config(ConfigError),
    /// Another store holds `<store>/lock`.
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A file or directory could not be read, created or mapped.
    Io {
        /// What was being accessed.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The files on disk are inconsistent in a way recovery does not repair.
    Corrupt {
        /// The offending file or directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl OpenError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> OpenError {
        OpenError::Io { path: path.into(), source }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Config(e) => write!(f, "{e}"),
            OpenError::Locked { path } => {
                write!(f, "store is already open ({} is locked)", path.display())
            }
            OpenError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            OpenError::Corrupt { path, reason } => {
                write!(f, "{}: corrupt store: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Config(e) => Some(e),
            OpenError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<ConfigError> for OpenError {
    fn from(e: ConfigError) -> Self {
        OpenError::Config(e)
    }
}
