//! The directory and the table's operations.

use super::bucket::{slots_of, BUCKET_SLOTS};
use super::segment::{Segment, Shape};
use super::{BucketId, BucketRef, DashPolicy, KeyMatch, NoHooks, TableHooks};

/// Deepest directory allowed: 2^48 segments cannot be allocated anyway; reaching it means
/// more than a segment's worth of keys share 48 hash bits (a broken hash function).
const GLOBAL_DEPTH_MAX: u32 = 48;

/// Where an entry lives. Valid until the table is next changed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct EntryPos {
    pub(crate) segment: u32,
    pub(crate) bucket: u8,
    pub(crate) slot: u8,
}

impl EntryPos {
    pub fn bucket_id(&self) -> BucketId {
        BucketId {
            segment: self.segment,
            bucket: self.bucket,
        }
    }
}

pub struct DashTable<K, V, P> {
    /// Directory entry i holds the id of the segment for hashes whose top `global_depth`
    /// bits equal i; a segment of local depth d appears in 2^(global_depth - d) entries.
    pub(crate) directory: Vec<u32>,
    pub(crate) segments: Vec<Segment<K, V>>,
    pub(crate) global_depth: u32,
    pub(crate) shape: Shape,
    len: usize,
    version_clock: u64,
    /// Entries moved by displacement (statistic).
    displaced: u64,
    policy: P,
}

impl<K, V, P: DashPolicy<K>> DashTable<K, V, P> {
    pub fn new(policy: P) -> DashTable<K, V, P> {
        let shape = Shape {
            regular: P::REGULAR_BUCKETS,
            stash: P::STASH_BUCKETS,
        };
        assert!(
            shape.regular >= 2 && shape.stash >= 1 && shape.stash <= 8,
            "bad shape"
        );
        assert!(
            shape.total() <= 255,
            "bucket ids are u8 and the cursor keeps 8 bits"
        );
        DashTable {
            directory: vec![0],
            segments: vec![Segment::new(shape, 0)],
            global_depth: 0,
            shape,
            len: 0,
            version_clock: 0,
            displaced: 0,
            policy,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn policy(&self) -> &P {
        &self.policy
    }

    pub fn global_depth(&self) -> u32 {
        self.global_depth
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Slots in all segments.
    pub fn capacity(&self) -> usize {
        self.segments.len() * self.shape.capacity()
    }

    /// Bytes the table allocates: directory, segment vector and bucket arrays (not what the
    /// keys and values own on the heap).
    pub fn bytes_allocated(&self) -> usize {
        self.directory.capacity() * std::mem::size_of::<u32>()
            + self.segments.capacity() * std::mem::size_of::<Segment<K, V>>()
            + self.segments.iter().map(Segment::heap_bytes).sum::<usize>()
    }

    pub fn hash(&self, key: &K) -> u64 {
        self.policy.hash_key(key)
    }

    #[inline]
    pub(crate) fn segment_of(&self, hash: u64) -> usize {
        let index = if self.global_depth == 0 {
            0
        } else {
            hash >> (64 - self.global_depth)
        };
        self.directory[index as usize] as usize
    }

    // ---- lookups ----

    #[inline]
    pub fn find_pos_hashed<Q: ?Sized>(&self, hash: u64, query: &Q) -> Option<EntryPos>
    where
        K: KeyMatch<Q>,
    {
        let segment = self.segment_of(hash);
        let (bucket, slot) = self.segments[segment].find(self.shape, hash, query)?;
        Some(EntryPos {
            segment: segment as u32,
            bucket: bucket as u8,
            slot: slot as u8,
        })
    }

    /// The entry at `pos` (from a lookup or insert since the last change).
    pub fn entry(&self, pos: EntryPos) -> (&K, &V) {
        let (k, v) = self.segments[pos.segment as usize].buckets[pos.bucket as usize]
            .entry(pos.slot as usize)
            .expect("stale EntryPos");
        (k, v)
    }

    /// Mutable access to the entry at `pos`. The key must keep its hash and equality (only
    /// flags may change). Calls the bucket-change hook and stamps a new bucket version.
    pub fn entry_mut<H: TableHooks<K, V>>(
        &mut self,
        pos: EntryPos,
        hooks: &mut H,
    ) -> (&mut K, &mut V) {
        self.before_change(pos.segment as usize, pos.bucket as usize, hooks);
        let (k, v) = self.segments[pos.segment as usize].buckets[pos.bucket as usize]
            .entry_mut(pos.slot as usize)
            .expect("stale EntryPos");
        (k, v)
    }

    #[inline]
    pub fn find_hashed<Q: ?Sized>(&self, hash: u64, query: &Q) -> Option<(&K, &V)>
    where
        K: KeyMatch<Q>,
    {
        self.find_pos_hashed(hash, query).map(|pos| self.entry(pos))
    }

    pub fn find_mut_hashed<Q: ?Sized, H: TableHooks<K, V>>(
        &mut self,
        hash: u64,
        query: &Q,
        hooks: &mut H,
    ) -> Option<(&mut K, &mut V)>
    where
        K: KeyMatch<Q>,
    {
        let pos = self.find_pos_hashed(hash, query)?;
        Some(self.entry_mut(pos, hooks))
    }

    pub fn find(&self, key: &K) -> Option<&V>
    where
        K: KeyMatch<K>,
    {
        self.find_hashed(self.hash(key), key).map(|(_, v)| v)
    }

    pub fn find_mut(&mut self, key: &K) -> Option<&mut V>
    where
        K: KeyMatch<K>,
    {
        self.find_mut_hashed(self.hash(key), key, &mut NoHooks)
            .map(|(_, v)| v)
    }

    pub fn contains(&self, key: &K) -> bool
    where
        K: KeyMatch<K>,
    {
        self.find(key).is_some()
    }

    // ---- inserts ----

    /// Inserts `key` if absent; gives the pair back if an equal key is present.
    pub fn insert_hashed<H: TableHooks<K, V>>(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        hooks: &mut H,
    ) -> Result<EntryPos, (K, V)>
    where
        K: KeyMatch<K>,
    {
        if self.find_pos_hashed(hash, &key).is_some() {
            return Err((key, value));
        }
        Ok(self.insert_new_hashed(hash, key, value, hooks))
    }

    /// Inserts a key the caller knows is absent (after a failed lookup). When the key's home
    /// and next buckets are full, frees a slot in the next bucket by moving entries forward
    /// (see [`DashTable::displace`]), else uses the stash; splits the segment when all of
    /// that fails, after offering the segment's entries to `hooks.drop_before_split`.
    pub fn insert_new_hashed<H: TableHooks<K, V>>(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        hooks: &mut H,
    ) -> EntryPos {
        loop {
            let segment = self.segment_of(hash);
            let place = self.segments[segment]
                .place_regular(self.shape, hash)
                .or_else(|| self.displace(segment, hash, hooks))
                .or_else(|| self.segments[segment].place_stash(self.shape, hash));
            if let Some((bucket, slot)) = place {
                self.before_change(segment, bucket, hooks);
                self.segments[segment].put(self.shape, bucket, slot, hash, (key, value));
                self.len += 1;
                return EntryPos {
                    segment: segment as u32,
                    bucket: bucket as u8,
                    slot: slot as u8,
                };
            }
            if self.drop_before_split(segment, hooks) == 0 {
                self.split(segment, hash, hooks);
            }
        }
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert_or_assign_hashed<H: TableHooks<K, V>>(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        hooks: &mut H,
    ) -> Option<V>
    where
        K: KeyMatch<K>,
    {
        match self.find_pos_hashed(hash, &key) {
            Some(pos) => Some(std::mem::replace(self.entry_mut(pos, hooks).1, value)),
            None => {
                self.insert_new_hashed(hash, key, value, hooks);
                None
            }
        }
    }

    /// Inserts if absent; returns false (dropping the pair) if the key is present.
    pub fn insert(&mut self, key: K, value: V) -> bool
    where
        K: KeyMatch<K>,
    {
        self.insert_hashed(self.hash(&key), key, value, &mut NoHooks)
            .is_ok()
    }

    pub fn insert_or_assign(&mut self, key: K, value: V) -> Option<V>
    where
        K: KeyMatch<K>,
    {
        self.insert_or_assign_hashed(self.hash(&key), key, value, &mut NoHooks)
    }

    // ---- erases ----

    pub fn erase_at<H: TableHooks<K, V>>(&mut self, pos: EntryPos, hooks: &mut H) -> (K, V) {
        let (segment, bucket) = (pos.segment as usize, pos.bucket as usize);
        self.before_change(segment, bucket, hooks);
        self.len -= 1;
        self.segments[segment].take(self.shape, bucket, pos.slot as usize)
    }

    pub fn erase_hashed<Q: ?Sized, H: TableHooks<K, V>>(
        &mut self,
        hash: u64,
        query: &Q,
        hooks: &mut H,
    ) -> Option<(K, V)>
    where
        K: KeyMatch<Q>,
    {
        let pos = self.find_pos_hashed(hash, query)?;
        Some(self.erase_at(pos, hooks))
    }

    pub fn erase(&mut self, key: &K) -> Option<(K, V)>
    where
        K: KeyMatch<K>,
    {
        self.erase_hashed(self.hash(key), key, &mut NoHooks)
    }

    /// Drops every entry and shrinks back to one segment. Keeps the version clock.
    pub fn clear(&mut self) {
        self.directory = vec![0];
        self.segments = vec![Segment::new(self.shape, 0)];
        self.global_depth = 0;
        self.len = 0;
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.segments
            .iter()
            .flat_map(|s| s.buckets.iter())
            .flat_map(|b| b.iter())
    }

    /// A pseudo-random entry chosen from `random` (the caller owns the random source; its
    /// bits are mixed first, so a counter works too). Entries in sparse regions are picked
    /// more often: good enough for RANDOMKEY, not a uniform sample.
    pub fn random_entry(&self, random: u64) -> Option<(&K, &V)> {
        if self.len == 0 {
            return None;
        }
        let random = mix64(random);
        let total = self.shape.total();
        let buckets = self.segments.len() * total;
        let start = (random % buckets as u64) as usize;
        for i in 0..buckets {
            let flat = (start + i) % buckets;
            let bucket = &self.segments[flat / total].buckets[flat % total];
            if !bucket.is_empty() {
                let pick = (random >> 40) as usize % bucket.len();
                let slot = slots_of(bucket.occupied()).nth(pick).expect("pick < len");
                return bucket.entry(slot).map(|(k, v)| (k, v));
            }
        }
        unreachable!("len > 0 but every bucket is empty")
    }

    // ---- versions ----

    /// The last version stamped on a changed bucket.
    pub fn current_version(&self) -> u64 {
        self.version_clock
    }

    /// Advances the version clock (a snapshot takes its cut this way).
    pub fn next_version(&mut self) -> u64 {
        self.version_clock += 1;
        self.version_clock
    }

    pub fn bucket(&self, id: BucketId) -> BucketRef<'_, K, V> {
        BucketRef {
            id,
            bucket: &self.segments[id.segment as usize].buckets[id.bucket as usize],
        }
    }

    /// Marks a bucket as serialized up to `version`.
    pub fn set_bucket_version(&mut self, id: BucketId, version: u64) {
        self.segments[id.segment as usize].buckets[id.bucket as usize].set_version(version);
    }

    fn before_change<H: TableHooks<K, V>>(&mut self, segment: usize, bucket: usize, hooks: &mut H) {
        let id = BucketId {
            segment: segment as u32,
            bucket: bucket as u8,
        };
        hooks.before_bucket_change(BucketRef {
            id,
            bucket: &self.segments[segment].buckets[bucket],
        });
        self.version_clock += 1;
        self.segments[segment].buckets[bucket].set_version(self.version_clock);
    }

    // ---- growth ----

    /// Frees a slot in the next bucket of `hash` by a chain of forward moves (each entry
    /// moved sits in its home bucket and goes to its next one); returns that slot. Every
    /// bucket a move leaves or enters goes through the change hook and gets a new version,
    /// so a snapshot serializes it first.
    fn displace<H: TableHooks<K, V>>(
        &mut self,
        segment: usize,
        hash: u64,
        hooks: &mut H,
    ) -> Option<(usize, usize)> {
        let shape = self.shape;
        let start = shape.next(shape.home(hash));
        let policy = &self.policy;
        let chain = self.segments[segment]
            .displacement_chain(shape, start, |k| shape.home(policy.hash_key(k)))?;
        for (from, slot) in chain.moves() {
            self.before_change(segment, from + 1, hooks);
            self.before_change(segment, from, hooks);
            self.segments[segment].move_forward(shape, from, slot);
            self.displaced += 1;
        }
        Some((chain.start, chain.freed_slot()))
    }

    /// Entries moved by displacement since the table was created (a statistic for tests and
    /// benchmarks).
    pub fn displaced_entries(&self) -> u64 {
        self.displaced
    }

    /// Offers each entry of a full segment to the hooks; returns how many were dropped.
    fn drop_before_split<H: TableHooks<K, V>>(&mut self, segment: usize, hooks: &mut H) -> usize {
        let mut dropped = 0;
        for bucket in 0..self.shape.total() {
            let b = &self.segments[segment].buckets[bucket];
            let mut doomed = 0u16;
            for slot in slots_of(b.occupied()) {
                let (k, v) = b.entry(slot).expect("occupied");
                if hooks.drop_before_split(k, v) {
                    doomed |= 1 << slot;
                }
            }
            if doomed != 0 {
                self.before_change(segment, bucket, hooks);
                for slot in slots_of(doomed) {
                    drop(self.segments[segment].take(self.shape, bucket, slot));
                    self.len -= 1;
                    dropped += 1;
                }
            }
        }
        dropped
    }

    /// Splits the segment that `hash` maps to into itself (lower half of its hash range) and
    /// a new segment (upper half), doubling the directory first if the segment is as deep as
    /// the directory. Only the directory entries of the upper half change.
    fn split<H: TableHooks<K, V>>(&mut self, segment: usize, hash: u64, hooks: &mut H) {
        let depth = self.segments[segment].local_depth;
        assert!(
            depth < GLOBAL_DEPTH_MAX,
            "DashTable: too many keys share {depth} hash bits"
        );
        if depth == self.global_depth {
            self.double_directory();
        }
        for bucket in 0..self.shape.total() {
            if !self.segments[segment].buckets[bucket].is_empty() {
                self.before_change(segment, bucket, hooks);
            }
        }
        let mut upper = Segment::new(self.shape, depth + 1);
        let bit = 63 - depth;
        let policy = &self.policy;
        self.segments[segment].split_into(self.shape, &mut upper, |k| {
            (policy.hash_key(k) >> bit) & 1 == 1
        });
        self.segments[segment].local_depth = depth + 1;
        self.version_clock += 1;
        for bucket in upper.buckets.iter_mut() {
            bucket.set_version(self.version_clock);
        }
        let upper_id = self.segments.len() as u32;
        self.segments.push(upper);

        let index = (hash >> (64 - self.global_depth)) as usize;
        let span = 1usize << (self.global_depth - depth);
        let start = index & !(span - 1);
        for entry in &mut self.directory[start + span / 2..start + span] {
            *entry = upper_id;
        }
        debug_assert!(self.directory[start..start + span / 2]
            .iter()
            .all(|&s| s as usize == segment));
    }

    fn double_directory(&mut self) {
        let mut doubled = Vec::with_capacity(self.directory.len() * 2);
        for &segment in &self.directory {
            doubled.push(segment);
            doubled.push(segment);
        }
        self.directory = doubled;
        self.global_depth += 1;
    }

    /// Checks the structural invariants (tests call this after random operation sequences).
    pub fn check_invariants(&self) {
        assert_eq!(self.directory.len(), 1 << self.global_depth);
        let mut total = 0;
        for (id, segment) in self.segments.iter().enumerate() {
            let span = 1usize << (self.global_depth - segment.local_depth);
            let pointing: Vec<usize> = (0..self.directory.len())
                .filter(|&i| self.directory[i] as usize == id)
                .collect();
            assert_eq!(pointing.len(), span, "segment {id} directory span");
            assert_eq!(pointing[0] % span, 0, "segment {id} aligned");
            let mut count = 0;
            for (b, bucket) in segment.buckets.iter().enumerate() {
                for (k, _) in bucket.iter() {
                    let hash = self.policy.hash_key(k);
                    assert_eq!(self.segment_of(hash), id, "entry in the wrong segment");
                    let home = self.shape.home(hash);
                    let in_stash = b >= self.shape.regular;
                    assert!(
                        in_stash || b == home || b == self.shape.next(home),
                        "misplaced"
                    );
                    if in_stash {
                        let hint = segment.buckets[home].stash_hints();
                        assert!(hint & (1 << (b - self.shape.regular)) != 0, "missing hint");
                    }
                    count += 1;
                }
            }
            assert!(count <= self.shape.total() * BUCKET_SLOTS);
            assert_eq!(count, segment.len as usize);
            total += count;
        }
        assert_eq!(total, self.len);
    }
}

/// splitmix64's finalizer: spreads every input bit over the output.
fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
