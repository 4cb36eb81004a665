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
pub use crate::families::memcache_ops::{
    op_delete, op_delta, op_fetch, op_store, op_touch, Delta, Item, StoreReq, Stored,
};
use crate::memcache_conns::McConns;
use crate::memcache_reply::McOut;
use crate::server::ServerState;
use crate::shard::key_hash;
use crate::tx::locks::LockMode;
use damselfly_protocol::memcache::{GetKind, MemcacheCommand, StoreKind, Tokens};
use damselfly_runtime::clock;
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
    /// Bumped by every flush_all: a delayed flush runs only if no later flush_all replaced
    /// it (memcached keeps one flush time, which each flush_all overwrites).
    flush_generation: Arc<AtomicU64>,
    /// Live connections, for `stats conns`.
    pub conns: McConns,
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
            flush_generation: Arc::new(AtomicU64::new(0)),
            conns: McConns::new(clock::wall_now_ms() / 1000),
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
            let now = now_ms();
            let req = classic_store(kind, flags, exptime, cas_unique, data, now);
            let result = store(mc, key, &req, now);
            reply_store(mc, kind, noreply, result, out);
        }
        MemcacheCommand::Delete { key, noreply } => {
            let now = now_ms();
            let found = Exec::now().single_key(key_hash(key), LockMode::Exclusive, &|s| {
                op_delete(s, key, now)
            });
            reply_delete(mc, noreply, found, out);
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
            reply_delta(mc, incr, noreply, result, out);
        }
        MemcacheCommand::Touch {
            key,
            exptime,
            noreply,
        } => {
            let now = now_ms();
            let e = expiry_of(i64::from(exptime), now);
            let found = Exec::now().single_key(key_hash(key), LockMode::Exclusive, &|s| {
                op_touch(s, key, e, now)
            });
            reply_touch(mc, noreply, found, out);
        }
        MemcacheCommand::FlushAll { delay, noreply } => {
            bump(&counters.cmd_flush, 1);
            flush_all(mc, delay.unwrap_or(0));
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

/// A classic storage line as a storage request.
pub fn classic_store<'a>(
    kind: StoreKind,
    flags: u32,
    exptime: i32,
    cas_unique: u64,
    data: &'a [u8],
    now: u64,
) -> StoreReq<'a> {
    StoreReq {
        kind,
        data,
        flags,
        expiry: expiry_of(i64::from(exptime), now),
        compare: (kind == StoreKind::Cas).then_some(cas_unique),
        want_cas: false,
        invalidate: false,
        vivify: None,
    }
}

/// Counts a classic storage command and answers it.
pub fn reply_store(
    mc: &McState,
    kind: StoreKind,
    noreply: bool,
    result: Stored,
    out: &mut McOut<'_>,
) {
    let counters = mc.counters();
    bump(&counters.cmd_set, 1);
    if let Stored::Stored(_) = result {
        bump(&counters.total_items, 1);
    }
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

pub fn reply_delete(mc: &McState, noreply: bool, found: bool, out: &mut McOut<'_>) {
    let c = mc.counters();
    bump(
        if found {
            &c.delete_hits
        } else {
            &c.delete_misses
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

pub fn reply_touch(mc: &McState, noreply: bool, found: bool, out: &mut McOut<'_>) {
    let c = mc.counters();
    bump(&c.cmd_touch, 1);
    bump(
        if found {
            &c.touch_hits
        } else {
            &c.touch_misses
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

pub fn reply_delta(mc: &McState, incr: bool, noreply: bool, result: Delta, out: &mut McOut<'_>) {
    let c = mc.counters();
    let (hits, misses) = if incr {
        (&c.incr_hits, &c.incr_misses)
    } else {
        (&c.decr_hits, &c.decr_misses)
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

/// Counts one key of a get and answers its item, if any.
pub fn reply_fetched(
    mc: &McState,
    key: &[u8],
    want_cas: bool,
    item: Option<&Item>,
    out: &mut McOut<'_>,
) {
    let c = mc.counters();
    bump(&c.cmd_get, 1);
    bump(
        if item.is_some() {
            &c.get_hits
        } else {
            &c.get_misses
        },
        1,
    );
    if let Some(item) = item {
        out.value(key, item.flags, &item.data, want_cas.then_some(item.cas));
    }
}

pub const NON_NUMERIC: &[u8] = b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";

/// Runs a storage request on the key's shard and counts it.
pub fn store(mc: &McState, key: &[u8], req: &StoreReq<'_>, now: u64) -> Stored {
    let counter = mc.cas_counter();
    Exec::now().single_key(key_hash(key), LockMode::Exclusive, &|s| {
        op_store(s, key, req, counter, now)
    })
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
        if touch.is_some() {
            bump(&counters.cmd_touch, 1);
        }
        let item = fetch(mc, key, want_cas, touch, now);
        reply_fetched(mc, key, want_cas, item.as_ref(), out);
        out.maybe_flush();
    }
    out.raw(b"END\r\n");
}

/// Drops every item of database 0 now, or after `delay` seconds unless another flush_all
/// comes first (it replaces this one, as in memcached).
fn flush_all(mc: &McState, delay: i32) {
    let generation = mc.flush_generation.fetch_add(1, Ordering::AcqRel) + 1;
    if delay <= 0 {
        flush_db0();
        return;
    }
    let deadline = clock::now() + std::time::Duration::from_secs(delay as u64);
    let latest = mc.flush_generation.clone();
    damselfly_runtime::fiber::Builder::new()
        .name("memcache flush_all")
        .spawn(move || {
            damselfly_runtime::fiber::sleep_until(deadline);
            if latest.load(Ordering::Acquire) == generation {
                flush_db0();
            }
        });
}

fn flush_db0() {
    Exec::now()
        .schedule_global()
        .execute_all(&|s| s.db.borrow_mut().flush_db(0));
}
