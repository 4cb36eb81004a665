//! Shard-side list operations (`op_*`, run on the shard that owns the key) and the
//! coordinator-side moves between lists that may live on two shards (LMOVE, RPOPLPUSH, LMPOP).
//!
//! The blocking commands (BLPOP, BRPOP, BLMOVE, BLMPOP, BRPOPLPUSH) reuse these: [`op_pop`] and
//! [`op_push`] for one key, [`lmove`] and [`lmpop`] once a waiter is woken (they run as one
//! transaction through the executor they are given, or as steps of the caller's).
//!
//! Writes never count INFO keyspace hits/misses (Redis's lookupKeyWrite does not); reads
//! (LLEN LRANGE LINDEX LPOS) count with [`count_lookup`].

use crate::error::{CmdError, OpResult};
use crate::exec::Exec;
use crate::families::typed;
use crate::keys::KeyPlan;
use crate::notify::{self, class};
use crate::shard::{key_hash, shard_of, Shard};
use crate::tx::locks::LockMode;
use damselfly_protocol::{ReplyWriter, RespVersion};
use damselfly_shards::{CollectionLimits, CompactValue, DbSlice, LpValue, ObjType, QuickList};

/// The list in `v`, or WRONGTYPE.
pub fn list_of(v: &CompactValue) -> OpResult<&QuickList> {
    typed::typed_of(v)
}

/// Appends `v` as a RESP bulk string (same bytes in RESP2 and RESP3).
pub fn write_bulk(out: &mut Vec<u8>, v: LpValue<'_>) {
    let mut r = ReplyWriter::new(out, RespVersion::Resp2);
    match v {
        LpValue::Str(s) => r.bulk(s),
        LpValue::Int(i) => r.bulk_integer(i),
    }
}

/// What a type probe found at a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    Missing,
    List,
    WrongType,
}

/// Whether `key` is missing, a list, or another type (no stats counted).
pub fn op_probe(shard: &Shard, db: usize, key: &[u8], now: u64) -> Probe {
    match shard.db.borrow_mut().find(db, key, now) {
        None => Probe::Missing,
        Some(v) if v.obj_type() == ObjType::List => Probe::List,
        Some(_) => Probe::WrongType,
    }
}

/// LPUSH/RPUSH (`only_if_exists`: LPUSHX/RPUSHX): pushes `values` in order at the head
/// (`left`) or the tail, raising `lpush`/`rpush`; the list's new length (0 when
/// `only_if_exists` and missing).
#[allow(clippy::too_many_arguments)]
pub fn op_push(
    shard: &Shard,
    db: usize,
    key: &[u8],
    left: bool,
    values: &[&[u8]],
    only_if_exists: bool,
    limits: CollectionLimits,
    now: u64,
) -> OpResult<i64> {
    let len = op_push_quiet(shard, db, key, left, values, only_if_exists, limits, now)?;
    if len > 0 {
        push_event(db, key, left);
    }
    Ok(len)
}

/// The `lpush`/`rpush` event of a push onto `key`.
pub fn push_event(db: usize, key: &[u8], left: bool) {
    let event = if left { "lpush" } else { "rpush" };
    notify::keyspace_event(class::LIST, event, key, db);
}

/// The events of a pop from `key`: `lpop`/`rpop`, then `del` when it emptied the list.
pub fn pop_events(db: usize, key: &[u8], left: bool, emptied: bool) {
    let event = if left { "lpop" } else { "rpop" };
    notify::keyspace_event(class::LIST, event, key, db);
    if emptied {
        notify::keyspace_event(class::GENERIC, "del", key, db);
    }
}

/// [`op_push`] raising no event: for pushes that are part of a move (whose events come in
/// Redis's order from the caller), a SORT STORE, or an undo that Redis would never do.
#[allow(clippy::too_many_arguments)]
pub fn op_push_quiet(
    shard: &Shard,
    db: usize,
    key: &[u8],
    left: bool,
    values: &[&[u8]],
    only_if_exists: bool,
    limits: CollectionLimits,
    now: u64,
) -> OpResult<i64> {
    let mut dbs = shard.db.borrow_mut();
    // One lookup for the common case, an existing list.
    if let Some(mut slot) = dbs.find_mut(db, key, now) {
        if slot.obj_type() != ObjType::List {
            return Err(CmdError::WrongType);
        }
        let ql = slot.downcast_mut::<QuickList>().expect("checked list");
        for v in values {
            ql.push(v, left);
        }
        return Ok(ql.len() as i64);
    }
    if only_if_exists {
        return Ok(0);
    }
    let (mut slot, _) = dbs.add_or_find(db, key, now);
    let mut ql = QuickList::new(&limits);
    for v in values {
        ql.push(v, left);
    }
    let len = ql.len() as i64;
    *slot = CompactValue::from_object(Box::new(ql));
    Ok(len)
}

fn op_probe_in(dbs: &mut DbSlice, db: usize, key: &[u8], now: u64) -> Probe {
    match dbs.find(db, key, now) {
        None => Probe::Missing,
        Some(v) if v.obj_type() == ObjType::List => Probe::List,
        Some(_) => Probe::WrongType,
    }
}

/// Pops up to `count` elements, passing each to `f`, and raises the pop's events; None when
/// the key is missing. Deletes the key when emptied.
pub fn op_pop_with(
    shard: &Shard,
    db: usize,
    key: &[u8],
    left: bool,
    count: usize,
    now: u64,
    f: impl FnMut(LpValue<'_>),
) -> OpResult<Option<usize>> {
    let popped = pop_raw(shard, db, key, left, count, now, f)?;
    if let Some((n, emptied)) = popped {
        if n > 0 {
            pop_events(db, key, left, emptied);
        }
    }
    Ok(popped.map(|(n, _)| n))
}

/// [`op_pop`] raising no event: the elements and whether the key was emptied (and deleted).
pub fn op_pop_quiet(
    shard: &Shard,
    db: usize,
    key: &[u8],
    left: bool,
    count: usize,
    now: u64,
) -> OpResult<(Vec<Vec<u8>>, bool)> {
    let mut out = Vec::new();
    let popped = pop_raw(shard, db, key, left, count, now, |v| out.push(v.to_vec()))?;
    Ok((out, popped.is_some_and(|(_, emptied)| emptied)))
}

/// The pop itself: (elements popped, whether the key was emptied and deleted).
fn pop_raw(
    shard: &Shard,
    db: usize,
    key: &[u8],
    left: bool,
    count: usize,
    now: u64,
    mut f: impl FnMut(LpValue<'_>),
) -> OpResult<Option<(usize, bool)>> {
    let mut dbs = shard.db.borrow_mut();
    let emptied = {
        let Some(mut slot) = dbs.find_mut(db, key, now) else {
            return Ok(None);
        };
        if slot.obj_type() != ObjType::List {
            return Err(CmdError::WrongType);
        }
        if count == 0 {
            return Ok(Some((0, false)));
        }
        let ql = slot.downcast_mut::<QuickList>().expect("checked list");
        let n = count.min(ql.len());
        if n == 1 {
            ql.pop_with(left, &mut f);
        } else if left {
            // Read them all, then drop whole nodes at once (one pop at a time would move each
            // node's bytes once per element).
            ql.range(0, n, &mut f);
            ql.delete_range(0, n);
        } else {
            let mut left_to_read = n;
            ql.scan(true, |_, v| {
                f(v);
                left_to_read -= 1;
                left_to_read > 0
            });
            let len = ql.len();
            ql.delete_range(len - n, n);
        }
        if !ql.is_empty() {
            return Ok(Some((n, false)));
        }
        n
    };
    dbs.delete(db, key, now);
    Ok(Some((emptied, true)))
}

/// LPOP/RPOP of up to `count` elements (for the blocking pops too): an empty Vec when the key
/// is missing, WRONGTYPE for other types; deletes the key when emptied.
pub fn op_pop(
    shard: &Shard,
    db: usize,
    key: &[u8],
    left: bool,
    count: usize,
    now: u64,
) -> OpResult<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    op_pop_with(shard, db, key, left, count, now, |v| out.push(v.to_vec()))?;
    Ok(out)
}

/// The element LMOVE would pop from `src` (without popping it) and whether it is the last
/// one: None when `src` is missing.
pub fn op_peek(
    shard: &Shard,
    db: usize,
    key: &[u8],
    left: bool,
    now: u64,
) -> OpResult<Option<(Vec<u8>, bool)>> {
    let mut dbs = shard.db.borrow_mut();
    let Some(v) = dbs.find(db, key, now) else {
        return Ok(None);
    };
    let ql = list_of(v)?;
    Ok(ql
        .get(if left { 0 } else { -1 })
        .map(|e| (e, ql.len() == 1)))
}

/// One move's writes with both keys on this shard, in Redis's event order: the push onto
/// `dst` (`lpush`/`rpush`), then the pop from `src` (`lpop`/`rpop`, `del` if emptied).
/// None when `src` is missing or empty.
pub fn move_element(
    shard: &Shard,
    db: usize,
    (src, dst): (&[u8], &[u8]),
    from_left: bool,
    to_left: bool,
    limits: CollectionLimits,
    now: u64,
) -> OpResult<Option<Vec<u8>>> {
    if src == dst {
        // A rotation: the list never empties, so the key (and its deadline) stays.
        return op_write(shard, db, src, now, |ql| {
            let v = ql.pop(from_left).expect("lists are never empty");
            ql.push(&v, to_left);
            push_event(db, dst, to_left);
            pop_events(db, src, from_left, false);
            v
        });
    }
    let (mut v, emptied) = op_pop_quiet(shard, db, src, from_left, 1, now)?;
    let Some(e) = v.pop() else {
        return Ok(None);
    };
    op_push(shard, db, dst, to_left, &[&e], false, limits, now)?;
    pop_events(db, src, from_left, emptied);
    Ok(Some(e))
}

/// LMOVE with both keys on this shard: the moved element, None when `src` is missing.
#[allow(clippy::too_many_arguments)]
pub fn op_lmove_local(
    shard: &Shard,
    db: usize,
    (src, dst): (&[u8], &[u8]),
    from_left: bool,
    to_left: bool,
    limits: CollectionLimits,
    now: u64,
) -> OpResult<Option<Vec<u8>>> {
    {
        let mut dbs = shard.db.borrow_mut();
        match op_probe_in(&mut dbs, db, src, now) {
            Probe::Missing => return Ok(None),
            Probe::WrongType => return Err(CmdError::WrongType),
            Probe::List => {}
        }
        if op_probe_in(&mut dbs, db, dst, now) == Probe::WrongType {
            return Err(CmdError::WrongType);
        }
    }
    move_element(shard, db, (src, dst), from_left, to_left, limits, now)
}

/// LMOVE / RPOPLPUSH (and BLMOVE once woken): moves one element from `src` to `dst` as one
/// transaction through `exec`. Returns the element, None when `src` is missing.
#[allow(clippy::too_many_arguments)]
pub fn lmove(
    exec: &mut Exec<'_>,
    db: usize,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
    limits: CollectionLimits,
    now: u64,
) -> OpResult<Option<Vec<u8>>> {
    let n = damselfly_runtime::proactor_count();
    let (src_shard, dst_shard) = (shard_of(key_hash(src), n), shard_of(key_hash(dst), n));
    let plan = KeyPlan::new([src, dst].into_iter(), LockMode::Exclusive);
    if src_shard == dst_shard {
        return exec.single_shard(src_shard, &plan.groups[0].2, &|s| {
            op_lmove_local(s, db, (src, dst), from_left, to_left, limits, now)
        });
    }
    // Hop 1 reads: the element to move (kept in place) and the destination's type. Hop 2,
    // under the same locks, removes it from the source and pushes it on the destination in
    // parallel.
    let mut tx = exec.schedule(&plan);
    let probes = tx.execute(&[src_shard, dst_shard], false, &|s| {
        if s.index == src_shard {
            op_peek(s, db, src, from_left, now).map(|v| (v, Probe::List))
        } else {
            Ok((None, op_probe(s, db, dst, now)))
        }
    });
    let (src_probe, dst_probe) = (&probes[0], &probes[1]);
    let value = match (src_probe, dst_probe) {
        (Err(e), _) => Err(e.clone()),
        (Ok((None, _)), _) => Ok(None),
        (_, Ok((_, Probe::WrongType))) => Err(CmdError::WrongType),
        (Ok((Some(v), _)), _) => Ok(Some(v.clone())),
    };
    let (v, _) = match value {
        Ok(Some(v)) => v,
        Ok(None) => {
            tx.conclude();
            return Ok(None);
        }
        Err(e) => {
            tx.conclude();
            return Err(e);
        }
    };
    // Each key's events are raised on its own shard: a subscriber sees every key's events in
    // the order they happened (the bus keeps one sender's order), while the push's and the
    // pop's, from two shards running in parallel, may interleave.
    let out = tx.execute_all(&|s| {
        if s.index == src_shard {
            let (_, emptied) = op_pop_quiet(s, db, src, from_left, 1, now)?;
            pop_events(db, src, from_left, emptied);
            Ok(())
        } else {
            op_push(s, db, dst, to_left, &[&v], false, limits, now).map(|_| ())
        }
    });
    for r in out {
        r?;
    }
    Ok(Some(v))
}

/// LMPOP's shard-side first step: the first (in argument order) of this shard's keys
/// `indices` that exists, with whether it is a list.
fn op_first_present(
    shard: &Shard,
    db: usize,
    keys: &[&[u8]],
    indices: &[usize],
    now: u64,
) -> Option<(usize, Probe)> {
    let mut dbs = shard.db.borrow_mut();
    indices
        .iter()
        .map(|&i| (i, op_probe_in(&mut dbs, db, keys[i], now)))
        .find(|(_, p)| *p != Probe::Missing)
}

/// LMPOP (and BLMPOP once woken): pops up to `count` elements from the first of `keys` that
/// holds a list, as one transaction through `exec`. WRONGTYPE when a key of another type comes
/// first. Returns (key index, elements), None when every key is missing.
pub fn lmpop(
    exec: &mut Exec<'_>,
    db: usize,
    keys: &[&[u8]],
    left: bool,
    count: usize,
    now: u64,
) -> OpResult<Option<(usize, Vec<Vec<u8>>)>> {
    let plan = KeyPlan::new(keys.iter().copied(), LockMode::Exclusive);
    let pop_first = |s: &Shard| -> OpResult<Option<(usize, Vec<Vec<u8>>)>> {
        match op_first_present(s, db, keys, plan.keys_of(s.index), now) {
            None => Ok(None),
            Some((_, Probe::WrongType)) => Err(CmdError::WrongType),
            Some((i, _)) => Ok(Some((i, op_pop(s, db, keys[i], left, count, now)?))),
        }
    };
    if plan.groups.len() == 1 {
        let shard = plan.groups[0].0;
        return exec.single_shard(shard, &plan.groups[0].2, &pop_first);
    }
    let mut tx = exec.schedule(&plan);
    let shards = tx.shards().to_vec();
    let firsts = tx.execute(&shards, false, &|s| {
        op_first_present(s, db, keys, plan.keys_of(s.index), now)
    });
    let first = shards
        .iter()
        .zip(firsts)
        .filter_map(|(&s, f)| f.map(|(i, p)| (i, p, s)))
        .min_by_key(|(i, _, _)| *i);
    let out = match first {
        None => Ok(None),
        Some((_, Probe::WrongType, _)) => Err(CmdError::WrongType),
        Some((i, _, shard)) => tx
            .execute(&[shard], false, &|s| {
                op_pop(s, db, keys[i], left, count, now)
            })
            .pop()
            .expect("one shard")
            .map(|v| Some((i, v))),
    };
    tx.conclude();
    out
}

// ---- reads ------------------------------------------------------------------------------

/// Runs `f` on the list at `key` for a read, counting the lookup; None when missing.
pub fn op_read<R>(
    shard: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
    f: impl FnOnce(&QuickList) -> R,
) -> OpResult<Option<R>> {
    typed::read_typed(shard, db, key, now, f)
}

/// Runs `f` on the list at `key` for a write (no lookup counted); deletes the key if `f`
/// emptied it. None when missing.
pub fn op_write<R>(
    shard: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
    f: impl FnOnce(&mut QuickList) -> R,
) -> OpResult<Option<R>> {
    typed::write_typed(shard, db, key, now, f)
}

/// [`op_write`] for writes that may change nothing (LINSERT without its pivot, LREM without a
/// match, LSET out of range): `unchanged` answers first, from a read, when nothing would
/// change, so the key is not counted as modified (WATCH) when Redis would not count it.
pub fn op_write_when<R>(
    shard: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
    unchanged: impl FnOnce(&QuickList) -> Option<R>,
    f: impl FnOnce(&mut QuickList) -> R,
) -> OpResult<Option<R>> {
    typed::write_typed_when(shard, db, key, now, unchanged, f)
}

/// Redis's LRANGE/LTRIM index rules: (first, last) inclusive, None when empty.
pub fn clamp_range(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    if end >= len {
        end = len - 1;
    }
    Some((start as usize, end as usize))
}
