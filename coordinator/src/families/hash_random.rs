//! HRANDFIELD and HSCAN: the hash commands that draw or walk (split from hash_family.rs).

use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult, OpResult};
use crate::families::hash_family::{bulk_lp, now_ms, read_hash};
use crate::families::keyspace_family::{self, parse_scan_cursor};
use crate::random::random_seed;
use crate::registry::{flags::*, CommandSpec};
use crate::shard::{key_hash, Shard};
use crate::tx::locks::LockMode;
use damselfly_protocol::{ReplyWriter, RespVersion};
use damselfly_shards::listpack::LpValue;
use damselfly_shards::{FixedHasher, GlobPattern, HashValue};

/// The seed of the `i`-th draw of a command: independent of the others.
fn draw_seed(base: u64, i: u64) -> u64 {
    FixedHasher::hash_u64(base ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// HRANDFIELD key count [WITHVALUES]: the request after its argument checks.
#[derive(Clone, Copy)]
struct RandCount {
    count: u64,
    /// Distinct fields (positive count) or draws with repetition (negative count).
    unique: bool,
    with_values: bool,
}

fn write_pairs<'a>(
    r: &mut ReplyWriter<'_>,
    pairs: impl ExactSizeIterator<Item = (LpValue<'a>, LpValue<'a>)>,
    with_values: bool,
) {
    let n = pairs.len();
    let resp3 = r.version() == RespVersion::Resp3;
    if with_values && !resp3 {
        r.array_header(n * 2);
    } else {
        r.array_header(n);
    }
    for (f, v) in pairs {
        if with_values {
            if resp3 {
                r.array_header(2);
            }
            bulk_lp(r, f);
            bulk_lp(r, v);
        } else {
            bulk_lp(r, f);
        }
    }
}

fn op_hrandfield_count(
    s: &Shard,
    db: usize,
    key: &[u8],
    req: RandCount,
    resp: RespVersion,
    seed: u64,
    now: u64,
) -> OpResult<Vec<u8>> {
    let mut out = Vec::new();
    let found = read_hash(s, db, key, now, |h: &HashValue| {
        let mut r = ReplyWriter::new(&mut out, resp);
        let len = h.len() as u64;
        if req.count == 0 {
            r.array_header(0);
        } else if !req.unique {
            let draws = (0..req.count).map(|i| h.random(draw_seed(seed, i)).expect("not empty"));
            write_pairs(&mut r, ExactLen(draws, req.count as usize), req.with_values);
        } else if req.count >= len {
            write_pairs(&mut r, ExactLen(h.iter(), len as usize), req.with_values);
        } else {
            let picked = h.random_distinct(req.count as usize, seed);
            write_pairs(&mut r, picked.into_iter(), req.with_values);
        }
    })?;
    if found.is_none() {
        ReplyWriter::new(&mut out, resp).array_header(0);
    }
    Ok(out)
}

/// An iterator of a known length.
struct ExactLen<I>(I, usize);

impl<I: Iterator> Iterator for ExactLen<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        let item = self.0.next()?;
        self.1 -= 1;
        Some(item)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.1, Some(self.1))
    }
}

impl<I: Iterator> ExactSizeIterator for ExactLen<I> {}

fn cmd_hrandfield(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (db, key, now, resp, seed) = (
        ctx.db(),
        args.get(1),
        now_ms(),
        ctx.conn.resp,
        random_seed(),
    );
    if args.len() == 2 {
        let field = ctx
            .exec
            .single_key(key_hash(key), LockMode::Shared, &|s| {
                read_hash(s, db, key, now, |h| h.random(seed).map(|(f, _)| f.to_vec()))
            })?
            .flatten();
        match field {
            Some(f) => ctx.reply().bulk(&f),
            None => ctx.reply().null(),
        }
        return Ok(());
    }
    // Redis's order: the count, the syntax, the WITHVALUES overflow, then the key.
    let l = parse_i64(args.get(2))?;
    if l == i64::MIN {
        return Err(CmdError::raw(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let with_values = args.len() >= 4;
    if args.len() > 4 || (with_values && !eq_ignore_case(args.get(3), "withvalues")) {
        return Err(CmdError::Syntax);
    }
    if with_values && l < -(i64::MAX / 2) {
        // The reply would have more than i64::MAX elements.
        return Err(CmdError::raw("ERR value is out of range"));
    }
    let req = RandCount {
        count: l.unsigned_abs(),
        unique: l >= 0,
        with_values,
    };
    let bytes = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        op_hrandfield_count(s, db, key, req, resp, seed, now)
    })?;
    ctx.out.extend_from_slice(&bytes);
    Ok(())
}

/// HSCAN's options, parsed only once the key is known to be a hash (as Redis does).
struct ScanOpts {
    count: usize,
    pattern: Option<GlobPattern>,
}

fn parse_scan_opts(args: &Args<'_>) -> OpResult<ScanOpts> {
    let (count, pattern) = keyspace_family::parse_scan_options(args, 3)?;
    Ok(ScanOpts { count, pattern })
}

fn op_hscan(
    s: &Shard,
    db: usize,
    key: &[u8],
    cursor: u64,
    opts: &OpResult<ScanOpts>,
    resp: RespVersion,
    now: u64,
) -> OpResult<Vec<u8>> {
    let mut out = Vec::new();
    let found = read_hash(s, db, key, now, |h| -> OpResult<()> {
        let opts = opts.as_ref().map_err(Clone::clone)?;
        let mut items: Vec<(LpValue<'_>, LpValue<'_>)> = Vec::new();
        let mut next = cursor;
        if h.is_packed() {
            // Small encodings answer everything at once, with cursor 0.
            next = h.scan(0, |f, v| items.push((f, v)));
        } else {
            // Redis's loop: buckets until COUNT elements (a field and its value count two)
            // or ten times COUNT buckets.
            let mut budget = opts.count.saturating_mul(10);
            loop {
                next = h.scan(next, |f, v| items.push((f, v)));
                budget -= 1;
                if next == 0 || budget == 0 || items.len() * 2 >= opts.count {
                    break;
                }
            }
        }
        if let Some(p) = &opts.pattern {
            let mut scratch = [0u8; 20];
            items.retain(|(f, _)| p.matches(f.as_bytes(&mut scratch)));
        }
        let mut r = ReplyWriter::new(&mut out, resp);
        r.array_header(2);
        r.bulk(next.to_string().as_bytes());
        r.array_header(items.len() * 2);
        for (f, v) in items {
            bulk_lp(&mut r, f);
            bulk_lp(&mut r, v);
        }
        Ok(())
    })?;
    match found {
        Some(result) => result?,
        None => {
            let mut r = ReplyWriter::new(&mut out, resp);
            r.array_header(2);
            r.bulk(b"0");
            r.array_header(0);
        }
    }
    Ok(out)
}

fn cmd_hscan(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let cursor = parse_scan_cursor(args.get(2))?;
    let opts = parse_scan_opts(args);
    let (db, key, now, resp) = (ctx.db(), args.get(1), now_ms(), ctx.conn.resp);
    let bytes = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        op_hscan(s, db, key, cursor, &opts, resp, now)
    })?;
    ctx.out.extend_from_slice(&bytes);
    Ok(())
}

pub fn commands() -> Vec<CommandSpec> {
    let c = |name, arity, handler, summary, since| CommandSpec {
        name,
        arity,
        flags: READONLY,
        acl: &["@read", "@hash"],
        first_key: 1,
        last_key: 1,
        step: 1,
        group: "hash",
        summary,
        since,
        handler,
        subcommands: Vec::new(),
    };
    vec![
        c(
            "hrandfield",
            -2,
            cmd_hrandfield as _,
            "Returns one or more random fields from a hash.",
            "6.2.0",
        ),
        c(
            "hscan",
            -3,
            cmd_hscan,
            "Iterates over fields and values of a hash.",
            "2.8.0",
        ),
    ]
}
