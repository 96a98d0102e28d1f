//! Nameserver configuration: the RON file shape (`conf/nameserver.ron`) and its validation.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{flag_value, ConfigError};

/// The file as written by users; every field optional with RocketMQ's defaults.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawNamesrvConfig {
    /// Port to listen on.
    pub listen_port: u16,
    /// Address to bind.
    pub bind_address: String,
    /// A broker that has not registered for this long is dropped.
    pub broker_expire_ms: u64,
    /// How often to look for expired brokers.
    pub scan_interval_ms: u64,
    /// Request worker threads.
    pub worker_threads: usize,
    /// Requests that may wait for a worker before SYSTEM_BUSY.
    pub worker_queue_capacity: usize,
    /// Idle client connections are closed after this long.
    pub idle_timeout_ms: u64,
    /// Connections from one client address beyond this are refused (see
    /// `ServerConfig::connections_per_address_max`).
    pub connections_per_address_max: usize,
    /// Where KV config is persisted; none keeps it in memory.
    pub kv_config_path: Option<PathBuf>,
}

impl Default for RawNamesrvConfig {
    fn default() -> Self {
        Self {
            listen_port: 9876,
            bind_address: "0.0.0.0".into(),
            broker_expire_ms: 120_000,
            scan_interval_ms: 5_000,
            worker_threads: 8,
            worker_queue_capacity: 10_000,
            idle_timeout_ms: 120_000,
            connections_per_address_max: 1_000,
            kv_config_path: None,
        }
    }
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct NamesrvConfig {
    pub listen_addr: SocketAddr,
    pub broker_expire_ms: u64,
    pub scan_interval_ms: u64,
    pub worker_threads: usize,
    pub worker_queue_capacity: usize,
    pub idle_timeout_ms: u64,
    pub connections_per_address_max: usize,
    pub kv_config_path: Option<PathBuf>,
}

impl crate::config::FlagOverrides for RawNamesrvConfig {
    /// Applies a command-line flag (`-port`, `-expire`...).
    fn apply_flag(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        match name {
            "port" | "p" | "listen_port" => self.listen_port = flag_value(name, value)?,
            "bind" | "bind_address" => self.bind_address = value.to_string(),
            "expire" | "broker_expire_ms" => self.broker_expire_ms = flag_value(name, value)?,
            "kv" | "kv_config_path" => self.kv_config_path = Some(PathBuf::from(value)),
            _ => {
                return Err(ConfigError::Flag {
                    flag: format!("-{name}"),
                    message: "unknown flag (try -h)".into(),
                })
            }
        }
        Ok(())
    }
}

impl RawNamesrvConfig {
    /// Checks values and builds the typed config.
    pub fn validate(self) -> Result<NamesrvConfig, ConfigError> {
        let ip: IpAddr = self.bind_address.parse().map_err(|e| ConfigError::Invalid {
            key: "bind_address",
            message: format!("{:?} is not an IP address: {e}", self.bind_address),
        })?;
        if self.worker_threads == 0 {
            return Err(ConfigError::Invalid {
                key: "worker_threads",
                message: "must be ≥ 1".into(),
            });
        }
        if self.worker_queue_capacity == 0 {
            return Err(ConfigError::Invalid {
                key: "worker_queue_capacity",
                message: "must be ≥ 1".into(),
            });
        }
        if self.scan_interval_ms == 0 || self.broker_expire_ms == 0 {
            return Err(ConfigError::Invalid {
                key: "broker_expire_ms",
                message: "broker_expire_ms and scan_interval_ms must be > 0".into(),
            });
        }
        Ok(NamesrvConfig {
            listen_addr: SocketAddr::new(ip, self.listen_port),
            broker_expire_ms: self.broker_expire_ms,
            scan_interval_ms: self.scan_interval_ms,
            worker_threads: self.worker_threads,
            worker_queue_capacity: self.worker_queue_capacity,
            idle_timeout_ms: self.idle_timeout_ms,
            connections_per_address_max: self.connections_per_address_max.max(1),
            kv_config_path: self.kv_config_path,
        })
    }
}
