//! Differential test of the sorted-set commands: seeded random streams over a small key
//! space, mixed with DEL/EXPIRE/RENAME/TYPE/EXISTS, strings and sets (WRONGTYPE, and set
//! sources of the algebra), sent to
//! redis-server and to Damselfly, in RESP2 and RESP3, with the listpack thresholds at their
//! defaults and lowered (so both encodings and their conversions are exercised). Replies must
//! be identical; ZRANDMEMBER (whole-set draws only) and ZSCAN are compared sorted.
//! Fails (does not skip) when CI=true and redis-server is missing.

// Test clients are plain threads outside the runtime.
#![allow(clippy::disallowed_methods)]

mod common;
use common::reference::{start_redis, Rng};
use common::*;
use damselfly_protocol::Reply;

fn score(r: &mut Rng) -> String {
    match r.below(12) {
        0 => "1.5".into(),
        1 => "-2.25".into(),
        2 => r.pick(&["-inf", "+inf", "inf"]).into(),
        3 => "0.1".into(),
        4 => r
            .pick(&["1e100", "-0", "abc", "nan", "3.0000000000000004"])
            .into(),
        _ => (r.below(20) as i64 - 5).to_string(),
    }
}

fn bound(r: &mut Rng) -> String {
    let b = match r.below(8) {
        0 => "-inf".to_string(),
        1 => "+inf".to_string(),
        2 => "x".to_string(),
        _ => (r.below(20) as i64 - 5).to_string(),
    };
    if r.below(3) == 0 {
        format!("({b}")
    } else {
        b
    }
}

fn lex(r: &mut Rng) -> String {
    match r.below(8) {
        0 => "-".into(),
        1 => "+".into(),
        2 => "bad".into(),
        3 => format!("({}", (b'a' + r.below(8) as u8) as char),
        _ => format!("[{}", (b'a' + r.below(8) as u8) as char),
    }
}

fn int(r: &mut Rng) -> String {
    match r.below(10) {
        0 => "x".into(),
        1 => "-1".into(),
        _ => (r.below(14) as i64 - 6).to_string(),
    }
}

const COMMANDS: &[&str] = &[
    "ZADD",
    "ZADD",
    "ZADD",
    "ZADDLEX",
    "ZINCRBY",
    "ZREM",
    "ZCARD",
    "ZCOUNT",
    "ZLEXCOUNT",
    "ZSCORE",
    "ZMSCORE",
    "ZRANK",
    "ZREVRANK",
    "ZRANGE",
    "ZRANGE",
    "ZRANGESTORE",
    "ZRANGEBYSCORE",
    "ZREVRANGEBYSCORE",
    "ZRANGEBYLEX",
    "ZREVRANGEBYLEX",
    "ZREVRANGE",
    "ZREMRANGEBYRANK",
    "ZREMRANGEBYSCORE",
    "ZREMRANGEBYLEX",
    "ZPOPMIN",
    "ZPOPMAX",
    "ZMPOP",
    "ZRANDMEMBER",
    "ZINTER",
    "ZINTERSTORE",
    "ZINTERCARD",
    "ZUNION",
    "ZUNIONSTORE",
    "ZDIFF",
    "ZDIFFSTORE",
    "ZSCAN",
    "DEL",
    "EXPIRE",
    "RENAME",
    "TYPE",
    "EXISTS",
    "SET",
];

/// One random command; `scan` allows ZSCAN (only while every set is small enough for both
/// servers to answer it in one call).
fn random_command(r: &mut Rng, scan: bool) -> Vec<String> {
    let key = |r: &mut Rng| format!("z{}", r.below(8));
    let lkey = |r: &mut Rng| format!("lex{}", r.below(3));
    let member = |r: &mut Rng| match r.below(6) {
        0 => (r.below(30) as i64 - 10).to_string(),
        1 => "m".repeat(1 + r.below(20) as usize),
        _ => format!("m{}", r.below(24)),
    };
    let letter = |r: &mut Rng| ((b'a' + r.below(10) as u8) as char).to_string();
    let s = |v: &str| v.to_string();
    let cmd = r.pick(COMMANDS);
    let mut c: Vec<String> = match cmd {
        "ZADD" => {
            let mut v = vec![s("ZADD"), key(r)];
            for _ in 0..r.below(3) {
                v.push(s(r.pick(&["NX", "XX", "GT", "LT", "CH", "INCR", "ch"])));
            }
            for _ in 0..1 + r.below(4) {
                v.push(score(r));
                v.push(member(r));
            }
            v
        }
        "ZADDLEX" => {
            let mut v = vec![s("ZADD"), lkey(r)];
            for _ in 0..1 + r.below(4) {
                v.push(s("0"));
                v.push(letter(r));
            }
            v
        }
        "ZINCRBY" => vec![s(cmd), key(r), score(r), member(r)],
        "ZREM" => {
            let mut v = vec![s(cmd), key(r)];
            for _ in 0..1 + r.below(3) {
                v.push(member(r));
            }
            v
        }
        "ZCARD" | "TYPE" | "EXISTS" | "DEL" => vec![s(cmd), key(r)],
        "ZCOUNT" | "ZREMRANGEBYSCORE" => vec![s(cmd), key(r), bound(r), bound(r)],
        "ZLEXCOUNT" | "ZREMRANGEBYLEX" => vec![s(cmd), lkey(r), lex(r), lex(r)],
        "ZSCORE" | "ZRANK" | "ZREVRANK" => vec![s(cmd), key(r), member(r)],
        "ZMSCORE" => vec![s(cmd), key(r), member(r), member(r)],
        "ZRANGE" | "ZRANGESTORE" => {
            let mut v = vec![s(cmd)];
            if cmd == "ZRANGESTORE" {
                v.push(key(r));
            }
            match r.below(3) {
                0 => v.extend([key(r), int(r), int(r)]),
                1 => v.extend([key(r), bound(r), bound(r), s("BYSCORE")]),
                _ => v.extend([lkey(r), lex(r), lex(r), s("BYLEX")]),
            }
            for _ in 0..r.below(3) {
                match r.below(3) {
                    0 => v.push(s("REV")),
                    1 => v.push(s("WITHSCORES")),
                    _ => v.extend([s("LIMIT"), int(r), int(r)]),
                }
            }
            v
        }
        "ZRANGEBYSCORE" | "ZREVRANGEBYSCORE" => {
            let mut v = vec![s(cmd), key(r), bound(r), bound(r)];
            if r.below(2) == 0 {
                v.push(s("WITHSCORES"));
            }
            if r.below(3) == 0 {
                v.extend([s("LIMIT"), int(r), int(r)]);
            }
            v
        }
        "ZRANGEBYLEX" | "ZREVRANGEBYLEX" => {
            let mut v = vec![s(cmd), lkey(r), lex(r), lex(r)];
            if r.below(3) == 0 {
                v.extend([s("LIMIT"), int(r), int(r)]);
            }
            v
        }
        "ZREVRANGE" => {
            let mut v = vec![s(cmd), key(r), int(r), int(r)];
            if r.below(2) == 0 {
                v.push(s("WITHSCORES"));
            }
            v
        }
        "ZREMRANGEBYRANK" => vec![s(cmd), key(r), int(r), int(r)],
        "ZPOPMIN" | "ZPOPMAX" => {
            let mut v = vec![s(cmd), key(r)];
            if r.below(2) == 0 {
                v.push(int(r));
            }
            v
        }
        "ZMPOP" => {
            let n = 1 + r.below(3);
            let mut v = vec![s(cmd), n.to_string()];
            for _ in 0..n {
                v.push(key(r));
            }
            v.push(s(r.pick(&["MIN", "MAX", "min", "bad"])));
            if r.below(2) == 0 {
                v.extend([s("COUNT"), int(r)]);
            }
            v
        }
        "ZRANDMEMBER" => {
            // Only draws whose result is not random: the whole set, or nothing.
            let mut v = vec![s(cmd), key(r), s(r.pick(&["200", "0", "x"]))];
            if r.below(2) == 0 {
                v.push(s("WITHSCORES"));
            }
            v
        }
        "ZINTER" | "ZUNION" | "ZDIFF" | "ZINTERCARD" | "ZINTERSTORE" | "ZUNIONSTORE"
        | "ZDIFFSTORE" => {
            let mut v = vec![s(cmd)];
            if cmd.ends_with("STORE") {
                v.push(key(r));
            }
            let n = r.below(4);
            v.push(n.to_string());
            for _ in 0..n.max(1) {
                v.push(key(r));
            }
            for _ in 0..r.below(3) {
                match r.below(5) {
                    0 => {
                        v.push(s("WEIGHTS"));
                        for _ in 0..n {
                            v.push(s(r.pick(&["2", "0.5", "-1", "0", "x", "inf"])));
                        }
                    }
                    1 => v.extend([s("AGGREGATE"), s(r.pick(&["SUM", "MIN", "MAX", "avg"]))]),
                    2 => v.push(s("WITHSCORES")),
                    3 => v.extend([s("LIMIT"), int(r)]),
                    _ => v.push(s("BOGUS")),
                }
            }
            v
        }
        "ZSCAN" if scan => {
            let mut v = vec![s(cmd), key(r), s(r.pick(&["0", "0", "x"]))];
            if r.below(2) == 0 {
                v.extend([s("MATCH"), s(r.pick(&["m1*", "*", "-*"]))]);
            }
            if r.below(3) == 0 {
                v.extend([s("COUNT"), s(r.pick(&["1000", "0"]))]);
            }
            v
        }
        // Sets are sources of the algebra (members score 1) and WRONGTYPE elsewhere.
        "SADD" => vec![s(cmd), key(r), member(r), member(r)],
        "EXPIRE" => vec![s(cmd), key(r), s(r.pick(&["100", "0"]))],
        "RENAME" => vec![s(cmd), key(r), key(r)],
        _ => vec![s("SET"), key(r), s("str")],
    };
    if r.below(60) == 0 && c.len() > 1 {
        c.pop();
    }
    c
}

/// Sorts the members of replies whose order is not specified.
fn normalize(cmd: &[String], reply: Reply) -> Reply {
    let sort = |v: &mut Vec<Reply>, pairs: bool| {
        if pairs {
            let mut chunks: Vec<Vec<Reply>> = v.chunks(2).map(|c| c.to_vec()).collect();
            chunks.sort_by_key(|c| format!("{c:?}"));
            *v = chunks.concat();
        } else {
            v.sort_by_key(|x| format!("{x:?}"));
        }
    };
    match (cmd[0].as_str(), reply) {
        ("ZRANDMEMBER", Reply::Array(mut v)) => {
            let flat_pairs = cmd.len() == 4 && !matches!(v.first(), Some(Reply::Array(_)));
            sort(&mut v, flat_pairs);
            Reply::Array(v)
        }
        // One random member (a dropped argument): only its presence can be compared.
        ("ZRANDMEMBER", Reply::Bulk(_)) => Reply::Bulk(b"<member>".to_vec()),
        ("ZSCAN", Reply::Array(mut v)) if v.len() == 2 => {
            if let Reply::Array(items) = &mut v[1] {
                sort(items, true);
            }
            Reply::Array(v)
        }
        (_, r) => r,
    }
}

fn run(resp3: bool, small_listpacks: bool, seeds: std::ops::RangeInclusive<u64>) {
    let Some(redis) = start_redis() else { return };
    let ours = server(4);
    let mut theirs = Client::connect(format!("127.0.0.1:{}", redis.port).parse().unwrap());
    let mut mine = Client::connect(ours.addr());
    for c in [&mut theirs, &mut mine] {
        if resp3 {
            c.cmd(&["HELLO", "3"]);
        }
        if small_listpacks {
            assert_eq!(
                c.cmd(&["CONFIG", "SET", "zset-max-listpack-entries", "4"]),
                ok()
            );
            assert_eq!(
                c.cmd(&["CONFIG", "SET", "zset-max-listpack-value", "8"]),
                ok()
            );
        }
    }
    for seed in seeds {
        for c in [&mut theirs, &mut mine] {
            c.cmd(&["FLUSHALL"]);
        }
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        for step in 0..400 {
            let cmd = random_command(&mut r, !small_listpacks);
            let args: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
            let want = normalize(&cmd, theirs.cmd(&args));
            let got = normalize(&cmd, mine.cmd(&args));
            assert_eq!(got, want, "seed {seed} step {step}: {cmd:?}");
            if args[0].starts_with('Z') && args.len() > 1 {
                let enc = ["OBJECT", "ENCODING", args[1]];
                assert_eq!(
                    mine.cmd(&enc),
                    theirs.cmd(&enc),
                    "seed {seed} step {step}: encoding after {cmd:?}"
                );
            }
        }
    }
}

#[test]
fn random_zset_streams_resp2() {
    run(false, false, 1..=12);
}

#[test]
fn random_zset_streams_resp3() {
    run(true, false, 13..=20);
}

#[test]
fn random_zset_streams_both_encodings() {
    run(false, true, 21..=32);
    run(true, true, 33..=36);
}

/// Runs of random commands inside MULTI/EXEC (multi-key ones across shards, so EXEC must
/// lock the keys their numkeys counts): every reply must match redis-server's.
#[test]
fn random_zset_transactions() {
    let Some(redis) = start_redis() else { return };
    let ours = server(4);
    let mut theirs = Client::connect(format!("127.0.0.1:{}", redis.port).parse().unwrap());
    let mut mine = Client::connect(ours.addr());
    for c in [&mut theirs, &mut mine] {
        c.cmd(&["FLUSHALL"]);
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "zset-max-listpack-entries", "4"]),
            ok()
        );
    }
    for seed in 40..=52u64 {
        let mut r = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
        for block in 0..40 {
            let mut both = |args: &[&str]| {
                let want = theirs.cmd(args);
                let got = mine.cmd(args);
                assert_eq!(got, want, "seed {seed} block {block}: {args:?}");
            };
            both(&["MULTI"]);
            for _ in 0..1 + r.below(5) {
                let cmd = random_command(&mut r, false);
                if cmd[0] == "ZRANDMEMBER" {
                    continue;
                }
                let args: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
                both(&args);
            }
            both(&["EXEC"]);
        }
    }
}
