//! Broadcasting: two consumers of one group each receive every message (clustering would split
//! them). Sends `count` messages and waits until both consumers have all of them.
//!
//! Usage: cargo run --example broadcast -- [topic] [count]
//! The nameserver comes from NAMESRV_ADDR (default 127.0.0.1:9876).

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq::client::{ConsumeFrom, ConsumeStatus, Message, MessageModel, Producer, PushConsumer};

type Seen = Arc<Mutex<HashSet<String>>>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let topic = args.first().cloned().unwrap_or_else(|| "BroadcastTopic".into());
    let count: usize = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(10);
    match run(&topic, count) {
        Ok(()) => {
            println!("OK: both consumers received all {count} messages");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("broadcast failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn consumer(
    namesrv: &str,
    topic: &str,
    name: &str,
    seen: &Seen,
) -> rocketmq::client::Result<PushConsumer> {
    let dir = std::env::temp_dir().join("rocketmq-broadcast-example");
    let c = PushConsumer::builder()
        .name_server(namesrv)
        .group("example_broadcast")
        .instance_name(format!("{name}-{}", std::process::id()))
        .message_model(MessageModel::Broadcasting)
        .consume_from(ConsumeFrom::LastOffset)
        .offset_store_dir(dir)
        .build()?;
    c.subscribe(topic, "*")?;
    let (seen, name) = (Arc::clone(seen), name.to_string());
    c.start(move |msgs, _| {
        for m in msgs {
            println!("{name} got {}", m.msg_id());
            seen.lock().unwrap().insert(m.msg_id().to_string());
        }
        ConsumeStatus::Success
    })?;
    Ok(c)
}

fn run(topic: &str, count: usize) -> Result<(), Box<dyn std::error::Error>> {
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let producer =
        Producer::builder().name_server(&namesrv).group("example_broadcast_producer").build()?;
    // Make sure the topic exists before the consumers start at its last offset.
    producer.send(&Message::new(topic, "warm-up"))?;
    let (a, b): (Seen, Seen) = Default::default();
    let consumer_a = consumer(&namesrv, topic, "consumer-a", &a)?;
    let consumer_b = consumer(&namesrv, topic, "consumer-b", &b)?;
    while consumer_a.assignment().is_empty() || consumer_b.assignment().is_empty() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut sent = HashSet::new();
    for i in 0..count {
        sent.insert(producer.send(&Message::new(topic, format!("broadcast {i}")))?.msg_id);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(sent.is_subset(&a.lock().unwrap()) && sent.is_subset(&b.lock().unwrap())) {
        if Instant::now() > deadline {
            return Err("not every consumer got every message within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    consumer_a.shutdown();
    consumer_b.shutdown();
    producer.shutdown();
    Ok(())
}
