//! damselfly-coordinator: what turns the runtime and the store into a Redis server.
//!
//! - `shard`: the shard each proactor owns (databases, intent locks, transaction queue).
//! - `exec`: the executor every command reaches its shards through (own hops, or inside EXEC).
//! - `squash`: runs of single-shard commands grouped into one hop per shard.
//! - `tx`: hops and VLL transactions (single-key fast path, single-shard hop, multi-shard
//!   schedule/execute/conclude, global transactions).
//! - `registry`: the command table (name, arity, flags, ACL categories, key spec, handler).
//! - `conn`: connection fibers (read, parse every complete command, execute, one send per
//!   batch of replies) and per-connection state.
//! - `families/`: one file per command family, each with its registration table.
//! - `acl`: users, AUTH and the permission check every command passes.
//! - `error`: typed errors rendered to Redis's exact strings in one place.
//! - `server`: the shared server state (config, clients, stats) and start/stop.
//! - `snapshot`, `snapshot_file`, `snapshot_load`: point-in-time snapshots without fork (the
//!   cut, the per-shard walk and hooks, the RDB writer), and loading RDB files.

pub mod acl;
pub mod alloc_count;
pub mod args;
pub mod blocking;
pub mod client_limits;
pub mod config;
pub mod config_rewrite;
pub mod conn;
pub mod ctx;
pub mod error;
pub mod eviction;
pub mod exec;
pub mod families;
pub mod key_specs;
pub mod keys;
pub mod latency;
pub mod lazyfree;
pub mod listener;
pub mod long_double;
pub mod memcache_auth;
pub mod memcache_conn;
pub mod memcache_conns;
pub mod memcache_reply;
pub mod metrics;
pub mod monitor;
pub mod notify;
pub mod pause;
pub mod prefetch;
pub mod pubsub;
pub mod push;
pub mod querybuf;
pub mod random;
pub mod registry;
pub mod script_host;
pub mod scripting;
pub mod server;
pub mod shard;
pub mod slowlog;
pub mod snapshot;
pub mod snapshot_buf;
pub mod snapshot_crypt;
pub mod snapshot_dfs;
pub mod snapshot_file;
pub mod snapshot_load;
pub mod squash;
pub mod tls;
pub mod tracking;
pub mod tx;

/// The Redis version Damselfly reports (HELLO, INFO): the command set it follows.
pub const REDIS_VERSION: &str = "7.2.0";
/// Damselfly's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
