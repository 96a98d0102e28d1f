//! Broker configuration: the RON file shape (`conf/broker.ron`), command-line overrides, and the
//! validated [`BrokerConfig`] the broker runs with. The store receives only its own slice
//! ([`BrokerConfig::store_config`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use rocketmq_store::{FlushDiskType, StoreConfig};
use serde::{Deserialize, Serialize};

use super::role::{BrokerRole, UnknownRole};
use crate::config::{flag_value, ConfigError};

/// The hours of the day at which expired files are deleted (Java's `deleteWhen`). In RON one
/// hour (`delete_when: 4`), a list (`delete_when: [4, 16]`) or Java's text (`"04;16"`); it is
/// written back as a number when it holds one hour and as a list otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteWhen(pub Vec<u8>);

impl DeleteWhen {
    /// Java's form: two-digit hours joined by `;` ("04", "04;16").
    pub fn to_java(&self) -> String {
        let hours: Vec<String> = self.0.iter().map(|h| format!("{h:02}")).collect();
        hours.join(";")
    }

    /// Parses Java's form; an error says what was expected.
    pub fn parse_java(text: &str) -> Result<Self, String> {
        let hours: Result<Vec<u8>, String> = text
            .split(';')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|h| match h.parse::<u8>() {
                Ok(hour) if hour < 24 => Ok(hour),
                _ => Err(format!("{h:?} is not an hour 00-23")),
            })
            .collect();
        let hours = hours?;
        if hours.is_empty() {
            return Err("expected one or more hours 00-23 joined by ';'".into());
        }
        Ok(Self(hours))
    }
}

impl Serialize for DeleteWhen {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [hour] => s.serialize_u8(*hour),
            hours => hours.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for DeleteWhen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DeleteWhenVisitor)
    }
}

struct DeleteWhenVisitor;

impl<'de> serde::de::Visitor<'de> for DeleteWhenVisitor {
    type Value = DeleteWhen;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an hour 0..=23, a list of hours, or Java's \"04;16\"")
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DeleteWhen, E> {
        u8::try_from(v).map(|h| DeleteWhen(vec![h])).map_err(|_| E::custom("an hour is 0..=23"))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DeleteWhen, E> {
        u64::try_from(v).map_err(|_| E::custom("an hour is 0..=23")).and_then(|v| self.visit_u64(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DeleteWhen, E> {
        DeleteWhen::parse_java(v).map_err(E::custom)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<DeleteWhen, A::Error> {
        let mut hours = Vec::new();
        while let Some(hour) = seq.next_element::<u8>()? {
            hours.push(hour);
        }
        Ok(DeleteWhen(hours))
    }
}

/// The file as users write it. Keys are RocketMQ's broker.conf keys in snake_case.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawBrokerConfig {
    pub broker_cluster_name: String,
    pub broker_name: String,
    pub broker_id: i64,
    pub namesrv_addr: Option<String>,
    pub listen_port: u16,
    pub bind_address: String,
    pub broker_ip: Option<String>,
    pub store_path: PathBuf,
    pub flush_disk_type: String,
    pub broker_role: String,
    pub auto_create_topic_enable: bool,
    pub auto_create_subscription_group: bool,
    pub default_topic_queue_nums: i32,
    pub delete_when: DeleteWhen,
    pub file_reserved_time_hours: u32,
    pub max_message_size_bytes: u32,
    pub commitlog_file_size_bytes: u64,
    pub commitlog_cache_window_bytes: Option<u64>,
    pub consume_queue_entries_per_file: u64,
    pub disk_max_used_space_ratio_percent: u8,
    pub flush_interval_ms: u64,
    pub sync_flush_timeout_ms: u64,
    pub message_delay_level: String,
    pub register_interval_ms: u64,
    pub long_polling_enable: bool,
    pub short_polling_time_ms: u64,
    pub consumer_offset_flush_interval_ms: u64,
    pub client_channel_expire_ms: u64,
    pub rebalance_lock_max_live_ms: u64,
    pub idle_timeout_ms: u64,
    /// See `ServerConfig::connections_per_address_max`.
    pub connections_per_address_max: usize,
    /// Check every request against the ACL files (Java's `aclEnable`).
    pub acl_enable: bool,
    /// The main ACL file; default `$ROCKETMQ_HOME/conf/plain_acl.yml` (or `./conf/…` without
    /// ROCKETMQ_HOME). Every `*.yml` under the `acl/` directory beside it is loaded too.
    pub acl_file: Option<PathBuf>,
    pub net_busy_poll_us: u64,
    pub send_threads: usize,
    pub send_queue_capacity: usize,
    pub send_inline: bool,
    pub pull_threads: usize,
    pub pull_queue_capacity: usize,
    pub admin_threads: usize,
    pub admin_queue_capacity: usize,
    pub max_transfer_count: u32,
    pub max_transfer_bytes: u32,
    pub region_id: String,
    pub trace_on: bool,
    /// SQL92 property filters on (enablePropertyFilter). Our default is true; Java's is false.
    pub enable_property_filter: bool,
    /// A half message older than this is checked back with its producer.
    pub transaction_timeout_ms: u64,
    /// Checks before a half message is given up (moved to TRANS_CHECK_MAX_TIME_TOPIC).
    pub transaction_check_max: u32,
    /// How often the check-back service scans the half queue.
    pub transaction_check_interval_ms: u64,
    /// Accept timer messages (Java `timerWheelEnable`).
    pub timer_wheel_enable: bool,
    /// Furthest a timer message may be (Java `timerMaxDelaySec`, default 3 days).
    pub timer_max_delay_sec: u64,
    /// Timer granularity: delivery times round down to it (Java `timerPrecisionMs`).
    pub timer_precision_ms: u64,
}

impl Default for RawBrokerConfig {
    fn default() -> Self {
        let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
        Self {
            broker_cluster_name: "DefaultCluster".into(),
            broker_name: "broker-a".into(),
            broker_id: 0,
            namesrv_addr: None,
            listen_port: 10911,
            bind_address: "0.0.0.0".into(),
            broker_ip: None,
            store_path: PathBuf::from(home).join("store"),
            flush_disk_type: "ASYNC_FLUSH".into(),
            broker_role: "ASYNC_MASTER".into(),
            auto_create_topic_enable: true,
            auto_create_subscription_group: true,
            default_topic_queue_nums: 8,
            delete_when: DeleteWhen(vec![4]),
            file_reserved_time_hours: 72,
            max_message_size_bytes: 4 * 1024 * 1024,
            commitlog_file_size_bytes: 1 << 30,
            commitlog_cache_window_bytes: Some(1 << 30),
            consume_queue_entries_per_file: 300_000,
            disk_max_used_space_ratio_percent: 75,
            flush_interval_ms: 500,
            sync_flush_timeout_ms: 5_000,
            message_delay_level: "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"
                .into(),
            register_interval_ms: 30_000,
            long_polling_enable: true,
            short_polling_time_ms: 1_000,
            consumer_offset_flush_interval_ms: 5_000,
            client_channel_expire_ms: 120_000,
            rebalance_lock_max_live_ms: super::lock::DEFAULT_LOCK_MAX_LIVE_MS,
            idle_timeout_ms: 120_000,
            connections_per_address_max: 1_000,
            acl_enable: false,
            acl_file: None,
            net_busy_poll_us: 50,
            send_threads: 1,
            send_queue_capacity: 10_000,
            send_inline: true,
            pull_threads: 2,
            pull_queue_capacity: 100_000,
            admin_threads: 2,
            admin_queue_capacity: 10_000,
            max_transfer_count: 32,
            max_transfer_bytes: 256 * 1024,
            region_id: crate::protocol::constants::DEFAULT_REGION.into(),
            trace_on: true,
            enable_property_filter: true,
            transaction_timeout_ms: 6_000,
            transaction_check_max: 15,
            transaction_check_interval_ms: 30_000,
            timer_wheel_enable: true,
            timer_max_delay_sec: 3 * 24 * 3600,
            timer_precision_ms: 1_000,
        }
    }
}

/// What the broker runs with.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub cluster_name: String,
    pub broker_name: String,
    pub broker_id: i64,
    pub namesrv_addrs: Vec<String>,
    pub listen_addr: SocketAddr,
    /// The address clients reach us at; written into routes and offset message ids.
    pub advertised_addr: SocketAddrV4,
    pub store: StoreConfig,
    pub auto_create_topic_enable: bool,
    pub auto_create_subscription_group: bool,
    pub default_topic_queue_nums: i32,
    pub register_interval_ms: u64,
    pub long_polling_enable: bool,
    pub short_polling_time_ms: u64,
    pub consumer_offset_flush_interval_ms: u64,
    pub client_channel_expire_ms: u64,
    /// An orderly consumer's queue lock expires this long after its last renewal.
    pub rebalance_lock_max_live_ms: u64,
    pub idle_timeout_ms: u64,
    /// See `ServerConfig::connections_per_address_max`.
    pub connections_per_address_max: usize,
    /// The ACL files when `aclEnable` is on.
    pub acl: Option<super::acl::AclFiles>,
    /// See `ServerConfig::busy_poll_us`.
    pub net_busy_poll_us: u64,
    pub pools: PoolSizes,
    pub max_transfer_count: u32,
    pub max_transfer_bytes: u32,
    pub region_id: String,
    pub trace_on: bool,
    /// SQL92 subscriptions are accepted and applied (enablePropertyFilter).
    pub enable_property_filter: bool,
    pub flush_disk_type_name: String,
    /// The transaction check-back settings.
    pub txn: TxnConfig,
    /// Timer messages.
    pub timer: TimerConfig,
    /// The role at start; the running role is `RoleState` (it may change at run time).
    pub broker_role: BrokerRole,
    /// The raw values, for GET_BROKER_CONFIG.
    pub raw: RawBrokerConfig,
}

/// The transaction check-back service's settings (broker.conf `transactionTimeOut`,
/// `transactionCheckMax`, `transactionCheckInterval`).
#[derive(Debug, Clone, Copy)]
pub struct TxnConfig {
    /// Age after which an unresolved half message is checked back.
    pub timeout_ms: u64,
    /// Checks before a half message is given up.
    pub check_max: u32,
    /// Time between two scans of the half queue.
    pub check_interval_ms: u64,
}

/// Timer messages (broker.conf `timerWheelEnable`, `timerMaxDelaySec`, `timerPrecisionMs`).
#[derive(Debug, Clone, Copy)]
pub struct TimerConfig {
    /// Timer messages are accepted.
    pub enable: bool,
    /// Furthest delivery time accepted, from now.
    pub max_delay_ms: u64,
    /// Delivery times round down to a multiple of this.
    pub precision_ms: u64,
}

/// Worker pool sizes.
#[derive(Debug, Clone, Copy)]
pub struct PoolSizes {
    pub send_threads: usize,
    pub send_queue_capacity: usize,
    /// Plain sends run on `net-io` under async flush (see `Broker::start`).
    pub send_inline: bool,
    pub pull_threads: usize,
    pub pull_queue_capacity: usize,
    pub admin_threads: usize,
    pub admin_queue_capacity: usize,
}

impl BrokerConfig {
    /// The store's slice of the configuration.
    pub fn store_config(&self) -> StoreConfig {
        self.store.clone()
    }
}

/// The main ACL file and the `acl/` directory beside it (Java: `$ROCKETMQ_HOME/conf/`).
fn acl_files(file: Option<&std::path::Path>) -> super::acl::AclFiles {
    let main = file.map(PathBuf::from).unwrap_or_else(|| {
        let home =
            std::env::var_os("ROCKETMQ_HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        home.join("conf").join("plain_acl.yml")
    });
    let extra_dir = main.parent().map(|d| d.join("acl"));
    super::acl::AclFiles { main, extra_dir }
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, message: message.into() }
}

/// Parses `1s 5s 10s 30s 1m 2m 1h 1d` into milliseconds.
pub fn parse_delay_levels(s: &str) -> Result<Vec<u64>, ConfigError> {
    s.split_whitespace()
        .map(|level| {
            let digits = level.bytes().take_while(u8::is_ascii_digit).count();
            let (num, unit) = level.split_at(digits);
            let n: u64 = num.parse().map_err(|_| {
                invalid("message_delay_level", format!("{level:?} is not like 5s, 2m, 1h, 1d"))
            })?;
            let unit_ms = match unit {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => {
                    return Err(invalid(
                        "message_delay_level",
                        format!("{level:?}: unit must be ms, s, m, h or d"),
                    ))
                }
            };
            Ok(n * unit_ms)
        })
        .collect()
}

impl crate::config::FlagOverrides for RawBrokerConfig {
    /// Applies a command-line flag: `-port`, `-name`, `-cluster`, `-nameserver`, `-store`,
    /// `-id`, `-ip`, `-flush` (sync|async), `-autoCreateTopic` (true|false).
    fn apply_flag(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        match name {
            "port" | "listenPort" => self.listen_port = flag_value(name, value)?,
            "name" => self.broker_name = value.to_string(),
            "cluster" => self.broker_cluster_name = value.to_string(),
            "nameserver" | "n" | "namesrv" => self.namesrv_addr = Some(value.to_string()),
            "store" => self.store_path = PathBuf::from(value),
            "id" => self.broker_id = flag_value(name, value)?,
            "ip" => self.broker_ip = Some(value.to_string()),
            "bind" => self.bind_address = value.to_string(),
            "flush" => {
                self.flush_disk_type = match value.to_ascii_lowercase().as_str() {
                    "sync" | "sync_flush" => "SYNC_FLUSH".into(),
                    "async" | "async_flush" => "ASYNC_FLUSH".into(),
                    _ => {
                        return Err(ConfigError::Flag {
                            flag: "-flush".into(),
                            message: format!("{value:?}: use sync or async"),
                        })
                    }
                }
            }
            "autoCreateTopic" | "auto_create_topic_enable" => {
                self.auto_create_topic_enable = flag_value(name, value)?
            }
            "offsetFlushMs" => self.consumer_offset_flush_interval_ms = flag_value(name, value)?,
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

impl RawBrokerConfig {
    /// Checks every value and builds the typed config.
    pub fn validate(self) -> Result<BrokerConfig, ConfigError> {
        let bind: IpAddr = self.bind_address.parse().map_err(|e| {
            invalid("bind_address", format!("{:?} is not an IP: {e}", self.bind_address))
        })?;
        let advertised_ip = match &self.broker_ip {
            Some(ip) => ip
                .parse::<Ipv4Addr>()
                .map_err(|e| invalid("broker_ip", format!("{ip:?} is not an IPv4 address: {e}")))?,
            None => default_advertised_ip(bind),
        };
        let flush = match self.flush_disk_type.as_str() {
            "ASYNC_FLUSH" => FlushDiskType::Async,
            "SYNC_FLUSH" => FlushDiskType::Sync,
            other => {
                return Err(invalid(
                    "flush_disk_type",
                    format!("{other:?}: use ASYNC_FLUSH or SYNC_FLUSH"),
                ))
            }
        };
        let broker_role = BrokerRole::parse(&self.broker_role).map_err(|UnknownRole(other)| {
            invalid("broker_role", format!("{other:?}: use ASYNC_MASTER, SYNC_MASTER or SLAVE"))
        })?;
        if broker_role == BrokerRole::Slave {
            return Err(invalid("broker_role", "SLAVE: replication is not supported yet"));
        }
        if self.broker_id != 0 {
            return Err(invalid("broker_id", "only masters (broker_id 0) are supported yet"));
        }
        if !(1..=1024).contains(&self.default_topic_queue_nums) {
            return Err(invalid("default_topic_queue_nums", "must be between 1 and 1024"));
        }
        if self.delete_when.0.is_empty() || self.delete_when.0.iter().any(|&h| h > 23) {
            return Err(invalid("delete_when", "one or more hours of the day, each 0..=23"));
        }
        if !(1..=60_000).contains(&self.timer_precision_ms) {
            return Err(invalid("timer_precision_ms", "between 1 and 60000 ms (Java: 100-1000)"));
        }
        if !(10..=95).contains(&self.disk_max_used_space_ratio_percent) {
            return Err(invalid("disk_max_used_space_ratio_percent", "must be between 10 and 95"));
        }
        for (key, n) in [
            ("send_threads", self.send_threads),
            ("pull_threads", self.pull_threads),
            ("admin_threads", self.admin_threads),
            ("send_queue_capacity", self.send_queue_capacity),
            ("pull_queue_capacity", self.pull_queue_capacity),
            ("admin_queue_capacity", self.admin_queue_capacity),
        ] {
            if n == 0 {
                return Err(invalid(key, "must be ≥ 1"));
            }
        }
        if self.max_transfer_count == 0 || self.max_transfer_bytes == 0 {
            return Err(invalid("max_transfer_count", "max_transfer_count/bytes must be > 0"));
        }
        let delay_levels_ms = parse_delay_levels(&self.message_delay_level)?;
        if delay_levels_ms.is_empty() {
            return Err(invalid("message_delay_level", "needs at least one level"));
        }
        let namesrv_addrs = namesrv_list(self.namesrv_addr.as_deref())?;
        let mut store = StoreConfig::new(self.store_path.clone());
        store.commitlog_file_size_bytes = self.commitlog_file_size_bytes;
        store.commitlog_cache_window_bytes = self.commitlog_cache_window_bytes;
        store.consume_queue_entries_per_file = self.consume_queue_entries_per_file;
        store.flush_disk_type = flush;
        store.flush_interval_ms = self.flush_interval_ms;
        store.sync_flush_timeout_ms = self.sync_flush_timeout_ms;
        store.max_message_size_bytes = self.max_message_size_bytes;
        store.file_reserved_hours = self.file_reserved_time_hours;
        store.delete_when_hours = self.delete_when.0.clone();
        store.disk_max_used_ratio_percent = self.disk_max_used_space_ratio_percent;
        store.delay_levels_ms = delay_levels_ms;
        Ok(BrokerConfig {
            cluster_name: self.broker_cluster_name.clone(),
            broker_name: self.broker_name.clone(),
            broker_id: self.broker_id,
            namesrv_addrs,
            listen_addr: SocketAddr::new(bind, self.listen_port),
            advertised_addr: SocketAddrV4::new(advertised_ip, self.listen_port),
            store,
            auto_create_topic_enable: self.auto_create_topic_enable,
            auto_create_subscription_group: self.auto_create_subscription_group,
            default_topic_queue_nums: self.default_topic_queue_nums,
            register_interval_ms: self.register_interval_ms.max(1_000),
            long_polling_enable: self.long_polling_enable,
            short_polling_time_ms: self.short_polling_time_ms.max(1),
            consumer_offset_flush_interval_ms: self.consumer_offset_flush_interval_ms.max(10),
            client_channel_expire_ms: self.client_channel_expire_ms,
            rebalance_lock_max_live_ms: self.rebalance_lock_max_live_ms.max(1),
            idle_timeout_ms: self.idle_timeout_ms,
            connections_per_address_max: self.connections_per_address_max.max(1),
            acl: self.acl_enable.then(|| acl_files(self.acl_file.as_deref())),
            net_busy_poll_us: self.net_busy_poll_us,
            pools: PoolSizes {
                send_threads: self.send_threads,
                send_queue_capacity: self.send_queue_capacity,
                send_inline: self.send_inline,
                pull_threads: self.pull_threads,
                pull_queue_capacity: self.pull_queue_capacity,
                admin_threads: self.admin_threads,
                admin_queue_capacity: self.admin_queue_capacity,
            },
            max_transfer_count: self.max_transfer_count,
            max_transfer_bytes: self.max_transfer_bytes,
            region_id: self.region_id.clone(),
            trace_on: self.trace_on,
            enable_property_filter: self.enable_property_filter,
            flush_disk_type_name: self.flush_disk_type.clone(),
            txn: TxnConfig {
                timeout_ms: self.transaction_timeout_ms,
                check_max: self.transaction_check_max,
                check_interval_ms: self.transaction_check_interval_ms.max(100),
            },
            timer: TimerConfig {
                enable: self.timer_wheel_enable,
                max_delay_ms: self.timer_max_delay_sec.saturating_mul(1000),
                precision_ms: self.timer_precision_ms,
            },
            broker_role,
            raw: self,
        })
    }
}

/// Splits `a:9876;b:9876` (RocketMQ's separator; commas accepted too).
fn namesrv_list(s: Option<&str>) -> Result<Vec<String>, ConfigError> {
    let Some(s) = s else { return Ok(Vec::new()) };
    s.split([';', ','])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| match a.rsplit_once(':') {
            Some((_, port)) if port.parse::<u16>().is_ok() => Ok(a.to_string()),
            _ => Err(invalid("namesrv_addr", format!("{a:?} is not host:port"))),
        })
        .collect()
}

/// Without `broker_ip`, advertise the bind address, or the first non-loopback IPv4 we can find
/// when bound to every interface.
fn default_advertised_ip(bind: IpAddr) -> Ipv4Addr {
    match bind {
        IpAddr::V4(ip) if !ip.is_unspecified() => ip,
        _ => local_ipv4().unwrap_or(Ipv4Addr::LOCALHOST),
    }
}

/// The IPv4 address the OS would use to reach a public address (no packet is sent: a UDP
/// `connect` only picks a route).
fn local_ipv4() -> Option<Ipv4Addr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    match socket.local_addr().ok()?.ip() {
        IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FlagOverrides;

    #[test]
    fn delay_levels_parse() {
        let v = parse_delay_levels("1s 5s 1m 2h 1d 100ms").unwrap();
        assert_eq!(v, vec![1_000, 5_000, 60_000, 7_200_000, 86_400_000, 100]);
        assert!(parse_delay_levels("1x").is_err());
        assert!(parse_delay_levels("s").is_err());
    }

    #[test]
    fn delete_when_takes_an_hour_a_list_or_java_text_and_writes_back() {
        let hours = |text: &str| ron::from_str::<RawBrokerConfig>(text).map(|r| r.delete_when.0);
        assert_eq!(hours("(delete_when: 4)").unwrap(), vec![4]);
        assert_eq!(hours("(delete_when: [4, 16])").unwrap(), vec![4, 16]);
        assert_eq!(hours("(delete_when: \"04;16\")").unwrap(), vec![4, 16]);
        assert!(hours("(delete_when: \"4;x\")").unwrap_err().to_string().contains("\"x\""));
        assert!(hours("(delete_when: 300)").is_err());
        let two = RawBrokerConfig { delete_when: DeleteWhen(vec![4, 16]), ..Default::default() };
        let text = ron::to_string(&two).unwrap();
        assert!(text.contains("delete_when:[4,16]"), "{text}");
        assert_eq!(ron::to_string(&DeleteWhen(vec![4])).unwrap(), "4");
        let raw = RawBrokerConfig { delete_when: DeleteWhen(vec![24]), ..Default::default() };
        assert!(raw.validate().is_err());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = ron::from_str::<RawBrokerConfig>("(listen_prot: 1)").unwrap_err();
        assert!(err.to_string().contains("listen_prot"), "{err}");
    }

    #[test]
    fn defaults_validate_and_flags_apply() {
        let mut raw = RawBrokerConfig::default();
        raw.apply_flag("port", "10999").unwrap();
        raw.apply_flag("nameserver", "127.0.0.1:9876;127.0.0.1:9877").unwrap();
        raw.apply_flag("ip", "127.0.0.1").unwrap();
        let c = raw.validate().unwrap();
        assert_eq!(c.listen_addr.port(), 10999);
        assert_eq!(c.namesrv_addrs.len(), 2);
        assert_eq!(c.advertised_addr.to_string(), "127.0.0.1:10999");
        assert_eq!(c.broker_role, BrokerRole::AsyncMaster);
        let lower = RawBrokerConfig { broker_role: "sync_master".into(), ..Default::default() };
        assert_eq!(lower.validate().unwrap().broker_role, BrokerRole::SyncMaster);
        let slave = RawBrokerConfig { broker_role: "SLAVE".into(), ..Default::default() };
        assert!(matches!(slave.validate(), Err(ConfigError::Invalid { key: "broker_role", .. })));
        let bad = RawBrokerConfig { flush_disk_type: "SOMETIMES".into(), ..Default::default() };
        assert!(matches!(bad.validate(), Err(ConfigError::Invalid { key: "flush_disk_type", .. })));
    }
}
