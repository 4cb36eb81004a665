//! A bucket: 15 slots, a one-byte fingerprint per slot, an occupancy mask, the stash hints
//! of the keys whose home is this bucket, and a version for snapshots.
//!
//! The header is 32 bytes (15 fingerprints, the mask, and one word holding the version (56
//! bits) and the stash hints (8 bits)), so a bucket of 16-byte key and value cells is
//! 32 + 15 * 32 = 512 bytes: eight cache lines, and eight buckets make a 4 KiB chunk.

/// Slots per bucket (fits the u16 occupancy mask).
pub const BUCKET_SLOTS: usize = 15;

const ALL_SLOTS: u16 = (1 << BUCKET_SLOTS) - 1;

/// Bits of `meta` below the version: the stash hints.
const HINT_BITS: u32 = 8;
const HINT_MASK: u64 = (1 << HINT_BITS) - 1;

/// Largest version a bucket can hold (2^56 - 1: 2.3 thousand years at a million changes a
/// second).
pub const VERSION_MAX: u64 = u64::MAX >> HINT_BITS;

/// `repr(C)` with the metadata first, so a lookup's fingerprint scan and its first slots
/// share a cache line.
#[repr(C)]
pub struct Bucket<K, V> {
    fingerprints: [u8; BUCKET_SLOTS],
    busy: u16,
    /// `version << 8 | stash_hints`. Hint bit s: stash bucket s holds at least one entry
    /// whose home is this bucket.
    meta: u64,
    slots: [Option<(K, V)>; BUCKET_SLOTS],
}

impl<K, V> Bucket<K, V> {
    pub(crate) fn new() -> Bucket<K, V> {
        Bucket {
            slots: std::array::from_fn(|_| None),
            fingerprints: [0; BUCKET_SLOTS],
            busy: 0,
            meta: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.busy.count_ones() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.busy == 0
    }

    pub fn is_full(&self) -> bool {
        self.busy == ALL_SLOTS
    }

    pub fn version(&self) -> u64 {
        self.meta >> HINT_BITS
    }

    pub(crate) fn set_version(&mut self, version: u64) {
        assert!(version <= VERSION_MAX, "bucket version overflow");
        self.meta = version << HINT_BITS | (self.meta & HINT_MASK);
    }

    /// Bit s: stash bucket s may hold an entry whose home is this bucket.
    #[inline]
    pub(crate) fn stash_hints(&self) -> u8 {
        self.meta as u8
    }

    pub(crate) fn set_stash_hints(&mut self, hints: u8) {
        self.meta = (self.meta & !HINT_MASK) | u64::from(hints);
    }

    pub(crate) fn add_stash_hint(&mut self, stash: usize) {
        self.meta |= 1 << stash;
    }

    pub(crate) fn remove_stash_hint(&mut self, stash: usize) {
        self.meta &= !(1 << stash);
    }

    /// Occupied slots whose fingerprint equals `fingerprint`.
    #[inline]
    pub(crate) fn candidates(&self, fingerprint: u8) -> u16 {
        let mut mask = 0u16;
        for (i, &fp) in self.fingerprints.iter().enumerate() {
            mask |= u16::from(fp == fingerprint) << i;
        }
        mask & self.busy
    }

    pub(crate) fn occupied(&self) -> u16 {
        self.busy
    }

    pub(crate) fn free_slot(&self) -> Option<usize> {
        let free = !self.busy & ALL_SLOTS;
        (free != 0).then(|| free.trailing_zeros() as usize)
    }

    pub(crate) fn fingerprint(&self, slot: usize) -> u8 {
        self.fingerprints[slot]
    }

    pub(crate) fn entry(&self, slot: usize) -> Option<&(K, V)> {
        self.slots[slot].as_ref()
    }

    /// Address of a slot, without reading it (for prefetching).
    pub(crate) fn slot_ptr(&self, slot: usize) -> *const Option<(K, V)> {
        std::ptr::addr_of!(self.slots[slot])
    }

    pub(crate) fn entry_mut(&mut self, slot: usize) -> Option<&mut (K, V)> {
        self.slots[slot].as_mut()
    }

    pub(crate) fn put(&mut self, slot: usize, fingerprint: u8, entry: (K, V)) {
        debug_assert!(self.busy & (1 << slot) == 0, "slot {slot} is taken");
        self.slots[slot] = Some(entry);
        self.fingerprints[slot] = fingerprint;
        self.busy |= 1 << slot;
    }

    pub(crate) fn take(&mut self, slot: usize) -> (K, V) {
        self.busy &= !(1 << slot);
        self.slots[slot].take().expect("occupied slot")
    }

    /// Exchanges slots `a` and `b` (either may be empty) with their fingerprints: the
    /// cache mode's bumping orders a bucket by slot without moving entries elsewhere.
    pub(crate) fn swap_slots(&mut self, a: usize, b: usize) {
        self.slots.swap(a, b);
        self.fingerprints.swap(a, b);
        let (bit_a, bit_b) = ((self.busy >> a) & 1, (self.busy >> b) & 1);
        self.busy &= !(1 << a | 1 << b);
        self.busy |= bit_a << b | bit_b << a;
    }

    /// The highest occupied slot whose entry `eligible` accepts (the tail of the bucket's
    /// cache order).
    pub(crate) fn last_slot_where(&self, eligible: impl Fn(&K) -> bool) -> Option<usize> {
        let mut mask = self.busy;
        while mask != 0 {
            let slot = 15 - mask.leading_zeros() as usize;
            if self.slots[slot].as_ref().is_some_and(|(k, _)| eligible(k)) {
                return Some(slot);
            }
            mask &= !(1 << slot);
        }
        None
    }

    /// Drops every entry (keeps the version and clears the hints).
    pub(crate) fn clear(&mut self) {
        for slot in &mut self.slots {
            *slot = None;
        }
        self.busy = 0;
        self.set_stash_hints(0);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots
            .iter()
            .filter_map(|s| s.as_ref().map(|(k, v)| (k, v)))
    }
}

// The header is 32 bytes (a slot of two niche-bearing 8-byte fields is 16 bytes).
const _: () =
    assert!(std::mem::size_of::<Bucket<std::num::NonZeroU64, u64>>() == 32 + BUCKET_SLOTS * 16);

/// Iterates the set bits of a slot mask.
pub(crate) fn slots_of(mut mask: u16) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let slot = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            slot
        })
    })
}
