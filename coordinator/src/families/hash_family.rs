//! Hash commands: HSET HSETNX HMSET HGET HMGET HGETALL HDEL HLEN HSTRLEN HEXISTS HKEYS HVALS
//! HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN (the last two in `hash_random.rs`).
//!
//! Values are `damselfly_shards::HashValue` (listpack, then hashtable). Replies with many
//! elements are encoded on the shard, straight from the value, so no element is copied into
//! an intermediate Vec. Reads count keyspace hits/misses where Redis's `lookupKeyRead` does:
//! every command here except the writes (HSET HSETNX HMSET HDEL HINCRBY HINCRBYFLOAT).

use crate::args::{parse_i64, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult, OpResult};
use crate::families::typed;
use crate::long_double::LongDouble;
use crate::notify::{self, class};
use crate::registry::{flags::*, CommandSpec};
use crate::shard::{key_hash, Shard};
use crate::tx::locks::LockMode;
use damselfly_protocol::{ReplyWriter, RespVersion};
use damselfly_shards::db_slice::ValueMut;
use damselfly_shards::listpack::{format_i64, LpValue};
use damselfly_shards::{CollectionLimits, CompactValue, HashValue};

pub(crate) fn now_ms() -> u64 {
    crate::server::ProactorState::current().batch_now_ms.get()
}

/// The hash a value holds, or WRONGTYPE.
pub fn hash_of(v: &CompactValue) -> OpResult<&HashValue> {
    typed::typed_of(v)
}

/// Writes an entry of a hash as a bulk string.
pub(crate) fn bulk_lp(r: &mut ReplyWriter<'_>, v: LpValue<'_>) {
    match v {
        LpValue::Str(s) => r.bulk(s),
        LpValue::Int(i) => r.bulk_integer(i),
    }
}

/// Looks a hash up for reading (counting the lookup); None when missing.
pub(crate) fn read_hash<R>(
    s: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
    f: impl FnOnce(&HashValue) -> R,
) -> OpResult<Option<R>> {
    typed::read_typed(s, db, key, now, f)
}

/// A hash being written: reads do not count as a change of the key (WATCH), writes do.
pub(crate) struct HashSlot<'a, 'b>(&'a mut ValueMut<'b>);

impl HashSlot<'_, '_> {
    pub(crate) fn get(&self) -> &HashValue {
        self.0.downcast_ref::<HashValue>().expect("checked hash")
    }

    pub(crate) fn get_mut(&mut self) -> &mut HashValue {
        self.0.downcast_mut::<HashValue>().expect("checked hash")
    }
}

/// Runs `f` on the hash at `key` for writing, creating it first when `create` (an empty hash
/// is never left behind: the key is deleted when `f` leaves it empty). None when the key is
/// missing and `create` is false.
pub(crate) fn write_hash<R>(
    s: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
    create: bool,
    f: impl FnOnce(&mut HashSlot<'_, '_>) -> OpResult<R>,
) -> OpResult<Option<R>> {
    let mut dbs = s.db.borrow_mut();
    let mut created = false;
    let (out, empty) = {
        let mut slot = if create {
            let (mut slot, is_new) = dbs.add_or_find(db, key, now);
            if is_new {
                *slot = CompactValue::from_object(Box::new(HashValue::new()));
                created = true;
            }
            slot
        } else {
            match dbs.find_mut(db, key, now) {
                None => return Ok(None),
                Some(slot) => slot,
            }
        };
        if slot.downcast_ref::<HashValue>().is_none() {
            return Err(CmdError::WrongType);
        }
        let mut h = HashSlot(&mut slot);
        let out = f(&mut h);
        (out, h.get().is_empty())
    };
    if empty {
        dbs.delete(db, key, now);
        // A hash this call created and left empty was never there for Redis either.
        if !created {
            notify::keyspace_event(class::GENERIC, "del", key, db);
        }
    }
    out.map(Some)
}

// ---- shard side ------------------------------------------------------------------------

/// HGET on the shard (also SORT's `BY`/`GET key->field`): the field's value, None when the
/// key or the field is missing, WRONGTYPE when the key is not a hash.
pub fn op_hget(
    shard: &Shard,
    db: usize,
    key: &[u8],
    field: &[u8],
    now: u64,
) -> OpResult<Option<Vec<u8>>> {
    Ok(read_hash(shard, db, key, now, |h| h.get(field).map(|v| v.to_vec()))?.flatten())
}

/// HSET / HMSET: `args[2..]` are field, value pairs. Returns the number of new fields.
fn op_hset(
    s: &Shard,
    db: usize,
    key: &[u8],
    args: &Args<'_>,
    limits: CollectionLimits,
    now: u64,
) -> OpResult<i64> {
    let added = write_hash(s, db, key, now, true, |slot| {
        let h = slot.get_mut();
        // Redis's hashTypeTryConversion: one long argument converts before any write.
        h.convert_for_lengths(args.rest(2).map(<[u8]>::len), &limits);
        let mut added = 0;
        for i in (2..args.len()).step_by(2) {
            added += i64::from(h.set(args.get(i), args.get(i + 1), &limits));
        }
        notify::keyspace_event(class::HASH, "hset", key, db);
        Ok(added)
    })?;
    Ok(added.unwrap_or(0))
}

fn op_hsetnx(
    s: &Shard,
    db: usize,
    key: &[u8],
    field: &[u8],
    value: &[u8],
    limits: CollectionLimits,
    now: u64,
) -> OpResult<bool> {
    let added = write_hash(s, db, key, now, true, |slot| {
        if slot.get().contains(field) {
            return Ok(false);
        }
        slot.get_mut().set(field, value, &limits);
        notify::keyspace_event(class::HASH, "hset", key, db);
        Ok(true)
    })?;
    Ok(added.unwrap_or(false))
}

fn op_hdel(s: &Shard, db: usize, key: &[u8], fields: &Args<'_>, now: u64) -> OpResult<i64> {
    let removed = write_hash(s, db, key, now, false, |slot| {
        // No write (and no WATCH change) when none of the fields is there.
        if !fields.rest(2).any(|f| slot.get().contains(f)) {
            return Ok(0);
        }
        let h = slot.get_mut();
        let mut removed = 0;
        for f in fields.rest(2) {
            removed += i64::from(h.remove(f));
            if h.is_empty() {
                break;
            }
        }
        notify::keyspace_event(class::HASH, "hdel", key, db);
        Ok(removed)
    })?;
    Ok(removed.unwrap_or(0))
}

fn op_hincrby(
    s: &Shard,
    db: usize,
    key: &[u8],
    field: &[u8],
    incr: i64,
    limits: CollectionLimits,
    now: u64,
) -> OpResult<i64> {
    let v = write_hash(s, db, key, now, true, |slot| {
        let current = match slot.get().get(field) {
            None => 0,
            Some(v) => v
                .as_int()
                .ok_or_else(|| CmdError::raw("ERR hash value is not an integer"))?,
        };
        let next = current.checked_add(incr).ok_or(CmdError::Overflow)?;
        let text = format_i64(next, &mut [0u8; 20]).to_vec();
        slot.get_mut().set(field, &text, &limits);
        notify::keyspace_event(class::HASH, "hincrby", key, db);
        Ok(next)
    })?;
    Ok(v.expect("created"))
}

fn op_hincrbyfloat(
    s: &Shard,
    db: usize,
    key: &[u8],
    field: &[u8],
    incr: LongDouble,
    limits: CollectionLimits,
    now: u64,
) -> OpResult<Vec<u8>> {
    let v = write_hash(s, db, key, now, true, |slot| {
        let current = match slot.get().get(field) {
            None => LongDouble::ZERO,
            Some(v) => LongDouble::parse(v.as_bytes(&mut [0u8; 20]))
                .ok_or_else(|| CmdError::raw("ERR hash value is not a float"))?,
        };
        let next = current + incr;
        if !next.is_finite() {
            return Err(CmdError::raw("ERR increment would produce NaN or Infinity"));
        }
        let text = next.to_human().into_bytes();
        slot.get_mut().set(field, &text, &limits);
        notify::keyspace_event(class::HASH, "hincrbyfloat", key, db);
        Ok(text)
    })?;
    Ok(v.expect("created"))
}

/// What HGETALL, HKEYS and HVALS send.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parts {
    Fields,
    Values,
    Both,
}

/// The encoded reply of HGETALL / HKEYS / HVALS.
fn op_hgetall(
    s: &Shard,
    db: usize,
    key: &[u8],
    parts: Parts,
    resp: RespVersion,
    now: u64,
) -> OpResult<Vec<u8>> {
    let mut out = Vec::new();
    let found = read_hash(s, db, key, now, |h| {
        let mut r = ReplyWriter::new(&mut out, resp);
        if parts == Parts::Both {
            r.map_header(h.len());
        } else {
            r.array_header(h.len());
        }
        for (f, v) in h.iter() {
            if parts != Parts::Values {
                bulk_lp(&mut r, f);
            }
            if parts != Parts::Fields {
                bulk_lp(&mut r, v);
            }
        }
    })?;
    if found.is_none() {
        let mut r = ReplyWriter::new(&mut out, resp);
        if parts == Parts::Both {
            r.map_header(0);
        } else {
            r.array_header(0);
        }
    }
    Ok(out)
}

fn op_hmget(
    s: &Shard,
    db: usize,
    key: &[u8],
    args: &Args<'_>,
    resp: RespVersion,
    now: u64,
) -> OpResult<Vec<u8>> {
    let mut out = Vec::new();
    let n = args.len() - 2;
    let found = read_hash(s, db, key, now, |h| {
        let mut r = ReplyWriter::new(&mut out, resp);
        r.array_header(n);
        for f in args.rest(2) {
            match h.get(f) {
                Some(v) => bulk_lp(&mut r, v),
                None => r.null(),
            }
        }
    })?;
    if found.is_none() {
        let mut r = ReplyWriter::new(&mut out, resp);
        r.array_header(n);
        for _ in 0..n {
            r.null();
        }
    }
    Ok(out)
}

// ---- coordinator side ------------------------------------------------------------------

fn hset_generic(ctx: &mut CmdCtx<'_>, args: &Args<'_>, name: &str) -> OpResult<i64> {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity(name.into()));
    }
    let (db, key, now, limits) = (ctx.db(), args.get(1), now_ms(), ctx.limits());
    ctx.exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_hset(s, db, key, args, limits, now)
        })
}

fn cmd_hset(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let n = hset_generic(ctx, args, "hset")?;
    ctx.reply().integer(n);
    Ok(())
}

fn cmd_hmset(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    hset_generic(ctx, args, "hmset")?;
    ctx.reply().ok();
    Ok(())
}

fn cmd_hsetnx(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now, limits) = (ctx.db(), args.get(1), now_ms(), ctx.limits());
    let (field, value) = (args.get(2), args.get(3));
    let added = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_hsetnx(s, db, key, field, value, limits, now)
        })?;
    ctx.reply().integer(i64::from(added));
    Ok(())
}

fn cmd_hget(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, field, now) = (ctx.db(), args.get(1), args.get(2), now_ms());
    let v = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        op_hget(s, db, key, field, now)
    })?;
    match v {
        Some(v) => ctx.reply().bulk(&v),
        None => ctx.reply().null(),
    }
    Ok(())
}

/// Runs a read that encodes its own reply on the shard, then appends it.
fn encoded_read(
    ctx: &mut CmdCtx<'_>,
    key: &[u8],
    f: &(dyn Fn(&Shard) -> OpResult<Vec<u8>> + Sync),
) -> CmdResult {
    let bytes = ctx.exec.single_key(key_hash(key), LockMode::Shared, f)?;
    ctx.out.extend_from_slice(&bytes);
    Ok(())
}

fn cmd_hmget(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now, resp) = (ctx.db(), args.get(1), now_ms(), ctx.conn.resp);
    encoded_read(ctx, key, &|s| op_hmget(s, db, key, args, resp, now))
}

fn getall(ctx: &mut CmdCtx<'_>, args: &Args<'_>, parts: Parts) -> CmdResult {
    let (db, key, now, resp) = (ctx.db(), args.get(1), now_ms(), ctx.conn.resp);
    encoded_read(ctx, key, &|s| op_hgetall(s, db, key, parts, resp, now))
}

fn cmd_hgetall(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    getall(ctx, args, Parts::Both)
}

fn cmd_hkeys(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    getall(ctx, args, Parts::Fields)
}

fn cmd_hvals(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    getall(ctx, args, Parts::Values)
}

fn cmd_hdel(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let n = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_hdel(s, db, key, args, now)
        })?;
    ctx.reply().integer(n);
    Ok(())
}

/// A read answering one integer from the hash (0 when the key is missing).
fn int_read(ctx: &mut CmdCtx<'_>, key: &[u8], f: &(dyn Fn(&HashValue) -> i64 + Sync)) -> CmdResult {
    let (db, now) = (ctx.db(), now_ms());
    let n = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        read_hash(s, db, key, now, f)
    })?;
    ctx.reply().integer(n.unwrap_or(0));
    Ok(())
}

fn cmd_hlen(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    int_read(ctx, args.get(1), &|h| h.len() as i64)
}

fn cmd_hstrlen(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let field = args.get(2);
    int_read(ctx, args.get(1), &|h| {
        h.get(field).map_or(0, |v| v.len() as i64)
    })
}

fn cmd_hexists(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let field = args.get(2);
    int_read(ctx, args.get(1), &|h| i64::from(h.contains(field)))
}

fn cmd_hincrby(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let incr = parse_i64(args.get(3))?;
    let (db, key, field, now, limits) =
        (ctx.db(), args.get(1), args.get(2), now_ms(), ctx.limits());
    let v = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_hincrby(s, db, key, field, incr, limits, now)
        })?;
    ctx.reply().integer(v);
    Ok(())
}

fn cmd_hincrbyfloat(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let incr = LongDouble::parse(args.get(3)).ok_or(CmdError::NotFloat)?;
    if !incr.is_finite() {
        return Err(CmdError::raw("ERR value is NaN or Infinity"));
    }
    let (db, key, field, now, limits) =
        (ctx.db(), args.get(1), args.get(2), now_ms(), ctx.limits());
    let v = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_hincrbyfloat(s, db, key, field, incr, limits, now)
        })?;
    ctx.reply().bulk(&v);
    Ok(())
}

pub fn commands() -> Vec<CommandSpec> {
    let c = |name, arity, flags, handler, summary, since| CommandSpec {
        name,
        arity,
        flags,
        acl: if flags & WRITE != 0 {
            &["@write", "@hash"]
        } else {
            &["@read", "@hash"]
        },
        first_key: 1,
        last_key: 1,
        step: 1,
        group: "hash",
        summary,
        since,
        handler,
        subcommands: Vec::new(),
    };
    let mut v = vec![
        c("hset", -4, WRITE | DENYOOM | FAST, cmd_hset as _, "Creates or modifies the value of a field in a hash.", "2.0.0"),
        c("hsetnx", 4, WRITE | DENYOOM | FAST, cmd_hsetnx, "Sets the value of a field in a hash only when the field doesn't exist.", "2.0.0"),
        c("hmset", -4, WRITE | DENYOOM | FAST, cmd_hmset, "Sets the values of multiple fields.", "2.0.0"),
        c("hget", 3, READONLY | FAST, cmd_hget, "Returns the value of a field in a hash.", "2.0.0"),
        c("hmget", -3, READONLY | FAST, cmd_hmget, "Returns the values of all fields in a hash.", "2.0.0"),
        c("hgetall", 2, READONLY, cmd_hgetall, "Returns all fields and values in a hash.", "2.0.0"),
        c("hdel", -3, WRITE | FAST, cmd_hdel, "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", "2.0.0"),
        c("hlen", 2, READONLY | FAST, cmd_hlen, "Returns the number of fields in a hash.", "2.0.0"),
        c("hstrlen", 3, READONLY | FAST, cmd_hstrlen, "Returns the length of the value of a field.", "3.2.0"),
        c("hexists", 3, READONLY | FAST, cmd_hexists, "Determines whether a field exists in a hash.", "2.0.0"),
        c("hkeys", 2, READONLY, cmd_hkeys, "Returns all fields in a hash.", "2.0.0"),
        c("hvals", 2, READONLY, cmd_hvals, "Returns all values in a hash.", "2.0.0"),
        c("hincrby", 4, WRITE | DENYOOM | FAST, cmd_hincrby, "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", "2.0.0"),
        c("hincrbyfloat", 4, WRITE | DENYOOM | FAST, cmd_hincrbyfloat, "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", "2.6.0"),
    ];
    v.extend(crate::families::hash_random::commands());
    v
}
