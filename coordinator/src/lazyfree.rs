//! Lazy freeing as the commands and the heartbeat see it (the shard's side is in
//! shards/src/db_slice/lazyfree.rs): the `lazyfree-lazy-*` parameters, UNLINK and DEL,
//! FLUSHDB/FLUSHALL ASYNC|SYNC, and the step that frees queued values on each shard's
//! heartbeat.

use crate::args::Args;
use crate::config::Config;
use crate::error::{CmdError, OpResult};
use crate::server::ServerState;
use damselfly_shards::{DbSlice, LazyFreeSettings};

/// `lazyfree-lazy-user-del`: DEL frees like UNLINK.
pub const USER_DEL: u32 = 1;
/// `lazyfree-lazy-user-flush`: FLUSHDB/FLUSHALL without an argument are ASYNC.
pub const USER_FLUSH: u32 = 1 << 1;
/// `lazyfree-lazy-expire`, `lazyfree-lazy-eviction`, `lazyfree-lazy-server-del`.
pub const EXPIRE: u32 = 1 << 2;
pub const EVICTION: u32 = 1 << 3;
pub const SERVER_DEL: u32 = 1 << 4;

const PARAMS: [(&str, u32); 5] = [
    ("lazyfree-lazy-user-del", USER_DEL),
    ("lazyfree-lazy-user-flush", USER_FLUSH),
    ("lazyfree-lazy-expire", EXPIRE),
    ("lazyfree-lazy-eviction", EVICTION),
    ("lazyfree-lazy-server-del", SERVER_DEL),
];

/// The parameters as flag bits (read when the config changes, see `ClientLimits`).
pub fn parse_flags(config: &Config) -> u32 {
    PARAMS
        .iter()
        .filter(|(name, _)| config.get(name).as_deref() == Some("yes"))
        .fold(0, |f, (_, bit)| f | bit)
}

fn flags(server: &ServerState) -> u32 {
    server.client_limits.refresh(&server.config);
    server.client_limits.lazyfree_flags()
}

/// Whether DEL frees lazily.
pub fn user_del(server: &ServerState) -> bool {
    flags(server) & USER_DEL != 0
}

/// FLUSHDB/FLUSHALL's optional ASYNC or SYNC: whether the flush frees lazily (without an
/// argument, as `lazyfree-lazy-user-flush` says).
pub fn flush_is_async(server: &ServerState, args: &Args<'_>) -> OpResult<bool> {
    let eq = |a: &[u8], b: &str| a.eq_ignore_ascii_case(b.as_bytes());
    match args.len() {
        1 => Ok(flags(server) & USER_FLUSH != 0),
        2 if eq(args.get(1), "async") => Ok(true),
        2 if eq(args.get(1), "sync") => Ok(false),
        _ => Err(CmdError::Syntax),
    }
}

/// Applies the parameters the slice acts on by itself (expiry, eviction, overwrites).
fn apply(server: &ServerState, slice: &mut DbSlice) {
    let f = flags(server);
    let settings = LazyFreeSettings {
        expire: f & EXPIRE != 0,
        eviction: f & EVICTION != 0,
        server_del: f & SERVER_DEL != 0,
    };
    if slice.lazyfree_settings() != settings {
        slice.set_lazyfree_settings(settings);
    }
}

/// CONFIG SET changed a `lazyfree-lazy-*` parameter: every shard applies it before the
/// command answers (the heartbeat would only a tick later).
pub fn config_changed(server: &ServerState, exec: &mut crate::exec::Exec<'_>) {
    exec.on_all_shards(&|s| apply(server, &mut s.db.borrow_mut()));
}

/// Whether CONFIG SET of `name` needs [`config_changed`].
pub fn is_param(name: &str) -> bool {
    PARAMS.iter().any(|(p, _)| *p == name)
}

/// The heartbeat's step on the calling proactor's shard: applies the parameters and frees a
/// bounded amount of what waits.
pub fn step(server: &ServerState, slice: &mut DbSlice) {
    apply(server, slice);
    if slice.lazyfree_pending_objects() > 0 {
        slice.lazyfree_step();
    }
}
