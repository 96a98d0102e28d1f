//! Framing: the 4-byte length prefix, the header-length word carrying the serialize type, and
//! the size limits (PROTOCOL.md §1).

use super::error::DecodeError;

/// Default maximum frame size, 4-byte prefix included (Java's Netty `maxFrameLength`).
pub const FRAME_MAX_BYTES_DEFAULT: usize = 16 * 1024 * 1024;

/// The header length has 24 bits in the header-length word.
pub const HEADER_MAX_BYTES: usize = 0x00FF_FFFF;

/// Bytes of the length prefix plus the header-length word.
pub(crate) const FRAME_FIXED_BYTES: usize = 8;

/// How a header is encoded: the high byte of the header-length word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SerializeType {
    /// Type 0: a JSON object. Every client understands it.
    #[default]
    Json,
    /// Type 1: the ROCKETMQ binary header. Only Java, Go and rocketmq-rust decode it.
    RocketMq,
}

impl SerializeType {
    /// The type byte on the wire.
    pub fn code(self) -> u8 {
        match self {
            Self::Json => 0,
            Self::RocketMq => 1,
        }
    }

    /// Maps the type byte; `None` for anything but 0 and 1.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Json),
            1 => Some(Self::RocketMq),
            _ => None,
        }
    }

    /// The name Java uses (`serializeTypeCurrentRPC`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "JSON",
            Self::RocketMq => "ROCKETMQ",
        }
    }
}

/// Length of the first frame in `buf`, 4-byte prefix included, once the prefix is present.
///
/// Returns `Ok(None)` when fewer than 4 bytes are available. Errors on a negative length, a
/// length too small to hold the header-length word, or a frame larger than `max_frame_bytes`.
pub fn frame_len(buf: &[u8], max_frame_bytes: usize) -> Result<Option<usize>, DecodeError> {
    let Some(prefix) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = i32::from_be_bytes(*prefix);
    let body_len = usize::try_from(len).map_err(|_| DecodeError::NegativeLength { len })?;
    if body_len < 4 {
        return Err(DecodeError::FrameTooShort { len });
    }
    let total = body_len + 4;
    assert!(total >= FRAME_FIXED_BYTES, "every accepted frame holds its two fixed words");
    if total > max_frame_bytes {
        return Err(DecodeError::FrameTooLarge { len: total, max: max_frame_bytes });
    }
    Ok(Some(total))
}

/// The parts of one whole frame, borrowed from it.
#[derive(Debug)]
pub(crate) struct FrameParts<'a> {
    pub serialize: SerializeType,
    pub header: &'a [u8],
    pub body: &'a [u8],
}

/// Splits one whole frame (prefix included) into serialize type, header and body.
pub(crate) fn split_frame(frame: &[u8]) -> Result<FrameParts<'_>, DecodeError> {
    let total = frame_len(frame, usize::MAX)?
        .ok_or(DecodeError::Truncated { needed: 4, available: frame.len() })?;
    if frame.len() < total {
        return Err(DecodeError::Truncated { needed: total, available: frame.len() });
    }
    if frame.len() > total {
        return Err(DecodeError::LengthMismatch { declared: total, actual: frame.len() });
    }
    let [type_byte, h0, h1, h2] = [frame[4], frame[5], frame[6], frame[7]];
    let serialize =
        SerializeType::from_code(type_byte).ok_or(DecodeError::UnknownSerializeType(type_byte))?;
    let header_len = usize::from(h0) << 16 | usize::from(h1) << 8 | usize::from(h2);
    let rest = &frame[FRAME_FIXED_BYTES..];
    if header_len > rest.len() {
        return Err(DecodeError::HeaderLengthPastFrame { header_len, frame_len: total });
    }
    let (header, body) = rest.split_at(header_len);
    assert_eq!(FRAME_FIXED_BYTES + header.len() + body.len(), total, "parts cover the frame");
    Ok(FrameParts { serialize, header, body })
}

/// Writes the 8 fixed bytes of a frame whose header and body lengths are known.
pub(crate) fn write_prefix(
    out: &mut [u8],
    serialize: SerializeType,
    header_len: usize,
    body_len: usize,
) {
    // Callers checked header_len <= HEADER_MAX_BYTES and the total against i32::MAX.
    assert!(header_len <= HEADER_MAX_BYTES, "header of {header_len} bytes");
    assert!(out.len() >= FRAME_FIXED_BYTES + header_len + body_len, "prefix of a short frame");
    let total = 4 + header_len + body_len;
    assert!(i32::try_from(total).is_ok(), "frame of {total} bytes");
    let total = u32::try_from(total).unwrap_or(u32::MAX);
    let header_len = u32::try_from(header_len).unwrap_or(0) & 0x00FF_FFFF;
    out[..4].copy_from_slice(&total.to_be_bytes());
    let word = (u32::from(serialize.code()) << 24) | header_len;
    out[4..8].copy_from_slice(&word.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_len_needs_four_bytes() {
        assert_eq!(frame_len(&[0, 0, 0], 100), Ok(None));
        assert_eq!(frame_len(&[0, 0, 0, 4], 100), Ok(Some(8)));
    }

    #[test]
    fn frame_len_rejects_negative_short_and_huge() {
        assert_eq!(
            frame_len(&[0xff, 0xff, 0xff, 0xff], 100),
            Err(DecodeError::NegativeLength { len: -1 })
        );
        assert_eq!(frame_len(&[0, 0, 0, 3], 100), Err(DecodeError::FrameTooShort { len: 3 }));
        assert_eq!(
            frame_len(&[0x7f, 0xff, 0xff, 0xff], FRAME_MAX_BYTES_DEFAULT),
            Err(DecodeError::FrameTooLarge { len: 0x8000_0003, max: FRAME_MAX_BYTES_DEFAULT })
        );
    }

    #[test]
    fn frame_limit_counts_the_prefix() {
        let max = FRAME_MAX_BYTES_DEFAULT;
        let ok = 16_777_212u32.to_be_bytes();
        assert_eq!(frame_len(&ok, max), Ok(Some(max)));
        let too_big = 16_777_213u32.to_be_bytes();
        assert!(matches!(frame_len(&too_big, max), Err(DecodeError::FrameTooLarge { .. })));
    }

    #[test]
    fn split_rejects_unknown_type_and_header_past_frame() {
        let frame = [0, 0, 0, 4, 2, 0, 0, 0];
        assert_eq!(split_frame(&frame).unwrap_err(), DecodeError::UnknownSerializeType(2));
        let frame = [0, 0, 0, 5, 0, 0, 0, 2, b'{'];
        assert_eq!(
            split_frame(&frame).unwrap_err(),
            DecodeError::HeaderLengthPastFrame { header_len: 2, frame_len: 9 }
        );
    }

    #[test]
    fn split_rejects_truncated_and_trailing() {
        let frame = [0, 0, 0, 6, 0, 0, 0, 0, 1];
        assert_eq!(
            split_frame(&frame).unwrap_err(),
            DecodeError::Truncated { needed: 10, available: 9 }
        );
        let frame = [0, 0, 0, 4, 0, 0, 0, 0, 1];
        assert_eq!(
            split_frame(&frame).unwrap_err(),
            DecodeError::LengthMismatch { declared: 8, actual: 9 }
        );
    }
}
