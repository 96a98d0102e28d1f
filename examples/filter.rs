//! Tag and SQL92 subscriptions side by side: sends 10 orders with a tag (`big` or `small`) and
//! properties `amount` and `region`, then consumes them with a tag subscription (`big`) and
//! a SQL92 one (`amount > 50 AND region = 'eu'`), and prints what each received.
//!
//! Usage: cargo run --example filter -- [topic]
//! The nameserver comes from NAMESRV_ADDR (default 127.0.0.1:9876); the topic must exist (or
//! the broker auto-create topics) and the broker must have `enablePropertyFilter` on (the
//! default here).

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq::client::{
    ConsumeFrom, ConsumeStatus, Message, MessageSelector, Producer, PushConsumer,
};

/// Starts a consumer of `topic` with `selector`; returns it and what it receives (bodies).
fn consume(
    namesrv: &str,
    group: &str,
    topic: &str,
    selector: &MessageSelector,
) -> rocketmq::client::Result<(PushConsumer, Arc<Mutex<BTreeSet<String>>>)> {
    let got: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let consumer = PushConsumer::builder()
        .name_server(namesrv)
        .group(group)
        .consume_from(ConsumeFrom::FirstOffset)
        .build()?;
    consumer.subscribe_with(topic, selector)?;
    let sink = Arc::clone(&got);
    consumer.start(move |msgs, _| {
        let mut sink = sink.lock().unwrap_or_else(|p| p.into_inner());
        sink.extend(msgs.iter().map(|m| String::from_utf8_lossy(&m.body).into_owned()));
        ConsumeStatus::Success
    })?;
    Ok((consumer, got))
}

fn run(namesrv: &str, topic: &str) -> rocketmq::client::Result<bool> {
    let producer = Producer::builder().name_server(namesrv).group("example_filter_pg").build()?;
    // Orders 1..=10: amount = 10 × n, region eu for odd n; tag big above 50.
    let mut want_tag = BTreeSet::new();
    let mut want_sql = BTreeSet::new();
    for n in 1..=10u32 {
        let (amount, region) = (n * 10, if n % 2 == 1 { "eu" } else { "us" });
        let tag = if amount > 50 { "big" } else { "small" };
        let body = format!("order-{n} amount={amount} region={region}");
        let msg = Message::new(topic, body.as_str())
            .with_tags(tag)
            .with_property("amount", amount.to_string())
            .with_property("region", region);
        producer.send(&msg)?;
        if tag == "big" {
            want_tag.insert(body.clone());
        }
        if amount > 50 && region == "eu" {
            want_sql.insert(body);
        }
    }
    producer.shutdown();
    let by_tag = MessageSelector::tag("big");
    let by_sql = MessageSelector::sql92("amount > 50 AND region = 'eu'");
    let (c1, tagged) = consume(namesrv, "example_filter_tag", topic, &by_tag)?;
    let (c2, selected) = consume(namesrv, "example_filter_sql", topic, &by_sql)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let done = || {
        let t = tagged.lock().unwrap_or_else(|p| p.into_inner());
        let s = selected.lock().unwrap_or_else(|p| p.into_inner());
        want_tag.is_subset(&t) && want_sql.is_subset(&s)
    };
    while !done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    c1.shutdown();
    c2.shutdown();
    let tagged = tagged.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let selected = selected.lock().unwrap_or_else(|p| p.into_inner()).clone();
    println!("tag 'big' received {}:", tagged.len());
    tagged.iter().for_each(|b| println!("  {b}"));
    println!("SQL92 \"amount > 50 AND region = 'eu'\" received {}:", selected.len());
    selected.iter().for_each(|b| println!("  {b}"));
    // A rerun finds earlier runs' orders too (new groups start from the first offset).
    Ok(tagged == want_tag && selected == want_sql)
}

fn main() -> ExitCode {
    env_logger::init();
    let topic = std::env::args().nth(1).unwrap_or_else(|| "FilterTopic".into());
    let namesrv = std::env::var("NAMESRV_ADDR").unwrap_or_else(|_| "127.0.0.1:9876".into());
    match run(&namesrv, &topic) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("filter: not every expected order arrived within 30 s");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("filter: {e}");
            ExitCode::FAILURE
        }
    }
}
