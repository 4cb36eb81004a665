//! The RESP port's plain TCP listener, and CONFIG SET `port` / `bind` at run time as Redis
//! 7.0 changes them: the new address is bound first (a failure leaves the old listener
//! serving, with Redis's error), then the old listener stops accepting; the connections it
//! accepted stay. Port 0 closes the listener, as in Redis. `tls-port` moves the TLS listener
//! the same way, and `bind` moves both. The memcached listener keeps the address it started
//! with.

use crate::server::{ProactorState, ServerState};
use damselfly_runtime::fiber;
use damselfly_runtime::net::TcpListener;
use damselfly_runtime::sync::SpinLock;
use rustls::ServerConfig;
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
    /// The same for the TLS listener.
    tls_fd: AtomicI32,
    tls_port: AtomicU32,
    /// The TLS settings new connections shake hands with (both listeners read it once per
    /// accepted connection); CONFIG SET of a `tls-*` parameter replaces it.
    tls_config: SpinLock<Option<Arc<ServerConfig>>>,
}

impl Default for Listeners {
    fn default() -> Listeners {
        Listeners {
            plain_fd: AtomicI32::new(-1),
            plain_port: AtomicU32::new(0),
            tls_fd: AtomicI32::new(-1),
            tls_port: AtomicU32::new(0),
            tls_config: SpinLock::new(None),
        }
    }
}

impl Listeners {
    pub fn tls_config(&self) -> Option<Arc<ServerConfig>> {
        self.tls_config.lock().clone()
    }

    pub fn set_tls_config(&self, config: Option<Arc<ServerConfig>>) {
        *self.tls_config.lock() = config;
    }

    fn slot(&self, tls: bool) -> (&AtomicI32, &AtomicU32) {
        if tls {
            (&self.tls_fd, &self.tls_port)
        } else {
            (&self.plain_fd, &self.plain_port)
        }
    }

    /// Records the listener now serving (`fd`, `port`); returns the one it replaces.
    pub(crate) fn replace(&self, tls: bool, fd: i32, port: u16) -> i32 {
        let (f, p) = self.slot(tls);
        p.store(u32::from(port), Ordering::Release);
        f.swap(fd, Ordering::AcqRel)
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
        .replace(false, listener.as_raw_fd(), local.port());
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

/// What CONFIG SET changes about the listeners (validated values; None = unchanged).
#[derive(Default)]
pub struct Change<'a> {
    pub port: Option<&'a str>,
    pub bind: Option<&'a str>,
    pub tls_port: Option<&'a str>,
}

/// CONFIG SET of `port`, `tls-port` and/or `bind`: serves each new address, then stops the
/// old listener. Err is (the parameter, Redis's reason); a listener that could not move keeps
/// serving its old address. A TLS listener serves with the installed TLS settings.
pub fn change(
    server: &ServerState,
    change: &Change<'_>,
) -> Result<(), (&'static str, &'static str)> {
    let old_bind = server.config.get("bind").unwrap_or_default();
    let new_bind = change.bind.unwrap_or(&old_bind);
    let rebind = new_bind != old_bind;
    let Some(ip) = bind_ip(new_bind) else {
        log::warn!("could not create server TCP listening socket {new_bind}: bad address");
        let param = if rebind { "bind" } else { "port" };
        return Err((param, if rebind { BIND_ERROR } else { PORT_ERROR }));
    };
    for (tls_side, name, asked) in [
        (false, "port", change.port),
        (true, "tls-port", change.tls_port),
    ] {
        let (_, bound) = server.listeners.slot(tls_side);
        let old_port = match bound.load(Ordering::Acquire) {
            0 => server.config.get_int(name),
            bound => i64::from(bound),
        };
        let new_port = asked.map_or(old_port, |p| p.parse().unwrap_or(-1));
        if new_port == old_port && !(rebind && old_port != 0) {
            continue;
        }
        let (param, reason) = if new_port != old_port {
            (name, PORT_ERROR)
        } else {
            ("bind", BIND_ERROR)
        };
        let port = u16::try_from(new_port).map_err(|_| (param, reason))?;
        let moved = crate::tx::on_shards(&[ACCEPTOR], &|_| {
            let st = ProactorState::current().server.clone();
            let addr = SocketAddr::new(ip, port);
            let old = st.listeners.slot(tls_side).0.load(Ordering::Acquire);
            let served = match (port, tls_side) {
                (0, _) => {
                    st.listeners.replace(tls_side, -1, 0);
                    Ok(())
                }
                (_, false) => serve_plain(&st, addr).map(drop),
                (_, true) => crate::tls::listener::serve(&st, addr).map(drop),
            };
            if let Err(e) = served {
                log::warn!("could not create server TCP listening socket {addr}: {e}");
                return false;
            }
            if old >= 0 {
                // SAFETY: shutdown reads no memory of ours; `old` is still the old listener's
                // open descriptor, since its acceptor closes it only once accepting fails,
                // which this call causes (a pending accept returns EINVAL).
                unsafe { libc::shutdown(old, libc::SHUT_RDWR) };
            }
            true
        });
        if !moved.first().copied().unwrap_or(false) {
            return Err((param, reason));
        }
    }
    Ok(())
}
