//! Reply encoder: appends RESP2 or RESP3 replies to the connection's output buffer.
//!
//! RESP3-only types fall back the way Redis 7 does for RESP2 clients: map → flat array of
//! 2N elements, set and push → array, null → `$-1` (bulk) or `*-1` (array), double → bulk
//! string, boolean → `:1`/`:0`, big number and verbatim string → bulk string.

use crate::numbers::{decimal_len_u64, write_double_g17, write_i64, write_u64};

/// The protocol a client chose with HELLO (RESP2 until it says otherwise).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RespVersion {
    #[default]
    Resp2,
    Resp3,
}

/// Appends replies to `out` in the client's protocol version.
#[derive(Debug)]
pub struct ReplyWriter<'a> {
    out: &'a mut Vec<u8>,
    version: RespVersion,
}

impl<'a> ReplyWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>, version: RespVersion) -> Self {
        ReplyWriter { out, version }
    }

    pub fn version(&self) -> RespVersion {
        self.version
    }

    fn is_resp3(&self) -> bool {
        self.version == RespVersion::Resp3
    }

    /// `+OK\r\n`.
    pub fn ok(&mut self) {
        self.out.extend_from_slice(b"+OK\r\n");
    }

    /// `+<text>\r\n`. Line breaks in `text` become spaces so the stream stays well-formed.
    pub fn simple(&mut self, text: &[u8]) {
        self.line_without_breaks(b'+', text);
    }

    /// `-<text>\r\n`: `text` is the whole error including its code, e.g. `ERR syntax error` or
    /// `WRONGTYPE Operation against a key holding the wrong kind of value`. Line breaks in it
    /// become spaces, as Redis does for formatted errors.
    pub fn error(&mut self, text: &str) {
        self.line_without_breaks(b'-', text.as_bytes());
    }

    /// [`ReplyWriter::error`] for a text that need not be UTF-8 (Redis quotes arguments in
    /// some errors byte for byte).
    pub fn error_bytes(&mut self, text: &[u8]) {
        self.line_without_breaks(b'-', text);
    }

    fn line_without_breaks(&mut self, type_byte: u8, text: &[u8]) {
        self.out.reserve(text.len() + 3);
        self.out.push(type_byte);
        let start = self.out.len();
        self.out.extend_from_slice(text);
        for byte in &mut self.out[start..] {
            if *byte == b'\r' || *byte == b'\n' {
                *byte = b' ';
            }
        }
        self.out.extend_from_slice(b"\r\n");
    }

    /// `:<value>\r\n`.
    pub fn integer(&mut self, value: i64) {
        match value {
            0 => self.out.extend_from_slice(b":0\r\n"),
            1 => self.out.extend_from_slice(b":1\r\n"),
            _ => {
                self.out.push(b':');
                write_i64(self.out, value);
                self.out.extend_from_slice(b"\r\n");
            }
        }
    }

    /// `$<len>\r\n<bytes>\r\n`.
    pub fn bulk(&mut self, bytes: &[u8]) {
        self.out.reserve(bytes.len() + 16);
        self.length_header(b'$', bytes.len());
        self.out.extend_from_slice(bytes);
        self.out.extend_from_slice(b"\r\n");
    }

    /// A bulk string holding `value` in decimal (Redis's `addReplyBulkLongLong`).
    pub fn bulk_integer(&mut self, value: i64) {
        let digits_len = decimal_len_u64(value.unsigned_abs()) + usize::from(value < 0);
        self.length_header(b'$', digits_len);
        write_i64(self.out, value);
        self.out.extend_from_slice(b"\r\n");
    }

    /// The null bulk string: `$-1\r\n` (RESP2) or `_\r\n` (RESP3).
    pub fn null(&mut self) {
        let bytes: &[u8] = if self.is_resp3() {
            b"_\r\n"
        } else {
            b"$-1\r\n"
        };
        self.out.extend_from_slice(bytes);
    }

    /// The null array: `*-1\r\n` (RESP2) or `_\r\n` (RESP3).
    pub fn null_array(&mut self) {
        let bytes: &[u8] = if self.is_resp3() {
            b"_\r\n"
        } else {
            b"*-1\r\n"
        };
        self.out.extend_from_slice(bytes);
    }

    /// `*<len>\r\n`; `len` elements follow.
    pub fn array_header(&mut self, len: usize) {
        if len == 0 {
            self.out.extend_from_slice(b"*0\r\n");
        } else {
            self.length_header(b'*', len);
        }
    }

    /// `%<pairs>\r\n` (RESP3) or `*<2*pairs>\r\n` (RESP2); `pairs` key/value pairs follow.
    pub fn map_header(&mut self, pairs: usize) {
        if self.is_resp3() {
            self.length_header(b'%', pairs);
        } else {
            self.length_header(b'*', pairs * 2);
        }
    }

    /// `~<len>\r\n` (RESP3) or `*<len>\r\n` (RESP2).
    pub fn set_header(&mut self, len: usize) {
        let type_byte = if self.is_resp3() { b'~' } else { b'*' };
        self.length_header(type_byte, len);
    }

    /// `><len>\r\n` (RESP3) or `*<len>\r\n` (RESP2): pub/sub messages and other pushes.
    pub fn push_header(&mut self, len: usize) {
        let type_byte = if self.is_resp3() { b'>' } else { b'*' };
        self.length_header(type_byte, len);
    }

    /// `|<pairs>\r\n` in RESP3 and returns true: the caller then writes the pairs and the
    /// reply they annotate. RESP2 has no attributes: writes nothing and returns false, and the
    /// caller writes only the annotated reply (as Redis does).
    pub fn attribute_header(&mut self, pairs: usize) -> bool {
        if self.is_resp3() {
            self.length_header(b'|', pairs);
        }
        self.is_resp3()
    }

    /// A double as Redis 7.0's `addReplyDouble`: `,<%.17g>\r\n` (RESP3) or that text as a
    /// bulk string (RESP2); infinities as `inf`/`-inf`.
    pub fn double(&mut self, value: f64) {
        if self.is_resp3() {
            self.out.push(b',');
            write_double_g17(self.out, value);
            self.out.extend_from_slice(b"\r\n");
        } else {
            // Format in place, then put the length header in front of the text.
            let text_start = self.out.len();
            write_double_g17(self.out, value);
            let text_len = self.out.len() - text_start;
            // A %.17g text is at most 24 bytes: a one- or two-digit length.
            debug_assert!(text_len < 100);
            let (header, header_len) = if text_len < 10 {
                ([b'$', b'0' + text_len as u8, b'\r', b'\n', 0], 4)
            } else {
                let (tens, ones) = ((text_len / 10) as u8, (text_len % 10) as u8);
                ([b'$', b'0' + tens, b'0' + ones, b'\r', b'\n'], 5)
            };
            self.out
                .splice(text_start..text_start, header[..header_len].iter().copied());
            self.out.extend_from_slice(b"\r\n");
        }
    }

    /// `#t\r\n`/`#f\r\n` (RESP3) or `:1\r\n`/`:0\r\n` (RESP2).
    pub fn boolean(&mut self, value: bool) {
        let bytes: &[u8] = match (self.is_resp3(), value) {
            (true, true) => b"#t\r\n",
            (true, false) => b"#f\r\n",
            (false, true) => b":1\r\n",
            (false, false) => b":0\r\n",
        };
        self.out.extend_from_slice(bytes);
    }

    /// `(<digits>\r\n` (RESP3) or the digits as a bulk string (RESP2).
    pub fn big_number(&mut self, digits: &[u8]) {
        if self.is_resp3() {
            self.line_without_breaks(b'(', digits);
        } else {
            self.bulk(digits);
        }
    }

    /// `=<len>\r\n<fmt>:<text>\r\n` (RESP3, `format` is e.g. `txt` or `mkd`) or `text` as a
    /// bulk string (RESP2).
    pub fn verbatim(&mut self, format: &[u8; 3], text: &[u8]) {
        if self.is_resp3() {
            self.out.reserve(text.len() + 20);
            self.length_header(b'=', text.len() + 4);
            self.out.extend_from_slice(format);
            self.out.push(b':');
            self.out.extend_from_slice(text);
            self.out.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    fn length_header(&mut self, type_byte: u8, len: usize) {
        self.out.push(type_byte);
        write_u64(self.out, len as u64);
        self.out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(write: impl Fn(&mut ReplyWriter<'_>)) -> (Vec<u8>, Vec<u8>) {
        let mut resp2 = Vec::new();
        write(&mut ReplyWriter::new(&mut resp2, RespVersion::Resp2));
        let mut resp3 = Vec::new();
        write(&mut ReplyWriter::new(&mut resp3, RespVersion::Resp3));
        (resp2, resp3)
    }

    fn same(write: impl Fn(&mut ReplyWriter<'_>), expected: &[u8]) {
        let (resp2, resp3) = both(write);
        assert_eq!(resp2, expected);
        assert_eq!(resp3, expected);
    }

    fn differs(write: impl Fn(&mut ReplyWriter<'_>), resp2: &[u8], resp3: &[u8]) {
        let got = both(write);
        assert_eq!(
            (got.0.as_slice(), got.1.as_slice()),
            (resp2, resp3),
            "got {:?}",
            (
                String::from_utf8_lossy(&got.0),
                String::from_utf8_lossy(&got.1)
            )
        );
    }

    #[test]
    fn common_types() {
        same(|w| w.ok(), b"+OK\r\n");
        same(|w| w.simple(b"PONG"), b"+PONG\r\n");
        same(|w| w.simple(b"a\r\nb"), b"+a  b\r\n");
        same(|w| w.error("ERR syntax error"), b"-ERR syntax error\r\n");
        same(
            |w| w.error("WRONGTYPE Operation against a key holding the wrong kind of value"),
            b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        );
        same(|w| w.error("ERR bad\r\nline"), b"-ERR bad  line\r\n");
        same(|w| w.integer(0), b":0\r\n");
        same(|w| w.integer(1), b":1\r\n");
        same(|w| w.integer(-42), b":-42\r\n");
        same(|w| w.integer(i64::MIN), b":-9223372036854775808\r\n");
        same(|w| w.bulk(b"hello"), b"$5\r\nhello\r\n");
        same(|w| w.bulk(b""), b"$0\r\n\r\n");
        same(|w| w.bulk_integer(-7), b"$2\r\n-7\r\n");
        same(|w| w.bulk_integer(0), b"$1\r\n0\r\n");
        same(|w| w.bulk_integer(1234567890), b"$10\r\n1234567890\r\n");
        same(
            |w| w.bulk_integer(i64::MIN),
            b"$20\r\n-9223372036854775808\r\n",
        );
        same(|w| w.array_header(0), b"*0\r\n");
        same(|w| w.array_header(123), b"*123\r\n");
    }

    #[test]
    fn resp3_types_and_resp2_fallbacks() {
        differs(|w| w.null(), b"$-1\r\n", b"_\r\n");
        differs(|w| w.null_array(), b"*-1\r\n", b"_\r\n");
        differs(|w| w.map_header(3), b"*6\r\n", b"%3\r\n");
        differs(|w| w.set_header(2), b"*2\r\n", b"~2\r\n");
        differs(|w| w.push_header(3), b"*3\r\n", b">3\r\n");
        differs(
            |w| {
                if w.attribute_header(1) {
                    w.bulk(b"k");
                    w.integer(1);
                }
                w.integer(5);
            },
            b":5\r\n",
            b"|1\r\n$1\r\nk\r\n:1\r\n:5\r\n",
        );
        differs(|w| w.boolean(true), b":1\r\n", b"#t\r\n");
        differs(|w| w.boolean(false), b":0\r\n", b"#f\r\n");
        differs(
            |w| w.big_number(b"1234567999999999999999999999"),
            b"$28\r\n1234567999999999999999999999\r\n",
            b"(1234567999999999999999999999\r\n",
        );
        differs(
            |w| w.verbatim(b"txt", b"Some string"),
            b"$11\r\nSome string\r\n",
            b"=15\r\ntxt:Some string\r\n",
        );
    }

    #[test]
    fn doubles_as_redis_7_0_sends_them() {
        // Bytes observed from redis-server 7.0.15 for ZSCORE in RESP2 and RESP3.
        differs(
            |w| w.double(1.1),
            b"$18\r\n1.1000000000000001\r\n",
            b",1.1000000000000001\r\n",
        );
        differs(|w| w.double(1e18), b"$5\r\n1e+18\r\n", b",1e+18\r\n");
        differs(|w| w.double(0.0), b"$1\r\n0\r\n", b",0\r\n");
        differs(|w| w.double(f64::INFINITY), b"$3\r\ninf\r\n", b",inf\r\n");
        differs(
            |w| w.double(f64::NEG_INFINITY),
            b"$4\r\n-inf\r\n",
            b",-inf\r\n",
        );
    }
}
