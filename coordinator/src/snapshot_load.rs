//! Loading an RDB file into the shards: on start (before the listener accepts) and for
//! DEBUG RELOAD. The file is read and decoded on one proactor; each key goes to the shard
//! that owns it in batches, with a bounded number of batches in flight. Keys whose deadline
//! has passed are dropped, as a Redis master drops them.

use crate::exec::Exec;
use crate::server::ServerState;
use crate::shard::{key_hash, shard_of, Shard};
use damselfly_persistence::rdb_file::{self, LoadedKey};
use damselfly_runtime::clock;
use damselfly_runtime::fiber::JoinHandle;
use damselfly_runtime::fs::File;
use damselfly_shards::CompactValue;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::Ordering;

/// Keys per batch sent to a shard.
const BATCH_KEYS: usize = 1024;
/// Batches in flight per shard before the reader waits.
const IN_FLIGHT_PER_SHARD: usize = 2;
/// Bytes read per file read.
const READ_BYTES: usize = 4 << 20;

type Entry = (usize, Vec<u8>, CompactValue, Option<u64>);

/// Reads a whole file through the runtime.
pub fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let len = file.len()? as usize;
    let mut buf = vec![0u8; len];
    let mut off = 0;
    while off < len {
        let end = (off + READ_BYTES).min(len);
        let n = file.read_full_at(&mut buf[off..end], off as u64)?;
        if n == 0 {
            buf.truncate(off);
            break;
        }
        off += n;
    }
    Ok(buf)
}

fn insert_batch(batch: Vec<Entry>) -> u64 {
    let shard = Shard::current();
    let mut dbs = shard.db.borrow_mut();
    let now = clock::wall_now_ms();
    let mut expired = 0;
    for (db, key, value, expire) in batch {
        if expire.is_some_and(|t| t <= now) {
            expired += 1;
            continue;
        }
        dbs.insert_entry(db, &key, value, expire, now);
    }
    expired
}

/// Sends loaded keys to the shards that own them, in batches, with a bounded number of
/// batches in flight; drops keys whose deadline has passed.
pub struct Router<'a> {
    server: &'a ServerState,
    limits: damselfly_shards::CollectionLimits,
    shards: usize,
    dbs: usize,
    batches: Vec<Vec<Entry>>,
    in_flight: VecDeque<JoinHandle<u64>>,
    keys: u64,
    expired: u64,
    bad_db: Option<usize>,
    /// `key-load-delay`: microseconds to sleep per key (negative: 1 µs every -N keys).
    delay_us: i64,
}

impl<'a> Router<'a> {
    pub fn new(server: &'a ServerState) -> Router<'a> {
        server.client_limits.refresh(&server.config);
        let shards = damselfly_runtime::proactor_count();
        Router {
            server,
            limits: server.client_limits.collection_limits(),
            shards,
            dbs: server.config.get_int("databases").max(1) as usize,
            batches: (0..shards).map(|_| Vec::new()).collect(),
            in_flight: VecDeque::new(),
            keys: 0,
            expired: 0,
            bad_db: None,
            delay_us: server.config.get_int("key-load-delay"),
        }
    }

    pub fn limits(&self) -> damselfly_shards::CollectionLimits {
        self.limits
    }

    pub fn key(&mut self, k: LoadedKey<'_>) {
        if k.db >= self.dbs {
            self.bad_db.get_or_insert(k.db);
            return;
        }
        self.keys += 1;
        if self.delay_us != 0 {
            self.delay();
        }
        let shard = shard_of(key_hash(&k.key), self.shards);
        self.batches[shard].push((k.db, k.key.into_owned(), k.value, k.expire_ms));
        if self.batches[shard].len() >= BATCH_KEYS {
            self.ship(shard);
        }
    }

    /// `key-load-delay` (a debugging aid that makes loading slow, as in Redis): the loading
    /// fiber parks, so the proactor keeps serving meanwhile.
    #[cold]
    fn delay(&self) {
        let us = match self.delay_us {
            d if d > 0 => d as u64,
            d if self.keys.is_multiple_of(d.unsigned_abs()) => 1,
            _ => return,
        };
        damselfly_runtime::fiber::sleep(std::time::Duration::from_micros(us));
    }

    fn ship(&mut self, shard: usize) {
        let batch = std::mem::take(&mut self.batches[shard]);
        self.in_flight
            .push_back(damselfly_runtime::fiber::spawn_on(shard, move || {
                insert_batch(batch)
            }));
        while self.in_flight.len() > IN_FLIGHT_PER_SHARD * self.shards {
            let h = self.in_flight.pop_front().expect("in flight");
            self.expired += h.join().unwrap_or(0);
        }
    }

    /// Waits for every batch; the keys stored and dropped as expired.
    pub fn finish(mut self) -> Result<(u64, u64), String> {
        for shard in 0..self.shards {
            if !self.batches[shard].is_empty() {
                self.ship(shard);
            }
        }
        for h in std::mem::take(&mut self.in_flight) {
            self.expired += h.join().unwrap_or(0);
        }
        if let Some(db) = self.bad_db {
            return Err(format!(
                "the file selects database {db}, but this server has {} databases (--dbnum)",
                self.dbs
            ));
        }
        let p = &self.server.persistence;
        p.last_load_keys
            .store(self.keys - self.expired, Ordering::Relaxed);
        p.last_load_expired.store(self.expired, Ordering::Relaxed);
        Ok((self.keys - self.expired, self.expired))
    }
}

/// Loads the snapshot at `path` (an RDB file, or a DFS summary) into the shards (which the
/// caller has emptied or locked); runs in a fiber.
pub fn load_into_shards(server: &ServerState, path: &Path) -> Result<(), String> {
    let started = clock::wall_now_ms();
    let mut router = Router::new(server);
    let is_dfs = path.extension().is_some_and(|e| e == "dfs");
    let loaded = if is_dfs {
        crate::snapshot_dfs::load(server, path, &mut router)
    } else {
        load_rdb(server, path, &mut router)
    };
    let finished = router.finish();
    loaded?;
    let (keys, expired) = finished?;
    log::info!(
        "DB loaded from disk: {keys} keys ({expired} expired, dropped) in {} ms",
        clock::wall_now_ms() - started
    );
    Ok(())
}

fn load_rdb(server: &ServerState, path: &Path, router: &mut Router<'_>) -> Result<(), String> {
    let buf = crate::snapshot_crypt::read_snapshot(server, path)?;
    let limits = router.limits();
    let report = rdb_file::load(&buf, &limits, |k| router.key(k)).map_err(|e| e.to_string())?;
    for (module, key) in &report.skipped_module_keys {
        log::warn!(
            "skipped key '{}' of module type '{module}': modules are not supported",
            String::from_utf8_lossy(key)
        );
    }
    for module in &report.skipped_module_aux {
        log::warn!("skipped aux data of module '{module}': modules are not supported");
    }
    crate::families::function_family::restore_libraries(server, &report.functions)
        .map_err(|e| format!("can't load a function library: {e}"))
}

/// The snapshot to load: the file of the configured format when present, else the other.
pub fn present_snapshot(server: &ServerState) -> Option<std::path::PathBuf> {
    let summary = crate::snapshot_dfs::summary_path(server);
    let (rdb, _) = crate::snapshot_file::snapshot_path(server);
    let mut order = [summary, rdb];
    if server.config.get("df-snapshot-format").as_deref() != Some("yes") {
        order.reverse();
    }
    order.into_iter().find(|p| damselfly_runtime::fs::exists(p))
}

/// On start: loads `dir/dbfilename` if it exists. Called in a fiber before the listener
/// binds; an unreadable, corrupt or truncated file is an error (the server does not start).
pub fn load_at_start(server: &ServerState) -> Result<(), String> {
    let Some(path) = present_snapshot(server) else {
        return Ok(());
    };
    server.persistence.loading.store(true, Ordering::Relaxed);
    let result = load_into_shards(server, &path);
    server.persistence.loading.store(false, Ordering::Relaxed);
    result.map_err(|e| format!("can't load {}: {e}", path.display()))
}

/// DEBUG RELOAD's load: one global transaction empties every database and loads `path`.
pub fn reload(server: &ServerState, exec: &mut Exec<'_>, path: &Path) -> Result<(), String> {
    let mut tx = exec.schedule_global();
    let shards = tx.shards().to_vec();
    tx.execute(&shards, false, &|s| {
        s.db.borrow_mut().flush_all();
        crate::tracking::flushed_on_shard();
    });
    let result = load_into_shards(server, path);
    tx.conclude();
    result
}

/// Server start: loads the snapshot file on proactor 0 (before the listener exists) and
/// starts the save-point cron there.
pub fn start(
    pool: &damselfly_runtime::ProactorPool,
    state: &std::sync::Arc<ServerState>,
) -> std::io::Result<()> {
    let st = state.clone();
    pool.run_on(0, move || {
        let loaded = load_at_start(&st);
        crate::families::persistence_family::start_cron(st);
        loaded
    })
    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
