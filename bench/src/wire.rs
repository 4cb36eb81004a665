//! Request encoding and incremental reply parsing for RESP and the memcache text protocol.
//!
//! Parsers take the bytes received so far and return `Ok(None)` until a whole reply is
//! there, then the reply's length and its kind.

use crate::args::Protocol;
use crate::workload::Op;

/// What a reply meant for the statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A SET (or any non-GET) succeeded.
    Done,
    Hit,
    Miss,
    /// The server answered with an error.
    Error,
}

/// The server sent something that is not the protocol.
#[derive(Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "protocol error: {}", self.0)
    }
}

impl std::error::Error for ProtocolError {}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

fn push_key(out: &mut Vec<u8>, prefix: &[u8], index: u64) {
    out.extend_from_slice(prefix);
    push_decimal(out, index);
}

fn decimal_len(mut n: u64) -> u64 {
    let mut l = 1;
    while n >= 10 {
        n /= 10;
        l += 1;
    }
    l
}

/// Appends one request to `out`; returns the number of bytes appended.
pub fn encode(
    out: &mut Vec<u8>,
    proto: Protocol,
    op: Op,
    prefix: &[u8],
    key: u64,
    value: &[u8],
) -> usize {
    let start = out.len();
    let key_len = prefix.len() as u64 + decimal_len(key);
    match (proto, op) {
        (Protocol::Redis, Op::Set) => {
            out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$");
            push_decimal(out, key_len);
            out.extend_from_slice(b"\r\n");
            push_key(out, prefix, key);
            out.extend_from_slice(b"\r\n$");
            push_decimal(out, value.len() as u64);
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        (Protocol::Redis, Op::Get) => {
            out.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$");
            push_decimal(out, key_len);
            out.extend_from_slice(b"\r\n");
            push_key(out, prefix, key);
            out.extend_from_slice(b"\r\n");
        }
        (Protocol::MemcacheText, Op::Set) => {
            out.extend_from_slice(b"set ");
            push_key(out, prefix, key);
            out.extend_from_slice(b" 0 0 ");
            push_decimal(out, value.len() as u64);
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        (Protocol::MemcacheText, Op::Get) => {
            out.extend_from_slice(b"get ");
            push_key(out, prefix, key);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.len() - start
}

/// Encodes a RESP command from its arguments (used by the blocking helper client).
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    push_decimal(out, args.len() as u64);
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        push_decimal(out, a.len() as u64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(off) = buf.get(i..)?.iter().position(|&b| b == b'\r') {
        let at = i + off;
        if *buf.get(at + 1)? == b'\n' {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

fn parse_int(s: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| ProtocolError(format!("bad length {:?}", String::from_utf8_lossy(s))))
}

/// Length of the RESP value starting at `buf[at]`, if complete. Handles RESP2 and the
/// RESP3 types a server may send.
pub fn resp_value_end(buf: &[u8], at: usize) -> Result<Option<usize>, ProtocolError> {
    if at >= buf.len() {
        return Ok(None);
    }
    let Some(eol) = find_crlf(buf, at + 1) else {
        return Ok(None);
    };
    let line = &buf[at + 1..eol];
    let after = eol + 2;
    match buf[at] {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(Some(after)),
        b'$' | b'=' | b'!' => {
            let n = parse_int(line)?;
            if n < 0 {
                return Ok(Some(after));
            }
            let end = after + n as usize + 2;
            if buf.len() < end {
                Ok(None)
            } else {
                Ok(Some(end))
            }
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = parse_int(line)?;
            if n < 0 {
                return Ok(Some(after));
            }
            let items = if matches!(buf[at], b'%' | b'|') {
                n * 2
            } else {
                n
            };
            let mut pos = after;
            for _ in 0..items {
                match resp_value_end(buf, pos)? {
                    Some(p) => pos = p,
                    None => return Ok(None),
                }
            }
            Ok(Some(pos))
        }
        other => Err(ProtocolError(format!(
            "unexpected RESP type byte {:?}",
            other as char
        ))),
    }
}

/// Parses one reply to `op` from the start of `buf`: `(bytes consumed, outcome)`.
pub fn parse_reply(
    proto: Protocol,
    op: Op,
    buf: &[u8],
) -> Result<Option<(usize, Outcome)>, ProtocolError> {
    match proto {
        Protocol::Redis => {
            let Some(end) = resp_value_end(buf, 0)? else {
                return Ok(None);
            };
            let outcome = match (buf[0], op) {
                (b'-' | b'!', _) => Outcome::Error,
                (_, Op::Set) => Outcome::Done,
                (b'_', Op::Get) => Outcome::Miss,
                (b'$' | b'*', Op::Get) if buf[1] == b'-' => Outcome::Miss,
                (_, Op::Get) => Outcome::Hit,
            };
            Ok(Some((end, outcome)))
        }
        Protocol::MemcacheText => parse_memcache(op, buf),
    }
}

fn parse_memcache(op: Op, buf: &[u8]) -> Result<Option<(usize, Outcome)>, ProtocolError> {
    let Some(eol) = find_crlf(buf, 0) else {
        return Ok(None);
    };
    let line = &buf[..eol];
    let after = eol + 2;
    if line.ends_with(b"ERROR")
        || line.starts_with(b"CLIENT_ERROR")
        || line.starts_with(b"SERVER_ERROR")
    {
        return Ok(Some((after, Outcome::Error)));
    }
    match op {
        Op::Set => match line {
            b"STORED" => Ok(Some((after, Outcome::Done))),
            b"NOT_STORED" | b"EXISTS" | b"NOT_FOUND" => Ok(Some((after, Outcome::Error))),
            _ => Err(ProtocolError(format!(
                "unexpected reply to set: {:?}",
                String::from_utf8_lossy(line)
            ))),
        },
        Op::Get => {
            if line == b"END" {
                return Ok(Some((after, Outcome::Miss)));
            }
            if !line.starts_with(b"VALUE ") {
                return Err(ProtocolError(format!(
                    "unexpected reply to get: {:?}",
                    String::from_utf8_lossy(line)
                )));
            }
            // VALUE <key> <flags> <bytes> [<cas>]
            let bytes = line
                .split(|&b| b == b' ')
                .nth(3)
                .ok_or_else(|| ProtocolError("short VALUE line".into()))?;
            let n = parse_int(bytes)? as usize;
            let end = after + n + 2 + 5;
            if buf.len() < end {
                return Ok(None);
            }
            if &buf[end - 5..end] != b"END\r\n" {
                return Err(ProtocolError("VALUE not followed by END".into()));
            }
            Ok(Some((end, Outcome::Hit)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_redis_and_memcache() {
        let mut b = Vec::new();
        let n = encode(&mut b, Protocol::Redis, Op::Set, b"memtier-", 42, b"xyz");
        assert_eq!(b, b"*3\r\n$3\r\nSET\r\n$10\r\nmemtier-42\r\n$3\r\nxyz\r\n");
        assert_eq!(n, b.len());
        b.clear();
        encode(&mut b, Protocol::Redis, Op::Get, b"k", 0, b"");
        assert_eq!(b, b"*2\r\n$3\r\nGET\r\n$2\r\nk0\r\n");
        b.clear();
        encode(
            &mut b,
            Protocol::MemcacheText,
            Op::Set,
            b"k",
            1234567,
            b"ab",
        );
        assert_eq!(b, b"set k1234567 0 0 2\r\nab\r\n");
        b.clear();
        encode(&mut b, Protocol::MemcacheText, Op::Get, b"k", 9, b"");
        assert_eq!(b, b"get k9\r\n");
    }

    #[test]
    fn resp_replies() {
        let r = |op, s: &[u8]| parse_reply(Protocol::Redis, op, s).unwrap();
        assert_eq!(r(Op::Set, b"+OK\r\n"), Some((5, Outcome::Done)));
        assert_eq!(r(Op::Set, b"+OK\r"), None);
        assert_eq!(r(Op::Get, b"$-1\r\n+OK"), Some((5, Outcome::Miss)));
        assert_eq!(r(Op::Get, b"_\r\n"), Some((3, Outcome::Miss)));
        assert_eq!(r(Op::Get, b"$3\r\nabc\r\n"), Some((9, Outcome::Hit)));
        assert_eq!(r(Op::Get, b"$3\r\nabc\r"), None);
        assert_eq!(r(Op::Get, b"$3\r\na\r\n\r\n"), Some((9, Outcome::Hit)));
        assert_eq!(r(Op::Get, b"-ERR x\r\n"), Some((8, Outcome::Error)));
        assert_eq!(
            r(Op::Set, b"*2\r\n$1\r\na\r\n:5\r\nrest"),
            Some((15, Outcome::Done))
        );
        assert_eq!(r(Op::Set, b"*2\r\n$1\r\na\r\n"), None);
        assert!(parse_reply(Protocol::Redis, Op::Get, b"?x\r\n").is_err());
    }

    #[test]
    fn memcache_replies() {
        let r = |op, s: &[u8]| parse_reply(Protocol::MemcacheText, op, s).unwrap();
        assert_eq!(r(Op::Set, b"STORED\r\n"), Some((8, Outcome::Done)));
        assert_eq!(r(Op::Set, b"STOR"), None);
        assert_eq!(r(Op::Get, b"END\r\n"), Some((5, Outcome::Miss)));
        let hit = b"VALUE k1 0 3\r\nabc\r\nEND\r\n";
        assert_eq!(r(Op::Get, hit), Some((hit.len(), Outcome::Hit)));
        assert_eq!(r(Op::Get, &hit[..hit.len() - 1]), None);
        assert_eq!(
            r(Op::Get, b"SERVER_ERROR oom\r\n"),
            Some((18, Outcome::Error))
        );
        assert!(parse_reply(
            Protocol::MemcacheText,
            Op::Get,
            b"VALUE k 0 1\r\nxy\r\nEND\r\n"
        )
        .is_err());
        assert!(parse_reply(Protocol::MemcacheText, Op::Set, b"WHAT\r\n").is_err());
    }

    #[test]
    fn command_encoding() {
        let mut b = Vec::new();
        encode_command(&mut b, &[b"INFO", b"memory"]);
        assert_eq!(b, b"*2\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n");
    }
}
