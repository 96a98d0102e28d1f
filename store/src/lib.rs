//! `rocketmq-store`: the broker's storage engine, laid out like Apache RocketMQ's store.
//!
//! ```text
//! <store_path>/commitlog/<20-digit offset>       append-only message log (1 GiB segments)
//!             consumequeue/<topic>/<queue>/<off>  20-byte entries per topic-queue
//!             index/<yyyyMMddHHmmssSSS>           key / unique-id hash index
//!             config/                             the broker's JSON files
//!             checkpoint, abort, lock
//! ```
//!
//! The store knows nothing of sockets, request codes or broker configuration: it takes a
//! [`StoreConfig`] and hands back typed results. [`MessageStore`] is the facade; the
//! [`record`] module is the pure codec of stored messages. Byte layouts and recovery rules
//! are in `docs/STORE_FORMAT.md`.
//!
//! A failed flush or write is sticky: [`MessageStore::failure`] reports the first
//! [`StoreFailure`] and every later put returns [`PutError::StoreFailed`]. For replication the
//! store offers raw reads ([`MessageStore::read_commitlog`]), checked appends of replicated
//! bytes ([`MessageStore::append_replicated`]), a confirm watermark
//! ([`MessageStore::set_confirm_offset`]) and [`MessageStore::open_truncated`]. With the
//! `testing` feature it adds fault injection (`Faults`) and simulated crashes and power
//! losses.
//!
//! **Invariant:** `unsafe` code lives only in the private `mmap` module.

#![deny(missing_docs)]

mod checkpoint;
mod cleanup;
mod commit_log;
pub mod config;
mod consume_queue;
mod dispatch;
pub mod error;
mod fault;
mod file_queue;
mod flush;
mod fsutil;
mod index;
mod mmap;
pub mod offset;
mod page_cache;
mod read;
pub mod record;
mod recovery;
mod replication;
mod state;
mod store;
#[cfg(any(test, feature = "testing"))]
mod testing;
pub mod types;

pub use config::{default_delay_levels_ms, ConfigError, FlushDiskType, StoreConfig};
pub use dispatch::SCHEDULE_TOPIC;
pub use error::{OpenError, PutError, ReplicaAppendError, ReplicaReadError, StoreFailure};
#[cfg(any(test, feature = "testing"))]
pub use fault::{simulate_disk, FaultPoint, Faults, SimulatedDisk};
pub use fsutil::write_file_atomically;
pub use offset::{PhysOffset, QueueId, QueueOffset};
pub use record::{
    decode_properties, decode_record, encode_properties, java_string_hash, offset_msg_id,
    parse_offset_msg_id, DecodedRecord, MessageToStore, RecordError, RecordView,
};
pub use state::ArrivalListener;
pub use store::{MessageStore, PendingPut};
pub use types::{
    CleanupReport, DiskFullCause, GetResult, GetStatus, MessageInfo, PutResult, RecoveryReport,
    StoreStats,
};
