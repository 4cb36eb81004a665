//! DUMP and RESTORE over TCP: every type round trips through a payload (read back with the
//! type's own commands), every option (REPLACE, ABSTTL, IDLETIME, FREQ) and every error in
//! Redis's order and words (checked against redis-server 7.0).

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use damselfly_persistence::{crc64::crc64, dump::seal, RDB_VERSION};
use damselfly_protocol::Reply as R;
use std::time::{SystemTime, UNIX_EPOCH};

fn start(threads: usize) -> damselfly::ServerHandle {
    std::thread::spawn(move || server(threads))
        .join()
        .expect("server starts")
}

fn dump(c: &mut Client, key: &str) -> Vec<u8> {
    match c.cmd(&["DUMP", key]) {
        R::Bulk(b) => b,
        other => panic!("DUMP {key}: {other:?}"),
    }
}

fn restore(c: &mut Client, key: &str, ttl: &str, payload: &[u8], opts: &[&str]) -> R {
    let mut args: Vec<&[u8]> = vec![b"RESTORE", key.as_bytes(), ttl.as_bytes(), payload];
    args.extend(opts.iter().map(|o| o.as_bytes()));
    c.cmd_bytes(&args)
}

fn sorted(r: R) -> Vec<R> {
    let R::Array(mut items) = r else {
        panic!("not an array: {r:?}")
    };
    items.sort_by_key(|i| format!("{i:?}"));
    items
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A payload around `body` with `version` and a correct checksum.
fn payload_with_version(body: &[u8], version: u16) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(0, &p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

#[test]
fn every_type_round_trips() {
    let srv = start(2);
    let mut c = Client::connect(srv.addr());
    let big = "x".repeat(100);
    c.cmd(&["SET", "str", "hello"]);
    c.cmd(&["SET", "int", "-12345"]);
    c.cmd(&["SET", "long", &"abc".repeat(1000)]);
    c.cmd(&["RPUSH", "list", "a", "1", &big, "-7"]);
    c.cmd(&["SADD", "iset", "1", "2", "-30000"]);
    c.cmd(&["SADD", "lset", "a", "b", "3"]);
    for i in 0..600 {
        c.cmd(&["SADD", "hset", &format!("m{i}")]);
        c.cmd(&["RPUSH", "biglist", &format!("element-{i}-{big}")]);
        c.cmd(&["HSET", "bighash", &format!("f{i}"), &i.to_string()]);
        c.cmd(&["ZADD", "bigzset", &format!("{}.5", i), &format!("m{i}")]);
    }
    c.cmd(&["HSET", "hash", "f", "v", "n", "12"]);
    c.cmd(&["ZADD", "zset", "1", "a", "2.5", "b", "-inf", "c"]);
    let reads: &[(&str, &[&str], bool)] = &[
        ("str", &["GET"], false),
        ("int", &["GET"], false),
        ("long", &["GET"], false),
        ("list", &["LRANGE", "0", "-1"], false),
        ("biglist", &["LRANGE", "0", "-1"], false),
        ("iset", &["SMEMBERS"], true),
        ("lset", &["SMEMBERS"], true),
        ("hset", &["SMEMBERS"], true),
        ("hash", &["HGETALL"], true),
        ("bighash", &["HGETALL"], true),
        ("zset", &["ZRANGE", "0", "-1", "WITHSCORES"], false),
        ("bigzset", &["ZRANGE", "0", "-1", "WITHSCORES"], false),
    ];
    for (key, read, unordered) in reads {
        let p = dump(&mut c, key);
        let copy = format!("{key}:copy");
        assert_eq!(restore(&mut c, &copy, "0", &p, &[]), ok(), "{key}");
        let q = |c: &mut Client, k: &str| {
            let mut args = vec![read[0], k];
            args.extend(&read[1..]);
            let r = c.cmd(&args);
            if *unordered {
                R::Array(sorted(r))
            } else {
                r
            }
        };
        assert_eq!(q(&mut c, key), q(&mut c, &copy), "{key}");
        for probe in ["TYPE", "OBJECT"] {
            let args: Vec<&str> = if probe == "TYPE" {
                vec!["TYPE", key]
            } else {
                vec!["OBJECT", "ENCODING", key]
            };
            let mut copy_args = args.clone();
            *copy_args.last_mut().unwrap() = &copy;
            assert_eq!(c.cmd(&args), c.cmd(&copy_args), "{probe} {key}");
        }
        assert_eq!(c.cmd(&["TTL", &copy]), int(-1));
    }
    assert_eq!(c.cmd(&["DUMP", "missing"]), nil());
}

#[test]
fn replace_and_busy_key() {
    let srv = start(2);
    let mut c = Client::connect(srv.addr());
    c.cmd(&["SET", "a", "one"]);
    c.cmd(&["SET", "b", "two"]);
    let p = dump(&mut c, "a");
    let busy = err("BUSYKEY Target key name already exists.");
    assert_eq!(restore(&mut c, "b", "0", &p, &[]), busy);
    // The key check comes before the TTL and the payload are looked at.
    assert_eq!(restore(&mut c, "b", "-1", b"junk", &[]), busy);
    assert_eq!(restore(&mut c, "b", "0", &p, &["REPLACE"]), ok());
    assert_eq!(c.cmd(&["GET", "b"]), bulk("one"));
    // REPLACE drops the old TTL; an old list is replaced by a string.
    c.cmd(&["DEL", "b"]);
    c.cmd(&["RPUSH", "b", "x"]);
    c.cmd(&["EXPIRE", "b", "100"]);
    assert_eq!(restore(&mut c, "b", "0", &p, &["replace"]), ok());
    assert_eq!(c.cmd(&["TYPE", "b"]), simple("string"));
    assert_eq!(c.cmd(&["TTL", "b"]), int(-1));
}

#[test]
fn ttl_and_absttl() {
    let srv = start(2);
    let mut c = Client::connect(srv.addr());
    c.cmd(&["SET", "a", "v"]);
    let p = dump(&mut c, "a");
    assert_eq!(restore(&mut c, "t1", "10000", &p, &[]), ok());
    let R::Integer(pttl) = c.cmd(&["PTTL", "t1"]) else {
        panic!()
    };
    assert!((9000..=10000).contains(&pttl), "{pttl}");
    let at = now_ms() + 50_000;
    assert_eq!(
        restore(&mut c, "t2", &at.to_string(), &p, &["ABSTTL"]),
        ok()
    );
    assert_eq!(c.cmd(&["PEXPIRETIME", "t2"]), int(at as i64));
    // A deadline already past: OK, and nothing is stored (REPLACE still removes the old key).
    assert_eq!(restore(&mut c, "t3", "1000", &p, &["ABSTTL"]), ok());
    assert_eq!(c.cmd(&["EXISTS", "t3"]), int(0));
    c.cmd(&["SET", "t4", "old"]);
    assert_eq!(restore(&mut c, "t4", "1", &p, &["ABSTTL", "REPLACE"]), ok());
    assert_eq!(c.cmd(&["EXISTS", "t4"]), int(0));
    assert_eq!(
        restore(&mut c, "t5", "-1", &p, &[]),
        err("ERR Invalid TTL value, must be >= 0")
    );
    assert_eq!(
        restore(&mut c, "t5", "1.5", &p, &[]),
        err("ERR value is not an integer or out of range")
    );
    // The TTL is checked before the payload.
    assert_eq!(
        restore(&mut c, "t5", "-5", b"junk", &[]),
        err("ERR Invalid TTL value, must be >= 0")
    );
}

#[test]
fn idletime_and_freq_options() {
    let srv = start(1);
    let mut c = Client::connect(srv.addr());
    c.cmd(&["SET", "a", "v"]);
    let p = dump(&mut c, "a");
    assert_eq!(restore(&mut c, "i1", "0", &p, &["IDLETIME", "1000"]), ok());
    assert_eq!(c.cmd(&["GET", "i1"]), bulk("v"));
    assert_eq!(restore(&mut c, "i2", "0", &p, &["FREQ", "255"]), ok());
    assert_eq!(
        restore(&mut c, "i3", "0", &p, &["IDLETIME", "-1"]),
        err("ERR Invalid IDLETIME value, must be >= 0")
    );
    assert_eq!(
        restore(&mut c, "i3", "0", &p, &["IDLETIME", "x"]),
        err("ERR value is not an integer or out of range")
    );
    for bad in ["256", "-1"] {
        assert_eq!(
            restore(&mut c, "i3", "0", &p, &["FREQ", bad]),
            err("ERR Invalid FREQ value, must be >= 0 and <= 255")
        );
    }
    let syntax = err("ERR syntax error");
    assert_eq!(
        restore(&mut c, "i3", "0", &p, &["IDLETIME", "1", "FREQ", "1"]),
        syntax
    );
    assert_eq!(
        restore(&mut c, "i3", "0", &p, &["FREQ", "1", "IDLETIME", "1"]),
        syntax
    );
    assert_eq!(restore(&mut c, "i3", "0", &p, &["IDLETIME"]), syntax);
    assert_eq!(restore(&mut c, "i3", "0", &p, &["NOPE"]), syntax);
    // Options are parsed before the key is looked at.
    assert_eq!(restore(&mut c, "a", "0", &p, &["NOPE"]), syntax);
    assert_eq!(c.cmd(&["EXISTS", "i3"]), int(0));
}

#[test]
fn bad_payloads() {
    let srv = start(2);
    let mut c = Client::connect(srv.addr());
    c.cmd(&["RPUSH", "l", "a", "b", "c"]);
    let p = dump(&mut c, "l");
    let wrong = err("ERR DUMP payload version or checksum are wrong");
    assert_eq!(restore(&mut c, "x", "0", b"", &[]), wrong);
    assert_eq!(restore(&mut c, "x", "0", &p[..9], &[]), wrong);
    assert_eq!(restore(&mut c, "x", "0", &p[..p.len() - 1], &[]), wrong);
    for i in 0..p.len() {
        let mut q = p.clone();
        q[i] ^= 0x10;
        assert_eq!(restore(&mut c, "x", "0", &q, &[]), wrong, "byte {i}");
    }
    let body = &p[..p.len() - 10];
    assert_eq!(
        restore(
            &mut c,
            "x",
            "0",
            &payload_with_version(body, RDB_VERSION + 1),
            &[]
        ),
        wrong
    );
    assert_eq!(
        restore(&mut c, "v9", "0", &payload_with_version(body, 9), &[]),
        ok()
    );
    let bad = err("ERR Bad data format");
    for junk in [
        &[0xffu8][..],
        &[15, 0],
        &[6, 1, 2, 3],
        &[2, 0],
        &[0, 0x82],
        &[0],
        &[],
    ] {
        let mut q = junk.to_vec();
        seal(&mut q);
        assert_eq!(restore(&mut c, "x", "0", &q, &[]), bad, "{junk:?}");
    }
    for cut in 1..body.len() {
        assert_eq!(
            restore(
                &mut c,
                "x",
                "0",
                &payload_with_version(&body[..cut], 10),
                &[]
            ),
            bad,
            "cut {cut}"
        );
    }
    assert_eq!(c.cmd(&["EXISTS", "x"]), int(0));
    assert_eq!(
        c.cmd(&["LRANGE", "v9", "0", "-1"]),
        arr(vec![bulk("a"), bulk("b"), bulk("c")])
    );
}

#[test]
fn inside_multi() {
    let srv = start(2);
    let mut c = Client::connect(srv.addr());
    c.cmd(&["SET", "a", "v"]);
    let p = dump(&mut c, "a");
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["DUMP", "a"]), simple("QUEUED"));
    assert_eq!(restore(&mut c, "b", "0", &p, &[]), simple("QUEUED"));
    assert_eq!(restore(&mut c, "b", "0", &p, &[]), simple("QUEUED"));
    assert_eq!(
        c.cmd(&["EXEC"]),
        arr(vec![
            R::Bulk(p.clone()),
            ok(),
            err("BUSYKEY Target key name already exists.")
        ])
    );
    assert_eq!(c.cmd(&["GET", "b"]), bulk("v"));
    assert_eq!(
        c.cmd(&["DUMP"]),
        err("ERR wrong number of arguments for 'dump' command")
    );
    assert_eq!(
        c.cmd(&["RESTORE", "a", "0"]),
        err("ERR wrong number of arguments for 'restore' command")
    );
}
