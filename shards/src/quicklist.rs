//! The list value (Redis's quicklist): a deque of listpack nodes, each bounded by
//! `list-max-listpack-size` (entries per node when positive, bytes per node when -1..-5), with
//! the inner nodes optionally LZ4-compressed (`list-compress-depth`: that many nodes at each
//! end stay plain, so pushes and pops at the ends never touch compressed data).
//!
//! Both settings are taken when the list is created and kept for its life, as Redis does.
//! Heap accounting is kept incrementally: every node change goes through [`QuickList::modify`]
//! or the node insert/remove helpers, which move `node_heap` by the node's before/after size.

use crate::cell::{ObjType, TypedObject};
use crate::limits::CollectionLimits;
use crate::listpack::{Listpack, LpProbe, LpValue};
use std::any::Any;
use std::collections::VecDeque;

/// Largest node a positive (count) fill may build, in bytes.
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Nodes smaller than this are not worth compressing.
const MIN_COMPRESS_BYTES: usize = 48;
/// Compression must save at least this many bytes to be kept.
const MIN_COMPRESS_GAIN: usize = 8;
const FILL_MAX: i64 = 1 << 15;
const DEPTH_MAX: usize = (1 << 16) - 1;

#[derive(Clone)]
enum Node {
    /// `tried`: compression was attempted since the last change and did not pay.
    Plain { lp: Listpack, tried: bool },
    Lz4 {
        bytes: Box<[u8]>,
        raw_len: u32,
        count: u32,
    },
}

impl Node {
    fn plain(lp: Listpack) -> Node {
        Node::Plain { lp, tried: false }
    }

    fn count(&self) -> usize {
        match self {
            Node::Plain { lp, .. } => lp.len(),
            Node::Lz4 { count, .. } => *count as usize,
        }
    }

    fn heap(&self) -> usize {
        match self {
            Node::Plain { lp, .. } => lp.heap_bytes(),
            Node::Lz4 { bytes, .. } => bytes.len(),
        }
    }

    fn data_bytes(&self) -> usize {
        match self {
            Node::Plain { lp, .. } => lp.data_bytes(),
            Node::Lz4 { raw_len, .. } => *raw_len as usize,
        }
    }

    fn decompress(bytes: &[u8], raw_len: u32, count: u32) -> Listpack {
        let raw = lz4_flex::block::decompress(bytes, raw_len as usize)
            .expect("a node compressed by this list decompresses");
        Listpack::from_raw(raw, count as usize)
    }

    /// The node's listpack, decompressed into `scratch` when compressed (reads).
    fn view<'a>(&'a self, scratch: &'a mut Option<Listpack>) -> &'a Listpack {
        match self {
            Node::Plain { lp, .. } => lp,
            Node::Lz4 {
                bytes,
                raw_len,
                count,
            } => scratch.insert(Node::decompress(bytes, *raw_len, *count)),
        }
    }

    /// Makes the node plain (decompressing in place) and marks it changed.
    fn make_plain(&mut self) -> &mut Listpack {
        if let Node::Lz4 {
            bytes,
            raw_len,
            count,
        } = self
        {
            *self = Node::plain(Node::decompress(bytes, *raw_len, *count));
        }
        match self {
            Node::Plain { lp, tried } => {
                *tried = false;
                lp
            }
            Node::Lz4 { .. } => unreachable!("just decompressed"),
        }
    }

    /// Plain, without marking it changed (a node entering the uncompressed ends).
    fn ensure_plain(&mut self) {
        if let Node::Lz4 { .. } = self {
            self.make_plain();
        }
    }

    fn try_compress(&mut self) {
        let Node::Plain { lp, tried } = self else {
            return;
        };
        if *tried {
            return;
        }
        *tried = true;
        let raw = lp.as_bytes();
        if raw.len() < MIN_COMPRESS_BYTES {
            return;
        }
        let packed = lz4_flex::block::compress(raw);
        if packed.len() + MIN_COMPRESS_GAIN > raw.len() {
            return;
        }
        *self = Node::Lz4 {
            // A fresh exact allocation: shrinking the compressor's worst-case buffer in place
            // could keep its whole block.
            bytes: Box::from(&packed[..]),
            raw_len: raw.len() as u32,
            count: lp.len() as u32,
        };
    }
}

/// A Redis list.
pub struct QuickList {
    nodes: VecDeque<Node>,
    len: usize,
    /// Sum of the nodes' heap bytes.
    node_heap: usize,
    fill: i32,
    depth: u16,
}

impl Clone for QuickList {
    fn clone(&self) -> QuickList {
        let nodes: VecDeque<Node> = self.nodes.iter().cloned().collect();
        // Cloned buffers may have other capacities than the originals.
        let node_heap = nodes.iter().map(Node::heap).sum();
        QuickList {
            nodes,
            len: self.len,
            node_heap,
            fill: self.fill,
            depth: self.depth,
        }
    }
}

impl std::fmt::Debug for QuickList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.to_vec().iter().map(|v| String::from_utf8_lossy(v)))
            .finish()
    }
}

impl QuickList {
    /// An empty list with the node size and compression depth of `limits`.
    pub fn new(limits: &CollectionLimits) -> QuickList {
        QuickList::with_options(limits.list_max_listpack_size, limits.list_compress_depth)
    }

    /// `fill`: `list-max-listpack-size`; `depth`: `list-compress-depth` (both clamped as Redis
    /// clamps them).
    pub fn with_options(fill: i64, depth: usize) -> QuickList {
        QuickList {
            nodes: VecDeque::with_capacity(1),
            len: 0,
            node_heap: 0,
            fill: fill.clamp(-5, FILL_MAX) as i32,
            depth: depth.min(DEPTH_MAX) as u16,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Compressed nodes (for tests and DEBUG-like introspection).
    pub fn compressed_nodes(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n, Node::Lz4 { .. }))
            .count()
    }

    fn size_limit(&self) -> usize {
        if self.fill < 0 {
            4096 << (-self.fill - 1)
        } else {
            SIZE_SAFETY_LIMIT
        }
    }

    /// Whether a node of `bytes` and `count` entries may take one more entry of `size` bytes.
    fn allows(&self, bytes: usize, count: usize, size: usize) -> bool {
        bytes + size <= self.size_limit() && (self.fill < 0 || (count as i64) < self.fill as i64)
    }

    fn exceeds(&self, node: &Node) -> bool {
        node.data_bytes() > self.size_limit()
            || (self.fill >= 0 && node.count() as i64 > self.fill as i64)
    }

    fn is_inner(&self, i: usize) -> bool {
        let d = self.depth as usize;
        d > 0 && i >= d && i + d < self.nodes.len()
    }

    /// Runs `f` on node `i` made plain, then recompresses it if it is an inner node.
    fn modify<R>(&mut self, i: usize, f: impl FnOnce(&mut Listpack) -> R) -> R {
        let inner = self.is_inner(i);
        let node = &mut self.nodes[i];
        self.node_heap -= node.heap();
        let r = f(node.make_plain());
        if inner {
            node.try_compress();
        }
        self.node_heap += node.heap();
        r
    }

    /// Node `i` plain or compressed as its place asks (after it was moved or created).
    fn settle(&mut self, i: usize) {
        let inner = self.is_inner(i);
        let node = &mut self.nodes[i];
        self.node_heap -= node.heap();
        if inner {
            node.try_compress();
        } else {
            node.ensure_plain();
        }
        self.node_heap += node.heap();
    }

    /// After nodes were added or removed: the end regions plain, the first inner nodes
    /// compressed. Nodes deeper inside never change place relative to the nearer end.
    fn settle_ends(&mut self) {
        let d = self.depth as usize;
        let n = self.nodes.len();
        if d == 0 {
            return;
        }
        if n <= 2 * d + 2 {
            for i in 0..n {
                self.settle(i);
            }
            return;
        }
        for i in (0..=d).chain(n - 1 - d..n) {
            self.settle(i);
        }
    }

    fn insert_node(&mut self, at: usize, lp: Listpack) {
        let node = Node::plain(lp);
        self.node_heap += node.heap();
        self.nodes.insert(at, node);
    }

    fn remove_node(&mut self, at: usize) {
        let node = self.nodes.remove(at).expect("node index in range");
        self.node_heap -= node.heap();
    }

    /// Splits node `i` (in halves, as often as needed) when a write left it over the node
    /// limits, then settles every node the split made or moved: a node placed while the list
    /// was shorter may have become inner since.
    fn split_if_over(&mut self, i: usize) {
        let before = self.nodes.len();
        self.split_rec(i);
        let added = self.nodes.len() - before;
        if added > 0 {
            // The new nodes, and the nodes within `depth` of them: those crossed the border
            // between the plain ends and the compressed inside when the list grew.
            let d = self.depth as usize;
            let last = (i + added + d).min(self.nodes.len() - 1);
            for k in i.saturating_sub(d)..=last {
                self.settle(k);
            }
            self.settle_ends();
        }
    }

    fn split_rec(&mut self, i: usize) {
        if self.nodes[i].count() < 2 || !self.exceeds(&self.nodes[i]) {
            return;
        }
        let half = self.nodes[i].count() / 2;
        let tail = self.modify(i, |lp| {
            let tail = lp.split_off(half);
            lp.shrink_to_fit();
            tail
        });
        self.insert_node(i + 1, tail);
        // Halves by count may still be over when sizes are uneven: split them in turn.
        self.split_rec(i + 1);
        self.split_rec(i);
    }

    // ---- ends ---------------------------------------------------------------------------

    /// LPUSH (`front`) / RPUSH of one value.
    pub fn push(&mut self, v: &[u8], front: bool) {
        let size = Listpack::entry_size(v);
        let n = self.nodes.len();
        let at = if front { 0 } else { n.wrapping_sub(1) };
        if n > 0 && self.allows(self.nodes[at].data_bytes(), self.nodes[at].count(), size) {
            self.modify(at, |lp| {
                if front {
                    lp.push_front(v)
                } else {
                    lp.push_back(v)
                }
            });
        } else {
            let mut lp = if n > 0 {
                // The end node is full: give back its spare capacity once, now. In a list of
                // several full nodes its successor will likely fill up too: with a byte
                // limit, allocate it whole at once rather than grow it through every size on
                // the way (at most a quarter of the list's bytes then wait unused).
                let node = &self.nodes[at];
                if node.heap() > node.data_bytes() + 64 {
                    self.modify(at, |lp| lp.shrink_to_fit());
                }
                if self.fill < 0 && n >= 4 {
                    Listpack::with_capacity(self.size_limit())
                } else {
                    Listpack::new()
                }
            } else {
                Listpack::new()
            };
            lp.push_back(v);
            self.insert_node(if front { 0 } else { n }, lp);
            self.settle_ends();
        }
        self.len += 1;
    }

    /// Pops from the front or the back, passing the value to `f` before it is deleted.
    pub fn pop_with<R>(&mut self, front: bool, f: impl FnOnce(LpValue<'_>) -> R) -> Option<R> {
        if self.len == 0 {
            return None;
        }
        let at = if front { 0 } else { self.nodes.len() - 1 };
        let r = self.modify(at, |lp| {
            let p = if front { lp.first() } else { lp.last() }.expect("nodes are never empty");
            let r = f(lp.get(p));
            lp.delete(p);
            r
        });
        self.len -= 1;
        if self.nodes[at].count() == 0 {
            self.remove_node(at);
            self.settle_ends();
        }
        Some(r)
    }

    pub fn pop(&mut self, front: bool) -> Option<Vec<u8>> {
        self.pop_with(front, |v| v.to_vec())
    }

    // ---- by index -----------------------------------------------------------------------

    /// (node, offset in node) of element `index` (< len), walking from the nearer end.
    fn locate(&self, index: usize) -> (usize, usize) {
        debug_assert!(index < self.len);
        if index < self.len / 2 {
            let mut left = index;
            for (i, n) in self.nodes.iter().enumerate() {
                if left < n.count() {
                    return (i, left);
                }
                left -= n.count();
            }
        } else {
            let mut left = self.len - 1 - index;
            for (i, n) in self.nodes.iter().enumerate().rev() {
                if left < n.count() {
                    return (i, n.count() - 1 - left);
                }
                left -= n.count();
            }
        }
        unreachable!("index {index} within len {}", self.len)
    }

    /// Normalizes a Redis index (negative counts from the end); None when out of range.
    pub fn normalize(&self, index: i64) -> Option<usize> {
        let i = if index < 0 {
            self.len as i64 + index
        } else {
            index
        };
        (0..self.len as i64).contains(&i).then_some(i as usize)
    }

    /// LINDEX: passes element `index` to `f`.
    pub fn with_index<R>(&self, index: i64, f: impl FnOnce(LpValue<'_>) -> R) -> Option<R> {
        let (ni, off) = self.locate(self.normalize(index)?);
        let mut scratch = None;
        let lp = self.nodes[ni].view(&mut scratch);
        Some(f(lp.get(lp.seek(off as i64).expect("offset in node"))))
    }

    pub fn get(&self, index: i64) -> Option<Vec<u8>> {
        self.with_index(index, |v| v.to_vec())
    }

    /// LSET: false when `index` is out of range.
    pub fn set(&mut self, index: i64, v: &[u8]) -> bool {
        let Some(i) = self.normalize(index) else {
            return false;
        };
        let (ni, off) = self.locate(i);
        self.modify(ni, |lp| {
            let p = lp.seek(off as i64).expect("offset in node");
            lp.replace(p, v)
        });
        self.split_if_over(ni);
        true
    }

    /// Deletes `count` elements from `index` on (clamped to the end).
    pub fn delete_range(&mut self, index: usize, count: usize) {
        if index >= self.len || count == 0 {
            return;
        }
        let count = count.min(self.len - index);
        if count == self.len {
            self.clear();
            return;
        }
        let (mut ni, mut off) = self.locate(index);
        let mut left = count;
        while left > 0 {
            let c = self.nodes[ni].count();
            if off == 0 && left >= c {
                self.remove_node(ni);
                left -= c;
            } else {
                let k = (c - off).min(left);
                self.modify(ni, |lp| lp.delete_range(off, k));
                left -= k;
                ni += 1;
                off = 0;
            }
        }
        self.len -= count;
        self.settle_ends();
    }

    /// LTRIM: keeps elements `start..=stop` (already normalized and clamped by the caller;
    /// `start > stop` empties the list).
    pub fn trim(&mut self, start: usize, stop: usize) {
        if start > stop || start >= self.len {
            self.clear();
            return;
        }
        let stop = stop.min(self.len - 1);
        self.delete_range(stop + 1, self.len - stop - 1);
        self.delete_range(0, start);
    }

    pub fn clear(&mut self) {
        self.nodes.clear();
        self.node_heap = 0;
        self.len = 0;
    }

    // ---- scans --------------------------------------------------------------------------

    /// Calls `f(index, value)` for each element from the head (or from the tail when
    /// `from_tail`), until `f` returns false.
    pub fn scan(&self, from_tail: bool, mut f: impl FnMut(usize, LpValue<'_>) -> bool) {
        let mut scratch = None;
        if !from_tail {
            let mut idx = 0;
            for node in &self.nodes {
                for v in node.view(&mut scratch).iter() {
                    if !f(idx, v) {
                        return;
                    }
                    idx += 1;
                }
            }
        } else {
            let mut idx = self.len;
            for node in self.nodes.iter().rev() {
                for v in node.view(&mut scratch).iter().rev() {
                    idx -= 1;
                    if !f(idx, v) {
                        return;
                    }
                }
            }
        }
    }

    /// Node `i`'s element count and a call of `f` for each of its elements in order (RDB
    /// writes a list node by node). Panics when `i >= node_count()`.
    pub fn scan_node(&self, i: usize, mut f: impl FnMut(LpValue<'_>)) -> usize {
        let mut scratch = None;
        let lp = self.nodes[i].view(&mut scratch);
        lp.iter().for_each(&mut f);
        lp.len()
    }

    /// Calls `f` for the `count` elements from `start` on, head to tail (LRANGE).
    pub fn range(&self, start: usize, count: usize, mut f: impl FnMut(LpValue<'_>)) {
        if start >= self.len || count == 0 {
            return;
        }
        let (mut ni, off) = self.locate(start);
        let mut left = count.min(self.len - start);
        let mut scratch = None;
        let mut iter = self.nodes[ni].view(&mut scratch).iter_at(off as i64);
        loop {
            for v in iter.by_ref() {
                f(v);
                left -= 1;
                if left == 0 {
                    return;
                }
            }
            ni += 1;
            iter = self.nodes[ni].view(&mut scratch).iter();
        }
    }

    /// Every element, head to tail (allocates; for tests and whole-value copies).
    pub fn to_vec(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len);
        self.scan(false, |_, v| {
            out.push(v.to_vec());
            true
        });
        out
    }

    /// LPOS: indices of the matches of `v`, skipping the first `rank - 1` (from the tail when
    /// `rank` < 0), at most `count` of them (0 = all), comparing at most `maxlen` elements
    /// (0 = all).
    pub fn positions(&self, v: &[u8], rank: i64, count: usize, maxlen: usize) -> Vec<usize> {
        let probe = LpProbe::new(v);
        let mut skip = rank.unsigned_abs() - 1;
        let mut out = Vec::new();
        let mut seen = 0usize;
        self.scan(rank < 0, |i, e| {
            if maxlen != 0 && seen == maxlen {
                return false;
            }
            seen += 1;
            if probe.matches(e) {
                if skip > 0 {
                    skip -= 1;
                } else {
                    out.push(i);
                    if count != 0 && out.len() == count {
                        return false;
                    }
                }
            }
            true
        });
        out
    }

    /// Whether some element equals `v`.
    pub fn contains(&self, v: &[u8]) -> bool {
        let probe = LpProbe::new(v);
        let mut found = false;
        self.scan(false, |_, e| {
            found = probe.matches(e);
            !found
        });
        found
    }

    // ---- middle writes ------------------------------------------------------------------

    /// LINSERT: inserts `v` before (or `after`) the first element equal to `pivot`; false
    /// when there is none.
    pub fn insert(&mut self, pivot: &[u8], v: &[u8], after: bool) -> bool {
        let probe = LpProbe::new(pivot);
        let mut scratch = None;
        let mut found = None;
        for (ni, node) in self.nodes.iter().enumerate() {
            let lp = node.view(&mut scratch);
            let mut p = lp.first();
            while let Some(q) = p {
                if probe.matches(lp.get(q)) {
                    found = Some((ni, q));
                    break;
                }
                p = lp.next(q);
            }
            if found.is_some() {
                break;
            }
        }
        let Some((ni, pos)) = found else {
            return false;
        };
        // The decompressed node has the same bytes as the scratch copy, so `pos` holds.
        self.modify(ni, |lp| {
            if after {
                lp.insert_after(pos, v)
            } else {
                lp.insert_before(pos, v)
            }
        });
        self.len += 1;
        self.split_if_over(ni);
        true
    }

    /// LREM: removes up to `|count|` elements equal to `v` from the head (count > 0), the
    /// tail (count < 0), or all of them (0). Returns how many.
    pub fn remove(&mut self, v: &[u8], count: i64) -> usize {
        let probe = LpProbe::new(v);
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let from_tail = count < 0;
        let mut removed = 0;
        let mut k = 0; // nodes visited, from the chosen end
        let mut scratch = None;
        while removed < limit && k < self.nodes.len() {
            let ni = if from_tail {
                self.nodes.len() - 1 - k
            } else {
                k
            };
            if !self.nodes[ni]
                .view(&mut scratch)
                .iter()
                .any(|e| probe.matches(e))
            {
                k += 1;
                continue;
            }
            let want = limit - removed;
            removed += self.modify(ni, |lp| remove_in(lp, &probe, want, from_tail));
            if self.nodes[ni].count() == 0 {
                self.remove_node(ni);
            } else {
                k += 1;
            }
        }
        self.len -= removed;
        if removed > 0 {
            self.settle_ends();
        }
        removed
    }

    /// Checks the structure's invariants (tests).
    pub fn check_invariants(&self) {
        assert_eq!(self.nodes.iter().map(Node::count).sum::<usize>(), self.len);
        assert_eq!(
            self.nodes.iter().map(Node::heap).sum::<usize>(),
            self.node_heap
        );
        for (i, n) in self.nodes.iter().enumerate() {
            assert!(n.count() > 0, "empty node {i}");
            match n {
                Node::Plain { tried, .. } if self.is_inner(i) => {
                    assert!(*tried, "inner node {i} of {} left plain", self.nodes.len())
                }
                Node::Lz4 { .. } => assert!(self.is_inner(i), "end node {i} compressed"),
                _ => {}
            }
            if n.count() > 1 {
                // Pushes never overfill; middle writes split what they overfill.
                assert!(!self.exceeds(n), "node {i} over the limits");
            }
        }
    }
}

/// Deletes up to `want` entries matching `probe` from one listpack; returns how many.
fn remove_in(lp: &mut Listpack, probe: &LpProbe<'_>, want: usize, from_tail: bool) -> usize {
    let mut removed = 0;
    if !from_tail {
        let mut p = lp.first();
        while let Some(q) = p {
            if removed == want {
                break;
            }
            if probe.matches(lp.get(q)) {
                p = lp.delete(q);
                removed += 1;
            } else {
                p = lp.next(q);
            }
        }
    } else {
        let mut p = lp.last();
        while let Some(q) = p {
            if removed == want {
                break;
            }
            // Entries before `q` keep their positions when `q` is deleted.
            let before = lp.prev(q);
            if probe.matches(lp.get(q)) {
                lp.delete(q);
                removed += 1;
            }
            p = before;
        }
    }
    removed
}

impl TypedObject for QuickList {
    fn obj_type(&self) -> ObjType {
        ObjType::List
    }

    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<QuickList>()
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.node_heap
    }

    fn clone_object(&self) -> Box<dyn TypedObject> {
        Box::new(self.clone())
    }

    /// Redis 7.0 reports every list as a quicklist, however small.
    fn encoding_name(&self) -> &'static str {
        "quicklist"
    }

    /// One allocation per node.
    fn free_effort(&self) -> usize {
        self.nodes.len()
    }

    fn len(&self) -> usize {
        self.len
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
#[path = "quicklist_tests.rs"]
mod tests;
