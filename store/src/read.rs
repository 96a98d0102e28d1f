//! The read side of [`MessageStore`]: queue reads, lookups by time, offset and key.
//!
//! Readers take no store-wide lock: they read consume-queue entries below the queue's
//! `max_offset` and commitlog bytes below the published end. Consume-queue entries carry no
//! CRC, so every entry is checked against the record it points at (size, magic, offset,
//! queue id) before its size is trusted; a damaged entry is logged and skipped. Every
//! record handed out passed its body CRC; one that fails is logged (`error!`, with its
//! offsets) and skipped, so the consumer moves past the gap instead of stalling.
//!
//! Invariant: a reader never returns bytes past the confirm offset (dispatch only writes
//! entries below it, and lookups by offset check it).

use std::collections::HashSet;

use crate::consume_queue::{
    ConsumeQueue, CqEntry, EntryMismatch, Slot, CHECKED_HEADER_BYTES, MIN_RECORD_SIZE,
};
use crate::offset::{PhysOffset, QueueId, QueueOffset};
use crate::record::{
    check_record, read_i64, verify_body_crc, RecordCheck, RecordView, END_FILE_MIN_BLANK_LENGTH,
    POS_STORE_TIMESTAMP, PROPERTY_KEYS, PROPERTY_UNIQ_KEY,
};
use crate::state::Shared;
use crate::store::MessageStore;
use crate::types::{GetResult, GetStatus, MessageInfo};

/// Most consume-queue entries one `get_messages` call looks at when filtering.
const MAX_FILTER_SCAN_ENTRIES: u64 = 800;

impl MessageStore {
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
        let Some(q) = self.shared().queues.get(topic, queue_id.0) else {
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
        read_entries(self.shared(), &q, off, (max_count, max_bytes), filter, (min, max))
    }

    /// The first offset whose message was stored at or after `ts_ms` (max offset if none;
    /// min offset if all are later).
    pub fn offset_by_timestamp(&self, topic: &str, queue_id: QueueId, ts_ms: i64) -> QueueOffset {
        let s = self.shared();
        let Some(q) = s.queues.get(topic, queue_id.0) else { return QueueOffset(0) };
        let (mut lo, mut hi) = (q.min_offset(), q.max_offset());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let ts = entry_store_time(s, &q, mid).unwrap_or(i64::MIN);
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
        let s = self.shared();
        let q = s.queues.get(topic, queue_id.0)?;
        (q.min_offset()..q.max_offset()).find_map(|o| entry_store_time(s, &q, o))
    }

    /// Store time of the message at `offset` of a queue.
    pub fn store_time_at(
        &self,
        topic: &str,
        queue_id: QueueId,
        offset: QueueOffset,
    ) -> Option<i64> {
        let s = self.shared();
        let q = s.queues.get(topic, queue_id.0)?;
        if offset.0 < q.min_offset() {
            return None;
        }
        entry_store_time(s, &q, offset.0)
    }

    /// The raw record stored at `phys` (CRC-checked), if `phys` is the start of one.
    pub fn message_by_phys_offset(&self, phys: PhysOffset) -> Option<Vec<u8>> {
        record_at(self.shared(), phys.0)
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
        let s = self.shared();
        let Some(index) = &s.index else { return Vec::new() };
        let want = max.saturating_mul(2).max(16);
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for phys in index.query(topic, key, want, begin_ts_ms, end_ts_ms) {
            if out.len() >= max {
                break;
            }
            if !seen.insert(phys) {
                continue;
            }
            let Some(rec) = record_at(s, phys) else { continue };
            if record_matches_key(&rec, topic, key) {
                out.push(rec);
            }
        }
        out
    }
}

fn read_entries(
    s: &Shared,
    q: &ConsumeQueue,
    from: u64,
    (max_count, max_bytes): (u32, u32),
    filter: Option<&dyn Fn(i64) -> bool>,
    (min, max): (u64, u64),
) -> GetResult {
    let scan_limit = MAX_FILTER_SCAN_ENTRIES.max(u64::from(max_count));
    let cl_min = s.commit_log.min_offset();
    let mut res = empty_result(GetStatus::OffsetFoundNull, from, min, max);
    let mut filtered = false;
    let mut at = from;
    while at < max && at - from < scan_limit && res.message_count < max_count {
        let e = match q.entry_slot(at) {
            Slot::Entry(e) => e,
            Slot::Invalid { phys, size } => {
                log::warn!(
                    "skipping damaged consume-queue entry {}/{} offset {at} (commitlog {phys} \
                     size {size}): not an entry",
                    q.topic(),
                    q.queue_id()
                );
                at += 1;
                continue;
            }
            Slot::Missing => break,
        };
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
        if copy_entry(s, q, at, &e, &mut res.messages) {
            // Pairs with the size check in `copy_entry`: the timestamp lies inside the copy.
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
    assert_eq!(res.message_infos.len(), res.message_count as usize, "one info per message");
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
/// here rather than trusted: its size decides how many bytes are copied and where the store
/// time is read.
fn copy_entry(s: &Shared, q: &ConsumeQueue, at: u64, e: &CqEntry, out: &mut Vec<u8>) -> bool {
    let checked = e.check_size(max_record_size(s)).and_then(|()| {
        s.commit_log
            .with_bytes(e.phys, e.size as usize, |b| {
                e.check_header(b, q.queue_id())?;
                assert_eq!(b.len(), e.size as usize, "copied exactly the entry's record");
                // The CRC of bytes that are in cache anyway: a damaged record is never
                // handed out.
                verify_body_crc(b).map_err(|_| EntryMismatch::BodyCrc)?;
                out.extend_from_slice(b);
                Ok(())
            })
            .unwrap_or(Err(EntryMismatch::OutOfBounds))
    });
    match checked {
        Ok(()) => true,
        Err(EntryMismatch::BodyCrc) => {
            log::error!(
                "commitlog record [{}, {}) of {}/{} offset {at} fails its body CRC: not \
                 served, the consumer skips it (gap)",
                e.phys,
                e.phys + u64::from(e.size),
                q.topic(),
                q.queue_id()
            );
            false
        }
        // The segment may have been deleted since the caller compared with its start.
        Err(EntryMismatch::OutOfBounds) if e.phys < s.commit_log.min_offset() => false,
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
fn max_record_size(s: &Shared) -> u32 {
    let size = s.commit_log.files().file_size() - END_FILE_MIN_BLANK_LENGTH;
    u32::try_from(size).unwrap_or(u32::MAX)
}

fn entry_store_time(s: &Shared, q: &ConsumeQueue, offset: u64) -> Option<i64> {
    let e = q.entry(offset)?;
    if e.is_blank() || e.check_size(max_record_size(s)).is_err() {
        return None;
    }
    s.commit_log
        .with_bytes(e.phys, CHECKED_HEADER_BYTES, |b| {
            e.check_header(b, q.queue_id()).ok().map(|()| read_i64(b, POS_STORE_TIMESTAMP))
        })
        .flatten()
}

/// The CRC-checked record starting at `phys`, if one does and it is below the confirm
/// offset.
pub(crate) fn record_at(s: &Shared, phys: u64) -> Option<Vec<u8>> {
    let confirm = s.confirm_offset();
    if phys >= confirm {
        return None;
    }
    let (file, pos) = s.commit_log.locate(phys)?;
    let limit = usize::try_from((confirm - file.start()).min(file.size() as u64)).ok()?;
    let buf = file.read(pos, limit.checked_sub(pos)?)?;
    match check_record(buf, PhysOffset(phys), true) {
        RecordCheck::Record(v) => Some(buf[..v.total_size as usize].to_vec()),
        _ => None,
    }
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
