//! Seeded random operations (put, batch put, read, restart, crash, power loss) checked
//! against an in-memory model. Set `RMQ_STORE_SEED` to replay one seed; the seed is printed
//! on failure. A power loss cuts the model to the durable prefix the store reports; under
//! sync flush that prefix must hold every acknowledged message. Under async flush an I/O
//! countdown makes a random msync, fsync or consume-queue write fail: puts are acknowledged
//! until the failure, refused after it (never written), and a restart recovers exactly the
//! acknowledged ones. (Under sync flush a put that fails its group commit may or may not be
//! in the log, which this model does not track.)

use std::collections::HashMap;
use std::path::Path;

use rocketmq_store::{
    decode_record, FaultPoint, FlushDiskType, GetStatus, MessageStore, PutError, QueueId,
    QueueOffset, StoreConfig,
};

use crate::common::{msg, small_config};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Per topic-queue: (body, phys offset, record end) in queue order.
type Model = HashMap<(String, u32), Vec<(Vec<u8>, u64, u64)>>;

const TOPICS: [&str; 3] = ["Ma", "Mb", "Mc"];

fn run(seed: u64, flush: FlushDiskType, ops: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg: StoreConfig = small_config(dir.path());
    cfg.flush_disk_type = flush;
    let mut rng = Rng(seed.max(1));
    let mut model = Model::new();
    let mut store = Some(MessageStore::open(cfg.clone()).unwrap());
    for step in 0..ops {
        let s = store.as_ref().unwrap();
        match rng.below(100) {
            0..=44 => put_one(s, &mut rng, &mut model, step),
            45..=59 => put_batch(s, &mut rng, &mut model, step),
            60..=93 => check_read(s, &mut rng, &model, seed, step),
            94..=96 => {
                store.take().unwrap().shutdown();
                store = Some(reopen(dir.path(), &cfg, seed, step, true));
            }
            97 if flush == FlushDiskType::Async => {
                fail_and_restart(s, &mut rng, &mut model, step);
                store.take().unwrap().shutdown();
                store = Some(reopen(dir.path(), &cfg, seed, step, false));
            }
            97..=98 => {
                let durable = store.take().unwrap().simulate_power_loss().unwrap().0;
                lose_unflushed(&mut model, durable, flush, seed, step);
                store = Some(reopen(dir.path(), &cfg, seed, step, false));
            }
            _ => {
                store.take().unwrap().simulate_crash();
                store = Some(reopen(dir.path(), &cfg, seed, step, false));
            }
        }
    }
    let s = store.unwrap();
    for ((topic, q), msgs) in &model {
        assert!(s.wait_dispatched(std::time::Duration::from_secs(10)));
        let r = s.get_messages(topic, QueueId(*q), QueueOffset(0), u32::MAX, u32::MAX, None);
        assert_eq!(r.message_count as usize, msgs.len(), "seed {seed}: final count {topic}/{q}");
    }
}

/// Arms a random fault point with a short countdown and puts until the store fails. Every
/// acknowledged put joins the model; refused puts must say why.
fn fail_and_restart(s: &MessageStore, rng: &mut Rng, model: &mut Model, step: usize) {
    let point = FaultPoint::ALL[rng.below(FaultPoint::ALL.len() as u64) as usize];
    s.faults().fail_after(point, rng.below(3));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while s.failure().is_none() {
        assert!(std::time::Instant::now() < deadline, "step {step}: {point:?} never failed");
        let topic = TOPICS[rng.below(3) as usize];
        let q = rng.below(2) as u32;
        let b = body(rng, step);
        match s.put_message(msg(topic, q, &b, None, None)) {
            Ok(r) => {
                let entries = model.entry((topic.to_owned(), q)).or_default();
                assert_eq!(r.queue_offset.0, entries.len() as u64, "step {step}");
                entries.push((b, r.phys_offset.0, r.phys_offset.0 + u64::from(r.wrote_bytes)));
            }
            Err(PutError::StoreFailed { .. }) => break,
            Err(e) => panic!("step {step}: unexpected {e}"),
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let refused = s.put_message(msg(TOPICS[0], 0, b"refused", None, None));
    assert!(matches!(refused, Err(PutError::StoreFailed { .. })), "step {step}: sticky");
}

/// Drops from the model what a power loss took: every record ending past `durable`. Under
/// sync flush nothing acknowledged may be among them.
fn lose_unflushed(model: &mut Model, durable: u64, flush: FlushDiskType, seed: u64, step: usize) {
    for entries in model.values_mut() {
        let keep = entries.iter().take_while(|(_, _, end)| *end <= durable).count();
        if flush == FlushDiskType::Sync {
            assert_eq!(
                keep,
                entries.len(),
                "seed {seed} step {step}: acknowledged but not durable"
            );
        }
        entries.truncate(keep);
    }
}

fn reopen(root: &Path, cfg: &StoreConfig, seed: u64, step: usize, clean: bool) -> MessageStore {
    let s = MessageStore::open(cfg.clone())
        .unwrap_or_else(|e| panic!("seed {seed} step {step}: reopen failed: {e}"));
    assert_eq!(s.recovery_report().clean_shutdown, clean, "seed {seed} step {step}");
    assert!(root.join("abort").exists());
    s
}

fn body(rng: &mut Rng, step: usize) -> Vec<u8> {
    let len = rng.below(2500) as usize;
    let mut b = format!("s{step}-").into_bytes();
    b.extend((0..len).map(|i| b'a' + ((i + step) % 26) as u8));
    b
}

fn put_one(s: &MessageStore, rng: &mut Rng, model: &mut Model, step: usize) {
    let topic = TOPICS[rng.below(3) as usize];
    let q = rng.below(2) as u32;
    let b = body(rng, step);
    let r = s.put_message(msg(topic, q, &b, None, None)).unwrap();
    let entries = model.entry((topic.to_owned(), q)).or_default();
    assert_eq!(r.queue_offset.0, entries.len() as u64, "step {step}");
    entries.push((b, r.phys_offset.0, r.phys_offset.0 + u64::from(r.wrote_bytes)));
}

fn put_batch(s: &MessageStore, rng: &mut Rng, model: &mut Model, step: usize) {
    let topic = TOPICS[rng.below(3) as usize];
    let q = rng.below(2) as u32;
    let n = 2 + rng.below(8) as usize;
    let bodies: Vec<Vec<u8>> = (0..n).map(|_| body(rng, step)).collect();
    let r = s.put_messages(bodies.iter().map(|b| msg(topic, q, b, None, None)).collect()).unwrap();
    let entries = model.entry((topic.to_owned(), q)).or_default();
    assert_eq!(r.queue_offset.0, entries.len() as u64, "step {step}");
    let ids: Vec<_> =
        r.msg_ids.iter().map(|id| rocketmq_store::parse_offset_msg_id(id).unwrap().1 .0).collect();
    let batch_end = r.phys_offset.0 + u64::from(r.wrote_bytes);
    let ends: Vec<u64> = ids.iter().skip(1).copied().chain([batch_end]).collect();
    for ((b, phys), end) in bodies.into_iter().zip(ids).zip(ends) {
        entries.push((b, phys, end));
    }
}

fn check_read(s: &MessageStore, rng: &mut Rng, model: &Model, seed: u64, step: usize) {
    let topic = TOPICS[rng.below(3) as usize];
    let q = rng.below(2) as u32;
    let empty = Vec::new();
    let want = model.get(&(topic.to_owned(), q)).unwrap_or(&empty);
    assert!(s.wait_dispatched(std::time::Duration::from_secs(10)), "seed {seed} step {step}");
    let from = rng.below(want.len() as u64 + 2);
    let count = 1 + rng.below(40) as u32;
    let r = s.get_messages(topic, QueueId(q), QueueOffset(from), count, 256 * 1024, None);
    let ctx = format!("seed {seed} step {step} {topic}/{q} from {from}");
    let len = want.len() as u64;
    if want.is_empty() {
        assert!(
            matches!(r.status, GetStatus::NoMatchedLogicQueue | GetStatus::NoMessageInQueue),
            "{ctx}"
        );
        return;
    }
    if from >= len {
        let expect =
            if from == len { GetStatus::OffsetOverflowOne } else { GetStatus::OffsetOverflowBadly };
        assert_eq!(r.status, expect, "{ctx}");
        return;
    }
    assert_eq!(r.status, GetStatus::Found, "{ctx}");
    assert_eq!(r.max_offset.0, len, "{ctx}");
    let recs: Vec<_> =
        rocketmq_store::record::split_records(&r.messages).map(|v| v.unwrap()).collect();
    assert_eq!(recs.len() as u32, r.message_count, "{ctx}");
    for (i, v) in recs.iter().enumerate() {
        let (b, phys, _) = &want[from as usize + i];
        assert_eq!(
            (v.body, v.phys_offset.0, v.queue_offset),
            (b.as_slice(), *phys, from + i as u64),
            "{ctx}"
        );
    }
    assert_eq!(r.next_begin_offset.0, from + recs.len() as u64, "{ctx}");
    let (b, phys, _) = &want[rng.below(len) as usize];
    let one = decode_record(&s.message_by_phys_offset(rocketmq_store::PhysOffset(*phys)).unwrap())
        .unwrap();
    assert_eq!(&one.body, b, "{ctx}");
}

fn seeds() -> Vec<u64> {
    match std::env::var("RMQ_STORE_SEED") {
        Ok(s) => vec![s.parse().expect("RMQ_STORE_SEED must be a number")],
        Err(_) => {
            let base = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            vec![base, base ^ 0x9E37_79B9_7F4A_7C15, 42]
        }
    }
}

fn run_seeds(flush: FlushDiskType, ops: usize) {
    for seed in seeds() {
        let res = std::panic::catch_unwind(|| run(seed, flush, ops));
        if let Err(e) = res {
            eprintln!("model test failed with RMQ_STORE_SEED={seed} ({flush:?})");
            std::panic::resume_unwind(e);
        }
    }
}

#[test]
fn model_async_flush() {
    run_seeds(FlushDiskType::Async, 600);
}

#[test]
fn model_sync_flush() {
    run_seeds(FlushDiskType::Sync, 250);
}
