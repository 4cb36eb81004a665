//! `maxmemory` with an evicting `maxmemory-policy`: each shard may hold its share of the
//! limit (what the clients' buffers leave, divided by the shards) and evicts down to it —
//! on insert, inside the shard (`db_slice/evict.rs`), and on the heartbeat for what inserts
//! leave (values that grew). Only when memory runs ahead of that (a limit just lowered) does
//! a command over the limit step every shard first. Shards publish their memory, evictions
//! and stuck flag after every job while `maxmemory` is set, so the check before a command
//! sees the writes before it. A shard whose policy finds nothing to evict (a volatile policy
//! and no keys with a deadline) reports itself stuck: writes are then refused with Redis's
//! OOM error.

use crate::server::{ProactorState, ServerState};
use damselfly_runtime::clock;
use damselfly_shards::db_slice::ClockSettings;
use damselfly_shards::{DbSlice, EvictionPolicy};
use std::sync::atomic::{AtomicU64, Ordering};

/// Keys one shard evicts per step at most (a step runs between commands).
const STEP_KEYS: usize = 1024;

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

/// The policy that evicts: the cache's with `cache_mode` on, else what `maxmemory-policy`
/// names; None for noeviction.
pub fn policy(server: &ServerState) -> Option<EvictionPolicy> {
    policy_of(&server.config)
}

/// [`policy`] from the config alone.
pub fn policy_of(config: &crate::config::Config) -> Option<EvictionPolicy> {
    if config.get("cache-mode").as_deref() == Some("yes") {
        return Some(EvictionPolicy::Cache);
    }
    EvictionPolicy::parse(&config.get("maxmemory-policy").unwrap_or_default())
}

/// What the per-key access clock counts (`maxmemory-policy`, `lfu-log-factor`,
/// `lfu-decay-time`), whether or not `maxmemory` is set, as in Redis.
pub fn clock_settings(server: &ServerState) -> ClockSettings {
    ClockSettings {
        lfu: policy(server).is_some_and(EvictionPolicy::is_lfu),
        log_factor: server
            .config
            .get_int("lfu-log-factor")
            .clamp(0, u32::MAX as i64) as u32,
        decay_minutes: server
            .config
            .get_int("lfu-decay-time")
            .clamp(0, u32::MAX as i64) as u32,
    }
}

/// Applies the current limits and clock settings to this shard's slice.
fn configure(server: &ServerState, slice: &mut DbSlice) {
    slice.set_clock_settings(clock_settings(server));
    let maxmemory = server.config.get_int("maxmemory").max(0) as usize;
    let limits = &server.client_limits;
    let clients = limits.total_mem.load(Ordering::Relaxed);
    // What the allocator holds beyond the accounting (size-class rounding, allocations outside
    // the tables) counts too, so used_memory, not only the accounted bytes, stays at the limit.
    let overhead = limits.alloc_overhead.load(Ordering::Relaxed);
    let budget = maxmemory.saturating_sub(clients + overhead) / server.shards.max(1);
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
    publish_evictions(server, shard.index, &slice);
    let bytes = slice.bytes_used();
    TABLES.set(bytes.saturating_sub(slice.heap_bytes()));
    drop(slice);
    server.client_limits.publish_shard_bytes(shard.index, bytes);
    if shard.index == 0 {
        measure_overhead(server);
    }
}

/// Refreshes the allocator's bytes beyond the accounting (one sum of per-thread counters,
/// on the first shard's steps). Zero when the allocator does not count (an embedding program).
fn measure_overhead(server: &ServerState) {
    let limits = &server.client_limits;
    let overhead = crate::alloc_count::allocated_bytes().map_or(0, |allocated| {
        allocated.saturating_sub(limits.accounted_bytes())
    });
    limits.alloc_overhead.store(overhead, Ordering::Relaxed);
}

thread_local! {
    /// This proactor's shard's table bytes at its last full measurement: between them only
    /// the heap bytes (cheap to sum) are re-read.
    static TABLES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Over `maxmemory`, before a command: false when the command must be refused if it may
/// grow memory (noeviction, or nothing left to evict). Inserts evict on their shards; only
/// memory more than a 32nd over the limit (a limit just lowered, values that grew between
/// heartbeats) makes every shard step first.
pub fn make_room(server: &ServerState) -> bool {
    let limits = &server.client_limits;
    limits.refresh(&server.config);
    if !limits.evicting() {
        return false;
    }
    if limits.over_maxmemory_by(limits.maxmemory() / 32) {
        crate::tx::on_all_shards(&|_| step(server));
    }
    !(limits.over_maxmemory() && server.eviction.any_stuck())
}

/// After a job ran on this proactor's shard: with `maxmemory` set, publishes the shard's
/// memory, evictions and stuck flag so the next command anywhere sees them (not only the
/// next heartbeat).
pub fn after_job() {
    let ps = ProactorState::current();
    if !ps.server.client_limits.has_maxmemory() {
        return;
    }
    let slice = ps.shard.db.borrow();
    let bytes = slice.heap_bytes() + TABLES.get();
    publish_evictions(&ps.server, ps.shard.index, &slice);
    drop(slice);
    ps.server
        .client_limits
        .publish_shard_bytes(ps.shard.index, bytes);
}

fn publish_evictions(server: &ServerState, shard: usize, slice: &DbSlice) {
    let stats = &server.eviction;
    if let Some(slot) = stats.evicted.get(shard) {
        slot.store(slice.evicted_keys(), Ordering::Relaxed);
    }
    if let Some(slot) = stats.stuck.get(shard) {
        slot.store(slice.eviction_stuck(), Ordering::Relaxed);
    }
}
