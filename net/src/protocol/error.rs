//! Codec errors: [`DecodeError`] for anything wrong with bytes from the wire, [`EncodeError`]
//! for commands that cannot be represented in a frame.

use std::fmt;

/// Why a frame (or its header) could not be decoded. The connection it came from should be
/// closed: the stream can no longer be trusted to be in sync.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The whole frame, 4-byte prefix included, is larger than the configured limit.
    FrameTooLarge {
        /// Declared length, prefix included.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The length prefix is negative.
    NegativeLength {
        /// The prefix as read.
        len: i32,
    },
    /// The length prefix is smaller than 4, so the header-length word cannot be present.
    FrameTooShort {
        /// The prefix as read.
        len: i32,
    },
    /// Fewer bytes are present than the frame (or a field inside it) needs.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// The slice passed to decode holds more bytes than the frame's length prefix says.
    LengthMismatch {
        /// Length the prefix declares, prefix included.
        declared: usize,
        /// Bytes given.
        actual: usize,
    },
    /// The high byte of the header-length word is neither 0 (JSON) nor 1 (ROCKETMQ).
    UnknownSerializeType(
        /// The type byte as read.
        u8,
    ),
    /// The header length points past the end of the frame.
    HeaderLengthPastFrame {
        /// Declared header length.
        header_len: usize,
        /// Length of the whole frame.
        frame_len: usize,
    },
    /// The JSON header is not valid (lenient) JSON or has a field of the wrong type.
    BadJson {
        /// Byte offset in the header.
        offset: usize,
        /// What was expected there.
        reason: &'static str,
    },
    /// The ROCKETMQ binary header is malformed.
    BadBinaryHeader {
        /// Byte offset in the header.
        offset: usize,
        /// What is wrong there.
        reason: &'static str,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max} bytes")
            }
            Self::NegativeLength { len } => write!(f, "negative frame length {len}"),
            Self::FrameTooShort { len } => {
                write!(f, "frame length {len} is too short for the header-length word")
            }
            Self::Truncated { needed, available } => {
                write!(f, "truncated frame: need {needed} bytes, have {available}")
            }
            Self::LengthMismatch { declared, actual } => {
                write!(f, "frame declares {declared} bytes but {actual} were given")
            }
            Self::UnknownSerializeType(t) => write!(f, "unknown serialize type {t}"),
            Self::HeaderLengthPastFrame { header_len, frame_len } => {
                write!(f, "header length {header_len} runs past the frame of {frame_len} bytes")
            }
            Self::BadJson { offset, reason } => {
                write!(f, "bad JSON header at byte {offset}: {reason}")
            }
            Self::BadBinaryHeader { offset, reason } => {
                write!(f, "bad ROCKETMQ binary header at byte {offset}: {reason}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a command could not be encoded into a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The header is longer than the 24 bits of the header-length word allow.
    HeaderTooLarge {
        /// Encoded header length.
        len: usize,
        /// The 24-bit limit.
        max: usize,
    },
    /// The whole frame, prefix included, is larger than the limit given.
    FrameTooLarge {
        /// Encoded frame length, prefix included.
        len: usize,
        /// The limit given.
        max: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeaderTooLarge { len, max } => {
                write!(f, "encoded header of {len} bytes exceeds {max} bytes")
            }
            Self::FrameTooLarge { len, max } => {
                write!(f, "encoded frame of {len} bytes exceeds the limit of {max} bytes")
            }
        }
    }
}

impl std::error::Error for EncodeError {}
