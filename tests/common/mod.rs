//! Shared by the integration tests: an embedded server on a free port and a raw RESP client
//! that checks replies byte for byte.
#![allow(dead_code)]

pub mod memcached;
pub mod reference;

use damselfly_protocol::{Reply, ReplyParser};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Starts a server on 127.0.0.1 and a free port.
pub fn server(threads: usize) -> damselfly::ServerHandle {
    damselfly::Server::builder()
        .bind("127.0.0.1")
        .port(0)
        .threads(threads)
        .start()
        .expect("server starts")
}

pub struct Client {
    stream: TcpStream,
    parser: ReplyParser,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            parser: ReplyParser::new(),
            buf: Vec::new(),
        }
    }

    /// Encodes `args` as a multibulk command.
    pub fn encode(args: &[&[u8]]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Reads one reply.
    pub fn read_reply(&mut self) -> Reply {
        loop {
            if let Some((reply, used)) = self.parser.parse(&self.buf).expect("valid reply") {
                self.buf.drain(..used);
                return reply;
            }
            let mut chunk = [0u8; 65536];
            let n = match self.stream.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => r.expect("read reply"),
            };
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads one reply, or None when the server closes the connection first.
    pub fn try_read_reply(&mut self) -> Option<Reply> {
        loop {
            if let Some((reply, used)) = self.parser.parse(&self.buf).expect("valid reply") {
                self.buf.drain(..used);
                return Some(reply);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read reply: {e}"),
            }
        }
    }

    /// Sends a command and returns its reply.
    pub fn cmd(&mut self, args: &[&str]) -> Reply {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.send_raw(&Self::encode(&a));
        self.read_reply()
    }

    pub fn cmd_bytes(&mut self, args: &[&[u8]]) -> Reply {
        self.send_raw(&Self::encode(args));
        self.read_reply()
    }

    /// Sends a command and returns the raw reply bytes (one reply).
    pub fn cmd_raw(&mut self, args: &[&str]) -> Vec<u8> {
        let r = self.cmd(args);
        let mut out = Vec::new();
        r.write_to(&mut out);
        out
    }

    /// True when the server closed the connection (reads EOF within the timeout).
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1024];
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

    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}

// Reply constructors for short assertions.
pub fn ok() -> Reply {
    Reply::Simple(b"OK".to_vec())
}
pub fn simple(s: &str) -> Reply {
    Reply::Simple(s.as_bytes().to_vec())
}
pub fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}
pub fn int(i: i64) -> Reply {
    Reply::Integer(i)
}
pub fn nil() -> Reply {
    Reply::NullBulk
}
pub fn err(s: &str) -> Reply {
    Reply::Error(s.as_bytes().to_vec())
}
pub fn arr(v: Vec<Reply>) -> Reply {
    Reply::Array(v)
}
