//! fastjson compatibility: turning stock RocketMQ's non-standard JSON into standard JSON, and
//! writing the object-key form clients expect for MessageQueue-keyed maps (PROTOCOL.md §5.9).
//!
//! fastjson writes `Map<Long, _>` keys as bare numbers (`{0:"addr"}`) and `Map<MessageQueue, _>`
//! keys as whole objects (`{{"brokerName":"b","queueId":0,"topic":"t"}:5}`). [`normalize`]
//! rewrites every non-string key into a JSON string holding its text, so serde can parse the
//! result: `{"0":"addr"}` and `{"{\"brokerName\":\"b\",...}":5}`.

#![warn(missing_docs)]

use std::fmt::Write as _;

/// Why [`normalize`] gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizeError {
    /// Byte offset in the input where the problem is.
    pub at: usize,
    /// What was wrong.
    pub what: &'static str,
}

impl std::fmt::Display for NormalizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed JSON at byte {}: {}", self.at, self.what)
    }
}

impl std::error::Error for NormalizeError {}

/// Rewrites non-string object keys into string keys. Standard JSON passes through unchanged.
pub fn normalize(input: &[u8]) -> Result<String, NormalizeError> {
    let text = std::str::from_utf8(input)
        .map_err(|e| NormalizeError { at: e.valid_up_to(), what: "not UTF-8" })?;
    let mut out = String::with_capacity(text.len() + 16);
    let mut parser = Parser { src: text.as_bytes(), pos: 0 };
    parser.skip_ws();
    parser.value(&mut out, 0)?;
    parser.skip_ws();
    if parser.pos != parser.src.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(out)
}

/// Parses `input` as JSON after [`normalize`], with `null` members treated as absent.
///
/// fastjson leaves a field at its default when the member is `null`; serde would hand `null`
/// to the field. So when the text may hold a `null`, it is parsed into a value first and every
/// null-valued object member is dropped, letting `#[serde(default)]` apply as for a missing
/// member. Bodies without `null` (all that fastjson and our own encoder write) take the direct
/// path.
pub fn from_slice_lenient<T: serde::de::DeserializeOwned>(
    input: &[u8],
) -> Result<T, Box<dyn std::error::Error + Send + Sync>> {
    let may_hold_null = input.windows(4).any(|w| w == b"null");
    if !may_hold_null {
        if let Ok(v) = serde_json::from_slice(input) {
            return Ok(v);
        }
    }
    let mut value: serde_json::Value = match serde_json::from_slice(input) {
        Ok(v) => v,
        Err(_) => serde_json::from_str(&normalize(input)?)?,
    };
    drop_null_members(&mut value);
    Ok(serde_json::from_value(value)?)
}

/// Removes every null-valued member of every object in `value`, at any depth.
pub fn drop_null_members(value: &mut serde_json::Value) {
    // An explicit stack: the depth of peer JSON is bounded by serde_json's recursion limit,
    // but this walk should not depend on that.
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(map) => {
                map.retain(|_, member| !member.is_null());
                stack.extend(map.values_mut());
            }
            serde_json::Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

const MAX_DEPTH: usize = 128;

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, what: &'static str) -> NormalizeError {
        NormalizeError { at: self.pos, what }
    }

    fn skip_ws(&mut self) {
        while self.pos < self.src.len() && self.src[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    /// Copies one value to `out`, normalizing keys inside it.
    fn value(&mut self, out: &mut String, depth: usize) -> Result<(), NormalizeError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        match self.peek() {
            Some(b'{') => self.object(out, depth),
            Some(b'[') => self.array(out, depth),
            Some(b'"') => self.string(out),
            Some(_) => self.scalar(out),
            None => Err(self.error("unexpected end")),
        }
    }

    fn object(&mut self, out: &mut String, depth: usize) -> Result<(), NormalizeError> {
        self.pos += 1;
        out.push('{');
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            out.push('}');
            return Ok(());
        }
        loop {
            self.skip_ws();
            self.key(out, depth)?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':'"));
            }
            self.pos += 1;
            out.push(':');
            self.skip_ws();
            self.value(out, depth + 1)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    out.push(',');
                }
                Some(b'}') => {
                    self.pos += 1;
                    out.push('}');
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    /// A key: a string stays; anything else becomes a string of its normalized text.
    fn key(&mut self, out: &mut String, depth: usize) -> Result<(), NormalizeError> {
        if self.peek() == Some(b'"') {
            return self.string(out);
        }
        let mut inner = String::new();
        self.value(&mut inner, depth + 1)?;
        write_json_string(out, &inner);
        Ok(())
    }

    fn array(&mut self, out: &mut String, depth: usize) -> Result<(), NormalizeError> {
        self.pos += 1;
        out.push('[');
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            out.push(']');
            return Ok(());
        }
        loop {
            self.skip_ws();
            self.value(out, depth + 1)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    out.push(',');
                }
                Some(b']') => {
                    self.pos += 1;
                    out.push(']');
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    /// Copies a string literal verbatim (escapes included).
    fn string(&mut self, out: &mut String) -> Result<(), NormalizeError> {
        let start = self.pos;
        self.pos += 1;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'\\' => self.pos += 1,
                b'"' => {
                    out.push_str(self.slice(start, self.pos)?);
                    return Ok(());
                }
                _ => {}
            }
        }
        Err(self.error("unterminated string"))
    }

    /// Numbers, true, false, null: copied as they are.
    fn scalar(&mut self, out: &mut String) -> Result<(), NormalizeError> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if matches!(b, b',' | b':' | b'}' | b']') || b.is_ascii_whitespace() {
                break;
            }
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.error("expected a value"));
        }
        out.push_str(self.slice(start, self.pos)?);
        Ok(())
    }

    fn slice(&self, start: usize, end: usize) -> Result<&str, NormalizeError> {
        self.src
            .get(start..end)
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or_else(|| self.error("bad slice"))
    }
}

/// Appends `s` as a JSON string literal.
pub fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_json_passes_through() {
        let s = r#"{"a":[1,2,{"b":"x\"y"}],"c":null,"d":true}"#;
        assert_eq!(normalize(s.as_bytes()).unwrap(), s);
    }

    #[test]
    fn bare_number_keys_are_quoted() {
        let s = r#"{"brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10921"}}"#;
        assert_eq!(
            normalize(s.as_bytes()).unwrap(),
            r#"{"brokerAddrs":{"0":"127.0.0.1:10911","1":"127.0.0.1:10921"}}"#
        );
    }

    #[test]
    fn object_keys_become_strings() {
        let s = r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:42}}"#;
        let n = normalize(s.as_bytes()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&n).unwrap();
        let table = v["offsetTable"].as_object().unwrap();
        let (k, val) = table.iter().next().unwrap();
        assert_eq!(val, 42);
        let key: serde_json::Value = serde_json::from_str(k).unwrap();
        assert_eq!(key["topic"], "t");
    }

    #[test]
    fn malformed_is_an_error_not_a_panic() {
        for bad in ["{", "{\"a\"", "{\"a\":}", "[1,", "\"abc", "{1:2", "", "{}}"] {
            assert!(normalize(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}

/// Property tests: [`normalize`] never panics, leaves standard JSON unchanged, and turns
/// fastjson's bare-number and object keys into string keys serde reads back.
#[cfg(test)]
mod proptests {
    use std::collections::BTreeMap;

    use proptest::collection::{btree_map, vec};
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    /// Arbitrary JSON values (integers, exact fractions, any strings, nested a few levels).
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            // Quarters parse back exactly (serde_json's default float parser may be off by one
            // ulp on arbitrary decimals, which says nothing about normalize).
            any::<i32>().prop_map(|q| Value::from(f64::from(q) / 4.0)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..6).prop_map(Value::Array),
                btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// `keys` written as fastjson writes a `Map<Long, _>`: bare numbers as keys.
    fn fastjson_text(keys: &BTreeMap<i64, Value>) -> String {
        let mut s = String::from("{");
        for (i, (k, v)) in keys.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!("{k}:{}", serde_json::to_string(v).unwrap()));
        }
        s.push('}');
        s
    }

    proptest! {
        #[test]
        fn standard_json_is_unchanged(value in json_value(), pretty in any::<bool>()) {
            let text = if pretty {
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                serde_json::to_string(&value).unwrap()
            };
            let normalized = normalize(text.as_bytes()).unwrap();
            if pretty {
                // Whitespace outside strings is dropped; the value is the same.
                prop_assert_eq!(serde_json::from_str::<Value>(&normalized).unwrap(), value);
            } else {
                prop_assert_eq!(normalized, text);
            }
        }

        #[test]
        fn bare_number_keys_become_string_keys(map in btree_map(any::<i64>(), json_value(), 0..8)) {
            let text = fastjson_text(&map);
            let back: BTreeMap<i64, Value> = from_slice_lenient(text.as_bytes()).unwrap();
            // Null members mean "absent" (fastjson's reading), so they are gone inside values.
            let mut expected = map.clone();
            expected.retain(|_, v| !v.is_null());
            for v in expected.values_mut() {
                drop_null_members(v);
            }
            prop_assert_eq!(back, expected);
        }

        #[test]
        fn object_keys_become_their_json_text(
            keys in vec(btree_map("[a-zA-Z]{1,8}", json_value(), 1..4), 1..4),
            value in any::<i64>(),
        ) {
            let mut text = String::from("{");
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(&serde_json::to_string(key).unwrap());
                text.push_str(&format!(":{value}"));
            }
            text.push('}');
            let normalized: BTreeMap<String, i64> =
                serde_json::from_str(&normalize(text.as_bytes()).unwrap()).unwrap();
            let mut back: Vec<BTreeMap<String, Value>> =
                normalized.keys().map(|k| serde_json::from_str(k).unwrap()).collect();
            let mut expected = keys.clone();
            back.sort_by_key(|m| serde_json::to_string(m).unwrap());
            expected.sort_by_key(|m| serde_json::to_string(m).unwrap());
            expected.dedup();
            prop_assert_eq!(back, expected);
            prop_assert!(normalized.values().all(|v| *v == value));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..256)) {
            let _ = normalize(&bytes);
        }

        #[test]
        fn mutated_json_never_panics(
            value in json_value(),
            flips in vec((any::<usize>(), prop::sample::select(b"{}[]:,\"\\ 0a-".to_vec())), 1..6),
            cut in any::<usize>(),
        ) {
            let mut bytes = serde_json::to_vec(&value).unwrap();
            for (at, b) in &flips {
                let len = bytes.len();
                bytes[at % len] = *b;
            }
            bytes.truncate(cut % (bytes.len() + 1));
            if let Ok(normalized) = normalize(&bytes) {
                // Accepted input held one whole value, so something was copied out.
                prop_assert!(!normalized.is_empty());
            }
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        for open in ["[", "{1:", "{\"a\":"] {
            let text = open.repeat(100_000);
            assert!(normalize(text.as_bytes()).is_err(), "{open}");
        }
    }
}
