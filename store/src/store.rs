//! `MessageStore`: the public facade. Opens (recovers) the store, owns the [`Shared`] state
//! and the background threads, and runs the put path and shutdown; the read side is in
//! `read.rs`, the replication seams in `replication.rs`. Threads:
//!
//! * `rmq-store-alloc`: pre-creates the next commitlog segment, populates pages ahead of the
//!   writer and evicts flushed pages behind the cache window (`page_cache`);
//! * `rmq-store-flush`: async flush (interval + least pages) or sync group commit (`flush`);
//! * `rmq-store-dispatch`: builds consume queues and index behind the writer and tells the
//!   arrival listener which queues grew (`dispatch`);
//! * `rmq-store-flush-cq`: flushes consume queues and index and writes the checkpoint
//!   (`flush`);
//! * `rmq-store-clean`: deletes expired files and tracks disk usage (`cleanup`).
//!
//! Invariants: a failed flush or consume-queue write is sticky (every later put returns
//! `StoreFailed`); readers only see records that are dispatched, and under sync flush only
//! flushed ones; the abort file is removed only after a complete, successful shutdown.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::checkpoint::{create_abort_file, remove_abort_file};
use crate::commit_log::AllocatorLink;
use crate::config::{FlushDiskType, StoreConfig};
use crate::error::{OpenError, PutError, StoreFailure};
use crate::fsutil::now_ms;
use crate::mmap::{disk_used_percent, lock_exclusive};
use crate::offset::{PhysOffset, QueueId, QueueOffset};
use crate::page_cache::{self, KeeperConfig, KeeperState};
use crate::record::{
    check_encodable, encode_record, offset_msg_id, property_value, EncodeError, MessageToStore,
    MAX_PROPERTIES_BYTES, MAX_TOPIC_BYTES, PROPERTY_WAIT_STORE_MSG_OK,
};
use crate::recovery::{recover, Recovered, COMMITLOG_DIR};
use crate::state::{ArrivalListener, DiskState, Phase, Progress, Shared};
use crate::types::{CleanupReport, DiskFullCause, PutResult, RecoveryReport, StoreStats};

/// The storage engine. `Send + Sync`; share it in an `Arc`.
pub struct MessageStore {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    lock_file: Mutex<Option<File>>,
    recovery: RecoveryReport,
}

impl std::fmt::Debug for MessageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStore").field("store_path", &self.shared.config.store_path).finish()
    }
}

impl MessageStore {
    /// Opens (creating if needed) the store at `config.store_path`, recovers it and starts its
    /// threads.
    pub fn open(config: StoreConfig) -> Result<MessageStore, OpenError> {
        Self::open_inner(config, None)
    }

    /// Opens the store with its commitlog cut at `end`, which must be a record boundary at or
    /// below the recovered end: everything from `end` on is deleted, consume queues and index
    /// are cut to match, and the next put lands at `end`. For a replica whose log diverged
    /// from its new master. `OpenError::Corrupt` if `end` is not a record boundary or lies
    /// past the recovered end.
    pub fn open_truncated(config: StoreConfig, end: PhysOffset) -> Result<MessageStore, OpenError> {
        Self::open_inner(config, Some(end.0))
    }

    fn open_inner(config: StoreConfig, truncate_to: Option<u64>) -> Result<Self, OpenError> {
        config.validate()?;
        let root = config.store_path.clone();
        for dir in [root.clone(), root.join(COMMITLOG_DIR), root.join("config")] {
            fs::create_dir_all(&dir).map_err(|e| OpenError::io(&dir, e))?;
        }
        let lock_file = take_lock(&root)?;
        let clean = !crate::checkpoint::abort_path(&root).exists();
        let mut rec = recover(&config, clean, truncate_to)?;
        rec.checkpoint.data.clean_cl_end = None;
        rec.checkpoint.persist().map_err(|e| OpenError::io(root.join("checkpoint"), e))?;
        create_abort_file(&root).map_err(|e| OpenError::io(root.join("abort"), e))?;
        let report = rec.report;
        let store = MessageStore {
            shared: Arc::new(shared_state(config, rec)),
            threads: Mutex::new(Vec::new()),
            lock_file: Mutex::new(Some(lock_file)),
            recovery: report,
        };
        store.start_threads().map_err(|e| OpenError::io(&root, e))?;
        Ok(store)
    }

    fn start_threads(&self) -> io::Result<()> {
        let s = &self.shared;
        let (req_tx, req_rx) = crossbeam_channel::bounded(1);
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let keeper = KeeperConfig {
            warm: s.config.warm_mapped_file,
            window_bytes: s.config.commitlog_cache_window_bytes,
            hard_limit_percent: s.config.disk_hard_limit_ratio_percent,
        };
        let mut threads = self.threads.lock();
        let i = Arc::clone(s);
        threads.push(spawn("rmq-store-alloc", move || {
            let state =
                KeeperState { evicted: &i.cache_evicted, alloc_failed: &i.disk.alloc_failed };
            page_cache::run(&i.commit_log, state, keeper, req_rx, ready_tx)
        })?);
        s.commit_log.attach_allocator(AllocatorLink { requests: req_tx, ready: ready_rx });
        let i = Arc::clone(s);
        threads.push(spawn("rmq-store-flush", move || crate::flush::run_thread(&i))?);
        let i = Arc::clone(s);
        let dispatch = spawn("rmq-store-dispatch", move || crate::dispatch::run_thread(&i))?;
        s.dispatch.attach(dispatch.thread().clone());
        threads.push(dispatch);
        let i = Arc::clone(s);
        threads.push(spawn("rmq-store-flush-cq", move || crate::flush::run_logics_thread(&i))?);
        let i = Arc::clone(s);
        threads.push(spawn("rmq-store-clean", move || crate::cleanup::run_thread(&i))?);
        Ok(())
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
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
            Some(end) => crate::flush::wait_flushed(&self.shared, end),
        }
    }

    /// Counts the final outcome of a deferred put in the runtime stats.
    pub fn count_deferred(&self, res: &Result<PutResult, PutError>) {
        self.count(res);
    }

    fn count(&self, res: &Result<PutResult, PutError>) {
        let c = &self.shared.counters;
        match res {
            Ok(r) => {
                c.puts.fetch_add(u64::from(r.msg_count), Ordering::Relaxed);
                c.put_bytes.fetch_add(u64::from(r.wrote_bytes), Ordering::Relaxed);
            }
            Err(PutError::FlushDiskTimeout) => {
                c.flush_timeouts.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                c.put_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn put_deferred(&self, msgs: &[MessageToStore]) -> Result<PendingPut, PutError> {
        let s = &self.shared;
        check_writable(s)?;
        let first = msgs.first().ok_or(PutError::InvalidBatch { reason: "empty batch" })?;
        if msgs.iter().any(|m| m.topic != first.topic || m.queue_id != first.queue_id) {
            return Err(PutError::InvalidBatch { reason: "messages of different topic or queue" });
        }
        check_topic(&first.topic)?;
        let mut sizes = Vec::with_capacity(msgs.len());
        let mut total = 0usize;
        for m in msgs {
            let len = check_message(&s.config, m)?;
            sizes.push(len);
            total += len;
        }
        let mut buf = Vec::with_capacity(total);
        for m in msgs {
            encode_record(m, &mut buf).map_err(map_encode_error)?;
        }
        assert_eq!(buf.len(), total, "encoded sizes match the checked sizes");
        let now = now_ms();
        let a = match s.commit_log.append(&first.topic, first.queue_id.0, &mut buf, &sizes, now) {
            Ok(a) => a,
            Err(PutError::DiskFull { .. }) => {
                let used = crate::cleanup::note_no_space(s, "rolling the commitlog");
                return Err(PutError::DiskFull { used_percent: used });
            }
            Err(e) => return Err(e),
        };
        if a.end >= s.disk.next_check.load(Ordering::Relaxed) {
            crate::cleanup::check_disk_after_write(s, a.end);
        }
        let mut msg_ids = Vec::with_capacity(msgs.len());
        let mut phys = a.phys;
        for (m, len) in msgs.iter().zip(&sizes) {
            msg_ids.push(offset_msg_id(m.store_host, PhysOffset(phys)));
            phys += *len as u64;
        }
        assert_eq!(phys, a.end, "appended records are contiguous");
        let result = PutResult {
            phys_offset: PhysOffset(a.phys),
            queue_offset: QueueOffset(a.queue_offset),
            msg_count: u32::try_from(msgs.len()).unwrap_or(u32::MAX),
            wrote_bytes: u32::try_from(total).unwrap_or(u32::MAX),
            msg_ids,
            store_timestamp_ms: a.store_ts,
        };
        let flush_end = match s.config.flush_disk_type {
            FlushDiskType::Async => {
                s.dispatch.wake();
                None
            }
            FlushDiskType::Sync if !waits_for_flush(first) => None,
            FlushDiskType::Sync => Some(a.end),
        };
        Ok(PendingPut { result, flush_end })
    }

    /// Smallest readable offset of a queue (0 if unknown).
    pub fn min_offset(&self, topic: &str, queue_id: QueueId) -> QueueOffset {
        QueueOffset(self.shared.queues.get(topic, queue_id.0).map_or(0, |q| q.min_offset()))
    }

    /// Number of entries in a queue, i.e. the next offset (0 if unknown).
    pub fn max_offset(&self, topic: &str, queue_id: QueueId) -> QueueOffset {
        QueueOffset(self.shared.queues.get(topic, queue_id.0).map_or(0, |q| q.max_offset()))
    }

    /// Every known queue with its max offset.
    pub fn topic_queues(&self) -> Vec<(String, QueueId, QueueOffset)> {
        let mut v: Vec<_> = self
            .shared
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
        self.shared.dispatch.topic_generation.fetch_add(1, Ordering::AcqRel);
        self.shared.commit_log.remove_topic(topic);
        let n = self.shared.queues.remove_topic(topic);
        log::info!("deleted topic {topic} ({n} consume queues)");
    }

    /// Oldest commitlog offset.
    pub fn commitlog_min_offset(&self) -> PhysOffset {
        PhysOffset(self.shared.commit_log.min_offset())
    }

    /// Whether a put of about `bytes` (encoded records) could wait for a new commitlog segment
    /// to be created or pre-touched. Callers that must not block (the broker's network thread)
    /// hand such puts to a worker. Advisory: the answer can change before the put.
    pub fn put_may_wait(&self, bytes: usize) -> bool {
        self.shared.commit_log.append_may_wait(bytes)
    }

    /// End of the commitlog.
    pub fn commitlog_max_offset(&self) -> PhysOffset {
        PhysOffset(self.shared.commit_log.max_offset())
    }

    /// Counters and gauges.
    pub fn runtime_stats(&self) -> StoreStats {
        let s = &self.shared;
        let c = &s.counters;
        StoreStats {
            put_message_count: c.puts.load(Ordering::Relaxed),
            put_message_bytes: c.put_bytes.load(Ordering::Relaxed),
            put_failure_count: c.put_failures.load(Ordering::Relaxed),
            flush_timeout_count: c.flush_timeouts.load(Ordering::Relaxed),
            commitlog_min_offset: PhysOffset(s.commit_log.min_offset()),
            commitlog_max_offset: PhysOffset(s.commit_log.max_offset()),
            flushed_offset: PhysOffset(s.commit_log.flushed_offset()),
            dispatched_offset: PhysOffset(s.progress.dispatched.load(Ordering::Acquire)),
            cache_evicted_offset: PhysOffset(s.cache_evicted.load(Ordering::Relaxed)),
            disk_used_percent: s.disk.used_percent.load(Ordering::Relaxed),
            disk_full: s.disk.full.load(Ordering::Relaxed),
            disk_full_cause: s.disk.cause(),
            opened_read_only: s.disk.opened_full.load(Ordering::Relaxed),
            segment_alloc_failed: s.disk.alloc_failed.load(Ordering::Relaxed),
            store_failed: s.failure.is_set(),
            consume_queue_count: s.queues.all().len() as u64,
        }
    }

    /// The first failure on the durable path, if the store failed (it then refuses writes
    /// until restarted).
    pub fn failure(&self) -> Option<crate::error::StoreFailure> {
        self.shared.failure.get().cloned()
    }

    /// Sets the listener told about queues that grew (replaces any previous one).
    pub fn set_arrival_listener(&self, listener: ArrivalListener) {
        *self.shared.listener.write() = Some(listener);
    }

    /// `<store_path>/config`, for the broker's own JSON files.
    pub fn config_dir(&self) -> PathBuf {
        self.shared.config.store_path.join("config")
    }

    /// The configuration the store runs with.
    pub fn config(&self) -> &StoreConfig {
        &self.shared.config
    }

    /// Waits until everything written before the call is dispatched (visible to reads).
    /// Returns false on timeout.
    pub fn wait_dispatched(&self, timeout: Duration) -> bool {
        let target = self.shared.commit_log.max_offset();
        let deadline = Instant::now() + timeout;
        loop {
            if self.shared.progress.dispatched.load(Ordering::Acquire) >= target {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            self.shared.dispatch.wake();
            thread::sleep(Duration::from_micros(200));
        }
    }

    /// Runs one cleanup pass now, as the cleanup thread would at `now_ms` with the disk at
    /// `disk_used_percent` (measured if `None`).
    pub fn run_cleanup(&self, now_ms: i64, disk_used_percent: Option<u8>) -> CleanupReport {
        crate::cleanup::clean_once(&self.shared, now_ms, disk_used_percent)
    }

    /// Stops accepting puts, flushes everything, writes the checkpoint, removes the abort
    /// file and joins the threads. Idempotent; `Drop` calls it.
    pub fn shutdown(&self) {
        if !self.stop_threads(Phase::Stopping) {
            return;
        }
        let s = &self.shared;
        let clean = crate::flush::final_flush(s);
        s.group_commit.notify_all();
        if clean {
            if let Err(e) = remove_abort_file(&s.config.store_path) {
                log::warn!("failed to remove the abort file: {e}");
            }
        }
        drop(self.lock_file.lock().take());
    }

    /// Leaves `Running` for `phase`, closes the commitlog, wakes and joins every thread.
    /// Returns false if the store was already stopped.
    pub(crate) fn stop_threads(&self, phase: Phase) -> bool {
        let s = &self.shared;
        if !s.lifecycle.stop(phase) {
            return false;
        }
        s.commit_log.close();
        s.group_commit.notify_all();
        s.dispatch.wake_now();
        for t in self.threads.lock().drain(..) {
            if t.join().is_err() {
                log::error!("a store thread panicked");
            }
        }
        true
    }

    /// Releases the store's lock file (crash helpers, which skip the clean shutdown).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn release_lock(&self) {
        drop(self.lock_file.lock().take());
    }
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn shared_state(config: StoreConfig, rec: Recovered) -> Shared {
    let used = disk_used_percent(&config.store_path).unwrap_or(0);
    let written = rec.commit_log.max_offset();
    let check_every = disk_check_bytes(config.commitlog_file_size());
    let disk = DiskState::at_open(used, config.disk_hard_limit_ratio_percent, written, check_every);
    if let Some(e) = &rec.no_space {
        disk.set_full(used, DiskFullCause::NoSpace);
        log::error!("reserving space for the next writes at open failed: {e}");
    }
    if disk.full.load(Ordering::Acquire) {
        disk.opened_full.store(true, Ordering::Relaxed);
        log::error!(
            "store {} opened on a full disk ({used}% used, limit {}%): read-only; writes are \
             refused until usage is at or below {}%, reads continue",
            config.store_path.display(),
            config.disk_hard_limit_ratio_percent,
            config.disk_warning_ratio_percent
        );
    }
    let partial_dispatch = rec.partial_dispatch;
    let shared = Shared {
        disk,
        commit_log: rec.commit_log,
        queues: rec.queues,
        index: rec.index,
        checkpoint: Mutex::new(rec.checkpoint),
        lifecycle: Default::default(),
        failure: Default::default(),
        counters: Default::default(),
        progress: Progress::new(rec.dispatched, rec.dispatched_ts),
        cache_evicted: AtomicU64::new(0),
        group_commit: Default::default(),
        dispatch: Default::default(),
        listener: RwLock::new(None),
        confirm: Default::default(),
        faults: Default::default(),
        config,
    };
    if partial_dispatch {
        // The queue offsets of the records recovery could not dispatch are unknown to the
        // writer: refuse writes until a restart (reads go on, dispatch catches up).
        let source = Arc::new(io::Error::from_raw_os_error(libc::ENOSPC));
        shared.failure.set(StoreFailure::ConsumeQueueWrite { source });
    }
    shared
}

/// Bytes written between two disk measurements by putting threads: a quarter segment, at
/// most [`DISK_CHECK_MAX_BYTES`].
fn disk_check_bytes(segment_bytes: usize) -> u64 {
    (segment_bytes as u64 / 4).clamp(crate::mmap::PAGE_SIZE as u64, DISK_CHECK_MAX_BYTES)
}

/// Longest write volume between two disk measurements: at 300 MB/s, about 20 per second.
const DISK_CHECK_MAX_BYTES: u64 = 16 << 20;

/// Refuses writes after a failure or while the disk is full.
pub(crate) fn check_writable(s: &Shared) -> Result<(), PutError> {
    if let Some(f) = s.failure.get() {
        return Err(PutError::StoreFailed { reason: f.clone() });
    }
    if s.disk.full.load(Ordering::Relaxed) {
        return Err(PutError::DiskFull {
            used_percent: s.disk.used_percent.load(Ordering::Relaxed),
        });
    }
    Ok(())
}

fn check_message(config: &StoreConfig, m: &MessageToStore) -> Result<usize, PutError> {
    let max = u64::from(config.max_message_size_bytes);
    if m.body.len() as u64 > max {
        return Err(PutError::MessageTooLarge { size_bytes: m.body.len() as u64, max_bytes: max });
    }
    if m.properties.len() > MAX_PROPERTIES_BYTES {
        return Err(PutError::PropertiesTooLarge {
            size_bytes: m.properties.len() as u64,
            max_bytes: MAX_PROPERTIES_BYTES as u64,
        });
    }
    check_encodable(m).map_err(map_encode_error)
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
