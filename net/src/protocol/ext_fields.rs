//! `ExtFields`, the header's string→string map, with typed getters; [`HeaderError`]; and the
//! [`CommandHeader`] trait that turns the map into a typed header struct and back.
//!
//! Parsing follows Java's `RemotingCommand.decodeCommandCustomHeader`: numbers are parsed with
//! `Integer.parseInt`/`Long.parseLong` rules, and a boolean is `true` only for `"true"` in any
//! case (`Boolean.parseBoolean`), anything else being `false`.

use std::fmt;

/// A typed request or response header that lives in `extFields`.
pub trait CommandHeader: Sized {
    /// Writes the header's fields as strings (absent optional fields are left out).
    fn to_ext_fields(&self) -> ExtFields;
    /// Reads the header, naming the first missing or malformed field in the error.
    fn from_ext_fields(fields: &ExtFields) -> Result<Self, HeaderError>;
}

/// The whole map is a valid (untyped) header.
impl CommandHeader for ExtFields {
    fn to_ext_fields(&self) -> ExtFields {
        self.clone()
    }

    fn from_ext_fields(fields: &ExtFields) -> Result<Self, HeaderError> {
        Ok(fields.clone())
    }
}

/// A header field that is missing or cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// A required field is absent.
    Missing {
        /// The field's wire name.
        field: &'static str,
    },
    /// A field is present but its value does not parse as `expected`.
    Invalid {
        /// The field's wire name.
        field: &'static str,
        /// The value as sent.
        value: String,
        /// What it should have been ("an int32", …).
        expected: &'static str,
    },
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The Java wording, so that remarks sent to clients read the same.
            Self::Missing { field } => write!(f, "the custom field <{field}> is null"),
            Self::Invalid { field, value, expected } => {
                write!(f, "the custom field <{field}> is not {expected}: \"{value}\"")
            }
        }
    }
}

impl std::error::Error for HeaderError {}

/// The `extFields` map: insertion-ordered, keys unique.
///
/// Headers hold a handful of entries and are decoded once per request on the I/O thread, so all
/// keys and values live back to back in one string and lookups are linear: two allocations per
/// header instead of two per field. Replaced or removed entries leave dead bytes behind, which
/// are compacted away once they outweigh the live ones.
#[derive(Clone, Default)]
pub struct ExtFields {
    text: String,
    entries: Vec<Entry>,
}

/// One entry: the key is `text[start..split]`, the value `text[split..end]`.
#[derive(Clone, Copy, Debug)]
struct Entry {
    start: usize,
    split: usize,
    end: usize,
}

impl ExtFields {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { text: String::with_capacity(capacity * 16), entries: Vec::with_capacity(capacity) }
    }

    /// An empty map with room for `entries` entries of `text_bytes` bytes in total.
    pub(crate) fn with_text_capacity(entries: usize, text_bytes: usize) -> Self {
        Self { text: String::with_capacity(text_bytes), entries: Vec::with_capacity(entries) }
    }

    fn key(&self, e: &Entry) -> &str {
        &self.text[e.start..e.split]
    }

    fn value(&self, e: &Entry) -> &str {
        &self.text[e.split..e.end]
    }

    /// Whether entry `e` has key `key`. Keys are short (V2 send headers use one letter), so
    /// the length and first byte settle almost every comparison without a `memcmp` call.
    fn key_is(&self, e: &Entry, key: &str) -> bool {
        let (k, key) = (&self.text.as_bytes()[e.start..e.split], key.as_bytes());
        k.len() == key.len()
            && match k.len() {
                0 => true,
                1 => k[0] == key[0],
                _ => k[0] == key[0] && k == key,
            }
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|e| self.key_is(e, key))
    }

    /// Appends the text of a new entry (not yet listed in `entries`).
    fn append(&mut self, key: &str, value: &str) -> Entry {
        let start = self.text.len();
        self.text.push_str(key);
        let split = self.text.len();
        self.text.push_str(value);
        let entry = Entry { start, split, end: self.text.len() };
        assert!(entry.start <= entry.split && entry.split <= entry.end, "entry bounds");
        entry
    }

    /// Sets `key` to `value`, replacing an earlier value of the same key in place.
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) {
        let (key, value) = (key.as_ref(), value.as_ref());
        match self.position(key) {
            Some(i) => {
                let entry = self.append(key, value);
                self.entries[i] = entry;
                self.compact_if_sparse();
            }
            None => {
                let entry = self.append(key, value);
                self.entries.push(entry);
            }
        }
    }

    /// Sets `key` when `value` is `Some`; does nothing for `None`.
    pub fn insert_opt<V: AsRef<str>>(&mut self, key: impl AsRef<str>, value: Option<V>) {
        if let Some(value) = value {
            self.insert(key, value);
        }
    }

    /// Sets `key` to the decimal text of `value` (formatted without allocating).
    pub fn insert_int(&mut self, key: &str, value: i64) {
        let mut buf = [0u8; super::json::INT_TEXT_MAX];
        self.insert(key, super::json::format_int(&mut buf, value));
    }

    /// Sets `key` to the `Display` text of `value` (numbers, booleans as `true`/`false`).
    pub fn insert_display(&mut self, key: impl AsRef<str>, value: impl fmt::Display) {
        self.insert(key, value.to_string());
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|e| self.key_is(e, key)).map(|e| self.value(e))
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Removes `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.position(key)?;
        let entry = self.entries.remove(index);
        let value = self.value(&entry).to_owned();
        self.compact_if_sparse();
        Some(value)
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|e| (self.key(e), self.value(e)))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn live_bytes(&self) -> usize {
        self.entries.iter().map(|e| e.end - e.start).sum()
    }

    /// Rebuilds the text without dead bytes once they are the majority.
    fn compact_if_sparse(&mut self) {
        if self.text.len() <= 256 || self.text.len() <= 2 * self.live_bytes() {
            return;
        }
        let old = std::mem::take(self);
        *self = Self::with_text_capacity(old.len(), old.live_bytes());
        for (k, v) in old.iter() {
            let entry = self.append(k, v);
            self.entries.push(entry);
        }
        assert_eq!(self.text.len(), old.live_bytes(), "compaction keeps only live bytes");
        assert_eq!(self.len(), old.len(), "compaction keeps every entry");
    }

    /// A required string field.
    pub fn required_str(&self, key: &'static str) -> Result<&str, HeaderError> {
        self.get(key).ok_or(HeaderError::Missing { field: key })
    }

    /// An optional string field.
    pub fn optional_str(&self, key: &str) -> Option<&str> {
        self.get(key)
    }

    /// A required `i32` field (Java `Integer.parseInt`).
    pub fn required_i32(&self, key: &'static str) -> Result<i32, HeaderError> {
        parse_number(key, self.required_str(key)?, "an int32")
    }

    /// A required `i64` field (Java `Long.parseLong`).
    pub fn required_i64(&self, key: &'static str) -> Result<i64, HeaderError> {
        parse_number(key, self.required_str(key)?, "an int64")
    }

    /// A required boolean field (Java `Boolean.parseBoolean`: only `"true"` is true).
    pub fn required_bool(&self, key: &'static str) -> Result<bool, HeaderError> {
        self.required_str(key).map(parse_bool)
    }

    /// An optional `i32` field; present but malformed is an error.
    pub fn optional_i32(&self, key: &'static str) -> Result<Option<i32>, HeaderError> {
        self.get(key).map(|v| parse_number(key, v, "an int32")).transpose()
    }

    /// An optional `i64` field; present but malformed is an error.
    pub fn optional_i64(&self, key: &'static str) -> Result<Option<i64>, HeaderError> {
        self.get(key).map(|v| parse_number(key, v, "an int64")).transpose()
    }

    /// An optional boolean field. It never fails: Java reads anything but `"true"` as `false`.
    pub fn optional_bool(&self, key: &'static str) -> Result<Option<bool>, HeaderError> {
        Ok(self.get(key).map(parse_bool))
    }

    /// Appends without looking for the key; decoders call [`Self::dedup_keep_last`] after.
    pub(crate) fn push_unchecked(&mut self, key: &str, value: &str) {
        let entry = self.append(key, value);
        self.entries.push(entry);
    }

    /// Drops earlier entries of repeated keys (the wire's last value wins, as in a Java map).
    /// Linear for the usual handful of entries, hashed for large hostile headers.
    pub(crate) fn dedup_keep_last(&mut self) {
        const LINEAR_MAX: usize = 16;
        let n = self.entries.len();
        // One pass first: if no two keys share (length, first byte, last byte), there is no
        // duplicate. That settles the usual header (V2 send keys are the letters a..n).
        let mut seen_sigs = [0u64; 4];
        let distinct = self.entries.iter().all(|e| {
            let key = &self.text.as_bytes()[e.start..e.split];
            let (first, last) = (key.first().copied(), key.last().copied());
            let sig = usize::from(first.unwrap_or(0))
                ^ usize::from(last.unwrap_or(0)).rotate_left(3)
                ^ key.len().wrapping_mul(31);
            let (word, bit) = ((sig >> 6) & 3, 1u64 << (sig & 63));
            let fresh = seen_sigs[word] & bit == 0;
            seen_sigs[word] |= bit;
            fresh
        });
        if distinct {
            return;
        }
        let has_dup = if n <= LINEAR_MAX {
            // Compare cheap signatures first; most keys differ in length or end bytes.
            let sig = |e: &Entry| {
                let key = &self.text.as_bytes()[e.start..e.split];
                (key.len(), key.first().copied(), key.last().copied())
            };
            (1..n).any(|i| {
                let (entry, key_sig) = (&self.entries[i], sig(&self.entries[i]));
                self.entries[..i]
                    .iter()
                    .any(|e| sig(e) == key_sig && self.key(e) == self.key(entry))
            })
        } else {
            let mut seen = std::collections::HashSet::with_capacity(n);
            !self.entries.iter().all(|e| seen.insert(self.key(e)))
        };
        if !has_dup {
            return;
        }
        let mut seen = std::collections::HashSet::with_capacity(n);
        let mut kept: Vec<Entry> = Vec::with_capacity(n);
        for e in self.entries.iter().rev() {
            if seen.insert(self.key(e)) {
                kept.push(*e);
            }
        }
        kept.reverse();
        assert!(kept.len() < n, "a duplicate was found, so an entry goes");
        self.entries = kept;
        self.compact_if_sparse();
    }
}

impl PartialEq for ExtFields {
    /// Map equality: the same keys with the same values, in any order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl Eq for ExtFields {}

impl fmt::Debug for ExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for ExtFields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut fields = Self::new();
        for (k, v) in iter {
            fields.insert(k, v);
        }
        fields
    }
}

fn parse_number<T: std::str::FromStr>(
    field: &'static str,
    value: &str,
    expected: &'static str,
) -> Result<T, HeaderError> {
    value.parse().map_err(|_| HeaderError::Invalid { field, value: value.to_owned(), expected })
}

fn parse_bool(value: &str) -> bool {
    value.eq_ignore_ascii_case("true")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ExtFields {
        [("topic", "T"), ("queueId", "3"), ("offset", "-9000000000"), ("flag", "TRUE")]
            .into_iter()
            .collect()
    }

    #[test]
    fn insert_int_writes_decimal_text() {
        let mut f = ExtFields::new();
        f.insert_int("a", -42);
        f.insert_int("b", i64::MIN);
        f.insert_int("a", 7);
        assert_eq!(f.get("a"), Some("7"));
        assert_eq!(f.get("b"), Some("-9223372036854775808"));
    }

    #[test]
    fn insert_replaces_in_place_and_keeps_order() {
        let mut f = sample();
        f.insert("queueId", "4");
        let keys: Vec<_> = f.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["topic", "queueId", "offset", "flag"]);
        assert_eq!(f.get("queueId"), Some("4"));
        assert_eq!(f.remove("topic").as_deref(), Some("T"));
        assert!(!f.contains("topic"));
        assert_eq!(f.len(), 3);
    }

    #[test]
    fn replaced_values_are_compacted_and_equality_ignores_order() {
        let mut f = ExtFields::new();
        for i in 0..10_000 {
            f.insert("k", i.to_string());
            f.insert_display("other", i);
        }
        assert_eq!(f.get("k"), Some("9999"));
        assert!(f.text.len() < 1024, "dead bytes are compacted");
        let a: ExtFields = [("x", "1"), ("y", "2")].into_iter().collect();
        let b: ExtFields = [("y", "2"), ("x", "1")].into_iter().collect();
        assert_eq!(a, b);
        assert_ne!(a, [("x", "1")].into_iter().collect());
        assert_eq!(format!("{a:?}"), r#"{"x": "1", "y": "2"}"#);
    }

    #[test]
    fn typed_getters_parse_like_java() {
        let f = sample();
        assert_eq!(f.required_i32("queueId"), Ok(3));
        assert_eq!(f.required_i64("offset"), Ok(-9_000_000_000));
        assert_eq!(f.required_bool("flag"), Ok(true));
        assert_eq!(f.optional_bool("topic"), Ok(Some(false)));
        assert_eq!(f.optional_i32("nope"), Ok(None));
        assert_eq!(f.optional_str("topic"), Some("T"));
    }

    #[test]
    fn errors_name_the_field_and_value() {
        let f = sample();
        let missing = f.required_str("group").unwrap_err();
        assert_eq!(missing, HeaderError::Missing { field: "group" });
        assert_eq!(missing.to_string(), "the custom field <group> is null");
        let bad = f.required_i32("offset").unwrap_err();
        assert_eq!(
            bad,
            HeaderError::Invalid {
                field: "offset",
                value: "-9000000000".into(),
                expected: "an int32"
            }
        );
        assert!(bad.to_string().contains("offset") && bad.to_string().contains("-9000000000"));
        assert!(f.optional_i64("topic").is_err());
    }
}
