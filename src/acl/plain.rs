//! ACL 1.0 on the broker: accounts from `plain_acl.yml` files and the validation of one request,
//! in the order of Java's `PlainPermissionManager.validate` (ADVANCED.md §1.2): global white
//! list, access key, account, the account's white address, signature, the trace-topic
//! exception, admin codes, then each resource the request code needs.
//!
//! Pure apart from [`PlainAcl::load_files`]: the broker's hook owns the loaded value and
//! replaces it when a file changes (`broker::acl`).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rocketmq_net::protocol::ExtFields;
use yaml_rust2::{Yaml, YamlLoader};

use super::address::AddrPattern;
use super::sign::{self, ACCESS_KEY, SIGNATURE};
use crate::protocol::body::from_json;
use crate::protocol::body::heartbeat::HeartbeatData;
use crate::protocol::constants::RETRY_GROUP_TOPIC_PREFIX;

/// Permission bits (Java's `Permission`).
pub mod perm {
    /// Denied (wins over every other bit).
    pub const DENY: u8 = 1;
    /// Either PUB or SUB (only ever needed, never granted).
    pub const ANY: u8 = 2;
    /// Produce.
    pub const PUB: u8 = 4;
    /// Consume.
    pub const SUB: u8 = 8;

    /// `PUB`, `SUB`, `PUB|SUB`, `SUB|PUB`, `DENY`; anything else is DENY, as in Java.
    pub fn parse(s: &str) -> u8 {
        match s.trim() {
            "PUB" => PUB,
            "SUB" => SUB,
            "PUB|SUB" | "SUB|PUB" => PUB | SUB,
            _ => DENY,
        }
    }

    /// Java's `checkPermission(needed, owned)`.
    pub fn allows(needed: u8, owned: u8) -> bool {
        if owned & DENY != 0 {
            return false;
        }
        if needed & ANY != 0 {
            return owned & (PUB | SUB) != 0;
        }
        needed & owned != 0
    }
}

/// Request codes only an admin account may send (Java's `Permission.ADMIN_CODE`).
pub const ADMIN_CODES: &[i32] = &[17, 25, 215, 200, 207, 513, 50, 51, 52];

/// The trace topic: PUB to it skips the permission check (Java's exception for trace data).
pub const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";

/// One account of a `plain_acl.yml`.
#[derive(Clone)]
pub struct Account {
    /// The secret's prepared HMAC state (the secret itself is not kept).
    pub key: sign::SigningKey,
    /// Requests from here skip the signature and the permissions.
    pub white_remote_address: AddrPattern,
    /// Every permission granted.
    pub admin: bool,
    /// For topics without their own entry.
    pub default_topic_perm: u8,
    /// For groups without their own entry.
    pub default_group_perm: u8,
    /// Topic name, or `%RETRY%group`, to its permission.
    pub resources: HashMap<String, u8>,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("admin", &self.admin)
            .field("resources", &self.resources.len())
            .finish()
    }
}

/// Every account and the global white list, from one or more files.
#[derive(Debug, Clone, Default)]
pub struct PlainAcl {
    /// Requests from these addresses skip every check.
    pub global_white: Vec<AddrPattern>,
    /// Access key to account.
    pub accounts: HashMap<String, Account>,
}

/// Why a file does not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file (or `<text>`).
    pub file: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

/// Why a request is refused; the text is Java's `AclException` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The request carries no access key and its address is not white-listed.
    NoAccessKey,
    /// No account has this access key.
    UnknownAccessKey(String),
    /// The signature is missing or wrong.
    BadSignature(String),
    /// An admin request code from a non-admin account.
    NeedAdmin { code: i32, access_key: String },
    /// An explicit entry denies the resource.
    NoPermission { resource: String },
    /// The default permission denies the resource.
    NoDefaultPermission { resource: String },
}

impl Denied {
    /// The resource or account the refusal is about (for the log line).
    pub fn subject(&self) -> &str {
        match self {
            Self::NoAccessKey => "-",
            Self::UnknownAccessKey(k) | Self::BadSignature(k) => k,
            Self::NeedAdmin { access_key, .. } => access_key,
            Self::NoPermission { resource } | Self::NoDefaultPermission { resource } => resource,
        }
    }
}

/// `topic:T` or `group:G` as Java names a resource in its messages.
fn shown(resource: &str) -> String {
    match resource.strip_prefix(RETRY_GROUP_TOPIC_PREFIX) {
        Some(group) => format!("group:{group}"),
        None => format!("topic:{resource}"),
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoAccessKey => f.write_str("No accessKey is configured"),
            Self::UnknownAccessKey(k) => write!(f, "No acl config for {k}"),
            Self::BadSignature(k) => write!(f, "Check signature failed for accessKey={k}"),
            Self::NeedAdmin { code, access_key } => write!(
                f,
                "Need admin permission for request code={code}, but accessKey={access_key} is not"
            ),
            Self::NoPermission { resource } => write!(f, "No permission for {}", shown(resource)),
            Self::NoDefaultPermission { resource } => {
                write!(f, "No default permission for {}", shown(resource))
            }
        }
    }
}

/// What one request asks to be checked.
#[derive(Debug)]
pub struct Request<'a> {
    /// The request code.
    pub code: i32,
    /// The sender's RocketMQ version number (old ones did not sign `_UNIQUE_KEY_QUERY`).
    pub version: i32,
    /// The peer's IP.
    pub remote: IpAddr,
    /// Ext fields as received.
    pub ext: &'a ExtFields,
    /// The body as received.
    pub body: &'a [u8],
}

/// Java's `MQVersion.Version.V4_9_3.ordinal()` (PROTOCOL.md §2.4: V4_9_0 = 393, V4_9_4 = 401).
const V4_9_3: i32 = 399;

impl PlainAcl {
    /// Parses one file's text; `file` names it in errors. Accounts already in `self` win over
    /// later ones with the same access key, as in Java (a warning is returned for each).
    pub fn add_yaml(&mut self, file: &str, text: &str) -> Result<Vec<String>, LoadError> {
        let err = |message: String| LoadError { file: file.to_string(), message };
        let docs = YamlLoader::load_from_str(text).map_err(|e| err(e.to_string()))?;
        let Some(doc) = docs.first() else { return Ok(Vec::new()) };
        for p in list(&doc["globalWhiteRemoteAddresses"]) {
            self.global_white.push(AddrPattern::parse(&p).map_err(|e| err(e.to_string()))?);
        }
        let mut warnings = Vec::new();
        let accounts = match &doc["accounts"] {
            Yaml::Array(a) => a.as_slice(),
            Yaml::BadValue | Yaml::Null => &[],
            _ => return Err(err("`accounts` is not a list".into())),
        };
        for a in accounts {
            let (key, account) = account(a).map_err(err)?;
            if self.accounts.contains_key(&key) {
                warnings.push(format!("{file}: accessKey {key} is already defined; ignored"));
                continue;
            }
            self.accounts.insert(key, account);
        }
        Ok(warnings)
    }

    /// Loads `files` in order (a missing one is an error: the caller lists existing files).
    pub fn load_files(files: &[PathBuf]) -> Result<(Self, Vec<String>), LoadError> {
        let mut acl = Self::default();
        let mut warnings = Vec::new();
        for f in files {
            let shown = f.display().to_string();
            let text = std::fs::read_to_string(f)
                .map_err(|e| LoadError { file: shown.clone(), message: e.to_string() })?;
            warnings.extend(acl.add_yaml(&shown, &text)?);
        }
        Ok((acl, warnings))
    }

    /// Checks one request (Java's `PlainPermissionManager.validate`).
    pub fn validate(&self, req: &Request<'_>) -> Result<(), Denied> {
        if self.global_white.iter().any(|p| p.matches(req.remote)) {
            return Ok(());
        }
        let Some(access_key) = req.ext.get(ACCESS_KEY) else {
            return Err(Denied::NoAccessKey);
        };
        let Some(account) = self.accounts.get(access_key) else {
            return Err(Denied::UnknownAccessKey(access_key.to_string()));
        };
        if account.white_remote_address.matches(req.remote) {
            return Ok(());
        }
        let old = req.version <= V4_9_3;
        let skip = move |k: &str| old && k == "_UNIQUE_KEY_QUERY";
        let signed = req
            .ext
            .get(SIGNATURE)
            .is_some_and(|s| account.key.verify(req.ext.iter(), req.body, &skip, s));
        if !signed {
            return Err(Denied::BadSignature(access_key.to_string()));
        }
        let needed = resources(req.code, req.ext, req.body);
        if needed.len() == 1 && needed[0] == (TRACE_TOPIC.to_string(), perm::PUB) {
            return Ok(());
        }
        if account.admin {
            return Ok(());
        }
        if ADMIN_CODES.contains(&req.code) {
            return Err(Denied::NeedAdmin { code: req.code, access_key: access_key.to_string() });
        }
        for (resource, want) in needed {
            check_resource(account, &resource, want)?;
        }
        Ok(())
    }
}

fn check_resource(account: &Account, resource: &str, want: u8) -> Result<(), Denied> {
    if let Some(&owned) = account.resources.get(resource) {
        if perm::allows(want, owned) {
            return Ok(());
        }
        return Err(Denied::NoPermission { resource: resource.to_string() });
    }
    let default = if resource.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
        account.default_group_perm
    } else {
        account.default_topic_perm
    };
    if perm::allows(want, default) {
        Ok(())
    } else {
        Err(Denied::NoDefaultPermission { resource: resource.to_string() })
    }
}

/// The (resource, permission) pairs a request code needs (Java's `PlainAccessResource.parse`).
pub fn resources(code: i32, ext: &ExtFields, body: &[u8]) -> Vec<(String, u8)> {
    let retry = |group: &str| format!("{RETRY_GROUP_TOPIC_PREFIX}{group}");
    let topic_perm = |t: &str| {
        let p = if t.starts_with(RETRY_GROUP_TOPIC_PREFIX) { perm::SUB } else { perm::PUB };
        (t.to_string(), p)
    };
    let field = |k: &str| ext.get(k).unwrap_or_default();
    match code {
        10 => vec![topic_perm(field("topic"))],
        310 | 320 => vec![topic_perm(field("b"))],
        370 => vec![(field("topic").to_string(), perm::PUB)],
        36 => vec![(retry(field("group")), perm::SUB)],
        11 => vec![
            (field("topic").to_string(), perm::SUB),
            (retry(field("consumerGroup")), perm::SUB),
        ],
        12 => vec![(field("topic").to_string(), perm::SUB)],
        34 => heartbeat_resources(body),
        35 | 38 => vec![(retry(field("consumerGroup")), perm::SUB)],
        15 => vec![
            (retry(field("consumerGroup")), perm::SUB),
            (field("topic").to_string(), perm::SUB),
        ],
        _ => Vec::new(),
    }
}

/// Every consumer group of a heartbeat (as its retry topic) and every topic it subscribes.
fn heartbeat_resources(body: &[u8]) -> Vec<(String, u8)> {
    let Ok(hb) = from_json::<HeartbeatData>(body) else {
        // A body that does not decode asks for nothing here; the processor refuses it.
        return Vec::new();
    };
    let mut out = Vec::new();
    for c in &hb.consumer_data_set {
        out.push((format!("{RETRY_GROUP_TOPIC_PREFIX}{}", c.group_name), perm::SUB));
        for s in &c.subscription_data_set {
            out.push((s.topic.clone(), perm::SUB));
        }
    }
    out
}

/// A scalar as SnakeYAML would put it in a String field (`12345678` is a number in YAML).
fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(n) => Some(n.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn list(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(items) => items.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

fn account(a: &Yaml) -> Result<(String, Account), String> {
    let key = scalar(&a["accessKey"]).unwrap_or_default();
    let secret = scalar(&a["secretKey"]).unwrap_or_default();
    // Java: "The accessKey=… cannot be null and length should longer than 6".
    if key.len() <= 6 {
        return Err(format!("accessKey {key:?}: must be longer than 6 characters"));
    }
    if secret.len() <= 6 {
        return Err(format!("accessKey {key}: secretKey must be longer than 6 characters"));
    }
    let white = scalar(&a["whiteRemoteAddress"]).unwrap_or_default();
    let white = AddrPattern::parse(&white).map_err(|e| format!("accessKey {key}: {e}"))?;
    let admin = match &a["admin"] {
        Yaml::Boolean(b) => *b,
        other => scalar(other).is_some_and(|s| s.eq_ignore_ascii_case("true")),
    };
    let mut resources = HashMap::new();
    for (field, prefix) in [("topicPerms", ""), ("groupPerms", RETRY_GROUP_TOPIC_PREFIX)] {
        for item in list(&a[field]) {
            let parts: Vec<&str> = item.split('=').collect();
            let [name, p] = parts.as_slice() else {
                let kind = if prefix.is_empty() { "topic" } else { "group" };
                return Err(format!("Parse resource permission failed for {kind}:{item}"));
            };
            resources.insert(format!("{prefix}{}", name.trim()), perm::parse(p));
        }
    }
    let perm_of = |k: &str| scalar(&a[k]).map_or(perm::DENY, |s| perm::parse(&s));
    let account = Account {
        key: sign::SigningKey::new(&secret),
        white_remote_address: white,
        admin,
        default_topic_perm: perm_of("defaultTopicPerm"),
        default_group_perm: perm_of("defaultGroupPerm"),
        resources,
    };
    Ok((key, account))
}

/// The ACL files of a broker: `main`, then every `*.yml` / `*.yaml` under `extra_dir`
/// (recursively, sorted, `tools.yml` excluded), as Java loads them.
pub fn acl_files(main: &Path, extra_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut files = vec![main.to_path_buf()];
    if let Some(dir) = extra_dir {
        let mut found = Vec::new();
        collect_yaml(dir, &mut found);
        found.sort();
        files.extend(found.into_iter().filter(|f| f != main));
    }
    files
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            collect_yaml(&path, out);
        } else if path.extension().is_some_and(|x| x == "yml" || x == "yaml")
            && path.file_name().is_some_and(|n| n != "tools.yml")
        {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::address::v4;
    use super::*;

    /// The shipped example of Java's distribution.
    const JAVA_EXAMPLE: &str = "\
globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.*

accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
    groupPerms:
      # the group should convert to retry topic
      - groupA=DENY
      - groupB=PUB|SUB
      - groupC=SUB

  - accessKey: rocketmq2
    secretKey: 12345678
    whiteRemoteAddress: 192.168.1.*
    # if it is admin, it could access all resources
    admin: true
";

    fn acl() -> PlainAcl {
        let mut acl = PlainAcl::default();
        assert!(acl.add_yaml("plain_acl.yml", JAVA_EXAMPLE).unwrap().is_empty());
        acl
    }

    fn signed(ak: &str, secret: &str, fields: &[(&str, &str)], body: &[u8]) -> ExtFields {
        let mut ext = ExtFields::new();
        ext.insert(ACCESS_KEY, ak);
        for (k, v) in fields {
            ext.insert(k, v);
        }
        let content = sign::content(ext.iter(), body, &|_| false);
        ext.insert(SIGNATURE, sign::signature(secret, &content));
        ext
    }

    fn check(
        acl: &PlainAcl,
        code: i32,
        remote: IpAddr,
        ext: &ExtFields,
        body: &[u8],
    ) -> Result<(), Denied> {
        acl.validate(&Request { code, version: 453, remote, ext, body })
    }

    const CLIENT: fn() -> IpAddr = || v4(172, 16, 0, 9);

    #[test]
    fn the_java_example_loads() {
        let acl = acl();
        assert_eq!(acl.global_white.len(), 2);
        let a = &acl.accounts["RocketMQ"];
        let probe = [("topic", "T")];
        let signed_with_secret =
            sign::signature("12345678", &sign::content(probe.into_iter(), b"", &|_| false));
        assert_eq!(a.key.sign(probe.into_iter(), b""), signed_with_secret, "secretKey 12345678");
        assert!(!a.admin && a.white_remote_address == AddrPattern::Blank);
        assert_eq!((a.default_topic_perm, a.default_group_perm), (perm::DENY, perm::SUB));
        assert_eq!(a.resources["topicB"], perm::PUB | perm::SUB);
        assert_eq!(a.resources["%RETRY%groupA"], perm::DENY);
        assert!(acl.accounts["rocketmq2"].admin);
        let shown = format!("{acl:?}");
        assert!(!shown.contains("12345678"), "{shown}");
    }

    #[test]
    fn send_and_pull_need_their_topic_and_group_permissions() {
        let acl = acl();
        let send = |topic: &str| signed("RocketMQ", "12345678", &[("b", topic), ("a", "PG")], b"x");
        assert_eq!(check(&acl, 310, CLIENT(), &send("topicB"), b"x"), Ok(()));
        assert_eq!(
            check(&acl, 310, CLIENT(), &send("topicC"), b"x"),
            Err(Denied::NoPermission { resource: "topicC".into() })
        );
        assert_eq!(
            check(&acl, 310, CLIENT(), &send("other"), b"x"),
            Err(Denied::NoDefaultPermission { resource: "other".into() })
        );
        let pull = |topic: &str, group: &str| {
            signed("RocketMQ", "12345678", &[("topic", topic), ("consumerGroup", group)], b"")
        };
        assert_eq!(check(&acl, 11, CLIENT(), &pull("topicC", "groupC"), b""), Ok(()));
        // groupX falls back to defaultGroupPerm SUB; groupA is denied outright.
        assert_eq!(check(&acl, 11, CLIENT(), &pull("topicC", "groupX"), b""), Ok(()));
        let err = check(&acl, 11, CLIENT(), &pull("topicC", "groupA"), b"").unwrap_err();
        assert_eq!(err.to_string(), "No permission for group:groupA");
    }

    #[test]
    fn authentication_refusals_in_javas_order() {
        let acl = acl();
        let none = ExtFields::new();
        assert_eq!(check(&acl, 10, CLIENT(), &none, b""), Err(Denied::NoAccessKey));
        assert_eq!(check(&acl, 10, v4(10, 10, 103, 7), &none, b""), Ok(()), "global white list");
        let unknown = signed("nobody-at-all", "12345678", &[], b"");
        assert_eq!(
            check(&acl, 10, CLIENT(), &unknown, b""),
            Err(Denied::UnknownAccessKey("nobody-at-all".into()))
        );
        let wrong = signed("RocketMQ", "87654321", &[("topic", "topicB")], b"");
        let err = check(&acl, 10, CLIENT(), &wrong, b"").unwrap_err();
        assert_eq!(err.to_string(), "Check signature failed for accessKey=RocketMQ");
        // A body or field changed after signing.
        let good = signed("RocketMQ", "12345678", &[("topic", "topicB")], b"body");
        assert!(check(&acl, 10, CLIENT(), &good, b"body").is_ok());
        assert!(check(&acl, 10, CLIENT(), &good, b"bodY").is_err());
        let mut tampered = good.clone();
        tampered.insert("topic", "topicA");
        assert!(matches!(
            check(&acl, 10, CLIENT(), &tampered, b"body"),
            Err(Denied::BadSignature(_))
        ));
        let mut unsigned = good.clone();
        unsigned.remove(SIGNATURE);
        assert!(matches!(
            check(&acl, 10, CLIENT(), &unsigned, b"body"),
            Err(Denied::BadSignature(_))
        ));
        // The account's white address skips the signature and the permissions.
        let admin_unsigned = {
            let mut e = ExtFields::new();
            e.insert(ACCESS_KEY, "rocketmq2");
            e
        };
        assert_eq!(check(&acl, 17, v4(192, 168, 1, 5), &admin_unsigned, b""), Ok(()));
        assert!(check(&acl, 17, CLIENT(), &admin_unsigned, b"").is_err());
    }

    #[test]
    fn admin_codes_need_an_admin_and_trace_sends_pass() {
        let acl = acl();
        let plain = signed("RocketMQ", "12345678", &[("topic", "T")], b"");
        let err = check(&acl, 17, CLIENT(), &plain, b"").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Need admin permission for request code=17, but accessKey=RocketMQ is not"
        );
        let admin = signed("rocketmq2", "12345678", &[("topic", "T")], b"");
        assert_eq!(check(&acl, 17, CLIENT(), &admin, b""), Ok(()));
        let trace = signed("RocketMQ", "12345678", &[("b", TRACE_TOPIC)], b"t");
        assert_eq!(check(&acl, 310, CLIENT(), &trace, b"t"), Ok(()));
    }

    #[test]
    fn heartbeats_need_every_group_and_topic() {
        let body = br#"{"clientID":"c","consumerDataSet":[{"groupName":"groupC","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionDataSet":[{"topic":"topicC","subString":"*"},{"topic":"topicA","subString":"*"}]}],"producerDataSet":[]}"#;
        let needed = resources(34, &ExtFields::new(), body);
        assert_eq!(
            needed,
            vec![
                ("%RETRY%groupC".to_string(), perm::SUB),
                ("topicC".to_string(), perm::SUB),
                ("topicA".to_string(), perm::SUB)
            ]
        );
        let acl = acl();
        let ext = signed("RocketMQ", "12345678", &[], body);
        assert_eq!(
            check(&acl, 34, CLIENT(), &ext, body),
            Err(Denied::NoPermission { resource: "topicA".into() })
        );
    }

    #[test]
    fn bad_files_name_the_problem() {
        let mut acl = PlainAcl::default();
        let short = "accounts:\n  - accessKey: abc\n    secretKey: 12345678\n";
        assert!(acl.add_yaml("f.yml", short).unwrap_err().message.contains("longer than 6"));
        let item = "accounts:\n  - accessKey: abcdefg\n    secretKey: 12345678\n    topicPerms:\n      - t=PUB=SUB\n";
        let e = acl.add_yaml("f.yml", item).unwrap_err();
        assert_eq!(e.to_string(), "f.yml: Parse resource permission failed for topic:t=PUB=SUB");
        assert!(acl.add_yaml("f.yml", "accounts: [").is_err());
        // A second definition of an access key is ignored with a warning.
        let one = "accounts:\n  - accessKey: abcdefg\n    secretKey: 12345678\n";
        let mut acl = PlainAcl::default();
        assert!(acl.add_yaml("a.yml", one).unwrap().is_empty());
        assert_eq!(acl.add_yaml("b.yml", one).unwrap().len(), 1);
    }

    #[test]
    fn perm_bits_follow_java() {
        assert!(perm::allows(perm::PUB, perm::PUB | perm::SUB));
        assert!(!perm::allows(perm::PUB, perm::SUB));
        assert!(!perm::allows(perm::SUB, perm::DENY | perm::SUB));
        assert!(perm::allows(perm::ANY, perm::SUB) && !perm::allows(perm::ANY, perm::DENY));
        assert_eq!(perm::parse("SUB|PUB"), perm::PUB | perm::SUB);
        assert_eq!(perm::parse("READ"), perm::DENY);
    }
}
