//! `ClientError`: every way a client call can fail, with the peer and the limit involved, and
//! whether trying again (possibly elsewhere) can help.
//!
//! Broker refusals print like the Java client (`CODE: 17 DESC: …`) so that the text users paste
//! into a search engine matches what they find.

use std::fmt;
use std::time::Duration;

use rocketmq_net::{NetError, RemotingCommand, ResponseCode};

/// Response codes the Java producer retries (PROTOCOL.md §4.2).
const RETRIABLE_CODES: [i32; 8] = [17, 14, 1, 2, 16, 204, 205, 1500];

/// Why a client call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// Neither the nameserver nor the broker knows the topic.
    TopicNotFound {
        /// The topic asked for.
        topic: String,
    },
    /// The topic has a route but no queue can take (or serve) messages.
    NoQueueAvailable {
        /// The topic asked for.
        topic: String,
    },
    /// The broker (or another peer) could not be connected to.
    NoBrokerReachable {
        /// The peer's `host:port`.
        addr: String,
        /// Why connecting failed.
        reason: String,
    },
    /// None of the nameservers answered.
    NameserverUnreachable {
        /// Every nameserver tried.
        addrs: Vec<String>,
    },
    /// The broker refused the call because it is overloaded (SYSTEM_BUSY, flow control).
    BrokerBusy {
        /// The broker's `host:port`.
        addr: String,
        /// The broker's remark.
        remark: String,
    },
    /// The message (or batch) is larger than the limit; nothing was sent.
    MessageTooLarge {
        /// The encoded size in bytes.
        size: usize,
        /// The producer's limit in bytes.
        limit: usize,
    },
    /// The peer answered with an error code.
    Broker {
        /// The peer's `host:port`.
        addr: String,
        /// The response code.
        code: i32,
        /// The peer's remark.
        remark: String,
    },
    /// No response within the timeout.
    Timeout {
        /// The peer's `host:port`.
        addr: String,
        /// How long the call waited.
        timeout: Duration,
    },
    /// Another transport failure (connection closed, write failed, undecodable frame).
    Net {
        /// The peer's `host:port`.
        addr: String,
        /// The transport's error.
        source: NetError,
    },
    /// The peer answered with a header or body we cannot read.
    BadResponse {
        /// The peer's `host:port`.
        addr: String,
        /// What could not be read.
        what: String,
    },
    /// The caller passed something unusable (empty topic, mixed-topic batch, …).
    InvalidArgument {
        /// What was wrong.
        what: String,
    },
    /// The broker does not list this client in its consumer group yet (a heartbeat was lost,
    /// or the broker restarted); a heartbeat has been sent, try again shortly.
    NotInGroup {
        /// The consumer group.
        group: String,
    },
    /// `max_async_in_flight` async sends are already waiting for answers.
    TooManyInFlight {
        /// The producer's `max_async_in_flight`.
        limit: usize,
    },
    /// A request-reply request got no reply within its timeout.
    RequestTimeout {
        /// The request's CORRELATION_ID.
        correlation_id: String,
        /// How long the requester waited.
        timeout: Duration,
    },
    /// The client is not started or has been shut down.
    NotRunning,
}

impl ClientError {
    /// Whether retrying, possibly on another broker, can succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::NoBrokerReachable { .. }
            | Self::NameserverUnreachable { .. }
            | Self::BrokerBusy { .. }
            | Self::Timeout { .. }
            | Self::TooManyInFlight { .. }
            | Self::NotInGroup { .. }
            | Self::Net { .. } => true,
            Self::Broker { code, .. } => RETRIABLE_CODES.contains(code),
            _ => false,
        }
    }

    /// The broker's response code, when the broker refused the call.
    pub fn response_code(&self) -> Option<i32> {
        match self {
            Self::Broker { code, .. } => Some(*code),
            Self::BrokerBusy { .. } => Some(ResponseCode::SystemBusy.to_i32()),
            Self::TopicNotFound { .. } => Some(ResponseCode::TopicNotExist.to_i32()),
            _ => None,
        }
    }

    /// Maps a transport error on a call to `addr`.
    pub fn from_net(addr: &str, e: NetError) -> Self {
        match e {
            NetError::Connect { source, .. } => {
                Self::NoBrokerReachable { addr: addr.to_string(), reason: source.to_string() }
            }
            NetError::Timeout { timeout_ms, .. } => {
                Self::Timeout { addr: addr.to_string(), timeout: Duration::from_millis(timeout_ms) }
            }
            NetError::Shutdown => Self::NotRunning,
            other => Self::Net { addr: addr.to_string(), source: other },
        }
    }

    /// Maps an error response from `addr`. `topic` names the topic for TOPIC_NOT_EXIST.
    pub fn from_response(addr: &str, resp: &RemotingCommand, topic: Option<&str>) -> Self {
        let remark = resp.remark.clone().unwrap_or_default();
        match ResponseCode::from_i32(resp.code) {
            ResponseCode::SystemBusy | ResponseCode::FlowControl => {
                Self::BrokerBusy { addr: addr.to_string(), remark }
            }
            ResponseCode::TopicNotExist if topic.is_some() => {
                Self::TopicNotFound { topic: topic.unwrap_or_default().to_string() }
            }
            _ => Self::Broker { addr: addr.to_string(), code: resp.code, remark },
        }
    }

    /// A response header or body that does not parse.
    pub fn bad_response(addr: &str, what: impl fmt::Display) -> Self {
        Self::BadResponse { addr: addr.to_string(), what: what.to_string() }
    }

    pub(crate) fn invalid(what: impl Into<String>) -> Self {
        Self::InvalidArgument { what: what.into() }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TopicNotFound { topic } => write!(
                f,
                "topic not found: no route info of topic {topic}; create it (mqadmin updateTopic) \
                 or enable auto-creation on the broker"
            ),
            Self::NoQueueAvailable { topic } => {
                write!(f, "no readable/writable queue of topic {topic} on a live broker")
            }
            Self::NoBrokerReachable { addr, reason } => {
                write!(f, "no broker reachable: cannot connect to {addr}: {reason}")
            }
            Self::NameserverUnreachable { addrs } => {
                write!(f, "nameserver unreachable: none of [{}] answered", addrs.join(";"))
            }
            Self::BrokerBusy { addr, remark } => {
                write!(f, "broker busy: {addr} refused with CODE: 2 DESC: {remark}; slow down")
            }
            Self::MessageTooLarge { size, limit } => {
                write!(f, "message too large: {size} bytes, limit {limit} bytes")
            }
            Self::Broker { addr, code, remark } => write!(
                f,
                "broker {addr} refused: CODE: {code} ({}) DESC: {remark}",
                ResponseCode::from_i32(*code)
            ),
            Self::Timeout { addr, timeout } => {
                write!(f, "timeout: no response from {addr} within {} ms", timeout.as_millis())
            }
            Self::Net { addr, source } => write!(f, "call to {addr} failed: {source}"),
            Self::BadResponse { addr, what } => {
                write!(f, "unreadable response from {addr}: {what}")
            }
            Self::InvalidArgument { what } => write!(f, "invalid argument: {what}"),
            Self::NotInGroup { group } => {
                write!(f, "this client is not registered in consumer group {group} yet")
            }
            Self::TooManyInFlight { limit } => {
                write!(f, "{limit} async sends are already in flight; wait for their callbacks")
            }
            Self::RequestTimeout { correlation_id, timeout } => write!(
                f,
                "request timeout: no reply to request {correlation_id} within {} ms",
                timeout.as_millis()
            ),
            Self::NotRunning => f.write_str("the client is not running (not started or shut down)"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Net { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The client's result type.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(code: i32, remark: &str) -> RemotingCommand {
        RemotingCommand::response(code, Some(remark.to_string()))
    }

    #[test]
    fn maps_response_codes() {
        let busy = ClientError::from_response("b:1", &resp(2, "[REJECTREQUEST]"), None);
        assert!(matches!(busy, ClientError::BrokerBusy { .. }));
        assert!(busy.is_retriable());
        assert!(busy.to_string().contains("broker busy"));
        let nf = ClientError::from_response("b:1", &resp(17, "x"), Some("T"));
        assert!(matches!(nf, ClientError::TopicNotFound { ref topic } if topic == "T"));
        assert!(nf.to_string().contains("topic not found"));
        let illegal = ClientError::from_response("b:1", &resp(13, "too big"), Some("T"));
        assert!(!illegal.is_retriable());
        assert!(illegal.to_string().contains("CODE: 13"), "{illegal}");
        assert_eq!(illegal.response_code(), Some(13));
        assert!(ClientError::from_response("b:1", &resp(14, ""), None).is_retriable());
    }

    #[test]
    fn maps_net_errors() {
        let e = ClientError::from_net(
            "10.0.0.1:10911",
            NetError::Connect {
                addr: "10.0.0.1:10911".into(),
                source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
            },
        );
        assert!(matches!(e, ClientError::NoBrokerReachable { .. }));
        assert!(e.to_string().contains("no broker reachable") && e.to_string().contains("10911"));
        let t = ClientError::from_net("a", NetError::Timeout { addr: "a".into(), timeout_ms: 5 });
        assert!(matches!(t, ClientError::Timeout { timeout, .. } if timeout.as_millis() == 5));
        assert!(t.is_retriable());
        let too_big = ClientError::MessageTooLarge { size: 5, limit: 4 };
        assert!(!too_big.is_retriable());
        assert!(too_big.to_string().contains("limit 4"));
        let ns = ClientError::NameserverUnreachable { addrs: vec!["a:1".into(), "b:2".into()] };
        assert!(ns.to_string().contains("a:1;b:2"));
    }
}
