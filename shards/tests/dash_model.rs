//! DashTable against a HashMap model: random insert / insert-or-assign / erase / find
//! sequences through many splits, for several segment shapes and a weak hash.

use std::collections::HashMap;

use damselfly_shards::dash::{DashPolicy, DashTable};
use damselfly_shards::FixedHasher;
use proptest::prelude::*;

/// 4 + 1 buckets: a segment holds 70 entries, so a few hundred keys split it many times.
struct Tiny;
impl DashPolicy<u64> for Tiny {
    const REGULAR_BUCKETS: usize = 4;
    const STASH_BUCKETS: usize = 1;
    fn hash_key(&self, key: &u64) -> u64 {
        FixedHasher::hash_u64(*key)
    }
}

/// 8 + 2 buckets.
struct Small;
impl DashPolicy<u64> for Small {
    const REGULAR_BUCKETS: usize = 8;
    const STASH_BUCKETS: usize = 2;
    fn hash_key(&self, key: &u64) -> u64 {
        FixedHasher::hash_u64(*key)
    }
}

/// The production shape (60 + 4).
struct Default64;
impl DashPolicy<u64> for Default64 {
    fn hash_key(&self, key: &u64) -> u64 {
        FixedHasher::hash_u64(*key)
    }
}

/// Fibonacci hashing: keys equal mod 256 share a fingerprint, so fingerprint matches that
/// are not key matches are frequent.
struct WeakHash;
impl DashPolicy<u64> for WeakHash {
    const REGULAR_BUCKETS: usize = 6;
    const STASH_BUCKETS: usize = 2;
    fn hash_key(&self, key: &u64) -> u64 {
        key.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Insert(u64, u64),
    Assign(u64, u64),
    Erase(u64),
    Find(u64),
    Check,
}

fn ops(key_max: u64) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        4 => (0..key_max, any::<u64>()).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => (0..key_max, any::<u64>()).prop_map(|(k, v)| Op::Assign(k, v)),
        2 => (0..key_max).prop_map(Op::Erase),
        2 => (0..key_max).prop_map(Op::Find),
        1 => Just(Op::Check),
    ];
    prop::collection::vec(op, 1..1500)
}

fn run<P: DashPolicy<u64>>(policy: P, ops: &[Op]) {
    let mut table: DashTable<u64, u64, P> = DashTable::new(policy);
    let mut model: HashMap<u64, u64> = HashMap::new();
    for op in ops {
        match *op {
            Op::Insert(k, v) => {
                let inserted = table.insert(k, v);
                assert_eq!(inserted, !model.contains_key(&k));
                model.entry(k).or_insert(v);
            }
            Op::Assign(k, v) => assert_eq!(table.insert_or_assign(k, v), model.insert(k, v)),
            Op::Erase(k) => assert_eq!(table.erase(&k).map(|(_, v)| v), model.remove(&k)),
            Op::Find(k) => assert_eq!(table.find(&k), model.get(&k)),
            Op::Check => check(&table, &model),
        }
        assert_eq!(table.len(), model.len());
    }
    check(&table, &model);
}

fn check<P: DashPolicy<u64>>(table: &DashTable<u64, u64, P>, model: &HashMap<u64, u64>) {
    table.check_invariants();
    let mut seen: HashMap<u64, u64> = HashMap::new();
    for (k, v) in table.iter() {
        assert!(seen.insert(*k, *v).is_none(), "iter repeats {k}");
    }
    assert_eq!(&seen, model);
    // A full cursor walk without concurrent changes visits every entry exactly once.
    let mut walked: HashMap<u64, u64> = HashMap::new();
    let mut cursor = 0;
    loop {
        cursor = table.traverse(cursor, |k, v| assert!(walked.insert(*k, *v).is_none()));
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(&walked, model);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tiny_segments_match_model(ops in ops(600)) {
        run(Tiny, &ops);
    }

    #[test]
    fn small_segments_match_model(ops in ops(2_000)) {
        run(Small, &ops);
    }

    #[test]
    fn default_segments_match_model(ops in ops(3_000)) {
        run(Default64, &ops);
    }

    #[test]
    fn weak_hash_matches_model(ops in ops(1_000)) {
        run(WeakHash, &ops);
    }
}

#[test]
fn grows_through_many_splits_and_shrinks_on_clear() {
    let mut table: DashTable<u64, u64, Tiny> = DashTable::new(Tiny);
    for k in 0..20_000 {
        assert!(table.insert(k, k * 2));
    }
    table.check_invariants();
    assert!(table.segment_count() > 300);
    assert!(
        table.displaced_entries() > 0,
        "full buckets push entries forward"
    );
    assert!(table.global_depth() >= 9);
    for k in (0..20_000).step_by(2) {
        assert_eq!(table.erase(&k), Some((k, k * 2)));
    }
    for k in 0..20_000 {
        assert_eq!(table.find(&k).copied(), (k % 2 == 1).then_some(k * 2));
    }
    table.check_invariants();
    table.clear();
    assert_eq!(table.len(), 0);
    assert_eq!(table.segment_count(), 1);
    assert!(table.insert(7, 7));
    assert_eq!(table.find(&7), Some(&7));
}

#[test]
fn default_shape_fills_most_of_a_segment_before_splitting() {
    let mut table: DashTable<u64, u64, Default64> = DashTable::new(Default64);
    let mut k = 0;
    while table.segment_count() == 1 {
        table.insert(k, k);
        k += 1;
    }
    // 960 slots; home/next placement, displacement and the stash fill over 90%.
    assert!(k > 870, "first split after {k} inserts");
}

/// Segments grow through a ladder of sizes (~1.2x steps) instead of all splitting at once, so
/// the load factor stays high at every table size, not only just before a wave of splits.
#[test]
fn load_factor_stays_high_at_every_size() {
    let mut table: DashTable<u64, u64, Default64> = DashTable::new(Default64);
    let mut lowest = 1.0f64;
    for k in 0..400_000u64 {
        table.insert(k, k);
        if k >= 20_000 && k % 1_000 == 0 {
            lowest = lowest.min(table.len() as f64 / table.capacity() as f64);
        }
    }
    table.check_invariants();
    assert!(lowest > 0.7, "load factor fell to {lowest:.3}");
}
