//! SORT and SORT_RO through real sockets, on keys spread over four shards: numeric and ALPHA
//! order, LIMIT, BY and GET patterns on strings and hash fields, STORE, errors; and the same
//! commands against redis-server, replies compared byte for byte.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::reference::start_redis;
use common::*;
use damselfly_protocol::Reply;

fn bulks(v: &[&str]) -> Reply {
    arr(v.iter().map(|s| bulk(s)).collect())
}

#[test]
fn sort_orders_lists_sets_and_sorted_sets() {
    let server = server(4);
    let mut c = Client::connect(server.addr());
    c.cmd(&["RPUSH", "l", "3", "1", "10", "2"]);
    assert_eq!(c.cmd(&["SORT", "l"]), bulks(&["1", "2", "3", "10"]));
    assert_eq!(c.cmd(&["SORT", "l", "DESC"]), bulks(&["10", "3", "2", "1"]));
    assert_eq!(
        c.cmd(&["SORT", "l", "ALPHA"]),
        bulks(&["1", "10", "2", "3"])
    );
    assert_eq!(c.cmd(&["SORT", "l", "LIMIT", "1", "2"]), bulks(&["2", "3"]));
    assert_eq!(c.cmd(&["SORT", "l", "LIMIT", "10", "2"]), bulks(&[]));
    assert_eq!(c.cmd(&["SORT_RO", "l", "LIMIT", "-5", "1"]), bulks(&["1"]));
    c.cmd(&["SADD", "s", "b", "a", "c"]);
    assert_eq!(c.cmd(&["SORT", "s", "ALPHA"]), bulks(&["a", "b", "c"]));
    assert_eq!(
        c.cmd(&["SORT", "s"]),
        err("ERR One or more scores can't be converted into double")
    );
    c.cmd(&["ZADD", "z", "3", "x", "1", "y", "2", "z"]);
    assert_eq!(
        c.cmd(&["SORT", "z", "BY", "nosort"]),
        bulks(&["y", "z", "x"])
    );
    assert_eq!(
        c.cmd(&["SORT", "z", "BY", "nosort", "DESC"]),
        bulks(&["x", "z", "y"])
    );
    assert_eq!(c.cmd(&["SORT", "missing"]), bulks(&[]));
    c.cmd(&["SET", "str", "x"]);
    assert_eq!(
        c.cmd(&["SORT", "str"]),
        err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_eq!(c.cmd(&["SORT", "l", "BOGUS"]), err("ERR syntax error"));
    assert_eq!(
        c.cmd(&["SORT", "l", "LIMIT", "a", "1"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["SORT_RO", "l", "STORE", "x"]),
        err("ERR syntax error")
    );
}

#[test]
fn sort_by_and_get_patterns_reach_keys_on_other_shards() {
    let server = server(4);
    let mut c = Client::connect(server.addr());
    c.cmd(&["RPUSH", "ids", "1", "2", "3"]);
    for (id, w, name) in [("1", "30", "one"), ("2", "10", "two"), ("3", "20", "three")] {
        c.cmd(&["SET", &format!("w_{id}"), w]);
        c.cmd(&["HSET", &format!("h_{id}"), "name", name, "n", w]);
    }
    assert_eq!(
        c.cmd(&["SORT", "ids", "BY", "w_*"]),
        bulks(&["2", "3", "1"])
    );
    assert_eq!(
        c.cmd(&["SORT", "ids", "BY", "h_*->n", "DESC"]),
        bulks(&["1", "3", "2"])
    );
    assert_eq!(
        c.cmd(&[
            "SORT",
            "ids",
            "BY",
            "w_*",
            "GET",
            "#",
            "GET",
            "h_*->name",
            "GET",
            "nope_*"
        ]),
        arr(vec![
            bulk("2"),
            bulk("two"),
            nil(),
            bulk("3"),
            bulk("three"),
            nil(),
            bulk("1"),
            bulk("one"),
            nil()
        ])
    );
    assert_eq!(
        c.cmd(&[
            "SORT",
            "ids",
            "BY",
            "w_*",
            "GET",
            "h_*->name",
            "STORE",
            "out"
        ]),
        int(3)
    );
    assert_eq!(
        c.cmd(&["LRANGE", "out", "0", "-1"]),
        bulks(&["two", "three", "one"])
    );
    assert_eq!(c.cmd(&["SORT", "missing", "STORE", "out"]), int(0));
    assert_eq!(c.cmd(&["EXISTS", "out"]), int(0));
}

/// The same SORT invocations against redis-server: identical replies.
#[test]
fn sort_replies_match_redis_server() {
    let Some(redis) = start_redis() else { return };
    let server = server(4);
    let mut ours = Client::connect(server.addr());
    let mut theirs = Client::connect(([127, 0, 0, 1], redis.port).into());
    let setup: Vec<Vec<&str>> = vec![
        vec!["RPUSH", "l", "5", "-1", "3.5", "10", "3.5", "0"],
        vec!["RPUSH", "words", "pear", "apple", "fig", "banana"],
        vec!["SADD", "nums", "9", "7", "8"],
        vec!["ZADD", "zs", "1", "c", "2", "b", "3", "a"],
        vec!["SET", "wt_pear", "2"],
        vec!["SET", "wt_fig", "1"],
        vec!["HSET", "o_apple", "p", "9"],
        vec!["SET", "bad_pear", "x"],
    ];
    let cases: Vec<Vec<&str>> = vec![
        vec!["SORT", "l"],
        vec!["SORT", "l", "DESC", "LIMIT", "1", "3"],
        vec!["SORT", "l", "ALPHA", "DESC"],
        vec!["SORT", "words"],
        vec!["SORT", "words", "ALPHA"],
        vec!["SORT", "words", "BY", "wt_*"],
        vec!["SORT", "words", "BY", "wt_*", "ALPHA"],
        vec!["SORT", "words", "BY", "bad_*"],
        vec!["SORT", "words", "BY", "o_*->p", "GET", "#", "GET", "wt_*"],
        vec!["SORT", "words", "BY", "nosort", "LIMIT", "1", "2"],
        vec!["SORT", "words", "BY", "nosort", "DESC", "LIMIT", "0", "2"],
        vec!["SORT", "nums", "DESC"],
        vec!["SORT", "nums", "BY", "nosort", "STORE", "dst"],
        vec!["LRANGE", "dst", "0", "-1"],
        vec!["SORT", "zs", "BY", "nosort", "LIMIT", "1", "5"],
        vec!["SORT", "zs", "ALPHA", "STORE", "dst"],
        vec!["LRANGE", "dst", "0", "-1"],
        vec!["SORT", "l", "LIMIT", "0", "-1"],
        vec!["SORT", "l", "LIMIT", "-2", "2"],
        vec!["SORT", "l", "GET"],
        vec!["SORT_RO", "words", "ALPHA", "GET", "#"],
    ];
    for cmd in setup.iter().chain(cases.iter()) {
        assert_eq!(ours.cmd_raw(cmd), theirs.cmd_raw(cmd), "{cmd:?}");
    }
}
