//! Eviction at `maxmemory`: when the slice holds more than its share of the limit, keys go,
//! chosen by the `maxmemory-policy` the way Redis chooses them — approximately, from a few
//! sampled keys, with no per-key list. An insert over the budget evicts first, on the shard,
//! as cache mode does (`cache.rs`): a write load at the limit pays a few sampled lookups per
//! new key and no hop. The coordinator's step ([`DbSlice::evict`], on the heartbeat and when
//! memory runs ahead of the inserts) evicts what inserts did not: values that grew, a budget
//! that shrank.
//!
//! The `*-lru` policies evict the sampled key idle longest, the `*-lfu` ones the sampled key
//! with the lowest decayed LFU counter, both read from the per-key access clock
//! (`clock.rs`); `maxmemory-samples` keys are drawn per choice, as Redis draws them.

use super::{DbIndex, DbSlice, KeyEvent};
use crate::dash::EntryPos;
use crate::FixedHasher;

/// Keys one insert evicts at most; the step evicts what is left.
const INSERT_EVICTIONS_MAX: usize = 8;

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

/// Says whether a key must not be evicted now: the owner of the slice installs it so that a
/// transaction (EXEC, a script) never loses a key it holds between two of its commands.
pub type EvictionGuard = Box<dyn Fn(&[u8]) -> bool>;

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
    /// The last choice passed over a key the guard protects: not stuck, only waiting for a
    /// transaction to end.
    guarded: bool,
    /// Where the cache mode's sweep of bucket tails goes on (database, then table cursor).
    pub(super) sweep_db: usize,
    pub(super) sweep_cursor: u64,
    /// The victim's key bytes while it is removed (reused: no allocation per eviction).
    scratch: Vec<u8>,
}

impl DbSlice {
    /// Installs (or removes) the guard of keys eviction must leave alone.
    pub fn set_eviction_guard(&mut self, guard: Option<EvictionGuard>) {
        self.eviction_guard = guard;
    }

    /// True when the guard protects `key` now.
    pub(super) fn eviction_guarded(&self, key: &[u8]) -> bool {
        self.eviction_guard.as_ref().is_some_and(|g| g(key))
    }

    /// Nothing qualified: stuck (writes that grow memory are refused) unless only guarded
    /// keys were passed over, which go free when their transaction ends.
    fn mark_no_victim(&mut self) {
        if let Some(e) = self.eviction.as_mut() {
            e.stuck = !e.guarded;
        }
    }

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
                    guarded: false,
                    sweep_db: old.map_or(0, |e| e.sweep_db),
                    sweep_cursor: old.map_or(0, |e| e.sweep_cursor),
                    scratch: Vec::new(),
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
                    self.mark_no_victim();
                    return evicted;
                };
                used = used.saturating_sub(self.evict_at(db, pos));
                evicted += 1;
                continue;
            }
            let Some(freed) = self.evict_sampled(now_ms) else {
                self.mark_no_victim();
                return evicted;
            };
            used = used.saturating_sub(freed);
            evicted += 1;
        }
        evicted
    }

    /// Before a new key is inserted under a sampling policy: while the slice is over its
    /// budget, evicts the keys the policy picks (a few at most; the step does the rest).
    pub(super) fn evict_sampled_for_insert(&mut self, now_ms: u64) {
        let Some(budget) = self.eviction.as_ref().map(|e| e.budget) else {
            return;
        };
        let mut used = self.bytes_used();
        for _ in 0..INSERT_EVICTIONS_MAX {
            if used <= budget {
                break;
            }
            let Some(freed) = self.evict_sampled(now_ms) else {
                self.mark_no_victim();
                return;
            };
            used = used.saturating_sub(freed);
        }
        if let Some(e) = self.eviction.as_mut().filter(|e| e.stuck && used <= budget) {
            e.stuck = false;
        }
    }

    /// Evicts the key the policy picks from a sample; returns the heap bytes that freed, None
    /// when no key qualifies.
    fn evict_sampled(&mut self, now_ms: u64) -> Option<usize> {
        let (db, pos) = self.pick_victim(now_ms)?;
        let e = self.eviction.as_mut()?;
        let mut key = std::mem::take(&mut e.scratch);
        key.clear();
        key.extend_from_slice(&self.dbs[db].as_ref()?.primary.entry(pos).0.as_bytes());
        let hash = Self::hash_key(&key);
        // A value freed lazily counts as freed: its memory goes within a heartbeat.
        let heap_before = self.heap_bytes();
        let removed = self.remove_at(db, hash, &key, pos);
        self.dispose(removed.value, self.lazy.settings.eviction);
        self.evicted_keys += 1;
        self.raise(db, KeyEvent::Evicted, &key);
        let freed = heap_before.saturating_sub(self.heap_bytes());
        if let Some(e) = self.eviction.as_mut() {
            e.scratch = key;
        }
        Some(freed)
    }

    /// The key the policy evicts next, from a sample; None when no key qualifies.
    fn pick_victim(&mut self, now_ms: u64) -> Option<(DbIndex, EntryPos)> {
        let (policy, samples) = {
            let e = self.eviction.as_mut()?;
            e.guarded = false;
            (e.policy, e.samples)
        };
        let has_candidates = |d: &Option<super::Db>| {
            d.as_ref().is_some_and(|d| {
                if policy.volatile() {
                    !d.expire.is_empty()
                } else {
                    !d.primary.is_empty()
                }
            })
        };
        // A database with candidates, counted from a random start (no list is built).
        let count = self.dbs.iter().filter(|d| has_candidates(d)).count();
        if count == 0 {
            return None;
        }
        let mut random = self.next_random();
        let nth = (random % count as u64) as usize;
        let db = (0..self.dbs.len())
            .filter(|&db| has_candidates(&self.dbs[db]))
            .nth(nth)?;
        let d = self.dbs[db].as_ref()?;
        let mut best: Option<(EntryPos, u64)> = None;
        let mut guarded = false;
        for _ in 0..samples {
            random = FixedHasher::hash_u64(random);
            let (pos, deadline) = if policy.volatile() {
                let (k, &deadline) = d.expire.random_entry(random)?;
                let bytes = k.as_bytes();
                let pos = d.primary.find_pos_hashed(Self::hash_key(&bytes), &*bytes)?;
                (pos, deadline)
            } else {
                (d.primary.random_pos(random)?, 0)
            };
            if self.eviction_guard.is_some()
                && self.eviction_guarded(&d.primary.entry(pos).0.as_bytes())
            {
                guarded = true;
                continue;
            }
            let rank = match policy {
                EvictionPolicy::AllKeysRandom
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::Cache => {
                    return Some((db, pos));
                }
                // Already expired keys go first, then the soonest deadline.
                EvictionPolicy::VolatileTtl => u64::MAX - deadline.saturating_sub(now_ms),
                _ => self.eviction_rank(db, pos, now_ms),
            };
            if best.is_none_or(|(_, r)| rank > r) {
                best = Some((pos, rank));
            }
        }
        if best.is_none() && guarded {
            if let Some(e) = self.eviction.as_mut() {
                e.guarded = true;
            }
        }
        best.map(|(pos, _)| (db, pos))
    }

    fn next_random(&mut self) -> u64 {
        let e = self.eviction.as_mut().expect("eviction on");
        e.random = FixedHasher::hash_u64(e.random.wrapping_add(0x9e37_79b9_7f4a_7c15));
        e.random
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::CompactValue;

    fn fill(slice: &mut DbSlice, prefix: &str, n: usize, ttl_ms: Option<u64>, budget: usize) {
        let value = vec![b'v'; 200];
        for i in 0..n {
            let key = format!("{prefix}:{i}");
            slice.set(0, key.as_bytes(), CompactValue::from_bytes(&value), 0);
            if let Some(ms) = ttl_ms {
                slice.set_expiry(0, key.as_bytes(), ms + i as u64, 0);
            }
            // A table split may land between evictions: 5% over at most.
            assert!(
                slice.bytes_used() <= budget + budget / 20,
                "at {prefix}:{i}"
            );
        }
    }

    /// Inserts evict on their own (no step runs): filling to four times the budget keeps
    /// the slice at it, under every sampling policy.
    #[test]
    fn inserts_evict_down_to_the_budget() {
        let budget = 2 << 20;
        for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
            let mut slice = DbSlice::new(2);
            slice.set_eviction(EvictionPolicy::parse(policy), budget, 5);
            fill(&mut slice, policy, 4 * budget / 240, None, budget);
            assert!(slice.evicted_keys() > 0, "{policy}");
            assert!(!slice.eviction_stuck(), "{policy}");
            slice.check_invariants();
        }
    }

    /// Volatile policies evict only keys with a deadline; with none left, the slice is stuck
    /// (writes are refused above it).
    /// Keys the guard protects are never evicted; when only they are left, the slice waits
    /// (not stuck, so writes are not refused) until the guard lets them go.
    #[test]
    fn guarded_keys_stay_and_do_not_make_the_slice_stuck() {
        let budget = 1 << 20;
        for policy in ["allkeys-random", "allkeys-lru", "volatile-random"] {
            let mut slice = DbSlice::new(1);
            slice.set_eviction(EvictionPolicy::parse(policy), budget, 5);
            slice.set_eviction_guard(Some(Box::new(|k: &[u8]| k.starts_with(b"held:"))));
            fill(&mut slice, "held", 200, Some(1 << 40), budget);
            fill(&mut slice, "free", 3 * budget / 240, Some(1 << 40), budget);
            for i in 0..200 {
                assert!(
                    slice.exists(0, format!("held:{i}").as_bytes(), 0),
                    "{policy}"
                );
            }
            assert!(slice.evicted_keys() > 0, "{policy}");
            assert!(!slice.eviction_stuck(), "{policy}");
            // Everything guarded: nothing goes, and the slice is only waiting.
            slice.set_eviction_guard(Some(Box::new(|_: &[u8]| true)));
            slice.set_eviction(EvictionPolicy::parse(policy), budget / 4, 5);
            let before = slice.evicted_keys();
            assert_eq!(slice.evict(0, 100), 0, "{policy}");
            assert_eq!(slice.evicted_keys(), before);
            assert!(!slice.eviction_stuck(), "{policy}");
            slice.set_eviction_guard(None);
            assert!(slice.evict(0, 100) > 0, "{policy}");
            slice.check_invariants();
        }
    }

    #[test]
    fn volatile_inserts_keep_persistent_keys() {
        let budget = 2 << 20;
        let mut slice = DbSlice::new(1);
        slice.set_eviction(EvictionPolicy::parse("volatile-ttl"), budget, 5);
        fill(&mut slice, "keep", 1000, None, budget);
        fill(&mut slice, "ttl", 3 * budget / 240, Some(1 << 40), budget);
        for i in 0..1000 {
            assert!(slice.exists(0, format!("keep:{i}").as_bytes(), 0));
        }
        assert!(slice.evicted_keys() > 0);
        let mut slice = DbSlice::new(1);
        slice.set_eviction(EvictionPolicy::parse("volatile-lru"), budget / 4, 5);
        let value = vec![b'v'; 200];
        for i in 0..budget / 240 {
            let key = format!("persistent:{i}");
            slice.set(0, key.as_bytes(), CompactValue::from_bytes(&value), 0);
        }
        assert_eq!(slice.evicted_keys(), 0);
        assert!(slice.eviction_stuck());
    }
}
