//! Differential test of the list commands: seeded random streams over a small key space, mixed
//! with DEL/EXPIRE/RENAME/TYPE/EXISTS and string writes (WRONGTYPE), go to redis-server and to
//! Damselfly (4 shards, so LMOVE/RPOPLPUSH/LMPOP cross shards); every reply must be identical,
//! in RESP2 and RESP3, with several node sizes and compression depths. Fails (does not skip)
//! when CI=true and redis-server is missing.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::reference::{start_redis, Rng};
use common::*;

const KEYS: u64 = 10;

fn random_command(r: &mut Rng) -> Vec<String> {
    let key = |r: &mut Rng| format!("k{}", r.below(KEYS));
    let val = |r: &mut Rng| match r.below(8) {
        0 => r.below(20).to_string(),
        1 => format!("-{}", r.below(5)),
        2 => "x".repeat(r.below(70) as usize),
        3 => r
            .pick(&["007", "+1", "-0", "9223372036854775807", "", "1.5"])
            .into(),
        _ => format!("v{}", r.below(6)),
    };
    let index = |r: &mut Rng| match r.below(10) {
        0 => r
            .pick(&["x", "9223372036854775807", "-9223372036854775808", ""])
            .into(),
        _ => (r.below(30) as i64 - 15).to_string(),
    };
    let side = |r: &mut Rng| {
        r.pick(&["LEFT", "RIGHT", "left", "Right", "UP"])
            .to_string()
    };
    // Pushes dominate so lists grow past several nodes; deletes and string writes are rare.
    let cmd = match r.below(100) {
        0..=29 => r.pick(&["LPUSH", "RPUSH"]),
        30..=33 => r.pick(&["LPUSHX", "RPUSHX"]),
        34..=41 => r.pick(&["LPOP", "RPOP"]),
        42..=81 => r.pick(&[
            "LLEN",
            "LRANGE",
            "LINDEX",
            "LSET",
            "LINSERT",
            "LREM",
            "LPOS",
            "LPOS",
            "LMOVE",
            "RPOPLPUSH",
            "LMPOP",
            "LRANGE",
        ]),
        82..=84 => "LTRIM",
        85..=94 => r.pick(&["TYPE", "EXISTS", "RENAME", "EXPIRE"]),
        _ => r.pick(&["DEL", "SET"]),
    };
    let mut c: Vec<String> = vec![cmd.into()];
    match cmd {
        "LPUSH" | "RPUSH" | "LPUSHX" | "RPUSHX" => {
            c.push(key(r));
            for _ in 0..1 + r.below(12) {
                c.push(val(r));
            }
        }
        "LPOP" | "RPOP" => {
            c.push(key(r));
            match r.below(4) {
                0 => c.push(r.below(5).to_string()),
                1 => c.push(r.pick(&["-1", "x", "100"]).into()),
                _ => {}
            }
        }
        "LLEN" | "TYPE" | "EXISTS" | "DEL" => c.push(key(r)),
        "LRANGE" | "LTRIM" => {
            c.push(key(r));
            c.push(index(r));
            c.push(index(r));
        }
        "LINDEX" => {
            c.push(key(r));
            c.push(index(r));
        }
        "LSET" => {
            c.push(key(r));
            c.push(index(r));
            c.push(val(r));
        }
        "LINSERT" => {
            c.push(key(r));
            c.push(r.pick(&["BEFORE", "AFTER", "after", "MIDDLE"]).into());
            c.push(val(r));
            c.push(val(r));
        }
        "LREM" => {
            c.push(key(r));
            c.push(index(r));
            c.push(val(r));
        }
        "LPOS" => {
            c.push(key(r));
            c.push(val(r));
            for _ in 0..r.below(4) {
                c.push(r.pick(&["RANK", "COUNT", "MAXLEN", "rank", "BOGUS"]).into());
                if r.below(8) != 0 {
                    c.push(r.pick(&["1", "2", "-1", "-2", "0", "3", "x", "-3"]).into());
                }
            }
        }
        "LMOVE" => {
            c.push(key(r));
            c.push(key(r));
            c.push(side(r));
            c.push(side(r));
        }
        "RPOPLPUSH" | "RENAME" => {
            c.push(key(r));
            c.push(key(r));
        }
        "LMPOP" => {
            let n = r.below(4);
            c.push(if r.below(10) == 0 {
                "x".into()
            } else {
                n.to_string()
            });
            for _ in 0..n {
                c.push(key(r));
            }
            c.push(side(r));
            if r.below(2) == 0 {
                c.push("COUNT".into());
                c.push(r.pick(&["1", "2", "5", "0", "x"]).into());
            }
        }
        "EXPIRE" => {
            c.push(key(r));
            c.push(r.pick(&["100", "100", "100", "0"]).into());
        }
        _ => {
            // Strings only on two keys, so most keys stay lists (RENAME still moves them).
            c.push(format!("k{}", KEYS - 1 - r.below(2)));
            c.push(val(r));
        }
    }
    if r.below(60) == 0 && c.len() > 1 {
        c.pop(); // wrong arity now and then
    }
    c
}

fn run(resp3: bool, seeds: std::ops::RangeInclusive<u64>) {
    let Some(redis) = start_redis() else { return };
    let ours = server(4);
    let mut theirs_c = Client::connect(format!("127.0.0.1:{}", redis.port).parse().unwrap());
    let mut ours_c = Client::connect(ours.addr());
    if resp3 {
        theirs_c.cmd(&["HELLO", "3"]);
        ours_c.cmd(&["HELLO", "3"]);
    }
    let settings = [("-2", "0"), ("2", "1"), ("1", "0"), ("-1", "2"), ("3", "2")];
    for seed in seeds {
        let (size, depth) = settings[seed as usize % settings.len()];
        for c in [&mut theirs_c, &mut ours_c] {
            assert_eq!(c.cmd(&["FLUSHALL"]), ok());
            assert_eq!(
                c.cmd(&["CONFIG", "SET", "list-max-listpack-size", size]),
                ok()
            );
            assert_eq!(
                c.cmd(&["CONFIG", "SET", "list-compress-depth", depth]),
                ok()
            );
        }
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        for step in 0..600 {
            let cmd = random_command(&mut r);
            let args: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
            let want = theirs_c.cmd(&args);
            let got = ours_c.cmd(&args);
            assert_eq!(got, want, "seed {seed} step {step}: {cmd:?}");
        }
        // The whole key space agrees at the end of each stream.
        for k in 0..KEYS {
            let key = format!("k{k}");
            let args = ["LRANGE", &key, "0", "-1"];
            assert_eq!(ours_c.cmd(&args), theirs_c.cmd(&args), "seed {seed}: {key}");
        }
    }
}

#[test]
fn random_list_streams_resp2() {
    run(false, 1..=30);
}

#[test]
fn random_list_streams_resp3() {
    run(true, 31..=45);
}

/// Commands, each a list of arguments.
type Script<'a> = &'a [&'a [&'a str]];

/// What counts as a change for WATCH, and what keeps a deadline, against redis-server: a
/// write that changes nothing (LINSERT without its pivot, LREM without a match, LSET out of
/// range, LPOP of 0) leaves a WATCH intact; a rotation of a one-element list keeps its TTL.
#[test]
fn watch_and_ttl_match_redis() {
    let Some(redis) = start_redis() else { return };
    let ours = server(4);
    let theirs_addr = format!("127.0.0.1:{}", redis.port).parse().unwrap();
    let meanwhile: &[Script] = &[
        &[&["LINSERT", "w", "BEFORE", "nope", "x"]],
        &[&["LINSERT", "w", "BEFORE", "a", "x"]],
        &[&["LREM", "w", "0", "nope"]],
        &[&["LREM", "w", "1", "a"]],
        &[&["LSET", "w", "10", "x"]],
        &[&["LSET", "w", "x", "x"]],
        &[&["LSET", "w", "0", "x"]],
        &[&["LPOP", "w", "0"]],
        &[&["LPOP", "w"]],
        &[&["LTRIM", "w", "0", "-1"]],
        &[&["LPUSHX", "w", "y"]],
        &[&["LMOVE", "w", "w", "LEFT", "RIGHT"]],
        &[&["LMOVE", "other", "w", "LEFT", "RIGHT"]],
        &[&["RPOPLPUSH", "w", "elsewhere"]],
        &[&["LMPOP", "2", "other", "w", "LEFT"]],
        &[
            &["LRANGE", "w", "0", "-1"],
            &["LPOS", "w", "a"],
            &["LINDEX", "w", "0"],
        ],
    ];
    for (i, m) in meanwhile.iter().enumerate() {
        let mut replies = Vec::new();
        for addr in [theirs_addr, ours.addr()] {
            let mut a = Client::connect(addr);
            let mut b = Client::connect(addr);
            assert_eq!(a.cmd(&["FLUSHALL"]), ok());
            let mut got = vec![a.cmd(&["RPUSH", "w", "a"]), a.cmd(&["EXPIRE", "w", "1000"])];
            got.push(a.cmd(&["WATCH", "w"]));
            for c in *m {
                got.push(b.cmd(c));
            }
            got.push(a.cmd(&["MULTI"]));
            got.push(a.cmd(&["LRANGE", "w", "0", "-1"]));
            got.push(a.cmd(&["EXEC"]));
            got.push(a.cmd(&["TTL", "w"]));
            replies.push(got);
        }
        assert_eq!(replies[1], replies[0], "case {i}: {m:?}");
    }
}
