//! Fault injection and power loss: a failed msync, fsync or consume-queue write is sticky
//! (puts refused with a store-specific reason, reads go on, the next start recovers), and a
//! power loss, which drops every byte never flushed, loses at most the unflushed tail under
//! ASYNC_FLUSH and nothing acknowledged under SYNC_FLUSH.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rocketmq_store::record::PROPERTY_WAIT_STORE_MSG_OK;
use rocketmq_store::{
    decode_record, encode_properties, FaultPoint, FlushDiskType, MessageStore, PutError, PutResult,
    QueueId, QueueOffset, StoreConfig, StoreFailure,
};

use crate::common::{bodies, msg, read_all, small_config};

/// Waits (with a deadline) until the store reports a failure, putting a message each round
/// so that the failing thread has work.
fn put_until_failed(store: &MessageStore, topic: &str) -> StoreFailure {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut i = 0u32;
    loop {
        if let Some(f) = store.failure() {
            return f;
        }
        assert!(Instant::now() < deadline, "the store did not fail");
        let body = format!("filler-{i}-{}", "f".repeat(2000));
        match store.put_message(msg(topic, 1, body.as_bytes(), None, None)) {
            Ok(_) | Err(PutError::StoreFailed { .. }) => {}
            Err(e) => panic!("unexpected put error {e}"),
        }
        i += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn write_n(store: &MessageStore, topic: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let body = format!("{topic}-{i}-{}", "b".repeat(i % 200)).into_bytes();
            store.put_message(msg(topic, 0, &body, None, None)).unwrap();
            body
        })
        .collect()
}

fn check_sticky(store: &MessageStore, before: &[Vec<u8>], want: &str) {
    let err = store.put_message(msg("F", 0, b"refused", None, None)).unwrap_err();
    let PutError::StoreFailed { reason } = &err else { panic!("expected StoreFailed, got {err}") };
    assert!(reason.to_string().contains(want), "reason {reason}");
    assert!(err.to_string().contains("injected"), "the remark names the cause: {err}");
    assert!(store.runtime_stats().store_failed);
    assert_eq!(
        store.put_message(msg("F", 0, b"again", None, None)).unwrap_err().to_string(),
        err.to_string(),
        "the first failure stays"
    );
    let got = store.get_messages("F", QueueId(0), QueueOffset(0), 10_000, u32::MAX, None);
    assert_eq!(bodies(&got), before, "reads go on after the failure");
}

fn reopen_recovers(cfg: &StoreConfig, before: &[Vec<u8>]) {
    let store = MessageStore::open(cfg.clone()).unwrap();
    assert!(!store.recovery_report().clean_shutdown, "a failed store does not shut down clean");
    assert_eq!(bodies(&read_all(&store, "F", 0, 0)), before);
    let r = store.put_message(msg("F", 0, b"after restart", None, None)).unwrap();
    assert_eq!(r.queue_offset.0, before.len() as u64);
}

#[test]
fn failed_commitlog_msync_is_sticky() {
    for flush in [FlushDiskType::Async, FlushDiskType::Sync] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = small_config(dir.path());
        cfg.flush_disk_type = flush;
        let store = MessageStore::open(cfg.clone()).unwrap();
        let before = write_n(&store, "F", 50);
        read_all(&store, "F", 0, 0);
        store.faults().fail_after(FaultPoint::CommitlogMsync, 0);
        if flush == FlushDiskType::Sync {
            let err = store.put_message(msg("F", 1, b"waits", None, None)).unwrap_err();
            assert!(matches!(err, PutError::StoreFailed { .. }), "{err}");
        }
        let f = put_until_failed(&store, "F");
        assert!(matches!(f, StoreFailure::CommitlogFlush { .. }), "{f}");
        check_sticky(&store, &before, "commitlog flush");
        store.shutdown();
        reopen_recovers(&cfg, &before);
    }
}

#[test]
fn failed_consume_queue_write_is_sticky_and_shutdown_ends() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(dir.path());
    let store = MessageStore::open(cfg.clone()).unwrap();
    let before = write_n(&store, "F", 40);
    read_all(&store, "F", 0, 0);
    store.faults().fail_after(FaultPoint::ConsumeQueueWrite, 0);
    let f = put_until_failed(&store, "G");
    assert!(matches!(f, StoreFailure::ConsumeQueueWrite { .. }), "{f}");
    check_sticky(&store, &before, "consume queue or index write");
    // The dispatcher cannot catch up; shutdown must still end (and is not clean).
    store.shutdown();
    reopen_recovers(&cfg, &before);
}

#[test]
fn failed_checkpoint_fsync_is_sticky() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(dir.path());
    let store = MessageStore::open(cfg.clone()).unwrap();
    let before = write_n(&store, "F", 30);
    read_all(&store, "F", 0, 0);
    store.faults().fail_after(FaultPoint::LogicsFsync, 0);
    let f = put_until_failed(&store, "G");
    assert!(matches!(f, StoreFailure::LogicsFlush { .. }), "{f}");
    check_sticky(&store, &before, "checkpoint flush");
    store.shutdown();
    reopen_recovers(&cfg, &before);
}

/// A configuration whose flush thread never flushes by itself (the test flushes).
fn manual_flush_config(dir: &std::path::Path) -> StoreConfig {
    let mut cfg = small_config(dir);
    cfg.flush_least_pages = u32::MAX;
    cfg.flush_thorough_interval_ms = 3_600_000;
    cfg
}

#[test]
fn power_loss_under_async_flush_loses_only_the_unflushed_tail() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = manual_flush_config(dir.path());
    let store = MessageStore::open(cfg.clone()).unwrap();
    let mut written: Vec<(u32, Vec<u8>, PutResult)> = Vec::new();
    for round in 0..3 {
        for i in 0..150u32 {
            let body = format!("p{round}-{i}-{}", "a".repeat((i as usize * 7) % 500)).into_bytes();
            let r = store.put_message(msg("P", i % 2, &body, None, None)).unwrap();
            written.push((i % 2, body, r));
        }
        if round < 2 {
            store.flush_now().unwrap();
        }
    }
    // Let the consume queues (flushed every 20 ms) run ahead of the durable commitlog.
    assert!(store.wait_dispatched(Duration::from_secs(10)));
    let durable = store.simulate_power_loss().unwrap().0;
    assert!(durable < store.commitlog_max_offset().0, "the last round was never flushed");
    drop(store);

    let store = MessageStore::open(cfg).unwrap();
    assert!(!store.recovery_report().clean_shutdown);
    assert_eq!(store.commitlog_max_offset().0, durable, "exactly the flushed prefix survives");
    for qid in 0..2 {
        let want: Vec<_> = written
            .iter()
            .filter(|(q, _, r)| *q == qid && r.phys_offset.0 + u64::from(r.wrote_bytes) <= durable)
            .map(|(_, b, _)| b.clone())
            .collect();
        assert_eq!(want.len(), 150, "two flushed rounds of 75 per queue");
        assert_eq!(bodies(&read_all(&store, "P", qid, 0)), want, "queue {qid}");
        let next = store.put_message(msg("P", qid, b"next", None, None)).unwrap();
        assert_eq!(next.queue_offset.0, want.len() as u64, "queue {qid} continues");
    }
}

/// An acknowledged put: writer (= queue id), body, where it went.
type Ack = (u32, Vec<u8>, PutResult);

#[test]
fn power_loss_under_sync_flush_keeps_every_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    cfg.flush_disk_type = FlushDiskType::Sync;
    let store = Arc::new(MessageStore::open(cfg.clone()).unwrap());
    let acks: Arc<Mutex<Vec<Ack>>> = Arc::default();
    let writers: Vec<_> = (0..4u32)
        .map(|t| {
            let (store, acks) = (Arc::clone(&store), Arc::clone(&acks));
            std::thread::spawn(move || {
                for i in 0u64.. {
                    let body = format!("w{t}-{i}-{}", "s".repeat((i % 300) as usize)).into_bytes();
                    let mut m = msg("S", t, &body, None, None);
                    if t == 3 {
                        // Not waited for: may be lost, and must not break recovery.
                        let wait = vec![(PROPERTY_WAIT_STORE_MSG_OK.to_owned(), "false".into())];
                        m.properties = encode_properties(&wait);
                    }
                    match store.put_message(m) {
                        Ok(r) => acks.lock().push((t, body, r)),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acks.lock().len() < 1200 {
        assert!(Instant::now() < deadline, "writers are too slow");
        std::thread::sleep(Duration::from_millis(1));
    }
    store.simulate_power_loss().unwrap();
    for w in writers {
        w.join().unwrap();
    }
    drop(store);

    let store = MessageStore::open(cfg).unwrap();
    assert!(store.wait_dispatched(Duration::from_secs(10)));
    let acks = acks.lock();
    for (t, body, r) in acks.iter().filter(|(t, _, _)| *t != 3) {
        let got = store.get_messages("S", QueueId(*t), r.queue_offset, 1, u32::MAX, None);
        assert_eq!(got.message_count, 1, "acknowledged message {t}/{} lost", r.queue_offset.0);
        let rec = decode_record(&got.messages).unwrap();
        assert_eq!((&rec.body, rec.phys_offset), (body, r.phys_offset));
    }
    for t in 0..4 {
        let max = store.max_offset("S", QueueId(t)).0;
        let r = store.put_message(msg("S", t, b"after", None, None)).unwrap();
        assert_eq!(r.queue_offset.0, max);
    }
}
