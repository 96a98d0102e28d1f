//! fastjson-lenient field decoders: the one set of serde helpers every body type uses.
//!
//! Java's broker and nameserver parse bodies with fastjson, which is far more forgiving than
//! serde, and stock clients rely on it: the C++ client writes `consumeFromWhere`, `consumeType`
//! and `messageModel` as enum ordinals and `subVersion` as a string, the Go client writes
//! `codeSet` as an array of strings. Every field of every body is therefore decoded through
//! [`de()`], which accepts what fastjson accepts for the field's type:
//!
//! | field type | accepted |
//! |---|---|
//! | integers (`i32`, `i64`) | numbers, numeric strings, integral floats, `true`/`false` (1/0), `""` |
//! | `bool` | `true`/`false`, `"true"`/`"false"` (any case), `0`/`1`, `"0"`/`"1"`, `"Y"`/`"N"`, `"T"`/`"F"` |
//! | `String` | strings, and numbers or booleans as their text |
//! | Java enum names (`String`) | the name, or its ordinal in Java's declaration order ([`enum_name`]) |
//! | `Vec`, sets, maps, nested bodies | the same rules element by element |
//!
//! `null` anywhere means "absent": [`crate::protocol::json::from_slice_lenient`] drops
//! null-valued members before decoding, so the struct's own default applies, and a null that is
//! left (an array element) decodes to the type's default. Unknown fields are ignored because no
//! body denies them. What we send stays strict: these helpers only deserialize.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A type decoded with fastjson's leniency. Implemented for the primitives, collections and
/// every body struct (through the `lenient_struct!` macro of this module).
pub trait Lenient: Sized {
    /// Decodes `Self` from whatever fastjson would accept for it.
    fn deserialize_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
}

/// The `deserialize_with` of every body field: `#[serde(deserialize_with = "de")]`.
pub fn de<'de, D: Deserializer<'de>, T: Lenient>(d: D) -> Result<T, D::Error> {
    T::deserialize_lenient(d)
}

/// A Java enum whose values fastjson accepts by name or by ordinal.
pub trait JavaEnum {
    /// The names in Java's declaration order, so that `NAMES[ordinal]` is the name.
    const NAMES: &'static [&'static str];
}

/// The `deserialize_with` of a `String` field holding a Java enum's name:
/// `#[serde(deserialize_with = "enum_name::<_, ConsumeFromWhere>")]`. An ordinal (a number or
/// a numeric string) becomes its name; any other string is kept as it is, as before.
pub fn enum_name<'de, D: Deserializer<'de>, E: JavaEnum>(d: D) -> Result<String, D::Error> {
    let value = String::deserialize_lenient(d)?;
    match value.trim().parse::<i64>() {
        Ok(ordinal) => usize::try_from(ordinal)
            .ok()
            .and_then(|i| E::NAMES.get(i))
            .map(|name| (*name).to_string())
            .ok_or_else(|| de::Error::custom(format_args!("enum ordinal {ordinal} out of range"))),
        Err(_) => Ok(value),
    }
}

/// Java's `ConsumeFromWhere` (the three deprecated values keep their places).
#[derive(Debug)]
pub enum ConsumeFromWhere {}

impl JavaEnum for ConsumeFromWhere {
    const NAMES: &'static [&'static str] = &[
        "CONSUME_FROM_LAST_OFFSET",
        "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
        "CONSUME_FROM_MIN_OFFSET",
        "CONSUME_FROM_MAX_OFFSET",
        "CONSUME_FROM_FIRST_OFFSET",
        "CONSUME_FROM_TIMESTAMP",
    ];
}

/// Java's `ConsumeType`.
#[derive(Debug)]
pub enum ConsumeType {}

impl JavaEnum for ConsumeType {
    const NAMES: &'static [&'static str] =
        &["CONSUME_ACTIVELY", "CONSUME_PASSIVELY", "CONSUME_POP"];
}

/// Java's `MessageModel`.
#[derive(Debug)]
pub enum MessageModel {}

impl JavaEnum for MessageModel {
    const NAMES: &'static [&'static str] = &["BROADCASTING", "CLUSTERING"];
}

/// Java's `TopicFilterType`.
#[derive(Debug)]
pub enum TopicFilterType {}

impl JavaEnum for TopicFilterType {
    const NAMES: &'static [&'static str] = &["SINGLE_TAG", "MULTI_TAG"];
}

/// Java's `LanguageCode` (its ordinals equal the wire codes).
#[derive(Debug)]
pub enum LanguageCode {}

impl JavaEnum for LanguageCode {
    const NAMES: &'static [&'static str] = &[
        "JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO",
        "PHP", "OMS", "RUST", "NODE_JS",
    ];
}

/// Implements [`Lenient`] for body structs: `null` is the default, anything else goes to the
/// struct's own `Deserialize`, whose fields are lenient in turn.
macro_rules! lenient_struct {
    ($($ty:ty),* $(,)?) => {$(
        impl $crate::protocol::body::lenient::Lenient for $ty {
            fn deserialize_lenient<'de, D: serde::Deserializer<'de>>(
                d: D,
            ) -> Result<Self, D::Error> {
                Ok(<Option<$ty> as serde::Deserialize>::deserialize(d)?.unwrap_or_default())
            }
        }
    )*};
}

/// Puts a [`Lenient`] type where serde wants a `Deserialize` one (collection elements).
struct Wrap<T>(T);

impl<'de, T: Lenient> Deserialize<'de> for Wrap<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize_lenient(d).map(Wrap)
    }
}

/// One JSON scalar as a visitor saw it, before conversion to the field's type.
enum Scalar<'a> {
    Int(i128),
    Float(f64),
    Bool(bool),
    Str(&'a str),
    Null,
}

/// A visitor that funnels every scalar through `convert`; `what` names the target type.
struct ScalarVisitor<T, F> {
    what: &'static str,
    convert: F,
    _t: PhantomData<T>,
}

impl<'de, T, F: FnOnce(Scalar<'_>) -> Result<T, String>> Visitor<'de> for ScalarVisitor<T, F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (as fastjson accepts it)", self.what)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        (self.convert)(Scalar::Bool(v)).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        (self.convert)(Scalar::Int(i128::from(v))).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        (self.convert)(Scalar::Int(i128::from(v))).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        (self.convert)(Scalar::Float(v)).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.convert)(Scalar::Str(v)).map_err(E::custom)
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        (self.convert)(Scalar::Null).map_err(E::custom)
    }

    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(self)
    }
}

fn scalar<'de, D, T, F>(d: D, what: &'static str, convert: F) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    F: FnOnce(Scalar<'_>) -> Result<T, String>,
{
    d.deserialize_any(ScalarVisitor { what, convert, _t: PhantomData })
}

/// fastjson's integer rules, as an `i128` that the caller narrows.
fn integer(s: Scalar<'_>) -> Result<i128, String> {
    match s {
        Scalar::Int(v) => Ok(v),
        // Java's `Number.intValue()`/`longValue()` truncate; only finite values are numbers.
        Scalar::Float(v) if v.is_finite() && v.abs() < 9.3e18 => Ok(v.trunc() as i128),
        Scalar::Float(v) => Err(format!("number {v} is not an integer")),
        Scalar::Bool(v) => Ok(i128::from(v)),
        Scalar::Null => Ok(0),
        Scalar::Str(text) => {
            let t = text.trim();
            if t.is_empty() || t == "null" || t == "NULL" {
                return Ok(0);
            }
            t.parse::<i128>()
                .or_else(|_| match t.parse::<f64>() {
                    Ok(v) => integer(Scalar::Float(v)),
                    Err(_) => Err(String::new()),
                })
                .map_err(|_| format!("invalid integer string {text:?}"))
        }
    }
}

macro_rules! lenient_int {
    ($($t:ty),*) => {$(
        impl Lenient for $t {
            fn deserialize_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                scalar(d, stringify!($t), |s| {
                    let v = integer(s)?;
                    <$t>::try_from(v)
                        .map_err(|_| format!("{v} out of range for {}", stringify!($t)))
                })
            }
        }
    )*};
}

lenient_int!(i32, i64);

impl Lenient for bool {
    fn deserialize_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar(d, "a boolean", |s| match s {
            Scalar::Bool(v) => Ok(v),
            Scalar::Int(v) => Ok(v == 1),
            Scalar::Float(v) => Ok(v == 1.0),
            Scalar::Null => Ok(false),
            Scalar::Str(t) => match t.trim() {
                "" | "null" | "NULL" => Ok(false),
                "1" | "T" => Ok(true),
                "0" | "F" => Ok(false),
                t if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("y") => Ok(true),
                t if t.eq_ignore_ascii_case("false") || t.eq_ignore_ascii_case("n") => Ok(false),
                _ => Err(format!("invalid boolean string {t:?}")),
            },
        })
    }
}

impl Lenient for f64 {
    fn deserialize_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar(d, "a number", |s| match s {
            Scalar::Float(v) => Ok(v),
            Scalar::Int(v) => Ok(v as f64),
            Scalar::Bool(v) => Ok(f64::from(u8::from(v))),
            Scalar::Null => Ok(0.0),
            Scalar::Str(t) if t.trim().is_empty() => Ok(0.0),
            Scalar::Str(t) => t.trim().parse().map_err(|_| format!("invalid number {t:?}")),
        })
    }
}

impl Lenient for String {
    fn deserialize_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar(d, "a string", |s| {
            Ok(match s {
                Scalar::Str(t) => t.to_string(),
                Scalar::Int(v) => v.to_string(),
                Scalar::Float(v) => v.to_string(),
                Scalar::Bool(v) => v.to_string(),
                Scalar::Null => String::new(),
            })
        })
    }
}

impl<T: Lenient> Lenient for Option<T> {
    fn deserialize_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<Wrap<T>>::deserialize(d)?.map(|w| w.0))
    }
}

impl<T: Lenient> Lenient for Vec<T> {
    fn deserialize_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SeqVisitor(PhantomData))
    }
}

impl<T: Lenient + Ord> Lenient for BTreeSet<T> {
    fn deserialize_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<T>::deserialize_lenient(d)?.into_iter().collect())
    }
}

impl<K: Lenient + Ord, V: Lenient> Lenient for BTreeMap<K, V> {
    fn deserialize_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MapVisitor(PhantomData))
    }
}

/// Arrays element by element; `null` is empty.
struct SeqVisitor<T>(PhantomData<T>);

impl<'de, T: Lenient> Visitor<'de> for SeqVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        // The hint comes from the peer, so it only sizes a small first allocation.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(Wrap(item)) = seq.next_element::<Wrap<T>>()? {
            out.push(item);
        }
        Ok(out)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_none<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_any(self)
    }
}

/// Objects entry by entry; `null` is empty.
struct MapVisitor<K, V>(PhantomData<(K, V)>);

impl<'de, K: Lenient + Ord, V: Lenient> Visitor<'de> for MapVisitor<K, V> {
    type Value = BTreeMap<K, V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BTreeMap<K, V>, A::Error> {
        let mut out = BTreeMap::new();
        while let Some((Wrap(k), Wrap(v))) = map.next_entry::<Wrap<K>, Wrap<V>>()? {
            out.insert(k, v);
        }
        Ok(out)
    }

    fn visit_unit<E: de::Error>(self) -> Result<BTreeMap<K, V>, E> {
        Ok(BTreeMap::new())
    }

    fn visit_none<E: de::Error>(self) -> Result<BTreeMap<K, V>, E> {
        Ok(BTreeMap::new())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<BTreeMap<K, V>, D::Error> {
        d.deserialize_any(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: Lenient>(json: &str) -> Result<T, serde_json::Error> {
        let mut d = serde_json::Deserializer::from_str(json);
        T::deserialize_lenient(&mut d)
    }

    #[test]
    fn integers_accept_numbers_strings_floats_and_booleans() {
        assert_eq!(parse::<i32>("7").unwrap(), 7);
        assert_eq!(parse::<i32>("\"-7\"").unwrap(), -7);
        assert_eq!(parse::<i32>("\" 12 \"").unwrap(), 12);
        assert_eq!(parse::<i64>("\"1700000000000\"").unwrap(), 1_700_000_000_000);
        assert_eq!(parse::<i64>("3.0").unwrap(), 3);
        assert_eq!(parse::<i32>("true").unwrap(), 1);
        assert_eq!(parse::<i32>("null").unwrap(), 0);
        assert_eq!(parse::<i32>("\"\"").unwrap(), 0);
        assert!(parse::<i32>("\"abc\"").is_err());
        assert!(parse::<i32>("4294967296").is_err());
        assert!(parse::<i32>("[1]").is_err());
    }

    #[test]
    fn booleans_accept_fastjson_forms() {
        for t in ["true", "\"true\"", "\"TRUE\"", "1", "\"1\"", "\"Y\"", "\"T\""] {
            assert!(parse::<bool>(t).unwrap(), "{t}");
        }
        for f in ["false", "\"false\"", "0", "\"0\"", "\"N\"", "\"F\"", "null", "2"] {
            assert!(!parse::<bool>(f).unwrap(), "{f}");
        }
        assert!(parse::<bool>("\"maybe\"").is_err());
    }

    #[test]
    fn strings_accept_scalars_and_collections_are_elementwise() {
        assert_eq!(parse::<String>("12").unwrap(), "12");
        assert_eq!(parse::<String>("false").unwrap(), "false");
        assert_eq!(parse::<Vec<i32>>("[\"2598919\", 2598920]").unwrap(), vec![2598919, 2598920]);
        assert_eq!(parse::<Vec<i32>>("null").unwrap(), Vec::<i32>::new());
        let map: BTreeMap<i64, String> = parse("{\"0\":\"a\",\"1\":2}").unwrap();
        assert_eq!(map[&1], "2");
    }

    #[test]
    fn enum_names_accept_ordinals_in_java_order() {
        #[derive(Deserialize)]
        struct S {
            #[serde(deserialize_with = "enum_name::<_, ConsumeFromWhere>")]
            a: String,
            #[serde(deserialize_with = "enum_name::<_, MessageModel>")]
            b: String,
            #[serde(deserialize_with = "enum_name::<_, ConsumeType>")]
            c: String,
        }
        let s: S = serde_json::from_str(r#"{"a":4,"b":"1","c":"CONSUME_PASSIVELY"}"#).unwrap();
        assert_eq!(s.a, "CONSUME_FROM_FIRST_OFFSET");
        assert_eq!(s.b, "CLUSTERING");
        assert_eq!(s.c, "CONSUME_PASSIVELY");
        assert!(serde_json::from_str::<S>(r#"{"a":6,"b":0,"c":0}"#).is_err());
    }
}
