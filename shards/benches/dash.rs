//! DashTable vs hashbrown: bytes per entry and ns per insert / find.
//!
//! `cargo bench -p damselfly-shards --bench dash` (add `-- quick` for 1M entries only).
//! Keys are `key:<n>`, values 8 or 32 bytes; hashbrown stores `Box<[u8]>` keys and values
//! and hashes with the same fixed-seed ahash. Memory comes from a counting allocator over
//! mimalloc (bytes requested, live).
#![allow(clippy::disallowed_methods)] // a measurement binary reads the clock

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use damselfly_shards::dash::{DashPolicy, DashTable};
use damselfly_shards::{CompactKey, CompactValue, FixedHasher};
use mimalloc::MiMalloc;

struct Counting;
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
/// What mimalloc actually hands out (the request rounded up to its size class): closer to
/// what resident memory pays than the bytes requested.
static LIVE_USABLE: AtomicUsize = AtomicUsize::new(0);

/// Usable size of a live mimalloc block.
///
/// # Safety
/// `ptr` must be a live block from `MiMalloc`.
unsafe fn usable(ptr: *mut u8) -> usize {
    if ptr.is_null() {
        return 0;
    }
    // SAFETY: `ptr` is a live block from `MiMalloc` (our caller's contract), and
    // `mi_usable_size` only reads mimalloc's metadata for it.
    unsafe { mi_usable_size(ptr.cast()) }
}

// mimalloc's own entry point (always compiled into libmimalloc-sys; the `mimalloc` crate
// wraps it only behind a feature that would change the workspace's lock file).
extern "C" {
    fn mi_usable_size(ptr: *const std::ffi::c_void) -> usize;
}

// SAFETY: forwards every call to mimalloc unchanged and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // Relaxed: statistics, nothing is published through them.
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        let ptr = unsafe { MiMalloc.alloc(layout) };
        // SAFETY: `ptr` was just allocated by `MiMalloc` (or is null).
        LIVE_USABLE.fetch_add(unsafe { usable(ptr) }, Ordering::Relaxed);
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` is live and came from `MiMalloc`.
        LIVE_USABLE.fetch_sub(unsafe { usable(ptr) }, Ordering::Relaxed);
        // SAFETY: `ptr` came from `MiMalloc` with `layout`.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` is live and came from `MiMalloc`.
        let old_usable = unsafe { usable(ptr) };
        // SAFETY: same contract as our caller's.
        let new = unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE_USABLE.fetch_sub(old_usable, Ordering::Relaxed);
            // SAFETY: `new` was just returned by `MiMalloc`.
            LIVE_USABLE.fetch_add(unsafe { usable(new) }, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

fn live_usable() -> usize {
    LIVE_USABLE.load(Ordering::Relaxed)
}

macro_rules! shape {
    ($name:ident, $regular:expr, $stash:expr) => {
        struct $name;
        impl DashPolicy<CompactKey> for $name {
            const REGULAR_BUCKETS: usize = $regular;
            const STASH_BUCKETS: usize = $stash;
            fn hash_key(&self, key: &CompactKey) -> u64 {
                FixedHasher::hash_bytes(&key.as_bytes())
            }
        }
    };
}
// Largest segment sizes (regular + stash buckets; 512-byte buckets in 4 KiB chunks of 8).
shape!(Shape28x4, 28, 4);
shape!(Shape44x4, 44, 4);
shape!(Shape60x4, 60, 4);
shape!(Shape56x8, 56, 8);

/// Keys `key:<n>` in one buffer, plus a shuffled lookup order.
struct Keys {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    order: Vec<u32>,
}

impl Keys {
    fn new(count: usize) -> Keys {
        let mut bytes = Vec::new();
        let mut ends = Vec::with_capacity(count);
        for n in 0..count {
            bytes.extend_from_slice(format!("key:{n}").as_bytes());
            ends.push(bytes.len());
        }
        let mut order: Vec<u32> = (0..count as u32).collect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for i in (1..order.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        Keys { bytes, ends, order }
    }

    fn get(&self, n: usize) -> &[u8] {
        let start = if n == 0 { 0 } else { self.ends[n - 1] };
        &self.bytes[start..self.ends[n]]
    }
}

struct Row {
    bytes_per_entry: f64,
    /// Bytes per entry as mimalloc's size classes round them.
    usable_per_entry: f64,
    table_overhead: f64,
    insert_ns: f64,
    find_ns: f64,
}

/// Finds are timed in rounds of `FIND_ROUND` random lookups; the fastest of `FIND_ROUNDS`
/// rounds is reported, which filters out time stolen by other processes on a shared machine.
const FIND_ROUND: usize = 1_000_000;
const FIND_ROUNDS: usize = 5;

fn fastest_round_ns(mut round: impl FnMut(usize) -> usize) -> f64 {
    let mut best = f64::INFINITY;
    let mut found = 0;
    for r in 0..FIND_ROUNDS {
        let start = Instant::now();
        found += round(r * FIND_ROUND);
        best = best.min(start.elapsed().as_nanos() as f64 / FIND_ROUND as f64);
    }
    black_box(found);
    best
}

fn measure_dash<P: DashPolicy<CompactKey>>(policy: P, keys: &Keys, value: &[u8]) -> Row {
    let count = keys.ends.len();
    let base = live();
    let base_usable = live_usable();
    let start = Instant::now();
    let mut table: DashTable<CompactKey, CompactValue, P> = DashTable::new(policy);
    for n in 0..count {
        let key = keys.get(n);
        let hash = FixedHasher::hash_bytes(key);
        table.insert_new_hashed(
            hash,
            CompactKey::new(key),
            CompactValue::from_bytes(value),
            &mut damselfly_shards::NoHooks,
        );
    }
    let insert_ns = start.elapsed().as_nanos() as f64 / count as f64;
    let bytes = live() - base;
    let usable_bytes = live_usable() - base_usable;
    let find_ns = fastest_round_ns(|first| {
        let mut found = 0usize;
        for i in first..first + FIND_ROUND {
            let key = keys.get(keys.order[i % count] as usize);
            let hash = FixedHasher::hash_bytes(key);
            found += table.find_hashed(hash, key).map_or(0, |(_, v)| v.str_len());
        }
        found
    });
    let row = Row {
        bytes_per_entry: bytes as f64 / count as f64,
        usable_per_entry: usable_bytes as f64 / count as f64,
        table_overhead: table.bytes_allocated() as f64 / count as f64 - 32.0,
        insert_ns,
        find_ns,
    };
    let load = table.len() as f64 / table.capacity() as f64;
    let displaced = table.displaced_entries() as f64 / count as f64;
    drop(table);
    eprintln!("    (load factor {load:.3}, displaced {displaced:.3} moves per insert)");
    row
}

fn measure_hashbrown(keys: &Keys, value: &[u8]) -> Row {
    let count = keys.ends.len();
    let base = live();
    let base_usable = live_usable();
    let start = Instant::now();
    let mut map: hashbrown::HashMap<Box<[u8]>, Box<[u8]>, ahash::RandomState> =
        hashbrown::HashMap::with_hasher(ahash::RandomState::with_seeds(1, 2, 3, 4));
    for n in 0..count {
        map.insert(keys.get(n).into(), value.into());
    }
    let insert_ns = start.elapsed().as_nanos() as f64 / count as f64;
    let bytes = live() - base;
    let usable_bytes = live_usable() - base_usable;
    let find_ns = fastest_round_ns(|first| {
        let mut found = 0usize;
        for i in first..first + FIND_ROUND {
            let key = keys.get(keys.order[i % count] as usize);
            found += map.get(key).map_or(0, |v| v.len());
        }
        found
    });
    Row {
        bytes_per_entry: bytes as f64 / count as f64,
        usable_per_entry: usable_bytes as f64 / count as f64,
        table_overhead: f64::NAN,
        insert_ns,
        find_ns,
    }
}

fn print(label: &str, row: &Row, reference: Option<&Row>) {
    let ratios = reference.map_or(String::new(), |h| {
        format!(
            "  bytes x{:.2} (alloc x{:.2})  find x{:.2}  insert x{:.2}",
            row.bytes_per_entry / h.bytes_per_entry,
            row.usable_per_entry / h.usable_per_entry,
            row.find_ns / h.find_ns,
            row.insert_ns / h.insert_ns
        )
    });
    println!(
        "{label:<22} {:>6.1} B/entry (alloc {:>6.1})  overhead {:>5.1} B  insert {:>6.1} ns  find {:>6.1} ns{ratios}",
        row.bytes_per_entry, row.usable_per_entry, row.table_overhead, row.insert_ns, row.find_ns
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let sizes: &[usize] = if quick {
        &[1_000_000]
    } else {
        &[1_000_000, 10_000_000]
    };
    for &count in sizes {
        let keys = Keys::new(count);
        for value_len in [8usize, 32] {
            let value = vec![b'v'; value_len];
            println!("== {count} entries, {value_len}-byte values");
            let hb = measure_hashbrown(&keys, &value);
            print("hashbrown Box<[u8]>", &hb, None);
            print(
                "dash 60+4 (default)",
                &measure_dash(Shape60x4, &keys, &value),
                Some(&hb),
            );
            if count == 1_000_000 && value_len == 8 {
                let other = [
                    ("dash 28+4", measure_dash(Shape28x4, &keys, &value)),
                    ("dash 44+4", measure_dash(Shape44x4, &keys, &value)),
                    ("dash 56+8", measure_dash(Shape56x8, &keys, &value)),
                ];
                for (label, row) in &other {
                    print(label, row, Some(&hb));
                }
            }
        }
    }
}
