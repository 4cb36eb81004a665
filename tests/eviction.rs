//! `maxmemory` and every `maxmemory-policy`: filling to twice the limit keeps used memory
//! near it, the right keys go (volatile policies never evict persistent keys, LRU keeps a hot
//! set that is being read), noeviction refuses writes with Redis's OOM error, and evictions
//! raise `evicted` keyspace events.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use damselfly_protocol::Reply;

const LIMIT: usize = 8 << 20;
const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

fn start(policy: &str) -> damselfly::ServerHandle {
    damselfly::Server::builder()
        .bind("127.0.0.1")
        .port(0)
        .threads(2)
        .set("maxmemory", &LIMIT.to_string())
        .set("maxmemory-policy", policy)
        .start()
        .unwrap()
}

fn info_field(c: &mut Client, section: &str, name: &str) -> u64 {
    let Reply::Bulk(text) = c.cmd(&["info", section]) else {
        panic!()
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("{name} in {text}"));
    line[name.len() + 1..].trim().parse().unwrap()
}

/// Writes `n` keys `prefix:i` of 200 bytes, pipelined; returns how many writes were refused.
fn fill(c: &mut Client, prefix: &str, n: usize, ttl: Option<u64>) -> usize {
    let value = "v".repeat(200);
    let mut refused = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let mut bytes = Vec::new();
        for i in chunk {
            let key = format!("{prefix}:{i}");
            match ttl {
                Some(t) => bytes.extend(Client::encode(&[
                    b"setex",
                    key.as_bytes(),
                    t.to_string().as_bytes(),
                    value.as_bytes(),
                ])),
                None => bytes.extend(Client::encode(&[b"set", key.as_bytes(), value.as_bytes()])),
            }
        }
        c.send_raw(&bytes);
        for _ in chunk {
            match c.read_reply() {
                Reply::Simple(_) => {}
                Reply::Error(e) => {
                    assert_eq!(String::from_utf8_lossy(&e), OOM);
                    refused += 1;
                }
                other => panic!("{other:?}"),
            }
        }
    }
    refused
}

fn count_existing(c: &mut Client, prefix: &str, n: usize) -> usize {
    (0..n)
        .filter(|i| c.cmd(&["exists", &format!("{prefix}:{i}")]) == int(1))
        .count()
}

/// About twice the limit in 200-byte values.
const FILL: usize = 2 * LIMIT / 260;

#[test]
fn allkeys_policies_stay_near_the_limit() {
    for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
        let s = start(policy);
        let mut c = Client::connect(s.addr());
        assert_eq!(fill(&mut c, "k", FILL, None), 0, "{policy}");
        let used = info_field(&mut c, "memory", "used_memory") as usize;
        assert!(used <= LIMIT + LIMIT / 20, "{policy}: used {used}");
        let evicted = info_field(&mut c, "stats", "evicted_keys");
        assert!(evicted > 0, "{policy}");
        let left = count_existing(&mut c, "k", FILL);
        assert!(
            left > FILL / 4 && left < FILL,
            "{policy}: {left} of {FILL} left"
        );
    }
}

#[test]
fn lru_keeps_the_keys_being_read() {
    let s = start("allkeys-lru");
    let mut c = Client::connect(s.addr());
    let hot = 500;
    fill(&mut c, "hot", hot, None);
    // Cold writes past the limit, reading the hot set between batches. The access clock
    // counts seconds, as Redis's does: the reads come a second after each batch, so the hot
    // keys are younger than every cold key but the current batch's.
    for round in 0..8 {
        fill(&mut c, &format!("cold{round}"), FILL / 8, None);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        for i in 0..hot {
            c.cmd(&["get", &format!("hot:{i}")]);
        }
    }
    let kept = count_existing(&mut c, "hot", hot);
    assert!(kept >= hot * 9 / 10, "only {kept} of {hot} hot keys kept");
}

/// The LFU policies keep the keys used often: a hot set read between batches of cold writes
/// (twice the limit in all) survives, while cold keys, each written once, go.
#[test]
fn lfu_keeps_the_hot_set() {
    for policy in ["allkeys-lfu", "volatile-lfu"] {
        let s = start(policy);
        let mut c = Client::connect(s.addr());
        let hot = 500;
        let ttl = (policy == "volatile-lfu").then_some(3600);
        fill(&mut c, "hot", hot, ttl);
        for round in 0..40 {
            fill(&mut c, &format!("cold{round}"), FILL / 40, ttl);
            for i in 0..hot {
                c.cmd(&["get", &format!("hot:{i}")]);
            }
        }
        let kept = count_existing(&mut c, "hot", hot);
        assert!(
            kept >= hot * 9 / 10,
            "{policy}: only {kept} of {hot} hot keys kept"
        );
        assert!(info_field(&mut c, "stats", "evicted_keys") > 0, "{policy}");
        let used = info_field(&mut c, "memory", "used_memory") as usize;
        assert!(used <= LIMIT + LIMIT / 20, "{policy}: used {used}");
    }
}

#[test]
fn volatile_policies_never_evict_persistent_keys() {
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let s = start(policy);
        let mut c = Client::connect(s.addr());
        let persistent = FILL / 4;
        assert_eq!(fill(&mut c, "p", persistent, None), 0);
        fill(&mut c, "v", FILL, Some(10_000));
        assert_eq!(
            count_existing(&mut c, "p", persistent),
            persistent,
            "{policy}"
        );
        assert!(info_field(&mut c, "stats", "evicted_keys") > 0, "{policy}");
        // With no volatile key left to evict, writes past the limit are refused.
        let refused = fill(&mut c, "p2", FILL, None);
        assert!(refused > 0, "{policy}");
        assert_eq!(
            count_existing(&mut c, "p", persistent),
            persistent,
            "{policy}"
        );
    }
}

#[test]
fn volatile_ttl_evicts_the_soonest_deadlines_first() {
    let s = start("volatile-ttl");
    let mut c = Client::connect(s.addr());
    let late = FILL / 4;
    fill(&mut c, "late", late, Some(100_000));
    fill(&mut c, "soon", FILL, Some(1_000));
    let kept = count_existing(&mut c, "late", late);
    assert!(
        kept >= late * 8 / 10,
        "only {kept} of {late} long-lived keys kept"
    );
}

#[test]
fn noeviction_refuses_writes_but_serves_reads_and_deletes() {
    let s = start("noeviction");
    let mut c = Client::connect(s.addr());
    let refused = fill(&mut c, "k", FILL, None);
    assert!(refused > 0);
    assert_eq!(c.cmd(&["set", "another", "x"]), err(OOM));
    assert_eq!(c.cmd(&["get", "k:0"]), bulk(&"v".repeat(200)));
    assert_eq!(c.cmd(&["del", "k:0"]), int(1));
    assert_eq!(info_field(&mut c, "stats", "evicted_keys"), 0);
}

#[test]
fn evictions_raise_evicted_events() {
    let s = start("allkeys-random");
    let mut admin = Client::connect(s.addr());
    assert_eq!(
        admin.cmd(&["config", "set", "notify-keyspace-events", "Ee"]),
        ok()
    );
    let mut sub = Client::connect(s.addr());
    sub.cmd(&["subscribe", "__keyevent@0__:evicted"]);
    fill(&mut admin, "k", FILL, None);
    let evicted = info_field(&mut admin, "stats", "evicted_keys");
    assert!(evicted > 0);
    // The first event names a key that is gone.
    let Reply::Array(parts) = sub.read_reply() else {
        panic!()
    };
    assert_eq!(parts[0], bulk("message"));
    assert_eq!(parts[1], bulk("__keyevent@0__:evicted"));
    let Reply::Bulk(key) = &parts[2] else {
        panic!()
    };
    assert_eq!(admin.cmd_bytes(&[b"exists", key]), int(0));
}

/// A transaction never loses a key it holds: inside each EXEC the first key is written,
/// twenty new big values force evictions, and the key is read back. Redis evicts only
/// between commands; Damselfly evicts on insert, but never a key a transaction has locked.
#[test]
fn exec_keeps_the_keys_it_holds() {
    for policy in ["allkeys-random", "allkeys-lru", "volatile-random"] {
        let s = damselfly::Server::builder()
            .bind("127.0.0.1")
            .port(0)
            .threads(1)
            .set("maxmemory", &LIMIT.to_string())
            .set("maxmemory-policy", policy)
            .start()
            .unwrap();
        let mut c = Client::connect(s.addr());
        let big = "b".repeat(20_000);
        // About 400 big values fit: each new one evicts about one.
        for i in 0..600 {
            assert_eq!(
                c.cmd(&["set", &format!("fill:{i}"), &big, "ex", "1000"]),
                ok()
            );
        }
        assert!(info_field(&mut c, "stats", "evicted_keys") > 0, "{policy}");
        for round in 0..100 {
            let held = format!("held:{round}");
            assert_eq!(c.cmd(&["multi"]), ok());
            assert_eq!(
                c.cmd(&["set", &held, "mine", "ex", "1000"]),
                Reply::Simple(b"QUEUED".to_vec())
            );
            for i in 0..20 {
                let key = format!("new:{round}:{i}");
                assert_eq!(
                    c.cmd(&["set", &key, &big, "ex", "1000"]),
                    Reply::Simple(b"QUEUED".to_vec())
                );
            }
            assert_eq!(c.cmd(&["get", &held]), Reply::Simple(b"QUEUED".to_vec()));
            let reply = c.cmd(&["exec"]);
            let Reply::Array(replies) = reply else {
                panic!("{policy}: EXEC answered {reply:?} in round {round}");
            };
            assert_eq!(replies.len(), 22);
            assert_eq!(replies[21], bulk("mine"), "{policy}: round {round}");
        }
        s.shutdown();
    }
}
