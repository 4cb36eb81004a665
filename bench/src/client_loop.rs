//! One generator thread: an edge-triggered mio event loop over this thread's clients.
//!
//! Every client keeps up to `--pipeline` requests in flight: it writes a batch, and each
//! reply parsed frees a slot that is refilled at once. A request's latency runs from the
//! moment it is queued for writing to the moment its reply is parsed, as in memtier.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::args::Config;
use crate::histogram::RunStats;
use crate::wire::{self, ProtocolError};
use crate::workload::{ClientWorkload, Op};

/// How long in-flight replies may take to arrive once the test time is over.
const DRAIN_GRACE: Duration = Duration::from_secs(5);
const READ_CHUNK: usize = 64 * 1024;

/// Counters the generator's main thread samples once a second for the progress line.
#[derive(Debug, Default)]
pub struct Progress {
    pub ops: AtomicU64,
    pub bytes: AtomicU64,
    pub latency_us: AtomicU64,
}

struct Client {
    stream: TcpStream,
    work: ClientWorkload,
    wbuf: Vec<u8>,
    wpos: usize,
    rbuf: Vec<u8>,
    /// (command, time queued, request bytes) of each request awaiting its reply.
    inflight: VecDeque<(Op, Instant, u32)>,
    done: bool,
}

/// Local tallies flushed into [`Progress`] after each poll round.
#[derive(Default)]
struct Tally {
    ops: u64,
    bytes: u64,
    latency_us: u64,
}

fn to_io(e: ProtocolError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Client {
    fn fill(&mut self, cfg: &Config, value: &[u8], now: Instant, stopping: bool) {
        if stopping {
            return;
        }
        while self.inflight.len() < cfg.pipeline {
            let Some((op, key)) = self.work.next_op() else {
                break;
            };
            let n = wire::encode(
                &mut self.wbuf,
                cfg.protocol,
                op,
                cfg.key_prefix.as_bytes(),
                key,
                value,
            );
            self.inflight.push_back((op, now, n as u32));
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.wpos < self.wbuf.len() {
            match self.stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        Ok(())
    }

    fn read_replies(
        &mut self,
        cfg: &Config,
        scratch: &mut [u8],
        stats: &mut RunStats,
        tally: &mut Tally,
    ) -> io::Result<()> {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "server closed the connection",
                    ))
                }
                Ok(n) => {
                    self.rbuf.extend_from_slice(&scratch[..n]);
                    // A short read drained the socket; the next arrival raises a new edge.
                    if n < scratch.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let now = Instant::now();
        let mut pos = 0;
        while let Some(&(op, sent, tx)) = self.inflight.front() {
            match wire::parse_reply(cfg.protocol, op, &self.rbuf[pos..]).map_err(to_io)? {
                Some((len, outcome)) => {
                    self.inflight.pop_front();
                    let lat = now.saturating_duration_since(sent).as_micros() as u64;
                    stats
                        .cmd_mut(op)
                        .record(outcome, lat, tx as u64, len as u64);
                    tally.ops += 1;
                    tally.bytes += tx as u64 + len as u64;
                    tally.latency_us += lat;
                    pos += len;
                }
                None => break,
            }
        }
        if self.inflight.is_empty() && pos < self.rbuf.len() {
            return Err(to_io(ProtocolError(format!(
                "{} unsolicited bytes from the server",
                self.rbuf.len() - pos
            ))));
        }
        self.rbuf.drain(..pos);
        Ok(())
    }

    fn idle(&self, stopping: bool) -> bool {
        self.inflight.is_empty() && (stopping || !self.work.has_more())
    }
}

fn connect(cfg: &Config) -> io::Result<TcpStream> {
    let s = std::net::TcpStream::connect((cfg.server.as_str(), cfg.port)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("connecting to {}:{}: {e}", cfg.server, cfg.port),
        )
    })?;
    s.set_nodelay(true)?;
    s.set_nonblocking(true)?;
    Ok(TcpStream::from_std(s))
}

/// Runs this thread's share of the clients to completion (requests used up, or the
/// deadline passed, or `stop` raised) and returns its statistics.
pub fn run_thread(
    cfg: &Config,
    thread_index: usize,
    base_seed: u64,
    deadline: Option<Instant>,
    progress: &Progress,
    stop: &AtomicBool,
) -> io::Result<RunStats> {
    let value = vec![b'x'; cfg.data_size];
    let mut poll = Poll::new()?;
    let mut clients = Vec::with_capacity(cfg.clients);
    for i in 0..cfg.clients {
        let mut stream = connect(cfg)?;
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let index = thread_index * cfg.clients + i;
        clients.push(Client {
            stream,
            work: ClientWorkload::new(cfg, index, base_seed),
            wbuf: Vec::with_capacity(cfg.pipeline * (cfg.data_size + 64)),
            wpos: 0,
            rbuf: Vec::new(),
            inflight: VecDeque::with_capacity(cfg.pipeline),
            done: false,
        });
    }

    let mut stats = RunStats::default();
    let mut tally = Tally::default();
    let mut scratch = vec![0u8; READ_CHUNK];
    let mut events = Events::with_capacity(1024);
    let mut pending = clients.len();
    let mut stopping = false;
    let mut drain_until = None;

    let now = Instant::now();
    for c in clients.iter_mut() {
        c.fill(cfg, &value, now, false);
        c.flush()?;
        if c.idle(false) {
            c.done = true;
            pending -= 1;
        }
    }

    while pending > 0 {
        let now = Instant::now();
        if !stopping && (stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| now >= d)) {
            stopping = true;
            drain_until = Some(now + DRAIN_GRACE);
            for c in clients.iter_mut().filter(|c| !c.done && c.idle(true)) {
                c.done = true;
                pending -= 1;
            }
            if pending == 0 {
                break;
            }
        }
        if drain_until.is_some_and(|d| now >= d) {
            break; // the server stopped answering; report what completed
        }
        let mut timeout = Duration::from_millis(100);
        if let Some(d) = deadline.filter(|_| !stopping) {
            timeout = timeout.min(d.saturating_duration_since(now));
        }
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            let c = &mut clients[ev.token().0];
            if c.done {
                continue;
            }
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                c.read_replies(cfg, &mut scratch, &mut stats, &mut tally)?;
                let now = Instant::now();
                c.fill(cfg, &value, now, stopping);
            }
            if ev.is_writable() || !c.wbuf.is_empty() {
                c.flush()?;
            }
            if c.idle(stopping) && c.wbuf.is_empty() {
                c.done = true;
                pending -= 1;
            }
        }
        if tally.ops > 0 {
            progress.ops.fetch_add(tally.ops, Ordering::Relaxed);
            progress.bytes.fetch_add(tally.bytes, Ordering::Relaxed);
            progress
                .latency_us
                .fetch_add(tally.latency_us, Ordering::Relaxed);
            tally = Tally::default();
        }
    }
    Ok(stats)
}
