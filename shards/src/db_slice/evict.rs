//! Eviction at `maxmemory`: when the slice holds more than its share of the limit, keys go,
//! chosen by the `maxmemory-policy` the way Redis chooses them — approximately, from a few
//! sampled keys, with no per-key list. The coordinator calls [`DbSlice::evict`] between
//! commands (before a command that may grow memory runs, and on the heartbeat), never inside
//! one, so a command never loses a key it already looked at.
//!
//! The `*-lru` policies evict the sampled key idle longest, the `*-lfu` ones the sampled key
//! with the lowest decayed LFU counter, both read from the per-key access clock
//! (`clock.rs`); `maxmemory-samples` keys are drawn per choice, as Redis draws them.

use super::{DbIndex, DbSlice, KeyEvent};
use crate::cell::CompactKey;
use crate::FixedHasher;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictionPolicy {
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    /// `--cache_mode`: bucket tails go, ranked by hits (`cache.rs`); every key may go.
    Cache,
}

impl EvictionPolicy {
    /// The policy named by `maxmemory-policy`; None for `noeviction`.
    pub fn parse(name: &str) -> Option<EvictionPolicy> {
        Some(match name {
            "allkeys-lru" => EvictionPolicy::AllKeysLru,
            "allkeys-lfu" => EvictionPolicy::AllKeysLfu,
            "allkeys-random" => EvictionPolicy::AllKeysRandom,
            "volatile-lru" => EvictionPolicy::VolatileLru,
            "volatile-lfu" => EvictionPolicy::VolatileLfu,
            "volatile-random" => EvictionPolicy::VolatileRandom,
            "volatile-ttl" => EvictionPolicy::VolatileTtl,
            _ => return None,
        })
    }

    /// Only keys with a deadline may go.
    fn volatile(self) -> bool {
        matches!(
            self,
            EvictionPolicy::VolatileLru
                | EvictionPolicy::VolatileLfu
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::VolatileTtl
        )
    }

    /// The access clock counts frequency (LFU) rather than recency.
    pub fn is_lfu(self) -> bool {
        matches!(
            self,
            EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu
        )
    }
}

/// A slice's eviction settings and counters.
#[derive(Debug)]
pub struct Eviction {
    pub policy: EvictionPolicy,
    /// Bytes this slice may hold.
    pub budget: usize,
    /// Keys looked at per choice (`maxmemory-samples`).
    pub samples: usize,
    random: u64,
    /// Over budget and nothing left that the policy may evict.
    pub stuck: bool,
    /// Where the cache mode's sweep of bucket tails goes on (database, then table cursor).
    pub(super) sweep_db: usize,
    pub(super) sweep_cursor: u64,
}

impl DbSlice {
    /// Turns eviction on (a policy other than noeviction and a budget) or off.
    pub fn set_eviction(&mut self, policy: Option<EvictionPolicy>, budget: usize, samples: usize) {
        self.eviction = match (policy, budget) {
            (Some(policy), b) if b > 0 => {
                let old = self.eviction.as_ref();
                Some(Box::new(Eviction {
                    policy,
                    budget,
                    samples: samples.max(1),
                    random: old.map_or(0x9e37_79b9, |e| e.random),
                    stuck: false,
                    sweep_db: old.map_or(0, |e| e.sweep_db),
                    sweep_cursor: old.map_or(0, |e| e.sweep_cursor),
                }))
            }
            _ => None,
        };
        self.bumping = policy == Some(EvictionPolicy::Cache);
    }

    /// Keys evicted since the slice was created.
    pub fn evicted_keys(&self) -> u64 {
        self.evicted_keys
    }

    /// Over budget with nothing the policy may evict: writes that grow memory are refused.
    pub fn eviction_stuck(&self) -> bool {
        self.eviction.as_ref().is_some_and(|e| e.stuck)
    }

    /// Evicts keys while the slice is over its budget, at most `max_keys`; returns how many.
    pub fn evict(&mut self, now_ms: u64, max_keys: usize) -> usize {
        let mut evicted = 0;
        let Some(budget) = self.eviction.as_ref().map(|e| e.budget) else {
            return 0;
        };
        // Measured once (it walks the tables); each eviction then subtracts what it freed.
        let mut used = self.bytes_used();
        while evicted < max_keys {
            // Down to 2% under budget: the writes after an eviction step have room before
            // the next one.
            if used <= budget - budget / 50 {
                if let Some(e) = self.eviction.as_mut() {
                    e.stuck = false;
                }
                return evicted;
            }
            if self.bumping {
                let Some((db, pos)) = self.sweep_victim() else {
                    if let Some(e) = self.eviction.as_mut() {
                        e.stuck = true;
                    }
                    return evicted;
                };
                used = used.saturating_sub(self.evict_at(db, pos));
                evicted += 1;
                continue;
            }
            let Some((db, key)) = self.pick_victim(now_ms) else {
                if let Some(e) = self.eviction.as_mut() {
                    e.stuck = true;
                }
                return evicted;
            };
            let bytes = key.as_bytes().to_vec();
            let hash = Self::hash_key(&bytes);
            let Some(d) = self.dbs[db].as_ref() else {
                continue;
            };
            let Some(pos) = d.primary.find_pos_hashed(hash, bytes.as_slice()) else {
                continue;
            };
            let heap_before = self.heap_bytes();
            let removed = self.remove_at(db, hash, &bytes, pos);
            self.dispose(removed.value, self.lazy.settings.eviction);
            used = used.saturating_sub(heap_before - self.heap_bytes());
            self.evicted_keys += 1;
            self.raise(db, KeyEvent::Evicted, &bytes);
            evicted += 1;
        }
        evicted
    }

    /// The key the policy evicts next, from a sample; None when no key qualifies.
    fn pick_victim(&mut self, now_ms: u64) -> Option<(DbIndex, CompactKey)> {
        let (policy, samples) = {
            let e = self.eviction.as_ref()?;
            (e.policy, e.samples)
        };
        // Databases with candidates, visited from a random start.
        let candidates: Vec<DbIndex> = (0..self.dbs.len())
            .filter(|&db| {
                self.dbs[db].as_ref().is_some_and(|d| {
                    if policy.volatile() {
                        !d.expire.is_empty()
                    } else {
                        !d.primary.is_empty()
                    }
                })
            })
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let mut random = self.next_random();
        let db = candidates[(random % candidates.len() as u64) as usize];
        let mut best: Option<(CompactKey, u64)> = None;
        for _ in 0..samples {
            random = FixedHasher::hash_u64(random);
            let d = self.dbs[db].as_ref()?;
            let (key, deadline) = if policy.volatile() {
                let (k, &deadline) = d.expire.random_entry(random)?;
                (k.clone(), deadline)
            } else {
                let (k, _) = d.primary.random_entry(random)?;
                (k.clone(), 0)
            };
            let rank = match policy {
                EvictionPolicy::AllKeysRandom
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::Cache => {
                    return Some((db, key));
                }
                // Already expired keys go first, then the soonest deadline.
                EvictionPolicy::VolatileTtl => u64::MAX - deadline.saturating_sub(now_ms),
                _ => {
                    let hash = Self::hash_key(&key.as_bytes());
                    let pos = d.primary.find_pos_hashed(hash, &*key.as_bytes())?;
                    self.eviction_rank(db, pos, now_ms)
                }
            };
            if best.as_ref().is_none_or(|(_, r)| rank > *r) {
                best = Some((key, rank));
            }
        }
        best.map(|(key, _)| (db, key))
    }

    fn next_random(&mut self) -> u64 {
        let e = self.eviction.as_mut().expect("eviction on");
        e.random = FixedHasher::hash_u64(e.random.wrapping_add(0x9e37_79b9_7f4a_7c15));
        e.random
    }
}
