//! Ordered messages: every message of one order id (the sharding key) goes to the same queue,
//! so consumers see each order's steps in the order they were sent. Sends `orders` x 5 steps,
//! then reads them back and checks the per-order sequence: with a pull consumer (`pull`, the
//! default) or with the push consumer's orderly listener (`orderly`), which consumes each queue
//! on one thread at a time under the queue's broker lock, so several instances of the group
//! may run at once and still see each order in sequence.
//!
//! Usage: cargo run --example ordered -- [topic] [orders] [pull|orderly]
//! The nameserver comes from NAMESRV_ADDR (default 127.0.0.1:9876).

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq::client::{
    ConsumeFrom, ConsumeOrderlyStatus, Message, MessageExt, Producer, PullConsumer, PushConsumer,
};

const STEPS: usize = 5;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let topic = args.first().cloned().unwrap_or_else(|| "OrderedTopic".into());
    let orders: usize = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(10);
    let orderly = args.get(2).is_some_and(|m| m == "orderly");
    match run(&topic, orders, orderly) {
        Ok(()) => {
            println!("OK: {orders} orders x {STEPS} steps kept their order");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ordered failed: {e}");
            ExitCode::FAILURE
        }
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The next step expected of each order of this run.
#[derive(Default)]
struct Checker {
    prefix: String,
    next_step: HashMap<String, usize>,
    seen: usize,
}

impl Checker {
    /// Checks one consumed message; messages of other runs are skipped.
    fn check(&mut self, m: &MessageExt) -> Result<(), Error> {
        let body = String::from_utf8_lossy(&m.body).to_string();
        let Some((key, step)) = body.rsplit_once(':') else { return Ok(()) };
        if !key.starts_with(&self.prefix) {
            return Ok(());
        }
        let step: usize = step.parse()?;
        let expected = self.next_step.entry(key.to_string()).or_insert(0);
        if step != *expected {
            return Err(format!("{key}: got step {step}, expected {expected}").into());
        }
        *expected += 1;
        self.seen += 1;
        Ok(())
    }
}

fn run(topic: &str, orders: usize, orderly: bool) -> Result<(), Error> {
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let producer = Producer::builder().name_server(&namesrv).group("example_ordered").build()?;
    let run_id = std::process::id();
    for step in 0..STEPS {
        for order in 0..orders {
            let key = format!("order-{run_id}-{order}");
            let msg = Message::new(topic, format!("{key}:{step}")).with_keys([key.as_str()]);
            let r = producer.send_orderly(&msg, &key)?;
            println!("{key} step {step} -> {} offset {}", r.queue, r.queue_offset);
        }
    }
    producer.shutdown();
    let checker = Checker { prefix: format!("order-{run_id}-"), ..Checker::default() };
    let seen = if orderly {
        read_orderly(&namesrv, topic, run_id, checker, orders * STEPS)?
    } else {
        read_pull(&namesrv, topic, run_id, checker, orders * STEPS)?
    };
    if seen < orders * STEPS {
        return Err(format!("read {seen} of {} messages in 60 s", orders * STEPS).into());
    }
    Ok(())
}

/// Reads with a pull consumer; returns how many messages of this run were checked.
fn read_pull(
    namesrv: &str,
    topic: &str,
    run_id: u32,
    mut checker: Checker,
    want: usize,
) -> Result<usize, Error> {
    let consumer = PullConsumer::builder()
        .name_server(namesrv)
        .group(format!("example_ordered_{run_id}"))
        .consume_from(ConsumeFrom::FirstOffset)
        .build()?;
    consumer.subscribe(topic, "*")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while checker.seen < want && Instant::now() < deadline {
        for m in consumer.poll(Duration::from_secs(1))? {
            checker.check(&m)?;
        }
    }
    consumer.shutdown();
    Ok(checker.seen)
}

/// Reads with the orderly push listener; returns how many messages of this run were checked.
fn read_orderly(
    namesrv: &str,
    topic: &str,
    run_id: u32,
    checker: Checker,
    want: usize,
) -> Result<usize, Error> {
    let consumer = PushConsumer::builder()
        .name_server(namesrv)
        .group(format!("example_orderly_{run_id}"))
        .consume_from(ConsumeFrom::FirstOffset)
        .build()?;
    consumer.subscribe(topic, "*")?;
    // The listener keeps the first order violation; a queue's calls never overlap, so the
    // checker sees each order's messages one at a time.
    let state: Arc<Mutex<(Checker, Option<String>)>> = Arc::new(Mutex::new((checker, None)));
    let sink = Arc::clone(&state);
    consumer.start_orderly(move |msgs, _ctx| {
        let mut state = sink.lock().unwrap_or_else(|e| e.into_inner());
        for m in msgs {
            if let Err(e) = state.0.check(m) {
                state.1.get_or_insert(e.to_string());
            }
        }
        ConsumeOrderlyStatus::Success
    })?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (seen, failed) = {
            let state = state.lock().unwrap_or_else(|e| e.into_inner());
            (state.0.seen, state.1.clone())
        };
        if let Some(e) = failed {
            return Err(e.into());
        }
        if seen >= want || Instant::now() >= deadline {
            consumer.shutdown();
            return Ok(seen);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
