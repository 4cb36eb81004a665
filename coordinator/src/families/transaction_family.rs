//! MULTI / EXEC / DISCARD / WATCH / UNWATCH, as Redis 7 behaves.
//!
//! Between MULTI and EXEC the connection queues each command's raw bytes (the connection loop
//! does that, see `conn::execute`); errors found while queueing abort the EXEC. EXEC schedules
//! one VLL transaction over the union of the queued commands' keys and the watched keys
//! (whole shards when a command has no keys but writes or administers), checks the watched
//! keys inside it, and runs every command through an executor in "scheduled" mode: their
//! hops are steps of that one transaction, so the whole block is atomic.

use crate::args::Args;
use crate::conn;
use crate::ctx::{CmdCtx, ConnState, MultiState, Queued, WatchedKey};
use crate::error::{CmdError, CmdResult};
use crate::exec::Exec;
use crate::keys::KeyPlan;
use crate::registry::{flags::*, CommandSpec};
use crate::shard::{key_hash, shard_of};
use crate::squash::{self, Hops};
use crate::tx::{self, locks::LockMode, Transaction};
use damselfly_runtime::clock;

/// Commands that run at once between MULTI and EXEC instead of being queued.
pub fn runs_inside_multi(spec: &CommandSpec) -> bool {
    matches!(
        spec.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

fn cmd_multi(ctx: &mut CmdCtx<'_>, _args: &Args<'_>) -> CmdResult {
    if ctx.conn.multi.is_some() {
        return Err(CmdError::raw("ERR MULTI calls can not be nested"));
    }
    ctx.conn.multi = Some(MultiState::default());
    ctx.reply().ok();
    Ok(())
}

fn cmd_discard(ctx: &mut CmdCtx<'_>, _args: &Args<'_>) -> CmdResult {
    if ctx.conn.multi.take().is_none() {
        return Err(CmdError::raw("ERR DISCARD without MULTI"));
    }
    unwatch_all(ctx.conn);
    ctx.reply().ok();
    Ok(())
}

fn cmd_watch(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    if ctx.conn.multi.is_some() {
        return Err(CmdError::raw("ERR WATCH inside MULTI is not allowed"));
    }
    let (db, now) = (ctx.db(), clock::wall_now_ms());
    for key in args.rest(1) {
        if ctx.conn.watched.iter().any(|w| w.db == db && w.key == key) {
            continue;
        }
        let version = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
            let mut slice = s.db.borrow_mut();
            // An expired key is removed first, so its expiry does not count as a change later.
            slice.exists(db, key, now);
            slice.watch_key(db, key)
        });
        ctx.conn.watched.push(WatchedKey {
            db,
            key: key.to_vec(),
            version,
        });
    }
    ctx.reply().ok();
    Ok(())
}

fn cmd_unwatch(ctx: &mut CmdCtx<'_>, _args: &Args<'_>) -> CmdResult {
    unwatch_all(ctx.conn);
    ctx.reply().ok();
    Ok(())
}

/// Forgets every watched key (EXEC, DISCARD, UNWATCH, RESET, disconnect).
pub fn unwatch_all(conn: &mut ConnState) {
    if conn.watched.is_empty() {
        return;
    }
    let watched = std::mem::take(&mut conn.watched);
    let n = damselfly_runtime::proactor_count();
    let mut shards: Vec<usize> = watched
        .iter()
        .map(|w| shard_of(key_hash(&w.key), n))
        .collect();
    shards.sort_unstable();
    shards.dedup();
    let watched = &watched;
    // Bookkeeping only, no isolation needed: a plain hop per shard.
    tx::on_shards(&shards, &|s| {
        let mut slice = s.db.borrow_mut();
        for w in watched
            .iter()
            .filter(|w| shard_of(key_hash(&w.key), n) == s.index)
        {
            slice.unwatch_key(w.db, &w.key);
        }
    });
}

fn cmd_exec(ctx: &mut CmdCtx<'_>, _args: &Args<'_>) -> CmdResult {
    let Some(multi) = ctx.conn.multi.take() else {
        return Err(CmdError::raw("ERR EXEC without MULTI"));
    };
    let grows = multi
        .queued
        .iter()
        .any(|q| q.found.is_some_and(|(_, spec)| spec.has(DENYOOM)));
    // As Redis: refused only when eviction cannot bring memory under the limit (with an
    // evicting policy, memory may sit a little over it between evictions).
    if grows && ctx.server.client_limits.over_maxmemory() && !crate::eviction::make_room(ctx.server)
    {
        unwatch_all(ctx.conn);
        return Err(CmdError::raw(format!(
            "EXECABORT Transaction discarded because of: {}",
            conn::OOM_ERROR
        )));
    }
    if multi.failed {
        unwatch_all(ctx.conn);
        return Err(CmdError::raw(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    let parsed = &multi.queued;
    let mut tx = schedule_exec(ctx.conn, parsed);
    if watched_keys_changed(ctx.conn, &mut tx) {
        if let Some(tx) = tx {
            tx.conclude();
        }
        unwatch_all(ctx.conn);
        ctx.reply().null_array();
        return Ok(());
    }
    ctx.reply().array_header(parsed.len());
    let limits = &ctx.server.client_limits;
    limits.refresh(&ctx.server.config);
    // Squashed even on one shard: one hop for the whole run instead of one per command.
    // A restricted user's commands are checked one by one as they run.
    let squash = limits.multi_exec_squash() && ctx.conn.acl.fast;
    let mut i = 0;
    while i < parsed.len() {
        if let (true, Some(t)) = (squash, tx.as_mut()) {
            // Consecutive single-shard commands: one hop per shard, shards in parallel.
            let rest = parsed[i..]
                .iter()
                .map(|p| (Args::new(&p.raw, &p.args), p.found));
            let run = squash::squashable_run(ctx.server.shards, rest);
            if run.len() > 1 {
                i += run.len();
                // The last run releases the shards it ran on: no separate conclude hop there.
                let hops = if i == parsed.len() {
                    Hops::Last(t)
                } else {
                    Hops::In(t)
                };
                squash::run(ctx.server, ctx.conn, &run, ctx.out, hops);
                squash::recycle(run);
                continue;
            }
            squash::recycle(run);
        }
        let args = Args::new(&parsed[i].raw, &parsed[i].args);
        let exec = match tx.as_mut() {
            Some(t) => Exec::scheduled(t),
            None => Exec::now(),
        };
        conn::execute_with(ctx.server, ctx.conn, &args, parsed[i].found, ctx.out, exec);
        i += 1;
    }
    if let Some(tx) = tx {
        tx.conclude();
    }
    unwatch_all(ctx.conn);
    Ok(())
}

/// One transaction over every key the queued commands and the watched keys name; whole
/// shards when a command without keys writes or administers (FLUSHALL, SWAPDB, DEBUG). None
/// when nothing touches a shard (PING, ECHO...).
fn schedule_exec(conn: &ConnState, parsed: &[Queued]) -> Option<Transaction> {
    let mut keys: Vec<&[u8]> = Vec::new();
    let mut global = false;
    for p in parsed {
        let args = Args::new(&p.raw, &p.args);
        let Some((_, mut spec)) = p.found else {
            continue;
        };
        // Container commands (OBJECT ENCODING key, MEMORY USAGE key) name keys per subcommand.
        if !spec.subcommands.is_empty() && args.len() > 1 {
            spec = spec.subcommand(args.get(1)).unwrap_or(spec);
        }
        // A script's keys are known only as it runs: EXEC holds every shard for it.
        if matches!(
            spec.name,
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
        ) {
            global = true;
        }
        let before = keys.len();
        keys.extend(spec.keys_in(&args).into_iter().map(|i| args.get(i)));
        if keys.len() == before && spec.flags & (WRITE | ADMIN) != 0 {
            global = true;
        }
    }
    keys.extend(conn.watched.iter().map(|w| &w.key[..]));
    if global {
        return Some(Transaction::schedule_global());
    }
    if keys.is_empty() {
        return None;
    }
    let plan = KeyPlan::new(keys.into_iter(), LockMode::Exclusive);
    Some(Transaction::schedule(&plan.locks()))
}

/// Inside the transaction, true when a watched key was written, deleted, expired or flushed
/// since WATCH.
fn watched_keys_changed(conn: &ConnState, tx: &mut Option<Transaction>) -> bool {
    if conn.watched.is_empty() {
        return false;
    }
    let tx = tx
        .as_mut()
        .expect("watched keys are part of the transaction");
    let n = damselfly_runtime::proactor_count();
    let now = clock::wall_now_ms();
    let mut shards: Vec<usize> = conn
        .watched
        .iter()
        .map(|w| shard_of(key_hash(&w.key), n))
        .collect();
    shards.sort_unstable();
    shards.dedup();
    let watched = &conn.watched;
    tx.execute(&shards, false, &|s| {
        let mut slice = s.db.borrow_mut();
        watched
            .iter()
            .filter(|w| shard_of(key_hash(&w.key), n) == s.index)
            .any(|w| {
                // A key that expired since WATCH counts as changed: removing it bumps it.
                slice.exists(w.db, &w.key, now);
                slice.watched_version(w.db, &w.key) != Some(w.version)
            })
    })
    .into_iter()
    .any(|changed| changed)
}

pub fn commands() -> Vec<CommandSpec> {
    let c = |name, arity, flags, keys: (i32, i32, i32), acl, summary, handler| CommandSpec {
        name,
        arity,
        flags,
        acl,
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        group: "transactions",
        summary,
        since: if name == "watch" || name == "unwatch" {
            "2.2.0"
        } else {
            "1.2.0"
        },
        handler,
        subcommands: Vec::new(),
    };
    let quick: &'static [&'static str] = &["@fast", "@transaction"];
    vec![
        c(
            "multi",
            1,
            NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
            (0, 0, 0),
            quick,
            "Starts a transaction.",
            cmd_multi,
        ),
        c(
            "exec",
            1,
            NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
            (0, 0, 0),
            &["@slow", "@transaction"],
            "Executes all commands in a transaction.",
            cmd_exec,
        ),
        c(
            "discard",
            1,
            NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
            (0, 0, 0),
            quick,
            "Discards a transaction.",
            cmd_discard,
        ),
        c(
            "watch",
            -2,
            NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
            (1, -1, 1),
            quick,
            "Monitors changes to keys to determine the execution of a transaction.",
            cmd_watch,
        ),
        c(
            "unwatch",
            1,
            NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
            (0, 0, 0),
            quick,
            "Forgets about watched keys of a transaction.",
            cmd_unwatch,
        ),
    ]
}
