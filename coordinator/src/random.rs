//! Randomness for commands (SPOP, SRANDMEMBER, HRANDFIELD, ZRANDMEMBER, RANDOMKEY): the
//! shards take random numbers as plain `u64`s, and the coordinator draws them here.

use damselfly_runtime::clock;
use damselfly_shards::FixedHasher;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh random seed per command, from a per-thread sequence seeded once from the clock (no
/// clock read per command).
pub fn random_seed() -> u64 {
    thread_local!(static STATE: Cell<u64> = const { Cell::new(0) });
    STATE.with(|state| {
        let mut x = state.get();
        if x == 0 {
            static THREADS: AtomicU64 = AtomicU64::new(0);
            // Under the simulator the clock is virtual and the thread count is no part of the
            // run: seeding from the clock alone keeps replies the same in every replay.
            let n = if clock::is_simulated() {
                0
            } else {
                THREADS.fetch_add(1, Ordering::Relaxed)
            };
            x = FixedHasher::hash_u64(clock::wall_now_us() ^ n.rotate_left(32)) | 1;
        }
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(x);
        FixedHasher::hash_u64(x)
    })
}
