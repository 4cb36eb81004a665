//! Shard-side access to a key holding a typed value (list, hash, set, zset): the lookup, the
//! WRONGTYPE check, the read-lookup count and the deletion of a value a write emptied, written
//! once for every collection family.

use crate::error::{CmdError, OpResult};
use crate::families::string_family::count_lookup;
use crate::notify::{self, class};
use crate::shard::Shard;
use damselfly_shards::{CompactValue, TypedObject};

/// The value as `T`, or WRONGTYPE.
pub fn typed_of<T: TypedObject>(v: &CompactValue) -> OpResult<&T> {
    v.downcast_ref::<T>().ok_or(CmdError::WrongType)
}

/// Runs `f` on the `T` at `key` for a read, counting the lookup; None when missing.
pub fn read_typed<T: TypedObject, R>(
    shard: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
    f: impl FnOnce(&T) -> R,
) -> OpResult<Option<R>> {
    read_typed_or_missing(shard, db, key, now, |v| v.map(f))
}

/// [`read_typed`] where `f` also answers for a missing key (`None`).
pub fn read_typed_or_missing<T: TypedObject, R>(
    shard: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
    f: impl FnOnce(Option<&T>) -> R,
) -> OpResult<R> {
    let mut dbs = shard.db.borrow_mut();
    let found = dbs.find(db, key, now);
    count_lookup(found.is_some());
    match found {
        None => Ok(f(None)),
        Some(v) => Ok(f(Some(typed_of(v)?))),
    }
}

/// Runs `f` on the existing `T` at `key` for a write (no lookup counted) and deletes the key
/// if `f` emptied it, raising `del` then. `f` raises the command's own event (it runs on the
/// key's shard, so Redis's order holds: the command's event, then `del`). None when missing.
pub fn write_typed<T: TypedObject, R>(
    shard: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
    f: impl FnOnce(&mut T) -> R,
) -> OpResult<Option<R>> {
    let mut dbs = shard.db.borrow_mut();
    let (r, emptied) = {
        let Some(mut slot) = dbs.find_mut(db, key, now) else {
            return Ok(None);
        };
        typed_of::<T>(&slot)?;
        let value = slot.downcast_mut::<T>().expect("checked type");
        let r = f(value);
        (r, value.is_empty())
    };
    if emptied {
        dbs.delete(db, key, now);
        notify::keyspace_event(class::GENERIC, "del", key, db);
    }
    Ok(Some(r))
}

/// [`write_typed`] for writes that may change nothing: `unchanged` answers first, from a read,
/// when nothing would change, so the key is not counted as modified (WATCH) where Redis does
/// not count it.
pub fn write_typed_when<T: TypedObject, R>(
    shard: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
    unchanged: impl FnOnce(&T) -> Option<R>,
    f: impl FnOnce(&mut T) -> R,
) -> OpResult<Option<R>> {
    {
        let mut dbs = shard.db.borrow_mut();
        let Some(v) = dbs.find(db, key, now) else {
            return Ok(None);
        };
        if let Some(r) = unchanged(typed_of(v)?) {
            return Ok(Some(r));
        }
    }
    write_typed(shard, db, key, now, f)
}
