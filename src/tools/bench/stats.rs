//! Measurement plumbing for mqbench: per-thread HDR histograms drained by a once-a-second
//! reporter, success/failure counters with failures keyed by reason, and the latency summary
//! that goes into reports.
//!
//! Each worker records into its own slot (an uncontended lock); the reporter swaps every slot
//! into an interval histogram, prints the live line, and folds the interval into the total.
//! So the live percentiles are exactly those of the last interval, and the final ones cover
//! every measured request.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::Serialize;

use crate::client::ClientError;

/// Largest latency tracked: 60 s in nanoseconds (larger values are clamped).
const MAX_TRACKED_NS: u64 = 60_000_000_000;

/// A latency histogram in nanoseconds, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED_NS, 3).expect("static histogram bounds are valid")
}

/// Per-thread latency histograms.
#[derive(Debug)]
pub struct Recorder {
    slots: Vec<Mutex<Histogram<u64>>>,
}

impl Recorder {
    /// `slots` independent histograms.
    pub fn new(slots: usize) -> Self {
        Self { slots: (0..slots.max(1)).map(|_| Mutex::new(new_histogram())).collect() }
    }

    /// Records one latency into `slot` (taken modulo the slot count).
    pub fn record(&self, slot: usize, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.slots[slot % self.slots.len()].lock().saturating_record(ns);
    }

    /// Moves every slot's values into `into`.
    pub fn drain_into(&self, into: &mut Histogram<u64>) {
        for slot in &self.slots {
            let mut h = slot.lock();
            // Same bounds everywhere, so adding cannot fail.
            let _ = into.add(&*h);
            h.reset();
        }
    }

    /// Discards everything recorded so far.
    pub fn reset(&self) {
        for slot in &self.slots {
            slot.lock().reset();
        }
    }
}

/// Message counters of a run.
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages handed to the client (attempted).
    pub sent: AtomicU64,
    /// Messages acknowledged (oneway: accepted by the client).
    pub succeeded: AtomicU64,
    /// Messages that failed.
    pub failed: AtomicU64,
    /// Body bytes of the succeeded messages.
    pub bytes: AtomicU64,
    failures: Mutex<BTreeMap<String, u64>>,
    statuses: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    /// Counts `n` messages of `bytes` body bytes in total as succeeded.
    pub fn succeed(&self, n: u64, bytes: u64) {
        self.succeeded.fetch_add(n, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts `n` messages as failed with `e`.
    pub fn fail(&self, n: u64, e: &ClientError) {
        self.failed.fetch_add(n, Ordering::Relaxed);
        *self.failures.lock().entry(failure_reason(e)).or_default() += n;
    }

    /// Counts `n` stored messages whose status was not SEND_OK (e.g. FLUSH_DISK_TIMEOUT).
    pub fn status(&self, n: u64, status: &str) {
        *self.statuses.lock().entry(status.to_string()).or_default() += n;
    }

    /// Failures by reason.
    pub fn failures(&self) -> BTreeMap<String, u64> {
        self.failures.lock().clone()
    }

    /// Non-SEND_OK statuses of succeeded sends.
    pub fn statuses(&self) -> BTreeMap<String, u64> {
        self.statuses.lock().clone()
    }

    /// Zeroes everything.
    pub fn reset(&self) {
        for c in [&self.sent, &self.succeeded, &self.failed, &self.bytes] {
            c.store(0, Ordering::Relaxed);
        }
        self.failures.lock().clear();
        self.statuses.lock().clear();
    }
}

/// A short, stable key for why a send failed.
pub fn failure_reason(e: &ClientError) -> String {
    match e {
        ClientError::Timeout { .. } => "timeout".into(),
        ClientError::BrokerBusy { .. } => "broker_busy".into(),
        ClientError::TooManyInFlight { .. } => "too_many_in_flight".into(),
        ClientError::Broker { code, .. } => format!("broker_code_{code}"),
        ClientError::NoBrokerReachable { .. } => "broker_unreachable".into(),
        ClientError::NameserverUnreachable { .. } => "nameserver_unreachable".into(),
        ClientError::Net { .. } => "network".into(),
        ClientError::TopicNotFound { .. } => "topic_not_found".into(),
        ClientError::NoQueueAvailable { .. } => "no_queue_available".into(),
        ClientError::MessageTooLarge { .. } => "message_too_large".into(),
        ClientError::BadResponse { .. } => "bad_response".into(),
        ClientError::InvalidArgument { .. } => "invalid_argument".into(),
        ClientError::NotRunning => "client_not_running".into(),
        _ => "other".into(),
    }
}

/// A thread that calls `tick(false)` every interval and `tick(true)` once when stopped: the
/// live-line reporter.
#[derive(Debug)]
pub struct Ticker {
    stop: Option<Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Starts ticking every `interval`.
    pub fn spawn<F>(interval: Duration, mut tick: F) -> std::io::Result<Self>
    where
        F: FnMut(bool) + Send + 'static,
    {
        let (stop, stopped) = bounded::<()>(1);
        let handle =
            std::thread::Builder::new().name("mqbench-report".into()).spawn(move || loop {
                match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => tick(false),
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                        tick(true);
                        return;
                    }
                }
            })?;
        Ok(Self { stop: Some(stop), handle: Some(handle) })
    }

    /// Stops the thread after its final tick.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

impl Latency {
    /// The summary of a nanosecond histogram.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Self {
            count: h.len(),
            mean_us: h.mean() / 1000.0,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }

    /// `p50 12.3 us  p90 …  max …`, in µs below 10 ms and ms above.
    pub fn text(&self) -> String {
        format!(
            "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            human_us(self.p50_us),
            human_us(self.p90_us),
            human_us(self.p99_us),
            human_us(self.p999_us),
            human_us(self.max_us)
        )
    }
}

/// `850 us`, `12.3 ms`, `1.20 s`.
pub fn human_us(us: f64) -> String {
    if us < 100.0 {
        format!("{us:.1} us")
    } else if us < 10_000.0 {
        format!("{us:.0} us")
    } else if us < 1_000_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1_000_000.0)
    }
}

/// `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_drains_every_slot() {
        let r = Recorder::new(3);
        r.record(0, Duration::from_micros(10));
        r.record(1, Duration::from_micros(20));
        r.record(5, Duration::from_micros(30));
        let mut h = new_histogram();
        r.drain_into(&mut h);
        assert_eq!(h.len(), 3);
        let mut again = new_histogram();
        r.drain_into(&mut again);
        assert!(again.is_empty(), "draining empties the slots");
        let l = Latency::of(&h);
        assert_eq!(l.count, 3);
        assert!((l.p50_us - 20.0).abs() < 0.1, "{l:?}");
        assert!((l.max_us - 30.0).abs() < 0.1, "{l:?}");
        assert!(l.text().starts_with("p50 20.0 us"));
    }

    #[test]
    fn counters_key_failures_by_reason() {
        let c = Counters::default();
        c.fail(2, &ClientError::TooManyInFlight { limit: 1 });
        c.fail(1, &ClientError::Broker { addr: "a".into(), code: 13, remark: String::new() });
        c.succeed(3, 384);
        c.status(1, "FLUSH_DISK_TIMEOUT");
        assert_eq!(c.failed.load(Ordering::Relaxed), 3);
        assert_eq!(c.failures()["too_many_in_flight"], 2);
        assert_eq!(c.failures()["broker_code_13"], 1);
        assert_eq!(c.statuses()["FLUSH_DISK_TIMEOUT"], 1);
        c.reset();
        assert!(c.failures().is_empty());
        assert_eq!(c.bytes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn human_numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(human_us(12.34), "12.3 us");
        assert_eq!(human_us(850.0), "850 us");
        assert_eq!(human_us(12_300.0), "12.3 ms");
        assert_eq!(human_us(1_200_000.0), "1.20 s");
    }
}
