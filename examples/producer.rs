//! Basic producer: sends `count` messages to `topic` synchronously, asynchronously or one-way.
//!
//! Usage: cargo run --example producer -- [sync|async|oneway] [topic] [count]
//! The nameserver comes from NAMESRV_ADDR (default 127.0.0.1:9876).

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rocketmq::client::{ClientError, Message, Producer};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().cloned().unwrap_or_else(|| "sync".into());
    let topic = args.get(1).cloned().unwrap_or_else(|| "TopicTest".into());
    let count: usize = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(10);
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let producer = match Producer::builder().name_server(&namesrv).group("example_producer").build()
    {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let result = match mode.as_str() {
        "sync" => send_sync(&producer, &topic, count),
        "async" => send_async(&producer, &topic, count),
        "oneway" => send_oneway(&producer, &topic, count),
        other => {
            eprintln!("unknown mode {other}; use sync, async or oneway");
            return ExitCode::from(2);
        }
    };
    producer.shutdown();
    match result {
        Ok(()) => {
            println!("OK: {count} messages sent ({mode})");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn fail(e: &ClientError) -> ExitCode {
    eprintln!("producer failed: {e}");
    ExitCode::FAILURE
}

fn message(topic: &str, i: usize) -> Message {
    Message::new(topic, format!("Hello RocketMQ {i}"))
        .with_tags("TagA")
        .with_keys([format!("key-{i}")])
}

fn send_sync(producer: &Producer, topic: &str, count: usize) -> Result<(), ClientError> {
    for i in 0..count {
        let r = producer.send(&message(topic, i))?;
        println!("{:?} msg_id={} queue={} offset={}", r.status, r.msg_id, r.queue, r.queue_offset);
    }
    Ok(())
}

fn send_async(producer: &Producer, topic: &str, count: usize) -> Result<(), ClientError> {
    let failed = Arc::new(AtomicUsize::new(0));
    for i in 0..count {
        let failed = Arc::clone(&failed);
        producer.send_async(message(topic, i), move |result| match result {
            Ok(r) => {
                println!("async ok msg_id={} queue={} offset={}", r.msg_id, r.queue, r.queue_offset)
            }
            Err(e) => {
                eprintln!("async send {i} failed: {e}");
                failed.fetch_add(1, Ordering::Relaxed);
            }
        })?;
    }
    if !producer.flush(Duration::from_secs(30)) {
        return Err(ClientError::InvalidArgument {
            what: "async sends did not finish in 30 s".into(),
        });
    }
    match failed.load(Ordering::Relaxed) {
        0 => Ok(()),
        n => Err(ClientError::InvalidArgument { what: format!("{n} async sends failed") }),
    }
}

fn send_oneway(producer: &Producer, topic: &str, count: usize) -> Result<(), ClientError> {
    for i in 0..count {
        producer.send_oneway(&message(topic, i))?;
        println!("oneway sent #{i}");
    }
    Ok(())
}
