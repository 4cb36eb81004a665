//! Waits for N replies: the coordinator's fan-out to shards. Each shard's reply decrements;
//! the waiting fiber wakes when the count reaches zero.

use super::{wait_until, SpinLock, Waiter};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct ReplyCounter {
    pending: AtomicUsize,
    waiter: SpinLock<Option<Waiter>>,
}

impl ReplyCounter {
    pub fn new(pending: usize) -> ReplyCounter {
        ReplyCounter {
            pending: AtomicUsize::new(pending),
            waiter: SpinLock::new(None),
        }
    }

    pub fn add(&self, n: usize) {
        self.pending.fetch_add(n, Ordering::AcqRel);
    }

    /// One reply arrived. The reply's data must be written before this call (Release).
    pub fn done(&self) {
        // Decrement under the lock: `wait` reads zero only under it too, so the owner cannot
        // see zero, return and free the counter while this call still touches it.
        let waiter = {
            let mut slot = self.waiter.lock();
            let prev = self.pending.fetch_sub(1, Ordering::AcqRel);
            assert!(prev > 0, "more replies than expected");
            if prev == 1 {
                slot.take()
            } else {
                None
            }
        };
        // Wake after unlocking: a cross-proactor wake from a fiber may park it on a full
        // inbox, and a parked lock holder would make every later locker spin forever. The
        // counter may already be gone here; only the owned waiter handle is used.
        if let Some(w) = waiter {
            w.wake();
        }
    }

    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Waits until every reply arrived.
    pub fn wait(&self) {
        loop {
            {
                let mut slot = self.waiter.lock();
                if self.pending.load(Ordering::Acquire) == 0 {
                    *slot = None;
                    return;
                }
                *slot = Some(Waiter::current());
            }
            wait_until(None);
        }
    }
}
