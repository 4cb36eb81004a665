//! Geo commands, part one: GEOADD GEODIST GEOHASH GEOPOS, the argument parsing and reply
//! formats every geo command shares, and the family's registration. The searches
//! (GEORADIUS*, GEOSEARCH, GEOSEARCHSTORE) live in [`super::geo_search`].
//!
//! A geo value is a sorted set whose scores are 52-bit geohashes
//! ([`damselfly_shards::geohash`]); GEOADD is ZADD with scores computed from positions, so
//! it raises ZADD's `zadd` event, as Redis does. Replies follow Redis 7.0: distances as bulk
//! strings with four decimals (RESP3 too), coordinates as `%.17Lf` text without trailing
//! zeros (a bulk string in RESP2, a double in RESP3).

use super::zset_family::{now_ms, op_zadd, parse_score, read_zset, SpecFn, ZaddFlags, ZaddOut};
use crate::args::{eq_ignore_case, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult, OpResult};
use crate::registry::{flags::*, CommandSpec};
use crate::shard::key_hash;
use crate::tx::locks::LockMode;
use damselfly_protocol::{ReplyWriter, RespVersion};
use damselfly_shards::geohash::{self, LAT_MAX, LAT_MIN, LONG_MAX, LONG_MIN};
use std::io::Write;

// ---- parsing ----------------------------------------------------------------------------

/// A longitude/latitude pair as Redis's `extractLongLatOrReply` reads one: two floats, then
/// the range check.
pub fn parse_lonlat(lon: &[u8], lat: &[u8]) -> OpResult<(f64, f64)> {
    let lon = parse_score(lon)?;
    let lat = parse_score(lat)?;
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return Err(CmdError::raw(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

/// Meters per unit of a unit argument.
pub fn parse_unit(a: &[u8]) -> OpResult<f64> {
    if eq_ignore_case(a, "m") {
        Ok(1.0)
    } else if eq_ignore_case(a, "km") {
        Ok(1000.0)
    } else if eq_ignore_case(a, "ft") {
        Ok(0.3048)
    } else if eq_ignore_case(a, "mi") {
        Ok(1609.34)
    } else {
        Err(CmdError::raw(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ))
    }
}

/// A float argument with Redis's custom error text.
pub fn parse_float_or(a: &[u8], err: &str) -> OpResult<f64> {
    crate::families::zset_family::parse_score_strict(a).ok_or_else(|| CmdError::raw(err))
}

// ---- replies ----------------------------------------------------------------------------

/// `%.17Lf` of the (exact) value with trailing zeros and point removed, `-0` as `0`:
/// Redis's `ld2string(LD_STR_HUMAN)` of a double widened to long double.
pub fn human_double(buf: &mut [u8; 64], v: f64) -> usize {
    let mut w = &mut buf[..];
    write!(w, "{v:.17}").expect("a coordinate fits 64 bytes");
    let mut n = 64 - w.len();
    if buf[..n].contains(&b'.') {
        while buf[n - 1] == b'0' {
            n -= 1;
        }
        if buf[n - 1] == b'.' {
            n -= 1;
        }
    }
    if n == 2 && buf[0] == b'-' && buf[1] == b'0' {
        buf[0] = b'0';
        n = 1;
    }
    n
}

/// A coordinate as Redis's `addReplyHumanLongDouble` sends it.
pub fn reply_coord(out: &mut Vec<u8>, resp: RespVersion, v: f64) {
    let mut buf = [0u8; 64];
    let n = human_double(&mut buf, v);
    if resp == RespVersion::Resp3 {
        out.push(b',');
        out.extend_from_slice(&buf[..n]);
        out.extend_from_slice(b"\r\n");
    } else {
        ReplyWriter::new(out, resp).bulk(&buf[..n]);
    }
}

/// C's conversion of a double to long long on x86-64 (truncating): NaN and values out of
/// range give the "integer indefinite" value, i64::MIN.
pub fn c_double_to_i64(v: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&v) {
        v as i64
    } else {
        i64::MIN
    }
}

/// C's `llrint` on x86-64: rounded half to even, then converted.
fn llrint(v: f64) -> i64 {
    c_double_to_i64(v.round_ties_even())
}

/// A distance as Redis's `fixedpoint_d2string(.., 4)`: scaled by 10^4, rounded to an
/// integer, printed with exactly four decimals.
pub fn distance_text(buf: &mut [u8; 48], d: f64) -> usize {
    let mut w = &mut buf[..];
    if d == 0.0 {
        w.write_all(b"0.0000").expect("fits");
    } else {
        let scaled = llrint(d * 10000.0);
        let value = scaled.unsigned_abs();
        let sign = if scaled < 0 { "-" } else { "" };
        write!(w, "{sign}{}.{:04}", value / 10000, value % 10000).expect("fits");
    }
    48 - w.len()
}

/// A distance reply: always a bulk string.
pub fn reply_distance(out: &mut Vec<u8>, resp: RespVersion, d: f64) {
    let mut buf = [0u8; 48];
    let n = distance_text(&mut buf, d);
    ReplyWriter::new(out, resp).bulk(&buf[..n]);
}

// ---- GEOADD -----------------------------------------------------------------------------

fn cmd_geoadd(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let mut f = ZaddFlags::default();
    let mut i = 2;
    while i < args.len() {
        let a = args.get(i);
        if eq_ignore_case(a, "nx") {
            f.nx = true;
        } else if eq_ignore_case(a, "xx") {
            f.xx = true;
        } else if !eq_ignore_case(a, "ch") {
            break;
        } else {
            f.ch = true;
        }
        i += 1;
    }
    let left = args.len() - i;
    if !left.is_multiple_of(3) || left == 0 || (f.nx && f.xx) {
        return Err(CmdError::Syntax);
    }
    // Every position is checked before the key is touched.
    let mut scores = Vec::with_capacity(left / 3);
    for j in (i..args.len()).step_by(3) {
        let (lon, lat) = parse_lonlat(args.get(j), args.get(j + 1))?;
        let score = geohash::score_of(lon, lat).expect("a checked position encodes");
        scores.push((score as f64, args.get(j + 2)));
    }
    let (db, key, now, limits) = (ctx.db(), args.get(1), now_ms(), ctx.limits());
    let out = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_zadd(s, db, key, f, &scores, &limits, now)
        })?;
    match out {
        ZaddOut::Count(n) => ctx.reply().integer(n),
        ZaddOut::Score(_) => unreachable!("GEOADD never increments"),
    }
    Ok(())
}

// ---- GEODIST GEOHASH GEOPOS -------------------------------------------------------------

/// The scores of `members` in the zset at `key`: None when the key is missing.
fn read_scores(
    ctx: &mut CmdCtx<'_>,
    key: &[u8],
    members: &[&[u8]],
) -> OpResult<Option<Vec<Option<f64>>>> {
    let (db, now) = (ctx.db(), now_ms());
    ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        read_zset(s, db, key, now, |z| {
            z.map(|z| members.iter().map(|m| z.score(m)).collect())
        })
    })
}

fn cmd_geodist(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let to_meters = match args.len() {
        4 => 1.0,
        5 => parse_unit(args.get(4))?,
        _ => return Err(CmdError::Syntax),
    };
    let scores = read_scores(ctx, args.get(1), &[args.get(2), args.get(3)])?;
    let resp = ctx.conn.resp;
    match scores.as_deref() {
        Some([Some(a), Some(b)]) => {
            let (lon1, lat1) = geohash::decode_score(*a);
            let (lon2, lat2) = geohash::decode_score(*b);
            let d = geohash::distance(lon1, lat1, lon2, lat2) / to_meters;
            reply_distance(ctx.out, resp, d);
        }
        _ => ctx.reply().null(),
    }
    Ok(())
}

fn cmd_geohash(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let members: Vec<&[u8]> = args.rest(2).collect();
    let scores = read_scores(ctx, args.get(1), &members)?;
    let mut r = ctx.reply();
    r.array_header(members.len());
    for i in 0..members.len() {
        match scores.as_ref().and_then(|s| s[i]) {
            Some(score) => r.bulk(&geohash::geohash_string(score)),
            None => r.null(),
        }
    }
    Ok(())
}

fn cmd_geopos(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let members: Vec<&[u8]> = args.rest(2).collect();
    let scores = read_scores(ctx, args.get(1), &members)?;
    let resp = ctx.conn.resp;
    ReplyWriter::new(ctx.out, resp).array_header(members.len());
    for i in 0..members.len() {
        match scores.as_ref().and_then(|s| s[i]) {
            Some(score) => {
                let (lon, lat) = geohash::decode_score(score);
                ReplyWriter::new(ctx.out, resp).array_header(2);
                reply_coord(ctx.out, resp, lon);
                reply_coord(ctx.out, resp, lat);
            }
            None => ReplyWriter::new(ctx.out, resp).null_array(),
        }
    }
    Ok(())
}

pub fn commands() -> Vec<CommandSpec> {
    let c: SpecFn = |name, arity, flags, handler, summary, since, keys| CommandSpec {
        name,
        arity,
        flags,
        acl: if flags & WRITE != 0 {
            &["@write", "@geo"]
        } else {
            &["@read", "@geo"]
        },
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        group: "geo",
        summary,
        since,
        handler,
        subcommands: Vec::new(),
    };
    let one = (1, 1, 1);
    let mut v = vec![
        c("geoadd", -5, WRITE | DENYOOM, cmd_geoadd, "Adds one or more members to a geospatial index. The key is created if it doesn't exist.", "3.2.0", one),
        c("geodist", -4, READONLY, cmd_geodist, "Returns the distance between two members of a geospatial index.", "3.2.0", one),
        c("geohash", -2, READONLY, cmd_geohash, "Returns members from a geospatial index as geohash strings.", "3.2.0", one),
        c("geopos", -2, READONLY, cmd_geopos, "Returns the longitude and latitude of members from a geospatial index.", "3.2.0", one),
    ];
    v.extend(super::geo_search::commands(c));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn human(v: f64) -> String {
        let mut b = [0u8; 64];
        let n = human_double(&mut b, v);
        String::from_utf8(b[..n].to_vec()).unwrap()
    }

    fn dist(v: f64) -> String {
        let mut b = [0u8; 48];
        let n = distance_text(&mut b, v);
        String::from_utf8(b[..n].to_vec()).unwrap()
    }

    #[test]
    fn coordinates_print_as_redis() {
        assert_eq!(human(13.361_389_338_970_184), "13.36138933897018433");
        assert_eq!(human(1.5), "1.5");
        assert_eq!(human(-0.0), "0");
        assert_eq!(human(180.0), "180");
        assert_eq!(human(-1e-20), "0");
    }

    #[test]
    fn distances_print_as_redis() {
        assert_eq!(dist(0.0), "0.0000");
        assert_eq!(dist(166274.15156960033), "166274.1516");
        assert_eq!(dist(0.00004), "0.0000");
        assert_eq!(dist(0.00016), "0.0002");
        assert_eq!(dist(12.5), "12.5000");
        assert_eq!(dist(f64::NAN), "-922337203685477.5808");
    }

    #[test]
    fn positions_are_checked() {
        assert!(parse_lonlat(b"13.36", b"38.11").is_ok());
        let e = parse_lonlat(b"200", b"100").unwrap_err();
        assert!(
            matches!(e, CmdError::Raw(ref t) if t == "ERR invalid longitude,latitude pair 200.000000,100.000000")
        );
        assert!(matches!(parse_lonlat(b"x", b"1"), Err(CmdError::NotFloat)));
        assert!(parse_unit(b"KM").is_ok());
        assert!(parse_unit(b"yd").is_err());
    }
}
