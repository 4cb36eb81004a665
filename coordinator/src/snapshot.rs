//! Point-in-time snapshots without fork (DESIGN.md §6).
//!
//! One global transaction takes the cut on every shard at one instant ([`start_on_shard`]):
//! each table's version clock moves past every bucket changed so far, and two hooks go in:
//! the change hook, which writes a bucket still at or below the cut just before a command
//! changes it, and the flush hook, which keeps the tables FLUSHDB/FLUSHALL drop until the
//! walk is through them (SWAPDB moves tables, which keep their ids). A walker fiber per
//! shard then goes through the tables bucket by bucket, writing the buckets still at or
//! below the cut and marking them above it, a bounded step at a time; the shard serves
//! commands between steps.
//!
//! Every shard's bytes go through one bounded channel to the writer fiber
//! ([`crate::snapshot_file`]), which turns them into an RDB file. A full channel parks the
//! walkers, so a slow disk slows the walk and memory stays bounded: what is in flight is the
//! channel's chunks plus the buckets writes forced out since the walker's last send.

use crate::shard::Shard;
use crate::snapshot_crypt::SealedFile;
use damselfly_persistence::crc64::crc64;
use damselfly_persistence::dfs;
use damselfly_persistence::rdb_file::write_entry;
use damselfly_runtime::sync::channel::Sender;
use damselfly_shards::dash::BucketId;
use damselfly_shards::expiry::ExpireTable;
use damselfly_shards::{BucketRef, CellFlags, CompactKey, CompactValue, DbSlice, DetachedDb};
use damselfly_shards::{TableCtx, TableCut};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Bytes per chunk sent to the writer.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Buckets a walker step visits at most before it yields.
const STEP_BUCKETS: usize = 128;

/// What a shard sends the writer.
pub enum Piece {
    /// Whole entries of database `db`.
    Data {
        db: usize,
        bytes: Vec<u8>,
        keys: u64,
    },
    /// The shard has written everything at or below its cut.
    Done,
    /// The shard could not serialize a value; the snapshot fails.
    Failed(String),
    /// Keys a shard wrote to its own DFS file (progress for INFO).
    Written(u64),
}

/// Where a DFS snapshot's shard files go: `dir/base-<id>-<shard>.dfs`.
#[derive(Clone, Debug)]
pub struct DfsTarget {
    pub dir: std::path::PathBuf,
    pub base: String,
    pub id: u64,
    pub shards: u32,
    /// Seals the shard files when `snapshot-key-file` is set.
    pub key: Option<damselfly_persistence::crypt::MasterKey>,
}

impl DfsTarget {
    pub fn shard_path(&self, shard: usize) -> std::path::PathBuf {
        self.dir
            .join(format!("{}-{:016x}-{shard:04}.dfs", self.base, self.id))
    }
}

/// A shard's own DFS file: blocks written as the walk produces them (a slow disk parks the
/// walker, the same back-pressure as the channel).
struct ShardFile {
    file: SealedFile,
    crc: u64,
}

impl ShardFile {
    fn create(target: &DfsTarget, shard: usize) -> Result<ShardFile, String> {
        let path = target.shard_path(shard);
        let file = damselfly_runtime::fs::File::create(&path)
            .map_err(|e| format!("can't create {}: {e}", path.display()))?;
        let mut f = ShardFile {
            file: SealedFile::new(file, target.key.as_ref())?,
            crc: 0,
        };
        f.write(&dfs::shard_header(target.id, shard as u32, target.shards))?;
        Ok(f)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.crc = crc64(self.crc, bytes);
        self.file.write(bytes)
    }

    fn finish(mut self) -> Result<(), String> {
        let t = dfs::shard_trailer(self.crc);
        self.write(&t)?;
        self.file.finish()
    }
}

/// Serialized entries waiting for the channel.
#[derive(Default)]
struct Out {
    pending: Vec<Piece>,
    cur: Vec<u8>,
    cur_db: usize,
    scratch: Vec<u8>,
    error: Option<String>,
    /// Keys in `cur`, and written since the walker last looked (the save delay).
    keys: u64,
    stepped_keys: u64,
}

impl Out {
    fn start_db(&mut self, db: usize) {
        if db != self.cur_db && !self.cur.is_empty() {
            self.seal();
        }
        self.cur_db = db;
    }

    fn seal(&mut self) {
        let bytes = std::mem::take(&mut self.cur);
        if !bytes.is_empty() {
            self.pending.push(Piece::Data {
                db: self.cur_db,
                bytes,
                keys: std::mem::take(&mut self.keys),
            });
        }
    }

    /// Writes every entry of `bucket` with its deadline.
    fn bucket(
        &mut self,
        db: usize,
        bucket: &BucketRef<'_, CompactKey, CompactValue>,
        expire: &ExpireTable,
    ) {
        if self.error.is_some() {
            return;
        }
        self.start_db(db);
        for (key, value) in bucket.iter() {
            let deadline = if key.has_flag(CellFlags::HAS_EXPIRY) {
                expire.find(key).copied()
            } else {
                None
            };
            let bytes = key.as_bytes();
            if let Err(e) = write_entry(&mut self.cur, &mut self.scratch, &bytes, value, deadline) {
                self.error = Some(format!(
                    "can't serialize key '{}': {e}",
                    String::from_utf8_lossy(&bytes)
                ));
                return;
            }
            self.keys += 1;
            self.stepped_keys += 1;
        }
        if self.cur.len() >= CHUNK_BYTES {
            self.seal();
        }
    }
}

struct Walk {
    cut: TableCut,
    cursor: u64,
    done: bool,
}

/// A shard's part of a running snapshot.
struct ShardSnap {
    walks: Vec<Walk>,
    detached: Vec<DetachedDb>,
    out: Out,
}

impl ShardSnap {
    /// The hook's side: a bucket of a cut table, still at or below its cut, is written
    /// before it changes (the table then stamps it above the cut).
    fn before_change(
        &mut self,
        ctx: &TableCtx<'_>,
        bucket: BucketRef<'_, CompactKey, CompactValue>,
    ) {
        let Some(walk) = self.walks.iter().find(|w| w.cut.table_id == ctx.table_id) else {
            return;
        };
        if walk.done || bucket.version() > walk.cut.version {
            return;
        }
        let db = walk.cut.db;
        self.out.bucket(db, &bucket, ctx.expire);
    }

    /// One bounded step of the walk; true when every table is through.
    fn step(&mut self, dbs: &mut DbSlice) -> bool {
        let mut budget = STEP_BUCKETS;
        let mut marks: Vec<BucketId> = Vec::new();
        while budget > 0 && self.out.pending.is_empty() && self.out.error.is_none() {
            let Some(walk) = self.walks.iter_mut().find(|w| !w.done) else {
                return true;
            };
            let (db, id, version) = (walk.cut.db, walk.cut.table_id, walk.cut.version);
            let out = &mut self.out;
            let table = match self.detached.iter().find(|d| d.table_id == id) {
                Some(d) => Some((&d.primary, &d.expire, true)),
                None => dbs.tables_by_id(id).map(|(p, e)| (p, e, false)),
            };
            let Some((primary, expire, detached)) = table else {
                walk.done = true;
                continue;
            };
            while budget > 0 && out.pending.is_empty() {
                budget -= 1;
                walk.cursor = primary.traverse_buckets(walk.cursor, |b| {
                    if b.version() <= version {
                        out.bucket(db, &b, expire);
                        if !detached {
                            marks.push(b.id);
                        }
                    }
                });
                if walk.cursor == 0 {
                    walk.done = true;
                    break;
                }
            }
            let mark = walk.cut.mark;
            let done = walk.done;
            for b in marks.drain(..) {
                dbs.mark_bucket(id, b, mark);
            }
            if done && detached {
                self.detached.retain(|d| d.table_id != id);
            }
        }
        self.out.error.is_some() || self.walks.iter().all(|w| w.done)
    }
}

/// Takes the cut on `shard` (inside the snapshot's global transaction), installs the hooks
/// and starts the walker; returns the cut tables (for the file's size hints).
pub fn start_on_shard(
    shard: &'static Shard,
    tx: &Sender<Piece>,
    cancel: &Arc<AtomicBool>,
    dfs_target: Option<&DfsTarget>,
) -> Vec<TableCut> {
    let mut dbs = shard.db.borrow_mut();
    let cuts = dbs.cut();
    let snap = Rc::new(RefCell::new(ShardSnap {
        walks: cuts
            .iter()
            .map(|&cut| Walk {
                cut,
                cursor: 0,
                done: cut.keys == 0,
            })
            .collect(),
        detached: Vec::new(),
        out: Out::default(),
    }));
    let on_change = snap.clone();
    dbs.set_change_hook(Some(Box::new(move |ctx, bucket| {
        on_change.borrow_mut().before_change(ctx, bucket)
    })));
    let on_flush = snap.clone();
    dbs.set_flush_hook(Some(Box::new(move |d| {
        let mut s = on_flush.borrow_mut();
        if s.walks
            .iter()
            .any(|w| w.cut.table_id == d.table_id && !w.done)
        {
            s.detached.push(d);
        }
    })));
    drop(dbs);
    let (tx, cancel, target) = (tx.clone(), cancel.clone(), dfs_target.cloned());
    damselfly_runtime::fiber::Builder::new()
        .name("snapshot")
        .spawn(move || {
            let mut file = None;
            if let Some(t) = target {
                match ShardFile::create(&t, shard.index) {
                    Ok(f) => file = Some(f),
                    Err(e) => {
                        let mut dbs = shard.db.borrow_mut();
                        dbs.set_change_hook(None);
                        dbs.set_flush_hook(None);
                        drop(dbs);
                        let _ = tx.send(Piece::Failed(e));
                        return;
                    }
                }
            }
            walk(shard, snap, tx, cancel, file)
        });
    cuts
}

/// The walker fiber: steps, sends what the steps and the hook produced (parking while the
/// channel is full, with no borrow held), yields between steps.
fn walk(
    shard: &'static Shard,
    snap: Rc<RefCell<ShardSnap>>,
    tx: Sender<Piece>,
    cancel: Arc<AtomicBool>,
    mut file: Option<ShardFile>,
) {
    loop {
        let (done, pieces, error, keys) = {
            let mut dbs = shard.db.borrow_mut();
            let mut s = snap.borrow_mut();
            let cancelled = cancel.load(Ordering::Relaxed);
            let done = cancelled || s.step(&mut dbs);
            if cancelled {
                s.out.pending.clear();
                s.out.cur.clear();
            }
            if done || s.out.error.is_some() {
                dbs.set_change_hook(None);
                dbs.set_flush_hook(None);
                s.out.seal();
                s.detached.clear();
            }
            let error = s.out.error.take();
            let keys = std::mem::take(&mut s.out.stepped_keys);
            (done, std::mem::take(&mut s.out.pending), error, keys)
        };
        if let Some(e) = error {
            log::warn!("snapshot on shard {}: {e}", shard.index);
            let _ = tx.send(Piece::Failed(e));
            return;
        }
        if let Some(f) = file.as_mut() {
            let mut written = 0;
            for piece in pieces {
                if let Piece::Data { db, bytes, keys } = piece {
                    written += keys;
                    if let Err(e) = f.write(&dfs::block(db, &bytes)) {
                        let mut dbs = shard.db.borrow_mut();
                        dbs.set_change_hook(None);
                        dbs.set_flush_hook(None);
                        drop(dbs);
                        let _ = tx.send(Piece::Failed(e));
                        return;
                    }
                }
            }
            if written > 0 && tx.send(Piece::Written(written)).is_err() {
                cancel.store(true, Ordering::Relaxed);
            }
            if done {
                let result = file.take().expect("a file").finish();
                let _ = tx.send(match result {
                    Ok(()) => Piece::Done,
                    Err(e) => Piece::Failed(e),
                });
                return;
            }
        } else {
            for piece in pieces {
                if tx.send(piece).is_err() {
                    // The writer gave up (its file failed): stop walking.
                    let mut dbs = shard.db.borrow_mut();
                    dbs.set_change_hook(None);
                    dbs.set_flush_hook(None);
                    return;
                }
            }
            if done {
                let _ = tx.send(Piece::Done);
                return;
            }
        }
        let delay_us = crate::server::ProactorState::current()
            .server
            .config
            .get_int("rdb-key-save-delay")
            .max(0) as u64;
        if delay_us > 0 && keys > 0 {
            damselfly_runtime::fiber::sleep(std::time::Duration::from_micros(delay_us * keys));
        } else {
            damselfly_runtime::fiber::yield_now();
        }
    }
}
