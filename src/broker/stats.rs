//! Broker counters for GET_BROKER_RUNTIME_INFO and metrics: cheap relaxed atomics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Totals since start.
#[derive(Debug, Default)]
pub struct BrokerStats {
    pub msg_put_total: AtomicU64,
    pub msg_get_total: AtomicU64,
    pub put_failures: AtomicU64,
    pub start_ms: AtomicU64,
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
}
