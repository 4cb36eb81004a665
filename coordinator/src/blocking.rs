//! Blocking pops (BLPOP, BLMOVE, BZPOPMIN...): clients parked on keys until a write makes one
//! of them servable, served on the key's shard in arrival order.
//!
//! How a client blocks: the command's first attempt runs as a transaction over its keys; when
//! no key can serve, the same hops register a [`Blocked`] record in the queue of each key on
//! its shard and tell the shard's DbSlice to report the key's creation. Registration happens
//! under the keys' locks, so a write to a key either ran before the attempt (the attempt saw
//! it) or after the registration (the write reports the key): no wakeup is lost.
//!
//! How it is served: after every shard-side operation and every transaction's conclusion the
//! shard looks at the keys reported since ([`Shard::serve_blocked`]). For each whose lock is
//! free (a transaction still holding it would see the pop mid-way), it offers the key to the
//! queue's clients in order. A client's `serve` closure checks the key, claims the client
//! (one atomic state change: exactly one shard serves it, and never after its timeout) and
//! pops, rendering the reply on the shard. The coordinator fiber then sends that reply.

use crate::server::ServerState;
use crate::shard::{key_hash, Shard};
use crate::tx::locks::LockMode;
use damselfly_runtime::clock::{self, Time};
use damselfly_runtime::net::TcpStream;
use damselfly_runtime::sync::{Event, SpinLock};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Waiting for a key (the only state a shard may claim from).
const WAITING: u8 = 0;
/// A shard popped for the client; the reply is in `reply`.
const SERVED: u8 = 1;
/// A shard saw a key servable but could not serve on its own (the destination lives on another
/// shard): the client runs its command again.
const WOKEN: u8 = 2;
const TIMED_OUT: u8 = 3;
const UNBLOCKED_TIMEOUT: u8 = 4;
const UNBLOCKED_ERROR: u8 = 5;
/// The client disconnected or the server is stopping.
const GONE: u8 = 6;
/// A shard claimed the client and is serving it; SERVED or WOKEN follows at once.
const CLAIMED: u8 = 7;

/// What a client's `serve` closure did with a key offered to it.
pub enum Attempt {
    /// The key cannot serve this client (missing, empty or of another type): it stays blocked.
    NotReady,
    /// The client could not be claimed: it was served elsewhere, timed out or left.
    Stale,
    /// Served: the reply bytes, rendered for the client's protocol, and how to put back what
    /// was taken should the client turn out to be gone.
    Served(Vec<u8>, Option<Undo>),
    /// Claimed and woken to run its command again.
    Woken,
    /// The key can serve but another of the keys it needs is locked: offer it again later.
    Later,
}

/// Puts back what a shard popped for a client that disconnected before its reply could be
/// sent: a shard-side op on `key`'s shard.
pub struct Undo {
    pub key: Vec<u8>,
    pub op: Box<dyn Fn(&Shard) + Send + Sync>,
}

/// The shard-side serve step: (shard, db, key, claim) where `claim()` must be called after
/// checking the key and before changing anything; false means the client is gone (return
/// [`Attempt::Stale`]).
pub type ServeFn = dyn Fn(&Shard, usize, &[u8], &dyn Fn() -> bool) -> Attempt + Send + Sync;

/// A client blocked on keys.
pub struct Blocked {
    pub client_id: u64,
    state: AtomicU8,
    reply: SpinLock<Option<(Vec<u8>, Option<Undo>)>>,
    event: Event,
    serve: Box<ServeFn>,
}

impl Blocked {
    pub fn new(client_id: u64, serve: Box<ServeFn>) -> Arc<Blocked> {
        Arc::new(Blocked {
            client_id,
            state: AtomicU8::new(WAITING),
            reply: SpinLock::new(None),
            event: Event::new(),
            serve,
        })
    }

    /// Withdraws a client that registered but found a key servable meanwhile; false if a
    /// shard already claimed it (then [`wait`] returns what that shard did).
    pub fn cancel(&self) -> bool {
        self.leave_waiting(GONE)
    }

    fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    /// Moves the client out of WAITING to `to`; false if it already left it.
    fn leave_waiting(&self, to: u8) -> bool {
        self.state
            .compare_exchange(WAITING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Offers `key` on `shard` to this client.
    fn offer(&self, shard: &Shard, db: usize, key: &[u8]) -> Attempt {
        if self.state() != WAITING {
            return Attempt::Stale;
        }
        let attempt = (self.serve)(shard, db, key, &|| self.leave_waiting(CLAIMED));
        match attempt {
            Attempt::Served(reply, undo) => {
                *self.reply.lock() = Some((reply, undo));
                self.state.store(SERVED, Ordering::Release);
                self.event.set();
                Attempt::Served(Vec::new(), None)
            }
            Attempt::Woken => {
                self.state.store(WOKEN, Ordering::Release);
                self.event.set();
                Attempt::Woken
            }
            other => other,
        }
    }
}

/// A (database, key) pair.
type DbKey = (usize, Box<[u8]>);

/// A shard's blocked clients: key → clients in arrival order.
#[derive(Default)]
pub struct BlockingQueues {
    queues: HashMap<DbKey, VecDeque<Arc<Blocked>>>,
    /// Ready keys whose lock was held when they were offered: offered again on the next pass.
    deferred: Vec<DbKey>,
}

impl BlockingQueues {
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    pub fn clients(&self) -> usize {
        self.queues.values().map(|q| q.len()).sum()
    }
}

impl Shard {
    /// Registers `b` on `key` (inside the blocking command's hop, under the key's lock).
    pub fn block_on(&self, db: usize, key: &[u8], b: &Arc<Blocked>) {
        let mut bq = self.blocking.borrow_mut();
        bq.queues
            .entry((db, key.into()))
            .or_default()
            .push_back(b.clone());
        self.db.borrow_mut().watch_blocking(db, key);
    }

    /// Removes `b` from the queues of `keys` (after it was served, timed out or left).
    pub fn unblock(&self, db: usize, keys: &[&[u8]], b: &Arc<Blocked>) {
        let mut bq = self.blocking.borrow_mut();
        for key in keys {
            let k = (db, Box::<[u8]>::from(*key));
            let Some(q) = bq.queues.get_mut(&k) else {
                continue;
            };
            q.retain(|x| !Arc::ptr_eq(x, b));
            if q.is_empty() {
                bq.queues.remove(&k);
                self.db.borrow_mut().unwatch_blocking(db, key);
            }
        }
    }

    /// Offers the keys created since the last pass (and those deferred) to their blocked
    /// clients. Runs after every shard-side operation and transaction conclusion; costs one
    /// check when nothing is blocked.
    pub fn serve_blocked(&self) {
        loop {
            if !self.db.borrow().has_ready_keys() && self.blocking.borrow().deferred.is_empty() {
                return;
            }
            let mut ready = self.db.borrow_mut().take_ready_keys();
            ready.append(&mut self.blocking.borrow_mut().deferred);
            let mut deferred = Vec::new();
            for (db, key) in ready {
                if deferred.contains(&(db, key.clone())) {
                    continue;
                }
                #[cfg(feature = "sim-mutations")]
                if planted_lost_wakeup() {
                    continue;
                }
                if !self.key_is_free(key_hash(&key), LockMode::Exclusive) {
                    deferred.push((db, key));
                    continue;
                }
                if self.offer_key(db, &key) {
                    deferred.push((db, key));
                }
            }
            let more = self.db.borrow().has_ready_keys();
            self.blocking.borrow_mut().deferred = deferred;
            if !more {
                return;
            }
        }
    }

    /// Serves the clients of one key in order while it can. True when it must be offered
    /// again later.
    fn offer_key(&self, db: usize, key: &[u8]) -> bool {
        let k = (db, Box::<[u8]>::from(key));
        loop {
            let front = {
                let bq = self.blocking.borrow();
                match bq.queues.get(&k).and_then(|q| q.front()) {
                    Some(b) => b.clone(),
                    None => return false,
                }
            };
            match front.offer(self, db, key) {
                Attempt::NotReady => return false,
                Attempt::Later => return true,
                Attempt::Stale | Attempt::Served(..) | Attempt::Woken => {
                    let mut bq = self.blocking.borrow_mut();
                    if let Some(q) = bq.queues.get_mut(&k) {
                        q.pop_front();
                        if q.is_empty() {
                            bq.queues.remove(&k);
                            self.db.borrow_mut().unwatch_blocking(db, key);
                            return false;
                        }
                    }
                }
            }
        }
    }
}

/// How a blocked wait ended.
pub enum WaitEnd {
    /// A shard served the client: its reply, and how to undo the pop.
    Served(Vec<u8>, Option<Undo>),
    /// Run the command again (woken without being served).
    Retry,
    /// The timeout passed, or CLIENT UNBLOCK ... TIMEOUT.
    TimedOut,
    /// CLIENT UNBLOCK ... ERROR.
    UnblockedWithError,
    /// The client disconnected or the server stops.
    Gone,
}

/// How often a blocked client checks that its peer is still connected.
const PEER_CHECK: Duration = Duration::from_millis(100);

/// Parks the calling fiber until `b` is served, woken, unblocked, or `deadline` passes, or the
/// peer (`conn`) disconnects. The caller then removes `b` from its keys' queues.
pub fn wait(
    server: &ServerState,
    b: &Arc<Blocked>,
    deadline: Option<Time>,
    conn: Option<&TcpStream>,
) -> WaitEnd {
    server.blocked.lock().insert(b.client_id, b.clone());
    let end = wait_inner(b, deadline, conn);
    server.blocked.lock().remove(&b.client_id);
    end
}

fn wait_inner(b: &Arc<Blocked>, deadline: Option<Time>, conn: Option<&TcpStream>) -> WaitEnd {
    loop {
        let now = clock::now();
        let step = now + PEER_CHECK;
        let until = match deadline {
            Some(d) if d < step => d,
            _ => step,
        };
        b.event.wait_until(Some(until));
        match b.state() {
            SERVED => {
                let (reply, undo) = b.reply.lock().take().unwrap_or_default();
                return WaitEnd::Served(reply, undo);
            }
            WOKEN => return WaitEnd::Retry,
            UNBLOCKED_TIMEOUT | TIMED_OUT => return WaitEnd::TimedOut,
            UNBLOCKED_ERROR => return WaitEnd::UnblockedWithError,
            GONE => return WaitEnd::Gone,
            _ => {}
        }
        let now = clock::now();
        let expired = deadline.is_some_and(|d| now >= d);
        let gone = damselfly_runtime::stopping() || conn.is_some_and(TcpStream::peer_closed);
        if (expired || gone) && b.leave_waiting(if gone { GONE } else { TIMED_OUT }) {
            return if gone {
                WaitEnd::Gone
            } else {
                WaitEnd::TimedOut
            };
        }
        // Else a shard claimed it meanwhile: the next turn reads its final state.
    }
}

/// CLIENT UNBLOCK: ends the wait of client `id` as a timeout or with an error; false if it is
/// not blocked (or was served first).
pub fn unblock_client(server: &ServerState, id: u64, error: bool) -> bool {
    let b = server.blocked.lock().get(&id).cloned();
    match b {
        Some(b) => {
            let ok = b.leave_waiting(if error {
                UNBLOCKED_ERROR
            } else {
                UNBLOCKED_TIMEOUT
            });
            if ok {
                b.event.set();
            }
            ok
        }
        None => false,
    }
}

/// Clients blocked right now (INFO blocked_clients).
pub fn blocked_count(server: &ServerState) -> usize {
    server.blocked.lock().len()
}

/// Planted `lost-wakeup` (`sim-mutations` builds only): one key in four reported servable is
/// forgotten, so its blocked clients are not woken by that write.
#[cfg(feature = "sim-mutations")]
fn planted_lost_wakeup() -> bool {
    thread_local! {
        static READY: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    damselfly_runtime::sim::mutation("lost-wakeup")
        && READY.with(|c| {
            c.set(c.get() + 1);
            c.get().is_multiple_of(4)
        })
}
