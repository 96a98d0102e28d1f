//! `ClientConfig`: what every producer, consumer and admin client shares: the nameserver list,
//! the client's identity (`ip@instance`) and the RPC timeouts and timer periods.
//!
//! The nameserver list comes from the builder or, when none is given, from the `NAMESRV_ADDR`
//! environment variable (`;`-separated, like the Java client). Defaults follow Java's
//! `ClientConfig` (PROTOCOL.md Appendix B).

use std::net::{Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::error::ClientError;

/// The environment variable holding the nameserver list.
pub const NAMESRV_ADDR_ENV: &str = "NAMESRV_ADDR";

/// Settings shared by every client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Nameserver addresses (`host:port`).
    pub name_servers: Vec<String>,
    /// Distinguishes clients of one process; part of the client id. The default is
    /// `<pid>#<n>`, unique per client object, so that two consumers of one group in one process
    /// get different ids (the Java client does the same with `pid#nanoTime`).
    pub instance_name: String,
    /// The IPv4 address reported in the client id and in message ids.
    pub client_ip: Ipv4Addr,
    /// Timeout of ordinary (non-pull) calls.
    pub rpc_timeout: Duration,
    /// How often topic routes are refreshed from the nameserver.
    pub poll_name_server_interval: Duration,
    /// How often heartbeats go to the brokers.
    pub heartbeat_interval: Duration,
    /// How often consumer offsets are committed.
    pub persist_offset_interval: Duration,
    /// After a reply arrives, the connection's reader keeps polling without sleeping for this
    /// long (microseconds), so the next reply is read without waking a sleeping CPU (~20 µs
    /// on VMs with halt polling off). 0 turns it off: less CPU when many threads share few
    /// cores and throughput matters more than latency.
    pub busy_poll_us: u64,
    /// ACL 1.0 credentials: every request is signed with them (`AccessKey`, `Signature`),
    /// nameserver calls included, as Java's `AclClientRPCHook` does.
    pub credentials: Option<crate::acl::SessionCredentials>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            name_servers: name_servers_from_env(),
            instance_name: default_instance_name(),
            client_ip: local_ipv4(),
            rpc_timeout: Duration::from_secs(3),
            poll_name_server_interval: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(30),
            persist_offset_interval: Duration::from_secs(5),
            busy_poll_us: rocketmq_net::ClientConfig::default().busy_poll_us,
            credentials: None,
        }
    }
}

impl ClientConfig {
    /// Defaults, with the nameservers from `NAMESRV_ADDR`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the nameserver list from a `;`-separated string such as `"a:9876;b:9876"`.
    pub fn with_name_server(mut self, addrs: &str) -> Self {
        self.name_servers = split_addrs(addrs);
        self
    }

    /// `ip@instance`, the id brokers know this client by.
    pub fn client_id(&self) -> String {
        format!("{}@{}", self.client_ip, self.instance_name)
    }

    /// Fails when no nameserver is configured.
    pub fn validate(&self) -> Result<(), ClientError> {
        if self.name_servers.is_empty() {
            return Err(ClientError::InvalidArgument {
                what: format!(
                    "no nameserver address: call name_server(\"host:9876\") or set {NAMESRV_ADDR_ENV}"
                ),
            });
        }
        Ok(())
    }
}

/// Splits `"a:9876; b:9876"` into trimmed, non-empty addresses.
pub fn split_addrs(addrs: &str) -> Vec<String> {
    addrs.split(';').map(str::trim).filter(|a| !a.is_empty()).map(str::to_string).collect()
}

fn name_servers_from_env() -> Vec<String> {
    std::env::var(NAMESRV_ADDR_ENV).map(|v| split_addrs(&v)).unwrap_or_default()
}

fn default_instance_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    format!("{}#{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The address of the interface that routes outwards, or loopback when there is none. A UDP
/// `connect` sends no packet; it only asks the kernel to pick the source address.
pub fn local_ipv4() -> Ipv4Addr {
    let probe = || -> Option<Ipv4Addr> {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
        socket.connect((Ipv4Addr::new(10, 255, 255, 255), 9)).ok()?;
        match socket.local_addr().ok()?.ip() {
            std::net::IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
            _ => None,
        }
    };
    probe().unwrap_or(Ipv4Addr::LOCALHOST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_nameserver_lists() {
        assert_eq!(split_addrs(" a:1 ;b:2;; "), vec!["a:1", "b:2"]);
        assert!(split_addrs("").is_empty());
    }

    #[test]
    fn instance_names_are_unique_and_ids_well_formed() {
        let a = ClientConfig::new().with_name_server("127.0.0.1:9876");
        let b = ClientConfig::new();
        assert_ne!(a.instance_name, b.instance_name);
        assert!(a.client_id().contains('@'));
        assert_eq!(a.name_servers, vec!["127.0.0.1:9876"]);
        assert!(a.validate().is_ok());
        let none = ClientConfig { name_servers: vec![], ..a };
        assert!(matches!(none.validate(), Err(ClientError::InvalidArgument { .. })));
    }
}
