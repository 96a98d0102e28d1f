//! The byte stream under one client connection: plain TCP today, TLS as the second variant.
//!
//! The connection's reader thread blocks in [`Transport::read`] or busy-polls with
//! [`Transport::try_read`]; writers share the transport through `&self` (the channel's writer
//! role serializes them). An enum, not a trait object: no indirection on the hot path.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};

/// One client connection's stream (blocking; [`Transport::try_read`] does not block).
#[derive(Debug)]
pub(crate) enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
}

impl Transport {
    /// Blocks until some bytes (or EOF, as 0) arrive.
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(stream) => {
                let mut stream = stream;
                stream.read(buf)
            }
        }
    }

    /// Reads what is available without blocking; `WouldBlock` when nothing is. Only this call
    /// is non-blocking: writers keep their blocking socket.
    #[cfg(unix)]
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        match self {
            Self::Plain(stream) => {
                // SAFETY: `buf` is valid for writes of `buf.len()` bytes and the descriptor is
                // owned by `stream`, alive for this call. MSG_DONTWAIT makes only this call
                // non-blocking.
                let n = unsafe {
                    libc::recv(
                        stream.as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        libc::MSG_DONTWAIT,
                    )
                };
                let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
                assert!(n <= buf.len(), "recv returned more than the buffer holds");
                Ok(n)
            }
        }
    }

    /// Writes all of `buf` (blocking, bounded by the socket's write timeout).
    pub(crate) fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        match self {
            Self::Plain(stream) => {
                let mut stream = stream;
                stream.write_all(buf)
            }
        }
    }

    /// Shuts both directions down, which also wakes a reader blocked in [`Self::read`].
    pub(crate) fn shutdown(&self) -> io::Result<()> {
        match self {
            Self::Plain(stream) => stream.shutdown(Shutdown::Both),
        }
    }
}
