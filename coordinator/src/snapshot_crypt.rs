//! Encryption at rest (`--snapshot_key_file`): with a key set, every snapshot file (RDB,
//! DFS summary and shard files) is written sealed in AES-256-GCM frames
//! ([`damselfly_persistence::crypt`]); loading opens encrypted files with the key and
//! refuses them without it. Plain files still load with a key set, so turning encryption on
//! does not strand the snapshot already on disk.

use crate::server::ServerState;
use damselfly_persistence::crypt::{self, MasterKey, Sealer};
use damselfly_runtime::fs::File;
use std::path::Path;

/// Reads and checks a key file (CONFIG SET and start-up validation).
pub fn read_key(path: &str) -> Result<MasterKey, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("can't read key file {path}: {e}"))?;
    MasterKey::from_file_bytes(&bytes).map_err(|e| format!("{path}: {e}"))
}

/// The configured key, read now (the file may have been rotated since it was set).
pub fn key(server: &ServerState) -> Result<Option<MasterKey>, String> {
    let path = server.config.get("snapshot-key-file").unwrap_or_default();
    if path.is_empty() {
        return Ok(None);
    }
    let bytes = crate::snapshot_load::read_file(Path::new(&path))
        .map_err(|e| format!("can't read key file {path}: {e}"))?;
    MasterKey::from_file_bytes(&bytes)
        .map(Some)
        .map_err(|e| format!("{path}: {e}"))
}

/// A snapshot file being written: plaintext in, the file's bytes (sealed when a key is set)
/// written at increasing offsets.
pub struct SealedFile {
    file: File,
    offset: u64,
    sealer: Option<Sealer>,
    sealed: Vec<u8>,
}

impl SealedFile {
    pub fn new(file: File, key: Option<&MasterKey>) -> Result<SealedFile, String> {
        let mut f = SealedFile {
            file,
            offset: 0,
            sealer: key.map(Sealer::new),
            sealed: Vec::new(),
        };
        if let Some(h) = f.sealer.as_ref().map(|s| *s.header()) {
            f.write_raw(&h)?;
        }
        Ok(f)
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.file
            .write_all_at(bytes, self.offset)
            .map_err(|e| format!("write error saving the snapshot: {e}"))?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    pub fn write(&mut self, plain: &[u8]) -> Result<(), String> {
        let Some(s) = self.sealer.as_mut() else {
            return self.write_raw(plain);
        };
        let mut sealed = std::mem::take(&mut self.sealed);
        sealed.clear();
        s.push(plain, &mut sealed);
        let r = self.write_raw(&sealed);
        self.sealed = sealed;
        r
    }

    /// Writes the last frame and fsyncs.
    pub fn finish(mut self) -> Result<(), String> {
        if let Some(s) = self.sealer.take() {
            let mut last = Vec::new();
            s.finish(&mut last);
            self.write_raw(&last)?;
        }
        #[cfg(feature = "sim-mutations")]
        if damselfly_runtime::sim::mutation("snapshot-renamed-before-fsync") {
            // Planted bug: the fsync comes only after the rename (snapshot_file::finish).
            return Ok(());
        }
        self.file
            .fsync()
            .map_err(|e| format!("can't fsync the snapshot: {e}"))
    }
}

/// Reads a snapshot file whole, opening it when it is encrypted.
pub fn read_snapshot(server: &ServerState, path: &Path) -> Result<Vec<u8>, String> {
    let buf = crate::snapshot_load::read_file(path)
        .map_err(|e| format!("can't read {}: {e}", path.display()))?;
    if !crypt::is_encrypted(&buf) {
        return Ok(buf);
    }
    let key = key(server)?;
    crypt::open(key.as_ref(), buf).map_err(|e| format!("{}: {e}", path.display()))
}
