//! memcached's classic text commands: get gets gat gats, set add replace append prepend cas,
//! delete, incr decr, touch, flush_all, version, verbosity, stats, as memcached 1.6 answers.
//!
//! Items are Redis strings in database 0 (Redis GET reads a memcached `set`, memcached `get`
//! reads a Redis SET). An item's flags and CAS unique ride in its value cell only when
//! non-zero ([`CompactValue::memcache_item`]); a CAS of 0 means "none yet": `gets` (or a
//! meta `c` flag) assigns one from the server's counter. Every memcached write stores CAS 0
//! and every Redis write makes a fresh cell, so a CAS handed out earlier never matches again.
//!
//! Shard-side `op_*` functions run on the key's shard through the executor (inline when the
//! key is local); `cmd_*` functions run on the connection's proactor and write the reply.

use crate::exec::Exec;
use crate::families::memcache_meta;
use crate::memcache_reply::McOut;
use crate::server::ServerState;
use crate::shard::{key_hash, Shard};
use crate::tx::locks::LockMode;
use damselfly_protocol::memcache::{c_strtoull, GetKind, MemcacheCommand, StoreKind, Tokens};
use damselfly_runtime::clock;
use damselfly_shards::cell::CellFlags;
use damselfly_shards::CompactValue;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// memcached's `REALTIME_MAXDELTA`: exptimes up to 30 days are relative, later ones absolute.
const REALTIME_MAXDELTA: i64 = 60 * 60 * 24 * 30;
/// The version memcached clients see (they pick features by it: meta commands need 1.6).
pub const VERSION: &str = "1.6.18";

/// Counters of one proactor's memcached connections; written only by that proactor
/// (load + store, no read-modify-write), read by `stats` from any.
#[derive(Default)]
#[repr(align(64))]
pub struct McCounters {
    pub cmd_get: AtomicU64,
    pub cmd_set: AtomicU64,
    pub cmd_flush: AtomicU64,
    pub cmd_touch: AtomicU64,
    pub cmd_meta: AtomicU64,
    pub get_hits: AtomicU64,
    pub get_misses: AtomicU64,
    pub delete_misses: AtomicU64,
    pub delete_hits: AtomicU64,
    pub incr_misses: AtomicU64,
    pub incr_hits: AtomicU64,
    pub decr_misses: AtomicU64,
    pub decr_hits: AtomicU64,
    pub cas_misses: AtomicU64,
    pub cas_hits: AtomicU64,
    pub cas_badval: AtomicU64,
    pub touch_hits: AtomicU64,
    pub touch_misses: AtomicU64,
    pub store_too_large: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_written: AtomicU64,
    pub total_items: AtomicU64,
    pub curr_connections: AtomicU64,
    pub total_connections: AtomicU64,
}

/// Adds `n` to a counter only its own proactor writes.
pub fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// What the memcached side of a server shares: the CAS counter, counters per proactor.
pub struct McState {
    pub server: Arc<ServerState>,
    cas_counter: AtomicU64,
    counters: Box<[McCounters]>,
    pub verbosity: AtomicU64,
    pub item_size_max: usize,
    pub port: u16,
}

impl McState {
    pub fn new(server: Arc<ServerState>, port: u16, item_size_max: usize) -> McState {
        let counters = (0..server.shards).map(|_| McCounters::default()).collect();
        McState {
            server,
            cas_counter: AtomicU64::new(0),
            counters,
            verbosity: AtomicU64::new(0),
            item_size_max,
            port,
        }
    }

    /// The counters of the current proactor.
    pub fn counters(&self) -> &McCounters {
        let i = damselfly_runtime::proactor_index().unwrap_or(0);
        &self.counters[i.min(self.counters.len() - 1)]
    }

    pub fn sum(&self, field: impl Fn(&McCounters) -> &AtomicU64) -> u64 {
        self.counters
            .iter()
            .map(|c| field(c).load(Ordering::Relaxed))
            .sum()
    }

    /// The CAS counter, for shard-side work that assigns CAS uniques.
    pub fn cas_counter(&self) -> &AtomicU64 {
        &self.cas_counter
    }

    /// `stats reset`: zeroes the command counters (connection counts stay). A counter its
    /// proactor bumps at the same moment may keep that one increment.
    pub fn reset(&self) {
        for c in self.counters.iter() {
            for f in [
                &c.cmd_get,
                &c.cmd_set,
                &c.cmd_flush,
                &c.cmd_touch,
                &c.cmd_meta,
                &c.get_hits,
                &c.get_misses,
                &c.delete_misses,
                &c.delete_hits,
                &c.incr_misses,
                &c.incr_hits,
                &c.decr_misses,
                &c.decr_hits,
                &c.cas_misses,
                &c.cas_hits,
                &c.cas_badval,
                &c.touch_hits,
                &c.touch_misses,
                &c.store_too_large,
                &c.bytes_read,
                &c.bytes_written,
                &c.total_items,
                &c.total_connections,
            ] {
                f.store(0, Ordering::Relaxed);
            }
        }
    }
}

fn next_cas_from(counter: &AtomicU64) -> u64 {
    counter.fetch_add(1, Ordering::Relaxed) + 1
}

/// What an exptime asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    Never,
    /// Absolute wall-clock deadline, ms.
    At(u64),
    /// Already expired: the item is gone at once.
    Gone,
}

/// memcached's exptime rules: 0 never; negative expired at once; up to 30 days relative;
/// later an absolute unix time (in the past: expired).
pub fn expiry_of(exptime: i64, now_ms: u64) -> Expiry {
    if exptime == 0 {
        return Expiry::Never;
    }
    if exptime < 0 {
        return Expiry::Gone;
    }
    let at = if exptime <= REALTIME_MAXDELTA {
        now_ms + exptime as u64 * 1000
    } else {
        exptime as u64 * 1000
    };
    if at <= now_ms {
        Expiry::Gone
    } else {
        Expiry::At(at)
    }
}

/// The wall clock of this batch of commands, ms (read once per read from the client, as
/// the Redis side does: a clock read per command costs more than the command).
pub fn now_ms() -> u64 {
    crate::server::ProactorState::current().batch_now_ms.get()
}

/// memcached's TTL display: seconds left (rounded up), or -1 for none.
pub fn ttl_secs(dbs: &mut damselfly_shards::DbSlice, key: &[u8], now: u64) -> i64 {
    match dbs.expiry(0, key, now) {
        damselfly_shards::db_slice::KeyExpiry::At(at) => {
            (at.saturating_sub(now)).div_ceil(1000) as i64
        }
        _ => -1,
    }
}

/// Applies an exptime to a stored key.
pub fn apply_expiry(dbs: &mut damselfly_shards::DbSlice, key: &[u8], e: Expiry, now: u64) {
    match e {
        Expiry::Never => {
            dbs.clear_expiry(0, key, now);
        }
        Expiry::At(at) => {
            dbs.set_expiry(0, key, at, now);
        }
        Expiry::Gone => {
            dbs.delete(0, key, now);
        }
    }
}

// ---- shard side ------------------------------------------------------------------------

/// One item as read.
pub struct Item {
    pub data: Vec<u8>,
    pub flags: u32,
    pub cas: u64,
}

/// Reads an item for get/gets/gat/gats: marks it fetched, assigns a CAS when `want_cas` and
/// it has none, applies `touch` (gat). Typed Redis values are not items.
fn op_fetch(
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
            slot.set_mc_cas(cas);
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

fn op_delete(shard: &Shard, key: &[u8], now: u64) -> bool {
    shard.db.borrow_mut().delete(0, key, now).is_some()
}

fn op_touch(shard: &Shard, key: &[u8], e: Expiry, now: u64) -> bool {
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

// ---- coordinator side ------------------------------------------------------------------

/// Runs one parsed command; returns false when the connection must close (`quit`).
pub fn execute(mc: &McState, command: &MemcacheCommand<'_>, out: &mut McOut<'_>) -> bool {
    let counters = mc.counters();
    match *command {
        MemcacheCommand::Get {
            kind,
            exptime,
            keys,
        } => cmd_get(mc, kind, exptime, keys, out),
        MemcacheCommand::Store {
            kind,
            key,
            flags,
            exptime,
            cas_unique,
            noreply,
            data,
        } => {
            bump(&counters.cmd_set, 1);
            let now = now_ms();
            let req = StoreReq {
                kind,
                data,
                flags,
                expiry: expiry_of(i64::from(exptime), now),
                compare: (kind == StoreKind::Cas).then_some(cas_unique),
                want_cas: false,
                invalidate: false,
                vivify: None,
            };
            let result = store(mc, key, &req, now);
            if kind == StoreKind::Cas {
                let c = match result {
                    Stored::Stored(_) => &counters.cas_hits,
                    Stored::Exists => &counters.cas_badval,
                    _ => &counters.cas_misses,
                };
                bump(c, 1);
            }
            if !noreply {
                out.raw(match result {
                    Stored::Stored(_) => b"STORED\r\n",
                    Stored::NotStored => b"NOT_STORED\r\n",
                    Stored::Exists => b"EXISTS\r\n",
                    Stored::NotFound => b"NOT_FOUND\r\n",
                });
            }
        }
        MemcacheCommand::Delete { key, noreply } => {
            let now = now_ms();
            let found = Exec::now().single_key(key_hash(key), LockMode::Exclusive, &|s| {
                op_delete(s, key, now)
            });
            bump(
                if found {
                    &counters.delete_hits
                } else {
                    &counters.delete_misses
                },
                1,
            );
            if !noreply {
                out.raw(if found {
                    b"DELETED\r\n"
                } else {
                    b"NOT_FOUND\r\n"
                });
            }
        }
        MemcacheCommand::Arithmetic {
            incr,
            key,
            delta,
            noreply,
        } => {
            let now = now_ms();
            let counter = mc.cas_counter();
            let result = Exec::now().single_key(key_hash(key), LockMode::Exclusive, &|s| {
                op_delta(s, key, incr, delta, None, None, false, counter, now)
            });
            let (hits, misses) = if incr {
                (&counters.incr_hits, &counters.incr_misses)
            } else {
                (&counters.decr_hits, &counters.decr_misses)
            };
            match result {
                Delta::Value(v, _, _) | Delta::Created(v, _) => {
                    bump(hits, 1);
                    if !noreply {
                        out.u64(v);
                        out.raw(b"\r\n");
                    }
                }
                Delta::NotFound | Delta::Exists => {
                    bump(misses, 1);
                    if !noreply {
                        out.raw(b"NOT_FOUND\r\n");
                    }
                }
                Delta::NonNumeric => {
                    if !noreply {
                        out.raw(NON_NUMERIC);
                    }
                }
            }
        }
        MemcacheCommand::Touch {
            key,
            exptime,
            noreply,
        } => {
            bump(&counters.cmd_touch, 1);
            let now = now_ms();
            let e = expiry_of(i64::from(exptime), now);
            let found = Exec::now().single_key(key_hash(key), LockMode::Exclusive, &|s| {
                op_touch(s, key, e, now)
            });
            bump(
                if found {
                    &counters.touch_hits
                } else {
                    &counters.touch_misses
                },
                1,
            );
            if !noreply {
                out.raw(if found {
                    b"TOUCHED\r\n"
                } else {
                    b"NOT_FOUND\r\n"
                });
            }
        }
        MemcacheCommand::FlushAll { delay, noreply } => {
            bump(&counters.cmd_flush, 1);
            flush_all(delay.unwrap_or(0));
            if !noreply {
                out.raw(b"OK\r\n");
            }
        }
        MemcacheCommand::Version => {
            out.raw(b"VERSION ");
            out.raw(VERSION.as_bytes());
            out.raw(b"\r\n");
        }
        MemcacheCommand::Verbosity { level, noreply } => {
            mc.verbosity.store(u64::from(level), Ordering::Relaxed);
            if !noreply {
                out.raw(b"OK\r\n");
            }
        }
        MemcacheCommand::Stats { args } => {
            crate::families::memcache_stats::cmd_stats(mc, args, out)
        }
        MemcacheCommand::Quit => return false,
        MemcacheCommand::Meta {
            kind,
            key,
            flags,
            data,
        } => {
            bump(&counters.cmd_meta, 1);
            memcache_meta::execute(mc, kind, key, flags, data, out);
        }
    }
    true
}

pub const NON_NUMERIC: &[u8] = b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";

/// Runs a storage request on the key's shard and counts it.
pub fn store(mc: &McState, key: &[u8], req: &StoreReq<'_>, now: u64) -> Stored {
    let counter = mc.cas_counter();
    let result = Exec::now().single_key(key_hash(key), LockMode::Exclusive, &|s| {
        op_store(s, key, req, counter, now)
    });
    if let Stored::Stored(_) = result {
        bump(&mc.counters().total_items, 1);
    }
    result
}

/// Fetches one item on its shard and counts the hit or miss.
pub fn fetch(
    mc: &McState,
    key: &[u8],
    want_cas: bool,
    touch: Option<Expiry>,
    now: u64,
) -> Option<Item> {
    let counter = mc.cas_counter();
    let mode = if touch.is_some() || want_cas {
        LockMode::Exclusive
    } else {
        LockMode::Shared
    };
    let item = Exec::now().single_key(key_hash(key), mode, &|s| {
        op_fetch(s, key, want_cas, touch, counter, now)
    });
    let c = mc.counters();
    bump(
        if item.is_some() {
            &c.get_hits
        } else {
            &c.get_misses
        },
        1,
    );
    if touch.is_some() {
        bump(
            if item.is_some() {
                &c.touch_hits
            } else {
                &c.touch_misses
            },
            1,
        );
    }
    item
}

fn cmd_get(
    mc: &McState,
    kind: GetKind,
    exptime: Option<i32>,
    keys: Tokens<'_>,
    out: &mut McOut<'_>,
) {
    let now = now_ms();
    let want_cas = matches!(kind, GetKind::Gets | GetKind::Gats);
    let touch = exptime.map(|e| expiry_of(i64::from(e), now));
    let counters = mc.counters();
    for key in keys {
        bump(&counters.cmd_get, 1);
        if touch.is_some() {
            bump(&counters.cmd_touch, 1);
        }
        if let Some(item) = fetch(mc, key, want_cas, touch, now) {
            out.value(key, item.flags, &item.data, want_cas.then_some(item.cas));
        }
        out.maybe_flush();
    }
    out.raw(b"END\r\n");
}

/// Drops every item of database 0 now, or after `delay` seconds.
fn flush_all(delay: i32) {
    if delay <= 0 {
        flush_db0();
        return;
    }
    let deadline = clock::now() + std::time::Duration::from_secs(delay as u64);
    damselfly_runtime::fiber::Builder::new()
        .name("memcache flush_all")
        .spawn(move || {
            damselfly_runtime::fiber::sleep_until(deadline);
            flush_db0();
        });
}

fn flush_db0() {
    Exec::now()
        .schedule_global()
        .execute_all(&|s| s.db.borrow_mut().flush_db(0));
}
