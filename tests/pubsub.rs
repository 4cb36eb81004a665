//! Pub/sub through real sockets: every command in RESP2 and RESP3 with its errors, delivery
//! across proactors, a real client library, many subscribers with exactly-once in-order
//! delivery, and a subscriber that never reads being disconnected at its output limit while
//! the others keep receiving.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use damselfly_protocol::Reply;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

fn b(s: &str) -> Reply {
    bulk(s)
}

fn frame(kind: &str, name: &str, count: i64) -> Reply {
    arr(vec![b(kind), b(name), int(count)])
}

fn message(channel: &str, payload: &str) -> Reply {
    arr(vec![b("message"), b(channel), b(payload)])
}

fn push(v: Vec<Reply>) -> Reply {
    Reply::Push(v)
}

fn send(c: &mut Client, args: &[&str]) {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    c.send_raw(&Client::encode(&a));
}

#[test]
fn subscribe_publish_unsubscribe_resp2() {
    let s = server(4);
    let mut sub = Client::connect(s.addr());
    let mut publ = Client::connect(s.addr());
    send(&mut sub, &["SUBSCRIBE", "a", "b", "a"]);
    assert_eq!(sub.read_reply(), frame("subscribe", "a", 1));
    assert_eq!(sub.read_reply(), frame("subscribe", "b", 2));
    assert_eq!(sub.read_reply(), frame("subscribe", "a", 2));
    assert_eq!(publ.cmd(&["PUBLISH", "a", "hello"]), int(1));
    assert_eq!(publ.cmd(&["PUBLISH", "nobody", "x"]), int(0));
    assert_eq!(sub.read_reply(), message("a", "hello"));
    // Subscribed mode: only (un)subscribe, PING, QUIT and RESET.
    assert_eq!(
        sub.cmd(&["GET", "k"]),
        err("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
    );
    assert_eq!(sub.cmd(&["PING"]), arr(vec![b("pong"), b("")]));
    assert_eq!(sub.cmd(&["PING", "x"]), arr(vec![b("pong"), b("x")]));
    send(&mut sub, &["UNSUBSCRIBE", "b", "zz"]);
    assert_eq!(sub.read_reply(), frame("unsubscribe", "b", 1));
    assert_eq!(sub.read_reply(), frame("unsubscribe", "zz", 1));
    send(&mut sub, &["UNSUBSCRIBE"]);
    assert_eq!(sub.read_reply(), frame("unsubscribe", "a", 0));
    // Out of subscribed mode, commands work again and UNSUBSCRIBE still answers.
    assert_eq!(sub.cmd(&["PING"]), simple("PONG"));
    assert_eq!(
        sub.cmd(&["UNSUBSCRIBE"]),
        arr(vec![b("unsubscribe"), nil(), int(0)])
    );
    assert_eq!(
        sub.cmd(&["PUNSUBSCRIBE"]),
        arr(vec![b("punsubscribe"), nil(), int(0)])
    );
    assert_eq!(publ.cmd(&["PUBLISH", "a", "gone"]), int(0));
    assert_eq!(
        publ.cmd(&["SUBSCRIBE"]),
        err("ERR wrong number of arguments for 'subscribe' command")
    );
    assert_eq!(
        publ.cmd(&["PUBLISH", "a"]),
        err("ERR wrong number of arguments for 'publish' command")
    );
}

#[test]
fn patterns_and_shard_channels() {
    let s = server(2);
    let mut sub = Client::connect(s.addr());
    let mut publ = Client::connect(s.addr());
    send(&mut sub, &["PSUBSCRIBE", "news.*", "n?ws.x"]);
    assert_eq!(sub.read_reply(), frame("psubscribe", "news.*", 1));
    assert_eq!(sub.read_reply(), frame("psubscribe", "n?ws.x", 2));
    send(&mut sub, &["SUBSCRIBE", "news.x"]);
    assert_eq!(sub.read_reply(), frame("subscribe", "news.x", 3));
    // Exact subscribers first, then each matching pattern.
    assert_eq!(publ.cmd(&["PUBLISH", "news.x", "m"]), int(3));
    assert_eq!(sub.read_reply(), message("news.x", "m"));
    let mut patterns = vec![sub.read_reply(), sub.read_reply()];
    let mut expected = vec![
        arr(vec![b("pmessage"), b("n?ws.x"), b("news.x"), b("m")]),
        arr(vec![b("pmessage"), b("news.*"), b("news.x"), b("m")]),
    ];
    patterns.sort_by_key(|r| format!("{r:?}"));
    expected.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(patterns, expected);
    assert_eq!(publ.cmd(&["PUBSUB", "NUMPAT"]), int(2));
    assert_eq!(
        publ.cmd(&["PUBSUB", "NUMSUB", "news.x", "other"]),
        arr(vec![b("news.x"), int(1), b("other"), int(0)])
    );
    assert_eq!(
        publ.cmd(&["PUBSUB", "CHANNELS", "news*"]),
        arr(vec![b("news.x")])
    );
    send(&mut sub, &["SSUBSCRIBE", "shard1"]);
    assert_eq!(sub.read_reply(), frame("ssubscribe", "shard1", 1));
    assert_eq!(publ.cmd(&["SPUBLISH", "shard1", "s"]), int(1));
    assert_eq!(
        sub.read_reply(),
        arr(vec![b("smessage"), b("shard1"), b("s")])
    );
    // A shard channel is not a channel.
    assert_eq!(publ.cmd(&["PUBLISH", "shard1", "s"]), int(0));
    assert_eq!(
        publ.cmd(&["PUBSUB", "SHARDNUMSUB", "shard1"]),
        arr(vec![b("shard1"), int(1)])
    );
    assert_eq!(
        publ.cmd(&["PUBSUB", "SHARDCHANNELS"]),
        arr(vec![b("shard1")])
    );
    assert_eq!(
        publ.cmd(&["PUBSUB", "NOPE"]),
        err("ERR unknown subcommand 'NOPE'. Try PUBSUB HELP.")
    );
    assert_eq!(
        publ.cmd(&["PUBSUB", "NUMPAT", "x"]),
        err("ERR wrong number of arguments for 'pubsub|numpat' command")
    );
    // RESET leaves every subscription.
    assert_eq!(sub.cmd(&["RESET"]), simple("RESET"));
    assert_eq!(publ.cmd(&["PUBLISH", "news.x", "m"]), int(0));
    assert_eq!(publ.cmd(&["PUBSUB", "NUMPAT"]), int(0));
}

#[test]
fn resp3_pushes_and_commands_while_subscribed() {
    let s = server(2);
    let mut sub = Client::connect(s.addr());
    let mut publ = Client::connect(s.addr());
    let Reply::Map(_) = sub.cmd(&["HELLO", "3"]) else {
        panic!("HELLO 3")
    };
    send(&mut sub, &["SUBSCRIBE", "c"]);
    assert_eq!(sub.read_reply(), push(vec![b("subscribe"), b("c"), int(1)]));
    // RESP3 clients may run any command while subscribed.
    assert_eq!(sub.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(sub.cmd(&["GET", "k"]), b("v"));
    assert_eq!(publ.cmd(&["PUBLISH", "c", "x"]), int(1));
    assert_eq!(sub.read_reply(), push(vec![b("message"), b("c"), b("x")]));
    // Pushes pass CLIENT REPLY OFF.
    send(&mut sub, &["CLIENT", "REPLY", "OFF"]);
    assert_eq!(publ.cmd(&["PUBLISH", "c", "y"]), int(1));
    assert_eq!(sub.read_reply(), push(vec![b("message"), b("c"), b("y")]));
}

#[test]
fn a_real_client_library_subscribes() {
    let s = server(4);
    let client = redis::Client::open(format!("redis://{}/", s.addr())).unwrap();
    let mut con = client.get_connection().unwrap();
    let mut pubsub = con.as_pubsub();
    pubsub.subscribe("lib").unwrap();
    pubsub.psubscribe("li*").unwrap();
    let mut publ = Client::connect(s.addr());
    assert_eq!(publ.cmd(&["PUBLISH", "lib", "payload"]), int(2));
    let mut got = Vec::new();
    for _ in 0..2 {
        let m = pubsub.get_message().unwrap();
        let payload: String = m.get_payload().unwrap();
        got.push((m.get_channel_name().to_string(), payload, m.from_pattern()));
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            ("lib".to_string(), "payload".to_string(), false),
            ("lib".to_string(), "payload".to_string(), true)
        ]
    );
}

/// Reads `count` messages of channel `chan` and checks every publisher's sequence arrives
/// complete and in order.
fn read_all(
    addr: SocketAddr,
    chan: String,
    publishers: usize,
    per: usize,
) -> thread::JoinHandle<()> {
    let mut c = Client::connect(addr);
    send(&mut c, &["SUBSCRIBE", &chan]);
    assert_eq!(c.read_reply(), frame("subscribe", &chan, 1));
    thread::spawn(move || {
        let mut next = vec![0usize; publishers];
        for _ in 0..publishers * per {
            let Reply::Array(parts) = c.read_reply() else {
                panic!("not a message")
            };
            let Reply::Bulk(payload) = &parts[2] else {
                panic!("no payload")
            };
            let text = String::from_utf8(payload.clone()).unwrap();
            let (p, n) = text.split_once(':').unwrap();
            let (p, n): (usize, usize) = (p.parse().unwrap(), n.parse().unwrap());
            assert_eq!(n, next[p], "publisher {p}'s messages out of order or lost");
            next[p] += 1;
        }
        assert!(next.iter().all(|&n| n == per));
    })
}

#[test]
fn many_subscribers_receive_every_message_once_in_order() {
    const SUBSCRIBERS: usize = 1000;
    const PUBLISHERS: usize = 10;
    const PER: usize = 50;
    let s = server(4);
    let addr = s.addr();
    let readers: Vec<_> = (0..SUBSCRIBERS)
        .map(|_| read_all(addr, "fan".to_string(), PUBLISHERS, PER))
        .collect();
    // One subscriber that never reads: it is dropped at its limit, the others go on.
    let mut stalled = Client::connect(addr);
    stalled.cmd(&[
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "pubsub 256kb 0 0",
    ]);
    send(&mut stalled, &["SUBSCRIBE", "fan"]);
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                let big = "x".repeat(2048);
                for n in 0..PER {
                    let receivers = c.cmd(&["PUBLISH", "fan", &format!("{p}:{n}")]);
                    let Reply::Integer(r) = receivers else {
                        panic!("PUBLISH: {receivers:?}")
                    };
                    assert!(r >= SUBSCRIBERS as i64, "{r} receivers");
                    // Fill the stalled subscriber's queue faster.
                    c.cmd(&["PUBLISH", "fan-big", &big]);
                }
            })
        })
        .collect();
    for p in publishers {
        p.join().unwrap();
    }
    for r in readers {
        r.join().unwrap();
    }
    // The readers are gone; the stalled client, still within its limit, is not.
    let mut c = Client::connect(addr);
    assert_eq!(
        c.cmd(&["PUBSUB", "NUMSUB", "fan"]),
        arr(vec![b("fan"), int(1)])
    );
    // Now it also listens to a channel of big messages: far past 256 KB unsent.
    send(&mut stalled, &["SUBSCRIBE", "fan-big"]);
    let big = "y".repeat(64 * 1024);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        c.cmd(&["PUBLISH", "fan-big", &big]);
        if c.cmd(&["PUBSUB", "NUMSUB", "fan-big"]) == arr(vec![b("fan-big"), int(0)]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stalled subscriber was never dropped"
        );
    }
}
