//! Routing helpers shared by the families: which shard owns each key argument, and the lock
//! plan of a multi-key command.

use crate::shard::{key_hash, shard_of, ShardLocks};
use crate::tx::locks::LockMode;

/// Key arguments grouped by owning shard: (shard, indices into the key list, locks).
pub struct KeyPlan {
    pub groups: Vec<(usize, Vec<usize>, ShardLocks)>,
}

impl KeyPlan {
    pub fn new<'a>(keys: impl Iterator<Item = &'a [u8]>, mode: LockMode) -> KeyPlan {
        let n = damselfly_runtime::proactor_count();
        let mut groups: Vec<(usize, Vec<usize>, ShardLocks)> = Vec::new();
        for (i, k) in keys.enumerate() {
            let h = key_hash(k);
            let s = shard_of(h, n);
            let g = match groups.iter_mut().position(|g| g.0 == s) {
                Some(p) => &mut groups[p],
                None => {
                    groups.push((s, Vec::new(), ShardLocks::default()));
                    groups.last_mut().expect("just pushed")
                }
            };
            g.1.push(i);
            if !g.2.keys.iter().any(|(kh, _)| *kh == h) {
                g.2.keys.push((h, mode));
            }
        }
        KeyPlan { groups }
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
