//! `namesrv.properties`: the Java nameserver's keys (NamesrvConfig and NettyServerConfig field
//! names) mapped onto [`RawNamesrvConfig`], with Java's units converted.

use serde_json::Value;

use super::config::RawNamesrvConfig;
use crate::config::properties::{self, parse_int, JavaKey, JavaKind};
use crate::config::JavaKeys;

use JavaKind::{Convert, Int, Str};

impl JavaKeys for RawNamesrvConfig {
    const JAVA_KEYS: &'static [JavaKey] = NAMESRV_KEYS;
}

/// The nameserver's Java keys.
pub const NAMESRV_KEYS: &[JavaKey] = &[
    JavaKey::mapped("listenPort", "listen_port", Int),
    JavaKey::mapped("bindAddress", "bind_address", Str),
    JavaKey::mapped("serverWorkerThreads", "worker_threads", Int),
    JavaKey::mapped("defaultThreadPoolNums", "worker_threads", Int),
    JavaKey::mapped("serverChannelMaxIdleTimeSeconds", "idle_timeout_ms", Convert(seconds_to_ms)),
    // Ours (Java has no per-address limit), spelled as a Java key so the file can set it.
    JavaKey::mapped("connectionsPerAddressMax", "connections_per_address_max", Int),
    JavaKey::mapped("scanNotActiveBrokerInterval", "scan_interval_ms", Int),
    JavaKey::mapped("kvConfigPath", "kv_config_path", Str),
    JavaKey::ignored("rocketmqHome", "the nameserver needs no installation directory"),
    JavaKey::ignored("configStorePath", "the nameserver's own config is this file"),
    JavaKey::ignored("productEnvName", "environment names are not used"),
    JavaKey::ignored("clusterTest", "cluster test routes are not supported"),
    JavaKey::ignored("orderMessageEnable", "order configs are not kept by the nameserver"),
    JavaKey::ignored("serverSelectorThreads", "net-io is one thread"),
    JavaKey::ignored("serverCallbackExecutorThreads", "net-io is one thread"),
    JavaKey::ignored("clientRequestThreadPoolNums", "one worker pool serves every request"),
    JavaKey::ignored("enableControllerInNamesrv", "the controller is not built yet"),
];

/// The raw config as Java's `key=value` pairs, in Java's units (`nameserver -p`).
pub fn java_properties(raw: &RawNamesrvConfig) -> Vec<(String, String)> {
    properties::java_properties(raw, NAMESRV_KEYS, |ours, value| {
        (ours == "idle_timeout_ms").then(|| (value.as_u64().unwrap_or(0) / 1000).to_string())
    })
}

fn seconds_to_ms(value: &str) -> Result<Value, String> {
    let secs = parse_int(value)?.as_u64().ok_or("expected a positive number of seconds")?;
    Ok(Value::from(secs.saturating_mul(1000)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::{into_raw, map_properties, parse};

    #[test]
    fn java_namesrv_properties_load() {
        let text = "listenPort=9877\nrocketmqHome=/opt/rocketmq\nkvConfigPath=/data/kv.json\n\
                    serverWorkerThreads=4\nscanNotActiveBrokerInterval=10000\n";
        let props = parse(text).unwrap();
        let mapped = map_properties("namesrv.properties", &props, NAMESRV_KEYS).unwrap();
        assert_eq!(mapped.warnings.len(), 1, "{:?}", mapped.warnings);
        let raw: RawNamesrvConfig = into_raw("namesrv.properties", mapped.fields).unwrap();
        assert_eq!(raw.listen_port, 9877);
        assert_eq!(raw.worker_threads, 4);
        assert_eq!(raw.scan_interval_ms, 10_000);
        assert_eq!(raw.kv_config_path, Some(std::path::PathBuf::from("/data/kv.json")));
    }

    #[test]
    fn every_key_is_in_the_operators_table() {
        let doc = include_str!("../../docs/CONFIG.md");
        for key in NAMESRV_KEYS {
            assert!(doc.contains(&format!("| `{}` |", key.java)), "{} missing", key.java);
        }
    }
}
