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
//! DenseSet::scan(cursor, |member| ..) -> next cursor (0: done)
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
//! StringMap::scan(cursor, |key, value| ..) -> next cursor (0: done)
//! StringMap::random(seed) -> Option<(&[u8], &[u8])>
//! ```
//!
//! Scan uses Redis's reverse-binary cursor over power-of-two tables: an entry present for the
//! whole scan is reported at least once, across growth, shrinking and rehashing (possibly more
//! than once). `random` picks a bucket uniformly and an entry in it with probability
//! 1 / max(chain length, 4), retrying on a miss, so entries are drawn close to uniformly
//! whatever the chain lengths. Randomness comes from the caller's `seed` (the crate has no RNG).

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::marker::PhantomData;
use std::ptr;

use crate::hash::FixedHasher;

/// Low bit of a slot: the slot points to a [`Link`], not an entry.
const LINK_TAG: usize = 1;
const ENTRY_ALIGN: usize = 2;
const MIN_BUCKETS: usize = 4;
/// Old-table buckets migrated per write while rehashing (one suffices to finish before the
/// next doubling; two leaves room for removals that shrink).
const REHASH_STEP: usize = 2;
/// Empty old-table buckets a rehash step may skip past, as Redis bounds its steps.
const REHASH_EMPTY_VISITS: usize = 16;
/// Chains shorter than this are padded for the random draw, to keep draws cheap and fair.
const RANDOM_CHAIN_BOUND: usize = 4;

#[repr(C)]
struct Link {
    /// Untagged entry pointer.
    entry: usize,
    /// Next slot value: another tagged link or the chain's last entry.
    next: usize,
}

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn write_varint(out: &mut [u8], mut n: usize) -> usize {
    let mut i = 0;
    while n >= 0x80 {
        out[i] = (n as u8) | 0x80;
        n >>= 7;
        i += 1;
    }
    out[i] = n as u8;
    i + 1
}

/// Reads a varint at `p`; returns (value, bytes used).
///
/// # Safety
/// `p` points into a live entry at the start of a varint written by `write_varint`.
unsafe fn read_varint(p: *const u8) -> (usize, usize) {
    let mut value = 0usize;
    let mut shift = 0;
    let mut i = 0;
    loop {
        // SAFETY: the caller guarantees a complete varint at `p`.
        let b = unsafe { *p.add(i) };
        value |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            return (value, i);
        }
        shift += 7;
    }
}

/// The first length-prefixed field of an entry (the member or the key).
///
/// # Safety
/// `e` is a live entry allocated by `new_entry` and not freed for `'a`.
unsafe fn entry_key<'a>(e: usize) -> &'a [u8] {
    let p = e as *const u8;
    // SAFETY: every entry starts with a varint followed by that many bytes.
    unsafe {
        let (len, n) = read_varint(p);
        std::slice::from_raw_parts(p.add(n), len)
    }
}

/// The second field of a map entry.
///
/// # Safety
/// `e` is a live map entry (two fields) not freed for `'a`.
unsafe fn entry_value<'a>(e: usize) -> &'a [u8] {
    let p = e as *const u8;
    // SAFETY: a map entry is two varint-prefixed fields back to back.
    unsafe {
        let (klen, kn) = read_varint(p);
        let vp = p.add(kn + klen);
        let (vlen, vn) = read_varint(vp);
        std::slice::from_raw_parts(vp.add(vn), vlen)
    }
}

/// Allocated size of an entry.
///
/// # Safety
/// `e` is a live entry of the kind `MAP` says.
unsafe fn entry_size<const MAP: bool>(e: usize) -> usize {
    // SAFETY: forwarded from the caller.
    let key = unsafe { entry_key(e) };
    let mut size = varint_len(key.len()) + key.len();
    if MAP {
        // SAFETY: forwarded from the caller.
        let value = unsafe { entry_value(e) };
        size += varint_len(value.len()) + value.len();
    }
    size
}

fn entry_layout(size: usize) -> Layout {
    Layout::from_size_align(size, ENTRY_ALIGN).expect("entry size overflows a Layout")
}

/// Allocates an entry holding `key` (and `value` for maps); returns (pointer, size).
fn new_entry(key: &[u8], value: Option<&[u8]>) -> (usize, usize) {
    let mut size = varint_len(key.len()) + key.len();
    if let Some(v) = value {
        size += varint_len(v.len()) + v.len();
    }
    let layout = entry_layout(size);
    // SAFETY: `size` >= 1 (a varint is at least one byte), so the layout is non-zero.
    let p = unsafe { alloc(layout) };
    if p.is_null() {
        handle_alloc_error(layout);
    }
    // SAFETY: `p` is a fresh allocation of `size` bytes that we fill completely below.
    let buf = unsafe { std::slice::from_raw_parts_mut(p, size) };
    let mut at = write_varint(buf, key.len());
    buf[at..at + key.len()].copy_from_slice(key);
    at += key.len();
    if let Some(v) = value {
        at += write_varint(&mut buf[at..], v.len());
        buf[at..at + v.len()].copy_from_slice(v);
    }
    debug_assert_eq!(at + value.map_or(0, <[u8]>::len), size);
    (p as usize, size)
}

/// # Safety
/// `e` was returned by `new_entry` with this `size` and is not used afterwards.
unsafe fn free_entry(e: usize, size: usize) {
    // SAFETY: same pointer and layout as the allocation.
    unsafe { dealloc(e as *mut u8, entry_layout(size)) }
}

fn new_link(entry: usize, next: usize) -> usize {
    let raw = Box::into_raw(Box::new(Link { entry, next })) as usize;
    debug_assert_eq!(raw & LINK_TAG, 0);
    raw | LINK_TAG
}

/// # Safety
/// `slot` is a tagged link made by `new_link` that nothing else refers to any more.
unsafe fn free_link(slot: usize) {
    // SAFETY: the untagged value is the `Box<Link>` pointer `new_link` leaked.
    drop(unsafe { Box::from_raw((slot & !LINK_TAG) as *mut Link) });
}

/// # Safety
/// `slot` is a live tagged link.
unsafe fn link<'a>(slot: usize) -> &'a mut Link {
    // SAFETY: forwarded from the caller; links are only reached through their one slot.
    unsafe { &mut *((slot & !LINK_TAG) as *mut Link) }
}

fn empty_table(buckets: usize) -> Box<[usize]> {
    vec![0usize; buckets].into_boxed_slice()
}

/// A tiny PRNG over the caller's seed for retried draws.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The table shared by [`DenseSet`] (`MAP = false`) and [`StringMap`] (`MAP = true`).
struct Core<const MAP: bool> {
    /// `t[0]`: the table (the old one while rehashing); `t[1]`: the rehash target or empty.
    t: [Box<[usize]>; 2],
    /// While rehashing: buckets of `t[0]` below this index have been migrated (are empty).
    rehash_idx: usize,
    len: usize,
    links: usize,
    entry_bytes: usize,
}

// SAFETY: a Core exclusively owns every entry and link it points to (no sharing, no interior
// mutability through `&Core`), so it is as thread-safe as a `Vec<Box<[u8]>>`.
unsafe impl<const MAP: bool> Send for Core<MAP> {}
// SAFETY: see `Send`; shared references only read.
unsafe impl<const MAP: bool> Sync for Core<MAP> {}

fn bucket_of(hash: u64, buckets: usize) -> usize {
    (hash as usize) & (buckets - 1)
}

impl<const MAP: bool> Core<MAP> {
    fn with_capacity(n: usize) -> Self {
        let buckets = if n == 0 {
            0
        } else {
            n.next_power_of_two().max(MIN_BUCKETS)
        };
        Core {
            t: [empty_table(buckets), empty_table(0)],
            rehash_idx: 0,
            len: 0,
            links: 0,
            entry_bytes: 0,
        }
    }

    fn rehashing(&self) -> bool {
        !self.t[1].is_empty()
    }

    fn heap_bytes(&self) -> usize {
        (self.t[0].len() + self.t[1].len()) * std::mem::size_of::<usize>()
            + self.links * std::mem::size_of::<Link>()
            + self.entry_bytes
    }

    /// The entry with `key`, if any.
    fn find(&self, key: &[u8], hash: u64) -> Option<usize> {
        for ti in 0..2 {
            let table = &self.t[ti];
            if table.is_empty() {
                continue;
            }
            let b = bucket_of(hash, table.len());
            if ti == 0 && self.rehashing() && b < self.rehash_idx {
                continue;
            }
            let mut v = table[b];
            while v != 0 {
                let (e, next) = if v & LINK_TAG == 0 {
                    (v, 0)
                } else {
                    // SAFETY: tagged non-zero slots are live links.
                    let l = unsafe { link(v) };
                    (l.entry, l.next)
                };
                // SAFETY: `e` is a live entry of this table.
                if unsafe { entry_key(e) } == key {
                    return Some(e);
                }
                v = next;
            }
        }
        None
    }

    /// Pointer to the word (slot or `Link::entry`/`Link::next`) holding the entry with `key`.
    fn find_place(&mut self, key: &[u8], hash: u64) -> Option<*mut usize> {
        let rehashing = self.rehashing();
        let rehash_idx = self.rehash_idx;
        for ti in 0..2 {
            let table = &mut self.t[ti];
            if table.is_empty() {
                continue;
            }
            let b = bucket_of(hash, table.len());
            if ti == 0 && rehashing && b < rehash_idx {
                continue;
            }
            let mut place: *mut usize = &mut table[b];
            loop {
                // SAFETY: `place` points at a slot or a field of a live link of this table.
                let v = unsafe { *place };
                if v == 0 {
                    break;
                }
                if v & LINK_TAG == 0 {
                    // SAFETY: an untagged slot is a live entry.
                    if unsafe { entry_key(v) } == key {
                        return Some(place);
                    }
                    break;
                }
                // SAFETY: tagged slot: live link.
                let l = unsafe { link(v) };
                // SAFETY: `l.entry` is a live entry.
                if unsafe { entry_key(l.entry) } == key {
                    return Some(&mut l.entry);
                }
                place = &mut l.next;
            }
        }
        None
    }

    /// Unlinks the entry with `key` and returns it (the caller frees it).
    fn unlink(&mut self, key: &[u8], hash: u64) -> Option<usize> {
        let rehashing = self.rehashing();
        let rehash_idx = self.rehash_idx;
        for ti in 0..2 {
            let table = &mut self.t[ti];
            if table.is_empty() {
                continue;
            }
            let b = bucket_of(hash, table.len());
            if ti == 0 && rehashing && b < rehash_idx {
                continue;
            }
            let mut place: *mut usize = &mut table[b];
            loop {
                // SAFETY: `place` points at a slot or `Link::next` of a live link.
                let v = unsafe { *place };
                if v == 0 {
                    break;
                }
                if v & LINK_TAG == 0 {
                    // SAFETY: untagged: live entry.
                    if unsafe { entry_key(v) } == key {
                        // SAFETY: as above.
                        unsafe { *place = 0 };
                        return Some(v);
                    }
                    break;
                }
                // SAFETY: tagged: live link.
                let l = unsafe { link(v) };
                let (e, next) = (l.entry, l.next);
                // SAFETY: `e` is a live entry.
                if unsafe { entry_key(e) } == key {
                    // SAFETY: the link is bypassed before it is freed.
                    unsafe {
                        *place = next;
                        free_link(v);
                    }
                    self.links -= 1;
                    return Some(e);
                }
                // SAFETY: an untagged `next` is the chain's last entry.
                if next & LINK_TAG == 0 && unsafe { entry_key(next) } == key {
                    // The last link collapses into its own entry.
                    // SAFETY: as above.
                    unsafe {
                        *place = e;
                        free_link(v);
                    }
                    self.links -= 1;
                    return Some(next);
                }
                if next & LINK_TAG == 0 {
                    break;
                }
                place = &mut l.next;
            }
        }
        None
    }

    /// Adds an entry known to be absent, to the table new entries go to.
    fn push(&mut self, e: usize, hash: u64) {
        let ti = usize::from(self.rehashing());
        let table = &mut self.t[ti];
        let b = bucket_of(hash, table.len());
        push_slot(&mut table[b], e, &mut self.links);
        self.len += 1;
    }

    /// Called before each insert: starts a doubling at load 1, makes a rehash step.
    fn before_insert(&mut self) {
        if self.t[0].is_empty() {
            self.t[0] = empty_table(MIN_BUCKETS);
            return;
        }
        if self.rehashing() {
            self.rehash_step(REHASH_STEP);
        }
        let target = if self.rehashing() {
            &self.t[1]
        } else {
            &self.t[0]
        };
        if self.len >= target.len() {
            let buckets = target.len() * 2;
            self.resize(buckets);
        }
    }

    /// Called after each removal: a rehash step, and a shrink once the table is 1/8 full.
    fn after_remove(&mut self) {
        if self.len == 0 {
            // An empty collection is deleted by its owner; free the tables regardless.
            self.t = [empty_table(0), empty_table(0)];
            self.rehash_idx = 0;
            return;
        }
        if self.rehashing() {
            self.rehash_step(REHASH_STEP);
            return;
        }
        let buckets = self.t[0].len();
        if buckets > MIN_BUCKETS && self.len * 8 < buckets {
            self.resize((self.len * 2).next_power_of_two().max(MIN_BUCKETS));
        }
    }

    /// Starts an incremental rehash into `buckets` (finishing any rehash in progress first).
    fn resize(&mut self, buckets: usize) {
        if self.rehashing() {
            self.rehash_step(usize::MAX);
        }
        if buckets == self.t[0].len() {
            return;
        }
        self.t[1] = empty_table(buckets);
        self.rehash_idx = 0;
    }

    /// Migrates up to `buckets` non-empty buckets of the old table.
    fn rehash_step(&mut self, buckets: usize) {
        let mut moved = 0;
        let mut empty_visits = 0;
        let [old, new] = &mut self.t;
        while self.rehash_idx < old.len() && moved < buckets {
            let v = std::mem::take(&mut old[self.rehash_idx]);
            self.rehash_idx += 1;
            if v == 0 {
                empty_visits += 1;
                if empty_visits >= REHASH_EMPTY_VISITS && buckets != usize::MAX {
                    break;
                }
                continue;
            }
            moved += 1;
            migrate_chain(v, new, &mut self.links);
        }
        if self.rehash_idx >= self.t[0].len() {
            self.t[0] = std::mem::replace(&mut self.t[1], empty_table(0));
            self.rehash_idx = 0;
        }
    }

    fn clear(&mut self) {
        for table in &mut self.t {
            for slot in table.iter_mut() {
                let mut v = std::mem::take(slot);
                while v != 0 {
                    let e = if v & LINK_TAG == 0 {
                        let e = v;
                        v = 0;
                        e
                    } else {
                        // SAFETY: tagged: live link, freed once read.
                        let (e, next) = unsafe {
                            let l = link(v);
                            let pair = (l.entry, l.next);
                            free_link(v);
                            pair
                        };
                        v = next;
                        e
                    };
                    // SAFETY: each entry is reached once, through its one place, then freed.
                    unsafe { free_entry(e, entry_size::<MAP>(e)) };
                }
            }
        }
        self.t = [empty_table(0), empty_table(0)];
        self.len = 0;
        self.links = 0;
        self.entry_bytes = 0;
    }

    fn clone_core(&self) -> Self {
        let mut copy = Core::with_capacity(self.len);
        for e in self.iter() {
            // SAFETY: entries yielded by `iter` are live.
            let size = unsafe { entry_size::<MAP>(e) };
            let layout = entry_layout(size);
            // SAFETY: non-zero layout; the copy writes all `size` bytes.
            let p = unsafe { alloc(layout) };
            if p.is_null() {
                handle_alloc_error(layout);
            }
            // SAFETY: both regions are `size` bytes and distinct allocations.
            unsafe { ptr::copy_nonoverlapping(e as *const u8, p, size) };
            // SAFETY: `p` now holds a valid entry.
            let hash = FixedHasher::hash_bytes(unsafe { entry_key(p as usize) });
            copy.push(p as usize, hash);
            copy.entry_bytes += size;
        }
        copy
    }

    fn iter(&self) -> CoreIter<'_> {
        CoreIter {
            tables: [&self.t[0][self.rehash_idx..], &self.t[1]],
            ti: 0,
            bucket: 0,
            chain: 0,
            _life: PhantomData,
        }
    }

    /// Visits one cursor position (a bucket of the smaller table and its expansions in the
    /// larger one) and returns the next cursor.
    fn scan(&self, cursor: u64, f: &mut dyn FnMut(usize)) -> u64 {
        if self.len == 0 {
            return 0;
        }
        let mut v = cursor;
        if !self.rehashing() {
            let m0 = (self.t[0].len() - 1) as u64;
            visit_chain(self.t[0][(v & m0) as usize], f);
            return next_cursor(v, m0);
        }
        let (small, large) = if self.t[0].len() <= self.t[1].len() {
            (&self.t[0], &self.t[1])
        } else {
            (&self.t[1], &self.t[0])
        };
        let m0 = (small.len() - 1) as u64;
        let m1 = (large.len() - 1) as u64;
        // Migrated buckets of the old table are empty, so visiting them is harmless.
        visit_chain(small[(v & m0) as usize], f);
        loop {
            visit_chain(large[(v & m1) as usize], f);
            v = next_cursor(v, m1);
            if v & (m0 ^ m1) == 0 {
                break;
            }
        }
        v
    }

    /// A near-uniform random entry.
    fn random(&self, seed: u64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mut rng = SplitMix(seed);
        let start = if self.rehashing() { self.rehash_idx } else { 0 };
        let n0 = self.t[0].len() - start;
        let total = n0 + self.t[1].len();
        for _ in 0..4096 {
            let i = (rng.next() % total as u64) as usize;
            let slot = if i < n0 {
                self.t[0][start + i]
            } else {
                self.t[1][i - n0]
            };
            if slot == 0 {
                continue;
            }
            let k = chain_len(slot);
            let pick = (rng.next() % k.max(RANDOM_CHAIN_BOUND) as u64) as usize;
            if pick < k {
                return Some(chain_nth(slot, pick));
            }
        }
        // Astronomically unlikely with len > 0; fall back to the first entry.
        self.iter().next()
    }
}

impl<const MAP: bool> Drop for Core<MAP> {
    fn drop(&mut self) {
        self.clear();
    }
}

fn next_cursor(v: u64, mask: u64) -> u64 {
    // Increment the high bits of the reversed cursor: keeps the order stable across resizes.
    let v = v | !mask;
    (v.reverse_bits().wrapping_add(1)).reverse_bits()
}

fn push_slot(slot: &mut usize, e: usize, links: &mut usize) {
    if *slot == 0 {
        *slot = e;
    } else {
        *slot = new_link(e, *slot);
        *links += 1;
    }
}

/// Moves every entry of the chain `v` into `new`, reusing its links.
fn migrate_chain(mut v: usize, new: &mut [usize], links: &mut usize) {
    let mut spare = 0usize; // untagged-free stack of links, chained through `next`
    while v != 0 {
        let e = if v & LINK_TAG == 0 {
            let e = v;
            v = 0;
            e
        } else {
            // SAFETY: tagged: a live link of the chain being dismantled.
            let l = unsafe { link(v) };
            let e = l.entry;
            let next = l.next;
            l.next = spare;
            spare = v;
            v = next;
            e
        };
        // SAFETY: `e` is a live entry.
        let hash = FixedHasher::hash_bytes(unsafe { entry_key(e) });
        let slot = &mut new[bucket_of(hash, new.len())];
        if *slot == 0 {
            *slot = e;
        } else if spare != 0 {
            let s = spare;
            // SAFETY: `s` is one of the detached links on the spare stack.
            let l = unsafe { link(s) };
            spare = l.next;
            l.entry = e;
            l.next = *slot;
            *slot = s;
        } else {
            *slot = new_link(e, *slot);
            *links += 1;
        }
    }
    while spare != 0 {
        // SAFETY: detached spare link, no longer referenced by any slot.
        let next = unsafe { link(spare).next };
        // SAFETY: as above.
        unsafe { free_link(spare) };
        *links -= 1;
        spare = next;
    }
}

fn visit_chain(mut v: usize, f: &mut dyn FnMut(usize)) {
    while v != 0 {
        if v & LINK_TAG == 0 {
            f(v);
            return;
        }
        // SAFETY: tagged: live link.
        let l = unsafe { link(v) };
        f(l.entry);
        v = l.next;
    }
}

fn chain_len(mut v: usize) -> usize {
    let mut n = 0;
    while v != 0 {
        n += 1;
        if v & LINK_TAG == 0 {
            break;
        }
        // SAFETY: tagged: live link.
        v = unsafe { link(v).next };
    }
    n
}

fn chain_nth(mut v: usize, mut i: usize) -> usize {
    loop {
        if v & LINK_TAG == 0 {
            return v;
        }
        // SAFETY: tagged: live link.
        let l = unsafe { link(v) };
        if i == 0 {
            return l.entry;
        }
        i -= 1;
        v = l.next;
    }
}

struct CoreIter<'a> {
    tables: [&'a [usize]; 2],
    ti: usize,
    bucket: usize,
    chain: usize,
    _life: PhantomData<&'a ()>,
}

impl Iterator for CoreIter<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        loop {
            if self.chain != 0 {
                let v = self.chain;
                if v & LINK_TAG == 0 {
                    self.chain = 0;
                    return Some(v);
                }
                // SAFETY: tagged: live link, valid while the table is borrowed.
                let l = unsafe { link(v) };
                self.chain = l.next;
                return Some(l.entry);
            }
            if self.ti == 2 {
                return None;
            }
            let table = self.tables[self.ti];
            if self.bucket >= table.len() {
                self.ti += 1;
                self.bucket = 0;
                continue;
            }
            self.chain = table[self.bucket];
            self.bucket += 1;
        }
    }
}

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
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8])) -> u64 {
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
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
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
