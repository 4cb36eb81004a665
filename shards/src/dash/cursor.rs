//! Split-proof traversal for SCAN and snapshots.
//!
//! A cursor is `segment_start | bucket`: the high bits are the first hash of a segment's
//! range (a position in hash space, independent of the directory's depth) and the low 8 bits
//! are the next bucket to visit in that segment. Why nothing present for the whole walk is
//! missed:
//! - entries move inside a segment only to a higher bucket index (displacement takes an
//!   entry from its home bucket b to b + 1, never wrapping to 0; nothing leaves the stash),
//!   so an entry the cursor has not reached yet stays ahead of it;
//! - a split keeps the lower half of the range in the old segment, with its entries in place,
//!   and moves the upper half's entries to a new segment whose range starts where the old
//!   one's ends now, so the walk reaches it after the old one and visits it whole;
//! - directory doubling does not change hash positions.
//!
//! Entries may be visited twice (a split behind the cursor), like Redis's SCAN.

use super::{BucketId, BucketRef, DashPolicy, DashTable};

const BUCKET_BITS: u32 = 8;
const BUCKET_MASK: u64 = (1 << BUCKET_BITS) - 1;

/// First hash position after the range of a segment of `local_depth` containing `position`.
fn next_segment_start(position: u64, local_depth: u32) -> Option<u64> {
    if local_depth == 0 {
        return None;
    }
    let step = 1u64 << (64 - local_depth);
    (position & !(step - 1)).checked_add(step)
}

impl<K, V, P: DashPolicy<K>> DashTable<K, V, P> {
    /// Visits the next non-empty bucket at or after `cursor` (0 starts a walk) and returns
    /// the cursor to continue from, 0 when the walk is complete.
    pub fn traverse_buckets(&self, cursor: u64, mut visit: impl FnMut(BucketRef<'_, K, V>)) -> u64 {
        let total = self.shape.total();
        let mut position = cursor & !BUCKET_MASK;
        let mut next_bucket = (cursor & BUCKET_MASK) as usize;
        loop {
            let segment_id = self.segment_of(position);
            let segment = &self.segments[segment_id];
            while next_bucket < total {
                let bucket = &segment.buckets[next_bucket];
                let id = BucketId {
                    segment: segment_id as u32,
                    bucket: next_bucket as u8,
                };
                next_bucket += 1;
                if !bucket.is_empty() {
                    visit(BucketRef { id, bucket });
                    return if next_bucket < total {
                        position | next_bucket as u64
                    } else {
                        next_segment_start(position, segment.local_depth).unwrap_or(0)
                    };
                }
            }
            match next_segment_start(position, segment.local_depth) {
                Some(next) => {
                    position = next;
                    next_bucket = 0;
                }
                None => return 0,
            }
        }
    }

    /// Like [`DashTable::traverse_buckets`], calling `visit` for each entry of the bucket.
    pub fn traverse(&self, cursor: u64, mut visit: impl FnMut(&K, &V)) -> u64 {
        self.traverse_buckets(cursor, |bucket| {
            for (k, v) in bucket.iter() {
                visit(k, v);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::FixedHasher;
    use std::collections::HashSet;

    struct Tiny;
    impl DashPolicy<u64> for Tiny {
        const REGULAR_BUCKETS: usize = 4;
        const STASH_BUCKETS: usize = 1;
        fn hash_key(&self, key: &u64) -> u64 {
            FixedHasher::hash_u64(*key)
        }
    }

    #[test]
    fn walk_sees_every_key_present_throughout_despite_splits() {
        let mut table: DashTable<u64, u64, Tiny> = DashTable::new(Tiny);
        for k in 0..500 {
            table.insert(k, k);
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut next_key = 1_000u64;
        let mut steps = 0;
        loop {
            cursor = table.traverse(cursor, |k, _| {
                seen.insert(*k);
            });
            // Grow the table between steps so segments behind and ahead of the cursor split.
            for _ in 0..20 {
                table.insert(next_key, 0);
                next_key += 1;
            }
            steps += 1;
            if cursor == 0 {
                break;
            }
        }
        assert!(
            table.segment_count() > 50,
            "the walk must cross many splits"
        );
        assert!(steps > 10);
        for k in 0..500 {
            assert!(seen.contains(&k), "key {k} missed");
        }
    }

    /// 16 + 1 buckets: big enough for long displacement chains, small enough to fill fast.
    struct Chains;
    impl DashPolicy<u64> for Chains {
        const REGULAR_BUCKETS: usize = 16;
        const STASH_BUCKETS: usize = 1;
        fn hash_key(&self, key: &u64) -> u64 {
            FixedHasher::hash_u64(*key)
        }
    }

    /// Inserts between cursor steps move entries forward (displacement) in the segment being
    /// walked; the walk still sees every key present throughout, for many starting fills.
    #[test]
    fn walk_sees_every_key_despite_displacement() {
        for seed in 0..40u64 {
            let mut table: DashTable<u64, u64, Chains> = DashTable::new(Chains);
            let initial = 150 + seed * 2;
            let base = seed << 32;
            for k in base..base + initial {
                table.insert(k, k);
            }
            let displaced_before = table.displaced_entries();
            let mut seen = HashSet::new();
            let mut cursor = 0;
            let mut next_key = base + 1_000_000;
            loop {
                cursor = table.traverse(cursor, |k, _| {
                    seen.insert(*k);
                });
                for _ in 0..3 {
                    table.insert(next_key, 0);
                    next_key += 1;
                }
                if cursor == 0 {
                    break;
                }
            }
            assert!(table.displaced_entries() > displaced_before || seed > 0);
            for k in base..base + initial {
                assert!(seen.contains(&k), "seed {seed}: key {k} missed");
            }
            table.check_invariants();
        }
    }

    #[test]
    fn empty_table_walk_ends_at_once() {
        let table: DashTable<u64, u64, Tiny> = DashTable::new(Tiny);
        assert_eq!(table.traverse(0, |_, _| panic!("no entries")), 0);
    }

    #[test]
    fn garbage_cursor_does_not_panic() {
        let mut table: DashTable<u64, u64, Tiny> = DashTable::new(Tiny);
        for k in 0..100 {
            table.insert(k, k);
        }
        for cursor in [1u64, 255, u64::MAX, 0xdead_beef_0000_00ff] {
            let _ = table.traverse(cursor, |_, _| {});
        }
    }
}
