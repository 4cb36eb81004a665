//! Streams through real sockets: XADD ids and trimming, ranges, consumer groups and their
//! pending lists, XREAD/XREADGROUP BLOCK across shards (wakeups, timeouts, errors when the
//! stream or group goes away, MULTI), and a 10-consumer 10-producer run where every entry
//! is delivered to exactly one consumer of the group and stays pending until XACK.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use damselfly_protocol::Reply;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

fn send(c: &mut Client, args: &[&str]) {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    c.send_raw(&Client::encode(&a));
}

fn wait_blocked(addr: SocketAddr, n: usize) {
    let mut c = Client::connect(addr);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let Reply::Bulk(text) = c.cmd(&["INFO", "clients"]) else {
            panic!("INFO")
        };
        let text = String::from_utf8(text).unwrap();
        if text.contains(&format!("blocked_clients:{n}\r")) {
            return;
        }
        assert!(Instant::now() < deadline, "{n} clients never blocked");
        thread::sleep(Duration::from_millis(5));
    }
}

fn entry(id: &str, fv: &[&str]) -> Reply {
    arr(vec![bulk(id), arr(fv.iter().map(|s| bulk(s)).collect())])
}

#[test]
fn xadd_ids_ranges_and_trimming() {
    let server = server(2);
    let mut c = Client::connect(server.addr());
    assert_eq!(c.cmd(&["XADD", "s", "1-1", "a", "1"]), bulk("1-1"));
    assert_eq!(c.cmd(&["XADD", "s", "1-*", "b", "2"]), bulk("1-2"));
    assert_eq!(c.cmd(&["XADD", "s", "5", "c", "3"]), bulk("5-0"));
    assert_eq!(
        c.cmd(&["XADD", "s", "5-0", "d", "4"]),
        err("ERR The ID specified in XADD is equal or smaller than the target stream top item")
    );
    assert_eq!(
        c.cmd(&["XADD", "s", "0-0", "d", "4"]),
        err("ERR The ID specified in XADD must be greater than 0-0")
    );
    assert_eq!(
        c.cmd(&["XADD", "s", "5"]),
        err("ERR wrong number of arguments for 'xadd' command")
    );
    assert_eq!(c.cmd(&["XADD", "nope", "NOMKSTREAM", "*", "a", "b"]), nil());
    assert_eq!(c.cmd(&["EXISTS", "nope"]), int(0));
    assert_eq!(c.cmd(&["XLEN", "s"]), int(3));
    assert_eq!(
        c.cmd(&["XRANGE", "s", "(1-1", "+", "COUNT", "1"]),
        arr(vec![entry("1-2", &["b", "2"])])
    );
    assert_eq!(
        c.cmd(&["XREVRANGE", "s", "+", "-", "COUNT", "2"]),
        arr(vec![entry("5-0", &["c", "3"]), entry("1-2", &["b", "2"])])
    );
    assert_eq!(
        c.cmd(&["XRANGE", "s", "-", "+", "COUNT", "0"]),
        Reply::NullArray
    );
    assert_eq!(
        c.cmd(&[
            "XRANGE",
            "s",
            "(18446744073709551615-18446744073709551615",
            "+"
        ]),
        err("ERR invalid start ID for the interval")
    );
    assert_eq!(c.cmd(&["XDEL", "s", "1-2", "9-9"]), int(1));
    assert_eq!(c.cmd(&["XTRIM", "s", "MAXLEN", "1"]), int(1));
    assert_eq!(
        c.cmd(&["XRANGE", "s", "-", "+"]),
        arr(vec![entry("5-0", &["c", "3"])])
    );
    assert_eq!(
        c.cmd(&["XTRIM", "s", "MAXLEN", "1", "LIMIT", "2"]),
        err("ERR syntax error, LIMIT cannot be used without the special ~ option")
    );
    // The stream stays when its last entry goes.
    assert_eq!(c.cmd(&["XDEL", "s", "5-0"]), int(1));
    assert_eq!(c.cmd(&["TYPE", "s"]), simple("stream"));
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "s"]), bulk("stream"));
    assert_eq!(
        c.cmd(&["XADD", "s", "3-0", "x", "y"]),
        err("ERR The ID specified in XADD is equal or smaller than the target stream top item")
    );
    assert_eq!(c.cmd(&["SET", "str", "x"]), ok());
    assert_eq!(
        c.cmd(&["XADD", "str", "*", "a", "b"]),
        err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
}

#[test]
fn approximate_trimming_removes_whole_nodes() {
    let server = server(2);
    let mut c = Client::connect(server.addr());
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "stream-node-max-entries", "10"]),
        ok()
    );
    for i in 1..=100 {
        c.cmd(&["XADD", "s", &format!("{i}-0"), "f", "v"]);
    }
    assert_eq!(c.cmd(&["XTRIM", "s", "MAXLEN", "~", "55"]), int(40));
    assert_eq!(
        c.cmd(&["XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "15"]),
        int(10)
    );
    assert_eq!(c.cmd(&["XLEN", "s"]), int(50));
    assert_eq!(c.cmd(&["XTRIM", "s", "MINID", "73"]), int(22));
}

#[test]
fn groups_pending_claims_and_info() {
    let server = server(2);
    let mut c = Client::connect(server.addr());
    assert_eq!(
        c.cmd(&["XGROUP", "CREATE", "s", "g", "$"]),
        err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")
    );
    assert_eq!(
        c.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]),
        ok()
    );
    assert_eq!(
        c.cmd(&["XGROUP", "CREATE", "s", "g", "$"]),
        err("BUSYGROUP Consumer Group name already exists")
    );
    for i in 1..=3 {
        c.cmd(&["XADD", "s", &format!("{i}-0"), "f", &i.to_string()]);
    }
    let got = c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "COUNT",
        "2",
        "STREAMS",
        "s",
        ">",
    ]);
    assert_eq!(
        got,
        arr(vec![arr(vec![
            bulk("s"),
            arr(vec![entry("1-0", &["f", "1"]), entry("2-0", &["f", "2"])])
        ])])
    );
    let Reply::Array(summary) = c.cmd(&["XPENDING", "s", "g"]) else {
        panic!()
    };
    assert_eq!(summary[0], int(2));
    assert_eq!(summary[3], arr(vec![arr(vec![bulk("alice"), bulk("2")])]));
    // History: alice sees her own pending entries again.
    let Reply::Array(h) = c.cmd(&["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"]) else {
        panic!()
    };
    assert_eq!(h.len(), 1);
    assert_eq!(
        c.cmd(&["XCLAIM", "s", "g", "bob", "0", "1-0", "JUSTID"]),
        arr(vec![bulk("1-0")])
    );
    assert_eq!(c.cmd(&["XACK", "s", "g", "1-0", "2-0", "9-0"]), int(2));
    let Reply::Array(ac) = c.cmd(&["XAUTOCLAIM", "s", "g", "bob", "0", "0"]) else {
        panic!()
    };
    assert_eq!(ac[0], bulk("0-0"));
    let Reply::Array(groups) = c.cmd(&["XINFO", "GROUPS", "s"]) else {
        panic!()
    };
    assert_eq!(
        groups[0],
        arr(vec![
            bulk("name"),
            bulk("g"),
            bulk("consumers"),
            int(2),
            bulk("pending"),
            int(0),
            bulk("last-delivered-id"),
            bulk("2-0"),
            bulk("entries-read"),
            int(2),
            bulk("lag"),
            int(1),
        ])
    );
    assert_eq!(c.cmd(&["XGROUP", "DELCONSUMER", "s", "g", "alice"]), int(0));
    assert_eq!(c.cmd(&["XGROUP", "DESTROY", "s", "g"]), int(1));
    assert_eq!(
        c.cmd(&["XREADGROUP", "GROUP", "g", "a", "STREAMS", "s", ">"]),
        err("NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option")
    );
}

#[test]
fn blocked_readers_wake_across_shards_and_on_group_loss() {
    let server = server(4);
    let addr = server.addr();
    let mut c = Client::connect(addr);
    // XREAD on several keys (spread over shards) wakes on the one that gets an entry.
    let mut w = Client::connect(addr);
    send(
        &mut w,
        &[
            "XREAD", "BLOCK", "0", "STREAMS", "k1", "k2", "k3", "$", "$", "$",
        ],
    );
    wait_blocked(addr, 1);
    c.cmd(&["XADD", "k3", "7-0", "f", "v"]);
    assert_eq!(
        w.read_reply(),
        arr(vec![arr(vec![
            bulk("k3"),
            arr(vec![entry("7-0", &["f", "v"])])
        ])])
    );
    // A timeout answers a null array.
    assert_eq!(
        w.cmd(&["XREAD", "BLOCK", "50", "STREAMS", "k3", "$"]),
        Reply::NullArray
    );
    // In MULTI nothing blocks.
    assert_eq!(w.cmd(&["MULTI"]), ok());
    assert_eq!(
        w.cmd(&["XREAD", "BLOCK", "0", "STREAMS", "k3", "$"]),
        simple("QUEUED")
    );
    assert_eq!(w.cmd(&["EXEC"]), arr(vec![Reply::NullArray]));
    // XREADGROUP BLOCK: woken with NOGROUP when the group goes, with an error when the key goes.
    c.cmd(&["XGROUP", "CREATE", "k3", "g", "$"]);
    send(
        &mut w,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "k3",
            ">",
        ],
    );
    wait_blocked(addr, 1);
    c.cmd(&["XGROUP", "DESTROY", "k3", "g"]);
    assert_eq!(
        w.read_reply(),
        err("NOGROUP the consumer group this client was blocked on no longer exists")
    );
    c.cmd(&["XGROUP", "CREATE", "k3", "g", "$"]);
    send(
        &mut w,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "k3",
            ">",
        ],
    );
    wait_blocked(addr, 1);
    c.cmd(&["DEL", "k3"]);
    assert_eq!(
        w.read_reply(),
        err("UNBLOCKED the stream key no longer exists")
    );
}

#[test]
fn ten_group_consumers_ten_producers_each_entry_once() {
    let server = server(4);
    let addr = server.addr();
    let mut admin = Client::connect(addr);
    assert_eq!(
        admin.cmd(&["XGROUP", "CREATE", "jobs", "workers", "$", "MKSTREAM"]),
        ok()
    );
    const PRODUCERS: usize = 10;
    const PER_PRODUCER: usize = 200;
    let total = PRODUCERS * PER_PRODUCER;
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut consumers = Vec::new();
    for i in 0..10 {
        let seen = seen.clone();
        consumers.push(thread::spawn(move || {
            let mut c = Client::connect(addr);
            let name = format!("c{i}");
            loop {
                let r = c.cmd(&[
                    "XREADGROUP",
                    "GROUP",
                    "workers",
                    &name,
                    "COUNT",
                    "5",
                    "BLOCK",
                    "2000",
                    "STREAMS",
                    "jobs",
                    ">",
                ]);
                let Reply::Array(streams) = r else {
                    return; // timed out: the producers are done
                };
                let Reply::Array(s) = &streams[0] else {
                    panic!()
                };
                let Reply::Array(entries) = &s[1] else {
                    panic!()
                };
                for e in entries {
                    let Reply::Array(e) = e else { panic!() };
                    let Reply::Bulk(id) = &e[0] else { panic!() };
                    seen.lock()
                        .unwrap()
                        .push((String::from_utf8(id.clone()).unwrap(), name.clone()));
                }
            }
        }));
    }
    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        producers.push(thread::spawn(move || {
            let mut c = Client::connect(addr);
            for j in 0..PER_PRODUCER {
                let Reply::Bulk(_) = c.cmd(&[
                    "XADD",
                    "jobs",
                    "*",
                    "p",
                    &p.to_string(),
                    "j",
                    &j.to_string(),
                ]) else {
                    panic!("XADD")
                };
            }
        }));
    }
    for p in producers {
        p.join().unwrap();
    }
    for c in consumers {
        c.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), total, "every entry delivered");
    let ids: HashSet<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), total, "no entry delivered twice");
    // All pending until acknowledged, each with the consumer that got it.
    let Reply::Array(summary) = admin.cmd(&["XPENDING", "jobs", "workers"]) else {
        panic!()
    };
    assert_eq!(summary[0], int(total as i64));
    for (id, name) in seen.iter().take(50) {
        let Reply::Array(rows) = admin.cmd(&["XPENDING", "jobs", "workers", id, id, "1"]) else {
            panic!()
        };
        let Reply::Array(row) = &rows[0] else {
            panic!()
        };
        assert_eq!(row[1], bulk(name));
    }
    for (id, _) in seen.iter() {
        assert_eq!(admin.cmd(&["XACK", "jobs", "workers", id]), int(1));
    }
    let Reply::Array(summary) = admin.cmd(&["XPENDING", "jobs", "workers"]) else {
        panic!()
    };
    assert_eq!(summary[0], int(0));
}
