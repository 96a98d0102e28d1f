//! ConsumeQueue: per topic-queue index of 20-byte entries `phys i64 | size i32 | tags i64`
//! stored in `consumequeue/<topic>/<queue>/<20-digit byte offset>` files, plus the table of
//! all queues.
//!
//! Entry *n* sits at byte `n * 20` of the queue's own address space. Only the dispatch thread
//! (or recovery) writes, through the single [`Appender`] of the last file; readers read entries
//! below `max_offset` without locks.
//!
//! Invariants: `min_offset <= max_offset`; entries below `max_offset` are published; every
//! entry is valid (`phys >= 0 && size > 0`); gaps are filled with blank entries
//! `(0, i32::MAX, 0)` that readers skip, so recovery's "scan while valid" rule holds.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::error::OpenError;
use crate::file_queue::{load_owned, SegmentQueue};
use crate::mmap::{Appender, MappedFile};
use crate::record::{
    read_i32, read_i64, read_u32, MAGIC_V1, MAGIC_V2, POS_BODY, POS_MAGIC, POS_PHYS_OFFSET,
    POS_QUEUE_ID, POS_TOTAL_SIZE, RECORD_OVERHEAD_V1,
};

/// Bytes per consume-queue entry.
pub(crate) const CQ_ENTRY_SIZE: usize = 20;
const _: () = assert!(CQ_ENTRY_SIZE == 8 + 4 + 8);
/// Size field of a blank (gap) entry.
pub(crate) const BLANK_ENTRY_SIZE: u32 = i32::MAX as u32;

/// Smallest record an entry can point at: a V1 record with a one-byte topic, no body and no
/// properties.
pub(crate) const MIN_RECORD_SIZE: u32 = RECORD_OVERHEAD_V1 as u32 + 1;
/// Entries at the end of each queue that recovery checks against the commitlog's record
/// headers (the rest of the last file gets the checks that need no commitlog read), so an
/// open never reads more than this many records per queue.
const DEEP_CHECKED_ENTRIES: u64 = 1024;
/// Bytes of the record header that [`CqEntry::check_header`] looks at.
pub(crate) const CHECKED_HEADER_BYTES: usize = POS_BODY;
const _: () = assert!(MIN_RECORD_SIZE as usize > CHECKED_HEADER_BYTES);

/// Why a consume-queue entry does not describe the record it points at. Entries carry no CRC,
/// so every reader checks them against the commitlog before trusting their size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntryMismatch {
    /// The size is smaller than any record or larger than a segment.
    Size {
        /// The entry's size field.
        size: u32,
    },
    /// The record would lie outside the readable commitlog.
    OutOfBounds,
    /// The bytes at the entry's offset do not start with a record magic.
    Magic {
        /// The magic found.
        magic: u32,
    },
    /// The record's TOTALSIZE differs from the entry's size.
    TotalSize {
        /// TOTALSIZE of the record.
        total: u32,
    },
    /// The record's own PHYSICALOFFSET differs from the entry's offset.
    PhysOffset {
        /// PHYSICALOFFSET of the record.
        stored: i64,
    },
    /// The record belongs to another queue id.
    QueueId {
        /// QUEUEID of the record.
        stored: u32,
    },
    /// The record the entry points at fails its body CRC (record damage, not entry damage).
    BodyCrc,
    /// The entry does not point past the previous entry (a queue's records are appended in
    /// log order).
    OutOfOrder {
        /// Commitlog offset of the previous entry.
        previous: u64,
    },
}

impl std::fmt::Display for EntryMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryMismatch::Size { size } => write!(f, "size {size} is not a record size"),
            EntryMismatch::OutOfBounds => write!(f, "record lies outside the commitlog"),
            EntryMismatch::Magic { magic } => write!(f, "no record there (magic {magic:#010x})"),
            EntryMismatch::TotalSize { total } => write!(f, "the record there is {total} bytes"),
            EntryMismatch::PhysOffset { stored } => {
                write!(f, "the record there says it is at {stored}")
            }
            EntryMismatch::QueueId { stored } => write!(f, "the record is of queue {stored}"),
            EntryMismatch::BodyCrc => write!(f, "the record there fails its body CRC"),
            EntryMismatch::OutOfOrder { previous } => {
                write!(f, "not after the previous entry at {previous}")
            }
        }
    }
}

/// What a consume-queue slot below `max_offset` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// A valid entry (maybe a blank filler).
    Entry(CqEntry),
    /// Bytes that are no valid entry (negative offset, size 0 or negative): damage.
    Invalid {
        /// The offset field.
        phys: i64,
        /// The size field.
        size: i32,
    },
    /// Past `max_offset`, or the file is gone (cleanup).
    Missing,
}

/// Whether `bytes` (whole entries) hold a valid entry that is not a blank filler.
fn holds_entries(bytes: &[u8]) -> bool {
    bytes.chunks_exact(CQ_ENTRY_SIZE).any(|e| CqEntry::decode(e).is_some_and(|e| !e.is_blank()))
}

/// One consume-queue entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CqEntry {
    /// Commitlog offset of the record.
    pub phys: u64,
    /// Record size.
    pub size: u32,
    /// Tag hash, or delivery time for scheduled messages.
    pub tags_code: i64,
}

impl CqEntry {
    const BLANK: CqEntry = CqEntry { phys: 0, size: BLANK_ENTRY_SIZE, tags_code: 0 };

    fn encode(&self) -> [u8; CQ_ENTRY_SIZE] {
        let mut b = [0u8; CQ_ENTRY_SIZE];
        b[..8].copy_from_slice(&self.phys.to_be_bytes());
        b[8..12].copy_from_slice(&self.size.to_be_bytes());
        b[12..].copy_from_slice(&self.tags_code.to_be_bytes());
        b
    }

    /// Decodes an entry; `None` if it is not valid (`phys < 0` or `size <= 0`).
    fn decode(b: &[u8]) -> Option<CqEntry> {
        let phys = u64::try_from(read_i64(b, 0)).ok()?;
        let size = u32::try_from(read_i32(b, 8)).ok().filter(|s| *s > 0)?;
        Some(CqEntry { phys, size, tags_code: read_i64(b, 12) })
    }

    /// Whether this is a gap filler.
    pub(crate) fn is_blank(&self) -> bool {
        self.size == BLANK_ENTRY_SIZE
    }

    /// Checks the size against the bounds of any record (`max_size`: the largest record a
    /// segment can hold).
    pub(crate) fn check_size(&self, max_size: u32) -> Result<(), EntryMismatch> {
        if self.size < MIN_RECORD_SIZE || self.size > max_size {
            return Err(EntryMismatch::Size { size: self.size });
        }
        Ok(())
    }

    /// Checks the entry against the bytes at its commitlog offset (at least
    /// [`CHECKED_HEADER_BYTES`] of them): a record magic, TOTALSIZE equal to the entry's size,
    /// PHYSICALOFFSET equal to the entry's offset and the queue id of the consume queue.
    pub(crate) fn check_header(&self, header: &[u8], queue_id: u32) -> Result<(), EntryMismatch> {
        if header.len() < CHECKED_HEADER_BYTES {
            return Err(EntryMismatch::OutOfBounds);
        }
        let magic = read_u32(header, POS_MAGIC);
        if magic != MAGIC_V1 && magic != MAGIC_V2 {
            return Err(EntryMismatch::Magic { magic });
        }
        let total = read_u32(header, POS_TOTAL_SIZE);
        if total != self.size {
            return Err(EntryMismatch::TotalSize { total });
        }
        let stored = read_i64(header, POS_PHYS_OFFSET);
        if u64::try_from(stored).ok() != Some(self.phys) {
            return Err(EntryMismatch::PhysOffset { stored });
        }
        let stored_qid = read_u32(header, POS_QUEUE_ID);
        if stored_qid != queue_id {
            return Err(EntryMismatch::QueueId { stored: stored_qid });
        }
        Ok(())
    }
}

/// The consume queue of one topic-queue.
#[derive(Debug)]
pub(crate) struct ConsumeQueue {
    topic: String,
    queue_id: u32,
    files: SegmentQueue,
    writer: Mutex<Option<Appender>>,
    max_offset: AtomicU64,
    min_offset: AtomicU64,
    max_phys_end: AtomicU64,
}

/// A consume queue loaded from disk but not yet shared (recovery works on these).
#[derive(Debug)]
pub(crate) struct LoadedQueue {
    pub topic: String,
    pub queue_id: u32,
    dir: PathBuf,
    file_size: usize,
    files: Vec<MappedFile>,
    /// [`LoadedQueue::recover_tail`] cut the queue before a valid entry: an entry in the
    /// middle was damaged, so the cut-off entries must be rebuilt from the commitlog.
    cut_before_valid: bool,
}

impl LoadedQueue {
    /// Loads the files of one queue directory.
    pub(crate) fn load(
        dir: PathBuf,
        topic: String,
        queue_id: u32,
        file_size: usize,
    ) -> Result<Self, OpenError> {
        let files = load_owned(&dir, file_size)?;
        Ok(LoadedQueue { topic, queue_id, dir, file_size, files, cut_before_valid: false })
    }

    /// Byte end of the entries (after [`LoadedQueue::recover_tail`]).
    fn end(&self) -> u64 {
        self.files.last().map_or(0, |f| f.start() + f.published() as u64)
    }

    /// Finds the end of the valid entries, scanning from the third-last file, and cuts
    /// everything after it.
    pub(crate) fn recover_tail(&mut self) {
        let first_idx = self.files.len().saturating_sub(3);
        let mut end = self.files.get(first_idx).map_or(0, |f| f.start());
        for f in &self.files[first_idx..] {
            let buf = f.read_from(0);
            let valid = buf
                .chunks_exact(CQ_ENTRY_SIZE)
                .take_while(|e| CqEntry::decode(e).is_some())
                .count();
            end = f.start() + (valid * CQ_ENTRY_SIZE) as u64;
            if valid * CQ_ENTRY_SIZE < f.size() {
                // Any real entry after the invalid one means damage, not the end of the
                // written entries: cutting there would lose them (and hand their queue
                // offsets to new messages).
                let after = buf.get((valid + 1) * CQ_ENTRY_SIZE..).unwrap_or(&[]);
                let mut later = self.files.iter().filter(|g| g.start() > f.start());
                if holds_entries(after) || later.any(|g| holds_entries(g.read_from(0))) {
                    log::warn!(
                        "consume queue {}/{}: invalid entry at byte {end} before valid ones; \
                         rebuilding the rest from the commitlog",
                        self.topic,
                        self.queue_id
                    );
                    self.cut_before_valid = true;
                }
                break;
            }
        }
        self.truncate_at(end);
    }

    /// Drops trailing entries that point at or past `cl_end` (or are blank fillers). Returns
    /// how many entries that were not blank it dropped.
    pub(crate) fn truncate_to_commitlog(&mut self, cl_end: u64) -> u64 {
        let mut end = self.end();
        let mut dropped = 0;
        while end >= CQ_ENTRY_SIZE as u64 {
            match self.entry_at(end - CQ_ENTRY_SIZE as u64) {
                Some(e) if !e.is_blank() && e.phys + u64::from(e.size) <= cl_end => break,
                Some(e) => {
                    dropped += u64::from(!e.is_blank());
                    end -= CQ_ENTRY_SIZE as u64;
                }
                None => break,
            }
        }
        self.truncate_at(end);
        assert!(self.max_phys_end() <= cl_end, "consume queue entry past the commitlog end");
        dropped
    }

    /// Checks the entries of the last file against the recovered commitlog `cl`: all of
    /// them for size, bounds and increasing offsets, the last [`DEEP_CHECKED_ENTRIES`] also
    /// against the record header they point at (magic, size, offset, queue id). At the first
    /// entry that fails, the queue is cut there and the commitlog offset from which
    /// re-dispatch rebuilds it is returned; also when [`LoadedQueue::recover_tail`] had to cut
    /// before valid entries. Damage in older files is left to the readers, which skip entries
    /// that do not match.
    pub(crate) fn validate_tail(&mut self, cl: &[MappedFile], max_record: u32) -> Option<u64> {
        let cl_min = cl.first().map_or(0, MappedFile::start);
        let cl_end = cl.last().map_or(0, |f| f.start() + f.published() as u64);
        let from = self.files.last()?.start();
        let end = self.end();
        let deep_from = end.saturating_sub(DEEP_CHECKED_ENTRIES * CQ_ENTRY_SIZE as u64);
        let mut bad = self.cut_before_valid.then_some(end);
        let mut previous: Option<u64> = None;
        let mut byte = from;
        while byte < end && bad.is_none() {
            let checked = match self.entry_at(byte) {
                Some(e) if e.is_blank() => Ok(()),
                Some(e) => {
                    let order = match previous {
                        Some(p) if e.phys <= p => Err(EntryMismatch::OutOfOrder { previous: p }),
                        _ => Ok(()),
                    };
                    previous = Some(e.phys);
                    order.and_then(|()| {
                        if e.phys < cl_min {
                            Ok(()) // the record was deleted by cleanup
                        } else if byte >= deep_from {
                            check_against(cl, &e, self.queue_id, max_record)
                        } else {
                            check_shape(&e, cl_end, max_record)
                        }
                    })
                }
                None => Err(EntryMismatch::OutOfBounds),
            };
            if let Err(m) = checked {
                log::warn!(
                    "consume queue {}/{}: entry {} does not match the commitlog ({m}); \
                     rebuilding from there",
                    self.topic,
                    self.queue_id,
                    byte / CQ_ENTRY_SIZE as u64
                );
                bad = Some(byte);
            }
            byte += CQ_ENTRY_SIZE as u64;
        }
        let bad = bad?;
        self.truncate_at(bad);
        assert!(self.end() <= bad, "a cut queue ends at or before the damaged entry");
        Some(self.max_phys_end().max(cl_min))
    }

    /// The last file (the one the writer appends into).
    pub(crate) fn last_file(&self) -> Option<&MappedFile> {
        self.files.last()
    }

    fn entry_at(&self, byte: u64) -> Option<CqEntry> {
        let f = self.files.iter().find(|f| f.start() <= byte && byte < f.end())?;
        let pos = usize::try_from(byte - f.start()).ok()?;
        f.read(pos, CQ_ENTRY_SIZE).and_then(CqEntry::decode)
    }

    /// Keeps entries below byte `end`: later files are deleted and stale bytes zeroed.
    fn truncate_at(&mut self, end: u64) {
        while self.files.len() > 1 && self.files.last().is_some_and(|f| f.start() > end) {
            if let Some(f) = self.files.pop() {
                remove_quietly(f.path());
            }
        }
        if let Some(f) = self.files.last_mut() {
            if f.start() <= end && end < f.end() {
                let pos = usize::try_from(end - f.start()).unwrap_or(0);
                f.zero_from(pos);
                f.set_published(pos);
            }
        }
        assert!(self.files.iter().skip(1).all(|f| f.start() <= end), "files past the cut remain");
    }

    /// Highest commitlog end referenced by the entries.
    pub(crate) fn max_phys_end(&self) -> u64 {
        let mut end = self.end();
        while end >= CQ_ENTRY_SIZE as u64 {
            match self.entry_at(end - CQ_ENTRY_SIZE as u64) {
                Some(e) if !e.is_blank() => return e.phys + u64::from(e.size),
                Some(_) => end -= CQ_ENTRY_SIZE as u64,
                None => return 0,
            }
        }
        0
    }

    /// Shares the files and builds the live queue. `cl_min` is the commitlog start, used to
    /// place the minimum offset past entries whose data is gone.
    pub(crate) fn into_queue(self, cl_min: u64) -> ConsumeQueue {
        let max_phys_end = self.max_phys_end();
        let count = self.files.len();
        let mut shared = Vec::with_capacity(count);
        let mut appender = None;
        for (i, f) in self.files.into_iter().enumerate() {
            let (arc, app) = f.share();
            shared.push(arc);
            if i + 1 == count {
                appender = Some(app);
            }
        }
        let files = SegmentQueue::new(self.dir, self.file_size, shared);
        let max = files.max_offset() / CQ_ENTRY_SIZE as u64;
        let min = files.min_offset() / CQ_ENTRY_SIZE as u64;
        let q = ConsumeQueue {
            topic: self.topic,
            queue_id: self.queue_id,
            files,
            writer: Mutex::new(appender),
            max_offset: AtomicU64::new(max),
            min_offset: AtomicU64::new(min),
            max_phys_end: AtomicU64::new(max_phys_end),
        };
        q.correct_min_offset(cl_min);
        assert!(q.min_offset.load(Ordering::Acquire) <= q.max_offset(), "min offset past max");
        q
    }
}

impl ConsumeQueue {
    /// A new empty queue (files are created on the first entry).
    pub(crate) fn new(dir: PathBuf, topic: String, queue_id: u32, file_size: usize) -> Self {
        ConsumeQueue {
            topic,
            queue_id,
            files: SegmentQueue::new(dir, file_size, Vec::new()),
            writer: Mutex::new(None),
            max_offset: AtomicU64::new(0),
            min_offset: AtomicU64::new(0),
            max_phys_end: AtomicU64::new(0),
        }
    }

    /// The queue's files.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn files(&self) -> &SegmentQueue {
        &self.files
    }

    /// Topic of the queue.
    pub(crate) fn topic(&self) -> &str {
        &self.topic
    }

    /// Queue id.
    pub(crate) fn queue_id(&self) -> u32 {
        self.queue_id
    }

    /// Number of entries ever written (the next logical offset).
    pub(crate) fn max_offset(&self) -> u64 {
        self.max_offset.load(Ordering::Acquire)
    }

    /// Smallest logical offset still readable.
    pub(crate) fn min_offset(&self) -> u64 {
        self.min_offset.load(Ordering::Acquire).min(self.max_offset())
    }

    /// Entry `offset`, if written, still on disk and valid.
    pub(crate) fn entry(&self, offset: u64) -> Option<CqEntry> {
        match self.entry_slot(offset) {
            Slot::Entry(e) => Some(e),
            Slot::Missing | Slot::Invalid { .. } => None,
        }
    }

    /// Slot `offset`: an entry, bytes that are no entry (damage), or nothing there.
    pub(crate) fn entry_slot(&self, offset: u64) -> Slot {
        if offset >= self.max_offset() {
            return Slot::Missing;
        }
        let byte = offset * CQ_ENTRY_SIZE as u64;
        let Some(f) = self.files.find(byte) else { return Slot::Missing };
        let Ok(pos) = usize::try_from(byte - f.start()) else { return Slot::Missing };
        let Some(b) = f.read(pos, CQ_ENTRY_SIZE) else { return Slot::Missing };
        match CqEntry::decode(b) {
            Some(e) => Slot::Entry(e),
            None => Slot::Invalid { phys: read_i64(b, 0), size: read_i32(b, 8) },
        }
    }

    /// Writes entry `offset`. Entries below `max_offset` already exist and are skipped
    /// (re-dispatch is idempotent); a gap is filled with blank entries. Returns whether an
    /// entry was written.
    pub(crate) fn put(&self, offset: u64, phys: u64, size: u32, tags: i64) -> io::Result<bool> {
        let mut w = self.writer.lock();
        let max = self.max_offset();
        if offset < max {
            return Ok(false);
        }
        if w.is_none() {
            *w = Some(self.first_file(offset)?);
        }
        let mut next = self.max_offset().max(max);
        if next < offset {
            log::error!(
                "consume queue {}/{} has a gap: expected offset {next}, got {offset}",
                self.topic,
                self.queue_id
            );
        }
        while next < offset {
            self.append_entry(&mut w, next, CqEntry::BLANK)?;
            next += 1;
        }
        assert_eq!(next, offset, "consume-queue entries are contiguous");
        self.append_entry(&mut w, offset, CqEntry { phys, size, tags_code: tags })?;
        self.max_phys_end.fetch_max(phys + u64::from(size), Ordering::AcqRel);
        Ok(true)
    }

    /// Creates the first file so that it can take `offset`, pre-filled with blanks.
    fn first_file(&self, offset: u64) -> io::Result<Appender> {
        let file_size = self.files.file_size() as u64;
        let byte = offset * CQ_ENTRY_SIZE as u64;
        let start = byte / file_size * file_size;
        let mut f = self.files.create_file(start)?;
        let fill = usize::try_from(byte - start).map_err(io::Error::other)?;
        assert_eq!(fill % CQ_ENTRY_SIZE, 0, "the first entry sits on an entry boundary");
        for chunk in f.bytes_mut(0, fill).chunks_exact_mut(CQ_ENTRY_SIZE) {
            chunk.copy_from_slice(&CqEntry::BLANK.encode());
        }
        f.set_published(fill);
        let (arc, app) = f.share();
        self.files.push(arc);
        self.max_offset.store(offset, Ordering::Release);
        self.min_offset.store(offset, Ordering::Release);
        Ok(app)
    }

    fn append_entry(&self, w: &mut Option<Appender>, at: u64, e: CqEntry) -> io::Result<()> {
        let full = w.as_ref().is_none_or(|a| a.remaining() < CQ_ENTRY_SIZE);
        if full {
            let start = at * CQ_ENTRY_SIZE as u64;
            let (arc, app) = self.files.create_file(start)?.share();
            self.files.push(arc);
            *w = Some(app);
        }
        let app = w.as_mut().ok_or_else(|| io::Error::other("no consume queue file"))?;
        assert_eq!(
            app.file().start() + app.position() as u64,
            at * CQ_ENTRY_SIZE as u64,
            "consume queue entry position"
        );
        app.append(&e.encode());
        self.max_offset.store(at + 1, Ordering::Release);
        Ok(())
    }

    /// Makes written entries durable.
    pub(crate) fn flush(&self) -> io::Result<()> {
        self.files.flush().map(|_| ())
    }

    /// Moves the minimum offset past entries whose commitlog data is gone.
    pub(crate) fn correct_min_offset(&self, cl_min: u64) {
        let max = self.max_offset();
        let mut min = self.min_offset.load(Ordering::Acquire).max(self.files.min_offset() / 20);
        while min < max {
            match self.entry(min) {
                Some(e) if !e.is_blank() && e.phys >= cl_min => break,
                Some(_) => min += 1,
                None => break,
            }
        }
        self.min_offset.store(min, Ordering::Release);
    }

    /// Deletes files whose entries all point below `cl_min` (never the last file).
    pub(crate) fn delete_expired_files(&self, cl_min: u64) -> usize {
        let deleted = self.files.delete_front_while(usize::MAX, |f| {
            let last = f.size() / CQ_ENTRY_SIZE * CQ_ENTRY_SIZE;
            last >= CQ_ENTRY_SIZE
                && f.read(last - CQ_ENTRY_SIZE, CQ_ENTRY_SIZE)
                    .and_then(CqEntry::decode)
                    .is_some_and(|e| e.is_blank() || e.phys + u64::from(e.size) <= cl_min)
        });
        if !deleted.is_empty() {
            let first = self.files.min_offset() / CQ_ENTRY_SIZE as u64;
            self.min_offset.fetch_max(first, Ordering::AcqRel);
        }
        self.correct_min_offset(cl_min);
        deleted.len()
    }

    /// Deletes every file of the queue.
    pub(crate) fn destroy(&self) {
        *self.writer.lock() = None;
        self.files.destroy();
    }
}

/// Checks an entry's size and bounds against the recovered commitlog end, without reading
/// the commitlog.
fn check_shape(e: &CqEntry, cl_end: u64, max_record: u32) -> Result<(), EntryMismatch> {
    e.check_size(max_record)?;
    if e.phys.saturating_add(u64::from(e.size)) > cl_end {
        return Err(EntryMismatch::OutOfBounds);
    }
    Ok(())
}

/// Checks an entry against the owned commitlog segments of recovery.
fn check_against(
    cl: &[MappedFile],
    e: &CqEntry,
    queue_id: u32,
    max_record: u32,
) -> Result<(), EntryMismatch> {
    e.check_size(max_record)?;
    let bytes = read_owned(cl, e.phys, e.size as usize).ok_or(EntryMismatch::OutOfBounds)?;
    e.check_header(bytes, queue_id)
}

/// The published bytes `[offset, offset + len)` of contiguous owned segments, if they lie
/// in one segment.
pub(crate) fn read_owned(files: &[MappedFile], offset: u64, len: usize) -> Option<&[u8]> {
    let first = files.first()?;
    let idx = usize::try_from(offset.checked_sub(first.start())? / first.size() as u64).ok()?;
    let f = files.get(idx)?;
    f.read(usize::try_from(offset - f.start()).ok()?, len)
}

fn remove_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        log::warn!("failed to remove {}: {e}", path.display());
    }
}

/// All consume queues by topic and queue id.
#[derive(Debug)]
pub(crate) struct ConsumeQueueTable {
    root: PathBuf,
    file_size: usize,
    queues: RwLock<HashMap<String, HashMap<u32, Arc<ConsumeQueue>>>>,
}

impl ConsumeQueueTable {
    /// A table rooted at `consumequeue/`.
    pub(crate) fn new(root: PathBuf, file_size: usize, queues: Vec<ConsumeQueue>) -> Self {
        let mut map: HashMap<String, HashMap<u32, Arc<ConsumeQueue>>> = HashMap::new();
        for q in queues {
            map.entry(q.topic.clone()).or_default().insert(q.queue_id, Arc::new(q));
        }
        ConsumeQueueTable { root, file_size, queues: RwLock::new(map) }
    }

    /// The queue, if it exists.
    pub(crate) fn get(&self, topic: &str, queue_id: u32) -> Option<Arc<ConsumeQueue>> {
        self.queues.read().get(topic).and_then(|m| m.get(&queue_id)).cloned()
    }

    /// The queue, created if missing.
    pub(crate) fn get_or_create(&self, topic: &str, queue_id: u32) -> Arc<ConsumeQueue> {
        if let Some(q) = self.get(topic, queue_id) {
            return q;
        }
        let mut map = self.queues.write();
        let per_topic = map.entry(topic.to_owned()).or_default();
        let q = per_topic.entry(queue_id).or_insert_with(|| {
            let dir = self.root.join(topic).join(queue_id.to_string());
            Arc::new(ConsumeQueue::new(dir, topic.to_owned(), queue_id, self.file_size))
        });
        Arc::clone(q)
    }

    /// Every queue.
    pub(crate) fn all(&self) -> Vec<Arc<ConsumeQueue>> {
        self.queues.read().values().flat_map(|m| m.values().cloned()).collect()
    }

    /// Removes a topic and deletes its files.
    pub(crate) fn remove_topic(&self, topic: &str) -> usize {
        let removed = self.queues.write().remove(topic);
        let Some(removed) = removed else { return 0 };
        for q in removed.values() {
            q.destroy();
        }
        if let Err(e) = fs::remove_dir_all(self.root.join(topic)) {
            if e.kind() != io::ErrorKind::NotFound {
                log::warn!("failed to remove consume queues of {topic}: {e}");
            }
        }
        removed.len()
    }
}

/// Loads every `consumequeue/<topic>/<queue>` directory.
pub(crate) fn load_all(root: &Path, file_size: usize) -> Result<Vec<LoadedQueue>, OpenError> {
    let mut out = Vec::new();
    let topics = match fs::read_dir(root) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(OpenError::io(root, e)),
    };
    for topic_entry in topics {
        let topic_entry = topic_entry.map_err(|e| OpenError::io(root, e))?;
        let Some(topic) = topic_entry.file_name().to_str().map(str::to_owned) else { continue };
        let topic_dir = topic_entry.path();
        if !topic_dir.is_dir() {
            continue;
        }
        for q in fs::read_dir(&topic_dir).map_err(|e| OpenError::io(&topic_dir, e))? {
            let q = q.map_err(|e| OpenError::io(&topic_dir, e))?;
            let Some(qid) = q.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let loaded = LoadedQueue::load(q.path(), topic.clone(), qid, file_size)?;
            if !loaded.files.is_empty() {
                out.push(loaded);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_read_gap_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let qdir = dir.path().join("T").join("0");
        let q = ConsumeQueue::new(qdir.clone(), "T".into(), 0, 5 * CQ_ENTRY_SIZE);
        for i in 0..7u64 {
            assert!(q.put(i, i * 100, 100, i as i64).unwrap());
        }
        assert!(!q.put(3, 300, 100, 3).unwrap());
        assert!(q.put(9, 900, 100, 9).unwrap());
        assert_eq!(q.max_offset(), 10);
        assert!(q.entry(7).unwrap().is_blank());
        assert_eq!(q.entry(9).unwrap().phys, 900);
        q.flush().unwrap();
        drop(q);
        let mut loaded = LoadedQueue::load(qdir, "T".into(), 0, 5 * CQ_ENTRY_SIZE).unwrap();
        loaded.recover_tail();
        loaded.truncate_to_commitlog(650);
        let q = loaded.into_queue(0);
        assert_eq!(q.max_offset(), 6);
        assert_eq!(q.entry(5).unwrap().phys, 500);
        assert!(q.put(6, 600, 50, 0).unwrap());
        assert_eq!(q.max_offset(), 7);
    }

    /// A commitlog segment holding `n` small records, and the queue entries for them.
    fn log_and_queue(dir: &Path, n: usize) -> (Vec<MappedFile>, Vec<(u64, u32)>) {
        let msgs: Vec<_> = (0..n)
            .map(|i| crate::record::tests::sample("T", format!("b{i}").as_bytes(), ""))
            .collect();
        let (bytes, starts) = crate::record::arb::encode_log(&msgs, 0);
        let size = bytes.len().next_multiple_of(4096);
        let mut f = MappedFile::create(&dir.join("cl"), 0, size).unwrap();
        f.bytes_mut(0, bytes.len()).copy_from_slice(&bytes);
        f.set_published(bytes.len());
        let mut entries: Vec<(u64, u32)> = Vec::new();
        for (i, s) in starts.iter().enumerate() {
            let next = starts.get(i + 1).copied().unwrap_or(bytes.len());
            entries.push((*s as u64, u32::try_from(next - s).unwrap()));
        }
        (vec![f], entries)
    }

    #[test]
    fn recovery_checks_older_entries_of_the_last_file_without_the_commitlog() {
        for (damaged, how) in [(100u64, "size"), (300, "order"), (1400, "deep")] {
            let dir = tempfile::tempdir().unwrap();
            let (cl, entries) = log_and_queue(dir.path(), 1500);
            // `sample` records are of queue 3.
            let qdir = dir.path().join("T").join("3");
            let q = ConsumeQueue::new(qdir.clone(), "T".into(), 3, 2000 * CQ_ENTRY_SIZE);
            for (i, (phys, size)) in entries.iter().enumerate() {
                let (phys, size) = match (i as u64 == damaged, how) {
                    (true, "size") => (*phys, 5),
                    (true, "order") => (entries[i - 2].0, *size),
                    (true, _) => (*phys, size + 1),
                    _ => (*phys, *size),
                };
                q.put(i as u64, phys, size, 0).unwrap();
            }
            q.flush().unwrap();
            drop(q);
            let mut loaded = LoadedQueue::load(qdir, "T".into(), 3, 2000 * CQ_ENTRY_SIZE).unwrap();
            loaded.recover_tail();
            let resume = loaded.validate_tail(&cl, 1 << 20);
            let (prev_phys, prev_size) = entries[damaged as usize - 1];
            assert_eq!(resume, Some(prev_phys + u64::from(prev_size)), "{how}");
            assert_eq!(loaded.into_queue(0).max_offset(), damaged, "{how}: cut at the damage");
        }
    }

    #[test]
    fn queue_starting_late_has_min_offset() {
        let dir = tempfile::tempdir().unwrap();
        let q = ConsumeQueue::new(dir.path().join("q"), "T".into(), 1, 4 * CQ_ENTRY_SIZE);
        q.put(6, 10, 10, 0).unwrap();
        assert_eq!(q.min_offset(), 6);
        assert_eq!(q.max_offset(), 7);
        q.correct_min_offset(0);
        assert_eq!(q.min_offset(), 6);
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;
    use crate::record::arb::{encode_log, message};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn entries_round_trip(phys in 0u64..=i64::MAX as u64, size in 1u32..=i32::MAX as u32, tags: i64) {
            let e = CqEntry { phys, size, tags_code: tags };
            prop_assert_eq!(CqEntry::decode(&e.encode()), Some(e));
        }

        #[test]
        fn random_entries_and_headers_never_panic(
            entry in any::<[u8; CQ_ENTRY_SIZE]>(),
            header in prop::collection::vec(any::<u8>(), 0..120),
            qid: u32,
            max in 0u32..(1 << 30),
        ) {
            if let Some(e) = CqEntry::decode(&entry) {
                prop_assert!(e.size > 0 && i64::try_from(e.phys).is_ok());
                let _ = e.check_size(max);
                let _ = e.check_header(&header, qid);
            }
        }

        /// The entry dispatch writes for a record matches that record; a wrong size, offset
        /// or queue does not.
        #[test]
        fn entries_match_their_record(m in message(), at in 0u64..(1 << 40), delta in 1u32..100) {
            let (buf, _) = encode_log(std::slice::from_ref(&m), at);
            let size = u32::try_from(buf.len()).unwrap();
            let e = CqEntry { phys: at, size, tags_code: 0 };
            prop_assert_eq!(e.check_size(size), Ok(()));
            prop_assert_eq!(e.check_header(&buf, m.queue_id.0), Ok(()));
            let resized = CqEntry { size: size + delta, ..e };
            prop_assert!(resized.check_header(&buf, m.queue_id.0).is_err());
            let moved = CqEntry { phys: at + 1, ..e };
            prop_assert!(moved.check_header(&buf, m.queue_id.0).is_err());
            prop_assert!(e.check_header(&buf, m.queue_id.0 + 1).is_err());
            let short = CqEntry { size: 40, ..e };
            prop_assert!(short.check_size(size).is_err());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Recovery of a queue file full of random bytes never panics, and what survives is
        /// a valid queue.
        #[test]
        fn recovery_of_random_queue_files_never_panics(
            bytes in prop::collection::vec(any::<u8>(), 5 * CQ_ENTRY_SIZE),
            cl_end in 0u64..10_000,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let qdir = dir.path().join("T").join("0");
            fs::create_dir_all(&qdir).unwrap();
            fs::write(qdir.join(crate::fsutil::segment_name(0)), &bytes).unwrap();
            let mut q = LoadedQueue::load(qdir, "T".into(), 0, 5 * CQ_ENTRY_SIZE).unwrap();
            q.recover_tail();
            q.truncate_to_commitlog(cl_end);
            let _ = q.validate_tail(&[], 1 << 20);
            let q = q.into_queue(0);
            prop_assert!(q.min_offset() <= q.max_offset());
            for o in 0..q.max_offset() {
                prop_assert!(q.entry(o).is_some(), "entries below max are valid");
            }
        }
    }
}
