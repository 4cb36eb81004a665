//! Against real redis-server / memcached / redis-benchmark (installed by CI; when missing
//! these tests fail under CI=true and skip otherwise).

mod common;

use std::process::Command;

use damselfly_bench::args::{Config, Protocol};
use damselfly_bench::generator;
use damselfly_bench::info::parse_info;
use damselfly_bench::server::{default_peer, ServerProc};

fn calls(info: &std::collections::HashMap<String, String>, cmd: &str) -> u64 {
    // cmdstat_set:calls=150,usec=...,
    info.get(&format!("cmdstat_{cmd}"))
        .and_then(|v| v.split(',').next())
        .and_then(|c| c.strip_prefix("calls="))
        .map(|n| n.parse().unwrap())
        .unwrap_or(0)
}

#[test]
fn generator_counts_match_redis_commandstats() {
    if !common::have("redis-server") {
        return;
    }
    let srv = ServerProc::start(
        "redis",
        default_peer(Protocol::Redis),
        Protocol::Redis,
        None,
    )
    .unwrap();
    let mut cfg = Config::parse(&[
        "-t".into(),
        "2".into(),
        "-c".into(),
        "5".into(),
        "-n".into(),
        "300".into(),
        "--ratio=1:2".into(),
        "--pipeline=16".into(),
        "--key-pattern=S:S".into(),
        "--key-maximum=99".into(),
        "--quiet".into(),
    ])
    .unwrap();
    cfg.port = srv.port;
    let r = generator::run(&cfg).unwrap();
    assert_eq!((r.stats.sets.ops, r.stats.gets.ops), (1000, 2000));
    let info = parse_info(
        &srv.client()
            .unwrap()
            .command(&[b"INFO", b"commandstats"])
            .unwrap()
            .text(),
    );
    assert_eq!(calls(&info, "set"), 1000);
    assert_eq!(calls(&info, "get"), 2000);
    let stats = parse_info(
        &srv.client()
            .unwrap()
            .command(&[b"INFO", b"stats"])
            .unwrap()
            .text(),
    );
    let hits: u64 = stats["keyspace_hits"].parse().unwrap();
    let misses: u64 = stats["keyspace_misses"].parse().unwrap();
    assert_eq!((r.stats.gets.hits, r.stats.gets.misses), (hits, misses));
    assert!(hits > 0);
}

#[test]
fn generator_against_memcached() {
    if !common::have("memcached") {
        return;
    }
    let srv = ServerProc::start(
        "memcached",
        default_peer(Protocol::MemcacheText),
        Protocol::MemcacheText,
        None,
    )
    .unwrap();
    let mut cfg = Config::parse(&[
        "-P".into(),
        "memcache_text".into(),
        "-t".into(),
        "1".into(),
        "-c".into(),
        "4".into(),
        "-n".into(),
        "100".into(),
        "--ratio=1:1".into(),
        "--key-pattern=P:P".into(),
        "--key-maximum=199".into(),
        "--quiet".into(),
    ])
    .unwrap();
    cfg.port = srv.port;
    let r = generator::run(&cfg).unwrap();
    // Each client sets then gets its own slice in step: every GET hits.
    assert_eq!((r.stats.sets.ops, r.stats.gets.ops), (200, 200));
    assert_eq!((r.stats.gets.hits, r.stats.gets.misses), (200, 0));
}

fn run_bin(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_damselfly-bench"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn redis_cmd() -> String {
    default_peer(Protocol::Redis).to_string()
}

#[test]
fn compare_redis_against_redis() {
    if !common::have("redis-server") {
        return;
    }
    let json = std::env::temp_dir().join(format!("dfb-compare-{}.json", std::process::id()));
    let out = run_bin(&[
        "compare",
        "--damselfly",
        &redis_cmd(),
        "--rounds",
        "2",
        "--json-out",
        json.to_str().unwrap(),
        "--threads=1",
        "--clients=4",
        "--test-time=1",
        "--ratio=1:1",
        "--quiet",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("damselfly/peer"), "{stdout}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    std::fs::remove_file(&json).unwrap();
    let samples = doc["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 4);
    let order: Vec<&str> = samples
        .iter()
        .map(|s| s["server"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["damselfly", "peer", "peer", "damselfly"]);
    for s in samples {
        assert!(s["ops"].as_u64().unwrap() > 0);
        assert!(s["rss_kb"].as_u64().unwrap() > 1000);
    }
    // A busy second of redis-server costs at least one clock tick over the rounds.
    let cpu: u64 = samples.iter().map(|s| s["cpu_us"].as_u64().unwrap()).sum();
    assert!(cpu > 0);
    assert!(doc["ratio"]["ops_sec"].as_f64().unwrap() > 0.0);
}

#[test]
fn compare_with_redis_benchmark() {
    if !common::have("redis-server") || !common::have("redis-benchmark") {
        return;
    }
    let json = std::env::temp_dir().join(format!("dfb-rb-{}.json", std::process::id()));
    run_bin(&[
        "compare",
        "--damselfly",
        &redis_cmd(),
        "--rounds=1",
        "--tool",
        "redis-benchmark",
        "--json-out",
        json.to_str().unwrap(),
        "--",
        "-t",
        "set,get",
        "-n",
        "2000",
        "-P",
        "16",
        "-c",
        "4",
    ]);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    std::fs::remove_file(&json).unwrap();
    for s in doc["samples"].as_array().unwrap() {
        assert_eq!(s["ops"].as_u64().unwrap(), 4000);
        assert!(s["ops_sec"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn memory_redis_against_redis() {
    if !common::have("redis-server") {
        return;
    }
    let json = std::env::temp_dir().join(format!("dfb-mem-{}.json", std::process::id()));
    for extra in [None, Some("--no-populate")] {
        let mut args = vec![
            "memory",
            "--damselfly",
            "redis-server --port {port} --bind 127.0.0.1 --save '' --enable-debug-command local",
            "--keys",
            "20000",
            "--key-size",
            "16",
            "--value-size",
            "32",
            "--json-out",
            json.to_str().unwrap(),
        ];
        args.extend(extra);
        run_bin(&args);
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let want = if extra.is_some() {
            "pipelined SETs"
        } else {
            "DEBUG POPULATE"
        };
        assert_eq!(doc["method"], want);
        for who in ["damselfly", "peer"] {
            let per_key = doc[who]["used_memory_per_key"].as_f64().unwrap();
            // 16 B key + 32 B value + dict entry and robj overheads: ~90-110 B in redis 7.
            assert!((48.0..200.0).contains(&per_key), "{who}: {per_key}");
        }
        let ratio = doc["ratio"]["used_memory_per_key"].as_f64().unwrap();
        assert!((0.9..1.1).contains(&ratio), "{ratio}");
    }
    std::fs::remove_file(&json).unwrap();
}
