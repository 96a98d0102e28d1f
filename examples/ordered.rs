//! Ordered messages: every message of one order id (the sharding key) goes to the same queue,
//! so consumers see each order's steps in the order they were sent. Sends `orders` x 5 steps,
//! then reads them back with a pull consumer and checks the per-order sequence.
//!
//! Usage: cargo run --example ordered -- [topic] [orders]
//! The nameserver comes from NAMESRV_ADDR (default 127.0.0.1:9876).

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rocketmq::client::{ConsumeFrom, Message, Producer, PullConsumer};

const STEPS: usize = 5;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let topic = args.first().cloned().unwrap_or_else(|| "OrderedTopic".into());
    let orders: usize = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(10);
    match run(&topic, orders) {
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

fn run(topic: &str, orders: usize) -> Result<(), Box<dyn std::error::Error>> {
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

    let consumer = PullConsumer::builder()
        .name_server(&namesrv)
        .group(format!("example_ordered_{run_id}"))
        .consume_from(ConsumeFrom::FirstOffset)
        .build()?;
    consumer.subscribe(topic, "*")?;
    let mut next_step: HashMap<String, usize> = HashMap::new();
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen < orders * STEPS && Instant::now() < deadline {
        for m in consumer.poll(Duration::from_secs(1))? {
            let body = String::from_utf8_lossy(&m.body).to_string();
            let Some((key, step)) = body.rsplit_once(':') else { continue };
            if !key.starts_with(&format!("order-{run_id}-")) {
                continue;
            }
            let step: usize = step.parse()?;
            let expected = next_step.entry(key.to_string()).or_insert(0);
            if step != *expected {
                return Err(format!("{key}: got step {step}, expected {expected}").into());
            }
            *expected += 1;
            seen += 1;
        }
    }
    consumer.shutdown();
    if seen < orders * STEPS {
        return Err(format!("read {seen} of {} messages in 60 s", orders * STEPS).into());
    }
    Ok(())
}
