//! The directory and the table's operations.

use super::bucket::slots_of;
use super::segment::{Segment, Shape, CHUNK_BUCKETS, SEGMENT_CHUNKS_MAX};
use super::{BucketId, BucketRef, DashPolicy, KeyMatch, NoHooks, TableHooks};

/// Deepest directory allowed: 2^48 segments cannot be allocated anyway; reaching it means
/// more than a segment's worth of keys share 48 hash bits (a broken hash function). Cursors
/// keep their bucket and generation in the 16 bits below.
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
    /// Segment sizes, smallest first, ending with the policy's shape (the only size that
    /// splits unless no size holds a segment's entries): a full segment is rebuilt at the
    /// next size, so the table grows in steps of ~1.2x instead of doubling (which left
    /// every segment half empty after each wave of splits).
    ladder: Vec<Shape>,
    len: usize,
    version_clock: u64,
    /// Entries moved by displacement (statistic).
    displaced: u64,
    /// Segments carry a 16-bit stamp per slot ([`DashTable::with_stamps`]).
    stamped: bool,
    /// Sum of the segments' heap bytes, kept as segments are rebuilt, added and cleared, so
    /// [`DashTable::bytes_allocated`] costs no walk (eviction reads it per insert).
    segment_bytes: usize,
    policy: P,
}

impl<K, V, P: DashPolicy<K>> DashTable<K, V, P> {
    pub fn new(policy: P) -> DashTable<K, V, P> {
        Self::build(policy, false)
    }

    /// A table whose entries each carry a 16-bit stamp ([`DashTable::stamp`]) that moves
    /// with them through displacement, growth and splits: 2 bytes per slot.
    pub fn with_stamps(policy: P) -> DashTable<K, V, P> {
        Self::build(policy, true)
    }

    fn build(policy: P, stamped: bool) -> DashTable<K, V, P> {
        let shape = Shape {
            regular: P::REGULAR_BUCKETS,
            stash: P::STASH_BUCKETS,
        };
        assert!(
            shape.regular >= 2 && shape.stash >= 1 && shape.stash <= 8,
            "bad shape"
        );
        assert!(
            shape.total() <= CHUNK_BUCKETS * SEGMENT_CHUNKS_MAX,
            "at most 64 buckets per segment"
        );
        let ladder = size_ladder(shape);
        let first = Segment::new(ladder[0], 0, stamped);
        DashTable {
            directory: vec![0],
            segment_bytes: first.heap_bytes(),
            segments: vec![first],
            global_depth: 0,
            ladder,
            len: 0,
            version_clock: 0,
            displaced: 0,
            stamped,
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
        self.segments.iter().map(|s| s.shape.capacity()).sum()
    }

    /// Bytes the table allocates: directory, segment vector and bucket arrays (not what the
    /// keys and values own on the heap).
    pub fn bytes_allocated(&self) -> usize {
        self.directory.capacity() * std::mem::size_of::<u32>()
            + self.segments.capacity() * std::mem::size_of::<Segment<K, V>>()
            + self.segment_bytes
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
        let seg = &self.segments[segment];
        let (bucket, slot) = seg.find(seg.shape, hash, query)?;
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
    /// The key at `pos`, to change bits that are not its content (an access mark): no
    /// change hook runs and the bucket's version stays, so snapshots do not see a change.
    pub fn key_mut_quiet(&mut self, pos: EntryPos) -> &mut K {
        &mut self.segments[pos.segment as usize].buckets[pos.bucket as usize]
            .entry_mut(pos.slot as usize)
            .expect("stale EntryPos")
            .0
    }

    /// The stamp of the entry at `pos` (0 in a table without stamps; a new entry starts
    /// at 0). Reading or writing it runs no change hook: it is not the entry's content.
    #[inline]
    pub fn stamp(&self, pos: EntryPos) -> u16 {
        self.segments[pos.segment as usize].stamp(pos.bucket as usize, pos.slot as usize)
    }

    #[inline]
    pub fn set_stamp(&mut self, pos: EntryPos, stamp: u16) {
        self.segments[pos.segment as usize].set_stamp(
            pos.bucket as usize,
            pos.slot as usize,
            stamp,
        );
    }

    /// The key at `pos` (for bits that are not its content, as [`DashTable::key_mut_quiet`])
    /// and its stamp (None in a table without stamps), reached with one position decode.
    #[inline]
    pub fn key_and_stamp_mut(&mut self, pos: EntryPos) -> (&mut K, Option<&mut u16>) {
        self.segments[pos.segment as usize]
            .key_and_stamp_mut(pos.bucket as usize, pos.slot as usize)
            .expect("stale EntryPos")
    }

    pub fn is_stamped(&self) -> bool {
        self.stamped
    }

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
            let shape = self.segments[segment].shape;
            let place = self.segments[segment]
                .place_regular(shape, hash)
                .or_else(|| self.displace(segment, hash, hooks))
                .or_else(|| self.segments[segment].place_stash(shape, hash));
            if let Some((bucket, slot)) = place {
                self.before_change(segment, bucket, hooks);
                self.segments[segment].put(shape, bucket, slot, hash, (key, value));
                self.len += 1;
                return EntryPos {
                    segment: segment as u32,
                    bucket: bucket as u8,
                    slot: slot as u8,
                };
            }
            if self.drop_before_split(segment, hooks) == 0 {
                self.grow_or_split(segment, hash, hooks);
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
        let shape = self.segments[segment].shape;
        self.segments[segment].take(shape, bucket, pos.slot as usize)
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
        self.segments = vec![Segment::new(self.ladder[0], 0, self.stamped)];
        self.segment_bytes = self.segments[0].heap_bytes();
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
        let pos = self.random_pos(random)?;
        Some(self.entry(pos))
    }

    /// The position of the entry [`DashTable::random_entry`] picks.
    pub fn random_pos(&self, random: u64) -> Option<EntryPos> {
        if self.len == 0 {
            return None;
        }
        let random = mix64(random);
        let first_segment = (random % self.segments.len() as u64) as usize;
        let first_bucket = (random >> 20) as usize % self.segments[first_segment].buckets.len();
        // Every bucket once, in table order from (first_segment, first_bucket), wrapping.
        for i in 0..=self.segments.len() {
            let segment = (first_segment + i) % self.segments.len();
            let buckets = &self.segments[segment].buckets;
            let skip = if i == 0 { first_bucket } else { 0 };
            let take = if i == self.segments.len() {
                first_bucket
            } else {
                usize::MAX
            };
            for (b, bucket) in buckets.iter().enumerate().skip(skip).take(take) {
                if !bucket.is_empty() {
                    let pick = (random >> 40) as usize % bucket.len();
                    let slot = slots_of(bucket.occupied()).nth(pick).expect("pick < len");
                    return Some(EntryPos {
                        segment: segment as u32,
                        bucket: b as u8,
                        slot: slot as u8,
                    });
                }
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

    pub(super) fn before_change<H: TableHooks<K, V>>(
        &mut self,
        segment: usize,
        bucket: usize,
        hooks: &mut H,
    ) {
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
        let shape = self.segments[segment].shape;
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
        let shape = self.segments[segment].shape;
        for bucket in 0..shape.total() {
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
                    drop(self.segments[segment].take(shape, bucket, slot));
                    self.len -= 1;
                    dropped += 1;
                }
            }
        }
        dropped
    }

    /// Makes room in the full segment `segment`: rebuilds it at the next size of the ladder
    /// that holds its entries, or splits it (at the largest size, or if no size holds them).
    fn grow_or_split<H: TableHooks<K, V>>(&mut self, segment: usize, hash: u64, hooks: &mut H) {
        let current = self.segments[segment].shape;
        let policy = &self.policy;
        let entries = self.segments[segment].hashed_entries(|k| policy.hash_key(k));
        let old = &self.segments[segment];
        let grown = self
            .ladder
            .iter()
            .filter(|shape| shape.regular > current.regular)
            .find_map(|&shape| Some((shape, old.plan_rebuild(shape, &entries)?)));
        let Some((shape, plan)) = grown else {
            self.split(segment, hash, &entries, hooks);
            return;
        };
        let (depth, generation) = (old.local_depth, old.generation);
        self.before_rebuild(segment, hooks);
        let mut bigger = Segment::new(shape, depth, self.stamped);
        bigger.generation = generation.wrapping_add(1);
        self.segments[segment].move_planned(&mut bigger, &entries, &plan);
        debug_assert_eq!(self.segments[segment].len, 0);
        self.segment_bytes += bigger.heap_bytes();
        self.segment_bytes -= self.segments[segment].heap_bytes();
        self.segments[segment] = bigger;
        self.version_clock += 1;
        self.stamp_segment(segment, self.version_clock);
    }

    /// Splits the segment that `hash` maps to into itself (lower half of its hash range) and
    /// a new segment (upper half), doubling the directory first if the segment is as deep as
    /// the directory. Only the directory entries of the upper half change. Each half is
    /// rebuilt at the smallest size that holds it at most 7/8 full (if none does, the halves
    /// keep the full segment's size and every entry its bucket and slot).
    fn split<H: TableHooks<K, V>>(
        &mut self,
        segment: usize,
        hash: u64,
        entries: &[(u8, u8, u64)],
        hooks: &mut H,
    ) {
        let depth = self.segments[segment].local_depth;
        assert!(
            depth < GLOBAL_DEPTH_MAX,
            "DashTable: too many keys share {depth} hash bits"
        );
        if depth == self.global_depth {
            self.double_directory();
        }
        self.before_rebuild(segment, hooks);
        let bit = 63 - depth;
        let (upper_entries, lower_entries): (Vec<_>, Vec<_>) =
            entries.iter().partition(|&&(_, _, h)| (h >> bit) & 1 == 1);
        let old = &self.segments[segment];
        let (old_shape, generation) = (old.shape, old.generation);
        let fit = |part: &[(u8, u8, u64)]| {
            self.ladder.iter().find_map(|&shape| {
                if part.len() * 8 > shape.capacity() * 7 {
                    return None;
                }
                Some((shape, old.plan_rebuild(shape, part)?))
            })
        };
        let upper = match (fit(&lower_entries), fit(&upper_entries)) {
            (Some((lower_shape, lower_plan)), Some((upper_shape, upper_plan))) => {
                let mut lower = Segment::new(lower_shape, depth + 1, self.stamped);
                lower.generation = generation.wrapping_add(1);
                let mut upper = Segment::new(upper_shape, depth + 1, self.stamped);
                let old = &mut self.segments[segment];
                old.move_planned(&mut lower, &lower_entries, &lower_plan);
                old.move_planned(&mut upper, &upper_entries, &upper_plan);
                debug_assert_eq!(old.len, 0);
                self.segment_bytes += lower.heap_bytes();
                self.segment_bytes -= self.segments[segment].heap_bytes();
                self.segments[segment] = lower;
                upper
            }
            _ => {
                let mut upper = Segment::new(old_shape, depth + 1, self.stamped);
                let policy = &self.policy;
                self.segments[segment].split_into(old_shape, &mut upper, |k| {
                    (policy.hash_key(k) >> bit) & 1 == 1
                });
                self.segments[segment].local_depth = depth + 1;
                upper
            }
        };
        let upper_id = self.segments.len() as u32;
        self.segment_bytes += upper.heap_bytes();
        self.segments.push(upper);
        self.version_clock += 1;
        self.stamp_segment(segment, self.version_clock);
        self.stamp_segment(upper_id as usize, self.version_clock);

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

    /// Gives every non-empty bucket of a segment about to be rebuilt to the change hook.
    fn before_rebuild<H: TableHooks<K, V>>(&mut self, segment: usize, hooks: &mut H) {
        for bucket in 0..self.segments[segment].buckets.len() {
            if !self.segments[segment].buckets[bucket].is_empty() {
                self.before_change(segment, bucket, hooks);
            }
        }
    }

    fn stamp_segment(&mut self, segment: usize, version: u64) {
        for bucket in self.segments[segment].buckets.iter_mut() {
            bucket.set_version(version);
        }
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
            let shape = segment.shape;
            assert!(
                self.ladder.contains(&shape),
                "segment {id} size off the ladder"
            );
            let mut count = 0;
            for (b, bucket) in segment.buckets.iter().enumerate() {
                for (k, _) in bucket.iter() {
                    let hash = self.policy.hash_key(k);
                    assert_eq!(self.segment_of(hash), id, "entry in the wrong segment");
                    let home = shape.home(hash);
                    let in_stash = b >= shape.regular;
                    assert!(in_stash || b == home || b == shape.next(home), "misplaced");
                    if in_stash {
                        let hint = segment.buckets[home].stash_hints();
                        assert!(hint & (1 << (b - shape.regular)) != 0, "missing hint");
                    }
                    count += 1;
                }
            }
            assert!(count <= shape.capacity());
            assert_eq!(count, segment.len as usize);
            total += count;
        }
        assert_eq!(total, self.len);
        let walked: usize = self.segments.iter().map(Segment::heap_bytes).sum();
        assert_eq!(walked, self.segment_bytes, "segment bytes");
    }
}

/// Most sizes a ladder has (the cursor's 8-bit generation relies on it, see `cursor.rs`).
const LADDER_RUNGS_MAX: usize = 5;

/// Segment sizes for a table whose largest segment is `largest`, smallest first: at most
/// [`LADDER_RUNGS_MAX`] totals, evenly apart (in whole chunks when segments span several)
/// from about half the largest up. A full segment grows by one step (1.14x to 1.25x for
/// the default 32..64 buckets), so the load factor stays between ~0.75 and ~0.95 at every
/// table size.
fn size_ladder(largest: Shape) -> Vec<Shape> {
    let total = largest.total();
    let smallest = total.div_ceil(2).max(largest.stash + 2);
    let mut step = (total - smallest).div_ceil(LADDER_RUNGS_MAX - 1).max(1);
    if total >= 4 * CHUNK_BUCKETS {
        step = step.next_multiple_of(CHUNK_BUCKETS);
    }
    let mut ladder: Vec<Shape> = (0..LADDER_RUNGS_MAX)
        .map(|i| total - i * step)
        .take_while(|&t| t >= smallest)
        .map(|t| Shape {
            regular: t - largest.stash,
            stash: largest.stash,
        })
        .collect();
    ladder.reverse();
    ladder
}

/// splitmix64's finalizer: spreads every input bit over the output.
fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ladder_steps_by_whole_chunks() {
        let largest = Shape {
            regular: 60,
            stash: 4,
        };
        let totals: Vec<usize> = size_ladder(largest).iter().map(Shape::total).collect();
        assert_eq!(totals, [32, 40, 48, 56, 64]);
    }

    #[test]
    fn tiny_shapes_get_a_ladder_too() {
        let largest = Shape {
            regular: 4,
            stash: 1,
        };
        let ladder = size_ladder(largest);
        assert_eq!(ladder.first().map(|s| s.regular), Some(2));
        assert_eq!(ladder.last(), Some(&largest));
        assert!(ladder.windows(2).all(|p| p[0].regular < p[1].regular));
        let wide = Shape {
            regular: 16,
            stash: 1,
        };
        assert!(size_ladder(wide).len() <= LADDER_RUNGS_MAX);
    }
}
