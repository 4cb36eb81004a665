//! Gathers the server's figures for a scrape, the way INFO does (one lock-free hop to every
//! proactor), and writes them in the Prometheus text format.

use super::exposition::Exposition;
use super::histogram::Histogram;
use crate::registry::Registry;
use crate::server::{ProactorState, ServerState};
use std::sync::atomic::Ordering;

/// Metric names start with this (Dragonfly's names, with Damselfly's prefix).
const P: &str = "damselfly_";

/// What one proactor reports.
struct ProactorFigures {
    commands: u64,
    hits: u64,
    misses: u64,
    net_in: u64,
    net_out: u64,
    /// (calls, nanoseconds, failed) per registry index.
    per_command: Vec<(u64, u64, u64)>,
    rejected: Vec<u64>,
    errors: Vec<(String, u64)>,
    /// (keys, expiring keys) per database.
    dbs: Vec<(usize, usize)>,
    expired: u64,
    conns: usize,
    /// CPU time this proactor's thread has used.
    cpu_ns: u64,
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn local_figures() -> ProactorFigures {
    let ps = ProactorState::current();
    let st = &ps.stats;
    let db = ps.shard.db.borrow();
    let stats: Vec<_> = (0..db.db_count()).map(|d| db.stats(d)).collect();
    drop(db);
    ProactorFigures {
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
        dbs: stats.iter().map(|s| (s.keys, s.expires)).collect(),
        expired: stats.iter().map(|s| s.expired_keys).sum(),
        conns: ps.conns.borrow().len(),
        cpu_ns: thread_cpu_ns(),
    }
}

/// The `/metrics` body.
pub fn metrics_text(server: &ServerState) -> String {
    let per = crate::tx::on_all_shards(&|_| local_figures());
    let histograms = crate::latency::merged_histograms();
    let memory = crate::families::server_family::memory_summary(server);
    let mut e = Exposition::default();
    let sum = |f: &dyn Fn(&ProactorFigures) -> u64| per.iter().map(f).sum::<u64>() as f64;

    e.family(
        &format!("{P}version"),
        "gauge",
        "Damselfly's version and the Redis version it follows.",
    );
    e.sample(
        &format!("{P}version"),
        &[
            ("version", crate::VERSION),
            ("redis_version", crate::REDIS_VERSION),
        ],
        1.0,
    );
    e.single(
        &format!("{P}uptime_in_seconds"),
        "gauge",
        "Seconds since the server started.",
        server.uptime().as_secs() as f64,
    );
    e.single(
        &format!("{P}connected_clients"),
        "gauge",
        "Clients connected (RESP and memcached).",
        server.connected.load(Ordering::Relaxed) as f64,
    );
    e.single(
        &format!("{P}blocked_clients"),
        "gauge",
        "Clients waiting in a blocking command or a CLIENT PAUSE.",
        (crate::blocking::blocked_count(server) + server.pause.waiting()) as f64,
    );
    e.single(
        &format!("{P}connections_received_total"),
        "counter",
        "Connections accepted since start.",
        server.total_connections.load(Ordering::Relaxed) as f64,
    );
    e.single(
        &format!("{P}rejected_connections_total"),
        "counter",
        "Connections refused at maxclients.",
        server.rejected_connections.load(Ordering::Relaxed) as f64,
    );
    e.single(
        &format!("{P}memory_used_bytes"),
        "gauge",
        "Memory used, as INFO used_memory.",
        memory.used as f64,
    );
    e.single(
        &format!("{P}memory_used_peak_bytes"),
        "gauge",
        "Peak of memory used, as INFO used_memory_peak.",
        memory.peak as f64,
    );
    e.single(
        &format!("{P}used_memory_rss_bytes"),
        "gauge",
        "Resident set size of the process.",
        crate::families::server_family::rss_bytes() as f64,
    );
    e.single(
        &format!("{P}memory_max_bytes"),
        "gauge",
        "The maxmemory limit (0: none).",
        server.config.get_int("maxmemory").max(0) as f64,
    );

    let dbs = per.iter().map(|f| f.dbs.len()).max().unwrap_or(0);
    let mut totals = vec![(0usize, 0usize); dbs];
    for f in &per {
        for (t, d) in totals.iter_mut().zip(&f.dbs) {
            t.0 += d.0;
            t.1 += d.1;
        }
    }
    let db_names: Vec<String> = (0..dbs).map(|d| format!("db{d}")).collect();
    e.family(&format!("{P}db_keys"), "gauge", "Keys per database.");
    for (d, (keys, _)) in totals.iter().enumerate().filter(|(_, t)| t.0 > 0) {
        e.sample(
            &format!("{P}db_keys"),
            &[("db", &db_names[d])],
            *keys as f64,
        );
    }
    e.family(
        &format!("{P}db_keys_expiring"),
        "gauge",
        "Keys with a time to live, per database.",
    );
    for (d, (_, expiring)) in totals.iter().enumerate().filter(|(_, t)| t.0 > 0) {
        e.sample(
            &format!("{P}db_keys_expiring"),
            &[("db", &db_names[d])],
            *expiring as f64,
        );
    }
    e.single(
        &format!("{P}expired_keys_total"),
        "counter",
        "Keys deleted because their time to live passed.",
        sum(&|f| f.expired),
    );
    e.single(
        &format!("{P}evicted_keys_total"),
        "counter",
        "Keys evicted to stay under maxmemory.",
        server.eviction.evicted_keys() as f64,
    );
    e.single(
        &format!("{P}keyspace_hits_total"),
        "counter",
        "Key lookups that found the key.",
        sum(&|f| f.hits),
    );
    e.single(
        &format!("{P}keyspace_misses_total"),
        "counter",
        "Key lookups that did not find the key.",
        sum(&|f| f.misses),
    );
    e.single(
        &format!("{P}net_input_bytes_total"),
        "counter",
        "Bytes read from clients.",
        sum(&|f| f.net_in),
    );
    e.single(
        &format!("{P}net_output_bytes_total"),
        "counter",
        "Bytes written to clients.",
        sum(&|f| f.net_out),
    );
    e.single(
        &format!("{P}commands_processed_total"),
        "counter",
        "Commands processed, all proactors.",
        sum(&|f| f.commands),
    );
    per_command(&mut e, &per, &histograms);
    errors(&mut e, &per);
    proactors(&mut e, &per);
    e.finish()
}

/// Calls, time, failures and latency histograms per command (subcommands apart).
fn per_command(e: &mut Exposition, per: &[ProactorFigures], histograms: &[(&str, Histogram)]) {
    let registry = Registry::get();
    let n = registry.len();
    let mut calls = vec![(0u64, 0u64, 0u64); n];
    let mut rejected = vec![0u64; n];
    for f in per {
        for (a, b) in calls.iter_mut().zip(&f.per_command) {
            a.0 += b.0;
            a.1 += b.1;
            a.2 += b.2;
        }
        for (a, b) in rejected.iter_mut().zip(&f.rejected) {
            *a += b;
        }
    }
    let seen = || {
        registry
            .commands()
            .iter()
            .zip(calls.iter().zip(&rejected))
            .filter(|(_, (c, r))| c.0 > 0 || **r > 0)
    };
    let name = format!("{P}commands_total");
    e.family(&name, "counter", "Calls per command.");
    for (spec, (c, _)) in seen() {
        e.sample(&name, &[("cmd", spec.name)], c.0 as f64);
    }
    let name = format!("{P}commands_duration_seconds_total");
    e.family(&name, "counter", "Time spent running each command.");
    for (spec, (c, _)) in seen() {
        e.sample(&name, &[("cmd", spec.name)], c.1 as f64 / 1e9);
    }
    let name = format!("{P}commands_failed_total");
    e.family(
        &name,
        "counter",
        "Calls per command that answered an error.",
    );
    for (spec, (c, _)) in seen() {
        e.sample(&name, &[("cmd", spec.name)], c.2 as f64);
    }
    let name = format!("{P}commands_rejected_total");
    e.family(
        &name,
        "counter",
        "Calls per command refused before they ran (arity, ACL, OOM, BUSY).",
    );
    for (spec, (_, r)) in seen() {
        e.sample(&name, &[("cmd", spec.name)], *r as f64);
    }
    let name = format!("{P}command_latency_seconds");
    e.family(
        &name,
        "histogram",
        "Latency of each command and subcommand (the data of LATENCY HISTOGRAM and INFO latencystats).",
    );
    let mut buckets = Vec::new();
    for c in registry.commands() {
        for cmd in std::iter::once(c.name).chain(c.subcommands.iter().map(|s| s.name)) {
            let Some((_, h)) = histograms.iter().find(|(n, _)| *n == cmd) else {
                continue;
            };
            buckets.clear();
            buckets.extend(
                h.doubling_levels()
                    .into_iter()
                    .map(|(ns, n)| (ns as f64 / 1e9, n)),
            );
            e.histogram(
                &name,
                &[("cmd", cmd)],
                &buckets,
                h.sum_ns as f64 / 1e9,
                h.total,
            );
        }
    }
}

fn errors(e: &mut Exposition, per: &[ProactorFigures]) {
    let mut all: std::collections::BTreeMap<&str, u64> = Default::default();
    for f in per {
        for (code, n) in &f.errors {
            *all.entry(code).or_default() += n;
        }
    }
    let name = format!("{P}errors_total");
    e.family(
        &name,
        "counter",
        "Error replies by error code (INFO errorstats).",
    );
    for (code, n) in all {
        e.sample(&name, &[("type", code)], n as f64);
    }
}

/// Each proactor's load: commands it read, the CPU its thread used, its connections.
fn proactors(e: &mut Exposition, per: &[ProactorFigures]) {
    let ids: Vec<String> = (0..per.len()).map(|i| i.to_string()).collect();
    let name = format!("{P}proactor_commands_total");
    e.family(
        &name,
        "counter",
        "Commands read by each proactor's connections.",
    );
    for (f, id) in per.iter().zip(&ids) {
        e.sample(&name, &[("proactor", id)], f.commands as f64);
    }
    let name = format!("{P}proactor_cpu_seconds_total");
    e.family(
        &name,
        "counter",
        "CPU time each proactor thread has used (busy, not sleeping).",
    );
    for (f, id) in per.iter().zip(&ids) {
        e.sample(&name, &[("proactor", id)], f.cpu_ns as f64 / 1e9);
    }
    let name = format!("{P}proactor_connections");
    e.family(&name, "gauge", "Connections each proactor serves.");
    for (f, id) in per.iter().zip(&ids) {
        e.sample(&name, &[("proactor", id)], f.conns as f64);
    }
}
