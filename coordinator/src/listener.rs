//! The RESP port's plain TCP listener, and CONFIG SET `port` / `bind` at run time as Redis
//! 7.0 changes them: the new address is bound first (a failure leaves the old listener
//! serving, with Redis's error), then the old listener stops accepting; the connections it
//! accepted stay. Port 0 closes the listener, as in Redis. The TLS and memcached listeners
//! keep the address they started with.

use crate::server::{ProactorState, ServerState};
use damselfly_runtime::fiber;
use damselfly_runtime::net::TcpListener;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::Arc;

/// The proactor whose fibers accept on the plain listener.
const ACCEPTOR: usize = 0;

/// Redis's reasons, after "CONFIG SET failed (possibly related to argument '...') - ".
pub const PORT_ERROR: &str = "Unable to listen on this port. Check server logs.";
pub const BIND_ERROR: &str = "Failed to bind to specified addresses.";

pub struct Listeners {
    /// The plain listener's descriptor; -1 when there is none (or it is simulated).
    plain_fd: AtomicI32,
    /// The port it is bound to (`--port 0` picks one); 0 when there is none.
    plain_port: AtomicU32,
}

impl Default for Listeners {
    fn default() -> Listeners {
        Listeners {
            plain_fd: AtomicI32::new(-1),
            plain_port: AtomicU32::new(0),
        }
    }
}

/// The address `bind` names: its first one, as at start.
pub fn bind_ip(bind: &str) -> Option<IpAddr> {
    bind.split_whitespace()
        .next()
        .unwrap_or("0.0.0.0")
        .parse()
        .ok()
}

/// Binds `addr` on the calling proactor and accepts on it in a fiber there; returns the
/// address bound.
pub fn serve_plain(st: &Arc<ServerState>, addr: SocketAddr) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr();
    st.listeners
        .plain_fd
        .store(listener.as_raw_fd(), Ordering::Release);
    st.listeners
        .plain_port
        .store(u32::from(local.port()), Ordering::Release);
    let st = st.clone();
    fiber::Builder::new().name("acceptor").spawn(move || {
        let serve =
            move |stream| crate::conn::serve(crate::tls::ConnStream::Tcp(stream), st.clone());
        if let Err(e) = listener.serve(serve) {
            log::info!("acceptor stopped: {e}");
        }
    });
    Ok(local)
}

/// CONFIG SET of `port` and/or `bind` (validated values; None = unchanged): serves the new
/// address, then stops the old listener. Err is Redis's reason; nothing changed then.
pub fn change(
    server: &ServerState,
    port: Option<&str>,
    bind: Option<&str>,
) -> Result<(), &'static str> {
    let old_port = match server.listeners.plain_port.load(Ordering::Acquire) {
        0 => server.config.get_int("port"),
        bound => i64::from(bound),
    };
    let old_bind = server.config.get("bind").unwrap_or_default();
    let new_port = port.map_or(old_port, |p| p.parse().unwrap_or(-1));
    let new_bind = bind.unwrap_or(&old_bind);
    if new_port == old_port && new_bind == old_bind {
        return Ok(());
    }
    let reason = if new_port != old_port {
        PORT_ERROR
    } else {
        BIND_ERROR
    };
    let port = u16::try_from(new_port).map_err(|_| reason)?;
    let Some(ip) = bind_ip(new_bind) else {
        log::warn!("could not create server TCP listening socket {new_bind}: bad address");
        return Err(reason);
    };
    let moved = crate::tx::on_shards(&[ACCEPTOR], &|_| {
        let st = ProactorState::current().server.clone();
        let old = st.listeners.plain_fd.load(Ordering::Acquire);
        if port == 0 {
            st.listeners.plain_fd.store(-1, Ordering::Release);
            st.listeners.plain_port.store(0, Ordering::Release);
        } else if let Err(e) = serve_plain(&st, SocketAddr::new(ip, port)) {
            log::warn!("could not create server TCP listening socket {ip}:{port}: {e}");
            return false;
        }
        if old >= 0 {
            // SAFETY: shutdown reads no memory of ours; `old` is still the old listener's
            // open descriptor, since its acceptor closes it only once accepting fails, which
            // this call causes (a pending accept returns EINVAL).
            unsafe { libc::shutdown(old, libc::SHUT_RDWR) };
        }
        true
    });
    if moved.first().copied().unwrap_or(false) {
        Ok(())
    } else {
        Err(reason)
    }
}
