//! Helpers shared by the protocol decoders' property tests.

/// `bytes` with the values of `flips` written at arbitrary positions (modulo the length) and an
/// optional cut, so that mutations reach every part of a valid encoding.
pub(crate) fn mutate(mut bytes: Vec<u8>, flips: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    if !bytes.is_empty() {
        for (at, value) in flips {
            let len = bytes.len();
            bytes[at % len] = *value;
        }
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes
}
