//! Blocking pops through real sockets: wakeups across shards, arrival order, timeouts,
//! CLIENT UNBLOCK, disconnects, MULTI, and a many-producer many-consumer run where every
//! element must be received exactly once.

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

fn client_id(c: &mut Client) -> i64 {
    match c.cmd(&["CLIENT", "ID"]) {
        Reply::Integer(i) => i,
        other => panic!("CLIENT ID: {other:?}"),
    }
}

fn info_field(c: &mut Client, field: &str) -> String {
    let Reply::Bulk(text) = c.cmd(&["INFO", "clients"]) else {
        panic!("INFO")
    };
    let text = String::from_utf8(text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
        .unwrap_or_default()
}

/// Waits until `n` clients are blocked.
fn wait_blocked(addr: SocketAddr, n: usize) {
    let mut c = Client::connect(addr);
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut c, "blocked_clients") != n.to_string() {
        assert!(Instant::now() < deadline, "{n} clients never blocked");
        thread::sleep(Duration::from_millis(5));
    }
}

/// Sends a command without reading its reply.
fn send(c: &mut Client, args: &[&str]) {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    c.send_raw(&Client::encode(&a));
}

#[test]
fn blpop_wakes_on_a_push_from_another_client_on_any_shard() {
    let server = server(4);
    let addr = server.addr();
    for round in 0..8 {
        let (k1, k2) = (format!("a{round}"), format!("b{round}"));
        let mut waiter = Client::connect(addr);
        send(&mut waiter, &["BLPOP", &k1, &k2, "0"]);
        wait_blocked(addr, 1);
        let mut pusher = Client::connect(addr);
        assert_eq!(pusher.cmd(&["RPUSH", &k2, "x", "y"]), int(2));
        assert_eq!(waiter.read_reply(), arr(vec![bulk(&k2), bulk("x")]));
        assert_eq!(
            pusher.cmd(&["LRANGE", &k2, "0", "-1"]),
            arr(vec![bulk("y")])
        );
        wait_blocked(addr, 0);
    }
}

#[test]
fn served_immediately_when_a_key_has_elements_and_wrongtype_decides_in_order() {
    let server = server(4);
    let mut c = Client::connect(server.addr());
    c.cmd(&["RPUSH", "l2", "a", "b"]);
    c.cmd(&["SET", "s", "x"]);
    assert_eq!(
        c.cmd(&["BRPOP", "missing", "l2", "1"]),
        arr(vec![bulk("l2"), bulk("b")])
    );
    assert_eq!(
        c.cmd(&["BLPOP", "missing", "s", "l2", "1"]),
        err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_eq!(
        c.cmd(&["BLPOP", "l2", "s", "1"]),
        arr(vec![bulk("l2"), bulk("a")])
    );
    assert_eq!(c.cmd(&["EXISTS", "l2"]), int(0));
    assert_eq!(c.cmd(&["BLPOP", "k", "-1"]), err("ERR timeout is negative"));
    assert_eq!(
        c.cmd(&["BLPOP", "k", "abc"]),
        err("ERR timeout is not a float or out of range")
    );
    c.cmd(&["RPUSH", "m", "1", "2", "3"]);
    assert_eq!(
        c.cmd(&["BLMPOP", "0", "2", "none", "m", "RIGHT", "COUNT", "2"]),
        arr(vec![bulk("m"), arr(vec![bulk("3"), bulk("2")])])
    );
    assert_eq!(
        c.cmd(&["BLMPOP", "0", "0", "m", "LEFT"]),
        err("ERR numkeys should be greater than 0")
    );
    assert_eq!(
        c.cmd(&["BLMPOP", "0", "1", "m", "LEFT", "COUNT", "0"]),
        err("ERR count should be greater than 0")
    );
}

#[test]
fn timeouts_fire_close_to_their_deadline() {
    let server = server(2);
    let mut c = Client::connect(server.addr());
    for (timeout, ms) in [("0.1", 100u64), ("0.25", 250), ("1", 1000)] {
        let start = Instant::now();
        assert_eq!(c.cmd(&["BLPOP", "nothing", timeout]), Reply::NullArray);
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(ms), "{timeout}: {took:?}");
        assert!(
            took < Duration::from_millis(ms + 100),
            "{timeout}: {took:?}"
        );
    }
    c.cmd(&["HELLO", "3"]);
    assert_eq!(c.cmd(&["BZPOPMIN", "nothing", "0.05"]), Reply::Null);
}

#[test]
fn clients_on_one_key_are_served_in_arrival_order() {
    let server = server(4);
    let addr = server.addr();
    let mut waiters = Vec::new();
    for i in 0..5 {
        let mut w = Client::connect(addr);
        send(&mut w, &["BLPOP", "queue", "0"]);
        wait_blocked(addr, i + 1);
        waiters.push(w);
    }
    let mut p = Client::connect(addr);
    for i in 0..5 {
        p.cmd(&["RPUSH", "queue", &format!("e{i}")]);
    }
    for (i, w) in waiters.iter_mut().enumerate() {
        assert_eq!(
            w.read_reply(),
            arr(vec![bulk("queue"), bulk(&format!("e{i}"))])
        );
    }
    // One push of several elements serves several clients, still in order.
    let mut waiters = Vec::new();
    for i in 0..3 {
        let mut w = Client::connect(addr);
        send(&mut w, &["BRPOP", "q2", "0"]);
        wait_blocked(addr, i + 1);
        waiters.push(w);
    }
    p.cmd(&["LPUSH", "q2", "a", "b", "c", "d"]);
    for (w, e) in waiters.iter_mut().zip(["a", "b", "c"]) {
        assert_eq!(w.read_reply(), arr(vec![bulk("q2"), bulk(e)]));
    }
    assert_eq!(p.cmd(&["LRANGE", "q2", "0", "-1"]), arr(vec![bulk("d")]));
}

#[test]
fn client_unblock_ends_a_wait_as_timeout_or_error() {
    let server = server(2);
    let addr = server.addr();
    let mut w = Client::connect(addr);
    let id = client_id(&mut w).to_string();
    let mut admin = Client::connect(addr);
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), int(0));
    send(&mut w, &["BLPOP", "k", "0"]);
    wait_blocked(addr, 1);
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id, "TIMEOUT"]), int(1));
    assert_eq!(w.read_reply(), Reply::NullArray);
    send(&mut w, &["BZPOPMAX", "z", "0"]);
    wait_blocked(addr, 1);
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]), int(1));
    assert_eq!(
        w.read_reply(),
        err("UNBLOCKED client unblocked via CLIENT UNBLOCK")
    );
    assert_eq!(
        admin.cmd(&["CLIENT", "UNBLOCK", &id, "FOO"]),
        err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    );
    // The client is usable afterwards, and nothing stays registered.
    assert_eq!(w.cmd(&["PING"]), simple("PONG"));
    admin.cmd(&["RPUSH", "k", "v"]);
    assert_eq!(admin.cmd(&["LLEN", "k"]), int(1));
}

#[test]
fn a_client_that_disconnects_while_blocked_pops_nothing() {
    let server = server(4);
    let addr = server.addr();
    let mut waiters = Vec::new();
    for _ in 0..10 {
        let mut w = Client::connect(addr);
        send(&mut w, &["BLPOP", "gone", "other", "0"]);
        waiters.push(w);
    }
    wait_blocked(addr, 10);
    drop(waiters);
    // The server notices each disconnect and drops the registration.
    wait_blocked(addr, 0);
    let mut c = Client::connect(addr);
    c.cmd(&["RPUSH", "gone", "a", "b"]);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(c.cmd(&["LLEN", "gone"]), int(2));
}

#[test]
fn blocking_commands_inside_multi_do_not_block() {
    let server = server(2);
    let mut c = Client::connect(server.addr());
    c.cmd(&["MULTI"]);
    for cmd in [
        vec!["BLPOP", "a", "0"],
        vec!["BLMOVE", "a", "b", "LEFT", "LEFT", "0"],
        vec!["BRPOPLPUSH", "a", "b", "0"],
        vec!["BZPOPMIN", "z", "0"],
        vec!["BLMPOP", "0", "1", "a", "LEFT"],
        vec!["BZMPOP", "0", "1", "z", "MIN"],
    ] {
        assert_eq!(c.cmd(&cmd), simple("QUEUED"));
    }
    assert_eq!(
        c.cmd(&["EXEC"]),
        arr(vec![
            Reply::NullArray,
            nil(),
            nil(),
            Reply::NullArray,
            Reply::NullArray,
            Reply::NullArray
        ])
    );
}

#[test]
fn a_push_and_pop_inside_exec_leave_the_waiter_blocked() {
    let server = server(4);
    let addr = server.addr();
    let mut w = Client::connect(addr);
    send(&mut w, &["BLPOP", "tx", "0"]);
    wait_blocked(addr, 1);
    let mut c = Client::connect(addr);
    c.cmd(&["MULTI"]);
    c.cmd(&["LPUSH", "tx", "a"]);
    c.cmd(&["LPOP", "tx"]);
    assert_eq!(c.cmd(&["EXEC"]), arr(vec![int(1), bulk("a")]));
    thread::sleep(Duration::from_millis(50));
    assert_eq!(info_field(&mut c, "blocked_clients"), "1");
    c.cmd(&["RPUSH", "tx", "b"]);
    assert_eq!(w.read_reply(), arr(vec![bulk("tx"), bulk("b")]));
}

#[test]
fn earlier_pipelined_replies_arrive_before_the_wait() {
    let server = server(2);
    let mut c = Client::connect(server.addr());
    let mut bytes = Client::encode(&[b"SET", b"a", b"1"]);
    bytes.extend(Client::encode(&[b"BLPOP", b"never", b"0.5"]));
    c.send_raw(&bytes);
    let start = Instant::now();
    assert_eq!(c.read_reply(), ok());
    assert!(start.elapsed() < Duration::from_millis(400));
    assert_eq!(c.read_reply(), Reply::NullArray);
}

#[test]
fn blmove_and_brpoplpush_move_across_shards_when_woken() {
    let server = server(4);
    let addr = server.addr();
    for i in 0..6 {
        let (src, dst) = (format!("src{i}"), format!("dst{i}"));
        let mut w = Client::connect(addr);
        if i % 2 == 0 {
            send(&mut w, &["BLMOVE", &src, &dst, "RIGHT", "LEFT", "0"]);
        } else {
            send(&mut w, &["BRPOPLPUSH", &src, &dst, "0"]);
        }
        wait_blocked(addr, 1);
        let mut p = Client::connect(addr);
        p.cmd(&["RPUSH", &src, "x", "y"]);
        assert_eq!(w.read_reply(), bulk("y"));
        assert_eq!(p.cmd(&["LRANGE", &dst, "0", "-1"]), arr(vec![bulk("y")]));
        assert_eq!(p.cmd(&["LRANGE", &src, "0", "-1"]), arr(vec![bulk("x")]));
    }
}

#[test]
fn bzpopmin_wakes_on_zadd() {
    let server = server(4);
    let addr = server.addr();
    let mut w = Client::connect(addr);
    send(&mut w, &["BZPOPMIN", "z1", "z2", "0"]);
    wait_blocked(addr, 1);
    let mut p = Client::connect(addr);
    p.cmd(&["ZADD", "z2", "2", "b", "1", "a"]);
    assert_eq!(w.read_reply(), arr(vec![bulk("z2"), bulk("a"), bulk("1")]));
    assert_eq!(p.cmd(&["ZCARD", "z2"]), int(1));
}

/// 20 consumers blocked across 4 proactors, 20 producers pushing 100,000 elements in all:
/// every element arrives exactly once and none stays behind.
#[test]
fn many_producers_and_consumers_lose_and_duplicate_nothing() {
    const PRODUCERS: usize = 20;
    const CONSUMERS: usize = 20;
    const PER_PRODUCER: usize = 5_000;
    let server = server(4);
    let addr = server.addr();
    let keys: Vec<String> = (0..4).map(|i| format!("work{i}")).collect();
    let received = Arc::new(Mutex::new(Vec::new()));
    let mut consumers = Vec::new();
    for _ in 0..CONSUMERS {
        let (keys, received) = (keys.clone(), received.clone());
        consumers.push(thread::spawn(move || {
            let mut c = Client::connect(addr);
            let mut mine = Vec::new();
            loop {
                let mut args = vec!["BLPOP"];
                args.extend(keys.iter().map(String::as_str));
                args.push("2");
                match c.cmd(&args) {
                    Reply::Array(v) => match &v[1] {
                        Reply::Bulk(e) if e == b"stop" => break,
                        Reply::Bulk(e) => mine.push(String::from_utf8(e.clone()).unwrap()),
                        other => panic!("element {other:?}"),
                    },
                    Reply::NullArray => continue,
                    other => panic!("BLPOP: {other:?}"),
                }
            }
            received.lock().unwrap().extend(mine);
        }));
    }
    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        let keys = keys.clone();
        producers.push(thread::spawn(move || {
            let mut c = Client::connect(addr);
            for batch in 0..PER_PRODUCER / 10 {
                let key = &keys[(p + batch) % keys.len()];
                let elems: Vec<String> =
                    (0..10).map(|j| format!("{p}:{}", batch * 10 + j)).collect();
                let mut args = vec!["RPUSH", key.as_str()];
                args.extend(elems.iter().map(String::as_str));
                assert!(matches!(c.cmd(&args), Reply::Integer(_)));
            }
        }));
    }
    for p in producers {
        p.join().unwrap();
    }
    let mut c = Client::connect(addr);
    // Consumers drain the lists, then each takes one stop marker.
    let deadline = Instant::now() + Duration::from_secs(60);
    while keys.iter().any(|k| c.cmd(&["LLEN", k]) != int(0)) {
        assert!(Instant::now() < deadline, "consumers stopped draining");
        thread::sleep(Duration::from_millis(10));
    }
    for _ in 0..CONSUMERS {
        c.cmd(&["RPUSH", &keys[0], "stop"]);
    }
    for h in consumers {
        h.join().unwrap();
    }
    let got = received.lock().unwrap();
    assert_eq!(got.len(), PRODUCERS * PER_PRODUCER, "every element once");
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "no element twice");
    for k in &keys {
        assert_eq!(c.cmd(&["LLEN", k]), int(0), "{k} drained");
    }
    assert_eq!(info_field(&mut c, "blocked_clients"), "0");
}

#[test]
fn client_list_shows_blocked_and_multi_clients() {
    let server = server(2);
    let addr = server.addr();
    let mut m = Client::connect(addr);
    m.cmd(&["MULTI"]);
    m.cmd(&["SET", "a", "1"]);
    m.cmd(&["SET", "b", "2"]);
    let mut w = Client::connect(addr);
    send(&mut w, &["BLPOP", "nothing", "0"]);
    wait_blocked(addr, 1);
    let mut c = Client::connect(addr);
    let Reply::Bulk(text) = c.cmd(&["CLIENT", "LIST"]) else {
        panic!("CLIENT LIST")
    };
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains(" flags=x ") && l.contains(" multi=2 ")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains(" flags=b ") && l.contains(" cmd=blpop ")),
        "{text}"
    );
}

#[test]
fn client_reply_skip_drops_only_the_blocking_reply() {
    let server = server(2);
    let mut c = Client::connect(server.addr());
    let mut bytes = Client::encode(&[b"SET", b"a", b"1"]);
    bytes.extend(Client::encode(&[b"CLIENT", b"REPLY", b"SKIP"]));
    bytes.extend(Client::encode(&[b"BLPOP", b"never", b"0.1"]));
    bytes.extend(Client::encode(&[b"PING"]));
    c.send_raw(&bytes);
    assert_eq!(c.read_reply(), ok());
    assert_eq!(c.read_reply(), simple("PONG"));
    // OFF answers nothing itself.
    c.send_raw(&Client::encode(&[b"CLIENT", b"REPLY", b"OFF"]));
    c.send_raw(&Client::encode(&[b"BLPOP", b"never", b"0.05"]));
    c.send_raw(&Client::encode(&[b"CLIENT", b"REPLY", b"ON"]));
    assert_eq!(c.read_reply(), ok());
}

/// A client that leaves just before a push would have been served that push: the elements
/// go back where they were, in order, and nobody else loses them.
#[test]
fn elements_served_to_a_client_that_just_left_are_put_back() {
    let server = server(4);
    let addr = server.addr();
    let mut c = Client::connect(addr);
    for round in 0..10 {
        let (l, z, src, dst) = (
            format!("pb{round}"),
            format!("pz{round}"),
            format!("ps{round}"),
            format!("{{pm{round}}}d"),
        );
        let src = format!("{{pm{round}}}{src}");
        let mut waiters = Vec::new();
        for cmd in [
            vec!["BLMPOP", "0", "1", l.as_str(), "LEFT", "COUNT", "2"],
            vec!["BZPOPMIN", z.as_str(), "0"],
            vec!["BLMOVE", src.as_str(), dst.as_str(), "RIGHT", "LEFT", "0"],
        ] {
            let mut w = Client::connect(addr);
            send(&mut w, &cmd);
            waiters.push(w);
        }
        wait_blocked(addr, 3);
        drop(waiters);
        // Pushed before the server noticed the disconnects (it checks every 100 ms).
        c.cmd(&["RPUSH", &l, "a", "b", "c"]);
        c.cmd(&["ZADD", &z, "1", "m1", "2", "m2"]);
        c.cmd(&["RPUSH", &src, "x", "y"]);
        wait_blocked(addr, 0);
        thread::sleep(Duration::from_millis(20));
        assert_eq!(
            c.cmd(&["LRANGE", &l, "0", "-1"]),
            arr(vec![bulk("a"), bulk("b"), bulk("c")])
        );
        assert_eq!(
            c.cmd(&["ZRANGE", &z, "0", "-1"]),
            arr(vec![bulk("m1"), bulk("m2")])
        );
        assert_eq!(
            c.cmd(&["LRANGE", &src, "0", "-1"]),
            arr(vec![bulk("x"), bulk("y")])
        );
        assert_eq!(c.cmd(&["EXISTS", &dst]), int(0));
    }
}
