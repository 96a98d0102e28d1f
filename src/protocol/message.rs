//! Message encodings on the wire: the batch body of SEND_BATCH_MESSAGE (PROTOCOL.md §7) and the
//! record list of pull/query/view bodies (§6), decoded leniently because any broker may send it.

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use byteorder_free::{read_i16, read_i32, read_i64};

/// Property separators (§6.3).
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// See [`NAME_VALUE_SEPARATOR`].
pub const PROPERTY_SEPARATOR: char = '\u{2}';

/// Magic of v1 records (1-byte topic length).
pub const MAGIC_V1: i32 = 0xDAA3_20A7_u32 as i32;
/// Magic of v2 records (2-byte topic length).
pub const MAGIC_V2: i32 = 0xDAA3_20AB_u32 as i32;

/// sysFlag bits the client looks at.
pub mod sys_flag {
    /// Body is compressed.
    pub const COMPRESSED: i32 = 0x1;
    /// Born host is IPv6.
    pub const BORNHOST_V6: i32 = 0x10;
    /// Store host is IPv6.
    pub const STOREHOST_V6: i32 = 0x20;
    /// Transaction type mask.
    pub const TRANSACTION_MASK: i32 = 0xC;
    /// A transactional half message.
    pub const TRANSACTION_PREPARED: i32 = 0x4;
    /// A committed transactional message.
    pub const TRANSACTION_COMMIT: i32 = 0x8;
    /// A rolled-back transactional message.
    pub const TRANSACTION_ROLLBACK: i32 = 0xC;
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageDecodeError {
    /// Byte offset of the record or entry that failed.
    pub at: usize,
    /// What was wrong with it.
    pub what: &'static str,
}

impl std::fmt::Display for MessageDecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed message at byte {}: {}", self.at, self.what)
    }
}

impl std::error::Error for MessageDecodeError {}

/// One message of a batch body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchEntry {
    /// The message's user flag.
    pub flag: i32,
    /// The message body.
    pub body: Vec<u8>,
    /// The encoded properties string of this message.
    pub properties: String,
}

/// Appends one batch entry (§7) to `out`.
pub fn encode_batch_entry(out: &mut Vec<u8>, flag: i32, body: &[u8], properties: &str) {
    let total = 4 + 4 + 4 + 4 + 4 + body.len() + 2 + properties.len();
    out.extend_from_slice(&(total as i32).to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&flag.to_be_bytes());
    out.extend_from_slice(&(body.len() as i32).to_be_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&(properties.len() as i16).to_be_bytes());
    out.extend_from_slice(properties.as_bytes());
}

/// Decodes a SEND_BATCH_MESSAGE body.
pub fn decode_batch(body: &[u8]) -> Result<Vec<BatchEntry>, MessageDecodeError> {
    let mut entries = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let err = |what| MessageDecodeError { at: pos, what };
        let total = read_i32(body, pos).ok_or(err("truncated entry header"))?;
        let total = usize::try_from(total).map_err(|_| err("negative entry size"))?;
        let entry = body.get(pos..pos + total).ok_or(err("entry size past the body"))?;
        let flag = read_i32(entry, 12).ok_or(err("truncated entry"))?;
        let body_len = read_i32(entry, 16).ok_or(err("truncated entry"))?;
        let body_len = usize::try_from(body_len).map_err(|_| err("negative body length"))?;
        let msg = entry.get(20..20 + body_len).ok_or(err("body past the entry"))?;
        let props_at = 20 + body_len;
        let props_len = read_i16(entry, props_at).ok_or(err("truncated properties length"))?;
        let props_len = usize::try_from(props_len).map_err(|_| err("negative properties"))?;
        let props = entry
            .get(props_at + 2..props_at + 2 + props_len)
            .ok_or(err("properties past the entry"))?;
        let properties =
            String::from_utf8(props.to_vec()).map_err(|_| err("properties not UTF-8"))?;
        entries.push(BatchEntry { flag, body: msg.to_vec(), properties });
        pos += total;
    }
    Ok(entries)
}

/// Java's `String.hashCode` over UTF-16 code units: the tag code clients put in `codeSet` and
/// the key hash of `SelectMessageQueueByHash`. The store keeps its own copy
/// (`rocketmq_store::record::java_string_hash`) so that a client-only build compiles no store
/// code; both are pinned to the same known Java values by their tests.
pub fn java_string_hash(s: &str) -> i32 {
    let step = |h: i32, c: i32| h.wrapping_mul(31).wrapping_add(c);
    if s.is_ascii() {
        // ASCII bytes are their own UTF-16 code units; skip the UTF-16 encoder.
        return s.bytes().fold(0, |h, b| step(h, i32::from(b)));
    }
    s.encode_utf16().fold(0, |h, c| step(h, i32::from(c)))
}

/// Parses a properties string; empty keys or values are dropped as Java does.
pub fn parse_properties(s: &str) -> BTreeMap<String, String> {
    s.split(PROPERTY_SEPARATOR)
        .filter_map(|pair| pair.split_once(NAME_VALUE_SEPARATOR))
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Writes properties in the Java form (every pair ends with the separator).
pub fn format_properties<'a>(props: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = String::new();
    write_properties(&mut s, props);
    s
}

/// [`format_properties`] appending to `out`.
pub fn write_properties<'a>(out: &mut String, props: impl IntoIterator<Item = (&'a str, &'a str)>) {
    for (k, v) in props {
        if k.is_empty() || v.is_empty() {
            continue;
        }
        append_property(out, k, v);
    }
}

/// Appends one `key\x01value\x02` pair to an encoded properties string that ends with a
/// separator (or is empty).
pub fn append_property(props: &mut String, key: &str, value: &str) {
    props.push_str(key);
    props.push(NAME_VALUE_SEPARATOR);
    props.push_str(value);
    props.push(PROPERTY_SEPARATOR);
}

/// A message as a consumer sees it (MessageExt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExt {
    /// The topic (the original topic for a message re-delivered through a retry topic).
    pub topic: String,
    /// The queue it was pulled from.
    pub queue_id: i32,
    /// The producer's user flag.
    pub flag: i32,
    /// Its logical offset in the queue.
    pub queue_offset: i64,
    /// Its physical offset in the broker's commitlog.
    pub commit_log_offset: i64,
    /// System flags ([`sys_flag`]); COMPRESSED is cleared once a zlib body is inflated.
    pub sys_flag: i32,
    /// When the producer created it (ms since the epoch).
    pub born_timestamp: i64,
    /// The producer's address.
    pub born_host: SocketAddr,
    /// When the broker stored it (ms since the epoch).
    pub store_timestamp: i64,
    /// The broker that stored it.
    pub store_host: SocketAddr,
    /// How often it was re-delivered after `ReconsumeLater`.
    pub reconsume_times: i32,
    /// The commitlog offset of its half message (transactions), else 0.
    pub prepared_transaction_offset: i64,
    /// CRC of the body as the broker stored it.
    pub body_crc: i32,
    /// The body (inflated if it was zlib-compressed).
    pub body: Vec<u8>,
    /// User and system properties (TAGS, KEYS, UNIQ_KEY, …).
    pub properties: BTreeMap<String, String>,
    /// The broker's offset message id (store host + commitlog offset).
    pub offset_msg_id: String,
}

impl MessageExt {
    /// The client message id (UNIQ_KEY), falling back to the offset id.
    pub fn msg_id(&self) -> &str {
        self.properties.get("UNIQ_KEY").map_or(&self.offset_msg_id, String::as_str)
    }

    /// The TAGS property.
    pub fn tags(&self) -> Option<&str> {
        self.properties.get("TAGS").map(String::as_str)
    }

    /// The KEYS property.
    pub fn keys(&self) -> Option<&str> {
        self.properties.get("KEYS").map(String::as_str)
    }

    /// A user or system property.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }
}

/// The offset message id: uppercase hex of store ip, port and commitlog offset (§6.6).
pub fn offset_msg_id(store_host: &SocketAddr, commit_log_offset: i64) -> String {
    let mut bytes = Vec::with_capacity(28);
    match store_host.ip() {
        IpAddr::V4(ip) => bytes.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => bytes.extend_from_slice(&ip.octets()),
    }
    bytes.extend_from_slice(&i32::from(store_host.port()).to_be_bytes());
    bytes.extend_from_slice(&commit_log_offset.to_be_bytes());
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Splits an offset message id into the broker address and commitlog offset.
pub fn decode_offset_msg_id(id: &str) -> Option<(SocketAddr, i64)> {
    let bytes: Vec<u8> = (0..id.len())
        .step_by(2)
        .map(|i| id.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<_>>()?;
    let (ip, rest): (IpAddr, &[u8]) = match bytes.len() {
        16 => (IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])), &bytes[4..]),
        28 => {
            let octets: [u8; 16] = bytes[..16].try_into().ok()?;
            (IpAddr::V6(Ipv6Addr::from(octets)), &bytes[16..])
        }
        _ => return None,
    };
    let port = u16::try_from(read_i32(rest, 0)?).ok()?;
    Some((SocketAddr::new(ip, port), read_i64(rest, 4)?))
}

/// Decodes the records of a pull, query or view body (§6.1). Accepts magic v1 and v2 and IPv6
/// hosts; bodies are returned as stored (still compressed if the COMPRESSED flag is set).
pub fn decode_messages(body: &[u8]) -> Result<Vec<MessageExt>, MessageDecodeError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let err = |what| MessageDecodeError { at: pos, what };
        let total = read_i32(body, pos).ok_or(err("truncated record size"))?;
        let total = usize::try_from(total).map_err(|_| err("negative record size"))?;
        let record = body.get(pos..pos + total).ok_or(err("record size past the body"))?;
        out.push(decode_record(record).map_err(err)?);
        pos += total;
    }
    Ok(out)
}

fn host(record: &[u8], at: usize, v6: bool) -> Option<(SocketAddr, usize)> {
    if v6 {
        let octets: [u8; 16] = record.get(at..at + 16)?.try_into().ok()?;
        let port = u16::try_from(read_i32(record, at + 16)?).ok()?;
        Some((SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port), at + 20))
    } else {
        let o = record.get(at..at + 4)?;
        let port = u16::try_from(read_i32(record, at + 4)?).ok()?;
        Some((SocketAddr::new(IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3])), port), at + 8))
    }
}

/// Bodies inflate to at most this many bytes (the broker's 4 MiB limit with room to spare).
const INFLATE_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Inflates a zlib-compressed body (compression type 0 or 3 in sysFlag bits 8-10) and clears the
/// COMPRESSED flag, as the Java client does. LZ4 and ZSTD bodies are left compressed, flag set.
fn decompress(sys_flag: i32, body: Vec<u8>) -> Result<(i32, Vec<u8>), &'static str> {
    let compression_type = (sys_flag >> 8) & 0x7;
    if sys_flag & sys_flag::COMPRESSED == 0 || !matches!(compression_type, 0 | 3) {
        return Ok((sys_flag, body));
    }
    let inflated =
        miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&body, INFLATE_MAX_BYTES)
            .map_err(|_| "compressed body does not inflate as zlib")?;
    Ok((sys_flag & !sys_flag::COMPRESSED, inflated))
}

fn decode_record(r: &[u8]) -> Result<MessageExt, &'static str> {
    const SHORT: &str = "record shorter than its fields";
    let magic = read_i32(r, 4).ok_or(SHORT)?;
    let sys_flag = read_i32(r, 36).ok_or(SHORT)?;
    let (born_host, at) = host(r, 48, sys_flag & sys_flag::BORNHOST_V6 != 0).ok_or(SHORT)?;
    let store_timestamp = read_i64(r, at).ok_or(SHORT)?;
    let (store_host, at) = host(r, at + 8, sys_flag & sys_flag::STOREHOST_V6 != 0).ok_or(SHORT)?;
    let reconsume_times = read_i32(r, at).ok_or(SHORT)?;
    let prepared_transaction_offset = read_i64(r, at + 4).ok_or(SHORT)?;
    let body_len = usize::try_from(read_i32(r, at + 12).ok_or(SHORT)?).map_err(|_| SHORT)?;
    let body_at = at + 16;
    let body = r.get(body_at..body_at + body_len).ok_or(SHORT)?.to_vec();
    let mut at = body_at + body_len;
    let topic_len = if magic == MAGIC_V2 {
        let n = read_i16(r, at).ok_or(SHORT)?;
        at += 2;
        usize::try_from(n).map_err(|_| SHORT)?
    } else {
        let n = *r.get(at).ok_or(SHORT)?;
        at += 1;
        usize::from(n)
    };
    let topic = std::str::from_utf8(r.get(at..at + topic_len).ok_or(SHORT)?)
        .map_err(|_| "topic not UTF-8")?
        .to_string();
    at += topic_len;
    let props_len = usize::try_from(read_i16(r, at).ok_or(SHORT)?).map_err(|_| SHORT)?;
    let props = r.get(at + 2..at + 2 + props_len).ok_or(SHORT)?;
    let properties = parse_properties(std::str::from_utf8(props).map_err(|_| "bad properties")?);
    let commit_log_offset = read_i64(r, 28).ok_or(SHORT)?;
    let (sys_flag, body) = decompress(sys_flag, body)?;
    Ok(MessageExt {
        topic,
        queue_id: read_i32(r, 12).ok_or(SHORT)?,
        flag: read_i32(r, 16).ok_or(SHORT)?,
        queue_offset: read_i64(r, 20).ok_or(SHORT)?,
        commit_log_offset,
        sys_flag,
        born_timestamp: read_i64(r, 40).ok_or(SHORT)?,
        born_host,
        store_timestamp,
        store_host,
        reconsume_times,
        prepared_transaction_offset,
        body_crc: read_i32(r, 8).ok_or(SHORT)?,
        body,
        properties,
        offset_msg_id: offset_msg_id(&store_host, commit_log_offset),
    })
}

/// Big-endian reads that return `None` instead of panicking on short input.
mod byteorder_free {
    pub fn read_i16(b: &[u8], at: usize) -> Option<i16> {
        Some(i16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
    }
    pub fn read_i32(b: &[u8], at: usize) -> Option<i32> {
        Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    }
    pub fn read_i64(b: &[u8], at: usize) -> Option<i64> {
        Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_roundtrip() {
        let mut body = Vec::new();
        encode_batch_entry(&mut body, 1, b"hello", "TAGS\u{1}A\u{2}");
        encode_batch_entry(&mut body, 0, b"", "");
        let entries = decode_batch(&body).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].body, b"hello");
        assert_eq!(entries[0].flag, 1);
        assert_eq!(parse_properties(&entries[0].properties)["TAGS"], "A");
        assert!(entries[1].body.is_empty());
    }

    #[test]
    fn malformed_batches_are_errors() {
        let mut body = Vec::new();
        encode_batch_entry(&mut body, 1, b"hello", "K\u{1}V\u{2}");
        for cut in 1..body.len() {
            assert!(decode_batch(&body[..cut]).is_err(), "cut at {cut}");
        }
        let mut neg = body.clone();
        neg[0..4].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(decode_batch(&neg).is_err());
    }

    #[test]
    fn properties_drop_empty_values() {
        let p = parse_properties("A\u{1}1\u{2}B\u{1}\u{2}\u{1}x\u{2}C\u{1}3\u{2}");
        assert_eq!(p.len(), 2);
        assert_eq!(
            format_properties(p.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            "A\u{1}1\u{2}C\u{1}3\u{2}"
        );
    }

    #[test]
    fn zlib_bodies_are_inflated() {
        let body = vec![b'z'; 6000];
        let packed = miniz_oxide::deflate::compress_to_vec_zlib(&body, 5);
        let (flag, out) = decompress(sys_flag::COMPRESSED, packed.clone()).unwrap();
        assert_eq!((flag, out), (0, body));
        let lz4 = sys_flag::COMPRESSED | 0x100;
        assert_eq!(decompress(lz4, packed.clone()).unwrap(), (lz4, packed));
        assert!(decompress(sys_flag::COMPRESSED, vec![1, 2, 3]).is_err());
    }

    #[test]
    fn java_string_hash_matches_java() {
        // Values from Java's String.hashCode.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("TagA"), 2_598_919);
        assert_eq!(java_string_hash("order-1"), -1_207_111_310);
        // Non-ASCII: "é" is one UTF-16 unit (0xE9), the emoji a surrogate pair.
        assert_eq!(java_string_hash("\u{e9}"), 0xE9);
        assert_eq!(java_string_hash("\u{1F600}"), 1_772_899);
        assert_eq!(java_string_hash("a\u{e9}"), 97 * 31 + 0xE9);
    }

    #[test]
    fn offset_msg_id_roundtrip() {
        let addr: SocketAddr = "10.1.2.3:10911".parse().unwrap();
        let id = offset_msg_id(&addr, 0x0012_3456_789A);
        assert_eq!(id.len(), 32);
        assert_eq!(id, "0A01020300002A9F000000123456789A");
        assert_eq!(decode_offset_msg_id(&id), Some((addr, 0x0012_3456_789A)));
        assert_eq!(decode_offset_msg_id("zz"), None);
    }
}

/// Property tests of every decoder here: arbitrary and mutated input never panics, and what the
/// encoders (or a test encoder of the §6.1 record layout) write decodes back to the same fields.
#[cfg(test)]
mod proptests {
    use proptest::collection::{btree_map, vec};
    use proptest::prelude::*;

    use super::*;
    use crate::protocol::testing::mutate;

    /// One record as a broker would send it, before encoding.
    #[derive(Debug, Clone)]
    struct Record {
        v2: bool,
        compressed: bool,
        tx_bits: i32,
        queue_id: i32,
        flag: i32,
        queue_offset: i64,
        commit_log_offset: i64,
        born_timestamp: i64,
        born_host: SocketAddr,
        store_timestamp: i64,
        store_host: SocketAddr,
        reconsume_times: i32,
        prepared_transaction_offset: i64,
        body_crc: i32,
        body: Vec<u8>,
        topic: String,
        properties: BTreeMap<String, String>,
    }

    impl Record {
        fn sys_flag(&self) -> i32 {
            let mut flag = self.tx_bits;
            if self.compressed {
                flag |= sys_flag::COMPRESSED;
            }
            if self.born_host.is_ipv6() {
                flag |= sys_flag::BORNHOST_V6;
            }
            if self.store_host.is_ipv6() {
                flag |= sys_flag::STOREHOST_V6;
            }
            flag
        }

        /// The §6.1 layout, written independently of the decoder.
        fn encode(&self, out: &mut Vec<u8>) {
            let stored_body = if self.compressed {
                miniz_oxide::deflate::compress_to_vec_zlib(&self.body, 6)
            } else {
                self.body.clone()
            };
            let props =
                format_properties(self.properties.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let mut r = Vec::new();
            r.extend_from_slice(&0i32.to_be_bytes());
            r.extend_from_slice(&if self.v2 { MAGIC_V2 } else { MAGIC_V1 }.to_be_bytes());
            r.extend_from_slice(&self.body_crc.to_be_bytes());
            r.extend_from_slice(&self.queue_id.to_be_bytes());
            r.extend_from_slice(&self.flag.to_be_bytes());
            r.extend_from_slice(&self.queue_offset.to_be_bytes());
            r.extend_from_slice(&self.commit_log_offset.to_be_bytes());
            r.extend_from_slice(&self.sys_flag().to_be_bytes());
            r.extend_from_slice(&self.born_timestamp.to_be_bytes());
            write_host(&mut r, &self.born_host);
            r.extend_from_slice(&self.store_timestamp.to_be_bytes());
            write_host(&mut r, &self.store_host);
            r.extend_from_slice(&self.reconsume_times.to_be_bytes());
            r.extend_from_slice(&self.prepared_transaction_offset.to_be_bytes());
            r.extend_from_slice(&i32::try_from(stored_body.len()).unwrap().to_be_bytes());
            r.extend_from_slice(&stored_body);
            if self.v2 {
                r.extend_from_slice(&i16::try_from(self.topic.len()).unwrap().to_be_bytes());
            } else {
                r.push(u8::try_from(self.topic.len()).unwrap());
            }
            r.extend_from_slice(self.topic.as_bytes());
            r.extend_from_slice(&i16::try_from(props.len()).unwrap().to_be_bytes());
            r.extend_from_slice(props.as_bytes());
            let total = i32::try_from(r.len()).unwrap();
            r[0..4].copy_from_slice(&total.to_be_bytes());
            out.extend_from_slice(&r);
        }

        fn check(&self, m: &MessageExt) {
            assert_eq!(m.topic, self.topic);
            assert_eq!(
                (m.queue_id, m.flag, m.queue_offset),
                (self.queue_id, self.flag, self.queue_offset)
            );
            assert_eq!(m.commit_log_offset, self.commit_log_offset);
            assert_eq!(
                m.sys_flag,
                self.sys_flag() & !sys_flag::COMPRESSED,
                "inflated: flag cleared"
            );
            assert_eq!((m.born_timestamp, m.born_host), (self.born_timestamp, self.born_host));
            assert_eq!((m.store_timestamp, m.store_host), (self.store_timestamp, self.store_host));
            assert_eq!(m.reconsume_times, self.reconsume_times);
            assert_eq!(m.prepared_transaction_offset, self.prepared_transaction_offset);
            assert_eq!(m.body_crc, self.body_crc);
            assert_eq!(m.body, self.body);
            assert_eq!(m.properties, self.properties);
            assert_eq!(m.offset_msg_id, offset_msg_id(&self.store_host, self.commit_log_offset));
        }
    }

    fn write_host(out: &mut Vec<u8>, host: &SocketAddr) {
        match host.ip() {
            IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
            IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
        }
        out.extend_from_slice(&i32::from(host.port()).to_be_bytes());
    }

    fn socket_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>())
                .prop_map(|(o, p)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(o)), p)),
            (any::<[u8; 16]>(), any::<u16>())
                .prop_map(|(o, p)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(o)), p)),
        ]
    }

    /// Property keys and values: non-empty, without the two separators.
    fn property_text() -> impl Strategy<Value = String> {
        "[^\u{1}\u{2}]{1,12}"
    }

    fn properties() -> impl Strategy<Value = BTreeMap<String, String>> {
        btree_map(property_text(), property_text(), 0..6)
    }

    fn record() -> impl Strategy<Value = Record> {
        let ids = (any::<bool>(), any::<bool>(), 0..4i32, any::<i32>(), any::<i32>());
        let offsets = (any::<i64>(), any::<i64>(), any::<i64>(), socket_addr());
        let store = (any::<i64>(), socket_addr(), any::<i32>(), any::<i64>(), any::<i32>());
        let content = (vec(any::<u8>(), 0..200), "[a-zA-Z0-9%_-]{1,40}", properties());
        (ids, offsets, store, content).prop_map(
            |(
                (v2, compressed, tx, queue_id, flag),
                (queue_offset, commit_log_offset, born_timestamp, born_host),
                (store_timestamp, store_host, reconsume_times, prepared, body_crc),
                (body, topic, properties),
            )| Record {
                v2,
                compressed,
                tx_bits: tx << 2,
                queue_id,
                flag,
                queue_offset,
                commit_log_offset,
                born_timestamp,
                born_host,
                store_timestamp,
                store_host,
                reconsume_times,
                prepared_transaction_offset: prepared,
                body_crc,
                body,
                topic,
                properties,
            },
        )
    }

    fn mutations() -> impl Strategy<Value = (Vec<(usize, u8)>, Option<usize>)> {
        (vec((any::<usize>(), any::<u8>()), 0..6), proptest::option::of(any::<usize>()))
    }

    proptest! {
        #[test]
        fn records_decode_to_what_was_encoded(records in vec(record(), 0..4)) {
            let mut body = Vec::new();
            for r in &records {
                r.encode(&mut body);
            }
            let decoded = decode_messages(&body).unwrap();
            prop_assert_eq!(decoded.len(), records.len());
            for (r, m) in records.iter().zip(&decoded) {
                r.check(m);
            }
        }

        #[test]
        fn mutated_pull_bodies_never_panic(
            records in vec(record(), 1..3),
            (flips, cut) in mutations(),
        ) {
            let mut body = Vec::new();
            for r in &records {
                r.encode(&mut body);
            }
            let _ = decode_messages(&mutate(body, &flips, cut));
        }

        #[test]
        fn arbitrary_pull_bodies_never_panic(bytes in vec(any::<u8>(), 0..512)) {
            let _ = decode_messages(&bytes);
        }

        #[test]
        fn batches_round_trip(entries in vec((any::<i32>(), vec(any::<u8>(), 0..64), "\\PC{0,30}"), 0..5)) {
            let mut body = Vec::new();
            for (flag, msg, props) in &entries {
                encode_batch_entry(&mut body, *flag, msg, props);
            }
            let decoded = decode_batch(&body).unwrap();
            prop_assert_eq!(decoded.len(), entries.len());
            for ((flag, msg, props), e) in entries.iter().zip(&decoded) {
                prop_assert_eq!((e.flag, &e.body, &e.properties), (*flag, msg, props));
            }
        }

        #[test]
        fn mutated_and_arbitrary_batches_never_panic(
            entries in vec((any::<i32>(), vec(any::<u8>(), 0..64), "\\PC{0,30}"), 1..4),
            (flips, cut) in mutations(),
            noise in vec(any::<u8>(), 0..256),
        ) {
            let mut body = Vec::new();
            for (flag, msg, props) in &entries {
                encode_batch_entry(&mut body, *flag, msg, props);
            }
            let _ = decode_batch(&mutate(body, &flips, cut));
            let _ = decode_batch(&noise);
        }

        #[test]
        fn properties_round_trip(props in properties()) {
            let text = format_properties(props.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            prop_assert_eq!(parse_properties(&text), props);
        }

        #[test]
        fn arbitrary_properties_never_panic(text in any::<String>()) {
            let parsed = parse_properties(&text);
            prop_assert!(parsed.iter().all(|(k, v)| !k.is_empty() && !v.is_empty()));
        }

        #[test]
        fn offset_msg_ids_round_trip(host in socket_addr(), offset in any::<i64>()) {
            let id = offset_msg_id(&host, offset);
            prop_assert_eq!(id.len(), if host.is_ipv4() { 32 } else { 56 });
            prop_assert_eq!(decode_offset_msg_id(&id), Some((host, offset)));
        }

        #[test]
        fn arbitrary_offset_msg_ids_never_panic(id in any::<String>(), hex in "[0-9A-F]{0,60}") {
            let _ = decode_offset_msg_id(&id);
            let _ = decode_offset_msg_id(&hex);
        }

        #[test]
        fn java_hash_fast_path_agrees_with_utf16(s in any::<String>(), ascii in "[ -~]{0,40}") {
            let utf16 = |s: &str| {
                s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
            };
            prop_assert_eq!(java_string_hash(&s), utf16(&s));
            prop_assert_eq!(java_string_hash(&ascii), utf16(&ascii));
        }
    }
}
