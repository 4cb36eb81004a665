//! Squashing: a run of consecutive commands that each touch one shard is grouped per shard
//! and sent as one hop per shard, the shards running their groups in parallel; the replies are
//! stitched back in the client's order (DESIGN.md §4).
//!
//! Used for pipelines (commands parsed from one read, `--pipeline_squash` or more of them) and
//! inside EXEC (`--multi_exec_squash`). On its shard, each command runs its own `cmd_*` code
//! with the executor in on-shard mode, one after the other, inside a hop that holds the locks
//! of every key of the group: each command stays atomic, as it is when it runs alone.

use crate::args::Args;
use crate::conn;
use crate::ctx::{ConnState, Found};
use crate::exec::Exec;
use crate::prefetch;
use crate::registry::{flags::WRITE, CommandSpec, Registry};
use crate::server::{ProactorState, ServerState};
use crate::shard::{key_hash, shard_of, ShardLocks};
use crate::tx::{self, locks::LockMode, Transaction};
use damselfly_runtime::clock;

/// Commands whose shard-side work is a single hop to the shard of their keys (or runs in
/// place through the executor): only these are squashed.
const SQUASHABLE: &[&str] = &[
    "get",
    "set",
    "setnx",
    "setex",
    "psetex",
    "getset",
    "getdel",
    "getex",
    "mget",
    "mset",
    "incr",
    "decr",
    "incrby",
    "decrby",
    "incrbyfloat",
    "append",
    "strlen",
    "getrange",
    "substr",
    "setrange",
    "del",
    "unlink",
    "exists",
    "touch",
    "type",
    "ttl",
    "pttl",
    "expire",
    "pexpire",
    "expireat",
    "pexpireat",
    "expiretime",
    "pexpiretime",
    "persist",
    "getbit",
    "setbit",
    "bitcount",
    "bitpos",
    "bitfield",
    "bitfield_ro",
    // Collections: single-key commands (and two-key moves whose keys share a shard).
    "lpush",
    "rpush",
    "lpushx",
    "rpushx",
    "lpop",
    "rpop",
    "llen",
    "lrange",
    "lindex",
    "lset",
    "linsert",
    "lrem",
    "ltrim",
    "lpos",
    "lmove",
    "rpoplpush",
    "sadd",
    "srem",
    "scard",
    "sismember",
    "smismember",
    "smembers",
    "spop",
    "srandmember",
    "smove",
    "hset",
    "hsetnx",
    "hmset",
    "hget",
    "hmget",
    "hgetall",
    "hdel",
    "hlen",
    "hstrlen",
    "hexists",
    "hkeys",
    "hvals",
    "hincrby",
    "hincrbyfloat",
    "hrandfield",
    "zadd",
    "zincrby",
    "zrem",
    "zcard",
    "zcount",
    "zlexcount",
    "zscore",
    "zmscore",
    "zrank",
    "zrevrank",
    "zrange",
    "zrangebyscore",
    "zrevrangebyscore",
    "zrangebylex",
    "zrevrangebylex",
    "zrevrange",
    "zremrangebyrank",
    "zremrangebyscore",
    "zremrangebylex",
    "zpopmin",
    "zpopmax",
    "zrandmember",
];

/// A command of a squashed run.
pub struct Squashed<'a> {
    pub args: Args<'a>,
    pub found: (usize, &'static CommandSpec),
    pub shard: usize,
}

/// Whether the command at registry `index` is squashable: a table built once, so the hot
/// path does no name comparison.
pub fn squashable(index: usize) -> bool {
    static TABLE: std::sync::OnceLock<Vec<bool>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        Registry::get()
            .commands()
            .iter()
            .map(|c| SQUASHABLE.contains(&c.name))
            .collect()
    });
    table.get(index).copied().unwrap_or(false)
}

/// The one shard `args` touches, if the command (registry entry `found`) may be squashed.
fn shard_of_command(
    (index, spec): (usize, &CommandSpec),
    args: &Args<'_>,
    shards: usize,
) -> Option<usize> {
    if !squashable(index) {
        return None;
    }
    let mut shard = None;
    for i in spec.key_indices(args.len()) {
        let s = shard_of(key_hash(args.get(i)), shards);
        match shard {
            None => shard = Some(s),
            Some(t) if t != s => return None,
            Some(_) => {}
        }
    }
    shard
}

/// The longest run of commands at the start of `cmds` that may be squashed: known, of the
/// right arity, each touching one shard.
pub fn squashable_run<'a>(
    shards: usize,
    cmds: impl Iterator<Item = (Args<'a>, Found)>,
) -> Vec<Squashed<'a>> {
    let mut run = Vec::new();
    for (args, found) in cmds {
        let Some(found) = found else {
            break;
        };
        if !found.1.arity_ok(args.len()) {
            break;
        }
        let Some(shard) = shard_of_command(found, &args, shards) else {
            break;
        };
        run.push(Squashed { args, found, shard });
    }
    run
}

/// Where a squashed run's hops go: on their own (a pipeline) or inside EXEC's transaction.
pub enum Hops<'t> {
    Now,
    In(&'t mut Transaction),
    /// Inside EXEC's transaction, as its last hop: shards whose part ends here conclude.
    Last(&'t mut Transaction),
}

/// Runs `cmds` grouped per shard and appends their replies to `out` in order.
pub fn run(
    server: &ServerState,
    conn: &ConnState,
    cmds: &[Squashed<'_>],
    out: &mut Vec<u8>,
    hops: Hops<'_>,
) {
    let mut shards: Vec<usize> = Vec::new();
    let mut locks: Vec<ShardLocks> = Vec::new();
    for c in cmds {
        let g = match shards.iter().position(|s| *s == c.shard) {
            Some(g) => g,
            None => {
                shards.push(c.shard);
                locks.push(ShardLocks::default());
                shards.len() - 1
            }
        };
        let (_, spec) = c.found;
        let mode = if spec.has(WRITE) {
            LockMode::Exclusive
        } else {
            LockMode::Shared
        };
        locks[g].keys.extend(
            spec.key_indices(c.args.len())
                .map(|i| (key_hash(c.args.get(i)), mode)),
        );
    }
    let (db, resp, id) = (conn.db, conn.resp, conn.id);
    let home_state = ProactorState::current();
    let (now_ms, home) = (home_state.batch_now_ms.get(), home_state.shard.index);
    let group = |shard: &crate::shard::Shard| {
        let ps = ProactorState::current();
        // The shard's commands see the client's batch time, as they would on its thread.
        let their_now = ps.batch_now_ms.replace(now_ms);
        let mine = || cmds.iter().filter(|c| c.shard == shard.index);
        // The client's own shard was warmed with its batch; the others are cold here.
        if shard.index != home {
            let keys =
                mine().flat_map(|c| c.found.1.key_indices(c.args.len()).map(|i| c.args.get(i)));
            prefetch::warm_keys(shard, db, keys);
        }
        let mut stub = ConnState::stub(id, db, resp, ps.squash_info.clone());
        let mut replies = Vec::new();
        let mut ends = Vec::new();
        // One clock read per command: each one's end is the next one's start.
        let mut tick = clock::now();
        for c in mine() {
            tick = conn::run_command(
                server,
                &mut stub,
                &c.args,
                &mut replies,
                c.found,
                Exec::on_shard(),
                tick,
            );
            ends.push(replies.len());
        }
        ps.batch_now_ms.set(their_now);
        (replies, ends)
    };
    let results = match hops {
        Hops::Now => tx::on_shards_locked(&shards, &locks, &group),
        Hops::In(t) => t.execute(&shards, false, &group),
        Hops::Last(t) => t.execute(&shards, true, &group),
    };
    // Stitch: each command's reply is the next one of its shard's group.
    let mut cursor: Vec<(usize, usize)> = vec![(0, 0); shards.len()];
    for c in cmds {
        let g = shards.iter().position(|s| *s == c.shard).expect("grouped");
        let (replies, ends) = &results[g];
        let (k, start) = cursor[g];
        out.extend_from_slice(&replies[start..ends[k]]);
        cursor[g] = (k + 1, ends[k]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_squashable_name_is_a_registered_command() {
        let registry = Registry::get();
        for name in SQUASHABLE {
            let (index, _) = registry
                .lookup(name.as_bytes())
                .unwrap_or_else(|| panic!("{name} is not registered"));
            assert!(squashable(index), "{name}");
        }
        let (ping, _) = registry.lookup(b"ping").expect("ping");
        assert!(!squashable(ping));
    }
}
