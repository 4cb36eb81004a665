//! The sorted-set value (ObjType::ZSet) in its two encodings, as Redis 7.0 keeps them:
//!
//! - **listpack**: (member, score) pairs in one [`Listpack`], sorted by (score, member), while
//!   the set has at most `zset-max-listpack-entries` members of at most
//!   `zset-max-listpack-value` bytes. Scores are stored as their shortest text (an integral
//!   score as an integer entry).
//! - **skiplist** (OBJECT ENCODING's name, as Redis answers it): a [`BPTree`] of
//!   [`ZEntry`] handles ordered by (score, member) with ranks, plus a [`MemberTable`] of the
//!   same handles for member → score. Each member lives in one allocation.
//!
//! A write that crosses a threshold converts to the large encoding, never back (as Redis).
//! Every query is phrased with ranks: `partition` finds where a bound falls, `walk` visits
//! a span of ranks either way, `remove_ranks` deletes one.

use crate::bptree::{BPTree, TreeEntry};
use crate::cell::{ObjType, TypedObject};
use crate::limits::CollectionLimits;
use crate::listpack::{Listpack, LpValue};
use crate::zset_table::{MemberTable, ZEntry};
use std::any::Any;
use std::io::Write;

/// The large encoding.
#[derive(Default)]
struct Sorted {
    tree: BPTree<ZEntry>,
    table: MemberTable,
    /// Bytes of the member allocations.
    entry_bytes: usize,
}

enum Enc {
    Packed(Listpack),
    Sorted(Box<Sorted>),
}

pub struct ZSetValue {
    enc: Enc,
}

/// What [`ZSetValue::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Inserted {
    Added,
    /// The member existed with this other score.
    Updated(f64),
    /// The member existed with this score already.
    Unchanged,
}

/// The bytes of a listpack entry; integers are formatted into `scratch`.
fn lp_bytes<'a>(v: LpValue<'a>, scratch: &'a mut [u8; 24]) -> &'a [u8] {
    match v {
        LpValue::Str(s) => s,
        LpValue::Int(i) => {
            let mut w = &mut scratch[..];
            write!(w, "{i}").expect("an i64 fits 24 bytes");
            let n = 24 - w.len();
            &scratch[..n]
        }
    }
}

fn lp_score(v: LpValue<'_>) -> f64 {
    match v {
        LpValue::Int(i) => i as f64,
        LpValue::Str(s) => std::str::from_utf8(s)
            .ok()
            .and_then(|t| t.parse().ok())
            .expect("a stored score parses"),
    }
}

/// A score's stored text: integral scores as integers (stored compactly), others in the
/// shortest form that reads back to the same double. -0 is stored as 0, as Redis's listpack
/// does (its ZSCORE then answers 0).
fn score_text(score: f64, buf: &mut [u8; 32]) -> &[u8] {
    let mut w = &mut buf[..];
    if score.fract() == 0.0 && score.abs() < 1e15 {
        write!(w, "{}", score as i64).expect("fits");
    } else {
        write!(w, "{score:e}").expect("fits");
    }
    let n = 32 - w.len();
    &buf[..n]
}

impl Sorted {
    fn insert_new(&mut self, member: &[u8], score: f64) {
        self.insert_new_hashed(member, score, MemberTable::hash(member));
    }

    fn insert_new_hashed(&mut self, member: &[u8], score: f64, hash: u64) {
        let e = ZEntry::new(member, score);
        self.entry_bytes += e.alloc_bytes();
        self.table.insert_hashed(e, hash);
        self.tree.insert(e);
    }

    fn drop_entry(&mut self, e: ZEntry) {
        self.entry_bytes -= e.alloc_bytes();
        // SAFETY: the caller removed `e` from both the table and the tree; nothing else
        // holds it.
        unsafe { e.free() };
    }
}

impl Drop for Sorted {
    fn drop(&mut self) {
        let mut all = Vec::with_capacity(self.table.len());
        self.table.for_each(|e| all.push(e));
        for e in all {
            // SAFETY: the value is going away: each entry is in both indexes exactly once and
            // is freed once here; the indexes are not used after.
            unsafe { e.free() };
        }
    }
}

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue::new()
    }
}

impl ZSetValue {
    /// An empty listpack-encoded set.
    pub fn new() -> ZSetValue {
        ZSetValue {
            enc: Enc::Packed(Listpack::new()),
        }
    }

    /// An empty set in the large encoding.
    pub fn new_sorted() -> ZSetValue {
        ZSetValue {
            enc: Enc::Sorted(Box::default()),
        }
    }

    /// The encoding a set built at once (ZADD's first member, a store's result) starts in:
    /// `count` members, the longest of `max_len` bytes.
    pub fn for_size(count: usize, max_len: usize, limits: &CollectionLimits) -> ZSetValue {
        if count > limits.zset_max_listpack_entries || max_len > limits.zset_max_listpack_value {
            ZSetValue::new_sorted()
        } else {
            ZSetValue::new()
        }
    }

    pub fn is_packed(&self) -> bool {
        matches!(self.enc, Enc::Packed(_))
    }

    pub fn len(&self) -> usize {
        match &self.enc {
            Enc::Packed(lp) => lp.len() / 2,
            Enc::Sorted(s) => s.tree.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Position of `member`'s entry in the listpack, with its score.
    fn packed_find(lp: &Listpack, member: &[u8]) -> Option<(crate::listpack::LpPos, f64)> {
        let first = lp.first()?;
        let p = lp.find(first, member, 1)?;
        let s = lp.next(p).expect("a member is followed by its score");
        Some((p, lp_score(lp.get(s))))
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.enc {
            Enc::Packed(lp) => Self::packed_find(lp, member).map(|(_, s)| s),
            Enc::Sorted(s) => s.table.find(member).map(|e| e.score()),
        }
    }

    /// Sets `member`'s score (adding it when new), converting to the large encoding when the
    /// set outgrows `limits`. `score` is never NaN.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &CollectionLimits) -> Inserted {
        match &mut self.enc {
            Enc::Packed(lp) => {
                if let Some((p, old)) = Self::packed_find(lp, member) {
                    if old == score {
                        return Inserted::Unchanged;
                    }
                    // Delete the pair and re-insert it at its new place.
                    let s = lp.delete(p).expect("score follows");
                    lp.delete(s);
                    Self::packed_insert(lp, member, score);
                    return Inserted::Updated(old);
                }
                if lp.len() / 2 < limits.zset_max_listpack_entries
                    && member.len() <= limits.zset_max_listpack_value
                {
                    Self::packed_insert(lp, member, score);
                    return Inserted::Added;
                }
                self.convert();
                self.insert(member, score, limits)
            }
            Enc::Sorted(s) => {
                // The member's hash, computed once for the lookup and the insertion.
                let h = MemberTable::hash(member);
                match s.table.find_hashed(member, h) {
                    Some(e) => {
                        let old = e.score();
                        if old == score {
                            return Inserted::Unchanged;
                        }
                        s.tree.remove(&e);
                        e.set_score(score);
                        s.tree.insert(e);
                        Inserted::Updated(old)
                    }
                    None => {
                        s.insert_new_hashed(member, score, h);
                        Inserted::Added
                    }
                }
            }
        }
    }

    /// Inserts a pair (member absent) at its sorted place.
    fn packed_insert(lp: &mut Listpack, member: &[u8], score: f64) {
        let mut buf = [0u8; 32];
        let text = score_text(score, &mut buf);
        let mut scratch = [0u8; 24];
        let mut at = lp.first();
        while let Some(p) = at {
            let sp = lp.next(p).expect("score follows");
            let s = lp_score(lp.get(sp));
            if s > score || (s == score && lp_bytes(lp.get(p), &mut scratch) > member) {
                break;
            }
            at = lp.next(sp);
        }
        match at {
            Some(p) => {
                // The new member takes `p`'s place; its score goes right after it.
                lp.insert_before(p, member);
                lp.insert_after(p, text);
            }
            None => {
                lp.push_back(member);
                lp.push_back(text);
            }
        }
    }

    fn convert(&mut self) {
        let Enc::Packed(lp) = &self.enc else {
            return;
        };
        let mut sorted = Box::<Sorted>::default();
        let mut it = lp.iter();
        let mut scratch = [0u8; 24];
        while let (Some(m), Some(s)) = (it.next(), it.next()) {
            sorted.insert_new(lp_bytes(m, &mut scratch), lp_score(s));
        }
        self.enc = Enc::Sorted(sorted);
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.enc {
            Enc::Packed(lp) => match Self::packed_find(lp, member) {
                Some((p, _)) => {
                    let s = lp.delete(p).expect("score follows");
                    lp.delete(s);
                    true
                }
                None => false,
            },
            Enc::Sorted(s) => match s.table.remove(member) {
                Some(e) => {
                    s.tree.remove(&e);
                    s.drop_entry(e);
                    true
                }
                None => false,
            },
        }
    }

    /// Ascending 0-based rank of `member`, with its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match &self.enc {
            Enc::Packed(lp) => {
                let mut scratch = [0u8; 24];
                let mut it = lp.iter();
                let mut r = 0;
                while let (Some(m), Some(s)) = (it.next(), it.next()) {
                    if lp_bytes(m, &mut scratch) == member {
                        return Some((r, lp_score(s)));
                    }
                    r += 1;
                }
                None
            }
            Enc::Sorted(s) => {
                let e = s.table.find(member)?;
                Some((s.tree.rank(&e).expect("indexes agree"), e.score()))
            }
        }
    }

    /// How many leading entries (ascending) satisfy `before(score, member)`, a predicate true
    /// for a prefix of the order.
    pub fn partition(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.enc {
            Enc::Packed(lp) => {
                let mut scratch = [0u8; 24];
                let mut it = lp.iter();
                let mut r = 0;
                while let (Some(m), Some(s)) = (it.next(), it.next()) {
                    if !before(lp_score(s), lp_bytes(m, &mut scratch)) {
                        break;
                    }
                    r += 1;
                }
                r
            }
            Enc::Sorted(s) => s.tree.partition(|e| before(e.score(), e.member())),
        }
    }

    /// Visits ranks `from..to` (clamped) ascending, or descending from `to - 1` when `rev`;
    /// stops when `f` returns false.
    pub fn walk(&self, from: usize, to: usize, rev: bool, mut f: impl FnMut(&[u8], f64) -> bool) {
        let to = to.min(self.len());
        if from >= to {
            return;
        }
        match &self.enc {
            Enc::Packed(lp) => {
                let mut scratch = [0u8; 24];
                let mut it = lp.iter();
                if rev {
                    let mut skip = self.len() - to;
                    while skip > 0 {
                        it.next_back();
                        it.next_back();
                        skip -= 1;
                    }
                    for _ in from..to {
                        let s = it.next_back().expect("pair");
                        let m = it.next_back().expect("pair");
                        if !f(lp_bytes(m, &mut scratch), lp_score(s)) {
                            return;
                        }
                    }
                } else {
                    for _ in 0..from {
                        it.next();
                        it.next();
                    }
                    for _ in from..to {
                        let m = it.next().expect("pair");
                        let s = it.next().expect("pair");
                        if !f(lp_bytes(m, &mut scratch), lp_score(s)) {
                            return;
                        }
                    }
                }
            }
            Enc::Sorted(s) => s.tree.walk(from, to, rev, |e| f(e.member(), e.score())),
        }
    }

    /// The member and score at ascending rank `r`.
    pub fn at(&self, r: usize) -> Option<(Vec<u8>, f64)> {
        let mut out = None;
        self.walk(r, r + 1, false, |m, s| {
            out = Some((m.to_vec(), s));
            false
        });
        out
    }

    /// Removes ranks `from..to` (clamped); returns how many went.
    pub fn remove_ranks(&mut self, from: usize, to: usize) -> usize {
        let to = to.min(self.len());
        if from >= to {
            return 0;
        }
        match &mut self.enc {
            Enc::Packed(lp) => {
                lp.delete_range(from * 2, (to - from) * 2);
            }
            Enc::Sorted(s) => {
                let mut gone = Vec::with_capacity(to - from);
                s.tree.remove_range(from, to, |e| gone.push(e));
                for e in gone {
                    s.table.remove(e.member()).expect("indexes agree");
                    s.drop_entry(e);
                }
            }
        }
        to - from
    }

    /// Every (member, score) in ascending order, copied out.
    pub fn to_pairs(&self) -> Vec<(Vec<u8>, f64)> {
        let mut out = Vec::with_capacity(self.len());
        self.walk(0, self.len(), false, |m, s| {
            out.push((m.to_vec(), s));
            true
        });
        out
    }

    /// One ZSCAN step: the listpack encoding returns everything (cursor 0), the large one
    /// walks its table from `cursor`.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match &self.enc {
            Enc::Packed(_) => {
                self.walk(0, self.len(), false, |m, s| {
                    f(m, s);
                    true
                });
                0
            }
            Enc::Sorted(s) => s.table.scan(cursor, count, |e| f(e.member(), e.score())),
        }
    }

    /// Checks that the indexes agree; for tests.
    pub fn check(&self) {
        if let Enc::Sorted(s) = &self.enc {
            s.tree.check();
            assert_eq!(s.tree.len(), s.table.len());
            let mut bytes = 0;
            s.tree.for_each(|e| {
                assert_eq!(s.table.find(e.member()), Some(e));
                bytes += e.alloc_bytes();
                true
            });
            assert_eq!(bytes, s.entry_bytes);
        }
    }
}

impl Clone for ZSetValue {
    fn clone(&self) -> Self {
        match &self.enc {
            Enc::Packed(lp) => ZSetValue {
                enc: Enc::Packed(lp.clone()),
            },
            Enc::Sorted(s) => {
                let mut fresh = Box::<Sorted>::default();
                s.tree.for_each(|e| {
                    fresh.insert_new(e.member(), e.score());
                    true
                });
                ZSetValue {
                    enc: Enc::Sorted(fresh),
                }
            }
        }
    }
}

impl TypedObject for ZSetValue {
    fn obj_type(&self) -> ObjType {
        ObjType::ZSet
    }

    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<ZSetValue>()
            + match &self.enc {
                Enc::Packed(lp) => lp.heap_bytes(),
                Enc::Sorted(s) => {
                    std::mem::size_of::<Sorted>()
                        + s.tree.heap_bytes()
                        + s.table.heap_bytes()
                        + s.entry_bytes
                }
            }
    }

    fn clone_object(&self) -> Box<dyn TypedObject> {
        Box::new(self.clone())
    }

    fn encoding_name(&self) -> &'static str {
        match self.enc {
            Enc::Packed(_) => "listpack",
            Enc::Sorted(_) => "skiplist",
        }
    }

    fn len(&self) -> usize {
        ZSetValue::len(self)
    }

    /// The sorted encoding frees each member; a listpack is one buffer.
    fn free_effort(&self) -> usize {
        match self.enc {
            Enc::Packed(_) => 1,
            Enc::Sorted(_) => ZSetValue::len(self),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashMap};

    fn limits(entries: usize, value: usize) -> CollectionLimits {
        CollectionLimits {
            zset_max_listpack_entries: entries,
            zset_max_listpack_value: value,
            ..CollectionLimits::default()
        }
    }

    fn ordered(score: f64) -> i64 {
        let bits = score.to_bits() as i64;
        if bits < 0 {
            bits ^ i64::MAX
        } else {
            bits
        }
    }

    fn model_pairs(m: &HashMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let set: BTreeSet<(i64, Vec<u8>)> = m
            .iter()
            .map(|(k, &s)| (ordered(s + 0.0), k.clone()))
            .collect();
        set.into_iter()
            .map(|(_, k)| {
                let s = m[&k];
                (k, s)
            })
            .collect()
    }

    #[test]
    fn scores_keep_their_exact_value_in_the_listpack() {
        let l = limits(128, 64);
        let mut z = ZSetValue::new();
        let scores = [
            0.1,
            1e100,
            -0.0,
            3.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.0 / 3.0,
            1e15,
            -7.0,
            5e-324,
        ];
        for (i, &s) in scores.iter().enumerate() {
            z.insert(format!("m{i}").as_bytes(), s, &l);
        }
        assert!(z.is_packed());
        for (i, &s) in scores.iter().enumerate() {
            let got = z.score(format!("m{i}").as_bytes()).unwrap();
            assert!(got.to_bits() == (s + 0.0).to_bits(), "{s}");
        }
        let pairs = z.to_pairs();
        assert_eq!(pairs[0].1, f64::NEG_INFINITY);
        assert_eq!(pairs.last().unwrap().1, f64::INFINITY);
    }

    #[test]
    fn converts_on_count_and_on_length() {
        let l = limits(4, 8);
        let mut z = ZSetValue::new();
        for i in 0..4 {
            z.insert(format!("{i}").as_bytes(), i as f64, &l);
        }
        assert_eq!(z.encoding_name(), "listpack");
        z.insert(b"4", 4.0, &l);
        assert_eq!(z.encoding_name(), "skiplist");
        z.check();
        let mut y = ZSetValue::new();
        y.insert(b"short", 1.0, &l);
        y.insert(b"much-longer-member", 2.0, &l);
        assert_eq!(y.encoding_name(), "skiplist");
        assert_eq!(
            y.to_pairs(),
            vec![
                (b"short".to_vec(), 1.0),
                (b"much-longer-member".to_vec(), 2.0)
            ]
        );
        let before = y.heap_bytes();
        y.remove(b"short");
        assert!(y.heap_bytes() < before);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, i8),
        Remove(u8),
        RemoveRanks(u8, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<u8>(), any::<i8>()).prop_map(|(m, s)| Op::Insert(m, s)),
            2 => any::<u8>().prop_map(Op::Remove),
            1 => (any::<u8>(), 0u8..6).prop_map(|(a, n)| Op::RemoveRanks(a, n)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn both_encodings_match_a_model(ops in proptest::collection::vec(op(), 1..400), entries in 0usize..40) {
            let l = limits(entries, 3);
            let mut z = ZSetValue::new();
            let mut model: HashMap<Vec<u8>, f64> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(m, s) => {
                        // Members of 1..=4 bytes: some cross the value limit; some integers.
                        let member = match m % 4 { 0 => format!("{}", m), 1 => format!("x{}", m % 50), 2 => format!("{}", m as i32 - 200), _ => format!("long{}", m % 9) };
                        let score = s as f64 / 2.0;
                        let old = model.insert(member.clone().into_bytes(), score);
                        let want = match old { None => Inserted::Added, Some(o) if o == score => Inserted::Unchanged, Some(o) => Inserted::Updated(o) };
                        prop_assert_eq!(z.insert(member.as_bytes(), score, &l), want);
                    }
                    Op::Remove(m) => {
                        let member = format!("x{}", m % 50).into_bytes();
                        prop_assert_eq!(z.remove(&member), model.remove(&member).is_some());
                    }
                    Op::RemoveRanks(a, n) => {
                        let pairs = model_pairs(&model);
                        let from = (a as usize).min(pairs.len());
                        let to = (from + n as usize).min(pairs.len());
                        for (k, _) in &pairs[from..to] {
                            model.remove(k);
                        }
                        prop_assert_eq!(z.remove_ranks(from, from + n as usize), to - from);
                    }
                }
                z.check();
            }
            let pairs = model_pairs(&model);
            prop_assert_eq!(z.to_pairs(), pairs.clone());
            for (r, (k, s)) in pairs.iter().enumerate() {
                prop_assert_eq!(z.rank(k), Some((r, *s)));
                prop_assert_eq!(z.score(k), Some(*s));
            }
            let mut back = Vec::new();
            z.walk(0, usize::MAX, true, |m, s| { back.push((m.to_vec(), s)); true });
            back.reverse();
            prop_assert_eq!(back, pairs.clone());
            prop_assert_eq!(z.partition(|s, _| s < 0.0), pairs.iter().filter(|p| p.1 < 0.0).count());
            let mut scanned = Vec::new();
            let mut c = 0;
            loop {
                c = z.scan(c, 5, |m, s| scanned.push((m.to_vec(), s)));
                if c == 0 { break; }
            }
            scanned.sort_by(|a, b| a.0.cmp(&b.0));
            let mut sorted_pairs = pairs;
            sorted_pairs.sort_by(|a, b| a.0.cmp(&b.0));
            prop_assert_eq!(scanned, sorted_pairs);
        }
    }
}
