//! What hostile or careless clients do to a running server: shut it down under load, declare
//! huge bulks and never send them, never read their replies, open thousands of idle
//! connections, send enormous multi-key commands. The server must stay up, answer the others
//! and keep its memory bounded.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The real binary in a child process, with its address read from its startup log line.
struct ChildServer {
    child: Child,
    addr: SocketAddr,
}

impl ChildServer {
    fn start(args: &[&str]) -> ChildServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_damselfly"))
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--loglevel",
                "verbose",
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start damselfly");
        let stderr = child.stderr.take().expect("stderr piped");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("damselfly exited before listening")
                .expect("read log");
            if let Some(rest) = line.split("listening on ").nth(1) {
                let a = rest.split_whitespace().next().expect("an address");
                break a.trim_end_matches(',').parse().expect("socket address");
            }
        };
        // Keep draining the log so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        ChildServer { child, addr }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for the child to exit; None if it is still running after `limit`.
    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }

    /// Resident memory of the child, in bytes.
    fn rss(&self) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .expect("VmRSS");
        let kb: usize = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .expect("VmRSS in kB");
        kb * 1024
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pipelined SET/GET on random keys from `clients` connections until `stop`; each connection
/// has a reader thread that discards replies, so the server never waits on the client.
fn start_load(
    addr: SocketAddr,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    let mut threads = Vec::new();
    for c in 0..clients {
        let Ok(stream) = TcpStream::connect(addr) else {
            continue;
        };
        let mut reader = stream.try_clone().expect("clone");
        threads.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        }));
        let stop = stop.clone();
        let mut writer = stream;
        threads.push(std::thread::spawn(move || {
            let mut seed = 0x9e37_79b9_u64.wrapping_mul(c as u64 + 1);
            let mut batch = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                batch.clear();
                for i in 0..100 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let key = format!("key:{}", seed % 100_000);
                    let cmd: Vec<&[u8]> = if i % 2 == 0 {
                        vec![b"SET", key.as_bytes(), b"xxx"]
                    } else {
                        vec![b"GET", key.as_bytes()]
                    };
                    batch.extend_from_slice(&Client::encode(&cmd));
                }
                if writer.write_all(&batch).is_err() {
                    break;
                }
            }
        }));
    }
    threads
}

fn sigterm(pid: i32) {
    // SAFETY: sends a signal to our own child process; no memory is involved.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(rc, 0, "kill failed");
}

/// A signal under pipelined load on several proactors used to free fiber stacks while other
/// proactors still ran hops pointing into them (SIGSEGV at exit). Every run must exit 0, quickly.
#[test]
fn shutdown_under_load_exits_cleanly_on_every_backend() {
    for backend in ["uring", "epoll"] {
        for threads in ["2", "4"] {
            for round in 0..3 {
                let mut s =
                    ChildServer::start(&["--proactor_threads", threads, "--io_backend", backend]);
                let stop = Arc::new(AtomicBool::new(false));
                let load = start_load(s.addr, 24, stop.clone());
                std::thread::sleep(Duration::from_millis(700));
                sigterm(s.pid());
                let status = s.wait_exit(Duration::from_secs(10));
                stop.store(true, Ordering::Relaxed);
                for t in load {
                    let _ = t.join();
                }
                let status = status.unwrap_or_else(|| {
                    panic!("{backend}/{threads} threads, round {round}: still running 10 s after SIGTERM")
                });
                assert!(
                    status.success(),
                    "{backend}/{threads} threads, round {round}: exited with {status:?}"
                );
            }
        }
    }
}

/// SHUTDOWN NOSAVE from a client while others pipeline: same guarantee as a signal.
#[test]
fn shutdown_command_under_load_exits_cleanly() {
    let mut s = ChildServer::start(&["--proactor_threads", "4"]);
    let stop = Arc::new(AtomicBool::new(false));
    let load = start_load(s.addr, 16, stop.clone());
    std::thread::sleep(Duration::from_millis(500));
    let mut c = Client::connect(s.addr);
    c.send_raw(&Client::encode(&[b"SHUTDOWN", b"NOSAVE"]));
    let status = s.wait_exit(Duration::from_secs(10));
    stop.store(true, Ordering::Relaxed);
    for t in load {
        let _ = t.join();
    }
    let status = status.expect("still running 10 s after SHUTDOWN");
    assert!(status.success(), "exited with {status:?}");
}
