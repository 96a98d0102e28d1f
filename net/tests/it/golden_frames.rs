//! Golden frames from PROTOCOL.md and the header shapes each stock client sends.

use rocketmq_net::{
    DecodeError, ExtFields, LanguageCode, RemotingCommand, RequestCode, SerializeType,
};

/// Wraps a header (and body) in a frame with the given type byte.
fn frame(type_byte: u8, header: &[u8], body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(4 + header.len() + body.len()).unwrap();
    let word = (u32::from(type_byte) << 24) | u32::try_from(header.len()).unwrap();
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(&word.to_be_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(body);
    out
}

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

#[test]
fn java_json_frame_from_protocol_md() {
    let header = br#"{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":479}"#;
    let bytes = frame(0, header, b"");
    assert_eq!(&bytes[..8], hex("00 00 00 87 00 00 00 83"));
    let (cmd, ser) = RemotingCommand::decode(&bytes).unwrap();
    assert_eq!(ser, SerializeType::Json);
    assert_eq!(cmd.request_code(), RequestCode::GetRouteInfoByTopic);
    assert_eq!((cmd.opaque, cmd.version, cmd.flag), (1, 479, 0));
    assert_eq!(cmd.ext_fields.get("topic"), Some("TopicTest"));
    // Our encoder reproduces the Java bytes exactly.
    assert_eq!(cmd.encode_to_vec(SerializeType::Json), bytes);
}

#[test]
fn rocketmq_binary_frame_from_protocol_md() {
    let mut bytes = hex(
        "00 00 00 2d 01 00 00 29 00 69 00 01 df 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 14 \
         00 05",
    );
    bytes.extend_from_slice(b"topic");
    bytes.extend_from_slice(&hex("00 00 00 09"));
    bytes.extend_from_slice(b"TopicTest");
    assert_eq!(bytes.len(), 0x2d + 4);
    let (cmd, ser) = RemotingCommand::decode(&bytes).unwrap();
    assert_eq!(ser, SerializeType::RocketMq);
    assert_eq!((cmd.code, cmd.opaque, cmd.version), (105, 1, 479));
    assert_eq!(cmd.language, LanguageCode::Java);
    assert_eq!(cmd.ext_fields.get("topic"), Some("TopicTest"));
    assert_eq!(cmd.encode_to_vec(SerializeType::RocketMq), bytes);
}

#[test]
fn java_response_with_null_remark() {
    let header = br#"{"code":0,"flag":1,"language":"JAVA","opaque":7,"serializeTypeCurrentRPC":"JSON","version":479}"#;
    let (cmd, _) = RemotingCommand::decode(&frame(0, header, b"")).unwrap();
    assert!(cmd.is_response());
    assert_eq!(cmd.remark, None);
    assert!(cmd.ext_fields.is_empty());
}

#[test]
fn go_client_header() {
    let header = br#"{"code":310,"language":"GO","version":317,"opaque":3,"flag":0,"remark":"","extFields":{"a":"ProducerGroupName","b":"TopicTest","c":"TBW102","d":"4","e":"2","f":"0","g":"1700000000000","h":"0","i":"KEYS\u0001k\u0002","j":"0","k":"false","m":"false"}}"#;
    let (cmd, _) = RemotingCommand::decode(&frame(0, header, b"body")).unwrap();
    assert_eq!(cmd.request_code(), RequestCode::SendMessageV2);
    assert_eq!(cmd.language, LanguageCode::Go);
    assert_eq!(cmd.version, 317);
    assert_eq!(cmd.remark.as_deref(), Some(""));
    assert_eq!(cmd.ext_fields.required_i32("d"), Ok(4));
    assert_eq!(cmd.ext_fields.required_i64("g"), Ok(1_700_000_000_000));
    assert_eq!(cmd.ext_fields.get("i"), Some("KEYS\u{1}k\u{2}"));
    assert_eq!(cmd.ext_fields.required_bool("k"), Ok(false));
    assert_eq!(cmd.body, b"body");
}

#[test]
fn cpp_client_header_with_numbers_and_trailing_newline() {
    let header = b"{\"code\":11,\"language\":\"CPP\",\"version\":333,\"opaque\":2147483647,\
        \"flag\":0,\"remark\":\"\",\"extFields\":{\"consumerGroup\":\"G\",\"topic\":\"T\",\
        \"queueId\":0,\"queueOffset\":128,\"maxMsgNums\":32,\"sysFlag\":6,\"commitOffset\":0,\
        \"suspendTimeoutMillis\":15000,\"subscription\":\"*\",\"subVersion\":0,\
        \"AccessKey\":\"\",\"Signature\":\"\",\"OnsChannel\":\"ALIYUN\"}}\n";
    let (cmd, _) = RemotingCommand::decode(&frame(0, header, b"")).unwrap();
    assert_eq!(cmd.request_code(), RequestCode::PullMessage);
    assert_eq!(cmd.language, LanguageCode::Cpp);
    assert_eq!(cmd.opaque, i32::MAX);
    let f = &cmd.ext_fields;
    assert_eq!(f.required_i32("queueId"), Ok(0));
    assert_eq!(f.required_i64("queueOffset"), Ok(128));
    assert_eq!(f.required_i64("suspendTimeoutMillis"), Ok(15_000));
    assert_eq!(f.get("OnsChannel"), Some("ALIYUN"));
}

#[test]
fn ali_ons_header_with_booleans_and_no_remark() {
    let header = br#"{"code":34,"language":"JAVA","opaque":9,"flag":0,"version":121,"extFields":{"isUnitMode":false,"maxReconsumeTimes":16,"nothing":null}}"#;
    let (cmd, _) = RemotingCommand::decode(&frame(0, header, b"{}")).unwrap();
    assert_eq!(cmd.request_code(), RequestCode::HeartBeat);
    assert_eq!(cmd.version, 121);
    assert_eq!(cmd.remark, None);
    assert_eq!(cmd.ext_fields.get("isUnitMode"), Some("false"));
    assert_eq!(cmd.ext_fields.required_i32("maxReconsumeTimes"), Ok(16));
    assert!(!cmd.ext_fields.contains("nothing"));
}

#[test]
fn rust_client_header_and_unknown_language() {
    let header = br#"{"code":14,"language":"RUST","version":474,"opaque":1,"flag":2,"serializeTypeCurrentRPC":"JSON","extFields":{}}"#;
    let (cmd, _) = RemotingCommand::decode(&frame(0, header, b"")).unwrap();
    assert_eq!(cmd.language, LanguageCode::Rust);
    assert!(cmd.is_oneway());
    let header = br#"{"code":14,"language":"KOTLIN","opaque":1,"flag":0}"#;
    let (cmd, _) = RemotingCommand::decode(&frame(0, header, b"")).unwrap();
    assert_eq!(cmd.language, LanguageCode::Unknown("KOTLIN".into()));
}

#[test]
fn unknown_request_codes_decode() {
    let header = br#"{"code":424242,"flag":0,"opaque":1}"#;
    let (cmd, _) = RemotingCommand::decode(&frame(0, header, b"")).unwrap();
    assert_eq!(cmd.request_code(), RequestCode::Unknown(424_242));
}

/// A tiny deterministic generator (xorshift) so the roundtrip covers many shapes reproducibly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn text(&mut self) -> String {
        const ALPHABET: &[char] = &['a', 'Z', '0', ' ', '"', '\\', '\n', '\u{1}', 'é', '😀', '{'];
        let len = self.next() % 12;
        (0..len).map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize]).collect()
    }
}

#[test]
fn both_header_types_roundtrip_many_commands() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..2_000 {
        let mut ext = ExtFields::new();
        for _ in 0..rng.next() % 6 {
            let key = format!("k{}", rng.text());
            let value = format!("v{}", rng.text());
            ext.insert(key, value);
        }
        let cmd = RemotingCommand {
            code: (rng.next() % 32_768) as i32,
            language: LanguageCode::from_code((rng.next() % 14) as u8),
            version: (rng.next() % 500) as i32,
            opaque: rng.next() as i32,
            flag: (rng.next() % 4) as i32,
            remark: (rng.next() & 1 == 0).then(|| format!("r{}", rng.text())),
            ext_fields: ext,
            body: rng.text().into_bytes(),
        };
        for ser in [SerializeType::Json, SerializeType::RocketMq] {
            let bytes = cmd.encode_to_vec(ser);
            assert_eq!(RemotingCommand::decode(&bytes).unwrap(), (cmd.clone(), ser));
        }
    }
}

#[test]
fn malformed_frames_are_typed_errors() {
    let ok = frame(0, br#"{"code":1}"#, b"");
    type Expect = fn(&DecodeError) -> bool;
    let cases: Vec<(Vec<u8>, Expect)> = vec![
        (hex("ff ff ff ff 00 00 00 00"), |e| matches!(e, DecodeError::NegativeLength { .. })),
        (hex("00 00 00 02 00 00"), |e| matches!(e, DecodeError::FrameTooShort { .. })),
        (ok[..ok.len() - 1].to_vec(), |e| matches!(e, DecodeError::Truncated { .. })),
        (frame(5, b"{}", b""), |e| matches!(e, DecodeError::UnknownSerializeType(5))),
        (frame(0, b"{\"code\":", b""), |e| matches!(e, DecodeError::BadJson { .. })),
        (frame(1, b"\x00\x01", b""), |e| matches!(e, DecodeError::BadBinaryHeader { .. })),
        (
            {
                let mut f = ok.clone();
                f[7] = 0xff;
                f
            },
            |e| matches!(e, DecodeError::HeaderLengthPastFrame { .. }),
        ),
    ];
    for (bytes, expected) in cases {
        let err = RemotingCommand::decode(&bytes).unwrap_err();
        assert!(expected(&err), "unexpected error {err:?} for {bytes:02x?}");
    }
}

/// The fuzz target's property (see `fuzz/`), on deterministic mutations of golden frames.
#[test]
fn mutated_frames_never_panic_and_roundtrip() {
    let seeds = [
        frame(0, br#"{"code":105,"extFields":{"topic":"TopicTest","n":4,"b":true},"flag":0,"language":"JAVA","opaque":1,"remark":"r\u00e9","version":479}"#, b"xy"),
        RemotingCommand::request(310)
            .with_ext("a", "g")
            .with_ext("i", "KEYS\u{1}k\u{2}")
            .with_remark("r")
            .with_body(b"body".to_vec())
            .encode_to_vec(SerializeType::RocketMq),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut decoded = 0;
    for _ in 0..20_000 {
        let mut data = seeds[(rng.next() & 1) as usize].clone();
        for _ in 0..1 + rng.next() % 4 {
            let at = (rng.next() as usize) % data.len();
            match rng.next() % 4 {
                0 => data[at] ^= 1 << (rng.next() % 8),
                1 => data[at] = (rng.next() & 0xff) as u8,
                2 => data.truncate(at.max(1)),
                _ => data.insert(at, (rng.next() & 0xff) as u8),
            }
        }
        let _ = rocketmq_net::protocol::frame_len(&data, 1 << 24);
        let Ok((cmd, ser)) = RemotingCommand::decode(&data) else { continue };
        decoded += 1;
        let bytes = cmd.encode_to_vec(ser);
        assert_eq!(RemotingCommand::decode(&bytes).unwrap().0, cmd, "input {data:02x?}");
    }
    assert!(decoded > 100, "the mutations should still decode sometimes ({decoded})");
}
