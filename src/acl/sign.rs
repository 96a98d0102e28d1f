//! ACL 1.0 request signatures, as Java's `AclClientRPCHook` and `PlainAccessValidator` compute
//! them (ADVANCED.md §1.1): the values of every ext field except `Signature`, sorted by key in
//! Java's `String.compareTo` order (UTF-16 code units), concatenated as UTF-8, then the body;
//! HMAC-SHA1 with the secret key; standard Base64 with padding.
//!
//! Pure: bytes in, a signature out. The client's [`AclRpcHook`] signs every request this way
//! before it is encoded; the broker's validator recomputes the content over what it received.

use std::cmp::Ordering;
use std::fmt;

use base64::Engine;
use hmac::{KeyInit, Mac};
use rocketmq_net::{RemotingCommand, RpcHook};

/// Ext-field keys of a signed request (case-sensitive, as Java's `SessionCredentials`).
pub const ACCESS_KEY: &str = "AccessKey";
/// The Base64 HMAC of the content.
pub const SIGNATURE: &str = "Signature";
/// Sent only when the credentials carry one; signed like every other field.
pub const SECURITY_TOKEN: &str = "SecurityToken";

type HmacSha1 = hmac::Hmac<sha1::Sha1>;

/// An account's access key and secret (and an optional security token).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionCredentials {
    /// The account id, sent with every request.
    pub access_key: String,
    /// The key of the HMAC; never sent, never logged.
    pub secret_key: String,
    /// Sent as `SecurityToken` when set.
    pub security_token: Option<String>,
}

impl SessionCredentials {
    /// Credentials without a security token.
    pub fn new(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self { access_key: access_key.into(), secret_key: secret_key.into(), security_token: None }
    }
}

// The secret never reaches a log line through `{:?}`.
impl fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCredentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"***")
            .field("security_token", &self.security_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Java's `String.compareTo`: lexicographic over UTF-16 code units (for ASCII, byte order).
pub fn java_key_order(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.as_bytes().cmp(b.as_bytes());
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// The fields that are signed, in signing order: `Signature` (and any key `skip` names) left
/// out, sorted by key as Java sorts strings.
fn signed_fields<'a>(
    fields: impl Iterator<Item = (&'a str, &'a str)>,
    skip: &dyn Fn(&str) -> bool,
) -> Vec<(&'a str, &'a str)> {
    let mut sorted: Vec<(&str, &str)> =
        fields.filter(|(k, _)| *k != SIGNATURE && !skip(k)).collect();
    // Keys are ASCII in practice: byte order is Java's order then, and cheaper to compare.
    if sorted.iter().all(|(k, _)| k.is_ascii()) {
        sorted.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    } else {
        sorted.sort_by(|a, b| java_key_order(a.0, b.0));
    }
    sorted
}

/// The signed content: values sorted by key, `Signature` (and any key `skip` names) left out,
/// then the body. (Signing feeds the same bytes to the HMAC without building this buffer.)
pub fn content<'a>(
    fields: impl Iterator<Item = (&'a str, &'a str)>,
    body: &[u8],
    skip: &dyn Fn(&str) -> bool,
) -> Vec<u8> {
    let sorted = signed_fields(fields, skip);
    let len = sorted.iter().map(|(_, v)| v.len()).sum::<usize>() + body.len();
    let mut out = Vec::with_capacity(len);
    for (_, value) in sorted {
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(body);
    assert_eq!(out.len(), len, "the content is the values and the body, nothing else");
    out
}

/// A secret key with its HMAC state prepared once (the inner and outer pads are hashed at
/// construction, so each signature costs only the content's blocks).
#[derive(Clone)]
pub struct SigningKey(HmacSha1);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// The key for `secret`.
    pub fn new(secret: &str) -> Self {
        Self(mac(secret))
    }

    fn mac_of<'a>(
        &self,
        fields: impl Iterator<Item = (&'a str, &'a str)>,
        body: &[u8],
        skip: &dyn Fn(&str) -> bool,
    ) -> HmacSha1 {
        let mut m = self.0.clone();
        for (_, value) in signed_fields(fields, skip) {
            m.update(value.as_bytes());
        }
        m.update(body);
        m
    }

    /// The signature of a request's fields and body.
    pub fn sign<'a>(
        &self,
        fields: impl Iterator<Item = (&'a str, &'a str)>,
        body: &[u8],
    ) -> String {
        let tag = self.mac_of(fields, body, &|_| false).finalize().into_bytes();
        base64::engine::general_purpose::STANDARD.encode(tag)
    }

    /// Whether `sent` signs these fields and body, compared in constant time.
    pub fn verify<'a>(
        &self,
        fields: impl Iterator<Item = (&'a str, &'a str)>,
        body: &[u8],
        skip: &dyn Fn(&str) -> bool,
        sent: &str,
    ) -> bool {
        let Ok(tag) = base64::engine::general_purpose::STANDARD.decode(sent.trim()) else {
            return false;
        };
        self.mac_of(fields, body, skip).verify_slice(&tag).is_ok()
    }
}

fn mac(secret: &str) -> HmacSha1 {
    // HMAC takes a key of any length.
    <HmacSha1 as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length")
}

/// Base64(HMAC-SHA1(secret, content)).
pub fn signature(secret: &str, content: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(content);
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

/// Signs every request a client sends (ACL 1.0), as Java's `AclClientRPCHook`.
#[derive(Debug, Clone)]
pub struct AclRpcHook {
    credentials: SessionCredentials,
    key: SigningKey,
}

impl AclRpcHook {
    /// A hook signing with `credentials`.
    pub fn new(credentials: SessionCredentials) -> Self {
        let key = SigningKey::new(&credentials.secret_key);
        Self { credentials, key }
    }
}

impl RpcHook for AclRpcHook {
    fn before_request(&self, _addr: &str, request: &mut RemotingCommand) {
        let c = &self.credentials;
        request.ext_fields.insert(ACCESS_KEY, &c.access_key);
        if let Some(token) = &c.security_token {
            request.ext_fields.insert(SECURITY_TOKEN, token);
        }
        let sig = self.key.sign(request.ext_fields.iter(), &request.body);
        request.ext_fields.insert(SIGNATURE, sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(fields: &[(&str, &str)], body: &[u8]) -> (Vec<u8>, String) {
        let c = content(fields.iter().copied(), body, &|_| false);
        let s = signature("12345678", &c);
        (c, s)
    }

    #[test]
    fn vector_a_no_body() {
        let fields = [
            ("topic", "TopicTest"),
            ("AccessKey", "rocketmq2"),
            ("queueId", "0"),
            ("bname", "broker-a"),
            ("consumerGroup", "GID_test"),
            ("commitOffset", "1024"),
        ];
        let (c, s) = sign(&fields, b"");
        assert_eq!(c, b"rocketmq2broker-a1024GID_test0TopicTest");
        assert_eq!(s, "SFUihdL+Et6t1RpTqWKXQTO20Pg=");
        // The prepared key signs the fields without building the content.
        let key = SigningKey::new("12345678");
        assert_eq!(key.sign(fields.iter().copied(), b""), s);
        assert!(key.verify(fields.iter().copied(), b"", &|_| false, &s));
        assert!(!key.verify(fields.iter().copied(), b"x", &|_| false, &s));
        let wrong = SigningKey::new("12345679");
        assert!(!wrong.verify(fields.iter().copied(), b"", &|_| false, &s));
        let tampered = fields.map(|(k, v)| if k == "queueId" { (k, "1") } else { (k, v) });
        assert!(!key.verify(tampered.iter().copied(), b"", &|_| false, &s));
        assert!(!key.verify(fields.iter().copied(), b"", &|_| false, "not base64!"));
    }

    #[test]
    fn vector_b_body_token_and_control_characters() {
        let props = "KEYS\u{1}order-1\u{2}TAGS\u{1}tagA\u{2}WAIT\u{1}true\u{2}";
        let fields = [
            ("n", "broker-a"),
            ("AccessKey", "rocketmq2"),
            ("SecurityToken", "tok-1"),
            ("a", "PG_test"),
            ("b", "TopicTest"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "1"),
            ("f", "0"),
            ("g", "1700000000000"),
            ("h", "0"),
            ("i", props),
            ("j", "0"),
            ("k", "false"),
            ("m", "false"),
            ("Signature", "ignored"),
        ];
        let (c, s) = sign(&fields, b"Hello");
        let hex: String = c.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(c.len(), 110);
        assert_eq!(
            hex,
            "726f636b65746d7132746f6b2d3150475f74657374546f7069635465737454425731303234313031373030\
             303030303030303030304b455953016f726465722d310254414753017461674102574149540174727565\
             023066616c736566616c736562726f6b65722d6148656c6c6f"
        );
        assert_eq!(s, "Q1HGcmlmlzeLta/6JEd9wusChhM=");
        assert_eq!(SigningKey::new("12345678").sign(fields.iter().copied(), b"Hello"), s);
    }

    #[test]
    fn keys_sort_as_java_strings_do() {
        assert_eq!(java_key_order("AccessKey", "a"), Ordering::Less);
        assert_eq!(java_key_order("SecurityToken", "a"), Ordering::Less);
        // U+FF21 (one UTF-16 unit) sorts before U+1F600 (a surrogate pair, 0xD83D...) in
        // Java, though its UTF-8 bytes sort after.
        assert_eq!(java_key_order("\u{FF21}", "\u{1F600}"), Ordering::Greater);
        assert_eq!(java_key_order("\u{E000}", "\u{1F600}"), Ordering::Greater);
    }

    #[test]
    fn the_hook_signs_what_the_validator_recomputes() {
        let hook = AclRpcHook::new(SessionCredentials {
            access_key: "rocketmq2".into(),
            secret_key: "12345678".into(),
            security_token: Some("tok".into()),
        });
        let mut cmd = RemotingCommand::request(15).with_body(b"xyz".to_vec());
        cmd.ext_fields.insert("topic", "T");
        hook.before_request("127.0.0.1:10911", &mut cmd);
        assert_eq!(cmd.ext_fields.get(ACCESS_KEY), Some("rocketmq2"));
        assert_eq!(cmd.ext_fields.get(SECURITY_TOKEN), Some("tok"));
        let sent = cmd.ext_fields.get(SIGNATURE).unwrap().to_string();
        let again = content(cmd.ext_fields.iter(), &cmd.body, &|_| false);
        assert_eq!(again, b"rocketmq2tokTxyz");
        let key = SigningKey::new("12345678");
        assert!(key.verify(cmd.ext_fields.iter(), &cmd.body, &|_| false, &sent));
        let shown = format!("{:?}", hook);
        assert!(!shown.contains("12345678"), "{shown}");
    }
}
