//! Typed custom headers, one file per header family.
//!
//! Each header is declared with [`ext_header!`](crate::ext_header), which generates the struct
//! plus its [`CommandHeader`](rocketmq_net::CommandHeader) impl: required fields fail with
//! `HeaderError::Missing` naming the Java field, optional fields are `Option<T>`, and values are
//! parsed the way the Java broker does (numbers in decimal, booleans true only for a
//! case-insensitive "true").

use rocketmq_net::{ExtFields, HeaderError};

pub mod admin;
pub mod client;
pub mod namesrv;
pub mod offset;
pub mod pull;
pub mod query;
pub mod send;

/// A value that can live in an `extFields` entry.
pub trait ExtValue: Sized {
    /// Parses the raw text of `key`.
    fn parse(raw: &str, key: &'static str) -> Result<Self, HeaderError>;
    /// Reads `key`; a missing key is `Missing` unless the type is an `Option`.
    fn read(fields: &ExtFields, key: &'static str) -> Result<Self, HeaderError> {
        Self::parse(required(fields, key)?, key)
    }
    /// Writes the value under `key` (an `Option::None` writes nothing).
    fn write(&self, fields: &mut ExtFields, key: &'static str);
}

fn invalid(key: &'static str, value: &str, expected: &'static str) -> HeaderError {
    HeaderError::Invalid { field: key, value: value.to_string(), expected }
}

fn required<'a>(fields: &'a ExtFields, key: &'static str) -> Result<&'a str, HeaderError> {
    fields.get(key).ok_or(HeaderError::Missing { field: key })
}

macro_rules! ext_number {
    ($($t:ty => $expected:literal),*) => {$(
        impl ExtValue for $t {
            fn parse(raw: &str, key: &'static str) -> Result<Self, HeaderError> {
                parse_number::<$t>(raw.trim()).ok_or_else(|| invalid(key, raw, $expected))
            }
            fn write(&self, fields: &mut ExtFields, key: &'static str) {
                fields.insert_int(key, i64::from(*self));
            }
        }
    )*};
}

/// Parses a decimal number; accepts a JSON-ish float with a zero fraction ("4.0"), which loosely
/// typed clients (JavaScript) can produce.
fn parse_number<T: std::str::FromStr>(raw: &str) -> Option<T> {
    raw.parse::<T>().ok().or_else(|| {
        let (int, frac) = raw.split_once('.')?;
        if frac.bytes().all(|b| b == b'0') {
            int.parse::<T>().ok()
        } else {
            None
        }
    })
}

ext_number!(i32 => "a 32-bit integer", i64 => "a 64-bit integer");

impl ExtValue for String {
    fn parse(raw: &str, _key: &'static str) -> Result<Self, HeaderError> {
        Ok(raw.to_string())
    }
    fn write(&self, fields: &mut ExtFields, key: &'static str) {
        fields.insert(key, self.as_str());
    }
}

impl ExtValue for bool {
    fn parse(raw: &str, _key: &'static str) -> Result<Self, HeaderError> {
        // Java's Boolean.parseBoolean: only "true" (any case) is true.
        Ok(raw.trim().eq_ignore_ascii_case("true"))
    }
    fn write(&self, fields: &mut ExtFields, key: &'static str) {
        fields.insert(key, if *self { "true" } else { "false" });
    }
}

impl<T: ExtValue> ExtValue for Option<T> {
    fn parse(raw: &str, key: &'static str) -> Result<Self, HeaderError> {
        T::parse(raw, key).map(Some)
    }
    fn read(fields: &ExtFields, key: &'static str) -> Result<Self, HeaderError> {
        fields.get(key).map(|raw| T::parse(raw, key)).transpose()
    }
    fn write(&self, fields: &mut ExtFields, key: &'static str) {
        if let Some(v) = self {
            v.write(fields, key);
        }
    }
}

/// Declares a header struct whose fields map one-to-one to `extFields` keys.
///
/// ```ignore
/// ext_header! {
///     /// GET_ROUTEINFO_BY_TOPIC (105) request.
///     pub struct GetRouteInfoRequestHeader {
///         topic: String = "topic",
///         accept_standard_json_only: Option<bool> = "acceptStandardJsonOnly",
///     }
/// }
/// ```
#[macro_export]
macro_rules! ext_header {
    ($(#[$meta:meta])* pub struct $name:ident {
        $($(#[$fmeta:meta])* $field:ident : $ty:ty = $key:literal),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl rocketmq_net::CommandHeader for $name {
            fn to_ext_fields(&self) -> rocketmq_net::ExtFields {
                #[allow(unused_mut)]
                let mut fields = rocketmq_net::ExtFields::with_capacity(8);
                $($crate::protocol::header::ExtValue::write(&self.$field, &mut fields, $key);)*
                fields
            }

            #[allow(unused_variables)]
            fn from_ext_fields(
                fields: &rocketmq_net::ExtFields,
            ) -> Result<Self, rocketmq_net::HeaderError> {
                Ok(Self {
                    $($field: $crate::protocol::header::ExtValue::read(fields, $key)?,)*
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocketmq_net::CommandHeader;

    ext_header! {
        /// A header used only by these tests.
        pub struct Sample {
            name: String = "name",
            count: i32 = "count",
            big: Option<i64> = "big",
            flag: bool = "flag",
        }
    }

    #[test]
    fn roundtrip() {
        let h = Sample { name: "t".into(), count: -3, big: Some(1 << 40), flag: true };
        let back = Sample::from_ext_fields(&h.to_ext_fields()).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn missing_field_is_named() {
        let mut f = ExtFields::new();
        f.insert("name", "x");
        let err = Sample::from_ext_fields(&f).unwrap_err();
        assert!(matches!(err, HeaderError::Missing { field: "count" }), "{err:?}");
    }

    #[test]
    fn malformed_number_is_named() {
        let mut f = ExtFields::new();
        f.insert("name", "x");
        f.insert("count", "seven");
        f.insert("flag", "true");
        let err = Sample::from_ext_fields(&f).unwrap_err();
        assert!(matches!(err, HeaderError::Invalid { field: "count", .. }), "{err:?}");
    }

    #[test]
    fn lenient_values() {
        let mut f = ExtFields::new();
        f.insert("name", "x");
        f.insert("count", "4.0");
        f.insert("flag", "TRUE");
        let h = Sample::from_ext_fields(&f).unwrap();
        assert_eq!((h.count, h.flag, h.big), (4, true, None));
        f.insert("flag", "1");
        assert!(!Sample::from_ext_fields(&f).unwrap().flag, "Java parses only 'true' as true");
    }
}
