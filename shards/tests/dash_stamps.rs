//! Per-slot stamps travel with their entries through displacement, growth and splits.

use damselfly_shards::dash::{DashPolicy, DashTable};
use damselfly_shards::FixedHasher;

/// 4 + 1 buckets: a few thousand keys grow and split segments many times.
struct Tiny;
impl DashPolicy<u64> for Tiny {
    const REGULAR_BUCKETS: usize = 4;
    const STASH_BUCKETS: usize = 1;
    fn hash_key(&self, key: &u64) -> u64 {
        FixedHasher::hash_u64(*key)
    }
}

struct Default64;
impl DashPolicy<u64> for Default64 {
    fn hash_key(&self, key: &u64) -> u64 {
        FixedHasher::hash_u64(*key)
    }
}

fn stamp_of(key: u64) -> u16 {
    (FixedHasher::hash_u64(key ^ 0x5555) as u16) | 1
}

fn check_stamps_follow<P: DashPolicy<u64>>(mut table: DashTable<u64, u64, P>, keys: u64) {
    for key in 0..keys {
        assert!(table.insert(key, key));
        let pos = table
            .find_pos_hashed(table.hash(&key), &key)
            .expect("just inserted");
        assert_eq!(table.stamp(pos), 0, "a new entry starts at 0");
        table.set_stamp(pos, stamp_of(key));
        // Erase some, so later inserts reuse slots whose stamps were set.
        if key % 7 == 3 {
            table.erase(&(key - 2));
        }
    }
    assert!(
        table.displaced_entries() > 0,
        "the walk must displace entries"
    );
    assert!(table.segment_count() > 4, "the walk must split segments");
    table.check_invariants();
    for key in 0..keys {
        let pos = table.find_pos_hashed(table.hash(&key), &key);
        if key % 7 == 1 && key + 2 < keys {
            assert!(pos.is_none());
            continue;
        }
        let pos = pos.expect("kept");
        assert_eq!(table.stamp(pos), stamp_of(key), "key {key}");
    }
}

#[test]
fn stamps_move_with_entries_tiny_segments() {
    check_stamps_follow(DashTable::with_stamps(Tiny), 5000);
}

#[test]
fn stamps_move_with_entries_default_segments() {
    check_stamps_follow(DashTable::with_stamps(Default64), 40_000);
}

#[test]
fn tables_without_stamps_read_zero_and_cost_nothing() {
    let mut plain: DashTable<u64, u64, Default64> = DashTable::new(Default64);
    let mut stamped: DashTable<u64, u64, Default64> = DashTable::with_stamps(Default64);
    for key in 0..10_000 {
        plain.insert(key, key);
        stamped.insert(key, key);
    }
    let pos = plain.find_pos_hashed(plain.hash(&5), &5).expect("present");
    plain.set_stamp(pos, 9);
    assert_eq!(plain.stamp(pos), 0);
    // Two bytes per slot, allocated per 4 KiB chunk of 120 slots.
    let slots = stamped.capacity().div_ceil(120) * 120;
    assert_eq!(
        stamped.bytes_allocated() - plain.bytes_allocated(),
        slots * 2,
        "two bytes per slot"
    );
}
