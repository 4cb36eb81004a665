//! Scripts and functions on the server (DESIGN.md §8): the script cache and the function
//! libraries every proactor sees, the busy-script state, each proactor's interpreters, and the
//! run of one script as a transaction.
//!
//! **Locks.** A script runs as one transaction. Which locks it takes is learned per script:
//! - the first run of a script takes every shard (nothing is known about it yet) and records
//!   which shards its keys reached and whether it stayed within its declared keys;
//! - a script that stayed within its declared keys then locks exactly those keys, so scripts
//!   on different keys run in parallel;
//! - a script that reached undeclared keys then locks the whole shards it reached, and no
//!   others: plain traffic on the other shards goes on.
//!
//! When a run reaches a key outside its locks before it wrote anything, it stops
//! (uncatchably, see `CallOutcome::Restart`), nothing is undone because nothing was written,
//! and it runs again with the shards it reached added. A run that already wrote and then
//! reaches a new shard runs that command outside its locks (atomic per command, not with the
//! script) and the next run locks that shard too. `default-lua-flags
//! disallow-undeclared-keys` refuses undeclared keys instead, as Dragonfly does.

use crate::keys::KeyPlan;
use crate::shard::{shard_of, ShardLocks};
use crate::tx::locks::LockMode;
use crate::tx::Transaction;
use damselfly_runtime::sync::SpinLock;
use damselfly_scripts::{Interpreter, LibraryDef};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// What `redis.REDIS_VERSION` says: the Redis version INFO reports.
pub const VERSION: &str = crate::REDIS_VERSION;
/// `redis.REDIS_VERSION_NUM`: that version as 0x00MMmmpp.
pub const VERSION_NUM: u32 = version_num(VERSION);

const fn version_num(v: &str) -> u32 {
    let b = v.as_bytes();
    let (mut parts, mut cur, mut i, mut n) = ([0u32; 3], 0u32, 0, 0);
    while i < b.len() {
        if b[i] == b'.' {
            if n < 3 {
                parts[n] = cur;
            }
            n += 1;
            cur = 0;
        } else {
            cur = cur * 10 + (b[i] - b'0') as u32;
        }
        i += 1;
    }
    if n < 3 {
        parts[n] = cur;
    }
    (parts[0] << 16) | (parts[1] << 8) | parts[2]
}

/// Interpreters kept idle per proactor; more are made while scripts wait on other shards.
const IDLE_INTERPRETERS: usize = 4;

/// Learned lock scope of a script (see the module comment), in [`CachedScript::reach`].
const REACH_UNKNOWN: u64 = 0;
const REACH_DECLARED: u64 = 1 << 63;

pub struct CachedScript {
    pub body: Vec<u8>,
    /// Shebang flags (`damselfly_scripts::shebang`).
    pub flags: u32,
    /// [`REACH_UNKNOWN`], [`REACH_DECLARED`], or the mask of shards it reached.
    reach: AtomicU64,
}

/// A library as FUNCTION LOAD registered it.
pub struct Library {
    pub code: Vec<u8>,
    pub def: LibraryDef,
}

/// The script that ran past `busy-reply-threshold`: other clients are answered -BUSY.
pub struct BusyScript {
    pub eval: bool,
    pub name: String,
    pub wrote: Arc<AtomicBool>,
    pub kill: Arc<AtomicBool>,
    /// The connection running it (it is not refused its own commands).
    pub client: u64,
    /// The EVAL or FCALL command and when it started (FUNCTION STATS).
    pub command: Vec<Vec<u8>>,
    pub started: damselfly_runtime::clock::Time,
}

pub struct Scripts {
    cache: SpinLock<HashMap<String, Arc<CachedScript>, ahash::RandomState>>,
    /// Bumped by SCRIPT FLUSH: interpreters drop what they compiled.
    cache_gen: AtomicU64,
    libraries: SpinLock<Vec<Library>>,
    /// Bumped by every change of the libraries: interpreters reload them.
    fn_gen: AtomicU64,
    /// What each function's runs learned about its keys (see [`CachedScript::reach`]).
    fn_state: SpinLock<HashMap<String, Arc<CachedScript>>>,
    busy_flag: AtomicBool,
    busy: SpinLock<Option<BusyScript>>,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            cache: SpinLock::new(HashMap::default()),
            cache_gen: AtomicU64::new(0),
            libraries: SpinLock::new(Vec::new()),
            fn_gen: AtomicU64::new(0),
            fn_state: SpinLock::new(HashMap::new()),
            busy_flag: AtomicBool::new(false),
            busy: SpinLock::new(None),
        }
    }
}

impl Scripts {
    pub fn get(&self, sha: &str) -> Option<Arc<CachedScript>> {
        self.cache.lock().get(sha).cloned()
    }

    pub fn insert(&self, sha: String, body: Vec<u8>, flags: u32) -> Arc<CachedScript> {
        self.cache
            .lock()
            .entry(sha)
            .or_insert_with(|| {
                Arc::new(CachedScript {
                    body,
                    flags,
                    reach: AtomicU64::new(REACH_UNKNOWN),
                })
            })
            .clone()
    }

    pub fn exists(&self, sha: &str) -> bool {
        self.cache.lock().contains_key(sha)
    }

    pub fn flush(&self) {
        self.cache.lock().clear();
        self.cache_gen.fetch_add(1, Ordering::AcqRel);
    }

    /// (count, bytes of their bodies) for INFO.
    pub fn cache_stats(&self) -> (usize, usize) {
        let c = self.cache.lock();
        (c.len(), c.values().map(|s| s.body.len() + 40).sum())
    }

    pub fn with_libraries<R>(&self, f: impl FnOnce(&mut Vec<Library>) -> R) -> R {
        let mut libs = self.libraries.lock();
        let r = f(&mut libs);
        self.fn_gen.fetch_add(1, Ordering::AcqRel);
        self.fn_state.lock().clear();
        r
    }

    /// The learned lock scope of function `name`.
    pub fn function_state(&self, name: &str) -> Arc<CachedScript> {
        self.fn_state
            .lock()
            .entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(CachedScript {
                    body: Vec::new(),
                    flags: 0,
                    reach: AtomicU64::new(REACH_UNKNOWN),
                })
            })
            .clone()
    }

    pub fn read_libraries<R>(&self, f: impl FnOnce(&[Library]) -> R) -> R {
        f(&self.libraries.lock())
    }

    /// The name as registered and the flags of function `name` (any case, as in Redis).
    pub fn function(&self, name: &str) -> Option<(String, u32)> {
        self.libraries.lock().iter().find_map(|l| {
            l.def
                .functions
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))
                .map(|f| (f.name.clone(), f.flags))
        })
    }

    /// One relaxed load: whether some script is past its busy threshold.
    pub fn is_busy(&self) -> bool {
        self.busy_flag.load(Ordering::Relaxed)
    }

    /// The busy script's kind and owner, when there is one.
    pub fn busy_info(&self) -> Option<(bool, u64)> {
        self.busy.lock().as_ref().map(|b| (b.eval, b.client))
    }

    pub fn set_busy(&self, b: BusyScript) {
        *self.busy.lock() = Some(b);
        self.busy_flag.store(true, Ordering::Release);
    }

    pub fn clear_busy(&self, client: u64) {
        let mut b = self.busy.lock();
        if b.as_ref().is_some_and(|b| b.client == client) {
            *b = None;
            self.busy_flag.store(false, Ordering::Release);
        }
    }

    /// SCRIPT KILL (`eval`) / FUNCTION KILL: Ok, or Redis's error line.
    pub fn kill(&self, eval: bool) -> Result<(), &'static str> {
        let b = self.busy.lock();
        let Some(b) = b.as_ref() else {
            return Err("NOTBUSY No scripts in execution right now.");
        };
        if b.wrote.load(Ordering::Acquire) {
            return Err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
        }
        if eval && !b.eval {
            return Err(BUSY_FUNCTION);
        }
        if !eval && b.eval {
            return Err(BUSY_EVAL);
        }
        b.kill.store(true, Ordering::Release);
        Ok(())
    }

    /// The busy script's name, command and milliseconds run so far.
    pub fn busy_command(&self) -> Option<(String, Vec<Vec<u8>>, u64)> {
        self.busy.lock().as_ref().map(|b| {
            let now = damselfly_runtime::clock::now();
            let ms = (now.as_nanos().saturating_sub(b.started.as_nanos())) / 1_000_000;
            (b.name.clone(), b.command.clone(), ms)
        })
    }
}

pub const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

// ---- interpreters of this proactor ---------------------------------------------------------

struct Slot {
    interp: Interpreter,
    cache_gen: u64,
    fn_gen: u64,
    /// Runs since the heap was last looked at.
    runs: u32,
    /// Bytes the Lua heap held after the last collection step (or less, when Lua's own
    /// collector has freed more since).
    gc_base: usize,
}

/// Runs between two looks at the Lua heap (Redis's `LUA_GC_CYCLE_PERIOD`).
const GC_EVERY: u32 = 50;
/// Growth of the heap (bytes) below which no step is taken: Lua's own incremental collector
/// paces itself to the garbage made; a forced step on top of it only starts its cycles
/// (which mark the whole heap) sooner. A step helps when scripts make garbage faster.
const GC_MIN_GROWTH: usize = 1024 * 1024;
/// The largest step (Lua's units: about a kilobyte of work each).
const GC_MAX_STEP: usize = 256;

impl Slot {
    /// A collection step scaled to what the heap grew by since the last one, rather than a
    /// fixed step whether the scripts made garbage or not.
    fn collect_some(&mut self) {
        let used = self.interp.used_memory();
        if self.gc_base == 0 || used < self.gc_base {
            self.gc_base = used;
        }
        let grown = used - self.gc_base;
        if grown >= GC_MIN_GROWTH {
            self.interp.gc_step((grown / 1024).min(GC_MAX_STEP) as i32);
            self.gc_base = self.interp.used_memory();
        }
    }
}

thread_local! {
    // Boxed on purpose: a lease moves the slot out and back in per run, and a box makes
    // that a pointer move instead of a copy of the interpreter's state.
    #[allow(clippy::vec_box)]
    static IDLE: RefCell<Vec<Box<Slot>>> = const { RefCell::new(Vec::new()) };
}

/// An interpreter of this proactor, current with the script cache and the libraries, for the
/// duration of one run. Boxed: taking and returning one moves a pointer, not the
/// interpreter's state.
pub struct Lease {
    slot: Option<Box<Slot>>,
}

impl Lease {
    pub fn take(scripts: &Scripts) -> Lease {
        let gen = scripts.cache_gen.load(Ordering::Acquire);
        // SCRIPT FLUSH resets the Lua engine, as in Redis: interpreters of an older cache
        // generation are dropped, not reused.
        let slot = IDLE.with(|p| {
            let mut p = p.borrow_mut();
            p.retain(|s| s.cache_gen == gen);
            p.pop()
        });
        let mut slot = slot.unwrap_or_else(|| {
            Box::new(Slot {
                interp: Interpreter::new(VERSION, VERSION_NUM).expect("the Lua interpreter starts"),
                cache_gen: gen,
                fn_gen: 0,
                runs: 0,
                gc_base: 0,
            })
        });
        let fgen = scripts.fn_gen.load(Ordering::Acquire);
        if slot.fn_gen != fgen {
            slot.interp.clear_functions();
            scripts.read_libraries(|libs| {
                for lib in libs {
                    if slot.interp.load_library(&lib.code).is_ok() {
                        slot.interp.install_pending();
                    }
                }
            });
            slot.fn_gen = fgen;
        }
        Lease { slot: Some(slot) }
    }

    pub fn interp(&mut self) -> &mut Interpreter {
        &mut self.slot.as_mut().expect("leased").interp
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(mut slot) = self.slot.take() {
            slot.runs += 1;
            if slot.runs >= GC_EVERY {
                slot.runs = 0;
                slot.collect_some();
            }
            IDLE.with(|p| {
                let mut p = p.borrow_mut();
                if p.len() < IDLE_INTERPRETERS {
                    p.push(slot);
                }
            });
        }
    }
}

/// Bytes the idle interpreters of this proactor hold (INFO used_memory_lua).
pub fn local_lua_memory() -> usize {
    IDLE.with(|p| p.borrow().iter().map(|s| s.interp.used_memory()).sum())
}

/// Drops this proactor's idle interpreters (SCRIPT FLUSH resets the Lua engine, as Redis
/// does; the next script starts a fresh one).
pub fn drop_idle_interpreters() {
    let idle = IDLE.with(|p| std::mem::take(&mut *p.borrow_mut()));
    drop(idle);
}

// ---- lock scopes ---------------------------------------------------------------------------

/// Which locks a run holds, and so which keys it may touch inside them.
#[derive(Clone, Debug)]
pub enum Scope {
    /// Inside an enclosing transaction (EVAL in EXEC): its locks.
    Enclosing,
    /// Exactly the declared keys.
    Declared,
    /// The declared keys, all on this proactor's shard and free when the run started: the
    /// run needs no transaction while it does not park; before its first park it takes their
    /// locks on the local shard.
    Local,
    /// Whole shards (a mask).
    Shards(u64),
}

impl Scope {
    /// Whether the run's locks cover the key of `hash` (`declared`: the declared keys' hashes).
    pub fn covers(&self, hash: u64, shards: usize, declared: &[u64]) -> bool {
        match self {
            Scope::Enclosing => true,
            Scope::Declared | Scope::Local => declared.contains(&hash),
            Scope::Shards(mask) => mask & (1 << shard_of(hash, shards)) != 0,
        }
    }

    /// Whether it holds every shard (a keyless write such as FLUSHALL may run).
    pub fn is_global(&self, shards: usize) -> bool {
        match self {
            Scope::Enclosing => true,
            Scope::Declared | Scope::Local => false,
            Scope::Shards(mask) => mask.count_ones() as usize >= shards,
        }
    }
}

fn all_shards(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// The scope a run of `script` starts with (`declared`: the hashes of its keys).
pub fn initial_scope(script: Option<&CachedScript>, declared: &[u64], shards: usize) -> Scope {
    let reach = script.map_or(REACH_UNKNOWN, |s| s.reach.load(Ordering::Relaxed));
    if shards > 63 || reach == REACH_UNKNOWN {
        return Scope::Shards(all_shards(shards));
    }
    if reach == REACH_DECLARED {
        let here = crate::shard::Shard::current();
        let local = declared.iter().all(|&h| {
            shard_of(h, shards) == here.index && here.key_is_free(h, LockMode::Exclusive)
        });
        return if local { Scope::Local } else { Scope::Declared };
    }
    let mut mask = reach;
    for &h in declared {
        mask |= 1 << shard_of(h, shards);
    }
    Scope::Shards(mask)
}

/// Records what a run learned: the shards its undeclared keys reached (0: it stayed within
/// its declared keys).
pub fn learn(script: Option<&CachedScript>, undeclared_shards: u64) {
    let Some(s) = script else { return };
    if undeclared_shards == 0 {
        let _ = s.reach.compare_exchange(
            REACH_UNKNOWN,
            REACH_DECLARED,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    } else {
        let old = s.reach.load(Ordering::Relaxed);
        let base = if old == REACH_DECLARED { 0 } else { old };
        s.reach.store(base | undeclared_shards, Ordering::Relaxed);
    }
}

/// Schedules the transaction of `scope` (None: nothing to lock, or the enclosing one).
pub fn schedule(scope: &Scope, keys: &[&[u8]], shards: usize) -> Option<Transaction> {
    match scope {
        Scope::Enclosing | Scope::Local => None,
        Scope::Declared if keys.is_empty() => None,
        Scope::Declared => {
            let plan = KeyPlan::new(keys.iter().copied(), LockMode::Exclusive);
            Some(Transaction::schedule(&plan.locks()))
        }
        Scope::Shards(mask) if *mask == all_shards(shards) => Some(Transaction::schedule_global()),
        Scope::Shards(mask) => {
            let plan: Vec<(usize, ShardLocks)> = (0..shards)
                .filter(|s| mask & (1 << s) != 0)
                .map(|s| {
                    (
                        s,
                        ShardLocks {
                            keys: Vec::new(),
                            global: true,
                        },
                    )
                })
                .collect();
            Some(Transaction::schedule(&plan))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_as_redis_encodes_them() {
        assert_eq!(version_num("7.2.0"), 0x07_02_00);
        assert_eq!(version_num("7.0.15"), 0x07_00_0f);
    }
}
