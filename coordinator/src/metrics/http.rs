//! HTTP on the main port: a connection whose first line is an HTTP/1.x request line is served
//! as HTTP (`GET /metrics` answers the Prometheus text); anything else stays RESP. RESP
//! clients send arrays (`*...`), and an inline command line never ends in ` HTTP/1.x`, so
//! the first line decides without a byte of lookahead beyond it.
//!
//! Requests are bounded: a request head (line and headers) over 8 KiB is answered 431 and
//! the connection closed; a head that does not arrive within the client `timeout` (10 s when
//! it is 0) closes the connection, as does an idle keep-alive connection after as long.

use super::exposition::CONTENT_TYPE;
use crate::server::ServerState;
use crate::tls::ConnStream;
use damselfly_runtime::clock::{self, Time};
use damselfly_runtime::sync::Event;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// Largest request head (request line and headers) read.
pub const HEAD_MAX: usize = 8 * 1024;
/// Largest request body read and skipped (a GET should carry none).
const BODY_MAX: usize = 8 * 1024;
/// How long a request head may take when the client `timeout` is 0.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connection's first bytes say.
#[derive(Debug, PartialEq, Eq)]
pub enum Sniff {
    /// Not an HTTP request line: RESP (or inline) from here on.
    Resp,
    /// An HTTP/1.x request line.
    Http,
    /// Could still be either: the first line is incomplete.
    NeedMore,
}

/// Looks at a connection's first bytes: `Http` once the first line is an HTTP/1.x request
/// line (`METHOD target HTTP/1.x`), `Resp` as soon as it cannot be one. Kept out of line:
/// the connection loop that calls it stays as small as it was.
#[inline(never)]
pub fn sniff(input: &[u8]) -> Sniff {
    let method = input
        .iter()
        .position(|c| !c.is_ascii_uppercase())
        .unwrap_or(input.len());
    if method > 16 || (method < input.len() && (method == 0 || input[method] != b' ')) {
        return Sniff::Resp;
    }
    let Some(end) = input.iter().position(|&c| c == b'\n') else {
        return if input.len() >= HEAD_MAX {
            Sniff::Resp
        } else {
            Sniff::NeedMore
        };
    };
    let line = input[..end].strip_suffix(b"\r").unwrap_or(&input[..end]);
    match line.len().checked_sub(9).map(|v| &line[v..]) {
        Some([b' ', b'H', b'T', b'T', b'P', b'/', b'1', b'.', d]) if d.is_ascii_digit() => {
            Sniff::Http
        }
        _ => Sniff::Resp,
    }
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: &'a [u8],
    pub path: &'a [u8],
    pub minor: u8,
    pub keep_alive: bool,
    pub content_length: usize,
    pub chunked: bool,
    pub authorization: Option<&'a [u8]>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Head<'a> {
    /// The request and the length of its head.
    Done(Request<'a>, usize),
    Partial,
    /// Malformed: answered 400.
    Bad,
    /// Over `HEAD_MAX`: answered 431.
    TooLarge,
}

/// Parses the request head at the start of `input`.
pub fn parse_head(input: &[u8]) -> Head<'_> {
    let Some(end) = find_head_end(input) else {
        return if input.len() > HEAD_MAX {
            Head::TooLarge
        } else {
            Head::Partial
        };
    };
    if end > HEAD_MAX {
        return Head::TooLarge;
    }
    let mut lines = input[..end]
        .split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let Some(first) = lines.next() else {
        return Head::Bad;
    };
    let mut parts = first.split(|&c| c == b' ');
    let (Some(method), Some(path), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Head::Bad;
    };
    let minor = match version {
        b"HTTP/1.0" => 0,
        b"HTTP/1.1" => 1,
        _ => return Head::Bad,
    };
    if method.is_empty() || path.is_empty() {
        return Head::Bad;
    }
    let mut req = Request {
        method,
        path,
        minor,
        keep_alive: minor == 1,
        content_length: 0,
        chunked: false,
        authorization: None,
    };
    for line in lines.filter(|l| !l.is_empty()) {
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            return Head::Bad;
        };
        let name = &line[..colon];
        let value = line[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&c| c == b',').map(|t| t.trim_ascii()) {
                if token.eq_ignore_ascii_case(b"close") {
                    req.keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    req.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            match std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()) {
                Some(n) => req.content_length = n,
                None => return Head::Bad,
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            req.chunked = true;
        } else if name.eq_ignore_ascii_case(b"authorization") {
            req.authorization = Some(value);
        }
    }
    Head::Done(req, end)
}

/// Where the head ends: past the blank line (`\r\n\r\n` or `\n\n`).
fn find_head_end(input: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(p) = input[i..].iter().position(|&c| c == b'\n') {
        let nl = i + p;
        let next = nl + 1;
        if input.get(next) == Some(&b'\n') {
            return Some(next + 1);
        }
        if input.get(next..next + 2) == Some(b"\r\n") {
            return Some(next + 2);
        }
        i = next;
    }
    None
}

/// A response with `body`; `extra` headers end in `\r\n` each.
fn response(status: &str, extra: &str, body: &[u8], keep_alive: bool) -> Vec<u8> {
    let conn = if keep_alive { "keep-alive" } else { "close" };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nServer: damselfly\r\nContent-Length: {}\r\nConnection: {conn}\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn text(status: &str, body: &str, keep_alive: bool) -> Vec<u8> {
    response(
        status,
        "Content-Type: text/plain\r\n",
        body.as_bytes(),
        keep_alive,
    )
}

/// Closes the connection when its deadline passes (a half-sent request, an idle keep-alive
/// connection), and stops once the connection ends.
struct Watchdog {
    deadline: Rc<Cell<Time>>,
    done: Rc<Event>,
}

impl Watchdog {
    fn start(stream: &ConnStream, deadline: Time) -> Watchdog {
        let dog = Watchdog {
            deadline: Rc::new(Cell::new(deadline)),
            done: Rc::new(Event::new()),
        };
        let (deadline, done, tcp) = (dog.deadline.clone(), dog.done.clone(), stream.tcp().clone());
        damselfly_runtime::fiber::spawn(move || loop {
            if done.wait_until(Some(deadline.get())) {
                return;
            }
            if clock::now() >= deadline.get() {
                let _ = tcp.shutdown(std::net::Shutdown::Both);
                return;
            }
        });
        dog
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.set();
    }
}

/// Serves HTTP requests on a connection whose first bytes (`input`) were an HTTP request
/// line, until the client closes, asks to close, errs or times out.
#[cold]
#[inline(never)]
pub fn serve(stream: &ConnStream, server: &ServerState, mut input: Vec<u8>) {
    let timeout = match server.config.get_int("timeout") {
        t if t > 0 => Duration::from_secs(t as u64),
        _ => DEFAULT_TIMEOUT,
    };
    let dog = Watchdog::start(stream, clock::now() + timeout);
    loop {
        let (reply, keep_alive, used) = match parse_head(&input) {
            Head::Partial => match stream.recv_append(&mut input, 1024) {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            },
            Head::Bad => (text("400 Bad Request", "Bad Request\n", false), false, 0),
            Head::TooLarge => (
                text(
                    "431 Request Header Fields Too Large",
                    "Request Header Fields Too Large\n",
                    false,
                ),
                false,
                0,
            ),
            Head::Done(req, head_len) => {
                if req.chunked || req.content_length > BODY_MAX {
                    let r = text("413 Payload Too Large", "Payload Too Large\n", false);
                    (r, false, 0)
                } else {
                    let used = head_len + req.content_length;
                    let (reply, keep) = answer(server, &req);
                    (reply, keep, used)
                }
            }
        };
        // The body (if any) must have arrived before the reply: it is skipped unread.
        while input.len() < used {
            let missing = used - input.len();
            match stream.recv_append(&mut input, missing) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        dog.deadline.set(clock::now() + timeout);
        if stream.send_all(&reply).is_err() || !keep_alive {
            return;
        }
        input.drain(..used);
        dog.deadline.set(clock::now() + timeout);
    }
}

/// The reply to a well-formed request, and whether the connection stays open.
fn answer(server: &ServerState, req: &Request<'_>) -> (Vec<u8>, bool) {
    let keep = req.keep_alive;
    let path = req.path.split(|&c| c == b'?').next().unwrap_or(b"");
    if path != b"/metrics" {
        return (text("404 Not Found", "Not Found\n", keep), keep);
    }
    if req.method != b"GET" {
        let r = response(
            "405 Method Not Allowed",
            "Allow: GET\r\nContent-Type: text/plain\r\n",
            b"Method Not Allowed\n",
            keep,
        );
        return (r, keep);
    }
    if !authorized(server, req.authorization) {
        let r = response(
            "401 Unauthorized",
            "WWW-Authenticate: Basic realm=\"damselfly\"\r\nContent-Type: text/plain\r\n",
            b"Unauthorized\n",
            keep,
        );
        return (r, keep);
    }
    let body = super::collect::metrics_text(server);
    let extra = format!("Content-Type: {CONTENT_TYPE}\r\n");
    (response("200 OK", &extra, body.as_bytes(), keep), keep)
}

/// With a password on the default user, a scrape must log in as some user with HTTP Basic
/// authentication (`user:password`); the password alone logs in as `default`.
fn authorized(server: &ServerState, header: Option<&[u8]>) -> bool {
    if server.acl.default_open() {
        return true;
    }
    let Some(creds) = header
        .and_then(|h| {
            h.strip_prefix(b"Basic ")
                .or_else(|| h.strip_prefix(b"basic "))
        })
        .and_then(|b| base64_decode(b.trim_ascii()))
    else {
        return false;
    };
    let (user, pass) = match creds.iter().position(|&c| c == b':') {
        Some(i) => (&creds[..i], &creds[i + 1..]),
        None => (&b"default"[..], &creds[..]),
    };
    let user = if user.is_empty() { b"default" } else { user };
    server.acl.authenticate(user, pass).is_some()
}

/// Standard base64 (with or without padding); None when malformed.
fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    let input = input
        .strip_suffix(b"==")
        .or_else(|| input.strip_suffix(b"="))
        .unwrap_or(input);
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for &c in input {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_decides() {
        assert_eq!(sniff(b"GET /metrics HTTP/1.1\r\n"), Sniff::Http);
        assert_eq!(sniff(b"GET /metrics HTTP/1.0\n"), Sniff::Http);
        assert_eq!(sniff(b"POST /x HTTP/1.1\r\nHost: a\r\n"), Sniff::Http);
        assert_eq!(sniff(b"GET /metr"), Sniff::NeedMore);
        assert_eq!(sniff(b"GE"), Sniff::NeedMore);
        assert_eq!(sniff(b""), Sniff::NeedMore);
        assert_eq!(sniff(b"*2\r\n$3\r\nGET\r\n$8\r\n/metrics\r\n"), Sniff::Resp);
        assert_eq!(sniff(b"GET /metrics\r\n"), Sniff::Resp);
        assert_eq!(sniff(b"get /metrics HTTP/1.1\r\n"), Sniff::Resp);
        assert_eq!(sniff(b"PING\r\n"), Sniff::Resp);
        assert_eq!(sniff(b"GET metrics HTTP/2\r\n"), Sniff::Resp);
        let long = [b"GET /".as_slice(), &[b'a'; HEAD_MAX]].concat();
        assert_eq!(sniff(&long), Sniff::Resp);
    }

    #[test]
    fn request_heads() {
        let Head::Done(r, n) =
            parse_head(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nrest")
        else {
            panic!("not parsed");
        };
        assert_eq!(
            (r.method, r.path, r.minor, r.keep_alive),
            (&b"GET"[..], &b"/metrics"[..], 1, false)
        );
        assert_eq!(n, 53);
        let Head::Done(r, _) =
            parse_head(b"GET / HTTP/1.0\nConnection: Keep-Alive\nContent-Length: 3\n\n")
        else {
            panic!("not parsed");
        };
        assert!(r.keep_alive);
        assert_eq!(r.content_length, 3);
        assert_eq!(parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n"), Head::Partial);
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nbad header\r\n\r\n"),
            Head::Bad
        );
        assert_eq!(parse_head(b"GET  / HTTP/1.1\r\n\r\n"), Head::Bad);
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            Head::Bad
        );
        let big = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; HEAD_MAX]].concat();
        assert_eq!(parse_head(&big), Head::TooLarge);
    }

    #[test]
    fn basic_credentials() {
        assert_eq!(base64_decode(b"dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(base64_decode(b"YQ==").unwrap(), b"a");
        assert_eq!(base64_decode(b"YWI=").unwrap(), b"ab");
        assert!(base64_decode(b"a*b").is_none());
    }
}
