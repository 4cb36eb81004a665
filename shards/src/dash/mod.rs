//! DashTable: extendible hashing over segments that grow in steps (Dragonfly's `DashTable`).
//!
//! - [`table`]: the directory (global depth, `Vec<u32>` of segment ids), lookups, inserts,
//!   erases, segment growth through a ladder of sizes, splits and directory doubling,
//!   memory accounting.
//! - [`segment`]: one segment: regular buckets then stash buckets in 4 KiB chunks, home/next
//!   placement, forward displacement, stash overflow hints, rebuild planning.
//! - [`bucket`]: 15 slots with a one-byte fingerprint each, an occupancy mask and a version.
//! - `cache`: cache-mode order inside buckets: bumping on hits, victims at bucket tails.
//! - [`cursor`]: the split-proof traversal used by SCAN and snapshots.
//!
//! Hash bits: the top `global_depth` bits pick the directory entry, bits 8..40 pick the home
//! bucket (multiply-shift range reduction), the low byte is the fingerprint.

pub mod bucket;
mod cache;
pub mod cursor;
pub mod prefetch;
pub mod segment;
pub mod table;

pub use bucket::{Bucket, BUCKET_SLOTS};
pub use table::{DashTable, EntryPos};

/// Hashing and shape of a table. The shape is fixed per policy so tests can use tiny
/// segments that split often.
pub trait DashPolicy<K> {
    /// Regular buckets per segment at its largest (each key has a home bucket and the next
    /// one). Regular plus stash buckets are at most 64 (eight 4 KiB chunks).
    const REGULAR_BUCKETS: usize = 60;
    /// Stash buckets per segment (overflow), at most 8.
    const STASH_BUCKETS: usize = 4;

    /// Hash of a stored key; must equal the hash callers pass to the `*_hashed` methods.
    fn hash_key(&self, key: &K) -> u64;
}

/// Equality between a stored key and a lookup form (`CompactKey` against `[u8]`).
pub trait KeyMatch<Q: ?Sized> {
    fn key_matches(&self, query: &Q) -> bool;
}

impl<K: Eq> KeyMatch<K> for K {
    fn key_matches(&self, query: &K) -> bool {
        self == query
    }
}

/// Identity of a bucket: the segment's id (stable for the segment's life) and the bucket
/// index inside it (regular buckets first, then stash buckets).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct BucketId {
    pub segment: u32,
    pub bucket: u8,
}

/// Read access to one bucket, given to hooks and traversals.
pub struct BucketRef<'a, K, V> {
    pub id: BucketId,
    pub bucket: &'a Bucket<K, V>,
}

impl<'a, K, V> BucketRef<'a, K, V> {
    pub fn version(&self) -> u64 {
        self.bucket.version()
    }

    pub fn len(&self) -> usize {
        self.bucket.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bucket.len() == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'a K, &'a V)> + 'a {
        self.bucket.iter()
    }
}

/// Per-call hooks for mutating operations. Both methods have no-op defaults.
pub trait TableHooks<K, V> {
    /// Called before any entry of `bucket` is inserted, changed, moved or removed, with the
    /// bucket's current entries and version (a snapshot serializes them here when the version
    /// is older than its cut). The table then stamps the bucket with a new version.
    fn before_bucket_change(&mut self, _bucket: BucketRef<'_, K, V>) {}

    /// Called for each entry of a full segment before it splits; returning true drops the
    /// entry (expired items are collected here instead of growing the table).
    fn drop_before_split(&mut self, _key: &K, _value: &V) -> bool {
        false
    }
}

/// Hooks that do nothing.
pub struct NoHooks;

impl<K, V> TableHooks<K, V> for NoHooks {}
