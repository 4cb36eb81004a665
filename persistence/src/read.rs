//! Reading a value from its RDB type byte and body: everything redis-server 7.0 writes and
//! the older encodings it still loads, rebuilt into Damselfly's own structures at the
//! thresholds in force (so a list lands in nodes of this server's size, a small hash in a
//! listpack, a large set in a hash table).
//!
//! Every count is checked against the bytes left before anything is allocated for it;
//! duplicates (set members, hash fields, zset members) and NaN scores are corrupt data, as in
//! redis-server with deep sanitization; empty collections are refused as Redis refuses them.

use crate::encoding::{
    parse_double, types, RdbError, RdbResult, Reader, QUICKLIST_NODE_PACKED, QUICKLIST_NODE_PLAIN,
};
use crate::legacy::{intset_members, ziplist_entries, zipmap_pairs};
use crate::listpack::{entries, Entry};
use damselfly_shards::zset::{Inserted, ZSetValue};
use damselfly_shards::{CollectionLimits, CompactValue, HashValue, QuickList, SetValue};
use std::borrow::Cow;

const EMPTY: RdbError = RdbError::Corrupt("empty collection");
const ODD: RdbError = RdbError::Corrupt("odd number of entries in a pair encoding");

/// Reads the type byte and the value that follows it.
pub fn read_value(r: &mut Reader<'_>, limits: &CollectionLimits) -> RdbResult<CompactValue> {
    let t = r.u8()?;
    read_typed(r, t, limits)
}

/// Reads a value of RDB type `t`.
pub fn read_typed(r: &mut Reader<'_>, t: u8, limits: &CollectionLimits) -> RdbResult<CompactValue> {
    use types::*;
    let v = match t {
        STRING => CompactValue::from_bytes(&r.string()?),
        LIST => {
            let n = r.count(1)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(r.string()?);
            }
            list_from(items, limits)?
        }
        LIST_ZIPLIST => list_from(owned(ziplist_entries(&r.string()?)?), limits)?,
        LIST_QUICKLIST | LIST_QUICKLIST_2 => read_quicklist(r, t == LIST_QUICKLIST_2, limits)?,
        SET => {
            let n = r.count(1)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(r.string()?);
            }
            set_from(items, limits)?
        }
        SET_INTSET => {
            let members = intset_members(&r.string()?)?;
            set_from(
                members
                    .iter()
                    .map(|v| Cow::Owned(v.to_string().into_bytes())),
                limits,
            )?
        }
        HASH => {
            let n = r.count(2)?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                pairs.push((r.string()?, r.string()?));
            }
            hash_from(pairs, limits)?
        }
        HASH_ZIPMAP => {
            let blob = r.string()?;
            let pairs = zipmap_pairs(&blob)?;
            hash_from(
                pairs
                    .into_iter()
                    .map(|(f, v)| (Cow::Borrowed(f), Cow::Borrowed(v))),
                limits,
            )?
        }
        HASH_ZIPLIST | HASH_LISTPACK => {
            let blob = r.string()?;
            let items = if t == HASH_ZIPLIST {
                ziplist_entries(&blob)?
            } else {
                entries(&blob)?
            };
            hash_from(pairs_of(owned(items))?, limits)?
        }
        ZSET | ZSET_2 => {
            let n = r.count(2)?;
            let mut members = Vec::with_capacity(n);
            for _ in 0..n {
                let m = r.string()?;
                let score = if t == ZSET_2 {
                    r.binary_double()?
                } else {
                    r.text_double()?
                };
                members.push((m, score));
            }
            zset_from(members, limits)?
        }
        ZSET_ZIPLIST | ZSET_LISTPACK => {
            let blob = r.string()?;
            let items = if t == ZSET_ZIPLIST {
                ziplist_entries(&blob)?
            } else {
                entries(&blob)?
            };
            let mut members = Vec::with_capacity(items.len() / 2);
            for (m, s) in pairs_of(items)? {
                let score = match s {
                    Entry::Int(v) => v as f64,
                    Entry::Str(s) => parse_double(s).ok_or(RdbError::Corrupt("bad zset score"))?,
                };
                members.push((Cow::Owned(m.to_vec()), score));
            }
            zset_from(members, limits)?
        }
        _ => return Err(RdbError::Unsupported(t)),
    };
    Ok(v)
}

fn owned(items: Vec<Entry<'_>>) -> Vec<Cow<'static, [u8]>> {
    items.iter().map(|e| Cow::Owned(e.to_vec())).collect()
}

fn pairs_of<T>(items: Vec<T>) -> RdbResult<Vec<(T, T)>> {
    if !items.len().is_multiple_of(2) {
        return Err(ODD);
    }
    let mut it = items.into_iter();
    let mut out = Vec::with_capacity(it.len() / 2);
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    Ok(out)
}

fn read_quicklist(
    r: &mut Reader<'_>,
    v2: bool,
    limits: &CollectionLimits,
) -> RdbResult<CompactValue> {
    let nodes = r.count(1)?;
    let mut items = Vec::new();
    for _ in 0..nodes {
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
            items.push(Cow::Owned(blob.into_owned()));
            continue;
        }
        // Empty nodes are skipped, as Redis does; an all-empty list is refused below.
        let node = if v2 {
            entries(&blob)?
        } else {
            ziplist_entries(&blob)?
        };
        items.extend(owned(node));
    }
    list_from(items, limits)
}

fn list_from<'a>(
    items: impl IntoIterator<Item = Cow<'a, [u8]>>,
    limits: &CollectionLimits,
) -> RdbResult<CompactValue> {
    let mut list = QuickList::new(limits);
    for item in items {
        list.push(&item, false);
    }
    if list.is_empty() {
        return Err(EMPTY);
    }
    Ok(CompactValue::from_object(Box::new(list)))
}

fn set_from<'a>(
    items: impl IntoIterator<Item = Cow<'a, [u8]>>,
    limits: &CollectionLimits,
) -> RdbResult<CompactValue> {
    let mut set = SetValue::new();
    for item in items {
        if !set.add(&item, limits) {
            return Err(RdbError::Corrupt("duplicate set members"));
        }
    }
    if set.is_empty() {
        return Err(EMPTY);
    }
    set.shrink();
    Ok(CompactValue::from_object(Box::new(set)))
}

fn hash_from<'a>(
    pairs: impl IntoIterator<Item = (Cow<'a, [u8]>, Cow<'a, [u8]>)>,
    limits: &CollectionLimits,
) -> RdbResult<CompactValue> {
    let mut hash = HashValue::new();
    for (f, v) in pairs {
        if !hash.set(&f, &v, limits) {
            return Err(RdbError::Corrupt("duplicate hash fields"));
        }
    }
    if hash.is_empty() {
        return Err(EMPTY);
    }
    Ok(CompactValue::from_object(Box::new(hash)))
}

fn zset_from(
    members: Vec<(Cow<'_, [u8]>, f64)>,
    limits: &CollectionLimits,
) -> RdbResult<CompactValue> {
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
