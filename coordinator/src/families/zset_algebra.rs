//! Sorted-set algebra: ZUNION ZINTER ZDIFF (WEIGHTS AGGREGATE WITHSCORES), their STORE forms
//! and ZINTERCARD. Sources are zsets (later also sets, members scoring 1) read on their
//! shards; the result is computed on the coordinator and, for the STORE forms, rebuilt in the
//! destination's shard: one transaction over every key, as Redis runs them atomically.
//!
//! As Redis: the sources are looked up (WRONGTYPE) before the options are parsed; union and
//! intersection take the sources smallest first; a NaN from weights or sums becomes 0.

use super::zset_family::{
    now_ms, op_read_source, parse_score_strict, reply_pairs, store_pairs, Pairs, SpecFn,
};
use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult, OpResult};
use crate::keys::KeyPlan;
use crate::registry::{flags::*, CommandSpec};
use crate::shard::{key_hash, shard_of};
use crate::tx::locks::LockMode;
use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, acc: &mut f64, v: f64) {
        match self {
            Aggregate::Sum => {
                *acc += v;
                if acc.is_nan() {
                    *acc = 0.0;
                }
            }
            Aggregate::Min => *acc = acc.min(v),
            Aggregate::Max => *acc = acc.max(v),
        }
    }
}

/// Reads every source in one step of `tx`: `sources[i]` for key i (None when missing).
fn read_sources(
    tx: &mut crate::exec::TxRef<'_>,
    plan: &KeyPlan,
    keys: &[&[u8]],
    first_source: usize,
    count_lookups: bool,
    db: usize,
    now: u64,
) -> OpResult<Vec<Option<Pairs>>> {
    let shards = tx.shards().to_vec();
    let per_shard = tx.execute(&shards, false, &|s| {
        plan.keys_of(s.index)
            .iter()
            .filter(|&&i| i >= first_source)
            .map(|&i| (i, op_read_source(s, db, keys[i], count_lookups, now)))
            .collect::<Vec<_>>()
    });
    let mut out: Vec<Option<Pairs>> = (first_source..keys.len()).map(|_| None).collect();
    let mut err = None;
    let mut results: Vec<(usize, OpResult<Option<Pairs>>)> =
        per_shard.into_iter().flatten().collect();
    // The first failing source in argument order decides the error, as Redis looks them up
    // in order.
    results.sort_by_key(|r| r.0);
    for (i, r) in results {
        match r {
            Ok(v) => out[i - first_source] = v,
            Err(e) => {
                err.get_or_insert(e);
            }
        }
    }
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

struct Options {
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    limit: usize,
}

fn parse_options(
    args: &Args<'_>,
    from: usize,
    n: usize,
    op: Op,
    store: bool,
    card: bool,
) -> OpResult<Options> {
    let mut o = Options {
        weights: vec![1.0; n],
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let mut j = from;
    while j < args.len() {
        let left = args.len() - j;
        let a = args.get(j);
        if op != Op::Diff && !card && left > n && eq_ignore_case(a, "weights") {
            for i in 0..n {
                o.weights[i] = parse_score_strict(args.get(j + 1 + i))
                    .ok_or_else(|| CmdError::raw("ERR weight value is not a float"))?;
            }
            j += 1 + n;
        } else if op != Op::Diff && !card && left >= 2 && eq_ignore_case(a, "aggregate") {
            let v = args.get(j + 1);
            o.aggregate = if eq_ignore_case(v, "sum") {
                Aggregate::Sum
            } else if eq_ignore_case(v, "min") {
                Aggregate::Min
            } else if eq_ignore_case(v, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if !store && !card && eq_ignore_case(a, "withscores") {
            o.withscores = true;
            j += 1;
        } else if card && left >= 2 && eq_ignore_case(a, "limit") {
            let v = parse_i64(args.get(j + 1)).ok().filter(|&v| v >= 0);
            o.limit = v.ok_or(CmdError::raw("ERR LIMIT can't be negative"))? as usize;
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(o)
}

/// Sorts (member, score) by Redis's order.
fn sort_pairs(v: &mut Pairs) {
    v.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
}

fn weighted(score: f64, w: f64) -> f64 {
    let v = score * w;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// The result of the operation, sorted; for ZINTERCARD only its size matters (`limit`
/// stops the count early).
fn compute(op: Op, sources: Vec<Option<Pairs>>, o: &Options, card: bool) -> Pairs {
    let mut srcs: Vec<(Pairs, f64)> = sources
        .into_iter()
        .zip(&o.weights)
        .map(|(s, &w)| (s.unwrap_or_default(), w))
        .collect();
    let mut out: Pairs = Vec::new();
    match op {
        Op::Diff => {
            let (first, rest) = srcs.split_first().expect("at least one source");
            if !first.0.is_empty() {
                let others: Vec<HashMap<&[u8], f64>> = rest
                    .iter()
                    .map(|(p, _)| p.iter().map(|(m, s)| (&m[..], *s)).collect())
                    .collect();
                for (m, s) in &first.0 {
                    if !others.iter().any(|t| t.contains_key(&m[..])) {
                        out.push((m.clone(), *s));
                    }
                }
            }
        }
        Op::Inter => {
            srcs.sort_by_key(|s| s.0.len());
            if !srcs[0].0.is_empty() {
                let maps: Vec<HashMap<&[u8], f64>> = srcs[1..]
                    .iter()
                    .map(|(p, _)| p.iter().map(|(m, s)| (&m[..], *s)).collect())
                    .collect();
                'next: for (m, s) in &srcs[0].0 {
                    let mut acc = weighted(*s, srcs[0].1);
                    for (j, map) in maps.iter().enumerate() {
                        match map.get(&m[..]) {
                            Some(&v) => o.aggregate.apply(&mut acc, weighted(v, srcs[j + 1].1)),
                            None => continue 'next,
                        }
                    }
                    out.push((m.clone(), acc));
                    if card && o.limit > 0 && out.len() >= o.limit {
                        break;
                    }
                }
            }
        }
        Op::Union => {
            srcs.sort_by_key(|s| s.0.len());
            let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
            for (pairs, w) in srcs {
                for (m, s) in pairs {
                    let v = weighted(s, w);
                    match acc.get_mut(&m) {
                        Some(a) => o.aggregate.apply(a, v),
                        None => {
                            acc.insert(m, v);
                        }
                    }
                }
            }
            out = acc.into_iter().collect();
        }
    }
    if !card {
        sort_pairs(&mut out);
    }
    out
}

/// `numkeys` as the algebra commands check it.
fn parse_setnum(args: &Args<'_>, at: usize, name: &str) -> OpResult<usize> {
    let n = parse_i64(args.get(at))?;
    if n < 1 {
        return Err(CmdError::raw(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if n as u64 > (args.len() - at - 1) as u64 {
        return Err(CmdError::Syntax);
    }
    Ok(n as usize)
}

fn algebra(ctx: &mut CmdCtx<'_>, args: &Args<'_>, op: Op, store: bool, card: bool) -> CmdResult {
    let name = match (op, store, card) {
        (_, _, true) => "zintercard",
        (Op::Union, true, _) => "zunionstore",
        (Op::Inter, true, _) => "zinterstore",
        (Op::Diff, true, _) => "zdiffstore",
        (Op::Union, false, _) => "zunion",
        (Op::Inter, false, _) => "zinter",
        (Op::Diff, false, _) => "zdiff",
    };
    let at = if store { 2 } else { 1 };
    let n = parse_setnum(args, at, name)?;
    // keys[0] is the destination when storing.
    let mut keys: Vec<&[u8]> = Vec::with_capacity(n + 1);
    if store {
        keys.push(args.get(1));
    }
    keys.extend((at + 1..at + 1 + n).map(|i| args.get(i)));
    let first = usize::from(store);
    let (db, now, limits) = (ctx.db(), now_ms(), ctx.limits());
    let mode = if store {
        LockMode::Exclusive
    } else {
        LockMode::Shared
    };
    let plan = KeyPlan::new(keys.iter().copied(), mode);
    let mut tx = ctx.exec.schedule(&plan);
    let sources = match read_sources(&mut tx, &plan, &keys, first, !store, db, now) {
        Ok(s) => s,
        Err(e) => {
            tx.conclude();
            return Err(e);
        }
    };
    let o = match parse_options(args, at + 1 + n, n, op, store, card) {
        Ok(o) => o,
        Err(e) => {
            tx.conclude();
            return Err(e);
        }
    };
    let result = compute(op, sources, &o, card);
    if store {
        let dst = keys[0];
        let shard = shard_of(key_hash(dst), damselfly_runtime::proactor_count());
        let stored = tx
            .execute(&[shard], false, &|s| {
                store_pairs(s, db, dst, &result, &limits, now, Some(name))
            })
            .pop()
            .expect("one shard");
        tx.conclude();
        ctx.reply().integer(stored as i64);
        return Ok(());
    }
    tx.conclude();
    if card {
        ctx.reply().integer(result.len() as i64);
    } else {
        reply_pairs(&mut ctx.reply(), &result, o.withscores);
    }
    Ok(())
}

fn cmd_zunion(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    algebra(ctx, args, Op::Union, false, false)
}
fn cmd_zinter(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    algebra(ctx, args, Op::Inter, false, false)
}
fn cmd_zdiff(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    algebra(ctx, args, Op::Diff, false, false)
}
fn cmd_zunionstore(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    algebra(ctx, args, Op::Union, true, false)
}
fn cmd_zinterstore(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    algebra(ctx, args, Op::Inter, true, false)
}
fn cmd_zdiffstore(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    algebra(ctx, args, Op::Diff, true, false)
}
fn cmd_zintercard(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    algebra(ctx, args, Op::Inter, false, true)
}

pub fn commands(c: SpecFn) -> Vec<CommandSpec> {
    // Key ranges as Redis declares them (the destination only); the keys `numkeys` counts
    // are found by the registry (`CommandSpec::keys_in`, movable keys).
    let none = (0, 0, 0);
    let dst = (1, 1, 1);
    vec![
        c(
            "zunion",
            -3,
            READONLY,
            cmd_zunion,
            "Returns the union of multiple sorted sets.",
            "6.2.0",
            none,
        ),
        c(
            "zinter",
            -3,
            READONLY,
            cmd_zinter,
            "Returns the intersect of multiple sorted sets.",
            "6.2.0",
            none,
        ),
        c(
            "zdiff",
            -3,
            READONLY,
            cmd_zdiff,
            "Returns the difference between multiple sorted sets.",
            "6.2.0",
            none,
        ),
        c(
            "zunionstore",
            -4,
            WRITE | DENYOOM,
            cmd_zunionstore,
            "Stores the union of multiple sorted sets in a key.",
            "2.0.0",
            dst,
        ),
        c(
            "zinterstore",
            -4,
            WRITE | DENYOOM,
            cmd_zinterstore,
            "Stores the intersect of multiple sorted sets in a key.",
            "2.0.0",
            dst,
        ),
        c(
            "zdiffstore",
            -4,
            WRITE | DENYOOM,
            cmd_zdiffstore,
            "Stores the difference of multiple sorted sets in a key.",
            "6.2.0",
            dst,
        ),
        c(
            "zintercard",
            -3,
            READONLY,
            cmd_zintercard,
            "Returns the number of members of the intersect of multiple sorted sets.",
            "7.0.0",
            none,
        ),
    ]
}
