//! `DbSlice::bytes_used` and `DashTable::bytes_allocated` against what the allocator saw.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use damselfly_shards::dash::{DashPolicy, DashTable};
use damselfly_shards::{CompactValue, DbSlice, FixedHasher};

/// Live bytes requested from the system allocator by this test binary.
struct Counting;
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged and only counts sizes; layouts and
// pointers pass through untouched, so `System`'s guarantees hold.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Relaxed: a counter, no memory is published through it.
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout` (via `alloc`/`realloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn within_5_percent(accounted: usize, measured: usize) {
    let diff = accounted.abs_diff(measured) as f64;
    assert!(
        diff <= measured as f64 * 0.05,
        "accounted {accounted} vs allocator {measured}"
    );
}

struct U64Policy;
impl DashPolicy<u64> for U64Policy {
    fn hash_key(&self, key: &u64) -> u64 {
        FixedHasher::hash_u64(*key)
    }
}

// One test function: the counter is process-wide, so parallel tests would disturb it.
#[test]
fn accounting_matches_the_allocator() {
    let base = LIVE_BYTES.load(Ordering::Relaxed);
    let mut table: DashTable<u64, u64, U64Policy> = DashTable::new(U64Policy);
    for k in 0..200_000 {
        table.insert(k, k);
    }
    within_5_percent(
        table.bytes_allocated(),
        LIVE_BYTES.load(Ordering::Relaxed) - base,
    );
    drop(table);

    let base = LIVE_BYTES.load(Ordering::Relaxed);
    let mut slice = DbSlice::new(16);
    for i in 0..200_000u64 {
        let key = if i % 3 == 0 {
            format!("a-longer-key-on-the-heap:{i}")
        } else {
            format!("k:{i}")
        };
        let value = match i % 4 {
            0 => i.to_string(),
            1 => "short".to_string(),
            _ => "v".repeat(16 + (i % 50) as usize),
        };
        slice.set(
            (i % 3) as usize,
            key.as_bytes(),
            CompactValue::from_bytes(value.as_bytes()),
            0,
        );
        if i % 5 == 0 {
            slice.set_expiry((i % 3) as usize, key.as_bytes(), 1_000, 0);
        }
    }
    for i in (0..200_000u64).step_by(7) {
        let key = format!("k:{i}");
        slice.delete((i % 3) as usize, key.as_bytes(), 0);
    }
    slice.check_invariants();
    within_5_percent(
        slice.bytes_used(),
        LIVE_BYTES.load(Ordering::Relaxed) - base,
    );
    // Expire everything with a deadline through active expiry: accounting follows.
    for db in 0..3 {
        while slice.expire_len(db) > 0 {
            slice.active_expire(db, 2_000, Default::default());
        }
    }
    slice.check_invariants();
    within_5_percent(
        slice.bytes_used(),
        LIVE_BYTES.load(Ordering::Relaxed) - base,
    );
}
