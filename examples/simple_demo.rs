//! One process that produces and consumes: sends `count` messages to `topic` and waits until a
//! push consumer has received every one of them.
//!
//! Usage: cargo run --example simple_demo -- [topic] [count]
//! The nameserver comes from NAMESRV_ADDR (default 127.0.0.1:9876).

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq::client::{ConsumeFrom, ConsumeStatus, Message, Producer, PushConsumer};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let topic = args.first().cloned().unwrap_or_else(|| "SimpleDemoTopic".into());
    let count: usize = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(10);
    match run(&topic, count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simple_demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(topic: &str, count: usize) -> Result<(), Box<dyn std::error::Error>> {
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let producer =
        Producer::builder().name_server(&namesrv).group("simple_demo_producer").build()?;
    let mut expected = HashSet::new();
    for i in 0..count {
        let msg = Message::new(topic, format!("hello #{i}")).with_tags("TagA");
        let r = producer.send(&msg)?;
        println!("sent {} -> {} offset {} ({:?})", r.msg_id, r.queue, r.queue_offset, r.status);
        expected.insert(r.msg_id);
    }

    let received = Arc::new(Mutex::new(HashSet::new()));
    let consumer = PushConsumer::builder()
        .name_server(&namesrv)
        .group("simple_demo_consumer")
        .consume_from(ConsumeFrom::FirstOffset)
        .build()?;
    consumer.subscribe(topic, "*")?;
    let sink = Arc::clone(&received);
    consumer.start(move |msgs, _ctx| {
        for m in msgs {
            println!("received {} from {} offset {}", m.msg_id(), m.topic, m.queue_offset);
            sink.lock().unwrap().insert(m.msg_id().to_string());
        }
        ConsumeStatus::Success
    })?;

    let deadline = Instant::now() + Duration::from_secs(60);
    while !expected.is_subset(&received.lock().unwrap()) {
        if Instant::now() > deadline {
            let missing = expected.difference(&received.lock().unwrap()).count();
            return Err(format!("{missing} of {count} messages never arrived").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    consumer.shutdown();
    producer.shutdown();
    println!("OK: all {count} messages sent and received");
    Ok(())
}
