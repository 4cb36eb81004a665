//! The memcached connection's output: replies appended to one buffer in memcached's exact
//! text, sent once per batch, or early when a long reply (a get of many keys) passes
//! [`OUT_FLUSH`]: the client's fiber then parks in send, so output stays bounded.

use crate::tls::ConnStream;

/// Bytes of replies held before they are sent in the middle of a batch or command.
pub const OUT_FLUSH: usize = 64 * 1024;

pub struct McOut<'s> {
    pub buf: Vec<u8>,
    stream: &'s ConnStream,
    /// Bytes sent so far (memcached's `bytes_written`).
    pub sent: u64,
    /// A send failed: the client is gone; later output is dropped.
    pub broken: bool,
}

impl<'s> McOut<'s> {
    pub fn new(stream: &'s ConnStream) -> McOut<'s> {
        McOut {
            buf: Vec::with_capacity(1024),
            stream,
            sent: 0,
            broken: false,
        }
    }

    /// Sends what is buffered.
    pub fn flush(&mut self) {
        if !self.broken && !self.buf.is_empty() && self.stream.send_all(&self.buf).is_err() {
            self.broken = true;
        }
        self.sent += self.buf.len() as u64;
        self.buf.clear();
        if self.buf.capacity() > OUT_FLUSH * 2 {
            self.buf = Vec::with_capacity(1024);
        }
    }

    /// Sends when enough is buffered (called between commands and between keys of a get).
    pub fn maybe_flush(&mut self) {
        if self.buf.len() >= OUT_FLUSH {
            self.flush();
        }
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn line(&mut self, text: &[u8]) {
        self.buf.extend_from_slice(text);
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn u64(&mut self, value: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut v = value;
        loop {
            at -= 1;
            digits[at] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&digits[at..]);
    }

    pub fn i64(&mut self, value: i64) {
        if value < 0 {
            self.buf.push(b'-');
        }
        self.u64(value.unsigned_abs());
    }

    /// `VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n`
    pub fn value(&mut self, key: &[u8], flags: u32, data: &[u8], cas: Option<u64>) {
        self.raw(b"VALUE ");
        self.raw(key);
        self.raw(b" ");
        self.u64(u64::from(flags));
        self.raw(b" ");
        self.u64(data.len() as u64);
        if let Some(cas) = cas {
            self.raw(b" ");
            self.u64(cas);
        }
        self.raw(b"\r\n");
        self.raw(data);
        self.raw(b"\r\n");
    }

    /// `STAT <name> <value>\r\n`
    pub fn stat(&mut self, name: &str, value: impl std::fmt::Display) {
        use std::io::Write;
        let _ = write!(self.buf, "STAT {name} {value}\r\n");
    }
}
