//! TLS for the Redis and memcached listeners (`--tls-port`, `--memcached_tls`), with rustls.
//!
//! rustls is sans-I/O: a `ServerConnection` is fed the bytes our fibers receive and hands back
//! the bytes to send, so the handshake and every record run in the connection's own fiber over
//! the runtime's sockets, with no thread per connection. [`config`] turns the `tls-*`
//! parameters into one shared `ServerConfig`; [`stream`] is the encrypted socket the
//! connection loops read and write through ([`ConnStream`]); [`listener`] accepts on
//! `--tls-port` and shakes hands before a connection is served.

pub mod config;
pub mod listener;
pub mod stream;

pub use config::server_config;
pub use stream::TlsStream;

use damselfly_runtime::clock::Time;
use damselfly_runtime::net::TcpStream;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::RawFd;

/// The socket a connection loop reads and writes through: plain TCP, or TLS over it. Plain
/// connections pay one match per recv or send, nothing per command.
#[derive(Clone)]
pub enum ConnStream {
    Tcp(TcpStream),
    Tls(TlsStream),
}

impl ConnStream {
    /// Receives into the spare capacity of `buf` (see `TcpStream::recv_append`); for TLS, the
    /// plaintext of the records that arrived. Ok(0): the peer closed.
    #[inline]
    pub fn recv_append(&self, buf: &mut Vec<u8>, min_spare: usize) -> io::Result<usize> {
        match self {
            ConnStream::Tcp(s) => s.recv_append(buf, min_spare),
            ConnStream::Tls(s) => s.recv_append(buf, min_spare),
        }
    }

    /// Sends part of `buf` (ETIMEDOUT when `deadline` passes first); returns how much left.
    #[inline]
    pub fn send_until(&self, buf: &[u8], deadline: Option<Time>) -> io::Result<usize> {
        match self {
            ConnStream::Tcp(s) => s.send_until(buf, deadline),
            ConnStream::Tls(s) => s.send_until(buf, deadline),
        }
    }

    pub fn send_all(&self, mut buf: &[u8]) -> io::Result<()> {
        match self {
            ConnStream::Tcp(s) => s.send_all(buf),
            ConnStream::Tls(s) => {
                while !buf.is_empty() {
                    match s.send_until(buf, None)? {
                        0 => return Err(io::ErrorKind::WriteZero.into()),
                        n => buf = &buf[n..],
                    }
                }
                Ok(())
            }
        }
    }

    /// A send that never parks. TLS answers WouldBlock (records are sent by a fiber that may
    /// wait: the push writer), so a partly sent record never waits for a later send.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ConnStream::Tcp(s) => s.try_send(buf),
            ConnStream::Tls(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// The TCP socket underneath (CLIENT KILL shuts it down; blocking commands watch it).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            ConnStream::Tcp(s) => s,
            ConnStream::Tls(s) => s.tcp(),
        }
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.tcp().shutdown(how)
    }

    pub fn close(&self) -> io::Result<()> {
        match self {
            ConnStream::Tcp(s) => s.close(),
            ConnStream::Tls(s) => s.close(),
        }
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().local_addr()
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.tcp().as_raw_fd()
    }
}
