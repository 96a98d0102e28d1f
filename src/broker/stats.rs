//! Broker counters for GET_BROKER_RUNTIME_INFO and metrics: cheap relaxed atomics on the hot
//! paths, plus samples taken by the housekeeping thread from which rates (putTps,
//! getTransferredTps over 10 s, 60 s and 600 s, as Java reports them) are computed on demand.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Windows of the rates, in seconds, in the order Java prints them.
const RATE_WINDOWS_S: [u64; 3] = [10, 60, 600];
/// Samples kept: enough for the longest window at one sample per second.
const SAMPLES_MAX: usize = 601;

/// Totals since start.
#[derive(Debug, Default)]
pub struct BrokerStats {
    pub msg_put_total: AtomicU64,
    pub msg_get_total: AtomicU64,
    pub put_failures: AtomicU64,
    pub start_ms: AtomicU64,
    /// (time ms, puts, gets), oldest first.
    samples: Mutex<VecDeque<(u64, u64, u64)>>,
}

impl BrokerStats {
    /// Adds `n` stored messages.
    pub fn put(&self, n: u64) {
        self.msg_put_total.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds `n` delivered messages.
    pub fn got(&self, n: u64) {
        self.msg_get_total.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts a failed put.
    pub fn put_failed(&self) {
        self.put_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the totals at `now_ms` (called periodically by the housekeeping thread).
    pub fn sample(&self, now_ms: u64) {
        let puts = self.msg_put_total.load(Ordering::Relaxed);
        let gets = self.msg_get_total.load(Ordering::Relaxed);
        let mut samples = self.samples.lock();
        samples.push_back((now_ms, puts, gets));
        while samples.len() > SAMPLES_MAX {
            samples.pop_front();
        }
    }

    /// `(putTps, getTransferredTps)` as Java formats them: three rates, space-separated.
    pub fn rates(&self, now_ms: u64) -> (String, String) {
        let puts = self.msg_put_total.load(Ordering::Relaxed);
        let gets = self.msg_get_total.load(Ordering::Relaxed);
        let samples = self.samples.lock();
        let mut put_tps = Vec::new();
        let mut get_tps = Vec::new();
        for window in RATE_WINDOWS_S {
            let since = now_ms.saturating_sub(window * 1000);
            // The oldest sample inside the window (or the oldest we have).
            let base = samples.iter().find(|(t, _, _)| *t >= since).or(samples.front());
            let (p, g) = match base {
                Some(&(t, p0, g0)) if now_ms > t => {
                    let secs = (now_ms - t) as f64 / 1000.0;
                    ((puts - p0) as f64 / secs, (gets - g0) as f64 / secs)
                }
                _ => (0.0, 0.0),
            };
            put_tps.push(format!("{p:.2}"));
            get_tps.push(format!("{g:.2}"));
        }
        (put_tps.join(" "), get_tps.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_windows() {
        let s = BrokerStats::default();
        s.sample(0);
        s.put(100);
        s.got(50);
        s.sample(10_000);
        s.put(100);
        let (put, get) = s.rates(20_000);
        let put: Vec<f64> = put.split(' ').map(|x| x.parse().unwrap()).collect();
        let get: Vec<f64> = get.split(' ').map(|x| x.parse().unwrap()).collect();
        assert_eq!(put, vec![10.0, 10.0, 10.0]);
        assert_eq!(get, vec![0.0, 2.5, 2.5], "the gets happened before the last 10 s");
        assert_eq!(BrokerStats::default().rates(5).0, "0.00 0.00 0.00");
    }
}
