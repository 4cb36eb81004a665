//! The RDB primitives: object type bytes, lengths (6/14/32/64-bit), strings (plain,
//! integer-encoded, LZF-compressed) and doubles (binary, and the old length-prefixed text).

use crate::lzf;
use damselfly_shards::cell::parse_canonical_i64;
use std::borrow::Cow;
use std::fmt;

/// The RDB version redis-server 7.0 writes (and the newest this codec reads).
pub const RDB_VERSION: u16 = 10;

/// Object type bytes (`RDB_TYPE_*`).
pub mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
}

/// Quicklist 2 node containers.
pub const QUICKLIST_NODE_PLAIN: u64 = 1;
pub const QUICKLIST_NODE_PACKED: u64 = 2;

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Strings at most this long are tried as integers (Redis: "-2147483648" is 11 bytes).
const INT_TRY_LEN_MAX: usize = 11;
/// Strings longer than this are tried with LZF.
const LZF_MIN_LEN: usize = 20;
/// LZF must save at least this many bytes to be used.
const LZF_MIN_GAIN: usize = 4;

/// Why a value could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdbError {
    /// The input ended inside a value.
    Truncated,
    /// The input is not a valid encoding (the reason names what was wrong).
    Corrupt(&'static str),
    /// A type this build does not read or write (modules, streams): its RDB type byte.
    Unsupported(u8),
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RdbError::Truncated => write!(f, "unexpected end of RDB data"),
            RdbError::Corrupt(what) => write!(f, "corrupt RDB data: {what}"),
            RdbError::Unsupported(t @ (types::MODULE | types::MODULE_2)) => {
                write!(
                    f,
                    "RDB object type {t} is a module value: modules are not supported"
                )
            }
            RdbError::Unsupported(t @ (types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2)) => {
                write!(
                    f,
                    "RDB object type {t} is a stream: streams are not supported yet"
                )
            }
            RdbError::Unsupported(t) => write!(f, "unknown RDB object type {t}"),
        }
    }
}

impl std::error::Error for RdbError {}

pub type RdbResult<T> = Result<T, RdbError>;

/// A cursor over RDB bytes; every read checks bounds.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn u8(&mut self) -> RdbResult<u8> {
        let b = *self.buf.get(self.pos).ok_or(RdbError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    pub fn take(&mut self, n: usize) -> RdbResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(RdbError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> RdbResult<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// A length, or the string encoding a `11xxxxxx` byte announces (`Err(enc)` inside Ok).
    fn len_or_encoding(&mut self) -> RdbResult<Result<u64, u8>> {
        let b = self.u8()?;
        Ok(Ok(match b >> 6 {
            0 => u64::from(b & 0x3f),
            1 => u64::from(b & 0x3f) << 8 | u64::from(self.u8()?),
            2 if b == 0x80 => u64::from(u32::from_be_bytes(self.array()?)),
            2 if b == 0x81 => u64::from_be_bytes(self.array()?),
            2 => return Err(RdbError::Corrupt("unknown length encoding")),
            _ => return Ok(Err(b & 0x3f)),
        }))
    }

    /// A plain length (an encoded-string marker here is corrupt).
    pub fn length(&mut self) -> RdbResult<u64> {
        self.len_or_encoding()?
            .map_err(|_| RdbError::Corrupt("string encoding where a length belongs"))
    }

    /// A count of elements, each at least `min_bytes` long: larger than the input can hold
    /// is corrupt (so a forged count never drives an allocation).
    pub fn count(&mut self, min_bytes: usize) -> RdbResult<usize> {
        let n = self.length()?;
        if n > (self.remaining() / min_bytes.max(1)) as u64 {
            return Err(RdbError::Truncated);
        }
        Ok(n as usize)
    }

    /// A string in any of its encodings; integers come back as their decimal text.
    pub fn string(&mut self) -> RdbResult<Cow<'a, [u8]>> {
        match self.len_or_encoding()? {
            Ok(n) => {
                let n = usize::try_from(n).map_err(|_| RdbError::Truncated)?;
                Ok(Cow::Borrowed(self.take(n)?))
            }
            Err(ENC_INT8) => Ok(int_text(i64::from(self.u8()? as i8))),
            Err(ENC_INT16) => Ok(int_text(i64::from(i16::from_le_bytes(self.array()?)))),
            Err(ENC_INT32) => Ok(int_text(i64::from(i32::from_le_bytes(self.array()?)))),
            Err(ENC_LZF) => {
                let clen = usize::try_from(self.length()?).map_err(|_| RdbError::Truncated)?;
                let len = usize::try_from(self.length()?).map_err(|_| RdbError::Truncated)?;
                let data = self.take(clen)?;
                lzf::decompress(data, len)
                    .map(Cow::Owned)
                    .ok_or(RdbError::Corrupt("invalid LZF data"))
            }
            Err(_) => Err(RdbError::Corrupt("unknown string encoding")),
        }
    }

    /// An 8-byte little-endian IEEE double (ZSET_2 scores).
    pub fn binary_double(&mut self) -> RdbResult<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// The old text double: a length byte (253 nan, 254 +inf, 255 -inf) then its digits.
    pub fn text_double(&mut self) -> RdbResult<f64> {
        let n = self.u8()?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            _ => parse_double(self.take(n as usize)?).ok_or(RdbError::Corrupt("bad double value")),
        }
    }
}

fn int_text(v: i64) -> Cow<'static, [u8]> {
    Cow::Owned(v.to_string().into_bytes())
}

/// Parses a double as C's strtod reads the text Redis stores (decimal, exponent, inf, nan).
pub fn parse_double(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s).ok()?;
    if t.is_empty() || t.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    match t.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" | "+nan" | "-nan" => return Some(f64::NAN),
        _ => {}
    }
    if !t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    t.parse().ok()
}

// ---- writing ------------------------------------------------------------------------------

pub fn write_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// An integer in the shortest integer encoding, or `false` if it needs more than 32 bits.
fn write_int_encoded(out: &mut Vec<u8>, v: i64) -> bool {
    if let Ok(b) = i8::try_from(v) {
        out.extend_from_slice(&[0xc0 | ENC_INT8, b as u8]);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(0xc0 | ENC_INT16);
        out.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        out.push(0xc0 | ENC_INT32);
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// A string as redis-server writes it: short canonical integers int-encoded, strings over
/// 20 bytes LZF-compressed when that saves at least 4 bytes, else length-prefixed bytes.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    write_string_with(out, s, &mut lzf::Compressor::for_len(s.len()));
}

/// [`write_string`] with a compressor kept across the strings of one value.
pub fn write_string_with(out: &mut Vec<u8>, s: &[u8], z: &mut lzf::Compressor) {
    if s.len() <= INT_TRY_LEN_MAX {
        if let Some(v) = parse_canonical_i64(s) {
            if write_int_encoded(out, v) {
                return;
            }
        }
    }
    if s.len() > LZF_MIN_LEN {
        if let Some(c) = z.compress(s, s.len() - LZF_MIN_GAIN) {
            out.push(0xc0 | ENC_LZF);
            write_len(out, c.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// An integer value as a string (int-encoded when it fits 32 bits, else its digits).
pub fn write_int_string(out: &mut Vec<u8>, v: i64) {
    if !write_int_encoded(out, v) {
        let text = v.to_string();
        write_len(out, text.len() as u64);
        out.extend_from_slice(text.as_bytes());
    }
}

pub fn write_binary_double(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(bytes: &[u8]) -> Vec<u8> {
        let mut r = Reader::new(bytes);
        let s = r.string().unwrap().into_owned();
        assert_eq!(r.remaining(), 0);
        s
    }

    #[test]
    fn lengths_in_every_width() {
        for n in [
            0u64,
            63,
            64,
            16383,
            16384,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            write_len(&mut out, n);
            let expect = match n {
                0..=63 => 1,
                64..=16383 => 2,
                16384..=0xffff_ffff => 5,
                _ => 9,
            };
            assert_eq!(out.len(), expect, "{n}");
            assert_eq!(Reader::new(&out).length().unwrap(), n);
        }
        assert!(Reader::new(&[0x82]).length().is_err());
        assert_eq!(
            Reader::new(&[0x80, 0, 0]).length(),
            Err(RdbError::Truncated)
        );
    }

    #[test]
    fn strings_pick_redis_encodings() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"12", &[0xc0, 12]),
            (b"-129", &[0xc1, 0x7f, 0xff]),
            (b"100000", &[0xc2, 0xa0, 0x86, 0x01, 0x00]),
            (b"012", &[3, b'0', b'1', b'2']),
            (
                b"4294967296",
                &[
                    10, b'4', b'2', b'9', b'4', b'9', b'6', b'7', b'2', b'9', b'6',
                ],
            ),
        ];
        for (s, enc) in cases {
            let mut out = Vec::new();
            write_string(&mut out, s);
            assert_eq!(&out, enc, "{:?}", String::from_utf8_lossy(s));
            assert_eq!(read_back(&out), *s);
        }
        let long = b"abcabcabcabcabcabcabcabcabcabcabcabc".to_vec();
        let mut out = Vec::new();
        write_string(&mut out, &long);
        assert_eq!(out[0], 0xc3);
        assert_eq!(read_back(&out), long);
        assert!(Reader::new(&[0xc4]).string().is_err());
    }

    #[test]
    fn doubles() {
        let mut r = Reader::new(&[253, 254, 255, 3, b'1', b'.', b'5', 2, b'x', b'y']);
        assert!(r.text_double().unwrap().is_nan());
        assert_eq!(r.text_double().unwrap(), f64::INFINITY);
        assert_eq!(r.text_double().unwrap(), f64::NEG_INFINITY);
        assert_eq!(r.text_double().unwrap(), 1.5);
        assert!(r.text_double().is_err());
        assert_eq!(parse_double(b"-1e300"), Some(-1e300));
        assert_eq!(parse_double(b" 1"), None);
    }
}
