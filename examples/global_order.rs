//! Global order: a topic with exactly one queue keeps every message in send order, and the
//! orderly listener consumes that queue on one thread at a time, so the consumer sees the
//! whole topic in the order it was sent (at the price of a single queue's throughput).
//! Creates the topic with one queue on every master of the cluster, sends `count` messages
//! synchronously, and checks that the orderly consumer sees 0, 1, 2, … in sequence.
//!
//! Usage: cargo run --example global_order -- [topic] [count] [cluster]
//! The nameserver comes from NAMESRV_ADDR (default 127.0.0.1:9876).

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq::client::{
    Admin, ConsumeFrom, ConsumeOrderlyStatus, Message, Producer, PushConsumer, TopicSpec,
};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let topic = args.first().cloned().unwrap_or_else(|| "GlobalOrderTopic".into());
    let count: usize = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(100);
    let cluster = args.get(2).cloned().unwrap_or_else(|| "DefaultCluster".into());
    match run(&topic, count, &cluster) {
        Ok(()) => {
            println!("OK: {count} messages consumed in global send order");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("global_order failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(topic: &str, count: usize, cluster: &str) -> Result<(), Error> {
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let admin = Admin::builder().name_server(&namesrv).build()?;
    // One queue per broker is global order only with one broker: the example expects one.
    admin.create_topic(cluster, &TopicSpec::new(topic).queues(1).order(true))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !admin.topic_route(topic).is_ok_and(|r| !r.queue_datas.is_empty()) {
        if Instant::now() >= deadline {
            return Err(format!("no route for {topic} after 30 s").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let run_id = std::process::id();
    let producer = Producer::builder().name_server(&namesrv).group("example_global").build()?;
    for i in 0..count {
        // Sync sends, one after the other: the send order is the store order.
        producer.send(&Message::new(topic, format!("{run_id}:{i}")))?;
    }
    producer.shutdown();
    consume(&namesrv, topic, run_id, count)
}

/// What the listener saw so far: the next number expected and the first violation.
#[derive(Default)]
struct Progress {
    next: usize,
    failed: Option<String>,
}

fn consume(namesrv: &str, topic: &str, run_id: u32, count: usize) -> Result<(), Error> {
    let consumer = PushConsumer::builder()
        .name_server(namesrv)
        .group(format!("example_global_{run_id}"))
        .consume_from(ConsumeFrom::FirstOffset)
        .build()?;
    consumer.subscribe(topic, "*")?;
    let progress: Arc<Mutex<Progress>> = Arc::default();
    let sink = Arc::clone(&progress);
    let prefix = format!("{run_id}:");
    consumer.start_orderly(move |msgs, _ctx| {
        let mut p = sink.lock().unwrap_or_else(|e| e.into_inner());
        for m in msgs {
            let body = String::from_utf8_lossy(&m.body).to_string();
            let Some(n) = body.strip_prefix(&prefix).and_then(|n| n.parse::<usize>().ok()) else {
                continue;
            };
            if n != p.next {
                let seen = format!("got {n}, expected {}", p.next);
                p.failed.get_or_insert(seen);
            }
            p.next = n + 1;
        }
        ConsumeOrderlyStatus::Success
    })?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (next, failed) = {
            let p = progress.lock().unwrap_or_else(|e| e.into_inner());
            (p.next, p.failed.clone())
        };
        if let Some(e) = failed {
            return Err(e.into());
        }
        if next >= count {
            consumer.shutdown();
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("consumed {next} of {count} in 60 s").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
