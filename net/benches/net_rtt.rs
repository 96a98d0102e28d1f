// Round trips through the remoting server with an echo processor, next to the raw loopback TCP
// round trip measured in the same run.
//
// * raw: a blocking ping-pong of a frame-sized message over std `TcpStream`s;
// * 1 in flight: `invoke_sync` in a loop, p50 / p99 / p99.9;
// * 64 in flight: ops/s, (a) one closed loop of `invoke_async` keeping 64 calls in flight,
//   (b) 64 threads calling `invoke_sync`.
//
// Run: `cargo bench --bench net_rtt`
//
// Shared by `cargo bench --bench net_rtt` (root wrapper in benches/) and `cargo bench -p rocketmq-net --bench net_rtt`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender};
use rocketmq_net::{
    ClientConfig, RemotingClient, RemotingCommand, RequestContext, Server, ServerBuilder,
    ServerConfig,
};

const ECHO: i32 = 10;
const BODY_BYTES: usize = 128;
const RTT_SAMPLES: usize = 50_000;
const PIPELINED_OPS: usize = 1_000_000;
const TIMEOUT: Duration = Duration::from_secs(10);

fn echo(_ctx: &RequestContext, req: RemotingCommand) -> Option<RemotingCommand> {
    Some(RemotingCommand::response(0, None).with_body(req.body))
}

fn start_server(threads: usize) -> Server {
    let mut builder = ServerBuilder::new(ServerConfig::default());
    let pool = builder.pool("echo", threads, 10_000);
    builder.register(ECHO, pool, Arc::new(echo));
    builder.start().expect("start server")
}

fn request() -> RemotingCommand {
    RemotingCommand::request(ECHO)
        .with_ext("topic", "BenchmarkTopic")
        .with_ext("queueId", "1")
        .with_body(vec![b'x'; BODY_BYTES])
}

struct Percentiles {
    p50: f64,
    p99: f64,
    p999: f64,
}

fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    let us = |d: Duration| d.as_nanos() as f64 / 1000.0;
    Percentiles { p50: us(at(0.50)), p99: us(at(0.99)), p999: us(at(0.999)) }
}

/// Raw ping-pong of `len`-byte messages over loopback TCP.
fn raw_rtt(len: usize) -> Percentiles {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_nodelay(true).expect("nodelay");
        let mut buf = vec![0u8; len];
        while s.read_exact(&mut buf).is_ok() {
            if s.write_all(&buf).is_err() {
                break;
            }
        }
    });
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_nodelay(true).expect("nodelay");
    let msg = vec![7u8; len];
    let mut buf = vec![0u8; len];
    let mut samples = Vec::with_capacity(RTT_SAMPLES);
    for i in 0..RTT_SAMPLES + RTT_SAMPLES / 10 {
        let start = Instant::now();
        c.write_all(&msg).expect("write");
        c.read_exact(&mut buf).expect("read");
        if i >= RTT_SAMPLES / 10 {
            samples.push(start.elapsed());
        }
    }
    drop(c);
    server.join().expect("raw server");
    percentiles(samples)
}

fn one_in_flight(client: &RemotingClient, addr: &str) -> Percentiles {
    let mut samples = Vec::with_capacity(RTT_SAMPLES);
    for i in 0..RTT_SAMPLES + RTT_SAMPLES / 10 {
        let req = request();
        let start = Instant::now();
        let resp = client.invoke_sync(addr, req, TIMEOUT).expect("invoke_sync");
        let elapsed = start.elapsed();
        assert_eq!(resp.body.len(), BODY_BYTES);
        if i >= RTT_SAMPLES / 10 {
            samples.push(elapsed);
        }
    }
    percentiles(samples)
}

struct Loop {
    client: Arc<RemotingClient>,
    addr: String,
    issued: AtomicUsize,
    completed: AtomicUsize,
    total: usize,
    done: Sender<()>,
}

/// Issues one call whose callback issues the next one, until `total` calls were issued.
fn issue(ctx: &Arc<Loop>) {
    if ctx.issued.fetch_add(1, Ordering::Relaxed) >= ctx.total {
        return;
    }
    let next = Arc::clone(ctx);
    let callback = Box::new(move |r: Result<RemotingCommand, rocketmq_net::NetError>| {
        assert_eq!(r.expect("response").body.len(), BODY_BYTES);
        if next.completed.fetch_add(1, Ordering::Relaxed) + 1 == next.total {
            let _ = next.done.send(());
        } else {
            issue(&next);
        }
    });
    ctx.client.invoke_async(&ctx.addr, request(), TIMEOUT, callback).expect("invoke_async");
}

fn pipelined_async(client: &Arc<RemotingClient>, addr: &str, window: usize, total: usize) -> f64 {
    let (done, done_rx) = bounded(1);
    let ctx = Arc::new(Loop {
        client: Arc::clone(client),
        addr: addr.to_owned(),
        issued: AtomicUsize::new(0),
        completed: AtomicUsize::new(0),
        total,
        done,
    });
    let start = Instant::now();
    for _ in 0..window {
        issue(&ctx);
    }
    done_rx.recv().expect("all completed");
    total as f64 / start.elapsed().as_secs_f64()
}

fn pipelined_threads(
    client: &Arc<RemotingClient>,
    addr: &str,
    threads: usize,
    total: usize,
) -> f64 {
    let per_thread = total / threads;
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let client = Arc::clone(client);
            let addr = addr.to_owned();
            thread::spawn(move || {
                for _ in 0..per_thread {
                    client.invoke_sync(&addr, request(), TIMEOUT).expect("invoke_sync");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("caller thread");
    }
    (per_thread * threads) as f64 / start.elapsed().as_secs_f64()
}

/// Optional filter from the command line (cargo passes `--bench`, which is ignored):
/// `raw`, `one`, `async` or `threads`; all parts run without one.
fn wanted(part: &str) -> bool {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    filters.is_empty() || filters.iter().any(|f| f == part)
}

fn main() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average at start: {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    let frame_len = request().encode_to_vec(rocketmq_net::SerializeType::Json).len();
    println!("net_rtt: request frame {frame_len} B (128 B body), echo processor, JSON headers");
    let raw = if wanted("raw") || wanted("one") {
        raw_rtt(frame_len)
    } else {
        Percentiles { p50: f64::NAN, p99: f64::NAN, p999: f64::NAN }
    };
    println!(
        "raw loopback TCP RTT ({frame_len} B)     p50 {:>6.1} us  p99 {:>6.1} us  p99.9 {:>6.1} us",
        raw.p50, raw.p99, raw.p999
    );
    for threads in [1, 2] {
        let server = start_server(threads);
        let addr = server.local_addr().to_string();
        let client = Arc::new(RemotingClient::new(ClientConfig::default()));
        if wanted("one") {
            let one = one_in_flight(&client, &addr);
            println!(
                "[pool {threads} thr] 1 in flight invoke_sync  p50 {:>6.1} us  p99 {:>6.1} us  p99.9 {:>6.1} us  (p50 = {:.2}x raw)",
                one.p50, one.p99, one.p999, one.p50 / raw.p50
            );
        }
        if wanted("async") {
            pipelined_async(&client, &addr, 64, PIPELINED_OPS / 10);
            let ops = pipelined_async(&client, &addr, 64, PIPELINED_OPS);
            println!("[pool {threads} thr] 64 in flight, invoke_async loop      {ops:>9.0} ops/s");
        }
        if wanted("threads") {
            let ops = pipelined_threads(&client, &addr, 64, PIPELINED_OPS / 4);
            println!("[pool {threads} thr] 64 in flight, 64 invoke_sync threads {ops:>9.0} ops/s");
        }
        drop(client);
        server.shutdown();
    }
}
