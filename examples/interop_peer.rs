//! The Rust side of the ali-ons interop test (`tests/interop/run.sh`): produces messages given
//! as JSON lines, or consumes a topic and prints every message as a JSON line, so the Node
//! harness can compare both directions byte for byte.
//!
//! ```text
//! interop_peer produce --namesrv ADDR --group G
//!     stdin:  {"topic":..,"tags":..,"keys":[..],"props":{..},"body":"<base64>"} per line
//!     stdout: {"status":"SEND_OK","msgId":..,"offsetMsgId":..,"queueId":n,"queueOffset":n}
//!             or {"error":".."} per input line
//! interop_peer consume --namesrv ADDR --group G --topic T --count N --timeout-ms MS
//!     push consumer (clustering, from the first offset); stdout: one line per message
//!     {"topic","tags","keys":[..],"props":{..},"body":"<base64>","sysFlag","msgId",
//!      "queueId","queueOffset","reconsumeTimes"}; exits after N distinct messages or MS.
//! ```

use std::collections::{BTreeMap, HashSet};
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rocketmq::client::{ConsumeFrom, ConsumeStatus, Message, MessageExt, Producer, PushConsumer};
use serde_json::{json, Value};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .target(env_logger::Target::Stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprintln!("usage: interop_peer produce|consume --namesrv ADDR --group G [...]");
        return ExitCode::from(2);
    };
    let opts = match parse_opts(&args[1..]) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("interop_peer: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match command.as_str() {
        "produce" => produce(&opts),
        "consume" => consume(&opts),
        other => Err(format!("unknown command {other}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("interop_peer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_opts(args: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let name = flag.strip_prefix("--").ok_or_else(|| format!("unexpected argument {flag}"))?;
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        out.insert(name.to_string(), value.clone());
    }
    Ok(out)
}

fn opt<'a>(opts: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, String> {
    opts.get(name).map(String::as_str).ok_or_else(|| format!("--{name} is required"))
}

fn produce(opts: &BTreeMap<String, String>) -> Result<(), String> {
    let producer = Producer::builder()
        .name_server(opt(opts, "namesrv")?)
        .group(opt(opts, "group")?)
        .build()
        .map_err(|e| format!("producer: {e}"))?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    for line in io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let result = match message_from_json(&line) {
            Ok(msg) => match producer.send(&msg) {
                Ok(r) => json!({
                    "status": if r.status == rocketmq::client::SendStatus::SendOk {
                        "SEND_OK"
                    } else {
                        "NOT_OK"
                    },
                    "msgId": r.msg_id,
                    "offsetMsgId": r.offset_msg_id,
                    "queueId": r.queue.queue_id,
                    "queueOffset": r.queue_offset,
                }),
                Err(e) => json!({ "error": e.to_string() }),
            },
            Err(e) => json!({ "error": e }),
        };
        writeln!(out, "{result}").map_err(|e| format!("stdout: {e}"))?;
    }
    out.flush().map_err(|e| format!("stdout: {e}"))?;
    producer.shutdown();
    Ok(())
}

fn message_from_json(line: &str) -> Result<Message, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("bad input line: {e}"))?;
    let topic = v["topic"].as_str().ok_or("no topic")?;
    let body = base64_decode(v["body"].as_str().unwrap_or(""))?;
    let mut msg = Message::new(topic, body);
    if let Some(tags) = v["tags"].as_str() {
        msg = msg.with_tags(tags);
    }
    if let Some(keys) = v["keys"].as_array() {
        msg = msg.with_keys(keys.iter().filter_map(Value::as_str));
    }
    if let Some(props) = v["props"].as_object() {
        for (k, val) in props {
            msg = msg.with_property(k.as_str(), val.as_str().unwrap_or_default());
        }
    }
    Ok(msg)
}

fn consume(opts: &BTreeMap<String, String>) -> Result<(), String> {
    let count: usize = opt(opts, "count")?.parse().map_err(|e| format!("--count: {e}"))?;
    let timeout_ms: u64 =
        opt(opts, "timeout-ms")?.parse().map_err(|e| format!("--timeout-ms: {e}"))?;
    let topic = opt(opts, "topic")?;
    let consumer = PushConsumer::builder()
        .name_server(opt(opts, "namesrv")?)
        .group(opt(opts, "group")?)
        .consume_from(ConsumeFrom::FirstOffset)
        .build()
        .map_err(|e| format!("consumer: {e}"))?;
    consumer.subscribe(topic, "*").map_err(|e| format!("subscribe: {e}"))?;
    let (tx, rx) = crossbeam_channel::unbounded::<MessageExt>();
    consumer
        .start(move |msgs, _ctx| {
            for m in msgs {
                let _ = tx.send(m.clone());
            }
            ConsumeStatus::Success
        })
        .map_err(|e| format!("start: {e}"))?;

    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    let mut seen = HashSet::new();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    while seen.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let Ok(m) = rx.recv_timeout(left) else { break };
        seen.insert(m.offset_msg_id.clone());
        writeln!(out, "{}", message_to_json(&m)).map_err(|e| format!("stdout: {e}"))?;
    }
    out.flush().map_err(|e| format!("stdout: {e}"))?;
    consumer.shutdown_timeout(Duration::from_secs(5));
    Ok(())
}

fn message_to_json(m: &MessageExt) -> Value {
    let keys: Vec<&str> = m.keys().map(|k| k.split(' ').collect()).unwrap_or_default();
    json!({
        "topic": m.topic,
        "tags": m.tags(),
        "keys": keys,
        "props": m.properties,
        "body": base64_encode(&m.body),
        "sysFlag": m.sys_flag,
        "msgId": m.msg_id(),
        "offsetMsgId": m.offset_msg_id,
        "queueId": m.queue_id,
        "queueOffset": m.queue_offset,
        "reconsumeTimes": m.reconsume_times,
    })
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        if c == b'=' {
            break;
        }
        let v = B64.iter().position(|&x| x == c).ok_or_else(|| format!("bad base64 byte {c}"))?;
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for n in 0..20 {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + 5) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&data)).unwrap(), data);
        }
        assert_eq!(base64_encode(b"Man"), "TWFu");
        assert_eq!(base64_encode(b"Ma"), "TWE=");
        assert_eq!(base64_encode(b"M"), "TQ==");
    }
}
