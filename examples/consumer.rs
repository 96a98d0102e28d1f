//! Basic push consumer: subscribes to `topic` and prints messages until `count` have arrived
//! (or 60 s pass, which is a failure).
//!
//! Usage: cargo run --example consumer -- [topic] [count] [group] [tag expression]
//! The nameserver comes from NAMESRV_ADDR (default 127.0.0.1:9876).

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocketmq::client::{ConsumeFrom, ConsumeStatus, PushConsumer};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let topic = args.first().cloned().unwrap_or_else(|| "TopicTest".into());
    let count: usize = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(10);
    let group = args.get(2).cloned().unwrap_or_else(|| "example_consumer".into());
    let expression = args.get(3).cloned().unwrap_or_else(|| "*".into());
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let received = Arc::new(AtomicUsize::new(0));
    let consumer = match PushConsumer::builder()
        .name_server(&namesrv)
        .group(&group)
        .consume_from(ConsumeFrom::FirstOffset)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("consumer failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let counter = Arc::clone(&received);
    let started = consumer.subscribe(&topic, &expression).and_then(|()| {
        consumer.start(move |msgs, ctx| {
            for m in msgs {
                let body = String::from_utf8_lossy(&m.body);
                println!(
                    "{} {} offset={} tags={:?} body={body}",
                    ctx.queue(),
                    m.msg_id(),
                    m.queue_offset,
                    m.tags()
                );
                counter.fetch_add(1, Ordering::Relaxed);
            }
            ConsumeStatus::Success
        })
    });
    if let Err(e) = started {
        eprintln!("consumer failed: {e}");
        return ExitCode::FAILURE;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.load(Ordering::Relaxed) < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    consumer.shutdown();
    let got = received.load(Ordering::Relaxed);
    if got >= count {
        println!("OK: received {got} messages");
        ExitCode::SUCCESS
    } else {
        eprintln!("consumer failed: received {got} of {count} messages in 60 s");
        ExitCode::FAILURE
    }
}
