//! One TLS connection over a runtime socket: rustls's `ServerConnection` is fed what `recv`
//! brings and drained into `send`, inside the fibers that use the stream.
//!
//! Two fibers of the connection's proactor may use it (the connection's own and its push
//! writer), never at once on one side: receiving is the connection fiber's, and sending is
//! serialized by a fiber mutex, so records reach the socket in the order rustls sealed them.
//! The rustls state sits in a `RefCell` borrowed only between parks.

use damselfly_runtime::clock::{self, Time};
use damselfly_runtime::net::TcpStream;
use damselfly_runtime::sync::Mutex;
use rustls::{ServerConfig, ServerConnection};
use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// Ciphertext read per recv: one whole record (16 KiB of plaintext plus its overhead).
const RX_SIZE: usize = 16 * 1024 + 512;
/// Plaintext rustls holds unsent at most; a larger send is taken in parts of this size, so
/// a big reply is never copied into ciphertext whole before the socket takes some.
const TX_PLAINTEXT_MAX: usize = 64 * 1024;

#[derive(Clone)]
pub struct TlsStream {
    inner: Rc<Inner>,
}

struct Inner {
    tcp: TcpStream,
    tls: RefCell<ServerConnection>,
    /// Ciphertext receive area, taken out while a recv is in flight.
    rx: Cell<Vec<u8>>,
    /// Sealed records on their way to the socket; held by the fiber that sends them.
    tx: Mutex<Vec<u8>>,
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsStream {
    /// Runs the server side of the handshake on `tcp` in the calling fiber; fails (after
    /// sending rustls's alert, if any) on a bad handshake, a peer that closes, or `timeout`.
    pub fn accept(
        tcp: TcpStream,
        config: Arc<ServerConfig>,
        timeout: Duration,
    ) -> io::Result<TlsStream> {
        let deadline = clock::now() + timeout;
        let mut tls = ServerConnection::new(config).map_err(tls_error)?;
        tls.set_buffer_limit(Some(TX_PLAINTEXT_MAX));
        let mut rx = vec![0u8; RX_SIZE];
        let mut tx = Vec::new();
        while tls.is_handshaking() {
            write_records(&tcp, &mut tls, &mut tx, Some(deadline))?;
            if !tls.wants_read() {
                continue;
            }
            let n = tcp.recv_until(&mut rx, Some(deadline))?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed during the handshake",
                ));
            }
            let mut data = &rx[..n];
            while !data.is_empty() {
                let fed = tls
                    .read_tls(&mut data)
                    .and_then(|_| tls.process_new_packets().map_err(tls_error));
                if let Err(e) = fed {
                    // The alert rustls queued tells the client why, if it listens.
                    let _ = write_records(&tcp, &mut tls, &mut tx, Some(deadline));
                    return Err(e);
                }
            }
        }
        // The handshake's last flight (and TLS 1.3 session tickets).
        write_records(&tcp, &mut tls, &mut tx, Some(deadline))?;
        tx.clear();
        Ok(TlsStream {
            inner: Rc::new(Inner {
                tcp,
                tls: RefCell::new(tls),
                rx: Cell::new(rx),
                tx: Mutex::new(tx),
            }),
        })
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.inner.tcp
    }

    /// "TLSv1.3" or "TLSv1.2", and the cipher suite, for logs.
    pub fn describe(&self) -> String {
        let tls = self.inner.tls.borrow();
        let version = match tls.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
            v => format!("{v:?}"),
        };
        let suite = tls
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default();
        format!("{version} {suite}")
    }

    /// Appends the plaintext that arrived to `buf` (reading records from the socket until
    /// some comes); Ok(0) when the peer closed. `min_spare` sizes the socket reads.
    pub fn recv_append(&self, buf: &mut Vec<u8>, min_spare: usize) -> io::Result<usize> {
        let inner = &*self.inner;
        loop {
            let (n, closed, wants_write) = {
                let mut tls = inner.tls.borrow_mut();
                let state = tls.process_new_packets().map_err(tls_error);
                let state = match state {
                    Ok(state) => state,
                    Err(e) => {
                        drop(tls);
                        let _ = self.flush(None);
                        return Err(e);
                    }
                };
                let n = take_plaintext(&mut tls, buf, state.plaintext_bytes_to_read())?;
                (n, state.peer_has_closed(), tls.wants_write())
            };
            if wants_write {
                // A key update's answer, or an alert.
                self.flush(None)?;
            }
            if n > 0 {
                return Ok(n);
            }
            if closed {
                return Ok(0);
            }
            let mut rx = inner.rx.take();
            let want = min_spare.max(RX_SIZE);
            if rx.len() < want {
                rx.resize(want, 0);
            }
            // `rx` is ours (taken out of the cell) while the recv parks.
            let got = inner.tcp.recv(&mut rx);
            let (n_read, fed) = match got {
                Ok(0) => (0, Ok(0)),
                Ok(n) => (n, self.feed(&rx[..n], buf)),
                Err(e) => (0, Err(e)),
            };
            inner.rx.set(rx);
            let n = fed?;
            if n_read == 0 {
                // The socket closed: what was decrypted before goes first.
                return Ok(n);
            }
            if n > 0 {
                if inner.tls.borrow().wants_write() {
                    self.flush(None)?;
                }
                return Ok(n);
            }
        }
    }

    /// Feeds received ciphertext to rustls, moving the plaintext of each record into `buf`
    /// as it opens (so rustls's plaintext buffer never fills).
    fn feed(&self, mut data: &[u8], buf: &mut Vec<u8>) -> io::Result<usize> {
        let mut total = 0;
        while !data.is_empty() {
            let mut tls = self.inner.tls.borrow_mut();
            let state = tls
                .read_tls(&mut data)
                .and_then(|_| tls.process_new_packets().map_err(tls_error));
            match state {
                Ok(state) => {
                    total += take_plaintext(&mut tls, buf, state.plaintext_bytes_to_read())?
                }
                Err(e) => {
                    drop(tls);
                    let _ = self.flush(None);
                    return Err(e);
                }
            }
        }
        Ok(total)
    }

    /// Seals up to [`TX_PLAINTEXT_MAX`] bytes of `buf` and sends the records (ETIMEDOUT when
    /// `deadline` passes first); returns the plaintext bytes taken.
    pub fn send_until(&self, buf: &[u8], deadline: Option<Time>) -> io::Result<usize> {
        let mut tx = self.inner.tx.lock();
        let n = self
            .inner
            .tls
            .borrow_mut()
            .writer()
            .write(&buf[..buf.len().min(TX_PLAINTEXT_MAX)])?;
        write_records_shared(&self.inner, &mut tx, deadline)?;
        Ok(n)
    }

    /// Sends whatever records rustls has ready.
    fn flush(&self, deadline: Option<Time>) -> io::Result<()> {
        let mut tx = self.inner.tx.lock();
        write_records_shared(&self.inner, &mut tx, deadline)
    }

    /// Says goodbye (close_notify) if the socket takes it at once, then closes the socket.
    pub fn close(&self) -> io::Result<()> {
        if let Some(mut tx) = self.inner.tx.try_lock() {
            let mut tls = self.inner.tls.borrow_mut();
            tls.send_close_notify();
            tx.clear();
            while tls.wants_write() && tls.write_tls(&mut *tx).is_ok() {}
            drop(tls);
            let _ = self.inner.tcp.try_send(&tx);
            tx.clear();
        }
        self.inner.tcp.close()
    }
}

/// Moves `avail` bytes of opened plaintext into `buf`.
fn take_plaintext(
    tls: &mut ServerConnection,
    buf: &mut Vec<u8>,
    avail: usize,
) -> io::Result<usize> {
    if avail == 0 {
        return Ok(0);
    }
    let start = buf.len();
    buf.resize(start + avail, 0);
    let mut got = 0;
    while got < avail {
        match tls.reader().read(&mut buf[start + got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                buf.truncate(start + got);
                return Err(e);
            }
        }
    }
    buf.truncate(start + got);
    Ok(got)
}

fn write_records_shared(inner: &Inner, tx: &mut Vec<u8>, deadline: Option<Time>) -> io::Result<()> {
    loop {
        {
            let mut tls = inner.tls.borrow_mut();
            while tls.wants_write() {
                tls.write_tls(tx)?;
            }
        }
        if tx.is_empty() {
            return Ok(());
        }
        // No borrow of the rustls state is held while the send parks.
        send_records(&inner.tcp, tx, deadline)?;
    }
}

/// The handshake's variant: one owner, no lock.
fn write_records(
    tcp: &TcpStream,
    tls: &mut ServerConnection,
    tx: &mut Vec<u8>,
    deadline: Option<Time>,
) -> io::Result<()> {
    while tls.wants_write() {
        tls.write_tls(tx)?;
    }
    send_records(tcp, tx, deadline)
}

/// Sends all of `tx` and clears it; on error what was not sent stays.
fn send_records(tcp: &TcpStream, tx: &mut Vec<u8>, deadline: Option<Time>) -> io::Result<()> {
    let mut sent = 0;
    while sent < tx.len() {
        match tcp.send_until(&tx[sent..], deadline) {
            Ok(0) => {
                tx.drain(..sent);
                return Err(io::ErrorKind::WriteZero.into());
            }
            Ok(n) => sent += n,
            Err(e) => {
                tx.drain(..sent);
                return Err(e);
            }
        }
    }
    tx.clear();
    Ok(())
}
