//! Fixed-seed ahash: the same key hashes to the same value in every shard, process and run,
//! so shard selection (`hash % shard_count`) and the DashTable can share one hash per key.

use ahash::RandomState;

use crate::cell::CompactKey;
use crate::dash::{DashPolicy, KeyMatch};

const SEEDS: RandomState = RandomState::with_seeds(
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
);

/// Namespace for the crate's fixed hash functions.
pub struct FixedHasher;

impl FixedHasher {
    /// Hash of a key's bytes; what the coordinator computes once per key.
    #[inline]
    pub fn hash_bytes(bytes: &[u8]) -> u64 {
        SEEDS.hash_one(bytes)
    }

    #[inline]
    pub fn hash_u64(value: u64) -> u64 {
        SEEDS.hash_one(value)
    }
}

/// Policy of the primary and expire tables: keys hashed by their string form.
#[derive(Clone, Copy, Default, Debug)]
pub struct KeyPolicy;

impl DashPolicy<CompactKey> for KeyPolicy {
    fn hash_key(&self, key: &CompactKey) -> u64 {
        FixedHasher::hash_bytes(&key.as_bytes())
    }
}

impl KeyMatch<[u8]> for CompactKey {
    #[inline]
    fn key_matches(&self, query: &[u8]) -> bool {
        self == query
    }
}

/// The hasher of tables whose iteration order can reach a reply or the order of work (set
/// algebra, watched and blocking keys, the lock table, pub/sub channels): seeded per server
/// pool by the runtime (`damselfly_runtime::hash_seed`), so orders are unguessable on a real
/// server and replay exactly under the simulator. Off a proactor thread: ahash's random seed.
#[derive(Clone, Debug)]
pub struct PoolHasher(RandomState);

impl Default for PoolHasher {
    #[inline]
    fn default() -> Self {
        match damselfly_runtime::hash_seed() {
            Some(seed) => {
                // Four keys from one seed (splitmix64 steps).
                let mut z = seed;
                let mut next = || {
                    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
                    let mut x = z;
                    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                    x ^ (x >> 31)
                };
                PoolHasher(RandomState::with_seeds(next(), next(), next(), next()))
            }
            None => PoolHasher(RandomState::new()),
        }
    }
}

impl std::hash::BuildHasher for PoolHasher {
    type Hasher = ahash::AHasher;
    #[inline]
    fn build_hasher(&self) -> ahash::AHasher {
        self.0.build_hasher()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hash_is_the_hash_of_its_bytes_in_every_encoding() {
        for bytes in [
            &b"short"[..],
            b"123456789012345678",
            b"a-key-long-enough-for-the-heap",
        ] {
            let key = CompactKey::new(bytes);
            assert_eq!(KeyPolicy.hash_key(&key), FixedHasher::hash_bytes(bytes));
        }
        assert_ne!(FixedHasher::hash_bytes(b"a"), FixedHasher::hash_bytes(b"b"));
    }
}
