//! damselfly-sim: runs the real Damselfly server on the deterministic simulator backend and
//! drives seeded clients against it over simulated TCP.
//!
//! One `u64` seed derives the whole run ([`Plan::from_seed`]): proactor count, clients, their
//! operation mix, the key space and the faults. Clients check every reply as it arrives
//! (`client`): exact replies for keys only they touch (a sequential model, with expiry windows
//! in virtual time), atomicity of MSET/MGET/DEL over keys on several shards and of MULTI/EXEC,
//! and, after a quiet phase, linearizability of the shared counters (`check`). The same seed
//! yields the same trace hash; a failing seed prints the command that replays it.

mod check;
mod client;
mod faults;
pub mod linearize;
pub mod monitor;
pub mod persist;
pub mod resp;

pub use check::Counters;
pub use faults::client_node;

use damselfly_runtime::sim::{self, Rng};
use damselfly_runtime::{clock, fiber, SimConfig};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// The planted bugs of a `sim-mutations` build (`--list-mutations`), with what each breaks.
pub const MUTATIONS: &[(&str, &str)] = &[
    (
        "multikey-without-locks",
        "multi-key commands run their shards' parts as plain hops, no VLL transaction",
    ),
    (
        "bus-reorder",
        "a proactor handles two messages of one sender out of order",
    ),
    (
        "expired-key-served",
        "GET judges expiry by a clock one second late",
    ),
    (
        "conclude-skipped",
        "one transaction conclude in 64 never happens: it stays queued with its locks",
    ),
    (
        "intent-locks-released-early",
        "a transaction's locks on a shard are released at its first step there, not its last",
    ),
    (
        "bus-duplicate",
        "one hop in 32 is handled twice, as if its message had been delivered twice",
    ),
    (
        "snapshot-renamed-before-fsync",
        "a snapshot file is renamed into place before its data is fsynced",
    ),
    (
        "lost-wakeup",
        "one key in four reported servable is forgotten: its blocked clients are not woken",
    ),
];

/// How a sweep runs.
#[derive(Clone, Debug)]
pub struct Opts {
    /// Faults on (short I/O, delays, reordering across senders, resets, disconnects).
    pub faults: bool,
    /// Operations per client (0: drawn from the seed).
    pub ops: usize,
    /// Events of the history printed for a failing seed.
    pub tail: usize,
    /// The planted bug to switch on (see [`MUTATIONS`]; needs the `sim-mutations` feature).
    pub mutation: Option<String>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            faults: true,
            ops: 0,
            tail: 30,
            mutation: None,
        }
    }
}

/// Everything one seed decides.
#[derive(Clone, Debug)]
pub struct Plan {
    pub seed: u64,
    pub proactors: usize,
    pub clients: usize,
    pub ops_per_client: usize,
    /// Private keys per client (each client's own key space).
    pub private_keys: usize,
    /// Shared MSET groups, each of `GROUP_KEYS` keys on several shards.
    pub groups: usize,
    /// Shared INCR counters.
    pub counters: usize,
    /// Shared pairs changed only together, in MULTI/EXEC.
    pub pairs: usize,
    /// Shared registers (SET/GET/DEL by every client), checked for linearizability.
    pub registers: usize,
    /// A MONITOR client watches the run and checks each connection's order.
    pub monitor: bool,
    /// The blocking pair: client 1 BLPOPs a shared list the others LPUSH to.
    pub blocking: bool,
    /// Snapshots in the simulated files, a crash, and a restart that must load one whole.
    pub persist: bool,
    /// The snapshot format when `persist`: DFS (else RDB).
    pub dfs: bool,
    /// Percent of operations on shared keys (the rest on the client's private keys).
    pub shared_percent: u64,
    /// Per-million chance that a client drops its connection right after sending a command.
    pub disconnect_per_million: u32,
    /// Servers in the world (1 or 2): two independent nodes, each with its own clients.
    pub servers: usize,
    /// Partitions between each server's node and its clients' nodes during the workload.
    pub partitions: bool,
    /// Proactor stalls during the workload.
    pub stalls: bool,
    pub sim: SimConfig,
}

pub const GROUP_KEYS: usize = 4;

impl Plan {
    pub fn from_seed(seed: u64, opts: &Opts) -> Plan {
        let mut r = Rng::new(seed ^ 0x005e_ed0f_d15e_1f1e);
        let faults = opts.faults;
        // Half the seeds run a tight network (a few microseconds: commands of different
        // clients overlap in the server often), half a slow and jittery one.
        let tight = r.chance(1, 2);
        let lat_lo = if tight {
            r.between(0, 3)
        } else {
            r.between(1, 100)
        };
        let lat_span = if tight {
            r.between(0, 10)
        } else {
            r.between(0, 2_000)
        };
        let sim = SimConfig {
            seed,
            net_latency_us: if faults {
                (lat_lo, lat_lo + lat_span)
            } else {
                (50, 50)
            },
            short_io: faults && r.chance(3, 4),
            reset_per_million: if faults && r.chance(1, 2) {
                r.between(500, 5_000) as u32
            } else {
                0
            },
            bus_delay: faults,
            shuffle_fibers: faults,
            mutation: opts.mutation.clone(),
        };
        Plan {
            seed,
            proactors: r.between(2, 4) as usize,
            clients: r.between(2, 8) as usize,
            ops_per_client: if opts.ops > 0 {
                opts.ops
            } else {
                r.between(100, 250) as usize
            },
            private_keys: r.between(3, 12) as usize,
            groups: r.between(1, 2) as usize,
            counters: r.between(1, 3) as usize,
            pairs: r.between(1, 2) as usize,
            registers: r.between(1, 3) as usize,
            monitor: r.chance(1, 2),
            persist: r.chance(1, 4),
            blocking: r.chance(3, 4),
            dfs: r.chance(1, 2),
            shared_percent: r.between(10, 80),
            disconnect_per_million: if faults && r.chance(1, 2) {
                r.between(1_000, 10_000) as u32
            } else {
                0
            },
            servers: if r.chance(1, 3) { 2 } else { 1 },
            partitions: faults && r.chance(1, 2),
            stalls: faults && r.chance(1, 2),
            sim,
        }
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.sim;
        write!(
            f,
            "seed={} proactors={} clients={} ops/client={} private_keys={} groups={} \
             counters={} pairs={} registers={} monitor={} blocking={} persist={} shared%={} latency_us={}..{} short_io={} resets/M={} \
             disconnects/M={} bus_delay={} shuffle={} servers={} partitions={} stalls={}",
            self.seed,
            self.proactors,
            self.clients,
            self.ops_per_client,
            self.private_keys,
            self.groups,
            self.counters,
            self.pairs,
            self.registers,
            self.monitor,
            self.blocking,
            if !self.persist {
                "no"
            } else if self.dfs {
                "dfs"
            } else {
                "rdb"
            },
            self.shared_percent,
            s.net_latency_us.0,
            s.net_latency_us.1,
            s.short_io,
            s.reset_per_million,
            self.disconnect_per_million,
            s.bus_delay,
            s.shuffle_fibers,
            self.servers,
            self.partitions,
            self.stalls
        )
    }
}

/// What one seed's run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub plan: Plan,
    pub failures: Vec<String>,
    /// Hash of the whole run: the simulator's trace and every client's history.
    pub trace: u64,
    /// Commands the clients sent.
    pub ops: u64,
    pub virtual_ms: u64,
    /// The last events of the history, in virtual-time order.
    pub tail: Vec<String>,
    /// After a crash (seeds with snapshots): the snapshots a restart may load.
    pub restart: Option<Vec<persist::SavedModel>>,
}

impl Outcome {
    /// A run that failed before its clients could run: no trace, no history.
    fn failed(plan: Plan, failure: String) -> Outcome {
        Outcome {
            plan,
            failures: vec![failure],
            trace: 0,
            ops: 0,
            virtual_ms: 0,
            tail: Vec::new(),
            restart: None,
        }
    }
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The command line that replays `seed` exactly.
pub fn replay_command(seed: u64, opts: &Opts) -> String {
    let mut cmd = format!("cargo run --release -p damselfly-sim -- --seed {seed}");
    if !opts.faults {
        cmd.push_str(" --no-faults");
    }
    if opts.ops > 0 {
        cmd.push_str(&format!(" --ops {}", opts.ops));
    }
    if let Some(m) = &opts.mutation {
        cmd = cmd.replace(
            " -p damselfly-sim ",
            " -p damselfly-sim --features sim-mutations ",
        );
        cmd.push_str(&format!(" --mutation {m}"));
    }
    cmd
}

/// Runs one seed: starts a simulated server, drives the clients, checks, stops the server.
pub fn run_seed(seed: u64, opts: &Opts) -> Outcome {
    let plan = Plan::from_seed(seed, opts);
    let dir = plan.persist.then(|| snapshot_dir(seed));
    let server = builder(&plan, dir.as_deref(), plan.sim.clone()).start();
    let server = match server {
        Ok(s) => s,
        Err(e) => return Outcome::failed(plan, format!("the server did not start: {e}")),
    };
    // A second server in the same world: another node, its own clients and checks.
    let second = if plan.servers > 1 {
        let world = server.sim_world().expect("a simulated server");
        let sim = SimConfig {
            seed: plan.seed ^ 0x0062_0062,
            ..plan.sim.clone()
        };
        let b = builder(&plan, None, sim)
            .bind(SECOND_SERVER)
            .sim_join(world);
        match b.start() {
            Ok(s) => Some(s),
            Err(e) => {
                return Outcome::failed(plan, format!("the second server did not start: {e}"))
            }
        }
    } else {
        None
    };
    let mut nodes = vec![(server.addr(), server.pool_id())];
    nodes.extend(second.as_ref().map(|s| (s.addr(), s.pool_id())));
    let p = plan.clone();
    let tail = opts.tail;
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        server.simulate(move || drive_world(&p, &nodes, tail))
    }));
    drop(second);
    drop(server);
    match run {
        Ok(mut o) => {
            if let (Some(dir), Some(candidates)) = (&dir, o.restart.take()) {
                o.failures.extend(restart(&plan, dir, &candidates));
            }
            if let Some(dir) = &dir {
                damselfly_runtime::sim::fs::remove_all(dir);
                let _ = std::fs::remove_dir(dir);
            }
            o.plan = plan;
            o
        }
        Err(e) => Outcome::failed(plan, format!("the run panicked: {}", panic_text(&*e))),
    }
}

/// The second server's bind address: its node in the simulated network.
const SECOND_SERVER: &str = "127.0.0.2";

/// A server of the run: `plan`'s threads, snapshots in `dir` when given (never saved by
/// save points: only the workload's SAVE/BGSAVE write them).
fn builder(plan: &Plan, dir: Option<&std::path::Path>, sim: SimConfig) -> damselfly::ServerBuilder {
    let mut b = damselfly::Server::builder()
        .bind("127.0.0.1")
        .port(0)
        .threads(plan.proactors)
        // Active expiry ten times a second: long virtual sleeps then cost few loop steps.
        .set("hz", "10")
        .set("save", "");
    if let Some(dir) = dir {
        b = b
            .set("dir", &dir.to_string_lossy())
            .set("dbfilename", "dump.rdb")
            .set("df-snapshot-format", if plan.dfs { "yes" } else { "no" });
    }
    b.sim(sim)
}

/// A real, empty directory of the seed's own (the server checks that `dir` exists); its
/// files live in the simulator's store.
fn snapshot_dir(seed: u64) -> std::path::PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("damselfly-sim-{}", std::process::id()))
        .join(format!("seed-{seed}"));
    let _ = std::fs::create_dir_all(&dir);
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// After the crash: a new server on the same files must load one of `candidates` whole.
fn restart(plan: &Plan, dir: &std::path::Path, candidates: &[persist::SavedModel]) -> Vec<String> {
    damselfly_runtime::sim::fs::recover(dir);
    let sim = SimConfig {
        seed: plan.seed ^ 0x0072_6573_7461_7274,
        ..plan.sim.clone()
    };
    let server = match builder(plan, Some(dir), sim).start() {
        Ok(s) => s,
        Err(e) => return vec![format!("the server did not start after the crash: {e}")],
    };
    let addr = server.addr();
    let p = plan.clone();
    let candidates = candidates.to_vec();
    let verdict = server.simulate(move || {
        sim::set_quiet(true);
        let mut c = client::Client::new(usize::MAX, &p, addr);
        let mut errors = Vec::new();
        for m in &candidates {
            let mut read = |k: &[u8]| c.must(&[b"GET", k]);
            match persist::matches(m, 0, p.private_keys, &mut read) {
                Ok(()) => return Vec::new(),
                Err(e) => errors.push(e),
            }
        }
        vec![format!(
            "after the crash the server loaded none of the {} snapshots it may have: {}",
            candidates.len(),
            errors.join("; ")
        )]
    });
    drop(server);
    verdict
}

fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "non-string panic".into())
}

/// What the drivers of one world's servers share.
struct Phase {
    servers: usize,
    /// Drivers whose clients have finished (and whose faults have stopped).
    clients_done: AtomicUsize,
}

/// Inside the simulated world: drives every server (`nodes`: address and pool), each in its
/// own pool, and merges what they saw. The quiet phase starts on all of them at once.
fn drive_world(plan: &Plan, nodes: &[(SocketAddr, u32)], tail: usize) -> Outcome {
    let phase = Arc::new(Phase {
        servers: nodes.len(),
        clients_done: AtomicUsize::new(0),
    });
    let others: Vec<_> = nodes[1..]
        .iter()
        .enumerate()
        .map(|(k, &(addr, pool))| {
            // Its own workload (other client seeds), no snapshots.
            let plan = Plan {
                seed: plan.seed ^ ((k as u64 + 1) << 40),
                persist: false,
                ..plan.clone()
            };
            let phase = phase.clone();
            sim::spawn_on_pool(pool, 0, "sim-driver", move || {
                drive(&plan, addr, tail, &phase)
            })
        })
        .collect();
    let mut o = drive(plan, nodes[0].0, tail, &phase);
    for (k, h) in others.into_iter().enumerate() {
        let name = k + 2;
        match h.join() {
            Ok(b) => {
                o.failures.extend(
                    b.failures
                        .into_iter()
                        .map(|f| format!("server {name}: {f}")),
                );
                o.trace = check::fold(o.trace, b.trace);
                o.ops += b.ops;
                o.tail
                    .extend(b.tail.into_iter().map(|t| format!("{t} (server {name})")));
            }
            Err(e) => o.failures.push(format!("server {name}: its driver: {e}")),
        }
    }
    o.tail.sort();
    let skip = o.tail.len().saturating_sub(tail);
    o.tail.drain(..skip);
    sim::set_quiet(false);
    o
}

/// Inside the simulated world: runs every client of the server at `addr` to the end, then the
/// quiet phase and the checks over what all clients saw.
fn drive(plan: &Plan, addr: SocketAddr, tail: usize, phase: &Phase) -> Outcome {
    let t0 = clock::now();
    let n = damselfly_runtime::proactor_count();
    let stop_watch = Arc::new(AtomicBool::new(false));
    let watcher = plan.monitor.then(|| {
        let stop = stop_watch.clone();
        fiber::Builder::new()
            .name("sim-monitor")
            .spawn_on(n - 1, move || monitor::watch(addr, stop))
    });
    // Let MONITOR be in place before the clients start.
    fiber::sleep(std::time::Duration::from_millis(1));
    let handles: Vec<_> = (0..plan.clients)
        .map(|id| {
            let plan = plan.clone();
            fiber::Builder::new()
                .name(format!("sim-client-{id}"))
                .spawn_on(id % n, move || client::run(id, &plan, addr))
        })
        .collect();
    let stop_faults = Arc::new(AtomicBool::new(false));
    let partitioner = plan.partitions.then(|| {
        let (plan, stop) = (plan.clone(), stop_faults.clone());
        fiber::Builder::new()
            .name("sim-partitions")
            .spawn_on(0, move || faults::partitioner(&plan, addr, stop))
    });
    let staller = plan.stalls.then(|| {
        let stop = stop_faults.clone();
        fiber::Builder::new()
            .name("sim-stalls")
            .spawn_on(n - 1, move || faults::staller(stop))
    });
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for (id, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(r) => reports.push(r),
            Err(e) => failures.push(format!("client {id}: {e}")),
        }
    }
    // Every cut heals and the stalls end before the quiet phase.
    stop_faults.store(true, Ordering::Relaxed);
    for (what, h) in [("partitions", partitioner), ("stalls", staller)] {
        match h.map(|h| h.join()) {
            Some(Ok(made)) => sim::trace_event(made, what.len() as u64),
            Some(Err(e)) => failures.push(format!("the {what} fiber: {e}")),
            None => {}
        }
    }
    phase.clients_done.fetch_add(1, Ordering::Relaxed);
    while phase.clients_done.load(Ordering::Relaxed) < phase.servers {
        fiber::sleep(std::time::Duration::from_millis(1));
    }
    // Quiet phase: faults off, then every shared invariant is checked on a fresh connection.
    sim::set_quiet(true);
    fiber::sleep(std::time::Duration::from_millis(100));
    let mut counters = Counters::new(plan.counters);
    for r in &reports {
        failures.extend(r.failures.iter().cloned());
        counters.merge(&r.counters);
    }
    let mut verifier = client::Client::new(usize::MAX, plan, addr);
    failures.extend(check::quiet_phase(&mut verifier, plan, &counters));
    for k in 0..plan.registers {
        let mut history: Vec<linearize::Event> = reports
            .iter()
            .flat_map(|r| r.registers[k].iter().copied())
            .collect();
        match verifier.read_register(k) {
            Some(last) => history.push(last),
            None => failures.push(format!("r{k}: the quiet phase could not read it")),
        }
        if let linearize::Verdict::Violation(why) = linearize::check(&history) {
            failures.push(format!("r{k} is not linearizable: {why}"));
        }
    }
    if plan.blocking {
        let mut lrange = |key: &[u8]| match verifier.must(&[b"LRANGE", key, b"0", b"-1"]) {
            Some(resp::Reply::Array(Some(items))) => Ok(items
                .into_iter()
                .filter_map(|i| match i {
                    resp::Reply::Bulk(Some(v)) => Some(v),
                    _ => None,
                })
                .collect::<Vec<Vec<u8>>>()),
            Some(r) => Err(Some(format!(
                "LRANGE of the shared list {}: {r}",
                String::from_utf8_lossy(key)
            ))),
            None => Err(None),
        };
        let lists = [client::QUEUE_KEY, client::MOVE_FROM, client::MOVE_TO].map(&mut lrange);
        let logs: Vec<&client::QueueLog> = reports.iter().map(|r| &r.queue).collect();
        match lists {
            [Ok(left), Ok(from), Ok(to)] => {
                failures.extend(client::check_queue(&logs, &left));
                let moves: Vec<_> = logs.iter().map(|l| &l.moves).collect();
                failures.extend(client::check_moves(&moves, &from, &to));
            }
            lists => failures.extend(lists.into_iter().filter_map(|l| l.err().flatten())),
        }
    }
    // Seeds with snapshots: a BGSAVE starts, and a moment later the machine crashes.
    let mut restart = None;
    if plan.persist {
        let final_model = reports
            .first()
            .map(|r| r.final_model.clone())
            .unwrap_or_default();
        let saves = reports.first().map(|r| r.saves.clone()).unwrap_or_default();
        if let Some(r) = verifier.must(&[b"BGSAVE"]) {
            if r != resp::Reply::Simple("Background saving started".into()) {
                failures.push(format!("BGSAVE: {r}"));
            }
        }
        fiber::sleep(std::time::Duration::from_micros(sim::random_below(20_000)));
        let dir = snapshot_dir(plan.seed);
        damselfly_runtime::sim::fs::crash(&dir);
        restart = Some(persist::candidates(&saves, final_model));
    }
    // Liveness: with every command answered, no shard keeps a queued transaction or a lock.
    for (shard, (queued, locks)) in damselfly::shard_leftovers().into_iter().enumerate() {
        if queued > 0 || locks > 0 {
            failures.push(format!(
                "shard {shard} at rest still has {queued} queued transactions and {locks} \
                 intent locks"
            ));
        }
    }
    stop_watch.store(true, Ordering::Relaxed);
    let mut watched = 0;
    if let Some(w) = watcher {
        match w.join() {
            Ok(w) => {
                failures.extend(w.failures);
                watched = w.hash;
            }
            Err(e) => failures.push(format!("monitor: {e}")),
        }
    }
    reports.push(verifier.into_report());
    let mut trace = check::fold(sim::trace_hash(), watched);
    let mut events = Vec::new();
    let mut ops = 0;
    for r in &reports {
        trace = check::fold(trace, r.hash);
        ops += r.ops;
        events.extend(r.tail.iter().cloned());
    }
    events.sort();
    let skip = events.len().saturating_sub(tail);
    Outcome {
        plan: plan.clone(),
        failures,
        trace,
        ops,
        virtual_ms: (clock::now() - t0).as_millis() as u64,
        tail: events.into_iter().skip(skip).map(|(_, s)| s).collect(),
        restart,
    }
}
