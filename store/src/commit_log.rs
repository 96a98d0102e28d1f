//! CommitLog: the append-only message log over a [`SegmentQueue`] of mapped segments.
//!
//! Owns the append path: under one mutex it assigns queue offsets per topic-queue, stamps the
//! store timestamp (never decreasing along the log), patches the physical offset into the
//! already encoded bytes, writes the end-of-file trailer when a record does not fit, rolls to
//! the next segment (pre-created by the allocator thread) and copies the bytes in.
//!
//! Invariants: `written` is the end of the last complete record (or trailer) and only grows
//! while the store runs; every byte below it is published in its segment; queue offsets of
//! a topic-queue are contiguous in log order; a segment always ends with a blank trailer of
//! at least 8 bytes once the writer has moved past it.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use crate::error::PutError;
use crate::file_queue::SegmentQueue;
use crate::mmap::{disk_used_percent, is_no_space, Appender, MappedFile};
use crate::offset::PhysOffset;
use crate::page_cache::NewSegment;
use crate::record::{
    blank_trailer, enters_consume_queue, patch_record, read_i32, END_FILE_MIN_BLANK_LENGTH,
    POS_BODY, POS_SYS_FLAG,
};

/// Next queue offset per topic and queue id.
pub(crate) type QueueOffsetTable = HashMap<String, HashMap<u32, u64>>;

/// Where an append landed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Appended {
    /// Offset of the first record.
    pub phys: u64,
    /// Queue offset of the first record (0 for prepared/rollback messages).
    pub queue_offset: u64,
    /// Store timestamp written into every record.
    pub store_ts: i64,
    /// End offset of the last record.
    pub end: u64,
}

/// A validated chunk of replicated commitlog bytes (see `replication::check_chunk`).
#[derive(Debug)]
pub(crate) struct ReplicatedChunk<'a> {
    /// The bytes to append: whole records, maybe ending with a trailer.
    pub bytes: &'a [u8],
    /// The records that take a consume-queue slot.
    pub records: Vec<ReplicatedRecord<'a>>,
    /// The bytes end with the segment's end-of-file trailer.
    pub ends_segment: bool,
    /// Highest store time of the records.
    pub last_store_ts: i64,
}

/// What the writer's queue-offset table needs from one replicated record.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReplicatedRecord<'a> {
    pub topic: &'a str,
    pub queue_id: u32,
    pub queue_offset: u64,
}

/// Why the commitlog refused replicated bytes.
#[derive(Debug)]
pub(crate) enum ReplicatedAppendError {
    /// The store is shutting down.
    Closed,
    /// The bytes do not start at the end of the log.
    Discontinuous {
        /// The end of the log.
        expected: u64,
    },
    /// The next segment could not be created.
    Roll(PutError),
}

/// Channels to the segment allocator thread.
#[derive(Debug)]
pub(crate) struct AllocatorLink {
    /// Requests: start offset of the file to pre-create.
    pub requests: Sender<u64>,
    /// Pre-created segments, already shared.
    pub ready: Receiver<io::Result<NewSegment>>,
}

#[derive(Debug)]
struct Writer {
    appender: Option<Appender>,
    queue_offsets: QueueOffsetTable,
    last_store_ts: i64,
    pending_alloc: Option<u64>,
    alloc: Option<AllocatorLink>,
    closed: bool,
}

/// The commitlog.
#[derive(Debug)]
pub(crate) struct CommitLog {
    files: SegmentQueue,
    writer: Mutex<Writer>,
    written: AtomicU64,
    last_store_ts: AtomicI64,
}

impl CommitLog {
    /// Builds the commitlog from recovered files. `files` are truncated so that the last
    /// one's published end is the log end.
    pub(crate) fn new(
        dir: PathBuf,
        file_size: usize,
        files: Vec<MappedFile>,
        queue_offsets: QueueOffsetTable,
        last_store_ts: i64,
    ) -> CommitLog {
        let count = files.len();
        let mut shared = Vec::with_capacity(count);
        let mut appender = None;
        for (i, f) in files.into_iter().enumerate() {
            let (arc, app) = f.share();
            shared.push(arc);
            if i + 1 == count {
                appender = Some(app);
            }
        }
        let queue = SegmentQueue::new(dir, file_size, shared);
        let written = queue.max_offset();
        assert!(queue.min_offset() <= written, "the recovered log ends after its start");
        CommitLog {
            files: queue,
            writer: Mutex::new(Writer {
                appender,
                queue_offsets,
                last_store_ts,
                pending_alloc: None,
                alloc: None,
                closed: false,
            }),
            written: AtomicU64::new(written),
            last_store_ts: AtomicI64::new(last_store_ts),
        }
    }

    /// Connects the allocator thread and asks it for the segment after the current one.
    pub(crate) fn attach_allocator(&self, link: AllocatorLink) {
        let mut w = self.writer.lock();
        w.alloc = Some(link);
        // A store with no segment yet gets its first one pre-created (and pre-touched) too, so
        // the first appends do not page-fault on a cold file.
        let next =
            self.files.last().map_or_else(|| self.written.load(Ordering::Acquire), |f| f.end());
        request_alloc(&mut w, next);
    }

    /// Refuses further appends and disconnects the allocator.
    pub(crate) fn close(&self) {
        let mut w = self.writer.lock();
        w.closed = true;
        w.alloc = None;
    }

    /// The segment files.
    pub(crate) fn files(&self) -> &SegmentQueue {
        &self.files
    }

    /// End of the written log.
    pub(crate) fn max_offset(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Start of the oldest segment still present.
    pub(crate) fn min_offset(&self) -> u64 {
        self.files.min_offset()
    }

    /// Durable end of the log.
    pub(crate) fn flushed_offset(&self) -> u64 {
        self.files.flushed_where()
    }

    /// Whether appending `bytes` now could wait: they do not fit in the current segment and
    /// the allocator has not handed over the next one yet (or there is no allocator, so the
    /// segment would be created here). Advisory only: the answer can change before an append.
    pub(crate) fn append_may_wait(&self, bytes: usize) -> bool {
        let size = self.files.file_size() as u64;
        let written = self.written.load(Ordering::Acquire);
        let segment_end = (written / size + 1) * size;
        if written > 0 && (bytes + END_FILE_MIN_BLANK_LENGTH) as u64 <= segment_end - written {
            return false;
        }
        let w = self.writer.lock();
        let fits =
            w.appender.as_ref().is_some_and(|a| bytes + END_FILE_MIN_BLANK_LENGTH <= a.remaining());
        if fits {
            return false;
        }
        match (&w.alloc, w.pending_alloc) {
            (Some(link), Some(_)) => link.ready.is_empty(),
            _ => true,
        }
    }

    /// Store timestamp of the last appended record.
    pub(crate) fn last_store_ts(&self) -> i64 {
        self.last_store_ts.load(Ordering::Acquire)
    }

    /// Flushes published bytes; returns the durable end.
    pub(crate) fn flush(&self) -> io::Result<u64> {
        self.files.flush()
    }

    /// Appends one or more encoded records of one topic-queue (`sizes` gives each record's
    /// length; `buf` holds them back to back). Offsets and the store time are patched in.
    pub(crate) fn append(
        &self,
        topic: &str,
        queue_id: u32,
        buf: &mut [u8],
        sizes: &[usize],
        now_ms: i64,
    ) -> Result<Appended, PutError> {
        let total = buf.len();
        let limit = self.files.file_size() - END_FILE_MIN_BLANK_LENGTH;
        if total > limit {
            return Err(PutError::MessageTooLarge {
                size_bytes: total as u64,
                max_bytes: limit as u64,
            });
        }
        let mut w = self.writer.lock();
        if w.closed {
            return Err(PutError::NotWritable);
        }
        let store_ts = now_ms.max(w.last_store_ts);
        let needs_roll =
            w.appender.as_ref().is_none_or(|a| total + END_FILE_MIN_BLANK_LENGTH > a.remaining());
        if needs_roll {
            self.roll(&mut w)?;
        }
        let appender = w.appender.as_mut().ok_or(PutError::NotWritable)?;
        let phys = appender.file().start() + appender.position() as u64;
        // Appends are contiguous (a roll moved `written` to the new segment's start).
        assert_eq!(phys, self.written.load(Ordering::Acquire), "appends are contiguous");
        assert!(total + END_FILE_MIN_BLANK_LENGTH <= appender.remaining(), "room for a trailer");
        let base = next_queue_offset(&mut w.queue_offsets, topic, queue_id);
        let entered = patch_batch(buf, sizes, phys, base, store_ts);
        let appender = w.appender.as_mut().ok_or(PutError::NotWritable)?;
        appender.append(buf);
        w.last_store_ts = store_ts;
        if entered > 0 {
            if let Some(q) = w.queue_offsets.get_mut(topic).and_then(|m| m.get_mut(&queue_id)) {
                *q = base + entered;
            }
        }
        let end = phys + total as u64;
        self.last_store_ts.store(store_ts, Ordering::Release);
        self.written.store(end, Ordering::Release);
        let first_enters = sizes.first().is_some_and(|_| enters_consume_queue(sys_flag_of(buf)));
        Ok(Appended { phys, queue_offset: if first_enters { base } else { 0 }, store_ts, end })
    }

    /// Appends bytes replicated from a master at `at`, which must be the current end: whole
    /// records the caller validated (CRC, offsets, room for a trailer), optionally ended by
    /// the segment's end-of-file trailer. Rolls into the next segment first when the current
    /// one is full. Queue offsets and the store time follow the records.
    pub(crate) fn append_replicated(
        &self,
        at: u64,
        chunk: &ReplicatedChunk<'_>,
    ) -> Result<u64, ReplicatedAppendError> {
        let mut w = self.writer.lock();
        if w.closed {
            return Err(ReplicatedAppendError::Closed);
        }
        let mut written = self.written.load(Ordering::Acquire);
        if at != written {
            // An empty replica of a master whose oldest segments are gone starts at the
            // master's first segment.
            let fresh = w.appender.is_none() && self.files.last().is_none();
            if !fresh || at % self.files.file_size() as u64 != 0 {
                return Err(ReplicatedAppendError::Discontinuous { expected: written });
            }
            discard_pending_alloc(&mut w);
            self.files.start_empty_at(at);
            self.written.store(at, Ordering::Release);
            written = at;
        }
        if w.appender.as_ref().is_none_or(|a| a.remaining() == 0) {
            self.roll(&mut w).map_err(ReplicatedAppendError::Roll)?;
        }
        let app = w.appender.as_mut().ok_or(ReplicatedAppendError::Closed)?;
        assert_eq!(app.file().start() + app.position() as u64, at, "replica append position");
        assert!(chunk.bytes.len() <= app.remaining(), "a replicated chunk stays in its segment");
        app.append(chunk.bytes);
        let mut end = at + chunk.bytes.len() as u64;
        if chunk.ends_segment {
            app.publish_to_end();
            end = app.file().end();
        }
        for r in &chunk.records {
            let next = next_queue_offset(&mut w.queue_offsets, r.topic, r.queue_id);
            if let Some(q) = w.queue_offsets.get_mut(r.topic).and_then(|m| m.get_mut(&r.queue_id)) {
                *q = next.max(r.queue_offset + 1);
            }
        }
        w.last_store_ts = w.last_store_ts.max(chunk.last_store_ts);
        self.last_store_ts.store(w.last_store_ts, Ordering::Release);
        assert!(end > written, "a replicated append moves the end forward");
        self.written.store(end, Ordering::Release);
        Ok(end)
    }

    /// Ends the current segment with a trailer and switches to the next one.
    fn roll(&self, w: &mut Writer) -> Result<(), PutError> {
        let next_start = match w.appender.as_mut() {
            Some(app) => {
                let rem = app.remaining();
                // Every append left room for the trailer, so a segment gets one, unless a
                // replicated trailer already closed it (published to the end).
                assert!(
                    rem == 0 || rem >= END_FILE_MIN_BLANK_LENGTH,
                    "no room for the end-of-file trailer"
                );
                if rem >= END_FILE_MIN_BLANK_LENGTH {
                    let rem32 = u32::try_from(rem).unwrap_or(u32::MAX);
                    app.append(&blank_trailer(rem32));
                }
                app.publish_to_end();
                let end = app.file().end();
                self.written.store(end, Ordering::Release);
                end
            }
            None => self.written.load(Ordering::Acquire),
        };
        let (arc, app) = match self.next_file(w, next_start) {
            Ok(seg) => seg,
            Err(e) if is_no_space(&e) => {
                // The closed segment stays closed; the next put rolls again and asks the
                // allocator for a fresh attempt.
                request_alloc(w, next_start);
                let used = disk_used_percent(self.files.dir()).unwrap_or(100);
                log::warn!("cannot create commitlog segment {next_start}: {e}");
                return Err(PutError::DiskFull { used_percent: used });
            }
            Err(e) => return Err(PutError::Io(e)),
        };
        self.files.push(arc);
        w.appender = Some(app);
        let following = next_start + self.files.file_size() as u64;
        request_alloc(w, following);
        Ok(())
    }

    /// Takes the pre-created file for `start` from the allocator, or creates it here. A
    /// pre-creation that failed (maybe long ago, when it was asked for) is asked for once
    /// more, since space may have been freed meanwhile; a second failure for lack of space
    /// is returned (no segment is created past the allocator's watermark check).
    fn next_file(&self, w: &mut Writer, start: u64) -> io::Result<NewSegment> {
        for retry in [false, true] {
            if retry {
                request_alloc(w, start);
            }
            if w.pending_alloc != Some(start) {
                break;
            }
            w.pending_alloc = None;
            let Some(link) = w.alloc.as_ref() else { break };
            match link.ready.recv() {
                Ok(Ok(seg)) if seg.0.start() == start => return Ok(seg),
                Ok(Ok(seg)) => {
                    log::error!("allocator returned {} for {start}", seg.0.start());
                    break;
                }
                Ok(Err(e)) if retry && is_no_space(&e) => return Err(e),
                Ok(Err(e)) if retry => {
                    log::warn!("segment pre-allocation failed: {e}");
                    break;
                }
                Ok(Err(e)) => log::warn!("segment pre-allocation failed: {e}; asking again"),
                Err(_) => {
                    log::warn!("segment allocator is gone");
                    break;
                }
            }
        }
        let created = match self.files.create_file(start) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // A pre-created file whose hand-off failed: it was never written, replace it.
                let path = self.files.path_for(start);
                std::fs::remove_file(&path)?;
                self.files.create_file(start)
            }
            other => other,
        };
        created.map(MappedFile::share)
    }

    /// Runs `f` on the published bytes `[phys, phys + len)` if they lie in one segment.
    pub(crate) fn with_bytes<R>(
        &self,
        phys: u64,
        len: usize,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Option<R> {
        let file = self.files.find(phys)?;
        let pos = usize::try_from(phys - file.start()).ok()?;
        file.read(pos, len).map(f)
    }

    /// The segment holding `phys` and the position inside it.
    pub(crate) fn locate(&self, phys: u64) -> Option<(Arc<MappedFile>, usize)> {
        let file = self.files.find(phys)?;
        let pos = usize::try_from(phys - file.start()).ok()?;
        Some((file, pos))
    }

    /// Installs the next-queue-offset table rebuilt by recovery.
    pub(crate) fn set_queue_offsets(&self, table: QueueOffsetTable, last_store_ts: i64) {
        let mut w = self.writer.lock();
        w.queue_offsets = table;
        w.last_store_ts = w.last_store_ts.max(last_store_ts);
        self.last_store_ts.store(w.last_store_ts, Ordering::Release);
    }

    /// Forgets the queue offsets of a deleted topic.
    pub(crate) fn remove_topic(&self, topic: &str) {
        self.writer.lock().queue_offsets.remove(topic);
    }
}

/// Takes the segment the allocator pre-created for a start that will not be used and deletes
/// its (never written) file, so no stray segment is left to break the next open.
fn discard_pending_alloc(w: &mut Writer) {
    let Some(start) = w.pending_alloc.take() else { return };
    let Some(link) = w.alloc.as_ref() else { return };
    match link.ready.recv() {
        Ok(Ok((file, appender))) => {
            let path = file.path().to_path_buf();
            drop((file, appender));
            if let Err(e) = std::fs::remove_file(&path) {
                log::warn!("failed to remove unused segment {}: {e}", path.display());
            }
        }
        Ok(Err(e)) => log::warn!("segment pre-allocation for {start} failed: {e}"),
        Err(_) => log::warn!("segment allocator is gone"),
    }
}

fn request_alloc(w: &mut Writer, start: u64) {
    if w.pending_alloc.is_some() {
        return;
    }
    if let Some(link) = w.alloc.as_ref() {
        if link.requests.send(start).is_ok() {
            w.pending_alloc = Some(start);
        }
    }
}

fn next_queue_offset(table: &mut QueueOffsetTable, topic: &str, queue_id: u32) -> u64 {
    if let Some(queues) = table.get_mut(topic) {
        return *queues.entry(queue_id).or_insert(0);
    }
    table.entry(topic.to_owned()).or_default().insert(queue_id, 0);
    0
}

fn sys_flag_of(rec: &[u8]) -> i32 {
    read_i32(rec, POS_SYS_FLAG)
}

/// Patches offsets and the store time into each record; returns how many records take a
/// consume-queue slot.
fn patch_batch(buf: &mut [u8], sizes: &[usize], phys: u64, base: u64, store_ts: i64) -> u64 {
    let mut pos = 0usize;
    let mut entered = 0u64;
    for &size in sizes {
        assert!(size > POS_BODY, "a record is longer than its fixed header");
        let rec = &mut buf[pos..pos + size];
        let enters = enters_consume_queue(sys_flag_of(rec));
        let qo = if enters { base + entered } else { 0 };
        patch_record(rec, qo, PhysOffset(phys + pos as u64), store_ts);
        entered += u64::from(enters);
        pos += size;
    }
    assert_eq!(pos, buf.len(), "batch sizes must cover the buffer");
    entered
}
