//! UPDATE_BROKER_CONFIG (`mqadmin updateBrokerConfig`): settings changed at run time, in Java's
//! key names, kept in `<storePathRootDir>/config/brokerRuntime.properties` and applied over the
//! config file and flags at every start.
//!
//! This module owns that file and the configured view of the broker's settings (what
//! GET_BROKER_CONFIG shows). A few keys take effect at once ([`LIVE_KEYS`]); every other
//! supported key is validated, stored and takes effect at the next start, and the answer says
//! which. Java rewrites the broker's own config file instead; we leave the operator's file (RON
//! or broker.conf, with its comments) untouched and log the overrides at every start.
//!
//! **Invariant:** the file only ever holds keys that, applied over the config the broker
//! started from, validate: an update is checked against the whole merged config before the file
//! is written, and the file is replaced atomically.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use serde_json::Value;

use super::config::{BrokerConfig, RawBrokerConfig};
use super::java_conf::BROKER_KEYS;
use crate::config::properties::{self, Property};
use crate::config::ConfigError;

/// The overrides file, in the store's `config/` directory.
pub const RUNTIME_FILE: &str = "brokerRuntime.properties";

/// Keys an update applies at once; the others wait for a restart.
pub const LIVE_KEYS: &[&str] = &["autoCreateTopicEnable", "autoCreateSubscriptionGroup"];

/// Keys an update may not change (Java's `configBlackList` idea): where the store and this
/// very file live, and the broker's identity, which routes and stored offsets hang on.
pub const REFUSED_KEYS: &[&str] =
    &["storePathRootDir", "storePathCommitLog", "brokerClusterName", "brokerName", "brokerId"];

/// Why an update was refused; the admin processor maps it to a response code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateError {
    /// The body is not properties text.
    Body(String),
    /// The body names no key.
    Empty,
    /// A key we do not know (a typo would otherwise be ignored silently).
    UnknownKey(String),
    /// A key Java knows but this broker does not support.
    Unsupported { key: String, why: String },
    /// A key that may not change at run time.
    Refused(String),
    /// The merged config does not validate: the key and what was expected.
    Invalid(String),
    /// The overrides file could not be written.
    Persist(String),
}

impl std::fmt::Display for UpdateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Body(e) => write!(f, "bad properties body: {e}"),
            Self::Empty => f.write_str("the body names no key"),
            Self::UnknownKey(k) => write!(f, "unknown broker config key `{k}`"),
            Self::Unsupported { key, why } => write!(f, "`{key}` is not supported ({why})"),
            Self::Refused(k) => write!(f, "Can not update config in black list: `{k}`"),
            Self::Invalid(e) => write!(f, "{e}"),
            Self::Persist(e) => write!(f, "cannot store the update: {e}"),
        }
    }
}

/// What an accepted update did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Updated {
    /// Keys in effect now.
    pub live: Vec<String>,
    /// Keys stored that take effect at the next start.
    pub at_restart: Vec<String>,
}

/// The broker's settings as configured (file, flags, then runtime overrides) and the ones an
/// update changes live.
#[derive(Debug)]
pub struct RuntimeConf {
    path: PathBuf,
    /// The configured raw config and the overrides file's entries, changed together.
    state: Mutex<State>,
    auto_create_topic: AtomicBool,
    auto_create_group: AtomicBool,
}

#[derive(Debug)]
struct State {
    raw: RawBrokerConfig,
    overrides: Vec<(String, String)>,
}

impl RuntimeConf {
    /// The view of a broker that started with `config`, whose overrides file is `path`.
    pub fn new(config: &BrokerConfig, path: PathBuf) -> Self {
        let overrides = read_overrides(&path).unwrap_or_default();
        let overrides = overrides.into_iter().map(|p| (p.key, p.value)).collect();
        Self {
            path,
            state: Mutex::new(State { raw: config.raw.clone(), overrides }),
            auto_create_topic: AtomicBool::new(config.auto_create_topic_enable),
            auto_create_group: AtomicBool::new(config.auto_create_subscription_group),
        }
    }

    /// Whether a send may create its topic from a template now.
    pub fn auto_create_topic(&self) -> bool {
        self.auto_create_topic.load(Ordering::Acquire)
    }

    /// Whether an unknown consumer group is created on first use now.
    pub fn auto_create_group(&self) -> bool {
        self.auto_create_group.load(Ordering::Acquire)
    }

    /// The configured raw config (GET_BROKER_CONFIG).
    pub fn raw(&self) -> RawBrokerConfig {
        self.state.lock().raw.clone()
    }

    /// Applies an UPDATE_BROKER_CONFIG body: validates every key against the whole merged
    /// config, stores the overrides, then switches the live keys.
    pub fn update(&self, body: &str) -> Result<Updated, UpdateError> {
        let props = properties::parse(body).map_err(UpdateError::Body)?;
        if props.is_empty() {
            return Err(UpdateError::Empty);
        }
        check_keys(&props)?;
        let mut state = self.state.lock();
        let raw = apply(&state.raw, &props).map_err(|e| UpdateError::Invalid(e.to_string()))?;
        let validated = raw.clone().validate().map_err(|e| UpdateError::Invalid(e.to_string()))?;
        let mut overrides = state.overrides.clone();
        for p in &props {
            overrides.retain(|(k, _)| *k != p.key);
            overrides.push((p.key.clone(), p.value.clone()));
        }
        write_overrides(&self.path, &overrides).map_err(|e| UpdateError::Persist(e.to_string()))?;
        *state = State { raw, overrides };
        drop(state);
        self.auto_create_topic.store(validated.auto_create_topic_enable, Ordering::Release);
        self.auto_create_group.store(validated.auto_create_subscription_group, Ordering::Release);
        let mut updated = Updated::default();
        for p in props {
            let list = if LIVE_KEYS.contains(&p.key.as_str()) {
                &mut updated.live
            } else {
                &mut updated.at_restart
            };
            list.push(p.key);
        }
        Ok(updated)
    }
}

/// Every key must be one we map and may change.
fn check_keys(props: &[Property]) -> Result<(), UpdateError> {
    for p in props {
        let Some(key) = BROKER_KEYS.iter().find(|k| k.java == p.key) else {
            return Err(UpdateError::UnknownKey(p.key.clone()));
        };
        if REFUSED_KEYS.contains(&key.java) {
            return Err(UpdateError::Refused(p.key.clone()));
        }
        if key.ours.is_none() && !matches!(key.kind, properties::JavaKind::Convert(_)) {
            return Err(UpdateError::Unsupported { key: p.key.clone(), why: key.note.to_string() });
        }
    }
    Ok(())
}

/// `raw` with `props` (Java keys and units) applied over it.
pub fn apply(raw: &RawBrokerConfig, props: &[Property]) -> Result<RawBrokerConfig, ConfigError> {
    let shown = "UPDATE_BROKER_CONFIG";
    let mapped = properties::map_properties(shown, props, BROKER_KEYS)?;
    let Ok(Value::Object(mut fields)) = serde_json::to_value(raw) else {
        return Err(ConfigError::Parse {
            path: shown.into(),
            message: "the config has no field table".into(),
        });
    };
    fields.extend(mapped.fields);
    properties::into_raw(shown, fields)
}

/// The overrides file's entries; none when it does not exist.
pub fn read_overrides(path: &Path) -> Result<Vec<Property>, ConfigError> {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ConfigError::Parse { path: shown, message: e.to_string() }),
    };
    properties::parse(&text).map_err(|message| ConfigError::Parse { path: shown, message })
}

/// The start-up step: `raw` with the overrides file at `path` applied, and the entries applied
/// (logged by the caller).
pub fn with_overrides(
    raw: RawBrokerConfig,
    path: &Path,
) -> Result<(RawBrokerConfig, Vec<Property>), ConfigError> {
    let props = read_overrides(path)?;
    if props.is_empty() {
        return Ok((raw, props));
    }
    let merged = apply(&raw, &props).map_err(|e| match e {
        ConfigError::Parse { message, .. } => {
            ConfigError::Parse { path: path.display().to_string(), message }
        }
        other => other,
    })?;
    Ok((merged, props))
}

/// Replaces the file atomically (write a sibling, fsync, rename).
fn write_overrides(path: &Path, entries: &[(String, String)]) -> std::io::Result<()> {
    let mut text = String::from(
        "# Written by the broker on UPDATE_BROKER_CONFIG (mqadmin updateBrokerConfig).\n\
         # Applied over the config file and flags at every start; delete a line to go back.\n",
    );
    for (k, v) in entries {
        text.push_str(&format!("{}={}\n", escape(k), escape(v)));
    }
    super::persist::write(path, text.as_bytes())
}

/// Escapes what `properties::parse` would read differently: backslashes, line breaks, and
/// leading whitespace or separators in keys.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(dir: &Path) -> RuntimeConf {
        let raw = RawBrokerConfig { store_path: dir.into(), ..Default::default() };
        let config = raw.validate().unwrap();
        RuntimeConf::new(&config, dir.join(RUNTIME_FILE))
    }

    #[test]
    fn a_live_key_switches_now_and_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let rc = conf(dir.path());
        assert!(rc.auto_create_topic());
        let done = rc.update("autoCreateTopicEnable=false\nfileReservedTime=12\n").unwrap();
        assert_eq!(done.live, vec!["autoCreateTopicEnable".to_string()]);
        assert_eq!(done.at_restart, vec!["fileReservedTime".to_string()]);
        assert!(!rc.auto_create_topic());
        assert_eq!(rc.raw().file_reserved_time_hours, 12);
        // A second update keeps the first one's entries.
        rc.update("deleteWhen=04;16").unwrap();
        let stored = read_overrides(&dir.path().join(RUNTIME_FILE)).unwrap();
        let keys: Vec<&str> = stored.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["autoCreateTopicEnable", "fileReservedTime", "deleteWhen"]);
        // The next start applies them over the file's config.
        let (raw, applied) =
            with_overrides(RawBrokerConfig::default(), &dir.path().join(RUNTIME_FILE)).unwrap();
        assert_eq!(applied.len(), 3);
        assert!(!raw.auto_create_topic_enable);
        assert_eq!(raw.delete_when.0, vec![4, 16]);
        assert_eq!(raw.file_reserved_time_hours, 12);
    }

    #[test]
    fn bad_updates_are_refused_naming_the_key_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let rc = conf(dir.path());
        let refused = |body: &str| rc.update(body).unwrap_err();
        assert_eq!(
            refused("autoCreateTopicEnabel=false"),
            UpdateError::UnknownKey("autoCreateTopicEnabel".into())
        );
        assert_eq!(refused("brokerName=other"), UpdateError::Refused("brokerName".into()));
        assert_eq!(refused(""), UpdateError::Empty);
        assert!(
            matches!(refused("listenPort=abc"), UpdateError::Invalid(e) if e.contains("listenPort"))
        );
        assert!(
            matches!(refused("diskMaxUsedSpaceRatio=99"), UpdateError::Invalid(e) if e.contains("disk_max_used_space_ratio"))
        );
        assert!(
            matches!(refused("enableDLegerCommitLog=true"), UpdateError::Invalid(e) if e.contains("enableDLegerCommitLog"))
        );
        // One bad key refuses the whole body.
        assert!(rc.update("autoCreateTopicEnable=false\nnope=1").is_err());
        assert!(rc.auto_create_topic());
        assert!(!dir.path().join(RUNTIME_FILE).exists());
    }

    #[test]
    fn values_with_separators_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let rc = conf(dir.path());
        rc.update("namesrvAddr=10.0.0.1:9876;10.0.0.2:9876").unwrap();
        let stored = read_overrides(&dir.path().join(RUNTIME_FILE)).unwrap();
        assert_eq!(stored[0].value, "10.0.0.1:9876;10.0.0.2:9876");
    }
}
