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
use crate::snapshot_buf::{BufPool, Chunk};
use crate::snapshot_crypt::SealedFile;
use damselfly_persistence::crc64::crc64;
use damselfly_persistence::dfs;
use damselfly_persistence::pieces::LargeValue;
use damselfly_persistence::rdb_file::write_entry;
use damselfly_runtime::clock::{self, Time};
use damselfly_runtime::sync::channel::Sender;
use damselfly_shards::dash::BucketId;
use damselfly_shards::expiry::ExpireTable;
use damselfly_shards::{BucketRef, CellFlags, CompactKey, CompactValue, DbSlice, DetachedDb};
use damselfly_shards::{TableCtx, TableCut};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Bytes per chunk sent to the writer.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Buckets a walker step visits at most before it yields.
const STEP_BUCKETS: usize = 128;

/// What a shard sends the writer.
pub enum Piece {
    /// Entries of database `db` from shard `shard`; with `partial`, the last entry goes on
    /// in the shard's next piece (a large value written in pieces).
    Data {
        db: usize,
        /// Goes back to the shard's buffer pool once written.
        bytes: Chunk,
        keys: u64,
        shard: usize,
        partial: bool,
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
    /// The block being written, reused for every block.
    block: Vec<u8>,
}

impl ShardFile {
    fn create(target: &DfsTarget, shard: usize) -> Result<ShardFile, String> {
        let path = target.shard_path(shard);
        let file = damselfly_runtime::fs::File::create(&path)
            .map_err(|e| format!("can't create {}: {e}", path.display()))?;
        let mut f = ShardFile {
            file: SealedFile::new(file, target.key.as_ref())?,
            crc: 0,
            block: Vec::new(),
        };
        f.write(&dfs::shard_header(target.id, shard as u32, target.shards))?;
        Ok(f)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.crc = crc64(self.crc, bytes);
        self.file.write(bytes)
    }

    /// Compresses `raw` into a block and writes it; returns the time spent compressing and
    /// summing, which counts in the walker's time share like its steps do.
    fn write_block(&mut self, db: usize, raw: &[u8], partial: bool) -> Result<Duration, String> {
        let started = clock::now();
        dfs::block_into(&mut self.block, db, raw, partial);
        self.crc = crc64(self.crc, &self.block);
        let cpu = clock::now() - started;
        self.file.write(&self.block)?;
        Ok(cpu)
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
    /// Bytes of the `Data` pieces in `pending`.
    pending_bytes: usize,
    cur: Chunk,
    cur_db: usize,
    scratch: Vec<u8>,
    error: Option<String>,
    /// Keys in `cur`, and written since the walker last looked (the save delay).
    keys: u64,
    stepped_keys: u64,
}

impl Out {
    /// Output whose buffers come from this shard's pool.
    fn new() -> Out {
        Out {
            cur: BufPool::local().take(),
            ..Out::default()
        }
    }

    /// Serialized bytes held here, not sent yet.
    fn held(&self) -> usize {
        self.pending_bytes + self.cur.len()
    }

    /// The sealed pieces, to send.
    fn take_pending(&mut self) -> Vec<Piece> {
        self.pending_bytes = 0;
        std::mem::take(&mut self.pending)
    }

    fn start_db(&mut self, db: usize) {
        if db != self.cur_db && !self.cur.is_empty() {
            self.seal(false);
        }
        self.cur_db = db;
    }

    /// Ends a piece; `partial` when its last entry continues in this shard's next piece.
    fn seal(&mut self, partial: bool) {
        if !self.cur.is_empty() {
            let bytes = self.cur.take();
            self.pending_bytes += bytes.len();
            self.pending.push(Piece::Data {
                db: self.cur_db,
                bytes,
                keys: std::mem::take(&mut self.keys),
                shard: 0,
                partial,
            });
        }
    }

    /// Writes every entry of `bucket` with its deadline. With `large_ok`, the first value
    /// large enough to go in pieces is not written: its head is, after every other entry,
    /// and its writer is returned.
    fn bucket(
        &mut self,
        db: usize,
        bucket: &BucketRef<'_, CompactKey, CompactValue>,
        expire: &ExpireTable,
        large_ok: bool,
    ) -> Option<(Vec<u8>, LargeValue)> {
        if self.error.is_some() {
            return None;
        }
        self.start_db(db);
        let mut large: Option<(Vec<u8>, LargeValue, Vec<u8>)> = None;
        for (key, value) in bucket.iter() {
            let deadline = if key.has_flag(CellFlags::HAS_EXPIRY) {
                expire.find(key).copied()
            } else {
                None
            };
            let bytes = key.as_bytes();
            if large_ok && large.is_none() {
                let mut head = Vec::new();
                if let Some(w) = LargeValue::start(&mut head, &bytes, value, deadline) {
                    large = Some((bytes.to_vec(), w, head));
                    continue;
                }
            }
            if let Err(e) = write_entry(&mut self.cur, &mut self.scratch, &bytes, value, deadline) {
                self.error = Some(format!(
                    "can't serialize key '{}': {e}",
                    String::from_utf8_lossy(&bytes)
                ));
                return None;
            }
            self.keys += 1;
            self.stepped_keys += 1;
        }
        if let Some((key, w, head)) = large {
            self.cur.extend_from_slice(&head);
            return Some((key, w));
        }
        if self.cur.len() >= CHUNK_BYTES {
            self.seal(false);
        }
        None
    }

    /// Moves `side`'s pieces after this one's (a large value just ended here).
    fn absorb(&mut self, side: &mut Out) {
        self.seal(false);
        side.seal(false);
        self.pending_bytes += side.pending_bytes;
        self.pending.append(&mut side.take_pending());
        self.stepped_keys += std::mem::take(&mut side.stepped_keys);
        if self.error.is_none() {
            self.error = side.error.take();
        }
    }
}

struct Walk {
    cut: TableCut,
    cursor: u64,
    done: bool,
}

/// A value being written in pieces: its bucket stays at or below the cut until the value
/// is through, so a write to it reaches the change hook, which finishes the value first.
struct Large {
    table_id: u64,
    bucket: BucketId,
    mark: u64,
    key: Vec<u8>,
    writer: LargeValue,
    /// Elements stepped through since the save delay last counted a piece.
    elements: usize,
}

impl Large {
    /// The value in `bucket`: it stays there until it is through, since any change to the
    /// bucket reaches the hook first. Not finding it fails the snapshot (never the shard).
    fn value<'a>(
        &self,
        bucket: &BucketRef<'a, CompactKey, CompactValue>,
    ) -> Result<&'a CompactValue, String> {
        let bucket = bucket.bucket;
        bucket
            .iter()
            .find(|(k, _)| *k.as_bytes() == self.key[..])
            .map(|(_, v)| v)
            .ok_or_else(|| {
                format!(
                    "key '{}' left its bucket while it was written in pieces",
                    String::from_utf8_lossy(&self.key)
                )
            })
    }
}

/// A shard's part of a running snapshot.
struct ShardSnap {
    walks: Vec<Walk>,
    detached: Vec<DetachedDb>,
    out: Out,
    /// The value being written in pieces; while it is, every other entry goes to `side`.
    large: Option<Large>,
    side: Out,
    /// Buckets a step wrote, to mark once the step is through with the table.
    marks: Vec<BucketId>,
}

/// Elements of a large value written per walker step at most, checking the step's deadline
/// every `LARGE_SLICE_ELEMENTS`.
const LARGE_STEP_ELEMENTS: usize = 4096;
const LARGE_SLICE_ELEMENTS: usize = 256;

impl ShardSnap {
    /// The hook's side: a bucket of a cut table, still at or below its cut, is written
    /// before it changes (the table then stamps it above the cut).
    fn before_change(
        &mut self,
        ctx: &TableCtx<'_>,
        bucket: BucketRef<'_, CompactKey, CompactValue>,
    ) {
        if let Some(l) = self.large.as_mut() {
            if !l.writer.is_copied() && l.table_id == ctx.table_id && l.bucket == bucket.id {
                // The bucket's other entries are written; the value's rest is copied (not
                // written), so the write waits for a copy and the walker writes it later.
                match l.value(&bucket) {
                    Ok(value) => l.writer.copy_rest(value),
                    Err(e) => self.fail_large(e),
                }
                return;
            }
        }
        let Some(walk) = self.walks.iter().find(|w| w.cut.table_id == ctx.table_id) else {
            return;
        };
        if walk.done || bucket.version() > walk.cut.version {
            return;
        }
        let db = walk.cut.db;
        let out = if self.large.is_some() {
            &mut self.side
        } else {
            &mut self.out
        };
        out.bucket(db, &bucket, ctx.expire, false);
    }

    fn fail_large(&mut self, e: String) {
        self.large = None;
        self.out.error.get_or_insert(e);
    }

    /// A step of the large value, until `deadline`; true when it is through.
    fn step_large(&mut self, dbs: &mut DbSlice, deadline: Time) -> bool {
        let Some(l) = self.large.as_mut() else {
            return true;
        };
        let (table_id, bucket, mark) = (l.table_id, l.bucket, l.mark);
        let detached = self.detached.iter().find(|d| d.table_id == table_id);
        let is_detached = detached.is_some();
        let copied = l.writer.is_copied();
        let value = if copied {
            None
        } else {
            let primary = match detached.map(|d| &d.primary) {
                Some(p) => p,
                None => match dbs.tables_by_id(table_id) {
                    Some((p, _)) => p,
                    None => {
                        let e = "the table of a value in pieces went away".to_string();
                        self.fail_large(e);
                        return true;
                    }
                },
            };
            match l.value(&primary.bucket(bucket)) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.fail_large(e);
                    return true;
                }
            }
        };
        let mut left = LARGE_STEP_ELEMENTS;
        loop {
            let n = left.min(LARGE_SLICE_ELEMENTS);
            // `rdb-key-save-delay` counts each LARGE_STEP_ELEMENTS as a key, so tests can
            // hold a value half written.
            l.elements += n;
            if l.elements >= LARGE_STEP_ELEMENTS {
                l.elements -= LARGE_STEP_ELEMENTS;
                self.out.stepped_keys += 1;
            }
            if l.writer.step(&mut self.out.cur, value, n) {
                break;
            }
            left -= n;
            if left == 0 || clock::now() >= deadline {
                if self.out.cur.len() >= CHUNK_BYTES {
                    self.out.seal(true);
                }
                return false;
            }
        }
        self.large = None;
        self.out.keys += 1;
        self.out.stepped_keys += 1;
        self.out.absorb(&mut self.side);
        if is_detached {
            let done = self
                .walks
                .iter()
                .any(|w| w.cut.table_id == table_id && w.done);
            if done {
                self.detached.retain(|d| d.table_id != table_id);
            }
        } else if !copied {
            // A copied value's bucket changed after the copy: the table stamped it already.
            dbs.mark_bucket(table_id, bucket, mark);
        }
        true
    }

    /// One bounded step of the walk (at most [`STEP_BUCKETS`] buckets, and none started
    /// after `deadline`); true when every table is through.
    fn step(&mut self, dbs: &mut DbSlice, deadline: Time) -> bool {
        // The buckets to mark, in a buffer kept across steps.
        let mut marks = std::mem::take(&mut self.marks);
        let done = self.step_with(dbs, deadline, &mut marks);
        self.marks = marks;
        done
    }

    fn step_with(&mut self, dbs: &mut DbSlice, deadline: Time, marks: &mut Vec<BucketId>) -> bool {
        if !self.step_large(dbs, deadline) {
            return false;
        }
        let mut budget = STEP_BUCKETS;
        while budget > 0 && self.out.pending.is_empty() && self.out.error.is_none() {
            let Some(walk) = self.walks.iter_mut().find(|w| !w.done) else {
                return true;
            };
            let (db, id, version) = (walk.cut.db, walk.cut.table_id, walk.cut.version);
            let (out, side, large) = (&mut self.out, &mut self.side, &mut self.large);
            let cut_mark = walk.cut.mark;
            let table = match self.detached.iter().find(|d| d.table_id == id) {
                Some(d) => Some((&d.primary, &d.expire, true)),
                None => dbs.tables_by_id(id).map(|(p, e)| (p, e, false)),
            };
            let Some((primary, expire, detached)) = table else {
                walk.done = true;
                continue;
            };
            while budget > 0 && out.pending.is_empty() && large.is_none() {
                budget -= 1;
                walk.cursor = primary.traverse_buckets(walk.cursor, |b| {
                    if b.version() > version {
                        return;
                    }
                    if large.is_some() {
                        // After a large value's head only the value itself may follow.
                        side.bucket(db, &b, expire, false);
                    } else if let Some((key, writer)) = out.bucket(db, &b, expire, true) {
                        *large = Some(Large {
                            table_id: id,
                            bucket: b.id,
                            mark: cut_mark,
                            key,
                            writer,
                            elements: LARGE_STEP_ELEMENTS - LARGE_SLICE_ELEMENTS,
                        });
                        return;
                    }
                    if !detached {
                        marks.push(b.id);
                    }
                });
                if walk.cursor == 0 {
                    walk.done = true;
                    break;
                }
                if clock::now() >= deadline {
                    budget = 0;
                }
            }
            let mark = walk.cut.mark;
            let done = walk.done;
            for b in marks.drain(..) {
                dbs.mark_bucket(id, b, mark);
            }
            if done && detached && large.as_ref().is_none_or(|l| l.table_id != id) {
                self.detached.retain(|d| d.table_id != id);
            }
            if self.large.is_some() {
                return false;
            }
        }
        self.out.error.is_some() || self.walks.iter().all(|w| w.done)
    }
}

/// Which shard's entry the writer is in the middle of (`NO_OWNER` between entries): a shard
/// takes it before sending a piece that ends inside an entry and gives it back with the
/// entry's last piece; other shards wait, so the file gets each entry whole.
pub type PieceOwner = Arc<AtomicUsize>;
pub const NO_OWNER: usize = usize::MAX;

/// Takes the cut on `shard` (inside the snapshot's global transaction), installs the hooks
/// and starts the walker; returns the cut tables (for the file's size hints).
pub fn start_on_shard(
    shard: &'static Shard,
    tx: &Sender<Piece>,
    cancel: &Arc<AtomicBool>,
    owner: &PieceOwner,
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
        out: Out::new(),
        large: None,
        side: Out::new(),
        marks: Vec::with_capacity(STEP_BUCKETS),
    }));
    let on_change = snap.clone();
    dbs.set_change_hook(Some(Box::new(move |ctx, bucket| {
        on_change.borrow_mut().before_change(ctx, bucket)
    })));
    let on_flush = snap.clone();
    dbs.set_flush_hook(Some(Box::new(move |d| {
        let mut s = on_flush.borrow_mut();
        let walking = s
            .walks
            .iter()
            .any(|w| w.cut.table_id == d.table_id && !w.done);
        let in_pieces = s
            .large
            .as_ref()
            .is_some_and(|l| l.table_id == d.table_id && !l.writer.is_copied());
        if walking || in_pieces {
            s.detached.push(d);
        }
    })));
    drop(dbs);
    let (tx, cancel, target) = (tx.clone(), cancel.clone(), dfs_target.cloned());
    let sender = PieceSender {
        tx,
        owner: owner.clone(),
        shard: shard.index,
    };
    damselfly_runtime::fiber::Builder::new()
        .name("snapshot")
        .spawn(move || {
            // Its turns do not count as foreground work (see `TimeShare`).
            damselfly_runtime::fiber::set_background(true);
            let mut file = None;
            if let Some(t) = target {
                match ShardFile::create(&t, shard.index) {
                    Ok(f) => file = Some(f),
                    Err(e) => {
                        let mut dbs = shard.db.borrow_mut();
                        dbs.set_change_hook(None);
                        dbs.set_flush_hook(None);
                        drop(dbs);
                        let _ = sender.tx.send(Piece::Failed(e));
                        return;
                    }
                }
            }
            walk(shard, snap, sender, cancel, file)
        });
    cuts
}

/// A walker's end of the channel, keeping entries whole across shards (see [`PieceOwner`]).
struct PieceSender {
    tx: Sender<Piece>,
    owner: PieceOwner,
    shard: usize,
}

impl PieceSender {
    fn send(&self, mut piece: Piece) -> Result<(), ()> {
        if let Piece::Data { shard, partial, .. } = &mut piece {
            *shard = self.shard;
            loop {
                let o = self.owner.load(Ordering::Acquire);
                if o == self.shard {
                    break;
                }
                if o == NO_OWNER {
                    let taken = !*partial
                        || self
                            .owner
                            .compare_exchange(
                                NO_OWNER,
                                self.shard,
                                Ordering::AcqRel,
                                Ordering::Acquire,
                            )
                            .is_ok();
                    if taken {
                        break;
                    }
                    continue;
                }
                // Another shard is in the middle of an entry.
                damselfly_runtime::fiber::sleep(std::time::Duration::from_micros(200));
            }
        }
        let ends = matches!(piece, Piece::Data { partial: false, .. });
        let r = self.tx.send(piece).map_err(|_| ());
        if ends {
            self.release();
        }
        r
    }

    fn release(&self) {
        let _ =
            self.owner
                .compare_exchange(self.shard, NO_OWNER, Ordering::AcqRel, Ordering::Acquire);
    }
}

impl Drop for PieceSender {
    /// A walker that stops (done, failed, cancelled) never keeps the others waiting.
    fn drop(&mut self) {
        self.release();
    }
}

/// The walker fiber: steps, sends what the steps and the hook produced (parking while the
/// channel is full, with no borrow held), yields between steps.
fn walk(
    shard: &'static Shard,
    snap: Rc<RefCell<ShardSnap>>,
    tx: PieceSender,
    cancel: Arc<AtomicBool>,
    mut file: Option<ShardFile>,
) {
    let mut share = TimeShare::new();
    loop {
        let (done, pieces, error, keys, ran) = {
            let mut dbs = shard.db.borrow_mut();
            let mut s = snap.borrow_mut();
            let cancelled = cancel.load(Ordering::Relaxed);
            let started = clock::now();
            let done = cancelled || s.step(&mut dbs, started + SLICE);
            let ran = clock::now() - started;
            if cancelled {
                s.out.take_pending();
                s.out.cur.clear();
            }
            if done || s.out.error.is_some() {
                dbs.set_change_hook(None);
                dbs.set_flush_hook(None);
                s.out.seal(false);
                s.detached.clear();
            }
            let error = s.out.error.take();
            let keys = std::mem::take(&mut s.out.stepped_keys);
            (done, s.out.take_pending(), error, keys, ran)
        };
        let mut ran = ran;
        if let Some(e) = error {
            log::warn!("snapshot on shard {}: {e}", shard.index);
            tx.release();
            let _ = tx.send(Piece::Failed(e));
            return;
        }
        if let Some(f) = file.as_mut() {
            let mut written = 0;
            for piece in pieces {
                if let Piece::Data {
                    db,
                    bytes,
                    keys,
                    partial,
                    ..
                } = piece
                {
                    written += keys;
                    match f.write_block(db, &bytes, partial) {
                        Ok(cpu) => ran += cpu,
                        Err(e) => {
                            let mut dbs = shard.db.borrow_mut();
                            dbs.set_change_hook(None);
                            dbs.set_flush_hook(None);
                            drop(dbs);
                            let _ = tx.tx.send(Piece::Failed(e));
                            return;
                        }
                    }
                }
            }
            if written > 0 && tx.tx.send(Piece::Written(written)).is_err() {
                cancel.store(true, Ordering::Relaxed);
            }
            if done {
                let result = file.take().expect("a file").finish();
                let _ = tx.tx.send(match result {
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
            share.restart();
        } else {
            let held = {
                let s = snap.borrow();
                s.out.held() + s.side.held()
            };
            share.pause(ran, held);
        }
    }
}

/// Longest a walker runs before it lets the proactor turn (a client whose request arrives
/// meanwhile waits at most about this long for the walker).
const SLICE: Duration = Duration::from_micros(25);
/// The walker's share of the proactor's time, in percent, while anything else has work.
const BUSY_SHARE_PERCENT: u32 = 20;
/// Output held by a walker past which it does not wait for its time share: writes that
/// force buckets out while the walker waits would otherwise grow memory without bound.
const HELD_BYTES: usize = 4 << 20;

/// The walker's time share: steps of at most [`SLICE`]; while the proactor has nothing else
/// to do they follow each other (a loop turn apart), and while other fibers or messages had
/// work since the walker's last step, the walker waits until its steps are at most
/// [`BUSY_SHARE_PERCENT`] of the time. Under the simulator no time passes during a step, so
/// steps end by their bucket budget and the walker never waits.
struct TimeShare {
    /// The foreground work counter at the end of the walker's last pause.
    work: u64,
}

impl TimeShare {
    fn new() -> TimeShare {
        TimeShare {
            work: damselfly_runtime::work_done(),
        }
    }

    /// The walker paused for another reason (the save delay): foreground work meanwhile
    /// does not count.
    fn restart(&mut self) {
        self.work = damselfly_runtime::work_done();
    }

    /// After a step that ran for `ran` (with the compression and checksum of what it wrote):
    /// yields, and when foreground work ran since the last pause (during the step's sends,
    /// which may park, or the yield), waits until the pause makes up the rest of the
    /// walker's share, unless more than [`HELD_BYTES`] of output (`held`, mostly buckets
    /// that writes forced out) waits to be sent: then the walker sends it first.
    fn pause(&mut self, ran: Duration, held: usize) {
        let paused_at = clock::now();
        damselfly_runtime::fiber::yield_now();
        // The walker and the writer are background fibers: anything counted is foreground.
        if held <= HELD_BYTES && damselfly_runtime::work_done() != self.work {
            let until = paused_at + ran * (100 - BUSY_SHARE_PERCENT) / BUSY_SHARE_PERCENT;
            if clock::now() < until {
                damselfly_runtime::fiber::sleep_until(until);
            }
        }
        self.restart();
    }
}
