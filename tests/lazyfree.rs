//! Lazy freeing: UNLINK, DEL under `lazyfree-lazy-user-del`, FLUSHDB/FLUSHALL ASYNC|SYNC
//! (and `lazyfree-lazy-user-flush`), expired keys under `lazyfree-lazy-expire` and
//! overwritten destinations under `lazyfree-lazy-server-del`: the same scenario runs on
//! redis-server and on Damselfly, and INFO's `lazyfreed_objects` must end up equal after
//! each step (which values are large enough to be freed lazily follows Redis's rule), with
//! `lazyfree_pending_objects` back at 0 and the memory given back.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::reference::start_redis;
use common::*;
use damselfly_protocol::Reply;
use std::time::{Duration, Instant};

fn info_field(c: &mut Client, name: &str) -> u64 {
    let text = match c.cmd(&["info", "memory"]) {
        Reply::Bulk(b) => String::from_utf8(b).unwrap(),
        other => panic!("INFO: {other:?}"),
    };
    let prefix = format!("{name}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} in INFO"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits until nothing is pending; returns lazyfreed_objects.
fn settled(c: &mut Client) -> u64 {
    let start = Instant::now();
    while info_field(c, "lazyfree_pending_objects") > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "lazy freeing never finished"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    info_field(c, "lazyfreed_objects")
}

fn sadd_many(c: &mut Client, key: &str, n: usize) {
    let members: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let mut args = vec!["sadd", key];
    args.extend(members.iter().map(String::as_str));
    c.cmd(&args);
}

/// One step of the scenario: commands, then the counter both servers must agree on.
type Step = &'static [&'static [&'static str]];

const STEPS: &[Step] = &[
    &[&["config", "resetstat"]],
    // A large set goes lazily; a small one and a string at once.
    &[&["unlink", "big", "small", "str", "missing"]],
    // DEL frees at once unless lazyfree-lazy-user-del.
    &[&["del", "big"]],
    &[
        &["config", "set", "lazyfree-lazy-user-del", "yes"],
        &["del", "big"],
    ],
    &[&["config", "set", "lazyfree-lazy-user-del", "no"]],
    // FLUSHDB ASYNC counts every key; SYNC none; no argument follows lazyfree-lazy-user-flush.
    &[&["flushdb", "async"]],
    &[&["flushdb", "sync"]],
    &[&["flushdb"]],
    &[
        &["config", "set", "lazyfree-lazy-user-flush", "yes"],
        &["flushall"],
    ],
    &[&["config", "set", "lazyfree-lazy-user-flush", "no"]],
    // An overwritten STORE destination under lazyfree-lazy-server-del.
    &[
        &["config", "set", "lazyfree-lazy-server-del", "yes"],
        &["sunionstore", "big", "small"],
    ],
    &[&["config", "set", "lazyfree-lazy-server-del", "no"]],
    // An expired key under lazyfree-lazy-expire, deleted by the lookup that finds it.
    &[
        &["config", "set", "lazyfree-lazy-expire", "yes"],
        &["pexpire", "big", "1"],
        &["sleep"],
        &["exists", "big"],
    ],
    &[&["config", "set", "lazyfree-lazy-expire", "no"]],
    &[&["config", "resetstat"]],
];

/// Puts back the keys the steps consume.
fn refill(c: &mut Client) {
    if c.cmd(&["exists", "big"]) == int(0) {
        sadd_many(c, "big", 1000);
    }
    if c.cmd(&["exists", "small"]) == int(0) {
        sadd_many(c, "small", 10);
    }
    c.cmd(&["set", "str", "v"]);
    for i in 0..20 {
        c.cmd(&["set", &format!("filler{i}"), "v"]);
    }
}

#[test]
fn lazyfreed_objects_match_redis() {
    let Some(reference) = start_redis() else {
        return;
    };
    let s = server(2);
    let mut ours = Client::connect(s.addr());
    let mut theirs = Client::connect(([127, 0, 0, 1], reference.port).into());
    for step in STEPS {
        for c in [&mut ours, &mut theirs] {
            refill(c);
            for args in *step {
                if args[0] == "sleep" {
                    std::thread::sleep(Duration::from_millis(50));
                } else {
                    c.cmd(args);
                }
            }
        }
        assert_eq!(settled(&mut ours), settled(&mut theirs), "after {step:?}");
    }
}

#[test]
fn flush_arguments_and_parameters_answer_as_redis() {
    let Some(reference) = start_redis() else {
        return;
    };
    let s = server(2);
    let mut ours = Client::connect(s.addr());
    let mut theirs = Client::connect(([127, 0, 0, 1], reference.port).into());
    for args in [
        &["flushall", "lazy"][..],
        &["flushdb", "async", "sync"],
        &["flushall", "ASYNC"],
        &["flushdb", "Sync"],
        &["config", "get", "lazyfree-lazy-eviction"],
        &["config", "get", "lazyfree-lazy-expire"],
        &["config", "get", "lazyfree-lazy-server-del"],
        &["config", "get", "lazyfree-lazy-user-del"],
        &["config", "get", "lazyfree-lazy-user-flush"],
        &["config", "set", "lazyfree-lazy-user-del", "maybe"],
        &["config", "set", "lazyfree-lazy-eviction", "yes"],
        &["config", "get", "lazyfree-lazy-eviction"],
        &["config", "set", "lazyfree-lazy-eviction", "no"],
        &["unlink"],
    ] {
        assert_eq!(
            String::from_utf8_lossy(&ours.cmd_raw(args)),
            String::from_utf8_lossy(&theirs.cmd_raw(args)),
            "{args:?}"
        );
    }
}

#[test]
fn unlinked_memory_is_given_back() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    let before = info_field(&mut c, "used_memory");
    sadd_many(&mut c, "big", 100_000);
    let peak = info_field(&mut c, "used_memory");
    assert!(peak > before + 1_000_000, "{before} -> {peak}");
    assert_eq!(c.cmd(&["unlink", "big"]), int(1));
    assert_eq!(c.cmd(&["exists", "big"]), int(0));
    assert_eq!(settled(&mut c), 1);
    assert!(info_field(&mut c, "used_memory") < before + 500_000);
}
