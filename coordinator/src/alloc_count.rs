//! The global allocator the server binary installs: mimalloc, counting the bytes it hands
//! out, rounded up to mimalloc's size classes (`mi_good_size`), so `used_memory` is what the
//! allocator really holds for live allocations, as Redis's zmalloc counts usable sizes.
//! The shards' own accounting (keys', values' and tables' bytes) misses the size-class
//! rounding (about a tenth for mixed string sizes) and every allocation outside the tables.
//!
//! Each thread adds to its own cache-line-sized counter, written only by that thread (a
//! plain load and store, no locked instruction, no contention); readers sum them all.
//! Threads past the first [`SLOTS`] - 1 share the last counter with atomic adds. A thread
//! that exits leaves its counter behind: what it allocated and freed nets out there, and
//! what it allocated that others free nets out across counters.
//!
//! A program embedding the server with another allocator gets `None` from
//! [`allocated_bytes`], and INFO falls back to the shards' accounting.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

const SLOTS: usize = 256;

#[repr(align(64))]
struct Slot(AtomicI64);

static COUNTERS: [Slot; SLOTS] = [const { Slot(AtomicI64::new(0)) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// This thread's counter (usize::MAX until its first allocation). Const-initialized and
    /// without a destructor, so it is usable inside the allocator at any time.
    static MINE: Cell<usize> = const { Cell::new(usize::MAX) };
}

extern "C" {
    // Always part of mimalloc's C library (libmimalloc-sys declares it only with its
    // `extended` feature): the usable size mimalloc gives a request of `size` bytes.
    fn mi_good_size(size: usize) -> usize;
}

#[inline]
fn usable(size: usize) -> i64 {
    // SAFETY: mi_good_size only computes a size class from its argument.
    unsafe { mi_good_size(size) as i64 }
}

#[inline]
fn count(delta: i64) {
    let slot = MINE.with(|mine| {
        let mut slot = mine.get();
        if slot == usize::MAX {
            slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed).min(SLOTS - 1);
            mine.set(slot);
        }
        slot
    });
    let counter = &COUNTERS[slot].0;
    if slot < SLOTS - 1 {
        // Only this thread writes this counter: no read-modify-write needed.
        counter.store(counter.load(Ordering::Relaxed) + delta, Ordering::Relaxed);
    } else {
        counter.fetch_add(delta, Ordering::Relaxed);
    }
}

/// mimalloc, counting usable bytes per thread.
pub struct CountingMiMalloc;

// SAFETY: every call is forwarded unchanged to mimalloc, which upholds GlobalAlloc's
// contract; the counting around it touches only atomics and a const thread-local.
unsafe impl GlobalAlloc for CountingMiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours (forwarded).
        let ptr = unsafe { mimalloc::MiMalloc.alloc(layout) };
        if !ptr.is_null() {
            count(usable(layout.size()));
            // Read first: after the first allocation the line stays shared, never written.
            if !INSTALLED.load(Ordering::Relaxed) {
                INSTALLED.store(true, Ordering::Relaxed);
            }
        }
        ptr
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours (forwarded).
        let ptr = unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(usable(layout.size()));
        }
        ptr
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-usable(layout.size()));
        // SAFETY: `ptr` came from this allocator with `layout` (the caller's promise).
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout` (the caller's promise).
        let new = unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(usable(new_size) - usable(layout.size()));
        }
        new
    }
}

/// Bytes live allocations hold (usable sizes), when [`CountingMiMalloc`] is the global
/// allocator; None otherwise.
pub fn allocated_bytes() -> Option<usize> {
    if !INSTALLED.load(Ordering::Relaxed) {
        return None;
    }
    let total: i64 = COUNTERS.iter().map(|c| c.0.load(Ordering::Relaxed)).sum();
    Some(total.max(0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_sizes_round_up_to_size_classes() {
        assert!(usable(1) >= 1);
        assert_eq!(usable(64), 64);
        let s = usable(65);
        assert!((65..=80).contains(&s), "{s}");
        for n in [100usize, 1000, 5000, 100_000] {
            let u = usable(n) as usize;
            assert!(u >= n && u <= n + n / 4 + 16, "{n} -> {u}");
        }
    }

    #[test]
    fn counters_net_out_per_thread() {
        let before: i64 = COUNTERS.iter().map(|c| c.0.load(Ordering::Relaxed)).sum();
        count(1000);
        count(-400);
        let after: i64 = COUNTERS.iter().map(|c| c.0.load(Ordering::Relaxed)).sum();
        // Other test threads may count too (this test binary's allocator is not ours, so
        // only explicit calls count): the difference is ours.
        assert_eq!(after - before, 600);
    }
}
