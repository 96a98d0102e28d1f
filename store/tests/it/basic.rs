//! Open, write, read, reopen across segment boundaries; read statuses; queries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rocketmq_store::{
    decode_record, GetStatus, MessageStore, PhysOffset, PutError, QueueId, QueueOffset, StoreConfig,
};

use crate::common::{bodies, msg, read_all, small_config};

#[test]
fn write_close_reopen_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(dir.path());
    let mut expected = Vec::new();
    {
        let store = MessageStore::open(cfg.clone()).unwrap();
        for i in 0..2000u32 {
            let body = format!("message-{i}-{}", "x".repeat((i % 50) as usize));
            let r =
                store.put_message(msg("TopicA", i % 3, body.as_bytes(), Some("t"), None)).unwrap();
            assert_eq!(r.queue_offset.0, u64::from(i / 3));
            expected.push((i % 3, body.into_bytes(), r.phys_offset));
        }
        let files = std::fs::read_dir(dir.path().join("commitlog")).unwrap().count();
        assert!(files > 3, "expected several segments, got {files}");
        let got = read_all(&store, "TopicA", 1, 0);
        assert_eq!(got.status, GetStatus::Found);
        assert_eq!(got.message_count, 667);
        store.shutdown();
    }
    assert!(!dir.path().join("abort").exists());
    let store = MessageStore::open(cfg).unwrap();
    assert!(store.recovery_report().clean_shutdown);
    assert_eq!(store.recovery_report().scanned_bytes, 0);
    for q in 0..3u32 {
        let got = read_all(&store, "TopicA", q, 0);
        let want: Vec<_> = expected.iter().filter(|e| e.0 == q).map(|e| e.1.clone()).collect();
        assert_eq!(bodies(&got), want);
        assert_eq!(store.max_offset("TopicA", QueueId(q)).0, want.len() as u64);
    }
    for (_, body, phys) in expected.iter().step_by(97) {
        let rec = decode_record(&store.message_by_phys_offset(*phys).unwrap()).unwrap();
        assert_eq!(&rec.body, body);
    }
    let r = store.put_message(msg("TopicA", 0, b"after", None, None)).unwrap();
    assert_eq!(r.queue_offset.0, 667);
}

#[test]
fn statuses_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let unknown = store.get_messages("Nope", QueueId(0), QueueOffset(0), 10, 1 << 20, None);
    assert_eq!(unknown.status, GetStatus::NoMatchedLogicQueue);
    for i in 0..10 {
        let tag = if i % 2 == 0 { "even" } else { "odd" };
        store.put_message(msg("T", 0, format!("m{i}").as_bytes(), Some(tag), None)).unwrap();
    }
    read_all(&store, "T", 0, 0);
    let get = |off: u64| store.get_messages("T", QueueId(0), QueueOffset(off), 4, 1 << 20, None);
    let r = get(0);
    assert_eq!((r.status, r.message_count, r.next_begin_offset.0), (GetStatus::Found, 4, 4));
    assert_eq!(r.message_infos[3].queue_offset.0, 3);
    assert_eq!(get(10).status, GetStatus::OffsetOverflowOne);
    assert_eq!(get(10).next_begin_offset.0, 10);
    let bad = get(15);
    assert_eq!((bad.status, bad.next_begin_offset.0), (GetStatus::OffsetOverflowBadly, 10));
    let odd = rocketmq_store::java_string_hash("odd") as i64;
    let only_odd = |code: i64| code == odd;
    let r = store.get_messages("T", QueueId(0), QueueOffset(0), 100, 1 << 20, Some(&only_odd));
    assert_eq!(
        bodies(&r),
        (0..10).filter(|i| i % 2 == 1).map(|i| format!("m{i}").into_bytes()).collect::<Vec<_>>()
    );
    let none = |_: i64| false;
    let r = store.get_messages("T", QueueId(0), QueueOffset(0), 100, 1 << 20, Some(&none));
    assert_eq!((r.status, r.next_begin_offset.0), (GetStatus::NoMatchedMessage, 10));
    let small = store.get_messages("T", QueueId(0), QueueOffset(0), 100, 1, None);
    assert_eq!(small.message_count, 1, "at least one message even over max_bytes");
}

#[test]
fn batch_keys_timestamps_and_listener() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let arrivals = Arc::new(AtomicU64::new(0));
    let a2 = Arc::clone(&arrivals);
    store.set_arrival_listener(Arc::new(move |topic, q, max| {
        assert_eq!((topic, q), ("B", QueueId(2)));
        a2.fetch_max(max.0, Ordering::SeqCst);
    }));
    let batch: Vec<_> = (0..20)
        .map(|i| msg("B", 2, format!("b{i}").as_bytes(), None, Some(&format!("key{i} all"))))
        .collect();
    let r = store.put_messages(batch).unwrap();
    assert_eq!((r.queue_offset.0, r.msg_count, r.msg_ids.len()), (0, 20, 20));
    let r2 = store.put_message(msg("B", 2, b"single", None, Some("key5"))).unwrap();
    assert_eq!(r2.queue_offset.0, 20);
    read_all(&store, "B", 2, 0);
    assert_eq!(arrivals.load(Ordering::SeqCst), 21);
    let hits = store.query_by_key("B", "key5", 32, 0, i64::MAX);
    assert_eq!(hits.len(), 2);
    assert_eq!(store.query_by_key("B", "all", 5, 0, i64::MAX).len(), 5);
    assert_eq!(store.query_by_key("B", "U-b7", 5, 0, i64::MAX).len(), 1);
    assert!(store.query_by_key("Other", "key5", 32, 0, i64::MAX).is_empty());
    let (_, phys) = rocketmq_store::parse_offset_msg_id(&r.msg_ids[3]).unwrap();
    let rec = decode_record(&store.message_by_phys_offset(phys).unwrap()).unwrap();
    assert_eq!(rec.body, b"b3");
    assert_eq!(rec.queue_offset, 3);
    assert!(store.message_by_phys_offset(PhysOffset(phys.0 + 1)).is_none());
    let ts = r2.store_timestamp_ms;
    assert_eq!(store.store_time_at("B", QueueId(2), QueueOffset(20)), Some(ts));
    assert_eq!(store.offset_by_timestamp("B", QueueId(2), ts + 1).0, 21);
    assert_eq!(store.offset_by_timestamp("B", QueueId(2), 0).0, 0);
    assert!(store.earliest_store_time("B", QueueId(2)).unwrap() <= ts);
    assert_eq!(store.topic_queues(), vec![("B".to_owned(), QueueId(2), QueueOffset(21))]);
    store.delete_topic("B");
    assert!(store.topic_queues().is_empty());
    assert!(!dir.path().join("consumequeue").join("B").exists());
}

#[test]
fn limits_and_shutdown_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let big = vec![7u8; 16 * 1024 + 1];
    assert!(matches!(
        store.put_message(msg("T", 0, &big, None, None)),
        Err(PutError::MessageTooLarge { max_bytes: 16384, .. })
    ));
    let mut m = msg("T", 0, b"x", None, None);
    m.properties = "a".repeat(40_000);
    assert!(matches!(store.put_message(m), Err(PutError::PropertiesTooLarge { .. })));
    assert!(matches!(
        store.put_message(msg(&"t".repeat(300), 0, b"x", None, None)),
        Err(PutError::TopicTooLong { .. })
    ));
    assert!(matches!(
        MessageStore::open(small_config(dir.path())),
        Err(rocketmq_store::OpenError::Locked { .. })
    ));
    store.shutdown();
    assert!(matches!(store.put_message(msg("T", 0, b"x", None, None)), Err(PutError::NotWritable)));
    let mut bad = StoreConfig::new(dir.path());
    bad.commitlog_file_size_bytes = 1000;
    assert!(MessageStore::open(bad).is_err());
}

#[test]
fn sync_flush_puts_are_flushed_and_transactions_skip_queues() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    cfg.flush_disk_type = rocketmq_store::FlushDiskType::Sync;
    let store = MessageStore::open(cfg).unwrap();
    for i in 0..50 {
        let r = store.put_message(msg("S", 0, format!("s{i}").as_bytes(), None, None)).unwrap();
        assert!(
            store.runtime_stats().flushed_offset.0 >= r.phys_offset.0 + u64::from(r.wrote_bytes)
        );
    }
    let mut half = msg("S", 0, b"half", None, None);
    half.sys_flag = rocketmq_store::record::SYS_FLAG_TRANSACTION_PREPARED;
    let r = store.put_message(half).unwrap();
    assert_eq!(r.queue_offset.0, 0);
    assert!(store.message_by_phys_offset(r.phys_offset).is_some());
    let r = store.put_message(msg("S", 0, b"after-half", None, None)).unwrap();
    assert_eq!(r.queue_offset.0, 50);
    let got = read_all(&store, "S", 0, 0);
    assert_eq!(got.message_count, 51);
    assert!(store.wait_dispatched(Duration::from_secs(5)));
}

#[test]
fn delayed_messages_carry_delivery_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let mut m = msg(rocketmq_store::SCHEDULE_TOPIC, 2, b"later", Some("tag"), None);
    m.properties.push_str("DELAY\u{1}3\u{2}");
    let r = store.put_message(m).unwrap();
    let got = read_all(&store, rocketmq_store::SCHEDULE_TOPIC, 2, 0);
    assert_eq!(got.message_infos[0].tags_code, r.store_timestamp_ms + 10_000);
}

#[test]
fn sync_flush_timeout_reports_stored_but_unconfirmed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    cfg.flush_disk_type = rocketmq_store::FlushDiskType::Sync;
    cfg.sync_flush_timeout_ms = 0;
    let store = MessageStore::open(cfg).unwrap();
    // A flush tick may land between append and wait, so look for one timeout in a few puts.
    let mut timeouts = 0;
    for _ in 0..20 {
        match store.put_message(msg("TO", 0, b"late", None, None)) {
            Err(PutError::FlushDiskTimeout) => timeouts += 1,
            Ok(_) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(timeouts > 0);
    assert_eq!(store.runtime_stats().flush_timeout_count, timeouts);
    // The messages are stored and become readable once the flush thread catches up.
    let got = read_all(&store, "TO", 0, 0);
    assert_eq!(bodies(&got), vec![b"late".to_vec(); 20]);
}

#[test]
fn put_may_wait_only_when_the_next_segment_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(dir.path());
    let segment = usize::try_from(cfg.commitlog_file_size_bytes).unwrap();
    let store = MessageStore::open(cfg).unwrap();
    store.put_message(msg("TopicA", 0, b"first", None, None)).unwrap();
    assert!(!store.put_may_wait(100), "a small put fits in the current segment");
    // Bigger than what is left: it waits unless the allocator has handed over the next
    // segment, which it pre-creates as soon as the current one opened.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.put_may_wait(segment - 64) {
        assert!(std::time::Instant::now() < deadline, "the next segment never became ready");
        std::thread::sleep(Duration::from_millis(5));
    }
    store.shutdown();
}

#[test]
fn evicted_commitlog_bytes_read_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = small_config(dir.path()); // 64 KiB segments, 16 KiB cache window
    let store = MessageStore::open(cfg).unwrap();
    let mut expected = Vec::new();
    for i in 0..3000u32 {
        let body = format!("evict-{i}-{}", "y".repeat((i % 64) as usize));
        let r = store.put_message(msg("TopicE", 0, body.as_bytes(), None, None)).unwrap();
        expected.push((body.into_bytes(), r.phys_offset));
    }
    // The keeper evicts flushed bytes more than the window behind the end; with segments this
    // small, whole segments at a time.
    let end = store.commitlog_max_offset().0;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let evicted = store.runtime_stats().cache_evicted_offset.0;
        if evicted + 128 * 1024 >= end {
            assert!(evicted <= end - 16 * 1024, "evicted inside the window: {evicted} of {end}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "eviction stalled at {evicted} of {end}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let got = read_all(&store, "TopicE", 0, 0);
    let want: Vec<_> = expected.iter().map(|e| e.0.clone()).collect();
    assert_eq!(bodies(&got), want);
    for (body, phys) in expected.iter().step_by(101) {
        let rec = decode_record(&store.message_by_phys_offset(*phys).unwrap()).unwrap();
        assert_eq!(&rec.body, body);
    }
    store.shutdown();
}
