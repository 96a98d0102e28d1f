//! `MessageStore`: the public facade. Owns the commitlog, consume queues, index and
//! checkpoint, and the background threads:
//!
//! * `rmq-store-alloc`: pre-creates the next commitlog segment, populates pages ahead of the
//!   writer and evicts flushed pages behind the cache window (`page_cache`);
//! * `rmq-store-flush`: async flush (interval + least pages) or sync group commit;
//! * `rmq-store-dispatch`: builds consume queues and index behind the writer and tells the
//!   arrival listener which queues grew;
//! * `rmq-store-flush-cq`: flushes consume queues and index and writes the checkpoint;
//! * `rmq-store-clean`: deletes expired files and tracks disk usage.
//!
//! Invariants: a failed flush or consume-queue write is sticky (every later put returns
//! `StoreFailed`); readers only see records that are dispatched, and under sync flush only
//! flushed ones; the abort file is removed only after a complete, successful shutdown.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::checkpoint::{create_abort_file, remove_abort_file, Checkpoint};
use crate::commit_log::{AllocatorLink, CommitLog};
use crate::config::{FlushDiskType, StoreConfig};
use crate::consume_queue::{
    ConsumeQueue, ConsumeQueueTable, CqEntry, EntryMismatch, CHECKED_HEADER_BYTES, MIN_RECORD_SIZE,
};
use crate::dispatch::{DispatchError, DispatchTargets, Dispatcher};
use crate::error::{OpenError, PutError};
use crate::flush::{GroupCommit, Signal, WaitOutcome};
use crate::fsutil::now_ms;
use crate::index::IndexService;
use crate::mmap::{disk_used_percent, local_hour, lock_exclusive};
use crate::offset::{PhysOffset, QueueId, QueueOffset};
use crate::page_cache::{self, KeeperConfig};
use crate::record::{
    check_encodable, check_record, encode_record, offset_msg_id, property_value, read_i64,
    EncodeError, MessageToStore, RecordCheck, RecordView, END_FILE_MIN_BLANK_LENGTH,
    MAX_PROPERTIES_BYTES, MAX_TOPIC_BYTES, POS_STORE_TIMESTAMP, PROPERTY_KEYS, PROPERTY_UNIQ_KEY,
    PROPERTY_WAIT_STORE_MSG_OK,
};
use crate::recovery::{recover, COMMITLOG_DIR};
use crate::types::{
    CleanupReport, GetResult, GetStatus, MessageInfo, PutResult, RecoveryReport, StoreStats,
};

/// Called by the dispatch thread with (topic, queue, new max offset) after a queue grew.
pub type ArrivalListener = Arc<dyn Fn(&str, QueueId, QueueOffset) + Send + Sync>;

/// Most consume-queue entries one `get_messages` call looks at when filtering.
const MAX_FILTER_SCAN_ENTRIES: u64 = 800;
/// Records one dispatch round handles before notifying listeners.
const DISPATCH_BATCH: usize = 4096;
/// How long a caught-up dispatcher naps before it parks and asks appenders to wake it. Adds at
/// most this (plus timer slack) to the time a message takes to become pullable under load.
const DISPATCH_NAP: Duration = Duration::from_micros(100);
/// Longest park of an idle dispatcher; appenders wake it sooner (a safety net only, so an idle
/// broker does not wake this thread a thousand times a second).
const DISPATCH_PARK_MAX: Duration = Duration::from_millis(10);

/// The storage engine. `Send + Sync`; share it in an `Arc`.
pub struct MessageStore {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    lock_file: Mutex<Option<File>>,
    closed: AtomicBool,
    recovery: RecoveryReport,
}

impl std::fmt::Debug for MessageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStore").field("store_path", &self.inner.config.store_path).finish()
    }
}

struct Inner {
    config: StoreConfig,
    commit_log: CommitLog,
    queues: ConsumeQueueTable,
    index: Option<IndexService>,
    checkpoint: Mutex<Checkpoint>,
    failure: Mutex<Option<String>>,
    failed: AtomicBool,
    disk_full: AtomicBool,
    disk_used_percent: AtomicU8,
    dispatched: AtomicU64,
    dispatched_ts: AtomicI64,
    flushed_physic_ts: AtomicI64,
    group_commit: GroupCommit,
    listener: RwLock<Option<ArrivalListener>>,
    dispatch_thread: Mutex<Option<Thread>>,
    dispatch_parked: AtomicBool,
    topic_generation: AtomicU64,
    stop_flush: AtomicBool,
    stop_dispatch: AtomicBool,
    abort_dispatch: AtomicBool,
    stop_background: Signal,
    puts: AtomicU64,
    put_bytes: AtomicU64,
    put_failures: AtomicU64,
    flush_timeouts: AtomicU64,
    /// Written by the page-cache keeper: commitlog bytes below this were evicted.
    cache_evicted: AtomicU64,
}

impl MessageStore {
    /// Opens (creating if needed) the store at `config.store_path`, recovers it and starts its
    /// threads.
    pub fn open(config: StoreConfig) -> Result<MessageStore, OpenError> {
        config.validate()?;
        let root = config.store_path.clone();
        for dir in [root.clone(), root.join(COMMITLOG_DIR), root.join("config")] {
            fs::create_dir_all(&dir).map_err(|e| OpenError::io(&dir, e))?;
        }
        let lock_file = take_lock(&root)?;
        let clean = !crate::checkpoint::abort_path(&root).exists();
        let rec = recover(&config, clean)?;
        let mut checkpoint = rec.checkpoint;
        checkpoint.data.clean_cl_end = None;
        checkpoint.persist().map_err(|e| OpenError::io(root.join("checkpoint"), e))?;
        create_abort_file(&root).map_err(|e| OpenError::io(root.join("abort"), e))?;
        let used = disk_used_percent(&root).unwrap_or(0);
        let inner = Arc::new(Inner {
            disk_full: AtomicBool::new(used > config.disk_hard_limit_ratio_percent),
            disk_used_percent: AtomicU8::new(used),
            commit_log: rec.commit_log,
            queues: rec.queues,
            index: rec.index,
            checkpoint: Mutex::new(checkpoint),
            failure: Mutex::new(None),
            failed: AtomicBool::new(false),
            dispatched: AtomicU64::new(rec.dispatched),
            dispatched_ts: AtomicI64::new(rec.dispatched_ts),
            flushed_physic_ts: AtomicI64::new(rec.dispatched_ts),
            group_commit: GroupCommit::default(),
            listener: RwLock::new(None),
            dispatch_thread: Mutex::new(None),
            dispatch_parked: AtomicBool::new(false),
            topic_generation: AtomicU64::new(0),
            stop_flush: AtomicBool::new(false),
            stop_dispatch: AtomicBool::new(false),
            abort_dispatch: AtomicBool::new(false),
            stop_background: Signal::default(),
            puts: AtomicU64::new(0),
            put_bytes: AtomicU64::new(0),
            put_failures: AtomicU64::new(0),
            flush_timeouts: AtomicU64::new(0),
            cache_evicted: AtomicU64::new(0),
            config,
        });
        let store = MessageStore {
            inner,
            threads: Mutex::new(Vec::new()),
            lock_file: Mutex::new(Some(lock_file)),
            closed: AtomicBool::new(false),
            recovery: rec.report,
        };
        store.start_threads().map_err(|e| OpenError::io(&root, e))?;
        Ok(store)
    }

    fn start_threads(&self) -> io::Result<()> {
        let inner = &self.inner;
        let (req_tx, req_rx) = crossbeam_channel::bounded(1);
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let keeper = KeeperConfig {
            warm: inner.config.warm_mapped_file,
            window_bytes: inner.config.commitlog_cache_window_bytes,
        };
        let mut threads = self.threads.lock();
        let i = Arc::clone(inner);
        threads.push(spawn("rmq-store-alloc", move || {
            page_cache::run(&i.commit_log, &i.cache_evicted, keeper, req_rx, ready_tx)
        })?);
        inner.commit_log.attach_allocator(AllocatorLink { requests: req_tx, ready: ready_rx });
        let i = Arc::clone(inner);
        threads.push(spawn("rmq-store-flush", move || match i.config.flush_disk_type {
            FlushDiskType::Async => i.run_async_flush(),
            FlushDiskType::Sync => i.run_group_commit(),
        })?);
        let i = Arc::clone(inner);
        let dispatch = spawn("rmq-store-dispatch", move || i.run_dispatch())?;
        *inner.dispatch_thread.lock() = Some(dispatch.thread().clone());
        threads.push(dispatch);
        let i = Arc::clone(inner);
        threads.push(spawn("rmq-store-flush-cq", move || i.run_logics_flush())?);
        let i = Arc::clone(inner);
        threads.push(spawn("rmq-store-clean", move || i.run_cleanup())?);
        Ok(())
    }

    /// What recovery found when this store opened.
    pub fn recovery_report(&self) -> RecoveryReport {
        self.recovery
    }

    /// Stores one message. Under sync flush it returns once the message is durable, or
    /// `FlushDiskTimeout` (the message is stored but not confirmed durable).
    pub fn put_message(&self, msg: MessageToStore) -> Result<PutResult, PutError> {
        let res = self
            .put_deferred(std::slice::from_ref(&msg))
            .and_then(|p| self.wait_durable(&p).map(|()| p.result));
        self.count(&res);
        res
    }

    /// Stores a batch of messages of one topic and queue under one lock, with contiguous
    /// queue offsets.
    pub fn put_messages(&self, msgs: Vec<MessageToStore>) -> Result<PutResult, PutError> {
        let res = self.put_deferred(&msgs).and_then(|p| self.wait_durable(&p).map(|()| p.result));
        self.count(&res);
        res
    }

    /// Stores messages (one, or a batch of one topic and queue) without waiting for the sync
    /// flush: the caller finishes with [`MessageStore::wait_durable`], possibly on another
    /// thread, so one thread can keep appending while earlier puts wait for their group commit.
    /// Count the outcome with [`MessageStore::count_deferred`].
    pub fn put_messages_deferred(&self, msgs: &[MessageToStore]) -> Result<PendingPut, PutError> {
        self.put_deferred(msgs)
    }

    /// Waits until a deferred put is durable (sync flush; immediate otherwise). On
    /// `FlushDiskTimeout` the messages are stored but not confirmed durable; `pending.result`
    /// still describes them.
    pub fn wait_durable(&self, pending: &PendingPut) -> Result<(), PutError> {
        match pending.flush_end {
            None => Ok(()),
            Some(end) => self.inner.wait_flushed(end),
        }
    }

    /// Counts the final outcome of a deferred put in the runtime stats.
    pub fn count_deferred(&self, res: &Result<PutResult, PutError>) {
        self.count(res);
    }

    fn count(&self, res: &Result<PutResult, PutError>) {
        let i = &self.inner;
        match res {
            Ok(r) => {
                i.puts.fetch_add(u64::from(r.msg_count), Ordering::Relaxed);
                i.put_bytes.fetch_add(u64::from(r.wrote_bytes), Ordering::Relaxed);
            }
            Err(PutError::FlushDiskTimeout) => {
                i.flush_timeouts.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                i.put_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn put_deferred(&self, msgs: &[MessageToStore]) -> Result<PendingPut, PutError> {
        let i = &self.inner;
        i.check_writable()?;
        let first = msgs.first().ok_or(PutError::InvalidBatch { reason: "empty batch" })?;
        if msgs.iter().any(|m| m.topic != first.topic || m.queue_id != first.queue_id) {
            return Err(PutError::InvalidBatch { reason: "messages of different topic or queue" });
        }
        check_topic(&first.topic)?;
        let mut sizes = Vec::with_capacity(msgs.len());
        let mut total = 0usize;
        for m in msgs {
            let len = i.check_message(m)?;
            sizes.push(len);
            total += len;
        }
        let mut buf = Vec::with_capacity(total);
        for m in msgs {
            encode_record(m, &mut buf).map_err(map_encode_error)?;
        }
        let now = now_ms();
        let a = i.commit_log.append(&first.topic, first.queue_id.0, &mut buf, &sizes, now)?;
        let mut msg_ids = Vec::with_capacity(msgs.len());
        let mut phys = a.phys;
        for (m, len) in msgs.iter().zip(&sizes) {
            msg_ids.push(offset_msg_id(m.store_host, PhysOffset(phys)));
            phys += *len as u64;
        }
        let result = PutResult {
            phys_offset: PhysOffset(a.phys),
            queue_offset: QueueOffset(a.queue_offset),
            msg_count: u32::try_from(msgs.len()).unwrap_or(u32::MAX),
            wrote_bytes: u32::try_from(total).unwrap_or(u32::MAX),
            msg_ids,
            store_timestamp_ms: a.store_ts,
        };
        let flush_end = match i.config.flush_disk_type {
            FlushDiskType::Async => {
                i.wake_dispatcher();
                None
            }
            FlushDiskType::Sync if !waits_for_flush(first) => None,
            FlushDiskType::Sync => Some(a.end),
        };
        Ok(PendingPut { result, flush_end })
    }

    /// Reads up to `max_count` messages (and about `max_bytes`; at least one if any) from
    /// `offset`. `filter` gets each entry's tag code; entries it rejects are skipped.
    pub fn get_messages(
        &self,
        topic: &str,
        queue_id: QueueId,
        offset: QueueOffset,
        max_count: u32,
        max_bytes: u32,
        filter: Option<&dyn Fn(i64) -> bool>,
    ) -> GetResult {
        let Some(q) = self.inner.queues.get(topic, queue_id.0) else {
            return empty_result(GetStatus::NoMatchedLogicQueue, 0, 0, 0);
        };
        let (min, max) = (q.min_offset(), q.max_offset());
        let off = offset.0;
        let status = if max == 0 {
            Some((GetStatus::NoMessageInQueue, 0))
        } else if off < min {
            Some((GetStatus::OffsetTooSmall, min))
        } else if off == max {
            Some((GetStatus::OffsetOverflowOne, off))
        } else if off > max {
            Some((GetStatus::OffsetOverflowBadly, max))
        } else {
            None
        };
        if let Some((status, next)) = status {
            return empty_result(status, next, min, max);
        }
        self.inner.read_entries(&q, off, (max_count, max_bytes), filter, (min, max))
    }

    /// Smallest readable offset of a queue (0 if unknown).
    pub fn min_offset(&self, topic: &str, queue_id: QueueId) -> QueueOffset {
        QueueOffset(self.inner.queues.get(topic, queue_id.0).map_or(0, |q| q.min_offset()))
    }

    /// Number of entries in a queue, i.e. the next offset (0 if unknown).
    pub fn max_offset(&self, topic: &str, queue_id: QueueId) -> QueueOffset {
        QueueOffset(self.inner.queues.get(topic, queue_id.0).map_or(0, |q| q.max_offset()))
    }

    /// The first offset whose message was stored at or after `ts_ms` (max offset if none;
    /// min offset if all are later).
    pub fn offset_by_timestamp(&self, topic: &str, queue_id: QueueId, ts_ms: i64) -> QueueOffset {
        let Some(q) = self.inner.queues.get(topic, queue_id.0) else { return QueueOffset(0) };
        let (mut lo, mut hi) = (q.min_offset(), q.max_offset());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let ts = self.inner.entry_store_time(&q, mid).unwrap_or(i64::MIN);
            if ts < ts_ms {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        QueueOffset(lo)
    }

    /// Store time of the oldest readable message of a queue.
    pub fn earliest_store_time(&self, topic: &str, queue_id: QueueId) -> Option<i64> {
        let q = self.inner.queues.get(topic, queue_id.0)?;
        (q.min_offset()..q.max_offset()).find_map(|o| self.inner.entry_store_time(&q, o))
    }

    /// Store time of the message at `offset` of a queue.
    pub fn store_time_at(
        &self,
        topic: &str,
        queue_id: QueueId,
        offset: QueueOffset,
    ) -> Option<i64> {
        let q = self.inner.queues.get(topic, queue_id.0)?;
        if offset.0 < q.min_offset() {
            return None;
        }
        self.inner.entry_store_time(&q, offset.0)
    }

    /// The raw record stored at `phys` (CRC-checked), if `phys` is the start of one.
    pub fn message_by_phys_offset(&self, phys: PhysOffset) -> Option<Vec<u8>> {
        self.inner.record_at(phys.0)
    }

    /// Raw records of `topic` whose KEYS contain `key` or whose UNIQ_KEY equals it, stored
    /// within `[begin_ts_ms, end_ts_ms]`, newest first, at most `max`.
    pub fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin_ts_ms: i64,
        end_ts_ms: i64,
    ) -> Vec<Vec<u8>> {
        let Some(index) = &self.inner.index else { return Vec::new() };
        let want = max.saturating_mul(2).max(16);
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for phys in index.query(topic, key, want, begin_ts_ms, end_ts_ms) {
            if out.len() >= max {
                break;
            }
            if !seen.insert(phys) {
                continue;
            }
            let Some(rec) = self.inner.record_at(phys) else { continue };
            if record_matches_key(&rec, topic, key) {
                out.push(rec);
            }
        }
        out
    }

    /// Every known queue with its max offset.
    pub fn topic_queues(&self) -> Vec<(String, QueueId, QueueOffset)> {
        let mut v: Vec<_> = self
            .inner
            .queues
            .all()
            .iter()
            .map(|q| (q.topic().to_owned(), QueueId(q.queue_id()), QueueOffset(q.max_offset())))
            .collect();
        v.sort();
        v
    }

    /// Drops a topic's consume queues and queue offsets (its commitlog records stay until
    /// they expire).
    pub fn delete_topic(&self, topic: &str) {
        self.inner.topic_generation.fetch_add(1, Ordering::AcqRel);
        self.inner.commit_log.remove_topic(topic);
        let n = self.inner.queues.remove_topic(topic);
        log::info!("deleted topic {topic} ({n} consume queues)");
    }

    /// Oldest commitlog offset.
    pub fn commitlog_min_offset(&self) -> PhysOffset {
        PhysOffset(self.inner.commit_log.min_offset())
    }

    /// Whether a put of about `bytes` (encoded records) could wait for a new commitlog segment
    /// to be created or pre-touched. Callers that must not block (the broker's network thread)
    /// hand such puts to a worker. Advisory: the answer can change before the put.
    pub fn put_may_wait(&self, bytes: usize) -> bool {
        self.inner.commit_log.append_may_wait(bytes)
    }

    /// End of the commitlog.
    pub fn commitlog_max_offset(&self) -> PhysOffset {
        PhysOffset(self.inner.commit_log.max_offset())
    }

    /// Counters and gauges.
    pub fn runtime_stats(&self) -> StoreStats {
        let i = &self.inner;
        StoreStats {
            put_message_count: i.puts.load(Ordering::Relaxed),
            put_message_bytes: i.put_bytes.load(Ordering::Relaxed),
            put_failure_count: i.put_failures.load(Ordering::Relaxed),
            flush_timeout_count: i.flush_timeouts.load(Ordering::Relaxed),
            commitlog_min_offset: PhysOffset(i.commit_log.min_offset()),
            commitlog_max_offset: PhysOffset(i.commit_log.max_offset()),
            flushed_offset: PhysOffset(i.commit_log.flushed_offset()),
            dispatched_offset: PhysOffset(i.dispatched.load(Ordering::Acquire)),
            cache_evicted_offset: PhysOffset(i.cache_evicted.load(Ordering::Relaxed)),
            disk_used_percent: i.disk_used_percent.load(Ordering::Relaxed),
            disk_full: i.disk_full.load(Ordering::Relaxed),
            store_failed: i.failed.load(Ordering::Acquire),
            consume_queue_count: i.queues.all().len() as u64,
        }
    }

    /// Sets the listener told about queues that grew (replaces any previous one).
    pub fn set_arrival_listener(&self, listener: ArrivalListener) {
        *self.inner.listener.write() = Some(listener);
    }

    /// `<store_path>/config`, for the broker's own JSON files.
    pub fn config_dir(&self) -> PathBuf {
        self.inner.config.store_path.join("config")
    }

    /// The configuration the store runs with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Waits until everything written before the call is dispatched (visible to reads).
    /// Returns false on timeout.
    pub fn wait_dispatched(&self, timeout: Duration) -> bool {
        let target = self.inner.commit_log.max_offset();
        let deadline = Instant::now() + timeout;
        loop {
            if self.inner.dispatched.load(Ordering::Acquire) >= target {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            self.inner.wake_dispatcher();
            thread::sleep(Duration::from_micros(200));
        }
    }

    /// Runs one cleanup pass now, as the cleanup thread would at `now_ms` with the disk at
    /// `disk_used_percent` (measured if `None`).
    pub fn run_cleanup(&self, now_ms: i64, disk_used_percent: Option<u8>) -> CleanupReport {
        self.inner.clean_once(now_ms, disk_used_percent)
    }

    /// Stops accepting puts, flushes everything, writes the checkpoint, removes the abort
    /// file and joins the threads. Idempotent; `Drop` calls it.
    pub fn shutdown(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let i = &self.inner;
        i.commit_log.close();
        i.stop_flush.store(true, Ordering::Release);
        i.group_commit.notify_all();
        i.stop_dispatch.store(true, Ordering::Release);
        i.stop_background.stop();
        i.wake_dispatcher();
        for t in self.threads.lock().drain(..) {
            if t.join().is_err() {
                log::error!("a store thread panicked");
            }
        }
        let clean = i.final_flush();
        i.group_commit.notify_all();
        if clean {
            if let Err(e) = remove_abort_file(&i.config.store_path) {
                log::warn!("failed to remove the abort file: {e}");
            }
        }
        drop(self.lock_file.lock().take());
    }

    /// Test helper: stops every thread without flushing or writing the checkpoint and keeps
    /// the abort file, like a process kill (the page cache survives).
    #[cfg(any(test, feature = "testing"))]
    pub fn simulate_crash(self) {
        self.closed.store(true, Ordering::Release);
        let i = &self.inner;
        i.commit_log.close();
        i.stop_flush.store(true, Ordering::Release);
        i.abort_dispatch.store(true, Ordering::Release);
        i.stop_background.stop();
        i.group_commit.notify_all();
        i.wake_dispatcher();
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
        drop(self.lock_file.lock().take());
    }
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    thread::Builder::new().name(name.to_owned()).spawn(f)
}

fn take_lock(root: &std::path::Path) -> Result<File, OpenError> {
    let path = root.join("lock");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| OpenError::io(&path, e))?;
    match lock_exclusive(&file) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(OpenError::Locked { path }),
        Err(e) => return Err(OpenError::io(&path, e)),
    }
    if let Err(e) = std::os::unix::fs::FileExt::write_all_at(&file, b"lock", 0) {
        log::warn!("could not write {}: {e}", path.display());
    }
    Ok(file)
}

fn check_topic(topic: &str) -> Result<(), PutError> {
    let len = topic.len();
    if len == 0 || len > MAX_TOPIC_BYTES {
        return Err(PutError::TopicTooLong {
            size_bytes: len as u64,
            max_bytes: MAX_TOPIC_BYTES as u64,
        });
    }
    if topic == "." || topic == ".." || topic.contains(['/', '\\', '\0']) {
        return Err(PutError::InvalidBatch { reason: "topic is not a valid directory name" });
    }
    Ok(())
}

fn map_encode_error(e: EncodeError) -> PutError {
    match e {
        EncodeError::TopicLength { size_bytes, max_bytes } => {
            PutError::TopicTooLong { size_bytes: size_bytes as u64, max_bytes: max_bytes as u64 }
        }
        EncodeError::PropertiesTooLarge { size_bytes, max_bytes } => PutError::PropertiesTooLarge {
            size_bytes: size_bytes as u64,
            max_bytes: max_bytes as u64,
        },
        EncodeError::BodyTooLarge { size_bytes } => {
            PutError::MessageTooLarge { size_bytes: size_bytes as u64, max_bytes: i32::MAX as u64 }
        }
    }
}

/// A put that is written but, under sync flush, not yet confirmed durable.
#[derive(Debug)]
#[must_use = "finish it with MessageStore::wait_durable"]
pub struct PendingPut {
    /// Where the messages went.
    pub result: PutResult,
    /// The commitlog end that must be flushed first (sync flush only).
    flush_end: Option<u64>,
}

impl PendingPut {
    /// Whether `wait_durable` may block (sync flush with WAIT not false).
    pub fn needs_flush(&self) -> bool {
        self.flush_end.is_some()
    }
}

fn waits_for_flush(msg: &MessageToStore) -> bool {
    property_value(&msg.properties, PROPERTY_WAIT_STORE_MSG_OK) != Some("false")
}

fn empty_result(status: GetStatus, next: u64, min: u64, max: u64) -> GetResult {
    GetResult {
        status,
        messages: Vec::new(),
        message_count: 0,
        next_begin_offset: QueueOffset(next),
        min_offset: QueueOffset(min),
        max_offset: QueueOffset(max),
        message_infos: Vec::new(),
    }
}

fn record_matches_key(rec: &[u8], topic: &str, key: &str) -> bool {
    let Ok(v) = RecordView::parse(rec) else { return false };
    v.topic == topic
        && (v.property(PROPERTY_UNIQ_KEY) == Some(key)
            || v.property(PROPERTY_KEYS).is_some_and(|ks| ks.split(' ').any(|k| k == key)))
}

impl Inner {
    fn check_writable(&self) -> Result<(), PutError> {
        if self.failed.load(Ordering::Acquire) {
            let reason = self.failure.lock().clone().unwrap_or_default();
            return Err(PutError::StoreFailed { reason });
        }
        if self.disk_full.load(Ordering::Relaxed) {
            return Err(PutError::DiskFull {
                used_percent: self.disk_used_percent.load(Ordering::Relaxed),
            });
        }
        Ok(())
    }

    fn check_message(&self, m: &MessageToStore) -> Result<usize, PutError> {
        let max = u64::from(self.config.max_message_size_bytes);
        if m.body.len() as u64 > max {
            return Err(PutError::MessageTooLarge {
                size_bytes: m.body.len() as u64,
                max_bytes: max,
            });
        }
        if m.properties.len() > MAX_PROPERTIES_BYTES {
            return Err(PutError::PropertiesTooLarge {
                size_bytes: m.properties.len() as u64,
                max_bytes: MAX_PROPERTIES_BYTES as u64,
            });
        }
        check_encodable(m).map_err(map_encode_error)
    }

    /// Marks the store failed (sticky) and wakes every waiter.
    fn fail(&self, reason: String) {
        log::error!("{reason}; the store refuses writes until restarted");
        self.failure.lock().get_or_insert(reason);
        self.failed.store(true, Ordering::Release);
        self.group_commit.notify_all();
    }

    fn confirm_offset(&self) -> u64 {
        match self.config.flush_disk_type {
            FlushDiskType::Async => self.commit_log.max_offset(),
            FlushDiskType::Sync => self.commit_log.flushed_offset(),
        }
    }

    fn wake_dispatcher(&self) {
        // Pairs with the fence in `idle_dispatch` (a Dekker handshake): either the dispatcher
        // sees our new confirm offset, or we see it parked and wake it.
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.dispatch_parked.load(Ordering::Relaxed)
            && self.dispatch_parked.swap(false, Ordering::AcqRel)
        {
            if let Some(t) = self.dispatch_thread.lock().as_ref() {
                t.unpark();
            }
        }
    }

    fn wait_flushed(&self, end: u64) -> Result<(), PutError> {
        let timeout = Duration::from_millis(self.config.sync_flush_timeout_ms);
        let outcome = self.group_commit.wait(
            end,
            timeout,
            || self.commit_log.flushed_offset(),
            || self.failed.load(Ordering::Acquire),
        );
        match outcome {
            WaitOutcome::Flushed => Ok(()),
            WaitOutcome::TimedOut => Err(PutError::FlushDiskTimeout),
            WaitOutcome::Failed => {
                let reason = self.failure.lock().clone().unwrap_or_else(|| "stopped".into());
                Err(PutError::StoreFailed { reason })
            }
        }
    }

    fn flush_commitlog(&self) -> io::Result<()> {
        let ts = self.commit_log.last_store_ts();
        self.commit_log.flush()?;
        self.flushed_physic_ts.fetch_max(ts, Ordering::AcqRel);
        Ok(())
    }

    fn run_async_flush(&self) {
        let interval = Duration::from_millis(self.config.flush_interval_ms);
        let thorough = Duration::from_millis(self.config.flush_thorough_interval_ms);
        let least = u64::from(self.config.flush_least_pages);
        let mut last_thorough = Instant::now();
        while !self.stop_flush.load(Ordering::Acquire) {
            if self.stop_background.sleep(interval) {
                break;
            }
            let dirty = self.commit_log.max_offset() - self.commit_log.flushed_offset();
            let is_thorough = last_thorough.elapsed() >= thorough;
            if dirty == 0 || (dirty / 4096 < least && !is_thorough) {
                continue;
            }
            if is_thorough {
                last_thorough = Instant::now();
            }
            if let Err(e) = self.flush_commitlog() {
                self.fail(format!("commitlog flush failed: {e}"));
                break;
            }
        }
    }

    fn run_group_commit(&self) {
        while !self.stop_flush.load(Ordering::Acquire) {
            let flushed = self.commit_log.flushed_offset();
            self.group_commit.wait_for_request(flushed, Duration::from_millis(10));
            if self.failed.load(Ordering::Acquire) {
                self.group_commit.notify_all();
                thread::sleep(Duration::from_millis(10));
                continue;
            }
            if self.commit_log.max_offset() > self.commit_log.flushed_offset() {
                if let Err(e) = self.flush_commitlog() {
                    self.fail(format!("commitlog flush failed: {e}"));
                }
                self.group_commit.notify_all();
                self.wake_dispatcher_now();
            }
        }
    }

    fn wake_dispatcher_now(&self) {
        self.dispatch_parked.store(false, Ordering::Release);
        if let Some(t) = self.dispatch_thread.lock().as_ref() {
            t.unpark();
        }
    }

    fn run_dispatch(&self) {
        let mut d = Dispatcher::new(self.dispatched.load(Ordering::Acquire));
        let mut generation = self.topic_generation.load(Ordering::Acquire);
        let targets = DispatchTargets {
            commit_log: &self.commit_log,
            queues: &self.queues,
            index: self.index.as_ref(),
            delay_levels_ms: &self.config.delay_levels_ms,
        };
        loop {
            if self.abort_dispatch.load(Ordering::Acquire) {
                return;
            }
            let g = self.topic_generation.load(Ordering::Acquire);
            if g != generation {
                generation = g;
                d.forget_cached_queue();
            }
            let end = self.confirm_offset();
            let n = match d.run(&targets, end, DISPATCH_BATCH) {
                Ok(n) => n,
                Err(DispatchError::Io(e)) => {
                    self.fail(format!("consume queue or index write failed: {e}"));
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            self.dispatched.store(d.reput, Ordering::Release);
            self.dispatched_ts.store(d.last_store_ts, Ordering::Release);
            self.notify_arrivals(d.take_grown());
            if n == 0 && d.reput >= self.confirm_offset() {
                if self.stop_dispatch.load(Ordering::Acquire) {
                    return;
                }
                self.idle_dispatch(d.reput);
            }
        }
    }

    /// Caught up: first naps [`DISPATCH_NAP`] without asking to be woken, so that under a
    /// steady stream the next records are dispatched as one batch and appenders never pay for
    /// a wake-up (that was 2+ us of CPU per message). If nothing came meanwhile, parks until a
    /// put wakes us (or [`DISPATCH_PARK_MAX`] passes, a safety net). No spinning: on a 2-core
    /// machine every yield is a context switch taken from the threads doing real work.
    fn idle_dispatch(&self, reput: u64) {
        thread::sleep(DISPATCH_NAP);
        if self.confirm_offset() > reput || self.stop_dispatch.load(Ordering::Acquire) {
            return;
        }
        self.dispatch_parked.store(true, Ordering::SeqCst);
        // Pairs with the fence in `wake_dispatcher`.
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.confirm_offset() > reput || self.stop_dispatch.load(Ordering::Acquire) {
            self.dispatch_parked.store(false, Ordering::Release);
            return;
        }
        thread::park_timeout(DISPATCH_PARK_MAX);
        self.dispatch_parked.store(false, Ordering::Release);
    }

    fn notify_arrivals(&self, grown: Vec<Arc<ConsumeQueue>>) {
        if grown.is_empty() {
            return;
        }
        let Some(listener) = self.listener.read().clone() else { return };
        for q in grown {
            listener(q.topic(), QueueId(q.queue_id()), QueueOffset(q.max_offset()));
        }
    }

    fn run_logics_flush(&self) {
        let interval = Duration::from_millis(self.config.flush_consume_queue_interval_ms);
        while !self.stop_background.sleep(interval) {
            if let Err(e) = self.flush_logics(None) {
                self.fail(format!("consume queue/index/checkpoint flush failed: {e}"));
                return;
            }
        }
    }

    /// Flushes consume queues and index, then writes the checkpoint.
    fn flush_logics(&self, clean_end: Option<u64>) -> io::Result<()> {
        let ts = self.dispatched_ts.load(Ordering::Acquire);
        for q in self.queues.all() {
            q.flush()?;
        }
        if let Some(index) = &self.index {
            index.flush()?;
        }
        let mut cp = self.checkpoint.lock();
        cp.data.physic_ts = self.flushed_physic_ts.load(Ordering::Acquire);
        cp.data.logics_ts = ts;
        cp.data.index_ts = ts;
        cp.data.clean_cl_end = clean_end;
        cp.persist()
    }

    /// Final flush at shutdown; returns whether the shutdown is clean.
    fn final_flush(&self) -> bool {
        if self.failed.load(Ordering::Acquire) {
            return false;
        }
        if let Err(e) = self.flush_commitlog() {
            self.fail(format!("final commitlog flush failed: {e}"));
            return false;
        }
        let end = self.commit_log.max_offset();
        self.dispatch_rest(end);
        if self.dispatched.load(Ordering::Acquire) < end {
            log::warn!("dispatch did not catch up before shutdown; next start will recover");
            return false;
        }
        if let Err(e) = self.flush_logics(Some(end)) {
            self.fail(format!("final consume queue flush failed: {e}"));
            return false;
        }
        true
    }

    /// Dispatches whatever the dispatch thread left behind (it stops at the confirm offset,
    /// which under sync flush may lag the final flush).
    fn dispatch_rest(&self, end: u64) {
        let mut d = Dispatcher::new(self.dispatched.load(Ordering::Acquire));
        let targets = DispatchTargets {
            commit_log: &self.commit_log,
            queues: &self.queues,
            index: self.index.as_ref(),
            delay_levels_ms: &self.config.delay_levels_ms,
        };
        match d.run(&targets, end, usize::MAX) {
            Ok(_) => {
                self.dispatched.store(d.reput, Ordering::Release);
                if d.last_store_ts > 0 {
                    self.dispatched_ts.fetch_max(d.last_store_ts, Ordering::AcqRel);
                }
                self.notify_arrivals(d.take_grown());
            }
            Err(DispatchError::Io(e)) => self.fail(format!("final dispatch failed: {e}")),
        }
    }

    fn run_cleanup(&self) {
        let interval = Duration::from_millis(self.config.clean_interval_ms);
        while !self.stop_background.sleep(interval) {
            let report = self.clean_once(now_ms(), None);
            if report.commitlog_files_deleted > 0 {
                log::info!("cleanup: {report:?}");
            }
        }
    }

    fn clean_once(&self, now: i64, used: Option<u8>) -> CleanupReport {
        let used = used.unwrap_or_else(|| {
            disk_used_percent(&self.config.store_path).unwrap_or_else(|e| {
                log::warn!("cannot read disk usage: {e}");
                0
            })
        });
        self.disk_used_percent.store(used, Ordering::Relaxed);
        let cfg = &self.config;
        let policy = crate::cleanup::policy(cfg, used, local_hour(now));
        match policy.disk_full {
            Some(true) if !self.disk_full.swap(true, Ordering::AcqRel) => {
                log::error!("disk {used}% full: refusing writes");
            }
            Some(false) if self.disk_full.swap(false, Ordering::AcqRel) => {
                log::warn!("disk {used}% full: accepting writes again");
            }
            _ => {}
        }
        let mut report = CleanupReport {
            disk_full: self.disk_full.load(Ordering::Relaxed),
            ..Default::default()
        };
        if !policy.delete {
            return report;
        }
        let safe_end =
            self.commit_log.flushed_offset().min(self.dispatched.load(Ordering::Acquire));
        let reserved_ms = i64::from(cfg.file_reserved_hours) * 3_600_000;
        let batch = cfg.delete_file_batch_max as usize;
        let deleted = self.commit_log.files().delete_front_while(batch, |f| {
            f.end() <= safe_end
                && (policy.at_once || crate::cleanup::expired(f.path(), now, reserved_ms))
        });
        report.commitlog_files_deleted = deleted.len();
        let cl_min = self.commit_log.min_offset();
        for q in self.queues.all() {
            report.consume_queue_files_deleted += q.delete_expired_files(cl_min);
        }
        if let Some(index) = &self.index {
            report.index_files_deleted = index.delete_expired(cl_min);
        }
        report
    }

    fn read_entries(
        &self,
        q: &ConsumeQueue,
        from: u64,
        (max_count, max_bytes): (u32, u32),
        filter: Option<&dyn Fn(i64) -> bool>,
        (min, max): (u64, u64),
    ) -> GetResult {
        let scan_limit = MAX_FILTER_SCAN_ENTRIES.max(u64::from(max_count));
        let cl_min = self.commit_log.min_offset();
        let mut res = empty_result(GetStatus::OffsetFoundNull, from, min, max);
        let mut filtered = false;
        let mut at = from;
        while at < max && at - from < scan_limit && res.message_count < max_count {
            let Some(e) = q.entry(at) else { break };
            if e.is_blank() || e.phys < cl_min {
                at += 1;
                continue;
            }
            if filter.is_some_and(|f| !f(e.tags_code)) {
                filtered = true;
                at += 1;
                continue;
            }
            let size = e.size as usize;
            if res.message_count > 0 && res.messages.len() + size > max_bytes as usize {
                break;
            }
            let before = res.messages.len();
            if self.copy_entry(q, at, &e, &mut res.messages) {
                assert!(res.messages.len() - before >= MIN_RECORD_SIZE as usize);
                let ts = read_i64(&res.messages[before..], POS_STORE_TIMESTAMP);
                res.message_infos.push(MessageInfo {
                    queue_offset: QueueOffset(at),
                    phys_offset: PhysOffset(e.phys),
                    size: e.size,
                    tags_code: e.tags_code,
                    store_timestamp_ms: ts,
                });
                res.message_count += 1;
            }
            at += 1;
        }
        res.next_begin_offset = QueueOffset(at);
        res.status = if res.message_count > 0 {
            GetStatus::Found
        } else if filtered {
            GetStatus::NoMatchedMessage
        } else {
            GetStatus::OffsetFoundNull
        };
        res
    }

    /// Copies the record entry `e` (queue offset `at`) points at into `out`, if the entry
    /// matches it. Consume-queue entries carry no CRC, so a damaged one is logged and skipped
    /// here rather than trusted: its size decides how many bytes are copied and where the
    /// store time is read.
    fn copy_entry(&self, q: &ConsumeQueue, at: u64, e: &CqEntry, out: &mut Vec<u8>) -> bool {
        let checked = e.check_size(self.max_record_size()).and_then(|()| {
            self.commit_log
                .with_bytes(e.phys, e.size as usize, |b| {
                    e.check_header(b, q.queue_id())?;
                    out.extend_from_slice(b);
                    Ok(())
                })
                .unwrap_or(Err(EntryMismatch::OutOfBounds))
        });
        match checked {
            Ok(()) => true,
            // The segment may have been deleted since the caller compared with its start.
            Err(EntryMismatch::OutOfBounds) if e.phys < self.commit_log.min_offset() => false,
            Err(m) => {
                log::warn!(
                    "skipping damaged consume-queue entry {}/{} offset {at} \
                     (commitlog {} size {}): {m}",
                    q.topic(),
                    q.queue_id(),
                    e.phys,
                    e.size
                );
                false
            }
        }
    }

    /// The largest record a commitlog segment can hold.
    fn max_record_size(&self) -> u32 {
        let size = self.commit_log.files().file_size() - END_FILE_MIN_BLANK_LENGTH;
        u32::try_from(size).unwrap_or(u32::MAX)
    }

    fn entry_store_time(&self, q: &ConsumeQueue, offset: u64) -> Option<i64> {
        let e = q.entry(offset)?;
        if e.is_blank() || e.check_size(self.max_record_size()).is_err() {
            return None;
        }
        self.commit_log
            .with_bytes(e.phys, CHECKED_HEADER_BYTES, |b| {
                e.check_header(b, q.queue_id()).ok().map(|()| read_i64(b, POS_STORE_TIMESTAMP))
            })
            .flatten()
    }

    fn record_at(&self, phys: u64) -> Option<Vec<u8>> {
        if phys >= self.confirm_offset() {
            return None;
        }
        let (file, pos) = self.commit_log.locate(phys)?;
        let limit =
            usize::try_from((self.confirm_offset() - file.start()).min(file.size() as u64)).ok()?;
        let buf = file.read(pos, limit.checked_sub(pos)?)?;
        match check_record(buf, PhysOffset(phys), true) {
            RecordCheck::Record(v) => Some(buf[..v.total_size as usize].to_vec()),
            _ => None,
        }
    }
}
