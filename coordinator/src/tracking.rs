//! Client-side caching (CLIENT TRACKING): the server remembers which clients read which keys
//! and tells them when those keys change.
//!
//! - Default mode: after a read-only command, its keys are remembered on the shards that own
//!   them (each shard has its own part of the table: key -> clients). A write to a remembered
//!   key sends one invalidation per client and forgets the key.
//! - BCAST mode: clients register key prefixes server-wide; every write to a matching key is
//!   announced, batched per client and prefix at the end of the shard's hop.
//!
//! Invalidations travel to the client's proactor (posted, never parking the shard) and are
//! filtered there against the client's current mode (tracking off, switched mode, NOLOOP for
//! its own writes), then pushed to the client (RESP3) or to its redirect client, as a push or
//! as a `__redis__:invalidate` message.

use crate::ctx::ConnInfo;
use crate::server::ProactorState;
use ahash::AHashMap;
use damselfly_protocol::{ReplyWriter, RespVersion};
use damselfly_runtime::bus::{self, Message, RawCall};
use damselfly_runtime::sync::SpinLock;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A connection's tracking mode (CLIENT TRACKING ON and its options).
#[derive(Clone, Debug, Default)]
pub struct TrackingMode {
    /// Client id invalidations go to, 0 for the connection itself.
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    pub prefixes: Vec<Vec<u8>>,
}

/// Per-connection tracking state, in its `ConnInfo`.
#[derive(Default)]
pub struct ClientTracking {
    pub mode: RefCell<Option<TrackingMode>>,
    /// CLIENT CACHING was given for the next command.
    pub caching: Cell<bool>,
    /// The redirect client was gone when an invalidation was due.
    pub broken: Cell<bool>,
    /// The running script called a read-only command: its declared keys are remembered.
    pub script_read: Cell<bool>,
}

impl ClientTracking {
    pub fn is_on(&self) -> bool {
        self.mode.borrow().is_some()
    }
}

/// Where a client lives: its id and proactor.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ClientRef {
    pub id: u64,
    pub proactor: u32,
}

struct Prefix {
    prefix: Vec<u8>,
    clients: Vec<ClientRef>,
}

/// Server-wide tracking state.
#[derive(Default)]
pub struct TrackingGlobal {
    pub clients: AtomicUsize,
    /// Keys and (key, client) items in every shard's table.
    pub keys: AtomicUsize,
    pub items: AtomicUsize,
    prefixes: SpinLock<Vec<Prefix>>,
    bcast: AtomicBool,
    /// Client id -> proactor of every connection (redirect targets).
    homes: SpinLock<AHashMap<u64, u32>>,
}

impl TrackingGlobal {
    pub fn register_client(&self, id: u64, proactor: usize) {
        self.homes.lock().insert(id, proactor as u32);
    }

    pub fn forget_client(&self, id: u64) {
        self.homes.lock().remove(&id);
    }

    pub fn home_of(&self, id: u64) -> Option<u32> {
        self.homes.lock().get(&id).copied()
    }

    pub fn prefix_count(&self) -> usize {
        self.prefixes.lock().len()
    }

    fn add_prefixes(&self, who: ClientRef, prefixes: &[Vec<u8>]) {
        let mut all = self.prefixes.lock();
        for p in prefixes {
            match all.iter_mut().find(|e| &e.prefix == p) {
                Some(e) => {
                    if !e.clients.contains(&who) {
                        e.clients.push(who)
                    }
                }
                None => all.push(Prefix {
                    prefix: p.clone(),
                    clients: vec![who],
                }),
            }
        }
        self.bcast.store(!all.is_empty(), Ordering::Release);
    }

    fn remove_prefixes(&self, who: ClientRef) {
        let mut all = self.prefixes.lock();
        for e in all.iter_mut() {
            e.clients.retain(|c| *c != who);
        }
        all.retain(|e| !e.clients.is_empty());
        self.bcast.store(!all.is_empty(), Ordering::Release);
    }
}

/// Written keys, each with the client whose write it was.
type WrittenKeys = Vec<(Vec<u8>, u64)>;

/// One shard's part of the table, and the BCAST announcements of the running hop.
#[derive(Default)]
pub struct TrackingTable {
    keys: AHashMap<Box<[u8]>, Vec<ClientRef>>,
    /// (client, prefix index) -> keys, sent at the end of the hop.
    broadcasts: Vec<(ClientRef, usize, WrittenKeys)>,
}

impl TrackingTable {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn server() -> &'static crate::server::ServerState {
    &ProactorState::current().server
}

/// The client a shard-side write runs for (NOLOOP): the coordinator fiber's tag, or the
/// hop's client when the write runs in the shard's loop.
fn acting_client() -> u64 {
    if damselfly_runtime::fiber::in_fiber() {
        crate::tx::client_tag::client_id(damselfly_runtime::fiber::tag())
    } else {
        ProactorState::current().acting_client.get()
    }
}

// ---- enabling and disabling --------------------------------------------------------------

/// CLIENT TRACKING ON with `mode` (already validated).
pub fn enable(info: &ConnInfo, mode: TrackingMode) {
    let g = &server().tracking;
    let me = ClientRef {
        id: info.id,
        proactor: ProactorState::current().shard.index as u32,
    };
    let was_on = {
        let current = info.tracking.mode.borrow();
        current.is_some()
    };
    if !was_on {
        g.clients.fetch_add(1, Ordering::Relaxed);
    }
    let mut mode = mode;
    if mode.bcast {
        if mode.prefixes.is_empty() && !was_on {
            mode.prefixes.push(Vec::new());
        }
        // A client already in BCAST mode adds prefixes to the ones it has.
        let mut all = info
            .tracking
            .mode
            .borrow()
            .as_ref()
            .map_or(Vec::new(), |m| m.prefixes.clone());
        for p in &mode.prefixes {
            if !all.contains(p) {
                all.push(p.clone());
            }
        }
        if all.is_empty() {
            all.push(Vec::new());
        }
        g.add_prefixes(me, &all);
        mode.prefixes = all;
    }
    info.tracking.broken.set(false);
    *info.tracking.mode.borrow_mut() = Some(mode);
}

/// CLIENT TRACKING OFF, RESET and disconnect. Remembered keys stay in the table until they
/// change (then the client is skipped), as in Redis.
pub fn disable(info: &ConnInfo) {
    let Some(mode) = info.tracking.mode.borrow_mut().take() else {
        return;
    };
    let g = &server().tracking;
    if mode.bcast {
        g.remove_prefixes(ClientRef {
            id: info.id,
            proactor: ProactorState::current().shard.index as u32,
        });
    }
    g.clients.fetch_sub(1, Ordering::Relaxed);
    info.tracking.caching.set(false);
    info.tracking.broken.set(false);
}

/// Redis's check that BCAST prefixes of one client never overlap.
pub fn check_prefixes(existing: &[Vec<u8>], new: &[Vec<u8>]) -> Result<(), String> {
    let overlap = |a: &[u8], b: &[u8]| {
        let n = a.len().min(b.len());
        a[..n] == b[..n]
    };
    let show = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
    for (i, p) in new.iter().enumerate() {
        if let Some(e) = existing.iter().find(|e| overlap(e, p)) {
            return Err(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                show(p),
                show(e)
            ));
        }
        if let Some(q) = new[i + 1..].iter().find(|q| overlap(p, q)) {
            return Err(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                show(p),
                show(q)
            ));
        }
    }
    Ok(())
}

// ---- remembering -------------------------------------------------------------------------

/// Whether a read by this client now is remembered (tracking on, not BCAST, and the
/// OPTIN/OPTOUT rules with CLIENT CACHING).
pub fn remembers(info: &ConnInfo) -> bool {
    let mode = info.tracking.mode.borrow();
    let Some(m) = mode.as_ref() else {
        return false;
    };
    let caching = info.tracking.caching.get();
    // OPTIN remembers only after CACHING YES, OPTOUT all but after CACHING NO.
    !m.bcast && (!m.optin || caching) && (!m.optout || !caching)
}

/// Remembers that `info`'s client read `keys` (one hop per shard that owns some).
pub fn remember(info: &ConnInfo, keys: &[&[u8]]) {
    if keys.is_empty() {
        return;
    }
    let who = ClientRef {
        id: info.id,
        proactor: ProactorState::current().shard.index as u32,
    };
    let n = damselfly_runtime::proactor_count();
    let mut shards: Vec<usize> = keys
        .iter()
        .map(|k| crate::shard::shard_of(crate::shard::key_hash(k), n))
        .collect();
    shards.sort_unstable();
    shards.dedup();
    crate::tx::on_shards(&shards, &|s| {
        let g = &server().tracking;
        let mut t = s.tracking.borrow_mut();
        for k in keys {
            if crate::shard::shard_of(crate::shard::key_hash(k), n) != s.index {
                continue;
            }
            let list = match t.keys.get_mut(*k) {
                Some(l) => l,
                None => {
                    g.keys.fetch_add(1, Ordering::Relaxed);
                    t.keys.entry((*k).into()).or_default()
                }
            };
            if !list.contains(&who) {
                list.push(who);
                g.items.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
}

// ---- invalidating ------------------------------------------------------------------------

/// Whether a write on this shard must be looked at (someone tracks keys here, or BCAST).
pub fn wants_writes() -> bool {
    let Some(ps) = damselfly_runtime::local::<ProactorState>() else {
        return false;
    };
    !ps.shard.tracking.borrow().is_empty() || ps.server.tracking.bcast.load(Ordering::Acquire)
}

/// A write to `key` on this shard: invalidates it for the clients that read it, and queues
/// BCAST announcements for the end of the hop.
pub fn key_written(key: &[u8]) {
    let ps = ProactorState::current();
    let writer = acting_client();
    let removed = ps.shard.tracking.borrow_mut().keys.remove(key);
    if let Some(clients) = removed {
        ps.server.tracking.keys.fetch_sub(1, Ordering::Relaxed);
        invalidate_for(clients, key, writer);
    }
    if ps.server.tracking.bcast.load(Ordering::Acquire) {
        let prefixes = ps.server.tracking.prefixes.lock();
        let mut t = ps.shard.tracking.borrow_mut();
        for (pi, p) in prefixes.iter().enumerate() {
            if !key.starts_with(&p.prefix) {
                continue;
            }
            for &c in &p.clients {
                match t
                    .broadcasts
                    .iter_mut()
                    .find(|(who, i, _)| *who == c && *i == pi)
                {
                    Some((_, _, keys)) => keys.push((key.to_vec(), writer)),
                    None => t.broadcasts.push((c, pi, vec![(key.to_vec(), writer)])),
                }
            }
        }
    }
}

/// Tells each of `clients` (the key's whole entry, now gone from the table) that `key`
/// changed; `writer` is the client whose write it was (0: none).
fn invalidate_for(clients: Vec<ClientRef>, key: &[u8], writer: u64) {
    server()
        .tracking
        .items
        .fetch_sub(clients.len(), Ordering::Relaxed);
    for c in clients {
        send(
            c,
            Invalidation {
                target: c.id,
                bcast: false,
                keys: Some(vec![(key.to_vec(), writer)]),
            },
        );
    }
}

/// Sends the BCAST announcements the hop collected: one message per client and prefix.
pub fn flush_broadcasts() {
    let Some(ps) = damselfly_runtime::local::<ProactorState>() else {
        return;
    };
    let pending = {
        let mut t = ps.shard.tracking.borrow_mut();
        if t.broadcasts.is_empty() {
            return;
        }
        std::mem::take(&mut t.broadcasts)
    };
    for (c, _, keys) in pending {
        send(
            c,
            Invalidation {
                target: c.id,
                bcast: true,
                keys: Some(keys),
            },
        );
    }
}

/// FLUSHDB/FLUSHALL on this shard: forgets its part of the table and tells every tracking
/// client of this proactor that everything changed.
pub fn flushed_on_shard() {
    let ps = ProactorState::current();
    let g = &ps.server.tracking;
    {
        let mut t = ps.shard.tracking.borrow_mut();
        let items: usize = t.keys.values().map(Vec::len).sum();
        g.keys.fetch_sub(t.keys.len(), Ordering::Relaxed);
        g.items.fetch_sub(items, Ordering::Relaxed);
        t.keys.clear();
    }
    let targets: Vec<Rc<ConnInfo>> = ps
        .conns
        .borrow()
        .values()
        .filter(|(_, info)| info.tracking.is_on())
        .map(|(_, info)| info.clone())
        .collect();
    for info in targets {
        deliver(Invalidation {
            target: info.id,
            bcast: false,
            keys: None,
        });
    }
}

/// `tracking-table-max-keys`: while the table holds more keys than the limit, this shard
/// forgets some of its own (invalidating them for their clients). Runs on the heartbeat.
pub fn enforce_limit(max: usize) {
    let ps = ProactorState::current();
    let g = &ps.server.tracking;
    loop {
        let total = g.keys.load(Ordering::Relaxed);
        if total <= max {
            return;
        }
        let victim = ps.shard.tracking.borrow().keys.keys().next().cloned();
        let Some(key) = victim else {
            return;
        };
        // Claim one eviction of the excess, so shards together evict exactly the excess.
        if g.keys
            .compare_exchange(total, total - 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            continue;
        }
        let clients = ps.shard.tracking.borrow_mut().keys.remove(&key);
        if let Some(clients) = clients {
            invalidate_for(clients, &key, 0);
        }
    }
}

/// An invalidation on its way to a tracking client. `keys: None` means everything (flush).
struct Invalidation {
    target: u64,
    bcast: bool,
    keys: Option<WrittenKeys>,
}

fn send(to: ClientRef, inv: Invalidation) {
    let here = ProactorState::current().shard.index;
    if to.proactor as usize == here {
        deliver(inv);
    } else {
        post(to.proactor as usize, deliver_posted, Box::new(inv));
    }
}

fn post<T>(proactor: usize, func: fn(usize), value: Box<T>) {
    bus::post(
        proactor,
        Message::Call(RawCall {
            func,
            arg: Box::into_raw(value) as usize,
        }),
    );
}

fn deliver_posted(arg: usize) {
    // SAFETY: `arg` came from `Box::into_raw` of an Invalidation in `send`, and the bus runs
    // each message once.
    let inv = unsafe { Box::from_raw(arg as *mut Invalidation) };
    deliver(*inv);
}

fn conn_info(id: u64) -> Option<Rc<ConnInfo>> {
    ProactorState::current()
        .conns
        .borrow()
        .get(&id)
        .map(|(_, info)| info.clone())
}

fn resp_of(info: &ConnInfo) -> RespVersion {
    if info.resp.get() == 3 {
        RespVersion::Resp3
    } else {
        RespVersion::Resp2
    }
}

/// On the tracking client's proactor: filters against its mode and sends.
fn deliver(inv: Invalidation) {
    let Some(info) = conn_info(inv.target) else {
        return;
    };
    let (redirect, noloop) = {
        let mode = info.tracking.mode.borrow();
        let Some(m) = mode.as_ref() else {
            return;
        };
        if inv.keys.is_some() && m.bcast != inv.bcast {
            return;
        }
        (m.redirect, m.noloop)
    };
    let keys: Option<Vec<Vec<u8>>> = inv.keys.map(|ks| {
        ks.into_iter()
            .filter(|(_, writer)| !(noloop && *writer == inv.target))
            .map(|(k, _)| k)
            .collect()
    });
    if keys.as_ref().is_some_and(Vec::is_empty) {
        return;
    }
    if redirect == 0 {
        if info.resp.get() == 3 {
            info.push.push(
                &info,
                &invalidate_frame(RespVersion::Resp3, keys.as_deref()),
            );
        }
        return;
    }
    match server().tracking.home_of(redirect) {
        None => {
            info.tracking.broken.set(true);
            if info.resp.get() == 3 {
                let mut f = Vec::new();
                let mut w = ReplyWriter::new(&mut f, RespVersion::Resp3);
                w.push_header(2);
                w.bulk(b"tracking-redir-broken");
                w.integer(redirect as i64);
                info.push.push(&info, &f);
            }
        }
        Some(p) => {
            let r = Redirected { to: redirect, keys };
            if p as usize == ProactorState::current().shard.index {
                deliver_redirected(r);
            } else {
                post(p as usize, deliver_redirected_posted, Box::new(r));
            }
        }
    }
}

struct Redirected {
    to: u64,
    keys: Option<Vec<Vec<u8>>>,
}

fn deliver_redirected_posted(arg: usize) {
    // SAFETY: as in `deliver_posted`, for a Redirected boxed in `deliver`.
    let r = unsafe { Box::from_raw(arg as *mut Redirected) };
    deliver_redirected(*r);
}

/// On the redirect client's proactor: a push in RESP3, a `__redis__:invalidate` message to a
/// RESP2 client that subscribes to anything, else nothing (RESP2 has no pushes).
fn deliver_redirected(r: Redirected) {
    let Some(info) = conn_info(r.to) else {
        return;
    };
    let resp = resp_of(&info);
    if resp == RespVersion::Resp3 {
        info.push
            .push(&info, &invalidate_frame(resp, r.keys.as_deref()));
    } else if info.sub.get() + info.psub.get() + info.ssub.get() > 0 {
        let mut f = Vec::new();
        let mut w = ReplyWriter::new(&mut f, resp);
        w.push_header(3);
        w.bulk(b"message");
        w.bulk(b"__redis__:invalidate");
        write_keys(&mut w, r.keys.as_deref());
        info.push.push(&info, &f);
    }
}

fn invalidate_frame(resp: RespVersion, keys: Option<&[Vec<u8>]>) -> Vec<u8> {
    let mut f = Vec::new();
    let mut w = ReplyWriter::new(&mut f, resp);
    w.push_header(2);
    w.bulk(b"invalidate");
    write_keys(&mut w, keys);
    f
}

fn write_keys(w: &mut ReplyWriter<'_>, keys: Option<&[Vec<u8>]>) {
    match keys {
        None => w.null(),
        Some(keys) => {
            w.array_header(keys.len());
            for k in keys {
                w.bulk(k);
            }
        }
    }
}
