//! Recovery after simulated crashes: torn tails, flipped bits, lost consume queues.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rocketmq_store::record::POS_BODY;
use rocketmq_store::{GetStatus, MessageStore, PutResult, QueueId, QueueOffset};

use crate::common::{bodies, msg, read_all, small_config};

const SEG: u64 = 64 * 1024;

fn segment_path(root: &Path, phys: u64) -> std::path::PathBuf {
    root.join("commitlog").join(format!("{:020}", phys / SEG * SEG))
}

fn write_some(store: &MessageStore, n: usize) -> Vec<(Vec<u8>, PutResult)> {
    (0..n)
        .map(|i| {
            let body = format!("body-{i}-{}", "y".repeat(i % 300)).into_bytes();
            let r = store.put_message(msg("R", 0, &body, None, Some(&format!("k{i}")))).unwrap();
            (body, r)
        })
        .collect()
}

/// Damages record `k` with `damage`, reopens, and checks that exactly records 0..k survive
/// and the next put continues at offset k.
fn crash_damage_reopen(damage: impl FnOnce(&Path, &PutResult)) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(dir.path());
    let store = MessageStore::open(cfg.clone()).unwrap();
    let written = write_some(&store, 700);
    read_all(&store, "R", 0, 0);
    store.simulate_crash();
    let last_seg = written.last().unwrap().1.phys_offset.0 / SEG;
    let k = written.iter().position(|(_, r)| r.phys_offset.0 / SEG == last_seg).unwrap() + 3;
    assert!(k < written.len() - 2, "need records after the damaged one");
    damage(dir.path(), &written[k].1);
    let store = MessageStore::open(cfg.clone()).unwrap();
    let report = store.recovery_report();
    assert!(!report.clean_shutdown);
    assert!(report.scanned_bytes > 0);
    assert_eq!(store.max_offset("R", QueueId(0)).0, k as u64);
    let got = read_all(&store, "R", 0, 0);
    let want: Vec<_> = written[..k].iter().map(|(b, _)| b.clone()).collect();
    assert_eq!(bodies(&got), want);
    assert!(store.message_by_phys_offset(written[k + 1].1.phys_offset).is_none());
    assert!(store.query_by_key("R", &format!("k{}", k + 1), 4, 0, i64::MAX).is_empty());
    let r = store.put_message(msg("R", 0, b"new", None, Some(&format!("k{}", k + 1)))).unwrap();
    assert_eq!(r.queue_offset.0, k as u64);
    assert_eq!(r.phys_offset, written[k].1.phys_offset);
    store.shutdown();
    // A second crash-free reopen must not resurrect the old records.
    let store = MessageStore::open(cfg).unwrap();
    assert_eq!(store.max_offset("R", QueueId(0)).0, k as u64 + 1);
    assert_eq!(store.query_by_key("R", &format!("k{}", k + 1), 4, 0, i64::MAX).len(), 1);
}

#[test]
fn torn_tail_is_truncated() {
    crash_damage_reopen(|root, r| {
        let f = OpenOptions::new().write(true).open(segment_path(root, r.phys_offset.0)).unwrap();
        let pos = r.phys_offset.0 % SEG + u64::from(r.wrote_bytes) / 2;
        f.write_all_at(&vec![0u8; (SEG - pos) as usize], pos).unwrap();
    });
}

/// Issue #23: a flipped body byte used to end the log at the damaged record (every later
/// record gone). Now only that record is lost: it is moved to a quarantine file and the
/// records after it are kept, with their queue offsets.
#[test]
fn issue_23_flipped_bit_is_quarantined_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(dir.path());
    let store = MessageStore::open(cfg.clone()).unwrap();
    let written = write_some(&store, 700);
    read_all(&store, "R", 0, 0);
    store.simulate_crash();
    let last_seg = written.last().unwrap().1.phys_offset.0 / SEG;
    let k = written.iter().position(|(_, r)| r.phys_offset.0 / SEG == last_seg).unwrap() + 3;
    assert!(k < written.len() - 2, "need records after the damaged one");
    let r = &written[k].1;
    let seg = segment_path(dir.path(), r.phys_offset.0);
    let f = OpenOptions::new().read(true).write(true).open(&seg).unwrap();
    let rec_pos = r.phys_offset.0 % SEG;
    let mut damaged = vec![0u8; r.wrote_bytes as usize];
    f.read_exact_at(&mut damaged, rec_pos).unwrap();
    damaged[POS_BODY + 1] ^= 0x10;
    f.write_all_at(&damaged[POS_BODY + 1..POS_BODY + 2], rec_pos + POS_BODY as u64 + 1).unwrap();
    drop(f);

    let store = MessageStore::open(cfg.clone()).unwrap();
    let report = store.recovery_report();
    assert_eq!((report.quarantined_ranges, report.quarantined_bytes), (1, damaged.len() as u64));
    let quarantine =
        std::path::PathBuf::from(format!("{}.quarantine-{}", seg.display(), r.phys_offset.0));
    assert_eq!(std::fs::read(&quarantine).unwrap(), damaged, "the damaged bytes are kept aside");
    assert_eq!(store.max_offset("R", QueueId(0)).0, written.len() as u64);
    let mut want: Vec<_> = written.iter().map(|(b, _)| b.clone()).collect();
    want.remove(k);
    assert_eq!(bodies(&read_all(&store, "R", 0, 0)), want);
    assert!(store.message_by_phys_offset(r.phys_offset).is_none());
    assert_eq!(store.query_by_key("R", &format!("k{}", k + 1), 4, 0, i64::MAX).len(), 1);
    let next = store.put_message(msg("R", 0, b"new", None, None)).unwrap();
    assert_eq!(next.queue_offset.0, written.len() as u64);
    want.push(b"new".to_vec());
    store.shutdown();
    let store = MessageStore::open(cfg).unwrap();
    assert_eq!(store.recovery_report().quarantined_ranges, 0, "a clean restart scans nothing");
    assert_eq!(bodies(&read_all(&store, "R", 0, 0)), want);
}

#[test]
fn crash_without_damage_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(dir.path());
    let store = MessageStore::open(cfg.clone()).unwrap();
    let written = write_some(&store, 500);
    store.simulate_crash();
    let store = MessageStore::open(cfg).unwrap();
    let got = read_all(&store, "R", 0, 0);
    assert_eq!(bodies(&got), written.iter().map(|(b, _)| b.clone()).collect::<Vec<_>>());
}

#[test]
fn deleted_consume_queues_are_rebuilt() {
    for crash in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = small_config(dir.path());
        let store = MessageStore::open(cfg.clone()).unwrap();
        let written = write_some(&store, 600);
        for i in 0..30 {
            store.put_message(msg("Other", 3, format!("o{i}").as_bytes(), None, None)).unwrap();
        }
        read_all(&store, "R", 0, 0);
        if crash {
            store.simulate_crash();
        } else {
            store.shutdown();
        }
        std::fs::remove_dir_all(dir.path().join("consumequeue")).unwrap();
        let store = MessageStore::open(cfg).unwrap();
        let got = read_all(&store, "R", 0, 0);
        assert_eq!(got.message_count as usize, written.len(), "crash={crash}");
        assert_eq!(store.max_offset("Other", QueueId(3)).0, 30);
        let r = store.put_message(msg("R", 0, b"next", None, None)).unwrap();
        assert_eq!(r.queue_offset.0, 600);
        assert!(store.wait_dispatched(std::time::Duration::from_secs(5)));
        let none = store.get_messages("R", QueueId(0), QueueOffset(601), 1, 1, None);
        assert_eq!(none.status, GetStatus::OffsetOverflowOne);
    }
}

/// Overwrites the size field of consume-queue entry `n` of `R/0` (100 entries per file).
fn damage_cq_size(root: &Path, n: u64, size: i32) {
    let per_file = 100 * 20;
    let byte = n * 20;
    let path = root
        .join("consumequeue")
        .join("R")
        .join("0")
        .join(format!("{:020}", byte / per_file * per_file));
    let f = OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(&size.to_be_bytes(), byte % per_file + 8).unwrap();
}

/// Issue #12: a consume-queue entry whose size was damaged to 8..63 made `get_messages` read
/// the store time past the copied bytes and abort the broker, again after every restart.
/// Entries are now checked against the commitlog: a damaged entry in an older file is
/// skipped on read (with a warning), one in the last file is rebuilt by recovery.
#[test]
fn issue_12_damaged_consume_queue_entry_size() {
    for crash in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = small_config(dir.path());
        let store = MessageStore::open(cfg.clone()).unwrap();
        let written = write_some(&store, 250);
        read_all(&store, "R", 0, 0);
        if crash {
            store.simulate_crash();
        } else {
            store.shutdown();
        }
        damage_cq_size(dir.path(), 120, 40);
        damage_cq_size(dir.path(), 230, 8);
        damage_cq_size(dir.path(), 240, 63);
        let mut want: Vec<_> = written.iter().map(|(b, _)| b.clone()).collect();
        want.remove(120);
        for round in 0..2 {
            let store = MessageStore::open(cfg.clone()).unwrap();
            let got = read_all(&store, "R", 0, 0);
            assert_eq!(bodies(&got), want, "crash={crash} round={round}");
            assert_eq!(store.store_time_at("R", QueueId(0), QueueOffset(120)), None);
            let t = store.store_time_at("R", QueueId(0), QueueOffset(230)).unwrap();
            assert_eq!(t, written[230].1.store_timestamp_ms, "entry 230 was rebuilt");
            assert!(store.offset_by_timestamp("R", QueueId(0), i64::MAX).0 <= 251);
            let one = store.get_messages("R", QueueId(0), QueueOffset(120), 1, u32::MAX, None);
            assert_eq!(one.message_count, 1);
            assert_eq!(one.message_infos[0].queue_offset, QueueOffset(121), "120 is skipped");
            let body = format!("after-{round}").into_bytes();
            let r = store.put_message(msg("R", 0, &body, None, None)).unwrap();
            assert_eq!(r.queue_offset.0, 250 + round, "crash={crash}");
            want.push(body);
            read_all(&store, "R", 0, 0);
            store.shutdown();
        }
    }
}
