//! String commands over TCP, replies byte for byte as Redis 7 sends them.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;

#[test]
fn get_set_and_options() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
    assert_eq!(c.cmd(&["GET", "missing"]), nil());
    assert_eq!(c.cmd(&["SET", "k", "w", "NX"]), nil());
    assert_eq!(c.cmd(&["SET", "k2", "w", "XX"]), nil());
    assert_eq!(c.cmd(&["SET", "k", "w", "XX", "GET"]), bulk("v"));
    assert_eq!(
        c.cmd(&["SET", "k", "x", "NX", "XX"]),
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["SET", "k", "x", "EX", "0"]),
        err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(
        c.cmd(&["SET", "k", "x", "EX", "abc"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["SET", "k", "x", "EX", "10", "PX", "100"]),
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["SET", "k"]),
        err("ERR wrong number of arguments for 'set' command")
    );
    assert_eq!(c.cmd(&["SETNX", "k", "1"]), int(0));
    assert_eq!(c.cmd(&["SETNX", "new", "1"]), int(1));
    assert_eq!(
        c.cmd(&["SETEX", "e", "-1", "v"]),
        err("ERR invalid expire time in 'setex' command")
    );
    assert_eq!(c.cmd(&["GETSET", "k", "z"]), bulk("w"));
    assert_eq!(c.cmd(&["GETDEL", "k"]), bulk("z"));
    assert_eq!(c.cmd(&["GET", "k"]), nil());
    assert_eq!(c.cmd(&["APPEND", "a", "hello"]), int(5));
    assert_eq!(c.cmd(&["APPEND", "a", " world"]), int(11));
    assert_eq!(c.cmd(&["STRLEN", "a"]), int(11));
    s.shutdown();
}

#[test]
fn counters() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["INCR", "n"]), int(1));
    assert_eq!(c.cmd(&["INCRBY", "n", "41"]), int(42));
    assert_eq!(c.cmd(&["DECRBY", "n", "2"]), int(40));
    assert_eq!(c.cmd(&["DECR", "n"]), int(39));
    assert_eq!(c.cmd(&["SET", "big", "9223372036854775807"]), ok());
    assert_eq!(
        c.cmd(&["INCR", "big"]),
        err("ERR increment or decrement would overflow")
    );
    assert_eq!(c.cmd(&["SET", "s", "abc"]), ok());
    assert_eq!(
        c.cmd(&["INCR", "s"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "10.5"]), bulk("10.5"));
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
    assert_eq!(
        c.cmd(&["INCRBYFLOAT", "s", "1"]),
        err("ERR value is not a valid float")
    );
    s.shutdown();
}

#[test]
fn mset_mget_msetnx_across_shards() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    let mut args = vec!["MSET"];
    let keys: Vec<String> = (0..50).map(|i| format!("key:{i}")).collect();
    for k in &keys {
        args.push(k);
        args.push(k);
    }
    assert_eq!(c.cmd(&args), ok());
    let mut get = vec!["MGET"];
    get.extend(keys.iter().map(|s| s.as_str()));
    get.push("nope");
    let mut want: Vec<_> = keys.iter().map(|k| bulk(k)).collect();
    want.push(nil());
    assert_eq!(c.cmd(&get), arr(want));
    assert_eq!(c.cmd(&["MSETNX", "key:1", "x", "fresh", "y"]), int(0));
    assert_eq!(c.cmd(&["GET", "fresh"]), nil());
    assert_eq!(c.cmd(&["MSETNX", "fresh", "x", "fresh2", "y"]), int(1));
    assert_eq!(
        c.cmd(&["MGET", "fresh", "fresh2"]),
        arr(vec![bulk("x"), bulk("y")])
    );
    assert_eq!(
        c.cmd(&["MSET", "a"]),
        err("ERR wrong number of arguments for 'mset' command")
    );
    s.shutdown();
}

/// Two keys owned by different shards of a `threads`-thread server.
fn keys_on_two_shards(threads: usize) -> (String, String) {
    use damselfly_coordinator::shard::{key_hash, shard_of};
    let shard = |k: &str| shard_of(key_hash(k.as_bytes()), threads);
    let a = "lcs:a".to_string();
    let b = (0..)
        .map(|i| format!("lcs:b{i}"))
        .find(|k| shard(k) != shard(&a))
        .expect("some key lands elsewhere");
    (a, b)
}

#[test]
fn getex_options() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["SET", "k", "hello"]), ok());
    // A missing key answers nil before the expire value is looked at.
    assert_eq!(c.cmd(&["GETEX", "missing", "EX", "0"]), nil());
    assert_eq!(c.cmd(&["GETEX", "missing", "EX", "abc"]), nil());
    assert_eq!(
        c.cmd(&["GETEX", "k", "EX", "0"]),
        err("ERR invalid expire time in 'getex' command")
    );
    assert_eq!(
        c.cmd(&["GETEX", "k", "EX", "-1"]),
        err("ERR invalid expire time in 'getex' command")
    );
    assert_eq!(
        c.cmd(&["GETEX", "k", "EX", "abc"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["GETEX", "k", "PX", "9223372036854775807"]),
        err("ERR invalid expire time in 'getex' command")
    );
    assert_eq!(
        c.cmd(&["GETEX", "k", "EX", "9223372036854775"]),
        err("ERR invalid expire time in 'getex' command")
    );
    for bad in [
        &["EX", "10", "PX", "100"][..],
        &["PERSIST", "EX", "10"],
        &["EX", "10", "PERSIST"],
        &["KEEPTTL"],
        &["NX"],
        &["GET"],
        &["EX"],
    ] {
        let mut cmd = vec!["GETEX", "k"];
        cmd.extend_from_slice(bad);
        assert_eq!(c.cmd(&cmd), err("ERR syntax error"), "{bad:?}");
    }
    assert_eq!(
        c.cmd(&["GETEX"]),
        err("ERR wrong number of arguments for 'getex' command")
    );
    // The same option twice: the last one wins.
    assert_eq!(
        c.cmd(&["GETEX", "k", "PX", "100000", "px", "50"]),
        bulk("hello")
    );
    assert_eq!(c.cmd(&["GETEX", "k2", "PERSIST", "PERSIST"]), nil());
    std::thread::sleep(std::time::Duration::from_millis(150));
    assert_eq!(c.cmd(&["GET", "k"]), nil());
    // PERSIST drops the deadline; plain GETEX keeps it.
    assert_eq!(c.cmd(&["SET", "k", "v", "PX", "400"]), ok());
    assert_eq!(c.cmd(&["GETEX", "k", "PERSIST"]), bulk("v"));
    assert_eq!(c.cmd(&["SET", "t", "v", "PX", "400"]), ok());
    assert_eq!(c.cmd(&["GETEX", "t"]), bulk("v"));
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
    assert_eq!(c.cmd(&["GET", "t"]), nil());
    // An absolute deadline in the past deletes the key after replying with it.
    assert_eq!(c.cmd(&["GETEX", "k", "EXAT", "1"]), bulk("v"));
    assert_eq!(c.cmd(&["GET", "k"]), nil());
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(c.cmd(&["GETEX", "k", "pxat", "1"]), bulk("v"));
    assert_eq!(c.cmd(&["GET", "k"]), nil());
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(
        c.cmd(&["GETEX", "k", "PXAT", "9223372036854775807"]),
        bulk("v")
    );
    assert_eq!(
        c.cmd(&["GETEX", "k", "EXAT", "9223372036854775"]),
        bulk("v")
    );
    assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
    s.shutdown();
}

#[test]
fn set_repeated_options_like_redis() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["SET", "k", "v", "PX", "100000", "PX", "50"]), ok());
    assert_eq!(c.cmd(&["SET", "j", "v", "PX", "abc", "PX", "50"]), ok());
    assert_eq!(c.cmd(&["SET", "p", "v", "PX", "50", "PX", "100000"]), ok());
    assert_eq!(c.cmd(&["SET", "q", "v", "KEEPTTL", "KEEPTTL"]), ok());
    assert_eq!(c.cmd(&["SET", "q", "w", "GET", "GET"]), bulk("v"));
    assert_eq!(c.cmd(&["SET", "q", "w", "NX", "NX"]), nil());
    assert_eq!(c.cmd(&["SET", "q", "x", "XX", "XX"]), ok());
    for bad in [
        &["EX", "10", "KEEPTTL"][..],
        &["KEEPTTL", "EX", "10"],
        &["PX", "10", "EX", "10"],
        &["NX", "XX"],
        &["XX", "NX"],
        &["EX"],
        &["PERSIST"],
    ] {
        let mut cmd = vec!["SET", "k", "v"];
        cmd.extend_from_slice(bad);
        assert_eq!(c.cmd(&cmd), err("ERR syntax error"), "{bad:?}");
    }
    std::thread::sleep(std::time::Duration::from_millis(150));
    assert_eq!(
        c.cmd(&["MGET", "k", "j", "p"]),
        arr(vec![nil(), nil(), bulk("v")])
    );
    s.shutdown();
}

#[test]
fn getrange_and_substr() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["SET", "s", "Hello"]), ok());
    for (start, end, want) in [
        ("0", "-1", "Hello"),
        ("-3", "-1", "llo"),
        ("-1", "-3", ""),
        ("-100", "100", "Hello"),
        ("3", "1", ""),
        ("5", "10", ""),
        ("-1", "-1", "o"),
        ("-6", "-6", "H"),
        ("4", "-1", "o"),
        ("5", "-1", ""),
        ("-9223372036854775808", "-1", "Hello"),
        ("0", "9223372036854775807", "Hello"),
        ("-9223372036854775808", "-9223372036854775808", "H"),
        ("9223372036854775807", "-9223372036854775808", ""),
    ] {
        assert_eq!(
            c.cmd(&["GETRANGE", "s", start, end]),
            bulk(want),
            "{start} {end}"
        );
    }
    assert_eq!(c.cmd(&["SUBSTR", "s", "1", "2"]), bulk("el"));
    assert_eq!(c.cmd(&["GETRANGE", "missing", "0", "-1"]), bulk(""));
    assert_eq!(
        c.cmd(&["GETRANGE", "missing", "a", "b"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["GETRANGE", "s", "0", "b"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["GETRANGE", "s", "0"]),
        err("ERR wrong number of arguments for 'getrange' command")
    );
    assert_eq!(
        c.cmd(&["SUBSTR", "s", "0"]),
        err("ERR wrong number of arguments for 'substr' command")
    );
    // Integers read as their decimal text.
    assert_eq!(c.cmd(&["SET", "n", "12345"]), ok());
    assert_eq!(c.cmd(&["GETRANGE", "n", "1", "-2"]), bulk("234"));
    assert_eq!(c.cmd(&["SET", "e", ""]), ok());
    assert_eq!(c.cmd(&["GETRANGE", "e", "0", "-1"]), bulk(""));
    assert_eq!(c.cmd(&["GETRANGE", "e", "-1", "0"]), bulk(""));
    s.shutdown();
}

#[test]
fn setrange_and_limits() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["SET", "s", "Hello World"]), ok());
    assert_eq!(c.cmd(&["SETRANGE", "s", "6", "Redis"]), int(11));
    assert_eq!(c.cmd(&["GET", "s"]), bulk("Hello Redis"));
    assert_eq!(c.cmd(&["SETRANGE", "s", "9", "long tail"]), int(18));
    assert_eq!(c.cmd(&["GET", "s"]), bulk("Hello Redlong tail"));
    assert_eq!(c.cmd(&["SETRANGE", "m", "3", "ab"]), int(5));
    assert_eq!(c.cmd(&["GET", "m"]), bulk("\0\0\0ab"));
    assert_eq!(c.cmd(&["SETRANGE", "n", "0", "9"]), int(1));
    assert_eq!(c.cmd(&["SET", "n", "12345"]), ok());
    assert_eq!(c.cmd(&["SETRANGE", "n", "0", "9"]), int(5));
    assert_eq!(c.cmd(&["INCR", "n"]), int(92346));
    // Setting nothing: the length, and no key is created.
    assert_eq!(c.cmd(&["SETRANGE", "missing", "5", ""]), int(0));
    assert_eq!(c.cmd(&["GET", "missing"]), nil());
    assert_eq!(c.cmd(&["SETRANGE", "s", "100", ""]), int(18));
    assert_eq!(
        c.cmd(&["SETRANGE", "s", "-1", "x"]),
        err("ERR offset is out of range")
    );
    assert_eq!(
        c.cmd(&["SETRANGE", "s", "-1", ""]),
        err("ERR offset is out of range")
    );
    assert_eq!(
        c.cmd(&["SETRANGE", "s", "a", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["SETRANGE", "s", "9223372036854775808", "x"]),
        err("ERR value is not an integer or out of range")
    );
    let too_long = err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    assert_eq!(c.cmd(&["SETRANGE", "s", "536870912", "x"]), too_long);
    assert_eq!(c.cmd(&["SETRANGE", "s", "536870912", ""]), int(18));
    assert_eq!(c.cmd(&["SETRANGE", "missing", "536870912", ""]), int(0));
    assert_eq!(
        c.cmd(&["SETRANGE", "s", "9223372036854775807", "x"]),
        too_long
    );
    assert_eq!(c.cmd(&["SETRANGE", "missing", "536870912", "x"]), too_long);
    assert_eq!(c.cmd(&["GET", "missing"]), nil());
    s.shutdown();
}

#[test]
fn string_size_limit_follows_proto_max_bulk_len() {
    let s = damselfly::Server::builder()
        .bind("127.0.0.1")
        .port(0)
        .threads(2)
        .set("proto-max-bulk-len", "1mb")
        .start()
        .expect("server starts");
    let mut c = Client::connect(s.addr());
    let too_long = err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    assert_eq!(c.cmd(&["SETRANGE", "k", "1048575", "x"]), int(1048576));
    assert_eq!(c.cmd(&["APPEND", "k", "x"]), too_long);
    assert_eq!(c.cmd(&["SETRANGE", "k", "1048576", "x"]), too_long);
    assert_eq!(c.cmd(&["SETRANGE", "j", "1048570", "toolong"]), too_long);
    assert_eq!(c.cmd(&["STRLEN", "k"]), int(1048576));
    // APPEND to a missing key is not checked (Redis checks only existing strings).
    assert_eq!(c.cmd(&["APPEND", "j", "abc"]), int(3));
    // LCS's table may not exceed the limit either: (len_a + 1) * (len_b + 1) * 4 bytes.
    let a511 = "a".repeat(511);
    let a512 = "a".repeat(512);
    assert_eq!(c.cmd(&["MSET", "l511", &a511, "l512", &a512]), ok());
    assert_eq!(c.cmd(&["LCS", "l511", "l511", "LEN"]), int(511));
    assert_eq!(
        c.cmd(&["LCS", "l511", "l512", "LEN"]),
        err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
    );
    s.shutdown();
}

fn range(a: i64, b: i64) -> damselfly_protocol::Reply {
    arr(vec![int(a), int(b)])
}

#[test]
fn lcs_like_redis() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(
        c.cmd(&["MSET", "key1", "ohmytext", "key2", "mynewtext"]),
        ok()
    );
    assert_eq!(c.cmd(&["LCS", "key1", "key2"]), bulk("mytext"));
    assert_eq!(c.cmd(&["LCS", "key1", "key2", "LEN"]), int(6));
    let matches = |with_len: bool, min: i64| {
        #[allow(clippy::type_complexity)]
        let all: [((i64, i64), (i64, i64), i64); 2] = [((4, 7), (5, 8), 4), ((2, 3), (0, 1), 2)];
        let mut v = Vec::new();
        for ((a0, a1), (b0, b1), len) in all {
            if len >= min {
                let mut m = vec![range(a0, a1), range(b0, b1)];
                if with_len {
                    m.push(int(len));
                }
                v.push(arr(m));
            }
        }
        arr(vec![bulk("matches"), arr(v), bulk("len"), int(6)])
    };
    assert_eq!(c.cmd(&["LCS", "key1", "key2", "IDX"]), matches(false, 0));
    assert_eq!(
        c.cmd(&["LCS", "key1", "key2", "idx", "MINMATCHLEN", "4"]),
        matches(false, 4)
    );
    assert_eq!(
        c.cmd(&[
            "LCS",
            "key1",
            "key2",
            "IDX",
            "MINMATCHLEN",
            "4",
            "WITHMATCHLEN"
        ]),
        matches(true, 4)
    );
    assert_eq!(
        c.cmd(&["LCS", "key1", "key2", "IDX", "WITHMATCHLEN"]),
        matches(true, 0)
    );
    assert_eq!(
        c.cmd(&["LCS", "key1", "key2", "MINMATCHLEN", "-5", "IDX"]),
        matches(false, 0)
    );
    // LEN wins over WITHMATCHLEN; WITHMATCHLEN alone changes nothing.
    assert_eq!(
        c.cmd(&["LCS", "key1", "key2", "len", "withmatchlen"]),
        int(6)
    );
    assert_eq!(
        c.cmd(&["LCS", "key1", "key2", "withmatchlen"]),
        bulk("mytext")
    );
    assert_eq!(
        c.cmd(&["LCS", "key1", "key2", "LEN", "IDX"]),
        err("ERR If you want both the length and indexes, please just use IDX.")
    );
    assert_eq!(
        c.cmd(&["LCS", "key1", "key2", "MINMATCHLEN"]),
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["LCS", "key1", "key2", "FOO"]),
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["LCS", "key1", "key2", "MINMATCHLEN", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        c.cmd(&["LCS", "key1"]),
        err("ERR wrong number of arguments for 'lcs' command")
    );
    // Missing keys are empty strings.
    assert_eq!(c.cmd(&["LCS", "key1", "nokey"]), bulk(""));
    assert_eq!(c.cmd(&["LCS", "key1", "nokey", "LEN"]), int(0));
    assert_eq!(
        c.cmd(&["LCS", "nokey", "nokey2", "IDX"]),
        arr(vec![bulk("matches"), arr(vec![]), bulk("len"), int(0)])
    );
    // Ties resolve as Redis's walk back does.
    assert_eq!(c.cmd(&["MSET", "la", "abcbdab", "lb", "bdcaba"]), ok());
    assert_eq!(c.cmd(&["LCS", "la", "lb"]), bulk("bdab"));
    assert_eq!(c.cmd(&["LCS", "lb", "la"]), bulk("bcba"));
    let (ga, gb) = (
        "GCTAGCATTAAGCTTACGATCGATCGCTAG",
        "TCGATTACGGCATACGTTTAGCGATGC",
    );
    assert_eq!(c.cmd(&["MSET", "lc", ga, "ld", gb]), ok());
    assert_eq!(c.cmd(&["LCS", "lc", "ld"]), bulk("TCATTAGCTACGTCGATGC"));
    assert_eq!(
        c.cmd(&["LCS", "lc", "ld", "IDX", "MINMATCHLEN", "3"]),
        arr(vec![
            bulk("matches"),
            arr(vec![
                arr(vec![range(20, 23), range(21, 24)]),
                arr(vec![range(14, 17), range(12, 15)]),
                arr(vec![range(6, 8), range(3, 5)]),
            ]),
            bulk("len"),
            int(19),
        ])
    );
    assert_eq!(
        c.cmd(&["LCS", "la", "lb", "IDX", "WITHMATCHLEN"]),
        arr(vec![
            bulk("matches"),
            arr(vec![
                arr(vec![range(5, 6), range(3, 4), int(2)]),
                arr(vec![range(3, 4), range(0, 1), int(2)]),
            ]),
            bulk("len"),
            int(4),
        ])
    );
    assert_eq!(
        c.cmd(&["LCS", "lb", "la", "IDX"]),
        arr(vec![
            bulk("matches"),
            arr(vec![
                arr(vec![range(5, 5), range(5, 5)]),
                arr(vec![range(4, 4), range(3, 3)]),
                arr(vec![range(2, 2), range(2, 2)]),
                arr(vec![range(0, 0), range(1, 1)]),
            ]),
            bulk("len"),
            int(4),
        ])
    );
    // Integer-encoded values compare as their text.
    assert_eq!(
        c.cmd(&["MSET", "i1", "12345678901234567890", "i2", "12345"]),
        ok()
    );
    assert_eq!(c.cmd(&["LCS", "i1", "i2"]), bulk("12345"));
    s.shutdown();
}

#[test]
fn lcs_reads_both_shards_atomically() {
    let s = server(2);
    let (a, b) = keys_on_two_shards(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["MSET", &a, "aaaa", &b, "aaaa"]), ok());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (addr, a, b, stop) = (s.addr(), a.clone(), b.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut w = Client::connect(addr);
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let v = if i % 2 == 0 { "bbbb" } else { "aaaa" };
                assert_eq!(w.cmd(&["MSET", &a, v, &b, v]), ok());
                i += 1;
            }
        })
    };
    for _ in 0..300 {
        // Both values always come from the same MSET: the LCS is the whole string.
        assert_eq!(c.cmd(&["LCS", &a, &b, "LEN"]), int(4));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    s.shutdown();
}

/// keyspace_hits and keyspace_misses of INFO stats.
fn hits_misses(c: &mut Client) -> (i64, i64) {
    let damselfly_protocol::Reply::Bulk(text) = c.cmd(&["INFO", "stats"]) else {
        panic!("INFO replies with a bulk string");
    };
    let text = String::from_utf8(text).unwrap();
    let field = |name: &str| -> i64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("INFO stats has {name}"))
    };
    (field("keyspace_hits:"), field("keyspace_misses:"))
}

#[test]
fn reads_count_keyspace_hits_and_misses() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["SET", "s", "hello"]), ok());
    // (command, hits, misses) as redis-server 7 counts them.
    let cases: &[(&[&str], i64, i64)] = &[
        (&["GET", "s"], 1, 0),
        (&["GET", "nx"], 0, 1),
        (&["MGET", "s", "nx", "nx2"], 1, 2),
        (&["GETEX", "s"], 1, 0),
        (&["GETEX", "nx"], 0, 1),
        (&["GETEX", "s", "EX", "100"], 1, 0),
        (&["GETRANGE", "s", "0", "1"], 1, 0),
        (&["GETRANGE", "nx", "0", "1"], 0, 1),
        (&["GETRANGE", "s", "a", "b"], 0, 0),
        (&["SUBSTR", "s", "0", "1"], 1, 0),
        (&["STRLEN", "s"], 1, 0),
        (&["STRLEN", "nx"], 0, 1),
        (&["GETDEL", "nx"], 0, 1),
        (&["SET", "s", "hello", "GET"], 1, 0),
        (&["SET", "nx2", "v", "GET"], 0, 1),
        (&["GETSET", "nx3", "v"], 0, 1),
        (&["LCS", "s", "nx"], 1, 1),
        (&["LCS", "s", "s"], 2, 0),
        (&["SETRANGE", "s", "0", "h"], 0, 0),
        (&["APPEND", "s", "x"], 0, 0),
        (&["INCR", "cnt"], 0, 0),
        (&["SETNX", "s", "x"], 0, 0),
        (&["SET", "s", "hello"], 0, 0),
    ];
    for (cmd, hits, misses) in cases {
        let (h0, m0) = hits_misses(&mut c);
        c.cmd(cmd);
        let (h1, m1) = hits_misses(&mut c);
        assert_eq!((h1 - h0, m1 - m0), (*hits, *misses), "{cmd:?}");
    }
    s.shutdown();
}

/// APPEND, SETRANGE and SETBIT change values in place; the bytes must stay exactly what a
/// copy-on-write model says, through growth from int, inline and heap encodings.
#[test]
fn in_place_appends_ranges_and_bits_match_a_model() {
    let s = server(1);
    let mut c = Client::connect(s.addr());
    let mut model: Vec<u8> = b"12".to_vec();
    assert_eq!(c.cmd(&["SET", "v", "12"]), ok());
    let mut seed = 7u64;
    for step in 0..600u64 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = seed >> 33;
        match r % 3 {
            0 => {
                let piece = format!("<{step}>");
                model.extend_from_slice(piece.as_bytes());
                assert_eq!(c.cmd(&["APPEND", "v", &piece]), int(model.len() as i64));
            }
            1 => {
                let offset = (r as usize / 3) % (model.len() + 40);
                let piece = format!("[{step}]");
                if model.len() < offset + piece.len() {
                    model.resize(offset + piece.len(), 0);
                }
                model[offset..offset + piece.len()].copy_from_slice(piece.as_bytes());
                let reply = c.cmd(&["SETRANGE", "v", &offset.to_string(), &piece]);
                assert_eq!(reply, int(model.len() as i64));
            }
            _ => {
                let bit = (r / 3) % (model.len() as u64 * 8 + 64);
                let byte = (bit / 8) as usize;
                let old = model
                    .get(byte)
                    .is_some_and(|b| b & (0x80 >> (bit % 8)) != 0);
                if model.len() <= byte {
                    model.resize(byte + 1, 0);
                }
                model[byte] |= 0x80 >> (bit % 8);
                let reply = c.cmd(&["SETBIT", "v", &bit.to_string(), "1"]);
                assert_eq!(reply, int(old as i64));
            }
        }
    }
    assert_eq!(c.cmd(&["STRLEN", "v"]), int(model.len() as i64));
    assert_eq!(
        c.cmd(&["GET", "v"]),
        damselfly_protocol::Reply::Bulk(model.clone())
    );
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "v"]), bulk("raw"));
    s.shutdown();
}
