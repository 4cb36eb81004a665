//! The chained table behind [`super::DenseSet`] and [`super::StringMap`]: entries, links,
//! incremental rehash, scan and random draws (layout and guarantees: see `dense.rs`).

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::marker::PhantomData;
use std::ptr;

use crate::hash::FixedHasher;

/// Low bit of a slot: the slot points to a [`Link`], not an entry.
pub(super) const LINK_TAG: usize = 1;
pub(super) const ENTRY_ALIGN: usize = 2;
pub(super) const MIN_BUCKETS: usize = 4;
/// Old-table buckets migrated per write while rehashing (one suffices to finish before the
/// next doubling; two leaves room for removals that shrink).
pub(super) const REHASH_STEP: usize = 2;
/// Empty old-table buckets a rehash step may skip past, as Redis bounds its steps.
pub(super) const REHASH_EMPTY_VISITS: usize = 16;
/// Chains shorter than this are padded for the random draw, to keep draws cheap and fair.
pub(super) const RANDOM_CHAIN_BOUND: usize = 4;

#[repr(C)]
pub(super) struct Link {
    /// Untagged entry pointer.
    pub(super) entry: usize,
    /// Next slot value: another tagged link or the chain's last entry.
    pub(super) next: usize,
}

pub(super) fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

pub(super) fn write_varint(out: &mut [u8], mut n: usize) -> usize {
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
pub(super) unsafe fn read_varint(p: *const u8) -> (usize, usize) {
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
pub(super) unsafe fn entry_key<'a>(e: usize) -> &'a [u8] {
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
pub(super) unsafe fn entry_value<'a>(e: usize) -> &'a [u8] {
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
pub(super) unsafe fn entry_size<const MAP: bool>(e: usize) -> usize {
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

pub(super) fn entry_layout(size: usize) -> Layout {
    Layout::from_size_align(size, ENTRY_ALIGN).expect("entry size overflows a Layout")
}

/// Allocates an entry holding `key` (and `value` for maps); returns (pointer, size).
pub(super) fn new_entry(key: &[u8], value: Option<&[u8]>) -> (usize, usize) {
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
pub(super) unsafe fn free_entry(e: usize, size: usize) {
    // SAFETY: same pointer and layout as the allocation.
    unsafe { dealloc(e as *mut u8, entry_layout(size)) }
}

pub(super) fn new_link(entry: usize, next: usize) -> usize {
    let raw = Box::into_raw(Box::new(Link { entry, next })) as usize;
    debug_assert_eq!(raw & LINK_TAG, 0);
    raw | LINK_TAG
}

/// # Safety
/// `slot` is a tagged link made by `new_link` that nothing else refers to any more.
pub(super) unsafe fn free_link(slot: usize) {
    // SAFETY: the untagged value is the `Box<Link>` pointer `new_link` leaked.
    drop(unsafe { Box::from_raw((slot & !LINK_TAG) as *mut Link) });
}

/// # Safety
/// `slot` is a live tagged link.
pub(super) unsafe fn link<'a>(slot: usize) -> &'a mut Link {
    // SAFETY: forwarded from the caller; links are only reached through their one slot.
    unsafe { &mut *((slot & !LINK_TAG) as *mut Link) }
}

pub(super) fn empty_table(buckets: usize) -> Box<[usize]> {
    vec![0usize; buckets].into_boxed_slice()
}

/// A tiny PRNG over the caller's seed for retried draws.
pub(super) struct SplitMix(pub(super) u64);

impl SplitMix {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The table shared by [`DenseSet`] (`MAP = false`) and [`StringMap`] (`MAP = true`).
pub(super) struct Core<const MAP: bool> {
    /// `t[0]`: the table (the old one while rehashing); `t[1]`: the rehash target or empty.
    pub(super) t: [Box<[usize]>; 2],
    /// While rehashing: buckets of `t[0]` below this index have been migrated (are empty).
    pub(super) rehash_idx: usize,
    pub(super) len: usize,
    pub(super) links: usize,
    pub(super) entry_bytes: usize,
}

// SAFETY: a Core exclusively owns every entry and link it points to (no sharing, no interior
// mutability through `&Core`), so it is as thread-safe as a `Vec<Box<[u8]>>`.
unsafe impl<const MAP: bool> Send for Core<MAP> {}
// SAFETY: see `Send`; shared references only read.
unsafe impl<const MAP: bool> Sync for Core<MAP> {}

pub(super) fn bucket_of(hash: u64, buckets: usize) -> usize {
    (hash as usize) & (buckets - 1)
}

impl<const MAP: bool> Core<MAP> {
    pub(super) fn with_capacity(n: usize) -> Self {
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

    pub(super) fn rehashing(&self) -> bool {
        !self.t[1].is_empty()
    }

    pub(super) fn heap_bytes(&self) -> usize {
        (self.t[0].len() + self.t[1].len()) * std::mem::size_of::<usize>()
            + self.links * std::mem::size_of::<Link>()
            + self.entry_bytes
    }

    /// The entry with `key`, if any.
    pub(super) fn find(&self, key: &[u8], hash: u64) -> Option<usize> {
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
    pub(super) fn find_place(&mut self, key: &[u8], hash: u64) -> Option<*mut usize> {
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
    pub(super) fn unlink(&mut self, key: &[u8], hash: u64) -> Option<usize> {
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
    pub(super) fn push(&mut self, e: usize, hash: u64) {
        let ti = usize::from(self.rehashing());
        let table = &mut self.t[ti];
        let b = bucket_of(hash, table.len());
        push_slot(&mut table[b], e, &mut self.links);
        self.len += 1;
    }

    /// Called before each insert: starts a doubling at load 1, makes a rehash step.
    pub(super) fn before_insert(&mut self) {
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
    pub(super) fn after_remove(&mut self) {
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
    pub(super) fn resize(&mut self, buckets: usize) {
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
    pub(super) fn rehash_step(&mut self, buckets: usize) {
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

    pub(super) fn clear(&mut self) {
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

    pub(super) fn clone_core(&self) -> Self {
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

    pub(super) fn iter(&self) -> CoreIter<'_> {
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
    pub(super) fn scan(&self, cursor: u64, f: &mut dyn FnMut(usize)) -> u64 {
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
    pub(super) fn random(&self, seed: u64) -> Option<usize> {
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

pub(super) fn next_cursor(v: u64, mask: u64) -> u64 {
    // Increment the high bits of the reversed cursor: keeps the order stable across resizes.
    let v = v | !mask;
    (v.reverse_bits().wrapping_add(1)).reverse_bits()
}

pub(super) fn push_slot(slot: &mut usize, e: usize, links: &mut usize) {
    if *slot == 0 {
        *slot = e;
    } else {
        *slot = new_link(e, *slot);
        *links += 1;
    }
}

/// Moves every entry of the chain `v` into `new`, reusing its links.
pub(super) fn migrate_chain(mut v: usize, new: &mut [usize], links: &mut usize) {
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

pub(super) fn visit_chain(mut v: usize, f: &mut dyn FnMut(usize)) {
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

pub(super) fn chain_len(mut v: usize) -> usize {
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

pub(super) fn chain_nth(mut v: usize, mut i: usize) -> usize {
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

pub(super) struct CoreIter<'a> {
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
