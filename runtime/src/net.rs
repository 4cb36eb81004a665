//! TCP on the current proactor's backend: listen, accept (with round-robin hand-off of new
//! connections to proactors), connect, recv, send, shutdown and close.
//!
//! A `TcpStream` belongs to the proactor it was created on and can be cloned for several fibers
//! of that proactor (a reader and a writer). `close` cancels every op in flight on it — each
//! op's fiber gets ECANCELED once the kernel is done with its buffer — then closes the socket.

use crate::bus::{self, Message};
use crate::clock::Time;
use crate::driver::epoll::{self, Direction, RegId};
use crate::driver::{uring, Backend};
use crate::fiber;
use crate::proactor;
use crate::sim::net::{SimListener, SimSocket};
use io_uring::{opcode, types};
use std::cell::Cell;
use std::io;
use std::net::{Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Pending-connection queue length (Redis's tcp-backlog default is 511).
pub const LISTEN_BACKLOG: i32 = 1024;

fn backend() -> Backend {
    proactor::current().driver.borrow().backend()
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    unsafe {
        let flags = cvt(libc::fcntl(fd, libc::F_GETFL))?;
        let flags = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        cvt(libc::fcntl(fd, libc::F_SETFL, flags))?;
    }
    Ok(())
}

fn set_int_opt(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: passes a pointer to a live i32 and its size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

pub(crate) fn to_sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; zero is a valid bit pattern.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(a.ip().octets()),
            };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

pub(crate) fn from_sockaddr(ss: &libc::sockaddr_storage) -> io::Result<SocketAddr> {
    match ss.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(ss as *const _ as *const libc::sockaddr_in) };
            Ok(SocketAddr::V4(SocketAddrV4::new(
                sin.sin_addr.s_addr.to_ne_bytes().into(),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(ss as *const _ as *const libc::sockaddr_in6) };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                sin6.sin6_addr.s6_addr.into(),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        f => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("address family {f}"),
        )),
    }
}

fn name_of(
    fd: RawFd,
    f: unsafe extern "C" fn(i32, *mut libc::sockaddr, *mut libc::socklen_t) -> i32,
) -> io::Result<SocketAddr> {
    // SAFETY: zeroed storage is valid; the syscall writes at most `len` bytes into it.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: as above; `fd` is a socket we own.
    cvt(unsafe {
        f(
            fd,
            (&mut ss as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    })?;
    from_sockaddr(&ss)
}

fn new_socket(addr: &SocketAddr, nonblocking: bool) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let mut ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    if nonblocking {
        ty |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: socket() returns a new descriptor we take ownership of, or -1.
    let fd = cvt(unsafe { libc::socket(family, ty, 0) })?;
    // SAFETY: `fd` is fresh and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A listening socket on the proactor that created it.
pub struct TcpListener {
    /// None under the simulator.
    fd: Option<OwnedFd>,
    reg: Option<RegId>,
    local: SocketAddr,
    sim: Option<Rc<SimListener>>,
}

/// Moves a simulated endpoint to another proactor of its pool inside a `Send` message.
struct SimHandoff(SimSocket);

// SAFETY: the simulator runs every proactor of its pool on one OS thread, so a simulated
// socket handed from one proactor to another never leaves the thread that created it.
unsafe impl Send for SimHandoff {}

/// A connection just accepted: a kernel socket, or a simulated one.
enum Accepted {
    Fd(OwnedFd),
    Sim(SimHandoff),
}

impl TcpListener {
    /// Binds with SO_REUSEADDR and listens. Port 0 picks a free port (see `local_addr`).
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        if backend() == Backend::Sim {
            let l = SimListener::bind(addr)?;
            return Ok(TcpListener {
                fd: None,
                reg: None,
                local: l.local_addr(),
                sim: Some(l),
            });
        }
        let epoll = backend() == Backend::Epoll;
        let fd = new_socket(&addr, epoll)?;
        set_int_opt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        let (ss, len) = to_sockaddr(&addr);
        // SAFETY: `ss` holds a valid address of `len` bytes.
        cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&ss as *const libc::sockaddr_storage).cast(),
                len,
            )
        })?;
        // SAFETY: listen on our own socket.
        cvt(unsafe { libc::listen(fd.as_raw_fd(), LISTEN_BACKLOG) })?;
        let local = name_of(fd.as_raw_fd(), libc::getsockname)?;
        let reg = if epoll {
            Some(
                proactor::current()
                    .driver
                    .borrow_mut()
                    .epoll()
                    .register(fd.as_raw_fd())?,
            )
        } else {
            None
        };
        Ok(TcpListener {
            fd: Some(fd),
            reg,
            local,
            sim: None,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The socket's descriptor; -1 for a simulated listener.
    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, |fd| fd.as_raw_fd())
    }

    /// Accepts one connection as a stream of this proactor.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        if let Some(l) = &self.sim {
            let s = l.accept()?;
            let peer = s.peer_addr();
            return Ok((TcpStream::from_sim(s), peer));
        }
        let (fd, peer) = self.accept_fd()?;
        Ok((TcpStream::from_fd(fd)?, peer))
    }

    fn accept_any(&self) -> io::Result<Accepted> {
        match &self.sim {
            Some(l) => Ok(Accepted::Sim(SimHandoff(l.accept()?))),
            None => self.accept_fd().map(|(fd, _)| Accepted::Fd(fd)),
        }
    }

    fn accept_fd(&self) -> io::Result<(OwnedFd, SocketAddr)> {
        // SAFETY: zeroed storage is valid; the kernel writes at most `len` bytes into it.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        let ss_ptr: *mut libc::sockaddr = (&mut ss as *mut libc::sockaddr_storage).cast();
        let lfd = self.fd.as_ref().expect("kernel listener").as_raw_fd();
        let fd = match self.reg {
            None => {
                let e = opcode::Accept::new(types::Fd(lfd), ss_ptr, &mut len)
                    .flags(libc::SOCK_CLOEXEC)
                    .build();
                // `ss` and `len` live on this fiber's stack, which waits for the completion.
                uring::run_op(e, None)?
            }
            Some(reg) => epoll::run_op(reg, Direction::Read, None, || {
                // SAFETY: as above.
                unsafe { libc::accept4(lfd, ss_ptr, &mut len, libc::SOCK_CLOEXEC) as isize }
            })? as i32,
        };
        // SAFETY: accept returned a fresh descriptor we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let peer = from_sockaddr(&ss).unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        Ok((fd, peer))
    }

    /// Accepts forever, handing each connection to the next proactor in round-robin order,
    /// where `handler` runs in a new fiber. Returns when accepting fails for good (the listener
    /// was closed or the pool is stopping).
    pub fn serve<H>(&self, handler: H) -> io::Result<()>
    where
        H: Fn(TcpStream) + Send + Sync + 'static,
    {
        let handler: Arc<dyn Fn(TcpStream) + Send + Sync> = Arc::new(handler);
        let next = AtomicUsize::new(proactor::current().index);
        loop {
            let accepted = match self.accept_any() {
                Ok(c) => c,
                Err(e) if is_transient_accept_error(&e) => {
                    log::warn!("accept: {e}");
                    fiber::sleep(std::time::Duration::from_millis(10));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let n = proactor::count();
            let target = next.fetch_add(1, Ordering::Relaxed) % n;
            let h = handler.clone();
            let run = move || match accepted {
                Accepted::Fd(fd) => match TcpStream::from_fd(fd) {
                    Ok(stream) => h(stream),
                    Err(e) => log::warn!("cannot set up an accepted connection: {e}"),
                },
                Accepted::Sim(s) => h(TcpStream::from_sim(s.0)),
            };
            if target == proactor::current().index {
                fiber::Builder::new().name("connection").spawn(run);
            } else {
                let spawn = move || {
                    fiber::Builder::new().name("connection").spawn(run);
                };
                bus::send(target, Message::Spawn(Box::new(spawn)));
            }
        }
    }
}

fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::ECONNABORTED)
    )
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        if let Some(l) = &self.sim {
            l.close();
        }
        if let (Some(reg), Some(p), Some(fd)) = (self.reg, proactor::try_current(), &self.fd) {
            let mut d = p.driver.borrow_mut();
            d.epoll().deregister(p, reg, fd.as_raw_fd());
            d.epoll().forget(reg);
        }
    }
}

struct StreamInner {
    fd: RawFd,
    reg: Option<RegId>,
    closed: Cell<bool>,
    /// The simulated endpoint under the simulator (then `fd` is -1).
    sim: Option<SimSocket>,
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        if let Some(s) = &self.sim {
            s.close();
            return;
        }
        if !self.closed.get() {
            // Last handle: no fiber can have an op in flight on it.
            if let (Some(reg), Some(p)) = (self.reg, proactor::try_current()) {
                let mut d = p.driver.borrow_mut();
                d.epoll().deregister(p, reg, self.fd);
                d.epoll().forget(reg);
            }
            // SAFETY: we own `fd` and nothing uses it any more.
            unsafe { libc::close(self.fd) };
        }
    }
}

/// A connected TCP socket of the current proactor. Clones share the socket.
#[derive(Clone)]
pub struct TcpStream {
    inner: Rc<StreamInner>,
}

impl TcpStream {
    /// Adopts a connected socket on the current proactor (TCP_NODELAY on, as Redis does).
    pub fn from_fd(fd: OwnedFd) -> io::Result<TcpStream> {
        let epoll = backend() == Backend::Epoll;
        let raw = fd.as_raw_fd();
        set_nonblocking(raw, epoll)?;
        let _ = set_int_opt(raw, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
        let reg = if epoll {
            Some(
                proactor::current()
                    .driver
                    .borrow_mut()
                    .epoll()
                    .register(raw)?,
            )
        } else {
            None
        };
        Ok(TcpStream {
            inner: Rc::new(StreamInner {
                fd: fd.into_raw_fd(),
                reg,
                closed: Cell::new(false),
                sim: None,
            }),
        })
    }

    fn from_sim(s: SimSocket) -> TcpStream {
        TcpStream {
            inner: Rc::new(StreamInner {
                fd: -1,
                reg: None,
                closed: Cell::new(false),
                sim: Some(s),
            }),
        }
    }

    /// Adopts a std stream (for example one handed over from another thread).
    pub fn from_std(s: std::net::TcpStream) -> io::Result<TcpStream> {
        TcpStream::from_fd(OwnedFd::from(s))
    }

    /// Under the simulator: connects from node `from` (the source address a simulated
    /// partition sees). Other backends: `Unsupported`.
    pub fn connect_from_sim_node(
        from: std::net::IpAddr,
        addr: SocketAddr,
    ) -> io::Result<TcpStream> {
        if backend() != Backend::Sim {
            return Err(io::Error::from(io::ErrorKind::Unsupported));
        }
        SimSocket::connect(from, addr, None).map(TcpStream::from_sim)
    }

    /// Connects from the current proactor.
    pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect_until(addr, None)
    }

    pub fn connect_until(addr: SocketAddr, deadline: Option<Time>) -> io::Result<TcpStream> {
        if backend() == Backend::Sim {
            let from = std::net::Ipv4Addr::LOCALHOST.into();
            return SimSocket::connect(from, addr, deadline).map(TcpStream::from_sim);
        }
        let epoll = backend() == Backend::Epoll;
        let fd = new_socket(&addr, epoll)?;
        let (ss, len) = to_sockaddr(&addr);
        let ss_ptr: *const libc::sockaddr = (&ss as *const libc::sockaddr_storage).cast();
        if epoll {
            let stream = TcpStream::from_fd(fd)?;
            let raw = stream.inner.fd;
            let mut started = false;
            epoll::run_op(
                stream.inner.reg.expect("epoll stream"),
                Direction::Write,
                deadline,
                || {
                    if !started {
                        started = true;
                        // SAFETY: `ss` outlives this call; `raw` is our socket.
                        return unsafe { libc::connect(raw, ss_ptr, len) } as isize;
                    }
                    let mut err: i32 = 0;
                    let mut l = std::mem::size_of::<i32>() as libc::socklen_t;
                    // SAFETY: reads SO_ERROR into a live i32.
                    unsafe {
                        libc::getsockopt(
                            raw,
                            libc::SOL_SOCKET,
                            libc::SO_ERROR,
                            (&mut err as *mut i32).cast(),
                            &mut l,
                        )
                    };
                    if err == 0 {
                        0
                    } else {
                        // SAFETY: sets this thread's errno for run_op to read.
                        unsafe { *libc::__errno_location() = err };
                        -1
                    }
                },
            )?;
            Ok(stream)
        } else {
            let e = opcode::Connect::new(types::Fd(fd.as_raw_fd()), ss_ptr, len).build();
            // `ss` lives on this fiber's stack, which waits for the completion.
            uring::run_op(e, deadline)?;
            TcpStream::from_fd(fd)
        }
    }

    fn check_open(&self) -> io::Result<()> {
        if self.inner.closed.get() {
            Err(crate::driver::cancelled_error())
        } else {
            Ok(())
        }
    }

    /// Receives into `buf`; Ok(0) means the peer closed its side.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_until(buf, None)
    }

    /// Receives with a deadline (ETIMEDOUT when it passes first).
    pub fn recv_until(&self, buf: &mut [u8], deadline: Option<Time>) -> io::Result<usize> {
        self.check_open()?;
        if let Some(s) = &self.inner.sim {
            return s.recv(buf, deadline);
        }
        let fd = self.inner.fd;
        let len = buf.len().min(u32::MAX as usize);
        let ptr = buf.as_mut_ptr();
        match self.inner.reg {
            None => {
                let e = opcode::Recv::new(types::Fd(fd), ptr, len as u32).build();
                // `buf` is borrowed by this fiber until run_op returns after the completion.
                uring::run_op(e, deadline).map(|n| n as usize)
            }
            Some(reg) => epoll::run_op(reg, Direction::Read, deadline, || {
                // SAFETY: `ptr`/`len` describe the live, exclusively borrowed `buf`.
                unsafe { libc::recv(fd, ptr.cast(), len, 0) }
            }),
        }
    }

    /// Receives into `buf`, which need not be initialized (a fiber's stack buffer, read without
    /// zeroing it first); returns how many of its first bytes the kernel wrote. Ok(0): the
    /// peer closed its side.
    pub fn recv_uninit(&self, buf: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<usize> {
        self.check_open()?;
        if let Some(s) = &self.inner.sim {
            for b in buf.iter_mut() {
                b.write(0);
            }
            // SAFETY: every byte of `buf` was just initialized.
            let init = unsafe { &mut *(buf as *mut [std::mem::MaybeUninit<u8>] as *mut [u8]) };
            return s.recv(init, None);
        }
        let len = buf.len().min(u32::MAX as usize);
        let ptr = buf.as_mut_ptr().cast::<u8>();
        let fd = self.inner.fd;
        let n = match self.inner.reg {
            None => {
                let e = opcode::Recv::new(types::Fd(fd), ptr, len as u32).build();
                // `buf` is borrowed by this fiber until run_op returns after the completion.
                uring::run_op(e, None)? as usize
            }
            Some(reg) => epoll::run_op(reg, Direction::Read, None, || {
                // SAFETY: `ptr`/`len` describe the live, exclusively borrowed `buf`; the kernel
                // only writes into it.
                unsafe { libc::recv(fd, ptr.cast(), len, 0) }
            })?,
        };
        assert!(
            n <= len,
            "recv reported more bytes than it was given room for"
        );
        Ok(n)
    }

    /// Receives into the spare capacity of `buf` (at least `min_spare` bytes are reserved) and
    /// extends its length by what arrived: no zeroing of the receive area on every read.
    pub fn recv_append(&self, buf: &mut Vec<u8>, min_spare: usize) -> io::Result<usize> {
        self.check_open()?;
        buf.reserve(min_spare);
        if let Some(s) = &self.inner.sim {
            let start = buf.len();
            buf.resize(buf.capacity(), 0);
            let r = s.recv(&mut buf[start..], None);
            buf.truncate(start + *r.as_ref().unwrap_or(&0));
            return r;
        }
        let spare = buf.spare_capacity_mut();
        let len = spare.len().min(u32::MAX as usize);
        let ptr = spare.as_mut_ptr().cast::<u8>();
        let fd = self.inner.fd;
        let n = match self.inner.reg {
            None => {
                let e = opcode::Recv::new(types::Fd(fd), ptr, len as u32).build();
                // The spare capacity stays reserved (we hold `&mut buf`) until the completion.
                uring::run_op(e, None)? as usize
            }
            Some(reg) => epoll::run_op(reg, Direction::Read, None, || {
                // SAFETY: `ptr`/`len` describe the vector's reserved, exclusively borrowed spare
                // capacity; the kernel only writes into it.
                unsafe { libc::recv(fd, ptr.cast(), len, 0) }
            })?,
        };
        assert!(
            n <= len,
            "recv reported more bytes than it was given room for"
        );
        // SAFETY: the kernel initialized the first `n` bytes of the spare capacity.
        unsafe { buf.set_len(buf.len() + n) };
        Ok(n)
    }

    /// Sends some of `buf`; returns how much was sent.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.send_until(buf, None)
    }

    pub fn send_until(&self, buf: &[u8], deadline: Option<Time>) -> io::Result<usize> {
        self.check_open()?;
        if let Some(s) = &self.inner.sim {
            return s.send(buf);
        }
        let fd = self.inner.fd;
        let len = buf.len().min(u32::MAX as usize);
        let ptr = buf.as_ptr();
        match self.inner.reg {
            None => {
                let e = opcode::Send::new(types::Fd(fd), ptr, len as u32)
                    .flags(libc::MSG_NOSIGNAL)
                    .build();
                // `buf` is borrowed by this fiber until run_op returns after the completion.
                uring::run_op(e, deadline).map(|n| n as usize)
            }
            Some(reg) => epoll::run_op(reg, Direction::Write, deadline, || {
                // SAFETY: `ptr`/`len` describe the live borrowed `buf`.
                unsafe { libc::send(fd, ptr.cast(), len, libc::MSG_NOSIGNAL) }
            }),
        }
    }

    /// Sends what the socket takes of `buf` right now, without parking (a non-blocking send
    /// syscall): `WouldBlock` when it takes nothing. For a caller that owns the send side at
    /// the moment (no other send in flight on this socket) and must not wait.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.check_open()?;
        if let Some(s) = &self.inner.sim {
            return s.send(buf);
        }
        let fd = self.inner.fd;
        // SAFETY: `buf` is a live borrowed slice for the duration of the call.
        let n = unsafe {
            libc::send(
                fd,
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Sends all of `buf`.
    pub fn send_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.send(buf)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
        }
        Ok(())
    }

    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        if self.inner.sim.is_some() {
            return Ok(());
        }
        set_int_opt(
            self.inner.fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            on as i32,
        )
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.check_open()?;
        if let Some(s) = &self.inner.sim {
            s.shutdown(how);
            return Ok(());
        }
        let how = match how {
            Shutdown::Read => libc::SHUT_RD,
            Shutdown::Write => libc::SHUT_WR,
            Shutdown::Both => libc::SHUT_RDWR,
        };
        // SAFETY: shutdown on our own open socket.
        cvt(unsafe { libc::shutdown(self.inner.fd, how) }).map(|_| ())
    }

    /// Cancels every op in flight on this socket (their fibers get ECANCELED) and closes it.
    /// Other clones then fail with ECANCELED.
    pub fn close(&self) -> io::Result<()> {
        if self.inner.closed.replace(true) {
            return Ok(());
        }
        if let Some(s) = &self.inner.sim {
            s.close();
            return Ok(());
        }
        let fd = self.inner.fd;
        let p = proactor::current();
        match self.inner.reg {
            None => {
                if fiber::in_fiber() && !p.stopping.get() {
                    uring::cancel_fd(fd)?;
                }
            }
            Some(reg) => {
                let mut d = p.driver.borrow_mut();
                d.epoll().deregister(p, reg, fd);
                d.epoll().forget(reg);
            }
        }
        // SAFETY: we own `fd`; io_uring ops still finishing hold their own file reference.
        cvt(unsafe { libc::close(fd) }).map(|_| ())
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.check_open()?;
        if let Some(s) = &self.inner.sim {
            return Ok(s.local_addr());
        }
        name_of(self.inner.fd, libc::getsockname)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.check_open()?;
        if let Some(s) = &self.inner.sim {
            return Ok(s.peer_addr());
        }
        name_of(self.inner.fd, libc::getpeername)
    }

    /// Resets a simulated connection as the network would; an error on a kernel socket.
    pub fn sim_reset(&self) -> io::Result<()> {
        match &self.inner.sim {
            Some(s) => {
                s.reset();
                Ok(())
            }
            None => Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP)),
        }
    }

    /// The socket's descriptor; -1 for a simulated connection.
    pub fn as_raw_fd(&self) -> RawFd {
        self.inner.fd
    }

    /// True when the peer closed the connection (end of stream with nothing left to read)
    /// or it failed; never blocks, leaves unread data in place.
    pub fn peer_closed(&self) -> bool {
        if let Some(s) = &self.inner.sim {
            return s.peer_gone();
        }
        let mut byte = [0u8; 1];
        // SAFETY: `fd` is this stream's open socket (the stream owns it); `byte` is a valid
        // one-byte buffer; MSG_PEEK leaves any data in the socket for the reader.
        let n = unsafe {
            libc::recv(
                self.inner.fd,
                byte.as_mut_ptr() as *mut libc::c_void,
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n == 0 {
            return true;
        }
        n < 0 && {
            let e = io::Error::last_os_error().raw_os_error();
            !matches!(e, Some(libc::EAGAIN) | Some(libc::EINTR))
        }
    }
}
