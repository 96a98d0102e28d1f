//! Request-reply (RPC over RocketMQ): a responder answers every request on `topic` with
//! `reply to <body>`, and a requester sends `count` requests and waits for each reply.
//!
//! Usage: cargo run --example rpc -- [responder|requester|both] [topic] [count]
//! `both` (the default) runs the two in one process. The nameserver comes from NAMESRV_ADDR
//! (default 127.0.0.1:9876). Create the topic first (`mqadmin updateTopic -t RpcTopic -b …`):
//! a push consumer that starts before its topic has a route heartbeats to no broker, so the
//! responder would only join its group at its next heartbeat, 30 s later. `RUST_LOG=debug`
//! shows the client's logs.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use rocketmq::client::{
    create_reply, ClientError, ConsumeFrom, ConsumeStatus, Producer, PushConsumer,
};

/// How long one request waits for its reply.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .target(env_logger::Target::Stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let role = args.first().map_or("both", String::as_str).to_string();
    let topic = args.get(1).cloned().unwrap_or_else(|| "RpcTopic".into());
    let count: usize = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(10);
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    let result = match role.as_str() {
        "responder" => match responder(&namesrv, &topic) {
            Ok(_running) => {
                println!("responding on {topic}; Ctrl-C to stop");
                loop {
                    std::thread::park();
                }
            }
            Err(e) => Err(e),
        },
        "requester" => requester(&namesrv, &topic, count),
        "both" => responder(&namesrv, &topic).and_then(|r| {
            let done = requester(&namesrv, &topic, count);
            r.shutdown();
            done
        }),
        other => {
            eprintln!("unknown role {other}: use responder, requester or both");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rpc failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Starts a consumer that answers each request through a producer of its own (which its
/// listener owns).
fn responder(namesrv: &str, topic: &str) -> Result<PushConsumer, ClientError> {
    let producer = Producer::builder().name_server(namesrv).group("rpc_responder_pg").build()?;
    let consumer = PushConsumer::builder()
        .name_server(namesrv)
        .group("rpc_responder")
        .consume_from(ConsumeFrom::LastOffset)
        .build()?;
    consumer.subscribe(topic, "*")?;
    let replier = producer;
    consumer.start(move |msgs, _ctx| {
        for request in msgs {
            let body = format!("reply to {}", String::from_utf8_lossy(&request.body));
            // A message that is not a request (no CORRELATION_ID) is simply not answered.
            let sent = create_reply(request, body).and_then(|reply| replier.send_reply(&reply));
            if let Err(e) = sent {
                eprintln!("no reply to {}: {e}", request.msg_id());
            }
        }
        ConsumeStatus::Success
    })?;
    Ok(consumer)
}

/// Sends `count` requests one after another and prints each reply and its round trip.
fn requester(namesrv: &str, topic: &str, count: usize) -> Result<(), ClientError> {
    let producer = Producer::builder().name_server(namesrv).group("rpc_requester_pg").build()?;
    let first = warm_up(&producer, topic)?;
    println!("responder is up (first reply: {first})");
    for i in 0..count {
        let started = Instant::now();
        let msg = rocketmq::client::Message::new(topic, format!("request {i}"));
        let reply = producer.request(&msg, REQUEST_TIMEOUT)?;
        println!(
            "{} in {} us (correlation id {})",
            String::from_utf8_lossy(&reply.body),
            started.elapsed().as_micros(),
            reply.property("CORRELATION_ID").unwrap_or("?")
        );
    }
    producer.shutdown();
    Ok(())
}

/// Requests until the responder answers (it may still be joining its group), for up to 30 s.
fn warm_up(producer: &Producer, topic: &str) -> Result<String, ClientError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let msg = rocketmq::client::Message::new(topic, "warm-up");
        match producer.request(&msg, REQUEST_TIMEOUT) {
            Ok(reply) => return Ok(String::from_utf8_lossy(&reply.body).into_owned()),
            Err(ClientError::RequestTimeout { .. }) if Instant::now() < deadline => {}
            Err(e) => return Err(e),
        }
    }
}
