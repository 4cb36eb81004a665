//! The shard a proactor owns: its databases, intent locks and transaction queue. Shard `i`
//! lives on proactor `i` and is only touched from there; hops bring work to it.

use crate::blocking::BlockingQueues;
use crate::tx::locks::{IntentLocks, LockMode};
use crate::tx::queue::TxQueue;
use damselfly_runtime::bus::RawCall;
use damselfly_shards::DbSlice;
use std::cell::RefCell;

/// Locks a queued transaction holds on one shard.
#[derive(Clone, Debug, Default)]
pub struct ShardLocks {
    pub keys: Vec<(u64, LockMode)>,
    pub global: bool,
}

pub struct Shard {
    pub index: usize,
    pub db: RefCell<DbSlice>,
    pub locks: RefCell<IntentLocks>,
    txq: RefCell<TxQueue>,
    /// Locks of each queued transaction, by queue sequence number.
    held: RefCell<Vec<(u64, ShardLocks)>>,
    runnable: RefCell<Vec<RawCall>>,
    /// Clients blocked on this shard's keys (BLPOP...).
    pub blocking: RefCell<BlockingQueues>,
    /// Which clients read which of this shard's keys (CLIENT TRACKING).
    pub tracking: RefCell<crate::tracking::TrackingTable>,
}

impl Shard {
    pub fn new(index: usize, db_count: usize) -> Shard {
        let mut db = DbSlice::new(db_count);
        db.set_key_event_hook(Some(Box::new(crate::notify::TableEvents)));
        db.set_eviction_guard(Some(Box::new(key_is_held)));
        Shard {
            index,
            db: RefCell::new(db),
            locks: RefCell::new(IntentLocks::default()),
            txq: RefCell::new(TxQueue::default()),
            held: RefCell::new(Vec::new()),
            runnable: RefCell::new(Vec::new()),
            blocking: RefCell::new(BlockingQueues::default()),
            tracking: RefCell::new(Default::default()),
        }
    }

    /// The shard of the current proactor.
    pub fn current() -> &'static Shard {
        &crate::server::ProactorState::current().shard
    }

    /// True when a single-key command on `key` may run right now, without queueing.
    pub fn key_is_free(&self, key: u64, mode: LockMode) -> bool {
        self.locks.borrow().is_free(key, mode)
    }

    /// Enters a transaction in the queue and takes its locks. Returns its sequence number, or
    /// None when a multi-shard txid arrived out of order (the coordinator retries).
    pub fn schedule(&self, txid: u64, locks: ShardLocks) -> Option<u64> {
        let mut lt = self.locks.borrow_mut();
        let all_free = if locks.global {
            lt.is_idle()
        } else {
            locks.keys.iter().all(|(k, m)| lt.is_free(*k, *m))
        };
        let seq = self.txq.borrow_mut().admit(txid, all_free)?;
        if locks.global {
            lt.acquire_global();
        }
        for (k, m) in &locks.keys {
            lt.acquire(*k, *m);
        }
        self.held.borrow_mut().push((seq, locks));
        Some(seq)
    }

    /// A scheduled transaction's hop runs now (later txids that arrive late are refused).
    pub fn note_running(&self, seq: u64) {
        self.txq.borrow_mut().note_running(seq);
    }

    pub fn can_run(&self, seq: u64) -> bool {
        self.txq.borrow().can_run(seq)
    }

    /// Parks a hop until the transaction may run.
    pub fn arm(&self, seq: u64, call: RawCall) {
        self.txq.borrow_mut().arm(seq, call);
    }

    /// Adds `keys` to the locks transaction `seq` holds here, if every one is free now (no
    /// holder and no queued transaction wants it); false otherwise, changing nothing. A script
    /// that reaches keys it did not declare grows its locks this way and never waits for them.
    pub fn try_add_locks(&self, seq: u64, keys: &[(u64, LockMode)]) -> bool {
        let mut lt = self.locks.borrow_mut();
        if !keys.iter().all(|(k, m)| lt.is_free(*k, *m)) {
            return false;
        }
        for (k, m) in keys {
            lt.acquire(*k, *m);
        }
        let mut held = self.held.borrow_mut();
        let entry = held
            .iter_mut()
            .find(|(s, _)| *s == seq)
            .expect("the transaction holds locks here");
        entry.1.keys.extend_from_slice(keys);
        true
    }

    /// Ends a transaction here: releases its locks, leaves the queue, runs what became
    /// runnable.
    pub fn conclude(&self, seq: u64) {
        let locks = {
            let mut held = self.held.borrow_mut();
            let i = held
                .iter()
                .position(|(s, _)| *s == seq)
                .expect("concluded unknown tx");
            held.swap_remove(i).1
        };
        {
            let mut lt = self.locks.borrow_mut();
            for (k, m) in &locks.keys {
                lt.release(*k, *m);
            }
            if locks.global {
                lt.release_global();
            }
        }
        self.txq.borrow_mut().remove(seq);
        self.poll_queue();
        self.serve_blocked();
        crate::eviction::after_job();
    }

    fn poll_queue(&self) {
        loop {
            let calls = {
                let mut r = self.runnable.borrow_mut();
                self.txq.borrow_mut().take_runnable(&mut r);
                if r.is_empty() {
                    return;
                }
                std::mem::take(&mut *r)
            };
            for c in calls {
                (c.func)(c.arg);
            }
        }
    }

    /// Planted bug `intent-locks-released-early`: drops transaction `seq`'s locks here while
    /// it stays queued (its conclude then releases nothing).
    #[cfg(feature = "sim-mutations")]
    pub fn release_locks_early(&self, seq: u64) {
        let keys = {
            let mut held = self.held.borrow_mut();
            let Some(entry) = held.iter_mut().find(|(s, _)| *s == seq) else {
                return;
            };
            std::mem::take(&mut entry.1.keys)
        };
        let mut lt = self.locks.borrow_mut();
        for (k, m) in &keys {
            lt.release(*k, *m);
        }
    }

    /// Transactions queued here and the intent locks they hold: both 0 once the server is at
    /// rest (the simulator's liveness check).
    pub fn leftovers(&self) -> (usize, usize) {
        (self.queue_len(), self.locks_held())
    }

    pub fn queue_len(&self) -> usize {
        self.txq.borrow().len()
    }

    pub fn locks_held(&self) -> usize {
        self.locks.borrow().held()
    }
}

/// Hash of a key for shard selection and locking: the `{hashtag}` part when there is one (so
/// keys of one tag share a shard, as Redis Cluster clients expect), with seeds distinct from the
/// table's so the shard choice does not bias bucket choice inside the shard.
/// The eviction guard: a key some transaction holds (or waits for) on this proactor's shard
/// stays, so an EXEC or a script never loses a key between two of its commands. Redis gets
/// the same by evicting only between commands.
fn key_is_held(key: &[u8]) -> bool {
    let Some(ps) = damselfly_runtime::local::<crate::server::ProactorState>() else {
        return false;
    };
    // Eviction runs inside the shard's own ops, never while the lock table is borrowed
    // mutably; were it ever, keep the key (the safe answer).
    let Ok(locks) = ps.shard.locks.try_borrow() else {
        return true;
    };
    !locks.is_idle() && !locks.is_free(key_hash(key), LockMode::Exclusive)
}

pub fn key_hash(key: &[u8]) -> u64 {
    static STATE: std::sync::OnceLock<ahash::RandomState> = std::sync::OnceLock::new();
    let state = STATE.get_or_init(|| {
        ahash::RandomState::with_seeds(
            0x6461_6d73_656c_666c,
            0x7368_6172_645f_7478,
            0x9e37_79b9_7f4a_7c15,
            0xc2b2_ae3d_27d4_eb4f,
        )
    });
    state.hash_one(hashtag(key))
}

/// The part of `key` Redis Cluster hashes: the text between the first `{` and the next `}` when
/// non-empty, else the whole key.
pub fn hashtag(key: &[u8]) -> &[u8] {
    if let Some(open) = memchr_byte(b'{', key) {
        if let Some(len) = memchr_byte(b'}', &key[open + 1..]) {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

fn memchr_byte(b: u8, s: &[u8]) -> Option<usize> {
    s.iter().position(|c| *c == b)
}

/// Shard owning a key hash, out of `n` (multiply-shift instead of a division).
pub fn shard_of(hash: u64, n: usize) -> usize {
    ((hash as u128 * n as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashtags_follow_redis_cluster_rules() {
        assert_eq!(hashtag(b"{user1000}.following"), b"user1000");
        assert_eq!(hashtag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hashtag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hashtag(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hashtag(b"plain"), b"plain");
        assert_eq!(key_hash(b"{a}x"), key_hash(b"{a}y"));
        for n in 1..8 {
            for k in 0..100u32 {
                assert!(shard_of(key_hash(&k.to_le_bytes()), n) < n);
            }
        }
    }
}
