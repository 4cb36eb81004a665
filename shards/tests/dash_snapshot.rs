//! Bucket versions and the pre-change hook give a point-in-time snapshot (Dragonfly's
//! version-based cut): a cursor walk serializes buckets older than the cut, the hook
//! serializes a bucket before it changes, and every entry present at the cut is serialized
//! exactly once with its value at the cut, while inserts, overwrites, erases and splits go on.

use std::collections::HashMap;

use damselfly_shards::dash::{BucketRef, DashPolicy, DashTable, TableHooks};
use damselfly_shards::FixedHasher;
use proptest::prelude::*;

struct Tiny;
impl DashPolicy<u64> for Tiny {
    const REGULAR_BUCKETS: usize = 4;
    const STASH_BUCKETS: usize = 2;
    fn hash_key(&self, key: &u64) -> u64 {
        FixedHasher::hash_u64(*key)
    }
}

struct Snapshot {
    cut: u64,
    serialized: Vec<(u64, u64)>,
}

impl Snapshot {
    fn serialize_if_old(&mut self, bucket: &BucketRef<'_, u64, u64>) -> bool {
        if bucket.version() > self.cut {
            return false;
        }
        self.serialized.extend(bucket.iter().map(|(k, v)| (*k, *v)));
        true
    }
}

impl TableHooks<u64, u64> for Snapshot {
    fn before_bucket_change(&mut self, bucket: BucketRef<'_, u64, u64>) {
        self.serialize_if_old(&bucket);
    }
}

#[derive(Clone, Debug)]
enum Op {
    Insert(u64),
    Overwrite(u64),
    Erase(u64),
    Step,
}

fn run(initial: u64, ops: &[Op]) {
    let mut table: DashTable<u64, u64, Tiny> = DashTable::new(Tiny);
    for k in 0..initial {
        table.insert(k, k);
    }
    let at_cut: HashMap<u64, u64> = table.iter().map(|(k, v)| (*k, *v)).collect();
    let cut = table.next_version();
    let mut snapshot = Snapshot {
        cut,
        serialized: Vec::new(),
    };
    let mut cursor = 0;
    let mut done = false;
    let mut stamp = 1_000_000;
    let mut ops = ops.iter().cycle().take(ops.len() * 4);
    while !done {
        match ops.next() {
            Some(Op::Insert(k)) => {
                let _ = table.insert_hashed(FixedHasher::hash_u64(*k), *k, stamp, &mut snapshot);
            }
            Some(Op::Overwrite(k)) => {
                table.insert_or_assign_hashed(FixedHasher::hash_u64(*k), *k, stamp, &mut snapshot);
            }
            Some(Op::Erase(k)) => {
                table.erase_hashed(FixedHasher::hash_u64(*k), k, &mut snapshot);
            }
            Some(Op::Step) | None => {
                let mut visited = None;
                cursor = table.traverse_buckets(cursor, |bucket| {
                    if snapshot.serialize_if_old(&bucket) {
                        visited = Some(bucket.id);
                    }
                });
                if let Some(id) = visited {
                    table.set_bucket_version(id, cut + 1);
                }
                done = cursor == 0;
            }
        }
        stamp += 1;
    }
    let mut got: HashMap<u64, u64> = HashMap::new();
    for (k, v) in &snapshot.serialized {
        assert!(got.insert(*k, *v).is_none(), "key {k} serialized twice");
    }
    assert_eq!(got, at_cut);
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3_000u64).prop_map(Op::Insert),
        1 => (0..600u64).prop_map(Op::Overwrite),
        1 => (0..600u64).prop_map(Op::Erase),
        2 => Just(Op::Step),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn snapshot_is_point_in_time(initial in 0..600u64, ops in prop::collection::vec(op(), 1..400)) {
        run(initial, &ops);
    }
}

#[test]
fn versions_increase_on_every_change() {
    let mut table: DashTable<u64, u64, Tiny> = DashTable::new(Tiny);
    table.insert(1, 1);
    let pos = table.find_pos_hashed(FixedHasher::hash_u64(1), &1).unwrap();
    let before = table.bucket(pos.bucket_id()).version();
    table.insert_or_assign(1, 2);
    let after = table.bucket(pos.bucket_id()).version();
    assert!(after > before);
    assert_eq!(after, table.current_version());
}
