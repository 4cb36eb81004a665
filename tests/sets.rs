//! Set commands over TCP on 4 shards (so multi-key commands cross shards), replies byte for
//! byte as Redis 7.0 sends them; unordered replies are sorted before comparing.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use damselfly_protocol::Reply;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// The members of an array or set reply, sorted.
fn sorted(r: Reply) -> Vec<Vec<u8>> {
    let items = match r {
        Reply::Array(v) | Reply::Set(v) => v,
        other => panic!("not an aggregate: {other:?}"),
    };
    let mut out: Vec<Vec<u8>> = items
        .into_iter()
        .map(|i| match i {
            Reply::Bulk(b) => b,
            other => panic!("not a bulk: {other:?}"),
        })
        .collect();
    out.sort();
    out
}

fn strs(v: &[&str]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = v.iter().map(|s| s.as_bytes().to_vec()).collect();
    out.sort();
    out
}

fn arity(cmd: &str) -> Reply {
    err(&format!(
        "ERR wrong number of arguments for '{cmd}' command"
    ))
}

#[test]
fn sadd_srem_scard_membership() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["SADD", "s", "a", "b", "a"]), int(2));
    assert_eq!(c.cmd(&["SADD", "s", "b"]), int(0));
    assert_eq!(c.cmd(&["SCARD", "s"]), int(2));
    assert_eq!(c.cmd(&["SCARD", "nokey"]), int(0));
    assert_eq!(c.cmd(&["SISMEMBER", "s", "a"]), int(1));
    assert_eq!(c.cmd(&["SISMEMBER", "s", "z"]), int(0));
    assert_eq!(c.cmd(&["SISMEMBER", "nokey", "z"]), int(0));
    assert_eq!(
        c.cmd(&["SMISMEMBER", "s", "a", "z", "b"]),
        arr(vec![int(1), int(0), int(1)])
    );
    assert_eq!(
        c.cmd(&["SMISMEMBER", "nokey", "a", "b"]),
        arr(vec![int(0), int(0)])
    );
    assert_eq!(sorted(c.cmd(&["SMEMBERS", "s"])), strs(&["a", "b"]));
    assert_eq!(c.cmd(&["SMEMBERS", "nokey"]), arr(vec![]));
    assert_eq!(c.cmd(&["SREM", "s", "a", "zz"]), int(1));
    assert_eq!(c.cmd(&["SREM", "s", "zz"]), int(0));
    assert_eq!(c.cmd(&["SREM", "nokey", "zz"]), int(0));
    assert_eq!(c.cmd(&["SREM", "s", "b"]), int(1));
    assert_eq!(c.cmd(&["EXISTS", "s"]), int(0), "an emptied set is deleted");
    assert_eq!(c.cmd(&["TYPE", "nokey"]), simple("none"));
    c.cmd(&["SADD", "s", "x"]);
    assert_eq!(c.cmd(&["TYPE", "s"]), simple("set"));

    assert_eq!(c.cmd(&["SADD", "s"]), arity("sadd"));
    assert_eq!(c.cmd(&["SREM", "s"]), arity("srem"));
    assert_eq!(c.cmd(&["SCARD"]), arity("scard"));
    assert_eq!(c.cmd(&["SISMEMBER", "s"]), arity("sismember"));
    assert_eq!(c.cmd(&["SMISMEMBER", "s"]), arity("smismember"));
    assert_eq!(c.cmd(&["SMEMBERS"]), arity("smembers"));

    c.cmd(&["SET", "str", "x"]);
    for cmd in [
        &["SADD", "str", "a"][..],
        &["SREM", "str", "a"],
        &["SCARD", "str"],
        &["SISMEMBER", "str", "a"],
        &["SMISMEMBER", "str", "a"],
        &["SMEMBERS", "str"],
        &["SPOP", "str"],
        &["SPOP", "str", "0"],
        &["SRANDMEMBER", "str"],
        &["SRANDMEMBER", "str", "2"],
        &["SSCAN", "str", "0"],
    ] {
        assert_eq!(c.cmd(cmd), err(WRONGTYPE), "{cmd:?}");
    }
}

#[test]
fn encodings_and_conversions() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    let enc = |c: &mut Client, k: &str| c.cmd(&["OBJECT", "ENCODING", k]);
    c.cmd(&["SADD", "i", "1", "2", "-3"]);
    assert_eq!(enc(&mut c, "i"), bulk("intset"));
    c.cmd(&["SADD", "i", "a"]);
    assert_eq!(enc(&mut c, "i"), bulk("listpack"));
    c.cmd(&["SADD", "big", "213244124402402314402033402"]);
    assert_eq!(enc(&mut c, "big"), bulk("listpack"));
    let ints: Vec<String> = (0..512).map(|i| i.to_string()).collect();
    let mut cmd = vec!["SADD", "many"];
    cmd.extend(ints.iter().map(|s| s.as_str()));
    assert_eq!(c.cmd(&cmd), int(512));
    assert_eq!(enc(&mut c, "many"), bulk("intset"));
    c.cmd(&["SADD", "many", "512"]);
    assert_eq!(enc(&mut c, "many"), bulk("hashtable"));
    assert_eq!(c.cmd(&["SCARD", "many"]), int(513));
    // listpack up to 128 members of up to 64 bytes.
    let strs_: Vec<String> = (0..128).map(|i| format!("m{i}")).collect();
    let mut cmd = vec!["SADD", "lp"];
    cmd.extend(strs_.iter().map(|s| s.as_str()));
    c.cmd(&cmd);
    assert_eq!(enc(&mut c, "lp"), bulk("listpack"));
    c.cmd(&["SADD", "lp", "one-more"]);
    assert_eq!(enc(&mut c, "lp"), bulk("hashtable"));
    c.cmd(&["SADD", "long", &"x".repeat(65)]);
    assert_eq!(enc(&mut c, "long"), bulk("hashtable"));
    // CONFIG SET applies to the next write; set-max-listpack-entries 0 gives Redis 7.0's
    // encodings (small string sets are hashtables).
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "set-max-listpack-entries", "0"]),
        ok()
    );
    c.cmd(&["SADD", "h", "a"]);
    assert_eq!(enc(&mut c, "h"), bulk("hashtable"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "set-max-intset-entries", "2"]),
        ok()
    );
    c.cmd(&["SADD", "i2", "1", "2"]);
    assert_eq!(enc(&mut c, "i2"), bulk("intset"));
    c.cmd(&["SADD", "i2", "3"]);
    assert_eq!(enc(&mut c, "i2"), bulk("hashtable"));
    assert_eq!(sorted(c.cmd(&["SMEMBERS", "i2"])), strs(&["1", "2", "3"]));
}

#[test]
fn resp3_set_replies() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["HELLO", "3"]);
    c.cmd(&["SADD", "s", "1", "2"]);
    c.cmd(&["SADD", "t", "2", "3"]);
    assert_eq!(
        c.cmd_raw(&["SMEMBERS", "s"]),
        b"~2\r\n$1\r\n1\r\n$1\r\n2\r\n".to_vec()
    );
    assert_eq!(c.cmd_raw(&["SMEMBERS", "nokey"]), b"~0\r\n".to_vec());
    assert_eq!(
        c.cmd_raw(&["SINTER", "s", "t"]),
        b"~1\r\n$1\r\n2\r\n".to_vec()
    );
    assert_eq!(c.cmd_raw(&["SINTER", "nokey", "t"]), b"~0\r\n".to_vec());
    assert_eq!(
        c.cmd_raw(&["SDIFF", "s", "t"]),
        b"~1\r\n$1\r\n1\r\n".to_vec()
    );
    assert!(matches!(c.cmd(&["SUNION", "s", "t"]), Reply::Set(v) if v.len() == 3));
    assert_eq!(c.cmd_raw(&["SPOP", "nokey"]), b"_\r\n".to_vec());
    assert_eq!(c.cmd_raw(&["SPOP", "nokey", "2"]), b"~0\r\n".to_vec());
    assert_eq!(c.cmd_raw(&["SPOP", "s", "0"]), b"~0\r\n".to_vec());
    assert_eq!(c.cmd_raw(&["SRANDMEMBER", "nokey"]), b"_\r\n".to_vec());
    assert_eq!(
        c.cmd_raw(&["SRANDMEMBER", "nokey", "3"]),
        b"*0\r\n".to_vec()
    );
    assert!(matches!(c.cmd(&["SRANDMEMBER", "s", "-3"]), Reply::Array(v) if v.len() == 3));
    assert!(matches!(c.cmd(&["SPOP", "t", "1"]), Reply::Set(v) if v.len() == 1));
    assert_eq!(
        c.cmd_raw(&["SSCAN", "s", "0"]),
        b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\n1\r\n$1\r\n2\r\n".to_vec()
    );
}

#[test]
fn spop_and_srandmember() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    for (key, members) in [
        ("ints", (0..20).map(|i| i.to_string()).collect::<Vec<_>>()),
        ("strs", (0..20).map(|i| format!("s{i}")).collect()),
        ("large", (0..1000).map(|i| format!("m{i}")).collect()),
    ] {
        let mut cmd = vec!["SADD", key];
        cmd.extend(members.iter().map(|s| s.as_str()));
        c.cmd(&cmd);
        let all: Vec<Vec<u8>> = {
            let mut v: Vec<Vec<u8>> = members.iter().map(|m| m.as_bytes().to_vec()).collect();
            v.sort();
            v
        };
        let n = members.len();
        // SRANDMEMBER: distinct for positive counts, repeats for negative.
        let got = sorted(c.cmd(&["SRANDMEMBER", key, "5"]));
        assert_eq!(got.len(), 5);
        assert!(got.windows(2).all(|w| w[0] != w[1]));
        assert!(got.iter().all(|m| all.binary_search(m).is_ok()));
        let got = sorted(c.cmd(&["SRANDMEMBER", key, &(n * 2 / 3).to_string()]));
        assert_eq!(got.len(), n * 2 / 3);
        assert!(got.windows(2).all(|w| w[0] != w[1]));
        assert_eq!(sorted(c.cmd(&["SRANDMEMBER", key, "100000"])), all);
        let got = sorted(c.cmd(&["SRANDMEMBER", key, "-50"]));
        assert_eq!(got.len(), 50);
        assert!(got.iter().all(|m| all.binary_search(m).is_ok()));
        assert_eq!(c.cmd(&["SRANDMEMBER", key, "0"]), arr(vec![]));
        match c.cmd(&["SRANDMEMBER", key]) {
            Reply::Bulk(m) => assert!(all.binary_search(&m).is_ok()),
            other => panic!("{other:?}"),
        }
        // SPOP: popped members leave the set; popping the rest deletes the key.
        let mut popped = sorted(c.cmd(&["SPOP", key, "3"]));
        assert_eq!(popped.len(), 3);
        match c.cmd(&["SPOP", key]) {
            Reply::Bulk(m) => popped.push(m),
            other => panic!("{other:?}"),
        }
        assert_eq!(c.cmd(&["SCARD", key]), int(n as i64 - 4));
        popped.extend(sorted(c.cmd(&["SPOP", key, "1000000"])));
        popped.sort();
        assert_eq!(popped, all);
        assert_eq!(c.cmd(&["EXISTS", key]), int(0));
    }
    assert_eq!(c.cmd(&["SPOP", "nokey"]), nil());
    assert_eq!(c.cmd(&["SPOP", "nokey", "3"]), arr(vec![]));
    assert_eq!(c.cmd(&["SRANDMEMBER", "nokey"]), nil());
    assert_eq!(c.cmd(&["SRANDMEMBER", "nokey", "-3"]), arr(vec![]));
    c.cmd(&["SADD", "s", "a"]);
    let positive = err("ERR value is out of range, must be positive");
    assert_eq!(c.cmd(&["SPOP", "s", "-1"]), positive);
    assert_eq!(c.cmd(&["SPOP", "s", "abc"]), positive);
    assert_eq!(c.cmd(&["SPOP", "s", "1", "2"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["SPOP"]), arity("spop"));
    assert_eq!(
        c.cmd(&["SRANDMEMBER", "s", "abc"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["SRANDMEMBER", "s", "-9223372036854775808"]),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(
        c.cmd(&["SRANDMEMBER", "s", "1", "2"]),
        err("ERR syntax error")
    );
    assert_eq!(c.cmd(&["SRANDMEMBER"]), arity("srandmember"));
}

#[test]
fn smove_within_and_across_shards() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    // Many destinations so some land on the source's shard and some do not.
    for i in 0..16 {
        let (src, dst) = (format!("src{i}"), format!("dst{i}"));
        c.cmd(&["SADD", &src, "a", "1"]);
        assert_eq!(c.cmd(&["SMOVE", &src, &dst, "a"]), int(1));
        assert_eq!(c.cmd(&["SMOVE", &src, &dst, "zz"]), int(0));
        assert_eq!(c.cmd(&["SISMEMBER", &dst, "a"]), int(1));
        assert_eq!(c.cmd(&["SMOVE", &src, &dst, "1"]), int(1));
        assert_eq!(c.cmd(&["EXISTS", &src]), int(0), "emptied source deleted");
        assert_eq!(sorted(c.cmd(&["SMEMBERS", &dst])), strs(&["1", "a"]));
        assert_eq!(c.cmd(&["SMOVE", &src, &dst, "1"]), int(0));
        c.cmd(&["SET", &src, "x"]);
        assert_eq!(c.cmd(&["SMOVE", &src, &dst, "a"]), err(WRONGTYPE));
        assert_eq!(c.cmd(&["SMOVE", &dst, &src, "a"]), err(WRONGTYPE));
        assert_eq!(c.cmd(&["SISMEMBER", &dst, "a"]), int(1), "untouched");
        assert_eq!(c.cmd(&["SMOVE", "nokey", &src, "a"]), int(0));
    }
    c.cmd(&["SADD", "same", "a"]);
    assert_eq!(c.cmd(&["SMOVE", "same", "same", "a"]), int(1));
    assert_eq!(c.cmd(&["SMOVE", "same", "same", "b"]), int(0));
    assert_eq!(c.cmd(&["SMOVE", "same", "x"]), arity("smove"));
}

#[test]
fn algebra_across_shards() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["SADD", "a", "1", "2", "3", "x", "y"]);
    c.cmd(&["SADD", "b", "2", "3", "4", "y"]);
    c.cmd(&["SADD", "c", "3", "y", "z"]);
    c.cmd(&["SET", "str", "v"]);
    assert_eq!(sorted(c.cmd(&["SINTER", "a", "b", "c"])), strs(&["3", "y"]));
    assert_eq!(
        sorted(c.cmd(&["SINTER", "a"])),
        strs(&["1", "2", "3", "x", "y"])
    );
    assert_eq!(c.cmd(&["SINTER", "a", "nokey"]), arr(vec![]));
    assert_eq!(
        sorted(c.cmd(&["SUNION", "a", "b", "c", "nokey"])),
        strs(&["1", "2", "3", "4", "x", "y", "z"])
    );
    assert_eq!(sorted(c.cmd(&["SDIFF", "a", "b", "c"])), strs(&["1", "x"]));
    assert_eq!(
        sorted(c.cmd(&["SDIFF", "a", "nokey"])),
        strs(&["1", "2", "3", "x", "y"])
    );
    assert_eq!(c.cmd(&["SDIFF", "nokey", "a"]), arr(vec![]));
    assert_eq!(c.cmd(&["SDIFF", "a", "a"]), arr(vec![]));
    for cmd in ["SINTER", "SUNION", "SDIFF"] {
        assert_eq!(c.cmd(&[cmd, "nokey", "str"]), err(WRONGTYPE));
        assert_eq!(c.cmd(&[cmd, "a", "str"]), err(WRONGTYPE));
        assert_eq!(c.cmd(&[cmd]), arity(&cmd.to_lowercase()));
    }
    // STORE variants, destinations on every shard; an empty result deletes the destination.
    for i in 0..12 {
        let d = format!("dst{i}");
        assert_eq!(c.cmd(&["SINTERSTORE", &d, "a", "b", "c"]), int(2));
        assert_eq!(sorted(c.cmd(&["SMEMBERS", &d])), strs(&["3", "y"]));
        assert_eq!(c.cmd(&["SUNIONSTORE", &d, "a", "c"]), int(6));
        assert_eq!(c.cmd(&["SCARD", &d]), int(6));
        assert_eq!(c.cmd(&["SDIFFSTORE", &d, "a", "b"]), int(2));
        assert_eq!(sorted(c.cmd(&["SMEMBERS", &d])), strs(&["1", "x"]));
        // The destination may be a source.
        assert_eq!(c.cmd(&["SUNIONSTORE", &d, &d, "c"]), int(5));
        assert_eq!(c.cmd(&["SINTERSTORE", &d, &d, "a"]), int(4));
        c.cmd(&["EXPIRE", &d, "100"]);
        assert_eq!(c.cmd(&["SDIFFSTORE", &d, "a", "a"]), int(0));
        assert_eq!(c.cmd(&["EXISTS", &d]), int(0));
        c.cmd(&["SET", &d, "string"]);
        assert_eq!(c.cmd(&["SINTERSTORE", &d, "a", "nokey"]), int(0));
        assert_eq!(c.cmd(&["EXISTS", &d]), int(0));
        c.cmd(&["SET", &d, "string"]);
        assert_eq!(c.cmd(&["SUNIONSTORE", &d, "a"]), int(5));
        assert_eq!(c.cmd(&["TYPE", &d]), simple("set"));
        assert_eq!(c.cmd(&["TTL", &d]), int(-1));
        assert_eq!(c.cmd(&["SINTERSTORE", &d, "a", "str"]), err(WRONGTYPE));
        assert_eq!(c.cmd(&["SCARD", &d]), int(5), "untouched on error");
    }
    c.cmd(&["SADD", "ints1", "1", "2", "3"]);
    c.cmd(&["SADD", "ints2", "2", "3", "4"]);
    c.cmd(&["SINTERSTORE", "ires", "ints1", "ints2"]);
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "ires"]), bulk("intset"));
    assert_eq!(c.cmd(&["SINTERSTORE", "d"]), arity("sinterstore"));
    assert_eq!(c.cmd(&["SUNIONSTORE", "d"]), arity("sunionstore"));
    assert_eq!(c.cmd(&["SDIFFSTORE", "d"]), arity("sdiffstore"));
}

#[test]
fn sintercard() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["SADD", "a", "1", "2", "3", "x", "y"]);
    c.cmd(&["SADD", "b", "2", "3", "4", "y"]);
    c.cmd(&["SET", "str", "v"]);
    assert_eq!(c.cmd(&["SINTERCARD", "2", "a", "b"]), int(3));
    assert_eq!(c.cmd(&["SINTERCARD", "2", "a", "b", "LIMIT", "0"]), int(3));
    assert_eq!(c.cmd(&["SINTERCARD", "2", "a", "b", "limit", "2"]), int(2));
    assert_eq!(c.cmd(&["SINTERCARD", "2", "a", "b", "LIMIT", "10"]), int(3));
    assert_eq!(c.cmd(&["SINTERCARD", "1", "a"]), int(5));
    assert_eq!(c.cmd(&["SINTERCARD", "1", "nokey"]), int(0));
    assert_eq!(c.cmd(&["SINTERCARD", "2", "nokey", "str"]), err(WRONGTYPE));
    assert_eq!(
        c.cmd(&["SINTERCARD", "1", "nokey", "str"]),
        err("ERR syntax error")
    );
    let numkeys = err("ERR numkeys should be greater than 0");
    assert_eq!(c.cmd(&["SINTERCARD", "0", "a"]), numkeys);
    assert_eq!(c.cmd(&["SINTERCARD", "-1", "a"]), numkeys);
    assert_eq!(c.cmd(&["SINTERCARD", "abc", "a"]), numkeys);
    assert_eq!(
        c.cmd(&["SINTERCARD", "3", "a", "b"]),
        err("ERR Number of keys can't be greater than number of args")
    );
    let negative = err("ERR LIMIT can't be negative");
    assert_eq!(c.cmd(&["SINTERCARD", "1", "a", "LIMIT", "-1"]), negative);
    assert_eq!(c.cmd(&["SINTERCARD", "1", "a", "LIMIT", "x"]), negative);
    assert_eq!(
        c.cmd(&["SINTERCARD", "1", "a", "LIMIT"]),
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["SINTERCARD", "1", "a", "FOO", "1"]),
        err("ERR syntax error")
    );
    assert_eq!(c.cmd(&["SINTERCARD", "1"]), arity("sintercard"));
}

#[test]
fn sscan() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["SADD", "small", "a", "b", "c1", "c2"]);
    let scan = |c: &mut Client, args: &[&str]| match c.cmd(args) {
        Reply::Array(mut v) => {
            let items = v.pop().unwrap();
            let cursor = match v.pop().unwrap() {
                Reply::Bulk(b) => String::from_utf8(b).unwrap(),
                other => panic!("{other:?}"),
            };
            (cursor, sorted(items))
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        scan(&mut c, &["SSCAN", "small", "0"]),
        ("0".into(), strs(&["a", "b", "c1", "c2"]))
    );
    assert_eq!(
        scan(
            &mut c,
            &["SSCAN", "small", "0", "MATCH", "c*", "COUNT", "1"]
        ),
        ("0".into(), strs(&["c1", "c2"]))
    );
    assert_eq!(scan(&mut c, &["SSCAN", "nokey", "0"]), ("0".into(), vec![]));
    // A large set: a full iteration returns every member at least once.
    let members: Vec<String> = (0..1000).map(|i| format!("m{i}")).collect();
    let mut cmd = vec!["SADD", "large"];
    cmd.extend(members.iter().map(|s| s.as_str()));
    c.cmd(&cmd);
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = "0".to_string();
    let mut steps = 0;
    loop {
        let (next, items) = scan(&mut c, &["SSCAN", "large", &cursor, "COUNT", "50"]);
        seen.extend(items);
        steps += 1;
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert!(steps > 5, "a large set is scanned in steps");
    assert_eq!(seen.len(), 1000);
    let (_, items) = scan(
        &mut c,
        &["SSCAN", "large", "0", "MATCH", "m99*", "COUNT", "100000"],
    );
    assert_eq!(items.len(), 11);
    assert_eq!(c.cmd(&["SSCAN", "small", "abc"]), err("ERR invalid cursor"));
    assert_eq!(
        c.cmd(&["SSCAN", "small", "0", "COUNT", "0"]),
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["SSCAN", "small", "0", "COUNT", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["SSCAN", "small", "0", "MATCH"]),
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["SSCAN", "small", "0", "FOO", "bar"]),
        err("ERR syntax error")
    );
    assert_eq!(c.cmd(&["SSCAN", "small"]), arity("sscan"));
}

#[test]
fn keyspace_commands_on_sets() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["SADD", "s", "a", "b", "1"]);
    for i in 0..8 {
        let d = format!("copy{i}");
        assert_eq!(c.cmd(&["COPY", "s", &d]), int(1));
        assert_eq!(sorted(c.cmd(&["SMEMBERS", &d])), strs(&["1", "a", "b"]));
        c.cmd(&["SADD", &d, "only-in-copy"]);
        assert_eq!(c.cmd(&["SISMEMBER", "s", "only-in-copy"]), int(0));
        let r = format!("renamed{i}");
        assert_eq!(c.cmd(&["RENAME", &d, &r]), ok());
        assert_eq!(c.cmd(&["SCARD", &r]), int(4));
    }
    c.cmd(&["EXPIRE", "s", "100"]);
    assert_eq!(c.cmd(&["SADD", "s", "c"]), int(1));
    assert!(matches!(c.cmd(&["TTL", "s"]), Reply::Integer(t) if t > 0));
    assert_eq!(c.cmd(&["DEL", "s"]), int(1));
    assert_eq!(c.cmd(&["SCARD", "s"]), int(0));
}

#[test]
fn transactions_over_sets() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    c.cmd(&["SADD", "a", "1", "2"]);
    c.cmd(&["SADD", "b", "2", "3"]);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    for cmd in [
        &["SINTERSTORE", "d1", "a", "b"][..],
        &["SUNIONSTORE", "d2", "a", "b"],
        &["SMOVE", "a", "b", "1"],
        &["SCARD", "b"],
        &["SINTERCARD", "2", "a", "b", "LIMIT", "5"],
    ] {
        assert_eq!(c.cmd(cmd), simple("QUEUED"));
    }
    assert_eq!(
        c.cmd(&["EXEC"]),
        arr(vec![int(1), int(3), int(1), int(3), int(1)])
    );
    // WATCH sees a real change, not an SADD of a present member.
    c.cmd(&["WATCH", "a"]);
    c.cmd(&["SADD", "a", "2"]);
    c.cmd(&["MULTI"]);
    c.cmd(&["SCARD", "a"]);
    assert_eq!(c.cmd(&["EXEC"]), arr(vec![int(1)]));
    // Pipelined commands on mixed shards.
    let mut batch = Vec::new();
    for i in 0..50 {
        let k = format!("p{}", i % 7);
        batch.extend(Client::encode(&[
            b"SADD",
            k.as_bytes(),
            i.to_string().as_bytes(),
        ]));
        batch.extend(Client::encode(&[
            b"SUNIONSTORE",
            b"pu",
            b"p0",
            b"p1",
            b"p2",
        ]));
        batch.extend(Client::encode(&[b"SINTERCARD", b"2", b"p0", b"pu"]));
        batch.extend(Client::encode(&[b"SINTER", b"p3", b"pu"]));
        batch.extend(Client::encode(&[b"SMOVE", b"p4", b"p5", b"4"]));
    }
    c.send_raw(&batch);
    for _ in 0..250 {
        assert!(!c.read_reply().is_error());
    }
    assert_eq!(c.cmd(&["SCARD", "pu"]), int(22));
    assert_eq!(c.cmd(&["SISMEMBER", "p5", "4"]), int(1));
}
