//! Lite pull consumer: subscribes to `topic`, polls until `count` messages arrived (or 60 s
//! pass, a failure) and commits the offsets.
//!
//! Usage: cargo run --example pull_consumer -- [topic] [count] [group]
//! The nameserver comes from NAMESRV_ADDR (default 127.0.0.1:9876).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use rocketmq::client::{ClientError, ConsumeFrom, PullConsumer};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let topic = args.first().cloned().unwrap_or_else(|| "TopicTest".into());
    let count: usize = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(10);
    let group = args.get(2).cloned().unwrap_or_else(|| "example_pull_consumer".into());
    match run(&topic, count, &group) {
        Ok(got) if got >= count => {
            println!("OK: polled {got} messages and committed");
            ExitCode::SUCCESS
        }
        Ok(got) => {
            eprintln!("pull_consumer failed: polled {got} of {count} messages in 60 s");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("pull_consumer failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(topic: &str, count: usize, group: &str) -> Result<usize, ClientError> {
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let consumer = PullConsumer::builder()
        .name_server(&namesrv)
        .group(group)
        .consume_from(ConsumeFrom::FirstOffset)
        .auto_commit(false)
        .build()?;
    consumer.subscribe(topic, "*")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = 0;
    while got < count && Instant::now() < deadline {
        for m in consumer.poll(Duration::from_secs(1))? {
            println!(
                "{}#{} offset={} {}",
                m.topic,
                m.queue_id,
                m.queue_offset,
                String::from_utf8_lossy(&m.body)
            );
            got += 1;
        }
        consumer.commit()?;
    }
    for mq in consumer.assignment() {
        println!("committed {mq}: {:?}", consumer.committed(&mq)?);
    }
    consumer.shutdown();
    Ok(got)
}
