//! Redis's listpack as RDB stores it: `total_bytes u32 LE | count u16 LE | entries | 0xFF`.
//! Each entry is `header [data] backlen`; integers use the narrowest of the 7-bit, 13-bit,
//! 16/24/32/64-bit encodings; strings a 6-bit, 12-bit or 32-bit length.
//!
//! [`LpWriter`] builds one; [`entries`] validates one completely (header, every entry, every
//! back length, the count, the terminator) before yielding any value, since a payload is
//! untrusted input.

use crate::encoding::{RdbError, RdbResult};
use damselfly_shards::cell::parse_canonical_i64;

const HEADER: usize = 6;
const EOF: u8 = 0xff;
/// The header's count when the listpack holds 65535 entries or more.
const COUNT_UNKNOWN: u16 = u16::MAX;

/// One listpack (or ziplist) entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Entry<'_> {
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            Entry::Int(v) => v.to_string().into_bytes(),
            Entry::Str(s) => s.to_vec(),
        }
    }
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

fn write_backlen(out: &mut Vec<u8>, l: usize) {
    let n = backlen_size(l);
    // Most significant group first; every byte but the first has the "more" bit, so a
    // reader walking leftwards from the last byte knows where the number starts.
    for i in (0..n).rev() {
        let group = ((l >> (7 * i)) & 0x7f) as u8;
        out.push(if i == n - 1 { group } else { group | 0x80 });
    }
}

/// Builds a listpack entry by entry.
pub struct LpWriter {
    buf: Vec<u8>,
    count: usize,
}

impl Default for LpWriter {
    fn default() -> LpWriter {
        LpWriter::new()
    }
}

impl LpWriter {
    pub fn new() -> LpWriter {
        LpWriter {
            buf: vec![0; HEADER],
            count: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the listpack takes so far, terminator included.
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// Bytes an entry for `s` will take (header, data, back length).
    pub fn entry_size(s: &[u8]) -> usize {
        let body = match parse_canonical_i64(s) {
            Some(v) => int_body_len(v),
            None => str_header_len(s.len()) + s.len(),
        };
        body + backlen_size(body)
    }

    /// Appends `s`, as an integer when it is canonical decimal text (as Redis does).
    pub fn push(&mut self, s: &[u8]) {
        match parse_canonical_i64(s) {
            Some(v) => self.push_int(v),
            None => self.push_str(s),
        }
    }

    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        let b = &mut self.buf;
        if (0..=127).contains(&v) {
            b.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u16) & 0x1fff;
            b.extend_from_slice(&[0xc0 | (u >> 8) as u8, u as u8]);
        } else if let Ok(h) = i16::try_from(v) {
            b.push(0xf1);
            b.extend_from_slice(&h.to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            b.push(0xf2);
            b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if let Ok(w) = i32::try_from(v) {
            b.push(0xf3);
            b.extend_from_slice(&w.to_le_bytes());
        } else {
            b.push(0xf4);
            b.extend_from_slice(&v.to_le_bytes());
        }
        let l = self.buf.len() - start;
        write_backlen(&mut self.buf, l);
        self.count += 1;
    }

    fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let n = s.len();
        if n < 64 {
            self.buf.push(0x80 | n as u8);
        } else if n < 4096 {
            self.buf
                .extend_from_slice(&[0xe0 | (n >> 8) as u8, n as u8]);
        } else {
            self.buf.push(0xf0);
            self.buf.extend_from_slice(&(n as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        let l = self.buf.len() - start;
        write_backlen(&mut self.buf, l);
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(EOF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(self.count).unwrap_or(COUNT_UNKNOWN);
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

fn int_body_len(v: i64) -> usize {
    match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8_388_608..=8_388_607 => 4,
        _ if i32::try_from(v).is_ok() => 5,
        _ => 9,
    }
}

fn str_header_len(n: usize) -> usize {
    match n {
        0..=63 => 1,
        64..=4095 => 2,
        _ => 5,
    }
}

/// Decodes the entry at `p`: its value and the length of header + data.
fn decode_at(b: &[u8], p: usize) -> RdbResult<(Entry<'_>, usize)> {
    let get = |from: usize, n: usize| b.get(from..from + n).ok_or(RdbError::Truncated);
    let h = b[p];
    let sext = |v: u64, bits: u32| ((v << (64 - bits)) as i64) >> (64 - bits);
    Ok(if h & 0x80 == 0 {
        (Entry::Int(i64::from(h)), 1)
    } else if h & 0xc0 == 0x80 {
        let n = (h & 0x3f) as usize;
        (Entry::Str(get(p + 1, n)?), 1 + n)
    } else if h & 0xe0 == 0xc0 {
        let lo = get(p + 1, 1)?[0];
        let u = u64::from(h & 0x1f) << 8 | u64::from(lo);
        (Entry::Int(sext(u, 13)), 2)
    } else if h & 0xf0 == 0xe0 {
        let lo = get(p + 1, 1)?[0];
        let n = ((h & 0x0f) as usize) << 8 | lo as usize;
        (Entry::Str(get(p + 2, n)?), 2 + n)
    } else {
        let le = |n: usize| -> RdbResult<u64> {
            let mut a = [0u8; 8];
            a[..n].copy_from_slice(get(p + 1, n)?);
            Ok(u64::from_le_bytes(a))
        };
        match h {
            0xf0 => {
                let n = le(4)? as usize;
                (Entry::Str(get(p + 5, n)?), 5 + n)
            }
            0xf1 => (Entry::Int(sext(le(2)?, 16)), 3),
            0xf2 => (Entry::Int(sext(le(3)?, 24)), 4),
            0xf3 => (Entry::Int(sext(le(4)?, 32)), 5),
            0xf4 => (Entry::Int(le(8)? as i64), 9),
            _ => return Err(RdbError::Corrupt("invalid listpack entry encoding")),
        }
    })
}

/// Whether `bytes` are the back length of an entry of `l` bytes, as a reader walking
/// leftwards decodes it: only the leftmost byte lacks the continuation bit.
fn backlen_is(bytes: &[u8], l: usize) -> bool {
    let mut v = 0usize;
    for (i, byte) in bytes.iter().rev().enumerate() {
        let more = byte & 0x80 != 0;
        if more != (i + 1 < bytes.len()) {
            return false;
        }
        v |= ((byte & 0x7f) as usize) << (7 * i);
    }
    v == l
}

/// Every entry of a listpack blob, validated as a whole first.
pub fn entries(b: &[u8]) -> RdbResult<Vec<Entry<'_>>> {
    const BAD: RdbError = RdbError::Corrupt("listpack integrity check failed");
    if b.len() < HEADER + 1 || b[b.len() - 1] != EOF {
        return Err(BAD);
    }
    let total = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let count = u16::from_le_bytes([b[4], b[5]]);
    if total != b.len() {
        return Err(BAD);
    }
    let end = b.len() - 1;
    let mut out = Vec::new();
    let mut p = HEADER;
    while p < end {
        let (e, l) = decode_at(&b[..end], p).map_err(|_| BAD)?;
        let bl = backlen_size(l);
        if p + l + bl > end || !backlen_is(&b[p + l..p + l + bl], l) {
            return Err(BAD);
        }
        out.push(e);
        p += l + bl;
    }
    if count != COUNT_UNKNOWN && out.len() != count as usize {
        return Err(BAD);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            any::<i64>().prop_map(|v| v.to_string().into_bytes()),
            (-5000i64..5000).prop_map(|v| v.to_string().into_bytes()),
            prop::collection::vec(any::<u8>(), 0..100),
            (0usize..3).prop_map(|k| vec![b'x'; [64, 4095, 5000][k]]),
        ]
    }

    #[test]
    fn matches_redis_bytes() {
        // The listpack redis-server builds for RPUSH l a 1 -1 4095.
        let mut w = LpWriter::new();
        for s in [&b"a"[..], b"1", b"-1", b"4095"] {
            w.push(s);
        }
        let lp = w.finish();
        assert_eq!(
            lp,
            [18, 0, 0, 0, 4, 0, 0x81, b'a', 2, 1, 1, 0xdf, 0xff, 2, 0xcf, 0xff, 2, 0xff]
        );
    }

    proptest! {
        #[test]
        fn round_trip(items in prop::collection::vec(entry(), 0..50)) {
            let mut w = LpWriter::new();
            let mut size = 6;
            for s in &items {
                size += LpWriter::entry_size(s);
                w.push(s);
            }
            prop_assert_eq!(w.bytes(), size + 1);
            let lp = w.finish();
            let back: Vec<Vec<u8>> = entries(&lp).unwrap().iter().map(Entry::to_vec).collect();
            prop_assert_eq!(back, items);
        }

        #[test]
        fn corruption_never_panics(items in prop::collection::vec(entry(), 1..10), at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut w = LpWriter::new();
            for s in &items { w.push(s); }
            let mut lp = w.finish();
            let i = at.index(lp.len());
            lp[i] ^= 1 << bit;
            let _ = entries(&lp);
            let _ = entries(&lp[..i]);
        }
    }
}
