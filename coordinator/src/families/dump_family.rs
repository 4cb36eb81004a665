//! DUMP and RESTORE: a key's value as redis-server's payload (RDB type and value, RDB
//! version, CRC64; see damselfly-persistence), so values move between Damselfly and Redis.
//!
//! RESTORE checks in Redis's order: options, then an existing key (BUSYKEY, unless REPLACE),
//! then the TTL, then the payload's footer, then its contents. The payload is decoded on the
//! coordinator before the hop, so the shard only checks the key and stores the value.
//!
//! IDLETIME and FREQ set the restored key's access clock as Redis's objectSetLRUOrLFU does:
//! IDLETIME under an LRU policy, FREQ under an LFU one, the other ignored.

use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult, OpResult};
use crate::families::keyspace_family::Handoff;
use crate::families::string_family::count_lookup;
use crate::registry::{command, flags::*, CommandSpec};
use crate::shard::{key_hash, Shard};
use crate::tx::locks::LockMode;
use damselfly_persistence as rdb;
use damselfly_runtime::clock;
use damselfly_shards::CompactValue;

const BUSY_KEY: &str = "BUSYKEY Target key name already exists.";
const BAD_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
const BAD_DATA: &str = "ERR Bad data format";

fn op_dump(shard: &Shard, db: usize, key: &[u8], now: u64) -> OpResult<Option<Vec<u8>>> {
    let mut dbs = shard.db.borrow_mut();
    let value = dbs.find(db, key, now);
    count_lookup(value.is_some());
    let Some(value) = value else {
        return Ok(None);
    };
    rdb::dump::dump(value)
        .map(Some)
        .map_err(|e| CmdError::raw(format!("ERR DUMP is not supported for this value: {e}")))
}

fn cmd_dump(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), clock::wall_now_ms());
    let payload = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        op_dump(s, db, key, now)
    })?;
    let mut r = ctx.reply();
    match payload {
        Some(p) => r.bulk(&p),
        None => r.null(),
    }
    Ok(())
}

/// RESTORE's options after the payload.
struct RestoreOptions {
    replace: bool,
    absttl: bool,
    idle_secs: Option<u64>,
    freq: Option<u8>,
}

/// Redis's option loop: IDLETIME and FREQ exclude each other (the second is a syntax error).
fn parse_restore_options(args: &Args<'_>) -> OpResult<RestoreOptions> {
    let mut opts = RestoreOptions {
        replace: false,
        absttl: false,
        idle_secs: None,
        freq: None,
    };
    let mut i = 4;
    while i < args.len() {
        let a = args.get(i);
        let has_value = i + 1 < args.len();
        if eq_ignore_case(a, "replace") {
            opts.replace = true;
        } else if eq_ignore_case(a, "absttl") {
            opts.absttl = true;
        } else if eq_ignore_case(a, "idletime") && has_value && opts.freq.is_none() {
            let idle = parse_i64(args.get(i + 1))?;
            if idle < 0 {
                return Err(CmdError::raw("ERR Invalid IDLETIME value, must be >= 0"));
            }
            opts.idle_secs = Some(idle as u64);
            i += 1;
        } else if eq_ignore_case(a, "freq") && has_value && opts.idle_secs.is_none() {
            let freq = parse_i64(args.get(i + 1))?;
            if !(0..=255).contains(&freq) {
                return Err(CmdError::raw(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            opts.freq = Some(freq as u8);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(opts)
}

/// What the shard stores once the key check passes: a value with its deadline, or nothing
/// when the deadline has already passed (the old key is still deleted under REPLACE).
enum Restore {
    Store(Handoff<CompactValue>, Option<u64>),
    Expired,
}

/// The TTL and the payload, checked and decoded (errors kept for after the key check).
fn prepare(ctx: &CmdCtx<'_>, args: &Args<'_>, absttl: bool, now: u64) -> OpResult<Restore> {
    let ttl = parse_i64(args.get(2))?;
    if ttl < 0 {
        return Err(CmdError::raw("ERR Invalid TTL value, must be >= 0"));
    }
    let payload = args.get(3);
    if !rdb::dump::verify(payload) {
        return Err(CmdError::raw(BAD_PAYLOAD));
    }
    let value = rdb::dump::restore(payload, &ctx.limits()).map_err(|e| {
        // Corrupt data is the client's business; a type this build cannot hold is worth
        // telling the operator (redis-server logs both).
        if let rdb::RdbError::Unsupported(_) = e {
            log::warn!("RESTORE refused: {e}");
        }
        CmdError::raw(BAD_DATA)
    })?;
    let deadline = match ttl as u64 {
        0 => None,
        t if absttl => Some(t),
        // redis-server adds the clock to the TTL in a signed 64-bit sum: past i64::MAX it
        // wraps to a deadline in the past, and the key is taken as already expired.
        t if t > i64::MAX as u64 - now => return Ok(Restore::Expired),
        t => Some(t + now),
    };
    if deadline.is_some_and(|d| d <= now) {
        return Ok(Restore::Expired);
    }
    Ok(Restore::Store(Handoff::new(value), deadline))
}

fn cmd_restore(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let opts = parse_restore_options(args)?;
    let (db, key, now) = (ctx.db(), args.get(1), clock::wall_now_ms());
    let prepared = prepare(ctx, args, opts.absttl, now);
    // The policy as configured now, not as the shard last saw it on its heartbeat.
    let clock = crate::eviction::clock_settings(ctx.server);
    ctx.exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            let mut dbs = s.db.borrow_mut();
            dbs.set_clock_settings(clock);
            if !opts.replace && dbs.exists(db, key, now) {
                return Err(CmdError::raw(BUSY_KEY));
            }
            match prepared.as_ref().map_err(Clone::clone)? {
                Restore::Expired => {
                    dbs.delete(db, key, now);
                }
                Restore::Store(value, deadline) => {
                    let value = value.take().expect("one shard stores the value");
                    dbs.insert_entry(db, key, value, *deadline, now);
                    dbs.set_access(db, key, opts.idle_secs, opts.freq, now);
                }
            }
            Ok(())
        })?;
    ctx.reply().ok();
    Ok(())
}

pub fn commands() -> Vec<CommandSpec> {
    let one = (1, 1, 1);
    vec![
        command(
            "dump",
            2,
            READONLY,
            &["@keyspace", "@read", "@slow"],
            one,
            "generic",
            "2.6.0",
            "Returns a serialized representation of the value stored at a key.",
            cmd_dump,
        ),
        command(
            "restore",
            -4,
            WRITE | DENYOOM,
            &["@keyspace", "@write", "@slow", "@dangerous"],
            one,
            "generic",
            "2.6.0",
            "Creates a key from the serialized representation of a value.",
            cmd_restore,
        ),
    ]
}
