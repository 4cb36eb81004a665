//! Sorted-set pops and draws: ZPOPMIN ZPOPMAX ZMPOP (and [`op_zpop`], the shard-side pop the
//! blocking BZPOPMIN/BZPOPMAX/BZMPOP share), ZRANDMEMBER and ZSCAN.

use super::zset_family::{now_ms, read_zset, reply_pairs, write_zset_when};
use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult, OpResult};
use crate::keys::KeyPlan;
use crate::notify::{self, class};
use crate::random::random_seed;
use crate::shard::{key_hash, Shard};
use crate::tx::locks::LockMode;
use damselfly_shards::zset::ZSetValue;
use damselfly_shards::GlobPattern;

// ---- pops -------------------------------------------------------------------------------

/// Pops up to `count` members from the low (or, with `max`, the high) end of the zset at
/// `key`: empty when the key is missing, WRONGTYPE for other types; an emptied key is
/// deleted. The shard-side step of ZPOPMIN/ZPOPMAX/ZMPOP and the blocking pops.
pub fn op_zpop(
    shard: &Shard,
    db: usize,
    key: &[u8],
    max: bool,
    count: usize,
    now: u64,
) -> OpResult<Vec<(Vec<u8>, f64)>> {
    let nothing = |_: &ZSetValue| (count == 0).then(Vec::new);
    let out = write_zset_when(shard, db, key, now, nothing, |z| {
        let n = count.min(z.len());
        let mut items = Vec::with_capacity(n);
        let len = z.len();
        let (from, to) = if max { (len - n, len) } else { (0, n) };
        z.walk(from, to, max, |m, s| {
            items.push((m.to_vec(), s));
            true
        });
        z.remove_ranks(from, to);
        let event = if max { "zpopmax" } else { "zpopmin" };
        notify::keyspace_event(class::ZSET, event, key, db);
        items
    })?;
    Ok(out.unwrap_or_default())
}

fn zpop_generic(ctx: &mut CmdCtx<'_>, args: &Args<'_>, max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = if args.len() == 3 {
        let n = parse_i64(args.get(2)).ok().filter(|&n| n >= 0);
        Some(n.ok_or(CmdError::raw("ERR value is out of range, must be positive"))? as usize)
    } else {
        None
    };
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let items = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_zpop(s, db, key, max, count.unwrap_or(1), now)
        })?;
    let mut r = ctx.reply();
    if count.is_some() {
        reply_pairs(&mut r, &items, true);
    } else {
        // One pop: a flat [member, score] in both protocols.
        r.array_header(items.len() * 2);
        for (m, s) in &items {
            r.bulk(m);
            r.double(*s);
        }
    }
    Ok(())
}

pub(crate) fn cmd_zpopmin(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    zpop_generic(ctx, args, false)
}

pub(crate) fn cmd_zpopmax(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    zpop_generic(ctx, args, true)
}

/// ZMPOP's arguments after the keys: (max, count).
pub fn parse_mpop_tail(args: &Args<'_>, from: usize) -> OpResult<(bool, usize)> {
    if from >= args.len() {
        return Err(CmdError::Syntax);
    }
    let dir = args.get(from);
    let max = if eq_ignore_case(dir, "min") {
        false
    } else if eq_ignore_case(dir, "max") {
        true
    } else {
        return Err(CmdError::Syntax);
    };
    let mut count = None;
    let mut i = from + 1;
    while i < args.len() {
        if count.is_none() && eq_ignore_case(args.get(i), "count") && i + 1 < args.len() {
            let n = parse_i64(args.get(i + 1)).ok().filter(|&n| n > 0);
            count = Some(n.ok_or(CmdError::raw("ERR count should be greater than 0"))? as usize);
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok((max, count.unwrap_or(1)))
}

/// The `numkeys` of ZMPOP-like commands: 1..=what the arguments hold.
pub fn parse_numkeys(args: &Args<'_>, at: usize, err: &str) -> OpResult<usize> {
    let n = parse_i64(args.get(at)).ok().filter(|&n| n > 0);
    let n = n.ok_or_else(|| CmdError::raw(err.to_string()))? as usize;
    if n > args.len() - at - 1 {
        return Err(CmdError::Syntax);
    }
    Ok(n)
}

/// What a key holds, for picking ZMPOP's source.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    Missing,
    WrongType,
    Ready,
}

pub(crate) fn cmd_zmpop(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let numkeys = parse_numkeys(args, 1, "ERR numkeys should be greater than 0")?;
    let (max, count) = parse_mpop_tail(args, 2 + numkeys)?;
    let keys: Vec<&[u8]> = (2..2 + numkeys).map(|i| args.get(i)).collect();
    let (db, now) = (ctx.db(), now_ms());
    let plan = KeyPlan::new(keys.iter().copied(), LockMode::Exclusive);
    let mut tx = ctx.exec.schedule(&plan);
    let shards = tx.shards().to_vec();
    let states = tx.execute(&shards, false, &|s| {
        let mut dbs = s.db.borrow_mut();
        plan.keys_of(s.index)
            .iter()
            .map(|&i| {
                let st = match dbs.find(db, keys[i], now) {
                    None => Source::Missing,
                    Some(v) if v.downcast_ref::<ZSetValue>().is_some() => Source::Ready,
                    Some(_) => Source::WrongType,
                };
                (i, st)
            })
            .collect::<Vec<_>>()
    });
    let mut by_key = vec![Source::Missing; keys.len()];
    for (i, st) in states.into_iter().flatten() {
        by_key[i] = st;
    }
    let picked = by_key.iter().position(|&s| s != Source::Missing);
    let result = match picked {
        Some(i) if by_key[i] == Source::WrongType => Err(CmdError::WrongType),
        Some(i) => {
            let shard =
                crate::shard::shard_of(key_hash(keys[i]), damselfly_runtime::proactor_count());
            let key = keys[i];
            let mut out = tx.execute(&[shard], false, &|s| op_zpop(s, db, key, max, count, now));
            out.pop().expect("one shard").map(|items| Some((i, items)))
        }
        None => Ok(None),
    };
    tx.conclude();
    let mut r = ctx.reply();
    match result? {
        None => r.null_array(),
        Some((i, items)) => {
            r.array_header(2);
            r.bulk(keys[i]);
            r.array_header(items.len());
            for (m, s) in &items {
                r.array_header(2);
                r.bulk(m);
                r.double(*s);
            }
        }
    }
    Ok(())
}

// ---- ZRANDMEMBER ------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn op_zrandmember(z: &ZSetValue, count: i64, seed: u64) -> Vec<(Vec<u8>, f64)> {
    let len = z.len();
    let mut rng = Rng(seed | 1);
    if count < 0 {
        let n = count.unsigned_abs() as usize;
        return (0..n)
            .map(|_| z.at(rng.below(len)).expect("rank in range"))
            .collect();
    }
    let n = count as usize;
    if n >= len {
        return z.to_pairs();
    }
    // Distinct ranks: a partial Fisher-Yates over rank indices when n is a large share,
    // else rejection sampling.
    let ranks: Vec<usize> = if n * 3 > len {
        let mut all: Vec<usize> = (0..len).collect();
        for i in 0..n {
            let j = i + rng.below(len - i);
            all.swap(i, j);
        }
        all.truncate(n);
        all
    } else {
        let mut seen = std::collections::HashSet::with_capacity(n);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let r = rng.below(len);
            if seen.insert(r) {
                out.push(r);
            }
        }
        out
    };
    ranks
        .into_iter()
        .map(|r| z.at(r).expect("rank in range"))
        .collect()
}

pub(crate) fn cmd_zrandmember(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let seed = random_seed();
    if args.len() == 2 {
        let v = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
            read_zset(s, db, key, now, |z| {
                z.map(|z| op_zrandmember(z, 1, seed).pop().expect("non-empty").0)
            })
        })?;
        let mut r = ctx.reply();
        match v {
            Some(m) => r.bulk(&m),
            None => r.null(),
        }
        return Ok(());
    }
    let count = parse_i64(args.get(2))?;
    if count == i64::MIN {
        return Err(CmdError::raw("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"));
    }
    if args.len() > 4 || (args.len() == 4 && !eq_ignore_case(args.get(3), "withscores")) {
        return Err(CmdError::Syntax);
    }
    let withscores = args.len() == 4;
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::raw("ERR value is out of range"));
    }
    let items = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        read_zset(s, db, key, now, |z| match z {
            Some(z) if count != 0 => op_zrandmember(z, count, seed),
            _ => Vec::new(),
        })
    })?;
    reply_pairs(&mut ctx.reply(), &items, withscores);
    Ok(())
}

// ---- ZSCAN ------------------------------------------------------------------------------

/// ZSCAN's COUNT and MATCH.
fn parse_scan_opts(args: &Args<'_>) -> OpResult<(usize, Option<GlobPattern>)> {
    crate::families::keyspace_family::parse_scan_options(args, 3)
}

pub(crate) fn cmd_zscan(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let cursor = std::str::from_utf8(args.get(2))
        .ok()
        .and_then(|c| c.parse::<u64>().ok())
        .ok_or(CmdError::raw("ERR invalid cursor"))?;
    // Redis looks the key up before it reads the options: a missing key answers an empty
    // scan whatever they say.
    let opts = parse_scan_opts(args);
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let (next, items) = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        read_zset(s, db, key, now, |z| {
            let mut items = Vec::new();
            let Some(z) = z else {
                return Ok((0, items));
            };
            let (count, pattern) = opts.clone()?;
            let next = z.scan(cursor, count, |m, sc| {
                if pattern.as_ref().is_none_or(|p| p.matches(m)) {
                    items.push((m.to_vec(), sc));
                }
            });
            Ok((next, items))
        })?
    })?;
    let mut r = ctx.reply();
    r.array_header(2);
    r.bulk(next.to_string().as_bytes());
    r.array_header(items.len() * 2);
    let mut text = Vec::with_capacity(32);
    for (m, s) in &items {
        r.bulk(m);
        text.clear();
        damselfly_protocol::numbers::write_double_g17(&mut text, *s);
        r.bulk(&text);
    }
    Ok(())
}
