//! `INFO` and memcached `stats` parsing, and a small blocking client to fetch them, to
//! probe a server and to load keys.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::wire;

/// Parses `INFO` text (`# Section` headers, `name:value` lines) into a map.
pub fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Parses memcached `stats` output (`STAT name value` lines, then `END`).
pub fn parse_memcached_stats(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim_end().strip_prefix("STAT "))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A RESP reply as the blocking client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+...`, `$...` and `:...` payloads.
    Text(Vec<u8>),
    Nil,
    Error(String),
    /// Arrays and the rest, kept raw.
    Other(Vec<u8>),
}

impl Reply {
    fn from_raw(raw: &[u8]) -> Reply {
        let body = &raw[1..raw.len() - 2];
        match raw[0] {
            b'+' | b':' => Reply::Text(body.to_vec()),
            b'-' => Reply::Error(String::from_utf8_lossy(body).into_owned()),
            b'_' => Reply::Nil,
            b'$' if raw[1] == b'-' => Reply::Nil,
            b'$' => {
                let hdr = raw.iter().position(|&b| b == b'\n').unwrap_or(0);
                Reply::Text(raw[hdr + 1..raw.len() - 2].to_vec())
            }
            _ => Reply::Other(raw.to_vec()),
        }
    }

    pub fn into_result(self) -> io::Result<Reply> {
        match self {
            Reply::Error(e) => Err(io::Error::other(e)),
            r => Ok(r),
        }
    }

    pub fn text(&self) -> String {
        match self {
            Reply::Text(t) | Reply::Other(t) => String::from_utf8_lossy(t).into_owned(),
            Reply::Nil => String::new(),
            Reply::Error(e) => e.clone(),
        }
    }
}

/// A blocking connection for setup and measurement (not for load).
pub struct BlockingClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl BlockingClient {
    pub fn connect(host: &str, port: u16) -> io::Result<Self> {
        let stream = TcpStream::connect((host, port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(BlockingClient {
            stream,
            buf: Vec::new(),
        })
    }

    /// Changes how long a read may wait (120 s by default).
    pub fn set_read_timeout(&mut self, t: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(t))
    }

    /// Sends raw bytes without waiting for anything.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16384];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Reads one RESP reply.
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        loop {
            let end = wire::resp_value_end(&self.buf, 0)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if let Some(end) = end {
                let r = Reply::from_raw(&self.buf[..end]);
                self.buf.drain(..end);
                return Ok(r);
            }
            self.fill()?;
        }
    }

    /// Sends one RESP command and reads its reply.
    pub fn command(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        let mut out = Vec::new();
        wire::encode_command(&mut out, args);
        self.send_raw(&out)?;
        self.read_reply()
    }

    /// Reads text up to and including a line equal to `terminator` (memcache replies).
    pub fn read_until_line(&mut self, terminators: &[&str]) -> io::Result<String> {
        loop {
            let text = String::from_utf8_lossy(&self.buf);
            let mut pos = 0;
            for line in text.split_inclusive("\r\n") {
                pos += line.len();
                if line.ends_with("\r\n") && terminators.contains(&line.trim_end()) {
                    let out = text[..pos].to_string();
                    self.buf.drain(..pos);
                    return Ok(out);
                }
            }
            self.fill()?;
        }
    }

    /// Reads one CRLF-terminated line (without the CRLF).
    pub fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            self.fill()?;
        }
    }

    /// `INFO [section]` as a map.
    pub fn info(&mut self, section: &str) -> io::Result<HashMap<String, String>> {
        let r = self
            .command(&[b"INFO", section.as_bytes()])?
            .into_result()?;
        Ok(parse_info(&r.text()))
    }

    /// memcached `stats` as a map.
    pub fn memcached_stats(&mut self) -> io::Result<HashMap<String, String>> {
        self.send_raw(b"stats\r\n")?;
        Ok(parse_memcached_stats(&self.read_until_line(&["END"])?))
    }
}

/// Reads an unsigned field from a parsed INFO/stats map.
pub fn field_u64(map: &HashMap<String, String>, name: &str) -> io::Result<u64> {
    map.get(name)
        .ok_or_else(|| io::Error::other(format!("no {name} in INFO")))?
        .trim()
        .parse()
        .map_err(|_| io::Error::other(format!("{name} is not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_sections() {
        let text = "# Memory\r\nused_memory:1032544\r\nused_memory_human:1008.34K\r\n\
                    maxmemory_policy:noeviction\r\n\r\n# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n";
        let m = parse_info(text);
        assert_eq!(field_u64(&m, "used_memory").unwrap(), 1032544);
        assert_eq!(m["used_memory_human"], "1008.34K");
        assert_eq!(m["db0"], "keys=3,expires=0,avg_ttl=0");
        assert!(field_u64(&m, "used_memory_rss").is_err());
        assert!(field_u64(&m, "maxmemory_policy").is_err());
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn memcached_stats() {
        let text = "STAT pid 123\r\nSTAT bytes 4096\r\nSTAT version 1.6.18\r\nEND\r\n";
        let m = parse_memcached_stats(text);
        assert_eq!(field_u64(&m, "bytes").unwrap(), 4096);
        assert_eq!(m["version"], "1.6.18");
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn replies_from_raw() {
        assert_eq!(Reply::from_raw(b"+OK\r\n"), Reply::Text(b"OK".to_vec()));
        assert_eq!(
            Reply::from_raw(b"$3\r\na\rb\r\n"),
            Reply::Text(b"a\rb".to_vec())
        );
        assert_eq!(Reply::from_raw(b"$-1\r\n"), Reply::Nil);
        assert_eq!(
            Reply::from_raw(b"-ERR no\r\n"),
            Reply::Error("ERR no".into())
        );
        assert!(Reply::from_raw(b"-ERR no\r\n").into_result().is_err());
    }
}
