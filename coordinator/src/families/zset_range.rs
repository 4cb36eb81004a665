//! Sorted-set ranges: ZRANGE (BYSCORE BYLEX REV LIMIT WITHSCORES), ZRANGESTORE, ZRANGEBYSCORE
//! ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX ZREVRANGE, ZCOUNT ZLEXCOUNT and the
//! ZREMRANGEBYRANK/SCORE/LEX removals.
//!
//! Every range becomes a span of ascending ranks `lo..hi` on the shard: two partition points
//! for score and lex bounds, Redis's index rules for ranks. The reply is rendered on the
//! shard straight from the set (one buffer, no copy of the members).

use super::zset_family::{
    now_ms, parse_score_bound, read_zset, store_pairs, write_zset_when, PairWriter, SpecFn,
};
use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult, OpResult};
use crate::keys::KeyPlan;
use crate::notify::{self, class};
use crate::registry::{flags::*, CommandSpec};
use crate::shard::{key_hash, shard_of};
use crate::tx::locks::LockMode;
use damselfly_shards::zset::ZSetValue;

const SCORE_ERR: &str = "ERR min or max is not a float";
const LEX_ERR: &str = "ERR min or max not valid string range item";

/// One end of a lex range.
#[derive(Clone, Copy)]
pub enum Lex<'a> {
    Min,
    Max,
    Incl(&'a [u8]),
    Excl(&'a [u8]),
}

fn parse_lex(a: &[u8]) -> Option<Lex<'_>> {
    match a.first()? {
        b'+' if a.len() == 1 => Some(Lex::Max),
        b'-' if a.len() == 1 => Some(Lex::Min),
        b'[' => Some(Lex::Incl(&a[1..])),
        b'(' => Some(Lex::Excl(&a[1..])),
        _ => None,
    }
}

/// A range over the set's order, in any of the three kinds.
#[derive(Clone, Copy)]
pub enum Range<'a> {
    /// Redis indexes (negative from the end), inclusive.
    Rank(i64, i64),
    Score((f64, bool), (f64, bool)),
    Lex(Lex<'a>, Lex<'a>),
}

impl Range<'_> {
    pub fn parse_score<'a>(min: &[u8], max: &[u8]) -> OpResult<Range<'a>> {
        match (parse_score_bound(min), parse_score_bound(max)) {
            (Some(a), Some(b)) => Ok(Range::Score(a, b)),
            _ => Err(CmdError::raw(SCORE_ERR)),
        }
    }

    pub fn parse_lex<'a>(min: &'a [u8], max: &'a [u8]) -> OpResult<Range<'a>> {
        match (parse_lex(min), parse_lex(max)) {
            (Some(a), Some(b)) => Ok(Range::Lex(a, b)),
            _ => Err(CmdError::raw(LEX_ERR)),
        }
    }

    /// The ascending ranks `lo..hi` the range covers in `z` (empty when lo >= hi).
    pub fn ranks(&self, z: &ZSetValue) -> (usize, usize) {
        let len = z.len();
        match *self {
            Range::Rank(start, end) => {
                let l = len as i64;
                let mut start = if start < 0 { l + start } else { start };
                let end = if end < 0 { l + end } else { end };
                start = start.max(0);
                if start > end || start >= l {
                    return (0, 0);
                }
                (start as usize, (end.min(l - 1) + 1) as usize)
            }
            Range::Score((min, min_ex), (max, max_ex)) => {
                if min > max || (min == max && (min_ex || max_ex)) {
                    return (0, 0);
                }
                let lo = z.partition(|s, _| if min_ex { s <= min } else { s < min });
                let hi = z.partition(|s, _| if max_ex { s < max } else { s <= max });
                (lo, hi.max(lo))
            }
            Range::Lex(min, max) => {
                let lo = z.partition(|_, m| match min {
                    Lex::Min => false,
                    Lex::Max => true,
                    Lex::Incl(x) => m < x,
                    Lex::Excl(x) => m <= x,
                });
                let hi = z.partition(|_, m| match max {
                    Lex::Min => false,
                    Lex::Max => true,
                    Lex::Incl(x) => m <= x,
                    Lex::Excl(x) => m < x,
                });
                (lo, hi.max(lo))
            }
        }
    }
}

/// What to take of a range: direction, LIMIT (offset, count; count < 0 is all).
#[derive(Clone, Copy)]
pub struct Take {
    pub rev: bool,
    pub offset: i64,
    pub count: i64,
}

/// The ascending ranks a ZRANGE selects after REV and LIMIT, walked in `rev` order.
fn select(z: &ZSetValue, range: &Range<'_>, take: Take) -> (usize, usize) {
    let (lo, hi) = match *range {
        // Reversed rank ranges count from the top.
        Range::Rank(start, end) if take.rev => {
            let (a, b) = Range::Rank(start, end).ranks(z);
            let len = z.len();
            (len - b, len - a)
        }
        _ => range.ranks(z),
    };
    if lo >= hi {
        return (0, 0);
    }
    if let Range::Rank(..) = range {
        // LIMIT does not apply to rank ranges (Redis ignores a LIMIT whose count is -1).
        return (lo, hi);
    }
    if take.offset < 0 {
        return (0, 0);
    }
    let n = hi - lo;
    let skip = (take.offset as u64).min(n as u64) as usize;
    let left = n - skip;
    let want = if take.count < 0 {
        left
    } else {
        left.min(take.count as usize)
    };
    if take.rev {
        (hi - skip - want, hi - skip)
    } else {
        (lo + skip, lo + skip + want)
    }
}

/// The parsed form of every ZRANGE-family command.
struct RangeCmd<'a> {
    key: &'a [u8],
    range: Range<'a>,
    take: Take,
    withscores: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Auto,
    Rank,
    Score,
    Lex,
}

/// Parses `<key> <min> <max> [options]` starting at `at` (the key), with the kind and
/// direction a legacy command fixes (Redis's zrangeGenericCommand).
fn parse_range_cmd<'a>(
    args: &Args<'a>,
    at: usize,
    mut kind: Kind,
    rev_fixed: Option<bool>,
    store: bool,
) -> OpResult<RangeCmd<'a>> {
    let (mut withscores, mut rev) = (false, rev_fixed);
    let (mut offset, mut count) = (0i64, -1i64);
    let mut limit = false;
    let mut j = at + 3;
    while j < args.len() {
        let a = args.get(j);
        let left = args.len() - j - 1;
        if !store && eq_ignore_case(a, "withscores") {
            withscores = true;
        } else if eq_ignore_case(a, "limit") && left >= 2 {
            offset = parse_i64(args.get(j + 1))?;
            count = parse_i64(args.get(j + 2))?;
            limit = count != -1;
            j += 2;
        } else if rev.is_none() && eq_ignore_case(a, "rev") {
            rev = Some(true);
        } else if kind == Kind::Auto && eq_ignore_case(a, "bylex") {
            kind = Kind::Lex;
        } else if kind == Kind::Auto && eq_ignore_case(a, "byscore") {
            kind = Kind::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    if kind == Kind::Auto {
        kind = Kind::Rank;
    }
    if limit && kind == Kind::Rank {
        return Err(CmdError::raw(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && kind == Kind::Lex {
        return Err(CmdError::raw(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut a, mut b) = (args.get(at + 1), args.get(at + 2));
    if rev && kind != Kind::Rank {
        std::mem::swap(&mut a, &mut b);
    }
    let range = match kind {
        Kind::Score => Range::parse_score(a, b)?,
        Kind::Lex => Range::parse_lex(a, b)?,
        _ => Range::Rank(parse_i64(a)?, parse_i64(b)?),
    };
    Ok(RangeCmd {
        key: args.get(at),
        range,
        take: Take { rev, offset, count },
        withscores,
    })
}

fn run_range(ctx: &mut CmdCtx<'_>, rc: RangeCmd<'_>) -> CmdResult {
    let (db, now, resp) = (ctx.db(), now_ms(), ctx.conn.resp);
    let key = rc.key;
    let bytes = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        read_zset(s, db, key, now, |z| {
            let mut out = Vec::new();
            let (lo, hi) = z.map_or((0, 0), |z| select(z, &rc.range, rc.take));
            let mut w = PairWriter::new(&mut out, resp, hi - lo, rc.withscores);
            if let Some(z) = z {
                z.walk(lo, hi, rc.take.rev, |m, sc| {
                    w.push(m, sc);
                    true
                });
            }
            out
        })
    })?;
    ctx.out.extend_from_slice(&bytes);
    Ok(())
}

fn cmd_zrange(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let rc = parse_range_cmd(args, 1, Kind::Auto, None, false)?;
    run_range(ctx, rc)
}

fn cmd_zrevrange(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let rc = parse_range_cmd(args, 1, Kind::Rank, Some(true), false)?;
    run_range(ctx, rc)
}

fn cmd_zrangebyscore(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let rc = parse_range_cmd(args, 1, Kind::Score, Some(false), false)?;
    run_range(ctx, rc)
}

fn cmd_zrevrangebyscore(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let rc = parse_range_cmd(args, 1, Kind::Score, Some(true), false)?;
    run_range(ctx, rc)
}

fn cmd_zrangebylex(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let rc = parse_range_cmd(args, 1, Kind::Lex, Some(false), false)?;
    run_range(ctx, rc)
}

fn cmd_zrevrangebylex(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let rc = parse_range_cmd(args, 1, Kind::Lex, Some(true), false)?;
    run_range(ctx, rc)
}

fn cmd_zrangestore(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let rc = parse_range_cmd(args, 2, Kind::Auto, None, true)?;
    let (db, now, limits) = (ctx.db(), now_ms(), ctx.limits());
    let (dst, src) = (args.get(1), rc.key);
    let keys = [dst, src];
    let plan = KeyPlan::new(keys.iter().copied(), LockMode::Exclusive);
    let mut tx = ctx.exec.schedule(&plan);
    let n = damselfly_runtime::proactor_count();
    let src_shard = shard_of(key_hash(src), n);
    let read = tx
        .execute(&[src_shard], false, &|s| {
            read_zset(s, db, src, now, |z| {
                let mut items = Vec::new();
                if let Some(z) = z {
                    let (lo, hi) = select(z, &rc.range, rc.take);
                    items.reserve(hi - lo);
                    z.walk(lo, hi, rc.take.rev, |m, sc| {
                        items.push((m.to_vec(), sc));
                        true
                    });
                }
                items
            })
        })
        .pop()
        .expect("one shard");
    let items = match read {
        Ok(items) => items,
        Err(e) => {
            tx.conclude();
            return Err(e);
        }
    };
    let dst_shard = shard_of(key_hash(dst), n);
    let stored = tx
        .execute(&[dst_shard], false, &|s| {
            store_pairs(s, db, dst, &items, &limits, now, Some("zrangestore"))
        })
        .pop()
        .expect("one shard");
    tx.conclude();
    ctx.reply().integer(stored as i64);
    Ok(())
}

fn count_generic(ctx: &mut CmdCtx<'_>, args: &Args<'_>, range: Range<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let n = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        read_zset(s, db, key, now, |z| {
            z.map_or(0, |z| {
                let (lo, hi) = range.ranks(z);
                hi - lo
            })
        })
    })?;
    ctx.reply().integer(n as i64);
    Ok(())
}

fn cmd_zcount(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let range = Range::parse_score(args.get(2), args.get(3))?;
    count_generic(ctx, args, range)
}

fn cmd_zlexcount(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let range = Range::parse_lex(args.get(2), args.get(3))?;
    count_generic(ctx, args, range)
}

fn remrange_generic(ctx: &mut CmdCtx<'_>, args: &Args<'_>, range: Range<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let n = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            let nothing = |z: &ZSetValue| {
                let (lo, hi) = range.ranks(z);
                (lo >= hi).then_some(0)
            };
            write_zset_when(s, db, key, now, nothing, |z| {
                let (lo, hi) = range.ranks(z);
                let removed = z.remove_ranks(lo, hi);
                let event = match range {
                    Range::Rank(..) => "zremrangebyrank",
                    Range::Score(..) => "zremrangebyscore",
                    Range::Lex(..) => "zremrangebylex",
                };
                notify::keyspace_event(class::ZSET, event, key, db);
                removed
            })
        })?;
    ctx.reply().integer(n.unwrap_or(0) as i64);
    Ok(())
}

fn cmd_zremrangebyrank(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let range = Range::Rank(parse_i64(args.get(2))?, parse_i64(args.get(3))?);
    remrange_generic(ctx, args, range)
}

fn cmd_zremrangebyscore(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let range = Range::parse_score(args.get(2), args.get(3))?;
    remrange_generic(ctx, args, range)
}

fn cmd_zremrangebylex(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let range = Range::parse_lex(args.get(2), args.get(3))?;
    remrange_generic(ctx, args, range)
}

pub fn commands(c: SpecFn) -> Vec<CommandSpec> {
    let one = (1, 1, 1);
    vec![
        c("zrange", -4, READONLY, cmd_zrange, "Returns members in a sorted set within a range of indexes.", "1.2.0", one),
        c("zrangestore", -5, WRITE | DENYOOM, cmd_zrangestore, "Stores a range of members from sorted set in a key.", "6.2.0", (1, 2, 1)),
        c("zrevrange", -4, READONLY, cmd_zrevrange, "Returns members in a sorted set within a range of indexes in reverse order.", "1.2.0", one),
        c("zrangebyscore", -4, READONLY, cmd_zrangebyscore, "Returns members in a sorted set within a range of scores.", "1.0.5", one),
        c("zrevrangebyscore", -4, READONLY, cmd_zrevrangebyscore, "Returns members in a sorted set within a range of scores in reverse order.", "2.2.0", one),
        c("zrangebylex", -4, READONLY, cmd_zrangebylex, "Returns members in a sorted set within a lexicographical range.", "2.8.9", one),
        c("zrevrangebylex", -4, READONLY, cmd_zrevrangebylex, "Returns members in a sorted set within a lexicographical range in reverse order.", "2.8.9", one),
        c("zcount", 4, READONLY | FAST, cmd_zcount, "Returns the count of members in a sorted set that have scores within a range.", "2.0.0", one),
        c("zlexcount", 4, READONLY | FAST, cmd_zlexcount, "Returns the number of members in a sorted set within a lexicographical range.", "2.8.9", one),
        c("zremrangebyrank", 4, WRITE, cmd_zremrangebyrank, "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", "2.0.0", one),
        c("zremrangebyscore", 4, WRITE, cmd_zremrangebyscore, "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", "1.2.0", one),
        c("zremrangebylex", 4, WRITE, cmd_zremrangebylex, "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", "2.8.9", one),
    ]
}
