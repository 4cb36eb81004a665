//! One segment: `regular` buckets followed by `stash` buckets.
//!
//! A key with hash `h` has home bucket `home(h)` and may live there, in the next regular
//! bucket (wrapping), or in any stash bucket; when it goes to the stash, its home bucket's
//! `stash_hints` gets the stash bucket's bit so lookups probe only the stash buckets that
//! may hold it.
//!
//! When both candidate buckets are full, an insert first tries displacement: a chain of
//! forward moves, each taking an entry that sits in its home bucket `b` to its next bucket
//! `b + 1` (never wrapping), frees a slot in the new key's next bucket. Only then does it use
//! the stash, and only when that is full too does the segment split. Entries move only to a
//! higher bucket index of the same segment, never back (the cursor's guarantee relies on
//! that, see `cursor.rs`); a split moves entries to the same bucket and slot of the new
//! segment.

use super::bucket::{slots_of, Bucket, BUCKET_SLOTS};
use super::KeyMatch;

/// Buckets per segment, from the policy.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub regular: usize,
    pub stash: usize,
}

impl Shape {
    pub fn total(&self) -> usize {
        self.regular + self.stash
    }

    pub fn capacity(&self) -> usize {
        self.total() * BUCKET_SLOTS
    }

    /// Home bucket from hash bits 8..40 (multiply-shift range reduction, no division).
    #[inline]
    pub fn home(&self, hash: u64) -> usize {
        ((u64::from((hash >> 8) as u32) * self.regular as u64) >> 32) as usize
    }

    #[inline]
    pub fn next(&self, bucket: usize) -> usize {
        if bucket + 1 == self.regular {
            0
        } else {
            bucket + 1
        }
    }
}

#[inline]
pub fn fingerprint(hash: u64) -> u8 {
    hash as u8
}

/// Longest chain of forward moves an insert tries before it falls back to the stash.
pub const DISPLACE_CHAIN_MAX: usize = 6;

/// A displacement plan: `moves[i]` is the slot of an entry that sits in its home bucket
/// `start + i` and moves to bucket `start + i + 1`; bucket `start + len` has a free slot.
/// Executed innermost (highest bucket) first, so every move has room.
#[derive(Clone, Copy, Debug)]
pub struct Chain {
    pub start: usize,
    slots: [u8; DISPLACE_CHAIN_MAX],
    len: usize,
}

impl Chain {
    /// `(from_bucket, slot)` of each move, in execution order.
    pub fn moves(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.len)
            .rev()
            .map(|i| (self.start + i, usize::from(self.slots[i])))
    }

    /// The slot of `start` that is free once every move is done.
    pub fn freed_slot(&self) -> usize {
        usize::from(self.slots[0])
    }
}

pub struct Segment<K, V> {
    pub(crate) buckets: Box<[Bucket<K, V>]>,
    /// Home bucket of each stash slot, `stash_homes[s * BUCKET_SLOTS + slot]`.
    stash_homes: Box<[u8]>,
    pub(crate) local_depth: u32,
    pub(crate) len: u32,
}

impl<K, V> Segment<K, V> {
    pub fn new(shape: Shape, local_depth: u32) -> Segment<K, V> {
        Segment {
            buckets: (0..shape.total()).map(|_| Bucket::new()).collect(),
            stash_homes: vec![0; shape.stash * BUCKET_SLOTS].into_boxed_slice(),
            local_depth,
            len: 0,
        }
    }

    /// Heap bytes of this segment (its struct is counted by the table's segment vector).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets) + self.stash_homes.len()
    }

    /// Bucket and slot of the entry matching `query`.
    #[inline]
    pub fn find<Q: ?Sized>(&self, shape: Shape, hash: u64, query: &Q) -> Option<(usize, usize)>
    where
        K: KeyMatch<Q>,
    {
        let fp = fingerprint(hash);
        let home = shape.home(hash);
        if let Some(slot) = self.find_in_bucket(home, fp, query) {
            return Some((home, slot));
        }
        let next = shape.next(home);
        if let Some(slot) = self.find_in_bucket(next, fp, query) {
            return Some((next, slot));
        }
        let hints = self.buckets[home].stash_hints();
        for stash in slots_of(u16::from(hints)) {
            let bucket = shape.regular + stash;
            if let Some(slot) = self.find_in_bucket(bucket, fp, query) {
                return Some((bucket, slot));
            }
        }
        None
    }

    #[inline]
    fn find_in_bucket<Q: ?Sized>(&self, bucket: usize, fp: u8, query: &Q) -> Option<usize>
    where
        K: KeyMatch<Q>,
    {
        let bucket = &self.buckets[bucket];
        slots_of(bucket.candidates(fp)).find(|&slot| {
            bucket
                .entry(slot)
                .is_some_and(|(k, _)| k.key_matches(query))
        })
    }

    /// Where a new entry with `hash` would go: the emptier of home and next, else the first
    /// stash bucket with room (starting from a hash-chosen one). `None` when all are full.
    pub fn place(&self, shape: Shape, hash: u64) -> Option<(usize, usize)> {
        self.place_regular(shape, hash)
            .or_else(|| self.place_stash(shape, hash))
    }

    /// A free slot in the emptier of the home and next buckets of `hash`.
    pub fn place_regular(&self, shape: Shape, hash: u64) -> Option<(usize, usize)> {
        let home = shape.home(hash);
        let next = shape.next(home);
        let (home_len, next_len) = (self.buckets[home].len(), self.buckets[next].len());
        let preferred = if home_len <= next_len {
            [home, next]
        } else {
            [next, home]
        };
        preferred
            .into_iter()
            .find_map(|bucket| Some((bucket, self.buckets[bucket].free_slot()?)))
    }

    /// A free stash slot, trying the stash buckets from a hash-chosen one.
    pub fn place_stash(&self, shape: Shape, hash: u64) -> Option<(usize, usize)> {
        let first = (hash >> 40) as usize % shape.stash;
        (0..shape.stash).find_map(|i| {
            let bucket = shape.regular + (first + i) % shape.stash;
            Some((bucket, self.buckets[bucket].free_slot()?))
        })
    }

    /// A chain of forward moves that frees a slot in the full regular bucket `start`, or
    /// `None` if none of at most [`DISPLACE_CHAIN_MAX`] moves exists without wrapping past
    /// the last regular bucket. `home_of` gives a stored key's home bucket.
    pub fn displacement_chain(
        &self,
        shape: Shape,
        start: usize,
        home_of: impl Fn(&K) -> usize,
    ) -> Option<Chain> {
        let mut chain = Chain {
            start,
            slots: [0; DISPLACE_CHAIN_MAX],
            len: 0,
        };
        let mut bucket = start;
        while chain.len < DISPLACE_CHAIN_MAX && bucket + 1 < shape.regular {
            let b = &self.buckets[bucket];
            // Any entry at its home will do: the rest of the chain depends only on buckets.
            let slot = slots_of(b.occupied())
                .find(|&slot| b.entry(slot).is_some_and(|(k, _)| home_of(k) == bucket))?;
            chain.slots[chain.len] = slot as u8;
            chain.len += 1;
            bucket += 1;
            if !self.buckets[bucket].is_full() {
                return Some(chain);
            }
        }
        None
    }

    /// Moves the entry at `slot` of regular bucket `bucket` (its home) to a free slot of
    /// `bucket + 1` (its next bucket). Stash hints do not change: they belong to the home.
    pub fn move_forward(&mut self, shape: Shape, bucket: usize, slot: usize) {
        let to = bucket + 1;
        debug_assert!(to < shape.regular, "moves never wrap");
        let free = self.buckets[to].free_slot().expect("chain end has room");
        let fp = self.buckets[bucket].fingerprint(slot);
        let entry = self.buckets[bucket].take(slot);
        self.buckets[to].put(free, fp, entry);
    }

    /// Stores an entry at a position returned by [`Segment::place`].
    pub fn put(&mut self, shape: Shape, bucket: usize, slot: usize, hash: u64, entry: (K, V)) {
        self.buckets[bucket].put(slot, fingerprint(hash), entry);
        self.len += 1;
        if bucket >= shape.regular {
            let stash = bucket - shape.regular;
            let home = shape.home(hash);
            self.stash_homes[stash * BUCKET_SLOTS + slot] = home as u8;
            self.buckets[home].add_stash_hint(stash);
        }
    }

    /// Removes an entry; clears its home's stash hint when no other entry needs it.
    pub fn take(&mut self, shape: Shape, bucket: usize, slot: usize) -> (K, V) {
        let entry = self.buckets[bucket].take(slot);
        self.len -= 1;
        if bucket >= shape.regular {
            let stash = bucket - shape.regular;
            let homes = &self.stash_homes[stash * BUCKET_SLOTS..(stash + 1) * BUCKET_SLOTS];
            let home = homes[slot];
            let still_needed =
                slots_of(self.buckets[bucket].occupied()).any(|other| homes[other] == home);
            if !still_needed {
                self.buckets[home as usize].remove_stash_hint(stash);
            }
        }
        entry
    }

    /// Moves every entry for which `goes_up` is true to the same bucket and slot of `upper`
    /// (an empty segment of the same shape), then rebuilds both segments' stash hints.
    pub fn split_into(
        &mut self,
        shape: Shape,
        upper: &mut Segment<K, V>,
        goes_up: impl Fn(&K) -> bool,
    ) {
        debug_assert_eq!(upper.len, 0);
        for b in 0..shape.total() {
            let occupied = self.buckets[b].occupied();
            for slot in slots_of(occupied) {
                let moves = self.buckets[b].entry(slot).is_some_and(|(k, _)| goes_up(k));
                if moves {
                    let fp = self.buckets[b].fingerprint(slot);
                    let entry = self.buckets[b].take(slot);
                    upper.buckets[b].put(slot, fp, entry);
                    self.len -= 1;
                    upper.len += 1;
                }
            }
        }
        upper.stash_homes.copy_from_slice(&self.stash_homes);
        self.rebuild_stash_hints(shape);
        upper.rebuild_stash_hints(shape);
    }

    fn rebuild_stash_hints(&mut self, shape: Shape) {
        for bucket in &mut self.buckets[..shape.regular] {
            bucket.set_stash_hints(0);
        }
        for stash in 0..shape.stash {
            let occupied = self.buckets[shape.regular + stash].occupied();
            for slot in slots_of(occupied) {
                let home = self.stash_homes[stash * BUCKET_SLOTS + slot] as usize;
                self.buckets[home].add_stash_hint(stash);
            }
        }
    }

    pub fn clear(&mut self) {
        for bucket in self.buckets.iter_mut() {
            bucket.clear();
        }
        self.len = 0;
    }
}
