//! SIGKILL of a child process during sync-flush appends: every acknowledged message must be
//! readable after restart, byte for byte, at the offsets it was acknowledged with.
//!
//! The child is this test binary re-executed with `--ignored --exact crash::child_writer`
//! and `RMQ_STORE_CRASH_DIR` set; it prints one `ACK` line per acknowledged put.
//!
//! `child_writer` is a helper, not a test: it is `#[ignore]`d so a plain `cargo test` never
//! runs (or counts) it, and run without the parent's environment it fails instead of
//! passing without doing anything.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketmq_store::{decode_record, FlushDiskType, MessageStore, QueueId, QueueOffset};

use crate::common::{msg, small_config};

const ENV_DIR: &str = "RMQ_STORE_CRASH_DIR";
const WRITERS: u32 = 4;

/// Child side of `sigkill_during_sync_flush_appends`; only the parent runs it.
#[test]
#[ignore = "child process of crash::sigkill_during_sync_flush_appends, run by it"]
fn child_writer() {
    let dir = std::env::var(ENV_DIR)
        .unwrap_or_else(|_| panic!("{ENV_DIR} unset: this helper only runs as the parent's child"));
    let mut cfg = small_config(std::path::Path::new(&dir));
    cfg.flush_disk_type = FlushDiskType::Sync;
    let store = Arc::new(MessageStore::open(cfg).unwrap());
    let out = Arc::new(parking_lot::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (store, out) = (Arc::clone(&store), Arc::clone(&out));
            std::thread::spawn(move || {
                for i in 0u64.. {
                    let body = format!("w{t}-{i}-{}", "z".repeat((i % 400) as usize));
                    let r =
                        store.put_message(msg("Crash", t, body.as_bytes(), None, None)).unwrap();
                    let mut o = out.lock();
                    writeln!(o, "ACK {t} {} {} {body}", r.queue_offset.0, r.phys_offset.0).unwrap();
                    o.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn sigkill_during_sync_flush_appends() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--ignored", "--exact", "crash::child_writer", "--nocapture", "--test-threads=1"])
        .env(ENV_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acks = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acks.len() < 1500 && Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if line.starts_with("ACK ") {
            acks.push(line);
        }
    }
    child.kill().unwrap();
    acks.extend(lines.map_while(Result::ok).filter(|l| l.starts_with("ACK ")));
    child.wait().unwrap();
    assert!(acks.len() > 200, "child acknowledged only {} puts", acks.len());

    let mut cfg = small_config(dir.path());
    cfg.flush_disk_type = FlushDiskType::Sync;
    let store = MessageStore::open(cfg).unwrap();
    assert!(!store.recovery_report().clean_shutdown);
    assert!(store.wait_dispatched(Duration::from_secs(10)));
    let mut per_queue: HashMap<u32, u64> = HashMap::new();
    for line in &acks {
        let mut parts = line.splitn(5, ' ').skip(1);
        let t: u32 = parts.next().unwrap().parse().unwrap();
        let qo: u64 = parts.next().unwrap().parse().unwrap();
        let phys: u64 = parts.next().unwrap().parse().unwrap();
        let body = parts.next().unwrap().as_bytes();
        let got = store.get_messages("Crash", QueueId(t), QueueOffset(qo), 1, u32::MAX, None);
        assert_eq!(got.message_count, 1, "acked message {line} lost");
        let rec = decode_record(&got.messages).unwrap();
        assert_eq!((rec.body.as_slice(), rec.phys_offset.0, rec.queue_offset), (body, phys, qo));
        let max = per_queue.entry(t).or_default();
        *max = (*max).max(qo + 1);
    }
    for (t, acked) in per_queue {
        let max = store.max_offset("Crash", QueueId(t)).0;
        assert!(max >= acked);
        let r = store.put_message(msg("Crash", t, b"after", None, None)).unwrap();
        assert_eq!(r.queue_offset.0, max);
    }
}
