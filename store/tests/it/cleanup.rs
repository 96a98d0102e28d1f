//! Cleanup by age and by disk ratio; disk-full refusal.

use std::fs::File;
use std::time::{Duration, SystemTime};

use rocketmq_store::{GetStatus, MessageStore, PutError, QueueId, QueueOffset};

use crate::common::{msg, read_all, small_config};

fn fill(store: &MessageStore, n: usize) {
    for i in 0..n {
        let body = format!("c{i}-{}", "q".repeat(300));
        store.put_message(msg("C", 0, body.as_bytes(), None, Some("k"))).unwrap();
    }
    read_all(store, "C", 0, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.runtime_stats().flushed_offset < store.commitlog_max_offset() {
        assert!(std::time::Instant::now() < deadline, "flush did not catch up");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn commitlog_files(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> =
        std::fs::read_dir(root.join("commitlog")).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn expired_files_are_deleted_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    fill(&store, 1000);
    let files = commitlog_files(dir.path());
    assert!(files.len() >= 5, "{} files", files.len());
    // Nothing expired yet: a run at 80 % usage deletes nothing.
    assert_eq!(store.run_cleanup(now_ms(), Some(80)).commitlog_files_deleted, 0);
    let old = SystemTime::now() - Duration::from_secs(100 * 3600);
    for f in &files[..2] {
        File::options().write(true).open(f).unwrap().set_modified(old).unwrap();
    }
    // Expired files go at 80 % usage (above the 75 % rule) whatever the hour.
    let report = store.run_cleanup(now_ms(), Some(80));
    assert_eq!(report.commitlog_files_deleted, 2);
    assert!(report.consume_queue_files_deleted > 0);
    assert_eq!(commitlog_files(dir.path()).len(), files.len() - 2);
    assert_eq!(store.commitlog_min_offset().0, 2 * 64 * 1024);
    let min = store.min_offset("C", QueueId(0));
    assert!(min.0 > 0);
    let r = store.get_messages("C", QueueId(0), QueueOffset(0), 1, 1 << 20, None);
    assert_eq!((r.status, r.next_begin_offset), (GetStatus::OffsetTooSmall, min));
    let r = store.get_messages("C", QueueId(0), min, 1, 1 << 20, None);
    assert_eq!(r.status, GetStatus::Found);
    store.shutdown();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    assert_eq!(store.min_offset("C", QueueId(0)), min);
    assert_eq!(store.max_offset("C", QueueId(0)).0, 1000);
}

#[test]
fn disk_ratio_forces_deletion_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    fill(&store, 1000);
    let report = store.run_cleanup(now_ms(), Some(88));
    assert!(!report.disk_full);
    assert_eq!(report.commitlog_files_deleted, 10, "at most delete_file_batch_max per run");
    store.run_cleanup(now_ms(), Some(88));
    let last_start = (store.commitlog_max_offset().0 - 1) / (64 * 1024) * (64 * 1024);
    assert_eq!(store.commitlog_min_offset().0, last_start, "all but the newest file");
    let report = store.run_cleanup(now_ms(), Some(95));
    assert!(report.disk_full);
    assert!(matches!(
        store.put_message(msg("C", 0, b"x", None, None)),
        Err(PutError::DiskFull { used_percent: 95 })
    ));
    let min = store.min_offset("C", QueueId(0));
    let r = store.get_messages("C", QueueId(0), min, 10, 1 << 20, None);
    assert_eq!(r.status, GetStatus::Found, "reads go on while the disk is full");
    assert!(store.run_cleanup(now_ms(), Some(87)).disk_full, "hysteresis until <= 85 %");
    assert!(!store.run_cleanup(now_ms(), Some(60)).disk_full);
    store.put_message(msg("C", 0, b"x", None, None)).unwrap();
}
