//! String commands: GET SET SETNX SETEX PSETEX GETSET GETDEL MGET MSET MSETNX APPEND STRLEN
//! INCR DECR INCRBY DECRBY INCRBYFLOAT.
//!
//! After a write changes a key: the table bumps the key's watch version (WATCH), the shard's
//! counters move with the table; keyspace events and the journal hook in here once they exist.

use crate::args::{eq_ignore_case, parse_f64, parse_i64, Args};
use crate::conn::CmdCtx;
use crate::error::{CmdError, CmdResult, OpResult};
use crate::keys::{run_atomic, KeyPlan};
use crate::registry::{flags::*, CommandSpec};
use crate::shard::{key_hash, Shard};
use crate::tx::{self, locks::LockMode, Transaction};
use damselfly_runtime::clock;
use damselfly_shards::cell::CellFlags;
use damselfly_shards::CompactValue;

/// The string bytes of a value, or WRONGTYPE.
pub fn string_of(v: &CompactValue) -> OpResult<Vec<u8>> {
    v.to_vec().ok_or(CmdError::WrongType)
}

fn now_ms() -> u64 {
    clock::wall_now_ms()
}

// ---- shard side ------------------------------------------------------------------------

pub fn op_get(shard: &Shard, db: usize, key: &[u8], now: u64) -> OpResult<Option<Vec<u8>>> {
    let mut dbs = shard.db.borrow_mut();
    match dbs.find(db, key, now) {
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
    cond: Cond,
    ttl: Ttl,
    get: bool,
    now: u64,
) -> OpResult<SetOutcome> {
    let mut dbs = shard.db.borrow_mut();
    let mut old = None;
    let exists = match dbs.find(db, key, now) {
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

fn op_incr_float(shard: &Shard, db: usize, key: &[u8], delta: f64, now: u64) -> OpResult<Vec<u8>> {
    let mut dbs = shard.db.borrow_mut();
    let current = match dbs.find(db, key, now) {
        None => 0.0,
        Some(v) => {
            let bytes = string_of(v)?;
            parse_f64(&bytes).map_err(|_| CmdError::NotFloat)?
        }
    };
    let next = current + delta;
    if !next.is_finite() {
        return Err(CmdError::raw("ERR increment would produce NaN or Infinity"));
    }
    let text = format_float(next);
    let (mut slot, _) = dbs.add_or_find(db, key, now);
    *slot = CompactValue::from_bytes(text.as_bytes());
    Ok(text.into_bytes())
}

/// INCRBYFLOAT's output: the shortest decimal that reads back as the same double, without an
/// exponent (Redis prints long doubles with trailing zeros removed).
pub fn format_float(v: f64) -> String {
    let s = format!("{v}");
    if s.contains('e') {
        format!("{v:.17}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        s
    }
}

fn op_append(shard: &Shard, db: usize, key: &[u8], tail: &[u8], now: u64) -> OpResult<i64> {
    let mut dbs = shard.db.borrow_mut();
    let (mut slot, is_new) = dbs.add_or_find(db, key, now);
    if is_new {
        *slot = CompactValue::from_bytes(tail);
        return Ok(tail.len() as i64);
    }
    let mut bytes = slot.to_vec().ok_or(CmdError::WrongType)?;
    bytes.extend_from_slice(tail);
    *slot = CompactValue::from_bytes(&bytes);
    Ok(bytes.len() as i64)
}

// ---- coordinator side ------------------------------------------------------------------

fn cmd_get(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let v = tx::single_key(key_hash(key), LockMode::Shared, &|s| {
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

fn cmd_set(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let now = now_ms();
    let (mut cond, mut ttl, mut get) = (Cond::Always, Ttl::Clear, false);
    let mut ttl_given = false;
    let mut i = 3;
    while i < args.len() {
        let opt = args.get(i);
        let next = (i + 1 < args.len()).then(|| args.get(i + 1));
        let expire = |unit: i64, abs: bool| -> OpResult<Ttl> {
            let a = next.ok_or(CmdError::Syntax)?;
            Ok(Ttl::At(deadline_from(unit, abs, a, now, "set")?))
        };
        if eq_ignore_case(opt, "nx") && cond != Cond::IfExists {
            cond = Cond::IfMissing;
        } else if eq_ignore_case(opt, "xx") && cond != Cond::IfMissing {
            cond = Cond::IfExists;
        } else if eq_ignore_case(opt, "get") {
            get = true;
        } else if eq_ignore_case(opt, "keepttl") && !ttl_given {
            ttl = Ttl::Keep;
            ttl_given = true;
        } else if !ttl_given
            && next.is_some()
            && ["ex", "px", "exat", "pxat"]
                .iter()
                .any(|o| eq_ignore_case(opt, o))
        {
            let lower = opt.to_ascii_lowercase();
            ttl = match lower.as_slice() {
                b"ex" => expire(1000, false)?,
                b"px" => expire(1, false)?,
                b"exat" => expire(1000, true)?,
                _ => expire(1, true)?,
            };
            ttl_given = true;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let (db, key, value) = (ctx.db(), args.get(1), args.get(2));
    let out = tx::single_key(key_hash(key), LockMode::Exclusive, &|s| {
        op_set(s, db, key, value, cond, ttl, get, now)
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

fn cmd_setnx(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, value, now) = (ctx.db(), args.get(1), args.get(2), now_ms());
    let out = tx::single_key(key_hash(key), LockMode::Exclusive, &|s| {
        op_set(s, db, key, value, Cond::IfMissing, Ttl::Clear, false, now)
    })?;
    ctx.reply().integer(out.done as i64);
    Ok(())
}

fn setex(ctx: &mut CmdCtx<'_>, args: &Args<'_>, unit_ms: i64, name: &str) -> CmdResult {
    let now = now_ms();
    let deadline = deadline_from(unit_ms, false, args.get(2), now, name)?;
    let (db, key, value) = (ctx.db(), args.get(1), args.get(3));
    tx::single_key(key_hash(key), LockMode::Exclusive, &|s| {
        op_set(
            s,
            db,
            key,
            value,
            Cond::Always,
            Ttl::At(deadline),
            false,
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
    let out = tx::single_key(key_hash(key), LockMode::Exclusive, &|s| {
        op_set(s, db, key, value, Cond::Always, Ttl::Clear, true, now)
    })?;
    match out.old {
        Some(v) => ctx.reply().bulk(&v),
        None => ctx.reply().null(),
    }
    Ok(())
}

fn cmd_getdel(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let v = tx::single_key(key_hash(key), LockMode::Exclusive, &|s| -> OpResult<
        Option<Vec<u8>>,
    > {
        let old = op_get(s, db, key, now)?;
        if old.is_some() {
            s.db.borrow_mut().delete(db, key, now);
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
    let per_shard = run_atomic(&plan, &|s| {
        plan.keys_of(s.index)
            .iter()
            .map(|&i| (i, op_get(s, db, keys[i], now).ok().flatten()))
            .collect::<Vec<_>>()
    });
    let mut values: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
    for (_, vs) in per_shard {
        for (i, v) in vs {
            values[i] = v;
        }
    }
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
    if args.len() % 2 == 0 {
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
    run_atomic(&plan, &|s| {
        for &i in plan.keys_of(s.index) {
            let _ = op_set(
                s,
                db,
                kv[i].0,
                kv[i].1,
                Cond::Always,
                Ttl::Clear,
                false,
                now,
            );
        }
    });
    ctx.reply().ok();
    Ok(())
}

fn cmd_msetnx(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, now) = (ctx.db(), now_ms());
    let kv = pairs(args, "msetnx")?;
    let plan = KeyPlan::new(kv.iter().map(|(k, _)| *k), LockMode::Exclusive);
    // Two hops under one transaction: check every key, then write all or nothing.
    let mut tx = Transaction::schedule(&plan.locks());
    let shards = tx.shards().to_vec();
    let any_exists = tx
        .execute(&shards, false, &|s| {
            let mut dbs = s.db.borrow_mut();
            plan.keys_of(s.index)
                .iter()
                .any(|&i| dbs.exists(db, kv[i].0, now))
        })
        .into_iter()
        .any(|e| e);
    if any_exists {
        tx.conclude();
        ctx.reply().integer(0);
        return Ok(());
    }
    tx.execute_all(&|s| {
        for &i in plan.keys_of(s.index) {
            let _ = op_set(
                s,
                db,
                kv[i].0,
                kv[i].1,
                Cond::Always,
                Ttl::Clear,
                false,
                now,
            );
        }
    });
    ctx.reply().integer(1);
    Ok(())
}

fn incr_by(ctx: &mut CmdCtx<'_>, key: &[u8], delta: i64) -> CmdResult {
    let (db, now) = (ctx.db(), now_ms());
    let v = tx::single_key(key_hash(key), LockMode::Exclusive, &|s| {
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
    let d = parse_f64(args.get(2))?;
    if d.is_infinite() {
        return Err(CmdError::raw("ERR increment would produce NaN or Infinity"));
    }
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let v = tx::single_key(key_hash(key), LockMode::Exclusive, &|s| {
        op_incr_float(s, db, key, d, now)
    })?;
    ctx.reply().bulk(&v);
    Ok(())
}

fn cmd_append(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, tail, now) = (ctx.db(), args.get(1), args.get(2), now_ms());
    let n = tx::single_key(key_hash(key), LockMode::Exclusive, &|s| {
        op_append(s, db, key, tail, now)
    })?;
    ctx.reply().integer(n);
    Ok(())
}

fn cmd_strlen(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let n = tx::single_key(key_hash(key), LockMode::Shared, &|s| -> OpResult<i64> {
        let mut dbs = s.db.borrow_mut();
        match dbs.find(db, key, now) {
            None => Ok(0),
            Some(v) if v.as_object().is_some() => Err(CmdError::WrongType),
            Some(v) => Ok(v.str_len() as i64),
        }
    })?;
    ctx.reply().integer(n);
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
    ]
}
