//! DUMP/RESTORE against redis-server 7.0: random values of every type and encoding (built by
//! the same commands on both servers) DUMPed by redis-server RESTORE into Damselfly with
//! equal contents, and Damselfly's DUMPs RESTORE into redis-server equal, both compared with
//! the type's own reads and OBJECT ENCODING. Corrupted payloads (bit flips, truncation, and
//! bodies corrupted under a recomputed checksum) never crash Damselfly and get Redis's
//! error. Fails (does not skip) when CI=true and redis-server is missing.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::reference::{start_redis, Rng};
use common::*;
use damselfly_persistence::dump::seal;
use damselfly_protocol::Reply as R;

fn start(threads: usize) -> damselfly::ServerHandle {
    std::thread::spawn(move || server(threads))
        .join()
        .expect("server starts")
}

fn element(r: &mut Rng) -> String {
    match r.below(10) {
        0 => r.next().to_string(),
        1 => format!("-{}", r.below(100_000)),
        2 => r.below(128).to_string(),
        3 => "y".repeat(r.below(100) as usize),
        4 => format!("{:x}", r.next()).repeat(1 + r.below(8) as usize),
        5 => (0..r.below(30))
            .map(|_| (b'a' + r.below(26) as u8) as char)
            .collect(),
        _ => format!("e{}", r.below(5000)),
    }
}

fn string_value(r: &mut Rng) -> String {
    match r.below(8) {
        0 => r.below(1000).to_string(),
        1 => (r.next() as i64).to_string(),
        2 => String::new(),
        3 => "abc".repeat(r.below(3000) as usize),
        4 => (0..r.below(200))
            .map(|_| (b' ' + r.below(90) as u8) as char)
            .collect(),
        5 => "007".into(),
        _ => element(r),
    }
}

/// Sizes on both sides of every threshold (listpack entries 128/512, intset 512).
fn size(r: &mut Rng) -> usize {
    match r.below(5) {
        0 => 1 + r.below(5) as usize,
        1 => 100 + r.below(60) as usize,
        2 => 480 + r.below(60) as usize,
        3 => 1000 + r.below(1500) as usize,
        _ => 1 + r.below(300) as usize,
    }
}

fn score(r: &mut Rng) -> String {
    match r.below(8) {
        0 => "inf".into(),
        1 => "-inf".into(),
        2 => format!("{}.{}", r.below(1000), r.below(1000)),
        3 => format!("-{}e{}", r.below(100), r.below(300)),
        4 => (r.next() as i64).to_string(),
        5 => format!("{}", (r.next() >> 11) as f64 / (1u64 << 40) as f64),
        _ => r.below(100).to_string(),
    }
}

/// The commands that build one random value at `key` (variadic, so a big one is one call).
fn build(r: &mut Rng, key: &str) -> Vec<Vec<String>> {
    let n = size(r);
    let s = |v: &str| v.to_string();
    match r.below(5) {
        0 => vec![vec![s("SET"), s(key), string_value(r)]],
        1 => {
            let mut c = vec![s("RPUSH"), s(key)];
            let big = r.below(4) == 0;
            c.extend((0..n).map(|_| {
                if big && r.below(50) == 0 {
                    "z".repeat(9000)
                } else {
                    element(r)
                }
            }));
            vec![c]
        }
        2 => {
            let mut c = vec![s("SADD"), s(key)];
            match r.below(3) {
                0 => c.extend((0..n).map(|_| (r.next() as i64 >> r.below(64)).to_string())),
                1 => c.extend((0..n).map(|_| r.below(1000).to_string())),
                _ => c.extend((0..n).map(|_| element(r))),
            }
            vec![c]
        }
        3 => {
            let mut c = vec![s("HSET"), s(key)];
            let long = r.below(3) == 0;
            for i in 0..n {
                c.push(format!("f{i}-{}", r.below(10)));
                c.push(if long && r.below(20) == 0 {
                    "v".repeat(70)
                } else {
                    string_value(r)
                });
            }
            vec![c]
        }
        _ => {
            let mut c = vec![s("ZADD"), s(key)];
            let long = r.below(3) == 0;
            for i in 0..n {
                c.push(score(r));
                c.push(if long && r.below(20) == 0 {
                    format!("{i}{}", "m".repeat(70))
                } else {
                    format!("{}-{i}", element(r))
                });
            }
            vec![c]
        }
    }
}

fn run(c: &mut Client, cmd: &[String]) -> R {
    let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
    c.cmd(&args)
}

fn sorted(r: R) -> R {
    match r {
        R::Array(mut items) => {
            items.sort_by_key(|i| format!("{i:?}"));
            R::Array(items)
        }
        other => other,
    }
}

fn pairs_sorted(r: R) -> R {
    match r {
        R::Array(items) => {
            let mut pairs: Vec<(String, String)> = items
                .chunks(2)
                .map(|p| (format!("{:?}", p[0]), format!("{:?}", p[1])))
                .collect();
            pairs.sort();
            R::Array(
                pairs
                    .into_iter()
                    .map(|(a, b)| R::Bulk(format!("{a}={b}").into_bytes()))
                    .collect(),
            )
        }
        other => other,
    }
}

/// The value at `key` read with its type's own commands, in a comparable form.
fn contents(c: &mut Client, key: &str) -> (R, R) {
    let t = c.cmd(&["TYPE", key]);
    let body = match &t {
        R::Simple(s) if s == b"string" => c.cmd(&["GET", key]),
        R::Simple(s) if s == b"list" => c.cmd(&["LRANGE", key, "0", "-1"]),
        R::Simple(s) if s == b"set" => sorted(c.cmd(&["SMEMBERS", key])),
        R::Simple(s) if s == b"hash" => pairs_sorted(c.cmd(&["HGETALL", key])),
        R::Simple(s) if s == b"zset" => c.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"]),
        _ => R::NullBulk,
    };
    (t, body)
}

fn restore(c: &mut Client, key: &str, ttl: &str, payload: &[u8]) -> R {
    c.cmd_bytes(&[
        b"RESTORE",
        key.as_bytes(),
        ttl.as_bytes(),
        payload,
        b"REPLACE",
    ])
}

fn dump(c: &mut Client, key: &str) -> Vec<u8> {
    match c.cmd(&["DUMP", key]) {
        R::Bulk(b) => b,
        other => panic!("DUMP {key}: {other:?}"),
    }
}

#[test]
fn payloads_cross_both_ways() {
    let Some(redis) = start_redis() else { return };
    let srv = start(2);
    let mut rc = Client::connect(format!("127.0.0.1:{}", redis.port).parse().unwrap());
    let mut dc = Client::connect(srv.addr());
    let mut r = Rng(0x5eed_d0e5_0001);
    for i in 0..150 {
        let key = format!("k{i}");
        for cmd in build(&mut r, &key) {
            assert_eq!(run(&mut rc, &cmd), run(&mut dc, &cmd), "{:?}", &cmd[..2]);
        }
        let want = contents(&mut rc, &key);
        assert_eq!(contents(&mut dc, &key), want, "{key} built differently");
        let ttl = if i % 5 == 0 { "100000" } else { "0" };

        let from_redis = dump(&mut rc, &key);
        let rk = format!("from-redis:{i}");
        assert_eq!(restore(&mut dc, &rk, ttl, &from_redis), ok(), "{key}");
        assert_eq!(
            contents(&mut dc, &rk),
            want,
            "{key}: redis-server's DUMP restored here"
        );
        assert_eq!(
            dc.cmd(&["OBJECT", "ENCODING", &rk]),
            dc.cmd(&["OBJECT", "ENCODING", &key]),
            "{key}"
        );

        let from_here = dump(&mut dc, &key);
        let dk = format!("from-damselfly:{i}");
        assert_eq!(restore(&mut rc, &dk, ttl, &from_here), ok(), "{key}");
        assert_eq!(
            contents(&mut rc, &dk),
            want,
            "{key}: Damselfly's DUMP restored in redis-server"
        );
        assert_eq!(
            rc.cmd(&["OBJECT", "ENCODING", &dk]),
            rc.cmd(&["OBJECT", "ENCODING", &key]),
            "{key}"
        );
        if ttl != "0" {
            for (c, k) in [(&mut dc, &rk), (&mut rc, &dk)] {
                let R::Integer(pttl) = c.cmd(&["PTTL", k]) else {
                    panic!()
                };
                assert!((90_000..=100_000).contains(&pttl), "{k}: {pttl}");
            }
        }
    }
}

#[test]
fn corrupted_payloads_get_redis_errors() {
    let Some(redis) = start_redis() else { return };
    let srv = start(2);
    let mut rc = Client::connect(format!("127.0.0.1:{}", redis.port).parse().unwrap());
    let mut dc = Client::connect(srv.addr());
    assert_eq!(
        rc.cmd(&["CONFIG", "SET", "sanitize-dump-payload", "yes"]),
        ok()
    );
    let mut r = Rng(0x5eed_d0e5_0002);
    let bad_data = err("ERR Bad data format");
    let (mut agreed_ok, mut agreed_err, mut stricter) = (0, 0, 0);
    for i in 0..120 {
        let key = format!("k{i}");
        for cmd in build(&mut r, &key) {
            run(&mut rc, &cmd);
        }
        let p = dump(&mut rc, &key);
        // Flipped bits and truncations fail the footer check on both servers.
        for _ in 0..4 {
            let mut q = p.clone();
            for _ in 0..1 + r.below(3) {
                let at = r.below(q.len() as u64) as usize;
                q[at] ^= 1 << r.below(8);
            }
            if q == p {
                continue;
            }
            assert_eq!(
                restore(&mut dc, "x", "0", &q),
                restore(&mut rc, "x", "0", &q),
                "{key}"
            );
            let cut = r.below(p.len() as u64) as usize;
            assert_eq!(
                restore(&mut dc, "x", "0", &p[..cut]),
                restore(&mut rc, "x", "0", &p[..cut])
            );
        }
        // Bodies corrupted under a valid footer reach the decoders.
        let body = &p[..p.len() - 10];
        for _ in 0..8 {
            let mut q = body.to_vec();
            if r.below(3) == 0 {
                q.truncate(r.below(q.len() as u64) as usize);
            } else {
                let at = r.below(q.len() as u64) as usize;
                q[at] ^= 1 << r.below(8);
            }
            seal(&mut q);
            let mine = restore(&mut dc, "x", "0", &q);
            let theirs = restore(&mut rc, "x", "0", &q);
            assert!(mine == ok() || mine == bad_data, "{key}: {mine:?}");
            match (mine == ok(), theirs == ok()) {
                (true, true) => {
                    agreed_ok += 1;
                    assert_eq!(
                        contents(&mut dc, "x"),
                        contents(&mut rc, "x"),
                        "{key}: {q:?}"
                    );
                }
                (false, false) => {
                    agreed_err += 1;
                    assert_eq!(mine, theirs);
                }
                // Damselfly validates every entry; redis-server lets some damage through
                // (a listpack zset's score text, a string's bytes inside a blob).
                (false, true) => stricter += 1,
                (true, false) => {
                    panic!("{key}: accepted what redis-server refuses: {theirs:?} {q:?}")
                }
            }
            dc.cmd(&["DEL", "x"]);
            rc.cmd(&["DEL", "x"]);
        }
    }
    eprintln!("corrupt bodies: {agreed_ok} accepted by both, {agreed_err} refused by both, {stricter} refused only here");
    assert_eq!(dc.cmd(&["PING"]), simple("PONG"));
    assert_eq!(rc.cmd(&["PING"]), simple("PONG"));
}
