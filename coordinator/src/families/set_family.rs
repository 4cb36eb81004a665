//! Set commands: SADD SREM SCARD SISMEMBER SMISMEMBER SMEMBERS SPOP SRANDMEMBER SMOVE SSCAN
//! here; the algebra (SINTER SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE) in
//! [`super::set_algebra`].
//!
//! Values are [`SetValue`]s (intset / listpack / hashtable, converting at the
//! `set-max-*` thresholds the coordinator passes in). A set that loses its last member is
//! deleted. Reads count keyspace hits/misses where Redis's `lookupKeyRead` does: SCARD
//! SISMEMBER SMISMEMBER SMEMBERS SRANDMEMBER SSCAN and the algebra's sources.

use super::set_algebra;
use crate::args::{parse_i64, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult, OpResult};
use crate::families::keyspace_family::{self, parse_scan_cursor};
use crate::families::typed;
use crate::keys::KeyPlan;
use crate::notify::{self, class};
use crate::random::random_seed;
use crate::registry::{flags::*, CommandSpec, Handler};
use crate::shard::{key_hash, shard_of, Shard};
use crate::tx::locks::LockMode;
use damselfly_protocol::{ReplyWriter, RespVersion};
use damselfly_shards::{CollectionLimits, CompactValue, GlobPattern, SetMember, SetValue};
use std::collections::HashSet;

/// The batch's wall clock (see `ProactorState::batch_now_ms`).
pub(crate) fn now_ms() -> u64 {
    crate::server::ProactorState::current().batch_now_ms.get()
}

/// The set a value holds, or WRONGTYPE.
pub(crate) fn set_ref(v: &CompactValue) -> OpResult<&SetValue> {
    typed::typed_of(v)
}

/// splitmix64: the random numbers one command draws from its seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0), without modulo bias worth measuring for n far below 2^64.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((self.next() as u128 * n as u128) >> 64) as usize
    }
}

/// Bulk strings encoded once on the shard (the encoding is the same in RESP2 and RESP3), so a
/// large reply crosses threads as one buffer instead of one allocation per member.
#[derive(Default)]
pub(crate) struct Bulks {
    pub n: usize,
    pub body: Vec<u8>,
}

impl Bulks {
    pub(crate) fn push(&mut self, m: &[u8]) {
        ReplyWriter::new(&mut self.body, RespVersion::Resp2).bulk(m);
        self.n += 1;
    }

    pub(crate) fn push_member(&mut self, m: SetMember<'_>) {
        match m {
            SetMember::Int(v) => {
                ReplyWriter::new(&mut self.body, RespVersion::Resp2).bulk_integer(v);
                self.n += 1;
            }
            SetMember::Str(s) => self.push(s),
        }
    }

    /// Writes them as a set (RESP3 `~`) or an array.
    pub(crate) fn reply(self, ctx: &mut CmdCtx<'_>, as_set: bool) {
        if as_set {
            ctx.reply().set_header(self.n);
        } else {
            ctx.reply().array_header(self.n);
        }
        ctx.out.extend_from_slice(&self.body);
    }
}

// ---- shard side ------------------------------------------------------------------------

/// The member arguments of SADD/SREM (from the third on), read in place: no per-command
/// vector.
#[derive(Clone, Copy)]
struct Members<'a>(Args<'a>);

impl<'a> Members<'a> {
    fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0.rest(2)
    }
}

/// Adds `members` to the set at `key`, creating it; returns how many were new.
fn op_sadd(
    shard: &Shard,
    db: usize,
    key: &[u8],
    members: Members<'_>,
    limits: &CollectionLimits,
    now: u64,
) -> OpResult<i64> {
    let mut dbs = shard.db.borrow_mut();
    let (mut slot, is_new) = dbs.add_or_find(db, key, now);
    if is_new {
        *slot = CompactValue::from_object(Box::new(SetValue::new()));
    } else {
        let set = set_ref(&slot)?;
        // Nothing new: no write, so WATCH sees no change (as Redis signals none).
        if members.iter().all(|m| set.contains(m)) {
            return Ok(0);
        }
    }
    let set = slot.downcast_mut::<SetValue>().expect("a set");
    let added = members.iter().filter(|m| set.add(m, limits)).count() as i64;
    if added > 0 {
        notify::keyspace_event(class::SET, "sadd", key, db);
    }
    Ok(added)
}

/// Removes `members`; deletes the key when the set empties. Returns how many were removed.
fn op_srem(shard: &Shard, db: usize, key: &[u8], members: Members<'_>, now: u64) -> OpResult<i64> {
    let mut dbs = shard.db.borrow_mut();
    let Some(mut slot) = dbs.find_mut(db, key, now) else {
        return Ok(0);
    };
    let set = set_ref(&slot)?;
    // Nothing to remove: no write, so WATCH sees no change.
    if !members.iter().any(|m| set.contains(m)) {
        return Ok(0);
    }
    let set = slot.downcast_mut::<SetValue>().expect("a set");
    let removed = members.iter().filter(|m| set.remove(m)).count() as i64;
    let empty = set.is_empty();
    drop(slot);
    notify::keyspace_event(class::SET, "srem", key, db);
    if empty {
        dbs.delete(db, key, now);
        notify::keyspace_event(class::GENERIC, "del", key, db);
    }
    Ok(removed)
}

/// A read lookup of a set: counts the hit or miss; None when missing.
pub(crate) fn with_set<R>(
    shard: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
    f: impl FnOnce(&SetValue) -> R,
) -> OpResult<Option<R>> {
    typed::read_typed(shard, db, key, now, f)
}

/// Every member of the set at `key` (empty when missing), for SORT and cross-shard algebra.
/// Counts the lookup as a read.
pub fn op_members(shard: &Shard, db: usize, key: &[u8], now: u64) -> OpResult<Vec<Vec<u8>>> {
    Ok(with_set(shard, db, key, now, |s| s.to_vecs())?.unwrap_or_default())
}

fn op_smembers(shard: &Shard, db: usize, key: &[u8], now: u64) -> OpResult<Bulks> {
    Ok(with_set(shard, db, key, now, |s| {
        let mut out = Bulks::default();
        s.for_each(|m| out.push_member(m));
        out
    })?
    .unwrap_or_default())
}

/// SPOP's outcome: one member (or none), or a set of them.
enum Popped {
    One(Option<Vec<u8>>),
    Many(Bulks),
}

fn op_spop(
    shard: &Shard,
    db: usize,
    key: &[u8],
    count: Option<u64>,
    seed: u64,
    now: u64,
) -> OpResult<Popped> {
    let mut dbs = shard.db.borrow_mut();
    let Some(mut slot) = dbs.find_mut(db, key, now) else {
        return Ok(match count {
            None => Popped::One(None),
            Some(_) => Popped::Many(Bulks::default()),
        });
    };
    let len = set_ref(&slot)?.len();
    let mut rng = Rng::new(seed);
    let Some(count) = count else {
        let set = slot.downcast_mut::<SetValue>().expect("a set");
        let m = set.pop_random(rng.next());
        let empty = set.is_empty();
        drop(slot);
        notify::keyspace_event(class::SET, "spop", key, db);
        if empty {
            dbs.delete(db, key, now);
            notify::keyspace_event(class::GENERIC, "del", key, db);
        }
        return Ok(Popped::One(m));
    };
    let mut out = Bulks::default();
    if count == 0 {
        return Ok(Popped::Many(out));
    }
    if count >= len as u64 {
        // Everything: the whole set goes, and the key with it.
        drop(slot);
        let removed = dbs.delete(db, key, now).expect("found above");
        set_ref(&removed.value)?.for_each(|m| out.push_member(m));
        notify::keyspace_event(class::SET, "spop", key, db);
        notify::keyspace_event(class::GENERIC, "del", key, db);
        return Ok(Popped::Many(out));
    }
    let set = slot.downcast_mut::<SetValue>().expect("a set");
    for _ in 0..count {
        if let Some(m) = set.pop_random(rng.next()) {
            out.push(&m);
        }
    }
    notify::keyspace_event(class::SET, "spop", key, db);
    Ok(Popped::Many(out))
}

/// Picks with repeats one SRANDMEMBER may ask for. Redis 7.0 tries any count and dies on the
/// largest (its reply cannot be built); past this the command fails instead.
const SRANDMEMBER_REPEATS_MAX: u64 = 1 << 26;

/// SRANDMEMBER with a count: distinct members for count >= 0, repeats allowed below 0.
fn op_srandmember_count(
    shard: &Shard,
    db: usize,
    key: &[u8],
    count: i64,
    seed: u64,
    now: u64,
) -> OpResult<Bulks> {
    let out = with_set(shard, db, key, now, |s| {
        if count < 0 && count.unsigned_abs() > SRANDMEMBER_REPEATS_MAX && !s.is_empty() {
            return Err(CmdError::raw("ERR value is out of range"));
        }
        Ok(random_members(s, count, &mut Rng::new(seed)))
    })?;
    Ok(out.transpose()?.unwrap_or_default())
}

fn random_members(s: &SetValue, count: i64, rng: &mut Rng) -> Bulks {
    let mut out = Bulks::default();
    let len = s.len();
    if count == 0 || len == 0 {
        return out;
    }
    if count < 0 {
        let n = count.unsigned_abs();
        if s.encoding() == "listpack" {
            // Positional access walks a listpack: index a copy of its (few) members.
            let all = s.to_vecs();
            for _ in 0..n {
                out.push(&all[rng.below(len)]);
            }
        } else {
            for _ in 0..n {
                out.push_member(s.random_member(rng.next()).expect("not empty"));
            }
        }
        return out;
    }
    let count = count as u64;
    if count >= len as u64 {
        s.for_each(|m| out.push_member(m));
        return out;
    }
    let count = count as usize;
    if count * 3 > len || s.encoding() != "hashtable" {
        // Many of them (or positional access is cheap): a partial shuffle of all members.
        let mut all = s.to_vecs();
        for i in 0..count {
            let j = i + rng.below(len - i);
            all.swap(i, j);
            out.push(&all[i]);
        }
        return out;
    }
    // Few of a large set: random picks, skipping repeats.
    let mut picked: HashSet<Vec<u8>, damselfly_shards::PoolHasher> = HashSet::default();
    while picked.len() < count {
        let m = s.random_member(rng.next()).expect("not empty").to_vec();
        if !picked.contains(&m) {
            out.push(&m);
            picked.insert(m);
        }
    }
    out
}

/// SMOVE with both keys on this shard.
fn op_smove_local(
    shard: &Shard,
    db: usize,
    (src, dst): (&[u8], &[u8]),
    member: &[u8],
    limits: &CollectionLimits,
    now: u64,
) -> OpResult<bool> {
    let mut dbs = shard.db.borrow_mut();
    let Some(v) = dbs.find(db, src, now) else {
        return Ok(false);
    };
    let has = set_ref(v)?.contains(member);
    if let Some(d) = dbs.find(db, dst, now) {
        set_ref(d)?;
    }
    if src == dst || !has {
        return Ok(has);
    }
    let emptied = remove_member(&mut dbs, db, src, member, now);
    srem_events(db, src, emptied);
    add_member(&mut dbs, db, dst, member, limits, now);
    Ok(true)
}

/// Removes a member known to be in the set at `key`, deleting the key when it empties
/// (returns whether it did). Raises no event: see [`srem_events`].
fn remove_member(
    dbs: &mut damselfly_shards::DbSlice,
    db: usize,
    key: &[u8],
    member: &[u8],
    now: u64,
) -> bool {
    let mut slot = dbs.find_mut(db, key, now).expect("checked");
    let set = slot.downcast_mut::<SetValue>().expect("a set");
    set.remove(member);
    let empty = set.is_empty();
    drop(slot);
    if empty {
        dbs.delete(db, key, now);
    }
    empty
}

/// SMOVE's events for its source: `srem`, then `del` when the set emptied.
fn srem_events(db: usize, key: &[u8], emptied: bool) {
    notify::keyspace_event(class::SET, "srem", key, db);
    if emptied {
        notify::keyspace_event(class::GENERIC, "del", key, db);
    }
}

/// Adds a member to the set at `key` (already type-checked), creating it.
fn add_member(
    dbs: &mut damselfly_shards::DbSlice,
    db: usize,
    key: &[u8],
    member: &[u8],
    limits: &CollectionLimits,
    now: u64,
) {
    let (mut slot, is_new) = dbs.add_or_find(db, key, now);
    if is_new {
        *slot = CompactValue::from_object(Box::new(SetValue::new()));
    } else if set_ref(&slot).is_ok_and(|s| s.contains(member)) {
        return;
    }
    slot.downcast_mut::<SetValue>()
        .expect("a set")
        .add(member, limits);
    drop(slot);
    notify::keyspace_event(class::SET, "sadd", key, db);
}

/// What SMOVE's first hop learns about its key on one shard.
enum Probe {
    Missing,
    /// Source: whether it holds the member; destination: exists and is a set.
    Set {
        has: bool,
        last: bool,
    },
    WrongType,
}

fn probe(shard: &Shard, db: usize, key: &[u8], member: &[u8], now: u64) -> Probe {
    let mut dbs = shard.db.borrow_mut();
    match dbs.find(db, key, now) {
        None => Probe::Missing,
        Some(v) => match set_ref(v) {
            Ok(s) => Probe::Set {
                has: s.contains(member),
                last: s.len() == 1,
            },
            Err(_) => Probe::WrongType,
        },
    }
}

fn op_sscan(
    shard: &Shard,
    db: usize,
    key: &[u8],
    cursor: u64,
    count: usize,
    pattern: Option<&GlobPattern>,
    now: u64,
) -> OpResult<(u64, Bulks)> {
    Ok(with_set(shard, db, key, now, |s| {
        let mut out = Bulks::default();
        let next = s.scan(cursor, count, |m| {
            m.with_bytes(|b| {
                if pattern.is_none_or(|p| p.matches(b)) {
                    out.push(b);
                }
            })
        });
        (next, out)
    })?
    .unwrap_or((0, Bulks::default())))
}

// ---- commands --------------------------------------------------------------------------

fn one_key<R: Send>(
    ctx: &mut CmdCtx<'_>,
    key: &[u8],
    mode: LockMode,
    f: &(dyn Fn(&Shard) -> R + Sync),
) -> R {
    ctx.exec.single_key(key_hash(key), mode, f)
}

fn cmd_sadd(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now, limits) = (ctx.db(), args.get(1), now_ms(), ctx.limits());
    let members = Members(*args);
    let added = one_key(ctx, key, LockMode::Exclusive, &|s| {
        op_sadd(s, db, key, members, &limits, now)
    })?;
    ctx.reply().integer(added);
    Ok(())
}

fn cmd_srem(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let members = Members(*args);
    let removed = one_key(ctx, key, LockMode::Exclusive, &|s| {
        op_srem(s, db, key, members, now)
    })?;
    ctx.reply().integer(removed);
    Ok(())
}

fn cmd_scard(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let n = one_key(ctx, key, LockMode::Shared, &|s| {
        with_set(s, db, key, now, |set| set.len())
    })?;
    ctx.reply().integer(n.unwrap_or(0) as i64);
    Ok(())
}

fn cmd_sismember(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, member, now) = (ctx.db(), args.get(1), args.get(2), now_ms());
    let has = one_key(ctx, key, LockMode::Shared, &|s| {
        with_set(s, db, key, now, |set| set.contains(member))
    })?;
    ctx.reply().integer(has.unwrap_or(false) as i64);
    Ok(())
}

fn cmd_smismember(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let members: Vec<&[u8]> = args.rest(2).collect();
    let found = one_key(ctx, key, LockMode::Shared, &|s| {
        with_set(s, db, key, now, |set| {
            members.iter().map(|m| set.contains(m)).collect::<Vec<_>>()
        })
    })?;
    let found = found.unwrap_or_else(|| vec![false; members.len()]);
    let mut r = ctx.reply();
    r.array_header(found.len());
    for f in found {
        r.integer(f as i64);
    }
    Ok(())
}

fn cmd_smembers(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let out = one_key(ctx, key, LockMode::Shared, &|s| {
        op_smembers(s, db, key, now)
    })?;
    out.reply(ctx, true);
    Ok(())
}

fn cmd_spop(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let count = match args.len() {
        2 => None,
        3 => {
            let positive = || CmdError::raw("ERR value is out of range, must be positive");
            let n = parse_i64(args.get(2)).map_err(|_| positive())?;
            Some(u64::try_from(n).map_err(|_| positive())?)
        }
        _ => return Err(CmdError::Syntax),
    };
    let seed = random_seed();
    let popped = one_key(ctx, key, LockMode::Exclusive, &|s| {
        op_spop(s, db, key, count, seed, now)
    })?;
    match popped {
        Popped::One(Some(m)) => ctx.reply().bulk(&m),
        Popped::One(None) => ctx.reply().null(),
        Popped::Many(out) => out.reply(ctx, true),
    }
    Ok(())
}

fn cmd_srandmember(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let seed = random_seed();
    match args.len() {
        2 => {
            let m = one_key(ctx, key, LockMode::Shared, &|s| {
                with_set(s, db, key, now, |set| {
                    set.random_member(seed).map(|m| m.to_vec())
                })
            })?;
            match m.flatten() {
                Some(m) => ctx.reply().bulk(&m),
                None => ctx.reply().null(),
            }
        }
        3 => {
            let count = parse_i64(args.get(2))?;
            if count == i64::MIN {
                return Err(CmdError::raw(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
            let out = one_key(ctx, key, LockMode::Shared, &|s| {
                op_srandmember_count(s, db, key, count, seed, now)
            })?;
            out.reply(ctx, false);
        }
        _ => return Err(CmdError::Syntax),
    }
    Ok(())
}

fn cmd_smove(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, now, limits) = (ctx.db(), now_ms(), ctx.limits());
    let (src, dst, member) = (args.get(1), args.get(2), args.get(3));
    let n = damselfly_runtime::proactor_count();
    let (src_shard, dst_shard) = (shard_of(key_hash(src), n), shard_of(key_hash(dst), n));
    let plan = KeyPlan::new([src, dst].into_iter(), LockMode::Exclusive);
    let moved = if src_shard == dst_shard {
        ctx.exec.single_shard(src_shard, &plan.groups[0].2, &|s| {
            op_smove_local(s, db, (src, dst), member, &limits, now)
        })?
    } else {
        let mut tx = ctx.exec.schedule(&plan);
        let probes = tx.execute(&[src_shard, dst_shard], false, &|s| {
            let key = if s.index == src_shard { src } else { dst };
            probe(s, db, key, member, now)
        });
        let last = matches!(probes[0], Probe::Set { last: true, .. });
        let verdict = match (&probes[0], &probes[1]) {
            (Probe::Missing, _) => Ok(false),
            (Probe::WrongType, _) | (_, Probe::WrongType) => Err(CmdError::WrongType),
            (Probe::Set { has, .. }, _) => Ok(*has),
            // The source slot answers for the source shard.
        };
        match verdict {
            Ok(true) => {
                tx.execute_all(&|s| {
                    let mut dbs = s.db.borrow_mut();
                    // Each key's events on its own shard, so they follow its earlier ones.
                    if s.index == src_shard {
                        remove_member(&mut dbs, db, src, member, now);
                        srem_events(db, src, last);
                    } else if s.index == dst_shard {
                        add_member(&mut dbs, db, dst, member, &limits, now);
                    }
                });
                true
            }
            other => {
                tx.conclude();
                other?
            }
        }
    };
    ctx.reply().integer(moved as i64);
    Ok(())
}

fn cmd_sscan(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let cursor = parse_scan_cursor(args.get(2))?;
    let (count, pattern) = keyspace_family::parse_scan_options(args, 3)?;
    let (next, out) = one_key(ctx, key, LockMode::Shared, &|s| {
        op_sscan(s, db, key, cursor, count, pattern.as_ref(), now)
    })?;
    ctx.reply().array_header(2);
    ctx.reply().bulk(next.to_string().as_bytes());
    out.reply(ctx, false);
    Ok(())
}

pub fn commands() -> Vec<CommandSpec> {
    const WRITE_FAST: &[&str] = &["@write", "@set", "@fast"];
    const WRITE_SLOW: &[&str] = &["@write", "@set", "@slow"];
    const READ_FAST: &[&str] = &["@read", "@set", "@fast"];
    const READ_SLOW: &[&str] = &["@read", "@set", "@slow"];
    let c = |name, arity, flags, acl, handler: Handler, keys, since, summary| {
        crate::registry::command(
            name, arity, flags, acl, keys, "set", since, summary, handler,
        )
    };
    let one = (1, 1, 1);
    let all = (1, -1, 1);
    vec![
        c("sadd", -3, WRITE | DENYOOM | FAST, WRITE_FAST, cmd_sadd, one, "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist."),
        c("srem", -3, WRITE | FAST, WRITE_FAST, cmd_srem, one, "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed."),
        c("scard", 2, READONLY | FAST, READ_FAST, cmd_scard, one, "1.0.0", "Returns the number of members in a set."),
        c("sismember", 3, READONLY | FAST, READ_FAST, cmd_sismember, one, "1.0.0", "Determines whether a member belongs to a set."),
        c("smismember", -3, READONLY | FAST, READ_FAST, cmd_smismember, one, "6.2.0", "Determines whether multiple members belong to a set."),
        c("smembers", 2, READONLY, READ_SLOW, cmd_smembers, one, "1.0.0", "Returns all members of a set."),
        c("spop", -2, WRITE | FAST, WRITE_FAST, cmd_spop, one, "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped."),
        c("srandmember", -2, READONLY, READ_SLOW, cmd_srandmember, one, "1.0.0", "Get one or multiple random members from a set"),
        c("smove", 4, WRITE | FAST, WRITE_FAST, cmd_smove, (1, 2, 1), "1.0.0", "Moves a member from one set to another."),
        c("sscan", -3, READONLY, READ_SLOW, cmd_sscan, one, "2.8.0", "Iterates over members of a set."),
        c("sinter", -2, READONLY, READ_SLOW, set_algebra::cmd_sinter, all, "1.0.0", "Returns the intersect of multiple sets."),
        // Keys follow numkeys: no fixed key positions (never squashed; EXEC finds them with
        // CommandSpec::keys_in), like LMPOP.
        c("sintercard", -3, READONLY, READ_SLOW, set_algebra::cmd_sintercard, (0, 0, 0), "7.0.0", "Returns the number of members of the intersect of multiple sets."),
        c("sinterstore", -3, WRITE | DENYOOM, WRITE_SLOW, set_algebra::cmd_sinterstore, all, "1.0.0", "Stores the intersect of multiple sets in a key."),
        c("sunion", -2, READONLY, READ_SLOW, set_algebra::cmd_sunion, all, "1.0.0", "Returns the union of multiple sets."),
        c("sunionstore", -3, WRITE | DENYOOM, WRITE_SLOW, set_algebra::cmd_sunionstore, all, "1.0.0", "Stores the union of multiple sets in a key."),
        c("sdiff", -2, READONLY, READ_SLOW, set_algebra::cmd_sdiff, all, "1.0.0", "Returns the difference of multiple sets."),
        c("sdiffstore", -3, WRITE | DENYOOM, WRITE_SLOW, set_algebra::cmd_sdiffstore, all, "1.0.0", "Stores the difference of multiple sets in a key."),
    ]
}
