//! `LanguageCode` (PROTOCOL.md §2.3): the sender's client language, a name in JSON headers and
//! a byte in binary headers. Unknown names and bytes decode without error.

use std::fmt;

/// The language a peer says it is written in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum LanguageCode {
    /// `JAVA` (0), the default.
    #[default]
    Java,
    /// `CPP` (1).
    Cpp,
    /// `DOTNET` (2).
    Dotnet,
    /// `PYTHON` (3).
    Python,
    /// `DELPHI` (4).
    Delphi,
    /// `ERLANG` (5).
    Erlang,
    /// `RUBY` (6).
    Ruby,
    /// `OTHER` (7).
    Other,
    /// `HTTP` (8).
    Http,
    /// `GO` (9).
    Go,
    /// `PHP` (10).
    Php,
    /// `OMS` (11).
    Oms,
    /// `RUST` (12).
    Rust,
    /// `NODE_JS` (13).
    NodeJs,
    /// A name (or, from a binary header, the decimal byte) this enum does not know.
    Unknown(String),
}

/// Known languages with their names and codes, in code order.
const KNOWN: [(LanguageCode, &str); 14] = [
    (LanguageCode::Java, "JAVA"),
    (LanguageCode::Cpp, "CPP"),
    (LanguageCode::Dotnet, "DOTNET"),
    (LanguageCode::Python, "PYTHON"),
    (LanguageCode::Delphi, "DELPHI"),
    (LanguageCode::Erlang, "ERLANG"),
    (LanguageCode::Ruby, "RUBY"),
    (LanguageCode::Other, "OTHER"),
    (LanguageCode::Http, "HTTP"),
    (LanguageCode::Go, "GO"),
    (LanguageCode::Php, "PHP"),
    (LanguageCode::Oms, "OMS"),
    (LanguageCode::Rust, "RUST"),
    (LanguageCode::NodeJs, "NODE_JS"),
];

/// The code Java uses for `OTHER`; written for unknown languages in binary headers.
const OTHER_CODE: u8 = 7;

impl LanguageCode {
    /// The Java enum name, e.g. `"JAVA"`.
    pub fn name(&self) -> &str {
        match self {
            Self::Unknown(name) => name,
            known => KNOWN.iter().find(|(l, _)| l == known).map_or("OTHER", |(_, n)| n),
        }
    }

    /// The byte used in binary headers (its ordinal in Java).
    pub fn code(&self) -> u8 {
        match self {
            Self::Unknown(name) => name.parse().unwrap_or(OTHER_CODE),
            known => KNOWN
                .iter()
                .position(|(l, _)| l == known)
                .and_then(|i| u8::try_from(i).ok())
                .unwrap_or(OTHER_CODE),
        }
    }

    /// Maps a Java enum name; unknown names become `Unknown(name)`.
    pub fn from_name(name: &str) -> Self {
        KNOWN
            .iter()
            .find(|(_, n)| *n == name)
            .map_or_else(|| Self::Unknown(name.to_owned()), |(l, _)| l.clone())
    }

    /// Maps a binary-header byte; unknown bytes become `Unknown("<byte>")`.
    pub fn from_code(code: u8) -> Self {
        KNOWN
            .get(usize::from(code))
            .map_or_else(|| Self::Unknown(code.to_string()), |(l, _)| l.clone())
    }
}

impl fmt::Display for LanguageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_match_the_java_table() {
        assert_eq!(LanguageCode::Java.code(), 0);
        assert_eq!(LanguageCode::Go.code(), 9);
        assert_eq!(LanguageCode::NodeJs.code(), 13);
        assert_eq!(LanguageCode::NodeJs.name(), "NODE_JS");
        for code in 0..14u8 {
            let lang = LanguageCode::from_code(code);
            assert_eq!(lang.code(), code);
            assert_eq!(LanguageCode::from_name(lang.name()), lang);
        }
    }

    #[test]
    fn unknown_languages_decode() {
        assert_eq!(LanguageCode::from_name("COBOL"), LanguageCode::Unknown("COBOL".into()));
        assert_eq!(LanguageCode::from_name("COBOL").code(), OTHER_CODE);
        let odd = LanguageCode::from_code(200);
        assert_eq!(odd.code(), 200);
        assert_eq!(odd.name(), "200");
    }
}
