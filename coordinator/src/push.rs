//! The output path other fibers write to: pub/sub messages, keyspace events and tracking
//! invalidations for a connection arrive from any fiber of its proactor and are queued here,
//! whole frames only.
//!
//! One sender at a time owns the socket. While the connection's own fiber runs a batch of
//! commands it is busy: what arrives waits and leaves after the batch's replies, in the same
//! send (so an invalidation caused by a command follows that command's reply, as in Redis).
//! While the connection waits for input, its proactor's flusher fiber sends the queues that
//! filled since it last ran, with one non-blocking send each (so a burst of messages leaves
//! in one send per client, as Redis writes once per event loop turn); a socket that would
//! block is handed to a writer fiber of the connection's own, which waits for it. The queue
//! is held to the `client-output-buffer-limit` of the client's class: past it the client is
//! disconnected and logged, so a reader that stalls never grows memory or slows the sender.

use crate::client_limits::{ClientClass, OutputLimit};
use crate::ctx::ConnInfo;
use crate::server::ProactorState;
use crate::tls::ConnStream;
use damselfly_runtime::clock::{self, Time};
use damselfly_runtime::sync::Notify;
use std::cell::{Cell, OnceCell, RefCell};
use std::rc::Rc;
use std::time::Duration;

/// A drained queue buffer larger than this is given back.
const KEEP_MAX: usize = 128 * 1024;

#[derive(Default)]
pub struct PushQueue {
    stream: OnceCell<ConnStream>,
    /// Frames waiting to be sent.
    pending: RefCell<Vec<u8>>,
    /// Bytes the writer took and is sending.
    in_flight: Cell<usize>,
    /// The first bytes of `pending` are the rest of a frame already partly sent: they leave
    /// before anything else.
    partial: Cell<usize>,
    /// On the proactor's flusher list.
    listed: Cell<bool>,
    /// The connection's fiber is running a batch and sends the queue after its replies.
    busy: Cell<bool>,
    /// Someone is sending on the socket (the connection's fiber or the writer).
    sending: Cell<bool>,
    released: Notify,
    writer_started: Cell<bool>,
    wake: Notify,
    closed: Cell<bool>,
    soft_since: Cell<Option<Time>>,
}

impl PushQueue {
    /// Binds the queue to the connection's socket (once, when the connection starts).
    pub fn bind(&self, stream: ConnStream) {
        let _ = self.stream.set(stream);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Bytes queued and not yet sent.
    pub fn pending(&self) -> usize {
        self.pending.borrow().len() + self.in_flight.get()
    }

    /// Queues whole frames for `info`'s client (this queue's owner), enforcing its output
    /// limit. Never parks.
    pub fn push(&self, info: &Rc<ConnInfo>, bytes: &[u8]) {
        if self.closed.get() || bytes.is_empty() || self.stream.get().is_none() {
            return;
        }
        self.pending.borrow_mut().extend_from_slice(bytes);
        let pending = self.pending() as u64;
        let limit = limit_of(info);
        if limit.hard > 0 && pending > limit.hard {
            self.close_over_limit(info, pending, "hard");
            return;
        }
        if limit.soft > 0 && pending > limit.soft {
            let now = clock::now();
            let since = self.soft_since.get().unwrap_or(now);
            self.soft_since.set(Some(since));
            if now >= since + Duration::from_secs(limit.soft_secs) {
                self.close_over_limit(info, pending, "soft");
                return;
            }
        } else {
            self.soft_since.set(None);
        }
        if !self.busy.get() {
            self.schedule(info);
        }
    }

    /// The queue has bytes and nobody sends them: the flusher will, unless a writer is
    /// already at it.
    fn schedule(&self, info: &Rc<ConnInfo>) {
        if self.writer_started.get() {
            self.wake.notify_one();
        } else if !self.listed.replace(true) {
            flusher().list.borrow_mut().push(info.clone());
            flusher().wake.notify_one();
        }
    }

    fn start_writer(&self, info: &Rc<ConnInfo>) {
        if self.writer_started.replace(true) {
            return;
        }
        let info = info.clone();
        damselfly_runtime::fiber::Builder::new()
            .name("push-writer")
            .spawn(move || write_loop(info));
    }

    fn close_over_limit(&self, info: &ConnInfo, pending: u64, which: &str) {
        log::warn!(
            "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits ({which} limit, {pending} bytes unsent).",
            info.id,
            info.addr
        );
        self.close();
    }

    /// Drops what is queued and disconnects the client; its connection fiber then ends.
    pub fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        *self.pending.borrow_mut() = Vec::new();
        if let Some(s) = self.stream.get() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        self.wake.notify_one();
        self.released.notify_all();
    }

    /// The connection's fiber starts a batch: pushes wait for its replies.
    pub fn begin_batch(&self) {
        self.busy.set(true);
    }

    /// The batch is sent: the writer sends what arrives from now on.
    pub fn end_batch(&self, info: &Rc<ConnInfo>) {
        self.busy.set(false);
        if !self.pending.borrow().is_empty() {
            self.schedule(info);
        }
    }

    /// Takes the socket for a send by the connection's fiber (waiting for the writer's send
    /// to finish) and appends what is queued to `out`, after the replies already there.
    pub fn acquire(&self, out: &mut Vec<u8>) {
        while self.sending.get() && !self.closed.get() {
            self.released.notified();
        }
        self.sending.set(true);
        let mut pending = self.pending.borrow_mut();
        let head = self.partial.replace(0).min(pending.len());
        if head > 0 {
            // The rest of a frame the socket took part of goes before the replies.
            out.splice(0..0, pending.drain(..head));
        }
        if !pending.is_empty() {
            out.extend_from_slice(&pending);
            pending.clear();
        }
    }

    /// Mid-batch: moves what is queued into `out` now, so frames a command's preparation
    /// caused (invalidations of keys evicted to make room for it) go before its reply.
    /// Leaves them queued while another fiber is sending.
    pub fn drain_into(&self, out: &mut Vec<u8>) {
        if self.sending.get() || self.partial.get() > 0 {
            return;
        }
        let mut pending = self.pending.borrow_mut();
        out.extend_from_slice(&pending);
        pending.clear();
    }

    pub fn release(&self) {
        self.sending.set(false);
        self.released.notify_one();
    }

    /// The connection ends: the writer stops.
    pub fn end(&self) {
        self.closed.set(true);
        self.wake.notify_one();
        self.released.notify_all();
    }
}

/// The limit of the client's class: pubsub while it subscribes to anything.
fn limit_of(info: &ConnInfo) -> OutputLimit {
    let class = if info.sub.get() + info.psub.get() + info.ssub.get() > 0 {
        ClientClass::Pubsub
    } else {
        ClientClass::Normal
    };
    ProactorState::current().server.client_limits.output(class)
}

/// The class limit a connection's own replies are held to.
pub fn connection_limit(info: &ConnInfo) -> OutputLimit {
    limit_of(info)
}

/// One proactor's list of queues to send, and the fiber that sends them.
#[derive(Default)]
pub struct Flusher {
    list: RefCell<Vec<Rc<ConnInfo>>>,
    wake: Notify,
    started: Cell<bool>,
}

fn flusher() -> &'static Flusher {
    let f = &ProactorState::current().push_flusher;
    if !f.started.replace(true) {
        damselfly_runtime::fiber::Builder::new()
            .name("push-flusher")
            .spawn(flush_loop);
    }
    f
}

/// Sends every listed queue with one non-blocking send; what a socket does not take goes to
/// the connection's writer fiber.
fn flush_loop() {
    let f = &ProactorState::current().push_flusher;
    let mut batch: Vec<Rc<ConnInfo>> = Vec::new();
    loop {
        if damselfly_runtime::stopping() {
            return;
        }
        std::mem::swap(&mut batch, &mut *f.list.borrow_mut());
        if batch.is_empty() {
            f.wake.notified();
            continue;
        }
        for info in batch.drain(..) {
            let q = &info.push;
            q.listed.set(false);
            if q.closed.get() || q.busy.get() || q.sending.get() || q.writer_started.get() {
                // Its connection's fiber, or its writer, sends it.
                continue;
            }
            let Some(stream) = q.stream.get() else {
                continue;
            };
            let result = {
                let pending = q.pending.borrow();
                if pending.is_empty() {
                    continue;
                }
                stream.try_send(&pending)
            };
            match result {
                Ok(n) => {
                    let stats = &ProactorState::current().stats;
                    crate::server::ProactorStats::bump(&stats.net_output_bytes, n as u64);
                    let mut pending = q.pending.borrow_mut();
                    let whole = n == pending.len();
                    pending.drain(..n);
                    if !whole {
                        if n > 0 {
                            // A frame was cut: what is left goes before any later reply.
                            q.partial.set(pending.len());
                        }
                        drop(pending);
                        q.start_writer(&info);
                        q.wake.notify_one();
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    q.start_writer(&info);
                    q.wake.notify_one();
                }
                Err(_) => q.close(),
            }
        }
    }
}

/// The writer fiber: while the connection waits for input, sends what is queued.
fn write_loop(info: Rc<ConnInfo>) {
    let q = &info.push;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        if q.closed.get() {
            break;
        }
        if q.busy.get() || q.pending.borrow().is_empty() {
            q.wake.notified();
            continue;
        }
        while q.sending.get() && !q.closed.get() {
            q.released.notified();
        }
        if q.closed.get() {
            break;
        }
        if q.busy.get() {
            continue;
        }
        q.sending.set(true);
        q.partial.set(0);
        std::mem::swap(&mut buf, &mut *q.pending.borrow_mut());
        q.in_flight.set(buf.len());
        let ok = send_bounded(&info, &buf);
        q.in_flight.set(0);
        buf.clear();
        if buf.capacity() > KEEP_MAX {
            buf = Vec::new();
        }
        q.release();
        if !ok {
            q.close();
            break;
        }
    }
}

/// Sends `buf`, giving up when the client stays over its soft limit for the limit's seconds.
fn send_bounded(info: &ConnInfo, buf: &[u8]) -> bool {
    let q = &info.push;
    let Some(stream) = q.stream.get() else {
        return false;
    };
    let mut sent = 0;
    while sent < buf.len() {
        let pending = (q.pending.borrow().len() + buf.len() - sent) as u64;
        let limit = limit_of(info);
        let deadline = if limit.soft > 0 && pending > limit.soft {
            let since = q.soft_since.get().unwrap_or_else(clock::now);
            q.soft_since.set(Some(since));
            Some(since + Duration::from_secs(limit.soft_secs))
        } else {
            q.soft_since.set(None);
            None
        };
        match stream.send_until(&buf[sent..], deadline) {
            Ok(0) => return false,
            Ok(n) => {
                sent += n;
                let stats = &ProactorState::current().stats;
                crate::server::ProactorStats::bump(&stats.net_output_bytes, n as u64);
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                q.close_over_limit(info, pending, "soft");
                return false;
            }
            Err(_) => return false,
        }
    }
    true
}
