//! The large sorted set's member storage: one allocation per member holding its score, its
//! bytes and the hash chain link ([`ZEntry`], a thin pointer), and a chained hash table of
//! those pointers ([`MemberTable`]). The B+ tree orders the same pointers, so a member's bytes
//! exist once and each index costs one pointer per entry (plus the table's buckets).
//!
//! The table chains through the entries (no node per entry) and scans with Redis's
//! reverse-binary cursor, so ZSCAN returns every member present for the whole scan even when
//! the table grows or shrinks between calls.

use crate::bptree::TreeEntry;
use crate::hash::FixedHasher;
use std::alloc::{self, Layout};
use std::ptr;

/// Bytes before the length: next link, score.
const FIXED: usize = 8 + 8;
/// Members shorter than this have a one-byte length; longer ones a marker byte and a u32.
const SHORT_MAX: usize = 0x7f;
const LONG_MARK: u8 = 0x80;

/// Bytes of the length field for a member of `len` bytes.
fn len_bytes(len: usize) -> usize {
    if len <= SHORT_MAX {
        1
    } else {
        5
    }
}

/// A thin pointer to a member allocation `[next: *mut u8][score: f64][len][bytes]` (the
/// length one byte below 128, else 0x80 and a little-endian u32), or null (only as the
/// tree's filler for unused slots).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZEntry(*mut u8);

impl Default for ZEntry {
    fn default() -> Self {
        ZEntry(ptr::null_mut())
    }
}

impl ZEntry {
    fn layout(member_len: usize) -> Layout {
        Layout::from_size_align(Self::alloc_size(member_len), 8).expect("member fits a layout")
    }

    /// Bytes an entry for a member of `member_len` bytes allocates.
    pub fn alloc_size(member_len: usize) -> usize {
        FIXED + len_bytes(member_len) + member_len
    }

    pub fn new(member: &[u8], score: f64) -> ZEntry {
        let layout = Self::layout(member.len());
        // SAFETY: the layout is non-zero sized (FIXED > 0).
        let p = unsafe { alloc::alloc(layout) };
        if p.is_null() {
            alloc::handle_alloc_error(layout);
        }
        let len = member.len();
        // SAFETY: `p` is a fresh allocation of alloc_size(len) bytes, aligned to 8: the link
        // and score are written at their aligned offsets, the length field and the member
        // bytes after them, all in bounds.
        unsafe {
            (p as *mut *mut u8).write(ptr::null_mut());
            (p.add(8) as *mut f64).write(score);
            let data = if len <= SHORT_MAX {
                p.add(FIXED).write(len as u8);
                p.add(FIXED + 1)
            } else {
                p.add(FIXED).write(LONG_MARK);
                ptr::copy_nonoverlapping((len as u32).to_le_bytes().as_ptr(), p.add(FIXED + 1), 4);
                p.add(FIXED + 5)
            };
            ptr::copy_nonoverlapping(member.as_ptr(), data, len);
        }
        ZEntry(p)
    }

    /// Frees the allocation; the entry must not be used after.
    ///
    /// # Safety
    /// `self` came from [`ZEntry::new`], is freed once, and no copy of it is used after.
    pub unsafe fn free(self) {
        let len = self.member().len();
        // SAFETY: allocated by `new` with this very layout (length read from the header).
        unsafe { alloc::dealloc(self.0, Self::layout(len)) };
    }

    pub fn is_null(&self) -> bool {
        self.0.is_null()
    }

    fn next(&self) -> ZEntry {
        // SAFETY: a non-null entry points at a live allocation whose first word is the link.
        ZEntry(unsafe { (self.0 as *const *mut u8).read() })
    }

    fn set_next(&self, next: ZEntry) {
        // SAFETY: as in `next`; the zset owning the entry is borrowed mutably by the caller.
        unsafe { (self.0 as *mut *mut u8).write(next.0) }
    }

    /// Changes the score. The caller takes the entry out of the tree first (its order
    /// depends on the score) and puts it back after.
    pub fn set_score(&self, score: f64) {
        // SAFETY: live allocation, score at offset 8, aligned.
        unsafe { (self.0.add(8) as *mut f64).write(score) }
    }

    pub fn alloc_bytes(&self) -> usize {
        Self::alloc_size(self.member().len())
    }
}

impl TreeEntry for ZEntry {
    #[inline]
    fn score(&self) -> f64 {
        // SAFETY: entries in the tree and table are live allocations from `new`.
        unsafe { (self.0.add(8) as *const f64).read() }
    }

    #[inline]
    fn member(&self) -> &[u8] {
        // SAFETY: live allocation written by `new`: the length field at offset FIXED says
        // how many member bytes follow it, all inside the allocation.
        unsafe {
            let first = self.0.add(FIXED).read();
            if first != LONG_MARK {
                std::slice::from_raw_parts(self.0.add(FIXED + 1), first as usize)
            } else {
                let mut len = [0u8; 4];
                ptr::copy_nonoverlapping(self.0.add(FIXED + 1), len.as_mut_ptr(), 4);
                std::slice::from_raw_parts(self.0.add(FIXED + 5), u32::from_le_bytes(len) as usize)
            }
        }
    }
}

// SAFETY: an entry is plain owned memory reachable only through its zset, which a shard
// thread owns; it is moved between threads only with the whole value, never shared.
unsafe impl Send for ZEntry {}
// SAFETY: shared access only reads the allocation.
unsafe impl Sync for ZEntry {}

fn hash_of(member: &[u8]) -> u64 {
    FixedHasher::hash_bytes(member)
}

/// Member → entry, chained through the entries' links. Owns nothing itself: the zset frees
/// entries when it drops them from both indexes.
#[derive(Default)]
pub struct MemberTable {
    buckets: Vec<ZEntry>,
    len: usize,
}

impl MemberTable {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<ZEntry>()
    }

    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    pub fn find(&self, member: &[u8]) -> Option<ZEntry> {
        self.find_hashed(member, hash_of(member))
    }

    /// The hash [`MemberTable::find_hashed`] and [`MemberTable::insert_hashed`] take.
    pub fn hash(member: &[u8]) -> u64 {
        hash_of(member)
    }

    pub fn find_hashed(&self, member: &[u8], hash: u64) -> Option<ZEntry> {
        if self.len == 0 {
            return None;
        }
        let mut e = self.buckets[hash as usize & self.mask()];
        while !e.is_null() {
            if e.member() == member {
                return Some(e);
            }
            e = e.next();
        }
        None
    }

    /// Adds an entry whose member is not in the table.
    pub fn insert(&mut self, e: ZEntry) {
        self.insert_hashed(e, hash_of(e.member()))
    }

    /// [`MemberTable::insert`] with the member's hash already computed.
    pub fn insert_hashed(&mut self, e: ZEntry, hash: u64) {
        if self.len >= self.buckets.len() {
            self.resize((self.buckets.len() * 2).max(4));
        }
        let b = hash as usize & self.mask();
        e.set_next(self.buckets[b]);
        self.buckets[b] = e;
        self.len += 1;
    }

    /// Unlinks the entry of `member` and returns it (the caller frees it).
    pub fn remove(&mut self, member: &[u8]) -> Option<ZEntry> {
        if self.len == 0 {
            return None;
        }
        let b = hash_of(member) as usize & self.mask();
        let mut prev: Option<ZEntry> = None;
        let mut e = self.buckets[b];
        while !e.is_null() {
            if e.member() == member {
                match prev {
                    None => self.buckets[b] = e.next(),
                    Some(p) => p.set_next(e.next()),
                }
                self.len -= 1;
                if self.buckets.len() > 16 && self.len * 8 < self.buckets.len() {
                    self.resize(self.buckets.len() / 4);
                }
                return Some(e);
            }
            prev = Some(e);
            e = e.next();
        }
        None
    }

    fn resize(&mut self, size: usize) {
        let mut fresh = Vec::with_capacity(size);
        fresh.resize(size, ZEntry::default());
        let mask = size - 1;
        for mut e in std::mem::take(&mut self.buckets) {
            while !e.is_null() {
                let next = e.next();
                let b = hash_of(e.member()) as usize & mask;
                e.set_next(fresh[b]);
                fresh[b] = e;
                e = next;
            }
        }
        self.buckets = fresh;
    }

    /// Calls `f` on every entry (table order).
    pub fn for_each(&self, mut f: impl FnMut(ZEntry)) {
        for &head in &self.buckets {
            let mut e = head;
            while !e.is_null() {
                let next = e.next();
                f(e);
                e = next;
            }
        }
    }

    /// One step of a SCAN from `cursor` (Redis's reverse-binary order): visits buckets until
    /// about `count` entries were seen; returns the next cursor, 0 when done.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(ZEntry)) -> u64 {
        if self.len == 0 {
            return 0;
        }
        let mask = self.mask() as u64;
        let mut v = cursor;
        let mut seen = 0;
        let mut steps = count.max(1) * 10;
        loop {
            let mut e = self.buckets[(v & mask) as usize];
            while !e.is_null() {
                f(e);
                seen += 1;
                e = e.next();
            }
            // Increment the reversed cursor over the masked bits.
            v |= !mask;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
            steps -= 1;
            if v == 0 || seen >= count || steps == 0 {
                return v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn find_insert_remove_and_scan_through_resizes() {
        let mut t = MemberTable::default();
        let mut entries = Vec::new();
        for i in 0..5000u32 {
            // Short members, and every 7th one past the one-byte length.
            let m = if i % 7 == 0 {
                format!("m{i}-{}", "x".repeat(200))
            } else {
                format!("m{i}")
            };
            let e = ZEntry::new(m.as_bytes(), i as f64);
            assert_eq!(e.member(), m.as_bytes());
            t.insert(e);
            entries.push(e);
        }
        assert_eq!(t.len(), 5000);
        assert_eq!(t.find(b"m41").unwrap().score(), 41.0);
        assert!(t.find(b"nope").is_none());
        // A scan interleaved with removals (that shrink the table) still returns every
        // member present throughout.
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut removed = 0;
        let name = |i: u32| {
            if i.is_multiple_of(7) {
                format!("m{i}-{}", "x".repeat(200))
            } else {
                format!("m{i}")
            }
        };
        loop {
            cursor = t.scan(cursor, 10, |e| {
                seen.insert(e.member().to_vec());
            });
            if removed < 4900 {
                for _ in 0..50 {
                    let m = name(removed);
                    let e = t.remove(m.as_bytes()).unwrap();
                    // SAFETY: removed from the only index holding it; freed once.
                    unsafe { e.free() };
                    removed += 1;
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 4900..5000 {
            assert!(seen.contains(name(i).as_bytes()), "m{i}");
        }
        assert_eq!(t.len(), 100);
        let mut rest = Vec::new();
        t.for_each(|e| rest.push(e));
        for e in rest {
            t.remove(e.member()).unwrap();
            // SAFETY: unlinked from the table, the only index; freed once.
            unsafe { e.free() };
        }
        assert!(t.is_empty());
    }
}
