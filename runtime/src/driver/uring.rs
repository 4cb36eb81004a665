//! io_uring driver. Each op in flight is a slot in a slab; `user_data` carries the slot and its
//! generation, never a pointer, and a completion for a slot that is not in flight is a bug
//! (assertion). The fiber that issued an op parks until its completion; it never finishes or
//! unwinds with an op in flight, which is what makes fiber-owned buffers safe. Cancelling is
//! `AsyncCancel` plus waiting for the original completion.

use super::{cancelled_error, timed_out_error};
use crate::clock::Time;
use crate::fiber::{self, FiberId};
use crate::proactor::{self, Proactor};
use io_uring::{opcode, squeue, types, IoUring};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Completion of a MSG_RING wake sent to us by another proactor.
const UD_WAKE: u64 = u64::MAX;
/// Completion of the read on our eventfd (wakes from threads outside the pool).
const UD_EVENTFD: u64 = u64::MAX - 1;
/// Completions we do not wait for (cancel requests).
const UD_IGNORE: u64 = u64::MAX - 2;
/// Our own MSG_RING wake of proactor `dst` (low 16 bits), seen only when it failed: op slots
/// never reach these indices, and their generation is in the high half.
const UD_RING_SEND: u64 = 0xffff_0000;

fn ring_send_target(ud: u64) -> Option<usize> {
    (ud >> 32 == 0 && ud & 0xffff_0000 == UD_RING_SEND).then_some((ud & 0xffff) as usize)
}

pub(crate) const SQ_ENTRIES: u32 = 1024;
pub(crate) const CQ_ENTRIES: u32 = 4096;
const REAP_BATCH: usize = 128;

struct OpSlot {
    gen: u32,
    in_flight: bool,
    waiter: Option<FiberId>,
    result: Option<i32>,
}

pub(crate) struct UringDriver {
    ring: IoUring,
    slots: Vec<OpSlot>,
    free: Vec<u32>,
    in_flight: usize,
    eventfd: OwnedFd,
    /// Target of the eventfd read. Boxed so its address is stable while the read is in flight;
    /// leaked if the read could not be drained at shutdown.
    efd_buf: Option<Box<u64>>,
    efd_armed: bool,
    cqes: Vec<(u64, i32)>,
}

/// Builds a ring with the flags the design asks for, dropping the newest ones on EINVAL (older
/// kernels).
pub(crate) fn build_ring(entries: u32) -> io::Result<IoUring> {
    let full = IoUring::builder()
        .setup_cqsize(CQ_ENTRIES.max(entries * 2))
        .setup_submit_all()
        .setup_coop_taskrun()
        .setup_taskrun_flag()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(entries);
    match full {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => IoUring::builder()
            .setup_cqsize(CQ_ENTRIES.max(entries * 2))
            .setup_coop_taskrun()
            .build(entries),
        other => other,
    }
}

/// Checks that io_uring can be used here with the ops we need. Errors name the cause.
pub(crate) fn probe() -> io::Result<()> {
    let ring = build_ring(8)?;
    let mut probe = io_uring::Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    let needed = [
        (opcode::Accept::CODE, "accept"),
        (opcode::Recv::CODE, "recv"),
        (opcode::Send::CODE, "send"),
        (opcode::Connect::CODE, "connect"),
        (opcode::Read::CODE, "read"),
        (opcode::Write::CODE, "write"),
        (opcode::Fsync::CODE, "fsync"),
        (opcode::RenameAt::CODE, "renameat"),
        (opcode::AsyncCancel::CODE, "async_cancel"),
        (opcode::MsgRingData::CODE, "msg_ring"),
    ];
    for (code, name) in needed {
        if !probe.is_supported(code) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("io_uring op {name} is not supported by this kernel"),
            ));
        }
    }
    if !ring.params().is_feature_nodrop() || !ring.params().is_feature_ext_arg() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring lacks NODROP or EXT_ARG (kernel older than 5.11)",
        ));
    }
    Ok(())
}

impl UringDriver {
    pub fn new(entries: u32) -> io::Result<UringDriver> {
        let ring = build_ring(entries)?;
        // SAFETY: eventfd returns a new descriptor we own, or -1.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(UringDriver {
            ring,
            slots: Vec::new(),
            free: Vec::new(),
            in_flight: 0,
            // SAFETY: `efd` is a fresh descriptor nobody else owns.
            eventfd: unsafe { OwnedFd::from_raw_fd(efd) },
            efd_buf: Some(Box::new(0)),
            efd_armed: false,
            cqes: Vec::with_capacity(REAP_BATCH),
        })
    }

    pub fn ring_fd(&self) -> i32 {
        self.ring.as_raw_fd()
    }

    pub fn eventfd(&self) -> i32 {
        self.eventfd.as_raw_fd()
    }

    pub fn ops_in_flight(&self) -> usize {
        self.in_flight
    }

    fn push(&mut self, entry: &squeue::Entry) {
        loop {
            // SAFETY: every entry we push points only at memory that outlives the op: fiber
            // buffers (the fiber waits for the completion), the boxed eventfd word, or nothing.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return;
            }
            // SQ full: hand what is queued to the kernel and retry.
            if let Err(e) = self.ring.submit() {
                if e.raw_os_error() != Some(libc::EBUSY) {
                    panic!("io_uring submit failed: {e}");
                }
                self.drain_cq_into_buffer();
            }
        }
    }

    fn arm_eventfd(&mut self) {
        if self.efd_armed {
            return;
        }
        let Some(buf) = self.efd_buf.as_mut() else {
            return;
        };
        let ptr: *mut u64 = &mut **buf;
        let e = opcode::Read::new(types::Fd(self.eventfd.as_raw_fd()), ptr.cast(), 8)
            .build()
            .user_data(UD_EVENTFD);
        self.push(&e);
        self.efd_armed = true;
    }

    /// Starts an op for fiber `waiter`; returns its user_data.
    fn start(&mut self, entry: squeue::Entry, waiter: FiberId) -> u64 {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(OpSlot {
                    gen: 0,
                    in_flight: false,
                    waiter: None,
                    result: None,
                });
                assert!(
                    (self.slots.len() as u64) < UD_RING_SEND,
                    "op slots reach the MSG_RING tag"
                );
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[slot as usize];
        debug_assert!(!s.in_flight && s.result.is_none());
        s.in_flight = true;
        s.waiter = Some(waiter);
        let ud = ((s.gen as u64) << 32) | slot as u64;
        self.in_flight += 1;
        self.push(&entry.user_data(ud));
        ud
    }

    /// The result of op `ud` if it completed; frees its slot.
    fn take(&mut self, ud: u64) -> Option<i32> {
        let slot = (ud & 0xffff_ffff) as usize;
        let s = &mut self.slots[slot];
        assert_eq!(
            s.gen,
            (ud >> 32) as u32,
            "op slot reused while its owner waits"
        );
        let r = s.result.take()?;
        s.gen = s.gen.wrapping_add(1);
        s.waiter = None;
        self.free.push(slot as u32);
        Some(r)
    }

    pub fn msg_ring_wake(&mut self, ring_fd: i32, dst: usize) -> bool {
        assert!(dst < 0x1_0000, "proactor index fits the MSG_RING tag");
        let e = opcode::MsgRingData::new(types::Fd(ring_fd), 0, UD_WAKE, None)
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(UD_RING_SEND | dst as u64);
        self.push(&e);
        // Submit now: the target is asleep and waiting for exactly this.
        let _ = self.ring.submit();
        true
    }

    fn drain_cq_into_buffer(&mut self) {
        for cqe in self.ring.completion() {
            self.cqes.push((cqe.user_data(), cqe.result()));
        }
    }

    pub fn reap(&mut self, p: &Proactor) {
        self.drain_cq_into_buffer();
        for i in 0..self.cqes.len() {
            let (ud, res) = self.cqes[i];
            match ud {
                UD_WAKE | UD_IGNORE => {}
                UD_EVENTFD => self.efd_armed = false,
                ud if ring_send_target(ud).is_some() => {
                    // The wake did not reach its target (only failures complete): never lose
                    // it, ring the target's eventfd instead.
                    let dst = ring_send_target(ud).expect("checked");
                    log::debug!("MSG_RING wake of proactor {dst} failed ({res}): eventfd");
                    p.shared.bus.wake_by_eventfd(dst);
                }
                _ => {
                    let slot = (ud & 0xffff_ffff) as usize;
                    let s = self
                        .slots
                        .get_mut(slot)
                        .expect("completion for an unknown op slot");
                    assert!(
                        s.in_flight && s.gen == (ud >> 32) as u32,
                        "stale completion for op slot {slot}"
                    );
                    s.in_flight = false;
                    s.result = Some(res);
                    self.in_flight -= 1;
                    if let Some(w) = s.waiter {
                        p.unpark_local(w);
                    }
                }
            }
        }
        self.cqes.clear();
        if !p.stopping.get() {
            self.arm_eventfd();
        }
    }

    /// Hands queued entries to the kernel without waiting. With DEFER_TASKRUN completions are
    /// only produced by an enter with GETEVENTS, which `submit` adds when the kernel flags
    /// pending task work; with ops in flight we enter anyway so completions keep flowing.
    pub fn submit(&mut self) {
        let pending_sq = !self.ring.submission().is_empty();
        if pending_sq || self.in_flight > 0 || self.ring.submission().taskrun() {
            match self.ring.submitter().submit_and_wait(0) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EINTR)) => {}
                Err(e) => panic!("io_uring submit failed: {e}"),
            }
        }
    }

    /// Sleeps in the kernel until a completion or the timeout.
    pub fn wait(&mut self, timeout: Option<Duration>) {
        let r = match timeout {
            Some(t) => {
                let ts = types::Timespec::new()
                    .sec(t.as_secs())
                    .nsec(t.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
            None => self.ring.submitter().submit_and_wait(1),
        };
        match r {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(e) => panic!("io_uring wait failed: {e}"),
        }
    }

    /// Asks the kernel to cancel every op in flight (shutdown). Completions still arrive.
    pub fn cancel_all(&mut self) {
        let e = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(UD_IGNORE);
        self.push(&e);
        let _ = self.ring.submit();
    }

    /// Last step of shutdown: make sure the kernel no longer writes into our eventfd word.
    pub fn finish(&mut self) {
        if self.efd_armed {
            // Wake the read ourselves so it completes, then reap it.
            let one: u64 = 1;
            // SAFETY: writes a live u64 to our own eventfd.
            unsafe { libc::write(self.eventfd.as_raw_fd(), (&one as *const u64).cast(), 8) };
            for _ in 0..100 {
                let _ = self.ring.submitter().submit_and_wait(1);
                for cqe in self.ring.completion() {
                    if cqe.user_data() == UD_EVENTFD {
                        self.efd_armed = false;
                    }
                }
                if !self.efd_armed {
                    break;
                }
            }
            if self.efd_armed {
                // The kernel may still write there: leak the word instead of freeing it.
                std::mem::forget(self.efd_buf.take());
            }
        }
    }
}

/// Runs one op for the calling fiber and waits for its completion. A deadline cancels the op
/// when it passes (the result is then ETIMEDOUT unless the op had already finished).
pub(crate) fn run_op(entry: squeue::Entry, deadline: Option<Time>) -> io::Result<i32> {
    let p = proactor::current();
    let me = p.current_fiber().expect("I/O outside a fiber");
    if p.stopping.get() {
        return Err(cancelled_error());
    }
    let ud = p.driver.borrow_mut().uring().start(entry, me);
    let mut cancel_sent = false;
    loop {
        if let Some(res) = p.driver.borrow_mut().uring().take(ud) {
            if res >= 0 {
                return Ok(res);
            }
            if cancel_sent && res == -libc::ECANCELED && !p.stopping.get() {
                return Err(timed_out_error());
            }
            return Err(io::Error::from_raw_os_error(-res));
        }
        match deadline {
            Some(d) if !cancel_sent => {
                if fiber::park_until(d) && !cancel_sent {
                    let e = opcode::AsyncCancel::new(ud).build().user_data(UD_IGNORE);
                    p.driver.borrow_mut().uring().push(&e);
                    cancel_sent = true;
                }
            }
            _ => fiber::park(),
        }
    }
}

/// Cancels every op on `fd` and waits until the cancel request itself completed.
pub(crate) fn cancel_fd(fd: i32) -> io::Result<()> {
    let e = opcode::AsyncCancel2::new(types::CancelBuilder::fd(types::Fd(fd)).all()).build();
    match run_op(e, None) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod ring_send_tests {
    use super::*;

    #[test]
    fn ring_send_tags_never_look_like_ops_or_wakes() {
        assert_eq!(ring_send_target(UD_RING_SEND | 5), Some(5));
        assert_eq!(ring_send_target(UD_WAKE), None);
        assert_eq!(ring_send_target(UD_IGNORE), None);
        assert_eq!(ring_send_target(UD_EVENTFD), None);
        assert_eq!(ring_send_target((7 << 32) | 3), None, "an op slot");
        assert_eq!(
            ring_send_target((1 << 32) | UD_RING_SEND),
            None,
            "a later generation"
        );
    }
}
