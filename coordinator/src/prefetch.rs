//! Warming the table lines of a batch's keys before the batch runs: three passes (buckets,
//! matching slots, heap bytes) so the cache misses of different keys overlap instead of each
//! command paying them one after another. Only a hint: nothing is read for real.

use crate::shard::Shard;
use damselfly_shards::dash::prefetch::prefetch_bytes;
use damselfly_shards::{DbSlice, Encoding};

/// Most keys warmed at once (a bound on the stack array of hashes).
const KEYS_MAX: usize = 256;

/// Starts loading the lines `keys` will touch in database `db` of `shard` (its own thread).
pub fn warm_keys<'a>(shard: &Shard, db: usize, keys: impl Iterator<Item = &'a [u8]>) {
    let Ok(slice) = shard.db.try_borrow() else {
        return;
    };
    let Some(table) = slice.primary(db) else {
        return;
    };
    let mut hashes = [0u64; KEYS_MAX];
    let mut n = 0;
    // A pipeline often names one key over and over (LPUSH mylist ...): its lines are warmed
    // once, the repeats cost a short compare instead of a hash and three probes.
    let mut prev: Option<&[u8]> = None;
    for key in keys.take(KEYS_MAX) {
        if prev == Some(key) {
            continue;
        }
        prev = Some(key);
        hashes[n] = DbSlice::hash_key(key);
        n += 1;
    }
    let hashes = &hashes[..n];
    for &h in hashes {
        table.prefetch_buckets(h);
    }
    for &h in hashes {
        table.prefetch_slots(h);
    }
    for &h in hashes {
        table.prefetch_entries(h, |k, v| {
            if k.encoding() == Encoding::Heap {
                prefetch_bytes(k.as_bytes().as_ptr());
            }
            if v.encoding() == Encoding::Heap {
                if let Some(b) = v.as_bytes() {
                    prefetch_bytes(b.as_ptr());
                }
            }
        });
    }
}
