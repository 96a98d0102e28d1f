//! Broker send path through the net client: 128 B SEND_MESSAGE_V2, async flush, broker in this
//! process on loopback. Reports 1 in flight (p50/p99/p99.9) and 64 in flight (msg/s), next to
//! the raw loopback TCP round trip measured in the same run.
//!
//! Run: `cargo bench --bench broker_send`

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender};
use rocketmq::broker::{Broker, RawBrokerConfig};
use rocketmq::net::{ClientConfig, RemotingClient, RemotingCommand, RequestCode};
use rocketmq::protocol::header::send::SendMessageRequestHeader;
use rocketmq::protocol::message::format_properties;

const BODY: [u8; 128] = [b'x'; 128];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Reads exactly `buf.len()` bytes from a non-blocking socket by spinning; `false` at EOF.
fn spin_read_exact(s: &mut TcpStream, buf: &mut [u8]) -> bool {
    let mut filled = 0;
    while filled < buf.len() {
        match s.read(&mut buf[filled..]) {
            Ok(0) => return false,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::hint::spin_loop(),
            Err(_) => return false,
        }
    }
    true
}

/// Raw loopback round trip: 64-byte ping-pong over one TCP connection. Both ends spin on
/// non-blocking sockets, so this is the network stack's cost alone: with blocking reads the
/// figure depends on whether the two threads share a CPU (4 us) or not (60 us on this VM,
/// where waking a sleeping vCPU is slow).
fn raw_rtt(rounds: usize) -> Vec<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let echo = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_nodelay(true).unwrap();
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        while spin_read_exact(&mut s, &mut buf) {
            if s.write_all(&buf).is_err() {
                break;
            }
        }
    });
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_nodelay(true).unwrap();
    c.set_nonblocking(true).unwrap();
    let mut buf = [7u8; 64];
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        c.write_all(&buf).unwrap();
        assert!(spin_read_exact(&mut c, &mut buf));
        out.push(t.elapsed());
    }
    drop(c);
    echo.join().unwrap();
    out.sort();
    out
}

fn send_cmd(topic: &str) -> RemotingCommand {
    let h = SendMessageRequestHeader {
        producer_group: "bench_pg".into(),
        topic: topic.into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 0,
        born_timestamp: 1_700_000_000_000,
        properties: Some(format_properties([
            ("WAIT", "true"),
            ("UNIQ_KEY", "0A0000010000000000000000000000AA"),
        ])),
        ..Default::default()
    };
    let mut cmd =
        RemotingCommand::request(RequestCode::SendMessageV2.to_i32()).with_body(BODY.to_vec());
    cmd.ext_fields = h.to_v2();
    cmd
}

fn one_in_flight(client: &RemotingClient, addr: &str, n: usize) -> Vec<Duration> {
    let mut lat = Vec::with_capacity(n);
    let cmd = send_cmd("BenchTopic");
    for _ in 0..n {
        let t = Instant::now();
        let r = client.invoke_sync(addr, cmd.clone(), Duration::from_secs(3)).unwrap();
        lat.push(t.elapsed());
        assert_eq!(r.code, 0, "{:?}", r.remark);
    }
    lat.sort();
    lat
}

/// A closed loop: `window` sends start, and each completion issues the next one from the
/// client's callback until `total` were issued (no cross-thread wake-up per message).
struct Loop {
    client: Arc<RemotingClient>,
    addr: String,
    cmd: RemotingCommand,
    issued: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    total: u64,
    done: Sender<()>,
}

fn issue(l: &Arc<Loop>) {
    if l.issued.fetch_add(1, Ordering::Relaxed) >= l.total {
        return;
    }
    let next = Arc::clone(l);
    let callback = Box::new(move |r: Result<RemotingCommand, rocketmq::net::NetError>| {
        let counter = match r {
            Ok(r) if r.code == 0 => &next.ok,
            _ => &next.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if next.ok.load(Ordering::Relaxed) + next.failed.load(Ordering::Relaxed) == next.total {
            let _ = next.done.send(());
        } else {
            issue(&next);
        }
    });
    l.client.invoke_async(&l.addr, l.cmd.clone(), Duration::from_secs(10), callback).unwrap();
}

/// A number from the environment (benchmark knobs), if set and valid.
fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// CPU time (user + system) of each thread of this process, by thread name.
fn thread_cpu() -> std::collections::BTreeMap<String, Duration> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return out };
    let tick = 100.0; // USER_HZ on Linux
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let name = stat[open + 1..close].to_string();
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let ticks: f64 =
            fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
        let name = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-').to_string();
        *out.entry(name).or_default() += Duration::from_secs_f64(ticks / tick);
    }
    out
}

/// Prints each thread group's CPU microseconds per message between two `thread_cpu` samples.
fn print_cpu_per_msg(
    before: &std::collections::BTreeMap<String, Duration>,
    after: &std::collections::BTreeMap<String, Duration>,
    msgs: u64,
) {
    let mut parts = Vec::new();
    for (name, t) in after {
        let spent = t.saturating_sub(before.get(name).copied().unwrap_or_default());
        let us = spent.as_secs_f64() * 1e6 / msgs as f64;
        if us >= 0.05 {
            parts.push(format!("{name} {us:.2}"));
        }
    }
    println!("    CPU us/msg: {}", parts.join(", "));
}

/// `total` sends with `window` in flight; returns msg/s. Every send must succeed.
fn pipelined(client: &Arc<RemotingClient>, addr: &str, total: u64, window: u64) -> f64 {
    let (done, done_rx) = bounded(1);
    let l = Arc::new(Loop {
        client: Arc::clone(client),
        addr: addr.to_string(),
        cmd: send_cmd("BenchTopic"),
        issued: AtomicU64::new(0),
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        total,
        done,
    });
    let t = Instant::now();
    for _ in 0..window {
        issue(&l);
    }
    done_rx.recv().unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(l.failed.load(Ordering::Relaxed), 0, "sends failed");
    assert_eq!(l.ok.load(Ordering::Relaxed), total, "every send accounted for");
    total as f64 / secs
}

/// mimalloc: a third less CPU per message than glibc malloc under our cross-thread
/// allocation pattern (docs/ARCHITECTURE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let rtt_before = raw_rtt(50_000);
    let dir = tempfile::tempdir().unwrap();
    let raw = RawBrokerConfig {
        store_path: dir.path().to_path_buf(),
        listen_port: 0,
        bind_address: "127.0.0.1".into(),
        broker_ip: Some("127.0.0.1".into()),
        commitlog_file_size_bytes: 256 * 1024 * 1024,
        // `SEND_INLINE=0` runs sends on the send pool instead of `net-io`, for comparison.
        send_inline: std::env::var("SEND_INLINE").map_or(true, |v| v != "0"),
        // `BUSY_POLL_US=N` overrides the network thread's busy-poll window.
        net_busy_poll_us: env_u64("BUSY_POLL_US")
            .unwrap_or(RawBrokerConfig::default().net_busy_poll_us),
        ..Default::default()
    };
    let broker = Broker::start(raw.validate().unwrap()).unwrap();
    let addr = broker.local_addr().to_string();
    let client_config = ClientConfig {
        busy_poll_us: env_u64("CLIENT_BUSY_POLL_US")
            .unwrap_or(ClientConfig::default().busy_poll_us),
        ..ClientConfig::default()
    };
    let client = Arc::new(RemotingClient::new(client_config));
    let create = rocketmq::protocol::header::admin::CreateTopicRequestHeader {
        topic: "BenchTopic".into(),
        read_queue_nums: 1,
        write_queue_nums: 1,
        perm: 6,
        ..Default::default()
    };
    let r = client
        .invoke_sync(
            &addr,
            RemotingCommand::request(RequestCode::UpdateAndCreateTopic.to_i32())
                .with_header(&create),
            Duration::from_secs(3),
        )
        .unwrap();
    assert_eq!(r.code, 0);

    // The store pre-creates the next segment in the background; let it finish first.
    std::thread::sleep(Duration::from_secs(2));
    one_in_flight(&client, &addr, 5_000); // warm-up
    if std::env::var_os("PIPELINED_ONLY").is_some() {
        for window in [64, 256] {
            let before = thread_cpu();
            let rate = pipelined(&client, &addr, 1_000_000, window);
            println!("send 128 B, {window:>3} in flight       {rate:>10.0} msg/s");
            print_cpu_per_msg(&before, &thread_cpu(), 1_000_000);
        }
        client.shutdown();
        broker.shutdown();
        return;
    }
    let lat = one_in_flight(&client, &addr, 50_000);
    let rtt_after = raw_rtt(50_000);
    let rtt = if percentile(&rtt_after, 0.5) < percentile(&rtt_before, 0.5) {
        rtt_after
    } else {
        rtt_before
    };
    println!(
        "raw loopback RTT (64 B)        p50 {:>8.1?}  p99 {:>8.1?}",
        percentile(&rtt, 0.5),
        percentile(&rtt, 0.99)
    );
    println!(
        "send 128 B, 1 in flight         p50 {:>8.1?}  p99 {:>8.1?}  p99.9 {:>8.1?}  ({:.1}x RTT p50)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999),
        percentile(&lat, 0.5).as_secs_f64() / percentile(&rtt, 0.5).as_secs_f64()
    );
    pipelined(&client, &addr, 50_000, 64); // warm-up
    for window in [64, 256] {
        let rate = pipelined(&client, &addr, 500_000, window);
        println!("send 128 B, {window:>3} in flight       {rate:>10.0} msg/s");
    }
    client.shutdown();
    broker.shutdown();
}
