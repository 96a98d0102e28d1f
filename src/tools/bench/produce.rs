//! `mqbench produce`: N threads sending through M producers, measured after a warm-up, with an
//! accounting check at the end.
//!
//! Phases: create the topic if missing → start the producers and fetch the route → every
//! thread sends its share of the warm-up synchronously (connections open, caches warm) → the
//! counters are zeroed and the broker's queue offsets summed → the measured run → async sends
//! are flushed (every callback must have run) → the offsets are summed again. The growth must
//! cover every acknowledged message (oneway: every accepted one); anything less is reported
//! as lost and makes the run exit 1. In transaction mode a message is acknowledged when its
//! half message is stored and its commit sent (oneway), and the topic's growth counts the
//! committed messages, so a lost commit shows as lost.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::Serialize;

use super::stats::{human_us, new_histogram, thousands, Counters, Latency, Recorder, Ticker};
use super::{BenchError, ProduceArgs, RunOptions, SendMode};
use crate::client::{
    Admin, ClientError, LocalTransactionState, Message, MessageExt, Producer, SendResult,
    SendStatus, TopicSpec, TransactionListener, TransactionProducer,
};
use crate::tools::mqadmin::render::send_status;

/// How long the broker's offsets may take to catch up with what was sent.
const VERIFY_PATIENCE: Duration = Duration::from_secs(15);
/// Offsets unchanged this long while still short: give up waiting.
const VERIFY_STALL: Duration = Duration::from_secs(3);

/// The final report of a produce run.
#[derive(Debug, Clone, Serialize)]
pub struct ProduceReport {
    pub mode: &'static str,
    pub topic: String,
    pub threads: usize,
    pub producers: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    pub message_size: usize,
    /// The --rate cap, if any (messages per second).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<f64>,
    pub tags: bool,
    pub keys: bool,
    pub flush_mode: Option<String>,
    pub warmup_messages: u64,
    pub warmup_failed: u64,
    pub duration_secs: f64,
    /// Messages attempted.
    pub sent: u64,
    /// Messages acknowledged by the broker (oneway: accepted by the client).
    pub succeeded: u64,
    pub failed: u64,
    pub failures: std::collections::BTreeMap<String, u64>,
    /// Acknowledged sends whose status was not SEND_OK (stored, but e.g. not flushed in time).
    pub send_status_not_ok: std::collections::BTreeMap<String, u64>,
    /// Percent of `sent` that succeeded.
    pub success_rate: f64,
    /// Succeeded messages per second.
    pub tps: f64,
    /// Requests per second (batch mode sends `batch_size` messages per request).
    pub requests_per_sec: f64,
    /// Body megabytes (10^6) per second.
    pub mb_per_sec: f64,
    /// Per request: send call to acknowledgement (oneway: the call itself).
    pub latency: Latency,
    pub accounting: Accounting,
}

/// Whether every message is accounted for.
#[derive(Debug, Clone, Serialize)]
pub struct Accounting {
    /// Async: sends whose callback was promised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callbacks_expected: Option<u64>,
    /// Async: callbacks that ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callbacks_received: Option<u64>,
    /// Growth of the topic's queue offsets during the run (None with --no-verify).
    pub broker_stored: Option<u64>,
    /// Messages the run lost track of: missing callbacks, or acknowledged (oneway: accepted)
    /// messages the broker does not have.
    pub lost: u64,
}

/// A producer of the run: plain, or transactional (transaction mode). Derefs to the
/// underlying [`Producer`] for everything but the transactional send.
enum BenchProducer {
    Plain(Producer),
    Txn(TransactionProducer),
}

impl std::ops::Deref for BenchProducer {
    type Target = Producer;

    fn deref(&self) -> &Producer {
        match self {
            Self::Plain(p) => p,
            Self::Txn(t) => t.producer(),
        }
    }
}

impl BenchProducer {
    /// Prepare, run the (empty) local transaction, commit; the half message's result.
    fn send_in_transaction(&self, msg: &Message) -> Result<SendResult, ClientError> {
        match self {
            Self::Txn(t) => t.send_in_transaction(msg).map(|r| r.send),
            Self::Plain(p) => p.send(msg),
        }
    }
}

/// The transaction mode's local transaction: nothing to do, always committed.
struct CommitAll;

impl TransactionListener for CommitAll {
    fn execute_local_transaction(&self, _: &Message, _: &str) -> LocalTransactionState {
        LocalTransactionState::Commit
    }

    fn check_local_transaction(&self, _: &MessageExt) -> LocalTransactionState {
        LocalTransactionState::Commit
    }
}

/// State shared by the workers, the callbacks and the reporter.
struct Shared {
    counters: Counters,
    recorder: Recorder,
    /// Requests measured (a batch is one request).
    requests: AtomicU64,
    /// Async sends whose callback is owed.
    submitted: AtomicU64,
    /// Async callbacks that ran.
    completed: AtomicU64,
}

/// Runs the benchmark; the live lines go to stderr, warnings to `err`.
pub fn run(
    opts: &RunOptions,
    args: &ProduceArgs,
    err: &mut dyn Write,
) -> Result<ProduceReport, BenchError> {
    validate(args)?;
    let admin =
        Admin::builder().client_config(opts.client_config()).name_server(&opts.namesrv).build()?;
    if ensure_topic(&admin, args)? {
        let _ = writeln!(err, "mqbench: created topic {} on cluster {}", args.topic, args.cluster);
    }
    let flush_mode = flush_mode(&admin, &args.topic);
    let producers = start_producers(opts, args)?;
    let shared = Arc::new(Shared {
        counters: Counters::default(),
        recorder: Recorder::new(args.threads + 1),
        requests: AtomicU64::new(0),
        submitted: AtomicU64::new(0),
        completed: AtomicU64::new(0),
    });
    let warmed = Arc::new(Barrier::new(args.threads + 1));
    let go = Arc::new(Barrier::new(args.threads + 1));
    let workers = spawn_workers(args, &producers, &shared, &warmed, &go)?;

    warmed.wait();
    let warmup_failed = shared.counters.failed.load(Ordering::Relaxed);
    if warmup_failed > 0 {
        let _ = writeln!(err, "mqbench: {warmup_failed} warm-up sends failed");
    }
    shared.counters.reset();
    shared.recorder.reset();
    shared.requests.store(0, Ordering::Relaxed);
    // Timer messages wait in the broker's timer topic, not in this topic's queues: the stored
    // count cannot be checked when the run ends.
    let verify = !args.no_verify && args.deliver_spread_ms.is_none();
    let before = if verify { Some(settled_total(&admin, &args.topic)?) } else { None };
    let total = Arc::new(Mutex::new(new_histogram()));
    let start = Instant::now();
    let ticker = start_reporter(opts, args.mode, &shared, &total, start)?;
    go.wait();

    let mut panicked = false;
    for w in workers {
        panicked |= w.join().is_err();
    }
    if args.mode == SendMode::Async {
        let patience =
            Duration::from_millis(args.timeout_ms) * (args.retries + 1) + Duration::from_secs(5);
        for p in &producers {
            p.flush(patience);
        }
    }
    let elapsed = start.elapsed();
    ticker.stop();
    if panicked {
        return Err(BenchError::Failed("a sending thread panicked".into()));
    }
    let stored = match before {
        Some(before) => {
            let expected = before + shared.counters.succeeded.load(Ordering::Relaxed);
            Some(wait_stored(&admin, &args.topic, expected)?.saturating_sub(before))
        }
        None => None,
    };
    drop(producers);
    let hist = total.lock().clone();
    Ok(report(args, flush_mode, warmup_failed, elapsed, &shared, &hist, stored))
}

fn validate(args: &ProduceArgs) -> Result<(), BenchError> {
    let usage = |m: &str| Err(BenchError::Usage(m.to_string()));
    if args.threads == 0 || args.producers == 0 {
        return usage("--threads and --producers must be at least 1");
    }
    if args.size == 0 {
        return usage("--size must be at least 1 byte");
    }
    if args.mode == SendMode::Batch && args.batch_size == 0 {
        return usage("--batch-size must be at least 1");
    }
    if args.in_flight == 0 {
        return usage("--in-flight must be at least 1");
    }
    if args.count.is_none() && !(args.duration > 0.0 && args.duration.is_finite()) {
        return usage("--duration must be a positive number of seconds");
    }
    if args.count == Some(0) {
        return usage("--count must be at least 1");
    }
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return usage("--rate must be a positive number of messages per second");
    }
    Ok(())
}

/// Creates the topic on `--cluster` when the nameserver does not know it; returns whether it
/// did.
fn ensure_topic(admin: &Admin, args: &ProduceArgs) -> Result<bool, BenchError> {
    match admin.topic_route(&args.topic) {
        Ok(_) => return Ok(false),
        Err(ClientError::TopicNotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let spec = TopicSpec::new(args.topic.as_str()).queues(args.queues);
    let brokers = admin.create_topic(&args.cluster, &spec)?;
    if brokers.is_empty() {
        return Err(BenchError::Failed(format!("cluster {} has no master broker", args.cluster)));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match admin.topic_route(&args.topic) {
            Ok(_) => return Ok(true),
            Err(e) if Instant::now() > deadline => {
                return Err(BenchError::Failed(format!(
                    "created topic {} but the nameserver has no route for it: {e}",
                    args.topic
                )))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The broker's flush mode (from its runtime info), for the report.
fn flush_mode(admin: &Admin, topic: &str) -> Option<String> {
    let route = admin.topic_route(topic).ok()?;
    let addr = route.broker_datas.iter().find_map(|b| b.master_addr().map(str::to_string))?;
    admin.broker_runtime_info(&addr).ok()?.get("flushDiskType").cloned()
}

/// The sum of the topic's queue max offsets: messages stored so far.
fn stored_total(admin: &Admin, topic: &str) -> Result<u64, BenchError> {
    let stats = admin.topic_stats(topic)?;
    Ok(stats.values().map(|o| u64::try_from(o.max_offset).unwrap_or(0)).sum())
}

/// The stored total once it stops moving: queue offsets grow when the broker dispatches the
/// commitlog to the consume queues, a little after it acknowledged the sends (as in Java).
fn settled_total(admin: &Admin, topic: &str) -> Result<u64, BenchError> {
    let deadline = Instant::now() + VERIFY_STALL;
    let mut last = stored_total(admin, topic)?;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = stored_total(admin, topic)?;
        if now == last || Instant::now() > deadline {
            return Ok(now);
        }
        last = now;
    }
}

/// Waits (bounded) until the stored total reaches `expected`; returns the last total seen.
fn wait_stored(admin: &Admin, topic: &str, expected: u64) -> Result<u64, BenchError> {
    let deadline = Instant::now() + VERIFY_PATIENCE;
    let (mut last, mut changed) = (stored_total(admin, topic)?, Instant::now());
    while last < expected && Instant::now() < deadline && changed.elapsed() < VERIFY_STALL {
        std::thread::sleep(Duration::from_millis(100));
        let now = stored_total(admin, topic)?;
        if now != last {
            changed = Instant::now();
        }
        last = now;
    }
    Ok(last)
}

fn start_producers(
    opts: &RunOptions,
    args: &ProduceArgs,
) -> Result<Vec<Arc<BenchProducer>>, BenchError> {
    let mut producers = Vec::with_capacity(args.producers);
    for i in 0..args.producers {
        let mut config = opts.client_config();
        if let Some(us) = args.busy_poll_us {
            config.busy_poll_us = us;
        }
        let builder = Producer::builder()
            .client_config(config)
            .name_server(&opts.namesrv)
            .group(args.group.as_str())
            .instance_name(format!("mqbench-{}-{i}", std::process::id()))
            .send_timeout(Duration::from_millis(args.timeout_ms))
            .retries(args.retries)
            .max_async_in_flight(args.in_flight);
        let p = if args.mode == SendMode::Transaction {
            BenchProducer::Txn(TransactionProducer::start(builder, CommitAll)?)
        } else {
            BenchProducer::Plain(builder.build()?)
        };
        p.fetch_publish_queues(&args.topic)?;
        producers.push(Arc::new(p));
    }
    Ok(producers)
}

/// `total` split over `parts`: the share of part `i`.
fn share(total: u64, parts: usize, i: usize) -> u64 {
    let parts = parts as u64;
    let i = i as u64;
    total / parts + u64::from(i < total % parts)
}

/// One sending thread's inputs.
struct Worker {
    id: usize,
    args: ProduceArgs,
    producer: Arc<BenchProducer>,
    shared: Arc<Shared>,
    payload: Arc<Vec<u8>>,
    warmed: Arc<Barrier>,
    go: Arc<Barrier>,
}

fn spawn_workers(
    args: &ProduceArgs,
    producers: &[Arc<BenchProducer>],
    shared: &Arc<Shared>,
    warmed: &Arc<Barrier>,
    go: &Arc<Barrier>,
) -> Result<Vec<JoinHandle<()>>, BenchError> {
    let payload: Arc<Vec<u8>> = Arc::new((0..args.size).map(|i| b'a' + (i % 26) as u8).collect());
    let mut handles = Vec::with_capacity(args.threads);
    for id in 0..args.threads {
        let w = Worker {
            id,
            args: args.clone(),
            producer: Arc::clone(&producers[id % producers.len()]),
            shared: Arc::clone(shared),
            payload: Arc::clone(&payload),
            warmed: Arc::clone(warmed),
            go: Arc::clone(go),
        };
        let h = std::thread::Builder::new()
            .name(format!("mqbench-send-{id}"))
            .spawn(move || w.run())
            .map_err(|e| BenchError::Failed(format!("cannot spawn a sending thread: {e}")))?;
        handles.push(h);
    }
    Ok(handles)
}

impl Worker {
    fn run(self) {
        let warmup = share(self.args.warmup, self.args.threads, self.id);
        let mut seq = 0u64;
        let mut left = warmup;
        while left > 0 {
            let n = if self.args.mode == SendMode::Batch { left.min(self.batch()) } else { 1 };
            self.send_blocking(n, &mut seq);
            left -= n;
        }
        self.warmed.wait();
        self.go.wait();
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(self.args.duration);
        let mut quota = self.args.count.map(|c| share(c, self.args.threads, self.id));
        // Each thread paces its share of --rate against an absolute schedule, so a late send
        // is followed by catch-up sends rather than lowering the rate.
        let pace = self.args.rate.map(|r| Duration::from_secs_f64(self.args.threads as f64 / r));
        let mut next_at = start;
        loop {
            if pace.is_some() {
                let now = Instant::now();
                if next_at > now {
                    std::thread::sleep(next_at - now);
                }
            }
            let n = match quota {
                Some(0) => break,
                Some(q) if self.args.mode == SendMode::Batch => q.min(self.batch()),
                Some(_) => 1,
                None if Instant::now() >= deadline => break,
                None if self.args.mode == SendMode::Batch => self.batch(),
                None => 1,
            };
            match self.args.mode {
                SendMode::Sync | SendMode::Batch | SendMode::Transaction => {
                    self.send_blocking(n, &mut seq)
                }
                SendMode::Async => self.send_async(&mut seq),
                SendMode::Oneway => self.send_oneway(&mut seq),
            }
            if let Some(q) = quota.as_mut() {
                *q -= n;
            }
            if let Some(step) = pace {
                next_at += step * u32::try_from(n).unwrap_or(u32::MAX);
            }
        }
    }

    fn batch(&self) -> u64 {
        self.args.batch_size as u64
    }

    fn message(&self, seq: &mut u64) -> Message {
        *seq += 1;
        let mut m = Message::new(self.args.topic.as_str(), self.payload.as_slice());
        if self.args.tags {
            m = m.with_tags("TagA");
        }
        if self.args.keys {
            m = m.with_keys([format!("mqbench-{}-{}-{seq}", std::process::id(), self.id)]);
        }
        if let Some(n) = self.args.prop_mod {
            m = m.with_property("a", (*seq % n.max(1)).to_string());
        }
        if let Some(spread) = self.args.deliver_spread_ms {
            // Knuth's multiplicative hash spreads consecutive sequence numbers over the window.
            let offset = seq.wrapping_mul(2_654_435_761) % spread.max(1);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            m = m.with_deliver_time_ms(now + 1_000 + offset);
        }
        m
    }

    /// A sync send (n = 1), a batch of `n`, or one transaction (its latency covers the
    /// prepare and the oneway commit).
    fn send_blocking(&self, n: u64, seq: &mut u64) {
        let s = &self.shared;
        s.counters.sent.fetch_add(n, Ordering::Relaxed);
        let started = Instant::now();
        let result = match self.args.mode {
            SendMode::Batch => {
                let msgs: Vec<Message> = (0..n).map(|_| self.message(seq)).collect();
                self.producer.send_batch(&msgs)
            }
            SendMode::Transaction => self.producer.send_in_transaction(&self.message(seq)),
            _ => self.producer.send(&self.message(seq)),
        };
        let latency = started.elapsed();
        self.finish(n, result, latency, self.id);
    }

    fn finish(
        &self,
        n: u64,
        result: Result<SendResult, ClientError>,
        latency: Duration,
        slot: usize,
    ) {
        let s = &self.shared;
        match result {
            Ok(r) => {
                s.counters.succeed(n, n * self.args.size as u64);
                if r.status != SendStatus::SendOk {
                    s.counters.status(n, send_status(r.status));
                }
                s.recorder.record(slot, latency);
                s.requests.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => s.counters.fail(n, &e),
        }
    }

    fn send_async(&self, seq: &mut u64) {
        let s = &self.shared;
        s.counters.sent.fetch_add(1, Ordering::Relaxed);
        let msg = self.message(seq);
        let cb_shared = Arc::clone(s);
        let size = self.args.size as u64;
        let slot = self.args.threads;
        let started = Instant::now();
        let sent = self.producer.send_async(msg, move |result| {
            let latency = started.elapsed();
            let s = &cb_shared;
            match result {
                Ok(r) => {
                    s.counters.succeed(1, size);
                    if r.status != SendStatus::SendOk {
                        s.counters.status(1, send_status(r.status));
                    }
                    s.recorder.record(slot, latency);
                    s.requests.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => s.counters.fail(1, &e),
            }
            s.completed.fetch_add(1, Ordering::Release);
        });
        match sent {
            Ok(()) => {
                s.submitted.fetch_add(1, Ordering::Relaxed);
            }
            // Refused before it was queued: the callback will never run.
            Err(e) => s.counters.fail(1, &e),
        }
    }

    fn send_oneway(&self, seq: &mut u64) {
        let s = &self.shared;
        s.counters.sent.fetch_add(1, Ordering::Relaxed);
        let msg = self.message(seq);
        let started = Instant::now();
        match self.producer.send_oneway(&msg) {
            Ok(()) => {
                s.recorder.record(self.id, started.elapsed());
                s.counters.succeed(1, self.args.size as u64);
                s.requests.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => s.counters.fail(1, &e),
        }
    }
}

/// The live line every interval (stderr) and the total histogram.
fn start_reporter(
    opts: &RunOptions,
    mode: SendMode,
    shared: &Arc<Shared>,
    total: &Arc<Mutex<Histogram<u64>>>,
    start: Instant,
) -> Result<Ticker, BenchError> {
    let shared = Arc::clone(shared);
    let total = Arc::clone(total);
    let quiet = opts.quiet;
    let mut interval = new_histogram();
    let (mut last_ok, mut last_at) = (0u64, start);
    Ticker::spawn(opts.interval, move |is_final| {
        shared.recorder.drain_into(&mut interval);
        let now = Instant::now();
        let ok = shared.counters.succeeded.load(Ordering::Relaxed);
        let dt = now.duration_since(last_at).as_secs_f64().max(1e-9);
        if !quiet && !is_final {
            let l = Latency::of(&interval);
            let mut line = format!(
                "[{:>6.1}s] {:>10} msg/s  p50 {:>9}  p99 {:>9}  failed {}",
                now.duration_since(start).as_secs_f64(),
                thousands(((ok - last_ok) as f64 / dt) as u64),
                human_us(l.p50_us),
                human_us(l.p99_us),
                shared.counters.failed.load(Ordering::Relaxed)
            );
            if mode == SendMode::Async {
                let owed = shared.submitted.load(Ordering::Relaxed);
                let done = shared.completed.load(Ordering::Acquire);
                line += &format!("  in-flight {}", owed.saturating_sub(done));
            }
            eprintln!("{line}");
        }
        let _ = total.lock().add(&interval);
        interval.reset();
        (last_ok, last_at) = (ok, now);
    })
    .map_err(|e| BenchError::Failed(format!("cannot spawn the reporter: {e}")))
}

fn report(
    args: &ProduceArgs,
    flush_mode: Option<String>,
    warmup_failed: u64,
    elapsed: Duration,
    shared: &Shared,
    hist: &Histogram<u64>,
    stored: Option<u64>,
) -> ProduceReport {
    let c = &shared.counters;
    let (sent, ok, failed) = (
        c.sent.load(Ordering::Relaxed),
        c.succeeded.load(Ordering::Relaxed),
        c.failed.load(Ordering::Relaxed),
    );
    let secs = elapsed.as_secs_f64().max(1e-9);
    let is_async = args.mode == SendMode::Async;
    let (expected, received) =
        (shared.submitted.load(Ordering::Relaxed), shared.completed.load(Ordering::Acquire));
    let lost_callbacks = if is_async { expected.saturating_sub(received) } else { 0 };
    let lost_on_broker = stored.map_or(0, |s| ok.saturating_sub(s));
    ProduceReport {
        mode: args.mode.name(),
        topic: args.topic.clone(),
        threads: args.threads,
        producers: args.producers,
        in_flight: is_async.then_some(args.in_flight),
        batch_size: (args.mode == SendMode::Batch).then_some(args.batch_size),
        message_size: args.size,
        rate_limit: args.rate,
        tags: args.tags,
        keys: args.keys,
        flush_mode,
        warmup_messages: args.warmup,
        warmup_failed,
        duration_secs: secs,
        sent,
        succeeded: ok,
        failed,
        failures: c.failures(),
        send_status_not_ok: c.statuses(),
        success_rate: if sent == 0 { 0.0 } else { ok as f64 * 100.0 / sent as f64 },
        tps: ok as f64 / secs,
        requests_per_sec: shared.requests.load(Ordering::Relaxed) as f64 / secs,
        mb_per_sec: c.bytes.load(Ordering::Relaxed) as f64 / 1e6 / secs,
        latency: Latency::of(hist),
        accounting: Accounting {
            callbacks_expected: is_async.then_some(expected),
            callbacks_received: is_async.then_some(received),
            broker_stored: stored,
            lost: lost_callbacks.max(lost_on_broker),
        },
    }
}

impl ProduceReport {
    /// The human-readable report.
    pub fn text(&self) -> String {
        let mut s = format!(
            "mqbench produce: mode={} threads={} producers={} size={} B",
            self.mode, self.threads, self.producers, self.message_size
        );
        if let Some(n) = self.in_flight {
            s += &format!(" in-flight={n}");
        }
        if let Some(n) = self.batch_size {
            s += &format!(" batch={n}");
        }
        if let Some(r) = self.rate_limit {
            s += &format!(" rate<={}/s", thousands(r as u64));
        }
        s += &format!(
            " tags={} keys={}\n  topic {}, broker flush {}, warm-up {} messages ({} failed)\n",
            on_off(self.tags),
            on_off(self.keys),
            self.topic,
            self.flush_mode.as_deref().unwrap_or("unknown"),
            self.warmup_messages,
            self.warmup_failed
        );
        s += &format!("  duration    {:.2} s\n", self.duration_secs);
        s += &format!("  sent        {}\n", thousands(self.sent));
        s += &format!("  succeeded   {} ({:.3} %)\n", thousands(self.succeeded), self.success_rate);
        s += &format!("  failed      {}", thousands(self.failed));
        if !self.failures.is_empty() {
            let by: Vec<String> = self.failures.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s += &format!(" ({})", by.join(", "));
        }
        s.push('\n');
        if !self.send_status_not_ok.is_empty() {
            let by: Vec<String> =
                self.send_status_not_ok.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s += &format!("  not SEND_OK {}\n", by.join(", "));
        }
        s += &format!(
            "  TPS         {} msg/s, {:.1} MB/s",
            thousands(self.tps as u64),
            self.mb_per_sec
        );
        if self.batch_size.is_some() {
            s += &format!(", {} requests/s", thousands(self.requests_per_sec as u64));
        }
        s.push('\n');
        s += &format!(
            "  latency     {} (per request, {} samples)\n",
            self.latency.text(),
            thousands(self.latency.count)
        );
        s += &format!("  accounting  {}\n", self.accounting_text());
        s
    }

    fn accounting_text(&self) -> String {
        let a = &self.accounting;
        let mut parts = Vec::new();
        if let (Some(e), Some(r)) = (a.callbacks_expected, a.callbacks_received) {
            parts.push(format!("{} of {} callbacks ran", thousands(r), thousands(e)));
        }
        match a.broker_stored {
            Some(stored) => parts.push(format!(
                "broker offsets grew by {} for {} {}",
                thousands(stored),
                thousands(self.succeeded),
                if self.mode == "oneway" { "accepted" } else { "acknowledged" }
            )),
            None => parts.push("broker not checked (--no-verify)".into()),
        }
        let verdict = if a.lost == 0 {
            "every message accounted for".to_string()
        } else {
            format!("LOST {} messages", thousands(a.lost))
        };
        format!("{verdict}: {}", parts.join("; "))
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for (total, parts) in [(10u64, 3usize), (1, 4), (0, 2), (1000, 64)] {
            let sum: u64 = (0..parts).map(|i| share(total, parts, i)).sum();
            assert_eq!(sum, total);
        }
        assert_eq!(share(10, 3, 0), 4);
        assert_eq!(share(10, 3, 2), 3);
    }
}
