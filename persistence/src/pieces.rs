//! Large values written in bounded pieces, so a snapshot of one huge list, set, hash, sorted
//! set or stream does not hold its shard for the whole value.
//!
//! RDB allows a value only as one record (a count, then every element), so the pieces are of
//! the output stream: [`LargeValue::start`] writes the entry's head (deadline, type, key,
//! element count, or a list's node count) and [`LargeValue::step`] appends up to a budget of elements per call,
//! resuming where the last call stopped. The bytes equal what [`crate::rdb_file::write_entry`]
//! writes for the same value, except that set and hash members come in cursor order. A list
//! is written node by node (each step writes whole nodes until the budget of elements is
//! reached); a stream likewise (its head is its count of nodes with live entries), then
//! its length, ids and consumer groups whole in the last step. The
//! caller must not change the value between calls. When a write is about to reach the value,
//! [`LargeValue::copy_rest`] copies the elements not written yet into a buffer the writer
//! owns (their bytes, no RDB encoding, no compression), and later steps write from the copy:
//! the write waits for a copy of the rest, not for its serialization. The copy costs about the
//! rest's element bytes plus 9 bytes per element, so at most about the value's own size, and
//! is freed as the value ends. Element counts are checked at the end.

use crate::encoding::{
    types, write_binary_double, write_int_string, write_len, write_string, write_string_with,
};
use crate::listpack::LpWriter;
use crate::lzf::Compressor;
use crate::rdb_file::opcodes;
use crate::stream::{write_stream_tail, StreamNode};
use crate::write::{
    is_plain_element, lp_push, write_list_listpack, write_list_node, write_list_plain,
};
use damselfly_shards::listpack::LpValue;
use damselfly_shards::set_value::SetMember;
use damselfly_shards::zset::ZSetValue;
use damselfly_shards::{CompactValue, HashValue, QuickList, SetValue, Stream, StreamId};

/// Values with more elements than this are written in pieces.
pub const LARGE_ELEMENTS: usize = 4096;

enum Kind {
    /// A hashtable set: SSCAN's cursor.
    Set { cursor: u64 },
    /// A hashtable hash: HSCAN's cursor.
    Hash { cursor: u64 },
    /// A skiplist sorted set, written highest first: elements written so far.
    ZSet,
    /// A list: the next node to write, of `nodes`.
    List { node: usize, nodes: usize },
    /// A stream: the key of the last node written (None before the first).
    Stream { after: Option<StreamId> },
    /// The rest, copied ([`LargeValue::copy_rest`]): elements read from `pos` on.
    Copied { copy: Copy, pos: usize },
}

/// What each copied element is made of.
#[derive(Clone, Copy)]
enum Shape {
    /// A set member.
    Member,
    /// A hash field and its value.
    Pair,
    /// A sorted set member and its score.
    Scored,
    /// A list node: its element count (u32 LE), then its elements.
    Node,
    /// A stream node: its master id (ms, seq: u64 LE each), its entry count (u32 LE), then
    /// each entry's id, pair count (u32 LE) and strings.
    StreamNode,
}

/// Elements copied out of a value: each string as a tag byte and its length (u32 LE) then
/// its bytes, each integer as a tag byte and 8 bytes, each score as 8 bytes.
struct Copy {
    shape: Shape,
    buf: Vec<u8>,
    /// Written after the elements: a stream's length, ids and groups, as RDB writes them.
    tail: Vec<u8>,
}

const TAG_INT: u8 = 0;
const TAG_STR: u8 = 1;

impl Copy {
    fn int(&mut self, v: i64) {
        self.buf.push(TAG_INT);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn str(&mut self, s: &[u8]) {
        self.buf.push(TAG_STR);
        self.buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(s);
    }

    fn lp(&mut self, v: LpValue<'_>) {
        match v {
            LpValue::Int(i) => self.int(i),
            LpValue::Str(s) => self.str(s),
        }
    }

    fn take8(&self, pos: &mut usize) -> [u8; 8] {
        let b: [u8; 8] = self.buf[*pos..*pos + 8].try_into().expect("8 bytes");
        *pos += 8;
        b
    }

    fn id(&mut self, id: StreamId) {
        self.buf.extend_from_slice(&id.ms.to_le_bytes());
        self.buf.extend_from_slice(&id.seq.to_le_bytes());
    }

    fn take_id(&self, pos: &mut usize) -> StreamId {
        let ms = u64::from_le_bytes(self.take8(pos));
        StreamId::new(ms, u64::from_le_bytes(self.take8(pos)))
    }

    /// Writes the stream node at `pos` as `crate::stream::write_stream` does; returns its
    /// entry count.
    fn write_stream_node(&self, pos: &mut usize, out: &mut Vec<u8>, z: &mut Compressor) -> usize {
        let master = self.take_id(pos);
        let live = self.take4(pos) as usize;
        let mut node = StreamNode::new(master, live);
        for _ in 0..live {
            let id = self.take_id(pos);
            let pairs = self.take4(pos) as usize;
            let strings = (0..pairs * 2).map(|_| match self.read_item(pos) {
                LpValue::Str(s) => s,
                LpValue::Int(_) => unreachable!("stream strings are copied as strings"),
            });
            node.entry(id, pairs, strings);
        }
        node.finish(out, z);
        live
    }

    fn take4(&self, pos: &mut usize) -> u32 {
        let b: [u8; 4] = self.buf[*pos..*pos + 4].try_into().expect("4 bytes");
        *pos += 4;
        u32::from_le_bytes(b)
    }

    /// The string or integer at `pos`; moves past it.
    fn read_item(&self, pos: &mut usize) -> LpValue<'_> {
        let tag = self.buf[*pos];
        *pos += 1;
        if tag == TAG_INT {
            LpValue::Int(i64::from_le_bytes(self.take8(pos)))
        } else {
            let len = self.take4(pos) as usize;
            let start = *pos;
            *pos += len;
            LpValue::Str(&self.buf[start..*pos])
        }
    }

    /// Writes the string or integer at `pos` as RDB writes it, and moves past it.
    fn write_item(&self, pos: &mut usize, out: &mut Vec<u8>, z: &mut Compressor) {
        lp(out, self.read_item(pos), z);
    }

    /// Writes the list node at `pos` as [`write_list_node`] does; returns its element count.
    fn write_node(&self, pos: &mut usize, out: &mut Vec<u8>, z: &mut Compressor) -> usize {
        let count = self.take4(pos) as usize;
        if count == 1 {
            let mut at = *pos;
            if let LpValue::Str(s) = self.read_item(&mut at) {
                if is_plain_element(s) {
                    write_list_plain(out, s, z);
                    *pos = at;
                    return 1;
                }
            }
        }
        let mut w = LpWriter::new();
        for _ in 0..count {
            lp_push(&mut w, self.read_item(pos));
        }
        write_list_listpack(out, w, z);
        count
    }
}

/// A large value partly written.
pub struct LargeValue {
    kind: Kind,
    total: usize,
    written: usize,
    z: Compressor,
}

fn lp(out: &mut Vec<u8>, v: LpValue<'_>, z: &mut Compressor) {
    match v {
        LpValue::Int(i) => write_int_string(out, i),
        LpValue::Str(s) => write_string_with(out, s, z),
    }
}

impl LargeValue {
    /// For a value that is written in pieces: appends the entry's head and returns the
    /// writer. None for small values and for types written whole.
    pub fn start(
        out: &mut Vec<u8>,
        key: &[u8],
        value: &CompactValue,
        expire_ms: Option<u64>,
    ) -> Option<LargeValue> {
        // The record's count: elements, or a list's nodes.
        let mut head_count = None;
        let (kind, t, total) = if let Some(st) = value.downcast_ref::<Stream>() {
            let big = st.len() > LARGE_ELEMENTS as u64;
            head_count = Some(big.then(|| st.live_node_count())?);
            (
                Kind::Stream { after: None },
                types::STREAM_LISTPACKS_2,
                st.len() as usize,
            )
        } else if let Some(l) = value.downcast_ref::<QuickList>() {
            let big = l.len() > LARGE_ELEMENTS;
            let nodes = l.node_count();
            head_count = Some(nodes);
            (
                Kind::List { node: 0, nodes },
                types::LIST_QUICKLIST_2,
                big.then_some(l.len())?,
            )
        } else if let Some(s) = value.downcast_ref::<SetValue>() {
            let big = s.encoding() == "hashtable" && s.len() > LARGE_ELEMENTS;
            (Kind::Set { cursor: 0 }, types::SET, big.then_some(s.len())?)
        } else if let Some(h) = value.downcast_ref::<HashValue>() {
            let big = !h.is_packed() && h.len() > LARGE_ELEMENTS;
            (
                Kind::Hash { cursor: 0 },
                types::HASH,
                big.then_some(h.len())?,
            )
        } else if let Some(zs) = value.downcast_ref::<ZSetValue>() {
            let big = !zs.is_packed() && zs.len() > LARGE_ELEMENTS;
            (Kind::ZSet, types::ZSET_2, big.then_some(zs.len())?)
        } else {
            return None;
        };
        if let Some(t) = expire_ms {
            out.push(opcodes::EXPIRETIME_MS);
            out.extend_from_slice(&t.to_le_bytes());
        }
        out.push(t);
        write_string(out, key);
        write_len(out, head_count.unwrap_or(total) as u64);
        Some(LargeValue {
            kind,
            total,
            written: 0,
            z: Compressor::new(),
        })
    }

    /// True once [`copy_rest`](Self::copy_rest) ran: the value itself is no longer needed.
    pub fn is_copied(&self) -> bool {
        matches!(self.kind, Kind::Copied { .. })
    }

    /// Copies the elements of `value` not written yet (the value `start` was given, not
    /// changed since), so the value may change: later steps write from the copy. Costs one
    /// pass over the rest of the value and no allocation per element.
    pub fn copy_rest(&mut self, value: &CompactValue) {
        let copy = match &self.kind {
            Kind::Copied { .. } => return,
            Kind::Stream { after } => {
                let st = value.downcast_ref::<Stream>().expect("still a stream");
                let mut c = Copy {
                    shape: Shape::StreamNode,
                    buf: Vec::new(),
                    tail: Vec::new(),
                };
                for (master, live, entries) in st.live_nodes_after(*after) {
                    c.id(master);
                    c.buf.extend_from_slice(&(live as u32).to_le_bytes());
                    for e in entries {
                        c.id(e.id);
                        c.buf
                            .extend_from_slice(&(e.pair_count() as u32).to_le_bytes());
                        e.strings().for_each(|s| c.str(s));
                    }
                }
                write_stream_tail(&mut c.tail, st, &mut self.z);
                c
            }
            Kind::List { node, nodes } => {
                let list = value.downcast_ref::<QuickList>().expect("still a list");
                let mut c = Copy {
                    shape: Shape::Node,
                    buf: Vec::new(),
                    tail: Vec::new(),
                };
                for i in *node..*nodes {
                    let at = c.buf.len();
                    c.buf.extend_from_slice(&[0; 4]);
                    let n = list.scan_node(i, |v| c.lp(v));
                    c.buf[at..at + 4].copy_from_slice(&(n as u32).to_le_bytes());
                }
                c
            }
            Kind::Set { cursor } => {
                let set = value.downcast_ref::<SetValue>().expect("still a set");
                let mut c = Copy {
                    shape: Shape::Member,
                    buf: Vec::new(),
                    tail: Vec::new(),
                };
                let mut cursor = *cursor;
                loop {
                    cursor = set.scan(cursor, usize::MAX, |m| match m {
                        SetMember::Int(v) => c.int(v),
                        SetMember::Str(s) => c.str(s),
                    });
                    if cursor == 0 {
                        break c;
                    }
                }
            }
            Kind::Hash { cursor } => {
                let hash = value.downcast_ref::<HashValue>().expect("still a hash");
                let mut c = Copy {
                    shape: Shape::Pair,
                    buf: Vec::new(),
                    tail: Vec::new(),
                };
                let mut cursor = *cursor;
                loop {
                    cursor = hash.scan(cursor, |f, v| {
                        c.lp(f);
                        c.lp(v);
                    });
                    if cursor == 0 {
                        break c;
                    }
                }
            }
            Kind::ZSet => {
                let zset = value
                    .downcast_ref::<ZSetValue>()
                    .expect("still a sorted set");
                let mut c = Copy {
                    shape: Shape::Scored,
                    buf: Vec::new(),
                    tail: Vec::new(),
                };
                zset.walk(0, self.total - self.written, true, |m, score| {
                    c.str(m);
                    c.buf.extend_from_slice(&score.to_le_bytes());
                    true
                });
                c
            }
        };
        self.kind = Kind::Copied { copy, pos: 0 };
    }

    /// Appends about `budget` more elements of `value` (the value `start` was given, not
    /// changed since; None once the rest is copied); true when the value is complete.
    pub fn step(&mut self, out: &mut Vec<u8>, value: Option<&CompactValue>, budget: usize) -> bool {
        let budget = budget.max(1);
        let z = &mut self.z;
        let mut n = 0usize;
        if let Kind::Copied { copy, pos } = &mut self.kind {
            while n < budget && *pos < copy.buf.len() {
                match copy.shape {
                    Shape::Node => n += copy.write_node(pos, out, z),
                    Shape::StreamNode => n += copy.write_stream_node(pos, out, z),
                    _ => {
                        n += 1;
                        copy.write_item(pos, out, z);
                    }
                }
                match copy.shape {
                    Shape::Member | Shape::Node | Shape::StreamNode => {}
                    Shape::Pair => copy.write_item(pos, out, z),
                    Shape::Scored => write_binary_double(out, f64::from_le_bytes(copy.take8(pos))),
                }
            }
            self.written += n;
            let done = *pos == copy.buf.len();
            if done {
                assert_eq!(self.written, self.total, "a copied value lost elements");
                out.extend_from_slice(&copy.tail);
                copy.tail = Vec::new();
                // The copy is through: give its memory back now, not when the writer goes.
                copy.buf = Vec::new();
            }
            return done;
        }
        let value = value.expect("the value, until its rest is copied");
        let done = match &mut self.kind {
            Kind::Set { cursor } => {
                let set = value.downcast_ref::<SetValue>().expect("still a set");
                *cursor = set.scan(*cursor, budget, |m| {
                    n += 1;
                    match m {
                        SetMember::Int(v) => write_int_string(out, v),
                        SetMember::Str(s) => write_string_with(out, s, z),
                    }
                });
                *cursor == 0
            }
            Kind::Hash { cursor } => {
                let hash = value.downcast_ref::<HashValue>().expect("still a hash");
                loop {
                    *cursor = hash.scan(*cursor, |f, v| {
                        n += 1;
                        lp(out, f, z);
                        lp(out, v, z);
                    });
                    if *cursor == 0 || n >= budget {
                        break *cursor == 0;
                    }
                }
            }
            Kind::ZSet => {
                let zset = value
                    .downcast_ref::<ZSetValue>()
                    .expect("still a sorted set");
                // Highest first (as `write_zset`): ranks [lo, hi) walked downwards.
                let hi = self.total - self.written;
                let lo = hi.saturating_sub(budget);
                zset.walk(lo, hi, true, |m, score| {
                    n += 1;
                    write_string_with(out, m, z);
                    write_binary_double(out, score);
                    true
                });
                lo == 0
            }
            Kind::List { node, nodes } => {
                let list = value.downcast_ref::<QuickList>().expect("still a list");
                assert_eq!(
                    list.node_count(),
                    *nodes,
                    "a large list changed while it was written in pieces"
                );
                while n < budget && *node < *nodes {
                    n += write_list_node(out, list, *node, z);
                    *node += 1;
                }
                *node == *nodes
            }
            Kind::Stream { after } => {
                let st = value.downcast_ref::<Stream>().expect("still a stream");
                let mut nodes = st.live_nodes_after(*after);
                loop {
                    if n >= budget {
                        break false;
                    }
                    let Some((master, live, entries)) = nodes.next() else {
                        write_stream_tail(out, st, z);
                        break true;
                    };
                    let mut node = StreamNode::new(master, live);
                    for e in entries {
                        node.entry(e.id, e.pair_count(), e.strings());
                    }
                    node.finish(out, z);
                    n += live;
                    *after = Some(master);
                }
            }
            Kind::Copied { .. } => unreachable!("handled above"),
        };
        self.written += n;
        if done {
            assert_eq!(
                self.written, self.total,
                "a large value changed while it was written in pieces"
            );
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb_file::write_entry;

    fn whole(key: &[u8], v: &CompactValue) -> Vec<u8> {
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        write_entry(&mut out, &mut scratch, key, v, Some(77)).unwrap();
        out
    }

    fn pieces(key: &[u8], v: &CompactValue, budget: usize) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let mut w = LargeValue::start(&mut out, key, v, Some(77)).expect("large");
        let mut steps = 1;
        while !w.step(&mut out, Some(v), budget) {
            steps += 1;
        }
        (out, steps)
    }

    /// `pieces`, with the rest copied after `before` steps (later steps never see the value).
    fn pieces_then_copy(key: &[u8], v: &CompactValue, budget: usize, before: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = LargeValue::start(&mut out, key, v, Some(77)).expect("large");
        for _ in 0..before {
            assert!(!w.step(&mut out, Some(v), budget));
        }
        w.copy_rest(v);
        assert!(w.is_copied());
        while !w.step(&mut out, None, budget) {}
        out
    }

    /// The entry read back: key, then the value as a sorted list of element encodings.
    fn load(bytes: &[u8]) -> (Vec<u8>, CompactValue) {
        let mut got = None;
        let mut file = Vec::new();
        crate::rdb_file::write_header(&mut file, "7.0.0", 0, 0);
        crate::rdb_file::write_select_db(&mut file, 0, None);
        file.extend_from_slice(bytes);
        let t = crate::rdb_file::trailer(crate::crc64::crc64(0, &file));
        file.extend_from_slice(&t);
        let limits = damselfly_shards::CollectionLimits::default();
        crate::rdb_file::load(&file, &limits, |k| {
            assert_eq!(k.expire_ms, Some(77));
            got = Some((k.key.to_vec(), k.value));
        })
        .unwrap();
        got.expect("one key")
    }

    /// Every element's bytes, sorted.
    fn sorted(v: &CompactValue) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = if let Some(s) = v.downcast_ref::<SetValue>() {
            s.to_vecs()
        } else if let Some(h) = v.downcast_ref::<HashValue>() {
            h.iter()
                .map(|(f, x)| [f.to_vec(), b"=".to_vec(), x.to_vec()].concat())
                .collect()
        } else {
            let z = v.downcast_ref::<ZSetValue>().unwrap();
            z.to_pairs()
                .into_iter()
                .map(|(m, s)| [m, s.to_string().into_bytes()].concat())
                .collect()
        };
        out.sort();
        out
    }

    #[test]
    fn large_sets_hashes_and_zsets_round_trip_in_pieces() {
        let limits = damselfly_shards::CollectionLimits::default();
        let n = LARGE_ELEMENTS + 1000;
        let members: Vec<Vec<u8>> = (0..n).map(|i| format!("member-{i}").into_bytes()).collect();
        let set = SetValue::from_members(members.iter(), &limits);
        let mut hash = HashValue::new();
        let mut zset = ZSetValue::new();
        for (i, m) in members.iter().enumerate() {
            hash.set(m, i.to_string().as_bytes(), &limits);
            zset.insert(m, i as f64 / 3.0, &limits);
        }
        for v in [
            CompactValue::from_object(Box::new(set)),
            CompactValue::from_object(Box::new(hash)),
            CompactValue::from_object(Box::new(zset)),
        ] {
            let (bytes, steps) = pieces(b"k", &v, 500);
            assert!(steps > 5, "{steps} steps");
            let (key, back) = load(&bytes);
            assert_eq!(key, b"k");
            assert_eq!(sorted(&back), sorted(&v));
            if v.downcast_ref::<ZSetValue>().is_some() {
                // Same order as the whole value: the same bytes.
                assert_eq!(bytes, whole(b"k", &v));
            } else {
                assert_eq!(bytes.len(), whole(b"k", &v).len());
            }
        }
    }

    #[test]
    fn a_copied_rest_writes_the_same_bytes() {
        let limits = damselfly_shards::CollectionLimits::default();
        let n = LARGE_ELEMENTS + 1000;
        let members: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                if i % 3 == 0 {
                    i.to_string().into_bytes()
                } else {
                    format!("member-{i}-{}", "x".repeat(i % 40)).into_bytes()
                }
            })
            .collect();
        let values = {
            let set = SetValue::from_members(members.iter(), &limits);
            let mut hash = HashValue::new();
            let mut zset = ZSetValue::new();
            for (i, m) in members.iter().enumerate() {
                hash.set(m, i.to_string().as_bytes(), &limits);
                zset.insert(m, i as f64 / 3.0, &limits);
            }
            [
                CompactValue::from_object(Box::new(set)),
                CompactValue::from_object(Box::new(hash)),
                CompactValue::from_object(Box::new(zset)),
            ]
        };
        for v in &values {
            let want = pieces(b"k", v, 500).0;
            for before in [0, 3, 10] {
                assert_eq!(pieces_then_copy(b"k", v, 500, before), want);
            }
        }
    }

    /// Lists of every node shape: default byte-bounded nodes, small counted nodes, inner
    /// nodes compressed, and nodes left uneven by deletes in the middle.
    fn large_lists() -> Vec<QuickList> {
        let n = LARGE_ELEMENTS * 3 + 77;
        let item = |i: usize| {
            if i.is_multiple_of(4) {
                i.to_string().into_bytes()
            } else {
                format!("item-{i}-{}", "y".repeat(i % 90)).into_bytes()
            }
        };
        let mut lists = Vec::new();
        for (fill, depth) in [(-2, 0), (16, 0), (-1, 1), (-3, 2)] {
            let mut l = QuickList::with_options(fill, depth);
            for i in 0..n {
                l.push(&item(i), i.is_multiple_of(7));
            }
            lists.push(l);
        }
        let mut holed = QuickList::with_options(-2, 0);
        for i in 0..n {
            holed.push(&item(i), false);
        }
        for at in [100, 3000, 9000] {
            holed.delete_range(at, 37);
        }
        holed.set(5, &[b'z'; 5000]);
        lists.push(holed);
        lists
    }

    #[test]
    fn large_lists_round_trip_in_pieces_with_the_whole_values_bytes() {
        for l in large_lists() {
            assert!(l.node_count() > 1);
            let want = l.to_vec();
            let v = CompactValue::from_object(Box::new(l));
            let (bytes, steps) = pieces(b"k", &v, 500);
            assert!(steps > 5, "{steps} steps");
            assert_eq!(bytes, whole(b"k", &v));
            let (key, back) = load(&bytes);
            assert_eq!(key, b"k");
            assert_eq!(back.downcast_ref::<QuickList>().unwrap().to_vec(), want);
            for before in [0, 1, 4, 9] {
                assert_eq!(pieces_then_copy(b"k", &v, 500, before), bytes);
            }
        }
    }

    /// A stream of many nodes, with deletes, groups, PELs and consumers.
    fn large_stream() -> Stream {
        use damselfly_shards::stream::NodeLimits;
        use damselfly_shards::stream_group::Group;
        let limits = NodeLimits {
            max_bytes: 0,
            max_entries: 50,
        };
        let mut st = Stream::new();
        let n = LARGE_ELEMENTS as u64 * 2 + 333;
        for i in 1..=n {
            let v = format!("value-{i}-{}", "v".repeat(i as usize % 30));
            let f: &[u8] = if i % 3 == 0 { b"other" } else { b"field" };
            st.append(StreamId::new(1000 + i, i % 4), &[f, v.as_bytes()], limits);
        }
        // A whole node deleted (entries 101..=150), and scattered deletes.
        let gone: Vec<StreamId> = (101..=150)
            .chain((200..n).step_by(7))
            .map(|i| StreamId::new(1000 + i, i % 4))
            .collect();
        st.delete(&gone);
        for g in 0..3u64 {
            let mut group = Group::new(StreamId::new(1000 + g * 10, 0), 5);
            let name = format!("consumer-with-a-long-name-{g}-{}", "c".repeat(30));
            group.create_consumer(name.as_bytes(), 1000);
            for i in 1..=40 {
                group.deliver(
                    StreamId::new(1000 + i, i % 4),
                    name.as_bytes(),
                    1500,
                    Some(2),
                );
            }
            let gname = format!("group-with-a-long-name-{g}-{}", "g".repeat(30));
            st.groups
                .insert(gname.into_bytes().into_boxed_slice(), group);
        }
        st
    }

    #[test]
    fn a_large_stream_round_trips_in_pieces_with_the_whole_values_bytes() {
        let st = large_stream();
        let entries = |st: &Stream| {
            let mut out = Vec::new();
            st.range(StreamId::MIN, StreamId::MAX, false, |e| {
                out.push((e.id, e.strings().map(<[u8]>::to_vec).collect::<Vec<_>>()));
                true
            });
            out
        };
        let want = entries(&st);
        let v = CompactValue::from_object(Box::new(st));
        let (bytes, steps) = pieces(b"k", &v, 500);
        assert!(steps > 5, "{steps} steps");
        assert_eq!(bytes, whole(b"k", &v));
        let (key, back) = load(&bytes);
        assert_eq!(key, b"k");
        let back = back.downcast_ref::<Stream>().unwrap();
        assert_eq!(entries(back), want);
        assert_eq!(back.groups.len(), 3);
        for before in [0, 1, 4, 9] {
            assert_eq!(pieces_then_copy(b"k", &v, 500, before), bytes);
        }
    }

    #[test]
    fn small_values_are_written_whole() {
        let limits = damselfly_shards::CollectionLimits::default();
        let set = SetValue::from_members([&b"a"[..]], &limits);
        let mut out = Vec::new();
        let v = CompactValue::from_object(Box::new(set));
        assert!(LargeValue::start(&mut out, b"k", &v, None).is_none());
        assert!(out.is_empty());
    }
}
