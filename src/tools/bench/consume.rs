//! `mqbench consume`: receive with a push consumer (or lite pull consumer polled by N threads)
//! and measure TPS and end-to-end latency: store time → receipt and born time → receipt.
//!
//! Store and born timestamps are milliseconds, so the latencies have millisecond precision.
//! TPS is measured from the first message received to the last, so the time it takes the group
//! to rebalance and start pulling is not counted.

use std::cell::Cell;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::Serialize;

use super::stats::{human_us, new_histogram, thousands, Latency, Recorder, Ticker};
use super::{BenchError, ConsumeArgs, ConsumerKind, RunOptions, StartFrom};
use crate::client::{
    ConsumeFrom, ConsumeOrderlyStatus, ConsumeStatus, MessageExt, PullConsumer, PushConsumer,
};

/// How often the main thread checks the stop conditions.
const POLL_STOP: Duration = Duration::from_millis(20);
/// How long one lite `poll` waits.
const LITE_POLL: Duration = Duration::from_millis(100);

/// The final report of a consume run.
#[derive(Debug, Clone, Serialize)]
pub struct ConsumeReport {
    pub client: &'static str,
    pub topic: String,
    pub group: String,
    pub threads: usize,
    pub from: &'static str,
    pub received: u64,
    pub bytes: u64,
    /// First message received to last.
    pub duration_secs: f64,
    pub tps: f64,
    pub mb_per_sec: f64,
    /// Broker store time to receipt (millisecond precision).
    pub store_to_receipt: Latency,
    /// Producer born time to receipt (millisecond precision).
    pub born_to_receipt: Latency,
    /// Timer messages only: receipt minus their due time (TIMER_OUT_MS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer_lag: Option<Latency>,
    /// `count`, `duration` or `idle`.
    pub stopped_by: &'static str,
}

struct Shared {
    origin: Instant,
    received: AtomicU64,
    bytes: AtomicU64,
    /// Nanoseconds since `origin` of the first and last receipt (0: none yet).
    first_ns: AtomicU64,
    last_ns: AtomicU64,
    store: Recorder,
    born: Recorder,
    slots: usize,
    next_slot: AtomicUsize,
    /// Receipt minus TIMER_OUT_MS of timer messages, ns (one lock per listener call).
    timer_lag: Mutex<Histogram<u64>>,
}

thread_local! {
    static SLOT: Cell<Option<usize>> = const { Cell::new(None) };
}

impl Shared {
    fn slot(&self) -> usize {
        SLOT.with(|s| match s.get() {
            Some(i) => i,
            None => {
                let i = self.next_slot.fetch_add(1, Ordering::Relaxed) % self.slots;
                s.set(Some(i));
                i
            }
        })
    }

    fn on_messages(&self, msgs: &[MessageExt]) {
        if msgs.is_empty() {
            return;
        }
        let now_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        let since = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1);
        let _ = self.first_ns.compare_exchange(0, since, Ordering::AcqRel, Ordering::Relaxed);
        self.last_ns.fetch_max(since, Ordering::AcqRel);
        let slot = self.slot();
        let age =
            |ts_ms: i64| Duration::from_micros(u64::try_from(now_us - ts_ms * 1000).unwrap_or(0));
        let mut bytes = 0u64;
        let mut lags = Vec::new();
        for m in msgs {
            self.store.record(slot, age(m.store_timestamp));
            self.born.record(slot, age(m.born_timestamp));
            bytes += m.body.len() as u64;
            if let Some(out) = m.property("TIMER_OUT_MS").and_then(|v| v.parse::<i64>().ok()) {
                lags.push(age(out));
            }
        }
        if !lags.is_empty() {
            let mut h = self.timer_lag.lock();
            for lag in lags {
                let _ = h.record(u64::try_from(lag.as_nanos()).unwrap_or(u64::MAX).max(1));
            }
        }
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.received.fetch_add(msgs.len() as u64, Ordering::Release);
    }
}

/// `--sql` when given, else the tag expression.
fn selector(args: &ConsumeArgs) -> crate::client::MessageSelector {
    match &args.sql {
        Some(sql) => crate::client::MessageSelector::sql92(sql.as_str()),
        None => crate::client::MessageSelector::tag(args.expression.as_str()),
    }
}

/// A started consumer of either kind.
enum Running {
    Push(PushConsumer),
    Lite(Arc<PullConsumer>, Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>),
}

/// Runs the benchmark; the live lines go to stderr.
pub fn run(
    opts: &RunOptions,
    args: &ConsumeArgs,
    _err: &mut dyn Write,
) -> Result<ConsumeReport, BenchError> {
    if args.threads == 0 {
        return Err(BenchError::Usage("--threads must be at least 1".into()));
    }
    if !(args.duration > 0.0
        && args.duration.is_finite()
        && args.idle > 0.0
        && args.idle.is_finite())
    {
        return Err(BenchError::Usage("--duration and --idle must be positive seconds".into()));
    }
    let slots = args.threads + 4;
    let shared = Arc::new(Shared {
        origin: Instant::now(),
        received: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        first_ns: AtomicU64::new(0),
        last_ns: AtomicU64::new(0),
        store: Recorder::new(slots),
        born: Recorder::new(slots),
        slots,
        next_slot: AtomicUsize::new(0),
        timer_lag: Mutex::new(new_histogram()),
    });
    let totals = Arc::new(Mutex::new((new_histogram(), new_histogram())));
    let ticker = start_reporter(opts, &shared, &totals)?;
    let running = start(opts, args, &shared)?;
    let stopped_by = wait(args, &shared);
    match running {
        Running::Push(c) => c.shutdown(),
        Running::Lite(c, stop, threads) => {
            stop.store(true, Ordering::Release);
            for t in threads {
                let _ = t.join();
            }
            c.shutdown();
        }
    }
    ticker.stop();
    let (store, born) = totals.lock().clone();
    Ok(report(args, &shared, &store, &born, stopped_by))
}

fn start(
    opts: &RunOptions,
    args: &ConsumeArgs,
    shared: &Arc<Shared>,
) -> Result<Running, BenchError> {
    let from = match args.from {
        StartFrom::First => ConsumeFrom::FirstOffset,
        StartFrom::Last => ConsumeFrom::LastOffset,
    };
    match args.client {
        ConsumerKind::Push | ConsumerKind::Orderly => {
            let c = PushConsumer::builder()
                .client_config(opts.client_config())
                .name_server(&opts.namesrv)
                .group(args.group.as_str())
                .consume_from(from)
                .threads(args.threads)
                .batch_size(args.batch_size.max(1))
                .pull_batch_size(args.pull_batch)
                .pull_threshold_for_queue(args.queue_cache)
                .build()?;
            c.subscribe_with(&args.topic, &selector(args))?;
            let s = Arc::clone(shared);
            if args.client == ConsumerKind::Orderly {
                c.start_orderly(move |msgs, _ctx| {
                    s.on_messages(msgs);
                    ConsumeOrderlyStatus::Success
                })?;
            } else {
                c.start(move |msgs, _ctx| {
                    s.on_messages(msgs);
                    ConsumeStatus::Success
                })?;
            }
            Ok(Running::Push(c))
        }
        ConsumerKind::Lite => {
            let c = Arc::new(
                PullConsumer::builder()
                    .client_config(opts.client_config())
                    .name_server(&opts.namesrv)
                    .group(args.group.as_str())
                    .consume_from(from)
                    .pull_batch_size(args.pull_batch)
                    .pull_threshold_for_queue(args.queue_cache)
                    .build()?,
            );
            c.subscribe_with(&args.topic, &selector(args))?;
            let stop = Arc::new(AtomicBool::new(false));
            let mut threads = Vec::with_capacity(args.threads);
            for i in 0..args.threads {
                let (c, stop, s) = (Arc::clone(&c), Arc::clone(&stop), Arc::clone(shared));
                let t = std::thread::Builder::new()
                    .name(format!("mqbench-poll-{i}"))
                    .spawn(move || {
                        while !stop.load(Ordering::Acquire) {
                            match c.poll(LITE_POLL) {
                                Ok(msgs) => s.on_messages(&msgs),
                                Err(_) => break,
                            }
                        }
                    })
                    .map_err(|e| BenchError::Failed(format!("cannot spawn a poll thread: {e}")))?;
                threads.push(t);
            }
            Ok(Running::Lite(c, stop, threads))
        }
    }
}

/// Blocks until a stop condition holds; returns which.
fn wait(args: &ConsumeArgs, shared: &Shared) -> &'static str {
    let deadline = Instant::now() + Duration::from_secs_f64(args.duration);
    let idle = Duration::from_secs_f64(args.idle);
    loop {
        std::thread::sleep(POLL_STOP);
        let received = shared.received.load(Ordering::Acquire);
        if args.count.is_some_and(|c| received >= c) {
            return "count";
        }
        if Instant::now() >= deadline {
            return "duration";
        }
        let last = shared.last_ns.load(Ordering::Acquire);
        if last > 0 && shared.origin.elapsed().saturating_sub(Duration::from_nanos(last)) >= idle {
            return "idle";
        }
    }
}

fn start_reporter(
    opts: &RunOptions,
    shared: &Arc<Shared>,
    totals: &Arc<Mutex<(Histogram<u64>, Histogram<u64>)>>,
) -> Result<Ticker, BenchError> {
    let (shared, totals, quiet) = (Arc::clone(shared), Arc::clone(totals), opts.quiet);
    let (mut store, mut born) = (new_histogram(), new_histogram());
    let (mut last_n, mut last_at) = (0u64, Instant::now());
    Ticker::spawn(opts.interval, move |is_final| {
        shared.store.drain_into(&mut store);
        shared.born.drain_into(&mut born);
        let now = Instant::now();
        let n = shared.received.load(Ordering::Acquire);
        if !quiet && !is_final {
            let dt = now.duration_since(last_at).as_secs_f64().max(1e-9);
            let (s, b) = (Latency::of(&store), Latency::of(&born));
            eprintln!(
                "[{:>6.1}s] {:>10} msg/s  store->recv p50 {:>9} p99 {:>9}  born->recv p99 {:>9}",
                shared.origin.elapsed().as_secs_f64(),
                thousands(((n - last_n) as f64 / dt) as u64),
                human_us(s.p50_us),
                human_us(s.p99_us),
                human_us(b.p99_us)
            );
        }
        let mut t = totals.lock();
        let _ = t.0.add(&store);
        let _ = t.1.add(&born);
        store.reset();
        born.reset();
        (last_n, last_at) = (n, now);
    })
    .map_err(|e| BenchError::Failed(format!("cannot spawn the reporter: {e}")))
}

fn report(
    args: &ConsumeArgs,
    shared: &Shared,
    store: &Histogram<u64>,
    born: &Histogram<u64>,
    stopped_by: &'static str,
) -> ConsumeReport {
    let received = shared.received.load(Ordering::Acquire);
    let bytes = shared.bytes.load(Ordering::Relaxed);
    let span_ns = shared
        .last_ns
        .load(Ordering::Acquire)
        .saturating_sub(shared.first_ns.load(Ordering::Acquire));
    let secs = (span_ns as f64 / 1e9).max(1e-6);
    ConsumeReport {
        client: match args.client {
            ConsumerKind::Push => "push",
            ConsumerKind::Orderly => "orderly",
            ConsumerKind::Lite => "lite",
        },
        topic: args.topic.clone(),
        group: args.group.clone(),
        threads: args.threads,
        from: match args.from {
            StartFrom::First => "first",
            StartFrom::Last => "last",
        },
        received,
        bytes,
        duration_secs: if received > 1 { secs } else { 0.0 },
        tps: if received > 1 { received as f64 / secs } else { 0.0 },
        mb_per_sec: if received > 1 { bytes as f64 / 1e6 / secs } else { 0.0 },
        store_to_receipt: Latency::of(store),
        born_to_receipt: Latency::of(born),
        timer_lag: {
            let h = shared.timer_lag.lock();
            (!h.is_empty()).then(|| Latency::of(&h))
        },
        stopped_by,
    }
}

impl ConsumeReport {
    /// The human-readable report.
    pub fn text(&self) -> String {
        format!(
            "mqbench consume: client={} threads={} group={} topic={} from={}\n  received    {} \
             messages ({:.1} MB) in {:.2} s, first to last\n  TPS         {} msg/s, {:.1} \
             MB/s\n  store->recv {}\n  born->recv  {}\n  stopped by  {}\n",
            self.client,
            self.threads,
            self.group,
            self.topic,
            self.from,
            thousands(self.received),
            self.bytes as f64 / 1e6,
            self.duration_secs,
            thousands(self.tps as u64),
            self.mb_per_sec,
            self.store_to_receipt.text(),
            self.born_to_receipt.text(),
            self.stopped_by
        ) + &self.timer_lag.map_or_else(String::new, |l| format!("  timer lag   {}\n", l.text()))
    }
}
