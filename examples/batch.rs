//! Batch send: sends `count` messages of `topic` in one SEND_BATCH_MESSAGE request; they land
//! in one queue with consecutive offsets.
//!
//! Usage: cargo run --example batch -- [topic] [count]
//! The nameserver comes from NAMESRV_ADDR (default 127.0.0.1:9876).

use std::process::ExitCode;

use rocketmq::client::{Message, Producer};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let topic = args.first().cloned().unwrap_or_else(|| "BatchTopic".into());
    let count: usize = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(10);
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let run = || -> Result<(), Box<dyn std::error::Error>> {
        let producer = Producer::builder().name_server(&namesrv).group("example_batch").build()?;
        let msgs: Vec<Message> = (0..count)
            .map(|i| {
                Message::new(&topic, format!("batch message {i}")).with_keys([format!("batch-{i}")])
            })
            .collect();
        let r = producer.send_batch(&msgs)?;
        let ids: Vec<&str> = r.msg_id.split(',').collect();
        println!(
            "{:?}: {} messages to {} from offset {}",
            r.status,
            ids.len(),
            r.queue,
            r.queue_offset
        );
        for id in &ids {
            println!("  msg_id={id}");
        }
        if ids.len() != count {
            return Err(format!("expected {count} ids, got {}", ids.len()).into());
        }
        producer.shutdown();
        Ok(())
    };
    match run() {
        Ok(()) => {
            println!("OK: batch of {count} sent");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("batch failed: {e}");
            ExitCode::FAILURE
        }
    }
}
