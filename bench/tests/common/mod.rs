//! Tiny in-test servers (thread per connection, one shared HashMap) that count what they
//! receive, so the generator's own figures can be checked against the server's.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Shared {
    pub map: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    /// How many times each key was SET.
    pub set_counts: Mutex<HashMap<Vec<u8>, u64>>,
    pub sets: AtomicU64,
    pub gets: AtomicU64,
    pub hits: AtomicU64,
}

impl Shared {
    pub fn preload(&self, prefix: &str, range: std::ops::Range<u64>) {
        let mut m = self.map.lock().unwrap();
        for i in range {
            m.insert(format!("{prefix}{i}").into_bytes(), b"v".to_vec());
        }
    }

    fn set(&self, k: Vec<u8>, v: Vec<u8>) {
        self.sets.fetch_add(1, Ordering::Relaxed);
        *self
            .set_counts
            .lock()
            .unwrap()
            .entry(k.clone())
            .or_default() += 1;
        self.map.lock().unwrap().insert(k, v);
    }

    fn get(&self, k: &[u8]) -> Option<Vec<u8>> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        let v = self.map.lock().unwrap().get(k).cloned();
        if v.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        v
    }

    pub fn count(&self, a: &AtomicU64) -> u64 {
        a.load(Ordering::Relaxed)
    }
}

#[derive(Clone, Copy)]
pub enum Kind {
    Resp,
    Memcache,
}

/// Starts a server on a free loopback port; it lives until the test process exits.
pub fn start(kind: Kind) -> (u16, Arc<Shared>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let shared = Arc::new(Shared::default());
    let s = shared.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let s = s.clone();
            std::thread::spawn(move || {
                let _ = match kind {
                    Kind::Resp => serve_resp(conn, &s),
                    Kind::Memcache => serve_memcache(conn, &s),
                };
            });
        }
    });
    (port, shared)
}

fn read_line(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<String>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
}

fn read_exact_crlf(r: &mut BufReader<TcpStream>, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n + 2];
    r.read_exact(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// Replies are written only when no more input is buffered, so pipelined requests get
/// batched replies, like a real server.
fn serve_resp(conn: TcpStream, s: &Shared) -> std::io::Result<()> {
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    let mut out = Vec::new();
    while let Some(line) = read_line(&mut r)? {
        let n: usize = line.strip_prefix('*').expect("array").parse().unwrap();
        let mut args = Vec::new();
        for _ in 0..n {
            let l = read_line(&mut r)?.expect("bulk header");
            let len: usize = l.strip_prefix('$').expect("bulk").parse().unwrap();
            args.push(read_exact_crlf(&mut r, len)?);
        }
        match args[0].to_ascii_uppercase().as_slice() {
            b"SET" => {
                s.set(args[1].clone(), args[2].clone());
                out.extend_from_slice(b"+OK\r\n");
            }
            b"GET" => match s.get(&args[1]) {
                Some(v) => {
                    out.extend_from_slice(format!("${}\r\n", v.len()).as_bytes());
                    out.extend_from_slice(&v);
                    out.extend_from_slice(b"\r\n");
                }
                None => out.extend_from_slice(b"$-1\r\n"),
            },
            b"PING" => out.extend_from_slice(b"+PONG\r\n"),
            _ => out.extend_from_slice(b"-ERR unknown command\r\n"),
        }
        if r.buffer().is_empty() {
            w.write_all(&out)?;
            out.clear();
        }
    }
    Ok(())
}

fn serve_memcache(conn: TcpStream, s: &Shared) -> std::io::Result<()> {
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    let mut out = Vec::new();
    while let Some(line) = read_line(&mut r)? {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts[0] {
            "set" => {
                let len: usize = parts[4].parse().unwrap();
                let v = read_exact_crlf(&mut r, len)?;
                s.set(parts[1].as_bytes().to_vec(), v);
                out.extend_from_slice(b"STORED\r\n");
            }
            "get" => {
                if let Some(v) = s.get(parts[1].as_bytes()) {
                    out.extend_from_slice(
                        format!("VALUE {} 0 {}\r\n", parts[1], v.len()).as_bytes(),
                    );
                    out.extend_from_slice(&v);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"END\r\n");
            }
            "version" => out.extend_from_slice(b"VERSION 1.6.0\r\n"),
            _ => out.extend_from_slice(b"ERROR\r\n"),
        }
        if r.buffer().is_empty() {
            w.write_all(&out)?;
            out.clear();
        }
    }
    Ok(())
}

/// True when the reference server binary exists. When it does not: panics under CI=true
/// (the CI installs it), returns false otherwise so the caller can skip.
pub fn have(prog: &str) -> bool {
    if damselfly_bench::tools::on_path(prog) {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{prog} is required when CI=true but is not installed");
    }
    eprintln!("skipping: {prog} not installed");
    false
}
