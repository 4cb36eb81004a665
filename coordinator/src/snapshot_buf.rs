//! Reused output buffers for snapshots: each shard keeps a small pool of chunk buffers that
//! its walker fills and the writer (or the shard's own DFS file) hands back once the bytes
//! are written, so a save does not allocate and grow a fresh buffer per 64 KiB chunk, and the
//! next save finds the buffers already there.
//!
//! The pool is per shard (one per proactor thread) and bounded: it keeps at most
//! [`POOL_BUFFERS`] idle buffers, and a buffer that grew past [`KEEP_CAPACITY`] (an entry
//! written whole that was larger than a chunk) is freed instead of kept, so the pool holds at
//! most about 1 MiB per shard between saves. A buffer comes back from whichever thread wrote
//! it, so the pool is behind a mutex: one lock per chunk, never per command.

use std::sync::{Arc, Mutex};

/// Capacity of a pooled buffer: a chunk is sealed once it reaches
/// [`crate::snapshot::CHUNK_BYTES`], and the entry that crosses that mark usually fits in the
/// rest, so the buffer is not reallocated.
pub const BUFFER_BYTES: usize = 2 * crate::snapshot::CHUNK_BYTES;
/// A buffer that grew past this is freed when it comes back.
const KEEP_CAPACITY: usize = 2 * BUFFER_BYTES;
/// Idle buffers a shard's pool keeps: the channel's pieces per shard, a piece being written,
/// the walker's and the hook's current ones.
const POOL_BUFFERS: usize = 8;

/// A shard's idle chunk buffers.
#[derive(Default)]
pub struct BufPool {
    idle: Mutex<Vec<Vec<u8>>>,
}

impl BufPool {
    /// This proactor's pool (one per shard, kept across saves).
    pub fn local() -> Arc<BufPool> {
        thread_local! {
            static POOL: Arc<BufPool> = Arc::new(BufPool::default());
        }
        POOL.with(Arc::clone)
    }

    /// An empty buffer with room for a chunk.
    pub fn take(self: &Arc<Self>) -> Chunk {
        let buf = self
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUFFER_BYTES));
        Chunk {
            buf,
            pool: Some(self.clone()),
        }
    }

    fn give_back(&self, mut buf: Vec<u8>) {
        if buf.capacity() > KEEP_CAPACITY || buf.capacity() < BUFFER_BYTES {
            return;
        }
        buf.clear();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < POOL_BUFFERS {
            idle.push(buf);
        }
    }

    /// Idle buffers now (for tests).
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// A buffer of serialized entries that goes back to its shard's pool when dropped.
#[derive(Default)]
pub struct Chunk {
    buf: Vec<u8>,
    pool: Option<Arc<BufPool>>,
}

impl Chunk {
    /// Hands the bytes out and leaves an empty buffer from the same pool in their place.
    pub fn take(&mut self) -> Chunk {
        let next = match &self.pool {
            Some(p) => p.take(),
            None => Chunk::default(),
        };
        std::mem::replace(self, next)
    }
}

impl std::ops::Deref for Chunk {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.buf
    }
}

impl std::ops::DerefMut for Chunk {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.give_back(std::mem::take(&mut self.buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_and_are_reused() {
        let pool = Arc::new(BufPool::default());
        let mut a = pool.take();
        a.extend_from_slice(b"entries");
        let ptr = a.as_ptr();
        let sent = a.take();
        assert!(a.is_empty());
        assert_eq!(&sent[..], b"entries");
        drop(sent);
        assert_eq!(pool.idle(), 1);
        let b = pool.take();
        assert!(b.is_empty(), "a reused buffer starts empty");
        assert_eq!(b.as_ptr(), ptr, "the same buffer is handed out again");
        assert_eq!(pool.idle(), 0);
    }

    #[test]
    fn the_pool_stays_bounded() {
        let pool = Arc::new(BufPool::default());
        let chunks: Vec<Chunk> = (0..POOL_BUFFERS + 5).map(|_| pool.take()).collect();
        drop(chunks);
        assert_eq!(pool.idle(), POOL_BUFFERS);
        let mut big = pool.take();
        big.resize(KEEP_CAPACITY + 1, 0);
        drop(big);
        assert_eq!(
            pool.idle(),
            POOL_BUFFERS - 1,
            "an oversized buffer is freed"
        );
    }
}
