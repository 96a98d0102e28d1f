//! JSON bodies, field names exactly as fastjson writes them (PROTOCOL.md §5.8).
//!
//! Structs derive serde with camelCase names; everything optional on the wire is
//! `#[serde(default)]` so bodies from older or newer peers parse. Every field is read through
//! the fastjson-lenient helpers of [`lenient`] (ordinals for enums, numeric strings, `0`/`1`
//! booleans, `null` as absent), so any stock client's body decodes; what we write stays strict
//! and Java-shaped. MessageQueue-keyed maps are written in fastjson's object-key form by hand
//! (see [`queue`]).

#![warn(missing_docs)]

#[macro_use]
pub mod lenient;

pub mod admin;
pub mod heartbeat;
pub mod queue;
pub mod register;
pub mod route;

/// Serializes a body to JSON bytes. Serializing these plain structs cannot fail.
pub fn to_json<T: serde::Serialize>(body: &T) -> Vec<u8> {
    serde_json::to_vec(body).unwrap_or_default()
}

/// Parses a body leniently (standard JSON, or fastjson with bare-number/object keys).
pub fn from_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<T, Box<dyn std::error::Error + Send + Sync>> {
    super::json::from_slice_lenient(bytes)
}

#[cfg(test)]
mod proptests;
