//! Server commands: INFO CONFIG COMMAND TIME DEBUG MEMORY SHUTDOWN.
//!
//! INFO sums per-proactor counters ([`ProactorState::current`]`().stats`) and every shard's
//! figures in one lock-free hop to all shards; COMMAND is generated from the registry. Figures
//! that no command keeps yet (peak memory, instantaneous rates, RESETSTAT baselines) live in a
//! small per-server [`Extras`] record, sampled every 100 ms once INFO was first asked for.
//!
//! Families that look keys up call [`record_keyspace_lookup`] so INFO's keyspace_hits and
//! keyspace_misses move.

use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::config::{self, Param};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult, OpResult};
use crate::families::keyspace_family;
use crate::registry::{flags::*, CommandSpec, Registry};
use crate::server::{ProactorState, ProactorStats, ServerState};
use crate::shard::{key_hash, shard_of, Shard};
use crate::tx::{self, locks::LockMode};
use damselfly_protocol::ReplyWriter;
use damselfly_runtime::clock;
use damselfly_runtime::sync::Mutex;
use damselfly_shards::{CompactValue, DbStats};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Counts one key lookup of a read for INFO's keyspace_hits/keyspace_misses. Call it on the
/// proactor that did the lookup (inside an `op_*` function is fine), once per looked-up key.
pub fn record_keyspace_lookup(hit: bool) {
    if let Some(ps) = damselfly_runtime::local::<ProactorState>() {
        let c = if hit {
            &ps.stats.keyspace_hits
        } else {
            &ps.stats.keyspace_misses
        };
        ProactorStats::bump(c, 1);
    }
}

// ---- per-server extras -----------------------------------------------------------------

/// Figures INFO needs that `ServerState` does not hold: one record per running server.
#[derive(Default)]
struct Extras {
    peak_memory: AtomicU64,
    /// expired_keys at the last CONFIG RESETSTAT (the shards' counters are not reset).
    expired_baseline: AtomicU64,
    /// Writes counted before the last RESETSTAT zeroed the per-command counters.
    dirty_carry: AtomicU64,
    sampler_started: AtomicBool,
    inst_ops: AtomicU64,
    /// Instantaneous kbps × 100 (two decimals in INFO).
    inst_in_kbps_x100: AtomicU64,
    inst_out_kbps_x100: AtomicU64,
}

type ExtrasTable = Mutex<Vec<(usize, String, Arc<Extras>)>>;

/// The extras of `server`, keyed by its address and run id (several servers can share a
/// process; a later server reusing a freed address has another run id).
fn extras(server: &ServerState) -> Arc<Extras> {
    static TABLE: OnceLock<ExtrasTable> = OnceLock::new();
    let table = TABLE.get_or_init(|| Mutex::new(Vec::new()));
    let addr = server as *const ServerState as usize;
    let mut t = table.lock();
    if let Some((_, _, e)) = t
        .iter()
        .find(|(a, id, _)| *a == addr && *id == server.run_id)
    {
        return e.clone();
    }
    let e = Arc::new(Extras::default());
    t.push((addr, server.run_id.clone(), e.clone()));
    e
}

/// Samples the counters every 100 ms on the current proactor (Redis keeps 16 samples).
fn start_sampler(ex: &Arc<Extras>) {
    if ex.sampler_started.swap(true, Ordering::AcqRel) {
        return;
    }
    let ex = ex.clone();
    let mut ring: VecDeque<(u64, [u64; 3])> = VecDeque::with_capacity(SAMPLES_MAX);
    damselfly_runtime::fiber::every("info-sampler", Duration::from_millis(100), move || {
        let per = tx::on_all_shards(&|shard| {
            let st = &ProactorState::current().stats;
            (
                [
                    st.commands.get(),
                    st.net_input_bytes.get(),
                    st.net_output_bytes.get(),
                ],
                shard_memory(shard).total(),
            )
        });
        let mut now = [0u64; 3];
        let mut used = 0;
        for (c, m) in per {
            for (n, x) in now.iter_mut().zip(c) {
                *n += x;
            }
            used += m;
        }
        ex.peak_memory
            .fetch_max(used_memory(used) as u64, Ordering::Relaxed);
        let ms = clock::wall_now_ms();
        // Counters only fall on RESETSTAT: start the window over.
        if ring
            .back()
            .is_some_and(|(_, last)| last.iter().zip(&now).any(|(l, n)| n < l))
        {
            ring.clear();
        }
        if ring.len() == SAMPLES_MAX {
            ring.pop_front();
        }
        ring.push_back((ms, now));
        if let (Some((t0, first)), Some((t1, last))) = (ring.front(), ring.back()) {
            let dt_ms = t1.saturating_sub(*t0).max(1);
            let rate = |i: usize| (last[i] - first[i]) * 1000 / dt_ms;
            ex.inst_ops.store(rate(0), Ordering::Relaxed);
            ex.inst_in_kbps_x100
                .store(rate(1) * 100 / 1024, Ordering::Relaxed);
            ex.inst_out_kbps_x100
                .store(rate(2) * 100 / 1024, Ordering::Relaxed);
        }
        true
    });
}

const SAMPLES_MAX: usize = 16;

// ---- figures gathered from every shard ---------------------------------------------------

/// What one connection costs besides its query buffer: the read and write buffers the
/// connection fiber starts with (16 KiB each, conn.rs).
const CONN_BUFFER_BYTES: usize = 32 * 1024;

#[derive(Clone, Copy, Default)]
struct ShardMemory {
    /// Keys' and values' heap bytes.
    dataset: usize,
    /// Everything else the DbSlice holds (tables, directories).
    tables: usize,
    conns: usize,
    /// Lua heaps of the proactor's idle interpreters.
    lua: usize,
}

impl ShardMemory {
    fn total(&self) -> usize {
        self.dataset + self.tables + self.conns
    }
}

/// `used_memory`: what the allocator holds for live allocations when the binary counts them
/// (alloc_count.rs), else `accounted` (the shards' and connections' own accounting).
pub(crate) fn used_memory(accounted: usize) -> usize {
    crate::alloc_count::allocated_bytes().unwrap_or(accounted)
}

/// Memory of the shard (and the connections) of the current proactor.
fn shard_memory(shard: &Shard) -> ShardMemory {
    let db = shard.db.borrow();
    let dataset: usize = (0..db.db_count()).map(|d| db.stats(d).heap_bytes).sum();
    let used = db.bytes_used();
    drop(db);
    let conns: usize = ProactorState::current()
        .conns
        .borrow()
        .values()
        .map(|(_, info)| CONN_BUFFER_BYTES + info.qbuf.get())
        .sum();
    ShardMemory {
        dataset,
        tables: used.saturating_sub(dataset),
        conns,
        lua: crate::scripting::local_lua_memory(),
    }
}

#[derive(Default)]
struct Figures {
    commands: u64,
    hits: u64,
    misses: u64,
    net_in: u64,
    net_out: u64,
    per_command: Vec<(u64, u64, u64)>,
    rejected: Vec<u64>,
    errors: std::collections::BTreeMap<String, u64>,
    error_replies: u64,
    /// (db, keys, expires) of databases with keys.
    dbs: Vec<(usize, usize, usize)>,
    expired: u64,
    memory: ShardMemory,
    conns: usize,
    qbuf_max: usize,
    /// Lazy freeing: objects queued, and freed since the last RESETSTAT.
    lazyfree: (u64, u64),
}

/// Sums every shard's figures (one lock-free hop, as Redis's INFO reads without isolation).
fn gather() -> Figures {
    let per = tx::on_all_shards(&|shard| {
        let ps = ProactorState::current();
        let st = &ps.stats;
        let db = shard.db.borrow();
        let stats: Vec<DbStats> = (0..db.db_count()).map(|d| db.stats(d)).collect();
        let lazyfree = (db.lazyfree_pending_objects(), db.lazyfreed_objects());
        drop(db);
        let conns = ps.conns.borrow();
        let qbuf_max = conns.values().map(|(_, i)| i.qbuf.get()).max().unwrap_or(0);
        let n_conns = conns.len();
        drop(conns);
        Figures {
            commands: st.commands.get(),
            hits: st.keyspace_hits.get(),
            misses: st.keyspace_misses.get(),
            net_in: st.net_input_bytes.get(),
            net_out: st.net_output_bytes.get(),
            per_command: st.per_command.borrow().clone(),
            rejected: st.rejected.borrow().clone(),
            errors: st
                .errors
                .borrow()
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            error_replies: st.error_replies.get(),
            dbs: stats
                .iter()
                .enumerate()
                .filter(|(_, s)| s.keys > 0 || s.expires > 0)
                .map(|(d, s)| (d, s.keys, s.expires))
                .collect(),
            expired: stats.iter().map(|s| s.expired_keys).sum(),
            memory: shard_memory(shard),
            conns: n_conns,
            qbuf_max,
            lazyfree,
        }
    });
    let mut all = Figures {
        per_command: vec![(0, 0, 0); Registry::get().len()],
        rejected: vec![0; Registry::get().len()],
        ..Figures::default()
    };
    for f in per {
        all.commands += f.commands;
        all.hits += f.hits;
        all.misses += f.misses;
        all.net_in += f.net_in;
        all.net_out += f.net_out;
        for (a, b) in all.per_command.iter_mut().zip(&f.per_command) {
            a.0 += b.0;
            a.1 += b.1;
            a.2 += b.2;
        }
        for (a, b) in all.rejected.iter_mut().zip(&f.rejected) {
            *a += b;
        }
        for (code, n) in &f.errors {
            *all.errors.entry(code.clone()).or_default() += n;
        }
        all.error_replies += f.error_replies;
        for (d, k, e) in f.dbs {
            match all.dbs.iter_mut().find(|x| x.0 == d) {
                Some(x) => {
                    x.1 += k;
                    x.2 += e;
                }
                None => all.dbs.push((d, k, e)),
            }
        }
        all.expired += f.expired;
        all.memory.dataset += f.memory.dataset;
        all.memory.tables += f.memory.tables;
        all.memory.conns += f.memory.conns;
        all.memory.lua += f.memory.lua;
        all.conns += f.conns;
        all.qbuf_max = all.qbuf_max.max(f.qbuf_max);
        all.lazyfree.0 += f.lazyfree.0;
        all.lazyfree.1 += f.lazyfree.1;
    }
    all.dbs.sort_unstable();
    all
}

/// The server's memory as INFO reports it, for MEMORY STATS and DOCTOR.
pub(crate) struct MemorySummary {
    pub used: u64,
    pub peak: u64,
    pub dataset: u64,
    pub clients: u64,
}

pub(crate) fn memory_summary(server: &ServerState) -> MemorySummary {
    let f = gather();
    let used = used_memory(f.memory.total()) as u64;
    let peak = extras(server)
        .peak_memory
        .fetch_max(used, Ordering::Relaxed)
        .max(used);
    MemorySummary {
        used,
        peak,
        dataset: f.memory.dataset as u64,
        clients: f.memory.conns as u64,
    }
}

/// Writes executed since start (Redis's dirty counter, approximated per command call).
fn writes_done(per_command: &[(u64, u64, u64)]) -> u64 {
    Registry::get()
        .commands()
        .iter()
        .zip(per_command)
        .filter(|(spec, _)| spec.has(WRITE))
        .map(|(_, (calls, _, failed))| calls.saturating_sub(*failed))
        .sum()
}

/// Write commands run on this proactor since start (its part of the dirty counter).
pub fn local_writes() -> u64 {
    ProactorState::current()
        .stats
        .per_command
        .borrow()
        .iter()
        .zip(Registry::get().commands())
        .filter(|(_, spec)| spec.has(WRITE))
        .map(|((calls, _, failed), _)| calls.saturating_sub(*failed))
        .sum()
}

/// Writes counted before the last CONFIG RESETSTAT (the rest of the dirty counter).
pub fn dirty_carry(server: &ServerState) -> u64 {
    extras(server).dirty_carry.load(Ordering::Relaxed)
}

// ---- INFO ------------------------------------------------------------------------------

/// Sections in Redis's order; `true` for those INFO prints without arguments.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("latencystats", false),
    ("cluster", true),
    ("keyspace", true),
];

/// Redis's bytesToHuman.
pub(crate) fn human(n: u64) -> String {
    let f = n as f64;
    const K: f64 = 1024.0;
    if n < 1024 {
        format!("{n}B")
    } else if f < K * K {
        format!("{:.2}K", f / K)
    } else if f < K * K * K {
        format!("{:.2}M", f / (K * K))
    } else if f < K * K * K * K {
        format!("{:.2}G", f / (K * K * K))
    } else if f < K * K * K * K * K {
        format!("{:.2}T", f / (K * K * K * K))
    } else {
        format!("{:.2}P", f / (K * K * K * K * K))
    }
}

/// Resident set size from /proc/self/statm (0 where it cannot be read).
pub(crate) fn rss_bytes() -> u64 {
    let Ok(f) = damselfly_runtime::fs::File::open("/proc/self/statm") else {
        return 0;
    };
    let mut buf = [0u8; 256];
    let n = f.read_at(&mut buf, 0).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    let pages: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * page_size()
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

pub(crate) fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    (pages.max(0) as u64) * page_size()
}

/// (user, system) CPU time of `who` as Redis prints them: seconds.microseconds.
fn cpu_times(who: libc::c_int) -> (String, String) {
    // SAFETY: an all-zero rusage is valid; getrusage writes it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    unsafe { libc::getrusage(who, &mut ru) };
    let t = |tv: libc::timeval| format!("{}.{:06}", tv.tv_sec, tv.tv_usec);
    (t(ru.ru_utime), t(ru.ru_stime))
}

fn os_name() -> String {
    // SAFETY: an all-zero utsname is valid; uname fills it with NUL-terminated strings.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    let field = |f: &[libc::c_char]| -> String {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {}",
        field(&u.sysname),
        field(&u.release),
        field(&u.machine)
    )
}

/// Which sections an INFO call prints, in Redis's order.
fn chosen_sections(args: &Args<'_>) -> Vec<&'static str> {
    if args.len() == 1 {
        return SECTIONS
            .iter()
            .filter(|(_, d)| *d)
            .map(|(n, _)| *n)
            .collect();
    }
    let mut want = vec![false; SECTIONS.len()];
    for a in args.rest(1) {
        for (i, (name, default)) in SECTIONS.iter().enumerate() {
            let hit = eq_ignore_case(a, name)
                || eq_ignore_case(a, "all")
                || eq_ignore_case(a, "everything")
                || (eq_ignore_case(a, "default") && *default);
            want[i] |= hit;
        }
    }
    SECTIONS
        .iter()
        .zip(want)
        .filter(|(_, w)| *w)
        .map(|((n, _), _)| *n)
        .collect()
}

/// The INFO text for `sections` ("# Title" headers, `\r\n` line ends, a blank line between).
fn info_text(server: &ServerState, sections: &[&str]) -> String {
    let ex = extras(server);
    start_sampler(&ex);
    let f = gather();
    let used = used_memory(f.memory.total()) as u64;
    let peak = ex.peak_memory.fetch_max(used, Ordering::Relaxed).max(used);
    let mut out = String::new();
    for (i, s) in sections.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let mut lines: Vec<String> = Vec::new();
        let title = match *s {
            "server" => {
                server_lines(server, &mut lines);
                "Server"
            }
            "clients" => {
                lines.push(format!(
                    "connected_clients:{}",
                    server.connected.load(Ordering::Relaxed)
                ));
                lines.push(format!(
                    "maxclients:{}",
                    server.config.get_int("maxclients")
                ));
                lines.push(format!("client_recent_max_input_buffer:{}", f.qbuf_max));
                lines.push(format!(
                    "blocked_clients:{}",
                    crate::blocking::blocked_count(server) + server.pause.waiting()
                ));
                lines.push(format!(
                    "tracking_clients:{}",
                    server.tracking.clients.load(Ordering::Relaxed)
                ));
                "Clients"
            }
            "memory" => {
                memory_lines(server, &f, used, peak, &mut lines);
                "Memory"
            }
            "persistence" => {
                persistence_lines(server, &ex, &f, &mut lines);
                "Persistence"
            }
            "stats" => {
                stats_lines(server, &ex, &f, &mut lines);
                "Stats"
            }
            "replication" => {
                lines.push("role:master".into());
                lines.push("connected_slaves:0".into());
                lines.push("master_failover_state:no-failover".into());
                lines.push(format!("master_replid:{}", repl_id(server)));
                lines.push(format!("master_replid2:{}", "0".repeat(40)));
                lines.push("master_repl_offset:0".into());
                lines.push("second_repl_offset:-1".into());
                lines.push("repl_backlog_active:0".into());
                lines.push("repl_backlog_size:1048576".into());
                lines.push("repl_backlog_first_byte_offset:0".into());
                lines.push("repl_backlog_histlen:0".into());
                "Replication"
            }
            "cpu" => {
                let (user, sys) = cpu_times(libc::RUSAGE_SELF);
                let (cuser, csys) = cpu_times(libc::RUSAGE_CHILDREN);
                lines.push(format!("used_cpu_sys:{sys}"));
                lines.push(format!("used_cpu_user:{user}"));
                lines.push(format!("used_cpu_sys_children:{csys}"));
                lines.push(format!("used_cpu_user_children:{cuser}"));
                "CPU"
            }
            "modules" => "Modules",
            "commandstats" => {
                for ((spec, (calls, nanos, failed)), rejected) in Registry::get()
                    .commands()
                    .iter()
                    .zip(&f.per_command)
                    .zip(&f.rejected)
                {
                    if *calls == 0 && *failed == 0 && *rejected == 0 {
                        continue;
                    }
                    let usec = nanos / 1000;
                    let per_call = if *calls > 0 {
                        *nanos as f64 / 1000.0 / *calls as f64
                    } else {
                        0.0
                    };
                    lines.push(format!(
                        "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}",
                        spec.name
                    ));
                }
                "Commandstats"
            }
            "errorstats" => {
                let mut codes: Vec<_> = f.errors.iter().collect();
                codes.sort();
                for (code, n) in codes {
                    lines.push(format!("errorstat_{code}:count={n}"));
                }
                "Errorstats"
            }
            "latencystats" => {
                lines.extend(crate::metrics::latencystats::lines(server));
                "Latencystats"
            }
            "cluster" => {
                lines.push("cluster_enabled:0".into());
                "Cluster"
            }
            _ => {
                for (d, keys, expires) in &f.dbs {
                    lines.push(format!("db{d}:keys={keys},expires={expires},avg_ttl=0"));
                }
                "Keyspace"
            }
        };
        let _ = write!(out, "# {title}\r\n");
        for l in lines {
            out.push_str(&l);
            out.push_str("\r\n");
        }
    }
    out
}

fn repl_id(server: &ServerState) -> String {
    let seed = (server.start_wall_ms as u128) ^ 0x5bd1_e995_dead_beef;
    format!(
        "{:040x}",
        seed.wrapping_mul(0xff51_afd7_ed55_8ccd_c4ce_b9fe_1a85_ec53)
    )
}

fn server_lines(server: &ServerState, lines: &mut Vec<String>) {
    let uptime = server.uptime().as_secs();
    let now_us = clock::wall_now_us();
    let port = server
        .addr
        .get()
        .map(|a| a.port() as i64)
        .unwrap_or_else(|| server.config.get_int("port"));
    let hz = server.config.get_int("hz");
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    lines.extend([
        format!("redis_version:{}", crate::REDIS_VERSION),
        format!("damselfly_version:{}", crate::VERSION),
        "redis_git_sha1:00000000".into(),
        "redis_git_dirty:0".into(),
        "redis_mode:standalone".into(),
        format!("os:{}", os_name()),
        format!("arch_bits:{}", usize::BITS),
        format!("multiplexing_api:{}", server.backend),
        format!("thread_count:{}", server.shards),
        format!("process_id:{}", std::process::id()),
        "process_supervised:no".into(),
        format!("run_id:{}", server.run_id),
        format!("tcp_port:{port}"),
        format!("server_time_usec:{now_us}"),
        format!("uptime_in_seconds:{uptime}"),
        format!("uptime_in_days:{}", uptime / 86400),
        format!("hz:{hz}"),
        format!("configured_hz:{hz}"),
        format!("lru_clock:{}", lru_clock()),
        format!("executable:{exe}"),
        "config_file:".into(),
    ]);
}

/// Redis's LRU clock: seconds, 24 bits.
fn lru_clock() -> u64 {
    (clock::wall_now_ms() / 1000) & ((1 << 24) - 1)
}

fn memory_lines(server: &ServerState, f: &Figures, used: u64, peak: u64, lines: &mut Vec<String>) {
    let rss = rss_bytes();
    let maxmemory = server.config.get_int("maxmemory").max(0) as u64;
    let policy = server
        .config
        .get("maxmemory-policy")
        .unwrap_or_else(|| "noeviction".into());
    let dataset = f.memory.dataset as u64;
    let sys = total_system_memory();
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let ratio = if used == 0 {
        0.0
    } else {
        rss as f64 / used as f64
    };
    lines.extend([
        format!("used_memory:{used}"),
        format!("used_memory_human:{}", human(used)),
        format!("used_memory_rss:{rss}"),
        format!("used_memory_rss_human:{}", human(rss)),
        format!("used_memory_peak:{peak}"),
        format!("used_memory_peak_human:{}", human(peak)),
        format!("used_memory_peak_perc:{:.2}%", pct(used, peak)),
        format!("used_memory_overhead:{}", used.saturating_sub(dataset)),
        format!("used_memory_dataset:{dataset}"),
        format!("used_memory_dataset_perc:{:.2}%", pct(dataset, used)),
        format!("total_system_memory:{sys}"),
        format!("total_system_memory_human:{}", human(sys)),
        format!("maxmemory:{maxmemory}"),
        format!("maxmemory_human:{}", human(maxmemory)),
        format!("maxmemory_policy:{policy}"),
        format!("mem_fragmentation_ratio:{ratio:.2}"),
        format!("mem_clients_normal:{}", f.memory.conns),
        // Client buffers count toward maxmemory: nothing is left out of the eviction check.
        "mem_not_counted_for_evict:0".into(),
        format!("lazyfree_pending_objects:{}", f.lazyfree.0),
        format!("lazyfreed_objects:{}", f.lazyfree.1),
    ]);
    let lua = f.memory.lua as u64;
    let (scripts, script_bytes) = server.scripts.cache_stats();
    let (libs, funcs, lib_bytes) = server.scripts.read_libraries(|l| {
        (
            l.len(),
            l.iter().map(|x| x.def.functions.len()).sum::<usize>(),
            l.iter().map(|x| x.code.len()).sum::<usize>(),
        )
    });
    let (script_bytes, lib_bytes) = (script_bytes as u64, lib_bytes as u64);
    lines.extend([
        format!("used_memory_lua:{lua}"),
        format!("used_memory_vm_eval:{lua}"),
        format!("used_memory_lua_human:{}", human(lua)),
        format!("used_memory_scripts_eval:{script_bytes}"),
        format!("number_of_cached_scripts:{scripts}"),
        format!("number_of_functions:{funcs}"),
        format!("number_of_libraries:{libs}"),
        "used_memory_vm_functions:0".to_string(),
        format!("used_memory_vm_total:{lua}"),
        format!("used_memory_vm_total_human:{}", human(lua)),
        format!("used_memory_functions:{lib_bytes}"),
        format!("used_memory_scripts:{}", script_bytes + lib_bytes),
        format!(
            "used_memory_scripts_human:{}",
            human(script_bytes + lib_bytes)
        ),
    ]);
}

fn persistence_lines(server: &ServerState, ex: &Extras, f: &Figures, lines: &mut Vec<String>) {
    let dirty = writes_done(&f.per_command) + ex.dirty_carry.load(Ordering::Relaxed);
    let p = &server.persistence;
    // No fork: copy-on-write figures are zero by construction.
    lines.extend([
        format!("loading:{}", u8::from(p.loading.load(Ordering::Relaxed))),
        "async_loading:0".into(),
        "current_cow_peak:0".into(),
        "current_cow_size:0".into(),
        "current_cow_size_age:0".into(),
        "current_fork_perc:0.00".into(),
    ]);
    p.info_lines(dirty, lines);
    lines.extend([
        "aof_enabled:0".into(),
        "aof_rewrite_in_progress:0".into(),
        "aof_rewrite_scheduled:0".into(),
        "aof_last_rewrite_time_sec:-1".into(),
        "aof_current_rewrite_time_sec:-1".into(),
        "aof_last_bgrewrite_status:ok".into(),
        "aof_rewrites:0".into(),
        "aof_last_write_status:ok".into(),
    ]);
}

fn stats_lines(server: &ServerState, ex: &Extras, f: &Figures, lines: &mut Vec<String>) {
    let t = &server.tracking;
    let kbps = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64 / 100.0;
    let errors = f.error_replies;
    let expired = f
        .expired
        .saturating_sub(ex.expired_baseline.load(Ordering::Relaxed));
    lines.extend([
        format!(
            "total_connections_received:{}",
            server.total_connections.load(Ordering::Relaxed)
        ),
        format!("total_commands_processed:{}", f.commands),
        format!(
            "instantaneous_ops_per_sec:{}",
            ex.inst_ops.load(Ordering::Relaxed)
        ),
        format!("total_net_input_bytes:{}", f.net_in),
        format!("total_net_output_bytes:{}", f.net_out),
        format!(
            "instantaneous_input_kbps:{:.2}",
            kbps(&ex.inst_in_kbps_x100)
        ),
        format!(
            "instantaneous_output_kbps:{:.2}",
            kbps(&ex.inst_out_kbps_x100)
        ),
        format!(
            "rejected_connections:{}",
            server.rejected_connections.load(Ordering::Relaxed)
        ),
        "sync_full:0".into(),
        "sync_partial_ok:0".into(),
        "sync_partial_err:0".into(),
        format!("expired_keys:{expired}"),
        format!("evicted_keys:{}", server.eviction.evicted_keys()),
        format!("keyspace_hits:{}", f.hits),
        format!("keyspace_misses:{}", f.misses),
        "latest_fork_usec:0".into(),
        "total_forks:0".into(),
        // No MIGRATE connections are ever cached (MIGRATE is not served).
        "migrate_cached_sockets:0".into(),
        format!("total_error_replies:{errors}"),
        format!("tracking_total_keys:{}", t.keys.load(Ordering::Relaxed)),
        format!("tracking_total_items:{}", t.items.load(Ordering::Relaxed)),
        format!("tracking_total_prefixes:{}", t.prefix_count()),
        format!("tx_multi_shard_scheduled:{}", crate::tx::stats::scheduled()),
        format!("tx_schedule_attempts:{}", crate::tx::stats::attempts()),
        format!(
            "tx_schedule_attempts_max:{}",
            crate::tx::stats::attempts_max()
        ),
        format!("tx_scheduled_alone:{}", crate::tx::stats::scheduled_alone()),
    ]);
}

fn cmd_info(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let sections = chosen_sections(args);
    let text = if sections.is_empty() {
        String::new()
    } else {
        info_text(ctx.server, &sections)
    };
    ctx.reply().verbatim(b"txt", text.as_bytes());
    Ok(())
}

// ---- CONFIG ----------------------------------------------------------------------------

/// Redis's subcommand arity check: N exactly, or -N at least N arguments.
pub(crate) fn sub_arity(args: &Args<'_>, arity: i32, full_name: &str) -> CmdResult {
    let n = args.len() as i32;
    let ok = if arity >= 0 { n == arity } else { n >= -arity };
    if ok {
        Ok(())
    } else {
        Err(CmdError::WrongArity(full_name.into()))
    }
}

pub(crate) fn unknown_sub(cmd: &str, args: &Args<'_>) -> CmdError {
    CmdError::unknown_subcommand(cmd, args.get(1))
}

pub(crate) fn help_reply(ctx: &mut CmdCtx<'_>, cmd: &str, lines: &[&str]) {
    let mut r = ctx.reply();
    r.array_header(lines.len() + 3);
    r.simple(format!("{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").as_bytes());
    for l in lines {
        r.simple(l.as_bytes());
    }
    r.simple(b"HELP");
    r.simple(b"    Prints this help.");
}

fn has_glob(p: &[u8]) -> bool {
    p.iter().any(|c| matches!(c, b'*' | b'?' | b'['))
}

fn config_get(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    sub_arity(args, -3, "config|get")?;
    let cfg = &ctx.server.config;
    // (name shown, key for duplicates, value): a name and its alias are listed apart, like
    // Redis; the same name twice (in any case) once.
    let mut found: Vec<(String, String, String)> = Vec::new();
    let mut add = |shown: String, value: String| {
        let key = config::canonical(&shown);
        if !found.iter().any(|(_, k, _)| *k == key) {
            found.push((shown, key, value));
        }
    };
    for pat in args.rest(2) {
        if !has_glob(pat) {
            let name = String::from_utf8_lossy(pat).into_owned();
            if let Some(p) = config::find(&name) {
                let v = cfg.get_shown(p.name).unwrap_or_default();
                add(name, v);
            }
            continue;
        }
        for (name, value) in cfg.matching(pat) {
            add(name.to_string(), value);
        }
    }
    let mut r = ctx.reply();
    r.map_header(found.len());
    for (name, _, value) in found {
        r.bulk(name.as_bytes());
        r.bulk(value.as_bytes());
    }
    Ok(())
}

fn config_set(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    if args.len() < 4 || !args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity("config|set".into()));
    }
    let failed = |name: &str, reason: &str| {
        CmdError::raw(format!(
            "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
        ))
    };
    // Check every pair first (Redis reports the first unknown name before anything else),
    // then validate all values, then apply: the set is all or nothing.
    let mut chosen: Vec<(&'static Param, String)> = Vec::new();
    let mut unknown: Option<String> = None;
    let mut refused: Option<CmdError> = None;
    for i in (2..args.len()).step_by(2) {
        let name = String::from_utf8_lossy(args.get(i)).into_owned();
        let value = String::from_utf8_lossy(args.get(i + 1)).into_owned();
        let Some(p) = config::find(&name) else {
            if unknown.is_none() && refused.is_none() {
                unknown = Some(name);
            }
            continue;
        };
        if unknown.is_some() || refused.is_some() {
            continue;
        }
        if !p.mutable && !config::same_value_accepted(p, &value, &ctx.server.config) {
            refused = Some(failed(&name, "can't set immutable config"));
        } else if chosen.iter().any(|(q, _)| std::ptr::eq(*q, p)) {
            refused = Some(failed(&name, "duplicate parameter"));
        } else {
            chosen.push((p, value));
        }
    }
    if let Some(name) = unknown {
        return Err(CmdError::raw(format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
        )));
    }
    if let Some(e) = refused {
        return Err(e);
    }
    let mut values = Vec::with_capacity(chosen.len());
    for (p, v) in &chosen {
        let current = ctx.server.config.get(p.name).unwrap_or_default();
        values.push(config::validate(p, v, &current).map_err(|reason| failed(p.name, &reason))?);
    }
    // The listener moves first: when it cannot, nothing changes (Redis restores the rest).
    let named = |name: &'static str| {
        chosen
            .iter()
            .zip(&values)
            .find(|((p, _), _)| p.name == name)
    };
    let value = |name: &'static str| named(name).map(|(_, v)| v.as_str());
    // New TLS settings are built (and checked) before anything changes; new connections of
    // both listeners shake hands with them, those already up keep their session.
    let tls_param = chosen
        .iter()
        .find(|(p, _)| crate::tls::config::PARAMS.contains(&p.name));
    let old_tls = ctx.server.listeners.tls_config();
    if let Some((p, _)) = tls_param {
        let get = |name: &str| match chosen
            .iter()
            .zip(&values)
            .find(|((p, _), _)| p.name == name)
        {
            Some((_, v)) => v.clone(),
            None => ctx.server.config.get(name).unwrap_or_default(),
        };
        let tls = crate::tls::config::with_values(&get).map_err(|e| {
            log::warn!("Failed to configure TLS: {e}");
            failed(
                p.name,
                "Unable to update TLS configuration. Check server logs.",
            )
        })?;
        ctx.server.listeners.set_tls_config(tls);
    }
    if ["port", "bind", "tls-port"]
        .iter()
        .any(|n| named(n).is_some())
    {
        let change = crate::listener::Change {
            port: value("port"),
            bind: value("bind"),
            tls_port: value("tls-port"),
        };
        if let Err((param, reason)) = crate::listener::change(ctx.server, &change) {
            ctx.server.listeners.set_tls_config(old_tls);
            return Err(failed(param, reason));
        }
    }
    let lazyfree = chosen
        .iter()
        .any(|(p, _)| crate::lazyfree::is_param(p.name));
    for ((p, _), v) in chosen.iter().zip(values) {
        if !p.mutable {
            // Accepted only with the value in force: nothing to change.
            continue;
        }
        ctx.server
            .config
            .set(p.name, &v, false)
            .map_err(|reason| failed(p.name, &reason))?;
        if p.name == "requirepass" {
            let all = ctx.server.config.get("acl-pubsub-default").as_deref() == Some("allchannels");
            ctx.server.acl.set_default_password(&v, all);
        }
    }
    if lazyfree {
        crate::lazyfree::config_changed(ctx.server, &mut ctx.exec);
    }
    ctx.reply().ok();
    Ok(())
}

/// CONFIG RESETSTAT: zero the per-proactor counters and the server's connection counters.
fn reset_stats(server: &ServerState) {
    let ex = extras(server);
    let per = tx::on_all_shards(&|shard| {
        let st = &ProactorState::current().stats;
        let writes = writes_done(&st.per_command.borrow());
        st.commands.set(0);
        st.keyspace_hits.set(0);
        st.keyspace_misses.set(0);
        st.net_input_bytes.set(0);
        st.net_output_bytes.set(0);
        for c in st.per_command.borrow_mut().iter_mut() {
            *c = (0, 0, 0);
        }
        for r in st.rejected.borrow_mut().iter_mut() {
            *r = 0;
        }
        st.errors.borrow_mut().clear();
        st.error_replies.set(0);
        crate::latency::reset_local_histograms();
        shard.db.borrow_mut().reset_lazyfree_stats();
        let db = shard.db.borrow();
        let expired: u64 = (0..db.db_count()).map(|d| db.stats(d).expired_keys).sum();
        (writes, expired, shard_memory(shard).total())
    });
    let (writes, expired, used) = per
        .iter()
        .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    ex.dirty_carry.fetch_add(writes, Ordering::Relaxed);
    ex.expired_baseline.store(expired, Ordering::Relaxed);
    ex.peak_memory
        .store(used_memory(used) as u64, Ordering::Relaxed);
    server.total_connections.store(0, Ordering::Relaxed);
    server.rejected_connections.store(0, Ordering::Relaxed);
}

fn cmd_config(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let sub = args.get(1);
    if eq_ignore_case(sub, "get") {
        config_get(ctx, args)
    } else if eq_ignore_case(sub, "set") {
        config_set(ctx, args)
    } else if eq_ignore_case(sub, "rewrite") {
        sub_arity(args, 2, "config|rewrite")?;
        crate::config_rewrite::rewrite(ctx.server).map_err(CmdError::raw)?;
        ctx.reply().ok();
        Ok(())
    } else if eq_ignore_case(sub, "resetstat") {
        sub_arity(args, 2, "config|resetstat")?;
        reset_stats(ctx.server);
        ctx.reply().ok();
        Ok(())
    } else if eq_ignore_case(sub, "help") {
        sub_arity(args, 2, "config|help")?;
        help_reply(
            ctx,
            "CONFIG",
            &[
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "REWRITE",
                "    Rewrite the configuration file.",
            ],
        );
        Ok(())
    } else {
        Err(unknown_sub("config", args))
    }
}

// ---- COMMAND ---------------------------------------------------------------------------

// Redis's ACL categories, in the order COMMAND INFO prints them.
use crate::acl::table::CATEGORIES as ACL_ORDER;

/// A command's ACL categories: the declared ones plus those Redis implies from its flags
/// (write, read, admin + dangerous, pubsub, fast, blocking, and slow when not fast), with
/// the leading `@`, in Redis's order.
pub fn acl_categories(spec: &CommandSpec) -> Vec<String> {
    let mut cats: Vec<String> = spec
        .acl
        .iter()
        .map(|c| c.trim_start_matches('@').to_ascii_lowercase())
        .collect();
    let mut add = |c: &str| {
        if !cats.iter().any(|x| x == c) {
            cats.push(c.to_string());
        }
    };
    if spec.has(WRITE) {
        add("write");
    }
    if spec.has(READONLY)
        && !spec
            .acl
            .iter()
            .any(|c| c.eq_ignore_ascii_case("@scripting"))
    {
        add("read");
    }
    if spec.has(ADMIN) {
        add("admin");
        add("dangerous");
    }
    if spec.has(PUBSUB) {
        add("pubsub");
    }
    if spec.has(FAST) {
        add("fast");
    }
    if spec.has(BLOCKING) {
        add("blocking");
    }
    if !cats.iter().any(|c| c == "fast" || c == "slow") {
        cats.push("slow".into());
    }
    let rank = |c: &String| {
        ACL_ORDER
            .iter()
            .position(|o| o == c)
            .unwrap_or(ACL_ORDER.len())
    };
    cats.sort_by_key(rank); // stable: unknown categories keep their declared order
    cats.into_iter().map(|c| format!("@{c}")).collect()
}

/// Key-spec flags derived from the command flags (Redis declares them per key).
fn key_spec_flags(spec: &CommandSpec) -> &'static [&'static str] {
    if spec.has(WRITE) {
        &["RW", "access", "update"]
    } else {
        &["RO", "access"]
    }
}

fn write_key_specs(r: &mut ReplyWriter<'_>, spec: &CommandSpec) {
    if spec.first_key <= 0 {
        r.set_header(0);
        return;
    }
    let lastkey = if spec.last_key < 0 {
        spec.last_key
    } else {
        spec.last_key - spec.first_key
    };
    r.set_header(1);
    r.map_header(3);
    r.bulk(b"flags");
    let flags = key_spec_flags(spec);
    r.set_header(flags.len());
    for f in flags {
        r.simple(f.as_bytes());
    }
    r.bulk(b"begin_search");
    r.map_header(2);
    r.bulk(b"type");
    r.bulk(b"index");
    r.bulk(b"spec");
    r.map_header(1);
    r.bulk(b"index");
    r.integer(spec.first_key as i64);
    r.bulk(b"find_keys");
    r.map_header(2);
    r.bulk(b"type");
    r.bulk(b"range");
    r.bulk(b"spec");
    r.map_header(3);
    r.bulk(b"lastkey");
    r.integer(lastkey as i64);
    r.bulk(b"keystep");
    r.integer(spec.step.max(1) as i64);
    r.bulk(b"limit");
    r.integer(0);
}

/// One COMMAND INFO entry: name, arity, flags, first, last, step, ACL categories, tips, key
/// specs, subcommands.
fn write_command_info(r: &mut ReplyWriter<'_>, spec: &CommandSpec) {
    r.array_header(10);
    r.bulk(spec.name.as_bytes());
    r.integer(spec.arity as i64);
    let flags = spec.flag_names();
    r.set_header(flags.len());
    for f in flags {
        r.simple(f.as_bytes());
    }
    r.integer(spec.first_key as i64);
    r.integer(spec.last_key as i64);
    r.integer(spec.step as i64);
    let cats = acl_categories(spec);
    r.set_header(cats.len());
    for c in cats {
        r.simple(c.as_bytes());
    }
    r.set_header(0);
    write_key_specs(r, spec);
    r.array_header(spec.subcommands.len());
    for sub in &spec.subcommands {
        write_command_info(r, sub);
    }
}

fn write_command_docs(r: &mut ReplyWriter<'_>, spec: &CommandSpec) {
    r.bulk(spec.name.as_bytes());
    r.map_header(if spec.subcommands.is_empty() { 3 } else { 4 });
    r.bulk(b"summary");
    r.bulk(spec.summary.as_bytes());
    r.bulk(b"since");
    r.bulk(spec.since.as_bytes());
    r.bulk(b"group");
    r.bulk(spec.group.as_bytes());
    if !spec.subcommands.is_empty() {
        r.bulk(b"subcommands");
        r.map_header(spec.subcommands.len());
        for sub in &spec.subcommands {
            write_command_docs(r, sub);
        }
    }
}

/// Every command followed by its subcommands, as COMMAND LIST names them.
fn commands_and_subcommands(reg: &Registry) -> impl Iterator<Item = &CommandSpec> {
    reg.commands()
        .iter()
        .flat_map(|c| std::iter::once(c).chain(&c.subcommands))
}

fn command_list(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let reg = Registry::get();
    let names: Vec<&str> = match args.len() {
        2 => commands_and_subcommands(reg).map(|c| c.name).collect(),
        5 if eq_ignore_case(args.get(2), "filterby") => {
            let (kind, arg) = (args.get(3), args.get(4));
            if eq_ignore_case(kind, "module") {
                Vec::new()
            } else if eq_ignore_case(kind, "aclcat") {
                let cat = String::from_utf8_lossy(arg).to_ascii_lowercase();
                if ACL_ORDER.contains(&cat.as_str()) {
                    let want = format!("@{cat}");
                    commands_and_subcommands(reg)
                        .filter(|c| acl_categories(c).contains(&want))
                        .map(|c| c.name)
                        .collect()
                } else {
                    Vec::new()
                }
            } else if eq_ignore_case(kind, "pattern") {
                commands_and_subcommands(reg)
                    .filter(|c| damselfly_shards::glob_match(arg, c.name.as_bytes(), true))
                    .map(|c| c.name)
                    .collect()
            } else {
                return Err(CmdError::Syntax);
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let mut r = ctx.reply();
    r.array_header(names.len());
    for n in names {
        r.bulk(n.as_bytes());
    }
    Ok(())
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS: the key arguments of `args[2..]`.
fn command_getkeys(ctx: &mut CmdCtx<'_>, args: &Args<'_>, with_flags: bool) -> CmdResult {
    let full = if with_flags {
        "command|getkeysandflags"
    } else {
        "command|getkeys"
    };
    sub_arity(args, -4, full)?;
    let Some((_, mut spec)) = Registry::get().lookup(args.get(2)) else {
        return Err(CmdError::raw("ERR Invalid command specified"));
    };
    // A container's keys are its subcommand's (OBJECT ENCODING key).
    if let Some(sub) = (args.len() > 3)
        .then(|| spec.subcommand(args.get(3)))
        .flatten()
    {
        spec = sub;
    }
    let argc = args.len() - 2;
    let positions = spec.keys_with(argc, &|i| args.get(i + 2));
    // Commands whose keys follow a numkeys argument may name none (EVAL "..." 0).
    let movable = spec.movable_keys();
    if spec.first_key <= 0 && positions.is_empty() && !movable {
        return Err(CmdError::raw("ERR The command has no key arguments"));
    }
    if !spec.arity_ok(argc) {
        return Err(CmdError::raw(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    if positions.is_empty() && !movable {
        return Err(CmdError::raw("ERR Invalid arguments specified for command"));
    }
    let mut r = ctx.reply();
    r.array_header(positions.len());
    for p in positions {
        let key = args.get(p + 2);
        if with_flags {
            r.array_header(2);
            r.bulk(key);
            let argv = |i: usize| args.get(i + 2);
            let flags = crate::key_specs::key_flags(spec.name, &argv, argc, p)
                .unwrap_or_else(|| key_spec_flags(spec));
            r.set_header(flags.len());
            for f in flags {
                r.simple(f.as_bytes());
            }
        } else {
            r.bulk(key);
        }
    }
    Ok(())
}

fn cmd_command(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let reg = Registry::get();
    if args.len() == 1 {
        let mut r = ctx.reply();
        r.array_header(reg.len());
        for c in reg.commands() {
            write_command_info(&mut r, c);
        }
        return Ok(());
    }
    let sub = args.get(1);
    if eq_ignore_case(sub, "count") {
        sub_arity(args, 2, "command|count")?;
        ctx.reply().integer(reg.len() as i64);
    } else if eq_ignore_case(sub, "info") {
        let mut r = ctx.reply();
        if args.len() == 2 {
            r.array_header(reg.len());
            for c in reg.commands() {
                write_command_info(&mut r, c);
            }
        } else {
            r.array_header(args.len() - 2);
            for name in args.rest(2) {
                match reg.lookup_full(name) {
                    Some(c) => write_command_info(&mut r, c),
                    None => r.null(),
                }
            }
        }
    } else if eq_ignore_case(sub, "docs") {
        let specs: Vec<&CommandSpec> = if args.len() == 2 {
            reg.commands().iter().collect()
        } else {
            args.rest(2).filter_map(|n| reg.lookup_full(n)).collect()
        };
        let mut r = ctx.reply();
        r.map_header(specs.len());
        for c in specs {
            write_command_docs(&mut r, c);
        }
    } else if eq_ignore_case(sub, "list") {
        command_list(ctx, args)?;
    } else if eq_ignore_case(sub, "getkeys") {
        command_getkeys(ctx, args, false)?;
    } else if eq_ignore_case(sub, "getkeysandflags") {
        command_getkeys(ctx, args, true)?;
    } else if eq_ignore_case(sub, "help") {
        sub_arity(args, 2, "command|help")?;
        help_reply(
            ctx,
            "COMMAND",
            &[
                "(no subcommand)",
                "    Return details about all Redis commands.",
                "COUNT",
                "    Return the total number of commands in this Redis server.",
                "LIST",
                "    Return a list of all commands in this Redis server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "GETKEYS <full-command>",
                "    Return the keys from a full Redis command.",
                "GETKEYSANDFLAGS <full-command>",
                "    Return the keys and the access flags from a full Redis command.",
            ],
        );
    } else {
        return Err(unknown_sub("command", args));
    }
    Ok(())
}

// ---- TIME, LASTSAVE, SHUTDOWN --------------------------------------------------------------

fn cmd_time(ctx: &mut CmdCtx<'_>, _args: &Args<'_>) -> CmdResult {
    let us = clock::wall_now_us() as i64;
    let mut r = ctx.reply();
    r.array_header(2);
    r.bulk_integer(us / 1_000_000);
    r.bulk_integer(us % 1_000_000);
    Ok(())
}

fn cmd_shutdown(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (mut nosave, mut save, mut force, mut abort) = (false, false, false, false);
    for a in args.rest(1) {
        if eq_ignore_case(a, "nosave") {
            nosave = true;
        } else if eq_ignore_case(a, "save") {
            save = true;
        } else if eq_ignore_case(a, "now") {
            // Nothing to wait for: there are no replicas to catch up.
        } else if eq_ignore_case(a, "force") {
            force = true;
        } else if eq_ignore_case(a, "abort") {
            abort = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if (abort && args.len() > 2) || (nosave && save) {
        return Err(CmdError::Syntax);
    }
    if abort {
        // Shutdown never waits (no replicas), so there is never one to abort.
        return Err(CmdError::raw("ERR No shutdown in progress."));
    }
    // During a busy script only SHUTDOWN NOSAVE goes through, as in Redis.
    if !nosave {
        if let Some((eval, _)) = ctx.server.scripts.busy_info() {
            return Err(CmdError::raw(if eval {
                crate::scripting::BUSY_EVAL
            } else {
                crate::scripting::BUSY_FUNCTION
            }));
        }
    }
    let save_points = ctx.server.config.get("save").unwrap_or_default();
    if save || (!nosave && !save_points.trim().is_empty()) {
        log::info!("Saving the final RDB snapshot before exiting.");
        if let Err(e) = crate::snapshot_file::save(ctx.server, &mut ctx.exec) {
            log::warn!("Error trying to save the DB, can't exit: {e}");
            if !force {
                return Err(CmdError::raw("ERR Errors trying to SHUTDOWN. Check logs."));
            }
        }
    }
    log::info!("User requested shutdown (client {})", ctx.conn.id);
    ctx.server.shutdown.set();
    // Like Redis, the client gets no reply: its connection closes.
    ctx.conn.close_after_reply = true;
    Ok(())
}

// ---- DEBUG -------------------------------------------------------------------------------

fn debug_syntax(args: &Args<'_>) -> CmdError {
    CmdError::raw(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
        crate::error::shown_arg(args.get(1))
    ))
}

fn positive(a: &[u8]) -> OpResult<u64> {
    match parse_i64(a) {
        Ok(v) if v >= 0 => Ok(v as u64),
        _ => Err(CmdError::raw("ERR value is out of range, must be positive")),
    }
}

/// Keys DEBUG POPULATE creates per transaction: bounds the memory of one batch and the time
/// one batch holds the shards.
const POPULATE_BATCH: u64 = 64 * 1024;

/// `prefix:j`, cut to 127 bytes as Redis's 128-byte buffer does.
fn populate_key(buf: &mut Vec<u8>, prefix: &[u8], j: u64) {
    buf.clear();
    buf.extend_from_slice(prefix);
    let _ = write!(ByteWriter(buf), ":{j}");
    buf.truncate(127);
}

struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Inserts the keys `indices` of one batch on `shard`; existing keys are left alone.
fn op_populate(shard: &Shard, db: usize, prefix: &[u8], size: usize, indices: &[u64], now: u64) {
    let mut dbs = shard.db.borrow_mut();
    let (mut key, mut value) = (Vec::new(), Vec::new());
    for &j in indices {
        populate_key(&mut key, prefix, j);
        value.clear();
        let _ = write!(ByteWriter(&mut value), "value:{j}");
        if size > 0 {
            value.resize(size, 0);
        }
        // Existing keys are skipped untouched (no WATCH bump), as Redis does.
        if !dbs.exists(db, &key, now) {
            let (mut slot, _) = dbs.add_or_find(db, &key, now);
            *slot = CompactValue::from_bytes(&value);
        }
    }
}

fn debug_populate(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let count = positive(args.get(2))?;
    let size = if args.len() == 5 {
        positive(args.get(4))? as usize
    } else {
        0
    };
    let prefix: &[u8] = if args.len() >= 4 { args.get(3) } else { b"key" };
    let (db, n) = (ctx.db(), damselfly_runtime::proactor_count());
    let mut key = Vec::new();
    let mut start = 0;
    while start < count {
        let end = count.min(start + POPULATE_BATCH);
        let mut groups: Vec<Vec<u64>> = vec![Vec::new(); n];
        for j in start..end {
            populate_key(&mut key, prefix, j);
            groups[shard_of(key_hash(&key), n)].push(j);
        }
        let now = clock::wall_now_ms();
        let groups = &groups;
        // Whole-shard locks: the batch is atomic with respect to other transactions.
        ctx.exec
            .schedule_global()
            .execute_all(&|shard| op_populate(shard, db, prefix, size, &groups[shard.index], now));
        start = end;
    }
    ctx.reply().ok();
    Ok(())
}

/// Redis's RDB length-prefix size for a length `n`.
fn rdb_len_len(n: usize) -> usize {
    if n < 1 << 6 {
        1
    } else if n < 1 << 14 {
        2
    } else if n <= u32::MAX as usize {
        5
    } else {
        9
    }
}

/// Bytes the value takes in an RDB file (strings; without LZF compression).
fn serialized_len(v: &CompactValue) -> usize {
    let Some(bytes) = v.as_bytes() else {
        return 0; // typed objects: no RDB encoder yet
    };
    if bytes.len() <= 11 {
        if let Some(i) = damselfly_shards::cell::parse_canonical_i64(&bytes) {
            if i8::try_from(i).is_ok() {
                return 2;
            } else if i16::try_from(i).is_ok() {
                return 3;
            } else if i32::try_from(i).is_ok() {
                return 5;
            }
        }
    }
    rdb_len_len(bytes.len()) + bytes.len()
}

/// Redis's OBJECT ENCODING name of a value and its refcount (small integers are shared).
fn encoding_of(v: &CompactValue) -> (&'static str, i64) {
    let shared = v.as_int().is_some_and(|i| (0..10_000).contains(&i));
    let refcount = if shared { i32::MAX as i64 } else { 1 };
    (keyspace_family::encoding_name(v), refcount)
}

fn op_debug_object(shard: &Shard, db: usize, key: &[u8], now: u64) -> Option<String> {
    let mut dbs = shard.db.borrow_mut();
    let v = dbs.find(db, key, now)?;
    let (encoding, refcount) = encoding_of(v);
    Some(format!(
        "Value at:{:p} refcount:{refcount} encoding:{encoding} serializedlength:{} lru:{} lru_seconds_idle:0",
        v as *const CompactValue,
        serialized_len(v),
        lru_clock()
    ))
}

/// Parses like C's strtod on the longest numeric prefix; anything else is 0.
/// Whether C's atoi reads a non-zero number from `a` (white space, a sign, then digits).
fn atoi_nonzero(a: &[u8]) -> bool {
    let s = a.trim_ascii_start();
    let s = s.strip_prefix(b"-").or(s.strip_prefix(b"+")).unwrap_or(s);
    s.iter()
        .take_while(|b| b.is_ascii_digit())
        .any(|&b| b != b'0')
}

fn strtod_prefix(a: &[u8]) -> f64 {
    // A numeric prefix is short: look at 64 bytes at most.
    let s = String::from_utf8_lossy(&a[..a.len().min(64)]);
    let s = s.trim_start();
    (1..=s.len())
        .rev()
        .filter(|i| s.is_char_boundary(*i))
        .find_map(|i| s[..i].parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn cmd_debug(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let sub = args.get(1);
    let n = args.len();
    if eq_ignore_case(sub, "help") && n == 2 {
        help_reply(
            ctx,
            "DEBUG",
            &[
                "OBJECT <key>",
                "    Show low level info about `key` and associated value.",
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>. If <prefix> is specified then",
                "    it is used instead of the 'key' prefix. These are not propagated to",
                "    replicas. Cluster slots are not respected so keys not belonging to the",
                "    current node can be created in cluster mode.",
                "PANIC",
                "    Crash the server simulating a panic.",
                "RELOAD",
                "    Save the RDB on disk and reload it back to memory.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not",
                "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
                "    default.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        );
    } else if eq_ignore_case(sub, "populate") && (3..=5).contains(&n) {
        debug_populate(ctx, args)?;
    } else if eq_ignore_case(sub, "object") && n == 3 {
        let (db, key, now) = (ctx.db(), args.get(2), clock::wall_now_ms());
        let line = ctx
            .exec
            .single_key(key_hash(key), LockMode::Shared, &|s| {
                op_debug_object(s, db, key, now)
            })
            .ok_or(CmdError::NoSuchKey)?;
        ctx.reply().simple(line.as_bytes());
    } else if eq_ignore_case(sub, "set-active-expire") && n == 3 {
        // As Redis (atoi): a leading integer, 0 or none stops the cycle.
        let on = atoi_nonzero(args.get(2));
        ctx.server.active_expire.store(on, Ordering::Relaxed);
        ctx.reply().ok();
    } else if eq_ignore_case(sub, "reload") && n == 2 {
        return crate::families::persistence_family::debug_reload(ctx);
    } else if eq_ignore_case(sub, "panic") && n == 2 {
        // The panic happens in a shard-side op on every shard (the local one inline, the
        // others by hop), which is where a real bug would hit: the process aborts.
        log::warn!("DEBUG PANIC called by client {}", ctx.conn.id);
        ctx.exec
            .on_all_shards(&|s| -> () { panic!("DEBUG PANIC on shard {}", s.index) });
    } else if eq_ignore_case(sub, "sleep") && n == 3 {
        let secs = strtod_prefix(args.get(2));
        if secs.is_finite() && secs > 0.0 {
            // Only this connection sleeps; Redis stops the whole server.
            damselfly_runtime::fiber::sleep(Duration::from_secs_f64(secs.min(1e9)));
        }
        ctx.reply().ok();
    } else {
        return Err(debug_syntax(args));
    }
    Ok(())
}

// ---- registration ------------------------------------------------------------------------

/// Key positions of a command without keys.
const NO_KEYS: (i32, i32, i32) = (0, 0, 0);

#[rustfmt::skip]
pub fn commands() -> Vec<CommandSpec> {
    let c = |name, arity, flags, acl: &'static [&'static str], since, summary| CommandSpec {
        name,
        arity,
        flags,
        acl,
        first_key: 0,
        last_key: 0,
        step: 0,
        group: "server",
        summary,
        since,
        handler: cmd_info,
        subcommands: Vec::new(),
    };
    let admin = ADMIN | NOSCRIPT | LOADING | STALE;
    vec![
        CommandSpec {
            handler: cmd_info,
            ..c(
                "info",
                -1,
                LOADING | STALE,
                &["@slow", "@dangerous"],
                "1.0.0",
                "Returns information and statistics about the server.",
            )
        },
        CommandSpec {
            handler: cmd_config,
            ..c(
                "config",
                -2,
                0,
                &["@slow"],
                "2.0.0",
                "A container for server configuration commands.",
            )
        }
        .with_subcommands(|c| {
            let acl = &["@admin", "@slow", "@dangerous"];
            vec![
                c.sub("config|get", -3, admin, acl, NO_KEYS, "2.0.0", "Returns the values of configuration parameters."),
                c.sub("config|set", -4, admin, acl, NO_KEYS, "2.0.0", "Sets configuration parameters at runtime."),
                c.sub("config|resetstat", 2, admin, acl, NO_KEYS, "2.0.0", "Resets the server's statistics."),
                c.sub("config|rewrite", 2, admin, acl, NO_KEYS, "2.8.0", "Persists the effective configuration to file."),
                c.sub("config|help", 2, LOADING | STALE, &["@slow"], NO_KEYS, "5.0.0", "Returns help text about the CONFIG subcommands."),
            ]
        }),
        CommandSpec {
            handler: cmd_command,
            ..c(
                "command",
                -1,
                LOADING | STALE,
                &["@slow", "@connection"],
                "2.8.13",
                "Returns detailed information about all commands.",
            )
        }
        .with_subcommands(|c| {
            let (f, acl) = (LOADING | STALE, &["@slow", "@connection"]);
            vec![
                c.sub("command|count", 2, f, acl, NO_KEYS, "2.8.13", "Returns the number of commands."),
                c.sub("command|docs", -2, f, acl, NO_KEYS, "7.0.0", "Returns documentary information about commands."),
                c.sub("command|getkeys", -4, f, acl, NO_KEYS, "2.8.13", "Extracts the key names of an arbitrary command."),
                c.sub("command|getkeysandflags", -4, f, acl, NO_KEYS, "7.0.0", "Extracts the key names and access flags of an arbitrary command."),
                c.sub("command|help", 2, f, acl, NO_KEYS, "5.0.0", "Returns help text about the COMMAND subcommands."),
                c.sub("command|info", -2, f, acl, NO_KEYS, "2.8.13", "Returns information about one, several or all commands."),
                c.sub("command|list", -2, f, acl, NO_KEYS, "7.0.0", "Returns a list of command names."),
            ]
        }),
        CommandSpec {
            handler: cmd_time,
            ..c(
                "time",
                1,
                LOADING | STALE | FAST,
                &["@fast"],
                "2.6.0",
                "Returns the server time.",
            )
        },
        CommandSpec {
            handler: cmd_debug,
            ..c(
                "debug",
                -2,
                admin,
                &["@admin", "@slow", "@dangerous"],
                "1.0.0",
                "A container for debugging commands.",
            )
        },
        CommandSpec {
            handler: cmd_shutdown,
            ..c(
                "shutdown",
                -1,
                admin | NO_MULTI | ALLOW_BUSY,
                &["@admin", "@slow", "@dangerous"],
                "1.0.0",
                "Synchronously saves the database(s) to disk and shuts down the Redis server.",
            )
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_match_redis() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(1023), "1023B");
        assert_eq!(human(916_376), "894.90K");
        assert_eq!(human(12_165_120), "11.60M");
        assert_eq!(human(25_276_510_208), "23.54G");
    }

    #[test]
    fn rdb_lengths() {
        assert_eq!(serialized_len(&CompactValue::from_bytes(b"val")), 4);
        assert_eq!(serialized_len(&CompactValue::from_bytes(b"12345")), 3);
        assert_eq!(serialized_len(&CompactValue::from_bytes(b"1")), 2);
        assert_eq!(serialized_len(&CompactValue::from_bytes(b"100000")), 5);
        assert_eq!(serialized_len(&CompactValue::from_bytes(&[0; 20])), 21);
        assert_eq!(serialized_len(&CompactValue::from_bytes(&[b'a'; 100])), 102);
    }

    #[test]
    fn strtod_takes_the_numeric_prefix() {
        assert_eq!(strtod_prefix(b"0.5"), 0.5);
        assert_eq!(strtod_prefix(b"2abc"), 2.0);
        assert_eq!(strtod_prefix(b"abc"), 0.0);
        assert_eq!(strtod_prefix(b"-1"), -1.0);
    }

    #[test]
    fn populate_keys_are_cut_like_redis() {
        let mut k = Vec::new();
        populate_key(&mut k, b"key", 7);
        assert_eq!(k, b"key:7");
        populate_key(&mut k, &[b'p'; 200], 7);
        assert_eq!(k.len(), 127);
    }
}
