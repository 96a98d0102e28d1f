//! Loading RON configuration files and turning command-line flags into overrides.
//!
//! Raw configs are serde structs with `deny_unknown_fields`, so a misspelled key refuses to
//! start with a message naming it; each component validates its raw config into the typed config
//! it runs with. A config file is RON when its name ends in `.ron`, and otherwise a Java
//! properties file with Java's key names (`broker.conf`, `namesrv.properties`), mapped onto the
//! same raw config through the component's [`JavaKeys`] table (see [`properties`]).

use std::path::Path;

pub mod properties;

use properties::JavaKey;

/// Why a configuration could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    Read { path: String, source: std::io::Error },
    /// The file is not valid RON for this config (unknown key, wrong type...).
    Parse { path: String, message: String },
    /// A value is out of range or inconsistent.
    Invalid { key: &'static str, message: String },
    /// A command-line flag is unknown or lacks its value.
    Flag { flag: String, message: String },
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read { path, source } => write!(f, "cannot read config file {path}: {source}"),
            Self::Parse { path, message } => write!(f, "invalid config file {path}: {message}"),
            Self::Invalid { key, message } => write!(f, "invalid value for `{key}`: {message}"),
            Self::Flag { flag, message } => write!(f, "command line flag {flag}: {message}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads a RON file into `T`.
pub fn load_ron<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
    ron::from_str(&text).map_err(|e| ConfigError::Parse { path: shown, message: e.to_string() })
}

/// The Java keys a raw config accepts from a properties file.
pub trait JavaKeys {
    /// Every Java key we know for this config: mapped onto a field or ignored with a reason.
    const JAVA_KEYS: &'static [JavaKey];
}

/// Reads a Java properties file into `T` through its [`JavaKeys`] table; ignored keys are
/// logged as warnings naming them.
pub fn load_properties<T: serde::de::DeserializeOwned + JavaKeys>(
    path: &Path,
) -> Result<T, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
    let props = properties::parse(&text)
        .map_err(|message| ConfigError::Parse { path: shown.clone(), message })?;
    let mapped = properties::map_properties(&shown, &props, T::JAVA_KEYS)?;
    for warning in &mapped.warnings {
        log::warn!("{warning}");
    }
    properties::into_raw(&shown, mapped.fields)
}

/// Reads a config file: RON when the name ends in `.ron`, a Java properties file otherwise.
pub fn load_file<T: serde::de::DeserializeOwned + JavaKeys>(path: &Path) -> Result<T, ConfigError> {
    if path.extension().is_some_and(|e| e == "ron") {
        load_ron(path)
    } else {
        load_properties(path)
    }
}

/// A raw (file-shaped) config that command-line flags can override.
pub trait FlagOverrides: serde::de::DeserializeOwned + Default + JavaKeys {
    /// Applies one flag; unknown flags are an error naming the flag.
    fn apply_flag(&mut self, name: &str, value: &str) -> Result<(), ConfigError>;
}

/// Loads a server config the way both binaries take it: `-c FILE` (or `-config FILE`) reads the
/// RON or properties file (defaults without it), then every other flag overrides it in order. `Ok(None)`
/// means help was asked for.
pub fn load_raw<R: FlagOverrides>(args: &[String]) -> Result<Option<R>, ConfigError> {
    let flags = parse_flags(args)?;
    if flags.iter().any(|(k, _)| k == "help") {
        return Ok(None);
    }
    let is_file_flag = |k: &str| k == "c" || k == "config";
    let mut raw = match flags.iter().find(|(k, _)| is_file_flag(k)) {
        Some((_, path)) => load_file::<R>(Path::new(path))?,
        None => R::default(),
    };
    for (k, v) in flags.iter().filter(|(k, _)| !is_file_flag(k)) {
        raw.apply_flag(k, v)?;
    }
    Ok(Some(raw))
}

/// Parses `-name value` / `--name value` / `--name=value` flags into pairs, in order.
///
/// Go-RocketMQ style single-dash long flags (`-port 9876`) are accepted because that is what its
/// users type.
pub fn parse_flags(args: &[String]) -> Result<Vec<(String, String)>, ConfigError> {
    let mut pairs = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let name = arg.trim_start_matches('-');
        if name.len() == arg.len() || name.is_empty() {
            return Err(ConfigError::Flag {
                flag: arg.clone(),
                message: "expected a flag such as -port 9876".into(),
            });
        }
        if matches!(name, "h" | "help") {
            pairs.push(("help".to_string(), String::new()));
            continue;
        }
        if let Some((n, v)) = name.split_once('=') {
            pairs.push((n.to_string(), v.to_string()));
            continue;
        }
        let value = it.next().ok_or_else(|| ConfigError::Flag {
            flag: arg.clone(),
            message: "missing value".into(),
        })?;
        pairs.push((name.to_string(), value.clone()));
    }
    Ok(pairs)
}

/// Parses a flag value, naming the flag on failure.
pub fn flag_value<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e: T::Err| ConfigError::Flag {
        flag: format!("-{flag}"),
        message: format!("bad value {value:?}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_in_all_styles() {
        let p = parse_flags(&args(&["-port", "9876", "--c=conf/x.ron", "--name", "b"])).unwrap();
        assert_eq!(
            p,
            vec![
                ("port".into(), "9876".into()),
                ("c".into(), "conf/x.ron".into()),
                ("name".into(), "b".into())
            ]
        );
        assert!(parse_flags(&args(&["-port"])).is_err());
        assert!(parse_flags(&args(&["port"])).is_err());
    }
}
