//! Sorted-set commands over TCP on 4 shards (multi-key commands cross shards), replies and
//! errors byte for byte as Redis 7.0 sends them, RESP2 and RESP3, in both encodings.

// Test clients are plain threads outside the runtime.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;

fn bulks(v: &[&str]) -> Reply {
    arr(v.iter().map(|s| bulk(s)).collect())
}

use damselfly_protocol::Reply;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn zadd_flags_and_their_errors() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["ZADD", "z", "1", "a", "2", "b"]), int(2));
    assert_eq!(c.cmd(&["ZADD", "z", "1", "a", "3", "c"]), int(1));
    assert_eq!(
        c.cmd(&["ZADD", "z", "CH", "5", "a", "3", "c", "0", "d"]),
        int(2)
    );
    assert_eq!(c.cmd(&["ZADD", "z", "NX", "9", "a", "4", "e"]), int(1));
    assert_eq!(c.cmd(&["ZSCORE", "z", "a"]), bulk("5"));
    assert_eq!(
        c.cmd(&["ZADD", "z", "XX", "CH", "9", "a", "4", "f"]),
        int(1)
    );
    assert_eq!(c.cmd(&["ZSCORE", "z", "f"]), nil());
    assert_eq!(
        c.cmd(&["ZADD", "z", "GT", "CH", "1", "a", "10", "b"]),
        int(1)
    );
    assert_eq!(
        c.cmd(&["ZADD", "z", "LT", "CH", "1", "a", "20", "b"]),
        int(1)
    );
    assert_eq!(c.cmd(&["ZSCORE", "z", "a"]), bulk("1"));
    assert_eq!(c.cmd(&["ZSCORE", "z", "b"]), bulk("10"));
    assert_eq!(c.cmd(&["ZADD", "z", "INCR", "2.5", "a"]), bulk("3.5"));
    assert_eq!(c.cmd(&["ZADD", "z", "INCR", "GT", "-1", "a"]), nil());
    assert_eq!(c.cmd(&["ZADD", "z", "INCR", "NX", "1", "a"]), nil());
    assert_eq!(c.cmd(&["ZADD", "z", "INCR", "XX", "1", "zz"]), nil());
    assert_eq!(c.cmd(&["ZADD", "nokey", "XX", "1", "a"]), int(0));
    assert_eq!(c.cmd(&["EXISTS", "nokey"]), int(0));
    for (args, e) in [
        (
            &["ZADD", "z", "NX", "XX", "1", "a"][..],
            "ERR XX and NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "GT", "LT", "1", "a"],
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "NX", "GT", "1", "a"],
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ),
        (
            &["ZADD", "z", "INCR", "1", "a", "2", "b"],
            "ERR INCR option supports a single increment-element pair",
        ),
        (&["ZADD", "z", "1", "a", "2"], "ERR syntax error"),
        (&["ZADD", "z", "NX", "1"], "ERR syntax error"),
        (&["ZADD", "z", "x", "a"], "ERR value is not a valid float"),
        (&["ZADD", "z", "nan", "a"], "ERR value is not a valid float"),
        (
            &["ZADD", "z", "1e400", "a"],
            "ERR value is not a valid float",
        ),
        (
            &["ZADD", "z", "1"],
            "ERR wrong number of arguments for 'zadd' command",
        ),
        (
            &["ZINCRBY", "z", "x", "a"],
            "ERR value is not a valid float",
        ),
    ] {
        assert_eq!(c.cmd(args), err(e), "{args:?}");
    }
    assert_eq!(c.cmd(&["ZADD", "inf", "inf", "a"]), int(1));
    assert_eq!(
        c.cmd(&["ZINCRBY", "inf", "-inf", "a"]),
        err("ERR resulting score is not a number (NaN)")
    );
    assert_eq!(c.cmd(&["SET", "s", "x"]), ok());
    assert_eq!(c.cmd(&["ZADD", "s", "1", "a"]), err(WRONGTYPE));
    // Score parse errors come before the type check.
    assert_eq!(
        c.cmd(&["ZADD", "s", "x", "a"]),
        err("ERR value is not a valid float")
    );
    assert_eq!(c.cmd(&["ZINCRBY", "z2", "1.5", "m"]), bulk("1.5"));
    assert_eq!(
        c.cmd(&["ZINCRBY", "z2", "0.1", "m"]),
        bulk("1.6000000000000001")
    );
    assert_eq!(c.cmd(&["TYPE", "z2"]), simple("zset"));
}

#[test]
fn scores_format_as_redis_7_0() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&[
        "ZADD", "z", "0.1", "a", "1e100", "b", "-0", "c", "3", "d", "inf", "e", "-inf", "f",
    ]);
    assert_eq!(
        c.cmd(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        bulks(&[
            "f",
            "-inf",
            "c",
            "0",
            "a",
            "0.10000000000000001",
            "d",
            "3",
            "b",
            "1e+100",
            "e",
            "inf"
        ])
    );
    c.cmd(&["HELLO", "3"]);
    assert_eq!(c.cmd(&["ZSCORE", "z", "a"]), Reply::Double(0.1));
    assert_eq!(
        c.cmd_raw(&["ZRANGE", "z", "0", "1", "WITHSCORES"]),
        b"*2\r\n*2\r\n$1\r\nf\r\n,-inf\r\n*2\r\n$1\r\nc\r\n,0\r\n".to_vec()
    );
    assert_eq!(c.cmd_raw(&["ZSCORE", "z", "b"]), b",1e+100\r\n".to_vec());
    assert_eq!(c.cmd_raw(&["ZSCORE", "z", "nope"]), b"_\r\n".to_vec());
    assert_eq!(
        c.cmd_raw(&["ZMSCORE", "z", "d", "nope"]),
        b"*2\r\n,3\r\n_\r\n".to_vec()
    );
    // ZSCAN sends scores as bulk strings in both protocols.
    assert_eq!(
        c.cmd_raw(&["ZSCAN", "z", "0", "MATCH", "a"]),
        b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$19\r\n0.10000000000000001\r\n".to_vec()
    );
    // In the large encoding -0 keeps its sign, as Redis's skiplist does.
    c.cmd(&["CONFIG", "SET", "zset-max-listpack-entries", "0"]);
    c.cmd(&["ZADD", "big", "-0", "m"]);
    assert_eq!(c.cmd_raw(&["ZSCORE", "big", "m"]), b",-0\r\n".to_vec());
    assert_eq!(c.cmd_raw(&["ZSCORE", "z", "c"]), b",0\r\n".to_vec());
}

#[test]
fn reads_ranks_and_removal() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
    assert_eq!(c.cmd(&["ZCARD", "z"]), int(4));
    assert_eq!(c.cmd(&["ZCARD", "none"]), int(0));
    assert_eq!(c.cmd(&["ZRANK", "z", "c"]), int(2));
    assert_eq!(c.cmd(&["ZREVRANK", "z", "c"]), int(1));
    assert_eq!(c.cmd(&["ZRANK", "z", "x"]), nil());
    assert_eq!(c.cmd(&["ZRANK", "none", "x"]), nil());
    assert_eq!(
        c.cmd(&["ZMSCORE", "z", "a", "x"]),
        arr(vec![bulk("1"), nil()])
    );
    assert_eq!(c.cmd(&["ZMSCORE", "none", "a"]), arr(vec![nil()]));
    assert_eq!(c.cmd(&["ZREM", "z", "a", "x", "b"]), int(2));
    assert_eq!(c.cmd(&["ZREM", "none", "a"]), int(0));
    assert_eq!(c.cmd(&["ZREM", "z", "c", "d"]), int(2));
    assert_eq!(c.cmd(&["EXISTS", "z"]), int(0));
    c.cmd(&["SET", "s", "x"]);
    for args in [
        &["ZCARD", "s"][..],
        &["ZSCORE", "s", "a"],
        &["ZMSCORE", "s", "a"],
        &["ZRANK", "s", "a"],
        &["ZREVRANK", "s", "a"],
        &["ZREM", "s", "a"],
        &["ZRANGE", "s", "0", "-1"],
        &["ZCOUNT", "s", "0", "1"],
        &["ZLEXCOUNT", "s", "-", "+"],
        &["ZPOPMIN", "s"],
        &["ZRANDMEMBER", "s"],
        &["ZSCAN", "s", "0"],
        &["ZREMRANGEBYRANK", "s", "0", "1"],
        &["ZUNION", "1", "s"],
    ] {
        assert_eq!(c.cmd(args), err(WRONGTYPE), "{args:?}");
    }
    assert_eq!(
        c.cmd(&["ZRANK", "z"]),
        err("ERR wrong number of arguments for 'zrank' command")
    );
}

#[test]
fn ranges_by_rank_score_and_lex() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&[
        "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
    ]);
    assert_eq!(c.cmd(&["ZRANGE", "z", "1", "-2"]), bulks(&["b", "c", "d"]));
    assert_eq!(
        c.cmd(&["ZRANGE", "z", "-100", "100", "REV"]),
        bulks(&["e", "d", "c", "b", "a"])
    );
    assert_eq!(c.cmd(&["ZRANGE", "z", "3", "1"]), bulks(&[]));
    assert_eq!(
        c.cmd(&["ZREVRANGE", "z", "0", "1", "WITHSCORES"]),
        bulks(&["e", "5", "d", "4"])
    );
    assert_eq!(
        c.cmd(&["ZRANGE", "z", "(1", "3", "BYSCORE"]),
        bulks(&["b", "c"])
    );
    assert_eq!(
        c.cmd(&["ZRANGE", "z", "+inf", "(2", "BYSCORE", "REV", "LIMIT", "1", "2"]),
        bulks(&["d", "c"])
    );
    assert_eq!(
        c.cmd(&["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "3", "-1"]),
        bulks(&["d", "e"])
    );
    assert_eq!(
        c.cmd(&["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "-1", "2"]),
        bulks(&[])
    );
    assert_eq!(
        c.cmd(&["ZREVRANGEBYSCORE", "z", "4", "2", "WITHSCORES"]),
        bulks(&["d", "4", "c", "3", "b", "2"])
    );
    assert_eq!(c.cmd(&["ZCOUNT", "z", "(1", "(5"]), int(3));
    assert_eq!(c.cmd(&["ZCOUNT", "z", "3", "3"]), int(1));
    assert_eq!(c.cmd(&["ZCOUNT", "z", "(3", "3"]), int(0));
    c.cmd(&["ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d"]);
    assert_eq!(c.cmd(&["ZRANGEBYLEX", "l", "[b", "(d"]), bulks(&["b", "c"]));
    assert_eq!(
        c.cmd(&["ZRANGE", "l", "+", "[c", "BYLEX", "REV"]),
        bulks(&["d", "c"])
    );
    assert_eq!(
        c.cmd(&["ZREVRANGEBYLEX", "l", "+", "-", "LIMIT", "1", "1"]),
        bulks(&["c"])
    );
    assert_eq!(c.cmd(&["ZLEXCOUNT", "l", "-", "+"]), int(4));
    assert_eq!(c.cmd(&["ZLEXCOUNT", "l", "(a", "[c"]), int(2));
    for (args, e) in [
        (
            &["ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"][..],
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ),
        (
            &["ZRANGE", "l", "-", "+", "BYLEX", "WITHSCORES"],
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ),
        (
            &["ZRANGE", "z", "0", "-1", "REV", "REV"],
            "ERR syntax error",
        ),
        (
            &["ZRANGE", "z", "0", "1", "BYSCORE", "BYLEX"],
            "ERR syntax error",
        ),
        (&["ZRANGEBYSCORE", "z", "0", "1", "REV"], "ERR syntax error"),
        (
            &["ZRANGEBYSCORE", "z", "0", "1", "LIMIT", "0"],
            "ERR syntax error",
        ),
        (
            &["ZRANGE", "z", "x", "1"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["ZRANGEBYSCORE", "z", "x", "1"],
            "ERR min or max is not a float",
        ),
        (
            &["ZRANGEBYSCORE", "z", "nan", "1"],
            "ERR min or max is not a float",
        ),
        (&["ZCOUNT", "z", "1", "(x"], "ERR min or max is not a float"),
        (
            &["ZRANGEBYLEX", "l", "a", "+"],
            "ERR min or max not valid string range item",
        ),
        (
            &["ZLEXCOUNT", "l", "-", "++"],
            "ERR min or max not valid string range item",
        ),
        (
            &["ZRANGESTORE", "d", "z", "0", "-1", "WITHSCORES"],
            "ERR syntax error",
        ),
    ] {
        assert_eq!(c.cmd(args), err(e), "{args:?}");
    }
    assert_eq!(c.cmd(&["ZRANGE", "none", "0", "-1"]), bulks(&[]));
    // ZRANGESTORE across shards: the destination is replaced, or deleted when empty.
    for d in ["d1", "d2", "d3", "d4"] {
        assert_eq!(
            c.cmd(&[
                "ZRANGESTORE",
                d,
                "z",
                "(1",
                "4",
                "BYSCORE",
                "LIMIT",
                "1",
                "2"
            ]),
            int(2)
        );
        assert_eq!(
            c.cmd(&["ZRANGE", d, "0", "-1", "WITHSCORES"]),
            bulks(&["c", "3", "d", "4"])
        );
        assert_eq!(c.cmd(&["ZRANGESTORE", d, "z", "5", "9"]), int(0));
        assert_eq!(c.cmd(&["EXISTS", d]), int(0));
    }
    c.cmd(&["SET", "str", "x"]);
    assert_eq!(c.cmd(&["ZRANGESTORE", "str", "z", "0", "0"]), int(1));
    assert_eq!(c.cmd(&["TYPE", "str"]), simple("zset"));
    assert_eq!(c.cmd(&["ZRANGESTORE", "d", "str2", "0", "0"]), int(0));
}

#[test]
fn remove_ranges() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    let fill = |c: &mut Client| {
        c.cmd(&["DEL", "z"]);
        c.cmd(&[
            "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
        ]);
    };
    fill(&mut c);
    assert_eq!(c.cmd(&["ZREMRANGEBYRANK", "z", "1", "-2"]), int(3));
    assert_eq!(c.cmd(&["ZRANGE", "z", "0", "-1"]), bulks(&["a", "e"]));
    fill(&mut c);
    assert_eq!(c.cmd(&["ZREMRANGEBYSCORE", "z", "(1", "3"]), int(2));
    assert_eq!(c.cmd(&["ZREMRANGEBYSCORE", "z", "-inf", "+inf"]), int(3));
    assert_eq!(c.cmd(&["EXISTS", "z"]), int(0));
    c.cmd(&["ZADD", "l", "0", "a", "0", "b", "0", "c"]);
    assert_eq!(c.cmd(&["ZREMRANGEBYLEX", "l", "(a", "+"]), int(2));
    assert_eq!(c.cmd(&["ZREMRANGEBYLEX", "none", "-", "+"]), int(0));
    assert_eq!(
        c.cmd(&["ZREMRANGEBYRANK", "l", "x", "1"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["ZREMRANGEBYSCORE", "l", "x", "1"]),
        err("ERR min or max is not a float")
    );
    assert_eq!(
        c.cmd(&["ZREMRANGEBYLEX", "l", "x", "y"]),
        err("ERR min or max not valid string range item")
    );
}

#[test]
fn pops_and_zmpop() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(c.cmd(&["ZPOPMIN", "z"]), bulks(&["a", "1"]));
    assert_eq!(c.cmd(&["ZPOPMAX", "z", "5"]), bulks(&["c", "3", "b", "2"]));
    assert_eq!(c.cmd(&["EXISTS", "z"]), int(0));
    assert_eq!(c.cmd(&["ZPOPMIN", "z"]), bulks(&[]));
    assert_eq!(
        c.cmd(&["ZPOPMIN", "z", "-1"]),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(
        c.cmd(&["ZPOPMIN", "z", "x"]),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(c.cmd(&["ZPOPMIN", "z", "1", "2"]), err("ERR syntax error"));
    c.cmd(&["ZADD", "k2", "1", "x", "2", "y"]);
    assert_eq!(
        c.cmd(&["ZMPOP", "3", "none", "k1", "k2", "MAX", "COUNT", "5"]),
        arr(vec![
            bulk("k2"),
            arr(vec![bulks(&["y", "2"]), bulks(&["x", "1"])])
        ])
    );
    assert_eq!(
        c.cmd(&["ZMPOP", "2", "none", "k2", "MIN"]),
        Reply::NullArray
    );
    c.cmd(&["SET", "s", "v"]);
    assert_eq!(c.cmd(&["ZMPOP", "2", "none", "s", "MIN"]), err(WRONGTYPE));
    for (args, e) in [
        (
            &["ZMPOP", "0", "z", "MIN"][..],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["ZMPOP", "x", "z", "MIN"],
            "ERR numkeys should be greater than 0",
        ),
        (&["ZMPOP", "2", "z", "MIN"], "ERR syntax error"),
        (&["ZMPOP", "1", "z", "MINX"], "ERR syntax error"),
        (
            &["ZMPOP", "1", "z", "MIN", "COUNT", "0"],
            "ERR count should be greater than 0",
        ),
        (
            &["ZMPOP", "1", "z", "MIN", "COUNT", "1", "COUNT", "1"],
            "ERR syntax error",
        ),
        (
            &["ZMPOP", "1", "z"],
            "ERR wrong number of arguments for 'zmpop' command",
        ),
    ] {
        assert_eq!(c.cmd(args), err(e), "{args:?}");
    }
    c.cmd(&["HELLO", "3"]);
    c.cmd(&["ZADD", "z", "1", "a", "2", "b"]);
    assert_eq!(
        c.cmd_raw(&["ZPOPMIN", "z"]),
        b"*2\r\n$1\r\na\r\n,1\r\n".to_vec()
    );
    assert_eq!(
        c.cmd_raw(&["ZPOPMIN", "z", "1"]),
        b"*1\r\n*2\r\n$1\r\nb\r\n,2\r\n".to_vec()
    );
    assert_eq!(c.cmd_raw(&["ZMPOP", "1", "z", "MIN"]), b"_\r\n".to_vec());
}

#[test]
fn randmember_and_scan() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    let Reply::Bulk(m) = c.cmd(&["ZRANDMEMBER", "z"]) else {
        panic!()
    };
    assert!([&b"a"[..], b"b", b"c"].contains(&&m[..]));
    assert_eq!(c.cmd(&["ZRANDMEMBER", "none"]), nil());
    assert_eq!(c.cmd(&["ZRANDMEMBER", "none", "3"]), bulks(&[]));
    assert_eq!(c.cmd(&["ZRANDMEMBER", "z", "0"]), bulks(&[]));
    assert_eq!(
        c.cmd(&["ZRANDMEMBER", "z", "9", "WITHSCORES"]),
        bulks(&["a", "1", "b", "2", "c", "3"])
    );
    let Reply::Array(v) = c.cmd(&["ZRANDMEMBER", "z", "-7"]) else {
        panic!()
    };
    assert_eq!(v.len(), 7);
    let Reply::Array(v) = c.cmd(&["ZRANDMEMBER", "z", "2"]) else {
        panic!()
    };
    assert_eq!(v.len(), 2);
    assert_ne!(v[0], v[1]);
    assert_eq!(
        c.cmd(&["ZRANDMEMBER", "z", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["ZRANDMEMBER", "z", "1", "x"]),
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["ZRANDMEMBER", "z", "-9223372036854775808"]),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(c.cmd(&["ZSCAN", "z", "x"]), err("ERR invalid cursor"));
    assert_eq!(
        c.cmd(&["ZSCAN", "z", "0", "COUNT", "0"]),
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["ZSCAN", "none", "0", "COUNT", "0"]),
        arr(vec![bulk("0"), bulks(&[])])
    );
    // A large set scanned in steps returns every member once at least.
    c.cmd(&["CONFIG", "SET", "zset-max-listpack-entries", "16"]);
    let mut args = vec!["ZADD".to_string(), "big".into()];
    for i in 0..500 {
        args.push(i.to_string());
        args.push(format!("m{i}"));
    }
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    assert_eq!(c.cmd(&a), int(500));
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "big"]), bulk("skiplist"));
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let Reply::Array(v) = c.cmd(&["ZSCAN", "big", &cursor, "COUNT", "20"]) else {
            panic!()
        };
        let (Reply::Bulk(next), Reply::Array(items)) = (&v[0], &v[1]) else {
            panic!()
        };
        for pair in items.chunks(2) {
            seen.insert(format!("{:?}", pair[0]));
        }
        cursor = String::from_utf8(next.clone()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 500);
}

#[test]
fn encodings_convert_at_the_thresholds() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["CONFIG", "SET", "zset-max-listpack-entries", "3"]);
    c.cmd(&["CONFIG", "SET", "zset-max-listpack-value", "5"]);
    c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "z"]), bulk("listpack"));
    c.cmd(&["ZADD", "z", "4", "d"]);
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "z"]), bulk("skiplist"));
    c.cmd(&["ZREM", "z", "a", "b", "c"]);
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "z"]), bulk("skiplist"));
    c.cmd(&["ZADD", "v", "1", "abcdef"]);
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "v"]), bulk("skiplist"));
    c.cmd(&["ZADD", "w", "1", "abc"]);
    c.cmd(&["ZADD", "w", "1", "abcdef"]);
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "w"]), bulk("skiplist"));
    // A stored result takes the encoding its content fits.
    assert_eq!(c.cmd(&["ZUNIONSTORE", "u", "1", "z"]), int(1));
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "u"]), bulk("listpack"));
}

#[test]
fn algebra_across_shards() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["ZADD", "a", "1", "x", "2", "y", "3", "z"]);
    c.cmd(&["ZADD", "b", "10", "y", "20", "z", "30", "w"]);
    assert_eq!(
        c.cmd(&["ZUNION", "2", "a", "b", "WITHSCORES"]),
        bulks(&["x", "1", "y", "12", "z", "23", "w", "30"])
    );
    assert_eq!(
        c.cmd(&[
            "ZINTER",
            "2",
            "a",
            "b",
            "WEIGHTS",
            "2",
            "1",
            "AGGREGATE",
            "MAX",
            "WITHSCORES"
        ]),
        bulks(&["y", "10", "z", "20"])
    );
    assert_eq!(
        c.cmd(&["ZINTER", "2", "a", "b", "AGGREGATE", "MIN"]),
        bulks(&["y", "z"])
    );
    assert_eq!(
        c.cmd(&["ZDIFF", "2", "a", "b", "WITHSCORES"]),
        bulks(&["x", "1"])
    );
    assert_eq!(c.cmd(&["ZDIFF", "2", "none", "b"]), bulks(&[]));
    assert_eq!(c.cmd(&["ZINTERCARD", "2", "a", "b"]), int(2));
    assert_eq!(c.cmd(&["ZINTERCARD", "2", "a", "b", "LIMIT", "1"]), int(1));
    for dst in ["d1", "d2", "d3", "d4", "d5"] {
        assert_eq!(
            c.cmd(&["ZUNIONSTORE", dst, "2", "a", "b", "WEIGHTS", "1", "-1"]),
            int(4)
        );
        assert_eq!(
            c.cmd(&["ZRANGE", dst, "0", "0", "WITHSCORES"]),
            bulks(&["w", "-30"])
        );
        assert_eq!(c.cmd(&["ZINTERSTORE", dst, "2", "a", "none"]), int(0));
        assert_eq!(c.cmd(&["EXISTS", dst]), int(0));
        assert_eq!(c.cmd(&["ZDIFFSTORE", dst, "2", "a", "b"]), int(1));
        assert_eq!(c.cmd(&["ZSCORE", dst, "x"]), bulk("1"));
    }
    // Sets are sources whose members score 1.
    c.cmd(&["SADD", "set", "x", "q"]);
    assert_eq!(
        c.cmd(&["ZUNION", "2", "set", "a", "WEIGHTS", "2", "1", "WITHSCORES"]),
        bulks(&["q", "2", "y", "2", "x", "3", "z", "3"])
    );
    assert_eq!(c.cmd(&["ZINTERSTORE", "dset", "2", "set", "a"]), int(1));
    assert_eq!(c.cmd(&["ZSCORE", "dset", "x"]), bulk("2"));
    assert_eq!(c.cmd(&["ZDIFF", "2", "set", "a"]), bulks(&["q"]));
    // inf * 0 is NaN: Redis counts it as 0.
    c.cmd(&["ZADD", "i", "inf", "x"]);
    assert_eq!(
        c.cmd(&["ZUNION", "1", "i", "WEIGHTS", "0", "WITHSCORES"]),
        bulks(&["x", "0"])
    );
    c.cmd(&["SET", "s", "v"]);
    for (args, e) in [
        (
            &["ZINTER", "0", "a"][..],
            "ERR at least 1 input key is needed for 'zinter' command",
        ),
        (
            &["ZUNIONSTORE", "d", "0", "a"],
            "ERR at least 1 input key is needed for 'zunionstore' command",
        ),
        (
            &["ZINTERCARD", "0", "a"],
            "ERR at least 1 input key is needed for 'zintercard' command",
        ),
        (&["ZINTER", "2", "a"], "ERR syntax error"),
        (
            &["ZINTER", "x", "a"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["ZINTER", "1", "a", "WEIGHTS", "x"],
            "ERR weight value is not a float",
        ),
        (
            &["ZINTER", "1", "a", "WEIGHTS", "1", "2"],
            "ERR syntax error",
        ),
        (
            &["ZINTER", "1", "a", "AGGREGATE", "avg"],
            "ERR syntax error",
        ),
        (&["ZDIFF", "1", "a", "WEIGHTS", "1"], "ERR syntax error"),
        (
            &["ZINTERSTORE", "d", "1", "a", "WITHSCORES"],
            "ERR syntax error",
        ),
        (
            &["ZINTERCARD", "1", "a", "LIMIT", "-1"],
            "ERR LIMIT can't be negative",
        ),
        (&["ZINTERCARD", "1", "a", "WITHSCORES"], "ERR syntax error"),
        (&["ZUNION", "2", "a", "s"], WRONGTYPE),
        // The sources are looked up before the options are read.
        (&["ZUNION", "1", "s", "WEIGHTS", "x"], WRONGTYPE),
    ] {
        assert_eq!(c.cmd(args), err(e), "{args:?}");
    }
    c.cmd(&["HELLO", "3"]);
    assert_eq!(
        c.cmd_raw(&["ZINTER", "2", "a", "b", "WITHSCORES"]),
        b"*2\r\n*2\r\n$1\r\ny\r\n,12\r\n*2\r\n$1\r\nz\r\n,23\r\n".to_vec()
    );
}

#[test]
fn multi_key_commands_inside_multi() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["ZADD", "a", "1", "x"]);
    c.cmd(&["ZADD", "b", "2", "x"]);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    for args in [
        &["ZUNIONSTORE", "dst", "2", "a", "b"][..],
        &["ZINTER", "2", "a", "b", "WITHSCORES"],
        &["ZMPOP", "2", "a", "b", "MIN"],
        &["ZRANGESTORE", "d2", "b", "0", "-1"],
    ] {
        assert_eq!(c.cmd(args), simple("QUEUED"));
    }
    assert_eq!(
        c.cmd(&["EXEC"]),
        arr(vec![
            int(1),
            bulks(&["x", "3"]),
            arr(vec![bulk("a"), arr(vec![bulks(&["x", "1"])])]),
            int(1),
        ])
    );
    assert_eq!(c.cmd(&["ZSCORE", "dst", "x"]), bulk("3"));
}

#[test]
fn read_only_algebra_inside_multi_with_other_keys() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    // Keys on several shards: the transaction holds some of them for the other commands.
    for k in ["a", "b", "c", "d", "e", "f"] {
        c.cmd(&["ZADD", k, "1", "x"]);
    }
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["ZADD", "a", "2", "x"]), simple("QUEUED"));
    assert_eq!(
        c.cmd(&["ZINTER", "6", "a", "b", "c", "d", "e", "f", "WITHSCORES"]),
        simple("QUEUED")
    );
    assert_eq!(c.cmd(&["ZINTERCARD", "3", "d", "e", "f"]), simple("QUEUED"));
    assert_eq!(
        c.cmd(&["EXEC"]),
        arr(vec![int(0), bulks(&["x", "7"]), int(1)])
    );
}
