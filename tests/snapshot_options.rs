//! Snapshot options through the real binary: encrypted snapshot files (`--snapshot_key_file`)
//! round trip and are refused without the key, with another key, and when changed or cut;
//! `--snapshot_cron` is checked at start and by CONFIG SET; DEBUG SET-ACTIVE-EXPIRE stops
//! and restarts the active expiry cycle.
// Test threads are plain threads, not proactors: they may sleep and read the wall clock.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{bulk, err, int, ok, Client};
use damselfly_protocol::Reply;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("df-snapopt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The damselfly binary as a child process, stopped by PID on drop.
struct Damselfly {
    child: Child,
    addr: SocketAddr,
}

fn spawn(dir: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_damselfly"))
        .args([
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--proactor_threads",
            "2",
        ])
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start damselfly")
}

impl Damselfly {
    fn start(dir: &Path, extra: &[&str]) -> Damselfly {
        let mut child = spawn(dir, extra);
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("damselfly exited before listening")
                .unwrap();
            if let Some(rest) = line.split("listening on ").nth(1) {
                let a = rest.split_whitespace().next().unwrap();
                break a.trim_end_matches(',').parse().unwrap();
            }
        };
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        Damselfly { child, addr }
    }

    fn client(&self) -> Client {
        Client::connect(self.addr)
    }
}

impl Drop for Damselfly {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starting with `extra` must fail; returns the log.
fn refuse(dir: &Path, extra: &[&str]) -> String {
    let out = spawn(dir, extra).wait_with_output().unwrap();
    assert!(!out.status.success(), "started with {extra:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const BIG: usize = 300_000;

/// A few types, a deadline, and a string of several frames.
fn fill(c: &mut Client) {
    assert_eq!(
        c.cmd(&["SET", "plain-marker", "visible-if-not-encrypted"]),
        ok()
    );
    assert_eq!(c.cmd(&["SET", "ttl", "v", "EX", "10000"]), ok());
    let big = "x".repeat(BIG);
    assert_eq!(c.cmd(&["SET", "big", &big]), ok());
    for i in 0..300 {
        let f = format!("f{i}");
        c.cmd(&["HSET", "h", &f, &i.to_string()]);
        c.cmd(&["RPUSH", "l", &f]);
        c.cmd(&["SADD", "s", &f]);
    }
    assert_eq!(c.cmd(&["SELECT", "3"]), ok());
    assert_eq!(c.cmd(&["SET", "in3", "three"]), ok());
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
}

fn check(c: &mut Client) {
    assert_eq!(
        c.cmd(&["GET", "plain-marker"]),
        bulk("visible-if-not-encrypted")
    );
    assert_eq!(c.cmd(&["STRLEN", "big"]), int(BIG as i64));
    assert_eq!(c.cmd(&["HLEN", "h"]), int(300));
    assert_eq!(c.cmd(&["HGET", "h", "f299"]), bulk("299"));
    assert_eq!(c.cmd(&["LINDEX", "l", "150"]), bulk("f150"));
    assert_eq!(c.cmd(&["SCARD", "s"]), int(300));
    match c.cmd(&["TTL", "ttl"]) {
        Reply::Integer(t) => assert!((9000..=10000).contains(&t), "{t}"),
        r => panic!("{r:?}"),
    }
    assert_eq!(c.cmd(&["SELECT", "3"]), ok());
    assert_eq!(c.cmd(&["GET", "in3"]), bulk("three"));
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn encrypted_rdb_round_trips_and_is_refused_without_the_right_key() {
    let dir = temp_dir("rdb");
    let key = dir.join("key");
    let other = dir.join("other-key");
    std::fs::write(&key, format!("{}\n", "0123456789abcdef".repeat(4))).unwrap();
    std::fs::write(&other, [7u8; 32]).unwrap();
    let key_s = key.to_str().unwrap();
    let with_key = ["--snapshot_key_file", key_s];
    let df = Damselfly::start(&dir, &with_key);
    let mut c = df.client();
    fill(&mut c);
    assert_eq!(c.cmd(&["SAVE"]), ok());
    let file = dir.join("dump.rdb");
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"DMSFENC1"));
    assert!(!contains(&bytes, b"visible-if-not-encrypted"));
    assert!(!contains(&bytes, b"REDIS0010"));
    assert_eq!(c.cmd(&["DEBUG", "RELOAD"]), ok());
    check(&mut c);
    // A key file that can't be read is refused by CONFIG SET, and the old key stays.
    let missing = dir.join("missing").to_string_lossy().into_owned();
    match c.cmd(&["CONFIG", "SET", "snapshot_key_file", &missing]) {
        Reply::Error(e) => {
            let e = String::from_utf8_lossy(&e);
            assert!(e.contains("can't read key file"), "{e}");
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "snapshot-key-file"]),
        common::arr(vec![bulk("snapshot-key-file"), bulk(key_s)])
    );
    drop(c);
    drop(df);

    let df = Damselfly::start(&dir, &with_key);
    check(&mut df.client());
    drop(df);

    let log = refuse(&dir, &[]);
    assert!(log.contains("encrypted and no key is set"), "{log}");
    let log = refuse(&dir, &["--snapshot_key_file", other.to_str().unwrap()]);
    assert!(log.contains("encrypted with another key"), "{log}");
    let mut t = bytes.clone();
    let mid = t.len() / 2;
    t[mid] ^= 0x01;
    std::fs::write(&file, &t).unwrap();
    let log = refuse(&dir, &with_key);
    assert!(log.contains("authentication failed"), "{log}");
    std::fs::write(&file, &bytes[..bytes.len() - 100]).unwrap();
    let log = refuse(&dir, &with_key);
    assert!(log.contains("authentication failed"), "{log}");
    let log = refuse(&dir, &["--snapshot_key_file", "/nonexistent/key"]);
    assert!(log.contains("can't read key file"), "{log}");
    std::fs::write(&other, b"too short").unwrap();
    let log = refuse(&dir, &["--snapshot_key_file", other.to_str().unwrap()]);
    assert!(log.contains("32 bytes, or 64 hex digits"), "{log}");

    // A plain file still loads with a key set; the next save encrypts it.
    std::fs::remove_file(&file).unwrap();
    let df = Damselfly::start(&dir, &[]);
    let mut c = df.client();
    fill(&mut c);
    assert_eq!(c.cmd(&["SAVE"]), ok());
    assert!(std::fs::read(&file).unwrap().starts_with(b"REDIS0010"));
    drop(c);
    drop(df);
    let df = Damselfly::start(&dir, &with_key);
    let mut c = df.client();
    check(&mut c);
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        common::simple("Background saving started")
    );
    let start = Instant::now();
    while !std::fs::read(&file).unwrap().starts_with(b"DMSFENC1") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "BGSAVE did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn encrypted_dfs_files_round_trip_and_a_changed_shard_file_is_refused() {
    let dir = temp_dir("dfs");
    let key = dir.join("key");
    std::fs::write(&key, [42u8; 32]).unwrap();
    let args = [
        "--snapshot_key_file",
        key.to_str().unwrap(),
        "--df_snapshot_format",
        "yes",
    ];
    let df = Damselfly::start(&dir, &args);
    let mut c = df.client();
    fill(&mut c);
    assert_eq!(c.cmd(&["SAVE"]), ok());
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dfs"))
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    for f in &files {
        let b = std::fs::read(f).unwrap();
        assert!(b.starts_with(b"DMSFENC1"), "{}", f.display());
        assert!(!contains(&b, b"visible-if-not-encrypted"));
    }
    drop(c);
    drop(df);
    let df = Damselfly::start(&dir, &args);
    check(&mut df.client());
    drop(df);
    let log = refuse(&dir, &["--df_snapshot_format", "yes"]);
    assert!(log.contains("encrypted and no key is set"), "{log}");
    let shard = files
        .iter()
        .find(|p| !p.to_string_lossy().ends_with("summary.dfs"))
        .unwrap();
    let mut b = std::fs::read(shard).unwrap();
    let last = b.len() - 1;
    b[last] ^= 0x80;
    std::fs::write(shard, &b).unwrap();
    let log = refuse(&dir, &args);
    assert!(log.contains("authentication failed"), "{log}");
}

#[test]
fn snapshot_cron_is_checked_at_start_and_by_config_set() {
    let dir = temp_dir("cron");
    let log = refuse(&dir, &["--snapshot_cron", "61 * * * *"]);
    assert!(
        log.contains("invalid cron expression '61 * * * *'"),
        "{log}"
    );
    let log = refuse(&dir, &["--snapshot_cron", "* * * *"]);
    assert!(log.contains("expected 5 fields"), "{log}");
    let df = Damselfly::start(&dir, &["--snapshot_cron", "*/5 * * * *"]);
    let mut c = df.client();
    let get = |c: &mut Client| c.cmd(&["CONFIG", "GET", "snapshot-cron"]);
    let shown = |v: &str| common::arr(vec![bulk("snapshot-cron"), bulk(v)]);
    assert_eq!(get(&mut c), shown("*/5 * * * *"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "snapshot-cron", "0 3 * * MON-FRI"]),
        ok()
    );
    assert_eq!(get(&mut c), shown("0 3 * * MON-FRI"));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "snapshot_cron", "0 0 31 2 *"]),
        err(
            "ERR CONFIG SET failed (possibly related to argument 'snapshot-cron') - \
             invalid cron expression '0 0 31 2 *': it never fires"
        )
    );
    assert_eq!(get(&mut c), shown("0 3 * * MON-FRI"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "snapshot-cron", ""]), ok());
    assert_eq!(get(&mut c), shown(""));
}

fn dbsize(c: &mut Client) -> i64 {
    match c.cmd(&["DBSIZE"]) {
        Reply::Integer(n) => n,
        r => panic!("{r:?}"),
    }
}

#[test]
fn debug_set_active_expire_stops_and_restarts_the_cycle() {
    let dir = temp_dir("expire");
    let df = Damselfly::start(&dir, &[]);
    let mut c = df.client();
    assert_eq!(c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), ok());
    for i in 0..20 {
        assert_eq!(c.cmd(&["SET", &format!("k{i}"), "v", "PX", "20"]), ok());
    }
    std::thread::sleep(Duration::from_millis(500));
    // Nothing touched the keys and the cycle is off: they are still held.
    assert_eq!(dbsize(&mut c), 20);
    // atoi's reading, as Redis: "1x" is 1.
    assert_eq!(c.cmd(&["DEBUG", "set-active-expire", "1x"]), ok());
    let start = Instant::now();
    while dbsize(&mut c) != 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "keys not expired"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE"]),
        err("ERR unknown subcommand or wrong number of arguments for 'SET-ACTIVE-EXPIRE'. Try DEBUG HELP.")
    );
}
