//! Hash commands over TCP on 4 shards, replies byte for byte as Redis 7.0 sends them;
//! unordered replies are sorted before comparing.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use damselfly_protocol::Reply;
use std::collections::{HashMap, HashSet};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn bulks(r: Reply) -> Vec<Vec<u8>> {
    let items = match r {
        Reply::Array(v) | Reply::Set(v) => v,
        other => panic!("not an array: {other:?}"),
    };
    items
        .into_iter()
        .map(|i| match i {
            Reply::Bulk(b) => b,
            other => panic!("not a bulk: {other:?}"),
        })
        .collect()
}

fn sorted(r: Reply) -> Vec<Vec<u8>> {
    let mut v = bulks(r);
    v.sort();
    v
}

fn strs(v: &[&str]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = v.iter().map(|s| s.as_bytes().to_vec()).collect();
    out.sort();
    out
}

/// A flat field, value array as a map.
fn pairs(r: Reply) -> HashMap<Vec<u8>, Vec<u8>> {
    let v = bulks(r);
    assert_eq!(v.len() % 2, 0);
    v.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect()
}

fn arity(cmd: &str) -> Reply {
    err(&format!(
        "ERR wrong number of arguments for '{cmd}' command"
    ))
}

fn encoding(c: &mut Client, key: &str) -> Reply {
    c.cmd(&["OBJECT", "ENCODING", key])
}

#[test]
fn hset_hget_hmset_hsetnx() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["HSET", "h", "a", "1", "b", "2", "a", "3"]), int(2));
    assert_eq!(c.cmd(&["HGET", "h", "a"]), bulk("3"));
    assert_eq!(c.cmd(&["HGET", "h", "zz"]), nil());
    assert_eq!(c.cmd(&["HGET", "nokey", "a"]), nil());
    assert_eq!(c.cmd(&["HSET", "h", "a", "4"]), int(0));
    assert_eq!(c.cmd(&["HMSET", "h", "c", "5", "a", "6"]), ok());
    assert_eq!(c.cmd(&["HGET", "h", "a"]), bulk("6"));
    assert_eq!(c.cmd(&["HSETNX", "h", "a", "7"]), int(0));
    assert_eq!(c.cmd(&["HSETNX", "h", "d", "7"]), int(1));
    assert_eq!(c.cmd(&["HSETNX", "new", "d", "7"]), int(1));
    assert_eq!(c.cmd(&["HGET", "h", "d"]), bulk("7"));
    assert_eq!(c.cmd(&["TYPE", "h"]), simple("hash"));
    assert_eq!(c.cmd(&["HLEN", "h"]), int(4));
    // Arity and pairing errors.
    assert_eq!(c.cmd(&["HSET", "h", "a"]), arity("hset"));
    assert_eq!(c.cmd(&["HSET", "h", "a", "1", "b"]), arity("hset"));
    assert_eq!(c.cmd(&["HMSET", "h", "a", "1", "b"]), arity("hmset"));
    assert_eq!(c.cmd(&["HSETNX", "h", "a"]), arity("hsetnx"));
    assert_eq!(c.cmd(&["HGET", "h"]), arity("hget"));
    // Empty strings are fields and values like any other.
    assert_eq!(c.cmd(&["HSET", "h", "", ""]), int(1));
    assert_eq!(c.cmd(&["HGET", "h", ""]), bulk(""));
}

#[test]
fn wrongtype_everywhere() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["SET", "str", "x"]), ok());
    let w = err(WRONGTYPE);
    for cmd in [
        &["HSET", "str", "a", "b"][..],
        &["HSETNX", "str", "a", "b"],
        &["HMSET", "str", "a", "b"],
        &["HGET", "str", "a"],
        &["HMGET", "str", "a"],
        &["HGETALL", "str"],
        &["HDEL", "str", "a"],
        &["HLEN", "str"],
        &["HSTRLEN", "str", "a"],
        &["HEXISTS", "str", "a"],
        &["HKEYS", "str"],
        &["HVALS", "str"],
        &["HINCRBY", "str", "a", "1"],
        &["HINCRBYFLOAT", "str", "a", "1"],
        &["HRANDFIELD", "str"],
        &["HRANDFIELD", "str", "0"],
        &["HRANDFIELD", "str", "2", "WITHVALUES"],
        &["HSCAN", "str", "0"],
        &["HSCAN", "str", "0", "COUNT", "0"],
    ] {
        assert_eq!(c.cmd(cmd), w, "{cmd:?}");
    }
    assert_eq!(c.cmd(&["GET", "str"]), bulk("x"));
    // The other way round.
    assert_eq!(c.cmd(&["HSET", "h", "a", "b"]), int(1));
    assert_eq!(c.cmd(&["GET", "h"]), w);
    assert_eq!(c.cmd(&["APPEND", "h", "x"]), w);
}

#[test]
fn hmget_hgetall_hkeys_hvals() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["HSET", "h", "a", "1", "b", "2", "c", "-3"]);
    assert_eq!(
        c.cmd(&["HMGET", "h", "a", "zz", "c"]),
        arr(vec![bulk("1"), nil(), bulk("-3")])
    );
    assert_eq!(
        c.cmd(&["HMGET", "nokey", "a", "b"]),
        arr(vec![nil(), nil()])
    );
    assert_eq!(c.cmd(&["HMGET", "h"]), arity("hmget"));
    let all = pairs(c.cmd(&["HGETALL", "h"]));
    assert_eq!(all.len(), 3);
    assert_eq!(all[&b"c"[..]], b"-3");
    assert_eq!(sorted(c.cmd(&["HKEYS", "h"])), strs(&["a", "b", "c"]));
    assert_eq!(sorted(c.cmd(&["HVALS", "h"])), strs(&["1", "2", "-3"]));
    // A listpack answers in insertion order, as Redis's does.
    assert_eq!(
        c.cmd(&["HGETALL", "h"]),
        arr(["a", "1", "b", "2", "c", "-3"].map(bulk).to_vec())
    );
    assert_eq!(c.cmd(&["HGETALL", "nokey"]), arr(vec![]));
    assert_eq!(c.cmd(&["HKEYS", "nokey"]), arr(vec![]));
    assert_eq!(c.cmd(&["HVALS", "nokey"]), arr(vec![]));
    assert_eq!(c.cmd(&["HGETALL"]), arity("hgetall"));
    assert_eq!(c.cmd(&["HKEYS", "a", "b"]), arity("hkeys"));
}

#[test]
fn resp3_shapes() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["HELLO", "3"]);
    c.cmd(&["HSET", "h", "a", "1", "b", "2"]);
    assert_eq!(
        c.cmd_raw(&["HGETALL", "h"]),
        b"%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert_eq!(c.cmd_raw(&["HGETALL", "nokey"]), b"%0\r\n");
    assert_eq!(c.cmd_raw(&["HKEYS", "nokey"]), b"*0\r\n");
    assert_eq!(c.cmd_raw(&["HGET", "h", "x"]), b"_\r\n");
    assert_eq!(
        c.cmd_raw(&["HMGET", "nokey", "a", "b"]),
        b"*2\r\n_\r\n_\r\n"
    );
    assert_eq!(c.cmd_raw(&["HRANDFIELD", "nokey"]), b"_\r\n");
    assert_eq!(
        c.cmd_raw(&["HRANDFIELD", "h", "5", "WITHVALUES"]),
        b"*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert_eq!(
        c.cmd_raw(&["HSCAN", "h", "0"]),
        b"*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    c.cmd(&["HSET", "one", "f", "v"]);
    assert_eq!(
        c.cmd_raw(&["HRANDFIELD", "one", "-2", "WITHVALUES"]),
        b"*2\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
    assert_eq!(
        c.cmd_raw(&["HRANDFIELD", "one", "-2"]),
        b"*2\r\n$1\r\nf\r\n$1\r\nf\r\n"
    );
}

#[test]
fn hdel_deletes_empty_hashes() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(c.cmd(&["HDEL", "h", "a", "a", "zz"]), int(1));
    assert_eq!(c.cmd(&["HDEL", "nokey", "a"]), int(0));
    assert_eq!(c.cmd(&["HDEL", "h"]), arity("hdel"));
    assert_eq!(c.cmd(&["HDEL", "h", "b", "c"]), int(2));
    assert_eq!(c.cmd(&["EXISTS", "h"]), int(0));
    assert_eq!(c.cmd(&["HLEN", "h"]), int(0));
    // Also from the large encoding.
    c.cmd(&["CONFIG", "SET", "hash-max-listpack-entries", "2"]);
    c.cmd(&["HSET", "big", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(encoding(&mut c, "big"), bulk("hashtable"));
    assert_eq!(c.cmd(&["HDEL", "big", "a", "b", "c", "d"]), int(3));
    assert_eq!(c.cmd(&["EXISTS", "big"]), int(0));
}

#[test]
fn hlen_hstrlen_hexists() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["HSET", "h", "s", "hello", "n", "-1234", "e", ""]);
    assert_eq!(c.cmd(&["HLEN", "h"]), int(3));
    assert_eq!(c.cmd(&["HLEN", "nokey"]), int(0));
    assert_eq!(c.cmd(&["HSTRLEN", "h", "s"]), int(5));
    assert_eq!(c.cmd(&["HSTRLEN", "h", "n"]), int(5));
    assert_eq!(c.cmd(&["HSTRLEN", "h", "e"]), int(0));
    assert_eq!(c.cmd(&["HSTRLEN", "h", "zz"]), int(0));
    assert_eq!(c.cmd(&["HSTRLEN", "nokey", "zz"]), int(0));
    assert_eq!(c.cmd(&["HEXISTS", "h", "e"]), int(1));
    assert_eq!(c.cmd(&["HEXISTS", "h", "zz"]), int(0));
    assert_eq!(c.cmd(&["HEXISTS", "nokey", "zz"]), int(0));
    assert_eq!(c.cmd(&["HLEN"]), arity("hlen"));
    assert_eq!(c.cmd(&["HSTRLEN", "h"]), arity("hstrlen"));
    assert_eq!(c.cmd(&["HEXISTS", "h"]), arity("hexists"));
}

#[test]
fn hincrby() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["HINCRBY", "h", "n", "5"]), int(5));
    assert_eq!(c.cmd(&["HINCRBY", "h", "n", "-7"]), int(-2));
    assert_eq!(c.cmd(&["HGET", "h", "n"]), bulk("-2"));
    c.cmd(&[
        "HSET",
        "h",
        "s",
        "abc",
        "sp",
        " 1",
        "z",
        "01",
        "max",
        "9223372036854775807",
    ]);
    let not_int = err("ERR hash value is not an integer");
    assert_eq!(c.cmd(&["HINCRBY", "h", "s", "1"]), not_int);
    assert_eq!(c.cmd(&["HINCRBY", "h", "sp", "1"]), not_int);
    assert_eq!(c.cmd(&["HINCRBY", "h", "z", "1"]), not_int);
    let overflow = err("ERR increment or decrement would overflow");
    assert_eq!(c.cmd(&["HINCRBY", "h", "max", "1"]), overflow);
    assert_eq!(
        c.cmd(&["HINCRBY", "h", "n", "-9223372036854775807"]),
        overflow
    );
    let bad = err("ERR value is not an integer or out of range");
    assert_eq!(c.cmd(&["HINCRBY", "h", "n", "x"]), bad);
    assert_eq!(c.cmd(&["HINCRBY", "h", "n", "1.5"]), bad);
    assert_eq!(c.cmd(&["HINCRBY", "h", "n", "9223372036854775808"]), bad);
    assert_eq!(c.cmd(&["HINCRBY", "h", "n"]), arity("hincrby"));
    // A failed increment on a missing key leaves no key behind.
    assert_eq!(c.cmd(&["HINCRBY", "fresh", "n", "x"]), bad);
    assert_eq!(c.cmd(&["EXISTS", "fresh"]), int(0));
}

#[test]
fn hincrbyfloat() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "f", "0.1"]), bulk("0.1"));
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "f", "0.2"]), bulk("0.3"));
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "g", "5.0e3"]), bulk("5000"));
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "g", "-5000"]), bulk("0"));
    c.cmd(&[
        "HSET", "h", "i", "10", "s", "abc", "sp", "1 ", "big", "1e400",
    ]);
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "i", "1.5"]), bulk("11.5"));
    // long double arithmetic, as Redis.
    assert_eq!(
        c.cmd(&["HINCRBYFLOAT", "h", "p", "123456789.123456789"]),
        bulk("123456789.12345678899873747")
    );
    let r = c.cmd(&["HINCRBYFLOAT", "h", "big", "1"]);
    match r {
        Reply::Bulk(b) => {
            assert_eq!(b.len(), 401);
            assert!(b.starts_with(b"1000000000000000000028188"));
        }
        other => panic!("{other:?}"),
    }
    let not_float = err("ERR hash value is not a float");
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "s", "1"]), not_float);
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "sp", "1"]), not_float);
    let bad = err("ERR value is not a valid float");
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "f", "x"]), bad);
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "f", "nan"]), bad);
    let nan_inf = err("ERR value is NaN or Infinity");
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "f", "inf"]), nan_inf);
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "f", "-inf"]), nan_inf);
    c.cmd(&["HSET", "h", "huge", "1e4932"]);
    assert_eq!(
        c.cmd(&["HINCRBYFLOAT", "h", "huge", "1e4932"]),
        err("ERR increment would produce NaN or Infinity")
    );
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "f"]), arity("hincrbyfloat"));
}

#[test]
fn hrandfield() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["HRANDFIELD", "nokey"]), nil());
    assert_eq!(c.cmd(&["HRANDFIELD", "nokey", "3"]), arr(vec![]));
    assert_eq!(
        c.cmd(&["HRANDFIELD", "nokey", "-3", "WITHVALUES"]),
        arr(vec![])
    );
    let fields: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
    for f in &fields {
        c.cmd(&["HSET", "h", f, &format!("v{}", &f[1..])]);
    }
    assert_eq!(c.cmd(&["HRANDFIELD", "h", "0"]), arr(vec![]));
    assert_eq!(c.cmd(&["HRANDFIELD", "h", "0", "WITHVALUES"]), arr(vec![]));
    let all: HashSet<Vec<u8>> = fields.iter().map(|f| f.as_bytes().to_vec()).collect();
    for big in [false, true] {
        if big {
            c.cmd(&["CONFIG", "SET", "hash-max-listpack-entries", "4"]);
            c.cmd(&["HSET", "h", "extra", "vextra"]);
            assert_eq!(c.cmd(&["HDEL", "h", "extra"]), int(1));
            assert_eq!(encoding(&mut c, "h"), bulk("hashtable"));
        }
        // One field.
        let mut seen = HashSet::new();
        for _ in 0..400 {
            match c.cmd(&["HRANDFIELD", "h"]) {
                Reply::Bulk(f) => {
                    assert!(all.contains(&f));
                    seen.insert(f);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(seen.len(), 20, "every field drawn at some point");
        // Distinct fields, fewer than the hash holds (both selection strategies).
        for n in [3usize, 10, 19] {
            let got = bulks(c.cmd(&["HRANDFIELD", "h", &n.to_string()]));
            assert_eq!(got.len(), n);
            assert_eq!(got.iter().collect::<HashSet<_>>().len(), n);
            assert!(got.iter().all(|f| all.contains(f)));
        }
        // At least the whole hash: every field once.
        let got = bulks(c.cmd(&["HRANDFIELD", "h", "25"]));
        assert_eq!(got.iter().cloned().collect::<HashSet<_>>(), all);
        assert_eq!(got.len(), 20);
        // Negative: repetitions allowed, exactly |count| of them.
        let got = bulks(c.cmd(&["HRANDFIELD", "h", "-50"]));
        assert_eq!(got.len(), 50);
        assert!(got.iter().all(|f| all.contains(f)));
        // WITHVALUES pairs each field with its value.
        for count in ["5", "-30", "30"] {
            let flat = bulks(c.cmd(&["HRANDFIELD", "h", count, "WITHVALUES"]));
            for p in flat.chunks(2) {
                assert_eq!(&p[1][1..], &p[0][1..]);
            }
        }
    }
    let syntax = err("ERR syntax error");
    assert_eq!(c.cmd(&["HRANDFIELD", "h", "1", "foo"]), syntax);
    assert_eq!(c.cmd(&["HRANDFIELD", "h", "1", "WITHVALUES", "x"]), syntax);
    assert_eq!(c.cmd(&["HRANDFIELD", "str", "1", "foo"]), syntax);
    let not_int = err("ERR value is not an integer or out of range");
    assert_eq!(c.cmd(&["HRANDFIELD", "h", "x"]), not_int);
    assert_eq!(c.cmd(&["HRANDFIELD", "h", "x", "foo"]), not_int);
    assert_eq!(
        c.cmd(&["HRANDFIELD", "h", "-9223372036854775808"]),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    let range = err("ERR value is out of range");
    assert_eq!(
        c.cmd(&["HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"]),
        range
    );
    assert_eq!(
        c.cmd(&["HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"]),
        range
    );
    assert_eq!(c.cmd(&["HRANDFIELD"]), arity("hrandfield"));
}

#[test]
fn hscan_small_and_large() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    let empty_scan = arr(vec![bulk("0"), arr(vec![])]);
    assert_eq!(c.cmd(&["HSCAN", "nokey", "0"]), empty_scan);
    // Options are not checked for a missing key, as in Redis.
    assert_eq!(c.cmd(&["HSCAN", "nokey", "0", "COUNT", "0"]), empty_scan);
    c.cmd(&["HSET", "h", "a", "1", "b", "2", "ab", "3"]);
    // Small encodings: everything, cursor 0, whatever COUNT says.
    assert_eq!(
        c.cmd(&["HSCAN", "h", "0", "COUNT", "1"]),
        arr(vec![
            bulk("0"),
            arr(["a", "1", "b", "2", "ab", "3"].map(bulk).to_vec())
        ])
    );
    assert_eq!(
        c.cmd(&["HSCAN", "h", "0", "MATCH", "a*"]),
        arr(vec![
            bulk("0"),
            arr(["a", "1", "ab", "3"].map(bulk).to_vec())
        ])
    );
    let syntax = err("ERR syntax error");
    assert_eq!(c.cmd(&["HSCAN", "h", "0", "COUNT", "0"]), syntax);
    assert_eq!(c.cmd(&["HSCAN", "h", "0", "COUNT", "-1"]), syntax);
    assert_eq!(c.cmd(&["HSCAN", "h", "0", "MATCH"]), syntax);
    assert_eq!(c.cmd(&["HSCAN", "h", "0", "NOVALUES"]), syntax);
    assert_eq!(
        c.cmd(&["HSCAN", "h", "0", "COUNT", "x"]),
        err("ERR value is not an integer or out of range")
    );
    let invalid = err("ERR invalid cursor");
    assert_eq!(c.cmd(&["HSCAN", "h", "x"]), invalid);
    assert_eq!(c.cmd(&["HSCAN", "str", " 0"]), invalid);
    assert_eq!(c.cmd(&["HSCAN", "h"]), arity("hscan"));
    // A large hash: a full iteration reports every field once at least, with its value.
    let mut p = Vec::new();
    for i in 0..3000 {
        p.extend([format!("f{i}"), format!("v{i}")]);
    }
    let mut args = vec!["HSET", "big"];
    args.extend(p.iter().map(String::as_str));
    assert_eq!(c.cmd(&args), int(3000));
    assert_eq!(encoding(&mut c, "big"), bulk("hashtable"));
    let mut seen = HashMap::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let r = c.cmd(&["HSCAN", "big", &cursor, "COUNT", "50"]);
        let Reply::Array(mut parts) = r else { panic!() };
        let items = pairs(parts.pop().unwrap());
        assert!(items.len() <= 200, "COUNT bounds a step: {}", items.len());
        seen.extend(items);
        let Reply::Bulk(next) = parts.pop().unwrap() else {
            panic!()
        };
        cursor = String::from_utf8(next).unwrap();
        calls += 1;
        // Writes between steps never hide a field that stays.
        c.cmd(&["HSET", "big", &format!("new{calls}"), "x"]);
        if cursor == "0" {
            break;
        }
    }
    assert!(calls > 10);
    for i in 0..3000 {
        assert_eq!(seen[format!("f{i}").as_bytes()], format!("v{i}").as_bytes());
    }
    // MATCH on the large encoding.
    let mut matched = HashSet::new();
    let mut cursor = "0".to_string();
    loop {
        let Reply::Array(mut parts) =
            c.cmd(&["HSCAN", "big", &cursor, "MATCH", "f1???", "COUNT", "100"])
        else {
            panic!()
        };
        for (f, _) in pairs(parts.pop().unwrap()) {
            matched.insert(f);
        }
        let Reply::Bulk(next) = parts.pop().unwrap() else {
            panic!()
        };
        cursor = String::from_utf8(next).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(matched.len(), 1000);
}

#[test]
fn encodings_follow_the_thresholds() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["HSET", "h", "a", "1"]);
    assert_eq!(encoding(&mut c, "h"), bulk("listpack"));
    c.cmd(&["CONFIG", "SET", "hash-max-listpack-value", "4"]);
    c.cmd(&["HSET", "h", "b", "1234"]);
    assert_eq!(encoding(&mut c, "h"), bulk("listpack"));
    // HSETNX on an existing field converts nothing.
    assert_eq!(c.cmd(&["HSETNX", "h", "b", "123456"]), int(0));
    assert_eq!(encoding(&mut c, "h"), bulk("listpack"));
    c.cmd(&["HSET", "h", "b", "12345"]);
    assert_eq!(encoding(&mut c, "h"), bulk("hashtable"));
    assert_eq!(c.cmd(&["HGET", "h", "b"]), bulk("12345"));
    // A long field on a new key: created as a hashtable.
    c.cmd(&["HSET", "h2", "longfield", "1"]);
    assert_eq!(encoding(&mut c, "h2"), bulk("hashtable"));
    // An increment whose result is too long converts.
    c.cmd(&["HSET", "h3", "f", "1"]);
    c.cmd(&["HINCRBYFLOAT", "h3", "f", "0.125"]);
    assert_eq!(encoding(&mut c, "h3"), bulk("hashtable"));
    c.cmd(&["CONFIG", "SET", "hash-max-listpack-value", "64"]);
    // Entries: the write that passes the limit converts, never back.
    c.cmd(&["CONFIG", "SET", "hash-max-ziplist-entries", "3"]);
    c.cmd(&["HSET", "e", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(encoding(&mut c, "e"), bulk("listpack"));
    c.cmd(&["HSET", "e", "d", "4"]);
    assert_eq!(encoding(&mut c, "e"), bulk("hashtable"));
    c.cmd(&["HDEL", "e", "a", "b", "c"]);
    assert_eq!(encoding(&mut c, "e"), bulk("hashtable"));
    assert_eq!(c.cmd(&["HGETALL", "e"]), arr(vec![bulk("d"), bulk("4")]));
}

#[test]
fn keyspace_commands_on_hashes() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["CONFIG", "SET", "hash-max-listpack-entries", "8"]);
    for (key, n) in [("small", 3), ("large", 50)] {
        for i in 0..n {
            c.cmd(&["HSET", key, &format!("f{i}"), &format!("{i}")]);
        }
        // RENAME and COPY across shards keep the value (and its encoding).
        for i in 0..8 {
            let dst = format!("{key}-copy{i}");
            assert_eq!(c.cmd(&["COPY", key, &dst]), int(1));
            assert_eq!(c.cmd(&["HLEN", &dst]), int(n));
            assert_eq!(c.cmd(&["HGET", &dst, "f2"]), bulk("2"));
            assert_eq!(encoding(&mut c, &dst), encoding(&mut c, key));
            // The copy is independent of its source.
            c.cmd(&["HSET", &dst, "f2", "changed"]);
            assert_eq!(c.cmd(&["HGET", key, "f2"]), bulk("2"));
            let moved = format!("{key}-moved{i}");
            assert_eq!(c.cmd(&["RENAME", &dst, &moved]), ok());
            assert_eq!(c.cmd(&["HGET", &moved, "f2"]), bulk("changed"));
            assert_eq!(c.cmd(&["EXISTS", &dst]), int(0));
        }
        assert_eq!(c.cmd(&["TYPE", key]), simple("hash"));
        assert_eq!(c.cmd(&["EXPIRE", key, "100"]), int(1));
        c.cmd(&["HSET", key, "more", "x"]);
        assert!(matches!(c.cmd(&["TTL", key]), Reply::Integer(t) if t > 90));
        assert_eq!(c.cmd(&["MOVE", key, "1"]), int(1));
        c.cmd(&["SELECT", "1"]);
        assert_eq!(c.cmd(&["HLEN", key]), int(n + 1));
        c.cmd(&["SELECT", "0"]);
    }
    assert_eq!(c.cmd(&["PEXPIRE", "small-moved0", "1"]), int(1));
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(c.cmd(&["HGET", "small-moved0", "f1"]), nil());
    assert_eq!(c.cmd(&["HSET", "small-moved0", "a", "1"]), int(1));
    assert_eq!(c.cmd(&["HLEN", "small-moved0"]), int(1));
}

#[test]
fn hashes_inside_multi() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["MULTI"]), ok());
    for cmd in [
        &["HSET", "a", "f", "1"][..],
        &["HINCRBY", "b", "f", "2"],
        &["HGETALL", "a"],
        &["HDEL", "a", "f"],
        &["EXISTS", "a"],
    ] {
        assert_eq!(c.cmd(cmd), simple("QUEUED"));
    }
    assert_eq!(
        c.cmd(&["EXEC"]),
        arr(vec![
            int(1),
            int(2),
            arr(vec![bulk("f"), bulk("1")]),
            int(1),
            int(0)
        ])
    );
}
