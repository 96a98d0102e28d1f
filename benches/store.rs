//! Store benchmarks (hand-rolled, `harness = false`):
//!
//! * `append`: put throughput for 128 B and 1 KiB bodies, single and batched (32), async
//!   flush, beside the raw buffered sequential write bandwidth of the same disk;
//! * `group`: sync-flush group commit with 1, 16 and 64 writer threads, beside a raw
//!   write + fdatasync group commit of the same shape;
//! * `recovery`: crash-recovery scan speed (a child process writes and exits without
//!   shutdown; the parent reopens with the checkpoint removed, forcing a full CRC scan);
//! * `read`: queue reads (`get_messages`, 32 per call, as pulls ask) of 128 B and 1 KiB
//!   bodies from the page cache, beside the cost of the body CRC every read verifies, timed
//!   alone over the same bodies (issue #23).
//!
//! Usage: `cargo bench --bench store [append|group|recovery|read]` (all by default). Set
//! `RMQ_BENCH_DIR` to choose the scratch directory (default: the system temp dir).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rocketmq_store::{
    encode_properties, FlushDiskType, MessageStore, MessageToStore, QueueId, QueueOffset,
    StoreConfig,
};

const CHILD_ENV: &str = "RMQ_BENCH_RECOVERY_CHILD";
const RECOVERY_BYTES: u64 = 1 << 30;

fn main() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        recovery_child(Path::new(&dir));
        return;
    }
    let which: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let run = |name: &str| which.is_empty() || which.iter().any(|w| w == name);
    if run("append") {
        bench_append();
    }
    if run("group") {
        bench_group_commit();
    }
    if run("recovery") {
        bench_recovery();
    }
    if run("read") {
        bench_read();
    }
}

/// Reads every message of one queue with 32-message `get_messages` calls (several passes,
/// the data in the page cache), then times the body CRC alone over the same bodies.
fn bench_read() {
    println!("## read (get_messages, 32 per call, page cache warm; body CRC verified per record)");
    for (body, count) in [(128usize, 400_000u64), (1024, 200_000)] {
        let dir = scratch();
        let mut cfg = config(dir.path(), FlushDiskType::Async);
        cfg.commitlog_cache_window_bytes = None;
        let store = MessageStore::open(cfg).expect("open");
        let template = message(body, 0);
        let mut done = 0;
        while done < count {
            store.put_messages(vec![template.clone(); 32]).expect("put");
            done += 32;
        }
        assert!(store.wait_dispatched(Duration::from_secs(60)), "dispatched");
        let passes = 5;
        let mut bodies: Vec<Vec<u8>> = Vec::new();
        let start = Instant::now();
        let mut read = 0u64;
        for pass in 0..passes {
            let mut at = 0;
            while at < done {
                let r = store.get_messages(
                    "BenchmarkTest",
                    QueueId(0),
                    QueueOffset(at),
                    32,
                    u32::MAX,
                    None,
                );
                assert!(r.message_count > 0, "read at {at}");
                if pass == 0 && bodies.len() < 100_000 {
                    collect_bodies(&r.messages, &mut bodies);
                }
                at = r.next_begin_offset.0;
                read += u64::from(r.message_count);
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let ns_read = secs * 1e9 / read as f64;
        let crc_start = Instant::now();
        let mut acc = 0u32;
        let crc_rounds = 20;
        for _ in 0..crc_rounds {
            for b in &bodies {
                acc ^= rocketmq_store::record::crc32_masked(std::hint::black_box(b));
            }
        }
        std::hint::black_box(acc);
        let ns_crc = crc_start.elapsed().as_secs_f64() * 1e9 / (crc_rounds * bodies.len()) as f64;
        println!(
            "body {body:>5} B: {:>10.0} msg/s read ({ns_read:.0} ns/msg); body CRC alone \
             {ns_crc:.1} ns/msg = {:.1} % of a read",
            1e9 / ns_read,
            ns_crc / ns_read * 100.0,
        );
        store.shutdown();
    }
}

fn collect_bodies(records: &[u8], out: &mut Vec<Vec<u8>>) {
    for r in rocketmq_store::record::split_records(records) {
        out.push(r.expect("record").body.to_vec());
    }
}

fn scratch() -> tempfile::TempDir {
    match std::env::var("RMQ_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d).expect("scratch dir"),
        Err(_) => tempfile::tempdir().expect("scratch dir"),
    }
}

fn message(body_len: usize, queue: u32) -> MessageToStore {
    MessageToStore {
        topic: "BenchmarkTest".to_owned(),
        queue_id: QueueId(queue),
        flag: 0,
        body: vec![b'x'; body_len],
        properties: encode_properties(&[
            ("TAGS".to_owned(), "TagA".to_owned()),
            ("UNIQ_KEY".to_owned(), "7F000001000018B4AAC2".to_owned()),
        ]),
        sys_flag: 0,
        born_timestamp_ms: 1_700_000_000_000,
        born_host: "127.0.0.1:50000".parse().expect("addr"),
        store_host: "127.0.0.1:10911".parse().expect("addr"),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
    }
}

fn config(dir: &Path, flush: FlushDiskType) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.commitlog_file_size_bytes = 256 << 20;
    c.flush_disk_type = flush;
    // The UNIQ_KEY is constant here; indexing would only measure hash-chain growth.
    c.index_enable = false;
    c
}

/// Raw buffered sequential write: 1 MiB `write` calls, no fsync.
fn raw_buffered_write_gbps(dir: &Path, total: u64) -> f64 {
    let path = dir.join("raw-buffered");
    let mut f = File::create(&path).expect("create");
    let chunk = vec![0x5Au8; 1 << 20];
    let start = Instant::now();
    let mut written = 0;
    while written < total {
        f.write_all(&chunk).expect("write");
        written += chunk.len() as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(&path);
    written as f64 / secs / 1e9
}

fn bench_append() {
    println!("## append (async flush, 1 writer thread, 256 MiB segments, index off)");
    for (body, count, batch) in
        [(128, 2_000_000, 1), (1024, 600_000, 1), (128, 4_000_000, 32), (1024, 1_000_000, 32)]
    {
        let dir = scratch();
        let raw = raw_buffered_write_gbps(dir.path(), 1 << 30);
        let store = MessageStore::open(config(dir.path(), FlushDiskType::Async)).expect("open");
        let template = message(body, 0);
        let start = Instant::now();
        let mut bytes = 0u64;
        let mut done = 0;
        while done < count {
            let r = if batch == 1 {
                store.put_message(template.clone())
            } else {
                store.put_messages(vec![template.clone(); batch])
            };
            bytes += u64::from(r.expect("put").wrote_bytes);
            done += batch;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "body {body:>5} B, batch {batch:>2}: {:>10.0} msg/s, {:>6.0} MB/s of commitlog \
             ({done} msgs in {secs:.2} s); raw buffered write same run: {raw:.2} GB/s",
            done as f64 / secs,
            bytes as f64 / secs / 1e6,
        );
        store.shutdown();
    }
}

/// A minimal group commit over `write` + `fdatasync`: writers append 128 B to a shared
/// buffer and wait; one flusher writes and syncs everything pending at once.
fn raw_group_commit(dir: &Path, writers: usize, dur: Duration) -> (f64, f64) {
    struct State {
        pending: Vec<u8>,
        appended: u64,
        flushed: u64,
        stop: bool,
    }
    let state = Arc::new((
        Mutex::new(State { pending: Vec::new(), appended: 0, flushed: 0, stop: false }),
        Condvar::new(),
        Condvar::new(),
    ));
    let file = File::create(dir.join("raw-gc")).expect("create");
    let flushes = Arc::new(AtomicU64::new(0));
    let flusher = {
        let (state, flushes) = (Arc::clone(&state), Arc::clone(&flushes));
        std::thread::spawn(move || {
            let mut pos = 0u64;
            loop {
                let (buf, upto) = {
                    let (m, wake, _) = &*state;
                    let mut s = m.lock().expect("lock");
                    while s.pending.is_empty() && !s.stop {
                        s = wake.wait(s).expect("wait");
                    }
                    if s.stop && s.pending.is_empty() {
                        return;
                    }
                    (std::mem::take(&mut s.pending), s.appended)
                };
                file.write_all_at(&buf, pos).expect("write");
                file.sync_data().expect("fdatasync");
                pos += buf.len() as u64;
                flushes.fetch_add(1, Ordering::Relaxed);
                let (m, _, done) = &*state;
                m.lock().expect("lock").flushed = upto;
                done.notify_all();
            }
        })
    };
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..writers)
        .map(|_| {
            let (state, stop, count) = (Arc::clone(&state), Arc::clone(&stop), Arc::clone(&count));
            std::thread::spawn(move || {
                let rec = [0x42u8; 128 + 91];
                while !stop.load(Ordering::Relaxed) {
                    let (m, wake, done) = &*state;
                    let mut s = m.lock().expect("lock");
                    s.pending.extend_from_slice(&rec);
                    s.appended += 1;
                    let mine = s.appended;
                    wake.notify_one();
                    while s.flushed < mine {
                        s = done.wait(s).expect("wait");
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(dur);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("writer");
    }
    let (m, wake, _) = &*state;
    m.lock().expect("lock").stop = true;
    wake.notify_all();
    flusher.join().expect("flusher");
    let n = count.load(Ordering::Relaxed) as f64;
    let f = flushes.load(Ordering::Relaxed).max(1) as f64;
    (n / dur.as_secs_f64(), n / f)
}

fn bench_group_commit() {
    println!("## group commit (sync flush, 128 B bodies, each writer waits for its flush)");
    let dur = Duration::from_secs(4);
    for writers in [1usize, 16, 64] {
        let dir = scratch();
        let (raw, raw_batch) = raw_group_commit(dir.path(), writers, dur);
        let store =
            Arc::new(MessageStore::open(config(dir.path(), FlushDiskType::Sync)).expect("open"));
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..writers)
            .map(|t| {
                let (store, stop, count) =
                    (Arc::clone(&store), Arc::clone(&stop), Arc::clone(&count));
                std::thread::spawn(move || {
                    let template = message(128, (t % 8) as u32);
                    let mut lat = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let s = Instant::now();
                        store.put_message(template.clone()).expect("put");
                        lat.push(s.elapsed());
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    lat
                })
            })
            .collect();
        std::thread::sleep(dur);
        stop.store(true, Ordering::Relaxed);
        let mut lat: Vec<Duration> =
            threads.into_iter().flat_map(|t| t.join().expect("writer")).collect();
        lat.sort_unstable();
        let pct =
            |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)));
        let n = count.load(Ordering::Relaxed) as f64 / dur.as_secs_f64();
        println!(
            "writers {writers:>2}: store {n:>8.0} msg/s (p50 {:?}, p99 {:?}); raw write+fdatasync \
             group commit {raw:>8.0} msg/s ({raw_batch:.1} msgs/flush); ratio {:.2}",
            pct(0.5).copied().unwrap_or_default(),
            pct(0.99).copied().unwrap_or_default(),
            n / raw
        );
        store.shutdown();
    }
}

fn recovery_child(dir: &Path) {
    let store = MessageStore::open(config(dir, FlushDiskType::Async)).expect("open");
    let template = message(1024, 0);
    let mut written = 0u64;
    while written < RECOVERY_BYTES {
        let r = store.put_messages(vec![template.clone(); 32]).expect("put");
        written += u64::from(r.wrote_bytes);
    }
    // Exit without shutdown: the abort file stays, like a crash (the page cache survives).
    std::process::exit(0);
}

fn bench_recovery() {
    println!("## recovery after a crash ({} MiB of 1 KiB messages)", RECOVERY_BYTES >> 20);
    let dir = scratch();
    let exe = std::env::current_exe().expect("exe");
    let status =
        std::process::Command::new(exe).env(CHILD_ENV, dir.path()).status().expect("child");
    assert!(status.success(), "writer child failed");
    assert!(dir.path().join("abort").exists());
    // Without the checkpoint recovery must CRC-check every segment from the first one.
    std::fs::remove_file(dir.path().join("checkpoint")).expect("remove checkpoint");
    let start = Instant::now();
    let store = MessageStore::open(config(dir.path(), FlushDiskType::Async)).expect("open");
    let secs = start.elapsed().as_secs_f64();
    let r = store.recovery_report();
    println!(
        "crash open: scanned {} MiB with CRC and re-dispatched {} records in {secs:.2} s \
         -> {:.0} MB/s of commitlog checked (open total incl. msync and re-dispatch)",
        r.scanned_bytes >> 20,
        r.redispatched_records,
        r.scanned_bytes as f64 / secs / 1e6
    );
    store.shutdown();
    let start = Instant::now();
    let store = MessageStore::open(config(dir.path(), FlushDiskType::Async)).expect("open");
    println!(
        "clean open of the same store: {:.1} ms (scanned {} bytes)",
        start.elapsed().as_secs_f64() * 1e3,
        store.recovery_report().scanned_bytes
    );
    drop(store);
    let _ = std::fs::remove_dir_all(PathBuf::from(dir.path()));
}
