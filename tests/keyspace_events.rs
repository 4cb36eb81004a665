//! Keyspace notifications over TCP: a `PSUBSCRIBE *` client on a 2- and a 4-proactor server
//! sees exactly the events (names, classes, order) Redis 7.0 raises for a sequence of writes
//! over every family; the class mask filters; `notify-keyspace-events` validates and shows
//! its value as Redis does.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
mod events_common;
use common::*;
use damselfly_protocol::Reply as R;
use events_common::{assert_same_per_key, both, Listener, Message};

/// Starts the server from a short-lived thread (see tests/keyspace.rs: the io_uring probe's
/// teardown would otherwise interrupt this thread's next read).
fn start(threads: usize) -> damselfly::ServerHandle {
    std::thread::spawn(move || server(threads))
        .join()
        .expect("server starts")
}

type Step = (
    &'static [&'static str],
    &'static [(usize, &'static str, &'static str)],
);

/// Each write and the events Redis 7.0 raises for it, as (db, event, key), in its order.
const STEPS: &[Step] = &[
    // strings
    (&["SET", "s1", "v"], &[(0, "set", "s1")]),
    (
        &["SET", "s1", "v", "EX", "100"],
        &[(0, "set", "s1"), (0, "expire", "s1")],
    ),
    (&["SET", "s1", "v", "NX"], &[]),
    (&["SET", "s1", "w", "XX", "KEEPTTL"], &[(0, "set", "s1")]),
    (&["SET", "s1", "w", "XX", "GET"], &[(0, "set", "s1")]),
    (
        &["SETEX", "s2", "100", "v"],
        &[(0, "set", "s2"), (0, "expire", "s2")],
    ),
    (
        &["PSETEX", "s2", "100000", "v"],
        &[(0, "set", "s2"), (0, "expire", "s2")],
    ),
    (&["GETEX", "s2", "PERSIST"], &[(0, "persist", "s2")]),
    (&["GETEX", "s2", "PERSIST"], &[]),
    (&["GETEX", "s2"], &[]),
    (&["GETEX", "s2", "EX", "100"], &[(0, "expire", "s2")]),
    (&["GETEX", "s2", "PXAT", "1"], &[(0, "del", "s2")]),
    (&["GETDEL", "s1"], &[(0, "del", "s1")]),
    (&["GETDEL", "s1"], &[]),
    (&["INCR", "n"], &[(0, "incrby", "n")]),
    (&["DECR", "n"], &[(0, "incrby", "n")]),
    (&["INCRBY", "n", "7"], &[(0, "incrby", "n")]),
    (&["DECRBY", "n", "5"], &[(0, "incrby", "n")]),
    (&["INCRBYFLOAT", "n", "1.5"], &[(0, "incrbyfloat", "n")]),
    (&["INCR", "n"], &[]),
    (&["APPEND", "a", "xy"], &[(0, "append", "a")]),
    (&["SETRANGE", "a", "1", "zz"], &[(0, "setrange", "a")]),
    (&["SETRANGE", "a", "1", ""], &[]),
    (&["SETRANGE", "nosuch", "1", ""], &[]),
    (
        &["MSET", "m1", "1", "m2", "2"],
        &[(0, "set", "m1"), (0, "set", "m2")],
    ),
    (&["MSETNX", "m1", "1", "m3", "3"], &[]),
    (
        &["MSETNX", "m4", "1", "m5", "3"],
        &[(0, "set", "m4"), (0, "set", "m5")],
    ),
    (&["GETSET", "m1", "x"], &[(0, "set", "m1")]),
    (&["SETNX", "m3", "3"], &[(0, "set", "m3")]),
    (&["SETNX", "m3", "3"], &[]),
    // bitmaps
    (&["SETBIT", "b", "7", "1"], &[(0, "setbit", "b")]),
    (&["SETBIT", "b", "7", "1"], &[]),
    (&["SETBIT", "b", "7", "0"], &[(0, "setbit", "b")]),
    (
        &["BITFIELD", "b", "SET", "u8", "0", "255"],
        &[(0, "setbit", "b")],
    ),
    (&["BITFIELD", "b", "SET", "u8", "0", "255"], &[]),
    (&["BITFIELD", "b", "GET", "u8", "0"], &[]),
    (
        &[
            "BITFIELD", "b", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "1",
        ],
        &[],
    ),
    (
        &["BITFIELD", "b", "INCRBY", "u8", "0", "1"],
        &[(0, "setbit", "b")],
    ),
    (&["BITOP", "NOT", "bn", "b"], &[(0, "set", "bn")]),
    (&["BITOP", "AND", "bn", "nosuch"], &[(0, "del", "bn")]),
    (&["BITOP", "AND", "bn", "nosuch"], &[]),
    // keyspace
    (
        &["DEL", "m1", "m2", "nosuch"],
        &[(0, "del", "m1"), (0, "del", "m2")],
    ),
    (
        &["UNLINK", "m4", "m5"],
        &[(0, "del", "m4"), (0, "del", "m5")],
    ),
    (&["EXPIRE", "m3", "100"], &[(0, "expire", "m3")]),
    (&["EXPIRE", "m3", "100", "NX"], &[]),
    (&["PERSIST", "m3"], &[(0, "persist", "m3")]),
    (&["PERSIST", "m3"], &[]),
    (
        &["PEXPIREAT", "m3", "99999999999999"],
        &[(0, "expire", "m3")],
    ),
    (&["PEXPIRE", "m3", "-1"], &[(0, "del", "m3")]),
    (&["EXPIRE", "nosuch", "-1"], &[]),
    (&["SET", "r1", "v"], &[(0, "set", "r1")]),
    (
        &["RENAME", "r1", "r2"],
        &[(0, "rename_from", "r1"), (0, "rename_to", "r2")],
    ),
    (&["RENAME", "r2", "r2"], &[]),
    (&["RENAMENX", "r2", "n"], &[]),
    (
        &["RENAMENX", "r2", "r1"],
        &[(0, "rename_from", "r2"), (0, "rename_to", "r1")],
    ),
    (&["COPY", "r1", "r3"], &[(0, "copy_to", "r3")]),
    (&["COPY", "r1", "r3"], &[]),
    (
        &["MOVE", "r3", "1"],
        &[(0, "move_from", "r3"), (1, "move_to", "r3")],
    ),
    (&["COPY", "r1", "r3", "DB", "1"], &[]),
    (
        &["COPY", "r1", "r3", "DB", "1", "REPLACE"],
        &[(1, "copy_to", "r3")],
    ),
    (&["EXPIREAT", "r1", "1"], &[(0, "del", "r1")]),
    (&["FLUSHDB"], &[]),
    // lists
    (&["RPUSH", "l", "a", "b", "c"], &[(0, "rpush", "l")]),
    (&["LPUSHX", "nol", "x"], &[]),
    (&["LPUSHX", "l", "x"], &[(0, "lpush", "l")]),
    (&["LPOP", "l"], &[(0, "lpop", "l")]),
    (&["LPOP", "l", "0"], &[]),
    (&["LPOP", "l"], &[(0, "lpop", "l")]),
    (&["LSET", "l", "0", "z"], &[(0, "lset", "l")]),
    (&["LSET", "l", "9", "z"], &[]),
    (
        &["LINSERT", "l", "BEFORE", "z", "y"],
        &[(0, "linsert", "l")],
    ),
    (&["LINSERT", "l", "BEFORE", "nope", "y"], &[]),
    (&["LREM", "l", "0", "nope"], &[]),
    (&["LREM", "l", "0", "y"], &[(0, "lrem", "l")]),
    (
        &["LMOVE", "l", "l2", "LEFT", "RIGHT"],
        &[(0, "rpush", "l2"), (0, "lpop", "l")],
    ),
    (
        &["RPOPLPUSH", "l", "l2"],
        &[(0, "lpush", "l2"), (0, "rpop", "l"), (0, "del", "l")],
    ),
    (&["RPOPLPUSH", "l", "l2"], &[]),
    (&["LTRIM", "l2", "0", "0"], &[(0, "ltrim", "l2")]),
    (
        &["LTRIM", "l2", "5", "10"],
        &[(0, "ltrim", "l2"), (0, "del", "l2")],
    ),
    (&["RPUSH", "l3", "1", "2", "3"], &[(0, "rpush", "l3")]),
    (
        &["LMPOP", "2", "nol", "l3", "LEFT", "COUNT", "2"],
        &[(0, "lpop", "l3")],
    ),
    (&["RPOP", "l3", "5"], &[(0, "rpop", "l3"), (0, "del", "l3")]),
    (&["RPUSH", "l4", "x"], &[(0, "rpush", "l4")]),
    (
        &["BLPOP", "l4", "0"],
        &[(0, "lpop", "l4"), (0, "del", "l4")],
    ),
    (&["RPUSH", "l5", "a", "b"], &[(0, "rpush", "l5")]),
    (
        &["LMOVE", "l5", "l5", "LEFT", "RIGHT"],
        &[(0, "rpush", "l5"), (0, "lpop", "l5")],
    ),
    (
        &["BLMOVE", "l5", "l6", "RIGHT", "LEFT", "0"],
        &[(0, "lpush", "l6"), (0, "rpop", "l5")],
    ),
    (&["SET", "sx", "1"], &[(0, "set", "sx")]),
    (&["LPUSH", "sx", "x"], &[]),
    // hashes
    (&["HSET", "h", "f", "v", "g", "w"], &[(0, "hset", "h")]),
    (&["HSET", "h", "f", "v"], &[(0, "hset", "h")]),
    (&["HSETNX", "h", "f", "x"], &[]),
    (&["HSETNX", "h", "n", "x"], &[(0, "hset", "h")]),
    (&["HINCRBY", "h", "i", "2"], &[(0, "hincrby", "h")]),
    (&["HINCRBY", "h", "f", "2"], &[]),
    (
        &["HINCRBYFLOAT", "h", "fl", "1.5"],
        &[(0, "hincrbyfloat", "h")],
    ),
    (&["HDEL", "h", "nope"], &[]),
    (&["HDEL", "h", "f", "g"], &[(0, "hdel", "h")]),
    (
        &["HDEL", "h", "n", "i", "fl"],
        &[(0, "hdel", "h"), (0, "del", "h")],
    ),
    (&["HMSET", "h2", "a", "1"], &[(0, "hset", "h2")]),
    // sets
    (&["SADD", "st", "a", "b"], &[(0, "sadd", "st")]),
    (&["SADD", "st", "a"], &[]),
    (&["SREM", "st", "z"], &[]),
    (
        &["SMOVE", "st", "st2", "a"],
        &[(0, "srem", "st"), (0, "sadd", "st2")],
    ),
    (&["SMOVE", "st", "st2", "z"], &[]),
    (
        &["SMOVE", "st", "st2", "b"],
        &[(0, "srem", "st"), (0, "del", "st"), (0, "sadd", "st2")],
    ),
    (&["SADD", "st3", "a"], &[(0, "sadd", "st3")]),
    (&["SMOVE", "st2", "st3", "a"], &[(0, "srem", "st2")]),
    (&["SINTERSTORE", "sd", "st2", "st3"], &[]),
    (
        &["SUNIONSTORE", "sd", "st2", "st3"],
        &[(0, "sunionstore", "sd")],
    ),
    (&["SINTERSTORE", "sd", "st2", "st3"], &[(0, "del", "sd")]),
    (
        &["SDIFFSTORE", "sd", "st2", "st3"],
        &[(0, "sdiffstore", "sd")],
    ),
    (&["SINTERSTORE", "sd", "st2", "nosuch"], &[(0, "del", "sd")]),
    (
        &["SREM", "st3", "a", "z"],
        &[(0, "srem", "st3"), (0, "del", "st3")],
    ),
    (&["SPOP", "st2"], &[(0, "spop", "st2"), (0, "del", "st2")]),
    (&["SADD", "st3", "a", "b"], &[(0, "sadd", "st3")]),
    (&["SPOP", "st3", "0"], &[]),
    (
        &["SPOP", "st3", "5"],
        &[(0, "spop", "st3"), (0, "del", "st3")],
    ),
    (&["SPOP", "st3", "5"], &[]),
    // sorted sets
    (&["ZADD", "z", "1", "a", "2", "b"], &[(0, "zadd", "z")]),
    (&["ZADD", "z", "1", "a"], &[]),
    (&["ZADD", "z", "INCR", "5", "a"], &[(0, "zincr", "z")]),
    (&["ZINCRBY", "z", "1", "b"], &[(0, "zincr", "z")]),
    (&["ZADD", "z", "NX", "1", "a"], &[]),
    (&["ZADD", "z", "XX", "CH", "7", "a"], &[(0, "zadd", "z")]),
    (&["ZREM", "z", "nope"], &[]),
    (&["ZREM", "z", "a"], &[(0, "zrem", "z")]),
    (
        &["ZADD", "z", "1", "c", "2", "d", "4", "e"],
        &[(0, "zadd", "z")],
    ),
    (&["ZREMRANGEBYSCORE", "z", "100", "200"], &[]),
    (
        &["ZREMRANGEBYSCORE", "z", "1", "1"],
        &[(0, "zremrangebyscore", "z")],
    ),
    (
        &["ZREMRANGEBYRANK", "z", "0", "0"],
        &[(0, "zremrangebyrank", "z")],
    ),
    (
        &["ZADD", "zl", "0", "a", "0", "b", "0", "c"],
        &[(0, "zadd", "zl")],
    ),
    (
        &["ZREMRANGEBYLEX", "zl", "[a", "[a"],
        &[(0, "zremrangebylex", "zl")],
    ),
    (&["ZPOPMIN", "zl"], &[(0, "zpopmin", "zl")]),
    (
        &["ZPOPMAX", "zl", "5"],
        &[(0, "zpopmax", "zl"), (0, "del", "zl")],
    ),
    (
        &["ZUNIONSTORE", "zd", "1", "z"],
        &[(0, "zunionstore", "zd")],
    ),
    (
        &["ZINTERSTORE", "zd", "2", "z", "nosuch"],
        &[(0, "del", "zd")],
    ),
    (&["ZDIFFSTORE", "zd", "1", "z"], &[(0, "zdiffstore", "zd")]),
    (
        &["ZRANGESTORE", "zr", "z", "0", "-1"],
        &[(0, "zrangestore", "zr")],
    ),
    (&["ZRANGESTORE", "zr", "z", "5", "10"], &[(0, "del", "zr")]),
    (
        &["ZMPOP", "1", "z", "MIN", "COUNT", "10"],
        &[(0, "zpopmin", "z"), (0, "del", "z")],
    ),
    (&["ZADD", "z2", "1", "a"], &[(0, "zadd", "z2")]),
    (
        &["BZPOPMAX", "z2", "0"],
        &[(0, "zpopmax", "z2"), (0, "del", "z2")],
    ),
    // SORT ... STORE
    (&["RPUSH", "sl", "3", "1", "2"], &[(0, "rpush", "sl")]),
    (&["SORT", "sl", "STORE", "so"], &[(0, "sortstore", "so")]),
    (&["SORT", "nosuch", "STORE", "so"], &[(0, "del", "so")]),
    (&["SORT", "nosuch", "STORE", "so"], &[]),
];

fn expand(events: &[(usize, &str, &str)]) -> Vec<Message> {
    events
        .iter()
        .flat_map(|&(db, event, key)| both(db, event, key))
        .collect()
}

fn run_steps(threads: usize) {
    let server = start(threads);
    let mut w = Client::connect(server.addr());
    assert_eq!(
        w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        ok()
    );
    let mut l = Listener::new(server.addr());
    for (cmd, events) in STEPS {
        let reply = w.cmd(cmd);
        // Shown when a missing event makes the listener time out.
        eprintln!("{cmd:?} -> {reply:?}");
        let want = expand(events);
        let got = l.take(want.len());
        assert_same_per_key(&got, &want, &format!("{cmd:?} (reply {reply:?})"));
    }
    let rest = l.drain(&mut w);
    assert!(rest.is_empty(), "events nobody expected: {rest:?}");
    server.shutdown();
}

#[test]
fn every_family_raises_redis_events_on_2_proactors() {
    run_steps(2);
}

#[test]
fn every_family_raises_redis_events_on_4_proactors() {
    run_steps(4);
}

/// With one proactor the stream's order is the commands' order, keys interleaved and all.
#[test]
fn one_proactor_keeps_the_whole_order() {
    let server = start(1);
    let mut w = Client::connect(server.addr());
    assert_eq!(
        w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        ok()
    );
    let mut l = Listener::new(server.addr());
    let mut want = Vec::new();
    for (cmd, events) in STEPS {
        w.cmd(cmd);
        want.extend(expand(events));
    }
    assert_eq!(l.drain(&mut w), want);
    server.shutdown();
}

/// `n` adds `new` where a key is created, before the command's own event.
#[test]
fn new_events_come_first() {
    let server = start(2);
    let mut w = Client::connect(server.addr());
    assert_eq!(
        w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEAn"]),
        ok()
    );
    let mut l = Listener::new(server.addr());
    let steps: &[Step] = &[
        (&["SET", "k", "1"], &[(0, "new", "k"), (0, "set", "k")]),
        (&["SET", "k", "2"], &[(0, "set", "k")]),
        (&["RPUSH", "l", "a"], &[(0, "new", "l"), (0, "rpush", "l")]),
        (
            &["LMOVE", "l", "l2", "LEFT", "LEFT"],
            &[
                (0, "new", "l2"),
                (0, "lpush", "l2"),
                (0, "lpop", "l"),
                (0, "del", "l"),
            ],
        ),
        (&["SADD", "s", "a"], &[(0, "new", "s"), (0, "sadd", "s")]),
        (
            &["SUNIONSTORE", "d", "s"],
            &[(0, "new", "d"), (0, "sunionstore", "d")],
        ),
        (&["SUNIONSTORE", "d", "s"], &[(0, "sunionstore", "d")]),
        (
            &["ZADD", "z", "1", "a"],
            &[(0, "new", "z"), (0, "zadd", "z")],
        ),
        (&["ZUNIONSTORE", "z", "1", "z"], &[(0, "zunionstore", "z")]),
        (&["BITOP", "OR", "k", "k"], &[(0, "set", "k")]),
        (
            &["SORT", "l2", "ALPHA", "STORE", "l2"],
            &[(0, "sortstore", "l2")],
        ),
        (
            &["RENAME", "k", "k2"],
            &[
                (0, "new", "k2"),
                (0, "rename_from", "k"),
                (0, "rename_to", "k2"),
            ],
        ),
        (
            &["COPY", "k2", "k3"],
            &[(0, "new", "k3"), (0, "copy_to", "k3")],
        ),
        (
            &["MOVE", "k3", "1"],
            &[
                (1, "new", "k3"),
                (0, "move_from", "k3"),
                (1, "move_to", "k3"),
            ],
        ),
        (
            &["HSET", "h", "f", "1"],
            &[(0, "new", "h"), (0, "hset", "h")],
        ),
        (&["INCR", "i"], &[(0, "new", "i"), (0, "incrby", "i")]),
    ];
    for (cmd, events) in steps {
        let reply = w.cmd(cmd);
        // Shown when a missing event makes the listener time out.
        eprintln!("{cmd:?} -> {reply:?}");
        let want = expand(events);
        let got = l.take(want.len());
        assert_same_per_key(&got, &want, &format!("{cmd:?} (reply {reply:?})"));
    }
    assert!(l.drain(&mut w).is_empty());
    server.shutdown();
}

/// Only the enabled classes, and only the enabled channel kinds, are published.
#[test]
fn class_mask_filters() {
    let server = start(2);
    let mut w = Client::connect(server.addr());
    let mut l = Listener::new(server.addr());
    // Off: nothing at all.
    w.cmd(&["SET", "x", "1"]);
    assert!(l.drain(&mut w).is_empty());
    assert_eq!(
        w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Kl"]),
        ok()
    );
    w.cmd(&["SET", "x", "2"]);
    w.cmd(&["RPUSH", "y", "a"]);
    w.cmd(&["DEL", "y"]);
    let keyspace_only = both(0, "rpush", "y")[0].clone();
    assert_eq!(l.drain(&mut w), vec![keyspace_only]);
    assert_eq!(
        w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Eg$"]),
        ok()
    );
    w.cmd(&["SET", "x", "3"]);
    w.cmd(&["RPUSH", "y", "a"]);
    w.cmd(&["DEL", "y"]);
    w.cmd(&["SADD", "z", "a"]);
    let keyevent = |e: &str, k: &str| both(0, e, k)[1].clone();
    assert_eq!(
        l.drain(&mut w),
        vec![keyevent("set", "x"), keyevent("del", "y")]
    );
    // Classes without K or E publish nothing.
    assert_eq!(
        w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "A"]),
        ok()
    );
    w.cmd(&["SET", "x", "4"]);
    assert!(l.drain(&mut w).is_empty());
    server.shutdown();
}

#[test]
fn config_validates_and_shows_canonical_text() {
    let server = start(2);
    let mut c = Client::connect(server.addr());
    let invalid = "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";
    for bad in ["KEZ", "KEA n", "?"] {
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "notify-keyspace-events", bad]),
            err(invalid)
        );
    }
    // As redis-server 7.0 shows them.
    for (set, shown) in [
        ("EKg$", "g$KE"),
        ("AKE", "AKE"),
        ("gl", "gl"),
        ("xeK", "xeK"),
        ("", ""),
        ("lsh$zgA", "A"),
        ("nK", "nK"),
        ("AKEm", "AKEm"),
        ("KEAn", "AKE"),
        ("Ag$lshzxeKEtmdn", "AKEm"),
    ] {
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "notify-keyspace-events", set]),
            ok()
        );
        assert_eq!(
            c.cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
            R::Array(vec![bulk("notify-keyspace-events"), bulk(shown)]),
            "after setting {set:?}"
        );
    }
    server.shutdown();
}

/// A blocking command, the write that serves it, and the events of both.
type Served = (
    &'static [&'static str],
    &'static [&'static str],
    &'static [(usize, &'static str, &'static str)],
);

/// A blocked pop served by another client's push: the push's events, then the pop's, as
/// Redis raises them when it serves the blocked client after the push.
#[test]
fn served_blocked_pops_raise_pop_events() {
    for threads in [1, 4] {
        let server = start(threads);
        let mut w = Client::connect(server.addr());
        assert_eq!(
            w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
            ok()
        );
        let mut l = Listener::new(server.addr());
        let cases: &[Served] = &[
            (
                &["BLPOP", "bl", "0"],
                &["RPUSH", "bl", "a"],
                &[(0, "rpush", "bl"), (0, "lpop", "bl"), (0, "del", "bl")],
            ),
            (
                &["BLMOVE", "bm", "bd", "LEFT", "RIGHT", "0"],
                &["LPUSH", "bm", "a", "b"],
                &[(0, "lpush", "bm"), (0, "rpush", "bd"), (0, "lpop", "bm")],
            ),
            (
                &["BZPOPMIN", "bz", "0"],
                &["ZADD", "bz", "1", "a"],
                &[(0, "zadd", "bz"), (0, "zpopmin", "bz"), (0, "del", "bz")],
            ),
        ];
        for (blocked, push, events) in cases {
            let mut b = Client::connect(server.addr());
            let words: Vec<&[u8]> = blocked.iter().map(|s| s.as_bytes()).collect();
            b.send_raw(&Client::encode(&words));
            // Blocked once CLIENT LIST shows it waiting.
            for _ in 0..200 {
                let list = w.cmd_raw(&["CLIENT", "LIST"]);
                if String::from_utf8_lossy(&list).contains("flags=b") {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            w.cmd(push);
            let reply = b.read_reply();
            let want = expand(events);
            let got = l.take(want.len());
            assert_same_per_key(
                &got,
                &want,
                &format!("{blocked:?} then {push:?} ({reply:?})"),
            );
        }
        assert!(l.drain(&mut w).is_empty());
        server.shutdown();
    }
}

/// A RESP3 subscriber receives the same notifications as push frames.
#[test]
fn resp3_subscriber_gets_push_frames() {
    let server = start(2);
    let mut w = Client::connect(server.addr());
    assert_eq!(
        w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        ok()
    );
    let mut l = Client::connect(server.addr());
    assert!(matches!(l.cmd(&["HELLO", "3"]), R::Map(_)));
    assert_eq!(
        l.cmd(&["PSUBSCRIBE", "__key*__:*"]),
        R::Push(vec![bulk("psubscribe"), bulk("__key*__:*"), int(1)])
    );
    w.cmd(&["RPUSH", "rl", "a"]);
    w.cmd(&["LPOP", "rl"]);
    let frame = |channel: &str, payload: &str| {
        R::Push(vec![
            bulk("pmessage"),
            bulk("__key*__:*"),
            bulk(channel),
            bulk(payload),
        ])
    };
    let want = [
        frame("__keyspace@0__:rl", "rpush"),
        frame("__keyevent@0__:rpush", "rl"),
        frame("__keyspace@0__:rl", "lpop"),
        frame("__keyevent@0__:lpop", "rl"),
        frame("__keyspace@0__:rl", "del"),
        frame("__keyevent@0__:del", "rl"),
    ];
    for w in want {
        assert_eq!(l.read_reply(), w);
    }
    server.shutdown();
}
