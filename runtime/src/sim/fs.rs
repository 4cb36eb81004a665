//! Simulated files for the `sim` backend, behind `fs::File`: contents live in memory, every
//! operation costs seeded virtual time, and a crash ([`crash`]) keeps of each file only what
//! an fsync made durable plus a seeded prefix of the writes since, the last of them possibly
//! torn. Renames are durable at once (a journaling file system orders them), so a file renamed
//! before its contents were synced can come back empty or torn after a crash: exactly the
//! mistake the write-to-temp, fsync, rename protocol exists to avoid.
//!
//! The store outlives a simulated pool, so a program can crash a server and start another on
//! the same files. Paths the store does not hold fall through to the real file system (a real
//! directory opened for its fsync, `/proc`), so a run keeps its files in a directory of its own.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
struct Node {
    /// What reads see now.
    data: Vec<u8>,
    /// What survives a crash for sure.
    durable: Vec<u8>,
    /// Writes since the last fsync, in order: (offset, bytes).
    pending: Vec<(u64, Vec<u8>)>,
    /// False until the first fsync: a crash may then lose the file's contents entirely.
    synced_once: bool,
}

struct Store {
    files: BTreeMap<PathBuf, Node>,
    /// Directories whose machine crashed: writes there fail until [`recover`], so the
    /// crashed server cannot change what the next one finds. (Per directory: runs in other
    /// threads of the process keep their own.)
    crashed: Vec<PathBuf>,
}

impl Store {
    fn is_crashed(&self, path: &Path) -> bool {
        self.crashed.iter().any(|d| path.starts_with(d))
    }
}

static STORE: Mutex<Store> = Mutex::new(Store {
    files: BTreeMap::new(),
    crashed: Vec::new(),
});

fn store() -> std::sync::MutexGuard<'static, Store> {
    // A panic elsewhere never leaves the map half changed: every change is one statement.
    STORE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Virtual time one file operation of `bytes` takes: a base cost plus a rate, with jitter.
fn cost(bytes: usize) {
    if !super::active() || !crate::fiber::in_fiber() {
        return;
    }
    let w = super::world();
    let base_us = 5 + w.below(50);
    let per_kib_ns = 200 + w.below(800);
    let us = base_us + (bytes as u64 / 1024) * per_kib_ns / 1000;
    w.trace(20, bytes as u64, us);
    drop(w);
    crate::fiber::sleep(Duration::from_micros(us));
}

fn crashed_error() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

/// True when the store holds `path`.
pub fn holds(path: &Path) -> bool {
    store().files.contains_key(path)
}

/// Creates `path` (or truncates it) in the store.
pub fn create(path: &Path) -> io::Result<PathBuf> {
    cost(0);
    let mut s = store();
    if s.is_crashed(path) {
        return Err(crashed_error());
    }
    let node = s.files.entry(path.to_path_buf()).or_default();
    node.data.clear();
    // A truncation is itself a change that only an fsync makes durable.
    node.pending.push((u64::MAX, Vec::new()));
    Ok(path.to_path_buf())
}

pub fn read_at(path: &Path, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let n = {
        let s = store();
        let node = s
            .files
            .get(path)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let start = (offset as usize).min(node.data.len());
        let n = buf.len().min(node.data.len() - start);
        buf[..n].copy_from_slice(&node.data[start..start + n]);
        n
    };
    cost(n);
    Ok(n)
}

pub fn write_at(path: &Path, buf: &[u8], offset: u64) -> io::Result<usize> {
    cost(buf.len());
    let mut s = store();
    if s.is_crashed(path) {
        return Err(crashed_error());
    }
    let node = s
        .files
        .get_mut(path)
        .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
    apply(&mut node.data, offset, buf);
    node.pending.push((offset, buf.to_vec()));
    Ok(buf.len())
}

fn apply(data: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    if offset == u64::MAX {
        // The truncation marker of `create`.
        data.clear();
        return;
    }
    let end = offset as usize + bytes.len();
    if data.len() < end {
        data.resize(end, 0);
    }
    data[offset as usize..end].copy_from_slice(bytes);
}

pub fn fsync(path: &Path) -> io::Result<()> {
    cost(0);
    let mut s = store();
    if s.is_crashed(path) {
        return Err(crashed_error());
    }
    if let Some(node) = s.files.get_mut(path) {
        node.durable = node.data.clone();
        node.pending.clear();
        node.synced_once = true;
    }
    Ok(())
}

pub fn len(path: &Path) -> io::Result<u64> {
    store()
        .files
        .get(path)
        .map(|n| n.data.len() as u64)
        .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
}

/// Moves `from` to `to` (replacing it); durable at once.
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    cost(0);
    let mut s = store();
    if s.is_crashed(from) || s.is_crashed(to) {
        return Err(crashed_error());
    }
    let node = s
        .files
        .remove(from)
        .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
    s.files.insert(to.to_path_buf(), node);
    Ok(())
}

pub fn remove(path: &Path) -> io::Result<()> {
    let mut s = store();
    if s.is_crashed(path) {
        return Err(crashed_error());
    }
    s.files
        .remove(path)
        .map(|_| ())
        .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
}

/// Paths the store holds directly inside `dir`.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    store()
        .files
        .keys()
        .filter(|p| p.parent() == Some(dir))
        .cloned()
        .collect()
}

/// The machine of the files under `dir` loses power: each keeps what was durable plus a
/// seeded prefix of the writes since (the last one of them cut at a seeded byte), and a file
/// never synced may lose everything. Writes there fail from now until [`recover`]. Call it
/// from the simulated world.
pub fn crash(dir: &Path) {
    let w = super::world();
    let mut s = store();
    s.crashed.push(dir.to_path_buf());
    for (_, node) in s.files.iter_mut().filter(|(p, _)| p.starts_with(dir)) {
        let mut data = if node.synced_once {
            node.durable.clone()
        } else {
            Vec::new()
        };
        let keep = w.below(node.pending.len() as u64 + 1) as usize;
        for (i, (offset, bytes)) in node.pending.iter().take(keep).enumerate() {
            let torn = i + 1 == keep && !bytes.is_empty() && w.below(2) == 0;
            let cut = if torn {
                w.below(bytes.len() as u64) as usize
            } else {
                bytes.len()
            };
            apply(&mut data, *offset, &bytes[..cut]);
        }
        w.trace(21, data.len() as u64, keep as u64);
        node.data = data.clone();
        node.durable = data;
        node.pending.clear();
        node.synced_once = true;
    }
}

/// Power is back under `dir`: the next server may write there again.
pub fn recover(dir: &Path) {
    store().crashed.retain(|d| d != dir);
}

/// Forgets every file under `dir` (a run cleaning up after itself).
pub fn remove_all(dir: &Path) {
    store().files.retain(|p, _| !p.starts_with(dir));
}
