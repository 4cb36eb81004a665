//! Keyspace commands: DEL UNLINK EXISTS TYPE RENAME RENAMENX COPY MOVE TOUCH KEYS SCAN
//! RANDOMKEY DBSIZE FLUSHDB FLUSHALL SWAPDB EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL PERSIST
//! EXPIRETIME PEXPIRETIME OBJECT.
//!
//! - Multi-key commands (DEL, EXISTS, TOUCH) run atomically on every shard they touch.
//! - RENAME/RENAMENX/COPY whose two keys live on different shards are multi-hop transactions:
//!   both keys stay locked from the first hop until the last, so no command ordered after them
//!   sees the source gone and the destination not yet written.
//! - KEYS, SCAN, RANDOMKEY and DBSIZE read every shard without locks, as Redis serves them
//!   without isolation across the keyspace.
//! - FLUSHDB, FLUSHALL and SWAPDB are global transactions (whole-shard locks).
//!
//! OBJECT IDLETIME and FREQ read the per-key access clock without touching it; TOUCH
//! updates it (even for a CLIENT NO-TOUCH client); EXISTS, TYPE and TTL leave it alone.

use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult, OpResult};
use crate::exec::Exec;
use crate::keys::KeyPlan;
use crate::notify::{self, class};
use crate::random::random_seed;
use crate::registry::{flags::*, CommandSpec, Handler};
use crate::shard::{key_hash, shard_of, Shard};
use crate::tx::locks::LockMode;
use damselfly_runtime::clock;
use damselfly_shards::db_slice::{ClockSettings, KeyExpiry};
use damselfly_shards::DbSlice;
use damselfly_shards::{CompactValue, Encoding, FixedHasher, GlobPattern, ObjType};
use std::sync::atomic::{AtomicPtr, Ordering};

fn now_ms() -> u64 {
    clock::wall_now_ms()
}

const SAME_OBJECT: &str = "ERR source and destination objects are the same";

/// Redis's name for a value's type (TYPE, SCAN TYPE).
pub fn type_name(v: &CompactValue) -> &'static str {
    match v.obj_type() {
        ObjType::String => "string",
        ObjType::List => "list",
        ObjType::Set => "set",
        ObjType::ZSet => "zset",
        ObjType::Hash => "hash",
        ObjType::Stream => "stream",
    }
}

/// Moves one value from the coordinator into a hop. Hop closures are shared `Fn`s, so they
/// cannot own what they give away; one atomic swap hands the value to exactly one taker.
pub(crate) struct Handoff<T: Send>(AtomicPtr<T>);

impl<T: Send> Handoff<T> {
    pub(crate) fn new(value: T) -> Handoff<T> {
        Handoff(AtomicPtr::new(Box::into_raw(Box::new(value))))
    }

    pub(crate) fn take(&self) -> Option<T> {
        let p = self.0.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if p.is_null() {
            return None;
        }
        // SAFETY: a non-null pointer comes from `Box::into_raw` in `new`, and the swap above
        // gave it to this caller alone.
        Some(*unsafe { Box::from_raw(p) })
    }
}

impl<T: Send> Drop for Handoff<T> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

/// `getIntFromObjectOrReply` with a message: an integer that fits a C int, else `err`.
fn parse_int32(a: &[u8], err: CmdError) -> OpResult<i64> {
    match parse_i64(a) {
        Ok(v) if i32::try_from(v).is_ok() => Ok(v),
        _ => Err(err),
    }
}

/// A database index argument of MOVE and COPY (`getIntFromObjectOrReply` without a message:
/// Redis names the int range when the number is too large).
fn parse_db_index(ctx: &CmdCtx<'_>, a: &[u8]) -> OpResult<usize> {
    let v = parse_i64(a)?;
    if i32::try_from(v).is_err() {
        return Err(CmdError::raw(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    if v < 0 || v >= ctx.server.config.get_int("databases") {
        return Err(CmdError::DbIndexOutOfRange);
    }
    Ok(v as usize)
}

// ---- shard side ------------------------------------------------------------------------

/// Deletes the given keys; returns how many existed.
fn op_del(shard: &Shard, db: usize, keys: &[&[u8]], now: u64) -> i64 {
    del_keys(shard, db, keys, false, now)
}

/// UNLINK: deletes the given keys, freeing large values later; returns how many existed.
fn op_unlink(shard: &Shard, db: usize, keys: &[&[u8]], now: u64) -> i64 {
    del_keys(shard, db, keys, true, now)
}

fn del_keys(shard: &Shard, db: usize, keys: &[&[u8]], lazy: bool, now: u64) -> i64 {
    let mut dbs = shard.db.borrow_mut();
    keys.iter()
        .filter(|k| {
            let deleted = dbs.delete_key(db, k, lazy, now);
            if deleted {
                notify::keyspace_event(class::GENERIC, "del", k, db);
            }
            deleted
        })
        .count() as i64
}

/// Counts the given keys that exist (repeats count every time).
fn op_exists(shard: &Shard, db: usize, keys: &[&[u8]], now: u64) -> i64 {
    let mut dbs = shard.db.borrow_mut();
    keys.iter().filter(|k| dbs.exists(db, k, now)).count() as i64
}

/// TOUCH: updates the keys' access clock, even for a no-touch client.
fn op_touch(shard: &Shard, db: usize, keys: &[&[u8]], now: u64) -> i64 {
    let mut dbs = shard.db.borrow_mut();
    keys.iter().filter(|k| dbs.touch_key(db, k, now)).count() as i64
}

fn op_type(shard: &Shard, db: usize, key: &[u8], now: u64) -> &'static str {
    let mut dbs = shard.db.borrow_mut();
    // TYPE leaves the access clock alone, as Redis's LOOKUP_NOTOUCH.
    let no_touch = dbs.set_no_touch(true);
    let name = dbs.find(db, key, now).map_or("none", type_name);
    dbs.set_no_touch(no_touch);
    name
}

/// RENAME/RENAMENX with both keys on this shard. Returns whether the key was renamed.
fn op_rename_local(
    shard: &Shard,
    db: usize,
    src: &[u8],
    dst: &[u8],
    nx: bool,
    now: u64,
) -> OpResult<bool> {
    let mut dbs = shard.db.borrow_mut();
    if !dbs.exists(db, src, now) {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        // RENAME answers OK, RENAMENX 0: nothing changes either way.
        return Ok(!nx);
    }
    if nx && dbs.exists(db, dst, now) {
        return Ok(false);
    }
    let entry = dbs.delete(db, src, now).expect("checked above");
    dbs.insert_entry(db, dst, entry.value, entry.expire_at_ms, now);
    rename_events(db, src, dst);
    Ok(true)
}

/// RENAME's events, raised once the destination holds the value (after its `new`).
fn rename_events(db: usize, src: &[u8], dst: &[u8]) {
    notify::keyspace_event(class::GENERIC, "rename_from", src, db);
    notify::keyspace_event(class::GENERIC, "rename_to", dst, db);
}

/// COPY with both keys on this shard. Returns whether the value was copied.
fn op_copy_local(
    shard: &Shard,
    db: usize,
    src: &[u8],
    dst_db: usize,
    dst: &[u8],
    replace: bool,
    now: u64,
) -> bool {
    let mut dbs = shard.db.borrow_mut();
    let Some((value, deadline)) = read_entry(&mut dbs, db, src, now) else {
        return false;
    };
    if !replace && dbs.exists(dst_db, dst, now) {
        return false;
    }
    dbs.insert_entry(dst_db, dst, value, deadline, now);
    notify::keyspace_event(class::GENERIC, "copy_to", dst, dst_db);
    true
}

/// A copy of a live key's value and its deadline.
fn read_entry(
    dbs: &mut damselfly_shards::DbSlice,
    db: usize,
    key: &[u8],
    now: u64,
) -> Option<(CompactValue, Option<u64>)> {
    let value = dbs.find(db, key, now)?.clone();
    let deadline = match dbs.expiry(db, key, now) {
        KeyExpiry::At(at) => Some(at),
        _ => None,
    };
    Some((value, deadline))
}

/// MOVE: the key leaves `db` for `dst_db` with its deadline, unless it exists there.
fn op_move(shard: &Shard, db: usize, dst_db: usize, key: &[u8], now: u64) -> bool {
    let mut dbs = shard.db.borrow_mut();
    if !dbs.exists(db, key, now) || dbs.exists(dst_db, key, now) {
        return false;
    }
    let entry = dbs.delete(db, key, now).expect("checked above");
    dbs.insert_entry(dst_db, key, entry.value, entry.expire_at_ms, now);
    notify::keyspace_event(class::GENERIC, "move_from", key, db);
    notify::keyspace_event(class::GENERIC, "move_to", key, dst_db);
    true
}

/// EXPIRE's NX XX GT LT conditions.
#[derive(Clone, Copy, Default)]
struct ExpireCond {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

/// Sets `key`'s deadline to `when_ms` (absolute; may be in the past, which deletes the key).
/// Returns 1 when the deadline was set (or the key deleted), 0 when a condition failed or the
/// key is missing.
fn op_expire(
    shard: &Shard,
    db: usize,
    key: &[u8],
    when_ms: i64,
    cond: ExpireCond,
    now: u64,
) -> i64 {
    let mut dbs = shard.db.borrow_mut();
    let current: Option<i64> = match dbs.expiry(db, key, now) {
        KeyExpiry::Missing => return 0,
        KeyExpiry::Persistent => None,
        KeyExpiry::At(at) => Some(at.min(i64::MAX as u64) as i64),
    };
    if (cond.nx && current.is_some()) || (cond.xx && current.is_none()) {
        return 0;
    }
    // No deadline counts as infinite: GT never beats it, LT always does.
    if cond.gt && current.is_none_or(|c| when_ms <= c) {
        return 0;
    }
    if cond.lt && current.is_some_and(|c| when_ms >= c) {
        return 0;
    }
    if when_ms <= now as i64 {
        dbs.delete(db, key, now);
        notify::keyspace_event(class::GENERIC, "del", key, db);
    } else {
        dbs.set_expiry(db, key, when_ms as u64, now);
        notify::keyspace_event(class::GENERIC, "expire", key, db);
    }
    1
}

/// One SCAN step on a shard: the keys found and where to continue.
struct ScanStep {
    /// The shard table's cursor to continue from; 0 when the shard is done.
    next: u64,
    keys: Vec<Vec<u8>>,
    /// Live entries examined, matching or not (COUNT bounds this, as in Redis).
    visited: usize,
}

fn op_scan(
    shard: &Shard,
    db: usize,
    cursor: u64,
    budget: usize,
    pattern: Option<&GlobPattern>,
    type_filter: Option<&[u8]>,
    now: u64,
) -> ScanStep {
    let dbs = shard.db.borrow();
    let mut step = ScanStep {
        next: cursor,
        keys: Vec::new(),
        visited: 0,
    };
    loop {
        step.next = dbs.scan(db, step.next, now, None, |k, v| {
            step.visited += 1;
            let bytes = k.as_bytes();
            if pattern.is_some_and(|p| !p.matches(&bytes)) {
                return;
            }
            if type_filter.is_some_and(|t| !t.eq_ignore_ascii_case(type_name(v).as_bytes())) {
                return;
            }
            step.keys.push(bytes.to_vec());
        });
        if step.next == 0 || step.visited >= budget {
            return step;
        }
    }
}

/// OBJECT ENCODING of a value, as Redis names it.
pub fn encoding_name(v: &CompactValue) -> &'static str {
    /// Redis keeps strings up to this length in one allocation with their header.
    const EMBSTR_LEN_MAX: usize = 44;
    match v.encoding() {
        Encoding::Int => "int",
        Encoding::Inline | Encoding::Heap if v.str_len() <= EMBSTR_LEN_MAX => "embstr",
        Encoding::Inline | Encoding::Heap => "raw",
        Encoding::Object => v.as_object().map_or("raw", |o| o.encoding_name()),
    }
}

/// Redis shares the integer objects 0..9999 (`OBJ_SHARED_INTEGERS`); they report this count.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;
const SHARED_INTEGERS: i64 = 10_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum ObjectQuery {
    Encoding,
    RefCount,
    IdleTime,
    Freq,
}

enum ObjectAnswer {
    Text(&'static str),
    Int(i64),
}

fn op_object(
    shard: &Shard,
    db: usize,
    key: &[u8],
    query: ObjectQuery,
    now: u64,
    clock: ClockSettings,
) -> OpResult<Option<ObjectAnswer>> {
    let mut dbs = shard.db.borrow_mut();
    dbs.set_clock_settings(clock);
    // OBJECT never touches the key (Redis looks it up with LOOKUP_NOTOUCH).
    let no_touch = dbs.set_no_touch(true);
    let answer = object_answer(&mut dbs, db, key, query, now, clock.lfu);
    dbs.set_no_touch(no_touch);
    answer
}

const POLICY_SWITCH_NOTE: &str = "Please note that when switching between policies at runtime \
                                  LRU and LFU data will take some time to adjust.";

fn object_answer(
    dbs: &mut DbSlice,
    db: usize,
    key: &[u8],
    query: ObjectQuery,
    now: u64,
    lfu: bool,
) -> OpResult<Option<ObjectAnswer>> {
    let Some(v) = dbs.find(db, key, now) else {
        return Ok(None);
    };
    Ok(Some(match query {
        ObjectQuery::Encoding => ObjectAnswer::Text(encoding_name(v)),
        ObjectQuery::RefCount => {
            let shared = v.encoding() == Encoding::Int
                && v.as_int()
                    .is_some_and(|i| (0..SHARED_INTEGERS).contains(&i));
            ObjectAnswer::Int(if shared { SHARED_REFCOUNT } else { 1 })
        }
        ObjectQuery::IdleTime if lfu => {
            return Err(CmdError::raw(format!(
                "ERR An LFU maxmemory policy is selected, idle time not tracked. \
                 {POLICY_SWITCH_NOTE}"
            )))
        }
        ObjectQuery::IdleTime => ObjectAnswer::Int(dbs.idle_secs(db, key, now).unwrap_or(0) as i64),
        ObjectQuery::Freq if !lfu => {
            return Err(CmdError::raw(format!(
                "ERR An LFU maxmemory policy is not selected, access frequency not tracked. \
                 {POLICY_SWITCH_NOTE}"
            )))
        }
        ObjectQuery::Freq => ObjectAnswer::Int(i64::from(dbs.lfu_freq(db, key, now).unwrap_or(0))),
    }))
}

// ---- coordinator side ------------------------------------------------------------------

/// Runs `op` on the keys of `args[1..]`, atomically across shards, and replies with the sum.
fn count_keys(
    ctx: &mut CmdCtx<'_>,
    args: &Args<'_>,
    mode: LockMode,
    op: fn(&Shard, usize, &[&[u8]], u64) -> i64,
) -> CmdResult {
    let (db, now) = (ctx.db(), now_ms());
    let keys: Vec<&[u8]> = args.rest(1).collect();
    let total = if keys.len() == 1 {
        ctx.exec
            .single_key(key_hash(keys[0]), mode, &|s| op(s, db, &keys, now))
    } else {
        let plan = KeyPlan::new(keys.iter().copied(), mode);
        let mut total = 0;
        ctx.exec.sliced(
            &plan,
            &|s, slice| {
                let mine: Vec<&[u8]> = slice.iter().map(|&i| keys[i]).collect();
                op(s, db, &mine, now)
            },
            |_, n| total += n,
        );
        total
    };
    ctx.reply().integer(total);
    Ok(())
}

fn cmd_del(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let op = if crate::lazyfree::user_del(ctx.server) {
        op_unlink
    } else {
        op_del
    };
    count_keys(ctx, args, LockMode::Exclusive, op)
}

fn cmd_unlink(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    count_keys(ctx, args, LockMode::Exclusive, op_unlink)
}

fn cmd_exists(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    count_keys(ctx, args, LockMode::Shared, op_exists)
}

fn cmd_type(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let name = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        op_type(s, db, key, now)
    });
    ctx.reply().simple(name.as_bytes());
    Ok(())
}

/// The shards of `a` and `b`, and a lock plan for both.
fn two_key_plan(a: &[u8], b: &[u8]) -> (usize, usize, KeyPlan) {
    let n = damselfly_runtime::proactor_count();
    let plan = KeyPlan::new([a, b].into_iter(), LockMode::Exclusive);
    (shard_of(key_hash(a), n), shard_of(key_hash(b), n), plan)
}

/// RENAME across two shards: (RENAMENX: check both keys) → take the source off its shard →
/// write it with its deadline on the destination's shard and release both.
fn rename_across(
    exec: &mut Exec<'_>,
    plan: &KeyPlan,
    (src_shard, dst_shard): (usize, usize),
    db: usize,
    (src, dst): (&[u8], &[u8]),
    nx: bool,
    now: u64,
) -> OpResult<bool> {
    let mut tx = exec.schedule(plan);
    if nx {
        let found = tx.execute(&[src_shard, dst_shard], false, &|s| {
            let key = if s.index == src_shard { src } else { dst };
            s.db.borrow_mut().exists(db, key, now)
        });
        if !found[0] {
            tx.conclude();
            return Err(CmdError::NoSuchKey);
        }
        if found[1] {
            tx.conclude();
            return Ok(false);
        }
    }
    let taken = tx
        .execute(&[src_shard], false, &|s| {
            s.db.borrow_mut()
                .delete(db, src, now)
                .map(|e| (e.value, e.expire_at_ms))
        })
        .pop()
        .expect("one shard");
    let Some((value, deadline)) = taken else {
        tx.conclude();
        return Err(CmdError::NoSuchKey);
    };
    let value = Handoff::new(value);
    tx.execute_all(&|s| {
        if s.index == dst_shard {
            let v = value.take().expect("one destination shard");
            s.db.borrow_mut().insert_entry(db, dst, v, deadline, now);
            // Both from here, so they follow the destination's `new` as in Redis.
            rename_events(db, src, dst);
        }
    });
    Ok(true)
}

fn rename(ctx: &mut CmdCtx<'_>, args: &Args<'_>, nx: bool) -> CmdResult {
    let (db, src, dst, now) = (ctx.db(), args.get(1), args.get(2), now_ms());
    let (src_shard, dst_shard, plan) = two_key_plan(src, dst);
    let renamed = if src_shard == dst_shard {
        ctx.exec.single_shard(src_shard, &plan.groups[0].2, &|s| {
            op_rename_local(s, db, src, dst, nx, now)
        })?
    } else {
        rename_across(
            &mut ctx.exec,
            &plan,
            (src_shard, dst_shard),
            db,
            (src, dst),
            nx,
            now,
        )?
    };
    if nx {
        ctx.reply().integer(renamed as i64);
    } else {
        ctx.reply().ok();
    }
    Ok(())
}

fn cmd_rename(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    rename(ctx, args, false)
}

fn cmd_renamenx(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    rename(ctx, args, true)
}

/// What the first hop of a cross-shard COPY learns on each shard.
struct CopyProbe {
    /// Source shard: the value and its deadline.
    entry: Option<(CompactValue, Option<u64>)>,
    /// Destination shard: whether the destination exists.
    dst_exists: bool,
}

fn cmd_copy(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, src, dst, now) = (ctx.db(), args.get(1), args.get(2), now_ms());
    let (mut dst_db, mut replace) = (db, false);
    let mut i = 3;
    while i < args.len() {
        let opt = args.get(i);
        if eq_ignore_case(opt, "replace") {
            replace = true;
        } else if eq_ignore_case(opt, "db") && i + 1 < args.len() {
            dst_db = parse_db_index(ctx, args.get(i + 1))?;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if dst_db == db && src == dst {
        return Err(CmdError::raw(SAME_OBJECT));
    }
    let (src_shard, dst_shard, plan) = two_key_plan(src, dst);
    let copied = if src_shard == dst_shard {
        ctx.exec.single_shard(src_shard, &plan.groups[0].2, &|s| {
            op_copy_local(s, db, src, dst_db, dst, replace, now)
        })
    } else {
        let mut tx = ctx.exec.schedule(&plan);
        let mut probes = tx.execute(&[src_shard, dst_shard], false, &|s| {
            let mut dbs = s.db.borrow_mut();
            if s.index == src_shard {
                CopyProbe {
                    entry: read_entry(&mut dbs, db, src, now),
                    dst_exists: false,
                }
            } else {
                CopyProbe {
                    entry: None,
                    dst_exists: dbs.exists(dst_db, dst, now),
                }
            }
        });
        let dst_exists = probes[1].dst_exists;
        match probes[0].entry.take() {
            Some((value, deadline)) if replace || !dst_exists => {
                let value = Handoff::new(value);
                tx.execute_all(&|s| {
                    if s.index == dst_shard {
                        let v = value.take().expect("one destination shard");
                        s.db.borrow_mut()
                            .insert_entry(dst_db, dst, v, deadline, now);
                        notify::keyspace_event(class::GENERIC, "copy_to", dst, dst_db);
                    }
                });
                true
            }
            _ => {
                tx.conclude();
                false
            }
        }
    };
    ctx.reply().integer(copied as i64);
    Ok(())
}

fn cmd_move(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let dst_db = parse_db_index(ctx, args.get(2))?;
    if dst_db == db {
        return Err(CmdError::raw(SAME_OBJECT));
    }
    let moved = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_move(s, db, dst_db, key, now)
        });
    ctx.reply().integer(moved as i64);
    Ok(())
}

fn cmd_touch(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    count_keys(ctx, args, LockMode::Shared, op_touch)
}

fn cmd_keys(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, now) = (ctx.db(), now_ms());
    let pattern = GlobPattern::new(args.get(1), false);
    let per_shard = ctx.exec.on_all_shards(&|s| {
        let mut keys = Vec::new();
        s.db.borrow()
            .for_each_key(db, now, Some(&pattern), |k, _| keys.push(k.to_vec()));
        keys
    });
    let mut r = ctx.reply();
    r.array_header(per_shard.iter().map(Vec::len).sum());
    for k in per_shard.iter().flatten() {
        r.bulk(k);
    }
    Ok(())
}

// A SCAN cursor is the shard table's cursor with the shard index in bits 16..26. A table
// cursor is a segment's first hash position (its top `local_depth` bits) plus a generation
// and a bucket in the low 16 bits, so bits 16..26 stay zero while local depths are at most 38
// (2^38 segments: far beyond any memory).
const SCAN_SHARD_SHIFT: u32 = 16;
const SCAN_SHARD_BITS: u32 = 10;
const SCAN_SHARD_MASK: u64 = ((1 << SCAN_SHARD_BITS) - 1) << SCAN_SHARD_SHIFT;

fn scan_cursor_encode(shard: usize, table_cursor: u64) -> u64 {
    assert!(shard < 1 << SCAN_SHARD_BITS, "shard index fits the cursor");
    assert_eq!(
        table_cursor & SCAN_SHARD_MASK,
        0,
        "table cursor uses shard bits"
    );
    table_cursor | (shard as u64) << SCAN_SHARD_SHIFT
}

fn scan_cursor_decode(cursor: u64) -> (usize, u64) {
    (
        ((cursor & SCAN_SHARD_MASK) >> SCAN_SHARD_SHIFT) as usize,
        cursor & !SCAN_SHARD_MASK,
    )
}

/// HSCAN/SSCAN/ZSCAN's options from `from` on: COUNT (default 10, at least 1) and MATCH (None
/// when it matches everything).
pub fn parse_scan_options(args: &Args<'_>, from: usize) -> OpResult<(usize, Option<GlobPattern>)> {
    let (count, pattern, _) = scan_options(args, from, false)?;
    Ok((count, pattern))
}

/// SCAN-family options: COUNT, MATCH, and TYPE's argument (SCAN only).
type ScanOptions<'a> = (usize, Option<GlobPattern>, Option<&'a [u8]>);

/// COUNT, MATCH and (SCAN only, with `with_type`) TYPE.
fn scan_options<'a>(args: &Args<'a>, from: usize, with_type: bool) -> OpResult<ScanOptions<'a>> {
    let (mut count, mut pattern, mut type_filter) = (10usize, None, None);
    let mut i = from;
    while i < args.len() {
        let (opt, has_value) = (args.get(i), i + 1 < args.len());
        if eq_ignore_case(opt, "count") && has_value {
            let n = parse_i64(args.get(i + 1))?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if eq_ignore_case(opt, "match") && has_value {
            let p = GlobPattern::new(args.get(i + 1), false);
            pattern = (!p.matches_all()).then_some(p);
        } else if with_type && eq_ignore_case(opt, "type") && has_value {
            type_filter = Some(args.get(i + 1));
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok((count, pattern, type_filter))
}

/// Redis's cursor parsing (`strtoul`): optional sign, decimal digits, no leading space; an
/// empty string is 0 and a negative value wraps.
pub fn parse_scan_cursor(a: &[u8]) -> OpResult<u64> {
    let invalid = || CmdError::raw("ERR invalid cursor");
    let (negative, digits) = match a.first() {
        Some(b'-') => (true, &a[1..]),
        Some(b'+') => (false, &a[1..]),
        _ => (false, a),
    };
    if digits.is_empty() {
        return if a.is_empty() { Ok(0) } else { Err(invalid()) };
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(invalid());
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if negative { v.wrapping_neg() } else { v })
}

fn cmd_scan(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, now) = (ctx.db(), now_ms());
    let cursor = parse_scan_cursor(args.get(1))?;
    let (count, pattern, type_filter) = scan_options(args, 2, true)?;
    let shards = damselfly_runtime::proactor_count();
    let (mut shard, mut table_cursor) = scan_cursor_decode(cursor);
    let (mut keys, mut visited) = (Vec::new(), 0usize);
    let next = loop {
        if shard >= shards {
            break 0;
        }
        let budget = count - visited;
        let step = ctx
            .exec
            .on_shards(&[shard], &|s| {
                op_scan(
                    s,
                    db,
                    table_cursor,
                    budget,
                    pattern.as_ref(),
                    type_filter,
                    now,
                )
            })
            .pop()
            .expect("one shard");
        visited += step.visited;
        keys.extend(step.keys);
        if step.next == 0 {
            shard += 1;
            table_cursor = 0;
            if shard >= shards {
                break 0;
            }
        } else {
            table_cursor = step.next;
        }
        if visited >= count {
            break scan_cursor_encode(shard, table_cursor);
        }
    };
    let mut r = ctx.reply();
    r.array_header(2);
    r.bulk(next.to_string().as_bytes());
    r.array_header(keys.len());
    for k in &keys {
        r.bulk(k);
    }
    Ok(())
}

fn cmd_randomkey(ctx: &mut CmdCtx<'_>, _args: &Args<'_>) -> CmdResult {
    let (db, now) = (ctx.db(), now_ms());
    let sizes = ctx.exec.on_all_shards(&|s| s.db.borrow().len(db));
    // Pick a shard with a chance proportional to its size; fall back to the others when the
    // chosen one only holds expired keys.
    let mut candidates: Vec<(usize, usize)> = sizes
        .into_iter()
        .enumerate()
        .filter(|(_, n)| *n > 0)
        .collect();
    let mut random = random_seed();
    while !candidates.is_empty() {
        let total: usize = candidates.iter().map(|(_, n)| n).sum();
        let mut pick = (random % total as u64) as usize;
        let at = candidates
            .iter()
            .position(|(_, n)| {
                let here = pick < *n;
                pick = pick.saturating_sub(*n);
                here
            })
            .expect("pick < total");
        let shard = candidates.swap_remove(at).0;
        let sample = FixedHasher::hash_u64(random);
        let key = ctx
            .exec
            .on_shards(&[shard], &|s| {
                s.db.borrow_mut()
                    .random_key(db, now, sample)
                    .map(|k| k.to_vec())
            })
            .pop()
            .expect("one shard");
        if let Some(k) = key {
            ctx.reply().bulk(&k);
            return Ok(());
        }
        random = FixedHasher::hash_u64(sample);
    }
    ctx.reply().null();
    Ok(())
}

fn cmd_dbsize(ctx: &mut CmdCtx<'_>, _args: &Args<'_>) -> CmdResult {
    let db = ctx.db();
    let n: usize = ctx
        .exec
        .on_all_shards(&|s| s.db.borrow().len(db))
        .into_iter()
        .sum();
    ctx.reply().integer(n as i64);
    Ok(())
}

/// FLUSHDB/FLUSHALL ASYNC (or without an argument under `lazyfree-lazy-user-flush`): the
/// keys are gone when the command answers, their memory is freed after.
fn cmd_flushdb(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let lazy = crate::lazyfree::flush_is_async(ctx.server, args)?;
    let db = ctx.db();
    ctx.exec.schedule_global().execute_all(&|s| {
        s.db.borrow_mut().flush_db_lazy(db, lazy);
        crate::tracking::flushed_on_shard();
    });
    ctx.reply().ok();
    Ok(())
}

fn cmd_flushall(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let lazy = crate::lazyfree::flush_is_async(ctx.server, args)?;
    ctx.exec.schedule_global().execute_all(&|s| {
        s.db.borrow_mut().flush_all_lazy(lazy);
        crate::tracking::flushed_on_shard();
    });
    crate::snapshot_file::after_flushall(ctx.server, &mut ctx.exec);
    ctx.reply().ok();
    Ok(())
}

fn cmd_swapdb(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let a = parse_int32(args.get(1), CmdError::raw("ERR invalid first DB index"))?;
    let b = parse_int32(args.get(2), CmdError::raw("ERR invalid second DB index"))?;
    let dbs = ctx.server.config.get_int("databases");
    if a < 0 || a >= dbs || b < 0 || b >= dbs {
        return Err(CmdError::DbIndexOutOfRange);
    }
    if a != b {
        let (a, b) = (a as usize, b as usize);
        ctx.exec
            .schedule_global()
            .execute_all(&|s| s.db.borrow_mut().swap_dbs(a, b));
    }
    ctx.reply().ok();
    Ok(())
}

/// EXPIRE's options after the time argument.
fn parse_expire_cond(args: &Args<'_>) -> OpResult<ExpireCond> {
    let mut c = ExpireCond::default();
    for opt in args.rest(3) {
        if eq_ignore_case(opt, "nx") {
            c.nx = true;
        } else if eq_ignore_case(opt, "xx") {
            c.xx = true;
        } else if eq_ignore_case(opt, "gt") {
            c.gt = true;
        } else if eq_ignore_case(opt, "lt") {
            c.lt = true;
        } else {
            return Err(CmdError::raw(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if c.nx && (c.xx || c.gt || c.lt) {
        return Err(CmdError::raw(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if c.gt && c.lt {
        return Err(CmdError::raw(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    Ok(c)
}

/// EXPIRE PEXPIRE EXPIREAT PEXPIREAT: `unit_ms` per unit of the argument, `absolute` when it
/// is a Unix time.
fn expire(
    ctx: &mut CmdCtx<'_>,
    args: &Args<'_>,
    unit_ms: i64,
    absolute: bool,
    name: &str,
) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let cond = parse_expire_cond(args)?;
    let invalid = || CmdError::InvalidExpire(name.into());
    let when = parse_i64(args.get(2))?
        .checked_mul(unit_ms)
        .ok_or_else(invalid)?;
    let base = if absolute { 0 } else { now as i64 };
    let when = when.checked_add(base).ok_or_else(invalid)?;
    let n = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_expire(s, db, key, when, cond, now)
        });
    ctx.reply().integer(n);
    Ok(())
}

fn cmd_expire(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    expire(ctx, args, 1000, false, "expire")
}

fn cmd_pexpire(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    expire(ctx, args, 1, false, "pexpire")
}

fn cmd_expireat(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    expire(ctx, args, 1000, true, "expireat")
}

fn cmd_pexpireat(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    expire(ctx, args, 1, true, "pexpireat")
}

/// TTL PTTL EXPIRETIME PEXPIRETIME: -2 missing, -1 no deadline, else the remaining time (or
/// the deadline), in ms or rounded to seconds.
fn ttl(ctx: &mut CmdCtx<'_>, args: &Args<'_>, in_ms: bool, absolute: bool) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let e = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        s.db.borrow_mut().expiry(db, key, now)
    });
    let v = match e {
        KeyExpiry::Missing => -2,
        KeyExpiry::Persistent => -1,
        KeyExpiry::At(at) => {
            let ms = if absolute { at } else { at.saturating_sub(now) };
            let ms = ms.min(i64::MAX as u64) as i64;
            if in_ms {
                ms
            } else {
                ms.saturating_add(500) / 1000
            }
        }
    };
    ctx.reply().integer(v);
    Ok(())
}

fn cmd_ttl(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    ttl(ctx, args, false, false)
}

fn cmd_pttl(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    ttl(ctx, args, true, false)
}

fn cmd_expiretime(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    ttl(ctx, args, false, true)
}

fn cmd_pexpiretime(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    ttl(ctx, args, true, true)
}

fn cmd_persist(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let cleared = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            let cleared = s.db.borrow_mut().clear_expiry(db, key, now);
            if cleared {
                notify::keyspace_event(class::GENERIC, "persist", key, db);
            }
            cleared
        });
    ctx.reply().integer(cleared as i64);
    Ok(())
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

fn cmd_object(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let sub = args.get(1);
    let lower = String::from_utf8_lossy(sub).to_ascii_lowercase();
    let (query, arity) = match lower.as_str() {
        "help" => (None, 2),
        "encoding" => (Some(ObjectQuery::Encoding), 3),
        "refcount" => (Some(ObjectQuery::RefCount), 3),
        "idletime" => (Some(ObjectQuery::IdleTime), 3),
        "freq" => (Some(ObjectQuery::Freq), 3),
        _ => return Err(CmdError::unknown_subcommand("object", sub)),
    };
    if args.len() != arity {
        return Err(CmdError::WrongArity(format!("object|{lower}")));
    }
    let Some(query) = query else {
        let mut r = ctx.reply();
        r.array_header(OBJECT_HELP.len());
        for line in OBJECT_HELP {
            r.simple(line.as_bytes());
        }
        return Ok(());
    };
    let (db, key, now) = (ctx.db(), args.get(2), now_ms());
    let clock = crate::eviction::clock_settings(ctx.server);
    let answer = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        op_object(s, db, key, query, now, clock)
    })?;
    let mut r = ctx.reply();
    match answer {
        None => r.null(),
        Some(ObjectAnswer::Text(t)) => r.bulk(t.as_bytes()),
        Some(ObjectAnswer::Int(i)) => r.integer(i),
    }
    Ok(())
}

pub fn commands() -> Vec<CommandSpec> {
    const READ_FAST: &[&str] = &["@keyspace", "@read", "@fast"];
    const READ_SLOW: &[&str] = &["@keyspace", "@read", "@slow"];
    const WRITE_FAST: &[&str] = &["@keyspace", "@write", "@fast"];
    const WRITE_SLOW: &[&str] = &["@keyspace", "@write", "@slow"];
    const DANGEROUS: &[&str] = &["@keyspace", "@write", "@slow", "@dangerous"];
    #[allow(clippy::too_many_arguments)]
    fn c(
        name: &'static str,
        arity: i32,
        flags: u32,
        acl: &'static [&'static str],
        handler: Handler,
        keys: (i32, i32, i32),
        since: &'static str,
        summary: &'static str,
    ) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags,
            acl,
            first_key: keys.0,
            last_key: keys.1,
            step: keys.2,
            group: "generic",
            summary,
            since,
            handler,
            subcommands: Vec::new(),
        }
    }
    let (none, one, all, two) = ((0, 0, 0), (1, 1, 1), (1, -1, 1), (1, 2, 1));
    vec![
        c("del", -2, WRITE, WRITE_SLOW, cmd_del, all, "1.0.0", "Deletes one or more keys."),
        c("unlink", -2, WRITE | FAST, WRITE_FAST, cmd_unlink, all, "4.0.0", "Asynchronously deletes one or more keys."),
        c("exists", -2, READONLY | FAST, READ_FAST, cmd_exists, all, "1.0.0", "Determines whether one or more keys exist."),
        c("type", 2, READONLY | FAST, READ_FAST, cmd_type, one, "1.0.0", "Determines the type of value stored at a key."),
        c("rename", 3, WRITE, WRITE_SLOW, cmd_rename, two, "1.0.0", "Renames a key and overwrites the destination."),
        c("renamenx", 3, WRITE | FAST, WRITE_FAST, cmd_renamenx, two, "1.0.0", "Renames a key only when the target key name doesn't exist."),
        c("copy", -3, WRITE | DENYOOM, WRITE_SLOW, cmd_copy, two, "6.2.0", "Copies the value of a key to a new key."),
        c("move", 3, WRITE | FAST, WRITE_FAST, cmd_move, one, "1.0.0", "Moves a key to another database."),
        c("touch", -2, READONLY | FAST, READ_FAST, cmd_touch, all, "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed."),
        c("keys", 2, READONLY, &["@keyspace", "@read", "@slow", "@dangerous"], cmd_keys, none, "1.0.0", "Returns all key names that match a pattern."),
        c("scan", -2, READONLY, READ_SLOW, cmd_scan, none, "2.8.0", "Iterates over the key names in the database."),
        c("randomkey", 1, READONLY, READ_SLOW, cmd_randomkey, none, "1.0.0", "Returns a random key name from the database."),
        c("dbsize", 1, READONLY | FAST, READ_FAST, cmd_dbsize, none, "1.0.0", "Returns the number of keys in the database."),
        c("flushdb", -1, WRITE, DANGEROUS, cmd_flushdb, none, "1.0.0", "Remove all keys from the current database."),
        c("flushall", -1, WRITE, DANGEROUS, cmd_flushall, none, "1.0.0", "Removes all keys from all databases."),
        c("swapdb", 3, WRITE | FAST, &["@keyspace", "@write", "@fast", "@dangerous"], cmd_swapdb, none, "4.0.0", "Swaps two Redis databases."),
        c("expire", -3, WRITE | FAST, WRITE_FAST, cmd_expire, one, "1.0.0", "Sets the expiration time of a key in seconds."),
        c("pexpire", -3, WRITE | FAST, WRITE_FAST, cmd_pexpire, one, "2.6.0", "Sets the expiration time of a key in milliseconds."),
        c("expireat", -3, WRITE | FAST, WRITE_FAST, cmd_expireat, one, "1.2.0", "Sets the expiration time of a key to a Unix timestamp."),
        c("pexpireat", -3, WRITE | FAST, WRITE_FAST, cmd_pexpireat, one, "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp."),
        c("ttl", 2, READONLY | FAST, READ_FAST, cmd_ttl, one, "1.0.0", "Returns the expiration time in seconds of a key."),
        c("pttl", 2, READONLY | FAST, READ_FAST, cmd_pttl, one, "2.6.0", "Returns the expiration time in milliseconds of a key."),
        c("expiretime", 2, READONLY | FAST, READ_FAST, cmd_expiretime, one, "7.0.0", "Returns the expiration time of a key as a Unix timestamp."),
        c("pexpiretime", 2, READONLY | FAST, READ_FAST, cmd_pexpiretime, one, "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp."),
        c("persist", 2, WRITE | FAST, WRITE_FAST, cmd_persist, one, "2.2.0", "Removes the expiration time of a key."),
        // A container command in Redis; its key-taking subcommands have the key at position 2
        // (OBJECT HELP has only two arguments, so no key).
        c("object", -2, 0, &["@slow"], cmd_object, none, "2.2.3", "A container for object introspection commands.").with_subcommands(|c| {
            let acl = &["@keyspace", "@read", "@slow"];
            vec![
                c.sub("object|encoding", 3, READONLY, acl, (2, 2, 1), "2.2.3", "Returns the internal encoding of a value."),
                c.sub("object|freq", 3, READONLY, acl, (2, 2, 1), "4.0.0", "Returns the logarithmic access frequency counter of a value."),
                c.sub("object|idletime", 3, READONLY, acl, (2, 2, 1), "2.2.3", "Returns the time since the last access to a value."),
                c.sub("object|refcount", 3, READONLY, acl, (2, 2, 1), "2.2.3", "Returns the reference count of a value."),
                c.sub("object|help", 2, LOADING | STALE, &["@keyspace", "@slow"], none, "6.2.0", "Returns help text about the OBJECT subcommands."),
            ]
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_cursor_round_trips_and_parses_like_strtoul() {
        for (shard, tc) in [(0, 0), (1, 0), (3, 5), (1023, 0xff00_0000_0000_0017)] {
            assert_eq!(
                scan_cursor_decode(scan_cursor_encode(shard, tc)),
                (shard, tc)
            );
        }
        assert_eq!(scan_cursor_encode(0, 0), 0);
        assert_eq!(parse_scan_cursor(b"").unwrap(), 0);
        assert_eq!(parse_scan_cursor(b"+7").unwrap(), 7);
        assert_eq!(parse_scan_cursor(b"-1").unwrap(), u64::MAX);
        assert_eq!(
            parse_scan_cursor(b"18446744073709551615").unwrap(),
            u64::MAX
        );
        for bad in [
            &b"18446744073709551616"[..],
            b" 0",
            b"0 ",
            b"-",
            b"abc",
            b"0x1",
        ] {
            assert!(parse_scan_cursor(bad).is_err());
        }
    }

    #[test]
    fn handoff_gives_the_value_once() {
        let h = Handoff::new(vec![1u8, 2, 3]);
        assert_eq!(h.take(), Some(vec![1, 2, 3]));
        assert_eq!(h.take(), None);
        let _untaken = Handoff::new(String::from("freed on drop"));
    }
}
