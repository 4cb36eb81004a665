//! Differential test: the same random command streams go to redis-server and to Damselfly;
//! every reply must be identical. Fails (does not skip) when CI=true and redis-server is
//! missing: .ci/run installs it.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::reference::{start_redis, Rng};
use common::*;
use std::time::Duration;

/// One random command over a small key space, so commands collide on keys.
fn random_command(r: &mut Rng) -> Vec<String> {
    let key = |r: &mut Rng| format!("k{}", r.below(12));
    let val = |r: &mut Rng| match r.below(5) {
        0 => r.below(1000).to_string(),
        1 => format!("-{}", r.below(100)),
        2 => "x".repeat(r.below(40) as usize),
        3 => "3.5".to_string(),
        _ => format!("v{}", r.below(50)),
    };
    let int = |r: &mut Rng| match r.below(4) {
        0 => "9223372036854775807".to_string(),
        1 => "abc".to_string(),
        _ => (r.below(200) as i64 - 100).to_string(),
    };
    let cmd = r.pick(&[
        "SET",
        "GET",
        "INCR",
        "DECR",
        "INCRBY",
        "DECRBY",
        "APPEND",
        "STRLEN",
        "SETNX",
        "GETSET",
        "GETDEL",
        "MSET",
        "MGET",
        "MSETNX",
        "INCRBYFLOAT",
        "PING",
        "ECHO",
        "SETOPT",
    ]);
    let mut c: Vec<String> = match cmd {
        "SET" | "SETNX" | "GETSET" | "APPEND" => vec![cmd.into(), key(r), val(r)],
        "GET" | "INCR" | "DECR" | "STRLEN" | "GETDEL" => vec![cmd.into(), key(r)],
        "INCRBY" | "DECRBY" => vec![cmd.into(), key(r), int(r)],
        // Shares keys with the integer and string commands; increments reach past 2^53 and
        // into digits that only long double arithmetic gets right.
        "INCRBYFLOAT" => {
            let k = if r.below(2) == 0 {
                format!("f{}", r.below(3))
            } else {
                key(r)
            };
            let incr = match r.below(6) {
                0 => format!("{}.{}", r.below(1000), r.below(1_000_000_000)),
                1 => format!("-{}.{:03}", r.below(100), r.below(1000)),
                2 => format!("{}e{}", r.below(100), r.below(25)),
                3 => format!("{}e-{}", r.below(100), r.below(25)),
                _ => r
                    .pick(&[
                        "1.5",
                        "-2",
                        "abc",
                        "1e3",
                        "0.1",
                        "0.7",
                        "123456789.123456789",
                        "inf",
                    ])
                    .into(),
            };
            vec![cmd.into(), k, incr]
        }
        "MSET" | "MSETNX" => {
            let mut v = vec![cmd.to_string()];
            for _ in 0..1 + r.below(4) {
                v.push(key(r));
                v.push(val(r));
            }
            v
        }
        "MGET" => {
            let mut v = vec![cmd.to_string()];
            for _ in 0..1 + r.below(5) {
                v.push(key(r));
            }
            v
        }
        "PING" => vec![cmd.into()],
        "ECHO" => vec![cmd.into(), val(r)],
        _ => {
            let mut v = vec!["SET".to_string(), key(r), val(r)];
            for _ in 0..r.below(3) {
                v.push(
                    r.pick(&["NX", "XX", "GET", "KEEPTTL", "EX", "PX", "BOGUS"])
                        .into(),
                );
                if r.below(2) == 0 {
                    v.push(r.pick(&["100", "0", "-5", "x"]).into());
                }
            }
            v
        }
    };
    if r.below(50) == 0 && c.len() > 1 {
        c.pop(); // wrong arity now and then
    }
    c
}

#[test]
fn random_streams_get_identical_replies() {
    let Some(redis) = start_redis() else { return };
    let ours = server(2);
    let mut theirs_c = Client::connect(format!("127.0.0.1:{}", redis.port).parse().unwrap());
    let mut ours_c = Client::connect(ours.addr());
    for seed in 1..=20u64 {
        assert_eq!(theirs_c.cmd(&["FLUSHALL"]), ok());
        // FLUSHALL may not be served yet: clear our keys by deleting with GETDEL.
        let keys = (0..12)
            .map(|k| format!("k{k}"))
            .chain((0..3).map(|k| format!("f{k}")));
        for k in keys {
            ours_c.cmd(&["GETDEL", &k]);
            theirs_c.cmd(&["GETDEL", &k]);
        }
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        for step in 0..300 {
            let cmd = random_command(&mut r);
            let args: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
            let want = theirs_c.cmd(&args);
            let got = ours_c.cmd(&args);
            assert_eq!(got, want, "seed {seed} step {step}: {cmd:?}");
        }
    }
}

/// Wraps runs of random commands in MULTI/EXEC (now and then with a queueing error, DISCARD,
/// or a WATCH that another connection breaks): every reply must match redis-server's.
#[test]
fn random_transactions_get_identical_replies() {
    let Some(redis) = start_redis() else { return };
    let ours = server(4);
    let theirs_addr = format!("127.0.0.1:{}", redis.port).parse().unwrap();
    let mut theirs = [Client::connect(theirs_addr), Client::connect(theirs_addr)];
    let mut ours_c = [Client::connect(ours.addr()), Client::connect(ours.addr())];
    assert_eq!(theirs[0].cmd(&["FLUSHALL"]), ok());
    assert_eq!(ours_c[0].cmd(&["FLUSHALL"]), ok());
    let mut both = |conn: usize, args: &[&str], what: &str| {
        let want = theirs[conn].cmd(args);
        let got = ours_c[conn].cmd(args);
        assert_eq!(got, want, "{what}: {args:?}");
    };
    for seed in 1..=30u64 {
        let mut r = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
        for block in 0..20 {
            let what = format!("seed {seed} block {block}");
            let watch = r.below(3) == 0;
            let watched = format!("k{}", r.below(12));
            if watch {
                both(0, &["WATCH", &watched], &what);
            }
            both(0, &["MULTI"], &what);
            for _ in 0..r.below(6) {
                let cmd = random_command(&mut r);
                let args: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
                both(0, &args, &what);
            }
            match r.below(10) {
                0 => both(0, &["NOSUCHCOMMAND", "x"], &what),
                1 => both(0, &["GET"], &what),
                2 => both(0, &["MULTI"], &what),
                3 => both(0, &["WATCH", "x"], &what),
                _ => {}
            }
            if watch && r.below(2) == 0 {
                // The other connection writes the watched key: EXEC must fail (null).
                let cmd = r.pick(&["SET", "DEL", "APPEND", "INCR", "GETDEL"]);
                let args: Vec<&str> = match cmd {
                    "SET" | "APPEND" => vec![cmd, &watched, "1"],
                    _ => vec![cmd, &watched],
                };
                both(1, &args, &what);
            }
            if r.below(8) == 0 {
                both(0, &["DISCARD"], &what);
            } else {
                both(0, &["EXEC"], &what);
            }
        }
    }
}

/// Commands, each a list of arguments.
type Script<'a> = &'a [&'a [&'a str]];

/// What invalidates a WATCH and what does not, against redis-server, one case at a time.
#[test]
fn watch_invalidation_matches_redis() {
    let Some(redis) = start_redis() else { return };
    let ours = server(4);
    let theirs_addr = format!("127.0.0.1:{}", redis.port).parse().unwrap();
    // (setup, what the other connection does while the key is watched)
    let cases: &[(Script, Script)] = &[
        (&[&["SET", "w", "1"]], &[&["SET", "w", "1"]]),
        (&[&["SET", "w", "1"]], &[&["DEL", "w"]]),
        (&[], &[&["DEL", "w"]]),
        (&[&["SET", "w", "1"]], &[&["EXPIRE", "w", "100"]]),
        (&[&["SET", "w", "1"]], &[&["PERSIST", "w"]]),
        (&[&["SET", "w", "1", "EX", "100"]], &[&["PERSIST", "w"]]),
        (&[&["SET", "w", "1"]], &[&["SET", "other", "1"]]),
        (&[&["SET", "w", "1"]], &[&["FLUSHALL"]]),
        (&[], &[&["FLUSHALL"]]),
        (&[&["SET", "w", "1"]], &[&["FLUSHDB"]]),
        (&[&["SET", "src", "1"]], &[&["RENAME", "src", "w"]]),
        (&[&["SET", "w", "1"]], &[&["RENAME", "w", "elsewhere"]]),
        (
            &[&["SET", "w", "1"]],
            &[&["SELECT", "1"], &["SET", "w", "2"], &["SELECT", "0"]],
        ),
        (&[&["SET", "w", "1"]], &[&["SWAPDB", "0", "1"]]),
        (&[&["SET", "w", "5"]], &[&["INCRBY", "w", "0"]]),
        (&[&["SET", "w", "1"]], &[&["GET", "w"]]),
        (&[&["SET", "w", "1"]], &[&["APPEND", "w", ""]]),
        (&[&["SET", "w", "1"]], &[&["SETNX", "w", "2"]]),
        (&[&["SET", "w", "1"]], &[&["SET", "w", "2", "NX"]]),
        (&[&["SET", "w", "1"]], &[&["MSETNX", "w", "2", "q", "3"]]),
        (&[&["SET", "w", "1", "PX", "300"]], &[&["SLEEP"]]),
    ];
    for (i, (setup, meanwhile)) in cases.iter().enumerate() {
        let mut replies = Vec::new();
        for addr in [theirs_addr, ours.addr()] {
            let mut a = Client::connect(addr);
            let mut b = Client::connect(addr);
            assert_eq!(a.cmd(&["FLUSHALL"]), ok());
            let mut got = Vec::new();
            for c in *setup {
                got.push(a.cmd(c));
            }
            got.push(a.cmd(&["WATCH", "w"]));
            for c in *meanwhile {
                if c[0] == "SLEEP" {
                    std::thread::sleep(Duration::from_millis(600));
                } else {
                    got.push(b.cmd(c));
                }
            }
            got.push(a.cmd(&["MULTI"]));
            got.push(a.cmd(&["PING"]));
            got.push(a.cmd(&["EXEC"]));
            replies.push(got);
        }
        assert_eq!(
            replies[1], replies[0],
            "case {i}: {setup:?} then {meanwhile:?}"
        );
    }
}

/// A pipeline of 1,000 random commands over 4 shards (squashed into one hop per shard per
/// run) gets the same replies, in order, as redis-server gives to the same pipeline.
#[test]
fn squashed_pipelines_get_identical_replies() {
    let Some(redis) = start_redis() else { return };
    let ours = server(4);
    let mut theirs = Client::connect(format!("127.0.0.1:{}", redis.port).parse().unwrap());
    let mut ours_c = Client::connect(ours.addr());
    for seed in 1..=5u64 {
        assert_eq!(theirs.cmd(&["FLUSHALL"]), ok());
        assert_eq!(ours_c.cmd(&["FLUSHALL"]), ok());
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5eed);
        let mut pipeline = Vec::new();
        let mut count = 0;
        for _ in 0..1000 {
            let cmd = random_command(&mut r);
            if cmd.len() == 1 && cmd[0] == "SET" {
                continue;
            }
            let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
            pipeline.extend_from_slice(&Client::encode(&args));
            count += 1;
        }
        theirs.send_raw(&pipeline);
        ours_c.send_raw(&pipeline);
        for i in 0..count {
            assert_eq!(
                ours_c.read_reply(),
                theirs.read_reply(),
                "seed {seed} reply {i}"
            );
        }
    }
}

/// CLIENT REPLY ON/OFF/SKIP drops exactly the replies redis-server drops.
#[test]
fn client_reply_modes_match_redis() {
    let Some(redis) = start_redis() else { return };
    let ours = server(2);
    let script: &[&[&str]] = &[
        &["CLIENT", "REPLY", "SKIP"],
        &["SET", "a", "1"],
        &["GET", "a"],
        &["CLIENT", "REPLY", "OFF"],
        &["INCR", "a"],
        &["CLIENT", "REPLY", "SKIP"],
        &["GET", "a"],
        &["CLIENT", "REPLY", "ON"],
        &["GET", "a"],
        &["CLIENT", "REPLY", "maybe"],
        &["CLIENT", "REPLY"],
        &["CLIENT", "REPLY", "SKIP"],
        &["CLIENT", "REPLY", "SKIP"],
        &["PING"],
        &["ECHO", "last"],
    ];
    let mut pipeline = Vec::new();
    for c in script {
        let args: Vec<&[u8]> = c.iter().map(|s| s.as_bytes()).collect();
        pipeline.extend_from_slice(&Client::encode(&args));
    }
    let mut got = Vec::new();
    for addr in [
        format!("127.0.0.1:{}", redis.port).parse().unwrap(),
        ours.addr(),
    ] {
        let mut c = Client::connect(addr);
        c.cmd(&["DEL", "a"]);
        c.send_raw(&pipeline);
        let mut replies = Vec::new();
        loop {
            let r = c.read_reply();
            let last = r == bulk("last");
            replies.push(r);
            if last {
                break;
            }
        }
        got.push(replies);
    }
    assert_eq!(got[1], got[0]);
}

/// At maxmemory, write commands get Redis's OOM error, MULTI refuses to queue anything, and
/// an EXEC holding a write aborts with the OOM reason; reads and DEL still run.
#[test]
fn maxmemory_refusals_match_redis() {
    let Some(redis) = start_redis() else { return };
    let ours = server(2);
    // (connection, command)
    let script: &[(usize, &[&str])] = &[
        (0, &["SET", "x", "value"]),
        (0, &["MULTI"]),
        (0, &["SET", "x", "1"]),
        (0, &["GET", "x"]),
        (1, &["CONFIG", "SET", "maxmemory", "1"]),
        (0, &["EXEC"]),
        (0, &["SET", "y", "1"]),
        (0, &["GET", "x"]),
        (0, &["MULTI"]),
        (0, &["SET", "z", "1"]),
        (0, &["GET", "z"]),
        (0, &["EXEC"]),
        (0, &["MULTI"]),
        (0, &["DISCARD"]),
        (0, &["DEL", "x"]),
        (1, &["CONFIG", "SET", "maxmemory", "0"]),
        (0, &["SET", "y", "1"]),
        (0, &["MULTI"]),
        (0, &["GET", "y"]),
        (1, &["CONFIG", "SET", "maxmemory", "1"]),
        (0, &["EXEC"]),
        (1, &["CONFIG", "SET", "maxmemory", "0"]),
    ];
    let mut got = Vec::new();
    for addr in [
        format!("127.0.0.1:{}", redis.port).parse().unwrap(),
        ours.addr(),
    ] {
        let mut conns = [Client::connect(addr), Client::connect(addr)];
        conns[0].cmd(&["FLUSHALL"]);
        got.push(
            script
                .iter()
                .map(|(c, args)| conns[*c].cmd(args))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(got[1], got[0]);
}
