//! `maxmemory` with an evicting `maxmemory-policy`: each shard may hold its share of the
//! limit (what the clients' buffers leave, divided by the shards) and evicts down to it —
//! on the heartbeat, and before a command that may grow memory runs while the server is over
//! the limit. A shard whose policy finds nothing to evict (a volatile policy and no keys with
//! a deadline) reports itself stuck: writes are then refused with Redis's OOM error.

use crate::server::{ProactorState, ServerState};
use damselfly_runtime::clock;
use damselfly_shards::{DbSlice, EvictionPolicy};
use std::sync::atomic::{AtomicU64, Ordering};

/// Keys one shard evicts per step at most (a step runs between commands).
const STEP_KEYS: usize = 1024;
/// With `maxmemory` set, a proactor measures its shard after this many commands that may
/// grow memory (the heartbeat alone would let a fast writer overshoot by a tick's writes).
const MEASURE_EVERY: u32 = 32;

/// Per shard: keys evicted, and whether the last step was stuck.
#[derive(Default)]
pub struct EvictionStats {
    evicted: Vec<AtomicU64>,
    stuck: Vec<std::sync::atomic::AtomicBool>,
}

impl EvictionStats {
    pub fn new(shards: usize) -> EvictionStats {
        EvictionStats {
            evicted: (0..shards).map(|_| AtomicU64::new(0)).collect(),
            stuck: (0..shards).map(|_| Default::default()).collect(),
        }
    }

    /// Keys evicted by every shard (INFO `evicted_keys`).
    pub fn evicted_keys(&self) -> u64 {
        self.evicted.iter().map(|e| e.load(Ordering::Relaxed)).sum()
    }

    pub fn any_stuck(&self) -> bool {
        self.stuck.iter().any(|s| s.load(Ordering::Relaxed))
    }
}

/// The policy `maxmemory-policy` names; None for noeviction.
pub fn policy(server: &ServerState) -> Option<EvictionPolicy> {
    EvictionPolicy::parse(&server.config.get("maxmemory-policy").unwrap_or_default())
}

/// Applies the current limits to this shard's slice.
fn configure(server: &ServerState, slice: &mut DbSlice) {
    let maxmemory = server.config.get_int("maxmemory").max(0) as usize;
    let clients = server.client_limits.total_mem.load(Ordering::Relaxed);
    let budget = maxmemory.saturating_sub(clients) / server.shards.max(1);
    let samples = server.config.get_int("maxmemory-samples").max(1) as usize;
    let policy = if maxmemory > 0 { policy(server) } else { None };
    // A budget of 0 would turn eviction off: keep one byte so everything may go.
    slice.set_eviction(policy, budget.max(1), samples);
}

/// One bounded eviction step on the calling proactor's shard; publishes its memory.
pub fn step(server: &ServerState) {
    let shard = &ProactorState::current().shard;
    let mut slice = shard.db.borrow_mut();
    configure(server, &mut slice);
    slice.evict(clock::wall_now_ms(), STEP_KEYS);
    let stats = &server.eviction;
    if let Some(slot) = stats.evicted.get(shard.index) {
        slot.store(slice.evicted_keys(), Ordering::Relaxed);
    }
    if let Some(slot) = stats.stuck.get(shard.index) {
        slot.store(slice.eviction_stuck(), Ordering::Relaxed);
    }
    let bytes = slice.bytes_used();
    drop(slice);
    server.client_limits.publish_shard_bytes(shard.index, bytes);
}

/// Over `maxmemory`, before a command that may grow memory: evicts on every shard. False
/// when the command must be refused (noeviction, or nothing left to evict).
pub fn make_room(server: &ServerState) -> bool {
    if policy(server).is_none() {
        return false;
    }
    crate::tx::on_all_shards(&|_| step(server));
    !(server.client_limits.over_maxmemory() && server.eviction.any_stuck())
}

/// `n` commands that may grow memory ran (or are about to) on this proactor: measures the
/// local shard every [`MEASURE_EVERY`] of them, evicting when over. Costs nothing without
/// `maxmemory`.
pub fn note_growth(server: &ServerState, n: u32) {
    if !server.client_limits.has_maxmemory() {
        return;
    }
    let counter = &ProactorState::current().stats.grown_since_measure;
    let seen = counter.get() + n;
    if seen < MEASURE_EVERY {
        counter.set(seen);
        return;
    }
    counter.set(0);
    step(server);
}
