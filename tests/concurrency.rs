//! Atomicity under concurrency: cross-shard MSET is never seen half-done; INCR on hot keys
//! loses no update.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use damselfly_protocol::Reply;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const KEYS: usize = 16;

#[test]
fn readers_never_observe_a_partial_mset() {
    let s = server(2);
    let addr = s.addr();
    let keys: Vec<String> = (0..KEYS).map(|i| format!("atom:{i}")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for w in 0..16 {
        let keys = keys.clone();
        threads.push(std::thread::spawn(move || {
            let mut c = Client::connect(addr);
            for round in 0..300 {
                let v = format!("w{w}-r{round}");
                let mut args = vec!["MSET"];
                for k in &keys {
                    args.push(k);
                    args.push(&v);
                }
                assert_eq!(c.cmd(&args), ok());
            }
            0usize
        }));
    }
    for _ in 0..16 {
        let keys = keys.clone();
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let mut c = Client::connect(addr);
            let mut args = vec!["MGET"];
            args.extend(keys.iter().map(|k| k.as_str()));
            let mut checked = 0;
            while !stop.load(Ordering::Relaxed) {
                let Reply::Array(vals) = c.cmd(&args) else {
                    panic!("MGET reply")
                };
                let first = &vals[0];
                assert!(
                    vals.iter().all(|v| v == first),
                    "partial MSET seen: {vals:?}"
                );
                checked += 1;
            }
            checked
        }));
    }
    let (writers, readers): (Vec<_>, Vec<_>) =
        threads.into_iter().enumerate().partition(|(i, _)| *i < 16);
    for (_, w) in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let checked: usize = readers.into_iter().map(|(_, r)| r.join().unwrap()).sum();
    assert!(checked > 0);
    s.shutdown();
}

#[test]
fn concurrent_incr_on_hot_keys_sums_exactly() {
    let s = server(2);
    let addr = s.addr();
    const CLIENTS: usize = 32;
    const INCRS: usize = 10_000;
    const BATCH: usize = 100;
    let hot = ["hot:a", "hot:b", "hot:{c}1", "hot:{c}2"];
    let threads: Vec<_> = (0..CLIENTS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                for b in 0..INCRS / BATCH {
                    let mut pipe = Vec::new();
                    for i in 0..BATCH {
                        let key = hot[(t + b + i) % hot.len()];
                        pipe.extend(Client::encode(&[b"INCR", key.as_bytes()]));
                    }
                    c.send_raw(&pipe);
                    for _ in 0..BATCH {
                        assert!(matches!(c.read_reply(), Reply::Integer(_)));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = Client::connect(addr);
    let mut args = vec!["MGET"];
    args.extend(hot);
    let Reply::Array(vals) = c.cmd(&args) else {
        panic!()
    };
    let total: i64 = vals
        .iter()
        .map(|v| match v {
            Reply::Bulk(b) => std::str::from_utf8(b).unwrap().parse::<i64>().unwrap(),
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(total, (CLIENTS * INCRS) as i64);
    s.shutdown();
}

/// Pipelined cross-shard MSETs from many clients: the fan-out replies race their waiters on
/// every shard at once. A reply counter touched after its owner saw zero used to hang a
/// proactor in a spin (found by redis-benchmark -t mset -P 16 -c 50 on two threads).
#[test]
fn pipelined_cross_shard_msets_from_many_clients_all_complete() {
    let s = server(3);
    let addr = s.addr();
    const CLIENTS: usize = 50;
    const BATCHES: usize = 120;
    const PIPELINE: usize = 16;
    let threads: Vec<_> = (0..CLIENTS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut seed = t as u64 + 1;
                for _ in 0..BATCHES {
                    let mut pipe = Vec::new();
                    for _ in 0..PIPELINE {
                        let mut args: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
                        for _ in 0..10 {
                            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                            args.push(format!("key:{}", (seed >> 33) % 100_000).into_bytes());
                            args.push(b"xxx".to_vec());
                        }
                        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                        pipe.extend(Client::encode(&refs));
                    }
                    c.send_raw(&pipe);
                    for _ in 0..PIPELINE {
                        assert_eq!(c.read_reply(), Reply::Simple(b"OK".to_vec()));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = Client::connect(addr);
    assert!(matches!(c.cmd(&["DBSIZE"]), Reply::Integer(n) if n > 0));
    s.shutdown();
}

/// Pipelined MSETs of a few hot keys on six shards: every transaction conflicts, so late txids
/// are placed before later ones on their shards (or refused and retried). Readers never see a
/// torn MSET, and no transaction needs more attempts than the bound.
#[test]
fn hot_key_msets_on_six_shards_stay_atomic_and_schedule_within_the_bound() {
    let s = server(6);
    let addr = s.addr();
    let keys: Vec<String> = (0..8).map(|i| format!("hot:{i}")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..12 {
        let keys = keys.clone();
        writers.push(std::thread::spawn(move || {
            let mut c = Client::connect(addr);
            for round in 0..60 {
                let mut batch = Vec::new();
                for j in 0..8 {
                    let v = format!("w{w}-r{round}-{j}");
                    let mut args: Vec<&[u8]> = vec![b"MSET"];
                    for k in &keys {
                        args.push(k.as_bytes());
                        args.push(v.as_bytes());
                    }
                    batch.extend(Client::encode(&args));
                }
                c.send_raw(&batch);
                for _ in 0..8 {
                    assert_eq!(c.read_reply(), ok());
                }
            }
        }));
    }
    let mut readers = Vec::new();
    for r in 0..4 {
        let mut keys = keys.clone();
        keys.rotate_left(r);
        let stop = stop.clone();
        readers.push(std::thread::spawn(move || {
            let mut c = Client::connect(addr);
            let mut args = vec!["MGET"];
            args.extend(keys.iter().map(|k| k.as_str()));
            let mut checked = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let Reply::Array(vals) = c.cmd(&args) else {
                    panic!("MGET reply")
                };
                assert!(vals.iter().all(|v| v == &vals[0]), "torn MSET: {vals:?}");
                checked += 1;
            }
            checked
        }));
    }
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let checked: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(checked > 0);
    let mut c = Client::connect(addr);
    let Reply::Bulk(info) = c.cmd(&["INFO", "stats"]) else {
        panic!("INFO reply")
    };
    let info = String::from_utf8_lossy(&info).to_string();
    let field = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .unwrap_or_else(|| panic!("{name} in INFO stats"))
            .trim()
            .parse()
            .unwrap()
    };
    assert!(field("tx_multi_shard_scheduled") >= 12 * 60 * 8);
    assert!(field("tx_schedule_attempts_max") <= 25, "{info}");
    s.shutdown();
}
