//! What clients may hold (Redis's names and defaults): each client's query buffer
//! (`client-query-buffer-limit`), its output buffer per class (`client-output-buffer-limit`,
//! hard and soft limits), and the memory of all clients together (`maxmemory-clients`, which
//! disconnects the largest client first).
//!
//! It also keeps how a connection batches its commands (`pipeline-squash`,
//! `multi-exec-squash`). All are read from the config into atomics whenever the config
//! changes, so the connection loop reads them without a lock.

use crate::config::{parse_memory, Config};
use damselfly_shards::CollectionLimits;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// The classes `client-output-buffer-limit` names, in the order CONFIG GET lists them.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ClientClass {
    Normal = 0,
    Replica = 1,
    Pubsub = 2,
}

/// One class's output limit: disconnect past `hard` bytes, or past `soft` bytes for
/// `soft_secs` seconds in a row. Zero disables a limit.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_secs: u64,
}

fn class_index(name: &str) -> Option<usize> {
    match name.to_ascii_lowercase().as_str() {
        "normal" => Some(0),
        "slave" | "replica" => Some(1),
        "pubsub" => Some(2),
        _ => None,
    }
}

/// Parses groups of `class hard soft seconds`; classes not named are `None`.
fn parse_groups(value: &str) -> Result<[Option<OutputLimit>; 3], String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut out = [None; 3];
    for g in words.chunks(4) {
        let class = class_index(g[0])
            .ok_or("Invalid client class specified in buffer limit configuration.")?;
        let hard = parse_memory(g[1]);
        let soft = parse_memory(g[2]);
        let secs = g[3].parse::<i64>().ok().filter(|s| *s >= 0);
        let (Some(hard), Some(soft), Some(secs)) = (hard, soft, secs) else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        };
        out[class] = Some(OutputLimit {
            hard: hard as u64,
            soft: soft as u64,
            soft_secs: secs as u64,
        });
    }
    Ok(out)
}

fn parse_full(value: &str) -> [OutputLimit; 3] {
    let groups = parse_groups(value).unwrap_or_default();
    let mut out = [OutputLimit::default(); 3];
    for (o, g) in out.iter_mut().zip(groups) {
        *o = g.unwrap_or_default();
    }
    out
}

/// The limits as the connection loop reads them, refreshed when the config changes.
/// The config parameters behind [`CollectionLimits`], in field order.
const COLLECTION_PARAMS: [&str; 11] = [
    "list-max-listpack-size",
    "list-compress-depth",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "set-max-intset-entries",
    "set-max-listpack-entries",
    "set-max-listpack-value",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "stream-node-max-bytes",
    "stream-node-max-entries",
];

pub struct ClientLimits {
    seen_generation: AtomicU64,
    /// The fields of [`CollectionLimits`], in `COLLECTION_PARAMS` order.
    collection: [AtomicI64; COLLECTION_PARAMS.len()],
    query_buffer_max: AtomicUsize,
    maxmemory_clients: AtomicUsize,
    output: [[AtomicU64; 3]; 3],
    /// Bytes held by every client's buffers together.
    pub total_mem: AtomicUsize,
    /// Per proactor, while over `maxmemory-clients`: its largest client's memory.
    largest: Vec<AtomicUsize>,
    pipeline_squash: AtomicUsize,
    multi_exec_squash: AtomicBool,
    /// `notify-keyspace-events` as class bits (see `notify::class`).
    notify_flags: AtomicU32,
    /// `slowlog-log-slower-than` (µs, -1 = off) and `slowlog-max-len`.
    slowlog_slower_than: AtomicI64,
    slowlog_max_len: AtomicUsize,
    /// `latency-monitor-threshold` in ms (0 = off).
    latency_threshold_ms: AtomicU64,
    latency_tracking: std::sync::atomic::AtomicBool,
    bulk_len_max: AtomicUsize,
    maxmemory: AtomicUsize,
    /// Per proactor: the bytes its shard holds, published on the heartbeat.
    shard_bytes: Vec<AtomicUsize>,
    /// Bytes the allocator holds beyond the shards' and clients' own accounting (eviction.rs).
    pub alloc_overhead: AtomicUsize,
    /// The `lazyfree-lazy-*` parameters as `crate::lazyfree` flag bits.
    lazyfree: AtomicU32,
    /// A policy evicts (not noeviction), as of the last refresh.
    evicting: AtomicBool,
}

impl ClientLimits {
    pub fn new(proactors: usize) -> ClientLimits {
        ClientLimits {
            seen_generation: AtomicU64::new(u64::MAX),
            collection: Default::default(),
            query_buffer_max: AtomicUsize::new(0),
            maxmemory_clients: AtomicUsize::new(0),
            output: Default::default(),
            total_mem: AtomicUsize::new(0),
            largest: (0..proactors).map(|_| AtomicUsize::new(0)).collect(),
            pipeline_squash: AtomicUsize::new(0),
            multi_exec_squash: AtomicBool::new(false),
            notify_flags: AtomicU32::new(0),
            slowlog_slower_than: AtomicI64::new(-1),
            slowlog_max_len: AtomicUsize::new(0),
            latency_threshold_ms: AtomicU64::new(0),
            latency_tracking: Default::default(),
            bulk_len_max: AtomicUsize::new(0),
            maxmemory: AtomicUsize::new(0),
            shard_bytes: (0..proactors).map(|_| AtomicUsize::new(0)).collect(),
            alloc_overhead: AtomicUsize::new(0),
            lazyfree: AtomicU32::new(0),
            evicting: AtomicBool::new(false),
        }
    }

    /// Re-reads the limits if the config changed since the last call (one atomic load when not).
    pub fn refresh(&self, config: &Config) {
        let generation = config.generation();
        if self.seen_generation.load(Ordering::Acquire) == generation {
            return;
        }
        let int = |name: &str| config.get_int(name).max(0) as usize;
        self.query_buffer_max
            .store(int("client-query-buffer-limit"), Ordering::Relaxed);
        let mm = config.get("maxmemory-clients").unwrap_or_default();
        let bytes = match mm.strip_suffix('%') {
            Some(p) => int("maxmemory") / 100 * p.parse::<usize>().unwrap_or(0),
            None => mm.parse().unwrap_or(0),
        };
        self.maxmemory_clients.store(bytes, Ordering::Relaxed);
        let limits = parse_full(&config.get("client-output-buffer-limit").unwrap_or_default());
        for (slot, l) in self.output.iter().zip(limits) {
            slot[0].store(l.hard, Ordering::Relaxed);
            slot[1].store(l.soft, Ordering::Relaxed);
            slot[2].store(l.soft_secs, Ordering::Relaxed);
        }
        self.pipeline_squash
            .store(int("pipeline-squash"), Ordering::Relaxed);
        self.bulk_len_max
            .store(int("proto-max-bulk-len"), Ordering::Relaxed);
        self.maxmemory.store(int("maxmemory"), Ordering::Relaxed);
        self.slowlog_slower_than
            .store(config.get_int("slowlog-log-slower-than"), Ordering::Relaxed);
        self.slowlog_max_len
            .store(int("slowlog-max-len"), Ordering::Relaxed);
        self.latency_threshold_ms
            .store(int("latency-monitor-threshold") as u64, Ordering::Relaxed);
        let tracking = config.get("latency-tracking").as_deref() == Some("yes");
        self.latency_tracking.store(tracking, Ordering::Relaxed);
        self.notify_flags.store(
            crate::notify::parse_flags(&config.get("notify-keyspace-events").unwrap_or_default()),
            Ordering::Relaxed,
        );
        self.multi_exec_squash.store(
            config.get("multi-exec-squash").as_deref() == Some("yes"),
            Ordering::Relaxed,
        );
        self.lazyfree
            .store(crate::lazyfree::parse_flags(config), Ordering::Relaxed);
        self.evicting.store(
            crate::eviction::policy_of(config).is_some(),
            Ordering::Relaxed,
        );
        for (slot, name) in self.collection.iter().zip(COLLECTION_PARAMS) {
            slot.store(config.get_int(name), Ordering::Relaxed);
        }
        self.seen_generation.store(generation, Ordering::Release);
    }

    /// The collection encoding thresholds as of the last [`ClientLimits::refresh`].
    pub fn collection_limits(&self) -> CollectionLimits {
        let v = |i: usize| self.collection[i].load(Ordering::Relaxed);
        let n = |i: usize| v(i).max(0) as usize;
        CollectionLimits {
            list_max_listpack_size: v(0),
            list_compress_depth: n(1),
            hash_max_listpack_entries: n(2),
            hash_max_listpack_value: n(3),
            set_max_intset_entries: n(4),
            set_max_listpack_entries: n(5),
            set_max_listpack_value: n(6),
            zset_max_listpack_entries: n(7),
            zset_max_listpack_value: n(8),
            stream_node_max_bytes: n(9),
            stream_node_max_entries: n(10),
        }
    }

    pub fn query_buffer_max(&self) -> usize {
        self.query_buffer_max.load(Ordering::Relaxed)
    }

    /// Pipelines of at least this many commands are squashed; 0: never.
    pub fn pipeline_squash(&self) -> usize {
        self.pipeline_squash.load(Ordering::Relaxed)
    }

    /// `proto-max-bulk-len`: the longest string a command may build (APPEND, SETRANGE).
    pub fn bulk_len_max(&self) -> usize {
        self.bulk_len_max.load(Ordering::Relaxed)
    }

    /// The slow log's threshold in µs (negative: off) and length.
    pub fn slowlog(&self) -> (i64, usize) {
        (
            self.slowlog_slower_than.load(Ordering::Relaxed),
            self.slowlog_max_len.load(Ordering::Relaxed),
        )
    }

    /// `latency-monitor-threshold` in ms: events at least this slow are recorded (0: none).
    pub fn latency_threshold_ms(&self) -> u64 {
        self.latency_threshold_ms.load(Ordering::Relaxed)
    }

    /// `latency-tracking`: whether calls are counted in the per-command histograms.
    pub fn latency_tracking(&self) -> bool {
        self.latency_tracking.load(Ordering::Relaxed)
    }

    /// Keyspace event classes enabled (as of the last `refresh`).
    pub fn notify_flags(&self) -> u32 {
        self.notify_flags.load(Ordering::Relaxed)
    }

    /// The `lazyfree-lazy-*` parameters (`crate::lazyfree` flag bits).
    pub fn lazyfree_flags(&self) -> u32 {
        self.lazyfree.load(Ordering::Relaxed)
    }

    pub fn multi_exec_squash(&self) -> bool {
        self.multi_exec_squash.load(Ordering::Relaxed)
    }

    pub fn maxmemory_clients(&self) -> usize {
        self.maxmemory_clients.load(Ordering::Relaxed)
    }

    pub fn output(&self, class: ClientClass) -> OutputLimit {
        let s = &self.output[class as usize];
        OutputLimit {
            hard: s[0].load(Ordering::Relaxed),
            soft: s[1].load(Ordering::Relaxed),
            soft_secs: s[2].load(Ordering::Relaxed),
        }
    }

    /// Proactor `me`'s shard now holds `bytes` (the heartbeat publishes it).
    pub fn publish_shard_bytes(&self, me: usize, bytes: usize) {
        if let Some(slot) = self.shard_bytes.get(me) {
            slot.store(bytes, Ordering::Relaxed);
        }
    }

    /// `maxmemory-policy` (or cache mode) evicts, as of the last refresh.
    pub fn evicting(&self) -> bool {
        self.evicting.load(Ordering::Relaxed)
    }

    /// Data, clients and allocator overhead exceed `maxmemory` by more than `slack` bytes.
    pub fn over_maxmemory_by(&self, slack: usize) -> bool {
        let max = self.maxmemory.load(Ordering::Relaxed);
        max > 0
            && self.accounted_bytes() + self.alloc_overhead.load(Ordering::Relaxed) > max + slack
    }

    /// `maxmemory` as of the last refresh.
    pub fn maxmemory(&self) -> usize {
        self.maxmemory.load(Ordering::Relaxed)
    }

    pub fn has_maxmemory(&self) -> bool {
        self.maxmemory.load(Ordering::Relaxed) > 0
    }

    /// True when `maxmemory` is set and the data and client buffers together exceed it: write
    /// commands are then refused with Redis's OOM error (the noeviction policy).
    pub fn over_maxmemory(&self) -> bool {
        let max = self.maxmemory.load(Ordering::Relaxed);
        if max == 0 {
            return false;
        }
        let data: usize = self
            .shard_bytes
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .sum();
        data + self.total_mem.load(Ordering::Relaxed) + self.alloc_overhead.load(Ordering::Relaxed)
            > max
    }

    /// The shards' published bytes and the clients' buffers.
    pub fn accounted_bytes(&self) -> usize {
        let data: usize = self
            .shard_bytes
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .sum();
        data + self.total_mem.load(Ordering::Relaxed)
    }

    /// A client's buffers changed from `old` to `new` bytes.
    pub fn account(&self, old: usize, new: usize) {
        if new > old {
            self.total_mem.fetch_add(new - old, Ordering::Relaxed);
        } else if old > new {
            self.total_mem.fetch_sub(old - new, Ordering::Relaxed);
        }
    }

    /// True when all clients together hold more than `maxmemory-clients`.
    pub fn over_total(&self) -> bool {
        let max = self.maxmemory_clients();
        max > 0 && self.total_mem.load(Ordering::Relaxed) > max
    }

    /// A client of proactor `me` now holds `mem` bytes: raises `me`'s published largest at
    /// once, so no other proactor evicts a smaller client before `me`'s next heartbeat.
    pub fn note_client(&self, me: usize, mem: usize) {
        if let Some(slot) = self.largest.get(me) {
            slot.fetch_max(mem, Ordering::Relaxed);
        }
    }

    /// Publishes proactor `me`'s largest client (0: none, or not over the limit) and returns
    /// whether it is the largest of all, so `me` should evict it. Ties go to the lower index.
    pub fn is_largest(&self, me: usize, mem: usize) -> bool {
        self.largest[me].store(mem, Ordering::Relaxed);
        mem > 0
            && self.largest.iter().enumerate().all(|(i, m)| {
                let m = m.load(Ordering::Relaxed);
                i == me || m < mem || (m == mem && me < i)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_limits_read_from_the_config_text() {
        let l = parse_full("normal 1048576 524288 10 slave 1 2 3 pubsub 33554432 8388608 60");
        assert_eq!(
            l[0],
            OutputLimit {
                hard: 1 << 20,
                soft: 1 << 19,
                soft_secs: 10
            }
        );
        assert_eq!(l[1].soft_secs, 3);
        assert_eq!(parse_full("")[2], OutputLimit::default());
    }

    #[test]
    fn the_largest_client_is_evicted_first() {
        let l = ClientLimits::new(3);
        assert!(l.is_largest(1, 30));
        assert!(!l.is_largest(0, 10));
        assert!(!l.is_largest(2, 30), "a tie goes to the lower index");
        assert!(l.is_largest(1, 30));
        assert!(!l.is_largest(1, 0));
    }
}
