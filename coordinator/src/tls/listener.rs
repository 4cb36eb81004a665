//! The `--tls-port` listener: accepts on proactor 0 like the plain one, hands connections
//! round-robin to the proactors, and each connection's fiber shakes hands before it serves.

use super::{ConnStream, TlsStream};
use crate::server::ServerState;
use damselfly_runtime::fiber;
use damselfly_runtime::net::{TcpListener, TcpStream};
use damselfly_runtime::ProactorPool;
use rustls::ServerConfig;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// A client that has not finished its handshake by then is dropped, so a stalled or plain-text
/// client holds a socket (and a parked fiber) for a bounded time only.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Shakes hands on a new connection; None (logged) when the handshake fails.
pub fn handshake(tcp: TcpStream, config: &Arc<ServerConfig>, what: &str) -> Option<ConnStream> {
    let peer = tcp.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    match TlsStream::accept(tcp.clone(), config.clone(), HANDSHAKE_TIMEOUT) {
        Ok(s) => {
            log::debug!("{what} TLS client {peer}: {}", s.describe());
            Some(ConnStream::Tls(s))
        }
        Err(e) => {
            let why = if e.kind() == std::io::ErrorKind::TimedOut {
                format!("no handshake within {}s", HANDSHAKE_TIMEOUT.as_secs())
            } else {
                e.to_string()
            };
            log::warn!("Error accepting a {what} TLS client {peer}: {why}");
            let _ = tcp.close();
            None
        }
    }
}

/// Binds `--tls-port` (when not 0) on proactor 0 and serves RESP over TLS there.
pub fn start(
    pool: &ProactorPool,
    state: &Arc<ServerState>,
    ip: IpAddr,
) -> io::Result<Option<SocketAddr>> {
    let port = state.config.get_int("tls-port") as u16;
    if port == 0 || state.listeners.tls_config().is_none() {
        return Ok(None);
    }
    let (tx, rx) = damselfly_runtime::sync::oneshot::channel();
    let st = state.clone();
    pool.spawn_named(0, "tls acceptor", move || {
        let local = serve(&st, SocketAddr::new(ip, port));
        if let Ok(local) = local {
            // A TLS-only server (`--port 0`) is known by its TLS address.
            let _ = st.addr.set(local);
        }
        tx.send(local)
    });
    let local = rx
        .recv()
        .map_err(|_| io::Error::other("TLS acceptor died"))??;
    Ok(Some(local))
}

/// Binds `addr` on the calling proactor and accepts TLS clients on it in a fiber there, each
/// shaking hands with the TLS settings installed when it arrives; returns the address bound.
pub fn serve(st: &Arc<ServerState>, addr: SocketAddr) -> io::Result<SocketAddr> {
    if st.listeners.tls_config().is_none() {
        return Err(io::Error::other("no TLS settings"));
    }
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr();
    st.listeners
        .replace(true, listener.as_raw_fd(), local.port());
    let st = st.clone();
    fiber::Builder::new().name("tls acceptor").spawn(move || {
        let serve = move |tcp: TcpStream| {
            let Some(config) = st.listeners.tls_config() else {
                let _ = tcp.close();
                return;
            };
            if let Some(stream) = handshake(tcp, &config, "Redis") {
                crate::conn::serve(stream, st.clone());
            }
        };
        if let Err(e) = listener.serve(serve) {
            log::info!("TLS acceptor stopped: {e}");
        }
    });
    Ok(local)
}
