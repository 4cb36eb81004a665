//! A B+ tree of sorted-set entries ordered as Redis orders them: by score, ties by member
//! bytes. Inner nodes keep each child's entry count, so ranks are found in O(log n): rank of an
//! entry, entry at a rank, walks over a range of ranks in either direction, removal by rank.
//!
//! Entries are small `Copy` handles ([`TreeEntry`]: in the sorted set, one thin pointer to a
//! member allocation shared with the member→score table), stored packed in wide leaves, so the
//! tree costs a few bytes per entry beyond the handle itself (Dragonfly's figure: 2–3).
//! Searches by score or by member take a monotone predicate ("entry is before the bound") and
//! answer a rank: every range query is two partition points and a walk between them.

use std::cmp::Ordering;

/// A handle the tree orders: its score and member are read through it.
pub trait TreeEntry: Copy + Default {
    fn score(&self) -> f64;
    fn member(&self) -> &[u8];
}

/// Redis's order: by score (`-0 == 0`, no NaN is ever stored), then by member bytes.
#[inline]
pub fn entry_cmp<T: TreeEntry>(a: &T, b: &T) -> Ordering {
    let (sa, sb) = (a.score(), b.score());
    if sa < sb {
        Ordering::Less
    } else if sa > sb {
        Ordering::Greater
    } else {
        a.member().cmp(b.member())
    }
}

/// Entries per leaf: with 8-byte handles a leaf is 512 bytes, one allocator size class.
const LEAF_CAP: usize = 63;
const LEAF_MIN: usize = LEAF_CAP / 4;
/// Children per inner node.
const INNER_CAP: usize = 32;
const INNER_MIN: usize = INNER_CAP / 4;

struct Leaf<T> {
    len: u32,
    items: [T; LEAF_CAP],
}

struct Child<T> {
    /// The smallest entry of the child's subtree (routes searches; always a live entry).
    min: T,
    /// `min`'s score, kept here so routing compares without following the handle.
    min_score: f64,
    count: u32,
    node: Node<T>,
}

struct Inner<T> {
    /// Allocated with room for `INNER_CAP + 1` (a node overflows by one before it splits).
    children: Vec<Child<T>>,
}

enum Node<T> {
    Leaf(Box<Leaf<T>>),
    Inner(Box<Inner<T>>),
}

pub struct BPTree<T> {
    root: Option<Node<T>>,
    len: usize,
    leaves: usize,
    inners: usize,
}

impl<T: TreeEntry> Default for BPTree<T> {
    fn default() -> Self {
        BPTree::new()
    }
}

impl<T> Leaf<T> {
    fn items(&self) -> &[T] {
        &self.items[..self.len as usize]
    }
}

impl<T: TreeEntry> Leaf<T> {
    fn new() -> Box<Leaf<T>> {
        Box::new(Leaf {
            len: 0,
            items: [T::default(); LEAF_CAP],
        })
    }

    fn insert_at(&mut self, pos: usize, e: T) {
        let len = self.len as usize;
        debug_assert!(len < LEAF_CAP);
        self.items.copy_within(pos..len, pos + 1);
        self.items[pos] = e;
        self.len += 1;
    }

    fn remove_at(&mut self, pos: usize) -> T {
        let len = self.len as usize;
        let e = self.items[pos];
        self.items.copy_within(pos + 1..len, pos);
        self.len -= 1;
        e
    }
}

impl<T: TreeEntry> Inner<T> {
    fn new() -> Box<Inner<T>> {
        Box::new(Inner {
            children: Vec::with_capacity(INNER_CAP + 1),
        })
    }

    /// The child a search for `e` descends into: the last whose minimum is not above `e`.
    fn route(&self, e: &T) -> usize {
        let n = self.children.len();
        let after =
            self.children[1..].partition_point(|c| entry_cmp(&c.min, e) != Ordering::Greater);
        after.min(n - 1)
    }

    /// The child holding rank `r`, and the rank inside it.
    fn route_rank(&self, mut r: usize) -> (usize, usize) {
        for (i, c) in self.children.iter().enumerate() {
            if r < c.count as usize {
                return (i, r);
            }
            r -= c.count as usize;
        }
        unreachable!("rank checked against the tree's length")
    }
}

impl<T: TreeEntry> Child<T> {
    fn new(min: T, count: u32, node: Node<T>) -> Child<T> {
        Child {
            min,
            min_score: min.score(),
            count,
            node,
        }
    }

    fn set_min(&mut self, min: T) {
        self.min = min;
        self.min_score = min.score();
    }
}

impl<T: TreeEntry> Node<T> {
    fn count(&self) -> usize {
        match self {
            Node::Leaf(l) => l.len as usize,
            Node::Inner(n) => n.children.iter().map(|c| c.count as usize).sum(),
        }
    }

    fn first(&self) -> T {
        match self {
            Node::Leaf(l) => l.items[0],
            Node::Inner(n) => n.children[0].min,
        }
    }

    /// Fan-out (leaf entries or inner children), for underflow checks.
    fn width(&self) -> usize {
        match self {
            Node::Leaf(l) => l.len as usize,
            Node::Inner(n) => n.children.len(),
        }
    }

    fn underfull(&self) -> bool {
        match self {
            Node::Leaf(l) => (l.len as usize) < LEAF_MIN,
            Node::Inner(n) => n.children.len() < INNER_MIN,
        }
    }
}

/// What a removal is looking for.
enum Target<T> {
    Entry(T),
    Rank(usize),
}

/// A split-off right sibling: its node, entry count and first entry.
type Split<T> = Option<Child<T>>;

impl<T: TreeEntry> BPTree<T> {
    pub fn new() -> BPTree<T> {
        BPTree {
            root: None,
            len: 0,
            leaves: 0,
            inners: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the nodes take on the heap (not counting `size_of::<BPTree>()`), O(1).
    pub fn heap_bytes(&self) -> usize {
        self.leaves * std::mem::size_of::<Leaf<T>>()
            + self.inners
                * (std::mem::size_of::<Inner<T>>()
                    + (INNER_CAP + 1) * std::mem::size_of::<Child<T>>())
    }

    /// Inserts `e`, which must not be in the tree (the caller's member table ensures that).
    pub fn insert(&mut self, e: T) {
        self.len += 1;
        let Some(root) = self.root.as_mut() else {
            let mut leaf = Leaf::new();
            leaf.insert_at(0, e);
            self.leaves += 1;
            self.root = Some(Node::Leaf(leaf));
            return;
        };
        let (leaves, inners) = (&mut self.leaves, &mut self.inners);
        if let Some(right) = insert_into(root, e, leaves, inners) {
            let left = self.root.take().expect("root exists");
            let mut top = Inner::new();
            self.inners += 1;
            top.children
                .push(Child::new(left.first(), left.count() as u32, left));
            top.children.push(right);
            self.root = Some(Node::Inner(top));
        }
    }

    /// Removes the entry equal to `e` (same score and member); false when absent.
    pub fn remove(&mut self, e: &T) -> bool {
        self.remove_target(Target::Entry(*e)).is_some()
    }

    /// Removes and returns the entry at rank `r` (0-based, ascending).
    pub fn remove_at(&mut self, r: usize) -> Option<T> {
        if r >= self.len {
            return None;
        }
        self.remove_target(Target::Rank(r))
    }

    fn remove_target(&mut self, target: Target<T>) -> Option<T> {
        let root = self.root.as_mut()?;
        let (leaves, inners) = (&mut self.leaves, &mut self.inners);
        let removed = remove_from(root, &target, leaves, inners)?;
        self.len -= 1;
        // Shrink from the top: an inner root with one child gives way to it.
        loop {
            match self.root.take() {
                Some(Node::Inner(mut n)) if n.children.len() == 1 => {
                    self.inners -= 1;
                    self.root = Some(n.children.pop().expect("one child").node);
                }
                Some(Node::Leaf(l)) if l.len == 0 => {
                    self.leaves -= 1;
                    self.root = None;
                    break;
                }
                other => {
                    self.root = other;
                    break;
                }
            }
        }
        Some(removed)
    }

    /// Removes ranks `from..to` (clamped), returning the removed entries to `f` in order.
    pub fn remove_range(&mut self, from: usize, to: usize, mut f: impl FnMut(T)) {
        let to = to.min(self.len);
        for _ in from.min(to)..to {
            let e = self.remove_at(from).expect("rank within the tree");
            f(e);
        }
    }

    /// How many leading entries satisfy `before`, a predicate true for a prefix of the order
    /// and false after it ("is this entry before the bound?").
    pub fn partition(&self, before: impl Fn(&T) -> bool) -> usize {
        let mut node = match &self.root {
            None => return 0,
            Some(n) => n,
        };
        let mut rank = 0;
        loop {
            match node {
                Node::Leaf(l) => return rank + l.items().partition_point(&before),
                Node::Inner(n) => {
                    // Children whose minimum is before the bound: all but the last are wholly so.
                    let k = n.children.partition_point(|c| before(&c.min));
                    if k == 0 {
                        return rank;
                    }
                    rank += n.children[..k - 1]
                        .iter()
                        .map(|c| c.count as usize)
                        .sum::<usize>();
                    node = &n.children[k - 1].node;
                }
            }
        }
    }

    /// The 0-based ascending rank of `e` if it is in the tree.
    pub fn rank(&self, e: &T) -> Option<usize> {
        let r = self.partition(|x| entry_cmp(x, e) == Ordering::Less);
        let found = self.get(r)?;
        (entry_cmp(&found, e) == Ordering::Equal).then_some(r)
    }

    /// The entry at ascending rank `r`.
    pub fn get(&self, mut r: usize) -> Option<T> {
        if r >= self.len {
            return None;
        }
        let mut node = self.root.as_ref()?;
        loop {
            match node {
                Node::Leaf(l) => return Some(l.items[r]),
                Node::Inner(n) => {
                    let (i, rest) = n.route_rank(r);
                    r = rest;
                    node = &n.children[i].node;
                }
            }
        }
    }

    pub fn first(&self) -> Option<T> {
        self.get(0)
    }

    pub fn last(&self) -> Option<T> {
        self.len.checked_sub(1).and_then(|r| self.get(r))
    }

    /// Calls `f` on the entries of ranks `from..to` (clamped), ascending, or descending from
    /// `to - 1` when `rev`; stops early when `f` returns false.
    pub fn walk(&self, from: usize, to: usize, rev: bool, mut f: impl FnMut(T) -> bool) {
        let to = to.min(self.len);
        if from >= to {
            return;
        }
        if let Some(root) = &self.root {
            walk_node(root, from, to, rev, &mut f);
        }
    }

    /// Every entry in order.
    pub fn for_each(&self, f: impl FnMut(T) -> bool) {
        self.walk(0, self.len, false, f)
    }

    /// Checks the structure (counts, minimums, order, fill); for tests.
    pub fn check(&self) {
        let mut seen = 0;
        let mut prev: Option<T> = None;
        let mut nodes = (0, 0);
        if let Some(root) = &self.root {
            check_node(root, true, &mut prev, &mut seen, &mut nodes);
        }
        assert_eq!(seen, self.len, "entry count");
        assert_eq!(nodes, (self.leaves, self.inners), "node counts");
    }
}

/// Returns false when `f` asked to stop.
fn walk_node<T: TreeEntry>(
    node: &Node<T>,
    from: usize,
    to: usize,
    rev: bool,
    f: &mut impl FnMut(T) -> bool,
) -> bool {
    match node {
        Node::Leaf(l) => {
            let items = &l.items[from..to];
            if rev {
                items.iter().rev().all(|&e| f(e))
            } else {
                items.iter().all(|&e| f(e))
            }
        }
        Node::Inner(n) => {
            // Each child covers ranks base..base+count; visit those overlapping from..to.
            let mut visit = |c: &Child<T>, base: usize| {
                let end = base + c.count as usize;
                if end <= from || base >= to {
                    return true;
                }
                walk_node(
                    &c.node,
                    from.saturating_sub(base),
                    to.min(end) - base,
                    rev,
                    f,
                )
            };
            if rev {
                let mut top: usize = n.children.iter().map(|c| c.count as usize).sum();
                for c in n.children.iter().rev() {
                    if top <= from {
                        break;
                    }
                    top -= c.count as usize;
                    if !visit(c, top) {
                        return false;
                    }
                }
            } else {
                let mut base = 0;
                for c in n.children.iter() {
                    if base >= to {
                        break;
                    }
                    if !visit(c, base) {
                        return false;
                    }
                    base += c.count as usize;
                }
            }
            true
        }
    }
}

/// Inserts into the subtree; a node that overflowed returns its new right sibling.
fn insert_into<T: TreeEntry>(
    node: &mut Node<T>,
    e: T,
    leaves: &mut usize,
    inners: &mut usize,
) -> Split<T> {
    match node {
        Node::Leaf(l) => {
            let pos = l
                .items()
                .partition_point(|x| entry_cmp(x, &e) == Ordering::Less);
            let len = l.len as usize;
            if len < LEAF_CAP {
                l.insert_at(pos, e);
                return None;
            }
            // Full: split. Appends at either end keep the old leaf full (ascending or
            // descending loads then fill leaves completely); otherwise halve.
            let mut right = Leaf::new();
            *leaves += 1;
            if pos == len {
                right.insert_at(0, e);
            } else {
                let mid = if pos == 0 { 0 } else { len / 2 };
                let moved = len - mid;
                right.items[..moved].copy_from_slice(&l.items[mid..len]);
                right.len = moved as u32;
                l.len = mid as u32;
                if pos <= mid {
                    l.insert_at(pos, e);
                } else {
                    right.insert_at(pos - mid, e);
                }
            }
            Some(Child::new(right.items[0], right.len, Node::Leaf(right)))
        }
        Node::Inner(n) => {
            let i = n.route(&e);
            let child = &mut n.children[i];
            child.count += 1;
            if entry_cmp(&e, &child.min) == Ordering::Less {
                child.set_min(e);
            }
            let split = insert_into(&mut child.node, e, leaves, inners)?;
            let c = &mut n.children[i];
            c.count -= split.count;
            n.children.insert(i + 1, split);
            if n.children.len() <= INNER_CAP {
                return None;
            }
            let mut right = Inner::new();
            *inners += 1;
            let mid = n.children.len() / 2;
            right.children.extend(n.children.drain(mid..));
            let count = right.children.iter().map(|c| c.count).sum();
            Some(Child::new(right.children[0].min, count, Node::Inner(right)))
        }
    }
}

/// Removes the target from the subtree; the caller fixes this node's underflow.
fn remove_from<T: TreeEntry>(
    node: &mut Node<T>,
    target: &Target<T>,
    leaves: &mut usize,
    inners: &mut usize,
) -> Option<T> {
    match node {
        Node::Leaf(l) => {
            let pos = match target {
                Target::Rank(r) => *r,
                Target::Entry(e) => {
                    let p = l
                        .items()
                        .partition_point(|x| entry_cmp(x, e) == Ordering::Less);
                    if p >= l.len as usize || entry_cmp(&l.items[p], e) != Ordering::Equal {
                        return None;
                    }
                    p
                }
            };
            Some(l.remove_at(pos))
        }
        Node::Inner(n) => {
            let (i, sub) = match target {
                Target::Entry(e) => (n.route(e), Target::Entry(*e)),
                Target::Rank(r) => {
                    let (i, rest) = n.route_rank(*r);
                    (i, Target::Rank(rest))
                }
            };
            let removed = remove_from(&mut n.children[i].node, &sub, leaves, inners)?;
            let c = &mut n.children[i];
            c.count -= 1;
            if c.count > 0 {
                let first = c.node.first();
                c.set_min(first);
            }
            if c.node.underfull() {
                rebalance(n, i, leaves, inners);
            }
            Some(removed)
        }
    }
}

/// Child `i` of `n` is under its minimum fill: merge it with a sibling, or even them out.
fn rebalance<T: TreeEntry>(n: &mut Inner<T>, i: usize, leaves: &mut usize, inners: &mut usize) {
    if n.children.len() < 2 {
        return;
    }
    let (l, r) = if i + 1 < n.children.len() {
        (i, i + 1)
    } else {
        (i - 1, i)
    };
    let (left_part, right_part) = n.children.split_at_mut(r);
    let (a, b) = (&mut left_part[l], &mut right_part[0]);
    let fits = match (&a.node, &b.node) {
        (Node::Leaf(x), Node::Leaf(y)) => (x.len + y.len) as usize <= LEAF_CAP,
        (Node::Inner(x), Node::Inner(y)) => x.children.len() + y.children.len() <= INNER_CAP,
        _ => unreachable!("siblings are at the same height"),
    };
    match (&mut a.node, &mut b.node) {
        (Node::Leaf(x), Node::Leaf(y)) => {
            let (xl, yl) = (x.len as usize, y.len as usize);
            if fits {
                x.items[xl..xl + yl].copy_from_slice(&y.items[..yl]);
                x.len += y.len;
                y.len = 0;
            } else {
                // Even out: both end up with at least LEAF_MIN entries.
                let total = xl + yl;
                let want = total / 2;
                if xl < want {
                    let k = want - xl;
                    x.items[xl..want].copy_from_slice(&y.items[..k]);
                    y.items.copy_within(k..yl, 0);
                } else {
                    let k = xl - want;
                    y.items.copy_within(0..yl, k);
                    y.items[..k].copy_from_slice(&x.items[want..xl]);
                }
                x.len = want as u32;
                y.len = (total - want) as u32;
            }
        }
        (Node::Inner(x), Node::Inner(y)) => {
            if fits {
                x.children.append(&mut y.children);
            } else {
                let total = x.children.len() + y.children.len();
                let want = total / 2;
                if x.children.len() < want {
                    let k = want - x.children.len();
                    x.children.extend(y.children.drain(..k));
                } else {
                    let moved: Vec<Child<T>> = x.children.drain(want..).collect();
                    y.children.splice(0..0, moved);
                }
            }
        }
        _ => unreachable!("siblings are at the same height"),
    }
    a.count = a.node.count() as u32;
    b.count = b.node.count() as u32;
    if a.count > 0 {
        let first = a.node.first();
        a.set_min(first);
    }
    if fits {
        let gone = n.children.remove(r);
        match gone.node {
            Node::Leaf(_) => *leaves -= 1,
            Node::Inner(_) => *inners -= 1,
        }
    } else {
        let b = &mut n.children[r];
        let first = b.node.first();
        b.set_min(first);
    }
    debug_assert!(n.children.iter().all(|c| c.node.width() > 0));
}

fn check_node<T: TreeEntry>(
    node: &Node<T>,
    is_root: bool,
    prev: &mut Option<T>,
    seen: &mut usize,
    nodes: &mut (usize, usize),
) -> usize {
    match node {
        Node::Leaf(l) => {
            nodes.0 += 1;
            assert!(is_root || l.len as usize >= LEAF_MIN.min(1), "empty leaf");
            for e in l.items() {
                if let Some(p) = prev {
                    assert_eq!(entry_cmp(p, e), Ordering::Less, "order");
                }
                *prev = Some(*e);
                *seen += 1;
            }
            l.len as usize
        }
        Node::Inner(n) => {
            nodes.1 += 1;
            assert!(is_root && n.children.len() >= 2 || n.children.len() >= INNER_MIN.min(2));
            assert!(n.children.len() <= INNER_CAP);
            let mut total = 0;
            for c in &n.children {
                assert_eq!(entry_cmp(&c.min, &c.node.first()), Ordering::Equal, "min");
                assert_eq!(
                    c.min_score.to_bits(),
                    c.min.score().to_bits(),
                    "cached score"
                );
                let k = check_node(&c.node, false, prev, seen, nodes);
                assert_eq!(k, c.count as usize, "child count");
                total += k;
            }
            total
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// A test handle: an index into a table of (score, member) kept alive for the test.
    #[derive(Clone, Copy, Debug)]
    struct E(&'static (f64, Vec<u8>));

    impl Default for E {
        fn default() -> Self {
            E(&DEFAULT_ENTRY)
        }
    }
    static DEFAULT_ENTRY: (f64, Vec<u8>) = (0.0, Vec::new());

    impl TreeEntry for E {
        fn score(&self) -> f64 {
            self.0 .0
        }
        fn member(&self) -> &[u8] {
            &self.0 .1
        }
    }

    fn e(score: f64, member: &[u8]) -> E {
        E(Box::leak(Box::new((score, member.to_vec()))))
    }

    /// The model's key: score as an order-preserving integer, then the member.
    fn model_key(score: f64, m: &[u8]) -> (i64, Vec<u8>) {
        let bits = score.to_bits() as i64;
        let ordered = if bits < 0 { bits ^ i64::MAX } else { bits };
        (ordered, m.to_vec())
    }

    fn check_against(t: &BPTree<E>, model: &BTreeSet<(i64, Vec<u8>)>) {
        t.check();
        assert_eq!(t.len(), model.len());
        let mut got = Vec::new();
        t.for_each(|x| {
            got.push(model_key(x.score(), x.member()));
            true
        });
        let want: Vec<_> = model.iter().cloned().collect();
        assert_eq!(got, want);
    }

    #[test]
    fn sequential_loads_fill_leaves() {
        let mut t = BPTree::new();
        for i in 0..10_000 {
            t.insert(e(i as f64, b"m"));
        }
        t.check();
        assert!(t.leaves <= 10_000 / LEAF_CAP + 2, "{} leaves", t.leaves);
        for i in (0..10_000).rev() {
            assert_eq!(t.get(i).unwrap().score(), i as f64);
        }
        let mut t2 = BPTree::new();
        for i in (0..10_000).rev() {
            t2.insert(e(i as f64, b"m"));
        }
        t2.check();
        assert!(t2.leaves <= 10_000 / LEAF_CAP + 2, "{} leaves", t2.leaves);
        t2.remove_range(100, 9_900, |_| {});
        t2.check();
        assert_eq!(t2.len(), 200);
        assert_eq!(t2.get(100).unwrap().score(), 9_900.0);
    }

    /// Three levels deep: random inserts and removals of 150,000 entries against the model,
    /// ranks checked at every 97th position.
    #[test]
    fn deep_trees_keep_counts_and_ranks() {
        let mut t = BPTree::new();
        let mut model = BTreeSet::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut handles = Vec::new();
        for _ in 0..150_000 {
            let (score, m) = ((next() % 5000) as f64, (next() % 1000).to_be_bytes());
            if model.insert(model_key(score, &m)) {
                let h = e(score, &m);
                t.insert(h);
                handles.push(h);
            }
        }
        assert!(
            t.inners > INNER_CAP,
            "three levels: {} inner nodes",
            t.inners
        );
        for (i, h) in handles.iter().enumerate() {
            if i % 3 != 0 {
                model.remove(&model_key(h.score(), h.member()));
                assert!(t.remove(h));
            }
        }
        check_against(&t, &model);
        for (r, k) in model.iter().enumerate().step_by(97) {
            let got = t.get(r).unwrap();
            assert_eq!(&model_key(got.score(), got.member()), k);
            assert_eq!(t.rank(&got), Some(r));
        }
    }

    #[test]
    fn walks_both_ways_and_stops() {
        let mut t = BPTree::new();
        for i in 0..1000 {
            t.insert(e((i % 7) as f64, format!("{i:04}").as_bytes()));
        }
        let mut all = Vec::new();
        t.for_each(|x| {
            all.push(x);
            true
        });
        for (from, to) in [
            (0, 1000),
            (5, 6),
            (63, 700),
            (999, 1000),
            (10, 5),
            (0, 2000),
        ] {
            let mut fwd = Vec::new();
            t.walk(from, to, false, |x| {
                fwd.push(x.member().to_vec());
                true
            });
            let want: Vec<_> = all[from.min(1000)..to.min(1000).max(from.min(1000))]
                .iter()
                .map(|x| x.member().to_vec())
                .collect();
            assert_eq!(fwd, want);
            let mut back = Vec::new();
            t.walk(from, to, true, |x| {
                back.push(x.member().to_vec());
                true
            });
            back.reverse();
            assert_eq!(back, want);
        }
        let mut n = 0;
        t.walk(0, 1000, true, |_| {
            n += 1;
            n < 10
        });
        assert_eq!(n, 10);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(i8, u8),
        Remove(i8, u8),
        RemoveRank(u16),
        RemoveRange(u16, u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<i8>(), any::<u8>()).prop_map(|(s, m)| Op::Insert(s, m)),
            3 => (any::<i8>(), any::<u8>()).prop_map(|(s, m)| Op::Remove(s, m)),
            1 => any::<u16>().prop_map(Op::RemoveRank),
            1 => (any::<u16>(), 0u16..80).prop_map(|(a, n)| Op::RemoveRange(a, n)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn matches_a_btreeset(ops in proptest::collection::vec(op(), 1..3000)) {
            let mut t: BPTree<E> = BPTree::new();
            let mut model = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Insert(s, m) => {
                        let (score, member) = (s as f64 / 4.0, [m % 64]);
                        if model.insert(model_key(score, &member)) {
                            t.insert(e(score, &member));
                        }
                    }
                    Op::Remove(s, m) => {
                        let (score, member) = (s as f64 / 4.0, [m % 64]);
                        let had = model.remove(&model_key(score, &member));
                        prop_assert_eq!(t.remove(&e(score, &member)), had);
                    }
                    Op::RemoveRank(r) => {
                        if !model.is_empty() {
                            let r = r as usize % model.len();
                            let k = model.iter().nth(r).cloned().unwrap();
                            model.remove(&k);
                            let got = t.remove_at(r).unwrap();
                            prop_assert_eq!(model_key(got.score(), got.member()), k);
                        }
                    }
                    Op::RemoveRange(a, n) => {
                        let a = a as usize % (model.len() + 1);
                        let keys: Vec<_> = model.iter().skip(a).take(n as usize).cloned().collect();
                        for k in &keys {
                            model.remove(k);
                        }
                        let mut got = Vec::new();
                        t.remove_range(a, a + n as usize, |x| got.push(model_key(x.score(), x.member())));
                        prop_assert_eq!(got, keys);
                    }
                }
            }
            check_against(&t, &model);
            // Ranks, entries at ranks and partitions by score.
            for (r, k) in model.iter().enumerate() {
                let x = t.get(r).unwrap();
                prop_assert_eq!(&model_key(x.score(), x.member()), k);
                prop_assert_eq!(t.rank(&x), Some(r));
            }
            for bound in -40..40 {
                let b = bound as f64 / 1.5;
                let want = model.iter().filter(|k| {
                    let bits = if k.0 < 0 { k.0 ^ i64::MAX } else { k.0 };
                    f64::from_bits(bits as u64) < b
                }).count();
                prop_assert_eq!(t.partition(|x| x.score() < b), want);
            }
        }
    }
}
