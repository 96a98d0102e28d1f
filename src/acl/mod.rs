//! ACL 1.0 (plain ACL), as stock RocketMQ clients and brokers speak it (ADVANCED.md §1).
//!
//! - [`sign`]: the request signature (HMAC-SHA1 over the sorted ext-field values and the
//!   body) and the client hook that adds `AccessKey` / `Signature` to every request. Compiled
//!   for clients too.
//! - [`address`] and [`plain`] (feature `server`): `plain_acl.yml` accounts, remote-address
//!   patterns and the validation of one request, in Java's order. The broker's request hook
//!   (`broker::acl`) runs it before every processor and owns the hot reload.

#[cfg(feature = "server")]
pub mod address;
#[cfg(feature = "server")]
pub mod plain;
pub mod sign;

pub use sign::{AclRpcHook, SessionCredentials};
