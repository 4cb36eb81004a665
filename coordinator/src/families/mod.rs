//! Command families: one file per family, each ending with its registration table. Shard-side
//! `op_*` functions run on the shard that owns the key; `cmd_*` functions parse, hop, merge and
//! reply.

use crate::registry::CommandSpec;

pub mod acl_family;
pub mod bitmap_family;
pub mod blocking_family;
pub mod connection_family;
pub mod dump_family;
pub mod function_family;
pub mod geo_family;
pub mod geo_search;
pub mod geo_sort;
pub mod hash_family;
pub mod hash_random;
pub mod hll_family;
pub mod keyspace_family;
pub mod latency_family;
pub mod list_family;
pub mod list_ops;
pub mod memcache_family;
pub mod memcache_meta;
pub mod memcache_ops;
pub mod memcache_squash;
pub mod memcache_stats;
pub mod memory_family;
pub mod persistence_family;
pub mod pubsub_family;
pub mod scripting_family;
pub mod server_family;
pub mod set_algebra;
pub mod set_family;
pub mod slowlog_family;
pub mod sort_family;
pub mod stream_family;
pub mod stream_groups;
pub mod stream_info;
pub mod stream_read;
pub mod string_family;
pub mod tracking_family;
pub mod transaction_family;
pub mod typed;
pub mod zset_algebra;
pub mod zset_family;
pub mod zset_pops;
pub mod zset_range;

/// Every family's registration function.
pub const ALL: &[fn() -> Vec<CommandSpec>] = &[
    acl_family::commands,
    bitmap_family::commands,
    blocking_family::commands,
    connection_family::commands,
    dump_family::commands,
    function_family::commands,
    geo_family::commands,
    hash_family::commands,
    hll_family::commands,
    keyspace_family::commands,
    latency_family::commands,
    list_family::commands,
    memory_family::commands,
    persistence_family::commands,
    pubsub_family::commands,
    scripting_family::commands,
    server_family::commands,
    set_family::commands,
    slowlog_family::commands,
    sort_family::commands,
    stream_family::commands,
    string_family::commands,
    transaction_family::commands,
    zset_family::commands,
];
