//! Server-wide state shared by every proactor, the per-proactor state (its shard, its
//! connections, its counters), and starting/stopping a server on a proactor pool.

use crate::blocking::Blocked;
use crate::client_limits::ClientLimits;
use crate::config::Config;
use crate::ctx::ConnInfo;
use crate::registry::Registry;
use crate::shard::Shard;
use damselfly_runtime::clock::{self, Time};
use damselfly_runtime::net::TcpStream;
use damselfly_runtime::sync::{Event, SpinLock};
use damselfly_runtime::{Backend, ProactorPool};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct ServerState {
    pub config: Config,
    pub shards: usize,
    pub backend: Backend,
    pub start: Time,
    pub start_wall_ms: u64,
    pub run_id: String,
    pub addr: std::sync::OnceLock<SocketAddr>,
    next_client_id: AtomicU64,
    pub connected: AtomicUsize,
    pub total_connections: AtomicU64,
    pub rejected_connections: AtomicU64,
    /// Set by SHUTDOWN or a signal; the embedding program stops the server.
    pub shutdown: Event,
    /// Query/output buffer limits and the memory all clients hold.
    pub client_limits: ClientLimits,
    /// Clients parked in a blocking command, by client id (CLIENT UNBLOCK, INFO).
    pub blocked: SpinLock<HashMap<u64, Arc<Blocked>>>,
    /// The script cache, function libraries and the busy script.
    pub scripts: crate::scripting::Scripts,
    /// Subscriptions per proactor: where a publish must go.
    pub pubsub: crate::pubsub::PubSubCounts,
    /// Client-side caching: BCAST prefixes, counters, where clients live.
    pub tracking: crate::tracking::TrackingGlobal,
    /// Clients in MONITOR mode.
    pub monitors: crate::monitor::Monitors,
    /// Commands slower than `slowlog-log-slower-than`.
    pub slowlog: crate::slowlog::SlowLog,
    /// Snapshots: the save in progress, the last save's outcome (SAVE, BGSAVE, INFO).
    pub persistence: crate::snapshot_file::SaveState,
    /// Users and permissions.
    pub acl: crate::acl::AclState,
    /// Keys evicted at `maxmemory`, per shard.
    pub eviction: crate::eviction::EvictionStats,
    /// The plain listener, which CONFIG SET port/bind moves.
    pub listeners: crate::listener::Listeners,
    /// CLIENT PAUSE: server-wide, read by every proactor.
    pub pause: crate::pause::PauseState,
    /// Events slower than `latency-monitor-threshold` (LATENCY).
    pub latency: crate::latency::LatencyMonitor,
    /// DEBUG SET-ACTIVE-EXPIRE: false stops the active expiry cycle (lazy expiry goes on).
    pub active_expire: std::sync::atomic::AtomicBool,
    /// This server's txid counter and scheduling handshake (never shared between servers).
    pub tx: crate::tx::scheduling::Scheduling,
}

impl ServerState {
    pub fn new(config: Config, shards: usize, backend: Backend) -> ServerState {
        let wall = clock::wall_now_us();
        ServerState {
            config,
            shards,
            backend,
            start: clock::now(),
            start_wall_ms: wall / 1000,
            run_id: format!(
                "{:040x}",
                (wall as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c)
            ),
            addr: std::sync::OnceLock::new(),
            next_client_id: AtomicU64::new(1),
            connected: AtomicUsize::new(0),
            total_connections: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            shutdown: Event::new(),
            client_limits: ClientLimits::new(shards),
            blocked: SpinLock::new(HashMap::new()),
            scripts: crate::scripting::Scripts::default(),
            pubsub: crate::pubsub::PubSubCounts::new(shards),
            tracking: Default::default(),
            monitors: Default::default(),
            slowlog: Default::default(),
            persistence: crate::snapshot_file::SaveState::new(wall / 1000),
            acl: Default::default(),
            eviction: crate::eviction::EvictionStats::new(shards),
            listeners: Default::default(),
            pause: Default::default(),
            active_expire: std::sync::atomic::AtomicBool::new(true),
            latency: Default::default(),
            tx: Default::default(),
        }
    }

    /// True when protected mode applies: it is on and the default user needs no password.
    pub fn protected_mode(&self) -> bool {
        self.config.get("protected-mode").as_deref() == Some("yes") && self.acl.default_open()
    }

    /// Who can reach the server, for the startup banner: the bound address, whether it is
    /// loopback only, and what protects it.
    pub fn exposure(&self, addr: SocketAddr) -> String {
        let auth = if self.acl.default_open() {
            "no password"
        } else {
            "password required"
        };
        if addr.ip().is_loopback() {
            format!("loopback only, {auth}")
        } else if self.protected_mode() {
            let scope = if addr.ip().is_unspecified() {
                "every interface"
            } else {
                "a non-loopback address"
            };
            format!("{scope}, {auth}: protected mode serves loopback clients only")
        } else if auth == "no password" {
            "every client that can reach it, no password and protected mode off: anyone can read and write all data".to_string()
        } else {
            format!("every client that can reach it, {auth}")
        }
    }

    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn uptime(&self) -> Duration {
        clock::now() - self.start
    }
}

/// Counters of one proactor; INFO sums them over all proactors.
#[derive(Default)]
pub struct ProactorStats {
    pub commands: Cell<u64>,
    pub keyspace_hits: Cell<u64>,
    pub keyspace_misses: Cell<u64>,
    pub net_input_bytes: Cell<u64>,
    pub net_output_bytes: Cell<u64>,
    /// (calls, nanoseconds, failed) per registry index.
    pub per_command: RefCell<Vec<(u64, u64, u64)>>,
    /// Calls refused before they ran (arity, OOM, BUSY, refused in a script), per registry index.
    pub rejected: RefCell<Vec<u64>>,
    /// Error replies by error code (INFO errorstats) and in all.
    pub errors: RefCell<HashMap<Box<str>, u64>>,
    pub error_replies: Cell<u64>,
}

/// Distinct error codes INFO errorstats tracks, as in Redis; later codes are not tracked.
const ERROR_CODES_MAX: usize = 128;

impl ProactorStats {
    pub fn bump(c: &Cell<u64>, n: u64) {
        c.set(c.get() + n);
    }

    /// Counts one error reply (`line`: its text, with or without the leading '-').
    pub fn count_error(&self, line: &[u8]) {
        let line = line.strip_prefix(b"-").unwrap_or(line);
        let end = line
            .iter()
            .position(|&c| c == b' ' || c == b'\r')
            .unwrap_or(line.len());
        let code = String::from_utf8_lossy(&line[..end]);
        let mut errors = self.errors.borrow_mut();
        if let Some(n) = errors.get_mut(&*code) {
            *n += 1;
        } else if errors.len() < ERROR_CODES_MAX {
            errors.insert(code.into(), 1);
        }
        Self::bump(&self.error_replies, 1);
    }

    /// Counts a call refused before it ran (`index`: its registry entry, when known).
    pub fn count_rejected(&self, index: Option<usize>, line: &[u8]) {
        if let Some(i) = index {
            if let Some(n) = self.rejected.borrow_mut().get_mut(i) {
                *n += 1;
            }
        }
        self.count_error(line);
    }
}

/// What each proactor owns besides its runtime state.
pub struct ProactorState {
    pub shard: Shard,
    /// Wall clock (ms) read once per batch of commands read from one connection: commands of
    /// a batch share it, which saves a clock read per command.
    pub batch_now_ms: Cell<u64>,
    pub conns: RefCell<HashMap<u64, (TcpStream, Rc<ConnInfo>)>>,
    pub stats: ProactorStats,
    /// The connection info squashed commands from other proactors' clients run with here.
    pub squash_info: Rc<ConnInfo>,
    /// This proactor's pub/sub subscribers.
    pub pubsub: RefCell<crate::pubsub::LocalSubscriptions>,
    /// The server this proactor serves (for fibers that outlive a command, such as a
    /// subscriber's writer).
    pub server: Arc<ServerState>,
    /// The client a hop running in this proactor's loop works for (tracking's NOLOOP).
    pub acting_client: Cell<u64>,
    /// Sends the push queues of this proactor's idle connections.
    pub push_flusher: crate::push::Flusher,
}

impl ProactorState {
    pub fn current() -> &'static ProactorState {
        damselfly_runtime::local::<ProactorState>().expect("not on a server proactor")
    }
}

/// `maxmemory-clients`: while all clients together hold more than the limit, the proactor whose
/// largest client is the largest of all disconnects it (Redis's client eviction). Runs on every
/// proactor's heartbeat; the evicted client's memory returns when its fiber ends.
fn evict_clients(state: &ServerState) {
    let limits = &state.client_limits;
    limits.refresh(&state.config);
    let ps = ProactorState::current();
    let me = ps.shard.index;
    if !limits.over_total() {
        limits.is_largest(me, 0);
        return;
    }
    let victim = ps
        .conns
        .borrow()
        .values()
        .filter(|(_, info)| !info.no_evict.get())
        .max_by_key(|(_, info)| info.mem.get())
        .map(|(s, info)| (s.clone(), info.clone()));
    let Some((stream, info)) = victim else {
        limits.is_largest(me, 0);
        return;
    };
    if limits.is_largest(me, info.mem.get()) {
        log::warn!(
            "Evicting client: id={} addr={} tot-mem={} (maxmemory-clients {} reached)",
            info.id,
            info.addr,
            info.mem.get(),
            limits.maxmemory_clients()
        );
        // Ends its recv or send; its fiber then cleans up and returns its memory. The slot
        // keeps its size until then, so no other proactor evicts a smaller client meanwhile.
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
}

/// A running server on a pool.
pub struct RunningServer {
    pub state: Arc<ServerState>,
    pub addr: SocketAddr,
    /// The memcached listener's address, when `--memcached_port` is set.
    pub memcached_addr: Option<SocketAddr>,
    /// The `--tls-port` listener's address, when TLS is on.
    pub tls_addr: Option<SocketAddr>,
}

/// Sets up every proactor's shard, binds the listener on proactor 0 and starts accepting.
pub fn start(pool: &ProactorPool, state: Arc<ServerState>) -> std::io::Result<RunningServer> {
    let dbs = state.config.get_int("databases").max(1) as usize;
    let n_cmds = Registry::get().len();
    let hz = state.config.get_int("hz").max(1) as u64;
    for i in 0..pool.len() {
        let state_for_tick = state.clone();
        pool.run_on(i, move || {
            let st = ProactorState {
                shard: Shard::new(i, dbs),
                batch_now_ms: Cell::new(clock::wall_now_ms()),
                conns: RefCell::new(HashMap::new()),
                squash_info: Rc::new(ConnInfo::new(0, String::new(), String::new())),
                pubsub: RefCell::new(Default::default()),
                server: state_for_tick.clone(),
                acting_client: Cell::new(0),
                push_flusher: Default::default(),
                stats: ProactorStats {
                    per_command: RefCell::new(vec![(0, 0, 0); n_cmds]),
                    rejected: RefCell::new(vec![0; n_cmds]),
                    errors: RefCell::new(HashMap::new()),
                    error_replies: Cell::new(0),
                    ..Default::default()
                },
            };
            if damselfly_runtime::set_local(st).is_err() {
                panic!("proactor {i} already hosts a server");
            }
            crate::querybuf::start_sweeper();
            // Active expiry and client eviction on the heartbeat: a bounded step per tick.
            let st = state_for_tick.clone();
            damselfly_runtime::fiber::every(
                "expiry",
                Duration::from_millis(1000 / hz),
                move || {
                    evict_clients(&st);
                    crate::lazyfree::step(&st, &mut ProactorState::current().shard.db.borrow_mut());
                    // A client pause stops key eviction and active expiry, as in Redis.
                    if !st.pause.stops_expiry() {
                        // Evicts keys when over maxmemory, and publishes the shard's memory.
                        let t = clock::now();
                        crate::eviction::step(&st);
                        let t = crate::latency::timed(&st, "eviction-cycle", t);
                        let shard = &ProactorState::current().shard;
                        let now = clock::wall_now_ms();
                        let mut db = shard.db.borrow_mut();
                        let active = st.active_expire.load(Ordering::Relaxed);
                        for d in (0..db.db_count()).filter(|_| active) {
                            db.active_expire(
                                d,
                                now,
                                damselfly_shards::expiry::ExpireBudget::default(),
                            );
                        }
                        drop(db);
                        crate::latency::timed(&st, "expire-cycle", t);
                    }
                    crate::tracking::flush_broadcasts();
                    let max = st.config.get_int("tracking-table-max-keys");
                    if max > 0 {
                        crate::tracking::enforce_limit(max as usize);
                    }
                    true
                },
            );
        });
    }
    crate::snapshot_load::start(pool, &state)?;
    let bind = state.config.get("bind").unwrap_or_else(|| "0.0.0.0".into());
    let port = state.config.get_int("port") as u16;
    let ip = crate::listener::bind_ip(&bind).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad --bind address")
    })?;
    let addr = SocketAddr::new(ip, port);
    state
        .listeners
        .set_tls_config(crate::tls::server_config(&state.config)?);
    let tls_port = state.config.get_int("tls-port");
    // `--port 0` picks a free port, unless TLS is on: then it means no plain port (as Redis).
    let plain = port != 0 || tls_port == 0;
    let (tx, rx) = damselfly_runtime::sync::oneshot::channel();
    let st = state.clone();
    pool.spawn_named(0, "acceptor", move || {
        if !plain {
            return tx.send(Ok(None));
        }
        let local = crate::listener::serve_plain(&st, addr);
        if let Ok(local) = local {
            let _ = st.addr.set(local);
        }
        tx.send(local.map(Some))
    });
    let plain_addr = rx
        .recv()
        .map_err(|_| std::io::Error::other("acceptor died"))??;
    let tls_addr = crate::tls::listener::start(pool, &state, ip)?;
    let memcached_addr = crate::memcache_conn::start_listener(pool, &state, ip)?;
    let addr = plain_addr.or(tls_addr).expect("a plain or a TLS listener");
    Ok(RunningServer {
        state,
        addr,
        memcached_addr,
        tls_addr,
    })
}
