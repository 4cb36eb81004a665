//! String commands: GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX MGET MSET MSETNX APPEND
//! STRLEN INCR DECR INCRBY DECRBY INCRBYFLOAT GETRANGE SUBSTR SETRANGE LCS.
//!
//! After a write changes a key: the table bumps the key's watch version (WATCH), the shard's
//! counters move with the table, and the op raises the keyspace events Redis raises for it
//! (`notify::keyspace_event`, on the key's shard, after the write); the journal will hook in
//! here too.
//!
//! Reads count INFO's keyspace_hits/keyspace_misses on the shard that looked the key up
//! ([`count_lookup`]), exactly where Redis's `lookupKeyRead` counts: GET MGET GETEX GETDEL
//! GETSET `SET ... GET` STRLEN GETRANGE LCS, never the lookups of plain writes.

use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult, OpResult};
use crate::keys::KeyPlan;
use crate::long_double::LongDouble;
use crate::notify::{self, class};
use crate::registry::{flags::*, CommandSpec};
use crate::server::{ProactorState, ProactorStats};
use crate::shard::{key_hash, Shard};
use crate::tx::locks::LockMode;
use damselfly_shards::cell::CellFlags;
use damselfly_shards::{CompactValue, ObjType};

/// The string bytes of a value, or WRONGTYPE.
pub fn string_of(v: &CompactValue) -> OpResult<Vec<u8>> {
    v.to_vec().ok_or(CmdError::WrongType)
}

/// The batch's wall clock (see `ProactorState::batch_now_ms`).
fn now_ms() -> u64 {
    crate::server::ProactorState::current().batch_now_ms.get()
}

/// SETRANGE and APPEND past `proto-max-bulk-len` (Redis's `checkStringLength`).
pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

/// Counts one read lookup in INFO's keyspace_hits or keyspace_misses. Runs on the proactor
/// that looked the key up (inside an `op_*`), once per looked-up key.
pub fn count_lookup(hit: bool) {
    if let Some(ps) = damselfly_runtime::local::<ProactorState>() {
        let counter = if hit {
            &ps.stats.keyspace_hits
        } else {
            &ps.stats.keyspace_misses
        };
        ProactorStats::bump(counter, 1);
    }
}

/// The current `proto-max-bulk-len`: the largest string a command may build.
pub fn max_bulk_len(ctx: &CmdCtx<'_>) -> u64 {
    ctx.server.client_limits.refresh(&ctx.server.config);
    ctx.server.client_limits.bulk_len_max() as u64
}

/// Redis's `checkStringLength`: a string of `len + append` bytes must fit the limit.
fn check_string_length(len: u64, append: u64, limit: u64) -> OpResult<()> {
    if len as u128 + append as u128 > limit as u128 {
        return Err(CmdError::raw(STRING_TOO_LONG));
    }
    Ok(())
}

/// Redis's GETRANGE/BITCOUNT index rules: negative indexes count from the end, both ends are
/// clamped, `end` is inclusive. None when the range is empty.
pub fn clamp_range(len: i64, start: i64, end: i64) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let (len, mut start, mut end) = (len as i128, start as i128, end as i128);
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return None;
    }
    Some((start as usize, end as usize))
}

// ---- shard side ------------------------------------------------------------------------

/// A read of one string: counts the lookup, WRONGTYPE for typed values.
pub fn op_get(shard: &Shard, db: usize, key: &[u8], now: u64) -> OpResult<Option<Vec<u8>>> {
    let mut dbs = shard.db.borrow_mut();
    let found = dbs.find(db, key, now);
    count_lookup(found.is_some());
    match found {
        None => Ok(None),
        Some(v) => string_of(v).map(Some),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Cond {
    Always,
    IfMissing,
    IfExists,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ttl {
    /// Drop any deadline.
    Clear,
    Keep,
    At(u64),
}

/// How a SET writes: its condition, what happens to the deadline, whether it returns the
/// previous value.
#[derive(Clone, Copy)]
struct SetMode {
    cond: Cond,
    ttl: Ttl,
    get: bool,
}

impl SetMode {
    /// Plain SET: always, dropping any deadline.
    const PLAIN: SetMode = SetMode {
        cond: Cond::Always,
        ttl: Ttl::Clear,
        get: false,
    };
}

struct SetOutcome {
    done: bool,
    /// With GET: the previous value.
    old: Option<Vec<u8>>,
}

fn op_set(
    shard: &Shard,
    db: usize,
    key: &[u8],
    value: &[u8],
    mode: SetMode,
    now: u64,
) -> OpResult<SetOutcome> {
    let SetMode { cond, ttl, get } = mode;
    let mut dbs = shard.db.borrow_mut();
    let mut old = None;
    let found = dbs.find(db, key, now);
    if get {
        count_lookup(found.is_some());
    }
    let exists = match found {
        None => false,
        Some(v) => {
            if get {
                old = Some(string_of(v)?);
            }
            true
        }
    };
    if (cond == Cond::IfMissing && exists) || (cond == Cond::IfExists && !exists) {
        return Ok(SetOutcome { done: false, old });
    }
    let had_deadline = {
        let (mut slot, _) = dbs.add_or_find(db, key, now);
        *slot = CompactValue::from_bytes(value);
        slot.key().has_flag(CellFlags::HAS_EXPIRY)
    };
    match ttl {
        Ttl::At(deadline) => {
            dbs.set_expiry(db, key, deadline, now);
        }
        Ttl::Clear if had_deadline => {
            dbs.clear_expiry(db, key, now);
        }
        _ => {}
    }
    drop(dbs);
    notify::keyspace_event(class::STRING, "set", key, db);
    if matches!(ttl, Ttl::At(_)) {
        notify::keyspace_event(class::GENERIC, "expire", key, db);
    }
    Ok(SetOutcome { done: true, old })
}

/// Adds `delta` to an integer value (missing counts as 0).
fn op_incr(shard: &Shard, db: usize, key: &[u8], delta: i64, now: u64) -> OpResult<i64> {
    let mut dbs = shard.db.borrow_mut();
    let (mut slot, is_new) = dbs.add_or_find(db, key, now);
    let current = if is_new {
        0
    } else {
        match slot.as_int() {
            Some(v) => v,
            None => {
                let bytes = slot.to_vec().ok_or(CmdError::WrongType)?;
                parse_i64(&bytes)?
            }
        }
    };
    let next = current.checked_add(delta).ok_or(CmdError::Overflow);
    match next {
        Ok(n) => {
            *slot = CompactValue::from_int(n);
            drop(slot);
            notify::keyspace_event(class::STRING, "incrby", key, db);
            Ok(n)
        }
        Err(e) => {
            drop(slot);
            if is_new {
                dbs.delete(db, key, now);
            }
            Err(e)
        }
    }
}

fn op_incr_float(
    shard: &Shard,
    db: usize,
    key: &[u8],
    delta: LongDouble,
    now: u64,
) -> OpResult<Vec<u8>> {
    let mut dbs = shard.db.borrow_mut();
    let current = match dbs.find(db, key, now) {
        None => LongDouble::ZERO,
        Some(v) => LongDouble::parse(&string_of(v)?).ok_or(CmdError::NotFloat)?,
    };
    let next = current + delta;
    if !next.is_finite() {
        return Err(CmdError::raw("ERR increment would produce NaN or Infinity"));
    }
    let text = next.to_human();
    let (mut slot, _) = dbs.add_or_find(db, key, now);
    *slot = CompactValue::from_bytes(text.as_bytes());
    drop(slot);
    notify::keyspace_event(class::STRING, "incrbyfloat", key, db);
    Ok(text.into_bytes())
}

fn op_append(
    shard: &Shard,
    db: usize,
    key: &[u8],
    tail: &[u8],
    limit: u64,
    now: u64,
) -> OpResult<i64> {
    let mut dbs = shard.db.borrow_mut();
    if let Some(v) = dbs.find(db, key, now) {
        if v.obj_type() != ObjType::String {
            return Err(CmdError::WrongType);
        }
        check_string_length(v.str_len() as u64, tail.len() as u64, limit)?;
    }
    let (mut slot, is_new) = dbs.add_or_find(db, key, now);
    let len = if is_new {
        *slot = CompactValue::from_bytes(tail);
        tail.len()
    } else {
        // In place: a run of appends to one key costs O(total appended), not O(n^2).
        slot.append(tail).expect("checked to be a string")
    };
    drop(slot);
    notify::keyspace_event(class::STRING, "append", key, db);
    Ok(len as i64)
}

/// GETEX's expiry change.
#[derive(Clone, Copy)]
enum GetexTtl<'a> {
    Keep,
    Persist,
    /// EX/PX/EXAT/PXAT with its unvalidated argument (Redis checks it after the lookup).
    Expire {
        unit_ms: i64,
        absolute: bool,
        arg: &'a [u8],
    },
}

fn op_getex(
    shard: &Shard,
    db: usize,
    key: &[u8],
    ttl: GetexTtl<'_>,
    now: u64,
) -> OpResult<Option<Vec<u8>>> {
    let mut dbs = shard.db.borrow_mut();
    let value = {
        let found = dbs.find(db, key, now);
        count_lookup(found.is_some());
        match found {
            None => return Ok(None),
            Some(v) => string_of(v)?,
        }
    };
    match ttl {
        GetexTtl::Keep => {}
        GetexTtl::Persist => {
            if dbs.clear_expiry(db, key, now) {
                notify::keyspace_event(class::GENERIC, "persist", key, db);
            }
        }
        GetexTtl::Expire {
            unit_ms,
            absolute,
            arg,
        } => {
            let at = deadline_from(unit_ms, absolute, arg, now, "getex")?;
            // An absolute deadline already passed deletes the key (Redis's checkAlreadyExpired).
            if absolute && at <= now {
                dbs.delete(db, key, now);
                notify::keyspace_event(class::GENERIC, "del", key, db);
            } else {
                dbs.set_expiry(db, key, at, now);
                notify::keyspace_event(class::GENERIC, "expire", key, db);
            }
        }
    }
    Ok(Some(value))
}

fn op_getrange(
    shard: &Shard,
    db: usize,
    key: &[u8],
    start: i64,
    end: i64,
    now: u64,
) -> OpResult<Vec<u8>> {
    let mut dbs = shard.db.borrow_mut();
    let found = dbs.find(db, key, now);
    count_lookup(found.is_some());
    let Some(v) = found else {
        return Ok(Vec::new());
    };
    let bytes = v.as_bytes().ok_or(CmdError::WrongType)?;
    Ok(match clamp_range(bytes.len() as i64, start, end) {
        Some((from, to)) => bytes[from..=to].to_vec(),
        None => Vec::new(),
    })
}

fn op_setrange(
    shard: &Shard,
    db: usize,
    key: &[u8],
    offset: usize,
    value: &[u8],
    limit: u64,
    now: u64,
) -> OpResult<i64> {
    let mut dbs = shard.db.borrow_mut();
    match dbs.find(db, key, now) {
        None if value.is_empty() => return Ok(0),
        None => check_string_length(offset as u64, value.len() as u64, limit)?,
        Some(v) => {
            if v.obj_type() != ObjType::String {
                return Err(CmdError::WrongType);
            }
            if value.is_empty() {
                return Ok(v.str_len() as i64);
            }
            check_string_length(offset as u64, value.len() as u64, limit)?;
        }
    }
    let end = offset + value.len();
    let (mut slot, is_new) = dbs.add_or_find(db, key, now);
    let len = if is_new {
        let mut bytes = vec![0; end];
        bytes[offset..].copy_from_slice(value);
        *slot = CompactValue::from_bytes(&bytes);
        end
    } else {
        let bytes = slot.string_mut(end).expect("checked to be a string");
        bytes[offset..end].copy_from_slice(value);
        bytes.len()
    };
    drop(slot);
    notify::keyspace_event(class::STRING, "setrange", key, db);
    Ok(len as i64)
}

// ---- coordinator side ------------------------------------------------------------------

fn cmd_get(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    #[cfg(feature = "sim-mutations")]
    let now = if damselfly_runtime::sim::mutation("expired-key-served") {
        // Planted bug: GET judges expiry by a clock one second late.
        now.saturating_sub(1000)
    } else {
        now
    };
    let v = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        op_get(s, db, key, now)
    })?;
    match v {
        Some(v) => ctx.reply().bulk(&v),
        None => ctx.reply().null(),
    }
    Ok(())
}

/// Parses EX/PX/EXAT/PXAT values into an absolute deadline, with Redis's checks.
pub fn deadline_from(
    unit_ms: i64,
    absolute: bool,
    arg: &[u8],
    now: u64,
    cmd: &str,
) -> OpResult<u64> {
    let v = parse_i64(arg)?;
    if v <= 0 {
        return Err(CmdError::InvalidExpire(cmd.into()));
    }
    let ms = v
        .checked_mul(unit_ms)
        .ok_or(CmdError::InvalidExpire(cmd.into()))?;
    let at = if absolute {
        Some(ms)
    } else {
        ms.checked_add(now as i64)
    };
    at.map(|a| a as u64)
        .ok_or(CmdError::InvalidExpire(cmd.into()))
}

/// EX PX EXAT PXAT: (name, unit in ms, absolute).
const EXPIRE_UNITS: [(&str, i64, bool); 4] = [
    ("ex", 1000, false),
    ("px", 1, false),
    ("exat", 1000, true),
    ("pxat", 1, true),
];

/// Options of SET and GETEX, parsed like Redis's `parseExtendedStringArgumentsOrReply`: a
/// repeated option is allowed (the last expire wins), conflicting ones are a syntax error.
#[derive(Default)]
struct StringOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// Index into [`EXPIRE_UNITS`] and the unvalidated value.
    expire: Option<(usize, &'a [u8])>,
}

impl StringOpts<'_> {
    /// `for_set`: SET's options (NX XX GET KEEPTTL), else GETEX's (PERSIST).
    fn parse<'a>(args: &Args<'a>, from: usize, for_set: bool) -> OpResult<StringOpts<'a>> {
        let mut o = StringOpts::default();
        let mut i = from;
        while i < args.len() {
            let opt = args.get(i);
            let next = (i + 1 < args.len()).then(|| args.get(i + 1));
            let unit = EXPIRE_UNITS
                .iter()
                .position(|(name, _, _)| eq_ignore_case(opt, name));
            if for_set && eq_ignore_case(opt, "nx") && !o.xx {
                o.nx = true;
            } else if for_set && eq_ignore_case(opt, "xx") && !o.nx {
                o.xx = true;
            } else if for_set && eq_ignore_case(opt, "get") {
                o.get = true;
            } else if for_set && eq_ignore_case(opt, "keepttl") && o.expire.is_none() {
                o.keepttl = true;
            } else if !for_set && eq_ignore_case(opt, "persist") && o.expire.is_none() {
                o.persist = true;
            } else if let (Some(u), Some(v)) = (unit, next) {
                let other_unit = o.expire.is_some_and(|(e, _)| e != u);
                if o.keepttl || o.persist || other_unit {
                    return Err(CmdError::Syntax);
                }
                o.expire = Some((u, v));
                i += 1;
            } else {
                return Err(CmdError::Syntax);
            }
            i += 1;
        }
        Ok(o)
    }
}

fn cmd_set(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let now = now_ms();
    let o = StringOpts::parse(args, 3, true)?;
    let cond = match (o.nx, o.xx) {
        (true, _) => Cond::IfMissing,
        (_, true) => Cond::IfExists,
        _ => Cond::Always,
    };
    // Like Redis: every option is parsed first, the expire value validated after.
    let ttl = match o.expire {
        Some((u, v)) => {
            let (_, unit_ms, absolute) = EXPIRE_UNITS[u];
            Ttl::At(deadline_from(unit_ms, absolute, v, now, "set")?)
        }
        None if o.keepttl => Ttl::Keep,
        None => Ttl::Clear,
    };
    let get = o.get;
    let (db, key, value) = (ctx.db(), args.get(1), args.get(2));
    let out = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_set(s, db, key, value, SetMode { cond, ttl, get }, now)
        })?;
    let mut r = ctx.reply();
    if get {
        match out.old {
            Some(v) => r.bulk(&v),
            None => r.null(),
        }
    } else if out.done {
        r.ok();
    } else {
        r.null();
    }
    Ok(())
}

fn cmd_getex(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let o = StringOpts::parse(args, 2, false)?;
    let ttl = match o.expire {
        Some((u, arg)) => GetexTtl::Expire {
            unit_ms: EXPIRE_UNITS[u].1,
            absolute: EXPIRE_UNITS[u].2,
            arg,
        },
        None if o.persist => GetexTtl::Persist,
        None => GetexTtl::Keep,
    };
    let mode = match ttl {
        GetexTtl::Keep => LockMode::Shared,
        _ => LockMode::Exclusive,
    };
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let v = ctx
        .exec
        .single_key(key_hash(key), mode, &|s| op_getex(s, db, key, ttl, now))?;
    match v {
        Some(v) => ctx.reply().bulk(&v),
        None => ctx.reply().null(),
    }
    Ok(())
}

fn cmd_setnx(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, value, now) = (ctx.db(), args.get(1), args.get(2), now_ms());
    let out = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            let mode = SetMode {
                cond: Cond::IfMissing,
                ..SetMode::PLAIN
            };
            op_set(s, db, key, value, mode, now)
        })?;
    ctx.reply().integer(out.done as i64);
    Ok(())
}

fn setex(ctx: &mut CmdCtx<'_>, args: &Args<'_>, unit_ms: i64, name: &str) -> CmdResult {
    let now = now_ms();
    let deadline = deadline_from(unit_ms, false, args.get(2), now, name)?;
    let (db, key, value) = (ctx.db(), args.get(1), args.get(3));
    ctx.exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_set(
                s,
                db,
                key,
                value,
                SetMode {
                    ttl: Ttl::At(deadline),
                    ..SetMode::PLAIN
                },
                now,
            )
        })?;
    ctx.reply().ok();
    Ok(())
}

fn cmd_setex(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    setex(ctx, args, 1000, "setex")
}

fn cmd_psetex(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    setex(ctx, args, 1, "psetex")
}

fn cmd_getset(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, value, now) = (ctx.db(), args.get(1), args.get(2), now_ms());
    let out = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            let mode = SetMode {
                get: true,
                ..SetMode::PLAIN
            };
            op_set(s, db, key, value, mode, now)
        })?;
    match out.old {
        Some(v) => ctx.reply().bulk(&v),
        None => ctx.reply().null(),
    }
    Ok(())
}

fn cmd_getdel(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let v = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| -> OpResult<
            Option<Vec<u8>>,
        > {
            let old = op_get(s, db, key, now)?;
            if old.is_some() {
                s.db.borrow_mut().delete(db, key, now);
                notify::keyspace_event(class::GENERIC, "del", key, db);
            }
            Ok(old)
        })?;
    match v {
        Some(v) => ctx.reply().bulk(&v),
        None => ctx.reply().null(),
    }
    Ok(())
}

fn cmd_mget(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, now) = (ctx.db(), now_ms());
    let keys: Vec<&[u8]> = args.rest(1).collect();
    let plan = KeyPlan::new(keys.iter().copied(), LockMode::Shared);
    let mut values: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
    ctx.exec.sliced(
        &plan,
        &|s, slice| {
            slice
                .iter()
                .map(|&i| (i, op_get(s, db, keys[i], now).ok().flatten()))
                .collect::<Vec<_>>()
        },
        |_, vs| {
            for (i, v) in vs {
                values[i] = v;
            }
        },
    );
    let mut r = ctx.reply();
    r.array_header(values.len());
    for v in values {
        match v {
            Some(v) => r.bulk(&v),
            None => r.null(),
        }
    }
    Ok(())
}

fn pairs<'a>(args: &Args<'a>, name: &str) -> OpResult<Vec<(&'a [u8], &'a [u8])>> {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity(name.into()));
    }
    Ok((1..args.len())
        .step_by(2)
        .map(|i| (args.get(i), args.get(i + 1)))
        .collect())
}

fn cmd_mset(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, now) = (ctx.db(), now_ms());
    let kv = pairs(args, "mset")?;
    let plan = KeyPlan::new(kv.iter().map(|(k, _)| *k), LockMode::Exclusive);
    ctx.exec.sliced(
        &plan,
        &|s, slice| {
            for &i in slice {
                let _ = op_set(s, db, kv[i].0, kv[i].1, SetMode::PLAIN, now);
            }
        },
        |_, ()| {},
    );
    ctx.reply().ok();
    Ok(())
}

fn cmd_msetnx(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, now) = (ctx.db(), now_ms());
    let kv = pairs(args, "msetnx")?;
    let plan = KeyPlan::new(kv.iter().map(|(k, _)| *k), LockMode::Exclusive);
    // Two passes under one transaction: check every key, then write all or nothing; each pass
    // in bounded slices.
    let mut tx = ctx.exec.schedule(&plan);
    let mut any_exists = false;
    tx.execute_sliced(
        &plan,
        false,
        &|s, slice| {
            let mut dbs = s.db.borrow_mut();
            slice.iter().any(|&i| dbs.exists(db, kv[i].0, now))
        },
        |_, e| any_exists |= e,
    );
    if any_exists {
        tx.conclude();
        ctx.reply().integer(0);
        return Ok(());
    }
    tx.execute_sliced(
        &plan,
        true,
        &|s, slice| {
            for &i in slice {
                let _ = op_set(s, db, kv[i].0, kv[i].1, SetMode::PLAIN, now);
            }
        },
        |_, ()| {},
    );
    ctx.reply().integer(1);
    Ok(())
}

fn incr_by(ctx: &mut CmdCtx<'_>, key: &[u8], delta: i64) -> CmdResult {
    let (db, now) = (ctx.db(), now_ms());
    let v = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_incr(s, db, key, delta, now)
        })?;
    ctx.reply().integer(v);
    Ok(())
}

fn cmd_incr(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    incr_by(ctx, args.get(1), 1)
}

fn cmd_decr(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    incr_by(ctx, args.get(1), -1)
}

fn cmd_incrby(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let d = parse_i64(args.get(2))?;
    incr_by(ctx, args.get(1), d)
}

fn cmd_decrby(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let d = parse_i64(args.get(2))?;
    if d == i64::MIN {
        return Err(CmdError::raw("ERR decrement would overflow"));
    }
    incr_by(ctx, args.get(1), -d)
}

fn cmd_incrbyfloat(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    // An infinite increment is refused after the stored value parses, as Redis does.
    let d = LongDouble::parse(args.get(2)).ok_or(CmdError::NotFloat)?;
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let v = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_incr_float(s, db, key, d, now)
        })?;
    ctx.reply().bulk(&v);
    Ok(())
}

fn cmd_append(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, tail, now) = (ctx.db(), args.get(1), args.get(2), now_ms());
    let limit = max_bulk_len(ctx);
    let n = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_append(s, db, key, tail, limit, now)
        })?;
    ctx.reply().integer(n);
    Ok(())
}

fn cmd_strlen(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let n = ctx
        .exec
        .single_key(key_hash(key), LockMode::Shared, &|s| -> OpResult<i64> {
            let mut dbs = s.db.borrow_mut();
            let found = dbs.find(db, key, now);
            count_lookup(found.is_some());
            match found {
                None => Ok(0),
                Some(v) if v.as_object().is_some() => Err(CmdError::WrongType),
                Some(v) => Ok(v.str_len() as i64),
            }
        })?;
    ctx.reply().integer(n);
    Ok(())
}

fn cmd_getrange(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let start = parse_i64(args.get(2))?;
    let end = parse_i64(args.get(3))?;
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let v = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        op_getrange(s, db, key, start, end, now)
    })?;
    ctx.reply().bulk(&v);
    Ok(())
}

fn cmd_setrange(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let offset = parse_i64(args.get(2))?;
    if offset < 0 {
        return Err(CmdError::raw("ERR offset is out of range"));
    }
    let offset = usize::try_from(offset).map_err(|_| CmdError::raw(STRING_TOO_LONG))?;
    let (db, key, value, now) = (ctx.db(), args.get(1), args.get(3), now_ms());
    let limit = max_bulk_len(ctx);
    let n = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_setrange(s, db, key, offset, value, limit, now)
        })?;
    ctx.reply().integer(n);
    Ok(())
}

/// LCS's options.
#[derive(Default)]
struct LcsOpts {
    len: bool,
    idx: bool,
    with_match_len: bool,
    min_match_len: u64,
}

impl LcsOpts {
    fn parse(args: &Args<'_>) -> OpResult<LcsOpts> {
        let mut o = LcsOpts::default();
        let mut i = 3;
        while i < args.len() {
            let opt = args.get(i);
            if eq_ignore_case(opt, "idx") {
                o.idx = true;
            } else if eq_ignore_case(opt, "len") {
                o.len = true;
            } else if eq_ignore_case(opt, "withmatchlen") {
                o.with_match_len = true;
            } else if eq_ignore_case(opt, "minmatchlen") && i + 1 < args.len() {
                o.min_match_len = parse_i64(args.get(i + 1))?.max(0) as u64;
                i += 1;
            } else {
                return Err(CmdError::Syntax);
            }
            i += 1;
        }
        if o.idx && o.len {
            return Err(CmdError::raw(
                "ERR If you want both the length and indexes, please just use IDX.",
            ));
        }
        Ok(o)
    }
}

/// One matching range of LCS IDX: positions in a, in b (inclusive), and its length.
struct LcsMatch {
    a: (u32, u32),
    b: (u32, u32),
    len: u32,
}

/// The longest common subsequence of `a` and `b` with Redis's dynamic programming table and
/// walk back, so ties resolve and ranges come out exactly as Redis's: (length, the LCS when
/// `want_string`, the ranges at least `min_match_len` long when `want_ranges`).
fn lcs(
    a: &[u8],
    b: &[u8],
    want_string: bool,
    want_ranges: bool,
    min_match_len: u64,
    table_bytes_max: u64,
) -> OpResult<(u32, Vec<u8>, Vec<LcsMatch>)> {
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Err(CmdError::raw("ERR String too long for LCS"));
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells.saturating_mul(4) > table_bytes_max {
        return Err(CmdError::raw(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(cells as usize).is_err() {
        return Err(CmdError::raw(
            "ERR Insufficient memory, failed allocating transient memory for LCS",
        ));
    }
    table.resize(cells as usize, 0);
    let w = blen + 1;
    for i in 1..=alen {
        let (done, rest) = table.split_at_mut(i * w);
        let prev = &done[(i - 1) * w..];
        let row = &mut rest[..w];
        let ai = a[i - 1];
        for j in 1..=blen {
            row[j] = if ai == b[j - 1] {
                prev[j - 1] + 1
            } else {
                prev[j].max(row[j - 1])
            };
        }
    }
    let total = table[alen * w + blen];
    let mut result = vec![0u8; if want_string { total as usize } else { 0 }];
    let mut ranges = Vec::new();
    if !want_string && !want_ranges {
        return Ok((total, result, ranges));
    }
    // Walk back from the end; `a_start == alen` means no range is open.
    let (mut i, mut j, mut idx) = (alen, blen, total as usize);
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (alen, 0, 0, 0);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            if want_string {
                result[idx - 1] = a[i - 1];
            }
            if a_start == alen {
                (a_start, a_end, b_start, b_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * w + j] > table[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != alen {
                emit = true;
            }
        }
        if emit {
            let len = (a_end - a_start + 1) as u32;
            if want_ranges && (min_match_len == 0 || len as u64 >= min_match_len) {
                ranges.push(LcsMatch {
                    a: (a_start as u32, a_end as u32),
                    b: (b_start as u32, b_end as u32),
                    len,
                });
            }
            a_start = alen;
        }
    }
    Ok((total, result, ranges))
}

fn cmd_lcs(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, now) = (ctx.db(), now_ms());
    let keys = [args.get(1), args.get(2)];
    // Both values are read under one atomic run (the keys may live on two shards); the table
    // is built here, off the shards.
    let plan = KeyPlan::new(keys.iter().copied(), LockMode::Shared);
    let per_shard = ctx.exec.atomic(&plan, &|s| {
        plan.keys_of(s.index)
            .iter()
            .map(|&i| (i, op_get(s, db, keys[i], now)))
            .collect::<Vec<_>>()
    });
    let mut values: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    for (_, vs) in per_shard {
        for (i, v) in vs {
            match v {
                Ok(v) => values[i] = v.unwrap_or_default(),
                Err(_) => {
                    return Err(CmdError::raw(
                        "ERR The specified keys must contain string values",
                    ))
                }
            }
        }
    }
    let o = LcsOpts::parse(args)?;
    let limit = max_bulk_len(ctx);
    let (total, string, ranges) = lcs(
        &values[0],
        &values[1],
        o.idx || !o.len,
        o.idx,
        o.min_match_len,
        limit,
    )?;
    let mut r = ctx.reply();
    if o.idx {
        r.map_header(2);
        r.bulk(b"matches");
        r.array_header(ranges.len());
        for m in &ranges {
            r.array_header(2 + o.with_match_len as usize);
            r.array_header(2);
            r.integer(m.a.0 as i64);
            r.integer(m.a.1 as i64);
            r.array_header(2);
            r.integer(m.b.0 as i64);
            r.integer(m.b.1 as i64);
            if o.with_match_len {
                r.integer(m.len as i64);
            }
        }
        r.bulk(b"len");
        r.integer(total as i64);
    } else if o.len {
        r.integer(total as i64);
    } else {
        r.bulk(&string);
    }
    Ok(())
}

pub fn commands() -> Vec<CommandSpec> {
    let c = |name, arity, flags, handler, summary, keys: (i32, i32, i32)| CommandSpec {
        name,
        arity,
        flags,
        acl: if flags & WRITE != 0 {
            &["@write", "@string"]
        } else {
            &["@read", "@string"]
        },
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        group: "string",
        summary,
        since: "1.0.0",
        handler,
        subcommands: Vec::new(),
    };
    let one = (1, 1, 1);
    vec![
        c("get", 2, READONLY | FAST, cmd_get as _, "Returns the string value of a key.", one),
        c("set", -3, WRITE | DENYOOM, cmd_set, "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", one),
        c("setnx", 3, WRITE | DENYOOM | FAST, cmd_setnx, "Set the string value of a key only when the key doesn't exist.", one),
        c("setex", 4, WRITE | DENYOOM, cmd_setex, "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", one),
        c("psetex", 4, WRITE | DENYOOM, cmd_psetex, "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", one),
        c("getset", 3, WRITE | DENYOOM | FAST, cmd_getset, "Returns the previous string value of a key after setting it to a new value.", one),
        c("getdel", 2, WRITE | FAST, cmd_getdel, "Returns the string value of a key after deleting the key.", one),
        c("mget", -2, READONLY | FAST, cmd_mget, "Atomically returns the string values of one or more keys.", (1, -1, 1)),
        c("mset", -3, WRITE | DENYOOM, cmd_mset, "Atomically creates or modifies the string values of one or more keys.", (1, -1, 2)),
        c("msetnx", -3, WRITE | DENYOOM, cmd_msetnx, "Atomically modifies the string values of one or more keys only when all keys don't exist.", (1, -1, 2)),
        c("incr", 2, WRITE | DENYOOM | FAST, cmd_incr, "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", one),
        c("decr", 2, WRITE | DENYOOM | FAST, cmd_decr, "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", one),
        c("incrby", 3, WRITE | DENYOOM | FAST, cmd_incrby, "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", one),
        c("decrby", 3, WRITE | DENYOOM | FAST, cmd_decrby, "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", one),
        c("incrbyfloat", 3, WRITE | DENYOOM | FAST, cmd_incrbyfloat, "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", one),
        c("append", 3, WRITE | DENYOOM | FAST, cmd_append, "Appends a string to the value of a key. Creates the key if it doesn't exist.", one),
        c("strlen", 2, READONLY | FAST, cmd_strlen, "Returns the length of a string value.", one),
        CommandSpec { since: "6.2.0", ..c("getex", -2, WRITE | FAST, cmd_getex, "Returns the string value of a key after setting its expiration time.", one) },
        CommandSpec { since: "2.4.0", ..c("getrange", 4, READONLY, cmd_getrange, "Returns a substring of the string stored at a key.", one) },
        c("substr", 4, READONLY, cmd_getrange, "Returns a substring from a string value.", one),
        CommandSpec { since: "2.2.0", ..c("setrange", 4, WRITE | DENYOOM, cmd_setrange, "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", one) },
        CommandSpec { since: "7.0.0", ..c("lcs", -3, READONLY, cmd_lcs, "Finds the longest common substring.", (1, 2, 1)) },
    ]
}
