//! A stream node: up to `stream-node-max-entries` entries packed in one byte buffer, the unit
//! the stream's ordered index holds (Redis keeps one listpack per radix-tree node).
//!
//! Entry layout: `flags:u8 | ms-delta varint | seq varint | pairs varint | (len varint, bytes)*`
//! with `ms-delta` relative to the node's key (its first id). A deleted entry keeps its bytes
//! and only sets [`DELETED`]: deleting is O(1) past the scan, and the node is dropped once none
//! of its entries is live, as Redis does.

use crate::stream::StreamId;

/// The entry was deleted (XDEL, exact XTRIM).
const DELETED: u8 = 1;

#[derive(Clone, Debug, Default)]
pub struct Node {
    buf: Vec<u8>,
    /// Entries in `buf`, deleted ones included.
    total: u32,
    /// Entries not deleted.
    live: u32,
    /// The id of the last entry in `buf` (deleted or not).
    last: StreamId,
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn get_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// One entry of a node, borrowed from its buffer.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub id: StreamId,
    pairs: usize,
    /// The field/value strings, length-prefixed.
    body: &'a [u8],
}

impl<'a> Entry<'a> {
    /// Number of field/value pairs.
    pub fn pair_count(&self) -> usize {
        self.pairs
    }

    /// Fields and values alternating.
    pub fn strings(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let body = self.body;
        let mut pos = 0;
        let mut left = self.pairs * 2;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let len = get_varint(body, &mut pos) as usize;
            let s = &body[pos..pos + len];
            pos += len;
            Some(s)
        })
    }

    /// (field, value) pairs.
    pub fn pairs(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let mut it = self.strings();
        std::iter::from_fn(move || Some((it.next()?, it.next()?)))
    }
}

/// Bytes an entry of these strings takes in a node whose key is `base`.
pub fn entry_len(base: StreamId, id: StreamId, strings: &[&[u8]]) -> usize {
    1 + varint_len(id.ms - base.ms)
        + varint_len(id.seq)
        + varint_len((strings.len() / 2) as u64)
        + strings
            .iter()
            .map(|s| varint_len(s.len() as u64) + s.len())
            .sum::<usize>()
}

impl Node {
    pub fn total(&self) -> usize {
        self.total as usize
    }

    pub fn live(&self) -> usize {
        self.live as usize
    }

    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// The id of the node's last entry, deleted or not.
    pub fn last_id(&self) -> StreamId {
        self.last
    }

    /// Appends an entry; `id` is above every id in the node and `base` is the node's key.
    pub fn push(&mut self, base: StreamId, id: StreamId, strings: &[&[u8]]) {
        self.buf.push(0);
        put_varint(&mut self.buf, id.ms - base.ms);
        put_varint(&mut self.buf, id.seq);
        put_varint(&mut self.buf, (strings.len() / 2) as u64);
        for s in strings {
            put_varint(&mut self.buf, s.len() as u64);
            self.buf.extend_from_slice(s);
        }
        self.total += 1;
        self.live += 1;
        self.last = id;
    }

    /// Decodes the entry at `pos`: (entry, deleted, next position).
    fn decode(&self, base: StreamId, mut pos: usize) -> (Entry<'_>, bool, usize) {
        let flags = self.buf[pos];
        pos += 1;
        let ms = base.ms + get_varint(&self.buf, &mut pos);
        let seq = get_varint(&self.buf, &mut pos);
        let pairs = get_varint(&self.buf, &mut pos) as usize;
        let start = pos;
        for _ in 0..pairs * 2 {
            let len = get_varint(&self.buf, &mut pos) as usize;
            pos += len;
        }
        let e = Entry {
            id: StreamId { ms, seq },
            pairs,
            body: &self.buf[start..pos],
        };
        (e, flags & DELETED != 0, pos)
    }

    /// Every live entry in id order, with its byte position.
    pub fn entries(&self, base: StreamId) -> impl Iterator<Item = (usize, Entry<'_>)> + '_ {
        let mut pos = 0;
        std::iter::from_fn(move || loop {
            if pos >= self.buf.len() {
                return None;
            }
            let at = pos;
            let (e, deleted, next) = self.decode(base, pos);
            pos = next;
            if !deleted {
                return Some((at, e));
            }
        })
    }

    /// Marks the live entry at byte position `at` deleted.
    pub fn delete_at(&mut self, at: usize) {
        debug_assert_eq!(self.buf[at] & DELETED, 0);
        self.buf[at] |= DELETED;
        self.live -= 1;
    }

    /// Deletes the live entry `id`; false if the node does not hold it.
    pub fn delete(&mut self, base: StreamId, id: StreamId) -> bool {
        let found = self
            .entries(base)
            .take_while(|(_, e)| e.id <= id)
            .find(|(_, e)| e.id == id)
            .map(|(at, _)| at);
        match found {
            Some(at) => {
                self.delete_at(at);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_iterate_delete() {
        let base = StreamId { ms: 10, seq: 0 };
        let mut n = Node::default();
        n.push(base, base, &[b"a", b"1"]);
        let id2 = StreamId { ms: 300, seq: 7 };
        n.push(base, id2, &[b"f", b"", b"g", &[0u8; 200]]);
        let all: Vec<_> = n.entries(base).map(|(_, e)| e.id).collect();
        assert_eq!(all, vec![base, id2]);
        let e = n.entries(base).nth(1).unwrap().1;
        let pairs: Vec<_> = e.pairs().collect();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0], (&b"f"[..], &b""[..]));
        assert_eq!(pairs[1].1.len(), 200);
        assert!(n.delete(base, base));
        assert!(!n.delete(base, base));
        assert_eq!(n.live(), 1);
        assert_eq!(n.entries(base).count(), 1);
        assert_eq!(n.last_id(), id2);
        assert_eq!(
            entry_len(base, id2, &[b"f", b"", b"g", &[0u8; 200]]),
            n.bytes() - entry_len(base, base, &[b"a", b"1"])
        );
    }
}
