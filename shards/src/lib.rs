//! damselfly-shards: the data a shard owns. No I/O, no threads, no clock: callers pass time
//! as `now_ms` and randomness as `u64` values.
//!
//! - [`dash`]: `DashTable<K, V, Policy>`, extendible hashing over segments of buckets with
//!   one-byte fingerprints (segment, bucket, split-proof cursor, bucket versions and hooks).
//! - [`cell`]: 16-byte `CompactKey` / `CompactValue` cells: inline strings, integers, heap
//!   strings, typed objects behind a pointer, flag bits.
//! - [`hash`]: fixed-seed ahash shared with shard selection; `KeyPolicy` for key tables.
//! - [`db_slice`]: `DbSlice`, databases 0..N-1 with primary and expire tables, lazy expiry,
//!   scans, watched-key versions, memory accounting.
//! - [`expiry`]: the bounded active-expiry step.
//! - [`limits`]: `CollectionLimits`, the encoding thresholds of lists, hashes, sets, zsets.
//! - [`stream`]: the stream value, its packed nodes and consumer groups.
//! - [`glob`]: Redis `stringmatchlen` glob matching for KEYS and SCAN MATCH.

pub mod bptree;
pub mod cell;
pub mod dash;
pub mod db_slice;
pub mod dense;
pub mod expiry;
pub mod geohash;
pub mod glob;
pub mod hash;
pub mod hash_value;
pub mod hll;
pub mod intset;
pub mod limits;
pub mod listpack;
pub mod quicklist;
pub mod set_value;
pub mod stream;
pub mod stream_group;
mod stream_node;
#[cfg(test)]
mod stream_tests;
pub mod zset;
pub mod zset_table;

pub use cell::{CellFlags, CompactKey, CompactValue, Encoding, ObjType, TypedObject};
pub use dash::{BucketId, BucketRef, DashPolicy, DashTable, EntryPos, NoHooks, TableHooks};
pub use db_slice::{
    DbIndex, DbSlice, DbStats, DetachedDb, EvictionGuard, EvictionPolicy, KeyEvent, KeyEventSink,
    LazyFreeSettings, TableCtx, TableCut,
};
pub use dense::{DenseSet, MapValueMut, StringMap};
pub use expiry::{ExpireBudget, ExpireReport};
pub use glob::{glob_match, GlobPattern};
pub use hash::{FixedHasher, KeyPolicy, PoolHasher};
pub use hash_value::HashValue;
pub use limits::CollectionLimits;
pub use listpack::{Listpack, LpIter, LpPos, LpProbe, LpValue};
pub use quicklist::QuickList;
pub use set_value::{SetMember, SetValue};
pub use stream::{Stream, StreamId};
