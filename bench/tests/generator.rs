//! The load generator against the in-test servers: its counts must match what the server
//! saw and what the workload prescribes.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{start, Kind};
use damselfly_bench::args::{Config, Protocol};
use damselfly_bench::generator;
use damselfly_bench::report::Summary;
use damselfly_bench::tools::parse_memtier_json;

fn cfg(port: u16, flags: &str) -> Config {
    let mut args: Vec<String> = flags.split_whitespace().map(String::from).collect();
    args.extend(["--port".into(), port.to_string(), "--quiet".into()]);
    Config::parse(&args).unwrap()
}

#[test]
fn hits_and_misses_are_exact() {
    for (kind, proto) in [(Kind::Resp, "redis"), (Kind::Memcache, "memcache_text")] {
        let (port, srv) = start(kind);
        srv.preload("memtier-", 0..100);
        // Every client walks keys 0..=199 once: 100 hits then 100 misses.
        let c = cfg(
            port,
            &format!(
                "--protocol {proto} -t 2 -c 3 -n 200 --ratio 0:1 --key-pattern S:S \
                 --key-minimum 0 --key-maximum 199 --pipeline 4"
            ),
        );
        let r = generator::run(&c).unwrap();
        let (s, g) = (&r.stats.sets, &r.stats.gets);
        assert_eq!(s.ops, 0, "{proto}");
        assert_eq!(
            (g.ops, g.hits, g.misses, g.errors),
            (1200, 600, 600, 0),
            "{proto}"
        );
        assert_eq!(srv.count(&srv.gets), 1200, "{proto}");
        assert_eq!(srv.count(&srv.hits), 600, "{proto}");
        assert_eq!(srv.count(&srv.sets), 0, "{proto}");
    }
}

#[test]
fn set_get_ratio_and_op_counts() {
    let (port, srv) = start(Kind::Resp);
    let c = cfg(
        port,
        "-t 2 -c 3 -n 100 --ratio 1:3 --pipeline 8 --key-maximum 1000",
    );
    let r = generator::run(&c).unwrap();
    assert_eq!(r.stats.sets.ops, 150);
    assert_eq!(r.stats.gets.ops, 450);
    assert_eq!(r.stats.gets.hits + r.stats.gets.misses, 450);
    assert_eq!(r.stats.gets.hits, srv.count(&srv.hits));
    assert_eq!(srv.count(&srv.sets), 150);
    assert_eq!(srv.count(&srv.gets), 450);
    let t = r.stats.totals();
    assert_eq!(t.ops, 600);
    // 150 SETs of "*3\r\n$3\r\nSET\r\n$N\r\nmemtier-K\r\n$32\r\n<32>\r\n" and their +OK.
    assert!(t.bytes_tx > 150 * 60 && t.bytes_rx >= 150 * 5 + 450 * 5);
    let sum = Summary::from_run(&r);
    assert!((sum.totals.ops_sec - 600.0 / r.duration.as_secs_f64()).abs() < 1e-6);
}

#[test]
fn gets_after_sets_on_the_same_sequential_keys_hit() {
    let (port, _srv) = start(Kind::Memcache);
    let c = cfg(
        port,
        "-P memcache_text -t 1 -c 1 -n 100 --ratio 1:1 --key-pattern S:S --key-maximum 49",
    );
    let r = generator::run(&c).unwrap();
    assert_eq!((r.stats.sets.ops, r.stats.gets.ops), (50, 50));
    assert_eq!((r.stats.gets.hits, r.stats.gets.misses), (50, 0));
}

#[test]
fn parallel_pattern_sets_each_key_once() {
    let (port, srv) = start(Kind::Resp);
    // 6 clients share keys 0..=59: 10 each.
    let c = cfg(
        port,
        "-t 2 -c 3 -n 10 --ratio 1:0 --key-pattern P:P --key-minimum 0 --key-maximum 59 \
         --key-prefix k",
    );
    generator::run(&c).unwrap();
    let counts = srv.set_counts.lock().unwrap();
    assert_eq!(counts.len(), 60);
    assert!(counts.values().all(|&n| n == 1));
    for i in 0..60 {
        assert!(counts.contains_key(format!("k{i}").as_bytes()), "k{i}");
    }
}

#[test]
fn test_time_mode_runs_for_the_time_and_keeps_the_ratio() {
    let (port, srv) = start(Kind::Resp);
    let c = cfg(port, "-t 2 -c 2 --test-time 1 --ratio 1:3 --pipeline 2");
    let r = generator::run(&c).unwrap();
    assert!(r.duration >= Duration::from_millis(990), "{:?}", r.duration);
    assert!(r.duration < Duration::from_secs(4), "{:?}", r.duration);
    let (s, g) = (r.stats.sets.ops, r.stats.gets.ops);
    assert!(s > 10, "{s}");
    // Each of the 4 clients stops somewhere in its 1-SET-3-GET cycle.
    assert!(g <= 3 * s && g + 3 * 4 >= 3 * s, "sets {s} gets {g}");
    assert_eq!(srv.count(&srv.sets), s);
    assert_eq!(srv.count(&srv.gets), g);
}

#[test]
fn unreachable_server_is_an_error() {
    let port = damselfly_bench::server::free_port().unwrap();
    let c = cfg(port, "-t 1 -c 1 -n 1");
    assert!(generator::run(&c).is_err());
    assert_eq!(c.protocol, Protocol::Redis);
}

#[test]
fn binary_prints_table_and_writes_memtier_json() {
    let (port, srv) = start(Kind::Resp);
    let json = std::env::temp_dir().join(format!("dfb-test-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_damselfly-bench"))
        .args([
            "--server=127.0.0.1",
            "--threads=1",
            "--clients=4",
            "--requests=50",
        ])
        .args([
            "--ratio=1:4",
            "--port",
            &port.to_string(),
            "--json-out-file",
        ])
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for row in [
        "ALL STATS",
        "Sets",
        "Gets",
        "Totals",
        "Request Latency Distribution",
    ] {
        assert!(stdout.contains(row), "{row} missing in\n{stdout}");
    }
    let s = parse_memtier_json(&std::fs::read_to_string(&json).unwrap()).unwrap();
    std::fs::remove_file(&json).unwrap();
    assert_eq!((s.sets.count, s.gets.count, s.totals.count), (40, 160, 200));
    assert_eq!(srv.count(&srv.sets) + srv.count(&srv.gets), 200);
    assert!(s.totals.ops_sec > 0.0 && s.totals.p99_ms > 0.0 && s.totals.p50_ms <= s.totals.p99_ms);

    let bad = Command::new(env!("CARGO_BIN_EXE_damselfly-bench"))
        .args(["--ratio", "x"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
