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

#[path = "listpack_enc.rs"]
mod enc;
use enc::{backlen_size, body_len_at, decode, entry_len_at, read_backlen, Enc};
pub use enc::{format_i64, parse_canonical_i64};

/// A packed sequence of string / integer entries in one allocation.
#[derive(Default)]
pub struct Listpack {
    /// `buf[..start]` is a gap left by deletions at the head (so popping the first entry
    /// moves no bytes); entries are `buf[start..]`. Positions are offsets into `buf`.
    buf: Vec<u8>,
    count: u32,
    start: u32,
}

impl Clone for Listpack {
    /// An exact copy of the entries, without the gap.
    fn clone(&self) -> Listpack {
        Listpack {
            buf: self.as_bytes().to_vec(),
            count: self.count,
            start: 0,
        }
    }
}

impl PartialEq for Listpack {
    fn eq(&self, other: &Listpack) -> bool {
        self.count == other.count && self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Listpack {}

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
            start: 0,
        }
    }

    /// An empty listpack with room for `bytes` of entries (a list node about to be filled).
    pub fn with_capacity(bytes: usize) -> Listpack {
        Listpack {
            buf: Vec::with_capacity(bytes),
            count: 0,
            start: 0,
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
        self.buf.len() - self.start as usize
    }

    fn head(&self) -> usize {
        self.start as usize
    }

    /// Drops the head gap (moving the entries down); returns by how much positions moved.
    fn close_gap(&mut self) -> usize {
        let gap = self.head();
        if gap > 0 {
            self.buf.drain(..gap);
            self.start = 0;
        }
        gap
    }

    /// Bytes an entry holding `v` would take (to check a size limit before inserting).
    pub fn entry_size(v: &[u8]) -> usize {
        Enc::of(v).total_len()
    }

    /// Gives back spare capacity. A fresh exact allocation and a copy, not a realloc: an
    /// allocator may keep a shrunk block in place at its old size (mimalloc does down to half),
    /// which would save nothing.
    pub fn shrink_to_fit(&mut self) {
        if self.buf.capacity() > self.data_bytes() {
            let mut exact = Vec::with_capacity(self.data_bytes());
            exact.extend_from_slice(self.as_bytes());
            self.buf = exact;
            self.start = 0;
        }
    }

    /// Makes room for `extra` more bytes at the end, using up the head gap before growing;
    /// returns by how much existing positions moved down.
    fn make_room(&mut self, extra: usize) -> usize {
        if self.buf.len() + extra <= self.buf.capacity() {
            return 0;
        }
        let shift = self.close_gap();
        self.reserve(extra);
        shift
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

    /// Inserts at `at`. `end_write` (pushes at either end) may use the head gap, or close it
    /// to make room; a middle insert leaves it alone, so that after `insert_before(p, ..)` the
    /// new entry is at `p` (callers that insert a pair rely on it).
    fn insert_enc(&mut self, at: usize, e: Enc<'_>, end_write: bool) {
        let n = e.total_len();
        assert!(
            self.data_bytes() + n <= u32::MAX as usize,
            "listpack larger than 4 GiB"
        );
        if end_write && at == self.head() && n <= self.head() {
            // Into the head gap: nothing moves.
            let from = at - n;
            e.write(&mut self.buf[from..at]);
            self.start = from as u32;
            self.count += 1;
            return;
        }
        let front = end_write && at == self.head();
        let at = if end_write {
            at - self.make_room(n)
        } else {
            self.reserve(n);
            at
        };
        // A head push that has to move the entries anyway moves them a little further: half
        // the spare capacity (already allocated, so the memory counted does not change) becomes
        // a head gap, and the next head pushes write into it without moving anything. The
        // other half stays at the tail for pushes there.
        let gap = if front {
            (self.buf.capacity() - self.buf.len() - n) / 2
        } else {
            0
        };
        let old = self.buf.len();
        self.buf.resize(old + n + gap, 0);
        self.buf.copy_within(at..old, at + n + gap);
        e.write(&mut self.buf[at + gap..at + gap + n]);
        if front {
            self.start = (at + gap) as u32;
        }
        self.count += 1;
    }

    pub fn push_back(&mut self, v: &[u8]) {
        self.insert_enc(self.buf.len(), Enc::of(v), true);
    }

    pub fn push_front(&mut self, v: &[u8]) {
        self.insert_enc(self.head(), Enc::of(v), true);
    }

    pub fn push_int_back(&mut self, v: i64) {
        self.insert_enc(self.buf.len(), Enc::Int(v), true);
    }

    pub fn push_int_front(&mut self, v: i64) {
        self.insert_enc(self.head(), Enc::Int(v), true);
    }

    /// Appends an entry of another listpack without re-parsing its text.
    pub fn push_value_back(&mut self, v: LpValue<'_>) {
        let e = match v {
            LpValue::Str(s) => Enc::Str(s),
            LpValue::Int(i) => Enc::Int(i),
        };
        self.insert_enc(self.buf.len(), e, true);
    }

    pub fn first(&self) -> Option<LpPos> {
        (self.count > 0).then_some(LpPos(self.start))
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
        if end <= self.head() {
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
            let mut p = LpPos(self.start);
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
        self.insert_enc(p.0 as usize, Enc::of(v), false);
    }

    pub fn insert_after(&mut self, p: LpPos, v: &[u8]) {
        let at = p.0 as usize + entry_len_at(&self.buf, p.0 as usize);
        self.insert_enc(at, Enc::of(v), false);
    }

    /// Replaces the entry at `p` (which keeps its position).
    pub fn replace(&mut self, p: LpPos, v: &[u8]) {
        let at = p.0 as usize;
        let old = entry_len_at(&self.buf, at);
        let e = Enc::of(v);
        let n = e.total_len();
        if n > old {
            // Not make_room: `p` must keep its position, so the gap stays.
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
        self.count -= 1;
        if self.count == 0 {
            self.buf.clear();
            self.start = 0;
            return None;
        }
        if at == self.head() {
            // The head entry becomes gap: nothing moves (a queue's pops stay O(1)).
            self.start += n as u32;
            return Some(LpPos(self.start));
        }
        self.buf.drain(at..at + n);
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
            self.start = 0;
            return;
        }
        let start = self.seek(index as i64).expect("index checked").0 as usize;
        let mut end = start;
        for _ in 0..count {
            end += entry_len_at(&self.buf, end);
        }
        if start == self.head() {
            self.start = end as u32;
        } else {
            self.buf.drain(start..end);
        }
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
        if self.count == 0 {
            self.buf.clear();
            self.start = 0;
        }
        Listpack {
            buf: tail,
            count: moved,
            start: 0,
        }
    }

    /// Appends all entries of `other` (for node merges).
    pub fn append(&mut self, other: &Listpack) {
        self.make_room(other.data_bytes());
        self.buf.extend_from_slice(other.as_bytes());
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
            front: self.head(),
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
        &self.buf[self.head()..]
    }

    /// Rebuilds a listpack from `as_bytes()` output and its entry count.
    ///
    /// The bytes must come from `as_bytes()` of a listpack with `count` entries; anything else
    /// is a logic error (checked in debug builds).
    pub fn from_raw(buf: Vec<u8>, count: usize) -> Listpack {
        let lp = Listpack {
            buf,
            count: count as u32,
            start: 0,
        };
        debug_assert_eq!(lp.iter().count(), count);
        lp
    }

    /// The bytes and the entry count: the inverse of [`Listpack::from_raw`], for owners that
    /// keep the buffer in a thinner form between writes.
    pub fn into_raw(mut self) -> (Vec<u8>, usize) {
        self.close_gap();
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
