//! MEMORY USAGE / STATS / DOCTOR / MALLOC-STATS / PURGE / HELP: the memory a key, the
//! databases, the clients and the allocator hold.

use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult};
use crate::families::server_family::{
    help_reply, human, memory_summary, rss_bytes, sub_arity, unknown_sub,
};
use crate::registry::{command, flags::*, CommandSpec, Registry};
use crate::shard::{key_hash, Shard};
use crate::tx::{self, locks::LockMode};
use damselfly_runtime::clock;
use damselfly_shards::db_slice::KeyExpiry;
use damselfly_shards::{CompactKey, CompactValue};
use std::fmt::Write as _;

/// Size of one table slot: a key cell and a value cell.
const SLOT_BYTES: usize = 2 * std::mem::size_of::<CompactValue>();
/// An expire-table slot: a key cell and a deadline.
const EXPIRE_SLOT_BYTES: usize = std::mem::size_of::<CompactKey>() + std::mem::size_of::<u64>();

fn op_memory_usage(shard: &Shard, db: usize, key: &[u8], now: u64) -> Option<usize> {
    let mut dbs = shard.db.borrow_mut();
    let key_heap = CompactKey::new(key).heap_bytes();
    let expire_bytes = match dbs.expiry(db, key, now) {
        KeyExpiry::Missing => return None,
        KeyExpiry::Persistent => 0,
        KeyExpiry::At(_) => EXPIRE_SLOT_BYTES + key_heap,
    };
    let value = dbs.find(db, key, now)?;
    Some(SLOT_BYTES + key_heap + value.heap_bytes() + expire_bytes)
}

fn memory_usage(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    sub_arity(args, -3, "memory|usage")?;
    let mut i = 3;
    while i < args.len() {
        if eq_ignore_case(args.get(i), "samples") && i + 1 < args.len() {
            if parse_i64(args.get(i + 1))? < 0 {
                return Err(CmdError::Syntax);
            }
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (db, key, now) = (ctx.db(), args.get(2), clock::wall_now_ms());
    let bytes = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        op_memory_usage(s, db, key, now)
    });
    match bytes {
        Some(b) => ctx.reply().integer(b as i64),
        None => ctx.reply().null(),
    }
    Ok(())
}

/// The allocator's view of the process (mimalloc): committed and resident bytes.
struct AllocatorInfo {
    committed: u64,
    resident: u64,
}

// Links mimalloc's C library into every binary that has this crate, tests included.
use libmimalloc_sys as _;

extern "C" {
    // mimalloc's C API, beyond what libmimalloc-sys declares without its `extended` feature.
    fn mi_process_info(
        elapsed_msecs: *mut usize,
        user_msecs: *mut usize,
        system_msecs: *mut usize,
        current_rss: *mut usize,
        peak_rss: *mut usize,
        current_commit: *mut usize,
        peak_commit: *mut usize,
        page_faults: *mut usize,
    );
    fn mi_stats_print_out(
        out: Option<unsafe extern "C" fn(msg: *const std::ffi::c_char, arg: *mut std::ffi::c_void)>,
        arg: *mut std::ffi::c_void,
    );
    fn mi_collect(force: bool);
}

fn allocator_info() -> AllocatorInfo {
    let mut v = [0usize; 8];
    let [a, b, c, d, e, f, g, h] = &mut v;
    // SAFETY: every pointer is to a distinct live usize that mimalloc only writes.
    unsafe { mi_process_info(a, b, c, d, e, f, g, h) };
    AllocatorInfo {
        committed: v[5] as u64,
        resident: v[3] as u64,
    }
}

/// Appends one chunk of mimalloc's statistics text to the String behind `arg`.
unsafe extern "C" fn append_stats(msg: *const std::ffi::c_char, arg: *mut std::ffi::c_void) {
    if msg.is_null() || arg.is_null() {
        return;
    }
    // SAFETY: mimalloc passes a NUL-terminated message and the `arg` we gave it, which is a
    // `&mut String` that outlives the mi_stats_print_out call.
    let (text, out) = unsafe { (std::ffi::CStr::from_ptr(msg), &mut *(arg as *mut String)) };
    out.push_str(&text.to_string_lossy());
}

fn malloc_stats() -> String {
    let mut out = String::new();
    // SAFETY: `append_stats` only writes to `out` through `arg`, and only during this call.
    unsafe {
        mi_stats_print_out(
            Some(append_stats),
            &mut out as *mut String as *mut std::ffi::c_void,
        )
    };
    out
}

/// Per database with keys: (db, keys, main table bytes, expire table bytes), all shards.
fn db_overheads() -> Vec<(usize, usize, usize, usize)> {
    let per = tx::on_all_shards(&|shard| {
        let db = shard.db.borrow();
        (0..db.db_count())
            .filter(|&d| db.len(d) > 0)
            .map(|d| {
                let main = db.primary(d).map_or(0, |t| t.bytes_allocated());
                let expires = db.expire_table(d).map_or(0, |t| t.bytes_allocated());
                (d, db.len(d), main, expires)
            })
            .collect::<Vec<_>>()
    });
    let mut all: Vec<(usize, usize, usize, usize)> = Vec::new();
    for (d, k, m, e) in per.into_iter().flatten() {
        match all.iter_mut().find(|x| x.0 == d) {
            Some(x) => {
                x.1 += k;
                x.2 += m;
                x.3 += e;
            }
            None => all.push((d, k, m, e)),
        }
    }
    all.sort_unstable();
    all
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        // Single precision, as Redis computes these figures.
        (a as f32 / b as f32) as f64
    }
}

fn memory_stats(ctx: &mut CmdCtx<'_>) {
    let m = memory_summary(ctx.server);
    let dbs = db_overheads();
    let alloc = allocator_info();
    let rss = rss_bytes();
    let (_, script_bytes) = ctx.server.scripts.cache_stats();
    let lib_bytes = ctx
        .server
        .scripts
        .read_libraries(|l| l.iter().map(|x| x.code.len()).sum::<usize>());
    let keys: u64 = dbs.iter().map(|d| d.1 as u64).sum();
    let overhead = m.used.saturating_sub(m.dataset);
    let mut w = ctx.reply();
    w.map_header(23 + dbs.len());
    let int = |w: &mut damselfly_protocol::ReplyWriter<'_>, name: &str, v: u64| {
        w.bulk(name.as_bytes());
        w.integer(v as i64);
    };
    int(&mut w, "peak.allocated", m.peak);
    int(&mut w, "total.allocated", m.used);
    // Damselfly has no replication backlog, AOF buffer or cluster bus yet.
    int(&mut w, "replication.backlog", 0);
    int(&mut w, "clients.slaves", 0);
    int(&mut w, "clients.normal", m.clients);
    int(&mut w, "cluster.links", 0);
    int(&mut w, "aof.buffer", 0);
    int(&mut w, "lua.caches", script_bytes as u64);
    int(&mut w, "functions.caches", lib_bytes as u64);
    for (d, _, main, expires) in &dbs {
        w.bulk(format!("db.{d}").as_bytes());
        w.map_header(3);
        int(&mut w, "overhead.hashtable.main", *main as u64);
        int(&mut w, "overhead.hashtable.expires", *expires as u64);
        int(&mut w, "overhead.hashtable.slot-to-keys", 0);
    }
    int(&mut w, "overhead.total", overhead);
    int(&mut w, "keys.count", keys);
    int(
        &mut w,
        "keys.bytes-per-key",
        m.used.checked_div(keys).unwrap_or(0),
    );
    int(&mut w, "dataset.bytes", m.dataset);
    w.bulk(b"dataset.percentage");
    w.double(ratio(m.dataset * 100, m.used));
    w.bulk(b"peak.percentage");
    w.double(ratio(m.used * 100, m.peak));
    // mimalloc reports what it committed and what of that is resident (not the bytes
    // handed out, which Damselfly's own accounting gives as total.allocated).
    int(&mut w, "allocator.active", alloc.committed);
    int(&mut w, "allocator.resident", alloc.resident);
    w.bulk(b"allocator-rss.ratio");
    w.double(ratio(alloc.resident, alloc.committed));
    int(
        &mut w,
        "allocator-rss.bytes",
        alloc.resident.saturating_sub(alloc.committed),
    );
    w.bulk(b"rss-overhead.ratio");
    w.double(ratio(rss, alloc.resident));
    int(
        &mut w,
        "rss-overhead.bytes",
        rss.saturating_sub(alloc.resident),
    );
    w.bulk(b"fragmentation");
    w.double(ratio(rss, m.used));
    int(&mut w, "fragmentation.bytes", rss.saturating_sub(m.used));
}

/// Below this much memory in use there is nothing worth diagnosing.
const DOCTOR_MIN_BYTES: u64 = 5 << 20;

/// MEMORY DOCTOR: the memory issues the figures show, in plain language.
fn doctor(ctx: &CmdCtx<'_>) -> String {
    let m = memory_summary(ctx.server);
    let rss = rss_bytes();
    let clients = ctx
        .server
        .connected
        .load(std::sync::atomic::Ordering::Relaxed) as u64;
    if m.used < DOCTOR_MIN_BYTES {
        return format!(
            "The server holds {} in all: too little for a memory diagnosis. Load some data and ask again.\n",
            human(m.used)
        );
    }
    let mut issues = Vec::new();
    if m.peak > m.used * 3 / 2 {
        issues.push(format!(
            "Memory in use ({}) is well below its peak ({}): memory the allocator keeps from the peak shows in the RSS and the fragmentation ratio. MEMORY PURGE returns what it can.",
            human(m.used),
            human(m.peak)
        ));
    }
    if rss > m.used * 14 / 10 && rss > (10 << 20) {
        issues.push(format!(
            "The RSS ({}) is {:.2} times the memory in use ({}): the allocator holds free memory (after many deletes, or values of very different sizes). MEMORY PURGE returns what it can.",
            human(rss),
            ratio(rss, m.used),
            human(m.used)
        ));
    }
    if clients > 0 && m.clients / clients > 200 << 10 {
        issues.push(format!(
            "Clients hold {} on average for their buffers: large pipelines, big replies not read yet, or slow pub/sub readers. CLIENT LIST shows each one (qbuf, omem); client-output-buffer-limit bounds them.",
            human(m.clients / clients)
        ));
    }
    let (scripts, _) = ctx.server.scripts.cache_stats();
    if scripts > 1000 {
        issues.push(format!(
            "{scripts} scripts are cached: a client that builds a new script per call (values inside the script text instead of ARGV) fills the cache. SCRIPT FLUSH empties it."
        ));
    }
    if issues.is_empty() {
        return "No memory issue found: memory in use, peak, RSS and client buffers look healthy.\n".into();
    }
    let mut text = String::from("Memory issues found:\n\n");
    for (i, issue) in issues.iter().enumerate() {
        let _ = writeln!(text, "{}. {issue}\n", i + 1);
    }
    text
}

fn cmd_memory(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let spec = Registry::get()
        .lookup(b"memory")
        .and_then(|(_, c)| c.subcommand(args.get(1)));
    if let Some(spec) = spec.filter(|s| !s.arity_ok(args.len())) {
        return Err(CmdError::WrongArity(spec.name.into()));
    }
    let sub = args.get(1);
    if eq_ignore_case(sub, "usage") {
        memory_usage(ctx, args)
    } else if eq_ignore_case(sub, "stats") {
        memory_stats(ctx);
        Ok(())
    } else if eq_ignore_case(sub, "doctor") {
        let text = doctor(ctx);
        ctx.reply().verbatim(b"txt", text.as_bytes());
        Ok(())
    } else if eq_ignore_case(sub, "malloc-stats") {
        let text = malloc_stats();
        ctx.reply().verbatim(b"txt", text.as_bytes());
        Ok(())
    } else if eq_ignore_case(sub, "purge") {
        // Each proactor's heap is returned by its own thread.
        // SAFETY: mi_collect only releases the calling thread's unused pages.
        tx::on_all_shards(&|_| unsafe { mi_collect(true) });
        ctx.reply().ok();
        Ok(())
    } else if eq_ignore_case(sub, "help") {
        sub_arity(args, 2, "memory|help")?;
        help_reply(
            ctx,
            "MEMORY",
            &[
                "DOCTOR",
                "    Return memory problems reports.",
                "MALLOC-STATS",
                "    Return internal statistics report from the memory allocator.",
                "PURGE",
                "    Attempt to purge dirty pages for reclamation by the allocator.",
                "STATS",
                "    Return information about the memory usage of the server.",
                "USAGE <key> [SAMPLES <count>]",
                "    Return memory in bytes used by <key> and its value. Nested values are",
                "    sampled up to <count> times (default: 5, 0 means sample all).",
            ],
        );
        Ok(())
    } else {
        Err(unknown_sub("memory", args))
    }
}

#[rustfmt::skip]
pub fn commands() -> Vec<CommandSpec> {
    let none = (0, 0, 0);
    vec![
        command("memory", -2, 0, &["@slow"], none, "server", "4.0.0", "A container for memory diagnostics commands.", cmd_memory)
            .with_subcommands(|c| {
                vec![
                    c.sub("memory|doctor", 2, 0, &["@slow"], none, "4.0.0", "Outputs a memory problems report."),
                    c.sub("memory|help", 2, LOADING | STALE, &["@slow"], none, "4.0.0", "Returns help text about the MEMORY subcommands."),
                    c.sub("memory|malloc-stats", 2, 0, &["@slow"], none, "4.0.0", "Returns the allocator statistics."),
                    c.sub("memory|purge", 2, 0, &["@slow"], none, "4.0.0", "Asks the allocator to release memory."),
                    c.sub("memory|stats", 2, 0, &["@slow"], none, "4.0.0", "Returns details about memory usage."),
                    c.sub("memory|usage", -3, READONLY, &["@read", "@slow"], (2, 2, 1), "4.0.0", "Estimates the memory usage of a key."),
                ]
            }),
    ]
}
