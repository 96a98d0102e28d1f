//! `NetError`: why a remoting call (client side, or a server-initiated request) failed.

use std::{fmt, io};

use crate::protocol::{DecodeError, EncodeError};

/// Why a call failed. Every variant names the peer where there is one.
#[derive(Debug)]
#[non_exhaustive]
pub enum NetError {
    /// The address could not be resolved or the TCP connect failed or timed out.
    Connect {
        /// The address as given.
        addr: String,
        /// The resolver's or the connect's error.
        source: io::Error,
    },
    /// No response arrived within the call's timeout.
    Timeout {
        /// The peer.
        addr: String,
        /// The call's timeout.
        timeout_ms: u64,
    },
    /// The connection closed (or was closed) before the response arrived.
    ConnectionClosed {
        /// The peer.
        addr: String,
    },
    /// Writing the request to the socket failed.
    Send {
        /// The peer.
        addr: String,
        /// The socket's error.
        source: io::Error,
    },
    /// The peer sent bytes that do not decode.
    Decode(DecodeError),
    /// The command cannot be encoded (too large).
    Encode(EncodeError),
    /// The connection's queue of unsent bytes is over its cap.
    WriteQueueFull {
        /// The peer.
        addr: String,
        /// The cap (`write_queue_max_bytes`).
        max_bytes: usize,
    },
    /// The client or server is shutting down.
    Shutdown,
}

impl NetError {
    /// Whether this is a [`NetError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect { addr, source } => write!(f, "cannot connect to {addr}: {source}"),
            Self::Timeout { addr, timeout_ms } => {
                write!(f, "no response from {addr} within {timeout_ms} ms")
            }
            Self::ConnectionClosed { addr } => {
                write!(f, "connection to {addr} closed before the response arrived")
            }
            Self::Send { addr, source } => write!(f, "cannot send to {addr}: {source}"),
            Self::Decode(e) => write!(f, "undecodable frame: {e}"),
            Self::Encode(e) => write!(f, "cannot encode request: {e}"),
            Self::WriteQueueFull { addr, max_bytes } => {
                write!(f, "write queue to {addr} is over its cap of {max_bytes} bytes")
            }
            Self::Shutdown => f.write_str("remoting is shutting down"),
        }
    }
}

impl std::error::Error for NetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect { source, .. } | Self::Send { source, .. } => Some(source),
            Self::Decode(e) => Some(e),
            Self::Encode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DecodeError> for NetError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl From<EncodeError> for NetError {
    fn from(e: EncodeError) -> Self {
        Self::Encode(e)
    }
}
