//! Commitlog record codec: pure functions, no I/O.
//!
//! Owns the byte layout of one stored message (STORAGE.md §2.1, IPv4 hosts, magic V1 or V2)
//! and of the 8-byte end-of-file blank trailer (§2.3), the property string format
//! (`name\x01value\x02`), the Java `String.hashCode` used for tag codes, the masked CRC32
//! and offset message ids. Everything on disk is big-endian.
//!
//! Invariants: an encoded record's TOTALSIZE equals `record_len(..)` of its parts; a record
//! accepted by [`check_record`] has a consistent length, a known magic and (when asked) a
//! matching body CRC. Decoding never panics on arbitrary input.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use crate::offset::{PhysOffset, QueueId};

/// Magic of a V1 record (1-byte topic length).
pub const MAGIC_V1: u32 = 0xDAA3_20A7;
/// Magic of a V2 record (2-byte topic length), used for topics longer than 127 bytes.
pub const MAGIC_V2: u32 = 0xDAA3_20AB;
/// Magic of the end-of-file blank trailer.
pub const BLANK_MAGIC: u32 = 0xCBD4_3194;
/// Size of the blank trailer; a record is appended only if `len + 8 <= remaining`.
pub const END_FILE_MIN_BLANK_LENGTH: usize = 8;
/// Largest encoded properties string (the length field is an i16).
pub const MAX_PROPERTIES_BYTES: usize = 32_767;
/// Largest topic the store accepts (the broker allows up to 255 bytes).
pub const MAX_TOPIC_BYTES: usize = 255;
/// Topics up to this length use the V1 magic (1-byte length).
pub const MAX_TOPIC_BYTES_V1: usize = 127;

/// Byte positions of the fixed header fields (IPv4 hosts).
pub const POS_TOTAL_SIZE: usize = 0;
/// Position of MAGICCODE.
pub const POS_MAGIC: usize = 4;
/// Position of BODYCRC.
pub const POS_BODY_CRC: usize = 8;
/// Position of QUEUEID.
pub const POS_QUEUE_ID: usize = 12;
/// Position of FLAG.
pub const POS_FLAG: usize = 16;
/// Position of QUEUEOFFSET.
pub const POS_QUEUE_OFFSET: usize = 20;
/// Position of PHYSICALOFFSET.
pub const POS_PHYS_OFFSET: usize = 28;
/// Position of SYSFLAG.
pub const POS_SYS_FLAG: usize = 36;
/// Position of BORNTIMESTAMP.
pub const POS_BORN_TIMESTAMP: usize = 40;
/// Position of BORNHOST.
pub const POS_BORN_HOST: usize = 48;
/// Position of STORETIMESTAMP.
pub const POS_STORE_TIMESTAMP: usize = 56;
/// Position of STOREHOSTADDRESS.
pub const POS_STORE_HOST: usize = 64;
/// Position of RECONSUMETIMES.
pub const POS_RECONSUME_TIMES: usize = 72;
/// Position of PREPARED TRANSACTION OFFSET.
pub const POS_PREPARED_TX_OFFSET: usize = 76;
/// Position of BODYLENGTH.
pub const POS_BODY_LEN: usize = 84;
/// Position of the first body byte.
pub const POS_BODY: usize = 88;
/// Fixed overhead of a V1 record: header + topic length byte + properties length.
pub const RECORD_OVERHEAD_V1: usize = POS_BODY + 1 + 2;

const _: () = assert!(RECORD_OVERHEAD_V1 == 91);
const _: () = assert!(POS_BODY == POS_BODY_LEN + 4);

/// System flag bits (`MessageSysFlag`).
pub const SYS_FLAG_COMPRESSED: i32 = 0x1;
/// Multiple tags.
pub const SYS_FLAG_MULTI_TAGS: i32 = 0x2;
/// Mask of the transaction type bits.
pub const SYS_FLAG_TRANSACTION_MASK: i32 = 0xC;
/// Transaction type: not transactional.
pub const SYS_FLAG_TRANSACTION_NOT: i32 = 0x0;
/// Transaction type: half (prepared) message.
pub const SYS_FLAG_TRANSACTION_PREPARED: i32 = 0x4;
/// Transaction type: commit.
pub const SYS_FLAG_TRANSACTION_COMMIT: i32 = 0x8;
/// Transaction type: rollback.
pub const SYS_FLAG_TRANSACTION_ROLLBACK: i32 = 0xC;
/// Born host is IPv6 (never written by this store).
pub const SYS_FLAG_BORNHOST_V6: i32 = 0x10;
/// Store host is IPv6 (never written by this store).
pub const SYS_FLAG_STOREHOST_V6: i32 = 0x20;

/// Property keys (`MessageConst`).
pub const PROPERTY_KEYS: &str = "KEYS";
/// Tags of a message.
pub const PROPERTY_TAGS: &str = "TAGS";
/// `WAIT=false` lets a sync-flush put return before the flush.
pub const PROPERTY_WAIT_STORE_MSG_OK: &str = "WAIT";
/// Delay level (1-based).
pub const PROPERTY_DELAY_TIME_LEVEL: &str = "DELAY";
/// Retry topic.
pub const PROPERTY_RETRY_TOPIC: &str = "RETRY_TOPIC";
/// Real topic of a scheduled or half message.
pub const PROPERTY_REAL_TOPIC: &str = "REAL_TOPIC";
/// Real queue id of a scheduled or half message.
pub const PROPERTY_REAL_QUEUE_ID: &str = "REAL_QID";
/// Transaction prepared flag.
pub const PROPERTY_TRANSACTION_PREPARED: &str = "TRAN_MSG";
/// Producer group.
pub const PROPERTY_PRODUCER_GROUP: &str = "PGROUP";
/// Client-side unique message id.
pub const PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX: &str = "UNIQ_KEY";
/// Short alias of [`PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX`].
pub const PROPERTY_UNIQ_KEY: &str = PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX;
/// Max reconsume times.
pub const PROPERTY_MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
/// Reconsume time.
pub const PROPERTY_RECONSUME_TIME: &str = "RECONSUME_TIME";
/// Original message id of a retried message.
pub const PROPERTY_ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
/// Transaction id.
pub const PROPERTY_TRANSACTION_ID: &str = "__transactionId__";
/// Transaction check times.
pub const PROPERTY_TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
/// Check immunity time.
pub const PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
/// Sharding key of ordered messages.
pub const PROPERTY_SHARDING_KEY: &str = "__SHARDINGKEY";

/// Separates a property name from its value.
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Ends every name-value pair.
pub const PROPERTY_SEPARATOR: char = '\u{2}';

/// A message as the broker hands it to the store. Queue offset, physical offset and store
/// timestamp are assigned by the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageToStore {
    /// Topic (1..=255 bytes).
    pub topic: String,
    /// Queue of the topic.
    pub queue_id: QueueId,
    /// User flag from the producer.
    pub flag: i32,
    /// Body bytes as sent (possibly compressed).
    pub body: Vec<u8>,
    /// Properties already encoded as `name\x01value\x02...`.
    pub properties: String,
    /// System flag (transaction type bits etc.). IPv6 bits are cleared on store.
    pub sys_flag: i32,
    /// Producer timestamp.
    pub born_timestamp_ms: i64,
    /// Producer address.
    pub born_host: SocketAddrV4,
    /// Broker address (goes into the offset message id).
    pub store_host: SocketAddrV4,
    /// Times the message was reconsumed.
    pub reconsume_times: i32,
    /// For a committed transactional message: the commitlog offset of its half message.
    pub prepared_transaction_offset: i64,
}

/// Why a record could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The topic is empty or longer than [`MAX_TOPIC_BYTES`].
    TopicLength {
        /// Topic length in bytes.
        size_bytes: usize,
        /// Allowed maximum.
        max_bytes: usize,
    },
    /// The properties string is longer than [`MAX_PROPERTIES_BYTES`].
    PropertiesTooLarge {
        /// Properties length in bytes.
        size_bytes: usize,
        /// Allowed maximum.
        max_bytes: usize,
    },
    /// The body does not fit the i32 length field.
    BodyTooLarge {
        /// Body length in bytes.
        size_bytes: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TopicLength { size_bytes, max_bytes } => {
                write!(f, "topic length {size_bytes} bytes not in 1..={max_bytes}")
            }
            EncodeError::PropertiesTooLarge { size_bytes, max_bytes } => {
                write!(f, "properties are {size_bytes} bytes, more than {max_bytes}")
            }
            EncodeError::BodyTooLarge { size_bytes } => write!(f, "body of {size_bytes} bytes"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Why bytes are not a valid record.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// Fewer bytes than the header or the declared size.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The bytes are an end-of-file blank trailer, not a message.
    Blank,
    /// Unknown magic code.
    BadMagic {
        /// The magic found.
        magic: u32,
    },
    /// TOTALSIZE disagrees with the lengths of body, topic and properties.
    LengthMismatch {
        /// TOTALSIZE from the header.
        declared: usize,
        /// Size computed from the variable parts.
        computed: usize,
    },
    /// A field that must not be negative is negative.
    NegativeField {
        /// Field name.
        field: &'static str,
    },
    /// Topic or properties are not UTF-8.
    InvalidUtf8 {
        /// Field name.
        field: &'static str,
    },
    /// IPv6 hosts are not supported by this store.
    Ipv6Unsupported,
    /// The body CRC does not match.
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the body bytes.
        computed: u32,
    },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Truncated { needed, available } => {
                write!(f, "record truncated: need {needed} bytes, have {available}")
            }
            RecordError::Blank => write!(f, "end-of-file blank trailer"),
            RecordError::BadMagic { magic } => write!(f, "bad magic {magic:#010x}"),
            RecordError::LengthMismatch { declared, computed } => {
                write!(f, "record length {declared} but parts add up to {computed}")
            }
            RecordError::NegativeField { field } => write!(f, "negative {field}"),
            RecordError::InvalidUtf8 { field } => write!(f, "{field} is not UTF-8"),
            RecordError::Ipv6Unsupported => write!(f, "IPv6 hosts are not supported"),
            RecordError::CrcMismatch { stored, computed } => {
                write!(f, "body CRC {stored:#010x} but computed {computed:#010x}")
            }
        }
    }
}

impl std::error::Error for RecordError {}

/// Java `String.hashCode()` over UTF-16 code units with wrapping arithmetic.
pub fn java_string_hash(s: &str) -> i32 {
    java_string_hash_from(0, s)
}

/// Java's `String.hashCode` of a string that starts with characters hashing to `h` and
/// continues with `s` (the hash is a left fold, so it can be resumed).
pub fn java_string_hash_from(h: i32, s: &str) -> i32 {
    let step = |h: i32, c: i32| h.wrapping_mul(31).wrapping_add(c);
    if s.is_ascii() {
        // ASCII bytes are their own UTF-16 code units; skip the UTF-16 encoder.
        return s.bytes().fold(h, |h, b| step(h, i32::from(b)));
    }
    s.encode_utf16().fold(h, |h, c| step(h, i32::from(c)))
}

/// RocketMQ's CRC: zlib CRC-32 masked to 31 bits.
pub fn crc32_masked(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes) & 0x7FFF_FFFF
}

/// Tag code of a normal message: the Java hash of the TAGS value, 0 without tags.
pub fn tags_code(tags: Option<&str>) -> i64 {
    tags.map_or(0, |t| i64::from(java_string_hash(t)))
}

/// Encodes name/value pairs as `name\x01value\x02...` (every pair ends with `\x02`).
pub fn encode_properties(pairs: &[(String, String)]) -> String {
    let len: usize = pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = String::with_capacity(len);
    for (k, v) in pairs {
        out.push_str(k);
        out.push(NAME_VALUE_SEPARATOR);
        out.push_str(v);
        out.push(PROPERTY_SEPARATOR);
    }
    out
}

/// Decodes a properties string; pairs without a separator are skipped.
pub fn decode_properties(props: &str) -> Vec<(String, String)> {
    property_pairs(props).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// Iterates over the name/value pairs of a properties string without allocating.
pub fn property_pairs(props: &str) -> impl Iterator<Item = (&str, &str)> {
    props.split(PROPERTY_SEPARATOR).filter_map(|pair| pair.split_once(NAME_VALUE_SEPARATOR))
}

/// Looks up one property value without allocating.
pub fn property_value<'a>(props: &'a str, key: &str) -> Option<&'a str> {
    property_pairs(props).find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// The offset message id: uppercase hex of store IP (4), port (i32) and commitlog offset (i64).
pub fn offset_msg_id(store_host: SocketAddrV4, phys: PhysOffset) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut raw = [0u8; 16];
    raw[..4].copy_from_slice(&store_host.ip().octets());
    raw[4..8].copy_from_slice(&u32::from(store_host.port()).to_be_bytes());
    raw[8..].copy_from_slice(&phys.0.to_be_bytes());
    let mut out = String::with_capacity(32);
    for b in raw {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xF)]));
    }
    out
}

/// Parses an offset message id made by [`offset_msg_id`] (IPv4 form, 32 hex digits).
pub fn parse_offset_msg_id(id: &str) -> Option<(SocketAddrV4, PhysOffset)> {
    if id.len() != 32 {
        return None;
    }
    let mut raw = [0u8; 16];
    for (i, b) in raw.iter_mut().enumerate() {
        let pair = id.get(i * 2..i * 2 + 2)?;
        *b = u8::from_str_radix(pair, 16).ok()?;
    }
    let ip = Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]);
    let port = u16::try_from(u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]])).ok()?;
    let phys =
        u64::from_be_bytes([raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]]);
    Some((SocketAddrV4::new(ip, port), PhysOffset(phys)))
}

/// Total record size for the given part lengths (IPv4 hosts).
pub fn record_len(body_len: usize, topic_len: usize, properties_len: usize) -> usize {
    let topic_len_field = if topic_len > MAX_TOPIC_BYTES_V1 { 2 } else { 1 };
    POS_BODY + body_len + topic_len_field + topic_len + 2 + properties_len
}

/// Checks the static limits of a message and returns its encoded size.
pub fn check_encodable(msg: &MessageToStore) -> Result<usize, EncodeError> {
    let topic_len = msg.topic.len();
    if topic_len == 0 || topic_len > MAX_TOPIC_BYTES {
        return Err(EncodeError::TopicLength { size_bytes: topic_len, max_bytes: MAX_TOPIC_BYTES });
    }
    let props_len = msg.properties.len();
    if props_len > MAX_PROPERTIES_BYTES {
        return Err(EncodeError::PropertiesTooLarge {
            size_bytes: props_len,
            max_bytes: MAX_PROPERTIES_BYTES,
        });
    }
    let body_len = msg.body.len();
    if i32::try_from(body_len).is_err() {
        return Err(EncodeError::BodyTooLarge { size_bytes: body_len });
    }
    let len = record_len(body_len, topic_len, props_len);
    if i32::try_from(len).is_err() {
        return Err(EncodeError::BodyTooLarge { size_bytes: body_len });
    }
    Ok(len)
}

/// Appends the encoded record to `out`. QUEUEOFFSET, PHYSICALOFFSET and STORETIMESTAMP are
/// written as 0; the commitlog patches them under its lock with [`patch_record`].
pub fn encode_record(msg: &MessageToStore, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
    let len = check_encodable(msg)?;
    let topic_len = msg.topic.len();
    let v2 = topic_len > MAX_TOPIC_BYTES_V1;
    out.reserve(len);
    let start = out.len();
    // Lengths were range-checked by check_encodable, so the narrowing below cannot fail.
    put_u32(out, u32::try_from(len).unwrap_or(u32::MAX));
    put_u32(out, if v2 { MAGIC_V2 } else { MAGIC_V1 });
    put_u32(out, crc32_masked(&msg.body));
    put_u32(out, msg.queue_id.0);
    put_i32(out, msg.flag);
    put_u64(out, 0);
    put_u64(out, 0);
    put_i32(out, msg.sys_flag & !(SYS_FLAG_BORNHOST_V6 | SYS_FLAG_STOREHOST_V6));
    put_i64(out, msg.born_timestamp_ms);
    put_host(out, msg.born_host);
    put_i64(out, 0);
    put_host(out, msg.store_host);
    put_i32(out, msg.reconsume_times);
    put_i64(out, msg.prepared_transaction_offset);
    put_u32(out, u32::try_from(msg.body.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(&msg.body);
    if v2 {
        out.extend_from_slice(&u16::try_from(topic_len).unwrap_or(u16::MAX).to_be_bytes());
    } else {
        out.push(u8::try_from(topic_len).unwrap_or(u8::MAX));
    }
    out.extend_from_slice(msg.topic.as_bytes());
    let props_len = u16::try_from(msg.properties.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&props_len.to_be_bytes());
    out.extend_from_slice(msg.properties.as_bytes());
    assert_eq!(out.len() - start, len, "encoded length disagrees with record_len");
    Ok(len)
}

/// Writes the fields assigned by the commitlog into an encoded record.
pub fn patch_record(rec: &mut [u8], queue_offset: u64, phys: PhysOffset, store_ts_ms: i64) {
    assert!(rec.len() >= POS_BODY, "patching a record shorter than its header");
    rec[POS_QUEUE_OFFSET..POS_QUEUE_OFFSET + 8].copy_from_slice(&queue_offset.to_be_bytes());
    rec[POS_PHYS_OFFSET..POS_PHYS_OFFSET + 8].copy_from_slice(&phys.0.to_be_bytes());
    rec[POS_STORE_TIMESTAMP..POS_STORE_TIMESTAMP + 8].copy_from_slice(&store_ts_ms.to_be_bytes());
}

/// The 8-byte end-of-file trailer for `remaining` bytes left in a segment.
pub fn blank_trailer(remaining: u32) -> [u8; END_FILE_MIN_BLANK_LENGTH] {
    let mut t = [0u8; END_FILE_MIN_BLANK_LENGTH];
    t[..4].copy_from_slice(&remaining.to_be_bytes());
    t[4..].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
    t
}

/// The transaction type bits of a sys flag.
pub fn transaction_type(sys_flag: i32) -> i32 {
    sys_flag & SYS_FLAG_TRANSACTION_MASK
}

/// Whether a message with this sys flag gets a consume-queue entry (NOT and COMMIT do).
pub fn enters_consume_queue(sys_flag: i32) -> bool {
    matches!(transaction_type(sys_flag), SYS_FLAG_TRANSACTION_NOT | SYS_FLAG_TRANSACTION_COMMIT)
}

/// A borrowed view of one stored record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// TOTALSIZE: the whole record length.
    pub total_size: u32,
    /// Magic (V1 or V2).
    pub magic: u32,
    /// Stored body CRC (masked).
    pub body_crc: u32,
    /// Queue id.
    pub queue_id: QueueId,
    /// User flag.
    pub flag: i32,
    /// Logical offset in the consume queue (0 for prepared/rollback messages).
    pub queue_offset: u64,
    /// This record's own commitlog offset.
    pub phys_offset: PhysOffset,
    /// System flag.
    pub sys_flag: i32,
    /// Producer timestamp.
    pub born_timestamp_ms: i64,
    /// Producer address.
    pub born_host: SocketAddrV4,
    /// Store timestamp (assigned under the append lock, non-decreasing along the log).
    pub store_timestamp_ms: i64,
    /// Broker address.
    pub store_host: SocketAddrV4,
    /// Reconsume times.
    pub reconsume_times: i32,
    /// Prepared transaction offset.
    pub prepared_transaction_offset: i64,
    /// Body bytes.
    pub body: &'a [u8],
    /// Topic.
    pub topic: &'a str,
    /// Encoded properties.
    pub properties: &'a str,
}

/// An owned decoded record (see [`RecordView`] for field meanings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedRecord {
    /// TOTALSIZE.
    pub total_size: u32,
    /// Stored body CRC (masked).
    pub body_crc: u32,
    /// Queue id.
    pub queue_id: QueueId,
    /// User flag.
    pub flag: i32,
    /// Logical queue offset.
    pub queue_offset: u64,
    /// Commitlog offset.
    pub phys_offset: PhysOffset,
    /// System flag.
    pub sys_flag: i32,
    /// Producer timestamp.
    pub born_timestamp_ms: i64,
    /// Producer address.
    pub born_host: SocketAddrV4,
    /// Store timestamp.
    pub store_timestamp_ms: i64,
    /// Broker address.
    pub store_host: SocketAddrV4,
    /// Reconsume times.
    pub reconsume_times: i32,
    /// Prepared transaction offset.
    pub prepared_transaction_offset: i64,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Topic.
    pub topic: String,
    /// Encoded properties.
    pub properties: String,
}

impl<'a> RecordView<'a> {
    /// This record re-addressed to `topic` / `queue_id` with `properties` (already encoded),
    /// everything else as stored: what the broker's schedule, timer and transaction services
    /// put back into the commitlog.
    pub fn to_message(
        &self,
        topic: String,
        queue_id: QueueId,
        properties: String,
    ) -> MessageToStore {
        MessageToStore {
            topic,
            queue_id,
            flag: self.flag,
            body: self.body.to_vec(),
            properties,
            sys_flag: self.sys_flag,
            born_timestamp_ms: self.born_timestamp_ms,
            born_host: self.born_host,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
        }
    }

    /// Parses the record at the start of `buf` (which may hold more bytes after it).
    /// Checks the structure but not the CRC; see [`RecordView::verify_crc`].
    pub fn parse(buf: &'a [u8]) -> Result<RecordView<'a>, RecordError> {
        need(buf, POS_MAGIC + 4)?;
        let total = read_u32(buf, POS_TOTAL_SIZE);
        let magic = read_u32(buf, POS_MAGIC);
        if magic == BLANK_MAGIC {
            return Err(RecordError::Blank);
        }
        if magic != MAGIC_V1 && magic != MAGIC_V2 {
            return Err(RecordError::BadMagic { magic });
        }
        let total_size = usize::try_from(total).unwrap_or(usize::MAX);
        if total_size < POS_BODY {
            return Err(RecordError::LengthMismatch { declared: total_size, computed: POS_BODY });
        }
        need(buf, total_size)?;
        let rec = &buf[..total_size];
        let sys_flag = read_i32(rec, POS_SYS_FLAG);
        if sys_flag & (SYS_FLAG_BORNHOST_V6 | SYS_FLAG_STOREHOST_V6) != 0 {
            return Err(RecordError::Ipv6Unsupported);
        }
        let (body, topic, properties) = parse_variable_part(rec, magic == MAGIC_V2)?;
        Ok(RecordView {
            total_size: total,
            magic,
            body_crc: read_u32(rec, POS_BODY_CRC),
            queue_id: QueueId(non_negative_u32(rec, POS_QUEUE_ID, "queue id")?),
            flag: read_i32(rec, POS_FLAG),
            queue_offset: non_negative_u64(rec, POS_QUEUE_OFFSET, "queue offset")?,
            phys_offset: PhysOffset(non_negative_u64(rec, POS_PHYS_OFFSET, "physical offset")?),
            sys_flag,
            born_timestamp_ms: read_i64(rec, POS_BORN_TIMESTAMP),
            born_host: read_host(rec, POS_BORN_HOST),
            store_timestamp_ms: read_i64(rec, POS_STORE_TIMESTAMP),
            store_host: read_host(rec, POS_STORE_HOST),
            reconsume_times: read_i32(rec, POS_RECONSUME_TIMES),
            prepared_transaction_offset: read_i64(rec, POS_PREPARED_TX_OFFSET),
            body,
            topic,
            properties,
        })
    }

    /// Checks the body CRC.
    pub fn verify_crc(&self) -> Result<(), RecordError> {
        let computed = crc32_masked(self.body);
        if computed == self.body_crc {
            Ok(())
        } else {
            Err(RecordError::CrcMismatch { stored: self.body_crc, computed })
        }
    }

    /// Looks up one property.
    pub fn property(&self, key: &str) -> Option<&'a str> {
        property_value(self.properties, key)
    }

    /// Copies the view into an owned record.
    pub fn to_owned_record(&self) -> DecodedRecord {
        DecodedRecord {
            total_size: self.total_size,
            body_crc: self.body_crc,
            queue_id: self.queue_id,
            flag: self.flag,
            queue_offset: self.queue_offset,
            phys_offset: self.phys_offset,
            sys_flag: self.sys_flag,
            born_timestamp_ms: self.born_timestamp_ms,
            born_host: self.born_host,
            store_timestamp_ms: self.store_timestamp_ms,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
            body: self.body.to_vec(),
            topic: self.topic.to_owned(),
            properties: self.properties.to_owned(),
        }
    }
}

impl DecodedRecord {
    /// Looks up one property.
    pub fn property(&self, key: &str) -> Option<&str> {
        property_value(&self.properties, key)
    }

    /// The offset message id of this record.
    pub fn offset_msg_id(&self) -> String {
        offset_msg_id(self.store_host, self.phys_offset)
    }
}

/// Decodes one record (structure and CRC) into an owned value.
pub fn decode_record(buf: &[u8]) -> Result<DecodedRecord, RecordError> {
    let view = RecordView::parse(buf)?;
    view.verify_crc()?;
    Ok(view.to_owned_record())
}

/// Splits concatenated records (a pull result body) into views.
pub fn split_records(buf: &[u8]) -> RecordIter<'_> {
    RecordIter { buf }
}

/// Iterator returned by [`split_records`]; stops after the first error.
#[derive(Debug)]
pub struct RecordIter<'a> {
    buf: &'a [u8],
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<RecordView<'a>, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        match RecordView::parse(self.buf) {
            Ok(view) => {
                let size = usize::try_from(view.total_size).unwrap_or(usize::MAX);
                self.buf = &self.buf[size..];
                Some(Ok(view))
            }
            Err(e) => {
                self.buf = &[];
                Some(Err(e))
            }
        }
    }
}

/// Outcome of checking the bytes at one commitlog position (recovery and dispatch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordCheck<'a> {
    /// A valid record of `view.total_size` bytes.
    Record(RecordView<'a>),
    /// An end-of-file trailer: continue at the next segment.
    EndOfFile,
    /// Not a valid record: the log ends here.
    Invalid(RecordError),
}

/// Validates the record at the start of `buf`, which holds every byte up to the end of the
/// readable part of the segment. `expected_phys` must match the record's own offset field, so
/// a stale record left behind by an earlier truncation is never taken for a live one.
pub fn check_record(buf: &[u8], expected_phys: PhysOffset, check_crc: bool) -> RecordCheck<'_> {
    if buf.len() >= 8 && read_u32(buf, POS_MAGIC) == BLANK_MAGIC {
        return RecordCheck::EndOfFile;
    }
    let view = match RecordView::parse(buf) {
        Ok(v) => v,
        Err(e) => return RecordCheck::Invalid(e),
    };
    if view.phys_offset != expected_phys {
        return RecordCheck::Invalid(RecordError::LengthMismatch {
            declared: usize::try_from(view.phys_offset.0).unwrap_or(usize::MAX),
            computed: usize::try_from(expected_phys.0).unwrap_or(usize::MAX),
        });
    }
    if check_crc {
        if let Err(e) = view.verify_crc() {
            return RecordCheck::Invalid(e);
        }
    }
    RecordCheck::Record(view)
}

/// Checks the body CRC of the record at the start of `rec` without parsing the rest: the
/// body length is bounds-checked against `rec`. For readers that already matched the
/// record's header (the CRC of bytes in cache is the only cost).
pub fn verify_body_crc(rec: &[u8]) -> Result<(), RecordError> {
    need(rec, POS_BODY)?;
    let body_len = non_negative_u32(rec, POS_BODY_LEN, "body length")?;
    let body_end = POS_BODY.saturating_add(usize::try_from(body_len).unwrap_or(usize::MAX));
    need(rec, body_end)?;
    let stored = read_u32(rec, POS_BODY_CRC);
    let computed = crc32_masked(&rec[POS_BODY..body_end]);
    if stored == computed {
        Ok(())
    } else {
        Err(RecordError::CrcMismatch { stored, computed })
    }
}

/// Reads the store timestamp of an encoded record, if the buffer is long enough.
pub fn store_timestamp_of(rec: &[u8]) -> Option<i64> {
    (rec.len() >= POS_STORE_TIMESTAMP + 8).then(|| read_i64(rec, POS_STORE_TIMESTAMP))
}

fn parse_variable_part(rec: &[u8], v2: bool) -> Result<(&[u8], &str, &str), RecordError> {
    let total_size = rec.len();
    let body_len = non_negative_u32(rec, POS_BODY_LEN, "body length")?;
    let body_len = usize::try_from(body_len).unwrap_or(usize::MAX);
    let body_end = POS_BODY
        .checked_add(body_len)
        .ok_or(RecordError::NegativeField { field: "body length" })?;
    let topic_len_width = if v2 { 2 } else { 1 };
    let mismatch = |computed| RecordError::LengthMismatch { declared: total_size, computed };
    if body_end + topic_len_width > total_size {
        return Err(mismatch(body_end + topic_len_width));
    }
    let topic_len = if v2 {
        usize::from(u16::from_be_bytes([rec[body_end], rec[body_end + 1]]))
    } else {
        usize::from(rec[body_end])
    };
    let topic_start = body_end + topic_len_width;
    let props_len_pos = topic_start + topic_len;
    if props_len_pos + 2 > total_size {
        return Err(mismatch(props_len_pos + 2));
    }
    let props_len = usize::from(u16::from_be_bytes([rec[props_len_pos], rec[props_len_pos + 1]]));
    let computed = props_len_pos + 2 + props_len;
    if computed != total_size {
        return Err(mismatch(computed));
    }
    let topic = std::str::from_utf8(&rec[topic_start..props_len_pos])
        .map_err(|_| RecordError::InvalidUtf8 { field: "topic" })?;
    let properties = std::str::from_utf8(&rec[props_len_pos + 2..])
        .map_err(|_| RecordError::InvalidUtf8 { field: "properties" })?;
    Ok((&rec[POS_BODY..body_end], topic, properties))
}

fn need(buf: &[u8], needed: usize) -> Result<(), RecordError> {
    if buf.len() < needed {
        Err(RecordError::Truncated { needed, available: buf.len() })
    } else {
        Ok(())
    }
}

fn non_negative_u32(buf: &[u8], pos: usize, field: &'static str) -> Result<u32, RecordError> {
    u32::try_from(read_i32(buf, pos)).map_err(|_| RecordError::NegativeField { field })
}

fn non_negative_u64(buf: &[u8], pos: usize, field: &'static str) -> Result<u64, RecordError> {
    u64::try_from(read_i64(buf, pos)).map_err(|_| RecordError::NegativeField { field })
}

/// Reads a big-endian u32; the caller has checked the bounds.
pub(crate) fn read_u32(buf: &[u8], pos: usize) -> u32 {
    u32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]])
}

/// Reads a big-endian i32; the caller has checked the bounds.
pub(crate) fn read_i32(buf: &[u8], pos: usize) -> i32 {
    i32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]])
}

/// Reads a big-endian i64; the caller has checked the bounds.
pub(crate) fn read_i64(buf: &[u8], pos: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[pos..pos + 8]);
    i64::from_be_bytes(b)
}

fn read_host(buf: &[u8], pos: usize) -> SocketAddrV4 {
    let ip = Ipv4Addr::new(buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]);
    // The port is stored as an i32; anything outside u16 is not a real port.
    let port = u16::try_from(read_i32(buf, pos + 4)).unwrap_or(0);
    SocketAddrV4::new(ip, port)
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_host(out: &mut Vec<u8>, host: SocketAddrV4) {
    out.extend_from_slice(&host.ip().octets());
    put_i32(out, i32::from(host.port()));
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample(topic: &str, body: &[u8], props: &str) -> MessageToStore {
        MessageToStore {
            topic: topic.to_owned(),
            queue_id: QueueId(3),
            flag: 7,
            body: body.to_vec(),
            properties: props.to_owned(),
            sys_flag: 0,
            born_timestamp_ms: 1_700_000_000_000,
            born_host: "10.0.0.1:5555".parse().unwrap(),
            store_host: "10.0.0.2:10911".parse().unwrap(),
            reconsume_times: 2,
            prepared_transaction_offset: 0,
        }
    }

    #[test]
    fn java_hash_matches_known_values() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("TagA"), 2598919);
        assert_eq!(java_string_hash("hello"), 99162322);
        // Non-BMP characters hash as two UTF-16 surrogates.
        assert_eq!(java_string_hash("\u{1F600}"), 1772899);
    }

    #[test]
    fn roundtrip_v1_and_v2() {
        for topic in ["T".to_owned(), "x".repeat(200)] {
            let props =
                encode_properties(&[("TAGS".into(), "a".into()), ("KEYS".into(), "k".into())]);
            let msg = sample(&topic, b"hello body", &props);
            let mut buf = Vec::new();
            let len = encode_record(&msg, &mut buf).unwrap();
            assert_eq!(len, buf.len());
            patch_record(&mut buf, 42, PhysOffset(4096), 123);
            let rec = decode_record(&buf).unwrap();
            assert_eq!(rec.topic, topic);
            assert_eq!(rec.body, b"hello body");
            assert_eq!(rec.queue_offset, 42);
            assert_eq!(rec.phys_offset, PhysOffset(4096));
            assert_eq!(rec.store_timestamp_ms, 123);
            assert_eq!(rec.queue_id, QueueId(3));
            assert_eq!(rec.flag, 7);
            assert_eq!(rec.reconsume_times, 2);
            assert_eq!(rec.born_host, msg.born_host);
            assert_eq!(rec.property("TAGS"), Some("a"));
            assert_eq!(decode_properties(&rec.properties).len(), 2);
        }
    }

    #[test]
    fn v1_overhead_is_91_bytes() {
        let msg = sample("T", b"", "");
        let mut buf = Vec::new();
        assert_eq!(encode_record(&msg, &mut buf).unwrap(), 91 + 1);
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        let msg = sample("Topic", b"0123456789", "A\u{1}B\u{2}");
        let mut buf = Vec::new();
        encode_record(&msg, &mut buf).unwrap();
        for cut in 0..buf.len() {
            assert!(RecordView::parse(&buf[..cut]).is_err());
        }
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x55;
            let _ = decode_record(&bad);
        }
        let mut flipped = buf.clone();
        flipped[POS_BODY + 2] ^= 1;
        assert!(matches!(decode_record(&flipped), Err(RecordError::CrcMismatch { .. })));
    }

    #[test]
    fn msg_id_roundtrip() {
        let host: SocketAddrV4 = "192.168.1.20:10911".parse().unwrap();
        let id = offset_msg_id(host, PhysOffset(0x1234_5678_9ABC));
        assert_eq!(id.len(), 32);
        assert_eq!(id, "C0A8011400002A9F0000123456789ABC");
        assert_eq!(parse_offset_msg_id(&id), Some((host, PhysOffset(0x1234_5678_9ABC))));
        assert_eq!(parse_offset_msg_id("zz"), None);
    }

    #[test]
    fn blank_trailer_is_recognised() {
        let t = blank_trailer(100);
        assert_eq!(check_record(&t, PhysOffset(0), true), RecordCheck::EndOfFile);
        assert!(matches!(RecordView::parse(&t), Err(RecordError::Blank)));
    }

    #[test]
    fn too_long_properties_rejected() {
        let msg = sample("T", b"", &"x".repeat(MAX_PROPERTIES_BYTES + 1));
        assert!(matches!(check_encodable(&msg), Err(EncodeError::PropertiesTooLarge { .. })));
    }
}

/// Proptest strategies for stored records, shared by the property tests of every decoder
/// of disk bytes.
#[cfg(test)]
pub(crate) mod arb {
    use proptest::prelude::*;

    use super::*;

    /// An encodable message: V1 and V2 topics, any UTF-8 properties, any body.
    pub(crate) fn message() -> impl Strategy<Value = MessageToStore> {
        let hosts = (any::<[u8; 4]>(), any::<u16>(), any::<[u8; 4]>(), any::<u16>());
        let flags = prop::sample::select(vec![0, 1, 2, 4, 8, 12, 0x10, 0x23]);
        (
            ("[a-zA-Z0-9_%|-]{1,255}", 0u32..1024, any::<i32>()),
            (prop::collection::vec(any::<u8>(), 0..300), ".{0,60}", flags),
            (any::<i64>(), hosts, any::<i32>(), any::<i64>()),
        )
            .prop_map(
                |((topic, q, flag), (body, properties, sys_flag), (born, h, rc, prep))| {
                    MessageToStore {
                        topic,
                        queue_id: QueueId(q),
                        flag,
                        body,
                        properties,
                        sys_flag,
                        born_timestamp_ms: born,
                        born_host: SocketAddrV4::new(Ipv4Addr::from(h.0), h.1),
                        store_host: SocketAddrV4::new(Ipv4Addr::from(h.2), h.3),
                        reconsume_times: rc,
                        prepared_transaction_offset: prep,
                    }
                },
            )
    }

    /// `msgs` encoded back to back as the commitlog stores them from offset `start` (queue
    /// offset = index, store time = 1000 + index). Returns the bytes and each record's start.
    pub(crate) fn encode_log(msgs: &[MessageToStore], start: u64) -> (Vec<u8>, Vec<usize>) {
        let mut buf = Vec::new();
        let mut starts = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            let at = buf.len();
            starts.push(at);
            encode_record(m, &mut buf).expect("strategies make encodable messages");
            let phys = PhysOffset(start + at as u64);
            patch_record(&mut buf[at..], i as u64, phys, 1000 + i as i64);
        }
        (buf, starts)
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::arb::{encode_log, message};
    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_bytes_never_panic(buf in prop::collection::vec(any::<u8>(), 0..400), at: u64) {
            let _ = RecordView::parse(&buf);
            let _ = decode_record(&buf);
            let _ = check_record(&buf, PhysOffset(at), true);
            prop_assert!(split_records(&buf).count() <= buf.len() / POS_BODY + 1);
            let _ = store_timestamp_of(&buf);
            if let Ok(s) = std::str::from_utf8(&buf) {
                let _ = decode_properties(s);
                let _ = parse_offset_msg_id(s);
            }
        }

        #[test]
        fn valid_records_round_trip(m in message(), at in 0u64..(1 << 40), extra in 0usize..20) {
            let (mut buf, _) = encode_log(std::slice::from_ref(&m), at);
            let len = buf.len();
            buf.extend(std::iter::repeat_n(0xA5, extra));
            let RecordCheck::Record(v) = check_record(&buf, PhysOffset(at), true) else {
                panic!("a valid record is accepted");
            };
            prop_assert_eq!(v.total_size as usize, len);
            let d = decode_record(&buf).unwrap();
            prop_assert_eq!(&d.topic, &m.topic);
            prop_assert_eq!(&d.body, &m.body);
            prop_assert_eq!(&d.properties, &m.properties);
            prop_assert_eq!(d.queue_id, m.queue_id);
            prop_assert_eq!(d.flag, m.flag);
            prop_assert_eq!(d.sys_flag, m.sys_flag & !(SYS_FLAG_BORNHOST_V6 | SYS_FLAG_STOREHOST_V6));
            prop_assert_eq!(d.born_timestamp_ms, m.born_timestamp_ms);
            prop_assert_eq!((d.born_host, d.store_host), (m.born_host, m.store_host));
            prop_assert_eq!(d.reconsume_times, m.reconsume_times);
            prop_assert_eq!(d.prepared_transaction_offset, m.prepared_transaction_offset);
            prop_assert_eq!((d.phys_offset, d.queue_offset, d.store_timestamp_ms), (PhysOffset(at), 0, 1000));
            prop_assert_eq!(parse_offset_msg_id(&d.offset_msg_id()), Some((m.store_host, PhysOffset(at))));
            prop_assert!(matches!(check_record(&buf, PhysOffset(at + 1), false), RecordCheck::Invalid(_)));
        }

        #[test]
        fn mutated_records_never_panic(
            m in message(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..6),
            cut in any::<prop::sample::Index>(),
        ) {
            let (mut buf, _) = encode_log(std::slice::from_ref(&m), 0);
            for (i, x) in &flips {
                let i = i.index(buf.len());
                buf[i] ^= x;
            }
            let buf = &buf[..cut.index(buf.len() + 1)];
            let _ = decode_record(buf);
            let _ = split_records(buf).count();
            if let RecordCheck::Record(v) = check_record(buf, PhysOffset(0), true) {
                prop_assert!(v.total_size as usize <= buf.len());
                prop_assert_eq!(crc32_masked(v.body), v.body_crc);
            }
        }

        #[test]
        fn properties_round_trip(pairs in prop::collection::vec(("[^\u{1}\u{2}]{1,8}", "[^\u{1}\u{2}]{0,8}"), 0..6)) {
            let encoded = encode_properties(&pairs);
            prop_assert_eq!(decode_properties(&encoded), pairs);
        }
    }
}
