//! The commitlog's page-cache keeper: the `rmq-store-alloc` thread.
//!
//! It owns three jobs that all move commitlog pages into or out of memory:
//! * **Create ahead.** On the writer's request it creates the next segment file (its blocks
//!   reserved, see `MappedFile::create`), shares it and hands it over at once, so a roll never
//!   creates a 1 GiB file on the append path. It refuses while the disk is above the hard
//!   limit; a failure is handed to the writer and reported (`alloc_failed`), never a panic.
//! * **Populate ahead** (`warm_mapped_file`). It keeps the `POPULATE_AHEAD_BYTES` after the
//!   write position faulted in (`MADV_POPULATE_WRITE`), crossing into the handed-over next
//!   segment before the writer rolls into it, so appends do not page-fault.
//! * **Drop behind** (`commitlog_cache_window_bytes`). Flushed bytes more than the window
//!   behind the write position are evicted from the page cache.
//!
//! Why the last two work together: a page the kernel has not used lately is expensive to
//! fault in on VMs whose free memory goes back to the host (free page reporting): on our
//! benchmark machine ~2.5 s per GiB against ~0.35 s for a page freed moments ago
//! (docs/BENCHMARKS.md). Populating in small steps just ahead of the writer, while dropping
//! pages just behind the window, hands the freed pages straight back to the next writes.
//! Whole-segment pre-touching instead asks for a fresh gigabyte every segment.
//!
//! Invariant: only flushed bytes are dropped (`MappedFile::drop_cached` clamps to the
//! flushed mark), so eviction never loses or changes data; a reader of an evicted range reads
//! it back from the file.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::commit_log::CommitLog;
use crate::file_queue::SegmentQueue;
use crate::mmap::{disk_used_percent, Appender, MappedFile};

/// How far ahead of the write position pages are kept populated. 64 MiB is ~200 ms of
/// appends at 300 MB/s, far more than the thread's nap.
pub(crate) const POPULATE_AHEAD_BYTES: u64 = 64 << 20;

/// Eviction ranges end on this boundary inside a segment (the largest page-cache folio).
const FOLIO_ALIGN_BYTES: u64 = 2 << 20;

/// Largest single populate or drop call, so that a segment request is never kept waiting
/// behind a long one.
const STEP_BYTES: u64 = 8 << 20;

/// Eviction runs once at least this much (or a quarter of the window) can go, so each call
/// frees a useful amount.
const DROP_MIN_BYTES: u64 = 16 << 20;

const PAGE_SIZE_U64: u64 = crate::mmap::PAGE_SIZE as u64;

/// Nap between passes while the log grows, and while it is idle.
const NAP_BUSY: Duration = Duration::from_millis(2);
const NAP_IDLE: Duration = Duration::from_millis(50);

/// A new segment, shared, with its only writer.
pub(crate) type NewSegment = (Arc<MappedFile>, Appender);

/// What the keeper does besides creating segments.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeeperConfig {
    /// Populate ahead of the writer.
    pub warm: bool,
    /// Evict flushed bytes this far behind the write position (`None`: leave it to the kernel).
    pub window_bytes: Option<u64>,
    /// No segment is created while disk usage is above this (`disk_hard_limit_ratio_percent`).
    pub hard_limit_percent: u8,
}

/// Body of the `rmq-store-alloc` thread. Runs until the request channel disconnects
/// (`CommitLog::close`).
pub(crate) fn run(
    log: &CommitLog,
    state: KeeperState<'_>,
    cfg: KeeperConfig,
    requests: Receiver<u64>,
    ready: Sender<io::Result<NewSegment>>,
) {
    let mut keeper = Keeper::new(log, state, cfg);
    let mut nap = NAP_BUSY;
    loop {
        match requests.recv_timeout(nap) {
            Ok(start) => {
                if !keeper.create(start, &ready) {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let moved = keeper.pass();
        nap = if moved { NAP_BUSY } else { NAP_IDLE };
    }
}

/// The shared state the keeper reports to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeeperState<'a> {
    /// Published copy of the keeper's eviction end, for statistics.
    pub evicted: &'a AtomicU64,
    /// Set while the last pre-creation failed (a reported state, never a panic).
    pub alloc_failed: &'a AtomicBool,
}

struct Keeper<'a> {
    log: &'a CommitLog,
    /// Published copy of `dropped`, for statistics.
    evicted: &'a AtomicU64,
    alloc_failed: &'a AtomicBool,
    cfg: KeeperConfig,
    /// The segment handed over but maybe not yet in the queue (the writer has not rolled).
    next: Option<Arc<MappedFile>>,
    /// Log offset up to which pages are populated (contiguous from the write position).
    populated: u64,
    /// Log offset below which pages have been evicted.
    dropped: u64,
    /// The write position seen by the last pass.
    last_written: u64,
    /// Cleared when the kernel refuses to populate, so we stop asking.
    can_populate: bool,
}

impl<'a> Keeper<'a> {
    fn new(log: &'a CommitLog, state: KeeperState<'a>, cfg: KeeperConfig) -> Self {
        let written = log.max_offset();
        Keeper {
            log,
            evicted: state.evicted,
            alloc_failed: state.alloc_failed,
            cfg,
            next: None,
            populated: written,
            dropped: log.min_offset(),
            last_written: written,
            can_populate: cfg.warm,
        }
    }

    /// Creates the segment starting at `start`, hands it over and keeps a reference for
    /// populating. Returns false once the writer is gone.
    fn create(&mut self, start: u64, ready: &Sender<io::Result<NewSegment>>) -> bool {
        let files = self.log.files();
        let created = self.check_watermark().and_then(|()| files.create_file(start));
        let created = created.map(MappedFile::share);
        self.next = created.as_ref().ok().map(|(file, _)| Arc::clone(file));
        match &created {
            Ok(_) => {
                if self.alloc_failed.swap(false, Ordering::AcqRel) {
                    log::info!("commitlog segment {start} pre-created after earlier failures");
                }
            }
            Err(e) => {
                if !self.alloc_failed.swap(true, Ordering::AcqRel) {
                    log::error!("pre-creating commitlog segment {start} failed: {e}");
                }
            }
        }
        ready.send(created).is_ok()
    }

    /// Refuses to create a segment while the disk is above the hard limit (`StorageFull`,
    /// which the writer turns into `DiskFull`). A disk that cannot be measured does not stop
    /// the creation: the reservation itself fails on a full disk.
    fn check_watermark(&self) -> io::Result<()> {
        let used = match disk_used_percent(self.log.files().dir()) {
            Ok(used) => used,
            Err(e) => {
                log::warn!("cannot read disk usage: {e}");
                return Ok(());
            }
        };
        if used > self.cfg.hard_limit_percent {
            let limit = self.cfg.hard_limit_percent;
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!("disk {used}% full, above the {limit}% limit"),
            ));
        }
        Ok(())
    }

    /// One round of populating and dropping. Returns whether the log moved since the last.
    fn pass(&mut self) -> bool {
        let written = self.log.max_offset();
        let moved = written != self.last_written;
        self.last_written = written;
        if self.can_populate {
            self.populate_ahead(written);
        }
        if let Some(window) = self.cfg.window_bytes {
            self.drop_behind(written, window);
        }
        moved
    }

    fn populate_ahead(&mut self, written: u64) {
        let files = self.log.files();
        if self.next.as_ref().is_some_and(|n| files.last().is_some_and(|l| l.start() >= n.start()))
        {
            self.next = None; // the writer rolled into it: the queue has it now
        }
        self.populated = self.populated.max(written);
        let target = written + POPULATE_AHEAD_BYTES;
        while self.populated < target {
            let Some(file) = self.file_at(files, self.populated) else { return };
            let pos = self.populated - file.start();
            let len = STEP_BYTES.min(target - self.populated).min(file.end() - self.populated);
            let (Ok(pos), Ok(len)) = (usize::try_from(pos), usize::try_from(len)) else { return };
            if !file.populate(pos, len) {
                log::info!("the kernel refused MADV_POPULATE_WRITE; appends fault pages in");
                self.can_populate = false;
                return;
            }
            self.populated += len as u64;
        }
    }

    /// The segment holding `offset`: in the queue, or the handed-over next one.
    fn file_at(&self, files: &SegmentQueue, offset: u64) -> Option<Arc<MappedFile>> {
        files.find(offset).or_else(|| {
            self.next.as_ref().filter(|n| n.start() <= offset && offset < n.end()).cloned()
        })
    }

    fn drop_behind(&mut self, written: u64, window: u64) {
        let files = self.log.files();
        self.dropped = self.dropped.max(files.min_offset());
        let to = written.saturating_sub(window).min(self.log.flushed_offset()) / PAGE_SIZE_U64
            * PAGE_SIZE_U64;
        assert!(to <= self.log.flushed_offset(), "only flushed bytes are evicted");
        let least = (window / 4).clamp(PAGE_SIZE_U64, DROP_MIN_BYTES);
        if to < self.dropped + least {
            return;
        }
        while self.dropped < to {
            let Some(file) = files.find(self.dropped) else { return };
            let mut end = to.min(file.end()).min(self.dropped + STEP_BYTES);
            if end < file.end() {
                // The page cache holds files in folios of up to 2 MiB. A folio that straddles
                // a range end is skipped, and so it is by the next range that starts inside
                // it: unaligned steps left a quarter of the pages cached.
                end = file.start() + (end - file.start()) / FOLIO_ALIGN_BYTES * FOLIO_ALIGN_BYTES;
                if end <= self.dropped {
                    return;
                }
            }
            let (Ok(from), Ok(until)) =
                (usize::try_from(self.dropped - file.start()), usize::try_from(end - file.start()))
            else {
                return;
            };
            file.drop_cached(from, until);
            self.dropped = end;
            self.evicted.store(end, Ordering::Relaxed);
        }
    }
}
