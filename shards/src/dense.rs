//! Dense hash tables for large sets and hashes (Dragonfly's DenseSet idea): a table of 8-byte
//! slots, each empty, a pointer to an entry, or a tagged pointer to a chain link; one heap
//! allocation per entry holding its bytes and nothing else.
//!
//! Entry layout (allocation of exactly this many bytes, align 2 so the low pointer bit is free):
//! - set:  `[varint len][member]`
//! - map:  `[varint klen][key][varint vlen][value]` (the value lives inside the entry; replacing
//!   it by one of another length reallocates the entry)
//!
//! A bucket holding k > 1 entries is a chain of k - 1 [`Link`]s (16 bytes: entry, next) whose
//! last `next` is the last entry itself. At a load factor of 0.5..1 that costs about 3 to 6
//! bytes per entry on top of the slot.
//!
//! Growth doubles the table when `len` reaches the bucket count; shrinking halves it (or more)
//! once fewer than 1/8 of the buckets would be used. Both rehash incrementally: every insert
//! and remove migrates [`REHASH_STEP`] buckets of the old table, so the old table is empty
//! before the next doubling is due (a resize requested mid-rehash finishes the rehash first).
//!
//! Public API (stable; the sets, hashes and sorted-set code depend on it):
//!
//! ```text
//! DenseSet::new() / with_capacity(n) / len / is_empty / heap_bytes (O(1), exact: tables,
//!   links and entries as requested from the allocator; add size_of::<DenseSet>() yourself)
//! DenseSet::insert(&[u8]) -> bool (true: added) / contains / remove(&[u8]) -> bool
//! DenseSet::iter() -> impl Iterator<Item = &[u8]>
//! DenseSet::scan(cursor, |member| ..) -> next cursor (0: done; members borrow the set)
//! DenseSet::random(seed) -> Option<&[u8]> / pop_random(seed) -> Option<Vec<u8>>
//!
//! StringMap::new() / with_capacity(n) / len / is_empty / heap_bytes
//! StringMap::get(&[u8]) -> Option<&[u8]> / contains_key
//! StringMap::insert(key, value) -> bool (true: new key; an existing value is replaced)
//! StringMap::replace(key, value) -> Option<Vec<u8>> (the old value)
//! StringMap::insert_new(key, value) -> bool (false and no change when the key exists)
//! StringMap::get_mut(key) -> Option<MapValueMut> (.get() -> &[u8], .set(&[u8]))
//! StringMap::remove(key) -> bool / take(key) -> Option<Vec<u8>>
//! StringMap::iter() -> impl Iterator<Item = (&[u8], &[u8])>
//! StringMap::scan(cursor, |key, value| ..) -> next cursor (0: done; borrows the map)
//! StringMap::random(seed) -> Option<(&[u8], &[u8])>
//! ```
//!
//! Scan uses Redis's reverse-binary cursor over power-of-two tables: an entry present for the
//! whole scan is reported at least once, across growth, shrinking and rehashing (possibly more
//! than once). `random` picks a bucket uniformly and an entry in it with probability
//! 1 / max(chain length, 4), retrying on a miss, so entries are drawn close to uniformly
//! whatever the chain lengths. Randomness comes from the caller's `seed` (the crate has no RNG).

mod table;

use std::ptr;

use crate::hash::FixedHasher;
use table::{entry_key, entry_size, entry_value, free_entry, new_entry, Core};

/// A set of byte strings: one allocation per member, 8-byte slots.
pub struct DenseSet {
    core: Core<false>,
}

impl Default for DenseSet {
    fn default() -> Self {
        DenseSet::new()
    }
}

impl Clone for DenseSet {
    fn clone(&self) -> Self {
        DenseSet {
            core: self.core.clone_core(),
        }
    }
}

impl std::fmt::Debug for DenseSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

impl DenseSet {
    pub fn new() -> DenseSet {
        DenseSet::with_capacity(0)
    }

    /// A set whose table holds `n` members without resizing.
    pub fn with_capacity(n: usize) -> DenseSet {
        DenseSet {
            core: Core::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.core.len
    }

    pub fn is_empty(&self) -> bool {
        self.core.len == 0
    }

    /// Heap bytes owned (tables, links, members), O(1).
    pub fn heap_bytes(&self) -> usize {
        self.core.heap_bytes()
    }

    /// Adds `member`; false when it was already there.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        let hash = FixedHasher::hash_bytes(member);
        self.core.before_insert();
        if self.core.find(member, hash).is_some() {
            return false;
        }
        let (e, size) = new_entry(member, None);
        self.core.push(e, hash);
        self.core.entry_bytes += size;
        true
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.core
            .find(member, FixedHasher::hash_bytes(member))
            .is_some()
    }

    /// Removes `member`; false when it was not there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        let hash = FixedHasher::hash_bytes(member);
        match self.core.unlink(member, hash) {
            Some(e) => {
                self.release(e);
                true
            }
            None => false,
        }
    }

    fn release(&mut self, e: usize) {
        // SAFETY: `e` was just unlinked: live, and referenced by nothing else.
        let size = unsafe { entry_size::<false>(e) };
        // SAFETY: as above; freed exactly once.
        unsafe { free_entry(e, size) };
        self.core.entry_bytes -= size;
        self.core.len -= 1;
        self.core.after_remove();
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        // SAFETY: entries stay live while `self` is borrowed.
        self.core.iter().map(|e| unsafe { entry_key(e) })
    }

    /// SSCAN step: reports the members of one cursor position, returns the next cursor.
    pub fn scan<'a>(&'a self, cursor: u64, mut f: impl FnMut(&'a [u8])) -> u64 {
        // SAFETY: entries visited are live during the call.
        self.core.scan(cursor, &mut |e| f(unsafe { entry_key(e) }))
    }

    /// A random member (SRANDMEMBER).
    pub fn random(&self, seed: u64) -> Option<&[u8]> {
        // SAFETY: the entry is live while `self` is borrowed.
        self.core.random(seed).map(|e| unsafe { entry_key(e) })
    }

    /// Removes and returns a random member (SPOP).
    pub fn pop_random(&mut self, seed: u64) -> Option<Vec<u8>> {
        let member = self.random(seed)?.to_vec();
        self.remove(&member);
        Some(member)
    }

    pub fn clear(&mut self) {
        self.core.clear();
    }
}

/// A map from byte strings to byte strings: one allocation per (key, value) entry.
pub struct StringMap {
    core: Core<true>,
}

impl Default for StringMap {
    fn default() -> Self {
        StringMap::new()
    }
}

impl Clone for StringMap {
    fn clone(&self) -> Self {
        StringMap {
            core: self.core.clone_core(),
        }
    }
}

impl std::fmt::Debug for StringMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

/// A value inside a [`StringMap`], replaceable in place.
pub struct MapValueMut<'a> {
    place: *mut usize,
    entry_bytes: &'a mut usize,
}

impl MapValueMut<'_> {
    pub fn get(&self) -> &[u8] {
        // SAFETY: `place` holds a live map entry while the map is mutably borrowed.
        unsafe { entry_value(*self.place) }
    }

    /// Replaces the value (in place when the length is unchanged, else by reallocating).
    pub fn set(&mut self, value: &[u8]) {
        // SAFETY: `place` holds a live map entry; we are its only user.
        let old = unsafe { *self.place };
        // SAFETY: as above.
        let (key, old_value) = unsafe { (entry_key(old), entry_value(old)) };
        if old_value.len() == value.len() {
            let dst = old_value.as_ptr() as *mut u8;
            // SAFETY: the value bytes are inside the entry we own exclusively; same length.
            unsafe { ptr::copy_nonoverlapping(value.as_ptr(), dst, value.len()) };
            return;
        }
        // SAFETY: live entry.
        let old_size = unsafe { entry_size::<true>(old) };
        let (e, size) = new_entry(key, Some(value));
        // SAFETY: the new entry replaces the old in its one place before the old is freed.
        unsafe {
            *self.place = e;
            free_entry(old, old_size);
        }
        *self.entry_bytes = *self.entry_bytes - old_size + size;
    }
}

impl StringMap {
    pub fn new() -> StringMap {
        StringMap::with_capacity(0)
    }

    /// A map whose table holds `n` entries without resizing.
    pub fn with_capacity(n: usize) -> StringMap {
        StringMap {
            core: Core::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.core.len
    }

    pub fn is_empty(&self) -> bool {
        self.core.len == 0
    }

    /// Heap bytes owned (tables, links, entries), O(1).
    pub fn heap_bytes(&self) -> usize {
        self.core.heap_bytes()
    }

    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let e = self.core.find(key, FixedHasher::hash_bytes(key))?;
        // SAFETY: live entry while `self` is borrowed.
        Some(unsafe { entry_value(e) })
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.core.find(key, FixedHasher::hash_bytes(key)).is_some()
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<MapValueMut<'_>> {
        let place = self.core.find_place(key, FixedHasher::hash_bytes(key))?;
        Some(MapValueMut {
            place,
            entry_bytes: &mut self.core.entry_bytes,
        })
    }

    /// Sets `key` to `value`; true when the key is new.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) -> bool {
        self.upsert(key, value, true).0
    }

    /// Sets `key` to `value` only when absent; true when it was added.
    pub fn insert_new(&mut self, key: &[u8], value: &[u8]) -> bool {
        self.upsert(key, value, false).0
    }

    /// Sets `key` to `value`, returning the value it replaced.
    pub fn replace(&mut self, key: &[u8], value: &[u8]) -> Option<Vec<u8>> {
        let hash = FixedHasher::hash_bytes(key);
        if let Some(place) = self.core.find_place(key, hash) {
            let mut slot = MapValueMut {
                place,
                entry_bytes: &mut self.core.entry_bytes,
            };
            let old = slot.get().to_vec();
            slot.set(value);
            return Some(old);
        }
        self.core.before_insert();
        let (e, size) = new_entry(key, Some(value));
        self.core.push(e, hash);
        self.core.entry_bytes += size;
        None
    }

    /// Returns (added, hash).
    fn upsert(&mut self, key: &[u8], value: &[u8], overwrite: bool) -> (bool, u64) {
        let hash = FixedHasher::hash_bytes(key);
        if let Some(place) = self.core.find_place(key, hash) {
            if overwrite {
                MapValueMut {
                    place,
                    entry_bytes: &mut self.core.entry_bytes,
                }
                .set(value);
            }
            return (false, hash);
        }
        self.core.before_insert();
        let (e, size) = new_entry(key, Some(value));
        self.core.push(e, hash);
        self.core.entry_bytes += size;
        (true, hash)
    }

    /// Removes `key`; true when it was there.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        match self.core.unlink(key, FixedHasher::hash_bytes(key)) {
            Some(e) => {
                self.release(e);
                true
            }
            None => false,
        }
    }

    /// Removes `key`, returning its value.
    pub fn take(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        let e = self.core.unlink(key, FixedHasher::hash_bytes(key))?;
        // SAFETY: just unlinked, still live.
        let value = unsafe { entry_value(e) }.to_vec();
        self.release(e);
        Some(value)
    }

    fn release(&mut self, e: usize) {
        // SAFETY: `e` was just unlinked: live, referenced by nothing else.
        let size = unsafe { entry_size::<true>(e) };
        // SAFETY: as above; freed exactly once.
        unsafe { free_entry(e, size) };
        self.core.entry_bytes -= size;
        self.core.len -= 1;
        self.core.after_remove();
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.core
            .iter()
            // SAFETY: entries stay live while `self` is borrowed.
            .map(|e| unsafe { (entry_key(e), entry_value(e)) })
    }

    /// HSCAN step: reports the entries of one cursor position, returns the next cursor.
    pub fn scan<'a>(&'a self, cursor: u64, mut f: impl FnMut(&'a [u8], &'a [u8])) -> u64 {
        self.core.scan(cursor, &mut |e| {
            // SAFETY: entries visited are live during the call.
            let (k, v) = unsafe { (entry_key(e), entry_value(e)) };
            f(k, v)
        })
    }

    /// A random entry (HRANDFIELD).
    pub fn random(&self, seed: u64) -> Option<(&[u8], &[u8])> {
        let e = self.core.random(seed)?;
        // SAFETY: live while `self` is borrowed.
        Some(unsafe { (entry_key(e), entry_value(e)) })
    }

    pub fn clear(&mut self) {
        self.core.clear();
    }

    #[cfg(test)]
    fn bucket_count(&self) -> usize {
        self.core.t[0].len() + self.core.t[1].len()
    }
}

#[cfg(test)]
#[path = "dense_tests.rs"]
mod tests;
