//! The ROCKETMQ binary header (serialize type 1, PROTOCOL.md §2.2).
//!
//! ```text
//! [code: i16][language: u8][version: i16][opaque: i32][flag: i32]
//! [remarkLen: i32][remark][extLen: i32][ (keyLen: i16, key, valLen: i32, value)* ]
//! ```
//!
//! Strings of length 0 decode as absent, like Java's `null`. Every length is checked against the
//! bytes that remain before anything is copied.

use std::borrow::Cow;

use super::command::RemotingCommand;
use super::error::DecodeError;
use super::ext_fields::ExtFields;
use super::language::LanguageCode;

/// Bytes of the fixed part: 2 + 1 + 2 + 4 + 4 + 4 (remark length) + 4 (ext length).
const FIXED_BYTES: usize = 21;

/// Decodes a binary header into a command without a body.
pub(crate) fn decode_header(buf: &[u8]) -> Result<RemotingCommand, DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    let code = i32::from(r.i16()?);
    let language = LanguageCode::from_code(r.u8()?);
    let version = i32::from(r.i16()?);
    let opaque = r.i32()?;
    let flag = r.i32()?;
    let remark_len = r.len_i32("negative remark length")?;
    let remark = r.string(remark_len)?.map(Cow::into_owned);
    let ext_len = r.len_i32("negative extFields length")?;
    let ext_block = r.take(ext_len)?;
    let ext_fields = decode_ext_fields(ext_block, r.pos - ext_len)?;
    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ext_fields,
        body: Vec::new(),
    })
}

pub(crate) fn decode_ext_fields(block: &[u8], base: usize) -> Result<ExtFields, DecodeError> {
    let mut r = Reader { buf: block, pos: 0 };
    let mut fields = ExtFields::with_text_capacity(8, block.len());
    while r.pos < block.len() {
        let key_len = usize::try_from(r.i16()?)
            .map_err(|_| r.err_at(base, "negative extFields key length"))?;
        let key = r.string(key_len).map_err(|_| r.err_at(base, "extFields key past its block"))?;
        let value_len = r
            .len_i32("negative extFields value length")
            .map_err(|_| r.err_at(base, "negative extFields value length"))?;
        let value =
            r.string(value_len).map_err(|_| r.err_at(base, "extFields value past its block"))?;
        if let (Some(key), Some(value)) = (key, value) {
            fields.push_unchecked(&key, &value);
        }
    }
    // `take` never moves past the block, so the loop ends exactly at its end.
    assert_eq!(r.pos, block.len(), "ext block over-read");
    fields.dedup_keep_last();
    Ok(fields)
}

/// Appends the binary header of `cmd` to `out`. Returns `false`, with `out` unchanged, when the
/// command does not fit the format (code, version or a key length beyond `i16`); the caller then
/// falls back to JSON, which Java, Go and rust decode just as well.
pub(crate) fn encode_header(cmd: &RemotingCommand, out: &mut Vec<u8>) -> bool {
    let (Ok(code), Ok(version)) = (i16::try_from(cmd.code), i16::try_from(cmd.version)) else {
        return false;
    };
    if cmd.ext_fields.iter().any(|(k, v)| i16::try_from(k.len()).is_err() || !fits_i32(v)) {
        return false;
    }
    let remark = cmd.remark.as_deref().unwrap_or("");
    let (Ok(remark_len), Some(ext_len)) = (i32::try_from(remark.len()), ext_block_len(cmd)) else {
        return false;
    };
    let start = out.len();
    out.reserve(FIXED_BYTES + remark.len() + usize::try_from(ext_len).unwrap_or(0));
    out.extend_from_slice(&code.to_be_bytes());
    out.push(cmd.language.code());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&cmd.opaque.to_be_bytes());
    out.extend_from_slice(&cmd.flag.to_be_bytes());
    out.extend_from_slice(&remark_len.to_be_bytes());
    out.extend_from_slice(remark.as_bytes());
    out.extend_from_slice(&ext_len.to_be_bytes());
    for (key, value) in cmd.ext_fields.iter().filter(|(k, v)| !k.is_empty() && !v.is_empty()) {
        // Both lengths were checked above.
        out.extend_from_slice(&i16::try_from(key.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&i32::try_from(value.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    // Pair of `decode_header`'s checks: the block lengths written are the ones declared.
    let ext_len = usize::try_from(ext_len).unwrap_or(usize::MAX);
    assert_eq!(out.len() - start, FIXED_BYTES + remark.len() + ext_len, "binary header length");
    true
}

fn fits_i32(s: &str) -> bool {
    i32::try_from(s.len()).is_ok()
}

/// Length of the ext block; entries with an empty key or value are skipped (they would decode
/// as null anyway).
fn ext_block_len(cmd: &RemotingCommand) -> Option<i32> {
    let len: usize = cmd
        .ext_fields
        .iter()
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .map(|(k, v)| 2 + k.len() + 4 + v.len())
        .sum();
    i32::try_from(len).ok()
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err_at(&self, base: usize, reason: &'static str) -> DecodeError {
        DecodeError::BadBinaryHeader { offset: base + self.pos, reason }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.buf.len());
        let end = end.ok_or(self.err_at(0, "length past the end of the header"))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        assert!(self.pos <= self.buf.len(), "reader past its buffer");
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    /// An `i32` length that must not be negative.
    fn len_i32(&mut self, reason: &'static str) -> Result<usize, DecodeError> {
        let at = self.pos;
        let len = self.i32()?;
        usize::try_from(len).map_err(|_| DecodeError::BadBinaryHeader { offset: at, reason })
    }

    /// A string of `len` bytes, borrowed when valid UTF-8 (invalid bytes become U+FFFD);
    /// empty means absent.
    fn string(&mut self, len: usize) -> Result<Option<Cow<'a, str>>, DecodeError> {
        let bytes = self.take(len)?;
        if bytes.is_empty() {
            return Ok(None);
        }
        Ok(Some(match std::str::from_utf8(bytes) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(bytes),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GET_ROUTEINFO_BY_TOPIC header of PROTOCOL.md §2.2.
    const GOLDEN: &[u8] = b"\x00\x69\x00\x01\xdf\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\
        \x00\x00\x00\x14\x00\x05topic\x00\x00\x00\x09TopicTest";

    #[test]
    fn golden_header_decodes_and_reencodes_identically() {
        let cmd = decode_header(GOLDEN).unwrap();
        assert_eq!((cmd.code, cmd.version, cmd.opaque, cmd.flag), (105, 479, 1, 0));
        assert_eq!(cmd.language, LanguageCode::Java);
        assert_eq!(cmd.remark, None);
        assert_eq!(cmd.ext_fields.get("topic"), Some("TopicTest"));
        let mut out = Vec::new();
        assert!(encode_header(&cmd, &mut out));
        assert_eq!(out, GOLDEN);
    }

    #[test]
    fn every_truncation_is_an_error() {
        for cut in 0..GOLDEN.len() {
            assert!(decode_header(&GOLDEN[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn negative_and_huge_lengths_are_errors() {
        let mut neg_remark = GOLDEN.to_vec();
        neg_remark[13..17].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(matches!(
            decode_header(&neg_remark),
            Err(DecodeError::BadBinaryHeader { reason: "negative remark length", .. })
        ));
        let mut huge_ext = GOLDEN.to_vec();
        huge_ext[17..21].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_header(&huge_ext).is_err());
        let mut neg_key = GOLDEN.to_vec();
        neg_key[21..23].copy_from_slice(&(-3i16).to_be_bytes());
        assert!(decode_header(&neg_key).is_err());
        let mut long_value = GOLDEN.to_vec();
        long_value[28..32].copy_from_slice(&10i32.to_be_bytes());
        assert!(decode_header(&long_value).is_err());
    }

    #[test]
    fn codes_beyond_i16_refuse_binary() {
        let cmd = RemotingCommand::request(200_050);
        let mut out = Vec::new();
        assert!(!encode_header(&cmd, &mut out));
        assert!(out.is_empty());
    }
}
