//! Property tests of every decoder of peer bytes: the frame length prefix, whole frames, the
//! lenient JSON header decoder, the ROCKETMQ binary header and its ext-field block. Random and
//! mutated bytes never panic, and whatever decodes re-encodes to the same command;
//! encode -> decode round-trips for any command. Plus a model test of `ExtFields`.

use std::collections::BTreeMap;

use proptest::collection::vec;
use proptest::prelude::*;

use super::frame::FRAME_FIXED_BYTES;
use super::{binary, json};
use super::{frame_len, ExtFields, LanguageCode, RemotingCommand, SerializeType};

/// Any text, short; every `char` is fair game (controls, quotes, backslashes, non-BMP).
fn text(max: usize) -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..max).prop_map(String::from_iter)
}

/// Text of at least one character (binary headers drop empty keys and values).
fn non_empty_text(max: usize) -> impl Strategy<Value = String> {
    vec(any::<char>(), 1..max).prop_map(String::from_iter)
}

/// Any command the encoders must carry faithfully. Binary headers treat an empty remark, key or
/// value as absent, so those are generated non-empty.
fn command() -> impl Strategy<Value = RemotingCommand> {
    let ext = vec((non_empty_text(12), non_empty_text(40)), 0..8);
    let remark = proptest::option::of(non_empty_text(40));
    let ints = (any::<i32>(), any::<i32>(), any::<i32>(), any::<i32>(), 0u8..14);
    (ints, remark, ext, vec(any::<u8>(), 0..64)).prop_map(
        |((code, version, opaque, flag, lang), remark, ext, body)| RemotingCommand {
            code,
            language: LanguageCode::from_code(lang),
            version,
            opaque,
            flag,
            remark,
            ext_fields: ext.into_iter().collect(),
            body,
        },
    )
}

fn serialize_type() -> impl Strategy<Value = SerializeType> {
    prop_oneof![Just(SerializeType::Json), Just(SerializeType::RocketMq)]
}

/// One edit of a byte string: flip a bit, overwrite, truncate or insert a byte.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Set { at: usize, byte: u8 },
    Truncate { at: usize },
    Insert { at: usize, byte: u8 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
    ]
}

fn mutate(data: &mut Vec<u8>, mutations: &[Mutation]) {
    for m in mutations {
        if data.is_empty() {
            return;
        }
        match *m {
            Mutation::Flip { at, bit } => {
                let at = at % data.len();
                data[at] ^= 1 << bit;
            }
            Mutation::Set { at, byte } => {
                let at = at % data.len();
                data[at] = byte;
            }
            Mutation::Truncate { at } => data.truncate(at % data.len()),
            Mutation::Insert { at, byte } => data.insert(at % (data.len() + 1), byte),
        }
    }
}

/// Bytes that look like JSON often enough to get deep into the decoder.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let alphabet = b"{}[]\":,. -+eE0123456789truefalsnu\\/bfrtx\x01\xc3\xa9codeextFields".to_vec();
    vec(proptest::sample::select(alphabet), 0..160)
}

/// Whatever decoded must re-encode to bytes that decode to the same command.
fn assert_reencodes(cmd: &RemotingCommand, ser: SerializeType) {
    let bytes = cmd.encode_to_vec(ser);
    let (again, _) = RemotingCommand::decode(&bytes).expect("re-encoded frame decodes");
    assert_eq!(&again, cmd);
}

proptest! {
    #[test]
    fn frame_len_never_panics_and_bounds_what_it_accepts(
        bytes in vec(any::<u8>(), 0..16),
        max in 0usize..64,
    ) {
        if let Ok(Some(len)) = frame_len(&bytes, max) {
            prop_assert!((FRAME_FIXED_BYTES..=max).contains(&len));
        }
    }

    #[test]
    fn random_frames_never_panic(bytes in vec(any::<u8>(), 0..256)) {
        if let Ok((cmd, ser)) = RemotingCommand::decode(&bytes) {
            assert_reencodes(&cmd, ser);
        }
    }

    #[test]
    fn mutated_frames_never_panic(
        cmd in command(),
        ser in serialize_type(),
        mutations in vec(mutation(), 1..6),
    ) {
        let mut bytes = cmd.encode_to_vec(ser);
        mutate(&mut bytes, &mutations);
        if let Ok((cmd, ser)) = RemotingCommand::decode(&bytes) {
            assert_reencodes(&cmd, ser);
        }
    }

    #[test]
    fn commands_round_trip_through_both_encodings(cmd in command(), ser in serialize_type()) {
        let bytes = cmd.encode_to_vec(ser);
        prop_assert_eq!(frame_len(&bytes, usize::MAX).ok().flatten(), Some(bytes.len()));
        let (decoded, _) = RemotingCommand::decode(&bytes).expect("own encoding decodes");
        prop_assert_eq!(decoded, cmd);
    }

    #[test]
    fn json_headers_never_panic_on_random_or_jsonish_bytes(
        random in vec(any::<u8>(), 0..160),
        jsonish in jsonish(),
    ) {
        for bytes in [random, jsonish] {
            if let Ok(cmd) = json::decode_header(&bytes) {
                assert_reencodes(&cmd, SerializeType::Json);
            }
        }
    }

    #[test]
    fn mutated_json_headers_never_panic(cmd in command(), mutations in vec(mutation(), 1..6)) {
        let mut header = Vec::new();
        json::encode_header(&cmd, &mut header);
        let decoded = json::decode_header(&header).expect("own header decodes");
        prop_assert_eq!(decoded.ext_fields, cmd.ext_fields.clone());
        mutate(&mut header, &mutations);
        if let Ok(cmd) = json::decode_header(&header) {
            assert_reencodes(&cmd, SerializeType::Json);
        }
    }

    #[test]
    fn binary_headers_never_panic_on_random_or_mutated_bytes(
        random in vec(any::<u8>(), 0..160),
        cmd in command(),
        mutations in vec(mutation(), 1..6),
    ) {
        let mut header = Vec::new();
        if binary::encode_header(&cmd, &mut header) {
            let decoded = binary::decode_header(&header).expect("own header decodes");
            prop_assert_eq!(decoded.ext_fields, cmd.ext_fields.clone());
        }
        mutate(&mut header, &mutations);
        for bytes in [random, header] {
            if let Ok(cmd) = binary::decode_header(&bytes) {
                assert_reencodes(&cmd, SerializeType::RocketMq);
            }
        }
    }

    #[test]
    fn binary_ext_blocks_never_panic(block in vec(any::<u8>(), 0..128), base in 0usize..64) {
        if let Ok(fields) = binary::decode_ext_fields(&block, base) {
            // Every decoded key is distinct: the last value of a repeated key won.
            let keys: std::collections::BTreeSet<&str> = fields.iter().map(|(k, _)| k).collect();
            prop_assert_eq!(keys.len(), fields.len());
        }
    }

    #[test]
    fn ext_fields_behave_like_a_map(ops in vec((0u8..3, 0u8..6, text(300)), 0..64)) {
        let mut fields = ExtFields::new();
        let mut model = BTreeMap::new();
        for (op, key, value) in ops {
            let key = format!("k{key}");
            match op {
                0 => {
                    fields.insert(&key, &value);
                    model.insert(key, value);
                }
                1 => prop_assert_eq!(fields.remove(&key), model.remove(&key)),
                _ => prop_assert_eq!(fields.get(&key), model.get(&key).map(String::as_str)),
            }
            prop_assert_eq!(fields.len(), model.len());
        }
        let listed: BTreeMap<String, String> =
            fields.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        prop_assert_eq!(listed, model);
    }
}
