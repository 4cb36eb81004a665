//! A stream node: up to `stream-node-max-entries` entries packed in one byte buffer, the unit
//! the stream's ordered index holds (Redis keeps one listpack per radix-tree node).
//!
//! Buffer layout: the node's master fields (the first entry's field names: `count varint |
//! (len varint, bytes)*`), then the entries, each
//! `head varint | seq varint | [pairs varint, fields] | values`, every string as
//! `len varint, bytes`. `head` is `ms-delta << 2 | flags`, the delta relative to the node's key
//! (its first id); an entry whose fields are the master fields ([`SAME_FIELDS`]) stores only
//! its values, as Redis's listpack does, so a stream of same-shaped entries pays for its field
//! names once per node. A deleted entry keeps its bytes and only sets [`DELETED`] (bit 0 of
//! the first byte): deleting is O(1) past the scan, and the node is dropped once none of its
//! entries is live, as Redis does.

use crate::stream::StreamId;

/// The entry was deleted (XDEL, exact XTRIM).
const DELETED: u64 = 1;
/// The entry's fields are the node's master fields; only its values are stored.
const SAME_FIELDS: u64 = 2;
const FLAG_BITS: u32 = 2;
/// A delta this large or larger is written whole in a second varint (the shift would
/// overflow).
const BIG_DELTA: u64 = (1 << (64 - FLAG_BITS)) - 1;

#[derive(Clone, Debug, Default)]
pub struct Node {
    buf: Vec<u8>,
    /// Where the entries start (after the master fields).
    entries_at: u32,
    /// Number of master fields.
    master: u32,
    /// Entries in `buf`, deleted ones included.
    total: u32,
    /// Entries not deleted.
    live: u32,
    /// Where the last entry starts.
    last_at: u32,
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

/// Reads one length-prefixed string at `pos`.
fn get_str<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let len = get_varint(buf, pos) as usize;
    let s = &buf[*pos..*pos + len];
    *pos += len;
    s
}

fn str_len(s: &[u8]) -> usize {
    varint_len(s.len() as u64) + s.len()
}

/// Bytes of an entry's head (ms delta and flags).
fn head_len(delta: u64) -> usize {
    if delta >= BIG_DELTA {
        varint_len(BIG_DELTA << FLAG_BITS) + varint_len(delta)
    } else {
        varint_len(delta << FLAG_BITS)
    }
}

/// One entry of a node, borrowed from its buffer.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub id: StreamId,
    pairs: usize,
    /// The master fields' strings when the entry has them ([`SAME_FIELDS`]), else empty.
    fields: &'a [u8],
    /// Values only (with master fields), or fields and values alternating.
    body: &'a [u8],
}

impl<'a> Entry<'a> {
    /// Number of field/value pairs.
    pub fn pair_count(&self) -> usize {
        self.pairs
    }

    /// Fields and values alternating.
    pub fn strings(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let (fields, body) = (self.fields, self.body);
        let shared = !fields.is_empty();
        let (mut fpos, mut pos) = (0, 0);
        let mut left = self.pairs * 2;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            // With master fields, even positions (counting down from an even total) are
            // field names read from the node's header.
            if shared && left % 2 == 1 {
                Some(get_str(fields, &mut fpos))
            } else {
                Some(get_str(body, &mut pos))
            }
        })
    }

    /// (field, value) pairs.
    pub fn pairs(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let mut it = self.strings();
        std::iter::from_fn(move || Some((it.next()?, it.next()?)))
    }
}

impl Node {
    /// A node whose first entry (and key) is `id`: its fields become the master fields.
    pub fn new(id: StreamId, strings: &[&[u8]]) -> Node {
        let mut buf = Vec::with_capacity(Node::new_len(strings));
        let master = strings.len() / 2;
        put_varint(&mut buf, master as u64);
        for f in strings.iter().step_by(2) {
            put_varint(&mut buf, f.len() as u64);
            buf.extend_from_slice(f);
        }
        let mut node = Node {
            entries_at: buf.len() as u32,
            buf,
            master: master as u32,
            ..Node::default()
        };
        node.push(id, id, strings);
        node
    }

    /// Bytes of a new node holding only an entry of these strings.
    pub fn new_len(strings: &[&[u8]]) -> usize {
        let master = strings.len() / 2;
        varint_len(master as u64)
            + strings.iter().step_by(2).map(|f| str_len(f)).sum::<usize>()
            + head_len(0)
            + 1
            + strings
                .iter()
                .skip(1)
                .step_by(2)
                .map(|v| str_len(v))
                .sum::<usize>()
    }

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

    /// The id of the node's last live entry: O(1) when the last entry is live (what XREAD and
    /// XREADGROUP ask on every call).
    pub fn last_live(&self, base: StreamId) -> Option<StreamId> {
        if self.live == 0 {
            return None;
        }
        if u64::from(self.buf[self.last_at as usize]) & DELETED == 0 {
            return Some(self.last);
        }
        self.entries(base).last().map(|(_, e)| e.id)
    }

    /// Gives the buffer's spare capacity back, once no entry will join the node: the bytes
    /// move to an allocation of their size (shrinking in place would keep the allocator's
    /// larger block).
    pub fn seal(&mut self) {
        if self.buf.capacity() > self.buf.len() {
            self.buf = self.buf.as_slice().to_vec();
        }
    }

    /// Whether `strings` has the node's master fields.
    fn same_fields(&self, strings: &[&[u8]]) -> bool {
        if strings.len() / 2 != self.master as usize {
            return false;
        }
        let mut pos = varint_len(u64::from(self.master));
        strings
            .iter()
            .step_by(2)
            .all(|f| get_str(&self.buf, &mut pos) == *f)
    }

    /// Bytes an entry of these strings takes in this node, whose key is `base`.
    pub fn entry_len(&self, base: StreamId, id: StreamId, strings: &[&[u8]]) -> usize {
        let fixed = head_len(id.ms - base.ms) + varint_len(id.seq);
        if self.same_fields(strings) {
            fixed
                + strings
                    .iter()
                    .skip(1)
                    .step_by(2)
                    .map(|v| str_len(v))
                    .sum::<usize>()
        } else {
            fixed
                + varint_len((strings.len() / 2) as u64)
                + strings.iter().map(|s| str_len(s)).sum::<usize>()
        }
    }

    /// Appends an entry; `id` is above every id in the node and `base` is the node's key.
    pub fn push(&mut self, base: StreamId, id: StreamId, strings: &[&[u8]]) {
        let same = self.same_fields(strings);
        let flags = if same { SAME_FIELDS } else { 0 };
        let delta = id.ms - base.ms;
        self.last_at = self.buf.len() as u32;
        if delta >= BIG_DELTA {
            put_varint(&mut self.buf, (BIG_DELTA << FLAG_BITS) | flags);
            put_varint(&mut self.buf, delta);
        } else {
            put_varint(&mut self.buf, (delta << FLAG_BITS) | flags);
        }
        put_varint(&mut self.buf, id.seq);
        if same {
            for v in strings.iter().skip(1).step_by(2) {
                put_varint(&mut self.buf, v.len() as u64);
                self.buf.extend_from_slice(v);
            }
        } else {
            put_varint(&mut self.buf, (strings.len() / 2) as u64);
            for s in strings {
                put_varint(&mut self.buf, s.len() as u64);
                self.buf.extend_from_slice(s);
            }
        }
        self.total += 1;
        self.live += 1;
        self.last = id;
    }

    /// Decodes the entry at `pos`: (entry, deleted, next position).
    fn decode(&self, base: StreamId, mut pos: usize) -> (Entry<'_>, bool, usize) {
        let buf = &self.buf[..];
        let head = get_varint(buf, &mut pos);
        let mut delta = head >> FLAG_BITS;
        if delta == BIG_DELTA {
            delta = get_varint(buf, &mut pos);
        }
        let ms = base.ms + delta;
        let seq = get_varint(buf, &mut pos);
        let (pairs, fields, strings) = if head & SAME_FIELDS != 0 {
            let at = varint_len(u64::from(self.master));
            let fields = &buf[at..self.entries_at as usize];
            (self.master as usize, fields, self.master as usize)
        } else {
            let pairs = get_varint(buf, &mut pos) as usize;
            (pairs, &buf[..0], pairs * 2)
        };
        let start = pos;
        for _ in 0..strings {
            let len = get_varint(buf, &mut pos) as usize;
            pos += len;
        }
        let e = Entry {
            id: StreamId { ms, seq },
            pairs,
            fields,
            body: &buf[start..pos],
        };
        (e, head & DELETED != 0, pos)
    }

    /// Every live entry in id order, with its byte position.
    pub fn entries(&self, base: StreamId) -> impl Iterator<Item = (usize, Entry<'_>)> + '_ {
        let mut pos = self.entries_at as usize;
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
        // The flags are the low bits of the head varint, all in its first byte.
        debug_assert_eq!(u64::from(self.buf[at]) & DELETED, 0);
        self.buf[at] |= DELETED as u8;
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
        let mut n = Node::new(base, &[b"a", b"1"]);
        assert_eq!(n.bytes(), Node::new_len(&[b"a", b"1"]));
        let id2 = StreamId { ms: 300, seq: 7 };
        let other: [&[u8]; 4] = [b"f", b"", b"g", &[0u8; 200]];
        let want = n.bytes() + n.entry_len(base, id2, &other);
        n.push(base, id2, &other);
        assert_eq!(n.bytes(), want);
        // Same fields as the first entry: only the value is stored.
        let id3 = StreamId { ms: 300, seq: 8 };
        let same: [&[u8]; 2] = [b"a", b"xyz"];
        // Head (delta 290 and flags: two bytes), seq, value.
        assert_eq!(n.entry_len(base, id3, &same), 2 + 1 + 4);
        n.push(base, id3, &same);
        // A delta too big to shift keeps its flags.
        let id4 = StreamId {
            ms: u64::MAX,
            seq: u64::MAX,
        };
        let want = n.bytes() + n.entry_len(base, id4, &same);
        n.push(base, id4, &same);
        assert_eq!(n.bytes(), want);
        let all: Vec<_> = n.entries(base).map(|(_, e)| e.id).collect();
        assert_eq!(all, vec![base, id2, id3, id4]);
        assert_eq!(n.last_live(base), Some(id4));
        let e = n.entries(base).nth(1).unwrap().1;
        let pairs: Vec<_> = e.pairs().collect();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0], (&b"f"[..], &b""[..]));
        assert_eq!(pairs[1].1.len(), 200);
        for at in [2, 3] {
            let e = n.entries(base).nth(at).unwrap().1;
            assert_eq!(e.pair_count(), 1);
            let got: Vec<_> = e.strings().collect();
            assert_eq!(got, vec![&b"a"[..], &b"xyz"[..]]);
        }
        assert!(n.delete(base, base));
        assert!(!n.delete(base, base));
        assert!(n.delete(base, id4));
        assert_eq!(n.live(), 2);
        assert_eq!(n.entries(base).count(), 2);
        assert_eq!(n.last_id(), id4);
        assert_eq!(n.last_live(base), Some(id3));
        n.seal();
        assert_eq!(n.heap_bytes(), n.bytes());
        assert_eq!(
            n.entries(base).map(|(_, e)| e.id).collect::<Vec<_>>(),
            vec![id2, id3]
        );
    }
}
