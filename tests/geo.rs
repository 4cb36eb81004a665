//! Geo commands through real sockets: Redis's documented examples byte for byte in RESP2 and
//! RESP3, the error texts, the STORE forms across shards (alone, in MULTI/EXEC, WATCH), the
//! keys COMMAND GETKEYS finds, client tracking, and keyspace events compared with
//! redis-server's (fails, does not skip, when CI=true and redis-server is missing).

// Test clients are plain threads outside the runtime.
#![allow(clippy::disallowed_methods)]

mod common;
mod events_common;
use common::reference::start_redis;
use common::*;
use damselfly_protocol::Reply;
use events_common::{assert_same_per_key, Listener};

fn sicily(c: &mut Client) {
    let r = c.cmd(&[
        "GEOADD",
        "Sicily",
        "13.361389",
        "38.115556",
        "Palermo",
        "15.087269",
        "37.502669",
        "Catania",
    ]);
    assert_eq!(r, int(2));
}

fn text(c: &mut Client, args: &[&str]) -> String {
    String::from_utf8(c.cmd_raw(args)).unwrap()
}

/// One command's reply exactly as sent (the parsed form would reprint RESP3 doubles).
fn wire(stream: &mut std::net::TcpStream, args: &[&str]) -> String {
    use std::io::{Read, Write};
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    stream.write_all(&Client::encode(&a)).unwrap();
    let (mut buf, mut parser) = (Vec::new(), damselfly_protocol::ReplyParser::new());
    loop {
        if let Some((_, used)) = parser.parse(&buf).unwrap() {
            assert_eq!(used, buf.len(), "one reply");
            return String::from_utf8(buf).unwrap();
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn documented_examples_resp2() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    sicily(&mut c);
    assert_eq!(
        text(&mut c, &["ZRANGE", "Sicily", "0", "-1", "WITHSCORES"]),
        "*4\r\n$7\r\nPalermo\r\n$16\r\n3479099956230698\r\n$7\r\nCatania\r\n$16\r\n3479447370796909\r\n"
    );
    assert_eq!(
        c.cmd(&["GEODIST", "Sicily", "Palermo", "Catania"]),
        bulk("166274.1516")
    );
    assert_eq!(
        c.cmd(&["GEODIST", "Sicily", "Palermo", "Catania", "km"]),
        bulk("166.2742")
    );
    assert_eq!(
        c.cmd(&["GEODIST", "Sicily", "Palermo", "Catania", "mi"]),
        bulk("103.3182")
    );
    assert_eq!(c.cmd(&["GEODIST", "Sicily", "Palermo", "Nope"]), nil());
    assert_eq!(
        c.cmd(&["GEOHASH", "Sicily", "Palermo", "Catania", "Nope"]),
        arr(vec![bulk("sqc8b49rny0"), bulk("sqdtr74hyu0"), nil()])
    );
    assert_eq!(
        text(&mut c, &["GEOPOS", "Sicily", "Palermo", "Nope"]),
        "*2\r\n*2\r\n$20\r\n13.36138933897018433\r\n$20\r\n38.11555639549629859\r\n*-1\r\n"
    );
    assert_eq!(
        c.cmd(&["GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST"]),
        arr(vec![
            arr(vec![bulk("Palermo"), bulk("190.4424")]),
            arr(vec![bulk("Catania"), bulk("56.4413")]),
        ])
    );
    assert_eq!(
        text(
            &mut c,
            &["GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHCOORD", "WITHHASH", "ASC", "COUNT", "1"]
        ),
        "*1\r\n*3\r\n$7\r\nCatania\r\n:3479447370796909\r\n*2\r\n$20\r\n15.08726745843887329\r\n$20\r\n37.50266842333162032\r\n"
    );
    assert_eq!(
        c.cmd(&[
            "GEOSEARCH",
            "Sicily",
            "FROMLONLAT",
            "15",
            "37",
            "BYBOX",
            "400",
            "400",
            "km",
            "ASC"
        ]),
        arr(vec![bulk("Catania"), bulk("Palermo")])
    );
    assert_eq!(
        c.cmd(&[
            "GEORADIUSBYMEMBER",
            "Sicily",
            "Palermo",
            "200",
            "km",
            "DESC"
        ]),
        arr(vec![bulk("Catania"), bulk("Palermo")])
    );
    assert_eq!(
        c.cmd(&[
            "GEOSEARCH",
            "nokey",
            "FROMMEMBER",
            "x",
            "BYRADIUS",
            "1",
            "m"
        ]),
        arr(vec![])
    );
}

#[test]
fn documented_examples_resp3() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    sicily(&mut c);
    let mut w = std::net::TcpStream::connect(s.addr()).unwrap();
    w.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    wire(&mut w, &["HELLO", "3"]);
    // Coordinates are doubles in RESP3; distances stay bulk strings.
    assert_eq!(
        wire(&mut w, &["GEOPOS", "Sicily", "Catania", "Nope"]),
        "*2\r\n*2\r\n,15.08726745843887329\r\n,37.50266842333162032\r\n_\r\n"
    );
    assert_eq!(
        wire(
            &mut w,
            &["GEOSEARCH", "Sicily", "FROMMEMBER", "Catania", "BYRADIUS", "1", "km", "WITHDIST", "WITHCOORD"]
        ),
        "*1\r\n*3\r\n$7\r\nCatania\r\n$6\r\n0.0000\r\n*2\r\n,15.08726745843887329\r\n,37.50266842333162032\r\n"
    );
    assert_eq!(
        wire(&mut w, &["GEODIST", "Sicily", "Palermo", "Catania"]),
        "$11\r\n166274.1516\r\n"
    );
    assert_eq!(wire(&mut w, &["GEODIST", "nokey", "a", "b"]), "_\r\n");
    assert_eq!(wire(&mut w, &["GEOHASH", "nokey", "a"]), "*1\r\n_\r\n");
}

#[test]
fn errors_are_redis_texts() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    sicily(&mut c);
    c.cmd(&["SET", "str", "x"]);
    let cases: &[(&[&str], &str)] = &[
        (&["GEOADD", "k", "200", "100", "m"], "ERR invalid longitude,latitude pair 200.000000,100.000000"),
        (&["GEOADD", "k", "x", "1", "m"], "ERR value is not a valid float"),
        (&["GEOADD", "k", "1", "1"], "ERR wrong number of arguments for 'geoadd' command"),
        (&["GEOADD", "k", "NX", "XX", "1", "1", "m"], "ERR syntax error"),
        (&["GEOADD", "k", "GT", "1", "1", "m"], "ERR syntax error"),
        (&["GEOADD", "str", "1", "1", "m"], "WRONGTYPE Operation against a key holding the wrong kind of value"),
        (&["GEODIST", "Sicily", "a", "b", "yd"], "ERR unsupported unit provided. please use M, KM, FT, MI"),
        (&["GEODIST", "Sicily", "a", "b", "m", "x"], "ERR syntax error"),
        (&["GEORADIUS", "Sicily", "15", "37", "-1", "km"], "ERR radius cannot be negative"),
        (&["GEORADIUS", "Sicily", "15", "37", "r", "km"], "ERR need numeric radius"),
        (&["GEORADIUS", "Sicily", "15", "37", "1", "km", "COUNT", "0"], "ERR COUNT must be > 0"),
        (&["GEORADIUS", "Sicily", "15", "37", "1", "km", "ANY"], "ERR the ANY argument requires COUNT argument"),
        (&["GEORADIUS", "Sicily", "15", "37", "1", "km", "STORE", "d", "WITHDIST"], "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
        (&["GEORADIUS_RO", "Sicily", "15", "37", "1", "km", "STORE", "d"], "ERR syntax error"),
        (&["GEORADIUSBYMEMBER", "Sicily", "Nope", "1", "km"], "ERR could not decode requested zset member"),
        (&["GEORADIUS", "str", "15", "37", "1", "km"], "WRONGTYPE Operation against a key holding the wrong kind of value"),
        (&["geoSearch", "Sicily", "BYRADIUS", "1", "km", "ASC", "DESC"], "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for geoSearch"),
        (&["GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1"], "ERR wrong number of arguments for 'geosearch' command"),
        (&["GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "ASC", "DESC"], "ERR exactly one of BYRADIUS and BYBOX can be specified for GEOSEARCH"),
        (&["GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "BYBOX", "-1", "1", "m"], "ERR height or width cannot be negative"),
        (&["GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "BYBOX", "w", "1", "m"], "ERR need numeric width"),
        (&["GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "BYBOX", "1", "h", "m"], "ERR need numeric height"),
        (&["GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "m", "STOREDIST"], "ERR syntax error"),
        (&["GEOSEARCHSTORE", "d", "Sicily", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "m", "WITHHASH"], "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
    ];
    for (args, want) in cases {
        assert_eq!(c.cmd(args), err(want), "{args:?}");
    }
}

#[test]
fn stores_across_shards() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    sicily(&mut c);
    // Destinations on several shards: some land away from the source.
    for dst in ["d1", "d2", "d3", "d4", "d5", "d6"] {
        assert_eq!(
            c.cmd(&["GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", dst]),
            int(2)
        );
        assert_eq!(
            c.cmd(&["ZRANGE", dst, "0", "-1", "WITHSCORES"]),
            c.cmd(&["ZRANGE", "Sicily", "0", "-1", "WITHSCORES"])
        );
        assert_eq!(
            c.cmd(&[
                "GEOSEARCHSTORE",
                dst,
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "100",
                "km",
                "STOREDIST"
            ]),
            int(1)
        );
        assert_eq!(
            c.cmd(&["ZRANGE", dst, "0", "-1", "WITHSCORES"]),
            arr(vec![bulk("Catania"), bulk("56.441257870158204")])
        );
        // Nothing found: the destination goes.
        assert_eq!(
            c.cmd(&[
                "GEORADIUSBYMEMBER",
                "Sicily",
                "Palermo",
                "1",
                "m",
                "COUNT",
                "1",
                "STORE",
                dst
            ]),
            int(1)
        );
        assert_eq!(
            c.cmd(&["GEORADIUS", "nokey", "15", "37", "1", "m", "STORE", dst]),
            int(0)
        );
        assert_eq!(c.cmd(&["EXISTS", dst]), int(0));
    }
    // In a transaction, the destination is locked with the source.
    assert_eq!(c.cmd(&["MULTI"]), ok());
    for dst in ["t1", "t2", "t3"] {
        c.cmd(&[
            "GEORADIUS",
            "Sicily",
            "15",
            "37",
            "200",
            "km",
            "STOREDIST",
            dst,
        ]);
    }
    assert_eq!(c.cmd(&["EXEC"]), arr(vec![int(2), int(2), int(2)]));
    assert_eq!(
        c.cmd(&["ZRANGE", "t3", "0", "-1"]),
        arr(vec![bulk("Catania"), bulk("Palermo")])
    );
    assert_eq!(
        c.cmd(&[
            "COMMAND",
            "GETKEYS",
            "GEORADIUS",
            "src",
            "1",
            "2",
            "3",
            "m",
            "STORE",
            "a",
            "STOREDIST",
            "b"
        ]),
        arr(vec![bulk("src"), bulk("b")])
    );
    assert_eq!(
        c.cmd(&[
            "COMMAND",
            "GETKEYS",
            "GEOSEARCHSTORE",
            "dst",
            "src",
            "FROMMEMBER",
            "m",
            "BYRADIUS",
            "1",
            "m"
        ]),
        arr(vec![bulk("dst"), bulk("src")])
    );
}

#[test]
fn watch_and_tracking_see_the_writes() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    let mut other = Client::connect(s.addr());
    sicily(&mut c);
    // A STORE breaks a WATCH of its destination.
    c.cmd(&["WATCH", "dst"]);
    other.cmd(&[
        "GEOSEARCHSTORE",
        "dst",
        "Sicily",
        "FROMMEMBER",
        "Palermo",
        "BYRADIUS",
        "1",
        "km",
    ]);
    c.cmd(&["MULTI"]);
    c.cmd(&["PING"]);
    assert_eq!(c.cmd(&["EXEC"]), Reply::NullArray);
    // GEOADD invalidates a tracked read.
    let mut t = Client::connect(s.addr());
    t.cmd(&["HELLO", "3"]);
    assert_eq!(t.cmd(&["CLIENT", "TRACKING", "ON"]), ok());
    t.cmd(&["GEOPOS", "Sicily", "Palermo"]);
    other.cmd(&["GEOADD", "Sicily", "1", "1", "new"]);
    assert_eq!(
        t.read_reply(),
        Reply::Push(vec![bulk("invalidate"), arr(vec![bulk("Sicily")])])
    );
    // A STORE invalidates a tracked read of its destination.
    t.cmd(&["ZCARD", "dst"]);
    other.cmd(&[
        "GEORADIUS",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "STOREDIST",
        "dst",
    ]);
    assert_eq!(
        t.read_reply(),
        Reply::Push(vec![bulk("invalidate"), arr(vec![bulk("dst")])])
    );
}

/// GEOADD raises `zadd` (it is ZADD underneath), the stores `georadiusstore` /
/// `geosearchstore`, an emptied destination `del`: the same events as redis-server's.
#[test]
fn keyspace_events_match_redis() {
    let Some(redis) = start_redis() else { return };
    let ours = server(1);
    let commands: &[&[&str]] = &[
        &[
            "GEOADD",
            "g",
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
        ],
        &["GEOADD", "g", "13.361389", "38.115556", "Palermo"],
        &["GEOADD", "g", "XX", "1", "1", "Nope"],
        &["GEORADIUS", "g", "15", "37", "200", "km", "STORE", "dst"],
        &[
            "GEORADIUSBYMEMBER",
            "g",
            "Palermo",
            "300",
            "km",
            "STOREDIST",
            "dst",
        ],
        &[
            "GEOSEARCHSTORE",
            "dst2",
            "g",
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "200",
            "km",
        ],
        &[
            "GEOSEARCHSTORE",
            "dst2",
            "g",
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "1",
            "m",
        ],
        &[
            "GEORADIUS",
            "nokey",
            "15",
            "37",
            "200",
            "km",
            "STORE",
            "dst",
        ],
        &[
            "GEORADIUS",
            "g",
            "15",
            "37",
            "200",
            "km",
            "STORE",
            "dst3",
            "COUNT",
            "1",
        ],
    ];
    let mut streams = Vec::new();
    for addr in [
        format!("127.0.0.1:{}", redis.port).parse().unwrap(),
        ours.addr(),
    ] {
        let mut w = Client::connect(addr);
        w.cmd(&["FLUSHALL"]);
        w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
        let mut l = Listener::new(addr);
        let mut replies = Vec::new();
        for cmd in commands {
            replies.push(w.cmd(cmd));
        }
        streams.push((replies, l.drain(&mut w)));
        w.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    }
    assert_eq!(streams[1].0, streams[0].0, "replies");
    assert!(!streams[0].1.is_empty());
    assert_same_per_key(&streams[1].1, &streams[0].1, "geo events");
}

/// ACL key rules see a STORE option's destination (found as Redis's georadiusGetKeys
/// finds it) and GEOSEARCHSTORE's.
#[test]
fn acl_checks_the_store_key() {
    let s = server(2);
    let mut admin = Client::connect(s.addr());
    assert_eq!(
        admin.cmd(&["ACL", "SETUSER", "u", "on", ">pw", "~src", "+@all"]),
        ok()
    );
    admin.cmd(&["GEOADD", "src", "15", "37", "a"]);
    let mut u = Client::connect(s.addr());
    assert_eq!(u.cmd(&["AUTH", "u", "pw"]), ok());
    let noperm =
        err("NOPERM this user has no permissions to access one of the keys used as arguments");
    assert_eq!(
        u.cmd(&["GEORADIUS", "src", "15", "37", "200", "km", "STORE", "dst"]),
        noperm
    );
    assert_eq!(
        u.cmd(&[
            "GEOSEARCHSTORE",
            "dst",
            "src",
            "FROMMEMBER",
            "a",
            "BYRADIUS",
            "1",
            "km"
        ]),
        noperm
    );
    assert_eq!(
        u.cmd(&["GEORADIUS", "src", "15", "37", "200", "km"]),
        arr(vec![bulk("a")])
    );
    assert_eq!(admin.cmd(&["EXISTS", "dst"]), int(0));
}
