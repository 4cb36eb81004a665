//! `damselfly-bench pubsub`: fan-out throughput of a running server. P publisher connections
//! PUBLISH fixed-size messages on one channel (pipelined), S subscribers read them; reports
//! messages delivered per second and the server's CPU time per delivered message (from
//! /proc/PID/stat), and with `--stalled` one more subscriber that never reads, the server's
//! RSS sampled every second (what a stalled reader costs).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::args::ArgCursor;
use crate::procfs;

pub const USAGE: &str = "\
usage: damselfly-bench pubsub --port N --pid PID [--publishers P (50)] [--subscribers S (100)]
         [--seconds D (10)] [--payload BYTES (32)] [--pipeline K (1)] [--stalled]
";

const CHANNEL: &str = "bench-channel";

#[derive(Clone, Debug)]
pub struct PubSubOpts {
    pub port: u16,
    pub pid: u32,
    pub publishers: usize,
    pub subscribers: usize,
    pub seconds: u64,
    pub payload: usize,
    pub pipeline: usize,
    pub stalled: bool,
}

impl PubSubOpts {
    pub fn parse(args: &[String]) -> Result<PubSubOpts, String> {
        let mut o = PubSubOpts {
            port: 0,
            pid: 0,
            publishers: 50,
            subscribers: 100,
            seconds: 10,
            payload: 32,
            pipeline: 1,
            stalled: false,
        };
        let mut cur = ArgCursor::new(args.to_vec());
        while let Some(f) = cur.next_flag() {
            match f.as_str() {
                "--port" => o.port = cur.parsed(&f)?,
                "--pid" => o.pid = cur.parsed(&f)?,
                "--publishers" => o.publishers = cur.parsed(&f)?,
                "--subscribers" => o.subscribers = cur.parsed(&f)?,
                "--seconds" => o.seconds = cur.parsed(&f)?,
                "--payload" => o.payload = cur.parsed(&f)?,
                "--pipeline" => o.pipeline = cur.parsed::<usize>(&f)?.max(1),
                "--stalled" => o.stalled = true,
                _ => return Err(format!("unknown flag {f}\n{USAGE}")),
            }
        }
        if o.port == 0 || o.pid == 0 {
            return Err(USAGE.to_string());
        }
        Ok(o)
    }
}

fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Bytes of one `message` frame for the bench channel and payload size.
fn frame_len(payload: usize) -> u64 {
    let head = format!(
        "*3\r\n$7\r\nmessage\r\n${}\r\n{CHANNEL}\r\n${payload}\r\n",
        CHANNEL.len()
    );
    (head.len() + payload + 2) as u64
}

fn subscribe(port: u16) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.write_all(&command(&[b"SUBSCRIBE", CHANNEL.as_bytes()]))?;
    let confirm = format!(
        "*3\r\n$9\r\nsubscribe\r\n${}\r\n{CHANNEL}\r\n:1\r\n",
        CHANNEL.len()
    );
    let mut buf = vec![0u8; confirm.len()];
    s.read_exact(&mut buf)?;
    Ok(s)
}

pub struct PubSubResult {
    pub delivered: u64,
    pub published: u64,
    pub seconds: f64,
    pub server_cpu_us: u64,
    pub rss_kb: Vec<u64>,
}

pub fn run(o: &PubSubOpts) -> io::Result<PubSubResult> {
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let published = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for _ in 0..o.subscribers {
        let mut s = subscribe(o.port)?;
        s.set_read_timeout(Some(Duration::from_millis(200)))?;
        let (stop, received) = (stop.clone(), received.clone());
        readers.push(thread::spawn(move || {
            let mut buf = vec![0u8; 256 * 1024];
            while !stop.load(Ordering::Relaxed) {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        received.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock
                            || e.kind() == io::ErrorKind::TimedOut => {}
                    Err(_) => break,
                }
            }
        }));
    }
    // Subscribed, never reads: its messages pile up in the server until its limit.
    let _stalled = if o.stalled {
        Some(subscribe(o.port)?)
    } else {
        None
    };
    let payload = vec![b'x'; o.payload];
    let batch: Vec<u8> = (0..o.pipeline)
        .flat_map(|_| command(&[b"PUBLISH", CHANNEL.as_bytes(), &payload]))
        .collect();
    let cpu_before = procfs::cpu_time_us(o.pid)?;
    let started = Instant::now();
    let mut writers = Vec::new();
    for _ in 0..o.publishers {
        let mut s = TcpStream::connect(("127.0.0.1", o.port))?;
        s.set_nodelay(true)?;
        let (stop, published, batch, k) =
            (stop.clone(), published.clone(), batch.clone(), o.pipeline);
        writers.push(thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while !stop.load(Ordering::Relaxed) {
                if s.write_all(&batch).is_err() {
                    return;
                }
                // Each reply is one integer line.
                let mut lines = 0;
                while lines < k {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => lines += buf[..n].iter().filter(|&&c| c == b'\n').count(),
                    }
                }
                published.fetch_add(k as u64, Ordering::Relaxed);
            }
        }));
    }
    let mut rss_kb = Vec::new();
    for _ in 0..o.seconds {
        thread::sleep(Duration::from_secs(1));
        rss_kb.push(procfs::rss_kb(o.pid).unwrap_or(0));
    }
    let cpu_after = procfs::cpu_time_us(o.pid)?;
    let seconds = started.elapsed().as_secs_f64();
    let bytes = received.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let _ = w.join();
    }
    for r in readers {
        let _ = r.join();
    }
    Ok(PubSubResult {
        delivered: bytes / frame_len(o.payload),
        published: published.load(Ordering::Relaxed),
        seconds,
        server_cpu_us: cpu_after - cpu_before,
        rss_kb,
    })
}

pub fn report(o: &PubSubOpts, r: &PubSubResult) -> String {
    let per_sec = r.delivered as f64 / r.seconds;
    let cpu_ns = if r.delivered > 0 {
        r.server_cpu_us as f64 * 1000.0 / r.delivered as f64
    } else {
        0.0
    };
    let mut s = format!(
        "publishers {} subscribers {} pipeline {} payload {}: published {:.0}/s, delivered {:.0}/s, server CPU {:.1} ns per delivered message\n",
        o.publishers,
        o.subscribers,
        o.pipeline,
        o.payload,
        r.published as f64 / r.seconds,
        per_sec,
        cpu_ns
    );
    if o.stalled {
        s += &format!("server RSS each second (KiB): {:?}\n", r.rss_kb);
    }
    s
}
