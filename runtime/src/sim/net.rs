//! Simulated TCP between endpoints of one simulated world, behind `net::TcpListener` and
//! `net::TcpStream`.
//!
//! A connection is two pipes, one per direction. A send appends a segment stamped with its
//! delivery time (now + a seeded latency, never before the previous segment of that pipe, so
//! the byte order of a connection always holds); a receive returns bytes of segments whose time
//! has come, or parks its fiber until the first one is due (a timer: virtual time jumps there)
//! or a sender wakes it. Faults: short reads and writes, resets by the network, and partitions
//! between nodes (IP addresses): across a cut, bytes in flight wait (the reader stalls), some
//! connections are reset when the cut is made, and new connections wait for the heal.

use super::{world, World};
use crate::clock::{self, Time};
use crate::fiber::{self, FiberRef};
use crate::proactor;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::{Rc, Weak};
use std::time::Duration;

/// First port handed out to `bind(port 0)` and first ephemeral port of connecting sockets.
const FIRST_LISTEN_PORT: u16 = 16379;
const FIRST_EPHEMERAL_PORT: u16 = 40000;

/// The listeners of a world and the counters that name new endpoints.
#[derive(Default)]
pub(crate) struct Network {
    listeners: Vec<(SocketAddr, Rc<SimListener>)>,
    next_port: u16,
    next_ephemeral: u16,
    next_conn: u64,
    /// Pairs of nodes that cannot reach each other (a partition), each pair once.
    cuts: Vec<(IpAddr, IpAddr)>,
    /// Every connection made, while it lives (pruned when a partition is made).
    conns: Vec<Weak<Conn>>,
}

impl Network {
    fn cut(&self, a: IpAddr, b: IpAddr) -> bool {
        !self.cuts.is_empty() && self.cuts.iter().any(|&c| c == (a, b) || c == (b, a))
    }

    fn find(&self, addr: SocketAddr) -> Option<Rc<SimListener>> {
        self.listeners
            .iter()
            .find(|(a, _)| {
                a.port() == addr.port() && (a.ip() == addr.ip() || a.ip().is_unspecified())
            })
            .map(|(_, l)| l.clone())
    }
}

fn errno(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

/// Parks the calling fiber in simulated I/O until woken or `until`, counting it as an op in
/// flight so shutdown waits for it. Errors with ECANCELED once the proactor is stopping.
fn park_op(until: Option<Time>) -> io::Result<()> {
    let p = proactor::current();
    let me = p.current_fiber().expect("simulated I/O outside a fiber");
    if p.stopping.get() {
        return Err(crate::driver::cancelled_error());
    }
    p.driver.borrow_mut().sim().op_parked(me);
    match until {
        Some(t) => {
            fiber::park_until(t);
        }
        None => fiber::park(),
    }
    p.driver.borrow_mut().sim().op_woke(me);
    if p.stopping.get() {
        return Err(crate::driver::cancelled_error());
    }
    Ok(())
}

fn wake_all(waiters: &mut Vec<FiberRef>) {
    for w in waiters.drain(..) {
        w.unpark();
    }
}

/// A listening endpoint.
pub(crate) struct SimListener {
    addr: SocketAddr,
    backlog: RefCell<VecDeque<SimSocket>>,
    waiters: RefCell<Vec<FiberRef>>,
    closed: Cell<bool>,
}

impl SimListener {
    pub fn bind(addr: SocketAddr) -> io::Result<Rc<SimListener>> {
        let w = world();
        let mut net = w.net.borrow_mut();
        let mut addr = addr;
        if addr.port() == 0 {
            let port = FIRST_LISTEN_PORT + net.next_port;
            net.next_port += 1;
            addr.set_port(port);
        }
        if net.find(addr).is_some() {
            return Err(errno(libc::EADDRINUSE));
        }
        let l = Rc::new(SimListener {
            addr,
            backlog: RefCell::new(VecDeque::new()),
            waiters: RefCell::new(Vec::new()),
            closed: Cell::new(false),
        });
        net.listeners.push((addr, l.clone()));
        Ok(l)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn accept(&self) -> io::Result<SimSocket> {
        loop {
            if self.closed.get() {
                return Err(crate::driver::cancelled_error());
            }
            if let Some(s) = self.backlog.borrow_mut().pop_front() {
                return Ok(s);
            }
            self.waiters.borrow_mut().push(fiber::current());
            park_op(None)?;
        }
    }

    pub fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        if let Some(w) = super::try_world() {
            w.net
                .borrow_mut()
                .listeners
                .retain(|(a, _)| *a != self.addr);
        }
        for s in self.backlog.borrow_mut().drain(..) {
            s.close();
        }
        wake_all(&mut self.waiters.borrow_mut());
    }
}

/// One direction of a connection.
#[derive(Default)]
struct Pipe {
    /// Segments in send order with their delivery times (non-decreasing).
    segs: VecDeque<(Time, Vec<u8>)>,
    /// Offset already read in the front segment.
    front_read: usize,
    last_at: Time,
    /// The writer shut down its side: the reader sees end of stream after the data.
    fin: bool,
    readers: Vec<FiberRef>,
}

struct Conn {
    id: u64,
    /// The node (IP address) of each side.
    ends: [IpAddr; 2],
    /// `pipes[i]` carries what side `i` writes.
    pipes: [RefCell<Pipe>; 2],
    reset: Cell<bool>,
    /// Side `i` closed its socket (its ops fail) or shut down its reading.
    closed: [Cell<bool>; 2],
    read_shut: [Cell<bool>; 2],
}

impl Conn {
    fn reset(&self, w: &World) {
        if self.reset.replace(true) {
            return;
        }
        w.trace(6, self.id, 0);
        for p in &self.pipes {
            let mut p = p.borrow_mut();
            p.segs.clear();
            wake_all(&mut p.readers);
        }
    }
}

/// One end of a simulated connection.
pub(crate) struct SimSocket {
    conn: Rc<Conn>,
    side: usize,
    local: SocketAddr,
    peer: SocketAddr,
}

impl SimSocket {
    /// Connects to a listener of this world after one network latency; ECONNREFUSED when no
    /// listener has that address.
    pub fn connect(
        from: IpAddr,
        addr: SocketAddr,
        deadline: Option<Time>,
    ) -> io::Result<SimSocket> {
        let w = world();
        // Across a partition the handshake is retried until the heal (or the deadline).
        while w.net.borrow().cut(from, addr.ip()) {
            if deadline.is_some_and(|d| clock::now() >= d) {
                return Err(crate::driver::timed_out_error());
            }
            fiber::sleep(Duration::from_millis(10));
        }
        let lat = latency(&w);
        if deadline.is_some_and(|d| clock::now() + lat > d) {
            fiber::sleep_until(deadline.expect("checked"));
            return Err(crate::driver::timed_out_error());
        }
        fiber::sleep(lat);
        let (listener, id, port) = {
            let mut net = w.net.borrow_mut();
            let Some(l) = net.find(addr) else {
                return Err(errno(libc::ECONNREFUSED));
            };
            net.next_conn += 1;
            let port = FIRST_EPHEMERAL_PORT.wrapping_add(net.next_ephemeral);
            net.next_ephemeral = net.next_ephemeral.wrapping_add(1) % 20000;
            (l, net.next_conn, port)
        };
        let conn = Rc::new(Conn {
            id,
            ends: [from, addr.ip()],
            pipes: Default::default(),
            reset: Cell::new(false),
            closed: Default::default(),
            read_shut: Default::default(),
        });
        w.net.borrow_mut().conns.push(Rc::downgrade(&conn));
        let local = SocketAddr::new(from, port);
        let server_side = SimSocket {
            conn: conn.clone(),
            side: 1,
            local: listener.addr,
            peer: local,
        };
        w.trace(5, id, addr.port() as u64);
        listener.backlog.borrow_mut().push_back(server_side);
        wake_all(&mut listener.waiters.borrow_mut());
        Ok(SimSocket {
            conn,
            side: 0,
            local,
            peer: addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Receives what has arrived, parking until something does, the peer ends its side
    /// (Ok(0)) or `deadline` passes (ETIMEDOUT).
    pub fn recv(&self, buf: &mut [u8], deadline: Option<Time>) -> io::Result<usize> {
        let c = &self.conn;
        loop {
            if c.closed[self.side].get() {
                return Err(crate::driver::cancelled_error());
            }
            if c.reset.get() {
                return Err(errno(libc::ECONNRESET));
            }
            if c.read_shut[self.side].get() || buf.is_empty() {
                return Ok(0);
            }
            let now = clock::now();
            let cut = world().net.borrow().cut(c.ends[0], c.ends[1]);
            let next_at = {
                let mut pipe = c.pipes[1 - self.side].borrow_mut();
                match pipe.segs.front() {
                    // Nothing crosses the partition: wait for the heal (it wakes the readers).
                    Some(_) if cut => None,
                    Some((at, _)) if *at <= now => {
                        let n = self.take(&mut pipe, buf, now);
                        return Ok(n);
                    }
                    Some((at, _)) => Some(*at),
                    None if pipe.fin => return Ok(0),
                    None => None,
                }
            };
            if deadline.is_some_and(|d| now >= d) {
                return Err(crate::driver::timed_out_error());
            }
            let until = match (next_at, deadline) {
                (Some(a), Some(d)) => Some(a.min(d)),
                (a, d) => a.or(d),
            };
            c.pipes[1 - self.side]
                .borrow_mut()
                .readers
                .push(fiber::current());
            park_op(until)?;
        }
    }

    /// Copies due bytes into `buf`; a short read takes a random part of what it could.
    fn take(&self, pipe: &mut Pipe, buf: &mut [u8], now: Time) -> usize {
        let w = world();
        let mut cap = buf.len();
        if w.cfg.short_io && w.rng.borrow_mut().chance(1, 4) {
            cap = w.rng.borrow_mut().between(1, cap as u64) as usize;
        }
        let mut n = 0;
        while n < cap {
            let Some((at, seg)) = pipe.segs.front() else {
                break;
            };
            if *at > now {
                break;
            }
            let avail = &seg[pipe.front_read..];
            let k = avail.len().min(cap - n);
            buf[n..n + k].copy_from_slice(&avail[..k]);
            n += k;
            pipe.front_read += k;
            if pipe.front_read == seg.len() {
                pipe.segs.pop_front();
                pipe.front_read = 0;
            }
        }
        w.trace(7, self.conn.id * 2 + self.side as u64, n as u64);
        n
    }

    /// Sends some of `buf` (all of it unless a short write is drawn); never parks: the
    /// simulated network buffers without bound.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let c = &self.conn;
        if c.closed[self.side].get() {
            return Err(crate::driver::cancelled_error());
        }
        if c.reset.get() {
            return Err(errno(libc::ECONNRESET));
        }
        if c.closed[1 - self.side].get() || c.pipes[self.side].borrow().fin {
            return Err(errno(libc::EPIPE));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let w = world();
        if w.chance_per_million(w.cfg.reset_per_million) {
            c.reset(&w);
            return Err(errno(libc::ECONNRESET));
        }
        let mut n = buf.len();
        if w.cfg.short_io && w.rng.borrow_mut().chance(1, 4) {
            n = w.rng.borrow_mut().between(1, n as u64) as usize;
        }
        let at = clock::now() + latency(&w);
        let mut pipe = c.pipes[self.side].borrow_mut();
        let at = at.max(pipe.last_at);
        pipe.last_at = at;
        pipe.segs.push_back((at, buf[..n].to_vec()));
        wake_all(&mut pipe.readers);
        w.trace(8, c.id * 2 + self.side as u64, n as u64);
        Ok(n)
    }

    pub fn shutdown(&self, how: std::net::Shutdown) {
        let c = &self.conn;
        if matches!(how, std::net::Shutdown::Write | std::net::Shutdown::Both) {
            let mut pipe = c.pipes[self.side].borrow_mut();
            pipe.fin = true;
            wake_all(&mut pipe.readers);
        }
        if matches!(how, std::net::Shutdown::Read | std::net::Shutdown::Both) {
            c.read_shut[self.side].set(true);
            wake_all(&mut c.pipes[1 - self.side].borrow_mut().readers);
        }
    }

    /// True when a read would see end of stream or an error now: the connection was reset,
    /// or the peer's side ended and everything it sent has been read (a recv's MSG_PEEK test).
    pub fn peer_gone(&self) -> bool {
        let c = &self.conn;
        if c.reset.get() || c.closed[self.side].get() {
            return true;
        }
        let pipe = c.pipes[1 - self.side].borrow();
        pipe.fin && pipe.segs.is_empty()
    }

    /// Closes this end: the peer reads the rest, then end of stream; this end's ops fail.
    pub fn close(&self) {
        let c = &self.conn;
        if c.closed[self.side].replace(true) {
            return;
        }
        {
            let mut out = c.pipes[self.side].borrow_mut();
            out.fin = true;
            wake_all(&mut out.readers);
        }
        let mut inp = c.pipes[1 - self.side].borrow_mut();
        inp.segs.clear();
        wake_all(&mut inp.readers);
    }

    /// Resets the connection, as the network would (both ends' ops fail with ECONNRESET).
    pub fn reset(&self) {
        self.conn.reset(&world());
    }
}

/// Cuts nodes `a` and `b` apart: bytes between them wait until [`heal`], connections
/// between them are reset with a seeded chance of one in three, new ones wait for the heal.
pub fn partition(a: IpAddr, b: IpAddr) {
    let w = world();
    let conns: Vec<Rc<Conn>> = {
        let mut net = w.net.borrow_mut();
        if !net.cut(a, b) {
            net.cuts.push((a, b));
        }
        net.conns.retain(|c| c.strong_count() > 0);
        net.conns.iter().filter_map(|c| c.upgrade()).collect()
    };
    w.trace(13, ip_bits(a), ip_bits(b));
    for c in conns {
        let between = c.ends == [a, b] || c.ends == [b, a];
        if between && w.rng.borrow_mut().chance(1, 3) {
            c.reset(&w);
        }
    }
}

/// Heals the cut between `a` and `b`: what waited is delivered, readers wake.
pub fn heal(a: IpAddr, b: IpAddr) {
    let w = world();
    let conns: Vec<Rc<Conn>> = {
        let mut net = w.net.borrow_mut();
        net.cuts.retain(|&c| c != (a, b) && c != (b, a));
        net.conns.iter().filter_map(|c| c.upgrade()).collect()
    };
    w.trace(14, ip_bits(a), ip_bits(b));
    for c in conns {
        if c.ends == [a, b] || c.ends == [b, a] {
            for p in &c.pipes {
                wake_all(&mut p.borrow_mut().readers);
            }
        }
    }
}

/// True while `a` and `b` are cut apart.
pub fn partitioned(a: IpAddr, b: IpAddr) -> bool {
    world().net.borrow().cut(a, b)
}

fn ip_bits(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v) => u32::from(v) as u64,
        IpAddr::V6(v) => u128::from(v) as u64,
    }
}

fn latency(w: &World) -> Duration {
    let (lo, hi) = w.cfg.net_latency_us;
    Duration::from_micros(w.rng.borrow_mut().between(lo, hi))
}
