//! Transactional producer: each order is sent as a half message and its local transaction
//! decides it. Orders divisible by 3 are rolled back, the others committed; every fourth
//! answer is "unknown" at first and is settled by the broker's check-back (within
//! `transactionCheckInterval` + `transactionTimeOut`, 36 s by default). A push consumer then
//! prints which orders arrived: the committed ones, each once, and no rolled-back one.
//!
//! Usage: cargo run --example transaction -- [topic] [orders]
//! The nameserver comes from NAMESRV_ADDR (default 127.0.0.1:9876).

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq::client::{
    ConsumeFrom, ConsumeStatus, LocalTransactionState, Message, MessageExt, Producer, PushConsumer,
    TransactionListener, TransactionProducer,
};

/// How long to wait for the committed orders (check-backs included).
const PATIENCE: Duration = Duration::from_secs(90);

/// The "database" of the local transactions: order id → committed or not.
#[derive(Default)]
struct Orders {
    decided: Mutex<BTreeMap<u32, bool>>,
}

impl Orders {
    fn order_id(body: &[u8]) -> Option<u32> {
        std::str::from_utf8(body).ok()?.strip_prefix("order-")?.parse().ok()
    }
}

/// The producer's listener over its order table.
struct Listener(Orders);

impl TransactionListener for Listener {
    fn execute_local_transaction(&self, msg: &Message, _id: &str) -> LocalTransactionState {
        let Some(id) = Orders::order_id(msg.body()) else { return LocalTransactionState::Rollback };
        let commit = id % 3 != 0;
        self.0.decided.lock().unwrap().insert(id, commit);
        match (commit, id % 4 == 0) {
            // The decision is stored, but the producer "crashes" before telling the broker.
            (_, true) => LocalTransactionState::Unknown,
            (true, false) => LocalTransactionState::Commit,
            (false, false) => LocalTransactionState::Rollback,
        }
    }

    /// Idempotent: it only reads the stored decision.
    fn check_local_transaction(&self, msg: &MessageExt) -> LocalTransactionState {
        let decided = Orders::order_id(&msg.body)
            .and_then(|id| self.0.decided.lock().unwrap().get(&id).copied());
        println!("check-back for {}: {decided:?}", String::from_utf8_lossy(&msg.body));
        match decided {
            Some(true) => LocalTransactionState::Commit,
            Some(false) => LocalTransactionState::Rollback,
            None => LocalTransactionState::Unknown,
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let topic = args.first().cloned().unwrap_or_else(|| "TopicTest".into());
    let count: u32 = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(12);
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let builder = Producer::builder().name_server(&namesrv).group("example_txn_producer");
    let producer = match TransactionProducer::start(builder, Listener(Orders::default())) {
        Ok(p) => p,
        Err(e) => return fail("cannot start the producer", &e),
    };
    let mut committed = BTreeSet::new();
    for id in 0..count {
        let body = format!("order-{id}");
        match producer.send_in_transaction(&Message::new(topic.as_str(), body.as_str())) {
            Ok(r) => println!(
                "{body}: half stored ({}), local transaction {:?}",
                r.transaction_id, r.state
            ),
            Err(e) => return fail(&format!("{body} not sent"), &e),
        }
        if id % 3 != 0 {
            committed.insert(body);
        }
    }
    let arrived = match receive(&namesrv, &topic, &committed) {
        Ok(a) => a,
        Err(e) => return fail("cannot consume", &e),
    };
    producer.shutdown();
    report(&committed, &arrived)
}

/// Consumes `topic` from its first offset until every expected order arrived or time is up;
/// returns how often each order arrived.
fn receive(
    namesrv: &str,
    topic: &str,
    expected: &BTreeSet<String>,
) -> Result<BTreeMap<String, usize>, rocketmq::client::ClientError> {
    let consumer = PushConsumer::builder()
        .name_server(namesrv)
        .group(format!("example_txn_consumer_{}", std::process::id()))
        .consume_from(ConsumeFrom::FirstOffset)
        .build()?;
    consumer.subscribe(topic, "*")?;
    let arrived: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let sink = Arc::clone(&arrived);
    consumer.start(move |msgs, _| {
        let mut seen = sink.lock().unwrap();
        for m in msgs {
            let body = String::from_utf8_lossy(&m.body).into_owned();
            if body.starts_with("order-") {
                *seen.entry(body).or_default() += 1;
            }
        }
        ConsumeStatus::Success
    })?;
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if expected.iter().all(|o| arrived.lock().unwrap().contains_key(o)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    consumer.shutdown();
    let seen = arrived.lock().unwrap().clone();
    Ok(seen)
}

fn report(committed: &BTreeSet<String>, arrived: &BTreeMap<String, usize>) -> ExitCode {
    for (order, n) in arrived {
        println!("arrived: {order} ×{n}");
    }
    let missing: Vec<_> = committed.iter().filter(|o| !arrived.contains_key(*o)).collect();
    let unexpected: Vec<_> = arrived.keys().filter(|o| !committed.contains(*o)).collect();
    let twice: Vec<_> = arrived.iter().filter(|(_, n)| **n > 1).map(|(o, _)| o).collect();
    if missing.is_empty() && unexpected.is_empty() && twice.is_empty() {
        println!(
            "OK: {} committed orders arrived once each; no rolled-back order arrived",
            committed.len()
        );
        return ExitCode::SUCCESS;
    }
    eprintln!("missing {missing:?}, rolled back but arrived {unexpected:?}, twice {twice:?}");
    ExitCode::FAILURE
}

fn fail(what: &str, e: &rocketmq::client::ClientError) -> ExitCode {
    eprintln!("{what}: {e}");
    ExitCode::FAILURE
}
