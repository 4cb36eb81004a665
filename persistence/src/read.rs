//! Reading a value from its RDB type byte and body: everything redis-server 7.0 writes and
//! the older encodings it still loads, rebuilt into Damselfly's own structures at the
//! thresholds in force (so a list lands in nodes of this server's size, a small hash in a
//! listpack, a large set in a hash table).
//!
//! Elements go straight from the payload (or the decompressed blob) into the structure, with
//! no copy per element. Every count is checked against the bytes left before anything is
//! allocated for it; duplicates (set members, hash fields, zset members) and NaN scores are
//! corrupt data, as in redis-server with deep sanitization; empty collections are refused as
//! Redis refuses them.

use crate::encoding::{
    parse_double, types, RdbError, RdbResult, Reader, QUICKLIST_NODE_PACKED, QUICKLIST_NODE_PLAIN,
};
use crate::legacy::{intset_members, ziplist_entries, zipmap_pairs};
use crate::listpack::{entries, Entry};
use damselfly_shards::zset::{Inserted, ZSetValue};
use damselfly_shards::{CollectionLimits, CompactValue, HashValue, QuickList, SetValue};

const EMPTY: RdbError = RdbError::Corrupt("empty collection");
const ODD: RdbError = RdbError::Corrupt("odd number of entries in a pair encoding");

/// Reads the type byte and the value that follows it.
pub fn read_value(r: &mut Reader<'_>, limits: &CollectionLimits) -> RdbResult<CompactValue> {
    let t = r.u8()?;
    read_typed(r, t, limits)
}

/// Calls `f` with an entry's bytes (an integer's decimal text, formatted on the stack).
fn with_bytes<R>(e: Entry<'_>, f: impl FnOnce(&[u8]) -> R) -> R {
    match e {
        Entry::Str(s) => f(s),
        Entry::Int(v) => {
            let mut buf = [0u8; 20];
            f(damselfly_shards::listpack::format_i64(v, &mut buf))
        }
    }
}

/// The packed entries of a listpack (`packed`) or ziplist blob.
fn blob_entries(blob: &[u8], packed: bool) -> RdbResult<Vec<Entry<'_>>> {
    if packed {
        entries(blob)
    } else {
        ziplist_entries(blob)
    }
}

/// Reads a value of RDB type `t`.
pub fn read_typed(r: &mut Reader<'_>, t: u8, limits: &CollectionLimits) -> RdbResult<CompactValue> {
    use types::*;
    match t {
        STRING => Ok(CompactValue::from_bytes(&r.string()?)),
        LIST => {
            let mut list = QuickList::new(limits);
            for _ in 0..r.count(1)? {
                list.push(&r.string()?, false);
            }
            list_value(list)
        }
        LIST_ZIPLIST => {
            let mut list = QuickList::new(limits);
            for e in ziplist_entries(&r.string()?)? {
                with_bytes(e, |b| list.push(b, false));
            }
            list_value(list)
        }
        LIST_QUICKLIST | LIST_QUICKLIST_2 => read_quicklist(r, t == LIST_QUICKLIST_2, limits),
        SET => {
            let mut set = SetValue::new();
            for _ in 0..r.count(1)? {
                set_add(&mut set, &r.string()?, limits)?;
            }
            set_value(set)
        }
        SET_INTSET => {
            let mut set = SetValue::new();
            for v in intset_members(&r.string()?)? {
                with_bytes(Entry::Int(v), |b| set_add(&mut set, b, limits))?;
            }
            set_value(set)
        }
        HASH => {
            let mut hash = HashValue::new();
            for _ in 0..r.count(2)? {
                let field = r.string()?;
                hash_set(&mut hash, &field, &r.string()?, limits)?;
            }
            hash_value(hash)
        }
        HASH_ZIPMAP => {
            let mut hash = HashValue::new();
            for (f, v) in zipmap_pairs(&r.string()?)? {
                hash_set(&mut hash, f, v, limits)?;
            }
            hash_value(hash)
        }
        HASH_ZIPLIST | HASH_LISTPACK => {
            let blob = r.string()?;
            let items = blob_entries(&blob, t == HASH_LISTPACK)?;
            if !items.len().is_multiple_of(2) {
                return Err(ODD);
            }
            let mut hash = HashValue::new();
            for pair in items.chunks_exact(2) {
                with_bytes(pair[0], |f| {
                    with_bytes(pair[1], |v| hash_set(&mut hash, f, v, limits))
                })?;
            }
            hash_value(hash)
        }
        ZSET | ZSET_2 => {
            let n = r.count(2)?;
            let mut members = Vec::with_capacity(n);
            for _ in 0..n {
                let m = r.string()?.into_owned();
                let score = if t == ZSET_2 {
                    r.binary_double()?
                } else {
                    r.text_double()?
                };
                members.push((m, score));
            }
            zset_from(members, limits)
        }
        ZSET_ZIPLIST | ZSET_LISTPACK => {
            let blob = r.string()?;
            let items = blob_entries(&blob, t == ZSET_LISTPACK)?;
            if !items.len().is_multiple_of(2) {
                return Err(ODD);
            }
            let mut members = Vec::with_capacity(items.len() / 2);
            for pair in items.chunks_exact(2) {
                let score = match pair[1] {
                    Entry::Int(v) => v as f64,
                    Entry::Str(s) => parse_double(s).ok_or(RdbError::Corrupt("bad zset score"))?,
                };
                members.push((pair[0].to_vec(), score));
            }
            zset_from(members, limits)
        }
        STREAM_LISTPACKS | STREAM_LISTPACKS_2 | crate::stream::STREAM_LISTPACKS_3 => {
            crate::stream::read_stream(r, t, limits.stream_nodes())
        }
        _ => Err(RdbError::Unsupported(t)),
    }
}

fn read_quicklist(
    r: &mut Reader<'_>,
    v2: bool,
    limits: &CollectionLimits,
) -> RdbResult<CompactValue> {
    let mut list = QuickList::new(limits);
    for _ in 0..r.count(1)? {
        let container = if v2 {
            r.length()?
        } else {
            QUICKLIST_NODE_PACKED
        };
        if container != QUICKLIST_NODE_PACKED && container != QUICKLIST_NODE_PLAIN {
            return Err(RdbError::Corrupt("quicklist integrity check failed"));
        }
        let blob = r.string()?;
        if blob.is_empty() {
            return Err(RdbError::Corrupt("empty quicklist node"));
        }
        if container == QUICKLIST_NODE_PLAIN {
            list.push(&blob, false);
            continue;
        }
        // Empty nodes are skipped, as Redis does; an all-empty list is refused below.
        for e in blob_entries(&blob, v2)? {
            with_bytes(e, |b| list.push(b, false));
        }
    }
    list_value(list)
}

fn list_value(list: QuickList) -> RdbResult<CompactValue> {
    if list.is_empty() {
        return Err(EMPTY);
    }
    Ok(CompactValue::from_object(Box::new(list)))
}

fn set_add(set: &mut SetValue, member: &[u8], limits: &CollectionLimits) -> RdbResult<()> {
    if !set.add(member, limits) {
        return Err(RdbError::Corrupt("duplicate set members"));
    }
    Ok(())
}

fn set_value(mut set: SetValue) -> RdbResult<CompactValue> {
    if set.is_empty() {
        return Err(EMPTY);
    }
    set.shrink();
    Ok(CompactValue::from_object(Box::new(set)))
}

fn hash_set(hash: &mut HashValue, f: &[u8], v: &[u8], limits: &CollectionLimits) -> RdbResult<()> {
    if !hash.set(f, v, limits) {
        return Err(RdbError::Corrupt("duplicate hash fields"));
    }
    Ok(())
}

fn hash_value(hash: HashValue) -> RdbResult<CompactValue> {
    if hash.is_empty() {
        return Err(EMPTY);
    }
    Ok(CompactValue::from_object(Box::new(hash)))
}

fn zset_from(members: Vec<(Vec<u8>, f64)>, limits: &CollectionLimits) -> RdbResult<CompactValue> {
    if members.is_empty() {
        return Err(EMPTY);
    }
    let max_len = members.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut zset = ZSetValue::for_size(members.len(), max_len, limits);
    for (m, score) in members {
        if score.is_nan() {
            return Err(RdbError::Corrupt("zset score is NaN"));
        }
        if zset.insert(&m, score, limits) != Inserted::Added {
            return Err(RdbError::Corrupt("duplicate zset members"));
        }
    }
    Ok(CompactValue::from_object(Box::new(zset)))
}
