//! One segment: `regular` buckets followed by `stash` buckets. Segments of one table share
//! the stash count but not the regular count: a segment grows through a ladder of sizes
//! (see `table.rs`) by being rebuilt, and splits only at the largest.
//!
//! A key with hash `h` has home bucket `home(h)` and may live there, in the next regular
//! bucket (wrapping), or in any stash bucket; when it goes to the stash, its home bucket's
//! `stash_hints` gets the stash bucket's bit so lookups probe only the stash buckets that
//! may hold it.
//!
//! When both candidate buckets are full, an insert first tries displacement: a chain of
//! forward moves, each taking an entry that sits in its home bucket `b` to its next bucket
//! `b + 1` (never wrapping), frees a slot in the new key's next bucket. Only then does it use
//! the stash, and only when that is full too does the segment grow or split.
//!
//! What the cursor's guarantee (see `cursor.rs`) relies on: between rebuilds, entries move
//! inside a segment only to a higher bucket index (displacement; nothing leaves the stash).
//! A rebuild (growth, or the lower half of a split) places entries anew and bumps the
//! segment's `generation`, which a cursor records: a cursor made before the rebuild starts
//! the segment over.

use std::ops::{Index, IndexMut};

use super::bucket::{slots_of, Bucket, BUCKET_SLOTS};
use super::KeyMatch;

/// Buckets per chunk. A segment's buckets live in chunks of this many, so the table
/// allocates bucket memory in one size only (4 KiB for 512-byte buckets): a segment rebuilt
/// at another size frees chunks the next rebuild reuses, where arrays of a different size
/// per segment size left the allocator's pages of every size class partly used.
pub const CHUNK_BUCKETS: usize = 8;

/// Chunks a segment has at most (so at most 64 buckets; inline in the segment, so a lookup
/// reads the chunk pointer from the segment it reads anyway).
pub const SEGMENT_CHUNKS_MAX: usize = 8;

/// Aligned to a cache line so that every 512-byte bucket starts on one.
#[repr(C, align(64))]
struct Chunk<K, V>([Bucket<K, V>; CHUNK_BUCKETS]);

const _: () = assert!(
    std::mem::size_of::<Chunk<crate::cell::CompactKey, crate::cell::CompactValue>>() == 4096
);

/// The 16-bit stamps of one chunk's slots, `[bucket_in_chunk * BUCKET_SLOTS + slot]`: one
/// allocation size (240 bytes) for every segment size, for the reason chunks have one size.
type ChunkStamps = [u16; CHUNK_BUCKETS * BUCKET_SLOTS];

/// A segment's buckets: `len` of them in chunks of [`CHUNK_BUCKETS`], and in a table with
/// stamps, one [`ChunkStamps`] beside each chunk.
pub struct Buckets<K, V> {
    chunks: [Option<Box<Chunk<K, V>>>; SEGMENT_CHUNKS_MAX],
    stamps: [Option<Box<ChunkStamps>>; SEGMENT_CHUNKS_MAX],
    len: usize,
}

impl<K, V> Buckets<K, V> {
    fn new(len: usize, stamped: bool) -> Buckets<K, V> {
        assert!(len <= CHUNK_BUCKETS * SEGMENT_CHUNKS_MAX, "{len} buckets");
        Buckets {
            chunks: std::array::from_fn(|c| {
                (c * CHUNK_BUCKETS < len)
                    .then(|| Box::new(Chunk(std::array::from_fn(|_| Bucket::new()))))
            }),
            stamps: std::array::from_fn(|c| {
                (stamped && c * CHUNK_BUCKETS < len)
                    .then(|| Box::new([0; CHUNK_BUCKETS * BUCKET_SLOTS]))
            }),
            len,
        }
    }

    #[inline]
    fn stamp(&self, bucket: usize, slot: usize) -> u16 {
        self.stamps[bucket / CHUNK_BUCKETS]
            .as_ref()
            .map_or(0, |s| s[bucket % CHUNK_BUCKETS * BUCKET_SLOTS + slot])
    }

    #[inline]
    fn set_stamp(&mut self, bucket: usize, slot: usize, stamp: u16) {
        if let Some(s) = self.stamps[bucket / CHUNK_BUCKETS].as_mut() {
            s[bucket % CHUNK_BUCKETS * BUCKET_SLOTS + slot] = stamp;
        }
    }

    /// The entry's key and its stamp (None in a table without stamps), found once.
    #[inline]
    fn key_and_stamp_mut(
        &mut self,
        bucket: usize,
        slot: usize,
    ) -> Option<(&mut K, Option<&mut u16>)> {
        let chunk = self.chunks[bucket / CHUNK_BUCKETS].as_mut()?;
        let (key, _) = chunk.0[bucket % CHUNK_BUCKETS].entry_mut(slot)?;
        let stamp = self.stamps[bucket / CHUNK_BUCKETS]
            .as_mut()
            .map(|s| &mut s[bucket % CHUNK_BUCKETS * BUCKET_SLOTS + slot]);
        Some((key, stamp))
    }

    fn stamp_bytes(&self) -> usize {
        self.stamps.iter().flatten().count() * std::mem::size_of::<ChunkStamps>()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of the chunks (the chunk pointers are inside the segment).
    pub fn heap_bytes(&self) -> usize {
        self.len.div_ceil(CHUNK_BUCKETS) * std::mem::size_of::<Chunk<K, V>>()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Bucket<K, V>> {
        self.chunks
            .iter()
            .flatten()
            .flat_map(|chunk| chunk.0.iter())
            .take(self.len)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Bucket<K, V>> {
        self.chunks
            .iter_mut()
            .flatten()
            .flat_map(|chunk| chunk.0.iter_mut())
            .take(self.len)
    }
}

impl<K, V> Index<usize> for Buckets<K, V> {
    type Output = Bucket<K, V>;

    #[inline]
    fn index(&self, bucket: usize) -> &Bucket<K, V> {
        debug_assert!(bucket < self.len);
        let chunk = self.chunks[bucket / CHUNK_BUCKETS]
            .as_ref()
            .expect("bucket index within the segment");
        &chunk.0[bucket % CHUNK_BUCKETS]
    }
}

impl<K, V> IndexMut<usize> for Buckets<K, V> {
    #[inline]
    fn index_mut(&mut self, bucket: usize) -> &mut Bucket<K, V> {
        debug_assert!(bucket < self.len);
        let chunk = self.chunks[bucket / CHUNK_BUCKETS]
            .as_mut()
            .expect("bucket index within the segment");
        &mut chunk.0[bucket % CHUNK_BUCKETS]
    }
}

/// Buckets of a segment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
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
    pub(crate) buckets: Buckets<K, V>,
    /// This segment's size (a rung of the table's ladder).
    pub(crate) shape: Shape,
    /// Bumped (wrapping) by every rebuild that moves entries; cursors record it.
    pub(crate) generation: u8,
    /// Home bucket of each stash slot, `stash_homes[s * BUCKET_SLOTS + slot]`.
    stash_homes: Box<[u8]>,
    pub(crate) local_depth: u32,
    pub(crate) len: u32,
}

impl<K, V> Segment<K, V> {
    pub fn new(shape: Shape, local_depth: u32, stamped: bool) -> Segment<K, V> {
        Segment {
            buckets: Buckets::new(shape.total(), stamped),
            shape,
            generation: 0,
            stash_homes: vec![0; shape.stash * BUCKET_SLOTS].into_boxed_slice(),
            local_depth,
            len: 0,
        }
    }

    /// Heap bytes of this segment (its struct is counted by the table's segment vector).
    pub fn heap_bytes(&self) -> usize {
        self.buckets.heap_bytes() + self.stash_homes.len() + self.buckets.stamp_bytes()
    }

    /// The 16-bit stamp of the entry at `bucket`/`slot`, which moves with its entry (the
    /// primary table keeps the low bits of each key's access clock here); 0 in a table
    /// without stamps. Beside the buckets rather than in them, so a bucket stays eight
    /// cache lines and a chunk 4 KiB.
    #[inline]
    pub fn stamp(&self, bucket: usize, slot: usize) -> u16 {
        self.buckets.stamp(bucket, slot)
    }

    #[inline]
    pub fn set_stamp(&mut self, bucket: usize, slot: usize, stamp: u16) {
        self.buckets.set_stamp(bucket, slot, stamp);
    }

    #[inline]
    pub fn key_and_stamp_mut(
        &mut self,
        bucket: usize,
        slot: usize,
    ) -> Option<(&mut K, Option<&mut u16>)> {
        self.buckets.key_and_stamp_mut(bucket, slot)
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

    /// Where a new entry with `hash` would go: home, else next, else the first
    /// stash bucket with room (starting from a hash-chosen one). `None` when all are full.
    pub fn place(&self, shape: Shape, hash: u64) -> Option<(usize, usize)> {
        self.place_regular(shape, hash)
            .or_else(|| self.place_stash(shape, hash))
    }

    /// A free slot in the home bucket of `hash`, else in the next one. Home first: a lookup
    /// reads the home bucket first, so every entry there saves it a bucket's cache misses
    /// (displacement then makes the room that balancing the pair used to).
    pub fn place_regular(&self, shape: Shape, hash: u64) -> Option<(usize, usize)> {
        let home = shape.home(hash);
        [home, shape.next(home)]
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
        let stamp = self.stamp(bucket, slot);
        self.set_stamp(to, free, stamp);
    }

    /// Stores an entry at a position returned by [`Segment::place`].
    pub fn put(&mut self, shape: Shape, bucket: usize, slot: usize, hash: u64, entry: (K, V)) {
        self.buckets[bucket].put(slot, fingerprint(hash), entry);
        self.set_stamp(bucket, slot, 0);
        self.len += 1;
        if bucket >= shape.regular {
            let stash = bucket - shape.regular;
            let home = shape.home(hash);
            self.stash_homes[stash * BUCKET_SLOTS + slot] = home as u8;
            self.buckets[home].add_stash_hint(stash);
        }
    }

    /// Exchanges two slots of one bucket (either may be empty), with their stamps and, in a
    /// stash bucket, their home records; hints are unchanged (entries stay in the bucket).
    pub fn swap_slots(&mut self, shape: Shape, bucket: usize, a: usize, b: usize) {
        self.buckets[bucket].swap_slots(a, b);
        let (stamp_a, stamp_b) = (self.stamp(bucket, a), self.stamp(bucket, b));
        self.set_stamp(bucket, a, stamp_b);
        self.set_stamp(bucket, b, stamp_a);
        if bucket >= shape.regular {
            let base = (bucket - shape.regular) * BUCKET_SLOTS;
            self.stash_homes.swap(base + a, base + b);
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
                    upper.set_stamp(b, slot, self.stamp(b, slot));
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
        for bucket in 0..shape.regular {
            self.buckets[bucket].set_stash_hints(0);
        }
        for stash in 0..shape.stash {
            let occupied = self.buckets[shape.regular + stash].occupied();
            for slot in slots_of(occupied) {
                let home = self.stash_homes[stash * BUCKET_SLOTS + slot] as usize;
                self.buckets[home].add_stash_hint(stash);
            }
        }
    }

    /// Every entry as `(bucket, slot, hash)`, in bucket order (regular, then stash).
    pub fn hashed_entries(&self, hash_of: impl Fn(&K) -> u64) -> Vec<(u8, u8, u64)> {
        let mut entries = Vec::with_capacity(self.len as usize);
        for (b, bucket) in self.buckets.iter().enumerate() {
            for slot in slots_of(bucket.occupied()) {
                let (k, _) = bucket.entry(slot).expect("occupied");
                entries.push((b as u8, slot as u8, hash_of(k)));
            }
        }
        entries
    }

    /// Where each of `entries` (some of this segment's, from [`Segment::hashed_entries`])
    /// would go in an empty segment of `shape` (same stash count), each placed in turn as an
    /// insert places it: home, else next, else after a chain of forward moves,
    /// else a stash slot. `None` if one finds no room.
    pub fn plan_rebuild(&self, shape: Shape, entries: &[(u8, u8, u64)]) -> Option<Vec<(u8, u8)>> {
        debug_assert_eq!(shape.stash, self.shape.stash);
        let mut plan = Plan {
            shape,
            busy: vec![0; shape.total()],
            at_home: vec![0; shape.regular],
            occupant: vec![[u32::MAX; BUCKET_SLOTS]; shape.total()],
            places: vec![(0, 0); entries.len()],
        };
        for (i, &(_, _, hash)) in entries.iter().enumerate() {
            plan.place(i, hash)?;
        }
        Some(plan.places)
    }

    /// Moves `entries` to the places `plan` gives them in `target` (an empty segment of the
    /// plan's shape).
    pub fn move_planned(
        &mut self,
        target: &mut Segment<K, V>,
        entries: &[(u8, u8, u64)],
        plan: &[(u8, u8)],
    ) {
        for (&(b, slot, hash), &(to, to_slot)) in entries.iter().zip(plan) {
            let (b, slot, to, to_slot) = (
                usize::from(b),
                usize::from(slot),
                usize::from(to),
                usize::from(to_slot),
            );
            let stamp = self.stamp(b, slot);
            let entry = self.take(self.shape, b, slot);
            let shape = target.shape;
            target.put(shape, to, to_slot, hash, entry);
            target.set_stamp(to, to_slot, stamp);
        }
    }

    pub fn clear(&mut self) {
        for bucket in self.buckets.iter_mut() {
            bucket.clear();
        }
        self.len = 0;
    }
}

/// A rebuild being planned: slot occupancy of the new segment, which entry sits where, and
/// which regular slots hold an entry at its home (those may move forward).
struct Plan {
    shape: Shape,
    busy: Vec<u16>,
    at_home: Vec<u16>,
    occupant: Vec<[u32; BUCKET_SLOTS]>,
    places: Vec<(u8, u8)>,
}

impl Plan {
    fn free_slot(&self, bucket: usize) -> Option<usize> {
        let free = !self.busy[bucket] & ((1 << BUCKET_SLOTS) - 1);
        (free != 0).then(|| free.trailing_zeros() as usize)
    }

    fn occupy(&mut self, entry: usize, bucket: usize, slot: usize, at_home: bool) {
        self.busy[bucket] |= 1 << slot;
        if at_home {
            self.at_home[bucket] |= 1 << slot;
        }
        self.occupant[bucket][slot] = entry as u32;
        self.places[entry] = (bucket as u8, slot as u8);
    }

    fn vacate(&mut self, bucket: usize, slot: usize) -> usize {
        self.busy[bucket] &= !(1 << slot);
        if bucket < self.shape.regular {
            self.at_home[bucket] &= !(1 << slot);
        }
        std::mem::replace(&mut self.occupant[bucket][slot], u32::MAX) as usize
    }

    fn place(&mut self, entry: usize, hash: u64) -> Option<()> {
        let shape = self.shape;
        let home = shape.home(hash);
        let next = shape.next(home);
        if let Some(slot) = self.free_slot(home) {
            self.occupy(entry, home, slot, true);
            return Some(());
        }
        if let Some(slot) = self.free_slot(next).or_else(|| self.displace(next)) {
            self.occupy(entry, next, slot, false);
            return Some(());
        }
        let first = (hash >> 40) as usize % shape.stash;
        let (bucket, slot) = (0..shape.stash)
            .map(|i| shape.regular + (first + i) % shape.stash)
            .find_map(|b| Some((b, self.free_slot(b)?)))?;
        self.occupy(entry, bucket, slot, false);
        Some(())
    }

    /// Frees a slot of the full regular bucket `start` by forward moves, as
    /// [`Segment::displacement_chain`] does; returns the freed slot.
    fn displace(&mut self, start: usize) -> Option<usize> {
        let mut end = start;
        loop {
            if end - start == DISPLACE_CHAIN_MAX
                || end + 1 >= self.shape.regular
                || self.at_home[end] == 0
            {
                return None;
            }
            end += 1;
            if self.free_slot(end).is_some() {
                break;
            }
        }
        let mut freed = 0;
        for bucket in (start..end).rev() {
            let slot = self.at_home[bucket].trailing_zeros() as usize;
            let to = self
                .free_slot(bucket + 1)
                .expect("the chain's next bucket has room");
            let entry = self.vacate(bucket, slot);
            self.occupy(entry, bucket + 1, to, false);
            freed = slot;
        }
        Some(freed)
    }
}
