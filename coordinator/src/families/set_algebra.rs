//! Set algebra: SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE.
//!
//! When every key lives on one shard the whole command runs there in one hop, on the sets in
//! place. Otherwise it is one transaction over the keys' shards: each source shard sends its
//! sets' members, the coordinator computes, and (STORE) a last hop writes the destination on
//! its shard, or deletes it when the result is empty, as Redis does.
//!
//! Every source is type-checked before anything is computed (Redis 7.0 looks up all keys
//! first): one non-set key is WRONGTYPE even when another is missing.

use super::set_family::{now_ms, set_ref, Bulks};
use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult, OpResult};
use crate::families::string_family::count_lookup;
use crate::keys::KeyPlan;
use crate::notify::{self, class};
use crate::shard::{key_hash, shard_of, Shard};
use crate::tx::locks::LockMode;
use damselfly_shards::{CollectionLimits, CompactValue, DbSlice, SetValue};
use std::collections::HashSet;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// A source set as the algebra reads it: a set in place, or members sent from another shard.
trait Source {
    fn card(&self) -> usize;
    fn has(&self, m: &[u8]) -> bool;
    fn each(&self, f: &mut dyn FnMut(&[u8]) -> bool);
}

impl Source for SetValue {
    fn card(&self) -> usize {
        self.len()
    }

    fn has(&self, m: &[u8]) -> bool {
        self.contains(m)
    }

    fn each(&self, f: &mut dyn FnMut(&[u8]) -> bool) {
        let mut go = true;
        self.for_each(|m| {
            if go {
                go = m.with_bytes(&mut *f);
            }
        });
    }
}

type Remote = HashSet<Vec<u8>, damselfly_shards::PoolHasher>;

impl Source for Remote {
    fn card(&self) -> usize {
        self.len()
    }

    fn has(&self, m: &[u8]) -> bool {
        self.contains(m)
    }

    fn each(&self, f: &mut dyn FnMut(&[u8]) -> bool) {
        for m in self {
            if !f(m) {
                return;
            }
        }
    }
}

/// Calls `emit` with each member of the result (at most once each); `emit` returns false to
/// stop early (SINTERCARD's LIMIT). `sources` are in key order; None is a missing key.
fn compute(op: Op, sources: &[Option<&dyn Source>], emit: &mut dyn FnMut(&[u8]) -> bool) {
    match op {
        Op::Inter => {
            let Some(mut sets) = sources.iter().copied().collect::<Option<Vec<_>>>() else {
                return;
            };
            // Walk the smallest, probe the others smallest first (fewest probes on a miss).
            sets.sort_by_key(|s| s.card());
            let (first, rest) = sets.split_first().expect("at least one key");
            first.each(&mut |m| !rest.iter().all(|s| s.has(m)) || emit(m));
        }
        Op::Diff => {
            let Some(first) = sources[0] else {
                return;
            };
            let rest: Vec<&dyn Source> = sources[1..].iter().flatten().copied().collect();
            first.each(&mut |m| rest.iter().any(|s| s.has(m)) || emit(m));
        }
        Op::Union => {
            let mut seen = Remote::default();
            for s in sources.iter().flatten() {
                s.each(&mut |m| {
                    if !seen.contains(m) {
                        seen.insert(m.to_vec());
                        return emit(m);
                    }
                    true
                });
            }
        }
    }
}

/// What a command does with the result.
#[derive(Clone, Copy)]
enum Sink {
    /// Reply with the members.
    Reply,
    /// Reply with how many there are, counting at most `limit` (0: no limit).
    Card(usize),
    /// Store them at the first key (which is not a source).
    Store,
}

/// What one shard answers.
enum Answer {
    Members(Bulks),
    Card(usize),
    /// Sources of this shard, by key index (None: missing).
    Sources(Vec<(usize, Option<Vec<Vec<u8>>>)>),
    Stored(usize),
}

/// First pass over this shard's source keys: drops expired ones, counts read lookups (not
/// for STORE, which Redis looks up for writing) and type-checks every key.
fn check_sources(dbs: &mut DbSlice, db: usize, keys: &[&[u8]], read: bool, now: u64) -> CmdResult {
    let mut wrong = false;
    for k in keys {
        let found = dbs.find(db, k, now);
        if read {
            count_lookup(found.is_some());
        }
        if let Some(v) = found {
            wrong |= set_ref(v).is_err();
        }
    }
    if wrong {
        Err(CmdError::WrongType)
    } else {
        Ok(())
    }
}

/// The sets of `keys` in place (after [`check_sources`]).
fn sets_of<'a>(dbs: &'a DbSlice, db: usize, keys: &[&[u8]]) -> Vec<Option<&'a SetValue>> {
    let table = dbs.primary(db);
    keys.iter()
        .map(|k| {
            let (_, v) = table?.find_hashed(DbSlice::hash_key(k), *k)?;
            set_ref(v).ok()
        })
        .collect()
}

/// Writes `set` at `dst`, replacing whatever was there (deadline dropped), or deletes `dst`
/// when the set is empty. Returns the set's size.
/// Raises the command's event (`sinterstore`...), or `del` when an existing `dst` was
/// deleted.
fn store(dbs: &mut DbSlice, op: Op, db: usize, dst: &[u8], mut set: SetValue, now: u64) -> usize {
    let n = set.len();
    if n == 0 {
        if dbs.delete(db, dst, now).is_some() {
            notify::keyspace_event(class::GENERIC, "del", dst, db);
        }
    } else {
        set.shrink();
        dbs.store(db, dst, CompactValue::from_object(Box::new(set)), now);
        let event = match op {
            Op::Inter => "sinterstore",
            Op::Union => "sunionstore",
            Op::Diff => "sdiffstore",
        };
        notify::keyspace_event(class::SET, event, dst, db);
    }
    n
}

/// The whole command on the one shard that owns all its keys.
fn op_local(
    shard: &Shard,
    db: usize,
    op: Op,
    sink: Sink,
    (dst, srcs): (&[u8], &[&[u8]]),
    limits: &CollectionLimits,
    now: u64,
) -> OpResult<Answer> {
    let mut dbs = shard.db.borrow_mut();
    check_sources(&mut dbs, db, srcs, !matches!(sink, Sink::Store), now)?;
    let sets = sets_of(&dbs, db, srcs);
    let sources: Vec<Option<&dyn Source>> = sets.iter().map(|s| s.map(|s| s as _)).collect();
    match sink {
        Sink::Reply => {
            let mut out = Bulks::default();
            compute(op, &sources, &mut |m| {
                out.push(m);
                true
            });
            Ok(Answer::Members(out))
        }
        Sink::Card(limit) => {
            let mut n = 0usize;
            compute(op, &sources, &mut |_| {
                n += 1;
                limit == 0 || n < limit
            });
            Ok(Answer::Card(n))
        }
        Sink::Store => {
            let mut result = SetValue::new();
            compute(op, &sources, &mut |m| {
                result.add(m, limits);
                true
            });
            drop(sources);
            drop(sets);
            Ok(Answer::Stored(store(&mut dbs, op, db, dst, result, now)))
        }
    }
}

/// A source shard's part of a cross-shard command: its keys' members.
fn op_read(
    shard: &Shard,
    db: usize,
    keys: &[(usize, &[u8])],
    read: bool,
    now: u64,
) -> OpResult<Answer> {
    let mut dbs = shard.db.borrow_mut();
    let just_keys: Vec<&[u8]> = keys.iter().map(|k| k.1).collect();
    check_sources(&mut dbs, db, &just_keys, read, now)?;
    let sets = sets_of(&dbs, db, &just_keys);
    Ok(Answer::Sources(
        keys.iter()
            .zip(sets)
            .map(|(&(i, _), s)| (i, s.map(|s| s.to_vecs())))
            .collect(),
    ))
}

/// Runs `op` over `srcs` into `sink` (`dst` for STORE), on one shard or as a transaction.
fn run(ctx: &mut CmdCtx<'_>, op: Op, sink: Sink, dst: &[u8], srcs: &[&[u8]]) -> OpResult<Answer> {
    let (db, now, limits) = (ctx.db(), now_ms(), ctx.limits());
    let storing = matches!(sink, Sink::Store);
    let keys: Vec<&[u8]> = if storing {
        std::iter::once(dst).chain(srcs.iter().copied()).collect()
    } else {
        srcs.to_vec()
    };
    let mode = if storing {
        LockMode::Exclusive
    } else {
        LockMode::Shared
    };
    let plan = KeyPlan::new(keys.iter().copied(), mode);
    let shards = plan.shards();
    if shards.len() == 1 {
        return ctx.exec.single_shard(shards[0], &plan.groups[0].2, &|s| {
            op_local(s, db, op, sink, (dst, srcs), &limits, now)
        });
    }
    let n = damselfly_runtime::proactor_count();
    let src_of: Vec<usize> = srcs.iter().map(|k| shard_of(key_hash(k), n)).collect();
    let mut src_shards = src_of.clone();
    src_shards.sort_unstable();
    src_shards.dedup();
    let read = |s: &Shard| {
        let mine: Vec<(usize, &[u8])> = srcs
            .iter()
            .enumerate()
            .filter(|(i, _)| src_of[*i] == s.index)
            .map(|(i, k)| (i, *k))
            .collect();
        op_read(s, db, &mine, !storing, now)
    };
    let mut tx = ctx.exec.schedule(&plan);
    // A read ends its transaction with this hop; a STORE keeps it for the write.
    let (answers, mut tx) = if storing {
        (tx.execute(&src_shards, false, &read), Some(tx))
    } else {
        (tx.execute_all(&read), None)
    };
    let mut members: Vec<Option<Vec<Vec<u8>>>> = vec![None; srcs.len()];
    let mut failed = None;
    for a in answers {
        match a {
            Ok(Answer::Sources(v)) => v.into_iter().for_each(|(i, m)| members[i] = m),
            Ok(_) => unreachable!("source shards send sources"),
            Err(e) => failed = Some(e),
        }
    }
    if let Some(e) = failed {
        if let Some(tx) = tx.take() {
            tx.conclude();
        }
        return Err(e);
    }
    let remote: Vec<Option<Remote>> = members
        .into_iter()
        .map(|m| m.map(|v| v.into_iter().collect()))
        .collect();
    let sources: Vec<Option<&dyn Source>> =
        remote.iter().map(|s| s.as_ref().map(|s| s as _)).collect();
    let answer = match sink {
        Sink::Reply => {
            let mut out = Bulks::default();
            compute(op, &sources, &mut |m| {
                out.push(m);
                true
            });
            Answer::Members(out)
        }
        Sink::Card(limit) => {
            let mut n = 0usize;
            compute(op, &sources, &mut |_| {
                n += 1;
                limit == 0 || n < limit
            });
            Answer::Card(n)
        }
        Sink::Store => {
            let mut result: Vec<&[u8]> = Vec::new();
            compute(op, &sources, &mut |m| {
                // Members borrowed from `remote`, which outlives the write below.
                result.push(remote_member(&remote, m));
                true
            });
            let dst_shard = shard_of(key_hash(dst), n);
            let tx = tx.take().expect("a STORE keeps its transaction");
            let stored = tx.execute_all(&|s| {
                if s.index != dst_shard {
                    return 0;
                }
                let set = SetValue::from_members(result.iter().copied(), &limits);
                store(&mut s.db.borrow_mut(), op, db, dst, set, now)
            });
            return Ok(Answer::Stored(stored.into_iter().max().unwrap_or(0)));
        }
    };
    Ok(answer)
}

/// The copy of `m` held in one of the remote sources (every result member comes from one).
fn remote_member<'a>(remote: &'a [Option<Remote>], m: &[u8]) -> &'a [u8] {
    remote
        .iter()
        .flatten()
        .find_map(|s| s.get(m))
        .map(|v| &v[..])
        .expect("a result member is a member of a source")
}

fn reply_members(ctx: &mut CmdCtx<'_>, a: Answer) {
    if let Answer::Members(out) = a {
        out.reply(ctx, true);
    }
}

fn reply_count(ctx: &mut CmdCtx<'_>, a: Answer) {
    let n = match a {
        Answer::Card(n) | Answer::Stored(n) => n,
        _ => 0,
    };
    ctx.reply().integer(n as i64);
}

fn read_cmd(ctx: &mut CmdCtx<'_>, args: &Args<'_>, op: Op) -> CmdResult {
    let srcs: Vec<&[u8]> = args.rest(1).collect();
    let a = run(ctx, op, Sink::Reply, b"", &srcs)?;
    reply_members(ctx, a);
    Ok(())
}

fn store_cmd(ctx: &mut CmdCtx<'_>, args: &Args<'_>, op: Op) -> CmdResult {
    let srcs: Vec<&[u8]> = args.rest(2).collect();
    let a = run(ctx, op, Sink::Store, args.get(1), &srcs)?;
    reply_count(ctx, a);
    Ok(())
}

pub fn cmd_sinter(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    read_cmd(ctx, args, Op::Inter)
}

pub fn cmd_sunion(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    read_cmd(ctx, args, Op::Union)
}

pub fn cmd_sdiff(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    read_cmd(ctx, args, Op::Diff)
}

pub fn cmd_sinterstore(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    store_cmd(ctx, args, Op::Inter)
}

pub fn cmd_sunionstore(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    store_cmd(ctx, args, Op::Union)
}

pub fn cmd_sdiffstore(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    store_cmd(ctx, args, Op::Diff)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn cmd_sintercard(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let numkeys = match parse_i64(args.get(1)) {
        Ok(n) if n > 0 => n as u64,
        _ => return Err(CmdError::raw("ERR numkeys should be greater than 0")),
    };
    if numkeys > (args.len() - 2) as u64 {
        return Err(CmdError::raw(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let numkeys = numkeys as usize;
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < args.len() {
        if eq_ignore_case(args.get(i), "limit") && i + 1 < args.len() {
            limit = match parse_i64(args.get(i + 1)) {
                Ok(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
                _ => return Err(CmdError::raw("ERR LIMIT can't be negative")),
            };
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let srcs: Vec<&[u8]> = (2..2 + numkeys).map(|i| args.get(i)).collect();
    let a = run(ctx, Op::Inter, Sink::Card(limit), b"", &srcs)?;
    reply_count(ctx, a);
    Ok(())
}
