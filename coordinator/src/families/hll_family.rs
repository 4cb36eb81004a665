//! HyperLogLog commands: PFADD PFCOUNT PFMERGE PFDEBUG PFSELFTEST. The values are strings in
//! Redis's HLL format (`damselfly_shards::hll`); keys on several shards are read and written
//! in one transaction.

use crate::args::Args;
use crate::ctx::{now_ms, CmdCtx};
use crate::error::{CmdError, CmdResult, OpResult};
use crate::families::string_family::count_lookup;
use crate::keys::KeyPlan;
use crate::notify::{self, class};
use crate::registry::{command, flags::*, CommandSpec};
use crate::shard::{key_hash, shard_of, Shard};
use crate::tx::locks::LockMode;
use damselfly_shards::hll::{self, Registers};
use damselfly_shards::{CompactValue, ObjType};

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

fn corrupt(_: hll::Corrupt) -> CmdError {
    CmdError::raw(CORRUPT)
}

fn sparse_max(ctx: &CmdCtx<'_>) -> usize {
    ctx.server.config.get_int("hll-sparse-max-bytes").max(0) as usize
}

/// The HLL string at `key`: None when missing, WRONGTYPE when not an HLL.
fn read_hll(s: &Shard, db: usize, key: &[u8], now: u64) -> OpResult<Option<Vec<u8>>> {
    let mut dbs = s.db.borrow_mut();
    let Some(v) = dbs.find(db, key, now) else {
        return Ok(None);
    };
    if v.obj_type() != ObjType::String {
        return Err(CmdError::WrongType);
    }
    let bytes = v.to_vec().expect("strings have bytes");
    if !hll::is_hll(&bytes) {
        return Err(CmdError::raw(NOT_HLL));
    }
    Ok(Some(bytes))
}

fn write_hll(s: &Shard, db: usize, key: &[u8], bytes: &[u8], now: u64) {
    let mut dbs = s.db.borrow_mut();
    let (mut slot, _) = dbs.add_or_find(db, key, now);
    *slot = CompactValue::from_bytes(bytes);
}

fn op_pfadd(
    s: &Shard,
    db: usize,
    key: &[u8],
    elements: &[&[u8]],
    sparse_max: usize,
    now: u64,
) -> OpResult<bool> {
    let existing = read_hll(s, db, key, now)?;
    let created = existing.is_none();
    let mut bytes = existing.unwrap_or_else(hll::new_sparse);
    let changed = hll::add(&mut bytes, elements.iter().copied(), sparse_max).map_err(corrupt)?;
    if created || changed {
        write_hll(s, db, key, &bytes, now);
        notify::keyspace_event(class::STRING, "pfadd", key, db);
    }
    Ok(created || changed)
}

fn cmd_pfadd(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now, max) = (ctx.db(), args.get(1), now_ms(), sparse_max(ctx));
    let elements: Vec<&[u8]> = (2..args.len()).map(|i| args.get(i)).collect();
    let updated = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_pfadd(s, db, key, &elements, max, now)
        })?;
    ctx.reply().integer(updated as i64);
    Ok(())
}

/// PFCOUNT of one key: the cached estimate, or a fresh one that is cached (a write, as in
/// Redis).
fn op_pfcount_one(s: &Shard, db: usize, key: &[u8], now: u64) -> OpResult<u64> {
    let found = read_hll(s, db, key, now)?;
    count_lookup(found.is_some());
    let Some(mut bytes) = found else {
        return Ok(0);
    };
    if let Some(card) = hll::cached(&bytes) {
        return Ok(card);
    }
    let card = hll::count(&bytes).map_err(corrupt)?;
    hll::set_cached(&mut bytes, card);
    write_hll(s, db, key, &bytes, now);
    Ok(card)
}

/// The register maxima of `keys` that live on `s`, and whether one of them was dense.
fn op_merge_local(
    s: &Shard,
    db: usize,
    keys: &[&[u8]],
    now: u64,
) -> OpResult<(Box<Registers>, bool)> {
    let n = damselfly_runtime::proactor_count();
    let mut max = Box::new([0u8; hll::REGISTERS]);
    let mut dense = false;
    for k in keys.iter().filter(|k| shard_of(key_hash(k), n) == s.index) {
        let found = read_hll(s, db, k, now)?;
        count_lookup(found.is_some());
        if let Some(bytes) = found {
            dense |= hll::is_dense(&bytes);
            hll::merge_into(&mut max, &bytes).map_err(corrupt)?;
        }
    }
    Ok((max, dense))
}

/// One shard's register maxima, and whether a dense HLL was among its keys.
type Partial = OpResult<(Box<Registers>, bool)>;

/// Merges every shard's answer. An error is the one of the first key (in argument order)
/// whose shard failed, as Redis stops at the first bad key.
fn combine(answers: Vec<Partial>, keys: &[&[u8]], shards: &[usize]) -> Partial {
    let n = damselfly_runtime::proactor_count();
    let failed = keys
        .iter()
        .filter_map(|k| shards.iter().position(|&s| s == shard_of(key_hash(k), n)))
        .find(|&at| answers[at].is_err());
    if let Some(at) = failed {
        return answers.into_iter().nth(at).expect("every shard answered");
    }
    let mut max = Box::new([0u8; hll::REGISTERS]);
    let mut dense = false;
    for (part, d) in answers.into_iter().flatten() {
        dense |= d;
        for (m, p) in max.iter_mut().zip(part.iter()) {
            *m = (*m).max(*p);
        }
    }
    Ok((max, dense))
}

fn cmd_pfcount(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, now) = (ctx.db(), now_ms());
    if args.len() == 2 {
        let key = args.get(1);
        let card = ctx
            .exec
            .single_key(key_hash(key), LockMode::Exclusive, &|s| {
                op_pfcount_one(s, db, key, now)
            })?;
        ctx.reply().integer(card as i64);
        return Ok(());
    }
    let keys: Vec<&[u8]> = (1..args.len()).map(|i| args.get(i)).collect();
    let plan = KeyPlan::new(keys.iter().copied(), LockMode::Shared);
    let shards = plan.shards();
    let tx = ctx.exec.schedule(&plan);
    let answers = tx.execute_all(&|s| op_merge_local(s, db, &keys, now));
    let (max, _) = combine(answers, &keys, &shards)?;
    ctx.reply().integer(hll::estimate(&max) as i64);
    Ok(())
}

fn cmd_pfmerge(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, now, max_bytes) = (ctx.db(), now_ms(), sparse_max(ctx));
    let dst = args.get(1);
    // The destination is a source too (Redis merges it and checks its type).
    let keys: Vec<&[u8]> = (1..args.len()).map(|i| args.get(i)).collect();
    let plan = KeyPlan::new(keys.iter().copied(), LockMode::Exclusive);
    let shards = plan.shards();
    let mut tx = ctx.exec.schedule(&plan);
    let answers = tx.execute(&shards, false, &|s| op_merge_local(s, db, &keys, now));
    let merged = combine(answers, &keys, &shards);
    let (max, dense) = match merged {
        Ok(m) => m,
        Err(e) => {
            tx.conclude();
            return Err(e);
        }
    };
    let dst_shard = shard_of(key_hash(dst), damselfly_runtime::proactor_count());
    tx.execute_all(&|s| {
        if s.index != dst_shard {
            return;
        }
        let mut bytes = match read_hll(s, db, dst, now) {
            Ok(Some(b)) => b,
            _ => hll::new_sparse(),
        };
        hll::store_merged(&mut bytes, &max, dense, max_bytes);
        write_hll(s, db, dst, &bytes, now);
        notify::keyspace_event(class::STRING, "pfadd", dst, db);
    });
    ctx.reply().ok();
    Ok(())
}

/// What PFDEBUG answers for one subcommand.
enum Debug {
    Registers(Box<Registers>),
    Text(String),
    Status(&'static str),
    Converted(bool),
}

fn cmd_pfdebug(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(2), now_ms());
    let sub = String::from_utf8_lossy(args.get(1)).to_ascii_lowercase();
    let known = matches!(sub.as_str(), "getreg" | "decode" | "encoding" | "todense");
    let answer =
        ctx.exec.single_key(
            key_hash(key),
            LockMode::Exclusive,
            &|s| -> OpResult<Debug> {
                let Some(mut bytes) = read_hll(s, db, key, now)? else {
                    return Err(CmdError::raw("ERR The specified key does not exist"));
                };
                if known && args.len() != 3 {
                    return Err(CmdError::raw(format!(
                        "ERR Wrong number of arguments for the '{}' subcommand",
                        String::from_utf8_lossy(args.get(1))
                    )));
                }
                match sub.as_str() {
                    "getreg" => {
                        if hll::to_dense(&mut bytes).map_err(corrupt)? {
                            write_hll(s, db, key, &bytes, now);
                        }
                        Ok(Debug::Registers(hll::registers(&bytes).map_err(corrupt)?))
                    }
                    "decode" if hll::is_dense(&bytes) => {
                        Err(CmdError::raw("ERR HLL encoding is not sparse"))
                    }
                    "decode" => Ok(Debug::Text(hll::decode_text(&bytes))),
                    "encoding" => Ok(Debug::Status(if hll::is_dense(&bytes) {
                        "dense"
                    } else {
                        "sparse"
                    })),
                    "todense" => {
                        let converted = hll::to_dense(&mut bytes).map_err(corrupt)?;
                        if converted {
                            write_hll(s, db, key, &bytes, now);
                        }
                        Ok(Debug::Converted(converted))
                    }
                    _ => Err(CmdError::raw(format!(
                        "ERR Unknown PFDEBUG subcommand '{}'",
                        String::from_utf8_lossy(args.get(1))
                    ))),
                }
            },
        )?;
    let mut w = ctx.reply();
    match answer {
        Debug::Registers(regs) => {
            w.array_header(regs.len());
            for r in regs.iter() {
                w.integer(*r as i64);
            }
        }
        Debug::Text(t) => w.bulk(t.as_bytes()),
        Debug::Status(s) => w.simple(s.as_bytes()),
        Debug::Converted(c) => w.integer(c as i64),
    }
    Ok(())
}

fn cmd_pfselftest(ctx: &mut CmdCtx<'_>, _args: &Args<'_>) -> CmdResult {
    let seed = crate::random::random_seed() | 1;
    hll::self_test(sparse_max(ctx), seed).map_err(CmdError::raw)?;
    ctx.reply().ok();
    Ok(())
}

// ---- registration ----------------------------------------------------------------------------

#[rustfmt::skip]
pub fn commands() -> Vec<CommandSpec> {
    let c = |name, arity, flags, acl, keys, since, summary, handler| {
        command(name, arity, flags, acl, keys, "hyperloglog", since, summary, handler)
    };
    let (fast_write, slow_read): (&'static [&'static str], &'static [&'static str]) =
        (&["@write", "@hyperloglog", "@fast"], &["@read", "@hyperloglog", "@slow"]);
    let slow_write: &'static [&'static str] = &["@write", "@hyperloglog", "@slow"];
    let admin: &'static [&'static str] = &["@write", "@hyperloglog", "@admin", "@slow", "@dangerous"];
    vec![
        c("pfadd", -2, WRITE | DENYOOM | FAST, fast_write, (1, 1, 1), "2.8.9", "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.", cmd_pfadd),
        c("pfcount", -2, READONLY, slow_read, (1, -1, 1), "2.8.9", "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).", cmd_pfcount),
        c("pfmerge", -2, WRITE | DENYOOM, slow_write, (1, -1, 1), "2.8.9", "Merges one or more HyperLogLog values into a single key.", cmd_pfmerge),
        c("pfdebug", -3, WRITE | DENYOOM | ADMIN, admin, (2, 2, 1), "2.8.9", "Internal commands for debugging HyperLogLog values.", cmd_pfdebug),
        c("pfselftest", 1, ADMIN, &["@hyperloglog", "@admin", "@slow", "@dangerous"], (0, 0, 0), "2.8.9", "An internal command for testing HyperLogLog values.", cmd_pfselftest),
    ]
}
