//! Split-proof traversal for SCAN and snapshots.
//!
//! A cursor is `segment_start | generation << 8 | bucket`: the high 48 bits are the first
//! hash of a segment's range (a position in hash space, independent of the directory's
//! depth; the low 16 bits of a segment start are zero since depths stop at 48), then the
//! segment's rebuild generation when the cursor was made (8 bits, wrapping), then the next
//! bucket to visit in it. (SCAN keeps the shard index in bits 16..26, free while depths stay
//! at most 38.) Why nothing present for the whole walk is missed:
//! - between rebuilds, entries move inside a segment only to a higher bucket index
//!   (displacement takes an entry from its home bucket b to b + 1, never wrapping to 0;
//!   nothing leaves the stash), so an entry the cursor has not reached yet stays ahead of it;
//! - a rebuild (growth to the next size, or the lower half of a split) places the segment's
//!   entries anew and bumps its generation; a cursor whose generation differs starts that
//!   segment over at bucket 0. A segment position is rebuilt at most once per rung of the
//!   size ladder per depth (at most 5 rungs, 48 depths: 240 < 256 times), so the generation
//!   cannot wrap around to the cursor's between two calls;
//! - a split keeps the lower half of the range in the old segment, and moves the upper
//!   half's entries to a new segment whose range starts where the old one's ends now, so the
//!   walk reaches it after the old one and visits it whole (no cursor can point into it yet:
//!   its start was not a segment start before);
//! - directory doubling does not change hash positions.
//!
//! Entries may be visited twice (a split behind the cursor, or a rebuild of the segment the
//! cursor is in), like Redis's SCAN during a rehash.

use super::{BucketId, BucketRef, DashPolicy, DashTable};

const BUCKET_BITS: u32 = 8;
const BUCKET_MASK: u64 = (1 << BUCKET_BITS) - 1;
/// Bucket and generation.
pub(crate) const LOW_MASK: u64 = (1 << (2 * BUCKET_BITS)) - 1;

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
        let mut position = cursor & !LOW_MASK;
        let generation = ((cursor >> BUCKET_BITS) & BUCKET_MASK) as u8;
        let mut next_bucket = (cursor & BUCKET_MASK) as usize;
        if self.segments[self.segment_of(position)].generation != generation {
            next_bucket = 0; // rebuilt since the cursor was made: start the segment over
        }
        loop {
            let segment_id = self.segment_of(position);
            let segment = &self.segments[segment_id];
            let total = segment.shape.total();
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
                        position | u64::from(segment.generation) << BUCKET_BITS | next_bucket as u64
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
        let mut displaced_during_walks = 0;
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
            displaced_during_walks += table.displaced_entries() - displaced_before;
            for k in base..base + initial {
                assert!(seen.contains(&k), "seed {seed}: key {k} missed");
            }
            table.check_invariants();
        }
        assert!(
            displaced_during_walks > 100,
            "{displaced_during_walks} moves"
        );
    }

    /// Segments grown (rebuilt at the next size) between cursor steps: a cursor made before
    /// the rebuild starts the segment over, and no key present throughout is missed.
    #[test]
    fn walk_sees_every_key_despite_growth() {
        let mut restarts = 0;
        for seed in 0..30u64 {
            let mut table: DashTable<u64, u64, Chains> = DashTable::new(Chains);
            let base = seed << 32;
            let initial = 100 + seed * 7;
            for k in base..base + initial {
                table.insert(k, k);
            }
            let mut seen = HashSet::new();
            let mut cursor = 0;
            let mut next_key = base + 1_000_000;
            loop {
                let generation = |t: &DashTable<u64, u64, Chains>, c: u64| {
                    t.segments[t.segment_of(c & !LOW_MASK)].generation
                };
                let before = generation(&table, cursor);
                cursor = table.traverse(cursor, |k, _| {
                    seen.insert(*k);
                });
                for _ in 0..25 {
                    table.insert(next_key, 0);
                    next_key += 1;
                }
                if cursor != 0 && generation(&table, cursor) != before {
                    restarts += 1;
                }
                if cursor == 0 {
                    break;
                }
            }
            for k in base..base + initial {
                assert!(seen.contains(&k), "seed {seed}: key {k} missed");
            }
            table.check_invariants();
        }
        assert!(restarts > 10, "only {restarts} rebuilds under a cursor");
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
