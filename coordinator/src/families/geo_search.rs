//! Geo searches: GEORADIUS GEORADIUS_RO GEORADIUSBYMEMBER GEORADIUSBYMEMBER_RO GEOSEARCH
//! GEOSEARCHSTORE, with WITHCOORD WITHDIST WITHHASH COUNT [ANY] ASC DESC and the STORE /
//! STOREDIST forms.
//!
//! The arguments are read on the source key's shard, in Redis's order, because some checks
//! need the set (WRONGTYPE comes first; a FROMMEMBER member is looked up where it appears,
//! between the checks of the options around it). The search ([`geohash::search`]), the sort
//! ([`super::geo_sort`]) and the cut to COUNT run there too: the shard returns only the
//! points the reply needs, and the coordinator replies or has the destination's shard store
//! them. A STORE form is one transaction over both keys, its destination found up front by
//! walking the options as the parser consumes them.

use super::geo_family::{
    c_double_to_i64, parse_float_or, parse_lonlat, parse_unit, reply_coord, reply_distance,
};
use super::zset_family::{now_ms, read_zset, store_pairs, SpecFn};
use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult, OpResult};
use crate::keys::KeyPlan;
use crate::registry::{flags::*, CommandSpec};
use crate::shard::{key_hash, shard_of};
use crate::tx::locks::LockMode;
use damselfly_protocol::ReplyWriter;
use damselfly_shards::geohash::{self, Results, Shape, ShapeKind};
use damselfly_shards::zset::ZSetValue;

/// The six commands, by what their arguments allow.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    /// GEORADIUS: centre and radius at fixed positions; STORE allowed unless read-only.
    Coords { store_ok: bool },
    /// GEORADIUSBYMEMBER.
    Member { store_ok: bool },
    /// GEOSEARCH / GEOSEARCHSTORE: FROM* and BY* options.
    Search { store: bool },
}

impl Variant {
    /// Where the options start.
    fn base(self) -> usize {
        match self {
            Variant::Coords { .. } => 6,
            Variant::Member { .. } => 5,
            Variant::Search { store: false } => 2,
            Variant::Search { store: true } => 3,
        }
    }

    fn src_index(self) -> usize {
        if self == (Variant::Search { store: true }) {
            2
        } else {
            1
        }
    }

    /// STORE/STOREDIST with a key argument.
    fn store_option(self) -> bool {
        matches!(
            self,
            Variant::Coords { store_ok: true } | Variant::Member { store_ok: true }
        )
    }

    fn is_search(self) -> bool {
        matches!(self, Variant::Search { .. })
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// What the reply or the stored set needs of the parsed command.
#[derive(Clone, Copy)]
struct Opts {
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    storedist: bool,
    to_meters: f64,
}

/// A parsed search over an existing set.
struct Parsed {
    shape: Shape,
    opts: Opts,
    sort: Sort,
    /// ANY: stop at `count` found, unsorted unless asked.
    any: bool,
    /// COUNT, 0 for all.
    count: u64,
}

/// The destination of a STORE form: the key GEOSEARCHSTORE names first, or the last STORE /
/// STOREDIST whose key the parser would take (it consumes the same arguments for every
/// option as [`parse`], whose checks stop the command anyway when they fail).
fn store_key<'a>(args: &Args<'a>, v: Variant) -> Option<&'a [u8]> {
    if v == (Variant::Search { store: true }) {
        return Some(args.get(1));
    }
    if !v.store_option() {
        return None;
    }
    let base = v.base();
    let remaining = args.len().saturating_sub(base);
    let (mut i, mut key) = (0, None);
    while i < remaining {
        let a = args.get(base + i);
        let takes = |n: usize| i + n < remaining;
        if eq_ignore_case(a, "count") && takes(1) {
            i += 1;
        } else if (eq_ignore_case(a, "store") || eq_ignore_case(a, "storedist")) && takes(1) {
            key = Some(args.get(base + i + 1));
            i += 1;
        }
        i += 1;
    }
    key
}

/// Reads the command's arguments as Redis's `georadiusGeneric` does, in its order, with
/// `z` the source set (None when missing). Ok(None) when the source is missing (after
/// every check Redis still makes then), else the shape and options.
fn parse(args: &Args<'_>, v: Variant, z: Option<&ZSetValue>) -> OpResult<Option<Parsed>> {
    let member_pos = |m: &[u8]| -> OpResult<(f64, f64)> {
        let score = z.and_then(|z| z.score(m));
        score
            .map(geohash::decode_score)
            .ok_or_else(|| CmdError::raw("ERR could not decode requested zset member"))
    };
    let distance = |r: &[u8], unit: &[u8]| -> OpResult<(f64, f64)> {
        let r = parse_float_or(r, "ERR need numeric radius")?;
        if r < 0.0 {
            return Err(CmdError::raw("ERR radius cannot be negative"));
        }
        Ok((r, parse_unit(unit)?))
    };
    let mut shape = Shape {
        lon: 0.0,
        lat: 0.0,
        to_meters: 0.0,
        kind: ShapeKind::Radius(0.0),
    };
    let set_radius = |shape: &mut Shape, (r, to_m): (f64, f64)| {
        shape.kind = ShapeKind::Radius(r);
        shape.to_meters = to_m;
    };
    match v {
        Variant::Coords { .. } => {
            (shape.lon, shape.lat) = parse_lonlat(args.get(2), args.get(3))?;
            set_radius(&mut shape, distance(args.get(4), args.get(5))?);
        }
        // Without a set nothing is checked before the options.
        Variant::Member { .. } if z.is_none() => {}
        Variant::Member { .. } => {
            (shape.lon, shape.lat) = member_pos(args.get(2))?;
            set_radius(&mut shape, distance(args.get(3), args.get(4))?);
        }
        Variant::Search { .. } => {}
    }
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let (mut sort, mut count, mut storedist) = (Sort::None, 0u64, false);
    let mut stored = v == (Variant::Search { store: true });
    let base = v.base();
    let remaining = args.len().saturating_sub(base);
    let mut i = 0;
    while i < remaining {
        let a = args.get(base + i);
        let arg = |n: usize| args.get(base + i + n);
        let takes = |n: usize| i + n < remaining;
        if eq_ignore_case(a, "withdist") {
            withdist = true;
        } else if eq_ignore_case(a, "withhash") {
            withhash = true;
        } else if eq_ignore_case(a, "withcoord") {
            withcoord = true;
        } else if eq_ignore_case(a, "any") {
            any = true;
        } else if eq_ignore_case(a, "asc") {
            sort = Sort::Asc;
        } else if eq_ignore_case(a, "desc") {
            sort = Sort::Desc;
        } else if eq_ignore_case(a, "count") && takes(1) {
            let n = parse_i64(arg(1))?;
            if n <= 0 {
                return Err(CmdError::raw("ERR COUNT must be > 0"));
            }
            count = n as u64;
            i += 1;
        } else if eq_ignore_case(a, "store") && takes(1) && v.store_option() {
            (stored, storedist) = (true, false);
            i += 1;
        } else if eq_ignore_case(a, "storedist") && takes(1) && v.store_option() {
            (stored, storedist) = (true, true);
            i += 1;
        } else if eq_ignore_case(a, "storedist") && v == (Variant::Search { store: true }) {
            storedist = true;
        } else if eq_ignore_case(a, "frommember") && takes(1) && v.is_search() && !fromloc {
            // Without a set the member is not looked up; the missing key answers later.
            if z.is_some() {
                (shape.lon, shape.lat) = member_pos(arg(1))?;
            }
            frommember = true;
            i += 1;
        } else if eq_ignore_case(a, "fromlonlat") && takes(2) && v.is_search() && !frommember {
            (shape.lon, shape.lat) = parse_lonlat(arg(1), arg(2))?;
            fromloc = true;
            i += 2;
        } else if eq_ignore_case(a, "byradius") && takes(2) && v.is_search() && !bybox {
            set_radius(&mut shape, distance(arg(1), arg(2))?);
            byradius = true;
            i += 2;
        } else if eq_ignore_case(a, "bybox") && takes(3) && v.is_search() && !byradius {
            let w = parse_float_or(arg(1), "ERR need numeric width")?;
            let h = parse_float_or(arg(2), "ERR need numeric height")?;
            if h < 0.0 || w < 0.0 {
                return Err(CmdError::raw("ERR height or width cannot be negative"));
            }
            shape.to_meters = parse_unit(arg(3))?;
            shape.kind = ShapeKind::Box {
                width: w,
                height: h,
            };
            bybox = true;
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if stored && (withdist || withhash || withcoord) {
        let what = if v == (Variant::Search { store: true }) {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(CmdError::raw(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    // The command's name as the client wrote it.
    let name = String::from_utf8_lossy(args.get(0));
    if v.is_search() && !(frommember || fromloc) {
        return Err(CmdError::raw(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if v.is_search() && !(byradius || bybox) {
        return Err(CmdError::raw(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(CmdError::raw(
            "ERR the ANY argument requires COUNT argument",
        ));
    }
    if z.is_none() {
        return Ok(None);
    }
    // COUNT means the nearest ones, unless ANY asked for whichever come first.
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let opts = Opts {
        withdist,
        withhash,
        withcoord,
        storedist,
        to_meters: shape.to_meters,
    };
    Ok(Some(Parsed {
        shape,
        opts,
        sort,
        any,
        count,
    }))
}

/// The parsed command's result: None for a missing source.
type Outcome = Option<(Opts, Results)>;

/// Parses, searches, sorts and cuts to COUNT, on the source's shard.
fn run(args: &Args<'_>, v: Variant, z: Option<&ZSetValue>) -> OpResult<Outcome> {
    let Some(Parsed {
        shape,
        opts,
        sort,
        any,
        count,
    }) = parse(args, v, z)?
    else {
        return Ok(None);
    };
    let z = z.expect("a parsed search has its set");
    let limit = if any { count as usize } else { 0 };
    let mut found = Results::default();
    geohash::search(z, &shape, limit, &mut found);
    let points = &mut found.points;
    let keep = if count == 0 {
        points.len()
    } else {
        points.len().min(count as usize)
    };
    if sort != Sort::None {
        super::geo_sort::sort_results(points, keep, sort == Sort::Desc, |f| f.dist);
    }
    points.truncate(keep);
    for f in points.iter_mut() {
        f.dist /= opts.to_meters;
    }
    Ok(Some((opts, found)))
}

fn search_generic(ctx: &mut CmdCtx<'_>, args: &Args<'_>, v: Variant) -> CmdResult {
    let (db, now, resp) = (ctx.db(), now_ms(), ctx.conn.resp);
    let src = args.get(v.src_index());
    let Some(dst) = store_key(args, v) else {
        let outcome = ctx.exec.single_key(key_hash(src), LockMode::Shared, &|s| {
            read_zset(s, db, src, now, |z| run(args, v, z))?
        })?;
        let Some((opts, found)) = outcome else {
            ctx.reply().array_header(0);
            return Ok(());
        };
        let extra =
            usize::from(opts.withdist) + usize::from(opts.withhash) + usize::from(opts.withcoord);
        ReplyWriter::new(ctx.out, resp).array_header(found.points.len());
        for f in &found.points {
            let mut r = ReplyWriter::new(ctx.out, resp);
            if extra > 0 {
                r.array_header(extra + 1);
            }
            r.bulk(found.name_of(f));
            if opts.withdist {
                reply_distance(ctx.out, resp, f.dist);
            }
            if opts.withhash {
                ReplyWriter::new(ctx.out, resp).integer(c_double_to_i64(f.score));
            }
            if opts.withcoord {
                ReplyWriter::new(ctx.out, resp).array_header(2);
                reply_coord(ctx.out, resp, f.lon);
                reply_coord(ctx.out, resp, f.lat);
            }
        }
        return Ok(());
    };
    let limits = ctx.limits();
    let keys = [src, dst];
    let plan = KeyPlan::new(keys.iter().copied(), LockMode::Exclusive);
    let mut tx = ctx.exec.schedule(&plan);
    let n = damselfly_runtime::proactor_count();
    let read = tx
        .execute(&[shard_of(key_hash(src), n)], false, &|s| {
            read_zset(s, db, src, now, |z| run(args, v, z)).and_then(|r| r)
        })
        .pop()
        .expect("one shard");
    let pairs: Vec<(Vec<u8>, f64)> = match read {
        Ok(Some((opts, found))) => found
            .points
            .iter()
            .map(|f| {
                let score = if opts.storedist { f.dist } else { f.score };
                (found.name_of(f).to_vec(), score)
            })
            .collect(),
        // A missing source empties the destination.
        Ok(None) => Vec::new(),
        Err(e) => {
            tx.conclude();
            return Err(e);
        }
    };
    let event = if v.is_search() {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    let stored = tx
        .execute(&[shard_of(key_hash(dst), n)], false, &|s| {
            store_pairs(s, db, dst, &pairs, &limits, now, Some(event))
        })
        .pop()
        .expect("one shard");
    tx.conclude();
    ctx.reply().integer(stored as i64);
    Ok(())
}

fn cmd_georadius(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    search_generic(ctx, args, Variant::Coords { store_ok: true })
}
fn cmd_georadius_ro(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    search_generic(ctx, args, Variant::Coords { store_ok: false })
}
fn cmd_georadiusbymember(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    search_generic(ctx, args, Variant::Member { store_ok: true })
}
fn cmd_georadiusbymember_ro(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    search_generic(ctx, args, Variant::Member { store_ok: false })
}
fn cmd_geosearch(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    search_generic(ctx, args, Variant::Search { store: false })
}
fn cmd_geosearchstore(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    search_generic(ctx, args, Variant::Search { store: true })
}

pub fn commands(c: SpecFn) -> Vec<CommandSpec> {
    let one = (1, 1, 1);
    vec![
        c("georadius", -6, WRITE | DENYOOM, cmd_georadius, "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.", "3.2.0", one),
        c("georadius_ro", -6, READONLY, cmd_georadius_ro, "Returns members from a geospatial index that are within a distance from a coordinate.", "3.2.10", one),
        c("georadiusbymember", -5, WRITE | DENYOOM, cmd_georadiusbymember, "Queries a geospatial index for members within a distance from a member, optionally stores the result.", "3.2.0", one),
        c("georadiusbymember_ro", -5, READONLY, cmd_georadiusbymember_ro, "Returns members from a geospatial index that are within a distance from a member.", "3.2.10", one),
        c("geosearch", -7, READONLY, cmd_geosearch, "Queries a geospatial index for members inside an area of a box or a circle.", "6.2.0", one),
        c("geosearchstore", -8, WRITE | DENYOOM, cmd_geosearchstore, "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.", "6.2.0", (1, 2, 1)),
    ]
}
