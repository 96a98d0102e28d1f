//! Cleanup policy (STORAGE.md §7): when to delete expired files, when to delete regardless
//! of age, and when to refuse writes for lack of disk space. Pure decisions; the store's
//! cleanup thread applies them.
//!
//! * usage > hard limit (90 %): refuse writes (`DiskFull`) and delete files at once;
//! * usage > warning (85 %): delete files at once (oldest first, never the newest);
//! * usage <= warning: accept writes again (hysteresis between 85 and 90 %);
//! * usage > max used (75 %) or the hour is `delete_when_hour`: delete expired files.

use std::path::Path;

use crate::config::StoreConfig;
use crate::fsutil::system_time_ms;

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
    let delete =
        at_once || used_percent > cfg.disk_max_used_ratio_percent || hour == cfg.delete_when_hour;
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
}
