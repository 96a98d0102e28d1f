//! The JSON header (serialize type 0, PROTOCOL.md §2.1): a lenient hand-written decoder and a
//! strict encoder.
//!
//! The decoder accepts what stock clients send: unknown keys (skipped), a missing
//! `serializeTypeCurrentRPC`, `remark` or `extFields`, `extFields` values that are numbers,
//! booleans (kept as their JSON text) or null (dropped), a numeric `language` (the Java ordinal),
//! and trailing whitespace such as the C++ client's newline. It is hand-written rather than built
//! on `serde_json::Value` because it runs once per frame on the I/O thread: it borrows keys
//! instead of building a tree, and it never recurses deeper than [`DEPTH_MAX`].
//!
//! The encoder writes the fields in fastjson's alphabetical order with every `extFields` value a
//! string and `serializeTypeCurrentRPC` always present, which every client accepts.

use std::borrow::Cow;

use super::command::RemotingCommand;
use super::error::DecodeError;
use super::ext_fields::ExtFields;
use super::language::LanguageCode;

/// Nesting limit for values skipped inside unknown keys.
const DEPTH_MAX: usize = 32;

/// Decodes a JSON header into a command without a body.
pub(crate) fn decode_header(buf: &[u8]) -> Result<RemotingCommand, DecodeError> {
    let mut p = Parser { buf, pos: 0, text: std::str::from_utf8(buf).ok() };
    let mut cmd = RemotingCommand { version: 0, ..RemotingCommand::default() };
    p.skip_ws();
    p.expect(b'{', "expected '{' at the start of the header")?;
    p.members(|p, key| p.header_member(&mut cmd, &key))?;
    p.skip_ws();
    if p.pos != buf.len() {
        return Err(p.err("unexpected characters after the header object"));
    }
    Ok(cmd)
}

/// Appends the JSON header of `cmd` to `out`.
pub(crate) fn encode_header(cmd: &RemotingCommand, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"code\":");
    write_int(out, i64::from(cmd.code));
    if !cmd.ext_fields.is_empty() {
        out.extend_from_slice(b",\"extFields\":{");
        for (i, (key, value)) in cmd.ext_fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, key);
            out.push(b':');
            write_str(out, value);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b",\"flag\":");
    write_int(out, i64::from(cmd.flag));
    out.extend_from_slice(b",\"language\":");
    write_str(out, cmd.language.name());
    out.extend_from_slice(b",\"opaque\":");
    write_int(out, i64::from(cmd.opaque));
    if let Some(remark) = &cmd.remark {
        out.extend_from_slice(b",\"remark\":");
        write_str(out, remark);
    }
    out.extend_from_slice(b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    write_int(out, i64::from(cmd.version));
    out.push(b'}');
}

/// Appends `s` as a JSON string literal.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // Fast path: copy the longest prefix that needs no escaping, eight bytes at a time.
    let clean = find_escape(bytes).unwrap_or(bytes.len());
    out.extend_from_slice(&bytes[..clean]);
    let mut run_start = clean;
    for (i, &b) in bytes.iter().enumerate().skip(clean) {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[run_start..i]);
        run_start = i + 1;
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let hex = [b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]];
            out.extend_from_slice(&hex);
        } else {
            out.extend_from_slice(escape);
        }
    }
    assert!(run_start <= bytes.len(), "escaped past the string");
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

/// Appends the decimal text of `value`.
pub(crate) fn write_int(out: &mut Vec<u8>, value: i64) {
    let mut buf = [0u8; INT_TEXT_MAX];
    out.extend_from_slice(format_int(&mut buf, value).as_bytes());
}

/// Longest decimal text of an `i64` (sign and 19 digits).
pub(crate) const INT_TEXT_MAX: usize = 20;

/// The decimal text of `value`, written into `buf` (no allocation, no `fmt`).
pub(crate) fn format_int(buf: &mut [u8; INT_TEXT_MAX], value: i64) -> &str {
    let mut rest = value.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        // `rest % 10` is below 10, so the narrowing cannot lose anything.
        buf[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if value < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    assert!(at < INT_TEXT_MAX, "an i64 takes at least one character");
    // Only ASCII digits and '-' were written.
    std::str::from_utf8(&buf[at..]).unwrap_or("0")
}

/// A scalar JSON value, borrowed from the input when possible.
enum Scalar<'a> {
    Null,
    /// A string (unescaped) or the raw text of a number, boolean or nested value.
    Text(Cow<'a, str>),
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    /// `buf` as text when all of it is valid UTF-8 (the usual case, checked once): strings
    /// are then borrowed from it without validating each one.
    text: Option<&'a str>,
}

impl<'a> Parser<'a> {
    fn err(&self, reason: &'static str) -> DecodeError {
        DecodeError::BadJson { offset: self.pos, reason }
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
        assert!(self.pos <= self.buf.len(), "parser past its input");
    }

    fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), DecodeError> {
        if self.peek() != Some(byte) {
            return Err(self.err(reason));
        }
        self.pos += 1;
        Ok(())
    }

    /// Iterates the members of an object whose `{` was just consumed, through its `}`.
    fn members(
        &mut self,
        mut member: impl FnMut(&mut Self, Cow<'a, str>) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            let key = self.string()?;
            self.skip_ws();
            self.expect(b':', "expected ':' after an object key")?;
            self.skip_ws();
            member(self, key)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or '}' in an object")),
            }
        }
    }

    fn header_member(&mut self, cmd: &mut RemotingCommand, key: &str) -> Result<(), DecodeError> {
        match key {
            "code" => cmd.code = self.int()?,
            "flag" => cmd.flag = self.int()?,
            "opaque" => cmd.opaque = self.int()?,
            "version" => cmd.version = self.int()?,
            "language" => cmd.language = self.language()?,
            "remark" => cmd.remark = self.optional_text()?,
            "extFields" => self.ext_fields(&mut cmd.ext_fields)?,
            _ => self.skip_value(0)?,
        }
        Ok(())
    }

    fn ext_fields(&mut self, fields: &mut ExtFields) -> Result<(), DecodeError> {
        if self.peek() == Some(b'n') {
            return self.literal(b"null");
        }
        self.expect(b'{', "extFields must be an object")?;
        // Unescaped text is never longer than the header, so this is the only allocation.
        *fields = ExtFields::with_text_capacity(8, self.buf.len() - self.pos);
        self.members(|p, key| {
            if let Scalar::Text(value) = p.scalar()? {
                fields.push_unchecked(&key, &value);
            }
            Ok(())
        })?;
        fields.dedup_keep_last();
        Ok(())
    }

    fn language(&mut self) -> Result<LanguageCode, DecodeError> {
        let is_number = matches!(self.peek(), Some(b'-' | b'0'..=b'9'));
        Ok(match self.scalar()? {
            Scalar::Null => LanguageCode::default(),
            Scalar::Text(t) if is_number => t
                .parse::<u8>()
                .map_or(LanguageCode::Unknown(t.into_owned()), LanguageCode::from_code),
            Scalar::Text(t) => LanguageCode::from_name(&t),
        })
    }

    /// An int32 member: a JSON integer, a string holding one, or null (0).
    fn int(&mut self) -> Result<i32, DecodeError> {
        let start = self.pos;
        match self.scalar()? {
            Scalar::Null => Ok(0),
            Scalar::Text(t) => t.parse::<i32>().map_err(|_| DecodeError::BadJson {
                offset: start,
                reason: "expected an int32 value",
            }),
        }
    }

    /// A value converted to text, or `None` for null.
    fn optional_text(&mut self) -> Result<Option<String>, DecodeError> {
        Ok(match self.scalar()? {
            Scalar::Null => None,
            Scalar::Text(t) => Some(t.into_owned()),
        })
    }

    /// Any value: strings are unescaped, everything else is kept as its JSON text.
    fn scalar(&mut self) -> Result<Scalar<'a>, DecodeError> {
        match self.peek() {
            Some(b'"') => Ok(Scalar::Text(self.string()?)),
            Some(b'n') => self.literal(b"null").map(|()| Scalar::Null),
            _ => {
                let start = self.pos;
                self.skip_value(0)?;
                Ok(Scalar::Text(utf8_lossy(&self.buf[start..self.pos])))
            }
        }
    }

    fn skip_value(&mut self, depth: usize) -> Result<(), DecodeError> {
        if depth > DEPTH_MAX {
            return Err(self.err("values nested too deeply"));
        }
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'{') => {
                self.pos += 1;
                self.members(|p, _| p.skip_value(depth + 1))
            }
            Some(b'[') => self.skip_array(depth),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err("expected a value")),
        }
    }

    fn skip_array(&mut self, depth: usize) -> Result<(), DecodeError> {
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            self.skip_value(depth + 1)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or ']' in an array")),
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), DecodeError> {
        if !self.buf[self.pos..].starts_with(word) {
            return Err(self.err("bad literal"));
        }
        self.pos += word.len();
        Ok(())
    }

    fn number(&mut self) -> Result<(), DecodeError> {
        let start = self.pos;
        let mut digits = 0;
        while let Some(b) = self.peek() {
            match b {
                b'0'..=b'9' => digits += 1,
                b'-' | b'+' | b'.' | b'e' | b'E' => {}
                _ => break,
            }
            self.pos += 1;
        }
        if digits == 0 {
            self.pos = start;
            return Err(self.err("bad number"));
        }
        Ok(())
    }

    /// A string literal starting at the current `"`; borrowed unless it has escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        self.expect(b'"', "expected a string")?;
        let start = self.pos;
        let rest = &self.buf[start..];
        let Some(stop) = find_quote_or_backslash(rest) else {
            self.pos = self.buf.len();
            return Err(self.err("unterminated string"));
        };
        self.pos = start + stop;
        assert!(matches!(rest[stop], b'"' | b'\\'), "the scan stops at a quote or backslash");
        if rest[stop] == b'\\' {
            return self.escaped_string(start).map(Cow::Owned);
        }
        self.pos += 1;
        match self.text {
            // Both ends are at ASCII quotes, so they are char boundaries.
            Some(text) => Ok(Cow::Borrowed(&text[start..start + stop])),
            None => Ok(utf8_lossy(&rest[..stop])),
        }
    }

    /// Slow path of [`Self::string`] from the first backslash on.
    fn escaped_string(&mut self, start: usize) -> Result<String, DecodeError> {
        // Room for a typical escaped value (properties with \u0001 separators) in one go.
        let mut out = Vec::with_capacity(self.pos - start + 256);
        out.extend_from_slice(&self.buf[start..self.pos]);
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(String::from_utf8(out)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => {
                    // Copy the run up to the next quote or backslash in one go.
                    let rest = &self.buf[self.pos..];
                    let run = find_quote_or_backslash(rest).unwrap_or(rest.len());
                    out.extend_from_slice(&rest[..run]);
                    self.pos += run;
                }
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let Some(b) = self.peek() else {
            return Err(self.err("unterminated escape"));
        };
        self.pos += 1;
        let simple = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let c = self.unicode_escape()?;
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                return Ok(());
            }
            _ => return Err(self.err("bad escape")),
        };
        out.push(simple);
        Ok(())
    }

    /// The code point of a `\uXXXX` escape (the `\u` consumed), joining surrogate pairs; a lone
    /// surrogate becomes U+FFFD as in Java's lenient decoders.
    fn unicode_escape(&mut self) -> Result<char, DecodeError> {
        let high = self.hex4()?;
        if !(0xD800..0xDC00).contains(&high) {
            return Ok(char::from_u32(high).unwrap_or(char::REPLACEMENT_CHARACTER));
        }
        if !self.buf[self.pos..].starts_with(b"\\u") {
            return Ok(char::REPLACEMENT_CHARACTER);
        }
        let save = self.pos;
        self.pos += 2;
        let low = self.hex4()?;
        if !(0xDC00..0xE000).contains(&low) {
            self.pos = save;
            return Ok(char::REPLACEMENT_CHARACTER);
        }
        let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
        assert!((0x10000..0x110000).contains(&code), "a surrogate pair is a supplementary char");
        Ok(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    fn hex4(&mut self) -> Result<u32, DecodeError> {
        let digits = self.buf.get(self.pos..self.pos + 4).ok_or(self.err("short \\u escape"))?;
        let mut value = 0;
        for &d in digits {
            let nibble = char::from(d).to_digit(16).ok_or(self.err("bad \\u escape"))?;
            value = value * 16 + nibble;
        }
        self.pos += 4;
        Ok(value)
    }
}

/// Position of the first byte JSON must escape (`"`, `\\` or a control character below 0x20).
fn find_escape(s: &[u8]) -> Option<usize> {
    find_special::<true>(s)
}

/// Position of the first `"` or `\\` (where a string literal's plain run ends).
fn find_quote_or_backslash(s: &[u8]) -> Option<usize> {
    find_special::<false>(s)
}

/// Position of the first `"` or `\\` (and, with `CONTROL`, byte below 0x20), eight bytes at a
/// time.
fn find_special<const CONTROL: bool>(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // Sets the high bit of each byte below `n`; bits above the lowest such byte may be wrong
    // (borrows), so only the lowest set bit is used.
    let below = |v: u64, n: u64| v.wrapping_sub(ONES * n) & !v & HIGHS;
    let special = |b: u8| b == b'"' || b == b'\\' || (CONTROL && b < 0x20);
    let mut chunks = s.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunks of 8"));
        let mut hits =
            below(word ^ (ONES * u64::from(b'"')), 1) | below(word ^ (ONES * u64::from(b'\\')), 1);
        if CONTROL {
            hits |= below(word, 0x20);
        }
        if hits != 0 {
            let at = offset + usize::try_from(hits.trailing_zeros() / 8).unwrap_or(7);
            assert!(special(s[at]), "the word scan found a plain byte");
            return Some(at);
        }
        offset += 8;
    }
    chunks.remainder().iter().position(|&b| special(b)).map(|p| offset + p)
}

/// Invalid UTF-8 becomes U+FFFD, as in Java's decoders; valid text is borrowed.
fn utf8_lossy(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_search_matches_a_plain_scan() {
        let text = "abcdefgh\"ijkl\u{1}mnop\\qrstuvwx\u{2}yz0123456789\u{7f}é\"x\n".as_bytes();
        let plain = |s: &[u8]| s.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
        for start in 0..text.len() {
            for end in start..=text.len() {
                let s = &text[start..end];
                assert_eq!(find_escape(s), plain(s), "{start}..{end}");
            }
        }
        let mut out = Vec::new();
        write_str(&mut out, "UNIQ_KEY\u{1}0A0B\u{2}WAIT\u{1}true\u{2}\"q\"");
        assert_eq!(out, br#""UNIQ_KEY\u00010A0B\u0002WAIT\u0001true\u0002\"q\"""#.to_vec());
    }

    #[test]
    fn quote_or_backslash_search_matches_a_plain_scan() {
        let text = br#"abcdefgh"ijklmnop\qrstuvwxyz0123456789"x\"#;
        for start in 0..text.len() {
            for end in start..=text.len() {
                let s = &text[start..end];
                let plain = s.iter().position(|&b| b == b'"' || b == b'\\');
                assert_eq!(find_quote_or_backslash(s), plain, "{start}..{end}");
            }
        }
        let high = [0xFFu8, 0x80, 0xC3, 0xA9, b'"', 0, 0x22, 0x5C, 0x5D];
        assert_eq!(find_quote_or_backslash(&high), Some(4));
    }

    fn decode(s: &str) -> RemotingCommand {
        decode_header(s.as_bytes()).unwrap()
    }

    #[test]
    fn java_request_decodes() {
        let cmd = decode(
            r#"{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA","opaque":7,"serializeTypeCurrentRPC":"JSON","version":479}"#,
        );
        assert_eq!((cmd.code, cmd.opaque, cmd.flag, cmd.version), (105, 7, 0, 479));
        assert_eq!(cmd.language, LanguageCode::Java);
        assert_eq!(cmd.ext_fields.get("topic"), Some("TopicTest"));
        assert_eq!(cmd.remark, None);
    }

    #[test]
    fn cpp_numbers_booleans_nulls_and_newline() {
        let cmd = decode(
            "{\"code\":310,\"language\":\"CPP\",\"version\":333,\"opaque\":5,\"flag\":0,\
             \"remark\":\"\",\"extFields\":{\"d\":4,\"e\":0,\"k\":true,\"n\":null,\"l\":-12.5e3,\
             \"AccessKey\":\"\"}}\n",
        );
        assert_eq!(cmd.language, LanguageCode::Cpp);
        assert_eq!(cmd.remark.as_deref(), Some(""));
        assert_eq!(cmd.ext_fields.get("d"), Some("4"));
        assert_eq!(cmd.ext_fields.get("k"), Some("true"));
        assert_eq!(cmd.ext_fields.get("l"), Some("-12.5e3"));
        assert!(!cmd.ext_fields.contains("n"));
        assert_eq!(cmd.ext_fields.get("AccessKey"), Some(""));
    }

    #[test]
    fn unknown_keys_nested_values_and_numeric_language() {
        let cmd = decode(
            r#" { "x" : [1, {"y": [true, null, "]"]}], "language": 9, "code": "34", "remark": null } "#,
        );
        assert_eq!(cmd.language, LanguageCode::Go);
        assert_eq!(cmd.code, 34);
        assert_eq!(cmd.remark, None);
    }

    #[test]
    fn escapes_decode() {
        let cmd = decode(
            r#"{"remark":"a\"b\\c\/\n\u00e9\ud83d\ude00\ud800x","extFields":{"k\u0041":"v"}}"#,
        );
        assert_eq!(cmd.remark.as_deref(), Some("a\"b\\c/\né😀\u{fffd}x"));
        assert_eq!(cmd.ext_fields.get("kA"), Some("v"));
    }

    #[test]
    fn duplicate_ext_keys_keep_the_last() {
        let cmd = decode(r#"{"extFields":{"a":"1","b":"2","a":"3"}}"#);
        assert_eq!(cmd.ext_fields.len(), 2);
        assert_eq!(cmd.ext_fields.get("a"), Some("3"));
    }

    #[test]
    fn malformed_json_is_an_error() {
        let bad = [
            "",
            "[]",
            "{",
            r#"{"code":}"#,
            r#"{"code":1"#,
            r#"{"code":1}x"#,
            r#"{"code":99999999999}"#,
            r#"{"code":1.5}"#,
            r#"{"extFields":[]}"#,
            r#"{"remark":"abc}"#,
            r#"{"remark":"\q"}"#,
            r#"{"remark":"\u12"}"#,
            r#"{"a":tru}"#,
            r#"{"a":-}"#,
        ];
        for s in bad {
            assert!(
                matches!(decode_header(s.as_bytes()), Err(DecodeError::BadJson { .. })),
                "{s:?} should fail"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(decode_header(deep.as_bytes()).is_err());
    }

    #[test]
    fn encoder_escapes_and_serde_agrees() {
        let mut cmd = RemotingCommand::request(10);
        cmd.opaque = -5;
        cmd.remark = Some("q\"\\\n\t\u{1}é".into());
        cmd.ext_fields.insert("k\"", "v\u{7}");
        let mut out = Vec::new();
        encode_header(&cmd, &mut out);
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["remark"], "q\"\\\n\t\u{1}é");
        assert_eq!(value["extFields"]["k\""], "v\u{7}");
        assert_eq!(value["opaque"], -5);
        assert_eq!(decode_header(&out).unwrap(), cmd);
    }

    #[test]
    fn write_int_edges() {
        for v in [0, 7, -1, 479, i64::from(i32::MIN), i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            write_int(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }
}
