//! Issue #23, corruption contained: damaged records are never served and recovery keeps
//! everything after them; damaged consume-queue entries are skipped and rebuilt.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rocketmq_store::record::{POS_BODY, POS_MAGIC};
use rocketmq_store::{MessageStore, PutResult, QueueId, QueueOffset, StoreConfig};

use crate::common::{bodies, msg, read_all, small_config};

const SEG: u64 = 4 << 20;

/// One 4 MiB segment holds all 20,000 records, so a crash scans every one of them.
fn one_segment_config(dir: &Path) -> StoreConfig {
    let mut c = small_config(dir);
    c.commitlog_file_size_bytes = SEG;
    c.consume_queue_entries_per_file = 5_000;
    c.index_max_entries = 50_000;
    c
}

fn put_n(store: &MessageStore, n: usize) -> Vec<(Vec<u8>, PutResult)> {
    (0..n)
        .map(|i| {
            let body = format!("m-{i}").into_bytes();
            (body.clone(), store.put_message(msg("C", 0, &body, None, None)).unwrap())
        })
        .collect()
}

/// Flips `mask` into byte `at` of the record `r` through the file (the running store sees
/// it through its mapping). Returns the record's bytes after the flip.
fn flip(root: &Path, r: &PutResult, at: usize, mask: u8) -> (PathBuf, Vec<u8>) {
    let seg = root.join("commitlog").join(format!("{:020}", r.phys_offset.0 / SEG * SEG));
    let f = OpenOptions::new().read(true).write(true).open(&seg).unwrap();
    let pos = r.phys_offset.0 % SEG;
    let mut rec = vec![0u8; r.wrote_bytes as usize];
    f.read_exact_at(&mut rec, pos).unwrap();
    rec[at] ^= mask;
    f.write_all_at(&rec[at..=at], pos + at as u64).unwrap();
    (seg, rec)
}

/// Issue #23: a byte flipped in record 8 (or 19,990) of 20,000 was served to consumers
/// unchecked, and after a crash recovery cut the log there: 19,991 acknowledged records
/// gone. Now the damaged record is never served (body CRC on read; a damaged header fails
/// the entry check), and recovery quarantines it and keeps the other 19,999.
#[test]
fn issue_23_damaged_record_is_never_served_and_recovery_keeps_the_other_19999() {
    for (k, at, what) in
        [(8, POS_BODY + 1, "body"), (19_990, POS_BODY, "body"), (8, POS_MAGIC + 1, "magic")]
    {
        let dir = tempfile::tempdir().unwrap();
        let cfg = one_segment_config(dir.path());
        let store = MessageStore::open(cfg.clone()).unwrap();
        let written = put_n(&store, 20_000);
        let (seg, damaged) = flip(dir.path(), &written[k].1, at, 0x04);
        let mut want: Vec<_> = written.iter().map(|(b, _)| b.clone()).collect();
        want.remove(k);
        assert_eq!(bodies(&read_all(&store, "C", 0, 0)), want, "{what} {k}: before the crash");
        let one = store.get_messages("C", QueueId(0), QueueOffset(k as u64), 1, u32::MAX, None);
        assert_eq!(one.message_infos[0].queue_offset.0, k as u64 + 1, "the gap is skipped");
        assert!(store.message_by_phys_offset(written[k].1.phys_offset).is_none());
        store.simulate_crash();

        let store = MessageStore::open(cfg.clone()).unwrap();
        let report = store.recovery_report();
        assert_eq!(report.quarantined_ranges, 1, "{what} {k}");
        assert_eq!(report.quarantined_bytes, damaged.len() as u64, "{what} {k}");
        let q = format!("{}.quarantine-{}", seg.display(), written[k].1.phys_offset.0);
        assert_eq!(std::fs::read(&q).unwrap(), damaged, "{what} {k}: quarantined bytes");
        assert_eq!(store.max_offset("C", QueueId(0)).0, 20_000, "{what} {k}");
        assert_eq!(bodies(&read_all(&store, "C", 0, 0)), want, "{what} {k}: after recovery");
        let next = store.put_message(msg("C", 0, b"next", None, None)).unwrap();
        assert_eq!(next.queue_offset.0, 20_000, "{what} {k}");
        want.push(b"next".to_vec());
        store.simulate_crash();
        // The damaged range was zeroed in place: a second crash recovery keeps everything
        // and quarantines nothing more.
        let store = MessageStore::open(cfg).unwrap();
        assert_eq!(store.recovery_report().quarantined_ranges, 1, "the zeroed range is skipped");
        assert_eq!(bodies(&read_all(&store, "C", 0, 0)), want, "{what} {k}: second recovery");
    }
}

/// How a consume-queue entry is damaged.
#[derive(Clone, Copy, Debug)]
enum CqDamage {
    Size(i32),
    /// The offset moved into the middle of the record.
    MidRecord,
}

/// Damages consume-queue entry `n` of `R/0` (100 entries per file).
fn damage_cq(root: &Path, n: u64, how: CqDamage) {
    let per_file = 100 * 20;
    let byte = n * 20;
    let path = root
        .join("consumequeue")
        .join("R")
        .join("0")
        .join(format!("{:020}", byte / per_file * per_file));
    let f = OpenOptions::new().read(true).write(true).open(path).unwrap();
    let pos = byte % per_file;
    match how {
        CqDamage::Size(size) => f.write_all_at(&size.to_be_bytes(), pos + 8).unwrap(),
        CqDamage::MidRecord => {
            let mut b = [0u8; 8];
            f.read_exact_at(&mut b, pos).unwrap();
            let moved = i64::from_be_bytes(b) + 10;
            f.write_all_at(&moved.to_be_bytes(), pos).unwrap();
        }
    }
}

/// Issue #23: consume-queue damage of every kind (size 0, -1, huge, 8..63, an offset in
/// the middle of a record) left a queue stuck, cut it on restart or sent clients records
/// they could not decode. Now a damaged entry is skipped with a log line while running;
/// after a restart an entry in the last file is rebuilt from the commitlog and one in an
/// older file stays skipped; nothing is cut and new puts continue the queue.
#[test]
fn issue_23_consume_queue_damage_of_every_kind_is_skipped_or_rebuilt() {
    let kinds = [
        CqDamage::Size(0),
        CqDamage::Size(-1),
        CqDamage::Size(0x7FFF_0000),
        CqDamage::Size(40),
        CqDamage::MidRecord,
    ];
    for how in kinds {
        for crash in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let cfg = small_config(dir.path());
            let store = MessageStore::open(cfg.clone()).unwrap();
            let written: Vec<Vec<u8>> = (0..450)
                .map(|i| {
                    let body = format!("q-{i}").into_bytes();
                    store.put_message(msg("R", 0, &body, None, None)).unwrap();
                    body
                })
                .collect();
            read_all(&store, "R", 0, 0);
            // Entry 50 is in the first of five files (recovery leaves it to readers), 420
            // in the last one (recovery checks and rebuilds it).
            damage_cq(dir.path(), 50, how);
            damage_cq(dir.path(), 420, how);
            let mut want = written.clone();
            want.remove(420);
            want.remove(50);
            let tag = format!("{how:?} crash={crash}");
            assert_eq!(bodies(&read_all(&store, "R", 0, 0)), want, "{tag}: while running");
            for (from, next) in [(50, 51), (420, 421)] {
                let one = store.get_messages("R", QueueId(0), QueueOffset(from), 1, u32::MAX, None);
                assert_eq!(one.message_count, 1, "{tag}: no stall at {from}");
                assert_eq!(one.message_infos[0].queue_offset.0, next, "{tag}");
            }
            if crash {
                store.simulate_crash();
            } else {
                store.shutdown();
            }
            let mut want = written.clone();
            want.remove(50);
            for round in 0..2u64 {
                let store = MessageStore::open(cfg.clone()).unwrap();
                assert_eq!(store.max_offset("R", QueueId(0)).0, 450 + round, "{tag}: not cut");
                assert_eq!(bodies(&read_all(&store, "R", 0, 0)), want, "{tag} round {round}");
                let body = format!("after-{round}").into_bytes();
                let r = store.put_message(msg("R", 0, &body, None, None)).unwrap();
                assert_eq!(r.queue_offset.0, 450 + round, "{tag}");
                want.push(body);
                read_all(&store, "R", 0, 0);
                store.shutdown();
            }
        }
    }
}
