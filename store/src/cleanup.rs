//! Cleanup policy (STORAGE.md §7): when to delete expired files, when to delete regardless
//! of age, and when to refuse writes for lack of disk space. Pure decisions; the store's
//! cleanup thread applies them.
//!
//! * usage > hard limit (90 %): refuse writes (`DiskFull`) and delete files at once;
//! * usage > warning (85 %): delete files at once (oldest first, never the newest);
//! * usage <= warning: accept writes again (hysteresis between 85 and 90 %);
//! * usage > max used (75 %) or the hour is one of `delete_when_hours`: delete expired files.
//!
//! The same hard limit is checked by putting threads every few MiB written
//! ([`check_disk_after_write`], a counter compare per put) and by the allocator before it
//! creates a segment; a file creation that fails with `ENOSPC` refuses writes too
//! ([`note_no_space`]). Either is cleared like the watermark, once usage is at or below the
//! warning ratio.
//!
//! [`run_thread`] is the `rmq-store-clean` thread; [`clean_once`] one pass of it. Invariant:
//! no commitlog segment is deleted before it is flushed and dispatched.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::config::StoreConfig;
use crate::fsutil::{now_ms, system_time_ms};
use crate::mmap::{disk_used_percent, local_hour};
use crate::state::Shared;
use crate::types::{CleanupReport, DiskFullCause};

/// Body of the `rmq-store-clean` thread.
pub(crate) fn run_thread(s: &Shared) {
    let interval = Duration::from_millis(s.config.clean_interval_ms);
    while !s.lifecycle.sleep(interval) {
        let report = clean_once(s, now_ms(), None);
        if report.commitlog_files_deleted > 0 {
            log::info!("cleanup: {report:?}");
        }
    }
}

/// One cleanup pass at `now` with the disk at `used` percent (measured if `None`).
pub(crate) fn clean_once(s: &Shared, now: i64, used: Option<u8>) -> CleanupReport {
    let used = used.unwrap_or_else(|| {
        disk_used_percent(&s.config.store_path).unwrap_or_else(|e| {
            log::warn!("cannot read disk usage: {e}");
            0
        })
    });
    let cfg = &s.config;
    let policy = policy(cfg, used, local_hour(now));
    update_disk_state(s, used, policy.disk_full);
    let mut report =
        CleanupReport { disk_full: s.disk.full.load(Ordering::Relaxed), ..Default::default() };
    if !policy.delete {
        return report;
    }
    let safe_end = s.commit_log.flushed_offset().min(s.progress.dispatched.load(Ordering::Acquire));
    let reserved_ms = i64::from(cfg.file_reserved_hours) * 3_600_000;
    let batch = cfg.delete_file_batch_max as usize;
    let deleted = s.commit_log.files().delete_front_while(batch, |f| {
        f.end() <= safe_end && (policy.at_once || expired(f.path(), now, reserved_ms))
    });
    report.commitlog_files_deleted = deleted.len();
    let cl_min = s.commit_log.min_offset();
    assert!(cl_min <= s.commit_log.max_offset(), "cleanup deleted the last segment");
    for q in s.queues.all() {
        report.consume_queue_files_deleted += q.delete_expired_files(cl_min);
    }
    if let Some(index) = &s.index {
        report.index_files_deleted = index.delete_expired(cl_min);
    }
    report
}

fn update_disk_state(s: &Shared, used: u8, full: Option<bool>) {
    match full {
        Some(true) => s.disk.set_full(used, DiskFullCause::Watermark),
        Some(false) => s.disk.clear(used),
        None => s.disk.used_percent.store(used, Ordering::Relaxed),
    }
}

/// The write-volume check: called by a putting thread whose append ended at `written`
/// once it reached `DiskState::next_check`. One thread wins the turn and measures the disk
/// (one `statvfs`), so the watermark follows the write rate, not only the cleanup period.
pub(crate) fn check_disk_after_write(s: &Shared, written: u64) {
    let due = s.disk.next_check.load(Ordering::Relaxed);
    if written < due {
        return;
    }
    let next = written.saturating_add(s.disk.check_every);
    let won =
        s.disk.next_check.compare_exchange(due, next, Ordering::AcqRel, Ordering::Relaxed).is_ok();
    if !won {
        return;
    }
    match disk_used_percent(&s.config.store_path) {
        Ok(used) => update_disk_state(s, used, policy(&s.config, used, 0).disk_full),
        Err(e) => log::warn!("cannot read disk usage: {e}"),
    }
}

/// Refuses writes after a file could not be created or reserved for lack of space
/// (`ENOSPC`), with the measured usage. Returns that usage, for the error.
pub(crate) fn note_no_space(s: &Shared, what: &str) -> u8 {
    let used = disk_used_percent(&s.config.store_path).unwrap_or(100);
    if !s.disk.full.load(Ordering::Acquire) {
        log::error!("{what}: no space left on the store's disk");
    }
    s.disk.set_full(used, DiskFullCause::NoSpace);
    used
}

/// What one cleanup run should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CleanPolicy {
    /// Delete files this run.
    pub delete: bool,
    /// Delete files even if they are not expired.
    pub at_once: bool,
    /// New value of the disk-full flag, if it changes.
    pub disk_full: Option<bool>,
}

/// Decides a cleanup run from disk usage and the local hour of day.
pub(crate) fn policy(cfg: &StoreConfig, used_percent: u8, hour: u8) -> CleanPolicy {
    let disk_full = if used_percent > cfg.disk_hard_limit_ratio_percent {
        Some(true)
    } else if used_percent <= cfg.disk_warning_ratio_percent {
        Some(false)
    } else {
        None
    };
    let at_once = used_percent > cfg.disk_warning_ratio_percent;
    let delete = at_once
        || used_percent > cfg.disk_max_used_ratio_percent
        || cfg.delete_when_hours.contains(&hour);
    CleanPolicy { delete, at_once, disk_full }
}

/// Whether the file at `path` was last modified at least `reserved_ms` before `now_ms`.
pub(crate) fn expired(path: &Path, now_ms: i64, reserved_ms: i64) -> bool {
    match std::fs::metadata(path).and_then(|m| m.modified()) {
        Ok(t) => system_time_ms(t).saturating_add(reserved_ms) <= now_ms,
        Err(e) => {
            log::warn!("cannot read mtime of {}: {e}", path.display());
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        let cfg = StoreConfig::new("/x");
        let p = |used, hour| policy(&cfg, used, hour);
        assert_eq!(
            p(50, 12),
            CleanPolicy { delete: false, at_once: false, disk_full: Some(false) }
        );
        assert_eq!(p(50, 4), CleanPolicy { delete: true, at_once: false, disk_full: Some(false) });
        assert_eq!(p(80, 12), CleanPolicy { delete: true, at_once: false, disk_full: Some(false) });
        assert_eq!(p(88, 12), CleanPolicy { delete: true, at_once: true, disk_full: None });
        assert_eq!(p(95, 12), CleanPolicy { delete: true, at_once: true, disk_full: Some(true) });
    }

    #[test]
    fn every_deletion_hour_deletes() {
        let mut cfg = StoreConfig::new("/x");
        cfg.delete_when_hours = vec![4, 16];
        let deletes = |hour| policy(&cfg, 50, hour).delete;
        assert!(deletes(4) && deletes(16));
        assert!(!deletes(5) && !deletes(15) && !deletes(0));
    }
}
