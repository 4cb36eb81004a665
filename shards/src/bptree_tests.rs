//! Tests of the B+ tree against a BTreeSet model.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeSet;

/// A test handle: a leaked (score, member) pair, alive for the whole test.
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
