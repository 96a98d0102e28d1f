//! The nameserver's error model: [`RouteError`] for broker registration and route lookups,
//! [`KvError`] for the KV config, and the one function, [`code_and_remark`], that maps a
//! [`NamesrvError`] to the response code and remark a client sees. Handlers return these;
//! only the processor's dispatch turns them into responses.

use rocketmq_net::{HeaderError, RemotingCommand, ResponseCode};

/// A JSON body that did not decode (the decoder's own error).
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// REGISTER_BROKER and route lookups.
#[derive(Debug)]
#[non_exhaustive]
pub enum RouteError {
    /// A zlib-compressed registration body (not supported).
    CompressedBody,
    /// The body's CRC32 differs from the header's `bodyCrc32`.
    // The fields are for logs (Debug); the stock remark does not name them.
    #[allow(dead_code)]
    BodyCrcMismatch {
        /// The header's value.
        expected: i32,
        /// The CRC of the body received.
        actual: i32,
    },
    /// The RegisterBrokerBody does not decode.
    BadBody(BodyError),
    /// No broker serves the topic.
    TopicRouteNotExist {
        /// The topic.
        topic: String,
    },
    /// Another live broker holds this broker name and id.
    BrokerNameTaken {
        /// The name registered.
        broker_name: String,
        /// The id registered.
        broker_id: i64,
        /// Where the live holder is.
        live_addr: String,
    },
}

/// KV config calls.
#[derive(Debug)]
#[non_exhaustive]
pub enum KvError {
    /// No value for the key.
    KeyNotFound {
        /// The namespace.
        namespace: String,
        /// The key.
        key: String,
    },
    /// The namespace is empty or unknown.
    NamespaceNotFound {
        /// The namespace.
        namespace: String,
    },
    /// The KV file could not be written.
    Persist(std::io::Error),
}

/// Any failure the nameserver answers.
#[derive(Debug)]
#[non_exhaustive]
pub enum NamesrvError {
    /// The request header does not decode.
    BadHeader(HeaderError),
    /// Registration and routes.
    Route(RouteError),
    /// KV config.
    Kv(KvError),
    /// A request code the nameserver does not handle.
    RequestNotSupported {
        /// The code.
        code: i32,
    },
}

impl From<HeaderError> for NamesrvError {
    fn from(e: HeaderError) -> Self {
        Self::BadHeader(e)
    }
}

impl From<RouteError> for NamesrvError {
    fn from(e: RouteError) -> Self {
        Self::Route(e)
    }
}

impl From<KvError> for NamesrvError {
    fn from(e: KvError) -> Self {
        Self::Kv(e)
    }
}

/// The error response for `e`: its code and remark, no header.
pub fn response(e: NamesrvError) -> RemotingCommand {
    let (code, remark) = code_and_remark(&e);
    RemotingCommand::response(code.to_i32(), Some(remark))
}

/// The one mapping from a nameserver failure to what the client sees.
pub fn code_and_remark(e: &NamesrvError) -> (ResponseCode, String) {
    match e {
        // The Java nameserver answers an undecodable header with SYSTEM_ERROR naming the field.
        NamesrvError::BadHeader(h) => (ResponseCode::SystemError, h.to_string()),
        NamesrvError::Route(r) => route(r),
        NamesrvError::Kv(k) => kv(k),
        NamesrvError::RequestNotSupported { code } => {
            (ResponseCode::RequestCodeNotSupported, format!(" request type {code} not supported"))
        }
    }
}

fn route(e: &RouteError) -> (ResponseCode, String) {
    use crate::protocol::constants::BROKER_NAME_TAKEN;
    match e {
        RouteError::CompressedBody => (
            ResponseCode::SystemError,
            "compressed REGISTER_BROKER bodies are not supported; set compressedRegister=false"
                .into(),
        ),
        RouteError::BodyCrcMismatch { .. } => (ResponseCode::SystemError, "crc32 not match".into()),
        RouteError::BadBody(b) => {
            (ResponseCode::SystemError, format!("bad RegisterBrokerBody: {b}"))
        }
        RouteError::TopicRouteNotExist { topic } => (
            ResponseCode::TopicNotExist,
            format!("No topic route info in name server for the topic: {topic}"),
        ),
        RouteError::BrokerNameTaken { broker_name, broker_id, live_addr } => (
            ResponseCode::SystemError,
            format!(
                "{BROKER_NAME_TAKEN}: {broker_name} (id {broker_id}) is live at {live_addr}; \
                 stop it, give this broker another brokerName, or wait until its registration \
                 expires"
            ),
        ),
    }
}

fn kv(e: &KvError) -> (ResponseCode, String) {
    match e {
        KvError::KeyNotFound { namespace, key } => (
            ResponseCode::QueryNotFound,
            format!("No config item, Namespace: {namespace} Key: {key}"),
        ),
        KvError::NamespaceNotFound { namespace } => {
            (ResponseCode::QueryNotFound, format!("No config item, Namespace: {namespace}"))
        }
        KvError::Persist(io) => {
            (ResponseCode::SystemError, format!("cannot persist KV config: {io}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: impl Into<NamesrvError>) -> ResponseCode {
        code_and_remark(&e.into()).0
    }

    #[test]
    fn every_variant_maps_to_its_code() {
        use ResponseCode::*;
        let io = || std::io::Error::other("disk");
        assert_eq!(code(HeaderError::Missing { field: "topic" }), SystemError);
        assert_eq!(code(RouteError::CompressedBody), SystemError);
        assert_eq!(code(RouteError::BodyCrcMismatch { expected: 1, actual: 2 }), SystemError);
        assert_eq!(code(RouteError::BadBody("x".into())), SystemError);
        assert_eq!(code(RouteError::TopicRouteNotExist { topic: "T".into() }), TopicNotExist);
        let missing = KvError::KeyNotFound { namespace: "n".into(), key: "k".into() };
        assert_eq!(code(missing), QueryNotFound);
        assert_eq!(code(KvError::NamespaceNotFound { namespace: "n".into() }), QueryNotFound);
        assert_eq!(code(KvError::Persist(io())), SystemError);
        assert_eq!(code(NamesrvError::RequestNotSupported { code: 9 }), RequestCodeNotSupported);
    }

    #[test]
    fn remarks_are_the_stock_texts() {
        let e = NamesrvError::Route(RouteError::TopicRouteNotExist { topic: "T".into() });
        let (_, remark) = code_and_remark(&e);
        assert_eq!(remark, "No topic route info in name server for the topic: T");
        let e = NamesrvError::Route(RouteError::BodyCrcMismatch { expected: 1, actual: 2 });
        assert_eq!(code_and_remark(&e).1, "crc32 not match");
        let (_, remark) = code_and_remark(&HeaderError::Missing { field: "topic" }.into());
        assert!(remark.contains("topic"), "{remark}");
    }
}
