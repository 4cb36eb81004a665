//! Routing helpers shared by the families: which shard owns each key argument, and the lock
//! plan of a multi-key command.

use crate::shard::Shard;
use crate::shard::{key_hash, shard_of, ShardLocks};
use crate::tx::locks::LockMode;
use crate::tx::Transaction;
use std::collections::HashSet;

/// Keys of one shard above which a command locks the whole shard instead of each key: taking
/// a million key locks would itself hold the shard for as long as the command.
const KEY_LOCKS_MAX: usize = 4096;

/// Keys of one group checked for duplicates by a scan; past this a hash set does it.
const DEDUP_SCAN_MAX: usize = 16;

/// Keys one shard handles per hop when a command is sliced (see [`run_sliced`]): bounds how
/// long one command holds a shard's thread before others are served.
pub const SLICE_KEYS: usize = 1024;

/// Key arguments grouped by owning shard: (shard, indices into the key list, locks).
pub struct KeyPlan {
    pub groups: Vec<(usize, Vec<usize>, ShardLocks)>,
}

impl KeyPlan {
    /// Groups the keys by shard and plans their locks, in time linear in the key count.
    pub fn new<'a>(keys: impl Iterator<Item = &'a [u8]>, mode: LockMode) -> KeyPlan {
        let n = damselfly_runtime::proactor_count();
        let mut groups: Vec<(usize, Vec<usize>, ShardLocks)> = Vec::new();
        // Per group: the key hashes locked so far, once the group outgrew a scan.
        let mut locked: Vec<Option<HashSet<u64, damselfly_shards::PoolHasher>>> = Vec::new();
        for (i, k) in keys.enumerate() {
            let h = key_hash(k);
            let s = shard_of(h, n);
            let gi = match groups.iter().position(|g| g.0 == s) {
                Some(p) => p,
                None => {
                    groups.push((s, Vec::new(), ShardLocks::default()));
                    locked.push(None);
                    groups.len() - 1
                }
            };
            let g = &mut groups[gi];
            g.1.push(i);
            if g.2.global {
                continue;
            }
            let new_key = match &mut locked[gi] {
                Some(set) => set.insert(h),
                None => !g.2.keys.iter().any(|(kh, _)| *kh == h),
            };
            if !new_key {
                continue;
            }
            g.2.keys.push((h, mode));
            if g.2.keys.len() > KEY_LOCKS_MAX {
                // Too many key locks: lock the whole shard for this command.
                g.2.keys = Vec::new();
                g.2.global = true;
                locked[gi] = None;
            } else if locked[gi].is_none() && g.2.keys.len() > DEDUP_SCAN_MAX {
                locked[gi] = Some(g.2.keys.iter().map(|(kh, _)| *kh).collect());
            }
        }
        KeyPlan { groups }
    }

    /// The most keys any one shard of the plan owns.
    pub fn largest_group(&self) -> usize {
        self.groups.iter().map(|g| g.1.len()).max().unwrap_or(0)
    }

    pub fn shards(&self) -> Vec<usize> {
        self.groups.iter().map(|g| g.0).collect()
    }

    pub fn locks(&self) -> Vec<(usize, ShardLocks)> {
        self.groups.iter().map(|g| (g.0, g.2.clone())).collect()
    }

    /// Indices of the keys owned by `shard`.
    pub fn keys_of(&self, shard: usize) -> &[usize] {
        self.groups
            .iter()
            .find(|g| g.0 == shard)
            .map(|g| &g.1[..])
            .unwrap_or(&[])
    }
}

/// Runs `f` atomically on every shard of the plan: one hop when the keys share a shard, else a
/// VLL transaction. Returns (shard, result) in plan order.
pub fn run_atomic<R: Send>(
    plan: &KeyPlan,
    f: &(dyn Fn(&crate::shard::Shard) -> R + Sync),
) -> Vec<(usize, R)> {
    let shards = plan.shards();
    if shards.len() == 1 {
        let r = crate::tx::single_shard(shards[0], &plan.groups[0].2, f);
        return vec![(shards[0], r)];
    }
    let tx = crate::tx::Transaction::schedule(&plan.locks());
    let order = tx.shards().to_vec();
    order.into_iter().zip(tx.execute_all(f)).collect()
}

/// Runs `f` atomically on every shard of the plan, each call with a slice of that shard's key
/// indices, and hands every (shard, result) to `merge`. Up to [`SLICE_KEYS`] keys per shard it
/// is one [`run_atomic`]; larger commands run as several hops of one transaction, the
/// coordinator yielding between them, so neither the shards nor the coordinator's proactor
/// stop serving others for the whole command.
pub fn run_sliced<R: Send>(
    plan: &KeyPlan,
    f: &(dyn Fn(&Shard, &[usize]) -> R + Sync),
    mut merge: impl FnMut(usize, R),
) {
    #[cfg(feature = "sim-mutations")]
    if damselfly_runtime::sim::mutation("multikey-without-locks") {
        // Planted bug: each shard's part runs as a plain hop, with no transaction.
        let shards = plan.shards();
        let out = crate::tx::on_shards(&shards, &|s| f(s, plan.keys_of(s.index)));
        for (shard, r) in shards.into_iter().zip(out) {
            merge(shard, r);
        }
        return;
    }
    if plan.largest_group() <= SLICE_KEYS {
        for (shard, r) in run_atomic(plan, &|s| f(s, plan.keys_of(s.index))) {
            merge(shard, r);
        }
        return;
    }
    let mut tx = Transaction::schedule(&plan.locks());
    execute_sliced(&mut tx, plan, true, f, merge);
}

/// Runs `f` over the plan's keys inside the scheduled `tx`, in hops of at most [`SLICE_KEYS`]
/// keys per shard, yielding between hops. With `conclude`, the last hop releases the shards.
pub fn execute_sliced<R: Send>(
    tx: &mut Transaction,
    plan: &KeyPlan,
    conclude: bool,
    f: &(dyn Fn(&Shard, &[usize]) -> R + Sync),
    mut merge: impl FnMut(usize, R),
) {
    let shards = plan.shards();
    let hops = plan.largest_group().div_ceil(SLICE_KEYS).max(1);
    for hop in 0..hops {
        let last = hop + 1 == hops;
        let out = tx.execute(&shards, conclude && last, &|s| {
            let keys = plan.keys_of(s.index);
            let from = (hop * SLICE_KEYS).min(keys.len());
            let to = (from + SLICE_KEYS).min(keys.len());
            f(s, &keys[from..to])
        });
        for (&shard, r) in shards.iter().zip(out) {
            merge(shard, r);
        }
        if !last {
            damselfly_runtime::fiber::yield_now();
        }
    }
}
