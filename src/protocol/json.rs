//! fastjson compatibility: turning stock RocketMQ's non-standard JSON into standard JSON, and
//! writing the object-key form clients expect for MessageQueue-keyed maps (PROTOCOL.md §5.9).
//!
//! fastjson writes `Map<Long, _>` keys as bare numbers (`{0:"addr"}`) and `Map<MessageQueue, _>`
//! keys as whole objects (`{{"brokerName":"b","queueId":0,"topic":"t"}:5}`). [`normalize`]
//! rewrites every non-string key into a JSON string holding its text, so serde can parse the
//! result: `{"0":"addr"}` and `{"{\"brokerName\":\"b\",...}":5}`.

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

/// Parses `input` as JSON after [`normalize`].
pub fn from_slice_lenient<T: serde::de::DeserializeOwned>(
    input: &[u8],
) -> Result<T, Box<dyn std::error::Error + Send + Sync>> {
    match serde_json::from_slice(input) {
        Ok(v) => Ok(v),
        Err(_) => Ok(serde_json::from_str(&normalize(input)?)?),
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
