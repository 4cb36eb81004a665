//! The memcached side's live connections, for `stats conns`: each connection fiber
//! registers itself for its lifetime and marks its state and last command time once per
//! batch (two relaxed stores), never per command.

use damselfly_runtime::sync::SpinLock;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// A connection's state with memcached's names for the same moments.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum ConnState {
    /// Accepted, nothing read yet.
    NewCmd = 0,
    /// Waiting for a command line (or the rest of one).
    Read = 1,
    /// Running the commands of a batch.
    ParseCmd = 2,
    /// A storage command's line is in, its data block is not complete.
    Nread = 3,
    /// Sending replies.
    Write = 4,
}

impl ConnState {
    fn name(v: u8) -> &'static str {
        match v {
            0 => "conn_new_cmd",
            1 => "conn_read",
            2 => "conn_parse_cmd",
            3 => "conn_nread",
            _ => "conn_mwrite",
        }
    }
}

/// One connection's entry.
pub struct ConnEntry {
    fd: i32,
    peer: SocketAddr,
    state: AtomicU8,
    last_cmd_s: AtomicU64,
}

impl ConnEntry {
    pub fn set_state(&self, state: ConnState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    pub fn touch(&self, now_s: u64) {
        self.last_cmd_s.store(now_s, Ordering::Relaxed);
    }
}

/// The listener and its connections.
pub struct McConns {
    listener: SpinLock<Option<(i32, SocketAddr)>>,
    conns: SpinLock<Vec<Arc<ConnEntry>>>,
    started_s: u64,
}

/// Removes its entry when the connection ends, however it ends.
pub struct Registered<'a> {
    conns: &'a McConns,
    pub entry: Arc<ConnEntry>,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        let mut conns = self.conns.conns.lock();
        if let Some(i) = conns.iter().position(|e| Arc::ptr_eq(e, &self.entry)) {
            conns.swap_remove(i);
        }
    }
}

/// memcached's spelling of an address: `tcp:1.2.3.4:5` or `tcp6:[::1]:5`.
fn addr_text(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => format!("tcp:{v4}"),
        SocketAddr::V6(v6) => format!("tcp6:[{}]:{}", v6.ip(), v6.port()),
    }
}

impl McConns {
    pub fn new(now_s: u64) -> McConns {
        McConns {
            listener: SpinLock::new(None),
            conns: SpinLock::new(Vec::new()),
            started_s: now_s,
        }
    }

    pub fn set_listener(&self, fd: i32, addr: SocketAddr) {
        *self.listener.lock() = Some((fd, addr));
    }

    pub fn register(&self, fd: i32, peer: SocketAddr, now_s: u64) -> Registered<'_> {
        let entry = Arc::new(ConnEntry {
            fd,
            peer,
            state: AtomicU8::new(ConnState::NewCmd as u8),
            last_cmd_s: AtomicU64::new(now_s),
        });
        self.conns.lock().push(entry.clone());
        Registered { conns: self, entry }
    }

    /// `stats conns`: the listener, then every connection in descriptor order, as memcached
    /// lists them.
    pub fn describe(&self, now_s: u64) -> String {
        let listener = *self.listener.lock();
        let mut entries: Vec<(i32, SocketAddr, u8, u64)> = self
            .conns
            .lock()
            .iter()
            .map(|e| {
                (
                    e.fd,
                    e.peer,
                    e.state.load(Ordering::Relaxed),
                    e.last_cmd_s.load(Ordering::Relaxed),
                )
            })
            .collect();
        entries.sort_by_key(|e| e.0);
        let mut out = String::new();
        if let Some((fd, addr)) = listener {
            let addr = addr_text(&addr);
            let idle = now_s.saturating_sub(self.started_s);
            let _ = write!(
                out,
                "STAT {fd}:addr {addr}\r\nSTAT {fd}:state conn_listening\r\n\
                 STAT {fd}:secs_since_last_cmd {idle}\r\n"
            );
        }
        let listen = listener.map(|(_, a)| addr_text(&a));
        for (fd, peer, state, last) in entries {
            let _ = write!(out, "STAT {fd}:addr {}\r\n", addr_text(&peer));
            if let Some(listen) = &listen {
                let _ = write!(out, "STAT {fd}:listen_addr {listen}\r\n");
            }
            let _ = write!(
                out,
                "STAT {fd}:state {}\r\nSTAT {fd}:secs_since_last_cmd {}\r\n",
                ConnState::name(state),
                now_s.saturating_sub(last)
            );
        }
        out.push_str("END\r\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_listener_then_connections_by_descriptor_and_forgets_closed_ones() {
        let conns = McConns::new(100);
        conns.set_listener(7, "127.0.0.1:11211".parse().unwrap());
        let b = conns.register(12, "127.0.0.1:5002".parse().unwrap(), 101);
        let a = conns.register(9, "[::1]:5001".parse().unwrap(), 100);
        a.entry.set_state(ConnState::ParseCmd);
        b.entry.set_state(ConnState::Nread);
        b.entry.touch(103);
        let text = conns.describe(105);
        assert_eq!(
            text,
            "STAT 7:addr tcp:127.0.0.1:11211\r\nSTAT 7:state conn_listening\r\n\
             STAT 7:secs_since_last_cmd 5\r\n\
             STAT 9:addr tcp6:[::1]:5001\r\nSTAT 9:listen_addr tcp:127.0.0.1:11211\r\n\
             STAT 9:state conn_parse_cmd\r\nSTAT 9:secs_since_last_cmd 5\r\n\
             STAT 12:addr tcp:127.0.0.1:5002\r\nSTAT 12:listen_addr tcp:127.0.0.1:11211\r\n\
             STAT 12:state conn_nread\r\nSTAT 12:secs_since_last_cmd 2\r\nEND\r\n"
        );
        drop(a);
        let text = conns.describe(105);
        assert!(!text.contains("STAT 9:"), "{text}");
        assert!(text.contains("STAT 12:state conn_nread"), "{text}");
    }
}
