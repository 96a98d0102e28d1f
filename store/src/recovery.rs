//! Open-time recovery (STORAGE.md §6), run single-threaded before any thread starts.
//!
//! Order: load commitlog segments, consume queues (cut each at its first invalid entry),
//! checkpoint and index files; find the commitlog end; cut the commitlog and the consume
//! queues there; re-dispatch the tail into consume queues and index; rebuild the
//! topic-queue offset table.
//!
//! * Clean shutdown (no `abort` file and a valid `clean_cl_end` in the checkpoint): the end
//!   is taken from the checkpoint and nothing is scanned.
//! * Crash: start at the newest segment whose first record is valid and older than the
//!   checkpoint's minimum timestamp (everything before it is durable in commitlog, consume
//!   queues and index), walk records with CRC checks, and stop at the first bad one. Stale
//!   bytes after that point are zeroed so they can never come back, later segments are
//!   deleted, and the recovered range is msynced before anything is served.
//!
//! Invariants after recovery: the commitlog ends at the last valid record; no consume-queue
//! entry points past it; every valid record is in its consume queue; the next queue offset of
//! each topic-queue equals its consume queue's entry count.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use crate::checkpoint::Checkpoint;
use crate::commit_log::{CommitLog, QueueOffsetTable};
use crate::config::StoreConfig;
use crate::consume_queue::{self, ConsumeQueueTable, LoadedQueue};
use crate::dispatch::{DispatchError, DispatchTargets, Dispatcher};
use crate::error::OpenError;
use crate::fault::Faults;
use crate::file_queue::load_owned;
use crate::index::IndexService;
use crate::mmap::MappedFile;
use crate::offset::PhysOffset;
use crate::record::{check_record, RecordCheck, RecordError, END_FILE_MIN_BLANK_LENGTH};
use crate::types::RecoveryReport;

/// Everything recovery hands to the store.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub commit_log: CommitLog,
    pub queues: ConsumeQueueTable,
    pub index: Option<IndexService>,
    pub checkpoint: Checkpoint,
    pub dispatched: u64,
    pub dispatched_ts: i64,
    pub report: RecoveryReport,
}

/// Subdirectory names.
pub(crate) const COMMITLOG_DIR: &str = "commitlog";
/// Consume queue root.
pub(crate) const CONSUME_QUEUE_DIR: &str = "consumequeue";
/// Index files.
pub(crate) const INDEX_DIR: &str = "index";

/// Runs recovery. `clean` says whether the last run shut down cleanly (no abort file);
/// `truncate_to` cuts the recovered commitlog at that record boundary.
pub(crate) fn recover(
    config: &StoreConfig,
    clean: bool,
    truncate_to: Option<u64>,
) -> Result<Recovered, OpenError> {
    let root = &config.store_path;
    let cp_path = root.join("checkpoint");
    let checkpoint = Checkpoint::open(&cp_path).map_err(|e| OpenError::io(&cp_path, e))?;
    let cl_dir = root.join(COMMITLOG_DIR);
    let cq_root = root.join(CONSUME_QUEUE_DIR);
    let file_size = config.commitlog_file_size();
    let mut cl_files = load_owned(&cl_dir, file_size)?;
    let mut cqs = consume_queue::load_all(&cq_root, config.consume_queue_file_size())?;
    for q in &mut cqs {
        q.recover_tail();
    }
    let index = if config.index_enable {
        let dir = root.join(INDEX_DIR);
        Some(IndexService::load(dir, config.index_hash_slots, config.index_max_entries)?)
    } else {
        None
    };
    let mut report = RecoveryReport::default();
    let (found_end, scan_start) =
        find_end(&cl_files, &checkpoint, clean, index.is_some(), &mut report);
    let end = cut_commitlog(&mut cl_files, found_end, scan_start, truncate_to)
        .map_err(|e| e.at(&cl_dir))?;
    let rebuild_from = check_consume_queues(&mut cqs, &cl_files, end, file_size);
    let cl_min = cl_files.first().map_or(0, MappedFile::start);
    let no_queues = cqs.is_empty();
    let live: Vec<_> = cqs.into_iter().map(|q| q.into_queue(cl_min)).collect();
    let queues = ConsumeQueueTable::new(cq_root, config.consume_queue_file_size(), live);
    let last_ts = checkpoint.data.physic_ts.max(checkpoint.data.logics_ts);
    let commit_log = CommitLog::new(cl_dir, file_size, cl_files, HashMap::new(), last_ts);
    let mut dispatch_from = scan_start.map_or(end, |(_, start)| start);
    if no_queues && end > cl_min {
        log::warn!("no consume queues found; rebuilding them from the commitlog");
        dispatch_from = cl_min;
    }
    if let Some(from) = rebuild_from.filter(|f| *f < dispatch_from) {
        log::warn!("re-dispatching from {from} to rebuild damaged consume queues");
        dispatch_from = from;
    }
    if let (Some(index), true) = (&index, scan_start.is_some() || end < found_end) {
        // New records land from `end` on and must be indexed again.
        index.lower_end_phy(dispatch_from.min(end));
    }
    let targets = DispatchTargets {
        commit_log: &commit_log,
        queues: &queues,
        index: index.as_ref(),
        delay_levels_ms: &config.delay_levels_ms,
        // Recovery runs before any test can arm a fault.
        faults: &Faults::default(),
    };
    let cq_err = |source| OpenError::io(root.join(CONSUME_QUEUE_DIR), source);
    let (dispatcher, redispatched) = redispatch(&targets, dispatch_from, end).map_err(cq_err)?;
    report.redispatched_records = redispatched;
    report.commitlog_end = PhysOffset(end);
    commit_log.set_queue_offsets(offset_table(&queues), last_ts.max(dispatcher.last_store_ts));
    Ok(Recovered {
        commit_log,
        queues,
        index,
        checkpoint,
        dispatched: dispatcher.reput.max(end),
        dispatched_ts: dispatcher.last_store_ts.max(last_ts),
        report,
    })
}

/// Finds the commitlog end: from the checkpoint after a clean shutdown, else by scanning
/// from the newest segment older than the checkpoint. Returns the end and, after a scan, the
/// index and start offset of the first scanned segment.
fn find_end(
    cl_files: &[MappedFile],
    checkpoint: &Checkpoint,
    clean: bool,
    with_index: bool,
    report: &mut RecoveryReport,
) -> (u64, Option<(usize, u64)>) {
    let clean_end = checkpoint.data.clean_cl_end.filter(|e| clean && end_fits(cl_files, *e));
    report.clean_shutdown = clean_end.is_some();
    if let Some(end) = clean_end {
        return (end, None);
    }
    let min_ts = checkpoint.data.min_timestamp(with_index);
    let idx = find_start_file(cl_files, min_ts);
    let (end, scanned) = scan_commitlog(cl_files, idx);
    report.scanned_bytes = scanned;
    let start = cl_files.get(idx).map_or(0, MappedFile::start);
    if cl_files.is_empty() {
        log::info!("new store: no commitlog yet");
    } else {
        log::warn!("store did not shut down cleanly; commitlog scanned from {start} to {end}");
    }
    (end, Some((idx, start)))
}

/// Why the commitlog could not be cut where asked.
#[derive(Debug)]
enum CutError {
    /// The requested offset is not a record boundary at or below the end.
    BadPoint(String),
    /// Making the cut durable failed.
    Io(std::path::PathBuf, std::io::Error),
}

impl CutError {
    fn at(self, dir: &Path) -> OpenError {
        match self {
            CutError::BadPoint(reason) => OpenError::Corrupt { path: dir.to_path_buf(), reason },
            CutError::Io(path, e) => OpenError::io(path, e),
        }
    }
}

/// Cuts the commitlog at `found_end`, or at `truncate_to` when asked (checked to be a record
/// boundary at or below it), zeroing stale bytes after a scan or a requested cut and
/// msyncing what changed. Returns the end.
fn cut_commitlog(
    cl_files: &mut Vec<MappedFile>,
    found_end: u64,
    scan_start: Option<(usize, u64)>,
    truncate_to: Option<u64>,
) -> Result<u64, CutError> {
    let end = match truncate_to {
        Some(to) => {
            check_truncation_point(cl_files, to, found_end).map_err(CutError::BadPoint)?;
            log::warn!("commitlog cut at {to} on request (it ended at {found_end})");
            to
        }
        None => found_end,
    };
    let truncated = end < found_end;
    truncate_commitlog(cl_files, end, scan_start.is_some() || truncated);
    assert!(cl_files.last().is_none_or(|f| end <= f.end()), "recovery end past the last segment");
    assert!(
        cl_files.last().is_none_or(|f| f.start() + f.published() as u64 == end),
        "the last segment ends at the recovered end"
    );
    let flush_from = match scan_start {
        Some((idx, _)) => Some(idx),
        None => truncated.then(|| cl_files.len().saturating_sub(1)),
    };
    if let Some(idx) = flush_from {
        for f in cl_files.iter().skip(idx) {
            f.flush_all().map_err(|e| CutError::Io(f.path().to_path_buf(), e))?;
        }
    }
    Ok(end)
}

/// Dispatches `[from, end)` into consume queues and index and flushes the queues. Returns
/// the dispatcher (its progress) and how many records it dispatched.
fn redispatch(
    targets: &DispatchTargets<'_>,
    from: u64,
    end: u64,
) -> Result<(Dispatcher, u64), std::io::Error> {
    let mut dispatcher = Dispatcher::new(from);
    let n = dispatcher.run(targets, end, usize::MAX).map_err(|e| match e {
        DispatchError::Io(source) => source,
    })?;
    for q in targets.queues.all() {
        q.flush()?;
    }
    Ok((dispatcher, n as u64))
}

/// Cuts every consume queue at the commitlog end `end` and checks its tail against the
/// commitlog. Returns the lowest commitlog offset from which a damaged queue must be rebuilt.
fn check_consume_queues(
    cqs: &mut [LoadedQueue],
    cl_files: &[MappedFile],
    end: u64,
    file_size: usize,
) -> Option<u64> {
    let max_record = u32::try_from(file_size - END_FILE_MIN_BLANK_LENGTH).unwrap_or(u32::MAX);
    let mut rebuild_from: Option<u64> = None;
    for q in cqs {
        let mut from = None;
        if q.truncate_to_commitlog(end) > 0 {
            // Usually a crash (consume queues flushed ahead of the commitlog), else damage.
            // Either way the records behind the last kept entry are dispatched again.
            from = Some(q.max_phys_end());
        }
        if let Some(f) = q.validate_tail(cl_files, max_record) {
            from = Some(from.map_or(f, |g| g.min(f)));
        }
        if let Some(f) = from {
            rebuild_from = Some(rebuild_from.map_or(f, |r| r.min(f)));
        }
    }
    rebuild_from
}

/// Checks that `to` is a record boundary at or below the recovered end `end`: the end
/// itself, a segment start, or the start of a valid record or end-of-file trailer.
fn check_truncation_point(files: &[MappedFile], to: u64, end: u64) -> Result<(), String> {
    if to > end {
        return Err(format!("cannot cut the commitlog at {to}: it ends at {end}"));
    }
    let min = files.first().map_or(0, MappedFile::start);
    if to == end || files.iter().any(|f| f.start() == to) {
        return Ok(());
    }
    if to < min {
        return Err(format!("cannot cut the commitlog at {to}: it starts at {min}"));
    }
    let f = files.iter().find(|f| f.start() <= to && to < f.end());
    let pos = f.and_then(|f| usize::try_from(to - f.start()).ok().map(|p| (f, p)));
    match pos.map(|(f, p)| check_record(f.read_from(p), PhysOffset(to), false)) {
        Some(RecordCheck::Record(_) | RecordCheck::EndOfFile) => Ok(()),
        _ => Err(format!("cannot cut the commitlog at {to}: not a record boundary")),
    }
}

fn end_fits(files: &[MappedFile], end: u64) -> bool {
    match (files.first(), files.last()) {
        (Some(first), Some(last)) => first.start() <= end && end <= last.end(),
        _ => end == 0,
    }
}

/// Index of the newest segment whose first record is valid and stored at or before
/// `min_ts`; 0 if none is (or the checkpoint is empty).
pub(crate) fn find_start_file(files: &[MappedFile], min_ts: i64) -> usize {
    if min_ts <= 0 {
        return 0;
    }
    for (idx, f) in files.iter().enumerate().rev() {
        if let RecordCheck::Record(v) = check_record(f.read_from(0), PhysOffset(f.start()), true) {
            if v.store_timestamp_ms != 0 && v.store_timestamp_ms <= min_ts {
                return idx;
            }
        }
    }
    0
}

/// Walks records from the start of `files[idx]` with CRC checks. Returns the end of the
/// last valid record and the number of bytes checked.
pub(crate) fn scan_commitlog(files: &[MappedFile], idx: usize) -> (u64, u64) {
    let Some(first) = files.get(idx) else { return (0, 0) };
    let mut scanned = 0u64;
    for (i, f) in files.iter().enumerate().skip(idx) {
        let scan = scan_segment(f.read_from(0), f.start());
        assert!(scan.valid_len <= f.size(), "a scan stays inside its segment");
        let at = f.start() + scan.valid_len as u64;
        match scan.error {
            None if i + 1 < files.len() => scanned += f.size() as u64,
            None => {
                assert!(f.end() >= first.start(), "scan ends after its start");
                return (f.end(), scanned + f.size() as u64);
            }
            Some(e) => {
                if at > first.start() {
                    log::warn!("commitlog ends at {at}: {e}");
                }
                return (at, scanned + scan.valid_len as u64);
            }
        }
    }
    (first.start(), scanned)
}

/// What walking one segment's readable bytes found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentScan {
    /// Bytes of valid records from the segment start.
    pub valid_len: usize,
    /// Why the walk stopped before an end-of-file trailer (`None`: it reached one).
    pub error: Option<RecordError>,
}

/// Walks the records at the start of `buf` (a segment starting at commitlog offset `start`)
/// with full checks (structure, own offset, CRC) until an end-of-file trailer or the first
/// invalid record. Pure; never panics on any bytes.
pub(crate) fn scan_segment(buf: &[u8], start: u64) -> SegmentScan {
    let mut pos = 0usize;
    loop {
        match check_record(&buf[pos..], PhysOffset(start + pos as u64), true) {
            RecordCheck::Record(v) => pos += v.total_size as usize,
            RecordCheck::EndOfFile => return SegmentScan { valid_len: pos, error: None },
            RecordCheck::Invalid(e) => return SegmentScan { valid_len: pos, error: Some(e) },
        }
    }
}

/// Cuts the commitlog at `end`: later segments are deleted; inside the last one the
/// published end is set (and with `zero`, stale bytes are cleared).
pub(crate) fn truncate_commitlog(files: &mut Vec<MappedFile>, end: u64, zero: bool) {
    assert!(files.first().is_none_or(|f| f.start() <= end), "cut before the first segment");
    while files.last().is_some_and(|f| f.start() > end) {
        if let Some(f) = files.pop() {
            log::info!("deleting commitlog segment {} past the end {end}", f.path().display());
            remove_file_logged(f.path());
        }
    }
    if let Some(last) = files.last_mut() {
        if end < last.end() {
            let pos = usize::try_from(end - last.start()).unwrap_or(0);
            if zero {
                last.zero_from(pos);
            }
            last.set_published(pos);
        }
    }
}

fn remove_file_logged(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        log::warn!("failed to remove {}: {e}", path.display());
    }
}

fn offset_table(queues: &ConsumeQueueTable) -> QueueOffsetTable {
    let mut table = QueueOffsetTable::new();
    for q in queues.all() {
        assert!(q.min_offset() <= q.max_offset(), "a recovered queue ends after its start");
        table.entry(q.topic().to_owned()).or_default().insert(q.queue_id(), q.max_offset());
    }
    table
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;
    use crate::record::arb::{encode_log, message};
    use crate::record::{blank_trailer, POS_BODY};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn scan_of_random_bytes_never_panics(buf in prop::collection::vec(any::<u8>(), 0..600), start: u32) {
            let scan = scan_segment(&buf, u64::from(start));
            prop_assert!(scan.valid_len <= buf.len());
        }

        /// Valid records followed by a trailer scan to the trailer; a flipped body byte in
        /// record `k` ends the scan exactly at record `k` (the CRC catches it).
        #[test]
        fn scan_stops_at_the_first_damaged_record(
            msgs in prop::collection::vec(message(), 1..6),
            start_seg in 0u64..1000,
            damage in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let start = start_seg * 4096;
            let (mut buf, starts) = encode_log(&msgs, start);
            let len = buf.len();
            buf.extend_from_slice(&blank_trailer(64));
            buf.resize(len + 64, 0);
            prop_assert_eq!(scan_segment(&buf, start), SegmentScan { valid_len: len, error: None });
            let with_body: Vec<usize> = (0..msgs.len()).filter(|i| !msgs[*i].body.is_empty()).collect();
            if !with_body.is_empty() {
                let k = with_body[damage.index(with_body.len())];
                buf[starts[k] + POS_BODY] ^= flip;
                let scan = scan_segment(&buf, start);
                prop_assert_eq!(scan.valid_len, starts[k]);
                let crc = matches!(scan.error, Some(RecordError::CrcMismatch { .. }));
                prop_assert!(crc);
            }
        }

        /// A record from an earlier life of the segment (another offset) ends the scan.
        #[test]
        fn stale_records_end_the_scan(m in message(), start in 1u64..1000) {
            let (buf, _) = encode_log(std::slice::from_ref(&m), 0);
            let scan = scan_segment(&buf, start * 4096);
            prop_assert_eq!(scan.valid_len, 0);
            prop_assert!(scan.error.is_some());
        }
    }
}
