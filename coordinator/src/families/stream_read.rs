//! XREAD and XREADGROUP, with BLOCK on the blocking machinery ([`crate::blocking`]).
//!
//! One transaction over the stream keys: the first hop checks every key in argument order
//! (WRONGTYPE, NOGROUP) and resolves `$`; the second serves what can be served; when nothing
//! can and BLOCK was given, a third registers the client on each key while the keys are still
//! locked, so an XADD either ran before (and was served) or signals the key after. A blocked
//! client is served on the key's shard by the XADD that made it servable, in arrival order.

use crate::args::{parse_i64, Args};
use crate::blocking::{Attempt, Blocked, ServeFn};
use crate::ctx::{now_ms, CmdCtx};
use crate::error::{CmdError, CmdResult, OpResult};
use crate::families::blocking_family::{run_blocking, Tried};
use crate::families::stream_family::{bulk_id, stream_of, write_entry, write_range};
use crate::families::string_family::count_lookup;
use crate::keys::KeyPlan;
use crate::notify::{self, class};
use crate::registry::{command, flags::*, CommandSpec};
use crate::shard::{key_hash, shard_of, Shard};
use crate::tx::locks::LockMode;
use damselfly_protocol::{ReplyWriter, RespVersion};
use damselfly_runtime::clock::{self, Time};
use damselfly_shards::stream::ENTRIES_READ_INVALID;
use damselfly_shards::stream_group::Group;
use damselfly_shards::{Stream, StreamId};
use std::time::Duration;

/// Entries a blocked XREAD gets at most when it gave no COUNT (Redis's default).
const BLOCKED_COUNT: usize = 1000;

/// An id argument of XREAD/XREADGROUP.
#[derive(Clone, Copy, Debug)]
enum ReadId {
    /// `$`: the stream's last id at the time of the call.
    Last,
    /// `>`: entries never delivered to the group.
    New,
    After(StreamId),
}

/// A parsed call: its strings borrowed from the arguments (`K = &[u8]`), or owned by a
/// blocked reader's serve step (`K = Vec<u8>`).
#[derive(Clone)]
struct ReadReq<K> {
    group: Option<(K, K)>,
    noack: bool,
    count: usize,
    block: Option<Option<Time>>,
    keys: Vec<K>,
    ids: Vec<Result<ReadId, CmdError>>,
}

impl<K: AsRef<[u8]>> ReadReq<K> {
    fn key(&self, i: usize) -> &[u8] {
        self.keys[i].as_ref()
    }

    fn group(&self) -> Option<(&[u8], &[u8])> {
        self.group.as_ref().map(|(g, c)| (g.as_ref(), c.as_ref()))
    }

    fn to_owned(&self) -> ReadReq<Vec<u8>> {
        ReadReq {
            group: self.group().map(|(g, c)| (g.to_vec(), c.to_vec())),
            noack: self.noack,
            count: self.count,
            block: self.block,
            keys: self.keys.iter().map(|k| k.as_ref().to_vec()).collect(),
            ids: self.ids.clone(),
        }
    }
}

/// The positions of XREAD/XREADGROUP's keys (after STREAMS, half of what follows), for
/// transactions around the command.
pub fn read_keys<'a>(argc: usize, arg: &dyn Fn(usize) -> &'a [u8]) -> Vec<usize> {
    let mut i = 1;
    while i < argc {
        let a = arg(i);
        if a.eq_ignore_ascii_case(b"streams") {
            let n = (argc - i - 1) / 2;
            return (i + 1..i + 1 + n).collect();
        }
        if a.eq_ignore_ascii_case(b"group") {
            i += 3;
        } else if a.eq_ignore_ascii_case(b"block") || a.eq_ignore_ascii_case(b"count") {
            i += 2;
        } else {
            i += 1;
        }
    }
    Vec::new()
}

fn parse_read<'a>(
    ctx: &CmdCtx<'_>,
    args: &Args<'a>,
    xreadgroup: bool,
) -> OpResult<ReadReq<&'a [u8]>> {
    let mut req = ReadReq {
        group: None,
        noack: false,
        count: 0,
        block: None,
        keys: Vec::new(),
        ids: Vec::new(),
    };
    let mut streams_at = 0;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let o = args.get(i);
        if o.eq_ignore_ascii_case(b"block") && more > 0 {
            if ctx.exec.scripted() {
                return Err(CmdError::raw(format!(
                    "ERR {} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(args.get(0))
                )));
            }
            i += 1;
            let ms = parse_i64(args.get(i))
                .map_err(|_| CmdError::raw("ERR timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(CmdError::raw("ERR timeout is negative"));
            }
            req.block = Some((ms > 0).then(|| clock::now() + Duration::from_millis(ms as u64)));
        } else if o.eq_ignore_ascii_case(b"count") && more > 0 {
            i += 1;
            req.count = parse_i64(args.get(i))?.max(0) as usize;
        } else if o.eq_ignore_ascii_case(b"streams") && more > 0 {
            streams_at = i + 1;
            let n = args.len() - streams_at;
            if !n.is_multiple_of(2) {
                return Err(CmdError::raw("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."));
            }
            break;
        } else if o.eq_ignore_ascii_case(b"group") && more >= 2 {
            if !xreadgroup {
                return Err(CmdError::raw(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            req.group = Some((args.get(i + 1), args.get(i + 2)));
            i += 2;
        } else if o.eq_ignore_ascii_case(b"noack") {
            if !xreadgroup {
                return Err(CmdError::raw(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            req.noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if streams_at == 0 {
        return Err(CmdError::Syntax);
    }
    if xreadgroup && req.group.is_none() {
        return Err(CmdError::raw("ERR Missing GROUP option for XREADGROUP"));
    }
    let n = (args.len() - streams_at) / 2;
    for k in 0..n {
        req.keys.push(args.get(streams_at + k));
        let a = args.get(streams_at + n + k);
        req.ids.push(match a {
            b"$" if xreadgroup => Err(CmdError::raw("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")),
            b"$" => Ok(ReadId::Last),
            b">" if !xreadgroup => Err(CmdError::raw("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")),
            b">" => Ok(ReadId::New),
            _ => crate::families::stream_family::parse_strict_id(a).map(ReadId::After),
        });
    }
    Ok(req)
}

fn keys_on<K: AsRef<[u8]>>(keys: &[K], s: usize) -> Vec<usize> {
    let n = damselfly_runtime::proactor_count();
    (0..keys.len())
        .filter(|&i| shard_of(key_hash(keys[i].as_ref()), n) == s)
        .collect()
}

/// The first hop: per key, its error (WRONGTYPE, NOGROUP) or the resolved id.
fn check_key<K: AsRef<[u8]>>(
    s: &Shard,
    db: usize,
    req: &ReadReq<K>,
    i: usize,
    now: u64,
) -> OpResult<ReadId> {
    let key = req.key(i);
    let mut dbs = s.db.borrow_mut();
    let found = dbs.find(db, key, now);
    count_lookup(found.is_some());
    let st = match found {
        Some(v) => Some(stream_of(v)?),
        None => None,
    };
    if let Some((group, _)) = req.group() {
        if !st.is_some_and(|st| st.groups.contains_key(group)) {
            return Err(CmdError::raw(format!(
                "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(group)
            )));
        }
    }
    match req.ids[i].clone()? {
        ReadId::Last => Ok(ReadId::After(st.map_or(StreamId::MIN, |st| st.last_id))),
        other => Ok(other),
    }
}

/// `[key, entries]` (RESP2) or `key => entries` (RESP3 map member) for one served key.
fn key_header(out: &mut Vec<u8>, resp: RespVersion, key: &[u8]) {
    let mut r = ReplyWriter::new(out, resp);
    if resp == RespVersion::Resp2 {
        r.array_header(2);
    }
    r.bulk(key);
}

/// Serves one key of XREAD: None when it has nothing after `after`.
fn serve_plain(
    st: &Stream,
    key: &[u8],
    after: StreamId,
    count: usize,
    resp: RespVersion,
) -> Option<Vec<u8>> {
    if st.is_empty() || st.edge_id(true).is_none_or(|last| last <= after) {
        return None;
    }
    let start = after.next()?;
    let mut out = Vec::new();
    key_header(&mut out, resp, key);
    write_range(&mut out, resp, st, start, StreamId::MAX, false, count);
    Some(out)
}

/// Serves one key of XREADGROUP: None when `>` finds nothing new. Creates the consumer.
#[allow(clippy::too_many_arguments)]
fn serve_group(
    s: &Shard,
    db: usize,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    id: ReadId,
    count: usize,
    noack: bool,
    resp: RespVersion,
    now: u64,
) -> OpResult<Option<Vec<u8>>> {
    let mut created = false;
    let out = crate::families::stream_family::write_stream(s, db, key, now, |st| {
        let g = st.groups.get(group)?;
        let history = match id {
            ReadId::After(after) => Some(after),
            _ => None,
        };
        if history.is_none() && (st.is_empty() || st.edge_id(true).is_none_or(|l| l <= g.last_id)) {
            return None;
        }
        // The group is moved out while the stream is read (a placeholder allocates nothing)
        // and moved back in its slot: no lookup by a copied name.
        let placeholder = Group::new(StreamId::MIN, ENTRIES_READ_INVALID);
        let mut g = std::mem::replace(st.groups.get_mut(group)?, placeholder);
        created = g.touch_consumer(consumer, now);
        let mut out = Vec::new();
        key_header(&mut out, resp, key);
        let body_at = out.len();
        let mut n = 0;
        {
            let mut w = ReplyWriter::new(&mut out, resp);
            match history {
                Some(after) => {
                    let ids: Vec<StreamId> = match after.next() {
                        Some(start) => g.consumers[consumer]
                            .pel
                            .range(start..)
                            .take(if count == 0 { usize::MAX } else { count })
                            .copied()
                            .collect(),
                        None => Vec::new(),
                    };
                    for id in ids {
                        if st.get(id, |e| write_entry(&mut w, &e)).is_some() {
                            let p = g.pel.get_mut(&id).expect("pending");
                            p.delivery_time = now;
                            p.delivery_count += 1;
                        } else {
                            w.array_header(2);
                            bulk_id(&mut w, id);
                            w.null_array();
                        }
                        n += 1;
                    }
                }
                None => {
                    let start = g.last_id.next().unwrap_or(StreamId::MAX);
                    let st: &Stream = st;
                    st.range(start, StreamId::MAX, false, |e| {
                        write_entry(&mut w, &e);
                        n += 1;
                        st.advance_group(&mut g, e.id);
                        if !noack {
                            g.deliver(e.id, consumer, now, Some(1));
                        }
                        count == 0 || n < count
                    });
                }
            }
        }
        *st.groups.get_mut(group).expect("the group") = g;
        // The entries' count goes before them: written after, rotated into place.
        let end = out.len();
        ReplyWriter::new(&mut out, resp).array_header(n);
        let head = out.len() - end;
        out[body_at..].rotate_right(head);
        Some(out)
    })?
    .flatten();
    if created {
        notify::keyspace_event(class::STREAM, "xgroup-createconsumer", key, db);
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn serve_one<K: AsRef<[u8]>>(
    s: &Shard,
    db: usize,
    req: &ReadReq<K>,
    i: usize,
    id: ReadId,
    count: usize,
    resp: RespVersion,
    now: u64,
) -> OpResult<Option<Vec<u8>>> {
    let key = req.key(i);
    match req.group() {
        Some((group, consumer)) => {
            serve_group(s, db, key, group, consumer, id, count, req.noack, resp, now)
        }
        None => {
            let ReadId::After(after) = id else {
                return Ok(None);
            };
            let mut dbs = s.db.borrow_mut();
            let Some(v) = dbs.find(db, key, now) else {
                return Ok(None);
            };
            Ok(serve_plain(stream_of(v)?, key, after, count, resp))
        }
    }
}

fn write_top(out: &mut Vec<u8>, resp: RespVersion, parts: &[Vec<u8>]) {
    let mut r = ReplyWriter::new(out, resp);
    if resp == RespVersion::Resp2 {
        r.array_header(parts.len());
    } else {
        r.map_header(parts.len());
    }
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// The shard-side serve step of a blocked XREAD / XREADGROUP.
fn read_server<K: AsRef<[u8]>>(
    req: &ReadReq<K>,
    ids: Vec<ReadId>,
    resp: RespVersion,
) -> Box<ServeFn> {
    let req = req.to_owned();
    let count = if req.count == 0 {
        BLOCKED_COUNT
    } else {
        req.count
    };
    Box::new(move |s, db, key, claim| {
        let now = now_ms();
        let Some(i) = req.keys.iter().position(|k| k.as_slice() == key) else {
            return Attempt::NotReady;
        };
        let ready = {
            let mut dbs = s.db.borrow_mut();
            match dbs.find(db, key, now).map(|v| v.downcast_ref::<Stream>()) {
                None => None,
                Some(None) => Some(Err(())),
                Some(Some(st)) => Some(Ok(match (req.group(), ids[i]) {
                    (Some((g, _)), _) => match st.groups.get(g) {
                        None => false,
                        Some(grp) => st.edge_id(true).is_some_and(|l| l > grp.last_id),
                    },
                    (None, ReadId::After(after)) => st.edge_id(true).is_some_and(|l| l > after),
                    (None, _) => false,
                })),
            }
        };
        let group_gone = req.group().is_some_and(|(g, _)| {
            let mut dbs = s.db.borrow_mut();
            dbs.find(db, key, now)
                .and_then(|v| v.downcast_ref::<Stream>())
                .is_some_and(|st| !st.groups.contains_key(g))
        });
        let mut out = Vec::new();
        if group_gone {
            if !claim() {
                return Attempt::Stale;
            }
            ReplyWriter::new(&mut out, resp)
                .error("NOGROUP the consumer group this client was blocked on no longer exists");
            return Attempt::Served(out, None);
        }
        if req.group.is_some() && matches!(ready, None | Some(Err(()))) {
            // The stream went away under a group reader (deleted, or replaced by another type).
            if !claim() {
                return Attempt::Stale;
            }
            ReplyWriter::new(&mut out, resp).error("UNBLOCKED the stream key no longer exists");
            return Attempt::Served(out, None);
        }
        if ready != Some(Ok(true)) {
            return Attempt::NotReady;
        }
        if !claim() {
            return Attempt::Stale;
        }
        match serve_one(s, db, &req, i, ids[i], count, resp, now) {
            Ok(Some(part)) => write_top(&mut out, resp, &[part]),
            Ok(None) => ReplyWriter::new(&mut out, resp).null_array(),
            Err(e) => ReplyWriter::new(&mut out, resp).error_bytes(&e.to_bytes()),
        }
        Attempt::Served(out, None)
    })
}

fn try_read(ctx: &mut CmdCtx<'_>, req: &ReadReq<&[u8]>) -> OpResult<Tried> {
    let (db, now, resp) = (ctx.db(), now_ms(), ctx.conn.resp);
    let write = req.group.is_some() || req.block.is_some();
    let mode = if write {
        LockMode::Exclusive
    } else {
        LockMode::Shared
    };
    let may_block = req.block.is_some() && !ctx.exec.in_transaction();
    if req.keys.len() == 1 && !may_block {
        // One key that cannot block: check and serve in one hop (or inline).
        let part = ctx.exec.single_key(key_hash(req.key(0)), mode, &|s| {
            let id = check_key(s, db, req, 0, now)?;
            serve_one(s, db, req, 0, id, req.count, resp, now)
        })?;
        match part {
            Some(part) => write_top(ctx.out, resp, &[part]),
            None => ctx.reply().null_array(),
        }
        return Ok(Tried::Done);
    }
    let plan = KeyPlan::new(req.keys.iter().copied(), mode);
    let mut tx = ctx.exec.schedule(&plan);
    let shards = tx.shards().to_vec();
    let mut checked: Vec<(usize, OpResult<ReadId>)> = tx
        .execute(&shards, false, &|s| {
            keys_on(&req.keys, s.index)
                .into_iter()
                .map(|i| (i, check_key(s, db, req, i, now)))
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect();
    checked.sort_by_key(|c| c.0);
    let mut ids = Vec::with_capacity(checked.len());
    for (_, c) in checked {
        match c {
            Ok(id) => ids.push(id),
            Err(e) => {
                tx.conclude();
                return Err(e);
            }
        }
    }
    let ids_ref = &ids;
    let mut parts: Vec<(usize, OpResult<Option<Vec<u8>>>)> = tx
        .execute(&shards, false, &|s| {
            keys_on(&req.keys, s.index)
                .into_iter()
                .map(|i| {
                    (
                        i,
                        serve_one(s, db, req, i, ids_ref[i], req.count, resp, now),
                    )
                })
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect();
    parts.sort_by_key(|p| p.0);
    let mut served = Vec::new();
    for (_, p) in parts {
        match p {
            Ok(Some(bytes)) => served.push(bytes),
            Ok(None) => {}
            Err(e) => {
                tx.conclude();
                return Err(e);
            }
        }
    }
    if !served.is_empty() || !may_block {
        tx.conclude();
        if served.is_empty() {
            ctx.reply().null_array();
        } else {
            write_top(ctx.out, resp, &served);
        }
        return Ok(Tried::Done);
    }
    let b = Blocked::new(ctx.conn.id, read_server(req, ids.clone(), resp));
    tx.execute_all(&|s| {
        for i in keys_on(&req.keys, s.index) {
            s.block_on(db, req.key(i), &b);
        }
    });
    Ok(Tried::Blocked(b))
}

fn read_generic(ctx: &mut CmdCtx<'_>, args: &Args<'_>, xreadgroup: bool) -> CmdResult {
    let req = parse_read(ctx, args, xreadgroup)?;
    let deadline = req.block.flatten();
    let mark = ctx.out.len();
    if req.block.is_none() {
        // Without BLOCK nothing parks: no copy of the keys for the blocking machinery.
        try_read(ctx, &req)?;
    } else {
        let keys: Vec<Vec<u8>> = req.keys.iter().map(|k| k.to_vec()).collect();
        run_blocking(ctx, &keys, deadline, &|ctx| try_read(ctx, &req))?;
    }
    // An error a shard answered for a blocked group reader (NOGROUP, UNBLOCKED) counts as
    // this call's error reply.
    if req.group.is_some() && ctx.out.get(mark) == Some(&b'-') {
        if let Some(ps) = damselfly_runtime::local::<crate::server::ProactorState>() {
            ps.stats.count_error(&ctx.out[mark..]);
        }
        return Err(CmdError::Replied);
    }
    Ok(())
}

fn cmd_xread(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    read_generic(ctx, args, false)
}

fn cmd_xreadgroup(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    read_generic(ctx, args, true)
}

pub fn commands() -> Vec<CommandSpec> {
    vec![
        // Keys follow STREAMS: no fixed key positions (EXEC finds them with
        // CommandSpec::keys_in).
        command("xread", -4, READONLY | BLOCKING, &["@read", "@stream", "@slow", "@blocking"], (0, 0, 0), "stream", "5.0.0", "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.", cmd_xread),
        command("xreadgroup", -7, WRITE | BLOCKING, &["@write", "@stream", "@slow", "@blocking"], (0, 0, 0), "stream", "5.0.0", "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.", cmd_xreadgroup),
    ]
}
