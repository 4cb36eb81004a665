//! The size of a connection's query buffer, managed as Redis does (its
//! clientsCronResizeQueryBuffer), so CLIENT LIST's `qbuf=`/`qbuf-free=` show the real
//! buffer and an idle connection holds none:
//!
//! - A read that finds the buffer empty lands in the connection fiber's stack first
//!   ([`STAGE_LEN`] bytes) and the buffer waits in the connection's `ConnInfo` meanwhile, not
//!   in the kernel: so the idle sweep ([`start_sweeper`]) can free the buffer of a client idle
//!   for more than [`IDLE_FREE_MS`]. Reads that continue a partial request, or a burst that
//!   filled the stage, go straight into the buffer's spare room.
//! - Unlike Redis, whose buffer starts at 16 KiB, a connection's starts at 1 KiB (conn.rs
//!   `READ_MIN`) and grows with what arrives: thousands of connections that were just used
//!   stay cheap (with 16 KiB each they cost about that much more resident memory apiece).
//! - A buffer a big request grew past [`RESIZE_THRESHOLD`] is trimmed, at most every
//!   [`TRIM_CHECK_MS`], to the largest input seen since the last check once it is more than
//!   twice that (it shrinks back after a big argument, while keeping room for recent traffic).
//!
//! TLS connections read through rustls' own buffers; their query buffer is only trimmed.

use crate::ctx::ConnInfo;
use crate::server::ProactorState;
use crate::tls::ConnStream;
use damselfly_runtime::clock;
use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;

/// A buffer larger than this is trimmed when mostly unused (PROTO_RESIZE_THRESHOLD).
pub const RESIZE_THRESHOLD: usize = 32 * 1024;
/// How often a busy connection checks whether to trim.
pub const TRIM_CHECK_MS: u64 = 100;
/// An idle connection's empty buffer is freed after this long without a command (checked
/// every [`SWEEP_MS`]).
pub const IDLE_FREE_MS: u64 = 2000;
pub const SWEEP_MS: u64 = 1000;
/// The stack buffer a read from an empty buffer lands in: small enough to stay within the
/// stack pages a command's execution touches anyway (4 KiB cost every idle connection about
/// 4 KB more resident memory), large enough for a 32-command pipeline of small SETs (about
/// 1.5 KiB) in one read.
pub const STAGE_LEN: usize = 2048;
/// Unused room below which a buffer is never resized (Redis: 4 KiB).
const WASTE_MIN: usize = 4 * 1024;

/// Per connection: the largest input since the last trim check, and when that was.
#[derive(Default)]
pub struct QueryBuf {
    peak: usize,
    checked_ms: u64,
    /// The last read filled its room: more is on its way, read it straight into the buffer.
    more: bool,
}

impl QueryBuf {
    /// Reads what the client sent next into `input`, reserving `spare` bytes of room (see
    /// the module docs for where an empty buffer waits).
    pub fn read(
        &mut self,
        stream: &ConnStream,
        input: &mut Vec<u8>,
        spare: usize,
        info: &ConnInfo,
    ) -> io::Result<usize> {
        let n = match stream {
            ConnStream::Tcp(tcp) if input.is_empty() && !self.more => {
                *info.qbuf_parked.borrow_mut() = std::mem::take(input);
                let mut stage = [MaybeUninit::<u8>::uninit(); STAGE_LEN];
                let r = tcp.recv_uninit(&mut stage);
                *input = std::mem::take(&mut *info.qbuf_parked.borrow_mut());
                let n = r?;
                input.reserve(spare.max(n));
                // SAFETY: recv_uninit reports how many leading bytes the kernel wrote.
                let got = unsafe { &*(&stage[..n] as *const [MaybeUninit<u8>] as *const [u8]) };
                input.extend_from_slice(got);
                self.more = n == STAGE_LEN;
                n
            }
            _ => {
                let n = stream.recv_append(input, spare)?;
                self.more = n >= spare;
                n
            }
        };
        self.peak = self.peak.max(input.len());
        Ok(n)
    }

    /// After a batch ran and `input` was drained: trims a mostly unused big buffer (at most
    /// every [`TRIM_CHECK_MS`]) and publishes the buffer's figures for CLIENT LIST. Returns
    /// whether it trimmed (the connection's reads then start small again).
    pub fn after_batch(&mut self, input: &mut Vec<u8>, info: &ConnInfo, now_ms: u64) -> bool {
        let mut trimmed = false;
        if now_ms.saturating_sub(self.checked_ms) >= TRIM_CHECK_MS {
            self.checked_ms = now_ms;
            let cap = input.capacity();
            if cap - input.len() > WASTE_MIN && cap > RESIZE_THRESHOLD && cap / 2 > self.peak {
                input.shrink_to(self.peak.max(input.len()));
                trimmed = true;
            }
            self.peak = input.len();
        }
        info.qbuf.set(input.len());
        info.qbuf_free.set(input.capacity() - input.len());
        trimmed
    }
}

/// Starts the calling proactor's sweep: every [`SWEEP_MS`], frees the waiting (empty) query
/// buffers of its connections idle for more than [`IDLE_FREE_MS`].
pub fn start_sweeper() {
    let period = Duration::from_millis(SWEEP_MS);
    damselfly_runtime::fiber::every("querybuf-sweep", period, || {
        let now = clock::wall_now_ms();
        for (_, info) in ProactorState::current().conns.borrow().values() {
            if now.saturating_sub(info.last_active_ms.get()) <= IDLE_FREE_MS {
                continue;
            }
            if let Ok(mut parked) = info.qbuf_parked.try_borrow_mut() {
                if parked.capacity() > 0 && parked.is_empty() {
                    *parked = Vec::new();
                    info.qbuf_free.set(0);
                }
            }
        }
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_buffer_shrinks_to_the_recent_peak_only() {
        let info = ConnInfo::new(1, String::new(), String::new());
        let mut q = QueryBuf::default();
        let mut input: Vec<u8> = Vec::with_capacity(512 * 1024);
        // The batch that carried a big argument: kept while it is the recent peak.
        q.peak = 400_000;
        assert!(!q.after_batch(&mut input, &info, 1000));
        assert!(info.qbuf_free.get() >= 512 * 1024);
        // Small requests after it: trimmed at the next check, down to their peak.
        q.peak = 130;
        assert!(!q.after_batch(&mut input, &info, 1000 + TRIM_CHECK_MS / 2));
        assert!(q.after_batch(&mut input, &info, 1000 + TRIM_CHECK_MS));
        assert!(input.capacity() >= 130 && input.capacity() < RESIZE_THRESHOLD);
        assert_eq!(info.qbuf_free.get(), input.capacity());
        assert_eq!(info.qbuf.get(), 0);
        // A small buffer is never resized.
        let mut small: Vec<u8> = Vec::with_capacity(16 * 1024);
        assert!(!q.after_batch(&mut small, &info, 10_000));
        assert_eq!(small.capacity(), 16 * 1024);
    }
}
