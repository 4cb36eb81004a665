//! The message bus between proactors.
//!
//! Every proactor has one bounded SPSC inbox per source proactor (FIFO per pair) and one
//! bounded MPMC inbox for threads that are not proactors. A sender pushes, then rings the
//! target's doorbell: if the target announced it is going to sleep, the sender wakes it —
//! with `IORING_OP_MSG_RING` from its own ring when both run io_uring, else through the target's
//! eventfd. A full inbox never drops a message and never blocks a proactor thread: a sending
//! fiber parks and retries; the loop itself (which cannot park) keeps an overflow queue that it
//! flushes on every turn.

pub(crate) mod mpmc;
pub(crate) mod spsc;

use crate::clock;
use crate::fiber::{self, FiberId};
use crate::proactor::{self, Proactor};
use crossbeam_utils::CachePadded;
use mpmc::MpmcQueue;
use spsc::SpscRing;
use std::sync::atomic::{fence, AtomicI32, AtomicU32, Ordering};
use std::time::Duration;

/// A plain function and its argument, run inline by the target's loop: no allocation, no boxed
/// closure. The function must not park (it runs outside any fiber).
#[derive(Copy, Clone)]
pub struct RawCall {
    pub func: fn(usize),
    pub arg: usize,
}

/// What travels between proactors.
pub enum Message {
    /// Make a parked fiber of the target runnable.
    Wake(FiberId),
    /// Start a fiber on the target running this closure.
    Spawn(Box<dyn FnOnce() + Send>),
    /// Run a function inline in the target's loop.
    Call(RawCall),
}

const AWAKE: u32 = 0;
const SLEEPING: u32 = 1;
const NOTIFIED: u32 = 2;

/// Capacity of each per-pair inbox, and of each external inbox.
pub(crate) const INBOX_LEN: usize = 4096;
/// Messages a loop turn takes from one inbox before moving on (fairness between sources).
pub(crate) const DRAIN_BUDGET: usize = 1024;

pub(crate) struct Bus {
    n: usize,
    /// `inboxes[dst * n + src]`.
    inboxes: Box<[SpscRing<Message>]>,
    external: Box<[MpmcQueue<Message>]>,
    doorbells: Box<[CachePadded<AtomicU32>]>,
    /// Ring fds of io_uring proactors (for MSG_RING), -1 otherwise.
    pub ring_fds: Box<[AtomicI32]>,
    /// Eventfds every proactor can be woken through.
    pub eventfds: Box<[AtomicI32]>,
}

impl Bus {
    pub fn new(n: usize) -> Bus {
        Bus {
            n,
            inboxes: (0..n * n).map(|_| SpscRing::new(INBOX_LEN)).collect(),
            external: (0..n).map(|_| MpmcQueue::new(INBOX_LEN)).collect(),
            doorbells: (0..n)
                .map(|_| CachePadded::new(AtomicU32::new(AWAKE)))
                .collect(),
            ring_fds: (0..n).map(|_| AtomicI32::new(-1)).collect(),
            eventfds: (0..n).map(|_| AtomicI32::new(-1)).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.n
    }

    fn inbox(&self, dst: usize, src: usize) -> &SpscRing<Message> {
        &self.inboxes[dst * self.n + src]
    }

    /// Consumer: takes the next message from `src`'s inbox of `dst`.
    pub fn pop(&self, dst: usize, src: usize) -> Option<Message> {
        self.inbox(dst, src).pop()
    }

    pub fn pop_external(&self, dst: usize) -> Option<Message> {
        self.external[dst].pop()
    }

    /// Mail from other proactors (not from threads outside the pool).
    pub fn has_peer_mail(&self, dst: usize) -> bool {
        (0..self.n).any(|src| !self.inbox(dst, src).is_empty())
    }

    pub fn has_mail(&self, dst: usize) -> bool {
        !self.external[dst].is_empty() || (0..self.n).any(|src| !self.inbox(dst, src).is_empty())
    }

    /// Loop side of the sleep protocol: announce sleep, then re-check the inboxes. Returns false
    /// (and stays awake) when mail arrived in between.
    pub fn prepare_sleep(&self, dst: usize) -> bool {
        self.doorbells[dst].store(SLEEPING, Ordering::SeqCst);
        // Pairs with the fence in `ring_doorbell`: either we see the message, or the sender
        // sees SLEEPING and wakes us.
        fence(Ordering::SeqCst);
        if self.has_mail(dst) {
            self.doorbells[dst].store(AWAKE, Ordering::SeqCst);
            return false;
        }
        true
    }

    pub fn mark_awake(&self, dst: usize) {
        self.doorbells[dst].store(AWAKE, Ordering::SeqCst);
    }

    /// Sender side, after a successful push: returns true when the target was asleep and this
    /// sender won the right (and duty) to wake it.
    fn ring_doorbell(&self, dst: usize) -> bool {
        fence(Ordering::SeqCst);
        let db = &self.doorbells[dst];
        db.load(Ordering::SeqCst) == SLEEPING
            && db
                .compare_exchange(SLEEPING, NOTIFIED, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
    }

    /// Wakes `dst` through its eventfd, whatever state it is in.
    pub fn wake_by_eventfd(&self, dst: usize) {
        let fd = self.eventfds[dst].load(Ordering::Acquire);
        if fd >= 0 {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to an eventfd the target owns until the pool
            // is dropped; a failure (EAGAIN on counter overflow) still leaves the target woken.
            unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
        }
    }
}

/// Sends `msg` to proactor `dst` from a fiber or a proactor's loop (threads outside the pool use
/// `ProactorPool::send`). Never drops the message; never blocks the proactor thread.
pub fn send(dst: usize, msg: Message) {
    let p = proactor::current();
    send_from_proactor(p, dst, msg)
}

/// Sends `msg` to proactor `dst` without ever parking the caller: when the inbox is full the
/// message waits in this proactor's overflow queue, which its loop flushes in order. For
/// senders that must not let other fibers run meanwhile (a shard holding its tables).
pub fn post(dst: usize, mut msg: Message) {
    let p = proactor::current();
    let bus = &p.shared.bus;
    assert!(dst < bus.len(), "no proactor {dst}");
    if !p.has_overflow(dst) {
        match bus.inbox(dst, p.index).push(msg) {
            Ok(()) => {
                if dst != p.index && bus.ring_doorbell(dst) {
                    p.wake_remote(dst);
                }
                return;
            }
            Err(back) => msg = back,
        }
    }
    p.push_overflow(dst, msg);
}

fn send_from_proactor(p: &Proactor, dst: usize, mut msg: Message) {
    let bus = &p.shared.bus;
    assert!(dst < bus.len(), "no proactor {dst}");
    let src = p.index;
    loop {
        if !p.has_overflow(dst) {
            match bus.inbox(dst, src).push(msg) {
                Ok(()) => {
                    if dst != src && bus.ring_doorbell(dst) {
                        p.wake_remote(dst);
                    }
                    return;
                }
                Err(back) => msg = back,
            }
        }
        if fiber::in_fiber() && !std::thread::panicking() {
            // Back-pressure: the target is busy (it was not asleep when its inbox filled up, or
            // the wake is on its way). Park briefly and retry; keeps memory bounded.
            if dst != src && bus.ring_doorbell(dst) {
                p.wake_remote(dst);
            }
            fiber::park_until(clock::now() + Duration::from_micros(20));
        } else {
            p.push_overflow(dst, msg);
            return;
        }
    }
}

/// Called by the loop every turn: moves overflowed messages into the inboxes, in order.
pub(crate) fn flush_overflow(p: &Proactor) {
    let bus = &p.shared.bus;
    for dst in 0..bus.len() {
        while let Some(msg) = p.pop_overflow(dst) {
            match bus.inbox(dst, p.index).push(msg) {
                Ok(()) => {
                    if dst != p.index && bus.ring_doorbell(dst) {
                        p.wake_remote(dst);
                    }
                }
                Err(back) => {
                    p.unpop_overflow(dst, back);
                    break;
                }
            }
        }
    }
}

impl Bus {
    /// Sender that is not a proactor: spins, then sleeps briefly, while the inbox is full.
    pub fn send_external(&self, dst: usize, mut msg: Message) {
        let backoff = crossbeam_utils::Backoff::new();
        loop {
            match self.external[dst].push(msg) {
                Ok(()) => break,
                Err(back) => {
                    msg = back;
                    self.wake_by_eventfd(dst);
                    if backoff.is_completed() {
                        clock::sleep_thread(Duration::from_micros(50));
                    } else {
                        backoff.snooze();
                    }
                }
            }
        }
        if self.ring_doorbell(dst) {
            self.wake_by_eventfd(dst);
        }
    }
}
