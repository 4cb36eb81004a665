//! Differential test of the hash commands: seeded random streams over a small key space
//! (hash commands mixed with DEL/EXPIRE/RENAME/TYPE/EXISTS/OBJECT ENCODING and a few string
//! writes) go to redis-server and to Damselfly, in RESP2 and RESP3; replies must be identical
//! once the unordered ones are sorted. HRANDFIELD is random: only the shape of its reply is
//! compared (kind, length, and the fields themselves when it returns the whole hash). Fails
//! (does not skip) when CI=true and redis-server is missing.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::reference::{start_redis, Rng};
use common::*;
use damselfly_protocol::Reply;

fn random_command(r: &mut Rng) -> Vec<String> {
    let key = |r: &mut Rng| format!("h{}", r.below(10));
    let field = |r: &mut Rng| match r.below(6) {
        0 => r.below(30).to_string(),
        1 => format!("-{}", r.below(5)),
        _ => format!("f{}", r.below(24)),
    };
    let val = |r: &mut Rng| match r.below(7) {
        0 => r.below(1000).to_string(),
        1 => format!("-{}", r.below(100)),
        // Past hash-max-listpack-value (set to 16 below) now and then.
        2 => "x".repeat(r.below(24) as usize),
        3 => "2.5".to_string(),
        4 => "9223372036854775807".to_string(),
        _ => format!("v{}", r.below(50)),
    };
    let cmd = r.pick(&[
        "HSET",
        "HSET",
        "HSET",
        "HSETNX",
        "HMSET",
        "HGET",
        "HMGET",
        "HGETALL",
        "HDEL",
        "HDEL",
        "HLEN",
        "HSTRLEN",
        "HEXISTS",
        "HKEYS",
        "HVALS",
        "HINCRBY",
        "HINCRBYFLOAT",
        "HRANDFIELD",
        "HSCAN",
        "DEL",
        "EXPIRE",
        "RENAME",
        "TYPE",
        "EXISTS",
        "ENCODING",
        "SET",
    ]);
    let mut c: Vec<String> = match cmd {
        "HSET" | "HMSET" => {
            let mut v = vec![cmd.to_string(), key(r)];
            for _ in 0..1 + r.below(4) {
                v.push(field(r));
                v.push(val(r));
            }
            v
        }
        "HSETNX" => vec![cmd.into(), key(r), field(r), val(r)],
        "HGET" | "HSTRLEN" | "HEXISTS" => vec![cmd.into(), key(r), field(r)],
        "HMGET" | "HDEL" => {
            let mut v = vec![cmd.to_string(), key(r)];
            for _ in 0..1 + r.below(4) {
                v.push(field(r));
            }
            v
        }
        "HGETALL" | "HLEN" | "HKEYS" | "HVALS" | "DEL" | "TYPE" | "EXISTS" => {
            vec![cmd.into(), key(r)]
        }
        "HINCRBY" => {
            let incr = r
                .pick(&["1", "-3", "100", "9223372036854775807", "x", "1.5"])
                .to_string();
            vec![cmd.into(), key(r), field(r), incr]
        }
        "HINCRBYFLOAT" => {
            let incr = match r.below(4) {
                0 => format!("{}.{}", r.below(1000), r.below(1_000_000_000)),
                1 => format!("{}e{}", r.below(100), r.below(20)),
                _ => r
                    .pick(&["0.1", "-2", "abc", "inf", "1e3", "123456789.123456789"])
                    .into(),
            };
            vec![cmd.into(), key(r), field(r), incr]
        }
        "HRANDFIELD" => {
            let mut v = vec![cmd.to_string(), key(r)];
            if r.below(4) != 0 {
                v.push(r.pick(&["0", "1", "3", "-5", "40", "x"]).into());
                if r.below(2) == 0 {
                    v.push(r.pick(&["WITHVALUES", "withvalues", "bogus"]).into());
                }
            }
            v
        }
        // COUNT 1000 covers any hash of this test in one call, in both servers.
        "HSCAN" => match r.below(5) {
            0 => vec![
                cmd.into(),
                key(r),
                "0".into(),
                "MATCH".into(),
                "f1*".into(),
                "COUNT".into(),
                "1000".into(),
            ],
            1 => vec![
                cmd.into(),
                key(r),
                r.pick(&["x", "0"]).into(),
                "COUNT".into(),
                r.pick(&["0", "-1"]).into(),
            ],
            _ => vec![
                cmd.into(),
                key(r),
                "0".into(),
                "COUNT".into(),
                "1000".into(),
            ],
        },
        "EXPIRE" => vec![cmd.into(), key(r), r.pick(&["100", "0"]).into()],
        "RENAME" => vec![cmd.into(), key(r), key(r)],
        "ENCODING" => vec!["OBJECT".into(), "ENCODING".into(), key(r)],
        _ => vec!["SET".into(), key(r), val(r)],
    };
    if r.below(60) == 0 && c.len() > 1 {
        c.pop(); // wrong arity now and then
    }
    c
}

fn sort_items(mut v: Vec<Reply>) -> Vec<Reply> {
    v.sort_by_key(|x| {
        let mut b = Vec::new();
        x.write_to(&mut b);
        b
    });
    v
}

/// Flat field, value pairs in a canonical order.
fn sort_pairs(v: Vec<Reply>) -> Vec<Reply> {
    let mut pairs: Vec<Vec<Reply>> = v.chunks(2).map(|p| p.to_vec()).collect();
    pairs.sort_by_key(|p| {
        let mut b = Vec::new();
        p[0].write_to(&mut b);
        b
    });
    pairs.into_iter().flatten().collect()
}

fn normalize(cmd: &[String], reply: Reply) -> Reply {
    let name = cmd[0].to_ascii_uppercase();
    match (name.as_str(), reply) {
        ("HGETALL", Reply::Array(v)) => Reply::Array(sort_pairs(v)),
        ("HGETALL", Reply::Map(mut m)) => {
            m.sort_by_key(|(k, _)| {
                let mut b = Vec::new();
                k.write_to(&mut b);
                b
            });
            Reply::Map(m)
        }
        ("HKEYS" | "HVALS", Reply::Array(v)) => Reply::Array(sort_items(v)),
        ("HSCAN", Reply::Array(mut v)) if v.len() == 2 => {
            if let Reply::Array(items) = v.pop().unwrap() {
                v.push(Reply::Array(sort_pairs(items)));
            }
            Reply::Array(v)
        }
        ("HRANDFIELD", Reply::Bulk(_)) => Reply::Bulk(b"<field>".to_vec()),
        ("HRANDFIELD", Reply::Array(v)) => {
            // The whole hash (count >= its length) is deterministic up to order.
            let whole = cmd
                .get(2)
                .and_then(|c| c.parse::<i64>().ok())
                .is_some_and(|c| c >= 40);
            if whole {
                Reply::Array(sort_items(v))
            } else {
                Reply::Integer(v.len() as i64)
            }
        }
        (_, r) => r,
    }
}

fn run_streams(resp3: bool, seeds: std::ops::RangeInclusive<u64>) {
    let Some(redis) = start_redis() else { return };
    let ours = server(4);
    let mut theirs_c = Client::connect(format!("127.0.0.1:{}", redis.port).parse().unwrap());
    let mut ours_c = Client::connect(ours.addr());
    if resp3 {
        theirs_c.cmd(&["HELLO", "3"]);
        ours_c.cmd(&["HELLO", "3"]);
    }
    for c in [&mut theirs_c, &mut ours_c] {
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "hash-max-listpack-entries", "8"]),
            ok()
        );
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "hash-max-listpack-value", "16"]),
            ok()
        );
    }
    for seed in seeds {
        for k in 0..10 {
            let k = format!("h{k}");
            ours_c.cmd(&["DEL", &k]);
            theirs_c.cmd(&["DEL", &k]);
        }
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        for step in 0..400 {
            let cmd = random_command(&mut r);
            let args: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
            let want = normalize(&cmd, theirs_c.cmd(&args));
            let got = normalize(&cmd, ours_c.cmd(&args));
            assert_eq!(got, want, "resp3={resp3} seed {seed} step {step}: {cmd:?}");
        }
    }
}

#[test]
fn random_hash_streams_resp2() {
    run_streams(false, 1..=25);
}

#[test]
fn random_hash_streams_resp3() {
    run_streams(true, 101..=115);
}
