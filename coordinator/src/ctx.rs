//! The command context: what a command handler gets ([`CmdCtx`]) and the per-connection
//! state it reads and changes ([`ConnState`], [`ConnInfo`], MULTI's queue, WATCHed keys).
//! Families depend on this module and the registry, never on the connection loop.

use crate::exec::Exec;
use crate::registry::CommandSpec;
use crate::server::ServerState;
use crate::tls::ConnStream;
use damselfly_protocol::{CommandArgs, ReplyWriter, RespVersion};
use damselfly_runtime::clock;
use damselfly_shards::CollectionLimits;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// A command's registry entry, looked up once per command: (index, spec), or None when the
/// name is unknown.
pub type Found = Option<(usize, &'static CommandSpec)>;

/// What other connections may read about this one (CLIENT LIST/INFO/KILL), kept in the
/// proactor's connection map.
pub struct ConnInfo {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub created_ms: u64,
    pub name: RefCell<Vec<u8>>,
    pub db: Cell<usize>,
    pub resp: Cell<u8>,
    pub last_cmd: RefCell<&'static str>,
    pub last_active_ms: Cell<u64>,
    pub qbuf: Cell<usize>,
    /// Unused room of the query buffer (CLIENT LIST `qbuf-free`), and the empty buffer while
    /// the connection waits for input (querybuf.rs: the idle sweep may free it).
    pub qbuf_free: Cell<usize>,
    pub qbuf_parked: RefCell<Vec<u8>>,
    /// Bytes this connection's buffers hold (its share of `maxmemory-clients`).
    pub mem: Cell<usize>,
    /// Commands queued since MULTI, or -1 outside MULTI; and their bytes.
    pub multi: Cell<i64>,
    pub multi_mem: Cell<usize>,
    /// Parked in a blocking command (CLIENT LIST flag `b`).
    pub blocked: Cell<bool>,
    /// Channels, patterns and shard channels subscribed to (CLIENT LIST `sub`, `psub`, `ssub`).
    pub sub: Cell<usize>,
    pub psub: Cell<usize>,
    pub ssub: Cell<usize>,
    /// CLIENT SETINFO LIB-NAME and LIB-VER (empty when unset).
    pub lib_name: RefCell<Vec<u8>>,
    pub lib_ver: RefCell<Vec<u8>>,
    /// Frames other fibers send this client (pub/sub messages, invalidations).
    pub push: crate::push::PushQueue,
    /// CLIENT TRACKING state.
    pub tracking: crate::tracking::ClientTracking,
    /// The user the connection is authenticated as (CLIENT LIST `user=`, CLIENT KILL USER).
    pub user: RefCell<String>,
    /// CLIENT NO-EVICT ON: never closed by `maxmemory-clients` (CLIENT LIST flag `e`).
    pub no_evict: Cell<bool>,
    /// CLIENT NO-TOUCH ON: reads leave keys' access clocks alone (CLIENT LIST flag `T`).
    pub no_touch: Cell<bool>,
}

impl Drop for ConnInfo {
    fn drop(&mut self) {
        if self.no_touch.get() {
            crate::tx::client_tag::forget_no_touch();
        }
    }
}

impl ConnInfo {
    pub fn new(id: u64, addr: String, laddr: String) -> ConnInfo {
        let now = clock::wall_now_ms();
        ConnInfo {
            id,
            addr,
            laddr,
            created_ms: now,
            name: RefCell::new(Vec::new()),
            db: Cell::new(0),
            resp: Cell::new(2),
            last_cmd: RefCell::new("NULL"),
            last_active_ms: Cell::new(now),
            qbuf: Cell::new(0),
            qbuf_free: Cell::new(0),
            qbuf_parked: RefCell::new(Vec::new()),
            mem: Cell::new(0),
            multi: Cell::new(-1),
            multi_mem: Cell::new(0),
            blocked: Cell::new(false),
            sub: Cell::new(0),
            psub: Cell::new(0),
            ssub: Cell::new(0),
            lib_name: RefCell::new(Vec::new()),
            lib_ver: RefCell::new(Vec::new()),
            push: Default::default(),
            tracking: Default::default(),
            user: RefCell::new("default".to_string()),
            no_evict: Cell::new(false),
            no_touch: Cell::new(false),
        }
    }

    /// CLIENT LIST's flags in Redis's order: `P` subscribed, `x` in MULTI, `b` blocked, `t`
    /// tracking (`R` broken redirect, `B` BCAST), `e` no-evict, `T` no-touch; else `N`.
    fn flags(&self) -> String {
        let mut f = String::new();
        if self.sub.get() + self.psub.get() + self.ssub.get() > 0 {
            f.push('P');
        }
        if self.multi.get() >= 0 {
            f.push('x');
        }
        if self.blocked.get() {
            f.push('b');
        }
        if let Some(m) = self.tracking.mode.borrow().as_ref() {
            f.push('t');
            if self.tracking.broken.get() {
                f.push('R');
            }
            if m.bcast {
                f.push('B');
            }
        }
        if self.no_evict.get() {
            f.push('e');
        }
        if self.no_touch.get() {
            f.push('T');
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }

    /// One CLIENT LIST line (without the newline).
    pub fn describe(&self, now_ms: u64) -> String {
        format!(
            "id={} addr={} laddr={} fd=0 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem={} rbs=16384 rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            String::from_utf8_lossy(&self.name.borrow()),
            now_ms.saturating_sub(self.created_ms) / 1000,
            now_ms.saturating_sub(self.last_active_ms.get()) / 1000,
            self.flags(),
            self.db.get(),
            self.sub.get(),
            self.psub.get(),
            self.ssub.get(),
            self.multi.get(),
            self.qbuf.get(),
            self.qbuf_free.get(),
            self.multi_mem.get(),
            self.push.pending(),
            self.mem.get() + self.push.pending(),
            self.last_cmd.borrow(),
            self.user.borrow(),
            self.tracking
                .mode
                .borrow()
                .as_ref()
                .map_or(-1, |m| m.redirect as i64),
            self.resp.get(),
            String::from_utf8_lossy(&self.lib_name.borrow()),
            String::from_utf8_lossy(&self.lib_ver.borrow()),
        )
    }
}

/// CLIENT REPLY: whether this connection's replies are sent.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Set by CLIENT REPLY SKIP: the next command's reply is dropped.
    SkipNext,
    /// The command running now is the one SKIP named.
    Skip,
}

/// Per-connection state the command handlers see.
pub struct ConnState {
    pub id: u64,
    pub db: usize,
    pub resp: RespVersion,
    pub close_after_reply: bool,
    pub info: Rc<ConnInfo>,
    /// Commands queued since MULTI.
    pub multi: Option<MultiState>,
    /// Keys WATCHed for the next EXEC.
    pub watched: Vec<WatchedKey>,
    /// CLIENT REPLY ON/OFF/SKIP.
    pub replies: ReplyMode,
    /// The client's socket: a command that parks (BLPOP) sends the replies before it first and
    /// watches for a disconnect. None for the stand-in of a squashed command.
    pub stream: Option<ConnStream>,
    /// Bytes of the output buffer a parking command sent (and removed) while it ran.
    pub out_sent: usize,
    /// The connection's subscriptions, from its first SUBSCRIBE on.
    pub pubsub: Option<Rc<crate::pubsub::Subscriber>>,
    /// Who the connection is authenticated as, and what it may run.
    pub acl: crate::acl::ConnAcl,
}

impl ConnState {
    /// The state a squashed command runs with on its shard's thread: the client's id,
    /// database and protocol, and `info`, a stand-in kept by that proactor.
    pub fn stub(id: u64, db: usize, resp: RespVersion, info: Rc<ConnInfo>) -> ConnState {
        ConnState {
            id,
            db,
            resp,
            close_after_reply: false,
            info,
            multi: None,
            watched: Vec::new(),
            replies: ReplyMode::On,
            stream: None,
            out_sent: 0,
            pubsub: None,
            acl: crate::acl::ConnAcl::trusted(),
        }
    }
}

/// Everything a command handler gets.
pub struct CmdCtx<'a> {
    pub conn: &'a mut ConnState,
    pub server: &'a ServerState,
    pub out: &'a mut Vec<u8>,
    /// How the command reaches its shards: on its own, or inside EXEC's transaction.
    pub exec: Exec<'a>,
}

impl CmdCtx<'_> {
    pub fn reply(&mut self) -> ReplyWriter<'_> {
        ReplyWriter::new(self.out, self.conn.resp)
    }

    pub fn db(&self) -> usize {
        self.conn.db
    }

    /// The collection encoding thresholds as the config holds them now (cached per config
    /// generation, so reading them costs two atomic loads).
    pub fn limits(&self) -> CollectionLimits {
        self.server.client_limits.refresh(&self.server.config);
        self.server.client_limits.collection_limits()
    }
}

/// A command queued after MULTI: its request bytes as the client sent them, the parse of
/// them, and its registry entry.
pub struct Queued {
    pub raw: Vec<u8>,
    pub args: CommandArgs,
    pub found: Found,
}

/// Commands queued after MULTI.
#[derive(Default)]
pub struct MultiState {
    pub queued: Vec<Queued>,
    /// Bytes the queued commands hold (counted in the client's memory).
    pub bytes: usize,
    /// A command failed while queueing: EXEC aborts.
    pub failed: bool,
}

/// A key this connection WATCHes, with its version when watched.
pub struct WatchedKey {
    pub db: usize,
    pub key: Vec<u8>,
    pub version: u64,
}

/// The batch's wall clock in ms (see `ProactorState::batch_now_ms`): what commands pass to the
/// shards as `now` for expiry.
pub fn now_ms() -> u64 {
    crate::server::ProactorState::current().batch_now_ms.get()
}
