//! Connection admission on `net-io`: the server-wide cap and the per-client-address cap, the
//! refusal counts by address that [`super::Server::refused_connections`] reads, and the
//! rate-limited warning that names the refused addresses.
//!
//! **Invariants:** `open[ip]` is the number of registered connections from `ip` and is never
//! zero (an address with none is removed); the refusal book holds at most
//! [`REFUSAL_ADDRS_MAX`] addresses (later ones count only in the total). All of this is
//! per-accept and per-close work: nothing here runs for a request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::warn;
use parking_lot::Mutex;

/// Addresses the refusal book keeps counts for; refusals from further addresses count only in
/// the total (a flood from many addresses cannot grow the book without bound).
pub(crate) const REFUSAL_ADDRS_MAX: usize = 4096;
/// At most one refusal warning per this interval (it sums up every address refused since).
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(1);
/// Addresses named in one refusal warning; the rest are summed up.
const REFUSAL_LOG_ADDRS: usize = 5;

/// Which limit refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `connections_max` connections are open.
    ServerFull,
    /// `connections_per_address_max` connections from this address are open.
    AddressFull,
}

/// Refusals since the start: the shared half, read by `Server`.
#[derive(Debug, Default)]
pub(crate) struct RefusalBook {
    total: u64,
    by_addr: HashMap<IpAddr, u64>,
}

impl RefusalBook {
    fn count(&mut self, ip: IpAddr) {
        self.total += 1;
        if let Some(n) = self.by_addr.get_mut(&ip) {
            *n += 1;
        } else if self.by_addr.len() < REFUSAL_ADDRS_MAX {
            self.by_addr.insert(ip, 1);
        }
    }

    /// Refusals since the start, every address included.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Refusal counts by address, most refused first.
    pub(crate) fn by_addr(&self) -> Vec<(IpAddr, u64)> {
        let mut counts: Vec<(IpAddr, u64)> = self.by_addr.iter().map(|(a, n)| (*a, *n)).collect();
        counts.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        counts
    }
}

/// The admission state `net-io` owns.
pub(crate) struct ConnLimits {
    connections_max: usize,
    per_address_max: usize,
    /// Open connections by client address.
    open: HashMap<IpAddr, usize>,
    book: Arc<Mutex<RefusalBook>>,
    /// Refusals not warned about yet, by address, with the limit that refused the last one.
    unlogged: HashMap<IpAddr, (u64, Refusal)>,
    last_log: Option<Instant>,
}

impl ConnLimits {
    pub(crate) fn new(
        connections_max: usize,
        per_address_max: usize,
        book: Arc<Mutex<RefusalBook>>,
    ) -> Self {
        Self {
            connections_max,
            per_address_max,
            open: HashMap::new(),
            book,
            unlogged: HashMap::new(),
            last_log: None,
        }
    }

    /// Admits a connection from `ip` (counting it open) or says which limit refuses it
    /// (counting the refusal). `open_total` is the number of connections open now.
    pub(crate) fn admit(&mut self, ip: IpAddr, open_total: usize) -> Result<(), Refusal> {
        let from_ip = self.open.get(&ip).copied().unwrap_or(0);
        let refusal = if open_total >= self.connections_max {
            Refusal::ServerFull
        } else if from_ip >= self.per_address_max {
            Refusal::AddressFull
        } else {
            *self.open.entry(ip).or_insert(0) += 1;
            return Ok(());
        };
        self.book.lock().count(ip);
        let entry = self.unlogged.entry(ip).or_insert((0, refusal));
        *entry = (entry.0 + 1, refusal);
        Err(refusal)
    }

    /// An admitted connection from `ip` closed (or was never registered).
    pub(crate) fn release(&mut self, ip: IpAddr) {
        let Some(n) = self.open.get_mut(&ip) else {
            panic!("released a connection from {ip}, which has none open");
        };
        assert!(*n > 0, "open count of {ip} is zero but listed");
        *n -= 1;
        if *n == 0 {
            self.open.remove(&ip);
        }
    }

    /// Open connections from `ip`.
    pub(crate) fn open_from(&self, ip: IpAddr) -> usize {
        self.open.get(&ip).copied().unwrap_or(0)
    }

    /// After a flood: gives back the maps' spare capacity.
    pub(crate) fn shrink(&mut self) {
        shrink_map(&mut self.open);
        shrink_map(&mut self.unlogged);
    }

    /// Warns about the refusals since the last warning, at most once per
    /// [`REFUSAL_LOG_INTERVAL`], naming the most refused addresses.
    pub(crate) fn report(&mut self, now: Instant) {
        if self.unlogged.is_empty() {
            return;
        }
        if self.last_log.is_some_and(|at| now.duration_since(at) < REFUSAL_LOG_INTERVAL) {
            return;
        }
        self.last_log = Some(now);
        let mut refused: Vec<(IpAddr, (u64, Refusal))> = self.unlogged.drain().collect();
        refused.sort_unstable_by_key(|(_, (n, _))| std::cmp::Reverse(*n));
        for (ip, (n, refusal)) in refused.iter().take(REFUSAL_LOG_ADDRS) {
            match refusal {
                Refusal::AddressFull => warn!(
                    "refused {n} connection(s) from {ip}: {} already open from that address \
                     (connections_per_address_max {})",
                    self.open_from(*ip),
                    self.per_address_max
                ),
                Refusal::ServerFull => warn!(
                    "refused {n} connection(s) from {ip}: the server already has {} open \
                     (connections_max)",
                    self.connections_max
                ),
            }
        }
        if refused.len() > REFUSAL_LOG_ADDRS {
            let rest: u64 = refused[REFUSAL_LOG_ADDRS..].iter().map(|(_, (n, _))| n).sum();
            let addrs = refused.len() - REFUSAL_LOG_ADDRS;
            warn!("refused {rest} more connection(s) from {addrs} other address(es)");
        }
    }
}

/// Gives a map's memory back once it holds less than a quarter of what it has room for.
pub(crate) fn shrink_map<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>) {
    if map.capacity() > 64 && map.len() * 4 < map.capacity() {
        map.shrink_to(map.len() * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn the_per_address_cap_refuses_only_that_address_and_frees_on_release() {
        let book = Arc::new(Mutex::new(RefusalBook::default()));
        let mut adm = ConnLimits::new(100, 2, Arc::clone(&book));
        assert_eq!(adm.admit(ip(1), 0), Ok(()));
        assert_eq!(adm.admit(ip(1), 1), Ok(()));
        assert_eq!(adm.admit(ip(1), 2), Err(Refusal::AddressFull));
        assert_eq!(adm.admit(ip(2), 2), Ok(()));
        adm.release(ip(1));
        assert_eq!(adm.admit(ip(1), 2), Ok(()));
        assert_eq!(adm.admit(ip(1), 3), Err(Refusal::AddressFull));
        assert_eq!(book.lock().total(), 2);
        assert_eq!(book.lock().by_addr(), vec![(ip(1), 2)]);
        for _ in 0..2 {
            adm.release(ip(1));
        }
        adm.release(ip(2));
        assert_eq!(adm.open_from(ip(1)), 0);
        assert!(adm.open.is_empty(), "addresses with nothing open are forgotten");
    }

    #[test]
    fn the_server_cap_comes_first_and_the_book_is_bounded() {
        let book = Arc::new(Mutex::new(RefusalBook::default()));
        let mut adm = ConnLimits::new(1, 10, Arc::clone(&book));
        assert_eq!(adm.admit(ip(1), 1), Err(Refusal::ServerFull));
        for i in 0..=REFUSAL_ADDRS_MAX {
            let addr = IpAddr::from(std::net::Ipv6Addr::from(u128::try_from(i).unwrap()));
            assert_eq!(adm.admit(addr, 1), Err(Refusal::ServerFull));
        }
        let book = book.lock();
        assert_eq!(book.total(), u64::try_from(REFUSAL_ADDRS_MAX).unwrap() + 2);
        assert_eq!(book.by_addr().len(), REFUSAL_ADDRS_MAX);
        adm.report(Instant::now());
        assert!(adm.unlogged.is_empty(), "a report takes every unlogged refusal");
    }
}
