//! The stream value (ObjType::Stream): entries in packed [`Node`]s held by an ordered index
//! keyed by each node's first id (Redis keeps listpacks in a radix tree keyed the same way),
//! plus the stream's counters and its consumer groups ([`crate::stream_group`]).
//!
//! A new node starts when the last one holds `stream-node-max-entries` entries or would pass
//! `stream-node-max-bytes`. XDEL and exact XTRIM mark entries deleted inside their node; a node
//! goes once none of its entries is live, and approximate trimming only drops whole nodes, as
//! in Redis: OBJECT-level behaviour (XINFO's counters, MAXLEN ~ results) therefore matches.

use crate::cell::{ObjType, TypedObject};
use crate::stream_group::Group;
pub use crate::stream_node::Entry;
use crate::stream_node::Node;
use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;

/// An entry id: milliseconds and a sequence number, ordered as a pair.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The id right after this one; None for the largest.
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The id right before this one; None for 0-0.
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// How XADD/XTRIM trim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// Node thresholds (`stream-node-max-bytes`, `stream-node-max-entries`; 0 = no limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    pub max_bytes: usize,
    pub max_entries: usize,
}

impl Default for NodeLimits {
    fn default() -> NodeLimits {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

/// Redis's "invalid" entries-read counter of a group.
pub const ENTRIES_READ_INVALID: i64 = -1;

#[derive(Clone, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    len: u64,
    /// Heap bytes of the nodes' buffers.
    node_bytes: usize,
    pub last_id: StreamId,
    /// The first live entry's id as Redis maintains it (0-0 when empty).
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    /// Consumer groups by name (XINFO GROUPS lists them in name order).
    pub groups: BTreeMap<Box<[u8]>, Group>,
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Nodes of the index (XINFO STREAM's radix-tree-keys / nodes).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Appends an entry of field/value `strings`; `id` must be above `last_id`.
    pub fn append(&mut self, id: StreamId, strings: &[&[u8]], limits: NodeLimits) {
        debug_assert!(id > self.last_id || (self.entries_added == 0 && self.len == 0));
        let fits = self.nodes.iter().next_back().is_some_and(|(base, node)| {
            (limits.max_entries == 0 || node.total() < limits.max_entries)
                && (limits.max_bytes == 0
                    || node.bytes() + node.entry_len(*base, id, strings) <= limits.max_bytes)
        });
        if let Some((base, node)) = self.nodes.iter_mut().next_back() {
            let before = node.heap_bytes();
            if fits {
                node.push(*base, id, strings);
            } else {
                // No entry joins a full node again: it keeps only the bytes it uses.
                node.seal();
            }
            self.node_bytes = self.node_bytes + node.heap_bytes() - before;
        }
        if !fits {
            let node = Node::new(id, strings);
            self.node_bytes += node.heap_bytes();
            self.nodes.insert(id, node);
        }
        self.len += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.len == 1 {
            self.first_id = id;
        }
    }

    /// Calls `f` on every live entry with `start <= id <= end`, ascending (or descending when
    /// `rev`), until it returns false.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(Entry<'_>) -> bool,
    ) {
        if start > end {
            return;
        }
        if !rev {
            let from = self
                .nodes
                .range(..=start)
                .next_back()
                .map_or(StreamId::MIN, |(k, _)| *k);
            for (base, node) in self.nodes.range(from..) {
                if *base > end {
                    return;
                }
                for (_, e) in node.entries(*base) {
                    if e.id < start {
                        continue;
                    }
                    if e.id > end || !f(e) {
                        return;
                    }
                }
            }
        } else {
            let mut buf: Vec<Entry<'_>> = Vec::new();
            for (base, node) in self.nodes.range(..=end).rev() {
                if node.last_id() < start {
                    return;
                }
                buf.clear();
                buf.extend(node.entries(*base).map(|(_, e)| e));
                for e in buf.iter().rev() {
                    if e.id > end {
                        continue;
                    }
                    if e.id < start || !f(*e) {
                        return;
                    }
                }
            }
        }
    }

    /// The first (or last) live entry's id.
    pub fn edge_id(&self, last: bool) -> Option<StreamId> {
        if last {
            return self
                .nodes
                .iter()
                .rev()
                .find_map(|(base, node)| node.last_live(*base));
        }
        let mut out = None;
        self.range(StreamId::MIN, StreamId::MAX, last, |e| {
            out = Some(e.id);
            false
        });
        out
    }

    /// Calls `f` with the live entry `id`, if there is one.
    pub fn get<R>(&self, id: StreamId, f: impl FnOnce(Entry<'_>) -> R) -> Option<R> {
        let (base, node) = self.nodes.range(..=id).next_back()?;
        let (_, e) = node.entries(*base).find(|(_, e)| e.id >= id)?;
        (e.id == id).then(|| f(e))
    }

    /// Deletes one entry (no counter but the length changes); false if it is not there.
    fn delete_one(&mut self, id: StreamId) -> bool {
        let Some((base, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        if !node.delete(*base, id) {
            return false;
        }
        let base = *base;
        if node.live() == 0 {
            let node = self.nodes.remove(&base).expect("the node");
            self.node_bytes -= node.heap_bytes();
        }
        self.len -= 1;
        true
    }

    /// XDEL: deletes the entries of `ids`, updating the first id and the largest deleted id
    /// as Redis does. Returns how many were deleted.
    pub fn delete(&mut self, ids: &[StreamId]) -> usize {
        let mut deleted = 0;
        let mut first = false;
        for &id in ids {
            if self.delete_one(id) {
                first |= id == self.first_id;
                if id > self.max_deleted_id {
                    self.max_deleted_id = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.len == 0 {
                self.first_id = StreamId::MIN;
            } else if first {
                self.first_id = self.edge_id(false).unwrap_or(StreamId::MAX);
            }
        }
        deleted
    }

    /// XTRIM / XADD's trimming. Approximate trimming removes only whole nodes, and at most
    /// `limit` entries when `limit > 0`. Returns the number of entries removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        loop {
            match how {
                Trim::MaxLen(n) if self.len <= n => break,
                _ => {}
            }
            let Some((&base, node)) = self.nodes.iter().next() else {
                break;
            };
            let live = node.live() as u64;
            let whole = match how {
                Trim::MaxLen(n) => self.len - live >= n,
                Trim::MinId(min) => node.last_id() < min,
            };
            if whole {
                if limit > 0 && deleted + live > limit {
                    break;
                }
                let node = self.nodes.remove(&base).expect("the node");
                self.node_bytes -= node.heap_bytes();
                self.len -= live;
                deleted += live;
                continue;
            }
            if approx {
                break;
            }
            // Exact: delete entries of this node until the condition holds; the next node is
            // never touched (the condition holds inside this one).
            let node = self.nodes.get_mut(&base).expect("the node");
            let doomed: Vec<usize> = match how {
                Trim::MaxLen(n) => node
                    .entries(base)
                    .take((self.len - n) as usize)
                    .map(|(at, _)| at)
                    .collect(),
                Trim::MinId(min) => node
                    .entries(base)
                    .take_while(|(_, e)| e.id < min)
                    .map(|(at, _)| at)
                    .collect(),
            };
            let take = doomed.len();
            for &at in &doomed {
                node.delete_at(at);
            }
            if node.live() == 0 {
                let node = self.nodes.remove(&base).expect("the node");
                self.node_bytes -= node.heap_bytes();
            }
            self.len -= take as u64;
            deleted += take as u64;
            break;
        }
        if self.len == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge_id(false).unwrap_or(StreamId::MAX);
        }
        deleted
    }

    /// Whether an entry between `start` and `end` (open ends: the stream's) was deleted, as
    /// far as the largest deleted id tells (Redis's `streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: Option<StreamId>, end: Option<StreamId>) -> bool {
        if self.len == 0 || self.max_deleted_id.is_zero() || self.first_id > self.max_deleted_id {
            return false;
        }
        let start = start.unwrap_or(StreamId::MIN);
        let end = end.unwrap_or(StreamId::MAX);
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// The logical number of entries up to `id` since the stream began, when it can be known
    /// (Redis's `streamEstimateDistanceFromFirstEverEntry`); None when it cannot.
    pub fn entries_until(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.len == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        }
        if id > self.last_id {
            return None;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return Some(self.entries_added - self.len);
            }
            if id == self.first_id {
                return Some(self.entries_added - self.len + 1);
            }
        }
        None
    }

    /// A group's lag (entries not yet delivered to it), None when it cannot be known.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != ENTRIES_READ_INVALID
            && !self.range_has_tombstones(Some(g.last_id), None)
        {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        self.entries_until(g.last_id)
            .map(|read| self.entries_added as i64 - read as i64)
    }

    /// Moves `g`'s last-delivered id to `id` (an entry just delivered with `>`), keeping its
    /// entries-read counter as Redis does.
    pub fn advance_group(&self, g: &mut Group, id: StreamId) {
        if id <= g.last_id {
            return;
        }
        if g.entries_read != ENTRIES_READ_INVALID && !self.range_has_tombstones(Some(id), None) {
            g.entries_read += 1;
        } else if self.entries_added > 0 {
            g.entries_read = self
                .entries_until(id)
                .map_or(ENTRIES_READ_INVALID, |n| n as i64);
        }
        g.last_id = id;
    }

    /// Nodes holding live entries (RDB writes one listpack for each).
    pub fn live_node_count(&self) -> usize {
        self.nodes.values().filter(|n| n.live() > 0).count()
    }

    /// The nodes after key `after` (every node when None) that hold live entries, each as
    /// its key, live entry count and live entries (RDB writes a stream node by node).
    pub fn live_nodes_after(
        &self,
        after: Option<StreamId>,
    ) -> impl Iterator<Item = (StreamId, usize, impl Iterator<Item = Entry<'_>>)> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.nodes
            .range((from, Bound::Unbounded))
            .filter(|(_, n)| n.live() > 0)
            .map(|(k, n)| (*k, n.live(), n.entries(*k).map(|(_, e)| e)))
    }

    /// Each node's key (its first id, deleted or not) with its live entries: what an RDB
    /// payload holds per listpack.
    pub fn nodes(&self) -> impl Iterator<Item = (StreamId, impl Iterator<Item = Entry<'_>>)> {
        self.nodes
            .iter()
            .map(|(k, n)| (*k, n.entries(*k).map(|(_, e)| e)))
    }
}

impl TypedObject for Stream {
    fn obj_type(&self) -> ObjType {
        ObjType::Stream
    }

    fn heap_bytes(&self) -> usize {
        // Index entries: a node key, the node header and the tree's share of a branch.
        const INDEX_ENTRY: usize = std::mem::size_of::<(StreamId, Node)>() + 16;
        std::mem::size_of::<Self>()
            + self.node_bytes
            + self.nodes.len() * INDEX_ENTRY
            + self
                .groups
                .iter()
                .map(|(n, g)| n.len() + g.heap_bytes())
                .sum::<usize>()
    }

    fn clone_object(&self) -> Box<dyn TypedObject> {
        Box::new(self.clone())
    }

    fn encoding_name(&self) -> &'static str {
        "stream"
    }

    /// One allocation per node, and per consumer group its own plus its pending entries (the
    /// first group's count stands for every group's, as Redis estimates it).
    fn free_effort(&self) -> usize {
        let pel = self.groups.values().next().map_or(0, |g| g.pel.len());
        self.nodes.len() + self.groups.len() * (1 + pel)
    }

    fn len(&self) -> usize {
        self.len as usize
    }

    /// A stream stays when its last entry goes (its ids and groups live on), as in Redis.
    fn is_empty(&self) -> bool {
        false
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
