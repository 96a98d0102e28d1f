//! `RemotingCommand`: one request or response, and its frame encoding and decoding.

use std::sync::atomic::{AtomicI32, Ordering};

use super::codes::{RequestCode, ResponseCode};
use super::error::{DecodeError, EncodeError};
use super::ext_fields::{CommandHeader, ExtFields, HeaderError};
use super::frame::{split_frame, write_prefix, SerializeType, FRAME_FIXED_BYTES, HEADER_MAX_BYTES};
use super::language::LanguageCode;
use super::{binary, json};

/// The `version` we send: MQVersion `V5_3_3` (PROTOCOL.md §2.4). Below 32768 for Go.
pub const DEFAULT_VERSION: i32 = 479;

/// `flag` bit 0: the command is a response.
pub const FLAG_RESPONSE: i32 = 0x1;
/// `flag` bit 1: the sender expects no response.
pub const FLAG_ONEWAY: i32 = 0x2;

/// Process-wide request id counter; wraps like Java's.
static NEXT_OPAQUE: AtomicI32 = AtomicI32::new(1);

/// A fresh request id (opaque) from the process-wide counter.
pub fn next_opaque() -> i32 {
    NEXT_OPAQUE.fetch_add(1, Ordering::Relaxed)
}

/// One remoting request or response. An empty `body` means the frame carries no body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotingCommand {
    /// Request code, or response code in a response.
    pub code: i32,
    /// The sender's client language.
    pub language: LanguageCode,
    /// The sender's RocketMQ version number (Java's `MQVersion`).
    pub version: i32,
    /// Matches a response to its request; chosen by the requester.
    pub opaque: i32,
    /// Bit 0: response; bit 1: oneway ([`FLAG_RESPONSE`], [`FLAG_ONEWAY`]).
    pub flag: i32,
    /// Free text; for responses, the error description.
    pub remark: Option<String>,
    /// The custom header's fields (decoded into a typed header at the edge).
    pub ext_fields: ExtFields,
    /// The frame's body, after the header.
    pub body: Vec<u8>,
}

impl Default for RemotingCommand {
    fn default() -> Self {
        Self {
            code: 0,
            language: LanguageCode::Java,
            version: DEFAULT_VERSION,
            opaque: 0,
            flag: 0,
            remark: None,
            ext_fields: ExtFields::new(),
            body: Vec::new(),
        }
    }
}

impl RemotingCommand {
    /// A request with a fresh opaque.
    pub fn request(code: i32) -> Self {
        Self { code, opaque: next_opaque(), ..Self::default() }
    }

    /// A response (flag bit 0 set). Its opaque is 0 until the server copies the request's.
    pub fn response(code: i32, remark: Option<String>) -> Self {
        Self { code, flag: FLAG_RESPONSE, remark, ..Self::default() }
    }

    /// Replaces `ext_fields` with the typed header's fields.
    pub fn with_header<H: CommandHeader>(mut self, header: &H) -> Self {
        self.ext_fields = header.to_ext_fields();
        self
    }

    /// Sets one ext field.
    pub fn with_ext(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.ext_fields.insert(key, value);
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// Sets the remark.
    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }

    /// Sets the opaque.
    pub fn with_opaque(mut self, opaque: i32) -> Self {
        self.opaque = opaque;
        self
    }

    /// Reads `ext_fields` as a typed header.
    pub fn decode_header<H: CommandHeader>(&self) -> Result<H, HeaderError> {
        H::from_ext_fields(&self.ext_fields)
    }

    /// Whether flag bit 0 (response) is set.
    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    /// Whether flag bit 1 (oneway) is set.
    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// Sets flag bit 1 (oneway).
    pub fn mark_oneway(&mut self) {
        self.flag |= FLAG_ONEWAY;
    }

    /// Sets flag bit 0 (response).
    pub fn mark_response(&mut self) {
        self.flag |= FLAG_RESPONSE;
    }

    /// The code read as a request code.
    pub fn request_code(&self) -> RequestCode {
        RequestCode::from_i32(self.code)
    }

    /// The code read as a response code.
    pub fn response_code(&self) -> ResponseCode {
        ResponseCode::from_i32(self.code)
    }

    /// Appends one whole frame, length prefix included, to `out`.
    ///
    /// A command that the binary header cannot represent (code or version beyond `i16`) is
    /// written as JSON instead; receivers decode by the frame's type byte, so this is safe.
    ///
    /// # Panics
    /// If the header exceeds [`HEADER_MAX_BYTES`] or the frame exceeds `i32::MAX` bytes (a
    /// remark or ext fields of many megabytes). Use [`Self::try_encode`] to get an error instead.
    pub fn encode(&self, serialize: SerializeType, out: &mut Vec<u8>) {
        if let Err(e) = self.try_encode(serialize, out, usize::MAX) {
            panic!("cannot encode command {}: {e}", self.code);
        }
    }

    /// Like [`Self::encode`] but returns an error (leaving `out` unchanged) when the header is
    /// too long or the whole frame exceeds `max_frame_bytes`.
    pub fn try_encode(
        &self,
        serialize: SerializeType,
        out: &mut Vec<u8>,
        max_frame_bytes: usize,
    ) -> Result<(), EncodeError> {
        let start = out.len();
        out.extend_from_slice(&[0; FRAME_FIXED_BYTES]);
        let header_start = out.len();
        let serialize = match serialize {
            SerializeType::RocketMq if binary::encode_header(self, out) => SerializeType::RocketMq,
            _ => {
                json::encode_header(self, out);
                SerializeType::Json
            }
        };
        let header_len = out.len() - header_start;
        let frame_len = FRAME_FIXED_BYTES + header_len + self.body.len();
        let limit = max_frame_bytes.min(i32::MAX as usize);
        let error = if header_len > HEADER_MAX_BYTES {
            Some(EncodeError::HeaderTooLarge { len: header_len, max: HEADER_MAX_BYTES })
        } else if frame_len > limit {
            Some(EncodeError::FrameTooLarge { len: frame_len, max: limit })
        } else {
            None
        };
        if let Some(error) = error {
            out.truncate(start);
            return Err(error);
        }
        out.extend_from_slice(&self.body);
        write_prefix(&mut out[start..], serialize, header_len, self.body.len());
        assert_eq!(out.len() - start, frame_len, "the prefix describes the bytes written");
        Ok(())
    }

    /// The whole frame as a new vector.
    pub fn encode_to_vec(&self, serialize: SerializeType) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.body.len());
        self.encode(serialize, &mut out);
        out
    }

    /// Decodes one whole frame, 4-byte length prefix included, and says how its header was
    /// encoded. The frame size limit is the caller's business (see [`super::frame_len`]).
    pub fn decode(frame: &[u8]) -> Result<(Self, SerializeType), DecodeError> {
        let parts = split_frame(frame)?;
        let mut cmd = match parts.serialize {
            SerializeType::Json => json::decode_header(parts.header)?,
            SerializeType::RocketMq => binary::decode_header(parts.header)?,
        };
        cmd.body = parts.body.to_vec();
        Ok((cmd, parts.serialize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_json_frame_is_byte_exact() {
        let header = br#"{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":479}"#;
        let mut golden = vec![0, 0, 0, 0x87, 0, 0, 0, 0x83];
        golden.extend_from_slice(header);
        assert_eq!(golden.len(), 139);
        let cmd = RemotingCommand::request(105).with_opaque(1).with_ext("topic", "TopicTest");
        assert_eq!(cmd.encode_to_vec(SerializeType::Json), golden);
        let (decoded, ser) = RemotingCommand::decode(&golden).unwrap();
        assert_eq!((decoded, ser), (cmd, SerializeType::Json));
    }

    #[test]
    fn golden_response_header() {
        let mut resp = RemotingCommand::response(0, None);
        resp.opaque = 7;
        let frame = resp.encode_to_vec(SerializeType::Json);
        assert_eq!(
            &frame[8..],
            br#"{"code":0,"flag":1,"language":"JAVA","opaque":7,"serializeTypeCurrentRPC":"JSON","version":479}"#
        );
    }

    #[test]
    fn binary_roundtrip_with_body_and_remark() {
        let cmd = RemotingCommand::request(310)
            .with_ext("a", "group")
            .with_ext("b", "Topic")
            .with_remark("r")
            .with_body(b"hello".to_vec());
        let frame = cmd.encode_to_vec(SerializeType::RocketMq);
        assert_eq!(frame[4], 1);
        assert_eq!(RemotingCommand::decode(&frame).unwrap(), (cmd, SerializeType::RocketMq));
    }

    #[test]
    fn binary_falls_back_to_json_for_big_codes() {
        let cmd = RemotingCommand::request(200_050);
        let frame = cmd.encode_to_vec(SerializeType::RocketMq);
        assert_eq!(frame[4], 0);
        assert_eq!(RemotingCommand::decode(&frame).unwrap().0.code, 200_050);
    }

    #[test]
    fn try_encode_enforces_the_frame_limit() {
        let cmd = RemotingCommand::request(10).with_body(vec![0; 100]);
        let mut out = vec![9];
        let err = cmd.try_encode(SerializeType::Json, &mut out, 64).unwrap_err();
        assert!(matches!(err, EncodeError::FrameTooLarge { max: 64, .. }));
        assert_eq!(out, [9]);
    }

    #[test]
    fn flags() {
        let mut cmd = RemotingCommand::request(15);
        assert!(!cmd.is_response() && !cmd.is_oneway());
        cmd.mark_oneway();
        assert!(cmd.is_oneway());
        assert!(RemotingCommand::response(0, None).is_response());
        assert_eq!(cmd.request_code(), RequestCode::UpdateConsumerOffset);
        assert_eq!(RequestCode::from_i32(99_999), RequestCode::Unknown(99_999));
        assert_eq!(ResponseCode::SystemBusy.to_i32(), 2);
    }

    #[test]
    fn opaques_are_unique() {
        let a = RemotingCommand::request(1).opaque;
        let b = RemotingCommand::request(1).opaque;
        assert_ne!(a, b);
    }
}
