//! Blocking pops: BLPOP BRPOP BLMPOP BRPOPLPUSH BLMOVE BZPOPMIN BZPOPMAX BZMPOP.
//!
//! Each runs as one transaction over its keys: the first hop looks at every key (in argument
//! order: the first existing key of another type is WRONGTYPE, the first non-empty one is
//! popped); the second pops, or — when nothing can be served and the command may block —
//! registers the client on each key's shard while the keys are still locked
//! ([`crate::blocking`]). The client then parks until a shard serves it, its timeout passes,
//! CLIENT UNBLOCK ends the wait or it disconnects. Inside MULTI (or a script) nothing parks:
//! the command answers as on a timeout, as Redis does.

use crate::args::Args;
use crate::blocking::{self, Attempt, Blocked, ServeFn, Undo, WaitEnd};
use crate::ctx::{now_ms, CmdCtx};
use crate::error::{CmdError, CmdResult, OpResult};
use crate::families::{list_family, list_ops, zset_family};
use crate::keys::KeyPlan;
use crate::registry::{flags::*, CommandSpec};
use crate::shard::{key_hash, shard_of, Shard};
use crate::tx::locks::LockMode;
use damselfly_protocol::{ReplyWriter, RespVersion};
use damselfly_runtime::clock::{self, Time};
use damselfly_shards::zset::ZSetValue;
use damselfly_shards::{CollectionLimits, ObjType};
use std::sync::Arc;
use std::time::Duration;

/// What a blocked command pops.
#[derive(Clone, Copy)]
enum Pop {
    /// From a list's head (`left`) or tail.
    List { left: bool },
    /// A sorted set's lowest or highest (`max`) members.
    ZSet { max: bool },
}

impl Pop {
    fn obj_type(self) -> ObjType {
        match self {
            Pop::List { .. } => ObjType::List,
            Pop::ZSet { .. } => ObjType::ZSet,
        }
    }
}

/// How the popped elements are answered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// BLPOP/BRPOP `[key, element]`; BZPOPMIN/MAX `[key, member, score]`.
    One,
    /// BLMPOP `[key, [elements]]`; BZMPOP `[key, [[member, score]...]]`.
    Many,
}

/// Popped elements: list elements, or members with their scores.
enum Popped {
    List(Vec<Vec<u8>>),
    ZSet(Vec<(Vec<u8>, f64)>),
}

impl Popped {
    fn is_empty(&self) -> bool {
        match self {
            Popped::List(v) => v.is_empty(),
            Popped::ZSet(v) => v.is_empty(),
        }
    }
}

/// A blocking pop request, as parsed.
#[derive(Clone)]
struct PopRequest {
    pop: Pop,
    shape: Shape,
    count: usize,
    keys: Vec<Vec<u8>>,
}

/// What one key holds, for the first hop.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Probe {
    Missing,
    WrongType,
    Ready,
}

fn probe(s: &Shard, db: usize, key: &[u8], want: ObjType, now: u64) -> Probe {
    let mut dbs = s.db.borrow_mut();
    match dbs.find(db, key, now) {
        None => Probe::Missing,
        Some(v) if v.obj_type() != want => Probe::WrongType,
        Some(v) if v.as_object().is_some_and(|o| o.is_empty()) => Probe::Missing,
        Some(_) => Probe::Ready,
    }
}

fn shard_count() -> usize {
    damselfly_runtime::proactor_count()
}

/// Redis's blocking timeout: seconds as a float, 0 = forever; the deadline on the runtime clock.
fn parse_timeout(arg: &[u8]) -> OpResult<Option<Time>> {
    const NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
    const NEGATIVE: &str = "ERR timeout is negative";
    let text = std::str::from_utf8(arg).map_err(|_| CmdError::raw(NOT_FLOAT))?;
    if text.is_empty() || text.starts_with(|c: char| c.is_whitespace()) {
        return Err(CmdError::raw(NOT_FLOAT));
    }
    let secs: f64 = text.parse().map_err(|_| CmdError::raw(NOT_FLOAT))?;
    if secs.is_nan() {
        return Err(CmdError::raw(NOT_FLOAT));
    }
    let ms = (secs * 1000.0).ceil();
    // Redis converts to a signed 64-bit count of ms: what does not fit comes out negative.
    if ms < 0.0 || ms >= i64::MAX as f64 {
        return Err(CmdError::raw(NEGATIVE));
    }
    if ms == 0.0 {
        return Ok(None);
    }
    Ok(Some(clock::now() + Duration::from_millis(ms as u64)))
}

/// Writes `popped` from `key` in the command's reply shape.
fn render(w: &mut ReplyWriter<'_>, shape: Shape, key: &[u8], popped: &Popped) {
    match (shape, popped) {
        (Shape::One, Popped::List(v)) => {
            w.array_header(2);
            w.bulk(key);
            w.bulk(&v[0]);
        }
        (Shape::One, Popped::ZSet(v)) => {
            w.array_header(3);
            w.bulk(key);
            w.bulk(&v[0].0);
            zset_family::reply_score(w, v[0].1);
        }
        (Shape::Many, Popped::List(v)) => {
            w.array_header(2);
            w.bulk(key);
            w.array_header(v.len());
            for e in v {
                w.bulk(e);
            }
        }
        (Shape::Many, Popped::ZSet(v)) => {
            w.array_header(2);
            w.bulk(key);
            w.array_header(v.len());
            for (member, score) in v {
                w.array_header(2);
                w.bulk(member);
                zset_family::reply_score(w, *score);
            }
        }
    }
}

fn pop_on(s: &Shard, db: usize, key: &[u8], pop: Pop, count: usize, now: u64) -> OpResult<Popped> {
    Ok(match pop {
        Pop::List { left } => Popped::List(list_ops::op_pop(s, db, key, left, count, now)?),
        Pop::ZSet { max } => Popped::ZSet(zset_family::op_zpop(s, db, key, max, count, now)?),
    })
}

/// The shard-side serve step of a blocked pop.
fn pop_server(req: &PopRequest, resp: RespVersion, limits: CollectionLimits) -> Box<ServeFn> {
    let (pop, shape, count) = (req.pop, req.shape, req.count);
    Box::new(move |s, db, key, claim| {
        let now = now_ms();
        if probe(s, db, key, pop.obj_type(), now) != Probe::Ready {
            return Attempt::NotReady;
        }
        if !claim() {
            return Attempt::Stale;
        }
        let mut out = Vec::new();
        let mut undo = None;
        match pop_on(s, db, key, pop, count, now) {
            Ok(popped) if !popped.is_empty() => {
                render(&mut ReplyWriter::new(&mut out, resp), shape, key, &popped);
                undo = Some(put_back(db, key, pop, popped, limits));
            }
            Ok(_) => ReplyWriter::new(&mut out, resp).null_array(),
            Err(e) => ReplyWriter::new(&mut out, resp).error_bytes(&e.to_bytes()),
        }
        Attempt::Served(out, undo)
    })
}

/// Returns popped elements to where they came from: list elements to the same end in their
/// old order, sorted-set members (those not re-added since) with their scores.
fn put_back(db: usize, key: &[u8], pop: Pop, popped: Popped, limits: CollectionLimits) -> Undo {
    let owned = key.to_vec();
    let op: Box<dyn Fn(&Shard) + Send + Sync> = match (pop, popped) {
        (Pop::List { left }, Popped::List(elems)) => Box::new(move |s| {
            let values: Vec<&[u8]> = elems.iter().rev().map(Vec::as_slice).collect();
            let _ = list_ops::op_push_quiet(s, db, &owned, left, &values, false, limits, now_ms());
        }),
        (_, Popped::ZSet(pairs)) => Box::new(move |s| zset_put_back(s, db, &owned, &pairs, limits)),
        (Pop::ZSet { .. }, Popped::List(_)) => unreachable!("a zset pop pops pairs"),
    };
    Undo {
        key: key.to_vec(),
        op,
    }
}

fn zset_put_back(
    s: &Shard,
    db: usize,
    key: &[u8],
    pairs: &[(Vec<u8>, f64)],
    limits: CollectionLimits,
) {
    let now = now_ms();
    let exists = {
        let mut dbs = s.db.borrow_mut();
        let found = dbs.find_mut(db, key, now);
        let exists = found.is_some();
        if let Some(mut v) = found {
            // A key that became another type meanwhile keeps its value.
            if let Some(z) = v.downcast_mut::<ZSetValue>() {
                for (member, score) in pairs {
                    if z.score(member).is_none() {
                        z.insert(member, *score, &limits);
                    }
                }
            }
        }
        exists
    };
    if !exists {
        zset_family::store_pairs(s, db, key, pairs, &limits, now, None);
    }
}

/// The keys of `keys` (indexes) that live on shard `s`, in argument order.
fn keys_on(keys: &[Vec<u8>], s: usize) -> Vec<usize> {
    let n = shard_count();
    (0..keys.len())
        .filter(|&i| shard_of(key_hash(&keys[i]), n) == s)
        .collect()
}

/// What the first hop decided.
enum Decision {
    Pop(usize),
    WrongType,
    Block,
}

/// The first key, in argument order, that decides the command.
fn decide(probes: &[(usize, Probe)]) -> Decision {
    let mut sorted = probes.to_vec();
    sorted.sort_by_key(|p| p.0);
    for (i, p) in sorted {
        match p {
            Probe::WrongType => return Decision::WrongType,
            Probe::Ready => return Decision::Pop(i),
            Probe::Missing => {}
        }
    }
    Decision::Block
}

/// What one attempt of a blocking command did.
pub(crate) enum Tried {
    /// The reply is written.
    Done,
    /// Registered: park on it.
    Blocked(Arc<Blocked>),
}

/// One attempt of a blocking pop: pop from the first ready key, or register on every key.
fn try_pop(ctx: &mut CmdCtx<'_>, req: &PopRequest) -> OpResult<Tried> {
    let (db, now) = (ctx.db(), now_ms());
    let keys: Vec<&[u8]> = req.keys.iter().map(|k| k.as_slice()).collect();
    let plan = KeyPlan::new(keys.iter().copied(), LockMode::Exclusive);
    let may_block = !ctx.exec.in_transaction();
    let limits = ctx.limits();
    let mut tx = ctx.exec.schedule(&plan);
    let shards = tx.shards().to_vec();
    let want = req.pop.obj_type();
    let probes: Vec<(usize, Probe)> = tx
        .execute(&shards, false, &|s| {
            keys_on(&req.keys, s.index)
                .into_iter()
                .map(|i| (i, probe(s, db, &req.keys[i], want, now)))
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect();
    match decide(&probes) {
        Decision::WrongType => {
            tx.conclude();
            Err(CmdError::WrongType)
        }
        Decision::Pop(i) => {
            let key = &req.keys[i];
            let shard = shard_of(key_hash(key), shard_count());
            let (pop, count) = (req.pop, req.count);
            let popped = tx
                .execute(&[shard], false, &|s| pop_on(s, db, key, pop, count, now))
                .pop()
                .expect("one shard");
            tx.conclude();
            let popped = popped?;
            render(&mut ctx.reply(), req.shape, key, &popped);
            Ok(Tried::Done)
        }
        Decision::Block if !may_block => {
            tx.conclude();
            ctx.reply().null_array();
            Ok(Tried::Done)
        }
        Decision::Block => {
            let b = Blocked::new(ctx.conn.id, pop_server(req, ctx.conn.resp, limits));
            tx.execute_all(&|s| {
                for i in keys_on(&req.keys, s.index) {
                    s.block_on(db, &req.keys[i], &b);
                }
            });
            Ok(Tried::Blocked(b))
        }
    }
}

/// Sends the replies of the commands before this one (a pipeline's earlier replies must not
/// wait for this command's wait), then parks until the wait ends.
fn park(
    ctx: &mut CmdCtx<'_>,
    b: &Arc<Blocked>,
    keys: &[Vec<u8>],
    deadline: Option<Time>,
) -> WaitEnd {
    let conn = ctx.conn.stream.as_ref().map(|s| s.tcp().clone());
    if let Some(stream) = &ctx.conn.stream {
        // The socket is shared with the push writer: take it for the send.
        ctx.conn.info.push.acquire(ctx.out);
        let sent = !ctx.out.is_empty() && stream.send_all(ctx.out).is_ok();
        ctx.conn.info.push.release();
        if sent {
            ctx.conn.out_sent += ctx.out.len();
            ctx.out.clear();
        }
    }
    ctx.conn.info.blocked.set(true);
    let end = blocking::wait(ctx.server, b, deadline, conn.as_ref());
    ctx.conn.info.blocked.set(false);
    // Leave every queue the client is still in (a served client is gone from the serving
    // key's queue only).
    let db = ctx.db();
    let mut shards: Vec<usize> = keys
        .iter()
        .map(|k| shard_of(key_hash(k), shard_count()))
        .collect();
    shards.sort_unstable();
    shards.dedup();
    ctx.exec.on_shards(&shards, &|s| {
        let mine: Vec<&[u8]> = keys_on(keys, s.index)
            .into_iter()
            .map(|i| keys[i].as_slice())
            .collect();
        s.unblock(db, &mine, b);
    });
    end
}

const UNBLOCKED: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";

/// Runs a blocking command: attempts until served, timed out, unblocked or gone.
/// `attempt` writes the reply itself when it is done; `timeout_reply` answers a timeout.
pub(crate) fn run_blocking(
    ctx: &mut CmdCtx<'_>,
    keys: &[Vec<u8>],
    deadline: Option<Time>,
    attempt: &dyn Fn(&mut CmdCtx<'_>) -> OpResult<Tried>,
) -> CmdResult {
    loop {
        let b = match attempt(ctx)? {
            Tried::Done => return Ok(()),
            Tried::Blocked(b) => b,
        };
        match park(ctx, &b, keys, deadline) {
            WaitEnd::Served(reply, undo) => {
                // Served in the instant the client left: what was popped goes back.
                let conn = ctx.conn.stream.as_ref();
                if let (Some(undo), Some(conn)) = (undo, conn) {
                    if conn.tcp().peer_closed() {
                        ctx.exec
                            .single_key(key_hash(&undo.key), LockMode::Exclusive, &|s| {
                                (undo.op)(s)
                            });
                        return Ok(());
                    }
                }
                ctx.out.extend_from_slice(&reply);
                return Ok(());
            }
            WaitEnd::Retry => {}
            WaitEnd::TimedOut | WaitEnd::Gone => {
                ctx.reply().null_array();
                return Ok(());
            }
            WaitEnd::UnblockedWithError => return Err(CmdError::raw(UNBLOCKED)),
        }
        if deadline.is_some_and(|d| clock::now() >= d) {
            ctx.reply().null_array();
            return Ok(());
        }
    }
}

fn blocking_pop(ctx: &mut CmdCtx<'_>, req: PopRequest, deadline: Option<Time>) -> CmdResult {
    let keys = req.keys.clone();
    run_blocking(ctx, &keys, deadline, &|ctx| try_pop(ctx, &req))
}

// ---- BLPOP BRPOP BZPOPMIN BZPOPMAX ------------------------------------------------------

/// `CMD key [key ...] timeout`.
fn pop_one(ctx: &mut CmdCtx<'_>, args: &Args<'_>, pop: Pop) -> CmdResult {
    let deadline = parse_timeout(args.get(args.len() - 1))?;
    let keys = (1..args.len() - 1).map(|i| args.get(i).to_vec()).collect();
    let req = PopRequest {
        pop,
        shape: Shape::One,
        count: 1,
        keys,
    };
    blocking_pop(ctx, req, deadline)
}

fn cmd_blpop(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    pop_one(ctx, args, Pop::List { left: true })
}

fn cmd_brpop(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    pop_one(ctx, args, Pop::List { left: false })
}

fn cmd_bzpopmin(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    pop_one(ctx, args, Pop::ZSet { max: false })
}

fn cmd_bzpopmax(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    pop_one(ctx, args, Pop::ZSet { max: true })
}

// ---- BLMPOP BZMPOP ------------------------------------------------------------------------

/// `CMD timeout numkeys key [key ...] <LEFT|RIGHT|MIN|MAX> [COUNT count]`, parsed as LMPOP
/// and ZMPOP parse theirs.
fn pop_many(ctx: &mut CmdCtx<'_>, args: &Args<'_>, list: bool) -> CmdResult {
    let deadline = parse_timeout(args.get(1))?;
    let (keys, pop, count) = if list {
        let (keys, left, count) = list_family::parse_mpop(args, 2)?;
        (keys, Pop::List { left }, count)
    } else {
        let numkeys = zset_family::parse_numkeys(args, 2, "ERR numkeys should be greater than 0")?;
        let (max, count) = zset_family::parse_mpop_tail(args, 3 + numkeys)?;
        let keys = (3..3 + numkeys).map(|i| args.get(i)).collect();
        (keys, Pop::ZSet { max }, count)
    };
    let req = PopRequest {
        pop,
        shape: Shape::Many,
        count,
        keys: keys.into_iter().map(<[u8]>::to_vec).collect(),
    };
    blocking_pop(ctx, req, deadline)
}

fn cmd_blmpop(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    pop_many(ctx, args, true)
}

fn cmd_bzmpop(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    pop_many(ctx, args, false)
}

// ---- BLMOVE BRPOPLPUSH --------------------------------------------------------------------

#[derive(Clone)]
struct MoveRequest {
    src: Vec<u8>,
    dst: Vec<u8>,
    from_left: bool,
    to_left: bool,
}

/// The shard-side serve step of a blocked move: in place when the destination lives on the
/// same shard and is free, else the client is woken to run the move itself.
fn move_server(req: &MoveRequest, resp: RespVersion, limits: CollectionLimits) -> Box<ServeFn> {
    let req = req.clone();
    Box::new(move |s, db, key, claim| {
        let now = now_ms();
        if probe(s, db, key, ObjType::List, now) != Probe::Ready {
            return Attempt::NotReady;
        }
        let local = shard_of(key_hash(&req.dst), shard_count()) == s.index;
        if local && req.dst != req.src && !s.key_is_free(key_hash(&req.dst), LockMode::Exclusive) {
            return Attempt::Later;
        }
        let dst_wrong = local && probe(s, db, &req.dst, ObjType::List, now) == Probe::WrongType;
        if !claim() {
            return Attempt::Stale;
        }
        if !local {
            return Attempt::Woken;
        }
        let mut out = Vec::new();
        let mut w = ReplyWriter::new(&mut out, resp);
        if dst_wrong {
            // Redis answers this client with the error and leaves the element for the next.
            w.error_bytes(&CmdError::WrongType.to_bytes());
            return Attempt::Served(out, None);
        }
        let mut undo = None;
        match move_on_shard(s, db, &req, limits, now) {
            Ok(Some(e)) => {
                w.bulk(&e);
                undo = Some(move_back(db, &req, e, limits));
            }
            Ok(None) => w.null_array(),
            Err(e) => w.error_bytes(&e.to_bytes()),
        }
        Attempt::Served(out, undo)
    })
}

/// Undoes a served move (source and destination share the shard): the element leaves the
/// destination's end again, if it is still there, for the source's end.
fn move_back(db: usize, req: &MoveRequest, element: Vec<u8>, limits: CollectionLimits) -> Undo {
    let req = req.clone();
    let key = req.src.clone();
    Undo {
        key,
        op: Box::new(move |s| {
            let now = now_ms();
            let still_there = list_ops::op_pop_quiet(s, db, &req.dst, req.to_left, 1, now)
                .ok()
                .and_then(|(mut v, _)| v.pop());
            match still_there {
                Some(e) if e == element => {
                    let _ = list_ops::op_push_quiet(
                        s,
                        db,
                        &req.src,
                        req.from_left,
                        &[&e],
                        false,
                        limits,
                        now,
                    );
                }
                Some(other) => {
                    let _ = list_ops::op_push_quiet(
                        s,
                        db,
                        &req.dst,
                        req.to_left,
                        &[&other],
                        false,
                        limits,
                        now,
                    );
                }
                None => {}
            }
        }),
    }
}

/// Pops from `src` and pushes onto `dst`, both on shard `s`.
fn move_on_shard(
    s: &Shard,
    db: usize,
    req: &MoveRequest,
    limits: CollectionLimits,
    now: u64,
) -> OpResult<Option<Vec<u8>>> {
    let keys = (req.src.as_slice(), req.dst.as_slice());
    list_ops::move_element(s, db, keys, req.from_left, req.to_left, limits, now)
}

fn try_move(ctx: &mut CmdCtx<'_>, req: &MoveRequest) -> OpResult<Tried> {
    let (db, now) = (ctx.db(), now_ms());
    let n = shard_count();
    let (src_shard, dst_shard) = (
        shard_of(key_hash(&req.src), n),
        shard_of(key_hash(&req.dst), n),
    );
    let plan = KeyPlan::new(
        [req.src.as_slice(), req.dst.as_slice()].into_iter(),
        LockMode::Exclusive,
    );
    let may_block = !ctx.exec.in_transaction();
    let limits = ctx.limits();
    let mut tx = ctx.exec.schedule(&plan);
    let shards = tx.shards().to_vec();
    let probes = tx.execute(&shards, false, &|s| {
        let src = (s.index == src_shard).then(|| probe(s, db, &req.src, ObjType::List, now));
        let dst = (s.index == dst_shard).then(|| probe(s, db, &req.dst, ObjType::List, now));
        (src, dst)
    });
    let src = probes.iter().find_map(|p| p.0).expect("source shard");
    let dst = probes.iter().find_map(|p| p.1).expect("destination shard");
    match src {
        Probe::WrongType => {
            tx.conclude();
            Err(CmdError::WrongType)
        }
        Probe::Ready if dst == Probe::WrongType => {
            tx.conclude();
            Err(CmdError::WrongType)
        }
        Probe::Ready if src_shard == dst_shard => {
            // One step on the shard of both: a rotation keeps its key, as in Redis.
            let moved = tx
                .execute(&[src_shard], false, &|s| {
                    move_on_shard(s, db, req, limits, now)
                })
                .pop()
                .expect("one shard");
            tx.conclude();
            match moved? {
                Some(e) => ctx.reply().bulk(&e),
                None => ctx.reply().null_array(),
            }
            Ok(Tried::Done)
        }
        Probe::Ready => {
            let popped = tx
                .execute(&[src_shard], false, &|s| {
                    // The source's events on its own shard, so they follow its earlier ones.
                    let (v, emptied) =
                        list_ops::op_pop_quiet(s, db, &req.src, req.from_left, 1, now)?;
                    if !v.is_empty() {
                        list_ops::pop_events(db, &req.src, req.from_left, emptied);
                    }
                    Ok::<_, CmdError>(v)
                })
                .pop()
                .expect("one shard");
            let e = match popped {
                Ok(mut v) => v.pop(),
                Err(e) => {
                    tx.conclude();
                    return Err(e);
                }
            };
            let Some(e) = e else {
                tx.conclude();
                ctx.reply().null_array();
                return Ok(Tried::Done);
            };
            let pushed = tx
                .execute(&[dst_shard], false, &|s| {
                    list_ops::op_push(s, db, &req.dst, req.to_left, &[&e], false, limits, now)
                })
                .pop()
                .expect("one shard");
            tx.conclude();
            pushed?;
            ctx.reply().bulk(&e);
            Ok(Tried::Done)
        }
        Probe::Missing if !may_block => {
            tx.conclude();
            // Inside MULTI Redis answers a move that cannot block with a null bulk.
            ctx.reply().null();
            Ok(Tried::Done)
        }
        Probe::Missing => {
            let b = Blocked::new(ctx.conn.id, move_server(req, ctx.conn.resp, limits));
            tx.execute_all(&|s| {
                if s.index == src_shard {
                    s.block_on(db, &req.src, &b);
                }
            });
            Ok(Tried::Blocked(b))
        }
    }
}

fn blocking_move(ctx: &mut CmdCtx<'_>, req: MoveRequest, deadline: Option<Time>) -> CmdResult {
    let keys = vec![req.src.clone()];
    run_blocking(ctx, &keys, deadline, &|ctx| try_move(ctx, &req))
}

fn cmd_blmove(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let from_left = list_family::parse_side(args.get(3))?;
    let to_left = list_family::parse_side(args.get(4))?;
    let deadline = parse_timeout(args.get(5))?;
    let req = MoveRequest {
        src: args.get(1).to_vec(),
        dst: args.get(2).to_vec(),
        from_left,
        to_left,
    };
    blocking_move(ctx, req, deadline)
}

fn cmd_brpoplpush(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let deadline = parse_timeout(args.get(3))?;
    let req = MoveRequest {
        src: args.get(1).to_vec(),
        dst: args.get(2).to_vec(),
        from_left: false,
        to_left: true,
    };
    blocking_move(ctx, req, deadline)
}

pub fn commands() -> Vec<CommandSpec> {
    let c = crate::registry::command;
    let flags = WRITE | BLOCKING;
    let list_acl: &[&str] = &["@write", "@list", "@slow", "@blocking"];
    let zset_acl: &[&str] = &["@write", "@sortedset", "@fast", "@blocking"];
    let zset_slow: &[&str] = &["@write", "@sortedset", "@slow", "@blocking"];
    vec![
        c("blpop", -3, flags | NOSCRIPT, list_acl, (1, -2, 1), "list", "2.0.0",
            "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", cmd_blpop),
        c("brpop", -3, flags | NOSCRIPT, list_acl, (1, -2, 1), "list", "2.0.0",
            "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", cmd_brpop),
        c("brpoplpush", 4, flags | DENYOOM | NOSCRIPT, list_acl, (1, 2, 1), "list", "2.2.0",
            "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", cmd_brpoplpush),
        c("blmove", 6, flags | DENYOOM | NOSCRIPT, list_acl, (1, 2, 1), "list", "6.2.0",
            "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", cmd_blmove),
        c("blmpop", -5, flags, list_acl, (0, 0, 0), "list", "7.0.0",
            "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", cmd_blmpop),
        c("bzpopmin", -3, flags | FAST | NOSCRIPT, zset_acl, (1, -2, 1), "sorted_set", "5.0.0",
            "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", cmd_bzpopmin),
        c("bzpopmax", -3, flags | FAST | NOSCRIPT, zset_acl, (1, -2, 1), "sorted_set", "5.0.0",
            "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", cmd_bzpopmax),
        c("bzmpop", -5, flags, zset_slow, (0, 0, 0), "sorted_set", "7.0.0",
            "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", cmd_bzmpop),
    ]
}
