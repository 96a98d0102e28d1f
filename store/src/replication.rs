//! Seams replication will use (there is no replication yet): the confirm watermark that
//! caps what dispatch and readers see, raw reads of commitlog bytes, and appending bytes
//! replicated from a master at an expected offset.
//!
//! The watermark is unset on a master without replication: [`ConfirmWatermark::limit`] is
//! then `u64::MAX`, one atomic load that the dispatcher does per batch (never per put).
//!
//! Invariants: the watermark only moves forward while set; replicated bytes are appended
//! only at the current end of the log, as whole CRC-checked records whose own offsets match
//! where they land.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::commit_log::{ReplicatedAppendError, ReplicatedChunk, ReplicatedRecord};
use crate::config::FlushDiskType;
use crate::error::{PutError, ReplicaAppendError, ReplicaReadError};
use crate::offset::PhysOffset;
use crate::record::{
    check_record, enters_consume_queue, read_u32, RecordCheck, RecordError,
    END_FILE_MIN_BLANK_LENGTH,
};
use crate::store::{check_writable, MessageStore};

/// Value of an unset watermark.
const UNSET: u64 = u64::MAX;

/// The replication confirm offset: commitlog bytes below it are confirmed (by enough
/// replicas), and only those are dispatched and readable. Writers of the watermark wake
/// waiters the way the group commit wakes sync-flush writers.
#[derive(Debug)]
pub(crate) struct ConfirmWatermark {
    value: AtomicU64,
    lock: Mutex<()>,
    advanced: Condvar,
}

impl Default for ConfirmWatermark {
    fn default() -> Self {
        ConfirmWatermark {
            value: AtomicU64::new(UNSET),
            lock: Mutex::new(()),
            advanced: Condvar::new(),
        }
    }
}

impl ConfirmWatermark {
    /// The cap on visible bytes (`u64::MAX` when unset).
    pub(crate) fn limit(&self) -> u64 {
        self.value.load(Ordering::Acquire)
    }

    /// The watermark, if set.
    pub(crate) fn get(&self) -> Option<u64> {
        Some(self.limit()).filter(|v| *v != UNSET)
    }

    /// Sets the watermark (`None` unsets it). A set watermark never moves back: a lower value
    /// is ignored and `false` returned. Wakes every waiter.
    pub(crate) fn set(&self, to: Option<u64>) -> bool {
        let to = to.unwrap_or(UNSET);
        let _guard = self.lock.lock();
        let cur = self.value.load(Ordering::Acquire);
        let moved = cur == UNSET || to == UNSET || to >= cur;
        if moved {
            self.value.store(to, Ordering::Release);
        }
        self.advanced.notify_all();
        moved
    }

    /// Waits until the watermark is at least `end` (or unset) or `timeout` passes; returns
    /// whether it got there.
    pub(crate) fn wait(&self, end: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.lock.lock();
        loop {
            if self.limit() >= end {
                return true;
            }
            if self.advanced.wait_until(&mut guard, deadline).timed_out() {
                return self.limit() >= end;
            }
        }
    }
}

impl MessageStore {
    /// Raw commitlog bytes from `from` (a record boundary): whole records, about `max_bytes`
    /// of them (at least one), never past the segment end or the written end. At a segment's
    /// end-of-file trailer it returns just the 8-byte trailer; the next read starts at the
    /// next segment. Empty at the end of the log. Not capped by the confirm watermark: this
    /// is what a master sends to the replicas that confirm it.
    pub fn read_commitlog(
        &self,
        from: PhysOffset,
        max_bytes: usize,
    ) -> Result<Vec<u8>, ReplicaReadError> {
        let cl = &self.shared().commit_log;
        let (offset, end) = (from.0, cl.max_offset());
        if offset > end {
            return Err(ReplicaReadError::PastEnd { offset, end });
        }
        let start = cl.min_offset();
        if offset < start {
            return Err(ReplicaReadError::BelowStart { offset, start });
        }
        if offset == end {
            return Ok(Vec::new());
        }
        let below = || ReplicaReadError::BelowStart { offset, start: cl.min_offset() };
        let (file, pos) = cl.locate(offset).ok_or_else(below)?;
        let limit = usize::try_from((end - file.start()).min(file.size() as u64)).unwrap_or(0);
        let buf = file.read(pos, limit.saturating_sub(pos)).ok_or_else(below)?;
        let len = whole_records_len(buf, offset, max_bytes)
            .map_err(|error| ReplicaReadError::NotARecord { offset, error })?;
        Ok(buf[..len].to_vec())
    }

    /// Appends bytes replicated from a master (as [`MessageStore::read_commitlog`] returned
    /// them) at `at`, which must be this log's end. Every record must be whole, pass its CRC
    /// and carry its own offset; a trailer must end its segment exactly. Nothing is appended
    /// if any check fails. An empty store also accepts a segment start as `at` (a replica of
    /// a master whose oldest segments were deleted). Returns the new end. Under sync flush the bytes become durable
    /// with the next group commit; dispatch makes them readable as for puts.
    pub fn append_replicated(
        &self,
        at: PhysOffset,
        bytes: &[u8],
    ) -> Result<PhysOffset, ReplicaAppendError> {
        let s = self.shared();
        check_writable(s).map_err(|e| match e {
            PutError::StoreFailed { reason } => ReplicaAppendError::StoreFailed { reason },
            PutError::DiskFull { used_percent } => ReplicaAppendError::DiskFull { used_percent },
            _ => ReplicaAppendError::NotWritable,
        })?;
        if bytes.is_empty() {
            let expected = s.commit_log.max_offset();
            return match at.0 == expected {
                true => Ok(at),
                false => Err(ReplicaAppendError::Discontinuous { offset: at.0, expected }),
            };
        }
        let file_size = s.commit_log.files().file_size() as u64;
        let chunk = check_chunk(bytes, at.0, file_size)?;
        let end = s.commit_log.append_replicated(at.0, &chunk).map_err(|e| match e {
            ReplicatedAppendError::Closed => ReplicaAppendError::NotWritable,
            ReplicatedAppendError::Discontinuous { expected } => {
                ReplicaAppendError::Discontinuous { offset: at.0, expected }
            }
            ReplicatedAppendError::Roll(PutError::Io(e)) => ReplicaAppendError::Io(e),
            ReplicatedAppendError::Roll(_) => ReplicaAppendError::NotWritable,
        })?;
        assert!(end >= at.0 + bytes.len() as u64, "the log grew by the replicated bytes");
        if s.config.flush_disk_type == FlushDiskType::Async {
            s.dispatch.wake();
        }
        Ok(PhysOffset(end))
    }

    /// Sets the replication confirm watermark: dispatch (and so every queue read) and lookups
    /// by offset stop at it. `None` removes it (a master without replication, the default).
    /// A set watermark only moves forward; returns false (and changes nothing) for a lower
    /// value. Set it before the first put it must hold back.
    pub fn set_confirm_offset(&self, offset: Option<PhysOffset>) -> bool {
        let s = self.shared();
        let moved = s.confirm.set(offset.map(|o| o.0));
        s.dispatch.wake_now();
        moved
    }

    /// The replication confirm watermark, if set.
    pub fn confirm_offset(&self) -> Option<PhysOffset> {
        self.shared().confirm.get().map(PhysOffset)
    }

    /// Waits until the confirm watermark reaches `end` (immediately true when unset), at most
    /// `timeout`; like a sync-flush put waits for its group commit.
    pub fn wait_confirmed(&self, end: PhysOffset, timeout: Duration) -> bool {
        self.shared().confirm.wait(end.0, timeout)
    }
}

/// Length of the whole records at the start of `buf` (commitlog offset `at`): up to about
/// `max_bytes`, at least one record; just the trailer if `buf` starts with one.
fn whole_records_len(buf: &[u8], at: u64, max_bytes: usize) -> Result<usize, RecordError> {
    let mut len = 0usize;
    while len < buf.len() {
        match check_record(&buf[len..], PhysOffset(at + len as u64), false) {
            RecordCheck::Record(v) => {
                let size = v.total_size as usize;
                if len > 0 && len + size > max_bytes {
                    break;
                }
                len += size;
            }
            RecordCheck::EndOfFile if len == 0 => return Ok(END_FILE_MIN_BLANK_LENGTH),
            RecordCheck::EndOfFile => break,
            RecordCheck::Invalid(e) if len == 0 => return Err(e),
            RecordCheck::Invalid(_) => break,
        }
    }
    assert!(len <= buf.len(), "whole records lie inside the buffer");
    Ok(len)
}

/// Validates replicated bytes meant for commitlog offset `at` with segments of `file_size`
/// bytes: whole CRC-checked records at their own offsets, each leaving room for a trailer,
/// optionally ended by a trailer whose size is exactly the rest of the segment. Pure.
pub(crate) fn check_chunk(
    bytes: &[u8],
    at: u64,
    file_size: u64,
) -> Result<ReplicatedChunk<'_>, ReplicaAppendError> {
    let segment_end = (at / file_size + 1) * file_size;
    let boundary = |offset| ReplicaAppendError::SegmentBoundary { offset };
    if at + bytes.len() as u64 > segment_end {
        return Err(boundary(at));
    }
    let mut chunk =
        ReplicatedChunk { bytes, records: Vec::new(), ends_segment: false, last_store_ts: 0 };
    let mut pos = 0usize;
    while pos < bytes.len() {
        let offset = at + pos as u64;
        match check_record(&bytes[pos..], PhysOffset(offset), true) {
            RecordCheck::Record(v) => {
                let end = offset + u64::from(v.total_size);
                if end + END_FILE_MIN_BLANK_LENGTH as u64 > segment_end {
                    return Err(boundary(offset));
                }
                if enters_consume_queue(v.sys_flag) {
                    chunk.records.push(ReplicatedRecord {
                        topic: v.topic,
                        queue_id: v.queue_id.0,
                        queue_offset: v.queue_offset,
                    });
                }
                chunk.last_store_ts = chunk.last_store_ts.max(v.store_timestamp_ms);
                pos += v.total_size as usize;
            }
            RecordCheck::EndOfFile => {
                let declared = u64::from(read_u32(bytes, pos));
                let trailer_end = pos + END_FILE_MIN_BLANK_LENGTH;
                if declared != segment_end - offset || trailer_end != bytes.len() {
                    return Err(boundary(offset));
                }
                chunk.ends_segment = true;
                pos = trailer_end;
            }
            RecordCheck::Invalid(error) => {
                return Err(ReplicaAppendError::BadRecord { offset, error });
            }
        }
    }
    assert_eq!(pos, bytes.len(), "a checked chunk is covered by its records");
    Ok(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn watermark_moves_forward_and_wakes_waiters() {
        let w = Arc::new(ConfirmWatermark::default());
        assert_eq!(w.get(), None);
        assert!(w.wait(10, Duration::ZERO), "an unset watermark caps nothing");
        assert!(w.set(Some(100)));
        assert!(!w.set(Some(50)), "a set watermark never moves back");
        assert_eq!(w.limit(), 100);
        assert!(!w.wait(200, Duration::from_millis(1)));
        let w2 = Arc::clone(&w);
        let waiter = std::thread::spawn(move || w2.wait(200, Duration::from_secs(30)));
        assert!(w.set(Some(250)));
        assert!(waiter.join().unwrap());
        assert!(w.set(None));
        assert_eq!(w.get(), None);
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;
    use crate::record::arb::{encode_log, message};
    use crate::record::blank_trailer;

    const SEGMENT: u64 = 64 * 1024;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn random_chunks_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), at in 0u64..(4 * SEGMENT)) {
            if let Ok(c) = check_chunk(&bytes, at, SEGMENT) {
                prop_assert_eq!(c.bytes.len(), bytes.len());
            }
            let _ = whole_records_len(&bytes, at, 100);
        }

        /// What a master's raw read returns (whole records, then the trailer) is accepted;
        /// cutting it anywhere inside a record is not.
        #[test]
        fn master_chunks_are_accepted(
            msgs in prop::collection::vec(message(), 1..5),
            seg in 0u64..4,
            cut in any::<prop::sample::Index>(),
        ) {
            let start = seg * SEGMENT;
            let (mut buf, starts) = encode_log(&msgs, start);
            let records = buf.len();
            prop_assert_eq!(whole_records_len(&buf, start, usize::MAX), Ok(records));
            let rest = u32::try_from(SEGMENT - records as u64).unwrap();
            buf.extend_from_slice(&blank_trailer(rest));
            let c = check_chunk(&buf, start, SEGMENT).unwrap();
            prop_assert!(c.ends_segment);
            prop_assert_eq!(c.last_store_ts, 1000 + msgs.len() as i64 - 1);
            let at = cut.index(records);
            if !starts.contains(&at) {
                prop_assert!(check_chunk(&buf[..at], start, SEGMENT).is_err());
            }
            prop_assert!(check_chunk(&buf[..records], start + 1, SEGMENT).is_err());
        }
    }
}
