//! HyperLogLog through real sockets, against redis-server: the same PFADDs give the same
//! string byte for byte (sparse and dense), PFCOUNT/PFMERGE agree over keys on several
//! shards, values move between the servers with GET/SET, and every error matches.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::reference::{start_redis, Rng};
use common::*;
use damselfly_protocol::Reply;
use std::net::SocketAddr;

fn both() -> Option<(common::reference::RedisServer, damselfly::ServerHandle)> {
    let redis = start_redis()?;
    Some((redis, server(4)))
}

fn redis_client(r: &common::reference::RedisServer) -> Client {
    let addr: SocketAddr = format!("127.0.0.1:{}", r.port).parse().unwrap();
    Client::connect(addr)
}

#[test]
fn same_strings_counts_and_merges_as_redis() {
    let Some((redis, ours)) = both() else { return };
    let mut theirs = redis_client(&redis);
    let mut mine = Client::connect(ours.addr());
    let mut rng = Rng(7);
    for round in 0..30 {
        let key = format!("hll{{t}}{}", round % 6);
        let n = match round % 3 {
            0 => rng.below(20),
            1 => rng.below(500),
            _ => rng.below(6000),
        };
        let elements: Vec<String> = (0..n)
            .map(|_| format!("e{}", rng.below(1_000_000)))
            .collect();
        let mut args = vec!["PFADD", &key];
        args.extend(elements.iter().map(String::as_str));
        assert_eq!(theirs.cmd(&args), mine.cmd(&args), "PFADD round {round}");
        assert_eq!(
            theirs.cmd(&["GET", &key]),
            mine.cmd(&["GET", &key]),
            "HLL string of {key} differs"
        );
        for cmd in [
            vec!["PFCOUNT", key.as_str()],
            vec!["PFCOUNT", "hll{t}0", "hll{t}1", "hll{t}4"],
            vec!["PFCOUNT", "hll0", "hll{t}2", "nothere"],
            vec!["PFMERGE", "dst", "hll{t}0", "hll{t}3", "hll5"],
            vec!["PFCOUNT", "dst"],
            vec!["PFDEBUG", "ENCODING", key.as_str()],
        ] {
            assert_eq!(theirs.cmd(&cmd), mine.cmd(&cmd), "{cmd:?}");
        }
    }
}

#[test]
fn values_move_between_servers_and_errors_match() {
    let Some((redis, ours)) = both() else { return };
    let mut theirs = redis_client(&redis);
    let mut mine = Client::connect(ours.addr());
    theirs.cmd(&["PFADD", "moved", "a", "b", "c", "d"]);
    let Reply::Bulk(bytes) = theirs.cmd(&["GET", "moved"]) else {
        panic!("GET")
    };
    mine.cmd_bytes(&[b"SET", b"moved", &bytes]);
    assert_eq!(mine.cmd(&["PFCOUNT", "moved"]), int(4));
    assert_eq!(mine.cmd(&["PFADD", "moved", "e"]), int(1));
    let Reply::Bulk(back) = mine.cmd(&["GET", "moved"]) else {
        panic!("GET")
    };
    theirs.cmd_bytes(&[b"SET", b"back", &back]);
    assert_eq!(theirs.cmd(&["PFCOUNT", "back"]), int(5));
    for c in [&mut theirs, &mut mine] {
        c.cmd(&["SET", "str", "not an hll"]);
        c.cmd(&["LPUSH", "list", "x"]);
        c.cmd(&["PFADD", "tail", "a", "b"]);
        c.cmd(&["APPEND", "tail", "junk"]);
    }
    for cmd in [
        vec!["PFADD", "str", "x"],
        vec!["PFCOUNT", "str"],
        vec!["PFCOUNT", "list"],
        vec!["PFMERGE", "str", "moved"],
        vec!["PFMERGE", "x", "list"],
        vec!["PFCOUNT", "tail"],
        vec!["PFADD"],
        vec!["PFDEBUG", "ENCODING", "nothere"],
        vec!["PFDEBUG", "NOPE", "moved"],
        vec!["PFADD", "new"],
        vec!["PFCOUNT", "new"],
        vec!["PFDEBUG", "DECODE", "new"],
        vec!["PFDEBUG", "TODENSE", "new"],
        vec!["PFDEBUG", "DECODE", "new"],
        vec!["PFDEBUG", "TODENSE", "new"],
    ] {
        assert_eq!(theirs.cmd(&cmd), mine.cmd(&cmd), "{cmd:?}");
    }
    assert_eq!(mine.cmd(&["PFSELFTEST"]), ok());
}
