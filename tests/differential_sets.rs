//! Differential test of the set commands: seeded random streams over a small key space, mixed
//! with DEL/EXPIRE/RENAME/TYPE/EXISTS and string writes, go to redis-server 7.0 and to
//! Damselfly (4 shards, so multi-key commands cross shards). Unordered replies are sorted
//! before comparing; random ones (SRANDMEMBER, small SPOPs) are compared by shape, and only
//! where the state cannot diverge. Fails (does not skip) when CI=true and redis-server is
//! missing.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::reference::{start_redis, Rng};
use common::*;
use damselfly_protocol::Reply;

fn key(r: &mut Rng) -> String {
    format!("s{}", r.below(10))
}

fn member(r: &mut Rng) -> String {
    match r.below(8) {
        0..=2 => r.below(30).to_string(),
        3 => format!("-{}", r.below(5)),
        4 => [
            "9223372036854775807",
            "-9223372036854775808",
            "99999999999999999999",
            "007",
        ][r.below(4) as usize]
            .to_string(),
        5 => "x".repeat(60 + r.below(10) as usize),
        _ => format!("m{}", r.below(20)),
    }
}

/// How a reply is compared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cmp {
    Exact,
    /// An unordered collection: sorted first.
    Sorted,
    /// SSCAN: the cursor exactly, the members sorted.
    Scan,
    /// Random members: the reply's type and length only.
    Shape,
}

fn random_command(r: &mut Rng) -> (Vec<String>, Cmp) {
    let cmd = r.pick(&[
        "SADD",
        "SADD",
        "SADD",
        "SREM",
        "SCARD",
        "SISMEMBER",
        "SMISMEMBER",
        "SMEMBERS",
        "SPOP",
        "SRANDMEMBER",
        "SMOVE",
        "SINTER",
        "SINTERCARD",
        "SINTERSTORE",
        "SUNION",
        "SUNIONSTORE",
        "SDIFF",
        "SDIFFSTORE",
        "SSCAN",
        "DEL",
        "EXPIRE",
        "RENAME",
        "TYPE",
        "EXISTS",
        "SET",
        "OBJECT",
    ]);
    let mut c = vec![cmd.to_string()];
    fn keys(c: &mut Vec<String>, r: &mut Rng, n: u64) {
        for _ in 0..n {
            c.push(key(r));
        }
    }
    let cmp = match cmd {
        "SADD" | "SREM" | "SMISMEMBER" => {
            c.push(key(r));
            for _ in 0..1 + r.below(6) {
                c.push(member(r));
            }
            Cmp::Exact
        }
        "SCARD" | "SMEMBERS" | "TYPE" | "DEL" | "EXISTS" => {
            keys(&mut c, r, 1);
            if cmd == "SMEMBERS" {
                Cmp::Sorted
            } else {
                Cmp::Exact
            }
        }
        "SISMEMBER" => {
            c.push(key(r));
            c.push(member(r));
            Cmp::Exact
        }
        "SPOP" => {
            // Popping everything is deterministic; a random pop on a set of one member too.
            c.push(key(r));
            match r.below(3) {
                0 => c.push("1000".into()),
                1 => c.push(["0", "-1", "abc"][r.below(3) as usize].into()),
                _ => {}
            }
            if c.len() == 2 {
                // SPOP key: kept deterministic by the caller (only on sets of <= 1 member).
                Cmp::Shape
            } else {
                Cmp::Sorted
            }
        }
        "SRANDMEMBER" => {
            c.push(key(r));
            match r.below(4) {
                0 => {
                    c.push("1000".into());
                    Cmp::Sorted
                }
                1 => {
                    c.push(format!("-{}", r.below(8)));
                    Cmp::Shape
                }
                2 => {
                    c.push(r.below(5).to_string());
                    Cmp::Shape
                }
                _ => Cmp::Shape,
            }
        }
        "SMOVE" => {
            keys(&mut c, r, 2);
            c.push(member(r));
            Cmp::Exact
        }
        "SINTER" | "SUNION" | "SDIFF" => {
            let n = 1 + r.below(4);
            keys(&mut c, r, n);
            Cmp::Sorted
        }
        "SINTERSTORE" | "SUNIONSTORE" | "SDIFFSTORE" => {
            let n = 2 + r.below(4);
            keys(&mut c, r, n);
            Cmp::Exact
        }
        "SINTERCARD" => {
            let n = 1 + r.below(3);
            c.push(n.to_string());
            keys(&mut c, r, n);
            if r.below(2) == 0 {
                c.push("LIMIT".into());
                c.push(r.below(4).to_string());
            }
            Cmp::Exact
        }
        "SSCAN" => {
            c.push(key(r));
            c.push("0".into());
            if r.below(2) == 0 {
                c.push("MATCH".into());
                c.push(["*1*", "m*", "x*", "-*"][r.below(4) as usize].into());
            }
            // A count that covers any set here: one step returns everything with cursor 0.
            c.push("COUNT".into());
            c.push("1000".into());
            Cmp::Scan
        }
        "EXPIRE" => {
            c.push(key(r));
            c.push(["100", "0", "-1"][r.below(3) as usize].into());
            Cmp::Exact
        }
        "RENAME" => {
            keys(&mut c, r, 2);
            Cmp::Exact
        }
        "SET" => {
            c.push(key(r));
            c.push("str".into());
            Cmp::Exact
        }
        _ => {
            c.push("ENCODING".into());
            c.push(key(r));
            Cmp::Exact
        }
    };
    (c, cmp)
}

fn normalise(reply: Reply, cmp: Cmp) -> Reply {
    let sort = |mut v: Vec<Reply>| {
        v.sort_by_key(|x| format!("{x:?}"));
        v
    };
    match (cmp, reply) {
        (Cmp::Sorted, Reply::Array(v)) => Reply::Array(sort(v)),
        (Cmp::Sorted, Reply::Set(v)) => Reply::Set(sort(v)),
        (Cmp::Scan, Reply::Array(mut v)) if v.len() == 2 => {
            if let Reply::Array(m) = v.pop().unwrap() {
                v.push(Reply::Array(sort(m)));
            }
            Reply::Array(v)
        }
        (Cmp::Shape, Reply::Array(v)) => Reply::Integer(v.len() as i64),
        (Cmp::Shape, Reply::Bulk(_)) => Reply::Simple(b"a member".to_vec()),
        (_, other) => other,
    }
}

fn run_streams(resp3: bool, packed: bool) {
    let Some(redis) = start_redis() else { return };
    let ours = server(4);
    let mut theirs = Client::connect(format!("127.0.0.1:{}", redis.port).parse().unwrap());
    let mut us = Client::connect(ours.addr());
    for c in [&mut theirs, &mut us] {
        if resp3 {
            c.cmd(&["HELLO", "3"]);
        }
        // A small intset limit so streams cross it.
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "set-max-intset-entries", "6"]),
            ok()
        );
    }
    if !packed {
        // Redis 7.0's encodings: no listpack sets; OBJECT ENCODING then matches too.
        assert_eq!(
            us.cmd(&["CONFIG", "SET", "set-max-listpack-entries", "0"]),
            ok()
        );
    } else {
        assert_eq!(
            us.cmd(&["CONFIG", "SET", "set-max-listpack-entries", "5"]),
            ok()
        );
    }
    // Replies that carried members, and conversions seen: the streams must exercise sets.
    let (mut with_members, mut hashtables) = (0usize, 0usize);
    for seed in 1..=25u64 {
        assert_eq!(theirs.cmd(&["FLUSHALL"]), ok());
        assert_eq!(us.cmd(&["FLUSHALL"]), ok());
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        for step in 0..400 {
            let (cmd, cmp) = random_command(&mut r);
            if packed && cmd[0] == "OBJECT" {
                continue;
            }
            if cmd[0] == "SPOP" && cmd.len() == 2 {
                // A single random pop only where it cannot pick differently.
                if !matches!(theirs.cmd(&["SCARD", &cmd[1]]), Reply::Integer(0 | 1)) {
                    continue;
                }
            }
            let args: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
            let want = normalise(theirs.cmd(&args), cmp);
            let got = normalise(us.cmd(&args), cmp);
            assert_eq!(got, want, "seed {seed} step {step}: {cmd:?}");
            match &got {
                Reply::Array(v) | Reply::Set(v) if !v.is_empty() => with_members += 1,
                Reply::Bulk(b) if b == b"hashtable" => hashtables += 1,
                _ => {}
            }
        }
        // The final states agree.
        for k in 0..10 {
            let k = format!("s{k}");
            let want = normalise(theirs.cmd(&["SMEMBERS", &k]), Cmp::Sorted);
            let got = normalise(us.cmd(&["SMEMBERS", &k]), Cmp::Sorted);
            assert_eq!(got, want, "seed {seed}: final {k}");
        }
    }
    assert!(with_members > 500, "{with_members} replies with members");
    assert!(
        packed || hashtables > 20,
        "{hashtables} hashtable encodings seen"
    );
}

#[test]
fn random_set_streams_as_redis_70() {
    run_streams(false, false);
}

#[test]
fn random_set_streams_resp3_with_listpack() {
    run_streams(true, true);
}
