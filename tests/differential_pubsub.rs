//! Differential pub/sub: seeded interleavings of SUBSCRIBE / PSUBSCRIBE / UNSUBSCRIBE /
//! PUNSUBSCRIBE from several connections and PUBLISH from others, sent to redis-server and to
//! Damselfly (4 proactors). Every reply and every frame each subscriber receives, in order,
//! must be identical. Fails (does not skip) under CI=true when redis-server is missing.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::reference::{start_redis, Rng};
use common::*;
use damselfly_protocol::Reply;
use std::net::SocketAddr;

const CHANNELS: &[&str] = &["news", "news.eu", "news.us", "sport", "x"];
const PATTERNS: &[&str] = &["news*", "news.?s", "*", "sp[o]rt", "nothing*"];
const SUBSCRIBERS: usize = 4;
const PUBLISHERS: usize = 3;

fn send(c: &mut Client, args: &[&str]) {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    c.send_raw(&Client::encode(&a));
}

/// Reads frames until the `n` confirmations of a (un)subscribe arrived: messages published
/// before it come first, in order.
fn read_confirmations(c: &mut Client, n: usize, log: &mut Vec<Reply>) {
    let mut seen = 0;
    while seen < n {
        let r = c.read_reply();
        if let Reply::Array(parts) = &r {
            if let Some(Reply::Bulk(kind)) = parts.first() {
                if kind.ends_with(b"subscribe") {
                    seen += 1;
                }
            }
        }
        log.push(r);
    }
}

/// Reads an argument-less UNSUBSCRIBE/PUNSUBSCRIBE's `n` confirmations. Redis drops the
/// subscriptions in its hash order, so the confirmations are logged as the sorted set of
/// names they carry (their counts depend on that order); messages before them stay in order.
fn read_unsubscribe_all(c: &mut Client, n: usize, log: &mut Vec<Reply>) {
    let mut names = Vec::new();
    while names.len() < n {
        match c.read_reply() {
            Reply::Array(p) if matches!(p.first(), Some(Reply::Bulk(k)) if k.ends_with(b"subscribe")) =>
            {
                names.push(format!("{:?} {:?}", p[0], p[1]));
            }
            other => log.push(other),
        }
    }
    names.sort();
    log.push(Reply::Bulk(names.join("|").into_bytes()));
}

/// Runs the seeded script against `addr`; returns what every connection saw.
fn run(addr: SocketAddr, seed: u64) -> Vec<Vec<Reply>> {
    let mut rng = Rng(seed);
    let mut subs: Vec<Client> = (0..SUBSCRIBERS).map(|_| Client::connect(addr)).collect();
    let mut pubs: Vec<Client> = (0..PUBLISHERS).map(|_| Client::connect(addr)).collect();
    let mut logs: Vec<Vec<Reply>> = vec![Vec::new(); SUBSCRIBERS + PUBLISHERS + 1];
    // What each subscriber subscribes to: (channels, patterns).
    let mut model: Vec<(Vec<&str>, Vec<&str>)> = vec![(Vec::new(), Vec::new()); SUBSCRIBERS];
    for step in 0..300 {
        let roll = rng.below(10);
        if roll < 4 {
            let s = rng.below(SUBSCRIBERS as u64) as usize;
            let kind = rng.pick(&["SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE"]);
            let pattern = kind.starts_with('P');
            let names: Vec<&str> = (0..1 + rng.below(3))
                .map(|_| rng.pick(if pattern { PATTERNS } else { CHANNELS }))
                .collect();
            let set = if pattern {
                &mut model[s].1
            } else {
                &mut model[s].0
            };
            for n in &names {
                if kind.contains("UNSUB") {
                    set.retain(|x| x != n);
                } else if !set.contains(n) {
                    set.push(n);
                }
            }
            let mut args = vec![kind];
            args.extend(&names);
            send(&mut subs[s], &args);
            read_confirmations(&mut subs[s], names.len(), &mut logs[s]);
        } else if roll < 9 {
            let p = rng.below(PUBLISHERS as u64) as usize;
            let chan = rng.pick(CHANNELS);
            let payload = format!("m{step}");
            let r = pubs[p].cmd(&["PUBLISH", chan, &payload]);
            logs[SUBSCRIBERS + p].push(r);
        } else {
            let admin = &mut pubs[0];
            let mut r = admin.cmd(&["PUBSUB", "NUMSUB", "news", "x", "sport"]);
            logs[SUBSCRIBERS + PUBLISHERS].push(r);
            r = admin.cmd(&["PUBSUB", "NUMPAT"]);
            logs[SUBSCRIBERS + PUBLISHERS].push(r);
            if let Reply::Array(mut names) = admin.cmd(&["PUBSUB", "CHANNELS"]) {
                names.sort_by_key(|n| format!("{n:?}"));
                logs[SUBSCRIBERS + PUBLISHERS].push(Reply::Array(names));
            }
        }
    }
    // Drain: every subscriber leaves everything; what it was owed arrives before.
    for (s, c) in subs.iter_mut().enumerate() {
        send(c, &["UNSUBSCRIBE"]);
        read_unsubscribe_all(c, model[s].0.len().max(1), &mut logs[s]);
        send(c, &["PUNSUBSCRIBE"]);
        read_unsubscribe_all(c, model[s].1.len().max(1), &mut logs[s]);
        logs[s].push(c.cmd(&["PING"]));
    }
    logs
}

/// One publish reaches a subscriber once per matching pattern, in the server's pattern-table
/// order (Redis: its hash order): runs of pmessage frames of one payload are sorted.
fn normalize(log: &[Reply]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<String> = Vec::new();
    let mut run_payload: Option<Reply> = None;
    for r in log {
        let pmessage = match r {
            Reply::Array(p) if p.len() == 4 && p[0] == Reply::Bulk(b"pmessage".to_vec()) => {
                Some(p[3].clone())
            }
            _ => None,
        };
        if pmessage.is_none() || pmessage != run_payload {
            run.sort();
            out.append(&mut run);
        }
        run_payload = pmessage.clone();
        if pmessage.is_some() {
            run.push(format!("{r:?}"));
        } else {
            out.push(format!("{r:?}"));
        }
    }
    run.sort();
    out.append(&mut run);
    out
}

#[test]
fn subscribe_publish_interleavings_match_redis() {
    let Some(redis) = start_redis() else { return };
    let redis_addr: SocketAddr = format!("127.0.0.1:{}", redis.port).parse().unwrap();
    let ours = server(4);
    for seed in [1u64, 2, 3, 4] {
        let theirs = run(redis_addr, seed);
        let mine = run(ours.addr(), seed);
        for (i, (a, b)) in theirs.iter().zip(&mine).enumerate() {
            let (a, b) = (normalize(a), normalize(b));
            if let Some(at) = (0..a.len().max(b.len())).find(|&j| a.get(j) != b.get(j)) {
                panic!(
                    "seed {seed}: connection {i} differs at frame {at}: redis {:?}, damselfly {:?}",
                    a.get(at),
                    b.get(at)
                );
            }
        }
    }
}
