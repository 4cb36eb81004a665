//! Lazy freeing (Redis's lazyfree.c): UNLINK, FLUSHDB/FLUSHALL ASYNC and the
//! `lazyfree-lazy-*` parameters take a large value (or a whole database) out of the keyspace
//! at once and free its memory later, off the command's path.
//!
//! Redis hands such values to a background thread. Here the shard frees them itself, on its
//! heartbeat, a bounded amount of work per step ([`DbSlice::lazyfree_step`]): a value leaves
//! the tables before it is queued, so nothing can reach it any more, and no other thread ever
//! frees a shard's memory (which also keeps the simulator deterministic). What is queued still
//! counts in [`DbSlice::bytes_used`] until it is freed, as in Redis, whose used_memory only
//! falls when the background thread frees.
//!
//! Which values are worth it follows Redis: one whose freeing costs more than
//! [`LAZYFREE_THRESHOLD`] allocations ([`TypedObject::free_effort`]); cheaper ones are freed
//! at once. INFO's `lazyfree_pending_objects` and `lazyfreed_objects` count values, and a
//! flushed database counts as its number of keys.

use super::{Db, DbIndex, DbSlice, ExpireTable, PrimaryTable};
use crate::cell::CompactValue;
use std::collections::VecDeque;

/// Values that cost more allocations than this to free are freed lazily (Redis's
/// LAZYFREE_THRESHOLD).
pub const LAZYFREE_THRESHOLD: usize = 64;

/// Work one [`DbSlice::lazyfree_step`] does at most, in allocations freed (at least one
/// queued item goes per step, however large).
pub const STEP_EFFORT: usize = 16 * 1024;

/// Which deletions the server makes lazily (the `lazyfree-lazy-*` parameters the slice applies
/// itself; user deletes and flushes are chosen per command).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LazyFreeSettings {
    /// Expired keys (`lazyfree-lazy-expire`).
    pub expire: bool,
    /// Evicted keys (`lazyfree-lazy-eviction`).
    pub eviction: bool,
    /// Values a write replaces or deletes as a side effect (`lazyfree-lazy-server-del`).
    pub server_del: bool,
}

/// What waits to be freed: held only to be dropped.
enum Doomed {
    Value {
        _value: CompactValue,
    },
    /// A flushed database's tables (boxed: rare, and much larger than a value).
    Tables {
        _tables: Box<(PrimaryTable, ExpireTable)>,
    },
}

struct Queued {
    doomed: Doomed,
    /// What freeing it costs, in allocations.
    effort: usize,
    /// Bytes it holds until freed.
    bytes: usize,
    /// What it counts as in lazyfree_pending_objects / lazyfreed_objects.
    objects: u64,
}

#[derive(Default)]
pub(super) struct LazyFree {
    pub(super) settings: LazyFreeSettings,
    queue: VecDeque<Queued>,
    pending_objects: u64,
    pending_bytes: usize,
    freed_objects: u64,
}

/// What freeing `value` costs, in allocations.
pub fn free_effort(value: &CompactValue) -> usize {
    value.as_object().map_or(1, |o| o.free_effort())
}

impl DbSlice {
    /// Applies the `lazyfree-lazy-*` parameters the slice acts on by itself.
    pub fn set_lazyfree_settings(&mut self, settings: LazyFreeSettings) {
        self.lazy.settings = settings;
    }

    pub fn lazyfree_settings(&self) -> LazyFreeSettings {
        self.lazy.settings
    }

    /// Frees `value` now, or with `lazy` queues it for [`DbSlice::lazyfree_step`] when it is
    /// large enough to be worth it.
    pub fn dispose(&mut self, value: CompactValue, lazy: bool) {
        if !lazy {
            return;
        }
        let effort = free_effort(&value);
        if effort <= LAZYFREE_THRESHOLD {
            return;
        }
        let bytes = value.heap_bytes();
        self.enqueue(Queued {
            doomed: Doomed::Value { _value: value },
            effort,
            bytes,
            objects: 1,
        });
    }

    /// DEL (`lazy` false) or UNLINK (`lazy` true) of one key: whether it existed.
    pub fn delete_key(&mut self, db: DbIndex, key: &[u8], lazy: bool, now_ms: u64) -> bool {
        match self.delete(db, key, now_ms) {
            Some(e) => {
                self.dispose(e.value, lazy);
                true
            }
            None => false,
        }
    }

    /// FLUSHDB of `db`; with `lazy` (ASYNC) its tables are freed later.
    pub fn flush_db_lazy(&mut self, db: DbIndex, lazy: bool) {
        if !lazy || self.flush_hook.is_some() {
            // A snapshot walking the tables takes them and frees them when done.
            let keys = self.len(db) as u64;
            self.flush_db(db);
            if lazy {
                self.lazy.freed_objects += keys;
            }
            return;
        }
        self.touch_watched_in_db(db, None);
        if let Some(d) = self.dbs[db].take() {
            self.enqueue_db(d);
        }
        self.signal_blocked_in(db);
    }

    /// FLUSHALL; with `lazy` (ASYNC) the tables are freed later.
    pub fn flush_all_lazy(&mut self, lazy: bool) {
        for db in 0..self.dbs.len() {
            self.flush_db_lazy(db, lazy);
        }
    }

    fn enqueue_db(&mut self, d: Db) {
        let keys = d.primary.len();
        let bytes = d.heap_bytes + d.primary.bytes_allocated() + d.expire.bytes_allocated();
        self.enqueue(Queued {
            doomed: Doomed::Tables {
                _tables: Box::new((d.primary, d.expire)),
            },
            effort: keys.max(1),
            bytes,
            objects: keys as u64,
        });
    }

    fn enqueue(&mut self, q: Queued) {
        self.lazy.pending_objects += q.objects;
        self.lazy.pending_bytes += q.bytes;
        self.lazy.queue.push_back(q);
    }

    /// Frees queued values, about [`STEP_EFFORT`] allocations' worth (at least one value);
    /// returns how many queued items it freed.
    pub fn lazyfree_step(&mut self) -> usize {
        let mut spent = 0;
        let mut freed = 0;
        while spent < STEP_EFFORT {
            let Some(q) = self.lazy.queue.pop_front() else {
                break;
            };
            spent += q.effort;
            drop(q.doomed);
            self.lazy.pending_objects -= q.objects;
            self.lazy.pending_bytes -= q.bytes;
            self.lazy.freed_objects += q.objects;
            freed += 1;
        }
        freed
    }

    /// Objects waiting to be freed (INFO `lazyfree_pending_objects`).
    pub fn lazyfree_pending_objects(&self) -> u64 {
        self.lazy.pending_objects
    }

    /// Objects freed lazily since the last [`DbSlice::reset_lazyfree_stats`] (INFO
    /// `lazyfreed_objects`).
    pub fn lazyfreed_objects(&self) -> u64 {
        self.lazy.freed_objects
    }

    /// Bytes the queued values still hold.
    pub fn lazyfree_pending_bytes(&self) -> usize {
        self.lazy.pending_bytes
    }

    /// CONFIG RESETSTAT.
    pub fn reset_lazyfree_stats(&mut self) {
        self.lazy.freed_objects = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::set_value::SetValue;
    use crate::CollectionLimits;

    fn big_set(n: usize) -> CompactValue {
        let limits = CollectionLimits::default();
        let mut s = SetValue::new();
        for i in 0..n {
            s.add(format!("member-{i}").as_bytes(), &limits);
        }
        CompactValue::from_object(Box::new(s))
    }

    #[test]
    fn large_values_wait_for_the_step_small_ones_go_at_once() {
        let mut slice = DbSlice::new(1);
        slice.store(0, b"big", big_set(1000), 0);
        slice.store(0, b"small", big_set(3), 0);
        slice.store(0, b"str", CompactValue::from_bytes(b"v"), 0);
        let before = slice.bytes_used();
        assert!(slice.delete_key(0, b"big", true, 0));
        assert!(slice.delete_key(0, b"small", true, 0));
        assert!(slice.delete_key(0, b"str", true, 0));
        assert!(!slice.delete_key(0, b"missing", true, 0));
        assert_eq!(slice.lazyfree_pending_objects(), 1);
        assert_eq!(slice.lazyfreed_objects(), 0);
        // Queued memory still counts until freed.
        assert!(slice.lazyfree_pending_bytes() > 1000);
        assert!(slice.bytes_used() + 200 >= before - 2000);
        assert_eq!(slice.lazyfree_step(), 1);
        assert_eq!(slice.lazyfree_pending_objects(), 0);
        assert_eq!(slice.lazyfree_pending_bytes(), 0);
        assert_eq!(slice.lazyfreed_objects(), 1);
        slice.reset_lazyfree_stats();
        assert_eq!(slice.lazyfreed_objects(), 0);
        // DEL frees at once, whatever the size.
        slice.store(0, b"big", big_set(1000), 0);
        assert!(slice.delete_key(0, b"big", false, 0));
        assert_eq!(slice.lazyfree_pending_objects(), 0);
    }

    #[test]
    fn an_async_flush_counts_every_key() {
        let mut slice = DbSlice::new(2);
        for i in 0..10 {
            slice.store(
                0,
                format!("k{i}").as_bytes(),
                CompactValue::from_bytes(b"v"),
                0,
            );
        }
        slice.store(1, b"x", CompactValue::from_bytes(b"v"), 0);
        slice.flush_all_lazy(true);
        assert_eq!(slice.len(0), 0);
        assert_eq!(slice.lazyfree_pending_objects(), 11);
        while slice.lazyfree_step() > 0 {}
        assert_eq!(slice.lazyfree_pending_objects(), 0);
        assert_eq!(slice.lazyfreed_objects(), 11);
        // SYNC frees at once and counts nothing.
        slice.store(0, b"k", CompactValue::from_bytes(b"v"), 0);
        slice.flush_db_lazy(0, false);
        assert_eq!(slice.lazyfreed_objects(), 11);
        assert_eq!(slice.len(0), 0);
    }

    #[test]
    fn a_step_is_bounded_but_always_frees_something() {
        let mut slice = DbSlice::new(1);
        for i in 0..4 {
            slice.store(0, format!("k{i}").as_bytes(), big_set(STEP_EFFORT), 0);
        }
        for i in 0..4 {
            slice.delete_key(0, format!("k{i}").as_bytes(), true, 0);
        }
        assert_eq!(slice.lazyfree_step(), 1);
        assert_eq!(slice.lazyfree_pending_objects(), 3);
    }
}
