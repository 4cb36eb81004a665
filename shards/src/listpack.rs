//! The packed encoding of small collections (Redis's listpack): one byte buffer holding a
//! sequence of entries, each a string or an integer, walkable both ways.
//!
//! Entry layout: `header [data] backlen`.
//!
//! ```text
//! 0xxxxxxx                 integer 0..=127
//! 10llllll <l bytes>       string of 0..=63 bytes
//! 110vvvvv vvvvvvvv        13-bit signed integer
//! 1110llll llllllll <l>    string of 64..=4095 bytes
//! 0xF0 <u32 LE> <bytes>    longer string
//! 0xF1 / F2 / F3 / F4      i16 / i24 / i32 / i64, little endian
//! ```
//!
//! `backlen` is the length of `header + data` in 7-bit groups written so that reading from the
//! entry's last byte leftwards yields it (the high bit of a byte says "one more group to the
//! left"), which is what makes walking backwards possible without an index.
//!
//! A string pushed that is the canonical decimal form of an i64 is stored as an integer, so a
//! `Str` entry is never canonical-integer text: equality can compare kinds first.

use std::fmt;

/// Strings up to this length get the 1-byte header.
const STR6_MAX: usize = 63;
/// Strings up to this length get the 2-byte header.
const STR12_MAX: usize = 4095;

const ENC_STR32: u8 = 0xF0;
const ENC_I16: u8 = 0xF1;
const ENC_I24: u8 = 0xF2;
const ENC_I32: u8 = 0xF3;
const ENC_I64: u8 = 0xF4;

/// A packed sequence of string / integer entries in one allocation.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Listpack {
    buf: Vec<u8>,
    count: u32,
}

/// An entry's value: bytes borrowed from the listpack, or an integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LpValue<'a> {
    Str(&'a [u8]),
    Int(i64),
}

/// Byte position of an entry inside the listpack (invalidated by any write).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LpPos(u32);

impl LpPos {
    /// The byte offset (stable only until the next write).
    pub fn offset(self) -> usize {
        self.0 as usize
    }
}

/// How a value will be stored: decided once, then sized and written.
#[derive(Clone, Copy)]
enum Enc<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl<'a> Enc<'a> {
    fn of(v: &'a [u8]) -> Enc<'a> {
        match parse_canonical_i64(v) {
            Some(i) => Enc::Int(i),
            None => Enc::Str(v),
        }
    }

    /// Header + data bytes.
    fn body_len(self) -> usize {
        match self {
            Enc::Int(i) => int_body_len(i),
            Enc::Str(s) => {
                let l = s.len();
                if l <= STR6_MAX {
                    1 + l
                } else if l <= STR12_MAX {
                    2 + l
                } else {
                    5 + l
                }
            }
        }
    }

    fn total_len(self) -> usize {
        let b = self.body_len();
        b + backlen_size(b)
    }

    /// Writes the whole entry into `out`, which is exactly `total_len()` bytes.
    fn write(self, out: &mut [u8]) {
        let body = self.body_len();
        match self {
            Enc::Int(i) => write_int(i, out),
            Enc::Str(s) => {
                let l = s.len();
                let h = if l <= STR6_MAX {
                    out[0] = 0x80 | l as u8;
                    1
                } else if l <= STR12_MAX {
                    out[0] = 0xE0 | (l >> 8) as u8;
                    out[1] = l as u8;
                    2
                } else {
                    out[0] = ENC_STR32;
                    out[1..5].copy_from_slice(&(l as u32).to_le_bytes());
                    5
                };
                out[h..h + l].copy_from_slice(s);
            }
        }
        write_backlen(body, &mut out[body..]);
    }
}

fn int_body_len(i: i64) -> usize {
    if (0..=127).contains(&i) {
        1
    } else if (-4096..=4095).contains(&i) {
        2
    } else if i16::try_from(i).is_ok() {
        3
    } else if (-(1 << 23)..(1 << 23)).contains(&i) {
        4
    } else if i32::try_from(i).is_ok() {
        5
    } else {
        9
    }
}

fn write_int(i: i64, out: &mut [u8]) {
    let le = i.to_le_bytes();
    match int_body_len(i) {
        1 => out[0] = i as u8,
        2 => {
            let u = (i as u16) & 0x1FFF;
            out[0] = 0xC0 | (u >> 8) as u8;
            out[1] = u as u8;
        }
        3 => {
            out[0] = ENC_I16;
            out[1..3].copy_from_slice(&le[..2]);
        }
        4 => {
            out[0] = ENC_I24;
            out[1..4].copy_from_slice(&le[..3]);
        }
        5 => {
            out[0] = ENC_I32;
            out[1..5].copy_from_slice(&le[..4]);
        }
        _ => {
            out[0] = ENC_I64;
            out[1..9].copy_from_slice(&le);
        }
    }
}

fn backlen_size(body: usize) -> usize {
    match body {
        0..=0x7F => 1,
        0x80..=0x3FFF => 2,
        0x4000..=0x1F_FFFF => 3,
        0x20_0000..=0xFFF_FFFF => 4,
        _ => 5,
    }
}

/// Writes `body` in 7-bit groups, least significant group last (rightmost).
fn write_backlen(body: usize, out: &mut [u8]) {
    let n = backlen_size(body);
    for (i, b) in out[..n].iter_mut().enumerate() {
        let group = n - 1 - i;
        let more = if group < n - 1 { 0x80 } else { 0 };
        *b = ((body >> (7 * group)) & 0x7F) as u8 | more;
    }
}

/// Reads the backlen ending just before `end`: (body length, backlen bytes).
fn read_backlen(buf: &[u8], end: usize) -> (usize, usize) {
    let mut val = 0usize;
    let mut i = end;
    let mut shift = 0;
    loop {
        i -= 1;
        let b = buf[i];
        val |= ((b & 0x7F) as usize) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return (val, end - i);
        }
    }
}

/// Decodes the entry starting at `p`: (value, header + data length).
#[inline]
fn decode(buf: &[u8], p: usize) -> (LpValue<'_>, usize) {
    let h = buf[p];
    if h < 0x80 {
        (LpValue::Int(h as i64), 1)
    } else if h < 0xC0 {
        let l = (h & 0x3F) as usize;
        (LpValue::Str(&buf[p + 1..p + 1 + l]), 1 + l)
    } else if h < 0xE0 {
        let u = (((h & 0x1F) as i64) << 8) | buf[p + 1] as i64;
        let v = if u & 0x1000 != 0 { u - 0x2000 } else { u };
        (LpValue::Int(v), 2)
    } else if h < 0xF0 {
        let l = (((h & 0x0F) as usize) << 8) | buf[p + 1] as usize;
        (LpValue::Str(&buf[p + 2..p + 2 + l]), 2 + l)
    } else {
        let sign_ext = |bytes: &[u8]| -> i64 {
            let mut le = [0u8; 8];
            le[..bytes.len()].copy_from_slice(bytes);
            let shift = 64 - 8 * bytes.len() as u32;
            (i64::from_le_bytes(le) << shift) >> shift
        };
        match h {
            ENC_STR32 => {
                let l = u32::from_le_bytes(buf[p + 1..p + 5].try_into().unwrap()) as usize;
                (LpValue::Str(&buf[p + 5..p + 5 + l]), 5 + l)
            }
            ENC_I16 => (LpValue::Int(sign_ext(&buf[p + 1..p + 3])), 3),
            ENC_I24 => (LpValue::Int(sign_ext(&buf[p + 1..p + 4])), 4),
            ENC_I32 => (LpValue::Int(sign_ext(&buf[p + 1..p + 5])), 5),
            ENC_I64 => (LpValue::Int(sign_ext(&buf[p + 1..p + 9])), 9),
            _ => unreachable!("corrupt listpack header {h:#x}"),
        }
    }
}

/// Header + data length of the entry at `p`, without building its value.
#[inline]
fn body_len_at(buf: &[u8], p: usize) -> usize {
    let h = buf[p];
    if h < 0x80 {
        1
    } else if h < 0xC0 {
        1 + (h & 0x3F) as usize
    } else if h < 0xE0 {
        2
    } else if h < 0xF0 {
        2 + ((((h & 0x0F) as usize) << 8) | buf[p + 1] as usize)
    } else {
        match h {
            ENC_STR32 => 5 + u32::from_le_bytes(buf[p + 1..p + 5].try_into().unwrap()) as usize,
            ENC_I16 => 3,
            ENC_I24 => 4,
            ENC_I32 => 5,
            _ => 9,
        }
    }
}

#[inline]
fn entry_len_at(buf: &[u8], p: usize) -> usize {
    let b = body_len_at(buf, p);
    b + backlen_size(b)
}

/// `Some(i)` when `v` is exactly `i.to_string()` (no sign on zero, no leading zeros, no '+').
pub fn parse_canonical_i64(v: &[u8]) -> Option<i64> {
    if v.is_empty() || v.len() > 20 {
        return None;
    }
    let (neg, digits) = if v[0] == b'-' {
        (true, &v[1..])
    } else {
        (false, v)
    };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
        return None;
    }
    let mut acc: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        acc = acc.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    if neg {
        if acc > i64::MAX as u64 + 1 {
            None
        } else {
            Some((acc as i64).wrapping_neg())
        }
    } else {
        i64::try_from(acc).ok()
    }
}

/// Decimal digits of `i` into `buf`, returning the used tail.
pub fn format_i64(i: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = i.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// A value to compare many entries against, its kind decided once: an integer probe only
/// matches integer entries, a string probe only string entries (a pushed canonical integer
/// is always stored as an integer).
#[derive(Clone, Copy, Debug)]
pub struct LpProbe<'a> {
    bytes: &'a [u8],
    int: Option<i64>,
}

impl<'a> LpProbe<'a> {
    pub fn new(bytes: &'a [u8]) -> LpProbe<'a> {
        LpProbe {
            bytes,
            int: parse_canonical_i64(bytes),
        }
    }

    #[inline]
    pub fn matches(&self, v: LpValue<'_>) -> bool {
        match (self.int, v) {
            (Some(a), LpValue::Int(b)) => a == b,
            (None, LpValue::Str(s)) => s == self.bytes,
            _ => false,
        }
    }
}

impl LpValue<'_> {
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        self.write_to(&mut v);
        v
    }

    /// Appends the bytes, or the decimal form of an integer.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match *self {
            LpValue::Str(s) => out.extend_from_slice(s),
            LpValue::Int(i) => out.extend_from_slice(format_i64(i, &mut [0u8; 20])),
        }
    }

    pub fn eq_bytes(&self, b: &[u8]) -> bool {
        match *self {
            LpValue::Str(s) => s == b,
            LpValue::Int(i) => format_i64(i, &mut [0u8; 20]) == b,
        }
    }

    /// The integer, or a string that parses as one (canonical form only, as Redis's
    /// string2ll: no spaces, no '+', no leading zeros).
    pub fn as_int(&self) -> Option<i64> {
        match *self {
            LpValue::Int(i) => Some(i),
            LpValue::Str(s) => parse_canonical_i64(s),
        }
    }

    /// Length of the string form.
    pub fn len(&self) -> usize {
        match *self {
            LpValue::Str(s) => s.len(),
            LpValue::Int(i) => format_i64(i, &mut [0u8; 20]).len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, LpValue::Str(s) if s.is_empty())
    }

    /// The bytes into `scratch` if an integer (no allocation), else borrowed.
    pub fn as_bytes<'b>(&'b self, scratch: &'b mut [u8; 20]) -> &'b [u8] {
        match self {
            LpValue::Str(s) => s,
            LpValue::Int(i) => format_i64(*i, scratch),
        }
    }
}

impl Listpack {
    pub fn new() -> Listpack {
        Listpack {
            buf: Vec::new(),
            count: 0,
        }
    }

    /// An empty listpack with room for `bytes` of entries (a list node about to be filled).
    pub fn with_capacity(bytes: usize) -> Listpack {
        Listpack {
            buf: Vec::with_capacity(bytes),
            count: 0,
        }
    }

    /// Entries, O(1).
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes allocated on the heap (not counting the struct itself), O(1).
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Bytes in use, what node-size limits compare against, O(1).
    pub fn data_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Bytes an entry holding `v` would take (to check a size limit before inserting).
    pub fn entry_size(v: &[u8]) -> usize {
        Enc::of(v).total_len()
    }

    /// Gives back spare capacity. A fresh exact allocation and a copy, not a realloc: an
    /// allocator may keep a shrunk block in place at its old size (mimalloc does down to half),
    /// which would save nothing.
    pub fn shrink_to_fit(&mut self) {
        if self.buf.capacity() > self.buf.len() {
            let mut exact = Vec::with_capacity(self.buf.len());
            exact.extend_from_slice(&self.buf);
            self.buf = exact;
        }
    }

    /// Grows capacity by at least `extra` bytes, in steps of 1/8 rather than doubling: a small
    /// collection or a filled list node then wastes at most an eighth, and the allocator's
    /// in-place realloc keeps most steps copy-free.
    fn reserve(&mut self, extra: usize) {
        let need = self.buf.len() + extra;
        if need > self.buf.capacity() {
            let grown = self.buf.capacity() + self.buf.capacity() / 8;
            let target = (need.max(grown) + 7) & !7;
            self.buf.reserve_exact(target - self.buf.len());
        }
    }

    fn insert_enc(&mut self, at: usize, e: Enc<'_>) {
        let n = e.total_len();
        assert!(
            self.buf.len() + n <= u32::MAX as usize,
            "listpack larger than 4 GiB"
        );
        self.reserve(n);
        let old = self.buf.len();
        self.buf.resize(old + n, 0);
        self.buf.copy_within(at..old, at + n);
        e.write(&mut self.buf[at..at + n]);
        self.count += 1;
    }

    pub fn push_back(&mut self, v: &[u8]) {
        self.insert_enc(self.buf.len(), Enc::of(v));
    }

    pub fn push_front(&mut self, v: &[u8]) {
        self.insert_enc(0, Enc::of(v));
    }

    pub fn push_int_back(&mut self, v: i64) {
        self.insert_enc(self.buf.len(), Enc::Int(v));
    }

    pub fn push_int_front(&mut self, v: i64) {
        self.insert_enc(0, Enc::Int(v));
    }

    /// Appends an entry of another listpack without re-parsing its text.
    pub fn push_value_back(&mut self, v: LpValue<'_>) {
        let e = match v {
            LpValue::Str(s) => Enc::Str(s),
            LpValue::Int(i) => Enc::Int(i),
        };
        self.insert_enc(self.buf.len(), e);
    }

    pub fn first(&self) -> Option<LpPos> {
        (self.count > 0).then_some(LpPos(0))
    }

    pub fn last(&self) -> Option<LpPos> {
        if self.count == 0 {
            return None;
        }
        let end = self.buf.len();
        let (body, bl) = read_backlen(&self.buf, end);
        Some(LpPos((end - bl - body) as u32))
    }

    pub fn next(&self, p: LpPos) -> Option<LpPos> {
        let q = p.0 as usize + entry_len_at(&self.buf, p.0 as usize);
        (q < self.buf.len()).then_some(LpPos(q as u32))
    }

    pub fn prev(&self, p: LpPos) -> Option<LpPos> {
        let end = p.0 as usize;
        if end == 0 {
            return None;
        }
        let (body, bl) = read_backlen(&self.buf, end);
        Some(LpPos((end - bl - body) as u32))
    }

    /// The entry at `index`; negative counts from the end (-1 is the last). Walks from the
    /// nearer end.
    pub fn seek(&self, index: i64) -> Option<LpPos> {
        let n = self.count as i64;
        let i = if index < 0 { n + index } else { index };
        if i < 0 || i >= n {
            return None;
        }
        if i <= n / 2 {
            let mut p = LpPos(0);
            for _ in 0..i {
                p = LpPos(p.0 + entry_len_at(&self.buf, p.0 as usize) as u32);
            }
            Some(p)
        } else {
            let mut p = self.last()?;
            for _ in 0..(n - 1 - i) {
                p = self.prev(p)?;
            }
            Some(p)
        }
    }

    pub fn get(&self, p: LpPos) -> LpValue<'_> {
        decode(&self.buf, p.0 as usize).0
    }

    /// Bytes the entry at `p` occupies.
    pub fn entry_len(&self, p: LpPos) -> usize {
        entry_len_at(&self.buf, p.0 as usize)
    }

    pub fn insert_before(&mut self, p: LpPos, v: &[u8]) {
        self.insert_enc(p.0 as usize, Enc::of(v));
    }

    pub fn insert_after(&mut self, p: LpPos, v: &[u8]) {
        let at = p.0 as usize + entry_len_at(&self.buf, p.0 as usize);
        self.insert_enc(at, Enc::of(v));
    }

    /// Replaces the entry at `p` (which keeps its position).
    pub fn replace(&mut self, p: LpPos, v: &[u8]) {
        let at = p.0 as usize;
        let old = entry_len_at(&self.buf, at);
        let e = Enc::of(v);
        let n = e.total_len();
        if n > old {
            self.reserve(n - old);
        }
        let tail = at + old;
        let len = self.buf.len();
        if n > old {
            self.buf.resize(len + n - old, 0);
            self.buf.copy_within(tail..len, at + n);
        } else if n < old {
            self.buf.copy_within(tail..len, at + n);
            self.buf.truncate(len - (old - n));
        }
        e.write(&mut self.buf[at..at + n]);
    }

    /// Deletes the entry at `p`; returns the position of the entry that followed it.
    pub fn delete(&mut self, p: LpPos) -> Option<LpPos> {
        let at = p.0 as usize;
        let n = entry_len_at(&self.buf, at);
        self.buf.drain(at..at + n);
        self.count -= 1;
        (at < self.buf.len()).then_some(p)
    }

    /// Deletes `count` entries starting at `index` (clamped to the end).
    pub fn delete_range(&mut self, index: usize, count: usize) {
        if count == 0 || index >= self.len() {
            return;
        }
        let count = count.min(self.len() - index);
        if index == 0 && count == self.len() {
            self.buf.clear();
            self.count = 0;
            return;
        }
        let start = self.seek(index as i64).expect("index checked").0 as usize;
        let mut end = start;
        for _ in 0..count {
            end += entry_len_at(&self.buf, end);
        }
        self.buf.drain(start..end);
        self.count -= count as u32;
    }

    /// Splits off the entries from `index` on into a new listpack (for node splits).
    pub fn split_off(&mut self, index: usize) -> Listpack {
        if index >= self.len() {
            return Listpack::new();
        }
        let at = self.seek(index as i64).expect("index checked").0 as usize;
        let tail = self.buf[at..].to_vec();
        self.buf.truncate(at);
        let moved = self.count - index as u32;
        self.count = index as u32;
        Listpack {
            buf: tail,
            count: moved,
        }
    }

    /// Appends all entries of `other` (for node merges).
    pub fn append(&mut self, other: &Listpack) {
        self.reserve(other.buf.len());
        self.buf.extend_from_slice(&other.buf);
        self.count += other.count;
    }

    /// First entry at or after `from` equal to `v`, looking only at every (skip+1)-th entry
    /// (skip = 1 compares only fields of field/value pairs).
    pub fn find(&self, from: LpPos, v: &[u8], skip: usize) -> Option<LpPos> {
        let want = Enc::of(v);
        let buf = &self.buf[..];
        let mut p = from.0 as usize;
        let mut left_to_skip = 0;
        while p < buf.len() {
            let body = body_len_at(buf, p);
            if left_to_skip == 0 {
                let hit = match (want, decode(buf, p).0) {
                    (Enc::Int(a), LpValue::Int(b)) => a == b,
                    (Enc::Str(a), LpValue::Str(b)) => a == b,
                    _ => false,
                };
                if hit {
                    return Some(LpPos(p as u32));
                }
                left_to_skip = skip;
            } else {
                left_to_skip -= 1;
            }
            p += body + backlen_size(body);
        }
        None
    }

    pub fn iter(&self) -> LpIter<'_> {
        LpIter {
            buf: &self.buf,
            front: 0,
            back: self.buf.len(),
            left: self.count as usize,
        }
    }

    /// Iterates from entry `index` (negative counts from the end) to the end.
    pub fn iter_at(&self, index: i64) -> LpIter<'_> {
        match self.seek(index) {
            None => LpIter {
                buf: &self.buf,
                front: 0,
                back: 0,
                left: 0,
            },
            Some(p) => {
                let i = if index < 0 {
                    self.len() as i64 + index
                } else {
                    index
                };
                LpIter {
                    buf: &self.buf,
                    front: p.0 as usize,
                    back: self.buf.len(),
                    left: self.len() - i as usize,
                }
            }
        }
    }

    /// Iterates from entry `p` (inclusive) to the end.
    pub fn iter_from(&self, p: LpPos) -> LpIter<'_> {
        // The remaining count is unknown without walking; `left` only bounds size_hint, so
        // count it once here.
        let mut left = 0;
        let mut q = p.0 as usize;
        while q < self.buf.len() {
            q += entry_len_at(&self.buf, q);
            left += 1;
        }
        LpIter {
            buf: &self.buf,
            front: p.0 as usize,
            back: self.buf.len(),
            left,
        }
    }

    /// The raw encoded bytes (for compression / serialization).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Rebuilds a listpack from `as_bytes()` output and its entry count.
    ///
    /// The bytes must come from `as_bytes()` of a listpack with `count` entries; anything else
    /// is a logic error (checked in debug builds).
    pub fn from_raw(buf: Vec<u8>, count: usize) -> Listpack {
        let lp = Listpack {
            buf,
            count: count as u32,
        };
        debug_assert_eq!(lp.iter().count(), count);
        lp
    }

    /// The bytes and the entry count: the inverse of [`Listpack::from_raw`], for owners that
    /// keep the buffer in a thinner form between writes.
    pub fn into_raw(self) -> (Vec<u8>, usize) {
        (self.buf, self.count as usize)
    }
}

impl fmt::Debug for Listpack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over a listpack's values, both directions.
#[derive(Clone)]
pub struct LpIter<'a> {
    buf: &'a [u8],
    front: usize,
    back: usize,
    left: usize,
}

impl<'a> Iterator for LpIter<'a> {
    type Item = LpValue<'a>;

    fn next(&mut self) -> Option<LpValue<'a>> {
        if self.front >= self.back {
            return None;
        }
        let (v, body) = decode(self.buf, self.front);
        self.front += body + backlen_size(body);
        self.left = self.left.saturating_sub(1);
        Some(v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for LpIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        let (body, bl) = read_backlen(self.buf, self.back);
        self.back -= body + bl;
        self.left = self.left.saturating_sub(1);
        Some(decode(self.buf, self.back).0)
    }
}

impl ExactSizeIterator for LpIter<'_> {}

#[cfg(test)]
#[path = "listpack_tests.rs"]
mod tests;
