//! What producers send and get back: [`Message`] (a builder over topic, body and properties),
//! [`SendResult`], and the client message id (`UNIQ_KEY`) generator.
//!
//! Property names and formats are the Java client's (`MessageConst`, PROTOCOL.md §6.3), so a
//! message sent here reads the same to Java, Go and C++ consumers.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::protocol::body::queue::MessageQueue;

/// Property keys the client reads or writes.
pub mod property {
    /// Tag of the message.
    pub const TAGS: &str = "TAGS";
    /// User keys, separated by a space.
    pub const KEYS: &str = "KEYS";
    /// Whether the broker replies only after storing.
    pub const WAIT: &str = "WAIT";
    /// Delay level (1..=18).
    pub const DELAY: &str = "DELAY";
    /// Client message id.
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    /// Original topic of a message in a `%RETRY%` topic.
    pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
    /// Sharding key of an ordered message.
    pub const SHARDING_KEY: &str = "__SHARDINGKEY";
    /// Smallest offset of the queue when the message was pulled (client-side).
    pub const MIN_OFFSET: &str = "MIN_OFFSET";
    /// Largest offset of the queue when the message was pulled (client-side).
    pub const MAX_OFFSET: &str = "MAX_OFFSET";
    /// When the listener started on the message (client-side).
    pub const CONSUME_START_TIME: &str = "CONSUME_START_TIME";
    /// Id of the first delivery of a retried message.
    pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
}

/// Separator between keys in the KEYS property.
pub const KEY_SEPARATOR: &str = " ";
/// Highest delay level of a stock broker (`2h`).
pub const DELAY_LEVEL_MAX: i32 = 18;

/// A message to send.
///
/// ```
/// use rocketmq::client::Message;
/// let msg = Message::new("TopicTest", "hello")
///     .with_tags("TagA")
///     .with_keys(["order-42"])
///     .with_property("region", "eu");
/// assert_eq!(msg.tags(), Some("TagA"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    topic: String,
    body: Vec<u8>,
    flag: i32,
    properties: BTreeMap<String, String>,
}

impl Message {
    /// A message for `topic` with `body`; the broker waits for the store before answering.
    pub fn new(topic: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        let mut properties = BTreeMap::new();
        properties.insert(property::WAIT.to_string(), "true".to_string());
        Self { topic: topic.into(), body: body.into(), flag: 0, properties }
    }

    /// Sets the tag (one per message; consumers filter on it).
    pub fn with_tags(self, tags: impl Into<String>) -> Self {
        self.with_property(property::TAGS, tags)
    }

    /// Sets the keys (indexed by the broker for lookup by key).
    pub fn with_keys<I, S>(self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined: Vec<String> = keys.into_iter().map(|k| k.as_ref().to_string()).collect();
        self.with_property(property::KEYS, joined.join(KEY_SEPARATOR))
    }

    /// Sets a user property. Empty keys or values are dropped on the wire, as Java does.
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Delivers the message at `epoch_ms` (a 5.x timer message, `TIMER_DELIVER_MS`): the broker
    /// holds it until then, rounded down to its `timerPrecisionMs` (1 s by default), at most
    /// `timerMaxDelaySec` (3 days) ahead. A time in the past delivers at once.
    pub fn with_deliver_time_ms(self, epoch_ms: u64) -> Self {
        self.with_property("TIMER_DELIVER_MS", epoch_ms.to_string())
    }

    /// Delivers the message `delay` after the broker receives it (`TIMER_DELAY_MS`).
    pub fn with_delay(self, delay: std::time::Duration) -> Self {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.with_property("TIMER_DELAY_MS", ms.to_string())
    }

    /// Delivers the message after a delay level: 1 = 1 s, 2 = 5 s, 3 = 10 s, … 18 = 2 h.
    pub fn with_delay_level(self, level: i32) -> Self {
        self.with_property(property::DELAY, level.to_string())
    }

    /// Sets the user flag (an opaque int carried with the message).
    pub fn with_flag(mut self, flag: i32) -> Self {
        self.flag = flag;
        self
    }

    /// Whether the broker replies only once the message is stored (default true).
    pub fn with_wait_store_msg_ok(self, wait: bool) -> Self {
        self.with_property(property::WAIT, if wait { "true" } else { "false" })
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The user flag.
    pub fn flag(&self) -> i32 {
        self.flag
    }

    /// The tag, if set.
    pub fn tags(&self) -> Option<&str> {
        self.property(property::TAGS)
    }

    /// The keys, if set.
    pub fn keys(&self) -> Vec<&str> {
        self.property(property::KEYS)
            .map(|k| k.split(KEY_SEPARATOR).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    /// The delay level, if set.
    pub fn delay_level(&self) -> Option<i32> {
        self.property(property::DELAY).and_then(|d| d.parse().ok())
    }

    /// A property.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }

    /// Every property, system ones included.
    pub fn properties(&self) -> &BTreeMap<String, String> {
        &self.properties
    }

    pub(crate) fn set_property(&mut self, key: &str, value: String) {
        self.properties.insert(key.to_string(), value);
    }

    /// The properties string sent on the wire.
    pub(crate) fn encoded_properties(&self) -> String {
        let mut out = String::new();
        self.write_properties(&mut out);
        out
    }

    /// Appends the wire encoding of the properties to `out` (see [`Self::encoded_properties`]).
    pub(crate) fn write_properties(&self, out: &mut String) {
        crate::protocol::message::write_properties(
            out,
            self.properties.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
    }
}

/// How a successful send was stored (the broker's answer codes 0, 10, 11, 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    /// Stored (and replicated, if configured).
    SendOk,
    /// Stored but the synchronous flush timed out.
    FlushDiskTimeout,
    /// Stored but the synchronous replication timed out.
    FlushSlaveTimeout,
    /// Stored but no slave is available for synchronous replication.
    SlaveNotAvailable,
}

impl SendStatus {
    /// The status for a send response code; `None` for error codes.
    pub fn from_code(code: i32) -> Option<Self> {
        match code {
            0 => Some(Self::SendOk),
            10 => Some(Self::FlushDiskTimeout),
            12 => Some(Self::FlushSlaveTimeout),
            11 => Some(Self::SlaveNotAvailable),
            _ => None,
        }
    }
}

/// The result of a successful send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// How the broker stored the message.
    pub status: SendStatus,
    /// The client message id (UNIQ_KEY); comma-joined for a batch.
    pub msg_id: String,
    /// The broker's offset message id(s) (store address + commitlog offset).
    pub offset_msg_id: String,
    /// The queue the message went to.
    pub queue: MessageQueue,
    /// The logical offset of the (first) message in its queue.
    pub queue_offset: i64,
    /// The broker's region (`MSG_REGION`), when it reported one.
    pub region_id: Option<String>,
}

/// Generates client message ids: uppercase hex of client IPv4 (4 bytes), pid (2), a per-process
/// random value (4), milliseconds since the start of the month (4) and a counter (2).
pub fn new_uniq_id() -> String {
    let mut id = String::with_capacity(UNIQ_ID_LEN);
    push_uniq_id(&mut id);
    id
}

/// Length of a client message id in characters.
pub(crate) const UNIQ_ID_LEN: usize = 32;

/// Appends a new client message id (see [`new_uniq_id`]) to `out`, without allocating.
pub(crate) fn push_uniq_id(out: &mut String) {
    let prefix = UNIQ_PREFIX.get_or_init(|| uniq_prefix(super::config::local_ipv4()));
    static COUNTER: AtomicU16 = AtomicU16::new(0);
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now_ms = now_unix_ms();
    let since_month = now_ms.saturating_sub(cached_month_start_ms(now_ms));
    // Fits: a month has fewer than 2^32 ms; wrap like Java's int arithmetic otherwise.
    let since_month = since_month as u32;
    out.push_str(prefix);
    push_hex(out, &since_month.to_be_bytes());
    push_hex(out, &counter.to_be_bytes());
}

/// [`month_start_ms`], recomputed only when `ms` leaves the month last seen by this thread
/// (the calendar arithmetic cost as much as the rest of an id).
fn cached_month_start_ms(ms: u64) -> u64 {
    thread_local! {
        static MONTH: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
    }
    MONTH.with(|m| {
        let (start, next) = m.get();
        if (start..next).contains(&ms) {
            return start;
        }
        let start = month_start_ms(ms);
        // The next month starts at most 31 days later; month_start_ms finds it exactly.
        let next = month_start_ms(start + 32 * 86_400_000);
        m.set((start, next));
        start
    })
}

static UNIQ_PREFIX: OnceLock<String> = OnceLock::new();

fn uniq_prefix(ip: Ipv4Addr) -> String {
    let mut s = String::with_capacity(20);
    push_hex(&mut s, &ip.octets());
    // The Java id carries a 16-bit pid; truncation is intended.
    push_hex(&mut s, &(std::process::id() as u16).to_be_bytes());
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish() as u32;
    push_hex(&mut s, &random.to_be_bytes());
    s
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xF)]));
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The start (UTC midnight of the 1st) of the month containing `ms`.
fn month_start_ms(ms: u64) -> u64 {
    const DAY_MS: u64 = 86_400_000;
    let days = ms / DAY_MS;
    let (year, month, _) = civil_from_days(days);
    days_from_civil(year, month, 1) * DAY_MS
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_properties() {
        let m = Message::new("T", "b")
            .with_tags("TagA")
            .with_keys(["k1", "k2"])
            .with_property("p", "v")
            .with_delay_level(3)
            .with_flag(7);
        assert_eq!(m.tags(), Some("TagA"));
        assert_eq!(m.keys(), vec!["k1", "k2"]);
        assert_eq!(m.property("KEYS"), Some("k1 k2"));
        assert_eq!(m.delay_level(), Some(3));
        assert_eq!(m.flag(), 7);
        assert_eq!(m.property("WAIT"), Some("true"));
        let wire = m.encoded_properties();
        let back = crate::protocol::message::parse_properties(&wire);
        assert_eq!(&back, m.properties());
        assert!(wire.ends_with('\u{2}'));
    }

    #[test]
    fn uniq_ids_are_32_uppercase_hex_and_distinct() {
        let a = new_uniq_id();
        let b = new_uniq_id();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_ne!(a, b);
        assert_eq!(a[..20], b[..20], "same process prefix");
    }

    #[test]
    fn month_start_is_the_first_at_midnight() {
        // 2024-02-29T12:00:00Z -> 2024-02-01T00:00:00Z
        assert_eq!(month_start_ms(1_709_208_000_000), 1_706_745_600_000);
        // 1970-01-01 itself.
        assert_eq!(month_start_ms(5), 0);
        // The cache answers like the calculation, across a month boundary and back.
        for ms in [1_709_208_000_000, 1_709_251_199_999, 1_709_251_200_000, 1_706_745_600_000, 5] {
            assert_eq!(cached_month_start_ms(ms), month_start_ms(ms), "{ms}");
        }
        for days in [0u64, 59, 365, 10_000, 19_782, 30_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn send_status_codes() {
        assert_eq!(SendStatus::from_code(0), Some(SendStatus::SendOk));
        assert_eq!(SendStatus::from_code(10), Some(SendStatus::FlushDiskTimeout));
        assert_eq!(SendStatus::from_code(2), None);
    }
}
