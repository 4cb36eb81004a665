//! Saving: the cut ([`begin`]), the writer that turns the shards' pieces into one RDB file
//! ([`finish`]), and the server-wide save state (INFO persistence, LASTSAVE, BGSAVE's
//! "already in progress").
//!
//! The file is written to `temp-<pid>-<n>.rdb` in `dir`, fsynced, renamed onto `dbfilename`
//! and the directory fsynced: a crash at any point leaves the previous file whole.

use crate::exec::Exec;
use crate::server::ServerState;
use crate::shard::Shard;
use crate::snapshot::{start_on_shard, Piece, PieceOwner, CHUNK_BYTES, NO_OWNER};
use crate::snapshot_crypt::SealedFile;
use damselfly_persistence::crc64::crc64;
use damselfly_persistence::rdb_file::{
    trailer, write_aux, write_function, write_header, write_select_db,
};
use damselfly_runtime::clock;
use damselfly_runtime::fs::File;
use damselfly_runtime::sync::channel::{bounded, Receiver};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes the writer gathers before one write (the write's copy into the page cache runs on
/// the proactor: kept small enough not to hold it long).
const WRITE_BYTES: usize = 256 << 10;
/// Chunks in flight per shard between the walkers and the writer.
const CHANNEL_CHUNKS_PER_SHARD: usize = 4;

/// Server-wide save state.
pub struct SaveState {
    in_progress: AtomicBool,
    /// Asks the running save to stop (FLUSHALL, as Redis kills its saving child).
    abort: AtomicBool,
    /// A BGSAVE asked for while one ran (SCHEDULE, or inside EXEC): the cron starts it.
    pub scheduled: AtomicBool,
    pub loading: AtomicBool,
    /// Unix seconds of the last successful save (the start until then, as Redis).
    pub last_save_s: AtomicU64,
    last_ok: AtomicBool,
    last_bgsave_ok: AtomicBool,
    last_bgsave_secs: AtomicI64,
    current_start_ms: AtomicU64,
    last_try_ms: AtomicU64,
    pub saves: AtomicU64,
    /// The dirty counter at the cut of the last successful save.
    pub dirty_at_save: AtomicU64,
    /// Keys the last load stored, and dropped because their deadline had passed.
    pub last_load_keys: AtomicU64,
    pub last_load_expired: AtomicU64,
    /// The running save's keys written so far, and at its cut.
    keys_processed: AtomicU64,
    keys_total: AtomicU64,
}

impl SaveState {
    pub fn new(start_wall_ms: u64) -> SaveState {
        SaveState {
            in_progress: AtomicBool::new(false),
            abort: AtomicBool::new(false),
            scheduled: AtomicBool::new(false),
            loading: AtomicBool::new(false),
            last_save_s: AtomicU64::new(start_wall_ms / 1000),
            last_ok: AtomicBool::new(true),
            last_bgsave_ok: AtomicBool::new(true),
            last_bgsave_secs: AtomicI64::new(-1),
            current_start_ms: AtomicU64::new(0),
            last_try_ms: AtomicU64::new(0),
            saves: AtomicU64::new(0),
            dirty_at_save: AtomicU64::new(0),
            last_load_keys: AtomicU64::new(0),
            last_load_expired: AtomicU64::new(0),
            keys_processed: AtomicU64::new(0),
            keys_total: AtomicU64::new(0),
        }
    }

    pub fn in_progress(&self) -> bool {
        self.in_progress.load(Ordering::Acquire)
    }

    /// Claims the one save slot; false when a save runs.
    fn claim(&self) -> bool {
        self.in_progress
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub fn last_ok(&self) -> bool {
        self.last_ok.load(Ordering::Relaxed)
    }

    pub fn last_try_ms(&self) -> u64 {
        self.last_try_ms.load(Ordering::Relaxed)
    }

    /// INFO persistence's save lines after `loading` and the dirty count.
    pub fn info_lines(&self, dirty: u64, lines: &mut Vec<String>) {
        let running = self.in_progress();
        let now_ms = clock::wall_now_ms();
        let current = if running {
            let start = self.current_start_ms.load(Ordering::Relaxed);
            (now_ms.saturating_sub(start) / 1000) as i64
        } else {
            -1
        };
        let (processed, total) = if running {
            (
                self.keys_processed.load(Ordering::Relaxed),
                self.keys_total.load(Ordering::Relaxed),
            )
        } else {
            (0, 0)
        };
        lines.push(format!("current_save_keys_processed:{processed}"));
        lines.push(format!("current_save_keys_total:{total}"));
        let since = dirty.saturating_sub(self.dirty_at_save.load(Ordering::Relaxed));
        lines.push(format!("rdb_changes_since_last_save:{since}"));
        lines.push(format!("rdb_bgsave_in_progress:{}", u8::from(running)));
        lines.push(format!(
            "rdb_last_save_time:{}",
            self.last_save_s.load(Ordering::Relaxed)
        ));
        let status = if self.last_bgsave_ok.load(Ordering::Relaxed) {
            "ok"
        } else {
            "err"
        };
        lines.push(format!("rdb_last_bgsave_status:{status}"));
        lines.push(format!(
            "rdb_last_bgsave_time_sec:{}",
            self.last_bgsave_secs.load(Ordering::Relaxed)
        ));
        lines.push(format!("rdb_current_bgsave_time_sec:{current}"));
        lines.push(format!("rdb_saves:{}", self.saves.load(Ordering::Relaxed)));
        lines.push("rdb_last_cow_size:0".into());
        lines.push(format!(
            "rdb_last_load_keys_expired:{}",
            self.last_load_expired.load(Ordering::Relaxed)
        ));
        lines.push(format!(
            "rdb_last_load_keys_loaded:{}",
            self.last_load_keys.load(Ordering::Relaxed)
        ));
    }
}

/// Why a save could not start.
#[derive(Debug, PartialEq, Eq)]
pub enum BeginError {
    InProgress,
    /// The key file named by `snapshot-key-file` can't be read.
    Key(String),
}

/// A save whose cut is taken: the writer's side.
pub struct SaveJob {
    rx: Receiver<Piece>,
    /// Set when the file failed: the walkers stop at their next step.
    cancel: Arc<AtomicBool>,
    /// A DFS snapshot: the shards write their own files; `path` is the summary.
    dfs: Option<crate::snapshot::DfsTarget>,
    shards: usize,
    /// (keys, keys with a deadline) per database at the cut.
    sizes: Vec<(u64, u64)>,
    used_mem: u64,
    functions: Vec<Vec<u8>>,
    dirty: u64,
    started_ms: u64,
    path: PathBuf,
    dir: PathBuf,
    /// The encryption key, when `snapshot-key-file` is set.
    key: Option<damselfly_persistence::crypt::MasterKey>,
}

/// The file the configuration names.
pub fn snapshot_path(server: &ServerState) -> (PathBuf, PathBuf) {
    let dir = PathBuf::from(server.config.get("dir").unwrap_or_else(|| ".".into()));
    let file = server
        .config
        .get("dbfilename")
        .unwrap_or_else(|| "dump.rdb".into());
    (dir.join(&file), dir)
}

/// Takes the cut on every shard in one global transaction of `exec` and starts the walkers.
pub fn begin(server: &ServerState, exec: &mut Exec<'_>) -> Result<SaveJob, BeginError> {
    let persistence = &server.persistence;
    let key = crate::snapshot_crypt::key(server).map_err(BeginError::Key)?;
    if !persistence.claim() {
        return Err(BeginError::InProgress);
    }
    let now = clock::wall_now_ms();
    persistence.current_start_ms.store(now, Ordering::Relaxed);
    persistence.last_try_ms.store(now, Ordering::Relaxed);
    let shards = damselfly_runtime::proactor_count();
    let (tx, rx) = bounded(CHANNEL_CHUNKS_PER_SHARD * shards);
    let cancel = Arc::new(AtomicBool::new(false));
    let owner: PieceOwner = Arc::new(AtomicUsize::new(NO_OWNER));
    let dfs = crate::snapshot_dfs::target(server, shards, key.clone());
    let per_shard = exec.schedule_global().execute_all(&|_s: &Shard| {
        let shard = Shard::current();
        let cuts = start_on_shard(shard, &tx, &cancel, &owner, dfs.as_ref());
        let used = shard.db.borrow().bytes_used() as u64;
        (cuts, used, crate::families::server_family::local_writes())
    });
    drop(tx);
    let dbs = server.config.get_int("databases").max(1) as usize;
    let mut sizes = vec![(0u64, 0u64); dbs];
    let (mut used_mem, mut dirty) = (0, 0);
    for (cuts, used, writes) in per_shard {
        for c in cuts {
            sizes[c.db].0 += c.keys as u64;
            sizes[c.db].1 += c.expires as u64;
        }
        used_mem += used;
        dirty += writes;
    }
    let functions = server
        .scripts
        .read_libraries(|libs| libs.iter().map(|l| l.code.clone()).collect());
    let (mut path, dir) = snapshot_path(server);
    if dfs.is_some() {
        path = crate::snapshot_dfs::summary_path(server);
    }
    Ok(SaveJob {
        rx,
        cancel,
        dfs,
        shards,
        sizes,
        used_mem,
        functions,
        dirty: dirty + crate::families::server_family::dirty_carry(server),
        started_ms: now,
        path,
        dir,
        key,
    })
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes the job's file and records the outcome; `background` is for BGSAVE's INFO fields.
pub fn finish(server: &ServerState, job: SaveJob, background: bool) -> Result<u64, String> {
    let temp = job.dir.join(format!(
        "temp-{}-{}.rdb",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let (dirty, started) = (job.dirty, job.started_ms);
    let path = job.path.clone();
    let dfs = job.dfs.clone();
    p_start(server, &job);
    // The walkers yield to foreground work; the writer's turns are the save's own.
    damselfly_runtime::fiber::set_background(true);
    let written = write_file(&temp, job, &server.persistence);
    damselfly_runtime::fiber::set_background(false);
    let result = written.and_then(|keys| {
        damselfly_runtime::fs::rename(&temp, &path)
            .map_err(|e| format!("can't rename {} to {}: {e}", temp.display(), path.display()))?;
        sync_dir(path.parent().unwrap_or(Path::new(".")));
        #[cfg(feature = "sim-mutations")]
        if damselfly_runtime::sim::mutation("snapshot-renamed-before-fsync") {
            // Planted bug: the file's data made durable only after the rename.
            let _ = File::open(&path).and_then(|f| f.fsync());
        }
        Ok(keys)
    });
    if let Some(t) = &dfs {
        crate::snapshot_dfs::clean_up(t, result.is_ok());
    }
    let p = &server.persistence;
    let now = clock::wall_now_ms();
    match &result {
        Ok(keys) => {
            p.last_save_s.store(now / 1000, Ordering::Relaxed);
            p.dirty_at_save.store(dirty, Ordering::Relaxed);
            p.saves.fetch_add(1, Ordering::Relaxed);
            p.last_ok.store(true, Ordering::Relaxed);
            log::info!("DB saved on disk ({keys} keys, {} ms)", now - started);
        }
        Err(e) => {
            let _ = damselfly_runtime::fs::remove_file(&temp);
            p.last_ok.store(false, Ordering::Relaxed);
            log::warn!("snapshot failed: {e}");
        }
    }
    if background {
        p.last_bgsave_ok.store(result.is_ok(), Ordering::Relaxed);
        p.last_bgsave_secs
            .store(((now - started) / 1000) as i64, Ordering::Relaxed);
    }
    p.abort.store(false, Ordering::Relaxed);
    p.in_progress.store(false, Ordering::Release);
    result
}

/// After FLUSHALL with save points set, as Redis: a running save is stopped (its file would
/// bring the flushed keys back) and the empty dataset is saved.
pub fn after_flushall(server: &ServerState, exec: &mut Exec<'_>) {
    if server.config.get("save").unwrap_or_default().is_empty() {
        return;
    }
    let p = &server.persistence;
    if p.in_progress() {
        p.abort.store(true, Ordering::Relaxed);
        while p.in_progress() {
            damselfly_runtime::fiber::sleep(std::time::Duration::from_millis(1));
        }
    }
    if let Err(e) = save(server, exec) {
        log::warn!("saving after FLUSHALL failed: {e}");
    }
}

fn p_start(server: &ServerState, job: &SaveJob) {
    let p = &server.persistence;
    p.keys_processed.store(0, Ordering::Relaxed);
    let total: u64 = job.sizes.iter().map(|s| s.0).sum();
    p.keys_total.store(total, Ordering::Relaxed);
}

/// Makes the rename durable (best effort: some file systems refuse fsync on directories).
fn sync_dir(dir: &Path) {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.fsync();
    }
}

/// The file, from the pieces of every shard; returns the keys written.
fn write_file(temp: &Path, job: SaveJob, state: &SaveState) -> Result<u64, String> {
    let mut done = 0;
    let result = write_pieces(temp, &job, state, &mut done);
    if result.is_err() {
        // Every walker must have stopped (and removed its hooks) before the next save may
        // start: tell them, and take what they send until each has said so.
        job.cancel.store(true, Ordering::Relaxed);
        while done < job.shards {
            match job.rx.recv() {
                Ok(Piece::Done | Piece::Failed(_)) => done += 1,
                Ok(Piece::Data { .. } | Piece::Written(_)) => {}
                Err(_) => break,
            }
        }
    }
    result
}

fn write_pieces(
    temp: &Path,
    job: &SaveJob,
    state: &SaveState,
    done: &mut usize,
) -> Result<u64, String> {
    let progress = &state.keys_processed;
    let file = File::create(temp).map_err(|e| format!("can't create {}: {e}", temp.display()))?;
    let mut w = Writer {
        file: SealedFile::new(file, job.key.as_ref())?,
        buf: Vec::with_capacity(WRITE_BYTES + CHUNK_BYTES),
        crc: 0,
        summed: 0,
    };
    let ctime = clock::wall_now_ms() / 1000;
    write_header(&mut w.buf, crate::REDIS_VERSION, ctime, job.used_mem);
    for code in &job.functions {
        write_function(&mut w.buf, code);
    }
    let mut selected: Option<usize> = None;
    let mut seen = vec![false; job.sizes.len()];
    // While a shard is in the middle of an entry (it sent a partial piece), pieces of other
    // shards that were already on their way wait here; shards take turns (`PieceOwner`),
    // so this holds at most about one piece per shard.
    let mut locked: Option<usize> = None;
    let mut waiting: VecDeque<Piece> = VecDeque::new();
    let may_take = |p: &Piece, locked: Option<usize>| match p {
        Piece::Data { shard, .. } => locked.is_none_or(|s| s == *shard),
        _ => true,
    };
    while *done < job.shards || !waiting.is_empty() {
        let piece = match waiting.iter().position(|p| may_take(p, locked)) {
            Some(i) => waiting.remove(i).expect("an index in range"),
            None => loop {
                let Ok(p) = job.rx.recv() else {
                    return Err("a shard stopped before its end".to_string());
                };
                if may_take(&p, locked) {
                    break p;
                }
                waiting.push_back(p);
            },
        };
        if state.abort.load(Ordering::Relaxed) {
            return Err("stopped by FLUSHALL".into());
        }
        match piece {
            Piece::Data {
                db,
                bytes,
                keys,
                shard,
                partial,
            } => {
                locked = partial.then_some(shard);
                progress.fetch_add(keys, Ordering::Relaxed);
                if selected != Some(db) {
                    let resize = (!seen[db]).then_some(job.sizes[db]);
                    seen[db] = true;
                    write_select_db(&mut w.buf, db, resize);
                    selected = Some(db);
                }
                w.buf.extend_from_slice(&bytes);
                w.sum();
                if w.buf.len() >= WRITE_BYTES {
                    w.flush()?;
                }
            }
            Piece::Written(keys) => {
                progress.fetch_add(keys, Ordering::Relaxed);
            }
            Piece::Done => *done += 1,
            Piece::Failed(e) => {
                *done += 1;
                return Err(e);
            }
        }
    }
    if let Some(t) = &job.dfs {
        write_aux(&mut w.buf, b"dfs-id", format!("{:016x}", t.id).as_bytes());
        write_aux(&mut w.buf, b"dfs-shards", t.shards.to_string().as_bytes());
    }
    w.sum();
    let t = trailer(w.crc);
    w.buf.extend_from_slice(&t);
    w.flush()?;
    w.file.finish()?;
    let keys: u64 = job.sizes.iter().map(|s| s.0).sum();
    Ok(keys)
}

struct Writer {
    file: SealedFile,
    buf: Vec<u8>,
    /// The CRC of the file up to `buf[summed]`: summed piece by piece, so no turn of the
    /// writer sums more than a piece.
    crc: u64,
    summed: usize,
}

impl Writer {
    fn sum(&mut self) {
        self.crc = crc64(self.crc, &self.buf[self.summed..]);
        self.summed = self.buf.len();
    }

    fn flush(&mut self) -> Result<(), String> {
        self.sum();
        self.file.write(&self.buf)?;
        self.buf.clear();
        self.summed = 0;
        Ok(())
    }
}

/// SAVE: the cut, then the file, waiting for it.
pub fn save(server: &ServerState, exec: &mut Exec<'_>) -> Result<u64, String> {
    match begin(server, exec) {
        Ok(job) => finish(server, job, false),
        Err(BeginError::InProgress) => Err("Background save already in progress".into()),
        Err(BeginError::Key(e)) => {
            log::warn!("snapshot failed: {e}");
            Err(e)
        }
    }
}

/// BGSAVE: the cut now, the file in a fiber of this proactor.
pub fn bgsave(server: &Arc<ServerState>, exec: &mut Exec<'_>) -> Result<(), BeginError> {
    let job = begin(server, exec)?;
    let server = server.clone();
    damselfly_runtime::fiber::Builder::new()
        .name("bgsave")
        .spawn(move || {
            let _ = finish(&server, job, true);
        });
    Ok(())
}

/// Whether a save point (`save` "seconds changes" pairs) is due.
pub fn save_point_due(save: &str, elapsed_s: u64, changes: u64) -> bool {
    let nums: Vec<u64> = save
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    nums.chunks(2)
        .any(|p| p.len() == 2 && changes >= p[1] && elapsed_s >= p[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_points_follow_redis() {
        assert!(!save_point_due("", 1000, 1000));
        assert!(save_point_due("900 1 300 10", 900, 1));
        assert!(!save_point_due("900 1 300 10", 899, 5));
        assert!(save_point_due("900 1 300 10", 300, 10));
        assert!(!save_point_due("3600 1", 10, 0));
    }
}
