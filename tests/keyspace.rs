//! Keyspace commands over TCP, replies byte for byte as Redis 7 sends them (checked against
//! redis-server 7.0), errors included; cross-shard RENAME/COPY and SCAN under concurrent inserts.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use damselfly_coordinator::registry::Registry;
use damselfly_coordinator::shard::{key_hash, shard_of};
use damselfly_protocol::Reply as R;
use damselfly_runtime::clock;
use std::collections::HashSet;
use std::time::Duration;

/// Starts the harness's server from a short-lived thread. Starting a pool probes io_uring by
/// creating (and dropping) a ring on the calling thread; the kernel's teardown of that ring
/// later sends task work to its creator, which makes the creator's next blocking `recv` with a
/// timeout fail with EINTR. Keeping the probe off the test thread keeps the test's reads clean.
fn start(threads: usize) -> damselfly::ServerHandle {
    std::thread::spawn(move || server(threads))
        .join()
        .expect("server starts")
}

fn strings_of(r: R) -> Vec<String> {
    match r {
        R::Array(items) => items
            .into_iter()
            .map(|i| match i {
                R::Bulk(b) => String::from_utf8(b).unwrap(),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn int_of(r: R) -> i64 {
    match r {
        R::Integer(i) => i,
        other => panic!("not an integer: {other:?}"),
    }
}

/// One SCAN call: (next cursor, keys).
fn scan(c: &mut Client, args: &[&str]) -> (String, Vec<String>) {
    match c.cmd(args) {
        R::Array(mut parts) => {
            assert_eq!(parts.len(), 2);
            let keys = strings_of(parts.pop().unwrap());
            let cursor = match parts.pop().unwrap() {
                R::Bulk(b) => String::from_utf8(b).unwrap(),
                other => panic!("cursor not a bulk: {other:?}"),
            };
            (cursor, keys)
        }
        other => panic!("SCAN replied {other:?}"),
    }
}

fn arity(cmd: &str) -> R {
    err(&format!(
        "ERR wrong number of arguments for '{cmd}' command"
    ))
}

#[test]
fn del_exists_touch_type_unlink() {
    let s = start(3);
    let mut c = Client::connect(s.addr());
    for i in 0..20 {
        let k = format!("k{i}");
        assert_eq!(c.cmd(&["SET", &k, "v"]), ok());
    }
    assert_eq!(c.cmd(&["EXISTS", "k1", "k1", "nokey", "k2", "k1"]), int(4));
    assert_eq!(c.cmd(&["EXISTS", "nokey"]), int(0));
    assert_eq!(c.cmd(&["TOUCH", "k1", "k1", "nokey", "k3"]), int(3));
    assert_eq!(c.cmd(&["TYPE", "k1"]), simple("string"));
    assert_eq!(c.cmd(&["TYPE", "nokey"]), simple("none"));
    // Repeats count once: the second delete finds nothing.
    assert_eq!(c.cmd(&["DEL", "k1", "k1", "k2", "nokey"]), int(2));
    assert_eq!(c.cmd(&["EXISTS", "k1", "k2"]), int(0));
    assert_eq!(c.cmd(&["UNLINK", "k3", "nokey"]), int(1));
    let mut del = vec!["DEL"];
    let names: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    del.extend(names.iter().map(|s| s.as_str()));
    assert_eq!(c.cmd(&del), int(17));
    assert_eq!(c.cmd(&["DBSIZE"]), int(0));
    for cmd in ["DEL", "UNLINK", "EXISTS", "TOUCH", "TYPE"] {
        assert_eq!(c.cmd(&[cmd]), arity(&cmd.to_lowercase()));
    }
    assert_eq!(c.cmd(&["TYPE", "a", "b"]), arity("type"));
    s.shutdown();
}

#[test]
fn rename_and_renamenx() {
    let s = start(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["RENAME", "a", "b"]), err("ERR no such key"));
    assert_eq!(c.cmd(&["RENAMENX", "a", "b"]), err("ERR no such key"));
    assert_eq!(c.cmd(&["RENAME", "a", "a"]), err("ERR no such key"));
    assert_eq!(c.cmd(&["RENAMENX", "a", "a"]), err("ERR no such key"));
    assert_eq!(c.cmd(&["SET", "a", "1"]), ok());
    assert_eq!(c.cmd(&["RENAME", "a", "a"]), ok());
    assert_eq!(c.cmd(&["RENAMENX", "a", "a"]), int(0));
    assert_eq!(c.cmd(&["SET", "b", "2"]), ok());
    assert_eq!(c.cmd(&["RENAMENX", "a", "b"]), int(0));
    assert_eq!(c.cmd(&["RENAMENX", "nokey", "b"]), err("ERR no such key"));
    assert_eq!(c.cmd(&["RENAME", "a", "b"]), ok());
    assert_eq!(c.cmd(&["GET", "b"]), bulk("1"));
    assert_eq!(c.cmd(&["EXISTS", "a"]), int(0));
    assert_eq!(c.cmd(&["RENAMENX", "b", "c"]), int(1));
    assert_eq!(c.cmd(&["GET", "c"]), bulk("1"));
    // The source's deadline moves with it; the destination's old one is dropped.
    assert_eq!(c.cmd(&["SET", "t", "x", "EX", "100"]), ok());
    assert_eq!(c.cmd(&["RENAME", "t", "t2"]), ok());
    assert_eq!(c.cmd(&["TTL", "t2"]), int(100));
    assert_eq!(c.cmd(&["SET", "d", "x", "EX", "50"]), ok());
    assert_eq!(c.cmd(&["RENAME", "c", "d"]), ok());
    assert_eq!(c.cmd(&["TTL", "d"]), int(-1));
    assert_eq!(c.cmd(&["GET", "d"]), bulk("1"));
    // Keys of one hashtag share a shard.
    assert_eq!(c.cmd(&["SET", "{u}x", "tag"]), ok());
    assert_eq!(c.cmd(&["RENAME", "{u}x", "{u}y"]), ok());
    assert_eq!(c.cmd(&["GET", "{u}y"]), bulk("tag"));
    assert_eq!(c.cmd(&["RENAME", "a"]), arity("rename"));
    assert_eq!(c.cmd(&["RENAMENX", "a", "b", "c"]), arity("renamenx"));
    s.shutdown();
}

/// `count` key pairs (src, dst) whose keys live on different shards out of `shards`.
fn cross_shard_pairs(prefix: &str, count: usize, shards: usize) -> Vec<(String, String)> {
    let on = |k: &str| shard_of(key_hash(k.as_bytes()), shards);
    (0..)
        .map(|i| (format!("{prefix}:src:{i}"), format!("{prefix}:dst:{i}")))
        .filter(|(a, b)| on(a) != on(b))
        .take(count)
        .collect()
}

#[test]
fn rename_across_shards_moves_values_and_deadlines() {
    const THREADS: usize = 4;
    let s = start(THREADS);
    assert_eq!(s.threads(), THREADS);
    let mut c = Client::connect(s.addr());
    let pairs = cross_shard_pairs("r", 300, THREADS);
    for (i, (src, _)) in pairs.iter().enumerate() {
        assert_eq!(c.cmd(&["SET", src, &format!("value-{i}")]), ok());
        if i % 3 == 0 {
            assert_eq!(c.cmd(&["PEXPIRE", src, "100000"]), int(1));
        }
    }
    for (i, (src, dst)) in pairs.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(c.cmd(&["RENAME", src, dst]), ok());
        } else {
            assert_eq!(c.cmd(&["RENAMENX", src, dst]), int(1));
        }
    }
    for (i, (src, dst)) in pairs.iter().enumerate() {
        assert_eq!(c.cmd(&["EXISTS", src]), int(0), "{src} still exists");
        assert_eq!(c.cmd(&["GET", dst]), bulk(&format!("value-{i}")));
        let pttl = int_of(c.cmd(&["PTTL", dst]));
        if i % 3 == 0 {
            assert!(pttl > 90_000 && pttl <= 100_000, "{dst} pttl {pttl}");
        } else {
            assert_eq!(pttl, -1);
        }
    }
    assert_eq!(c.cmd(&["DBSIZE"]), int(300));
    // Cross-shard errors and RENAMENX onto an existing key.
    let (src, dst) = &pairs[0];
    assert_eq!(c.cmd(&["RENAME", src, dst]), err("ERR no such key"));
    assert_eq!(c.cmd(&["RENAMENX", src, dst]), err("ERR no such key"));
    assert_eq!(c.cmd(&["SET", src, "new"]), ok());
    assert_eq!(c.cmd(&["RENAMENX", src, dst]), int(0));
    assert_eq!(c.cmd(&["GET", src]), bulk("new"));
    assert_eq!(c.cmd(&["GET", dst]), bulk("value-0"));
    assert_eq!(c.cmd(&["RENAME", src, dst]), ok());
    assert_eq!(c.cmd(&["GET", dst]), bulk("new"));
    assert_eq!(c.cmd(&["PTTL", dst]), int(-1));
    s.shutdown();
}

/// Clients pass one token around a ring of keys on different shards with RENAME while another
/// client checks with (atomic, multi-shard) EXISTS that it is always in exactly one place.
#[test]
fn concurrent_cross_shard_renames_are_atomic() {
    const THREADS: usize = 4;
    const RING: usize = 8;
    let s = start(THREADS);
    let ring: Vec<String> = (0..RING).map(|i| format!("ring:{i}")).collect();
    let shards: HashSet<usize> = ring
        .iter()
        .map(|k| shard_of(key_hash(k.as_bytes()), THREADS))
        .collect();
    assert!(shards.len() > 1, "the ring spans shards");
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["SET", &ring[0], "token"]), ok());
    let addr = s.addr();
    let movers: Vec<_> = (0..3)
        .map(|t| {
            let ring = ring.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut moved = 0;
                for n in 0..600 {
                    let i = (n * 7 + t * 3) % RING;
                    let j = (i + 1 + n % (RING - 1)) % RING;
                    match c.cmd(&["RENAME", &ring[i], &ring[j]]) {
                        r if r == ok() => moved += 1,
                        r => assert_eq!(r, err("ERR no such key")),
                    }
                }
                moved
            })
        })
        .collect();
    let mut exists = vec!["EXISTS"];
    exists.extend(ring.iter().map(|s| s.as_str()));
    let mut checks = 0;
    while !movers.iter().all(|m| m.is_finished()) || checks < 100 {
        assert_eq!(c.cmd(&exists), int(1), "token seen in 0 or 2 places");
        checks += 1;
    }
    let moved: i32 = movers.into_iter().map(|m| m.join().unwrap()).sum();
    assert!(moved > 10, "only {moved} renames succeeded");
    assert_eq!(c.cmd(&exists), int(1));
    let mut mget = vec!["MGET"];
    mget.extend(ring.iter().map(|s| s.as_str()));
    let values = match c.cmd(&mget) {
        R::Array(v) => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(values.iter().filter(|v| **v == bulk("token")).count(), 1);
    assert_eq!(c.cmd(&["DBSIZE"]), int(1));
    s.shutdown();
}

#[test]
fn copy_and_move() {
    let s = start(3);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["SET", "c", "v", "EX", "100"]), ok());
    let same = err("ERR source and destination objects are the same");
    assert_eq!(c.cmd(&["COPY", "c", "c"]), same);
    assert_eq!(c.cmd(&["COPY", "c", "c", "DB", "0"]), same);
    assert_eq!(
        c.cmd(&["COPY", "c", "d", "DB", "16"]),
        err("ERR DB index is out of range")
    );
    assert_eq!(
        c.cmd(&["COPY", "c", "d", "DB", "-1"]),
        err("ERR DB index is out of range")
    );
    let not_int = err("ERR value is not an integer or out of range");
    assert_eq!(c.cmd(&["COPY", "c", "d", "DB", "abc"]), not_int);
    let int_range = err("ERR value is out of range, value must between -2147483648 and 2147483647");
    assert_eq!(c.cmd(&["COPY", "c", "d", "DB", "99999999999"]), int_range);
    assert_eq!(c.cmd(&["COPY", "c", "d", "DB"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["COPY", "c", "d", "foo"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["COPY", "c"]), arity("copy"));
    assert_eq!(c.cmd(&["COPY", "nokey", "d"]), int(0));
    assert_eq!(c.cmd(&["COPY", "c", "d", "REPLACE", "replace"]), int(1));
    assert_eq!(c.cmd(&["TTL", "d"]), int(100));
    assert_eq!(c.cmd(&["COPY", "c", "d"]), int(0));
    assert_eq!(c.cmd(&["SET", "c", "v2"]), ok());
    assert_eq!(c.cmd(&["COPY", "c", "d", "REPLACE"]), int(1));
    assert_eq!(c.cmd(&["GET", "d"]), bulk("v2"));
    assert_eq!(c.cmd(&["TTL", "d"]), int(-1));
    // Same key, other database; the last DB option wins.
    assert_eq!(c.cmd(&["COPY", "c", "c", "DB", "1"]), int(1));
    assert_eq!(
        c.cmd(&["COPY", "c", "e", "DB", "1", "REPLACE", "DB", "2"]),
        int(1)
    );
    assert_eq!(c.cmd(&["SELECT", "2"]), ok());
    assert_eq!(c.cmd(&["GET", "e"]), bulk("v2"));
    assert_eq!(c.cmd(&["SELECT", "1"]), ok());
    assert_eq!(c.cmd(&["GET", "c"]), bulk("v2"));
    assert_eq!(c.cmd(&["EXISTS", "e"]), int(0));
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
    // Across shards, with deadlines and into another database.
    for (i, (src, dst)) in cross_shard_pairs("cp", 50, 3).iter().enumerate() {
        assert_eq!(c.cmd(&["SET", src, &i.to_string(), "PX", "100000"]), ok());
        assert_eq!(c.cmd(&["COPY", src, dst]), int(1));
        assert_eq!(c.cmd(&["COPY", src, dst]), int(0));
        assert_eq!(c.cmd(&["COPY", src, dst, "DB", "3"]), int(1));
        assert_eq!(c.cmd(&["GET", src]), bulk(&i.to_string()));
        assert_eq!(c.cmd(&["GET", dst]), bulk(&i.to_string()));
        assert!(int_of(c.cmd(&["PTTL", dst])) > 90_000);
        assert_eq!(c.cmd(&["SET", src, "changed"]), ok());
        assert_eq!(c.cmd(&["COPY", src, dst, "REPLACE"]), int(1));
        assert_eq!(c.cmd(&["GET", dst]), bulk("changed"));
        assert_eq!(c.cmd(&["TTL", dst]), int(-1));
    }
    assert_eq!(c.cmd(&["SELECT", "3"]), ok());
    assert_eq!(c.cmd(&["DBSIZE"]), int(50));
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());

    // MOVE
    assert_eq!(c.cmd(&["MOVE", "d", "0"]), same);
    assert_eq!(
        c.cmd(&["MOVE", "d", "16"]),
        err("ERR DB index is out of range")
    );
    assert_eq!(c.cmd(&["MOVE", "d", "abc"]), not_int);
    assert_eq!(c.cmd(&["MOVE", "d", "-2147483649"]), int_range);
    assert_eq!(c.cmd(&["MOVE", "nokey", "1"]), int(0));
    assert_eq!(c.cmd(&["SET", "m", "x", "EX", "100"]), ok());
    assert_eq!(c.cmd(&["MOVE", "m", "1"]), int(1));
    assert_eq!(c.cmd(&["EXISTS", "m"]), int(0));
    assert_eq!(c.cmd(&["SET", "m", "y"]), ok());
    assert_eq!(c.cmd(&["MOVE", "m", "1"]), int(0));
    assert_eq!(c.cmd(&["GET", "m"]), bulk("y"));
    assert_eq!(c.cmd(&["SELECT", "1"]), ok());
    assert_eq!(c.cmd(&["GET", "m"]), bulk("x"));
    assert_eq!(c.cmd(&["TTL", "m"]), int(100));
    assert_eq!(c.cmd(&["MOVE", "m"]), arity("move"));
    s.shutdown();
}

#[test]
fn expire_family_options_and_errors() {
    let s = start(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    let nx_err = err("ERR NX and XX, GT or LT options at the same time are not compatible");
    assert_eq!(c.cmd(&["EXPIRE", "k", "100", "NX", "XX"]), nx_err);
    assert_eq!(c.cmd(&["EXPIRE", "k", "100", "nx", "gt"]), nx_err);
    assert_eq!(c.cmd(&["EXPIRE", "k", "100", "NX", "LT"]), nx_err);
    assert_eq!(
        c.cmd(&["EXPIRE", "k", "100", "GT", "LT"]),
        err("ERR GT and LT options at the same time are not compatible")
    );
    assert_eq!(
        c.cmd(&["EXPIRE", "k", "100", "foo"]),
        err("ERR Unsupported option foo")
    );
    // Options are checked before the time.
    assert_eq!(
        c.cmd(&["EXPIRE", "k", "abc", "foo"]),
        err("ERR Unsupported option foo")
    );
    let not_int = err("ERR value is not an integer or out of range");
    assert_eq!(c.cmd(&["EXPIRE", "k", "abc", "NX"]), not_int);
    assert_eq!(c.cmd(&["PEXPIRE", "k", "1.5"]), not_int);
    for (cmd, t) in [
        ("EXPIRE", "9223372036854775807"),
        ("EXPIRE", "9223372036854774"),
        ("EXPIRE", "-9223372036854775808"),
        ("PEXPIRE", "9223372036854775807"),
        ("EXPIREAT", "9223372036854775807"),
    ] {
        assert_eq!(
            c.cmd(&[cmd, "k", t]),
            err(&format!(
                "ERR invalid expire time in '{}' command",
                cmd.to_lowercase()
            ))
        );
    }
    assert_eq!(
        c.cmd(&["EXPIRE", "nokey", "9223372036854775807"]),
        err("ERR invalid expire time in 'expire' command")
    );
    assert_eq!(c.cmd(&["EXPIRE", "k"]), arity("expire"));
    assert_eq!(c.cmd(&["TTL"]), arity("ttl"));
    assert_eq!(c.cmd(&["PERSIST", "a", "b"]), arity("persist"));

    assert_eq!(c.cmd(&["EXPIRE", "nokey", "100"]), int(0));
    assert_eq!(c.cmd(&["TTL", "k"]), int(-1));
    assert_eq!(c.cmd(&["EXPIRE", "k", "100", "XX"]), int(0));
    assert_eq!(
        c.cmd(&["EXPIRE", "k", "100", "GT"]),
        int(0),
        "no deadline is infinite"
    );
    assert_eq!(c.cmd(&["EXPIRE", "k", "100", "NX"]), int(1));
    assert_eq!(c.cmd(&["EXPIRE", "k", "200", "NX"]), int(0));
    assert_eq!(c.cmd(&["EXPIRE", "k", "50", "GT"]), int(0));
    assert_eq!(c.cmd(&["EXPIRE", "k", "300", "gt"]), int(1));
    assert_eq!(c.cmd(&["EXPIRE", "k", "300", "LT"]), int(0));
    assert_eq!(c.cmd(&["EXPIRE", "k", "100", "lt", "XX"]), int(1));
    assert_eq!(c.cmd(&["TTL", "k"]), int(100));
    let pttl = int_of(c.cmd(&["PTTL", "k"]));
    assert!(pttl > 99_000 && pttl <= 100_000, "pttl {pttl}");
    let now_ms = clock::wall_now_ms() as i64;
    let at_ms = int_of(c.cmd(&["PEXPIRETIME", "k"]));
    assert!(
        (at_ms - (now_ms + 100_000)).abs() < 2_000,
        "pexpiretime {at_ms}"
    );
    assert_eq!(c.cmd(&["EXPIRETIME", "k"]), int((at_ms + 500) / 1000));
    assert_eq!(c.cmd(&["PERSIST", "k"]), int(1));
    assert_eq!(c.cmd(&["PERSIST", "k"]), int(0));
    assert_eq!(c.cmd(&["PERSIST", "nokey"]), int(0));
    assert_eq!(c.cmd(&["TTL", "k"]), int(-1));
    assert_eq!(c.cmd(&["EXPIRETIME", "k"]), int(-1));
    for cmd in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        assert_eq!(c.cmd(&[cmd, "nokey"]), int(-2));
    }
    // LT with no deadline sets one; a deadline in the past deletes the key.
    assert_eq!(c.cmd(&["EXPIRE", "k", "-1", "GT"]), int(0));
    assert_eq!(c.cmd(&["EXPIRE", "k", "-1", "LT"]), int(1));
    assert_eq!(c.cmd(&["EXISTS", "k"]), int(0));
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(c.cmd(&["PEXPIRE", "k", "-9223372036854775808"]), int(1));
    assert_eq!(c.cmd(&["EXISTS", "k"]), int(0));
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(c.cmd(&["EXPIREAT", "k", "1"]), int(1));
    assert_eq!(c.cmd(&["GET", "k"]), nil());
    // Absolute times.
    let at_s = clock::wall_now_ms() / 1000 + 1000;
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(c.cmd(&["EXPIREAT", "k", &at_s.to_string()]), int(1));
    assert_eq!(c.cmd(&["EXPIRETIME", "k"]), int(at_s as i64));
    assert_eq!(c.cmd(&["PEXPIRETIME", "k"]), int(at_s as i64 * 1000));
    assert_eq!(c.cmd(&["PEXPIREAT", "k", "9223372036854775807"]), int(1));
    assert_eq!(c.cmd(&["PEXPIRETIME", "k"]), int(i64::MAX));
    // A short deadline really expires.
    assert_eq!(c.cmd(&["PEXPIRE", "k", "30"]), int(1));
    clock::sleep_thread(Duration::from_millis(80));
    assert_eq!(c.cmd(&["EXISTS", "k"]), int(0));
    assert_eq!(c.cmd(&["TTL", "k"]), int(-2));
    s.shutdown();
}

#[test]
fn keys_dbsize_randomkey_flush_swapdb() {
    let s = start(3);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["RANDOMKEY"]), nil());
    assert_eq!(c.cmd(&["KEYS", "*"]), arr(vec![]));
    for k in ["a1", "a2", "b1", "ab", ""] {
        assert_eq!(c.cmd(&["SET", k, "v"]), ok());
    }
    assert_eq!(
        sorted(strings_of(c.cmd(&["KEYS", "*"]))),
        ["", "a1", "a2", "ab", "b1"]
    );
    assert_eq!(
        sorted(strings_of(c.cmd(&["KEYS", "a*"]))),
        ["a1", "a2", "ab"]
    );
    assert_eq!(sorted(strings_of(c.cmd(&["KEYS", "[ab]1"]))), ["a1", "b1"]);
    assert_eq!(
        sorted(strings_of(c.cmd(&["KEYS", "?"]))),
        Vec::<String>::new()
    );
    assert_eq!(c.cmd(&["KEYS"]), arity("keys"));
    assert_eq!(c.cmd(&["KEYS", "a", "b"]), arity("keys"));
    assert_eq!(c.cmd(&["DBSIZE"]), int(5));
    assert_eq!(c.cmd(&["DBSIZE", "x"]), arity("dbsize"));
    let all: HashSet<String> = ["", "a1", "a2", "ab", "b1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut seen = HashSet::new();
    for _ in 0..200 {
        match c.cmd(&["RANDOMKEY"]) {
            R::Bulk(k) => {
                let k = String::from_utf8(k).unwrap();
                assert!(all.contains(&k), "random key {k:?}");
                seen.insert(k);
            }
            other => panic!("RANDOMKEY replied {other:?}"),
        }
    }
    assert!(seen.len() >= 3, "RANDOMKEY only returned {seen:?}");
    assert_eq!(c.cmd(&["RANDOMKEY", "x"]), arity("randomkey"));

    // SWAPDB and FLUSHDB/FLUSHALL.
    assert_eq!(c.cmd(&["SELECT", "1"]), ok());
    assert_eq!(c.cmd(&["SET", "only1", "x"]), ok());
    assert_eq!(c.cmd(&["SWAPDB", "0", "1"]), ok());
    assert_eq!(c.cmd(&["DBSIZE"]), int(5));
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
    assert_eq!(c.cmd(&["KEYS", "*"]), arr(vec![bulk("only1")]));
    assert_eq!(c.cmd(&["SWAPDB", "0", "0"]), ok());
    assert_eq!(
        c.cmd(&["SWAPDB", "a", "1"]),
        err("ERR invalid first DB index")
    );
    assert_eq!(
        c.cmd(&["SWAPDB", "1", "b"]),
        err("ERR invalid second DB index")
    );
    assert_eq!(
        c.cmd(&["SWAPDB", "0", "99999999999"]),
        err("ERR invalid second DB index")
    );
    assert_eq!(
        c.cmd(&["SWAPDB", "0", "16"]),
        err("ERR DB index is out of range")
    );
    assert_eq!(
        c.cmd(&["SWAPDB", "-1", "0"]),
        err("ERR DB index is out of range")
    );
    assert_eq!(c.cmd(&["SWAPDB", "0"]), arity("swapdb"));
    assert_eq!(
        c.cmd(&["FLUSHDB", "ASYNC", "SYNC"]),
        err("ERR syntax error")
    );
    assert_eq!(c.cmd(&["FLUSHDB", "foo"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["FLUSHALL", "x"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["FLUSHDB", "async"]), ok());
    assert_eq!(c.cmd(&["DBSIZE"]), int(0));
    assert_eq!(c.cmd(&["SELECT", "1"]), ok());
    assert_eq!(c.cmd(&["DBSIZE"]), int(5), "FLUSHDB leaves other databases");
    assert_eq!(c.cmd(&["SELECT", "2"]), ok());
    assert_eq!(c.cmd(&["SET", "two", "x"]), ok());
    assert_eq!(c.cmd(&["FLUSHALL", "SYNC"]), ok());
    assert_eq!(c.cmd(&["DBSIZE"]), int(0));
    assert_eq!(c.cmd(&["SELECT", "1"]), ok());
    assert_eq!(c.cmd(&["DBSIZE"]), int(0));
    assert_eq!(c.cmd(&["FLUSHALL"]), ok());
    assert_eq!(c.cmd(&["FLUSHDB"]), ok());
    s.shutdown();
}

#[test]
fn scan_returns_every_key_present_throughout_while_keys_are_added() {
    let s = start(3);
    let mut c = Client::connect(s.addr());
    let pre: Vec<String> = (0..3000).map(|i| format!("pre:{i}")).collect();
    for chunk in pre.chunks(100) {
        let mut mset = vec!["MSET"];
        for k in chunk {
            mset.push(k);
            mset.push("v");
        }
        assert_eq!(c.cmd(&mset), ok());
    }
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let (mut calls, mut added, mut cursors) = (0, 0, HashSet::new());
    loop {
        let (next, keys) = scan(&mut c, &["SCAN", &cursor, "COUNT", "40"]);
        calls += 1;
        seen.extend(keys);
        // Grow the table between calls so segments split behind and ahead of the cursor.
        let mut mset = vec!["MSET".to_string()];
        for _ in 0..60 {
            mset.push(format!("new:{added}"));
            mset.push("v".into());
            added += 1;
        }
        let mset: Vec<&str> = mset.iter().map(|s| s.as_str()).collect();
        assert_eq!(c.cmd(&mset), ok());
        if next == "0" {
            break;
        }
        cursors.insert(next.clone());
        cursor = next;
        assert!(calls < 10_000, "SCAN does not terminate");
    }
    assert!(calls > 20, "only {calls} calls");
    for k in &pre {
        assert!(seen.contains(k), "SCAN missed {k}");
    }
    // The cursor visits every shard: cursors carry the shard index in bits 16..26.
    let shards: HashSet<u64> = cursors
        .iter()
        .map(|c| (c.parse::<u64>().unwrap() >> 16) & 0x3ff)
        .collect();
    assert_eq!(shards.len(), 3, "cursors name shards {shards:?}");
    s.shutdown();
}

#[test]
fn scan_options_and_errors() {
    let s = start(2);
    let mut c = Client::connect(s.addr());
    for k in ["a1", "a2", "b1"] {
        assert_eq!(c.cmd(&["SET", k, "v"]), ok());
    }
    // Small keyspaces finish in one call with the default COUNT.
    let all = |c: &mut Client, extra: &[&str]| {
        let mut args = vec!["SCAN", "0"];
        args.extend_from_slice(extra);
        let (next, keys) = scan(c, &args);
        assert_eq!(next, "0");
        sorted(keys)
    };
    assert_eq!(all(&mut c, &[]), ["a1", "a2", "b1"]);
    assert_eq!(all(&mut c, &["MATCH", "a*"]), ["a1", "a2"]);
    assert_eq!(
        all(&mut c, &["match", "a*", "COUNT", "100", "TYPE", "string"]),
        ["a1", "a2"]
    );
    assert_eq!(all(&mut c, &["TYPE", "STRING"]), ["a1", "a2", "b1"]);
    assert_eq!(all(&mut c, &["TYPE", "list"]), Vec::<String>::new());
    assert_eq!(all(&mut c, &["TYPE", "nosuchtype"]), Vec::<String>::new());
    assert_eq!(all(&mut c, &["MATCH", "*"]), ["a1", "a2", "b1"]);
    // Cursors as strtoul reads them; a cursor past the last shard ends the scan.
    for cursor in ["", "+0"] {
        let (next, keys) = scan(&mut c, &["SCAN", cursor]);
        assert_eq!(
            (next.as_str(), sorted(keys)),
            ("0", vec!["a1".into(), "a2".into(), "b1".into()])
        );
    }
    assert_eq!(
        scan(&mut c, &["SCAN", "18446744073709551615"]),
        ("0".into(), vec![])
    );
    assert_eq!(scan(&mut c, &["SCAN", "-1"]), ("0".into(), vec![]));
    let invalid = err("ERR invalid cursor");
    for cursor in [
        " 0",
        "0 ",
        "abc",
        "18446744073709551616",
        "-18446744073709551616",
        "-",
    ] {
        assert_eq!(c.cmd(&["SCAN", cursor]), invalid, "cursor {cursor:?}");
    }
    assert_eq!(c.cmd(&["SCAN", "abc", "COUNT", "0"]), invalid);
    let syntax = err("ERR syntax error");
    assert_eq!(c.cmd(&["SCAN", "0", "COUNT", "0"]), syntax);
    assert_eq!(c.cmd(&["SCAN", "0", "COUNT", "-1"]), syntax);
    assert_eq!(c.cmd(&["SCAN", "0", "COUNT"]), syntax);
    assert_eq!(c.cmd(&["SCAN", "0", "MATCH"]), syntax);
    assert_eq!(c.cmd(&["SCAN", "0", "foo", "bar"]), syntax);
    assert_eq!(c.cmd(&["SCAN", "0", "COUNT", "0", "COUNT", "5"]), syntax);
    assert_eq!(
        c.cmd(&["SCAN", "0", "COUNT", "abc"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["SCAN", "0", "COUNT", "9223372036854775808"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(c.cmd(&["SCAN"]), arity("scan"));
    // COUNT 1 walks one small step at a time, and still sees every key once at least.
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let (next, keys) = scan(&mut c, &["SCAN", &cursor, "COUNT", "1"]);
        seen.extend(keys);
        calls += 1;
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert!(calls >= 2);
    assert_eq!(seen.len(), 3);
    // Expired keys are not returned.
    assert_eq!(c.cmd(&["SET", "gone", "v", "PX", "1"]), ok());
    clock::sleep_thread(Duration::from_millis(20));
    assert_eq!(all(&mut c, &[]), ["a1", "a2", "b1"]);
    s.shutdown();
}

#[test]
fn object_subcommands() {
    let s = start(2);
    let mut c = Client::connect(s.addr());
    let forty_four = "x".repeat(44);
    let forty_five = "x".repeat(45);
    for (k, v, enc) in [
        ("i", "12345", "int"),
        ("neg", "-9223372036854775808", "int"),
        ("big", "9223372036854775808", "embstr"),
        ("lead0", "0123", "embstr"),
        ("short", "hello", "embstr"),
        ("e44", forty_four.as_str(), "embstr"),
        ("r45", forty_five.as_str(), "raw"),
    ] {
        assert_eq!(c.cmd(&["SET", k, v]), ok());
        assert_eq!(c.cmd(&["OBJECT", "ENCODING", k]), bulk(enc), "{k}");
    }
    assert_eq!(c.cmd(&["OBJECT", "encoding", "nokey"]), nil());
    assert_eq!(c.cmd(&["SET", "n", "100"]), ok());
    assert_eq!(c.cmd(&["OBJECT", "REFCOUNT", "n"]), int(2147483647));
    assert_eq!(c.cmd(&["SET", "n", "100000"]), ok());
    assert_eq!(c.cmd(&["OBJECT", "REFCOUNT", "n"]), int(1));
    assert_eq!(c.cmd(&["OBJECT", "REFCOUNT", "short"]), int(1));
    assert_eq!(c.cmd(&["OBJECT", "REFCOUNT", "nokey"]), nil());
    assert_eq!(c.cmd(&["OBJECT", "IDLETIME", "short"]), int(0));
    assert_eq!(c.cmd(&["OBJECT", "IDLETIME", "nokey"]), nil());
    assert_eq!(
        c.cmd(&["OBJECT", "FREQ", "short"]),
        err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
    );
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "nokey"]), nil());
    match c.cmd(&["OBJECT", "HELP"]) {
        R::Array(lines) => {
            assert_eq!(lines.len(), 15);
            assert_eq!(
                lines[0],
                simple("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
            );
            assert_eq!(lines[14], simple("    Prints this help."));
        }
        other => panic!("OBJECT HELP replied {other:?}"),
    }
    assert_eq!(c.cmd(&["OBJECT"]), arity("object"));
    assert_eq!(c.cmd(&["OBJECT", "Encoding"]), arity("object|encoding"));
    assert_eq!(
        c.cmd(&["OBJECT", "encoding", "a", "b"]),
        arity("object|encoding")
    );
    assert_eq!(c.cmd(&["OBJECT", "help", "x"]), arity("object|help"));
    assert_eq!(
        c.cmd(&["OBJECT", "foo"]),
        err("ERR unknown subcommand 'foo'. Try OBJECT HELP.")
    );
    assert_eq!(
        c.cmd(&["OBJECT", "FOO", "k"]),
        err("ERR unknown subcommand 'FOO'. Try OBJECT HELP.")
    );
    s.shutdown();
}

#[test]
fn key_specs_give_the_keys_command_getkeys_reports() {
    let reg = Registry::get();
    let keys = |args: &[&str]| {
        let (_, spec) = reg.lookup(args[0].as_bytes()).expect("registered");
        // A container's keys are its subcommand's, as COMMAND GETKEYS resolves them.
        let spec = args
            .get(1)
            .and_then(|a| spec.subcommand(a.as_bytes()))
            .unwrap_or(spec);
        spec.key_positions(args.len())
            .into_iter()
            .map(|i| args[i].to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&["DEL", "a", "b", "c"]), ["a", "b", "c"]);
    assert_eq!(keys(&["UNLINK", "a"]), ["a"]);
    assert_eq!(keys(&["EXISTS", "a", "b"]), ["a", "b"]);
    assert_eq!(keys(&["TOUCH", "a", "b"]), ["a", "b"]);
    assert_eq!(keys(&["TYPE", "a"]), ["a"]);
    assert_eq!(keys(&["RENAME", "a", "b"]), ["a", "b"]);
    assert_eq!(keys(&["RENAMENX", "a", "b"]), ["a", "b"]);
    assert_eq!(keys(&["COPY", "a", "b", "DB", "1", "REPLACE"]), ["a", "b"]);
    assert_eq!(keys(&["MOVE", "a", "1"]), ["a"]);
    assert_eq!(keys(&["EXPIRE", "a", "1", "NX"]), ["a"]);
    assert_eq!(keys(&["PEXPIREAT", "a", "1"]), ["a"]);
    assert_eq!(keys(&["TTL", "a"]), ["a"]);
    assert_eq!(keys(&["PEXPIRETIME", "a"]), ["a"]);
    assert_eq!(keys(&["PERSIST", "a"]), ["a"]);
    assert_eq!(keys(&["OBJECT", "ENCODING", "a"]), ["a"]);
    assert_eq!(keys(&["OBJECT", "HELP"]), Vec::<String>::new());
    for cmd in [
        &["KEYS", "*"][..],
        &["SCAN", "0"],
        &["DBSIZE"],
        &["RANDOMKEY"],
        &["FLUSHALL"],
        &["SWAPDB", "0", "1"],
    ] {
        assert_eq!(keys(cmd), Vec::<String>::new(), "{cmd:?}");
    }
}

#[test]
fn command_getkeys_over_tcp() {
    let s = start(2);
    let mut c = Client::connect(s.addr());
    let getkeys = |c: &mut Client, cmd: &[&str]| {
        let mut args = vec!["COMMAND", "GETKEYS"];
        args.extend_from_slice(cmd);
        c.cmd(&args)
    };
    assert_eq!(
        getkeys(&mut c, &["RENAME", "a", "b"]),
        arr(vec![bulk("a"), bulk("b")])
    );
    assert_eq!(
        getkeys(&mut c, &["COPY", "a", "b", "DB", "1", "REPLACE"]),
        arr(vec![bulk("a"), bulk("b")])
    );
    assert_eq!(
        getkeys(&mut c, &["OBJECT", "ENCODING", "k"]),
        arr(vec![bulk("k")])
    );
    assert_eq!(
        getkeys(&mut c, &["DEL", "a", "b", "c"]),
        arr(vec![bulk("a"), bulk("b"), bulk("c")])
    );
    assert_eq!(
        getkeys(&mut c, &["EXPIRE", "k", "10", "NX"]),
        arr(vec![bulk("k")])
    );
    assert_eq!(getkeys(&mut c, &["MOVE", "k", "1"]), arr(vec![bulk("k")]));
    let no_keys = err("ERR The command has no key arguments");
    for cmd in [&["KEYS", "*"][..], &["SCAN", "0"], &["SWAPDB", "0", "1"]] {
        assert_eq!(getkeys(&mut c, cmd), no_keys, "{cmd:?}");
    }
    s.shutdown();
}
