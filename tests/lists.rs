//! List commands over TCP, replies byte for byte as Redis 7.0 sends them, keys spread over 4
//! shards so LMOVE, RPOPLPUSH and LMPOP cross shards.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use damselfly_protocol::Reply;

fn bulks(v: &[&str]) -> Reply {
    arr(v.iter().map(|s| bulk(s)).collect())
}

fn ints(v: &[i64]) -> Reply {
    arr(v.iter().map(|&i| int(i)).collect())
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INT: &str = "ERR value is not an integer or out of range";

#[test]
fn push_pop_len_range() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["RPUSH", "l", "a", "b", "c"]), int(3));
    assert_eq!(c.cmd(&["LPUSH", "l", "x", "y"]), int(5));
    assert_eq!(
        c.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["y", "x", "a", "b", "c"])
    );
    assert_eq!(c.cmd(&["LRANGE", "l", "-2", "100"]), bulks(&["b", "c"]));
    assert_eq!(c.cmd(&["LRANGE", "l", "3", "1"]), arr(vec![]));
    assert_eq!(c.cmd(&["LRANGE", "l", "-100", "0"]), bulks(&["y"]));
    assert_eq!(c.cmd(&["LRANGE", "nokey", "0", "-1"]), arr(vec![]));
    assert_eq!(c.cmd(&["LRANGE", "l", "x", "1"]), err(NOT_INT));
    assert_eq!(c.cmd(&["LLEN", "l"]), int(5));
    assert_eq!(c.cmd(&["LLEN", "nokey"]), int(0));
    assert_eq!(c.cmd(&["LPUSHX", "nokey", "a"]), int(0));
    assert_eq!(c.cmd(&["EXISTS", "nokey"]), int(0));
    assert_eq!(c.cmd(&["RPUSHX", "l", "d", "e"]), int(7));
    assert_eq!(c.cmd(&["LPUSHX", "l", "z"]), int(8));
    assert_eq!(c.cmd(&["LPOP", "l"]), bulk("z"));
    assert_eq!(c.cmd(&["RPOP", "l"]), bulk("e"));
    assert_eq!(c.cmd(&["LPOP", "l", "2"]), bulks(&["y", "x"]));
    assert_eq!(c.cmd(&["RPOP", "l", "2"]), bulks(&["d", "c"]));
    assert_eq!(c.cmd(&["LPOP", "l", "0"]), arr(vec![]));
    assert_eq!(c.cmd(&["RPOP", "l", "10"]), bulks(&["b", "a"]));
    assert_eq!(c.cmd(&["EXISTS", "l"]), int(0));
    assert_eq!(c.cmd(&["LPOP", "l"]), nil());
    assert_eq!(c.cmd(&["LPOP", "l", "0"]), Reply::NullArray);
    assert_eq!(c.cmd(&["RPOP", "l", "3"]), Reply::NullArray);
    let positive = err("ERR value is out of range, must be positive");
    assert_eq!(c.cmd(&["LPOP", "l", "-1"]), positive);
    assert_eq!(c.cmd(&["LPOP", "l", "abc"]), positive);
    assert_eq!(
        c.cmd(&["LPOP", "l", "1", "2"]),
        err("ERR wrong number of arguments for 'lpop' command")
    );
    assert_eq!(
        c.cmd(&["RPUSH", "l"]),
        err("ERR wrong number of arguments for 'rpush' command")
    );
    // Integers and strings alike come back as bulk strings.
    let n = ["1", "-5", "007", "9223372036854775807"];
    assert_eq!(c.cmd(&["RPUSH", "n", n[0], n[1], n[2], n[3]]), int(4));
    assert_eq!(c.cmd(&["LRANGE", "n", "0", "-1"]), bulks(&n));
    assert_eq!(c.cmd(&["TYPE", "n"]), simple("list"));
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "n"]), bulk("quicklist"));
    s.shutdown();
}

#[test]
fn wrong_type_everywhere() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["SET", "s", "x"]), ok());
    assert_eq!(c.cmd(&["RPUSH", "l", "a"]), int(1));
    let wrong: &[&[&str]] = &[
        &["LPUSH", "s", "a"],
        &["RPUSH", "s", "a"],
        &["LPUSHX", "s", "a"],
        &["RPUSHX", "s", "a"],
        &["LPOP", "s"],
        &["RPOP", "s", "2"],
        &["LLEN", "s"],
        &["LRANGE", "s", "0", "-1"],
        &["LINDEX", "s", "0"],
        &["LINDEX", "s", "x"],
        &["LSET", "s", "0", "a"],
        &["LSET", "s", "x", "a"],
        &["LINSERT", "s", "BEFORE", "a", "b"],
        &["LREM", "s", "0", "a"],
        &["LTRIM", "s", "0", "1"],
        &["LPOS", "s", "a"],
        &["LMOVE", "s", "l", "LEFT", "LEFT"],
        &["LMOVE", "l", "s", "LEFT", "LEFT"],
        &["RPOPLPUSH", "s", "l"],
        &["RPOPLPUSH", "l", "s"],
        &["LMPOP", "2", "s", "l", "LEFT"],
    ];
    for w in wrong {
        assert_eq!(c.cmd(w), err(WRONGTYPE), "{w:?}");
    }
    // Nothing moved when the destination had the wrong type.
    assert_eq!(c.cmd(&["LRANGE", "l", "0", "-1"]), bulks(&["a"]));
    // A missing source answers nil before the destination's type is looked at.
    assert_eq!(c.cmd(&["LMOVE", "nokey", "s", "LEFT", "LEFT"]), nil());
    // LMPOP: the first existing key decides.
    assert_eq!(
        c.cmd(&["LMPOP", "3", "nokey", "l", "s", "LEFT"]),
        arr(vec![bulk("l"), bulks(&["a"])])
    );
    s.shutdown();
}

#[test]
fn index_set_insert() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["RPUSH", "l", "a", "b", "c"]), int(3));
    assert_eq!(c.cmd(&["LINDEX", "l", "0"]), bulk("a"));
    assert_eq!(c.cmd(&["LINDEX", "l", "-1"]), bulk("c"));
    assert_eq!(c.cmd(&["LINDEX", "l", "3"]), nil());
    assert_eq!(c.cmd(&["LINDEX", "l", "-4"]), nil());
    assert_eq!(c.cmd(&["LINDEX", "l", "x"]), err(NOT_INT));
    assert_eq!(c.cmd(&["LINDEX", "nokey", "x"]), nil());
    assert_eq!(c.cmd(&["LSET", "l", "1", "B"]), ok());
    assert_eq!(c.cmd(&["LSET", "l", "-1", "12345"]), ok());
    assert_eq!(
        c.cmd(&["LSET", "l", "3", "x"]),
        err("ERR index out of range")
    );
    assert_eq!(c.cmd(&["LSET", "l", "x", "x"]), err(NOT_INT));
    assert_eq!(c.cmd(&["LSET", "nokey", "x", "x"]), err("ERR no such key"));
    assert_eq!(
        c.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["a", "B", "12345"])
    );
    assert_eq!(c.cmd(&["LINSERT", "l", "BEFORE", "B", "b0"]), int(4));
    assert_eq!(c.cmd(&["LINSERT", "l", "after", "12345", "end"]), int(5));
    assert_eq!(c.cmd(&["LINSERT", "l", "AFTER", "nope", "x"]), int(-1));
    assert_eq!(c.cmd(&["LINSERT", "nokey", "AFTER", "a", "x"]), int(0));
    let syntax = err("ERR syntax error");
    assert_eq!(c.cmd(&["LINSERT", "l", "MIDDLE", "a", "x"]), syntax);
    assert_eq!(c.cmd(&["LINSERT", "nokey", "MIDDLE", "a", "x"]), syntax);
    assert_eq!(
        c.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["a", "b0", "B", "12345", "end"])
    );
    s.shutdown();
}

#[test]
fn rem_trim() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["RPUSH", "l", "a", "b", "a", "c", "a", "b"]), int(6));
    assert_eq!(c.cmd(&["LREM", "l", "1", "a"]), int(1));
    assert_eq!(
        c.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["b", "a", "c", "a", "b"])
    );
    assert_eq!(c.cmd(&["LREM", "l", "-1", "b"]), int(1));
    assert_eq!(
        c.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["b", "a", "c", "a"])
    );
    assert_eq!(c.cmd(&["LREM", "l", "0", "a"]), int(2));
    assert_eq!(c.cmd(&["LREM", "l", "0", "zz"]), int(0));
    assert_eq!(c.cmd(&["LREM", "nokey", "0", "a"]), int(0));
    assert_eq!(c.cmd(&["LREM", "l", "x", "a"]), err(NOT_INT));
    assert_eq!(c.cmd(&["LREM", "l", "0", "b"]), int(1));
    assert_eq!(c.cmd(&["LREM", "l", "0", "c"]), int(1));
    assert_eq!(c.cmd(&["EXISTS", "l"]), int(0));
    assert_eq!(c.cmd(&["RPUSH", "t", "1", "2", "3", "4", "5"]), int(5));
    assert_eq!(c.cmd(&["LTRIM", "t", "1", "-2"]), ok());
    assert_eq!(c.cmd(&["LRANGE", "t", "0", "-1"]), bulks(&["2", "3", "4"]));
    assert_eq!(c.cmd(&["LTRIM", "t", "-100", "100"]), ok());
    assert_eq!(c.cmd(&["LLEN", "t"]), int(3));
    assert_eq!(c.cmd(&["LTRIM", "t", "x", "1"]), err(NOT_INT));
    assert_eq!(c.cmd(&["LTRIM", "nokey", "0", "1"]), ok());
    assert_eq!(c.cmd(&["LTRIM", "t", "2", "1"]), ok());
    assert_eq!(c.cmd(&["EXISTS", "t"]), int(0));
    s.shutdown();
}

#[test]
fn lpos_options_and_errors() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    let elems = ["a", "b", "c", "1", "2", "3", "c", "c"];
    let mut push = vec!["RPUSH", "l"];
    push.extend(elems);
    assert_eq!(c.cmd(&push), int(8));
    assert_eq!(c.cmd(&["LPOS", "l", "c"]), int(2));
    assert_eq!(c.cmd(&["LPOS", "l", "c", "RANK", "2"]), int(6));
    assert_eq!(c.cmd(&["LPOS", "l", "c", "RANK", "-1"]), int(7));
    assert_eq!(c.cmd(&["LPOS", "l", "c", "RANK", "4"]), nil());
    assert_eq!(c.cmd(&["LPOS", "l", "c", "COUNT", "0"]), ints(&[2, 6, 7]));
    assert_eq!(c.cmd(&["LPOS", "l", "c", "COUNT", "2"]), ints(&[2, 6]));
    let back = ["LPOS", "l", "c", "COUNT", "0", "RANK", "-2"];
    assert_eq!(c.cmd(&back), ints(&[6, 2]));
    let capped = ["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "7"];
    assert_eq!(c.cmd(&capped), ints(&[2, 6]));
    assert_eq!(c.cmd(&["LPOS", "l", "2", "MAXLEN", "4"]), nil());
    assert_eq!(c.cmd(&["LPOS", "l", "2"]), int(4));
    assert_eq!(c.cmd(&["LPOS", "l", "zz", "COUNT", "1"]), arr(vec![]));
    assert_eq!(c.cmd(&["LPOS", "nokey", "a"]), nil());
    assert_eq!(c.cmd(&["LPOS", "nokey", "a", "COUNT", "0"]), arr(vec![]));
    let min = ["LPOS", "l", "a", "RANK", "-9223372036854775808"];
    assert_eq!(c.cmd(&min), int(0));
    let rank_zero = err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
    assert_eq!(c.cmd(&["LPOS", "l", "a", "RANK", "0"]), rank_zero);
    // Options are parsed before the key is looked up.
    assert_eq!(c.cmd(&["LPOS", "nokey", "a", "RANK", "0"]), rank_zero);
    assert_eq!(c.cmd(&["LPOS", "l", "a", "RANK", "x"]), err(NOT_INT));
    let count_neg = err("ERR COUNT can't be negative");
    assert_eq!(c.cmd(&["LPOS", "l", "a", "COUNT", "-1"]), count_neg);
    assert_eq!(c.cmd(&["LPOS", "l", "a", "COUNT", "x"]), count_neg);
    let maxlen_neg = err("ERR MAXLEN can't be negative");
    assert_eq!(c.cmd(&["LPOS", "l", "a", "MAXLEN", "-1"]), maxlen_neg);
    assert_eq!(c.cmd(&["LPOS", "l", "a", "RANK"]), err("ERR syntax error"));
    assert_eq!(
        c.cmd(&["LPOS", "l", "a", "FOO", "1"]),
        err("ERR syntax error")
    );
    s.shutdown();
}

#[test]
fn lmove_and_rpoplpush_across_shards() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    // Twelve pairs: most cross shards of a 4-shard server, some share one.
    for i in 0..12 {
        let (src, dst) = (format!("src{i}"), format!("dst{i}"));
        assert_eq!(c.cmd(&["RPUSH", &src, "a", "b", "c"]), int(3));
        assert_eq!(c.cmd(&["LMOVE", &src, &dst, "LEFT", "RIGHT"]), bulk("a"));
        assert_eq!(c.cmd(&["LMOVE", &src, &dst, "RIGHT", "LEFT"]), bulk("c"));
        assert_eq!(c.cmd(&["RPOPLPUSH", &src, &dst]), bulk("b"));
        assert_eq!(c.cmd(&["EXISTS", &src]), int(0));
        assert_eq!(c.cmd(&["LRANGE", &dst, "0", "-1"]), bulks(&["b", "c", "a"]));
        assert_eq!(c.cmd(&["RPOPLPUSH", &src, &dst]), nil());
        assert_eq!(c.cmd(&["LMOVE", &dst, &dst, "LEFT", "RIGHT"]), bulk("b"));
        assert_eq!(c.cmd(&["LRANGE", &dst, "0", "-1"]), bulks(&["c", "a", "b"]));
        assert_eq!(c.cmd(&["SET", &src, "str"]), ok());
        assert_eq!(
            c.cmd(&["LMOVE", &dst, &src, "LEFT", "LEFT"]),
            err(WRONGTYPE)
        );
        assert_eq!(c.cmd(&["LLEN", &dst]), int(3));
    }
    let syntax = err("ERR syntax error");
    assert_eq!(c.cmd(&["LMOVE", "a", "b", "UP", "LEFT"]), syntax);
    assert_eq!(c.cmd(&["LMOVE", "a", "b", "LEFT", "DOWN"]), syntax);
    assert_eq!(
        c.cmd(&["RPOPLPUSH", "a"]),
        err("ERR wrong number of arguments for 'rpoplpush' command")
    );
    s.shutdown();
}

#[test]
fn lmpop_first_non_empty_key() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    let keys: Vec<String> = (0..8).map(|i| format!("mk{i}")).collect();
    for (i, k) in keys.iter().enumerate().skip(3) {
        let v: Vec<String> = ["a", "b", "c"].iter().map(|x| format!("{i}{x}")).collect();
        assert_eq!(c.cmd(&["RPUSH", k, &v[0], &v[1], &v[2]]), int(3));
    }
    let mut args = vec!["LMPOP", "8"];
    args.extend(keys.iter().map(|s| s.as_str()));
    args.push("LEFT");
    assert_eq!(c.cmd(&args), arr(vec![bulk("mk3"), bulks(&["3a"])]));
    let mut right = args.clone();
    *right.last_mut().unwrap() = "RIGHT";
    right.extend(["COUNT", "5"]);
    assert_eq!(c.cmd(&right), arr(vec![bulk("mk3"), bulks(&["3c", "3b"])]));
    assert_eq!(c.cmd(&["EXISTS", "mk3"]), int(0));
    assert_eq!(c.cmd(&args), arr(vec![bulk("mk4"), bulks(&["4a"])]));
    assert_eq!(
        c.cmd(&["LMPOP", "2", "mk0", "mk1", "LEFT"]),
        Reply::NullArray
    );
    let numkeys = err("ERR numkeys should be greater than 0");
    assert_eq!(c.cmd(&["LMPOP", "0", "a", "LEFT"]), numkeys);
    assert_eq!(c.cmd(&["LMPOP", "x", "a", "LEFT"]), numkeys);
    let syntax = err("ERR syntax error");
    assert_eq!(c.cmd(&["LMPOP", "2", "a", "LEFT"]), syntax);
    assert_eq!(c.cmd(&["LMPOP", "1", "a", "UP"]), syntax);
    assert_eq!(
        c.cmd(&["LMPOP", "1", "a", "LEFT", "COUNT", "0"]),
        err("ERR count should be greater than 0")
    );
    let twice = ["LMPOP", "1", "a", "LEFT", "COUNT", "1", "COUNT", "1"];
    assert_eq!(c.cmd(&twice), syntax);
    assert_eq!(c.cmd(&["LMPOP", "1", "a", "LEFT", "COUNT"]), syntax);
    assert_eq!(
        c.cmd(&["LMPOP", "1", "a"]),
        err("ERR wrong number of arguments for 'lmpop' command")
    );
    s.shutdown();
}

#[test]
fn resp3_nulls() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    assert!(matches!(c.cmd(&["HELLO", "3"]), Reply::Map(_)));
    assert_eq!(c.cmd(&["LPOP", "nokey"]), Reply::Null);
    assert_eq!(c.cmd(&["LPOP", "nokey", "2"]), Reply::Null);
    assert_eq!(c.cmd(&["LINDEX", "nokey", "0"]), Reply::Null);
    assert_eq!(c.cmd(&["LPOS", "nokey", "a"]), Reply::Null);
    assert_eq!(c.cmd(&["LMOVE", "nokey", "b", "LEFT", "LEFT"]), Reply::Null);
    assert_eq!(c.cmd(&["LMPOP", "1", "nokey", "LEFT"]), Reply::Null);
    assert_eq!(c.cmd(&["RPUSH", "l", "a"]), int(1));
    assert_eq!(c.cmd(&["LPOP", "l", "5"]), bulks(&["a"]));
    s.shutdown();
}

#[test]
fn multi_exec_and_keyspace_commands() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["MULTI"]), ok());
    for cmd in [
        vec!["RPUSH", "q1", "a", "b"],
        vec!["LMOVE", "q1", "q2", "LEFT", "LEFT"],
        vec!["LMPOP", "2", "q3", "q2", "RIGHT"],
        vec!["RPOPLPUSH", "q1", "q4"],
        vec!["LRANGE", "q4", "0", "-1"],
    ] {
        assert_eq!(c.cmd(&cmd), simple("QUEUED"));
    }
    assert_eq!(
        c.cmd(&["EXEC"]),
        arr(vec![
            int(2),
            bulk("a"),
            arr(vec![bulk("q2"), bulks(&["a"])]),
            bulk("b"),
            bulks(&["b"]),
        ])
    );
    // RENAME and COPY carry a list to another shard.
    for i in 0..8 {
        let (a, b, d) = (format!("ra{i}"), format!("rb{i}"), format!("rc{i}"));
        assert_eq!(c.cmd(&["RPUSH", &a, "x", "y", "1"]), int(3));
        assert_eq!(c.cmd(&["COPY", &a, &b]), int(1));
        assert_eq!(c.cmd(&["RENAME", &a, &d]), ok());
        assert_eq!(c.cmd(&["LPUSH", &b, "0"]), int(4));
        assert_eq!(c.cmd(&["LRANGE", &d, "0", "-1"]), bulks(&["x", "y", "1"]));
        assert_eq!(
            c.cmd(&["LRANGE", &b, "0", "-1"]),
            bulks(&["0", "x", "y", "1"])
        );
    }
    // An expired list is gone.
    assert_eq!(c.cmd(&["RPUSH", "e", "1"]), int(1));
    assert_eq!(c.cmd(&["PEXPIRE", "e", "20"]), int(1));
    std::thread::sleep(std::time::Duration::from_millis(60));
    assert_eq!(c.cmd(&["LLEN", "e"]), int(0));
    assert_eq!(c.cmd(&["RPUSHX", "e", "1"]), int(0));
    s.shutdown();
}

#[test]
fn large_lists_with_node_sizes_and_compression() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    for (size, depth) in [("-2", "0"), ("4", "1"), ("-1", "2"), ("1", "1")] {
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "list-max-listpack-size", size]),
            ok()
        );
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "list-compress-depth", depth]),
            ok()
        );
        let key = format!("big{size}{depth}");
        let mut want = std::collections::VecDeque::new();
        for i in 0..3000 {
            let v = format!("value-{}-{}", i % 37, "p".repeat(i % 50));
            if i % 3 == 0 {
                c.cmd(&["LPUSH", &key, &v]);
                want.push_front(v);
            } else {
                c.cmd(&["RPUSH", &key, &v]);
                want.push_back(v);
            }
        }
        let all: Vec<&str> = want.iter().map(|s| s.as_str()).collect();
        assert_eq!(c.cmd(&["LRANGE", &key, "0", "-1"]), bulks(&all));
        assert_eq!(c.cmd(&["LINDEX", &key, "1500"]), bulk(all[1500]));
        assert_eq!(c.cmd(&["LSET", &key, "1500", "mid"]), ok());
        let insert = ["LINSERT", &key, "BEFORE", "mid", "before-mid"];
        assert_eq!(c.cmd(&insert), int(3001));
        let around = c.cmd(&["LRANGE", &key, "1500", "1501"]);
        assert_eq!(around, bulks(&["before-mid", "mid"]));
        let removed = all.iter().filter(|v| **v == all[10]).count() as i64;
        assert_eq!(c.cmd(&["LREM", &key, "0", all[10]]), int(removed));
        assert_eq!(c.cmd(&["LTRIM", &key, "100", "-100"]), ok());
        assert_eq!(c.cmd(&["LLEN", &key]), int(3001 - removed - 199));
        assert_eq!(c.cmd(&["OBJECT", "ENCODING", &key]), bulk("quicklist"));
    }
    s.shutdown();
}

/// A pipeline of list commands over many keys (squashed per shard) answers exactly what the
/// same commands answer one at a time.
#[test]
fn pipelined_commands_match_one_at_a_time() {
    let piped = server(4);
    let single = server(4);
    let mut p = Client::connect(piped.addr());
    let mut one = Client::connect(single.addr());
    let mut cmds: Vec<Vec<String>> = Vec::new();
    for i in 0..600u64 {
        let k = format!("pk{}", i % 17);
        let k2 = format!("pk{}", (i * 7) % 17);
        let c: Vec<String> = match i % 9 {
            0 | 1 => vec!["RPUSH".into(), k, format!("v{i}"), format!("{}", i % 5)],
            2 => vec!["LPUSH".into(), k, format!("w{}", i % 3)],
            3 => vec!["LPOP".into(), k],
            4 => vec!["LRANGE".into(), k, "0".into(), "-1".into()],
            5 => vec!["LMOVE".into(), k, k2, "LEFT".into(), "RIGHT".into()],
            6 => vec!["LREM".into(), k, "0".into(), "1".into()],
            7 => vec!["LPOS".into(), k, "w1".into(), "COUNT".into(), "0".into()],
            _ => vec![
                "LINSERT".into(),
                k,
                "BEFORE".into(),
                "2".into(),
                "ins".into(),
            ],
        };
        cmds.push(c);
    }
    let mut batch = Vec::new();
    for c in &cmds {
        let a: Vec<&[u8]> = c.iter().map(|s| s.as_bytes()).collect();
        batch.extend_from_slice(&Client::encode(&a));
    }
    p.send_raw(&batch);
    for (i, c) in cmds.iter().enumerate() {
        let args: Vec<&str> = c.iter().map(|s| s.as_str()).collect();
        assert_eq!(p.read_reply(), one.cmd(&args), "command {i}: {c:?}");
    }
    piped.shutdown();
    single.shutdown();
}
