//! Cache warming for a batch of lookups (a client's pipeline).
//!
//! A lookup touches three cache lines that are cold in a big table: the bucket's fingerprints,
//! the matching slot, and a heap key's bytes. Each load depends on the one before, so one
//! lookup at a time pays three memory latencies in a row. The connection runs the stages
//! below over every key of a parsed batch before executing it, so the loads of different
//! keys overlap and the commands then find their lines in cache. Prefetches never fault and
//! change nothing, so a stale or wrong guess only costs a wasted load.

use super::bucket::slots_of;
use super::segment::fingerprint;
use super::{DashPolicy, DashTable};

/// Asks the CPU to start loading the cache line holding `ptr`.
#[inline(always)]
fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never dereferences architecturally (no fault, no
    // visible effect), for any address; SSE is part of the x86_64 baseline.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(ptr.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

impl<K, V, P: DashPolicy<K>> DashTable<K, V, P> {
    /// Stage 1: starts loading the metadata of the two regular buckets `hash` may live in.
    #[inline]
    pub fn prefetch_buckets(&self, hash: u64) {
        let segment = &self.segments[self.segment_of(hash)];
        let home = segment.shape.home(hash);
        prefetch(&segment.buckets[home]);
        prefetch(&segment.buckets[segment.shape.next(home)]);
    }

    /// Stage 2 (after stage 1 for the whole batch): reads the fingerprints and starts loading
    /// the slots whose fingerprint matches.
    #[inline]
    pub fn prefetch_slots(&self, hash: u64) {
        let segment = &self.segments[self.segment_of(hash)];
        let home = segment.shape.home(hash);
        let fp = fingerprint(hash);
        for b in [home, segment.shape.next(home)] {
            let bucket = &segment.buckets[b];
            for slot in slots_of(bucket.candidates(fp)) {
                prefetch(bucket.slot_ptr(slot));
            }
        }
    }

    /// Stage 3 (after stage 2): calls `warm` with each entry of the two regular buckets whose
    /// fingerprint matches, so the caller can prefetch what the cells point to (stash entries
    /// are rare and not visited).
    #[inline]
    pub fn prefetch_entries(&self, hash: u64, mut warm: impl FnMut(&K, &V)) {
        let segment = &self.segments[self.segment_of(hash)];
        let home = segment.shape.home(hash);
        let fp = fingerprint(hash);
        for b in [home, segment.shape.next(home)] {
            let bucket = &segment.buckets[b];
            for slot in slots_of(bucket.candidates(fp)) {
                if let Some((k, v)) = bucket.entry(slot) {
                    warm(k, v);
                }
            }
        }
    }
}

/// Starts loading the cache line at `ptr` (for callers warming what a cell points to).
#[inline(always)]
pub fn prefetch_bytes(ptr: *const u8) {
    prefetch(ptr);
}

#[cfg(test)]
mod tests {
    use crate::dash::{DashPolicy, DashTable};
    use crate::hash::FixedHasher;

    struct U64Keys;
    impl DashPolicy<u64> for U64Keys {
        fn hash_key(&self, key: &u64) -> u64 {
            FixedHasher::hash_u64(*key)
        }
    }

    #[test]
    fn prefetching_finds_the_entry_and_changes_nothing() {
        let mut table = DashTable::new(U64Keys);
        for i in 0..10_000u64 {
            table.insert(i, i * 2);
        }
        let mut warmed = 0;
        for i in 0..20_000u64 {
            let hash = FixedHasher::hash_u64(i);
            table.prefetch_buckets(hash);
            table.prefetch_slots(hash);
            let mut found = false;
            table.prefetch_entries(hash, |k, v| found |= *k == i && *v == i * 2);
            // Stash entries are not visited; everything visited is real.
            assert!(!found || i < 10_000, "key {i}");
            warmed += usize::from(found);
        }
        assert!(warmed > 9_000, "only {warmed} of 10000 entries visited");
        assert_eq!(table.len(), 10_000);
    }
}
