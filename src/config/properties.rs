//! Java `.properties` files, as `java.util.Properties.load` reads them, and the mapping of a
//! Java server's keys (`broker.conf`, `namesrv.properties`) onto our raw configs.
//!
//! The parser is pure: text in, `(key, value, line)` triples out. The mapping is a table per
//! config ([`JavaKey`]): each Java key names our field and how its value converts (Java's units
//! included), or says why we do not support it. Loading refuses an unknown key, naming it, and
//! warns about a known key we ignore, so an operator's existing file loads.

use serde_json::{Map, Value};

use super::ConfigError;

/// One `key=value` entry of a properties file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The key with escapes resolved.
    pub key: String,
    /// The value with escapes resolved and surrounding whitespace removed.
    pub value: String,
    /// The 1-based line the entry starts on.
    pub line: usize,
}

/// Parses properties text the way `java.util.Properties.load(Reader)` does: `#` and `!`
/// comments, `=`, `:` or whitespace as separator, trailing-backslash continuation lines, and
/// the escapes `\t \n \r \f \uXXXX` (any other escaped character stands for itself). Later
/// duplicates win, as in Java.
pub fn parse(text: &str) -> Result<Vec<Property>, String> {
    let mut out: Vec<Property> = Vec::new();
    for (line, logical) in logical_lines(text) {
        let (raw_key, raw_value) = split_entry(&logical);
        let key = unescape(raw_key).map_err(|e| format!("line {line}: {e}"))?;
        let value = unescape(raw_value).map_err(|e| format!("line {line}: {e}"))?;
        let value = value.trim().to_string();
        out.retain(|p| p.key != key);
        out.push(Property { key, value, line });
    }
    Ok(out)
}

/// Joins continuation lines and drops comments and blank lines; yields (first line, text).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, natural) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = natural.trim_start_matches([' ', '\t', '\x0c']);
        let piece = match current.take() {
            Some((start, mut acc)) => {
                acc.push_str(trimmed);
                (start, acc)
            }
            None => {
                if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
                    continue;
                }
                (line_no, trimmed.to_string())
            }
        };
        if ends_with_odd_backslashes(&piece.1) {
            let (start, mut acc) = piece;
            acc.pop();
            current = Some((start, acc));
        } else {
            out.push(piece);
        }
    }
    // A file that ends inside a continuation keeps what it has, as Java does.
    out.extend(current);
    out
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits a logical line at the first unescaped separator (`=`, `:` or whitespace).
fn split_entry(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' => return (&line[..i], &line[i + 1..]),
            b' ' | b'\t' | b'\x0c' => {
                let key = &line[..i];
                let rest = line[i..].trim_start_matches([' ', '\t', '\x0c']);
                let rest = rest.strip_prefix(['=', ':']).unwrap_or(rest);
                return (key, rest);
            }
            _ => i += 1,
        }
    }
    (line, "")
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => out.push(unicode_escape(&mut chars)?),
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

fn unicode_escape(chars: &mut std::str::Chars<'_>) -> Result<char, String> {
    let hex: String = chars.by_ref().take(4).collect();
    let code = u32::from_str_radix(&hex, 16)
        .ok()
        .filter(|_| hex.len() == 4)
        .ok_or_else(|| format!("malformed \\uXXXX escape: \\u{hex}"))?;
    // Surrogate halves (Java writes non-BMP characters as two escapes) are not valid chars on
    // their own; the keys and values of a server config never need them.
    char::from_u32(code).ok_or_else(|| format!("\\u{hex} is not a character on its own"))
}

/// How a Java value becomes ours.
#[derive(Debug, Clone, Copy)]
pub enum JavaKind {
    /// Taken as it is.
    Str,
    /// `true` / `false`, any case.
    Bool,
    /// A decimal integer (our field's range is checked by the config itself).
    Int,
    /// A conversion of its own: Java's units or formats to ours.
    Convert(fn(&str) -> Result<Value, String>),
}

/// One Java key of a server config.
#[derive(Debug, Clone, Copy)]
pub struct JavaKey {
    /// The key as Java spells it (`brokerClusterName`).
    pub java: &'static str,
    /// Our field (`broker_cluster_name`), or `None` for a key we know and ignore.
    pub ours: Option<&'static str>,
    /// How the value converts.
    pub kind: JavaKind,
    /// For an ignored key: why, shown in the warning. For a supported key: unit notes.
    pub note: &'static str,
}

impl JavaKey {
    /// A key we map onto `ours` with conversion `kind`.
    pub const fn mapped(java: &'static str, ours: &'static str, kind: JavaKind) -> Self {
        Self { java, ours: Some(ours), kind, note: "" }
    }

    /// A key we know from Java and ignore, with the reason.
    pub const fn ignored(java: &'static str, note: &'static str) -> Self {
        Self { java, ours: None, kind: JavaKind::Str, note }
    }

    /// A key that sets nothing but whose value `check` must accept (a switch we only take
    /// off): its error refuses the file.
    pub const fn checked(java: &'static str, check: fn(&str) -> Result<Value, String>) -> Self {
        Self { java, ours: None, kind: JavaKind::Convert(check), note: "" }
    }
}

/// A loaded properties file: our fields as a JSON object, ready for serde, and the warnings
/// about known keys that were ignored.
#[derive(Debug, Default)]
pub struct Mapped {
    /// Our field name to its converted value.
    pub fields: Map<String, Value>,
    /// One line per ignored key, naming it.
    pub warnings: Vec<String>,
}

/// Maps parsed properties onto our fields with `table`. An unknown key or a value of the wrong
/// shape is an error naming the key, its line and what was expected.
pub fn map_properties(
    path: &str,
    props: &[Property],
    table: &[JavaKey],
) -> Result<Mapped, ConfigError> {
    let mut mapped = Mapped::default();
    for p in props {
        let Some(key) = table.iter().find(|k| k.java == p.key) else {
            return Err(ConfigError::Parse {
                path: path.to_string(),
                message: format!("line {}: unknown key `{}`", p.line, p.key),
            });
        };
        let value = || {
            convert(key.kind, &p.value).map_err(|expected| ConfigError::Parse {
                path: path.to_string(),
                message: format!("line {}: `{}` = {:?}: {expected}", p.line, p.key, p.value),
            })
        };
        match (key.ours, key.kind) {
            (Some(ours), _) => {
                mapped.fields.insert(ours.to_string(), value()?);
            }
            (None, JavaKind::Convert(_)) => {
                value()?;
            }
            (None, _) => mapped.warnings.push(format!(
                "{path} line {}: `{}` is not supported and is ignored ({})",
                p.line, p.key, key.note
            )),
        }
    }
    Ok(mapped)
}

fn convert(kind: JavaKind, value: &str) -> Result<Value, String> {
    match kind {
        JavaKind::Str => Ok(Value::String(value.to_string())),
        JavaKind::Bool => match value.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("expected true or false".into()),
        },
        JavaKind::Int => parse_int(value),
        JavaKind::Convert(f) => f(value),
    }
}

/// A decimal integer as Java's `Long.parseLong` reads it (an optional sign, digits).
pub fn parse_int(value: &str) -> Result<Value, String> {
    if let Ok(n) = value.parse::<u64>() {
        return Ok(Value::from(n));
    }
    value.parse::<i64>().map(Value::from).map_err(|_| "expected an integer".to_string())
}

/// A raw config as Java's `key=value` pairs: each field under its Java key from `table` (in
/// Java's units where `to_java_units` converts it), and fields Java has no key for under their
/// camelCase name. Sorted by key, as Java's admin tools print them.
pub fn java_properties<T: serde::Serialize>(
    raw: &T,
    table: &[JavaKey],
    to_java_units: fn(&str, &Value) -> Option<String>,
) -> Vec<(String, String)> {
    let Ok(Value::Object(fields)) = serde_json::to_value(raw) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = fields
        .iter()
        .map(|(ours, value)| {
            let java = table.iter().find(|k| k.ours == Some(ours.as_str()));
            let key = java.map_or_else(|| camel_case(ours), |k| k.java.to_string());
            let text = to_java_units(ours, value).unwrap_or_else(|| match value {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            });
            (key, text)
        })
        .collect();
    out.sort();
    out
}

/// `net_busy_poll_us` → `netBusyPollUs`, for our own settings that Java does not have.
pub fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Deserializes our raw config from the mapped fields; a type or range error names our field.
pub fn into_raw<R: serde::de::DeserializeOwned>(
    path: &str,
    mapped: Map<String, Value>,
) -> Result<R, ConfigError> {
    serde_json::from_value(Value::Object(mapped))
        .map_err(|e| ConfigError::Parse { path: path.to_string(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap().into_iter().map(|p| (p.key, p.value)).collect()
    }

    #[test]
    fn separators_comments_and_blank_lines() {
        let text = "# comment\n! bang comment\n\nbrokerName=broker-a\nbrokerId : 0\n\
                    deleteWhen 04\n  flushDiskType =  ASYNC_FLUSH  \nempty=\nbare\n";
        assert_eq!(
            kv(text),
            vec![
                ("brokerName".into(), "broker-a".into()),
                ("brokerId".into(), "0".into()),
                ("deleteWhen".into(), "04".into()),
                ("flushDiskType".into(), "ASYNC_FLUSH".into()),
                ("empty".into(), String::new()),
                ("bare".into(), String::new()),
            ]
        );
    }

    #[test]
    fn continuation_escapes_and_duplicates() {
        let text = "messageDelayLevel=1s 5s \\\n    10s\nkey\\=with\\:seps=v\\tx\\u0041\n\
                   a=1\na=2\nwin=C:\\\\dir\r\n";
        assert_eq!(
            kv(text),
            vec![
                ("messageDelayLevel".into(), "1s 5s 10s".into()),
                ("key=with:seps".into(), "v\txA".into()),
                ("a".into(), "2".into()),
                ("win".into(), "C:\\dir".into()),
            ]
        );
        assert!(parse("k=\\u00zz").is_err());
    }

    #[test]
    fn lines_are_reported() {
        let props = parse("\n# c\nx=1\ny=2 \\\n 3\nz=4").unwrap();
        let lines: Vec<usize> = props.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![3, 4, 6]);
    }

    const TABLE: &[JavaKey] = &[
        JavaKey::mapped("listenPort", "listen_port", JavaKind::Int),
        JavaKey::mapped("longPollingEnable", "long_polling_enable", JavaKind::Bool),
        JavaKey::ignored("haListenPort", "no replication yet"),
    ];

    #[test]
    fn own_settings_in_camel_case() {
        assert_eq!(camel_case("net_busy_poll_us"), "netBusyPollUs");
        assert_eq!(camel_case("broker_cluster_name"), "brokerClusterName");
    }

    #[test]
    fn mapping_names_keys_in_errors_and_warnings() {
        let props = parse("listenPort=10911\nlongPollingEnable=TRUE\nhaListenPort=10912").unwrap();
        let m = map_properties("b.conf", &props, TABLE).unwrap();
        assert_eq!(m.fields["listen_port"], Value::from(10911u64));
        assert_eq!(m.fields["long_polling_enable"], Value::Bool(true));
        assert_eq!(m.warnings.len(), 1);
        assert!(m.warnings[0].contains("`haListenPort`"), "{:?}", m.warnings);

        let err = map_properties("b.conf", &parse("listenPrt=1").unwrap(), TABLE).unwrap_err();
        assert!(err.to_string().contains("unknown key `listenPrt`"), "{err}");
        let err = map_properties("b.conf", &parse("listenPort=x").unwrap(), TABLE).unwrap_err();
        assert!(err.to_string().contains("`listenPort`"), "{err}");
        assert!(err.to_string().contains("expected an integer"), "{err}");
        let err =
            map_properties("b.conf", &parse("longPollingEnable=yes").unwrap(), TABLE).unwrap_err();
        assert!(err.to_string().contains("expected true or false"), "{err}");
    }

    /// Escapes like `Properties.store`: separators, comment starts, backslashes, leading spaces.
    fn escape(s: &str, is_key: bool) -> String {
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            match c {
                '\\' | '=' | ':' | '#' | '!' => {
                    out.push('\\');
                    out.push(c);
                }
                ' ' if is_key || i == 0 => out.push_str("\\ "),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\x0c' => out.push_str("\\f"),
                _ => out.push(c),
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_errs_without_panic(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }

        #[test]
        fn escaped_entries_round_trip(
            entries in proptest::collection::btree_map(
                "[a-zA-Z0-9 =:#!\\\\.]{1,12}",
                "[a-zA-Z0-9=:#!\\\\.;]{0,12}( [a-z]{1,3})?",
                0..8,
            )
        ) {
            let text: String = entries
                .iter()
                .map(|(k, v)| format!("{}={}\n", escape(k, true), escape(v, false)))
                .collect();
            let parsed = parse(&text).unwrap();
            let got: Vec<(String, String)> =
                parsed.into_iter().map(|p| (p.key, p.value)).collect();
            let want: Vec<(String, String)> =
                entries.iter().map(|(k, v)| (k.clone(), v.trim().to_string())).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
