//! List commands: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LINSERT LREM
//! LTRIM LPOS LMOVE RPOPLPUSH LMPOP. Parsing and replies here; the shard-side work and the
//! cross-shard moves are in [`super::list_ops`].
//!
//! Argument checks run in Redis's order: some before the key lookup (LRANGE's indexes, LPOS's
//! options), some after it (LINDEX's and LSET's index: a missing key answers first). Replies of
//! many elements are encoded on the shard into one buffer, so no element is copied into an
//! allocation of its own.

use super::list_ops::{self, clamp_range, op_read, op_write, op_write_when, write_bulk};
use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult, OpResult};
use crate::notify::{self, class};
use crate::registry::{flags::*, CommandSpec};
use crate::shard::key_hash;
use crate::tx::locks::LockMode;
use damselfly_shards::QuickList;

/// The batch's wall clock (see `ProactorState::batch_now_ms`).
fn now_ms() -> u64 {
    crate::server::ProactorState::current().batch_now_ms.get()
}

const POSITIVE: &str = "ERR value is out of range, must be positive";
const OUT_OF_RANGE: &str = "ERR index out of range";

/// LEFT / RIGHT: true for LEFT.
pub fn parse_side(a: &[u8]) -> OpResult<bool> {
    if eq_ignore_case(a, "left") {
        Ok(true)
    } else if eq_ignore_case(a, "right") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Redis's getRangeLongFromObjectOrReply with a message: `msg` for a non-integer too.
fn parse_at_least(a: &[u8], min: i64, msg: &str) -> OpResult<i64> {
    match parse_i64(a) {
        Ok(v) if v >= min => Ok(v),
        _ => Err(CmdError::raw(msg)),
    }
}

fn push(ctx: &mut CmdCtx<'_>, args: &Args<'_>, left: bool, only_if_exists: bool) -> CmdResult {
    let (db, key, now, limits) = (ctx.db(), args.get(1), now_ms(), ctx.limits());
    // The usual push names a few values: gather them on the stack, not in a new Vec.
    let mut small: [&[u8]; 8] = [&[]; 8];
    let many: Vec<&[u8]>;
    let count = args.len().saturating_sub(2);
    let values: &[&[u8]] = if count <= small.len() {
        for (slot, v) in small.iter_mut().zip(args.rest(2)) {
            *slot = v;
        }
        &small[..count]
    } else {
        many = args.rest(2).collect();
        &many
    };
    let len = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            list_ops::op_push(s, db, key, left, values, only_if_exists, limits, now)
        })?;
    ctx.reply().integer(len);
    Ok(())
}

fn cmd_lpush(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    push(ctx, args, true, false)
}

fn cmd_rpush(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    push(ctx, args, false, false)
}

fn cmd_lpushx(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    push(ctx, args, true, true)
}

fn cmd_rpushx(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    push(ctx, args, false, true)
}

fn pop(ctx: &mut CmdCtx<'_>, args: &Args<'_>, left: bool, name: &str) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::WrongArity(name.into()));
    }
    let with_count = args.len() == 3;
    let count = if with_count {
        parse_at_least(args.get(2), 0, POSITIVE)? as usize
    } else {
        1
    };
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let (popped, buf) = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            let mut buf = Vec::new();
            let n =
                list_ops::op_pop_with(s, db, key, left, count, now, |v| write_bulk(&mut buf, v))?;
            Ok::<_, CmdError>((n, buf))
        })?;
    match (popped, with_count) {
        (None, false) => ctx.reply().null(),
        (None, true) => ctx.reply().null_array(),
        (Some(_), false) => ctx.out.extend_from_slice(&buf),
        (Some(n), true) => {
            ctx.reply().array_header(n);
            ctx.out.extend_from_slice(&buf);
        }
    }
    Ok(())
}

fn cmd_lpop(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    pop(ctx, args, true, "lpop")
}

fn cmd_rpop(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    pop(ctx, args, false, "rpop")
}

fn cmd_llen(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let len = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        op_read(s, db, key, now, |ql| ql.len())
    })?;
    ctx.reply().integer(len.unwrap_or(0) as i64);
    Ok(())
}

fn cmd_lrange(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (start, end) = (parse_i64(args.get(2))?, parse_i64(args.get(3))?);
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let out = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        op_read(s, db, key, now, |ql| {
            let mut buf = Vec::new();
            let Some((first, last)) = clamp_range(ql.len(), start, end) else {
                return (0, buf);
            };
            let n = last - first + 1;
            ql.range(first, n, |v| write_bulk(&mut buf, v));
            (n, buf)
        })
    })?;
    let (n, buf) = out.unwrap_or_default();
    ctx.reply().array_header(n);
    ctx.out.extend_from_slice(&buf);
    Ok(())
}

fn cmd_lindex(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    // Redis looks the key up before it parses the index.
    let index = parse_i64(args.get(2));
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let out = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        op_read(s, db, key, now, |ql| {
            let index = index.clone()?;
            let mut buf = Vec::new();
            ql.with_index(index, |v| write_bulk(&mut buf, v));
            Ok::<_, CmdError>(buf)
        })
    })?;
    match out.transpose()? {
        Some(buf) if !buf.is_empty() => ctx.out.extend_from_slice(&buf),
        _ => ctx.reply().null(),
    }
    Ok(())
}

fn cmd_lset(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let index = parse_i64(args.get(2));
    let (db, key, value, now) = (ctx.db(), args.get(1), args.get(3), now_ms());
    let out = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            let unchanged = |ql: &QuickList| match &index {
                Err(e) => Some(Err(e.clone())),
                Ok(i) if ql.normalize(*i).is_none() => Some(Err(CmdError::raw(OUT_OF_RANGE))),
                Ok(_) => None,
            };
            op_write_when(s, db, key, now, unchanged, |ql| {
                let set = index.as_ref().is_ok_and(|&i| ql.set(i, value));
                debug_assert!(set, "index checked in range");
                notify::keyspace_event(class::LIST, "lset", key, db);
                Ok(())
            })
        })?;
    out.ok_or(CmdError::NoSuchKey)??;
    ctx.reply().ok();
    Ok(())
}

fn cmd_linsert(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let where_ = args.get(2);
    let after = if eq_ignore_case(where_, "after") {
        true
    } else if eq_ignore_case(where_, "before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let (db, key, pivot, value, now) = (ctx.db(), args.get(1), args.get(3), args.get(4), now_ms());
    let out = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            let unchanged = |ql: &QuickList| (!ql.contains(pivot)).then_some(-1);
            op_write_when(s, db, key, now, unchanged, |ql| {
                ql.insert(pivot, value, after);
                notify::keyspace_event(class::LIST, "linsert", key, db);
                ql.len() as i64
            })
        })?;
    ctx.reply().integer(out.unwrap_or(0));
    Ok(())
}

fn cmd_lrem(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let count = parse_i64(args.get(2))?;
    let (db, key, value, now) = (ctx.db(), args.get(1), args.get(3), now_ms());
    let out = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            let unchanged = |ql: &QuickList| (!ql.contains(value)).then_some(0);
            op_write_when(s, db, key, now, unchanged, |ql| {
                let removed = ql.remove(value, count);
                notify::keyspace_event(class::LIST, "lrem", key, db);
                removed
            })
        })?;
    ctx.reply().integer(out.unwrap_or(0) as i64);
    Ok(())
}

fn cmd_ltrim(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (start, end) = (parse_i64(args.get(2))?, parse_i64(args.get(3))?);
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    ctx.exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_write(s, db, key, now, |ql| {
                match clamp_range(ql.len(), start, end) {
                    Some((first, last)) => ql.trim(first, last),
                    None => ql.clear(),
                }
                notify::keyspace_event(class::LIST, "ltrim", key, db);
            })
        })?;
    ctx.reply().ok();
    Ok(())
}

const RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";

fn cmd_lpos(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (mut rank, mut count, mut maxlen) = (1i64, None::<usize>, 0usize);
    let mut i = 3;
    while i < args.len() {
        let opt = args.get(i);
        let more = i + 1 < args.len();
        if eq_ignore_case(opt, "rank") && more {
            rank = parse_i64(args.get(i + 1))?;
            if rank == 0 {
                return Err(CmdError::raw(RANK_ZERO));
            }
        } else if eq_ignore_case(opt, "count") && more {
            count =
                Some(parse_at_least(args.get(i + 1), 0, "ERR COUNT can't be negative")? as usize);
        } else if eq_ignore_case(opt, "maxlen") && more {
            maxlen = parse_at_least(args.get(i + 1), 0, "ERR MAXLEN can't be negative")? as usize;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    // Redis negates the rank in a C long: i64::MIN stays negative and then every match
    // counts as reached, so it behaves as -1.
    if rank == i64::MIN {
        rank = -1;
    }
    let (db, key, elem, now) = (ctx.db(), args.get(1), args.get(2), now_ms());
    let want = count.unwrap_or(1);
    let found = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        op_read(s, db, key, now, |ql| ql.positions(elem, rank, want, maxlen))
    })?;
    let found = found.unwrap_or_default();
    let mut r = ctx.reply();
    match count {
        Some(_) => {
            r.array_header(found.len());
            for p in found {
                r.integer(p as i64);
            }
        }
        None => match found.first() {
            Some(&p) => r.integer(p as i64),
            None => r.null(),
        },
    }
    Ok(())
}

fn reply_moved(ctx: &mut CmdCtx<'_>, moved: Option<Vec<u8>>) -> CmdResult {
    match moved {
        Some(v) => ctx.reply().bulk(&v),
        None => ctx.reply().null(),
    }
    Ok(())
}

fn cmd_lmove(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (from_left, to_left) = (parse_side(args.get(3))?, parse_side(args.get(4))?);
    let (db, src, dst, now, limits) = (ctx.db(), args.get(1), args.get(2), now_ms(), ctx.limits());
    let moved = list_ops::lmove(&mut ctx.exec, db, src, dst, from_left, to_left, limits, now)?;
    reply_moved(ctx, moved)
}

fn cmd_rpoplpush(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, src, dst, now, limits) = (ctx.db(), args.get(1), args.get(2), now_ms(), ctx.limits());
    let moved = list_ops::lmove(&mut ctx.exec, db, src, dst, false, true, limits, now)?;
    reply_moved(ctx, moved)
}

/// LMPOP's arguments from `numkeys_at` on (BLMPOP has its timeout before them): the keys, the
/// side (true for LEFT) and the count.
pub fn parse_mpop<'a>(
    args: &Args<'a>,
    numkeys_at: usize,
) -> OpResult<(Vec<&'a [u8]>, bool, usize)> {
    let numkeys = parse_at_least(
        args.get(numkeys_at),
        1,
        "ERR numkeys should be greater than 0",
    )?;
    let where_at = (numkeys as u64).saturating_add(numkeys_at as u64 + 1);
    if where_at >= args.len() as u64 {
        return Err(CmdError::Syntax);
    }
    let where_at = where_at as usize;
    let left = parse_side(args.get(where_at))?;
    let mut count = None;
    let mut i = where_at + 1;
    while i < args.len() {
        if count.is_none() && eq_ignore_case(args.get(i), "count") && i + 1 < args.len() {
            count = Some(parse_at_least(
                args.get(i + 1),
                1,
                "ERR count should be greater than 0",
            )?);
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let keys = (numkeys_at + 1..where_at).map(|k| args.get(k)).collect();
    Ok((keys, left, count.unwrap_or(1) as usize))
}

fn cmd_lmpop(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (keys, left, count) = parse_mpop(args, 1)?;
    let (db, now) = (ctx.db(), now_ms());
    let popped = list_ops::lmpop(&mut ctx.exec, db, &keys, left, count, now)?;
    let mut r = ctx.reply();
    match popped {
        None => r.null_array(),
        Some((i, values)) => {
            r.array_header(2);
            r.bulk(keys[i]);
            r.array_header(values.len());
            for v in &values {
                r.bulk(v);
            }
        }
    }
    Ok(())
}

pub fn commands() -> Vec<CommandSpec> {
    let c = |name, arity, flags, handler, summary, keys: (i32, i32, i32)| CommandSpec {
        name,
        arity,
        flags,
        acl: if flags & WRITE != 0 {
            &["@write", "@list"]
        } else {
            &["@read", "@list"]
        },
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        group: "list",
        summary,
        since: "1.0.0",
        handler,
        subcommands: Vec::new(),
    };
    let one = (1, 1, 1);
    vec![
        c(
            "lpush",
            -3,
            WRITE | DENYOOM | FAST,
            cmd_lpush as _,
            "Prepend one or multiple elements to a list",
            one,
        ),
        c(
            "rpush",
            -3,
            WRITE | DENYOOM | FAST,
            cmd_rpush,
            "Append one or multiple elements to a list",
            one,
        ),
        CommandSpec {
            since: "2.2.0",
            ..c(
                "lpushx",
                -3,
                WRITE | DENYOOM | FAST,
                cmd_lpushx,
                "Prepend an element to a list, only if the list exists",
                one,
            )
        },
        CommandSpec {
            since: "2.2.0",
            ..c(
                "rpushx",
                -3,
                WRITE | DENYOOM | FAST,
                cmd_rpushx,
                "Append an element to a list, only if the list exists",
                one,
            )
        },
        c(
            "lpop",
            -2,
            WRITE | FAST,
            cmd_lpop,
            "Remove and get the first elements in a list",
            one,
        ),
        c(
            "rpop",
            -2,
            WRITE | FAST,
            cmd_rpop,
            "Remove and get the last elements in a list",
            one,
        ),
        c(
            "llen",
            2,
            READONLY | FAST,
            cmd_llen,
            "Get the length of a list",
            one,
        ),
        c(
            "lrange",
            4,
            READONLY,
            cmd_lrange,
            "Get a range of elements from a list",
            one,
        ),
        c(
            "lindex",
            3,
            READONLY,
            cmd_lindex,
            "Get an element from a list by its index",
            one,
        ),
        c(
            "lset",
            4,
            WRITE | DENYOOM,
            cmd_lset,
            "Set the value of an element in a list by its index",
            one,
        ),
        CommandSpec {
            since: "2.2.0",
            ..c(
                "linsert",
                5,
                WRITE | DENYOOM,
                cmd_linsert,
                "Insert an element before or after another element in a list",
                one,
            )
        },
        c(
            "lrem",
            4,
            WRITE,
            cmd_lrem,
            "Remove elements from a list",
            one,
        ),
        c(
            "ltrim",
            4,
            WRITE,
            cmd_ltrim,
            "Trim a list to the specified range",
            one,
        ),
        CommandSpec {
            since: "6.0.6",
            ..c(
                "lpos",
                -3,
                READONLY,
                cmd_lpos,
                "Return the index of matching elements on a list",
                one,
            )
        },
        CommandSpec {
            since: "6.2.0",
            ..c(
                "lmove",
                5,
                WRITE | DENYOOM,
                cmd_lmove,
                "Pop an element from a list, push it to another list and return it",
                (1, 2, 1),
            )
        },
        CommandSpec {
            since: "1.2.0",
            ..c(
                "rpoplpush",
                3,
                WRITE | DENYOOM,
                cmd_rpoplpush,
                "Remove the last element in a list, prepend it to another list and return it",
                (1, 2, 1),
            )
        },
        CommandSpec {
            since: "7.0.0",
            ..c(
                "lmpop",
                -4,
                WRITE,
                cmd_lmpop,
                "Pop elements from a list",
                (0, 0, 0),
            )
        },
    ]
}
