//! memcached's `stats` (the general counters clients and dashboards read), `stats settings`,
//! `stats conns` and `stats sizes`; `stats reset` zeroes the counters. `stats items`,
//! `stats slabs` and `stats detail` describe memcached's slab classes and per-prefix
//! tracking, which Damselfly does not have: they are answered `ERROR`, as memcached answers a
//! group it does not know.

use crate::exec::Exec;
use crate::families::memcache_family::{McCounters, McState, VERSION};
use crate::memcache_reply::McOut;
use damselfly_protocol::memcache::Tokens;
use damselfly_runtime::clock;
use std::sync::atomic::{AtomicU64, Ordering};

pub fn cmd_stats(mc: &McState, mut args: Tokens<'_>, out: &mut McOut<'_>) {
    match args.next() {
        None => general(mc, out),
        Some(b"settings") => settings(mc, out),
        Some(b"conns") => out.raw(mc.conns.describe(clock::wall_now_ms() / 1000).as_bytes()),
        // memcached tracks item sizes only with `-o track_sizes`; Damselfly never does.
        Some(b"sizes") => out.raw(b"STAT sizes_status disabled\r\nEND\r\n"),
        Some(b"reset") => {
            mc.reset();
            out.raw(b"RESET\r\n");
        }
        Some(_) => out.raw(b"ERROR\r\n"),
    }
}

fn rusage() -> (f64, f64) {
    // SAFETY: `getrusage` writes into the zeroed struct we own; RUSAGE_SELF is valid.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

fn general(mc: &McState, out: &mut McOut<'_>) {
    let server = &mc.server;
    let now_s = clock::wall_now_ms() / 1000;
    let (user, system) = rusage();
    // Items and bytes live on the shards: one read of each.
    let per_shard = Exec::now().on_all_shards(&|s| {
        let db = s.db.borrow();
        (db.len(0), db.stats(0).heap_bytes)
    });
    let (items, bytes) = per_shard
        .iter()
        .fold((0, 0), |(i, b), (n, h)| (i + n, b + h));
    let sum = |f: fn(&McCounters) -> &AtomicU64| mc.sum(f);
    out.stat("pid", std::process::id());
    out.stat("uptime", server.uptime().as_secs());
    out.stat("time", now_s);
    out.stat("version", VERSION);
    out.stat("pointer_size", usize::BITS);
    out.stat("rusage_user", format_args!("{user:.6}"));
    out.stat("rusage_system", format_args!("{system:.6}"));
    out.stat("max_connections", server.config.get_int("maxclients"));
    out.stat("curr_connections", sum(|c| &c.curr_connections));
    out.stat("total_connections", sum(|c| &c.total_connections));
    out.stat("cmd_get", sum(|c| &c.cmd_get));
    out.stat("cmd_set", sum(|c| &c.cmd_set));
    out.stat("cmd_flush", sum(|c| &c.cmd_flush));
    out.stat("cmd_touch", sum(|c| &c.cmd_touch));
    out.stat("cmd_meta", sum(|c| &c.cmd_meta));
    out.stat("get_hits", sum(|c| &c.get_hits));
    out.stat("get_misses", sum(|c| &c.get_misses));
    out.stat("delete_misses", sum(|c| &c.delete_misses));
    out.stat("delete_hits", sum(|c| &c.delete_hits));
    out.stat("incr_misses", sum(|c| &c.incr_misses));
    out.stat("incr_hits", sum(|c| &c.incr_hits));
    out.stat("decr_misses", sum(|c| &c.decr_misses));
    out.stat("decr_hits", sum(|c| &c.decr_hits));
    out.stat("cas_misses", sum(|c| &c.cas_misses));
    out.stat("cas_hits", sum(|c| &c.cas_hits));
    out.stat("cas_badval", sum(|c| &c.cas_badval));
    out.stat("touch_hits", sum(|c| &c.touch_hits));
    out.stat("touch_misses", sum(|c| &c.touch_misses));
    out.stat("store_too_large", sum(|c| &c.store_too_large));
    out.stat("bytes_read", sum(|c| &c.bytes_read));
    out.stat("bytes_written", sum(|c| &c.bytes_written) + out.sent);
    out.stat("limit_maxbytes", server.config.get_int("maxmemory"));
    out.stat("threads", server.shards);
    out.stat("bytes", bytes);
    out.stat("curr_items", items);
    out.stat("total_items", sum(|c| &c.total_items));
    // Keys evicted under maxmemory: memcached items are database 0's keys, which are most of
    // them on a server used as a cache.
    out.stat("evictions", server.eviction.evicted_keys());
    out.raw(b"END\r\n");
}

fn settings(mc: &McState, out: &mut McOut<'_>) {
    let server = &mc.server;
    out.stat("maxbytes", server.config.get_int("maxmemory"));
    out.stat("maxconns", server.config.get_int("maxclients"));
    out.stat("tcpport", mc.port);
    out.stat("udpport", 0);
    out.stat("verbosity", mc.verbosity.load(Ordering::Relaxed));
    // memcached's `-M` (no evictions, errors instead) is Redis's noeviction policy.
    let evicts = server.config.get("maxmemory-policy").as_deref() != Some("noeviction");
    out.stat("evictions", if evicts { "on" } else { "off" });
    out.stat("num_threads", server.shards);
    out.stat("cas_enabled", "yes");
    out.stat("binding_protocol", "ascii");
    out.stat("item_size_max", mc.item_size_max);
    out.stat("flush_enabled", "yes");
    out.raw(b"END\r\n");
}
