//! Dispatch ("reput"): reads the commitlog behind the writer and builds consume-queue and
//! index entries. The same code runs during recovery (synchronously) and in the dispatch
//! thread.
//!
//! Invariants: `reput` is always at a record boundary (or a segment start); it only reads
//! bytes below the confirm offset given by the caller (the written end, or under sync flush
//! the flushed end); every record it dispatches passed the structure checks (readers check
//! the body CRC before handing a record out). After bytes that are no record (damage, or a
//! range recovery quarantined) it goes on at the next record that validates (`resync`).
//! Consume-queue writes are idempotent, so dispatching a record twice is harmless.
//!
//! The driver of the `rmq-store-dispatch` thread ([`run_thread`]) and the wake-up handshake
//! with appenders ([`DispatchWake`]) live here too.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, Thread};
use std::time::Duration;

use crate::commit_log::CommitLog;
use crate::consume_queue::{ConsumeQueue, ConsumeQueueTable};
use crate::error::StoreFailure;
use crate::fault::{FaultPoint, Faults};
use crate::index::{IndexKeys, IndexService};
use crate::mmap::{is_no_space, MappedFile};
use crate::offset::PhysOffset;
use crate::offset::{QueueId, QueueOffset};
use crate::record::{
    check_record, enters_consume_queue, java_string_hash, property_pairs, transaction_type,
    RecordCheck, RecordError, RecordView, PROPERTY_DELAY_TIME_LEVEL, PROPERTY_KEYS, PROPERTY_TAGS,
    PROPERTY_UNIQ_KEY, SYS_FLAG_TRANSACTION_ROLLBACK,
};
use crate::recovery::resync;
use crate::state::{Phase, Shared};

/// Records one dispatch round handles before notifying listeners.
const DISPATCH_BATCH: usize = 4096;
/// How long a caught-up dispatcher naps before it parks and asks appenders to wake it. Adds at
/// most this (plus timer slack) to the time a message takes to become pullable under load.
const DISPATCH_NAP: Duration = Duration::from_micros(100);
/// Longest park of an idle dispatcher; appenders wake it sooner (a safety net only, so an idle
/// broker does not wake this thread a thousand times a second).
const DISPATCH_PARK_MAX: Duration = Duration::from_millis(10);
/// Pause after a failed consume-queue write before the next attempt.
const FAILED_RETRY: Duration = Duration::from_millis(100);

/// Topic of delayed messages; queue id = delay level - 1.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";

/// What the dispatcher writes to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DispatchTargets<'a> {
    pub commit_log: &'a CommitLog,
    pub queues: &'a ConsumeQueueTable,
    pub index: Option<&'a IndexService>,
    pub delay_levels_ms: &'a [u64],
    pub faults: &'a Faults,
}

/// Dispatch progress.
#[derive(Debug)]
pub(crate) struct Dispatcher {
    /// Next commitlog offset to read.
    pub reput: u64,
    /// Store time of the last dispatched record.
    pub last_store_ts: i64,
    /// Queues that grew in the current round.
    grown: Vec<Arc<ConsumeQueue>>,
    last_queue: Option<Arc<ConsumeQueue>>,
}

/// Why dispatch stopped early.
#[derive(Debug)]
pub(crate) enum DispatchError {
    /// Writing a consume queue or index file failed.
    Io(std::io::Error),
}

/// The properties dispatch cares about, found in one pass.
#[derive(Clone, Copy, Debug, Default)]
struct DispatchProps<'a> {
    tags: Option<&'a str>,
    keys: Option<&'a str>,
    uniq_key: Option<&'a str>,
    delay: Option<&'a str>,
}

fn scan_props(props: &str) -> DispatchProps<'_> {
    let mut out = DispatchProps::default();
    for (k, v) in property_pairs(props) {
        match k {
            PROPERTY_TAGS => out.tags = Some(v),
            PROPERTY_KEYS => out.keys = Some(v),
            PROPERTY_UNIQ_KEY => out.uniq_key = Some(v),
            PROPERTY_DELAY_TIME_LEVEL => out.delay = Some(v),
            _ => {}
        }
    }
    out
}

/// The consume-queue tag code: the delivery time for scheduled messages, else the TAGS hash.
pub(crate) fn compute_tags_code(
    topic: &str,
    tags: Option<&str>,
    delay: Option<&str>,
    store_ts: i64,
    delay_levels_ms: &[u64],
) -> i64 {
    if topic == SCHEDULE_TOPIC {
        if let Some(level) = delay.and_then(|d| d.trim().parse::<i64>().ok()).filter(|l| *l > 0) {
            let max = i64::try_from(delay_levels_ms.len()).unwrap_or(i64::MAX);
            let idx = usize::try_from(level.min(max) - 1).unwrap_or(0);
            let delay_ms = delay_levels_ms.get(idx).copied().unwrap_or(0);
            return store_ts.saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX));
        }
    }
    tags.map_or(0, |t| i64::from(java_string_hash(t)))
}

impl Dispatcher {
    /// A dispatcher starting at `reput`.
    pub(crate) fn new(reput: u64) -> Dispatcher {
        Dispatcher { reput, last_store_ts: 0, grown: Vec::new(), last_queue: None }
    }

    /// Dispatches records from `reput` up to `end`, at most `budget` of them. Returns how
    /// many records were read.
    pub(crate) fn run(
        &mut self,
        t: &DispatchTargets<'_>,
        end: u64,
        budget: usize,
    ) -> Result<usize, DispatchError> {
        let mut n = 0;
        // The segment being read, kept across records: looking it up per record took two
        // lock round trips on the segment list.
        let mut segment: Option<Arc<MappedFile>> = None;
        while self.reput < end && n < budget {
            let reput = self.reput;
            if !segment.as_ref().is_some_and(|f| f.start() <= reput && reput < f.end()) {
                let min = t.commit_log.min_offset();
                if reput < min {
                    log::warn!("dispatch at {reput} is behind the commitlog start {min}");
                    self.reput = min;
                    continue;
                }
                let Some((file, _)) = t.commit_log.locate(reput) else { break };
                segment = Some(file);
            }
            let Some(file) = segment.as_ref() else { break };
            let Ok(pos) = usize::try_from(reput - file.start()) else { break };
            let limit = usize::try_from((end - file.start()).min(file.size() as u64)).unwrap_or(0);
            let Some(buf) = file.read(pos, limit.saturating_sub(pos)) else { break };
            // Only a cap below the written end (confirm watermark, sync flush) can cut a whole
            // record; at the written end a truncated record is corruption, skipped below.
            let cut_by_end = limit < file.size() && end < t.commit_log.max_offset();
            // No CRC check here (Java's reput skips it too): these bytes are below the
            // confirm offset, written by this process or scanned by recovery; records a
            // consume-queue rebuild re-dispatches from before the recovery scan are indexed
            // unchecked.
            match check_record(buf, PhysOffset(self.reput), false) {
                RecordCheck::Record(view) => {
                    assert!(
                        pos + view.total_size as usize <= limit,
                        "dispatched a record past the confirm offset"
                    );
                    self.dispatch_one(t, &view)?;
                    self.reput += u64::from(view.total_size);
                    n += 1;
                }
                RecordCheck::EndOfFile => self.reput = file.end(),
                // A confirm watermark inside a record: the rest is not visible yet.
                RecordCheck::Invalid(RecordError::Truncated { .. }) if cut_by_end => break,
                RecordCheck::Invalid(e) => {
                    // Bytes below the confirm offset are complete records we wrote, so this
                    // means memory or disk corruption (or a range recovery quarantined).
                    // Go on at the next record that validates, else at the next segment (or
                    // at `end` inside the segment being written: every record below `end` is
                    // complete, so `end` is a boundary and later records start there).
                    let next = resync(buf, reput, 1, buf.len())
                        .map_or(file.end().min(end), |p| reput + p as u64);
                    log::error!(
                        "invalid record at {reput} during dispatch: {e}; {} bytes skipped, \
                         dispatch goes on at {next}",
                        next - reput
                    );
                    assert!(next > reput, "dispatch moves forward");
                    self.reput = next;
                }
            }
        }
        Ok(n)
    }

    fn dispatch_one(
        &mut self,
        t: &DispatchTargets<'_>,
        v: &RecordView<'_>,
    ) -> Result<(), DispatchError> {
        let props = scan_props(v.properties);
        let phys = v.phys_offset.0;
        if enters_consume_queue(v.sys_flag) {
            let tags = compute_tags_code(
                v.topic,
                props.tags,
                props.delay,
                v.store_timestamp_ms,
                t.delay_levels_ms,
            );
            t.faults.check(FaultPoint::ConsumeQueueWrite).map_err(DispatchError::Io)?;
            let q = cached_queue(&mut self.last_queue, t, v);
            if q.put(v.queue_offset, phys, v.total_size, tags).map_err(DispatchError::Io)? {
                let new_queue = self.grown.last().is_none_or(|g| !Arc::ptr_eq(g, q));
                if new_queue {
                    let q = Arc::clone(q);
                    self.grown.push(q);
                }
            }
        }
        if let Some(index) = t.index {
            if transaction_type(v.sys_flag) != SYS_FLAG_TRANSACTION_ROLLBACK {
                let keys = IndexKeys { topic: v.topic, keys: props.keys, uniq_key: props.uniq_key };
                index.build(keys, phys, v.store_timestamp_ms).map_err(DispatchError::Io)?;
            }
        }
        self.last_store_ts = v.store_timestamp_ms;
        Ok(())
    }

    /// Forgets the cached queue (after a topic is deleted).
    pub(crate) fn forget_cached_queue(&mut self) {
        self.last_queue = None;
    }

    /// Queues that grew since the last call, each once.
    pub(crate) fn take_grown(&mut self) -> Vec<Arc<ConsumeQueue>> {
        let mut grown = std::mem::take(&mut self.grown);
        grown.sort_by_key(|q| Arc::as_ptr(q) as usize);
        grown.dedup_by(|a, b| Arc::ptr_eq(a, b));
        grown
    }
}

/// The dispatcher's side of the wake-up handshake with appenders, and the topic generation
/// that tells it to forget its cached queue.
#[derive(Debug, Default)]
pub(crate) struct DispatchWake {
    thread: OnceLock<Thread>,
    parked: AtomicBool,
    /// Bumped when a topic is deleted.
    pub topic_generation: AtomicU64,
}

impl DispatchWake {
    /// Registers the dispatch thread.
    pub(crate) fn attach(&self, thread: Thread) {
        let first = self.thread.set(thread).is_ok();
        assert!(first, "one dispatch thread per store");
    }

    /// Wakes the dispatcher if it parked (appenders, after publishing new bytes).
    pub(crate) fn wake(&self) {
        // Pairs with the fence in `park` (a Dekker handshake): either the dispatcher sees our
        // new confirm offset, or we see it parked and wake it.
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.parked.load(Ordering::Relaxed) && self.parked.swap(false, Ordering::AcqRel) {
            self.unpark();
        }
    }

    /// Wakes the dispatcher whether or not it parked (after a group commit or a new confirm
    /// watermark, which appenders do not see).
    pub(crate) fn wake_now(&self) {
        self.parked.store(false, Ordering::Release);
        self.unpark();
    }

    fn unpark(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    /// Parks until woken or [`DISPATCH_PARK_MAX`] passes, unless `has_work` turns true after
    /// the parked flag is visible.
    fn park(&self, has_work: impl Fn() -> bool) {
        self.parked.store(true, Ordering::SeqCst);
        // Pairs with the fence in `wake`.
        std::sync::atomic::fence(Ordering::SeqCst);
        if !has_work() {
            thread::park_timeout(DISPATCH_PARK_MAX);
        }
        self.parked.store(false, Ordering::Release);
    }
}

/// Body of the `rmq-store-dispatch` thread: dispatches up to the confirm offset, tells the
/// arrival listener, and idles when caught up. Exits at once when the store aborts, and once
/// caught up when it stops.
pub(crate) fn run_thread(s: &Shared) {
    let mut d = Dispatcher::new(s.progress.dispatched.load(Ordering::Acquire));
    let mut generation = s.dispatch.topic_generation.load(Ordering::Acquire);
    let targets = s.targets();
    loop {
        if s.lifecycle.phase() == Phase::Aborting {
            return;
        }
        let g = s.dispatch.topic_generation.load(Ordering::Acquire);
        if g != generation {
            generation = g;
            d.forget_cached_queue();
        }
        let end = s.confirm_offset();
        let n = match d.run(&targets, end, DISPATCH_BATCH) {
            Ok(n) => n,
            Err(DispatchError::Io(e)) if is_no_space(&e) => {
                // A consume-queue or index file could not be created: nothing was written
                // (entries are idempotent), so refuse puts as for a full disk and retry.
                crate::cleanup::note_no_space(s, &format!("dispatch at {}: {e}", d.reput));
                publish_progress(s, &d);
                notify_arrivals(s, d.take_grown());
                // A stopping store finishes with `dispatch_rest`, which reports the failure.
                if s.lifecycle.sleep(FAILED_RETRY) {
                    return;
                }
                continue;
            }
            Err(DispatchError::Io(e)) => {
                s.fail(StoreFailure::ConsumeQueueWrite { source: Arc::new(e) });
                // Retrying would fail again; a stopping store must not wait for it.
                if s.lifecycle.sleep(FAILED_RETRY) {
                    return;
                }
                continue;
            }
        };
        publish_progress(s, &d);
        notify_arrivals(s, d.take_grown());
        if n == 0 && d.reput >= s.confirm_offset() {
            if !s.lifecycle.is_running() {
                return;
            }
            idle(s, d.reput);
        }
    }
}

fn publish_progress(s: &Shared, d: &Dispatcher) {
    assert!(d.reput <= s.commit_log.max_offset(), "dispatch ran past the commitlog end");
    s.progress.dispatched.store(d.reput, Ordering::Release);
    if d.last_store_ts > 0 {
        s.progress.dispatched_ts.fetch_max(d.last_store_ts, Ordering::AcqRel);
    }
}

/// Caught up: first naps [`DISPATCH_NAP`] without asking to be woken, so that under a
/// steady stream the next records are dispatched as one batch and appenders never pay for
/// a wake-up (that was 2+ us of CPU per message). If nothing came meanwhile, parks until a
/// put wakes us (or [`DISPATCH_PARK_MAX`] passes, a safety net). No spinning: on a 2-core
/// machine every yield is a context switch taken from the threads doing real work.
fn idle(s: &Shared, reput: u64) {
    thread::sleep(DISPATCH_NAP);
    let has_work = || s.confirm_offset() > reput || !s.lifecycle.is_running();
    if has_work() {
        return;
    }
    s.dispatch.park(has_work);
}

/// Tells the arrival listener about every queue that grew.
fn notify_arrivals(s: &Shared, grown: Vec<Arc<ConsumeQueue>>) {
    if grown.is_empty() {
        return;
    }
    let Some(listener) = s.listener.read().clone() else { return };
    for q in grown {
        listener(q.topic(), QueueId(q.queue_id()), QueueOffset(q.max_offset()));
    }
}

/// Dispatches whatever the dispatch thread left behind at shutdown (it stops at the confirm
/// offset, which under sync flush may lag the final flush).
pub(crate) fn dispatch_rest(s: &Shared, end: u64) -> Result<(), StoreFailure> {
    let mut d = Dispatcher::new(s.progress.dispatched.load(Ordering::Acquire));
    match d.run(&s.targets(), end, usize::MAX) {
        Ok(_) => {
            publish_progress(s, &d);
            notify_arrivals(s, d.take_grown());
            Ok(())
        }
        Err(DispatchError::Io(e)) => Err(StoreFailure::ConsumeQueueWrite { source: Arc::new(e) }),
    }
}

/// The consume queue of `v`, from the one-entry cache or the table (which then fills it).
fn cached_queue<'c>(
    cache: &'c mut Option<Arc<ConsumeQueue>>,
    t: &DispatchTargets<'_>,
    v: &RecordView<'_>,
) -> &'c Arc<ConsumeQueue> {
    let hit = cache.as_ref().is_some_and(|q| q.queue_id() == v.queue_id.0 && q.topic() == v.topic);
    if !hit {
        *cache = None;
    }
    let q = cache.get_or_insert_with(|| t.queues.get_or_create(v.topic, v.queue_id.0));
    assert!(q.queue_id() == v.queue_id.0 && q.topic() == v.topic, "dispatch to the wrong queue");
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_code_rules() {
        let levels = crate::config::default_delay_levels_ms();
        assert_eq!(compute_tags_code("T", None, None, 5, &levels), 0);
        assert_eq!(compute_tags_code("T", Some("TagA"), Some("3"), 5, &levels), 2598919);
        assert_eq!(compute_tags_code(SCHEDULE_TOPIC, Some("x"), Some("3"), 5, &levels), 10_005);
        assert_eq!(
            compute_tags_code(SCHEDULE_TOPIC, None, Some("99"), 0, &levels),
            7_200_000,
            "levels above the maximum are clamped"
        );
    }

    #[test]
    fn props_scan() {
        let p = "TAGS\u{1}a\u{2}KEYS\u{1}k1 k2\u{2}UNIQ_KEY\u{1}U\u{2}";
        let s = scan_props(p);
        assert_eq!(
            (s.tags, s.keys, s.uniq_key, s.delay),
            (Some("a"), Some("k1 k2"), Some("U"), None)
        );
    }
}
