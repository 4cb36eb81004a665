//! `DbSlice`: a shard's databases 0..N-1. Each has a primary table (key -> value) and an
//! expire table (key -> absolute deadline in ms); a key with a deadline carries
//! `CellFlags::HAS_EXPIRY`, so lookups of keys without one never touch the expire table.
//!
//! What every write does (t_string.c's list): the primary bucket's change hook runs first
//! (snapshots), the write happens, the heap accounting is updated, and a watched key's
//! version is bumped (WATCH). Expired keys are deleted on access (lazy), by
//! [`DbSlice::active_expire`] (heartbeat), and before a primary segment splits.
//!
//! Databases are created on their first write: an unused database costs no segment.

use std::collections::{HashMap, HashSet};
use std::ops::{Deref, DerefMut};

use crate::cell::{CellFlags, CompactKey, CompactValue};
use crate::dash::{BucketRef, DashTable, EntryPos, TableHooks};
use crate::expiry::{collect_expired, is_expired, ExpireBudget, ExpireReport, ExpireTable};
use crate::glob::GlobPattern;
use crate::hash::{FixedHasher, KeyPolicy};

pub type DbIndex = usize;
pub type PrimaryTable = DashTable<CompactKey, CompactValue, KeyPolicy>;

mod cache;
mod clock;
mod evict;
mod lazyfree;
pub use clock::{ClockSettings, LFU_INIT};
pub use evict::{EvictionGuard, EvictionPolicy};
pub use lazyfree::{free_effort, LazyFreeSettings, LAZYFREE_THRESHOLD};

/// Which table a change hook is called for: the database index it sits at now, the table's
/// identity (stable across SWAPDB; a flushed database gets a new table with a new id) and the
/// expire table beside it, still as it was before the change (deadlines change only after
/// the primary bucket's hook ran).
pub struct TableCtx<'a> {
    pub db: DbIndex,
    pub table_id: u64,
    pub expire: &'a ExpireTable,
}

/// Called before a primary-table bucket changes (snapshot pre-update hook).
pub type ChangeHookFn = dyn FnMut(&TableCtx<'_>, BucketRef<'_, CompactKey, CompactValue>);
pub type ChangeHook = Box<ChangeHookFn>;

/// A database's tables taken out of the slice by FLUSHDB/FLUSHALL while a flush hook is set
/// (a snapshot still walking them keeps them alive).
pub struct DetachedDb {
    pub db: DbIndex,
    pub table_id: u64,
    pub primary: PrimaryTable,
    pub expire: ExpireTable,
}

pub type FlushHook = Box<dyn FnMut(DetachedDb)>;

/// A table's state at a snapshot's cut ([`DbSlice::cut`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableCut {
    pub db: DbIndex,
    pub table_id: u64,
    /// Buckets at or below this version hold what the snapshot must write.
    pub version: u64,
    /// The version a serialized bucket is marked with: above the cut, below every later
    /// change.
    pub mark: u64,
    pub keys: usize,
    pub expires: usize,
}

/// What a keyspace notification hook hears about from the table itself (the commands raise
/// their own events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyEvent {
    /// A key was created.
    New,
    /// A key was removed to stay under `maxmemory`.
    Evicted,
    /// A key was deleted because its deadline passed (on access, by active expiry, or
    /// before a segment split).
    Expired,
    /// A key was written, deleted or had its deadline changed (what WATCH sees; client
    /// tracking invalidates on it).
    Written,
}

/// Told about created and expired keys (keyspace notifications). `wants` is asked first, so
/// the key's bytes are only produced for an event someone listens to.
pub trait KeyEventSink {
    fn wants(&self, event: KeyEvent) -> bool;
    fn raise(&mut self, db: DbIndex, event: KeyEvent, key: &[u8]);
}

pub type KeyEventHook = Box<dyn KeyEventSink>;

/// Per-database figures for INFO keyspace and DBSIZE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DbStats {
    pub keys: usize,
    pub expires: usize,
    /// Bytes keys and values own outside the tables.
    pub heap_bytes: usize,
    /// Bytes of both tables' directories and segments.
    pub table_bytes: usize,
    /// Keys deleted because they expired (lazy, active or before a split).
    pub expired_keys: u64,
}

/// A deleted entry, with its deadline (RENAME and MOVE carry it over).
#[derive(Debug)]
pub struct RemovedEntry {
    pub key: CompactKey,
    pub value: CompactValue,
    pub expire_at_ms: Option<u64>,
}

/// TTL of a key: missing, without deadline, or with one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyExpiry {
    Missing,
    Persistent,
    At(u64),
}

struct Db {
    id: u64,
    primary: PrimaryTable,
    expire: ExpireTable,
    heap_bytes: usize,
    expired_keys: u64,
    expire_cursor: u64,
}

impl Db {
    fn new(id: u64) -> Db {
        Db {
            id,
            // The primary table's per-slot stamps hold the low bits of each key's access
            // clock (db_slice/clock.rs).
            primary: DashTable::with_stamps(KeyPolicy),
            expire: DashTable::new(KeyPolicy),
            heap_bytes: 0,
            expired_keys: 0,
            expire_cursor: 0,
        }
    }

    fn deadline(&self, hash: u64, key: &[u8]) -> Option<u64> {
        self.expire
            .find_hashed(hash, key)
            .map(|(_, &deadline)| deadline)
    }
}

#[derive(Default)]
struct WatchedKey {
    watchers: u32,
    version: u64,
}

/// A mutable value that settles the heap accounting when dropped, and counts as a change of
/// its key (for WATCH) only if it was written through.
pub struct ValueMut<'a> {
    key: &'a CompactKey,
    value: &'a mut CompactValue,
    heap_before: usize,
    heap_bytes: &'a mut usize,
    /// The watch entry of this key, if someone watches it, and the slice's watch clock.
    watch: Option<(&'a mut WatchedKey, &'a mut u64)>,
    /// The key event hook, when it listens to writes.
    events: Option<(DbIndex, &'a mut KeyEventHook)>,
    written: bool,
}

impl ValueMut<'_> {
    pub fn key(&self) -> &CompactKey {
        self.key
    }

    /// Sets or clears a flag bit that is bookkeeping, not content (memcached's "fetched"
    /// bit): the value does not count as written, so WATCH does not see a change.
    pub fn set_flag_quiet(&mut self, flag: u8, on: bool) {
        self.value.set_flag(flag, on);
    }

    /// Gives the value the CAS unique memcached's `gets` hands out. Handing one out is not a
    /// change of the item: WATCH and client tracking do not see it (heap accounting does).
    pub fn set_mc_cas_quiet(&mut self, cas: u64) -> bool {
        self.value.set_mc_cas(cas)
    }
}

impl Deref for ValueMut<'_> {
    type Target = CompactValue;
    fn deref(&self) -> &CompactValue {
        self.value
    }
}

impl DerefMut for ValueMut<'_> {
    fn deref_mut(&mut self) -> &mut CompactValue {
        self.written = true;
        self.value
    }
}

impl Drop for ValueMut<'_> {
    fn drop(&mut self) {
        *self.heap_bytes = *self.heap_bytes - self.heap_before + self.value.heap_bytes();
        if self.written {
            if let Some((watched, clock)) = self.watch.take() {
                *clock += 1;
                watched.version = *clock;
            }
            if let Some((db, hook)) = self.events.take() {
                hook.raise(db, KeyEvent::Written, &self.key.as_bytes());
            }
        }
    }
}

struct ChangeHooks<'a> {
    db: DbIndex,
    table_id: u64,
    expire: &'a ExpireTable,
    on_change: Option<&'a mut ChangeHookFn>,
}

impl<'a> ChangeHooks<'a> {
    fn new(
        db: DbIndex,
        table_id: u64,
        expire: &'a ExpireTable,
        on_change: Option<&'a mut ChangeHookFn>,
    ) -> Self {
        ChangeHooks {
            db,
            table_id,
            expire,
            on_change,
        }
    }
}

impl TableHooks<CompactKey, CompactValue> for ChangeHooks<'_> {
    fn before_bucket_change(&mut self, bucket: BucketRef<'_, CompactKey, CompactValue>) {
        if let Some(hook) = self.on_change.as_mut() {
            let ctx = TableCtx {
                db: self.db,
                table_id: self.table_id,
                expire: self.expire,
            };
            hook(&ctx, bucket);
        }
    }
}

/// Hooks for primary inserts: also drops expired keys before a split.
struct InsertHooks<'a> {
    change: ChangeHooks<'a>,
    expire: &'a ExpireTable,
    now_ms: u64,
    dropped: Vec<CompactKey>,
    dropped_heap: usize,
}

impl TableHooks<CompactKey, CompactValue> for InsertHooks<'_> {
    fn before_bucket_change(&mut self, bucket: BucketRef<'_, CompactKey, CompactValue>) {
        self.change.before_bucket_change(bucket);
    }

    fn drop_before_split(&mut self, key: &CompactKey, value: &CompactValue) -> bool {
        if !key.has_flag(CellFlags::HAS_EXPIRY) {
            return false;
        }
        let deadline = self
            .expire
            .find(key)
            .copied()
            .expect("HAS_EXPIRY without deadline");
        if !is_expired(deadline, self.now_ms) {
            return false;
        }
        self.dropped_heap += key.heap_bytes() + value.heap_bytes();
        self.dropped.push(key.clone());
        true
    }
}

/// Database `db`, created (with a new table id) on first use.
fn db_entry<'a>(dbs: &'a mut [Option<Db>], next_id: &mut u64, db: DbIndex) -> &'a mut Db {
    dbs[db].get_or_insert_with(|| {
        *next_id += 1;
        Db::new(*next_id)
    })
}

pub struct DbSlice {
    dbs: Vec<Option<Db>>,
    watched: Vec<HashMap<Box<[u8]>, WatchedKey, crate::PoolHasher>>,
    watch_clock: u64,
    change_hook: Option<ChangeHook>,
    flush_hook: Option<FlushHook>,
    next_table_id: u64,
    key_event_hook: Option<KeyEventHook>,
    /// Keys that blocked clients (BLPOP, BZPOPMIN...) wait on, per database.
    blocking: Vec<HashSet<Box<[u8]>, crate::PoolHasher>>,
    /// Blocked-on keys that came into existence since the last [`DbSlice::take_ready_keys`].
    ready: Vec<(DbIndex, Box<[u8]>)>,
    /// `maxmemory` eviction, when a policy evicts.
    eviction: Option<Box<evict::Eviction>>,
    /// Keys eviction must leave alone for now (those a running transaction holds).
    eviction_guard: Option<evict::EvictionGuard>,
    /// Cache mode: hits reorder buckets and inserts evict (db_slice/cache.rs).
    bumping: bool,
    /// The per-key access clock's settings (db_slice/clock.rs).
    clock: clock::AccessClock,
    evicted_keys: u64,
    /// Until this wall-clock ms (CLIENT PAUSE), reads leave expired keys in place.
    expiry_paused_until_ms: u64,
    /// Values waiting to be freed (db_slice/lazyfree.rs).
    lazy: lazyfree::LazyFree,
}

impl DbSlice {
    pub fn new(db_count: usize) -> DbSlice {
        assert!(db_count > 0, "at least one database");
        DbSlice {
            dbs: (0..db_count).map(|_| None).collect(),
            watched: (0..db_count).map(|_| HashMap::default()).collect(),
            watch_clock: 0,
            change_hook: None,
            flush_hook: None,
            next_table_id: 0,
            key_event_hook: None,
            blocking: (0..db_count).map(|_| HashSet::default()).collect(),
            ready: Vec::new(),
            eviction: None,
            eviction_guard: None,
            bumping: false,
            clock: clock::AccessClock::default(),
            evicted_keys: 0,
            expiry_paused_until_ms: 0,
            lazy: Default::default(),
        }
    }

    pub fn db_count(&self) -> usize {
        self.dbs.len()
    }

    /// The hash the coordinator computes once per key (shard selection and lookups).
    #[inline]
    pub fn hash_key(key: &[u8]) -> u64 {
        FixedHasher::hash_bytes(key)
    }

    /// Installs (or removes) the hook called before any primary bucket changes.
    pub fn set_change_hook(&mut self, hook: Option<ChangeHook>) {
        self.change_hook = hook;
    }

    /// Installs (or removes) the hook that takes a flushed database's tables instead of
    /// dropping them.
    pub fn set_flush_hook(&mut self, hook: Option<FlushHook>) {
        self.flush_hook = hook;
    }

    /// Takes a snapshot's cut of every database that exists: each table's version clock is
    /// advanced twice, so every bucket changed before now is at or below `version`, a bucket
    /// the snapshot has written can be marked `mark`, and every later change stamps more.
    pub fn cut(&mut self) -> Vec<TableCut> {
        let mut out = Vec::new();
        for (db, d) in self.dbs.iter_mut().enumerate() {
            if let Some(d) = d.as_mut() {
                let version = d.primary.next_version();
                let mark = d.primary.next_version();
                out.push(TableCut {
                    db,
                    table_id: d.id,
                    version,
                    mark,
                    keys: d.primary.len(),
                    expires: d.expire.len(),
                });
            }
        }
        out
    }

    /// The tables of the database whose table is `table_id`, wherever SWAPDB moved it.
    pub fn tables_by_id(&self, table_id: u64) -> Option<(&PrimaryTable, &ExpireTable)> {
        self.dbs
            .iter()
            .flatten()
            .find(|d| d.id == table_id)
            .map(|d| (&d.primary, &d.expire))
    }

    /// Marks a bucket of table `table_id` as written by a snapshot (no hook runs).
    pub fn mark_bucket(&mut self, table_id: u64, bucket: crate::dash::BucketId, version: u64) {
        if let Some(d) = self.dbs.iter_mut().flatten().find(|d| d.id == table_id) {
            d.primary.set_bucket_version(bucket, version);
        }
    }

    /// The primary table of `db`, for snapshot traversal (`None` if never written).
    /// Installs (or removes) the hook told about created and expired keys.
    pub fn set_key_event_hook(&mut self, hook: Option<KeyEventHook>) {
        self.key_event_hook = hook;
    }

    fn raise(&mut self, db: DbIndex, event: KeyEvent, key: &[u8]) {
        if let Some(hook) = self.key_event_hook.as_mut() {
            if hook.wants(event) {
                hook.raise(db, event, key);
            }
        }
    }

    pub fn primary(&self, db: DbIndex) -> Option<&PrimaryTable> {
        self.dbs[db].as_ref().map(|d| &d.primary)
    }

    pub fn expire_table(&self, db: DbIndex) -> Option<&ExpireTable> {
        self.dbs[db].as_ref().map(|d| &d.expire)
    }

    fn db_mut(&mut self, db: DbIndex) -> &mut Db {
        self.parts(db).0
    }

    /// The database (created on first use) and the change hook.
    fn parts(&mut self, db: DbIndex) -> (&mut Db, Option<&mut ChangeHookFn>) {
        let on_change = self.change_hook.as_deref_mut();
        (
            db_entry(&mut self.dbs, &mut self.next_table_id, db),
            on_change,
        )
    }

    fn touch_watched(&mut self, db: DbIndex, key: &[u8]) {
        self.raise(db, KeyEvent::Written, key);
        if self.watched[db].is_empty() {
            return;
        }
        if let Some(watched) = self.watched[db].get_mut(key) {
            self.watch_clock += 1;
            watched.version = self.watch_clock;
        }
    }

    /// Before `db` is emptied (or swapped with `other`): bumps the watched keys of `db` that
    /// are stored there (or in `other`), as Redis does; a watched key that exists in neither
    /// is not affected.
    fn touch_watched_in_db(&mut self, db: DbIndex, other: Option<DbIndex>) {
        if self.watched[db].is_empty() {
            return;
        }
        let stored = |d: &Option<Db>, key: &[u8]| {
            d.as_ref().is_some_and(|d| {
                d.primary
                    .find_pos_hashed(Self::hash_key(key), key)
                    .is_some()
            })
        };
        for (key, watched) in self.watched[db].iter_mut() {
            let here = stored(&self.dbs[db], key);
            let there = other.is_some_and(|o| stored(&self.dbs[o], key));
            if here || there {
                self.watch_clock += 1;
                watched.version = self.watch_clock;
            }
        }
    }

    // ---- lookups ----

    /// Position of a live key; deletes it first if it has expired. Marks it accessed
    /// unless lookups are in no-touch mode.
    #[inline]
    fn lookup(&mut self, db: DbIndex, hash: u64, key: &[u8], now_ms: u64) -> Option<EntryPos> {
        let d = self.dbs[db].as_ref()?;
        let pos = d.primary.find_pos_hashed(hash, key)?;
        if d.primary.entry(pos).0.has_flag(CellFlags::HAS_EXPIRY) {
            let deadline = d.deadline(hash, key).expect("HAS_EXPIRY without deadline");
            if is_expired(deadline, now_ms) {
                let removed = self.remove_at(db, hash, key, pos);
                self.dispose(removed.value, self.lazy.settings.expire);
                let d = self.db_mut(db);
                d.expired_keys += 1;
                self.raise(db, KeyEvent::Expired, key);
                return None;
            }
        }
        if !self.clock.no_touch {
            self.touch_at(db, pos, now_ms);
            if self.bumping {
                return Some(self.bump(db, pos));
            }
        }
        Some(pos)
    }

    pub fn find(&mut self, db: DbIndex, key: &[u8], now_ms: u64) -> Option<&CompactValue> {
        self.find_hashed(db, Self::hash_key(key), key, now_ms)
    }

    pub fn find_hashed(
        &mut self,
        db: DbIndex,
        hash: u64,
        key: &[u8],
        now_ms: u64,
    ) -> Option<&CompactValue> {
        let pos = if self.expiry_paused_until_ms > now_ms {
            self.lookup_keeping_expired(db, hash, key, now_ms)?
        } else {
            self.lookup(db, hash, key, now_ms)?
        };
        Some(self.dbs[db].as_ref().expect("found").primary.entry(pos).1)
    }

    /// Until `until_ms`, reads treat expired keys as absent but do not delete them (a client
    /// pause stops expiry, as in Redis). Writes still delete them: a write's lookup must never
    /// miss a key that is still stored.
    pub fn pause_expiry_until(&mut self, until_ms: u64) {
        self.expiry_paused_until_ms = until_ms;
    }

    /// [`DbSlice::lookup`] for a read while expiry is paused: an expired key stays stored.
    #[inline(never)]
    fn lookup_keeping_expired(
        &self,
        db: DbIndex,
        hash: u64,
        key: &[u8],
        now_ms: u64,
    ) -> Option<EntryPos> {
        let d = self.dbs[db].as_ref()?;
        let pos = d.primary.find_pos_hashed(hash, key)?;
        if d.primary.entry(pos).0.has_flag(CellFlags::HAS_EXPIRY) {
            let deadline = d.deadline(hash, key).expect("HAS_EXPIRY without deadline");
            if is_expired(deadline, now_ms) {
                return None;
            }
        }
        Some(pos)
    }

    /// Whether a live key exists, without touching it (EXISTS, as Redis's LOOKUP_NOTOUCH).
    pub fn exists(&mut self, db: DbIndex, key: &[u8], now_ms: u64) -> bool {
        let no_touch = self.set_no_touch(true);
        let found = self.lookup(db, Self::hash_key(key), key, now_ms).is_some();
        self.set_no_touch(no_touch);
        found
    }

    /// The value for writing: runs the change hook and bumps a watched key's version.
    pub fn find_mut(&mut self, db: DbIndex, key: &[u8], now_ms: u64) -> Option<ValueMut<'_>> {
        let hash = Self::hash_key(key);
        let pos = self.lookup(db, hash, key, now_ms)?;
        Some(self.value_mut_at(db, pos))
    }

    fn value_mut_at(&mut self, db: DbIndex, pos: EntryPos) -> ValueMut<'_> {
        if !self.blocking[db].is_empty() {
            // A write to a stream someone blocks on (a new entry, the stream replaced by
            // another type): its clients look again once the write is done. Only streams:
            // a blocked pop's own writes must not offer its key again and again.
            let (key, value) = self.dbs[db].as_ref().expect("found").primary.entry(pos);
            if value.obj_type() == crate::cell::ObjType::Stream {
                let key: Box<[u8]> = (*key.as_bytes()).into();
                self.signal_ready(db, &key);
            }
        }
        let on_change = self.change_hook.as_deref_mut();
        let d = db_entry(&mut self.dbs, &mut self.next_table_id, db);
        let mut hooks = ChangeHooks::new(db, d.id, &d.expire, on_change);
        let (key, value) = d.primary.entry_mut(pos, &mut hooks);
        let watched = &mut self.watched[db];
        let watch = if watched.is_empty() {
            None
        } else {
            watched
                .get_mut(&key.as_bytes()[..])
                .map(|w| (w, &mut self.watch_clock))
        };
        let heap_before = value.heap_bytes();
        let events = self
            .key_event_hook
            .as_mut()
            .filter(|h| h.wants(KeyEvent::Written))
            .map(|h| (db, h));
        ValueMut {
            key,
            value,
            heap_before,
            heap_bytes: &mut d.heap_bytes,
            watch,
            events,
            written: false,
        }
    }

    /// The value of `key`, inserting an empty string first if it is missing (or expired).
    /// Returns whether it was inserted.
    pub fn add_or_find(&mut self, db: DbIndex, key: &[u8], now_ms: u64) -> (ValueMut<'_>, bool) {
        let hash = Self::hash_key(key);
        if let Some(pos) = self.lookup(db, hash, key, now_ms) {
            return (self.value_mut_at(db, pos), false);
        }
        let pos = self.insert_new(
            db,
            hash,
            CompactKey::new(key),
            CompactValue::default(),
            now_ms,
        );
        (self.value_mut_at(db, pos), true)
    }

    fn insert_new(
        &mut self,
        db: DbIndex,
        hash: u64,
        key: CompactKey,
        value: CompactValue,
        now_ms: u64,
    ) -> EntryPos {
        if !self.blocking[db].is_empty() {
            let bytes = key.as_bytes();
            if self.blocking[db].contains(&*bytes) {
                self.ready.push((db, (*bytes).into()));
            }
        }
        if self.eviction.is_some() {
            if self.bumping {
                self.evict_for_insert(db, hash);
            } else {
                self.evict_sampled_for_insert(now_ms);
            }
        }
        if let Some(hook) = self.key_event_hook.as_mut() {
            if hook.wants(KeyEvent::New) {
                hook.raise(db, KeyEvent::New, &key.as_bytes());
            }
        }
        let (d, on_change) = self.parts(db);
        d.heap_bytes += key.heap_bytes() + value.heap_bytes();
        let mut hooks = InsertHooks {
            change: ChangeHooks::new(db, d.id, &d.expire, on_change),
            expire: &d.expire,
            now_ms,
            dropped: Vec::new(),
            dropped_heap: 0,
        };
        let pos = d.primary.insert_new_hashed(hash, key, value, &mut hooks);
        let (dropped, dropped_heap) = (hooks.dropped, hooks.dropped_heap);
        d.heap_bytes -= dropped_heap;
        self.stamp_new(db, pos, now_ms);
        let d = self.db_mut(db);
        if dropped.is_empty() {
            return pos;
        }
        d.expired_keys += dropped.len() as u64;
        for key in &dropped {
            let (key, _) = d.expire.erase(key).expect("dropped keys had deadlines");
            d.heap_bytes -= key.heap_bytes();
        }
        for key in &dropped {
            self.touch_watched(db, &key.as_bytes());
            self.raise(db, KeyEvent::Expired, &key.as_bytes());
        }
        pos
    }

    /// Sets `key` to `value`, keeping its deadline if it has one; returns the old value.
    pub fn set(
        &mut self,
        db: DbIndex,
        key: &[u8],
        value: CompactValue,
        now_ms: u64,
    ) -> Option<CompactValue> {
        let (mut slot, is_new) = self.add_or_find(db, key, now_ms);
        let old = std::mem::replace(&mut *slot, value);
        (!is_new).then_some(old)
    }

    /// Stores `value` at `key` with no deadline, as Redis's `setKey` does for a *STORE
    /// destination: a live key is overwritten in place (so it raises no `new`), a missing one
    /// inserted. Returns whether the key existed.
    /// The replaced value is freed lazily under `lazyfree-lazy-server-del`.
    pub fn store(&mut self, db: DbIndex, key: &[u8], value: CompactValue, now_ms: u64) -> bool {
        let Some(old) = self.set(db, key, value, now_ms) else {
            return false;
        };
        self.clear_expiry(db, key, now_ms);
        self.dispose(old, self.lazy.settings.server_del);
        true
    }

    // ---- deletes ----

    fn remove_at(&mut self, db: DbIndex, hash: u64, key: &[u8], pos: EntryPos) -> RemovedEntry {
        let (d, on_change) = self.parts(db);
        let mut hooks = ChangeHooks::new(db, d.id, &d.expire, on_change);
        let (removed_key, value) = d.primary.erase_at(pos, &mut hooks);
        d.heap_bytes -= removed_key.heap_bytes() + value.heap_bytes();
        let mut expire_at_ms = None;
        if removed_key.has_flag(CellFlags::HAS_EXPIRY) {
            let (expire_key, deadline) = d
                .expire
                .erase_hashed(hash, key, &mut crate::dash::NoHooks)
                .expect("deadline");
            d.heap_bytes -= expire_key.heap_bytes();
            expire_at_ms = Some(deadline);
        }
        self.touch_watched(db, key);
        RemovedEntry {
            key: removed_key,
            value,
            expire_at_ms,
        }
    }

    /// Deletes a live key and returns it with its value and deadline.
    pub fn delete(&mut self, db: DbIndex, key: &[u8], now_ms: u64) -> Option<RemovedEntry> {
        let hash = Self::hash_key(key);
        let pos = self.lookup(db, hash, key, now_ms)?;
        // Clients blocked on a deleted stream are told (XREADGROUP answers an error).
        self.signal_ready(db, key);
        Some(self.remove_at(db, hash, key, pos))
    }

    /// Stores an entry with an optional deadline, replacing any live entry (RENAME, MOVE,
    /// COPY, RESTORE). Returns the replaced entry.
    pub fn insert_entry(
        &mut self,
        db: DbIndex,
        key: &[u8],
        value: CompactValue,
        expire_at_ms: Option<u64>,
        now_ms: u64,
    ) -> Option<RemovedEntry> {
        let replaced = self.delete(db, key, now_ms);
        let hash = Self::hash_key(key);
        self.insert_new(db, hash, CompactKey::new(key), value, now_ms);
        self.touch_watched(db, key);
        if let Some(deadline) = expire_at_ms {
            self.set_expiry(db, key, deadline, now_ms);
        }
        replaced
    }

    // ---- expiry ----

    /// Sets an absolute deadline on a live key; false if the key is missing. A deadline in
    /// the past is stored as is (the key is then gone for every later lookup).
    pub fn set_expiry(&mut self, db: DbIndex, key: &[u8], deadline_ms: u64, now_ms: u64) -> bool {
        let hash = Self::hash_key(key);
        let Some(pos) = self.lookup_quiet(db, hash, key, now_ms) else {
            return false;
        };
        self.touch_watched(db, key);
        let (d, on_change) = self.parts(db);
        let mut hooks = ChangeHooks::new(db, d.id, &d.expire, on_change);
        let (stored_key, _) = d.primary.entry_mut(pos, &mut hooks);
        if stored_key.has_flag(CellFlags::HAS_EXPIRY) {
            let (_, deadline) = d
                .expire
                .find_mut_hashed(hash, key, &mut crate::dash::NoHooks)
                .expect("HAS_EXPIRY without deadline");
            *deadline = deadline_ms;
        } else {
            stored_key.set_flag(CellFlags::HAS_EXPIRY, true);
            let mut expire_key = stored_key.clone();
            expire_key.set_flag(CellFlags::HAS_EXPIRY, false);
            d.heap_bytes += expire_key.heap_bytes();
            d.expire
                .insert_new_hashed(hash, expire_key, deadline_ms, &mut crate::dash::NoHooks);
        }
        true
    }

    /// Removes a live key's deadline (PERSIST); true if it had one.
    pub fn clear_expiry(&mut self, db: DbIndex, key: &[u8], now_ms: u64) -> bool {
        let hash = Self::hash_key(key);
        let Some(pos) = self.lookup_quiet(db, hash, key, now_ms) else {
            return false;
        };
        let d = self.dbs[db].as_ref().expect("found");
        if !d.primary.entry(pos).0.has_flag(CellFlags::HAS_EXPIRY) {
            return false;
        }
        self.touch_watched(db, key);
        let (d, on_change) = self.parts(db);
        let mut hooks = ChangeHooks::new(db, d.id, &d.expire, on_change);
        d.primary
            .entry_mut(pos, &mut hooks)
            .0
            .set_flag(CellFlags::HAS_EXPIRY, false);
        let (expire_key, _) = d
            .expire
            .erase_hashed(hash, key, &mut crate::dash::NoHooks)
            .expect("deadline");
        d.heap_bytes -= expire_key.heap_bytes();
        true
    }

    /// TTL data of a live key.
    /// The key's deadline, without touching it (TTL, as Redis's LOOKUP_NOTOUCH).
    pub fn expiry(&mut self, db: DbIndex, key: &[u8], now_ms: u64) -> KeyExpiry {
        let hash = Self::hash_key(key);
        let no_touch = self.set_no_touch(true);
        let pos = self.lookup(db, hash, key, now_ms);
        self.set_no_touch(no_touch);
        let Some(pos) = pos else {
            return KeyExpiry::Missing;
        };
        let d = self.dbs[db].as_ref().expect("found");
        if !d.primary.entry(pos).0.has_flag(CellFlags::HAS_EXPIRY) {
            return KeyExpiry::Persistent;
        }
        KeyExpiry::At(d.deadline(hash, key).expect("HAS_EXPIRY without deadline"))
    }

    /// One bounded active-expiry step over `db`'s expire table (resumes where the previous
    /// step stopped).
    pub fn active_expire(
        &mut self,
        db: DbIndex,
        now_ms: u64,
        budget: ExpireBudget,
    ) -> ExpireReport {
        let Some(d) = self.dbs[db].as_mut() else {
            return ExpireReport {
                cycle_done: true,
                ..ExpireReport::default()
            };
        };
        let mut cursor = d.expire_cursor;
        let (doomed, mut report) = collect_expired(&d.expire, &mut cursor, now_ms, budget);
        d.expire_cursor = cursor;
        report.expired = 0;
        for key in doomed {
            let bytes = key.as_bytes();
            let hash = Self::hash_key(&bytes);
            let d = self.dbs[db].as_ref().expect("exists");
            if let Some(pos) = d.primary.find_pos_hashed(hash, &*bytes) {
                let removed = self.remove_at(db, hash, &bytes, pos);
                self.dispose(removed.value, self.lazy.settings.expire);
                self.db_mut(db).expired_keys += 1;
                report.expired += 1;
                self.raise(db, KeyEvent::Expired, &bytes);
            }
        }
        report
    }

    // ---- iteration ----

    /// One SCAN step: visits the live keys of the next non-empty bucket that match
    /// `pattern`, returns the next cursor (0 when done). Never misses a key that exists for
    /// the whole scan, even while the table grows; may repeat keys.
    pub fn scan(
        &self,
        db: DbIndex,
        cursor: u64,
        now_ms: u64,
        pattern: Option<&GlobPattern>,
        mut visit: impl FnMut(&CompactKey, &CompactValue),
    ) -> u64 {
        let Some(d) = self.dbs[db].as_ref() else {
            return 0;
        };
        d.primary.traverse(cursor, |key, value| {
            if Self::is_live(d, key, now_ms) && Self::key_matches(pattern, key) {
                visit(key, value);
            }
        })
    }

    /// Every live key matching `pattern` (KEYS).
    pub fn for_each_key(
        &self,
        db: DbIndex,
        now_ms: u64,
        pattern: Option<&GlobPattern>,
        mut visit: impl FnMut(&CompactKey, &CompactValue),
    ) {
        let Some(d) = self.dbs[db].as_ref() else {
            return;
        };
        for (key, value) in d.primary.iter() {
            if Self::is_live(d, key, now_ms) && Self::key_matches(pattern, key) {
                visit(key, value);
            }
        }
    }

    fn is_live(d: &Db, key: &CompactKey, now_ms: u64) -> bool {
        !key.has_flag(CellFlags::HAS_EXPIRY)
            || d.expire
                .find(key)
                .is_some_and(|&deadline| !is_expired(deadline, now_ms))
    }

    fn key_matches(pattern: Option<&GlobPattern>, key: &CompactKey) -> bool {
        pattern.is_none_or(|p| p.matches_all() || p.matches(&key.as_bytes()))
    }

    /// A random live key (RANDOMKEY), deleting expired keys it lands on; `random` is the
    /// caller's random number. Gives up after a bounded number of expired samples.
    pub fn random_key(&mut self, db: DbIndex, now_ms: u64, mut random: u64) -> Option<CompactKey> {
        const SAMPLES_MAX: usize = 32;
        for _ in 0..SAMPLES_MAX {
            let d = self.dbs[db].as_ref()?;
            let key = d.primary.random_entry(random)?.0.clone();
            if Self::is_live(d, &key, now_ms) {
                return Some(key);
            }
            self.lookup(db, Self::hash_key(&key.as_bytes()), &key.as_bytes(), now_ms);
            random = FixedHasher::hash_u64(random);
        }
        None
    }

    // ---- whole databases ----

    pub fn flush_db(&mut self, db: DbIndex) {
        self.touch_watched_in_db(db, None);
        let old = self.dbs[db].take();
        if let (Some(d), Some(hook)) = (old, self.flush_hook.as_mut()) {
            hook(DetachedDb {
                db,
                table_id: d.id,
                primary: d.primary,
                expire: d.expire,
            });
        }
        self.signal_blocked_in(db);
    }

    /// Blocked readers of a flushed stream are told (XREADGROUP answers an error).
    fn signal_blocked_in(&mut self, db: DbIndex) {
        let keys: Vec<Box<[u8]>> = self.blocking[db].iter().cloned().collect();
        self.ready.extend(keys.into_iter().map(|k| (db, k)));
    }

    pub fn flush_all(&mut self) {
        for db in 0..self.dbs.len() {
            self.flush_db(db);
        }
    }

    pub fn swap_dbs(&mut self, a: DbIndex, b: DbIndex) {
        self.touch_watched_in_db(a, Some(b));
        self.touch_watched_in_db(b, Some(a));
        self.dbs.swap(a, b);
        // Keys may have appeared in either database: let their blocked clients look.
        for db in [a, b] {
            let keys: Vec<Box<[u8]>> = self.blocking[db].iter().cloned().collect();
            self.ready.extend(keys.into_iter().map(|k| (db, k)));
        }
    }

    /// Keys in `db`, including expired keys not yet deleted (as Redis's DBSIZE).
    pub fn len(&self, db: DbIndex) -> usize {
        self.dbs[db].as_ref().map_or(0, |d| d.primary.len())
    }

    pub fn is_empty(&self, db: DbIndex) -> bool {
        self.len(db) == 0
    }

    pub fn expire_len(&self, db: DbIndex) -> usize {
        self.dbs[db].as_ref().map_or(0, |d| d.expire.len())
    }

    pub fn stats(&self, db: DbIndex) -> DbStats {
        self.dbs[db]
            .as_ref()
            .map_or_else(DbStats::default, |d| DbStats {
                keys: d.primary.len(),
                expires: d.expire.len(),
                heap_bytes: d.heap_bytes,
                table_bytes: d.primary.bytes_allocated() + d.expire.bytes_allocated(),
                expired_keys: d.expired_keys,
            })
    }

    /// Keys' and values' heap bytes over every database: [`DbSlice::bytes_used`] without the
    /// tables, in time proportional to the number of databases (not of table segments).
    pub fn heap_bytes(&self) -> usize {
        self.dbs.iter().flatten().map(|d| d.heap_bytes).sum()
    }

    /// Bytes held by this slice: tables, keys' and values' heap, the database vector, and
    /// what waits to be freed lazily. Watched-key maps are not counted.
    pub fn bytes_used(&self) -> usize {
        let tables: usize = (0..self.dbs.len())
            .map(|db| {
                let s = self.stats(db);
                s.heap_bytes + s.table_bytes
            })
            .sum();
        tables
            + self.dbs.capacity() * std::mem::size_of::<Option<Db>>()
            + self.lazyfree_pending_bytes()
    }

    // ---- WATCH ----

    /// Starts watching `key`; returns its current version (compare at EXEC).
    pub fn watch_key(&mut self, db: DbIndex, key: &[u8]) -> u64 {
        let watched = self.watched[db].entry(key.into()).or_default();
        watched.watchers += 1;
        watched.version
    }

    pub fn unwatch_key(&mut self, db: DbIndex, key: &[u8]) {
        if let Some(watched) = self.watched[db].get_mut(key) {
            watched.watchers -= 1;
            if watched.watchers == 0 {
                self.watched[db].remove(key);
            }
        }
    }

    /// Version of a watched key; it changes on every write, delete or expiry of the key and
    /// on FLUSHDB/SWAPDB of its database. `None` if nobody watches it.
    pub fn watched_version(&self, db: DbIndex, key: &[u8]) -> Option<u64> {
        self.watched[db].get(key).map(|w| w.version)
    }

    // ---- blocking pops ----

    /// Notes that a blocked client waits on `key`: its creation is then reported by
    /// [`DbSlice::take_ready_keys`] (every key comes into existence through one insert path).
    pub fn watch_blocking(&mut self, db: DbIndex, key: &[u8]) {
        if !self.blocking[db].contains(key) {
            self.blocking[db].insert(key.into());
        }
    }

    /// Nobody waits on `key` any more.
    pub fn unwatch_blocking(&mut self, db: DbIndex, key: &[u8]) {
        self.blocking[db].remove(key);
    }

    /// Reports `key` to its blocked clients although it was not created (a stream that got a
    /// new entry, a key deleted or overwritten); nothing when nobody waits on it.
    pub fn signal_ready(&mut self, db: DbIndex, key: &[u8]) {
        if self.blocking[db].contains(key)
            && !self.ready.iter().any(|(d, k)| *d == db && **k == *key)
        {
            self.ready.push((db, key.into()));
        }
    }

    /// Whether blocked-on keys were created since the last [`DbSlice::take_ready_keys`].
    pub fn has_ready_keys(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Blocked-on keys created since the last call, in creation order.
    pub fn take_ready_keys(&mut self) -> Vec<(DbIndex, Box<[u8]>)> {
        std::mem::take(&mut self.ready)
    }

    /// Verifies the accounting against a full walk (tests).
    pub fn check_invariants(&self) {
        for d in self.dbs.iter().flatten() {
            d.primary.check_invariants();
            d.expire.check_invariants();
            let mut heap = 0;
            let mut with_expiry = 0;
            for (k, v) in d.primary.iter() {
                heap += k.heap_bytes() + v.heap_bytes();
                if k.has_flag(CellFlags::HAS_EXPIRY) {
                    with_expiry += 1;
                    assert!(d.expire.find(k).is_some(), "flagged key without deadline");
                }
            }
            for (k, _) in d.expire.iter() {
                heap += k.heap_bytes();
            }
            assert_eq!(with_expiry, d.expire.len());
            assert_eq!(heap, d.heap_bytes, "heap accounting");
        }
    }
}
