//! The slow log: commands that ran longer than `slowlog-log-slower-than` microseconds, the
//! newest `slowlog-max-len` of them, server-wide. Only a slow command takes the lock; the
//! threshold is read from an atomic per command.

use crate::args::Args;
use damselfly_runtime::clock;
use damselfly_runtime::sync::SpinLock;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

/// Arguments kept per entry; past it the last one says how many more there were.
const ARGS_MAX: usize = 32;
/// Bytes kept per argument; past it the argument says how many more there were.
const ARG_LEN_MAX: usize = 128;

pub struct Entry {
    pub id: u64,
    pub unix_secs: u64,
    pub micros: u64,
    pub args: Vec<Vec<u8>>,
    pub addr: String,
    pub name: Vec<u8>,
}

#[derive(Default)]
pub struct SlowLog {
    next_id: AtomicU64,
    entries: SpinLock<VecDeque<Entry>>,
}

impl SlowLog {
    /// Records a command that took `micros` (already found slower than the threshold).
    pub fn record(&self, args: &Args<'_>, micros: u64, addr: &str, name: &[u8], max_len: usize) {
        let hide = crate::monitor::redacted(args);
        let shown = args.len().min(ARGS_MAX);
        let mut kept = Vec::with_capacity(shown);
        for (i, hidden) in hide.into_iter().enumerate().take(shown) {
            if i == ARGS_MAX - 1 && args.len() > ARGS_MAX {
                let more = args.len() - ARGS_MAX + 1;
                kept.push(format!("... ({more} more arguments)").into_bytes());
                break;
            }
            let a = args.get(i);
            kept.push(if hidden {
                b"(redacted)".to_vec()
            } else if a.len() > ARG_LEN_MAX {
                let mut v = a[..ARG_LEN_MAX].to_vec();
                v.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - ARG_LEN_MAX).as_bytes(),
                );
                v
            } else {
                a.to_vec()
            });
        }
        let entry = Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            unix_secs: clock::wall_now_ms() / 1000,
            micros,
            args: kept,
            addr: addr.to_string(),
            name: name.to_vec(),
        };
        let mut e = self.entries.lock();
        e.push_front(entry);
        e.truncate(max_len);
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.entries.lock().clear();
    }

    /// The newest `count` entries (all with None), newest first.
    pub fn newest<R>(
        &self,
        count: Option<usize>,
        f: impl FnOnce(&mut dyn Iterator<Item = &Entry>) -> R,
    ) -> R {
        let e = self.entries.lock();
        let mut it = e.iter().take(count.unwrap_or(usize::MAX));
        f(&mut it)
    }
}
