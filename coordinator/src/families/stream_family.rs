//! Stream commands: XADD XLEN XRANGE XREVRANGE XDEL XTRIM XSETID, and the shared helpers of
//! the stream files (ids, replies, lookups). Consumer groups are in `stream_groups.rs`, XREAD
//! and XREADGROUP in `stream_read.rs`, XINFO in `stream_info.rs`.
//!
//! Values are `damselfly_shards::Stream`. Replies are encoded on the shard, straight from the
//! stream's nodes. Error texts are Redis 7.0's.

use crate::args::{parse_i64, Args};
use crate::ctx::{now_ms, CmdCtx};
use crate::error::{CmdError, CmdResult, OpResult};
use crate::families::string_family::count_lookup;
use crate::families::typed;
use crate::notify::{self, class};
use crate::registry::{command, flags::*, CommandSpec};
use crate::shard::{key_hash, Shard};
use crate::tx::locks::LockMode;
use damselfly_protocol::{ReplyWriter, RespVersion};
use damselfly_shards::stream::{Entry, NodeLimits, Trim};
use damselfly_shards::{CompactValue, Stream, StreamId};

pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

/// Redis's `string2ull`: a decimal u64 (a leading `+` allowed, as strtoull does).
fn parse_u64_part(s: &[u8]) -> Option<u64> {
    let digits = s.strip_prefix(b"+").unwrap_or(s);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A parsed id argument: the id, and whether its sequence was given (`ms-*` leaves it open).
pub struct IdArg {
    pub id: StreamId,
    pub seq_given: bool,
}

/// Parses `ms[-seq]` (`missing_seq` when no sequence), `-` and `+` unless `strict`, and
/// `ms-*` when `allow_star`.
pub fn parse_id_full(
    a: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_star: bool,
) -> OpResult<IdArg> {
    let bad = || CmdError::raw(INVALID_ID);
    if a.len() > 127 {
        return Err(bad());
    }
    match a {
        b"-" | b"+" if strict => return Err(bad()),
        b"-" => {
            return Ok(IdArg {
                id: StreamId::MIN,
                seq_given: true,
            })
        }
        b"+" => {
            return Ok(IdArg {
                id: StreamId::MAX,
                seq_given: true,
            })
        }
        _ => {}
    }
    let (ms, seq) = match a.iter().position(|&c| c == b'-') {
        Some(p) => (&a[..p], Some(&a[p + 1..])),
        None => (a, None),
    };
    let ms = parse_u64_part(ms).ok_or_else(bad)?;
    match seq {
        None => Ok(IdArg {
            id: StreamId::new(ms, missing_seq),
            seq_given: true,
        }),
        Some(b"*") if allow_star => Ok(IdArg {
            id: StreamId::new(ms, 0),
            seq_given: false,
        }),
        Some(s) => Ok(IdArg {
            id: StreamId::new(ms, parse_u64_part(s).ok_or_else(bad)?),
            seq_given: true,
        }),
    }
}

/// A strict id (`-` and `+` refused), missing sequence 0.
pub fn parse_strict_id(a: &[u8]) -> OpResult<StreamId> {
    Ok(parse_id_full(a, 0, true, false)?.id)
}

/// A range bound: `-`, `+`, an id, or `(id` (exclusive). Returns (id, exclusive).
pub fn parse_interval(a: &[u8], missing_seq: u64) -> OpResult<(StreamId, bool)> {
    if a.len() > 1 && a[0] == b'(' {
        Ok((parse_id_full(&a[1..], missing_seq, true, false)?.id, true))
    } else {
        Ok((parse_id_full(a, missing_seq, false, false)?.id, false))
    }
}

/// Writes the text of an id into `buf` (no allocation: every reply entry has one).
pub fn id_text(id: StreamId, buf: &mut [u8; 41]) -> &[u8] {
    let mut at = 0;
    for (i, part) in [id.ms, id.seq].into_iter().enumerate() {
        if i == 1 {
            buf[at] = b'-';
            at += 1;
        }
        let (mut digits, mut t) = (1, part);
        while t >= 10 {
            t /= 10;
            digits += 1;
        }
        let mut v = part;
        for j in (0..digits).rev() {
            buf[at + j] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        at += digits;
    }
    &buf[..at]
}

pub fn bulk_id(r: &mut ReplyWriter<'_>, id: StreamId) {
    r.bulk(id_text(id, &mut [0u8; 41]));
}

/// `[id, [field, value, ...]]`.
pub fn write_entry(r: &mut ReplyWriter<'_>, e: &Entry<'_>) {
    r.array_header(2);
    bulk_id(r, e.id);
    r.array_header(e.pair_count() * 2);
    for s in e.strings() {
        r.bulk(s);
    }
}

/// The stream a value holds, or WRONGTYPE.
pub fn stream_of(v: &CompactValue) -> OpResult<&Stream> {
    typed::typed_of(v)
}

/// Runs `f` on the stream at `key` for a read, counting the lookup; None when missing.
pub fn read_stream<R>(
    s: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
    f: impl FnOnce(&Stream) -> R,
) -> OpResult<Option<R>> {
    typed::read_typed(s, db, key, now, f)
}

/// Looks the stream at `key` up without counting (a write's lookup).
pub fn peek_stream<R>(
    s: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
    f: impl FnOnce(&Stream) -> R,
) -> OpResult<Option<R>> {
    let mut dbs = s.db.borrow_mut();
    match dbs.find(db, key, now) {
        None => Ok(None),
        Some(v) => Ok(Some(f(stream_of(v)?))),
    }
}

/// Runs `f` on the existing stream at `key` for a write; None when missing.
pub fn write_stream<R>(
    s: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
    f: impl FnOnce(&mut Stream) -> R,
) -> OpResult<Option<R>> {
    typed::write_typed(s, db, key, now, f)
}

/// Runs `f` on the stream at `key`, creating an empty one first if missing; `f` returning an
/// error leaves a created stream out (Redis checks before it creates).
pub fn write_or_create<R>(
    s: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
    f: impl FnOnce(&mut Stream) -> OpResult<R>,
) -> OpResult<R> {
    let mut dbs = s.db.borrow_mut();
    if let Some(v) = dbs.find(db, key, now) {
        stream_of(v)?;
    } else {
        // Check on a fresh stream first: an error must not leave the key behind.
        let mut probe = Stream::new();
        let r = f(&mut probe)?;
        let (mut slot, _) = dbs.add_or_find(db, key, now);
        *slot = CompactValue::from_object(Box::new(probe));
        return Ok(r);
    }
    let mut slot = dbs.find_mut(db, key, now).expect("found above");
    f(slot.downcast_mut::<Stream>().expect("checked stream"))
}

/// Tells blocked readers of `key` that it has new entries.
pub fn signal_ready(s: &Shard, db: usize, key: &[u8]) {
    s.db.borrow_mut().signal_ready(db, key);
}

// ---- XADD / XTRIM ----------------------------------------------------------------------

/// What XADD / XTRIM parsed.
struct TrimArgs {
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    nomkstream: bool,
    /// XADD's id argument (None: `*`) and the index of the first field.
    id: Option<IdArg>,
    fields_at: usize,
}

fn parse_trim_args(args: &Args<'_>, xadd: bool, node_entries: usize) -> OpResult<TrimArgs> {
    const BOTH: &str =
        "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
    let mut t = TrimArgs {
        trim: None,
        approx: false,
        limit: 0,
        nomkstream: false,
        id: None,
        fields_at: args.len(),
    };
    let mut limit_given = false;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = args.get(i);
        if xadd && opt == b"*" {
            t.fields_at = i + 1;
            break;
        } else if (opt.eq_ignore_ascii_case(b"maxlen") || opt.eq_ignore_ascii_case(b"minid"))
            && more > 0
        {
            if t.trim.is_some() {
                return Err(CmdError::raw(BOTH));
            }
            t.approx = false;
            let next = args.get(i + 1);
            if more >= 2 && next == b"~" {
                t.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let v = args.get(i + 1);
            if opt.eq_ignore_ascii_case(b"maxlen") {
                let n = parse_i64(v)?;
                if n < 0 {
                    return Err(CmdError::raw("ERR The MAXLEN argument must be >= 0."));
                }
                t.trim = Some(Trim::MaxLen(n as u64));
            } else {
                t.trim = Some(Trim::MinId(parse_strict_id(v)?));
            }
            i += 2;
        } else if opt.eq_ignore_ascii_case(b"limit") && more > 0 {
            let n = parse_i64(args.get(i + 1))?;
            if n < 0 {
                return Err(CmdError::raw("ERR The LIMIT argument must be >= 0."));
            }
            t.limit = n as u64;
            limit_given = true;
            i += 2;
        } else if xadd && opt.eq_ignore_ascii_case(b"nomkstream") {
            t.nomkstream = true;
            i += 1;
        } else if xadd {
            t.id = Some(parse_id_full(opt, 0, true, true)?);
            t.fields_at = i + 1;
            break;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if t.limit > 0 && t.trim.is_none() {
        return Err(CmdError::raw(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && t.trim.is_none() {
        return Err(CmdError::raw(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !t.approx {
            return Err(CmdError::raw(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if t.approx {
        t.limit = (100 * node_entries as u64).clamp(1, 1_000_000);
        if node_entries == 0 {
            t.limit = 10_000;
        }
    } else {
        t.limit = 0;
    }
    Ok(t)
}

/// The id XADD gives a new entry, or its error.
fn next_id(s: &Stream, given: &Option<IdArg>, now: u64) -> OpResult<StreamId> {
    const SMALLER: &str =
        "ERR The ID specified in XADD is equal or smaller than the target stream top item";
    let id = match given {
        None => {
            if now > s.last_id.ms {
                StreamId::new(now, 0)
            } else {
                s.last_id.next().ok_or_else(|| CmdError::raw(SMALLER))?
            }
        }
        Some(a) if a.seq_given => a.id,
        Some(a) if a.id.ms == s.last_id.ms => {
            if s.last_id.seq == u64::MAX {
                return Err(CmdError::raw(SMALLER));
            }
            StreamId::new(a.id.ms, s.last_id.seq + 1)
        }
        Some(a) => a.id,
    };
    if id <= s.last_id {
        return Err(CmdError::raw(SMALLER));
    }
    Ok(id)
}

#[allow(clippy::too_many_arguments)]
fn op_xadd(
    s: &Shard,
    db: usize,
    key: &[u8],
    t: &TrimArgs,
    strings: &[&[u8]],
    limits: NodeLimits,
    now: u64,
) -> OpResult<Option<StreamId>> {
    if t.nomkstream && peek_stream(s, db, key, now, |_| ())?.is_none() {
        return Ok(None);
    }
    let (id, trimmed) = write_or_create(s, db, key, now, |st| {
        if st.last_id == StreamId::MAX {
            return Err(CmdError::raw(
                "ERR The stream has exhausted the last possible ID, unable to add more items",
            ));
        }
        let id = next_id(st, &t.id, now)?;
        st.append(id, strings, limits);
        let trimmed = t
            .trim
            .is_some_and(|how| st.trim(how, t.approx, t.limit) > 0);
        Ok((id, trimmed))
    })?;
    notify::keyspace_event(class::STREAM, "xadd", key, db);
    if trimmed {
        notify::keyspace_event(class::STREAM, "xtrim", key, db);
    }
    signal_ready(s, db, key);
    Ok(Some(id))
}

fn cmd_xadd(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let limits = ctx.limits();
    let t = parse_trim_args(args, true, limits.stream_node_max_entries)?;
    let n = args.len().saturating_sub(t.fields_at);
    if t.fields_at >= args.len() || n < 2 || n % 2 == 1 {
        return Err(CmdError::WrongArity("xadd".into()));
    }
    if let Some(a) = &t.id {
        if a.seq_given && a.id.is_zero() {
            return Err(CmdError::raw(
                "ERR The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    let strings: Vec<&[u8]> = args.rest(t.fields_at).collect();
    let (db, key, now, nodes) = (ctx.db(), args.get(1), now_ms(), limits.stream_nodes());
    let id = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_xadd(s, db, key, &t, &strings, nodes, now)
        })?;
    match id {
        Some(id) => bulk_id(&mut ctx.reply(), id),
        None => ctx.reply().null(),
    }
    Ok(())
}

fn cmd_xtrim(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let limits = ctx.limits();
    let t = parse_trim_args(args, false, limits.stream_node_max_entries)?;
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let how = t.trim.expect("checked");
    let n = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            let n =
                write_stream(s, db, key, now, |st| st.trim(how, t.approx, t.limit))?.unwrap_or(0);
            if n > 0 {
                notify::keyspace_event(class::STREAM, "xtrim", key, db);
            }
            Ok::<_, CmdError>(n)
        })?;
    ctx.reply().integer(n as i64);
    Ok(())
}

// ---- XLEN XRANGE XREVRANGE -------------------------------------------------------------

fn cmd_xlen(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let n = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        read_stream(s, db, key, now, |st| st.len())
    })?;
    ctx.reply().integer(n.unwrap_or(0) as i64);
    Ok(())
}

/// Writes the entries of `start..=end` (at most `count`, 0 = all) as an array.
pub fn write_range(
    out: &mut Vec<u8>,
    resp: RespVersion,
    st: &Stream,
    start: StreamId,
    end: StreamId,
    rev: bool,
    count: usize,
) -> usize {
    let mut body = Vec::new();
    let mut n = 0;
    {
        let mut w = ReplyWriter::new(&mut body, resp);
        st.range(start, end, rev, |e| {
            write_entry(&mut w, &e);
            n += 1;
            count == 0 || n < count
        });
    }
    ReplyWriter::new(out, resp).array_header(n);
    out.extend_from_slice(&body);
    n
}

fn range_generic(ctx: &mut CmdCtx<'_>, args: &Args<'_>, rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev {
        (args.get(3), args.get(2))
    } else {
        (args.get(2), args.get(3))
    };
    let (mut start, start_ex) = parse_interval(start_arg, 0)?;
    if start_ex {
        start = start
            .next()
            .ok_or_else(|| CmdError::raw("ERR invalid start ID for the interval"))?;
    }
    let (mut end, end_ex) = parse_interval(end_arg, u64::MAX)?;
    if end_ex {
        end = end
            .prev()
            .ok_or_else(|| CmdError::raw("ERR invalid end ID for the interval"))?;
    }
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if args.get(j).eq_ignore_ascii_case(b"count") && j + 1 < args.len() {
            count = parse_i64(args.get(j + 1))?.max(0);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (db, key, now, resp) = (ctx.db(), args.get(1), now_ms(), ctx.conn.resp);
    let out = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        let mut out = Vec::new();
        let found = read_stream(s, db, key, now, |st| {
            if count == 0 {
                ReplyWriter::new(&mut out, resp).null_array();
            } else {
                write_range(&mut out, resp, st, start, end, rev, count.max(0) as usize);
            }
        })?;
        if found.is_none() {
            ReplyWriter::new(&mut out, resp).array_header(0);
        }
        Ok::<_, CmdError>(out)
    })?;
    ctx.out.extend_from_slice(&out);
    Ok(())
}

fn cmd_xrange(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    range_generic(ctx, args, false)
}

fn cmd_xrevrange(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    range_generic(ctx, args, true)
}

// ---- XDEL XSETID -----------------------------------------------------------------------

fn cmd_xdel(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let n = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            // Redis looks the key up before it parses the ids.
            if peek_stream(s, db, key, now, |_| ())?.is_none() {
                return Ok(0);
            }
            let ids = args
                .rest(2)
                .map(parse_strict_id)
                .collect::<OpResult<Vec<_>>>()?;
            let n = write_stream(s, db, key, now, |st| st.delete(&ids))?.unwrap_or(0);
            if n > 0 {
                notify::keyspace_event(class::STREAM, "xdel", key, db);
            }
            Ok::<_, CmdError>(n)
        })?;
    ctx.reply().integer(n as i64);
    Ok(())
}

fn cmd_xsetid(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let id = parse_strict_id(args.get(2))?;
    let mut entries_added: i64 = -1;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = args.get(i);
        if opt.eq_ignore_ascii_case(b"entriesadded") && more > 0 {
            entries_added = parse_i64(args.get(i + 1))?;
            if entries_added < 0 {
                return Err(CmdError::raw("ERR entries_added must be positive"));
            }
        } else if opt.eq_ignore_ascii_case(b"maxdeletedid") && more > 0 {
            max_deleted = parse_strict_id(args.get(i + 1))?;
            if id < max_deleted {
                return Err(CmdError::raw(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    ctx.exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            let r = write_stream(s, db, key, now, |st| {
                if !st.is_empty() {
                    let top = st.last_id;
                    if id < top {
                        return Err(CmdError::raw(
                            "ERR The ID specified in XSETID is smaller than the target stream top item",
                        ));
                    }
                    if entries_added != -1 && st.len() > entries_added as u64 {
                        return Err(CmdError::raw(
                            "ERR The entries_added specified in XSETID is smaller than the target stream length",
                        ));
                    }
                }
                st.last_id = id;
                if entries_added != -1 {
                    st.entries_added = entries_added as u64;
                }
                if !max_deleted.is_zero() {
                    st.max_deleted_id = max_deleted;
                }
                Ok(())
            })?;
            match r {
                None => Err(CmdError::NoSuchKey),
                Some(r) => {
                    r?;
                    notify::keyspace_event(class::STREAM, "xsetid", key, db);
                    Ok(())
                }
            }
        })?;
    ctx.reply().ok();
    Ok(())
}

/// Whether the key counts as a read for the keyspace stats (XREAD's lookups).
pub fn count_read(found: bool) {
    count_lookup(found);
}

pub fn resp3(resp: RespVersion) -> bool {
    resp == RespVersion::Resp3
}

pub fn commands() -> Vec<CommandSpec> {
    let w = &["@write", "@stream", "@fast"];
    let ws = &["@write", "@stream", "@slow"];
    let r = &["@read", "@stream", "@fast"];
    let rs = &["@read", "@stream", "@slow"];
    let one = (1, 1, 1);
    let mut v = vec![
        command(
            "xadd",
            -5,
            WRITE | DENYOOM | FAST,
            w,
            one,
            "stream",
            "5.0.0",
            "Appends a new message to a stream. Creates the key if it doesn't exist.",
            cmd_xadd,
        ),
        command(
            "xtrim",
            -4,
            WRITE,
            ws,
            one,
            "stream",
            "5.0.0",
            "Deletes messages from the beginning of a stream.",
            cmd_xtrim,
        ),
        command(
            "xlen",
            2,
            READONLY | FAST,
            r,
            one,
            "stream",
            "5.0.0",
            "Return the number of messages in a stream.",
            cmd_xlen,
        ),
        command(
            "xrange",
            -4,
            READONLY,
            rs,
            one,
            "stream",
            "5.0.0",
            "Returns the messages from a stream within a range of IDs.",
            cmd_xrange,
        ),
        command(
            "xrevrange",
            -4,
            READONLY,
            rs,
            one,
            "stream",
            "5.0.0",
            "Returns the messages from a stream within a range of IDs in reverse order.",
            cmd_xrevrange,
        ),
        command(
            "xdel",
            -3,
            WRITE | FAST,
            w,
            one,
            "stream",
            "5.0.0",
            "Returns the number of messages after removing them from a stream.",
            cmd_xdel,
        ),
        command(
            "xsetid",
            -3,
            WRITE | DENYOOM | FAST,
            w,
            one,
            "stream",
            "5.0.0",
            "An internal command for replicating stream values.",
            cmd_xsetid,
        ),
    ];
    v.extend(crate::families::stream_groups::commands());
    v.extend(crate::families::stream_read::commands());
    v.extend(crate::families::stream_info::commands());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_like_redis() {
        assert_eq!(parse_strict_id(b"5").unwrap(), StreamId::new(5, 0));
        assert_eq!(parse_strict_id(b"5-3").unwrap(), StreamId::new(5, 3));
        assert!(parse_strict_id(b"-").is_err());
        assert!(parse_strict_id(b"5-").is_err());
        assert!(parse_strict_id(b"a-1").is_err());
        assert!(parse_strict_id(b"18446744073709551616").is_err());
        let a = parse_id_full(b"7-*", 0, true, true).unwrap();
        assert!(!a.seq_given);
        assert_eq!(
            parse_interval(b"(1-1", 0).unwrap(),
            (StreamId::new(1, 1), true)
        );
        assert_eq!(parse_interval(b"+", 0).unwrap(), (StreamId::MAX, false));
        assert_eq!(
            parse_interval(b"3", u64::MAX).unwrap(),
            (StreamId::new(3, u64::MAX), false)
        );
    }
}
