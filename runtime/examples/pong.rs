//! A RESP server that answers PING (inline and multibulk) with +PONG, written against the
//! runtime's public API only. Used to measure the runtime against redis-server.
//!
//! cargo run --release -p damselfly-runtime --example pong -- --port 6379 --threads 1

use damselfly_runtime::net::{TcpListener, TcpStream};
use damselfly_runtime::{BackendChoice, ProactorPool};
use std::net::SocketAddr;

const READ_CHUNK: usize = 16 * 1024;
/// Largest request this toy accepts before dropping the client (a real server has limits too).
const QUERY_LEN_MAX: usize = 1024 * 1024;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut port = 6379u16;
    let mut threads = None;
    let mut backend = BackendChoice::Auto;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--port" => port = val().parse().unwrap_or_else(|_| usage("bad --port")),
            "--threads" => threads = Some(val().parse().unwrap_or_else(|_| usage("bad --threads"))),
            "--io_backend" => backend = val().parse().unwrap_or_else(|e: String| usage(&e)),
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown flag {other}")),
        }
    }
    let mut b = ProactorPool::builder().backend(backend);
    if let Some(t) = threads {
        b = b.threads(t);
    }
    let pool = b.build().unwrap_or_else(|e| {
        eprintln!("pong: {e}");
        std::process::exit(1)
    });
    let addr: SocketAddr = ([0, 0, 0, 0], port).into();
    log::info!(
        "pong: {} threads, backend {}, port {port}",
        pool.len(),
        pool.backend()
    );
    let served = pool.spawn_on(0, move || {
        let listener = TcpListener::bind(addr)?;
        listener.serve(serve_connection)
    });
    match served.join() {
        Ok(Err(e)) => eprintln!("pong: {e}"),
        Err(e) => eprintln!("pong: {e}"),
        Ok(Ok(())) => {}
    }
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("pong: {err}");
    }
    eprintln!("usage: pong [--port N] [--threads N] [--io_backend auto|uring|epoll]");
    std::process::exit(if err.is_empty() { 0 } else { 2 })
}

fn serve_connection(stream: TcpStream) {
    let mut input: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut output: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    loop {
        let start = input.len();
        input.resize(start + READ_CHUNK, 0);
        let n = match stream.recv(&mut input[start..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        input.truncate(start + n);
        let consumed = match answer_all(&input, &mut output) {
            Ok(c) => c,
            Err(msg) => {
                output.extend_from_slice(msg.as_bytes());
                let _ = stream.send_all(&output);
                return;
            }
        };
        input.drain(..consumed);
        if input.len() > QUERY_LEN_MAX {
            return;
        }
        if !output.is_empty() {
            if stream.send_all(&output).is_err() {
                return;
            }
            output.clear();
        }
    }
}

/// Answers every complete command in `buf`; returns the bytes consumed.
fn answer_all(buf: &[u8], out: &mut Vec<u8>) -> Result<usize, &'static str> {
    let mut pos = 0;
    while pos < buf.len() {
        let rest = &buf[pos..];
        let parsed = if rest[0] == b'*' {
            multibulk(rest)?
        } else {
            inline(rest)
        };
        let Some((len, is_ping)) = parsed else { break };
        pos += len;
        match is_ping {
            Some(true) => out.extend_from_slice(b"+PONG\r\n"),
            Some(false) => out.extend_from_slice(b"-ERR unknown command\r\n"),
            None => {} // empty line
        }
    }
    Ok(pos)
}

fn line(buf: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', buf)
}

fn inline(buf: &[u8]) -> Option<(usize, Option<bool>)> {
    let end = line(buf)?;
    let text = buf[..end].strip_suffix(b"\r").unwrap_or(&buf[..end]);
    let word = text.split(|c| *c == b' ').find(|w| !w.is_empty());
    Some((end + 1, word.map(|w| w.eq_ignore_ascii_case(b"ping"))))
}

fn number(line: &[u8]) -> Result<i64, &'static str> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or("-ERR Protocol error: invalid length\r\n")
}

fn multibulk(buf: &[u8]) -> Result<Option<(usize, Option<bool>)>, &'static str> {
    let Some(end) = line(buf) else {
        return Ok(None);
    };
    let count = number(&buf[1..end.saturating_sub(1)])?;
    if !(1..=1024).contains(&count) {
        return Err("-ERR Protocol error: invalid multibulk length\r\n");
    }
    let mut pos = end + 1;
    let mut first: Option<bool> = None;
    for _ in 0..count {
        let rest = &buf[pos..];
        let Some(e) = line(rest) else { return Ok(None) };
        if rest[0] != b'$' {
            return Err("-ERR Protocol error: expected '$'\r\n");
        }
        let len = number(&rest[1..e.saturating_sub(1)])?;
        if !(0..=(512 << 20)).contains(&len) {
            return Err("-ERR Protocol error: invalid bulk length\r\n");
        }
        let len = len as usize;
        let body = pos + e + 1;
        if buf.len() < body + len + 2 {
            return Ok(None);
        }
        if first.is_none() {
            first = Some(buf[body..body + len].eq_ignore_ascii_case(b"ping"));
        }
        pos = body + len + 2;
    }
    Ok(Some((pos, first)))
}
