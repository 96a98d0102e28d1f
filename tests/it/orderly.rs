//! Orderly consumption (issue #15) against the real `nameserver` and `broker` binaries: the
//! broker's queue locks in raw LOCK_BATCH_MQ / UNLOCK_BATCH_MQ frames, and the push consumer's
//! orderly listener (per-queue order, one consumer per queue at a time across rebalances,
//! suspend, dead letters, a killed consumer's queues taken over).

use crate::support;

use std::time::{Duration, Instant};

use rocketmq::net::{RemotingClient, RemotingCommand, RequestCode};
use rocketmq::protocol::body::queue::{LockBatchRequestBody, LockBatchResponseBody, MessageQueue};
use support::Proc;

const WAIT: Duration = Duration::from_secs(60);

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A nameserver and one broker with `conf` (extra RON fields).
struct Raw {
    broker: Proc,
    _namesrv: Proc,
    _store: tempfile::TempDir,
}

impl Raw {
    fn start(conf: &str) -> Self {
        let store = tempfile::tempdir().unwrap();
        let namesrv = support::nameserver();
        let port = support::free_port();
        let broker = support::broker_with(port, &namesrv.addr, store.path(), "broker-a", conf, &[]);
        Self { broker, _namesrv: namesrv, _store: store }
    }
}

fn mqs(ids: &[i32]) -> Vec<MessageQueue> {
    ids.iter().map(|i| MessageQueue::new("LockTopic", "broker-a", *i)).collect()
}

fn lock_body(client_id: &str, ids: &[i32]) -> Vec<u8> {
    let body = LockBatchRequestBody {
        client_id: client_id.into(),
        consumer_group: "lock_group".into(),
        mq_set: mqs(ids),
        only_this_broker: false,
    };
    serde_json::to_vec(&body).unwrap()
}

/// LOCK_BATCH_MQ over `c`'s connection; the queue ids granted, sorted.
fn lock(c: &RemotingClient, broker: &str, client_id: &str, ids: &[i32]) -> Vec<i32> {
    let cmd = RemotingCommand::request(RequestCode::LockBatchMq.to_i32())
        .with_body(lock_body(client_id, ids));
    let r = support::call(c, broker, cmd);
    assert_eq!(r.code, 0, "lock: {:?}", r.remark);
    let body: LockBatchResponseBody = serde_json::from_slice(&r.body).unwrap();
    let mut got: Vec<i32> = body.lock_ok_mq_set.iter().map(|mq| mq.queue_id).collect();
    got.sort_unstable();
    got
}

fn unlock(c: &RemotingClient, broker: &str, client_id: &str, ids: &[i32]) {
    let cmd = RemotingCommand::request(RequestCode::UnlockBatchMq.to_i32())
        .with_body(lock_body(client_id, ids));
    let r = support::call(c, broker, cmd);
    assert_eq!(r.code, 0, "unlock: {:?}", r.remark);
}

/// Two clients on their own connections: the second gets exactly the queues the first does
/// not hold; unlock frees only the caller's own; a closed connection frees all of its locks.
#[test]
fn raw_lock_frames_grant_exactly_the_queues_another_client_does_not_hold() {
    let raw = Raw::start("");
    let addr = &raw.broker.addr;
    let (a, b) = (support::client(), support::client());
    assert_eq!(lock(&a, addr, "client-a", &[0, 1, 2]), vec![0, 1, 2]);
    assert_eq!(lock(&b, addr, "client-b", &[0, 1, 2, 3, 4, 5, 6, 7]), vec![3, 4, 5, 6, 7]);
    assert_eq!(lock(&a, addr, "client-a", &[0, 1, 2, 3]), vec![0, 1, 2], "renewal; 3 is b's");
    unlock(&b, addr, "client-b", &[0, 1]);
    assert_eq!(lock(&b, addr, "client-b", &[0, 1]), Vec::<i32>::new(), "b cannot unlock a's");
    unlock(&a, addr, "client-a", &[0]);
    assert_eq!(lock(&b, addr, "client-b", &[0, 1]), vec![0]);
    // a's connection closes: its remaining locks (1 and 2) are free at once.
    a.shutdown();
    wait_until("a's locks to be released", || lock(&b, addr, "client-b", &[1, 2]) == vec![1, 2]);
    let bad = RemotingCommand::request(RequestCode::LockBatchMq.to_i32()).with_body(b"{".to_vec());
    assert_ne!(support::call(&b, addr, bad).code, 0, "an unreadable body is refused");
}

/// A lock that is not renewed expires (here after 3 s): another client gets it then.
#[test]
fn an_unrenewed_lock_expires_and_goes_to_another_client() {
    let raw = Raw::start("rebalance_lock_max_live_ms: 3000, ");
    let addr = &raw.broker.addr;
    let (a, b) = (support::client(), support::client());
    assert_eq!(lock(&a, addr, "client-a", &[0]), vec![0]);
    assert_eq!(lock(&b, addr, "client-b", &[0]), Vec::<i32>::new(), "a's lock is live");
    wait_until("a's lock to expire", || lock(&b, addr, "client-b", &[0]) == vec![0]);
    assert_eq!(lock(&a, addr, "client-a", &[0]), Vec::<i32>::new(), "b holds it now");
}
