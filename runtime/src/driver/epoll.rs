//! epoll driver: the fallback when io_uring is unavailable (old kernels, seccomp profiles that
//! block it). Sockets are non-blocking and registered edge-triggered once; an op tries the
//! syscall first and parks on EAGAIN until the readiness sequence of its direction moves.
//! Regular files are not pollable: their reads, writes and fsyncs are plain syscalls here.

use super::cancelled_error;
use crate::clock::Time;
use crate::fiber::{self, FiberId};
use crate::proactor::{self, Proactor};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

const TOKEN_EVENTFD: u64 = u64::MAX;
const EVENTS_LEN: usize = 256;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct RegId {
    slot: u32,
    gen: u32,
}

#[derive(Copy, Clone, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

struct Registration {
    gen: u32,
    live: bool,
    read_seq: u64,
    write_seq: u64,
    closed: bool,
    waiters: Vec<FiberId>,
}

pub(crate) struct EpollDriver {
    epfd: OwnedFd,
    eventfd: OwnedFd,
    regs: Vec<Registration>,
    free: Vec<u32>,
    events: Vec<libc::epoll_event>,
    waiting_ops: usize,
}

impl EpollDriver {
    pub fn new() -> io::Result<EpollDriver> {
        // SAFETY: plain descriptor-creating syscalls; results are checked before use.
        let (epfd, efd) = unsafe {
            let epfd = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            if epfd < 0 {
                return Err(io::Error::last_os_error());
            }
            let epfd = OwnedFd::from_raw_fd(epfd);
            let efd = libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK);
            if efd < 0 {
                return Err(io::Error::last_os_error());
            }
            (epfd, OwnedFd::from_raw_fd(efd))
        };
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: TOKEN_EVENTFD,
        };
        // SAFETY: both descriptors are valid and owned by us; `ev` is a live local.
        if unsafe {
            libc::epoll_ctl(
                epfd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                efd.as_raw_fd(),
                &mut ev,
            )
        } < 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(EpollDriver {
            epfd,
            eventfd: efd,
            regs: Vec::new(),
            free: Vec::new(),
            events: vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_LEN],
            waiting_ops: 0,
        })
    }

    pub fn eventfd(&self) -> i32 {
        self.eventfd.as_raw_fd()
    }

    pub fn ops_in_flight(&self) -> usize {
        self.waiting_ops
    }

    pub fn register(&mut self, fd: i32) -> io::Result<RegId> {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.regs.push(Registration {
                    gen: 0,
                    live: false,
                    read_seq: 0,
                    write_seq: 0,
                    closed: false,
                    waiters: Vec::new(),
                });
                (self.regs.len() - 1) as u32
            }
        };
        let r = &mut self.regs[slot as usize];
        r.live = true;
        r.closed = false;
        let id = RegId { slot, gen: r.gen };
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: ((id.gen as u64) << 32) | slot as u64,
        };
        // SAFETY: `fd` is a descriptor the caller owns; `ev` is a live local.
        if unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            let e = io::Error::last_os_error();
            self.release(id);
            return Err(e);
        }
        Ok(id)
    }

    fn release(&mut self, id: RegId) {
        let r = &mut self.regs[id.slot as usize];
        r.live = false;
        r.gen = r.gen.wrapping_add(1);
        r.waiters.clear();
        self.free.push(id.slot);
    }

    fn get(&mut self, id: RegId) -> Option<&mut Registration> {
        self.regs
            .get_mut(id.slot as usize)
            .filter(|r| r.live && r.gen == id.gen)
    }

    /// Wakes every waiter of `id` with "closed" and removes the descriptor from epoll.
    pub fn deregister(&mut self, p: &Proactor, id: RegId, fd: i32) {
        let Some(r) = self.get(id) else { return };
        r.closed = true;
        for w in r.waiters.drain(..) {
            p.unpark_local(w);
        }
        // SAFETY: removing a descriptor we registered; a null event is allowed for DEL.
        unsafe {
            libc::epoll_ctl(
                self.epfd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        };
    }

    /// Forgets a registration once its descriptor is closed and no fiber can use it.
    pub fn forget(&mut self, id: RegId) {
        if self.get(id).is_some() {
            self.release(id);
        }
    }

    fn seq(&mut self, id: RegId, dir: Direction) -> Option<u64> {
        let r = self.get(id)?;
        if r.closed {
            return None;
        }
        Some(match dir {
            Direction::Read => r.read_seq,
            Direction::Write => r.write_seq,
        })
    }

    pub fn reap(&mut self, p: &Proactor) {
        self.poll(p, 0);
    }

    pub fn wait(&mut self, p: &Proactor, timeout: Option<Duration>) {
        let ms = match timeout {
            None => -1,
            // Round up: waking early only costs a loop turn, waking late delays a timer.
            Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
        };
        self.poll(p, ms);
    }

    fn poll(&mut self, p: &Proactor, timeout_ms: i32) {
        // SAFETY: `events` is a live buffer of EVENTS_LEN entries.
        let n = unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                self.events.as_mut_ptr(),
                EVENTS_LEN as i32,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            assert_eq!(
                e.raw_os_error(),
                Some(libc::EINTR),
                "epoll_wait failed: {e}"
            );
            return;
        }
        for i in 0..n as usize {
            let ev = self.events[i];
            let token = ev.u64;
            if token == TOKEN_EVENTFD {
                let mut buf = 0u64;
                // SAFETY: reads 8 bytes into a live u64 from our own non-blocking eventfd.
                unsafe { libc::read(self.eventfd.as_raw_fd(), (&mut buf as *mut u64).cast(), 8) };
                continue;
            }
            let id = RegId {
                slot: token as u32,
                gen: (token >> 32) as u32,
            };
            let Some(r) = self.get(id) else { continue };
            let bits = ev.events as i32;
            if bits & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) != 0 {
                r.read_seq += 1;
            }
            if bits & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) != 0 {
                r.write_seq += 1;
            }
            for w in r.waiters.drain(..) {
                p.unpark_local(w);
            }
        }
    }

    /// Shutdown: every registration reads as closed and its waiters wake.
    pub fn cancel_all(&mut self, p: &Proactor) {
        for r in self.regs.iter_mut().filter(|r| r.live) {
            r.closed = true;
            for w in r.waiters.drain(..) {
                p.unpark_local(w);
            }
        }
    }
}

/// Runs a non-blocking syscall for the calling fiber, parking on EAGAIN until `id` is ready in
/// direction `dir`, the deadline passes (ETIMEDOUT) or the descriptor is closed (ECANCELED).
pub(crate) fn run_op(
    id: RegId,
    dir: Direction,
    deadline: Option<Time>,
    mut syscall: impl FnMut() -> isize,
) -> io::Result<usize> {
    let p = proactor::current();
    let me = p.current_fiber().expect("I/O outside a fiber");
    loop {
        if p.stopping.get() {
            return Err(cancelled_error());
        }
        let Some(seq) = p.driver.borrow_mut().epoll().seq(id, dir) else {
            return Err(cancelled_error());
        };
        let r = syscall();
        if r >= 0 {
            return Ok(r as usize);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) | Some(libc::EINPROGRESS) => {}
            _ => return Err(err),
        }
        // Not ready: wait until an event moves this direction's sequence.
        loop {
            {
                let mut d = p.driver.borrow_mut();
                let ep = d.epoll();
                match ep.seq(id, dir) {
                    None => return Err(cancelled_error()),
                    Some(s) if s != seq => break,
                    Some(_) => {}
                }
                let r = ep.get(id).expect("live registration");
                if !r.waiters.contains(&me) {
                    r.waiters.push(me);
                }
                ep.waiting_ops += 1;
            }
            let timed_out = match deadline {
                Some(d) => fiber::park_until(d),
                None => {
                    fiber::park();
                    false
                }
            };
            {
                let mut d = p.driver.borrow_mut();
                let ep = d.epoll();
                ep.waiting_ops -= 1;
                if let Some(r) = ep.get(id) {
                    r.waiters.retain(|w| *w != me);
                }
            }
            if timed_out {
                return Err(super::timed_out_error());
            }
            if p.stopping.get() {
                return Err(cancelled_error());
            }
        }
    }
}
