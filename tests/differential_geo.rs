//! Differential test of the geo commands: seeded random streams of GEOADD (random points
//! around a few centres, some invalid), GEODIST GEOHASH GEOPOS and the searches (random
//! centres, radii, boxes, units and options, STORE forms read back with ZRANGE), mixed with
//! ZADD of arbitrary scores, strings (WRONGTYPE) and DEL, sent to redis-server and to
//! Damselfly in RESP2 and RESP3, at the default listpack thresholds and lowered ones.
//! Replies are compared as raw bytes (RESP3 doubles included).
//! Fails (does not skip) when CI=true and redis-server is missing.

// Test clients are plain threads outside the runtime.
#![allow(clippy::disallowed_methods)]

mod common;
use common::reference::{start_redis, Rng};
use common::Client;
use damselfly_protocol::ReplyParser;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A client that returns each reply's bytes exactly as the server sent them.
struct RawClient {
    stream: TcpStream,
    parser: ReplyParser,
    buf: Vec<u8>,
}

impl RawClient {
    fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        RawClient {
            stream,
            parser: ReplyParser::new(),
            buf: Vec::new(),
        }
    }

    fn cmd(&mut self, args: &[&str]) -> Vec<u8> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.stream.write_all(&Client::encode(&a)).expect("send");
        loop {
            if let Some((_, used)) = self.parser.parse(&self.buf).expect("valid reply") {
                return self.buf.drain(..used).collect();
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("read reply");
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Centres the points cluster around (so searches find something), poles and the
/// antimeridian included.
const CENTRES: &[(f64, f64)] = &[
    (13.36, 38.11),
    (-73.98, 40.75),
    (179.5, 0.5),
    (-179.9, -45.0),
    (0.0, 84.9),
    (139.69, -35.68),
];

fn coord(r: &mut Rng, centre: f64, spread: f64, min: f64, max: f64) -> String {
    let off = (r.below(2_000_001) as f64 / 1_000_000.0 - 1.0) * spread;
    format!("{:.6}", (centre + off).clamp(min, max))
}

fn point(r: &mut Rng) -> (String, String) {
    let (lon, lat) = CENTRES[r.below(CENTRES.len() as u64) as usize];
    let spread = [0.01, 0.5, 3.0][r.below(3) as usize];
    match r.below(40) {
        0 => ("200".into(), "10".into()),
        1 => ("10".into(), "-85.1".into()),
        2 => ("abc".into(), "1".into()),
        // Shared positions: equal distances, whose order COUNT's partial sort decides.
        3..=6 => {
            let (lon, lat) = *[
                ("13.361389", "38.115556"),
                ("13.37", "38.12"),
                ("-73.98", "40.75"),
            ]
            .get(r.below(3) as usize)
            .unwrap();
            (lon.into(), lat.into())
        }
        _ => (
            coord(r, lon, spread, -180.0, 180.0),
            coord(r, lat, spread, -85.05112878, 85.05112878),
        ),
    }
}

fn member(r: &mut Rng) -> String {
    format!("m{}", r.below(70))
}

fn key(r: &mut Rng) -> String {
    r.pick(&["g", "g", "g", "h", "str", "missing"]).to_string()
}

fn unit(r: &mut Rng) -> &'static str {
    r.pick(&["m", "km", "km", "mi", "ft", "KM", "yd"])
}

fn radius(r: &mut Rng) -> String {
    match r.below(20) {
        0 => "-1".into(),
        1 => "x".into(),
        2 => "0".into(),
        _ => {
            let exp = r.below(7) as i32;
            format!("{}", (1 + r.below(900)) as f64 * 10f64.powi(exp - 2))
        }
    }
}

/// The option tail of a search: WITH*, sort, COUNT [ANY], sometimes something invalid.
fn options(r: &mut Rng, out: &mut Vec<String>, with_allowed: bool) {
    if with_allowed {
        for opt in ["WITHDIST", "WITHCOORD", "WITHHASH"] {
            if r.below(3) == 0 {
                out.push(opt.into());
            }
        }
    }
    match r.below(4) {
        0 => out.push("ASC".into()),
        1 => out.push("DESC".into()),
        _ => {}
    }
    if r.below(3) == 0 {
        out.push("COUNT".into());
        out.push(r.pick(&["1", "2", "5", "0", "x", "100"]).into());
        if r.below(3) == 0 {
            out.push("ANY".into());
        }
    } else if r.below(30) == 0 {
        out.push("ANY".into());
    }
    if r.below(40) == 0 {
        out.push(r.pick(&["BOGUS", "COUNT", "STORE"]).into());
    }
}

fn search_from(r: &mut Rng, out: &mut Vec<String>) {
    if r.below(2) == 0 {
        out.push("FROMMEMBER".into());
        out.push(member(r));
    } else {
        let (lon, lat) = point(r);
        out.extend(["FROMLONLAT".into(), lon, lat]);
    }
}

fn search_by(r: &mut Rng, out: &mut Vec<String>) {
    if r.below(2) == 0 {
        out.extend(["BYRADIUS".into(), radius(r), unit(r).into()]);
    } else {
        let (w, h) = (radius(r), radius(r));
        out.extend(["BYBOX".into(), w, h, unit(r).into()]);
    }
}

fn random_command(r: &mut Rng) -> Vec<String> {
    let s = |v: &str| v.to_string();
    let mut c: Vec<String> = Vec::new();
    match r.below(22) {
        0..=5 => {
            c.extend([s("GEOADD"), key(r)]);
            for opt in ["NX", "XX", "CH"] {
                if r.below(8) == 0 {
                    c.push(opt.into());
                }
            }
            for _ in 0..1 + r.below(6) {
                let (lon, lat) = point(r);
                c.extend([lon, lat, member(r)]);
            }
            if r.below(30) == 0 {
                c.push("extra".into());
            }
        }
        6 => {
            c.extend([s("GEODIST"), key(r), member(r), member(r)]);
            if r.below(2) == 0 {
                c.push(unit(r).into());
            }
        }
        7 => {
            c.extend([s(r.pick(&["GEOHASH", "GEOPOS"])), key(r)]);
            for _ in 0..r.below(4) {
                c.push(member(r));
            }
        }
        8..=10 => {
            let ro = r.below(3) == 0;
            c.extend([s(if ro { "GEORADIUS_RO" } else { "GEORADIUS" }), key(r)]);
            let (lon, lat) = point(r);
            c.extend([lon, lat, radius(r), unit(r).into()]);
            options(r, &mut c, true);
        }
        11 | 12 => {
            let ro = r.below(3) == 0;
            let name = if ro {
                "GEORADIUSBYMEMBER_RO"
            } else {
                "GEORADIUSBYMEMBER"
            };
            c.extend([s(name), key(r), member(r), radius(r), unit(r).into()]);
            options(r, &mut c, true);
        }
        13 | 14 => {
            c.extend([s(r.pick(&["GEORADIUS", "GEORADIUSBYMEMBER"])), key(r)]);
            if c[0] == "GEORADIUS" {
                let (lon, lat) = point(r);
                c.extend([lon, lat]);
            } else {
                c.push(member(r));
            }
            c.extend([radius(r), unit(r).into()]);
            let with = r.below(8) == 0;
            options(r, &mut c, with);
            c.push(s(r.pick(&["STORE", "STOREDIST"])));
            c.push(s(r.pick(&["dst", "g"])));
        }
        15..=17 => {
            c.extend([s("GEOSEARCH"), key(r)]);
            search_from(r, &mut c);
            search_by(r, &mut c);
            options(r, &mut c, true);
        }
        18 | 19 => {
            c.extend([s("GEOSEARCHSTORE"), s(r.pick(&["dst", "g"])), key(r)]);
            search_from(r, &mut c);
            search_by(r, &mut c);
            let with = r.below(8) == 0;
            options(r, &mut c, with);
            if r.below(2) == 0 {
                c.push("STOREDIST".into());
            }
        }
        20 => {
            c.extend([s("ZRANGE"), s(r.pick(&["dst", "g"])), s("0"), s("-1")]);
            c.push("WITHSCORES".into());
        }
        _ => match r.below(4) {
            0 => c.extend([s("SET"), s("str"), s("x")]),
            1 => c.extend([s("DEL"), s(r.pick(&["g", "h", "dst"]))]),
            2 => c.extend([
                s("ZADD"),
                s("h"),
                s(r.pick(&["-1", "1e300", "4503599627370495", "0", "3.5"])),
                member(r),
            ]),
            _ => c.extend([s("OBJECT"), s("ENCODING"), s(r.pick(&["g", "dst"]))]),
        },
    }
    c
}

fn run(resp3: bool, small_listpacks: bool, seeds: std::ops::RangeInclusive<u64>) {
    let Some(redis) = start_redis() else { return };
    let ours = common::server(4);
    let mut theirs = RawClient::connect(format!("127.0.0.1:{}", redis.port).parse().unwrap());
    let mut mine = RawClient::connect(ours.addr());
    for c in [&mut theirs, &mut mine] {
        if resp3 {
            c.cmd(&["HELLO", "3"]);
        }
        if small_listpacks {
            c.cmd(&["CONFIG", "SET", "zset-max-listpack-entries", "8"]);
        }
    }
    // Searches that found something: the stream must exercise real results.
    let (mut hits, mut stored) = (0, 0);
    for seed in seeds {
        for c in [&mut theirs, &mut mine] {
            c.cmd(&["FLUSHALL"]);
        }
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        for step in 0..500 {
            let cmd = random_command(&mut r);
            let args: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
            let want = theirs.cmd(&args);
            let got = mine.cmd(&args);
            if cmd[0].starts_with("GEORADIUS") || cmd[0] == "GEOSEARCH" {
                hits += usize::from(want.starts_with(b"*") && !want.starts_with(b"*0\r\n"));
            }
            if cmd[0] == "GEOSEARCHSTORE" || cmd.iter().any(|a| a.starts_with("STORE")) {
                stored += usize::from(want.starts_with(b":") && want != b":0\r\n");
            }
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "seed {seed} step {step}: {cmd:?}"
            );
        }
    }
    assert!(
        hits > 50 && stored > 20,
        "searches found too little: {hits} {stored}"
    );
}

#[test]
fn random_geo_streams_resp2() {
    run(false, false, 1..=10);
}

#[test]
fn random_geo_streams_resp3() {
    run(true, false, 11..=18);
}

#[test]
fn random_geo_streams_small_listpacks() {
    run(false, true, 19..=24);
    run(true, true, 25..=28);
}

/// Many members at a few shared positions, searched with every COUNT: the ranks Redis's
/// partial quicksort gives equal distances (more than 40 results take its median-of-nine
/// path) must be Damselfly's too.
#[test]
fn equal_distances_keep_redis_order() {
    let Some(redis) = start_redis() else { return };
    let ours = common::server(2);
    let mut theirs = RawClient::connect(format!("127.0.0.1:{}", redis.port).parse().unwrap());
    let mut mine = RawClient::connect(ours.addr());
    let mut r = Rng(0x5eed_1234_abcd_0001);
    let spots = [
        ("13.361389", "38.115556"),
        ("13.37", "38.12"),
        ("13.4", "38.1"),
    ];
    for c in [&mut theirs, &mut mine] {
        c.cmd(&["FLUSHALL"]);
    }
    for i in 0..90 {
        let (lon, lat) = spots[r.below(3) as usize];
        let m = format!("p{i}");
        let args = ["GEOADD", "ties", lon, lat, m.as_str()];
        assert_eq!(mine.cmd(&args), theirs.cmd(&args));
    }
    for count in 1..=90 {
        let count = count.to_string();
        for order in ["ASC", "DESC"] {
            let args = [
                "GEOSEARCH",
                "ties",
                "FROMLONLAT",
                "13.38",
                "38.11",
                "BYRADIUS",
                "50",
                "km",
                "COUNT",
                &count,
                order,
                "WITHDIST",
            ];
            let want = theirs.cmd(&args);
            assert_eq!(
                String::from_utf8_lossy(&mine.cmd(&args)),
                String::from_utf8_lossy(&want),
                "{args:?}"
            );
        }
    }
}
