//! Shard-side work of the memcached commands: each `op_*` runs on the shard that owns its
//! key (through the executor), on database 0, and returns what the reply needs.

use crate::families::memcache_family::{apply_expiry, Expiry};
use crate::shard::Shard;
use damselfly_protocol::memcache::{c_strtoull, StoreKind};
use damselfly_shards::cell::CellFlags;
use damselfly_shards::CompactValue;
use std::sync::atomic::{AtomicU64, Ordering};

pub fn next_cas_from(counter: &AtomicU64) -> u64 {
    counter.fetch_add(1, Ordering::Relaxed) + 1
}

/// One item as read.
pub struct Item {
    pub data: Vec<u8>,
    pub flags: u32,
    pub cas: u64,
}

/// Reads an item for get/gets/gat/gats: marks it fetched, assigns a CAS when `want_cas` and
/// it has none, applies `touch` (gat). Typed Redis values are not items.
pub fn op_fetch(
    shard: &Shard,
    key: &[u8],
    want_cas: bool,
    touch: Option<Expiry>,
    cas_counter: &AtomicU64,
    now: u64,
) -> Option<Item> {
    let mut dbs = shard.db.borrow_mut();
    let item = {
        let mut slot = dbs.find_mut(0, key, now)?;
        let data = slot.as_bytes()?.to_vec();
        let (flags, mut cas) = slot.mc_meta();
        if want_cas && cas == 0 {
            cas = next_cas_from(cas_counter);
            slot.set_mc_cas_quiet(cas);
        }
        if !slot.has_flag(CellFlags::MC_FETCHED) {
            slot.set_flag_quiet(CellFlags::MC_FETCHED, true);
        }
        Item { data, flags, cas }
    };
    if let Some(e) = touch {
        apply_expiry(&mut dbs, key, e, now);
    }
    Some(item)
}

/// The outcome of a storage command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// With the new item's CAS (0 unless one was asked for).
    Stored(u64),
    NotStored,
    Exists,
    NotFound,
}

/// A storage request, classic or meta.
#[derive(Clone, Copy)]
pub struct StoreReq<'a> {
    pub kind: StoreKind,
    pub data: &'a [u8],
    pub flags: u32,
    pub expiry: Expiry,
    /// `cas`/`C`: the CAS the item must have (0: no compare, except for `cas` itself).
    pub compare: Option<u64>,
    /// Assign a CAS to the new item now (meta `c`).
    pub want_cas: bool,
    /// Meta `I` with a compare: a stale compare still stores, marking the item stale.
    pub invalidate: bool,
    /// Meta append/prepend with `N`: a missing item is created with this expiry.
    pub vivify: Option<Expiry>,
}

pub fn op_store(
    shard: &Shard,
    key: &[u8],
    req: &StoreReq<'_>,
    cas_counter: &AtomicU64,
    now: u64,
) -> Stored {
    let mut dbs = shard.db.borrow_mut();
    let mut token_sent = false;
    // Only append and prepend need the old bytes: a set does not copy them.
    let joins = matches!(req.kind, StoreKind::Append | StoreKind::Prepend);
    let existing = dbs.find(0, key, now).map(|v| {
        let (flags, cas) = v.mc_meta();
        token_sent = v.has_flag(CellFlags::MC_WON);
        let bytes = match v.as_bytes() {
            Some(b) if joins => Some(b.to_vec()),
            Some(_) => Some(Vec::new()),
            None => None,
        };
        (bytes, flags, cas)
    });
    let mut stale = false;
    // A CAS to compare with and no item: NOT_FOUND, except that add stores and append and
    // prepend answer NOT_STORED (memcached's order of checks).
    let compare_missing = req.compare.is_some() && !matches!(existing, Some((Some(_), _, _)));
    if compare_missing
        && matches!(
            req.kind,
            StoreKind::Set | StoreKind::Replace | StoreKind::Cas
        )
    {
        return Stored::NotFound;
    }
    // The item's bytes, flags and whether its deadline is kept.
    let (bytes, flags, keep_ttl): (std::borrow::Cow<'_, [u8]>, u32, bool) = match req.kind {
        StoreKind::Set | StoreKind::Add | StoreKind::Replace | StoreKind::Cas => {
            match (&existing, req.kind) {
                (Some(_), StoreKind::Add) => return Stored::NotStored,
                (None, StoreKind::Replace) => return Stored::NotStored,
                (None | Some((None, _, _)), StoreKind::Cas) => return Stored::NotFound,
                _ => {}
            }
            if let (Some(want), Some((_, _, cas))) = (req.compare, &existing) {
                if *cas == 0 || want != *cas {
                    // CAS 0 means "changed since every CAS handed out so far".
                    let current = match *cas {
                        0 => cas_counter.load(Ordering::Relaxed) + 1,
                        cas => cas,
                    };
                    if req.invalidate && want != 0 && want < current {
                        stale = true;
                    } else {
                        return Stored::Exists;
                    }
                }
            }
            (req.data.into(), req.flags, false)
        }
        StoreKind::Append | StoreKind::Prepend => match &existing {
            Some((Some(old), old_flags, cas)) => {
                // memcached's append and prepend take C0 as "no compare".
                if let Some(want) = req.compare.filter(|&c| c != 0) {
                    if *cas == 0 || want != *cas {
                        return Stored::Exists;
                    }
                }
                let mut joined = Vec::with_capacity(old.len() + req.data.len());
                if req.kind == StoreKind::Append {
                    joined.extend_from_slice(old);
                    joined.extend_from_slice(req.data);
                } else {
                    joined.extend_from_slice(req.data);
                    joined.extend_from_slice(old);
                }
                (joined.into(), *old_flags, true)
            }
            _ => match req.vivify {
                Some(_) => (req.data.into(), req.flags, false),
                None => return Stored::NotStored,
            },
        },
    };
    let cas = if req.want_cas {
        next_cas_from(cas_counter)
    } else {
        0
    };
    let value = CompactValue::memcache_item(&bytes, flags, cas);
    let had_deadline = {
        let (mut slot, _) = dbs.add_or_find(0, key, now);
        *slot = value;
        if stale {
            // A stale item keeps the recache token already handed out for the old one.
            slot.set_flag_quiet(CellFlags::MC_STALE, true);
            slot.set_flag_quiet(CellFlags::MC_WON, token_sent);
        }
        slot.key().has_flag(CellFlags::HAS_EXPIRY)
    };
    let expiry = match (keep_ttl, req.vivify, &existing) {
        // A stale (invalidated) store keeps the old item's TTL.
        _ if stale => None,
        (true, _, _) => None,
        (false, Some(v), None) => Some(v),
        _ => Some(req.expiry),
    };
    match expiry {
        None => {}
        Some(Expiry::Never) if !had_deadline => {}
        Some(e) => apply_expiry(&mut dbs, key, e, now),
    }
    Stored::Stored(cas)
}

/// The outcome of incr/decr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delta {
    /// The new value, the item's CAS (0 unless asked for), and whether memcached would
    /// have rewritten it in place (false: a new, longer item).
    Value(u64, u64, bool),
    NotFound,
    NonNumeric,
    /// Meta `C` did not match.
    Exists,
    /// Created by meta `N` with this initial value.
    Created(u64, u64),
}

/// incr/decr as memcached does them: unsigned 64-bit, incr wraps, decr stops at 0; a
/// shorter result is padded with spaces to the old length (memcached rewrites in place).
#[allow(clippy::too_many_arguments)]
pub fn op_delta(
    shard: &Shard,
    key: &[u8],
    incr: bool,
    delta: u64,
    compare: Option<u64>,
    vivify: Option<(Expiry, u64)>,
    want_cas: bool,
    cas_counter: &AtomicU64,
    now: u64,
) -> Delta {
    let mut dbs = shard.db.borrow_mut();
    let cas_new = || {
        if want_cas {
            next_cas_from(cas_counter)
        } else {
            0
        }
    };
    let Some(old) = dbs.find(0, key, now) else {
        let Some((expiry, initial)) = vivify else {
            return Delta::NotFound;
        };
        let cas = cas_new();
        let text = initial.to_string();
        *dbs.add_or_find(0, key, now).0 = CompactValue::memcache_item(text.as_bytes(), 0, cas);
        apply_expiry(&mut dbs, key, expiry, now);
        return Delta::Created(initial, cas);
    };
    let Some(bytes) = old.as_bytes() else {
        return Delta::NonNumeric;
    };
    let (flags, old_cas) = old.mc_meta();
    // memcached's order: an empty value, then the CAS, then the number.
    if bytes.is_empty() {
        return Delta::NonNumeric;
    }
    if let Some(want) = compare {
        if old_cas == 0 || want != old_cas {
            return Delta::Exists;
        }
    }
    let Some(current) = c_strtoull(&bytes) else {
        return Delta::NonNumeric;
    };
    let next = if incr {
        current.wrapping_add(delta)
    } else {
        current.saturating_sub(delta)
    };
    let mut text = next.to_string().into_bytes();
    // A result that fits is written in place by memcached: padded, and the item keeps its
    // fetched/stale/token bits; a longer one is a new item.
    let in_place = text.len() <= bytes.len();
    text.resize(text.len().max(bytes.len()), b' ');
    let bits = [
        CellFlags::MC_FETCHED,
        CellFlags::MC_WON,
        CellFlags::MC_STALE,
    ]
    .map(|bit| (bit, in_place && old.has_flag(bit)));
    let cas = cas_new();
    let mut slot = dbs.find_mut(0, key, now).expect("found above");
    *slot = CompactValue::memcache_item(&text, flags, cas);
    for (bit, on) in bits {
        if on {
            slot.set_flag_quiet(bit, true);
        }
    }
    Delta::Value(next, cas, in_place)
}

pub fn op_delete(shard: &Shard, key: &[u8], now: u64) -> bool {
    shard.db.borrow_mut().delete(0, key, now).is_some()
}

pub fn op_touch(shard: &Shard, key: &[u8], e: Expiry, now: u64) -> bool {
    let mut dbs = shard.db.borrow_mut();
    {
        let Some(mut slot) = dbs.find_mut(0, key, now) else {
            return false;
        };
        if slot.as_bytes().is_none() {
            return false;
        }
        // memcached counts a touch as a fetch (meta flag `h`).
        if !slot.has_flag(CellFlags::MC_FETCHED) {
            slot.set_flag_quiet(CellFlags::MC_FETCHED, true);
        }
    }
    apply_expiry(&mut dbs, key, e, now);
    true
}
