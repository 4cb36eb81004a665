//! Loading an RDB file into the shards: on start (before the listener accepts) and for
//! DEBUG RELOAD. The file is read and decoded on one proactor; each key goes to the shard
//! that owns it in batches, with a bounded number of batches in flight. Keys whose deadline
//! has passed are dropped, as a Redis master drops them.

use crate::exec::Exec;
use crate::server::ServerState;
use crate::shard::{key_hash, shard_of, Shard};
use damselfly_persistence::rdb_file::{self, LoadReport};
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
fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
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

/// Loads `path` into the shards (which the caller has emptied or locked); runs in a fiber.
pub fn load_into_shards(server: &ServerState, path: &Path) -> Result<LoadReport, String> {
    let started = clock::wall_now_ms();
    let buf = read_file(path).map_err(|e| format!("can't read {}: {e}", path.display()))?;
    server.client_limits.refresh(&server.config);
    let limits = server.client_limits.collection_limits();
    let shards = damselfly_runtime::proactor_count();
    let dbs = server.config.get_int("databases").max(1) as usize;
    let mut batches: Vec<Vec<Entry>> = (0..shards).map(|_| Vec::new()).collect();
    let mut in_flight: VecDeque<JoinHandle<u64>> = VecDeque::new();
    let mut expired = 0u64;
    let mut bad_db = None;
    let ship = |shard: usize, batch: Vec<Entry>, in_flight: &mut VecDeque<JoinHandle<u64>>| {
        in_flight.push_back(damselfly_runtime::fiber::spawn_on(shard, move || {
            insert_batch(batch)
        }));
        let mut done = 0;
        while in_flight.len() > IN_FLIGHT_PER_SHARD * shards {
            done += in_flight
                .pop_front()
                .expect("in flight")
                .join()
                .unwrap_or(0);
        }
        done
    };
    let report = rdb_file::load(&buf, &limits, |k| {
        if k.db >= dbs {
            bad_db.get_or_insert(k.db);
            return;
        }
        let shard = shard_of(key_hash(&k.key), shards);
        batches[shard].push((k.db, k.key.into_owned(), k.value, k.expire_ms));
        if batches[shard].len() >= BATCH_KEYS {
            let batch = std::mem::take(&mut batches[shard]);
            expired += ship(shard, batch, &mut in_flight);
        }
    });
    for (shard, batch) in batches.into_iter().enumerate() {
        if !batch.is_empty() {
            expired += ship(shard, batch, &mut in_flight);
        }
    }
    for h in in_flight {
        expired += h.join().unwrap_or(0);
    }
    let report = report.map_err(|e| e.to_string())?;
    if let Some(db) = bad_db {
        return Err(format!(
            "the file selects database {db}, but this server has {dbs} databases (--dbnum)"
        ));
    }
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
        .map_err(|e| format!("can't load a function library: {e}"))?;
    let p = &server.persistence;
    p.last_load_keys
        .store(report.keys - expired, Ordering::Relaxed);
    p.last_load_expired.store(expired, Ordering::Relaxed);
    log::info!(
        "DB loaded from disk: {} keys ({} expired, dropped) in {} ms",
        report.keys - expired,
        expired,
        clock::wall_now_ms() - started
    );
    Ok(report)
}

/// On start: loads `dir/dbfilename` if it exists. Called in a fiber before the listener
/// binds; an unreadable, corrupt or truncated file is an error (the server does not start).
pub fn load_at_start(server: &ServerState) -> Result<(), String> {
    let (path, _) = crate::snapshot_file::snapshot_path(server);
    if !path.exists() {
        return Ok(());
    }
    server.persistence.loading.store(true, Ordering::Relaxed);
    let result = load_into_shards(server, &path);
    server.persistence.loading.store(false, Ordering::Relaxed);
    result
        .map(|_| ())
        .map_err(|e| format!("can't load {}: {e}", path.display()))
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
    result.map(|_| ())
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
