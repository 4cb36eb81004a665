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

/// Asserts equal contents; on a mismatch names the first differing element, shortened.
fn assert_same(mine: &(R, R), theirs: &(R, R), what: &str) {
    if mine == theirs {
        return;
    }
    let short = |r: &R| {
        let t = format!("{r:?}");
        t.chars().take(200).collect::<String>()
    };
    if let ((_, R::Array(a)), (_, R::Array(b))) = (mine, theirs) {
        let at = a
            .iter()
            .zip(b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "{what}: {} vs {} elements, first difference at {at}: {} vs {}",
            a.len(),
            b.len(),
            a.get(at).map_or("-".into(), short),
            b.get(at).map_or("-".into(), short)
        );
    }
    panic!("{what}: {} vs {}", short(&mine.1), short(&theirs.1));
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
        assert_same(
            &contents(&mut dc, &key),
            &want,
            &format!("{key} built differently"),
        );
        let ttl = if i % 5 == 0 { "100000" } else { "0" };

        let from_redis = dump(&mut rc, &key);
        let rk = format!("from-redis:{i}");
        assert_eq!(restore(&mut dc, &rk, ttl, &from_redis), ok(), "{key}");
        assert_same(
            &contents(&mut dc, &rk),
            &want,
            &format!("{key}: redis-server's DUMP restored here"),
        );
        assert_eq!(
            dc.cmd(&["OBJECT", "ENCODING", &rk]),
            dc.cmd(&["OBJECT", "ENCODING", &key]),
            "{key}"
        );

        let from_here = dump(&mut dc, &key);
        let dk = format!("from-damselfly:{i}");
        assert_eq!(restore(&mut rc, &dk, ttl, &from_here), ok(), "{key}");
        assert_same(
            &contents(&mut rc, &dk),
            &want,
            &format!("{key}: Damselfly's DUMP restored in redis-server"),
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
                    let what = format!("{key}: corrupt body {:?}", &q[..q.len().min(64)]);
                    assert_same(&contents(&mut dc, "x"), &contents(&mut rc, "x"), &what);
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

/// A random ziplist / list entry: integers of every ziplist width, strings of every length
/// class (and past 254 bytes, so the next entry's previous length takes 5 bytes).
fn old_entry(r: &mut Rng) -> String {
    match r.below(9) {
        0 => r.below(13).to_string(),
        1 => format!("-{}", r.below(128)),
        2 => (r.below(60_000) as i64 - 30_000).to_string(),
        3 => (r.below(16_000_000) as i64 - 8_000_000).to_string(),
        4 => (r.next() as i32).to_string(),
        5 => (r.next() as i64).to_string(),
        6 => "w".repeat(r.below(400) as usize),
        7 => "q".repeat(16_384 + r.below(100) as usize),
        _ => format!("s{}", r.below(100_000)),
    }
}

/// A ziplist entry for `s`: an integer when it is canonical decimal text, as Redis stored it.
fn entry(s: &str) -> damselfly_persistence::listpack::Entry<'_> {
    use damselfly_persistence::listpack::Entry;
    match s.parse::<i64>() {
        Ok(v) if v.to_string() == s => Entry::Int(v),
        _ => Entry::Str(s.as_bytes()),
    }
}

fn old_payload(r: &mut Rng, t: u8, n: usize) -> Vec<u8> {
    use damselfly_persistence::encoding::{write_len, write_string};
    use damselfly_persistence::legacy::{intset_blob, ziplist_blob};
    let items: Vec<String> = (0..n).map(|_| old_entry(r)).collect();
    let mut fields: Vec<String> = (0..n).map(|i| format!("f{i}:{}", old_entry(r))).collect();
    fields.dedup();
    let mut out = vec![t];
    match t {
        1 => {
            write_len(&mut out, n as u64);
            items
                .iter()
                .for_each(|s| write_string(&mut out, s.as_bytes()));
        }
        3 => {
            write_len(&mut out, fields.len() as u64);
            for f in &fields {
                write_string(&mut out, f.as_bytes());
                let score = format!("{}.{}", r.below(1000), r.below(100));
                match r.below(6) {
                    0 => out.push(254),
                    1 => out.push(255),
                    _ => {
                        out.push(score.len() as u8);
                        out.extend_from_slice(score.as_bytes());
                    }
                }
            }
        }
        9 => {
            // Zipmap: count, then key, value (with free bytes) pairs, then 0xff.
            let mut zm = vec![fields.len().min(254) as u8];
            let len = |zm: &mut Vec<u8>, l: usize| {
                if l < 254 {
                    zm.push(l as u8);
                } else {
                    zm.push(254);
                    zm.extend_from_slice(&(l as u32).to_le_bytes());
                }
            };
            for (i, f) in fields.iter().enumerate() {
                len(&mut zm, f.len());
                zm.extend_from_slice(f.as_bytes());
                let v = &items[i];
                len(&mut zm, v.len());
                let free = r.below(3) as usize;
                zm.push(free as u8);
                zm.extend_from_slice(v.as_bytes());
                zm.extend(std::iter::repeat_n(0, free));
            }
            zm.push(0xff);
            write_string(&mut out, &zm);
        }
        10 => write_string(
            &mut out,
            &ziplist_blob(&items.iter().map(|s| entry(s)).collect::<Vec<_>>()),
        ),
        12 | 13 => {
            let scores: Vec<String> = fields
                .iter()
                .map(|_| match r.below(3) {
                    0 => r.below(100).to_string(),
                    1 => format!("{}.5", r.below(100)),
                    _ => format!("-{}", r.below(1_000_000)),
                })
                .collect();
            let mut pairs: Vec<(&String, &String)> = if t == 12 {
                fields.iter().zip(&scores).collect()
            } else {
                fields.iter().zip(&items).collect()
            };
            if t == 12 {
                // A zset ziplist is kept in (score, member) order; redis-server trusts it.
                let key = |p: &(&String, &String)| (p.1.parse::<f64>().unwrap(), p.0.clone());
                pairs.sort_by(|a, b| key(a).partial_cmp(&key(b)).unwrap());
            }
            let mut zl = Vec::new();
            for (f, v) in pairs {
                zl.push(entry(f));
                zl.push(entry(v));
            }
            write_string(&mut out, &ziplist_blob(&zl));
        }
        14 => {
            let chunks: Vec<&[String]> = items.chunks(1 + r.below(50) as usize).collect();
            write_len(&mut out, chunks.len() as u64);
            for c in chunks {
                write_string(
                    &mut out,
                    &ziplist_blob(&c.iter().map(|s| entry(s)).collect::<Vec<_>>()),
                );
            }
        }
        _ => {
            let mut ints: Vec<i64> = (0..n).map(|_| (r.next() as i64) >> r.below(64)).collect();
            ints.sort_unstable();
            ints.dedup();
            write_string(&mut out, &intset_blob(&ints));
        }
    }
    let mut q = out;
    q.extend_from_slice(&9u16.to_le_bytes());
    let crc = damselfly_persistence::crc64::crc64(0, &q);
    q.extend_from_slice(&crc.to_le_bytes());
    q
}

#[test]
fn old_encodings_load_as_redis_loads_them() {
    let Some(redis) = start_redis() else { return };
    let srv = start(2);
    let mut rc = Client::connect(format!("127.0.0.1:{}", redis.port).parse().unwrap());
    let mut dc = Client::connect(srv.addr());
    let mut r = Rng(0x5eed_d0e5_0003);
    for i in 0..120 {
        let t = [1u8, 3, 9, 10, 11, 12, 13, 14][i % 8];
        let n = if t == 9 {
            1 + r.below(200)
        } else {
            size(&mut r) as u64
        } as usize;
        let p = old_payload(&mut r, t, n);
        let key = format!("old{i}");
        assert_eq!(
            restore(&mut rc, &key, "0", &p),
            ok(),
            "type {t}: redis-server refuses it"
        );
        assert_eq!(restore(&mut dc, &key, "0", &p), ok(), "type {t}");
        assert_same(
            &contents(&mut dc, &key),
            &contents(&mut rc, &key),
            &format!("type {t}"),
        );
    }
}
