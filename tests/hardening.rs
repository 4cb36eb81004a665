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

/// One multi-key command of `n` keys, encoded.
fn multi_key_command(name: &str, n: usize, with_values: bool) -> Vec<u8> {
    let keys: Vec<String> = (0..n).map(|i| format!("key:{i}")).collect();
    let mut args: Vec<&[u8]> = vec![name.as_bytes()];
    for k in &keys {
        args.push(k.as_bytes());
        if with_values {
            args.push(b"v");
        }
    }
    Client::encode(&args)
}

/// Sends `payload` (one huge command) on `c` while another connection pings; returns the reply
/// and how many PINGs were answered after the payload was written and before its reply.
fn run_beside_pings(
    s: &damselfly::ServerHandle,
    c: &mut Client,
    payload: &[u8],
) -> (damselfly_protocol::Reply, usize) {
    let done = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let pinger = {
        let (done, counting, answered) = (done.clone(), counting.clone(), answered.clone());
        let mut p = Client::connect(s.addr());
        std::thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                assert_eq!(p.cmd(&["PING"]), simple("PONG"));
                if counting.load(Ordering::Acquire) && !done.load(Ordering::Acquire) {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    c.send_raw(payload);
    counting.store(true, Ordering::Release);
    let reply = c.read_reply();
    done.store(true, Ordering::Release);
    pinger.join().expect("pinger");
    (reply, answered.load(Ordering::Relaxed))
}

/// DEL and MSET of hundreds of thousands of keys used to plan their locks in quadratic time
/// (minutes of CPU with every other client waiting). Now planning is linear and the work runs
/// in bounded slices, so a PING on the same proactor is answered while the command runs.
#[test]
fn huge_multi_key_commands_are_linear_and_let_others_run() {
    let s = server(1);
    let mut c = Client::connect(s.addr());
    // Generous: the quadratic planner took minutes for this.
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let n = 1_000_000;
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", &n.to_string(), "key"]), ok());
    let (reply, pings) = run_beside_pings(&s, &mut c, &multi_key_command("DEL", n, false));
    assert_eq!(reply, int(n as i64));
    assert!(pings > 0, "no PING was answered while DEL ran");
    assert_eq!(c.cmd(&["DBSIZE"]), int(0));

    let n = 500_000;
    let (reply, pings) = run_beside_pings(&s, &mut c, &multi_key_command("MSET", n, true));
    assert_eq!(reply, ok());
    assert!(pings > 0, "no PING was answered while MSET ran");
    assert_eq!(c.cmd(&["DBSIZE"]), int(n as i64));
    assert_eq!(c.cmd(&["GET", "key:499999"]), bulk("v"));
    assert_eq!(c.cmd(&["MSETNX", "key:1", "x", "fresh", "y"]), int(0));
    let (reply, _) = run_beside_pings(&s, &mut c, &multi_key_command("EXISTS", n, false));
    assert_eq!(reply, int(n as i64));
    s.shutdown();
}

/// The same huge commands across 4 shards: every key lands once, atomically.
#[test]
fn huge_multi_key_commands_across_shards() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let n = 200_000;
    c.send_raw(&multi_key_command("MSET", n, true));
    assert_eq!(c.read_reply(), ok());
    assert_eq!(c.cmd(&["DBSIZE"]), int(n as i64));
    c.send_raw(&multi_key_command("MSETNX", n, true));
    assert_eq!(c.read_reply(), int(0));
    c.send_raw(&multi_key_command("MGET", n, false));
    match c.read_reply() {
        damselfly_protocol::Reply::Array(v) => {
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|r| *r == bulk("v")));
        }
        other => panic!("MGET replied {other:?}"),
    }
    c.send_raw(&multi_key_command("DEL", n, false));
    assert_eq!(c.read_reply(), int(n as i64));
    c.send_raw(&multi_key_command("MSETNX", n, true));
    assert_eq!(c.read_reply(), int(1));
    assert_eq!(c.cmd(&["DBSIZE"]), int(n as i64));
    s.shutdown();
}
