//! `OpaqueMap`: the pending-call tables, keyed by opaque. Opaques are sequential `i32`s chosen by
//! us, so a multiplicative hash is enough and much cheaper than SipHash on the hot path.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map from opaque to a waiting call.
pub(crate) type OpaqueMap<V> = HashMap<i32, V, BuildHasherDefault<OpaqueHasher>>;

/// Fibonacci hashing of one `i32`; other input falls back to a simple byte mix.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct OpaqueHasher(u64);

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for OpaqueHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(GOLDEN);
        }
    }

    fn write_i32(&mut self, n: i32) {
        let sign = if n < 0 { 1 << 40 } else { 0 };
        self.0 = (u64::from(n.unsigned_abs()) ^ sign).wrapping_mul(GOLDEN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_map() {
        let mut map: OpaqueMap<i32> = OpaqueMap::default();
        for i in -1000..1000 {
            map.insert(i, i * 2);
        }
        assert_eq!(map.len(), 2000);
        assert!((-1000..1000).all(|i| map.get(&i) == Some(&(i * 2))));
    }
}
