//! Consumer-group commands: XGROUP (CREATE SETID DESTROY CREATECONSUMER DELCONSUMER HELP),
//! XACK, XPENDING, XCLAIM, XAUTOCLAIM — Redis 7.0's semantics and error texts.

use crate::args::{parse_i64, Args};
use crate::ctx::{now_ms, CmdCtx};
use crate::error::{CmdError, CmdResult, OpResult};
use crate::families::server_family::{help_reply, sub_arity};
use crate::families::stream_family::{
    bulk_id, parse_id_full, parse_interval, parse_strict_id, peek_stream, read_stream,
    signal_ready, write_entry, write_stream,
};
use crate::notify::{self, class};
use crate::registry::{command, flags::*, CommandSpec};
use crate::shard::{key_hash, Shard};
use crate::tx::locks::LockMode;
use damselfly_protocol::ReplyWriter;
use damselfly_shards::stream::ENTRIES_READ_INVALID;
use damselfly_shards::stream_group::{Group, Pending};
use damselfly_shards::{CompactValue, Stream, StreamId};

pub fn nogroup(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::raw(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// Redis's `addReplySubcommandSyntaxError`.
fn sub_syntax(cmd: &str, sub: &[u8]) -> CmdError {
    CmdError::raw(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {cmd} HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)])
    ))
}

const XGROUP_HELP: &[&str] = &[
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sub {
    Create,
    SetId,
    Destroy,
    CreateConsumer,
    DelConsumer,
}

/// What an XGROUP subcommand answers.
enum GroupReply {
    Ok,
    Int(i64),
}

#[allow(clippy::too_many_arguments)]
fn op_xgroup(
    s: &Shard,
    db: usize,
    args: &Args<'_>,
    sub: Sub,
    mkstream: bool,
    entries_read: i64,
    now: u64,
) -> OpResult<GroupReply> {
    let (key, name) = (args.get(2), args.get(3));
    let exists = peek_stream(s, db, key, now, |st| st.groups.contains_key(name))?;
    if !mkstream {
        let Some(has_group) = exists else {
            return Err(CmdError::raw(
                "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
            ));
        };
        if !has_group && matches!(sub, Sub::SetId | Sub::CreateConsumer | Sub::DelConsumer) {
            return Err(CmdError::raw(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(key)
            )));
        }
    }
    match sub {
        Sub::Create => {
            let id_arg = args.get(4);
            let given = if id_arg == b"$" {
                None
            } else {
                Some(parse_strict_id(id_arg)?)
            };
            if exists.is_none() {
                let mut dbs = s.db.borrow_mut();
                let (mut slot, _) = dbs.add_or_find(db, key, now);
                *slot = CompactValue::from_object(Box::new(Stream::new()));
            }
            let created = write_stream(s, db, key, now, |st| {
                let id = given.unwrap_or(st.last_id);
                if st.groups.contains_key(name) {
                    return false;
                }
                st.groups.insert(name.into(), Group::new(id, entries_read));
                true
            })?
            .expect("the stream exists");
            if !created {
                return Err(CmdError::raw(
                    "BUSYGROUP Consumer Group name already exists",
                ));
            }
            notify::keyspace_event(class::STREAM, "xgroup-create", key, db);
            Ok(GroupReply::Ok)
        }
        Sub::SetId => {
            let id_arg = args.get(4);
            let given = if id_arg == b"$" {
                None
            } else {
                Some(parse_id_full(id_arg, 0, false, false)?.id)
            };
            write_stream(s, db, key, now, |st| {
                let id = given.unwrap_or(st.last_id);
                let g = st.groups.get_mut(name).expect("checked group");
                g.last_id = id;
                g.entries_read = entries_read;
            })?;
            notify::keyspace_event(class::STREAM, "xgroup-setid", key, db);
            Ok(GroupReply::Ok)
        }
        Sub::Destroy => {
            let gone = write_stream(s, db, key, now, |st| st.groups.remove(name).is_some())?
                .unwrap_or(false);
            if gone {
                notify::keyspace_event(class::STREAM, "xgroup-destroy", key, db);
                // Blocked XREADGROUP clients of the group get NOGROUP.
                signal_ready(s, db, key);
            }
            Ok(GroupReply::Int(i64::from(gone)))
        }
        Sub::CreateConsumer => {
            let consumer = args.get(4);
            let created = write_stream(s, db, key, now, |st| {
                let g = st.groups.get_mut(name).expect("checked group");
                g.create_consumer(consumer, now)
            })?
            .unwrap_or(false);
            if created {
                notify::keyspace_event(class::STREAM, "xgroup-createconsumer", key, db);
            }
            Ok(GroupReply::Int(i64::from(created)))
        }
        Sub::DelConsumer => {
            let consumer = args.get(4);
            let pending = write_stream(s, db, key, now, |st| {
                let g = st.groups.get_mut(name).expect("checked group");
                g.delete_consumer(consumer)
            })?
            .flatten();
            if pending.is_some() {
                notify::keyspace_event(class::STREAM, "xgroup-delconsumer", key, db);
            }
            Ok(GroupReply::Int(pending.unwrap_or(0) as i64))
        }
    }
}

fn cmd_xgroup(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let sub_arg = args.get(1);
    let lower = String::from_utf8_lossy(sub_arg).to_ascii_lowercase();
    let (sub, arity) = match lower.as_str() {
        "help" => {
            sub_arity(args, 2, "xgroup|help")?;
            help_reply(ctx, "XGROUP", XGROUP_HELP);
            return Ok(());
        }
        "create" => (Sub::Create, -5),
        "setid" => (Sub::SetId, -5),
        "destroy" => (Sub::Destroy, 4),
        "createconsumer" => (Sub::CreateConsumer, 5),
        "delconsumer" => (Sub::DelConsumer, 5),
        _ => return Err(CmdError::unknown_subcommand("xgroup", sub_arg)),
    };
    sub_arity(args, arity, &format!("xgroup|{lower}"))?;
    let mut mkstream = false;
    let mut entries_read = ENTRIES_READ_INVALID;
    let mut i = 5;
    while i < args.len() {
        let a = args.get(i);
        if sub == Sub::Create && a.eq_ignore_ascii_case(b"mkstream") {
            mkstream = true;
            i += 1;
        } else if matches!(sub, Sub::Create | Sub::SetId)
            && a.eq_ignore_ascii_case(b"entriesread")
            && i + 1 < args.len()
        {
            entries_read = parse_i64(args.get(i + 1))?;
            if entries_read < 0 && entries_read != ENTRIES_READ_INVALID {
                return Err(CmdError::raw(
                    "ERR value for ENTRIESREAD must be positive or -1",
                ));
            }
            i += 2;
        } else {
            return Err(sub_syntax("XGROUP", sub_arg));
        }
    }
    let ok_count = match sub {
        Sub::Create => args.len() <= 8,
        Sub::SetId => args.len() == 5 || args.len() == 7,
        _ => true,
    };
    let (db, key, now) = (ctx.db(), args.get(2), now_ms());
    // The key and group checks come before the count check, as in Redis.
    let r = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            if !ok_count {
                peek_stream(s, db, key, now, |st| st.groups.contains_key(args.get(3)))?
                    .ok_or_else(|| CmdError::raw("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."))?;
                return Err(sub_syntax("XGROUP", sub_arg));
            }
            op_xgroup(s, db, args, sub, mkstream, entries_read, now)
        })?;
    match r {
        GroupReply::Ok => ctx.reply().ok(),
        GroupReply::Int(n) => ctx.reply().integer(n),
    }
    Ok(())
}

// ---- XACK ------------------------------------------------------------------------------

fn cmd_xack(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, group, now) = (ctx.db(), args.get(1), args.get(2), now_ms());
    let n = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            let has = peek_stream(s, db, key, now, |st| st.groups.contains_key(group))?;
            if has != Some(true) {
                return Ok(0);
            }
            // Every id is checked before any is acknowledged; they are parsed again below
            // rather than collected (no allocation per call).
            for a in args.rest(3) {
                parse_strict_id(a)?;
            }
            Ok::<_, CmdError>(
                write_stream(s, db, key, now, |st| {
                    let g = st.groups.get_mut(group).expect("checked group");
                    args.rest(3)
                        .filter(|a| g.ack(parse_strict_id(a).expect("checked above")))
                        .count()
                })?
                .unwrap_or(0),
            )
        })?;
    ctx.reply().integer(n as i64);
    Ok(())
}

// ---- XPENDING --------------------------------------------------------------------------

struct PendingRange {
    start: StreamId,
    end: StreamId,
    count: usize,
    min_idle: i64,
    consumer: Option<Vec<u8>>,
}

fn parse_pending(args: &Args<'_>) -> OpResult<Option<PendingRange>> {
    let n = args.len();
    if n != 3 && !(6..=9).contains(&n) {
        return Err(CmdError::Syntax);
    }
    if n == 3 {
        return Ok(None);
    }
    let mut at = 3;
    let mut min_idle = 0;
    if args.get(3).eq_ignore_ascii_case(b"idle") {
        min_idle = parse_i64(args.get(4))?;
        if n < 8 {
            return Err(CmdError::Syntax);
        }
        at += 2;
    }
    let count = parse_i64(args.get(at + 2))?.max(0) as usize;
    let (mut start, ex) = parse_interval(args.get(at), 0)?;
    if ex {
        start = start
            .next()
            .ok_or_else(|| CmdError::raw("ERR invalid start ID for the interval"))?;
    }
    let (mut end, ex) = parse_interval(args.get(at + 1), u64::MAX)?;
    if ex {
        end = end
            .prev()
            .ok_or_else(|| CmdError::raw("ERR invalid end ID for the interval"))?;
    }
    let consumer = (at + 3 < n).then(|| args.get(at + 3).to_vec());
    Ok(Some(PendingRange {
        start,
        end,
        count,
        min_idle,
        consumer,
    }))
}

fn write_pending(
    out: &mut Vec<u8>,
    ctx_resp: damselfly_protocol::RespVersion,
    g: &Group,
    range: &Option<PendingRange>,
    now: u64,
) {
    let mut r = ReplyWriter::new(out, ctx_resp);
    let Some(pr) = range else {
        r.array_header(4);
        r.integer(g.pel.len() as i64);
        match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(first), Some(last)) => {
                bulk_id(&mut r, *first);
                bulk_id(&mut r, *last);
                let owners: Vec<_> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .collect();
                r.array_header(owners.len());
                for (name, c) in owners {
                    r.array_header(2);
                    r.bulk(name);
                    r.bulk_integer(c.pel.len() as i64);
                }
            }
            _ => {
                r.null();
                r.null();
                r.null_array();
            }
        }
        return;
    };
    let ids: Box<dyn Iterator<Item = StreamId>> = match &pr.consumer {
        Some(name) => match g.consumers.get(name.as_slice()) {
            None => {
                r.array_header(0);
                return;
            }
            Some(c) => Box::new(c.pel.range(pr.start..).copied()),
        },
        None => Box::new(g.pel.range(pr.start..).map(|(k, _)| *k)),
    };
    let mut rows: Vec<(StreamId, &Pending)> = Vec::new();
    if pr.start <= pr.end {
        for id in ids {
            if rows.len() >= pr.count || id > pr.end {
                break;
            }
            let p = &g.pel[&id];
            if pr.min_idle != 0 && (now as i64 - p.delivery_time as i64) < pr.min_idle {
                continue;
            }
            rows.push((id, p));
        }
    }
    r.array_header(rows.len());
    for (id, p) in rows {
        r.array_header(4);
        bulk_id(&mut r, id);
        r.bulk(&p.consumer);
        r.integer((now as i64 - p.delivery_time as i64).max(0));
        r.integer(p.delivery_count as i64);
    }
}

fn cmd_xpending(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let range = parse_pending(args)?;
    let (db, key, group, now, resp) = (ctx.db(), args.get(1), args.get(2), now_ms(), ctx.conn.resp);
    let out = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        let mut out = Vec::new();
        let found = read_stream(s, db, key, now, |st| match st.groups.get(group) {
            None => false,
            Some(g) => {
                write_pending(&mut out, resp, g, &range, now);
                true
            }
        })?;
        if found != Some(true) {
            return Err(nogroup(key, group));
        }
        Ok(out)
    })?;
    ctx.out.extend_from_slice(&out);
    Ok(())
}

// ---- XCLAIM XAUTOCLAIM -----------------------------------------------------------------

/// Moves the PEL entry `id` of `g` to `consumer` (created if missing) with the given time.
fn claim_to(
    g: &mut Group,
    id: StreamId,
    consumer: &[u8],
    time: u64,
    count: Option<u64>,
    bump: bool,
    created: &mut bool,
) {
    if !g.consumers.contains_key(consumer) {
        *created = true;
    }
    g.touch_consumer(consumer, time.max(now_ms()));
    let p = g.pel.get_mut(&id).expect("pending");
    if &*p.consumer != consumer {
        let name = g
            .consumers
            .get_key_value(consumer)
            .expect("touched")
            .0
            .clone();
        let old = std::mem::replace(&mut p.consumer, name);
        if let Some(c) = g.consumers.get_mut(&old) {
            c.pel.remove(&id);
        }
    }
    p.delivery_time = time;
    match count {
        Some(n) => p.delivery_count = n,
        None if bump => p.delivery_count += 1,
        None => {}
    }
    g.consumers
        .get_mut(consumer)
        .expect("consumer")
        .pel
        .insert(id);
}

struct ClaimArgs {
    min_idle: i64,
    ids: Vec<StreamId>,
    time: Option<i64>,
    idle: Option<i64>,
    retry: Option<u64>,
    force: bool,
    justid: bool,
    last_id: StreamId,
}

fn parse_claim(args: &Args<'_>) -> OpResult<ClaimArgs> {
    let bad = |what: &str| CmdError::raw(format!("ERR Invalid {what} argument for XCLAIM"));
    let mut c = ClaimArgs {
        min_idle: parse_i64(args.get(4))
            .map_err(|_| bad("min-idle-time"))?
            .max(0),
        ids: Vec::new(),
        time: None,
        idle: None,
        retry: None,
        force: false,
        justid: false,
        last_id: StreamId::MIN,
    };
    let mut j = 5;
    while j < args.len() {
        match parse_strict_id(args.get(j)) {
            Ok(id) => c.ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = args.get(j);
        let int = |what: &str| {
            parse_i64(args.get(j + 1)).map_err(|_| {
                CmdError::raw(format!("ERR Invalid {what} option argument for XCLAIM"))
            })
        };
        if opt.eq_ignore_ascii_case(b"force") {
            c.force = true;
        } else if opt.eq_ignore_ascii_case(b"justid") {
            c.justid = true;
        } else if opt.eq_ignore_ascii_case(b"idle") && more > 0 {
            c.idle = Some(int("IDLE")?);
            c.time = None;
            j += 1;
        } else if opt.eq_ignore_ascii_case(b"time") && more > 0 {
            c.time = Some(int("TIME")?);
            c.idle = None;
            j += 1;
        } else if opt.eq_ignore_ascii_case(b"retrycount") && more > 0 {
            let n = int("RETRYCOUNT")?;
            c.retry = (n >= 0).then_some(n as u64);
            j += 1;
        } else if opt.eq_ignore_ascii_case(b"lastid") && more > 0 {
            c.last_id = parse_strict_id(args.get(j + 1))?;
            j += 1;
        } else {
            return Err(CmdError::raw(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
        j += 1;
    }
    Ok(c)
}

fn cmd_xclaim(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, group, consumer, resp) = (
        ctx.db(),
        args.get(1),
        args.get(2),
        args.get(3),
        ctx.conn.resp,
    );
    let now = now_ms();
    let out = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            if peek_stream(s, db, key, now, |st| st.groups.contains_key(group))? != Some(true) {
                return Err(nogroup(key, group));
            }
            let c = parse_claim(args)?;
            let mut created = false;
            let mut out = Vec::new();
            write_stream(s, db, key, now, |st| {
                let mut body = Vec::new();
                let mut n = 0;
                let mut w = ReplyWriter::new(&mut body, resp);
                let mut g = st.groups.remove(group).expect("checked group");
                if c.last_id > g.last_id {
                    g.last_id = c.last_id;
                }
                let nowi = now as i64;
                let time = match (c.idle, c.time) {
                    (Some(idle), _) => nowi - idle,
                    (_, Some(t)) => t,
                    _ => nowi,
                };
                let time = if time < 0 || time > nowi {
                    now
                } else {
                    time as u64
                };
                for &id in &c.ids {
                    let pending = g.pel.contains_key(&id);
                    if st.get(id, |_| ()).is_none() {
                        if pending {
                            g.ack(id);
                        }
                        continue;
                    }
                    let mut fresh = false;
                    if c.force && !pending {
                        g.pel.insert(
                            id,
                            Pending {
                                consumer: (&[][..]).into(),
                                delivery_time: now,
                                delivery_count: 1,
                            },
                        );
                        fresh = true;
                    }
                    if !g.pel.contains_key(&id) {
                        continue;
                    }
                    if !fresh && c.min_idle > 0 {
                        let idle = nowi - g.pel[&id].delivery_time as i64;
                        if idle < c.min_idle {
                            continue;
                        }
                    }
                    claim_to(&mut g, id, consumer, time, c.retry, !c.justid, &mut created);
                    if c.justid {
                        bulk_id(&mut w, id);
                    } else {
                        st.get(id, |e| write_entry(&mut w, &e));
                    }
                    n += 1;
                }
                st.groups.insert(group.into(), g);
                ReplyWriter::new(&mut out, resp).array_header(n);
                out.extend_from_slice(&body);
            })?;
            if created {
                notify::keyspace_event(class::STREAM, "xgroup-createconsumer", key, db);
            }
            Ok(out)
        })?;
    ctx.out.extend_from_slice(&out);
    Ok(())
}

fn cmd_xautoclaim(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let min_idle = parse_i64(args.get(4))
        .map_err(|_| CmdError::raw("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let (mut start, ex) = parse_interval(args.get(5), 0)?;
    if ex {
        start = start
            .next()
            .ok_or_else(|| CmdError::raw("ERR invalid start ID for the interval"))?;
    }
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = args.get(j);
        if opt.eq_ignore_ascii_case(b"count") && more > 0 {
            let max = i64::MAX / 10;
            count = match parse_i64(args.get(j + 1)) {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => return Err(CmdError::raw("ERR COUNT must be > 0")),
            };
            j += 1;
        } else if opt.eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let (db, key, group, consumer, resp) = (
        ctx.db(),
        args.get(1),
        args.get(2),
        args.get(3),
        ctx.conn.resp,
    );
    let now = now_ms();
    let out = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            if peek_stream(s, db, key, now, |st| st.groups.contains_key(group))? != Some(true) {
                return Err(nogroup(key, group));
            }
            let mut created = false;
            let mut out = Vec::new();
            write_stream(s, db, key, now, |st| {
                let mut g = st.groups.remove(group).expect("checked group");
                let mut body = Vec::new();
                let mut w = ReplyWriter::new(&mut body, resp);
                let (mut n, mut left, mut attempts) = (0usize, count, count.saturating_mul(10));
                let mut deleted = Vec::new();
                let mut cursor = start;
                let mut exhausted = false;
                while attempts > 0 && left > 0 {
                    attempts -= 1;
                    let Some((&id, p)) = g.pel.range(cursor..).next() else {
                        exhausted = true;
                        break;
                    };
                    let idle = now as i64 - p.delivery_time as i64;
                    cursor = match id.next() {
                        Some(next) => next,
                        None => {
                            exhausted = true;
                            StreamId::MAX
                        }
                    };
                    if st.get(id, |_| ()).is_none() {
                        g.ack(id);
                        deleted.push(id);
                        left -= 1;
                    } else if min_idle == 0 || idle >= min_idle {
                        claim_to(&mut g, id, consumer, now, None, !justid, &mut created);
                        if justid {
                            bulk_id(&mut w, id);
                        } else {
                            st.get(id, |e| write_entry(&mut w, &e));
                        }
                        n += 1;
                        left -= 1;
                    }
                    if exhausted {
                        break;
                    }
                }
                let end = if exhausted {
                    StreamId::MIN
                } else {
                    g.pel
                        .range(cursor..)
                        .next()
                        .map_or(StreamId::MIN, |(k, _)| *k)
                };
                st.groups.insert(group.into(), g);
                let mut r = ReplyWriter::new(&mut out, resp);
                r.array_header(3);
                bulk_id(&mut r, end);
                r.array_header(n);
                out.extend_from_slice(&body);
                let mut r = ReplyWriter::new(&mut out, resp);
                r.array_header(deleted.len());
                for id in deleted {
                    bulk_id(&mut r, id);
                }
            })?;
            if created {
                notify::keyspace_event(class::STREAM, "xgroup-createconsumer", key, db);
            }
            Ok(out)
        })?;
    ctx.out.extend_from_slice(&out);
    Ok(())
}

pub fn commands() -> Vec<CommandSpec> {
    let w = &["@write", "@stream", "@fast"];
    let one = (1, 1, 1);
    vec![
        command("xack", -4, WRITE | FAST, w, one, "stream", "5.0.0", "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.", cmd_xack),
        command("xpending", -3, READONLY, &["@read", "@stream", "@slow"], one, "stream", "5.0.0", "Returns the information and entries from a stream consumer group's pending entries list.", cmd_xpending),
        command("xclaim", -6, WRITE | FAST, w, one, "stream", "5.0.0", "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.", cmd_xclaim),
        command("xautoclaim", -6, WRITE | FAST, w, one, "stream", "6.2.0", "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.", cmd_xautoclaim),
        command("xgroup", -2, 0, &["@slow"], (0, 0, 0), "stream", "5.0.0", "A container for consumer groups commands.", cmd_xgroup).with_subcommands(|c| {
            let acl = &["@write", "@stream", "@slow"];
            let key = (2, 2, 1);
            vec![
                c.sub("xgroup|create", -5, WRITE | DENYOOM, acl, key, "5.0.0", "Creates a consumer group."),
                c.sub("xgroup|createconsumer", 5, WRITE | DENYOOM, acl, key, "6.2.0", "Creates a consumer in a consumer group."),
                c.sub("xgroup|delconsumer", 5, WRITE, acl, key, "5.0.0", "Deletes a consumer from a consumer group."),
                c.sub("xgroup|destroy", 4, WRITE, acl, key, "5.0.0", "Destroys a consumer group."),
                c.sub("xgroup|setid", -5, WRITE, acl, key, "5.0.0", "Sets the last-delivered ID of a consumer group."),
                c.sub("xgroup|help", 2, LOADING | STALE, &["@stream", "@slow"], (0, 0, 0), "5.0.0", "Returns helpful text about the different subcommands."),
            ]
        }),
    ]
}
