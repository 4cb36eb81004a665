//! Sorted-set commands, part one: ZADD ZINCRBY ZREM ZCARD ZSCORE ZMSCORE ZRANK ZREVRANK, the
//! shared parsing (scores as Redis's strtod reads them), the shard-side lookups and the
//! registration of the whole family. Pops, ZRANDMEMBER and ZSCAN live in
//! [`super::zset_pops`], ranges in [`super::zset_range`], the multi-key algebra in
//! [`super::zset_algebra`].
//!
//! Replies follow Redis 7.0: scores through `addReplyDouble` (`%.17g`, a RESP3 double);
//! member/score pairs flat in RESP2 and as two-element arrays in RESP3.

use crate::args::{eq_ignore_case, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult, OpResult};
use crate::families::string_family::count_lookup;
use crate::families::typed;
use crate::notify::{self, class};
use crate::registry::{flags::*, CommandSpec};
use crate::shard::{key_hash, Shard};
use crate::tx::locks::LockMode;
use damselfly_protocol::{ReplyWriter, RespVersion};
use damselfly_shards::set_value::SetValue;
use damselfly_shards::zset::{Inserted, ZSetValue};

// The blocking pops (blocking_family) use these from here.
pub use super::zset_pops::{op_zpop, parse_mpop_tail, parse_numkeys};
use damselfly_shards::{CollectionLimits, CompactValue};

pub(crate) fn now_ms() -> u64 {
    crate::server::ProactorState::current().batch_now_ms.get()
}

/// Members with their scores, copied out of a set.
pub type Pairs = Vec<(Vec<u8>, f64)>;

// ---- parsing ----------------------------------------------------------------------------

/// What C's `strtod` reads from the start of `s`: (value, bytes consumed), 0 consumed when
/// nothing parses. Leading whitespace is skipped as strtod does; hex floats are read too.
pub fn strtod_prefix(s: &[u8]) -> (f64, usize) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let sign = if neg { -1.0 } else { 1.0 };
    let rest = &s[i..];
    let starts =
        |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    if starts(b"infinity") {
        return (sign * f64::INFINITY, i + 8);
    }
    if starts(b"inf") {
        return (sign * f64::INFINITY, i + 3);
    }
    if starts(b"nan") {
        return (f64::NAN, i + 3);
    }
    if starts(b"0x") {
        if let Some((v, n)) = hex_float(&rest[2..]) {
            return (sign * v, i + 2 + n);
        }
    }
    let digits_at = i;
    let mut mantissa_digits = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
        mantissa_digits += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
            mantissa_digits += 1;
        }
    }
    if mantissa_digits == 0 {
        return (0.0, 0);
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        let mut j = i + 1;
        if j < s.len() && (s[j] == b'+' || s[j] == b'-') {
            j += 1;
        }
        if j < s.len() && s[j].is_ascii_digit() {
            while j < s.len() && s[j].is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    // Rust's grammar takes what strtod took here ("5.", ".5", "1.e3"), without allocating.
    let text = std::str::from_utf8(&s[digits_at..i]).expect("ascii");
    let v: f64 = text.parse().unwrap_or(0.0);
    (sign * v, i)
}

/// `0x` hex float digits with an optional `p` exponent: (value, bytes consumed).
fn hex_float(s: &[u8]) -> Option<(f64, usize)> {
    let (mut v, mut i, mut digits, mut scale) = (0f64, 0, 0, 0i32);
    let mut seen_dot = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !seen_dot {
            seen_dot = true;
        } else if let Some(d) = (c as char).to_digit(16) {
            v = v * 16.0 + d as f64;
            digits += 1;
            if seen_dot {
                scale -= 4;
            }
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if i < s.len() && (s[i] == b'p' || s[i] == b'P') {
        let mut j = i + 1;
        let neg = j < s.len() && s[j] == b'-';
        if j < s.len() && (s[j] == b'+' || s[j] == b'-') {
            j += 1;
        }
        let from = j;
        let mut e = 0i32;
        while j < s.len() && s[j].is_ascii_digit() {
            e = e.saturating_mul(10).saturating_add((s[j] - b'0') as i32);
            j += 1;
        }
        if j > from {
            scale += if neg { -e } else { e };
            i = j;
        }
    }
    Some((v * 2f64.powi(scale), i))
}

/// Redis's `getDoubleFromObject`: the whole argument is a number, no leading space, no NaN,
/// no overflow to infinity from a finite literal, no underflow to zero.
pub fn parse_score_strict(a: &[u8]) -> Option<f64> {
    // Most scores are short decimal integers: up to 15 digits convert exactly, as strtod
    // would convert them, without the general parse.
    let (neg, digits) = match a.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, a),
    };
    if !digits.is_empty() && digits.len() <= 15 && digits.iter().all(u8::is_ascii_digit) {
        let whole = digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')) as f64;
        return Some(if neg { -whole } else { whole });
    }
    if a.is_empty() || a[0].is_ascii_whitespace() || a[0] == 0x0b || a[0] == 0x0c {
        return None;
    }
    let (v, n) = strtod_prefix(a);
    if n != a.len() || v.is_nan() {
        return None;
    }
    let literal_inf = a.iter().any(|b| b.eq_ignore_ascii_case(&b'i'));
    if v.is_infinite() && !literal_inf {
        return None;
    }
    if v == 0.0 && a.iter().any(|b| (b'1'..=b'9').contains(b)) {
        // Underflow (strtod's ERANGE with a zero result); "0e5" has no non-zero digit...
        // ...but a non-zero digit after the exponent mark alone is not a mantissa digit.
        let mantissa_end = a
            .iter()
            .position(|&b| b == b'e' || b == b'E' || b == b'p' || b == b'P')
            .unwrap_or(a.len());
        let hex = a.len() > 2 && a[..3].iter().any(|b| *b == b'x' || *b == b'X');
        let m = &a[..mantissa_end];
        let nonzero = if hex {
            m.iter()
                .skip(2)
                .any(|b| b.is_ascii_hexdigit() && *b != b'0')
        } else {
            m.iter().any(|b| (b'1'..=b'9').contains(b))
        };
        if nonzero {
            return None;
        }
    }
    Some(v)
}

pub fn parse_score(a: &[u8]) -> OpResult<f64> {
    parse_score_strict(a).ok_or(CmdError::NotFloat)
}

/// A score bound as `zslParseRange` reads one: `(` for exclusive, then strtod up to the end
/// (or a NUL byte); NaN is refused.
pub fn parse_score_bound(a: &[u8]) -> Option<(f64, bool)> {
    let (excl, body) = match a.first() {
        Some(b'(') => (true, &a[1..]),
        _ => (false, a),
    };
    let (v, n) = strtod_prefix(body);
    if (n < body.len() && body[n] != 0) || v.is_nan() {
        return None;
    }
    Some((v, excl))
}

// ---- replies ----------------------------------------------------------------------------

/// A score as Redis's `addReplyDouble` sends it (for BZPOPMIN and friends too).
pub fn reply_score(r: &mut ReplyWriter<'_>, score: f64) {
    r.double(score);
}

/// Members, with their scores when `withscores`: flat in RESP2, pairs in RESP3.
pub fn reply_pairs(r: &mut ReplyWriter<'_>, items: &[(Vec<u8>, f64)], withscores: bool) {
    let nested = withscores && r.version() == RespVersion::Resp3;
    r.array_header(if withscores && !nested {
        items.len() * 2
    } else {
        items.len()
    });
    for (m, s) in items {
        if nested {
            r.array_header(2);
        }
        r.bulk(m);
        if withscores {
            r.double(*s);
        }
    }
}

/// Streams pairs into a reply whose length is known up front.
pub struct PairWriter<'a> {
    pub r: ReplyWriter<'a>,
    withscores: bool,
    nested: bool,
}

impl<'a> PairWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>, resp: RespVersion, count: usize, withscores: bool) -> Self {
        let mut r = ReplyWriter::new(out, resp);
        let nested = withscores && resp == RespVersion::Resp3;
        r.array_header(if withscores && !nested {
            count * 2
        } else {
            count
        });
        PairWriter {
            r,
            withscores,
            nested,
        }
    }

    pub fn push(&mut self, member: &[u8], score: f64) {
        if self.nested {
            self.r.array_header(2);
        }
        self.r.bulk(member);
        if self.withscores {
            self.r.double(score);
        }
    }
}

// ---- shard side: lookups ----------------------------------------------------------------

/// The zset in a value, or WRONGTYPE.
pub fn zset_of(v: &CompactValue) -> OpResult<&ZSetValue> {
    typed::typed_of(v)
}

/// Runs `f` on the zset at `key` (None when missing), counting the read lookup.
pub fn read_zset<R>(
    shard: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
    f: impl FnOnce(Option<&ZSetValue>) -> R,
) -> OpResult<R> {
    typed::read_typed_or_missing(shard, db, key, now, f)
}

/// Runs `f` on the existing zset at `key` for a write, deleting the key if it is left
/// empty. Ok(None) when the key is missing.
pub fn write_zset<R>(
    shard: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
    f: impl FnOnce(&mut ZSetValue) -> R,
) -> OpResult<Option<R>> {
    typed::write_typed(shard, db, key, now, f)
}

/// [`write_zset`] for writes that may change nothing: `unchanged` answers first, from a read,
/// when nothing would change, so the key is not counted as modified (WATCH), as Redis does
/// not signal it.
pub fn write_zset_when<R>(
    shard: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
    unchanged: impl FnOnce(&ZSetValue) -> Option<R>,
    f: impl FnOnce(&mut ZSetValue) -> R,
) -> OpResult<Option<R>> {
    typed::write_typed_when(shard, db, key, now, unchanged, f)
}

/// Replaces whatever `key` holds with a zset of `pairs` (deleting the key when empty), in
/// the encoding Redis would pick for that content. Returns the member count. With `event`
/// (a STORE command's), raises it, or `del` when an existing key was deleted.
pub fn store_pairs(
    shard: &Shard,
    db: usize,
    key: &[u8],
    pairs: &[(Vec<u8>, f64)],
    limits: &CollectionLimits,
    now: u64,
    event: Option<&str>,
) -> usize {
    let mut dbs = shard.db.borrow_mut();
    if pairs.is_empty() {
        if dbs.delete(db, key, now).is_some() && event.is_some() {
            notify::keyspace_event(class::GENERIC, "del", key, db);
        }
        return 0;
    }
    let max_len = pairs.iter().map(|p| p.0.len()).max().unwrap_or(0);
    let mut z = ZSetValue::for_size(pairs.len(), max_len, limits);
    for (m, s) in pairs {
        z.insert(m, *s, limits);
    }
    let n = z.len();
    // Overwritten in place: an existing key raises no `new`, as in Redis's setKey.
    dbs.store(db, key, CompactValue::from_object(Box::new(z)), now);
    if let Some(event) = event {
        notify::keyspace_event(class::ZSET, event, key, db);
    }
    n
}

/// A set-or-zset source of the algebra commands, read as (member, score) pairs (a set's
/// members score 1): None when missing, WRONGTYPE for other types. `count` says whether the
/// read counts as a lookup.
pub fn op_read_source(
    shard: &Shard,
    db: usize,
    key: &[u8],
    count: bool,
    now: u64,
) -> OpResult<Option<Pairs>> {
    let mut dbs = shard.db.borrow_mut();
    let found = dbs.find(db, key, now);
    if count {
        count_lookup(found.is_some());
    }
    let Some(v) = found else {
        return Ok(None);
    };
    if let Some(z) = v.downcast_ref::<ZSetValue>() {
        return Ok(Some(z.to_pairs()));
    }
    // A set's members all score 1, as Redis reads a set source.
    if let Some(set) = v.downcast_ref::<SetValue>() {
        let mut out = Vec::with_capacity(set.len());
        set.for_each(|m| out.push((m.to_vec(), 1.0)));
        return Ok(Some(out));
    }
    Err(CmdError::WrongType)
}

// ---- ZADD / ZINCRBY ---------------------------------------------------------------------

#[derive(Clone, Copy, Default)]
pub(crate) struct ZaddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub ch: bool,
    pub incr: bool,
}

/// What ZADD answers (GEOADD shares it).
pub(crate) enum ZaddOut {
    Count(i64),
    /// INCR: the new score, or None when nothing was done.
    Score(Option<f64>),
}

const NAN_ERR: &str = "ERR resulting score is not a number (NaN)";

/// What ZADD answers when it would change nothing in the existing `z` (so the write is not
/// made, and WATCH is not broken); None as soon as one pair would change the set. Exact in
/// that case: the pairs before the first change saw the set as it is.
fn zadd_unchanged(
    z: &ZSetValue,
    f: ZaddFlags,
    pairs: &[(f64, &[u8])],
) -> Option<OpResult<ZaddOut>> {
    let (mut processed, mut last) = (0, 0.0);
    for &(score, member) in pairs {
        match z.score(member) {
            Some(cur) => {
                if f.nx {
                    continue;
                }
                let mut new = score;
                if f.incr {
                    new += cur;
                    if new.is_nan() {
                        return Some(Err(CmdError::raw(NAN_ERR)));
                    }
                }
                last = new;
                if (f.lt && new >= cur) || (f.gt && new <= cur) {
                    continue;
                }
                processed += 1;
                if new != cur {
                    return None;
                }
            }
            None if f.xx => {}
            None => return None,
        }
    }
    Some(Ok(if f.incr {
        ZaddOut::Score((processed > 0).then_some(last))
    } else {
        ZaddOut::Count(0)
    }))
}

pub(crate) fn op_zadd(
    shard: &Shard,
    db: usize,
    key: &[u8],
    f: ZaddFlags,
    pairs: &[(f64, &[u8])],
    limits: &CollectionLimits,
    now: u64,
) -> OpResult<ZaddOut> {
    let mut dbs = shard.db.borrow_mut();
    let none = if f.incr {
        ZaddOut::Score(None)
    } else {
        ZaddOut::Count(0)
    };
    match dbs.find(db, key, now) {
        Some(v) => {
            if let Some(out) = zadd_unchanged(zset_of(v)?, f, pairs) {
                return out;
            }
        }
        None if f.xx => return Ok(none),
        None => {}
    }
    let mut slot = if f.xx {
        match dbs.find_mut(db, key, now) {
            None => return Ok(none),
            Some(slot) => slot,
        }
    } else {
        let (mut slot, is_new) = dbs.add_or_find(db, key, now);
        if is_new {
            let z = ZSetValue::for_size(1, pairs[0].1.len(), limits);
            *slot = CompactValue::from_object(Box::new(z));
        }
        slot
    };
    zset_of(&slot)?;
    let z = slot.downcast_mut::<ZSetValue>().expect("checked");
    let (mut added, mut updated, mut processed) = (0, 0, 0);
    let mut last = 0.0;
    let plain = !(f.nx || f.xx || f.gt || f.lt || f.incr);
    for &(score, member) in pairs {
        if plain {
            match z.insert(member, score, limits) {
                Inserted::Added => added += 1,
                Inserted::Updated(_) => updated += 1,
                Inserted::Unchanged => {}
            }
            continue;
        }
        match z.score(member) {
            Some(cur) => {
                if f.nx {
                    continue;
                }
                let mut new = score;
                if f.incr {
                    new += cur;
                    if new.is_nan() {
                        return Err(CmdError::raw(NAN_ERR));
                    }
                }
                last = new;
                if (f.lt && new >= cur) || (f.gt && new <= cur) {
                    continue;
                }
                processed += 1;
                if new != cur {
                    z.insert(member, new, limits);
                    updated += 1;
                }
            }
            None => {
                if f.xx {
                    continue;
                }
                z.insert(member, score, limits);
                added += 1;
                processed += 1;
                last = score;
            }
        }
    }
    drop(slot);
    if added + updated > 0 {
        let event = if f.incr { "zincr" } else { "zadd" };
        notify::keyspace_event(class::ZSET, event, key, db);
    }
    Ok(if f.incr {
        ZaddOut::Score((processed > 0).then_some(last))
    } else {
        ZaddOut::Count(if f.ch { added + updated } else { added })
    })
}

fn zadd_generic(ctx: &mut CmdCtx<'_>, args: &Args<'_>, mut f: ZaddFlags, from: usize) -> CmdResult {
    let mut i = from;
    while i < args.len() {
        let a = args.get(i);
        match () {
            _ if eq_ignore_case(a, "nx") => f.nx = true,
            _ if eq_ignore_case(a, "xx") => f.xx = true,
            _ if eq_ignore_case(a, "gt") => f.gt = true,
            _ if eq_ignore_case(a, "lt") => f.lt = true,
            _ if eq_ignore_case(a, "ch") => f.ch = true,
            _ if eq_ignore_case(a, "incr") => f.incr = true,
            _ => break,
        }
        i += 1;
    }
    let elements = args.len() - i;
    if elements == 0 || elements % 2 == 1 {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::raw(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::raw(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && elements > 2 {
        return Err(CmdError::raw(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut pairs = Vec::with_capacity(elements / 2);
    for j in (i..args.len()).step_by(2) {
        pairs.push((parse_score(args.get(j))?, args.get(j + 1)));
    }
    let (db, key, now, limits) = (ctx.db(), args.get(1), now_ms(), ctx.limits());
    let out = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_zadd(s, db, key, f, &pairs, &limits, now)
        })?;
    let mut r = ctx.reply();
    match out {
        ZaddOut::Count(n) => r.integer(n),
        ZaddOut::Score(Some(s)) => r.double(s),
        ZaddOut::Score(None) => r.null(),
    }
    Ok(())
}

fn cmd_zadd(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    zadd_generic(ctx, args, ZaddFlags::default(), 2)
}

fn cmd_zincrby(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let f = ZaddFlags {
        incr: true,
        ..ZaddFlags::default()
    };
    zadd_generic(ctx, args, f, 2)
}

// ---- simple reads and ZREM --------------------------------------------------------------

fn cmd_zrem(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let n = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            write_zset_when(
                s,
                db,
                key,
                now,
                |z| args.rest(2).all(|m| z.score(m).is_none()).then_some(0),
                |z| {
                    let removed = args.rest(2).filter(|m| z.remove(m)).count() as i64;
                    notify::keyspace_event(class::ZSET, "zrem", key, db);
                    removed
                },
            )
        })?;
    ctx.reply().integer(n.unwrap_or(0));
    Ok(())
}

fn cmd_zcard(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let n = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        read_zset(s, db, key, now, |z| z.map_or(0, |z| z.len()))
    })?;
    ctx.reply().integer(n as i64);
    Ok(())
}

fn cmd_zscore(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now, member) = (ctx.db(), args.get(1), now_ms(), args.get(2));
    let v = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        read_zset(s, db, key, now, |z| z.and_then(|z| z.score(member)))
    })?;
    let mut r = ctx.reply();
    match v {
        Some(s) => r.double(s),
        None => r.null(),
    }
    Ok(())
}

fn cmd_zmscore(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let v = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        read_zset(s, db, key, now, |z| {
            args.rest(2)
                .map(|m| z.and_then(|z| z.score(m)))
                .collect::<Vec<_>>()
        })
    })?;
    let mut r = ctx.reply();
    r.array_header(v.len());
    for s in v {
        match s {
            Some(s) => r.double(s),
            None => r.null(),
        }
    }
    Ok(())
}

fn zrank_generic(ctx: &mut CmdCtx<'_>, args: &Args<'_>, rev: bool) -> CmdResult {
    let (db, key, now, member) = (ctx.db(), args.get(1), now_ms(), args.get(2));
    let v = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        read_zset(s, db, key, now, |z| {
            let z = z?;
            let (r, _) = z.rank(member)?;
            Some(if rev { z.len() - 1 - r } else { r })
        })
    })?;
    let mut r = ctx.reply();
    match v {
        Some(n) => r.integer(n as i64),
        None => r.null(),
    }
    Ok(())
}

fn cmd_zrank(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    zrank_generic(ctx, args, false)
}

fn cmd_zrevrank(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    zrank_generic(ctx, args, true)
}

pub fn commands() -> Vec<CommandSpec> {
    let c = |name, arity, flags, handler, summary, since, keys: (i32, i32, i32)| CommandSpec {
        name,
        arity,
        flags,
        acl: if flags & WRITE != 0 {
            &["@write", "@sortedset"]
        } else {
            &["@read", "@sortedset"]
        },
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        group: "sorted_set",
        summary,
        since,
        handler,
        subcommands: Vec::new(),
    };
    let one = (1, 1, 1);
    let mut v = vec![
        c("zadd", -4, WRITE | DENYOOM | FAST, cmd_zadd as _, "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", "1.2.0", one),
        c("zincrby", 4, WRITE | DENYOOM | FAST, cmd_zincrby, "Increments the score of a member in a sorted set.", "1.2.0", one),
        c("zrem", -3, WRITE | FAST, cmd_zrem, "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", "1.2.0", one),
        c("zcard", 2, READONLY | FAST, cmd_zcard, "Returns the number of members in a sorted set.", "1.2.0", one),
        c("zscore", 3, READONLY | FAST, cmd_zscore, "Returns the score of a member in a sorted set.", "1.2.0", one),
        c("zmscore", -3, READONLY | FAST, cmd_zmscore, "Returns the score of one or more members in a sorted set.", "6.2.0", one),
        c("zrank", 3, READONLY | FAST, cmd_zrank, "Returns the index of a member in a sorted set ordered by ascending scores.", "2.0.0", one),
        c("zrevrank", 3, READONLY | FAST, cmd_zrevrank, "Returns the index of a member in a sorted set ordered by descending scores.", "2.0.0", one),
        c("zpopmin", -2, WRITE | FAST, super::zset_pops::cmd_zpopmin, "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "5.0.0", one),
        c("zpopmax", -2, WRITE | FAST, super::zset_pops::cmd_zpopmax, "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", "5.0.0", one),
        c("zmpop", -4, WRITE, super::zset_pops::cmd_zmpop, "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", "7.0.0", (0, 0, 0)),
        c("zrandmember", -2, READONLY, super::zset_pops::cmd_zrandmember, "Returns one or more random members from a sorted set.", "6.2.0", one),
        c("zscan", -3, READONLY, super::zset_pops::cmd_zscan, "Iterates over members and scores of a sorted set.", "2.8.0", one),
    ];
    v.extend(super::zset_range::commands(c));
    v.extend(super::zset_algebra::commands(c));
    v
}

/// The registration helper's shape, shared with the split files.
pub type SpecFn = fn(
    &'static str,
    i32,
    u32,
    crate::registry::Handler,
    &'static str,
    &'static str,
    (i32, i32, i32),
) -> CommandSpec;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_scores_follow_getdoublefromobject() {
        for (t, want) in [
            ("1", Some(1.0)),
            ("-1.5", Some(-1.5)),
            ("+inf", Some(f64::INFINITY)),
            ("-Infinity", Some(f64::NEG_INFINITY)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("1e3", Some(1000.0)),
            ("0x10", Some(16.0)),
            ("1e400", None),
            ("1e-400", None),
            ("0e5", Some(0.0)),
            ("nan", None),
            (" 1", None),
            ("1 ", None),
            ("", None),
            ("abc", None),
            ("1e", None),
            ("1.e3", Some(1000.0)),
            ("1E3", Some(1000.0)),
            ("-.5", Some(-0.5)),
            (".e3", None),
            ("-", None),
            ("007", Some(7.0)),
            ("-42", Some(-42.0)),
            ("999999999999999", Some(999_999_999_999_999.0)),
            ("12345678901234567890", Some(12_345_678_901_234_567_890.0)),
        ] {
            assert_eq!(parse_score_strict(t.as_bytes()), want, "{t}");
        }
        assert!(parse_score_strict(b"-0").unwrap().is_sign_negative());
    }

    #[test]
    fn bounds_follow_zslparserange() {
        assert_eq!(parse_score_bound(b"(1.5"), Some((1.5, true)));
        assert_eq!(parse_score_bound(b"("), Some((0.0, true)));
        assert_eq!(parse_score_bound(b"-inf"), Some((f64::NEG_INFINITY, false)));
        assert_eq!(parse_score_bound(b"1e400"), Some((f64::INFINITY, false)));
        assert_eq!(parse_score_bound(b" 3"), Some((3.0, false)));
        assert_eq!(parse_score_bound(b"x"), None);
        assert_eq!(parse_score_bound(b"nan"), None);
    }
}
