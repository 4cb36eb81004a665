//! The per-key access clock: OBJECT IDLETIME and FREQ, RESTORE IDLETIME/FREQ, TOUCH, the
//! commands that leave the clock alone, the lfu-* parameters, and memcached's `mg l` and
//! `me` — against redis-server's and memcached's replies where they are deterministic.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::memcached::{self as mcd, Mc};
use common::reference::start_redis;
use common::*;
use damselfly_protocol::Reply;
use std::time::Duration;

fn redis_client(port: u16) -> Client {
    Client::connect(([127, 0, 0, 1], port).into())
}

fn as_int(r: Reply) -> i64 {
    match r {
        Reply::Integer(i) => i,
        other => panic!("not an integer: {other:?}"),
    }
}

fn as_bulk(r: Reply) -> Vec<u8> {
    match r {
        Reply::Bulk(b) => b,
        other => panic!("not a bulk: {other:?}"),
    }
}

/// Commands whose replies do not depend on time: identical on both servers.
const SCRIPT: &[&[&str]] = &[
    &["set", "foo", "bar"],
    &["object", "freq", "foo"],
    &["object", "freq", "nokey"],
    &["object", "idletime", "nokey"],
    &["object", "idletime", "foo", "extra"],
    &["config", "set", "lfu-log-factor", "-1"],
    &["config", "set", "lfu-decay-time", "x"],
    // One at a time: a pattern's reply order is Redis's hash-table order.
    &["config", "get", "lfu-decay-time"],
    &["config", "set", "lfu-log-factor", "3"],
    &["config", "get", "lfu-log-factor"],
    &["config", "set", "maxmemory-policy", "allkeys-lfu"],
    &["object", "idletime", "foo"],
    &["object", "idletime", "nokey"],
    &["set", "new", "v"],
    &["object", "freq", "new"],
    &["config", "set", "maxmemory-policy", "volatile-lfu"],
    &["object", "idletime", "foo"],
    &["config", "set", "maxmemory-policy", "volatile-lru"],
    &["object", "freq", "foo"],
    &["touch", "foo", "nokey", "new"],
    &["config", "set", "maxmemory-policy", "noeviction"],
    &["config", "set", "lfu-log-factor", "10"],
];

#[test]
fn object_replies_and_errors_match_redis() {
    let Some(reference) = start_redis() else {
        return;
    };
    let s = server(2);
    let mut ours = Client::connect(s.addr());
    let mut theirs = redis_client(reference.port);
    for args in SCRIPT {
        if args[..2] == ["set", "new"] {
            // The shards pick a policy change up on their next heartbeat tick.
            std::thread::sleep(Duration::from_millis(100));
        }
        let (a, b) = (ours.cmd_raw(args), theirs.cmd_raw(args));
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "{args:?}"
        );
    }
}

/// RESTORE IDLETIME under an LRU policy, FREQ under an LFU one (unit/dump's "RESTORE can
/// set LRU" / "can set LFU"), on both servers.
#[test]
fn restore_sets_idle_time_and_frequency_like_redis() {
    let reference = start_redis();
    let s = server(2);
    let mut clients = vec![Client::connect(s.addr())];
    if let Some(r) = &reference {
        clients.push(redis_client(r.port));
    }
    for c in &mut clients {
        assert_eq!(c.cmd(&["set", "foo", "bar"]), ok());
        let dump = as_bulk(c.cmd(&["dump", "foo"]));
        c.cmd(&["del", "foo"]);
        let restore = |c: &mut Client, extra: &[&[u8]]| {
            let mut args: Vec<&[u8]> = vec![b"restore", b"foo", b"0", &dump];
            args.extend_from_slice(extra);
            c.cmd_bytes(&args)
        };
        assert_eq!(restore(c, &[b"idletime", b"1000"]), ok());
        let idle = as_int(c.cmd(&["object", "idletime", "foo"]));
        assert!((1000..=1010).contains(&idle), "idle {idle}");
        // A read makes it fresh again; OBJECT itself does not.
        c.cmd(&["get", "foo"]);
        assert!(as_int(c.cmd(&["object", "idletime", "foo"])) <= 1);
        c.cmd(&["del", "foo"]);
        assert_eq!(
            c.cmd(&["config", "set", "maxmemory-policy", "allkeys-lfu"]),
            ok()
        );
        assert_eq!(restore(c, &[b"freq", b"100"]), ok());
        assert_eq!(c.cmd(&["object", "freq", "foo"]), int(100));
        assert_eq!(c.cmd(&["object", "freq", "foo"]), int(100));
        // FREQ is ignored under an LRU policy and IDLETIME under an LFU one.
        c.cmd(&["del", "foo"]);
        assert_eq!(restore(c, &[b"idletime", b"5000"]), ok());
        let freq = as_int(c.cmd(&["object", "freq", "foo"]));
        assert!(freq <= 5, "freq {freq}");
        c.cmd(&["del", "foo"]);
        assert_eq!(
            c.cmd(&["config", "set", "maxmemory-policy", "allkeys-lru"]),
            ok()
        );
        assert_eq!(restore(c, &[b"freq", b"100"]), ok());
        assert!(as_int(c.cmd(&["object", "idletime", "foo"])) <= 1);
        assert_eq!(
            restore(c, &[b"replace", b"idletime", b"-1"]),
            err("ERR Invalid IDLETIME value, must be >= 0")
        );
        assert_eq!(
            restore(c, &[b"replace", b"freq", b"256"]),
            err("ERR Invalid FREQ value, must be >= 0 and <= 255")
        );
        c.cmd(&["config", "set", "maxmemory-policy", "noeviction"]);
    }
}

#[test]
fn idle_time_grows_and_only_real_accesses_reset_it() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    for k in ["a", "b", "c", "d"] {
        c.cmd(&["set", k, "v"]);
    }
    assert_eq!(c.cmd(&["object", "idletime", "a"]), int(0));
    std::thread::sleep(Duration::from_millis(2100));
    for k in ["a", "b", "c", "d"] {
        assert!(as_int(c.cmd(&["object", "idletime", k])) >= 2, "{k}");
    }
    // EXISTS, TYPE, TTL and OBJECT leave the clock alone; GET, SET and TOUCH move it.
    c.cmd(&["exists", "a"]);
    c.cmd(&["type", "a"]);
    c.cmd(&["ttl", "a"]);
    c.cmd(&["object", "encoding", "a"]);
    assert!(as_int(c.cmd(&["object", "idletime", "a"])) >= 2);
    c.cmd(&["get", "b"]);
    c.cmd(&["set", "c", "w"]);
    assert_eq!(c.cmd(&["touch", "d", "nokey"]), int(1));
    for k in ["b", "c", "d"] {
        assert!(as_int(c.cmd(&["object", "idletime", k])) <= 1, "{k}");
    }
}

#[test]
fn lfu_counter_starts_at_five_and_grows_with_hits() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(
        c.cmd(&["config", "set", "maxmemory-policy", "allkeys-lfu"]),
        ok()
    );
    std::thread::sleep(Duration::from_millis(100));
    c.cmd(&["set", "cold", "v"]);
    c.cmd(&["set", "hot", "v"]);
    assert_eq!(c.cmd(&["object", "freq", "cold"]), int(5));
    for _ in 0..2000 {
        c.cmd(&["get", "hot"]);
    }
    let hot = as_int(c.cmd(&["object", "freq", "hot"]));
    // Redis's table for lfu-log-factor 10: about 18 after 1000 hits, 142 after 100K.
    assert!((12..=40).contains(&hot), "hot {hot}");
    assert_eq!(c.cmd(&["object", "freq", "cold"]), int(5));
    // With factor 0 every hit counts.
    c.cmd(&["config", "set", "lfu-log-factor", "0"]);
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..50 {
        c.cmd(&["get", "cold"]);
    }
    assert_eq!(c.cmd(&["object", "freq", "cold"]), int(55));
}

/// `mg ... l h` and `me` as memcached 1.6.18 answers them (the access time in seconds may
/// differ by one: both clocks tick once a second, not in step).
#[test]
fn memcached_last_access_and_meta_debug() {
    let (_server, addr) = mcd::damselfly(2);
    let mut ours = Mc::connect(addr);
    let reference = mcd::start_memcached();
    let mut theirs = reference.as_ref().map(|m| Mc::connect(m.addr));
    let mut both = |req: &str| {
        let a = ours.q(req);
        if let Some(t) = theirs.as_mut() {
            let b = t.q(req);
            let norm = |s: &str| s.replace("l1", "l0").replace("la=1 ", "la=0 ");
            assert_eq!(norm(&a), norm(&b), "{req:?}");
        }
        a
    };
    both("set foo 0 0 3|bar|");
    both("set bar 5 100 2|hi|");
    both("mg foo l h v|");
    both("mg foo h l|");
    both("me foo|");
    both("me bar|");
    both("mg bar v|");
    both("me bar|");
    both("me Zm9v b|");
    both("me nokey|");
    both("mg nokey l|");
    both("ms foo 1 l|x|");
    both("md foo l|");
    both("me foo|");
    // Ours alone: the access time grows, `u` and `me` do not reset it, a fetch does.
    let _ = ours.q("set idle 0 0 1|x|mg idle v|");
    std::thread::sleep(Duration::from_millis(2100));
    let got = ours.q("mg idle l u|");
    assert!(got == "HD l2\r\n" || got == "HD l3\r\n", "{got:?}");
    assert!(ours.q("me idle|").contains(" la=2 ") || ours.q("me idle|").contains(" la=3 "));
    let _ = ours.q("mg idle|");
    assert_eq!(ours.q("mg idle l|"), "HD l0\r\n");
}
