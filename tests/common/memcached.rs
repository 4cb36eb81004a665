//! memcached-side helpers: an embedded Damselfly with its memcached listener, the reference
//! `memcached` for differential tests (fails, does not skip, when CI=true and it is missing),
//! and a raw text-protocol client.
#![allow(dead_code)]

use super::reference::free_port;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Damselfly on a free Redis port and a free memcached port (retried if taken meanwhile).
pub fn damselfly(threads: usize) -> (damselfly::ServerHandle, SocketAddr) {
    for _ in 0..5 {
        let port = free_port();
        let started = damselfly::Server::builder()
            .bind("127.0.0.1")
            .port(0)
            .threads(threads)
            .set("memcached_port", &port.to_string())
            .start();
        if let Ok(server) = started {
            let addr = server.memcached_addr().expect("memcached listener");
            return (server, addr);
        }
    }
    panic!("no free port for the memcached listener");
}

pub struct Memcached {
    child: Child,
    pub addr: SocketAddr,
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a tool is installed; with CI=true a missing one fails the test.
pub fn require(tool: &str, package: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{tool} is missing and CI=true: .ci/run must install {package}");
        }
        eprintln!("{tool} not installed: skipping");
    }
    found
}

/// The reference memcached on a free port, one worker thread, TCP only.
pub fn start_memcached() -> Option<Memcached> {
    if !require("memcached", "memcached") {
        return None;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    for _ in 0..5 {
        let port = free_port();
        let mut cmd = Command::new("memcached");
        cmd.args([
            "-p",
            &port.to_string(),
            "-U",
            "0",
            "-l",
            "127.0.0.1",
            "-t",
            "1",
        ]);
        // Its background LRU threads take item references at random moments, which decides
        // whether incr/decr rewrite in place (space-padded) or not: off, for repeatability.
        cmd.args(["-o", "no_lru_crawler,no_lru_maintainer"]);
        if root {
            cmd.args(["-u", "root"]);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start memcached");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut up = false;
        for _ in 0..100 {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            if TcpStream::connect(addr).is_ok() {
                up = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        if up && child.try_wait().ok().flatten().is_none() {
            return Some(Memcached { child, addr });
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("memcached did not start");
}

/// A raw memcached text-protocol client.
pub struct Mc {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Mc {
    pub fn connect(addr: SocketAddr) -> Mc {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Mc {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Reads until `buf` ends with `end`; returns and drops what was read.
    pub fn read_until(&mut self, end: &[u8]) -> Vec<u8> {
        loop {
            if let Some(i) = find(&self.buf, end) {
                let rest = self.buf.split_off(i + end.len());
                return std::mem::replace(&mut self.buf, rest);
            }
            let mut chunk = [0u8; 65536];
            let n = match self.stream.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => r.expect("read reply"),
            };
            assert!(
                n > 0,
                "server closed the connection; had {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends `request`, then `mn`, and returns every reply before `MN` (so silent replies
    /// show as nothing).
    pub fn req(&mut self, request: &[u8]) -> Vec<u8> {
        let mut r = request.to_vec();
        r.extend_from_slice(b"mn\r\n");
        self.send(&r);
        let mut got = self.read_until(b"MN\r\n");
        got.truncate(got.len() - 4);
        got
    }

    /// [`Mc::req`] as text, with `|` written for `\r\n` in the request.
    pub fn q(&mut self, request: &str) -> String {
        let request = request.replace('|', "\r\n");
        String::from_utf8_lossy(&self.req(request.as_bytes())).into_owned()
    }

    /// True when the server closed the connection.
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 4096];
        loop {
            match self.stream.read(&mut b) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
