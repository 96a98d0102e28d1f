//! The replication seams: raw commitlog reads, appending replicated bytes at an expected
//! offset (continuity and CRC checked), the confirm watermark, and reopening truncated.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketmq_store::record::POS_BODY;
use rocketmq_store::{
    FlushDiskType, MessageStore, OpenError, PhysOffset, PutResult, QueueId, RecordError,
    ReplicaAppendError, ReplicaReadError,
};

use crate::common::{bodies, msg, read_all, small_config};

fn fill(store: &MessageStore, n: usize) -> Vec<(u32, Vec<u8>, PutResult)> {
    (0..n)
        .map(|i| {
            let q = (i % 3) as u32;
            let body = format!("m{i}-{}", "r".repeat((i * 13) % 700)).into_bytes();
            let key = format!("k{i}");
            let r = store.put_message(msg("Rep", q, &body, Some("t"), Some(&key))).unwrap();
            (q, body, r)
        })
        .collect()
}

/// Copies the master's log into the replica chunk by chunk; returns the number of chunks.
fn replicate(master: &MessageStore, replica: &MessageStore, max_bytes: usize) -> usize {
    let mut chunks = 0;
    loop {
        let at = replica.commitlog_max_offset();
        let bytes = master.read_commitlog(at, max_bytes).unwrap();
        if bytes.is_empty() {
            return chunks;
        }
        let end = replica.append_replicated(at, &bytes).unwrap();
        assert!(end.0 >= at.0 + bytes.len() as u64);
        chunks += 1;
    }
}

#[test]
fn replica_serves_what_the_master_wrote() {
    for flush in [FlushDiskType::Async, FlushDiskType::Sync] {
        let (dm, dr) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut mcfg = small_config(dm.path());
        mcfg.flush_disk_type = flush;
        let mut rcfg = small_config(dr.path());
        rcfg.flush_disk_type = flush;
        let master = MessageStore::open(mcfg).unwrap();
        let replica = MessageStore::open(rcfg.clone()).unwrap();
        let written = fill(&master, 500);
        assert!(master.commitlog_max_offset().0 > 3 * 64 * 1024, "crosses segments");
        let chunks = replicate(&master, &replica, 4096);
        assert!(chunks > 20, "many chunks: {chunks}");
        assert_eq!(replica.commitlog_max_offset(), master.commitlog_max_offset());
        for q in 0..3 {
            let want = read_all(&master, "Rep", q, 0);
            assert_eq!(read_all(&replica, "Rep", q, 0).messages, want.messages, "queue {q}");
        }
        let (_, body, r) = &written[77];
        let found = replica.query_by_key("Rep", "k77", 4, 0, i64::MAX);
        assert_eq!(found.len(), 1);
        assert_eq!(replica.message_by_phys_offset(r.phys_offset), Some(found[0].clone()));
        assert!(found[0].windows(body.len()).any(|w| w == body.as_slice()));
        // Promoted, the replica continues every queue where the master would have.
        for q in 0..3 {
            let next = replica.put_message(msg("Rep", q, b"promoted", None, None)).unwrap();
            assert_eq!(next.queue_offset, master.max_offset("Rep", QueueId(q)));
        }
        replica.shutdown();
        let replica = MessageStore::open(rcfg).unwrap();
        assert!(replica.recovery_report().clean_shutdown);
        assert_eq!(read_all(&replica, "Rep", 1, 0).message_count, 167 + 1, "and the promoted one");
    }
}

#[test]
fn raw_reads_stop_at_the_ends() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let written = fill(&store, 40);
    let end = store.commitlog_max_offset();
    assert_eq!(store.read_commitlog(end, 100).unwrap(), Vec::<u8>::new());
    let past = store.read_commitlog(PhysOffset(end.0 + 1), 100).unwrap_err();
    assert_eq!(past, ReplicaReadError::PastEnd { offset: end.0 + 1, end: end.0 });
    let one = store.read_commitlog(written[3].2.phys_offset, 1).unwrap();
    assert_eq!(one.len(), written[3].2.wrote_bytes as usize, "at least one whole record");
    let mid = PhysOffset(written[3].2.phys_offset.0 + 1);
    assert!(matches!(store.read_commitlog(mid, 100), Err(ReplicaReadError::NotARecord { .. })));
}

#[test]
fn replica_refuses_gaps_damage_and_torn_chunks() {
    let (dm, dr) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = MessageStore::open(small_config(dm.path())).unwrap();
    let replica = MessageStore::open(small_config(dr.path())).unwrap();
    fill(&master, 30);
    let bytes = master.read_commitlog(PhysOffset(0), 2000).unwrap();
    let first_len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    assert!(bytes.len() > first_len, "several records");

    let gap = replica.append_replicated(PhysOffset(first_len as u64), &bytes[first_len..]);
    assert!(matches!(gap, Err(ReplicaAppendError::Discontinuous { expected: 0, .. })), "{gap:?}");

    let mut flipped = bytes.clone();
    flipped[first_len + POS_BODY] ^= 0x01;
    let crc = replica.append_replicated(PhysOffset(0), &flipped);
    let Err(ReplicaAppendError::BadRecord { offset, error }) = crc else { panic!("{crc:?}") };
    assert_eq!(offset, first_len as u64);
    assert!(matches!(error, RecordError::CrcMismatch { .. }), "{error}");

    let torn = replica.append_replicated(PhysOffset(0), &bytes[..bytes.len() - 1]);
    assert!(matches!(torn, Err(ReplicaAppendError::BadRecord { .. })), "{torn:?}");
    assert_eq!(replica.commitlog_max_offset(), PhysOffset(0), "nothing was appended");

    let end = replica.append_replicated(PhysOffset(0), &bytes).unwrap();
    assert_eq!(end.0, bytes.len() as u64);
    let again = replica.append_replicated(PhysOffset(0), &bytes);
    assert!(matches!(again, Err(ReplicaAppendError::Discontinuous { .. })), "no double append");
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn confirm_watermark_holds_back_dispatch_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MessageStore::open(small_config(dir.path())).unwrap());
    assert_eq!(store.confirm_offset(), None);
    assert!(store.set_confirm_offset(Some(PhysOffset(0))));
    let written = fill(&store, 12);
    let end_of = |i: usize| {
        let r = &written[i].2;
        PhysOffset(r.phys_offset.0 + u64::from(r.wrote_bytes))
    };
    assert_eq!(store.message_by_phys_offset(written[0].2.phys_offset), None, "not confirmed");
    // Inside record 6: dispatch stops before it and later takes it whole, never skips it.
    assert!(store.set_confirm_offset(Some(PhysOffset(end_of(5).0 + 10))));
    wait_until("dispatch to the watermark", || {
        store.runtime_stats().dispatched_offset == end_of(5)
    });
    assert_eq!(store.max_offset("Rep", QueueId(0)).0, 2, "messages 0 and 3 of queue 0");
    assert!(store.message_by_phys_offset(written[5].2.phys_offset).is_some());
    assert_eq!(store.message_by_phys_offset(written[6].2.phys_offset), None);
    assert!(!store.set_confirm_offset(Some(end_of(2))), "the watermark never moves back");
    assert!(!store.wait_confirmed(end_of(11), Duration::from_millis(1)));

    let setter = {
        let (store, to) = (Arc::clone(&store), end_of(11));
        std::thread::spawn(move || store.set_confirm_offset(Some(to)))
    };
    assert!(store.wait_confirmed(end_of(11), Duration::from_secs(20)));
    assert!(setter.join().unwrap());
    for q in 0..3 {
        assert_eq!(read_all(&store, "Rep", q, 0).message_count, 4, "queue {q}");
    }
    assert!(store.set_confirm_offset(None));
    store.put_message(msg("Rep", 0, b"unconfirmed is fine again", None, None)).unwrap();
    assert_eq!(read_all(&store, "Rep", 0, 0).message_count, 5);
}

#[test]
fn open_truncated_cuts_at_a_record_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(dir.path());
    let store = MessageStore::open(cfg.clone()).unwrap();
    let written = fill(&store, 300);
    let end = store.commitlog_max_offset();
    store.shutdown();
    let cut = written[200].2.phys_offset;

    let not_boundary = MessageStore::open_truncated(cfg.clone(), PhysOffset(cut.0 + 1));
    assert!(matches!(not_boundary, Err(OpenError::Corrupt { .. })), "{not_boundary:?}");
    let past = MessageStore::open_truncated(cfg.clone(), PhysOffset(end.0 + 1));
    assert!(matches!(past, Err(OpenError::Corrupt { .. })), "{past:?}");

    let store = MessageStore::open_truncated(cfg.clone(), cut).unwrap();
    assert_eq!(store.commitlog_max_offset(), cut);
    for q in 0..3u32 {
        let want: Vec<_> = written[..200]
            .iter()
            .filter(|(wq, _, _)| *wq == q)
            .map(|(_, b, _)| b.clone())
            .collect();
        assert_eq!(bodies(&read_all(&store, "Rep", q, 0)), want, "queue {q}");
    }
    assert!(store.query_by_key("Rep", "k250", 4, 0, i64::MAX).is_empty());
    let r = store.put_message(msg("Rep", 2, b"after the cut", None, Some("k250"))).unwrap();
    assert_eq!(r.phys_offset, cut);
    assert_eq!(r.queue_offset.0, 200 / 3, "queue 2 continues after message 197");
    assert!(store.wait_dispatched(Duration::from_secs(10)));
    assert_eq!(store.query_by_key("Rep", "k250", 4, 0, i64::MAX).len(), 1, "indexed again");
    store.simulate_crash();
    let store = MessageStore::open(cfg).unwrap();
    assert_eq!(store.commitlog_max_offset().0, cut.0 + u64::from(r.wrote_bytes));
    assert_eq!(store.max_offset("Rep", QueueId(2)).0, 200 / 3 + 1);
}

#[test]
fn empty_replica_starts_at_the_masters_first_segment() {
    let (dm, dr) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = MessageStore::open(small_config(dm.path())).unwrap();
    let replica = MessageStore::open(small_config(dr.path())).unwrap();
    fill(&master, 600);
    master.flush_now().unwrap();
    assert!(master.wait_dispatched(Duration::from_secs(10)));
    // Above the warning ratio: delete flushed, dispatched segments at once.
    let report = master.run_cleanup(i64::MAX / 2, Some(88));
    assert!(report.commitlog_files_deleted > 0);
    let start = master.commitlog_min_offset();
    assert!(start.0 > 0);
    let early = replica.append_replicated(PhysOffset(start.0 + 64 * 1024 + 1), &[]);
    assert!(matches!(early, Err(ReplicaAppendError::Discontinuous { .. })), "{early:?}");
    let bytes = master.read_commitlog(start, 4096).unwrap();
    replica.append_replicated(start, &bytes).unwrap();
    replicate(&master, &replica, 4096);
    assert_eq!(replica.commitlog_min_offset(), start);
    assert!(replica.wait_dispatched(Duration::from_secs(10)));
    for q in 0..3 {
        let from = master.min_offset("Rep", QueueId(q));
        let got = |s: &MessageStore| {
            s.get_messages("Rep", QueueId(q), from, u32::MAX, u32::MAX, None).messages
        };
        assert!(!got(&master).is_empty());
        assert_eq!(got(&replica), got(&master), "queue {q}");
        let next = replica.put_message(msg("Rep", q, b"promoted", None, None)).unwrap();
        assert_eq!(next.queue_offset, master.max_offset("Rep", QueueId(q)));
    }
    let aligned = replica.append_replicated(PhysOffset(start.0 + 64 * 1024), &[]);
    assert!(matches!(aligned, Err(ReplicaAppendError::Discontinuous { .. })), "{aligned:?}");
    let cfg = replica.config().clone();
    replica.shutdown();
    let replica = MessageStore::open(cfg).unwrap();
    assert_eq!(replica.commitlog_min_offset(), start);
    let from = master.min_offset("Rep", QueueId(1));
    let r = replica.get_messages("Rep", QueueId(1), from, 1, u32::MAX, None);
    assert_eq!(r.message_infos[0].queue_offset, from, "reopened at the same offsets");
}
