//! LATENCY, MEMORY and CONFIG REWRITE / CONFIG SET of startup-only parameters through real
//! sockets, against redis-server's replies where both can be compared.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::reference::start_redis;
use common::*;
use damselfly_protocol::Reply;
use std::net::SocketAddr;

/// Replies that must be byte for byte redis-server's.
fn compared(addr: SocketAddr) -> Vec<(String, Vec<u8>)> {
    let mut c = Client::connect(addr);
    let cases: &[&[&str]] = &[
        &["LATENCY", "FOO"],
        &["LATENCY"],
        &["LATENCY", "HISTORY"],
        &["LATENCY", "LATEST", "x"],
        &["LATENCY", "RESET"],
        &["LATENCY", "RESET", "command", "nosuch"],
        &["LATENCY", "HISTORY", "nosuch"],
        &["LATENCY", "LATEST"],
        &["LATENCY", "HISTOGRAM", "nosuchcommand"],
        &["LATENCY", "DOCTOR", "x"],
        &["MEMORY", "HELP"],
        &["MEMORY", "FOO"],
        &["MEMORY", "STATS", "x"],
        &["MEMORY", "PURGE"],
        &["MEMORY", "DOCTOR", "x"],
        &["MEMORY", "MALLOC-STATS", "x"],
        &["CONFIG", "REWRITE"],
        &["CONFIG", "REWRITE", "x"],
        &["CONFIG", "SET", "databases", "16"],
        &["CONFIG", "SET", "maxmemory", "1mb", "databases", "16"],
        &["CONFIG", "SET", "maxmemory", "1mb", "maxmemory", "2mb"],
        &["CONFIG", "GET", "maxmemory"],
    ];
    cases.iter().map(|a| (a.join(" "), c.cmd_raw(a))).collect()
}

#[test]
fn replies_and_errors_match_redis() {
    let Some(redis) = start_redis() else { return };
    let ours = server(2);
    let want = compared(SocketAddr::from(([127, 0, 0, 1], redis.port)));
    let got = compared(ours.addr());
    let mut diffs = Vec::new();
    for ((line, w), (_, g)) in want.iter().zip(&got) {
        if w != g {
            diffs.push(format!(
                "{line}\n  redis: {:?}\n  ours:  {:?}",
                String::from_utf8_lossy(w),
                String::from_utf8_lossy(g)
            ));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

fn pairs(r: Reply) -> Vec<(String, Reply)> {
    let Reply::Array(items) = r else {
        panic!("not a flat map: {r:?}")
    };
    items
        .chunks(2)
        .map(|p| match &p[0] {
            Reply::Bulk(k) => (String::from_utf8_lossy(k).into_owned(), p[1].clone()),
            other => panic!("key {other:?}"),
        })
        .collect()
}

#[test]
fn latency_monitor_records_slow_commands() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["LATENCY", "LATEST"]), arr(vec![]));
    // Off by default: a slow command is not recorded.
    c.cmd(&["DEBUG", "SLEEP", "0.03"]);
    assert_eq!(c.cmd(&["LATENCY", "LATEST"]), arr(vec![]));
    c.cmd(&["CONFIG", "SET", "latency-monitor-threshold", "10"]);
    c.cmd(&["DEBUG", "SLEEP", "0.05"]);
    c.cmd(&["DEBUG", "SLEEP", "0.02"]);
    c.cmd(&["GET", "fast"]);
    let Reply::Array(latest) = c.cmd(&["LATENCY", "LATEST"]) else {
        panic!()
    };
    assert_eq!(latest.len(), 1);
    let Reply::Array(ev) = &latest[0] else {
        panic!()
    };
    assert_eq!(ev[0], bulk("command"));
    let (Reply::Integer(last), Reply::Integer(max)) = (&ev[2], &ev[3]) else {
        panic!("{ev:?}")
    };
    // Samples in the same second keep the largest; the two sleeps may fall in two seconds,
    // and then the latest is the 20 ms one.
    assert!(*last >= 20 && *max >= 50, "{ev:?}");
    let Reply::Array(history) = c.cmd(&["LATENCY", "HISTORY", "command"]) else {
        panic!()
    };
    assert!(!history.is_empty() && history.len() <= 2);
    let Reply::Bulk(doctor) = c.cmd(&["LATENCY", "DOCTOR"]) else {
        panic!("DOCTOR is text")
    };
    assert!(String::from_utf8_lossy(&doctor).contains("command:"));
    assert_eq!(c.cmd(&["LATENCY", "RESET"]), int(1));
    assert_eq!(c.cmd(&["LATENCY", "LATEST"]), arr(vec![]));
}

#[test]
fn latency_histogram_counts_calls_per_command_and_subcommand() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    for _ in 0..5 {
        c.cmd(&["SET", "k", "v"]);
    }
    c.cmd(&["CONFIG", "GET", "hz"]);
    let h = pairs(c.cmd(&["LATENCY", "HISTOGRAM", "set", "config", "nosuch"]));
    let names: Vec<&str> = h.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["set", "config|get"]);
    let set = pairs(h[0].1.clone());
    assert_eq!(set[0], ("calls".into(), int(5)));
    let buckets = match &set[1].1 {
        Reply::Array(b) => b.clone(),
        other => panic!("{other:?}"),
    };
    // Cumulative: the last bucket holds every call.
    assert_eq!(buckets.last(), Some(&int(5)));
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), ok());
    assert_eq!(c.cmd(&["LATENCY", "HISTOGRAM", "set"]), arr(vec![]));
}

#[test]
fn memory_stats_and_doctor() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    for i in 0..100 {
        c.cmd(&["SET", &format!("key:{i}"), &"x".repeat(100)]);
    }
    let stats = pairs(c.cmd(&["MEMORY", "STATS"]));
    let get = |name: &str| {
        stats
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(get("keys.count"), int(100));
    let Reply::Integer(total) = get("total.allocated") else {
        panic!()
    };
    let Reply::Integer(dataset) = get("dataset.bytes") else {
        panic!()
    };
    assert!(dataset >= 100 * 100 && dataset < total, "{dataset} {total}");
    let db0 = pairs(get("db.0"));
    assert_eq!(db0[0].0, "overhead.hashtable.main");
    let Reply::Bulk(frag) = get("fragmentation") else {
        panic!()
    };
    assert!(String::from_utf8_lossy(&frag).parse::<f64>().unwrap() > 0.0);
    assert!(matches!(c.cmd(&["MEMORY", "DOCTOR"]), Reply::Bulk(_)));
    let Reply::Bulk(text) = c.cmd(&["MEMORY", "MALLOC-STATS"]) else {
        panic!()
    };
    assert!(!text.is_empty());
    assert_eq!(c.cmd(&["MEMORY", "PURGE"]), ok());
}

#[test]
fn config_rewrite_updates_the_startup_file() {
    let dir = std::env::temp_dir().join(format!("damselfly-rewrite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("damselfly.conf");
    std::fs::write(
        &file,
        "# kept comment\nmaxclients 100\nmaxclients 200\nhz 10\n",
    )
    .unwrap();
    let s = damselfly::Server::builder()
        .bind("127.0.0.1")
        .port(0)
        .threads(2)
        .set("maxclients", "100")
        .set("hz", "10")
        .config_file(file.clone())
        .start()
        .expect("server starts");
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxclients", "300"]), ok());
    assert_eq!(c.cmd(&["CONFIG", "SET", "slowlog-max-len", "77"]), ok());
    assert_eq!(c.cmd(&["CONFIG", "REWRITE"]), ok());
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "# kept comment");
    assert_eq!(lines[1], "maxclients 300");
    // The second maxclients line is left blank, as Redis leaves it.
    assert_eq!(lines[2], "");
    assert_eq!(lines[3], "hz 10");
    assert!(lines.contains(&"slowlog-max-len 77"), "{text}");
    assert_eq!(text.matches("maxclients").count(), 1, "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn startup_only_parameters_accept_their_current_value() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    let Reply::Array(v) = c.cmd(&["CONFIG", "GET", "proactor-threads"]) else {
        panic!()
    };
    let Reply::Bulk(threads) = &v[1] else {
        panic!()
    };
    let threads = String::from_utf8_lossy(threads).into_owned();
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "proactor-threads", &threads]),
        ok()
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "proactor-threads", "17"]),
        err("ERR CONFIG SET failed (possibly related to argument 'proactor-threads') - can't set immutable config")
    );
    // Every pair is checked before anything changes.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxmemory", "5mb", "proactor-threads", "17"]),
        err("ERR CONFIG SET failed (possibly related to argument 'proactor-threads') - can't set immutable config")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxmemory"]),
        arr(vec![bulk("maxmemory"), bulk("0")])
    );
}
