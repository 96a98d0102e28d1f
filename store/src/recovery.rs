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
//!   queues and index), walk records with CRC checks. At a bad record, look ahead for the
//!   next record that validates ([`resync`]); if there is one, the damaged range between
//!   is copied to a quarantine file, zeroed in place and logged, and the walk goes on. If
//!   there is none, the log ends at the bad record (a torn tail). Stale bytes after the
//!   end are zeroed so they can never come back, later segments are deleted, and the
//!   recovered range is msynced before anything is served.
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
use crate::mmap::{is_no_space, MappedFile};
use crate::offset::PhysOffset;
use crate::record::{
    check_record, read_u32, RecordCheck, RecordError, BLANK_MAGIC, END_FILE_MIN_BLANK_LENGTH,
    MAGIC_V1, MAGIC_V2,
};
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
    /// Reserving the last files, or creating a consume-queue or index file during
    /// re-dispatch, found no space: the store opens read-only.
    pub no_space: Option<std::io::Error>,
    /// Re-dispatch stopped early for lack of space: the queue offsets of new puts would not
    /// be known, so writes stay refused until a restart.
    pub partial_dispatch: bool,
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
    let window = resync_window_bytes(config);
    let (found_end, scan_start, damaged) =
        find_end(&cl_files, &checkpoint, clean, index.is_some(), window, &mut report);
    quarantine_all(&mut cl_files, &damaged, &mut report);
    let end = cut_commitlog(&mut cl_files, found_end, scan_start, truncate_to)
        .map_err(|e| e.at(&cl_dir))?;
    let rebuild_from = check_consume_queues(&mut cqs, &cl_files, end, file_size);
    let mut no_space = reserve_last_files(&cl_files, &cqs);
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
    // Recovery runs before any test can arm a fault. (`Faults` is a unit struct in
    // production builds, where clippy would rather see `Faults`.)
    #[allow(clippy::default_constructed_unit_structs)]
    let no_faults = Faults::default();
    let targets = DispatchTargets {
        commit_log: &commit_log,
        queues: &queues,
        index: index.as_ref(),
        delay_levels_ms: &config.delay_levels_ms,
        faults: &no_faults,
    };
    let cq_err = |source| OpenError::io(root.join(CONSUME_QUEUE_DIR), source);
    let (dispatcher, redispatched, stopped) = redispatch(&targets, dispatch_from, end);
    let partial_dispatch = match stopped {
        Some(e) if is_no_space(&e) => {
            log::error!(
                "re-dispatch stopped at {} of {end} for lack of space: {e}; the store opens \
                 read-only until restarted, consume queues catch up once space is freed",
                dispatcher.reput
            );
            no_space = Some(e);
            true
        }
        Some(e) => return Err(cq_err(e)),
        None => false,
    };
    report.redispatched_records = redispatched;
    report.commitlog_end = PhysOffset(end);
    commit_log.set_queue_offsets(offset_table(&queues), last_ts.max(dispatcher.last_store_ts));
    let dispatched = if partial_dispatch { dispatcher.reput } else { dispatcher.reput.max(end) };
    Ok(Recovered {
        commit_log,
        queues,
        index,
        checkpoint,
        dispatched,
        dispatched_ts: dispatcher.last_store_ts.max(last_ts),
        report,
        no_space,
        partial_dispatch,
    })
}

/// Finds the commitlog end: from the checkpoint after a clean shutdown, else by scanning
/// from the newest segment older than the checkpoint. Returns the end, after a scan the
/// index and start offset of the first scanned segment, and the damaged ranges it skipped.
fn find_end(
    cl_files: &[MappedFile],
    checkpoint: &Checkpoint,
    clean: bool,
    with_index: bool,
    window: usize,
    report: &mut RecoveryReport,
) -> (u64, Option<(usize, u64)>, Vec<Damage>) {
    let clean_end = checkpoint.data.clean_cl_end.filter(|e| clean && end_fits(cl_files, *e));
    report.clean_shutdown = clean_end.is_some();
    if let Some(end) = clean_end {
        return (end, None, Vec::new());
    }
    let min_ts = checkpoint.data.min_timestamp(with_index);
    let idx = find_start_file(cl_files, min_ts);
    let scan = scan_commitlog(cl_files, idx, window);
    report.scanned_bytes = scan.scanned;
    let start = cl_files.get(idx).map_or(0, MappedFile::start);
    let end = scan.end;
    if cl_files.is_empty() {
        log::info!("new store: no commitlog yet");
    } else {
        log::warn!("store did not shut down cleanly; commitlog scanned from {start} to {end}");
    }
    (end, Some((idx, start)), scan.damaged)
}

/// How far past a damaged record the scan looks for the next valid one: twice the largest
/// record, at least [`MIN_RESYNC_WINDOW_BYTES`]. Damage longer than that (a lost stretch of
/// a segment) ends the log there, unless a later segment holds records.
fn resync_window_bytes(config: &StoreConfig) -> usize {
    let max_record = crate::record::record_len(
        config.max_message_size_bytes as usize,
        crate::record::MAX_TOPIC_BYTES,
        crate::record::MAX_PROPERTIES_BYTES,
    );
    max_record.saturating_mul(2).max(MIN_RESYNC_WINDOW_BYTES)
}

/// Smallest resync window (see [`resync_window_bytes`]).
const MIN_RESYNC_WINDOW_BYTES: usize = 16 << 20;

/// Reserves the unwritten blocks of the last commitlog segment and of each queue's last
/// file, which the writers append into. Files made before segments were reserved at
/// creation are sparse, and a write into a hole on a full disk is a `SIGBUS`. Returns the
/// first no-space error: the store then opens read-only.
fn reserve_last_files(cl_files: &[MappedFile], cqs: &[LoadedQueue]) -> Option<std::io::Error> {
    let lasts = cl_files.last().into_iter().chain(cqs.iter().filter_map(LoadedQueue::last_file));
    let mut no_space = None;
    for f in lasts {
        match f.reserve_unwritten() {
            Ok(()) => {}
            Err(e) if is_no_space(&e) => {
                log::error!("cannot reserve the unwritten part of {}: {e}", f.path().display());
                no_space.get_or_insert(e);
            }
            Err(e) => {
                log::warn!("cannot reserve the unwritten part of {}: {e}", f.path().display())
            }
        }
    }
    no_space
}

/// Moves each damaged range aside: its bytes are copied to `<segment>.quarantine-<offset>`
/// (made durable first), then zeroed in the segment, so no later scan or reader takes them
/// for records. A range that cannot be saved (no space, say) is left in place: the scan
/// skips it again next time, dispatch steps over it and readers check CRCs.
fn quarantine_all(files: &mut [MappedFile], damaged: &[Damage], report: &mut RecoveryReport) {
    for d in damaged {
        report.quarantined_ranges += 1;
        report.quarantined_bytes += d.len as u64;
        let Some(f) = files.iter_mut().find(|f| f.start() <= d.offset && d.offset < f.end()) else {
            continue;
        };
        let Ok(pos) = usize::try_from(d.offset - f.start()) else { continue };
        assert!(pos + d.len <= f.size(), "a damaged range stays inside its segment");
        let end = d.offset + d.len as u64;
        let target = quarantine_path(f.path(), d.offset);
        let bytes = f.bytes_mut(pos, d.len);
        if bytes.iter().all(|&b| b == 0) {
            log::warn!(
                "commitlog [{}, {end}): {} zero bytes between records skipped ({})",
                d.offset,
                d.len,
                d.error
            );
            continue;
        }
        match write_quarantine(&target, bytes) {
            Ok(()) => {
                bytes.fill(0);
                log::error!(
                    "commitlog [{}, {end}): {} damaged bytes ({}) moved to {}; the records \
                     after them are kept",
                    d.offset,
                    d.len,
                    d.error,
                    target.display()
                );
            }
            Err(e) => log::error!(
                "commitlog [{}, {end}): {} damaged bytes ({}) left in place, saving them to \
                 {} failed: {e}; they are skipped",
                d.offset,
                d.len,
                d.error,
                target.display()
            ),
        }
    }
}

/// `<segment>.quarantine-<commitlog offset>`.
pub(crate) fn quarantine_path(segment: &Path, offset: u64) -> std::path::PathBuf {
    let mut name = segment.as_os_str().to_owned();
    name.push(format!(".quarantine-{offset}"));
    name.into()
}

/// Writes `bytes` to `path` (sparse: all-zero pages are not written) and makes it durable.
fn write_quarantine(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let file = fs::OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
    let page = crate::mmap::PAGE_SIZE;
    for (i, chunk) in bytes.chunks(page).enumerate() {
        if chunk.iter().any(|&b| b != 0) {
            file.write_all_at(chunk, (i * page) as u64)?;
        }
    }
    file.set_len(bytes.len() as u64)?;
    file.sync_all()?;
    if let Some(dir) = path.parent() {
        crate::fsutil::fsync_dir(dir)?;
    }
    Ok(())
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
/// the dispatcher (its progress), how many records it dispatched, and the error that
/// stopped it early, if one did.
fn redispatch(
    targets: &DispatchTargets<'_>,
    from: u64,
    end: u64,
) -> (Dispatcher, u64, Option<std::io::Error>) {
    let mut dispatcher = Dispatcher::new(from);
    let (n, stopped) = match dispatcher.run(targets, end, usize::MAX) {
        Ok(n) => (n as u64, None),
        Err(DispatchError::Io(e)) => (0, Some(e)),
    };
    let flushed = targets.queues.all().iter().try_for_each(|q| q.flush());
    (dispatcher, n, stopped.or(flushed.err()))
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

/// A damaged commitlog range the scan stepped over: from a record that fails its checks to
/// the next record that validates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Damage {
    /// Commitlog offset of the first damaged byte (a record boundary).
    pub offset: u64,
    /// Bytes up to the next valid record (or the end of the segment).
    pub len: usize,
    /// What was wrong with the record at `offset`.
    pub error: RecordError,
}

/// What scanning the commitlog found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogScan {
    /// End of the last valid record (the log end).
    pub end: u64,
    /// Bytes checked.
    pub scanned: u64,
    /// Damaged ranges before the end, each followed by valid records.
    pub damaged: Vec<Damage>,
}

/// Walks records from the start of `files[idx]` with CRC checks. At a record that fails,
/// looks up to `window` bytes ahead for the next one that validates ([`resync`]) and goes
/// on from there; when none is found in its segment but a later segment holds records, the
/// rest of the segment is the damage. Otherwise the log ends at the failing record (a torn
/// tail). Java's recovery ends the log at the first bad record in every case.
pub(crate) fn scan_commitlog(files: &[MappedFile], idx: usize, window: usize) -> LogScan {
    let Some(first) = files.get(idx) else {
        return LogScan { end: 0, scanned: 0, damaged: Vec::new() };
    };
    let mut out = LogScan { end: first.start(), scanned: 0, damaged: Vec::new() };
    for (i, f) in files.iter().enumerate().skip(idx) {
        let buf = f.read_from(0);
        let mut pos = 0usize;
        loop {
            let scan = scan_segment(&buf[pos..], f.start() + pos as u64);
            pos += scan.valid_len;
            assert!(pos <= f.size(), "a scan stays inside its segment");
            let Some(error) = scan.error else {
                out.scanned += (f.size() - (pos - scan.valid_len)) as u64;
                out.end = f.end();
                break;
            };
            out.scanned += scan.valid_len as u64;
            let at = f.start() + pos as u64;
            let next = resync(buf, f.start(), pos + 1, window).or_else(|| {
                let later = files.get(i + 1).is_some_and(|n| holds_records(n, window));
                later.then_some(buf.len())
            });
            let Some(next) = next else {
                if at > first.start() {
                    log::warn!("commitlog ends at {at}: {error}");
                }
                out.end = at;
                return out;
            };
            assert!(next > pos, "a resync moves forward");
            out.damaged.push(Damage { offset: at, len: next - pos, error });
            out.scanned += (next - pos) as u64;
            pos = next;
            if pos == buf.len() {
                out.end = f.end();
                break;
            }
        }
    }
    assert!(out.end >= first.start(), "scan ends after its start");
    out
}

/// Whether segment `f` starts with a valid record, or holds one within `window` bytes.
fn holds_records(f: &MappedFile, window: usize) -> bool {
    let buf = f.read_from(0);
    matches!(check_record(buf, PhysOffset(f.start()), true), RecordCheck::Record(_))
        || resync(buf, f.start(), 0, window).is_some()
}

/// First magic byte of the record magics and of the end-of-file trailer (big-endian).
const MAGIC_FIRST_BYTES: [u8; 2] = [(MAGIC_V1 >> 24) as u8, (BLANK_MAGIC >> 24) as u8];
const _: () = assert!(MAGIC_V1 >> 24 == MAGIC_V2 >> 24, "V1 and V2 share their first byte");

/// The first position `p` in `from..from + window` of `buf` (a segment, or its part from
/// commitlog offset `start`) where a record validates with every check (magic, length, its
/// own offset, CRC) and what follows it is plausible (another record, the end-of-file
/// trailer, zeros or the end of `buf`); or where an end-of-file trailer exactly fills the
/// rest of `buf`. The record's own-offset field makes a false match practically
/// impossible: stale or copied bytes name another offset. Pure; never panics.
pub(crate) fn resync(buf: &[u8], start: u64, from: usize, window: usize) -> Option<usize> {
    let limit = from.saturating_add(window).min(buf.len());
    let mut at = from;
    while at < limit && at + END_FILE_MIN_BLANK_LENGTH <= buf.len() {
        let hay = &buf[at + 4..(limit + 4).min(buf.len())];
        at += hay.iter().position(|b| MAGIC_FIRST_BYTES.contains(b))?;
        if at >= limit {
            return None;
        }
        if is_resync_point(buf, start, at) {
            return Some(at);
        }
        at += 1;
    }
    None
}

fn is_resync_point(buf: &[u8], start: u64, at: usize) -> bool {
    let rest = &buf[at..];
    match check_record(rest, PhysOffset(start + at as u64), true) {
        RecordCheck::Record(v) => follows_plausibly(buf, start, at + v.total_size as usize),
        RecordCheck::EndOfFile => read_u32(rest, 0) as usize == rest.len(),
        RecordCheck::Invalid(_) => false,
    }
}

fn follows_plausibly(buf: &[u8], start: u64, next: usize) -> bool {
    let Some(rest) = buf.get(next..) else { return false };
    if rest.is_empty() {
        return true;
    }
    if rest.len() >= END_FILE_MIN_BLANK_LENGTH && rest[..8].iter().all(|&b| b == 0) {
        return true; // the end of the written log
    }
    matches!(
        check_record(rest, PhysOffset(start + next as u64), false),
        RecordCheck::Record(_) | RecordCheck::EndOfFile
    )
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
    use crate::record::{blank_trailer, POS_BODY, POS_BODY_CRC};

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

        #[test]
        fn resync_over_random_bytes_never_panics(
            buf in prop::collection::vec(any::<u8>(), 0..600),
            start: u32,
            from in 0usize..700,
            window in 0usize..700,
        ) {
            if let Some(p) = resync(&buf, u64::from(start), from, window) {
                prop_assert!(p >= from && p < buf.len());
            }
        }

        /// Damage anywhere in record `k` (flipped bytes, zeros, a torn stretch) is stepped
        /// over: the scan resyncs exactly at record `k + 1` and keeps every later record.
        #[test]
        fn scan_resyncs_at_the_record_after_the_damage(
            msgs in prop::collection::vec(message(), 3..8),
            start_seg in 0u64..1000,
            damage in any::<prop::sample::Index>(),
            at in any::<prop::sample::Index>(),
            len in 1usize..40,
            zero: bool,
            in_body: bool,
        ) {
            let start = start_seg * 65536;
            let (mut buf, starts) = encode_log(&msgs, start);
            let end = buf.len();
            buf.extend_from_slice(&blank_trailer(64));
            buf.resize(end + 64, 0);
            let k = damage.index(msgs.len() - 1);
            // Only what a record's checks cover: size, magic, body CRC and body (the other
            // header fields carry no check, in Java neither).
            let body_len = msgs[k].body.len();
            let checked = if in_body && body_len > 0 { body_len } else { POS_BODY_CRC + 4 };
            let base = if in_body && body_len > 0 { starts[k] + POS_BODY } else { starts[k] };
            let from = base + at.index(checked);
            let to = (from + len).min(base + checked);
            let before = buf[from..to].to_vec();
            for b in &mut buf[from..to] {
                *b = if zero { 0 } else { !*b };
            }
            prop_assume!(buf[from..to] != before[..], "zeros over zeros change nothing");
            let scan = scan_segment(&buf, start);
            prop_assert_eq!(scan.valid_len, starts[k]);
            let next = resync(&buf, start, starts[k] + 1, 1 << 20);
            prop_assert_eq!(next, Some(starts[k + 1]));
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
