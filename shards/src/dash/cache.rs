//! Cache-mode order inside buckets (the idea of Dragonfly's cache, built on this table):
//! a bucket's slots double as a ranking, slot 0 the most valuable. A hit moves its entry
//! one slot toward the front ([`DashTable::bump_up`]), so keys read again and again gather
//! at the front of their buckets, while a new key takes whatever slot is free — after an
//! eviction, the tail. Eviction takes the tail of a bucket: the key with the fewest recent
//! hits among its neighbours. Like 2Q, a new key must earn its place (hits before it reaches
//! the tail of an eviction) and one burst of new keys cannot push out keys read often,
//! since those sit ahead of every newcomer. No per-key pointer or counter is needed.
//!
//! Entries move only inside their bucket, so displacement, stash hints and the cursor's
//! guarantee (entries never move to a lower bucket, `cursor.rs`) are unaffected; every move
//! goes through the change hook, so a snapshot serializes the bucket first.

use super::bucket::BUCKET_SLOTS;
use super::table::EntryPos;
use super::{DashPolicy, DashTable, TableHooks};

impl<K, V, P: DashPolicy<K>> DashTable<K, V, P> {
    /// Moves the entry at `pos` one slot toward the front of its bucket, exchanging it with
    /// the entry there (or taking that slot if free); returns the entry's new position.
    pub fn bump_up<H: TableHooks<K, V>>(&mut self, pos: EntryPos, hooks: &mut H) -> EntryPos {
        if pos.slot == 0 {
            return pos;
        }
        let (segment, bucket) = (pos.segment as usize, pos.bucket as usize);
        self.before_change(segment, bucket, hooks);
        let shape = self.segments[segment].shape;
        let slot = pos.slot as usize;
        self.segments[segment].swap_slots(shape, bucket, slot, slot - 1);
        EntryPos {
            slot: pos.slot - 1,
            ..pos
        }
    }

    /// The entry to evict so that a new key with `hash` finds room in its own segment: the
    /// tail of the fullest bucket the key may use (its home bucket, the next one, a stash
    /// bucket; stash first on a tie, as stash entries are the overflow of the newest keys).
    /// Only entries `eligible` accepts are candidates.
    pub fn victim_for(&self, hash: u64, eligible: impl Fn(&K) -> bool) -> Option<EntryPos> {
        let segment = self.segment_of(hash);
        let seg = &self.segments[segment];
        let shape = seg.shape;
        let home = shape.home(hash);
        let buckets = (shape.regular..shape.total()).chain([shape.next(home), home]);
        let mut best: Option<(usize, usize, usize)> = None;
        for bucket in buckets {
            let b = &seg.buckets[bucket];
            if best.is_some_and(|(len, _, _)| b.len() <= len) {
                continue;
            }
            if let Some(slot) = b.last_slot_where(&eligible) {
                best = Some((b.len(), bucket, slot));
            }
        }
        let (_, bucket, slot) = best?;
        Some(EntryPos {
            segment: segment as u32,
            bucket: bucket as u8,
            slot: slot as u8,
        })
    }

    /// The tail entry of the first bucket at or after `*cursor` (in table order, wrapping)
    /// that holds an eligible entry; advances `*cursor` past that bucket. A sweep evicting
    /// one tail per bucket takes the least-hit key of each neighbourhood in turn.
    pub fn sweep_victim(
        &self,
        cursor: &mut u64,
        eligible: impl Fn(&K) -> bool,
    ) -> Option<EntryPos> {
        const SEGMENT_BUCKETS: u64 = 64;
        let segments = self.segments.len() as u64;
        let start = *cursor % (segments * SEGMENT_BUCKETS);
        let (mut segment, mut bucket) = (start / SEGMENT_BUCKETS, start % SEGMENT_BUCKETS);
        for _ in 0..=segments {
            let seg = &self.segments[segment as usize];
            while (bucket as usize) < seg.shape.total() {
                let b = &seg.buckets[bucket as usize];
                if let Some(slot) = b.last_slot_where(&eligible) {
                    *cursor = segment * SEGMENT_BUCKETS + bucket + 1;
                    debug_assert!(slot < BUCKET_SLOTS);
                    return Some(EntryPos {
                        segment: segment as u32,
                        bucket: bucket as u8,
                        slot: slot as u8,
                    });
                }
                bucket += 1;
            }
            segment = (segment + 1) % segments;
            bucket = 0;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DashPolicy, DashTable, NoHooks};

    struct Tiny;
    impl DashPolicy<u64> for Tiny {
        const REGULAR_BUCKETS: usize = 4;
        const STASH_BUCKETS: usize = 1;
        fn hash_key(&self, key: &u64) -> u64 {
            crate::FixedHasher::hash_u64(*key)
        }
    }

    #[test]
    fn bumping_moves_hit_keys_ahead_of_the_tail() {
        let mut t: DashTable<u64, u64, Tiny> = DashTable::with_stamps(Tiny);
        for k in 0..20u64 {
            t.insert(k, k);
        }
        // Hit one key many times: it reaches slot 0 of its bucket and keeps its stamp.
        let h = t.hash(&7);
        let mut pos = t.find_pos_hashed(h, &7).unwrap();
        t.set_stamp(pos, 77);
        for _ in 0..20 {
            pos = t.bump_up(pos, &mut NoHooks);
            assert_eq!(t.entry(pos), (&7, &7));
        }
        assert_eq!(pos.slot, 0);
        assert_eq!(t.stamp(pos), 77);
        assert_eq!(t.find_pos_hashed(h, &7), Some(pos));
        t.check_invariants();
        for k in 0..20u64 {
            assert_eq!(t.find(&k), Some(&k), "key {k}");
        }
        // The bucket's tail is never the bumped key while it has company.
        let bucket = t.bucket(pos.bucket_id());
        if bucket.len() > 1 {
            let mut cursor = u64::from(pos.segment) * 64 + u64::from(pos.bucket);
            let victim = t.sweep_victim(&mut cursor, |_| true).unwrap();
            assert_ne!(t.entry(victim).0, &7);
        }
    }

    #[test]
    fn victims_come_from_the_new_keys_segment() {
        let mut t: DashTable<u64, u64, Tiny> = DashTable::with_stamps(Tiny);
        for k in 0..200u64 {
            t.insert(k, k);
        }
        for probe in 1000..1100u64 {
            let h = t.hash(&probe);
            let victim = t.victim_for(h, |_| true).expect("a victim");
            assert_eq!(victim.segment as usize, t.segment_of(h));
            // Nothing eligible: no victim.
            assert!(t.victim_for(h, |_| false).is_none());
        }
        let mut cursor = 0;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..t.segment_count() * 5 {
            let pos = t.sweep_victim(&mut cursor, |_| true).unwrap();
            seen.insert(pos.bucket_id());
        }
        assert!(seen.len() > 5, "a sweep visits bucket after bucket");
    }
}
