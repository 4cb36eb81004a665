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
use std::cell::{RefCell, UnsafeCell};

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
    /// `key_hash` of its first key (its lock), so the run hashes a key once.
    pub first_hash: u64,
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

/// The one shard `args` touches and its first key's hash, if the command (registry entry
/// `found`) may be squashed.
fn shard_of_command(
    (index, spec): (usize, &CommandSpec),
    args: &Args<'_>,
    shards: usize,
) -> Option<(usize, u64)> {
    if !squashable(index) {
        return None;
    }
    let mut first: Option<(usize, u64)> = None;
    for i in spec.key_indices(args.len()) {
        let h = key_hash(args.get(i));
        let s = shard_of(h, shards);
        match first {
            None => first = Some((s, h)),
            Some((t, _)) if t != s => return None,
            Some(_) => {}
        }
    }
    first
}

/// The longest run of commands at the start of `cmds` that may be squashed: known, of the
/// right arity, each touching one shard.
pub fn squashable_run<'a>(
    shards: usize,
    cmds: impl Iterator<Item = (Args<'a>, Found)>,
) -> Vec<Squashed<'a>> {
    let mut run = RUNS
        .with(|r| r.borrow_mut().pop())
        .map_or_else(Vec::new, relabel);
    for (args, found) in cmds {
        let Some(found) = found else {
            break;
        };
        if !found.1.arity_ok(args.len()) {
            break;
        }
        let Some((shard, first_hash)) = shard_of_command(found, &args, shards) else {
            break;
        };
        run.push(Squashed {
            args,
            found,
            shard,
            first_hash,
        });
    }
    run
}

thread_local! {
    /// Emptied run vectors, kept so that finding a run allocates nothing once warm.
    static RUNS: RefCell<Vec<Vec<Squashed<'static>>>> = const { RefCell::new(Vec::new()) };
}

/// An empty vector with another lifetime, keeping its allocation (collecting an empty
/// `into_iter().map()` into a vector of a same-sized type reuses the buffer in place).
fn relabel<'a, 'b>(mut v: Vec<Squashed<'a>>) -> Vec<Squashed<'b>> {
    v.clear();
    v.into_iter().map(|_| unreachable!("emptied")).collect()
}

/// Gives a run's vector back for the next [`squashable_run`] on this thread.
pub fn recycle(run: Vec<Squashed<'_>>) {
    if run.capacity() == 0 || run.capacity() > 1024 {
        return;
    }
    let run = relabel(run);
    RUNS.with(|r| {
        let mut r = r.borrow_mut();
        if r.len() < POOL_MAX {
            r.push(run);
        }
    });
}

/// Where a squashed run's hops go: on their own (a pipeline) or inside EXEC's transaction.
pub enum Hops<'t> {
    Now,
    In(&'t mut Transaction),
    /// Inside EXEC's transaction, as its last hop: shards whose part ends here conclude.
    Last(&'t mut Transaction),
}

/// The replies one shard's group wrote, and where each command's reply ends.
#[derive(Default)]
struct GroupOut {
    replies: Vec<u8>,
    ends: Vec<usize>,
}

/// A group's output slot, written by its shard's thread while the coordinator waits.
struct GroupSlot(UnsafeCell<GroupOut>);

// SAFETY: during a dispatch each slot is touched only by the one shard whose index sits at the
// same position in `Scratch::shards` (shards there are distinct), and by the coordinator only
// before the hops are sent and after every shard answered (ordered by the reply counter).
unsafe impl Sync for GroupSlot {}

/// Buffers of one squashed run, reused: no allocation per run once warm. A proactor keeps a
/// few, since a coordinator fiber parks while its hops run and another may squash meanwhile.
#[derive(Default)]
struct Scratch {
    shards: Vec<usize>,
    locks: Vec<ShardLocks>,
    groups: Vec<GroupSlot>,
    cursor: Vec<(usize, usize)>,
}

/// Reply buffers bigger than this (lock lists bigger than a sixteenth of it) are dropped
/// rather than kept for the next run: a huge run does not pin its memory in the pool.
const KEEP_MAX: usize = 64 * 1024;
/// Scratch sets a proactor keeps.
const POOL_MAX: usize = 16;

thread_local! {
    static POOL: RefCell<Vec<Scratch>> = const { RefCell::new(Vec::new()) };
}

impl Scratch {
    fn take() -> Scratch {
        POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default()
    }

    fn give_back(mut self) {
        self.shards.clear();
        for l in &mut self.locks {
            if l.keys.capacity() > KEEP_MAX / 16 {
                l.keys = Vec::new();
            }
            l.keys.clear();
            l.global = false;
        }
        for g in &mut self.groups {
            let g = g.0.get_mut();
            if g.replies.capacity() > KEEP_MAX {
                *g = GroupOut::default();
            }
            g.replies.clear();
            g.ends.clear();
        }
        self.cursor.clear();
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOL_MAX {
                p.push(self);
            }
        });
    }

    /// The group of `shard`, added if new.
    fn group_of(&mut self, shard: usize) -> usize {
        if let Some(g) = self.shards.iter().position(|s| *s == shard) {
            return g;
        }
        self.shards.push(shard);
        let g = self.shards.len() - 1;
        if self.locks.len() == g {
            self.locks.push(ShardLocks::default());
            self.groups
                .push(GroupSlot(UnsafeCell::new(GroupOut::default())));
        }
        g
    }
}

/// Runs `cmds` grouped per shard and appends their replies to `out` in order.
pub fn run(
    server: &ServerState,
    conn: &ConnState,
    cmds: &[Squashed<'_>],
    out: &mut Vec<u8>,
    hops: Hops<'_>,
) {
    let mut scratch = Scratch::take();
    for c in cmds {
        let g = scratch.group_of(c.shard);
        let (_, spec) = c.found;
        let mode = if spec.has(WRITE) {
            LockMode::Exclusive
        } else {
            LockMode::Shared
        };
        let keys = &mut scratch.locks[g].keys;
        let mut indices = spec.key_indices(c.args.len());
        if indices.next().is_some() {
            keys.push((c.first_hash, mode));
        }
        keys.extend(indices.map(|i| (key_hash(c.args.get(i)), mode)));
    }
    let n = scratch.shards.len();
    let (db, resp, id) = (conn.db, conn.resp, conn.id);
    let now_ms = ProactorState::current().batch_now_ms.get();
    let (shards, groups) = (&scratch.shards[..], &scratch.groups[..n]);
    let group = |shard: &crate::shard::Shard| {
        let ps = ProactorState::current();
        let g = shards
            .iter()
            .position(|s| *s == shard.index)
            .expect("a group per shard");
        // SAFETY: this shard is the only one with index `shards[g]` (see `GroupSlot`).
        let slot = unsafe { &mut *groups[g].0.get() };
        // The shard's commands see the client's batch time, as they would on its thread.
        let their_now = ps.batch_now_ms.replace(now_ms);
        let mine = || cmds.iter().filter(|c| c.shard == shard.index);
        let keys = mine().flat_map(|c| c.found.1.key_indices(c.args.len()).map(|i| c.args.get(i)));
        prefetch::warm_keys(shard, db, keys);
        let mut stub = ConnState::stub(id, db, resp, ps.squash_info.clone());
        // One clock read per command: each one's end is the next one's start.
        let mut tick = clock::now();
        for c in mine() {
            tick = conn::run_command(
                server,
                &mut stub,
                &c.args,
                &mut slot.replies,
                c.found,
                Exec::on_shard(),
                tick,
            );
            slot.ends.push(slot.replies.len());
        }
        ps.batch_now_ms.set(their_now);
    };
    let locks = &scratch.locks[..n];
    match hops {
        Hops::Now => {
            tx::on_shards_locked(shards, locks, &group);
        }
        Hops::In(t) => {
            t.execute(shards, false, &group);
        }
        Hops::Last(t) => {
            t.execute(shards, true, &group);
        }
    }
    // MONITOR lines leave from the client's proactor, in the client's order and with its
    // address (a monitor may have registered after the run was chosen).
    if !server.monitors.is_empty() {
        for c in cmds {
            if !c.found.1.has(crate::registry::flags::ADMIN) {
                crate::monitor::feed(server, db, Some(&conn.info.addr), &c.args);
            }
        }
    }
    // Stitch: each command's reply is the next one of its shard's group.
    scratch.cursor.resize(n, (0, 0));
    for c in cmds {
        let g = scratch
            .shards
            .iter()
            .position(|s| *s == c.shard)
            .expect("grouped");
        let GroupOut { replies, ends } = scratch.groups[g].0.get_mut();
        let (k, start) = scratch.cursor[g];
        out.extend_from_slice(&replies[start..ends[k]]);
        scratch.cursor[g] = (k + 1, ends[k]);
    }
    scratch.give_back();
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
