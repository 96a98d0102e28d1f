//! The byte stream under one server connection: plain TCP today, TLS as the second variant.
//!
//! `net-io` reads, writes and registers a connection only through [`Transport`], so a variant
//! that keeps bytes of its own (a TLS record layer holds decrypted bytes the socket no longer
//! shows) decides what "drained" means in [`Transport::drained_by`]. An enum, not a trait
//! object: the hot path stays a direct, inlinable call.

use std::io::{self, Read, Write};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

/// One connection's stream.
#[derive(Debug)]
pub(crate) enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
}

impl Transport {
    /// Reads what is available into `buf`; `WouldBlock` when nothing is.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(stream) => stream.read(buf),
        }
    }

    /// Writes part of `buf`; `WouldBlock` when the socket buffer is full.
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(stream) => stream.write(buf),
        }
    }

    /// Whether a read that returned `n` bytes into a buffer of `spare` bytes proves nothing is
    /// left to read, so the next read (which would only return `WouldBlock`) can be skipped.
    /// Plain TCP on Linux: a short read drained the socket, and edge-triggered epoll raises a
    /// new event for any later data or FIN. Elsewhere: never assume.
    pub(crate) fn drained_by(&self, n: usize, spare: usize) -> bool {
        assert!(n <= spare, "read {n} bytes into {spare}");
        match self {
            Self::Plain(_) => cfg!(target_os = "linux") && n < spare,
        }
    }

    /// The socket's pending error, if any (after an error event).
    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Self::Plain(stream) => stream.take_error(),
        }
    }

    /// Disables Nagle's algorithm: replies are coalesced by the reactor already.
    pub(crate) fn set_nodelay(&self) -> io::Result<()> {
        match self {
            Self::Plain(stream) => stream.set_nodelay(true),
        }
    }

    /// Registers the stream with `net-io`'s poll.
    pub(crate) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        match self {
            Self::Plain(stream) => registry.register(stream, token, interest),
        }
    }

    /// Removes the stream from `net-io`'s poll.
    pub(crate) fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Self::Plain(stream) => registry.deregister(stream),
        }
    }
}
