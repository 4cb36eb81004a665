//! MULTI/EXEC under concurrency, through real sockets and a real client library: transfers
//! keep their sum, appends over several keys are serializable, WATCH retry loops lose no
//! update, and the redis crate's atomic pipelines and transaction helper work unchanged.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use damselfly_protocol::Reply;
use std::collections::{HashMap, HashSet};

fn redis_conn(s: &damselfly::ServerHandle) -> redis::Connection {
    redis::Client::open(format!("redis://{}/", s.addr()))
        .expect("client")
        .get_connection()
        .expect("connect")
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// redis-py's default `pipeline()` and the redis crate's `pipe().atomic()` send MULTI/EXEC.
#[test]
fn client_library_atomic_pipelines_work() {
    let s = server(4);
    let mut con = redis_conn(&s);
    let (set, incr, get, missing): (String, i64, i64, Option<String>) = redis::pipe()
        .atomic()
        .set("pipe:a", 1)
        .incr("pipe:a", 5)
        .get("pipe:a")
        .get("pipe:nothing")
        .query(&mut con)
        .expect("atomic pipeline");
    assert_eq!((set.as_str(), incr, get, missing), ("OK", 6, 6, None));
    // A runtime error inside EXEC is that command's reply; the others still run.
    let r: redis::RedisResult<(String, i64)> = redis::pipe()
        .atomic()
        .set("pipe:s", "text")
        .incr("pipe:s", 1)
        .query(&mut con);
    assert!(r.is_err(), "INCR of a string fails inside EXEC");
    let v: String = redis::cmd("GET").arg("pipe:s").query(&mut con).unwrap();
    assert_eq!(v, "text");
}

/// 32 clients on 4 proactors run WATCH/GET/MULTI/SET/EXEC retry loops on a few hot counters
/// (the redis crate's `transaction` helper): no increment is lost.
#[test]
fn watch_retry_loops_lose_no_update() {
    let s = server(4);
    let counters = 4;
    let per_client = 60;
    let clients = 32;
    std::thread::scope(|scope| {
        for c in 0..clients {
            let s = &s;
            scope.spawn(move || {
                let mut con = redis_conn(s);
                for i in 0..per_client {
                    let key = format!("ctr:{}", (c + i) % counters);
                    let _: () = redis::transaction(&mut con, &[&key], |con, pipe| {
                        let v: Option<i64> = redis::cmd("GET").arg(&key).query(con)?;
                        pipe.set(&key, v.unwrap_or(0) + 1).ignore().query(con)
                    })
                    .expect("transaction");
                }
            });
        }
    });
    let mut con = redis_conn(&s);
    let total: i64 = (0..counters)
        .map(|k| {
            redis::cmd("GET")
                .arg(format!("ctr:{k}"))
                .query::<i64>(&mut con)
                .unwrap()
        })
        .sum();
    assert_eq!(total, (clients * per_client) as i64);
}

fn int_of(r: &Reply) -> i64 {
    match r {
        Reply::Integer(i) => *i,
        Reply::Bulk(b) => std::str::from_utf8(b).unwrap().parse().unwrap(),
        other => panic!("not a number: {other:?}"),
    }
}

/// Transfers between accounts on every shard, each a MULTI/DECRBY/INCRBY/EXEC, while readers
/// read every account inside one EXEC: every snapshot and the final state keep the sum.
#[test]
fn transfers_preserve_the_sum_in_every_snapshot() {
    let s = server(4);
    let accounts = 16;
    let start = 1000;
    let mut c = Client::connect(s.addr());
    for a in 0..accounts {
        assert_eq!(
            c.cmd(&["SET", &format!("acct:{a}"), &start.to_string()]),
            ok()
        );
    }
    let total = (accounts * start) as i64;
    std::thread::scope(|scope| {
        for w in 0..24u64 {
            let addr = s.addr();
            scope.spawn(move || {
                let mut c = Client::connect(addr);
                let mut r = Rng(w * 7919 + 1);
                for _ in 0..150 {
                    let from = format!("acct:{}", r.below(accounts as u64));
                    let to = format!("acct:{}", r.below(accounts as u64));
                    let amount = (1 + r.below(20)).to_string();
                    assert_eq!(c.cmd(&["MULTI"]), ok());
                    assert_eq!(c.cmd(&["DECRBY", &from, &amount]), simple("QUEUED"));
                    assert_eq!(c.cmd(&["INCRBY", &to, &amount]), simple("QUEUED"));
                    match c.cmd(&["EXEC"]) {
                        Reply::Array(v) => assert_eq!(v.len(), 2),
                        other => panic!("EXEC replied {other:?}"),
                    }
                }
            });
        }
        for _ in 0..8 {
            let addr = s.addr();
            scope.spawn(move || {
                let mut c = Client::connect(addr);
                for _ in 0..60 {
                    assert_eq!(c.cmd(&["MULTI"]), ok());
                    for a in 0..accounts {
                        assert_eq!(c.cmd(&["GET", &format!("acct:{a}")]), simple("QUEUED"));
                    }
                    let Reply::Array(v) = c.cmd(&["EXEC"]) else {
                        panic!("EXEC is an array")
                    };
                    let sum: i64 = v.iter().map(int_of).sum();
                    assert_eq!(sum, total, "a snapshot saw a transfer half done");
                }
            });
        }
    });
    let sum: i64 = (0..accounts)
        .map(|a| int_of(&c.cmd(&["GET", &format!("acct:{a}")])))
        .sum();
    assert_eq!(sum, total);
}

/// Each transaction appends its token to two or three keys spread over the shards. At the
/// end every token is in each of its keys exactly once, each client's tokens keep their order,
/// and the orders seen by different keys agree (the precedence graph has no cycle): the
/// committed transactions have one serial order.
#[test]
fn appends_across_shards_are_serializable() {
    let s = server(4);
    let keys = 8u64;
    let clients = 32u64;
    let per_client = 40u64;
    let plans: Vec<Vec<Vec<u64>>> = (0..clients)
        .map(|c| {
            let mut r = Rng(c * 104_729 + 3);
            (0..per_client)
                .map(|_| {
                    let mut ks: Vec<u64> = (0..2 + r.below(2)).map(|_| r.below(keys)).collect();
                    ks.sort_unstable();
                    ks.dedup();
                    ks
                })
                .collect()
        })
        .collect();
    std::thread::scope(|scope| {
        for (c, plan) in plans.iter().enumerate() {
            let addr = s.addr();
            scope.spawn(move || {
                let mut conn = Client::connect(addr);
                for (seq, ks) in plan.iter().enumerate() {
                    let token = format!("{c}.{seq};");
                    assert_eq!(conn.cmd(&["MULTI"]), ok());
                    for k in ks {
                        let key = format!("log:{k}");
                        assert_eq!(conn.cmd(&["APPEND", &key, &token]), simple("QUEUED"));
                    }
                    assert!(matches!(conn.cmd(&["EXEC"]), Reply::Array(_)));
                }
            });
        }
    });
    let mut c = Client::connect(s.addr());
    let mut edges: HashMap<(u64, u64), HashSet<(u64, u64)>> = HashMap::new();
    let mut seen = 0usize;
    for k in 0..keys {
        let text = match c.cmd(&["GET", &format!("log:{k}")]) {
            Reply::Bulk(b) => String::from_utf8(b).unwrap(),
            Reply::NullBulk => String::new(),
            other => panic!("GET replied {other:?}"),
        };
        let tokens: Vec<(u64, u64)> = text
            .split(';')
            .filter(|t| !t.is_empty())
            .map(|t| {
                let (a, b) = t.split_once('.').unwrap();
                (a.parse().unwrap(), b.parse().unwrap())
            })
            .collect();
        let unique: HashSet<_> = tokens.iter().collect();
        assert_eq!(
            unique.len(),
            tokens.len(),
            "a token appears twice in log:{k}"
        );
        for &(cl, seq) in &tokens {
            assert!(plans[cl as usize][seq as usize].contains(&k), "stray token");
        }
        let mut last_seq: HashMap<u64, u64> = HashMap::new();
        for &(cl, seq) in &tokens {
            if let Some(prev) = last_seq.insert(cl, seq) {
                assert!(prev < seq, "client {cl}'s appends out of order in log:{k}");
            }
        }
        for w in tokens.windows(2) {
            edges.entry(w[0]).or_default().insert(w[1]);
        }
        seen += tokens.len();
    }
    let expected: usize = plans.iter().flatten().map(|ks| ks.len()).sum();
    assert_eq!(seen, expected, "appends lost");
    // Kahn's algorithm: a cycle leaves nodes that never reach in-degree zero.
    let nodes: HashSet<(u64, u64)> = edges
        .iter()
        .flat_map(|(a, bs)| std::iter::once(*a).chain(bs.iter().copied()))
        .collect();
    let mut indegree: HashMap<(u64, u64), usize> = nodes.iter().map(|n| (*n, 0)).collect();
    for bs in edges.values() {
        for b in bs {
            *indegree.get_mut(b).unwrap() += 1;
        }
    }
    let mut ready: Vec<(u64, u64)> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(n, _)| *n)
        .collect();
    let mut ordered = 0;
    while let Some(n) = ready.pop() {
        ordered += 1;
        for b in edges.get(&n).into_iter().flatten() {
            let d = indegree.get_mut(b).unwrap();
            *d -= 1;
            if *d == 0 {
                ready.push(*b);
            }
        }
    }
    assert_eq!(
        ordered,
        nodes.len(),
        "the keys disagree on the order of transactions"
    );
}

/// Pipelines of INCRs (squashed into one hop per shard) from many clients, mixed with
/// cross-shard MULTI/EXEC blocks on the same counters: no increment is lost or doubled.
#[test]
fn squashed_pipelines_and_exec_blocks_count_exactly() {
    let s = server(4);
    let counters = 8u64;
    let clients = 16u64;
    let rounds = 100u64;
    let per_pipeline = 20u64;
    std::thread::scope(|scope| {
        for c in 0..clients {
            let addr = s.addr();
            scope.spawn(move || {
                let mut conn = Client::connect(addr);
                let mut r = Rng(c * 31 + 7);
                for round in 0..rounds {
                    let mut pipeline = Vec::new();
                    let exec_block = round % 5 == 0;
                    if exec_block {
                        pipeline.extend_from_slice(&Client::encode(&[b"MULTI"]));
                    }
                    for _ in 0..per_pipeline {
                        let key = format!("cnt:{}", r.below(counters));
                        pipeline.extend_from_slice(&Client::encode(&[b"INCR", key.as_bytes()]));
                    }
                    if exec_block {
                        pipeline.extend_from_slice(&Client::encode(&[b"EXEC"]));
                    }
                    conn.send_raw(&pipeline);
                    let replies = per_pipeline + if exec_block { 2 } else { 0 };
                    for _ in 0..replies {
                        match conn.read_reply() {
                            Reply::Integer(_) | Reply::Array(_) => {}
                            Reply::Simple(s) if s == b"OK" || s == b"QUEUED" => {}
                            other => panic!("unexpected reply {other:?}"),
                        }
                    }
                }
            });
        }
    });
    let mut c = Client::connect(s.addr());
    let total: i64 = (0..counters)
        .map(|k| match c.cmd(&["GET", &format!("cnt:{k}")]) {
            Reply::Bulk(b) => std::str::from_utf8(&b).unwrap().parse::<i64>().unwrap(),
            Reply::NullBulk => 0,
            other => panic!("GET replied {other:?}"),
        })
        .sum();
    assert_eq!(total, (clients * rounds * per_pipeline) as i64);
}
