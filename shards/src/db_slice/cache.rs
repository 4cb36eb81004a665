//! `--cache_mode`: the slice behaves as a cache. When it holds its share of `maxmemory`,
//! an insert evicts from the segment the new key lands in instead of growing the table or
//! being refused, and a hit moves its key toward the front of its bucket (the ranking is
//! described in `dash/cache.rs`). Victims are bucket tails: keys that new keys displaced and
//! hits never lifted. The step between commands (`evict.rs`) sweeps bucket tails in table
//! order for what inserts left over (a value that grew, a budget that shrank).

use super::{ChangeHooks, DbIndex, DbSlice, EvictionGuard, KeyEvent};
use crate::cell::{CellFlags, CompactKey};
use crate::dash::EntryPos;

/// Keys one insert evicts at most; the step between commands evicts the rest.
const INSERT_EVICTIONS_MAX: usize = 8;

/// Keys marked sticky never go, nor those the slice's guard protects now.
fn evictable(key: &CompactKey, guard: &Option<EvictionGuard>) -> bool {
    !key.has_flag(CellFlags::STICKY) && guard.as_ref().is_none_or(|g| !g(&key.as_bytes()))
}

impl DbSlice {
    /// A hit in cache mode: the key moves one slot toward its bucket's front.
    #[inline(never)]
    pub(super) fn bump(&mut self, db: DbIndex, pos: EntryPos) -> EntryPos {
        let (d, on_change) = self.parts(db);
        let mut hooks = ChangeHooks::new(db, d.id, &d.expire, on_change);
        d.primary.bump_up(pos, &mut hooks)
    }

    /// Before a new key with `hash` is inserted into `db` in cache mode: while the slice is
    /// over its budget, evicts the tail of the fullest bucket the key may use.
    pub(super) fn evict_for_insert(&mut self, db: DbIndex, hash: u64) {
        let Some(budget) = self.eviction.as_ref().map(|e| e.budget) else {
            return;
        };
        let mut used = self.bytes_used();
        for _ in 0..INSERT_EVICTIONS_MAX {
            if used <= budget {
                return;
            }
            let guard = &self.eviction_guard;
            let Some(pos) = self.dbs[db]
                .as_ref()
                .and_then(|d| d.primary.victim_for(hash, |k| evictable(k, guard)))
            else {
                return;
            };
            used = used.saturating_sub(self.evict_at(db, pos));
        }
    }

    /// Evicts the key at `pos`; returns the heap bytes that freed.
    pub(super) fn evict_at(&mut self, db: DbIndex, pos: EntryPos) -> usize {
        let Some(d) = self.dbs[db].as_ref() else {
            return 0;
        };
        let key = d.primary.entry(pos).0.as_bytes().to_vec();
        let hash = Self::hash_key(&key);
        let heap_before = self.heap_bytes();
        self.remove_at(db, hash, &key, pos);
        self.evicted_keys += 1;
        self.raise(db, KeyEvent::Evicted, &key);
        heap_before - self.heap_bytes()
    }

    /// The next bucket tail of the sweep (databases in turn); None when nothing may go.
    pub(super) fn sweep_victim(&mut self) -> Option<(DbIndex, EntryPos)> {
        let e = self.eviction.as_mut()?;
        let count = self.dbs.len();
        for i in 0..count {
            let db = (e.sweep_db + i) % count;
            let Some(d) = self.dbs[db].as_ref().filter(|d| !d.primary.is_empty()) else {
                continue;
            };
            let guard = &self.eviction_guard;
            if let Some(pos) = d
                .primary
                .sweep_victim(&mut e.sweep_cursor, |k| evictable(k, guard))
            {
                // The next sweep step starts in the next database.
                e.sweep_db = (db + 1) % count;
                return Some((db, pos));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::EvictionPolicy;
    use super::*;
    use crate::cell::CompactValue;

    /// Fills a cache-mode slice to four times its budget while a small hot set is read
    /// between writes: memory stays at the budget, the table stops growing, and the hot
    /// keys stay.
    #[test]
    fn inserts_evict_cold_keys_and_keep_hit_ones() {
        let budget = 4 << 20;
        let mut slice = DbSlice::new(1);
        slice.set_eviction(Some(EvictionPolicy::Cache), budget, 5);
        let value = vec![b'v'; 200];
        let hot: Vec<Vec<u8>> = (0..300).map(|i| format!("hot:{i}").into_bytes()).collect();
        for k in &hot {
            slice.set(0, k, CompactValue::from_bytes(&value), 0);
        }
        let cold = 4 * budget / 240;
        for i in 0..cold {
            let k = format!("cold:{i}");
            slice.set(0, k.as_bytes(), CompactValue::from_bytes(&value), 0);
            if i % 64 == 0 {
                for k in &hot {
                    assert!(slice.find(0, k, 0).is_some() || i > 0);
                }
            }
            assert!(slice.bytes_used() <= budget + 4096, "at {i}");
        }
        slice.check_invariants();
        assert!(slice.evicted_keys() as usize > cold / 2);
        let kept = hot.iter().filter(|k| slice.exists(0, k, 0)).count();
        assert!(
            kept >= hot.len() * 9 / 10,
            "{kept} of {} hot keys",
            hot.len()
        );
    }
}
